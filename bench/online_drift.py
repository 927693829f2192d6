"""Recovery after abrupt drift: drift-aware (ADWIN) vs passive vs naive OeSNN.

For each abrupt-drift stream and seed, every model runs test-then-train behind
a ``StandardScaler``. Around each true drift position ``d`` we measure

* ``pre``: accuracy over the 1000 samples before ``d``;
* ``post``: accuracy over the 1000 samples after ``d``;
* ``recovery``: samples after ``d`` until the sliding accuracy (window 200)
  is back at 0.95 x ``pre`` (``None`` if not within the next segment).

OeSNN variants use the default parameters: ``oesnn`` (naive, bounded repository
with replacement), ``oesnn-passive`` (reliability pruning, threshold 0.4) and
``oesnn-adwin`` (ADWIN on the 0/1 error; repository reduced to the 5 youngest
neurons per class when it fires). ``hat`` (river's HoeffdingAdaptiveTree) is
shown for reference.

Usage::

    python bench/online_drift.py --out runs/online_bench/drift.json \\
        --plot runs/online_bench/drift_sine.png
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from pathlib import Path

import numpy as np

from spikegrad.online.prequential import drift_points_of
from spikegrad.online.streams import make_model, make_stream

MODELS = ["oesnn", "oesnn-passive", "oesnn-adwin", "hat"]
STREAMS = ["sine", "sea", "agrawal"]


def run(stream: str, model_name: str, seed: int) -> tuple[np.ndarray, list[int]]:
    spec = make_stream(stream)
    # the fixed default parameters (tune=False), as recorded in BENCHMARKS.md
    model = make_model(model_name, tune=False) if model_name != "hat" else make_model("hat")
    ok = np.zeros(spec.length, dtype=bool)
    for n, (x, y) in enumerate(spec(seed)):
        ok[n] = model.predict_one(x) == y
        model.learn_one(x, y)
    return ok, drift_points_of(model)


def recovery(ok: np.ndarray, d: int, end: int, window: int = 200) -> dict:
    pre = float(ok[max(0, d - 1000) : d].mean())
    post = float(ok[d : d + 1000].mean())
    roll = deque(maxlen=window)
    rec = None
    for n in range(d, end):
        roll.append(ok[n])
        if len(roll) == window and np.mean(roll) >= 0.95 * pre:
            rec = n - d + 1 - window // 2  # centre of the window
            break
    return {"pre": pre, "post": post, "recovery": rec}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", nargs="+", default=STREAMS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("runs/online_bench/drift.json"))
    ap.add_argument("--plot", type=Path, default=Path("runs/online_bench/drift_sine.png"))
    args = ap.parse_args(argv)
    res: dict = {}
    curves = {}
    for s in args.streams:
        spec = make_stream(s)
        bounds = [*spec.drifts, spec.length]
        res[s] = {}
        for m in MODELS:
            rows = []
            for seed in range(args.seeds):
                ok, det = run(s, m, seed)
                per = [recovery(ok, d, bounds[i + 1]) for i, d in enumerate(spec.drifts)]
                rows.append({"accuracy": float(ok[1:].mean()), "drifts": per, "detected": det})
                if s == "sine" and seed == 0:
                    w = np.convolve(ok.astype(float), np.ones(200) / 200, mode="valid")
                    curves[m] = (list(range(200, len(ok) + 1, 10)), list(w[::10]), det)
            post = [d["post"] for r in rows for d in r["drifts"]]
            recs = [d["recovery"] for r in rows for d in r["drifts"]]
            res[s][m] = {
                "accuracy": float(np.mean([r["accuracy"] for r in rows])),
                "post_drift_accuracy": float(np.mean(post)),
                "recovery_median": (
                    float(np.median([r for r in recs if r is not None]))
                    if any(r is not None for r in recs)
                    else None
                ),
                "not_recovered": sum(r is None for r in recs),
                "n_drifts": len(recs),
                "runs": rows,
            }
            r = res[s][m]
            print(
                f"{s:8s} {m:14s} acc {r['accuracy']:.4f}  post-drift {r['post_drift_accuracy']:.4f}"
                f"  recovery median {r['recovery_median']}  not recovered "
                f"{r['not_recovered']}/{r['n_drifts']}",
                flush=True,
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1))
    if curves:
        _plot(curves, args.plot)
    return 0


def _plot(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.4))
    for m, (x, y, det) in curves.items():
        ax.plot(x, y, lw=1.1, label=m)
        if m == "oesnn-adwin":
            for i, d in enumerate(det):
                ax.axvline(d, color="0.4", ls=":", lw=1, label="ADWIN fires" if i == 0 else None)
    ax.axvline(3000, color="tab:red", ls="--", lw=1, label="true drift")
    ax.set_xlabel("samples")
    ax.set_ylabel("accuracy (window 200)")
    ax.set_title("Sine, abrupt label reversal at 3000 (seed 0)")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
