"""The compiled COBA forward (kernels/coba_numba.py) against the torch loop of coba_step.

Measured on these problems (one thread): spikes, traces, resources, refractory counters
and activity masks identical; membranes within 2 ulp (max |dV| 1.4e-14 mV in float64,
7.6e-6 mV in float32; 2.8e-14 / 1.5e-5 over 40 runs of 400 steps, no spike differing):
the kernel keeps W s event-driven (decay plus the spiking columns) where torch forms it
anew each step with BLAS, and uses the C library's expm1. The tolerances sit a little
above those.
"""

from __future__ import annotations

import math

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.randman import make_randman
from spikegrad.functional.coba import CobaParams, CobaState, CobaTopology, coba_run
from spikegrad.functional.surrogate import make_surrogate
from spikegrad.kernels import coba_numba
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.perturbation import coba_estimates
from spikegrad.nn.coba import coba_classifier
from spikegrad.tasks import ClassificationTask

pytest.importorskip("numba")
torch.set_num_threads(1)
F64, F32 = torch.float64, torch.float32
V_TOL = {F64: 1e-13, F32: 2e-5}  # mV; measured 1.4e-14 and 7.6e-6
REC = ("traces", "v", "active")


def _problem(dtype, *, batched, T=120, B=5, n_in=10, n_exc=8, n_inh=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    net = CobaTopology(n_in, n_exc, n_inh)
    N, M = net.n, net.m
    x = (torch.rand(T, B, n_in, generator=g) < 0.12).float()
    shape = (B, N, M) if batched else (N, M)
    W = torch.rand(shape, generator=g, dtype=dtype) * 3.0
    pert = {
        "xi_exc": torch.randn(T, B, N, generator=g, dtype=dtype) * 4.0,
        "xi_inh": torch.randn(T, B, N, generator=g, dtype=dtype) * 4.0,
        "i_noise": torch.randn(T, B, N, generator=g, dtype=dtype) * 150.0,
        "g_extra": torch.rand(T, B, N, generator=g, dtype=dtype) * 2.0,
    }
    return net, x, W, pert


def _same(a, b, dtype):
    assert torch.equal(a.spikes, b.spikes)
    for f in ("traces", "active"):
        ta, tb = getattr(a, f), getattr(b, f)
        assert (ta is None) == (tb is None)
        if ta is not None:
            assert torch.equal(ta, tb), f
    if a.v is not None:
        assert b.v.dtype == dtype
        assert (a.v - b.v).abs().max().item() <= V_TOL[dtype]
    assert torch.equal(a.state.s, b.state.s)
    assert torch.equal(a.state.x, b.state.x)
    assert torch.equal(a.state.ref, b.state.ref)
    assert (a.state.v - b.state.v).abs().max().item() <= V_TOL[dtype]


# ------------------------------------------------------------- hand-computed trajectory
@pytest.mark.parametrize("kernel", ["torch", "numba"])
def test_hand_computed_steps_with_spike_refractory_and_both_channels(kernel):
    # neurons [E, I], presynaptic columns [input, E, I]; Euler, dt 0.5 ms, t_ref 1 ms (2 steps)
    net = CobaTopology(n_in=1, n_exc=1, n_inh=1)
    p = CobaParams(method="euler", t_ref=1e-3)
    W = torch.tensor([[0.0, 0.0, 4.0], [3.0, 5.0, 0.0]], dtype=F64)
    x = torch.zeros(4, 1, 1, dtype=F64)
    x[0, 0, 0] = 1.0
    i_noise = torch.zeros(4, 1, 2, dtype=F64)
    i_noise[0, 0, 0] = 9000.0  # pA: kicks E over threshold in step 0
    xi_exc = torch.zeros(4, 1, 2, dtype=F64)
    xi_exc[0, 0, 1] = 2.0  # nS on I in step 0
    xi_inh = torch.zeros(4, 1, 2, dtype=F64)
    xi_inh[1, 0, 1] = 1.0  # nS on I in step 1
    run = coba_run(
        x, W, net, p, xi_exc=xi_exc, xi_inh=xi_inh, i_noise=i_noise, record=REC, kernel=kernel
    )
    dtc, a_e = 5e-4 / 0.2, math.exp(-0.1)
    # step 0: E: V = -70 + 2.5e-3 * 9000 = -47.5 >= -50 -> spike, reset -60, 2 steps refractory
    #         I: I = -2 nS * (-70 - 0) = 140 pA -> V = -69.65
    # step 1: traces [1, 1, 0]; E refractory (held at -60); I: g_E = 3 + 5 = 8, g_I = 1
    v1 = -69.65 + dtc * (-10.0 * (-69.65 + 70.0) - 8.0 * (-69.65) - 1.0 * (-69.65 + 80.0))
    # step 2: traces [a_e, a_e, 0]; E still refractory; I: g_E = 8 a_e
    v2 = v1 + dtc * (-10.0 * (v1 + 70.0) - 8.0 * a_e * v1)
    # step 3: E active again from -60 with no conductance: V = -60 - 2.5e-3 * 100 = -60.25
    v3 = v2 + dtc * (-10.0 * (v2 + 70.0) - 8.0 * a_e**2 * v2)
    assert v1 == pytest.approx(-68.291625, abs=1e-9)
    want_v = [[-60.0, -69.65], [-60.0, v1], [-60.0, v2], [-60.25, v3]]
    torch.testing.assert_close(run.v[:, 0], torch.tensor(want_v, dtype=F64), rtol=0, atol=1e-12)
    assert run.spikes[:, 0].tolist() == [[1, 0], [0, 0], [0, 0], [0, 0]]
    assert run.active[:, 0].tolist() == [[1, 1], [0, 1], [0, 1], [1, 1]]
    want_s = [[0, 0, 0], [1, 1, 0], [a_e, a_e, 0], [a_e**2, a_e**2, 0]]
    torch.testing.assert_close(
        run.traces[:, 0], torch.tensor(want_s, dtype=F64), rtol=0, atol=1e-15
    )
    assert run.state.ref[0].tolist() == [0.0, 0.0]


def test_hand_computed_short_term_depression():
    # one input with U = 0.5: u = x before the spike, x drops by U x, then recovers
    net = CobaTopology(n_in=1, n_exc=1)
    p = CobaParams(std_U=0.5, tau_rec=0.1)
    x = torch.ones(3, 1, 1, dtype=F64)
    run = coba_run(x, torch.zeros(1, 2, dtype=F64), net, p, kernel="numba")
    a, r = math.exp(-0.1), math.exp(-5e-4 / 0.1)
    x1 = 1.0 - (1.0 - 0.5) * r  # resource after step 0
    s2 = 1.0 * a + x1  # trace used in step 2
    assert run.traces[:, 0, 0].tolist() == pytest.approx([0.0, 1.0, s2], abs=1e-15)
    x2 = 1.0 - (1.0 - 0.5 * x1) * r
    x3 = 1.0 - (1.0 - 0.5 * x2) * r
    assert run.state.x[0, 0].item() == pytest.approx(x3, abs=1e-15)


# ---------------------------------------------------------------- per-element agreement
@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize("method", ["exp_euler", "euler"])
@pytest.mark.parametrize("std_U", [0.0, 0.3])
@pytest.mark.parametrize("batched", [False, True])
def test_compiled_forward_matches_torch_loop(dtype, method, std_U, batched):
    net, x, W, pert = _problem(dtype, batched=batched)
    p = CobaParams(method=method, std_U=std_U)
    a = coba_run(x, W, net, p, record=REC, kernel="torch", **pert)
    b = coba_run(x, W, net, p, record=REC, kernel="numba", **pert)
    assert 0.02 < a.spikes.mean().item() < 0.5  # the problem spikes (measured 0.05-0.17)
    _same(a, b, dtype)


@pytest.mark.parametrize("which", ["xi_exc", "xi_inh", "i_noise", "g_extra", None])
def test_each_perturbation_alone_and_none(which):
    net, x, W, pert = _problem(F64, batched=False, seed=1)
    kw = {} if which is None else {which: pert[which]}
    p = CobaParams()
    for record in (REC, (), ("v",)):
        a = coba_run(x, W, net, p, record=record, kernel="torch", **kw)
        b = coba_run(x, W, net, p, record=record, kernel="numba", **kw)
        _same(a, b, F64)


@pytest.mark.parametrize("dtype", [F64, F32])
def test_excitatory_only_network_and_continued_state(dtype):
    # no inhibitory population; the second half continues from the first half's state
    net, x, W, pert = _problem(dtype, batched=False, n_inh=0, seed=2)
    p = CobaParams(std_U=0.2, t_ref=3e-3)
    full = coba_run(x, W, net, p, record=REC, kernel="torch", xi_exc=pert["xi_exc"])
    h = x.shape[0] // 2
    first = coba_run(x[:h], W, net, p, record=REC, kernel="numba", xi_exc=pert["xi_exc"][:h])
    second = coba_run(
        x[h:], W, net, p, record=REC, kernel="numba", xi_exc=pert["xi_exc"][h:], state=first.state
    )
    assert torch.equal(full.spikes, torch.cat([first.spikes, second.spikes]))
    assert torch.equal(full.traces, torch.cat([first.traces, second.traces]))
    assert (full.v - torch.cat([first.v, second.v])).abs().max().item() <= V_TOL[dtype]
    _same(
        coba_run(
            x[h:],
            W,
            net,
            p,
            record=REC,
            kernel="torch",
            xi_exc=pert["xi_exc"][h:],
            state=first.state,
        ),
        second,
        dtype,
    )


def test_masked_weights_and_rest_state_match():
    # entries outside the connectivity are ignored on both paths; no record at all
    net, x, W, _ = _problem(F64, batched=False, seed=3)
    conn = net.connectivity.clone()
    conn[:, :3] = False
    net = CobaTopology(net.n_in, net.n_exc, net.n_inh, connectivity=conn)
    p = CobaParams()
    a = coba_run(x, W, net, p, record=(), kernel="torch")
    b = coba_run(x, W, net, p, record=(), kernel="numba")
    assert b.traces is None and b.v is None and b.active is None
    _same(a, b, F64)
    s0 = CobaState.rest(x.shape[1], net, p, dtype=F64)
    assert torch.equal(b.state.x, s0.x)


# --------------------------------------------------------------------------- dispatch
def test_auto_dispatch_and_forced_kernels():
    net, x, W, pert = _problem(F32, batched=False, seed=4)
    p = CobaParams()
    with torch.no_grad():
        auto = coba_run(x, W, net, p, record=REC, **pert)
    comp = coba_run(x, W, net, p, record=REC, kernel="numba", **pert)
    assert torch.equal(auto.v, comp.v) and torch.equal(auto.spikes, comp.spikes)
    # autograd recording: the torch loop (its membranes carry a graph)
    Wg = W.clone().requires_grad_(True)
    run = coba_run(x, Wg, net, p, record=("v",), **pert)
    assert run.v.grad_fn is not None
    assert coba_numba.available(x, Wg) is False
    with torch.no_grad():
        assert coba_numba.available(x, Wg) is True
    # surrogate spikes, float16, mixed dtypes: not compiled; forcing it says why
    sur = make_surrogate("superspike", 10.0)
    bad = [
        dict(surrogate=sur),
        dict(xi_exc=pert["xi_exc"].double()),
        dict(state=CobaState.rest(x.shape[1], net, p, dtype=F64)),
        dict(state=CobaState.rest(1, net, p, dtype=F32)),  # broadcast: the torch loop's job
    ]
    for kw in bad:
        with pytest.raises(SpikegradInputError, match="kernel='numba'"):
            coba_run(x, W, net, p, kernel="numba", **kw)
    with pytest.raises(SpikegradInputError, match="kernel='numba'"):
        coba_run(x, W.half(), net, p, kernel="numba")
    with pytest.raises(SpikegradInputError, match="kernel"):
        coba_run(x, W, net, p, kernel="fast")


def test_environment_forces_a_kernel(monkeypatch):
    net, x, W, pert = _problem(F32, batched=False, seed=5)
    p = CobaParams()
    monkeypatch.setenv("SPIKEGRAD_COBA_KERNEL", "torch")
    t = coba_run(x, W, net, p, record=("v",), **pert)
    assert torch.equal(t.v, coba_run(x, W, net, p, record=("v",), kernel="torch", **pert).v)
    monkeypatch.setenv("SPIKEGRAD_COBA_KERNEL", "bogus")
    with pytest.raises(SpikegradInputError, match="SPIKEGRAD_COBA_KERNEL"):
        coba_run(x, W, net, p)


# ------------------------------------------------- the rules: the same estimates either way
@pytest.fixture(scope="module")
def coba_task():
    tr, va, te = make_randman(n_classes=3, n_units=12, n_steps=50, samples_per_class=10, seed=0)
    x, y = next(tr.batches(6, shuffle=False))
    return ClassificationTask(tr, va, te), x, y


def _rule_grad(kernel, monkeypatch, task, x, y, rule, options, dtype=F64):
    monkeypatch.setenv("SPIKEGRAD_COBA_KERNEL", kernel)
    model = coba_classifier(12, 3, n_hidden=6, seed=0, dtype=dtype, w_in=8.0)
    r = make_rule(rule, seed=3, trials=2, **options)
    step = r.gradients(model, task, x.to(dtype), y)
    return model.weight.grad.clone(), step.loss


@pytest.mark.parametrize("dtype", [F64, F32])
@pytest.mark.parametrize(
    "rule, options",
    [
        ("conductance", {}),
        ("conductance", {"noise": "empiric"}),
        ("conductance", {"noise": "current", "gate_refractory": True}),
        ("conductance", {"baseline": "running"}),
        ("weight", {"sigma": 3.0}),
        ("weight", {"sigma": 3.0, "baseline": "running"}),
    ],
)
def test_rules_give_the_same_gradients_on_both_kernels(
    coba_task, monkeypatch, rule, options, dtype
):
    task, x, y = coba_task
    gt, lt = _rule_grad("torch", monkeypatch, task, x, y, rule, options, dtype)
    gn, ln = _rule_grad("numba", monkeypatch, task, x, y, rule, options, dtype)
    assert gt.abs().sum() > 0  # the estimate is not trivially zero
    if options.get("noise") == "current":  # its eligibility uses V (round-off apart)
        # measured max |difference| 2.8e-17 (float64) and 1.1e-8 (float32), max |g| ~0.1
        tol = 1e-15 if dtype == F64 else 1e-7
        torch.testing.assert_close(gn, gt, rtol=0, atol=tol)
    else:  # rewards from spikes, eligibility from traces: bit for bit
        assert torch.equal(gn, gt)
    assert torch.equal(ln, lt)


@pytest.mark.parametrize("method", ["conductance", "empiric", "current", "weight"])
def test_coba_estimates_same_on_both_kernels(monkeypatch, method):
    net, x, W, _ = _problem(F64, batched=False, seed=6, T=60, B=1)
    p = CobaParams()
    weights = torch.arange(net.n, dtype=F64)

    def reward(spikes):  # every neuron's count, weighted, so that any change in spikes shows
        return spikes.sum(0) @ weights

    res = {}
    for kernel in ("torch", "numba"):
        monkeypatch.setenv("SPIKEGRAD_COBA_KERNEL", kernel)
        gen = torch.Generator().manual_seed(11)
        sigma = 20.0 if method == "current" else 0.5
        res[kernel] = coba_estimates(
            method, W, net, p, x, reward, sigma=sigma, generator=gen, n_trials=8
        )
    (gt, rt, pt), (gn, rn, pn) = res["torch"], res["numba"]
    assert torch.equal(rt, rn) and torch.equal(pt, pn)
    assert gt.abs().sum() > 0
    if method == "current":  # eligibility with V: round-off apart
        # measured max |difference| 2.1e-14 with max |g| 97
        torch.testing.assert_close(gn, gt, rtol=0, atol=2e-13)
    else:
        assert torch.equal(gn, gt)
