"""Input and output shapes of the upload API."""
from __future__ import annotations

import unicodedata

from marshmallow import Schema, ValidationError, fields, validate, validates

from storage.transfers import MAX_OBJECT_SIZE, MAX_PARTS, MAX_PART_SIZE, MEDIA_TYPE, MIN_PART_SIZE, SAFE_MEDIA_TYPES

#: Longest file name, in UTF-8 bytes (what file systems allow).
MAX_FILENAME_BYTES = 255


#: What a product file may be: the types SDX serves as they are, plus documents and metadata (served as
#: application/octet-stream). Anything else is a type SDX knows nothing of, refused at upload start.
UPLOAD_MEDIA_TYPES = SAFE_MEDIA_TYPES | {"application/pdf", "application/xml", "text/xml", "text/plain",
                                         "text/csv", "application/vnd.google-earth.kml+xml"}


def accepted_media_type(value: str) -> None:
    base = value.split(";", 1)[0].strip().lower()
    if MEDIA_TYPE.match(value) and base not in UPLOAD_MEDIA_TYPES:  # a malformed one is named once, above
        raise ValidationError(f"{base!r} is not a product file type SDX accepts; use one of "
                              f"{', '.join(sorted(UPLOAD_MEDIA_TYPES))}")


def filename_problem(name: str) -> str | None:
    """Why ``name`` cannot be a product file's name, or None. The name ends up in the object key and in
    the Content-Disposition of every download, so it must be one plain, printable file name: no
    directories, no quotes or backslashes, no control or invisible formatting characters (a
    right-to-left override, U+202E, makes ``evil[RLO]fdp.exe`` show as ``evilexe.pdf``), no leading dot."""
    if not name or len(name.encode("utf-8")) > MAX_FILENAME_BYTES:
        return f"must be 1 to {MAX_FILENAME_BYTES} bytes (UTF-8)"
    if "/" in name or "\\" in name:
        return "must be a plain file name, without directories (no / or \\)"
    if any(unicodedata.category(c) in {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"} for c in name):
        return "must not contain control, formatting or unassigned characters"
    if '"' in name:
        return "must not contain double quotes"
    if name.startswith(".") or name != name.strip():
        return "must not start with a dot, nor start or end with white space"
    return None


class UploadRequestSchema(Schema):
    filename = fields.String(required=True, metadata={"description": "File name, without directories"})
    size = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_OBJECT_SIZE,
                                                                            error="must be between 1 byte and 5 TiB"))
    sha256 = fields.String(required=True, validate=validate.Regexp(r"^[0-9a-f]{64}$",
                                                                   error="must be 64 lowercase hex digits"))
    media_type = fields.String(required=True, validate=[
        validate.Length(min=3, max=255),
        validate.Regexp(MEDIA_TYPE, error="must be a media type such as image/tiff; application=geotiff"),
        accepted_media_type])
    roles = fields.List(fields.String(validate=validate.Length(min=1, max=50)), load_default=lambda: ["data"],
                        validate=validate.Length(min=1, max=10))
    title = fields.String(load_default=None, validate=validate.Length(max=255))
    part_size = fields.Integer(load_default=None, strict=True,
                               validate=validate.Range(min=MIN_PART_SIZE, max=MAX_PART_SIZE,
                                                       error="must be between 5 MiB and 5 GiB"),
                               metadata={"description": "Preferred multipart part size in bytes"})

    @validates("filename")
    def _filename(self, value: str, **kwargs) -> None:
        problem = filename_problem(value)
        if problem:
            raise ValidationError(problem)


class PartNumbersSchema(Schema):
    part_numbers = fields.List(fields.Integer(strict=True, validate=validate.Range(min=1, max=MAX_PARTS)),
                               required=True, validate=validate.Length(min=1, max=MAX_PARTS))


class PartUrlSchema(Schema):
    part_number = fields.Integer()
    url = fields.String()


class StoredPartSchema(Schema):
    part_number = fields.Integer(attribute="number")
    size = fields.Integer()
    etag = fields.String()


class AssetStatusSchema(Schema):
    key = fields.String(attribute="asset_key")
    state = fields.Function(lambda a: a.state.value)
    reason = fields.String(allow_none=True)
    filename = fields.String()
    media_type = fields.String()
    roles = fields.List(fields.String())
    size = fields.Integer()
    sha256 = fields.String()
    updated_at = fields.DateTime()


class UploadSchema(Schema):
    id = fields.UUID()
    product_id = fields.Integer()
    asset = fields.Nested(AssetStatusSchema)
    state = fields.String()
    multipart = fields.Boolean()
    part_size = fields.Integer()
    part_count = fields.Integer()
    url = fields.String(allow_none=True, metadata={"description": "Single PUT: where to send the bytes"})
    parts = fields.List(fields.Nested(PartUrlSchema), metadata={"description": "Multipart: a URL per part"})
    received_parts = fields.List(fields.Nested(StoredPartSchema),
                                 metadata={"description": "Parts the store holds (from S3 itself)"})
    received_bytes = fields.Integer(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()


class UploadListSchema(Schema):
    items = fields.List(fields.Nested(UploadSchema))
    next = fields.String(allow_none=True)


class ProductStatusSchema(Schema):
    product_id = fields.Integer()
    collection = fields.String()
    item = fields.String()
    status = fields.String()
    url = fields.String()
    assets = fields.List(fields.Nested(AssetStatusSchema))
    reasons = fields.List(fields.String())
