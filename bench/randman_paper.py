"""Benchmark: the paper's Randman setting (Zenke & Vogels 2021) with spikegrad's defaults.

Trains the default feed-forward network (100 hidden) and a recurrent one on the paper's
Randman (10 classes, 20 units, D = alpha = 1, 1000 samples/class, 1 spike/unit) and
reports test accuracy (best-validation model) and wall time per run.

Reference point: stork's published example on this task, 96.3 % test (128 hidden,
its own time constants, 200 epochs).

    python bench/randman_paper.py --seeds 0 1 --epochs 100 --out bench/results/randman_paper.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from spikegrad.data.randman import make_randman
from spikegrad.learning.config import TrainConfig, train

SETTINGS = {
    "feedforward": dict(hidden=(100,), recurrent=False),
    "recurrent": dict(hidden=(100,), recurrent=True),
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    p.add_argument("--epochs", type=int, default=TrainConfig().epochs)
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--spectrum", default="paper", choices=["paper", "torch"])
    p.add_argument("--lr", type=float, default=None, help="override the default lr")
    p.add_argument("--out", type=Path, default=Path("bench/results/randman_paper.json"))
    args = p.parse_args()

    data = make_randman(spectrum=args.spectrum)
    rows = []
    for name in args.settings:
        for seed in args.seeds:
            kw = dict(SETTINGS[name], epochs=args.epochs, seed=seed)
            if args.lr is not None:
                kw["lr"] = args.lr
            cfg = TrainConfig(**kw)
            t0 = time.perf_counter()
            res = train(cfg, data=data, progress=False)
            m = res.metrics
            rows.append({
                "setting": name, "seed": seed, "lr": cfg.lr, "epochs": cfg.epochs,
                "test_accuracy": m["test_accuracy"], "val_accuracy": m["val_accuracy"],
                "best_epoch": m["best_epoch"], "spikes_per_neuron": m["spikes_per_neuron"],
                "wall_seconds": time.perf_counter() - t0,
            })
            print(json.dumps(rows[-1]), flush=True)
    summary = {}
    for name in args.settings:
        r = [x for x in rows if x["setting"] == name]
        summary[name] = {
            "test_accuracy_mean": statistics.mean(x["test_accuracy"] for x in r),
            "test_accuracy_min": min(x["test_accuracy"] for x in r),
            "wall_seconds_median": statistics.median(x["wall_seconds"] for x in r),
            "runs": len(r),
        }
    result = {
        "machine": f"{platform.machine()} {platform.processor() or ''} "
                   f"{torch.get_num_threads()} torch threads",
        "torch": torch.__version__,
        "spectrum": args.spectrum,
        "rows": rows,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
