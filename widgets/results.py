"""Answer -> map layers.

An :class:`egx_notebook.Answer` carries ``.mask`` (DataArray ``(object, y, x)`` on
the raster's grid) and ``.regions`` (GeoDataFrame in the raster's CRS). This
module turns them into one ``ipyleaflet.LayerGroup``: the masks as one
semi-transparent PNG ``ImageOverlay`` (decimated like the raster display), and
every region as a GeoJSON outline with a label and a popup showing its score.
"""

from __future__ import annotations

import html
import math
from typing import Any, Callable

import numpy as np
import xarray as xr

from egx_notebook.widgets.layers import (
    DisplayImage,
    png_data_url,
    raster_crs,
    read_overview,
    warp_to_mercator,
)

__all__ = ["answer_layer", "mask_image", "region_features", "PALETTE"]

#: Colours for objects 0, 1, 2, ... (colour-blind-safe Okabe-Ito order).
PALETTE = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7"]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    h = hex_colour.lstrip("#")
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def mask_image(mask: xr.DataArray, threshold: float = 0.5, alpha: int = 115,
               max_size: int = 1024) -> DisplayImage | None:
    """Colour an answer mask ``(object, y, x)`` as one semi-transparent overlay.

    Returns ``None`` when there is no mask or no pixel reaches ``threshold``.
    Object *i* gets ``PALETTE[i]``; later objects paint over earlier ones.
    """
    if mask is None or mask.size == 0:
        return None
    if "object" not in mask.dims:
        mask = mask.expand_dims("object")
    mask = mask.transpose("object", "y", "x")
    arr, transform = read_overview(mask.rename({"object": "band"}).astype("float32"),
                                   max_size=max_size)
    on = np.nan_to_num(arr) >= threshold
    if not on.any():
        return None
    rgba = np.zeros(arr.shape[1:] + (4,), dtype=np.uint8)
    for i in range(on.shape[0]):
        rgba[on[i], :3] = _rgb(PALETTE[i % len(PALETTE)])
        rgba[on[i], 3] = alpha
    crs = raster_crs(mask)
    if crs is None or transform is None:
        height, width = mask.shape[1:]
        return DisplayImage(rgba, ((-float(height), 0.0), (0.0, float(width))))
    warped, bounds = warp_to_mercator(rgba, transform, crs)
    return DisplayImage(warped, bounds)


def region_features(regions: Any, to_map: Callable[[Any], Any]) -> list[dict]:
    """GeoJSON Features (map coordinates) for the rows of an answer's ``regions``.

    Parameters
    ----------
    regions : geopandas.GeoDataFrame
        ``geometry``, ``label``, ``score`` (extra columns are ignored).
    to_map : callable
        Maps a GeoDataFrame in the raster CRS to map coordinates.
    """
    if regions is None or len(regions) == 0:
        return []
    shown = to_map(regions)
    feats = []
    for i, (idx, row) in enumerate(shown.iterrows()):
        geom = row.geometry
        if geom is None or geom.is_empty:
            continue
        label = str(row["label"]) if "label" in shown.columns and row["label"] is not None else f"object {i + 1}"
        score = row["score"] if "score" in shown.columns else None
        score = None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score)
        feats.append({
            "type": "Feature",
            "geometry": geom.__geo_interface__,
            "properties": {"label": label, "score": score, "index": i,
                           "colour": PALETTE[i % len(PALETTE)]},
        })
    return feats


def _label_text(props: dict) -> str:
    score = props.get("score")
    return props["label"] if score is None else f"{props['label']} {score:.2f}"


def answer_layer(answer: Any, name: str, to_map: Callable[[Any], Any], opacity: float = 1.0):
    """One ``LayerGroup`` showing an answer's masks and regions.

    Parameters
    ----------
    answer : egx_notebook.Answer
    name : str
        Name in the layer control.
    to_map : callable
        GeoDataFrame in the raster CRS -> GeoDataFrame in map coordinates.
    opacity : float
        Opacity of the mask overlay.
    """
    import ipyleaflet as L
    import ipywidgets as W

    layers = []
    img = mask_image(getattr(answer, "mask", None))
    if img is not None:
        layers.append(L.ImageOverlay(url=img.url, bounds=img.bounds, opacity=opacity,
                                     name=f"{name} mask"))
    for feat in region_features(getattr(answer, "regions", None), to_map):
        props = feat["properties"]
        text = html.escape(_label_text(props))
        geo = L.GeoJSON(
            data={"type": "FeatureCollection", "features": [feat]},
            style={"color": props["colour"], "weight": 2, "fillOpacity": 0.05, "opacity": 1.0},
            hover_style={"weight": 4},
            name=f"{name} {props['label']}",
        )
        geo.popup = W.HTML(f"<b>{html.escape(props['label'])}</b>"
                           + ("" if props["score"] is None else f"<br>score {props['score']:.3f}"))
        layers.append(geo)
        lon, lat = _label_anchor(feat)
        layers.append(L.Marker(
            location=(lat, lon), draggable=False, title=_label_text(props),
            icon=L.DivIcon(html=f'<span class="egx-result-label" style="background:{props["colour"]};'
                                f'color:#000;padding:0 3px;font-size:11px;white-space:nowrap">{text}</span>',
                           icon_size=[0, 0], icon_anchor=[0, 18]),
        ))
    if not layers:  # a text answer about prompted regions: pin the text to those regions
        layers.extend(_prompt_answer_layers(answer, name, to_map))
    return L.LayerGroup(layers=layers, name=name)


def _prompt_answer_layers(answer: Any, name: str, to_map: Callable[[Any], Any]) -> list:
    """Outline the answer's prompts and label them with the answer text (with a popup of the full text)."""
    import ipyleaflet as L
    import ipywidgets as W

    prompts = getattr(answer, "prompts", None)
    if prompts is None or len(prompts) == 0:
        return []
    text = str(getattr(answer, "text", "") or "")
    short = " ".join(text.split()) or name  # an empty answer is still pinned, by its layer name
    short = short if len(short) <= 40 else short[:39] + "…"
    shown = to_map(prompts)
    out = []
    for geom in shown.geometry:
        if geom is None or geom.is_empty:
            continue
        feat = {"type": "Feature", "geometry": geom.__geo_interface__, "properties": {}}
        geo = L.GeoJSON(data={"type": "FeatureCollection", "features": [feat]},
                        style={"color": "#00e5ff", "weight": 2, "dashArray": "4 3", "fillOpacity": 0.05},
                        point_style={"radius": 6, "color": "#00e5ff"}, name=f"{name} region")
        geo.popup = W.HTML(f"<b>{html.escape(name)}</b><br>{html.escape(text) or '<i>(no text)</i>'}")
        out.append(geo)
        lon, lat = _label_anchor(feat, corner="lower")  # below the region: its "region N" label sits above
        out.append(L.Marker(location=(lat, lon), draggable=False, title=text or name, icon=L.DivIcon(
            html=f'<span class="egx-result-label" style="background:#00e5ff;color:#000;padding:0 3px;'
                 f'font-size:11px;white-space:nowrap">{html.escape(short)}</span>',
            icon_size=[0, 0], icon_anchor=[0, -4])))
    return out


def _label_anchor(feature: dict, corner: str = "upper") -> tuple[float, float]:
    """(lon, lat) where a label goes: the upper- (or lower-) left corner of the feature's bounds."""
    from shapely.geometry import shape

    g = shape(feature["geometry"])
    if g.geom_type == "Point":
        return g.x, g.y
    minx, miny, maxx, maxy = g.bounds
    return minx, (maxy if corner == "upper" else miny)
