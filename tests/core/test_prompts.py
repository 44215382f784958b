"""Prompts in any CRS land on the right pixels of the raster (pixel-edge convention)."""

import numpy as np
import pytest
import shapely
from pyproj import Transformer

import egx_notebook as egx
from egx_notebook.grid import grid_of
from egx_notebook.prompts import parse_prompts

from core_rasters import GSD, ORIGIN, UTM


@pytest.fixture
def grid(optical_tif):
    return grid_of(egx.open_raster(optical_tif))


def _lonlat(x, y, crs="EPSG:4326"):
    return Transformer.from_crs(UTM, crs, always_xy=True).transform(x, y)


def test_lonlat_point_lands_on_the_right_utm_pixel(grid):
    # centre of pixel (row 37, col 123)
    x = ORIGIN[0] + (123 + 0.5) * GSD
    y = ORIGIN[1] - (37 + 0.5) * GSD
    lon, lat = _lonlat(x, y)
    assert 14 < lon < 16 and 41 < lat < 43
    (p,) = parse_prompts(grid, point=(lon, lat), crs="EPSG:4326")
    assert (int(p.geom.x), int(p.geom.y)) == (123, 37)
    assert p.geom.x == pytest.approx(123.5, abs=1e-4) and p.geom.y == pytest.approx(37.5, abs=1e-4)


def test_same_prompt_in_three_crs_gives_same_pixels(grid):
    x = ORIGIN[0] + 201.25 * GSD
    y = ORIGIN[1] - 88.75 * GSD
    in_utm = parse_prompts(grid, point=(x, y))[0].geom
    in_4326 = parse_prompts(grid, point=_lonlat(x, y), crs="EPSG:4326")[0].geom
    in_3857 = parse_prompts(grid, point=_lonlat(x, y, "EPSG:3857"), crs="EPSG:3857")[0].geom
    for g in (in_utm, in_4326, in_3857):
        assert g.x == pytest.approx(201.25, abs=1e-5) and g.y == pytest.approx(88.75, abs=1e-5)


def test_box_in_raster_crs_maps_to_pixel_edges(grid):
    box = (ORIGIN[0] + 10 * GSD, ORIGIN[1] - 30 * GSD, ORIGIN[0] + 20 * GSD, ORIGIN[1] - 5 * GSD)
    (p,) = parse_prompts(grid, box=box)
    assert p.kind == "box"
    assert p.bounds == pytest.approx((10, 5, 20, 30))


def test_shapely_and_geodataframe_prompts(grid):
    import geopandas as gpd

    poly = shapely.box(ORIGIN[0] + 50 * GSD, ORIGIN[1] - 60 * GSD, ORIGIN[0] + 70 * GSD, ORIGIN[1] - 40 * GSD)
    (p,) = parse_prompts(grid, polygon=poly)
    assert p.bounds == pytest.approx((50, 40, 70, 60))
    gdf = gpd.GeoDataFrame(geometry=[poly, poly.buffer(-20)], crs=UTM).to_crs("EPSG:4326")
    prompts = parse_prompts(grid, polygon=gdf)
    assert len(prompts) == 2
    assert prompts[0].bounds == pytest.approx((50, 40, 70, 60), abs=1e-3)
    pts = gpd.GeoSeries([shapely.Point(ORIGIN[0] + 5.5 * GSD, ORIGIN[1] - 6.5 * GSD)], crs=UTM)
    (q,) = parse_prompts(grid, point=pts)
    assert (q.geom.x, q.geom.y) == pytest.approx((5.5, 6.5))


def test_several_prompts_keep_order_and_view_dicts(grid):
    from egx_notebook.views import View

    pts = [(ORIGIN[0] + 5 * GSD, ORIGIN[1] - 5 * GSD), (ORIGIN[0] + 15 * GSD, ORIGIN[1] - 25 * GSD)]
    prompts = parse_prompts(grid, point=pts, box=(ORIGIN[0], ORIGIN[1] - 40 * GSD, ORIGIN[0] + 40 * GSD, ORIGIN[1]))
    assert [p.kind for p in prompts] == ["point", "point", "box"]
    view = View(row_off=0, col_off=4, height=100, width=100, factor=2, level="region")
    assert prompts[1].to_view(view) == {"kind": "point", "xy": [5.5, 12.5]}
    assert prompts[2].to_view(view)["xyxy"] == pytest.approx([-2, 0, 18, 20])


def test_pixel_space_chip(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    Image.fromarray((rng.random((40, 60)) * 255).astype("uint8")).save(tmp_path / "chip.png")
    da = egx.open_raster(tmp_path / "chip.png")
    assert da.rio.crs is None and da.sizes["x"] == 60
    grid = grid_of(da)
    (p,) = parse_prompts(grid, point=(12.5, 30.5))
    assert (p.geom.x, p.geom.y) == (12.5, 30.5)
    (b,) = parse_prompts(grid, box=(10, 5, 20, 15))
    assert b.bounds == (10, 5, 20, 15)
    with pytest.raises(egx.CRSError, match="no CRS"):
        parse_prompts(grid, point=(1, 1), crs="EPSG:4326")


def test_mask_prompt_on_grid(grid, optical_tif):
    da = egx.open_raster(optical_tif)
    scribble = (da.isel(band=0) * 0).astype(bool)
    scribble[10:20, 30:35] = True
    (p,) = parse_prompts(grid, mask=scribble)
    assert p.kind == "mask" and p.bounds == (30, 10, 35, 20)
