"""Infrared small-target readers with mask PNGs: SIRST-v2 and NUDT-SIRST."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from .geometry import component_boxes
from .records import DatasetFormatError, ImageRecord, ObjectRecord

__all__ = ["read_mask", "read_sirst_v2", "read_nudt_sirst"]


def read_mask(path: Path) -> np.ndarray:
    """Binary target mask of a PNG (any mode; > 127 is target)."""
    with Image.open(path) as im:
        a = np.asarray(im.convert("L"))
    return a > 127


def _split_ids(root: Path, split: str) -> list[str]:
    path = root / "splits" / f"{split}.txt"
    if not path.is_file():
        raise DatasetFormatError(f"missing split file {path}")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _record(data_root: Path, dataset: str, split: str, img: Path, mask: Path, scene: str | None) -> ImageRecord:
    if not mask.is_file():
        raise DatasetFormatError(f"missing mask {mask} for image {img}")
    m = read_mask(mask)
    with Image.open(img) as im:
        width, height = im.size
    if m.shape != (height, width):
        raise DatasetFormatError(f"mask {mask} is {m.shape[1]}x{m.shape[0]} but image {img} is {width}x{height}")
    objects = [ObjectRecord("small target", b, "png") for b in component_boxes(m)]
    meta = {"gsd_m": None}
    if scene:
        meta["scene"] = scene
    return ImageRecord(dataset, split, "infrared", img.relative_to(data_root).as_posix(), width, height,
                       objects, mask.relative_to(data_root).as_posix(), meta)


def read_sirst_v2(data_root: Path, split: str) -> list[ImageRecord]:
    """SIRST-v2: images/targets and images/backgrounds (target-free), masks/<id>.png, splits/<split>.txt."""
    data_root = Path(data_root)
    root = data_root / "ir" / "sirst-v2"
    out = []
    for stem in _split_ids(root, split):
        for scene in ("targets", "backgrounds"):
            hits = sorted((root / "images" / scene).glob(f"{stem}.*"))
            if hits:
                out.append(_record(data_root, "sirst-v2", split, hits[0], root / "masks" / f"{stem}.png", scene))
                break
        else:
            raise DatasetFormatError(f"SIRST-v2 image {stem!r} listed in {split}.txt is in neither images/targets nor images/backgrounds")
    return out


def read_nudt_sirst(data_root: Path, split: str) -> list[ImageRecord]:
    """NUDT-SIRST: images/<id>.png, masks/<id>.png, splits/train.txt (only the train half is here)."""
    data_root = Path(data_root)
    root = data_root / "ir" / "nudt-sirst"
    if not (root / "splits" / f"{split}.txt").is_file():
        return []
    out = []
    for stem in _split_ids(root, split):
        hits = sorted((root / "images").glob(f"{stem}.*"))
        if not hits:
            raise DatasetFormatError(f"NUDT-SIRST image {stem!r} listed in {split}.txt is missing")
        out.append(_record(data_root, "nudt-sirst", split, hits[0], root / "masks" / f"{stem}.png", None))
    return out
