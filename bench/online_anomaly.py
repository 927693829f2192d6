"""OeSNN-UAD against river's anomaly detectors on streams with injected anomalies.

Every detector sees ``{"x": value}`` one sample at a time, scores it *before*
learning it (test-then-train), and is ranked by ROC AUC (Mann-Whitney, ties
one half) over the whole stream and over the part after the tuning prefix.
OeSNN-UAD three ways: ``oesnn-uad`` is ``OeSNNUAD()`` at its defaults, which
chooses ``window``, ``learn_first`` and ``epsilon`` itself on the stream without
labels (:data:`spikegrad.online.uad.TUNE_CANDIDATES`, forecast-residual
criterion); ``oesnn-uad-fixed`` is ``OeSNNUAD(tune=False)`` (window 100, authors'
order, epsilon 3); ``oesnn-uad-prefix`` is hand-tuned: the candidate of best AUC
on the first 20 % of the stream (``--tune-fraction``), which needs the labels of
that prefix. The paper's other parameters are kept. River detectors use river
defaults (HalfSpaceTrees seed 0 behind a MinMaxScaler, as river's docs do; OneClassSVM behind a
StandardScaler; LODA seed 0). Streams:
:mod:`spikegrad.online.anomaly_streams`. Per-sample time: median over the
seeds of (score_one + learn_one) time of the whole stream.

Usage::

    python bench/online_anomaly.py --seeds 0 1 2 --out runs/online_bench/anomaly_tuned.json
    python bench/online_anomaly.py --report runs/online_bench/anomaly_tuned.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from spikegrad.online.anomaly_streams import ANOMALY_STREAMS, make_anomaly_stream, roc_auc
from spikegrad.online.uad import TUNE_CANDIDATES, OeSNNUAD

GRID = list(TUNE_CANDIDATES)
DETECTORS = ["oesnn-uad", "oesnn-uad-fixed", "oesnn-uad-prefix", "hst", "ocsvm", "loda"]


def make_detector(name: str, params: dict | None = None):
    from river import anomaly, preprocessing

    if name == "oesnn-uad":
        return OeSNNUAD()
    if name == "oesnn-uad-fixed":
        return OeSNNUAD(tune=False)
    if name == "oesnn-uad-prefix":
        return OeSNNUAD(**(params or {}), tune=False)
    if name == "hst":
        return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=0)
    if name == "ocsvm":
        return preprocessing.StandardScaler() | anomaly.OneClassSVM()
    if name == "loda":
        return anomaly.LODA(seed=0)
    raise ValueError(name)


def run(det, xs: list[dict]) -> tuple[np.ndarray, float]:
    scores = np.empty(len(xs))
    t0 = time.perf_counter()
    for i, x in enumerate(xs):
        scores[i] = det.score_one(x)
        det.learn_one(x)
    return scores, (time.perf_counter() - t0) / len(xs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", nargs="+", default=sorted(ANOMALY_STREAMS))
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--tune-fraction", type=float, default=0.2)
    ap.add_argument("--out", type=Path, default=Path("runs/online_bench/anomaly.json"))
    ap.add_argument("--report", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.report:
        return report(args.report)
    res = {
        "command": "python bench/online_anomaly.py " + " ".join(argv or sys.argv[1:]),
        "streams": {},
    }
    for name in args.streams:
        spec = make_anomaly_stream(name)
        rows: dict = {d: {"auc": [], "auc_after": [], "ms": []} for d in DETECTORS}
        chosen = []
        self_chosen = []
        for seed in args.seeds:
            xs, labels = spec(seed)
            n_pre = int(args.tune_fraction * len(xs))
            best = max(
                GRID, key=lambda p: roc_auc(run(OeSNNUAD(**p), xs[:n_pre])[0], labels[:n_pre])
            )
            chosen.append(best)
            for d in DETECTORS:
                det = make_detector(d, best if d == "oesnn-uad-prefix" else None)
                s, dt = run(det, xs)
                if d == "oesnn-uad":
                    self_chosen.append(det.chosen)
                rows[d]["auc"].append(roc_auc(s, labels))
                rows[d]["auc_after"].append(roc_auc(s[n_pre:], labels[n_pre:]))
                rows[d]["ms"].append(1e3 * dt)
        res["streams"][name] = {
            "length": len(xs),
            "anomalies": int(labels.sum()),
            "chosen": chosen,
            "self_chosen": self_chosen,
            "rows": rows,
        }
        print(name, {d: round(statistics.mean(r["auc"]), 3) for d, r in rows.items()}, flush=True)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


def report(path: Path) -> int:
    res = json.loads(path.read_text())
    print("| stream (length, anomalies) | " + " | ".join(DETECTORS) + " |")
    print("|---|" + "---|" * len(DETECTORS))
    for name, r in res["streams"].items():
        cells = []
        for d in DETECTORS:
            a = r["rows"][d]
            cells.append(
                f"{statistics.mean(a['auc']):.3f} ({statistics.mean(a['auc_after']):.3f})"
                f" / {statistics.median(a['ms']):.3f} ms"
            )
        print(f"| {name} ({r['length']}, {r['anomalies']}) | " + " | ".join(cells) + " |")
    print()
    for name, r in res["streams"].items():
        print(
            f"- {name}: prefix-tuned per seed {r['chosen']}; "
            f"self-tuned at the end {r.get('self_chosen')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
