"""The upload API (thin: parse, call the upload service, serialise). Scope ``uploads:write``."""
from __future__ import annotations

from flask_smorest import Blueprint

from auth.schemas import PageArgsSchema
from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.catalog import lifecycle
from exchange.core.location import LOCATION_HEADER, location
from exchange.core.problems import load_or_problem
from exchange.ingest import service
from exchange.ingest.schemas import (PartNumbersSchema, ProductStatusSchema, UploadListSchema, UploadRequestSchema,
                                     UploadSchema)

blp = Blueprint("uploads", __name__, url_prefix="/api/v1", description="Uploading product files to object storage")
UPLOADS = require_scopes("uploads:write")


@blp.route("/products/<int:pid>/assets/<key>/uploads", methods=["POST"])
@UPLOADS
@blp.doc(requestBody={"content": {"application/json": {"schema": UploadRequestSchema}}})
@blp.response(201, UploadSchema, headers=LOCATION_HEADER)
def start_upload(pid: int, key: str):
    """Open an upload for one file of a product: a presigned PUT URL, or presigned URLs per part."""
    body = load_or_problem(UploadRequestSchema(), json_object())
    upload = service.start_upload(current_identity(), pid, key, body)
    return upload, location("uploads.get_upload", uid=upload["id"])


@blp.route("/products/<int:pid>/uploads", methods=["GET"])
@UPLOADS
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, UploadListSchema)
def list_uploads(args, pid: int):
    """The uploads of a product, a page at a time (to find one to resume)."""
    items, next_cursor = service.list_uploads(current_identity(), pid, after=args["after"], limit=args["limit"])
    return {"items": items, "next": next_cursor}


@blp.route("/products/<int:pid>", methods=["GET"])
@UPLOADS
@blp.response(200, ProductStatusSchema)
def product_status(pid: int):
    """A product's status and each uploaded file's state, with the reasons for any refusal."""
    return service.product_status(current_identity(), pid)


@blp.route("/products/<int:pid>/publish", methods=["POST"])
@require_scopes("catalog:write")
@blp.response(200, ProductStatusSchema)
def publish_product(pid: int):
    """Publish a product: done only when every data asset is uploaded and verified (else 409 listing them)."""
    return service.product_view(lifecycle.publish(current_identity(), pid))


@blp.route("/products/<int:pid>/withdraw", methods=["POST"])
@require_scopes("catalog:write")
@blp.response(200, ProductStatusSchema)
def withdraw_product(pid: int):
    """Withdraw a product from the catalogue (its owner or an admin); publish brings it back."""
    return service.product_view(lifecycle.withdraw(current_identity(), pid))


@blp.route("/uploads/<uuid:uid>", methods=["GET"])
@UPLOADS
@blp.response(200, UploadSchema)
def get_upload(uid):
    """An upload's state and the parts the object store has received (read from S3 itself)."""
    return service.get_upload(current_identity(), uid)


@blp.route("/uploads/<uuid:uid>/parts", methods=["POST"])
@UPLOADS
@blp.doc(requestBody={"content": {"application/json": {"schema": PartNumbersSchema}}})
@blp.response(200, UploadSchema)
def part_urls(uid):
    """Fresh presigned URLs for the given part numbers."""
    body = load_or_problem(PartNumbersSchema(), json_object())
    return service.part_urls(current_identity(), uid, body["part_numbers"])


@blp.route("/uploads/<uuid:uid>/complete", methods=["POST"])
@UPLOADS
@blp.response(202, UploadSchema)
def complete_upload(uid):
    """Complete the upload; verification and description run in the background."""
    return service.complete_upload(current_identity(), uid)


@blp.route("/uploads/<uuid:uid>", methods=["DELETE"])
@UPLOADS
@blp.response(204)
def abort_upload(uid):
    """Abort the upload and remove every part received."""
    service.abort_upload(current_identity(), uid)
