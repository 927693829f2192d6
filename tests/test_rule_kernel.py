"""The kernel rules as Rules (KernelRule, ReSuMe) on SRM0 models through the one trainer,
the spike-target task's views, and delays given in seconds."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional.delay import delayed_linear
from spikegrad.functional.spike_kernels import GaussianKernel
from spikegrad.functional.spiketrains import (
    SpikeTrains,
    from_slots,
    pad_trains,
    poisson_trains,
    to_slots,
)
from spikegrad.functional.srm import SRMParams, srm_simulate
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.kernel import (
    KernelRule,
    ReSuMe,
    kernel_delay_gradient,
    kernel_weight_gradient,
    resume_weight_update,
)
from spikegrad.learning.trainer import evaluate, fit
from spikegrad.nn import DelayedLinear, SpikingNetwork, SRMLayer, SRMNetwork, clamp_after_step
from spikegrad.tasks.spike_targets import SpikePatterns, SpikeTargetTask, single_target_task

F64 = torch.float64


#: small tensors: every test on one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


def _small(seed: int = 0, delays: bool = False):
    """200 Poisson inputs (10 Hz, 0.4 s), a 3-spike target, weights U(0, 0.04)."""
    g = torch.Generator().manual_seed(seed)
    inp, tgt = single_target_task(200, 10.0, 0.4, 3, generator=g)
    layer = SRMLayer(
        200, 1, duration=0.4, init_scale=0.04, generator=torch.Generator().manual_seed(10 + seed),
        learn_delays=delays,
    )  # fmt: skip
    return layer, SpikeTargetTask(SpikePatterns(inp, tgt), duration=0.4)


def _sgd(layer: SRMLayer) -> torch.optim.Optimizer:
    groups = [{"params": [layer.weight], "lr": 3e-3}]
    if layer.learn_delays:
        groups.append({"params": [layer.delays], "lr": 1e-3})
    opt = torch.optim.SGD(groups)
    clamp_after_step(opt, layer)
    return opt


def test_kernel_rule_via_fit_raises_correlation():
    layer, task = _small(0)
    c0 = evaluate(layer, task, "val")["correlation"]
    res = fit(layer, KernelRule(), task, _sgd(layer), epochs=10, batch_size=1, progress=False)
    cs = [h.val_accuracy for h in res.history]
    # measured (seed 0): C 1.4e-5 -> 0.7177 after 10 epochs
    assert c0 < 0.01
    assert cs[-1] >= 0.7 and res.metrics["val_correlation"] == pytest.approx(max(cs))
    assert res.metrics["score"] == "correlation" and res.metrics["rule"] == "kernel"


def test_kernel_rule_with_delays_gets_further():
    # with learnable delays the same task gets further in the same epochs (measured 0.9515)
    dl, task = _small(0, delays=True)
    res = fit(dl, KernelRule(), task, _sgd(dl), epochs=10, batch_size=1, progress=False)
    assert res.history[-1].val_accuracy >= 0.9
    d = dl.delays.detach()
    assert float(d.min()) >= 0.0 and float(d.max()) <= 20e-3 and float(d.abs().sum()) > 0


def test_kernel_rules_refuse_lif_models():
    net = SpikingNetwork(4, 2, (3,), seed=0)
    for rule in (KernelRule(), ReSuMe(), make_rule("kernel"), make_rule("resume")):
        with pytest.raises(SpikegradInputError, match="srm"):
            rule.check_model(net)
    layer, task = _small(0)
    with pytest.raises(SpikegradInputError, match="srm"):
        fit(net, KernelRule(), task, torch.optim.SGD(net.parameters(), lr=1.0), epochs=1,
            progress=False)  # fmt: skip
    # ReSuMe has no delay rule and trains one layer; the kernel rule at most two layers
    with pytest.raises(SpikegradInputError, match="delay rule"):
        ReSuMe().check_model(SRMLayer(3, 1, learn_delays=True))
    three = SRMNetwork([SRMLayer(3, 2), SRMLayer(2, 2), SRMLayer(2, 1)])
    with pytest.raises(SpikegradInputError, match="two"):
        KernelRule().check_model(three)
    with pytest.raises(SpikegradInputError, match="output-layer delays"):
        KernelRule().check_model(SRMNetwork([SRMLayer(3, 2), SRMLayer(2, 1, learn_delays=True)]))
    with pytest.raises(SpikegradInputError, match="width"):
        KernelRule(width=0.0)
    # an SRM0 model needs the task's spike-time view
    binned = SpikeTargetTask(task.patterns("train"), duration=0.4, view="binned")
    x, y = next(binned.batches("train", 1, dtype=F64))
    with pytest.raises(SpikegradInputError, match="view"):
        KernelRule().gradients(layer, binned, x, y)


def test_rule_gradients_are_the_formulas():
    """p.grad = the batch mean of dE/dw, dE/dd (kernel) and -dw (ReSuMe); SGD with lr then
    applies exactly the former update w + lr * dw."""
    g = torch.Generator().manual_seed(3)
    inp = poisson_trains((2, 30), 30.0, 0.3, generator=g, dtype=F64)  # two patterns
    des = pad_trains([[[0.05, 0.2]], [[0.1]]], dtype=F64)  # [2, 1, K]
    layer = SRMLayer(30, 1, duration=0.3, init_scale=0.15, generator=g, learn_delays=True,
                     delays=torch.rand(1, 30, generator=g, dtype=F64) * 0.01)  # fmt: skip
    task = SpikeTargetTask(SpikePatterns(inp, des), duration=0.3)
    x, y = next(task.batches("train", 2, dtype=F64))
    step = KernelRule(width=4e-3).gradients(layer, task, x, y)
    actual = step.out.trains
    assert actual.times.shape[:2] == (2, 1) and int(actual.mask.sum()) > 0
    k = GaussianKernel(4e-3)
    w, d = layer.weight.detach(), layer.delays.detach()
    gw = kernel_weight_gradient(inp, actual, des, k, d).mean(0)
    gd = kernel_delay_gradient(inp, actual, des, w, k, d).mean(0)
    # (equal up to the summation order of the batch's memory layout)
    assert torch.allclose(layer.weight.grad, gw, rtol=1e-14, atol=0)
    assert torch.allclose(layer.delays.grad, gd, rtol=1e-13, atol=0)
    assert float(step.loss) == pytest.approx(float(task.sample_loss(layer, step.out, y).mean()))
    before = w.clone()
    torch.optim.SGD([layer.weight], lr=3e-3).step()
    assert torch.allclose(layer.weight.detach(), before + 3e-3 * (-gw), rtol=1e-14, atol=0)
    fixed = SRMLayer(30, 1, duration=0.3, weight=before, delays=d)
    ReSuMe(a=0.1).gradients(fixed, task, x, y)
    out = fixed(x).trains
    dw = resume_weight_update(inp, out, des, d, a=0.1).mean(0)
    assert torch.allclose(fixed.weight.grad, -dw, rtol=1e-14, atol=0)


def test_srm_layer_is_the_simulator_and_slots_round_trip():
    g = torch.Generator().manual_seed(1)
    inp = poisson_trains((3, 20), 40.0, 0.2, generator=g, dtype=F64)
    x = to_slots(inp)
    assert x.shape == (inp.times.shape[-1], 3, 20)
    assert bool(torch.isinf(x[~inp.mask.permute(2, 0, 1)]).all())
    back = from_slots(x)
    assert torch.equal(back.mask, inp.mask)
    assert torch.equal(back.times[back.mask], inp.times[inp.mask])
    w = torch.rand(2, 20, generator=g, dtype=F64) * 0.3
    layer = SRMLayer(20, 2, duration=0.2, weight=w)
    ref, _ = srm_simulate(inp, w, SRMParams(duration=0.2))
    for arg in (inp, x):
        out = layer(arg)
        assert torch.equal(out.trains.times, ref.times) and torch.equal(out.trains.mask, ref.mask)
        assert torch.equal(out.spikes[0], ref.mask.sum(-1).to(F64).unsqueeze(0))  # [1, B, O]
    # two layers: the hidden trains feed the output layer
    top = SRMLayer(2, 1, duration=0.2, weight=torch.full((1, 2), 0.6, dtype=F64))
    net = SRMNetwork([layer, top])
    o = net(inp)
    ref2, _ = srm_simulate(ref, top.weight.detach(), SRMParams(duration=0.2))
    assert o.layers[0] is not o.trains and torch.equal(o.trains.times, ref2.times)
    with pytest.raises(SpikegradInputError, match="20"):
        layer(poisson_trains((1, 5), 10.0, 0.2, generator=g, dtype=F64))


def test_spike_target_task_views_loss_and_score():
    inp = pad_trains([[0.010, 0.030], [0.020]], dtype=F64)  # [2, M]
    des = pad_trains([0.0504], dtype=F64)
    task = SpikeTargetTask(SpikePatterns(inp, des), duration=0.1, dt=1e-3, vr_tau=10e-3)
    x, y = next(task.batches("test", 4, dtype=F64))
    assert x.shape == (2, 1, 2) and y.shape == (1, 1, 1) and task.size("val") == 1
    perfect = SimpleNamespace(trains=SpikeTrains.from_padded(y))
    assert task.score(None, perfect, y).tolist() == [1.0]
    assert task.sample_loss(None, perfect, y).tolist() == [0.0]
    empty = SpikeTrains(torch.zeros(1, 1, 0, dtype=F64), torch.zeros(1, 1, 0, dtype=torch.bool))
    silent = SimpleNamespace(trains=empty)
    assert task.score(None, silent, y).tolist() == [0.0]
    assert task.sample_loss(None, silent, y).item() == pytest.approx(math.sqrt(0.5))  # D^2 = 1/2
    # the binned view: [T, B, N] inputs, desired spikes moved to their bins
    binned = SpikeTargetTask(SpikePatterns(inp, des), duration=0.1, view="binned")
    xb, yb = next(binned.batches("train", 1))
    assert xb.shape == (100, 1, 2) and xb[10, 0, 0] == 1 and xb[20, 0, 1] == 1
    assert yb.item() == pytest.approx(0.050)
    s = torch.zeros(100, 1, 1, requires_grad=True)
    loss = binned.loss(None, SimpleNamespace(spikes=(s,)), yb)
    loss.backward()  # differentiable: the BPTT objective
    assert loss.item() == pytest.approx(sum(math.exp(-0.2 * n) for n in range(50)) * 0.1)
    assert s.grad.abs().sum() > 0
    with pytest.raises(SpikegradInputError, match="view"):
        task.score(None, SimpleNamespace(spikes=(s,)), y)
    with pytest.raises(SpikegradInputError, match="view"):
        SpikeTargetTask(SpikePatterns(inp, des), duration=0.1, view="dense")


def test_delayed_linear_seconds_equal_step_based_result():
    """DelayedLinear takes delays in seconds; with dt they convert to exactly the former
    step-based result (delays in steps)."""
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 2, 3, generator=g) < 0.3).to(F64)
    w = torch.randn(4, 3, generator=g, dtype=F64)
    steps = torch.tensor([[0, 1, 2], [3, 0, 5], [9, 4, 4], [6, 7, 8]], dtype=F64)
    old = delayed_linear(x, w, steps, 10)  # the former API: steps
    for dt in (1e-3, 5e-4):
        for dtype in (torch.float32, F64):  # seconds stored in float32 convert exactly too
            lin = DelayedLinear(3, 4, 10 * dt, dt=dt, init=(steps * dt).to(dtype), learnable=True)
            lin = lin.double()
            with torch.no_grad():
                lin.weight.copy_(w)
            assert torch.equal(lin(x), old), (dt, dtype)
    # fractional delays: exact where d / dt is exact (dt a power of two)
    frac = torch.tensor([[0.5, 1.25, 2.75], [3.5, 0.125, 5.0], [9.5, 4.25, 4.0],
                         [6.0, 7.75, 8.5]], dtype=F64)  # fmt: skip
    dt = 2.0**-10
    lin = DelayedLinear(3, 4, 10 * dt, dt=dt, init=frac * dt, mode="gaussian", sigma=2 * dt)
    lin = lin.double()
    with torch.no_grad():
        lin.weight.copy_(w)
    assert torch.equal(lin(x), delayed_linear(x, w, frac, 10, mode="gaussian", sigma=2.0))

