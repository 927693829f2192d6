"""Learning curves of perturbation vs BPTT vs weight / node perturbation on one task.

Runs one or more rules on the same task and initial weights and stores each history in
``<out>/<task>-<rule>.json`` (so rules can be run one process at a time on a busy
machine); ``--plot`` draws all stored rules of a task side by side, in trials and in wall
time.

Usage::

    python bench/perturbation_learning.py --task rates --rules perturbation weight
    python bench/perturbation_learning.py --task rates --rules bptt --iterations 150
    python bench/perturbation_learning.py --task rates --rules perturbation --optimizer sgd \
        --lr 30 --lr-end 3 --tag=_sgd
    python bench/perturbation_learning.py --task rates --plot
    python bench/perturbation_learning.py --task digits --rules perturbation --reward binary
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikegrad.perturbation.learn import RULES, LearnConfig, learn
from spikegrad.perturbation.tasks import ClassifyTask, RatesTask

#: per-rule settings (sigma units differ; BPTT uses one noise-free trial per update)
SETTINGS = {
    "perturbation": {"sigma": 0.3},
    "empiric": {"sigma": 1.0},
    "node": {"sigma": 20.0},
    "weight": {"sigma": 0.5},
    "bptt": {"sigma": 1.0, "lr": 0.1, "lr_end": 0.01},
}


def make_task(args):
    if args.task == "rates":
        return RatesTask()
    return ClassifyTask(dataset=args.task, n_classes=args.classes, n_hidden=args.hidden,
                        reward=args.reward, w_in=6.0 if args.task == "digits" else 10.0,
                        samples_per_class=args.samples_per_class)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=["rates", "digits", "randman"], default="rates")
    ap.add_argument("--rules", nargs="*", default=[], choices=list(RULES))
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--lr-end", type=float, default=0.03)
    ap.add_argument("--optimizer", choices=["adam", "sgd"], default="adam",
                    help="sgd: the plain rule dW = lr * g (eta = lr / sigma^2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--hidden", type=int, default=0)
    ap.add_argument("--reward", choices=["loss", "binary"], default="loss")
    ap.add_argument("--samples-per-class", type=int, default=100)
    ap.add_argument("--tag", default="", help="suffix of the stored file names")
    ap.add_argument("--plot", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("runs/perturbation_learning"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    task = make_task(a)
    W0 = task.init_weights()
    for rule in a.rules:
        s = {"lr": a.lr, "lr_end": a.lr_end, **SETTINGS[rule]}
        cfg = LearnConfig(rule=rule, iterations=a.iterations, batch=a.batch, lr=s["lr"],
                          lr_end=s["lr_end"], sigma=s["sigma"], seed=a.seed,
                          optimizer=a.optimizer,
                          eval_every=max(1, a.iterations // 30))
        t0 = time.time()
        res = learn(task, cfg, W0, callback=lambda r, rule=rule: print(
            rule, r["iteration"], r["trials"], round(r["wall_seconds"], 1),
            round(r["error"], 4), r.get("accuracy", ""), flush=True))
        h = res.history
        summary = {"rule": rule, "task": a.task, "config": res.config,
                   "initial_error": h[0]["error"], "final_error": h[-1]["error"],
                   "error_reduction": 1 - h[-1]["error"] / h[0]["error"],
                   "best_error": min(x["error"] for x in h),
                   "trials": h[-1]["trials"], "wall_seconds": time.time() - t0,
                   "history": h}
        if a.task != "rates":
            summary["test_accuracy"] = res.fit.metrics["test_accuracy"]  # best-validation model
        name = f"{a.task}-{rule}{a.tag}.json"
        (a.out / name).write_text(json.dumps(summary, indent=2))
        print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "config")}))
    if a.plot:
        from spikegrad.perturbation.plots import plot_learning_curves

        hist = {}
        for f in sorted(a.out.glob(f"{a.task}-*.json")):
            d = json.loads(f.read_text())
            hist[f.stem.removeprefix(f"{a.task}-")] = d["history"]
        plot_learning_curves(hist, a.out / f"{a.task}-curves.png")
        print(f"wrote {a.out / (a.task + '-curves.png')} with {', '.join(hist)}")


if __name__ == "__main__":
    main()
