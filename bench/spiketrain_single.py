"""Single SRM0 neuron, 400 Poisson inputs (10 Hz, 1 s), learn a 5-spike target train.

Epochs to reach Schreiber C >= 0.95 (sigma_C = 2 ms) over many seeds, for
  * ``weights``  -- the kernel weight rule (Gaussian kernel, sigma 5 ms, SGD lr 3e-3),
  * ``delays``   -- weights + the kernel delay rule (lr_delay 1e-3, d_max 20 ms),
  * ``resume``   -- ReSuMe (a = 0, A = 1, tau_L = 5 ms, lr 3e-3),
  * ``bptt``     -- surrogate-gradient BPTT through the eq. 4.1 LIF on the van Rossum
                    loss (Adam lr 5e-3; slow, so only on ``--bptt-seeds``).
Every rule trains through the one trainer (:func:`spikegrad.learning.trainer.fit`) on a
:class:`~spikegrad.tasks.SpikeTargetTask` (the kernel rules on an
:class:`~spikegrad.nn.SRMLayer`, BPTT on a one-neuron SpikingNetwork and the task's binned
view). Each seed draws inputs, target and initial weights U(0, 0.02) (kernel rules) from
one generator, so all rules start from the same task.

Usage::

    python bench/spiketrain_single.py [--seeds 20] [--epochs 60] [--bptt-seeds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from spikegrad.learning.rules import make_rule
from spikegrad.learning.trainer import evaluate, fit
from spikegrad.nn import SpikingNetwork, SRMLayer, clamp_after_step
from spikegrad.tasks.spike_targets import SpikePatterns, SpikeTargetTask, single_target_task


def task(seed: int):
    g = torch.Generator().manual_seed(seed)
    inputs, target = single_target_task(400, 10.0, 1.0, 5, generator=g)
    w = torch.rand(400, generator=g, dtype=torch.float64) * 0.02
    wb = torch.rand(1, 400, generator=g) * 0.06
    return SpikePatterns(inputs, target), w, wb


def run_rule(name: str, seed: int, epochs: int) -> dict:
    patterns, w, wb = task(seed)
    t0 = time.time()
    if name == "bptt":
        data = SpikeTargetTask(patterns, duration=1.0, view="binned")
        model = SpikingNetwork(400, 1, (1,), seed=seed)
        with torch.no_grad():
            model.layers[0].weight.copy_(wb)
        opt = torch.optim.Adam([model.layers[0].weight], lr=5e-3)
        rule = make_rule("bptt")
    else:
        data = SpikeTargetTask(patterns, duration=1.0)
        model = SRMLayer(400, 1, weight=w, learn_delays=name == "delays")
        groups = [{"params": [model.weight], "lr": 3e-3}]
        if name == "delays":
            groups.append({"params": [model.delays], "lr": 1e-3})
        opt = torch.optim.SGD(groups)
        rule = make_rule("resume" if name == "resume" else "kernel")
    clamp_after_step(opt, model)
    cs = [evaluate(model, data, "val")["correlation"]]
    res = fit(model, rule, data, opt, epochs=epochs, batch_size=1, seed=seed, progress=False)
    cs += [h.val_accuracy for h in res.history]
    reached = next((e for e, c in enumerate(cs) if c >= 0.95), None)
    return {
        "rule": name,
        "seed": seed,
        "epochs_to_0.95": reached,
        "final_C": cs[-1],
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--bptt-epochs", type=int, default=100)
    p.add_argument("--bptt-seeds", type=int, default=3)
    p.add_argument("--rules", nargs="+", default=["weights", "delays", "resume", "bptt"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for rule in args.rules:
        n = args.bptt_seeds if rule == "bptt" else args.seeds
        for seed in range(n):
            r = run_rule(rule, seed, args.bptt_epochs if rule == "bptt" else args.epochs)
            rows.append(r)
            print(json.dumps(r), flush=True)
    print("\nrule      seeds  reached  median epochs  mean epochs (reached)  mean final C")
    for rule in args.rules:
        rs = [r for r in rows if r["rule"] == rule]
        ep = [r["epochs_to_0.95"] for r in rs if r["epochs_to_0.95"] is not None]
        med = statistics.median(ep) if ep else float("nan")
        mean = statistics.mean(ep) if ep else float("nan")
        fc = statistics.mean(r["final_C"] for r in rs)
        print(f"{rule:9s} {len(rs):5d}  {len(ep):7d}  {med:13.1f}  {mean:21.1f}  {fc:12.4f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
