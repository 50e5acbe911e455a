"""A buyer's pages: cart and quote, checkout, orders, licences and downloads, wallet, usage, access requests."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import BUYERS, page, page_blueprint

bp = page_blueprint("buyer", __name__, template_folder="templates")


@bp.get("/cart")
@page(BUYERS)
def cart():
    return render_template("stub.html", heading="Cart")


@bp.get("/orders")
@page(BUYERS)
def orders():
    return render_template("stub.html", heading="Orders")


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
