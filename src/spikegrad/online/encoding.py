r"""Gaussian receptive field (GRF) population coding with ranges learned online.

Bohte, Kok & La Poutré (2002), as used by eSNN/OeSNN (Lobo et al. 2018, 2020).
Each real feature :math:`x` is covered by :math:`M \ge 3` Gaussian fields,
numbered :math:`j = 1 \dots M` (the default, ``numbering="one_based"``):

.. math::

    \mu_j = I_\min + \frac{2j - 3}{2}\,\frac{I_\max - I_\min}{M - 2}, \qquad
    \sigma = \frac{I_\max - I_\min}{\beta (M - 2)}, \qquad
    r_j = \exp\!\Big(-\frac{(x - \mu_j)^2}{2\sigma^2}\Big)

and if :math:`I_\max = I_\min` then :math:`\sigma = 1`. Field :math:`j` emits
one spike at time :math:`t_j = 1 - r_j \in [0, 1)`: the closer the centre, the
earlier the spike. ``numbering="zero_based"`` uses :math:`j = 0 \dots M-1`, the
convention of the OeSNN-UAD C++ code and the ``oesnn-ad`` package, which shifts
every centre down by one spacing.

Rank-order code: all spikes of a sample are sorted by time with a **stable**
sort (ties keep the input order: feature-major, field-minor), and input
:math:`j` gets its rank :math:`\mathrm{order}(j) = 0, 1, \dots`. With a late
cut :math:`t_\text{cut}` spikes with :math:`t_j > t_\text{cut}` count as absent.

The ranges :math:`[I_\min, I_\max]` are learned from the stream by
:class:`RangeTracker`: a running min/max over everything seen (``"running"``),
or the min/max of a sliding window of the last ``window`` values
(``"window"``), which follows drifting feature distributions in bounded memory.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .._checks import SpikegradInputError, check_choice, check_positive

__all__ = [
    "NUMBERINGS",
    "RANGE_MODES",
    "grf_centres",
    "grf_sigma",
    "grf_responses",
    "spike_times",
    "rank_order",
    "RangeTracker",
]

#: GRF centre numbering conventions.
NUMBERINGS = ("one_based", "zero_based")
#: How :class:`RangeTracker` learns :math:`[I_\min, I_\max]`.
RANGE_MODES = ("running", "window")


def _check_fields(n_fields: int) -> int:
    if not isinstance(n_fields, (int, np.integer)) or isinstance(n_fields, bool):
        raise TypeError(f"n_fields must be an int, got {type(n_fields).__name__}")
    if n_fields < 3:
        raise SpikegradInputError(f"n_fields must be >= 3 (the centres use M - 2), got {n_fields}")
    return int(n_fields)


def grf_centres(
    i_min: np.ndarray | float,
    i_max: np.ndarray | float,
    n_fields: int,
    numbering: str = "one_based",
) -> np.ndarray:
    r"""Centres :math:`\mu_j = I_\min + \frac{2j-3}{2}\frac{I_\max-I_\min}{M-2}`.

    Parameters
    ----------
    i_min, i_max:
        Range of each feature, scalars or arrays ``[F]``.
    n_fields:
        :math:`M \ge 3` fields per feature.
    numbering:
        ``"one_based"`` (:math:`j = 1..M`, default) or ``"zero_based"`` (:math:`j = 0..M-1`).

    Returns
    -------
    numpy.ndarray
        ``[F, M]`` (or ``[M]`` for scalar ranges).
    """
    m = _check_fields(n_fields)
    check_choice("numbering", numbering, NUMBERINGS)
    j = (
        np.arange(1, m + 1, dtype=np.float64)
        if numbering == "one_based"
        else np.arange(m, dtype=np.float64)
    )
    lo = np.asarray(i_min, dtype=np.float64)
    hi = np.asarray(i_max, dtype=np.float64)
    return lo[..., None] + ((2.0 * j - 3.0) / 2.0) * ((hi - lo) / (m - 2))[..., None]


def grf_sigma(
    i_min: np.ndarray | float, i_max: np.ndarray | float, n_fields: int, beta: float
) -> np.ndarray:
    r"""Width :math:`\sigma = (I_\max - I_\min)/(\beta (M-2))`; 1 where :math:`I_\max = I_\min`."""
    m = _check_fields(n_fields)
    b = check_positive("beta", beta)
    span = np.asarray(i_max, dtype=np.float64) - np.asarray(i_min, dtype=np.float64)
    return np.where(span > 0, span / (b * (m - 2)), 1.0)


def grf_responses(
    x: np.ndarray,
    i_min: np.ndarray,
    i_max: np.ndarray,
    n_fields: int,
    beta: float,
    numbering: str = "one_based",
) -> np.ndarray:
    r"""Field responses :math:`r_j = \exp(-(x-\mu_j)^2/2\sigma^2)` for features ``x`` ``[F]``.

    Returns ``[F, M]``; rows of non-finite features are NaN (no spikes).
    """
    mu = grf_centres(i_min, i_max, n_fields, numbering)
    sig = grf_sigma(i_min, i_max, n_fields, beta)
    xx = np.asarray(x, dtype=np.float64)
    d = (xx[..., None] - mu) / sig[..., None]
    return np.exp(-0.5 * d * d)


def spike_times(responses: np.ndarray) -> np.ndarray:
    r"""Spike times :math:`t_j = 1 - r_j` (NaN stays NaN: no spike)."""
    return 1.0 - responses


def rank_order(times: np.ndarray, late_cut: float | None = None) -> np.ndarray:
    r"""Indices of the spiking inputs in firing order (stable sort of the flat times).

    Parameters
    ----------
    times:
        Spike times of every input (any shape; flattened in C order). NaN
        means no spike.
    late_cut:
        Spikes later than this count as absent (``None``: keep all).

    Returns
    -------
    numpy.ndarray
        Flat input indices, earliest first; ties keep input order.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    ok = np.isfinite(t)
    if late_cut is not None:
        ok &= t <= late_cut
    idx = np.flatnonzero(ok)
    return idx[np.argsort(t[idx], kind="stable")]


class RangeTracker:
    r"""Online estimate of each feature's :math:`[I_\min, I_\max]`, in bounded memory.

    ``mode="running"`` keeps the min and max of every finite value seen
    (:math:`O(1)` memory per feature). ``mode="window"`` keeps the min and max
    of the last ``window`` finite values of each feature with monotonic deques
    (:math:`O(\text{window})` memory, amortised :math:`O(1)` time per value).
    Features unseen so far have no range (``None``).
    """

    def __init__(self, mode: str = "running", window: int = 500) -> None:
        check_choice("range mode", mode, RANGE_MODES)
        if not isinstance(window, int) or window < 1:
            raise SpikegradInputError(f"window must be an int >= 1, got {window!r}")
        self.mode = mode
        self.window = window
        self._lo: dict = {}
        self._hi: dict = {}
        self._n: dict = {}
        # window mode: per feature a counter and two monotonic deques of (t, value)
        self._minq: dict = {}
        self._maxq: dict = {}

    def update(self, key, value: float) -> None:
        """Add one finite value of feature ``key``."""
        if self.mode == "running":
            if key in self._lo:
                if value < self._lo[key]:
                    self._lo[key] = value
                if value > self._hi[key]:
                    self._hi[key] = value
            else:
                self._lo[key] = value
                self._hi[key] = value
            return
        t = self._n.get(key, 0)
        self._n[key] = t + 1
        minq = self._minq.setdefault(key, deque())
        maxq = self._maxq.setdefault(key, deque())
        while minq and minq[-1][1] >= value:
            minq.pop()
        minq.append((t, value))
        while maxq and maxq[-1][1] <= value:
            maxq.pop()
        maxq.append((t, value))
        while minq[0][0] <= t - self.window:
            minq.popleft()
        while maxq[0][0] <= t - self.window:
            maxq.popleft()
        self._lo[key] = minq[0][1]
        self._hi[key] = maxq[0][1]

    def range(self, key) -> tuple[float, float] | None:
        """``(I_min, I_max)`` of feature ``key``, or ``None`` if never seen."""
        if key not in self._lo:
            return None
        return self._lo[key], self._hi[key]

    def state_size(self) -> int:
        """Number of stored values (for memory-bound tests)."""
        if self.mode == "running":
            return 2 * len(self._lo)
        return sum(len(q) for q in self._minq.values()) + sum(len(q) for q in self._maxq.values())


def _finite_float(v) -> float:
    """``float(v)`` or NaN for None / NaN / inf; raise TypeError for non-numbers."""
    if v is None:
        return math.nan
    try:
        f = float(v)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"non-numeric value {v!r}") from exc
    return f if math.isfinite(f) else math.nan
