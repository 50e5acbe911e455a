"""Licence templates (administrators): the newest version of each, a template's versions with their
terms, a form for a new template and one for the next version of a template.

The licensing service writes the version (a version never changes once written) and validates every
field; the form only turns text into the JSON types the service takes: an empty limit is ``null``
(unlimited), a non-number is passed on as typed so that the service names it.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from exchange.core.problems import Problem
from exchange.licensing import templates
from exchange.licensing.models import Use
from exchange.web.admin import PAGE_SIZE, bp, form_errors
from exchange.web.pages import ADMINS, current_identity, page, whole_number

LIMITS = ("seats", "duration_days", "downloads_per_asset", "bytes_multiple")
FLAGS = ("redistribution", "derivatives", "aoi_restricted")


def _number(text: str):
    text = text.strip()
    if not text:
        return None
    number = whole_number(text)
    return number if number is not None else text


def _body(code: str) -> dict:
    """The form as the service's JSON body."""
    form = request.form
    body = {"code": code.strip(), "title": form.get("title", ""), "terms": form.get("terms", ""),
            "uses": form.getlist("uses"), "attribution": form.get("attribution", "").strip() or None}
    body.update({name: name in form for name in FLAGS})
    body.update({name: _number(form.get(name, "")) for name in LIMITS})
    return body


def _uses() -> list[tuple[str, str]]:
    names = {"internal": _("Internal"), "commercial": _("Commercial"), "research": _("Research"),
             "government": _("Government")}
    return [(use.value, names.get(use.value, use.value)) for use in Use]


def _list_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    after = request.args.get("after") or None
    try:
        items, next_cursor = templates.list_latest(current_identity(), after=after, limit=PAGE_SIZE)
    except Problem:  # a cursor that is not ours: the first page
        after = None
        items, next_cursor = templates.list_latest(current_identity(), limit=PAGE_SIZE)
    return render_template(
        "admin/licenses.html", items=items, uses=_uses(), use_names=dict(_uses()), errors=errors or {},
        form=form or {"uses": [], "derivatives": True},
        next_url=url_for("admin.licenses", after=next_cursor) if next_cursor else None,
        first_url=url_for("admin.licenses") if after else None), status


@bp.get("/licenses")
@page(ADMINS)
def licenses():
    return _list_page()


def _publish(code: str, again):
    """Write the version; bad input → the form again (422), every bad field named; nothing written."""
    body = _body(code)
    try:
        template = templates.create_template(current_identity(), body)
    except Problem as problem:
        if problem.status not in (409, 422):
            raise
        return again(body, form_errors(problem), problem.status)
    flash(_("%(ref)s is published.", ref=template.ref))
    return redirect(url_for("admin.license_template", code=template.code))


@bp.post("/licenses")
@page(ADMINS)
def create_license():
    return _publish(request.form.get("code", ""), lambda body, errors, status: _list_page(body, errors, status))


def _template_page(code: str, form: dict | None = None, errors: dict | None = None, status: int = 200):
    versions = templates.versions(current_identity(), code)  # 404 page for an unknown code
    latest = versions[-1]
    return render_template("admin/license.html", code=code, versions=list(reversed(versions)), uses=_uses(), use_names=dict(_uses()),
                           form=form or latest, errors=errors or {}), status


@bp.get("/licenses/<code>")
@page(ADMINS)
def license_template(code: str):
    return _template_page(code)


@bp.post("/licenses/<code>")
@page(ADMINS)
def publish_version(code: str):
    templates.versions(current_identity(), code)  # a new code is made on the list page, not here
    return _publish(code, lambda body, errors, status: _template_page(code, body, errors, status))
