"""Where does the event-driven projection stop paying off? Measures the crossover density.

Times one forward + backward of a LIF layer (700 inputs -> 200 neurons, batch 256,
T = 100 by default) through :func:`spikegrad.kernels.lif_numba.lif_layer_numba`, once
forced onto the event path (``density_threshold=None``) and once onto the dense path
(``density_threshold=0``: torch matrix product + the same compiled neuron kernels), for
input densities from 0.5 % to 50 %. Medians over repeats, interleaved.

    python bench/event_density.py --threads 2 --json /tmp/density.json
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time

import torch

from spikegrad.functional.surrogate import make_surrogate
from spikegrad.kernels import lif_numba, set_num_threads


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--T", type=int, default=100)
    p.add_argument("--densities", type=float, nargs="+",
                   default=[0.005, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5])  # fmt: skip
    p.add_argument("--json", default=None)
    args = p.parse_args()
    set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    sur = make_surrogate("superspike", 10.0)
    bm, bs = math.exp(-0.1), math.exp(-0.2)
    w = ((torch.rand(200, 700, generator=g) * 2 - 1) / math.sqrt(700)).requires_grad_()
    rows = []
    for d in args.densities:
        x = (torch.rand(args.T, 256, 700, generator=g) < d).float()
        times: dict[str, list[float]] = {"events": [], "dense": []}
        for k in range(args.repeats + 1):
            for mode, thr in (("events", None), ("dense", 0.0)):
                t = time.perf_counter()
                s, _ = lif_numba.lif_layer_numba(x, w, bm, bs, sur, density_threshold=thr)
                s.sum().backward()
                if k:
                    times[mode].append(time.perf_counter() - t)
                w.grad = None
        row = {"density": d, **{m: 1e3 * statistics.median(v) for m, v in times.items()}}
        row["speedup"] = row["dense"] / row["events"]
        rows.append(row)
        print(f"density {d:6.3f}: events {row['events']:8.1f} ms  dense {row['dense']:8.1f} ms"
              f"  dense/events {row['speedup']:5.2f}", flush=True)  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "T": args.T, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
