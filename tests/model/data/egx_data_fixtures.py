"""Tiny seeded datasets in the real on-disk formats (VOC, SIRST masks, HIT-UAV JSON), written by code.

Each writer returns the ground truth it wrote, in pixel-edge image coordinates, so that tests
compare the readers' output against what the files really say.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

#: where the real datasets live (DATA.md); EGX_DATA_ROOT overrides
REAL_DATA_ROOT = Path(os.environ.get("EGX_DATA_ROOT", Path(__file__).resolve().parents[3].parent / "shared" / "data"))


def real_data_root(folder: str) -> Path:
    """The real data root when ``folder`` exists under it, else skip the calling test with a reason."""
    import pytest

    if not (REAL_DATA_ROOT / folder).is_dir():
        pytest.skip(f"real dataset {REAL_DATA_ROOT / folder} is absent (see ../shared/data/DATA.md)")
    return REAL_DATA_ROOT


def _save_grey(path: Path, a: np.ndarray, rgb: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(a.astype(np.uint8))
    (im.convert("RGB") if rgb else im).save(path)


def write_voc(root: Path, rel_dir: str, class_name: str, seed: int, *, n_train: int = 3, n_val: int = 2,
              size: tuple[int, int] = (120, 96), with_size: bool = True) -> dict[str, list]:
    """A VOC dataset: JPEGImages/, Annotations/*.xml (1-based inclusive bndbox), ImageSets/Main/{train,val}.txt.

    Returns ``{stem: [[x0, y0, x1, y1] pixel-edge boxes]}``. Image 0 of train has a box touching the
    image's top-left corner (xmin = ymin = 1) and one touching the bottom-right corner (xmax = width).
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / rel_dir
    w, h = size
    truth: dict[str, list] = {}
    splits = {"train": [f"{i:06d}" for i in range(n_train)], "val": [f"{100 + i:06d}" for i in range(n_val)]}
    for split, stems in splits.items():
        (base / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
        (base / "ImageSets" / "Main" / f"{split}.txt").write_text("".join(s + "\n" for s in stems))
        for k, stem in enumerate(stems):
            img = (rng.random((h, w)) * 40).astype(np.uint8)
            boxes_1based = []
            if split == "train" and k == 0:
                boxes_1based += [(1, 1, 10, 8), (w - 11, h - 7, w, h)]
            for _ in range(int(rng.integers(1, 4))):
                x0, y0 = int(rng.integers(15, w - 30)), int(rng.integers(15, h - 30))
                boxes_1based.append((x0, y0, x0 + int(rng.integers(4, 14)), y0 + int(rng.integers(4, 14))))
            objs = []
            for xmin, ymin, xmax, ymax in boxes_1based:
                img[ymin - 1:ymax, xmin - 1:xmax] = 230
                objs.append(f"<object><name>{class_name}</name><pose>Unspecified</pose><truncated>0</truncated>"
                            f"<difficult>0</difficult><bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin>"
                            f"<xmax>{xmax}</xmax><ymax>{ymax}</ymax></bndbox></object>")
            # an object without a bndbox (seen in hand-edited files) must be skipped
            objs.append(f"<object><name>{class_name}</name></object>")
            size_xml = f"<size><width>{w}</width><height>{h}</height><depth>1</depth></size>" if with_size else ""
            xml = (f'<?xml version="1.0" ?><annotation verified="no"><folder>JPEGImages</folder>'
                   f"<filename>{stem}.jpg</filename>{size_xml}<segmented>0</segmented>{''.join(objs)}</annotation>")
            (base / "Annotations").mkdir(parents=True, exist_ok=True)
            (base / "Annotations" / f"{stem}.xml").write_text(xml)
            _save_grey(base / "JPEGImages" / f"{stem}.jpg", img, rgb=True)  # grey stored as RGB, like SSDD
            truth[stem] = [[x0 - 1.0, y0 - 1.0, float(x1), float(y1)] for x0, y0, x1, y1 in boxes_1based]
    return truth


def sirst_mask(seed: int, size: tuple[int, int] = (64, 80), n: int = 3) -> tuple[np.ndarray, list[list[float]]]:
    """A boolean target mask with ``n`` separated blobs (1 px to 5 x 4 px) and their pixel-edge boxes."""
    rng = np.random.default_rng(seed)
    h, w = size
    m = np.zeros((h, w), bool)
    boxes = []
    for k in range(n):
        bw, bh = (1, 1) if k == 0 else (int(rng.integers(2, 6)), int(rng.integers(2, 5)))
        x0 = 4 + k * (w - 8) // max(1, n)
        y0 = int(rng.integers(2, h - bh - 2))
        m[y0:y0 + bh, x0:x0 + bw] = True
        boxes.append([float(x0), float(y0), float(x0 + bw), float(y0 + bh)])
    return m, boxes


def write_sirst_v2(root: Path, seed: int) -> dict[str, list]:
    """SIRST-v2 layout: images/targets, images/backgrounds, masks/<id>.png (0/255), splits/{train,val}.txt.

    Train: two target images (one RGB-encoded) and one background; val: one target image and one
    background. Returns ``{stem: boxes}`` (empty for backgrounds).
    """
    base = Path(root) / "ir" / "sirst-v2"
    rng = np.random.default_rng(seed)
    truth: dict[str, list] = {}
    layout = {"train": [("Misc_1", "targets", 3), ("Misc_2", "targets", 2), ("bg_1", "backgrounds", 0)],
              "val": [("Misc_10", "targets", 1), ("bg_2", "backgrounds", 0)]}
    for split, items in layout.items():
        (base / "splits").mkdir(parents=True, exist_ok=True)
        (base / "splits" / f"{split}.txt").write_text("".join(s + "\n" for s, _, _ in items))
        for i, (stem, scene, n) in enumerate(items):
            m, boxes = sirst_mask(seed + i + 10 * len(truth), n=n) if n else (np.zeros((64, 80), bool), [])
            img = (60 + rng.random(m.shape) * 30).astype(np.uint8)
            img[m] = 250
            _save_grey(base / "images" / scene / f"{stem}.png", img, rgb=(stem == "Misc_2"))
            _save_grey(base / "masks" / f"{stem}.png", m.astype(np.uint8) * 255)
            truth[stem] = boxes
    return truth


def write_nudt_sirst(root: Path, seed: int, n: int = 3) -> dict[str, list]:
    """NUDT-SIRST layout: images/<id>.png, masks/<id>.png, splits/train.txt (no val split)."""
    base = Path(root) / "ir" / "nudt-sirst"
    truth: dict[str, list] = {}
    stems = [f"{i + 1:06d}" for i in range(n)]
    (base / "splits").mkdir(parents=True, exist_ok=True)
    (base / "splits" / "train.txt").write_text("\n".join(stems) + "\n")
    for i, stem in enumerate(stems):
        m, boxes = sirst_mask(seed + i, n=1 + i % 3)
        img = (np.random.default_rng(seed + i).random(m.shape) * 90).astype(np.uint8)
        img[m] = 255
        _save_grey(base / "images" / f"{stem}.png", img)
        _save_grey(base / "masks" / f"{stem}.png", m.astype(np.uint8) * 255)
        truth[stem] = boxes
    return truth


HITUAV_CATEGORIES = [{"supercategory": "Person", "id": 0, "name": "Person"},
                     {"supercategory": "Vehicle", "id": 1, "name": "Car"},
                     {"supercategory": "Vehicle", "id": 2, "name": "Bicycle"},
                     {"supercategory": "Vehicle", "id": 3, "name": "OtherVehicle"},
                     {"supercategory": "DontCare", "id": 4, "name": "DontCare"}]
_HIT_LABELS = {0: "person", 1: "car", 2: "bicycle", 3: "vehicle"}


def write_hit_uav(root: Path, seed: int, size: tuple[int, int] = (160, 128)) -> dict[str, dict]:
    """HIT-UAV layout: annotations/{train,val}.json with the real quirks, images under train/ and val/.

    Quirks: top-level ``"annotation"``, image key ``"filename"``, ``bbox`` ``[x, y, w, h]``, category
    id 0 for Person, DontCare boxes. Returns ``{filename: {"objects": [(label, box)], "ignore": [box]}}``.
    """
    rng = np.random.default_rng(seed)
    base = Path(root) / "thermal" / "hit-uav"
    w, h = size
    truth: dict[str, dict] = {}
    ann_id = 1
    names = {"train": ["0_60_30_0_00001.jpg", "1_110_90_0_00002.jpg"], "val": ["0_80_60_0_00003.jpg"]}
    img_id = 0
    for split, files in names.items():
        doc = {"info": {}, "licenses": [], "images": [], "categories": HITUAV_CATEGORIES, "annotation": []}
        for fn in files:
            img_id += 1
            doc["images"].append({"filename": fn, "height": h, "width": w, "id": img_id, "date_captured": "20210101"})
            img = (rng.random((h, w)) * 60).astype(np.uint8)
            t = {"objects": [], "ignore": []}
            for k, cat in enumerate([0, 0, 1, 2, 3, 4]):
                bw, bh = int(rng.integers(4, 12)), int(rng.integers(4, 12))
                x, y = 8 + k * 24, int(rng.integers(2, h - bh - 2))
                img[y:y + bh, x:x + bw] = 220
                doc["annotation"].append({"segmentation": [[x, y, x + bw, y, x + bw, y + bh, x, y + bh]],
                                          "area": bw * bh, "image_id": img_id, "bbox": [x, y, bw, bh],
                                          "category_id": cat, "id": ann_id})
                ann_id += 1
                box = [float(x), float(y), float(x + bw), float(y + bh)]
                (t["ignore"] if cat == 4 else t["objects"]).append(box if cat == 4 else (_HIT_LABELS[cat], box))
            # a degenerate box (zero width) must be dropped
            doc["annotation"].append({"segmentation": [], "area": 0, "image_id": img_id, "bbox": [5, 5, 0, 7],
                                      "category_id": 0, "id": ann_id})
            ann_id += 1
            _save_grey(base / split / fn, img)
            truth[fn] = t
        (base / "annotations").mkdir(parents=True, exist_ok=True)
        (base / "annotations" / f"{split}.json").write_text(json.dumps(doc))
    return truth


def write_all(root: Path, seed: int = 0) -> dict[str, dict]:
    """Every fixture dataset under one data root; returns the truth per dataset name."""
    return {"ssdd": write_voc(root, "sar/ssdd", "ship", seed),
            "nepu-owod": write_voc(root, "optical/nepu-owod", "oilwell", seed + 1, size=(700, 520)),  # tiles
            "sirst-v2": write_sirst_v2(root, seed + 2),
            "nudt-sirst": write_nudt_sirst(root, seed + 3),
            "hit-uav": write_hit_uav(root, seed + 4)}
