"""Per-sample cost of OeSNN (predict_one + learn_one) against river's HoeffdingTree, same process.

Streams: river's ImageSegments (2310 samples, 18 features, 7 classes) and a
64-feature Gaussian stream (1500 samples, 4 classes, class means N(0, 1),
unit noise, seed 0). Both models behind ``preprocessing.StandardScaler()``,
river defaults for the tree, OeSNN's fixed defaults (``tune=False``; the self-tuning
default is timed by ``bench/online_defaults.py``). The compiled kernels are loaded
before timing; each model runs ``--repeats`` times alternately and the median
is reported. Run it with ``PYTHONPATH`` pointing at another source tree to time
another version of OeSNN under the same load.

Usage::

    python bench/online_speed.py --out runs/online_bench/speed.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from river import datasets, preprocessing, tree

from spikegrad.online import OeSNNClassifier


def stream64(n: int = 1500, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(4, 64))
    out = []
    for _ in range(n):
        y = int(rng.integers(4))
        x = means[y] + rng.normal(size=64)
        out.append(({f"f{j:02d}": float(x[j]) for j in range(64)}, y))
    return out


def run(model, data) -> tuple[float, float]:
    ok = 0
    t0 = time.perf_counter()
    for x, y in data:
        ok += model.predict_one(x) == y
        model.learn_one(x, y)
    return 1e3 * (time.perf_counter() - t0) / len(data), ok / len(data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    warm = preprocessing.StandardScaler() | OeSNNClassifier(tune=False)
    run(warm, list(datasets.Phishing())[:100])
    res = {}
    for name, data in (("imagesegments", list(datasets.ImageSegments())), ("gauss64", stream64())):
        ms: dict = {"ht": [], "oesnn": []}
        acc = {}
        for _ in range(args.repeats):
            for k in ms:
                m = preprocessing.StandardScaler() | (
                    tree.HoeffdingTreeClassifier() if k == "ht" else OeSNNClassifier(tune=False)
                )
                t, a = run(m, data)
                ms[k].append(t)
                acc[k] = a
        row = {k: statistics.median(v) for k, v in ms.items()}
        row["ratio"] = row["oesnn"] / row["ht"]
        row["accuracy"] = acc
        res[name] = row
        print(name, json.dumps(row), flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
