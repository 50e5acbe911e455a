"""Usage reports and presigned download links over HTTP (thin: parse, call the service, serialise)."""
from __future__ import annotations

from flask import Response, json, request
from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.core.body import json_object
from exchange.core.problems import PROBLEM_MEDIA_TYPE, load_or_problem
from exchange.metering import links, usage
from exchange.metering.quotas import RequestMeta, client_hash
from exchange.metering.schemas import LinksRequestSchema, PresignedLinksSchema, UsageArgsSchema, UsageReportSchema

blp = Blueprint("usage", __name__, url_prefix="/api/v1", description="Usage reports and presigned download links")
CSV = "text/csv"


@blp.route("/usage", methods=["GET"])
@require_scopes("usage:read")
@blp.arguments(UsageArgsSchema, location="query")
@blp.response(200, UsageReportSchema, description="JSON; or CSV with `Accept: text/csv` or `format=csv`")
def usage_report(args):
    """Downloads, bytes and refusals per day, product or licensee organisation: buyers see their own
    organisation's use, providers the use of their products (`side=licensee`: their own purchases),
    administrators everyone's. Includes events not yet rolled up."""
    wants_csv = args["format"] == "csv" or (
        args["format"] is None and request.accept_mimetypes.best_match(["application/json", CSV]) == CSV)
    found = usage.report(current_identity(), args["from_"], args["to"], args["group_by"], side=args["side"],
                         org_id=args["org_id"], provider_org_id=args["provider_org_id"],
                         limit=None if wants_csv else args["limit"], after=None if wants_csv else args["after"])
    if wants_csv:
        filename = f"sdx-usage-{args['from_']}-{args['to']}.csv"
        return Response(usage.report_csv(found.items, args["group_by"]), mimetype=CSV,
                        headers={"Content-Disposition": f'attachment; filename="{filename}"', "Vary": "Accept"})
    return {"from_": args["from_"], "to": args["to"], "group_by": list(args["group_by"]), "items": found.items,
            "totals": found.totals, "next": found.next}, 200, {"Vary": "Accept"}


@blp.route("/licenses/<uuid:license_id>/links", methods=["POST"])
@require_scopes("data:download")
@blp.doc(requestBody={"content": {"application/json": {"schema": LinksRequestSchema}}},
         parameters=[{"in": "header", "name": "Idempotency-Key", "required": False, "schema": {"type": "string"}}])
@blp.response(201, PresignedLinksSchema)
def create_links(license_id):
    """Presigned S3 GET links (valid 5 minutes) for assets of a licence's product; each charges the
    asset's full size to the licence when issued (S3 sends the bytes: the platform cannot count them).
    All or none. With `Idempotency-Key`, a repeat gets the first answer and is charged nothing."""
    body = load_or_problem(LinksRequestSchema(), json_object())
    identity = current_identity()
    meta = RequestMeta(method="POST", via="link", client_id=identity.extra.get("client_id"),
                       client_hash=client_hash(request.remote_addr), user_agent=request.user_agent.string)
    status, answer = links.issue_links(identity, license_id, body["assets"], meta,
                                       request.headers.get("Idempotency-Key"), request.path)
    if status >= 400:  # a refusal replayed: the first problem, as it was sent
        return Response(json.dumps(answer), status=status, mimetype=PROBLEM_MEDIA_TYPE)
    return answer, status
