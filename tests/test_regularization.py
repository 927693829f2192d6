import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.functional.regularization import (
    ActivityRegularizer,
    mean_spikes_per_neuron,
    spike_counts,
)


def test_lower_bound_hand_value():
    # 2 samples, 3 neurons, counts [[0, 1, 2], [0, 0, 5]]
    s = torch.zeros(5, 2, 3)
    s[0, 0, 1] = 1
    s[0:2, 0, 2] = 1
    s[:, 1, 2] = 1
    assert spike_counts(s).tolist() == [[0, 1, 2], [0, 0, 5]]
    reg = ActivityRegularizer(lower_strength=100, lower_threshold=0.5)
    # [0.5 - z]_+^2 = 0.25 for the 3 silent entries -> 100 * 0.75 / 6
    assert reg([s]).item() == pytest.approx(100 * 0.75 / 6)


@pytest.mark.parametrize(
    "norm,expected", [(1, 0.5 * (0.0 + 2.0 / 3) / 2), (2, 0.5 * (4.0 / 9) / 2)]
)
def test_upper_bound_hand_value(norm, expected):
    s = torch.zeros(5, 2, 3)
    s[:, 1, 2] = 1  # sample means: 0 and 5/3
    reg = ActivityRegularizer(
        lower_strength=0, upper_strength=0.5, upper_threshold=1.0, upper_norm=norm
    )
    assert reg([s]).item() == pytest.approx(expected)


def test_sum_over_layers_and_mean_spikes():
    a = torch.ones(4, 2, 3)
    b = torch.zeros(4, 2, 5)
    assert mean_spikes_per_neuron([a, b]) == pytest.approx(4 * 6 / 16)
    reg = ActivityRegularizer(lower_strength=1, lower_threshold=1)
    assert reg([a, b]).item() == pytest.approx(1.0)  # only layer b is below threshold


def test_bad_settings():
    with pytest.raises(SpikegradInputError, match="upper_norm"):
        ActivityRegularizer(upper_norm=3)
    with pytest.raises(SpikegradInputError, match="lower_strength"):
        ActivityRegularizer(lower_strength=-1)
