"""Dataset readers on tiny fixture datasets in each real format, and on the real data when present."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest
from egx_data_fixtures import real_data_root, write_hit_uav, write_nudt_sirst, write_sirst_v2, write_voc

from egx_notebook.model.data.geometry import component_boxes, fill_boxes, mask_to_box
from egx_notebook.model.data.hituav import parse_hituav_name, read_hit_uav
from egx_notebook.model.data.readers import DATASETS, available_datasets, read_dataset
from egx_notebook.model.data.records import DatasetFormatError
from egx_notebook.model.data.sirst import read_mask, read_nudt_sirst, read_sirst_v2
from egx_notebook.model.data.voc import read_nepu_owod, read_ssdd


# ----------------------------------------------------------------------------- VOC (SSDD, NEPU-OWOD)

def test_ssdd_voc_boxes_become_pixel_edges(tmp_path):
    truth = write_voc(tmp_path, "sar/ssdd", "ship", seed=1)
    for split, n in (("train", 3), ("val", 2)):
        recs = read_ssdd(tmp_path, split)
        assert len(recs) == n
        for r in recs:
            assert (r.dataset, r.split, r.source) == ("ssdd", split, "sar")
            assert r.meta["sar_scale"] == "display" and r.meta["gsd_m"] is None
            assert r.image == f"sar/ssdd/JPEGImages/{r.stem}.jpg" and (tmp_path / r.image).is_file()
            assert (r.width, r.height) == (120, 96)
            assert [o.label for o in r.objects] == ["ship"] * len(truth[r.stem])
            assert [o.box for o in r.objects] == truth[r.stem]  # the object without bndbox is skipped


def test_voc_corner_boxes_cover_the_annotated_pixels(tmp_path):
    """xmin=1 is the first column (edge 0) and xmax=width the last (edge width): the painted pixels."""
    write_voc(tmp_path, "sar/ssdd", "ship", seed=2)
    rec = read_ssdd(tmp_path, "train")[0]
    assert rec.objects[0].box == [0.0, 0.0, 10.0, 8.0]
    assert rec.objects[1].box == [rec.width - 12.0, rec.height - 8.0, float(rec.width), float(rec.height)]
    from PIL import Image
    img = np.asarray(Image.open(tmp_path / rec.image).convert("L")) > 150
    painted = fill_boxes([o.box for o in rec.objects], rec.height, rec.width)
    assert (img == painted).mean() > 0.99  # JPEG edges may blur a few pixels


def test_nepu_owod_maps_oilwell_and_knows_its_gsd(tmp_path):
    truth = write_voc(tmp_path, "optical/nepu-owod", "oilwell", seed=3, with_size=False)
    recs = read_nepu_owod(tmp_path, "train")
    assert len(recs) == 3 and all(r.source == "optical" and r.meta["gsd_m"] == 0.41 for r in recs)
    assert {o.label for r in recs for o in r.objects} == {"oil well"}
    assert all((r.width, r.height) == (120, 96) for r in recs)  # from the image header when the XML has no size
    assert [[o.box for o in r.objects] for r in recs] == [truth[r.stem] for r in recs]


def test_ssdd_attaches_sea_land_mask_when_present(tmp_path):
    write_voc(tmp_path, "sar/ssdd", "ship", seed=4)
    (tmp_path / "sar/ssdd/SeaLandMasks").mkdir(parents=True)
    from PIL import Image
    Image.fromarray(np.full((96, 120), 255, np.uint8)).save(tmp_path / "sar/ssdd/SeaLandMasks/000000.png")
    recs = read_ssdd(tmp_path, "train")
    assert recs[0].meta["sea_land_mask"] == "sar/ssdd/SeaLandMasks/000000.png"
    assert "sea_land_mask" not in recs[1].meta


def test_voc_errors_are_typed(tmp_path):
    with pytest.raises(DatasetFormatError, match="ImageSets/Main/train.txt"):
        read_ssdd(tmp_path, "train")
    write_voc(tmp_path, "sar/ssdd", "ship", seed=5)
    (tmp_path / "sar/ssdd/Annotations/000001.xml").write_text("<annotation><object>")
    with pytest.raises(DatasetFormatError, match="cannot parse"):
        read_ssdd(tmp_path, "train")


def test_voc_unknown_class_name_says_where_to_add_it(tmp_path):
    write_voc(tmp_path, "sar/ssdd", "submarine", seed=6)
    with pytest.raises(ValueError, match="vocabulary.py"):
        read_ssdd(tmp_path, "train")


# ----------------------------------------------------------------------------- SIRST-v2, NUDT-SIRST

def test_component_boxes_are_pixel_edge_boxes_of_8_connected_blobs():
    m = np.zeros((10, 12), bool)
    m[2, 3] = True                 # one pixel
    m[5:7, 5:9] = True             # 2 x 4 block
    m[7, 9] = True                 # diagonal neighbour: same component (8-connectivity)
    assert component_boxes(m) == [[3.0, 2.0, 4.0, 3.0], [5.0, 5.0, 10.0, 8.0]]
    assert mask_to_box(m) == [3.0, 2.0, 10.0, 8.0]
    assert mask_to_box(np.zeros((4, 4), bool)) is None


def test_sirst_v2_boxes_from_mask_components_and_backgrounds(tmp_path):
    truth = write_sirst_v2(tmp_path, seed=7)
    train = read_sirst_v2(tmp_path, "train")
    assert [r.stem for r in train] == ["Misc_1", "Misc_2", "bg_1"]
    for r in train + read_sirst_v2(tmp_path, "val"):
        assert r.source == "infrared" and r.mask_path == f"ir/sirst-v2/masks/{r.stem}.png"
        assert r.meta["scene"] == ("backgrounds" if r.stem.startswith("bg") else "targets")
        assert sorted(o.box for o in r.objects) == sorted(truth[r.stem])  # components come in scan order
        assert all(o.label == "small target" and o.mask_ref == "png" for o in r.objects)
        # every object box is the tight box of a component of the mask on disk
        m = read_mask(tmp_path / r.mask_path)
        assert m.shape == (r.height, r.width)
        assert sorted(component_boxes(m)) == sorted(o.box for o in r.objects)
    bg = [r for r in train if r.stem == "bg_1"][0]
    assert bg.objects == [] and bg.image == "ir/sirst-v2/images/backgrounds/bg_1.png"


def test_sirst_v2_single_pixel_target_has_a_one_pixel_box(tmp_path):
    write_sirst_v2(tmp_path, seed=8)
    rec = read_sirst_v2(tmp_path, "train")[0]
    sizes = sorted((b[2] - b[0], b[3] - b[1]) for b in (o.box for o in rec.objects))
    assert sizes[0] == (1.0, 1.0) and len(sizes) == 3


def test_sirst_errors_are_typed(tmp_path):
    write_sirst_v2(tmp_path, seed=9)
    (tmp_path / "ir/sirst-v2/masks/Misc_2.png").unlink()
    with pytest.raises(DatasetFormatError, match="missing mask"):
        read_sirst_v2(tmp_path, "train")
    (tmp_path / "ir/sirst-v2/splits/val.txt").write_text("nowhere\n")
    with pytest.raises(DatasetFormatError, match="neither images/targets nor images/backgrounds"):
        read_sirst_v2(tmp_path, "val")


def test_sirst_mask_size_mismatch_is_an_error(tmp_path):
    write_sirst_v2(tmp_path, seed=10)
    from PIL import Image
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "ir/sirst-v2/masks/Misc_1.png")
    with pytest.raises(DatasetFormatError, match="but image"):
        read_sirst_v2(tmp_path, "train")


def test_nudt_sirst_train_only(tmp_path):
    truth = write_nudt_sirst(tmp_path, seed=11)
    recs = read_nudt_sirst(tmp_path, "train")
    assert [r.stem for r in recs] == sorted(truth)
    assert all(sorted(o.box for o in r.objects) == sorted(truth[r.stem]) for r in recs)
    assert read_nudt_sirst(tmp_path, "val") == []
    assert read_dataset("nudt-sirst", tmp_path, "val") == []


# ----------------------------------------------------------------------------- HIT-UAV

def test_hit_uav_quirks_labels_and_dontcare(tmp_path):
    truth = write_hit_uav(tmp_path, seed=12)
    for split, n in (("train", 2), ("val", 1)):
        recs = read_hit_uav(tmp_path, split)
        assert len(recs) == n
        for r in recs:
            fn = r.image.rsplit("/", 1)[-1]
            assert r.image == f"thermal/hit-uav/{split}/{fn}" and (r.width, r.height) == (160, 128)
            assert r.source == "infrared"
            # bbox [x, y, w, h] -> [x, y, x + w, y + h]; Person has category id 0; degenerate box dropped
            assert [(o.label, o.box) for o in r.objects] == truth[fn]["objects"]
            assert r.meta["ignore_boxes"] == truth[fn]["ignore"]
            assert "DontCare" not in {o.label for o in r.objects} and None not in {o.label for o in r.objects}
    day = read_hit_uav(tmp_path, "train")[0]
    assert (day.meta["daynight"], day.meta["altitude_m"], day.meta["angle_deg"]) == ("day", 60.0, 30.0)
    assert read_hit_uav(tmp_path, "train")[1].meta["daynight"] == "night"


def test_hit_uav_name_parsing():
    assert parse_hituav_name("1_110_90_0_00002.jpg") == {"daynight": "night", "altitude_m": 110.0, "angle_deg": 90.0}
    assert parse_hituav_name("frame.jpg") == {}


def test_hit_uav_errors_are_typed(tmp_path):
    write_hit_uav(tmp_path, seed=13)
    path = tmp_path / "thermal/hit-uav/annotations/train.json"
    doc = json.loads(path.read_text())
    doc["annotation"][0]["category_id"] = 9
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match="category_id 9"):
        read_hit_uav(tmp_path, "train")
    doc["categories"].append({"id": 9, "name": "Tank"})
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match="unknown HIT-UAV category 'Tank'"):
        read_hit_uav(tmp_path, "train")
    del doc["annotation"]
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetFormatError, match="lacks"):
        read_hit_uav(tmp_path, "train")


def test_registry_finds_fixture_datasets(tmp_path):
    write_voc(tmp_path, "sar/ssdd", "ship", seed=14)
    write_hit_uav(tmp_path, seed=15)
    assert available_datasets(tmp_path) == ["ssdd", "hit-uav"]
    assert len(read_dataset("ssdd", tmp_path, "val")) == 2
    with pytest.raises(ValueError, match="unknown dataset"):
        read_dataset("dota", tmp_path, "train")


# ----------------------------------------------------------------------------- real data (DATA.md)

REAL_COUNTS = {("ssdd", "train"): 835, ("ssdd", "val"): 93, ("sirst-v2", "train"): 400, ("sirst-v2", "val"): 100,
               ("nudt-sirst", "train"): 663, ("hit-uav", "train"): 320, ("hit-uav", "val"): 100,
               ("nepu-owod", "train"): 160, ("nepu-owod", "val"): 40}
REAL_LABELS = {"ssdd": {"ship"}, "sirst-v2": {"small target"}, "nudt-sirst": {"small target"},
               "hit-uav": {"person", "car", "bicycle", "vehicle"}, "nepu-owod": {"oil well"}}


@pytest.mark.data
@pytest.mark.parametrize("name,split", sorted(REAL_COUNTS))
def test_real_dataset_counts_match_data_md(name, split):
    root = real_data_root(DATASETS[name].folder)
    recs = read_dataset(name, root, split)
    assert len(recs) == REAL_COUNTS[(name, split)]
    assert {o.label for r in recs for o in r.objects} <= REAL_LABELS[name]
    for r in recs:
        assert r.source == DATASETS[name].source and r.split == split
        for o in r.objects:
            x0, y0, x1, y1 = o.box
            assert 0 <= x0 < x1 <= r.width and 0 <= y0 < y1 <= r.height


@pytest.mark.data
def test_real_sirst_v2_backgrounds_are_target_free():
    root = real_data_root("ir/sirst-v2")
    recs = read_sirst_v2(root, "train") + read_sirst_v2(root, "val")
    bgs = [r for r in recs if r.meta["scene"] == "backgrounds"]
    assert bgs and all(not r.objects for r in bgs)
    assert all(r.objects for r in recs if r.meta["scene"] == "targets")


@pytest.mark.data
def test_real_hit_uav_labels_and_ignored_dontcare():
    root = real_data_root("thermal/hit-uav")
    recs = read_hit_uav(root, "train")
    labels = Counter(o.label for r in recs for o in r.objects)
    assert set(labels) == REAL_LABELS["hit-uav"] and labels["person"] > labels["car"] > labels["vehicle"]
    assert sum(len(r.meta.get("ignore_boxes", [])) for r in recs) > 0  # DontCare kept aside, not as objects


@pytest.mark.data
def test_real_splits_do_not_overlap():
    root = real_data_root("sar/ssdd")
    for name, spec in DATASETS.items():
        if name not in available_datasets(root) or "val" not in spec.splits:
            continue
        train = {r.image for r in read_dataset(name, root, "train")}
        val = {r.image for r in read_dataset(name, root, "val")}
        assert not train & val, name
