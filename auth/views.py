"""OAuth 2.0 endpoints and the server-rendered sign-in and consent pages.

Token, revocation and introspection answers are RFC 6749 JSON (from Authlib); each endpoint runs in
one unit of work, so what a request changes (a used code, a revoked family) is committed together.
Forms carry a CSRF token; sign-in (all attempts, and failed ones apart), the token, revocation and
introspection endpoints and sign-up are rate-limited per client address.
"""
from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidRequestError
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import Limiter, RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError as CSRFInvalid

from auth import keys
from auth.authorization_details import TYPES_SUPPORTED, license_ids
from auth.login import LoginFailed, sign_in
from auth.models import OrgStatus, User
from auth.policies import holdable_scopes, identity_of
from auth.scopes import SCOPES, parse_scope
from auth.service import end_sessions
from exchange.core.db import db, unit_of_work
from exchange.core.problems import problem_response

bp = Blueprint("oauth", __name__, template_folder="templates")
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)


def _server():
    return current_app.extensions["sdx_oauth_server"]


def signed_in_user() -> User | None:
    try:
        user_id = uuid.UUID(session.get("user_id", ""))
    except ValueError:
        return None
    user = db.session.get(User, user_id)
    if user is None or user.organisation.status is not OrgStatus.active:
        return None
    if session.get("session_version") != user.session_version:
        return None  # signed out since this cookie was issued: a copy of it is no session
    return user


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the sign-in page cannot be used as an open redirect."""
    if not target:
        return url_for("web.home")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("web.home")
    return target


def csrf_ok() -> bool:
    try:
        validate_csrf(request.form.get("csrf_token"))
        return True
    except CSRFInvalid:
        return False


# -- sign-in ------------------------------------------------------------------------------------
@bp.get("/login")
def login_form():
    return render_template("login.html", next=request.args.get("next", ""), csrf_token=generate_csrf())


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(error: RateLimitExceeded):
    """A person at the sign-in form gets the form back, saying why; other callers get a problem body.
    The message is about the caller's address, never about an account."""
    if request.endpoint == "oauth.login":
        return render_template("login.html", next=request.form.get("next", ""), csrf_token=generate_csrf(),
                               error=_("Too many attempts from your address. Please wait a few minutes and try again."),
                               email=request.form.get("email", "")), 429
    return problem_response(429, "Too Many Requests", f"Rate limit exceeded ({error.description}).")


def _login_failure(problem: LoginFailed) -> str:
    """The sign-in failure in the page's language; the problem's English detail is what the audit
    and any other caller see."""
    if problem.org_status == "pending":
        return _("Your organisation is pending; an administrator must approve it before you can sign in.")
    if problem.org_status == "suspended":
        return _("Your organisation is suspended; an administrator must approve it before you can sign in.")
    if problem.detail == "Wrong email or password.":
        return _("Wrong email or password.")
    return problem.detail


def _failed(response) -> bool:
    return response.status_code == 401


@bp.post("/login")
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN"])
@limiter.limit(lambda: current_app.config["RATELIMIT_LOGIN_FAILURES"], deduct_when=_failed, scope="login-failures")
def login():
    next_url = request.form.get("next", "")
    if not csrf_ok():
        return render_template("login.html", next=next_url, csrf_token=generate_csrf(),
                               error=_("The form expired; please try again.")), 400
    try:
        user = sign_in(request.form.get("email", ""), request.form.get("password", ""), address=request.remote_addr)
    except LoginFailed as problem:
        response = render_template("login.html", next=next_url, csrf_token=generate_csrf(), error=_login_failure(problem),
                                   email=request.form.get("email", ""))
        return response, problem.status, problem.headers
    session.clear()
    session["user_id"] = str(user.id)
    session["session_version"] = user.session_version
    return redirect(_safe_next(next_url))


@bp.post("/logout")
def logout():
    """End the session on the server too: the cookie is signed, not stored, so clearing it in this
    browser would leave any copy of it valid; bumping the user's session version kills every copy."""
    if csrf_ok():
        user = signed_in_user()
        if user is not None:
            end_sessions(user)
        session.clear()
    return redirect(url_for("web.home"))


# -- authorization endpoint -----------------------------------------------------------------------
def _authorization_error(server, error: OAuth2Error):
    """Errors the client can be told about go back to its redirect URI (with ``iss``, RFC 9207); the
    rest (unknown client, unregistered redirect URI) are shown to the user and never redirected."""
    if getattr(error, "redirect_uri", None):
        response = server.handle_error_response(None, error)
        response.location = add_params_to_uri(response.location, {"iss": current_app.config["OAUTH_ISSUER"]})
        return response
    return render_template("oauth_error.html", error=error), error.status_code


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize():
    user = signed_in_user()
    if user is None:
        return redirect(url_for("oauth.login_form", next=request.full_path))
    server = _server()
    if request.method == "POST" and not csrf_ok():
        return render_template("oauth_error.html", error=None, message=_("The form expired; please try again.")), 400
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        return _authorization_error(server, error)
    asked = parse_scope(grant.request.scope)
    allowed = holdable_scopes(identity_of(user))
    if request.method == "GET":
        return render_template("consent.html", client=grant.client, user=user, csrf_token=generate_csrf(),
                               redirect_host=urlsplit(grant.redirect_uri or "").netloc,
                               granted=[(s, SCOPES[s]) for s in asked if s in allowed],
                               licences=sorted(map(str, license_ids(grant.request.authorization_details) or ())),
                               withheld=[s for s in asked if s not in allowed])
    # Nothing the role allows was asked for: there is nothing to consent to.
    consented = request.form.get("confirm") == "yes" and any(s in allowed for s in asked)
    with unit_of_work():
        return server.create_authorization_response(grant_user=user if consented else None, grant=grant)


# -- token, revocation, introspection, discovery --------------------------------------------------
def _query_string_refused():
    """RFC 6749 §3.2 and RFC 7009/7662 take parameters from the form body only; parameters in the URL
    end up in logs and proxies, and mixing both lets a request say two things at once."""
    if not request.query_string:
        return None
    error = InvalidRequestError("Send the parameters in the form body (application/x-www-form-urlencoded), "
                                "not in the query string.")
    return _server().handle_error_response(None, error)


@bp.post("/oauth/token")
@limiter.limit(lambda: current_app.config["RATELIMIT_TOKEN"])
def issue_token():
    if (refused := _query_string_refused()) is not None:
        return refused
    keys.signing_key()  # a first key is made and committed on its own, never inside the token's transaction
    with unit_of_work():
        return _server().create_token_response()


@bp.post("/oauth/revoke")
@limiter.limit(lambda: current_app.config["RATELIMIT_TOKEN"])
def revoke_token():
    if (refused := _query_string_refused()) is not None:
        return refused
    with unit_of_work():
        return _server().create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
@limiter.limit(lambda: current_app.config["RATELIMIT_TOKEN"])
def introspect_token():
    if (refused := _query_string_refused()) is not None:
        return refused
    with unit_of_work():
        return _server().create_endpoint_response("introspection")


@bp.get("/oauth/jwks")
def jwks():
    keys.signing_key()  # a fresh platform publishes its first key before any token exists
    response = jsonify(keys.published_jwks())
    response.cache_control.max_age = keys.JWKS_CACHE_SECONDS
    response.cache_control.public = True
    return response


@bp.get("/.well-known/oauth-authorization-server")
def metadata():
    issuer = current_app.config["OAUTH_ISSUER"]
    return jsonify({
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "jwks_uri": f"{issuer}/oauth/jwks",
        "scopes_supported": list(SCOPES),
        "authorization_details_types_supported": TYPES_SUPPORTED,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
        "service_documentation": f"{issuer}/api/docs",
    })
