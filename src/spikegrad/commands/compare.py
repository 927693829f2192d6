"""``spikegrad compare``: several learning rules on one model, side by side."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``compare`` sub-command."""
    from ..experiments.compare import COMPARE_RULES

    p = sub.add_parser(
        "compare",
        help="compare learning rules on one model: accuracy, cost, gradient fidelity",
        description="Train the same network (same initial weights and batches per seed) with "
        "several learning rules and write results.csv (rule x seed x epoch), summary.csv, "
        "report.md (table with 95%% intervals, expectations with verdicts) and plots. "
        "Resumable: starting again in the same --out skips finished cells. Rules: "
        + ", ".join(f"{k} ({v.about})" for k, v in COMPARE_RULES.items()),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--task", default="randman", help="randman, digits, rates, spike-target, ...")
    p.add_argument("--task-option", dest="task_options", action="append", default=[],
                   metavar="KEY=VALUE", help="task option, e.g. n_classes=4")  # fmt: skip
    p.add_argument("--rules", nargs="+", default=["bptt", "eprop", "node"], metavar="RULE")
    p.add_argument("--rule-option", dest="rule_options", action="append", default=[],
                   metavar="RULE.KEY=VALUE", help="e.g. tbptt.k=5 or node.trials=8")  # fmt: skip
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--hidden", type=int, default=32, help="hidden neurons")
    p.add_argument("--lr", type=float, default=None,
                   help="Adam learning rate (default per model: lif 0.01, coba 0.3, srm 0.003)")
    p.add_argument("--draws", type=int, default=8, help="noise draws per fidelity measurement")
    p.add_argument("--target", type=float, default=None,
                   help="score for 'time to target' (default halfway from chance to 1)")
    p.add_argument("--probe-trials", type=int, nargs="*", default=[1, 4, 16, 64])
    p.add_argument("--probe-sizes", type=int, nargs="*", default=[8, 16, 32, 64])
    p.add_argument("--out", type=Path, required=True, help="output folder (resumed if it exists)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--executor", default="local", choices=["local", "ray"])
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_compare)


def _value(text: str):
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: list[str], flag: str, dotted: bool = False) -> dict:
    out: dict = {}
    for item in items:
        key, sep, val = item.partition("=")
        if not sep or not key:
            raise SpikegradInputError(f"{flag} must be KEY=VALUE, got {item!r}")
        if dotted:
            rule, dot, opt = key.partition(".")
            if not dot or not rule or not opt:
                raise SpikegradInputError(f"{flag} must be RULE.KEY=VALUE, got {item!r}")
            out.setdefault(rule, {})[opt] = _value(val)
        else:
            out[key] = _value(val)
    return out


def _cmd_compare(args: argparse.Namespace) -> int:
    from ..experiments.compare import CompareConfig, compare
    from ..learning.rules import make_rule

    for flag, v in (("--seeds", args.seeds), ("--epochs", args.epochs),
                    ("--batch-size", args.batch_size), ("--hidden", args.hidden),
                    ("--workers", args.workers)):  # fmt: skip
        if v < 1:
            raise SpikegradInputError(f"{flag} must be >= 1, got {v}")
    if args.draws < 2:
        raise SpikegradInputError(f"--draws must be >= 2, got {args.draws}")
    if args.lr is not None and not args.lr > 0:
        raise SpikegradInputError(f"--lr must be > 0, got {args.lr}")
    config = CompareConfig(
        task=args.task,
        task_options=_pairs(args.task_options, "--task-option"),
        rules=tuple(args.rules),
        seeds=args.seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        hidden=args.hidden,
        lr=args.lr,
        rule_options=_pairs(args.rule_options, "--rule-option", dotted=True),
        draws=args.draws,
        target=args.target,
        probe_trials=tuple(args.probe_trials),
        probe_sizes=tuple(args.probe_sizes),
    )
    for name in config.rules:  # options are checked before anything runs
        rule, opts, _ = config.rule_spec(name)
        make_rule(rule, **opts)
    from ..experiments.compare import build_task

    try:
        build_task(config.task, config.task_options)
    except SpikegradInputError:
        raise
    except (TypeError, ValueError) as exc:
        raise SpikegradInputError(f"--task-option: {str(exc).splitlines()[0]}") from exc
    command = "spikegrad compare " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if (
        len(sys.argv) > 1 and "compare" in sys.argv) else ""
    try:
        res = compare(config, args.out, executor=args.executor, workers=args.workers,
                      address=args.address, progress=not args.quiet, command=command)
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume ({args.out})", file=sys.stderr)
        return 130
    print(f"{res.total} cells: {res.skipped} already finished, {res.finished} run now, "
          f"{res.failed} failed")  # fmt: skip
    for s in res.summary:
        print(f"  {s['rule']:12s} test {s['test_accuracy']:.3f} [{s['test_accuracy_lo']:.3f}, "
              f"{s['test_accuracy_hi']:.3f}]  {s['wall_s_per_epoch']:.2f} s/epoch  cosine "
              f"{s['cosine_end']:.3f}")  # fmt: skip
    for e in res.expectations:
        print(f"  [{e['verdict']}] {e['expectation']}")
    print(f"report: {args.out / 'report.md'}")
    return 0 if res.failed == 0 else 1
