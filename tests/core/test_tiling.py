"""Native-resolution windows over chosen boxes (the second look of ``ground``)."""

import numpy as np
import pytest

from egx_notebook.tiling import covering_views, tile_views


def _holds(view, box, margin=0.0, height=None, width=None):
    x0, y0, x1, y1 = box
    width = width if width is not None else np.inf
    height = height if height is not None else np.inf
    return (view.col_off <= max(x0 - margin, 0) and view.row_off <= max(y0 - margin, 0)
            and min(x1 + margin, width) <= view.col_off + view.width
            and min(y1 + margin, height) <= view.row_off + view.height)


def test_one_window_holds_a_cluster_centred():
    boxes = np.array([[300, 200, 310, 212], [340, 260, 352, 270], [320, 230, 330, 240]], float)
    (view,) = covering_views(512, 640, 128, boxes, margin=16)
    assert (view.height, view.width, view.factor) == (128, 128, 1)
    assert all(_holds(view, b, 16) for b in boxes)
    # centred on what it holds: the cluster spans x 300-352, y 200-270
    assert view.col_off + 64 == pytest.approx(326, abs=1) and view.row_off + 64 == pytest.approx(235, abs=1)


def test_far_apart_boxes_get_a_window_each_and_fewer_than_the_tile_grid():
    boxes = np.array([[10, 10, 20, 20], [600, 480, 612, 500], [15, 30, 25, 40]], float)
    views = covering_views(512, 640, 128, boxes, margin=16)
    assert len(views) == 2
    assert all(any(_holds(v, b, 16, 512, 640) for v in views) for b in boxes)
    assert len(views) < len(tile_views(512, 640, 128, 0.25))


def test_windows_stay_on_the_raster_and_margins_shrink_at_its_edge():
    views = covering_views(300, 300, 128, [[0, 0, 8, 8], [292, 290, 300, 300]], margin=32)
    assert len(views) == 2
    for v in views:
        assert 0 <= v.col_off <= 300 - 128 and 0 <= v.row_off <= 300 - 128
    assert {(v.col_off, v.row_off) for v in views} == {(0, 0), (172, 172)}


def test_large_boxes_and_small_rasters():
    (big,) = covering_views(1000, 1000, 128, [[100, 100, 400, 300]], margin=16)
    assert (big.col_off + 64, big.row_off + 64) == (250, 200)  # centred on a box larger than the window
    (small,) = covering_views(90, 100, 128, [[10, 10, 20, 20]], margin=16)
    assert (small.row_off, small.col_off, small.height, small.width) == (0, 0, 90, 100)
    assert covering_views(512, 512, 128, np.zeros((0, 4))) == []


def test_every_box_is_held_whole():
    rng = np.random.default_rng(7)
    for n in (1, 5, 30):
        xy = rng.uniform(0, 600, (n, 2))
        boxes = np.c_[xy, xy + rng.uniform(2, 40, (n, 2))].clip(0, [640, 512, 640, 512])
        views = covering_views(512, 640, 256, boxes, margin=32)
        assert 1 <= len(views) <= n
        assert all(any(_holds(v, b, 32, 512, 640) for v in views) for b in boxes)
