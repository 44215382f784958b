"""The notebook the real-browser test opens: a sample scene, the checkpoint named by an env var, an EgxMap."""

from __future__ import annotations

from pathlib import Path

import nbformat

#: Environment variable holding the checkpoint the notebook's kernel loads (the tutorial notebooks honour it too).
CHECKPOINT_ENV = "EGX_CHECKPOINT"

SETUP = f"""\
import json, os
import egx_notebook as egx
from egx_notebook.widgets import EgxMap

path = egx.datasets.sample_scene("sar", "scene.tif", seed=3, size=256)
da = egx.open_raster(path)
egx.use(os.environ["{CHECKPOINT_ENV}"])
m = EgxMap(da, height="460px")
m"""

REPORT = """\
print("N_ANSWERS", len(m.answers))
print("LAST_TEXT_JSON", json.dumps(m.last_answer.text if m.answers else None))
print("N_PROMPTS", len(m.prompts), list(m.prompts["kind"]))
print("RESULT_LAYERS", [lay.name for lay in m.result_layers if lay in m.map.layers])"""


def write_notebook(folder: Path, name: str = "egx_browser_test.ipynb") -> Path:
    """Write the test notebook into ``folder`` and return its path."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP), nbformat.v4.new_code_cell(REPORT)]
    path = Path(folder) / name
    nbformat.write(nb, path)
    return path
