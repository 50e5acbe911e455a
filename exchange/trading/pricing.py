"""What a line of a quote costs: the billable quantity of a product under an offer, and its total.

Areas are geodesic, on the WGS84 ellipsoid (pyproj ``Geod``), never in square degrees. Money is
integer minor units; a line's total is ``unit price × quantity × (100 − discount) / 100`` computed
exactly (decimals) and rounded half up to the minor unit once, at the end. The platform's fee on a
line is ``total × PLATFORM_FEE_BPS / 10000``, rounded half up the same way.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

import shapely
from pyproj import Geod
from shapely.geometry import shape
from shapely.validation import explain_validity

from exchange.licensing.models import Offer, PricingModel

GEOD = Geod(ellps="WGS84")
#: An AOI with more vertices is refused (each quote line is priced with Shapely in the request).
MAX_AOI_VERTICES = 10_000
UNITS = {PricingModel.free: "scene", PricingModel.per_scene: "scene", PricingModel.per_km2: "km2",
         PricingModel.per_gb: "GB"}


class BadAoi(ValueError):
    """An AOI that cannot be priced; the message is the line's reason."""


@dataclass(frozen=True)
class Priced:
    quantity: float
    unit: str
    unit_price: int
    discount_percent: int
    total: int
    currency: str


def parse_aoi(aoi: object):
    """A GeoJSON Polygon or MultiPolygon as a valid Shapely geometry, or ``BadAoi`` saying why not."""
    if not isinstance(aoi, dict) or aoi.get("type") not in ("Polygon", "MultiPolygon"):
        raise BadAoi("aoi must be a GeoJSON Polygon or MultiPolygon")
    try:
        geometry = shape(aoi)
        vertices = shapely.get_num_coordinates(geometry)
    except Exception:  # Shapely raises several kinds on malformed coordinates
        raise BadAoi("aoi is not a valid GeoJSON geometry (malformed coordinates)") from None
    if vertices > MAX_AOI_VERTICES:
        raise BadAoi(f"aoi has {vertices} vertices; at most {MAX_AOI_VERTICES} are accepted")
    if geometry.is_empty:
        raise BadAoi("aoi is empty")
    minx, miny, maxx, maxy = geometry.bounds
    if not all(math.isfinite(v) for v in geometry.bounds) or minx < -180 or maxx > 180 or miny < -90 or maxy > 90:
        raise BadAoi("aoi coordinates must be longitude −180..180 and latitude −90..90 (WGS84)")
    if not geometry.is_valid:
        why = explain_validity(geometry)
        if why.startswith("Self-intersection"):
            raise BadAoi(f"aoi is self-intersecting ({why})")
        raise BadAoi(f"aoi is not a valid polygon ({why})")
    return geometry


def geodesic_km2(geometry) -> float:
    """The area of the polygonal parts of ``geometry`` on the WGS84 ellipsoid, in km²."""
    parts = getattr(geometry, "geoms", [geometry])
    area = sum(abs(GEOD.geometry_area_perimeter(part)[0]) for part in parts
               if part.geom_type in ("Polygon", "MultiPolygon"))
    return area / 1e6


def billable_km2(footprint, aoi, min_km2: float | None) -> float:
    """AOI ∩ footprint (or the footprint), raised to ``min_km2`` and rounded up to 0.01 km²."""
    area = geodesic_km2(footprint if aoi is None else shapely.intersection(footprint, aoi))
    area = max(area, min_km2 or 0.0)
    return math.ceil(round(area * 100, 6)) / 100  # round() first: 12.30 must not become 12.31


def half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def price(offer: Offer, footprint, aoi, org_kind: str) -> Priced:
    """The line of ``offer`` for a product with ``footprint`` (and ``aoi``), for a buyer of ``org_kind``."""
    model = offer.pricing_model
    if model is PricingModel.per_km2:
        quantity = billable_km2(footprint, aoi, offer.min_km2)
    elif model is PricingModel.per_gb:
        quantity = float(offer.gb or 0)
    else:
        quantity = 1.0
    unit_price = 0 if model is PricingModel.free else offer.price
    discount = int((offer.discounts or {}).get(org_kind, 0))
    total = half_up(Decimal(unit_price) * Decimal(str(quantity)) * (100 - discount) / 100)
    return Priced(quantity, UNITS[model], unit_price, discount, total, offer.currency)


def fee(amount: int, basis_points: int) -> int:
    """The platform's part of a line that cost ``amount``."""
    return half_up(Decimal(amount) * basis_points / 10_000)
