"""Native-resolution windows: tiles over a large raster, windows over chosen boxes, and merging detections."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from egx_notebook.views import View

__all__ = ["tile_views", "covering_views", "box_iou", "nms"]


def _starts(size: int, tile: int, step: int) -> list[int]:
    if size <= tile:
        return [0]
    starts = list(range(0, size - tile, step))
    starts.append(size - tile)
    return starts


def tile_views(
    height: int,
    width: int,
    tile: int,
    overlap: float = 0.25,
    *,
    window: tuple[int, int, int, int] | None = None,
) -> list[View]:
    """Square tiles of side ``tile`` (native resolution) covering a window with ``overlap``.

    Parameters
    ----------
    height, width : int
        Raster size in pixels.
    tile : int
        Tile side (the model's input size).
    overlap : float
        Fraction of ``tile`` shared by neighbours (objects cut by one tile are
        whole in the next when they are smaller than ``overlap * tile``).
    window : (x0, y0, x1, y1), optional
        Area to cover in raster pixels; the whole raster by default.
    """
    if not 0 <= overlap < 1:
        raise ValueError(f"overlap must be in [0, 1), got {overlap}")
    x0, y0, x1, y1 = window or (0, 0, width, height)
    step = max(1, int(math.floor(tile * (1 - overlap))))
    th, tw = min(tile, y1 - y0), min(tile, x1 - x0)
    return [
        View(y0 + r, x0 + c, th, tw, 1, "tile")
        for r in _starts(y1 - y0, tile, step)
        for c in _starts(x1 - x0, tile, step)
    ]


def _start_range(lo: np.ndarray, hi: np.ndarray, side: int, size: int, margin: float) -> tuple[np.ndarray, np.ndarray]:
    """First and last window start (one axis) that hold [lo, hi) whole with up to ``margin`` around it."""
    pad = np.clip((side - (hi - lo)) / 2, 0, margin)
    first = np.clip(np.ceil(hi + pad - side), 0, size - side)
    last = np.clip(np.floor(lo - pad), 0, size - side)
    wide = first > last  # larger than a window: one centred on it
    centre = np.clip(np.round((lo + hi - side) / 2), 0, size - side)
    return np.where(wide, centre, first), np.where(wide, centre, last)


def covering_views(height: int, width: int, tile: int, boxes: np.ndarray, margin: float = 0) -> list[View]:
    """Few native-resolution windows of side ``tile`` that together hold every box whole.

    Each box lies inside one window with ``margin`` px of context on every side where the
    raster leaves room (less when the box is nearly as large as the window; a box larger
    than the window gets a window centred on it). The windows are a greedy set cover: each
    holds the most boxes not yet held, and is centred on them.

    Parameters
    ----------
    height, width : int
        Raster size in pixels.
    tile : int
        Window side (the model's input size); clipped to the raster.
    boxes : (N, 4) array
        Boxes (x0, y0, x1, y1) in raster pixels.
    margin : float
        Context to keep around each box, raster pixels.
    """
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    th, tw = min(tile, height), min(tile, width)
    if not len(boxes):
        return []
    x_first, x_last = _start_range(boxes[:, 0], boxes[:, 2], tw, width, margin)
    y_first, y_last = _start_range(boxes[:, 1], boxes[:, 3], th, height, margin)
    # an optimal window start can always be moved to some box's first or last start
    xs = np.unique(np.concatenate([x_first, x_last]))
    ys = np.unique(np.concatenate([y_first, y_last]))
    in_x = (xs[:, None] >= x_first) & (xs[:, None] <= x_last)  # (candidates, boxes)
    in_y = (ys[:, None] >= y_first) & (ys[:, None] <= y_last)
    todo = np.ones(len(boxes), bool)
    views = []
    while todo.any():
        held = (in_y[:, None, :] & in_x[None, :, :] & todo).sum(-1)
        iy, ix = np.unravel_index(int(np.argmax(held)), held.shape)
        members = in_y[iy] & in_x[ix] & todo
        x0 = int(round((x_first[members].max() + x_last[members].min()) / 2))
        y0 = int(round((y_first[members].max() + y_last[members].min()) / 2))
        views.append(View(y0, x0, th, tw, 1, "tile"))
        todo &= ~members
    return views


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of (N, 4) and (M, 4) boxes (x0, y0, x1, y1)."""
    a = np.asarray(a, float).reshape(-1, 4)
    b = np.asarray(b, float).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area_a = (a[:, 2:] - a[:, :2]).clip(0).prod(-1)
    area_b = (b[:, 2:] - b[:, :2]).clip(0).prod(-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, labels: Sequence[str] | None = None, iou: float = 0.5) -> list[int]:
    """Greedy non-maximum suppression per label; returns kept indices, best score first."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    scores = np.asarray(scores, float)
    labels = list(labels) if labels is not None else [None] * len(boxes)
    order = list(np.argsort(-scores, kind="stable"))
    keep: list[int] = []
    while order:
        i = order.pop(0)
        keep.append(int(i))
        if not order:
            break
        rest = np.array(order)
        ious = box_iou(boxes[i : i + 1], boxes[rest])[0]
        same = np.array([labels[j] == labels[i] for j in rest])
        order = [int(j) for j, o, s in zip(rest, ious, same) if not (s and o > iou)]
    return keep
