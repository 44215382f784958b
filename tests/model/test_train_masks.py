"""The [SEG] mask head trained alone on the frozen model's own [SEG] states (tiny model, synthetic data)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.slow


def _segment_samples(out, split="train"):
    from egx_notebook.model.train import only_tasks, read_samples

    return only_tasks(read_samples(out / "data" / f"{split}.jsonl"), ["segment"])


def _model(final):
    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor

    return EgxForConditionalGeneration.from_pretrained(final).eval(), EgxProcessor.from_pretrained(final)


def test_seg_inputs_are_what_the_teacher_forced_forward_hands_the_mask_head(smoke_run):
    """``seg_inputs`` gives, per row, the hidden state at the row's ``[SEG]`` token, the fused
    grid and the prompt union: the mask head fed them gives the forward's own mask logits."""
    from egx_notebook.model.train import SampleDataset
    from egx_notebook.model.train_masks import seg_inputs

    out, final = smoke_run
    model, processor = _model(final)
    samples = _segment_samples(out)[:3]
    batch = processor.collate([SampleDataset(samples, None)[i] for i in range(3)])
    with torch.no_grad():
        expected = model(**batch).seg_logits
        hidden, fused, union = seg_inputs(model, batch)
        feats = model.vision(batch["pixel_values"], batch["source_ids"], batch["valid_mask"])
        got = model.seg_head(hidden, fused, union[:, None].float(), feats.s4, feats.stem)
    assert hidden.shape == (3, model.config.text_config.hidden_size)
    assert union.dtype == torch.bool and bool(union.flatten(1).any(1).all())  # every sample has a prompt
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_mask_iou_is_one_for_the_targets_and_zero_for_their_complement(smoke_run):
    """``mask_iou`` compares thresholded probabilities with the cached targets."""
    from egx_notebook.model.train_masks import build_mask_cache, mask_iou

    out, final = smoke_run
    model, processor = _model(final)
    cache = build_mask_cache(model, processor, _segment_samples(out)[:4], None, batch_size=4, num_workers=0)
    real = model.seg_head.forward
    model.seg_head.forward = lambda *a, **k: torch.where(cache["target"][: len(a[0])], 10.0, -10.0)
    assert mask_iou(model, cache, 0.3, batch_size=4) == pytest.approx(1.0)
    model.seg_head.forward = lambda *a, **k: torch.where(cache["target"][: len(a[0])], -10.0, 10.0)
    assert mask_iou(model, cache, 0.3, batch_size=4) == pytest.approx(0.0)
    model.seg_head.forward = real


def test_mask_trainer_keeps_the_best_scoring_head(smoke_run, tmp_path):
    """Scored on a val cache every few steps, the head left in the model is the one with the
    best val mask IoU, the starting head included, and it scores what was recorded."""
    from egx_notebook.model.train_masks import build_mask_cache, mask_iou, train_masks

    out, final = smoke_run
    model, processor = _model(final)
    samples = _segment_samples(out)
    cache = build_mask_cache(model, processor, samples, None, batch_size=4, num_workers=0)
    val = build_mask_cache(model, processor, samples[:4], None, batch_size=4, num_workers=0)
    weights = np.full(len(samples), 1 / len(samples))
    result = train_masks(model, cache, weights, tmp_path, minutes=0.1, val_cache=val, batch_size=4, lr=5e-2,
                         eval_every=2, save_every=100)
    scores = {r["step"]: r["val_miou"] for r in result["val"]}
    assert 0 in scores and result["steps"] in scores and len(scores) >= 2
    assert result["kept_step"] == max(scores, key=scores.get)
    assert mask_iou(model, val, 0.3, batch_size=4) == pytest.approx(scores[result["kept_step"]], abs=1e-5)


def test_mask_trainer_moves_only_the_head_resumes_and_saves_a_loadable_model(smoke_run, tmp_path, capsys):
    """The trainer caches canvases and states once, trains only ``seg_head``, checkpoints,
    resumes from its checkpoint and cache, and writes a model that loads and segments."""
    from safetensors.torch import load_file

    from egx_notebook.model.train_masks import main

    out, final = smoke_run
    run = tmp_path / "head"
    args = ["--init-from", str(final), "--data", str(out / "data"), "--out", str(run), "--batch-size", "4",
            "--num-workers", "0", "--save-every", "1", "--lr", "1e-2"]
    main([*args, "--minutes", "0.05"])
    first = capsys.readouterr().out
    assert "cache:" in first and (run / "cache.pt").is_file()
    cache = torch.load(run / "cache.pt", weights_only=False)
    assert cache["pixels"].shape[0] == len(_segment_samples(out))
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert rows and all(math.isfinite(r["loss"]) and r["mask_dice"] > 0 for r in rows)

    before, after = load_file(final / "model.safetensors"), load_file(run / "final" / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("seg_head."))
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("seg_head."))
    training = json.loads((run / "final" / "training.json").read_text())
    assert training["trainer"] == "egx_notebook.model.train_masks" and training["steps"] >= 1
    assert training["trainable"] == ["seg_head"]

    saved = torch.load(run / "checkpoint.pt", weights_only=False)["step"]
    main([*args, "--minutes", "0.1"])
    again = capsys.readouterr().out
    assert "cache:" not in again and f"at step {saved}" in again
    assert json.loads((run / "final" / "training.json").read_text())["steps"] > saved

    model, processor = _model(run / "final")
    sample = _segment_samples(out)[0]
    from egx_notebook.model.train import SampleDataset

    batch = processor.collate([SampleDataset([sample], None)[0]])
    with torch.no_grad():
        assert model(**batch).seg_logits.shape == (1, model.config.image_size, model.config.image_size)
