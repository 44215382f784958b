"""HIT-UAV thermal drone images (COCO-like JSON with quirks)."""
from __future__ import annotations

import json
from pathlib import Path

from .geometry import clip_box
from .records import DatasetFormatError, ImageRecord, ObjectRecord

__all__ = ["HITUAV_LABELS", "parse_hituav_name", "read_hit_uav"]

#: HIT-UAV category name -> canonical label (None = ignored)
HITUAV_LABELS = {"Person": "person", "Car": "car", "Bicycle": "bicycle", "OtherVehicle": "vehicle", "DontCare": None}


def parse_hituav_name(filename: str) -> dict:
    """Facts encoded in a HIT-UAV file name ``<daynight>_<altitude>_<angle>_<?>_<frame>.jpg``.

    ``daynight`` 0 is day and 1 is night (daytime frames show the higher thermal
    contrast of sun-heated surfaces). Unparseable names give an empty dict.
    """
    parts = Path(filename).stem.split("_")
    if len(parts) < 3 or not all(p.isdigit() for p in parts[:3]):
        return {}
    return {"daynight": "day" if parts[0] == "0" else "night", "altitude_m": float(parts[1]),
            "angle_deg": float(parts[2])}


def read_hit_uav(data_root: Path, split: str) -> list[ImageRecord]:
    """Read ``thermal/hit-uav/annotations/<split>.json``.

    Quirks handled: annotations under ``"annotation"`` (or ``"annotations"``),
    image file under ``"filename"`` (or ``"file_name"``), ``bbox`` as
    ``[x, y, w, h]``; DontCare boxes are kept aside in ``meta["ignore_boxes"]``;
    degenerate boxes are dropped.
    """
    data_root = Path(data_root)
    root = data_root / "thermal" / "hit-uav"
    path = root / "annotations" / f"{split}.json"
    if not path.is_file():
        raise DatasetFormatError(f"missing {path}")
    doc = json.loads(path.read_text())
    anns = doc.get("annotation", doc.get("annotations"))
    if anns is None or "images" not in doc or "categories" not in doc:
        raise DatasetFormatError(f"{path} lacks images/categories/annotation")
    cats = {}
    for c in doc["categories"]:
        if c["name"] not in HITUAV_LABELS:
            raise DatasetFormatError(f"unknown HIT-UAV category {c['name']!r} in {path}")
        cats[c["id"]] = HITUAV_LABELS[c["name"]]
    by_image: dict = {}
    for a in anns:
        by_image.setdefault(a["image_id"], []).append(a)
    records = []
    for img in doc["images"]:
        fn = img.get("filename", img.get("file_name"))
        if fn is None:
            raise DatasetFormatError(f"image entry without filename in {path}: {img}")
        rel = Path("thermal/hit-uav") / split / fn
        if not (data_root / rel).is_file():
            raise DatasetFormatError(f"HIT-UAV image {data_root / rel} is missing")
        w, h = int(img["width"]), int(img["height"])
        objects, ignore = [], []
        for a in by_image.get(img["id"], []):
            x, y, bw, bh = (float(v) for v in a["bbox"])
            box = clip_box([x, y, x + bw, y + bh], w, h)
            if box is None or box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            if a["category_id"] not in cats:
                raise DatasetFormatError(f"annotation {a.get('id')} in {path} has category_id {a['category_id']!r}, "
                                         f"which is not among the categories {sorted(cats)}")
            label = cats[a["category_id"]]
            if label is None:
                ignore.append(box)
            else:
                objects.append(ObjectRecord(label, box))
        meta = {"gsd_m": None, **parse_hituav_name(fn)}
        if ignore:
            meta["ignore_boxes"] = ignore
        records.append(ImageRecord("hit-uav", split, "infrared", rel.as_posix(), w, h, objects, None, meta))
    return records
