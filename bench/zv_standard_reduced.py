"""A reduced run of the ``standard`` Zenke & Vogels profile: the scale part (feed-forward
and/or recurrent), 5 seeds, 1200 test samples per cell, fewer epochs, one learning rate.

    python bench/zv_standard_reduced.py --out DIR [--epochs 10] [--parts ff recurrent]

Writes the study's report (``report.md``, ``verdicts.json`` with 95 % intervals) for the
``scale-reset`` (``ff``) and ``scale-recurrence`` (``recurrent``) findings; the others read
"no data". For when the whole profile (about 63 min on 2 idle cores) cannot be run.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from spikegrad.experiments.reports import write_report
from spikegrad.experiments.study import PROFILES, with_profile, zenke_vogels_runs
from spikegrad.experiments.sweep import run_sweep


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--parts", nargs="+", default=["ff"], choices=["ff", "recurrent"])
    args = ap.parse_args()
    prof = with_profile(PROFILES["standard"], name="standard-reduced", epochs=args.epochs,
                        lrs=(args.lr,))  # fmt: skip
    runs = [r for r in zenke_vogels_runs(prof)
            if r.tags["experiment"] == "scale" and r.tags.get("part") in args.parts]
    t0 = time.perf_counter()
    res = run_sweep(runs, args.out, workers=args.workers, progress=False)
    wall = time.perf_counter() - t0
    findings = write_report(
        res.rows, args.out, command=f"python bench/zv_standard_reduced.py --out {args.out} "
        f"--epochs {args.epochs} --lr {args.lr} --workers {args.workers} --parts "
        + " ".join(args.parts),
        profile=f"standard (reduced: scale {' + '.join(args.parts)}, one lr)", wall_seconds=wall,
    )  # fmt: skip
    cpu = [r["cpu_seconds"] for r in res.rows if r.get("cpu_seconds") is not None]
    print(f"{len(res.rows)} runs, {wall:.0f} s wall, CPU s per run: median "
          f"{sorted(cpu)[len(cpu) // 2]:.1f}" if cpu else "no runs")  # fmt: skip
    for f in findings:
        if f["id"].startswith("scale-") and f["id"] != "scale-depth":
            print(f"[{f['verdict']}] {f['id']}: {f['evidence']}")


if __name__ == "__main__":
    main()
