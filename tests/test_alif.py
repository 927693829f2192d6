"""Adaptive-threshold LIF and the LIF options: trajectories by hand, gradients, fused path."""

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional.alif import ALIFParams, alif_sequence
from spikegrad.functional.lif import LIFParams, lif_sequence
from spikegrad.functional.surrogate import Relaxed, SuperSpike
from spikegrad.kernels.alif_fused import alif_sequence_fused
from spikegrad.nn import LIFLayer, SpikingNetwork
from spikegrad.nn.alif import ALIFLayer, ALIFNetwork

D = torch.float64


def _one(x_val, T, **p):
    """One neuron, beta_mem = 0.5, beta_syn = 0 (so I[n+1] = x[n]), constant input."""
    x = torch.full((T, 1, 1), x_val, dtype=D)
    reset = p.pop("reset", "detach")
    params = ALIFParams(0.5, 0.0, **p)
    s, _, u = alif_sequence(x, params, SuperSpike(), reset=reset, record_membrane=True)
    return s.flatten().tolist(), u.flatten().tolist()


def test_adaptive_threshold_trajectory_by_hand():
    # U[n+1] = (0.5 U + 0.5 I)(1 - S), I = 2.2 from n = 1; Theta = 1 + 0.5 A, A' = 0.5 A + S
    # n=2: U=1.1 > 1 spike, A3=1; n=4: U=1.1 < Theta=1.25; n=5: U=1.65 > 1.125 spike;
    # n=7: U=1.1 < 1.28125; n=8: U=1.65 > 1.140625 spike
    s, u = _one(2.2, 9, rho=0.5, adapt=0.5)
    assert s == [0, 0, 1, 0, 0, 1, 0, 0, 1]
    assert u == pytest.approx([0, 0, 1.1, 0, 1.1, 1.65, 0, 1.1, 1.65], abs=1e-12)
    s0, _ = _one(2.2, 9)  # without adaptation: every other step
    assert s0 == [0, 0, 1, 0, 1, 0, 1, 0, 1]


def test_subtract_reset_trajectory_by_hand():
    # U[n+1] = 0.5 U + 0.5 I - S: 1.1 -> 0.65 -> 1.425 -> 0.8125 -> 1.50625
    s, u = _one(2.2, 7, reset="subtract")
    assert s == [0, 0, 1, 0, 1, 0, 1]
    assert u == pytest.approx([0, 0, 1.1, 0.65, 1.425, 0.8125, 1.50625], abs=1e-12)


def test_refractory_trajectory_by_hand():
    # spike at 2; membrane held at 0 for 2 steps (n = 3, 4); integrates again from n = 5
    s, u = _one(2.2, 8, refractory=2)
    assert s == [0, 0, 1, 0, 0, 0, 1, 0]
    assert u == pytest.approx([0, 0, 1.1, 0, 0, 0, 1.1, 0], abs=1e-12)


def test_threshold_trajectory_by_hand():
    # threshold 0.5: U = 0.55 at n = 2 (x = 1.1) fires; without: never
    s, _ = _one(1.1, 4, threshold=0.5)
    assert s == [0, 0, 1, 0]
    assert _one(1.1, 4)[0] == [0, 0, 0, 0]


@pytest.mark.parametrize("recurrent", [False, True])
def test_defaults_are_bit_identical_to_eq41(recurrent):
    g = torch.Generator().manual_seed(0)
    x = (torch.randn(25, 3, 4, generator=g, dtype=D) * 2).requires_grad_()
    V = (torch.randn(4, 4, generator=g, dtype=D) * 0.5).requires_grad_() if recurrent else None
    bm = torch.tensor(0.9, dtype=D, requires_grad=True)
    s1, st1, u1 = lif_sequence(x, LIFParams(bm, 0.8), SuperSpike(), rec_weight=V,
                               record_membrane=True)
    s2, st2, u2 = alif_sequence(x, ALIFParams(bm, 0.8), SuperSpike(), rec_weight=V,
                                record_membrane=True)
    assert s1.sum() > 0 and torch.equal(s1, s2) and torch.equal(u1, u2)
    w = torch.randn(s1.shape, generator=g, dtype=D)
    ps = [x, bm] + ([V] if recurrent else [])
    g1 = torch.autograd.grad((s1 * w).sum() + st1.u.sum(), ps)
    g2 = torch.autograd.grad((s2 * w).sum() + st2.u.sum(), ps)
    for a, b in zip(g1, g2, strict=True):
        assert torch.equal(a, b)


def _params(g, N, requires_grad=True):
    def t(v):
        return torch.full((N,), v, dtype=D).requires_grad_(requires_grad)
    return t(0.9), torch.tensor(0.8, dtype=D, requires_grad=requires_grad), t(0.95), t(0.7), t(0.3)


@pytest.mark.parametrize("recurrent", [False, True])
def test_gradcheck_with_relaxed_forward(recurrent):
    """Smooth forward: the hand-written fused adjoint and the reference autograd both equal
    finite differences in every input and parameter (differentiable reset, adaptation,
    per-neuron threshold and decays)."""
    g = torch.Generator().manual_seed(1)
    T, B, N = 8, 2, 3
    x = (torch.rand(T, B, N, generator=g, dtype=D) * 3).requires_grad_()
    bm, bs, rho, th, al = _params(g, N)
    ps = [x, bm, bs, rho, th, al]
    if recurrent:
        ps.append((torch.randn(N, N, generator=g, dtype=D) * 0.5).requires_grad_())
    sur = Relaxed(SuperSpike(2.0))

    def ref(x, bm, bs, rho, th, al, V=None):
        return alif_sequence(x, ALIFParams(bm, bs, rho, th, al), sur, rec_weight=V,
                             reset="differentiable")[0]

    def fused(x, bm, bs, rho, th, al, V=None):
        return alif_sequence_fused(x, bm, bs, sur, rho=rho, threshold=th, adapt=al,
                                   rec_weight=V, reset="differentiable")[0]

    assert torch.autograd.gradcheck(ref, ps, atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradcheck(fused, ps, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("reset", ["detach", "differentiable", "subtract"])
@pytest.mark.parametrize("refractory", [0, 2])
@pytest.mark.parametrize("recurrent", [False, True])
def test_fused_equals_reference_per_element(reset, refractory, recurrent):
    g = torch.Generator().manual_seed(2)
    T, B, N = 30, 3, 5
    x = (torch.randn(T, B, N, generator=g, dtype=D) * 2.4 + 1.5).requires_grad_()
    bm, bs, rho, th, al = _params(g, N)
    V = (torch.randn(N, N, generator=g, dtype=D) * 0.3).requires_grad_() if recurrent else None
    sur = SuperSpike(5.0)
    s1, _, u1 = alif_sequence(x, ALIFParams(bm, bs, rho, th, al, refractory), sur,
                              rec_weight=V, reset=reset, record_membrane=True)
    s2, u2 = alif_sequence_fused(x, bm, bs, sur, rho=rho, threshold=th, adapt=al,
                                 refractory=refractory, rec_weight=V, reset=reset)
    assert 0.1 < float(s1.detach().mean()) < 0.6
    assert torch.equal(s1, s2)
    torch.testing.assert_close(u1, u2, rtol=0, atol=1e-12)
    w = torch.randn(T, B, N, generator=g, dtype=D)
    ps = [x, bm, bs, rho, th, al] + ([V] if recurrent else [])
    for a, b in zip(torch.autograd.grad((s1 * w).sum(), ps),
                    torch.autograd.grad((s2 * w).sum(), ps), strict=True):
        assert a.abs().max() > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_lif_layer_options_dispatch():
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(20, 2, 6, generator=g) < 0.4).float()
    ref = LIFLayer(6, 4, reset="subtract", refractory=2e-3, learn_threshold=True,
                   backend="reference", generator=torch.Generator().manual_seed(0))
    auto = LIFLayer(6, 4, reset="subtract", refractory=2e-3, learn_threshold=True,
                    generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref.weight.mul_(6)
        auto.weight.mul_(6)
    assert auto.neuron_options and not auto.uses_numba(x)  # auto falls back to fused
    assert auto.refractory_steps == 2
    s1, s2 = ref(x), auto(x)
    assert s1.sum() > 0 and torch.equal(s1, s2)
    s2.sum().backward()
    assert auto.threshold.grad is not None and auto.threshold.grad.abs().sum() > 0
    with pytest.raises(SpikegradInputError, match="backend='numba'"):
        LIFLayer(6, 4, reset="subtract", backend="numba")(x)
    with pytest.raises(SpikegradInputError, match="refractory"):
        LIFLayer(6, 4, refractory=-1e-3)
    # default options keep the numba path
    assert not LIFLayer(6, 4).neuron_options


def test_alif_network_adapt_zero_is_the_lif_network():
    g = torch.Generator().manual_seed(4)
    x = (torch.rand(30, 3, 5, generator=g) < 0.3).double()
    lif = SpikingNetwork(5, 3, (6, 4), recurrent=[True, False], seed=7, backend="reference")
    alif = ALIFNetwork(5, 3, (6, 4), recurrent=[True, False], seed=7, adapt=0.0)
    lif.double()
    alif.double()
    with torch.no_grad():
        for a, b in zip(lif.layers, alif.layers, strict=True):
            a.weight.mul_(5)
            b.weight.mul_(5)
    o1, o2 = lif(x), alif(x)
    assert sum(float(s.detach().sum()) for s in o1.spikes) > 0
    for a, b in zip(o1.spikes, o2.spikes, strict=True):
        assert torch.equal(a, b)
    torch.testing.assert_close(o1.readout, o2.readout)
    assert ALIFNetwork.kind == "alif"
    with pytest.raises(SpikegradInputError, match="numba"):
        ALIFNetwork(5, 3, (4,), backend="numba")


def test_alif_layer_learns_taus_threshold_and_adaptation():
    layer = ALIFLayer(4, 3, learn_tau=True, learn_threshold=True, learn_adapt=True,
                      generator=torch.Generator().manual_seed(0))
    names = {n for n, _ in layer.named_parameters()}
    assert {"tau_adapt", "adapt", "threshold", "taus.tau_mem", "taus.tau_syn"} <= names
    g = torch.Generator().manual_seed(5)
    x = (torch.rand(40, 2, 4, generator=g) < 0.5).float()
    with torch.no_grad():
        layer.weight.mul_(8)
    s = layer(x)
    assert s.sum() > 0
    s.sum().backward()
    for n, p in layer.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, n


def test_alif_network_spec_round_trip_and_bptt_declares_it():
    from spikegrad.learning.rules import make_rule

    net = ALIFNetwork(5, 3, (6,), seed=1, adapt=0.3, tau_adapt=0.05, refractory=2e-3)
    spec = net.spec()
    assert spec["kind"] == "alif" and spec["adapt"] == 0.3 and spec["refractory"] == 2e-3
    back = ALIFNetwork.from_spec(spec)
    back.load_state_dict(net.state_dict())
    x = (torch.rand(20, 2, 5, generator=torch.Generator().manual_seed(6)) < 0.4).float()
    torch.testing.assert_close(back(x).readout, net(x).readout, rtol=0, atol=0)
    make_rule("bptt").check_model(net)
    make_rule("eprop").check_model(net)  # the ALIF traces (tests/test_rule_eprop.py)
    with pytest.raises(SpikegradInputError, match="cannot train"):
        make_rule("conductance").check_model(net)
