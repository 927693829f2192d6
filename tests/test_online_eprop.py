"""Online e-prop on a SpikingNetwork: against BPTT, online updates, the river classifier."""

import itertools
import pickle

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.nn import SpikingNetwork
from spikegrad.online.eprop import (
    OnlineEprop,
    OnlineState,
    compare_with_bptt,
    eprop_gradients,
    loss_value,
)

D = torch.float64


def _network(recurrent: bool, seed: int = 0, scale_in: float = 6.0, scale_rec: float = 2.0):
    """The old e-prop test network: tau_mem 20 ms, readout from 0, U(+-s/sqrt(fan-in))."""
    net = SpikingNetwork(12, 3, (16,), recurrent=recurrent, tau_mem=20e-3, seed=seed).to(D)
    net.readout.u0 = 0.0
    with torch.no_grad():
        net.layers[0].weight.mul_(scale_in)
        if recurrent:
            net.layers[0].rec_weight.mul_(scale_rec).fill_diagonal_(0.0)
    return net


def _problem(recurrent: bool, seed: int = 0, T: int = 40, B: int = 3):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, 12, generator=g, dtype=D) < 0.15).to(D)
    y = torch.randint(0, 3, (B,), generator=g)
    return _network(recurrent, seed), x, y, g


def _bptt(net, x, y, loss="ce"):
    value = loss_value(net(x).readout, y, loss=loss)
    return dict(
        zip(
            [k for k, _ in net.named_parameters()],
            torch.autograd.grad(value, list(net.parameters())),
            strict=True,
        )
    )


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_feedforward_eprop_equals_bptt(loss):
    net, x, y, g = _problem(recurrent=False)
    if loss == "mse":
        y = torch.randn(x.shape[0], x.shape[1], 3, generator=g, dtype=D)
    ge, uo, s = eprop_gradients(net, x, y, loss=loss)
    gb = _bptt(net, x, y, loss)
    assert s.sum() > 5  # the hidden layer is active, so the check is not vacuous
    assert float(gb["layers.0.weight"].norm()) > 1e-4
    for name in ("layers.0.weight", "readout.weight"):
        torch.testing.assert_close(ge[name], gb[name], rtol=1e-13, atol=1e-16)


def test_recurrent_eprop_approximates_bptt():
    rels_w, rels_v, cos = [], [], []
    for seed in range(3):
        net, x, y, _ = _problem(recurrent=True, seed=seed)
        r = compare_with_bptt(net, x, y)
        assert r["w_out_rel_diff"] < 1e-10  # the readout gradient stays exact
        rels_w.append(r["w_rel_diff"])
        rels_v.append(r["v_rel_diff"])
        cos.append(min(r["w_cosine"], r["v_cosine"]))
    # e-prop drops the spike -> other neurons paths: different, but well aligned
    assert min(rels_w + rels_v) > 1e-4
    assert max(rels_w + rels_v) < 0.6
    assert min(cos) > 0.8


def test_recurrent_eprop_equals_bptt_without_recurrent_gradient():
    # recurrent_grad=False makes BPTT drop the same paths e-prop drops: equal again
    net, x, y, _ = _problem(recurrent=True)
    net.layers[0].recurrent_grad = False
    ge, _, _ = eprop_gradients(net, x, y)
    gb = _bptt(net, x, y)
    assert float(gb["layers.0.rec_weight"].norm()) > 1e-4
    for name, g in gb.items():
        torch.testing.assert_close(ge[name], g, rtol=1e-14, atol=1e-17)


def test_readout_trace_matches_network_forward():
    net, x, y, _ = _problem(recurrent=True)
    _, uo, s = eprop_gradients(net, x, y)
    out = net(x)
    torch.testing.assert_close(uo, out.readout, rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(s, out.spikes[0], rtol=1e-15, atol=1e-15)
    torch.testing.assert_close(uo, OnlineEprop(net).readout(x), rtol=1e-15,
                               atol=1e-15)


def test_state_does_not_grow_with_sequence_length():
    net, _, _, _ = _problem(recurrent=True)
    st = OnlineState.zeros(net, 2)
    tensors = [t for part in st for t in (part if isinstance(part, tuple) else (part,))]
    n = sum(t.numel() for t in tensors if t is not None)
    assert n == 2 * (16 * 2 + 3 * 2 + 12 + 3 * 16 * 12 + 16 + 3 * 16 * 16 + 2 * 16)


def test_step_updates_match_sample_updates_for_small_rate():
    net0, x, y, _ = _problem(recurrent=True)
    w0 = net0.layers[0].weight.detach().clone()
    ge, _, _ = eprop_gradients(net0, x, y)
    nets = {}
    for mode in ("sample", "step"):
        net, _, _, _ = _problem(recurrent=True)
        OnlineEprop(net, lr=1e-6, optimizer="sgd", update=mode).learn(x, y)
        nets[mode] = net.layers[0].weight.detach()
    # with SGD the sample update is exactly -lr * the e-prop gradient
    torch.testing.assert_close(w0 - nets["sample"], 1e-6 * ge["layers.0.weight"],
                               rtol=1e-14, atol=1e-14)
    # per-step updates differ only at second order in the rate
    d = (nets["step"] - nets["sample"]).norm() / (w0 - nets["sample"]).norm()
    assert float(d) < 1e-3


def test_adam_is_torch_adam_on_the_eprop_gradient():
    net, x, y, _ = _problem(recurrent=False)
    ref, _, _, _ = _problem(recurrent=False)
    learner = OnlineEprop(net, lr=1e-2)
    assert isinstance(learner.optimizer, torch.optim.Adam)
    opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    for _ in range(2):
        g, _, _ = eprop_gradients(ref, x, y)
        for k, p in ref.named_parameters():
            p.grad = g[k]
        opt.step()
        learner.learn(x, y)
    for (k, a), b in zip(net.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-14, atol=1e-16, msg=k)


def test_growing_keeps_the_optimizer_state():
    net, x, y, _ = _problem(recurrent=True)
    learner = OnlineEprop(net, lr=1e-2, self_connections=False)
    learner.learn(x, y)
    opt = learner.optimizer
    m_w = opt.state[net.layers[0].weight]["exp_avg"].clone()
    learner.add_inputs(torch.full((16, 2), 0.5, dtype=D))
    learner.add_outputs(1)
    w, wo = net.layers[0].weight, net.readout.weight
    assert w.shape == (16, 14) and wo.shape == (4, 16)
    assert net.n_inputs == 14 and net.n_classes == 4
    assert any(p is w for p in opt.param_groups[0]["params"])
    st = opt.state[w]
    torch.testing.assert_close(st["exp_avg"][:, :12], m_w, rtol=1e-15, atol=0)
    assert float(st["exp_avg"][:, 12:].abs().sum()) == 0.0 and float(st["step"]) == 1.0
    torch.testing.assert_close(w[:, 12:], torch.full((16, 2), 0.5, dtype=D), rtol=1e-15,
                               atol=1e-15)
    assert float(wo[3].detach().abs().sum()) == 0.0
    x2 = torch.cat([x, torch.zeros(x.shape[0], x.shape[1], 2, dtype=D)], dim=2)
    learner.learn(x2, torch.tensor([3, 0, 1]))
    assert float(opt.state[w]["step"]) == 2.0
    assert float(net.layers[0].rec_weight.detach().diagonal().abs().sum()) == 0.0  # stays 0
    clone = pickle.loads(pickle.dumps(learner))
    torch.testing.assert_close(clone.readout(x2), learner.readout(x2), rtol=1e-15, atol=1e-15)


def test_online_eprop_learns_a_temporal_task():
    # two classes: the same 6 inputs fire in forward or reversed order
    net = SpikingNetwork(6, 2, (24,), recurrent=True, tau_mem=20e-3, seed=1)
    net.readout.u0 = 0.0
    with torch.no_grad():
        net.layers[0].weight.mul_(8.0)
        net.layers[0].rec_weight.mul_(0.5).fill_diagonal_(0.0)
    learner = OnlineEprop(net, loss_start=10, lr=5e-3, self_connections=False)

    def sample(c):
        x = torch.zeros(20, 1, 6)
        for k in range(6):
            x[2 * k if c == 0 else 10 - 2 * k, 0, k] = 1.0
        return x

    hits = []
    for t in range(200):
        c = t % 2
        x = sample(c)
        hits.append(int(learner.logits(x).argmax()) == c)
        learner.learn(x, torch.tensor([c]))
    assert sum(hits[-50:]) >= 45  # learned from single samples, no replay


def test_eprop_input_errors():
    net, x, y, _ = _problem(recurrent=False)
    with pytest.raises(SpikegradInputError, match="x"):
        eprop_gradients(net, x[0], y)
    with pytest.raises(SpikegradInputError, match="target"):
        eprop_gradients(net, x, torch.tensor([0, 1]))
    with pytest.raises(SpikegradInputError, match="labels"):
        eprop_gradients(net, x, torch.tensor([0, 1, 7]))
    with pytest.raises(SpikegradInputError, match="loss"):
        eprop_gradients(net, x, y, loss="hinge")
    with pytest.raises(SpikegradInputError, match="loss_start"):
        OnlineEprop(net, loss_start=-1)
    with pytest.raises(SpikegradInputError, match="optimizer"):
        OnlineEprop(net, optimizer="rmsprop")
    with pytest.raises(SpikegradInputError, match="one hidden layer"):
        OnlineEprop(SpikingNetwork(2, 2, (3, 3)))
    with pytest.raises(SpikegradInputError, match="reset"):
        OnlineEprop(SpikingNetwork(2, 2, (3,), reset="differentiable"))
    with pytest.raises(SpikegradInputError, match="learn_tau"):
        OnlineEprop(SpikingNetwork(2, 2, (3,), learn_tau=True))
    with pytest.raises(TypeError, match="dtype"):
        eprop_gradients(net, x.float(), y)


def test_eprop_river_classifier_learns_phishing():
    river = pytest.importorskip("river")
    from river import datasets, preprocessing

    from spikegrad.online import EpropClassifier
    from spikegrad.online.prequential import prequential

    model = preprocessing.StandardScaler() | EpropClassifier(n_hidden=16, n_steps=12, seed=0)
    assert isinstance(model[-1], river.base.Classifier)
    res = prequential(itertools.islice(datasets.Phishing(), 300), model, window=100)
    # majority class is 0.56; measured 0.769 overall and 0.84 on the last 100
    assert res.accuracy > 0.7
    assert res.window_accuracy[-1] > 0.75
    clf = EpropClassifier()
    assert clf.predict_proba_one({"a": 1.0}) == {} and clf.predict_one({"a": 1.0}) is None
    with pytest.raises(TypeError, match="'b'"):
        clf.learn_one({"b": "x"}, 1)


def test_eprop_river_checks():
    pytest.importorskip("river")
    from river import datasets
    from river.checks import clf, common

    from spikegrad.online import EpropClassifier

    data = list(itertools.islice(datasets.Phishing(), 40))
    for check in (
        common.check_learn_one,
        common.check_emerging_features,
        common.check_disappearing_features,
        common.check_predict_one_before_any_learn,
        common.check_shuffle_features_no_impact,
        common.check_pickling,
        common.check_clone_is_independent,
        clf.check_predict_proba_one,
        clf.check_classifier_tracks_seen_labels,
    ):
        check(EpropClassifier(n_hidden=8, n_steps=8), dataset=data)
