r"""Compiled CPU kernels (numba) for the Izhikevich sequence of ``izhikevich_fused``.

The same forward and adjoint recursions as
:func:`~spikegrad.kernels.izhikevich_fused.izhikevich_sequence_fused` (equations there),
run as one compiled loop over time and neurons per sample instead of a Python loop of
about twenty torch operations per step. Samples are independent, so they run in
parallel (``prange``). With :math:`z = (V - v_\text{peak})/v_\text{scale}` the forward
step is

.. math::

    S &= \Theta_H(z), \qquad \hat V = V (1 - S) + c S, \qquad \hat U = U + d S \\
    V' &= \hat V + h (0.04 \hat V^2 + 5 \hat V + 140 - \hat U + I), \qquad
    U' = \hat U + h a (b \hat V - \hat U)

written with the torch loop's operations in the torch loop's order, so in float64 (and
float32) the spikes and the trace :math:`V` are the same numbers. The adjoint needs only
:math:`V` and :math:`S` (it is linear in :math:`U`), so those two traces are all that is
kept; they are the function's outputs and travel through ``save_for_backward`` (an
in-place change of a returned tensor is then caught by autograd, and a retained graph
can be differentiated twice). The surrogate derivative :math:`h_\sigma(z)/v_\text{scale}`
is the compiled one of the LIF kernels (:func:`spikegrad.kernels.lif_numba.surrogate_code`),
evaluated at :math:`z + 1` (those kernels' derivative is centred on a threshold of 1).
As in the torch loop, the gradient flows to the input current only (``a, b, c, d`` are
constants).

Used by :func:`~spikegrad.kernels.izhikevich_fused.izhikevich_sequence_fused` whenever
:func:`available` says so (CPU, float32 / float64, a registered surrogate, parameters that
are numbers or CPU tensors of the input's dtype), so
:class:`~spikegrad.nn.izhikevich.IzhikevichLayer` runs on it by default. Values and
gradients are tested per element against the torch loop and the reference
(``tests/test_izhikevich_numba.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from ..functional.izhikevich import IzhikevichParams
from ..functional.surrogate import Surrogate
from . import lif_numba as _ln

__all__ = ["available"]


def _param_ok(p: object, x: torch.Tensor) -> bool:
    if not isinstance(p, torch.Tensor):
        return isinstance(p, int | float)
    n = x.shape[-1]
    return (
        p.device.type == "cpu"
        and p.dtype == x.dtype
        and (p.dim() == 0 or (p.dim() == 1 and p.shape[0] in (1, n)))
    )


def available(surrogate: Surrogate, x: torch.Tensor, params: IzhikevichParams) -> bool:
    """True if the compiled kernels handle this call.

    Needs numba, a CPU float32 / float64 input ``[T, B, N]``, a surrogate with a compiled
    derivative, ``a, b, c, d`` numbers or CPU tensors (0-d or ``[N]``) of ``x``'s dtype,
    and ``h, v_peak, v_scale`` numbers.
    """
    if not _ln.available(surrogate, x) or x.dim() != 3:
        return False
    a, b, c, d, h, vp, vs = params
    return all(_param_ok(p, x) for p in (a, b, c, d)) and all(
        isinstance(q, int | float) for q in (h, vp, vs)
    )


if _ln._HAVE_NUMBA:
    import numba
    from numba import prange

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _izh_forward(x, c, b, d, ha, cst, V, S):  # pragma: no cover - compiled
        T, B, N = x.shape
        one, zero, h, vp, vs = cst[0], cst[1], cst[2], cst[3], cst[4]
        k04, k5, k140 = cst[5], cst[6], cst[7]
        for j in prange(B):
            v = np.empty(N, x.dtype)
            u = np.empty(N, x.dtype)
            for k in range(N):
                v[k] = zero + c[k]
                u[k] = v[k] * b[k]
            for n in range(T):
                for k in range(N):
                    vk = v[k]
                    V[n, j, k] = vk
                    s = one if (vk - vp) / vs > zero else zero
                    S[n, j, k] = s
                    vh = vk * (one - s) + c[k] * s
                    uh = u[k] + d[k] * s
                    v[k] = vh + h * ((((k04 * vh) * vh + k5 * vh) + k140 - uh) + x[n, j, k])
                    u[k] = uh + ha[k] * (b[k] * vh - uh)

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _izh_backward(
        gS, has_gs, gV, has_gv, V, S, c, d, hab, omha, dr, code, scst, cst, GX
    ):  # pragma: no cover - compiled
        T, B, N = V.shape
        one, zero, h, vp, vs = cst[0], cst[1], cst[2], cst[3], cst[4]
        k08, k5, mh = cst[8], cst[6], cst[9]
        for j in prange(B):
            gv = np.zeros(N, V.dtype)
            gu = np.zeros(N, V.dtype)
            row = np.empty(N, V.dtype)
            hs = np.empty(N, V.dtype)
            for n in range(T - 1, -1, -1):
                for k in range(N):
                    GX[n, j, k] = h * gv[k]
                    row[k] = (V[n, j, k] - vp) / vs + one
                _ln._hrow(code, scst, row, hs)
                for k in range(N):
                    s = S[n, j, k]
                    vk = V[n, j, k]
                    vh = vk * (one - s) + c[k] * s
                    g_vh = gv[k] * (one + h * (k08 * vh + k5)) + gu[k] * hab[k]
                    g_uh = mh * gv[k] + omha[k] * gu[k]
                    gs = gS[n, j, k] if has_gs else zero
                    if dr:
                        gs = gs + g_vh * (c[k] - vk) + g_uh * d[k]
                    g = (one - s) * g_vh + (hs[k] / vs) * gs
                    if has_gv:
                        g = g + gV[n, j, k]
                    gv[k] = g
                    gu[k] = g_uh


def _vec(p: torch.Tensor | float, n: int, dt) -> np.ndarray:
    """A number, 0-d or ``[N]`` tensor as a contiguous ``[N]`` array of the working dtype."""
    if isinstance(p, torch.Tensor):
        return np.ascontiguousarray(np.broadcast_to(p.detach().numpy().astype(dt), (n,)))
    return np.full(n, p, dtype=dt)


class _IzhNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, params, surrogate, dr):  # type: ignore[override]
        a, b, c, d, h, vp, vs = params
        T, B, N = x.shape
        dt = _ln._np_dtype(x.dtype)
        xs = np.ascontiguousarray(x.detach().numpy())
        # h a is formed as the torch loop forms it (a number times a number in float64,
        # or a tensor product in the tensor's dtype), then taken to the working dtype
        cv, bv, dv, hav = (_vec(p, N, dt) for p in (c, b, d, h * a))
        cst = np.array([1.0, 0.0, h, vp, vs, 0.04, 5.0, 140.0, 0.08, -h], dtype=dt)
        V = np.empty((T, B, N), dt)
        S = np.empty((T, B, N), dt)
        _izh_forward(xs, cv, bv, dv, hav, cst, V, S)
        St, Vt = torch.from_numpy(S), torch.from_numpy(V)
        ctx.save_for_backward(Vt, St)
        ctx.params, ctx.surrogate, ctx.dr = params, surrogate, dr
        ctx.set_materialize_grads(False)  # no zero gradient for an unused output
        return St, Vt

    @staticmethod
    def backward(ctx, gS, gV):  # type: ignore[override]
        if not ctx.needs_input_grad[0]:
            return None, None, None, None
        Vt, St = ctx.saved_tensors
        V, S = Vt.numpy(), St.numpy()
        T, B, N = V.shape
        dt = V.dtype
        a, b, c, d, h, vp, vs = ctx.params
        dummy = np.zeros((1, 1, 1), dt)
        has_gs, has_gv = gS is not None, gV is not None
        gs = np.ascontiguousarray(gS.detach().numpy()) if has_gs else dummy
        gv = np.ascontiguousarray(gV.detach().numpy()) if has_gv else dummy
        cv, dv = _vec(c, N, dt), _vec(d, N, dt)
        habv, omhav = _vec(h * a * b, N, dt), _vec(1.0 - h * a, N, dt)
        cst = np.array([1.0, 0.0, h, vp, vs, 0.04, 5.0, 140.0, 0.08, -h], dtype=dt)
        code = _ln._require_code(ctx.surrogate)
        scst = _ln._consts(dt, float(ctx.surrogate.beta))
        GX = np.empty((T, B, N), dt)
        _izh_backward(
            gs, has_gs, gv, has_gv, V, S, cv, dv, habv, omhav, ctx.dr, code, scst, cst, GX
        )
        return torch.from_numpy(GX), None, None, None
