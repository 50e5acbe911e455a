"""A buyer's holdings: licences and their downloads, wallet, usage over time, access requests.

Thin views: each parses its query or form, calls the service the API calls (licensing's
entitlements, trading's wallets, metering's usage report, sharing's access requests and
notifications) as the signed-in user, and renders what comes back. Every rule — whose rows, what is
left of an allowance, which range a report may span, when a request may be made or withdrawn — is
the service's; a refusal is shown next to the form or as a flash saying why.
"""
from __future__ import annotations

import datetime as dt
import uuid

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from auth.models import Organisation
from exchange.catalog import service as catalog
from exchange.catalog.stac import full_document, is_public_asset
from exchange.core.db import db, utcnow
from exchange.core.problems import Conflict, Forbidden, NotFound, Problem, ValidationProblem, load_or_problem
from exchange.licensing import entitlements
from exchange.metering import usage as metering
from exchange.metering.schemas import UsageArgsSchema
from exchange.sharing import access, notifications
from exchange.sharing.schemas import PURPOSES
from exchange.trading import wallets
from exchange.web.pages import BUYERS, current_identity, page, page_blueprint, whole_number

bp = page_blueprint("holdings", __name__, template_folder="templates")

PAGE_SIZE = 20
#: Unread notifications shown at the top of the access-request page.
NOTIFICATIONS_SHOWN = 10
#: A custom period longer than this is charted per month rather than per day.
DAILY_BARS_UP_TO = 62
PERIODS = ("30d", "12m", "custom")


def _after() -> str | None:
    return request.args.get("after") or None


def _form_errors(problem: Problem) -> dict[str, list[str]]:
    """A service's refusal as the form shows it: each error next to its input (the forms' inputs are
    named as the service's fields), one without a field above the form."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        errors.setdefault(error.get("field") or "form", []).append(error["message"])
    return errors


# -- licences -----------------------------------------------------------------------------------------
def _product_of(licence: dict) -> dict | None:
    """The licensed product as the buyer may see it now: its title and its data files (None when a
    policy hides it since, or it is gone: the licence is still listed)."""
    try:
        item = catalog.get_item(current_identity(), licence["collection_id"], licence["item_id"])
    except NotFound:
        return None
    doc = full_document(item)
    files = [key for key, asset in sorted((doc.get("assets") or {}).items())
             if isinstance(asset, dict) and not is_public_asset(asset)
             and not str(asset.get("href", "")).startswith(("http://", "https://"))]
    title = (doc.get("properties") or {}).get("title") or item.item_id
    return {"title": str(title), "assets": files}


def _duties(licence: dict) -> list[str]:
    """The attribution the licensee owes: the template's (its ``{provider}`` named) and the sharing
    policies' (already worded by the service)."""
    own = (licence["license"] or {}).get("attribution")
    if own and "{provider}" in own:
        provider = db.session.get(Organisation, licence["provider_org_id"])
        own = own.replace("{provider}", provider.name if provider else _("the provider"))
    return ([own] if own else []) + list(licence["attribution"] or [])


def _shown(licence: dict) -> dict:
    return {**licence, "product": _product_of(licence), "duties": _duties(licence)}


@bp.get("/licenses")
@page(BUYERS)
def licenses():
    # A provider also reads its sales, an admin every licence: the page lists the organisation's own.
    items, next_cursor = entitlements.list_entitlements(current_identity(), held=True, after=_after(), limit=PAGE_SIZE)
    held = [_shown(licence) for licence in items]
    return render_template("holdings/licenses.html", licences=held,
                           next_url=url_for(".licenses", after=next_cursor) if next_cursor else None,
                           first_url=url_for(".licenses") if _after() else None)


@bp.get("/licenses/<uuid:license_id>")
@page(BUYERS)
def license_detail(license_id: uuid.UUID):
    """One licence with its terms as accepted (the snapshot taken when it was granted)."""
    licence = entitlements.get_entitlement(current_identity(), license_id)
    if licence["licensee_org_id"] != current_identity().org_id:  # a provider's sale: not one of its holdings
        raise NotFound(f"No licence {license_id}.")
    return render_template("holdings/license.html", licence=_shown(licence))


# -- wallet -------------------------------------------------------------------------------------------
@bp.get("/wallet")
@page(BUYERS)
def wallet():
    found = wallets.own_wallet(current_identity(), after=_after(), limit=PAGE_SIZE)
    return render_template("holdings/wallet.html", wallet=found,
                           next_url=url_for(".wallet", after=found["next"]) if found["next"] else None,
                           first_url=url_for(".wallet") if _after() else None)


# -- usage --------------------------------------------------------------------------------------------
def _period(today: dt.date) -> tuple[dict, dict, dict[str, list[str]]]:
    """The asked period (``period`` 30d, 12m or custom from–to) as the form shows it, the range the
    report reads (checked by the API's own argument schema: days, order, longest span) and errors."""
    period = request.args.get("period") or "30d"
    form = {"period": period, "from": request.args.get("from", ""), "to": request.args.get("to", "")}
    if period not in PERIODS:
        return form, {}, {"period": [_("Choose one of the periods.")]}
    if period == "30d":
        asked = {"from": (today - dt.timedelta(days=29)).isoformat(), "to": today.isoformat()}
    elif period == "12m":
        first = dt.date(today.year - (1 if today.month < 12 else 0), today.month % 12 + 1, 1)
        asked = {"from": first.isoformat(), "to": today.isoformat()}
    else:
        asked = {name: form[name] for name in ("from", "to") if form[name]}
        missing = {name: [_("Enter a date (YYYY-MM-DD).")] for name in ("from", "to") if not form[name]}
        if missing:
            return form, {}, missing
    try:
        return form, load_or_problem(UsageArgsSchema(), asked), {}
    except ValidationProblem as problem:
        return form, {}, _form_errors(problem)


def _months(first: dt.date, last: dt.date):
    month = dt.date(first.year, first.month, 1)
    while month <= last:
        yield month
        month = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)


def _buckets(rows: list[dict], start: dt.date, end: dt.date) -> tuple[str, list[dict]]:
    """The report's days as the chart's bars: one per day, or per month for a long period (every bar
    of the period, empty ones too, so that the time axis is even)."""
    monthly = (end - start).days + 1 > DAILY_BARS_UP_TO
    if monthly:
        buckets = {month: {"label": month.strftime("%Y-%m"), "downloads": 0, "bytes": 0}
                   for month in _months(start, end)}
        key = lambda day: dt.date(day.year, day.month, 1)  # noqa: E731
    else:
        buckets = {start + dt.timedelta(days=n): {"label": (start + dt.timedelta(days=n)).isoformat(),
                                                  "downloads": 0, "bytes": 0}
                   for n in range((end - start).days + 1)}
        key = lambda day: day  # noqa: E731
    for row in rows:
        bucket = buckets[key(row["day"])]
        bucket["downloads"] += row["downloads"]
        bucket["bytes"] += row["bytes"]
    return ("month" if monthly else "day"), list(buckets.values())


#: The chart's drawing area in SVG units (the SVG scales to its box).
CHART = {"width": 720, "height": 240, "left": 64, "right": 8, "top": 12, "bottom": 44}


def _chart(buckets: list[dict], measure: str) -> dict:
    """Bar geometry of one measure (downloads or bytes) for the SVG template: where each bar is, and
    the axis' top value. Presentation only: the numbers are the report's."""
    top = max([bucket[measure] for bucket in buckets] + [0])
    plot_w = CHART["width"] - CHART["left"] - CHART["right"]
    plot_h = CHART["height"] - CHART["top"] - CHART["bottom"]
    step = plot_w / max(len(buckets), 1)
    bars = []
    for n, bucket in enumerate(buckets):
        height = 0 if not top else bucket[measure] / top * plot_h
        bars.append({"x": round(CHART["left"] + n * step + step * 0.15, 2), "width": round(step * 0.7, 2),
                     "y": round(CHART["top"] + plot_h - height, 2), "height": round(height, 2),
                     "value": bucket[measure], "label": bucket["label"],
                     "tick": len(buckets) <= 12 or n % max(len(buckets) // 6, 1) == 0,
                     "tick_x": round(CHART["left"] + n * step + step / 2, 2)})
    return {**CHART, "bars": bars, "max": top, "measure": measure, "base_y": CHART["top"] + plot_h}


def file_size(nbytes: int | None) -> str:
    """Bytes as people read them (decimal units, as the allowances are sold)."""
    if nbytes is None:
        return ""
    for unit, size in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if nbytes >= size:
            return f"{nbytes / size:.1f} {unit}"
    return f"{nbytes} B"


@bp.app_template_filter("file_size")
def _file_size_filter(nbytes):
    return file_size(nbytes)


@bp.get("/usage")
@page(BUYERS)
def usage():
    identity = current_identity()
    form, asked, errors = _period(utcnow().date())
    context = {"form": form, "errors": errors, "periods": [("30d", _("Last 30 days")), ("12m", _("Last 12 months")),
                                                           ("custom", _("From – to"))]}
    if errors:
        return render_template("holdings/usage.html", **context), 422
    start, end = asked["from_"], asked["to"]
    # The organisation's own downloads, as a licensee (a provider's default side is its products' use).
    own = {"side": "licensee", "org_id": identity.org_id}
    days = metering.report(identity, start, end, ("day",), **own)
    products = metering.report(identity, start, end, ("product",), **own)
    unit, buckets = _buckets(days.items, start, end)
    return render_template("holdings/usage.html", **context, start=start, end=end, unit=unit, buckets=buckets,
                           charts=[_chart(buckets, "downloads"), _chart(buckets, "bytes")],
                           products=products.items, totals=days.totals)


# -- access requests and notifications ----------------------------------------------------------------
def _request_form() -> dict:
    source = request.form if request.method == "POST" else request.args
    return {"product_id": source.get("product_id", "").strip(),
            "collection_id": source.get("collection_id", "").strip(),
            "purpose": source.get("purpose", ""), "message": source.get("message", "")}


def _request_body(form: dict) -> dict:
    """The form as the service's body: a product id is a number when it reads as one (else the
    service names the field), a message is left out when empty."""
    body = {"purpose": form["purpose"]}
    if form["product_id"]:
        number = whole_number(form["product_id"])
        body["product_id"] = number if number is not None else form["product_id"]
    if form["collection_id"]:
        body["collection_id"] = form["collection_id"]
    if form["message"].strip():
        body["message"] = form["message"]
    return body


def _requests_page(form: dict, errors: dict | None = None, status: int = 200):
    identity = current_identity()
    items, next_cursor = access.list_requests(identity, state=None, side="requester", after=_after(), limit=PAGE_SIZE)
    unread, _more = notifications.list_notifications(identity, unread=True, after=None, limit=NOTIFICATIONS_SHOWN)
    return render_template("holdings/access_requests.html", requests=items, unread=unread, form=form,
                           errors=errors or {}, purposes=PURPOSES,
                           next_url=url_for(".access_requests", after=next_cursor) if next_cursor else None,
                           first_url=url_for(".access_requests") if _after() else None), status


@bp.get("/access-requests")
@page(BUYERS)
def access_requests():
    return _requests_page(_request_form())


@bp.post("/access-requests")
@page(BUYERS)
def ask_access():
    form = _request_form()
    try:
        access.create_request(current_identity(), _request_body(form))
    except ValidationProblem as problem:
        return _requests_page(form, _form_errors(problem), 422)
    except (Conflict, Forbidden) as refusal:  # nothing to ask, already pending, or not allowed to ask
        return _requests_page(form, {"form": [refusal.detail or refusal.title]}, refusal.status)
    flash(_("Your access request was sent to the provider."))
    return redirect(url_for(".access_requests"))


@bp.post("/access-requests/<uuid:request_id>/withdraw")
@page(BUYERS)
def withdraw_access(request_id: uuid.UUID):
    try:
        access.withdraw(current_identity(), request_id)
    except Conflict as refusal:  # decided or expired meanwhile
        flash(refusal.detail or refusal.title, "error")
    else:
        flash(_("The access request was withdrawn."))
    return redirect(url_for(".access_requests"))


@bp.post("/notifications/<uuid:notification_id>/read")
@page(BUYERS)
def read_notification(notification_id: uuid.UUID):
    notifications.mark_read(current_identity(), notification_id)
    return redirect(url_for(".access_requests"))
