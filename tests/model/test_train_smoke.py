"""The smoke recipe end to end: train, save, resume, evaluate (tiny model, synthetic data)."""

from __future__ import annotations

import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("accelerate")

pytestmark = pytest.mark.slow


def _log(out):
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]


def test_smoke_training_writes_checkpoint_and_final(smoke_run):
    from egx_notebook.model.recipes import get_recipe

    out, final = smoke_run
    recipe = get_recipe("smoke")
    rows = _log(out)
    assert rows and rows[-1]["step"] == recipe.max_steps
    assert all(math.isfinite(r["loss"]) and r["loss"] > 0 for r in rows)
    assert any(r["mask_dice"] > 0 for r in rows) and any(r["det_heatmap"] > 0 for r in rows)
    for folder in (out / "checkpoint", final):
        names = {p.name for p in folder.iterdir()}
        assert {"config.json", "model.safetensors", "tokenizer.json", "processor_config.json"} <= names
        assert not any(n.endswith((".bin", ".pt")) for n in names - {"trainer_state.pt"})
    assert (out / "checkpoint" / "trainer_state.pt").is_file()
    assert json.loads((final / "training.json").read_text())["steps"] == recipe.max_steps
    assert json.loads((out / "recipe.json").read_text())["name"] == "smoke"


def test_resume_continues_from_the_saved_step(smoke_run, capsys):
    import torch
    from safetensors.torch import load_file

    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import train

    out, final = smoke_run
    before = load_file(out / "checkpoint" / "model.safetensors")
    steps = get_recipe("smoke").max_steps
    capsys.readouterr()
    final2 = train(get_recipe("smoke", max_steps=steps + 2), None, None, out)
    assert f"resuming from {out / 'checkpoint'} at step {steps}" in capsys.readouterr().out
    new_rows = [r for r in _log(out)][-1:]
    assert new_rows[0]["step"] == steps + 2
    assert json.loads((final2 / "training.json").read_text())["steps"] == steps + 2
    after = load_file(final2 / "model.safetensors")
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it trained on from there


def test_init_from_warm_starts_weights_and_tokenizer(smoke_run, tmp_path, capsys):
    import torch
    from safetensors.torch import load_file

    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import train

    _, final = smoke_run
    capsys.readouterr()
    final2 = train(get_recipe("smoke", max_steps=1, lr=1e-12, warmup_steps=0), None, None, tmp_path / "warm",
                   init_from=final)
    assert f"initialised from {final}" in capsys.readouterr().out
    assert (final2 / "tokenizer.json").read_text() == (final / "tokenizer.json").read_text()
    assert json.loads((final2 / "training.json").read_text())["init_from"] == str(final)
    before, after = load_file(final / "model.safetensors"), load_file(final2 / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.allclose(before[k], after[k], atol=1e-6) for k in before)  # one step at lr 1e-12


def test_frozen_parts_keep_their_weights_while_the_rest_trains(smoke_run, tmp_path):
    import torch
    from safetensors.torch import load_file

    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import train

    _, final = smoke_run
    recipe = get_recipe("smoke", max_steps=2, lr=1e-2, warmup_steps=0, freeze=("vision", "det_head"))
    final2 = train(recipe, None, None, tmp_path / "frozen", init_from=final)
    before, after = load_file(final / "model.safetensors"), load_file(final2 / "model.safetensors")
    frozen = [k for k in before if k.startswith(("vision.", "det_head."))]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    moved = [k for k in before if k.startswith("region_projector.") and not torch.equal(before[k], after[k])]
    assert moved  # the unfrozen parts trained
    assert json.loads((tmp_path / "frozen" / "recipe.json").read_text())["freeze"] == ["vision", "det_head"]
    with pytest.raises(ValueError, match="cannot freeze \\['backbone'\\]: the model's parts are"):
        train(get_recipe("smoke", max_steps=1, freeze=("backbone",)), None, None, tmp_path / "bad", init_from=final)


def test_grounding_head_alone_trains_on_grounding_samples_with_new_parts(smoke_run, tmp_path):
    """``tasks=("ground",)`` with everything but the grounding head frozen and the head's
    new parts switched on: only ``det_head`` weights move, the new ones among them."""
    import torch
    from safetensors.torch import load_file

    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import train

    _, final = smoke_run
    others = ("vision", "prompt_encoder", "fusion", "language_model", "image_projector", "region_projector",
              "region_classifier", "source_classifier", "seg_head")
    recipe = get_recipe("smoke", max_steps=3, lr=1e-2, warmup_steps=0, freeze=others, tasks=("ground",),
                        config={"tiny": True, "det_branch": 4, "det_blocks": 1})
    final2 = train(recipe, None, None, tmp_path / "det", init_from=final)
    before, after = load_file(final / "model.safetensors"), load_file(final2 / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before if not k.startswith("det_head."))
    new = [k for k in after if k not in before]
    assert new and all(k.startswith(("det_head.branch.", "det_head.blocks.")) for k in new)
    assert after["det_head.branch.out.weight"].any() and after["det_head.blocks.0.out.weight"].any()
    assert any(not torch.equal(before[k], after[k]) for k in before if k.startswith("det_head."))
    rows = _log(tmp_path / "det")
    assert all(r["mask_dice"] == 0 and r["det_heatmap"] > 0 for r in rows)  # grounding samples only
    with pytest.raises(ValueError, match="no samples of task\\(s\\) \\['grounding'\\]; the samples hold"):
        train(get_recipe("smoke", max_steps=1, tasks=("grounding",)), None, None, tmp_path / "bad", init_from=final)


def test_evaluate_cli_on_the_final_model(smoke_run, tmp_path):
    from egx_notebook.model.evaluate import main
    from egx_notebook.model.train import read_samples

    out, _ = smoke_run
    val = read_samples(out / "data" / "val.jsonl")
    picked = {}
    for s in val:  # one sample per task keeps this fast
        picked.setdefault(s["task"], s)
    assert {"ground", "segment", "refer"} <= set(picked)
    data = tmp_path / "data"
    data.mkdir()
    (data / "val.jsonl").write_text("".join(json.dumps(picked[t]) + "\n" for t in ("ground", "segment", "refer")))
    report = tmp_path / "eval.json"
    main(["--checkpoint", str(out / "final"), "--data", str(data), "--out", str(report)])
    summary = json.loads(report.read_text())
    assert summary["latency_ms"]["samples"] == 3
    assert any(k.startswith("ground/") for k in summary)
    assert any(k.startswith("segment/") for k in summary)
    assert summary["_run"]["checkpoint"] == str(out / "final")
    ground = next(v for k, v in summary.items() if k.startswith("ground/"))
    assert 0.0 <= ground["f1"] <= 1.0
    for key, acc in summary.items():  # what each class prompt was answered with
        if key.startswith("refer/") and key not in ("refer/all", "refer/one_class_named"):
            assert sum(summary["refer_confusion/" + key.split("/", 1)[1]].values()) == acc["samples"]

    from egx_notebook.asking import MASK_THRESHOLD

    assert summary["_run"]["mask_threshold"] == MASK_THRESHOLD  # scores what da.egx returns
    main(["--checkpoint", str(out / "final"), "--data", str(data), "--out", str(report), "--mask-threshold", "1.0"])
    cut_out = json.loads(report.read_text())  # no probability exceeds 1: every mask is empty
    assert cut_out["_run"]["mask_threshold"] == 1.0
    assert all(v["pooled_iou"] == 0.0 for k, v in cut_out.items() if k.startswith("segment/"))


def test_weighted_draw_writes_its_mix(smoke_run, tmp_path):
    from egx_notebook.model.data.sampling import mix_shares, region_class_shares, sample_weights
    from egx_notebook.model.recipes import get_recipe
    from egx_notebook.model.train import read_samples, train

    out, final = smoke_run
    recipe = get_recipe("smoke", max_steps=1, balance=1.0, task_weights={"ground": 3.0},
                        class_weights={"car": 5.0})
    run = tmp_path / "weighted"
    final2 = train(recipe, None, None, run, init_from=final)
    mix = json.loads((run / "mix.json").read_text())
    samples = read_samples(run / "data" / "train.jsonl")
    natural = mix_shares(samples, sample_weights(samples), "task")["ground"]
    assert mix["task"]["ground"] > natural
    natural_cars = region_class_shares(samples, sample_weights(samples))["car"]
    assert mix["region_class"]["car"] > natural_cars  # the class weight reached the draw
    assert sum(mix["dataset"].values()) == pytest.approx(1.0)
    assert json.loads((final2 / "training.json").read_text())["mix"] == mix


def test_dataset_weights_parse_from_the_command_line(tmp_path, capsys):
    from egx_notebook.model.train import _name_weights, _names, main

    assert _names(" vision, det_head ,") == ("vision", "det_head")  # --freeze

    assert _name_weights("hit-uav=2, synthetic=0.5") == {"hit-uav": 2.0, "synthetic": 0.5}
    from egx_notebook.model.train import _config_overrides  # --config

    assert _config_overrides("det_branch=16, det_blocks=2,fusion_skip=false") == {
        "det_branch": 16, "det_blocks": 2, "fusion_skip": False}
    for bad in ("det_branch", "det_branch=wide", "no_such_field=1", "fusion_skip=maybe", "vision_config=1"):
        with pytest.raises(SystemExit):
            main(["--recipe", "smoke", "--out", str(tmp_path), "--config", bad])
        assert "--config" in capsys.readouterr().err
    assert _name_weights("") == {}  # no dataset weights, e.g. recipe default on other data
    for bad in ("hit-uav", "hit-uav=lots", "=2"):
        with pytest.raises(SystemExit):
            main(["--recipe", "smoke", "--out", str(tmp_path), "--dataset-weights", bad])
        assert "NAME=WEIGHT" in capsys.readouterr().err
