"""The policy editor's form, both ways: a stored policy document → the form's fields, and the posted
fields → the policy document the sharing service checks (``exchange.sharing.schemas.PolicySchema``).

Only the shape changes here (text to numbers, a bbox to a polygon, JSON text to JSON); every rule —
what is required, which values are allowed, from before until — is the service's, and its errors are
mapped back to the inputs they name (``field_of``).
"""
from __future__ import annotations

import json
import re

from flask_babel import gettext as _

from exchange.core import limits

#: Service error paths (indices dropped) → the editor's input names.
FIELD_OF = {
    "name": "name", "description": "description", "effect": "effect", "actions": "actions",
    "target": "collections", "target.collections": "collections", "target.filter": "filter",
    "target.region": "region", "assignee": "assignee_kinds", "assignee.org_kinds": "assignee_kinds",
    "assignee.org_ids": "assignee_orgs", "assignee.verified": "assignee_verified",
    "except": "except_kinds", "except.org_kinds": "except_kinds", "except.org_ids": "except_orgs",
    "constraints.min_age_days": "min_age_days", "constraints.max_age_days": "max_age_days",
    "constraints.from": "window_from", "constraints.until": "window_until", "constraints.gsd_lt": "gsd_lt",
    "constraints.gsd_gte": "gsd_gte", "constraints.purposes": "purposes", "free_access": "free_access",
    "duties.attribution": "attribution",
}
TEXT_FIELDS = ("name", "description", "effect", "region_w", "region_s", "region_e", "region_n", "region_geojson",
               "filter", "assignee_verified", "min_age_days", "max_age_days", "window_from", "window_until",
               "gsd_lt", "gsd_gte", "attribution", "advanced")
LIST_FIELDS = ("actions", "collections", "assignee_kinds", "assignee_orgs", "except_kinds", "except_orgs", "purposes")
BBOX = ("region_w", "region_s", "region_e", "region_n")
DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def field_of(path: str | None) -> str | None:
    """The input a service error path names (``actions.1`` → ``actions``), or None when none does."""
    if not path:
        return None
    parts = [part for part in path.split(".") if not part.isdigit()]
    return FIELD_OF.get(".".join(parts))


def empty_form() -> dict:
    form = {name: "" for name in TEXT_FIELDS}
    form.update({name: [] for name in LIST_FIELDS})
    form.update(effect="deny", free_access=False)
    return form


def posted(values) -> dict:
    """The form as posted (a werkzeug MultiDict), every value kept as typed for re-rendering."""
    form = {name: values.get(name, "").strip() for name in TEXT_FIELDS}
    form.update({name: values.getlist(name) for name in LIST_FIELDS})
    form["free_access"] = values.get("free_access") == "on"
    return form


def _text(value) -> str:
    return "" if value is None else str(value)


def from_document(document: dict) -> dict:
    """A stored document as the form shows it (a region as GeoJSON text, its bbox fields left empty)."""
    target, assignee = document.get("target") or {}, document.get("assignee") or {}
    excepted, constraints = document.get("except") or {}, document.get("constraints") or {}
    verified = assignee.get("verified")
    form = empty_form()
    form.update({
        "name": document.get("name") or "", "description": document.get("description") or "",
        "effect": document.get("effect") or "", "actions": list(document.get("actions") or []),
        "collections": list(target.get("collections") or []),
        "filter": json.dumps(target["filter"], indent=2) if target.get("filter") else "",
        "region_geojson": json.dumps(target["region"]) if target.get("region") else "",
        "assignee_kinds": list(assignee.get("org_kinds") or []), "assignee_orgs": list(assignee.get("org_ids") or []),
        "assignee_verified": "" if verified is None else ("true" if verified else "false"),
        "except_kinds": list(excepted.get("org_kinds") or []), "except_orgs": list(excepted.get("org_ids") or []),
        "min_age_days": _text(constraints.get("min_age_days")), "max_age_days": _text(constraints.get("max_age_days")),
        "window_from": _text(constraints.get("from")), "window_until": _text(constraints.get("until")),
        "gsd_lt": _text(constraints.get("gsd_lt")), "gsd_gte": _text(constraints.get("gsd_gte")),
        "purposes": list(constraints.get("purposes") or []), "free_access": bool(document.get("free_access")),
        "attribution": (document.get("duties") or {}).get("attribution") or "",
    })
    return form


def _number(text: str, kind):
    """A typed number as JSON has it; text that is not one is passed on for the service to name."""
    if text == "":
        return None
    try:
        return kind(text)
    except ValueError:
        return text


def _instant(text: str):
    """An ISO date or date-time; a bare date means its start, in UTC."""
    if text == "":
        return None
    return f"{text}T00:00:00Z" if DATE_ONLY.match(text) else text


def _json(text: str, name: str, errors: dict):
    """A JSON field of the form, bounded as the API bounds a JSON body before it parses it (a deep one
    would reach the recursion limit in the filter's checks, not only in the parser)."""
    if text == "":
        return None
    try:
        limits.check_json_text(text, name)
    except limits.LimitExceeded:
        errors.setdefault(name, []).append(_("This JSON is nested too deeply."))
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        errors.setdefault(name, []).append(_("This is not valid JSON: %(reason)s", reason=exc.msg))
    except (ValueError, RecursionError):  # nested too deep for the parser
        errors.setdefault(name, []).append(_("This JSON is nested too deeply."))
    return None


def _region(form: dict, errors: dict):
    """A bbox (all four numbers, as a polygon) or GeoJSON text, not both; the service checks the shape."""
    corners = [form[name] for name in BBOX]
    if any(corners) and form["region_geojson"]:
        errors.setdefault("region", []).append(_("Give the region as a bounding box or as GeoJSON, not both."))
        return None
    if form["region_geojson"]:
        return _json(form["region_geojson"], "region", errors)
    if not any(corners):
        return None
    numbers = []
    for name, text in zip(BBOX, corners):
        try:
            numbers.append(float(text))
        except ValueError:
            errors.setdefault(name, []).append(_("Enter a number of degrees."))
    if len(numbers) != 4:
        return None
    west, south, east, north = numbers
    return {"type": "Polygon", "coordinates": [[[west, south], [east, south], [east, north], [west, north],
                                                [west, south]]]}


def to_document(form: dict) -> tuple[dict, dict]:
    """(the policy document, errors of the form's own shape: JSON that does not parse, a bbox corner
    that is not a number). The advanced JSON, when given, is the whole document instead of the fields."""
    errors: dict[str, list[str]] = {}
    if form["advanced"]:
        document = _json(form["advanced"], "advanced", errors)
        return (document if document is not None else {}), errors
    verified = {"true": True, "false": False}.get(form["assignee_verified"])
    document = {
        "name": form["name"], "description": form["description"] or None, "effect": form["effect"],
        "actions": form["actions"],
        "target": {"collections": form["collections"], "filter": _json(form["filter"], "filter", errors),
                   "region": _region(form, errors)},
        "assignee": {"org_kinds": form["assignee_kinds"], "org_ids": form["assignee_orgs"], "verified": verified},
        "except": {"org_kinds": form["except_kinds"], "org_ids": form["except_orgs"]},
        "constraints": {"min_age_days": _number(form["min_age_days"], int),
                        "max_age_days": _number(form["max_age_days"], int),
                        "from": _instant(form["window_from"]), "until": _instant(form["window_until"]),
                        "gsd_lt": _number(form["gsd_lt"], float), "gsd_gte": _number(form["gsd_gte"], float),
                        "purposes": form["purposes"]},
        "free_access": form["free_access"],
        "duties": {"attribution": form["attribution"] or None},
    }
    return document, errors


def service_errors(problem, *, advanced: bool) -> dict[str, list[str]]:
    """The service's errors by input; those no input matches go to the top of the form, named by path
    (with the advanced JSON, every error is that textarea's, named by path)."""
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        path, message = error.get("field"), error["message"]
        name = None if advanced else field_of(path)
        if name is None:
            name = "advanced" if advanced else "form"
            message = f"{path}: {message}" if path else message
        errors.setdefault(name, []).append(message)
    return errors
