"""egx-notebook: ask a spatial multimodal model about rasters, get georeferenced answers.

Importing this package is cheap: it registers the ``.egx`` accessor on xarray
objects and nothing else. torch, transformers and geopandas load only when an
answer is asked for (see :func:`use`).

Examples
--------
>>> import egx_notebook as egx
>>> da = egx.open_raster("scene.tif")                      # doctest: +SKIP
>>> ans = da.egx.ask("What is this?", box=(x0, y0, x1, y1))  # doctest: +SKIP
>>> ans.text, ans.mask, ans.regions                          # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from egx_notebook import accessor as _accessor  # noqa: F401  (registers da.egx / ds.egx)
from egx_notebook.errors import CRSError, EgxError, LabelError, ModelError, PromptError, SourceError

__version__ = "0.1.0"

_LAZY = {
    "open_raster": ("egx_notebook.io", "open_raster"),
    "use": ("egx_notebook.engine", "use"),
    "Answer": ("egx_notebook.answer", "Answer"),
    "Chat": ("egx_notebook.chat", "Chat"),
    "datasets": ("egx_notebook.datasets", None),
    "match_regions": ("egx_notebook.scoring", "match_regions"),
    "score_regions": ("egx_notebook.scoring", "score_regions"),
}

__all__ = [
    "open_raster",
    "use",
    "Answer",
    "Chat",
    "datasets",
    "match_regions",
    "score_regions",
    "EgxError",
    "PromptError",
    "SourceError",
    "CRSError",
    "ModelError",
    "LabelError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        value = module if attr is None else getattr(module, attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'egx_notebook' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
