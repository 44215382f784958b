"""Turn a JSONL sample into the arrays ``EgxProcessor.collate`` consumes.

A loaded sample is::

    {"image": float32 (C, H, W) cropped to the window (NaN = nodata),
     "source": str, "sar_scale": "display" | "linear" | "db" | None,
     "prompts": [prompt dicts in window pixels; masks as {"kind": "mask", "mask": bool (H, W)}],
     "conversation": [{"user": str, "assistant": str}, ...],
     "targets": {"boxes": float32 (N, 4) window pixels, "labels": [str],
                 "mask": bool (H, W) or None,       # grounding ([DET]) mask
                 "seg_mask": bool (H, W) or None,   # referring segmentation ([SEG]) mask
                 "region_labels": [str]}}           # class of each prompted region, if known

Decoded images are kept in a small LRU cache.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
from PIL import Image
from scipy import ndimage

from .geometry import box_iou, clip_box, crop, fill_boxes, fill_polygon, mask_to_box, rle_decode
from .synthetic import SyntheticScene, generate_colocated, generate_scene, parse_synthetic_ref

__all__ = ["SampleError", "load_sample", "load_image", "iter_texts", "clear_cache"]


class SampleError(ValueError):
    """A sample cannot be loaded: missing file, window outside the image, bad prompt."""


def _decode(path: Path, source: str) -> np.ndarray:
    if not path.is_file():
        raise SampleError(f"image {path} does not exist; check --data-root")
    with Image.open(path) as im:
        im.load()
        if im.mode in ("I;16", "I", "F"):
            a = np.asarray(im, np.float32)[None]
        else:
            a = np.asarray(im.convert("RGB") if im.mode not in ("L", "RGB") else im)
            a = a.astype(np.float32)
            a = a[None] if a.ndim == 2 else np.moveaxis(a, -1, 0)
    if source == "optical":
        return np.repeat(a, 3, axis=0) if a.shape[0] == 1 else a[:3]
    if a.shape[0] == 1:
        return a
    # SAR / infrared stored as RGB: grey copies -> one band; colour-mapped -> luminance
    if np.array_equal(a[0], a[1]) and np.array_equal(a[0], a[2]):
        return a[:1]
    return (0.299 * a[0] + 0.587 * a[1] + 0.114 * a[2])[None].astype(np.float32)


@lru_cache(maxsize=48)
def _cached_file(path: str, source: str) -> np.ndarray:
    a = _decode(Path(path), source)
    a.setflags(write=False)
    return a


@lru_cache(maxsize=48)
def _cached_scene(ref: str) -> SyntheticScene:
    source, seed, size, colocated = parse_synthetic_ref(ref)
    return generate_colocated(seed, size)[source] if colocated else generate_scene(source, seed, size)


@lru_cache(maxsize=48)
def _cached_mask(path: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise SampleError(f"mask {p} does not exist; check --data-root")
    with Image.open(p) as im:
        m = np.asarray(im.convert("L")) > 127
    m.setflags(write=False)
    return m


def clear_cache() -> None:
    """Forget cached images, scenes and masks."""
    _cached_file.cache_clear()
    _cached_scene.cache_clear()
    _cached_mask.cache_clear()


def load_image(ref: str, source: str, data_root: Path) -> np.ndarray:
    """Whole decoded image (C, H, W) float32 of a sample's ``image`` reference (read-only, cached)."""
    if ref.startswith("synthetic:"):
        img = _cached_scene(ref).image
        img.setflags(write=False)
        return img
    return _cached_file(str(Path(data_root) / ref), source)


def _prompt(p: dict, h: int, w: int) -> dict:
    kind = p.get("kind")
    if kind == "mask":
        if "rle" in p:
            m = rle_decode(p["rle"])
        elif "polygon" in p:  # pixel-edge vertices: the pixels whose centre is inside
            m = fill_polygon([p["polygon"], *p.get("holes", [])], h, w)
        else:
            raise SampleError(f"mask prompt needs 'rle' or 'polygon': {sorted(p)}")
        if m.shape != (h, w):
            raise SampleError(f"mask prompt is {m.shape}, window is {(h, w)}")
        return {"kind": "mask", "mask": m}
    if kind in ("point", "box", "polygon"):
        return dict(p)
    raise SampleError(f"unknown prompt kind {kind!r}")


def _component_mask(full: np.ndarray, seg_box: list[float]) -> np.ndarray:
    """The connected component(s) of ``full`` that overlap ``seg_box`` most."""
    lab, n = ndimage.label(full, structure=np.ones((3, 3), bool))
    h, w = full.shape
    inside = lab[fill_boxes([seg_box], h, w)]
    ids, counts = np.unique(inside[inside > 0], return_counts=True)
    if ids.size == 0:
        return np.zeros_like(full)
    return lab == ids[np.argmax(counts)]


def _scene_mask(scene: SyntheticScene, window, box: list[float]) -> np.ndarray:
    """Mask (in window pixels) of the scene object that best matches ``box`` (window pixels)."""
    best, best_iou = None, 0.0
    for o in scene.objects:
        m = crop(o["mask"], window)
        b = mask_to_box(m)
        if b is None:
            continue
        iou = box_iou(b, box)
        if iou > best_iou:
            best, best_iou = m, iou
    if best is not None and best_iou > 0.3:
        return best.copy()
    h, w = crop(scene.land_mask if scene.land_mask is not None else np.zeros(scene.size, bool), window).shape
    return fill_boxes([box], h, w)


def load_sample(sample: dict, data_root: Path) -> dict:
    """Decode one JSONL sample into arrays (see the module docstring).

    Raises
    ------
    SampleError
        Missing image or mask file, a window outside the image, a bad prompt.
    """
    ref, source = sample["image"], sample["source"]
    full = load_image(ref, source, data_root)
    _, H, W = full.shape
    win = sample.get("window")
    if win is not None:
        x0, y0, x1, y1 = (int(v) for v in win)
        if not (0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H):
            raise SampleError(f"window {win} is outside the {W}x{H} image of sample {sample.get('id')}")
        win = [x0, y0, x1, y1]
    image = np.array(crop(full, win), dtype=np.float32)
    h, w = image.shape[-2:]
    prompts = [_prompt(p, h, w) for p in sample.get("prompts", [])]
    conv = [dict(t) for t in sample["conversation"]]
    tg = sample.get("targets") or {}
    boxes = np.asarray(tg.get("boxes") or [], np.float32).reshape(-1, 4)
    labels = list(tg.get("labels") or [])
    answer = " ".join(t["assistant"] for t in conv)
    mask = seg_mask = None
    mask_from = tg.get("mask_from")
    scene = _cached_scene(ref) if ref.startswith("synthetic:") else None
    if "[DET]" in answer:
        if mask_from == "png" and tg.get("mask"):
            mask = np.array(crop(_cached_mask(str(Path(data_root) / tg["mask"])), win), bool)
        elif mask_from == "scene" and scene is not None:
            mask = np.zeros((h, w), bool)
            for b in boxes:
                m = _scene_mask(scene, win, b.tolist())
                if m is not None:
                    mask |= m
        else:
            mask = fill_boxes(boxes.tolist(), h, w)
    if "[SEG]" in answer:
        sb = tg.get("seg_box")
        if sb is None:
            raise SampleError(f"[SEG] sample {sample.get('id')} has no targets.seg_box")
        sb = clip_box(sb, w, h) or list(sb)
        if mask_from in ("component", "png") and tg.get("mask"):
            seg_mask = _component_mask(np.array(crop(_cached_mask(str(Path(data_root) / tg["mask"])), win)), sb)
        elif mask_from == "scene" and scene is not None:
            seg_mask = _scene_mask(scene, win, sb)
        else:
            seg_mask = fill_boxes([sb], h, w)
    return {"image": image, "source": source, "sar_scale": sample.get("sar_scale"), "prompts": prompts,
            "conversation": conv, "targets": {"boxes": boxes, "labels": labels, "mask": mask, "seg_mask": seg_mask,
                                              "region_labels": list(tg.get("region_labels") or [])}}


def iter_texts(samples: Iterable[dict]) -> Iterator[str]:
    """Every user and assistant string of the samples (for tokenizer training)."""
    for s in samples:
        for turn in s["conversation"]:
            yield turn["user"]
            yield turn["assistant"]
