"""load_sample: arrays, prompts and targets consistent with the JSONL sample."""

from __future__ import annotations

import numpy as np
import pytest
from egx_data_fixtures import write_all

from egx_notebook.model.data.geometry import crop, fill_boxes, fill_polygon, mask_to_box, rle_encode
from egx_notebook.model.data.instructions import make_samples, item_from_record, samples_for_scene
from egx_notebook.model.data.loading import SampleError, clear_cache, load_image, load_sample
from egx_notebook.model.data.readers import DATASETS, read_dataset
from egx_notebook.model.data.sirst import read_mask
from egx_notebook.model.data.synthetic import generate_layout, generate_scene

BANDS = {"optical": 3, "sar": 1, "infrared": 1}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("egx-load")
    write_all(r, seed=21)
    return r


@pytest.fixture(scope="module")
def loaded(root):
    rng = np.random.default_rng(22)
    out = []
    for name, spec in DATASETS.items():
        for split in spec.splits:
            for rec in read_dataset(name, root, split):
                item = item_from_record(rec, root, lambda p: read_mask(root / p))
                for _ in range(2):
                    for s in make_samples(item, rng):
                        out.append((rec, s, load_sample(s, root)))
    return out


def test_image_is_the_window_of_the_file(loaded, root):
    for rec, s, ld in loaded:
        full = load_image(rec.image, rec.source, root)
        assert full.shape == (BANDS[rec.source], rec.height, rec.width)
        assert ld["image"].dtype == np.float32 and ld["image"].flags.writeable
        assert np.array_equal(ld["image"], crop(full, s["window"]))
        assert ld["source"] == s["source"] and ld["sar_scale"] == s["sar_scale"]
        assert ld["conversation"] == s["conversation"]


def test_prompts_are_decoded_in_window_pixels(loaded):
    kinds = set()
    for _, s, ld in loaded:
        h, w = ld["image"].shape[-2:]
        assert len(ld["prompts"]) == len(s["prompts"])
        for p, q in zip(s["prompts"], ld["prompts"]):
            kinds.add(p["kind"])
            assert q["kind"] == p["kind"]
            if p["kind"] == "mask":
                assert q["mask"].dtype == bool and q["mask"].shape == (h, w)
                assert rle_encode(q["mask"]) == p["rle"]
            else:
                assert q == p
    assert kinds == {"point", "box", "polygon", "mask"}


def test_det_targets_and_masks_cover_the_objects(loaded):
    n = 0
    for rec, s, ld in loaded:
        tg = ld["targets"]
        if s["task"] != "ground":
            assert tg["mask"] is None
            continue
        h, w = ld["image"].shape[-2:]
        assert tg["boxes"].dtype == np.float32 and tg["boxes"].shape == (len(s["targets"]["boxes"]), 4)
        assert np.allclose(tg["boxes"], np.asarray(s["targets"]["boxes"]).reshape(-1, 4))
        assert tg["labels"] == s["targets"]["labels"]
        assert tg["mask"].dtype == bool and tg["mask"].shape == (h, w)
        if rec.mask_path:  # SIRST: the mask PNG itself, cropped
            assert s["targets"]["mask_from"] == "png"
            assert np.array_equal(tg["mask"], crop(read_mask_cached(rec), s["window"]))
        else:
            assert s["targets"]["mask_from"] == "boxes"
            assert np.array_equal(tg["mask"], fill_boxes(tg["boxes"].tolist(), h, w))
        grey = ld["image"].mean(axis=0)
        for b in tg["boxes"]:  # the painted objects are under the boxes, in window pixels
            x0, y0, x1, y1 = (int(round(v)) for v in b)
            assert grey[y0:y1, x0:x1].mean() > 150, (s["id"], b)
            assert tg["mask"][y0:y1, x0:x1].any()
        n += 1
    assert n > 20


_MASKS: dict = {}


def read_mask_cached(rec):
    return _MASKS[rec.mask_path]


@pytest.fixture(autouse=True, scope="module")
def _masks(root):
    for name in ("sirst-v2", "nudt-sirst"):
        for split in DATASETS[name].splits:
            for rec in read_dataset(name, root, split):
                _MASKS[rec.mask_path] = read_mask(root / rec.mask_path)


def test_seg_mask_is_the_prompted_object(loaded):
    n = 0
    for rec, s, ld in loaded:
        if s["task"] != "segment":
            assert ld["targets"]["seg_mask"] is None
            continue
        seg = ld["targets"]["seg_mask"]
        assert seg.dtype == bool and seg.shape == ld["image"].shape[-2:]
        # the mask's tight box is the object's box (integer boxes: exact)
        assert mask_to_box(seg) == pytest.approx(s["targets"]["seg_box"], abs=0.01)
        assert ld["image"].mean(axis=0)[seg].mean() > 150
        if rec.mask_path:  # a component of the PNG, not its box
            assert s["targets"]["mask_from"] == "component"
            full = crop(read_mask_cached(rec), s["window"])
            assert not (seg & ~full).any()
        n += 1
    assert n > 20


@pytest.mark.parametrize("source", ["optical", "sar", "infrared"])
def test_synthetic_samples_load_with_exact_object_masks(source):
    rng = np.random.default_rng(23)
    n_seg = n_det = 0
    for seed in range(4):
        layout = generate_layout(source, seed)
        scene = generate_scene(source, seed)
        masks = [o["mask"] for o in scene.objects]
        for s in samples_for_scene(layout, rng):
            ld = load_sample(s, "/nonexistent")  # synthetic samples need no data root
            assert ld["image"].shape == (3 if source == "optical" else (2 if source == "sar" else 1),
                                         *_win_hw(s, scene))
            if s["task"] == "segment":
                seg = ld["targets"]["seg_mask"]
                assert any(np.array_equal(seg, crop(m, s["window"])) for m in masks)
                n_seg += 1
            if s["task"] == "ground" and s["window"] is None:
                want = [m for m, o in zip(masks, scene.objects) if o["label"] in s["targets"]["labels"]]
                union = np.any(want, axis=0) if want else np.zeros(scene.size, bool)
                assert np.array_equal(ld["targets"]["mask"], union)
                n_det += 1
    assert n_det > 0 and (n_seg > 0 or source == "infrared")


def _win_hw(s, scene):
    if s["window"] is None:
        return scene.size
    x0, y0, x1, y1 = s["window"]
    return (y1 - y0, x1 - x0)


def test_polygon_mask_prompts_use_pixel_edges(root):
    s = _minimal_sample(root)
    s["prompts"] = [{"kind": "mask", "polygon": [[2, 2], [6, 2], [6, 5], [2, 5]]}]
    m = load_sample(s, root)["prompts"][0]["mask"]
    assert m.sum() == 12 and mask_to_box(m) == [2.0, 2.0, 6.0, 5.0]
    tri = fill_polygon([[[0, 0], [10, 0], [0, 10]]], 10, 10)
    assert tri.sum() == 45 and tri[0, 0] and not tri[9, 9]


def _minimal_sample(root) -> dict:
    rec = read_dataset("ssdd", root, "train")[0]
    return {"id": "t/0", "dataset": "ssdd", "split": "train", "source": "sar", "sar_scale": "display",
            "image": rec.image, "window": [0, 0, 40, 30], "task": "refer", "prompts": [],
            "conversation": [{"user": "What is this?", "assistant": "This is a ship."}],
            "targets": {"boxes": [], "labels": [], "mask": None, "mask_from": None, "seg_box": None}}


def test_bad_samples_raise_sample_error(root):
    clear_cache()
    s = _minimal_sample(root)
    with pytest.raises(SampleError, match="check --data-root"):
        load_sample(dict(s, image="sar/ssdd/JPEGImages/missing.jpg"), root)
    with pytest.raises(SampleError, match="outside"):
        load_sample(dict(s, window=[0, 0, 4000, 30]), root)
    with pytest.raises(SampleError, match="unknown prompt kind"):
        load_sample(dict(s, prompts=[{"kind": "lasso"}]), root)
    with pytest.raises(SampleError, match="window is"):
        load_sample(dict(s, prompts=[{"kind": "mask", "rle": rle_encode(np.ones((5, 5), bool))}]), root)
    seg = dict(s, task="segment", conversation=[{"user": "Segment this.", "assistant": "[SEG]"}])
    with pytest.raises(SampleError, match="seg_box"):
        load_sample(seg, root)
    with pytest.raises(SampleError, match="SampleError|mask"):
        load_sample(dict(seg, targets=dict(s["targets"], seg_box=[1, 1, 5, 5], mask="nope.png",
                                           mask_from="component")), root)
