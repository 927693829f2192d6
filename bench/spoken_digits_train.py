"""Held-out-speaker accuracy on a spoken-digit set: feed-forward and recurrent, several seeds.

The SHD recipe of the Zenke-lab tutorials (SpyTorch tutorial 4: 100 bins, LIF tau_mem 10
ms, tau_syn 5 ms at dt 1 ms, max-over-time readout, cross-entropy) with the Zenke & Vogels
regularisers (lower bound 100 / 1e-3; upper bound 0.1 / 7 spikes per neuron, the stork SHD
value), Adam. One torch thread per run.

    python bench/spoken_digits_train.py DIR --epochs 20 --seeds 0 1 2 --out runs/sd
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data", nargs="?", default=None, help="folder (default: shipped subset)")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--parts", nargs="+", default=["ff", "recurrent"])
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", type=Path, default=Path("runs/spoken_digits_bench"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from spikegrad.learning.config import TrainConfig, train

    opts = {"path": args.data} if args.data else {}
    rows = []
    for part in args.parts:
        for seed in args.seeds:
            cfg = TrainConfig(
                dataset="spoken-digits",
                dataset_options={**opts, "seed": 0},
                hidden=(args.hidden,),
                recurrent=part == "recurrent",
                lr=args.lr,
                batch_size=args.batch_size,
                epochs=args.epochs,
                seed=seed,
                upper_strength=0.1,
                upper_threshold=7.0,
            )
            load0 = os.getloadavg()[0]
            res = train(cfg, out_dir=args.out / f"{part}-s{seed}", progress=False, plots=False)
            secs = [h.seconds for h in res.history]
            row = {
                "part": part,
                "seed": seed,
                "test_accuracy": res.metrics.get("test_accuracy"),
                "best_val_accuracy": max(h.val_accuracy for h in res.history),
                "train_accuracy_last": res.history[-1].train_accuracy,
                "seconds_per_epoch_median": statistics.median(secs),
                "load_before_after": [load0, os.getloadavg()[0]],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    for part in args.parts:
        acc = [r["test_accuracy"] for r in rows if r["part"] == part]
        print(
            json.dumps(
                {
                    "part": part,
                    "test_mean": statistics.mean(acc),
                    "test_sd": statistics.pstdev(acc),
                    "n": len(acc),
                }
            )
        )


if __name__ == "__main__":
    main()
