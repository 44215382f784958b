"""Visual prompts: parse points, boxes, polygons and masks given in any CRS into pixel space.

Input forms (each keyword takes one prompt or a list of them):

* ``point``: ``(x, y)``, a shapely ``Point``/``MultiPoint``, a GeoDataFrame/GeoSeries of points.
* ``box``: ``(xmin, ymin, xmax, ymax)`` (on a pixel-space raster ``(x0, y0, x1, y1)``
  with y pointing down), any shapely geometry (its bounds), a GeoDataFrame/GeoSeries.
* ``polygon``: a ring ``[(x, y), ...]``, a shapely ``Polygon``/``MultiPolygon``,
  a GeoDataFrame/GeoSeries of polygons.
* ``mask``: a boolean DataArray on the raster's grid (a scribble) or a boolean
  numpy array of the raster's (y, x) shape.

Coordinates are in the raster's CRS unless ``crs=`` says otherwise; a
GeoDataFrame uses its own ``.crs``. On a raster without a CRS they are pixel
coordinates (x = column, y = row) and ``crs=`` is a :class:`CRSError`.

Prompts keep their order (points, then boxes, polygons, masks): prompt i is
"region i+1" for the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import xarray as xr

from egx_notebook.errors import CRSError, PromptError
from egx_notebook.grid import Grid

__all__ = ["PixelPrompt", "parse_prompts", "check_question", "MAX_QUESTION_CHARS"]

MAX_QUESTION_CHARS = 1000


def check_question(question: str | None, *, required: bool = True) -> str | None:
    """Validate a question: a non-empty string of at most :data:`MAX_QUESTION_CHARS`."""
    if question is None:
        if required:
            raise PromptError("a question is required, e.g. da.egx.ask('What is in this box?', box=...).")
        return None
    if not isinstance(question, str):
        raise PromptError(f"the question must be a string, got {type(question).__name__}.")
    if not question.strip():
        raise PromptError("the question is empty; ask something, e.g. 'What is this?'.")
    if len(question) > MAX_QUESTION_CHARS:
        raise PromptError(
            f"the question has {len(question)} characters, more than {MAX_QUESTION_CHARS}; shorten it "
            "(one instruction per question; use da.egx.chat() for a conversation)."
        )
    return question.strip()


@dataclass
class PixelPrompt:
    """One visual prompt in the raster's pixel space (x = column, y = row, pixel edges).

    Attributes
    ----------
    kind : {"point", "box", "polygon", "mask"}
    geom : shapely geometry in raster pixels (for a mask: the box around its pixels).
    world : shapely geometry in the raster's CRS (what was asked, for ``Answer.prompts``).
    mask : boolean array or DataArray on the raster grid (kind "mask" only).
    """

    kind: str
    geom: Any
    world: Any
    mask: Any = field(default=None, repr=False)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) in raster pixels."""
        return tuple(float(v) for v in self.geom.bounds)

    def to_view(self, view: Any) -> dict:
        """This prompt as an architecture prompt dict in the pixel space of ``view``."""
        import shapely

        def to_v(xy: np.ndarray) -> np.ndarray:
            return (xy - np.array([view.col_off, view.row_off])) / view.factor

        if self.kind == "point":
            return {"kind": "point", "xy": to_v(np.array([[self.geom.x, self.geom.y]]))[0].tolist()}
        if self.kind == "box":
            x0, y0, x1, y1 = self.bounds
            (a, b), (c, d) = to_v(np.array([[x0, y0], [x1, y1]]))
            return {"kind": "box", "xyxy": [float(a), float(b), float(c), float(d)]}
        if self.kind == "polygon":
            poly = self.geom
            if poly.geom_type == "MultiPolygon":  # the model takes one ring set: keep the largest part
                poly = max(poly.geoms, key=lambda p: p.area)
            poly = shapely.geometry.polygon.orient(poly)
            return {
                "kind": "polygon",
                "exterior": to_v(np.asarray(poly.exterior.coords)[:-1]).tolist(),
                "holes": [to_v(np.asarray(r.coords)[:-1]).tolist() for r in poly.interiors],
            }
        from egx_notebook.views import reduce_mask

        return {"kind": "mask", "mask": reduce_mask(self.mask, view)}


def _is_frame(obj: Any) -> bool:
    return hasattr(obj, "geometry") and hasattr(obj, "crs") and not isinstance(obj, (tuple, list))


def _is_series(obj: Any) -> bool:
    return hasattr(obj, "crs") and hasattr(obj, "geom_type") and hasattr(obj, "__len__")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _is_flat(obj: Any, n: int) -> bool:
    return isinstance(obj, (tuple, list, np.ndarray)) and len(obj) == n and all(_is_number(v) for v in obj)


def _as_list(value: Any, n: int | None) -> list:
    """One prompt or a list of them -> list (n: length of a flat numeric tuple, None for rings)."""
    if value is None:
        return []
    if _is_frame(value) or _is_series(value):
        return [value]
    if hasattr(value, "geom_type"):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2 and n is not None:
        return [tuple(r) for r in value]
    if isinstance(value, (tuple, list, np.ndarray)):
        if len(value) == 0:
            raise PromptError("an empty prompt list was given; pass at least one prompt or None.")
        if n is not None and all(_is_number(v) for v in value):
            return [value]
        if n is None and all(_is_flat(v, 2) for v in value):
            return [value]  # a single ring of (x, y) pairs
        return list(value)
    return [value]


class _Parser:
    def __init__(self, grid: Grid, crs: Any) -> None:
        self.grid = grid
        self.crs = crs
        if crs is not None and grid.crs is None:
            raise CRSError(
                "this raster has no CRS (a pixel-space chip), so prompts are pixel coordinates (x=column, y=row); "
                "drop crs=, or give the raster a CRS first (da.rio.write_crs(...))."
            )

    # -- CRS ---------------------------------------------------------------
    def _transformer(self, crs: Any):
        if crs is None or self.grid.crs is None:
            return None
        from pyproj import CRS, Transformer
        from pyproj.exceptions import CRSError as PyprojCRSError

        try:
            src = CRS.from_user_input(crs)
        except PyprojCRSError as exc:
            raise CRSError(f"unknown CRS {crs!r} ({exc}); use an EPSG code such as 'EPSG:4326'.") from exc
        dst = CRS.from_user_input(self.grid.crs)
        if src == dst:
            return None
        return Transformer.from_crs(src, dst, always_xy=True)

    def to_raster_crs(self, geom: Any, crs: Any) -> Any:
        import shapely

        t = self._transformer(crs)
        if t is None:
            return geom
        if geom.geom_type != "Point":
            geom = shapely.segmentize(geom, max_segment_length=max(_extent(geom) / 16, 1e-9))
        out = shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))
        if not np.all(np.isfinite(shapely.get_coordinates(out))):
            raise CRSError(f"the prompt cannot be transformed from {crs!r} to the raster's CRS; check crs= and the axis order (x=lon, y=lat).")
        return out

    def to_pixels(self, geom: Any) -> Any:
        import shapely

        return shapely.transform(geom, self.grid.to_pixel)

    # -- geometry readers -----------------------------------------------------
    def _frame_geoms(self, frame: Any) -> tuple[list, Any]:
        geoms = list(frame.geometry) if _is_frame(frame) else list(frame)
        if not geoms:
            raise PromptError("the GeoDataFrame/GeoSeries prompt is empty; pass at least one geometry.")
        crs = frame.crs if frame.crs is not None else self.crs
        if frame.crs is not None and self.grid.crs is None:
            raise CRSError("the GeoDataFrame has a CRS but the raster has none; pass pixel coordinates instead.")
        return geoms, crs

    def _expand(self, items: list) -> list[tuple[Any, Any]]:
        out = []
        for item in items:
            if _is_frame(item) or _is_series(item):
                geoms, crs = self._frame_geoms(item)
                out.extend((g, crs) for g in geoms)
            else:
                out.append((item, self.crs))
        return out

    def point(self, item: Any, crs: Any) -> list:
        import shapely

        if hasattr(item, "geom_type"):
            geom = item
            if geom.geom_type == "MultiPoint":
                return [p for g in geom.geoms for p in self.point(g, crs)]
            if geom.geom_type != "Point":
                raise PromptError(f"point= takes points, got a {geom.geom_type}; use box= or polygon= for areas.")
        else:
            if not _is_flat(item, 2):
                raise PromptError(f"a point is (x, y): two numbers, got {item!r}.")
            geom = shapely.Point(float(item[0]), float(item[1]))
        _check_finite(geom, "point")
        world = self.to_raster_crs(geom, crs)
        pix = self.to_pixels(world)
        if not (0 <= pix.x < self.grid.width and 0 <= pix.y < self.grid.height):
            raise PromptError(
                f"the point {_fmt(geom)} falls outside the raster (pixel x={pix.x:.1f}, y={pix.y:.1f} on a "
                f"{self.grid.width} x {self.grid.height} grid; bounds {_bounds_text(self.grid)}); check its coordinates and crs=."
            )
        return [PixelPrompt("point", pix, world)]

    def box(self, item: Any, crs: Any) -> list:
        import shapely

        if hasattr(item, "geom_type"):
            _check_finite(item, "box")
            if item.is_empty:
                raise PromptError("the box geometry is empty; pass (xmin, ymin, xmax, ymax).")
            x0, y0, x1, y1 = item.bounds
        else:
            if not _is_flat(item, 4):
                raise PromptError(f"a box is (xmin, ymin, xmax, ymax): four numbers, got {item!r}.")
            x0, y0, x1, y1 = (float(v) for v in item)
        if not np.all(np.isfinite([x0, y0, x1, y1])):
            raise PromptError(f"the box {(x0, y0, x1, y1)} has NaN or infinite coordinates; pass finite numbers.")
        if x0 >= x1 or y0 >= y1:
            raise PromptError(
                f"the box {(x0, y0, x1, y1)} is empty or reversed: it needs xmin < xmax and ymin < ymax "
                "(order (xmin, ymin, xmax, ymax))."
            )
        world = self.to_raster_crs(shapely.box(x0, y0, x1, y1), crs)
        pix = self._clip(self.to_pixels(world), "box")
        return [PixelPrompt("box", shapely.box(*pix.bounds), shapely.box(*world.bounds))]

    def polygon(self, item: Any, crs: Any) -> list:
        import shapely
        from shapely.validation import explain_validity

        if hasattr(item, "geom_type"):
            geom = item
            if geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise PromptError(f"polygon= takes polygons, got a {geom.geom_type}; use point= or box=.")
        else:
            ring = np.asarray(item, dtype=object)
            if ring.ndim != 2 or ring.shape[1] != 2 or not all(_is_number(v) for v in ring.ravel()):
                raise PromptError(f"a polygon is a ring of (x, y) pairs [(x, y), ...] or a shapely Polygon, got {item!r}.")
            if len(ring) < 3:
                raise PromptError(f"a polygon needs at least 3 vertices, got {len(ring)}.")
            coords = ring.astype(float)
            if not np.all(np.isfinite(coords)):
                raise PromptError("the polygon has NaN or infinite coordinates; pass finite numbers.")
            geom = shapely.Polygon(coords)
        _check_finite(geom, "polygon")
        if not geom.is_valid:
            raise PromptError(
                f"the polygon is invalid ({explain_validity(geom)}); fix it with shapely.make_valid(polygon) "
                "or redraw it without self-intersections."
            )
        if geom.is_empty or geom.area == 0:
            raise PromptError("the polygon has no area; draw at least three distinct vertices, or use point=.")
        world = self.to_raster_crs(geom, crs)
        pix = self._clip(self.to_pixels(world), "polygon")
        return [PixelPrompt("polygon", pix, world)]

    def mask(self, item: Any) -> list:
        import shapely

        grid = self.grid
        if isinstance(item, xr.DataArray):
            arr = item.squeeze(drop=True) if item.ndim > 2 else item
            if set(arr.dims) != {"y", "x"} or arr.sizes["y"] != grid.height or arr.sizes["x"] != grid.width:
                raise PromptError(
                    f"a mask prompt must be on the raster's grid: dims (y, x) of size {grid.height} x {grid.width}, "
                    f"got {dict(arr.sizes)}; build it from the raster, e.g. (da.isel(band=0) > 0)."
                )
            arr = arr.transpose("y", "x")
        elif isinstance(item, np.ndarray):
            arr = item
            if arr.shape != (grid.height, grid.width):
                raise PromptError(f"a mask prompt needs shape {(grid.height, grid.width)}, got {arr.shape}.")
        else:
            raise PromptError(f"mask= takes a boolean DataArray on the raster grid or a boolean array, got {type(item).__name__}.")
        if np.dtype(arr.dtype) != np.bool_:
            raise PromptError(f"a mask prompt must be boolean, got {arr.dtype}; pass e.g. (scribble > 0).")
        data = arr.data if isinstance(arr, xr.DataArray) else arr
        rows = np.asarray(_any(data, axis=1))
        cols = np.asarray(_any(data, axis=0))
        if not rows.any():
            raise PromptError("the mask prompt has no True pixels; draw something on it first.")
        r = np.flatnonzero(rows)
        c = np.flatnonzero(cols)
        pix = shapely.box(c[0], r[0], c[-1] + 1, r[-1] + 1)
        world = self.to_raster_crs_inverse(pix)
        return [PixelPrompt("mask", pix, world, mask=data)]

    def to_raster_crs_inverse(self, pix: Any) -> Any:
        import shapely

        return shapely.transform(pix, self.grid.to_world)

    def _clip(self, pix: Any, what: str) -> Any:
        import shapely

        frame = shapely.box(0, 0, self.grid.width, self.grid.height)
        clipped = pix.intersection(frame)
        if clipped.is_empty or clipped.area == 0:
            raise PromptError(
                f"the {what} lies outside the raster (bounds {_bounds_text(self.grid)}); check its coordinates "
                "and crs= (e.g. crs='EPSG:4326' for lon/lat)."
            )
        if clipped.geom_type == "GeometryCollection":
            clipped = shapely.union_all([g for g in clipped.geoms if g.area > 0])
        return clipped


def _any(data: Any, axis: int) -> Any:
    if hasattr(data, "compute") and hasattr(data, "any"):
        return data.any(axis=axis).compute()
    return np.asarray(data).any(axis=axis)


def _extent(geom: Any) -> float:
    x0, y0, x1, y1 = geom.bounds
    return max(x1 - x0, y1 - y0)


def _check_finite(geom: Any, what: str) -> None:
    import shapely

    if not np.all(np.isfinite(shapely.get_coordinates(geom))):
        raise PromptError(f"the {what} has NaN or infinite coordinates; pass finite numbers.")


def _fmt(geom: Any) -> str:
    return f"({geom.x:g}, {geom.y:g})"


def _bounds_text(grid: Grid) -> str:
    corners = grid.to_world(np.array([[0.0, 0.0], [grid.width, grid.height]]))
    (xa, ya), (xb, yb) = corners
    unit = "" if grid.crs is not None else " in pixels"
    crs = f" in {grid.crs}" if grid.crs is not None else unit
    return f"x {min(xa, xb):g}..{max(xa, xb):g}, y {min(ya, yb):g}..{max(ya, yb):g}{crs}"


def parse_prompts(
    grid: Grid,
    *,
    point: Any = None,
    box: Any = None,
    polygon: Any = None,
    mask: Any = None,
    crs: Any = None,
) -> list[PixelPrompt]:
    """Parse user prompts into :class:`PixelPrompt` objects in raster pixel space.

    Parameters
    ----------
    grid : Grid
        The raster's grid (:func:`egx_notebook.grid.grid_of`).
    point, box, polygon, mask
        One prompt or a list of prompts each (see the module docstring).
    crs : optional
        CRS of tuple/shapely prompts when it is not the raster's (e.g. "EPSG:4326").

    Raises
    ------
    PromptError
        Malformed, empty, NaN or off-raster prompts.
    CRSError
        Unknown ``crs``, or ``crs`` given for a raster without a CRS.
    """
    parser = _Parser(grid, crs)
    out: list[PixelPrompt] = []
    for item, icrs in parser._expand(_as_list(point, 2)):
        out.extend(parser.point(item, icrs))
    for item, icrs in parser._expand(_as_list(box, 4)):
        out.extend(parser.box(item, icrs))
    for item, icrs in parser._expand(_as_list(polygon, None)):
        out.extend(parser.polygon(item, icrs))
    masks = mask if isinstance(mask, (list, tuple)) else ([] if mask is None else [mask])
    for item in masks:
        out.extend(parser.mask(item))
    return out


def prompts_bounds(prompts: Sequence[PixelPrompt]) -> tuple[float, float, float, float] | None:
    """Union bounds (x0, y0, x1, y1) of prompts in raster pixels, or None."""
    if not prompts:
        return None
    b = np.array([p.bounds for p in prompts])
    return float(b[:, 0].min()), float(b[:, 1].min()), float(b[:, 2].max()), float(b[:, 3].max())
