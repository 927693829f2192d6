"""Model specs (spikegrad.nn.spec): every model kind rebuilt exactly from plain JSON."""

from __future__ import annotations

import json

import pytest
import torch

from spikegrad import load_run
from spikegrad._checks import SpikegradInputError
from spikegrad.io.checkpoint import load_checkpoint
from spikegrad.learning.config import TrainConfig, train
from spikegrad.nn import Readout, SpikingNetwork
from spikegrad.nn.alif import ALIFLayer, ALIFNetwork
from spikegrad.nn.coba import coba_classifier
from spikegrad.nn.delay import DelayedLinear
from spikegrad.nn.izhikevich import IzhikevichLayer
from spikegrad.nn.lif import LIFLayer
from spikegrad.nn.sequential import SpikingSequential, conv_network
from spikegrad.nn.spec import SPEC_VERSION, layer_spec, model_from_spec, model_spec
from spikegrad.nn.srm import SRMLayer


def _spikes(shape, p=0.2, seed=0):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < p).float()


def _models():
    yield "lif", SpikingNetwork(10, 4, (12, 8), recurrent=[True, False], seed=1,
                                surrogate="esser", beta=3.0), _spikes((25, 3, 10))
    yield "lif-options", SpikingNetwork(10, 4, (12,), seed=2, reset="subtract",
                                        refractory=2e-3, learn_threshold=True,
                                        threshold=0.8), _spikes((25, 3, 10))
    yield "alif", ALIFNetwork(10, 4, (12,), recurrent=True, seed=3, adapt=0.5,
                              learn_adapt=True, learn_tau=True), _spikes((25, 3, 10))
    yield "izhikevich", SpikingSequential(
        IzhikevichLayer(10, 12, preset="chattering", weight_scale=60.0),
        Readout(12, 4, tau_mem=30e-3)), _spikes((25, 3, 10))
    yield "conv", conv_network((2, 8, 8), 4, channels=(4,), dropout=0.3, seed=4), \
        _spikes((20, 3, 128))
    yield "delayed", SpikingSequential(
        LIFLayer(10, 12, projection=DelayedLinear(10, 12, 5e-3)),
        ALIFLayer(12, 6, reset="subtract"), Readout(6, 4)), _spikes((25, 3, 10))


@pytest.mark.parametrize("name", [m[0] for m in _models()])
def test_spec_is_plain_json_and_rebuilds_the_same_outputs(name):
    _, net, x = next(m for m in _models() if m[0] == name)
    spec = model_spec(net)
    assert spec["spec_version"] == SPEC_VERSION
    back = model_from_spec(json.loads(json.dumps(spec)))
    assert type(back) is type(net)
    assert model_spec(back) == spec
    back.load_state_dict(net.state_dict())
    net.eval()
    back.eval()
    with torch.no_grad():
        a, b = net(x), back(x)
    assert torch.equal(a.readout, b.readout)
    for sa, sb in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(sa, sb)


def test_coba_and_srm_specs_rebuild_the_same_outputs():
    net = coba_classifier(6, 3, n_hidden=2, seed=5)
    back = model_from_spec(json.loads(json.dumps(model_spec(net))))
    back.load_state_dict(net.state_dict())
    x = _spikes((30, 2, 6), 0.3)
    with torch.no_grad():
        assert torch.equal(net(x).output_spikes, back(x).output_spikes)
    srm = SRMLayer(5, 2, learn_delays=True, duration=0.2)
    back = model_from_spec(json.loads(json.dumps(model_spec(srm))))
    back.load_state_dict(srm.state_dict())
    assert torch.equal(back.weight, srm.weight) and torch.equal(back.delays, srm.delays)
    assert model_spec(back) == model_spec(srm)


def test_a_layer_records_only_what_was_given_and_never_a_generator():
    layer = LIFLayer(3, 4, generator=torch.Generator().manual_seed(1), tau_mem=20e-3)
    assert layer_spec(layer) == {"type": "lif", "in_features": 3, "out_features": 4,
                                 "tau_mem": 20e-3}
    # an ALIF layer records its own arguments, not those its parent class was given
    alif = ALIFLayer(3, 4, adapt=0.3, recurrent=True)
    assert layer_spec(alif) == {"type": "alif", "in_features": 3, "out_features": 4,
                                "adapt": 0.3, "recurrent": True}


@pytest.mark.parametrize(
    ("spec", "needle"),
    [
        ({"kind": "nosuch"}, "unknown model kind 'nosuch'"),
        ({"kind": "lif", "spec_version": 99}, "newer than this spikegrad's"),
        ({"kind": "sequential", "layers": []}, "non-empty 'layers'"),
        ({"kind": "sequential", "layers": [{"type": "bogus"}]}, "unknown layer type 'bogus'"),
        ({"kind": "sequential", "layers": [{"type": "lif", "in_features": 2,
                                            "out_features": 2, "nope": 1}]}, "'lif' layer spec"),
        ([1, 2], "must be a dict"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec, needle):
    with pytest.raises(SpikegradInputError) as err:
        model_from_spec(spec)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_model_of_ones_own_cannot_describe_itself():
    with pytest.raises(SpikegradInputError, match="cannot describe itself"):
        model_spec(torch.nn.Linear(2, 2))


def test_load_checkpoint_returns_what_loads_with_one_call(tmp_path):
    cfg = TrainConfig(model="alif", dataset_options=dict(n_classes=3, samples_per_class=20,
                                                         seed=1), hidden=(8,), epochs=1,
                      batch_size=20)
    res = train(cfg, out_dir=tmp_path, progress=False, plots=False)
    ckpt = load_checkpoint(tmp_path / "checkpoint.pt")
    assert ckpt.epoch == res.metrics["best_epoch"]
    net = ckpt.model()
    assert isinstance(net, ALIFNetwork) and not net.training
    # the old advice, load_state_dict of the state dict, works on a model of the same spec
    own = model_from_spec(ckpt.config["model_spec"])
    own.load_state_dict(ckpt.state_dict)
    x = _spikes((100, 4, 20))
    with torch.no_grad():
        ref = res.model.eval()(x).readout
        assert torch.equal(net(x).readout, ref)
        assert torch.equal(own.eval()(x).readout, ref)
        assert torch.equal(load_run(tmp_path)(x).readout, ref)


def test_from_dense_takes_numpy_arrays_as_it_takes_tensors():
    import numpy as np

    from spikegrad.data import SpikeDataset

    x = np.random.default_rng(0).random((4, 6, 3)) < 0.3
    y = np.array([0, 1, 1, 0])
    a = SpikeDataset.from_dense(x, y)
    b = SpikeDataset.from_dense(torch.from_numpy(x), torch.from_numpy(y))
    assert torch.equal(a.dense(), b.dense()) and torch.equal(a.labels, b.labels)


def test_surrogate_objects_and_scalar_tensors_are_recorded_by_value():
    from spikegrad.functional.surrogate import make_surrogate
    from spikegrad.nn.spec import layer_from_spec

    layer = LIFLayer(3, 4, surrogate=make_surrogate("esser", 3.0),
                     tau_mem=torch.tensor(0.02, dtype=torch.float64))
    spec = layer_spec(layer)
    assert spec["surrogate"] == "esser" and spec["beta"] == 3.0
    assert spec["tau_mem"] == 0.02 and isinstance(spec["tau_mem"], float)
    back = layer_from_spec(json.loads(json.dumps(spec)))
    assert back.surrogate.name == "esser" and back.surrogate.beta == 3.0
    assert back.taus.tau_mem == 0.02
