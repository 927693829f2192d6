r"""Small-sample statistics for reports: Student-t intervals at 95 % confidence.

Every interval here is two-sided at 95 %: for ``n`` values with mean :math:`\bar x` and
sample standard deviation :math:`s`,

.. math:: \bar x \pm t_{0.975,\,n-1}\, s / \sqrt n .

The quantiles :math:`t_{0.975,\nu}` are tabulated for :math:`\nu \le 30` and from the
Cornish-Fisher expansion above (error < 1e-4 there), so no SciPy is needed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

__all__ = [
    "CONFIDENCE",
    "Interval",
    "t975",
    "mean_interval",
    "diff_interval",
    "z_interval",
    "wilson",
]

#: the confidence of every interval of this module
CONFIDENCE = 0.95
_Z = 1.959963984540054
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


class Interval(NamedTuple):
    """A mean with its 95 % interval ``[lo, hi]``, the sample SD and the count."""

    mean: float
    lo: float
    hi: float
    sd: float
    n: int

    def text(self, digits: int = 3) -> str:
        """``"0.812 [0.790, 0.834]"`` (``"n/a"`` without data)."""
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        return f"{self.mean:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def t975(df: int) -> float:
    r""":math:`t_{0.975,\nu}`, the two-sided 95 % quantile of Student's t (``df >= 1``)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def mean_interval(xs: Sequence[float], bounds: tuple[float, float] | None = None) -> Interval:
    """Mean and 95 % t-interval of the finite values of ``xs`` (one value: width 0 is
    unknown, so the interval is infinite).

    ``bounds``: the range the quantity cannot leave (``(0, 1)`` for an accuracy); the
    interval is clipped to it, so a 2-seed accuracy never reads ``[-0.071, 0.988]``.
    """
    v = [float(x) for x in xs if x is not None and math.isfinite(float(x))]
    n = len(v)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, math.nan, 0)
    m = sum(v) / n
    if n == 1:
        lo1, hi1 = (-math.inf, math.inf) if bounds is None else bounds
        return Interval(m, lo1, hi1, math.nan, 1)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))
    h = t975(n - 1) * sd / math.sqrt(n)
    lo, hi = m - h, m + h
    if bounds is not None:
        lo, hi = max(bounds[0], lo), min(bounds[1], hi)
    return Interval(m, lo, hi, sd, n)


def diff_interval(a: Sequence[float], b: Sequence[float]) -> Interval:
    """95 % interval of the mean paired difference ``a - b`` (pairs with both finite)."""
    pairs = [
        float(x) - float(y)
        for x, y in zip(a, b, strict=True)
        if x is not None and y is not None and math.isfinite(float(x)) and math.isfinite(float(y))
    ]
    return mean_interval(pairs)


def z_interval(mean: float, se: float) -> Interval:
    """``mean ± 1.96 se`` (a normal approximation, e.g. a binomial standard error)."""
    return Interval(mean, mean - _Z * se, mean + _Z * se, math.nan, 1)


def wilson(p: float, n: int, z: float = _Z) -> tuple[float, float]:
    r"""Wilson's (1927) score interval of a proportion ``p`` observed on ``n`` trials.

    .. math:: \frac{p + z^2/2n \pm z\sqrt{p(1-p)/n + z^2/4n^2}}{1 + z^2/n}

    It stays inside ``[0, 1]`` and is not degenerate at ``p = 0`` or ``1`` (unlike
    ``p ± z sqrt(p(1-p)/n)``).
    """
    if n <= 0:
        raise ValueError(f"n must be >= 1, got {n}")
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(max(p * (1 - p), 0.0) / n + z * z / (4 * n * n)) / den
    return max(0.0, centre - half), min(1.0, centre + half)
