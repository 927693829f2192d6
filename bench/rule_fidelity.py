"""Gradient fidelity of the learning rules: cosine to surrogate-gradient BPTT on one batch.

A 3-class Randman task (20 units, 50 steps, seed 0), a SpikingNetwork 20 -> 32 -> 3
(fluctuation-driven initialisation, seed 0, float64, reference backend), the first 30
training samples, no activity regulariser. Per rule: the cosine between its gradient and
BPTT's gradient of the task loss (cross-entropy of the max-over-time readout), per weight
matrix and over all weights; for OTTT and OSTL also the cosine to BPTT's gradient of their
own objective (the mean per-step loss, :func:`spikegrad.learning.rules.online.online_objective`).

Usage::

    python bench/rule_fidelity.py
"""

from __future__ import annotations

import torch

from spikegrad.data.randman import make_randman
from spikegrad.learning.config import fluctuation_rates
from spikegrad.learning.rules import make_rule
from spikegrad.learning.rules.online import online_objective
from spikegrad.nn import SpikingNetwork
from spikegrad.tasks import ClassificationTask

F64 = torch.float64


def _grads(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone().flatten() for n, p in net.named_parameters()
            if p.grad is not None}


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(a @ b / (a.norm() * b.norm()))


def main() -> int:
    torch.set_num_threads(1)
    tr, va, te = make_randman(n_classes=3, n_units=20, n_steps=50, samples_per_class=30, seed=0)
    task = ClassificationTask(tr, va, te)
    rates = fluctuation_rates(tr)
    x, y = next(tr.batches(30, shuffle=False, dtype=F64))
    net = SpikingNetwork(20, 3, hidden=(32,), seed=0, init="fluctuation", input_rate=rates[0],
                         hidden_rate=rates[1], backend="reference").to(F64)
    make_rule("bptt").gradients(net, task, x, y)
    ref = _grads(net)
    for p in net.parameters():
        p.grad = None
    online_objective(net, task, net(x).readout, y).backward()
    ref_online = _grads(net)
    names = list(ref)
    print(f"{'rule':12s} {'cos all':>8s} " + " ".join(f"{n:>16s}" for n in names)
          + "   cos all (vs BPTT of the per-step objective)")
    for rule in ("bptt", "eprop", "ottt", "ostl", "eprop-random", "eventprop"):
        make_rule(rule).gradients(net, task, x, y)
        g = _grads(net)
        flat = torch.cat([g[n] for n in names])
        line = f"{rule:12s} {_cos(flat, torch.cat([ref[n] for n in names])):8.3f} " + " ".join(
            f"{_cos(g[n], ref[n]):16.3f}" for n in names)
        if rule in ("ottt", "ostl", "eprop-random"):
            line += f"   {_cos(flat, torch.cat([ref_online[n] for n in names])):.3f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
