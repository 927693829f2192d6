"""``spikegrad reproduce``: rerun a paper's study and write a report with verdicts."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

STUDIES = ("zenke-vogels",)


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``reproduce`` sub-command."""
    p = sub.add_parser(
        "reproduce",
        help="reproduce a paper's study (report.md, results.csv, verdicts.json, figures)",
        description="Run the Zenke & Vogels (2021) surrogate-gradient study (shape, scale, "
        "sparse activity, data sets) as a resumable sweep and write report.md, results.csv "
        "(one row per run), selection.csv, verdicts.json (finding, verdict, evidence) and "
        "figures. Verdicts are computed from the data. Starting again in the same --out "
        "folder skips finished runs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("study", choices=STUDIES)
    p.add_argument(
        "--profile",
        default="quick",
        choices=["smoke", "quick", "standard", "full"],
        help="smoke: seconds (tests); quick: < 20 min on 2 idle cores, one seed; standard: "
        "5 seeds, 1200 test samples per cell, about 63 min on 2 idle cores, verdicts with "
        "intervals; full: the paper's grid (days on a CPU; use --executor ray)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/reproduce-<study>-<profile>)",
    )
    p.add_argument("--workers", type=int, default=2, help="parallel local worker processes")
    p.add_argument("--executor", default="local", choices=["local", "ray"])
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.add_argument("--mnist-dir", type=Path, default=None, help="folder with MNIST IDX files")
    p.add_argument(
        "--fashion-mnist-dir", type=Path, default=None, help="folder with Fashion-MNIST IDX files"
    )
    p.add_argument(
        "--shd-dir",
        type=Path,
        default=None,
        help="folder with shd_train.h5 / shd_test.h5 (or .h5.gz)",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="print the number of runs and the estimated cost, then exit",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the report from the finished runs in --out without training",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from ..experiments.reports import write_report
    from ..experiments.study import estimate_cost, zenke_vogels_runs
    from ..experiments.sweep import (
        load_tagged_results,
        results_rows,
        run_sweep,
        write_results_csv,
    )

    dirs = {"mnist": args.mnist_dir, "fashion-mnist": args.fashion_mnist_dir, "shd": args.shd_dir}
    dirs = {k: str(v) for k, v in dirs.items() if v is not None}
    runs = zenke_vogels_runs(args.profile, dirs)
    est = estimate_cost(runs)
    if args.estimate:
        print(
            f"{args.study} --profile {args.profile}: {len({r.run_id for r in runs})} training "
            f"runs ({len(runs)} cells of the report), about {est / 3600:.2f} "
            f"single-worker hours at the measured cost of the default network; "
            f"about {est / 60 / max(1, args.workers):.0f} min on {args.workers} idle workers"
        )
        return 0
    out = args.out or Path("runs") / f"reproduce-{args.study}-{args.profile}"
    notes = []
    if "shd" in dirs:
        notes.append(_shd_note(dirs["shd"]))
    t0 = time.perf_counter()
    if args.report_only:
        rows = results_rows(load_tagged_results(out, runs))
        write_results_csv(rows, out / "results.csv")
        failed = 0
    else:
        try:
            res = run_sweep(
                runs,
                out,
                executor=args.executor,
                workers=args.workers,
                address=args.address,
                progress=not args.quiet,
            )
        except KeyboardInterrupt:
            print(f"interrupted; run the same command again to resume ({out})", file=sys.stderr)
            return 130
        rows, failed = res.rows, res.failed
    wall = time.perf_counter() - t0
    command = (
        "spikegrad " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if sys.argv and "spikegrad" in sys.argv[0]
        else f"spikegrad reproduce {args.study} --profile {args.profile}"
    )
    if len(rows) < len(runs):
        notes.append(
            f"incomplete: {len(rows)} of {len(runs)} cells finished; the verdicts use "
            "the finished runs only"
        )
    findings = write_report(
        rows,
        out,
        command=command,
        profile=args.profile,
        wall_seconds=None if args.report_only else wall,
        notes=notes,
    )
    for f in findings:
        print(f"[{f['verdict']}] {f['finding']}\n    {f['evidence']}")
    print(
        f"report: {out / 'report.md'}; {len(rows)} of {len(runs)} cells in {out / 'results.csv'}"
        + (f"; {failed} failed (see {out / 'errors'})" if failed else "")
    )
    return 0 if failed == 0 else 1


def _shd_note(folder: str) -> str:
    from ..data.shd import find_hdf5_file, hdf5_file_info, shd_release

    infos = [hdf5_file_info(find_hdf5_file(folder, s)) for s in ("shd_train", "shd_test")]
    rel = shd_release(infos[0]["samples"], infos[1]["samples"])
    files = "; ".join(f"{Path(i['file']).name} sha256 {i['sha256'][:16]}..." for i in infos)
    return f"SHD release: {rel}; {files}"
