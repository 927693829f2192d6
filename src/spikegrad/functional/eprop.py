r"""e-prop eligibility traces of one LIF layer (Bellec et al. 2020), as a pure step function.

For the LIF layer of eq. 4.1 (:mod:`spikegrad.functional.lif`) with the reset detached,

.. math::

    S_j[n] &= \Theta(U_j[n] - 1) \\
    U_j[n+1] &= \big(\beta_m U_j[n] + (1-\beta_m) I_j[n]\big)(1 - S_j[n]) \\
    I_j[n+1] &= \beta_s I_j[n] + \textstyle\sum_i W_{ji} x_i[n] + \sum_i V_{ji} S_i[n],

e-prop keeps, for every synapse :math:`i \to j` with presynaptic activity :math:`z_i`
(:math:`x_i` for :math:`W`, :math:`S_i` for :math:`V`), the derivative of neuron
:math:`j`'s *own* state by the weight, :math:`(\epsilon^U_{ji}, \epsilon^I_i) =
(\partial U_j / \partial W_{ji}, \partial I_j / \partial W_{ji})`, ignoring every path
through another neuron's spikes. It runs forward in time:

.. math::

    \epsilon^I_i[n+1] &= \beta_s \epsilon^I_i[n] + z_i[n] \\
    \epsilon^U_{ji}[n+1] &= (1 - S_j[n])\big(\beta_m \epsilon^U_{ji}[n]
        + (1-\beta_m)\epsilon^I_i[n]\big)

(:math:`\epsilon^I` does not depend on :math:`j`, so it is stored once per input). The
eligibility trace is :math:`e_{ji}[n] = \partial S_j[n] / \partial W_{ji} \approx
h(U_j[n] - 1)\,\epsilon^U_{ji}[n]` with :math:`h` the surrogate derivative, and with a
learning signal :math:`L_j[n] = \partial E / \partial S_j[n]` the e-prop gradient is

.. math::

    \widehat{\frac{dE}{dW_{ji}}} = \sum_n L_j[n]\, e_{ji}[n].

Per-neuron time constants get traces of the same kind (used when they are learned):

.. math::

    \epsilon^{U,\beta_m}_j[n+1] &= (1 - S_j[n])\big(\beta_m \epsilon^{U,\beta_m}_j[n]
        + U_j[n] - I_j[n]\big) \\
    \epsilon^{I,\beta_s}_j[n+1] &= \beta_s \epsilon^{I,\beta_s}_j[n] + I_j[n] \\
    \epsilon^{U,\beta_s}_j[n+1] &= (1 - S_j[n])\big(\beta_m \epsilon^{U,\beta_s}_j[n]
        + (1-\beta_m)\epsilon^{I,\beta_s}_j[n]\big)

and :math:`\widehat{dE/d\beta_{m,j}} = \sum_n L_j[n] h(U_j[n]-1)
\epsilon^{U,\beta_m}_j[n]` (likewise :math:`\beta_s`). Without recurrent weights these
are the exact derivatives (with the detached reset and the surrogate), so e-prop equals
BPTT; with :math:`V \ne 0` it drops the paths through other neurons.

:class:`~spikegrad.learning.rules.eprop.Eprop` (the trainer's rule) and
:class:`~spikegrad.online.eprop.OnlineEprop` (per-step online learning) both advance
these traces with :func:`eligibility_step`.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .lif import LIFParams, LIFState

__all__ = ["EligibilityTraces", "eligibility_step", "eligibility"]


class EligibilityTraces(NamedTuple):
    r"""Eligibility vectors of one LIF layer at step :math:`n` (batch ``B``).

    ``ei_in`` and ``eu_in [B, N, N_in]``: :math:`\epsilon^I, \epsilon^U` of the input
    weights ``W``; ``ei_rec`` and ``eu_rec [B, N, N]``: of the recurrent weights ``V``
    (``None`` without them); ``eu_bm``, ``ei_bs``, ``eu_bs`` ``[B, N]``: of the decay
    factors :math:`\beta_m, \beta_s` (``None`` unless requested). With one
    :math:`\beta_s` for the layer :math:`\epsilon^I` is stored once per presynaptic
    unit (``ei_in [B, N_in]``, ``ei_rec [B, N]``); with per-neuron time constants it is
    per synapse (``[B, N, N_in]``, ``[B, N, N]``).
    """

    ei_in: torch.Tensor
    eu_in: torch.Tensor
    ei_rec: torch.Tensor | None = None
    eu_rec: torch.Tensor | None = None
    eu_bm: torch.Tensor | None = None
    ei_bs: torch.Tensor | None = None
    eu_bs: torch.Tensor | None = None

    @classmethod
    def zeros(
        cls,
        batch: int,
        n: int,
        n_in: int,
        *,
        recurrent: bool = False,
        taus: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> EligibilityTraces:
        """All traces zero (the state at step 0) of ``n`` neurons with ``n_in`` inputs.

        ``taus``: per-neuron time constants, with their traces (learnable taus).
        """

        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, dtype=dtype, device=device)

        pre = (batch, n) if taus else (batch,)
        return cls(
            z(*pre, n_in),
            z(batch, n, n_in),
            z(*pre, n) if recurrent else None,
            z(batch, n, n) if recurrent else None,
            z(batch, n) if taus else None,
            z(batch, n) if taus else None,
            z(batch, n) if taus else None,
        )


def _col(b: torch.Tensor | float) -> torch.Tensor | float:
    """A per-neuron ``[N]`` factor as ``[N, 1]`` (broadcasts over ``[B, N, N_in]``)."""
    return b[:, None] if isinstance(b, torch.Tensor) and b.dim() == 1 else b


def _per_synapse(e: torch.Tensor) -> torch.Tensor:
    r""":math:`\epsilon^I` as ``[B, N, N_pre]`` (a view when stored once per input)."""
    return e if e.dim() == 3 else e[:, None, :]


def _membrane(
    eu: torch.Tensor, ei: torch.Tensor, bm: torch.Tensor | float, keep3: torch.Tensor
) -> torch.Tensor:
    r""":math:`\epsilon^U[n+1] = (1 - S[n])(\beta_m \epsilon^U[n] + (1-\beta_m)\epsilon^I[n])`.

    One ``lerp`` and one in-place product: the ``[B, N, N_in]`` update is the cost of
    e-prop, and this is about ten times faster than the four-temporary expression.
    """
    ei = _per_synapse(ei).expand_as(eu)
    if isinstance(bm, torch.Tensor) and bm.dim() == 1:
        bm = bm[:, None].to(eu.dtype)
    return torch.lerp(ei, eu, bm).mul_(keep3)


def _presynaptic(e: torch.Tensor, z: torch.Tensor, bs: torch.Tensor | float) -> torch.Tensor:
    r""":math:`\epsilon^I[n+1] = \beta_s \epsilon^I[n] + z[n]`."""
    if e.dim() == 3:
        return _col(bs) * e + z[:, None, :]
    if isinstance(bs, torch.Tensor) and bs.numel() > 1:
        raise ValueError(
            "per-neuron time constants need per-synapse traces: "
            "EligibilityTraces.zeros(..., taus=True)"
        )
    return bs * e + z


@torch.no_grad()
def eligibility_step(
    x: torch.Tensor,
    spikes: torch.Tensor,
    state: LIFState,
    traces: EligibilityTraces,
    params: LIFParams,
) -> EligibilityTraces:
    r"""Advance the eligibility vectors from step :math:`n` to :math:`n+1` (module docstring).

    Parameters
    ----------
    x:
        Presynaptic input spikes :math:`x[n]`, ``[B, N_in]``.
    spikes:
        The layer's spikes :math:`S[n]`, ``[B, N]`` (presynaptic activity of ``V``).
    state:
        The layer's state :math:`(U[n], I[n])` before the step (used by the
        time-constant traces only).
    traces:
        :math:`\epsilon[n]`.
    params:
        Decay factors :math:`\beta_m, \beta_s` (floats or ``[N]`` tensors; detached).

    Returns
    -------
    EligibilityTraces
        :math:`\epsilon[n+1]`.
    """
    bm, bs = (b.detach() if isinstance(b, torch.Tensor) else b for b in params)
    keep = 1.0 - spikes
    keep3 = keep[:, :, None]
    eu_in = _membrane(traces.eu_in, traces.ei_in, bm, keep3)
    ei_in = _presynaptic(traces.ei_in, x, bs)
    eu_rec = ei_rec = None
    if traces.eu_rec is not None:
        eu_rec = _membrane(traces.eu_rec, traces.ei_rec, bm, keep3)
        ei_rec = _presynaptic(traces.ei_rec, spikes, bs)
    eu_bm = ei_bs = eu_bs = None
    if traces.eu_bm is not None:
        u, i = state
        eu_bm = keep * (bm * traces.eu_bm + u - i)
        eu_bs = keep * (bm * traces.eu_bs + (1.0 - bm) * traces.ei_bs)
        ei_bs = bs * traces.ei_bs + i
    return EligibilityTraces(ei_in, eu_in, ei_rec, eu_rec, eu_bm, ei_bs, eu_bs)


def eligibility(
    traces: EligibilityTraces, h: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""Eligibility traces :math:`e_{ji}[n] = h_j[n]\,\epsilon^U_{ji}[n]` of ``W`` and ``V``.

    ``h [B, N]`` is the surrogate derivative :math:`h(U_j[n] - 1)`; returns
    ``e_in [B, N, N_in]`` and ``e_rec [B, N, N]`` (``None`` without ``V``).
    """
    h3 = h[:, :, None]
    e_rec = h3 * traces.eu_rec if traces.eu_rec is not None else None
    return h3 * traces.eu_in, e_rec
