"""Validate a checkpoint through the public API, as a notebook user asks.

    python -m egx_notebook.model.evaluate_api --checkpoint runs/default/final \\
        --data runs/data --data-root ../shared/data --out runs/default/eval_api.json

``evaluate`` scores the model on the builder's samples as they were made (fixed
windows); this harness instead opens each real validation image with
``egx.open_raster`` and asks through ``da.egx``, so it also measures what the
package does around the model (source profiles, zoom-in around prompts, tiling
and NMS for grounding on chips larger than the model input):

* ``ground/<dataset>``: ``da.egx.ground("<class plural>")`` on every validation
  image, boxes matched at IoU 0.5 (precision, recall, F1); target-free images
  count their false alarms.
* ``small_target/<dataset>``: SIRST set IoU, Pd and Fa per image from the union of
  the answer masks of ``da.egx.ground("small targets")``.
* ``ground@scene/<dataset>`` and ``ground@tiles/<dataset>`` (with ``--ground-levels
  auto,scene,tiles``): the same with ``level="scene"`` (always one zoomed-out look at the
  whole image) or ``whole_up_to=1`` (native-resolution tiles over anything larger than
  the model input).
* ``threshold_sweep``: with ``--thresholds``, the model answers at the lowest of them
  and each metric above is recomputed keeping only the objects scored at or above
  each threshold (``{level: {dataset: {threshold: metrics}}}``), to choose
  ``det_score_threshold`` (or ``det_class_thresholds``) on the validation split; the sweep
  sets aside the model's per-class thresholds, so every class is cut at each threshold.
  ``auto``, whose second look over doubtful detections depends on the threshold, is asked
  again at each one (``min_score=t``) above the lowest, where it first answered.
* ``segment/<dataset>``: ``da.egx.segment(point=...)`` at a point on a target,
  mask IoU against the annotated object inside the sample's window.
* ``refer/<dataset>``: ``da.egx.refer(box=...)`` (or ``point=``), the first class
  named in the answer against the annotation; ``refer/one_class_named`` checks
  the answer names a single class. ``refer_background/<dataset>``: the same on
  prompts with no object under them (the builder's "this is background"
  samples); right when the answer names no class. ``refer_confusion/<dataset>``:
  which class each of these prompts was answered with, ``"expected->named"``
  counts (``background`` for the background prompts, ``none`` for no class named).

Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from .evaluate import SMALL_TARGET_DATASETS, class_mentioned, report, report_json
from .metrics import AccuracyMetric, ConfusionMetric, GroundingMetric, MaskIoUMetric, SmallTargetMetric

__all__ = ["evaluate_api", "grounding_images", "kept_objects", "main"]

DATASET_CLASS = {"ssdd": "ship", "sirst-v2": "small target", "nudt-sirst": "small target",
                 "hit-uav": "person", "nepu-owod": "oil well"}


def grounding_images(data_root: Path, *, max_images: int | None = None, datasets: Sequence[str] | None = None,
                     split: str = "val", seed: int | None = None):
    """Yield ``(dataset, label, record, truth_boxes, da)`` for each real grounding image of ``split``.

    ``truth_boxes`` are the ``(n, 4)`` pixel boxes of the dataset's class, ``da`` the image
    opened with ``egx.open_raster``; at most ``max_images`` per dataset (the first ones, or
    a random draw seeded by ``seed``), over ``datasets`` (default: every dataset of
    ``DATASET_CLASS`` under ``data_root``).
    """
    import egx_notebook as egx

    from .data.readers import available_datasets, read_dataset

    present = available_datasets(data_root)
    for ds, label in DATASET_CLASS.items():
        if ds not in present or (datasets is not None and ds not in datasets):
            continue
        records = read_dataset(ds, data_root, split)
        if max_images is not None and seed is not None and len(records) > max_images:
            pick = np.random.default_rng(seed).choice(len(records), max_images, replace=False)
            records = [records[i] for i in sorted(pick)]
        for rec in records[:max_images]:
            truth = np.asarray([o.box for o in rec.objects if o.label == label], float).reshape(-1, 4)
            yield ds, label, rec, truth, egx.open_raster(data_root / rec.image, source=rec.source)


def _union_mask(mask, shape: tuple[int, int]) -> np.ndarray:
    """The union over objects of an answer's ``(object, y, x)`` mask; all False when there is none."""
    if mask is None or not mask.sizes["object"]:
        return np.zeros(shape, dtype=bool)
    return np.asarray(mask.any("object").values, dtype=bool)


def _boxes_px(answer) -> tuple[np.ndarray, np.ndarray]:
    rows = [(d.box_px, d.score) for d in answer.detections if d.box_px is not None]
    if not rows:
        return np.zeros((0, 4)), np.zeros(0)
    return (np.asarray([r[0] for r in rows], float).reshape(-1, 4),
            np.asarray([np.nan if r[1] is None else r[1] for r in rows], float))


def kept_objects(answer, threshold: float | None):
    """Boxes, scores and the union mask of the answer's objects scored >= ``threshold`` (all when None)."""
    boxes, scores = _boxes_px(answer)
    scores = np.nan_to_num(scores, nan=1.0)
    mask = answer.mask
    if threshold is not None:
        keep = scores >= threshold
        boxes, scores = boxes[keep], scores[keep]
        if mask is not None:
            mask = mask.isel(object=np.nan_to_num(mask.score.values, nan=1.0) >= threshold)
    return boxes, scores, mask


def _ground_at(da, name: str, level: str, min_score: float | None = None):
    """``da.egx.ground(name)`` at a harness level: ``tiles`` is ``whole_up_to=1``, else ``level=``."""
    if level == "tiles":
        return da.egx.ground(name, whole_up_to=1, min_score=min_score)
    return da.egx.ground(name, level=level, min_score=min_score)


def evaluate_api(checkpoint: Path, samples: list[dict], data_root: Path, *, max_images: int | None = None,
                 max_region_samples: int | None = None, device: str = "cpu", ground_levels: Sequence[str] = ("auto",),
                 thresholds: Sequence[float] = (), log=print) -> dict:
    """Metrics of ``checkpoint`` asked through ``da.egx`` on the real validation images."""
    import egx_notebook as egx
    from egx_notebook.model.data.vocabulary import CLASSES

    from .data.loading import load_sample
    from .data.sirst import read_mask

    engine = egx.use(str(checkpoint), device=device)
    engine.cache_size = 32  # a chip and its tiles stay encoded while it is asked at each threshold
    thresholds = sorted(set(thresholds))
    if thresholds:  # one threshold for every class, swept
        engine.model.config.det_score_threshold = thresholds[0]
        engine.model.config.det_class_thresholds = None
    sweep: dict = {}
    classes = {c.label: list(c.singular + c.plural) for c in CLASSES.values()}
    metrics: dict[str, object] = {}
    timings: dict[str, list[float]] = defaultdict(list)

    def metric(key, factory):
        if key not in metrics:
            metrics[key] = factory()
        return metrics[key]

    real = [s for s in samples if not s["image"].startswith("synthetic:") and s["dataset"] in DATASET_CLASS]

    # grounding on whole validation images, ground truth straight from the dataset readers
    counts: dict[str, int] = defaultdict(int)
    for ds, label, rec, gt_boxes, da in grounding_images(data_root, max_images=max_images):
        counts[ds] += 1
        shape = (da.sizes["y"], da.sizes["x"])
        gt = None
        if ds in SMALL_TARGET_DATASETS:
            gt = read_mask(data_root / rec.mask_path) if rec.mask_path else np.zeros(shape, dtype=bool)
        name = CLASSES[label].plural[0]
        for level in ground_levels:
            t0 = time.perf_counter()
            answer = _ground_at(da, name, level)
            if level == "auto":
                timings["ground"].append(time.perf_counter() - t0)
            tag = "" if level == "auto" else f"@{level}"
            for t in [None] + thresholds:
                # auto looks again at what it doubts below the threshold, so it is asked at each one
                asked = (_ground_at(da, name, level, t) if level == "auto" and t is not None and thresholds[0] < t < 1
                         else answer)
                boxes, scores, mask = kept_objects(asked, t)
                if t is None:
                    store, gkey, skey = metrics, f"ground{tag}/{ds}", f"small_target{tag}/{ds}"
                else:
                    store = sweep.setdefault(level, {}).setdefault(ds, {}).setdefault(f"{t:g}", {})
                    gkey, skey = "ground", "small_target"
                store.setdefault(gkey, GroundingMetric()).update(boxes, scores, gt_boxes)
                if gt is not None:
                    store.setdefault(skey, SmallTargetMetric()).update(_union_mask(mask, shape), gt)
    log(f"  grounding: {dict(counts)} images")

    # region level: point -> mask, box/point -> class
    n_region: dict[tuple[str, str], int] = defaultdict(int)
    for s in real:
        task = s["task"]
        if task not in ("segment", "refer") or not s["prompts"] or len(s["prompts"]) != 1:
            continue
        kind = s["prompts"][0]["kind"]
        if (task, kind) not in (("segment", "point"), ("refer", "box"), ("refer", "point")):
            continue
        reply = s["conversation"][-1]["assistant"]
        expected = class_mentioned(reply, classes) if task == "refer" else None
        background = task == "refer" and expected is None and "background" in reply
        key = (s["dataset"], "refer_background" if background else task)
        if max_region_samples is not None and n_region[key] >= max_region_samples:
            continue
        loaded = load_sample(s, data_root)
        x0, y0 = (s["window"] or [0, 0])[:2]
        p = s["prompts"][0]
        da = egx.open_raster(data_root / s["image"], source=s["source"])
        t0 = time.perf_counter()
        if task == "segment":
            gt = loaded["targets"].get("seg_mask")
            if gt is None:
                continue
            n_region[key] += 1
            x, y = p["xy"]
            answer = da.egx.segment(point=(x0 + x, y0 + y))
            timings["segment"].append(time.perf_counter() - t0)
            full = _union_mask(answer.mask, (da.sizes["y"], da.sizes["x"]))
            h, w = np.asarray(gt).shape
            pred = full[y0:y0 + h, x0:x0 + w]
            metric(f"segment/{s['dataset']}", MaskIoUMetric).update(pred, np.asarray(gt) > 0)
            metric("segment/all", MaskIoUMetric).update(pred, np.asarray(gt) > 0)
        else:
            if expected is None and not background:
                continue
            n_region[key] += 1
            if kind == "box":
                bx0, by0, bx1, by1 = p["xyxy"]
                answer = da.egx.refer(box=(x0 + bx0, y0 + by0, x0 + bx1, y0 + by1))
            else:
                answer = da.egx.refer(point=(x0 + p["xy"][0], y0 + p["xy"][1]))
            timings["refer"].append(time.perf_counter() - t0)
            got = class_mentioned(answer.text, classes)
            metric(f"refer_confusion/{s['dataset']}", ConfusionMetric).update(
                got, "background" if background else expected)
            if background:  # right when the answer names no class
                metric(f"refer_background/{s['dataset']}", AccuracyMetric).update(got is None, True)
                metric("refer_background/all", AccuracyMetric).update(got is None, True)
                continue
            metric(f"refer/{s['dataset']}", AccuracyMetric).update(got, expected)
            metric("refer/all", AccuracyMetric).update(got, expected)
            named = {class_mentioned(part, classes) for part in re.split(r"[,;/]| or | and ", answer.text)} - {None}
            metric("refer/one_class_named", AccuracyMetric).update(len(named) <= 1, True)
    log(f"  region level: {dict(n_region)} samples")
    out = {k: m.compute() for k, m in sorted(metrics.items())}
    if sweep:
        out["threshold_sweep"] = {lv: {ds: {t: {k: m.compute() for k, m in ms.items()} for t, ms in by_t.items()}
                                       for ds, by_t in by_ds.items()} for lv, by_ds in sweep.items()}
    out["latency_ms"] = {k: {"median": round(1000 * float(np.median(v)), 1), "calls": len(v)}
                         for k, v in timings.items()}
    return out


def _sweep_table(sweep: dict) -> str:
    """Grounding F1 (and SIRST set IoU / Pd / Fa) per level, dataset and threshold."""
    lines = ["| level | dataset | threshold | F1 | P | R | set IoU | Pd | Fa/img |", "|---|---|---|---|---|---|---|---|---|"]
    for level, by_ds in sweep.items():
        for ds, by_t in by_ds.items():
            for t, m in by_t.items():
                g, st = m["ground"], m.get("small_target")
                tail = (f"{st['set_iou']:.3f} | {st['pd']:.3f} | {st['fa_per_image']:.2f}" if st else "- | - | -")
                lines.append(f"| {level} | {ds} | {t} | {g['f1']:.3f} | {g['precision']:.3f} | {g['recall']:.3f} | {tail} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped checkpoint")
    p.add_argument("--data", type=Path, required=True, help="folder with val.jsonl from the dataset builder")
    p.add_argument("--data-root", type=Path, required=True, help="folder holding the real datasets")
    p.add_argument("--split", default="val")
    p.add_argument("--max-images", type=int, default=None, help="at most this many grounding images per dataset")
    p.add_argument("--max-region-samples", type=int, default=None,
                   help="at most this many segment / refer samples per dataset")
    p.add_argument("--device", default="cpu")
    p.add_argument("--ground-levels", default="auto", help="comma-separated ground levels to score: auto, scene, tiles")
    p.add_argument("--thresholds", default="", help="comma-separated detection score thresholds to sweep")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    from . import DEFAULT_CHECKPOINT
    from .train import read_samples

    checkpoint = a.checkpoint or DEFAULT_CHECKPOINT
    samples = read_samples(a.data / f"{a.split}.jsonl")
    t0 = time.time()
    summary = evaluate_api(checkpoint, samples, a.data_root, max_images=a.max_images,
                           max_region_samples=a.max_region_samples, device=a.device,
                           ground_levels=[x for x in a.ground_levels.split(",") if x],
                           thresholds=[float(x) for x in a.thresholds.split(",") if x])
    summary["_run"] = {"checkpoint": str(checkpoint), "split": a.split, "max_images": a.max_images,
                       "ground_levels": a.ground_levels, "thresholds": a.thresholds,
                       "max_region_samples": a.max_region_samples, "seconds": round(time.time() - t0, 1)}
    sweep = summary.pop("threshold_sweep", None)
    report(summary, None)
    if sweep:
        print(_sweep_table(sweep))
        summary["threshold_sweep"] = sweep
    report_json(summary, a.out)


if __name__ == "__main__":
    main()
