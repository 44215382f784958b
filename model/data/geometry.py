"""Small geometric helpers: boxes, windows, mask run-length encoding."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import ndimage

__all__ = ["clip_box", "box_area", "box_iou", "shift_box", "mask_to_box", "component_boxes",
           "rle_encode", "rle_decode", "fill_boxes", "fill_polygon", "crop", "position_phrase", "direction_phrase"]


def clip_box(box: Sequence[float], width: int, height: int) -> list[float] | None:
    """Clip ``[x0, y0, x1, y1]`` to the image; None if nothing positive is left."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 < x0:
        x0, x1 = x1, x0
    if y1 < y0:
        y0, y1 = y1, y0
    x0, x1 = max(0.0, x0), min(float(width), x1)
    y0, y1 = max(0.0, y0), min(float(height), y1)
    if x1 - x0 <= 0 or y1 - y0 <= 0:
        return None
    return [x0, y0, x1, y1]


def box_area(box: Sequence[float]) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def shift_box(box: Sequence[float], dx: float, dy: float) -> list[float]:
    return [box[0] - dx, box[1] - dy, box[2] - dx, box[3] - dy]


def mask_to_box(mask: np.ndarray) -> list[float] | None:
    """Tight pixel-edge box of a boolean mask, None when empty."""
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return [float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)]


def component_boxes(mask: np.ndarray) -> list[list[float]]:
    """Boxes of the 8-connected components of a boolean mask, in scan order."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), bool))
    boxes = []
    for sl in ndimage.find_objects(labels):
        if sl is None:
            continue
        boxes.append([float(sl[1].start), float(sl[0].start), float(sl[1].stop), float(sl[0].stop)])
    return boxes


def rle_encode(mask: np.ndarray) -> dict:
    """Run-length code of a boolean (H, W) mask.

    Row-major (C order) runs, starting with a run of False (possibly 0 long):
    ``{"size": [H, W], "counts": [n_false, n_true, n_false, ...]}``.
    """
    flat = np.asarray(mask, bool).ravel()
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": [int(c) for c in counts]}


def rle_decode(rle: dict) -> np.ndarray:
    """Inverse of :func:`rle_encode`."""
    h, w = rle["size"]
    counts = np.asarray(rle["counts"], np.int64)
    if counts.sum() != h * w:
        raise ValueError(f"RLE counts sum to {counts.sum()}, expected {h * w} for size {h}x{w}")
    values = np.zeros(counts.size, bool)
    values[1::2] = True
    return np.repeat(values, counts).reshape(h, w)


def _span(a: float, b: float, n: int) -> tuple[int, int]:
    lo, hi = int(np.ceil(a - 0.5)), int(np.ceil(b - 0.5))
    if hi <= lo:  # thinner than a pixel: keep the pixel under its centre
        lo = int(np.floor((a + b) / 2))
        hi = lo + 1
    return max(0, lo), min(n, hi)


def fill_boxes(boxes: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """Boolean mask with every box filled (pixels whose centre lies in a box)."""
    out = np.zeros((height, width), bool)
    for b in boxes:
        x0, x1 = _span(b[0], b[2], width)
        y0, y1 = _span(b[1], b[3], height)
        out[y0:y1, x0:x1] = True
    return out


def fill_polygon(rings: Sequence[Sequence[Sequence[float]]], height: int, width: int) -> np.ndarray:
    """Boolean (H, W) mask of the pixels whose centre lies inside a polygon (even-odd rule).

    Parameters
    ----------
    rings : sequence of rings
        The exterior ring first, then any holes; each ring is ``[[x, y], ...]`` in
        pixel-edge coordinates (pixel (i, j) covers x in [j, j+1), y in [i, i+1)).
    height, width : int
        Size of the mask.
    """
    out = np.zeros((height, width), bool)
    edges = []
    for ring in rings:
        pts = np.asarray(ring, np.float64).reshape(-1, 2)
        if len(pts) >= 3:
            edges.append(np.concatenate([pts, np.roll(pts, -1, axis=0)], axis=1))
    if not edges:
        return out
    x0, y0, x1, y1 = np.concatenate(edges).T
    yc = np.arange(height, dtype=np.float64)[:, None] + 0.5
    crosses = ((y0 <= yc) & (yc < y1)) | ((y1 <= yc) & (yc < y0))
    dy = np.where(y1 == y0, 1.0, y1 - y0)
    xs = np.where(crosses, x0 + (yc - y0) * (x1 - x0) / dy, np.nan)
    xs.sort(axis=1)
    for i in np.flatnonzero(crosses.any(axis=1)):
        row = xs[i][~np.isnan(xs[i])]
        for xa, xb in zip(row[0::2], row[1::2]):
            lo, hi = max(0, int(np.ceil(xa - 0.5))), min(width, int(np.ceil(xb - 0.5)))
            if hi > lo:
                out[i, lo:hi] ^= True
    return out


def crop(array: np.ndarray, window: Sequence[int] | None) -> np.ndarray:
    """Crop the last two axes to ``[x0, y0, x1, y1]`` (None = whole)."""
    if window is None:
        return array
    x0, y0, x1, y1 = (int(v) for v in window)
    return array[..., y0:y1, x0:x1]


_POS = [["top left", "top", "top right"], ["left", "centre", "right"], ["bottom left", "bottom", "bottom right"]]


def position_phrase(cx: float, cy: float, width: float, height: float) -> str:
    """Where a point lies in a view, on a 3x3 grid: 'top left', 'centre', ..."""
    col = min(2, max(0, int(3 * cx / width)))
    row = min(2, max(0, int(3 * cy / height)))
    return _POS[row][col]


_DIRS = ["to the right of", "to the lower right of", "below", "to the lower left of",
         "to the left of", "to the upper left of", "above", "to the upper right of"]


def direction_phrase(dx: float, dy: float) -> str:
    """Direction of a displacement (image axes, y down) in words."""
    ang = np.degrees(np.arctan2(dy, dx)) % 360.0
    return _DIRS[int(((ang + 22.5) % 360) // 45)]
