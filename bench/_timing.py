"""Alternating timing of training-step callables, shared by the side-by-side benches."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable


def time_alternating(
    steps: dict[str, Callable], x: object, y: object, repeats: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Warm each step up once, then time ``repeats`` rounds, the libraries alternating.

    Returns every wall time (seconds) per name and their medians.
    """
    times: dict[str, list[float]] = {k: [] for k in steps}
    for fn in steps.values():  # warm-up (first-use allocations, compilation)
        fn(x, y)
    for r in range(repeats):
        for name, fn in steps.items():
            t = time.perf_counter()
            fn(x, y)
            times[name].append(time.perf_counter() - t)
        print(f"repeat {r + 1}/{repeats}", file=sys.stderr)
    return times, {k: statistics.median(v) for k, v in times.items()}
