"""A surrogate-shape sweep from Python: grid -> parallel resumable runs -> lr selection.

    python examples/study_sweep.py [--out runs/example-sweep] [--workers 2]

Small on purpose (4-class Randman, 8 runs, about a minute on 2 cores). The same grid as a
TOML file runs with ``spikegrad sweep GRID.toml --out DIR``.
"""

from __future__ import annotations

import argparse

from spikegrad.experiments.config import SweepSpec
from spikegrad.experiments.sweep import run_sweep, select_learning_rate


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="runs/example-sweep")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    spec = SweepSpec.from_dict(
        {
            "name": "example",
            "base": {
                "dataset_options": {"n_classes": 4, "samples_per_class": 100},
                "hidden": [32],
                "epochs": 10,
                "batch_size": 64,
            },
            "conditions": [
                {"condition": "superspike", "surrogate": "superspike"},
                {"condition": "esser", "surrogate": "esser"},
            ],
            "grid": {"beta": [1.0, 10.0], "lr": [0.01, 0.05]},
        }
    )
    res = run_sweep(spec.expand(), args.out, workers=args.workers)
    print(f"{res.finished} runs now, {res.skipped} already done; {args.out}/results.csv")
    for row in select_learning_rate(res.rows):
        print(
            f"{row['condition']:10s} beta {row['beta']:<5g} lr {row['lr']:<5g} "
            f"test {row['test_accuracy_mean']:.3f} (val {row['val_accuracy_mean']:.3f})"
        )


if __name__ == "__main__":
    main()
