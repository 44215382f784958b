"""EgxMap: an offline ipyleaflet map to draw prompts on and a chat panel to ask the model.

The map only translates between the browser and the public core API: a drawn
box becomes ``da.egx.ask(question, box=[...], crs="EPSG:4326")`` exactly as a
user would type it, and the returned :class:`egx_notebook.Answer` is drawn back
on the map and kept in :attr:`EgxMap.answers`.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Sequence

import ipyleaflet as L
import ipywidgets as W
import numpy as np
import xarray as xr

from egx_notebook.widgets.chat import ChatPanel
from egx_notebook.widgets.draw import KIND_ORDER, PromptStore
from egx_notebook.widgets.layers import display_detail, display_image, raster_crs, source_of
from egx_notebook.widgets.results import answer_layer

__all__ = ["EgxMap"]

_DRAW_STYLE = {"color": "#ff00ff", "weight": 2, "fillOpacity": 0.05}


def _variables(data: xr.DataArray | xr.Dataset) -> dict[str, xr.DataArray]:
    if isinstance(data, xr.DataArray):
        return {str(data.name or source_of(data)): data}
    if isinstance(data, xr.Dataset):
        import egx_notebook  # noqa: F401  (registers ds.egx)

        out = {name: data.egx[name] for name in data.egx.sources}  # each with dim "band", CRS and source tag
        if not out:
            raise ValueError("the Dataset has no variable with 'y' and 'x' dims to show")
        return out
    raise TypeError(f"EgxMap takes an xarray DataArray or Dataset, got {type(data).__name__}")


class EgxMap(W.HBox):
    """A raster on an offline map, drawing tools for prompts, and a chat panel.

    Parameters
    ----------
    data : xarray.DataArray or xarray.Dataset
        ``(band, y, x)`` raster (e.g. from :func:`egx_notebook.open_raster`), or a
        Dataset of co-registered sources (one variable per source).
    bands : sequence of int, optional
        Band positions to show for optical layers (a band combination).
    colormap : str
        Colour map for infrared layers.
    basemap : ipyleaflet basemap or TileLayer, optional
        An online basemap (e.g. ``ipyleaflet.basemaps.OpenStreetMap.Mapnik``).
        ``None`` (default) shows no basemap: nothing is fetched from the internet.
    split : tuple of two str, optional
        Variable names shown left | right with a split view. Default for a
        Dataset with at least two variables: its first two.
    draw : {"leaflet-draw", "geoman"}
        Which ipyleaflet draw control to use.
    freeform : {"polygon", "scribble"}
        A free-form stroke (the polyline tool) is closed into a polygon, or
        buffered into a scribble mask.
    scribble_width : float, optional
        Half width of a scribble in raster pixels (default 1 % of the raster's longer side, at least 2).
    max_size : int
        Longest side of the overview read for display, and of each detail read.
    detail : bool
        Re-read the part in view at a finer resolution when zoomed in past the
        overview (a "<name> detail" layer over it, coloured like the overview).
    height : str
        CSS height of the map.

    Attributes
    ----------
    map : ipyleaflet.Map
    draw_control : ipyleaflet.DrawControl or ipyleaflet.GeomanDrawControl
    chat : ChatPanel
    answers : list of egx_notebook.Answer
    raster_layers : dict of str -> ipyleaflet.ImageOverlay
    detail_layers : dict of str -> ipyleaflet.ImageOverlay
        The zoomed-in reads currently on the map.
    result_layers : list of ipyleaflet.LayerGroup
    """

    def __init__(
        self,
        data: xr.DataArray | xr.Dataset,
        *,
        bands: Sequence[int] | None = None,
        colormap: str = "inferno",
        basemap: Any = None,
        split: tuple[str, str] | None = None,
        draw: Literal["leaflet-draw", "geoman"] = "leaflet-draw",
        freeform: Literal["polygon", "scribble"] = "polygon",
        scribble_width: float | None = None,
        max_size: int = 1024,
        detail: bool = True,
        height: str = "520px",
    ) -> None:
        self.data = data
        self.variables = _variables(data)
        first = next(iter(self.variables.values()))
        self.crs = raster_crs(first)
        self.pixel_map = self.crs is None
        self.answers: list[Any] = []
        self.last_error: BaseException | None = None
        self.result_layers: list[L.LayerGroup] = []
        self._scribble_width = scribble_width
        self.store = PromptStore(freeform=freeform, on_change=self._prompts_changed)

        images = {name: display_image(v, bands=bands if source_of(v) == "optical" else None,
                                      colormap=colormap, max_size=max_size)
                  for name, v in self.variables.items()}
        if split is None and isinstance(data, xr.Dataset) and len(images) >= 2:
            split = tuple(list(images)[:2])
        if split is not None:
            missing = [s for s in split if s not in images]
            if missing:
                raise ValueError(f"split names {missing} are not variables of the data ({list(images)})")
        self.split = split
        # rasters (and their detail reads) sit below Leaflet's overlay pane (400), so prompts and
        # answers are always drawn over them; split layers get a pane per side to clip
        panes = {"egx-raster": {"zIndex": 380}}
        if split:
            panes.update({"egx-left": {"zIndex": 390}, "egx-right": {"zIndex": 391}})
        self.raster_layers = {}
        self._panes: dict[str, str] = {}
        for name, img in images.items():
            pane = "egx-raster"
            if split and name == split[0]:
                pane = "egx-left"
            elif split and name == split[1]:
                pane = "egx-right"
            self._panes[name] = pane
            self.raster_layers[name] = L.ImageOverlay(url=img.url, bounds=img.bounds, name=name,
                                                      opacity=1.0, pane=pane)
        self._overviews = images
        self._max_size = max_size
        self.detail_layers: dict[str, L.ImageOverlay] = {}
        self._detail_windows: dict[str, tuple] = {}
        self._bounds = next(iter(images.values())).bounds

        map_kwargs: dict[str, Any] = dict(
            center=self._centre(), zoom=self._fit_zoom(), scroll_wheel_zoom=True,
            layout=W.Layout(height=height, width="100%"), panes=panes,
        )
        if self.pixel_map:
            map_kwargs.update(crs=L.projections.Simple, min_zoom=-8, max_zoom=8)
        base = () if basemap is None else (basemap if isinstance(basemap, L.TileLayer)
                                          else L.basemap_to_tiles(basemap),)
        shown = [lay for n, lay in self.raster_layers.items() if not split or n not in split]
        self.map = L.Map(layers=tuple(base) + tuple(shown), **map_kwargs)
        self.map.add_class("egx-map")
        if split:
            self.split_control = L.SplitMapControl(left_layer=self.raster_layers[split[0]],
                                                   right_layer=self.raster_layers[split[1]])
            self.map.add(self.split_control)
        self.map.add(L.LayersControl(position="topright"))
        self.opacity = W.FloatSlider(value=1.0, min=0.0, max=1.0, step=0.05, description="opacity",
                                     readout_format=".2f", layout=W.Layout(width="260px"))
        self.opacity.observe(self._set_opacity, names="value")
        self.map.add(L.WidgetControl(widget=self.opacity, position="bottomleft"))

        if detail:
            self.map.observe(self._refresh_detail, names="bounds")

        self.draw_control = self._make_draw_control(draw)
        self.draw_control.on_draw(self.store.handle_draw)
        self.map.add(self.draw_control)
        self.labels_layer = L.LayerGroup(name="prompt labels")
        self.map.add(self.labels_layer)

        targets = list(self.variables) if isinstance(data, xr.Dataset) else None
        self.conversations: dict[str | None, Any] = {}  # one da.egx.chat() per raster asked about
        self.chat = ChatPanel(self._handle, targets=targets)
        self.chat.clear_button.on_click(lambda _b: self.clear_prompts())
        super().__init__(children=[W.Box([self.map], layout=W.Layout(flex="1 1 auto")), self.chat],
                         layout=W.Layout(width="100%"))
        self.add_class("egx-widget")

    # -- construction helpers ---------------------------------------------------------
    def _centre(self) -> tuple[float, float]:
        (s, w), (n, e) = self._bounds
        return ((s + n) / 2.0, (w + e) / 2.0)

    def _fit_zoom(self, px: float = 480.0) -> int:
        """Zoom level at which the raster fills about ``px`` screen pixels."""
        (s, w), (n, e) = self._bounds
        if self.pixel_map:  # Simple CRS: zoom 0 is one raster pixel per screen pixel
            return int(math.floor(math.log2(px / max(n - s, e - w, 1.0))))
        lon_span = max(e - w, 1e-9)
        y0 = math.log(math.tan(math.pi / 4 + math.radians(s) / 2))
        y1 = math.log(math.tan(math.pi / 4 + math.radians(n) / 2))
        lat_span = max(math.degrees(y1 - y0), 1e-9)
        z = math.log2(px * 360.0 / (256.0 * max(lon_span, lat_span)))
        return int(max(0, min(20, math.floor(z))))

    def _make_draw_control(self, draw: str):
        style = dict(_DRAW_STYLE)
        if draw == "leaflet-draw":
            return L.DrawControl(
                marker={"repeatMode": False}, rectangle={"shapeOptions": style},
                polygon={"shapeOptions": style}, polyline={"shapeOptions": style},
                circle={}, circlemarker={}, position="topleft",
            )
        if draw == "geoman":
            return L.GeomanDrawControl(
                marker={}, rectangle={"pathOptions": style}, polygon={"pathOptions": style},
                polyline={"pathOptions": style}, circle={}, circlemarker={}, position="topleft",
                cut=False, rotate=False,
            )
        raise ValueError(f"draw must be 'leaflet-draw' or 'geoman', got {draw!r}")

    def _set_opacity(self, change: dict) -> None:
        for layer in [*self.raster_layers.values(), *self.detail_layers.values()]:
            layer.opacity = change["new"]

    def _refresh_detail(self, change: dict | None = None) -> None:
        """Show a sharper read of the part in view when zoomed in past the overview; drop it when not."""
        bounds = self.map.bounds
        if not bounds:
            return
        for name, da in self.variables.items():
            overview = self._overviews[name]
            img = display_detail(da, bounds, overview.style, overview.step, self._max_size)
            layer = self.detail_layers.get(name)
            if img is None:
                if layer is not None:
                    self.map.remove(layer)
                    del self.detail_layers[name]
                continue
            if layer is None:
                layer = L.ImageOverlay(url=img.url, bounds=img.bounds, name=f"{name} detail",
                                       opacity=self.opacity.value, pane=self._panes[name])
                self.detail_layers[name] = layer
                self.map.add(layer)
            elif tuple(map(tuple, layer.bounds)) != tuple(map(tuple, img.bounds)):
                layer.url, layer.bounds = img.url, img.bounds

    # -- prompts -----------------------------------------------------------------------
    @property
    def prompts(self):
        """The drawn prompts as a GeoDataFrame in the raster's CRS (pixel coordinates without one).

        Columns ``label`` ("region 1", ... in the order the model numbers them:
        points, boxes, polygons, scribbles), ``kind`` and ``geometry``.
        """
        gdf = self.store.frame(crs=self.crs, pixel_map=self.pixel_map)
        if self.pixel_map:
            gdf = gdf.set_geometry(gdf.geometry.affine_transform(self._pixel_affine()))
        return gdf

    def _pixel_affine(self) -> list[float]:
        """shapely affine parameters: array pixel (col, row) -> the raster's own x/y (no-CRS rasters)."""
        da = next(iter(self.variables.values()))
        try:
            t = da.rio.transform(recalc=True)
        except Exception:
            return [1, 0, 0, 1, 0, 0]
        return [t.a, t.b, t.d, t.e, t.c, t.f]

    def add_prompt(self, prompt: Any, *, kind: str | None = None, crs: Any = None) -> None:
        """Add a prompt from code, as if it had been drawn (it shows on the map and can be edited there).

        Parameters
        ----------
        prompt : dict, shapely geometry or tuple
            A GeoJSON Feature in *map* coordinates (lon/lat; ``(column, -row)`` on a
            pixel map), exactly as the draw control sends it; or a shapely geometry,
            an ``(x, y)`` point or an ``(xmin, ymin, xmax, ymax)`` box in ``crs``.
        kind : {"box"}, optional
            ``"box"`` keeps a geometry a box (its bounds) after reprojection; a 4-tuple
            is always a box. Otherwise a Point is a point, a Polygon a polygon and a
            LineString a free-form stroke (closed or buffered, see ``freeform``).
        crs : CRS-like, optional
            CRS of a geometry or tuple; default the raster's CRS (its own x/y
            coordinates, i.e. pixels, for rasters without a CRS).
        """
        feature = prompt if isinstance(prompt, dict) else self._prompt_feature(prompt, kind, crs)
        self.store.handle_draw(self.draw_control, action="created", geo_json=feature)
        self.draw_control.data = [*self.draw_control.data, feature]

    def _prompt_feature(self, prompt: Any, kind: str | None, crs: Any) -> dict:
        """A geometry (or tuple) in ``crs`` -> the GeoJSON Feature the draw control would send."""
        import geopandas as gpd
        from shapely.geometry import Point, box as shapely_box
        from shapely.geometry.base import BaseGeometry

        from egx_notebook.errors import PromptError

        if isinstance(prompt, BaseGeometry):
            geom = prompt
        elif isinstance(prompt, (tuple, list)) and len(prompt) == 2:
            geom = Point(*map(float, prompt))
        elif isinstance(prompt, (tuple, list)) and len(prompt) == 4:
            geom, kind = shapely_box(*map(float, prompt)), kind or "box"
        else:
            raise PromptError("a prompt is a GeoJSON Feature, a shapely geometry, an (x, y) point or an "
                              f"(xmin, ymin, xmax, ymax) box; got {prompt!r}.")
        gdf = gpd.GeoDataFrame(geometry=[geom], crs=None if self.pixel_map else (crs or self.crs))
        if not self.pixel_map:
            gdf = gdf.to_crs(self.crs)
        shown = self._to_map(gdf).geometry.iloc[0]
        props: dict[str, Any] = {"style": dict(_DRAW_STYLE)}
        if kind == "box":
            shown = shapely_box(*shown.bounds)
            props["type"] = "rectangle"
        return {"type": "Feature", "properties": props, "geometry": shown.__geo_interface__}

    def clear_prompts(self) -> None:
        """Remove every drawn prompt (from the map and from :attr:`prompts`)."""
        self.draw_control.clear()
        self.store.clear()

    def _prompts_changed(self, store: PromptStore) -> None:
        markers = []
        for label, p in zip(store.labels, store.ordered()):  # geometries in map coordinates
            geom = p.geometry
            x, y = (geom.x, geom.y) if geom.geom_type == "Point" else (geom.bounds[0], geom.bounds[3])
            markers.append(L.Marker(location=(y, x), draggable=False, title=label, icon=L.DivIcon(
                html=f'<span class="egx-prompt-label" style="color:#ff00ff;font-weight:bold;'
                     f'font-size:11px;white-space:nowrap">{label}</span>',
                icon_size=[0, 0], icon_anchor=[0, 16])))
        self.labels_layer.layers = tuple(markers)
        self.chat.set_prompts(store.labels, [p.kind for p in store.ordered()])
        if store.errors:
            self.chat.show_error(store.errors.pop())

    def _prompt_arguments(self) -> dict[str, Any]:
        """The drawn prompts as keyword arguments of the public API (``point=``, ``box=``, ...)."""
        gdf = self.prompts if self.pixel_map else self.store.frame(crs=None, pixel_map=False)
        kwargs: dict[str, Any] = {}
        for kind, key in (("point", "point"), ("box", "box"), ("polygon", "polygon")):
            geoms = list(gdf.geometry[gdf["kind"] == kind])
            if geoms:
                kwargs[key] = geoms
        lines = list(gdf.geometry[gdf["kind"] == "scribble"])
        if lines:
            kwargs["mask"] = [self._scribble_mask(g, None if self.pixel_map else "EPSG:4326") for g in lines]
        if kwargs and not self.pixel_map:
            kwargs["crs"] = "EPSG:4326"
        return kwargs

    def _scribble_mask(self, line, crs) -> xr.DataArray:
        """A scribble line buffered into a boolean mask on the raster's grid."""
        import geopandas as gpd
        from rasterio.features import rasterize

        da = next(iter(self.variables.values()))
        h, w = int(da.sizes["y"]), int(da.sizes["x"])
        t = da.rio.transform(recalc=True)
        geom = gpd.GeoSeries([line], crs=crs)
        if crs is not None:
            geom = geom.to_crs(self.crs)
        width_px = self._scribble_width or max(2.0, 0.01 * max(h, w))
        area = geom.iloc[0].buffer(width_px * abs(t.a))
        mask = rasterize([(area, 1)], out_shape=(h, w), transform=t, fill=0, dtype="uint8").astype(bool)
        return xr.DataArray(mask, dims=("y", "x"), coords={"y": da["y"], "x": da["x"]})

    # -- asking --------------------------------------------------------------------------
    def _target_name(self) -> str | None:
        """The Dataset variable the panel asks about (None for a DataArray)."""
        if not isinstance(self.data, xr.Dataset):
            return None
        return self.chat.target.value or next(iter(self.variables))

    def _accessor(self):
        """``da.egx`` of the raster being asked about (``ds.egx[var].egx`` on a Dataset)."""
        name = self._target_name()
        return self.data.egx if name is None else self.data.egx[name].egx

    def ask(self, question: str | None = None, task: str = "ask"):
        """Run ``task`` on the drawn prompts, as the panel's buttons do, and return the Answer.

        Parameters
        ----------
        question : str, optional
            Put into the question box first (else the box's current text is used).
        task : {"ask", "refer", "ground", "segment", "caption"}

        Errors are shown in the panel and re-raised here (the buttons only show them).
        """
        if question is not None:
            self.chat.question.value = question
        before = len(self.answers)
        self.chat.submit(task)
        if len(self.answers) == before:
            raise self.last_error if self.last_error is not None else RuntimeError("no answer")
        return self.answers[-1]

    def _handle(self, task: str, question: str) -> str:
        """The chat panel's handler: call the public API, draw the answer, return its text."""
        self.last_error = None
        try:
            answer = self._call(task, question)
        except Exception as exc:
            self.last_error = exc
            raise
        self.answers.append(answer)
        self._draw_answer(answer, task)
        return str(answer.text)

    def _call(self, task: str, question: str):
        """Call the public API exactly as a user would (prompts in EPSG:4326 from the map)."""
        from egx_notebook.errors import PromptError

        acc = self._accessor()
        prompts = self._prompt_arguments()
        q = question or None
        if task == "ask":
            if not question:
                raise PromptError("type a question first, e.g. 'What is this?'.")
            key = self._target_name()
            if key not in self.conversations:
                self.conversations[key] = acc.chat()
            return self.conversations[key].ask(question, **prompts)
        if task == "ground":
            if not question:
                raise PromptError("type what to find in the question box first (e.g. 'ship'), then press ground.")
            return acc.ground(question, min_score=self.chat.ground_min_score, **prompts)
        if task == "caption":
            return acc.caption()
        if task == "refer":
            if not prompts:
                raise PromptError("draw a point, box or shape on the map first, then press refer.")
            return acc.refer(q, **prompts)
        if task == "segment":
            if not prompts and not q:
                raise PromptError("draw a point, box or shape on the map (or type what to segment), then press segment.")
            return acc.segment(q, **prompts)
        raise PromptError(f"unknown task {task!r}; use ask, refer, ground, segment or caption.")

    def _to_map(self, gdf):
        """GeoDataFrame in the raster CRS -> map coordinates (lon/lat, or (column, -row))."""
        if self.pixel_map:
            t = self._pixel_affine()
            a, b, d, e, c, f = t
            det = a * e - b * d
            ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
            ic, if_ = -(ia * c + ib * f), -(id_ * c + ie * f)
            g = gdf.geometry.affine_transform([ia, ib, id_, ie, ic, if_])  # world -> pixel
            return gdf.set_geometry(g.affine_transform([1, 0, 0, -1, 0, 0]))  # -> (col, -row)
        if gdf.crs is None:
            gdf = gdf.set_crs(self.crs)
        return gdf.to_crs("EPSG:4326")

    def _draw_answer(self, answer: Any, task: str) -> None:
        name = f"answer {len(self.answers)}: {task}"
        layer = answer_layer(answer, name, self._to_map)
        self.result_layers.append(layer)
        self.map.add(layer)

    @property
    def last_answer(self):
        """The most recent Answer, or None."""
        return self.answers[-1] if self.answers else None

    def clear_results(self) -> None:
        """Remove every answer layer from the map (``answers`` are kept)."""
        for layer in self.result_layers:
            if layer in self.map.layers:
                self.map.remove(layer)
        self.result_layers = []
