r"""Compiled CPU kernels (numba): an event-driven LIF layer and leaky-integrator readout.

Same recursion and adjoint as :mod:`spikegrad.kernels.lif_fused` (eq. 4.1), but the
time loop runs in compiled code, parallel over the batch, and the synaptic projections
are **event-driven**: spike tensors are mostly zeros, so instead of the dense product
:math:`W x[n]` the kernel adds, for every active input ``k`` of sample ``b`` at step
``n``, the value ``x[n, b, k]`` times column ``k`` of ``W`` (a gather over the active
events), and the weight gradient :math:`\partial L/\partial W = \sum_n g_i[n+1]\,x[n]^\top`
is a scatter-add of ``g_i[n+1]`` into the rows of ``W^T`` that had events, done inside
the backward sweep so ``g_i`` never goes to memory. The same holds for the recurrent
forward term :math:`V S[n]` (the layer's own spikes) and for the readout's input.

Cost per training step with ``E`` input events, ``N`` neurons, ``T`` steps, batch
``B``: :math:`O(E N)` for the projection and its weight gradient (dense:
:math:`O(T B K N)`), :math:`O(T B N)` for the neuron updates. The one part that stays
dense is the recurrent adjoint :math:`V^\top g_i[n+1]` (the adjoint is not sparse);
it runs as one BLAS product per step across the batch.

:func:`lif_readout_numba` (used by :class:`~spikegrad.nn.SpikingNetwork` for its last
hidden layer) fuses a layer with the readout, so the readout's input gradient is formed
inside the layer's backward sweep and never stored as a ``[T, B, N]`` tensor.

BPTT needs U[t] (and I[t] for trainable time constants or the differentiable reset) in
the backward sweep. An event-driven layer whose traces would take at least
:data:`CHECKPOINT_MIN_BYTES` stores none (:data:`CHECKPOINT`): only the state at the
start of every ``_TB``-step block, from which the backward recomputes each block's rows
with the forward's own arithmetic (``_replay``; bitwise the same values). The arrays an
autograd node needs travel through ``save_for_backward`` and are freed right after the
backward, not when the graph dies.

Tensors on other devices take the Triton kernels (:mod:`spikegrad.kernels.lif_triton`,
``auto`` on CUDA) or the torch ``fused`` backend.

Whether a tensor is sparse enough is decided per call from its exact event count
(:func:`build_events`, threshold :data:`DENSITY_THRESHOLD`, measured in
``bench/event_density.py``); denser inputs use torch's matrix product and the same
compiled neuron kernels.

Why numba: it ships as a wheel, compiles on first use with no toolchain, and caches the
machine code on disk (``cache=True``), so later runs start at once. Only the registered
surrogate shapes have compiled derivatives (:data:`SURROGATE_CODES`), and a surrogate
reaches one only if its type is *exactly* the class registered under its name in
:data:`spikegrad.functional.surrogate.SURROGATES` (:func:`surrogate_code`): a subclass
inherits the name but may override ``derivative``, so it is never matched by name alone.
:func:`available` says whether a call can use these kernels, otherwise callers fall back
to the torch implementation.
"""

from __future__ import annotations

import math
import weakref
from types import SimpleNamespace
from typing import NamedTuple

import numpy as np
import torch

from .._checks import SpikegradInputError
from ..functional.surrogate import SURROGATES, Surrogate
from . import _buffers

__all__ = [
    "BOUNDED_SUPPORT_CODES",
    "CHECKPOINT",
    "CHECKPOINT_MIN_BYTES",
    "DENSITY_THRESHOLD",
    "SPARSE_ADJOINT_MAX",
    "SURROGATE_CODES",
    "Events",
    "available",
    "build_events",
    "get_events",
    "li_readout_numba",
    "lif_layer_numba",
    "lif_readout_numba",
    "lif_sequence_numba",
    "set_events",
    "surrogate_code",
]

#: surrogate name -> integer code understood by the compiled derivative
SURROGATE_CODES = {
    "superspike": 0,
    "sigmoid": 1,
    "esser": 2,
    "asymptotic_superspike": 3,
    "constant": 4,
    "zero": 5,
    "exponential": 6,
    "gaussian": 7,
    "arctan": 8,
}

#: Time steps per block in the compiled sweeps: a block's input currents (forward) or
#: adjoints (backward) stay in cache next to the weights while the block is processed.
_TB = 32

#: Inputs with at most this fraction of non-zero entries use the event-driven
#: projection; denser ones a dense matrix product (crossover measured with
#: ``bench/event_density.py``, see BENCHMARKS.md).
DENSITY_THRESHOLD = 0.1

try:  # numba is optional: without it everything runs on the torch kernels
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None  # type: ignore[assignment]
    _HAVE_NUMBA = False


def surrogate_code(surrogate: object) -> int | None:
    """Code of the compiled derivative for ``surrogate``, or ``None`` if it has none.

    Dispatch is on the exact type: ``type(surrogate)`` must be the class registered as
    ``SURROGATES[surrogate.name]`` (and have a code in :data:`SURROGATE_CODES`). A
    subclass, even one that keeps the inherited ``name``, gets ``None`` (its
    ``derivative`` may differ, and a compiled one would give silently wrong gradients).
    """
    name = getattr(type(surrogate), "name", None)
    if not isinstance(name, str) or name not in SURROGATE_CODES:
        return None
    if type(surrogate) is not SURROGATES.get(name):
        return None
    if type(surrogate).forward_value is not Surrogate.forward_value:  # pragma: no cover
        return None  # registered classes all spike with the Heaviside step
    return SURROGATE_CODES[name]


def _require_code(surrogate: object) -> int:
    """:func:`surrogate_code`, raising :class:`SpikegradInputError` if there is none."""
    code = surrogate_code(surrogate)
    if code is None:
        raise SpikegradInputError(
            f"surrogate {surrogate!r} (type {type(surrogate).__qualname__}) has no compiled "
            f"derivative: the numba kernels take only the exact registered classes "
            f"({', '.join(sorted(SURROGATE_CODES))}), not subclasses or other surrogates; "
            "use backend='auto' or 'fused'"
        )
    return code


def available(surrogate: Surrogate | None, x: torch.Tensor) -> bool:
    """True if the compiled kernels handle this call (CPU, float32/64, known surrogate).

    ``surrogate=None`` asks about the (non-spiking) readout kernel; otherwise the
    surrogate must have a compiled derivative (:func:`surrogate_code`).
    """
    ok = _HAVE_NUMBA and x.device.type == "cpu" and x.dtype in (torch.float32, torch.float64)
    if surrogate is None:
        return ok
    return ok and surrogate_code(surrogate) is not None


class Events(NamedTuple):
    """Non-zero entries of a ``[T, B, K]`` tensor, row by row.

    Row ``r = n * B + b`` holds the events of sample ``b`` at step ``n``:
    ``idx[start[r]:start[r] + count[r]]`` are the channels, ``val[...]`` the values
    (rows need not be stored in order, so compiled kernels can write them in parallel).
    """

    start: np.ndarray
    count: np.ndarray  # type: ignore[assignment]  # the field shadows tuple.count
    idx: np.ndarray
    val: np.ndarray
    density: float
    version: int = -1


#: events known for live tensors, by id: (weak reference to the tensor, its events). Not
#: an attribute of the tensor: ``torch.save`` would store one with the tensor, and
#: ``torch.load(..., weights_only=True)`` would then refuse the file. An entry goes when
#: its tensor is freed (``weakref.finalize``).
_EVENTS: dict[int, tuple[weakref.ref, Events]] = {}


def get_events(x: torch.Tensor) -> Events | None:
    """The events recorded for ``x`` (:func:`set_events`), or ``None``.

    The caller compares ``Events.version`` with ``x._version`` before using them.
    """
    hit = _EVENTS.get(id(x))
    if hit is None or hit[0]() is not x:
        return None
    return hit[1]


def set_events(x: torch.Tensor, events: Events) -> None:
    """Record ``events`` (with their ``version``) as the non-zeros of ``x``.

    Kept, weakly, until ``x`` is freed; :func:`build_events` then uses them instead of
    scanning ``x`` while ``x._version`` equals ``events.version``.
    """
    key = id(x)
    hit = _EVENTS.get(key)
    if hit is None or hit[0]() is not x:
        weakref.finalize(x, _EVENTS.pop, key, None)
    _EVENTS[key] = (weakref.ref(x), events)


def _nthreads(batch: int) -> int:
    return max(1, min(int(numba.get_num_threads()), batch))


#: samples of a batch are split into this many chunks for the backward reductions,
#: whatever the thread count: each chunk sums its samples in order and the chunk sums are
#: added in chunk order, so weight gradients are bitwise the same with 1 or 16 threads
REDUCE_CHUNKS = 8


def _reduce_chunks(batch: int) -> int:
    """Chunks of a backward reduction over ``batch`` samples (independent of threads)."""
    return max(1, min(REDUCE_CHUNKS, batch))


if _HAVE_NUMBA:

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _fill_events(x2, offs, idx, val):  # pragma: no cover - compiled
        R, K = x2.shape
        for r in numba.prange(R):
            e = offs[r]
            for k in range(K):
                v = x2[r, k]
                if v != 0:
                    idx[e] = k
                    val[e] = v
                    e += 1

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _scan_events(
        x2, xw, mask, nchunks, cap, idx, val, starts, counts, status
    ):  # pragma: no cover - compiled
        """One pass: per-row event counts, events into per-chunk regions, non-finite count.

        Chunk c owns rows [c R / nchunks, (c+1) R / nchunks) and buffer slots
        [c cap, (c+1) cap). ``xw`` views each row as 64-bit words (two float32 or one
        float64; width 0 if that view does not exist): a word whose magnitude bits are
        all zero holds no event and is skipped with one test, which is what makes the
        scan of a 98 %-zero tensor cheap. A chunk whose region fills up keeps counting
        and sets status[c] = 1 (the caller then refills with a plain pass).
        """
        R, K = x2.shape
        W = xw.shape[1]
        per = K // W if W > 0 else 1  # values per word
        for c in numba.prange(nchunks):
            lo = c * R // nchunks
            hi = (c + 1) * R // nchunks
            e = c * cap
            end = (c + 1) * cap
            bad = 0
            over = False
            for r in range(lo, hi):
                starts[r] = e
                if not over and e + K > end:
                    over = True
                    status[c] = 1
                if over:  # count only
                    n = 0
                    for k in range(K):
                        v = x2[r, k]
                        n += v != 0
                        bad += (v - v) != 0  # NaN and +-inf (0 - 0 == 0)
                    counts[r] = n
                    continue
                s = e
                for w in range(W):
                    if xw[r, w] & mask:
                        for k in range(per * w, per * w + per):
                            v = x2[r, k]
                            if v != 0:
                                idx[e] = k
                                val[e] = v
                                bad += (v - v) != 0
                                e += 1
                for k in range(per * W, K):
                    v = x2[r, k]
                    if v != 0:
                        idx[e] = k
                        val[e] = v
                        bad += (v - v) != 0
                        e += 1
                counts[r] = e - s
            status[nchunks + c] = bad

    @numba.njit(cache=True, error_model="numpy")
    def _hrow(code, cst, u, h):  # pragma: no cover - compiled
        """Surrogate derivative h(u - 1) of one membrane row u into h.

        The shape branch is outside the loop.
        """
        one = cst[0]
        beta = cst[1]
        N = h.shape[0]
        if code == 0 or code == 3:
            num = one if code == 0 else beta
            for j in range(N):
                d = beta * abs(u[j] - one) + one
                h[j] = num / (d * d)
        elif code == 1:
            for j in range(N):
                s = one / (one + math.exp(-beta * (u[j] - one)))
                h[j] = s * (one - s)
        elif code == 2:
            for j in range(N):
                v = one - beta * abs(u[j] - one)
                h[j] = max(v, cst[3])
        elif code == 4:
            for j in range(N):
                h[j] = one
        elif code == 5:
            for j in range(N):
                h[j] = cst[3]
        elif code == 6:
            for j in range(N):
                h[j] = math.exp(-beta * abs(u[j] - one))
        elif code == 7:
            for j in range(N):
                z = beta * (u[j] - one)
                h[j] = math.exp(cst[4] * z * z)
        else:
            pib = cst[2] * beta
            for j in range(N):
                z = pib * (u[j] - one)
                h[j] = one / (one + z * z)

    @numba.njit(cache=True, error_model="numpy")
    def _gather_block(C, t0, t1, b, B, st, ct, idx, val, WT, events, X, zero):  # pragma: no cover
        """Input currents of sample b for steps t0 .. t1 - 1 into rows 0 .. t1 - t0 - 1 of C.

        Event-driven: the sum of val[e] W[:, idx[e]] over the row's events in stored
        order; else the row of the dense current X. Shared by the forward sweep and the
        recomputation (:func:`_replay`), which must add the same terms in the same order.
        """
        N = C.shape[1]
        for t2 in range(t0, t1):
            Ct = C[t2 - t0]
            if events:
                for j in range(N):
                    Ct[j] = zero
                r = t2 * B + b
                for e in range(st[r], st[r] + ct[r]):
                    k = idx[e]
                    v = val[e]
                    Wk = WT[k]
                    for j in range(N):
                        Ct[j] += v * Wk[j]
            else:
                for j in range(N):
                    Ct[j] = X[t2, b, j]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _lif_forward(
        st,
        ct,
        idx,
        val,
        WT,
        events,
        X,
        VT,
        rec,
        bm,
        omb,
        bs,
        U,
        I,
        S,
        store_i,
        sst,
        sct,
        sidx,
        sval,
        scap,
        sov,
        cst,
        ck,
        CKU,
        CKI,
    ):  # pragma: no cover - compiled
        """Forward sweep per sample into U, I and the spikes S (0.0 / 1.0).

        Also records the output spikes as events (sample b owns the region b T N).
        With ``ck`` the traces U and I are not written: only the state (u, i) at the
        start of every time block, into CKU[b, t // _TB] and CKI[b, t // _TB], from
        which :func:`_replay` recomputes a block in the backward sweep.
        """
        T, B, N = S.shape
        one = cst[0]
        zero = cst[3]
        for b in numba.prange(B):
            es = b * scap
            send = es + scap
            u = np.zeros(N, dtype=U.dtype)
            i = np.zeros(N, dtype=U.dtype)
            cr = np.zeros(N, dtype=U.dtype)
            C = np.zeros((_TB, N), dtype=U.dtype)
            for t in range(T):
                tb = t % _TB
                if tb == 0:  # input currents of the next _TB steps: a tight gather loop
                    _gather_block(
                        C, t, min(t + _TB, T), b, B, st, ct, idx, val, WT, events, X, zero
                    )
                    if ck:
                        for j in range(N):
                            CKU[b, t // _TB, j] = u[j]
                            CKI[b, t // _TB, j] = i[j]
                St = S[t, b]
                if not ck:
                    Ut = U[b, t]
                    for j in range(N):
                        Ut[j] = u[j]
                        if store_i:
                            I[b, t, j] = i[j]
                for j in range(N):  # branch-free, one element width: vectorises
                    uj = u[j]
                    ij = i[j]
                    sp = uj > one
                    St[j] = one if sp else zero
                    u[j] = zero if sp else bm[j] * uj + omb[j] * ij
                nspk = 0
                for j in range(N):
                    nspk += St[j] != 0
                sst[t * B + b] = es
                e0 = es
                if es + nspk > send:  # region full: record no more (caller drops the events)
                    sov[b] = 1
                elif nspk > 0:
                    for j in range(N):
                        if St[j] != 0:
                            sidx[es] = j
                            sval[es] = one
                            es += 1
                sct[t * B + b] = nspk
                Ct = C[tb]
                for j in range(N):
                    i[j] = bs[j] * i[j] + Ct[j]
                if rec and nspk > 0:
                    for j in range(N):
                        cr[j] = 0.0
                    if es > e0:  # the spikes just recorded: no second scan of the row
                        for e in range(e0, es):
                            Vj = VT[sidx[e]]
                            for j in range(N):
                                cr[j] += Vj[j]
                    else:
                        for jj in range(N):
                            if St[jj] != 0:
                                Vj = VT[jj]
                                for j in range(N):
                                    cr[j] += Vj[j]
                    for j in range(N):
                        i[j] += cr[j]

    @numba.njit(cache=True, error_model="numpy")
    def _replay(
        b,
        t0,
        t1,
        B,
        u,
        i,
        C,
        cr,
        spk,
        st,
        ct,
        idx,
        val,
        WT,
        events,
        X,
        VT,
        rec,
        bm,
        omb,
        bs,
        Ub,
        Ib,
        store_i,
        cst,
    ):  # pragma: no cover - compiled
        """Recompute steps t0 .. t1 - 1 of sample b from its state (u, i) at t0.

        Writes U[t] and (with ``store_i``) I[t] into row t - t0 of Ub and Ib and leaves
        the state at t1 in (u, i). The arithmetic is the forward sweep's
        (:func:`_lif_forward`), operation for operation and in the same order (the
        input current of a step summed over its events in stored order, the recurrent
        input over the spiking neurons in ascending order), so the values are bitwise
        those the forward saw.
        """
        N = u.shape[0]
        one = cst[0]
        zero = cst[3]
        _gather_block(C, t0, t1, b, B, st, ct, idx, val, WT, events, X, zero)
        for t in range(t0, t1):
            Ut = Ub[t - t0]
            for j in range(N):
                Ut[j] = u[j]
                if store_i:
                    Ib[t - t0, j] = i[j]
            for j in range(N):
                uj = u[j]
                ij = i[j]
                sp = uj > one
                u[j] = zero if sp else bm[j] * uj + omb[j] * ij
            Ct = C[t - t0]
            for j in range(N):
                i[j] = bs[j] * i[j] + Ct[j]
            if rec:
                nspk = 0
                for j in range(N):
                    if Ut[j] > one:
                        spk[nspk] = j
                        nspk += 1
                if nspk > 0:
                    for j in range(N):
                        cr[j] = 0.0
                    for e in range(nspk):
                        Vj = VT[spk[e]]
                        for j in range(N):
                            cr[j] += Vj[j]
                    for j in range(N):
                        i[j] += cr[j]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _replay_blocks(
        t0,
        t1,
        CKU,
        CKI,
        st,
        ct,
        idx,
        val,
        WT,
        events,
        X,
        VT,
        rec,
        bm,
        omb,
        bs,
        Ub,
        Ib,
        store_i,
        cst,
    ):  # pragma: no cover - compiled
        """:func:`_replay` of block t0 // _TB for every sample (the per-step backward path)."""
        B = CKU.shape[0]
        N = CKU.shape[2]
        k = t0 // _TB
        for b in numba.prange(B):
            u = CKU[b, k].copy()
            i = CKI[b, k].copy()
            C = np.empty((_TB, N), dtype=CKU.dtype)
            cr = np.empty(N, dtype=CKU.dtype)
            spk = np.empty(N, dtype=np.int64)
            _replay(
                b, t0, t1, B, u, i, C, cr, spk, st, ct, idx, val, WT, events, X, VT, rec, bm,
                omb, bs, Ub[b], Ib[b] if store_i else Ib[0], store_i, cst,
            )  # fmt: skip

    @numba.njit(cache=True, error_model="numpy")
    def _scatter_row(acc, st, ct, idx, val, r, g):  # pragma: no cover - compiled
        N = g.shape[0]
        for e in range(st[r], st[r] + ct[r]):
            k = idx[e]
            v = val[e]
            for j in range(N):
                acc[k, j] += v * g[j]

    @numba.njit(cache=True, error_model="numpy")
    def _adjoint_update(
        gs, u, i, h, bm, omb, bs, cst, dr, need_tau, gu, gi, gbm, gbs
    ):  # pragma: no cover - compiled
        """One backward step of eq. 4.1 for one sample: (g_u, g_i)[t+1] -> (g_u, g_i)[t].

        ``u``, ``i``: the sample's membrane and current rows at t (``i`` is read only
        with ``dr`` or ``need_tau``).
        """
        N = gu.shape[0]
        one = cst[0]
        for j in range(N):
            g = gs[j]
            guj = gu[j]
            gij = gi[j]
            keep = cst[3] if u[j] > one else one  # 1 - S[t]: the forward's own test
            if dr:
                g -= guj * (bm[j] * u[j] + omb[j] * i[j])
            if need_tau:
                gbm[j] += guj * keep * (u[j] - i[j])
                gbs[j] += gij * i[j]
            gk = guj * keep
            gu[j] = bm[j] * gk + h[j] * g
            gi[j] = omb[j] * gk + bs[j] * gij

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _lif_backward(
        nchunks,
        has_gs,
        gS,
        has_gx,
        GX,
        Wo,
        U,
        I,
        st,
        ct,
        idx,
        val,
        events,
        recv,
        sst,
        sct,
        sidx,
        bm,
        omb,
        bs,
        code,
        cst,
        dr,
        need_tau,
        store_gi,
        GI,
        dWT,
        dVT,
        gbm,
        gbs,
        ck,
        T,
        B,
        CKU,
        CKI,
        WTf,
        Xf,
        VTf,
        has_gu,
        gU,
        rec,
        recg,
        VT,
    ):  # pragma: no cover - compiled
        """Whole backward sweep, weight gradients scattered; recurrent adjoint only if recg.

        dL/dS[t, b] = gS[t, b] (if has_gs) + GX[t, b] @ Wo (if has_gx: the readout's
        current adjoint times its weights, formed per row instead of as a [T, B, N] array)
        + (g_i[t+1] V)[j] if recg: recg = 1 only for the neurons j with h_j != 0
        (dL/dS[t, j] reaches the adjoint only as h_j dL/dS[t, j], so for a surrogate of
        bounded support the skipped terms are exactly zero; VT[j] = column j of V);
        recg = 2 for every j, as rows of V (VT then holds V itself).
        With ``has_gu``, gU[t, b] = dL/dU[t, b] of a loss on the returned membrane trace is
        added to g_u[t] after the step's adjoint update.
        With ``ck`` the membrane and current rows of each time block are recomputed
        (:func:`_replay`) from the block's start state CKU / CKI instead of read from
        U / I; WTf, Xf, VTf and ``rec`` are the forward's inputs for that.
        """
        N = bm.shape[0]
        K = GX.shape[2]
        for c in numba.prange(nchunks):
            lo = c * B // nchunks
            hi = (c + 1) * B // nchunks
            gsr = np.zeros(N, dtype=U.dtype)
            gu = np.zeros(N, dtype=U.dtype)
            gi = np.zeros(N, dtype=U.dtype)
            h = np.zeros(N, dtype=U.dtype)
            Gb = np.zeros((_TB, N), dtype=U.dtype)  # g_i[t+1] of one sample, one time block
            acc = dWT[c]
            # one time block of recomputed U and I rows, and the replay's scratch
            Ub = np.empty((_TB if ck else 1, N), dtype=gu.dtype)
            Ib = np.empty((_TB if ck and (dr or need_tau) else 1, N), dtype=gu.dtype)
            Cb = np.empty((_TB if ck else 1, N), dtype=gu.dtype)
            ur = np.empty(N, dtype=gu.dtype)
            ir = np.empty(N, dtype=gu.dtype)
            cr = np.empty(N, dtype=gu.dtype)
            spk = np.empty(N, dtype=np.int64)
            t0 = 0
            for b in range(lo, hi):
                gu[:] = 0.0
                gi[:] = 0.0
                for t in range(T - 1, -1, -1):
                    Gt = Gb[t % _TB]
                    for j in range(N):
                        Gt[j] = gi[j]
                    if ck:
                        if t == T - 1 or t % _TB == _TB - 1:  # entering a block: recompute it
                            t0 = t - t % _TB
                            for j in range(N):
                                ur[j] = CKU[b, t // _TB, j]
                                ir[j] = CKI[b, t // _TB, j]
                            _replay(
                                b, t0, t + 1, B, ur, ir, Cb, cr, spk, st, ct, idx, val, WTf,
                                events, Xf, VTf, rec, bm, omb, bs, Ub, Ib, dr or need_tau, cst,
                            )  # fmt: skip
                        urow = Ub[t - t0]
                        irow = Ib[t - t0] if dr or need_tau else Ib[0]
                    else:
                        urow = U[b, t]
                        irow = I[b, t] if dr or need_tau else I[0, 0]
                    _hrow(code, cst, urow, h)
                    if has_gs:
                        gSr = gS[t, b]
                        for j in range(N):
                            gsr[j] = gSr[j]
                    else:
                        for j in range(N):
                            gsr[j] = 0.0
                    if has_gx and recg != 1:
                        for k in range(K):
                            a = GX[t, b, k]
                            if a != 0.0:
                                Wk = Wo[k]
                                for j in range(N):
                                    gsr[j] += a * Wk[j]
                    if recg == 1:  # sparse: readout and recurrent terms only inside the support
                        for j in range(N):
                            if h[j] != 0.0:
                                acc_j = gsr[j]
                                if has_gx:
                                    for k in range(K):
                                        acc_j += GX[t, b, k] * Wo[k, j]
                                Vj = VT[j]
                                for m in range(N):
                                    acc_j += gi[m] * Vj[m]
                                gsr[j] = acc_j
                    elif recg == 2:  # dense, row by row: gsr += g_i[m] V[m, :] (VT holds V)
                        for m in range(N):
                            a = gi[m]
                            if a != 0.0:
                                Vm = VT[m]
                                for j in range(N):
                                    gsr[j] += a * Vm[j]
                    _adjoint_update(
                        gsr,
                        urow,
                        irow,
                        h,
                        bm,
                        omb,
                        bs,
                        cst,
                        dr,
                        need_tau,
                        gu,
                        gi,
                        gbm[c],
                        gbs[c],
                    )
                    if has_gu:  # a loss on the recorded membrane U[t]
                        gUr = gU[t, b]
                        for j in range(N):
                            gu[j] += gUr[j]
                    if t % _TB != 0:
                        continue
                    # weight gradients of this time block, as tight scatter loops
                    for t2 in range(t, min(t + _TB, T)):
                        _scatter_step(
                            Gb[t2 % _TB],
                            t2,
                            b,
                            B,
                            st,
                            ct,
                            idx,
                            val,
                            events,
                            acc,
                            recv,
                            dVT[c],
                            sst,
                            sct,
                            sidx,
                            store_gi,
                            GI,
                        )

    @numba.njit(cache=True, error_model="numpy")
    def _scatter_step(
        Gt, t, b, B, st, ct, idx, val, events, acc, recv, accv, sst, sct, sidx, store_gi, GI
    ):  # pragma: no cover - compiled
        """Weight-gradient contributions of g_i[t+1] = Gt of sample b (and GI storage)."""
        N = Gt.shape[0]
        if store_gi:
            for j in range(N):
                GI[t, b, j] = Gt[j]
        if events:
            r = t * B + b
            for e in range(st[r], st[r] + ct[r]):
                k = idx[e]
                v = val[e]
                Ak = acc[k]
                for j in range(N):
                    Ak[j] += v * Gt[j]
        if recv:  # the layer's own spikes at t, recorded as events in the forward sweep
            r = t * B + b
            for e in range(sst[r], sst[r] + sct[r]):
                Ak = accv[sidx[e]]
                for j in range(N):
                    Ak[j] += Gt[j]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _lif_backward_step(
        tu,
        tg,
        nchunks,
        G,
        U,
        I,
        bm,
        omb,
        bs,
        code,
        cst,
        dr,
        need_tau,
        gu,
        gi,
        GIb,
        gbm,
        gbs,
    ):  # pragma: no cover - compiled
        """One step t of the recurrent sweep; G[b] = dL/dS[t, b] incl. the term V^T g_i[t+1].

        The membrane and current rows of step t are U[b, tu] and I[b, tu] (tu = t for
        the whole trace, t - t0 for a recomputed block starting at t0). g_i[t+1] goes to
        row tg of the time block GIb; :func:`_scatter_block` adds a whole block into the
        weight gradients once it is done (each chunk's accumulators then stay in cache
        for the block instead of all of them being touched at every step).
        """
        B, N = gu.shape
        for c in numba.prange(nchunks):
            h = np.empty(N, dtype=U.dtype)
            for b in range(c * B // nchunks, (c + 1) * B // nchunks):
                Gb = GIb[tg, b]
                gib = gi[b]
                for j in range(N):
                    Gb[j] = gib[j]
                _hrow(code, cst, U[b, tu], h)
                _adjoint_update(
                    G[b],
                    U[b, tu],
                    I[b, tu] if dr or need_tau else I[0, 0],
                    h,
                    bm,
                    omb,
                    bs,
                    cst,
                    dr,
                    need_tau,
                    gu[b],
                    gi[b],
                    gbm[b],
                    gbs[b],
                )

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _scatter_block(
        t0,
        t1,
        nchunks,
        GIb,
        st,
        ct,
        idx,
        val,
        events,
        recv,
        sst,
        sct,
        sidx,
        store_gi,
        GI,
        dWT,
        dVT,
    ):  # pragma: no cover - compiled
        """Weight-gradient scatter of the block t0 .. t1 - 1 of g_i[t+1] rows (GIb[t - t0]).

        Chunk c adds its samples into its own accumulators dWT[c], dVT[c], steps
        descending and samples ascending: the order of the per-step scatter it replaces.
        """
        B = GIb.shape[1]
        for c in numba.prange(nchunks):
            for t in range(t1 - 1, t0 - 1, -1):
                for b in range(c * B // nchunks, (c + 1) * B // nchunks):
                    _scatter_step(
                        GIb[t - t0, b], t, b, B, st, ct, idx, val, events, dWT[c], recv,
                        dVT[c], sst, sct, sidx, store_gi, GI,
                    )  # fmt: skip

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _li_forward(
        X, st, ct, idx, val, WT, events, bm, omb, bs, u0, Uo, Io, store_i
    ):  # pragma: no cover - compiled
        T, B, K = Uo.shape
        for b in numba.prange(B):
            u = np.zeros(K, dtype=Uo.dtype)
            i = np.zeros(K, dtype=Uo.dtype)
            c = np.zeros(K, dtype=Uo.dtype)
            for k in range(K):
                u[k] = u0
            for t in range(T):
                for k in range(K):
                    Uo[t, b, k] = u[k]
                    if store_i:
                        Io[t, b, k] = i[k]
                    u[k] = bm[k] * u[k] + omb[k] * i[k]
                if events:
                    r = t * B + b
                    for k in range(K):
                        c[k] = 0.0
                    for e in range(st[r], st[r] + ct[r]):
                        n = idx[e]
                        v = val[e]
                        for k in range(K):
                            c[k] += v * WT[n, k]
                    for k in range(K):
                        i[k] = bs[k] * i[k] + c[k]
                else:
                    for k in range(K):
                        i[k] = bs[k] * i[k] + X[t, b, k]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _li_backward(
        nchunks, gU, Uo, Io, st, ct, idx, val, events, bm, omb, bs, need_tau, GX, dWT, gbm, gbs
    ):  # pragma: no cover - compiled
        """Readout adjoint per sample; GX = dL/d(current); weight gradient scattered."""
        T, B, K = Uo.shape
        for c in numba.prange(nchunks):
            lo = c * B // nchunks
            hi = (c + 1) * B // nchunks
            au = np.zeros(K, dtype=Uo.dtype)
            ai = np.zeros(K, dtype=Uo.dtype)
            for b in range(lo, hi):
                au[:] = 0.0
                ai[:] = 0.0
                for t in range(T - 1, -1, -1):
                    for k in range(K):
                        GX[t, b, k] = ai[k]
                    if events:
                        _scatter_row(dWT[c], st, ct, idx, val, t * B + b, ai)
                    for k in range(K):
                        a_u = au[k]
                        if need_tau:
                            gbm[c, k] += a_u * (Uo[t, b, k] - Io[t, b, k])
                            gbs[c, k] += ai[k] * Io[t, b, k]
                        ai[k] = omb[k] * a_u + bs[k] * ai[k]
                        au[k] = gU[t, b, k] + bm[k] * a_u


def build_events(
    x: torch.Tensor,
    threshold: float | None = DENSITY_THRESHOLD,
    *,
    finite_name: str | None = None,
) -> Events | None:
    """Events of ``x`` ``[T, B, K]``, or ``None`` if denser than ``threshold``.

    Spike tensors made by :func:`lif_layer_numba` carry their events (recorded during
    the forward sweep) and are not scanned again while unmodified. Otherwise one
    compiled pass over ``x`` counts the non-zeros per (step, sample) row and writes
    them into per-thread regions sized so that no region overflows at a density up to
    ``threshold`` (``None``: any density).
    NaN and inf entries count as events, so the event-driven product propagates them
    like the dense one; with ``finite_name`` they raise
    :class:`~spikegrad.SpikegradInputError` instead (the check the dense path does
    with ``torch.isfinite``, here for free).
    """
    cached = get_events(x)
    if cached is not None and cached.version == x._version:
        return None if threshold is not None and cached.density > threshold else cached
    T, B, K = x.shape
    x2 = x.detach().contiguous().numpy().reshape(T * B, K)
    R = T * B
    nchunks = _nthreads(R)
    rows = -(-R // nchunks)
    # a chunk holds 1/nchunks of the rows, so at a total density <= threshold it is at most
    # nchunks x threshold dense: regions of that size never overflow below the threshold
    # (data with its events bunched in time, such as speech, overflowed threshold-sized
    # regions and paid a second full pass). Pages are touched only where events are
    # written, so the larger region costs address space, not resident memory.
    frac = 1.0 if threshold is None else min(1.0, nchunks * float(threshold))
    cap = int(math.ceil(frac * rows * K)) + K + 16
    idx = _buffers.empty(nchunks * cap, dtype=np.int32)
    val = _buffers.empty(nchunks * cap, dtype=x2.dtype)
    starts = _buffers.empty(R, dtype=np.int64)
    counts = _buffers.empty(R, dtype=np.int64)
    status = np.zeros(2 * nchunks, dtype=np.int64)
    if (x2.dtype.itemsize == 8 or K % 2 == 0) and x2.strides[1] == x2.itemsize:
        xw = x2.view(np.uint64)
    else:
        xw = np.zeros((R, 0), dtype=np.uint64)
    # magnitude bits of the values in one word (a -0.0 is skipped: it adds nothing)
    mask = np.uint64(0x7FFFFFFF7FFFFFFF if x2.itemsize == 4 else 0x7FFFFFFFFFFFFFFF)
    _scan_events(x2, xw, mask, nchunks, cap, idx, val, starts, counts, status)
    if finite_name is not None and status[nchunks:].sum() > 0:
        raise SpikegradInputError(
            f"{finite_name} contains non-finite values; spiking inputs must be finite"
        )
    nnz = int(counts.sum())
    density = nnz / max(1, x2.size)
    if threshold is not None and density > threshold:
        return None
    if status[:nchunks].any():  # a chunk denser than its region: plain two-pass fill
        offs = np.zeros(R + 1, dtype=np.int64)
        np.cumsum(counts, out=offs[1:])
        idx = _buffers.empty(nnz, dtype=np.int32)
        val = _buffers.empty(nnz, dtype=x2.dtype)
        _fill_events(x2, offs, idx, val)
        starts = offs[:-1]
    return Events(starts, counts, idx, val, density)


def _np_dtype(dtype: torch.dtype):
    return np.float32 if dtype == torch.float32 else np.float64


def _vec(b, n: int, dt) -> np.ndarray:
    if isinstance(b, torch.Tensor):
        return np.ascontiguousarray(b.detach().expand(n).numpy().astype(dt, copy=False))
    return np.full(n, b, dtype=dt)


def _consts(dt, beta: float) -> np.ndarray:
    # constants in the working dtype, so float32 kernels stay in float32 arithmetic
    return np.array([1.0, beta, math.pi, 0.0, -0.5], dtype=dt)


def _param_grad(parts: np.ndarray, shape, dtype) -> torch.Tensor | None:
    if shape is None:
        return None
    g = parts.sum(0)
    return torch.from_numpy(g).reshape(shape) if len(shape) else torch.tensor(g.sum(), dtype=dtype)


def _matmul(g: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``g [T, B, N] @ weight [N, K]`` into a numpy-owned buffer (no fresh mmap)."""
    T, B, N = g.shape
    out = torch.from_numpy(_buffers.empty((T, B, weight.shape[1]), dtype=_np_dtype(g.dtype)))
    torch.mm(g.view(T * B, N), weight.detach(), out=out.view(T * B, -1))
    return out


def _event_arrays(events: Events | None, dt) -> tuple:
    if events is not None:
        return events.start, events.count, events.idx, events.val
    z = np.zeros(1, np.int64)
    return z, z, np.zeros(0, np.int32), np.zeros(0, dt)


#: Event-driven layers whose BPTT traces (U, and I where needed) would take at least
#: :data:`CHECKPOINT_MIN_BYTES` keep none: the forward sweep stores the state (u, i) at
#: the start of every ``_TB``-step block (``2 B N`` floats per block instead of
#: ``_TB B N`` per trace) and the backward sweep recomputes each block's U (and I) rows
#: from it, bitwise as the forward computed them. The recomputation costs a second pass
#: of the event gather and the neuron update (measured +8-15 % per training step on
#: ``bench/peers.py``'s network, BENCHMARKS.md) for ~T B N floats less at the memory
#: peak. ``False`` always stores the traces. Layers whose membrane trace is returned
#: (``record_membrane``) or whose input is a dense current store them in any case.
CHECKPOINT = True

#: Smallest trace (bytes, U plus I where stored) that is recomputed instead of stored:
#: 64 MiB, a set bound (below it the memory saved is small next to the time it costs;
#: ``bench/peers.py`` at T = 100 stores 20 MB, at T = 500 recomputes 102 MB).
CHECKPOINT_MIN_BYTES = 64 << 20


def _lif_run(
    x, weight, rec_weight, bm, omb, bs, dr, events, ck=False
) -> tuple[SimpleNamespace, torch.Tensor]:
    """Forward sweep of one LIF layer: (what its backward needs, the spike tensor).

    With ``ck`` (event-driven input only) no U / I trace is kept: block checkpoints
    CKU / CKI instead, and the forward's own weight copies for the recomputation.
    The state must not refer to the spike tensor: it is kept on the autograd node, and
    tensor -> node -> state -> tensor would be a reference cycle that keeps every buffer
    of the step alive until the garbage collector runs (no reuse, page faults again).
    """
    T, B = x.shape[:2]
    dt = _np_dtype(x.dtype)
    ev = events is not None
    N = weight.shape[0] if ev else x.shape[2]
    bm_n, omb_n, bs_n = _vec(bm, N, dt), _vec(omb, N, dt), _vec(bs, N, dt)
    need_tau = any(isinstance(v, torch.Tensor) and v.requires_grad for v in (bm, bs))
    store_i = bool(dr or need_tau)
    trace_bytes = B * T * N * np.dtype(dt).itemsize * (2 if store_i else 1)
    # event-driven input only: a dense current would have to be kept instead of the trace
    ck = bool(ck and ev and trace_bytes >= CHECKPOINT_MIN_BYTES)
    dummy = np.zeros((1, 1, 1), dt)
    if ck:
        U = I_ = dummy
        nblk = -(-T // _TB)
        CKU = _buffers.empty((B, nblk, N), dtype=dt)
        CKI = _buffers.empty((B, nblk, N), dtype=dt)
    else:
        # membrane and current traces sample-major [B, T, N]: each sample's sweep then
        # writes one contiguous block (measured 30 % faster forward than time-major)
        U = _buffers.empty((B, T, N), dtype=dt)
        I_ = _buffers.empty((B, T, N) if store_i else (1, 1, 1), dtype=dt)
        CKU = CKI = dummy
    # numpy buffer: large torch allocations are fresh mmaps (page faults every step)
    S = _buffers.empty((T, B, N), dtype=dt)
    spikes = torch.from_numpy(S)
    st, ct, idx, val = _event_arrays(events, dt)
    if ev:
        X = dummy
        WT = np.ascontiguousarray(weight.detach().numpy().T)
    else:
        X = x.detach().contiguous().numpy()
        WT = np.zeros((1, 1), dt)
    rec = rec_weight is not None
    VT = np.ascontiguousarray(rec_weight.detach().numpy().T) if rec else np.zeros((1, 1), dt)
    # the output spikes as events, for the next layer / readout and for dV
    sst = _buffers.empty(T * B, np.int64)
    sct = _buffers.empty(T * B, np.int64)
    scap = int(math.ceil(DENSITY_THRESHOLD * T * N)) + N  # per-sample region
    sidx = _buffers.empty(B * scap, np.int32)
    sval = _buffers.empty(B * scap, dt)
    sov = np.zeros(B, np.uint8)
    _lif_forward(
        st, ct, idx, val, WT, ev, X, VT, rec, bm_n, omb_n, bs_n, U, I_, S, store_i, sst, sct,
        sidx, sval, scap, sov, _consts(dt, 0.0), ck, CKU, CKI,
    )  # fmt: skip
    s_ev = None
    if not sov.any():  # else: denser than the event threshold, consumers scan S
        s_ev = Events(sst, sct, sidx, sval, int(sct.sum()) / max(1, T * B * N), 0)
        set_events(spikes, s_ev)
    return SimpleNamespace(
        U=None if ck else U, I=None if ck else I_, CKU=CKU if ck else None,
        CKI=CKI if ck else None, ck=ck, T=T, B=B,
        WT=WT if ck else None, VT=VT if ck else None,
        bm=bm_n, omb=omb_n, bs=bs_n, ev_arrays=(st, ct, idx, val), s_ev=s_ev,
        ev=ev, rec=rec, need_tau=need_tau, store_i=store_i,
        tau_shapes=tuple(v.shape if isinstance(v, torch.Tensor) else None for v in (bm, bs)),
    ), spikes  # fmt: skip


#: fields of a layer's / readout's saved state that hold step-sized arrays: they travel
#: through ``save_for_backward`` (see :func:`_stash`)
_STASHED = ("U", "I", "CKU", "CKI", "Uo", "Io", "ev_arrays", "s_ev")


def _stash(r: SimpleNamespace) -> list[torch.Tensor]:
    """Move the step-sized arrays of ``r`` into tensors for ``ctx.save_for_backward``.

    Kept on ``ctx`` as plain attributes they would live as long as the autograd graph,
    and a training loop that keeps its last ``loss`` until the next step's forward held
    a second copy of every trace (+ T B N floats each at the memory peak). Saved
    tensors are freed by autograd right after the backward (unless ``retain_graph``).
    :func:`_unstash` puts them back.
    """
    out = []
    for name in _STASHED:
        v = getattr(r, name, None)
        if isinstance(v, np.ndarray):
            out.append(torch.from_numpy(v))
        elif isinstance(v, tuple):  # the event arrays (a tuple or an Events)
            out.extend(torch.from_numpy(a) for a in v[:4])
            if isinstance(v, Events):
                r.s_ev_density = v.density
        else:
            continue
        setattr(r, name, type(v) if isinstance(v, tuple) else np.ndarray)
    return out


def _unstash(r: SimpleNamespace, saved: tuple[torch.Tensor, ...]) -> SimpleNamespace:
    """A copy of ``r`` with the arrays :func:`_stash` moved out back in place."""
    r = SimpleNamespace(**vars(r))
    k = 0
    for name in _STASHED:
        kind = getattr(r, name, None)
        if kind is np.ndarray:
            setattr(r, name, saved[k].numpy())
            k += 1
        elif kind is Events:
            ev = [t.numpy() for t in saved[k : k + 4]]
            setattr(r, name, Events(ev[0], ev[1], ev[2], ev[3], r.s_ev_density))
            k += 4
        elif kind is tuple:
            setattr(r, name, tuple(t.numpy() for t in saved[k : k + 4]))
            k += 4
    return r


#: surrogate codes whose derivative is exactly zero outside a bounded interval
#: (``esser``: max(0, 1 - beta |U - 1|); ``zero``: everywhere)
BOUNDED_SUPPORT_CODES = (SURROGATE_CODES["esser"], SURROGATE_CODES["zero"])

#: The recurrent backward of a layer whose surrogate has bounded support uses the sparse
#: recurrent adjoint (only the neurons inside the support, in the compiled sweep) when at
#: most this fraction of the membrane values lies inside it; else per-step BLAS products.
#: Both are exact (sparse spiking gradient descent, Perez-Nieves & Goodman 2021, made
#: exact by the bounded support). 25 % is a set bound, not a measured crossover: at the
#: 2 % inside the support measured with ``bench/shd_cpu.py --adjoint`` the sparse path
#: was 0.98-1.09x (SHD size) and 1.5x (bench/peers.py's network) the BLAS path's speed.
SPARSE_ADJOINT_MAX = 0.25

#: Other recurrent layers: True computes the dense recurrent adjoint g_i[t+1] V per
#: sample inside the compiled sweep (no per-step Python loop or parallel region);
#: False (default) one BLAS product per step across the batch. Measured on an idle
#: 2-core machine the BLAS path is faster (1.0-1.6x at 128-256 neurons, T = 100-250);
#: the sweep held up better only under heavy load (docs/performance.md).
SWEEP_ADJOINT = False


def _support_fraction(
    code: int, cst: np.ndarray, U: np.ndarray, every: tuple[int, int] = (4, 8)
) -> float:
    """Fraction of the membrane trace ``U`` where the surrogate derivative is non-zero.

    1.0 for surrogates without bounded support; every 4th sample at every 8th step
    is counted (``every``; a cheap estimate, ~0.2 ms at B = 256, T = 100, N = 256: the
    choice between two exact paths depends on it, not the values).
    """
    if code == SURROGATE_CODES["zero"]:
        return 0.0
    if code != SURROGATE_CODES["esser"]:
        return 1.0
    sub = U[:: every[0], :: every[1]]
    if sub.size == 0:
        return 0.0
    # h > 0 exactly where 1 - beta |U - 1| > 0, evaluated as the kernel does
    one, beta = cst[0], cst[1]
    return float(np.count_nonzero(one - beta * np.abs(sub - one) > 0)) / sub.size


def _lif_grads(r, weight, V, spikes, surrogate, dr, rg, gS, GX, Wo, needs, gU=None):
    """Backward of one LIF layer from dL/dS = gS (or None) + GX @ Wo (or None) and
    dL/dU = gU (or None: the membrane trace is not used; else a ``[T, B, N]`` tensor).

    ``needs`` = (x, weight, rec_weight) gradient flags. Returns (gx, gw, gv, g_bm, g_bs).
    """
    U, I_ = r.U, r.I
    st, ct, idx, val = r.ev_arrays
    s_ev = r.s_ev
    T, B, N = r.T, r.B, r.bm.shape[0]
    dt = r.bm.dtype
    has_gs, has_gx = gS is not None, GX is not None
    gS_n = np.ascontiguousarray(gS.detach().numpy().astype(dt, copy=False)) if has_gs else None
    has_gu = gU is not None
    gU_n = (
        np.ascontiguousarray(gU.detach().numpy().astype(dt, copy=False))
        if has_gu
        else np.zeros((1, 1, 1), dtype=dt)
    )
    need_x = needs[0]
    need_w = r.ev and needs[1]
    need_v = r.rec and needs[2]
    code, cst = _require_code(surrogate), _consts(dt, float(surrogate.beta))
    nchunks = _reduce_chunks(B)
    K = weight.shape[1] if r.ev else 1
    dWT = _buffers.zeros((nchunks, K, N) if need_w else (1, 1, 1), dtype=dt)
    dVT = _buffers.zeros((nchunks, N, N) if need_v else (1, 1, 1), dtype=dt)
    full_rec = r.rec and rg
    if need_v and s_ev is None:  # spikes too dense to have been recorded as events
        s_ev = build_events(spikes, None)
    sev = (
        (s_ev.start, s_ev.count, s_ev.idx)
        if need_v
        else (np.zeros(1, np.int64),) * 2 + (np.zeros(1, np.int32),)
    )
    store_gi = bool(need_x or not r.ev)
    GI = _buffers.empty((T, B, N) if store_gi else (1, 1, 1), dtype=dt)
    dummy = np.zeros((1, 1, 1), dtype=dt)
    if r.ck:  # no traces: blocks are recomputed from the checkpoints (_replay)
        U = I_ = dummy
        rp = (r.CKU, r.CKI, r.WT, dummy, r.VT)  # checkpoints only with events: no X
    else:
        rp = (dummy, dummy, dummy[0], dummy, dummy[0])
    recg = 0
    if full_rec:
        # with checkpoints the block start states (every _TB-th step, all samples, the
        # first block's zero state left out) are the sample of the trace
        frac = (
            _support_fraction(code, cst, r.CKU[:, 1:] if r.CKU.shape[1] > 1 else r.CKU, (1, 1))
            if r.ck
            else _support_fraction(code, cst, U)
        )
        if frac <= SPARSE_ADJOINT_MAX:
            recg = 1
        elif SWEEP_ADJOINT:
            recg = 2
    if full_rec and recg == 0:
        # the recurrent adjoint V^T g_i is dense: one BLAS product per step
        gbm = np.zeros((B, N) if r.need_tau else (1, 1), dtype=dt)
        gbs = np.zeros_like(gbm)
        gu = np.zeros((B, N), dtype=dt)
        gi = np.zeros((B, N), dtype=dt)
        G = np.empty((B, N), dtype=dt)
        gi_t, G_t, Vd = torch.from_numpy(gi), torch.from_numpy(G), V.detach()
        gS_t = torch.from_numpy(gS_n) if has_gs else None
        GX_t = torch.from_numpy(GX) if has_gx else None
        if r.ck:  # one recomputed time block of U / I rows for the whole batch
            Ub = _buffers.empty((B, _TB, N), dtype=dt)
            Ib = _buffers.empty((B, _TB, N) if r.store_i else (1, 1, N), dtype=dt)
        if has_gx:  # the readout term gS + GX W_out of one time block, as one product
            Rb = torch.from_numpy(_buffers.empty((_TB, B, N), dtype=dt))
        GIb = _buffers.empty((_TB, B, N), dtype=dt)  # g_i[t+1] of one time block
        t0 = t1 = 0
        for t in range(T - 1, -1, -1):
            start = t == T - 1 or t % _TB == _TB - 1  # entering a time block [t0, t1)
            if start:
                t0, t1 = t - t % _TB, t + 1
            if has_gx:  # dL/dS[t] = gS[t] + GX[t] W_out + g_i[t+1] V
                if start:
                    nb = (t + 1 - t0) * B
                    gx_b = GX_t[t0 : t + 1].reshape(nb, -1)
                    rb = Rb.view(_TB * B, N)[:nb]
                    if has_gs:
                        torch.addmm(gS_t[t0 : t + 1].reshape(nb, N), gx_b, Wo, out=rb)
                    else:
                        torch.mm(gx_b, Wo, out=rb)
                torch.addmm(Rb[t - t0], gi_t, Vd, out=G_t)
            elif has_gs:
                torch.addmm(gS_t[t], gi_t, Vd, out=G_t)
            else:
                torch.mm(gi_t, Vd, out=G_t)
            if r.ck and start:
                _replay_blocks(
                    t0, t + 1, r.CKU, r.CKI, st, ct, idx, val, r.WT, True, dummy, r.VT, r.rec,
                    r.bm, r.omb, r.bs, Ub, Ib, r.store_i, cst,
                )  # fmt: skip
            _lif_backward_step(
                t - t0 if r.ck else t, t - t0, nchunks, G, Ub if r.ck else U,
                Ib if r.ck else I_, r.bm, r.omb, r.bs, code, cst, dr, r.need_tau, gu, gi,
                GIb, gbm, gbs,
            )  # fmt: skip
            if has_gu:  # a loss on the recorded membrane U[t]
                gu += gU_n[t]
            if t == t0:  # the block is done: its weight gradients
                _scatter_block(
                    t0, t1, nchunks, GIb, st, ct, idx, val, need_w, need_v, *sev, store_gi,
                    GI, dWT, dVT,
                )  # fmt: skip
    else:
        gbm = np.zeros((nchunks, N) if r.need_tau else (1, 1), dtype=dt)
        gbs = np.zeros_like(gbm)
        _lif_backward(
            nchunks, has_gs, gS_n if has_gs else dummy, has_gx, GX if has_gx else dummy,
            Wo.numpy() if has_gx else dummy[0], U, I_, st, ct, idx, val, need_w, need_v,
            *sev, r.bm, r.omb, r.bs, code, cst, dr, r.need_tau, store_gi, GI, dWT, dVT, gbm,
            gbs, r.ck, T, B, *rp, has_gu, gU_n, r.rec, recg,
            np.ascontiguousarray(V.detach().numpy().T) if recg == 1
            else np.ascontiguousarray(V.detach().numpy()) if recg == 2 else dummy[0],
        )  # fmt: skip
    gx = gw = gv = g_bm = g_bs = None
    GI_t = torch.from_numpy(GI) if store_gi else None
    if need_x:
        gx = _matmul(GI_t, weight) if r.ev else GI_t
    if need_w:
        gw = torch.from_numpy(dWT.sum(0).T.copy())
    if need_v:
        gv = torch.from_numpy(dVT.sum(0).T.copy())
    if r.need_tau:
        # omb = 1 - bm is passed separately; its gradient flows back through bm
        tdt = torch.float32 if dt == np.float32 else torch.float64
        g_bm = _param_grad(gbm, r.tau_shapes[0], tdt)
        g_bs = _param_grad(gbs, r.tau_shapes[1], tdt)
    return gx, gw, gv, g_bm, g_bs


def _li_run(x, weight, bm, omb, bs, u0, events) -> SimpleNamespace:
    """Forward of the leaky-integrator readout; returns what its backward needs."""
    T, B = x.shape[:2]
    dt = _np_dtype(x.dtype)
    ev = events is not None
    K = weight.shape[0] if ev else x.shape[2]
    bm_n, omb_n, bs_n = _vec(bm, K, dt), _vec(omb, K, dt), _vec(bs, K, dt)
    need_tau = any(isinstance(v, torch.Tensor) and v.requires_grad for v in (bm, bs))
    Uo = _buffers.empty((T, B, K), dtype=dt)
    Io = _buffers.empty((T, B, K) if need_tau else (1, 1, 1), dtype=dt)
    st, ct, idx, val = _event_arrays(events, dt)
    if ev:
        X = np.zeros((1, 1, 1), dt)
        WT = np.ascontiguousarray(weight.detach().numpy().T)
    else:
        X = x.detach().contiguous().numpy()
        WT = np.zeros((1, 1), dt)
    _li_forward(X, st, ct, idx, val, WT, ev, bm_n, omb_n, bs_n, u0, Uo, Io, need_tau)
    return SimpleNamespace(
        Uo=Uo, Io=Io, bm=bm_n, omb=omb_n, bs=bs_n, ev_arrays=(st, ct, idx, val), ev=ev,
        need_tau=need_tau,
        tau_shapes=tuple(v.shape if isinstance(v, torch.Tensor) else None for v in (bm, bs)),
    )  # fmt: skip


def _li_grads(r, gU, need_w, n_in):
    """Readout adjoint: GX = dL/d(readout current) [T, B, K] (numpy), gw, g_bm, g_bs."""
    Uo, Io = r.Uo, r.Io
    st, ct, idx, val = r.ev_arrays
    T, B, K = Uo.shape
    dt = Uo.dtype
    gU_n = np.ascontiguousarray(gU.detach().numpy().astype(dt, copy=False))
    need_w = r.ev and need_w
    nchunks = _reduce_chunks(B)
    dWT = _buffers.zeros((nchunks, n_in, K) if need_w else (1, 1, 1), dtype=dt)
    gbm = np.zeros((nchunks, K) if r.need_tau else (1, 1), dtype=dt)
    gbs = np.zeros_like(gbm)
    GX = _buffers.empty((T, B, K), dtype=dt)
    _li_backward(
        nchunks, gU_n, Uo, Io, st, ct, idx, val, need_w, r.bm, r.omb, r.bs, r.need_tau, GX,
        dWT, gbm, gbs,
    )  # fmt: skip
    gw = g_bm = g_bs = None
    if need_w:
        gw = torch.from_numpy(dWT.sum(0).T.copy())
    if r.need_tau:
        g_bm = _param_grad(gbm, r.tau_shapes[0], gU.dtype)
        g_bs = _param_grad(gbs, r.tau_shapes[1], gU.dtype)
    return GX, gw, g_bm, g_bs


class _LIFLayerNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, rec_weight, bm, omb, bs, surrogate, dr, rg, events, ck):  # type: ignore[override]
        # no zero tensors for outputs that get no gradient (the membrane trace is as large
        # as the spikes; materialising its zero gradient cost 6 ms per step at T=500)
        ctx.set_materialize_grads(False)
        r, spikes = _lif_run(x, weight, rec_weight, bm, omb, bs, dr, events, ck)
        # the membrane trace (empty with checkpoints: the caller asked for none)
        mem = torch.empty(0, dtype=x.dtype) if r.ck else torch.from_numpy(r.U).permute(1, 0, 2)
        ctx.surrogate, ctx.dr, ctx.rg = surrogate, bool(dr), bool(rg)
        # backward needs no spikes (1 - S[t] is recomputed from U[t]), only their events;
        # so the spike tensor is freed as soon as the caller drops it (saves T B N floats)
        ctx.save_for_backward(weight if r.ev else None, rec_weight,
                              None if r.s_ev else spikes, *_stash(r))  # fmt: skip
        ctx.run = r
        if r.ck:  # no trace was kept (the caller asked for none): nothing to differentiate
            ctx.mark_non_differentiable(mem)
        return spikes, mem

    @staticmethod
    def backward(ctx, gS, gU):  # type: ignore[override]
        if gS is None and gU is None:  # neither the spikes nor the membrane reach the loss
            return (None,) * 11
        weight, V, spikes, *arrays = ctx.saved_tensors
        gx, gw, gv, g_bm, g_bs = _lif_grads(
            _unstash(ctx.run, arrays), weight, V, spikes, ctx.surrogate, ctx.dr, ctx.rg, gS,
            None, None, ctx.needs_input_grad[:3], gU,
        )  # fmt: skip
        return gx, gw, gv, g_bm, None, g_bs, None, None, None, None, None


class _LIReadoutNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bm, omb, bs, u0, events):  # type: ignore[override]
        ctx.set_materialize_grads(False)
        r = _li_run(x, weight, bm, omb, bs, u0, events)
        out = torch.from_numpy(r.Uo)
        ctx.save_for_backward(weight if r.ev else None, *_stash(r))
        ctx.run = r
        return out

    @staticmethod
    def backward(ctx, gU):  # type: ignore[override]
        if gU is None:
            return (None,) * 7
        weight, *arrays = ctx.saved_tensors
        r = _unstash(ctx.run, arrays)
        n_in = weight.shape[1] if r.ev else 1
        GX, gw, g_bm, g_bs = _li_grads(r, gU, ctx.needs_input_grad[1], n_in)
        gx = None
        if ctx.needs_input_grad[0]:
            # BLAS beats a compiled loop here (K is small): 0.75 ms vs 8 ms at T=100, B=256
            GX_t = torch.from_numpy(GX)
            gx = _matmul(GX_t, weight) if r.ev else GX_t
        return gx, gw, g_bm, None, g_bs, None, None


class _LIFReadoutNumba(torch.autograd.Function):
    """The last hidden layer and the readout as one function.

    The readout's input gradient dL/dS = G_X W_out never becomes a [T, B, N] array: the
    hidden layer's backward forms it row by row (feed-forward) or inside the per-step
    BLAS product (recurrent). Spikes still come out as a tensor; gradients reaching
    them from elsewhere (e.g. an activity regulariser) are added in.
    """

    @staticmethod
    def forward(ctx, x, weight, rec_weight, bm, omb, bs, w_out, bmo, ombo, bso, surrogate,
                dr, rg, u0, events, ck):  # type: ignore[override]  # fmt: skip
        ctx.set_materialize_grads(False)
        r, spikes = _lif_run(x, weight, rec_weight, bm, omb, bs, dr, events, ck)
        s_ev = r.s_ev if r.s_ev is not None else build_events(spikes, None)
        ro = _li_run(spikes, w_out, bmo, ombo, bso, u0, s_ev)
        out = torch.from_numpy(ro.Uo)
        ctx.surrogate, ctx.dr, ctx.rg = surrogate, bool(dr), bool(rg)
        arrays = _stash(r)
        ctx.n_run = len(arrays)
        ctx.save_for_backward(weight if r.ev else None, rec_weight, w_out,
                              None if r.s_ev else spikes, *arrays, *_stash(ro))  # fmt: skip
        ctx.run, ctx.ro = r, ro
        return spikes, out

    @staticmethod
    def backward(ctx, gS, gUo):  # type: ignore[override]
        weight, V, w_out, spikes, *arrays = ctx.saved_tensors
        GX = gwo = g_bmo = g_bso = None
        if gUo is not None:
            ro = _unstash(ctx.ro, arrays[ctx.n_run :])
            GX, gwo, g_bmo, g_bso = _li_grads(ro, gUo, ctx.needs_input_grad[6],
                                              w_out.shape[1])  # fmt: skip
        if gS is None and GX is None:
            return (None,) * 16
        gx, gw, gv, g_bm, g_bs = _lif_grads(
            _unstash(ctx.run, arrays[: ctx.n_run]), weight, V, spikes, ctx.surrogate, ctx.dr,
            ctx.rg, gS, GX, w_out.detach(), ctx.needs_input_grad[:3],
        )  # fmt: skip
        return (gx, gw, gv, g_bm, None, g_bs, gwo, g_bmo, None, g_bso, None, None, None, None,
                None, None)  # fmt: skip


def _omb(beta_mem):
    # 1 - beta_mem exactly as the reference computes it (bit-identical spikes)
    return (1.0 - beta_mem).detach() if isinstance(beta_mem, torch.Tensor) else 1.0 - beta_mem


def lif_layer_numba(
    x: torch.Tensor,
    weight: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
    density_threshold: float | None = DENSITY_THRESHOLD,
    finite_name: str | None = None,
    record_membrane: bool = True,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""LIF layer from presynaptic spikes: projection :math:`W x[n]` fused into eq. 4.1.

    ``x`` ``[T, B, K]``, ``weight`` ``[N, K]``, optional ``rec_weight`` ``[N, N]``.
    Uses the event-driven projection when ``x`` has at most ``density_threshold``
    non-zeros (``None``: always), else one dense matrix product. Returns spikes
    ``[T, B, N]`` and the membrane trace, like the reference (a loss on it is
    differentiated: its dL/dU[t] enters the adjoint g_u[t]); with
    ``record_membrane=False`` the trace is ``None`` and, on the event-driven path and
    with :data:`CHECKPOINT`, never stored (the backward recomputes it blockwise). With
    ``finite_name``, NaN/inf in ``x`` raise (checked during the event scan). A
    ``surrogate`` without a compiled derivative (:func:`surrogate_code`) raises
    :class:`SpikegradInputError`.
    """
    _require_code(surrogate)
    ev = build_events(x, density_threshold, finite_name=finite_name)
    omb = _omb(beta_mem)
    if ev is None:
        return _LIFLayerNumba.apply(
            x @ weight.t(),
            None,
            rec_weight,
            beta_mem,
            omb,
            beta_syn,
            surrogate,
            reset == "differentiable",
            recurrent_grad,
            None,
            False,
        )
    spikes, mem = _LIFLayerNumba.apply(
        x,
        weight,
        rec_weight,
        beta_mem,
        omb,
        beta_syn,
        surrogate,
        reset == "differentiable",
        recurrent_grad,
        ev,
        CHECKPOINT and not record_membrane,
    )
    return spikes, mem if record_membrane else None


def lif_sequence_numba(
    x: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 4.1 over already projected currents ``x`` ``[T, B, N]``; spikes and membrane.

    ``1 - beta_mem`` is computed exactly as the reference does, so spikes are
    bit-identical. Gradients with respect to ``beta_mem`` combine both terms of the
    recursion. A ``surrogate`` without a compiled derivative raises, as in
    :func:`lif_layer_numba`.
    """
    _require_code(surrogate)
    return _LIFLayerNumba.apply(
        x,
        None,
        rec_weight,
        beta_mem,
        _omb(beta_mem),
        beta_syn,
        surrogate,
        reset == "differentiable",
        recurrent_grad,
        None,
        False,
    )


def lif_readout_numba(
    x: torch.Tensor,
    weight: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    readout_weight: torch.Tensor,
    readout_beta_mem,
    readout_beta_syn,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
    u0: float = 0.0,
    density_threshold: float | None = DENSITY_THRESHOLD,
    finite_name: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""A LIF layer and a leaky-integrator readout fused: spikes and readout trace.

    Same values and gradients as :func:`lif_layer_numba` followed by
    :func:`li_readout_numba`, but the readout's input gradient
    :math:`\partial L/\partial S = G_X W_\text{out}` is formed inside the layer's
    backward sweep instead of as a ``[T, B, N]`` tensor (less memory, one pass less),
    and (event-driven, :data:`CHECKPOINT`) no membrane trace is stored for BPTT.
    A ``surrogate`` without a compiled derivative raises, as in :func:`lif_layer_numba`.
    """
    _require_code(surrogate)
    ev = build_events(x, density_threshold, finite_name=finite_name)
    args = (beta_mem, _omb(beta_mem), beta_syn, readout_weight, readout_beta_mem,
            _omb(readout_beta_mem), readout_beta_syn, surrogate, reset == "differentiable",
            recurrent_grad, float(u0))  # fmt: skip
    if ev is None:
        return _LIFReadoutNumba.apply(x @ weight.t(), None, rec_weight, *args, None, False)
    return _LIFReadoutNumba.apply(x, weight, rec_weight, *args, ev, CHECKPOINT)


def li_readout_numba(
    x: torch.Tensor,
    weight: torch.Tensor,
    beta_mem,
    beta_syn,
    *,
    u0: float = 0.0,
    density_threshold: float | None = DENSITY_THRESHOLD,
) -> torch.Tensor:
    r"""Leaky-integrator readout trace ``[T, B, K]`` of :math:`W x`, event-driven when sparse.

    Same recursion as :func:`spikegrad.functional.lif.li_sequence` (``U[0] = u0``), in
    :math:`O(T)` (the torch backend's convolution is :math:`O(T^2)`).
    """
    ev = build_events(x, density_threshold)
    omb = _omb(beta_mem)
    if ev is None:
        return _LIReadoutNumba.apply(x @ weight.t(), None, beta_mem, omb, beta_syn, u0, None)
    return _LIReadoutNumba.apply(x, weight, beta_mem, omb, beta_syn, u0, ev)
