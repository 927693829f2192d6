"""``spikegrad stream``: prequential evaluation of an online learner on a data stream."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError


def _parse_params(items: list[str]) -> dict:
    out: dict = {}
    for it in items:
        if "=" not in it:
            raise SpikegradInputError(f"--param expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``stream`` sub-command."""
    from ..online.streams import MODELS, STREAMS

    p = sub.add_parser(
        "stream",
        help="prequential (test-then-train) evaluation on a data stream",
        description="Evaluate an online classifier (OeSNN, e-prop or a river baseline) "
        "test-then-train "
        "on a river dataset or generator; print prequential accuracy as it goes and write "
        "metrics.json and a windowed-accuracy plot with drift points marked.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--dataset", default="phishing", choices=sorted(STREAMS), help="stream")
    p.add_argument("--model", default="oesnn", choices=sorted(MODELS), help="learner")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model parameter (JSON value), repeatable, e.g. --param n_fields=12",
    )
    p.add_argument("--samples", type=int, default=None, help="stop after this many samples")
    p.add_argument("--seed", type=int, default=0, help="seed of synthetic generators")
    p.add_argument("--window", type=int, default=500, help="sliding accuracy window")
    p.add_argument("--print-every", type=int, default=1000, help="progress line period")
    p.add_argument("--no-scaler", action="store_true", help="no StandardScaler in front")
    p.add_argument("--memory", action="store_true", help="trace peak memory (slower run)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (e-prop)")
    p.add_argument("--out", type=Path, default=None, help="output folder")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    p.set_defaults(func=_cmd_stream)


def _cmd_stream(args: argparse.Namespace) -> int:
    from ..online.prequential import plot_windowed_accuracy, prequential
    from ..online.streams import make_model, make_stream

    spec = make_stream(args.dataset)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.samples is not None and args.samples < 1:
        raise SpikegradInputError(f"--samples must be >= 1, got {args.samples}")
    if args.window < 1:
        raise SpikegradInputError(f"--window must be >= 1, got {args.window}")
    try:
        model = make_model(args.model, scale=not args.no_scaler, **_parse_params(args.param))
    except TypeError as exc:
        raise SpikegradInputError(f"bad --param for model {args.model!r}: {exc}") from exc
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "river":
            raise
        raise SpikegradInputError(
            "spikegrad stream needs river: pip install 'spikegrad[online]'"
        ) from exc
    n = min(args.samples or spec.length, spec.length)

    def show(i: int, acc: float) -> None:
        print(f"{i:>8d} samples  prequential accuracy {acc:.4f}", flush=True)

    res = prequential(
        spec(args.seed, n),
        model,
        window=args.window,
        record_every=max(1, min(50, n // 100 or 1)),
        trace_memory=args.memory,
        callback=show,
        callback_every=args.print_every,
    )
    out = (
        args.out
        or Path("runs") / f"stream-{args.dataset}-{args.model}-{datetime.now():%Y%m%d-%H%M%S}"
    )
    out.mkdir(parents=True, exist_ok=True)
    metrics = {
        "dataset": args.dataset,
        "model": args.model,
        "params": _parse_params(args.param),
        "scaler": not args.no_scaler,
        "seed": args.seed,
        "accuracy": res.accuracy,
        "samples": res.samples,
        "samples_per_second": res.samples_per_second,
        "peak_mb": res.peak_mb,
        "seconds": res.seconds,
        "window": res.window,
        "true_drifts": [d for d in spec.drifts if d < n],
        "detected_drifts": res.drift_points,
        "window_positions": res.positions,
        "window_accuracy": res.window_accuracy,
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    if not args.no_plots:
        plot_windowed_accuracy(
            res.positions,
            res.window_accuracy,
            out / "windowed_accuracy.png",
            true_drifts=metrics["true_drifts"],
            detected=res.drift_points,
            title=f"{args.model} on {args.dataset} (window {args.window})",
        )
    mem = f", peak {res.peak_mb:.1f} MB" if res.peak_mb is not None else ""
    print(
        f"accuracy {res.accuracy:.4f} over {res.samples} samples, "
        f"{res.samples_per_second:.0f} samples/s{mem}\n"
        f"run folder: {out}  (metrics.json"
        + ("" if args.no_plots else ", windowed_accuracy.png")
        + ")"
    )
    return 0
