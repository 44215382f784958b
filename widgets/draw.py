"""Drawn shapes -> visual prompts.

The browser's draw controls send GeoJSON Features in map coordinates (lon/lat,
or ``(column, -row)`` on a pixel map). :class:`PromptStore` listens to those
messages exactly as ipyleaflet delivers them to ``on_draw`` callbacks and keeps
an ordered list of :class:`DrawnPrompt`: prompt *i* is "region i+1".

Supported controls and their messages:

* ``ipyleaflet.DrawControl`` (Leaflet.draw): ``action`` is ``"created"``,
  ``"edited"`` or ``"deleted"`` and ``geo_json`` is one Feature.
* ``ipyleaflet.GeomanDrawControl`` (Leaflet-Geoman): ``action`` is ``"create"``
  or ``"remove"`` with a one-Feature list, or an edit action (``"edit"``,
  ``"drag"``, ``"vertexdrag"``, ``"vertexadded"``, ``"vertexremoved"``,
  ``"rotateend"``, ``"cut"``) with the list of *all* drawn Features.

Shapes become prompt kinds: a marker -> ``"point"``, a rectangle -> ``"box"``,
a polygon -> ``"polygon"``, a polyline (the free-form tool) -> ``"polygon"``
(closed) or ``"scribble"`` (buffered into a mask-like area), see ``freeform``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from shapely.geometry import Polygon, shape

__all__ = ["DrawnPrompt", "PromptStore", "feature_kind", "KIND_ORDER"]

#: The order in which the core API numbers prompts (point=, box=, polygon=, mask=):
#: region numbers follow it so that "region 2" on the map is region 2 for the model.
KIND_ORDER = ("point", "box", "polygon", "scribble")

#: Geoman actions whose ``geo_json`` lists every drawn feature after the edit.
_GEOMAN_FULL_LIST = {"edit", "drag", "vertexdrag", "vertexadded", "vertexremoved",
                     "rotateend", "cut", "textchange", "update"}
_CREATED = {"created", "create"}
_DELETED = {"deleted", "remove"}


@dataclass
class DrawnPrompt:
    """One drawn prompt in map coordinates.

    Attributes
    ----------
    kind : {"point", "box", "polygon", "scribble"}
    geometry : shapely geometry
        In map coordinates: lon/lat (EPSG:4326), or ``(column, -row)`` on a pixel map.
        For ``"scribble"`` this is the drawn line; the mask area is made by
        :meth:`PromptStore.frame`.
    feature : dict
        The GeoJSON Feature as the browser sent it.
    """

    kind: str
    geometry: Any
    feature: dict = field(repr=False)


def _is_axis_aligned_rectangle(geom) -> bool:
    if not isinstance(geom, Polygon) or geom.interiors:
        return False
    coords = list(geom.exterior.coords)
    if len(coords) != 5:
        return False
    xs = {round(c[0], 12) for c in coords}
    ys = {round(c[1], 12) for c in coords}
    return len(xs) == 2 and len(ys) == 2


def feature_kind(feature: dict, freeform: str = "polygon") -> tuple[str, Any]:
    """The prompt kind and shapely geometry of a drawn GeoJSON Feature.

    Raises
    ------
    ValueError
        For shapes that are not prompts (circles, empty or degenerate geometry).
    """
    geom_json = feature.get("geometry") if isinstance(feature, dict) else None
    if not geom_json:
        raise ValueError("the drawn feature has no geometry")
    geom = shape(geom_json)
    props = feature.get("properties") or {}
    if props.get("type") == "circle":
        raise ValueError("circles are not prompts: draw a point, box, polygon or free-form line")
    if geom.geom_type == "Point":
        return "point", geom
    if geom.geom_type == "Polygon":
        if props.get("type") == "rectangle" or _is_axis_aligned_rectangle(geom):
            return "box", geom
        return "polygon", geom
    if geom.geom_type == "LineString":
        if freeform == "scribble":
            return "scribble", geom
        coords = list(geom.coords)
        if len({tuple(c) for c in coords}) < 3:
            return "scribble", geom  # a two-point stroke cannot close into an area
        poly = Polygon(coords)
        if not poly.is_valid:
            poly = poly.buffer(0)
        return "polygon", poly
    raise ValueError(f"cannot use a drawn {geom.geom_type} as a prompt")


def _distance(a, b) -> float:
    try:
        return float(a.hausdorff_distance(b))
    except Exception:
        return float("inf")


class PromptStore:
    """Ordered drawn prompts, kept in step with a draw control.

    Parameters
    ----------
    freeform : {"polygon", "scribble"}
        What a free-form (polyline) stroke becomes: closed into a polygon, or a
        scribble buffered into a mask-like area.
    on_change : callable, optional
        Called with the store after every change.
    """

    def __init__(self, freeform: Literal["polygon", "scribble"] = "polygon",
                 on_change: Callable[["PromptStore"], None] | None = None) -> None:
        if freeform not in ("polygon", "scribble"):
            raise ValueError(f"freeform must be 'polygon' or 'scribble', got {freeform!r}")
        self.freeform = freeform
        self.prompts: list[DrawnPrompt] = []
        self.on_change = on_change
        self.errors: list[str] = []

    # -- the on_draw callback -------------------------------------------------
    def handle_draw(self, control: Any = None, action: str = "", geo_json: Any = None) -> None:
        """``on_draw`` callback: apply one draw-control message.

        Parameters
        ----------
        control : ipyleaflet draw control
            Unused; the signature matches ``DrawControl.on_draw``.
        action : str
            ``created``/``edited``/``deleted`` (Leaflet.draw) or
            ``create``/``remove``/edit actions (Geoman).
        geo_json : dict or list of dict
            The Feature(s) the browser sent.
        """
        features = geo_json if isinstance(geo_json, list) else [geo_json]
        features = [f for f in features if isinstance(f, dict) and f.get("geometry")]
        if action in _CREATED:
            for f in features:
                self.add_feature(f)
        elif action in _DELETED:
            for f in features:
                self.remove_feature(f)
        elif action == "edited":
            for f in features:
                self.replace_feature(f)
        elif action in _GEOMAN_FULL_LIST and isinstance(geo_json, list):
            self.set_features(features)
        else:
            return
        self._changed()

    # -- edits -----------------------------------------------------------------
    def _make(self, feature: dict) -> DrawnPrompt | None:
        try:
            kind, geom = feature_kind(feature, self.freeform)
        except ValueError as exc:
            self.errors.append(str(exc))
            return None
        return DrawnPrompt(kind, geom, feature)

    def add_feature(self, feature: dict) -> DrawnPrompt | None:
        """Append a drawn Feature as the next region; returns it (None if not a prompt)."""
        p = self._make(feature)
        if p is not None:
            self.prompts.append(p)
        return p

    def _match(self, feature: dict) -> int | None:
        """Index of the stored prompt a re-sent Feature refers to (nearest geometry)."""
        if not self.prompts:
            return None
        geom = shape(feature["geometry"])
        same = [i for i, p in enumerate(self.prompts)
                if shape(p.feature["geometry"]).geom_type == geom.geom_type]
        pool = same or list(range(len(self.prompts)))
        return min(pool, key=lambda i: _distance(shape(self.prompts[i].feature["geometry"]), geom))

    def remove_feature(self, feature: dict) -> None:
        """Delete the prompt a deleted Feature refers to."""
        i = self._match(feature)
        if i is not None:
            del self.prompts[i]

    def replace_feature(self, feature: dict) -> None:
        """Replace the prompt an edited Feature refers to, keeping its region number."""
        i = self._match(feature)
        p = self._make(feature)
        if p is None:
            return
        if i is None:
            self.prompts.append(p)
        else:
            self.prompts[i] = p

    def set_features(self, features: list[dict]) -> None:
        """Replace every prompt by ``features`` (in order)."""
        self.prompts = [p for p in (self._make(f) for f in features) if p is not None]

    def clear(self) -> None:
        """Forget every prompt."""
        self.prompts = []
        self._changed()

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- views -----------------------------------------------------------------
    def ordered(self) -> list[DrawnPrompt]:
        """Prompts in region order: by kind (:data:`KIND_ORDER`), then in drawing order."""
        return sorted(self.prompts, key=lambda p: KIND_ORDER.index(p.kind))

    @property
    def labels(self) -> list[str]:
        """``["region 1", "region 2", ...]`` for :meth:`ordered` prompts."""
        return [f"region {i + 1}" for i in range(len(self.prompts))]

    def __len__(self) -> int:
        return len(self.prompts)

    def map_geometries(self, pixel_map: bool = False) -> list:
        """:meth:`ordered` prompt geometries: lon/lat, or pixel ``(x=column, y=row)``.

        On a pixel (``Simple``) map the browser's ``(lng, lat)`` is ``(column, -row)``.
        """
        from shapely import transform as _tf

        geoms = [p.geometry for p in self.ordered()]
        if pixel_map:
            geoms = [_tf(g, lambda xy: xy * [1.0, -1.0]) for g in geoms]
        return geoms

    def frame(self, crs: Any = None, pixel_map: bool = False):
        """The prompts as a GeoDataFrame in ``crs`` (the raster's CRS).

        Parameters
        ----------
        crs : CRS-like, optional
            Target CRS. ``None`` (with ``pixel_map=True``) keeps pixel coordinates.
        pixel_map : bool
            The map is a pixel map (raster without a CRS).

        Returns
        -------
        geopandas.GeoDataFrame
            Columns ``label`` ("region 1", ...), ``kind`` and ``geometry``.
        """
        import geopandas as gpd

        geoms = self.map_geometries(pixel_map)
        src = None if pixel_map else "EPSG:4326"
        gdf = gpd.GeoDataFrame(
            {"label": self.labels, "kind": [p.kind for p in self.ordered()]},
            geometry=gpd.GeoSeries(geoms, crs=src),
        )
        if not pixel_map and crs is not None:
            gdf = gdf.to_crs(crs)
        return gdf
