"""A buyer's holdings: licences and their downloads, wallet, usage over time, access requests."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import BUYERS, page, page_blueprint

bp = page_blueprint("holdings", __name__, template_folder="templates")


@bp.get("/licenses")
@page(BUYERS)
def licenses():
    return render_template("stub.html", heading="My licences")


@bp.get("/wallet")
@page(BUYERS)
def wallet():
    return render_template("stub.html", heading="Wallet")


@bp.get("/usage")
@page(BUYERS)
def usage():
    return render_template("stub.html", heading="Usage")


@bp.get("/access-requests")
@page(BUYERS)
def access_requests():
    return render_template("stub.html", heading="Access requests")
