"""Prequential benchmark: OeSNN against river's baselines on real and drifting streams.

Protocol (all models behind ``preprocessing.StandardScaler()``, test-then-train):

1. **Tuning.** For each stream, ``--configs`` OeSNN parameter sets (the defaults
   plus random draws from a fixed grid, seeded) are scored by prequential
   accuracy on a prefix of the stream only (``--tune-fraction`` of it, at most
   ``--tune-max`` samples). The best prefix score wins.
2. **Evaluation.** Every model runs over the whole stream twice: once for
   accuracy and speed, once under ``tracemalloc`` for the peak memory (the
   accuracy of both runs is checked to agree). ``acc`` is over the whole
   stream (denominator n - 1, as river's ``progressive_val_score``);
   ``acc_after`` only over the samples after the tuning prefix, the held-out
   number for the tuned model.

Models: ``oesnn`` (defaults), ``oesnn-tuned``, ``oesnn-tuned-adwin`` (tuned
parameters plus an ADWIN detector), and river 0.26's ``HoeffdingTreeClassifier``,
``HoeffdingAdaptiveTreeClassifier`` (seed 0), ``GaussianNB`` and
``KNNClassifier`` (SWINN engine, seed 0), all with river defaults.

Usage::

    python bench/online_bench.py --datasets phishing bananas imagesegments \\
        --out runs/online_bench/real.json
    python bench/online_bench.py --report runs/online_bench/*.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from spikegrad.online.prequential import prequential
from spikegrad.online.streams import STREAMS, make_model, make_stream

GRID = {
    "n_fields": [5, 8, 10, 15, 20],
    "beta": [1.0, 1.5, 2.0],
    "c": [0.5, 0.6, 0.7, 0.8, 0.9],
    "sim": [0.05, 0.1, 0.15, 0.3, 0.5],
    "mod": [0.8, 0.9, 0.95],
    "max_neurons_per_class": [50, 100, 200, 400],
    "range_mode": ["running", "window"],
}
BASELINES = ["ht", "hat", "gnb", "knn"]


def draw_configs(n: int, seed: int) -> list[dict]:
    """The defaults plus ``n - 1`` random grid points (explicit generator)."""
    rng = np.random.default_rng(seed)
    out: list[dict] = [{}]
    seen = {json.dumps({}, sort_keys=True)}
    while len(out) < n:
        c = {k: v[int(rng.integers(len(v)))] for k, v in GRID.items()}
        c = {k: (v.item() if hasattr(v, "item") else v) for k, v in c.items()}
        if c["range_mode"] == "window":
            c["range_window"] = 1000
        key = json.dumps(c, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(c)
    return out


def tune(name: str, n_prefix: int, configs: list[dict], seed: int) -> tuple[dict, list]:
    spec = make_stream(name)
    scores = []
    for cfg in configs:
        r = prequential(spec(seed, n_prefix), make_model("oesnn", **cfg), window=n_prefix)
        scores.append((r.accuracy, cfg))
    best = max(scores, key=lambda s: s[0])
    return best[1], [(round(a, 4), c) for a, c in scores]


def run_model(name: str, model_name: str, params: dict, n_prefix: int, seed: int) -> dict:
    spec = make_stream(name)
    r = prequential(
        spec(seed, None), make_model(model_name, **params), window=500, score_from=n_prefix
    )
    m = prequential(
        spec(seed, None),
        make_model(model_name, **params),
        window=500,
        trace_memory=True,
        score_from=n_prefix,
    )
    if model_name != "knn" and abs(m.accuracy - r.accuracy) > 1e-12:
        print(f"warning: {model_name} on {name}: accuracy differs between runs", file=sys.stderr)
    return {
        "acc": r.accuracy,
        "acc_after": r.accuracy_after,
        "samples": r.samples,
        "samples_per_second": r.samples_per_second,
        "peak_mb": m.peak_mb,
        "drifts_detected": len(r.drift_points),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["phishing", "bananas", "imagesegments"])
    ap.add_argument("--configs", type=int, default=24, help="OeSNN configurations tried")
    ap.add_argument("--tune-fraction", type=float, default=0.2)
    ap.add_argument("--tune-max", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="stream and search seed")
    ap.add_argument("--out", type=Path, default=Path("runs/online_bench/results.json"))
    ap.add_argument("--report", nargs="+", type=Path, default=None, help="print the table")
    args = ap.parse_args(argv)
    if args.report:
        return report(args.report)
    torch.set_num_threads(1)
    for d in args.datasets:
        if d not in STREAMS:
            ap.error(f"unknown dataset {d!r}; valid: {', '.join(STREAMS)}")
    configs = draw_configs(args.configs, args.seed)
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}, "
        f"python {platform.python_version()}",
        "command": "python bench/online_bench.py " + " ".join(argv or sys.argv[1:]),
        "datasets": {},
    }
    for d in args.datasets:
        t0 = time.perf_counter()
        n_prefix = min(int(args.tune_fraction * STREAMS[d].length), args.tune_max)
        best, scores = tune(d, n_prefix, configs, args.seed)
        rows = {
            "oesnn": run_model(d, "oesnn", {}, n_prefix, args.seed),
            "oesnn-tuned": run_model(d, "oesnn", best, n_prefix, args.seed),
            "oesnn-tuned-adwin": run_model(d, "oesnn-adwin", best, n_prefix, args.seed),
        }
        for b in BASELINES:
            rows[b] = run_model(d, b, {}, n_prefix, args.seed)
        results["datasets"][d] = {
            "prefix": n_prefix,
            "best_config": best,
            "tuning_scores": scores,
            "models": rows,
            "seconds": time.perf_counter() - t0,
        }
        line = "  ".join(f"{k} {v['acc']:.4f}" for k, v in rows.items())
        print(f"{d} (prefix {n_prefix}, best {best}): {line}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


def report(paths: list[Path]) -> int:
    names = ["oesnn", "oesnn-tuned", "oesnn-tuned-adwin", *BASELINES]
    print("| stream | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    configs = []
    for p in paths:
        res = json.loads(p.read_text())
        for d, r in res["datasets"].items():
            m = r["models"]
            best = max(m[b]["acc"] for b in BASELINES)
            cells = []
            for k in names:
                a = m[k]["acc"]
                cell = f"{a:.3f}"
                if k.startswith("oesnn-tuned"):
                    cell += f" ({m[k]['acc_after']:.3f})"
                if a >= best - 1e-12:
                    cell = f"**{cell}**"
                cells.append(cell)
            print(f"| {d} | " + " | ".join(cells) + " |")
            configs.append((d, r["prefix"], r["best_config"]))
    print("\nSpeed (samples/s) and peak memory (MB, tracemalloc):\n")
    print("| stream | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for p in paths:
        res = json.loads(p.read_text())
        for d, r in res["datasets"].items():
            m = r["models"]
            cells = [f"{m[k]['samples_per_second']:.0f} / {m[k]['peak_mb']:.2f}" for k in names]
            print(f"| {d} | " + " | ".join(cells) + " |")
    print("\nSelected OeSNN parameters (prefix length):\n")
    for d, n, c in configs:
        print(f"- {d} ({n}): `{json.dumps(c)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
