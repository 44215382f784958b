"""Train the ``[SEG]`` mask head alone, on a frozen model's own ``[SEG]`` states.

The mask head (``SegMaskHead``) reads the ``[SEG]`` hidden state, the fused stride-16
grid (which depends on the view and its prompts), the union of the prompts, and the
view's stride-4 and stem features. Nothing else of the model moves, so grounding, scene
answers and the class a region is called are exactly the starting model's. Training it
through the whole model (``model.train --freeze ...``) would run the language model
again for every draw; this trainer runs it once:

1. it loads every ``segment`` sample of the builder's train split (and up to
   ``--val-samples`` of the val split) once and keeps its canvas, valid mask, prompt
   union, target mask, fused grid and ``[SEG]`` state in memory (``out/cache.pt``);
2. it trains the head on random draws (per-dataset weights), running the frozen vision
   encoder on the draw's canvases for the stride-4 and stem features, with the model's
   own mask loss (BCE + Dice), saving ``out/checkpoint.pt`` as it goes (a rerun resumes);
3. every ``--eval-every`` steps it scores the head on the cached val samples (mean mask
   IoU at the product's ``MASK_THRESHOLD``) and keeps the best; the whole model with the
   best head goes to ``out/final``::

    python -m egx_notebook.model.train_masks --init-from model/checkpoints/default \\
        --data runs/data-v7 --data-root ../shared/data --out runs/m1 --minutes 40

The cached states are teacher-forced on the builder's windows, so no flips: the state
and the fused grid belong to the view as it was.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data.sampling import mix_shares, sample_weights
from .modeling.losses import mask_losses
from .modeling_egx import EgxForConditionalGeneration
from .processing_egx import EgxProcessor
from .train import only_tasks, read_samples
from .metrics import MaskIoUMetric
from .train_grounding import (_collate, _Indexed, head_lr_scale, head_optimizer, head_trainer_parser,
                              last_token_states, resume_head, save_final, save_head, start_head_training)

__all__ = ["seg_inputs", "build_mask_cache", "mask_iou", "train_masks"]


@torch.no_grad()
def seg_inputs(model: EgxForConditionalGeneration, batch: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Teacher-forced inputs of the mask head for each row's last ``[SEG]`` token.

    Returns the ``[SEG]`` hidden states (B, H), the fused grids (B, C, g, g) and the
    prompt unions (B, S, S) as booleans.
    """
    states, fused, masks, valid = last_token_states(model, batch, model.config.seg_token_id, "[SEG]")
    union = model._prompt_union(masks, valid)
    s = model.config.image_size
    union = torch.zeros(states.shape[0], s, s, dtype=torch.bool) if union is None else union[:, 0] > 0.5
    return states, fused.float(), union


def build_mask_cache(model: EgxForConditionalGeneration, processor: EgxProcessor, samples: list[dict],
                     data_root: Path | None, batch_size: int = 16, num_workers: int = 2, log=print) -> dict:
    """Every sample's canvas, prompt union, target mask, fused grid and ``[SEG]`` state."""
    n, s = len(samples), processor.image_size
    c = model.config
    g = c.image_size // 16
    cache = {"pixels": torch.zeros(n, 3, s, s, dtype=torch.float16), "valid": torch.zeros(n, s, s, dtype=torch.bool),
             "prompt": torch.zeros(n, s, s, dtype=torch.bool), "target": torch.zeros(n, s, s, dtype=torch.bool),
             "target_valid": torch.zeros(n, dtype=torch.bool), "source_ids": torch.zeros(n, dtype=torch.long),
             "fused": torch.zeros(n, c.fusion_dim, g, g, dtype=torch.float16),
             "states": torch.zeros(n, model.language_model.config.hidden_size)}
    loader = DataLoader(_Indexed(samples, data_root), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_collate(processor))
    start = time.time()
    for j, (idx, batch) in enumerate(loader):
        t = torch.tensor(idx)
        hidden, fused, union = seg_inputs(model, batch)
        cache["pixels"][t] = batch["pixel_values"].half()
        cache["valid"][t] = batch["valid_mask"][:, 0] > 0.5
        cache["prompt"][t] = union
        cache["target"][t] = batch["seg_masks"][:, 0] > 0.5
        cache["target_valid"][t] = batch["seg_valid"].bool()
        cache["source_ids"][t] = batch["source_ids"]
        cache["fused"][t] = fused.half()
        cache["states"][t] = hidden
        if j % 50 == 0:
            log(f"cache: {min((j + 1) * batch_size, n)}/{n} samples, {time.time() - start:.0f} s")
    return cache


def _head_logits(model: EgxForConditionalGeneration, cache: dict, rows: torch.Tensor) -> torch.Tensor:
    """Mask logits (N, S, S) of the head for cache rows ``rows`` (the vision encoder runs frozen)."""
    pixels = cache["pixels"][rows].float()
    valid = cache["valid"][rows][:, None].float()
    with torch.no_grad():
        feats = model.vision(pixels, cache["source_ids"][rows], valid)
    prompt = cache["prompt"][rows][:, None].float()
    return model.seg_head(cache["states"][rows], cache["fused"][rows].float(), prompt, feats.s4, feats.stem)


@torch.no_grad()
def mask_iou(model: EgxForConditionalGeneration, cache: dict, threshold: float, batch_size: int = 16) -> float:
    """Mean IoU of the head's masks (probability > ``threshold``) against the cached targets."""
    rows = torch.nonzero(cache["target_valid"]).flatten()
    metric = MaskIoUMetric()
    for k in range(0, len(rows), batch_size):
        r = rows[k: k + batch_size]
        pred = torch.sigmoid(_head_logits(model, cache, r)) > threshold
        for p, t in zip(pred.numpy(), cache["target"][r].numpy()):
            metric.update(p, t)
    return metric.compute()["miou"] if metric.ious else float("nan")


def train_masks(model: EgxForConditionalGeneration, cache: dict, weights: np.ndarray, out: Path, *,
                minutes: float, val_cache: dict | None = None, threshold: float = 0.3, batch_size: int = 16,
                lr: float = 5e-4, weight_decay: float = 0.05, warmup_steps: int = 50, save_every: int = 200,
                eval_every: int = 200, seed: int = 0, log=print) -> dict:
    """Train ``model.seg_head`` on ``cache`` for ``minutes`` (resuming ``out/checkpoint.pt``).

    With ``val_cache`` the head is scored every ``eval_every`` steps and at the end, and
    the best-scoring head (the starting one included) is left in ``model``. Returns the
    steps run, the val score of each evaluation and the step of the head kept.
    """
    head = model.seg_head
    opt = head_optimizer(model, head, lr, weight_decay)
    rng = np.random.default_rng(seed)
    ckpt = out / "checkpoint.pt"
    state = resume_head(ckpt, head, opt, rng, log)
    step, spent = state.get("step", 0), state.get("elapsed_s", 0.0)
    scores, best = state.get("scores", []), state.get("best")

    def evaluate() -> None:
        nonlocal best
        if val_cache is None:
            return
        head.eval()
        score = mask_iou(model, val_cache, threshold, batch_size)
        scores.append({"step": step, "val_miou": score})
        log(f"step {step}: val mask IoU {score:.4f}")
        if best is None or score > best["val_miou"]:
            best = {"step": step, "val_miou": score, "head": copy.deepcopy(head.state_dict())}

    if best is None:
        evaluate()
    budget = minutes * 60
    loss_weights = model.loss_weights()
    usable = weights * cache["target_valid"].numpy()
    usable = usable / usable.sum()
    log_file = open(out / "log.jsonl", "a", encoding="utf-8")
    start = time.time() - spent
    while time.time() - start < budget:
        head.train()
        progress = (time.time() - start) / budget
        scale = head_lr_scale(step, warmup_steps, progress)
        for group in opt.param_groups:
            group["lr"] = lr * scale
        rows = torch.from_numpy(rng.choice(len(usable), batch_size, p=usable))
        logits = _head_logits(model, cache, rows)
        bce, dice = mask_losses(logits, cache["target"][rows].float())
        loss = loss_weights["mask_bce"] * bce + loss_weights["mask_dice"] * dice
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == 1:
            row = {"step": step, "loss": loss.item(), "mask_bce": bce.item(), "mask_dice": dice.item(),
                   "lr": lr * scale, "elapsed_s": round(time.time() - start, 1)}
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if step % eval_every == 0:
            evaluate()
        if step % save_every == 0:
            save_head(ckpt, head, opt, rng, step, time.time() - start, scores=scores, best=best)
    log_file.close()
    if not scores or scores[-1]["step"] != step:
        evaluate()
    head.eval()
    if best is not None:
        head.load_state_dict(best["head"])
    return {"steps": step, "val": scores, "kept_step": None if best is None else best["step"]}


def main(argv: list[str] | None = None) -> None:
    p = head_trainer_parser(__doc__, minutes=40.0, lr=5e-4)
    p.add_argument("--eval-every", type=int, default=200, help="steps between val scores (the best head is kept)")
    p.add_argument("--val-samples", type=int, default=400,
                   help="val segment samples of real datasets scored to pick the head kept (0: keep the last)")
    a = p.parse_args(argv)
    from egx_notebook.asking import MASK_THRESHOLD

    processor, model, samples = start_head_training(a, "segment")
    val = [s for s in only_tasks(read_samples(a.data / "val.jsonl"), ["segment"]) if s["dataset"] != "synthetic"]
    val = [val[i] for i in np.random.default_rng(a.seed).permutation(len(val))[: a.val_samples]]
    caches = {}
    for name, rows in (("cache", samples), ("val_cache", val)):
        path = a.out / f"{name}.pt"
        if path.exists():
            caches[name] = torch.load(path, weights_only=False)
        elif rows:
            caches[name] = build_mask_cache(model, processor, rows, a.data_root, a.batch_size, a.num_workers)
            torch.save(caches[name], path)
    weights = sample_weights(samples, a.balance, None, a.dataset_weights)
    result = train_masks(model, caches["cache"], weights, a.out, minutes=a.minutes, val_cache=caches.get("val_cache"),
                         threshold=MASK_THRESHOLD, batch_size=a.batch_size, lr=a.lr, save_every=a.save_every,
                         eval_every=a.eval_every, seed=a.seed)
    final = save_final(model, processor, a.out, a, {
        "trainer": "egx_notebook.model.train_masks", **result, "train_samples": len(samples),
        "val_samples": len(val), "mix": mix_shares(samples, weights, "dataset"), "trainable": ["seg_head"]})
    print(f"final model: {final} (head of step {result['kept_step']})")


if __name__ == "__main__":
    main()
