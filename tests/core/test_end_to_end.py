"""Every accessor method end to end through a real EarthGPT-X checkpoint (tiny config).

``tiny_engine`` is ``egx.use(tiny_checkpoint)``: random weights, so answers are
meaningless; these tests check plumbing only (Answer types, grids, CRSs, files).
``steered_engine`` is the same tiny checkpoint with weights chosen so that every
answer carries a [SEG] mask and [DET] boxes (tests/core/core_checkpoints.py), so
the tests can check *where* masks and boxes land on the raster's grid.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from pyproj import Transformer
from rasterio.transform import from_origin

import egx_notebook as egx
from core_rasters import GSD, ORIGIN, UTM, memory_raster, utm_box, utm_point

LONLAT = "EPSG:4326"


def _raster(kind: str) -> xr.DataArray:
    if kind == "utm":
        return memory_raster((3, 96, 112), crs=UTM, source="optical")
    if kind == "lonlat":  # a geographic grid: 1e-4 degree pixels near 42 N, 15 E
        return memory_raster((2, 96, 112), crs=LONLAT, source="sar", seed=1,
                             transform=from_origin(15.0, 42.0, 1e-4, 1e-4))
    if kind == "pixel":  # a PNG-like chip: no CRS, pixel coordinates
        return memory_raster((1, 96, 112), crs=None, source="infrared", seed=2)
    raise ValueError(kind)


def _world(da: xr.DataArray, col: float, row: float) -> tuple[float, float]:
    """World coordinates of raster pixel position (col, row) on ``da``'s grid."""
    return tuple(da.rio.transform() * (col, row))


def _world_box(da, c0, r0, c1, r1):
    (ax, ay), (bx, by) = _world(da, c0, r0), _world(da, c1, r1)
    return min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)


def _assert_on_grid(mask: xr.DataArray, da: xr.DataArray) -> None:
    assert mask.dims == ("object", "y", "x") and mask.dtype == bool
    np.testing.assert_array_equal(mask.x.values, da.x.values)
    np.testing.assert_array_equal(mask.y.values, da.y.values)
    assert mask.rio.crs == da.rio.crs
    assert mask.rio.transform() == da.rio.transform()


def _assert_answer(ans, da) -> None:
    import geopandas as gpd

    assert isinstance(ans, egx.Answer) and isinstance(ans.text, str)
    assert isinstance(ans.regions, gpd.GeoDataFrame) and ans.regions.crs == da.rio.crs
    assert isinstance(ans.prompts, gpd.GeoDataFrame) and ans.prompts.crs == da.rio.crs
    assert len(ans.regions) <= len(ans.detections)
    if ans.mask is not None:
        _assert_on_grid(ans.mask, da)
    assert "<div" in ans._repr_html_()


@pytest.mark.parametrize("kind", ["utm", "lonlat", "pixel"])
def test_every_method_with_the_tiny_checkpoint(kind, tiny_engine):
    da = _raster(kind)
    point = _world(da, 40.5, 30.5)
    box = _world_box(da, 30, 20, 50, 40)
    answers = {
        "ask": da.egx.ask("What is in region 1?", point=point),
        "ask_scene": da.egx.ask("How many ships are there?"),
        "caption": da.egx.caption(),
        "classify": da.egx.classify(),
        "refer": da.egx.refer(box=box),
        "ground": da.egx.ground("ship"),
        "segment": da.egx.segment(point=point),
    }
    chat = da.egx.chat()
    answers["chat1"] = chat.ask("What is this?", box=box)
    answers["chat2"] = chat.ask("Describe region 1.", box=box)
    assert chat.history == [("What is this?", answers["chat1"].text), ("Describe region 1.", answers["chat2"].text)]
    for name, ans in answers.items():
        _assert_answer(ans, da)
    assert answers["refer"].prompts.geometry.iloc[0].bounds == pytest.approx(box)
    assert answers["segment"].prompts.geometry.iloc[0].coords[0] == pytest.approx(point)
    assert tiny_engine.loaded and tiny_engine.input_size == 128


@pytest.mark.parametrize("kind", ["utm", "lonlat", "pixel"])
def test_masks_and_boxes_land_on_the_input_grid(kind, steered_engine):
    da = _raster(kind)
    seg = da.egx.segment(point=_world(da, 40.5, 30.5))
    _assert_answer(seg, da)
    with_mask = [d for d in seg.detections if d.pieces]
    assert seg.mask is not None and seg.mask.sizes["object"] == len(with_mask) >= 2  # [DET] boxes + the [SEG] mask
    assert len(seg.regions) == len(seg.detections) and (seg.regions.crs == da.rio.crs)
    vx0, vy0, vx1, vy1 = seg.view.window  # a zoom window around the point, at native resolution
    assert seg.view.factor == 1 and vx0 <= 40 < vx1 and vy0 <= 30 < vy1
    # each box lies in the view and its mask inside it; the [SEG] mask is the last object and has no box
    for i, det in enumerate(with_mask[:-1]):
        x0, y0, x1, y1 = det.box_px
        assert vx0 <= x0 < x1 <= vx1 and vy0 <= y0 < y1 <= vy1
        rows, cols = np.nonzero(seg.mask.isel(object=i).values)
        assert x0 - 1 <= cols.min() and cols.max() + 1 <= x1 + 1 and y0 - 1 <= rows.min() and rows.max() + 1 <= y1 + 1
    assert with_mask[-1].box_px is None and seg.mask.isel(object=-1).values.any()
    # regions are the mask polygons in the raster's CRS, inside the raster
    minx, miny, maxx, maxy = _world_box(da, vx0, vy0, vx1, vy1)
    rb = seg.regions.total_bounds
    assert minx - 1e-9 <= rb[0] and rb[2] <= maxx + 1e-9 and miny - 1e-9 <= rb[1] and rb[3] <= maxy + 1e-9
    assert "(mask 1)" in seg.text


def test_region_level_zooms_in_and_maps_back(steered_engine):
    da = memory_raster((3, 300, 400), crs=UTM)
    ans = da.egx.segment(point=utm_point(200.5, 150.5))
    assert ans.view.level == "region" and ans.view.factor == 1
    x0, y0, x1, y1 = ans.view.window
    assert x0 <= 200 < x1 and y0 <= 150 < y1 and abs((x0 + x1) / 2 - 200.5) <= 1 and abs((y0 + y1) / 2 - 150.5) <= 1
    assert ans.view.shape == (128, 128)  # a point's window: POINT_REGION_SIDE, not the scene
    box = da.egx.segment(box=utm_box(195, 145, 205, 155))  # a 10 px box: 3x its extent, at least 64 px
    assert box.view.shape == (64, 64)
    ir = memory_raster((1, 300, 400), crs=UTM, source="infrared", seed=3)
    assert ir.egx.segment(point=utm_point(200.5, 150.5)).view.shape == (128, 128)  # infrared points too
    assert ir.egx.refer(point=utm_point(200.5, 150.5)).view.shape == (128, 128)
    wide = da.egx.refer(box=utm_box(100, 100, 300, 200))  # 3x the box's extent > 128 px input: decimated
    assert wide.view.factor == 4 and wide.view.window == (0, 0, 400, 300)
    m = ans.mask.values.any(axis=0)
    rows, cols = np.nonzero(m)
    assert rows.min() >= y0 and rows.max() < y1 and cols.min() >= x0 and cols.max() < x1
    _assert_on_grid(ans.mask, da)
    scene = da.egx.ground("ship", level="scene")
    assert scene.view.factor == 4 and scene.mask.shape == (4, 300, 400)


def test_same_prompt_in_three_crs_gives_the_same_answer(steered_engine):
    da = memory_raster((3, 200, 300), crs=UTM)
    x, y = utm_point(201.25, 88.75)
    in_4326 = Transformer.from_crs(UTM, LONLAT, always_xy=True).transform(x, y)
    in_3857 = Transformer.from_crs(UTM, "EPSG:3857", always_xy=True).transform(x, y)
    answers = [da.egx.segment(point=(x, y)), da.egx.segment(point=in_4326, crs=LONLAT),
               da.egx.segment(point=in_3857, crs="EPSG:3857")]
    for ans in answers:
        assert ans.view == answers[0].view
        assert ans.prompts.geometry.iloc[0].coords[0] == pytest.approx((x, y), abs=1e-4)
        np.testing.assert_array_equal(ans.mask.values, answers[0].mask.values)
        assert ans.text == answers[0].text


def test_lonlat_point_on_the_right_utm_pixel_through_the_model(steered_engine):
    da = memory_raster((3, 200, 300), crs=UTM)
    lon, lat = Transformer.from_crs(UTM, LONLAT, always_xy=True).transform(*utm_point(123.5, 37.5))
    ans = da.egx.refer(point=(lon, lat), crs=LONLAT)
    px = ans.prompts.geometry.iloc[0]
    col, row = ~da.rio.transform() * (px.x, px.y)
    assert (int(col), int(row)) == (123, 37)
    assert ans.detections and ans.view.window[0] <= 123 < ans.view.window[2]


def test_dataset_of_co_registered_sources(steered_engine, tmp_path):
    ds = egx.datasets.open_colocated(tmp_path, size=96)
    assert set(ds.egx.sources.values()) == {"optical", "sar", "infrared"}
    sar = ds.egx["sar"]
    ans = ds.egx.segment(var="sar", point=_world(sar, 50.5, 40.5))
    assert ans.source == "sar"
    _assert_answer(ans, sar)
    np.testing.assert_array_equal(ans.mask.x.values, ds.x.values)
    assert ans.mask.rio.crs == ds.rio.crs
    both = ds.egx.compare("What is in region 1?", box=_world_box(sar, 30, 30, 60, 60))
    assert set(both) == {"optical", "sar", "infrared"}
    for name, a in both.items():
        assert a.source == name and a.regions.crs == ds.rio.crs
    assert ds.egx.caption(var="infrared").source == "infrared"
    assert ds.egx.ground("ship", var="optical").mask.shape[1:] == (96, 96)
    assert len(ds.egx.chat(var="sar").ask("What is this?", point=_world(sar, 5.5, 5.5)).regions) >= 1


@pytest.mark.parametrize("kind", ["utm", "lonlat"])
def test_to_file_and_save_mask_round_trip(kind, steered_engine, tmp_path):
    import geopandas as gpd
    import rioxarray

    da = _raster(kind)
    ans = da.egx.ground("ship")
    gpkg = ans.to_file(tmp_path / "ans.gpkg")
    back = gpd.read_file(gpkg, layer="regions")
    assert back.crs == da.rio.crs and len(back) == len(ans.regions) >= 2
    for a, b in zip(back.geometry, ans.regions.geometry):
        assert a.equals_exact(b, 1e-9)
    assert list(back.text.unique()) == [ans.text]
    gj = gpd.read_file(ans.to_file(tmp_path / "ans.geojson"))
    assert len(gj) == len(ans.regions)
    tif = ans.save_mask(tmp_path / "mask.tif")
    m = rioxarray.open_rasterio(tif)
    assert m.shape == ans.mask.shape and m.rio.crs == da.rio.crs
    assert m.rio.transform() == da.rio.transform()
    np.testing.assert_array_equal(m.values.astype(bool), ans.mask.values)
    np.testing.assert_allclose(m.x.values, da.x.values)


def test_pixel_space_chip_from_png(steered_engine, tmp_path):
    path = egx.datasets.sample_chip("infrared", tmp_path / "chip.png", size=96)
    da = egx.open_raster(path)
    assert da.rio.crs is None and da.attrs["egx_source"] == "infrared"
    ans = da.egx.segment(point=(40.5, 30.5))
    _assert_answer(ans, da)
    assert ans.regions.crs is None
    # pixel space: region bounds are pixel coordinates inside the chip
    x0, y0, x1, y1 = ans.regions.total_bounds
    assert 0 <= x0 < x1 <= 96 and 0 <= y0 < y1 <= 96
    tif = ans.save_mask(tmp_path / "chip-mask.tif")
    import rioxarray

    back = rioxarray.open_rasterio(tif)
    np.testing.assert_array_equal(back.values.astype(bool), ans.mask.values)


def test_follow_up_prompts_reuse_the_encoded_view(steered_engine):
    da = memory_raster((3, 96, 112), crs=UTM)
    calls = []
    model = steered_engine.model
    original = model.encode_images

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    model.encode_images = counting
    try:
        seg = da.egx.segment(point=utm_point(40.5, 30.5))
        ref = da.egx.refer(point=utm_point(40.5, 30.5))  # same point: same zoom window
        da.egx.ask("What is in region 1?", point=utm_point(40.5, 29.5))  # the same window, clipped to the raster
        # segment's mask of a point also looks through a closer window (CLOSE_POINT_SIDE)
        assert ref.view == seg.view and len(seg.views) == 2 and len(calls) == 2, (ref.view, seg.views)
        da.egx.segment(point=utm_point(40.5, 30.5))
        da.egx.caption()
        da.egx.ask("How many ships are there?")  # the scene view again
    finally:
        del model.encode_images
    assert len(calls) == 3  # the point's two windows and the scene, each encoded once


def test_min_score_replaces_the_models_threshold_for_one_call(steered_engine):
    da = memory_raster((3, 96, 112), crs=UTM)

    def box_scores(ans):
        return sorted(d.score for d in ans.detections if d.box_px is not None)

    default = box_scores(da.egx.ground("ship", level="scene"))
    everything = box_scores(da.egx.ground("ship", level="scene", min_score=0.0))
    assert len(default) >= 2 and len(everything) >= len(default)
    cut = (default[0] + default[1]) / 2  # above the lowest box the model's own threshold keeps
    strict = box_scores(da.egx.ground("ship", level="scene", min_score=cut))
    assert strict == pytest.approx(default[1:]) and min(strict) >= cut
    assert box_scores(da.egx.ground("ship", level="scene", min_score=0.999)) == []
    big = memory_raster((3, 200, 300), crs=UTM)
    tiled = big.egx.ground("ship", whole_up_to=1)  # 128 px tiles over 300 x 200: the tile path
    assert len(tiled.views) > 1 and box_scores(tiled)
    assert box_scores(big.egx.ground("ship", whole_up_to=1, min_score=0.999)) == []
    assert box_scores(da.egx.ground("ship", level="scene")) == pytest.approx(default)  # the model's own threshold again
    for bad in (-0.1, 1.0, "0.5", True):
        with pytest.raises(egx.PromptError, match="min_score"):
            da.egx.ground("ship", min_score=bad)


def test_ground_uses_the_models_own_threshold_of_the_class_it_is_asked_for(steered_engine, monkeypatch):
    da = memory_raster((3, 96, 112), crs=UTM)
    big = memory_raster((3, 200, 300), crs=UTM)

    def box_scores(ans):
        return sorted(d.score for d in ans.detections if d.box_px is not None)

    default = box_scores(da.egx.ground("ship", level="scene"))
    assert len(default) >= 2
    cut = (default[0] + default[1]) / 2
    monkeypatch.setattr(steered_engine.model.config, "det_class_thresholds", {"ship": cut, "person": 0.999})
    assert steered_engine.class_score_threshold("Vessels") == pytest.approx(cut)  # any word for the class
    assert steered_engine.class_score_threshold("people") == pytest.approx(0.999)
    assert steered_engine.class_score_threshold("cars") is None and steered_engine.class_score_threshold("") is None
    for word in ("ship", "boats"):  # the class's own threshold, on one look and on tiles
        assert box_scores(da.egx.ground(word, level="scene")) == pytest.approx(default[1:])
        assert min(box_scores(big.egx.ground(word, whole_up_to=1))) >= cut
    assert box_scores(da.egx.ground("people", level="scene")) == []
    own = steered_engine.score_threshold  # a class with no threshold of its own: the model's one threshold
    assert box_scores(da.egx.ground("cars", level="scene")) == pytest.approx(
        box_scores(da.egx.ground("cars", level="scene", min_score=own)))
    assert min(box_scores(da.egx.ground("ship", level="scene", min_score=0.0))) < cut  # min_score still wins


def test_ground_tiles_a_class_the_model_looks_at_native_resolution(steered_engine, monkeypatch):
    """``config.det_class_whole_up_to`` sends the class it names to native tiles where the
    raster is larger than the rule; other classes, and an explicit ``whole_up_to``, keep theirs."""
    from egx_notebook.asking import WHOLE_UP_TO

    big = memory_raster((3, 200, 300), crs=UTM)  # 300 px: whole under WHOLE_UP_TO model inputs of 128
    assert 300 <= WHOLE_UP_TO * steered_engine.input_size
    assert len(big.egx.ground("ship").views) < 6  # a whole look (and its windows), not tiles
    monkeypatch.setattr(steered_engine.model.config, "det_class_whole_up_to", {"ship": 1.0, "person": 0})
    assert steered_engine.class_whole_up_to("vessels") == 1.0
    assert steered_engine.class_whole_up_to("people") is None  # not a positive size: no rule
    assert steered_engine.class_whole_up_to("cars") is None
    tiled = big.egx.ground("boats")
    assert "tiles" in tiled.text and len(tiled.views) == len(big.egx.ground("ship", whole_up_to=1).views) > 1
    assert all(v.factor == 1 for v in tiled.views)
    assert "tiles" not in big.egx.ground("ship", whole_up_to=WHOLE_UP_TO).text  # the caller's rule wins
    assert "tiles" not in big.egx.ground("cars").text
    assert "tiles" not in memory_raster((3, 96, 112), crs=UTM).egx.ground("ship").text  # one input: whole
    for bad in (0, -1.0, "2", True):
        with pytest.raises(egx.PromptError, match="whole_up_to"):
            big.egx.ground("ship", whole_up_to=bad)


def test_ground_looks_again_at_doubtful_detections_in_native_windows(steered_engine, monkeypatch):
    from egx_notebook.asking import RECHECK_CONTEXT, RECHECK_MAX_SIDE, RECHECK_OVERLAP, run_ground
    from egx_notebook.tiling import box_iou, nms

    da = memory_raster((3, 300, 300), crs=UTM)  # a chip (long side <= 4 inputs of 128 px) looked at whole, decimated
    size = steered_engine.input_size

    def boxes(ans):
        return [(d.box_px, d.score) for d in ans.detections if d.box_px is not None]

    low = boxes(da.egx.ground("ship", level="scene", min_score=0.0))
    scores = sorted({round(s, 6) for _, s in low})
    assert len(scores) >= 3, scores
    recheck, threshold = scores[0], scores[len(scores) // 2]  # doubtful: [recheck, threshold)
    one_look = da.egx.ground("ship", level="scene", min_score=threshold)
    ans = da.egx.ground("ship", min_score=threshold, recheck_from=recheck)

    assert ans.views[0] == one_look.views[0] and ans.views[0].factor > 1
    windows = ans.views[1:]
    assert windows and all(v.factor == 1 and v.shape == (size, size) for v in windows)
    kept = [b for b, _ in boxes(one_look)]
    factor = ans.views[0].factor
    doubtful = np.array([b for b, s in low if recheck <= s < threshold
                         and (RECHECK_MAX_SIDE is None
                              or np.sqrt((b[2] - b[0]) * (b[3] - b[1])) / factor < RECHECK_MAX_SIDE)])
    # every doubtful box lies whole in a window, with the context the raster leaves room for
    margin = RECHECK_CONTEXT * size
    for x0, y0, x1, y1 in doubtful:
        assert any(v.col_off <= max(x0 - margin, 0) and v.row_off <= max(y0 - margin, 0)
                   and min(x1 + margin, 300) <= v.col_off + size and min(y1 + margin, 300) <= v.row_off + size
                   for v in windows), (x0, y0, x1, y1)
    # the rule, on each window grounded on its own: a window box on a doubtful box and on no kept box
    seen = []
    for v in windows:
        part = da.isel(y=slice(v.row_off, v.row_off + size), x=slice(v.col_off, v.col_off + size))
        seen += [(np.add(b, [v.col_off, v.row_off] * 2), s)
                 for b, s in boxes(part.egx.ground("ship", level="scene", min_score=threshold))]
    keep = nms(np.array([b for b, _ in seen]).reshape(-1, 4), np.array([s for _, s in seen]), None, 0.5)
    expected = [seen[i][0] for i in keep if box_iou([seen[i][0]], doubtful).max() >= RECHECK_OVERLAP
                and (not kept or box_iou([seen[i][0]], kept).max() < RECHECK_OVERLAP)]
    got = [b for b, _ in boxes(ans)]
    assert kept and expected and len(got) == len(kept) + len(expected)
    np.testing.assert_allclose(np.array(got[: len(kept)]).reshape(-1, 4), np.array(kept).reshape(-1, 4))
    np.testing.assert_allclose(np.array(got[len(kept):]).reshape(-1, 4), np.array(expected).reshape(-1, 4), atol=1e-4)
    assert all(s >= threshold for _, s in boxes(ans))
    assert ans.text.startswith("Found ") and f"{len(doubtful)} doubtful regions" in ans.text
    assert f"in {len(windows)} native-resolution windows" in ans.text
    assert ans.mask is None or ans.mask.sizes["y"] == 300  # masks of windows and the whole look on da's grid

    # nothing doubtful, or the second look turned off: the one look
    for kwargs in ({"recheck_from": None}, {"recheck_from": threshold}):
        same = da.egx.ground("ship", min_score=threshold, **kwargs)
        assert len(same.views) == 1
        np.testing.assert_allclose(np.array([b for b, _ in boxes(same)]).reshape(-1, 4), np.array(kept).reshape(-1, 4))
    # doubtful boxes no smaller than the size limit on the input are not looked at again
    large = run_ground(da, "ship", "Find all ships.", min_score=threshold, recheck_from=recheck, recheck_max_side=0.0)
    assert len(large.views) == 1 and "doubtful" not in large.text
    np.testing.assert_allclose(np.array([b for b, _ in boxes(large)]).reshape(-1, 4), np.array(kept).reshape(-1, 4))
    for bad in (-0.1, 1.0, "0.2", True):
        with pytest.raises(egx.PromptError, match="recheck_from"):
            da.egx.ground("ship", recheck_from=bad)
    # more context around each doubtful box: the windows are covered with that margin
    import egx_notebook.asking as asking

    margins = []
    cover = asking.covering_views
    monkeypatch.setattr(asking, "covering_views", lambda *args: margins.append(args[-1]) or cover(*args))
    run_ground(da, "ship", "Find all ships.", min_score=threshold, recheck_from=recheck, recheck_context=0.25)
    da.egx.ground("ship", min_score=threshold, recheck_from=recheck)
    assert margins == [0.25 * size, RECHECK_CONTEXT * size]
    for bad in (-0.1, 0.5, "0.1", True):
        with pytest.raises(egx.PromptError, match="recheck_context"):
            run_ground(da, "ship", "Find all ships.", recheck_context=bad)


def test_engine_reports_the_models_score_threshold(steered_engine):
    assert steered_engine.score_threshold == pytest.approx(steered_engine.model.config.det_score_threshold)


def test_accessor_recheck_default_is_the_packages():
    import inspect

    from egx_notebook.accessor import EgxDataArrayAccessor
    from egx_notebook.asking import RECHECK_FROM

    assert inspect.signature(EgxDataArrayAccessor.ground).parameters["recheck_from"].default == RECHECK_FROM
