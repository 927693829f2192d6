r"""Current-based leaky integrate-and-fire neurons, exactly Zenke & Vogels 2021 eq. 4.1.

Dimensionless membrane, threshold 1, rest 0, Heaviside(0) = 0. For step
:math:`n` with state :math:`(U[n], I[n])` and presynaptic spikes
:math:`S_\text{in}[n]`:

.. math::

    S[n]   &= \Theta(U[n] - 1) \\
    U[n+1] &= \big(\beta_\text{mem} U[n] + (1 - \beta_\text{mem}) I[n]\big)\,(1 - S[n]) \\
    I[n+1] &= \beta_\text{syn} I[n] + W S_\text{in}[n] + V S[n]

with :math:`\beta = e^{-\Delta t/\tau}`. The state starts at zero, so an input
spike at step 0 reaches :math:`I[1]` and first moves :math:`U[2]`.

The reset factor :math:`(1 - S[n])` is detached from the autograd graph by
default (``reset="detach"``); ``reset="differentiable"`` keeps it (the paper's
"DR" condition). ``recurrent_grad=False`` detaches the recurrent term
:math:`V S[n]` from the graph (the paper's recurrent "Ctl" condition).

Everything here is pure: ``lif_step(x, state, params) -> (spikes, state)``.
Sequences are time-major ``[T, B, N]``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch

from .._checks import SpikegradInputError, check_choice
from .surrogate import Surrogate

__all__ = [
    "RESET_MODES",
    "LIFParams",
    "LIFState",
    "decay",
    "lif_step",
    "lif_sequence",
    "li_sequence",
]

#: Valid reset modes.
RESET_MODES = ("detach", "differentiable")


class LIFParams(NamedTuple):
    r"""Per-step decay factors :math:`\beta = e^{-\Delta t/\tau}` (scalars or ``[N]`` tensors)."""

    beta_mem: torch.Tensor | float
    beta_syn: torch.Tensor | float


class LIFState(NamedTuple):
    """Membrane ``u`` and synaptic current ``i``, each ``[B, N]``."""

    u: torch.Tensor
    i: torch.Tensor

    @classmethod
    def zeros(
        cls, batch: int, n: int, *, dtype: torch.dtype = torch.float32, device=None
    ) -> LIFState:
        """The resting state U = I = 0."""
        z = torch.zeros(batch, n, dtype=dtype, device=device)
        return cls(z, z.clone())


def decay(tau: torch.Tensor | float, dt: float) -> torch.Tensor | float:
    r"""Return :math:`\beta = \exp(-\Delta t / \tau)`; checks ``tau > 0`` for numbers."""
    if isinstance(tau, torch.Tensor):
        return torch.exp(-dt / tau)
    if not (isinstance(tau, (int, float)) and tau > 0 and math.isfinite(tau)):
        raise SpikegradInputError(f"time constant tau must be a finite number > 0, got {tau!r}")
    return math.exp(-dt / tau)


def lif_step(
    x: torch.Tensor,
    state: LIFState,
    params: LIFParams,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, LIFState]:
    r"""One step of eq. 4.1.

    Parameters
    ----------
    x:
        Projected input current :math:`W S_\text{in}[n]`, ``[B, N]``.
    state:
        :math:`(U[n], I[n])`.
    params:
        Decay factors.
    surrogate:
        Spike nonlinearity (Heaviside forward, surrogate backward).
    rec_weight:
        Recurrent weights ``V`` of shape ``[N, N]`` (``V[i, j]``: from j to i), or ``None``.
    reset:
        ``"detach"`` (default) or ``"differentiable"``.
    recurrent_grad:
        Propagate gradients through the recurrent term (default ``True``).

    Returns
    -------
    spikes, new_state
        :math:`S[n]` and :math:`(U[n+1], I[n+1])`.
    """
    u, i = state
    bm, bs = params
    s = surrogate.spike(u - 1.0)
    keep = 1.0 - (s.detach() if reset == "detach" else s)
    u_new = (bm * u + (1.0 - bm) * i) * keep
    i_new = bs * i + x
    if rec_weight is not None:
        s_rec = s if recurrent_grad else s.detach()
        i_new = i_new + s_rec @ rec_weight.t()
    return s, LIFState(u_new, i_new)


def lif_sequence(
    x: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
    state: LIFState | None = None,
    record_membrane: bool = False,
) -> tuple[torch.Tensor, LIFState, torch.Tensor | None]:
    r"""Run eq. 4.1 over a whole sequence (reference implementation, plain autograd).

    Parameters
    ----------
    x:
        Projected input currents :math:`W S_\text{in}[n]` for all steps, ``[T, B, N]``.
    params, surrogate, rec_weight, reset, recurrent_grad:
        As in :func:`lif_step`.
    state:
        Initial state (default: zeros).
    record_membrane:
        Also return the membrane trace :math:`U[0..T-1]`, ``[T, B, N]``.

    Returns
    -------
    spikes, final_state, membrane
        Spikes :math:`S[0..T-1]` ``[T, B, N]``, state :math:`(U[T], I[T])`,
        and the membrane trace or ``None``.
    """
    check_choice("reset mode", reset, RESET_MODES)
    T, B, N = x.shape
    if state is None:
        state = LIFState.zeros(B, N, dtype=x.dtype, device=x.device)

    def step(x_n: torch.Tensor, st: LIFState) -> tuple[torch.Tensor, LIFState]:
        return lif_step(x_n, st, params, surrogate, rec_weight=rec_weight, reset=reset,
                        recurrent_grad=recurrent_grad)

    return scan_steps(step, x, state, record_membrane=record_membrane)


def scan_steps(
    step: Callable[[torch.Tensor, Any], tuple[torch.Tensor, Any]],
    x: torch.Tensor,
    state: Any,
    *,
    record_membrane: bool = False,
) -> tuple[torch.Tensor, Any, torch.Tensor | None]:
    """Run ``step(x_n, state) -> (spikes, state)`` over ``x`` ``[T, ...]``.

    Returns the stacked spikes, the final state and, if ``record_membrane``, the stacked
    first state field (the membrane) *before* each step, else ``None``.
    """
    spikes = []
    mem: list[torch.Tensor] | None = [] if record_membrane else None
    # unbind once: indexing x[n] on a grad-requiring tensor would give every step its own
    # full-size SelectBackward buffer, making backward quadratic in T
    for x_n in x.unbind(0):
        if mem is not None:
            mem.append(state[0])
        s, state = step(x_n, state)
        spikes.append(s)
    return (
        torch.stack(spikes),
        state,
        torch.stack(mem) if mem is not None else None,
    )


def li_sequence(
    x: torch.Tensor,
    params: LIFParams,
    *,
    u0: float | torch.Tensor = 0.0,
) -> torch.Tensor:
    r"""Non-spiking leaky integrator (the readout), same synapse and (1 - beta) form.

    .. math::

        U[n+1] = \beta_\text{mem} U[n] + (1 - \beta_\text{mem}) I[n], \qquad
        I[n+1] = \beta_\text{syn} I[n] + x[n]

    with :math:`U[0] = u_0`, :math:`I[0] = 0`.

    Parameters
    ----------
    x:
        Projected input current ``[T, B, K]``.
    params:
        Decay factors of the readout.
    u0:
        Initial membrane. A small negative value (default of the modules:
        ``-1e-3``) makes the membrane relax upwards, so a max-over-time readout
        of a silent network peaks at the last step (which depends on the
        weights) rather than at the constant step 0 with zero gradient.

    Returns
    -------
    torch.Tensor
        The membrane trace :math:`U[0..T-1]`, ``[T, B, K]``.
    """
    T, B, K = x.shape
    bm, bs = params
    u = torch.zeros(B, K, dtype=x.dtype, device=x.device) + u0
    i = torch.zeros(B, K, dtype=x.dtype, device=x.device)
    out = []
    for x_n in x.unbind(0):
        out.append(u)
        u = bm * u + (1.0 - bm) * i
        i = bs * i + x_n
    return torch.stack(out)
