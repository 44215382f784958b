"""Build the EarthGPT-X instruction dataset.

    python -m egx_notebook.model.data.build --data-root ../shared/data --out runs/data \
        [--synthetic-per-source 2000] [--seed 0] [--max-per-dataset N] [--tile-size 256]

``--tile-size`` is the side of the native-resolution grounding tiles: the input
size of the model to be trained (``da.egx.ground`` reads a larger raster through
windows of that side), so a 384-px model trains on 384-px tiles.

Writes ``train.jsonl``, ``val.jsonl`` and ``stats.json`` (the mix per dataset,
split, source and task) and prints the mix table. Real datasets missing from
``--data-root`` are skipped with a message; the build then is synthetic-only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from egx_notebook.datasets import SAMPLE_SEEDS

from .instructions import SampleBudget, make_samples, item_from_record, item_from_scene
from .readers import DATASETS, available_datasets, read_dataset
from .sirst import read_mask
from .synthetic import SOURCE_IDS, generate_colocated, generate_layout

__all__ = ["build", "main"]

TASK_ORDER = ("classify", "caption", "vqa", "refer", "region_caption", "relation", "ground", "segment")
TILE_SIZES = (64, 2048)  # the input sides a model of this package can have, in pixels


def _real_samples(data_root: Path, name: str, split: str, rng, max_images: int | None, log,
                  tile_side: int, region_per_class: int, native_tiles: int = 0) -> list[dict]:
    records = read_dataset(name, data_root, split)
    if max_images is not None and len(records) > max_images:
        keep = sorted(rng.choice(len(records), max_images, replace=False))
        records = [records[i] for i in keep]
    masks = lambda rel: read_mask(data_root / rel)  # noqa: E731
    budget = SampleBudget(tile_side=tile_side, region_per_class=region_per_class, native_tiles=native_tiles)
    out = []
    for rec in records:
        out += make_samples(item_from_record(rec, data_root, masks), rng, budget)
    log(f"  {name:<11} {split:<5} {len(records):5d} images -> {len(out):6d} samples")
    return out


def synthetic_size(seed: int) -> int:
    """Side of the synthetic scene with this seed: 256 px for 3 in 5, else 384-640 px.

    The larger scenes are seen zoomed out and on tiles, as ``da.egx.ground`` reads a
    larger raster (the bundled sample scenes are 512 px).
    """
    r = np.random.default_rng([int(seed), 512])
    return 256 if r.random() < 0.6 else int(r.integers(384, 641))


def _synthetic_samples(source: str, n_samples: int, seed_base: int, split: str, rng, tile_side: int) -> list[dict]:
    out, i = [], 0
    budget = SampleBudget(scene=2, ground=2, tiles=1, region_objects=2, relation=1, negative=1, tile_side=tile_side)
    while len(out) < n_samples:
        seed = seed_base + i
        i += 1
        if seed == SAMPLE_SEEDS.get(source):  # the bundled sample scene stays unseen
            continue
        out += make_samples(item_from_scene(generate_layout(source, seed, synthetic_size(seed)), split), rng, budget)
    return out[:n_samples]


def _colocated_samples(n_groups_samples: int, seed_base: int, split: str) -> list[dict]:
    """The same questions and prompts on the optical, SAR and infrared views of one layout."""
    out, i = [], 0
    budget = SampleBudget(scene=1, ground=1, tiles=0, region_objects=1, relation=1, negative=0)
    while len(out) < n_groups_samples:
        views = generate_colocated(seed_base + i, render=False)
        for src in SOURCE_IDS:
            rng = np.random.default_rng([seed_base + i, 77])  # same draws for every view
            out += make_samples(item_from_scene(views[src], split), rng, budget)
        i += 1
    return out


def _stats_key(sample: dict) -> str:
    """The row of the stats a sample counts in: its dataset, co-registered synthetic triples apart."""
    return "synthetic-colocated" if sample.get("group") else sample["dataset"]


def _stats(samples: list[dict]) -> dict:
    per = defaultdict(Counter)
    for s in samples:
        per[_stats_key(s)][s["task"]] += 1
    return {k: dict(v) for k, v in sorted(per.items())}


def _ground_windows(samples: list[dict], tile_size: int) -> dict:
    """Grounding samples per dataset by what they look through: the whole image, a tile at
    native resolution (sides at most ``tile_size``) or a zoomed-out tile."""
    per = defaultdict(Counter)
    for s in samples:
        if s["task"] != "ground":
            continue
        w = s.get("window")
        kind = "whole" if w is None else ("native" if max(w[2] - w[0], w[3] - w[1]) <= tile_size else "zoomed")
        per[_stats_key(s)][kind] += 1
    return {k: {kind: v.get(kind, 0) for kind in ("whole", "native", "zoomed")} for k, v in sorted(per.items())}


def _refer_classes(samples: list[dict]) -> dict:
    """Referring samples per dataset by the class of their prompted region ("background" for
    the negatives): what ``--region-objects-per-class`` changes."""
    per = defaultdict(Counter)
    for s in samples:
        if s["task"] == "refer":
            per[_stats_key(s)].update((s.get("targets") or {}).get("region_labels") or [])
    return {k: dict(sorted(v.items())) for k, v in sorted(per.items())}


def _table(stats: dict, title: str) -> str:
    cols = [t for t in TASK_ORDER if any(t in v for v in stats.values())]
    lines = [title, f"{'dataset':<20}" + "".join(f"{c[:9]:>10}" for c in cols) + f"{'total':>9}"]
    tot = Counter()
    for name, counts in stats.items():
        lines.append(f"{name:<20}" + "".join(f"{counts.get(c, 0):>10}" for c in cols) + f"{sum(counts.values()):>9}")
        tot.update(counts)
    lines.append(f"{'all':<20}" + "".join(f"{tot.get(c, 0):>10}" for c in cols) + f"{sum(tot.values()):>9}")
    return "\n".join(lines)


def build(data_root: Path, out: Path, synthetic_per_source: int = 2000, seed: int = 0,
          max_per_dataset: int | None = None, log=print, tile_size: int = 256,
          region_per_class: int = 0, native_tiles: int = 0) -> dict:
    """Build train.jsonl, val.jsonl and stats.json under ``out``; returns the stats.

    ``region_per_class`` > 0 prompts up to that many objects of each class in a real image
    (referring, referring segmentation) instead of three objects of any class; 0 keeps the
    default build. Validation samples are made the same way. ``native_tiles`` > 0 adds that
    many grounding samples on native-resolution windows of each real training image larger
    than ``tile_size`` (validation samples and every other sample stay as they are).
    """
    lo, hi = TILE_SIZES
    if not lo <= int(tile_size) <= hi:
        raise ValueError(f"tile_size={tile_size}: give the model's input side in pixels ({lo}-{hi}), e.g. 256 or 384.")
    if int(region_per_class) < 0:
        raise ValueError(f"region_per_class={region_per_class}: give 0 (three objects an image) or a positive count.")
    t0 = time.perf_counter()
    data_root, out = Path(data_root), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    present = set(available_datasets(data_root)) if data_root.is_dir() else set()
    train, val = [], []
    for name in DATASETS:
        if name not in present:
            log(f"  {name:<11} skipped: {data_root / DATASETS[name].folder} not found")
            continue
        train += _real_samples(data_root, name, "train", rng, max_per_dataset, log, tile_size, region_per_class,
                               native_tiles)
        val += _real_samples(data_root, name, "val", rng, max_per_dataset, log, tile_size, region_per_class)
    n_val = max(20, synthetic_per_source // 10)
    base = 1_000_003 * seed
    for src in SOURCE_IDS:
        train += _synthetic_samples(src, synthetic_per_source, base, "train", rng, tile_size)
        val += _synthetic_samples(src, n_val, base + 10_000_000, "val", rng, tile_size)
    train += _colocated_samples(synthetic_per_source // 2, base + 20_000_000, "train")
    val += _colocated_samples(max(9, n_val // 2), base + 30_000_000, "val")
    order = rng.permutation(len(train))
    train = [train[i] for i in order]
    for fname, rows in (("train.jsonl", train), ("val.jsonl", val)):
        with open(out / fname, "w") as f:
            for s in rows:
                f.write(json.dumps(s, separators=(",", ":")) + "\n")
    n_syn = sum(s["dataset"] == "synthetic" for s in train)
    stats = {"train": _stats(train), "val": _stats(val),
             "totals": {"train": len(train), "val": len(val)},
             "synthetic_share_train": round(n_syn / max(1, len(train)), 4),
             "per_source_train": dict(Counter(s["source"] for s in train)),
             "ground_windows": {"train": _ground_windows(train, tile_size), "val": _ground_windows(val, tile_size)},
             "refer_classes": {"train": _refer_classes(train), "val": _refer_classes(val)},
             "datasets_used": sorted(present), "seconds": round(time.perf_counter() - t0, 1),
             "args": {"data_root": str(data_root), "synthetic_per_source": synthetic_per_source, "seed": seed,
                      "max_per_dataset": max_per_dataset, "tile_size": int(tile_size),
                      "native_tiles": int(native_tiles), "region_per_class": int(region_per_class)}}
    (out / "stats.json").write_text(json.dumps(stats, indent=2))
    log(_table(stats["train"], "\ntrain"))
    log(_table(stats["val"], "\nval"))
    log(f"\n{len(train)} train + {len(val)} val samples, synthetic share of train {stats['synthetic_share_train']:.1%}, "
        f"{stats['seconds']} s -> {out}")
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m egx_notebook.model.data.build", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-root", type=Path, required=True, help="folder holding the real datasets (DATA.md)")
    ap.add_argument("--out", type=Path, required=True, help="output folder for train.jsonl, val.jsonl, stats.json")
    ap.add_argument("--synthetic-per-source", type=int, default=2000, help="synthetic train samples per source")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-per-dataset", type=int, default=None, help="at most this many images per dataset and split")
    ap.add_argument("--tile-size", type=int, default=256,
                    help="side of the native-resolution grounding tiles: the input size of the model to train (256)")
    ap.add_argument("--region-objects-per-class", type=int, default=0, metavar="N",
                    help="prompt up to N objects of each class in a real image (referring, segmentation) "
                         "instead of 3 of any class; 0 (default) keeps the default build")
    ap.add_argument("--native-tiles", type=int, default=0, metavar="N",
                    help="N more grounding samples on native-resolution windows of each real training image "
                         "larger than --tile-size (for a grounding head with a backbone of its own); 0 (default) "
                         "keeps the default build")
    a = ap.parse_args(argv)
    if a.native_tiles < 0:
        ap.error("--native-tiles must be >= 0")
    if a.region_objects_per_class < 0:
        ap.error("--region-objects-per-class must be >= 0")
    if a.synthetic_per_source < 0:
        ap.error("--synthetic-per-source must be >= 0")
    lo, hi = TILE_SIZES
    if not lo <= a.tile_size <= hi:
        ap.error(f"--tile-size must be the model's input side in pixels ({lo}-{hi}), e.g. 256 or 384")
    build(a.data_root, a.out, a.synthetic_per_source, a.seed, a.max_per_dataset, tile_size=a.tile_size,
          region_per_class=a.region_objects_per_class, native_tiles=a.native_tiles)
    return 0


if __name__ == "__main__":
    sys.exit(main())
