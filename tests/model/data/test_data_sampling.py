"""Draw weights that rebalance datasets and tasks."""

from __future__ import annotations

import numpy as np
import pytest

from egx_notebook.model.data.sampling import mix_shares, region_class_shares, sample_weights


def _samples():
    rng = np.random.default_rng(0)
    big = [{"dataset": "big", "task": str(rng.choice(["ground", "vqa"]))} for _ in range(300)]
    small = [{"dataset": "small", "task": str(rng.choice(["ground", "vqa"]))} for _ in range(30)]
    return big + small


def test_balance_zero_keeps_the_natural_mix():
    s = _samples()
    shares = mix_shares(s, sample_weights(s, 0.0))
    assert shares == pytest.approx({"big": 300 / 330, "small": 30 / 330})


def test_balance_one_gives_every_dataset_the_same_share():
    s = _samples()
    w = sample_weights(s, 1.0)
    assert w.sum() == pytest.approx(1.0)
    assert mix_shares(s, w) == pytest.approx({"big": 0.5, "small": 0.5})


def test_half_balance_lies_between():
    s = _samples()
    small = mix_shares(s, sample_weights(s, 0.5))["small"]
    assert 30 / 330 < small < 0.5
    assert small == pytest.approx(30 ** 0.5 / (30 ** 0.5 + 300 ** 0.5))


def test_task_weights_scale_a_task_within_each_dataset():
    s = _samples()
    natural = mix_shares(s, sample_weights(s), "task")["ground"]
    favoured = mix_shares(s, sample_weights(s, 0.0, {"ground": 3.0}), "task")["ground"]
    assert favoured == pytest.approx(3 * natural / (3 * natural + (1 - natural)))


def test_dataset_weights_scale_a_dataset_after_balancing():
    s = _samples()
    shares = mix_shares(s, sample_weights(s, 1.0, dataset_weights={"small": 3.0}))
    assert shares == pytest.approx({"big": 0.25, "small": 0.75})
    # the dataset weight does not change the task mix inside the dataset
    small = [x for x in s if x["dataset"] == "small"]
    w = sample_weights(s, 1.0, dataset_weights={"small": 3.0})[[x["dataset"] == "small" for x in s]]
    assert mix_shares(small, w / w.sum(), "task") == pytest.approx(mix_shares(small, sample_weights(small), "task"))


def test_a_bad_task_weight_is_refused_even_beside_a_dataset_of_the_same_name():
    s = [{"dataset": "ground", "task": "ground"}, {"dataset": "ground", "task": "vqa"}]
    with pytest.raises(ValueError, match="task 'ground'"):
        sample_weights(s, 0.0, task_weights={"ground": 0.0}, dataset_weights={"ground": 2.0})


def test_a_dataset_weight_for_a_missing_dataset_is_refused():
    with pytest.raises(ValueError, match="not in the samples"):
        sample_weights(_samples(), 0.5, dataset_weights={"hit_uav": 2.0})


@pytest.mark.parametrize("balance, tasks", [(-0.1, None), (1.5, None), (0.5, {"ground": 0.0})])
def test_bad_settings_are_refused(balance, tasks):
    with pytest.raises(ValueError):
        sample_weights(_samples(), balance, tasks)


def _region(label, n):
    return [{"dataset": "hit-uav", "task": "refer", "targets": {"region_labels": [label]}} for _ in range(n)]


def test_class_weights_scale_the_samples_prompting_that_class():
    s = _region("car", 30) + _region("bicycle", 10) + [{"dataset": "hit-uav", "task": "ground", "targets": {}}] * 20
    s += [{"dataset": "hit-uav", "task": "relation", "targets": {"region_labels": ["car", "bicycle"]}}] * 5
    w = sample_weights(s, 0.0, class_weights={"bicycle": 4.0})
    assert w[30] / w[0] == pytest.approx(4.0)  # a bicycle prompt against a car prompt
    assert w[40] / w[0] == pytest.approx(1.0)  # no prompted region: unweighted
    assert w[-1] / w[0] == pytest.approx(4.0)  # a pair takes its largest class weight
    assert sample_weights(s, 0.0, class_weights={}) == pytest.approx(sample_weights(s, 0.0))
    shares = region_class_shares(s, w)  # what train records in mix.json
    assert shares["bicycle"] == pytest.approx((10 + 5) * 4 / (30 + 40 + 20 + 20))
    assert shares["car"] == pytest.approx((30 + 20) / (30 + 40 + 20 + 20))


def test_a_class_weight_for_a_class_no_region_has_is_refused():
    s = _region("car", 3)
    with pytest.raises(ValueError, match="bicycle"):
        sample_weights(s, 0.0, class_weights={"bicycle": 2.0})
    with pytest.raises(ValueError, match="positive"):
        sample_weights(s, 0.0, class_weights={"car": 0.0})
