"""EarthGPT-X: a spatial multimodal LLM for optical, SAR and infrared imagery.

Importing this package loads no torch or transformers; the heavy names resolve on
first access (module ``__getattr__``).

    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor
    model = EgxForConditionalGeneration.from_pretrained(path)   # safetensors only
    processor = EgxProcessor.from_pretrained(path)
"""

from __future__ import annotations

import importlib
from pathlib import Path

from .geometry import EgxInputError, ViewGeometry, format_box, parse_boxes

SOURCES = ("optical", "sar", "infrared")
TASKS = ("caption", "classify", "vqa", "refer", "region_caption", "relation", "ground", "segment")
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "checkpoints" / "default"

_LAZY = {
    "EgxConfig": ".configuration_egx",
    "EgxForConditionalGeneration": ".modeling_egx",
    "EgxPreTrainedModel": ".modeling_egx",
    "EgxImageFeatures": ".modeling.outputs",
    "EgxGenerateOutput": ".modeling.outputs",
    "EgxProcessor": ".processing_egx",
    "ImageInputs": ".processing_egx",
    "train_tokenizer": ".tokenization_egx",
}

__all__ = ["SOURCES", "TASKS", "DEFAULT_CHECKPOINT", "EgxInputError", "ViewGeometry", "format_box",
           "parse_boxes", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
