"""Registry of the real datasets and their readers."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .hituav import read_hit_uav
from .records import ImageRecord
from .sirst import read_nudt_sirst, read_sirst_v2
from .voc import read_nepu_owod, read_ssdd

__all__ = ["DatasetSpec", "DATASETS", "available_datasets", "read_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """A real dataset: where it lives under the data root and how to read it."""

    name: str
    folder: str
    source: str
    reader: Callable[[Path, str], list[ImageRecord]]
    splits: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {d.name: d for d in (
    DatasetSpec("ssdd", "sar/ssdd", "sar", read_ssdd, ("train", "val")),
    DatasetSpec("nepu-owod", "optical/nepu-owod", "optical", read_nepu_owod, ("train", "val")),
    DatasetSpec("sirst-v2", "ir/sirst-v2", "infrared", read_sirst_v2, ("train", "val")),
    DatasetSpec("nudt-sirst", "ir/nudt-sirst", "infrared", read_nudt_sirst, ("train",)),
    DatasetSpec("hit-uav", "thermal/hit-uav", "infrared", read_hit_uav, ("train", "val")),
)}


def available_datasets(data_root: Path) -> list[str]:
    """Names of the registered datasets whose folder exists under ``data_root``."""
    return [n for n, d in DATASETS.items() if (Path(data_root) / d.folder).is_dir()]


def read_dataset(name: str, data_root: Path, split: str) -> list[ImageRecord]:
    """Read one split of a registered dataset (empty list for a split it does not have)."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    spec = DATASETS[name]
    if split not in spec.splits:
        return []
    return spec.reader(Path(data_root), split)
