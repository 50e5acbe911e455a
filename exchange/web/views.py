"""The front page, the platform's own static files (CSS, scripts, the offline world map), the pinned
Leaflet files (from XStatic-Leaflet, served by the platform: no CDN, deployments may be offline) and
the Swagger UI files of the API docs page (from a pinned package)."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from xstatic.pkg import leaflet

from exchange.catalog import schemas, service
from exchange.catalog.search import SearchRequest
from exchange.core.problems import NotFound
from exchange.policy import ANONYMOUS
from exchange.web.pages import current_identity, current_user

bp = Blueprint("web", __name__, template_folder="templates", static_folder="static", static_url_path="/assets")

#: The files /api/docs loads; everything else in the package (its demo index page, maps) is not served.
SWAGGER_UI_FILES = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js",
                    "favicon-32x32.png", "favicon-16x16.png"}
#: Leaflet's files the pages load (its source maps and ES module build are not served).
LEAFLET_FILES = {"leaflet.js", "leaflet.css", "images/layers.png", "images/layers-2x.png",
                 "images/marker-icon.png", "images/marker-icon-2x.png", "images/marker-shadow.png"}
LEAFLET_VERSION = leaflet.VERSION


#: How many collections and newest products the front page lists.
HOME_COLLECTIONS = 12
HOME_NEWEST = 6


def _collection_counts(identity, collections: list) -> list[tuple[object, object]]:
    """Each collection with how many of its products the visitor may discover (a search's count)."""
    return [(collection, service.search(identity, SearchRequest(collections=[collection.id], limit=1)).matched)
            for collection in collections[:HOME_COLLECTIONS]]


def _demo_accounts_file() -> str | None:
    """Where ``make run`` keeps the demo accounts' passwords, when it made them (never their contents):
    named inside the data folder, so the page tells no visitor the server's directories."""
    path = Path(current_app.config["SDX_VAR_DIR"]) / "demo-accounts.json"
    return "demo-accounts.json" if path.is_file() else None


@bp.get("/")
def home():
    """Everyone's front page: what the exchange holds, as the visitor may see it (sharing policies
    apply through the catalogue's services), the newest products and a search box; a visitor not
    signed in also learns where the demo accounts are."""
    user = current_user()
    identity = current_identity() or ANONYMOUS
    collections = service.list_collections(identity)
    newest = service.search(identity, SearchRequest(limit=HOME_NEWEST))
    documents = schemas.items(newest.items, current_app.config["PUBLIC_BASE_URL"], withheld=newest.withheld)
    return render_template("home.html", user=user, collections=_collection_counts(identity, collections),
                           more_collections=len(collections) > HOME_COLLECTIONS,
                           newest=list(zip(newest.items, documents)), withheld=newest.withheld,
                           demo_file=None if user else _demo_accounts_file())


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
