"""Dataset builder for EarthGPT-X training: real-dataset readers, a procedural
scene generator, instruction samples and the loader that feeds ``EgxProcessor.collate``.

Only numpy, scipy and Pillow are used (no torch, nothing from core or widgets),
so the synthetic generator is cheap to import anywhere. Names load lazily.
"""
from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "SyntheticScene": "synthetic", "generate_scene": "synthetic", "generate_layout": "synthetic",
    "generate_colocated": "synthetic", "synthetic_ref": "synthetic",
    "ImageRecord": "records", "ObjectRecord": "records", "DatasetFormatError": "records",
    "DATASETS": "readers", "read_dataset": "readers", "available_datasets": "readers",
    "samples_for_record": "instructions", "samples_for_scene": "instructions",
    "load_sample": "loading", "iter_texts": "loading", "SampleError": "loading",
    "CLASSES": "vocabulary", "canonical_label": "vocabulary",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
