"""``spikegrad sweep``: run a grid of training runs in parallel, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``sweep`` sub-command."""
    from ._flags import HelpFormatter

    p = sub.add_parser(
        "sweep",
        help="run a grid of training runs (parallel, resumable) and collect results.csv",
        description="Expand a grid (a TOML/YAML file and/or --set/--vary flags) into training "
        "runs, run them on local worker processes or a Ray cluster, write one result file per "
        "run (atomically; starting again skips finished runs), results.csv with every setting "
        "and metric, and selection.csv with the learning rate chosen on validation.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("grid", nargs="?", type=Path, default=None, help="grid file (.toml/.yaml)")
    p.add_argument("--out", type=Path, required=True, help="sweep folder (resumed if it exists)")
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="fixed setting over the grid's base, e.g. --set epochs=20 --set hidden=[64]",
    )
    p.add_argument(
        "--vary",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="add a grid axis, e.g. --vary lr=0.01,0.05 --vary seed=0,1",
    )
    p.add_argument("--name", default=None, help="experiment tag (default: the grid's name)")
    p.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local worker processes or a Ray cluster")
    p.add_argument("--address", default=None, help="Ray cluster address (default: start one)")
    p.add_argument("--dry-run", action="store_true", help="list the runs and exit")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_sweep)


def _cmd_sweep(args: argparse.Namespace) -> int:
    from ..experiments.config import SweepSpec, load_sweep_file, parse_assignments
    from ..experiments.sweep import run_sweep, select_learning_rate, write_results_csv

    if args.grid is not None and args.grid.is_file() and not args.grid.read_bytes().strip():
        # never a silent sweep of the defaults: an empty grid file is a mistake
        raise SpikegradInputError(f"grid file {str(args.grid)!r} is empty")
    try:
        spec = load_sweep_file(args.grid) if args.grid else SweepSpec()
    except UnicodeDecodeError as exc:  # a binary file given as the grid
        raise SpikegradInputError(
            f"grid file {str(args.grid)!r} is not text (TOML or YAML): {exc.reason} at "
            f"byte {exc.start}"
        ) from exc
    spec.base.update(parse_assignments(args.sets, many=False, flag="--set"))
    spec.grid.update(parse_assignments(args.vary, many=True, flag="--vary"))
    if args.name:
        spec.name = args.name
    runs = spec.expand()
    if not runs:
        raise SpikegradInputError("the grid has no runs")
    from .._checks import check_parallel
    from ..data.registry import check_dataset_options
    from ..learning.config import TrainConfig
    from .train import check_train_memory

    if args.workers < 1:
        raise SpikegradInputError(f"--workers must be an integer >= 1, got {args.workers}")
    check_parallel("--workers", args.workers, processes=True)
    # every cell is typed, ranged and sized before any run: the dry run checks the same
    for r in runs:
        check_dataset_options(str(r.config.get("dataset")), r.config.get("dataset_options") or {})
        try:
            config = TrainConfig.from_dict(dict(r.config))
        except (TypeError, ValueError) as exc:
            raise SpikegradInputError(f"run {r.run_id}: {exc}") from exc
        check_train_memory(config, f"run {r.run_id} (--set / grid sizes)")
    if args.dry_run:
        for r in runs:
            changed = {k: r.config[k] for k in spec.grid if "." not in k}
            print(r.run_id, dict(r.tags), changed)
        print(f"{len(runs)} runs")
        return 0
    try:
        res = run_sweep(
            runs,
            args.out,
            executor=args.executor,
            workers=args.workers,
            address=args.address,
            progress=not args.quiet,
        )
    except KeyboardInterrupt:
        print(f"interrupted; run the same command again to resume ({args.out})", file=sys.stderr)
        return 130
    sel = select_learning_rate([r for r in res.rows])
    write_results_csv(sel, args.out / "selection.csv")
    print(
        f"{res.total} runs: {res.skipped} already finished, {res.finished} run now, "
        f"{res.failed} failed{' (see ' + str(args.out / 'errors') + ')' if res.failed else ''}\n"
        f"results: {args.out / 'results.csv'}; learning rate chosen on validation: "
        f"{args.out / 'selection.csv'}"
    )
    for row in sel[:20]:
        print(
            f"  lr {row['lr']:<8g} test {row['test_accuracy_mean']:.3f} ± "
            f"{row['test_accuracy_sd']:.3f} (val {row['val_accuracy_mean']:.3f}, n={row['n']})"
        )
    return 0 if res.failed == 0 else 1
