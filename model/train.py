"""One-stage training of EarthGPT-X: every head under one loss, resumable, over accelerate.

Run on one CPU or GPU::

    python -m egx_notebook.model.train --recipe default --data runs/data \\
        --data-root ../shared/data --out runs/default

or on several GPUs / nodes with ``accelerate launch -m egx_notebook.model.train ...``.
``--recipe smoke`` trains a tiny model on procedurally generated data in well under
a minute on a CPU. A run writes ``log.jsonl`` (loss terms per logged step),
``recipe.json``, a resumable ``checkpoint/`` every ``save_every`` steps, and the
final model with its processor in ``final/`` (safetensors).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from .configuration_egx import EgxConfig
from .data.loading import iter_texts, load_sample
from .data.sampling import mix_shares, region_class_shares, sample_weights
from .modeling_egx import EgxForConditionalGeneration
from .processing_egx import EgxProcessor
from .recipes import Recipe, get_recipe
from .tokenization_egx import train_tokenizer

__all__ = ["train", "read_samples", "main"]


def read_samples(path: Path) -> list[dict]:
    """Samples of one JSONL file written by ``egx_notebook.model.data.build``."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class SampleDataset(Dataset):
    """Decodes instruction samples lazily (images are read in the loader's workers)."""

    def __init__(self, samples: list[dict], data_root: Path | None):
        self.samples = samples
        self.data_root = data_root

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> dict:
        return load_sample(self.samples[i], self.data_root)


def _synthetic_samples(recipe: Recipe, out: Path) -> tuple[list[dict], list[dict]]:
    """A small procedurally generated dataset (no real data needed), built into ``out/data``."""
    from .data.build import build

    build(out / "no-real-data", out / "data", synthetic_per_source=recipe.synthetic_per_source,
          seed=recipe.seed, log=lambda *a: None)
    return read_samples(out / "data" / "train.jsonl"), read_samples(out / "data" / "val.jsonl")


def _lr_lambda(recipe: Recipe):
    def f(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / max(recipe.warmup_steps, 1)
        progress = (step - recipe.warmup_steps) / max(recipe.max_steps - recipe.warmup_steps, 1)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return f


def _build_model(recipe: Recipe, processor: EgxProcessor) -> EgxForConditionalGeneration:
    overrides = recipe.config_overrides()
    config = EgxConfig.tiny(**overrides) if recipe.config.get("tiny") else EgxConfig(**overrides)
    config = processor.configure(config)
    return EgxForConditionalGeneration(config)


def _save_checkpoint(out: Path, model, processor, optimizer, scheduler, step: int, accelerator) -> None:
    tmp = out / "checkpoint.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    accelerator.unwrap_model(model).save_pretrained(tmp)
    processor.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "step": step, "python_rng": random.getstate(),
                "numpy_rng": np.random.get_state()[1].tolist(),
                "torch_rng": torch.get_rng_state()}, tmp / "trainer_state.pt")
    final = out / "checkpoint"
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)  # a crash mid-save never leaves a half-written checkpoint


def only_tasks(samples: list[dict], tasks) -> list[dict]:
    """The samples of ``samples`` whose task is one of ``tasks``; an unknown task is a
    ``ValueError`` that lists the tasks the samples hold."""
    held = sorted({s["task"] for s in samples})
    unknown = sorted(set(tasks) - set(held))
    if unknown:
        raise ValueError(f"no samples of task(s) {unknown}; the samples hold {held}")
    return [s for s in samples if s["task"] in tasks]


def freeze_parts(model, parts) -> None:
    """Keep the top-level parts ``parts`` of ``model`` as they are (no gradient, not in the optimizer).

    A part is a child module's name (``vision``, ``fusion``, ``language_model``, ``det_head``,
    ...); an unknown name is a ``ValueError`` that lists the known ones. Modules stay in train
    mode, so a frozen part still computes what it computes in training.
    """
    children = dict(model.named_children())
    unknown = [p for p in parts if p not in children]
    if unknown:
        raise ValueError(f"cannot freeze {unknown}: the model's parts are {sorted(children)}")
    for name in parts:
        children[name].requires_grad_(False)


def train(recipe: Recipe, data: Path | None, data_root: Path | None, out: Path,
          resume: bool = True, init_from: Path | None = None) -> Path:
    """Train ``recipe`` and return the folder of the final model (``out/final``).

    A run resumes from ``out/checkpoint`` when there is one; otherwise it starts from the
    weights and tokenizer of ``init_from`` when given, else from scratch.
    """
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    out.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator()
    set_seed(recipe.seed)

    if recipe.synthetic_only:
        train_samples, val_samples = _synthetic_samples(recipe, out)
    else:
        train_samples = read_samples(data / "train.jsonl")
        val_samples = read_samples(data / "val.jsonl")
    if recipe.tasks:
        train_samples = only_tasks(train_samples, recipe.tasks)
    (out / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))

    ckpt = out / "checkpoint"
    state = None
    if resume and (ckpt / "trainer_state.pt").exists():
        processor = EgxProcessor.from_pretrained(ckpt)
        model = EgxForConditionalGeneration.from_pretrained(ckpt)
        state = torch.load(ckpt / "trainer_state.pt", weights_only=False)
        accelerator.print(f"resuming from {ckpt} at step {state['step']}")
    elif init_from is not None:
        # warm start: weights and tokenizer of an earlier model; the recipe's config overrides
        # apply (e.g. fusion_skip), and layers the earlier model lacks start fresh
        processor = EgxProcessor.from_pretrained(init_from)
        model = EgxForConditionalGeneration.from_pretrained(init_from, **recipe.config_overrides())
        accelerator.print(f"initialised from {init_from}")
    else:
        tokenizer = train_tokenizer(iter_texts(train_samples + val_samples), vocab_size=recipe.vocab_size)
        image_size = recipe.config_overrides().get("image_size", 128 if recipe.config.get("tiny") else 256)
        processor = EgxProcessor(tokenizer=tokenizer, image_size=image_size)
        model = _build_model(recipe, processor)
    n_params = sum(p.numel() for p in model.parameters())
    accelerator.print(f"{n_params / 1e6:.2f}M parameters; {len(train_samples)} train samples")

    freeze_parts(model, recipe.freeze)
    if recipe.freeze:
        accelerator.print(f"frozen: {', '.join(recipe.freeze)}")
    llm_params = set(id(p) for p in model.language_model.parameters())
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in trainable if id(p) not in llm_params], "lr": recipe.lr},
        {"params": [p for p in trainable if id(p) in llm_params], "lr": recipe.llm_lr or recipe.lr},
    ]
    groups = [g for g in groups if g["params"]]
    if not groups:
        raise ValueError(f"nothing left to train: every part is frozen ({', '.join(recipe.freeze)})")
    optimizer = torch.optim.AdamW(groups, weight_decay=recipe.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(recipe))
    step = 0
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step = int(state["step"])
        random.setstate(state["python_rng"])
        torch.set_rng_state(state["torch_rng"])

    generator = torch.Generator().manual_seed(recipe.seed + step)
    sampler, mix = None, None
    if recipe.balance or recipe.task_weights or recipe.dataset_weights or recipe.class_weights:
        weights = sample_weights(train_samples, recipe.balance, recipe.task_weights, recipe.dataset_weights,
                                 recipe.class_weights)
        mix = {"dataset": mix_shares(train_samples, weights, "dataset"),
               "task": mix_shares(train_samples, weights, "task"),
               "region_class": region_class_shares(train_samples, weights)}
        (out / "mix.json").write_text(json.dumps(mix, indent=2))
        sampler = WeightedRandomSampler(torch.from_numpy(weights), num_samples=len(train_samples),
                                        replacement=True, generator=generator)
    loader = DataLoader(SampleDataset(train_samples, data_root), batch_size=recipe.batch_size,
                        shuffle=sampler is None, sampler=sampler,
                        generator=generator if sampler is None else None, collate_fn=processor.collate,
                        num_workers=recipe.num_workers, drop_last=True,
                        persistent_workers=recipe.num_workers > 0)
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    model.train()
    start = time.time()
    log = open(out / "log.jsonl", "a", encoding="utf-8")
    done = False
    while not done:
        for batch in loader:
            outputs = model(**batch)
            accelerator.backward(outputs.loss)
            if recipe.grad_clip:
                accelerator.clip_grad_norm_(model.parameters(), recipe.grad_clip)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            elapsed = time.time() - start
            if step % recipe.log_every == 0 or step == 1:
                row = {"step": step, "loss": outputs.loss.item(), "lr": scheduler.get_last_lr()[0],
                       "elapsed_s": round(elapsed, 1)}
                row.update({k: float(v) for k, v in (outputs.loss_terms or {}).items()})
                log.write(json.dumps(row) + "\n")
                log.flush()
                accelerator.print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                           for k, v in row.items()))
            over_time = recipe.time_budget_min is not None and elapsed > recipe.time_budget_min * 60
            if step % recipe.save_every == 0 or step >= recipe.max_steps or over_time:
                if accelerator.is_main_process:
                    _save_checkpoint(out, model, processor, optimizer, scheduler, step, accelerator)
            if step >= recipe.max_steps or over_time:
                done = True
                break
    log.close()
    final = out / "final"
    if accelerator.is_main_process:
        shutil.rmtree(final, ignore_errors=True)
        accelerator.unwrap_model(model).save_pretrained(final)
        processor.save_pretrained(final)
        (final / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2))
        (final / "training.json").write_text(json.dumps(
            {"steps": step, "init_from": str(init_from) if init_from else None, "train_samples": len(train_samples), "parameters": n_params, "mix": mix,
             "device": str(accelerator.device), "elapsed_s": round(time.time() - start, 1)},
            indent=2))
    accelerator.wait_for_everyone()
    return final


def _names(text: str) -> tuple[str, ...]:
    """``"vision, det_head"`` -> ``("vision", "det_head")``."""
    return tuple(filter(None, (p.strip() for p in text.split(","))))


def _config_overrides(text: str) -> dict:
    """``"det_branch=16,fusion_skip=true"`` -> ``{"det_branch": 16, "fusion_skip": True}``."""
    fields = EgxConfig().to_dict()
    out = {}
    for part in _names(text):
        name, _, value = (x.strip() for x in part.partition("="))
        if name not in fields or isinstance(fields[name], dict) or not value:
            raise argparse.ArgumentTypeError(f"{part!r} is not NAME=VALUE for a field of EgxConfig (e.g. det_blocks=2)")
        default = fields[name]
        try:
            if isinstance(default, bool):
                if value.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(value)
                out[name] = value.lower() in ("true", "1")
            else:
                out[name] = type(default)(value) if default is not None else value
        except ValueError:
            raise argparse.ArgumentTypeError(f"{part!r}: {name} takes a {type(default).__name__}") from None
    return out


def _name_weights(text: str) -> dict[str, float]:
    """``"hit-uav=2,synthetic=0.5"`` -> ``{"hit-uav": 2.0, "synthetic": 0.5}``."""
    weights = {}
    for part in _names(text):
        name, _, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = None
        if not name.strip() or weight is None:
            raise argparse.ArgumentTypeError(f"{part!r} is not NAME=WEIGHT (e.g. hit-uav=2)")
        weights[name.strip()] = weight
    return weights


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="default")
    p.add_argument("--data", type=Path, help="folder with train.jsonl / val.jsonl from the dataset builder")
    p.add_argument("--data-root", type=Path, help="root the samples' image paths are relative to")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--time-budget-min", type=float)
    p.add_argument("--num-workers", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--balance", type=float, help="flatten dataset sizes in the draw (0 natural mix, 1 equal shares)")
    p.add_argument("--dataset-weights", type=_name_weights, metavar="NAME=W,...",
                   help="extra draw weight per dataset, replacing the recipe's (e.g. hit-uav=2,synthetic=0.5)")
    p.add_argument("--class-weights", type=_name_weights, metavar="NAME=W,...",
                   help="extra draw weight for samples prompting a region of a class, replacing the recipe's "
                        "(e.g. bicycle=4)")
    p.add_argument("--freeze", type=_names, metavar="PART,...",
                   help="model parts to keep as they are, e.g. vision,fusion,det_head (to train the region "
                        "path without moving grounding)")
    p.add_argument("--tasks", type=_names, metavar="TASK,...",
                   help="train on these builder tasks only, e.g. ground (with --freeze, to train the "
                        "grounding head alone)")
    p.add_argument("--config", type=_config_overrides, metavar="NAME=VALUE,...",
                   help="EgxConfig fields set on top of the recipe's, e.g. det_branch=16,det_blocks=2 (new "
                        "parts of a warm start begin as no-ops)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if out/checkpoint exists")
    p.add_argument("--init-from", type=Path, help="warm-start from this model folder (weights and tokenizer)")
    a = p.parse_args(argv)
    recipe = get_recipe(a.recipe, max_steps=a.max_steps, batch_size=a.batch_size, lr=a.lr,
                        time_budget_min=a.time_budget_min, num_workers=a.num_workers, seed=a.seed,
                        balance=a.balance, dataset_weights=a.dataset_weights, class_weights=a.class_weights,
                        freeze=a.freeze, tasks=a.tasks)
    if a.config:
        recipe = replace(recipe, config={**recipe.config, **a.config})
    if not recipe.synthetic_only and a.data is None:
        p.error(f"recipe {recipe.name!r} needs --data (run python -m egx_notebook.model.data.build first)")
    final = train(recipe, a.data, a.data_root, a.out, resume=not a.no_resume, init_from=a.init_from)
    print(f"final model: {final}")


if __name__ == "__main__":
    main()
