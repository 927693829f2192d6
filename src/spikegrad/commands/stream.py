"""``spikegrad stream``: prequential evaluation of an online learner on a data stream."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError


def _stream_params() -> dict[str, dict]:
    """Learner name -> its ``--param`` options (:class:`~spikegrad._checks.Option`): the one
    schema of every KEY=VALUE flag, so a parameter is typed, ranged and its size capped
    before the stream is read."""
    from .._checks import Option as O

    unit = O("float", "", 0.0, 1.0, exclusive_min=True, exclusive_max=True)
    pos = O("float", "", 0.0, exclusive_min=True)
    seed = O("int", "seed", 0)
    # None (JSON null): the self-tuning OeSNN's "tune this one" where its constructor has it
    oesnn = {
        "n_fields": O("int", "Gaussian receptive fields per feature", 1, 1000, nullable=True),
        "beta": O("float", "", 0.0, exclusive_min=True, nullable=True),
        "mod": O("float", "", 0.0, 1.0, exclusive_min=True, exclusive_max=True, nullable=True),
        "c": O("float", "firing-threshold fraction", 0.0, 1.0, exclusive_min=True,
               nullable=True),
        "sim": O("float", "merge distance", 0.0, nullable=True),
        # each neuron holds features x n_fields weights: the repository is capped
        "max_neurons_per_class": O("int", "repository size per class", 1, 100_000,
                                   nullable=True),
        "replace": O("choice", "", choices=("oldest", "least_used")),
        "numbering": O("str"), "range_mode": O("str"),
        "range_window": O("int", "", 1, 10_000_000),
        "late_cut": O("float", "", 0.0, 1.0, exclusive_min=True, exclusive_max=True,
                      nullable=True),
        "distance": O("choice", "", choices=("raw", "dmax")),
        "no_fire": O("choice", "", choices=("psp", "ratio", "none")),
        "proba_scale": pos, "drift_keep": O("int", "", 0, 1_000_000),
        "passive_prune": O("float", "", 0.0, 1.0, exclusive_min=True, exclusive_max=True,
                           nullable=True),
        "prune_rate": unit, "skip_constant": O("bool"),
        "rank": O("choice", "", choices=("global", "feature"), nullable=True),
        "tune": O("bool", "tune the unset settings online", nullable=True),
        # data reduction of the repository (Lobo et al. 2018): prototype selection/generation
        # (online.esnn.REDUCTIONS, written out: esnn needs river, the schema must not)
        "reduction": O("choice", "", choices=("cnn", "chang"), nullable=True),
        "reduce_every": O("int", "learned samples between reductions", 1, 1_000_000_000),
    }
    ensemble = {**oesnn, "n_models": O("int", "ensemble members", 1, 1000), "seed": seed}
    tree = {
        "grace_period": O("int", "", 1, 1_000_000_000),
        "max_depth": O("int", "", 1, 1000, nullable=True),
        "delta": unit, "tau": pos,
        "split_criterion": O("choice", "", choices=("info_gain", "gini", "hellinger")),
        "leaf_prediction": O("choice", "", choices=("mc", "nb", "nba")),
        "nb_threshold": O("int", "", 0), "binary_split": O("bool"),
        "max_size": O("float", "memory budget (MiB)", 0.0, 1_000_000, exclusive_min=True),
    }
    return {
        "oesnn": oesnn, "oesnn-fixed": oesnn, "oesnn-adwin": oesnn, "oesnn-passive": oesnn,
        "oesnn-bagging": ensemble, "oesnn-adwin-bagging": ensemble,
        "oesnn-leveraging": ensemble, "oesnn-drift-retraining": oesnn,
        "eprop": {
            # the recurrent weights are n_hidden^2 floats with their traces
            "n_hidden": O("int", "hidden neurons", 1, 4096),
            "n_steps": O("int", "time steps per sample", 4, 10_000),
            "n_fields": O("int", "", 1, 1000), "beta": pos,
            "late_cut": O("float", "", 0.0, 1.0, exclusive_min=True),
            "lr": pos, "recurrent": O("bool"),
            "update": O("choice", "", choices=("sample", "step")),
            "seed": seed, "input_scale": pos,
        },
        "ht": tree, "hat": {**tree, "seed": seed},
        "arf": {**tree, "n_models": O("int", "trees", 1, 1000), "seed": seed,
                "lambda_value": O("int", "", 1, 1000), "grace_period": tree["grace_period"]},
        "gnb": {},
        "knn": {"n_neighbors": O("int", "", 1, 100_000), "weighted": O("bool"),
                "softmax": O("bool"), "seed": seed},
    }


def _parse_params(items: list[str], model: str = "oesnn") -> dict:
    """``--param KEY=VALUE`` items (JSON values) checked against the learner's options."""
    from .._checks import check_options

    out: dict = {}
    for it in items:
        if "=" not in it or not it.split("=", 1)[0].strip():
            raise SpikegradInputError(f"--param expects KEY=VALUE, got {it!r}")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    schema = _stream_params().get(model)
    if schema is None:  # a learner added without a declaration: its constructor checks
        return out
    return check_options(f"--param (model {model!r})", schema, out)


_TABLE_FIELDS = ["model", "accuracy", "samples", "ms_per_sample", "detected_drifts"]


def _table_row(name: str, res) -> dict:
    return {
        "model": name,
        "accuracy": round(res.accuracy, 6),
        "samples": res.samples,
        "ms_per_sample": round(1e3 / res.samples_per_second, 4) if res.samples_per_second else None,
        "detected_drifts": len(res.drift_points),
    }


def _markdown(rows: list[dict]) -> str:
    lines = ["| " + " | ".join(_TABLE_FIELDS) + " |", "|" + "---|" * len(_TABLE_FIELDS)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[k]) for k in _TABLE_FIELDS) + " |")
    return "\n".join(lines) + "\n"


def _write_table(run, rows: list[dict]) -> None:
    import csv
    import io

    from ..io.checkpoint import atomic_write_bytes

    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_TABLE_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(run.file("table.csv"), buf.getvalue().encode())
    atomic_write_bytes(run.file("table.md"), _markdown(rows).encode())


def _need_river(exc: ModuleNotFoundError) -> None:
    """Re-raise a missing river as a one-line input error (exit 2), anything else as is."""
    if (exc.name or "").split(".")[0] != "river":
        raise exc
    raise SpikegradInputError(
        "spikegrad stream needs river: pip install 'spikegrad[online]'"
    ) from exc


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``stream`` sub-command."""
    from ..online.streams import MODELS, STREAMS
    from ._flags import HelpFormatter, add_alias

    p = sub.add_parser(
        "stream",
        help="prequential (test-then-train) evaluation on a data stream",
        description="Evaluate an online classifier (OeSNN, e-prop or a river baseline) "
        "test-then-train on a river dataset or generator; print prequential accuracy as it "
        "goes and write a run folder: config.json (every setting), metrics.json, "
        "history.csv (the prequential curve: cumulative and windowed accuracy) and a "
        "windowed-accuracy plot with drift points marked.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--task", dest="task", default="phishing",
                   help="stream: one of " + ", ".join(sorted(STREAMS)) + "; a river "
                   "classification data set class name (e.g. ImageSegments); or a .csv file "
                   "(header row, numeric features, label column --target)")
    add_alias(p, "--dataset", "task")
    p.add_argument("--target", default=None,
                   help="label column of a CSV --task (default: the last column)")
    p.add_argument("--model", default="oesnn", choices=sorted(MODELS), help="learner")
    p.add_argument("--against", default="",
                   help="comma-separated baselines run on the same stream after --model, e.g. "
                   "ht,arf,srp,amf (any of: " + ", ".join(sorted(MODELS)) + "); the "
                   "comparison goes to table.csv / table.md and accuracy.png")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="model parameter (JSON value), repeatable, e.g. --param n_fields=12",
    )
    p.add_argument("--samples", type=int, default=None,
                   help="stop after this many samples (default: the whole stream)")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of synthetic generators")
    p.add_argument("--window", type=int, default=500, help="sliding accuracy window")
    p.add_argument("--record-every", type=int, default=None,
                   help="history.csv row period (default: about 100 rows, at most every 50)")
    p.add_argument("--print-every", type=int, default=1000,
                   help="progress line period (0: none)")
    p.add_argument("--no-scaler", action="store_true", help="no StandardScaler in front")
    p.add_argument("--memory", action="store_true", help="trace peak memory (slower run)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (e-prop; 0 or unset: torch default)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder; if not given: runs/stream-<task>-<model>-<timestamp>")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plot")
    p.set_defaults(func=_cmd_stream)


def _check_args(args: argparse.Namespace) -> None:
    """Every numeric flag, each with a one-line error naming it (exit 2)."""
    checks = [
        ("samples", args.samples, 1),
        ("window", args.window, 1),
        ("record-every", args.record_every, 1),
        ("print-every", args.print_every, 0),
        ("seed", args.seed, 0),
        ("threads", args.threads, 0),
    ]
    for flag, value, minimum in checks:
        if value is not None and value < minimum:
            raise SpikegradInputError(f"--{flag} must be an integer >= {minimum}, got {value}")


def _cmd_stream(args: argparse.Namespace) -> int:
    from ..io.run import RunFolder, lock_run_folder
    from ..online.prequential import plot_accuracy_curves, plot_windowed_accuracy, prequential
    from ..online.streams import MODELS, make_model, resolve_stream

    _check_args(args)
    against = [a.strip() for a in args.against.split(",") if a.strip()]
    for a in against:
        if a not in MODELS:
            raise SpikegradInputError(
                f"--against: unknown model {a!r}; valid names: {', '.join(sorted(MODELS))}"
            )
    from ._flags import typed_flag

    task_flag = typed_flag("--task", "--dataset")  # errors name the spelling typed
    if args.target is not None and not args.task.lower().endswith(".csv"):
        raise SpikegradInputError(f"--target is only for a CSV {task_flag}")
    try:
        spec = resolve_stream(args.task, args.target)
    except ModuleNotFoundError as exc:
        _need_river(exc)
    except SpikegradInputError as exc:
        text = str(exc)
        if text.startswith("--task"):
            text = text[len("--task"):].lstrip(":")
        sep = "" if text.startswith(" ") else ": "
        raise SpikegradInputError(f"{task_flag}{sep}{text}") from exc
    params = _parse_params(args.param, args.model)
    try:
        model = make_model(args.model, scale=not args.no_scaler, **params)
    except TypeError as exc:
        raise SpikegradInputError(f"bad --param for model {args.model!r}: {exc}") from exc
    except ModuleNotFoundError as exc:
        _need_river(exc)
    n = spec.length if args.samples is None else min(args.samples, spec.length)
    record_every = (
        args.record_every if args.record_every is not None else max(1, min(50, n // 100 or 1))
    )
    out = (
        args.out
        if args.out is not None
        else Path("runs") / f"stream-{spec.name}-{args.model}-{datetime.now():%Y%m%d-%H%M%S}"
    )
    from ..io.run import refuse_input_in_run_folder

    refuse_input_in_run_folder(out, [args.task])
    lock_run_folder(out, "stream")
    run = RunFolder(out)  # an unwritable --out fails here, before the stream runs
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from ..online._esnn_kernels import warm_up

    warm_up()  # compiled kernels loaded before the timed runs
    true_drifts = [d for d in spec.drifts if d < n]
    run.write_config({
        "command": "stream", "task": args.task, "model": args.model, "params": params,
        "scaler": not args.no_scaler, "samples": n, "samples_requested": args.samples,
        "stream_length": spec.length, "seed": args.seed, "window": args.window,
        "record_every": record_every, "print_every": args.print_every,
        "memory": args.memory, "threads": args.threads, "plots": not args.no_plots,
        "true_drifts": true_drifts, "description": spec.description,
        "against": against, "target": args.target,
    })

    def show(i: int, acc: float) -> None:
        print(f"{i:>8d} samples  prequential accuracy {acc:.4f}", flush=True)

    res = prequential(
        spec(args.seed, n),
        model,
        window=args.window,
        record_every=record_every,
        trace_memory=args.memory,
        callback=show,
        callback_every=args.print_every,
    )
    metrics = {
        "task": args.task,
        "dataset": args.task,
        "model": args.model,
        "params": params,
        "scaler": not args.no_scaler,
        "seed": args.seed,
        "accuracy": res.accuracy,
        "samples": res.samples,
        "scored": res.scored,
        "samples_per_second": res.samples_per_second,
        "peak_mb": res.peak_mb,
        "seconds": res.seconds,
        "window": res.window,
        "true_drifts": true_drifts,
        "detected_drifts": res.drift_points,
        "window_positions": res.positions,
        "window_accuracy": res.window_accuracy,
    }
    run.write_metrics(metrics)
    run.write_history(res.history_rows())
    if not args.no_plots:
        plot_windowed_accuracy(
            res.positions,
            res.window_accuracy,
            run.file("windowed_accuracy.png"),
            true_drifts=true_drifts,
            detected=res.drift_points,
            title=f"{args.model} on {args.task} (window {args.window})",
        )
    table = [_table_row(args.model, res)]
    curves = {args.model: (res.positions, res.window_accuracy)}
    for b in against:
        print(f"baseline {b} ...", flush=True)
        rb = prequential(
            spec(args.seed, n),
            make_model(b, scale=not args.no_scaler),
            window=args.window,
            record_every=record_every,
            callback=show,
            callback_every=args.print_every,
        )
        table.append(_table_row(b, rb))
        curves[b] = (rb.positions, rb.window_accuracy)
    _write_table(run, table)
    print(_markdown(table), end="")
    if not args.no_plots:
        plot_accuracy_curves(
            curves,
            run.file("accuracy.png"),
            true_drifts=true_drifts,
            detected=res.drift_points,
            title=f"{args.task}: windowed accuracy (window {args.window})",
        )
    mem = f", peak {res.peak_mb:.1f} MB" if res.peak_mb is not None else ""
    print(
        f"accuracy {res.accuracy:.4f} over {res.samples} samples, "
        f"{res.samples_per_second:.0f} samples/s{mem}\n"
        f"run folder: {out}  (config.json, metrics.json, history.csv"
        + ", table.csv, table.md"
        + ("" if args.no_plots else ", windowed_accuracy.png, accuracy.png")
        + ")"
    )
    return 0
