r"""Compiled CPU kernel for feed-forward LIF layers (numba, no compiler setup for users).

Same recursion and adjoint as :mod:`spikegrad.kernels.lif_fused`, but the whole time
loop runs in compiled code, parallel over the batch: every neuron's state stays in
registers and each step touches its inputs once, instead of ~10 full-tensor passes per
step. Why numba: it ships as a wheel, compiles on first use with no toolchain, and
caches the machine code on disk (``cache=True``), so later runs start at once.

Only the registered surrogate shapes have compiled derivatives (:data:`SURROGATE_CODES`);
:func:`available` says whether a call can use this kernel, otherwise callers fall back
to the torch implementation. Recurrent layers use the torch fused kernel (the recurrent
term is a dense matrix product per step, which BLAS does best).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..functional.surrogate import Surrogate

__all__ = ["SURROGATE_CODES", "available", "lif_sequence_numba"]

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

try:  # numba is optional: without it everything runs on the torch kernels
    import numba

    _HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is missing
    numba = None
    _HAVE_NUMBA = False


def available(surrogate: Surrogate, x: torch.Tensor, recurrent: bool) -> bool:
    """True if the compiled kernel handles this call (CPU, float32/64, known surrogate)."""
    return (
        _HAVE_NUMBA
        and not recurrent
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.float64)
        and type(surrogate).forward_value is Surrogate.forward_value
        and getattr(surrogate, "name", None) in SURROGATE_CODES
    )


if _HAVE_NUMBA:

    @numba.njit(cache=True, inline="always")
    def _h(code, beta, x):  # pragma: no cover - compiled
        ax = abs(x)
        if code == 0:
            d = beta * ax + 1.0
            return 1.0 / (d * d)
        if code == 1:
            s = 1.0 / (1.0 + math.exp(-beta * x))
            return s * (1.0 - s)
        if code == 2:
            v = 1.0 - beta * ax
            return v if v > 0.0 else 0.0
        if code == 3:
            d = beta * ax + 1.0
            return beta / (d * d)
        if code == 4:
            return 1.0
        if code == 5:
            return 0.0
        if code == 6:
            return math.exp(-beta * ax)
        if code == 7:
            return math.exp(-0.5 * (beta * x) * (beta * x))
        return 1.0 / (1.0 + (math.pi * beta * x) * (math.pi * beta * x))

    @numba.njit(parallel=True, cache=True)
    def _forward(x, bm, omb, bs, U, I, S, store_i):  # pragma: no cover - compiled
        T, B, N = x.shape
        for b in numba.prange(B):
            u = np.zeros(N, dtype=x.dtype)
            i = np.zeros(N, dtype=x.dtype)
            for t in range(T):
                for j in range(N):
                    uj = u[j]
                    ij = i[j]
                    U[t, b, j] = uj
                    if store_i:
                        I[t, b, j] = ij
                    if uj > 1.0:
                        S[t, b, j] = 1
                        u[j] = 0.0
                    else:
                        S[t, b, j] = 0
                        u[j] = bm[j] * uj + omb[j] * ij
                    i[j] = bs[j] * ij + x[t, b, j]

    @numba.njit(parallel=True, cache=True)
    def _backward(
        gS, U, I, S, bm, omb, bs, code, beta, dr, GI, gbm, gbs, need_tau
    ):  # pragma: no cover
        T, B, N = U.shape
        for b in numba.prange(B):
            gu = np.zeros(N, dtype=U.dtype)
            gi = np.zeros(N, dtype=U.dtype)
            for t in range(T - 1, -1, -1):
                for j in range(N):
                    guj = gu[j]
                    gij = gi[j]
                    GI[t, b, j] = gij
                    gs = gS[t, b, j]
                    keep = 1.0 - S[t, b, j]
                    if dr:
                        gs -= guj * (bm[j] * U[t, b, j] + omb[j] * I[t, b, j])
                    if need_tau:
                        gbm[b, j] += guj * keep * (U[t, b, j] - I[t, b, j])
                        gbs[b, j] += gij * I[t, b, j]
                    gk = guj * keep
                    gu[j] = bm[j] * gk + _h(code, beta, U[t, b, j] - 1.0) * gs
                    gi[j] = omb[j] * gk + bs[j] * gij


def _vec(b, n: int, dtype) -> np.ndarray:
    if isinstance(b, torch.Tensor):
        return np.ascontiguousarray(b.detach().expand(n).numpy().astype(dtype, copy=False))
    return np.full(n, b, dtype=dtype)


class _LIFNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bm, omb, bs, surrogate, differentiable_reset):  # type: ignore[override]
        T, B, N = x.shape
        dt = np.float32 if x.dtype == torch.float32 else np.float64
        xn = x.detach().contiguous().numpy()
        bm_n, omb_n, bs_n = _vec(bm, N, dt), _vec(omb, N, dt), _vec(bs, N, dt)
        need_tau = any(isinstance(v, torch.Tensor) and v.requires_grad for v in (bm, bs))
        store_i = bool(differentiable_reset or need_tau)
        U = np.empty((T, B, N), dtype=dt)
        I_ = np.empty((T, B, N) if store_i else (1, 1, 1), dtype=dt)
        S = np.empty((T, B, N), dtype=np.uint8)
        _forward(xn, bm_n, omb_n, bs_n, U, I_, S, store_i)
        ctx.arrays = (U, I_, S, bm_n, omb_n, bs_n)
        ctx.surrogate = surrogate
        ctx.dr = bool(differentiable_reset)
        ctx.need_tau = need_tau
        ctx.tau_shapes = (
            bm.shape if isinstance(bm, torch.Tensor) else None,
            bs.shape if isinstance(bs, torch.Tensor) else None,
        )
        spikes = torch.from_numpy(S).to(x.dtype)
        mem = torch.from_numpy(U)
        ctx.mark_non_differentiable(mem)
        return spikes, mem

    @staticmethod
    def backward(ctx, gS, _gU):  # type: ignore[override]
        U, I_, S, bm_n, omb_n, bs_n = ctx.arrays
        T, B, N = U.shape
        gS_n = np.ascontiguousarray(gS.detach().numpy().astype(U.dtype, copy=False))
        GI = np.empty_like(U)
        gbm = np.zeros((B, N) if ctx.need_tau else (1, 1), dtype=U.dtype)
        gbs = np.zeros_like(gbm)
        sur = ctx.surrogate
        _backward(
            gS_n,
            U,
            I_,
            S,
            bm_n,
            omb_n,
            bs_n,
            SURROGATE_CODES[sur.name],
            float(sur.beta),
            ctx.dr,
            GI,
            gbm,
            gbs,
            ctx.need_tau,
        )
        g_bm = g_omb = g_bs = None
        if ctx.need_tau:
            shp_m, shp_s = ctx.tau_shapes
            # omb = 1 - bm is passed separately; its gradient flows back through bm
            if shp_m is not None:
                g_bm = (
                    torch.from_numpy(gbm.sum(0)).reshape(shp_m)
                    if len(shp_m)
                    else torch.tensor(gbm.sum(), dtype=gS.dtype)
                )
            if shp_s is not None:
                g_bs = (
                    torch.from_numpy(gbs.sum(0)).reshape(shp_s)
                    if len(shp_s)
                    else torch.tensor(gbs.sum(), dtype=gS.dtype)
                )
        return torch.from_numpy(GI), g_bm, g_omb, g_bs, None, None


def lif_sequence_numba(
    x: torch.Tensor, beta_mem, beta_syn, surrogate: Surrogate, *, reset: str = "detach"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feed-forward eq. 4.1 over ``[T, B, N]`` currents; spikes and (gradient-free) membrane.

    ``1 - beta_mem`` is computed exactly as the reference does (in Python for float
    time constants, in the tensor's dtype for tensors), so spikes are bit-identical.
    Gradients with respect to ``beta_mem`` combine both terms of the recursion.
    """
    if isinstance(beta_mem, torch.Tensor):
        omb = (1.0 - beta_mem).detach()
    else:
        omb = 1.0 - beta_mem
    return _LIFNumba.apply(x, beta_mem, omb, beta_syn, surrogate, reset == "differentiable")
