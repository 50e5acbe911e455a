"""An item as a caller sees it who may discover it but not view its footprint (the sharing policies'
``view_footprint``): where it is only to a 0.1° grid, and nothing that would show more.

The bbox is snapped outward to the grid (it still contains the whole footprint, so a client's map and
spatial filters stay right) and the geometry is that box. Gone are the assets anyone may fetch
directly (``PUBLIC_ASSET_ROLES``: thumbnails, overviews, previews, metadata files that state the
corner coordinates), links to previews, and the projection fields from which the exact extent could
be computed again (``proj:bbox``, ``proj:geometry``, ``proj:centroid``, ``proj:transform``).
"""
from __future__ import annotations

import math

import shapely

from exchange.catalog.spatial import bbox_geometry
from exchange.catalog.stac import is_public_asset

#: The grid a withheld footprint is snapped to: 10 steps a degree (0.1°).
STEPS_PER_DEGREE = 10
#: Projection fields that locate the data exactly (in the item's properties or an asset).
LOCATING_FIELDS = ("proj:bbox", "proj:geometry", "proj:centroid", "proj:transform")
#: Link relations that point at a preview image.
PREVIEW_RELS = {"preview", "thumbnail", "overview", "visual-preview"}


def snap_down(value: float, low: float) -> float:
    """The largest grid value (as a double) at or below ``value``, not below ``low``."""
    steps = math.floor(value * STEPS_PER_DEGREE)
    while steps / STEPS_PER_DEGREE > value:  # the products are rounded: step back to the grid value below
        steps -= 1
    while (steps + 1) / STEPS_PER_DEGREE <= value:
        steps += 1
    return max(low, steps / STEPS_PER_DEGREE)


def snap_up(value: float, high: float) -> float:
    """The smallest grid value at or above ``value``, not above ``high``."""
    return min(high, -snap_down(-value, -high))


def coarse_bbox(bbox: list[float]) -> list[float]:
    """A 2D bbox (west > east: across the antimeridian) snapped outward to the grid."""
    west, south, east, north = bbox
    return [snap_down(west, -180.0), snap_down(south, -90.0), snap_up(east, 180.0), snap_up(north, 90.0)]


def _without_locating_fields(fields: dict) -> dict:
    return {name: value for name, value in fields.items() if name not in LOCATING_FIELDS}


def coarsen(doc: dict, row) -> dict:
    """``doc`` (an item ``render_item`` made, whose links, assets and properties are its own copies)
    with its footprint coarsened and its previews removed."""
    stated = doc.get("bbox")
    if isinstance(stated, list) and len(stated) in (4, 6) and (stated[0] > stated[len(stated) // 2]):
        west, south, east, north = (stated[0], stated[1], stated[3], stated[4]) if len(stated) == 6 else stated
    else:  # the row's envelope: what the footprint column holds
        west, south, east, north = row.minx, row.miny, row.maxx, row.maxy
    bbox = coarse_bbox([west, south, east, north])
    doc["bbox"] = bbox
    doc["geometry"] = shapely.geometry.mapping(bbox_geometry(bbox))
    doc["assets"] = {key: _without_locating_fields(asset) for key, asset in doc.get("assets", {}).items()
                     if not is_public_asset(asset)}
    doc["links"] = [link for link in doc.get("links", []) if link.get("rel") not in PREVIEW_RELS]
    doc["properties"] = _without_locating_fields(doc["properties"])
    doc["properties"]["sdx:footprint"] = "coarsened"
    return doc
