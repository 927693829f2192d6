"""Bad input gets a clear error at the public boundary, naming what was expected."""

import pytest
import torch

from spikegrad import SpikegradInputError, SpikingNetwork, make_surrogate
from spikegrad.data.spikes import SpikeDataset
from spikegrad.learning.config import TrainConfig, train
from spikegrad.nn import LIFLayer


def net():
    return SpikingNetwork(4, 3, (5,), seed=0)


def test_wrong_rank():
    with pytest.raises(SpikegradInputError, match=r"time-major with 3 dimensions \[T, B, N\]"):
        net()(torch.zeros(10, 4))


def test_wrong_dtype():
    with pytest.raises(TypeError, match="floating dtype"):
        net()(torch.zeros(10, 2, 4, dtype=torch.int64))


def test_not_a_tensor():
    with pytest.raises(TypeError, match="torch.Tensor"):
        net()([[0.0]])


def test_wrong_feature_count():
    with pytest.raises(SpikegradInputError, match="expected 4"):
        net()(torch.zeros(10, 2, 7))


def test_nan_input():
    x = torch.zeros(10, 2, 4)
    x[3, 1, 2] = float("nan")
    with pytest.raises(SpikegradInputError, match="non-finite"):
        net()(x)


@pytest.mark.parametrize(
    "kw", [{"tau_mem": 0.0}, {"tau_syn": -5e-3}, {"dt": 0}, {"tau_mem": float("inf")}]
)
def test_nonpositive_time_constants(kw):
    name = next(iter(kw))
    with pytest.raises(SpikegradInputError, match=name):
        LIFLayer(3, 3, **kw)
    with pytest.raises(SpikegradInputError, match=name):
        TrainConfig(**kw)


def test_negative_beta_and_unknown_surrogate():
    with pytest.raises(SpikegradInputError, match="beta"):
        make_surrogate("superspike", -1.0)
    with pytest.raises(SpikegradInputError, match="beta"):
        TrainConfig(beta=-0.5)
    with pytest.raises(SpikegradInputError, match="valid names"):
        TrainConfig(surrogate="nope")


def test_unknown_reset_readout_init():
    with pytest.raises(SpikegradInputError, match="reset mode"):
        TrainConfig(reset="soft")
    with pytest.raises(SpikegradInputError, match="readout"):
        TrainConfig(readout="sum")
    with pytest.raises(SpikegradInputError, match="init"):
        TrainConfig(init="xavier")


def _tiny(n):
    x = torch.zeros(n, 5, 4)
    if n:
        x[:, 0, 0] = 1
    return SpikeDataset.from_dense(x, torch.zeros(n, dtype=torch.long), n_classes=3)


def test_empty_dataset():
    with pytest.raises(SpikegradInputError, match="empty"):
        train(TrainConfig(epochs=1), data=(_tiny(4), _tiny(0), _tiny(4)), progress=False)


def test_output_folder_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(SpikegradInputError, match="is a file"):
        train(TrainConfig(epochs=1), data=(_tiny(4),) * 3, out_dir=f, progress=False)


def test_unknown_dataset():
    from spikegrad.data.registry import load_dataset

    with pytest.raises(SpikegradInputError, match="valid names: .*randman"):
        load_dataset("mnist-typo")
