"""The in-process tokenizer's special tokens, the chat template and the processor's save/load."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_samples import synthetic_sample, tiny_tokenizer  # noqa: E402

from egx_notebook.model import EgxConfig, EgxInputError, EgxProcessor  # noqa: E402
from egx_notebook.model.tokenization_egx import EXTRA_TOKENS, SPECIAL_TOKENS, add_egx_tokens  # noqa: E402


@pytest.fixture(scope="module")
def tokenizer():
    return tiny_tokenizer()


def test_special_tokens_have_the_config_default_ids(tokenizer):
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    assert ids == list(range(len(SPECIAL_TOKENS)))
    cfg = EgxConfig.tiny()
    assert [cfg.pad_token_id, cfg.bos_token_id, cfg.end_token_id, cfg.image_token_id, cfg.region_token_id,
            cfg.seg_token_id, cfg.det_token_id] == tokenizer.convert_tokens_to_ids(
        ["<pad>", "<bos>", "<|end|>", "<image>", "<region>", "[SEG]", "[DET]"])


@pytest.mark.parametrize("token", [t for t in SPECIAL_TOKENS + EXTRA_TOKENS if t not in ("<pad>", "<unk>")])
def test_each_special_token_is_one_id_and_round_trips(tokenizer, token):
    text = f"a ship {token} near{token}the coast"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    tid = tokenizer.convert_tokens_to_ids(token)
    assert tid != tokenizer.unk_token_id and ids.count(tid) == 2
    assert tokenizer.decode(ids, skip_special_tokens=False) == text


def test_box_text_round_trips_with_one_token_per_digit(tokenizer):
    text = "There are 2 ships: <box>[100,200,300,400]</box> <box>[7,8,999,1000]</box>"
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(ids) == text
    pieces = tokenizer.convert_ids_to_tokens(ids)
    assert all(len(p.lstrip("Ġ")) == 1 for p in pieces if p.lstrip("Ġ").isdigit() or any(c.isdigit() for c in p))


def test_add_egx_tokens_to_another_tokenizer():
    """Any HF tokenizer (here a word-level one without our tokens) gets them as single ids."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    base = Tokenizer(models.WordLevel({"[UNK]": 0, "ship": 1, "harbour": 2}, unk_token="[UNK]"))
    base.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(tokenizer_object=base, unk_token="[UNK]")
    n = add_egx_tokens(tok)
    assert n == len(SPECIAL_TOKENS) - 2 + len(EXTRA_TOKENS)  # <bos>/<unk> are not needed by the template
    for t in ("<pad>", "<|end|>", "<image>", "<region>", "[SEG]", "[DET]", "<box>"):
        assert tok.convert_tokens_to_ids(t) not in (None, tok.unk_token_id)
    processor = EgxProcessor(tokenizer=tok, image_size=128, image_seq_length=4)
    ids = processor.build_inputs(None, "ship", n_regions=2)["input_ids"][0].tolist()
    assert ids.count(processor.ids["image"]) == 4 and ids.count(processor.ids["region"]) == 2
    assert processor.ids["bos"] is None


def test_chat_template_counts_and_labels(tokenizer):
    processor = EgxProcessor(tokenizer=tokenizer, image_size=128, image_seq_length=4)
    ids = processor.build_inputs("relation", None, n_regions=2, history=[("Describe this image.", "harbour")])
    row = ids["input_ids"][0].tolist()
    assert row[0] == processor.ids["bos"] and row.count(processor.ids["image"]) == 4
    assert row.count(processor.ids["region"]) == 2
    text = tokenizer.decode(row, skip_special_tokens=False)
    assert text.startswith("<bos><|user|><image><image><image><image> region 1: <region> region 2: <region>;")
    assert text.endswith("<|user|> What is the relation between region 1 and region 2?<|end|><|assistant|>")
    assert text.count("<|assistant|> harbour<|end|>") == 1
    batch = processor.collate([synthetic_sample(np.random.default_rng(0), "refer")])
    labelled = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert tokenizer.decode(labelled, skip_special_tokens=False) == " a ship<|end|>"


def test_collate_maps_region_labels_to_class_indices(tokenizer):
    from egx_notebook.model.data.vocabulary import REGION_CLASSES

    processor = EgxProcessor(tokenizer=tokenizer, image_size=128, image_seq_length=4)
    rng = np.random.default_rng(0)
    relation, refer, caption = (synthetic_sample(rng, t) for t in ("relation", "refer", "caption"))
    relation["targets"]["region_labels"] = ["ship", "background"]
    refer["targets"]["region_labels"] = ["oil well"]
    batch = processor.collate([relation, refer, caption])
    assert batch["region_labels"].tolist() == [
        [REGION_CLASSES.index("ship"), 0], [REGION_CLASSES.index("oil well"), -100], [-100, -100]]
    assert REGION_CLASSES[0] == "background"


def test_empty_question_and_unknown_task_are_typed_errors(tokenizer):
    processor = EgxProcessor(tokenizer=tokenizer, image_size=128)
    with pytest.raises(EgxInputError, match="question is empty"):
        processor.build_inputs(None, "  ")
    with pytest.raises(EgxInputError, match="unknown task"):
        processor.build_inputs("nonsense", None)


def test_processor_save_load_round_trip(tokenizer, tmp_path):
    processor = EgxProcessor(tokenizer=tokenizer, image_size=128, image_seq_length=4, point_radius=2.5,
                             stretch_percentiles=(1.0, 99.0))
    processor.save_pretrained(tmp_path)
    assert {"tokenizer.json", "processor_config.json"} <= {p.name for p in tmp_path.iterdir()}
    loaded = EgxProcessor.from_pretrained(tmp_path)
    assert loaded.to_dict() == processor.to_dict() and loaded.ids == processor.ids
    assert len(loaded.tokenizer) == len(processor.tokenizer)
    for args in (("segment", None, 1), ("ground", None, 0), (None, "What is in region 1 and region 2?", 2)):
        assert torch.equal(loaded.build_inputs(*args)["input_ids"], processor.build_inputs(*args)["input_ids"])
    rng = np.random.default_rng(0)
    view = rng.gamma(1.0, 0.05, (2, 40, 70)).astype(np.float32)
    view[:, :3, :5] = np.nan
    a, b = processor.preprocess_image(view, "sar"), loaded.preprocess_image(view, "sar")
    assert torch.equal(a.pixel_values, b.pixel_values) and torch.equal(a.valid_mask, b.valid_mask)
    assert a.geometry == b.geometry and a.valid_mask[0, 0, 0, 0] == 0
    prompts = [{"kind": "point", "xy": [10, 10]}, {"kind": "polygon", "exterior": [[1, 1], [30, 2], [20, 25]]}]
    assert torch.equal(processor.rasterize_prompts(prompts, a.geometry), loaded.rasterize_prompts(prompts, a.geometry))
    with pytest.raises(EgxInputError, match="processor_config.json"):
        EgxProcessor.from_pretrained(tmp_path / "missing")
