"""Shared by the online and event-based rule tests: a few Adam steps on one Randman batch."""

from __future__ import annotations

import torch

from spikegrad.data.randman import make_randman
from spikegrad.learning.config import fluctuation_rates
from spikegrad.learning.rules import make_rule
from spikegrad.nn import SpikingNetwork
from spikegrad.tasks import ClassificationTask


def train_on_randman(rule: str, *, hidden: int, batch: int, steps: int, lr: float = 2e-2):
    """``steps`` Adam steps of ``rule`` on the first ``batch`` samples of a fixed 3-class
    Randman (20 units, 50 steps, seed 0), from a fluctuation-initialised network with one
    hidden layer of ``hidden`` (seed 0). Returns (losses before each step, net, x, y)."""
    tr, va, te = make_randman(n_classes=3, n_units=20, n_steps=50, samples_per_class=30, seed=0)
    task = ClassificationTask(tr, va, te)
    rates = fluctuation_rates(tr)
    x, y = next(tr.batches(batch, shuffle=False))
    net = SpikingNetwork(20, 3, hidden=(hidden,), seed=0, init="fluctuation",
                         input_rate=rates[0], hidden_rate=rates[1])  # fmt: skip
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    r = make_rule(rule)
    losses = []
    for _ in range(steps):
        losses.append(float(r.gradients(net, task, x, y).loss))
        opt.step()
    return losses, net, x, y
