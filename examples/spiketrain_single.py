"""Teach one SRM0 neuron a 5-spike target train with the kernel rule, with and without delays.

python examples/spiketrain_single.py

The parts every spikegrad rule uses: a task (SpikeTargetTask), a model (SRMLayer), a rule
(KernelRule), a torch optimizer (SGD: p.grad is dE/dw, so the step is w - lr dE/dw) and
the one trainer, fit.
"""

from __future__ import annotations

import torch

from spikegrad.learning.rules.kernel import KernelRule
from spikegrad.learning.trainer import fit
from spikegrad.nn import SRMLayer, clamp_after_step
from spikegrad.tasks.spike_targets import SpikePatterns, SpikeTargetTask, single_target_task


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    inputs, target = single_target_task(400, 10.0, 1.0, 5, generator=g)  # [400, M], [5]
    w0 = torch.rand(400, generator=g, dtype=torch.float64) * 0.02
    task = SpikeTargetTask(SpikePatterns(inputs, target), duration=1.0)
    print("target spike times (s):", [round(t, 4) for t in target.times.tolist()])
    for learn_delays in (False, True):
        neuron = SRMLayer(400, 1, weight=w0, learn_delays=learn_delays, max_delay=20e-3)
        groups = [{"params": [neuron.weight], "lr": 3e-3}]
        if learn_delays:
            groups.append({"params": [neuron.delays], "lr": 1e-3})  # seconds per unit dE/dd
        opt = torch.optim.SGD(groups)
        clamp_after_step(opt, neuron)  # delays stay in [0, 20 ms]
        res = fit(neuron, KernelRule(), task, opt, epochs=40, batch_size=1, progress=False)
        reached = next((h.epoch for h in res.history if h.val_accuracy >= 0.95), None)
        last = res.history[-1]
        print(
            f"delays={learn_delays!s:5s}  epochs to C >= 0.95: {reached}  "
            f"final C {last.val_accuracy:.4f}  van Rossum {last.val_loss:.4f}"
        )


if __name__ == "__main__":
    main()
