"""Seeded synthetic samples and tiny models for the model tests (test doubles live here only)."""

from __future__ import annotations

import numpy as np

CORPUS = [
    "Describe this image.", "A harbour with two ships near the coast.", "What kind of scene is this?",
    "harbour", "airport", "What is in region 1?", "a ship", "a storage tank", "Describe region 1.",
    "What is the relation between region 1 and region 2?", "region 1 is left of region 2",
    "Find all ships.", "Find all aircraft.", "Find all infrared targets.", "Segment region 1.",
    "Segment the ship in region 1.", "[DET]", "[SEG]", "There are 3 ships: <box>[100,200,300,400]</box>",
    "yes", "no", "How many ships are there?", "0 1 2 3 4 5 6 7 8 9",
]


def synthetic_sample(rng: np.random.Generator, task: str, h: int = 48, w: int = 64) -> dict:
    """One loaded sample (the dataset builder's in-memory shape) for ``task``."""
    source = ["optical", "sar", "infrared"][int(rng.integers(3))]
    bands = {"optical": 3, "sar": 2, "infrared": 1}[source]
    image = rng.random((bands, h, w)).astype(np.float32)
    x0, y0 = float(rng.integers(2, w // 2)), float(rng.integers(2, h // 2))
    box = [x0, y0, x0 + 10.0, y0 + 8.0]
    image[:, int(y0):int(y0) + 8, int(x0):int(x0) + 10] += 2.0
    seg = np.zeros((h, w), dtype=bool)
    seg[int(y0):int(y0) + 8, int(x0):int(x0) + 10] = True
    prompts, targets = [], {"boxes": np.zeros((0, 4)), "labels": [], "mask": None, "seg_mask": None}
    if task in ("caption", "classify"):
        conv = [{"user": "Describe this image.", "assistant": "A harbour with two ships near the coast."}]
    elif task == "refer":
        prompts = [{"kind": "box", "xyxy": box}]
        conv = [{"user": "What is in region 1?", "assistant": "a ship"}]
    elif task == "relation":
        prompts = [{"kind": "point", "xy": [x0 + 5, y0 + 4]}, {"kind": "box", "xyxy": [1, 1, 9, 9]}]
        conv = [{"user": "What is the relation between region 1 and region 2?",
                 "assistant": "region 1 is left of region 2"}]
    elif task == "ground":
        targets = {"boxes": np.array([box]), "labels": ["ship"], "mask": None, "seg_mask": None}
        conv = [{"user": "Find all ships.", "assistant": "[DET]"}]
    elif task == "segment":
        prompts = [{"kind": "polygon", "exterior": [[x0, y0], [x0 + 10, y0], [x0 + 10, y0 + 8], [x0, y0 + 8]]}]
        targets = {"boxes": np.zeros((0, 4)), "labels": [], "mask": None, "seg_mask": seg}
        conv = [{"user": "Segment region 1.", "assistant": "[SEG]"}]
    else:
        raise ValueError(task)
    return {"image": image, "source": source, "sar_scale": "linear" if source == "sar" else None,
            "prompts": prompts, "conversation": conv, "targets": targets}
