"""Delays in surrogate-gradient BPTT networks: which of two input groups fired first?

Task (:func:`spikegrad.tasks.spike_targets.lag_order_task`): group A (``group``
channels) and group B each fire one volley, ``lag`` steps apart; the label says
which came first. With ``lag`` much longer than the membrane, synaptic and
readout time constants, the two volleys leave almost no trace in each other's
window, so a feed-forward LIF network without delays has little to go on. A
:class:`~spikegrad.nn.LIFLayer` with a :class:`~spikegrad.nn.DelayedLinear` projection can
delay one group by about ``lag`` and detect the coincidence.

Compares, on the same data and initial weights:
  * ``none``    -- the projection with max_delay 0 (a plain LIF layer),
  * ``fixed``   -- random fixed per-synapse delays in [0, max_delay] (not trained),
  * ``learned`` -- the same initial delays, trained (fractional, Gaussian taps).

Usage::

    python bench/spiketrain_lag_order.py [--seeds 0 1 2] [--epochs 30] [--json out.json]

Delays, ``--max-delay``, ``--sigma`` and the delay learning rate are in seconds (the
former step values times dt = 1 ms: 50 ms, 4 ms, 1 ms per Adam step).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from spikegrad.functional.readout import readout_logits
from spikegrad.nn import DelayedLinear, LIFLayer, Readout, clamp_after_step
from spikegrad.tasks.spike_targets import lag_order_task


class DelayNet(torch.nn.Module):
    def __init__(self, n_in, hidden, max_delay, learnable, sigma, gen):
        super().__init__()
        self.proj = DelayedLinear(
            n_in,
            hidden,
            max_delay,
            learnable=learnable,
            mode="gaussian" if learnable else "linear",
            sigma=sigma,
            init="uniform" if max_delay > 0 else "zero",
            generator=gen,
        )
        self.hidden = LIFLayer(n_in, hidden, projection=self.proj)
        self.readout = Readout(hidden, 2, generator=gen)

    def forward(self, x):
        return readout_logits(self.readout(self.hidden(x)), "max")


def run(variant: str, seed: int, args) -> dict:
    g = torch.Generator().manual_seed(1000 + seed)
    kw = dict(
        n_steps=args.steps,
        group=args.group,
        lag=args.lag,
        jitter=args.jitter,
        noise_prob=args.noise,
    )
    xtr, ytr = lag_order_task(args.train, generator=g, **kw)
    xte, yte = lag_order_task(args.test, generator=g, **kw)
    gw = torch.Generator().manual_seed(seed)
    md = 0 if variant == "none" else args.max_delay
    net = DelayNet(2 * args.group, args.hidden, md, variant == "learned", args.sigma, gw)
    with torch.no_grad():
        net.hidden.weight.mul_(args.w_scale)
    groups = [{"params": [net.hidden.weight, *net.readout.parameters()], "lr": args.lr}]
    if variant == "learned":
        groups.append({"params": [net.proj.delays], "lr": args.lr_delay})
    opt = torch.optim.Adam(groups)
    clamp_after_step(opt, net)
    t0 = time.time()
    for _ in range(args.epochs):
        perm = torch.randperm(args.train, generator=gw)
        for k in range(0, args.train, args.batch):
            idx = perm[k : k + args.batch]
            loss = torch.nn.functional.cross_entropy(net(xtr[:, idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if variant == "learned" and args.sigma_decay < 1:
            net.proj.sigma = max(args.sigma_min, net.proj.sigma * args.sigma_decay)
    with torch.no_grad():
        acc_te = float((net(xte).argmax(-1) == yte).float().mean())
        acc_tr = float((net(xtr).argmax(-1) == ytr).float().mean())
    return {
        "variant": variant,
        "seed": seed,
        "train_accuracy": acc_tr,
        "test_accuracy": acc_te,
        "seconds": round(time.time() - t0, 1),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--variants", nargs="+", default=["none", "fixed", "learned"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--steps", type=int, default=120)
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--lag", type=int, default=40)
    p.add_argument("--jitter", type=int, default=2)
    p.add_argument("--noise", type=float, default=0.01)
    p.add_argument("--max-delay", type=float, default=50e-3, help="seconds")
    p.add_argument("--hidden", type=int, default=16)
    p.add_argument("--train", type=int, default=512)
    p.add_argument("--test", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--lr-delay", type=float, default=1e-3, help="Adam step of the delays (s)")
    p.add_argument("--sigma", type=float, default=4e-3, help="Gaussian taps' width (s)")
    p.add_argument("--sigma-decay", type=float, default=0.93)
    p.add_argument("--sigma-min", type=float, default=0.5e-3, help="seconds")
    p.add_argument("--w-scale", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for seed in args.seeds:
        for v in args.variants:
            r = run(v, seed, args)
            rows.append(r)
            print(json.dumps(r), flush=True)
    for v in args.variants:
        accs = [r["test_accuracy"] for r in rows if r["variant"] == v]
        print(f"{v:8s} test accuracy mean {sum(accs) / len(accs):.4f}  ({accs})")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
