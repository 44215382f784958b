"""How large each class's objects are in the real datasets, in raster pixels.

The model's region windows scale with the prompt, so whether size alone could tell two
classes apart (a thermal bicycle from a car) is read off the annotations::

    python benchmarks/object_sizes.py --data-root ../shared/data --datasets hit-uav

prints, per dataset, split and class, the number of boxes and the 10th, 50th and 90th
percentiles of their long and short sides (pixels).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from egx_notebook.model.data.readers import DATASETS, available_datasets, read_dataset


def size_rows(data_root: Path, datasets: list[str], splits: tuple[str, ...] = ("train", "val")) -> list[tuple]:
    """(dataset, split, class, boxes, long-side percentiles, short-side percentiles) rows."""
    rows = []
    for name in datasets:
        for split in splits:
            sides: dict[str, list[tuple[float, float]]] = {}
            for rec in read_dataset(name, data_root, split):
                for o in rec.objects:
                    w, h = o.box[2] - o.box[0], o.box[3] - o.box[1]
                    sides.setdefault(o.label, []).append((max(w, h), min(w, h)))
            for label in sorted(sides):
                a = np.asarray(sides[label], dtype=float)
                rows.append((name, split, label, len(a), np.percentile(a[:, 0], [10, 50, 90]),
                             np.percentile(a[:, 1], [10, 50, 90])))
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", type=Path, required=True, help="the folder holding the datasets (../shared/data)")
    p.add_argument("--datasets", nargs="+", choices=sorted(DATASETS), default=None,
                   help="which datasets (default: every one found under --data-root)")
    a = p.parse_args(argv)
    datasets = a.datasets or available_datasets(a.data_root)
    print("| dataset | split | class | boxes | long side p10 / p50 / p90 | short side p10 / p50 / p90 |")
    print("|---|---|---|---|---|---|")
    for name, split, label, n, long_, short in size_rows(a.data_root, datasets):
        fmt = " / ".join(f"{v:.0f}" for v in long_), " / ".join(f"{v:.0f}" for v in short)
        print(f"| {name} | {split} | {label} | {n} | {fmt[0]} | {fmt[1]} |")


if __name__ == "__main__":
    main()
