"""asking: a point asks for the object under it, so a point's mask keeps the piece at the point."""

import numpy as np

import egx_notebook as egx
from egx_notebook.asking import piece_at

from core_rasters import utm_box, utm_point


def _two_blobs(h, w):
    m = np.zeros((h, w), bool)
    m[10:20, 10:20] = True  # the object under the point
    m[40:50, 40:50] = True  # a neighbour
    return m


def test_piece_at_keeps_the_piece_under_the_point():
    m = _two_blobs(64, 64)
    kept = piece_at(m, [(15.5, 12.5)])
    assert kept[10:20, 10:20].all() and not kept[40:50, 40:50].any()


def test_piece_at_keeps_the_nearest_piece_when_the_point_misses():
    m = _two_blobs(64, 64)
    kept = piece_at(m, [(36.0, 36.0)])  # in the gap, nearer the second blob
    assert kept[40:50, 40:50].all() and not kept[10:20, 10:20].any()


def test_piece_at_keeps_one_piece_per_point_and_diagonal_neighbours_join():
    m = _two_blobs(64, 64)
    m[20, 20] = True  # touches the first blob only at a corner: one 8-connected piece
    assert piece_at(m, [(15, 15), (45, 45)]).sum() == m.sum()
    assert piece_at(m, [(15, 15)]).sum() == 101


def _seg_reply(processor):
    """The double answers like a [SEG] reply: one mask of its own, no boxes, in two pieces:
    a 6 x 6 square under the prompt (its point, or the view centre) and a 4 x 4 one in a corner."""

    def post_process(out, geometry):
        h, w = geometry.height, geometry.width
        p = processor.last_prompts[0]
        cx, cy = (int(v) for v in p["xy"]) if p["kind"] == "point" else (w // 2, h // 2)
        m = np.zeros((h, w), np.float32)
        m[cy - 3:cy + 3, cx - 3:cx + 3] = 0.9
        m[:4, :4] = 0.8
        return [dict(text="[SEG]", boxes=np.zeros((0, 4)), scores=np.zeros(0), labels=[], masks=m[None])]

    processor.post_process = post_process


def test_segment_with_a_point_answers_the_piece_under_it(optical_tif, fake_engine):
    _seg_reply(fake_engine[2])
    ans = egx.open_raster(optical_tif).egx.segment(point=utm_point(150.5, 100.5))
    m = ans.mask.isel(object=0).values
    assert m[100, 150] and m.sum() == 36 * ans.view.factor ** 2  # the corner piece is gone


def test_segment_with_a_box_keeps_every_piece(optical_tif, fake_engine):
    _seg_reply(fake_engine[2])
    ans = egx.open_raster(optical_tif).egx.segment(box=utm_box(140, 90, 160, 110))
    assert ans.mask.isel(object=0).values.sum() == (36 + 16) * ans.view.factor ** 2


def test_doubtful_boxes_are_scored_below_the_threshold_and_small_on_the_input():
    from egx_notebook.asking import doubtful_boxes

    boxes = np.array([[0, 0, 20, 20], [0, 0, 20, 20], [0, 0, 20, 20], [0, 0, 60, 60], [0, 0, 20, 20]], float)
    scores = np.array([0.5, 0.3, 0.1, 0.3, np.nan])  # kept, doubtful, too low, doubtful but large, no score
    # factor 2: the 20-px boxes are 10 px on the input, the 60-px one 30 px
    assert doubtful_boxes(boxes, scores, 0.4, 0.2, 2, 12.0).tolist() == [False, True, False, False, False]
    assert doubtful_boxes(boxes, scores, 0.4, 0.2, 2, None).tolist() == [False, True, False, True, False]
    assert doubtful_boxes(np.zeros((0, 4)), np.zeros(0), 0.4, 0.2, 2, 12.0).shape == (0,)


def test_added_boxes_lie_on_a_doubtful_box_and_on_no_kept_one():
    from egx_notebook.asking import added_boxes

    doubtful = np.array([[0, 0, 10, 10]], float)
    kept = np.array([[100, 100, 110, 110]], float)
    tiles = np.array([[1, 1, 9, 9],         # on the doubtful box
                      [50, 50, 60, 60],     # on nothing
                      [101, 101, 109, 109],  # on a kept box
                      [2, 2, 104, 104]], float)  # covers both, but IoU < 0.1 with each: on neither
    assert added_boxes(tiles, doubtful, kept).tolist() == [True, False, False, False]
    assert added_boxes(tiles, np.zeros((0, 4)), kept).tolist() == [False] * 4
    assert added_boxes(tiles[:1], doubtful, np.zeros((0, 4))).tolist() == [True]


def test_mean_point_masks_averages_where_the_close_look_sees_and_keeps_the_rest():
    from egx_notebook.asking import mean_point_masks
    from egx_notebook.views import View

    wide_view, close_view = View(0, 0, 8, 8, 1, "region"), View(2, 4, 4, 4, 1, "region")
    wide = {"text": "x", "masks": np.full((1, 8, 8), 0.2, np.float32)}
    close = {"text": "y", "masks": np.full((1, 4, 4), 0.6, np.float32)}
    out = mean_point_masks(wide, wide_view, close, close_view)
    expected = np.full((8, 8), 0.2, np.float32)
    expected[2:6, 4:8] = 0.4
    np.testing.assert_allclose(out["masks"][0], expected)
    assert out["text"] == "x" and np.all(wide["masks"] == np.float32(0.2))  # the cached result is not changed


def test_mean_point_masks_samples_the_close_look_on_a_decimated_wide_grid():
    from egx_notebook.asking import mean_point_masks
    from egx_notebook.views import View

    wide_view, close_view = View(0, 0, 8, 8, 2, "region"), View(0, 0, 4, 4, 1, "region")  # wide pixel = 2 x 2 raster px
    close_masks = np.zeros((1, 4, 4), np.float32)
    close_masks[0, 2:, 2:] = 1.0  # raster pixels 2-3: wide pixel (1, 1)
    out = mean_point_masks({"masks": np.zeros((1, 4, 4), np.float32)}, wide_view, {"masks": close_masks}, close_view)
    expected = np.zeros((4, 4), np.float32)
    expected[1, 1] = 0.5
    np.testing.assert_allclose(out["masks"][0], expected)


def test_mean_point_masks_leaves_box_masks_and_unmatched_answers_alone():
    from egx_notebook.asking import mean_point_masks
    from egx_notebook.views import View

    view = View(0, 0, 4, 4, 1, "region")
    wide = {"boxes": np.array([[0, 0, 2, 2]]), "masks": np.zeros((2, 4, 4), np.float32)}  # a box's mask, then [SEG]
    close = {"masks": np.ones((1, 4, 4), np.float32)}
    out = mean_point_masks(wide, view, close, view)
    assert np.all(out["masks"][0] == 0) and np.all(out["masks"][1] == 0.5)
    assert mean_point_masks(wide, view, {"masks": np.ones((2, 4, 4), np.float32)}, view) is wide  # 1 [SEG] against 2
    assert mean_point_masks(wide, view, {"text": "no mask"}, view) is wide


def test_segment_with_a_point_looks_twice_and_a_box_once(optical_tif, fake_engine):
    from egx_notebook.asking import CLOSE_POINT_SIDE
    from egx_notebook.views import POINT_REGION_SIDE

    da = egx.open_raster(optical_tif)
    two = da.egx.segment(point=utm_point(150.5, 100.5))
    assert [v.height for v in two.views] == [POINT_REGION_SIDE, CLOSE_POINT_SIDE] and len(two.raw) == 2
    assert len(da.egx.segment(box=utm_box(140, 90, 160, 110)).views) == 1
    assert len(da.egx.refer(point=utm_point(150.5, 100.5)).views) == 1
