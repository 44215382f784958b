"""Fixtures shared by the training tests."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke recipe trained once: ``(out, final)``; tests that train on from it write elsewhere
    (the resume test retrains ``out`` itself, so its ``final`` may be a few steps further on)."""
    pytest.importorskip("torch")
    pytest.importorskip("accelerate")
    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import train

    out = tmp_path_factory.mktemp("smoke")
    final = train(get_recipe("smoke"), None, None, out)
    return out, final
