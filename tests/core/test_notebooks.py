"""notebooks/01-quickstart.ipynb and 03-check-against-labels.ipynb run top to bottom (nbclient, a fresh kernel).

With the bundled default checkpoint when it is shipped (skips with the reason until
then), and always with the tiny random checkpoint (plumbing: every cell runs,
whatever the answers say). ``EGX_CHECKPOINT`` tells the notebook which model to use.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOK = NOTEBOOKS / "01-quickstart.ipynb"
LABELS = NOTEBOOKS / "03-check-against-labels.ipynb"


def _run(notebook: Path, cwd: Path, checkpoint: str | None) -> None:
    import nbclient
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    env = {**os.environ, "MPLBACKEND": "Agg"}
    env.pop("EGX_CHECKPOINT", None)
    if checkpoint is not None:
        env["EGX_CHECKPOINT"] = checkpoint
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits the environment of the process that starts it
    try:
        client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    return nb


@pytest.mark.slow
def test_quickstart_notebook_with_the_default_checkpoint(tmp_path):
    from egx_notebook.engine import default_checkpoint, default_checkpoint_available

    if not default_checkpoint_available():
        pytest.skip(f"the default checkpoint is not shipped yet ({default_checkpoint()} has no *.safetensors); "
                    "the notebook runs against the tiny checkpoint meanwhile")
    _run(NOTEBOOK, tmp_path, None)
    assert (tmp_path / "egx-quickstart-nb" / "sar.tif").exists()


@pytest.mark.slow
def test_quickstart_notebook_with_the_tiny_checkpoint(tmp_path, tiny_checkpoint):
    _run(NOTEBOOK, tmp_path, str(tiny_checkpoint))
    assert (tmp_path / "egx-quickstart-nb" / "sar.tif").exists()


def _outputs(nb) -> str:
    return "\n".join("".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


@pytest.mark.slow
def test_labels_notebook_with_the_default_checkpoint(tmp_path):
    from egx_notebook.engine import default_checkpoint_available

    if not default_checkpoint_available():
        pytest.skip("the default checkpoint is not shipped yet")
    text = _outputs(_run(LABELS, tmp_path, None))
    assert "hits," in text and "false alarms," in text and "misses" in text  # the pooled score was printed


@pytest.mark.slow
def test_labels_notebook_with_the_tiny_checkpoint(tmp_path, tiny_checkpoint):
    _run(LABELS, tmp_path, str(tiny_checkpoint))
