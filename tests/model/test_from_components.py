"""``EgxForConditionalGeneration.from_components`` with tiny random transformers models
(ConvNeXt, Llama, SAM) saved as safetensors to a temporary folder."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_samples import synthetic_sample, tiny_tokenizer  # noqa: E402

from egx_notebook.model import EgxForConditionalGeneration, EgxInputError, EgxProcessor  # noqa: E402

OVERRIDES = dict(image_size=128, fusion_dim=32, fusion_heads=2, llm_image_grid=2, mask_refine_dim=8, det_dim=16,
                 prompt_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=64, patch_size=16, num_channels=1))


@pytest.fixture(scope="module")
def parts(tmp_path_factory):
    from transformers import (ConvNextConfig, ConvNextModel, LlamaConfig, LlamaForCausalLM, SamConfig,
                              SamModel)

    root = tmp_path_factory.mktemp("components")
    torch.manual_seed(0)
    vision = ConvNextModel(ConvNextConfig(num_channels=3, hidden_sizes=[16, 24, 32, 40], depths=[1, 1, 1, 1],
                                          image_size=64))
    llm = LlamaForCausalLM(LlamaConfig(vocab_size=300, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=256))
    sam = SamModel(SamConfig(
        vision_config=dict(hidden_size=32, output_channels=24, num_hidden_layers=1, num_attention_heads=2,
                           mlp_dim=64, image_size=64, patch_size=16, window_size=2, global_attn_indexes=[0],
                           num_pos_feats=12),
        prompt_encoder_config=dict(hidden_size=24, image_size=64, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=24, mlp_dim=48, num_hidden_layers=2, num_attention_heads=2,
                                 iou_head_hidden_dim=16)))
    paths = {}
    for name, m in (("vision", vision), ("llm", llm), ("sam", sam)):
        paths[name] = root / name
        m.save_pretrained(paths[name])
        assert list(paths[name].glob("*.safetensors"))
    return paths, vision, llm, sam


@pytest.fixture(scope="module")
def composed(parts):
    paths, *_ = parts
    tok = tiny_tokenizer()
    model = EgxForConditionalGeneration.from_components(
        vision=paths["vision"], llm=paths["llm"], mask_decoder=paths["sam"], tokenizer=tok, **OVERRIDES).eval()
    processor = EgxProcessor(tokenizer=tok, image_size=model.config.image_size)
    processor.configure(model.config)
    return model, processor


def test_loaded_weights_are_the_components(parts, composed):
    _, vision, llm, sam = parts
    model, processor = composed
    own = model.vision.backbone.state_dict()
    theirs = vision.state_dict()
    shared = [k for k in own if k in theirs]
    assert len(shared) > 20 and all(torch.equal(own[k], theirs[k]) for k in shared)
    lm_own, lm_theirs = model.language_model.state_dict(), llm.state_dict()
    for k, v in lm_theirs.items():
        if "embed_tokens" in k or "lm_head" in k:  # resized to the tokenizer: the old rows are kept
            assert torch.equal(lm_own[k][: v.shape[0]], v)
        else:
            assert torch.equal(lm_own[k], v), k
    assert model.language_model.get_input_embeddings().weight.shape[0] == len(processor.tokenizer)
    dec_own, dec_theirs = model.seg_head.decoder.state_dict(), sam.mask_decoder.state_dict()
    assert dec_own.keys() == dec_theirs.keys() and all(torch.equal(dec_own[k], dec_theirs[k]) for k in dec_own)
    assert torch.equal(model.seg_head.pos.positional_embedding, sam.shared_image_embedding.positional_embedding)
    c = model.config
    assert (c.seg_token_id, c.det_token_id, c.image_token_id) == tuple(
        processor.tokenizer.convert_tokens_to_ids(["[SEG]", "[DET]", "<image>"]))
    assert c.text_config.hidden_size == 48 and c.mask_decoder_config.hidden_size == 24


def test_composed_model_trains_and_round_trips(composed, tmp_path):
    model, processor = composed
    rng = np.random.default_rng(0)
    batch = processor.collate([synthetic_sample(rng, t) for t in ("segment", "ground", "relation")])
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.loss_terms["mask_dice"] > 0 and out.loss_terms["det_heatmap"] > 0
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.seg_head.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.vision.backbone.parameters())
    model.zero_grad(set_to_none=True)

    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = EgxForConditionalGeneration.from_pretrained(tmp_path).eval()
    proc2 = EgxProcessor.from_pretrained(tmp_path)
    image = proc2.preprocess_image(rng.random((3, 40, 60)).astype(np.float32), "optical")
    text = proc2.build_inputs("segment", None, n_regions=1)
    pm = proc2.rasterize_prompts([{"kind": "box", "xyxy": [5, 5, 20, 30]}], image.geometry)
    kw = dict(pixel_values=image.pixel_values, source_ids=image.source_ids, valid_mask=image.valid_mask,
              prompt_masks=pm, **text)
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():  # same weights; CPU kernels on freshly loaded tensors may round differently
        torch.testing.assert_close(model(**kw).logits, loaded(**kw).logits, atol=1e-5, rtol=1e-5)
    gen = loaded.generate(**kw, max_new_tokens=4)
    assert proc2.post_process(gen, image.geometry)[0]["boxes"].shape[1] == 4


def test_from_components_refuses_pickle_checkpoints(parts, tmp_path):
    paths, vision, *_ = parts
    vision.config.save_pretrained(tmp_path)
    torch.save(vision.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(EgxInputError, match="safetensors"):
        EgxForConditionalGeneration.from_components(vision=tmp_path, llm=paths["llm"], **OVERRIDES)
