"""The front page, the platform's own static files (CSS, scripts, the offline world map), the pinned
Leaflet files (from XStatic-Leaflet, served by the platform: no CDN, deployments may be offline) and
the Swagger UI files of the API docs page (from a pinned package)."""
from __future__ import annotations

from flask import Blueprint, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from xstatic.pkg import leaflet

from exchange.core.problems import NotFound
from exchange.web.pages import current_user

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

#: The files /api/docs loads; everything else in the package (its demo index page, maps) is not served.
SWAGGER_UI_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png"}
#: Leaflet's files the pages load (its source maps and ES module build are not served).
LEAFLET_FILES = {"leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png",
                 "images/marker-icon.png", "images/marker-icon-2x.png", "images/marker-shadow.png"}
LEAFLET_VERSION = leaflet.VERSION


@bp.get("/")
def home():
    """Everyone's front page: what the exchange holds; a signed-in person also sees who they are."""
    return render_template("home.html", user=current_user())


@bp.get("/assets/vendor/leaflet/<path:filename>")
def leaflet_file(filename: str):
    if filename not in LEAFLET_FILES:
        raise NotFound(f"No file {filename!r} here.")
    return send_from_directory(leaflet.BASE_DIR, filename, max_age=24 * 3600)


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
