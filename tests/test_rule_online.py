"""OTTT and OSTL (memory independent of T) against unrolled float64 references, training,
the CLI and the refusals.

Numbers asserted here were measured on fixed seeds (one torch thread) and are quoted next
to each assertion; tolerances leave at most 100x the measured agreement.
"""

from __future__ import annotations

import json

import pytest
import torch

from rule_support import train_on_randman
from spikegrad._checks import SpikegradInputError
from spikegrad.cli import main
from spikegrad.data.randman import make_randman
from spikegrad.learning.config import fluctuation_rates
from spikegrad.learning.rules import make_rule, rule_matrix
from spikegrad.learning.rules.online import online_objective
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.network import SNNOutput
from spikegrad.tasks import ClassificationTask

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def randman():
    tr, va, te = make_randman(n_classes=3, n_units=20, n_steps=50, samples_per_class=30, seed=0)
    task = ClassificationTask(tr, va, te)
    x, y = next(tr.batches(10, shuffle=False, dtype=F64))
    return task, x, y, fluctuation_rates(tr)


def _net(rates, hidden=(16,), **kw):
    return SpikingNetwork(20, 3, hidden=hidden, seed=0, init="fluctuation",
                          input_rate=rates[0], hidden_rate=rates[1], backend="reference",
                          **kw).to(F64)


def _grads(net):
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


# ------------------------------------------------------------------------------ OSTL
@pytest.mark.parametrize("recurrent", [False, True])
def test_ostl_is_bptt_of_the_online_objective(randman, recurrent):
    # one hidden layer: OSTL is exact (feed-forward) / equals BPTT without the recurrent
    # paths (recurrent_grad=False drops exactly the paths e-prop-style traces drop)
    task, x, y, rates = randman
    net = _net(rates, recurrent=recurrent, recurrent_grad=False)
    step = make_rule("ostl").gradients(net, task, x, y)
    got = _grads(net)
    for p in net.parameters():
        p.grad = None
    out = net(x)
    ref = online_objective(net, task, out.readout, y)
    ref.backward()
    assert out.spikes[0].sum() > 100  # the hidden layer is active (180 / 260 spikes)
    assert float(step.loss) == pytest.approx(ref.item(), rel=1e-12)
    want = _grads(net)
    assert set(got) == set(want)
    for name in want:
        # measured max relative difference 3e-16 (weights), 4e-16 (readout)
        assert _rel(got[name], want[name]) < 3e-14, name
    # the logits and spike counts the rule returns are the model's own (its readout is the
    # trace reduced by readout_mode, one step: memory independent of T)
    assert step.out.readout.shape == (1, 10, 3)
    for mode in ("max", "mean", "last"):
        net.readout_mode = mode
        got_logits = net.logits(make_rule("ostl").gradients(net, task, x, y).out)
        torch.testing.assert_close(got_logits, net.logits(out).detach(), rtol=1e-12,
                                   atol=1e-14)
    torch.testing.assert_close(step.out.spikes[0][0], out.spikes[0].sum(0))


# ------------------------------------------------------------------------------ OTTT
class _Filt:
    """a_hat[n] of an input (the reset-free synapse and membrane filter), detached."""

    def __init__(self, beta_m, beta_s, shape):
        self.bm, self.bs = beta_m, beta_s
        self.j, self.a = torch.zeros(shape, dtype=F64), torch.zeros(shape, dtype=F64)

    def step(self, z):
        self.a, self.j = self.bm * self.a + (1 - self.bm) * self.j, self.bs * self.j + z.detach()


def _ottt_reference(net, task, x, y):
    """OTTT as autograd of an unrolled graph with straight-through presynaptic traces.

    Each layer's membrane carries its true value but differentiates as
    ``W a_hat[n] + V a_hat_rec[n]`` (the reset-free membrane, traces detached), and each
    spike reaches the layer above through its trace with d a_hat[n] / d S[n] = 1:
    autograd of the mean per-step loss through this graph is the OTTT gradient. It keeps
    the whole T-step graph (a reference, not a rule).
    """
    T, B, _ = x.shape
    layers, ro = net.hidden_layers, net.readout
    dec = [layer.taus.params() for layer in layers]
    f_in = [_Filt(*d, (B, la.weight.shape[1])) for d, la in zip(dec, layers, strict=True)]
    f_rec = [_Filt(*d, (B, la.weight.shape[0])) for d, la in zip(dec, layers, strict=True)]
    bmo, bso = ro.taus.params()
    f_o = _Filt(bmo, bso, (B, ro.weight.shape[1]))
    u = [torch.zeros(B, layer.weight.shape[0], dtype=F64) for layer in layers]
    i = [torch.zeros_like(v) for v in u]
    uo = torch.zeros(B, 3, dtype=F64) + ro.u0
    io = torch.zeros_like(uo)
    total = 0.0
    for n in range(T):
        h = h_st = x[n]
        for k, layer in enumerate(layers):
            a_in = f_in[k].a + (h_st - h_st.detach())  # value a_hat, d/dS = 1
            lin = a_in @ layer.weight.t()
            if layer.rec_weight is not None:
                lin = lin + f_rec[k].a @ layer.rec_weight.t()
            u_st = u[k] + (lin - lin.detach())
            s_st = layer.surrogate.spike(u_st - 1.0)
            s = s_st.detach()
            cur = h @ layer.weight.detach().t()
            if layer.rec_weight is not None:
                cur = cur + s @ layer.rec_weight.detach().t()
                f_rec[k].step(s)
            f_in[k].step(h)
            bm, bs = dec[k]
            u[k] = (bm * u[k] + (1 - bm) * i[k]) * (1 - s)
            i[k] = bs * i[k] + cur
            h, h_st = s, s_st
        a_o = f_o.a + (h_st - h_st.detach())
        lin = a_o @ ro.weight.t()
        uo_st = uo + (lin - lin.detach())
        total = total + task.sample_loss(net, SNNOutput(uo_st[None], ()), y).mean()
        uo, io = bmo * uo + (1 - bmo) * io, bso * io + h @ ro.weight.detach().t()
        f_o.step(h)
    return total / T


@pytest.mark.parametrize("hidden,recurrent", [((16,), False), ((16,), True),
                                              ((16, 12), False), ((16, 12), True)])
def test_ottt_matches_its_unrolled_reference(randman, hidden, recurrent):
    task, x, y, rates = randman
    net = _net(rates, hidden=hidden, recurrent=recurrent)
    step = make_rule("ottt").gradients(net, task, x, y)
    got = _grads(net)
    for p in net.parameters():
        p.grad = None
    ref = _ottt_reference(net, task, x, y)
    ref.backward()
    want = _grads(net)
    assert set(got) == set(want) == {n for n, _ in net.named_parameters()}
    assert float(step.loss) == pytest.approx(ref.item(), rel=1e-12)
    for name in want:
        assert want[name].abs().max() > 0, name  # every weight gets a signal
        # measured max relative difference 6.0e-16, 5.3e-16, 6.8e-16, 3.7e-16 (the four cases)
        assert _rel(got[name], want[name]) < 5e-14, name


def test_ottt_readout_gradient_is_exact_and_hidden_is_aligned(randman):
    # the readout is linear in its presynaptic trace: OTTT's readout gradient is BPTT's
    # of the same objective; the hidden gradient is an approximation (cosine measured)
    task, x, y, rates = randman
    net = _net(rates)
    make_rule("ottt").gradients(net, task, x, y)
    got = _grads(net)
    for p in net.parameters():
        p.grad = None
    online_objective(net, task, net(x).readout, y).backward()
    want = _grads(net)
    assert _rel(got["readout.weight"], want["readout.weight"]) < 3e-14  # measured 4e-16
    a, b = got["layers.0.weight"].flatten(), want["layers.0.weight"].flatten()
    cos = float(a @ b / (a.norm() * b.norm()))
    assert cos > 0.8, cos  # measured 0.905


def test_online_rules_train_on_randman():
    # fixed seed, 20 Adam steps on one 3-class Randman batch: the online objective falls
    res = {}
    for name in ("ottt", "ostl"):
        losses, net, x, y = train_on_randman(name, hidden=32, batch=90, steps=20)
        with torch.no_grad():
            acc = float((net.logits(net(x)).argmax(1) == y).double().mean())
        res[name] = (losses[0], losses[-1], acc)
    for name, (first, last, acc) in res.items():
        # measured: ottt 1.0985 -> 0.9798, accuracy 0.722; ostl 1.0985 -> 0.9690, 0.750
        assert last < first - 0.05, name
        assert acc > 0.6, name  # chance 1/3


def test_online_rules_refuse_what_they_cannot_trace(randman):
    _, _, _, rates = randman
    with pytest.raises(SpikegradInputError, match="one hidden layer"):
        make_rule("ostl").check_model(_net(rates, hidden=(8, 8)))
    make_rule("ottt").check_model(_net(rates, hidden=(8, 8)))
    for name in ("ottt", "ostl"):
        with pytest.raises(SpikegradInputError, match="reset='detach'"):
            make_rule(name).check_model(SpikingNetwork(4, 2, (5,), reset="differentiable"))
        with pytest.raises(SpikegradInputError, match="reset='detach'"):
            make_rule(name).check_model(SpikingNetwork(4, 2, (5,), learn_tau=True))
    assert rule_matrix()["ottt"] == rule_matrix()["ostl"] == ["lif"]


@pytest.mark.parametrize("rule", ["ottt", "ostl"])
def test_train_command_with_online_rules(tmp_path, capsys, rule):
    out = tmp_path / "run"
    args = ["train", "--rule", rule, "--classes", "3", "--samples-per-class", "30",
            "--hidden", "16", "--epochs", "3", "--batch-size", "30", "--init", "fluctuation",
            "--quiet", "--no-plots", "--out", str(out)]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["rule"] == rule
    rows = (out / "history.csv").read_text().splitlines()[1:]
    loss = [float(r.split(",")[1]) for r in rows]
    # measured (seed 0): ottt 1.1040, 1.0917, 1.0850; ostl 1.1041, 1.0912, 1.0854
    assert len(loss) == 3 and loss[-1] < loss[0] - 0.01
    capsys.readouterr()
    if rule == "ostl":
        assert main([*args[:-1], str(tmp_path / "deep"), "--hidden", "16", "16"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "one hidden layer" in err


# ---------------------------------------------------------------------- random e-prop
def test_random_eprop_is_bptt_with_random_feedback(randman):
    # reference: BPTT of the online objective through the hidden layer, with the readout's
    # input current S W^o.T in value but S B.T in the gradient (random feedback B)
    from spikegrad.functional.lif import li_sequence
    from spikegrad.learning.rules.online import RandomEprop

    task, x, y, rates = randman
    net = _net(rates)
    rule = make_rule("eprop-random", seed=3)
    assert isinstance(rule, RandomEprop) and rule.to_dict() == {"seed": 3}
    rule.gradients(net, task, x, y)
    got = _grads(net)
    B = rule._feedback(net.readout.weight.detach())
    assert B.shape == (3, 16) and float(B.abs().max()) <= 16**-0.5
    assert torch.equal(B, make_rule("eprop-random", seed=3)._feedback(net.readout.weight))
    for p in net.parameters():
        p.grad = None
    s = net.layers[0](x)
    cur = s.detach() @ net.readout.weight.t() + (s @ B.t() - (s @ B.t()).detach())
    readout = li_sequence(cur, net.readout.taus.params(), u0=net.readout.u0)
    online_objective(net, task, readout, y).backward()
    want = _grads(net)
    for name in want:
        # measured max relative difference 7.1e-16 (W), 4.9e-16 (readout)
        assert _rel(got[name], want[name]) < 4e-14, name
    # a different seed is a different matrix, hence a different hidden gradient
    make_rule("eprop-random", seed=4).gradients(net, task, x, y)
    assert _rel(net.layers[0].weight.grad, got["layers.0.weight"]) > 0.1  # measured 0.94
    with pytest.raises(SpikegradInputError, match="seed"):
        make_rule("eprop-random", seed=-1)


def test_random_eprop_trains_on_randman():
    losses, *_ = train_on_randman("eprop-random", hidden=32, batch=90, steps=20)
    assert losses[-1] < losses[0] - 0.05  # measured 1.0985 -> 0.9978
