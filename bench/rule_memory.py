"""Peak memory and time per step of one gradient computation against the sequence length T.

Rules: ``bptt`` (default backend: the compiled kernels where available), ``bptt-ref``
(BPTT through the plain autograd graph, ``backend="reference"``), ``eprop``, ``ottt``,
``ostl`` and ``eventprop`` on one network: 40 Bernoulli(0.05) inputs -> 64 feed-forward LIF
neurons -> 3 readouts, batch 16, float32, seed 0, one torch thread. Every (rule, T) cell runs in its
own fresh process; the input and the network are built before the peak-RSS mark is reset
(``bench/_memory.py``: Linux ``clear_refs`` + ``VmHWM``; and the sampled peak of glibc's
in-use heap, :class:`HeapPeak`), so the peak is what one
``rule.gradients`` call adds (its saved graph, traces and outputs), after a warm-up call
on 20 steps (JIT compilation, first-use allocations).

Prints a markdown table (one row per rule and T, in the order measured).

Usage::

    python bench/rule_memory.py --steps 100 1000 5000 --out bench/results/rule_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

RULES = ("bptt", "bptt-ref", "eprop", "ottt", "ostl", "eventprop")


class HeapPeak:
    """Peak of glibc's in-use heap bytes (``mallinfo2``: uordblks + hblkhd), sampled.

    A thread samples every 0.2 ms while :meth:`__enter__`..:meth:`__exit__` runs; unlike
    the RSS high-water mark it sees memory the allocator reuses (so an online rule's
    small, constant state is not lost in pages the warm-up already mapped).
    """

    def __init__(self) -> None:
        import ctypes

        class MallInfo2(ctypes.Structure):
            _fields_ = [
                (n, ctypes.c_size_t)
                for n in (
                    "arena",
                    "ordblks",
                    "smblks",
                    "hblks",
                    "hblkhd",
                    "usmblks",
                    "fsmblks",
                    "uordblks",
                    "fordblks",
                    "keepcost",
                )
            ]

        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        self._info = libc.mallinfo2

    def used(self) -> int:
        m = self._info()
        return int(m.uordblks + m.hblkhd)

    def __enter__(self) -> HeapPeak:
        import threading

        self.base = self.peak = self.used()
        self._stop = threading.Event()

        def run() -> None:
            while not self._stop.wait(0.0002):
                self.peak = max(self.peak, self.used())

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.used())

    @property
    def mb(self) -> float:
        return (self.peak - self.base) / 2**20


def cell(rule: str, steps: int) -> dict:
    """One measurement in this process: peak RSS growth (MB) and seconds per step."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _memory import memory_baseline, peak_since_baseline

    from spikegrad.learning.rules import make_rule
    from spikegrad.nn import SpikingNetwork
    from spikegrad.tasks import ClassificationTask

    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(steps, 16, 40, generator=g) < 0.05).float()
    y = torch.randint(0, 3, (16,), generator=g)
    backend = "reference" if rule == "bptt-ref" else "auto"
    net = SpikingNetwork(40, 3, (64,), seed=0, backend=backend)
    with torch.no_grad():
        net.layers[0].weight.mul_(4.0)  # some hidden activity at this input rate
    task = ClassificationTask.__new__(ClassificationTask)  # loss only: no data sets needed
    task.regularizer = None
    r = make_rule("bptt" if rule == "bptt-ref" else rule)
    r.check_model(net)
    r.gradients(net, task, x[:20], y)  # warm-up: JIT compilation, allocator pools
    heap = HeapPeak()
    base = memory_baseline()
    with heap:
        t0 = time.perf_counter()
        step = r.gradients(net, task, x, y)
        seconds = time.perf_counter() - t0
    peak = peak_since_baseline(base)
    spikes = float(sum(float(s.sum()) for s in step.out.spikes))
    return {
        "rule": rule,
        "T": steps,
        "peak_mb": peak,
        "heap_mb": heap.mb,
        "ms_per_step": 1e3 * seconds / steps,
        "hidden_spikes": spikes,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, nargs="+", default=[100, 1000, 5000])
    ap.add_argument("--rules", nargs="+", default=list(RULES), choices=RULES)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cell", nargs=2, metavar=("RULE", "T"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cell:
        print(json.dumps(cell(args.cell[0], int(args.cell[1]))))
        return 0
    rows = []
    print("| rule | T | peak heap MB | peak RSS MB | ms per step | hidden spikes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |", flush=True)
    for steps in args.steps:
        for rule in args.rules:
            res = subprocess.run(
                [sys.executable, __file__, "--cell", rule, str(steps)],
                capture_output=True,
                text=True,
                check=True,
            )
            row = json.loads(res.stdout.strip().splitlines()[-1])
            rows.append(row)
            print(
                f"| `{rule}` | {steps} | {row['heap_mb']:.3f} | {row['peak_mb']:.2f} "
                f"| {row['ms_per_step']:.3f} | {row['hidden_spikes']:.0f} |",
                flush=True,
            )
    ref = "bptt-ref" if "bptt-ref" in args.rules else "bptt" if "bptt" in args.rules else None
    if ref is not None:
        print(f"\nPeak heap growth of {ref} / the rule's, same T (x times smaller than {ref}):\n")
        print("| T | " + " | ".join(r for r in args.rules if r != ref) + " |")
        print("|---:|" + "---:|" * (len(args.rules) - 1))
        for steps in args.steps:
            cells = {row["rule"]: row["heap_mb"] for row in rows if row["T"] == steps}
            print(f"| {steps} | " + " | ".join(
                f"{cells[ref] / cells[r]:.3g}" if cells[r] > 0 else "inf"
                for r in args.rules if r != ref) + " |")  # fmt: skip
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
