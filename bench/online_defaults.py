"""Online learners at their defaults: OeSNN (self-tuning) vs river's tree and forests.

Every model runs with its defaults (nothing tuned per stream), behind
``preprocessing.StandardScaler()``, test-then-train over each stream once
(``spikegrad.online.prequential``: accuracy over samples 2..n, as river's
``progressive_val_score``). Models:

- ``oesnn``: ``OeSNNClassifier()``, which tunes itself on the stream (a population
  of six settings scored prequentially, successive halving; ``spikegrad.online.tuner``);
- ``oesnn-fixed``: ``OeSNNClassifier(tune=False)``, the fixed a-priori defaults;
- ``ht``: ``tree.HoeffdingTreeClassifier()``; ``arf``: ``forest.ARFClassifier(seed=0)``;
  ``srp``: ``ensemble.SRPClassifier(seed=0)``; ``amf``: ``forest.AMFClassifier(seed=0)``.

Streams: river's bundled Phishing, Bananas, ImageSegments (Elec2 and Insects are not
bundled: river downloads them, so they are left out), the synthetic drifting streams
of ``spikegrad.online.streams`` (first ``--samples`` samples), and scikit-learn's
bundled iris, wine, breast_cancer and digits, each shuffled once (seed 0; the files
are sorted by class) and streamed once.

Per-sample time: wall time of the whole prequential loop (predict_one + learn_one +
the scaler) divided by the samples, the first sample included; the OeSNN kernels
are loaded from numba's on-disk cache when ``spikegrad.online.esnn`` is imported
(``--import-times`` prints what importing costs and what the first sample costs,
in fresh processes). Memory: river's
deep size of the fitted pipeline (``_raw_memory_usage``) at the end of the stream.

Usage::

    python bench/online_defaults.py                  # prints the markdown table
    python bench/online_defaults.py --samples 3000 --out runs/online_bench/defaults.json
    python bench/online_defaults.py --reduction   # accuracy per neuron with / without CNN
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from spikegrad.online.prequential import prequential
from spikegrad.online.streams import STREAMS, make_model

MODELS = ["oesnn", "oesnn-fixed", "ht", "arf", "srp", "amf"]
RIVER = ["ht", "arf", "srp", "amf"]
REFERENCES = ["knn1", "knn5"]  #: accepted by --models, see reference_model
RIVER_STREAMS = ["phishing", "bananas", "imagesegments"]
SYNTHETIC = ["sine", "sea", "sea-gradual", "agrawal", "agrawal-gradual", "hyperplane", "rbf-drift"]
SKLEARN = ["iris", "wine", "breast_cancer", "digits"]


def sklearn_stream(name: str, seed: int = 0) -> list:
    """A scikit-learn bundled data set as a list of ``(x, y)``, shuffled once by ``seed``."""
    from sklearn import datasets

    x, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    idx = np.random.default_rng(seed).permutation(len(y))
    return [({f"f{j:02d}": float(v) for j, v in enumerate(x[i])}, int(y[i])) for i in idx]


def stream(name: str, n: int | None) -> list:
    """The samples of stream ``name`` (first ``n`` for the synthetic ones)."""
    if name in SKLEARN:
        return sklearn_stream(name)
    spec = STREAMS[name]
    return list(spec(0, None if name in RIVER_STREAMS else n))


def reference_model(name: str):
    """Nearest-neighbour references (not in the tables' goal): river's
    ``neighbors.KNNClassifier`` with ``k`` = 1 or 5 (window of 1000), behind
    ``StandardScaler``, as OeSNN's recall is a nearest-prototype rule."""
    from river import neighbors, preprocessing

    k = {"knn1": 1, "knn5": 5}[name]
    return preprocessing.StandardScaler() | neighbors.KNNClassifier(n_neighbors=k)


def run(name: str, model_name: str, data: list) -> dict:
    model = reference_model(model_name) if model_name in REFERENCES else make_model(model_name)
    c0 = time.process_time()
    r = prequential(iter(data), model, window=500)
    cpu = time.process_time() - c0
    out = {
        "acc": r.accuracy,
        "samples": r.samples,
        "ms_per_sample": 1e3 * r.seconds / r.samples,
        "cpu_ms_per_sample": 1e3 * cpu / r.samples,
        "kb": model._raw_memory_usage / 1024,
    }
    oes = model.steps[list(model.steps)[-1]]
    if getattr(oes, "tuner", None) is not None:
        out["members_left"] = oes.tuner.ids
    return out


REDUCTION_MODELS = {
    "fixed": {"tune": False},
    "fixed+cnn": {"tune": False, "reduction": "cnn"},
    "tuned": {},
    "tuned+cnn": {"tune": True, "reduction": "cnn"},
    "fixed+chang": {"tune": False, "reduction": "chang"},
    "tuned+chang": {"tune": True, "reduction": "chang"},
}


def reduction_table(streams: list[str], n: int) -> str:
    """OeSNN with and without the data reductions (CNN selection, Chang generation):
    accuracy, output neurons averaged over the stream (sampled every 50 samples) and
    accuracy points per 100 mean neurons."""
    from river import preprocessing

    from spikegrad.online.esnn import OeSNNClassifier

    lines = [
        "| stream | " + " | ".join(REDUCTION_MODELS) + " |",
        "|---|" + "---|" * len(REDUCTION_MODELS),
    ]
    for d in streams:
        data = stream(d, n)
        cells = []
        for kw in REDUCTION_MODELS.values():
            oes = OeSNNClassifier(**kw)
            model = preprocessing.StandardScaler() | oes
            hits, sizes = 0, []
            for t, (x, y) in enumerate(data):
                if t > 0:
                    hits += model.predict_one(x) == y
                model.learn_one(x, y)
                if t % 50 == 49:
                    sizes.append(oes.n_neurons)
            acc = hits / (len(data) - 1)
            mean_n = float(np.mean(sizes)) if sizes else float(oes.n_neurons)
            cells.append(f"{acc:.3f} / {mean_n:.0f} / {100 * acc / max(mean_n, 1):.2f}")
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines) + "\n"


def import_times() -> dict:
    """Seconds to import the OeSNN module (kernels loaded) and river's tree, fresh processes."""
    code = {
        "spikegrad.online.esnn": "import spikegrad.online.esnn",
        "river.tree": "import river.tree",
    }
    out = {}
    for k, c in code.items():
        prog = f"import time; t = time.perf_counter(); {c}; print(time.perf_counter() - t)"
        res = subprocess.run(
            [sys.executable, "-c", prog], capture_output=True, text=True, check=True
        )
        out[k] = float(res.stdout.strip())
    return out


_FIRST = """
import sys, time
sys.path.insert(0, {bench!r})
from online_defaults import sklearn_stream
from spikegrad.online.streams import make_model
x, y = sklearn_stream("iris")[0]
m = make_model({name!r})
t = time.perf_counter()
m.predict_one(x)
m.learn_one(x, y)
print(time.perf_counter() - t)
"""


def first_sample_times() -> dict:
    """Milliseconds of the first sample (predict_one + learn_one) in a fresh process, iris."""
    bench = str(Path(__file__).resolve().parent)
    out = {}
    for name in ("oesnn", "ht"):
        prog = _FIRST.format(bench=bench, name=name)
        res = subprocess.run(
            [sys.executable, "-c", prog], capture_output=True, text=True, check=True
        )
        out[name] = 1e3 * float(res.stdout.strip())
    return out


def table(res: dict) -> str:
    lines = []
    names = res["models"]
    lines.append("| stream (samples) | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for d, rows in res["streams"].items():
        best = max(rows[m]["acc"] for m in RIVER if m in rows)
        cells = []
        for m in names:
            v = rows[m]
            cell = f"{v['acc']:.3f}"
            if v["acc"] >= best - 1e-12:
                cell = f"**{cell}**"
            cells.append(cell)
        n = rows[names[0]]["samples"]
        lines.append(f"| {d} ({n}) | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Milliseconds per sample (first sample included) / memory (KB) at the end:")
    lines.append("")
    lines.append("| stream | " + " | ".join(names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for d, rows in res["streams"].items():
        cells = [f"{rows[m]['ms_per_sample']:.3f} / {rows[m]['kb']:.0f}" for m in names]
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    lines.append("")
    first = next(iter(res["streams"].values()))
    if "cpu_ms_per_sample" in first[names[0]]:
        lines.append("CPU milliseconds per sample (process time; less sensitive to load):")
        lines.append("")
        lines.append("| stream | " + " | ".join(names) + " |")
        lines.append("|---|" + "---|" * len(names))
        for d, rows in res["streams"].items():
            cells = [f"{rows[m]['cpu_ms_per_sample']:.3f}" for m in names]
            lines.append(f"| {d} | " + " | ".join(cells) + " |")
        lines.append("")
    if "oesnn" in names and "ht" in names:
        s = res["streams"]
        ge = [d for d in s if s[d]["oesnn"]["acc"] >= s[d]["ht"]["acc"] - 1e-12]
        close = [
            d
            for d in s
            if s[d]["oesnn"]["acc"] >= max(s[d][m]["acc"] for m in RIVER if m in s[d]) - 0.03
        ]
        ratio = {d: s[d]["oesnn"]["ms_per_sample"] / s[d]["ht"]["ms_per_sample"] for d in s}
        lines.append(
            f"OeSNN (self-tuning) >= HT on {len(ge)} of {len(s)} streams "
            f"(not on: {', '.join(d for d in s if d not in ge) or 'none'}); within "
            f"0.03 of the best river model on {len(close)} of {len(s)}; time ratio "
            f"to HT: " + ", ".join(f"{d} {r:.1f}x" for d, r in ratio.items())
        )
        if "cpu_ms_per_sample" in s[next(iter(s))]["oesnn"]:
            cpu = {
                d: s[d]["oesnn"]["cpu_ms_per_sample"] / s[d]["ht"]["cpu_ms_per_sample"] for d in s
            }
            lines.append(
                f"CPU-time ratio to HT (<= 2x on {sum(r <= 2 for r in cpu.values())} of "
                f"{len(s)}): " + ", ".join(f"{d} {r:.1f}x" for d, r in cpu.items())
            )
    if "import" in res:
        lines.append("")
        lines.append(
            "Import (fresh process, seconds): "
            + ", ".join(f"`{k}` {v:.2f}" for k, v in res["import"].items())
        )
    if "first_sample_ms" in res:
        lines.append(
            "First sample (fresh process, iris, ms): "
            + ", ".join(f"{k} {v:.2f}" for k, v in res["first_sample_ms"].items())
        )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--streams", nargs="+", default=RIVER_STREAMS + SYNTHETIC + SKLEARN)
    ap.add_argument("--models", nargs="+", default=MODELS)
    ap.add_argument(
        "--samples",
        type=int,
        default=3000,
        help="samples of each synthetic stream (river's and sklearn's: all)",
    )
    ap.add_argument("--import-times", action="store_true")
    ap.add_argument(
        "--reduction",
        action="store_true",
        help="print the data-reduction table (OeSNN with / without CNN) instead",
    )
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--report", type=Path, default=None, help="print the table of a JSON file")
    args = ap.parse_args(argv)
    if args.report:
        print(table(json.loads(args.report.read_text())), end="")
        return 0
    import torch

    torch.set_num_threads(1)
    for d in args.streams:
        if d not in STREAMS and d not in SKLEARN:
            ap.error(f"unknown stream {d!r}")
    if args.reduction:
        print(reduction_table(args.streams, args.samples), end="")
        return 0
    res: dict = {
        "machine": f"{platform.processor() or platform.machine()}, {platform.system()}, "
        f"python {platform.python_version()}",
        "command": "python bench/online_defaults.py " + " ".join(argv or sys.argv[1:]),
        "models": args.models,
        "streams": {},
    }
    t0 = time.perf_counter()
    for d in args.streams:
        data = stream(d, args.samples)
        res["streams"][d] = {m: run(d, m, data) for m in args.models}
        print(
            d,
            json.dumps({m: round(v["acc"], 4) for m, v in res["streams"][d].items()}),
            file=sys.stderr,
            flush=True,
        )
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(res, indent=1))
    if args.import_times:
        res["import"] = import_times()
        res["first_sample_ms"] = first_sample_times()
    res["seconds"] = time.perf_counter() - t0
    if args.out:
        args.out.write_text(json.dumps(res, indent=1))
    print(table(res), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
