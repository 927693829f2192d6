"""Time one training step (forward + backward) of the paper's Randman network per backend.

All backends run in the same process, interleaved, on the same batch (250 samples,
100 steps, 20 inputs at 1 % density, 100 hidden, 10 readout units); the table reports
the median over repeats of wall time and of this process's CPU time (the latter is
less sensitive to other load on a shared machine).

    python bench/train_step.py --threads 1 --repeats 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from spikegrad.functional.readout import readout_loss
from spikegrad.functional.regularization import ActivityRegularizer
from spikegrad.kernels import set_num_threads
from spikegrad.nn import SpikingNetwork


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=250)
    args = p.parse_args()
    set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(args.steps, args.batch, 20, generator=g) < 0.01).float()
    y = torch.randint(0, 10, (args.batch,), generator=g)
    reg = ActivityRegularizer()
    results = {}
    for rec in (False, True):
        backends = ["reference", "fused", "numba"]
        nets = {b: SpikingNetwork(20, 10, (100,), recurrent=rec, seed=0, backend=b)
                for b in backends}
        for net in nets.values():
            with torch.no_grad():
                net.layers[0].weight.mul_(5)  # an active hidden layer (~3 spikes/neuron)
        wall = {b: [] for b in nets}
        cpu = {b: [] for b in nets}
        for k in range(args.repeats + 1):
            for b, net in nets.items():
                t, c = time.perf_counter(), time.process_time()
                out = net(x)
                loss = readout_loss(out.readout, y) + reg(out.spikes)
                loss.backward()
                if k:  # first round: warm-up / JIT compile
                    wall[b].append(time.perf_counter() - t)
                    cpu[b].append(time.process_time() - c)
        name = "recurrent" if rec else "feedforward"
        results[name] = {b: {"wall_ms": 1e3 * statistics.median(wall[b]),
                             "cpu_ms": 1e3 * statistics.median(cpu[b])} for b in nets}
    print(json.dumps({"threads": args.threads, "T": args.steps, "B": args.batch,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
