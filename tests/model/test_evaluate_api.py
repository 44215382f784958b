"""The public-API validation harness on fixture datasets, with a checkpoint that always grounds."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parents[1] / "core"))
sys.path.insert(0, str(Path(__file__).parent / "data"))

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def harness_run(tiny_checkpoint, tmp_path_factory):
    from core_checkpoints import steer_checkpoint
    from egx_data_fixtures import write_all

    import egx_notebook.engine as eng
    from egx_notebook.model.data.build import build
    from egx_notebook.model.evaluate_api import main

    tmp = tmp_path_factory.mktemp("harness")
    root, data = tmp / "root", tmp / "data"
    write_all(root, seed=5)
    build(root, data, synthetic_per_source=4, seed=1, log=lambda *_: None)
    ckpt = steer_checkpoint(tiny_checkpoint, tmp / "steered")
    out = tmp / "eval_api.json"
    try:
        main(["--checkpoint", str(ckpt), "--data", str(data), "--data-root", str(root), "--max-images", "2",
              "--max-region-samples", "2", "--ground-levels", "auto,scene,tiles", "--thresholds", "0,0.5,1.01",
              "--out", str(out)])
    finally:
        eng._ENGINE = None
    return json.loads(out.read_text())


def test_every_dataset_is_grounded_at_every_level(harness_run):
    for ds in ("ssdd", "nepu-owod", "hit-uav", "sirst-v2"):  # the fixture NUDT-SIRST has no val image
        assert 1 <= harness_run[f"ground/{ds}"]["images"] <= 2  # --max-images 2
        for tag in ("@scene", "@tiles"):
            assert harness_run[f"ground{tag}/{ds}"]["images"] == harness_run[f"ground/{ds}"]["images"]
    assert {"small_target/sirst-v2", "small_target@scene/sirst-v2", "small_target@tiles/sirst-v2"} <= set(harness_run)
    assert harness_run["_run"]["ground_levels"] == "auto,scene,tiles"


def test_threshold_sweep_filters_the_same_answers(harness_run):
    sweep = harness_run["threshold_sweep"]
    assert set(sweep) == {"auto", "scene", "tiles"}
    for level, tag in (("auto", ""), ("scene", "@scene"), ("tiles", "@tiles")):
        for ds, by_t in sweep[level].items():
            assert set(by_t) == {"0", "0.5", "1.01"}
            # the model answered at the lowest threshold, so keeping everything is the headline metric
            assert by_t["0"]["ground"] == harness_run[f"ground{tag}/{ds}"]
            found = [by_t[t]["ground"]["tp"] + by_t[t]["ground"]["fp"] for t in ("0", "0.5", "1.01")]
            if level != "auto":  # auto is asked again at each threshold (a second look over what it doubts)
                assert found == sorted(found, reverse=True)
            assert found[-1] == 0  # no score reaches 1.01
            if "small_target" in by_t["1.01"]:
                assert by_t["1.01"]["small_target"]["pd"] == 0.0
    assert sum(by_t["0"]["ground"]["tp"] + by_t["0"]["ground"]["fp"] for by_t in sweep["auto"].values()) > 0


def test_background_prompts_are_scored_apart_from_the_classes(harness_run):
    # the builder's "this is background" refer samples: scored only as refer_background, so a
    # model that names the class for every region cannot score well on them
    background = {k: v for k, v in harness_run.items() if k.startswith("refer_background/")}
    assert "refer_background/all" in background and len(background) >= 2
    per_dataset = [v for k, v in background.items() if k != "refer_background/all"]
    assert background["refer_background/all"]["samples"] == sum(v["samples"] for v in per_dataset)
    assert all(1 <= v["samples"] <= 2 for v in per_dataset)  # --max-region-samples 2, counted apart
    assert harness_run["refer/all"]["samples"] >= 1  # class prompts are still scored


def test_referring_confusion_counts_every_scored_prompt(harness_run):
    # one entry per refer prompt scored, class or background, per dataset
    for key, counts in harness_run.items():
        if not key.startswith("refer_confusion/"):
            continue
        ds = key.split("/", 1)[1]
        n_bg = harness_run.get(f"refer_background/{ds}", {}).get("samples", 0)
        n_cls = harness_run.get(f"refer/{ds}", {}).get("samples", 0)
        assert sum(counts.values()) == n_bg + n_cls
        assert sum(c for k, c in counts.items() if k.startswith("background->")) == n_bg
        right = sum(c for k, c in counts.items() if k.split("->")[0] == k.split("->")[1])
        assert right == round(harness_run[f"refer/{ds}"]["accuracy"] * n_cls) if n_cls else True
    assert any(k.startswith("refer_confusion/") for k in harness_run)


def test_grounding_images_yield_each_datasets_class_boxes(tmp_path):
    # the one walk over the validation images that evaluate_api and benchmarks/ground_errors.py share
    from egx_data_fixtures import write_all

    from egx_notebook.model.data.readers import read_dataset
    from egx_notebook.model.evaluate_api import DATASET_CLASS, grounding_images

    write_all(tmp_path, seed=5)
    seen: dict[str, int] = {}
    for ds, label, rec, truth, da in grounding_images(tmp_path, max_images=1):
        seen[ds] = seen.get(ds, 0) + 1
        assert label == DATASET_CLASS[ds]
        assert truth.shape == (sum(o.label == label for o in rec.objects), 4)
        assert da.attrs["egx_source"] == rec.source and da.sizes["x"] > 0
    assert seen == {ds: 1 for ds in ("ssdd", "nepu-owod", "hit-uav", "sirst-v2")}  # nudt-sirst: no val image
    assert len(list(read_dataset("ssdd", tmp_path, "val"))) > 1  # so max_images=1 did cut
    only = {ds for ds, *_ in grounding_images(tmp_path, datasets=("ssdd", "hit-uav"))}
    assert only == {"ssdd", "hit-uav"}


def test_grounding_images_draw_a_seeded_subset_of_any_split(tmp_path):
    # benchmarks/train_val_gap.py asks the same draw of training and validation images
    from egx_data_fixtures import write_all

    from egx_notebook.model.data.readers import read_dataset
    from egx_notebook.model.evaluate_api import grounding_images

    write_all(tmp_path, seed=5)
    train = [r.image for r in read_dataset("ssdd", tmp_path, "train")]
    assert len(train) > 2
    draw = lambda seed: [rec.image for _, _, rec, _, _ in grounding_images(  # noqa: E731
        tmp_path, max_images=2, datasets=("ssdd",), split="train", seed=seed)]
    assert draw(3) == draw(3) and len(draw(3)) == 2 and set(draw(3)) <= set(train)
    assert any(draw(s) != train[:2] for s in range(6))  # a draw, not the first images
    assert [rec.image for _, _, rec, _, _ in grounding_images(tmp_path, max_images=2, datasets=("ssdd",),
                                                               split="train")] == train[:2]
