r"""Compiled (numba) inner loops of the OeSNN classifier and detector.

The neuron pool is stored input-major, ``WT[j, i]`` = weight of input ``j`` on
output neuron ``i``, so that the arrival of the :math:`k`-th spike (input
:math:`j = \pi(k)`) adds one contiguous row to every neuron's PSP,

.. math::

    \mathrm{PSP}_i \leftarrow \mathrm{PSP}_i + W^T_{j,i}\,\mathrm{mod}^k,

a loop the compiler vectorises. The additions happen in the same order, with
the same rounded products, as ``numpy.cumsum(W[:, order] * mod**arange(K))``
(:func:`spikegrad.online.esnn.recall_reference` is the spike-by-spike
reference), so the PSPs are bit-identical to the numpy recall.

:func:`first_fire` stops at the first spike at which a (used) neuron crosses
its threshold: the decision of rank-order recall is made there (every neuron
firing later scores lower), which is what makes prediction cheap. Without
fire it runs through all spikes and leaves the final PSPs for the fallback.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["first_fire", "recall_all", "distances", "grf_order", "class_max"]

#: Spikes added between two threshold checks in :func:`first_fire`.
_BLOCK = 16


@numba.njit(cache=True)
def first_fire(
    wt: np.ndarray,
    theta: np.ndarray,
    label: np.ndarray,
    order: np.ndarray,
    modk: np.ndarray,
    psp: np.ndarray,
    by_label: bool,
) -> tuple[int, int]:
    r"""Earliest firing spike and the deciding neuron.

    Returns ``(k, winner)``: ``k`` the spike index at which the first used
    neuron (``label >= 0``) crosses ``theta``, and among the neurons crossing
    there the one with the largest score
    :math:`1 + (K - k)/K + 0.999\,\frac{m}{1+m}\frac{0.5}{K}`,
    :math:`m = (\mathrm{PSP}_i - \theta_i)/\tilde\theta_i` (ties: smallest class
    index if ``by_label``, else smallest row). ``(K, -1)`` if no neuron fires;
    ``psp`` then holds every neuron's final PSP.
    """
    n = wt.shape[1]
    kk = order.shape[0]
    save = np.empty(n)
    for i in range(n):
        psp[i] = 0.0
    for k0 in range(0, kk, _BLOCK):
        k1 = min(kk, k0 + _BLOCK)
        # a block of spikes without checks (vectorised); the PSPs only grow (w >= 0),
        # so a neuron crossed inside the block iff it is above threshold at its end
        for i in range(n):
            save[i] = psp[i]
        for k in range(k0, k1):
            row = wt[order[k]]
            m = modk[k]
            for i in range(n):
                psp[i] = psp[i] + row[i] * m
        crossed = False
        for i in range(n):
            if psp[i] > theta[i] and label[i] >= 0:
                crossed = True
                break
        if not crossed:
            continue
        # replay the block spike by spike (the same additions, so the same bits)
        for i in range(n):
            psp[i] = save[i]
        for k in range(k0, k1):
            row = wt[order[k]]
            m = modk[k]
            hit = False
            for i in range(n):
                p = psp[i] + row[i] * m
                psp[i] = p
                if p > theta[i] and label[i] >= 0:
                    hit = True
            if hit:
                return k, _best_at(psp, theta, label, k, kk, by_label)
    return kk, -1


@numba.njit(cache=True)
def _best_at(
    psp: np.ndarray, theta: np.ndarray, label: np.ndarray, k: int, kk: int, by_label: bool
) -> int:
    best = -1
    best_s = -1.0
    best_key = 0
    for i in range(psp.shape[0]):
        if label[i] >= 0 and psp[i] > theta[i]:
            th = theta[i] if theta[i] > 0 else 1.0
            margin = max(psp[i] - theta[i], 0.0) / th
            tie = margin / (1.0 + margin) * (0.5 / kk)
            s = 1.0 + (kk - k) / kk + tie * 0.999
            key = label[i] if by_label else i
            if best < 0 or s > best_s or (s == best_s and key < best_key):
                best = i
                best_s = s
                best_key = key
    return best


@numba.njit(cache=True)
def class_max(scores: np.ndarray, label: np.ndarray, n_classes: int) -> np.ndarray:
    """Per class, the largest score of its neurons (-1 for a class without neurons)."""
    out = np.full(n_classes, -1.0)
    for i in range(scores.shape[0]):
        c = label[i]
        if c >= 0 and scores[i] > out[c]:
            out[c] = scores[i]
    return out


@numba.njit(cache=True)
def recall_all(
    wt: np.ndarray, theta: np.ndarray, order: np.ndarray, modk: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every neuron's ``fired, fire_step, psp_at_fire, psp_final`` (see ``esnn.recall``)."""
    n = wt.shape[1]
    kk = order.shape[0]
    psp = np.zeros(n)
    fired = np.zeros(n, dtype=np.bool_)
    step = np.full(n, kk, dtype=np.int64)
    psp_at = np.zeros(n)
    for k in range(kk):
        row = wt[order[k]]
        m = modk[k]
        for i in range(n):
            p = psp[i] + row[i] * m
            psp[i] = p
            if not fired[i] and p > theta[i]:
                fired[i] = True
                step[i] = k
                psp_at[i] = p
    for i in range(n):
        if not fired[i]:
            psp_at[i] = psp[i]
    return fired, step, psp_at, psp


@numba.njit(cache=True, fastmath=True)
def distances(w_rows: np.ndarray, rows: np.ndarray, w: np.ndarray) -> np.ndarray:
    r"""Euclidean distances :math:`\lVert W_{r} - w \rVert` of pool rows ``rows`` to ``w``.

    ``w_rows`` is the pool stored row-major (``[pool, inputs]``); the sums are
    vectorised (reassociated), so they differ from numpy's in the last bits.
    """
    nr = rows.shape[0]
    out = np.empty(nr)
    n_in = w.shape[0]
    for a in range(nr):
        row = w_rows[rows[a]]
        acc = 0.0
        for j in range(n_in):
            e = row[j] - w[j]
            acc += e * e
        out[a] = np.sqrt(acc)
    return out


@numba.njit(cache=True)
def grf_order(
    vals: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    n_fields: int,
    beta: float,
    one_based: bool,
    skip_constant: bool,
    late_cut: float,
    inv_canon: np.ndarray,
) -> tuple[np.ndarray, bool]:
    r"""Rank-order code of one sample: the spiking inputs (``feature * M + field``) in firing order.

    Field :math:`j` of feature :math:`f` fires at :math:`t = 1 - \exp(-d^2/2)`,
    :math:`d = (x_f - \mu_j)/\sigma` with the centres and widths of
    :func:`~spikegrad.data.encoding.grf_centres` / ``grf_sigma`` (same
    operations in the same order). NaN values (missing features), and with
    ``skip_constant`` features whose range is a single value, do not fire;
    nor do fields later than ``late_cut``. Ties in time go to the canonical
    input order: inputs are visited in canonical order (``inv_canon[p]`` is the
    column at canonical position ``p``) and sorted stably. Returns the order
    and whether some feature was missing.
    """
    nf = vals.shape[0]
    m = n_fields
    t = np.empty(nf * m)
    missing = False
    for f in range(nf):
        x = vals[f]
        span = hi[f] - lo[f]
        if x != x or (skip_constant and span <= 0):
            missing = True
            for a in range(m):
                t[f * m + a] = np.nan
            continue
        step = span / (m - 2)
        sig = span / (beta * (m - 2)) if span > 0 else 1.0
        for a in range(m):
            j = a + 1.0 if one_based else a * 1.0
            mu = lo[f] + ((2.0 * j - 3.0) / 2.0) * step
            d = (x - mu) / sig
            t[f * m + a] = 1.0 - np.exp(-0.5 * d * d)
    n = nf * m
    cols = np.empty(n, dtype=np.int64)
    times = np.empty(n)
    k = 0
    for p in range(n):
        c = inv_canon[p]
        tc = t[c]
        if np.isfinite(tc) and tc <= late_cut:
            cols[k] = c
            times[k] = tc
            k += 1
    idx = np.argsort(times[:k], kind="mergesort")
    return cols[idx], missing


def warm_up() -> None:
    """Load (or compile) every kernel once, so that no timed run pays for it."""
    wt = np.zeros((6, 2))
    theta = np.ones(2)
    label = np.zeros(2, dtype=np.int64)
    order = np.arange(6, dtype=np.int64)
    modk = 0.9 ** np.arange(6.0)
    first_fire(wt, theta, label, order, modk, np.empty(2), True)
    recall_all(wt, theta, order, modk)
    distances(np.ascontiguousarray(wt.T), np.arange(2, dtype=np.int64), np.zeros(6))
    class_max(np.zeros(2), label, 1)
    grf_order(np.zeros(2), np.zeros(2), np.ones(2), 3, 1.5, True, True, 2.0, order)
