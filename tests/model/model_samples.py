"""Seeded synthetic samples, tiny models and a scripted-LLM test double for the model tests.

Test doubles live here only. :func:`scripted_tokens` is the one place a test steers the
model: it overrides the *choice* of the next token (the LLM's logits) so that a random
model says ``[SEG]`` or ``[DET]``; the hidden states, the KV-cached decoding, the pixel
heads and the post-processing that follow are the product's own code.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np

CORPUS = [
    "Describe this image.", "A harbour with two ships near the coast.", "What kind of scene is this?",
    "harbour", "airport", "What is in region 1?", "a ship", "a storage tank", "Describe region 1.",
    "What is the relation between region 1 and region 2?", "region 1 is left of region 2",
    "Find all ships.", "Find all aircraft.", "Find all infrared targets.", "Segment region 1.",
    "Segment the ship in region 1.", "Segment region 1 and region 2.", "[DET]", "[SEG]",
    "There are 3 ships: <box>[100,200,300,400]</box>", "yes", "no", "How many ships are there?",
    "0 1 2 3 4 5 6 7 8 9",
]
TASKS = ("caption", "classify", "refer", "relation", "ground", "segment")


def synthetic_sample(rng: np.random.Generator, task: str, h: int = 48, w: int = 64,
                     source: str | None = None) -> dict:
    """One loaded sample (the dataset builder's in-memory shape) for ``task``.

    A bright 10 x 8 pixel object is painted at a random place; grounding targets
    its box, segmentation its mask.
    """
    if source is None:
        source = ["optical", "sar", "infrared"][int(rng.integers(3))]
    bands = {"optical": 3, "sar": 2, "infrared": 1}[source]
    image = rng.random((bands, h, w)).astype(np.float32)
    x0, y0 = float(rng.integers(2, w // 2)), float(rng.integers(2, h // 2))
    box = [x0, y0, x0 + 10.0, y0 + 8.0]
    image[:, int(y0):int(y0) + 8, int(x0):int(x0) + 10] += 2.0
    seg = np.zeros((h, w), dtype=bool)
    seg[int(y0):int(y0) + 8, int(x0):int(x0) + 10] = True
    prompts, targets = [], {"boxes": np.zeros((0, 4)), "labels": [], "mask": None, "seg_mask": None}
    if task == "caption":
        conv = [{"user": "Describe this image.", "assistant": "A harbour with two ships near the coast."}]
    elif task == "classify":
        conv = [{"user": "What kind of scene is this?", "assistant": "harbour"}]
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


def tiny_tokenizer():
    """The in-process BPE tokenizer of the tiny test models (deterministic)."""
    from egx_notebook.model import train_tokenizer

    return train_tokenizer(CORPUS * 4, vocab_size=400)


def build_tiny(seed: int = 0, **overrides):
    """A tiny random EarthGPT-X and its processor, ``(model, processor)``, model in eval mode."""
    import torch

    from egx_notebook.model import EgxConfig, EgxForConditionalGeneration, EgxProcessor

    torch.manual_seed(seed)
    config = EgxConfig.tiny(**overrides)
    processor = EgxProcessor(tokenizer=tiny_tokenizer(), image_size=config.image_size)
    config = processor.configure(config)
    return EgxForConditionalGeneration(config).eval(), processor


@contextmanager
def scripted_tokens(model, scripts: list[list[int]]):
    """Make ``model.generate`` emit ``scripts[row]`` (then ``<|end|>``) token by token.

    A forward hook on the language model replaces the logits of the last position
    with a one-hot choice; everything else (hidden states, KV cache, heads) is real.
    Yields a list that records the number of LLM calls.
    """
    import torch

    end = model.config.end_token_id
    calls = [0]

    def hook(module, args, output):
        step = calls[0]
        calls[0] += 1
        logits = output.logits
        forced = torch.full_like(logits[:, -1], -1e4)
        for r, script in enumerate(scripts):
            tok = script[step] if step < len(script) else end
            forced[r, tok] = 1e4
        logits[:, -1] = forced
        return output

    handle = model.language_model.register_forward_hook(hook)
    try:
        yield calls
    finally:
        handle.remove()
