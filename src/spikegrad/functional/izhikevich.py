r"""Izhikevich (2003) neurons as a pure step, in spikegrad's conventions.

The model in its published dimensionless form (membrane :math:`v` in "mV", time in
ms, recovery :math:`u`):

.. math::

    \dot v = 0.04 v^2 + 5 v + 140 - u + I, \qquad \dot u = a (b v - u),
    \qquad v \ge v_\text{peak} \Rightarrow v \leftarrow c,\; u \leftarrow u + d

Discretised with forward Euler at :math:`h = 1000\,\Delta t` ms (``dt`` in seconds at
the boundary) and spikegrad's step order (spike from the current state, then reset and
integrate), for step :math:`n`:

.. math::

    S[n] &= \Theta_H\big((V[n] - v_\text{peak}) / v_\text{scale}\big) \\
    \hat V &= V[n] (1 - S[n]) + c\,S[n], \qquad \hat U = U[n] + d\,S[n] \\
    V[n+1] &= \hat V + h\,(0.04 \hat V^2 + 5 \hat V + 140 - \hat U + I[n]) \\
    U[n+1] &= \hat U + h\,a\,(b \hat V - \hat U)

:math:`I[n]` is the projected input :math:`W S_\text{in}[n]` (no synaptic filter). The
surrogate sees the distance to the peak in units of ``v_scale`` (default 10 "mV"), so
the surrogate's ``beta`` has its usual meaning for a distance of order 1. ``reset``:
``"detach"`` (default) stops the gradient through both resets, ``"differentiable"``
keeps it. The state starts at rest: :math:`V = c`, :math:`U = b c`.
Izhikevich's published simulation splits the v update into two half steps for
stability; with the plain Euler step use ``dt <= 1e-3`` s (``h <= 1`` ms).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import check_choice
from .lif import scan_steps
from .surrogate import Surrogate

__all__ = [
    "IZHIKEVICH_PRESETS",
    "IZHIKEVICH_RESET_MODES",
    "IzhikevichParams",
    "IzhikevichState",
    "izhikevich_step",
    "izhikevich_sequence",
]

#: Reset modes of the Izhikevich step.
IZHIKEVICH_RESET_MODES = ("detach", "differentiable")

#: (a, b, c, d) of the firing classes of Izhikevich 2003, Fig. 2.
IZHIKEVICH_PRESETS: dict[str, tuple[float, float, float, float]] = {
    "regular_spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast_spiking": (0.1, 0.2, -65.0, 2.0),
    "low_threshold_spiking": (0.02, 0.25, -65.0, 2.0),
}


class IzhikevichParams(NamedTuple):
    """``a, b, c, d`` (numbers or ``[N]`` tensors), ``h`` (step in ms), peak and scale."""

    a: torch.Tensor | float = 0.02
    b: torch.Tensor | float = 0.2
    c: torch.Tensor | float = -65.0
    d: torch.Tensor | float = 8.0
    h: float = 1.0
    v_peak: float = 30.0
    v_scale: float = 10.0


class IzhikevichState(NamedTuple):
    """Membrane ``v`` and recovery ``u``, each ``[B, N]``."""

    v: torch.Tensor
    u: torch.Tensor

    @classmethod
    def rest(
        cls, batch: int, n: int, params: IzhikevichParams, *, dtype=torch.float32, device=None
    ) -> IzhikevichState:
        """:math:`V = c`, :math:`U = b c`."""
        z = torch.zeros(batch, n, dtype=dtype, device=device)
        v = z + params.c
        return cls(v, v * params.b)


def izhikevich_step(
    x: torch.Tensor,
    state: IzhikevichState,
    params: IzhikevichParams,
    surrogate: Surrogate,
    *,
    reset: str = "detach",
) -> tuple[torch.Tensor, IzhikevichState]:
    """One Euler step of the Izhikevich model (module docstring); ``x`` is ``I[n]``."""
    v, u = state
    a, b, c, d, h, vp, vs = params
    s = surrogate.spike((v - vp) / vs)
    sr = s.detach() if reset == "detach" else s
    v_hat = v * (1.0 - sr) + c * sr
    u_hat = u + d * sr
    v_new = v_hat + h * (0.04 * v_hat * v_hat + 5.0 * v_hat + 140.0 - u_hat + x)
    u_new = u_hat + h * a * (b * v_hat - u_hat)
    return s, IzhikevichState(v_new, u_new)


def izhikevich_sequence(
    x: torch.Tensor,
    params: IzhikevichParams,
    surrogate: Surrogate,
    *,
    reset: str = "detach",
    state: IzhikevichState | None = None,
    record_membrane: bool = False,
) -> tuple[torch.Tensor, IzhikevichState, torch.Tensor | None]:
    """Run the step over ``x`` ``[T, B, N]`` from rest (reference, plain autograd).

    Returns spikes ``[T, B, N]``, the final state and the trace ``V[0..T-1]`` if asked.
    """
    check_choice("reset mode", reset, IZHIKEVICH_RESET_MODES)
    T, B, N = x.shape
    if state is None:
        state = IzhikevichState.rest(B, N, params, dtype=x.dtype, device=x.device)

    def step(x_n: torch.Tensor, st: IzhikevichState) -> tuple[torch.Tensor, IzhikevichState]:
        return izhikevich_step(x_n, st, params, surrogate, reset=reset)

    return scan_steps(step, x, state, record_membrane=record_membrane)
