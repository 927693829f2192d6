"""Teach one SRM0 neuron a 5-spike target train with the kernel rule, with and without delays.

python examples/spiketrain_single.py
"""

from __future__ import annotations

import torch

from spikegrad.spiketrain.learning import KernelRuleConfig, train_spike_times
from spikegrad.spiketrain.tasks import single_target_task


def main() -> None:
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    inputs, target = single_target_task(400, 10.0, 1.0, 5, generator=g)  # [400, M], [5]
    w0 = torch.rand(400, generator=g, dtype=torch.float64) * 0.02
    print("target spike times (s):", [round(t, 4) for t in target.times.tolist()])
    for learn_delays in (False, True):
        res = train_spike_times(
            inputs, target, w0, config=KernelRuleConfig(learn_delays=learn_delays), epochs=40
        )
        out = res.history[-1]
        print(
            f"delays={learn_delays!s:5s}  epochs to C >= 0.95: {res.epochs_to_target}  "
            f"final C {out.correlation:.4f}  van Rossum {out.distance:.4f}"
        )


if __name__ == "__main__":
    main()
