"""EarthGPT-X modeling with a tiny random configuration: loss and gradients per task,
``generate`` for every prompt kind, batching, and the save/load round trip.

A random model never chooses ``[SEG]``/``[DET]`` by itself, so the generation tests
script the LLM's token choice (``model_samples.scripted_tokens``); what they prove is
that everything after that choice is right: the cached decoding yields the same
``[SEG]`` hidden state as teacher forcing, the heads run, and the answers come back
as parseable boxes and masks on the view grid.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_samples import TASKS, build_tiny, scripted_tokens, synthetic_sample  # noqa: E402

from egx_notebook.model import EgxForConditionalGeneration, EgxInputError, parse_boxes  # noqa: E402

VIEW_H, VIEW_W = 48, 80  # a non-square view: the canvas is padded at the bottom

# Modules every task trains, and the ones only some tasks reach.
COMMON = ("vision", "fusion", "image_projector", "language_model")
USES = {
    "caption": COMMON, "classify": COMMON,
    "refer": COMMON + ("prompt_encoder", "region_projector"),
    "relation": COMMON + ("prompt_encoder", "region_projector"),
    "ground": COMMON + ("det_head",),
    "segment": COMMON + ("prompt_encoder", "region_projector", "seg_head"),
}
HEADS = ("prompt_encoder", "region_projector", "seg_head", "det_head")


@pytest.fixture(scope="module")
def tiny():
    return build_tiny(seed=0)


def _grad_norm(module) -> float:
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert all(torch.isfinite(g).all() for g in grads)
    return float(sum(g.float().abs().sum() for g in grads)) if grads else 0.0


def _view(seed: int = 1, bands: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).random((bands, VIEW_H, VIEW_W)).astype(np.float32)


# ---------------------------------------------------------------------------- training


@pytest.mark.parametrize("task", TASKS)
def test_forward_loss_backward_per_task(tiny, task):
    model, processor = tiny
    batch = processor.collate([synthetic_sample(np.random.default_rng(3), task, source="optical")])
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.loss > 0
    terms = out.loss_terms
    assert terms["lm"] > 0
    seg_terms = ("mask_bce", "mask_dice")
    det_terms = ("det_heatmap", "det_size", "det_offset", "det_mask_bce", "det_mask_dice")
    for k in seg_terms:
        assert (terms[k] > 0) == (task == "segment"), (k, terms[k])
    for k in det_terms:
        assert (terms[k] > 0) == (task == "ground"), (k, terms[k])
    assert (out.seg_logits is not None) == (task == "segment")
    assert (out.det_heatmap is not None) == (task == "ground")
    out.loss.backward()
    for name in USES[task]:
        assert _grad_norm(getattr(model, name)) > 0, f"{task}: no gradient reaches {name}"
    for name in set(HEADS) - set(USES[task]):
        assert _grad_norm(getattr(model, name)) == 0, f"{task}: {name} got a gradient it should not"
    if task == "segment":  # the [SEG] state prompts the SAM decoder and the full-resolution refinement
        for part in ("token_proj", "decoder", "dense_prompt", "refine"):
            assert _grad_norm(getattr(model.seg_head, part)) > 0, part
    if task == "ground":
        for part in ("film", "heatmap", "size", "offset", "mask_out"):
            assert _grad_norm(getattr(model.det_head, part)) > 0, part


@pytest.mark.parametrize("task", ["segment", "ground"])
def test_pixel_loss_reaches_the_llm_through_the_special_token(tiny, task):
    """One-stage training: the mask / heatmap alone sends gradient into the LLM."""
    model, processor = tiny
    if task == "ground":
        # FiLM starts as the identity (zero weights), so at step 0 only FiLM itself learns;
        # after any update the [DET] state steers the head and the LLM gets gradient too
        model = copy.deepcopy(model)
        with torch.no_grad():
            model.det_head.film.weight.normal_(std=0.02)
    batch = processor.collate([synthetic_sample(np.random.default_rng(4), task, source="sar")])
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    pixel = out.seg_logits if task == "segment" else out.det_heatmap
    pixel.float().square().mean().backward()
    assert _grad_norm(model.language_model) > 0
    assert _grad_norm(model.seg_head if task == "segment" else model.det_head) > 0


def test_mixed_batch_of_every_task(tiny):
    """Rows with 0, 1 and 2 prompts and all three sources train together in one batch."""
    model, processor = tiny
    rng = np.random.default_rng(5)
    sources = ["optical", "sar", "infrared"]
    samples = [synthetic_sample(rng, t, source=sources[i % 3]) for i, t in enumerate(TASKS)]
    batch = processor.collate(samples)
    assert batch["prompt_masks"].shape[:2] == (len(TASKS), 2)
    assert batch["prompt_valid"].sum(1).tolist() == [len(s["prompts"]) for s in samples]
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    assert torch.isfinite(out.loss)
    assert all(torch.isfinite(v) for v in out.loss_terms.values())
    assert out.loss_terms["mask_dice"] > 0 and out.loss_terms["det_heatmap"] > 0
    out.loss.backward()
    for name in COMMON + HEADS:
        assert _grad_norm(getattr(model, name)) > 0, name


def test_auxiliary_probes_make_the_visual_tokens_carry_class_and_source(tiny):
    """The region classifier trains the region path from ``region_labels``; the source
    classifier trains the image path on every sample; unlabelled regions add nothing."""
    from egx_notebook.model.data.vocabulary import REGION_CLASSES

    model, processor = tiny
    sample = synthetic_sample(np.random.default_rng(6), "refer", source="sar")
    sample["targets"]["region_labels"] = ["ship"]
    model.zero_grad(set_to_none=True)
    out = model(**processor.collate([sample]))
    assert out.loss_terms["region_cls"] > 0 and out.loss_terms["source_cls"] > 0
    assert model.config.num_region_classes == len(REGION_CLASSES)
    out.loss.backward()
    assert _grad_norm(model.region_classifier) > 0 and _grad_norm(model.source_classifier) > 0
    sample["targets"]["region_labels"] = []
    model.zero_grad(set_to_none=True)
    out = model(**processor.collate([sample]))
    assert out.loss_terms["region_cls"] == 0
    out.loss.backward()
    assert _grad_norm(model.region_classifier) == 0


def test_visual_tokens_enter_the_llm_layer_normalised(tiny):
    """Image and region tokens keep one scale however large the projector's output grows
    (unnormalised, they drifted to ~150x the text embeddings and the LLM stopped reading them)."""
    model, processor = tiny
    batch = processor.collate([synthetic_sample(np.random.default_rng(7), "refer", source="infrared")])
    c = model.config

    def tokens(gain: float) -> dict:
        m = copy.deepcopy(model)
        with torch.no_grad():
            for proj in (m.image_projector, m.region_projector):
                proj.mlp[-1].weight.mul_(gain)
                proj.mlp[-1].bias.mul_(gain)
            feats = m.encode_images(batch["pixel_values"], batch["source_ids"], batch["valid_mask"])
            embeds, _ = m.prepare_inputs_embeds(feats, batch["input_ids"], batch["prompt_masks"],
                                                batch["prompt_valid"])
        return {t: embeds[batch["input_ids"] == t] for t in (c.image_token_id, c.region_token_id)}

    big, huge = tokens(100.0), tokens(1000.0)
    for t in big:
        assert len(big[t]) and torch.allclose(big[t], huge[t], atol=1e-3)
        assert big[t].norm(dim=-1).max() < 2 * model.get_input_embeddings().weight.shape[1] ** 0.5


def test_fusion_skip_starts_as_a_no_op_and_passes_the_grid_through(tiny, tmp_path):
    """Warm-starting with ``fusion_skip=True`` from a model without it changes nothing
    until the skip trains; a trained skip makes the fused grid follow the pre-fusion
    grid even where the fusion's output alone does not."""
    model, processor = tiny
    model.save_pretrained(tmp_path)
    warm = EgxForConditionalGeneration.from_pretrained(tmp_path, fusion_skip=True).eval()
    assert warm.config.fusion_skip and model.fusion.skip is None
    assert not warm.fusion.skip.weight.any() and not warm.fusion.skip.bias.any()
    batch = processor.collate([synthetic_sample(np.random.default_rng(8), "refer", source="infrared")])
    with torch.no_grad():
        a = model(**batch).logits
        b = warm(**batch).logits
    torch.testing.assert_close(a, b, atol=1e-6, rtol=0)

    d, g = model.config.fusion_dim, model.config.image_size // 16
    grid = torch.randn(1, d, g, g)
    prompts, valid = torch.zeros(1, 0, d), torch.zeros(1, 0, dtype=torch.bool)
    with torch.no_grad():
        base = warm.fusion(grid, prompts, valid)[0]
        warm.fusion.skip.weight.copy_(torch.eye(d))
        skipped = warm.fusion(grid, prompts, valid)[0]
    torch.testing.assert_close(skipped - base, grid)


def _warm_region_start(model, processor, tmp_path, part: str, **override):
    """``model`` saved and loaded with ``override``: its new region part (``part``) starts
    zero and the logits are the model's."""
    model.save_pretrained(tmp_path)
    warm = EgxForConditionalGeneration.from_pretrained(tmp_path, **override).eval()
    assert getattr(model.region_projector, part) is None
    assert not getattr(warm.region_projector, part).proj.weight.any()
    batch = processor.collate([synthetic_sample(np.random.default_rng(9), "refer", source="infrared")])
    with torch.no_grad():
        torch.testing.assert_close(model(**batch).logits, warm(**batch).logits, atol=1e-6, rtol=0)
    return warm


def _one_region_inputs(c):
    """Zero fused grid, prompt token and prompt mask for one region of a model with config ``c``."""
    d, g, s = c.fusion_dim, c.image_size // 16, c.image_size
    return torch.zeros(1, d, g, g), torch.zeros(1, 1, d), torch.zeros(1, 1, s, s)


def test_region_detail_starts_as_a_no_op_and_then_reads_fine_features(tiny, tmp_path):
    """Warm-starting with ``region_detail=True`` changes nothing until its projection
    trains; once it does, a region's token follows the stride-4/8 features inside it."""
    model, processor = tiny
    warm = _warm_region_start(model, processor, tmp_path, "detail", region_detail=True)
    fused, tokens, masks = _one_region_inputs(model.config)
    s = model.config.image_size
    masks[..., :4, :4] = 1  # a prompt inside one stride-16 cell
    c4, c8 = warm.vision.channels[:2]
    s4, s8 = torch.zeros(1, c4, s // 4, s // 4), torch.zeros(1, c8, s // 8, s // 8)
    bright = s4.clone()
    bright[:, 0, 0, 0] = 5.0  # detail under the prompt that the stride-16 grid does not see
    with torch.no_grad():
        warm.region_projector.detail.proj.weight.normal_()
        a = warm.region_projector(fused, masks, tokens, s4, s8)
        b = warm.region_projector(fused, masks, tokens, bright, s8)
    assert (a - b).abs().max() > 1e-3


def test_region_roi_starts_as_a_no_op_and_then_reads_the_layout_around_the_prompt(tiny, tmp_path):
    """Warm-starting with ``region_roi`` changes nothing until its projection trains; once it
    does, a region's token depends on where inside the prompt's box the features lie (which
    a masked average cannot tell), and on context just outside the box."""
    model, processor = tiny
    warm = _warm_region_start(model, processor, tmp_path, "crop", region_roi=2)
    c = model.config
    fused, tokens, masks = _one_region_inputs(c)
    s = c.image_size
    masks[..., 32:48, 32:64] = 1  # a 32 x 16 box
    c4, c8 = warm.vision.channels[:2]
    stem = torch.zeros(1, c.stem_width, s, s)
    s8 = torch.zeros(1, c8, s // 8, s // 8)
    left, right, outside = (torch.zeros(1, c4, s // 4, s // 4) for _ in range(3))
    left[:, 0, 8:12, 8:12] = 1.0     # the box's left half, stride-4 cells
    right[:, 0, 8:12, 12:16] = 1.0   # its right half: the same mean inside the box
    outside[:, 0, 8:12, 16:18] = 1.0  # beside the box, in its context
    with torch.no_grad():
        warm.region_projector.crop.proj.weight.normal_()
        a, b, o, none = (warm.region_projector(fused, masks, tokens, m, s8, stem)
                         for m in (left, right, outside, torch.zeros_like(left)))
    assert (a - b).abs().max() > 1e-3 and (o - none).abs().max() > 1e-3


def test_region_scale_starts_as_a_no_op_and_then_reads_the_view_zoom(tiny, tmp_path):
    """Warm-starting with ``region_scale`` changes nothing until its map trains; once it
    does, the same region in views at different zooms gets different tokens (no scale reads
    as 1), and encoded features carry the scale to the region tokens."""
    model, processor = tiny
    warm = _warm_region_start(model, processor, tmp_path, "scale", region_scale=True)
    fused, tokens, masks = _one_region_inputs(model.config)
    masks[..., 8:24, 8:24] = 1
    with torch.no_grad():
        warm.region_projector.scale.proj.weight.normal_()
        one, four, none = (warm.region_projector(fused, masks, tokens, view_scale=v)
                           for v in (torch.tensor([1.0]), torch.tensor([4.0]), None))
    assert (one - four).abs().max() > 1e-3
    torch.testing.assert_close(one, none)

    small, large = (processor.preprocess_image(np.ones((3, n, n), np.float32), "optical") for n in (32, 512))
    s = model.config.image_size
    assert small.view_scale.item() == pytest.approx(32 / s) and large.view_scale.item() == pytest.approx(512 / s)
    with torch.no_grad():
        feats = warm.encode_images(small.pixel_values, small.source_ids, small.valid_mask, large.view_scale)
    assert feats.view_scale.tolist() == [pytest.approx(512 / s)]
    with pytest.raises(EgxInputError, match="view_scale"):
        warm.encode_images(small.pixel_values, small.source_ids, small.valid_mask, torch.tensor([0.0]))
    with pytest.raises(EgxInputError, match="encode_images"):
        warm.generate(torch.ones(1, 2, dtype=torch.long), image_features=feats, view_scale=large.view_scale)


def test_preprocess_image_turns_the_view_decimation_into_a_view_scale(tiny):
    _, processor = tiny
    s = processor.image_size
    image = processor.preprocess_image(np.ones((1, 60, 100), np.float32), "infrared", pixel_scale=3)
    assert image.view_scale.tolist() == [pytest.approx(3 * 100 / s)]
    for bad in (0, -1.0, "2", True, float("nan")):
        with pytest.raises(EgxInputError, match="pixel_scale"):
            processor.preprocess_image(np.ones((1, 8, 8), np.float32), "infrared", pixel_scale=bad)
    batch = processor.collate([synthetic_sample(np.random.default_rng(3), "refer", source="sar")])
    assert batch["view_scale"].shape == (1,) and batch["view_scale"][0] > 0


def test_prompt_boxes_and_roi_align_follow_the_prompt():
    from egx_notebook.model.modeling.projector import prompt_boxes, roi_align

    masks = torch.zeros(1, 2, 64, 64)
    masks[0, 0, 10:20, 30:34] = 1  # rows 10-19, cols 30-33
    boxes = prompt_boxes(masks)
    assert boxes[0, 0].tolist() == [30, 10, 34, 20] and boxes[0, 1].tolist() == [0, 0, 64, 64]  # empty: all
    ramp = torch.arange(64.0).expand(1, 1, 64, 64).contiguous()  # feature = x pixel centre - 0.5
    crop = roi_align(ramp, torch.tensor([[[16.0, 16.0, 48.0, 48.0]]]), 64, 4, context=0.0)
    # four columns over x 16-48, 8 px each: means of the sample centres 18 and 22, 26 and 30, ...
    torch.testing.assert_close(crop[0, 0, 0, 0], torch.tensor([19.5, 27.5, 35.5, 43.5]))
    assert crop.shape == (1, 1, 1, 4, 4)


def test_seg_box_tokens_encode_the_prompt_box_corners(tiny, tmp_path):
    """With ``seg_box_tokens`` the [SEG] decoder gets SAM box tokens at the prompt's
    bounding-box corners (pixel edges), a learned "no box" pair for rows without a
    prompt, and the decoder's mask depends on them."""
    model, _ = tiny
    model.save_pretrained(tmp_path)
    warm = EgxForConditionalGeneration.from_pretrained(tmp_path, seg_box_tokens=True).eval()
    head, s = warm.seg_head, warm.config.image_size
    prompt = torch.zeros(2, 1, s, s)
    prompt[0, 0, 10:20, 30:34] = 1  # rows 10-19, cols 30-33
    with torch.no_grad():
        tokens = head.box_tokens(prompt, 2, prompt)
        corners = torch.tensor([[[30 / s, 10 / s], [34 / s, 20 / s]]])
        expected = head.pos(corners[:, None])[:, 0] + head.corner_embed.weight[:2]
    torch.testing.assert_close(tokens[0], expected[0], atol=1e-4, rtol=1e-4)  # sin of ~100 rad in float32
    torch.testing.assert_close(tokens[1], head.corner_embed.weight[2].expand(2, -1))

    c = warm.config
    g, hidden = s // 16, warm.language_model.config.hidden_size
    fused = torch.randn(1, c.fusion_dim, g, g)
    s4 = torch.randn(1, warm.vision.channels[0], s // 4, s // 4)
    stem = torch.randn(1, c.stem_width, s, s)
    with torch.no_grad():
        a = head(torch.ones(1, hidden), fused, prompt[:1], s4, stem)
        embed, head.corner_embed = head.corner_embed, None
        b = head(torch.ones(1, hidden), fused, prompt[:1], s4, stem)
        head.corner_embed = embed
    assert a.shape == (1, s, s) and (a - b).abs().max() > 1e-5  # exactly 0 if the tokens were ignored


def test_region_count_mismatch_is_a_typed_error(tiny):
    model, processor = tiny
    image = processor.preprocess_image(_view(), "optical")
    text = processor.build_inputs("refer", None, n_regions=1)
    with pytest.raises(EgxInputError, match="n_regions"):
        model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                       valid_mask=image.valid_mask, **text, max_new_tokens=2)


def test_forward_shares_one_view_over_several_text_rows_as_generate_does(tiny):
    """One image for two questions gives each row the logits it gets alone; an image
    count that is neither 1 nor the number of rows is a typed error."""
    model, processor = tiny
    image = processor.preprocess_image(_view(5), "optical")
    pixels = dict(pixel_values=image.pixel_values, source_ids=image.source_ids, valid_mask=image.valid_mask)
    rows = [processor.build_inputs(None, "What is in this image?"), processor.build_inputs(None, "Find all ships.")]
    batch = processor.pad(rows)
    with torch.no_grad():
        shared = model(**batch, **pixels).logits
        for r, row in enumerate(rows):
            alone = model(**row, **pixels).logits[0]
            n = alone.shape[0]
            torch.testing.assert_close(shared[r, -n:], alone, atol=1e-4, rtol=1e-4)
        two = {k: torch.cat([v, v]) for k, v in pixels.items()}
        three = processor.pad(rows + rows[:1])
        with pytest.raises(EgxInputError, match="2 images for 3 text rows"):
            model(**three, **two)


# ---------------------------------------------------------------------------- generation


def _scribble() -> np.ndarray:
    m = np.zeros((VIEW_H, VIEW_W), dtype=bool)
    rr = np.arange(10, 30)
    m[rr, rr + 15] = True  # a one-pixel-wide diagonal stroke
    return m


PROMPTS = {
    "point": [{"kind": "point", "xy": [20.5, 14.5]}],
    "box": [{"kind": "box", "xyxy": [10, 8, 34, 22]}],
    "polygon": [{"kind": "polygon", "exterior": [[5, 5], [40, 6], [30, 30]]}],
    "scribble": [{"kind": "mask", "mask": _scribble()}],
    "two_regions": [{"kind": "point", "xy": [60, 30]}, {"kind": "box", "xyxy": [4, 4, 20, 16]}],
}


def _teacher_forced_seg(model, processor, image, prompts, question, n_seg):
    """The [SEG] mask logits of forward() on the prompt with the answer appended."""
    ids = processor.build_inputs(None, question, n_regions=len(prompts))["input_ids"]
    seg, end = model.config.seg_token_id, model.config.end_token_id
    ids = torch.cat([ids, torch.tensor([[seg] * n_seg + [end]])], dim=1)
    with torch.no_grad():
        out = model(input_ids=ids, pixel_values=image.pixel_values, source_ids=image.source_ids,
                    valid_mask=image.valid_mask,
                    prompt_masks=processor.rasterize_prompts(prompts, image.geometry))
    return out.seg_logits


@pytest.mark.parametrize("kind", list(PROMPTS))
def test_generate_seg_mask_for_each_prompt_kind(tiny, kind):
    model, processor = tiny
    prompts = PROMPTS[kind]
    n = len(prompts)
    image = processor.preprocess_image(_view(), "optical")
    feats = model.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
    question = "Segment region 1 and region 2." if n == 2 else "Segment region 1."
    text = processor.build_inputs(None, question, n_regions=n)
    prompt_masks = processor.rasterize_prompts(prompts, image.geometry)
    assert prompt_masks.shape == (1, n, 128, 128) and (prompt_masks.flatten(2).amax(-1) > 0).all()
    seg = model.config.seg_token_id
    with scripted_tokens(model, [[seg] * n]):
        out = model.generate(image_features=feats, **text, prompt_masks=prompt_masks, max_new_tokens=8)
    assert out.sequences[0].tolist()[: n + 1] == [seg] * n + [model.config.end_token_id]
    assert out.seg_mask_logits[0].shape == (n, 128, 128)
    # the cached decoding hands the heads the same [SEG] states as teacher forcing (training)
    forced = _teacher_forced_seg(model, processor, image, prompts, question, n)
    torch.testing.assert_close(out.seg_mask_logits[0], forced.float(), atol=1e-4, rtol=1e-4)

    result = processor.post_process(out, image.geometry)[0]
    assert result["masks"].shape == (n, VIEW_H, VIEW_W) and result["masks"].dtype == np.float32
    assert np.isfinite(result["masks"]).all() and result["masks"].min() >= 0 and result["masks"].max() <= 1
    assert result["mask_boxes"].tolist() == [-1] * n
    assert result["text"] == " ".join(f"(mask {i + 1})" for i in range(n))  # adjacent [SEG] tokens, spaced
    assert result["boxes"].shape == (0, 4)


def test_seg_refinement_splits_into_a_view_term_and_a_mask_term(tiny):
    import torch.nn.functional as F

    model, processor = tiny
    head = model.seg_head
    image = processor.preprocess_image(_view(), "optical")
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        feats = model.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
        up = torch.randn(1, 1, *feats.stem.shape[-2:], generator=gen)
        s4f = F.interpolate(head.s4_proj(feats.s4), size=up.shape[-2:], mode="bilinear", align_corners=False)
        whole = head.refine[0](torch.cat([up, s4f, feats.stem], dim=1))  # the convolution as trained
        conv = head.refine[0]
        split = F.conv2d(up, conv.weight[:, :1], None, padding=conv.padding) + head.view_term(feats.s4, feats.stem)
    torch.testing.assert_close(split, whole, atol=1e-5, rtol=1e-5)


def test_seg_refinement_cached_per_view_matches_the_direct_pass(tiny):
    model, processor = tiny
    image = processor.preprocess_image(_view(), "optical")
    with torch.no_grad():
        feats = model.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
        prompt_masks = processor.rasterize_prompts(PROMPTS["box"], image.geometry)
        valid = torch.ones(prompt_masks.shape[:2], dtype=torch.bool)
        ids = processor.build_inputs("segment", None, n_regions=1)["input_ids"]
        _, fused = model.prepare_inputs_embeds(feats, ids, prompt_masks, valid)
        union = model._prompt_union(prompt_masks, valid)
    hidden = torch.randn(2, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(0))
    rows = torch.tensor([0, 0])
    with torch.enable_grad():  # training's path: nothing cached
        direct = model.run_seg(rows, hidden, feats, fused, union)
    assert feats.seg_view is None
    with torch.no_grad():
        first = model.run_seg(rows, hidden, feats, fused, union)
        assert feats.seg_view is not None and feats.seg_view.shape[-2:] == feats.stem.shape[-2:]
        follow_up = model.run_seg(rows, hidden, feats, fused, union)
    torch.testing.assert_close(first, direct.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(follow_up, first)
    assert feats.select(torch.tensor([0])).seg_view is not None  # the cache travels with the features


def test_seg_refinement_for_some_rows_of_a_batch_matches_the_cached_pass(tiny):
    # an evaluation batch where one row of two asks for a mask: that row's view term only,
    # the same mask as through the whole-batch cache, and nothing kept
    model, processor = tiny
    image = processor.preprocess_image(_view(), "optical")
    pv, sid, vm = (torch.cat([t, t.flip(-1)]) if t.dim() == 4 else torch.cat([t, t])
                   for t in (image.pixel_values, image.source_ids, image.valid_mask))
    with torch.no_grad():
        feats = model.encode_images(pv, sid, vm)
        prompt_masks = processor.rasterize_prompts(PROMPTS["box"], image.geometry).repeat(2, 1, 1, 1)
        valid = torch.ones(prompt_masks.shape[:2], dtype=torch.bool)
        ids = processor.build_inputs("segment", None, n_regions=1)["input_ids"].repeat(2, 1)
        _, fused = model.prepare_inputs_embeds(feats, ids, prompt_masks, valid)
        union = model._prompt_union(prompt_masks, valid)
        hidden = torch.randn(1, model.config.text_config.hidden_size, generator=torch.Generator().manual_seed(1))
        some = model.run_seg(torch.tensor([1]), hidden, feats, fused, union)
        assert feats.seg_view is None
        every = model.run_seg(torch.tensor([0, 1]), hidden.repeat(2, 1), feats, fused, union)
        assert feats.seg_view is not None
    torch.testing.assert_close(some[0], every[1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(every[0], every[1])  # the rows differ, so the right row was computed


def test_generate_mask_depends_on_the_visual_prompt(tiny):
    model, processor = tiny
    image = processor.preprocess_image(_view(), "optical")
    feats = model.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
    text = processor.build_inputs("segment", None, n_regions=1)
    masks = []
    for kind in ("point", "box"):
        pm = processor.rasterize_prompts(PROMPTS[kind], image.geometry)
        with scripted_tokens(model, [[model.config.seg_token_id]]):
            masks.append(model.generate(image_features=feats, **text, prompt_masks=pm).seg_mask_logits[0])
    assert not torch.allclose(masks[0], masks[1])


def test_generate_det_boxes_and_instance_masks(tiny):
    model, processor = tiny
    image = processor.preprocess_image(_view(2, bands=1), "infrared")
    text = processor.build_inputs("ground", None, expression="ships")
    det = model.config.det_token_id
    old = model.config.det_score_threshold, model.config.det_max_detections
    model.config.det_score_threshold, model.config.det_max_detections = 0.0, 5  # a random heatmap peaks at ~0.1
    try:
        with scripted_tokens(model, [[det]]):
            out = model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                                 valid_mask=image.valid_mask, **text, max_new_tokens=4)
    finally:
        model.config.det_score_threshold, model.config.det_max_detections = old
    assert out.boxes[0].shape == (5, 4) and out.box_mask_logits[0].shape == (5, 128, 128)
    r = processor.post_process(out, image.geometry)[0]
    boxes = r["boxes"]
    assert boxes.shape == (5, 4)
    assert (boxes[:, 0] <= boxes[:, 2]).all() and (boxes[:, 1] <= boxes[:, 3]).all()
    assert (boxes >= 0).all() and (boxes[:, [0, 2]] <= VIEW_W).all() and (boxes[:, [1, 3]] <= VIEW_H).all()
    assert np.all(np.diff(r["scores"]) <= 0) and ((r["scores"] >= 0) & (r["scores"] <= 1)).all()
    assert r["labels"] == ["ship"] * 5
    assert r["text"].startswith("5 ships found: <box>[")
    # the boxes written in the answer text parse back to the returned boxes (0-1000 quantisation)
    np.testing.assert_allclose(parse_boxes(r["text"], VIEW_H, VIEW_W), boxes, atol=VIEW_W / 1000 + 1e-9)
    assert r["masks"].shape == (5, VIEW_H, VIEW_W) and r["mask_boxes"].tolist() == [0, 1, 2, 3, 4]
    yy, xx = np.mgrid[0:VIEW_H, 0:VIEW_W] + 0.5
    for m, (x0, y0, x1, y1) in zip(r["masks"], boxes):  # instance i = class mask inside box i
        outside = (xx < x0) | (xx >= x1) | (yy < y0) | (yy >= y1)
        assert (m[outside] == 0).all()


def test_generate_det_never_reports_boxes_centred_in_padding_or_nodata(tiny):
    model, processor = tiny
    view = _view(5, bands=1)
    view[:, :, :20] = np.nan  # nodata on the left; the canvas is padded below the 48-row view
    image = processor.preprocess_image(view, "infrared")
    text = processor.build_inputs("ground", None, expression="ships")
    old = model.config.det_score_threshold, model.config.det_max_detections
    model.config.det_score_threshold, model.config.det_max_detections = 0.0, 32 * 32  # every peak
    try:
        with scripted_tokens(model, [[model.config.det_token_id]]):
            out = model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                                 valid_mask=image.valid_mask, **text, max_new_tokens=4)
    finally:
        model.config.det_score_threshold, model.config.det_max_detections = old
    boxes = processor.post_process(out, image.geometry)[0]["boxes"]
    assert len(boxes) > 3
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    cell = 4 / image.geometry.scale  # one stride-4 cell in view pixels
    assert (cy < VIEW_H + cell).all() and (cx >= 20 - 2 * cell).all()


def test_generate_det_with_no_peak_says_so(tiny):
    model, processor = tiny
    image = processor.preprocess_image(_view(2, bands=1), "infrared")
    text = processor.build_inputs(None, "Find all ships.")
    assert model.config.det_score_threshold == 0.3
    with scripted_tokens(model, [[model.config.det_token_id]]):
        out = model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                             valid_mask=image.valid_mask, **text, max_new_tokens=4)
    r = processor.post_process(out, image.geometry)[0]
    assert r["text"] == "no ships found" and r["boxes"].shape == (0, 4) and r["masks"] is None


def test_generate_never_emits_tokens_only_the_processor_writes(tiny):
    """Even when the LLM prefers ``<image>``/``<region>``/``<bos>``/``<pad>``, greedy decoding skips them."""
    model, processor = tiny
    c = model.config
    banned = [c.image_token_id, c.region_token_id, c.bos_token_id, c.pad_token_id]
    image = processor.preprocess_image(_view(4), "optical")
    text = processor.build_inputs("caption", None)

    def prefer_banned(module, args, output):
        output.logits[..., banned] += 1e4
        return output

    handle = model.language_model.register_forward_hook(prefer_banned)
    try:
        out = model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                             valid_mask=image.valid_mask, **text, max_new_tokens=5)
    finally:
        handle.remove()
    seq = out.sequences[0].tolist()
    assert len(seq) == 5 and not set(seq) & set(banned), seq


def test_free_running_generate_is_well_formed(tiny):
    """Without scripting: greedy text up to max_new_tokens, pad after <|end|>, post-processing works."""
    model, processor = tiny
    image = processor.preprocess_image(_view(3), "optical")
    text = processor.build_inputs("caption", None)
    out = model.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                         valid_mask=image.valid_mask, **text, max_new_tokens=6)
    seq = out.sequences[0].tolist()
    assert 1 <= len(seq) <= 6
    end = model.config.end_token_id
    if end in seq:
        assert set(seq[seq.index(end) + 1:]) <= {model.config.pad_token_id}
    r = processor.post_process(out, image.geometry)[0]
    assert isinstance(r["text"], str)
    assert r["boxes"].shape[1] == 4 and len(r["scores"]) == len(r["boxes"]) == len(r["labels"])


def test_batched_generate_matches_single_rows(tiny):
    """Two questions on one encoded view (left padding, different region counts) give
    the same heads' outputs as asking them one at a time."""
    model, processor = tiny
    image = processor.preprocess_image(_view(4), "optical")
    feats = model.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
    seg, det = model.config.seg_token_id, model.config.det_token_id
    rows = [processor.build_inputs("segment", None, n_regions=1), processor.build_inputs(None, "Find all ships.")]
    pm = processor.rasterize_prompts(PROMPTS["box"], image.geometry)
    model.config.det_score_threshold = 0.0
    try:
        singles = []
        with scripted_tokens(model, [[seg]]):
            singles.append(model.generate(image_features=feats, **rows[0], prompt_masks=pm))
        with scripted_tokens(model, [[det]]):
            singles.append(model.generate(image_features=feats, **rows[1]))
        batch = processor.pad(rows)
        assert batch["input_ids"].shape[0] == 2 and (batch["attention_mask"][1] == 0).any()
        with scripted_tokens(model, [[seg], [det]]):
            out = model.generate(image_features=feats, **batch, prompt_masks=torch.cat([pm, torch.zeros_like(pm)]),
                                 prompt_valid=torch.tensor([[True], [False]]))
    finally:
        model.config.det_score_threshold = 0.3
    torch.testing.assert_close(out.seg_mask_logits[0], singles[0].seg_mask_logits[0], atol=1e-4, rtol=1e-4)
    assert out.seg_mask_logits[1].shape[0] == 0 and out.boxes[0].shape[0] == 0
    torch.testing.assert_close(out.boxes[1], singles[1].boxes[0], atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(out.scores[1], singles[1].scores[0], atol=1e-4, rtol=1e-4)
    results = processor.post_process(out, image.geometry)
    assert results[0]["masks"].shape == (1, VIEW_H, VIEW_W)
    assert len(results[1]["boxes"]) == len(singles[1].boxes[0]) > 0


# ---------------------------------------------------------------------------- save / load


def test_save_load_round_trip_gives_identical_outputs(tiny, tmp_path):
    model, processor = tiny
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    assert not list(tmp_path.glob("*.bin"))
    loaded = EgxForConditionalGeneration.from_pretrained(tmp_path).eval()
    from egx_notebook.model import EgxProcessor

    proc2 = EgxProcessor.from_pretrained(tmp_path)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)

    image = processor.preprocess_image(_view(6, bands=2), "sar")
    prompts = PROMPTS["two_regions"]
    outs = []
    for m, p in ((model, processor), (loaded, proc2)):
        text = p.build_inputs("relation", None, n_regions=2)
        pm = p.rasterize_prompts(prompts, image.geometry)
        with torch.no_grad():
            logits = m(pixel_values=image.pixel_values, source_ids=image.source_ids,
                       valid_mask=image.valid_mask, prompt_masks=pm, **text).logits
        free = m.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                          valid_mask=image.valid_mask, prompt_masks=pm, **text, max_new_tokens=5)
        with scripted_tokens(m, [[m.config.seg_token_id] * 2]):
            seg = m.generate(pixel_values=image.pixel_values, source_ids=image.source_ids,
                             valid_mask=image.valid_mask, prompt_masks=pm, **text, max_new_tokens=5)
        outs.append((logits, free.sequences, seg.seg_mask_logits[0]))
    (logits_a, seq_a, seg_a), (logits_b, seq_b, seg_b) = outs
    assert torch.equal(logits_a, logits_b) and torch.equal(seq_a, seq_b)
    # bit-identical weights; the SAM decoder's CPU kernels may round differently (~1e-11)
    # on freshly loaded (memory-mapped) tensors, hence a float-rounding tolerance here
    torch.testing.assert_close(seg_a, seg_b, atol=1e-6, rtol=0)


def test_loading_refuses_pickle_weights(tiny, tmp_path):
    model, _ = tiny
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(EgxInputError, match=r"safetensors.*pytorch_model\.bin"):
        EgxForConditionalGeneration.from_pretrained(tmp_path)
    with pytest.raises(EgxInputError, match="safetensors only"):
        EgxForConditionalGeneration.from_pretrained(tmp_path, use_safetensors=False)


def test_det_branch_and_blocks_start_as_no_ops_and_then_move_the_heatmap(tiny, tmp_path):
    """Warm-starting with the grounding head's own fine features (``det_branch``) and
    residual blocks (``det_blocks``) leaves every output as it was, grounding loss
    included; once their closing convolutions train, the heatmap follows them."""
    model, processor = tiny
    model.save_pretrained(tmp_path)
    warm = EgxForConditionalGeneration.from_pretrained(tmp_path, det_branch=4, det_blocks=2).eval()
    head = warm.det_head
    assert model.det_head.branch is None and len(model.det_head.blocks) == 0 and len(head.blocks) == 2
    zero = [head.branch.out] + [b.out for b in head.blocks] + [head.branch.stages[1].out]
    assert not any(conv.weight.any() or conv.bias.any() for conv in zero)
    batch = processor.collate([synthetic_sample(np.random.default_rng(10), "ground", source="infrared")])
    with torch.no_grad():
        a, b = model(**batch), warm(**batch)
    torch.testing.assert_close(a.logits, b.logits, atol=1e-6, rtol=0)
    for term in ("det_heatmap", "det_size", "det_offset", "det_mask_bce"):
        torch.testing.assert_close(a.loss_terms[term], b.loss_terms[term], atol=1e-6, rtol=0)

    c, s = warm.config, warm.config.image_size
    ch = warm.vision.channels
    args = (torch.randn(1, c.text_config.hidden_size), torch.randn(1, ch[0], s // 4, s // 4),
            torch.randn(1, ch[1], s // 8, s // 8), torch.randn(1, ch[2], s // 16, s // 16),
            torch.randn(1, c.fusion_dim, s // 16, s // 16), torch.randn(1, c.stem_width, s, s))
    for conv in (head.branch.out, head.blocks[0].out):
        with torch.no_grad():
            before = head(*args)["heatmap"]
            conv.weight.normal_()
            after = head(*args)["heatmap"]
            conv.weight.zero_()
        assert (after - before).abs().max() > 1e-3


def test_deep_det_branch_starts_as_a_no_op_reads_its_deep_stages_and_round_trips(tiny, tmp_path):
    """``det_branch_levels=4`` takes the head's own branch to stride 16 and back: a warm
    start with it answers as before (its closing 1x1 conv is zero), its stride-4 output
    follows the stride-16 stage once that conv is trained, and a saved model loads with
    the same branch and the same outputs. Fewer than 2 levels is refused."""
    model, processor = tiny
    model.save_pretrained(tmp_path / "base")
    warm = EgxForConditionalGeneration.from_pretrained(tmp_path / "base", det_branch=4, det_branch_levels=4).eval()
    branch = warm.det_head.branch
    assert len(branch.deep) == 2 and len(branch.lateral) == 2
    batch = processor.collate([synthetic_sample(np.random.default_rng(11), "ground", source="sar")])
    with torch.no_grad():
        a, b = model(**batch), warm(**batch)
    torch.testing.assert_close(a.loss_terms["det_heatmap"], b.loss_terms["det_heatmap"], atol=1e-6, rtol=0)

    s, width = warm.config.image_size, warm.config.stem_width
    stem = torch.randn(1, width, s, s)
    with torch.no_grad():
        branch.out.weight.normal_()
        before = branch(stem)
        assert before.shape == (1, warm.config.det_dim, s // 4, s // 4)
        branch.lateral[-1].weight.add_(1.0)  # the stride-16 stage's way into the stride-4 map
        after = branch(stem)
    assert (after - before).abs().max() > 1e-3

    warm.save_pretrained(tmp_path / "deep")
    again = EgxForConditionalGeneration.from_pretrained(tmp_path / "deep").eval()
    assert again.config.det_branch_levels == 4
    with torch.no_grad():
        torch.testing.assert_close(again.det_head.branch(stem), after)
    with pytest.raises(ValueError, match="det_branch_levels=1"):
        EgxForConditionalGeneration.from_pretrained(tmp_path / "base", det_branch=4, det_branch_levels=1)


def test_det_branch_cached_per_view_matches_the_direct_pass(tiny, tmp_path):
    """The grounding head's own branch reads the view alone: a no-grad query computes it once
    and keeps it on the features (``det_view``), follow-up queries reuse it, training keeps
    nothing, and a batch where some rows ask keeps nothing either. Maps are the same on
    every path."""
    model, processor = tiny
    model.save_pretrained(tmp_path)
    deep = EgxForConditionalGeneration.from_pretrained(tmp_path, det_branch=4, det_branch_levels=3).eval()
    with torch.no_grad():
        deep.det_head.branch.out.weight.normal_()  # a trained branch: it now shapes the maps
    image = processor.preprocess_image(_view(bands=1), "sar")
    pv, sid, vm = (torch.cat([t, t.flip(-1)]) if t.dim() == 4 else torch.cat([t, t])
                   for t in (image.pixel_values, image.source_ids, image.valid_mask))
    ids = processor.build_inputs("ground", "ships")["input_ids"].repeat(2, 1)
    hidden = torch.randn(2, deep.config.text_config.hidden_size, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        feats = deep.encode_images(pv, sid, vm)
        _, fused = deep.prepare_inputs_embeds(feats, ids, pv.new_zeros(2, 0, *pv.shape[-2:]),
                                              torch.zeros(2, 0, dtype=torch.bool))
    rows = torch.tensor([0, 1])
    with torch.enable_grad():
        direct = deep.run_det(rows, hidden, feats, fused)
    assert feats.det_view is None
    with torch.no_grad():
        some = deep.run_det(torch.tensor([1]), hidden[1:], feats, fused)
        assert feats.det_view is None
        first = deep.run_det(rows, hidden, feats, fused)
        assert feats.det_view is not None and feats.det_view.shape[-1] == pv.shape[-1] // 4
        follow_up = deep.run_det(rows, hidden, feats, fused)
    for name in ("heatmap", "size", "offset", "mask"):
        torch.testing.assert_close(first[name], direct[name].detach(), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(follow_up[name], first[name])
        torch.testing.assert_close(some[name][0], first[name][1], atol=1e-5, rtol=1e-5)
    assert not torch.allclose(first["heatmap"][0], first["heatmap"][1])  # the views differ
    assert feats.select(torch.tensor([0])).det_view is not None  # the cache travels with the features


def test_det_backbone_head_reads_the_view_through_its_own_backbone(tiny, tmp_path):
    """``det_backbone`` gives the grounding head a backbone of its own over the stem: the
    shared stride-4/8/16 features and the fused grid no longer reach its maps, the query
    still does (FiLM), the backbone's map is cached per view like ``det_view``, a subset of
    mask rows gives those rows' masks, the model round-trips, and it cannot be combined
    with ``det_branch``."""
    model, processor = tiny
    model.save_pretrained(tmp_path / "base")
    own = EgxForConditionalGeneration.from_pretrained(tmp_path / "base", det_backbone=8).eval()
    head = own.det_head
    assert head.backbone is not None and not hasattr(head, "lat4") and head.reads_view
    with torch.no_grad():
        head.film.weight.normal_(std=0.5)  # a trained FiLM: the query now shapes the maps
    image = processor.preprocess_image(_view(bands=1), "sar")
    ids = processor.build_inputs("ground", "ships")["input_ids"]
    d = own.config.text_config.hidden_size
    hidden = torch.randn(2, d, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        feats = own.encode_images(image.pixel_values, image.source_ids, image.valid_mask)
        no_prompts = image.pixel_values.new_zeros(1, 0, *image.pixel_values.shape[-2:])
        _, fused = own.prepare_inputs_embeds(feats, ids, no_prompts, torch.zeros(1, 0, dtype=torch.bool))
        rows = torch.tensor([0, 0])
        with torch.enable_grad():
            direct = own.run_det(rows, hidden, feats, fused)
        assert feats.det_view is None
        first = own.run_det(rows, hidden, feats, fused)
        assert feats.det_view is not None
        for name in ("heatmap", "size", "offset", "mask"):
            torch.testing.assert_close(first[name], direct[name].detach(), atol=1e-5, rtol=1e-5)
        assert not torch.allclose(first["heatmap"][0], first["heatmap"][1])  # two queries, two maps
        args = (feats.s4[rows], feats.s8[rows], feats.s16[rows], fused[rows], feats.stem[rows])
        shared = head(hidden, *(a * 0 + 5 if i < 4 else a for i, a in enumerate(args)))
        torch.testing.assert_close(shared["heatmap"], first["heatmap"], atol=1e-5, rtol=1e-5)  # not read
        some = head(hidden, *args, mask_rows=torch.tensor([1]))
        assert some["mask"].shape[0] == 1
        torch.testing.assert_close(some["mask"][0], first["mask"][1], atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(some["heatmap"], first["heatmap"], atol=1e-5, rtol=1e-5)

    own.save_pretrained(tmp_path / "own")
    again = EgxForConditionalGeneration.from_pretrained(tmp_path / "own").eval()
    assert again.config.det_backbone == 8
    with torch.no_grad():
        torch.testing.assert_close(again.det_head.view_term(feats.stem), head.view_term(feats.stem))
    with pytest.raises(ValueError, match="det_backbone=8 and det_branch=4"):
        EgxForConditionalGeneration.from_pretrained(tmp_path / "base", det_backbone=8, det_branch=4)
