"""Zoom-out: cover a large raster with overlapping native-resolution tiles and merge detections."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from egx_notebook.views import View

__all__ = ["tile_views", "views_touching", "box_iou", "nms"]


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


def views_touching(views: Sequence[View], boxes: np.ndarray) -> list[View]:
    """The views whose window overlaps at least one of ``boxes`` (raster pixels, x0, y0, x1, y1)."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    if not len(boxes):
        return []
    return [v for v in views if (box_iou(boxes, [v.window]) > 0).any()]


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
