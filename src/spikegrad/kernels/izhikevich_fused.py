r"""Fused Izhikevich sequence (:mod:`spikegrad.functional.izhikevich`) with a hand-written BPTT.

The forward sweep keeps :math:`V, U, S` per step; with :math:`\hat V, \hat U` recomputed
and :math:`k = 1 - S`, the adjoint of one step is

.. math::

    g_{\hat V} &= g_V' \big(1 + h (0.08 \hat V + 5)\big) + g_U'\, h a b, \qquad
    g_{\hat U} = -h g_V' + (1 - h a) g_U' \\
    g_S &= \partial L/\partial S\big|_\text{out}
          + [\text{DR}]\big(g_{\hat V}(c - V) + g_{\hat U} d\big) \\
    g_V &= k\, g_{\hat V} + h_\sigma\big((V - v_p)/v_s\big) g_S / v_s
           + \partial L/\partial V\big|_\text{out}, \qquad g_U = g_{\hat U}

and :math:`\partial L/\partial I[n] = h g_V'`. ``a, b, c, d`` are constants (no gradient).
On CPU the same two sweeps run compiled (:mod:`spikegrad.kernels.izhikevich_numba`,
chosen by :func:`izhikevich_sequence_fused`'s ``kernel`` argument).
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError, check_choice
from ..functional.izhikevich import IzhikevichParams
from ..functional.surrogate import Surrogate

__all__ = ["izhikevich_sequence_fused"]


class _IzhFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, params, surrogate, dr):  # type: ignore[override]
        a, b, c, d, h, vp, vs = params
        T, B, N = x.shape
        V, U, S = (x.new_empty(T, B, N) for _ in range(3))
        v = x.new_zeros(B, N) + c
        u = v * b
        for n in range(T):
            V[n], U[n] = v, u
            s = surrogate.forward_value((v - vp) / vs)
            S[n] = s
            v_hat = v * (1.0 - s) + c * s
            u_hat = u + d * s
            v = v_hat + h * (0.04 * v_hat * v_hat + 5.0 * v_hat + 140.0 - u_hat + x[n])
            u = u_hat + h * a * (b * v_hat - u_hat)
        ctx.save_for_backward(V, U, S)
        ctx.params, ctx.surrogate, ctx.dr = params, surrogate, dr
        ctx.set_materialize_grads(False)  # no zero gradient for an unused membrane
        return S, V

    @staticmethod
    def backward(ctx, gS, gV):  # type: ignore[override]
        V, U, S = ctx.saved_tensors
        a, b, c, d, h, vp, vs = ctx.params
        T, B, N = V.shape
        Hs = ctx.surrogate.derivative((V - vp) / vs) / vs
        if gS is None:
            gS = torch.zeros_like(V)
        GX = torch.empty_like(V)
        gv = V.new_zeros(B, N)
        gu = V.new_zeros(B, N)
        for n in range(T - 1, -1, -1):
            GX[n] = h * gv
            s = S[n]
            v_hat = V[n] * (1.0 - s) + c * s
            g_vh = gv * (1.0 + h * (0.08 * v_hat + 5.0)) + gu * (h * a * b)
            g_uh = -h * gv + (1.0 - h * a) * gu
            gs = gS[n]
            if ctx.dr:
                gs = gs + g_vh * (c - V[n]) + g_uh * d
            gv = (1.0 - s) * g_vh + Hs[n] * gs
            if gV is not None:  # a loss on the recorded membrane V[n]
                gv = gv + gV[n]
            gu = g_uh
        return GX, None, None, None


def izhikevich_sequence_fused(
    x: torch.Tensor,
    params: IzhikevichParams,
    surrogate: Surrogate,
    *,
    reset: str = "detach",
    kernel: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, B, N]`` and the trace ``V[0..T-1]`` from rest; same values as
    :func:`~spikegrad.functional.izhikevich.izhikevich_sequence`, gradient to ``x`` only
    (from the spikes and from a loss on the returned trace ``V``).

    ``kernel``: ``"auto"`` runs the compiled loops of
    :mod:`spikegrad.kernels.izhikevich_numba` where they apply (CPU, float32 / float64, a
    registered surrogate, parameters that are numbers or tensors of ``x``'s dtype) and the
    torch loop above elsewhere; ``"torch"`` always the torch loop; ``"numba"`` the
    compiled loops or an error.
    """
    from . import izhikevich_numba

    check_choice("kernel", kernel, ("auto", "torch", "numba"))
    params = IzhikevichParams(*params)
    dr = reset == "differentiable"
    if kernel != "torch" and izhikevich_numba.available(surrogate, x, params):
        return izhikevich_numba._IzhNumba.apply(x, params, surrogate, dr)
    if kernel == "numba":
        raise SpikegradInputError(
            "kernel='numba' needs numba, a CPU float32/float64 input [T, B, N], a registered "
            "surrogate (spikegrad.kernels.lif_numba.surrogate_code) and parameters that are "
            "numbers or CPU tensors of the input's dtype"
        )
    return _IzhFused.apply(x, params, surrogate, dr)
