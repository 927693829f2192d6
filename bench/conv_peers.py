"""A training step of a convolutional spiking network: spikegrad vs snnTorch vs SpikingJelly.

One architecture in every library, on event-camera-shaped input (``[T, B, 2, 16, 16]``
ON/OFF events, 2 % per pixel and step): conv 2->8 3x3 (padding 1) -> spiking neurons ->
2x2 average pool -> conv 8->16 3x3 -> spiking neurons -> 2x2 average pool -> flatten
(256) -> linear 256->64 -> spiking neurons -> linear 64->4 -> leaky readout, max-over-time
cross-entropy. One training step is the forward pass over all T steps, backward and an
Adam step.

* spikegrad: :func:`spikegrad.nn.sequential.conv_network` (current-based LIF, tau_syn
  5 ms, tau_mem 10 ms, SuperSpike surrogate), default backend (``auto``: the compiled
  neuron kernels of :mod:`spikegrad.kernels.alif_numba` / ``lif_numba``).
* snnTorch 1.0: ``nn.Conv2d`` / ``nn.Linear`` + ``snn.Synaptic`` (the same current-based
  LIF: alpha = exp(-1/5), beta = exp(-1/10), fast-sigmoid surrogate), stepped in a Python
  loop over time as its tutorials do.
* SpikingJelly 2.0: ``layer.Conv2d`` / ``layer.Linear`` + ``neuron.LIFNode`` in multi-step
  mode (``step_mode="m"``, torch backend: the CUDA backends do not run on CPU). Its LIF has
  no synaptic current (the nearest neuron it ships), so its network differs in that one
  respect; the timing compares each library's own conv pipeline.

The readout (leaky integrator, tau 20 ms) is the same torch loop in the two peers. The
libraries are timed alternately in one process; medians of ``--repeats`` steps::

    python bench/conv_peers.py --T 30 --batch 32 --repeats 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math

import torch
import torch.nn.functional as F
from _timing import time_alternating
from torch import nn

ALPHA, BETA, BETA_OUT = math.exp(-1 / 5), math.exp(-1 / 10), math.exp(-1 / 20)


def _li_max(cur: torch.Tensor) -> torch.Tensor:
    """Max over time of a leaky integrator (tau_syn 5, tau_mem 20 steps) driven by cur."""
    i = torch.zeros_like(cur[0])
    u = torch.zeros_like(cur[0])
    out = []
    for t in range(cur.shape[0]):
        u = BETA_OUT * u + (1 - BETA_OUT) * i
        i = ALPHA * i + cur[t]
        out.append(u)
    return torch.stack(out).max(0).values


def _spikegrad(args):
    from spikegrad.nn.sequential import conv_network

    net = conv_network((2, 16, 16), 4, channels=(8, 16), hidden=64, seed=0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net.logits(net(x.flatten(2))), y)  # flat frames [T, B, 512]
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def _convs():
    torch.manual_seed(0)
    return (
        nn.Conv2d(2, 8, 3, padding=1),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.Linear(256, 64),
        nn.Linear(64, 4),
    )


def _snntorch(args):
    import snntorch as snn
    from snntorch import surrogate

    c1, c2, f1, f2 = _convs()
    sg = surrogate.fast_sigmoid(slope=25)
    l1, l2, l3 = (snn.Synaptic(alpha=ALPHA, beta=BETA, spike_grad=sg) for _ in range(3))
    params = [p for m in (c1, c2, f1, f2) for p in m.parameters()]
    opt = torch.optim.Adam(params, 1e-3)

    def step(x, y):
        opt.zero_grad()
        T, B = x.shape[:2]
        s1 = m1 = torch.zeros(B, 8, 16, 16)
        s2 = m2 = torch.zeros(B, 16, 8, 8)
        s3 = m3 = torch.zeros(B, 64)
        outs = []
        for t in range(T):
            z, s1, m1 = l1(c1(x[t]), s1, m1)
            z, s2, m2 = l2(c2(F.avg_pool2d(z, 2)), s2, m2)
            z, s3, m3 = l3(f1(F.avg_pool2d(z, 2).flatten(1)), s3, m3)
            outs.append(f2(z))
        loss = F.cross_entropy(_li_max(torch.stack(outs)), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def _spikingjelly(args):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    c1, c2, f1, f2 = _convs()

    def lif():
        return neuron.LIFNode(tau=10.0, surrogate_function=surrogate.Sigmoid(), step_mode="m")

    net = nn.Sequential(
        layer.SeqToANNContainer(c1),
        lif(),
        layer.AvgPool2d(2, step_mode="m"),
        layer.SeqToANNContainer(c2),
        lif(),
        layer.AvgPool2d(2, step_mode="m"),
        layer.Flatten(step_mode="m"),
        layer.SeqToANNContainer(f1),
        lif(),
        layer.SeqToANNContainer(f2),
    )
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(_li_max(net(x)), y)
        loss.backward()
        opt.step()
        functional.reset_net(net)
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--density", type=float, default=0.02)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--libraries", nargs="+", default=["spikegrad", "snntorch", "spikingjelly"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from spikegrad.kernels import set_num_threads

    set_num_threads(args.threads)  # torch and numba
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(args.T, args.batch, 2, 16, 16, generator=g) < args.density).float()
    y = torch.randint(0, 4, (args.batch,), generator=g)
    builders = {"spikegrad": _spikegrad, "snntorch": _snntorch, "spikingjelly": _spikingjelly}
    steps = {lib: builders[lib](args) for lib in args.libraries}
    times, med = time_alternating(steps, x, y, args.repeats)
    peers = [k for k in med if k != "spikegrad"]
    fastest = min((med[k] for k in peers), default=None)
    rows = {k: {"median_s": med[k], "all_s": times[k]} for k in med}
    for k, r in rows.items():
        ratio = f"   fastest peer / this = {fastest / r['median_s']:.2f}" if fastest else ""
        print(f"{k:14s} {1e3 * r['median_s']:9.1f} ms{ratio}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
