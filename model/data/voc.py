"""PASCAL VOC readers: SSDD (SAR ships) and NEPU-OWOD (optical oil wells)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from PIL import Image

from .geometry import clip_box
from .records import DatasetFormatError, ImageRecord, ObjectRecord
from .vocabulary import canonical_label

__all__ = ["read_voc", "read_ssdd", "read_nepu_owod"]


def _split_ids(root: Path, split: str) -> list[str]:
    path = root / "ImageSets" / "Main" / f"{split}.txt"
    if not path.is_file():
        raise DatasetFormatError(f"missing split file {path}; expected VOC ImageSets/Main/{split}.txt")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _int(node: ET.Element | None, tag: str) -> float | None:
    if node is None:
        return None
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        return None
    return float(child.text.strip())


def _image_file(root: Path, stem: str, filename: str | None) -> Path:
    folder = root / "JPEGImages"
    for name in ([filename] if filename else []) + [f"{stem}.jpg", f"{stem}.jpeg", f"{stem}.png"]:
        if (folder / name).is_file():
            return folder / name
    raise DatasetFormatError(f"no image for {stem!r} in {folder}")


def read_voc(data_root: Path, rel_dir: str, split: str, *, dataset: str, source: str,
             meta: dict | None = None) -> list[ImageRecord]:
    """Read one split of a VOC-layout dataset.

    VOC boxes are 1-based inclusive pixel indices; they become pixel-edge boxes
    ``[xmin - 1, ymin - 1, xmax, ymax]`` clipped to the image. Degenerate boxes
    are dropped. Sizes come from the XML, or from the image header when the XML
    has none.
    """
    data_root = Path(data_root)
    root = data_root / rel_dir
    records = []
    for stem in _split_ids(root, split):
        xml_path = root / "Annotations" / f"{stem}.xml"
        if not xml_path.is_file():
            raise DatasetFormatError(f"missing annotation {xml_path}")
        try:
            tree = ET.parse(xml_path).getroot()
        except ET.ParseError as exc:
            raise DatasetFormatError(f"cannot parse {xml_path}: {exc}") from exc
        fn = tree.findtext("filename")
        img_path = _image_file(root, stem, fn.strip() if fn else None)
        size = tree.find("size")
        width, height = _int(size, "width"), _int(size, "height")
        if not width or not height:
            with Image.open(img_path) as im:
                width, height = im.size
        width, height = int(width), int(height)
        objects = []
        for obj in tree.findall("object"):
            name = obj.findtext("name")
            bb = obj.find("bndbox")
            coords = [_int(bb, t) for t in ("xmin", "ymin", "xmax", "ymax")]
            if name is None or None in coords:
                continue
            box = clip_box([coords[0] - 1, coords[1] - 1, coords[2], coords[3]], width, height)
            if box is None or box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            objects.append(ObjectRecord(canonical_label(name), box))
        rec_meta = dict(meta or {})
        records.append(ImageRecord(dataset, split, source, img_path.relative_to(data_root).as_posix(),
                                   width, height, objects, None, rec_meta))
    return records


def read_ssdd(data_root: Path, split: str) -> list[ImageRecord]:
    """SSDD SAR ship chips (8-bit display JPEG); attaches the SL-SSDD sea/land mask when present."""
    records = read_voc(data_root, "sar/ssdd", split, dataset="ssdd", source="sar",
                       meta={"sar_scale": "display", "gsd_m": None})
    for rec in records:
        sl = Path("sar/ssdd/SeaLandMasks") / f"{rec.stem}.png"
        if (Path(data_root) / sl).is_file():
            rec.meta["sea_land_mask"] = sl.as_posix()
    return records


def read_nepu_owod(data_root: Path, split: str) -> list[ImageRecord]:
    """NEPU-OWOD optical oil wells (0.41 m ground sample distance)."""
    return read_voc(data_root, "optical/nepu-owod", split, dataset="nepu-owod", source="optical",
                    meta={"gsd_m": 0.41})
