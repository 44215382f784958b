"""Raster -> PNG overlay images for the map.

Each raster layer is shown as one ``ipyleaflet.ImageOverlay`` holding a data-URL
PNG: no tile server, no proxy, nothing fetched. The PNG is computed from an
*overview* read (a decimated read of at most ``max_size`` pixels on the long
side, using the file's overviews when it has any), never from the full array.
Rasters with a CRS are warped to Web Mercator for display; rasters without one
are shown in pixel space (Leaflet's ``Simple`` CRS: ``lng = column``,
``lat = -row``).
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

__all__ = [
    "DisplayImage",
    "source_of",
    "read_overview",
    "render_rgba",
    "display_image",
    "png_data_url",
]

#: Sources the map knows how to colour (the same tags core uses).
SOURCES = ("optical", "sar", "infrared")


@dataclass
class DisplayImage:
    """A display-ready RGBA image and where it goes on the map.

    Attributes
    ----------
    rgba : numpy.ndarray
        ``(H, W, 4)`` uint8 image, transparent where the raster has no data.
    bounds : tuple
        ``((south, west), (north, east))`` in the map's lat/lon (pixel units,
        ``lat = -row``, for rasters without a CRS).
    """

    rgba: np.ndarray
    bounds: tuple[tuple[float, float], tuple[float, float]]

    @property
    def url(self) -> str:
        """The image as a ``data:image/png;base64,...`` URL."""
        return png_data_url(self.rgba)


def png_data_url(rgba: np.ndarray) -> str:
    """Encode an ``(H, W, 3|4)`` uint8 array as a PNG data URL."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba)).save(buf, format="PNG", optimize=False)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def source_of(da: xr.DataArray) -> str:
    """The source tag of a raster: ``attrs["egx_source"]`` when set, else a guess by band count."""
    tag = str(da.attrs.get("egx_source", "")).lower()
    if tag in SOURCES:
        return tag
    nbands = da.sizes.get("band", 1)
    return "optical" if nbands >= 3 else "infrared"


def _as_3d(da: xr.DataArray) -> xr.DataArray:
    """``(band, y, x)``: a 2-D raster gets a band dim; a differently named band dim is renamed."""
    other = [d for d in da.dims if d not in ("y", "x")]
    if len(other) > 1:
        raise ValueError(f"cannot display a raster with dims {da.dims}: select one of {other[:-1]} first")
    if not other:
        da = da.expand_dims("band")
    elif other[0] != "band":
        da = da.rename({other[0]: "band"})
    return da.transpose("band", "y", "x")


def _file_source(da: xr.DataArray) -> str | None:
    """The file behind ``da`` when ``da`` is that whole file, untouched (so overviews apply)."""
    src = da.encoding.get("source")
    if not src:
        return None
    try:
        import rasterio

        with rasterio.open(src) as ds:
            if (ds.count, ds.height, ds.width) != tuple(da.shape):
                return None
    except Exception:  # not a file rasterio can open: fall back to strided reads
        return None
    return src


def read_overview(da: xr.DataArray, max_size: int = 1024) -> tuple[np.ndarray, Any]:
    """Read a decimated copy of ``da`` with at most ``max_size`` pixels on its long side.

    Parameters
    ----------
    da : xarray.DataArray
        ``(band, y, x)`` raster, lazy (rioxarray / dask) or in memory.
    max_size : int
        Longest side of the returned array.

    Returns
    -------
    array : numpy.ndarray
        ``(band, h, w)`` float32 with NaN where the raster has no data.
    transform : affine.Affine or None
        Transform of the returned array (``None`` when ``da`` has no transform).
    """
    da = _as_3d(da)
    _, height, width = da.shape
    step = max(1, math.ceil(max(height, width) / max_size))
    out_h, out_w = math.ceil(height / step), math.ceil(width / step)
    transform = _transform(da)
    nodata = da.rio.nodata if _has_rio(da) else None
    src = _file_source(da)
    if src is not None and step > 1:
        import rasterio
        from rasterio.enums import Resampling

        with rasterio.open(src) as ds:
            arr = ds.read(out_shape=(ds.count, out_h, out_w), resampling=Resampling.nearest,
                          masked=True)
            arr = arr.astype("float32").filled(np.nan)
    else:
        sub = da.isel(y=slice(None, None, step), x=slice(None, None, step))
        arr = np.asarray(sub.values, dtype="float32")
        out_h, out_w = arr.shape[1:]
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            arr[arr == nodata] = np.nan
    if transform is not None:
        transform = transform @ transform.scale(width / out_w, height / out_h)
    return arr, transform


def _has_rio(da: xr.DataArray) -> bool:
    try:
        da.rio  # noqa: B018  (registers on import of rioxarray)
    except AttributeError:
        import rioxarray  # noqa: F401
    return hasattr(da, "rio")


def _transform(da: xr.DataArray):
    if not _has_rio(da):
        return None
    try:
        return da.rio.transform(recalc=False)
    except Exception:
        return None


def _stretch(band: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> np.ndarray:
    """Robust linear stretch to [0, 1]; NaN stays NaN."""
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return np.full(band.shape, np.nan, dtype="float32")
    lo, hi = np.percentile(finite, [lo_pct, hi_pct])
    if hi <= lo:
        hi = lo + 1.0
    return np.clip((band - lo) / (hi - lo), 0.0, 1.0).astype("float32")


def _to_db(band: np.ndarray) -> np.ndarray:
    """SAR amplitude/intensity in linear units -> dB; data already in dB is left alone."""
    finite = band[np.isfinite(band)]
    if finite.size and (finite < 0).any():  # negative values: already dB
        return band
    with np.errstate(divide="ignore", invalid="ignore"):
        out = 10.0 * np.log10(np.where(band > 0, band, np.nan))
    return out


def render_rgba(
    array: np.ndarray,
    source: str,
    bands: Sequence[int] | None = None,
    colormap: str = "inferno",
    sar_db: bool | None = None,
) -> np.ndarray:
    """Colour a ``(band, h, w)`` array for display.

    Parameters
    ----------
    array : numpy.ndarray
        Float array with NaN for no data.
    source : {"optical", "sar", "infrared"}
        Optical: true colour (or ``bands``) with a 2-98 % stretch. SAR: the first
        band (or ``bands[0]``) in dB, grey. Infrared: the first band through
        ``colormap``.
    bands : sequence of int, optional
        Zero-based band positions to show (three for optical, one otherwise).
    colormap : str
        Matplotlib colour map for infrared.
    sar_db : bool, optional
        Convert SAR to dB (default: when the data looks linear).

    Returns
    -------
    numpy.ndarray
        ``(h, w, 4)`` uint8, alpha 0 where any shown band is NaN.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    nb = array.shape[0]
    for b in bands or ():
        if not 0 <= b < nb:
            raise ValueError(f"band position {b} is out of range: the raster has {nb} band(s)")
    if source == "optical":
        idx = list(bands) if bands else ([0, 1, 2] if nb >= 3 else [0, 0, 0])
        if len(idx) == 1:
            idx = idx * 3
        rgb = np.stack([_stretch(array[i]) for i in idx[:3]], axis=-1)
    elif source == "sar":
        band = array[bands[0] if bands else 0]
        if sar_db is None:
            band = _to_db(band)
        elif sar_db:
            with np.errstate(divide="ignore", invalid="ignore"):
                band = 10.0 * np.log10(np.where(band > 0, band, np.nan))
        grey = _stretch(band)
        rgb = np.stack([grey, grey, grey], axis=-1)
    else:
        from matplotlib import colormaps

        grey = _stretch(array[bands[0] if bands else 0])
        rgb = colormaps[colormap](np.nan_to_num(grey))[..., :3].astype("float32")
        rgb[~np.isfinite(grey)] = np.nan
    valid = np.isfinite(rgb).all(axis=-1)
    out = np.zeros(rgb.shape[:2] + (4,), dtype=np.uint8)
    out[..., :3] = (np.nan_to_num(rgb) * 255.0 + 0.5).astype(np.uint8)
    out[..., 3] = np.where(valid, 255, 0)
    return out


def warp_to_mercator(rgba: np.ndarray, transform, crs) -> tuple[np.ndarray, tuple]:
    """Warp a display image from the raster CRS to Web Mercator.

    Returns the warped ``(H, W, 4)`` image and its ``((south, west), (north, east))``
    bounds in degrees.
    """
    from rasterio.crs import CRS
    from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_bounds

    src_crs = CRS.from_user_input(crs)
    h, w = rgba.shape[:2]
    west, north = transform @ (0, 0)
    east, south = transform @ (w, h)
    left, right = sorted((west, east))
    bottom, top = sorted((south, north))
    dst_crs = CRS.from_epsg(3857)
    if src_crs.is_geographic:  # keep inside Mercator's latitude range
        bottom, top = max(bottom, -85.0), min(top, 85.0)
    dst_transform, dw, dh = calculate_default_transform(
        src_crs, dst_crs, w, h, left=left, bottom=bottom, right=right, top=top
    )
    dst = np.zeros((4, dh, dw), dtype=np.uint8)
    reproject(
        np.moveaxis(rgba, -1, 0), dst, src_transform=transform, src_crs=src_crs,
        dst_transform=dst_transform, dst_crs=dst_crs, resampling=Resampling.nearest,
        src_nodata=None, dst_nodata=0,
    )
    x0, y0 = dst_transform @ (0, 0)
    x1, y1 = dst_transform @ (dw, dh)
    lon0, lat0, lon1, lat1 = transform_bounds(dst_crs, "EPSG:4326", min(x0, x1), min(y0, y1),
                                              max(x0, x1), max(y0, y1))
    return np.moveaxis(dst, 0, -1), ((lat0, lon0), (lat1, lon1))


def raster_crs(da: xr.DataArray):
    """The raster's CRS, or ``None`` for pixel-space rasters."""
    if not _has_rio(da):
        return None
    try:
        return da.rio.crs
    except Exception:
        return None


def display_image(
    da: xr.DataArray,
    source: str | None = None,
    bands: Sequence[int] | None = None,
    colormap: str = "inferno",
    max_size: int = 1024,
) -> DisplayImage:
    """Render a raster for the map from an overview read.

    Parameters
    ----------
    da : xarray.DataArray
        ``(band, y, x)`` raster.
    source : str, optional
        Colouring rule (default :func:`source_of`).
    bands, colormap
        See :func:`render_rgba`.
    max_size : int
        Longest side of the overview read.

    Returns
    -------
    DisplayImage
        Web Mercator image with lat/lon bounds, or a pixel-space image with
        ``((-height, 0), (0, width))`` bounds when ``da`` has no CRS.
    """
    da = _as_3d(da)
    arr, transform = read_overview(da, max_size=max_size)
    rgba = render_rgba(arr, source or source_of(da), bands=bands, colormap=colormap)
    crs = raster_crs(da)
    if crs is None or transform is None:
        height, width = da.shape[1:]
        return DisplayImage(rgba, ((-float(height), 0.0), (0.0, float(width))))
    warped, bounds = warp_to_mercator(rgba, transform, crs)
    return DisplayImage(warped, bounds)
