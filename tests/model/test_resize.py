"""Changing a checkpoint's input size (egx_notebook.model.resize)."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")


def test_resampled_table_keeps_the_leading_rows_and_a_constant_grid():
    from egx_notebook.model.resize import resample_grid_table

    cls = torch.randn(1, 1, 5)
    grid = torch.full((1, 4 * 4, 5), 2.5)
    out = resample_grid_table(torch.cat([cls, grid], dim=1), 6, leading=1)
    assert out.shape == (1, 1 + 36, 5)
    torch.testing.assert_close(out[:, :1], cls)
    torch.testing.assert_close(out[:, 1:], torch.full((1, 36, 5), 2.5))


def test_resampled_table_follows_a_gradient_across_the_grid():
    from egx_notebook.model.resize import resample_grid_table

    ramp = torch.arange(4.0).repeat(4).reshape(1, 16, 1)  # value = column index
    out = resample_grid_table(ramp, 8).reshape(8, 8)
    assert torch.all(out[:, 1:] >= out[:, :-1] - 1e-6)  # still increasing left to right
    assert out[:, 0].mean() < 0.5 and out[:, -1].mean() > 2.5


def test_a_non_square_table_is_refused():
    from egx_notebook.model.resize import resample_grid_table

    with pytest.raises(ValueError, match="not square"):
        resample_grid_table(torch.zeros(1, 15, 3), 4)


def test_resized_checkpoint_loads_at_the_new_size_and_answers(tiny_checkpoint, tmp_path):
    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor
    from egx_notebook.model.resize import main

    old = json.loads((tiny_checkpoint / "config.json").read_text())["image_size"]
    new = old + 64
    assert main([str(tiny_checkpoint), "--image-size", str(new), "--out", str(tmp_path / "big")]) == 0
    model = EgxForConditionalGeneration.from_pretrained(tmp_path / "big").eval()
    processor = EgxProcessor.from_pretrained(tmp_path / "big")
    assert model.config.image_size == processor.image_size == new
    assert model.fusion.pos.shape[1] == (new // 16) ** 2
    record = json.loads((tmp_path / "big" / "resize.json").read_text())
    assert record["image_size"] == [old, new]

    # everything but the two position tables is carried over unchanged
    small = EgxForConditionalGeneration.from_pretrained(tiny_checkpoint).state_dict()
    big = model.state_dict()
    same = [k for k in small if k not in ("fusion.pos", "prompt_encoder.vit.embeddings.position_embeddings")]
    for k in same:
        torch.testing.assert_close(big[k], small[k])

    image = torch.rand(1, 3, new, new)
    with torch.no_grad():
        feats = model.encode_images(image, torch.tensor([1]), torch.ones(1, 1, new, new))
    assert feats.grid.shape[-1] == new // 16


@pytest.mark.parametrize("size, match", [(100, "multiple of 16"), (0, "multiple of 16")])
def test_bad_sizes_are_refused(tiny_checkpoint, tmp_path, size, match):
    from egx_notebook.model.resize import resize_checkpoint

    with pytest.raises(ValueError, match=match):
        resize_checkpoint(tiny_checkpoint, tmp_path / "out", size)
    assert not (tmp_path / "out").exists()


def test_out_equal_to_the_input_and_a_non_checkpoint_are_refused(tiny_checkpoint, tmp_path):
    from egx_notebook.model.resize import resize_checkpoint

    with pytest.raises(ValueError, match="is the input"):
        resize_checkpoint(tiny_checkpoint, tiny_checkpoint, 192)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no model.safetensors"):
        resize_checkpoint(tmp_path / "empty", tmp_path / "out", 192)
