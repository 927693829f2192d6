"""A training step of the adaptive-threshold LIF (LSNN) network: spikegrad vs Norse.

One network in both libraries: ``n_in`` input channels (spikes with probability 0.02 per
step), ``n_hidden`` adaptive LIF neurons (tau_syn 5 ms, tau_mem 10 ms, threshold 1,
adaptation tau 100 ms, threshold jump 0.2 per spike, reset to zero, SuperSpike surrogate),
feed-forward, ``n_out`` leaky readout units, max-over-time cross-entropy. One training step
is the forward pass over all T steps, backward and an Adam step. spikegrad runs
``ALIFNetwork`` on its default backend (``auto``: the compiled readout too), its fused
backend (hand-written adjoint; compiled numba loops, :mod:`spikegrad.kernels.alif_numba`,
and the torch loop it replaced) and on the reference backend
(plain autograd through the step loop); Norse runs ``LSNN`` (its feed-forward adaptive
LIF) between two ``nn.Linear`` and an ``LI`` readout. The libraries are timed alternately
in one process; medians of ``--repeats`` steps.

    python bench/alif_peers.py --T 100 --batch 64 --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from _timing import time_alternating
from torch import nn


def _spikegrad(args, backend):
    from spikegrad.nn.alif import ALIFNetwork

    net = ALIFNetwork(
        args.n_in, args.n_out, (args.n_hidden,), tau_adapt=0.1, adapt=0.2, backend=backend, seed=0
    )
    with torch.no_grad():
        net.layers[0].weight.mul_(7.0)
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = F.cross_entropy(net.logits(net(x)), y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def _torch_loop(step):
    """The same step with the compiled kernels switched off (the fused backend as it was
    before spikegrad.kernels.alif_numba and event_linear): the torch loop of
    ``alif_fused`` after a dense input product."""
    from spikegrad.kernels import alif_numba, event_linear

    def run(x, y):
        saved = alif_numba.available, event_linear.available
        alif_numba.available = event_linear.available = lambda *a, **k: False
        try:
            return step(x, y)
        finally:
            alif_numba.available, event_linear.available = saved

    return run


def _norse(args):
    import norse.torch as nt

    p = nt.LSNNParameters(
        tau_syn_inv=torch.tensor(200.0),
        tau_mem_inv=torch.tensor(100.0),
        tau_adapt_inv=torch.tensor(10.0),
        v_th=torch.tensor(1.0),
        beta=torch.tensor(0.2),
        method="super",
        alpha=10.0,
    )
    g = torch.Generator().manual_seed(0)
    fc = nn.Linear(args.n_in, args.n_hidden, bias=False)
    out = nn.Linear(args.n_hidden, args.n_out, bias=False)
    with torch.no_grad():
        b = 7.0 / args.n_in**0.5
        fc.weight.uniform_(-b, b, generator=g)
        out.weight.uniform_(-(args.n_hidden**-0.5), args.n_hidden**-0.5, generator=g)
    lsnn = nt.LSNN(p)
    li = nt.LI(nt.LIParameters(tau_syn_inv=torch.tensor(200.0), tau_mem_inv=torch.tensor(50.0)))
    params = list(fc.parameters()) + list(out.parameters())
    opt = torch.optim.Adam(params, 1e-3)

    def step(x, y):
        opt.zero_grad()
        z, _ = lsnn(fc(x))
        v, _ = li(out(z))
        loss = F.cross_entropy(v.max(0).values, y)
        loss.backward()
        opt.step()
        return float(loss.detach())

    return step


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--n-in", type=int, default=700)
    ap.add_argument("--n-hidden", type=int, default=200)
    ap.add_argument("--n-out", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from spikegrad.kernels import set_num_threads

    set_num_threads(args.threads)  # torch and numba
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(args.T, args.batch, args.n_in, generator=g) < 0.02).float()
    y = torch.randint(0, args.n_out, (args.batch,), generator=g)
    steps = {
        "spikegrad ALIFNetwork (auto, the default)": _spikegrad(args, "auto"),
        "spikegrad ALIFNetwork (fused)": _spikegrad(args, "fused"),
        "spikegrad ALIFNetwork (fused, torch loop)": _torch_loop(_spikegrad(args, "fused")),
        "spikegrad ALIFNetwork (reference)": _spikegrad(args, "reference"),
        "norse LSNN + LI": _norse(args),
    }
    times, med = time_alternating(steps, x, y, args.repeats)
    base = med["norse LSNN + LI"]
    rows = {k: {"median_s": med[k], "all_s": times[k], "vs_norse": med[k] / base} for k in med}
    for k, r in rows.items():
        print(f"{k:44s} {1e3 * r['median_s']:9.1f} ms   x{r['vs_norse']:.2f} of Norse")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"settings": vars(args), "results": rows}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
