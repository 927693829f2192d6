"""The ``eprop`` rule of the one trainer: equal to BPTT without recurrence, aligned with it."""

import json

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.cli import main
from spikegrad.data.spikes import SpikeDataset
from spikegrad.functional.alif import ALIFParams
from spikegrad.functional.eprop import (
    ALIFTraces,
    EligibilityTraces,
    alif_eligibility_step,
    eligibility_step,
)
from spikegrad.functional.lif import LIFParams, LIFState
from spikegrad.functional.regularization import ActivityRegularizer
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.bptt import BPTT
from spikegrad.learning.rules.eprop import Eprop
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.alif import ALIFNetwork
from spikegrad.tasks.classification import ClassificationTask

D = torch.float64


def _problem(seed=0, *, recurrent=False, T=40, B=4, **net_kw):
    """12 Bernoulli(0.15) inputs, 16 active LIF neurons, 3 classes, float64."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, 12, generator=g, dtype=D) < 0.15).to(D)
    y = torch.randint(0, 3, (B,), generator=g)
    ds = SpikeDataset.from_dense(x.transpose(0, 1), y, n_classes=3)
    # both bounds active: the learning signal also carries the regulariser's gradient
    reg = ActivityRegularizer(
        lower_strength=1.0, lower_threshold=2.0, upper_strength=1.0, upper_threshold=0.5
    )
    task = ClassificationTask(ds, ds, ds, regularizer=reg)
    net = SpikingNetwork(12, 3, (16,), recurrent=recurrent, seed=seed, **net_kw).to(D)
    with torch.no_grad():
        net.layers[0].weight.mul_(6.0)
        if recurrent:
            net.layers[0].rec_weight.mul_(2.0)
    return net, task, x, y


def _grads(rule, net, task, x, y):
    step = rule.gradients(net, task, x, y)
    return step, {k: p.grad.clone() for k, p in net.named_parameters()}


@pytest.mark.parametrize(
    "kw",
    [
        dict(readout_mode="max"),
        dict(readout_mode="mean"),
        dict(readout_mode="last", learn_tau=True),
        dict(readout_mode="max", recurrent=True, recurrent_grad=False),
    ],
    ids=["max", "mean", "last-learn-tau", "recurrent-no-recurrent-grad"],
)
def test_eprop_equals_bptt_without_recurrent_paths(kw):
    # feed-forward with a detached reset: dS_j/dW_ji depends on neuron j's own state only,
    # so the forward traces give the BPTT gradient; recurrent_grad=False makes BPTT drop
    # the same paths through V that e-prop drops
    net, task, x, y = _problem(**kw)
    se, ge = _grads(make_rule("eprop"), net, task, x, y)
    sb, gb = _grads(BPTT(), net, task, x, y)
    assert float(se.loss) == pytest.approx(float(sb.loss), rel=1e-12)
    assert se.out.spikes[0].sum() > 20  # an active layer: the check is not vacuous
    assert set(ge) == set(gb)
    for name, g in gb.items():
        assert float(g.norm()) > 1e-6, name
        torch.testing.assert_close(ge[name], g, rtol=1e-13, atol=1e-16, msg=name)


def test_recurrent_eprop_is_aligned_with_bptt():
    cos, rel = [], []
    for seed in range(3):
        net, task, x, y = _problem(seed, recurrent=True)
        _, ge = _grads(Eprop(), net, task, x, y)
        _, gb = _grads(BPTT(), net, task, x, y)
        torch.testing.assert_close(ge["readout.weight"], gb["readout.weight"],
                                   rtol=1e-15, atol=1e-15)  # exact
        for name in ("layers.0.weight", "layers.0.rec_weight"):
            a, b = ge[name], gb[name]
            cos.append(float((a * b).sum() / (a.norm() * b.norm())))
            rel.append(float((a - b).norm() / b.norm()))
    # measured: cosines 0.990..0.995, relative differences 0.10..0.15
    assert min(cos) > 0.9
    assert min(rel) > 1e-3  # it does differ: the paths through V are dropped


def test_eligibility_step_by_hand():
    # one neuron, two inputs, beta_m = 0.5, beta_s = 0.25; the neuron spikes at step 1
    p = LIFParams(0.5, 0.25)
    tr = EligibilityTraces.zeros(1, 1, 2, recurrent=True, taus=False, dtype=D)
    x = torch.tensor([[1.0, 0.0]], dtype=D)
    st = LIFState(torch.zeros(1, 1, dtype=D), torch.zeros(1, 1, dtype=D))
    tr = eligibility_step(x, torch.zeros(1, 1, dtype=D), st, tr, p)
    assert tr.ei_in.tolist() == [[1.0, 0.0]] and tr.eu_in.tolist() == [[[0.0, 0.0]]]
    tr = eligibility_step(x, torch.ones(1, 1, dtype=D), st, tr, p)
    # eps_I = 0.25 * 1 + 1; eps_U = (1 - S)(...) = 0 after the spike; V's eps_I = S = 1
    assert tr.ei_in.tolist() == [[1.25, 0.0]] and tr.eu_in.tolist() == [[[0.0, 0.0]]]
    assert tr.ei_rec.tolist() == [[1.0]]
    tr = eligibility_step(x * 0, torch.zeros(1, 1, dtype=D), st, tr, p)
    # eps_U = 0.5 * 0 + 0.5 * 1.25
    assert tr.eu_in.tolist() == [[[0.625, 0.0]]] and tr.eu_rec.tolist() == [[[0.5]]]


def test_unsupported_models_are_named():
    rule = make_rule("eprop")
    assert rule.name == "eprop" and rule.models == ("lif", "alif") and not rule.exact
    with pytest.raises(SpikegradInputError, match=r"exactly one hidden layer.*has 2 hidden"):
        rule.check_model(SpikingNetwork(4, 2, (5, 5)))
    with pytest.raises(SpikegradInputError, match="reset='detach'"):
        rule.check_model(SpikingNetwork(4, 2, (5,), reset="differentiable"))

    class Other(torch.nn.Module):
        kind = "srm"

    with pytest.raises(SpikegradInputError, match="it trains: lif, alif"):
        rule.check_model(Other())
    rule.check_model(SpikingNetwork(4, 2, (5,), recurrent=True))


def _train_args(out, *extra):
    return [
        "train", "--rule", "eprop", "--classes", "3", "--samples-per-class", "30",
        "--hidden", "16", "--epochs", "3", "--batch-size", "30", "--init", "fluctuation",
        "--quiet", "--no-plots", "--out", str(out), *extra,
    ]  # fmt: skip


def test_train_command_with_eprop(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(_train_args(out)) == 0
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt", "last.pt"):
        assert (out / name).is_file(), name
    assert json.loads((out / "config.json").read_text())["rule"] == "eprop"
    rows = (out / "history.csv").read_text().splitlines()[1:]
    loss = [float(r.split(",")[1]) for r in rows]
    # measured (seed 0): 1.0921, 1.0679, 1.0424; with seeds 1-4 it falls by 0.02-0.04
    assert len(loss) == 3 and loss[-1] < loss[0] - 0.03
    capsys.readouterr()
    bad = tmp_path / "deep"
    assert main(_train_args(bad, "--hidden", "16", "16")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "one hidden layer" in err


# ------------------------------------------------------------------ e-prop on ALIF
def _alif_problem(seed=0, *, recurrent=False, T=40, B=4, **net_kw):
    """The LIF problem's data and task on an ALIFNetwork (adapt 0.5: strong adaptation)."""
    _, task, x, y = _problem(seed, T=T, B=B)
    net_kw.setdefault("adapt", 0.5)
    net = ALIFNetwork(12, 3, (16,), recurrent=recurrent, seed=seed, **net_kw).to(D)
    with torch.no_grad():
        net.layers[0].weight.mul_(6.0)
        if recurrent:
            net.layers[0].rec_weight.mul_(2.0)
    return net, task, x, y


@pytest.mark.parametrize(
    "kw",
    [
        dict(tau_adapt=20e-3),
        dict(reset="subtract"),
        dict(reset="differentiable"),
        dict(refractory=2e-3),
        dict(recurrent=True, recurrent_grad=False),
        dict(backend="reference", threshold=1.3),
    ],
    ids=["detach", "subtract", "differentiable", "refractory", "recurrent-no-grad",
         "reference-threshold"],
)
def test_alif_eprop_equals_bptt_without_recurrent_paths(kw):
    # every path from W_ji to the loss runs through neuron j's own (U, I, A) and its
    # spikes: the ALIF eligibility vectors (eps^U, eps^A) give the BPTT gradient exactly.
    # measured: largest difference / largest entry 3e-16 .. 6e-16 (float64)
    net, task, x, y = _alif_problem(**kw)
    se, ge = _grads(make_rule("eprop"), net, task, x, y)
    sb, gb = _grads(BPTT(), net, task, x, y)
    assert float(se.loss) == pytest.approx(float(sb.loss), rel=1e-12)
    assert se.out.spikes[0].sum() > 40  # measured 51 .. 74 spikes
    assert set(ge) == set(gb)
    for name, g in gb.items():
        assert float(g.norm()) > 1e-3, name
        torch.testing.assert_close(ge[name], g, rtol=1e-12, atol=1e-16, msg=name)


def test_alif_eprop_needs_the_adaptation_trace():
    # the same network with eps^A left out (the LIF traces on the ALIF spikes) is wrong:
    # the adaptation trace carries a measurable part of the gradient
    from spikegrad.learning.rules.eprop import alif_layer_gradients

    net, task, x, y = _alif_problem()
    _, gb = _grads(BPTT(), net, task, x, y)
    layer = net.layers[0]
    spikes, mem = layer(x, record_membrane=True)
    leaf = spikes.detach().requires_grad_(True)
    from spikegrad.nn.network import SNNOutput

    task.loss(net, SNNOutput(net.readout(leaf), (leaf,), ()), y).backward()
    p = layer.neuron_params()
    full = alif_layer_gradients(x, spikes, mem, leaf.grad, p, layer.surrogate,
                                weight=layer.weight.detach())
    torch.testing.assert_close(full.weight, gb["layers.0.weight"], rtol=1e-13, atol=1e-17)
    # rho = 0 and alpha = 0 in the traces only (the threshold, h, keeps alpha A)
    import spikegrad.learning.rules.eprop as ep

    real = ep.alif_eligibility_step

    def no_adaptation(*a, **k):
        args = list(a)
        args[4] = args[4]._replace(rho=0.0, adapt=0.0)
        return real(*args, **k)

    ep.alif_eligibility_step = no_adaptation
    try:
        partial = alif_layer_gradients(x, spikes, mem, leaf.grad, p, layer.surrogate,
                                       weight=layer.weight.detach())
    finally:
        ep.alif_eligibility_step = real
    g = gb["layers.0.weight"]
    rel = float((partial.weight - g).norm() / g.norm())
    assert rel > 0.1, rel  # measured 0.262


def test_recurrent_alif_eprop_is_aligned_with_bptt():
    cos, rel = [], []
    for seed in range(3):
        net, task, x, y = _alif_problem(seed, recurrent=True)
        _, ge = _grads(Eprop(), net, task, x, y)
        _, gb = _grads(BPTT(), net, task, x, y)
        torch.testing.assert_close(ge["readout.weight"], gb["readout.weight"],
                                   rtol=1e-15, atol=1e-15)  # exact
        for name in ("layers.0.weight", "layers.0.rec_weight"):
            a, b = ge[name], gb[name]
            cos.append(float((a * b).sum() / (a.norm() * b.norm())))
            rel.append(float((a - b).norm() / b.norm()))
    # measured: cosines 0.9957 .. 0.9979, relative differences 0.064 .. 0.096
    assert min(cos) > 0.99
    assert min(rel) > 0.03  # it does differ: the paths through V are dropped


def test_alif_eprop_refuses_what_it_does_not_trace():
    rule = make_rule("eprop")
    rule.check_model(ALIFNetwork(4, 2, (5,), recurrent=True, reset="subtract", refractory=2e-3))
    with pytest.raises(SpikegradInputError, match="exactly one hidden layer"):
        rule.check_model(ALIFNetwork(4, 2, (5, 5)))
    with pytest.raises(SpikegradInputError, match="learns threshold, adapt"):
        rule.check_model(ALIFNetwork(4, 2, (5,), learn_threshold=True, learn_adapt=True))


def test_alif_eligibility_step_by_hand():
    # one neuron, one input; beta_m = 0.5, beta_s = 0.25, rho = 0.5, alpha = 0.5; the
    # surrogate derivatives h are given, so every number below is checked by hand
    p = ALIFParams(0.5, 0.25, rho=0.5, threshold=1.0, adapt=0.5)

    def run(reset, steps):
        tr = ALIFTraces.zeros(1, 1, 1, dtype=D)
        for x_n, s_n, h_n in steps:
            x_ = torch.tensor([[x_n]], dtype=D)
            tr = alif_eligibility_step(x_, torch.tensor([[s_n]], dtype=D),
                                       torch.tensor([[h_n]], dtype=D), tr, p, reset=reset)
        return float(tr.ei_in), float(tr.eu_in), float(tr.ea_in)

    steps = [(1.0, 0.0, 0.3), (0.0, 0.0, 0.3), (0.0, 1.0, 0.4), (0.0, 0.0, 0.5)]
    # n=0: eI = 1, eU = eA = 0;  n=1: eU = 0.5*0 + 0.5*1 = 0.5, eI = 0.25
    # n=2 (spike, h = 0.4): e = 0.4 (0.5 - 0.5*0) = 0.2 -> eA = 0.2; eU = 0 (reset);
    #     eI = 0.0625
    # n=3 (h = 0.5): e = 0.5 (0 - 0.5*0.2) = -0.05 -> eA = 0.5*0.2 - 0.05 = 0.05;
    #     eU = 0.5*0 + 0.5*0.0625 = 0.03125; eI = 0.015625
    assert run("detach", steps[:2]) == (0.25, 0.5, 0.0)
    assert run("detach", steps[:3]) == (0.0625, 0.0, 0.2)
    assert run("detach", steps) == (0.015625, 0.03125, 0.05)
    # subtract: n=2 eU = 0.5*0.5 + 0.5*0.25 - 1*0.5*0 = 0.375;
    # n=3: e = 0.5 (0.375 - 0.5*0.2) = 0.1375, eA = 0.1 + 0.1375 = 0.2375,
    #      eU = 0.5*0.375 + 0.5*0.0625 - 0 = 0.21875
    assert run("subtract", steps[:3]) == (0.0625, 0.375, 0.2)
    ei, eu, ea = run("subtract", steps)
    assert (ei, eu) == (0.015625, 0.21875) and ea == pytest.approx(0.2375, abs=1e-15)
