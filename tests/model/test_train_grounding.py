"""The grounding head trained alone on the frozen model's own [DET] states (tiny model, synthetic data)."""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.slow


def _ground_samples(out):
    from egx_notebook.model.train import only_tasks, read_samples

    return only_tasks(read_samples(out / "data" / "train.jsonl"), ["ground"])


def test_det_states_are_the_language_models_hidden_state_at_det(smoke_run):
    """``det_states`` gives, per row, the last hidden state at the row's ``[DET]`` token,
    exactly what the teacher-forced forward hands the grounding head."""
    from egx_notebook.model import EgxForConditionalGeneration, EgxProcessor
    from egx_notebook.model.train import SampleDataset
    from egx_notebook.model.train_grounding import det_states

    out, final = smoke_run
    model = EgxForConditionalGeneration.from_pretrained(final).eval()
    processor = EgxProcessor.from_pretrained(final)
    samples = _ground_samples(out)[:3]
    batch = processor.collate([SampleDataset(samples, None)[i] for i in range(3)])
    seen = {}
    real = model.det_head.forward

    def spy(hidden, *args, **kwargs):
        seen["hidden"] = hidden.detach().clone()
        return real(hidden, *args, **kwargs)

    model.det_head.forward = spy
    with torch.no_grad():
        model(**batch)
    states = det_states(model, batch)
    assert states.shape == (3, model.config.text_config.hidden_size)
    torch.testing.assert_close(states, seen["hidden"].float(), atol=1e-5, rtol=1e-5)


def test_grounding_trainer_moves_only_the_head_resumes_and_saves_a_loadable_model(smoke_run, tmp_path, capsys):
    """The trainer caches canvases and states once, trains only ``det_head`` (with its own
    backbone), checkpoints, resumes from its checkpoint and cache, and writes a model that
    loads with the new head and answers grounding queries."""
    from safetensors.torch import load_file

    from egx_notebook.model import EgxForConditionalGeneration
    from egx_notebook.model.train_grounding import main

    out, final = smoke_run
    run = tmp_path / "head"
    args = ["--init-from", str(final), "--data", str(out / "data"), "--out", str(run), "--config", "det_backbone=4",
            "--batch-size", "4", "--num-workers", "0", "--states-per-question", "1", "--save-every", "1"]
    main([*args, "--minutes", "0.05"])
    first = capsys.readouterr().out
    assert "cache:" in first and (run / "cache.pt").is_file()
    cache = torch.load(run / "cache.pt", weights_only=False)
    n = len(_ground_samples(out))
    assert cache["pixels"].shape[0] == n and len(cache["boxes"]) == n
    assert len(cache["state_rows"]) == len(set(cache["key_ids"].tolist()))  # one state per question
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert rows and all(math.isfinite(r["loss"]) and r["det_heatmap"] > 0 for r in rows)

    before, after = load_file(final / "model.safetensors"), load_file(run / "final" / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("det_head.") and k in after)
    assert any(k.startswith("det_head.backbone.") for k in after)
    assert not any(k.startswith("det_head.lat4.") for k in after)  # the shared features are not read
    training = json.loads((run / "final" / "training.json").read_text())
    assert training["trainer"] == "egx_notebook.model.train_grounding" and training["steps"] >= 1

    # resume: the cache and the head's checkpoint are reused, and it trains on from the saved step
    saved = torch.load(run / "checkpoint.pt", weights_only=False)["step"]
    main([*args, "--minutes", "0.1"])
    again = capsys.readouterr().out
    assert "cache:" not in again and f"at step {saved}" in again
    assert json.loads((run / "final" / "training.json").read_text())["steps"] > saved

    model = EgxForConditionalGeneration.from_pretrained(run / "final").eval()
    assert model.config.det_backbone == 4 and model.det_head.backbone is not None
