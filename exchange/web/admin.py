"""The administrators' pages: organisations, licence templates, wallets and the ledger, the audit log."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import ADMINS, page, page_blueprint

bp = page_blueprint("admin", __name__, url_prefix="/admin", template_folder="templates")


@bp.get("/orgs")
@page(ADMINS)
def orgs():
    return render_template("stub.html", heading="Organisations")


@bp.get("/licenses")
@page(ADMINS)
def licenses():
    return render_template("stub.html", heading="Licence templates")


@bp.get("/ledger")
@page(ADMINS)
def ledger():
    return render_template("stub.html", heading="Ledger")


@bp.get("/audit")
@page(ADMINS)
def audit():
    return render_template("stub.html", heading="Audit log")
