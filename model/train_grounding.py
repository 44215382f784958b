"""Train the grounding head alone, on a frozen model's own ``[DET]`` states.

A head with a backbone of its own (``EgxConfig.det_backbone``) reads only the view's stem
and the ``[DET]`` hidden state; nothing else of the model moves. Training it through the
whole model (``model.train --freeze ...``) would run the vision encoder and the language
model again for every draw (2.34 s a step of 8 on 2 CPU cores, where this trainer takes
1.2-1.9 s a step of 16; model card, runs/v31-v33). This trainer runs them once:

1. it loads every grounding sample of the builder's train split once and keeps its canvas,
   valid mask, boxes and class mask in memory (``out/cache.pt``);
2. it takes the frozen model's ``[DET]`` state for up to ``--states-per-question`` samples
   of each (source, question) pair, teacher-forced as in training;
3. it trains the head on random draws (per-dataset weights, random flips), each row
   conditioned on one of its question's states, with the model's own grounding loss,
   saving ``out/checkpoint.pt`` as it goes (a rerun resumes), and writes the whole
   model to ``out/final``::

    python -m egx_notebook.model.train_grounding --init-from model/checkpoints/default \\
        --data runs/data-v6 --data-root ../shared/data --out runs/v32 --config det_backbone=32 --minutes 50
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .data.sampling import mix_shares, sample_weights
from .modeling.losses import mask_losses
from .modeling_egx import EgxForConditionalGeneration
from .processing_egx import EgxProcessor
from .train import SampleDataset, _config_overrides, _name_weights, only_tasks, read_samples

__all__ = ["det_states", "build_cache", "train_grounding"]


def _question(sample: dict) -> tuple[str, str]:
    conv = sample["conversation"]
    return sample["source"], json.dumps([[t["user"], t["assistant"]] for t in conv[:-1]] + [conv[-1]["user"]])


@torch.no_grad()
def last_token_states(model: EgxForConditionalGeneration, batch: dict, token_id: int, name: str):
    """Teacher-forced pass: the language model's last hidden state at each row's last ``token_id``.

    Returns the states (B, H), the fused grids and the prompt masks and validity the pass used.
    """
    ids, attn = batch["input_ids"], batch["attention_mask"]
    feats = model._encode(batch["pixel_values"], batch["source_ids"], batch["valid_mask"], batch["view_scale"])
    masks, valid = model._prompts(batch["prompt_masks"], batch["prompt_valid"], ids.shape[0], feats.grid)
    embeds, fused, _, _ = model._visual_embeds(feats, ids, masks, valid)
    out = model.language_model(inputs_embeds=embeds, attention_mask=attn, position_ids=model._position_ids(attn),
                               use_cache=False, output_hidden_states=True)
    is_token = ids == token_id
    if not bool(is_token.any(1).all()):
        raise ValueError(f"every sample needs a {name} token in its answer")
    last = (is_token * torch.arange(ids.shape[1])).argmax(1)
    return out.hidden_states[-1][torch.arange(ids.shape[0]), last].float(), fused, masks, valid


def det_states(model: EgxForConditionalGeneration, batch: dict) -> torch.Tensor:
    """The language model's last hidden state at each row's last ``[DET]`` token, teacher-forced (B, H)."""
    return last_token_states(model, batch, model.config.det_token_id, "[DET]")[0]


def _collate(processor: EgxProcessor):
    def f(items):
        idx, samples = zip(*items)
        return list(idx), processor.collate(list(samples))
    return f


class _Indexed(SampleDataset):
    def __getitem__(self, i: int):
        return i, super().__getitem__(i)


def build_cache(model: EgxForConditionalGeneration, processor: EgxProcessor, samples: list[dict],
                data_root: Path | None, states_per_question: int, seed: int, batch_size: int = 16,
                num_workers: int = 2, log=print) -> dict:
    """Every sample's canvas and targets, and ``[DET]`` states of up to ``states_per_question``
    samples per (source, question) pair; see the module docstring."""
    keys = [_question(s) for s in samples]
    index = {k: i for i, k in enumerate(sorted(set(keys)))}
    key_ids = torch.tensor([index[k] for k in keys])
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    taken: dict[int, int] = {}
    wanted = set()
    for i in order:
        k = int(key_ids[i])
        if taken.get(k, 0) < states_per_question:
            taken[k] = taken.get(k, 0) + 1
            wanted.add(i)
    n, s = len(samples), processor.image_size
    cache = {"pixels": torch.zeros(n, 3, s, s, dtype=torch.float16), "valid": torch.zeros(n, s, s, dtype=torch.bool),
             "mask": torch.zeros(n, s, s, dtype=torch.bool), "det_valid": torch.zeros(n, dtype=torch.bool),
             "source_ids": torch.zeros(n, dtype=torch.long), "boxes": [None] * n, "key_ids": key_ids,
             "state_rows": [], "states": []}
    loader = DataLoader(_Indexed(samples, data_root), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_collate(processor))
    start = time.time()
    for j, (idx, batch) in enumerate(loader):
        t = torch.tensor(idx)
        cache["pixels"][t] = batch["pixel_values"].half()
        cache["valid"][t] = batch["valid_mask"][:, 0] > 0.5
        cache["mask"][t] = batch["det_masks"][:, 0] > 0.5
        cache["det_valid"][t] = batch["det_valid"]
        cache["source_ids"][t] = batch["source_ids"]
        for r, i in enumerate(idx):
            cache["boxes"][i] = batch["det_boxes"][r][batch["det_box_valid"][r]].clone()
        rows = [r for r, i in enumerate(idx) if i in wanted]
        if rows:
            sub = {k: (v[rows] if torch.is_tensor(v) and v.shape[:1] == (len(idx),) else v) for k, v in batch.items()}
            cache["states"].append(det_states(model, sub))
            cache["state_rows"] += [idx[r] for r in rows]
        if j % 50 == 0:
            log(f"cache: {min((j + 1) * batch_size, n)}/{n} samples, {len(cache['state_rows'])} states, "
                f"{time.time() - start:.0f} s")
    cache["states"] = torch.cat(cache["states"])
    cache["state_rows"] = torch.tensor(cache["state_rows"])
    return cache


def _flip(pixels, valid, mask, boxes, side: int, dims: tuple[int, ...]):
    """Flip a row's canvas, masks and (x0, y0, x1, y1) boxes along ``dims`` (-1 columns, -2 rows)."""
    pixels, valid, mask = pixels.flip(dims), valid.flip(dims), mask.flip(dims)
    boxes = boxes.clone()
    if -1 in dims:
        boxes[:, [0, 2]] = side - boxes[:, [2, 0]]
    if -2 in dims:
        boxes[:, [1, 3]] = side - boxes[:, [3, 1]]
    return pixels, valid, mask, boxes


def head_optimizer(model: EgxForConditionalGeneration, head: torch.nn.Module, lr: float,
                   weight_decay: float) -> torch.optim.AdamW:
    """Freeze ``model`` but ``head`` (everything in eval mode) and return AdamW over the head."""
    model.eval()
    model.requires_grad_(False)
    head.requires_grad_(True)
    return torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)


def head_lr_scale(step: int, warmup_steps: int, progress: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine over the time budget (``progress`` in [0, 1]) to 5 %."""
    return min(1.0, (step + 1) / warmup_steps) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))


def resume_head(path: Path, head: torch.nn.Module, opt: torch.optim.Optimizer, rng: np.random.Generator,
                log=print) -> dict:
    """Load a head checkpoint written by :func:`save_head` into ``head``, ``opt`` and ``rng``;
    returns the whole saved state ({} when there is none)."""
    if not path.exists():
        return {}
    state = torch.load(path, weights_only=False)
    head.load_state_dict(state["head"])
    opt.load_state_dict(state["optimizer"])
    rng.bit_generator.state = state["rng"]
    log(f"resuming from {path} at step {state['step']}")
    return state


def save_head(path: Path, head: torch.nn.Module, opt: torch.optim.Optimizer, rng: np.random.Generator, step: int,
              elapsed_s: float, **extra) -> None:
    """Save the head, its optimizer and ``rng`` at ``step`` (plus ``extra``) for :func:`resume_head`."""
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"head": head.state_dict(), "optimizer": opt.state_dict(), "step": step, "elapsed_s": elapsed_s,
                "rng": rng.bit_generator.state, **extra}, tmp)
    tmp.replace(path)  # a crash mid-save never leaves a half-written checkpoint


def train_grounding(model: EgxForConditionalGeneration, cache: dict, weights: np.ndarray, out: Path, *,
                    minutes: float, batch_size: int = 16, lr: float = 2e-3, weight_decay: float = 0.05,
                    warmup_steps: int = 100, save_every: int = 200, mask_rows_per_step: int = 4, seed: int = 0,
                    log=print) -> int:
    """Train ``model.det_head`` on ``cache`` for ``minutes`` (resuming ``out/checkpoint.pt``); returns the steps run.

    The class mask (full resolution, the costly part of a step) is trained on the first
    ``mask_rows_per_step`` rows of each draw; boxes on every row.
    """
    head = model.det_head
    opt = head_optimizer(model, head, lr, weight_decay)
    head.train()
    rng = np.random.default_rng(seed)
    ckpt = out / "checkpoint.pt"
    state = resume_head(ckpt, head, opt, rng, log)
    step, spent = state.get("step", 0), state.get("elapsed_s", 0.0)
    by_key: dict[int, list[int]] = {}
    for j, i in enumerate(cache["state_rows"].tolist()):
        by_key.setdefault(int(cache["key_ids"][i]), []).append(j)
    side = cache["pixels"].shape[-1]
    budget = minutes * 60
    loss_weights = model.loss_weights()
    log_file = open(out / "log.jsonl", "a", encoding="utf-8")
    start = time.time() - spent
    while time.time() - start < budget:
        progress = (time.time() - start) / budget
        scale = head_lr_scale(step, warmup_steps, progress)
        for g in opt.param_groups:
            g["lr"] = lr * scale
        idx = rng.choice(len(weights), batch_size, p=weights)
        rows = []
        for i in idx:
            dims = tuple(d for d, flip in ((-1, rng.random() < 0.5), (-2, rng.random() < 0.5)) if flip)
            rows.append(_flip(cache["pixels"][i].float(), cache["valid"][i], cache["mask"][i], cache["boxes"][i],
                              side, dims))
        n = max(1, max(len(r[3]) for r in rows))
        boxes = torch.zeros(batch_size, n, 4)
        box_valid = torch.zeros(batch_size, n, dtype=torch.bool)
        for r, row in enumerate(rows):
            boxes[r, : len(row[3])] = row[3]
            box_valid[r, : len(row[3])] = True
        states = cache["states"][[int(rng.choice(by_key[int(cache["key_ids"][i])])) for i in idx]]
        pixels = torch.stack([r[0] for r in rows])
        valid = torch.stack([r[1] for r in rows])[:, None].float()
        with torch.no_grad():
            stem = model.vision.stems(pixels, cache["source_ids"][idx], valid)
        det_valid = cache["det_valid"][idx]
        mask_rows = torch.arange(min(mask_rows_per_step, batch_size))
        maps = head(states, None, None, None, None, stem, mask_rows=mask_rows)
        terms = model._det_losses(maps, torch.arange(batch_size), boxes, box_valid, None, det_valid)
        ok = det_valid[mask_rows]
        if ok.any():
            target = torch.stack([rows[r][2] for r in mask_rows.tolist()]).float()
            terms["det_mask_bce"], terms["det_mask_dice"] = mask_losses(maps["mask"][ok], target[ok])
        if not terms:  # no row of the draw asks for boxes
            continue
        loss = sum(loss_weights[k] * v for k, v in terms.items())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(head.parameters(), 1.0)
        opt.step()
        step += 1
        if step % 25 == 0 or step == 1:
            row = {"step": step, "loss": loss.item(), "lr": lr * scale, "elapsed_s": round(time.time() - start, 1)}
            row.update({k: float(v.detach()) for k, v in terms.items()})
            log_file.write(json.dumps(row) + "\n")
            log_file.flush()
            log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()))
        if step % save_every == 0:
            save_head(ckpt, head, opt, rng, step, time.time() - start)
    log_file.close()
    head.eval()
    return step


def head_trainer_parser(description: str, minutes: float, lr: float) -> argparse.ArgumentParser:
    """The arguments every trainer of one head on a frozen model takes."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--init-from", type=Path, required=True, help="the model folder whose other parts stay as they are")
    p.add_argument("--data", type=Path, required=True, help="folder with the dataset builder's jsonl files")
    p.add_argument("--data-root", type=Path, help="root the samples' image paths are relative to")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--minutes", type=float, default=minutes, help="training time (the cache is built before)")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200, help="steps between checkpoints (out/checkpoint.pt)")
    p.add_argument("--balance", type=float, default=0.0)
    p.add_argument("--dataset-weights", type=_name_weights, metavar="NAME=W,...")
    p.add_argument("--num-workers", type=int, default=2, help="loader workers while building the cache")
    return p


def start_head_training(args: argparse.Namespace, task: str, **config) -> tuple[EgxProcessor,
                                                                             EgxForConditionalGeneration, list[dict]]:
    """Seed, make ``args.out``, load the model to train a head of (``config`` overrides its
    EgxConfig) and read the training samples of ``task``."""
    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    processor = EgxProcessor.from_pretrained(args.init_from)
    model = EgxForConditionalGeneration.from_pretrained(args.init_from, **config).eval()
    return processor, model, only_tasks(read_samples(args.data / "train.jsonl"), [task])


def save_final(model: EgxForConditionalGeneration, processor: EgxProcessor, out: Path, args: argparse.Namespace,
               record: dict) -> Path:
    """Write the trained model to ``out/final`` with its ``training.json`` (the args, then ``record``)."""
    final = out / "final"
    model.save_pretrained(final)
    processor.save_pretrained(final)
    (final / "training.json").write_text(json.dumps(
        {"args": {k: str(v) for k, v in vars(args).items()}, **record, "init_from": str(args.init_from)}, indent=2))
    return final


def main(argv: list[str] | None = None) -> None:
    p = head_trainer_parser(__doc__, minutes=50.0, lr=2e-3)
    p.add_argument("--config", type=_config_overrides, default={}, metavar="NAME=VALUE,...",
                   help="EgxConfig fields of the new head, e.g. det_backbone=32")
    p.add_argument("--states-per-question", type=int, default=2,
                   help="[DET] states taken per (source, question) pair; each draw uses one of its question's")
    a = p.parse_args(argv)
    processor, model, samples = start_head_training(a, "ground", **a.config)
    cache_path = a.out / "cache.pt"
    if cache_path.exists():
        cache = torch.load(cache_path, weights_only=False)
    else:
        cache = build_cache(model, processor, samples, a.data_root, a.states_per_question, a.seed,
                            a.batch_size, a.num_workers)
        torch.save(cache, cache_path)
    weights = sample_weights(samples, a.balance, None, a.dataset_weights)
    steps = train_grounding(model, cache, weights, a.out, minutes=a.minutes, batch_size=a.batch_size, lr=a.lr,
                            save_every=a.save_every, seed=a.seed)
    final = save_final(model, processor, a.out, a, {
        "trainer": "egx_notebook.model.train_grounding", "steps": steps, "train_samples": len(samples),
        "states": len(cache["state_rows"]), "mix": mix_shares(samples, weights, "dataset"),
        "trainable": [n for n, _ in model.named_children() if n == "det_head"]})
    print(f"final model: {final}")


if __name__ == "__main__":
    main()
