"""Delay lines and delayed projections: exact shifts, interpolation, gradients, modules.

The functions are tested in their step form (no ``dt``), the modules in seconds (``dt``
converts); ``test_seconds_equal_steps`` checks that the two agree exactly.
"""

from __future__ import annotations

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional.delay import delay_channels, delay_taps, delayed_linear, shift
from spikegrad.functional.lif import LIFParams, decay, lif_sequence
from spikegrad.functional.surrogate import SuperSpike
from spikegrad.nn.delay import Delay, DelayedLinear, clamp_after_step
from spikegrad.nn.lif import LIFLayer

F64 = torch.float64


#: small tensors: every test on one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def _spikes(T=30, B=2, N=4, p=0.2, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, N, generator=g) < p).to(dtype)


def test_integer_delays_equal_shift():
    x = _spikes()
    d = torch.tensor([0.0, 1.0, 3.0, 7.0], dtype=F64)
    ref = shift(x, torch.tensor([0, 1, 3, 7]))
    for mode in ("linear", "integer"):
        assert torch.equal(delay_channels(x, d, 8, mode=mode), ref)
    # shift is exact: spike at step t moves to t + k, nothing before k
    assert torch.equal(ref[3:, :, 2], x[:-3, :, 2])
    assert ref[:7, :, 3].abs().sum() == 0


def test_fractional_delay_interpolates():
    x = torch.zeros(10, 1, 1, dtype=F64)
    x[2, 0, 0] = 1.0
    y = delay_channels(x, torch.tensor([2.25], dtype=F64), 5)
    # (1 - 0.25) at 2 + 2 and 0.25 at 2 + 3
    assert y[4, 0, 0].item() == pytest.approx(0.75)
    assert y[5, 0, 0].item() == pytest.approx(0.25)
    assert y.sum().item() == pytest.approx(1.0)
    # delays beyond max_delay are clamped
    yc = delay_channels(x, torch.tensor([9.0], dtype=F64), 5)
    assert yc[7, 0, 0].item() == 1.0
    taps = delay_taps(torch.tensor([1.5, 3.0], dtype=F64), 4, "gaussian", sigma=1.0)
    assert taps.sum(-1).tolist() == pytest.approx([1.0, 1.0])
    assert int(taps[1].argmax()) == 3


def test_delay_gradients_match_finite_differences():
    x = _spikes(T=25, B=2, N=3, seed=1)
    for mode in ("linear", "gaussian"):
        d = torch.tensor([0.3, 2.6, 4.4], dtype=F64, requires_grad=True)
        w = torch.randn(25, 2, 3, dtype=F64, generator=torch.Generator().manual_seed(2))
        assert torch.autograd.gradcheck(
            lambda dd, m=mode, w=w: (delay_channels(x, dd, 6, mode=m, sigma=1.5) * w).sum(), (d,)
        )
    # per-synapse: weights and delays together
    wt = torch.randn(2, 3, dtype=F64, generator=torch.Generator().manual_seed(3))
    dl = torch.tensor([[0.5, 1.7, 3.2], [2.1, 0.2, 4.6]], dtype=F64)
    wt.requires_grad_(True)
    dl.requires_grad_(True)
    probe = torch.randn(25, 2, 2, dtype=F64, generator=torch.Generator().manual_seed(4))
    assert torch.autograd.gradcheck(
        lambda a, b: (delayed_linear(x, a, b, 5) * probe).sum(), (wt, dl)
    )


def test_linear_delay_gradient_value():
    # d y[n] / d d = x[n - floor(d) - 1] - x[n - floor(d)]
    x = _spikes(T=20, B=1, N=1, p=0.4, seed=5)
    d = torch.tensor([2.4], dtype=F64, requires_grad=True)
    y = delay_channels(x, d, 5)
    (g,) = torch.autograd.grad(y[10, 0, 0], d)
    assert g.item() == pytest.approx((x[7, 0, 0] - x[8, 0, 0]).item())


def test_integer_mode_is_straight_through():
    x = _spikes(seed=6)
    d = torch.tensor([0.4, 1.6, 2.5, 5.2], dtype=F64, requires_grad=True)
    y = delay_channels(x, d, 8, mode="integer")
    assert torch.equal(y, shift(x, torch.round(d.detach()).long()))
    probe = torch.randn_like(y)
    (g_int,) = torch.autograd.grad((y * probe).sum(), d)
    d2 = d.detach().clone().requires_grad_(True)
    (g_lin,) = torch.autograd.grad((delay_channels(x, d2, 8) * probe).sum(), d2)
    assert torch.allclose(g_int, g_lin)


def test_delayed_linear_matches_loop_reference():
    x = _spikes(T=15, B=2, N=3, seed=7)
    w = torch.randn(4, 3, dtype=F64, generator=torch.Generator().manual_seed(8))
    d = torch.tensor([[0, 1, 2], [3, 0, 1], [2, 2, 2], [4, 3, 0]], dtype=F64)
    out = delayed_linear(x, w, d, 4)
    ref = torch.zeros(15, 2, 4, dtype=F64)
    for o in range(4):
        for i in range(3):
            k = int(d[o, i])
            ref[k:, :, o] += w[o, i] * x[: 15 - k, :, i]
    assert torch.allclose(out, ref)
    assert torch.allclose(delayed_linear(x, w, torch.zeros_like(w), 0), x @ w.t())


def test_bad_arguments_are_named():
    x = _spikes()
    with pytest.raises(SpikegradInputError, match="max_delay"):
        delay_channels(x, torch.zeros(4, dtype=F64), -1)
    with pytest.raises(SpikegradInputError, match="delays must have shape"):
        delay_channels(x, torch.zeros(3, dtype=F64), 3)
    with pytest.raises(SpikegradInputError, match="delay mode"):
        delay_channels(x, torch.zeros(4, dtype=F64), 3, mode="cubic")
    with pytest.raises(SpikegradInputError, match="steps must be >= 0"):
        shift(x, torch.tensor([0, -1, 0, 0]))
    with pytest.raises(SpikegradInputError, match="initial delays"):
        Delay(4, 3e-3, init=5e-3)
    with pytest.raises(SpikegradInputError, match="features"):
        Delay(3, 2e-3)(x)
    with pytest.raises(SpikegradInputError, match="whole number of steps"):
        Delay(3, 2.5e-3, dt=1e-3)
    with pytest.raises(SpikegradInputError, match="pass dt"):
        delayed_linear(x, torch.zeros(2, 4, dtype=F64), torch.zeros(2, 4, dtype=F64), 20e-3)


def test_modules_fixed_and_learnable():
    g = torch.Generator().manual_seed(0)
    fixed = Delay(4, 5e-3, learnable=False, init=torch.tensor([0.0, 1.0, 2.0, 3.0]) * 1e-3)
    assert "delays" in dict(fixed.named_buffers()) and not list(fixed.parameters())
    x = _spikes(dtype=torch.float32)
    assert torch.equal(fixed(x), shift(x, torch.tensor([0, 1, 2, 3])))
    lin = DelayedLinear(4, 3, 6e-3, generator=g)
    assert set(dict(lin.named_parameters())) == {"weight", "delays"}
    assert lin(x).shape == (30, 2, 3)
    with torch.no_grad():
        lin.delays.fill_(9e-3)
    lin.clamp_()
    assert float(lin.delays.detach().max()) == pytest.approx(6e-3)


def test_lif_layer_with_undelayed_projection_is_lif():
    g = torch.Generator().manual_seed(1)
    proj = DelayedLinear(4, 3, 0.0, init="zero", generator=g)
    layer = LIFLayer(4, 3, surrogate=SuperSpike(10.0), projection=proj)
    assert layer.weight is proj.weight
    x = _spikes(p=0.5, dtype=torch.float32)
    with torch.no_grad():
        layer.weight.mul_(5.0)
    s = layer(x)
    ref, _, _ = lif_sequence(
        x @ layer.weight.t(), LIFParams(decay(10e-3, 1e-3), decay(5e-3, 1e-3)), SuperSpike(10.0)
    )
    assert torch.equal(s, ref) and s.sum() > 0


def test_projection_runs_on_fused_and_reference_alike():
    """A LIFLayer with a delayed projection: the fused backend ("auto") and the reference
    give the same spikes and gradients (weights, delays, recurrent weights); numba refuses."""
    x = _spikes(T=40, B=3, N=5, p=0.3, seed=11)
    got = []
    for backend in ("auto", "reference"):
        g = torch.Generator().manual_seed(1)
        proj = DelayedLinear(5, 4, 6e-3, generator=g).double()
        with torch.no_grad():
            proj.weight.mul_(5.0)
        layer = LIFLayer(5, 4, recurrent=True, backend=backend, projection=proj, generator=g)
        layer = layer.double()
        assert not layer.uses_numba(x)
        s = layer(x)
        s.sum().backward()
        got.append((s, proj.weight.grad, proj.delays.grad, layer.rec_weight.grad))
    assert got[0][0].sum() > 0 and got[0][2].abs().sum() > 0
    for a, b in zip(*got, strict=True):
        assert torch.allclose(a, b, rtol=0, atol=1e-12)
    with pytest.raises(SpikegradInputError, match="projection"):
        xf = _spikes(dtype=torch.float32)
        LIFLayer(4, 3, backend="numba", projection=DelayedLinear(4, 3, 0.0))(xf)
    with pytest.raises(SpikegradInputError, match="projection weight"):
        LIFLayer(4, 2, projection=DelayedLinear(4, 3, 0.0))
    with pytest.raises(SpikegradInputError, match="dt"):
        LIFLayer(4, 3, dt=1e-3, projection=DelayedLinear(4, 3, 0.0, dt=5e-4))


def test_delay_is_learned_by_gradient_descent():
    # recover a 3-step delay from input/target pairs with the Gaussian taps
    x = _spikes(T=60, B=8, N=2, p=0.15, seed=9, dtype=torch.float32)
    target = shift(x, torch.tensor([3, 5]))
    mod = Delay(2, 8e-3, init=torch.tensor([1e-3, 7e-3]), mode="gaussian", sigma=2e-3)
    opt = torch.optim.Adam(mod.parameters(), lr=0.2e-3)  # 0.2 steps of 1 ms
    for _ in range(60):
        opt.zero_grad()
        loss = ((mod(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        mod.clamp_()
    assert mod.delays.detach().tolist() == pytest.approx([3e-3, 5e-3], abs=0.15e-3)


def _lag_order_accuracy(max_delay: float, epochs: int = 15) -> float:
    """Train 8 inputs -> LIFLayer(16, projection=DelayedLinear) -> Readout on the lag-order
    task (as in bench/spiketrain_lag_order.py, smaller) and return the test accuracy."""
    from spikegrad.functional.readout import readout_logits
    from spikegrad.nn.lif import Readout
    from spikegrad.tasks.spike_targets import lag_order_task

    g = torch.Generator().manual_seed(1000)
    kw = dict(n_steps=120, group=4, lag=40, jitter=2, noise_prob=0.01)
    xtr, ytr = lag_order_task(256, generator=g, **kw)
    xte, yte = lag_order_task(256, generator=g, **kw)
    gw = torch.Generator().manual_seed(0)
    learn = max_delay > 0
    proj = DelayedLinear(
        8,
        16,
        max_delay,
        mode="gaussian",
        sigma=4e-3,
        init="uniform" if learn else "zero",
        learnable=learn,
        generator=gw,
    )
    hidden = LIFLayer(8, 16, projection=proj)
    readout = Readout(16, 2, generator=gw)
    with torch.no_grad():
        hidden.weight.mul_(3.0)
    groups = [{"params": [hidden.weight, *readout.parameters()], "lr": 5e-3}]
    if learn:
        groups.append({"params": [proj.delays], "lr": 1e-3})  # 1 step of 1 ms
    opt = torch.optim.Adam(groups)
    clamp_after_step(opt, hidden)
    for _ in range(epochs):
        perm = torch.randperm(256, generator=gw)
        for k in range(0, 256, 32):
            idx = perm[k : k + 32]
            loss = torch.nn.functional.cross_entropy(
                readout_logits(readout(hidden(xtr[:, idx])), "max"), ytr[idx]
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
        proj.sigma = max(0.5e-3, proj.sigma * 0.93)
    with torch.no_grad():
        pred = readout_logits(readout(hidden(xte)), "max").argmax(-1)
    return float((pred == yte).float().mean())


def test_learned_delays_beat_no_delays_on_lag_order_task():
    no_delay = _lag_order_accuracy(0)
    with_delay = _lag_order_accuracy(50e-3)
    assert with_delay >= 0.8
    assert with_delay > no_delay + 0.2


def test_delay_line_composes_with_foundation_layers():
    g = torch.Generator().manual_seed(2)
    net = torch.nn.Sequential(Delay(4, 6e-3, generator=g), LIFLayer(4, 3, generator=g))
    with torch.no_grad():
        net[1].weight.mul_(4.0)
    x = _spikes(p=0.5, dtype=torch.float32)
    out = net(x)
    assert out.shape == (30, 2, 3)
    out.sum().backward()
    assert net[0].delays.grad is not None and torch.isfinite(net[0].delays.grad).all()
    assert net[0].delays.grad.abs().sum() > 0


def test_seconds_equal_steps():
    """Delays given in seconds (functions with dt, the Delay line) equal the step form."""
    x = _spikes(T=30, B=2, N=3, seed=12)
    w = torch.randn(2, 3, dtype=F64, generator=torch.Generator().manual_seed(13))
    steps = torch.tensor([[0.0, 1.0, 3.0], [7.0, 2.0, 5.0]], dtype=F64)
    dt = 1e-3
    ref = delayed_linear(x, w, steps, 8)  # the former step-based call
    assert torch.equal(delayed_linear(x, w, steps * dt, 8 * dt, dt=dt), ref)
    # (DelayedLinear: test_rule_kernel.py::test_delayed_linear_seconds_equal_step_based_result)
    # fractional delays: exact whenever dt is a power of two (d / dt is then exact)
    frac = torch.tensor([[0.25, 2.5, 3.75], [6.125, 0.5, 4.0]], dtype=F64)
    dt2 = 2.0**-10
    ref2 = delayed_linear(x, w, frac, 8, mode="gaussian", sigma=1.5)
    got2 = delayed_linear(x, w, frac * dt2, 8 * dt2, mode="gaussian", sigma=1.5 * dt2, dt=dt2)
    assert torch.equal(got2, ref2)
    # float32 delays k * dt are whole steps as well (converted in float64)
    line = Delay(3, 8e-3, init=torch.tensor([1.0, 3.0, 7.0]) * 1e-3, learnable=False)
    xf = x.float()
    assert torch.equal(line(xf), shift(xf, torch.tensor([1, 3, 7])))
    # the gradient in seconds is the step gradient / dt
    d = (frac * 1e-3).requires_grad_(True)
    (g_s,) = torch.autograd.grad(delayed_linear(x, w, d, 8e-3, dt=1e-3).sum(), d)
    d2 = frac.clone().requires_grad_(True)
    (g_k,) = torch.autograd.grad(delayed_linear(x, w, d2, 8).sum(), d2)
    assert torch.allclose(g_s, g_k / 1e-3, rtol=1e-12)


def test_clamp_after_step_keeps_delays_in_range():
    lin = DelayedLinear(3, 2, 4e-3, init=2e-3, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(lin.parameters(), lr=1.0)
    handle = clamp_after_step(opt, lin)
    lin.delays.grad = torch.full_like(lin.delays, -1.0)  # a step to 1 s, far past 4 ms
    lin.weight.grad = torch.zeros_like(lin.weight)
    opt.step()
    assert torch.allclose(lin.delays.detach(), torch.full((2, 3), 4e-3))
    handle.remove()
    lin.delays.grad = torch.full_like(lin.delays, 1.0)
    opt.step()
    assert float(lin.delays.detach().max()) < 0  # without the hook nothing clamps
