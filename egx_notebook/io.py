"""Opening rasters: GeoTIFF/COG, and PNG/JPEG chips with no CRS (pixel space)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from egx_notebook.errors import SourceError
from egx_notebook.sources import SOURCES, check_dtype, infer_source

__all__ = ["open_raster"]

_COLOR_NAMES = {"red": "red", "green": "green", "blue": "blue", "gray": "gray", "grey": "gray", "alpha": "alpha"}


def open_raster(
    path: str | os.PathLike,
    source: str | None = None,
    chunks: Any = None,
    *,
    bands: list[str | int] | None = None,
) -> xr.DataArray:
    """Open a raster as a lazy ``xarray.DataArray`` with dims (band, y, x).

    Parameters
    ----------
    path : str or path-like
        GeoTIFF / COG (or anything GDAL reads). PNG and JPEG chips without a
        CRS open too: their x/y coordinates are pixel centres (0.5, 1.5, ...)
        and prompts on them are pixel coordinates (x=column, y=row).
    source : {"optical", "sar", "infrared"}, optional
        The source tag. When None it is inferred from metadata tags, band
        names, band count and value ranges; see :mod:`egx_notebook.sources`
        for the rules. The chosen tag is ``attrs["egx_source"]`` and the rule
        that chose it is ``attrs["egx_source_reason"]``.
    chunks : int, dict, "auto" or True, optional
        Passed to rioxarray: the result is dask-backed and every later read is
        windowed. Without chunks the array is still lazy (read on access).
    bands : list of str or int, optional
        Bands to hand to the model (names or 1-based numbers), as
        ``da.egx.set_bands`` does.

    Returns
    -------
    xarray.DataArray
        Values masked where the file says nodata (NaN, never zeros); band names
        in the ``band_name`` coordinate; CRS and transform via ``da.rio``.

    Raises
    ------
    SourceError
        Missing file, unreadable format, unsupported dtype, zero-size raster,
        unknown ``source``.
    """
    import rasterio
    import rioxarray

    path = Path(path)
    if not path.exists():
        raise SourceError(f"no such raster: {str(path)!r}; check the path (relative paths start at {os.getcwd()!r}).")
    if source is not None and source not in SOURCES:
        raise SourceError(f"unknown source {source!r}; use one of {SOURCES} or leave source=None to infer it.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
            with rasterio.open(path) as src:
                tags = src.tags()
                colorinterp = [ci.name for ci in src.colorinterp]
                descriptions = list(src.descriptions)
                dtypes = set(src.dtypes)
                shape = (src.count, src.height, src.width)
            da = rioxarray.open_rasterio(path, masked=True, chunks=chunks)
    except rasterio.errors.RasterioIOError as exc:
        raise SourceError(f"cannot read {str(path)!r} as a raster ({exc}); use a GeoTIFF, COG, PNG or JPEG.") from exc
    for dtype in dtypes:
        check_dtype(dtype)
    if 0 in shape:
        raise SourceError(f"{str(path)!r} has zero size (bands, rows, cols = {shape}); open a raster with pixels.")
    if isinstance(da, list):
        raise SourceError(f"{str(path)!r} holds several subdatasets; open one of them by its GDAL name.")
    if "band" not in da.dims:
        da = da.expand_dims("band")

    use_colour = len(colorinterp) == 1 or {"red", "green", "blue"} <= {c.lower() for c in colorinterp}
    names = [d if d else (_COLOR_NAMES.get(ci.lower()) if use_colour else None) for d, ci in zip(descriptions, colorinterp)]
    if "alpha" in names and len(names) > 1:
        # drop the alpha band; alpha == 0 is nodata
        a = names.index("alpha")
        alpha = da.isel(band=a)
        keep = [i for i in range(len(names)) if i != a]
        da = da.isel(band=keep).where(alpha != 0)
        names = [names[i] for i in keep]
    names = [n if n else f"band_{i + 1}" for i, n in enumerate(names)]
    da = da.assign_coords(band_name=("band", names))
    da.attrs.pop("long_name", None)
    da.attrs.update({k: v for k, v in tags.items() if k not in da.attrs and isinstance(v, str)})
    da.attrs["egx_path"] = str(path)
    if bands is not None:
        da.attrs["egx_bands"] = list(bands)
    if source is None:
        source, reason = infer_source(da, tags)
    else:
        reason = "given by source="
    da.attrs["egx_source"] = source
    da.attrs["egx_source_reason"] = reason
    da.name = da.name or path.stem
    return da
