"""The audit log API (thin: parse, call the audit service, serialise): administrators with ``admin:audit``
list entries (filtered, newest first) and check the chain."""
from __future__ import annotations

from flask_smorest import Blueprint

from auth.tokens import current_identity, require_scopes
from exchange.sharing import audit
from exchange.sharing.audit_schemas import AuditArgsSchema, AuditPageSchema, ChainStatusSchema

blp = Blueprint("audit", __name__, url_prefix="/api/v1", description="The tamper-evident audit log")
ADMIN = require_scopes("admin:audit")


@blp.route("/admin/audit", methods=["GET"])
@ADMIN
@blp.arguments(AuditArgsSchema, location="query")
@blp.response(200, AuditPageSchema)
def list_entries(args):
    """Audit entries matching every filter given, newest first, paged by `next`."""
    rows, cursor = audit.list_entries(current_identity(), args)
    return {"items": rows, "next": cursor}


@blp.route("/admin/audit/verify", methods=["GET"])
@ADMIN
@blp.response(200, ChainStatusSchema)
def verify_chain():
    """Recompute the chain now: whether it holds, how many entries, and the first bad one if not."""
    check = audit.chain_status(current_identity())
    return {"holds": check.holds, "entries": check.entries, "head_seq": check.head_seq, "bad_seq": check.bad_seq,
            "problem": check.problem}
