"""EventProp: the exact gradient of the event-driven LIF model (float64 central finite
differences of the same model, spike count unchanged under the perturbation), training,
the CLI and the refusals.

Numbers asserted here were measured on fixed seeds and are quoted next to each assertion;
tolerances leave at most 100x the measured agreement.
"""

from __future__ import annotations

import json

import pytest
import torch

from rule_support import train_on_randman
from spikegrad._checks import SpikegradInputError
from spikegrad.cli import main
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.eventprop import simulate_events
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.network import SNNOutput
from spikegrad.tasks import ClassificationTask

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")


def _problem(mode):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(40, 3, 6, generator=g, dtype=F64) < 0.2).to(F64)
    y = torch.tensor([0, 1, 2])
    net = SpikingNetwork(6, 3, (5,), seed=3, readout_mode=mode).to(F64)
    with torch.no_grad():
        net.layers[0].weight.mul_(8.0)
        net.readout.weight.mul_(3.0)
    task = ClassificationTask.__new__(ClassificationTask)  # the loss needs no data sets
    task.regularizer = None
    return net, task, x, y


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_eventprop_is_the_finite_difference_gradient(mode):
    net, task, x, y = _problem(mode)
    rule = make_rule("eventprop")
    rule.check_model(net)
    step = rule.gradients(net, task, x, y)
    kw = rule._setup(net)
    W, Wo = net.layers[0].weight.detach().clone(), net.readout.weight.detach().clone()

    def loss(w, wo):
        trace, events, counts = simulate_events(x, w, wo, u0=net.readout.u0, **kw)
        return float(task.loss(net, SNNOutput(trace, (counts[None],)), y)), counts

    events = simulate_events(x, W, Wo, u0=net.readout.u0, **kw)[1]
    assert max(len(e) for e in events) == 2  # a neuron fires twice inside one step
    l0, c0 = loss(W, Wo)
    assert float(step.loss) == pytest.approx(l0, rel=1e-15)
    # 99 spikes from hidden units 1 and 3 (the others silent), some steps hold two spikes
    # of one neuron (found inside the step after its reset)
    assert c0.sum() == 99 and c0[:, [0, 2, 4]].sum() == 0
    eps = 1e-6
    for name, P, G in (("W", W, net.layers[0].weight.grad),
                       ("Wo", Wo, net.readout.weight.grad)):
        fd = torch.zeros_like(P)
        for k in range(P.numel()):
            if name == "W" and k // P.shape[1] in (0, 2, 4):
                continue  # a silent neuron: its row of G must be 0 (asserted below)
            d = torch.zeros(P.numel(), dtype=F64)
            d[k] = eps
            d = d.view_as(P)
            (lp, cp), (lm, cm) = ((loss(P + s * d, Wo) if name == "W" else loss(W, P + s * d))
                                  for s in (1.0, -1.0))
            assert torch.equal(cp, c0) and torch.equal(cm, c0)  # no spike appears or vanishes
            fd.view(-1)[k] = (lp - lm) / (2 * eps)
        rel = float((fd - G).abs().max() / fd.abs().max())
        assert not G[[0, 2, 4]].any() if name == "W" else True
        # measured: W 1.7e-9 (mean) / 1.3e-9 (max); Wo 4.5e-10 / 4.6e-11
        assert rel < (1.2e-7 if name == "W" else 4e-9), (name, rel)


def test_eventprop_trains_on_randman():
    # 15 Adam steps on one batch of 30, 16 hidden neurons (about 600 spikes per batch)
    losses, *_ = train_on_randman("eventprop", hidden=16, batch=30, steps=15)
    assert losses[-1] < losses[0] - 0.05  # measured 1.0760 -> 0.9721


def test_eventprop_refuses_what_it_cannot_simulate():
    for net in (SpikingNetwork(4, 2, (5, 5)), SpikingNetwork(4, 2, (5,), recurrent=True)):
        with pytest.raises(SpikegradInputError, match="one feed-forward hidden layer"):
            make_rule("eventprop").check_model(net)
    with pytest.raises(SpikegradInputError, match="tau_mem != tau_syn"):
        make_rule("eventprop").check_model(SpikingNetwork(4, 2, (5,), tau_mem=5e-3))


def test_train_command_with_eventprop(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "--rule", "eventprop", "--classes", "3", "--samples-per-class", "30",
            "--hidden", "16", "--epochs", "3", "--batch-size", "30", "--init", "fluctuation",
            "--quiet", "--no-plots", "--out", str(out)]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["rule"] == "eventprop"
    rows = (out / "history.csv").read_text().splitlines()[1:]
    loss = [float(r.split(",")[1]) for r in rows]
    # measured (seed 0): 1.0961, 1.0704, 1.0472 (the event model's task loss)
    assert len(loss) == 3 and loss[-1] < loss[0] - 0.02
    capsys.readouterr()
    assert main([*args[:-1], str(tmp_path / "rec"), "--recurrent"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "feed-forward" in err
