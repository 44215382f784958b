"""The default checkpoint shipped inside the package: shape, size, offline load, and the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from egx_notebook.model import DEFAULT_CHECKPOINT

REPO = Path(__file__).resolve().parents[2]
shipped = pytest.mark.skipif(not any(Path(DEFAULT_CHECKPOINT).glob("*.safetensors")),
                             reason=f"no default checkpoint shipped yet in {DEFAULT_CHECKPOINT}")


@shipped
def test_checkpoint_is_small_safetensors_with_its_card():
    files = {p.name for p in Path(DEFAULT_CHECKPOINT).iterdir()}
    assert "model.safetensors" in files and "config.json" in files and "MODEL_CARD.md" in files
    assert not {f for f in files if f.endswith((".bin", ".pt", ".pth", ".ckpt"))}
    assert (Path(DEFAULT_CHECKPOINT) / "model.safetensors").stat().st_size < 40 * 2**20
    assert json.loads((Path(DEFAULT_CHECKPOINT) / "config.json").read_text())["model_type"] == "egx"


@shipped
def test_per_class_rules_name_classes_the_vocabulary_knows():
    from egx_notebook.model.data.vocabulary import CLASSES

    config = json.loads((Path(DEFAULT_CHECKPOINT) / "config.json").read_text())
    table = config.get("det_class_thresholds") or {}
    looks = config.get("det_class_whole_up_to") or {}
    # a key that is not a canonical label (a plural, a typo) would never be used by ground()
    assert set(table) | set(looks) <= set(CLASSES), (set(table) | set(looks)) - set(CLASSES)
    assert all(0 <= t < 1 for t in [*table.values(), config["det_score_threshold"]])
    assert all(v > 0 for v in looks.values())  # a long side in model inputs


@shipped
def test_use_with_no_argument_loads_the_default_offline(monkeypatch):
    import egx_notebook as egx

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    engine = egx.use()
    model, processor = engine.load()
    assert type(model).__name__ == "EgxForConditionalGeneration"
    assert processor.image_size == model.config.image_size
    assert not model.training


@shipped
@pytest.mark.slow
def test_checkpoint_loads_from_the_installed_wheel(tmp_path):
    """Build the wheel, install it into an empty folder, load the default from there (not the source tree)."""
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels)], check=True, cwd=tmp_path)
    (wheel,) = wheels.glob("egx_notebook-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "egx_notebook/model/checkpoints/default/model.safetensors" in names
    assert "egx_notebook/model/checkpoints/default/MODEL_CARD.md" in names
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, cwd=tmp_path)
    code = (
        "import egx_notebook.model as m, egx_notebook as egx, numpy as np\n"
        "from pathlib import Path\n"
        f"assert Path(m.__file__).resolve().is_relative_to(Path({str(site)!r}).resolve()), m.__file__\n"
        "model, processor = egx.use().load()\n"
        "image = processor.preprocess_image(np.zeros((1, 64, 64), 'float32'), 'infrared')\n"
        "print('loaded', m.DEFAULT_CHECKPOINT, image.pixel_values.shape)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(site), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "loaded" in out.stdout and str(site) in out.stdout
