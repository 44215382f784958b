"""egx.datasets: sample scenes on disk and their known objects."""

from __future__ import annotations

import rasterio

import egx_notebook as egx


def test_sample_scene_and_its_objects_share_the_crs(tmp_path):
    path = egx.datasets.sample_scene("sar", tmp_path / "sar.tif", seed=3, size=128)
    known = egx.datasets.sample_objects(path)
    with rasterio.open(path) as src:
        assert known.crs == src.crs
        bounds = src.bounds
    assert len(known) > 0 and set(known["label"]) <= {"ship", "airplane"}
    assert list(known["object"]) == list(range(1, len(known) + 1))
    minx, miny, maxx, maxy = known.total_bounds
    assert bounds.left <= minx < maxx <= bounds.right and bounds.bottom <= miny < maxy <= bounds.top


def test_a_scene_without_objects_keeps_the_columns(tmp_path):
    # seed 0 at 64 px places no ship; the frame must still have its columns and CRS, so
    # known[known["label"] == ...] and score_regions work on it
    path = egx.datasets.sample_scene("sar", tmp_path / "empty.tif", seed=0, size=64)
    known = egx.datasets.sample_objects(path)
    assert len(known) == 0
    assert {"object", "label", "geometry"} <= set(known.columns)
    with rasterio.open(path) as src:
        assert known.crs == src.crs
    assert len(known[known["label"] == "ship"]) == 0
