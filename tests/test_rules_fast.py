"""Compiled paths of the e-prop and perturbation rules against their torch references.

e-prop: :mod:`spikegrad.kernels.eprop_numba` (the weight-gradient sum taken backwards per
neuron, one matrix product) against the forward per-synapse traces of
:mod:`spikegrad.functional.eprop`, per element, for every configuration the rule
traces. Perturbation: node and weight perturbation's trials through the compiled LIF and
readout kernels against the torch loops (bit-identical spikes and readout), and the
rules' gradients with the compiled paths switched off (``SPIKEGRAD_RULE_REFERENCE``).
"""

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.spikes import SpikeDataset
from spikegrad.functional.alif import ALIFParams
from spikegrad.functional.lif import LIFParams
from spikegrad.functional.regularization import ActivityRegularizer
from spikegrad.functional.surrogate import SuperSpike
from spikegrad.kernels import eprop_numba
from spikegrad.learning.rules import eprop as ep
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules import perturbation as pert
from spikegrad.learning.rules.bptt import BPTT
from spikegrad.learning.rules.eprop import alif_layer_gradients, layer_gradients
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.alif import ALIFNetwork
from spikegrad.tasks.classification import ClassificationTask

pytestmark = pytest.mark.skipif(
    not eprop_numba.available(torch.zeros(1)), reason="needs numba (compiled paths)"
)

#: max |fast - reference| / max |reference| allowed: float64 measured <= 1e-15,
#: float32 measured <= 6e-7 (T = 30..60, B = 4, N = 7..16)
TOL = {torch.float64: 1e-13, torch.float32: 3e-6}


class PlainSuperSpike(SuperSpike):
    """A subclass: no compiled derivative (the fast paths use ``derivative`` itself)."""


def _close(fast, ref, dtype, name=""):
    scale = float(ref.abs().max())
    assert scale > 0, name  # a non-vacuous comparison
    err = float((fast - ref).abs().max())
    assert err <= TOL[dtype] * scale, (name, err / scale)


def _record(dtype, *, T=40, B=4, N=9, M=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, M, generator=g) < 0.3).to(dtype)
    s = (torch.rand(T, B, N, generator=g) < 0.2).to(dtype)
    u = (torch.randn(T, B, N, generator=g) * 0.6 + 0.8).to(dtype)
    sig = torch.randn(T, B, N, generator=g).to(dtype)
    W = torch.randn(N, M, generator=g).to(dtype)
    V = torch.randn(N, N, generator=g).to(dtype)
    return x, s, u, sig, W, V


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("taus", ["fixed", "learned"])
@pytest.mark.parametrize("surrogate", [SuperSpike(10.0), PlainSuperSpike(5.0)])
def test_lif_eprop_fast_equals_traces(dtype, recurrent, taus, surrogate):
    x, s, u, sig, W, V = _record(dtype)
    N = W.shape[0]
    if taus == "fixed":
        p = LIFParams(0.9, 0.8)
    else:
        g = torch.Generator().manual_seed(1)
        p = LIFParams(
            (torch.rand(N, generator=g) * 0.5 + 0.45).to(dtype),
            (torch.rand(N, generator=g) * 0.5 + 0.45).to(dtype),
        )
    kw = dict(weight=W, rec_weight=V if recurrent else None, taus=taus == "learned")
    ref = layer_gradients(x, s, u, sig, p, surrogate, fast=False, **kw)
    fast = layer_gradients(x, s, u, sig, p, surrogate, fast=True, **kw)
    loop = ep._layer_gradients_fast(x, s, u, sig, p, surrogate, compiled=False, **kw)
    for impl in (fast, loop):  # compiled scans; the same adjoint as a torch loop
        for name, a, b in zip(ref._fields, impl, ref, strict=True):
            assert (a is None) == (b is None), name
            if b is not None:
                assert a.dtype == dtype and a.shape == b.shape
                _close(a, b, dtype, name)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reset", ["detach", "differentiable", "subtract"])
@pytest.mark.parametrize("refractory", [0, 2])
@pytest.mark.parametrize("recurrent", [False, True])
def test_alif_eprop_fast_equals_traces(dtype, reset, refractory, recurrent):
    x, s, u, sig, W, V = _record(dtype, N=8, seed=2)
    N = W.shape[0]
    g = torch.Generator().manual_seed(3)
    alpha = (torch.rand(N, generator=g) * 0.5).to(dtype)  # per-neuron adaptation strength
    theta = (torch.rand(N, generator=g) * 0.4 + 0.8).to(dtype)
    p = ALIFParams(0.9, 0.8, 0.95, theta, alpha, refractory)
    kw = dict(weight=W, rec_weight=V if recurrent else None, reset=reset)
    sg = SuperSpike(10.0)
    ref = alif_layer_gradients(x, s, u, sig, p, sg, fast=False, **kw)
    fast = alif_layer_gradients(x, s, u, sig, p, sg, fast=True, **kw)
    loop = ep._alif_gradients_fast(x, s, u, sig, p, sg, compiled=False, **kw)
    for impl in (fast, loop):
        _close(impl.weight, ref.weight, dtype, "weight")
        if recurrent:
            _close(impl.rec_weight, ref.rec_weight, dtype, "rec_weight")
        else:
            assert impl.rec_weight is None
    # the torch surrogate path (no compiled derivative) with scalar constants
    p2 = ALIFParams(0.85, 0.7, 0.9, 1.1, 0.3, refractory)
    plain = PlainSuperSpike(4.0)
    ref2 = alif_layer_gradients(x, s, u, sig, p2, plain, fast=False, **kw)
    fast2 = alif_layer_gradients(x, s, u, sig, p2, plain, fast=True, **kw)
    _close(fast2.weight, ref2.weight, dtype, "weight, plain surrogate")


def test_lif_adjoint_by_hand():
    # one neuron, one input, T = 4, beta_m = 0.5, beta_s = 0.25, h = 1 (constant surrogate
    # of the compiled set): eps^I = [0, 1, 0.25, 1.0625] for x = [1, 0, 1, 0];
    # eps^U[n+1] = k[n] (0.5 eps^U[n] + 0.5 eps^I[n]) with a spike at n = 1 (k[1] = 0):
    # eps^U = [0, 0, 0, 0.125]; L = [0, 1, 2, 4] -> gradient 4 * 0.125 = 0.5
    from spikegrad.functional.surrogate import make_surrogate

    D = torch.float64
    x = torch.tensor([1.0, 0, 1, 0], dtype=D).view(4, 1, 1)
    s = torch.tensor([0.0, 1, 0, 0], dtype=D).view(4, 1, 1)
    u = torch.zeros(4, 1, 1, dtype=D)
    sig = torch.tensor([0.0, 1, 2, 4], dtype=D).view(4, 1, 1)
    W = torch.ones(1, 1, dtype=D)
    c = make_surrogate("constant")
    for fast in (False, True):
        g = layer_gradients(x, s, u, sig, LIFParams(0.5, 0.25), c, weight=W, fast=fast)
        assert float(g.weight) == pytest.approx(0.5, abs=1e-15), fast


# ------------------------------------------------------------------ the rule end to end
def _task(x, y, n_classes=3):
    ds = SpikeDataset.from_dense(x.transpose(0, 1), y, n_classes=n_classes)
    reg = ActivityRegularizer(
        lower_strength=1.0, lower_threshold=2.0, upper_strength=1.0, upper_threshold=0.5
    )
    return ClassificationTask(ds, ds, ds, regularizer=reg)


def _grads(rule, net, task, x, y):
    rule.gradients(net, task, x, y)
    return {k: p.grad.clone() for k, p in net.named_parameters() if p.grad is not None}


def _data(dtype, T=40, B=4, M=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, M, generator=g) < 0.15).to(dtype)
    y = torch.randint(0, 3, (B,), generator=g)
    return x, y


@pytest.mark.parametrize("kind", ["lif", "lif-rec-learn-tau", "alif-rec-subtract"])
def test_eprop_rule_fast_equals_reference(kind, monkeypatch):
    D = torch.float64
    x, y = _data(D)
    task = _task(x, y)
    if kind.startswith("alif"):
        net = ALIFNetwork(
            12, 3, (16,), recurrent=True, seed=0, reset="subtract", adapt=0.3, refractory=2e-3
        ).to(D)
    else:
        rec = "rec" in kind
        net = SpikingNetwork(12, 3, (16,), recurrent=rec, learn_tau="tau" in kind, seed=0).to(D)
    with torch.no_grad():
        net.layers[0].weight.mul_(6.0)
    fast = _grads(make_rule("eprop"), net, task, x, y)
    monkeypatch.setenv(eprop_numba.REFERENCE_ENV, "1")
    ref = _grads(make_rule("eprop"), net, task, x, y)
    assert set(fast) == set(ref) and "layers.0.weight" in fast
    for name, g in ref.items():
        _close(fast[name], g, D, name)


def test_fast_eprop_equals_bptt_feedforward():
    # the independent check: without V the e-prop gradient is BPTT's (detached reset)
    D = torch.float64
    x, y = _data(D, seed=4)
    task = _task(x, y)
    net = SpikingNetwork(12, 3, (16,), seed=4).to(D)
    with torch.no_grad():
        net.layers[0].weight.mul_(6.0)
    assert eprop_numba.available(x)
    ge = _grads(make_rule("eprop"), net, task, x, y)
    gb = _grads(BPTT(), net, task, x, y)
    torch.testing.assert_close(ge["layers.0.weight"], gb["layers.0.weight"], rtol=1e-12, atol=1e-16)


def test_reference_switch(monkeypatch):
    x = torch.zeros(3, 1, 2)
    assert eprop_numba.available(x) and not eprop_numba.reference_forced()
    assert not eprop_numba.available(x, x.double())  # mixed dtypes: not compiled
    assert ep._use_fast(None, "eligibility_step", x)
    monkeypatch.setenv(eprop_numba.REFERENCE_ENV, "0")
    assert ep._use_fast(None, "eligibility_step", x)
    monkeypatch.setenv(eprop_numba.REFERENCE_ENV, "1")
    assert eprop_numba.reference_forced()
    assert not ep._use_fast(None, "eligibility_step", x)  # the automatic choice
    assert ep._use_fast(True, "eligibility_step", x)  # an explicit value wins
    with pytest.raises(SpikegradInputError, match="compiled e-prop scans"):
        ep._compiled(True, x, x.double())


# ------------------------------------------------------------------ perturbation
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_perturbed_forward_is_bit_identical(dtype, recurrent, reset, monkeypatch):
    net = SpikingNetwork(20, 10, (30, 20), recurrent=recurrent, reset=reset, seed=1).to(dtype)
    with torch.no_grad():
        net.layers[0].weight.mul_(3.0)
        net.layers[1].weight.mul_(8.0)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(60, 8, 20, generator=g) < 0.1).to(dtype)
    noise = [(torch.randn(60, 8, n, generator=g) * 0.3).to(dtype) for n in (30, 20, 10)]
    assert pert._fast_forward(net, x)
    with torch.no_grad():
        fast = pert._lif_forward(net, x, noise=noise)
        monkeypatch.setenv(eprop_numba.REFERENCE_ENV, "1")
        assert not pert._fast_forward(net, x)
        ref = pert._lif_forward(net, x, noise=noise)
    assert float(ref.spikes[0].sum()) > 50 and float(ref.spikes[1].sum()) > 20
    for a, b in zip(fast.spikes, ref.spikes, strict=True):
        assert torch.equal(a, b)
    assert torch.equal(fast.readout, ref.readout)


@pytest.mark.parametrize(
    "rule, model",
    [
        ("node", "lif"),
        ("node", "lif-rec"),
        ("node", "alif"),
        ("weight", "lif"),
        ("weight", "lif-rec"),
    ],
)
def test_perturbation_rules_fast_equal_reference(rule, model, monkeypatch):
    # (weight perturbation on alif runs the model's own forward on both paths)
    D = torch.float64
    x, y = _data(D, T=30, B=6, seed=2)
    task = _task(x, y)

    def build():
        if model == "alif":
            net = ALIFNetwork(12, 3, (16,), seed=0, adapt=0.2).to(D)
        else:
            net = SpikingNetwork(12, 3, (16,), recurrent=model == "lif-rec", seed=0).to(D)
        with torch.no_grad():
            net.layers[0].weight.mul_(6.0)
        return net

    runs = []
    for forced in ("", "1"):
        monkeypatch.setenv(eprop_numba.REFERENCE_ENV, forced)
        net = build()
        assert pert._fast_forward(net, x) == (forced == "")
        r = make_rule(rule, trials=3, seed=5)
        if rule == "node":
            r.sigma = 0.3
        runs.append(_grads(r, net, task, x, y))
    fast, ref = runs
    assert set(fast) == set(ref) and len(ref) >= 2
    for name, g in ref.items():
        _close(fast[name], g, D, name)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_per_trial_recurrent_forward(dtype, reset, monkeypatch):
    # weight perturbation's trials with one V per trial: the compiled loop against
    # lif_step + the per-trial bmm (float32: the recurrent sums' order differs from
    # the matrix product's; measured 0 differing spikes on this problem)
    net = SpikingNetwork(20, 10, (60,), recurrent=True, reset=reset, seed=1).to(dtype)
    with torch.no_grad():
        net.layers[0].weight.mul_(3.0)
    g = torch.Generator().manual_seed(0)
    B = 24
    x = (torch.rand(80, B, 20, generator=g) < 0.05).to(dtype)
    ws = {
        k: p + 0.05 * torch.randn(B, *p.shape, generator=g).to(dtype)
        for k, p in pert._lif_weights(net).items()
    }
    assert ws[("v", 0)].dim() == 3
    with torch.no_grad():
        fast = pert._lif_forward(net, x, weights=ws)
        monkeypatch.setenv(eprop_numba.REFERENCE_ENV, "1")
        ref = pert._lif_forward(net, x, weights=ws)
    n = float(ref.spikes[0].sum())
    assert n > 300  # active, with recurrent input
    wrong = int((fast.spikes[0] != ref.spikes[0]).sum())
    if dtype == torch.float64:
        assert wrong == 0
        torch.testing.assert_close(fast.readout, ref.readout, rtol=1e-12, atol=1e-14)
    else:
        assert wrong <= 1e-3 * n
        _close(fast.readout, ref.readout, dtype, "readout")
