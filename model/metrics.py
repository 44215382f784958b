"""Metrics the remote-sensing field reports, on plain numpy arrays.

Grounding: precision / recall / F1 at IoU 0.5 (greedy matching by score, pooled over
images). Masks: per-sample IoU and mean IoU. Infrared small targets: SIRST-style set
IoU (intersection and union summed over all images), probability of detection Pd
(a target counts as detected when a predicted component's centroid lies within
``pd_distance`` pixels of the target's centroid) and false alarms Fa (predicted
components matching no target, per image; and false-alarm pixels per pixel).
Referring classification and counting: accuracy. Captions: ROUGE-L F-measure.

Every accumulator has ``update(...)`` per sample and ``compute() -> dict``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "box_iou",
    "greedy_match",
    "match_boxes",
    "GroundingMetric",
    "MaskIoUMetric",
    "SmallTargetMetric",
    "AccuracyMetric",
    "ConfusionMetric",
    "CaptionMetric",
    "rouge_l",
    "parse_count",
]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes ``a`` (N, 4) and ``b`` (M, 4) given as (x0, y0, x1, y1)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def greedy_match(iou: np.ndarray, scores: np.ndarray | None = None, iou_threshold: float = 0.5) -> np.ndarray:
    """One-to-one matching of predictions (rows of ``iou``) to ground truths (columns).

    In descending ``scores`` (row order when None), each prediction takes the unmatched
    ground truth it overlaps most, if that IoU reaches ``iou_threshold``. Returns, per
    prediction, the index of its ground truth or -1.
    """
    iou = np.asarray(iou, dtype=np.float64)
    n, m = iou.shape
    if scores is None:
        scores = np.ones(n)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    taken = np.zeros(m, dtype=bool)
    assigned = np.full(n, -1, dtype=np.int64)
    for i in order:
        if m == 0:
            break
        cand = np.where(taken, -1.0, iou[i])
        j = int(np.argmax(cand))
        if cand[j] >= iou_threshold:
            taken[j] = True
            assigned[i] = j
    return assigned


def match_boxes(
    pred: np.ndarray, scores: np.ndarray | None, gt: np.ndarray, iou_threshold: float = 0.5
) -> tuple[int, int, int]:
    """Greedy one-to-one matching by descending score (:func:`greedy_match`); returns (TP, FP, FN)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt, dtype=np.float64).reshape(-1, 4)
    tp = int((greedy_match(box_iou(pred, gt), scores, iou_threshold) >= 0).sum())
    return tp, len(pred) - tp, len(gt) - tp


@dataclass
class GroundingMetric:
    """Precision, recall and F1 at an IoU threshold, pooled over all images."""

    iou_threshold: float = 0.5
    tp: int = 0
    fp: int = 0
    fn: int = 0
    images: int = 0

    def update(self, pred_boxes, pred_scores, gt_boxes) -> None:
        tp, fp, fn = match_boxes(pred_boxes, pred_scores, gt_boxes, self.iou_threshold)
        self.tp += tp
        self.fp += fp
        self.fn += fn
        self.images += 1

    def compute(self) -> dict:
        p = self.tp / max(self.tp + self.fp, 1)
        r = self.tp / max(self.tp + self.fn, 1)
        f1 = 2 * p * r / max(p + r, 1e-12)
        return {"precision": p, "recall": r, "f1": f1, "tp": self.tp, "fp": self.fp,
                "fn": self.fn, "images": self.images}


@dataclass
class MaskIoUMetric:
    """Per-sample IoU of boolean masks; reports the mean (mIoU) and the pooled IoU."""

    ious: list = field(default_factory=list)
    inter: int = 0
    union: int = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        pred = np.asarray(pred, dtype=bool)
        gt = np.asarray(gt, dtype=bool)
        if pred.shape != gt.shape:
            raise ValueError(f"mask shapes differ: prediction {pred.shape}, target {gt.shape}")
        i = int(np.logical_and(pred, gt).sum())
        u = int(np.logical_or(pred, gt).sum())
        self.inter += i
        self.union += u
        self.ious.append(1.0 if u == 0 else i / u)

    def compute(self) -> dict:
        return {"miou": float(np.mean(self.ious)) if self.ious else 0.0,
                "pooled_iou": self.inter / max(self.union, 1), "samples": len(self.ious)}


def _components(mask: np.ndarray) -> list[np.ndarray]:
    from scipy import ndimage

    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return []
    return [np.array(c) for c in ndimage.center_of_mass(mask, labels, range(1, n + 1))]


@dataclass
class SmallTargetMetric:
    """SIRST-style metrics for infrared small targets.

    ``set_iou`` sums intersections and unions over all images; ``pd`` is the share of
    target components whose centroid has a predicted component centroid within
    ``pd_distance`` pixels; ``fa_per_image`` counts predicted components matched to no
    target, per image; ``fa_pixel`` is false-alarm pixels (predicted pixels in unmatched
    components) per image pixel.
    """

    pd_distance: float = 3.0
    inter: int = 0
    union: int = 0
    targets: int = 0
    detected: int = 0
    false_alarms: int = 0
    false_pixels: int = 0
    pixels: int = 0
    images: int = 0

    def update(self, pred: np.ndarray, gt: np.ndarray) -> None:
        from scipy import ndimage

        pred = np.asarray(pred, dtype=bool)
        gt = np.asarray(gt, dtype=bool)
        if pred.shape != gt.shape:
            raise ValueError(f"mask shapes differ: prediction {pred.shape}, target {gt.shape}")
        self.inter += int(np.logical_and(pred, gt).sum())
        self.union += int(np.logical_or(pred, gt).sum())
        self.pixels += pred.size
        self.images += 1
        gt_c = _components(gt)
        plabels, n_pred = ndimage.label(pred, structure=np.ones((3, 3)))
        pred_c = (
            [np.array(c) for c in ndimage.center_of_mass(pred, plabels, range(1, n_pred + 1))]
            if n_pred else []
        )
        self.targets += len(gt_c)
        used = np.zeros(len(pred_c), dtype=bool)
        for c in gt_c:
            if not pred_c:
                break
            d = np.array([np.hypot(*(c - p)) if not used[k] else np.inf for k, p in enumerate(pred_c)])
            k = int(np.argmin(d))
            if d[k] <= self.pd_distance:
                used[k] = True
                self.detected += 1
        for k in np.flatnonzero(~used):
            self.false_alarms += 1
            self.false_pixels += int((plabels == k + 1).sum())

    def compute(self) -> dict:
        return {"set_iou": self.inter / max(self.union, 1),
                "pd": self.detected / max(self.targets, 1),
                "fa_per_image": self.false_alarms / max(self.images, 1),
                "fa_pixel": self.false_pixels / max(self.pixels, 1),
                "targets": self.targets, "images": self.images}


@dataclass
class AccuracyMetric:
    """Share of exact matches (e.g. referring classification, counting)."""

    correct: int = 0
    total: int = 0

    def update(self, predicted, expected) -> None:
        self.total += 1
        self.correct += int(predicted is not None and predicted == expected)

    def compute(self) -> dict:
        return {"accuracy": self.correct / max(self.total, 1), "samples": self.total}


@dataclass
class ConfusionMetric:
    """Which class was named for which expected one, e.g. for referring classification.

    ``compute()`` gives counts keyed ``"expected->named"``, most frequent first within
    each expected class; an answer that names no class counts as ``"none"``.
    """

    counts: dict = field(default_factory=dict)

    def update(self, predicted, expected) -> None:
        row = self.counts.setdefault(str(expected), {})
        named = "none" if predicted is None else str(predicted)
        row[named] = row.get(named, 0) + 1

    def compute(self) -> dict:
        return {f"{e}->{n}": c for e in sorted(self.counts)
                for n, c in sorted(self.counts[e].items(), key=lambda kv: (-kv[1], kv[0]))}


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def rouge_l(candidate: str, reference: str) -> float:
    """ROUGE-L F-measure between two strings (longest common word subsequence)."""
    c, r = _words(candidate), _words(reference)
    if not c or not r:
        return float(c == r)
    prev = [0] * (len(r) + 1)
    for wc in c:
        cur = [0]
        for j, wr in enumerate(r):
            cur.append(prev[j] + 1 if wc == wr else max(prev[j + 1], cur[j]))
        prev = cur
    lcs = prev[-1]
    if lcs == 0:
        return 0.0
    p, rec = lcs / len(c), lcs / len(r)
    return 2 * p * rec / (p + rec)


@dataclass
class CaptionMetric:
    """Mean ROUGE-L F-measure of generated captions against reference captions."""

    scores: list = field(default_factory=list)

    def update(self, candidate: str, reference: str) -> None:
        self.scores.append(rouge_l(candidate, reference))

    def compute(self) -> dict:
        return {"rouge_l": float(np.mean(self.scores)) if self.scores else 0.0,
                "samples": len(self.scores)}


_NUMBER_WORDS = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"no": 0, "none": 0})


def parse_count(text: str) -> int | None:
    """First count stated in ``text`` (digits or a number word up to twenty), else None."""
    for w in _words(text):
        if w.isdigit():
            return int(w)
        if w in _NUMBER_WORDS:
            return _NUMBER_WORDS[w]
    return None
