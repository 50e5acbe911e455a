"""What every page shares: who is signed in, which role a page needs, CSRF on every form, the
Content-Security-Policy, and error pages instead of problem+json.

Pages act through a browser session (``/login``), which resolves to the same ``Identity`` an API
token of the same user would (``auth.policies.identity_of``); services and ``decide`` then apply the
same rules as the API. Tokens never reach the browser.
"""
from __future__ import annotations

from functools import wraps
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError as CSRFInvalid

from auth.models import Role
from auth.policies import identity_of
from auth.views import signed_in_user
from exchange.core.problems import Problem

#: Who may open each kind of page. Providers and administrators may also buy.
BUYERS = frozenset({Role.buyer, Role.provider, Role.admin})
PROVIDERS = frozenset({Role.provider})
ADMINS = frozenset({Role.admin})

#: The blueprints whose responses are pages (they get the page CSP and HTML error pages).
PAGE_BLUEPRINTS = {"web", "account", "search", "buyer", "holdings", "provider", "upload", "admin", "admin_policies",
                   "oauth"}


def current_user():
    """The signed-in user of this request, or None (looked up once per request)."""
    if "web_user" not in g:
        g.web_user = signed_in_user()
    return g.web_user


def current_identity():
    """Who the signed-in user acts as: their role's full power, as through an API token of theirs."""
    user = current_user()
    return identity_of(user) if user is not None else None


def has_role(roles: frozenset) -> bool:
    user = current_user()
    return user is not None and any(Role(role) in roles for role in user.roles)


def page(roles: frozenset | None = None):
    """A page for signed-in users with one of ``roles`` (any signed-in user when None): an anonymous
    visitor is sent to sign in and comes back; a user without the role gets a 403 page."""
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if current_user() is None:
                return redirect(url_for("oauth.login_form", next=request.full_path.rstrip("?")))
            if roles is not None and not has_role(roles):
                return error_page(403, _("This page is not for your role."))
            return view(*args, **kwargs)
        return wrapper
    return decorator


#: The largest whole number a form field or cursor may carry: what a BIGINT column keeps.
MAX_WHOLE = 2 ** 63 - 1


def whole_number(text) -> int | None:
    """A typed whole number (ASCII digits only, up to ``MAX_WHOLE``), else None: ``"²".isdigit()``
    is true but ``int("²")`` fails, and a 30-digit id would overflow the database's query."""
    text = str(text if text is not None else "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 19:
        return None
    value = int(text)
    return value if value <= MAX_WHOLE else None


def error_page(status: int, detail: str, title: str | None = None):
    titles = {400: _("Bad request"), 403: _("Forbidden"), 404: _("Not found"), 409: _("Conflict"),
              422: _("Invalid input"), 429: _("Too many requests")}
    return render_template("error.html", status=status, title=title or titles.get(status, _("Error")),
                           detail=detail), status


def check_csrf() -> None:
    """Every state-changing request to a page carries the session's CSRF token, in the form
    (``csrf_token``) or, from scripts, in the ``X-CSRFToken`` header."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return None
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token)
    except CSRFInvalid:
        if request.accept_mimetypes.best == "application/json" or request.is_json:
            from exchange.core.problems import problem_response
            return problem_response(400, "Bad request", "The form expired or lacks its CSRF token; reload the page.")
        return error_page(400, _("The form expired; go back, reload the page and try again."))
    return None


def page_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A blueprint of pages: CSRF checked on every POST, and a service's refusal (a ``Problem``)
    shown as a page saying why rather than as the API's problem+json."""
    blueprint = Blueprint(name, import_name, **kwargs)
    blueprint.before_request(check_csrf)
    blueprint.register_error_handler(Problem, lambda problem: error_page(problem.status, problem.detail or problem.title))
    return blueprint


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def content_security_policy() -> str:
    """Scripts and styles only from the platform (no inline ones); images also from the map tile
    server when one is set; connections (uploads) and form redirects (downloads) also to the S3
    endpoint browsers reach."""
    config = current_app.config
    images = ["'self'", "data:", "blob:"]
    tiles = _origin(config.get("MAP_TILE_URL") or "")
    if tiles:
        images.append(tiles)
    connect = ["'self'"]
    s3 = _origin(config.get("S3_PUBLIC_ENDPOINT") or "")
    if not s3 and config.get("S3_ENDPOINT"):
        s3 = _origin(("https://" if config.get("S3_SECURE") else "http://") + config["S3_ENDPOINT"])
    if s3:
        connect.append(s3)
        images.append(s3)
    return "; ".join([
        "default-src 'self'", "script-src 'self'", "style-src 'self'", f"img-src {' '.join(images)}",
        f"connect-src {' '.join(connect)}", "font-src 'self'", "object-src 'none'", "base-uri 'none'",
        # a download form is answered with a redirect to the file's presigned URL on S3
        f"form-action 'self'{' ' + s3 if s3 else ''}", "frame-ancestors 'none'",
    ])


def init_app(app) -> None:
    @app.after_request
    def _page_headers(response: Response) -> Response:
        if request.blueprint in PAGE_BLUEPRINTS and response.mimetype == "text/html":
            response.headers["Content-Security-Policy"] = content_security_policy()
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.context_processor
    def _page_context():
        user = current_user() if request.blueprint in PAGE_BLUEPRINTS else None
        return {"current_user": user, "csrf": generate_csrf, "is_buyer": has_role(BUYERS),
                "is_provider": has_role(PROVIDERS), "is_admin": has_role(ADMINS)}
