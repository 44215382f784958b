"""Averaging checkpoints of one model (egx_notebook.model.average)."""

from __future__ import annotations

import json
import shutil

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture()
def two_checkpoints(tiny_checkpoint, tmp_path):
    from safetensors.torch import load_file, save_file

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny_checkpoint, a)
    shutil.copytree(tiny_checkpoint, b)
    state = load_file(str(b / "model.safetensors"))
    gen = torch.Generator().manual_seed(3)
    shifted = {k: (v + torch.randn(v.shape, generator=gen, dtype=v.dtype) if v.is_floating_point() else v)
               for k, v in state.items()}
    save_file(shifted, str(b / "model.safetensors"), metadata={"format": "pt"})
    return a, b


def test_the_average_is_the_weighted_mean_and_loads_as_a_model(two_checkpoints, tmp_path):
    from safetensors.torch import load_file

    from egx_notebook.model import EgxForConditionalGeneration
    from egx_notebook.model.average import main

    a, b = two_checkpoints
    main([str(a), str(b), "--out", str(tmp_path / "soup"), "--weights", "3", "1"])
    sa, sb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    soup = load_file(str(tmp_path / "soup" / "model.safetensors"))
    assert soup.keys() == sa.keys()
    floats = [k for k in sa if sa[k].is_floating_point()]
    assert floats
    for k in floats:
        torch.testing.assert_close(soup[k], 0.75 * sa[k] + 0.25 * sb[k])
    assert json.loads((tmp_path / "soup" / "average.json").read_text())["weights"] == [0.75, 0.25]
    model = EgxForConditionalGeneration.from_pretrained(tmp_path / "soup")
    torch.testing.assert_close(model.state_dict()[floats[0]], soup[floats[0]])


def test_checkpoints_of_different_models_are_refused(two_checkpoints, tmp_path):
    from egx_notebook.model.average import average_checkpoints

    a, b = two_checkpoints
    config = json.loads((b / "config.json").read_text())
    config["det_stride"] = config["det_stride"] * 2
    (b / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="config.json differ"):
        average_checkpoints([a, b], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


@pytest.mark.parametrize("case", ["one input", "out is an input", "weights count", "not a checkpoint"])
def test_bad_arguments_say_what_to_do(two_checkpoints, tmp_path, case):
    from egx_notebook.model.average import average_checkpoints

    a, b = two_checkpoints
    args = {"one input": ([a], tmp_path / "o", None), "out is an input": ([a, b], b, None),
            "weights count": ([a, b], tmp_path / "o", [1.0]), "not a checkpoint": ([a, tmp_path], tmp_path / "o", None)}
    with pytest.raises(ValueError, match="two or more|new folder|one non-negative weight|pass checkpoint folders"):
        average_checkpoints(*args[case])
