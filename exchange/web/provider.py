"""A provider's pages: products and their status, offers and prices, sales and statements, access requests to review, usage by buyer."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import PROVIDERS, page, page_blueprint

bp = page_blueprint("provider", __name__, url_prefix="/provider", template_folder="templates")


@bp.get("/products")
@page(PROVIDERS)
def products():
    return render_template("stub.html", heading="My products")


@bp.get("/offers")
@page(PROVIDERS)
def offers():
    return render_template("stub.html", heading="Offers and prices")


@bp.get("/sales")
@page(PROVIDERS)
def sales():
    return render_template("stub.html", heading="Sales")
