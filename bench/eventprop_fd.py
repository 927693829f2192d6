"""EventProp against float64 central finite differences on every weight of small networks.

The networks of ``tests/test_rule_eventprop.py`` (6 inputs, 3 samples, 40 steps of 1 ms,
seed 3, hidden weights x8, recurrent weights x3, readout weights x3): one hidden layer of 5
(feed-forward or recurrent) and two hidden layers of 5 and 4 (feed-forward or recurrent).
For every weight: the central difference with eps = 1e-6 of the event-driven model's loss,
and whether any spike count changed under +-eps (the loss is smooth in the spike times only
where none does). Prints, per weight matrix, the maximum relative difference
max|FD - EventProp| / max|FD| (the tests check the five largest entries per matrix).

Usage::

    python bench/eventprop_fd.py
"""

from __future__ import annotations

import torch

from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.eventprop import population, simulate_events
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.network import SNNOutput
from spikegrad.tasks import ClassificationTask

F64 = torch.float64
CASES = [((5,), False, "mean"), ((5,), True, "mean"), ((5, 4), False, "mean"),
         ((5, 4), True, "max")]  # fmt: skip


def check(hidden: tuple[int, ...], recurrent: bool, mode: str, eps: float = 1e-6) -> None:
    """Print the finite-difference agreement of every weight matrix of one network."""
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(40, 3, 6, generator=g, dtype=F64) < 0.2).to(F64)
    y = torch.tensor([0, 1, 2])
    net = SpikingNetwork(6, 3, hidden, seed=3, readout_mode=mode, recurrent=recurrent).to(F64)
    with torch.no_grad():
        for layer in net.hidden_layers:
            layer.weight.mul_(8.0)
            if layer.rec_weight is not None:
                layer.rec_weight.mul_(3.0)
        net.readout.weight.mul_(3.0)
    task = ClassificationTask.__new__(ClassificationTask)  # the loss needs no data sets
    task.regularizer = None
    rule = make_rule("eventprop")
    rule.check_model(net)
    rule.gradients(net, task, x, y)
    kw = rule._setup(net)

    def loss() -> tuple[float, torch.Tensor]:
        pop = population(net)
        trace, _, counts = simulate_events(
            x, pop.weight, pop.readout, u0=net.readout.u0, coupling=pop.coupling, **kw
        )
        spikes = tuple(counts[None, :, s] for s in pop.slices)
        return float(task.loss(net, SNNOutput(trace, spikes), y)), counts

    _, c0 = loss()
    per_layer = [int(c0[:, s].sum()) for s in population(net).slices]
    print(f"hidden {hidden}, recurrent {recurrent}, readout {mode}: spikes {per_layer}")
    for name, P in net.named_parameters():
        G = P.grad.clone()
        fd = torch.zeros_like(P)
        changed = 0
        for k in range(P.numel()):
            with torch.no_grad():
                P.view(-1)[k] += eps
                lp, cp = loss()
                P.view(-1)[k] -= 2 * eps
                lm, cm = loss()
                P.view(-1)[k] += eps
            changed += not (torch.equal(cp, c0) and torch.equal(cm, c0))
            fd.view(-1)[k] = (lp - lm) / (2 * eps)
        rel = float((fd - G).abs().max() / fd.abs().max())
        print(f"  {name:22s} max rel. diff {rel:.2e}  (max |FD| {float(fd.abs().max()):.3g}, "
              f"{changed} of {P.numel()} perturbations changed a spike count)")  # fmt: skip


def main() -> int:
    torch.set_num_threads(1)
    for case in CASES:
        check(*case)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
