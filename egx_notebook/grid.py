"""The pixel grid of a raster: affine transform, CRS and size, CRS or not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from egx_notebook.errors import SourceError

__all__ = ["Grid", "grid_of"]


@dataclass(frozen=True)
class Grid:
    """Affine pixel grid of a raster (pixel-edge convention, as rasterio).

    ``transform * (col, row)`` gives the world coordinates of a pixel corner;
    ``crs`` is a ``pyproj``-readable CRS or None for pixel-space rasters.
    """

    transform: Any  # affine.Affine
    crs: Any  # rasterio.crs.CRS | None
    height: int
    width: int

    def to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """World (N, 2) -> pixel (col, row) floats."""
        inv = ~self.transform
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f])

    def to_world(self, xy: np.ndarray) -> np.ndarray:
        """Pixel (col, row) (N, 2) -> world coordinates."""
        t = self.transform
        x, y = xy[:, 0], xy[:, 1]
        return np.column_stack([t.a * x + t.b * y + t.c, t.d * x + t.e * y + t.f])


def grid_of(da: xr.DataArray) -> Grid:
    """The :class:`Grid` of a DataArray with ``y``/``x`` dims.

    Without a CRS (PNG/JPEG chips) the transform maps pixels to the ``x``/``y``
    coordinates, which are pixel centres 0.5, 1.5, ... as rioxarray writes them,
    so world coordinates *are* pixel coordinates.
    """
    import rioxarray  # noqa: F401  (registers da.rio)
    from affine import Affine

    if "y" not in da.dims or "x" not in da.dims:
        raise SourceError(f"the raster needs 'y' and 'x' dims, it has {da.dims}; rename them (da.rename(...)).")
    height, width = int(da.sizes["y"]), int(da.sizes["x"])
    if height == 0 or width == 0:
        raise SourceError(f"the raster is empty ({height} x {width} pixels); use a raster with at least one pixel.")
    crs = da.rio.crs
    if "x" in da.coords and "y" in da.coords and (height > 1 and width > 1 or crs is not None):
        try:
            transform = da.rio.transform(recalc=True)
        except Exception:  # noqa: BLE001 - irregular coords
            transform = da.rio.transform()
        else:
            # the stored transform is exact; the one recomputed from coords carries float error
            # (e.g. 1.0000000000000698e-4 for 1e-4 degree pixels). Keep the stored one when it
            # describes these coords (it is stale after slicing without rio.isel_window).
            stored = da.rio.transform()
            if _same_grid(stored, transform):
                transform = stored
    elif "x" in da.coords and "y" in da.coords:
        transform = da.rio.transform()
    else:
        transform = Affine.identity()
    if transform.b != 0 or transform.d != 0:
        raise SourceError("rotated rasters are not supported; reproject it first (da.rio.reproject(da.rio.crs)).")
    return Grid(transform, crs, height, width)


def _same_grid(a: Any, b: Any, rtol: float = 1e-6) -> bool:
    """True when two affine transforms agree to ``rtol`` of a pixel."""
    px = max(abs(b.a), abs(b.e), 1e-300)
    return (
        abs(a.a - b.a) <= rtol * px and abs(a.e - b.e) <= rtol * px
        and abs(a.b - b.b) <= rtol * px and abs(a.d - b.d) <= rtol * px
        and abs(a.c - b.c) <= rtol * px and abs(a.f - b.f) <= rtol * px
    )
