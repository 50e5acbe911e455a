"""A provider's browser upload: a product's files go from the browser straight to S3 through the
presigned multipart API, with progress, resumable after a reload or a network drop.

``/provider/upload`` creates a draft product (``transactions.create_item``) or picks one, and the
page's script (static/upload.js) sends the files. The browser holds a session, not a bearer token,
so the JSON endpoints below (``/provider/upload/…``: session plus the ``X-CSRFToken`` header, checked
by the blueprint) call the same upload services as ``/api/v1/…/uploads``, acting as the signed-in
user, and answer in the same shapes (``exchange.ingest.schemas``) or as problem details.
"""
from __future__ import annotations

import re
import uuid
from functools import wraps

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from exchange.catalog import assets, transactions
from exchange.catalog.models import Item, ItemStatus
from exchange.catalog.service import list_collections, visible_items
from exchange.core.body import json_object
from exchange.core.db import db
from exchange.core.problems import Conflict, Forbidden, NotFound, Problem, load_or_problem, problem_response
from exchange.ingest import service
from exchange.ingest.schemas import PartNumbersSchema, ProductStatusSchema, UploadRequestSchema, UploadSchema
from exchange.policy import decide
from exchange.web.pages import PROVIDERS, current_identity, current_user, has_role, page, page_blueprint, whole_number

bp = page_blueprint("upload", __name__, url_prefix="/provider", template_folder="templates")

PAGE_SIZE = 20
#: Where a catalogue error about the item document belongs on the form.
FORM_FIELDS = {"/id": "item_id", "/properties/datetime": "datetime", "/properties/title": "title",
               "/properties/platform": "platform", "/collection": "collection"}
#: A ``datetime-local`` input's value (no zone): the form says the time is UTC.
LOCAL_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


# -- the page ---------------------------------------------------------------------------------------
def _own_collections(identity) -> list:
    """The collections the provider may add products to."""
    return [c for c in list_collections(identity) if decide(identity, "catalog:write-collection", c)]


def _drafts(identity, after: int | None) -> tuple[list[Item], int | None]:
    """The provider's products still waiting for files (draft or processing), newest first, a page at a time."""
    query = select(Item).where(visible_items(identity), Item.provider_org_id == identity.org_id,
                               Item.status.in_([ItemStatus.draft, ItemStatus.processing]))
    if after is not None:
        query = query.where(Item.key < after)
    rows = list(db.session.scalars(query.order_by(Item.key.desc()).limit(PAGE_SIZE + 1)))
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    return rows, (rows[-1].key if more and rows else None)


def _product_for_page(identity, product_id: int) -> Item:
    """The product if the provider may upload to it; another organisation's reads as absent (404)."""
    try:
        return service.product_for_upload(identity, product_id)
    except Forbidden:
        raise NotFound(f"No product {product_id}.") from None


def _choose_page(form: dict | None = None, errors: dict | None = None, status: int = 200):
    identity = current_identity()
    drafts, next_key = _drafts(identity, whole_number(request.args.get("after")))
    collections = _own_collections(identity)
    options = [(c.id, f"{c.title} ({c.id})" if c.title else c.id) for c in collections]
    return render_template("upload/choose.html", collections=collections, collection_options=options, drafts=drafts,
                           next_url=url_for("upload.upload", after=next_key) if next_key else None,
                           form=form or {"collection": collections[0].id if collections else ""},
                           errors=errors or {}), status


@bp.get("/upload")
@page(PROVIDERS)
def upload():
    product_id = whole_number(request.args.get("product"))
    if product_id is None:
        return _choose_page()
    identity = current_identity()
    item = _product_for_page(identity, product_id)
    status = service.product_view(item)
    here = url_for("upload.upload", product=item.key)
    return render_template("upload/product.html", item=item, status=status, messages=script_messages(),
                           login_url=url_for("oauth.login_form", next=here),
                           title=(item.data.get("properties") or {}).get("title") or item.item_id)


def script_messages() -> dict[str, str]:
    """What the page's script says, in the page's language ({name} is filled in by the script)."""
    return {
        "file": _("File"), "asset": _("Asset"), "progress_heading": _("Progress"), "state": _("State"),
        "asset_label": _("Asset name for {file}"), "progress_label": _("Upload progress of {file}"),
        "progress": _("{percent} % — {done} of {total}"), "ready_to_send": _("Ready to send"),
        "hashing": _("Computing the checksum: {percent} %"), "starting": _("Starting…"),
        "resumed": _("Resuming: {parts} of {total} parts already received."), "sending": _("Sending…"),
        "retrying": _("Part {part} failed; trying again in {seconds} s…"),
        "part_failed": _("part {part} could not be sent (HTTP {status})"),
        "completing": _("Completing…"), "verifying": _("Sent; the platform is checking it…"),
        "interrupted": _("Interrupted: {reason}. Press Resume to send the rest."),
        "session": _("Your session has ended."),
        "signed_out": _("Your session has ended or this page has expired: sign in, then reload this page; "
                        "the upload resumes where it stopped."),
        "sign_in": _("Sign in and come back to this page"),
        "still_checking": _("The platform is still checking the files; reload this page later to see the outcome."),
        "waiting": _("Your files are checked; the product waits for its other files:"),
        "other_file": _("asset {asset} has an open upload of another file; choose another asset name"),
        "choose": _("Choose at least one file."), "abort": _("Abort"), "abort_label": _("Abort the upload of {file}"),
        "aborted": _("Aborted: nothing of this file is kept. Press Upload to send it again."),
        "all_sent": _("Every file is sent; the platform is checking them…"),
        "published": _("Published: the product is in the catalogue."),
        "refused": _("Refused: the product stays a draft. Why:"), "preview_alt": _("Preview of the product"),
        "state_draft": _("draft"), "state_processing": _("processing"), "state_published": _("published"),
        "state_withdrawn": _("withdrawn"), "state_uploading": _("uploading"), "state_verifying": _("verifying"),
        "state_ready": _("ready"), "state_quarantined": _("refused"),
    }


def _item_document(form: dict) -> dict:
    """The draft product the form describes; ingest takes its footprint and gsd from the data."""
    when = form["datetime"].strip()
    if LOCAL_DATETIME.match(when):
        when = when + (":00" if when.count(":") == 1 else "") + "Z"
    properties = {"datetime": when or None, "sdx:footprint_from_data": True}
    for name in ("title", "platform"):
        if form[name].strip():
            properties[name] = form[name].strip()
    return {"type": "Feature", "stac_version": "1.0.0", "id": form["item_id"].strip(),
            "geometry": {"type": "Point", "coordinates": [0.0, 0.0]}, "bbox": [0.0, 0.0, 0.0, 0.0],
            "properties": properties, "assets": {}, "links": []}


def _form_errors(problem: Problem) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in problem.errors or [{"field": None, "message": problem.detail or problem.title}]:
        field = FORM_FIELDS.get(error.get("field") or "", "form")
        errors.setdefault(field, []).append(error["message"])
    return errors


@bp.post("/upload")
@page(PROVIDERS)
def create_product():
    form = {name: request.form.get(name, "") for name in ("collection", "item_id", "title", "datetime", "platform")}
    errors: dict[str, list[str]] = {}
    if not form["collection"]:
        errors["collection"] = [_("Choose a collection.")]
    if not form["item_id"].strip():
        errors["item_id"] = [_("Enter the product's id.")]
    if not form["datetime"].strip():
        errors["datetime"] = [_("Enter when the data was acquired.")]
    if errors:
        return _choose_page(form, errors, 422)
    try:
        item = transactions.create_item(current_identity(), form["collection"], _item_document(form))
    except NotFound:
        return _choose_page(form, {"collection": [_("Choose one of your collections.")]}, 422)
    except Conflict as problem:  # the id is taken in that collection
        return _choose_page(form, {"item_id": [problem.detail or problem.title]}, problem.status)
    except Problem as problem:
        return _choose_page(form, _form_errors(problem), problem.status)
    flash(_("Product %(id)s created as a draft; now choose its files.", id=item.item_id))
    return redirect(url_for("upload.upload", product=item.key))


# -- the JSON endpoints the page's script calls ----------------------------------------------------------
def json_call(view):
    """A JSON endpoint for the page's script: a signed-in provider (else 401/403), and any service
    refusal answered as problem details rather than as an error page."""
    @wraps(view)
    def wrapper(*args, **kwargs):
        if current_user() is None:
            return problem_response(401, _("Unauthorized"),
                                    _("Your session has ended; sign in again, then reload the page to resume."))
        if not has_role(PROVIDERS):
            return problem_response(403, _("Forbidden"), _("Only providers upload products."))
        try:
            return view(*args, **kwargs)
        except Problem as problem:
            return problem_response(problem.status, problem.title, problem.detail, type=problem.type,
                                    errors=problem.errors, headers=problem.headers, **problem.extra)
    return wrapper


def _no_other_product(call, *args):
    """Run a service call on a product: another organisation's product reads as absent (404)."""
    try:
        return call(*args)
    except Forbidden:
        raise NotFound(f"No product {args[1]}.") from None


@bp.post("/upload/products/<int:pid>/assets/<key>/uploads")
@json_call
def start_upload(pid: int, key: str):
    body = load_or_problem(UploadRequestSchema(), json_object())
    upload = _no_other_product(service.start_upload, current_identity(), pid, key, body)
    return jsonify(UploadSchema().dump(upload)), 201


@bp.get("/upload/products/<int:pid>/status")
@json_call
def product_status(pid: int):
    return jsonify(ProductStatusSchema().dump(_no_other_product(service.product_status, current_identity(), pid)))


@bp.get("/upload/uploads/<uuid:uid>")
@json_call
def get_upload(uid: uuid.UUID):
    return jsonify(UploadSchema().dump(service.get_upload(current_identity(), uid)))


@bp.post("/upload/uploads/<uuid:uid>/parts")
@json_call
def part_urls(uid: uuid.UUID):
    body = load_or_problem(PartNumbersSchema(), json_object())
    return jsonify(UploadSchema().dump(service.part_urls(current_identity(), uid, body["part_numbers"])))


@bp.post("/upload/uploads/<uuid:uid>/complete")
@json_call
def complete_upload(uid: uuid.UUID):
    return jsonify(UploadSchema().dump(service.complete_upload(current_identity(), uid))), 202


@bp.get("/upload/products/<int:pid>/thumbnail")
@json_call
def thumbnail(pid: int):
    """The preview ingest made, as the owner sees it (also while the product is a draft)."""
    item = _product_for_page(current_identity(), pid)
    png = assets.thumbnail(current_identity(), item.collection_id, item.item_id)
    return Response(png, mimetype="image/png", headers={"Cache-Control": "private, no-store"})


@bp.delete("/upload/uploads/<uuid:uid>")
@json_call
def abort_upload(uid: uuid.UUID):
    service.abort_upload(current_identity(), uid)
    return "", 204
