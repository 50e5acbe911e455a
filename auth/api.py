"""Account endpoints of the platform API."""
from __future__ import annotations

from flask_smorest import Blueprint

from auth import service
from auth.policy import ANONYMOUS
from auth.schemas import SignupResultSchema, SignupSchema
from exchange.core.body import json_object

blp = Blueprint("accounts", __name__, url_prefix="/api/v1", description="Organisations and users")


@blp.route("/signup", methods=["POST"])
@blp.doc(requestBody={"content": {"application/json": {"schema": SignupSchema}}})
@blp.response(201, SignupResultSchema)
def signup():
    """Ask for an organisation account; it stays `pending` until an administrator approves it."""
    org, user = service.signup(ANONYMOUS, json_object())
    return {"organisation": org, "user": user}
