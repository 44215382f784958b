"""Sampling weights that rebalance the training mix across datasets and tasks.

The builder's datasets differ in size by 4x (SSDD has 8,768 training samples,
NEPU-OWOD 2,060), so drawing samples uniformly gives the small datasets few
steps. :func:`sample_weights` gives each sample a weight

    w = n_dataset ** (-balance) * dataset_weights.get(dataset, 1) * task_weights.get(task, 1)
        * max(class_weights.get(c, 1) for c in the sample's prompted regions' classes)

so that ``balance=0`` keeps the natural mix, ``balance=1`` gives every dataset
the same share, ``dataset_weights`` favours datasets the model still gets wrong
(e.g. HIT-UAV's thermal people), ``task_weights`` favours tasks (e.g.
grounding) further and ``class_weights`` favours the prompted samples of a class
the model confuses (e.g. thermal bicycles, named "car").
"""

from __future__ import annotations

from collections import Counter
from typing import Mapping, Sequence

import numpy as np

__all__ = ["sample_weights", "mix_shares", "region_class_shares"]


def _region_classes(sample: dict) -> Sequence[str]:
    """The classes of a sample's prompted regions (none for unprompted tasks)."""
    return (sample.get("targets") or {}).get("region_labels") or ()


def sample_weights(samples: Sequence[dict], balance: float = 0.0,
                   task_weights: Mapping[str, float] | None = None,
                   dataset_weights: Mapping[str, float] | None = None,
                   class_weights: Mapping[str, float] | None = None) -> np.ndarray:
    """Per-sample draw weights (float64, summing to 1).

    Parameters
    ----------
    samples : sequence of dict
        Builder samples; each needs ``"dataset"`` and ``"task"``.
    balance : float
        Exponent in [0, 1] flattening dataset sizes (0: natural mix, 1: equal shares).
    task_weights : mapping, optional
        Extra weight per task name; tasks not listed weigh 1.
    dataset_weights : mapping, optional
        Extra weight per dataset name, applied after ``balance``; datasets not listed
        weigh 1. Every name must be a dataset of ``samples`` (a typo would otherwise
        silently change nothing).
    class_weights : mapping, optional
        Extra weight for the samples whose prompted regions (``targets["region_labels"]``:
        referring, region captions, relations, referring segmentation) hold one of these
        classes; a sample takes the largest weight of its regions' classes. Every name
        must be a class of some prompted region in ``samples``.
    """
    if not 0.0 <= balance <= 1.0:
        raise ValueError(f"balance={balance} must lie in [0, 1]")
    task_weights = dict(task_weights or {})
    dataset_weights = dict(dataset_weights or {})
    class_weights = dict(class_weights or {})
    # kept apart: a task and a dataset may share a name
    bad = {f"{kind} {k!r}": v for kind, weights in (("task", task_weights), ("dataset", dataset_weights),
                                                   ("class", class_weights))
           for k, v in weights.items() if not v > 0}
    if bad:
        raise ValueError(f"task, dataset and class weights must be positive, got {bad}")
    sizes = Counter(s["dataset"] for s in samples)
    unknown = sorted(set(dataset_weights) - set(sizes))
    if unknown:
        raise ValueError(f"dataset_weights name datasets not in the samples: {unknown}; the samples "
                         f"hold {sorted(sizes)}. Weigh those instead (train: --dataset-weights "
                         f"NAME=W,...) or none (--dataset-weights '')")
    regions = [_region_classes(s) for s in samples]
    if class_weights:
        classes = {c for r in regions for c in r}
        unknown = sorted(set(class_weights) - classes)
        if unknown:
            raise ValueError(f"class_weights name classes no prompted region has: {unknown}; the samples' "
                             f"regions hold {sorted(classes)} (train: --class-weights NAME=W,...)")
    w = np.array([sizes[s["dataset"]] ** -balance * dataset_weights.get(s["dataset"], 1.0)
                  * task_weights.get(s["task"], 1.0) * max((class_weights.get(c, 1.0) for c in r), default=1.0)
                  for s, r in zip(samples, regions)], dtype=np.float64)
    return w / w.sum()


def mix_shares(samples: Sequence[dict], weights: np.ndarray, key: str = "dataset") -> dict[str, float]:
    """Expected share of draws per ``key`` value (``"dataset"`` or ``"task"``) under ``weights``."""
    shares: dict[str, float] = {}
    for s, w in zip(samples, weights):
        shares[s[key]] = shares.get(s[key], 0.0) + float(w)
    return dict(sorted(shares.items()))


def region_class_shares(samples: Sequence[dict], weights: np.ndarray) -> dict[str, float]:
    """Expected share of draws whose prompted regions hold each class (a sample prompting
    two classes counts for both; samples without prompted regions for none)."""
    shares: dict[str, float] = {}
    for s, w in zip(samples, weights):
        for c in set(_region_classes(s)):
            shares[c] = shares.get(c, 0.0) + float(w)
    return dict(sorted(shares.items()))
