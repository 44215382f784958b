"""Region windows: how large a window a request looks through (egx_notebook.views)."""

from __future__ import annotations

import pytest

from egx_notebook.grid import grid_of
from egx_notebook.views import MIN_REGION_SIDE, POINT_REGION_SIDE, choose_view, region_side

from core_rasters import memory_raster


def test_point_prompts_get_the_wider_window():
    assert region_side(["point"]) == POINT_REGION_SIDE
    assert region_side(["point", "point"]) == POINT_REGION_SIDE


@pytest.mark.parametrize("kinds", [["box"], ["polygon"], ["mask"], ["point", "box"], []])
def test_prompts_with_an_extent_keep_the_smallest_window(kinds):
    assert region_side(kinds) == MIN_REGION_SIDE


def test_a_point_on_a_large_raster_looks_through_128_px_at_native_resolution():
    grid = grid_of(memory_raster((3, 600, 700), source="optical"))
    view = choose_view(grid, (300.5, 200.5, 300.5, 200.5), "auto", 256,
                       min_region_side=region_side(["point"]))
    assert (view.height, view.width, view.factor) == (128, 128, 1)
    x0, y0, x1, y1 = view.window
    assert x0 <= 300 < x1 and y0 <= 200 < y1
    small = choose_view(grid, (300, 200, 310, 210), "auto", 256)  # a 10 px box: 3x is under 64
    assert (small.height, small.width) == (64, 64)


def test_a_decimated_view_of_a_dask_raster_matches_the_in_memory_read():
    import numpy as np

    from egx_notebook.views import View, read_view

    da = memory_raster((2, 150, 203), source="sar", seed=4)
    da.values[0, 8:16, 20:24] = np.nan  # two whole 4 x 4 blocks of nodata: they stay NaN
    da.values[0, 0:2, 0:4] = np.nan  # half a block: the other half's mean
    view = View(0, 0, 150, 203, 4, "scene")  # 4 x 4 blocks, partial blocks at the edges
    eager = read_view(da, view)
    lazy = read_view(da.chunk({"y": 64, "x": 64}), view)
    assert eager.shape == lazy.shape == (2, 38, 51)
    np.testing.assert_allclose(lazy, eager, rtol=1e-5, equal_nan=True)
    assert np.isnan(eager[0, 2:4, 5]).all() and not np.isnan(eager[0, 2:4, 6]).any()
    assert eager[0, 0, 0] == pytest.approx(float(np.mean(da.values[0, 2:4, 0:4])), rel=1e-5)
