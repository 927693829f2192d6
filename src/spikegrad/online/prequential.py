r"""Prequential (test-then-train) evaluation with windowed accuracy, speed and memory.

For each sample :math:`(x_n, y_n)`: predict :math:`\hat y_n` with the current
model, score it, then learn :math:`(x_n, y_n)`. Cumulative accuracy counts
every sample after the first labelled one (so the denominator is :math:`n-1`,
as in ``river.evaluate.progressive_val_score``); unlike river, a ``None``
prediction after the first sample counts as an error instead of being skipped.
Windowed accuracy is the accuracy of the last ``window`` scored samples.

Both curves are recorded every ``record_every`` samples
(:meth:`PrequentialResult.history_rows`, the rows of the ``history.csv`` that
``spikegrad stream`` writes).
"""

from __future__ import annotations

import io
import time
import tracemalloc
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .._checks import SpikegradInputError
from ..io.checkpoint import atomic_write_bytes
from ..viz.plots import pyplot

__all__ = [
    "PrequentialResult",
    "prequential",
    "drift_points_of",
    "plot_windowed_accuracy",
    "plot_accuracy_curves",
]


@dataclass
class PrequentialResult:
    """Outcome of :func:`prequential`."""

    accuracy: float
    samples: int
    scored: int
    seconds: float
    samples_per_second: float
    peak_mb: float | None
    window: int
    positions: list[int] = field(default_factory=list)
    window_accuracy: list[float] = field(default_factory=list)
    drift_points: list[int] = field(default_factory=list)
    #: accuracy over samples with index >= ``score_from`` (held-out part after a tuning prefix)
    accuracy_after: float | None = None
    score_from: int = 0
    #: cumulative (prequential) accuracy at each of ``positions``
    cumulative_accuracy: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain-JSON dictionary."""
        return asdict(self)

    def history_rows(self) -> list[dict]:
        """The prequential curve: ``samples``, cumulative ``accuracy``, ``window_accuracy``."""
        return [
            {"samples": n, "accuracy": a, "window_accuracy": w}
            for n, a, w in zip(
                self.positions, self.cumulative_accuracy, self.window_accuracy, strict=True
            )
        ]


def drift_points_of(model) -> list[int]:
    """Detector firings recorded by the last step of a model or pipeline (empty if none)."""
    last = model
    steps = getattr(model, "steps", None)
    if steps:
        last = list(steps.values())[-1]
    return list(getattr(last, "drift_points", []) or [])


def prequential(
    stream: Iterable,
    model,
    *,
    window: int = 500,
    record_every: int = 50,
    trace_memory: bool = False,
    callback: Callable[[int, float], None] | None = None,
    callback_every: int = 0,
    score_from: int = 0,
) -> PrequentialResult:
    """Run test-then-train over ``stream`` (``(x, y)`` pairs) with a river-style ``model``.

    Parameters
    ----------
    stream:
        Iterable of ``(x: dict, y)``.
    model:
        Anything with ``predict_one`` and ``learn_one`` (river classifier or pipeline).
    window:
        Length of the sliding accuracy window.
    record_every:
        Record the windowed accuracy every this many samples.
    trace_memory:
        Measure the peak Python/numpy allocation with :mod:`tracemalloc` during
        the run (slows Python-heavy models down; time a separate run for speed).
    callback, callback_every:
        Called as ``callback(n_samples, cumulative_accuracy)`` every
        ``callback_every`` samples (0: never).
    score_from:
        Also report ``accuracy_after``, the accuracy over samples ``n >= score_from``
        (e.g. the part of a stream after the prefix used to tune parameters).
    """
    if window < 1 or record_every < 1:
        raise SpikegradInputError(
            f"window and record_every must be >= 1, got {window} and {record_every}"
        )
    if trace_memory:
        tracemalloc.start()
    hits = scored = n = 0
    hits_after = scored_after = 0
    recent: deque = deque(maxlen=window)
    pos: list[int] = []
    acc_w: list[float] = []
    acc_c: list[float] = []
    t0 = time.perf_counter()
    try:
        for x, y in stream:
            y_pred = model.predict_one(x)
            if n > 0:
                ok = y_pred is not None and y_pred == y
                hits += ok
                scored += 1
                recent.append(ok)
                if n >= score_from:
                    hits_after += ok
                    scored_after += 1
            model.learn_one(x, y)
            n += 1
            if n % record_every == 0 and recent:
                pos.append(n)
                acc_w.append(sum(recent) / len(recent))
                acc_c.append(hits / scored)
            if callback is not None and callback_every and n % callback_every == 0:
                callback(n, hits / max(scored, 1))
        seconds = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 2**20 if trace_memory else None
    finally:
        if trace_memory:
            tracemalloc.stop()
    return PrequentialResult(
        accuracy=hits / max(scored, 1),
        samples=n,
        scored=scored,
        seconds=seconds,
        samples_per_second=n / seconds if seconds > 0 else float("inf"),
        peak_mb=peak,
        window=window,
        positions=pos,
        window_accuracy=acc_w,
        drift_points=drift_points_of(model),
        accuracy_after=hits_after / scored_after if scored_after else None,
        score_from=score_from,
        cumulative_accuracy=acc_c,
    )


def plot_windowed_accuracy(
    positions: list[int],
    accuracy: list[float],
    path: Path,
    *,
    true_drifts: list[int] | tuple = (),
    detected: list[int] | tuple = (),
    title: str = "",
    label: str | None = None,
) -> None:
    """Windowed accuracy over the stream; true drifts dashed red, detections dotted grey.

    The PNG is rendered in memory and written atomically (temp file, rename).
    """
    _drift_plot(
        {label: (positions, accuracy)},
        path,
        true_drifts,
        detected,
        title,
        legend=bool(true_drifts or detected or label),
        height=3.2,
    )


def plot_accuracy_curves(
    curves: dict,
    path: Path,
    *,
    true_drifts: list[int] | tuple = (),
    detected: list[int] | tuple = (),
    title: str = "",
) -> None:
    """Windowed accuracy of several models (``name -> (positions, accuracy)``) on one axis.

    True drifts dashed red, the first model's detector firings dotted grey; the PNG
    is written atomically.
    """
    _drift_plot(curves, path, true_drifts, detected, title, legend=True, height=3.6)


def _drift_plot(curves, path, true_drifts, detected, title, *, legend, height) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, height))
    for name, (pos, acc) in curves.items():
        ax.plot(pos, acc, lw=1.2, label=name)
    for i, d in enumerate(true_drifts):
        ax.axvline(d, color="tab:red", ls="--", lw=1, label="true drift" if i == 0 else None)
    for i, d in enumerate(detected):
        ax.axvline(d, color="0.4", ls=":", lw=1, label="detected drift" if i == 0 else None)
    ax.set_xlabel("samples")
    ax.set_ylabel("windowed accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    if legend:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
