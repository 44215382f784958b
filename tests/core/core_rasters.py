"""Seeded rasters for the core tests, written with rasterio (imported by tests/core; unique module name).

pytest puts every test folder on ``sys.path``, so helper modules need names no other
folder uses: ``from conftest import ...`` picks whichever ``conftest`` came first.
"""

from __future__ import annotations

import numpy as np
import rasterio
import xarray as xr
from rasterio.transform import from_origin

UTM = "EPSG:32633"
#: Upper-left corner of the test rasters in UTM 33N (~42 N, 15 E); 10 m pixels.
ORIGIN = (500_000.0, 4_650_000.0)
GSD = 10.0


def write_tif(path, data, *, crs=UTM, transform=None, nodata=None, descriptions=None, tags=None):
    """Write ``data`` ((band,) y, x) as a GeoTIFF on a 10 m UTM grid at ORIGIN (or ``transform``)."""
    data = np.asarray(data)
    if data.ndim == 2:
        data = data[None]
    transform = transform or from_origin(*ORIGIN, GSD, GSD)
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[2], height=data.shape[1], count=data.shape[0],
                       dtype=data.dtype, crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data)
        if descriptions:
            dst.descriptions = tuple(descriptions)
        if tags:
            dst.update_tags(**tags)
    return path


def utm_box(c0, r0, c1, r1):
    """World box (xmin, ymin, xmax, ymax) in UTM of raster pixel columns [c0, c1) and rows [r0, r1)."""
    return (ORIGIN[0] + c0 * GSD, ORIGIN[1] - r1 * GSD, ORIGIN[0] + c1 * GSD, ORIGIN[1] - r0 * GSD)


def utm_point(col, row):
    """World (x, y) in UTM of raster pixel position (col, row) (pixel-edge convention: +0.5 is a centre)."""
    return ORIGIN[0] + col * GSD, ORIGIN[1] - row * GSD


def memory_raster(shape=(3, 96, 112), *, crs=UTM, source="optical", seed=0, transform=None) -> xr.DataArray:
    """A seeded in-memory (band, y, x) raster; ``crs=None`` gives a pixel-space chip (coords 0.5, 1.5, ...)."""
    import rioxarray  # noqa: F401

    from affine import Affine

    rng = np.random.default_rng(seed)
    nb, h, w = shape
    data = rng.gamma(2.0, 0.05, size=shape).astype("float32")
    data[:, h // 3: h // 2, w // 3: w // 2] *= 6.0  # something bright to look at
    if transform is None:
        transform = Affine.identity() if crs is None else from_origin(*ORIGIN, GSD, GSD)
    x = transform.c + transform.a * (np.arange(w) + 0.5)
    y = transform.f + transform.e * (np.arange(h) + 0.5)
    da = xr.DataArray(data, dims=("band", "y", "x"), coords={"band": np.arange(1, nb + 1), "y": y, "x": x})
    da.attrs["egx_source"] = source
    if crs is not None:
        da = da.rio.write_crs(crs)
    return da.rio.write_transform(transform)
