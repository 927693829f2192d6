"""e-prop: distance to BPTT gradients, and prequential accuracy of the e-prop stream learner.

Part 1: for random networks (12 inputs with Bernoulli(0.15) spikes, 16 LIF
neurons of eq. 4.1 with membrane tau 20 ms, 3 readouts, float64, per-step
cross-entropy; a ``SpikingNetwork`` with input weights scaled by 6 and recurrent
weights by 2, no self-connections, readout from 0) and sequence
lengths T, the relative difference ||g_eprop - g_bptt|| / ||g_bptt|| and the
cosine between them, per weight matrix, averaged over ``--nets`` networks
(NaN cosines, from networks whose gradient is exactly zero, are left out).

Part 2: ``StandardScaler() | EpropClassifier()`` (defaults) test-then-train
on river's Phishing, Bananas and ImageSegments (torch with 1 thread).

Usage::

    python bench/online_eprop.py --out runs/online_bench/eprop.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from spikegrad.nn import SpikingNetwork
from spikegrad.online.eprop import compare_with_bptt
from spikegrad.online.prequential import prequential
from spikegrad.online.streams import make_model, make_stream


def network(recurrent: bool, seed: int) -> SpikingNetwork:
    """12 -> 16 -> 3, tau_mem 20 ms, W x 6, V x 2 without self-connections, float64."""
    net = SpikingNetwork(12, 3, (16,), recurrent=recurrent, tau_mem=20e-3, seed=seed)
    net = net.to(torch.float64)
    net.readout.u0 = 0.0
    with torch.no_grad():
        net.layers[0].weight.mul_(6.0)
        if recurrent:
            net.layers[0].rec_weight.mul_(2.0).fill_diagonal_(0.0)
    return net


def gradients(nets: int, lengths: list[int]) -> dict:
    out = {}
    for rec in (False, True):
        for T in lengths:
            rows = []
            for seed in range(nets):
                g = torch.Generator().manual_seed(seed)
                net = network(rec, seed)
                x = (torch.rand(T, 4, 12, generator=g, dtype=torch.float64) < 0.15).double()
                y = torch.randint(0, 3, (4,), generator=g)
                rows.append(compare_with_bptt(net, x, y))
            key = f"{'recurrent' if rec else 'feedforward'} T={T}"
            out[key] = {k: float(np.nanmean([r[k] for r in rows])) for k in rows[0]}
            print(key, {k: f"{v:.3g}" for k, v in out[key].items()}, flush=True)
    return out


def streams(names: list[str]) -> dict:
    out = {}
    for name in names:
        r = prequential(make_stream(name)(0), make_model("eprop"), window=500)
        out[name] = {"accuracy": r.accuracy, "samples_per_second": r.samples_per_second}
        print(name, out[name], flush=True)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", type=int, default=5)
    ap.add_argument("--lengths", type=int, nargs="+", default=[20, 50, 200])
    ap.add_argument("--streams", nargs="*", default=["phishing", "imagesegments", "bananas"])
    ap.add_argument("--out", type=Path, default=Path("runs/online_bench/eprop.json"))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = {"gradients": gradients(args.nets, args.lengths), "streams": streams(args.streams)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
