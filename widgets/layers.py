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
    "read_window",
    "window_for_bounds",
    "DisplayStyle",
    "style_for",
    "display_detail",
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
    style: "DisplayStyle | None" = None
    step: int = 1  # raster pixels per display pixel of the read

    @property
    def url(self) -> str:
        """The image as a ``data:image/png;base64,...`` URL."""
        return png_data_url(self.rgba)


@dataclass(frozen=True)
class DisplayStyle:
    """How an overview was coloured, so that detail reads of the same raster match it.

    Attributes
    ----------
    source : str
        Colouring rule (``optical``, ``sar``, ``infrared``).
    bands : tuple of int or None
        Band positions shown.
    colormap : str
        Colour map for infrared.
    sar_db : bool
        Whether SAR values were converted to dB.
    limits : tuple of (float, float)
        Stretch limits of each shown channel.
    """

    source: str
    bands: tuple[int, ...] | None
    colormap: str
    sar_db: bool
    limits: tuple[tuple[float, float], ...]


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
    arr, transform, _ = read_window(da, None, max_size)
    return arr, transform


def read_window(da: xr.DataArray, window: tuple[int, int, int, int] | None,
                max_size: int = 1024) -> tuple[np.ndarray, Any, int]:
    """Read ``window`` = (row0, row1, col0, col1) of ``da`` (all of it when None), decimated
    to at most ``max_size`` pixels on its long side.

    Returns the ``(band, h, w)`` float32 array (NaN = no data), its transform (None
    without one) and the decimation step (raster pixels per returned pixel).
    """
    da = _as_3d(da)
    _, height, width = da.shape
    r0, r1, c0, c1 = window if window is not None else (0, height, 0, width)
    h, w = r1 - r0, c1 - c0
    if h <= 0 or w <= 0 or r0 < 0 or c0 < 0 or r1 > height or c1 > width:
        raise ValueError(f"window {window} is not inside the {height} x {width} raster")
    step = max(1, math.ceil(max(h, w) / max_size))
    out_h, out_w = math.ceil(h / step), math.ceil(w / step)
    transform = _transform(da)
    nodata = da.rio.nodata if _has_rio(da) else None
    src = _file_source(da)
    if src is not None and step > 1:
        import rasterio
        from rasterio.enums import Resampling
        from rasterio.windows import Window

        with rasterio.open(src) as ds:
            arr = ds.read(out_shape=(ds.count, out_h, out_w), window=Window(c0, r0, w, h),
                          resampling=Resampling.nearest, masked=True)
            arr = arr.astype("float32").filled(np.nan)
    else:
        sub = da.isel(y=slice(r0, r1, step), x=slice(c0, c1, step))
        arr = np.asarray(sub.values, dtype="float32")
        out_h, out_w = arr.shape[1:]
        if nodata is not None and not (isinstance(nodata, float) and math.isnan(nodata)):
            arr[arr == nodata] = np.nan
    if transform is not None:
        transform = transform @ transform.translation(c0, r0) @ transform.scale(w / out_w, h / out_h)
    return arr, transform, step


def window_for_bounds(da: xr.DataArray, bounds, pad: float = 0.1) -> tuple[int, int, int, int] | None:
    """The raster window (row0, row1, col0, col1) under map ``bounds`` ((south, west), (north, east)).

    ``bounds`` are lat/lon for rasters with a CRS and pixel units (``lat = -row``,
    ``lng = column``) without one. The window is grown by ``pad`` of its size on every
    side (so small pans need no new read) and clipped to the raster; None when the
    bounds miss the raster.
    """
    da = _as_3d(da)
    _, height, width = da.shape
    (south, west), (north, east) = bounds
    crs, transform = raster_crs(da), _transform(da)
    if crs is None or transform is None:
        rows, cols = np.array([-north, -south]), np.array([west, east])
    else:
        from rasterio.warp import transform_bounds

        left, bottom, right, top = transform_bounds("EPSG:4326", crs, west, max(south, -85.0), east,
                                                    min(north, 85.0), densify_pts=21)
        xs, ys = np.array([left, right, left, right]), np.array([bottom, bottom, top, top])
        cols, rows = ~transform * (xs, ys)
    r0, r1, c0, c1 = float(np.min(rows)), float(np.max(rows)), float(np.min(cols)), float(np.max(cols))
    dr, dc = pad * (r1 - r0), pad * (c1 - c0)
    r0, r1 = max(0, math.floor(r0 - dr)), min(height, math.ceil(r1 + dr))
    c0, c1 = max(0, math.floor(c0 - dc)), min(width, math.ceil(c1 + dc))
    if r1 <= r0 or c1 <= c0:
        return None
    return r0, r1, c0, c1


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


def _limits(band: np.ndarray, lo_pct: float = 2.0, hi_pct: float = 98.0) -> tuple[float, float]:
    """Robust 2-98 % stretch limits of one channel (0, 1 when it has no data)."""
    finite = band[np.isfinite(band)]
    if finite.size == 0:
        return 0.0, 1.0
    lo, hi = (float(v) for v in np.percentile(finite, [lo_pct, hi_pct]))
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _stretch(band: np.ndarray, limits: tuple[float, float]) -> np.ndarray:
    """Linear stretch of ``band`` between ``limits`` to [0, 1]; NaN stays NaN."""
    lo, hi = limits
    return np.clip((band - lo) / (hi - lo), 0.0, 1.0).astype("float32")


def _looks_linear(band: np.ndarray) -> bool:
    """SAR in linear units (no negative values); data already in dB has some."""
    finite = band[np.isfinite(band)]
    return not (finite.size and (finite < 0).any())


def _channels(array: np.ndarray, source: str, bands: Sequence[int] | None, sar_db: bool) -> list[np.ndarray]:
    """The channels shown before stretching: three for optical, one (in dB for SAR) otherwise."""
    nb = array.shape[0]
    if source == "optical":
        idx = list(bands) if bands else ([0, 1, 2] if nb >= 3 else [0, 0, 0])
        if len(idx) == 1:
            idx = idx * 3
        return [array[i] for i in idx[:3]]
    band = array[bands[0] if bands else 0]
    if source == "sar" and sar_db:
        with np.errstate(divide="ignore", invalid="ignore"):
            band = 10.0 * np.log10(np.where(band > 0, band, np.nan))
    return [band]


def style_for(
    array: np.ndarray,
    source: str,
    bands: Sequence[int] | None = None,
    colormap: str = "inferno",
    sar_db: bool | None = None,
) -> DisplayStyle:
    """The colouring :func:`render_rgba` gives ``array`` (stretch limits from its 2-98 % range).

    Parameters are those of :func:`render_rgba`.
    """
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    nb = array.shape[0]
    for b in bands or ():
        if not 0 <= b < nb:
            raise ValueError(f"band position {b} is out of range: the raster has {nb} band(s)")
    if sar_db is None:
        sar_db = source == "sar" and _looks_linear(array[bands[0] if bands else 0])
    limits = tuple(_limits(c) for c in _channels(array, source, bands, sar_db))
    return DisplayStyle(source, tuple(bands) if bands else None, colormap, bool(sar_db), limits)


def render_rgba(
    array: np.ndarray,
    source: str,
    bands: Sequence[int] | None = None,
    colormap: str = "inferno",
    sar_db: bool | None = None,
    style: DisplayStyle | None = None,
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
    style : DisplayStyle, optional
        Colour exactly as this style (e.g. an overview's) instead of from ``array``'s
        own range; ``source``, ``bands``, ``colormap`` and ``sar_db`` are then ignored.

    Returns
    -------
    numpy.ndarray
        ``(h, w, 4)`` uint8, alpha 0 where any shown band is NaN.
    """
    style = style or style_for(array, source, bands, colormap, sar_db)
    channels = [_stretch(c, lim) for c, lim in zip(_channels(array, style.source, style.bands, style.sar_db),
                                                   style.limits)]
    if style.source == "infrared":
        from matplotlib import colormaps

        grey = channels[0]
        rgb = colormaps[style.colormap](np.nan_to_num(grey))[..., :3].astype("float32")
        rgb[~np.isfinite(grey)] = np.nan
    else:
        rgb = np.stack(channels * 3 if len(channels) == 1 else channels, axis=-1)
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
        ``((-height, 0), (0, width))`` bounds when ``da`` has no CRS; its ``style``
        colours detail reads (:func:`display_detail`) the same way.
    """
    da = _as_3d(da)
    arr, transform, step = read_window(da, None, max_size)
    style = style_for(arr, source or source_of(da), bands=bands, colormap=colormap)
    return _placed(da, render_rgba(arr, style.source, style=style), transform, (0, 0), step, style)


def display_detail(da: xr.DataArray, bounds, style: DisplayStyle, overview_step: int,
                   max_size: int = 1024) -> DisplayImage | None:
    """A sharper image of the part of ``da`` under map ``bounds``, coloured with ``style``.

    Returns None when the bounds miss the raster or a read of that part would be no
    sharper than the overview (decimation step not below ``overview_step``).
    """
    da = _as_3d(da)
    window = window_for_bounds(da, bounds)
    if window is None:
        return None
    r0, r1, c0, c1 = window
    if max(1, math.ceil(max(r1 - r0, c1 - c0) / max_size)) >= overview_step:
        return None
    arr, transform, step = read_window(da, window, max_size)
    return _placed(da, render_rgba(arr, style.source, style=style), transform, (r0, c0), step, style)


def _placed(da: xr.DataArray, rgba: np.ndarray, transform, origin: tuple[int, int], step: int,
            style: DisplayStyle) -> DisplayImage:
    """Put a rendered read on the map: warped to Web Mercator, or in pixel space without a CRS."""
    crs = raster_crs(da)
    if crs is None or transform is None:
        r0, c0 = origin
        h, w = rgba.shape[0] * step, rgba.shape[1] * step
        _, height, width = da.shape
        r1, c1 = min(height, r0 + h), min(width, c0 + w)
        return DisplayImage(rgba, ((-float(r1), float(c0)), (-float(r0), float(c1))), style, step)
    warped, bounds = warp_to_mercator(rgba, transform, crs)
    return DisplayImage(warped, bounds, style, step)
