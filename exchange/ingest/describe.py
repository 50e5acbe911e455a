"""What a file says about itself: its real type, and for GeoTIFF/COG the STAC fields read with rasterio.

Everything here works on a local file (the ingest task streams the object from S3 to a temporary
file while hashing it) and raises ``Unacceptable`` with a reason a provider can act on.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import rasterio
import shapely
from pyproj import CRS, Geod
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning, RasterioError
from rasterio.warp import transform_geom
from shapely.geometry import mapping, shape

#: Leading bytes of the formats whose media types we can check.
MAGIC = {
    "image/tiff": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/jp2": (b"\x00\x00\x00\x0cjP  \r\n\x87\n",),
    "application/zip": (b"PK\x03\x04",),
    "application/x-hdf5": (b"\x89HDF\r\n\x1a\n",),
    "application/x-netcdf": (b"CDF\x01", b"CDF\x02", b"\x89HDF\r\n\x1a\n"),
    "application/pdf": (b"%PDF-",),
}
THUMBNAIL_SIDE = 512


class Unacceptable(ValueError):
    """The file cannot be accepted as declared; the message says why."""


def base_media_type(media_type: str) -> str:
    return media_type.split(";", 1)[0].strip().lower()


def is_tiff(media_type: str) -> bool:
    return base_media_type(media_type) == "image/tiff"


def check_media_type(path: str, media_type: str) -> None:
    """Refuse content that does not match its declared media type (where the type has a signature)."""
    signatures = MAGIC.get(base_media_type(media_type))
    if signatures is None:
        return
    with open(path, "rb") as fh:
        head = fh.read(16)
    if not any(head.startswith(sig) for sig in signatures):
        raise Unacceptable(f"the content is not {base_media_type(media_type)} as declared "
                           f"(it starts with {head[:8]!r})")


@dataclass
class RasterDescription:
    epsg: int | None
    crs_wkt: str
    shape: tuple[int, int]
    transform: list[float]
    native_bbox: list[float]
    footprint: dict  # GeoJSON, WGS84
    bbox: list[float]  # STAC bbox; west > east when crossing the antimeridian
    gsd: float
    bands: list[dict]
    is_cog: bool

    def asset_fields(self) -> dict:
        fields = {"proj:shape": list(self.shape), "proj:transform": self.transform, "proj:bbox": self.native_bbox,
                  "raster:bands": self.bands, "sdx:cog": self.is_cog}
        if self.epsg is not None:
            fields["proj:code"] = f"EPSG:{self.epsg}"
        else:
            fields["proj:wkt2"] = self.crs_wkt
        return fields


def _footprint(src) -> tuple[dict, list[float]]:
    """The raster's extent in WGS84: edges densified before reprojection, cut at the antimeridian."""
    left, bottom, right, top = src.bounds
    outline = shapely.box(left, bottom, right, top)
    densified = outline.segmentize(max(right - left, top - bottom) / 64)
    geometry = shape(transform_geom(src.crs, "EPSG:4326", mapping(densified), antimeridian_cutting=True,
                                    precision=7))
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    geometry = shapely.set_precision(geometry, 1e-7)
    parts = list(geometry.geoms) if hasattr(geometry, "geoms") else [geometry]
    minx, miny, maxx, maxy = geometry.bounds
    if minx <= -179.999 and maxx >= 179.999 and len(parts) > 1:  # split at the antimeridian
        west = min(p.bounds[0] for p in parts if p.bounds[0] > 0)
        east = max(p.bounds[2] for p in parts if p.bounds[2] < 0)
        return mapping(geometry), [west, miny, east, maxy]
    return mapping(geometry), [minx, miny, maxx, maxy]


def _gsd(src) -> float:
    """Ground sample distance in metres (geodesic for geographic CRSs)."""
    xres, yres = src.res
    crs = CRS.from_wkt(src.crs.to_wkt())
    if crs.is_geographic:
        lon, lat = src.xy(src.height // 2, src.width // 2)
        geod = Geod(ellps="WGS84")
        _, _, dx = geod.inv(lon, lat, lon + xres, lat)
        _, _, dy = geod.inv(lon, lat, lon, lat + yres)
        return round(min(abs(dx), abs(dy)), 3)
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return round(min(xres, yres) * factor, 3)


def describe_raster(path: str, *, max_pixels: int) -> RasterDescription:
    """Read a GeoTIFF's header. Refuses decompression bombs, files rasterio cannot read and rasters
    without a georeference."""
    try:
        with rasterio.open(path) as src:
            if src.driver != "GTiff":
                raise Unacceptable(f"expected a GeoTIFF, found {src.driver}")
            pixels = src.width * src.height * src.count
            if pixels > max_pixels:
                raise Unacceptable(f"{src.width} × {src.height} pixels × {src.count} bands is more than the "
                                   f"{max_pixels:,} samples this platform accepts")
            if src.crs is None:
                raise Unacceptable("the GeoTIFF has no coordinate reference system")
            footprint, bbox = _footprint(src)
            bands = []
            for index, dtype in zip(src.indexes, src.dtypes):
                band = {"data_type": dtype, "spatial_resolution": _gsd(src)}
                if src.nodata is not None:
                    band["nodata"] = _json_number(src.nodata)
                scale, offset = src.scales[index - 1], src.offsets[index - 1]
                if scale != 1.0 or offset != 0.0:
                    band.update(scale=scale, offset=offset)
                bands.append(band)
            layout = src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT", "")
            # Read one block of each band: a truncated or corrupt file fails here, not in a buyer's hands.
            for index in src.indexes:
                src.read(index, window=next(iter(src.block_windows(index)))[1])
            src.read(1, out_shape=(1, min(src.height, 64), min(src.width, 64)), resampling=Resampling.nearest)
            return RasterDescription(
                epsg=src.crs.to_epsg(), crs_wkt=src.crs.to_wkt(), shape=(src.height, src.width),
                transform=list(src.transform)[:6], native_bbox=list(src.bounds), footprint=footprint, bbox=bbox,
                gsd=_gsd(src), bands=bands, is_cog=layout.upper() == "COG")
    except RasterioError as exc:
        raise Unacceptable(f"the GeoTIFF cannot be read (truncated or corrupt?): {exc}") from None


def _json_number(value: float):
    if np.isnan(value):
        return "nan"
    if np.isinf(value):
        return "inf" if value > 0 else "-inf"
    return int(value) if float(value).is_integer() else float(value)


def thumbnail_png(path: str, side: int = THUMBNAIL_SIDE) -> bytes:
    """A PNG preview, at most ``side`` pixels on its long side, each band stretched between its 2nd
    and 98th percentile (nodata transparent). RGB from bands 1–3 when there are three or more."""
    with rasterio.open(path) as src:
        scale = min(1.0, side / max(src.width, src.height))
        height, width = max(1, round(src.height * scale)), max(1, round(src.width * scale))
        indexes = [1, 2, 3] if src.count >= 3 else [1]
        data = src.read(indexes, out_shape=(len(indexes), height, width), resampling=Resampling.average,
                        masked=True)
    mask = np.ma.getmaskarray(data).any(axis=0)
    channels = []
    for band in data.astype("float64"):
        valid = band.compressed()
        low, high = (np.percentile(valid, [2, 98]) if valid.size else (0.0, 1.0))
        if high <= low:
            high = low + 1.0
        channels.append((np.clip((band.filled(low) - low) / (high - low), 0, 1) * 255).astype("uint8"))
    alpha = np.where(mask, 0, 255).astype("uint8")
    pixels = np.stack(channels + [alpha])
    buffer = io.BytesIO()
    with warnings.catch_warnings(), rasterio.MemoryFile() as memfile:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a preview has no georeference
        with memfile.open(driver="PNG", width=width, height=height, count=pixels.shape[0], dtype="uint8") as dst:
            dst.write(pixels)
        buffer.write(memfile.read())
    return buffer.getvalue()
