r"""Fused multi-step LIF (eq. 4.1) as one autograd function with a hand-written BPTT.

The reference :func:`spikegrad.functional.lif.lif_sequence` builds an autograd graph of
about ten nodes per time step. Here the forward sweep runs without a graph and keeps
only the membrane and current traces ``U[0..T-1]``, ``I[0..T-1]``; the backward sweep
runs the adjoint recursion by hand. With :math:`\bar U[n] = \beta_m U[n] + (1-\beta_m) I[n]`,
:math:`k[n] = 1 - S[n]`, :math:`h[n] = h(U[n] - 1)` and the adjoints
:math:`g_u[n] = \partial L/\partial U[n]`, :math:`g_i[n] = \partial L/\partial I[n]`
(zero at :math:`n = T`):

.. math::

    g_s[n] &= \partial L/\partial S[n]\big|_\text{out} + [\text{rec}]\, g_i[n+1] V
              - [\text{DR}]\, g_u[n+1] \bar U[n] \\
    g_u[n] &= \beta_m k[n] g_u[n+1] + h[n] g_s[n]
              + \partial L/\partial U[n]\big|_\text{out} \\
    g_i[n] &= (1-\beta_m) k[n] g_u[n+1] + \beta_s g_i[n+1]

and the parameter gradients
:math:`\partial L/\partial x[n] = g_i[n+1]`,
:math:`\partial L/\partial V = \sum_n g_i[n+1]^\top S[n]`,
:math:`\partial L/\partial \beta_m = \sum_n g_u[n+1] k[n] (U[n] - I[n])`,
:math:`\partial L/\partial \beta_s = \sum_n g_i[n+1] I[n]`.
``[rec]`` is dropped when ``recurrent_grad=False`` and ``[DR]`` when the reset is
detached, exactly as in the reference. :math:`\partial L/\partial U[n]|_\text{out}` is
the gradient of a loss on the returned membrane trace (zero when it is not used).
Values and gradients are tested against the reference for every surrogate, reset mode
and recurrence.
"""

from __future__ import annotations

import torch

from ..functional.surrogate import Surrogate

__all__ = ["lif_sequence_fused", "li_sequence_fused"]


def _as_tensor(b, like: torch.Tensor) -> torch.Tensor:
    return b if isinstance(b, torch.Tensor) else torch.tensor(b, dtype=like.dtype)


class _LIFFused(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bm, bs, rec_weight, surrogate, differentiable_reset, recurrent_grad):  # type: ignore[override]
        T, B, N = x.shape
        U = x.new_empty(T, B, N)
        I_ = x.new_empty(T, B, N)
        S = x.new_empty(T, B, N)
        u = x.new_zeros(B, N)
        i = x.new_zeros(B, N)
        one_m_bm = 1.0 - bm
        vt = rec_weight.t() if rec_weight is not None else None
        for n in range(T):
            U[n] = u
            I_[n] = i
            s = surrogate.forward_value(u - 1.0)
            S[n] = s
            u = (bm * u + one_m_bm * i) * (1.0 - s)
            i = bs * i + x[n]
            if vt is not None:
                i = i.addmm(s, vt)
        ctx.save_for_backward(U, I_, S, bm, bs, rec_weight)
        ctx.surrogate = surrogate
        ctx.dr = differentiable_reset
        ctx.rg = recurrent_grad
        # no zero [T, B, N] gradient for the membrane when the loss does not use it
        ctx.set_materialize_grads(False)
        return S, U

    @staticmethod
    def backward(ctx, gS, gU):  # type: ignore[override]
        U, I_, S, bm, bs, V = ctx.saved_tensors
        T, B, N = U.shape
        H = ctx.surrogate.derivative(U - 1.0)
        keep = 1.0 - S
        if gS is None:
            gS = torch.zeros_like(U)
        GI = torch.empty_like(U)  # GI[n] = g_i[n+1] = dL/dx[n]
        need_bm = ctx.needs_input_grad[1]
        GU = torch.empty_like(U) if (need_bm or ctx.dr) else None  # GU[n] = g_u[n+1]
        gu = U.new_zeros(B, N)
        gi = U.new_zeros(B, N)
        one_m_bm = 1.0 - bm
        use_rec = V is not None and ctx.rg
        for n in range(T - 1, -1, -1):
            GI[n] = gi
            if GU is not None:
                GU[n] = gu
            gs = gS[n]
            if use_rec:
                gs = gs + gi @ V
            if ctx.dr:
                gs = gs - gu * (bm * U[n] + one_m_bm * I_[n])
            gk = gu * keep[n]
            gu = bm * gk + H[n] * gs
            if gU is not None:  # the recorded membrane U[n] is used by the loss itself
                gu = gu + gU[n]
            gi = one_m_bm * gk + bs * gi
        g_bm = g_bs = g_V = None
        if need_bm:
            g_bm = (GU * keep * (U - I_)).sum(dim=(0, 1))
            if bm.dim() == 0:
                g_bm = g_bm.sum()
        if ctx.needs_input_grad[2]:
            g_bs = (GI * I_).sum(dim=(0, 1))
            if bs.dim() == 0:
                g_bs = g_bs.sum()
        if V is not None and ctx.needs_input_grad[3]:
            g_V = GI.reshape(T * B, N).t() @ S.reshape(T * B, N)
        return GI, g_bm, g_bs, g_V, None, None, None


def lif_sequence_fused(
    x: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, B, N]`` and membrane trace ``U[0..T-1]`` from projected currents ``x``.

    Same semantics as :func:`spikegrad.functional.lif.lif_sequence` from a zero state.
    The membrane trace carries its gradient (a loss on it reaches ``x``, the decays and
    ``rec_weight`` as in the reference).
    """
    bm = _as_tensor(beta_mem, x)
    bs = _as_tensor(beta_syn, x)
    return _LIFFused.apply(
        x, bm, bs, rec_weight, surrogate, reset == "differentiable", recurrent_grad
    )


def _li_kernel(bm: torch.Tensor, bs: torch.Tensor, T: int) -> torch.Tensor:
    r"""Impulse response ``h[d]`` (d = 0..T-1) of the readout, per unit: ``[T, K]``.

    ``h[0] = h[1] = 0``; ``h[d] = (1 - bm) * sum_{j=0}^{d-2} bm^(d-2-j) bs^j``. Built
    with a short recursion so it is differentiable in ``bm`` and ``bs``.
    """
    rows = []
    a = torch.zeros_like(bm)  # membrane response
    c = torch.ones_like(bs)  # current response, I[1] = 1
    rows.append(torch.zeros_like(bm))  # d = 0
    for _ in range(1, T):
        rows.append(a)
        a = bm * a + (1.0 - bm) * c
        c = bs * c
    return torch.stack(rows)


def li_sequence_fused(x: torch.Tensor, beta_mem, beta_syn, *, u0: float = 0.0) -> torch.Tensor:
    r"""Leaky-integrator readout as a causal convolution: one batched matrix product.

    :math:`U[n] = u_0\beta_m^n + \sum_{m<n} h[n-m]\,x[m]` with the impulse response
    ``h`` of :func:`_li_kernel`; identical to :func:`~spikegrad.functional.lif.li_sequence`.
    """
    T, B, K = x.shape
    bm = _as_tensor(beta_mem, x).expand(K)
    bs = _as_tensor(beta_syn, x).expand(K)
    h = _li_kernel(bm, bs, T)  # [T, K]
    idx = torch.arange(T)
    lag = idx[:, None] - idx[None, :]  # [n, m]
    toe = h[lag.clamp(min=0)] * (lag > 0).to(x.dtype)[..., None]  # [n, m, K]
    u = torch.einsum("nmk,mbk->nbk", toe, x)
    if u0:
        powers = bm[None, :] ** idx.to(x.dtype)[:, None]  # [T, K]
        u = u + u0 * powers[:, None, :]
    return u
