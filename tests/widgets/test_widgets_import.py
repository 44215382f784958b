"""Importing the widgets package loads no heavy library."""

import subprocess
import sys


def test_import_widgets_loads_no_torch():
    code = ("import sys, egx_notebook.widgets; "
            "bad = [m for m in ('torch', 'transformers', 'ipyleaflet') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
