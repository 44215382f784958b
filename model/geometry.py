"""Geometry of a view on the model canvas, box text format and prompt rasterisation.

Pure numpy (plus Pillow for polygon filling): importable without torch.

Conventions (see ``docs/architecture.md``): pixel coordinates are ``(x, y)`` floats
with the pixel-edge convention (pixel ``(row i, col j)`` covers ``x in [j, j+1)``,
``y in [i, i+1)``). A view of ``H x W`` pixels is resized, keeping its aspect, so that
its longest side is the canvas size ``S``, and padded bottom/right to ``S x S``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EgxInputError",
    "ViewGeometry",
    "format_box",
    "parse_boxes",
    "rasterize_prompt",
    "PROMPT_KINDS",
]

PROMPT_KINDS = ("point", "box", "polygon", "mask")


class EgxInputError(ValueError):
    """Model input (array, source, prompt, task) that the model cannot use.

    The message says what was wrong and what to pass instead.
    """


@dataclass(frozen=True)
class ViewGeometry:
    """Where a view of ``height x width`` pixels lies on the square model canvas.

    Attributes
    ----------
    height, width : int
        Size of the view array handed to the processor.
    scale : float
        Canvas pixels per view pixel along the longest side (``canvas / max(H, W)``).
    canvas : int
        Side of the square canvas (the model's ``image_size``).
    """

    height: int
    width: int
    scale: float
    canvas: int

    @classmethod
    def for_view(cls, height: int, width: int, canvas: int) -> "ViewGeometry":
        """Geometry of a ``height x width`` view on a ``canvas x canvas`` canvas."""
        if height < 1 or width < 1:
            raise EgxInputError(f"the view is empty ({height} x {width} pixels); pass an array with H, W >= 1")
        return cls(int(height), int(width), canvas / max(height, width), int(canvas))

    @property
    def content_height(self) -> int:
        """Rows of the canvas covered by the view (the rest is bottom padding)."""
        return max(1, min(self.canvas, int(round(self.height * self.scale))))

    @property
    def content_width(self) -> int:
        """Columns of the canvas covered by the view (the rest is right padding)."""
        return max(1, min(self.canvas, int(round(self.width * self.scale))))

    @property
    def sx(self) -> float:
        """Canvas pixels per view pixel along x (exact for the rounded content width)."""
        return self.content_width / self.width

    @property
    def sy(self) -> float:
        """Canvas pixels per view pixel along y."""
        return self.content_height / self.height

    def to_canvas(self, xy: np.ndarray) -> np.ndarray:
        """View pixel coordinates (..., 2) -> canvas pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy * np.array([self.sx, self.sy])

    def to_view(self, xy: np.ndarray) -> np.ndarray:
        """Canvas pixel coordinates (..., 2) -> view pixel coordinates."""
        xy = np.asarray(xy, dtype=np.float64)
        return xy / np.array([self.sx, self.sy])

    def boxes_to_view(self, boxes: np.ndarray) -> np.ndarray:
        """Canvas boxes (N, 4) -> view boxes, clipped to the view."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        out = b / np.array([self.sx, self.sy, self.sx, self.sy])
        out[:, [0, 2]] = out[:, [0, 2]].clip(0, self.width)
        out[:, [1, 3]] = out[:, [1, 3]].clip(0, self.height)
        return out

    def boxes_to_canvas(self, boxes: np.ndarray) -> np.ndarray:
        """View boxes (N, 4) -> canvas boxes."""
        b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        return b * np.array([self.sx, self.sy, self.sx, self.sy])


# ---------------------------------------------------------------------------- boxes as text

_BOX_RE = re.compile(r"<box>\s*\[\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*,"
                     r"\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)\s*\]\s*</box>")


def format_box(box, height: int, width: int) -> str:
    """``<box>[x0,y0,x1,y1]</box>`` with integers on 0-1000 normalised to the view size.

    Parameters
    ----------
    box : sequence of 4 floats
        ``(x0, y0, x1, y1)`` in view pixels.
    height, width : int
        Size of the view.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    q = [x0 / width, y0 / height, x1 / width, y1 / height]
    ints = [int(round(min(max(v, 0.0), 1.0) * 1000)) for v in q]
    return "<box>[{},{},{},{}]</box>".format(*ints)


def parse_boxes(text: str, height: int, width: int) -> np.ndarray:
    """Every ``<box>[x0,y0,x1,y1]</box>`` in ``text`` as view-pixel boxes, shape (N, 4).

    Malformed boxes are skipped; corners are ordered and clipped to the view.
    """
    rows = []
    for m in _BOX_RE.finditer(text):
        x0, y0, x1, y1 = (min(max(float(v), 0.0), 1000.0) / 1000.0 for v in m.groups())
        x0, x1 = sorted((x0 * width, x1 * width))
        y0, y1 = sorted((y0 * height, y1 * height))
        rows.append([x0, y0, x1, y1])
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


# ---------------------------------------------------------------------------- prompts


def _disc(canvas: int, cx: float, cy: float, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:canvas, 0:canvas]
    d2 = (xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2
    out = (d2 <= radius ** 2).astype(np.float32)
    j, i = int(np.clip(np.floor(cx), 0, canvas - 1)), int(np.clip(np.floor(cy), 0, canvas - 1))
    out[i, j] = 1.0  # the clicked pixel always counts
    return out


def _rect(canvas: int, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    centres = np.arange(canvas) + 0.5
    cols = (centres >= x0) & (centres < x1)
    rows = (centres >= y0) & (centres < y1)
    if not cols.any():  # thinner than a canvas pixel: keep the pixel holding its middle
        cols[int(np.clip(np.floor((x0 + x1) / 2), 0, canvas - 1))] = True
    if not rows.any():
        rows[int(np.clip(np.floor((y0 + y1) / 2), 0, canvas - 1))] = True
    return (rows[:, None] & cols[None, :]).astype(np.float32)


def _polygon(canvas: int, exterior: np.ndarray, holes: list[np.ndarray]) -> np.ndarray:
    # the builder's rasteriser (pixel centres inside, even-odd holes), so prompts match training
    from .data.geometry import fill_polygon

    out = fill_polygon([exterior, *holes], canvas, canvas).astype(np.float32)
    if not out.any():  # smaller than a canvas pixel: keep the pixel holding its centroid
        cx, cy = np.asarray(exterior, np.float64).mean(axis=0)
        out[int(np.clip(np.floor(cy), 0, canvas - 1)), int(np.clip(np.floor(cx), 0, canvas - 1))] = 1.0
    return out


def _resize_mask(mask: np.ndarray, geometry: ViewGeometry) -> np.ndarray:
    """A view-grid mask -> soft coverage on the canvas (thin scribbles survive downscaling)."""
    from PIL import Image

    h, w = geometry.content_height, geometry.content_width
    img = Image.fromarray(mask.astype(np.float32), mode="F")
    resample = Image.Resampling.BOX if (h < mask.shape[0] or w < mask.shape[1]) else Image.Resampling.NEAREST
    small = np.asarray(img.resize((w, h), resample=resample), dtype=np.float32)
    peak = float(small.max())
    if peak > 0:
        small = np.clip(small / peak, 0.0, 1.0)
    out = np.zeros((geometry.canvas, geometry.canvas), dtype=np.float32)
    out[:h, :w] = small
    return out


def _points(value, name: str, n_min: int) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise EgxInputError(f"prompt field {name!r} must hold numbers, got {value!r}") from err
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < n_min or not np.isfinite(arr).all():
        raise EgxInputError(f"prompt field {name!r} must be a list of at least {n_min} finite [x, y] pairs")
    return arr


def rasterize_prompt(prompt: dict, geometry: ViewGeometry, point_radius: float = 3.0) -> np.ndarray:
    """One prompt dict (view pixel space) -> float32 mask (canvas, canvas) in [0, 1].

    A point becomes a disc of ``point_radius`` canvas pixels, a box a filled rectangle,
    a polygon a filled polygon (holes cut out), a mask its coverage on the canvas.
    Every prompt covers at least one canvas pixel.
    """
    if not isinstance(prompt, dict) or "kind" not in prompt:
        raise EgxInputError(f"a prompt must be a dict with a 'kind' in {PROMPT_KINDS}, got {prompt!r}")
    kind, S = prompt["kind"], geometry.canvas
    if kind == "point":
        (x, y), = geometry.to_canvas(_points([prompt.get("xy")], "xy", 1))
        return _disc(S, x, y, point_radius)
    if kind == "box":
        xyxy = np.asarray(prompt.get("xyxy"), dtype=np.float64).reshape(-1)
        if xyxy.shape != (4,) or not np.isfinite(xyxy).all():
            raise EgxInputError(f"a box prompt needs 'xyxy': [x0, y0, x1, y1], got {prompt.get('xyxy')!r}")
        x0, x1 = sorted(xyxy[[0, 2]])
        y0, y1 = sorted(xyxy[[1, 3]])
        (cx0, cy0), (cx1, cy1) = geometry.to_canvas([[x0, y0], [x1, y1]])
        return _rect(S, cx0, cy0, cx1, cy1)
    if kind == "polygon":
        ext = geometry.to_canvas(_points(prompt.get("exterior"), "exterior", 3))
        holes = [geometry.to_canvas(_points(h, "holes", 3)) for h in (prompt.get("holes") or [])]
        return _polygon(S, ext, holes)
    if kind == "mask":
        mask = np.asarray(prompt.get("mask"))
        if mask.shape != (geometry.height, geometry.width):
            raise EgxInputError(
                f"a mask prompt must have the view's shape {(geometry.height, geometry.width)}, got {mask.shape}")
        if not mask.astype(bool).any():
            raise EgxInputError("the mask prompt is empty; draw at least one pixel")
        return _resize_mask(mask.astype(bool), geometry)
    raise EgxInputError(f"unknown prompt kind {kind!r}; use one of {PROMPT_KINDS}")
