r"""Coincidence detector: a leaky integrate-and-fire neuron with reset to rest, no synapse state.

For one tick :math:`t` with input current :math:`I[t]` (already weighted) and
membrane :math:`U[t-1]`:

.. math::

    V[t] &= \alpha\, U[t-1] + I[t], \qquad
            \alpha = e^{-\Delta t/\tau}\ \ (\alpha = 0 \text{ for } \tau = 0) \\
    S[t] &= \Theta(V[t] - \theta), \qquad \Theta(0) = 0 \\
    U[t] &= V[t]\,(1 - S[t]) \qquad \text{(reset to rest)}

:math:`\tau` and :math:`\Delta t` are in seconds (:func:`detector_decay`); the step
itself only sees the per-tick factor :math:`\alpha` (``DetectorParams.decay``).
With :math:`\alpha = 0` the membrane forgets everything after one tick (exact
coincidence: the neuron fires iff the current of one tick exceeds :math:`\theta`);
with :math:`\alpha > 0` spikes a few ticks apart add up, so the leak sets the jitter
tolerance. Unlike :func:`~spikegrad.functional.lif.lif_step` (eq. 4.1) there is no
synaptic current and no :math:`(1 - \beta)` input factor, and no surrogate: the
detector is a fixed (untrained) forward model, spikes are plain 0/1 floats.

Everything here is pure, ``detector_step(x, state, params) -> (spikes, state)``,
with NamedTuple state and parameters; any tensor shape works (the symmetry network
runs it on ``[B, H, W]`` frames), and sequences are time-major ``[T, ...]``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_nonnegative, check_positive
from .lif import decay as _decay

__all__ = [
    "DetectorParams",
    "DetectorState",
    "detector_decay",
    "detector_step",
    "detector_sequence",
]


class DetectorParams(NamedTuple):
    r"""Per-tick membrane factor :math:`\alpha = e^{-\Delta t/\tau}`, threshold :math:`\theta`."""

    decay: float
    threshold: float


class DetectorState(NamedTuple):
    """Membrane ``u`` after the last tick (any shape, e.g. ``[B, H, W]``)."""

    u: torch.Tensor

    @classmethod
    def zeros(
        cls,
        shape: tuple[int, ...] | torch.Size,
        *,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> DetectorState:
        """The resting state :math:`U = 0`."""
        return cls(torch.zeros(tuple(shape), dtype=dtype, device=device))


def detector_decay(tau: float, dt: float) -> float:
    r"""Per-tick factor :math:`\alpha = e^{-\Delta t/\tau}`, 0 for :math:`\tau = 0`.

    Parameters
    ----------
    tau:
        Membrane time constant in seconds (>= 0; 0: no memory).
    dt:
        Tick length in seconds (> 0).
    """
    tau = check_nonnegative("tau", tau)
    dt = check_positive("dt", dt)
    return 0.0 if tau == 0.0 else float(_decay(tau, dt))


def detector_step(
    x: torch.Tensor, state: DetectorState, params: DetectorParams
) -> tuple[torch.Tensor, DetectorState]:
    r"""One tick: :math:`V = \alpha U + I`, :math:`S = \Theta(V - \theta)`, :math:`U' = V(1 - S)`.

    Parameters
    ----------
    x:
        Input current :math:`I[t]` (already weighted), any shape.
    state:
        :math:`U[t-1]`, same shape as ``x`` (ignored when ``params.decay == 0``).
    params:
        :math:`\alpha` and :math:`\theta`.

    Returns
    -------
    spikes, new_state
        :math:`S[t]` (0/1 in the dtype of ``x``) and :math:`U[t]`.
    """
    v = params.decay * state.u + x if params.decay else x
    s = (v > params.threshold).to(v.dtype)
    return s, DetectorState(torch.addcmul(v, v, s, value=-1.0))  # V (1 - S), one kernel


def detector_sequence(
    x: torch.Tensor, params: DetectorParams, state: DetectorState | None = None
) -> tuple[torch.Tensor, DetectorState]:
    """Run :func:`detector_step` over a time-major current ``[T, ...]``.

    Returns the spikes ``[T, ...]`` and the final state (the state starts at rest
    unless ``state`` is given).
    """
    if not isinstance(x, torch.Tensor) or x.dim() < 1 or x.shape[0] == 0:
        raise SpikegradInputError(
            "x must be a time-major tensor [T, ...] with at least one step"
        )
    if state is None:
        state = DetectorState.zeros(x.shape[1:], dtype=x.dtype, device=x.device)
    out = []
    for xt in x:
        s, state = detector_step(xt, state, params)
        out.append(s)
    return torch.stack(out), state
