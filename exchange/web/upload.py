"""A provider's browser upload: a product's files go from the browser straight to S3 through the
presigned multipart API, with progress, resumable after a reload or a network drop."""
from __future__ import annotations

from flask import render_template

from exchange.web.pages import PROVIDERS, page, page_blueprint

bp = page_blueprint("upload", __name__, url_prefix="/provider", template_folder="templates")


@bp.get("/upload")
@page(PROVIDERS)
def upload():
    return render_template("stub.html", heading="Upload")
