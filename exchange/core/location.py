"""The ``Location`` header of a ``201 Created`` answer (RFC 9110 §10.2.2): where to GET what was made."""
from __future__ import annotations

from flask import current_app, url_for

#: How the header is described in the OpenAPI document of every 201 answer that carries it.
LOCATION_HEADER = {"Location": {"description": "URL of the created resource", "schema": {"type": "string"}}}


def location(endpoint: str, **values) -> dict[str, str]:
    """Headers naming the created resource by an absolute URL on the platform's public address."""
    return {"Location": current_app.config["PUBLIC_BASE_URL"].rstrip("/") + url_for(endpoint, **values)}
