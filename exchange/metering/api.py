"""The download gateway's route (thin: read the request's headers, call ``gateway.download``, stream).

The href of every file SDX stores for a product. Who gets what, the ranges answered and the
headers are described in ``exchange.metering.gateway`` and the README's "Downloading data"."""
from __future__ import annotations

from flask import Response, request, stream_with_context
from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.catalog.schemas import ProblemSchema
from exchange.metering import gateway, quotas

blp = Blueprint("gateway", __name__, description="Downloads: licensed, ranged and metered")
PROBLEM = "application/problem+json"
ANSWERS = {206: "One byte range (Content-Range)", 304: "Not modified (If-None-Match)",
           401: "A data file needs a token", 403: "Refused: the detail says why, `rule` names what decided",
           404: "No such item (or not visible) or file", 409: "The file is not ready",
           416: "Range not satisfiable (Content-Range: bytes */size)", 429: "Too many downloads at once (Retry-After)",
           502: "The store lost the file (nothing charged)"}
HEADERS = [{"in": "header", "name": name, "required": False, "schema": {"type": "string"}, "description": text}
           for name, text in (("Range", "one range: bytes=a-b, bytes=a-, bytes=-n (several: the whole file)"),
                              ("If-Range", "the ETag the range is of (otherwise the whole file)"),
                              ("If-None-Match", "the ETag you hold: 304 without a body"))]


def _answers(view):
    for code, description in ANSWERS.items():
        schema = ProblemSchema if code >= 400 else None
        view = blp.alt_response(code, schema=schema, content_type=PROBLEM if schema else None,
                                description=description)(view)
    return blp.alt_response(200, description="The whole file", content_type="application/octet-stream",
                            success=True)(view)


@blp.route("/stac/collections/<cid>/items/<iid>/assets/<key>/download", methods=["GET"])
@require_scopes(allow_anonymous=True)
@blp.doc(security=[{"oauth2": ["data:download"]}, {"oauth2": ["catalog:read"]}, {}], parameters=HEADERS)
@_answers
def download_asset(cid: str, iid: str, key: str):
    """A file SDX stores for the product, streamed (GET and HEAD; Range, If-Range, If-None-Match).
    Data files need data:download and a licence (or to be the product's provider, or an admin);
    other files go to whoever may read the item. Every answer is metered."""
    identity = current_identity()
    meta = quotas.RequestMeta(method=request.method, client_id=identity.extra.get("client_id"),
                              client_hash=quotas.client_hash(request.remote_addr),
                              user_agent=request.headers.get("User-Agent"))
    wanted = gateway.Wanted(meta, range=request.headers.get("Range"), if_range=request.headers.get("If-Range"),
                            if_none_match=request.headers.get("If-None-Match"))
    answer = gateway.download(identity, cid, iid, key, wanted)
    if answer.body is None:
        response = Response(status=answer.status)
        response.headers.update(answer.headers)
        return response
    return Response(stream_with_context(answer.body), status=answer.status, headers=answer.headers,
                    direct_passthrough=True)
