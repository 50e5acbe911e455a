"""Server-rendered pages, and the Swagger UI files of the API docs page (from a pinned package)."""
from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory
from flask_wtf.csrf import generate_csrf
from swagger_ui_bundle import swagger_ui_path

from auth.views import signed_in_user
from exchange.core.problems import NotFound

bp = Blueprint("web", __name__, template_folder="templates")

#: The files /api/docs loads; everything else in the package (its demo index page, maps) is not served.
SWAGGER_UI_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png"}


@bp.get("/")
def home():
    """Everyone's front page; a signed-in person also sees who they are, their clients and sign-out."""
    user = signed_in_user()
    return render_template("home.html", user=user, csrf_token=generate_csrf() if user is not None else None)


@bp.get("/api/swagger-ui/<filename>")
def swagger_ui(filename: str):
    if filename not in SWAGGER_UI_FILES:
        raise NotFound(f"No file {filename!r} here.")
    response = send_from_directory(swagger_ui_path, filename, max_age=24 * 3600)
    if response.status_code == 200:
        # Read the whole file (under 1.5 MB) so that it can be compressed; a 206 or 304 stays as sent.
        response.direct_passthrough = False
        response.make_sequence()
    return response
