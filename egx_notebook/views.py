"""Views: the window of a raster the model looks at, and its zoom level.

A :class:`View` is a window of the raster in pixels plus an integer decimation
``factor``: view pixel (x, y) covers raster pixels
``[col_off + x*factor, col_off + (x+1)*factor)`` (same for rows). With
``factor == 1`` the view is at native resolution (zoom-in); larger factors
zoom out. Reads are windowed: only the window is read, in row stripes for
file-backed arrays and through ``coarsen`` for dask arrays, so the whole raster
never sits in memory at once.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import xarray as xr

from egx_notebook.errors import PromptError, SourceError
from egx_notebook.grid import Grid

__all__ = ["View", "choose_view", "fit_window", "read_view", "reduce_mask", "region_side", "LEVELS", "MIN_REGION_SIDE",
           "POINT_REGION_SIDE", "STRIPE_BYTES"]

LEVELS = ("auto", "scene", "region")
#: Smallest region window around prompts with an extent (boxes, shapes, masks), raster pixels.
MIN_REGION_SIDE = 64
#: Smallest region window around point-only prompts. A point does not tell the object's size,
#: and a 64-px window cuts through objects larger than it (oil wells at 0.41 m, ships); 128 px
#: answered better on every validation dataset, masks of infrared targets included since the
#: builder draws point windows of 64-256 px (benchmarks/point_window.py; see region_side).
POINT_REGION_SIDE = 128
#: Bytes read per stripe when decimating a file-backed (non-dask) window.
STRIPE_BYTES = 32 * 2**20


@dataclass(frozen=True)
class View:
    """A window of the raster (raster pixels) and its decimation factor."""

    row_off: int
    col_off: int
    height: int
    width: int
    factor: int
    level: str

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the view array handed to the model."""
        return math.ceil(self.height / self.factor), math.ceil(self.width / self.factor)

    @property
    def window(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) of the window in raster pixels."""
        return self.col_off, self.row_off, self.col_off + self.width, self.row_off + self.height

    def transform(self, grid: Grid) -> Any:
        """Affine transform of the view array in the raster's CRS (or pixel space)."""
        from affine import Affine

        return grid.transform @ Affine.translation(self.col_off, self.row_off) @ Affine.scale(self.factor)

    def to_raster_px(self, xy: np.ndarray) -> np.ndarray:
        """View pixel coordinates (N, 2) -> raster pixel coordinates."""
        return np.asarray(xy, dtype=float) * self.factor + np.array([self.col_off, self.row_off])


def fit_window(start: float, side: int, size: int) -> tuple[int, int]:
    """A window [off, off+len) of ``side`` centred at ``start``, shifted inside [0, size).

    The dataset builder places its point-prompt windows with it, so training sees
    the windows ``choose_view`` reads."""
    if side >= size:
        return 0, size
    off = int(round(start - side / 2))
    off = min(max(off, 0), size - side)
    return off, side


def region_side(kinds: Sequence[str]) -> int:
    """Smallest region window, in raster pixels, for prompts of ``kinds``.

    Point-only prompts get :data:`POINT_REGION_SIDE` (a point does not tell the size of
    the object under it); everything else gets :data:`MIN_REGION_SIDE`.
    """
    if kinds and all(k == "point" for k in kinds):
        return POINT_REGION_SIDE
    return MIN_REGION_SIDE


def choose_view(
    grid: Grid,
    bounds: tuple[float, float, float, float] | None,
    level: str,
    input_size: int,
    *,
    context: float = 3.0,
    min_region_side: int = MIN_REGION_SIDE,
) -> View:
    """Choose the view for a request.

    Parameters
    ----------
    grid : Grid
        The raster's grid.
    bounds : (x0, y0, x1, y1) or None
        Union of the prompts in raster pixels.
    level : {"auto", "scene", "region"}
        "scene": the whole raster, decimated to about ``input_size``.
        "region": a window around the prompts with context (side =
        max(min_region_side, context x prompt extent)), zoomed in (the
        processor upsamples it to the model input) or decimated when the side
        exceeds ``input_size``. "auto": region when there
        are prompts, else scene.
    input_size : int
        The model's square input side in pixels.
    context : float
        How many times the prompt extent the region window spans.
    min_region_side : int
        Smallest region window in raster pixels (see :func:`region_side`). The
        default model was trained on zoom windows of 1.2-4x the object and at
        least 64 px for box, polygon and mask prompts (so a 5-px infrared target
        is seen 4x enlarged), and on 64-256 px windows centred on point prompts.
    """
    if level not in LEVELS:
        raise PromptError(f"unknown level {level!r}; use one of {LEVELS}.")
    if level == "auto":
        level = "region" if bounds is not None else "scene"
    if level == "scene":
        row_off, col_off, height, width = 0, 0, grid.height, grid.width
    else:
        if bounds is None:
            raise PromptError("level='region' needs a prompt (point=, box=, polygon= or mask=); use level='scene' without one.")
        x0, y0, x1, y1 = bounds
        side = max(int(min_region_side), int(math.ceil(context * max(x1 - x0, y1 - y0))))
        col_off, width = fit_window((x0 + x1) / 2, side, grid.width)
        row_off, height = fit_window((y0 + y1) / 2, side, grid.height)
    factor = max(1, math.ceil(max(height, width) / input_size))
    return View(row_off, col_off, height, width, factor, level)


def _block_mean(arr: np.ndarray, f: int) -> np.ndarray:
    """NaN-aware mean over f x f blocks of (C, H, W); partial edge blocks use the pixels they have."""
    c, h, w = arr.shape
    hp, wp = math.ceil(h / f) * f, math.ceil(w / f) * f
    if (hp, wp) != (h, w):
        arr = np.pad(arr, ((0, 0), (0, hp - h), (0, wp - w)), constant_values=np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(arr.reshape(c, hp // f, f, wp // f, f), axis=(2, 4))


def read_view(da: xr.DataArray, view: View) -> np.ndarray:
    """Read the view of ``da`` (band, y, x) as float32 (C, H, W), NaN where nodata.

    Only the window is read. Dask-backed arrays are decimated with
    ``coarsen`` (chunk by chunk); other lazy arrays are read in row stripes of
    at most :data:`STRIPE_BYTES`.
    """
    win = da.isel(y=slice(view.row_off, view.row_off + view.height), x=slice(view.col_off, view.col_off + view.width))
    f = view.factor
    if f == 1:
        out = np.asarray(win.values, dtype=np.float32)
    elif win.chunks is not None:
        # coarsen().mean() skips NaN by default (it no longer takes skipna= in xarray 2026.9)
        out = np.asarray(win.coarsen(y=f, x=f, boundary="pad").mean().values, dtype=np.float32)
    else:
        n_bands = win.sizes.get("band", 1)
        rows = max(1, STRIPE_BYTES // max(1, view.width * n_bands * 8) // f) * f
        parts = []
        for r in range(0, view.height, rows):
            stripe = np.asarray(win.isel(y=slice(r, r + rows)).values, dtype=np.float32)
            parts.append(_block_mean(stripe.reshape(-1, *stripe.shape[-2:]), f))
        out = np.concatenate(parts, axis=1)
    out = out.reshape(-1, *out.shape[-2:])
    if not np.isfinite(out).any():
        raise SourceError(
            f"the view window {view.window} (x0, y0, x1, y1 in pixels) holds only nodata; "
            "prompt an area with valid pixels, or check the raster's nodata value."
        )
    return out


def reduce_mask(mask: Any, view: View) -> np.ndarray:
    """A raster-grid boolean mask cropped to ``view`` and reduced to its shape (any-pooling)."""
    f = view.factor
    win = mask[view.row_off : view.row_off + view.height, view.col_off : view.col_off + view.width]
    win = np.asarray(win.compute() if hasattr(win, "compute") else win, dtype=bool)
    if f == 1:
        return win
    h, w = view.shape
    padded = np.zeros((h * f, w * f), dtype=bool)
    padded[: win.shape[0], : win.shape[1]] = win
    return padded.reshape(h, f, w, f).any(axis=(1, 3))


def paint(pieces: Sequence[tuple[View, np.ndarray]], r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """Rasterise view-grid masks onto raster rows [r0, r1) and cols [c0, c1) (nearest, OR-ed)."""
    out = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    for view, vmask in pieces:
        ra, rb = max(r0, view.row_off), min(r1, view.row_off + view.height)
        ca, cb = max(c0, view.col_off), min(c1, view.col_off + view.width)
        if ra >= rb or ca >= cb:
            continue
        vr = (np.arange(ra, rb) - view.row_off) // view.factor
        vc = (np.arange(ca, cb) - view.col_off) // view.factor
        out[ra - r0 : rb - r0, ca - c0 : cb - c0] |= vmask[np.ix_(vr, vc)]
    return out


def masks_on_grid(template: xr.DataArray, grid: Grid, objects: Sequence[Sequence[tuple[View, np.ndarray]]]) -> xr.DataArray:
    """Boolean masks (object, y, x) on exactly the grid of ``template``.

    Dask-backed (built chunk by chunk on demand) when ``template`` is, else numpy.
    """
    import rioxarray  # noqa: F401  (registers .rio)

    k = len(objects)
    lazy = template.chunks is not None
    if lazy:
        import dask.array as dsa

        ychunks = template.chunks[template.dims.index("y")]
        xchunks = template.chunks[template.dims.index("x")]

        def block(block_info=None):
            loc = block_info[None]["array-location"]
            (o0, o1), (r0, r1), (c0, c1) = loc
            return np.stack([paint(objects[o], r0, r1, c0, c1) for o in range(o0, o1)])

        data = dsa.map_blocks(block, chunks=((1,) * k, ychunks, xchunks), dtype=bool, meta=np.zeros((0, 0, 0), bool))
    else:
        data = np.zeros((k, grid.height, grid.width), dtype=bool)
        for o, pieces in enumerate(objects):
            data[o] = paint(pieces, 0, grid.height, 0, grid.width)
    coords = {d: template.coords[d] for d in ("y", "x") if d in template.coords}
    mask = xr.DataArray(data, dims=("object", "y", "x"), coords=coords, name="mask")
    mask.coords["object"] = np.arange(1, k + 1)
    if grid.crs is not None:
        mask = mask.rio.write_crs(grid.crs)
    mask = mask.rio.write_transform(grid.transform)
    return mask
