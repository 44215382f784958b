"""Evaluate a checkpoint on the dataset builder's validation samples.

    python -m egx_notebook.model.evaluate --checkpoint runs/default/final \\
        --data runs/data --data-root ../shared/data --out runs/default/eval.json

Each validation sample goes through the very processor and ``generate`` a notebook
uses. Reported, per dataset: grounding precision / recall / F1 at IoU 0.5 (whole
images, per queried class), mask IoU for referring segmentation (by prompt kind),
SIRST-style set IoU, Pd and Fa per image for infrared small targets, referring
classification accuracy, counting and presence accuracy, and ROUGE-L for captions.
Masks are cut at the product's ``MASK_THRESHOLD`` unless ``--mask-threshold`` says
otherwise, so mask scores match what ``da.egx`` returns. Prints a table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from .metrics import (
    AccuracyMetric, CaptionMetric, ConfusionMetric, GroundingMetric, MaskIoUMetric, SmallTargetMetric, parse_count,
)

__all__ = ["evaluate", "class_mentioned", "report", "main"]

SMALL_TARGET_DATASETS = ("sirst-v2", "nudt-sirst")


def class_mentioned(text: str, classes: dict[str, list[str]]) -> str | None:
    """The canonical class whose name (or a synonym) appears first in ``text``, else None."""
    low = text.lower()
    best, best_pos = None, len(low) + 1
    for canonical, names in classes.items():
        for name in sorted(names, key=len, reverse=True):
            m = re.search(r"\b" + re.escape(name.lower()) + r"\b", low)
            if m and m.start() < best_pos:
                best, best_pos = canonical, m.start()
    return best


def _yes_no(text: str) -> str | None:
    words = re.findall(r"[a-z]+", text.lower())
    for w in words:
        if w in ("yes", "no"):
            return w
    return None


class Evaluator:
    """Runs one checkpoint over samples and accumulates the metrics per group."""

    def __init__(self, checkpoint: Path, data_root: Path | None, device: str = "cpu",
                 det_threshold: float | None = None, mask_threshold: float | None = None):
        import torch

        from egx_notebook.asking import MASK_THRESHOLD

        from .data.vocabulary import CLASSES
        from .modeling_egx import EgxForConditionalGeneration
        from .processing_egx import EgxProcessor

        self.torch = torch
        self.model = EgxForConditionalGeneration.from_pretrained(checkpoint).to(device).eval()
        if det_threshold is not None:
            self.model.config.det_score_threshold = det_threshold
        self.processor = EgxProcessor.from_pretrained(checkpoint)
        self.mask_threshold = MASK_THRESHOLD if mask_threshold is None else mask_threshold
        self.data_root = data_root
        self.device = device
        self.classes = {c.label: list(c.singular + c.plural) for c in CLASSES.values()}
        self.metrics: dict[str, object] = {}
        self.timings: list[float] = []

    def _metric(self, key: str, factory):
        if key not in self.metrics:
            self.metrics[key] = factory()
        return self.metrics[key]

    def run_sample(self, loaded: dict) -> dict:
        """Model output for one loaded sample, mapped back to its window's pixels."""
        p = self.processor
        turn = loaded["conversation"][-1]
        history = [(t["user"], t["assistant"]) for t in loaded["conversation"][:-1]]
        t0 = time.perf_counter()
        image = p.preprocess_image(loaded["image"], loaded["source"], sar_scale=loaded.get("sar_scale"))
        with self.torch.inference_mode():
            feats = self.model.encode_images(image.pixel_values.to(self.device),
                                             image.source_ids.to(self.device),
                                             image.valid_mask.to(self.device), image.view_scale.to(self.device))
            text = p.build_inputs(None, turn["user"], n_regions=len(loaded["prompts"]), history=history)
            prompt_masks = p.rasterize_prompts(loaded["prompts"], image.geometry)
            out = self.model.generate(image_features=feats,
                                      input_ids=text["input_ids"].to(self.device),
                                      attention_mask=text["attention_mask"].to(self.device),
                                      prompt_masks=prompt_masks.to(self.device))
        self.timings.append(time.perf_counter() - t0)
        return p.post_process(out, image.geometry)[0]

    def update(self, sample: dict, loaded: dict, result: dict) -> None:
        ds, task = sample["dataset"], sample["task"]
        targets = loaded["targets"]
        reference = loaded["conversation"][-1]["assistant"]
        text = result["text"]
        if task == "ground" and sample.get("window") is None:
            labels = set(targets.get("labels") or [])
            name = ds if len(labels) <= 1 else f"{ds}/{'+'.join(sorted(labels))}"
            self._metric(f"ground/{name}", GroundingMetric).update(
                result["boxes"], result["scores"], targets["boxes"])
            if ds in SMALL_TARGET_DATASETS and targets.get("mask") is not None:
                masks = result.get("masks")
                pred = (np.zeros_like(targets["mask"], dtype=bool) if masks is None or len(masks) == 0
                        else (np.asarray(masks) > self.mask_threshold).any(axis=0))
                self._metric(f"small_target/{ds}", SmallTargetMetric).update(pred, targets["mask"])
        elif task == "segment" and targets.get("seg_mask") is not None:
            masks = result.get("masks")
            pred = (np.zeros_like(targets["seg_mask"], dtype=bool) if masks is None or len(masks) == 0
                    else np.asarray(masks[0]) > self.mask_threshold)
            kind = loaded["prompts"][0]["kind"] if loaded["prompts"] else "none"
            self._metric(f"segment/{ds}/{kind}", MaskIoUMetric).update(pred, targets["seg_mask"])
            self._metric(f"segment/all/{kind}", MaskIoUMetric).update(pred, targets["seg_mask"])
        elif task == "refer":
            expected = class_mentioned(reference, self.classes)
            got = class_mentioned(text, self.classes)
            if expected is not None:
                self._metric(f"refer/{ds}", AccuracyMetric).update(got, expected)
                self._metric("refer/all", AccuracyMetric).update(got, expected)
                self._metric(f"refer_confusion/{ds}", ConfusionMetric).update(got, expected)
            n_named = sum(class_mentioned(w, self.classes) is not None for w in re.split(r"[,;/]| or ", text))
            self._metric("refer/one_class_named", AccuracyMetric).update(n_named <= 1, True)
        elif task in ("caption", "region_caption"):
            self._metric(f"{task}/{ds}", CaptionMetric).update(text, reference)
        elif task in ("vqa", "classify", "relation"):
            ref_count = parse_count(reference)
            if _yes_no(reference) is not None:
                self._metric(f"presence/{ds}", AccuracyMetric).update(_yes_no(text), _yes_no(reference))
            elif ref_count is not None and re.search(r"\bhow many\b", loaded["conversation"][-1]["user"].lower()):
                self._metric(f"count/{ds}", AccuracyMetric).update(parse_count(text), ref_count)
            else:
                norm = lambda s: " ".join(re.findall(r"[a-z0-9]+", s.lower()))  # noqa: E731
                self._metric(f"{task}/{ds}", AccuracyMetric).update(norm(text), norm(reference))

    def summary(self) -> dict:
        out = {k: m.compute() for k, m in sorted(self.metrics.items())}
        if self.timings:
            out["latency_ms"] = {"median": 1000 * float(np.median(self.timings)),
                                 "samples": len(self.timings)}
        return out


def _select(samples: list[dict], max_per_group: int | None) -> list[dict]:
    if not max_per_group:
        return samples
    counts: dict[tuple, int] = defaultdict(int)
    chosen = []
    for s in samples:
        key = (s["dataset"], s["task"], s.get("window") is None)
        if counts[key] < max_per_group:
            counts[key] += 1
            chosen.append(s)
    return chosen


def evaluate(checkpoint: Path, samples: list[dict], data_root: Path | None, *,
             max_per_group: int | None = None, device: str = "cpu",
             det_threshold: float | None = None, mask_threshold: float | None = None) -> dict:
    """Metrics of ``checkpoint`` on ``samples`` (the builder's validation samples).

    ``mask_threshold`` is the probability above which a mask pixel counts as the
    object; None means the product's ``egx_notebook.asking.MASK_THRESHOLD``.
    """
    from .data.loading import load_sample

    ev = Evaluator(checkpoint, data_root, device=device, det_threshold=det_threshold,
                   mask_threshold=mask_threshold)
    for s in _select(samples, max_per_group):
        loaded = load_sample(s, data_root)
        ev.update(s, loaded, ev.run_sample(loaded))
    return ev.summary()


def format_table(summary: dict) -> str:
    """A plain-text table, one metric group per row."""
    rows = ["| group | metrics |", "|---|---|"]
    for key, vals in summary.items():
        shown = ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in vals.items())
        rows.append(f"| {key} | {shown} |")
    return "\n".join(rows)


def report(summary: dict, out: Path | None) -> None:
    """Print the table of ``summary`` (run metadata under ``_`` keys left out) and write it as JSON to ``out``."""
    print(format_table({k: v for k, v in summary.items() if not k.startswith("_")}))
    report_json(summary, out)


def report_json(summary: dict, out: Path | None) -> None:
    """Write ``summary`` as JSON to ``out`` (nothing when ``out`` is None)."""
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(summary, indent=2))
        print(f"wrote {out}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, default=None, help="default: the shipped checkpoint")
    p.add_argument("--data", type=Path, required=True, help="folder with val.jsonl")
    p.add_argument("--data-root", type=Path)
    p.add_argument("--split", default="val")
    p.add_argument("--max-per-group", type=int, default=None,
                   help="evaluate at most this many samples per (dataset, task, whole-image) group")
    p.add_argument("--det-threshold", type=float, default=None)
    p.add_argument("--mask-threshold", type=float, default=None,
                   help="cut masks at this probability (default: the product's MASK_THRESHOLD)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    from egx_notebook.asking import MASK_THRESHOLD

    from . import DEFAULT_CHECKPOINT
    from .train import read_samples

    checkpoint = a.checkpoint or DEFAULT_CHECKPOINT
    mask_threshold = MASK_THRESHOLD if a.mask_threshold is None else a.mask_threshold
    samples = read_samples(a.data / f"{a.split}.jsonl")
    t0 = time.time()
    summary = evaluate(checkpoint, samples, a.data_root, max_per_group=a.max_per_group,
                       device=a.device, det_threshold=a.det_threshold, mask_threshold=mask_threshold)
    summary["_run"] = {"checkpoint": str(checkpoint), "split": a.split, "mask_threshold": mask_threshold,
                       "max_per_group": a.max_per_group, "seconds": round(time.time() - t0, 1)}
    report(summary, a.out)


if __name__ == "__main__":
    main()
