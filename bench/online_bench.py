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

Models: ``oesnn`` (the fixed defaults, ``tune=False``; the self-tuning default
is in ``bench/online_defaults.py``), ``oesnn-tuned``, ``oesnn-tuned-adwin`` (tuned
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
    "rank": ["global", "feature"],
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


ENSEMBLES = ["bagging", "adwin-bagging", "leveraging-bagging", "drift-retraining"]


def make_ensemble(kind: str, base_name: str, params: dict, n_models: int = 5):
    """River wrapper ``kind`` around ``base_name`` (an OeSNN or ``ht``), behind a scaler."""
    from river import drift, ensemble, preprocessing

    base = make_model(base_name, scale=False, **params)
    if kind == "bagging":
        m = ensemble.BaggingClassifier(base, n_models=n_models, seed=0)
    elif kind == "adwin-bagging":
        m = ensemble.ADWINBaggingClassifier(base, n_models=n_models, seed=0)
    elif kind == "leveraging-bagging":
        m = ensemble.LeveragingBaggingClassifier(base, n_models=n_models, seed=0)
    elif kind == "drift-retraining":
        m = drift.DriftRetrainingClassifier(base, drift_detector=drift.binary.DDM())
    else:
        raise ValueError(kind)
    return preprocessing.StandardScaler() | m


def tune(name: str, n_prefix: int, configs: list[dict], seed: int) -> tuple[dict, list]:
    spec = make_stream(name)
    scores = []
    for cfg in configs:
        model = make_model("oesnn", tune=False, **cfg)
        r = prequential(spec(seed, n_prefix), model, window=n_prefix)
        scores.append((r.accuracy, cfg))
    best = max(scores, key=lambda s: s[0])
    return best[1], [(round(a, 4), c) for a, c in scores]


def run_model(
    name: str, model_name: str, params: dict, n_prefix: int, seed: int,
    n: int | None = None, memory: bool = True, model=None, model_factory=None,
) -> dict:
    spec = make_stream(name)
    build = model_factory or (lambda: make_model(model_name, **params))
    r = prequential(spec(seed, n), build(), window=500, score_from=n_prefix)
    peak = None
    if memory:
        m = prequential(spec(seed, n), build(), window=500, trace_memory=True, score_from=n_prefix)
        peak = m.peak_mb
        if model_name != "knn" and abs(m.accuracy - r.accuracy) > 1e-12:
            print(f"warning: {model_name} on {name}: accuracy differs between runs",
                  file=sys.stderr)
    return {
        "acc": r.accuracy,
        "acc_after": r.accuracy_after,
        "samples": r.samples,
        "samples_per_second": r.samples_per_second,
        "ms_per_sample": 1e3 / r.samples_per_second,
        "peak_mb": peak,
        "drifts_detected": len(r.drift_points),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["phishing", "bananas", "imagesegments"])
    ap.add_argument("--configs", type=int, default=24, help="OeSNN configurations tried")
    ap.add_argument("--tune-fraction", type=float, default=0.2)
    ap.add_argument("--tune-max", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0, help="stream and search seed")
    ap.add_argument("--samples", type=int, default=None, help="cap on each stream's length")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc runs")
    ap.add_argument("--eprop", type=int, default=0,
                    help="also run e-prop (and HT, OeSNN-tuned) on the first N samples (0: no)")
    ap.add_argument("--ensembles", type=int, default=0,
                    help="also run river's ensemble/drift wrappers on the first N samples (0: no)")
    ap.add_argument("--models", nargs="+", default=None,
                    help="main-table models (default: all); 'none' for only the extra tables")
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
    # load the compiled kernels once, outside every timed run
    for warm in ({}, {"rank": "feature"}):
        prequential(make_stream("phishing")(0, 50), make_model("oesnn", **warm))
    results = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}, "
        f"python {platform.python_version()}",
        "command": "python bench/online_bench.py " + " ".join(argv or sys.argv[1:]),
        "datasets": {},
    }
    for d in args.datasets:
        t0 = time.perf_counter()
        length = STREAMS[d].length if args.samples is None else min(args.samples, STREAMS[d].length)
        n_prefix = min(int(args.tune_fraction * length), args.tune_max)
        best, scores = tune(d, n_prefix, configs, args.seed)
        fixed_best = {**best, "tune": False}  # the selected setting, never re-tuned
        mem = not args.no_memory
        plan = {
            "oesnn": ("oesnn", {"tune": False}),  # the fixed defaults
            "oesnn-tuned": ("oesnn", fixed_best),
            "oesnn-tuned-adwin": ("oesnn-adwin", fixed_best),
            **{b: (b, {}) for b in BASELINES},
        }
        wanted = args.models or list(plan)  # ["none"]: only the extra tables
        rows = {
            k: run_model(d, mn, p, n_prefix, args.seed, length, mem)
            for k, (mn, p) in plan.items() if k in wanted
        }
        extra: dict = {}
        if args.eprop:
            ne = min(args.eprop, length)
            pe = min(int(args.tune_fraction * ne), args.tune_max)
            extra["eprop"] = {
                "samples": ne,
                "models": {
                    k: run_model(d, mn, p, pe, args.seed, ne, False)
                    for k, (mn, p) in {"eprop": ("eprop", {}), "oesnn-tuned": ("oesnn", fixed_best),
                                       "ht": ("ht", {})}.items()
                },
            }
        if args.ensembles:
            ne = min(args.ensembles, length)
            pe = min(int(args.tune_fraction * ne), args.tune_max)
            ens = {"oesnn-tuned": run_model(d, "oesnn", fixed_best, pe, args.seed, ne, False),
                   "ht": run_model(d, "ht", {}, pe, args.seed, ne, False)}
            for kind in ENSEMBLES:
                for base_name, p in (("oesnn", fixed_best), ("ht", {})):
                    ens[f"{kind}({base_name})"] = run_model(
                        d, kind, p, pe, args.seed, ne, False,
                        model_factory=lambda k=kind, b=base_name, q=p: make_ensemble(k, b, q),
                    )
            extra["ensembles"] = {"samples": ne, "models": ens}
        results["datasets"][d] = {
            "length": length,
            "prefix": n_prefix,
            "best_config": best,
            "tuning_scores": scores,
            "models": rows,
            **extra,
            "seconds": time.perf_counter() - t0,
        }
        line = "  ".join(f"{k} {v['acc']:.4f}" for k, v in rows.items())
        print(f"{d} (prefix {n_prefix}, best {best}): {line}", flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1))
    return 0


def _table(title: str, streams: dict, names: list[str], key: str, baselines: list[str]) -> None:
    print(f"\n{title}\n")
    print("| stream (samples) | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for d, (n, m) in streams.items():
        best = max((m[b]["acc"] for b in baselines if b in m), default=None)
        cells = []
        for k in names:
            if k not in m:
                cells.append("-")
                continue
            v = m[k]
            if key == "acc":
                cell = f"{v['acc']:.3f}"
                if k.startswith("oesnn-tuned") or k.endswith("(oesnn)"):
                    cell += f" ({v['acc_after']:.3f})"
                if best is not None and v["acc"] >= best - 1e-12:
                    cell = f"**{cell}**"
            else:
                cell = f"{v['ms_per_sample']:.3f}"
                if v.get("peak_mb") is not None:
                    cell += f" / {v['peak_mb']:.2f}"
            cells.append(cell)
        print(f"| {d} ({n}) | " + " | ".join(cells) + " |")


def report(paths: list[Path]) -> int:
    main_rows: dict = {}
    eprop_rows: dict = {}
    ens_rows: dict = {}
    configs = []
    for p in paths:
        res = json.loads(p.read_text())
        for d, r in res["datasets"].items():
            if r["models"]:
                main_rows[d] = (r.get("length", r["models"][next(iter(r["models"]))]["samples"]),
                                r["models"])
            if "eprop" in r:
                eprop_rows[d] = (r["eprop"]["samples"], r["eprop"]["models"])
            if "ensembles" in r:
                ens_rows[d] = (r["ensembles"]["samples"], r["ensembles"]["models"])
            configs.append((d, r["prefix"], r["best_config"]))
    names = ["oesnn", "oesnn-tuned", "oesnn-tuned-adwin", *BASELINES]
    if main_rows:
        _table("Prequential accuracy (bracket: after the tuning prefix):", main_rows, names,
               "acc", BASELINES)
        _table("Milliseconds per sample (predict_one + learn_one, scaler included) / peak MB:",
               main_rows, names, "ms", BASELINES)
    if eprop_rows:
        en = ["eprop", "oesnn-tuned", "ht"]
        _table("e-prop on the first samples of each stream:", eprop_rows, en, "acc", ["ht"])
        _table("e-prop, milliseconds per sample:", eprop_rows, en, "ms", ["ht"])
    if ens_rows:
        en = ["oesnn-tuned", "ht"] + [f"{k}({b})" for k in ENSEMBLES for b in ("oesnn", "ht")]
        river = ["ht"] + [f"{k}(ht)" for k in ENSEMBLES]
        _table("River wrappers around OeSNN (tuned) and HT, first samples of each stream:",
               ens_rows, en, "acc", river)
        _table("Wrappers, milliseconds per sample:", ens_rows, en, "ms", river)
    print("\nSelected OeSNN parameters (prefix length):\n")
    for d, n, c in configs:
        print(f"- {d} ({n}): `{json.dumps(c)}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
