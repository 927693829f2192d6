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
    from ._flags import HelpFormatter, add_alias

    p = sub.add_parser(
        "reproduce",
        help="reproduce a paper's study (report.md, results.csv, verdicts.json, figures)",
        description="Run the Zenke & Vogels (2021) surrogate-gradient study (shape, scale, "
        "sparse activity, data sets) as a resumable sweep and write report.md, results.csv "
        "(one row per run), selection.csv, verdicts.json (finding, verdict, evidence) and "
        "figures. Verdicts are computed from the data. Starting again in the same --out "
        "folder skips finished runs.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("study", choices=STUDIES, help="the study to reproduce")
    p.add_argument(
        "--profile",
        default="quick",
        choices=["smoke", "quick", "standard", "full", "spoken-digits"],
        help="smoke: seconds, a pipeline check whose verdicts are not evidence (tests); "
        "quick: < 20 min on 2 idle cores, one seed; standard: 5 seeds (10 in the scale "
        "cells), 4200 test samples per cell, under 60 min on 2 idle cores, paired "
        "intervals; full: the paper's grid (days on a CPU; use --executor ray); "
        "spoken-digits: the shape and scale findings on the spoken digits (needs --data-dir "
        "DIR with DIR/spoken-digits/), 8 seeds",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output folder (default: runs/reproduce-<study>-<profile>)",
    )
    p.add_argument("--workers", type=int, default=2, help="parallel local worker processes")
    p.add_argument("--executor", default="local", choices=["local", "ray"],
                   help="local worker processes or a Ray cluster")
    p.add_argument("--address", default=None, help="Ray cluster address")
    p.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="folder with one subfolder per data set the study adds to its data-set part: "
        + ", ".join(f"{k}/ ({v})" for k, v in _DATA_SETS.items())
        + "; a data set whose subfolder is missing is left out",
    )
    for name in _DATA_SETS:  # the old per-data-set folders: hidden, the same meaning
        add_alias(p, f"--{name}-dir", f"{name.replace('-', '_')}_dir", type=Path)
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
    from .._checks import SpikegradInputError
    from ..experiments.reports import write_report
    from ..experiments.study import estimate_cost, zenke_vogels_runs
    from ..experiments.sweep import folder_rows, run_sweep, write_results_csv

    if args.workers < 1:
        raise SpikegradInputError(f"--workers must be an integer >= 1, got {args.workers}")
    dirs = _data_dirs(args)
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
    out = args.out
    if out is None:
        out = Path("runs") / f"reproduce-{args.study}-{args.profile}"
    from ..io.run import lock_run_folder

    lock_run_folder(out, "reproduce")
    profile = _folder_profile(args, out)
    notes = []
    if "shd" in dirs:
        notes.append(_shd_note(dirs["shd"]))
    t0 = time.perf_counter()
    if args.report_only:
        rows, n_cells = _report_rows(out)
        write_results_csv(folder_rows(out), out / "results.csv")
        failed = 0
    else:
        n_cells = len(runs)
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
        _write_study(out, args.study, profile)
    wall = time.perf_counter() - t0
    command = (
        "spikegrad " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        if sys.argv and "spikegrad" in sys.argv[0]
        else f"spikegrad reproduce {args.study} --profile {args.profile}"
    )
    if len(rows) < n_cells:
        notes.append(
            f"incomplete: {len(rows)} of {n_cells} cells finished; the verdicts use "
            "the finished runs only"
        )
    findings = write_report(
        rows,
        out,
        command=command,
        profile=profile,
        wall_seconds=None if args.report_only else wall,
        notes=notes,
    )
    for f in findings:
        print(f"[{f['verdict']}] {f['finding']}\n    {f['evidence']}")
    print(
        f"report: {out / 'report.md'}; {len(rows)} of {n_cells} cells in {out / 'results.csv'}"
        + (f"; {failed} failed (see {out / 'errors'})" if failed else "")
    )
    return 0 if failed == 0 else 1


#: data sets the study can add -> what their subfolder of --data-dir holds
_DATA_SETS = {
    "mnist": "MNIST IDX files",
    "fashion-mnist": "Fashion-MNIST IDX files",
    "shd": "shd_train.h5 / shd_test.h5, or .h5.gz",
    "spoken-digits": "made by spikegrad data spoken-digits",
}


def _data_dirs(args: argparse.Namespace) -> dict[str, str]:
    """Data set -> folder: the subfolders of ``--data-dir`` that exist, and the folders of
    the old ``--<data set>-dir`` spellings (which win for their data set)."""
    from .._checks import SpikegradInputError

    dirs: dict[str, str] = {}
    if args.data_dir is not None:
        if not args.data_dir.is_dir():
            raise SpikegradInputError(f"--data-dir {str(args.data_dir)!r} is not a folder")
        dirs = {k: str(args.data_dir / k) for k in _DATA_SETS if (args.data_dir / k).is_dir()}
        if not dirs:
            raise SpikegradInputError(
                f"--data-dir {str(args.data_dir)!r} holds none of the subfolders "
                + ", ".join(f"{k}/" for k in _DATA_SETS)
            )
    for k in _DATA_SETS:
        given = getattr(args, f"{k.replace('-', '_')}_dir", None)
        if given is not None:
            dirs[k] = str(given)
    return dirs


def _folder_profile(args: argparse.Namespace, out: Path) -> str:
    """The profile of the study in ``out`` (``study.json``); refuse mixing profiles.

    A run refuses a folder that holds another profile; ``--report-only`` reports the
    folder's own profile (refusing an explicit ``--profile`` that differs).
    """
    import json

    from .._checks import SpikegradInputError

    path = out / "study.json"
    if not path.is_file():
        if args.report_only and not (out / "sweep.json").is_file():
            raise SpikegradInputError(
                f"--out {str(out)!r} holds no run of a study (no sweep.json); nothing to report"
            )
        return args.profile
    try:
        held = json.loads(path.read_text())
        study, profile = held["study"], held["profile"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpikegradInputError(f"{str(path)!r} is unreadable or malformed: {exc}") from exc
    from . import given_options

    given = "--profile" in given_options()
    if study != args.study or (profile != args.profile and (given or not args.report_only)):
        raise SpikegradInputError(
            f"--out {str(out)!r} holds the {study} study at --profile {profile}, not "
            f"{args.study} at --profile {args.profile}; choose another --out"
            + ("" if args.report_only else f" or run --profile {profile}")
        )
    return profile


def _write_study(out: Path, study: str, profile: str) -> None:
    import json

    from ..io.checkpoint import atomic_write_text

    atomic_write_text(out / "study.json", json.dumps({"study": study, "profile": profile}) + "\n")


def _report_rows(out: Path) -> tuple[list[dict], int]:
    """Rows and cell count of the grid the folder holds (its own sweep.json)."""
    from ..experiments.sweep import latest_grid_rows

    return latest_grid_rows(out)


def _shd_note(folder: str) -> str:
    from ..data.shd import find_hdf5_file, hdf5_file_info, shd_release

    infos = [hdf5_file_info(find_hdf5_file(folder, s)) for s in ("shd_train", "shd_test")]
    rel = shd_release(infos[0]["samples"], infos[1]["samples"])
    files = "; ".join(f"{Path(i['file']).name} sha256 {i['sha256'][:16]}..." for i in infos)
    return f"SHD release: {rel}; {files}"
