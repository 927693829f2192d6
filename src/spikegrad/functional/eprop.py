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

from .alif import ALIFParams
from .lif import LIFParams, LIFState

__all__ = [
    "EligibilityTraces",
    "eligibility_step",
    "eligibility",
    "ALIFTraces",
    "alif_eligibility_step",
    "alif_spike_derivative",
]


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


# ------------------------------------------------------------------ adaptive threshold
class ALIFTraces(NamedTuple):
    r"""Eligibility vectors of one adaptive-threshold layer at step :math:`n` (batch ``B``).

    ``ei_in [B, N_in]``, ``eu_in`` and ``ea_in [B, N, N_in]``: :math:`\epsilon^I,
    \epsilon^U, \epsilon^A` of the input weights ``W``; ``ei_rec [B, N]``, ``eu_rec``,
    ``ea_rec [B, N, N]``: of the recurrent weights ``V`` (``None`` without them).
    """

    ei_in: torch.Tensor
    eu_in: torch.Tensor
    ea_in: torch.Tensor
    ei_rec: torch.Tensor | None = None
    eu_rec: torch.Tensor | None = None
    ea_rec: torch.Tensor | None = None

    @classmethod
    def zeros(
        cls,
        batch: int,
        n: int,
        n_in: int,
        *,
        recurrent: bool = False,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> ALIFTraces:
        """All traces zero (the state at step 0) of ``n`` neurons with ``n_in`` inputs."""

        def z(*shape: int) -> torch.Tensor:
            return torch.zeros(*shape, dtype=dtype, device=device)

        rec = recurrent
        return cls(
            z(batch, n_in), z(batch, n, n_in), z(batch, n, n_in),
            z(batch, n) if rec else None, z(batch, n, n) if rec else None,
            z(batch, n, n) if rec else None,
        )


def alif_spike_derivative(
    eu: torch.Tensor, ea: torch.Tensor, h: torch.Tensor, adapt: torch.Tensor | float
) -> torch.Tensor:
    r""":math:`\partial S_j[n]/\partial W_{ji} \approx h_j[n]\,(\epsilon^U_{ji}[n] - \alpha
    \epsilon^A_{ji}[n])`, ``[B, N, N_pre]``: the ALIF eligibility trace :math:`e_{ji}[n]`.

    ``h [B, N]`` is the surrogate derivative :math:`F_j[n]\,\sigma'(U_j[n] - \Theta_j[n])`
    (zero on refractory steps), ``adapt`` :math:`\alpha` (a number or ``[N]``).
    """
    return h[:, :, None] * (eu - _col(adapt) * ea)


def _alif_trace(
    ei: torch.Tensor,
    eu: torch.Tensor,
    ea: torch.Tensor,
    d: torch.Tensor,
    spikes: torch.Tensor,
    free: torch.Tensor | None,
    u_tilde: torch.Tensor | None,
    params: ALIFParams,
    reset: str,
) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`(\epsilon^U[n+1], \epsilon^A[n+1])` of one weight matrix.

    See :func:`alif_eligibility_step`.
    """
    bm = params.beta_mem
    m = _membrane(eu, ei, bm, torch.ones_like(eu[:, :, :1]))  # beta_m eU + (1 - beta_m) eI
    s3 = spikes[:, :, None]
    if reset == "detach":
        new = m * (1.0 - s3)
    elif reset == "differentiable":
        assert u_tilde is not None  # alif_eligibility_step checks it
        new = m * (1.0 - s3) - u_tilde[:, :, None] * d
    else:  # subtract: U[n+1] = U~[n] - sg(S[n]) Theta[n], Theta = theta + alpha A
        new = m - s3 * _col(params.adapt) * ea
    if free is not None:
        f3 = free[:, :, None]
        new = f3 * new + (1.0 - f3) * eu
    return new, _col(params.rho) * ea + d


@torch.no_grad()
def alif_eligibility_step(
    x: torch.Tensor,
    spikes: torch.Tensor,
    h: torch.Tensor,
    traces: ALIFTraces,
    params: ALIFParams,
    *,
    reset: str = "detach",
    free: torch.Tensor | None = None,
    u_tilde: torch.Tensor | None = None,
) -> ALIFTraces:
    r"""Advance the adaptive-threshold eligibility vectors from step :math:`n` to :math:`n+1`.

    For the neuron of :func:`~spikegrad.functional.alif.alif_step` (threshold
    :math:`\Theta_j = \vartheta + \alpha A_j`, :math:`A_j[n+1] = \rho A_j[n] + S_j[n]`,
    free flag :math:`F_j[n]` of the refractory period), with presynaptic activity
    :math:`z_i` and :math:`e_{ji}[n] = h_j[n](\epsilon^U_{ji}[n] - \alpha
    \epsilon^A_{ji}[n])` (:func:`alif_spike_derivative`, :math:`h` includes :math:`F`):

    .. math::

        \epsilon^I_i[n+1] &= \beta_s \epsilon^I_i[n] + z_i[n] \\
        \epsilon^A_{ji}[n+1] &= \rho\,\epsilon^A_{ji}[n] + e_{ji}[n]
            = h_j[n]\epsilon^U_{ji}[n] + (\rho - h_j[n]\alpha)\epsilon^A_{ji}[n] \\
        m_{ji}[n] &= \beta_m \epsilon^U_{ji}[n] + (1-\beta_m)\epsilon^I_i[n] \\
        \epsilon^U_{ji}[n+1] &= F_j[n]\, r_{ji}[n] + (1 - F_j[n])\,\epsilon^U_{ji}[n]

    with the reset term :math:`r` of the reset rule: ``"detach"`` :math:`(1 - S_j[n])
    m_{ji}[n]`; ``"differentiable"`` :math:`(1 - S_j[n]) m_{ji}[n] - \tilde U_j[n]
    e_{ji}[n]` (:math:`\tilde U = \beta_m U + (1-\beta_m) I`, pass ``u_tilde``);
    ``"subtract"`` :math:`m_{ji}[n] - S_j[n]\,\alpha\,\epsilon^A_{ji}[n]` (the subtracted
    threshold keeps its gradient). This is Bellec et al. 2020's ALIF eligibility vector
    (:math:`\epsilon^a[t+1] = \psi\epsilon^v + (\rho - \psi\alpha)\epsilon^a`, with
    :math:`\psi = h`) for spikegrad's current-based neuron: the synaptic current adds the
    :math:`\epsilon^I` stage and the membrane sees :math:`I` through
    :math:`(1 - \beta_m)`.

    Parameters
    ----------
    x, spikes:
        Input spikes :math:`x[n]` ``[B, N_in]`` and the layer's spikes :math:`S[n]`
        ``[B, N]`` (the presynaptic activity of ``V``).
    h:
        :math:`F_j[n]\,\sigma'(U_j[n] - \Theta_j[n])`, ``[B, N]``.
    traces:
        :math:`\epsilon[n]`.
    params:
        The layer's :class:`~spikegrad.functional.alif.ALIFParams` (numbers or ``[N]``
        tensors, detached; a single :math:`\beta_s`).
    reset:
        ``"detach"``, ``"differentiable"`` or ``"subtract"``.
    free:
        :math:`F[n]` ``[B, N]`` with a refractory period, else ``None``.
    u_tilde:
        :math:`\tilde U[n]` ``[B, N]``, needed by ``"differentiable"`` only.

    Returns
    -------
    ALIFTraces
        :math:`\epsilon[n+1]`.
    """
    if reset not in ("detach", "differentiable", "subtract"):
        raise ValueError(f"unknown reset {reset!r}")
    if reset == "differentiable" and u_tilde is None:
        raise ValueError("reset='differentiable' needs u_tilde")
    out: list[torch.Tensor | None] = []
    pairs = [(traces.ei_in, traces.eu_in, traces.ea_in, x)]
    if traces.eu_rec is not None:
        assert traces.ei_rec is not None and traces.ea_rec is not None
        pairs.append((traces.ei_rec, traces.eu_rec, traces.ea_rec, spikes))
    for ei, eu, ea, z in pairs:
        d = alif_spike_derivative(eu, ea, h, params.adapt)
        eu_new, ea_new = _alif_trace(ei, eu, ea, d, spikes, free, u_tilde, params, reset)
        out += [_presynaptic(ei, z, params.beta_syn), eu_new, ea_new]
    if len(out) == 3:
        out += [None, None, None]
    return ALIFTraces(*out)  # type: ignore[arg-type]  # the first three are tensors
