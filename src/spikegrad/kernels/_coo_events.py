r"""Kernel events built from stored spike events (COO triplets), not from a dense scan.

The compiled kernels (:mod:`spikegrad.kernels.lif_numba`) take their first layer's
input as :class:`~spikegrad.kernels.lif_numba.Events`: row ``r = t B + b`` (step ``t``,
sample ``b``) holds its channels ``idx[start[r]:start[r] + count[r]]`` in ascending
order and their values ``val[...]``. :func:`~spikegrad.kernels.lif_numba.build_events`
finds them by scanning the dense ``[T, B, K]`` tensor once. A data set that stores its
spikes as events (:class:`~spikegrad.data.SpikeDataset`) already has every batch as
triplets ``(t_e, b_e, u_e)``; :func:`events_from_coo` turns them into the same
``Events`` in :math:`O(E + T B)` for ``E`` triplets, and :func:`attach_events` puts them
on the dense tensor so the kernels skip the scan.

The dense tensor the events describe is

.. math::

    x[t, b, k] = \#\{e : t_e = t,\ b_e = b,\ u_e = k\},

so triplets repeated in one ``(t, b, k)`` bin become one event whose value is their
count (what ``index_put_(..., accumulate=True)`` writes). Per row the channels come out
ascending, exactly as the scan writes them, so a kernel sums the same terms in the same
order and gives bitwise the same result either way.

Without numba nothing is built (:func:`events_from_coo` returns ``None``): the kernels
that read events are compiled with numba and are not used then.
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import SpikegradInputError
from . import _buffers
from .lif_numba import _HAVE_NUMBA, DENSITY_THRESHOLD, Events, numba, set_events

__all__ = ["DENSITY_THRESHOLD", "attach_events", "dense_from_events", "events_from_coo"]

#: rows with at most this many triplets are sorted by insertion sort, longer ones by
#: numpy's sort (rows of sparse spike data hold a handful of events)
_INSERTION_MAX = 32


if _HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _fill_rows(x2, start, count, idx, val):  # pragma: no cover - compiled
        """Row r of x2 [R, K]: zeros, then val[e] at channel idx[e] of its events."""
        R, K = x2.shape
        for r in numba.prange(R):
            row = x2[r]
            for k in range(K):
                row[k] = 0.0
            for e in range(start[r], start[r] + count[r]):
                row[idx[e]] = val[e]

    @numba.njit(cache=True, error_model="numpy")
    def _coo_rows(t, b, u, T, B, K, counts):  # pragma: no cover - compiled
        """Triplets per row ``t B + b`` into ``counts``; the first bad triplet, or -1."""
        for e in range(t.shape[0]):
            te, be, ue = t[e], b[e], u[e]
            if te < 0 or te >= T or be < 0 or be >= B or ue < 0 or ue >= K:
                return e
            counts[te * B + be] += 1
        return -1

    @numba.njit(cache=True, error_model="numpy")
    def _coo_fill(t, b, u, B, offs, counts, fill, start, idx, val):  # pragma: no cover
        """Counting sort by row, then per row: sort by channel and merge repeats.

        ``offs`` are the rows' first slots by the triplet counts; a row's unique
        channels are compacted towards the front of the buffer (the write position never
        passes the row being read, since merging only shrinks), so ``idx``/``val`` end up
        contiguous, row by row, and ``counts`` becomes the unique count per row.
        """
        for e in range(t.shape[0]):
            r = t[e] * B + b[e]
            p = offs[r] + fill[r]
            idx[p] = u[e]
            fill[r] += 1
        w = 0
        for r in range(counts.shape[0]):
            s = offs[r]
            n = counts[r]
            start[r] = w
            if n == 0:
                continue
            if n <= _INSERTION_MAX:
                for i in range(s + 1, s + n):
                    v = idx[i]
                    j = i - 1
                    while j >= s and idx[j] > v:
                        idx[j + 1] = idx[j]
                        j -= 1
                    idx[j + 1] = v
            else:
                idx[s : s + n].sort()
            # merge repeats: sorted, so equal channels are neighbours
            prev = idx[s]
            m = 1
            for i in range(s + 1, s + n):
                v = idx[i]
                if v == prev:
                    m += 1
                else:
                    idx[w] = prev
                    val[w] = m
                    w += 1
                    prev = v
                    m = 1
            idx[w] = prev
            val[w] = m
            w += 1
            counts[r] = w - start[r]
        return w


def _index_array(name: str, a: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.ndim != 1 or not (np.issubdtype(a.dtype, np.integer) or a.size == 0):
        raise SpikegradInputError(
            f"{name} must be a 1-D integer array, got dtype {a.dtype} and shape {a.shape}"
        )
    return np.ascontiguousarray(a, dtype=np.int64)


def _np_float(dtype: torch.dtype | np.dtype | type) -> np.dtype:
    names = {torch.float32: "float32", torch.float64: "float64"}
    if isinstance(dtype, torch.dtype):
        name = names.get(dtype)
    else:
        try:
            name = np.dtype(dtype).name if dtype is not None else None
        except TypeError:
            name = None
    if name not in ("float32", "float64"):
        raise SpikegradInputError(f"dtype must be float32 or float64, got {dtype!r}")
    return np.dtype(name)


def events_from_coo(
    t: np.ndarray | torch.Tensor,
    b: np.ndarray | torch.Tensor,
    u: np.ndarray | torch.Tensor,
    T: int,
    B: int,
    K: int,
    dtype: torch.dtype | np.dtype | type = torch.float32,
) -> Events | None:
    r"""Kernel events of the ``[T, B, K]`` tensor that counts the triplets ``(t, b, u)``.

    Parameters
    ----------
    t, b, u:
        Integer arrays ``[E]`` (numpy or CPU tensors): time step ``0 <= t < T``, sample
        ``0 <= b < B`` and channel ``0 <= u < K`` of every event, in any order.
    T, B, K:
        Shape of the dense tensor the events describe.
    dtype:
        Dtype of the values (that of the dense tensor): float32 or float64.

    Returns
    -------
    Events or None
        The :class:`~spikegrad.kernels.lif_numba.Events` that
        :func:`~spikegrad.kernels.lif_numba.build_events` finds by scanning
        :math:`x[t, b, k] = \#\{e : (t_e, b_e, u_e) = (t, b, k)\}`: per row ``t B + b``
        the channels with ``x > 0`` in ascending order and their counts as values,
        ``density = nnz / (T B K)`` and ``version = -1`` (:func:`attach_events` sets
        it). ``None`` without numba.

    Cost :math:`O(E + T B)`: a counting sort by row, then a sort of each row's few
    channels (insertion sort up to 32 triplets) that merges repeated ones.
    Raises :class:`~spikegrad.SpikegradInputError` for triplets out of range or
    arrays of different lengths.
    """
    if not _HAVE_NUMBA:
        return None
    T, B, K = int(T), int(B), int(K)
    if min(T, B, K) < 0:
        raise SpikegradInputError(f"T, B and K must be >= 0, got {T}, {B}, {K}")
    dt = _np_float(dtype)
    ta, ba, ua = _index_array("t", t), _index_array("b", b), _index_array("u", u)
    if not ta.size == ba.size == ua.size:
        raise SpikegradInputError(
            f"t, b and u must have one entry per event, got lengths {ta.size}, {ba.size}, {ua.size}"
        )
    R = T * B
    counts = np.zeros(R, dtype=np.int64)
    bad = _coo_rows(ta, ba, ua, T, B, K, counts)
    if bad >= 0:
        raise SpikegradInputError(
            f"event {bad} = (t={int(ta[bad])}, b={int(ba[bad])}, u={int(ua[bad])}) lies "
            f"outside [0, {T}) x [0, {B}) x [0, {K})"
        )
    offs = np.zeros(R, dtype=np.int64)
    if R > 1:
        np.cumsum(counts[:-1], out=offs[1:])
    E = ta.size
    start = np.empty(R, dtype=np.int64)
    idx = _buffers.empty(max(E, 1), dtype=np.int32)
    val = _buffers.empty(max(E, 1), dtype=dt)
    fill = np.zeros(R, dtype=np.int64)
    nnz = int(_coo_fill(ta, ba, ua, B, offs, counts, fill, start, idx, val))
    return Events(start, counts, idx[:nnz], val[:nnz], nnz / max(1, R * K))


def dense_from_events(events: Events, T: int, B: int, K: int) -> torch.Tensor:
    r"""The dense ``[T, B, K]`` tensor that ``events`` describe (values at their channels).

    One compiled pass, parallel over the rows ``t B + b``: each row is zeroed and its
    events written, in memory recycled from the kernels' buffer pool
    (:mod:`spikegrad.kernels._buffers`; a fresh 72 MB tensor would first-touch every
    page). Equals ``index_put_(..., accumulate=True)`` of the triplets the events were
    built from (:func:`events_from_coo` merged repeats into counts). The dtype is that
    of ``events.val``.
    """
    x2 = _buffers.empty((T * B, K), dtype=events.val.dtype)
    _fill_rows(x2, events.start, events.count, events.idx, events.val)
    return torch.from_numpy(x2).view(T, B, K)


def attach_events(x: torch.Tensor, events: Events | None) -> torch.Tensor:
    """Let the compiled kernels use ``events`` for ``x`` instead of scanning it; ``x``.

    ``events`` must describe ``x`` (:func:`events_from_coo` of the triplets ``x``
    counts). They are recorded for ``x`` (:func:`~spikegrad.kernels.lif_numba.set_events`:
    weakly, not as an attribute, so ``torch.save`` of ``x`` is unaffected) with ``x``'s
    current version counter, so any later
    in-place change of ``x`` (or of a view sharing its storage through torch) makes
    :func:`~spikegrad.kernels.lif_numba.build_events` ignore them and scan again.
    (Writes that bypass torch, e.g. through ``x.numpy()``, do not bump the counter: do
    not make them to a tensor carrying events.) ``None`` leaves ``x`` as it is.
    """
    if events is not None:
        set_events(x, events._replace(version=x._version))
    return x
