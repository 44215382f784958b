"""``EgxProcessor.post_process`` maps canvas outputs back to the view window exactly.

The model outputs here are crafted (``EgxGenerateOutput`` with known logits and boxes)
so that the expected view pixels are known; that isolates the geometry contract from
any model behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_samples import tiny_tokenizer  # noqa: E402

from egx_notebook.model import EgxProcessor, ViewGeometry, format_box  # noqa: E402

S = 128
BIG = 30.0


@pytest.fixture(scope="module")
def processor():
    return EgxProcessor(tokenizer=tiny_tokenizer(), image_size=S, image_seq_length=4)


def _output(processor, answer_ids, prompt, seg=(), boxes=(), box_logits=None):
    from egx_notebook.model import EgxGenerateOutput

    seg = torch.stack(list(seg)) if len(seg) else torch.zeros(0, S, S)
    boxes = torch.tensor(np.asarray(boxes, dtype=np.float32).reshape(-1, 4))
    if box_logits is None:
        box_logits = torch.zeros(len(boxes), S, S)
    return EgxGenerateOutput(
        sequences=torch.tensor([answer_ids + [processor.ids["end"]]]),
        prompt_ids=processor.build_inputs(None, prompt)["input_ids"], boxes=[boxes],
        scores=[torch.linspace(0.9, 0.5, len(boxes))], box_mask_logits=[box_logits], seg_mask_logits=[seg])


def _canvas_square(x0, y0, x1, y1, geom=None):
    logits = torch.full((S, S), -BIG)
    logits[y0:y1, x0:x1] = BIG
    if geom is not None:  # the padding (bottom / right of the content) must never reach the view
        logits[geom.content_height:] = BIG
        logits[:, geom.content_width:] = BIG
    return logits


def test_seg_mask_integer_scale_lands_on_exact_view_pixels(processor):
    geom = ViewGeometry.for_view(32, 64, S)  # 2 canvas px per view px, content rows 0..63
    assert (geom.content_height, geom.content_width) == (64, 128)
    out = _output(processor, [processor.ids["seg"]], "Segment region 1.",
                  seg=[_canvas_square(40, 20, 80, 40, geom)])
    r = processor.post_process(out, geom)[0]
    assert r["masks"].shape == (1, 32, 64)
    expected = np.zeros((32, 64), dtype=bool)
    expected[10:20, 20:40] = True
    np.testing.assert_array_equal(r["masks"][0] > 0.5, expected)
    assert r["text"] == "(mask 1)" and r["mask_boxes"].tolist() == [-1]


@pytest.mark.parametrize("hw", [(50, 120), (120, 50), (37, 91)])
def test_seg_mask_fractional_scale_lands_on_the_right_view_pixels(processor, hw):
    h, w = hw
    geom = ViewGeometry.for_view(h, w, S)
    x0, y0, x1, y1 = 30, 10, 70, 30
    out = _output(processor, [processor.ids["seg"]], "Segment region 1.",
                  seg=[_canvas_square(x0, y0, x1, y1, geom)])
    m = processor.post_process(out, geom)[0]["masks"][0]
    assert m.shape == (h, w)
    (vx0, vy0), (vx1, vy1) = geom.to_view([[x0, y0], [x1, y1]])
    vx1, vy1 = min(vx1, w), min(vy1, h)  # the square may reach into the padding: clipped
    yy, xx = np.mgrid[0:h, 0:w] + 0.5  # view pixel centres
    inside = (xx > vx0 + 1) & (xx < vx1 - 1) & (yy > vy0 + 1) & (yy < vy1 - 1)
    outside = (xx < vx0 - 1) | (xx > vx1 + 1) | (yy < vy0 - 1) | (yy > vy1 + 1)
    assert inside.any() and (m[inside] > 0.99).all()
    assert (m[outside] < 0.01).all()
    assert abs((m > 0.5).sum() - (vx1 - vx0) * (vy1 - vy0)) <= 2 * ((vx1 - vx0) + (vy1 - vy0))


def test_box_prompt_round_trip_view_canvas_view(processor):
    """A box prompt rasterised onto the canvas and read back as a mask is the same box."""
    geom = ViewGeometry.for_view(48, 96, S)  # scale 4/3: view px 3 -> canvas px 4
    image = processor.preprocess_image(np.ones((1, 48, 96), np.float32), "infrared")
    assert image.geometry == geom
    pm = processor.rasterize_prompts([{"kind": "box", "xyxy": [12, 6, 42, 30]}], geom)[0, 0]
    out = _output(processor, [processor.ids["seg"]], "Segment region 1.", seg=[pm * 2 * BIG - BIG])
    m = processor.post_process(out, geom)[0]["masks"][0]
    expected = np.zeros((48, 96), dtype=bool)
    expected[6:30, 12:42] = True
    np.testing.assert_array_equal(m > 0.5, expected)
    # the valid-data mask covers exactly the content rows; padding is invalid
    assert image.valid_mask[0, 0, : geom.content_height].all() and not image.valid_mask[0, 0, geom.content_height:].any()


def test_polygon_prompt_rasterises_as_the_builder_does(processor):
    """A polygon prompt covers the canvas pixels whose centres lie inside it, as in training."""
    from egx_notebook.model.data.geometry import fill_polygon

    geom = ViewGeometry.for_view(S, S, S)  # one canvas px per view px
    square = [[10, 10], [20, 10], [20, 20], [10, 20]]
    hole = [[12, 12], [14, 12], [14, 14], [12, 14]]
    pm = processor.rasterize_prompts([{"kind": "polygon", "exterior": square, "holes": [hole]}], geom)[0, 0]
    expected = np.zeros((S, S), dtype=bool)
    expected[10:20, 10:20] = True
    expected[12:14, 12:14] = False
    np.testing.assert_array_equal(pm > 0.5, expected)
    tri = [[5.3, 7.1], [30.2, 12.7], [14.9, 28.4]]
    pm = processor.rasterize_prompts([{"kind": "polygon", "exterior": tri}], geom)[0, 0]
    np.testing.assert_array_equal(pm > 0.5, fill_polygon([tri], S, S))


@pytest.mark.parametrize("question, label, text", [("Find all people.", "person", "2 people found"),
                                                     ("Detect every oil well.", "oil well", "2 oil wells found")])
def test_det_text_counts_with_the_vocabulary_plural(processor, question, label, text):
    geom = ViewGeometry.for_view(S, S, S)
    out = _output(processor, [processor.ids["det"]], question, boxes=[[40, 20, 80, 40], [0, 0, 10, 6]],
                  box_logits=torch.full((2, S, S), BIG))
    r = processor.post_process(out, geom)[0]
    assert r["labels"] == [label, label] and r["text"].startswith(text + ": <box>")


def test_det_boxes_text_and_instance_masks_in_view_pixels(processor):
    geom = ViewGeometry.for_view(32, 64, S)
    canvas_boxes = [[40, 20, 80, 40], [0, 0, 10, 6]]
    out = _output(processor, [processor.ids["det"]], "Find all ships.", boxes=canvas_boxes,
                  box_logits=torch.full((2, S, S), BIG))
    r = processor.post_process(out, geom)[0]
    np.testing.assert_allclose(r["boxes"], [[20, 10, 40, 20], [0, 0, 5, 3]])
    assert r["labels"] == ["ship", "ship"]
    assert r["text"] == "2 ships found: " + " ".join(format_box(b, 32, 64) for b in r["boxes"])
    assert "<box>[312,312,625,625]</box>" in r["text"]
    assert r["masks"].shape == (2, 32, 64) and r["mask_boxes"].tolist() == [0, 1]
    expected = np.zeros((32, 64), dtype=bool)
    expected[10:20, 20:40] = True
    np.testing.assert_array_equal(r["masks"][0] > 0.5, expected)  # the class mask restricted to box 0
    assert (r["masks"][1] > 0.5).sum() == 15


def test_boxes_written_by_the_llm_are_parsed_in_view_pixels(processor):
    geom = ViewGeometry.for_view(200, 100, S)
    ids = processor.tokenizer(" a ship <box>[100,250,300,500]</box>", add_special_tokens=False)["input_ids"]
    r = processor.post_process(_output(processor, ids, "What is in region 1?"), geom)[0]
    np.testing.assert_allclose(r["boxes"], [[10, 50, 30, 100]])
    assert r["labels"] == ["object"] and np.isnan(r["scores"]).all() and r["masks"] is None


def test_rows_with_their_own_view_geometry(processor):
    from egx_notebook.model import EgxGenerateOutput

    geoms = [ViewGeometry.for_view(32, 64, S), ViewGeometry.for_view(100, 40, S)]
    a = _output(processor, [processor.ids["seg"]], "Segment region 1.", seg=[_canvas_square(0, 0, 64, 64)])
    both = EgxGenerateOutput(sequences=a.sequences.repeat(2, 1), prompt_ids=a.prompt_ids.repeat(2, 1),
                             boxes=a.boxes * 2, scores=a.scores * 2, box_mask_logits=a.box_mask_logits * 2,
                             seg_mask_logits=a.seg_mask_logits * 2)
    r = processor.post_process(both, geoms)
    assert r[0]["masks"].shape == (1, 32, 64) and r[1]["masks"].shape == (1, 100, 40)
    assert (r[0]["masks"][0] > 0.5).sum() == 32 * 32  # canvas 64 px = 32 view px, each way
    assert (r[1]["masks"][0] > 0.5).sum() == 50 * 40  # canvas rows 0-63 = view rows 0-49; every column


def test_mask_references_are_spaced_like_words(processor):
    geom = ViewGeometry.for_view(32, 64, S)
    tok = processor.tokenizer
    ids = (tok.encode("Segment region 1", add_special_tokens=False) + [processor.ids["seg"]]
           + tok.encode(" and region 2", add_special_tokens=False) + [processor.ids["seg"]]
           + tok.encode(".", add_special_tokens=False))
    square = _canvas_square(40, 20, 80, 40, geom)
    out = _output(processor, ids, "Segment region 1 and region 2.", seg=[square, square])
    assert processor.post_process(out, geom)[0]["text"] == "Segment region 1 (mask 1) and region 2 (mask 2)."
