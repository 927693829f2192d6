"""Measure the cost of one training sample-epoch and estimate the study profiles' run time.

    python bench/study_cost.py [--epochs 3] [--threads 1]

Trains the default network (one hidden layer of 100, Randman 10 classes, 150 samples per
class, batch 100) for a few epochs with one torch thread, reports seconds per
sample-epoch (forward + backward + validation), and scales it to the ``quick`` and
``full`` profiles of ``spikegrad reproduce zenke-vogels`` (see
``spikegrad.experiments.study.estimate_cost``, whose constant is the idle-machine value).
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from spikegrad.data.randman import make_randman
from spikegrad.experiments.study import SECONDS_PER_SAMPLE_EPOCH, estimate_cost, zenke_vogels_runs
from spikegrad.learning.config import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    data = make_randman(samples_per_class=150, seed=0)
    rows = []
    for label, kw in (
        ("feed-forward", {}),
        ("recurrent", {"recurrent": True}),
        ("2 layers", {"hidden": (100, 100)}),
    ):
        cfg = TrainConfig(epochs=args.epochs, batch_size=100, **kw)
        t0 = time.perf_counter()
        train(cfg, data=data, progress=False, plots=False)
        dt = time.perf_counter() - t0
        per = dt / (args.epochs * len(data[0]))
        rows.append((label, dt, per))
        print(
            f"{label:14s} {dt:6.1f} s for {args.epochs} epochs -> {per * 1e3:.3f} ms "
            "per sample-epoch",
            flush=True,
        )
    measured = rows[0][2]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for profile in ("quick", "full"):
        runs = zenke_vogels_runs(profile)
        est = estimate_cost(runs) * measured / SECONDS_PER_SAMPLE_EPOCH
        n = len({r.run_id for r in runs})
        print(
            f"profile {profile}: {n} runs, {est / 3600:.2f} single-worker hours at the "
            f"measured cost ({est / 60 / 2:.0f} min on 2 workers)"
        )


if __name__ == "__main__":
    main()
