"""Instruction samples (the JSONL schema of docs/architecture.md, "Dataset samples").

Records of real datasets and synthetic scene layouts are first turned into an
:class:`Item` (image reference, objects in image pixels, facts such as the
ground sample distance), then into samples at three levels:

* scene: sensor classification, caption, presence and counting questions;
* region: what is this (point / box / polygon / scribble prompts), region
  caption, relation between two regions, negatives on background;
* pixel: grounding ("[DET]", boxes + mask) and referring segmentation ("[SEG]").

Region samples look through a zoom-in ``window`` around the object; grounding
uses the whole image and, on large images, random tiles: half of them at native
resolution with the side of the model's input (``SampleBudget.tile_side``, 256 px
by default), as ``da.egx.ground`` tiles, half up to twice that side (zoomed out).
All randomness comes from the ``rng`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
import zlib

import numpy as np

from egx_notebook.views import fit_window

from .geometry import (box_area, clip_box, direction_phrase, position_phrase, rle_encode, shift_box)
from .records import ImageRecord
from .synthetic import COLOCATED_CLASSES, SOURCE_CLASSES, SyntheticScene, synthetic_ref
from .vocabulary import CLASSES, GROUPS, SOURCE_NAMES, article, count_phrase, plural

__all__ = ["Item", "item_from_record", "item_from_scene", "make_samples", "samples_for_record",
           "samples_for_scene", "SampleBudget", "DATASET_CLASSES"]

#: classes each real dataset annotates exhaustively (the only ones we ask about)
DATASET_CLASSES = {"ssdd": ("ship",), "nepu-owod": ("oil well",), "sirst-v2": ("small target",),
                   "nudt-sirst": ("small target",), "hit-uav": ("person", "car", "bicycle", "vehicle")}


@dataclass
class Obj:
    label: str
    box: list[float]                 # image pixels
    mask: np.ndarray | None = None   # bool (H, W) in image pixels, when known


@dataclass
class Item:
    """Everything the sample makers need about one image."""

    key: str
    dataset: str
    split: str
    source: str
    image: str
    width: int
    height: int
    objects: list[Obj]
    vocabulary: tuple[str, ...]
    gsd_m: float | None = None
    sar_scale: str | None = None
    mask_path: str | None = None
    mask_from: str = "boxes"          # for grounding: "png" | "boxes" | "scene"
    seg_from: str = "boxes"           # for segmentation: "component" | "boxes" | "scene"
    context: str = ""                 # caption context, e.g. "of open sea"
    sensor: str = ""                  # caption sensor phrase
    background: Callable[[float, float], str] = field(default=lambda x, y: "background")
    ignore: list[list[float]] = field(default_factory=list)
    allow_tiles: bool = False
    group: str | None = None


@dataclass
class SampleBudget:
    """How many samples of each kind one image yields."""

    scene: int = 2
    ground: int = 2
    tiles: int = 2
    region_objects: int = 3
    region_per_class: int = 0  # > 0: that many objects of each class present instead (see _region_order)
    relation: int = 1
    negative: int = 1
    tile_side: int = 256  # the model's input side: da.egx.ground's native-resolution window
    # more grounding samples on native-resolution windows (tile_side, none zoomed out) of each
    # image larger than one, drawn from a generator of their own so the other samples stay as
    # they are: a grounding head that reads the pixels learns objects at the size they were boxed
    native_tiles: int = 0


# ----------------------------------------------------------------------------- items

def _sea_land_lookup(path: Path | None) -> Callable[[float, float], str]:
    if path is None or not path.is_file():
        return lambda x, y: "background"
    from PIL import Image
    with Image.open(path) as im:
        sea = np.asarray(im.convert("L")) > 127

    def lookup(x: float, y: float) -> str:
        r = min(sea.shape[0] - 1, max(0, int(y)))
        c = min(sea.shape[1] - 1, max(0, int(x)))
        return "sea" if sea[r, c] else "land"
    lookup.land_fraction = float(1 - sea.mean())  # type: ignore[attr-defined]
    return lookup


def item_from_record(rec: ImageRecord, data_root: Path | None = None,
                     masks: Callable[[str], np.ndarray] | None = None) -> Item:
    """Item for a real-dataset record. ``masks`` reads a mask PNG (used for SIRST-style component masks)."""
    from scipy import ndimage

    objects = [Obj(o.label, list(o.box)) for o in rec.objects]
    if rec.mask_path and masks is not None and objects:
        m = masks(rec.mask_path)
        lab, _ = ndimage.label(m, structure=np.ones((3, 3), bool))
        for o in objects:
            x0, y0, x1, y1 = (int(v) for v in o.box)
            ids, counts = np.unique(lab[y0:y1, x0:x1], return_counts=True)
            keep = ids > 0
            ids, counts = ids[keep], counts[keep]
            if ids.size:  # the component that fills the box most (a neighbour's pixels may poke into it)
                o.mask = lab == ids[np.argmax(counts)]
    sensor = {"optical": "optical remote sensing image", "sar": "SAR image", "infrared": "infrared image"}[rec.source]
    context, background = "", (lambda x, y: "background")
    if rec.dataset == "ssdd":
        lookup = _sea_land_lookup(Path(data_root) / rec.meta["sea_land_mask"]) if data_root and rec.meta.get("sea_land_mask") else None
        if lookup is not None:
            background = lookup
            frac = getattr(lookup, "land_fraction", 0.0)
            context = "of an inshore area with land" if frac > 0.02 else "of open sea"
        else:
            background = lambda x, y: "sea"  # noqa: E731
    elif rec.dataset == "hit-uav":
        dn = rec.meta.get("daynight")
        sensor = (f"{'night-time' if dn == 'night' else 'daytime'} " if dn else "") + "thermal infrared drone image"
        if rec.meta.get("altitude_m"):
            context = f"taken from {rec.meta['altitude_m']:.0f} m"
    elif rec.dataset == "nepu-owod":
        context = "of an oil field"
    is_png = rec.mask_path is not None
    return Item(key=f"{rec.dataset}/{rec.stem}", dataset=rec.dataset, split=rec.split, source=rec.source,
                image=rec.image, width=rec.width, height=rec.height, objects=objects,
                vocabulary=DATASET_CLASSES.get(rec.dataset, tuple(sorted({o.label for o in objects}))),
                gsd_m=rec.meta.get("gsd_m"), sar_scale=rec.meta.get("sar_scale"), mask_path=rec.mask_path,
                mask_from="png" if is_png else "boxes", seg_from="component" if is_png else "boxes",
                context=context, sensor=sensor, background=background,
                ignore=list(rec.meta.get("ignore_boxes", [])),
                allow_tiles=rec.dataset in ("hit-uav", "nepu-owod", "ssdd"))


_KIND_CONTEXT = {"coast": "of a coastal area", "land": "of land", "sea": "of open sea", "airfield": "of an airfield",
                 "sky": "of the sky", "ground": "of the ground seen from a drone"}


def item_from_scene(scene: SyntheticScene, split: str = "train") -> Item:
    """Item for a synthetic scene (layout is enough; pixels are not needed)."""
    h, w = scene.size
    colocated = bool(scene.meta.get("colocated"))
    ref = synthetic_ref(scene.source, scene.seed, (h, w), colocated=colocated)
    land = scene.land_mask

    def background(x: float, y: float) -> str:
        if scene.kind == "sky":
            return "sky"
        if land is not None:
            return "land" if land[min(h - 1, int(y)), min(w - 1, int(x))] else "sea"
        return "land" if scene.kind in ("airfield", "land") else "background"

    sensor = {"optical": "optical remote sensing image", "sar": "SAR image", "infrared": "infrared image"}[scene.source]
    if scene.source == "infrared" and scene.meta.get("daynight"):
        sensor = f"{'night-time' if scene.meta['daynight'] == 'night' else 'daytime'} {sensor}"
    vocab = COLOCATED_CLASSES if colocated else SOURCE_CLASSES[scene.source]
    key = f"synthetic/{'colocated' if colocated else scene.source}-{scene.seed}"
    return Item(key=key + (f"/{scene.source}" if colocated else ""), dataset="synthetic", split=split,
                source=scene.source, image=ref, width=w, height=h,
                objects=[Obj(o["label"], list(o["box"]), o["mask"]) for o in scene.objects],
                vocabulary=vocab, gsd_m=scene.gsd_m, sar_scale="linear" if scene.source == "sar" else None,
                mask_from="scene", seg_from="scene", context=_KIND_CONTEXT.get(scene.kind, ""), sensor=sensor,
                background=background, allow_tiles=not colocated, group=key if colocated else None)


# ----------------------------------------------------------------------------- words

def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


def _words(label: str, many: bool) -> tuple[str, ...]:
    info = CLASSES[label]
    words = info.plural if many else info.singular
    if label in GROUPS:  # the bare group word means the whole group; use the specific ones
        words = tuple(wd for wd in words if wd not in (info.singular[0], info.plural[0])) or words
    return words


_GROUND_PL = ["Find all {}.", "Detect all {}.", "Locate the {} in this image.", "Where are the {}?",
              "Show me all {}.", "Highlight all {}.", "Can you find the {}?", "Mark every one of the {}.",
              "Detect the {}.", "Find the {} in this view.", "Please locate all {}.", "Segment all {}."]
_GROUND_SG = ["Detect every {}.", "Find every {}.", "Locate each {}.", "Where is the {}?", "Find the {}.",
              "Is there any {}? Show it.", "Mark each {} in the image."]
_REFER = ["What is this?", "What is in region 1?", "What object is marked?", "Identify the object in region 1.",
          "What is this object?", "Classify region 1.", "What do you see here?", "What is the object in the region?",
          "Tell me what region 1 is.", "What kind of object is this?"]
_SEGMENT = ["Segment this object.", "Segment region 1.", "Give me the mask of this object.",
            "Outline the object in region 1.", "Cut out this object.", "Draw the outline of the marked object.",
            "Segment the object at the prompt.", "Extract the mask of region 1."]
_REGION_CAPTION = ["Describe this region.", "Describe region 1.", "What is in this region? Describe it.",
                   "Give a short description of the marked object.", "Describe the object in region 1 and its surroundings."]
_RELATION = ["What is the relation between region 1 and region 2?", "How are region 1 and region 2 related?",
             "Compare region 1 and region 2.", "Describe the spatial relation of the two regions."]
_REL_SIZE = ["Which region is larger, region 1 or region 2?", "Which of the two regions is bigger?"]
_REL_WHERE = ["Where is region 2 relative to region 1?", "How far is region 2 from region 1, and in which direction?"]
_CLASSIFY = ["Which sensor took this image?", "What kind of image is this?", "Is this an optical, SAR or infrared image?",
             "What is the imaging modality?", "Which sensor is this?", "What type of sensor captured this scene?"]
_CAPTION = ["Describe this image.", "What is in the scene?", "Give a short caption of this image.",
            "Summarize what this image shows.", "Caption this scene."]
_PRESENCE = ["Are there any {pl}?", "Is there {a_sg} in this image?", "Can you see any {pl}?", "Does this image contain {pl}?"]
_COUNT = ["How many {pl} are there?", "Count the {pl}.", "How many {pl} can you see?", "What is the number of {pl} in this image?"]


def _there(n: int, label: str) -> str:
    return f"There {'is' if n == 1 else 'are'} {count_phrase(n, label)}."


def _size_phrase(box: Sequence[float], gsd: float | None) -> str:
    w, h = box[2] - box[0], box[3] - box[1]
    s = f"about {w:.0f} x {h:.0f} pixels"
    if gsd:
        s += f" ({w * gsd:.0f} x {h * gsd:.0f} m)" if max(w, h) * gsd >= 3 else f" ({w * gsd:.1f} x {h * gsd:.1f} m)"
    return s


def _list_phrase(parts: list[str]) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _counts_phrase(objects: list[Obj], vocab: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for o in objects:
        counts[o.label] = counts.get(o.label, 0) + 1
    if not counts:
        return "no " + (plural(vocab[0]) if len(vocab) == 1 else "objects of interest")
    return _list_phrase([count_phrase(n, lab) for lab, n in sorted(counts.items(), key=lambda kv: -kv[1])])


def _caption(item: Item) -> str:
    pos = []
    for o in item.objects:
        cx, cy = (o.box[0] + o.box[2]) / 2, (o.box[1] + o.box[3]) / 2
        pos.append(position_phrase(cx, cy, item.width, item.height))
    head = f"{article(item.sensor).capitalize()} {item.sensor}" + (f" {item.context}" if item.context else "")
    text = f"{head} with {_counts_phrase(item.objects, item.vocabulary)}"
    if 1 <= len(pos) <= 2:
        text += " in the " + _list_phrase(list(dict.fromkeys(pos)))
    elif len(pos) > 2:
        top = max(dict.fromkeys(pos), key=pos.count)  # ties: the first seen, whatever the hash seed
        text += f", mostly in the {top}" if pos.count(top) * 2 >= len(pos) else ", spread across the view"
    return text + "."


# ----------------------------------------------------------------------------- geometry helpers

def _zoom_window(box: Sequence[float], item: Item, rng: np.random.Generator, lo: float = 1.2, hi: float = 4.0) -> list[int]:
    """Square-ish window of 1.2-4x the object size (>= 64 px) containing the box, clipped to the image."""
    bx0, by0, bx1, by1 = int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))
    side = max(64.0, max(bx1 - bx0, by1 - by0) * rng.uniform(lo, hi))
    sw, sh = int(min(side, item.width)), int(min(side, item.height))
    sw, sh = max(sw, min(bx1 - bx0, item.width)), max(sh, min(by1 - by0, item.height))

    def start(b0, b1, s, n):
        lo_, hi_ = max(0, b1 - s), min(b0, n - s)
        return int(rng.integers(lo_, hi_ + 1)) if hi_ >= lo_ else int(np.clip((b0 + b1 - s) // 2, 0, max(0, n - s)))
    x0, y0 = start(bx0, bx1, sw, item.width), start(by0, by1, sh, item.height)
    return [x0, y0, x0 + sw, y0 + sh]


def _point_on(mask: np.ndarray | None, box: Sequence[float], rng: np.random.Generator) -> tuple[float, float]:
    """A point on an object: inside a random pixel of its ``mask``, else near the centre of its ``box``."""
    if mask is not None:
        ys, xs = np.nonzero(mask)
        k = int(rng.integers(ys.size))
        return xs[k] + rng.uniform(0.2, 0.8), ys[k] + rng.uniform(0.2, 0.8)
    bw, bh = box[2] - box[0], box[3] - box[1]
    return (box[0] + box[2]) / 2 + rng.uniform(-0.2, 0.2) * bw, (box[1] + box[3]) / 2 + rng.uniform(-0.2, 0.2) * bh


def _point_window(o: Obj, item: Item, rng: np.random.Generator) -> tuple[list[int], dict]:
    """A window of a size drawn without looking at the object, around a point on ``o``.

    The product cannot know how large the object under a point is, so it reads a
    fixed window centred on the point (``egx_notebook.views.region_side``: 128 px).
    Drawing sides of 64-256 px here, centred on the point and shifted only at the
    image edge, trains the model on what it sees.
    """
    x, y = _point_on(o.mask if o.mask is not None and o.mask.any() else None, o.box, rng)
    r = rng.random()
    side = 64 if r < 0.25 else 128 if r < 0.75 else int(rng.integers(96, 257))
    x0, sw = fit_window(x, side, item.width)
    y0, sh = fit_window(y, side, item.height)
    win = [x0, y0, x0 + sw, y0 + sh]
    xy = [_r(np.clip(x - x0, 0, sw - 1e-3)), _r(np.clip(y - y0, 0, sh - 1e-3))]
    return win, {"kind": "point", "xy": xy}


def _region_prompt(o: Obj, item: Item, rng: np.random.Generator, kinds: Sequence[str]) -> tuple[list[int], dict]:
    """Window and prompt on ``o``: point prompts get :func:`_point_window`, others a zoom window."""
    kind = _pick(rng, kinds)
    if kind == "point":
        return _point_window(o, item, rng)
    win = _zoom_window(o.box, item, rng)
    return win, _prompt(o, win, kind, rng)


def _in_window(objects: list[Obj], win: Sequence[int], min_visible: float = 0.5) -> list[tuple[Obj, list[float]]]:
    out = []
    for o in objects:
        vis = clip_box(shift_box(o.box, win[0], win[1]), win[2] - win[0], win[3] - win[1])
        if vis is not None and box_area(vis) >= min_visible * box_area(o.box):
            out.append((o, vis))
    return out


def _r(v: float) -> float:
    return round(float(v), 2)


def _rbox(b: Sequence[float]) -> list[float]:
    return [_r(v) for v in b]


def _prompt(o: Obj, win: Sequence[int], kind: str, rng: np.random.Generator) -> dict:
    """A visual prompt on object ``o`` in window pixels."""
    ww, wh = win[2] - win[0], win[3] - win[1]
    b = shift_box(o.box, win[0], win[1])
    bw, bh = b[2] - b[0], b[3] - b[1]
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    mloc = None
    if o.mask is not None:
        mloc = o.mask[win[1]:win[3], win[0]:win[2]]
        if not mloc.any():
            mloc = None
    if kind == "point":
        x, y = _point_on(mloc, b, rng)
        return {"kind": "point", "xy": [_r(np.clip(x, 0, ww - 1e-3)), _r(np.clip(y, 0, wh - 1e-3))]}
    if kind == "box":
        j = 0.08
        box = [b[0] + rng.uniform(-j, j) * bw - rng.uniform(0, 1), b[1] + rng.uniform(-j, j) * bh - rng.uniform(0, 1),
               b[2] + rng.uniform(-j, j) * bw + rng.uniform(0, 1), b[3] + rng.uniform(-j, j) * bh + rng.uniform(0, 1)]
        box = clip_box(box, ww, wh) or clip_box(b, ww, wh)
        return {"kind": "box", "xyxy": _rbox(box)}
    if kind == "polygon":
        n = int(rng.integers(8, 14))
        t = np.sort(rng.uniform(0, 2 * np.pi, n))
        f = rng.uniform(1.0, 1.35) * rng.uniform(0.92, 1.0, n)
        xs = np.clip(cx + 0.5 * bw * f * np.cos(t), 0, ww)
        ys = np.clip(cy + 0.5 * bh * f * np.sin(t), 0, wh)
        return {"kind": "polygon", "exterior": [[_r(x), _r(y)] for x, y in zip(xs, ys)], "holes": []}
    # scribble: a thick stroke through the object
    m = np.zeros((wh, ww), bool)
    yy, xx = np.mgrid[0:wh, 0:ww]
    ang = rng.uniform(0, np.pi) if bw < 1.5 * bh and bh < 1.5 * bw else (0.0 if bw >= bh else np.pi / 2)
    half = 0.5 * max(bw, bh) * rng.uniform(0.4, 0.8)
    thick = max(0.8, 0.15 * min(bw, bh))
    px, py = xx + 0.5 - cx, yy + 0.5 - cy
    along = px * np.cos(ang) + py * np.sin(ang)
    across = -px * np.sin(ang) + py * np.cos(ang)
    m = (np.abs(along) <= half) & (np.abs(across) <= thick)
    if mloc is not None:
        m &= mloc
        if not m.any():
            m = mloc.copy()
    if not m.any():
        m[min(wh - 1, int(cy)), min(ww - 1, int(cx))] = True
    return {"kind": "mask", "rle": rle_encode(m)}


_PROMPT_KINDS = ("point", "box", "polygon", "mask")


# ----------------------------------------------------------------------------- sample makers

def _region_targets(labels: list[str]) -> dict:
    """Targets of a prompted sample: no pixels, the class of each prompted region."""
    return {"boxes": [], "labels": [], "mask": None, "mask_from": None, "seg_box": None, "region_labels": labels}


def _base(item: Item, task: str, k: int, window, prompts, user: str, assistant: str, targets=None) -> dict:
    s = {"id": f"{item.key}/{task}/{k}", "dataset": item.dataset, "split": item.split, "source": item.source,
         "sar_scale": item.sar_scale, "image": item.image, "window": list(window) if window is not None else None,
         "task": task, "prompts": prompts, "conversation": [{"user": user, "assistant": assistant}],
         "targets": targets or {"boxes": [], "labels": [], "mask": None, "mask_from": None, "seg_box": None}}
    if item.group:
        s["group"] = item.group
    return s


def _scene_samples(item: Item, rng, n: int, counter) -> list[dict]:
    out = []
    kinds = ["classify", "caption", "presence", "count"]
    for kind in rng.permutation(kinds)[:n]:
        if kind == "classify":
            name = SOURCE_NAMES[item.source]
            out.append(_base(item, "classify", next(counter), None, [], _pick(rng, _CLASSIFY),
                             f"This is {article(name)} {name} image."))
        elif kind == "caption":
            out.append(_base(item, "caption", next(counter), None, [], _pick(rng, _CAPTION), _caption(item)))
        else:
            present = sorted({o.label for o in item.objects})
            absent = [c for c in item.vocabulary if c not in present]
            label = _pick(rng, present) if present and (not absent or rng.random() < 0.6) else _pick(rng, absent or list(item.vocabulary))
            n_obj = sum(o.label == label for o in item.objects)
            pl, sg = _pick(rng, _words(label, True)), _pick(rng, _words(label, False))
            if kind == "presence":
                q = _pick(rng, _PRESENCE).format(pl=pl, a_sg=f"{article(sg)} {sg}")
                a = f"Yes, {_there(n_obj, label)[0].lower()}{_there(n_obj, label)[1:]}" if n_obj else f"No, there are no {plural(label)}."
            else:
                q = _pick(rng, _COUNT).format(pl=pl)
                a = _there(n_obj, label)
            out.append(_base(item, "vqa", next(counter), None, [], q, a))
    return out


def _ground_query(item: Item, labels_here: set[str], rng, want_absent: bool) -> tuple[str, set[str]]:
    absent = [c for c in item.vocabulary if c not in labels_here]
    if want_absent and absent:
        label = _pick(rng, absent)
    elif labels_here:
        label = _pick(rng, sorted(labels_here))
    else:
        label = _pick(rng, list(item.vocabulary))
    multi = len(item.vocabulary) > 1
    r = rng.random()
    if multi and r < 0.08 and not want_absent:
        return _pick(rng, ["Find all objects.", "Detect all objects of interest.", "Locate every target in the image."]), set(item.vocabulary)
    if label in sum(GROUPS.values(), ()) and all(c in item.vocabulary for c in GROUPS["vehicle"]) and r < 0.3:
        group = set(GROUPS["vehicle"])
        if not want_absent or not (group & labels_here):
            return _pick(rng, [_pick(rng, _GROUND_PL).format("vehicles"), _pick(rng, _GROUND_SG).format("vehicle")]), group
    if rng.random() < 0.7:
        return _pick(rng, _GROUND_PL).format(_pick(rng, _words(label, True))), {label}
    return _pick(rng, _GROUND_SG).format(_pick(rng, _words(label, False))), {label}


def _ground_sample(item: Item, window, rng, counter, want_absent=False) -> dict:
    win = window or [0, 0, item.width, item.height]
    visible = _in_window(item.objects, win) if window is not None else [(o, list(o.box)) for o in item.objects]
    q, wanted = _ground_query(item, {o.label for o, _ in visible}, rng, want_absent)
    tg = [(o, b) for o, b in visible if o.label in wanted]
    targets = {"boxes": [_rbox(b) for _, b in tg], "labels": [o.label for o, _ in tg],
               "mask": item.mask_path if item.mask_from == "png" else None, "mask_from": item.mask_from, "seg_box": None}
    return _base(item, "ground", next(counter), window, [], q, "[DET]", targets)


def _tile(item: Item, rng, tile_side: int) -> list[int]:
    # half the tiles at native resolution, as da.egx.ground tiles large rasters; half zoomed out up to 2x
    side = tile_side if rng.random() < 0.5 else int(rng.integers(tile_side + 1, 2 * tile_side + 1))
    return _window(item, rng, side)


def _window(item: Item, rng, side: int) -> list[int]:
    """A random window of ``side`` (clipped to the image) inside ``item``."""
    sw, sh = min(side, item.width), min(side, item.height)
    x0 = int(rng.integers(0, item.width - sw + 1))
    y0 = int(rng.integers(0, item.height - sh + 1))
    return [x0, y0, x0 + sw, y0 + sh]


def _neighbours_phrase(o: Obj, item: Item, win) -> str:
    others = [p for p, _ in _in_window(item.objects, win, 0.3) if p is not o]
    if not others:
        return "There are no other objects nearby."
    return f"Nearby: {_counts_phrase(others, item.vocabulary)}."


def _region_order(item: Item, rng, budget: SampleBudget) -> list[int]:
    """Indices of the objects an image's region samples prompt, in the order they are asked.

    ``budget.region_objects`` drawn from the whole image; with ``budget.region_per_class``
    that many of each class present, so a class crowded into few images beside commoner
    ones (HIT-UAV's bicycles: 617 objects in 53 of 320 training images) gets more of its
    objects prompted than a draw over the image's objects gives it.
    """
    if budget.region_per_class <= 0:
        return [int(i) for i in rng.permutation(len(item.objects))[:budget.region_objects]]
    by_class: dict[str, list[int]] = {}
    for i, o in enumerate(item.objects):
        by_class.setdefault(o.label, []).append(i)
    picked = []
    for label in sorted(by_class):
        idx = by_class[label]
        picked += [idx[int(j)] for j in rng.permutation(len(idx))[:budget.region_per_class]]
    return [picked[int(j)] for j in rng.permutation(len(picked))]


def _region_samples(item: Item, rng, budget: SampleBudget, counter) -> list[dict]:
    out = []
    if not item.objects:
        return out
    for rank, i in enumerate(_region_order(item, rng, budget)):
        o = item.objects[i]
        # what is this
        win, p = _region_prompt(o, item, rng, _PROMPT_KINDS)
        out.append(_base(item, "refer", next(counter), win, [p], _pick(rng, _REFER), f"This is {article(o.label)} {o.label}.",
                         _region_targets([o.label])))
        # referring segmentation
        win, p = _region_prompt(o, item, rng, ("point", "box", "mask", "point"))
        b = clip_box(shift_box(o.box, win[0], win[1]), win[2] - win[0], win[3] - win[1])
        q = _pick(rng, _SEGMENT)
        if rng.random() < 0.2:
            q = f"Segment this {_pick(rng, _words(o.label, False))}."
        out.append(_base(item, "segment", next(counter), win, [p], q, "[SEG]",
                         {"boxes": [], "labels": [], "mask": item.mask_path if item.seg_from == "component" else None,
                          "mask_from": item.seg_from, "seg_box": _rbox(b), "region_labels": [o.label]}))
        if rank == 0:  # region caption
            win = _zoom_window(o.box, item, rng, 2.0, 5.0)
            p = _prompt(o, win, _pick(rng, ("box", "polygon", "point")), rng)
            b = shift_box(o.box, win[0], win[1])
            pos = position_phrase((b[0] + b[2]) / 2, (b[1] + b[3]) / 2, win[2] - win[0], win[3] - win[1])
            a = (f"{article(o.label).capitalize()} {o.label}, {_size_phrase(o.box, item.gsd_m)}, in the {pos} of the view. "
                 + _neighbours_phrase(o, item, win))
            out.append(_base(item, "region_caption", next(counter), win, [p], _pick(rng, _REGION_CAPTION), a,
                             _region_targets([o.label])))
    return out


def _relation_samples(item: Item, rng, n: int, counter) -> list[dict]:
    out = []
    if len(item.objects) < 2:
        return out
    for _ in range(n):
        i, j = rng.choice(len(item.objects), 2, replace=False)
        a, b = item.objects[int(i)], item.objects[int(j)]
        union = [min(a.box[0], b.box[0]), min(a.box[1], b.box[1]), max(a.box[2], b.box[2]), max(a.box[3], b.box[3])]
        win = _zoom_window(union, item, rng, 1.1, 1.8)
        pa = _prompt(a, win, _pick(rng, ("box", "point", "polygon")), rng)
        pb = _prompt(b, win, _pick(rng, ("box", "point", "polygon")), rng)
        area_a, area_b = box_area(a.box), box_area(b.box)
        size = ("They are about the same size." if max(area_a, area_b) < 1.25 * min(area_a, area_b)
                else f"Region {1 if area_a > area_b else 2} is larger.")
        ca = ((a.box[0] + a.box[2]) / 2, (a.box[1] + a.box[3]) / 2)
        cb = ((b.box[0] + b.box[2]) / 2, (b.box[1] + b.box[3]) / 2)
        d = float(np.hypot(cb[0] - ca[0], cb[1] - ca[1]))
        dist = f"about {d * item.gsd_m:.0f} m away" if item.gsd_m else f"about {d:.0f} pixels away"
        where = f"Region 2 is {direction_phrase(cb[0] - ca[0], cb[1] - ca[1])} region 1, {dist}."
        r = rng.random()
        if r < 0.5:
            q = _pick(rng, _RELATION)
            ans = f"Region 1 is {article(a.label)} {a.label} and region 2 is {article(b.label)} {b.label}. {size} {where}"
        elif r < 0.75:
            q, ans = _pick(rng, _REL_SIZE), size
        else:
            q, ans = _pick(rng, _REL_WHERE), where
        out.append(_base(item, "relation", next(counter), win, [pa, pb], q, ans, _region_targets([a.label, b.label])))
    return out


def _negative_samples(item: Item, rng, n: int, counter) -> list[dict]:
    out = []
    blocked = [o.box for o in item.objects] + item.ignore
    for _ in range(n):
        for _try in range(20):
            s = float(rng.uniform(6, 40))
            x = float(rng.uniform(0, max(1.0, item.width - s)))
            y = float(rng.uniform(0, max(1.0, item.height - s)))
            box = [x, y, min(item.width, x + s), min(item.height, y + s)]
            pad = 4
            if any(not (box[2] + pad <= b[0] or b[2] + pad <= box[0] or box[3] + pad <= b[1] or b[3] + pad <= box[1])
                   for b in blocked):
                continue
            fake = Obj("background", box)
            win, p = _region_prompt(fake, item, rng, ("point", "box", "polygon", "mask"))
            where = item.background((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
            out.append(_base(item, "refer", next(counter), win, [p], _pick(rng, _REFER),
                             f"There is no object here; this is {where}.", _region_targets(["background"])))
            break
    return out


def make_samples(item: Item, rng: np.random.Generator, budget: SampleBudget | None = None) -> list[dict]:
    """All instruction samples for one item, drawn with ``rng``."""
    budget = budget or SampleBudget()
    counter = iter(range(10 ** 6))
    out = _scene_samples(item, rng, budget.scene, counter)
    for g in range(budget.ground):
        out.append(_ground_sample(item, None, rng, counter, want_absent=(g == 1)))
    if item.allow_tiles and max(item.width, item.height) > 400:
        n_tiles = budget.tiles if max(item.width, item.height) > 600 else min(1, budget.tiles)
        for _ in range(n_tiles):
            out.append(_ground_sample(item, _tile(item, rng, budget.tile_side), rng, counter))
    out += _region_samples(item, rng, budget, counter)
    out += _relation_samples(item, rng, budget.relation, counter)
    out += _negative_samples(item, rng, budget.negative, counter)
    side = budget.tile_side
    if budget.native_tiles and item.allow_tiles and max(item.width, item.height) > side:
        own = np.random.default_rng(zlib.crc32(item.key.encode()))
        for _ in range(budget.native_tiles):
            out.append(_ground_sample(item, _window(item, own, side), own, counter))
    return out


def samples_for_record(rec: ImageRecord, rng: np.random.Generator, data_root: Path | None = None,
                       budget: SampleBudget | None = None, masks: Callable[[str], np.ndarray] | None = None) -> list[dict]:
    """Samples for one real-dataset record (see :func:`make_samples`)."""
    return make_samples(item_from_record(rec, data_root, masks), rng, budget)


def samples_for_scene(scene: SyntheticScene, rng: np.random.Generator, split: str = "train",
                      budget: SampleBudget | None = None) -> list[dict]:
    """Samples for one synthetic scene (layout or rendered)."""
    return make_samples(item_from_scene(scene, split), rng, budget)
