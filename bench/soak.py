"""Soak benchmark: train for a long stretch and record resident memory after every epoch.

Memory must stay flat: no growth per epoch or per batch (the state lives inside each
forward call, the fused kernels keep no graph, history rows are small).

    python bench/soak.py --epochs 60 --out bench/results/soak.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from spikegrad.data.randman import make_randman
from spikegrad.learning.config import TrainConfig, train


def rss_mb() -> float:
    """Resident set size of this process in MiB (Linux /proc)."""
    with open(f"/proc/{os.getpid()}/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--recurrent", action="store_true")
    p.add_argument("--out", type=Path, default=Path("bench/results/soak.json"))
    args = p.parse_args()
    data = make_randman()
    rows = []
    t0 = time.perf_counter()

    def cb(stats) -> None:
        rows.append({"epoch": stats.epoch, "rss_mb": rss_mb(),
                     "seconds": time.perf_counter() - t0})
        print(json.dumps(rows[-1]), flush=True)

    cfg = TrainConfig(epochs=args.epochs, recurrent=args.recurrent, seed=0)
    train(cfg, data=data, progress=False, callback=cb)
    tail = [r["rss_mb"] for r in rows[len(rows) // 4:]]
    summary = {"rss_first_mb": rows[0]["rss_mb"], "rss_last_mb": rows[-1]["rss_mb"],
               "rss_growth_after_warmup_mb": max(tail) - min(tail), "epochs": len(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "summary": summary}, indent=2))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
