"""Train the convolutional spiking network on the moving-shapes event task (BPTT through fit).

The task (``make_task("moving-shapes")``): 600 samples (480 train / 60 val / 60 test) of a
square or plus sign moving in one of four directions across a 16 x 16 sensor for 30 steps,
rendered as ON/OFF events with 0.2 % noise events. The network (``conv_network``):
SpikingConv2d(2->4, 3x3) -> AvgPool 2 -> SpikingConv2d(4->8, 3x3) -> AvgPool 2 -> Flatten ->
LIF(128->32) -> Readout(4), max-over-time cross-entropy, Adam lr 5e-3, batch 32. Writes
the run folder (history.csv: accuracy and seconds per epoch).

    python bench/conv_moving_shapes.py --epochs 15 --out runs/conv_moving_shapes
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from spikegrad import fit, make_rule, make_task
from spikegrad.nn.sequential import conv_network


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="runs/conv_moving_shapes")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    task = make_task("moving-shapes", samples=600, n_steps=30, seed=0)
    net = conv_network((2, 16, 16), 4, channels=(4, 8), hidden=32, seed=args.seed)
    t = time.perf_counter()
    res = fit(net, make_rule("bptt"), task, torch.optim.Adam(net.parameters(), 5e-3),
              epochs=args.epochs, batch_size=32, seed=args.seed, out_dir=args.out,
              progress=False, plots=False)
    wall = time.perf_counter() - t
    secs = [h.seconds for h in res.history]
    print(json.dumps({
        "test_accuracy": res.metrics["test_accuracy"],
        "val_accuracy": res.metrics["val_accuracy"],
        "best_epoch": res.metrics["best_epoch"],
        "median_epoch_seconds": sorted(secs)[len(secs) // 2],
        "wall_seconds": wall,
        "val_accuracy_per_epoch": [h.val_accuracy for h in res.history],
    }, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
