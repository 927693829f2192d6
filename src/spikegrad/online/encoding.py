r"""Stream-side encoding for the online learners: receptive-field ranges learned online.

The codes themselves live in :mod:`spikegrad.data.encoding`, the one home of
spikegrad's spike codes, and are re-exported here: Gaussian receptive fields
(:func:`grf_centres`, :func:`grf_sigma`, :func:`grf_responses`; Bohte, Kok & La
Poutré 2002, as used by eSNN/OeSNN, Lobo et al. 2018, 2020), their firing times
:func:`grf_spike_times` (:math:`t_j = 1 - r_j`; ``spike_times`` is the old name)
and the rank-order code :func:`rank_order`.

What is specific to streams is here: the ranges :math:`[I_\min, I_\max]` of the
fields are learned from the stream by :class:`RangeTracker`, a running min/max over
everything seen (``"running"``), or the min/max of a sliding window of the last
``window`` values (``"window"``), which follows drifting feature distributions in
bounded memory.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from .._checks import SpikegradInputError, check_choice
from ..data.encoding import (
    NUMBERINGS,
    grf_centres,
    grf_responses,
    grf_sigma,
    grf_spike_times,
    rank_order,
)
from ..data.encoding import _check_fields as _check_fields  # used by esnn and eprop_river

__all__ = [
    "feature_number",
    "NUMBERINGS",
    "RANGE_MODES",
    "grf_centres",
    "grf_sigma",
    "grf_responses",
    "grf_spike_times",
    "spike_times",
    "rank_order",
    "RangeTracker",
]


def feature_number(key: object, v: Any, owner: str, max_abs: float = math.inf) -> float:
    """One river feature value as a float: ``None``, an integer beyond the float range,
    a non-finite value or one with :math:`|v| \\ge` ``max_abs`` become NaN (a missing
    feature); a non-numeric value raises ``TypeError`` naming the feature and ``owner``."""
    if v is None:
        return math.nan
    try:
        f = float(v)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"feature {key!r} has non-numeric value {v!r}; {owner} needs numbers"
        ) from exc
    except OverflowError:
        return math.nan
    return f if math.isfinite(f) and abs(f) < max_abs else math.nan


#: How :class:`RangeTracker` learns :math:`[I_\min, I_\max]`.
RANGE_MODES = ("running", "window")

#: The old name of :func:`grf_spike_times`.
spike_times = grf_spike_times


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
