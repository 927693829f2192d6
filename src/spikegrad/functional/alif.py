r"""Adaptive-threshold LIF (LSNN, Bellec et al. 2018) and the LIF neuron options.

One pure step covers the current-based LIF of :mod:`spikegrad.functional.lif` with the
options users of other libraries expect: a per-neuron (learnable) threshold, an
adaptive threshold, three reset rules and an absolute refractory period. With
``adapt = 0``, threshold 1, ``reset="detach"`` and no refractory period it is exactly
eq. 4.1 (tested bit for bit against :func:`~spikegrad.functional.lif.lif_sequence`).

For step :math:`n` with state :math:`(U[n], I[n], A[n], C[n])` (membrane, synaptic
current, adaptation, refractory counter in steps):

.. math::

    \Theta[n] &= \vartheta + \alpha A[n] \qquad\text{(threshold; LSNN: } b_j = b_0 + \beta a_j)\\
    F[n]      &= [C[n] = 0] \qquad\text{(free, i.e. not refractory; a constant)}\\
    S[n]      &= F[n]\,\Theta_H(U[n] - \Theta[n]) \\
    \tilde U[n] &= \beta_\text{mem} U[n] + (1 - \beta_\text{mem}) I[n] \\
    U[n+1]    &= F[n]\,\mathcal R\big(\tilde U[n], S[n], \Theta[n]\big) + (1 - F[n])\,U[n] \\
    I[n+1]    &= \beta_\text{syn} I[n] + W S_\text{in}[n] + V S[n] \\
    A[n+1]    &= \rho A[n] + S[n], \qquad \rho = e^{-\Delta t/\tau_a} \\
    C[n+1]    &= r \text{ if } S[n] = 1 \text{ else } \max(C[n] - 1, 0)

with the reset rule :math:`\mathcal R`:

* ``"detach"`` (default): :math:`\tilde U (1 - \mathrm{sg}(S))`, reset to zero, no gradient
  through the reset;
* ``"differentiable"``: :math:`\tilde U (1 - S)`;
* ``"subtract"``: :math:`\tilde U - \mathrm{sg}(S)\,\Theta[n]` (reset by subtraction of the
  threshold the neuron crossed; the threshold keeps its gradient).

``sg`` stops the gradient. The surrogate sees :math:`U - \Theta` (``U - 1`` for the
default threshold, the same values as the plain LIF). During the :math:`r` refractory
steps after a spike the membrane is held (no integration, no spike); the synaptic
current keeps integrating. The adaptation :math:`A` keeps its gradient (BPTT through
the threshold, as in LSNN).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_choice
from .lif import scan_steps
from .surrogate import Surrogate

__all__ = [
    "ALIF_RESET_MODES",
    "ALIFParams",
    "ALIFState",
    "alif_step",
    "alif_sequence",
    "refractory_steps",
]

#: Reset rules of :func:`alif_step`.
ALIF_RESET_MODES = ("detach", "differentiable", "subtract")


class ALIFParams(NamedTuple):
    r"""Decays, threshold and adaptation (numbers or ``[N]`` tensors), refractory steps.

    ``beta_mem``, ``beta_syn``, ``rho`` (:math:`e^{-\Delta t/\tau}` of membrane,
    synapse, adaptation); ``threshold`` :math:`\vartheta`; ``adapt`` :math:`\alpha`
    (threshold increase per unit of adaptation, 0: plain LIF); ``refractory`` :math:`r`
    (whole steps, >= 0).
    """

    beta_mem: torch.Tensor | float
    beta_syn: torch.Tensor | float
    rho: torch.Tensor | float = 0.0
    threshold: torch.Tensor | float = 1.0
    adapt: torch.Tensor | float = 0.0
    refractory: int = 0


class ALIFState(NamedTuple):
    """Membrane ``u``, current ``i``, adaptation ``a`` and refractory counter ``ref`` ``[B, N]``."""

    u: torch.Tensor
    i: torch.Tensor
    a: torch.Tensor
    ref: torch.Tensor

    @classmethod
    def zeros(
        cls, batch: int, n: int, *, dtype: torch.dtype = torch.float32, device=None
    ) -> ALIFState:
        """The resting state: all zero, not refractory."""
        z = torch.zeros(batch, n, dtype=dtype, device=device)
        return cls(z, z.clone(), z.clone(), z.clone())


def refractory_steps(t_ref: float, dt: float) -> int:
    """Refractory period in whole steps: ``round(t_ref / dt)`` (``t_ref`` >= 0 seconds)."""
    if not isinstance(t_ref, (int, float)) or isinstance(t_ref, bool) or not t_ref >= 0:
        raise SpikegradInputError(f"refractory must be a number of seconds >= 0, got {t_ref!r}")
    if t_ref == float("inf"):
        raise SpikegradInputError("refractory must be finite")
    return int(round(float(t_ref) / float(dt)))


def alif_step(
    x: torch.Tensor,
    state: ALIFState,
    params: ALIFParams,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, ALIFState]:
    r"""One step of the adaptive LIF (module docstring).

    Parameters
    ----------
    x:
        Projected input current :math:`W S_\text{in}[n]`, ``[B, N]``.
    state, params:
        :math:`(U, I, A, C)[n]` and the neuron parameters.
    surrogate:
        Spike nonlinearity of :math:`U - \Theta`.
    rec_weight, recurrent_grad:
        Recurrent weights ``[N, N]`` and whether gradients flow through them.
    reset:
        ``"detach"``, ``"differentiable"`` or ``"subtract"``.

    Returns
    -------
    spikes, new_state
    """
    u, i, a, ref = state
    bm, bs, rho, theta0, alpha, r = params
    theta = theta0 + alpha * a if _nonzero(alpha) else theta0
    s = surrogate.spike(u - theta)
    free = None
    if r > 0:
        free = (ref <= 0).to(u.dtype)
        s = s * free
    u_t = bm * u + (1.0 - bm) * i
    if reset == "subtract":
        u_new = u_t - s.detach() * theta
    else:
        u_new = u_t * (1.0 - (s.detach() if reset == "detach" else s))
    if free is not None:
        u_new = free * u_new + (1.0 - free) * u
        ref_new = torch.where(
            s.detach() > 0, torch.full_like(ref, float(r)), (ref - 1).clamp_min(0)
        )
    else:
        ref_new = ref
    i_new = bs * i + x
    if rec_weight is not None:
        s_rec = s if recurrent_grad else s.detach()
        i_new = i_new + s_rec @ rec_weight.t()
    a_new = rho * a + s if _nonzero(alpha) or _nonzero(rho) else a
    return s, ALIFState(u_new, i_new, a_new, ref_new)


def _nonzero(v: torch.Tensor | float) -> bool:
    return isinstance(v, torch.Tensor) or v != 0


def alif_sequence(
    x: torch.Tensor,
    params: ALIFParams,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
    state: ALIFState | None = None,
    record_membrane: bool = False,
) -> tuple[torch.Tensor, ALIFState, torch.Tensor | None]:
    r"""Run :func:`alif_step` over ``x`` ``[T, B, N]`` (reference: plain autograd).

    Returns spikes ``[T, B, N]``, the final state and the membrane trace
    :math:`U[0..T-1]` if ``record_membrane``.
    """
    check_choice("reset mode", reset, ALIF_RESET_MODES)
    if isinstance(params.refractory, bool) or int(params.refractory) != params.refractory or (
        params.refractory < 0
    ):
        raise SpikegradInputError(
            f"refractory must be a whole number of steps >= 0, got {params.refractory!r}"
        )
    T, B, N = x.shape
    if state is None:
        state = ALIFState.zeros(B, N, dtype=x.dtype, device=x.device)

    def step(x_n: torch.Tensor, st: ALIFState) -> tuple[torch.Tensor, ALIFState]:
        return alif_step(x_n, st, params, surrogate, rec_weight=rec_weight, reset=reset,
                         recurrent_grad=recurrent_grad)

    return scan_steps(step, x, state, record_membrane=record_membrane)
