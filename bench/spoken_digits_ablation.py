"""Held-out-voice accuracy of the spoken-digit recipe and of each ingredient (issue 29).

Each row is a set of :class:`spikegrad.learning.config.TrainConfig` settings on the same
folder (``spikegrad data spoken-digits`` plus, for the rows marked ``extra``, the extra
speakers of ``bench/spoken_digits_data.py`` in the same folder); the test split holds the
folder's held-out speakers in every row. One torch thread per run. Prints one JSON line per
run (test accuracy on held-out voices, the same after rounding learned delays to whole
steps, seconds per epoch, load) and a summary per row (mean, sd, 95 % t-interval).

    python bench/spoken_digits_ablation.py DIR --rows recurrent alif delays-learned \\
        --seeds 0 1 2 --epochs 30
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
from pathlib import Path

import torch

_SHD = {"lr": 2e-3, "batch_size": 32, "upper_strength": 0.1, "upper_threshold": 7.0}
_AUG = {"time_shift": 5, "channel_shift": 3, "dropout": 0.1, "noise": 0.0}
_DELAY = {"max_delay": 0.01, "delay_mode": "linear"}
_ALIF = {"adapt": 0.2, "tau_adapt": 0.1}

#: row name -> (model, recurrent, hidden, dataset options, model options)
ROWS: dict[str, tuple] = {
    # the old recipe (BENCHMARKS.md 'Held-out-speaker accuracy'): 700 channels
    "recurrent": ("lif", True, 128, {"extra_train": False}, {}),
    "ff": ("lif", False, 128, {"extra_train": False}, {}),
    "pool140": ("lif", True, 128, {"extra_train": False, "channels": 140}, {}),
    "alif": ("alif", True, 128, {"extra_train": False, "channels": 140}, _ALIF),
    "aug": ("alif", True, 128, {"extra_train": False, "channels": 140, **_AUG}, _ALIF),
    "extra": ("alif", True, 128, {"channels": 140}, _ALIF),
    "extra-aug": ("alif", True, 128, {"channels": 140, **_AUG}, _ALIF),
    "delays-fixed": ("alif", True, 128, {"channels": 140, **_AUG},
                     {**_ALIF, **_DELAY, "learn_delays": False}),
    "delays-learned": ("alif", True, 128, {"channels": 140, **_AUG}, {**_ALIF, **_DELAY}),
    # leave-one-out from the recipe (delays-learned): each row drops one ingredient
    "no-adapt": ("alif", True, 128, {"channels": 140, **_AUG},
                 {**_ALIF, "adapt": 0.0, **_DELAY}),  # adapt 0: plain LIF, same parameters
    "no-adapt-fixed": ("alif", True, 128, {"channels": 140, **_AUG},
                       {**_ALIF, "adapt": 0.0, **_DELAY, "learn_delays": False}),
    "no-aug": ("alif", True, 128, {"channels": 140}, {**_ALIF, **_DELAY}),
    "no-extra": ("alif", True, 128, {"extra_train": False, "channels": 140, **_AUG},
                 {**_ALIF, **_DELAY}),
    # the recipe on all 700 channels (its channel shift then moves 3 channels, not 3 bands)
    "no-pool": ("alif", True, 128, {**_AUG}, {**_ALIF, "adapt": 0.0, **_DELAY}),
    "no-recurrence": ("alif", False, 128, {"channels": 140, **_AUG}, {**_ALIF, **_DELAY}),
    # the same at the weights' learning rate (delays in seconds move ~2 steps per update)
    "delays-learned-plain-lr": ("alif", True, 128, {"channels": 140, **_AUG},
                                {**_ALIF, **_DELAY}),
}  # fmt: skip


def _t95(n: int) -> float:
    t = {1: float("nan"), 2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571, 7: 2.447}
    return t.get(n, 2.0)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--out", type=Path, default=Path("runs/spoken_digits_ablation"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from spikegrad.learning.config import TrainConfig, train
    from spikegrad.nn.delay import round_delays

    rows = []
    for name in args.rows:
        model, rec, hidden, dopts, mopts = ROWS[name]
        for seed in args.seeds:
            cfg = TrainConfig(
                dataset="spoken-digits", dataset_options={"path": args.data, "seed": 0, **dopts},
                model=model, model_options=dict(mopts), hidden=(hidden,), recurrent=rec,
                epochs=args.epochs, seed=seed, **_SHD,
            )  # fmt: skip
            import spikegrad.nn.delay as delay_mod

            # lr_scale = DELAY_LR_STEPS * dt: 1 / dt gives the delays the weights' lr
            delay_mod.DELAY_LR_STEPS = 1e3 if name.endswith("plain-lr") else 50.0
            load0 = os.getloadavg()[0]
            res = train(cfg, out_dir=args.out / f"{name}-s{seed}", progress=False, plots=False)
            row = {
                "row": name, "seed": seed, "test_accuracy": res.metrics.get("test_accuracy"),
                "best_val_accuracy": max(h.val_accuracy for h in res.history),
                "train_accuracy_last": res.history[-1].train_accuracy,
                "seconds_per_epoch": statistics.median(h.seconds for h in res.history),
                "load_before_after": [load0, os.getloadavg()[0]],
            }  # fmt: skip
            if mopts.get("max_delay"):
                row["test_accuracy_rounded"] = _rounded_accuracy(cfg, res, round_delays)
            rows.append(row)
            print(json.dumps(row), flush=True)
    for name in args.rows:
        acc = [r["test_accuracy"] for r in rows if r["row"] == name]
        m = statistics.mean(acc)
        sd = statistics.stdev(acc) if len(acc) > 1 else float("nan")
        half = _t95(len(acc)) * sd / math.sqrt(len(acc))
        print(json.dumps({"row": name, "n": len(acc), "test_mean": m, "test_sd": sd,
                          "ci95": [m - half, m + half]}))  # fmt: skip


def _rounded_accuracy(cfg, res, round_delays) -> float:
    """Held-out accuracy of the trained model with its delays rounded to whole steps."""
    from spikegrad.learning.config import build_task
    from spikegrad.learning.trainer import evaluate

    round_delays(res.model)
    return float(evaluate(res.model, build_task(cfg), "test")["accuracy"])


if __name__ == "__main__":
    main()
