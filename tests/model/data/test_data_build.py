"""build(): train/val/stats files, the recorded mix, and no val image in train."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from egx_data_fixtures import real_data_root, write_all

from egx_notebook.datasets import SAMPLE_SEEDS, UNSEEN_SEEDS_FROM
from egx_notebook.model.data.build import build, main, synthetic_size
from egx_notebook.model.data.synthetic import parse_synthetic_ref

TASKS = {"classify", "caption", "vqa", "refer", "region_caption", "relation", "ground", "segment"}


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("egx-build-data")
    write_all(root, seed=31)
    out = tmp_path_factory.mktemp("egx-build-out")
    logs = []
    stats = build(root, out, synthetic_per_source=40, seed=3, log=logs.append)
    return root, out, stats, logs


def test_build_writes_train_val_and_stats(built):
    _, out, stats, logs = built
    train, val = _rows(out / "train.jsonl"), _rows(out / "val.jsonl")
    assert json.loads((out / "stats.json").read_text()) == stats
    assert stats["totals"] == {"train": len(train), "val": len(val)}
    assert stats["datasets_used"] == sorted(["ssdd", "nepu-owod", "sirst-v2", "nudt-sirst", "hit-uav"])
    assert {s["split"] for s in train} == {"train"} and {s["split"] for s in val} == {"val"}
    assert {s["task"] for s in train} == TASKS
    assert len({s["id"] for s in train}) == len(train) and len({s["id"] for s in val}) == len(val)
    assert any(line.startswith("\ntrain") and "total" in line for line in logs)  # the printed mix table


def test_stats_record_the_mix(built):
    _, out, stats, _ = built
    for split in ("train", "val"):
        rows = _rows(out / f"{split}.jsonl")
        per: dict = {}
        for s in rows:
            key = "synthetic-colocated" if s.get("group") else s["dataset"]
            per.setdefault(key, Counter())[s["task"]] += 1
        assert stats[split] == {k: dict(v) for k, v in per.items()}
    train = _rows(out / "train.jsonl")
    n_syn = sum(s["dataset"] == "synthetic" for s in train)
    assert stats["synthetic_share_train"] == round(n_syn / len(train), 4)
    assert stats["per_source_train"] == dict(Counter(s["source"] for s in train))
    assert set(stats["train"]) == {"ssdd", "nepu-owod", "sirst-v2", "nudt-sirst", "hit-uav", "synthetic",
                                   "synthetic-colocated"}
    assert "nudt-sirst" not in stats["val"]  # only its train half exists
    # the documented mix: synthetic_per_source train samples per source, colocated half of that (whole groups)
    syn = Counter(s["source"] for s in train if s["dataset"] == "synthetic" and not s.get("group"))
    assert syn == {"optical": 40, "sar": 40, "infrared": 40}
    assert sum(stats["train"]["synthetic-colocated"].values()) >= 20


def test_no_val_image_appears_in_train(built):
    _, out, _, _ = built
    train_imgs = {s["image"] for s in _rows(out / "train.jsonl")}
    val_imgs = {s["image"] for s in _rows(out / "val.jsonl")}
    assert val_imgs and not train_imgs & val_imgs
    assert any(i.startswith("synthetic:") for i in val_imgs) and any(not i.startswith("synthetic:") for i in val_imgs)


def test_synthetic_scenes_include_larger_ones_grounded_whole_and_on_tiles(built):
    # The bundled sample scenes are 512 px, which da.egx.ground sees zoomed out: the
    # builder must train that view, not only 256-px scenes.
    _, out, _, _ = built
    rows = [s for s in _rows(out / "train.jsonl") if s["dataset"] == "synthetic" and not s.get("group")]
    sides = {s["image"]: max(parse_synthetic_ref(s["image"])[2]) for s in rows}
    assert set(sides.values()) & {256} and any(384 <= v <= 640 for v in sides.values())
    big = [s for s in rows if s["task"] == "ground" and sides[s["image"]] > 400]
    whole = [s for s in big if s.get("window") is None]
    tiles = [s for s in big if s.get("window") is not None]
    assert whole and tiles
    for s in tiles:
        x0, y0, x1, y1 = s["window"]
        assert 0 <= x0 < x1 <= sides[s["image"]] and 0 <= y0 < y1 <= sides[s["image"]]
    assert not any(s.get("window") is not None for s in rows if s["task"] == "ground" and sides[s["image"]] <= 400)


def _tile_sides(out):
    rows = [s for s in _rows(out / "train.jsonl") if s["task"] == "ground" and s.get("window") is not None
            and s["dataset"] == "synthetic" and not s.get("group")]
    return [(w[2] - w[0], w[3] - w[1], max(parse_synthetic_ref(s["image"])[2])) for s in rows for w in [s["window"]]]


def test_tiles_follow_the_tile_size(built, tmp_path):
    # da.egx.ground reads a larger raster through windows of the model's input side:
    # native-resolution tiles must have that side, zoomed-out ones up to twice it.
    _, out, stats, _ = built
    assert stats["args"]["tile_size"] == 256
    assert {(w, h) for w, h, _ in _tile_sides(out)} & {(256, 256)}
    stats = build(tmp_path / "absent", tmp_path / "o", synthetic_per_source=120, seed=3, log=lambda *_: None,
                  tile_size=320)
    assert stats["args"]["tile_size"] == 320
    sides = _tile_sides(tmp_path / "o")
    native = [(w, h) for w, h, _ in sides if (w, h) == (320, 320)]
    zoomed = [(w, h) for w, h, _ in sides if (w, h) != (320, 320)]
    assert native and zoomed
    windows = stats["ground_windows"]["train"]["synthetic"]  # what the stats record of the same rows
    assert (windows["native"], windows["zoomed"]) == (len(native), len(zoomed)) and windows["whole"] > 0
    assert all(320 < max(w, h) <= min(640, side) for w, h, side in sides if (w, h) in zoomed)


@pytest.mark.parametrize("bad", ["32", "4096"])
def test_cli_rejects_a_tile_size_no_model_has(tmp_path, capsys, bad):
    with pytest.raises(SystemExit):
        main(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--tile-size", bad])
    assert "--tile-size must be the model's input side" in capsys.readouterr().err
    with pytest.raises(ValueError, match="tile_size"):
        build(tmp_path, tmp_path / "o", synthetic_per_source=1, tile_size=int(bad), log=lambda *_: None)


def test_region_objects_per_class_is_recorded_and_refused_below_zero(tmp_path, capsys):
    root = tmp_path / "data"
    write_all(root, seed=31)
    quiet = dict(synthetic_per_source=0, seed=1, log=lambda *_: None)
    base = build(root, tmp_path / "a", **quiet)
    more = build(root, tmp_path / "b", region_per_class=4, **quiet)
    assert base["args"]["region_per_class"] == 0 and more["args"]["region_per_class"] == 4
    assert more["train"]["hit-uav"]["refer"] > base["train"]["hit-uav"]["refer"]
    for stats in (base, more):  # refer_classes counts the same referring rows by their class
        for split in ("train", "val"):
            for ds, counts in stats["refer_classes"][split].items():
                assert sum(counts.values()) == stats[split][ds]["refer"]
    assert "background" in base["refer_classes"]["train"]["hit-uav"]
    assert (more["refer_classes"]["train"]["hit-uav"]["bicycle"]
            > base["refer_classes"]["train"]["hit-uav"]["bicycle"])
    with pytest.raises(ValueError, match="region_per_class"):
        build(root, tmp_path / "c", region_per_class=-1, **quiet)
    with pytest.raises(SystemExit):
        main(["--data-root", str(root), "--out", str(tmp_path / "c"), "--region-objects-per-class", "-2"])
    assert "--region-objects-per-class must be >= 0" in capsys.readouterr().err


def test_bundled_sample_scenes_are_held_out_of_training(tmp_path):
    build(tmp_path / "absent", tmp_path / "out", synthetic_per_source=30, seed=0, log=lambda *_: None)
    seeds = {}
    for s in _rows(tmp_path / "out" / "train.jsonl"):
        if s["dataset"] == "synthetic" and not s.get("group"):
            source, seed, _, _ = parse_synthetic_ref(s["image"])
            seeds.setdefault(source, set()).add(seed)
    for source, seed in SAMPLE_SEEDS.items():
        assert seed not in seeds[source] and seed + 1 in seeds[source]


def test_unseen_seeds_are_in_no_sample_of_the_default_build(tmp_path):
    build(tmp_path / "absent", tmp_path / "out", synthetic_per_source=200, seed=0, log=lambda *_: None)
    seeds = [parse_synthetic_ref(s["image"])[1] for split in ("train", "val")
             for s in _rows(tmp_path / "out" / f"{split}.jsonl") if s["image"].startswith("synthetic:")]
    assert len(seeds) > 200 and max(seeds) >= 30_000_000  # co-registered validation scenes included
    assert max(seeds) < UNSEEN_SEEDS_FROM


def test_synthetic_size_is_a_function_of_the_seed():
    assert [synthetic_size(k) for k in range(50)] == [synthetic_size(k) for k in range(50)]
    assert {synthetic_size(k) for k in range(200)} - {256} and synthetic_size(0) in range(256, 641)


def test_build_is_deterministic(built, tmp_path):
    root, out, _, _ = built
    build(root, tmp_path, synthetic_per_source=40, seed=3, log=lambda *_: None)
    assert (tmp_path / "train.jsonl").read_bytes() == (out / "train.jsonl").read_bytes()
    assert (tmp_path / "val.jsonl").read_bytes() == (out / "val.jsonl").read_bytes()


def test_build_without_real_data_is_synthetic_only(tmp_path):
    logs = []
    stats = build(tmp_path / "absent", tmp_path / "out", synthetic_per_source=10, seed=0, log=logs.append)
    assert stats["datasets_used"] == [] and any("skipped" in line for line in logs)
    assert set(stats["train"]) == {"synthetic", "synthetic-colocated"}


def test_cli_rejects_negative_synthetic_count(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--data-root", str(tmp_path), "--out", str(tmp_path / "o"), "--synthetic-per-source", "-1"])
    assert "--synthetic-per-source must be >= 0" in capsys.readouterr().err


@pytest.mark.data
@pytest.mark.slow
def test_build_on_real_data_subset(tmp_path):
    root = real_data_root("sar/ssdd")
    stats = build(root, tmp_path, synthetic_per_source=20, seed=0, max_per_dataset=4, log=lambda *_: None)
    assert "ssdd" in stats["train"] and "ssdd" in stats["val"]
    train_imgs = {s["image"] for s in _rows(tmp_path / "train.jsonl")}
    val_imgs = {s["image"] for s in _rows(tmp_path / "val.jsonl")}
    assert not train_imgs & val_imgs


def test_native_tiles_add_native_grounding_windows_to_training_images_only(built, tmp_path, capsys):
    """``native_tiles`` adds native-resolution grounding windows of the real training images
    larger than a tile, leaves every other sample (and the validation split) as it was, and
    is recorded; a negative count is refused."""
    root, out, _, _ = built
    stats = build(root, tmp_path / "o", synthetic_per_source=40, seed=3, log=lambda *_: None, native_tiles=2)
    assert stats["args"]["native_tiles"] == 2
    before, after = _rows(out / "train.jsonl"), _rows(tmp_path / "o" / "train.jsonl")
    assert _rows(out / "val.jsonl") == _rows(tmp_path / "o" / "val.jsonl")
    old = {json.dumps(s, sort_keys=True) for s in before}
    added = [s for s in after if json.dumps(s, sort_keys=True) not in old]
    assert len(after) == len(before) + len(added) and added
    assert {s["task"] for s in added} == {"ground"} and "synthetic" not in {s["dataset"] for s in added}
    for s in added:
        x0, y0, x1, y1 = s["window"]
        assert x1 - x0 <= 256 and y1 - y0 <= 256 and min(x0, y0) >= 0
        for b in s["targets"]["boxes"]:  # boxes in window pixels
            assert 0 <= b[0] <= b[2] <= x1 - x0 and 0 <= b[1] <= b[3] <= y1 - y0
    with pytest.raises(SystemExit):
        main(["--data-root", str(root), "--out", str(tmp_path / "p"), "--native-tiles", "-1"])
    assert "--native-tiles must be >= 0" in capsys.readouterr().err
