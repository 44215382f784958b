"""`import egx_notebook` (and the accessor registration) loads no heavy library."""

import subprocess
import sys


def test_import_loads_no_heavy_library():
    code = (
        "import sys, xarray as xr, egx_notebook as egx\n"
        "assert hasattr(xr.DataArray([1]), 'egx')\n"
        "egx.EgxError, egx.PromptError\n"
        "heavy = [m for m in ('torch', 'transformers', 'geopandas') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"heavy modules imported: {out.stdout.strip()}"


def test_errors_hierarchy():
    import egx_notebook as egx

    for err in (egx.PromptError, egx.SourceError, egx.CRSError, egx.ModelError):
        assert issubclass(err, egx.EgxError)
