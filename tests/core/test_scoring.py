"""egx.match_regions / egx.score_regions: answers scored against a user's own labels."""

import math

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Polygon, box

import egx_notebook as egx

from core_rasters import GSD, ORIGIN, UTM


def _utm(c0, r0, c1, r1):
    return box(ORIGIN[0] + c0 * GSD, ORIGIN[1] - r1 * GSD, ORIGIN[0] + c1 * GSD, ORIGIN[1] - r0 * GSD)


def _found(geoms, scores, crs=UTM):
    return gpd.GeoDataFrame({"label": ["ship"] * len(geoms), "score": scores}, geometry=list(geoms), crs=crs)


def test_counts_follow_greedy_matching_by_score():
    truth = gpd.GeoDataFrame({"name": ["a", "b", "c"]}, geometry=[_utm(0, 0, 10, 10), _utm(50, 50, 60, 60),
                                                                  _utm(100, 0, 110, 10)], crs=UTM, index=[7, 8, 9])
    found = _found([_utm(0, 0, 10, 11),      # a, IoU 10/11
                    _utm(1, 0, 11, 10),      # a again, lower score: a duplicate is a false positive
                    _utm(50, 50, 60, 60),    # b exactly
                    _utm(200, 200, 210, 210)],  # nothing
                   [0.6, 0.5, 0.9, 0.8])
    m = egx.match_regions(found, truth)
    assert list(m["truth"]) == [7, None, 8, None]
    assert m["iou"].iloc[0] == pytest.approx(10 / 11) and m["iou"].iloc[1] == 0.0
    assert m.crs == found.crs and list(m["match"]) == [True, False, True, False]
    s = egx.score_regions(found, truth)
    assert (s["tp"], s["fp"], s["fn"]) == (2, 2, 1)
    assert s["precision"] == 0.5 and s["recall"] == pytest.approx(2 / 3) and s["f1"] == pytest.approx(4 / 7)


def test_the_higher_score_takes_the_truth():
    truth = [_utm(0, 0, 10, 10)]  # a plain list is in found's CRS
    found = _found([_utm(0, 0, 10, 10), _utm(0, 0, 10, 12)], [0.2, 0.9])
    assert list(egx.match_regions(found, truth)["truth"]) == [None, 0]


def test_iou_threshold_is_inclusive_and_checked():
    truth = [_utm(0, 0, 10, 10)]
    found = _found([_utm(0, 0, 10, 20)], [0.9])  # IoU exactly 0.5
    assert egx.score_regions(found, truth)["tp"] == 1
    assert egx.score_regions(found, truth, iou=0.51)["tp"] == 0
    for bad in (0, 1.5, "0.5", None):
        with pytest.raises(egx.LabelError, match="iou must be"):
            egx.match_regions(found, truth, iou=bad)


def test_boxes_or_geometries():
    ell = Polygon([(0, 0), (10, 0), (10, 2), (2, 2), (2, 10), (0, 10)])  # an L: 36 of its box's 100
    found = _found([box(0, 0, 10, 10)], [0.9], crs=None)
    assert egx.score_regions(found, [ell], by="box")["tp"] == 1
    m = egx.match_regions(found, [ell], by="geometry")
    assert not m["match"].iloc[0] and egx.score_regions(found, [ell], by="geometry", iou=0.3)["tp"] == 1
    with pytest.raises(egx.LabelError, match="by must be"):
        egx.match_regions(found, [ell], by="mask")


def test_truth_in_another_crs_is_reprojected():
    truth = gpd.GeoDataFrame(geometry=[_utm(0, 0, 20, 20)], crs=UTM).to_crs("EPSG:4326")
    found = _found([_utm(0, 0, 20, 20)], [0.9])
    s = egx.score_regions(found, truth)
    assert s["tp"] == 1
    assert egx.match_regions(found, truth)["iou"].iloc[0] == pytest.approx(1.0, abs=1e-3)


def test_a_missing_crs_on_one_side_is_refused():
    found = _found([_utm(0, 0, 20, 20)], [0.9])
    with pytest.raises(egx.CRSError, match="set_crs"):
        egx.score_regions(found, gpd.GeoDataFrame(geometry=[_utm(0, 0, 20, 20)]))
    with pytest.raises(egx.CRSError, match="found has no CRS"):
        egx.score_regions(_found([box(0, 0, 5, 5)], [0.9], crs=None), gpd.GeoDataFrame(geometry=[box(0, 0, 5, 5)], crs=UTM))


def test_unusable_labels_are_refused():
    found = _found([_utm(0, 0, 20, 20)], [0.9])
    bowtie = Polygon([(0, 0), (10, 10), (10, 0), (0, 10)])
    for truth in ([bowtie], gpd.GeoDataFrame(geometry=[None], crs=UTM), [box(0, 0, 0, 5)]):
        with pytest.raises(egx.LabelError, match="make_valid"):
            egx.score_regions(found, truth)
    with pytest.raises(egx.LabelError, match="buffer"):
        egx.score_regions(found, [_utm(5, 5, 6, 6).centroid])  # point labels: say how to use them
    with pytest.raises(egx.LabelError, match="GeoDataFrame"):
        egx.score_regions(found, np.zeros((2, 4)))


def test_empty_sides_give_nan_where_undefined():
    nothing = _found([], [])
    s = egx.score_regions(nothing, [_utm(0, 0, 10, 10)])
    assert math.isnan(s["precision"]) and s["recall"] == 0.0 and s["f1"] == 0.0 and s["fn"] == 1
    s = egx.score_regions(_found([_utm(0, 0, 10, 10)], [0.9]), gpd.GeoDataFrame(geometry=[], crs=UTM))
    assert s["precision"] == 0.0 and math.isnan(s["recall"]) and s["f1"] == 0.0
    s = egx.score_regions(nothing, gpd.GeoDataFrame(geometry=[], crs=UTM))
    assert all(math.isnan(s[k]) for k in ("precision", "recall", "f1"))


def test_matches_of_several_scenes_concatenate():
    import pandas as pd

    truth = [_utm(0, 0, 10, 10)]
    both = pd.concat([egx.match_regions(_found([], []), truth), egx.match_regions(_found([_utm(0, 0, 10, 10)], [0.9]), truth)],
                     ignore_index=True)
    assert both["match"].dtype == bool and both["iou"].dtype == float
    assert list(both[both["match"]]["truth"]) == [0]


def test_an_answer_is_scored_on_its_regions(optical_tif, fake_engine):
    da = egx.open_raster(optical_tif)
    ans = da.egx.ground("thing", level="scene")  # the test double finds one box in the view's upper left
    truth = gpd.GeoDataFrame(geometry=[ans.regions.geometry.iloc[0].envelope], crs=da.rio.crs)
    assert egx.score_regions(ans, truth)["tp"] == 1
    assert egx.match_regions(ans, truth)["match"].all()


def test_rates_pool_the_counts_of_several_scores():
    from egx_notebook.scoring import rates

    assert rates(3, 1, 2) == {"precision": 0.75, "recall": 0.6, "f1": 6 / 9, "tp": 3, "fp": 1, "fn": 2}
    nothing_found = rates(0, 0, 4)
    assert math.isnan(nothing_found["precision"]) and nothing_found["recall"] == 0 and nothing_found["f1"] == 0
    assert all(math.isnan(rates(0, 0, 0)[k]) for k in ("precision", "recall", "f1"))
