"""The field's metrics on hand-made cases with known answers."""

import numpy as np
import pytest

from egx_notebook.model.metrics import (
    AccuracyMetric, CaptionMetric, ConfusionMetric, GroundingMetric, MaskIoUMetric, SmallTargetMetric,
    box_iou, match_boxes, parse_count, rouge_l,
)


def test_box_iou_known_values():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 50 / 150, 0.0]])


def test_matching_is_one_to_one_and_by_score():
    gt = np.array([[0, 0, 10, 10]])
    pred = np.array([[0, 0, 10, 10], [1, 1, 10, 10]])
    assert match_boxes(pred, np.array([0.9, 0.8]), gt) == (1, 1, 0)
    assert match_boxes(np.zeros((0, 4)), None, gt) == (0, 0, 1)


def test_grounding_f1_pooled():
    m = GroundingMetric()
    m.update([[0, 0, 10, 10]], [0.9], [[0, 0, 10, 10], [50, 50, 60, 60]])  # 1 TP, 1 FN
    m.update([[0, 0, 4, 4]], [0.5], np.zeros((0, 4)))                      # 1 FP
    r = m.compute()
    assert (r["tp"], r["fp"], r["fn"]) == (1, 1, 1)
    assert r["f1"] == pytest.approx(0.5)


def test_mask_iou():
    m = MaskIoUMetric()
    a = np.zeros((4, 4), bool); a[:2] = True
    b = np.zeros((4, 4), bool); b[1:3] = True
    m.update(a, b)
    assert m.compute()["miou"] == pytest.approx(4 / 12)
    with pytest.raises(ValueError, match="shapes differ"):
        m.update(a, b[:2])


def test_small_target_pd_fa_set_iou():
    gt = np.zeros((32, 32), bool); gt[5:8, 5:8] = True; gt[20:22, 20:22] = True
    pred = np.zeros((32, 32), bool); pred[5:8, 6:9] = True; pred[28:30, 2:4] = True
    m = SmallTargetMetric()
    m.update(pred, gt)
    r = m.compute()
    assert r["pd"] == pytest.approx(0.5)          # one of two targets found
    assert r["fa_per_image"] == pytest.approx(1)  # one spurious component
    assert r["set_iou"] == pytest.approx(6 / (9 + 4 + 3 + 4))


def test_confusion_counts_what_was_named_for_each_class():
    conf = ConfusionMetric()
    for got, expected in [("person", "person"), ("car", "person"), ("person", "person"), (None, "person"),
                          ("bicycle", "bicycle"), (None, "background"), ("person", "background")]:
        conf.update(got, expected)
    out = conf.compute()
    assert out == {"background->none": 1, "background->person": 1, "bicycle->bicycle": 1,
                   "person->person": 2, "person->car": 1, "person->none": 1}
    assert list(out)[3] == "person->person"  # most frequent first within a class
    assert sum(out.values()) == 7


def test_accuracy_caption_and_count():
    acc = AccuracyMetric()
    acc.update("ship", "ship"); acc.update("car", "person"); acc.update(None, "ship")
    assert acc.compute()["accuracy"] == pytest.approx(1 / 3)
    assert rouge_l("a ship at sea", "a ship at sea") == pytest.approx(1.0)
    assert rouge_l("ship", "car") == 0.0
    c = CaptionMetric(); c.update("two ships", "two ships near the coast")
    assert 0 < c.compute()["rouge_l"] < 1
    assert parse_count("There are 12 ships.") == 12
    assert parse_count("I see three people") == 3
    assert parse_count("There is no ship") == 0
    assert parse_count("ships everywhere") is None
