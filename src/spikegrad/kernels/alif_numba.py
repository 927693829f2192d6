r"""Compiled CPU kernels (numba) for the adaptive LIF sequence of ``alif_fused``.

The same forward and adjoint recursions as
:func:`~spikegrad.kernels.alif_fused.alif_sequence_fused` (equations there), run per
sample as one compiled loop over time and neurons instead of a Python loop of torch
operations per step. Every sample is independent (the recurrent input :math:`V s[n]` of
a sample depends only on its own spikes), so samples run in parallel (``prange``);
within a sample the recurrent input is added event by event (one row of :math:`V^\top`
per spike) and the recurrent adjoint :math:`g_i' V` is one matrix-vector product per
step. Parameter gradients are accumulated per sample and summed at the end;
:math:`\partial L/\partial V = \sum_n g_i'[n]^\top S[n]` is one BLAS product over the
stored :math:`g_i'`. The surrogate derivative is the compiled one of the LIF kernels
(:func:`spikegrad.kernels.lif_numba.surrogate_code`), evaluated at :math:`U - \Theta +
1` (the LIF kernels' derivative is centred on a threshold of 1).

Used by :func:`~spikegrad.kernels.alif_fused.alif_sequence_fused` whenever
:func:`available` says so (CPU, float32 / float64, a registered surrogate), so adaptive
LIF networks, spiking conv layers and LIF layers with non-default options (reset by
subtraction, refractory period, other thresholds) all run on it. Values and gradients
are tested per element against the reference (``tests/test_alif_numba.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..functional.surrogate import Surrogate
from . import lif_numba as _ln

__all__ = ["available"]

RESET_CODES = {"detach": 0, "subtract": 1, "differentiable": 2}


def available(surrogate: Surrogate, x: torch.Tensor, rec_weight: torch.Tensor | None) -> bool:
    """True if the compiled kernels handle this call (CPU, float32/64, known surrogate)."""
    if not _ln.available(surrogate, x) or x.dim() != 3:
        return False
    return rec_weight is None or (rec_weight.device.type == "cpu" and rec_weight.dtype == x.dtype)


if _ln._HAVE_NUMBA:
    import numba
    from numba import prange

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _alif_forward(  # pragma: no cover - compiled
        x, bm, bs, rho, th0, al, VT, rec, reset, refr, cst, U, I_, A, S, F
    ):
        T, B, N = x.shape
        one = cst[0]  # constants in the working dtype: float32 stays float32 arithmetic
        zero = cst[3]
        for b in prange(B):
            u = np.zeros(N, x.dtype)
            i = np.zeros(N, x.dtype)
            a = np.zeros(N, x.dtype)
            ref = np.zeros(N, np.int64)
            for n in range(T):
                for k in range(N):
                    U[n, b, k] = u[k]
                    I_[n, b, k] = i[k]
                    A[n, b, k] = a[k]
                    theta = th0[k] + al[k] * a[k]
                    s = one if u[k] - theta > zero else zero
                    f = one
                    if refr > 0:
                        f = one if ref[k] <= 0 else zero
                        F[n, b, k] = f
                        s = s * f
                    ut = bm[k] * u[k] + (one - bm[k]) * i[k]
                    if reset == 1:
                        un = ut - s * theta
                    else:
                        un = ut * (one - s)
                    if refr > 0:
                        un = f * un + (one - f) * u[k]
                        if s > 0:
                            ref[k] = refr
                        elif ref[k] > 0:
                            ref[k] -= 1
                    S[n, b, k] = s
                    u[k] = un
                    i[k] = bs[k] * i[k] + x[n, b, k]
                    a[k] = rho[k] * a[k] + s
                if rec:
                    for j in range(N):
                        if S[n, b, j] != 0:
                            sj = S[n, b, j]
                            for k in range(N):
                                i[k] += sj * VT[j, k]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _alif_backward(  # pragma: no cover - compiled
        gS,
        gU,
        has_gu,
        U,
        I_,
        A,
        S,
        F,
        bm,
        bs,
        rho,
        th0,
        al,
        V,
        use_rec,
        reset,
        refr,
        code,
        cst,
        GI,
        P,
        need_p,
    ):
        T, B, N = U.shape
        for b in prange(B):
            gu = np.zeros(N, U.dtype)
            gi = np.zeros(N, U.dtype)
            ga = np.zeros(N, U.dtype)
            row = np.empty(N, U.dtype)
            h = np.empty(N, U.dtype)
            grec = np.zeros(N, U.dtype)
            one = cst[0]
            for n in range(T - 1, -1, -1):
                for k in range(N):
                    GI[n, b, k] = gi[k]
                    row[k] = U[n, b, k] - (th0[k] + al[k] * A[n, b, k]) + cst[0]
                _ln._hrow(code, cst, row, h)
                if use_rec:
                    grec[:] = np.dot(gi, V)
                for k in range(N):
                    f = one
                    if refr > 0:
                        f = F[n, b, k]
                    hk = h[k] * f
                    s = S[n, b, k]
                    gs = gS[n, b, k] + ga[k]
                    if use_rec:
                        gs += grec[k]
                    gu_f = gu[k] * f
                    if reset == 2:
                        gs -= gu_f * (bm[k] * U[n, b, k] + (one - bm[k]) * I_[n, b, k])
                    gth = -hk * gs
                    if reset == 1:
                        gth -= gu_f * s
                        gk = gu_f
                    else:
                        gk = gu_f * (one - s)
                    gun = bm[k] * gk + gu[k] * (one - f) + hk * gs
                    if has_gu:
                        gun += gU[n, b, k]
                    if need_p:  # parameter gradients (none for fixed taus / threshold)
                        P[0, b, k] += gk * (U[n, b, k] - I_[n, b, k])
                        P[1, b, k] += gi[k] * I_[n, b, k]
                        P[2, b, k] += ga[k] * A[n, b, k]
                        P[3, b, k] += gth
                        P[4, b, k] += gth * A[n, b, k]
                    gi[k] = (one - bm[k]) * gk + bs[k] * gi[k]
                    ga[k] = rho[k] * ga[k] + al[k] * gth
                    gu[k] = gun


def _vec(p: torch.Tensor, n: int, dt: np.dtype) -> np.ndarray:
    """A 0-d or ``[N]`` parameter as a contiguous ``[N]`` array of the working dtype."""
    v = p.detach().to(torch.float64).cpu().numpy().astype(dt)
    return np.ascontiguousarray(np.broadcast_to(v, (n,)))


def _grad(part: np.ndarray, p: torch.Tensor) -> torch.Tensor:
    g = torch.from_numpy(part.sum(0))
    return (g.sum() if p.dim() == 0 else g).to(p.dtype)


class _ALIFNumba(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx,
        x,
        bm,
        bs,
        rho,
        theta0,
        alpha,
        rec_weight,
        surrogate,
        reset,
        refractory,  # type: ignore[override]
        recurrent_grad,
    ):
        T, B, N = x.shape
        dt = _ln._np_dtype(x.dtype)
        xs = np.ascontiguousarray(x.detach().numpy())
        params = [_vec(p, N, dt) for p in (bm, bs, rho, theta0, alpha)]
        rec = rec_weight is not None
        VT = np.ascontiguousarray(rec_weight.detach().t().numpy()) if rec else np.zeros((1, 1), dt)
        U, I_, A, S = (np.empty((T, B, N), dt) for _ in range(4))
        F = np.empty((T, B, N) if refractory > 0 else (1, 1, 1), dt)
        cst = _ln._consts(dt, float(getattr(surrogate, "beta", 1.0)))
        _alif_forward(
            xs, *params, VT, rec, RESET_CODES[reset], int(refractory), cst, U, I_, A, S, F
        )
        # the traces as tensors in save_for_backward: autograd frees them after the
        # backward (unless retain_graph), and a second backward finds them again
        traces = [torch.from_numpy(a) for a in (U, I_, A, S, F, *params)]
        ctx.save_for_backward(bm, bs, rho, theta0, alpha, rec_weight, *traces)
        ctx.surrogate, ctx.reset, ctx.rg = surrogate, reset, recurrent_grad
        ctx.refractory = refractory
        ctx.set_materialize_grads(False)
        return torch.from_numpy(S), torch.from_numpy(U)

    @staticmethod
    def backward(ctx, gS, gU):  # type: ignore[override]
        bm, bs, rho, theta0, alpha, V, *traces = ctx.saved_tensors
        U, I_, A, S, F, *params = (t.numpy() for t in traces)
        T, B, N = U.shape
        dt = U.dtype
        gs = np.zeros((T, B, N), dt) if gS is None else np.ascontiguousarray(gS.detach().numpy())
        has_gu = gU is not None
        gu = np.ascontiguousarray(gU.detach().numpy()) if has_gu else np.zeros((1, 1, 1), dt)
        use_rec = V is not None and ctx.rg
        Vn = np.ascontiguousarray(V.detach().numpy()) if use_rec else np.zeros((1, 1), dt)
        code = _ln._require_code(ctx.surrogate)
        cst = _ln._consts(dt, float(ctx.surrogate.beta))
        GI = np.empty((T, B, N), dt)
        need = ctx.needs_input_grad
        need_p = any(need[1:6])
        P = np.zeros((5, B, N) if need_p else (5, 1, 1), dt)
        _alif_backward(
            gs,
            gu,
            has_gu,
            U,
            I_,
            A,
            S,
            F,
            *params,
            Vn,
            use_rec,
            RESET_CODES[ctx.reset],
            int(ctx.refractory),
            code,
            cst,
            GI,
            P,
            need_p,
        )
        grads = [
            _grad(P[j], p) if need[j + 1] else None
            for j, p in enumerate((bm, bs, rho, theta0, alpha))
        ]
        g_V = None
        if V is not None and need[6]:
            GIt = torch.from_numpy(GI)
            g_V = GIt.reshape(T * B, N).t() @ torch.from_numpy(S).reshape(T * B, N)
        return (torch.from_numpy(GI), *grads, g_V, None, None, None, None)
