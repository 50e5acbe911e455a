"""The administrators' sharing pages: the policy editor with its dry-run preview, and access requests."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import ADMINS, page, page_blueprint

bp = page_blueprint("admin_policies", __name__, url_prefix="/admin", template_folder="templates")


@bp.get("/policies")
@page(ADMINS)
def policies():
    return render_template("stub.html", heading="Sharing policies")


@bp.get("/requests")
@page(ADMINS)
def requests():
    return render_template("stub.html", heading="Access requests")
