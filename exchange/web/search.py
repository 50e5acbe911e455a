"""Everyone's catalogue pages: the map search and a product's page."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import page_blueprint

bp = page_blueprint("search", __name__, template_folder="templates")


@bp.get("/search")
def search():
    return render_template("stub.html", heading="Search")


@bp.get("/products/<product_id>")
def product(product_id: str):
    return render_template("stub.html", heading="Product")
