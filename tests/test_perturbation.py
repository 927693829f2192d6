"""Conductance-based neurons and the dynamic-perturbation rule (issue 5)."""

from __future__ import annotations

import math

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.learning.rules.perturbation import check_baseline
from spikegrad.perturbation import (
    CobaParams,
    CobaTopology,
    EmpiricSynapses,
    RunningBaseline,
    apply_update,
    baseline_values,
    coba_run,
    cosine,
    eligibility,
    estimate_gradient,
    finite_difference_gradient,
    perturbation_update,
    smoothed_rate,
    white_noise,
)

torch.set_num_threads(1)
F64 = torch.float64


def _one_neuron(method: str, w: float = 2.0, T: int = 4):
    net = CobaTopology(n_in=1, n_exc=1)
    p = CobaParams(method=method)
    W = torch.tensor([[w, 0.0]], dtype=F64)
    x = torch.zeros(T, 1, 1, dtype=F64)
    x[0, 0, 0] = 1.0
    run = coba_run(x, W, net, p, record=("v", "traces"))
    return p, run


def test_euler_matches_hand_computation():
    p, run = _one_neuron("euler")
    # hand-computed with dt = 0.5 ms, C = 0.2 nF, g_L = 10 nS, E_L = -70, E_E = 0, w = 2 nS:
    # step 0: no conductance yet (the input spike of step 0 first conducts in step 1)
    # step 1: s = 1, g = 2 nS, V = -70 + 2.5e-3 * (-2 * (-70)) = -69.65
    # step 2: s = exp(-0.1), g = 2 exp(-0.1)
    v1 = -70.0 + 2.5e-3 * (2.0 * 70.0)
    g2 = 2.0 * math.exp(-0.1)
    v2 = v1 + 2.5e-3 * (-10.0 * (v1 + 70.0) - g2 * v1)
    got = run.v[:3, 0, 0].tolist()
    assert got[0] == pytest.approx(-70.0, abs=1e-12)
    assert got[1] == pytest.approx(-69.65, abs=1e-12)
    assert got[2] == pytest.approx(v2, abs=1e-12)
    assert v2 == pytest.approx(-69.34364, abs=1e-5)
    # traces s[n] used in step n: 0, 1, exp(-0.1), exp(-0.2)
    assert run.traces[:, 0, 0].tolist() == pytest.approx(
        [0.0, 1.0, math.exp(-0.1), math.exp(-0.2)], abs=1e-12
    )


def test_exponential_euler_matches_hand_computation():
    p, run = _one_neuron("exp_euler")
    # step 1: G = g_L + g = 12 nS, V_inf = (10 * -70 + 2 * 0) / 12, decay exp(-dt G / C)
    G = 12.0
    v_inf = -700.0 / G
    v1 = v_inf + (-70.0 - v_inf) * math.exp(-5e-4 * G / 0.2)
    g2 = 2.0 * math.exp(-0.1)
    G2 = 10.0 + g2
    v_inf2 = -700.0 / G2
    v2 = v_inf2 + (v1 - v_inf2) * math.exp(-5e-4 * G2 / 0.2)
    assert run.v[1, 0, 0].item() == pytest.approx(v1, abs=1e-12)
    assert run.v[2, 0, 0].item() == pytest.approx(v2, abs=1e-12)
    assert v1 == pytest.approx(-69.6552, abs=1e-4)


def test_exp_euler_exact_and_euler_first_order_under_constant_conductance():
    net = CobaTopology(n_in=1, n_exc=1)
    W = torch.zeros(1, 2, dtype=F64)
    t_end = 0.01
    g, inh = 5.0, 0.0
    G = 10.0 + g + inh
    v_inf = (10.0 * -70.0 + g * 0.0) / G
    errs = {}
    for method in ("exp_euler", "euler"):
        for dt in (4e-4, 2e-4):
            p = CobaParams(dt=dt, method=method, V_th=100.0, V_reset=-60.0)
            T = int(round(t_end / dt))
            x = torch.zeros(T, 1, 1, dtype=F64)
            gx = torch.full((T, 1, 1), g, dtype=F64)
            run = coba_run(x, W, net, p, g_extra=gx, record=("v",))
            t = torch.arange(1, T + 1, dtype=F64) * dt
            exact = v_inf + (-70.0 - v_inf) * torch.exp(-t * G / 0.2)
            errs[method, dt] = float((run.v[:, 0, 0] - exact).abs().max())
    assert errs["exp_euler", 4e-4] < 1e-10
    assert errs["euler", 4e-4] > 1e-3
    ratio = errs["euler", 4e-4] / errs["euler", 2e-4]
    assert 1.8 < ratio < 2.2  # first order


def test_spike_reset_and_refractory_period():
    net = CobaTopology(n_in=1, n_exc=1)
    p = CobaParams(dt=5e-4, t_ref=2e-3)
    T = 200
    x = torch.zeros(T, 1, 1, dtype=F64)
    gx = torch.full((T, 1, 1), 30.0, dtype=F64)
    run = coba_run(x, torch.zeros(1, 2, dtype=F64), net, p, g_extra=gx,
                   record=("v", "active"))
    z = run.spikes[:, 0, 0]
    times = torch.nonzero(z)[:, 0].tolist()
    assert len(times) >= 3
    isis = {b - a for a, b in zip(times, times[1:], strict=False)}
    assert len(isis) == 1 and min(isis) > p.ref_steps  # periodic, longer than refractory
    t0 = times[0]
    assert run.v[t0, 0, 0].item() == p.V_reset
    # held at reset for ref_steps = 4 steps, then integrates again
    assert run.v[t0 + 1 : t0 + 1 + p.ref_steps, 0, 0].tolist() == [p.V_reset] * p.ref_steps
    assert run.active[t0 + 1 : t0 + 1 + p.ref_steps, 0, 0].tolist() == [0.0] * p.ref_steps
    assert run.v[t0 + 1 + p.ref_steps, 0, 0].item() > p.V_reset
    assert bool((run.v[:, 0, 0] < p.V_th).all())


def test_short_term_depression_jumps_and_recovery():
    net = CobaTopology(n_in=1, n_exc=1)
    p = CobaParams(dt=1e-3, std_U=0.5, tau_rec=0.1, tau_exc=5e-3)
    T = 30
    x = torch.zeros(T, 1, 1, dtype=F64)
    x[0, 0, 0] = x[10, 0, 0] = 1.0
    run = coba_run(x, torch.zeros(1, 2, dtype=F64), net, p)
    s = run.traces[:, 0, 0]
    a = math.exp(-1e-3 / 5e-3)
    assert s[1].item() == pytest.approx(1.0)
    # after the first release x = 1 - U = 0.5, recovering for 10 steps (one at release)
    x_before = 1.0 - 0.5 * math.exp(-10e-3 / 0.1)
    assert s[11].item() == pytest.approx(a**10 + x_before, rel=1e-9)
    p0 = CobaParams(dt=1e-3, tau_exc=5e-3)
    s0 = coba_run(x, torch.zeros(1, 2, dtype=F64), net, p0).traces[:, 0, 0]
    assert s0[11].item() == pytest.approx(a**10 + 1.0, rel=1e-9)


def test_inhibition_uses_its_own_reversal_and_time_constant():
    # neuron 0 (E) is driven to spike; neuron 1 (I) receives nothing; neuron 1 -> 0 inhib.
    net = CobaTopology(n_in=1, n_exc=1, n_inh=1)
    p = CobaParams(dt=5e-4)
    T = 40
    x = torch.zeros(T, 1, 1, dtype=F64)
    gx = torch.zeros(T, 1, 2, dtype=F64)
    gx[:5, 0, 1] = 200.0  # make the I neuron fire early
    W = torch.zeros(2, 3, dtype=F64)
    W[0, 2] = 20.0
    run = coba_run(x, W, net, p, g_extra=gx, record=("v", "traces"))
    t_sp = int(torch.nonzero(run.spikes[:, 0, 1])[0, 0])
    s = run.traces[:, 0, 2]
    assert s[t_sp + 1].item() == pytest.approx(1.0)
    assert s[t_sp + 3].item() == pytest.approx(math.exp(-2 * 5e-4 / 10e-3))
    # the E neuron is pulled below rest towards E_inh = -80 mV
    assert run.v[t_sp + 5, 0, 0].item() < -70.5


def test_batched_weights_equal_separate_runs():
    g = torch.Generator().manual_seed(3)
    net = CobaTopology(n_in=3, n_exc=3, n_inh=1)
    p = CobaParams()
    x = (torch.rand(50, 2, 3, generator=g) < 0.2).double()
    W1 = torch.rand(4, 7, generator=g, dtype=F64) * 10
    W2 = torch.rand(4, 7, generator=g, dtype=F64) * 10
    both = coba_run(x, torch.stack([W1, W2]), net, p).spikes
    a = coba_run(x[:, :1], W1, net, p).spikes
    b = coba_run(x[:, 1:], W2, net, p).spikes
    assert torch.equal(both[:, :1], a) and torch.equal(both[:, 1:], b)


def test_smoothed_rate_unit_area():
    z = torch.zeros(2000, 1, 1, dtype=F64)
    z[10] = 1.0
    r = smoothed_rate(z, 1e-3, 0.02)
    assert float(r.sum() * 1e-3) == pytest.approx(1.0, rel=0.03)
    assert r[10].item() == pytest.approx(50.0)


# ------------------------------------------------------------------ the estimator


def _small_problem():
    g = torch.Generator().manual_seed(0)
    net = CobaTopology(n_in=4, n_exc=2, n_inh=1, outputs=torch.tensor([0]))
    p = CobaParams()
    T = 60
    x = (torch.rand(T, 1, 4, generator=g) < 0.15).double()
    W = torch.rand(net.n, net.m, generator=g, dtype=F64) * 8.0 * net.connectivity
    tgt = torch.linspace(0, 100, T, dtype=F64).view(-1, 1, 1)

    def reward(sp):
        r = smoothed_rate(sp[:, :, :1], p.dt, 10e-3)
        return -((r - tgt) ** 2).mean(dim=(0, 2)) / 1e4

    return net, p, x, W, reward


@pytest.fixture(scope="module")
def fd_gradient():
    net, p, x, W, reward = _small_problem()
    fd, mask = finite_difference_gradient(
        W, net, p, x, reward, sigma=1.0, n_trials=1500, h=0.5,
        generator=torch.Generator().manual_seed(1),
    )
    return fd, mask


def test_perturbation_estimate_converges_to_finite_difference_gradient(fd_gradient):
    fd, mask = fd_gradient
    net, p, x, W, reward = _small_problem()
    assert fd[mask].abs().max() > 0.02  # a non-trivial gradient
    g, _, _ = estimate_gradient(
        "conductance", W, net, p, x, reward, sigma=1.0, n_trials=3000,
        generator=torch.Generator().manual_seed(5),
    )
    # mean cosine of estimates from disjoint blocks of k trials
    cos = {
        k: sum(cosine(blk.mean(0), fd, mask) for blk in g.split(k)) / (3000 // k)
        for k in (3, 30, 300, 3000)
    }
    assert cos[3000] >= 0.9
    assert cos[3000] > cos[300] > cos[30] > cos[3]
    # mean relative error shrinks with trials too
    err = {k: float((g[:k].mean(0) - fd)[mask].norm() / fd[mask].norm()) for k in (30, 3000)}
    assert err[3000] < 0.5 * err[30]


def test_inhibitory_channel_makes_inhibitory_gradients_unbiased(fd_gradient):
    fd, mask = fd_gradient
    net, p, x, W, reward = _small_problem()
    g, _, _ = estimate_gradient(
        "conductance", W, net, p, x, reward, sigma=1.0, n_trials=3000,
        generator=torch.Generator().manual_seed(6),
    )
    inh = mask.clone()
    inh[:, : net.n_in + net.n_exc] = False
    assert int(inh.sum()) == 2
    # signs of the (small) inhibitory gradients are recovered
    est = g.mean(0)[inh]
    ref = fd[inh]
    assert torch.equal(torch.sign(est), torch.sign(ref))


def test_empiric_and_baseline_estimators_point_along_the_gradient(fd_gradient):
    fd, mask = fd_gradient
    net, p, x, W, reward = _small_problem()
    gen = torch.Generator().manual_seed(7)
    g_emp, _, _ = estimate_gradient(
        "empiric", W, net, p, x, reward, sigma=1.0, n_trials=3000, generator=gen,
        empiric=EmpiricSynapses(rate=400.0, weight=1.0, tau=1e-3),
    )
    assert cosine(g_emp.mean(0), fd, mask) > 0.7
    g_w, _, _ = estimate_gradient(
        "weight", W, net, p, x, reward, sigma=0.5, n_trials=3000, generator=gen,
    )
    assert cosine(g_w.mean(0), fd, mask) > 0.8
    g_b, _, _ = estimate_gradient("bptt", W, net, p, x, reward, sigma=1.0, n_trials=1,
                                  generator=gen)
    assert cosine(g_b[0], fd, mask) > 0.8


def test_node_perturbation_of_currents_is_unbiased_with_euler():
    net, _, x, W, reward = _small_problem()
    p = CobaParams(method="euler")
    g = torch.Generator().manual_seed(11)
    # reference: finite differences of E[R] under the same *current* noise (CRN)
    T, K, sig = x.shape[0], 1500, 20.0
    noise = white_noise((T, K, net.n), sig, p.dt, g, dtype=F64)
    h = 0.5
    fd = torch.zeros_like(W)
    for i, j in torch.nonzero(net.plastic).tolist()[:8]:
        d = torch.zeros_like(W)
        d[i, j] = h
        rp = reward(coba_run(x.expand(-1, K, -1), W + d, net, p, i_noise=noise,
                             record=(), check_sign=False).spikes).mean()
        rm = reward(coba_run(x.expand(-1, K, -1), W - d, net, p, i_noise=noise,
                             record=(), check_sign=False).spikes).mean()
        fd[i, j] = (rp - rm) / (2 * h)
    mask = fd != 0
    est, _, _ = estimate_gradient("current", W, net, p, x, reward, sigma=sig, n_trials=3000,
                                  generator=g)
    assert cosine(est.mean(0), fd, mask) > 0.9


def test_eligibility_formula_and_gating():
    net = CobaTopology(n_in=2, n_exc=1, n_inh=1)
    T, B = 5, 2
    g = torch.Generator().manual_seed(0)
    s = torch.rand(T, B, net.m, generator=g, dtype=F64)
    xe = torch.randn(T, B, net.n, generator=g, dtype=F64)
    xi = torch.randn(T, B, net.n, generator=g, dtype=F64)
    e = eligibility(net, s, 1e-3, xe, xi)
    b, i, j = 1, 0, 1  # an excitatory column
    assert e[b, i, j].item() == pytest.approx(1e-3 * float((xe[:, b, i] * s[:, b, j]).sum()))
    j = 3  # the inhibitory neuron's column pairs with the inhibitory noise
    assert e[b, i, j].item() == pytest.approx(1e-3 * float((xi[:, b, i] * s[:, b, j]).sum()))
    act = torch.ones(T, B, net.n, dtype=F64)
    act[2] = 0
    e2 = eligibility(net, s, 1e-3, xe, xi, active=act)
    ref = 1e-3 * float((xe[:, 0, 1] * s[:, 0, 0] * act[:, 0, 1]).sum())
    assert e2[0, 1, 0].item() == pytest.approx(ref)


def test_white_noise_scale_and_empiric_variance():
    g = torch.Generator().manual_seed(0)
    xi = white_noise((4000, 1, 50), 0.5, 1e-3, g, dtype=F64)
    # per-step SD sigma / sqrt(dt)
    assert float(xi.std()) == pytest.approx(0.5 / math.sqrt(1e-3), rel=0.01)
    emp = EmpiricSynapses(rate=300.0, weight=2.0, tau=2e-3)
    gext, fluct = emp.sample((4000, 1, 50), 1e-3, g, dtype=F64)
    assert float(fluct.mean()) == pytest.approx(0.0, abs=0.02)
    assert bool((gext >= 0).all())
    # area under the autocovariance of the sampled fluctuation vs sigma2
    f = fluct[200:, 0, :]
    acov = sum(float((f[: f.shape[0] - k] * f[k:]).mean()) * (1 if k == 0 else 2)
               for k in range(0, 30))
    assert acov * 1e-3 == pytest.approx(emp.sigma2(1e-3), rel=0.1)
    assert emp.sigma2(1e-5) == pytest.approx(4.0 * 300.0 * 2e-3**2, rel=0.01)


# ------------------------------------------------------------- updates and errors


def test_update_rule_sign_constraints_and_mask():
    net = CobaTopology(n_in=2, n_exc=2, n_inh=1)
    net.plastic[:, 3:] = False  # only input and first E columns learn
    W = torch.full((3, 5), 1.0) * net.connectivity
    e = torch.zeros(4, 3, 5)
    e[:, :, :] = -10.0
    R = torch.tensor([1.0, 2.0, 3.0, 4.0])
    b = torch.zeros(4)
    dW = perturbation_update(e, R, b, eta=1.0, plastic=net.plastic)
    assert dW[0, 0].item() == pytest.approx(-25.0)
    assert float(dW[:, 3:].abs().sum()) == 0.0
    W2 = apply_update(W, dW, net)
    assert bool((W2 >= 0).all())
    assert torch.equal(W2[:, 3:], W[:, 3:])  # non-plastic unchanged
    assert float(W2[~net.connectivity].abs().sum()) == 0.0


def test_bad_settings_raise_clear_errors():
    net = CobaTopology(n_in=2, n_exc=2)
    p = CobaParams()
    g = torch.Generator()
    with pytest.raises(SpikegradInputError, match="sigma"):
        white_noise((3, 1, 2), 0.0, 1e-3, g)
    with pytest.raises(SpikegradInputError, match="sigma"):
        white_noise((3, 1, 2), -1.0, 1e-3, g)
    with pytest.raises(SpikegradInputError, match="eta"):
        perturbation_update(torch.zeros(2, 2, 4), torch.zeros(2), torch.zeros(2), eta=-0.1)
    with pytest.raises(SpikegradInputError, match="shapes"):
        perturbation_update(torch.zeros(2, 2, 4), torch.zeros(3), torch.zeros(3), eta=0.1)
    R = torch.ones(2)
    with pytest.raises(SpikegradInputError, match="current trial"):
        perturbation_update(torch.zeros(2, 2, 4), R, R, eta=0.1)
    with pytest.raises(SpikegradInputError, match="current trial's reward"):
        check_baseline("batch_mean")
    with pytest.raises(SpikegradInputError, match="unknown baseline"):
        check_baseline("median")
    rb = RunningBaseline(tau=5)
    assert rb.value(1) == 0.0
    rb.update(torch.tensor([1.0]), 1)
    with pytest.raises(SpikegradInputError, match="current trial's reward"):
        rb.value(1)
    assert rb.value(2) == pytest.approx(1.0)
    with pytest.raises(SpikegradInputError, match="leave_one_out"):
        baseline_values("leave_one_out", torch.ones(1))
    loo = baseline_values("leave_one_out", torch.tensor([1.0, 2.0, 3.0]))
    assert loo.tolist() == pytest.approx([2.5, 2.0, 1.5])
    x = torch.zeros(5, 1, 3)
    W = torch.zeros(2, 4)
    with pytest.raises(SpikegradInputError, match="n_in=2"):
        coba_run(x, W, net, p)
    with pytest.raises(SpikegradInputError, match=r"W must have shape \[N, M\] = \[2, 4\]"):
        coba_run(torch.zeros(5, 1, 2), torch.zeros(3, 4), net, p)
    with pytest.raises(SpikegradInputError, match="non-negative"):
        coba_run(torch.zeros(5, 1, 2), -torch.ones(2, 4), net, p)
    with pytest.raises(SpikegradInputError, match="xi_exc must have shape"):
        coba_run(torch.zeros(5, 1, 2), W, net, p, xi_exc=torch.zeros(5, 1, 3))
    with pytest.raises(SpikegradInputError, match="time-major"):
        coba_run(torch.zeros(5, 2), W, net, p)
    with pytest.raises(SpikegradInputError, match="V_reset"):
        CobaParams(V_reset=-40.0)
    with pytest.raises(SpikegradInputError, match="dt"):
        CobaParams(dt=0.0)
    with pytest.raises(SpikegradInputError, match="method"):
        CobaParams(method="rk4")
    with pytest.raises(SpikegradInputError, match="std_U"):
        CobaParams(std_U=1.5)
    with pytest.raises(SpikegradInputError, match="rate"):
        EmpiricSynapses(rate=0.0)
    with pytest.raises(SpikegradInputError, match="rate \\* dt"):
        EmpiricSynapses(rate=2000.0).sigma2(1e-3)


def test_only_neurons_with_plastic_synapses_are_perturbed():
    # neuron 1 has no plastic synapses and no input from neuron 0: it must not be perturbed,
    # so its spike train is the same in every trial while neuron 0's varies
    conn = torch.zeros(2, 4, dtype=torch.bool)
    conn[:, :2] = True
    plastic = torch.zeros_like(conn)
    plastic[0, :2] = True
    net = CobaTopology(n_in=2, n_exc=2, connectivity=conn, plastic=plastic)
    p = CobaParams()
    x = torch.zeros(80, 1, 2, dtype=F64)
    x[::4, 0, :] = 1.0
    W = torch.full((2, 4), 4.0, dtype=F64) * conn
    seen = []

    def reward(sp):
        seen.append(sp)
        return sp[:, :, 0].sum(0)

    for method in ("conductance", "current", "empiric"):
        seen.clear()
        g, _, _ = estimate_gradient(method, W, net, p, x, reward, sigma=1.0, n_trials=20,
                                    generator=torch.Generator().manual_seed(0))
        sp = next(s for s in seen if s.shape[1] == 20)
        assert bool((sp[:, :, 1] == sp[:, :1, 1]).all()), method
        assert not bool((sp[:, :, 0] == sp[:, :1, 0]).all()), method
        assert float(g[:, 1].abs().sum()) == 0.0


def test_strong_white_noise_keeps_exponential_euler_finite():
    # the white conductance can go negative (total G < 0 in some steps); phi handles it
    net = CobaTopology(n_in=1, n_exc=2)
    p = CobaParams()
    T, B = 200, 16
    g = torch.Generator().manual_seed(0)
    xi = white_noise((T, B, 2), 5.0, p.dt, g, dtype=F64)
    assert float(xi.min()) < -10.0 * 10.0  # far below -g_L
    x = torch.zeros(T, B, 1, dtype=F64)
    run = coba_run(x, torch.zeros(2, 3, dtype=F64), net, p, xi_exc=xi, record=("v",))
    assert bool(torch.isfinite(run.v).all())
    assert float(run.spikes.sum()) > 0  # the noise alone drives spikes


def test_digits_latency_code_is_the_shared_linear_code():
    """make_digits uses data.encoding.latency; its spikes equal the documented formula
    t = t_min + floor((T - 1 - t_min)(1 - v) / (1 - theta)) for v > theta."""
    from spikegrad.perturbation.tasks import _glyph, make_digits

    ds = make_digits(12, n_classes=4, seed=3, threshold=0.4)
    g = torch.Generator().manual_seed(3)
    labels = torch.arange(4).repeat_interleave(12)
    glyphs = torch.stack([_glyph(k) for k in range(4)])
    v = (glyphs[labels] + 0.25 * torch.randn(labels.numel(), 35, generator=g)).clamp(0, 1)
    expect = torch.zeros(labels.numel(), 40, 35)
    for n, u in zip(*torch.nonzero(v > 0.4, as_tuple=True), strict=True):
        t = 2 + int(((40 - 1 - 2) * (1 - v[n, u]) / (1 - 0.4)).floor())
        expect[n, min(t, 39), u] = 1.0
    got = ds.dense(list(range(len(ds))))  # [T, N, C]
    assert torch.equal(got.transpose(0, 1), expect)
