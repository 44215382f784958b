"""Procedural scenes: deterministic per seed, exact object masks, each source's physics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from egx_notebook.model.data.geometry import mask_to_box
from egx_notebook.model.data.synthetic import (COLOCATED_CLASSES, SOURCE_CLASSES, generate_colocated,
                                               generate_layout, generate_scene, parse_synthetic_ref,
                                               synthetic_ref)


@pytest.mark.parametrize("source", ["optical", "sar", "infrared"])
def test_same_seed_same_scene_other_seed_other_scene(source):
    a, b, c = generate_scene(source, 5), generate_scene(source, 5), generate_scene(source, 6)
    assert np.array_equal(a.image, b.image)
    assert [o["box"] for o in a.objects] == [o["box"] for o in b.objects]
    assert all(np.array_equal(x["mask"], y["mask"]) for x, y in zip(a.objects, b.objects))
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.float32 and np.isfinite(a.image).all()
    assert a.image.shape == ({"optical": 3, "sar": 2, "infrared": 1}[source], 256, 256)


@pytest.mark.parametrize("source", ["optical", "sar", "infrared"])
def test_layout_is_the_scene_without_pixels_and_boxes_are_tight(source):
    for seed in range(6):
        lay, sc = generate_layout(source, seed, (96, 128)), generate_scene(source, seed, (96, 128))
        assert lay.image is None and sc.size == (96, 128) and lay.kind == sc.kind
        assert [o["box"] for o in lay.objects] == [o["box"] for o in sc.objects]
        for o in sc.objects:
            assert o["label"] in SOURCE_CLASSES[source]
            assert o["mask"].shape == (96, 128) and mask_to_box(o["mask"]) == o["box"]
        # objects never overlap
        if len(sc.objects) > 1:
            assert np.sum([o["mask"] for o in sc.objects], axis=0).max() == 1


def _sar_scene(seed: int, kind: str):
    for s in range(seed, seed + 200):
        sc = generate_scene("sar", s, classes=("ship",))
        if sc.kind == kind and sc.objects:
            return sc
    raise AssertionError(f"no {kind} SAR scene with ships")


@pytest.mark.parametrize("kind", ["sea", "coast"])
def test_sar_has_speckle_and_bright_ships_on_dark_sea(kind):
    sc = _sar_scene(0, kind)
    vv = sc.image[0]
    ships = np.any([o["mask"] for o in sc.objects], axis=0)
    near = ndimage.binary_dilation(ships, iterations=12)
    land = sc.land_mask if sc.land_mask is not None else np.zeros(sc.size, bool)
    sea = ~land & ~near
    # speckle: intensity fluctuates like gamma noise of few looks (coefficient of variation >= ~0.5)
    patch = vv[sea]
    assert patch.std() / patch.mean() > 0.45
    # ships are far brighter than the sea around them
    assert np.median(vv[ships]) > 10 * np.median(vv[sea])
    assert np.all(sc.image >= 0)
    if kind == "coast":
        assert land.any() and np.median(vv[land & ~near]) > 2 * np.median(vv[sea])  # land clutter vs dark sea
        assert not (ships & land).any()  # ships only on water


def test_infrared_targets_are_hotter_than_their_surroundings():
    n = 0
    for seed in range(30):
        sc = generate_scene("infrared", seed)
        t = sc.image[0]
        for o in sc.objects:
            ring = ndimage.binary_dilation(o["mask"], iterations=4) & ~ndimage.binary_dilation(o["mask"], iterations=1)
            others = np.any([p["mask"] for p in sc.objects], axis=0)
            ring &= ~ndimage.binary_dilation(others, iterations=1)
            if o["label"] in ("small target", "person") and ring.any():
                assert t[o["mask"]].max() > np.median(t[ring]) + 2, (seed, o["label"])
                n += 1
    assert n > 10


def test_optical_is_reflectance():
    sc = generate_scene("optical", 3)
    assert sc.image.min() >= 0 and sc.image.max() <= 1 and sc.gsd_m is not None


def test_colocated_views_share_objects_and_grid():
    views = generate_colocated(7, (128, 160))
    opt = views["optical"]
    for src, sc in views.items():
        assert sc.source == src and sc.size == (128, 160) and sc.meta["colocated"]
        assert [o["box"] for o in sc.objects] == [o["box"] for o in opt.objects]
        assert {o["label"] for o in sc.objects} <= set(COLOCATED_CLASSES)
        assert sc.gsd_m == opt.gsd_m and np.array_equal(sc.land_mask, opt.land_mask)
    assert views["sar"].image.shape[0] == 2 and views["infrared"].image.shape[0] == 1


def test_class_and_count_controls():
    sc = generate_layout("optical", 1, n_objects=5, classes=("storage tank",))
    assert sc.objects and {o["label"] for o in sc.objects} == {"storage tank"} and len(sc.objects) <= 5
    assert generate_layout("sar", 1, n_objects=0).objects == []


def test_bad_arguments_raise_value_error():
    with pytest.raises(ValueError, match="source must be one of"):
        generate_scene("lidar", 0)
    with pytest.raises(ValueError, match="cannot hold"):
        generate_scene("sar", 0, classes=("person",))
    with pytest.raises(ValueError, match="unknown class"):
        generate_scene("optical", 0, classes=("unicorn",))
    with pytest.raises(ValueError, match="at least 32"):
        generate_scene("optical", 0, 16)
    with pytest.raises(ValueError, match="bad synthetic image reference"):
        parse_synthetic_ref("synthetic:lidar:1")


def test_synthetic_ref_round_trip():
    assert parse_synthetic_ref(synthetic_ref("sar", 12, 256)) == ("sar", 12, (256, 256), False)
    assert parse_synthetic_ref(synthetic_ref("infrared", 3, (96, 128), colocated=True)) == \
        ("infrared", 3, (96, 128), True)
