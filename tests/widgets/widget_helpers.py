"""Helpers for the widget tests: seeded rasters built in memory, and the draw messages the browser sends."""

from __future__ import annotations

import numpy as np
import xarray as xr
from affine import Affine

UTM = "EPSG:32633"
#: 10 m pixels, upper-left corner at (500000, 4650000) in UTM 33N (15 E, ~42 N)
UTM_TRANSFORM = Affine(10.0, 0.0, 500000.0, 0.0, -10.0, 4650000.0)


def make_raster(shape=(3, 200, 300), source="optical", crs=UTM, transform=UTM_TRANSFORM, seed=0,
                dtype="float32") -> xr.DataArray:
    """A seeded (band, y, x) raster on ``transform`` (pixel-centre coords, as rioxarray writes)."""
    import rioxarray  # noqa: F401

    rng = np.random.default_rng(seed)
    nb, h, w = shape
    data = rng.gamma(2.0, 50.0, size=shape).astype(dtype)
    data[:, h // 4: h // 2, w // 3: w // 2] *= 4.0  # a bright block to look at
    x = transform.c + transform.a * (np.arange(w) + 0.5)
    y = transform.f + transform.e * (np.arange(h) + 0.5)
    da = xr.DataArray(data, dims=("band", "y", "x"),
                      coords={"band": np.arange(1, nb + 1), "y": y, "x": x}, name=source)
    da.attrs["egx_source"] = source
    if crs is not None:
        da = da.rio.write_crs(crs)
    da = da.rio.write_transform(transform)
    return da


def lonlat_of(da: xr.DataArray, col: float, row: float) -> tuple[float, float]:
    """(lon, lat) of the raster pixel-edge coordinate (col, row)."""
    from pyproj import Transformer

    x, y = da.rio.transform() @ (col, row)
    t = Transformer.from_crs(da.rio.crs, "EPSG:4326", always_xy=True)
    return t.transform(x, y)


def rectangle_feature(lon0, lat0, lon1, lat1, style=None) -> dict:
    """The Feature Leaflet's ``Rectangle.toGeoJSON()`` sends (SW, NW, NE, SE, SW)."""
    w, e = sorted((lon0, lon1))
    s, n = sorted((lat0, lat1))
    return {
        "type": "Feature",
        "properties": {"style": style or {"stroke": True, "color": "#ff00ff", "weight": 2, "fill": True}},
        "geometry": {"type": "Polygon", "coordinates": [[[w, s], [w, n], [e, n], [e, s], [w, s]]]},
    }


def point_feature(lon, lat) -> dict:
    return {"type": "Feature", "properties": {"style": {}}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}


def polygon_feature(coords) -> dict:
    ring = [list(c) for c in coords] + [list(coords[0])]
    return {"type": "Feature", "properties": {"style": {"color": "#ff00ff"}},
            "geometry": {"type": "Polygon", "coordinates": [ring]}}


def line_feature(coords) -> dict:
    return {"type": "Feature", "properties": {"style": {"color": "#ff00ff"}},
            "geometry": {"type": "LineString", "coordinates": [list(c) for c in coords]}}


def send_draw(control, event: str, geo_json) -> None:
    """Deliver a draw message to an ipyleaflet draw control exactly as the browser's comm does."""
    control._handle_leaflet_event(None, {"event": event, "geo_json": geo_json}, None)
