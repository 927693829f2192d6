r"""Fused adaptive LIF (:mod:`spikegrad.functional.alif`) with a hand-written BPTT.

The forward sweep runs without an autograd graph and keeps the traces
:math:`U, I, A, S, F` (``F``: not refractory); the backward sweep runs the adjoint
recursion. With :math:`g_x[n] = \partial L/\partial x[n]` for every state variable
(primes: step :math:`n+1`, zero at :math:`n = T`), :math:`H[n] = F[n] h(U[n] -
\Theta[n])`, :math:`k = 1 - S` for the reset to zero (1 for subtraction) and
:math:`\tilde U = \beta_m U + (1-\beta_m) I`:

.. math::

    g_s &= \partial L/\partial S\big|_\text{out} + g_a' + [\text{rec}]\, g_i' V
           - [\text{DR}]\, F g_u' \tilde U \\
    g_\Theta &= -H g_s - [\text{sub}]\, F S g_u' \\
    g_u &= g_u' \big(F \beta_m k + 1 - F\big) + H g_s
           + \partial L/\partial U\big|_\text{out} \\
    g_i &= \beta_s g_i' + (1-\beta_m) F k g_u' \\
    g_a &= \rho g_a' + \alpha g_\Theta

and :math:`\partial L/\partial x[n] = g_i'`, :math:`\partial L/\partial\vartheta = \sum g_\Theta`,
:math:`\partial L/\partial\alpha = \sum g_\Theta A`, :math:`\partial L/\partial\rho = \sum g_a' A`,
:math:`\partial L/\partial\beta_m = \sum g_u' F k (U - I)`,
:math:`\partial L/\partial\beta_s = \sum g_i' I`, :math:`\partial L/\partial V = \sum g_i'^\top S`.
Values and gradients are tested per element against the reference.
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError, check_choice
from ..functional.surrogate import Surrogate

__all__ = ["alif_sequence_fused"]


def _t(b, like: torch.Tensor) -> torch.Tensor:
    return b if isinstance(b, torch.Tensor) else torch.tensor(float(b), dtype=like.dtype)


def _reduce(g: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    g = g.sum(dim=(0, 1))
    return g.sum() if p.dim() == 0 else g


class _ALIFFused(torch.autograd.Function):
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
        U, I_, A, S = (x.new_empty(T, B, N) for _ in range(4))
        F = x.new_ones(T, B, N) if refractory > 0 else None
        u, i, a = x.new_zeros(B, N), x.new_zeros(B, N), x.new_zeros(B, N)
        ref = x.new_zeros(B, N)
        vt = rec_weight.t() if rec_weight is not None else None
        one_m_bm = 1.0 - bm
        for n in range(T):
            U[n], I_[n], A[n] = u, i, a
            theta = theta0 + alpha * a
            s = surrogate.forward_value(u - theta)
            if F is not None:
                f = (ref <= 0).to(x.dtype)
                F[n] = f
                s = s * f
            u_t = bm * u + one_m_bm * i
            u_new = u_t - s * theta if reset == "subtract" else u_t * (1.0 - s)
            if F is not None:
                u_new = f * u_new + (1.0 - f) * u
                ref = torch.where(
                    s > 0, torch.full_like(ref, float(refractory)), (ref - 1).clamp_min(0)
                )
            S[n] = s
            u = u_new
            i = bs * i + x[n]
            if vt is not None:
                i = i.addmm(s, vt)
            a = rho * a + s
        ctx.save_for_backward(
            U,
            I_,
            A,
            S,
            F if F is not None else x.new_empty(0),
            bm,
            bs,
            rho,
            theta0,
            alpha,
            rec_weight,
        )
        ctx.surrogate, ctx.reset, ctx.rg = surrogate, reset, recurrent_grad
        ctx.has_f = F is not None
        ctx.set_materialize_grads(False)  # no zero gradient for an unused membrane
        return S, U

    @staticmethod
    def backward(ctx, gS, gU):  # type: ignore[override]
        U, I_, A, S, F, bm, bs, rho, theta0, alpha, V = ctx.saved_tensors
        if not ctx.has_f:
            F = None
        T, B, N = U.shape
        Theta = theta0 + alpha * A
        H = ctx.surrogate.derivative(U - Theta)
        if F is not None:
            H = H * F
        sub = ctx.reset == "subtract"
        dr = ctx.reset == "differentiable"
        keep = None if sub else 1.0 - S
        if gS is None:
            gS = torch.zeros_like(U)
        GI, GU, GA, GTH = (torch.empty_like(U) for _ in range(4))
        gu, gi, ga = (U.new_zeros(B, N) for _ in range(3))
        one_m_bm = 1.0 - bm
        use_rec = V is not None and ctx.rg
        for n in range(T - 1, -1, -1):
            GI[n], GU[n], GA[n] = gi, gu, ga
            gs = gS[n] + ga
            if use_rec:
                gs = gs + gi @ V
            gu_f = gu if F is None else gu * F[n]
            if dr:
                gs = gs - gu_f * (bm * U[n] + one_m_bm * I_[n])
            gth = -H[n] * gs
            if sub:
                gth = gth - gu_f * S[n]
            gk = gu_f if keep is None else gu_f * keep[n]
            hold = 0.0 if F is None else gu * (1.0 - F[n])
            gu_new = bm * gk + hold + H[n] * gs
            if gU is not None:  # a loss on the recorded membrane U[n]
                gu_new = gu_new + gU[n]
            gi = one_m_bm * gk + bs * gi
            ga = rho * ga + alpha * gth
            GTH[n] = gth
            gu = gu_new
        need = ctx.needs_input_grad
        g_bm = g_bs = g_rho = g_th = g_al = g_V = None
        if need[1]:
            gk_all = GU if F is None else GU * F
            if keep is not None:
                gk_all = gk_all * keep
            g_bm = _reduce(gk_all * (U - I_), bm)
        if need[2]:
            g_bs = _reduce(GI * I_, bs)
        if need[3]:
            g_rho = _reduce(GA * A, rho)
        if need[4]:
            g_th = _reduce(GTH, theta0)
        if need[5]:
            g_al = _reduce(GTH * A, alpha)
        if V is not None and need[6]:
            g_V = GI.reshape(T * B, N).t() @ S.reshape(T * B, N)
        return GI, g_bm, g_bs, g_rho, g_th, g_al, g_V, None, None, None, None


def alif_sequence_fused(
    x: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    *,
    rho=0.0,
    threshold=1.0,
    adapt=0.0,
    refractory: int = 0,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
    kernel: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Spikes ``[T, B, N]`` and membrane trace from projected currents ``x`` (zero state).

    Same semantics as :func:`spikegrad.functional.alif.alif_sequence`; parameters are
    numbers, 0-d or ``[N]`` tensors. The membrane trace carries its gradient (the
    :math:`\partial L/\partial U|_\text{out}` term of the adjoint above).

    ``kernel``: ``"auto"`` runs the compiled loops of :mod:`spikegrad.kernels.alif_numba`
    where they apply (CPU, float32 / float64, a registered surrogate) and the torch loop
    above elsewhere; ``"torch"`` always the torch loop; ``"numba"`` the compiled loops or
    an error.
    """
    from . import alif_numba

    check_choice("kernel", kernel, ("auto", "torch", "numba"))
    args = (
        x,
        _t(beta_mem, x),
        _t(beta_syn, x),
        _t(rho, x),
        _t(threshold, x),
        _t(adapt, x),
        rec_weight,
        surrogate,
        reset,
        int(refractory),
        recurrent_grad,
    )
    if kernel != "torch" and alif_numba.available(surrogate, x, rec_weight):
        return alif_numba._ALIFNumba.apply(*args)
    if kernel == "numba":
        raise SpikegradInputError(
            "kernel='numba' needs numba, a CPU float32/float64 input and a registered "
            "surrogate (spikegrad.kernels.lif_numba.surrogate_code)"
        )
    return _ALIFFused.apply(*args)
