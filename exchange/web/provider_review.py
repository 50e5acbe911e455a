"""A provider's sales and monthly statements, the access requests to review, and the use of their
products by buyer organisation (routes of the ``provider`` blueprint).

Statements come from ``trading.statements`` (the CSV is its own), decisions on access requests go
through ``sharing.access`` (approve free or priced, reject), usage from ``metering.usage.report``
with ``side="provider"`` — the same calls the API makes.
"""
from __future__ import annotations

import datetime as dt
import uuid

from flask import Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from exchange.core.db import utcnow
from exchange.core.problems import NotFound, ValidationProblem, load_or_problem
from exchange.licensing import templates
from exchange.metering import usage as usage_service
from exchange.sharing import access
from exchange.sharing.access_schemas import STATES, ApproveSchema
from exchange.trading import statements
from exchange.web import provider_reads as reads
from exchange.web.pages import PROVIDERS, current_identity, page, whole_number
from exchange.web.provider import PAGE_SIZE, bp, form_errors, licence_options

#: How many past months the sales page links statements for.
STATEMENT_MONTHS = 12
#: The usage periods offered, in days (ending today).
PERIODS = (7, 30, 90, 365)
APPROVE_FIELDS = ("price", "duration_days", "downloads_per_asset", "bytes_allowed", "license")
SERVICE_APPROVE_FIELDS = {"price": "price", "price.offer_id": "price", "duration_days": "duration_days",
                          "downloads_per_asset": "downloads_per_asset", "bytes_allowed": "bytes_allowed",
                          "license": "license"}


# -- sales and statements ---------------------------------------------------------------------------
def recent_months(today: dt.date, count: int = STATEMENT_MONTHS) -> list[str]:
    """``YYYY-MM`` of this month and the ``count - 1`` before it, newest first."""
    year, month, months = today.year, today.month, []
    for _i in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return months


def _month(text: str) -> tuple[int, int]:
    """``YYYY-MM`` as (year, month); anything else is no statement (404)."""
    try:
        parsed = dt.datetime.strptime(text, "%Y-%m")
    except ValueError:
        parsed = None
    if parsed is None or not 2000 <= parsed.year <= 2999:
        raise NotFound(f"No statement {text!r}: months are written YYYY-MM.")
    return parsed.year, parsed.month


@bp.get("/sales")
@page(PROVIDERS)
def sales():
    found = reads.sold_lines(current_identity(), after=request.args.get("after"), limit=PAGE_SIZE)
    next_url = url_for("provider.sales", after=found.next_after) if found.next_after else None
    previous_url = url_for("provider.sales") if request.args.get("after") else None
    return render_template("provider/sales.html", lines=found.rows, months=recent_months(utcnow().date()),
                           next_url=next_url, previous_url=previous_url)


@bp.get("/statements/<month>")
@page(PROVIDERS)
def statement(month: str):
    year, number = _month(month)
    doc = statements.statement(current_identity(), year, number)
    return render_template("provider/statement.html", doc=doc)


@bp.get("/statements/<month>.csv")
@page(PROVIDERS)
def statement_csv(month: str):
    year, number = _month(month)
    doc = statements.statement(current_identity(), year, number)
    filename = f"sdx-statement-{doc['month']}.csv"
    return Response(statements.statement_csv(doc), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# -- access requests ------------------------------------------------------------------------------------
@bp.get("/requests")
@page(PROVIDERS)
def requests():
    state = request.args.get("state", "pending")
    state = state if state in STATES else None
    items, following = access.list_requests(current_identity(), state=state, side="provider",
                                            after=request.args.get("after"), limit=PAGE_SIZE)
    next_url = url_for("provider.requests", state=state or "all", after=following) if following else None
    previous_url = url_for("provider.requests", state=state or "all") if request.args.get("after") else None
    return render_template("provider/requests.html", items=items, state=state, states=STATES,
                           names=reads.product_names(item["product_id"] for item in items),
                           orgs=reads.org_names(item["org_id"] for item in items),
                           next_url=next_url, previous_url=previous_url)


def _request_page(request_id: uuid.UUID, *, approve: dict | None = None, errors: dict | None = None,
                  reason: str = "", status: int = 200):
    identity = current_identity()
    found = access.view(reads.own_request(identity, request_id))
    offers = reads.offers_for_request(identity, found)
    licences, _next = templates.list_latest(identity, limit=100)
    return render_template("provider/request.html", item=found, offers=offers,
                           licence_options=licence_options(licences), names=reads.product_names([found["product_id"]]),
                           orgs=reads.org_names([found["org_id"]]), approve=approve or {"price": "free"},
                           errors=errors or {}, reason=reason), status


@bp.get("/requests/<uuid:request_id>")
@page(PROVIDERS)
def access_request(request_id):
    return _request_page(request_id)


def _whole(text: str, name: str, errors: dict) -> int | None:
    if not text:
        return None
    number = whole_number(text)
    if number is None:
        errors[name] = [_("Enter a whole number.")]
    return number


@bp.post("/requests/<uuid:request_id>/approve")
@page(PROVIDERS)
def approve_request(request_id):
    """Approve free (with limits and a licence) or priced (a quote on one of the provider's offers)."""
    identity = current_identity()
    reads.own_request(identity, request_id)
    form = {name: request.form.get(name, "").strip() for name in APPROVE_FIELDS}
    errors: dict[str, list[str]] = {}
    body: dict = {"price": "free" if form["price"] in ("", "free") else {"offer_id": form["price"]}}
    for name in ("duration_days", "downloads_per_asset", "bytes_allowed"):
        body[name] = _whole(form[name], name, errors)
    if form["license"]:
        body["license"] = form["license"]
    try:
        if errors:  # name the service's complaints too, without deciding anything
            load_or_problem(ApproveSchema(), {k: v for k, v in body.items() if k not in errors})
        else:
            access.approve(identity, request_id, body)
    except ValidationProblem as problem:
        for name, messages in form_errors(problem, SERVICE_APPROVE_FIELDS).items():
            errors.setdefault(name, messages)
    if errors:
        return _request_page(request_id, approve=form, errors=errors, status=422)
    flash(_("The request is approved; the requester is told."))
    return redirect(url_for("provider.access_request", request_id=request_id))


@bp.post("/requests/<uuid:request_id>/reject")
@page(PROVIDERS)
def reject_request(request_id):
    identity = current_identity()
    reads.own_request(identity, request_id)
    reason = request.form.get("reason", "").strip()
    if not reason:
        return _request_page(request_id, errors={"reason": [_("Say why, for the requester.")]}, status=422)
    try:
        access.reject(identity, request_id, {"reason": reason})
    except ValidationProblem as problem:
        return _request_page(request_id, errors=form_errors(problem, {"reason": "reason"}, default="reason"),
                             reason=reason, status=422)
    flash(_("The request is rejected; the requester is told why."))
    return redirect(url_for("provider.access_request", request_id=request_id))


# -- usage ---------------------------------------------------------------------------------------------
def bars(items: list[dict], key: str, width: int = 600, bar: int = 22, gap: int = 8, label: int = 200) -> dict:
    """Geometry of a horizontal bar chart of ``key`` per row (the template draws the SVG)."""
    biggest = max((item[key] for item in items), default=0) or 1
    room = width - label - 80
    rows = [{"item": item, "y": index * (bar + gap), "length": max(1 if item[key] else 0,
                                                                    round(room * item[key] / biggest))}
            for index, item in enumerate(items)]
    return {"rows": rows, "width": width, "height": max(len(rows) * (bar + gap), bar), "bar": bar, "label": label}


@bp.get("/usage")
@page(PROVIDERS)
def usage():
    try:
        days = int(request.args.get("days", 30))
    except ValueError:
        days = 30
    days = days if days in PERIODS else 30
    today = utcnow().date()
    start = today - dt.timedelta(days=days - 1)
    found = usage_service.report(current_identity(), start, today, ("org",), side="provider", limit=PAGE_SIZE,
                         after=request.args.get("after") or None)
    next_url = url_for("provider.usage", days=days, after=found.next) if found.next else None
    previous_url = url_for("provider.usage", days=days) if request.args.get("after") else None
    return render_template("provider/usage.html", items=found.items, totals=found.totals, days=days,
                           periods=PERIODS, start=start, end=today, chart=bars(found.items, "downloads"),
                           next_url=next_url, previous_url=previous_url)
