r"""Univariate streams with injected, labelled point anomalies (no download needed).

river's labelled anomaly sets (CreditCard, HTTP, SMTP) are downloaded on first
use, so they are not available offline. These streams are built from series
that are: two synthetic ones and two of river's bundled real series, each with
point anomalies injected at known positions.

=====================  ======  ================================================
name                   length  clean series
=====================  ======  ================================================
``sine-spikes``         3 000  :math:`\sin(2\pi t/50) + 0.1\,\mathcal N(0,1)`
``walk-spikes``         3 000  Gaussian random walk (step s.d. 0.1) plus
                               :math:`0.05\,\mathcal N(0,1)` noise
``waterflow-spikes``    1 268  river ``WaterFlow`` (real, bundled) target
``trump-spikes``        1 001  river ``TrumpApproval`` (real, bundled) target
=====================  ======  ================================================

**Injection** (seeded by ``seed``): ``rate`` (2 %) of the positions after the
first 100 are drawn without replacement, and each gets
:math:`x_t \leftarrow x_t \pm U(3, 6)\,\sigma_\Delta`, where
:math:`\sigma_\Delta` is the standard deviation of the clean series' first
differences (its local noise scale) and the sign is a fair coin. Samples are
``({"x": value}, is_anomaly)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._checks import SpikegradInputError

__all__ = ["AnomalyStream", "ANOMALY_STREAMS", "make_anomaly_stream", "inject_spikes", "roc_auc"]


def inject_spikes(
    series: np.ndarray,
    seed: int,
    rate: float = 0.02,
    skip: int = 100,
    low: float = 3.0,
    high: float = 6.0,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Add :math:`\pm U(\text{low}, \text{high})\,\sigma_\Delta` at ``rate`` of the positions.

    Positions are drawn after the first ``skip``; returns the series and the labels.
    """
    x = np.asarray(series, dtype=np.float64).copy()
    rng = np.random.default_rng(seed)
    n = len(x)
    k = max(1, int(round(rate * (n - skip))))
    pos = rng.choice(np.arange(skip, n), size=k, replace=False)
    scale = float(np.std(np.diff(x)))
    x[pos] += rng.choice([-1.0, 1.0], size=k) * rng.uniform(low, high, size=k) * scale
    labels = np.zeros(n, dtype=bool)
    labels[pos] = True
    return x, labels


def _sine(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 1000)
    t = np.arange(3000)
    return np.sin(2 * np.pi * t / 50) + 0.1 * rng.standard_normal(3000)


def _walk(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed + 2000)
    return np.cumsum(0.1 * rng.standard_normal(3000)) + 0.05 * rng.standard_normal(3000)


def _river_target(name: str) -> Callable[[int], np.ndarray]:
    def f(seed: int) -> np.ndarray:
        from river import datasets

        return np.array([float(y) for _, y in getattr(datasets, name)()])

    return f


@dataclass(frozen=True)
class AnomalyStream:
    """A clean series factory and the injection; call it for ``(samples, labels)``."""

    name: str
    series: Callable[[int], np.ndarray]
    description: str

    def __call__(self, seed: int = 0) -> tuple[list[dict], np.ndarray]:
        """Samples ``{"x": value}`` and their anomaly labels, injection seeded by ``seed``."""
        x, labels = inject_spikes(self.series(seed), seed)
        return [{"x": float(v)} for v in x], labels


ANOMALY_STREAMS: dict[str, AnomalyStream] = {
    s.name: s
    for s in [
        AnomalyStream("sine-spikes", _sine, "noisy sine (period 50) + 2% spikes"),
        AnomalyStream("walk-spikes", _walk, "random walk + 2% spikes"),
        AnomalyStream("waterflow-spikes", _river_target("WaterFlow"), "WaterFlow + 2% spikes"),
        AnomalyStream("trump-spikes", _river_target("TrumpApproval"), "TrumpApproval + 2% spikes"),
    ]
}


def make_anomaly_stream(name: str) -> AnomalyStream:
    """The stream called ``name`` (see the module table)."""
    if name not in ANOMALY_STREAMS:
        raise SpikegradInputError(
            f"unknown anomaly stream {name!r}; valid names: {', '.join(sorted(ANOMALY_STREAMS))}"
        )
    return ANOMALY_STREAMS[name]


def roc_auc(scores, labels) -> float:
    """ROC AUC as the Mann-Whitney statistic (ties count one half); needs both classes."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n1 = int(y.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        raise SpikegradInputError("roc_auc needs both anomalies and normal samples")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ss = s[order]
    # average ranks over ties
    start = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
    end = np.r_[start[1:], len(ss)]
    avg = (start + end - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, end - start)
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))
