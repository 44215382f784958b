"""python -m egx_notebook.quickstart end to end on small samples with tiny real checkpoints."""

from __future__ import annotations

import geopandas as gpd
import rioxarray

from egx_notebook import quickstart
from egx_notebook.datasets import sample_objects


def test_quickstart_runs_with_the_tiny_checkpoint(tiny_checkpoint, tmp_path, capsys):
    assert quickstart.main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "out"), "--size", "96",
                            "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for job in ("SAR: ground('ship')", "infrared: segment(point=", "optical: refer(box=", "optical: caption()"):
        assert job in out
    assert out.count("  text:") == 4 and out.count("  regions:") == 4
    for s in ("sar", "infrared", "optical"):
        assert (tmp_path / "out" / "samples" / f"{s}.tif").exists()


def test_quickstart_writes_georeferenced_outputs(steered_checkpoint, tmp_path, capsys):
    out = tmp_path / "out"
    answers = quickstart.run_quickstart(steered_checkpoint, out, size=96, device="cpu")
    assert {p.name for p in answers["files"]} >= {"ships.gpkg", "ships-mask.tif", "target.gpkg", "target-mask.tif"}
    sar = rioxarray.open_rasterio(out / "samples" / "sar.tif")
    ships = gpd.read_file(out / "ships.gpkg", layer="regions")
    assert ships.crs == sar.rio.crs and len(ships) == len(answers["ships"].regions)
    mask = rioxarray.open_rasterio(out / "ships-mask.tif")
    assert mask.rio.transform() == sar.rio.transform() and mask.shape[1:] == sar.shape[1:]
    printed = capsys.readouterr().out
    assert f"regions: {len(answers['ships'].regions)}" in printed and "wrote:" in printed
    sc = answers["ships_score"]
    known = sample_objects(out / "samples" / "sar.tif")
    assert sc["tp"] + sc["fn"] == int((known["label"] == "ship").sum())
    assert sc["tp"] + sc["fp"] == len(answers["ships"].regions)
    assert f"checked: {sc['tp']} of the {sc['tp'] + sc['fn']} known ships" in printed


def test_quickstart_without_a_model_says_what_to_do(tmp_path, capsys):
    assert quickstart.main(["--checkpoint", str(tmp_path / "nowhere"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "ModelError" in err and "no checkpoint" in err


def test_quickstart_default_model_missing(tmp_path, capsys):
    from egx_notebook.engine import default_checkpoint_available

    if default_checkpoint_available():
        import pytest

        pytest.skip("the default checkpoint is shipped")
    assert quickstart.main(["--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "no default checkpoint" in err and "--checkpoint PATH" in err
