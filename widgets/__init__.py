"""Widgets: draw prompts on an offline map and talk to the model in JupyterLab.

``import egx_notebook.widgets`` is cheap (no torch, no ipyleaflet): the widget
classes load on first use.

Examples
--------
>>> from egx_notebook.widgets import EgxMap     # doctest: +SKIP
>>> m = EgxMap(da)                              # doctest: +SKIP
>>> m                                           # draw a box, type a question, press Ask  # doctest: +SKIP
>>> m.last_answer.regions                       # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "EgxMap": ("egx_notebook.widgets.map", "EgxMap"),
    "ChatPanel": ("egx_notebook.widgets.chat", "ChatPanel"),
    "PromptStore": ("egx_notebook.widgets.draw", "PromptStore"),
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module_name, attr = _LAZY[name]
        value = getattr(importlib.import_module(module_name), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'egx_notebook.widgets' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
