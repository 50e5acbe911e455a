"""A buyer's purchase path: cart, quote, checkout with acceptance of each licence, orders."""
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


@bp.get("/licenses/<license_id>/download/<int:product_id>/<key>")
@page(BUYERS)
def download(license_id: str, product_id: int, key: str):
    """One asset of a licensed product, fetched by the browser (metered against the licence)."""
    return render_template("stub.html", heading="Download")
