"""Rerun some cells of a finished Zenke & Vogels study and check they come out identical.

    python bench/zv_repeat.py STUDY_DIR --out /tmp/zv-repeat [--n 8] [--workers 2]

Takes ``n`` finished runs of the study in ``STUDY_DIR`` (its ``study.json`` names the
profile; runs spread over the parts: the first of each (experiment, part, condition) in
the study's own order), trains them again from scratch in a fresh folder with the same
settings and worker layout (one torch thread per worker), and compares every metric of
the two results exactly. A study whose runs repeat bit for bit gives the same verdicts
when it is run twice: the verdicts are a function of the results only.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from spikegrad.experiments.study import zenke_vogels_runs
from spikegrad.experiments.sweep import METRIC_COLUMNS, load_results, run_sweep


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study_dir", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args(argv)
    profile = json.loads((a.study_dir / "study.json").read_text())["profile"]
    done = {r["run_id"]: r for r in load_results(a.study_dir)}
    picked, seen = [], set()
    for r in zenke_vogels_runs(profile):
        key = (r.tags.get("experiment"), r.tags.get("part"), r.tags.get("condition"))
        if r.run_id in done and key not in seen and r.run_id not in {p.run_id for p in picked}:
            seen.add(key)
            picked.append(r)
        if len(picked) == a.n:
            break
    run_sweep(picked, a.out, workers=a.workers, progress=False)
    again = {r["run_id"]: r for r in load_results(a.out)}
    bad = 0
    for r in picked:
        m1, m2 = done[r.run_id].get("metrics", {}), again[r.run_id].get("metrics", {})
        diff = {k: (m1.get(k), m2.get(k)) for k in METRIC_COLUMNS if m1.get(k) != m2.get(k)
                and k not in ("wall_seconds", "cpu_seconds")}  # fmt: skip
        tag = "/".join(str(v) for v in (r.tags.get("experiment"), r.tags.get("part"),
                                        r.tags.get("condition")) if v)  # fmt: skip
        print(f"{r.run_id} {tag} seed {r.config['seed']} lr {r.config['lr']}: "
              f"test {m2.get('test_accuracy')} " + ("identical" if not diff else f"DIFF {diff}"))
        bad += bool(diff)
    print(f"{len(picked) - bad} of {len(picked)} runs identical")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
