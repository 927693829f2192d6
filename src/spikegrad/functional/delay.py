r"""Synaptic and axonal delays on time-major spike tensors, fixed or learnable.

A delay of :math:`d` steps (``0 <= d <= D``, ``D = max_delay``) is a causal
filter over the last :math:`D + 1` steps with taps :math:`K_d[k]`,
:math:`k = 0..D`:

.. math::

    y[n] = \sum_{k=0}^{D} K_d[k]\, x[n - k] \qquad (x[n] = 0 \text{ for } n < 0).

Interpolation modes (spikegrad's implementation, in the spirit of Hammouamri
et al. 2023, "learnable delays via dilated convolutions with learnable
spacings"):

* ``"linear"`` (fractional delay): :math:`K_d[k] = \max(0, 1 - |k - d|)`, i.e.
  :math:`y[n] = (1 - \phi)\,x[n - \lfloor d\rfloor] + \phi\,x[n - \lfloor d\rfloor - 1]`
  with :math:`\phi = d - \lfloor d\rfloor`. Exact for integer :math:`d`;
  :math:`\partial y[n]/\partial d = x[n - \lfloor d\rfloor - 1] - x[n - \lfloor d\rfloor]`.
* ``"gaussian"``: :math:`K_d[k] = e^{-(k-d)^2/2\sigma^2} / \sum_j e^{-(j-d)^2/2\sigma^2}`
  (normalised taps; a wider :math:`\sigma` lets the delay gradient see further,
  as DCLS does early in training -- shrink it towards 0.5 steps over training).
* ``"integer"``: forward with the rounded delay, :math:`K = \text{onehot}(\mathrm{round}(d))`,
  backward through the ``"linear"`` taps (straight-through estimator), so integer
  delays are trained by surrogate gradients.

Units: :func:`delay_channels` and :func:`delayed_linear` take the delays, ``max_delay``
and the Gaussian ``sigma`` in **seconds** when given ``dt`` (seconds per step), the
form every module, task and command uses; they convert once,
:math:`d_\text{steps} = d / \Delta t` (:func:`to_steps`: in float64, and within
:data:`WHOLE_STEP_TOL` of a whole step it is that step, so whole multiples of ``dt`` are
exact whole steps in any dtype), and ``max_delay`` must be a whole number of steps.
Without ``dt`` the same arguments are in steps: the step-level form that
:func:`delay_taps` always uses and that the symmetry detectors call with their ticks.
Delays are clamped to ``[0, D]`` inside the functions. Everything runs as one
``conv1d`` over time (depth-wise for per-channel delays).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor

__all__ = [
    "DELAY_MODES",
    "delay_taps",
    "shift",
    "delay_channels",
    "delayed_linear",
    "to_steps",
    "max_delay_steps",
    "WHOLE_STEP_TOL",
]

#: Valid interpolation modes.
DELAY_MODES = ("linear", "gaussian", "integer")


def _check_max_delay(max_delay: float) -> int:
    if isinstance(max_delay, bool) or int(max_delay) != max_delay or int(max_delay) < 0:
        raise SpikegradInputError(
            f"max_delay must be an integer number of steps >= 0, got {max_delay!r} "
            "(pass dt to give delays in seconds)"
        )
    return int(max_delay)


#: a delay within this many steps of a whole step is that whole step (see :func:`to_steps`)
WHOLE_STEP_TOL = 1e-5


def to_steps(delays: torch.Tensor, dt: float) -> torch.Tensor:
    r"""Delays in seconds as (fractional) steps :math:`d/\Delta t`, differentiable.

    Divided in float64; a result within :data:`WHOLE_STEP_TOL` steps of a whole number is
    set to it (the round-off of seconds stored in float32, e.g. ``3e-3`` -> 2.9999998
    steps, would otherwise blur an exact delay line; the gradient passes unchanged),
    then cast back to ``delays.dtype``.
    """
    dt = check_positive("dt", dt)
    if not isinstance(delays, torch.Tensor) or not delays.is_floating_point():
        raise TypeError("delays must be a floating torch.Tensor (in seconds)")
    steps = delays.to(torch.float64) / dt
    whole = steps.detach().round()
    snap = torch.where((steps.detach() - whole).abs() <= WHOLE_STEP_TOL, whole, steps.detach())
    return (steps + (snap - steps.detach())).to(delays.dtype)


def max_delay_steps(max_delay: float, dt: float) -> int:
    """``max_delay`` seconds as a whole number of steps ``D`` (it must be one, within 1e-6)."""
    dt = check_positive("dt", dt)
    if isinstance(max_delay, bool) or not isinstance(max_delay, (int, float)):
        raise SpikegradInputError(f"max_delay must be a number of seconds, got {max_delay!r}")
    if not max_delay >= 0 or max_delay == float("inf"):
        raise SpikegradInputError(f"max_delay must be a finite number >= 0 s, got {max_delay!r}")
    steps = max_delay / dt
    if abs(steps - round(steps)) > 1e-6:
        raise SpikegradInputError(
            f"max_delay={max_delay!r} s is not a whole number of steps dt={dt!r} s"
        )
    return int(round(steps))


def _step_args(
    delays: torch.Tensor, max_delay: float, sigma: float, dt: float | None
) -> tuple[torch.Tensor, int, float]:
    """The delays, ``D`` and ``sigma`` in steps (converted from seconds when ``dt``)."""
    if dt is None:
        return delays, _check_max_delay(max_delay), sigma
    return (
        to_steps(delays, dt),
        max_delay_steps(max_delay, dt),
        check_positive("sigma", sigma) / dt,
    )


def delay_taps(
    delays: torch.Tensor, max_delay: int, mode: str = "linear", sigma: float = 1.0
) -> torch.Tensor:
    r"""Filter taps :math:`K_d[k]`, ``k = 0..max_delay``, shape ``[*delays.shape, max_delay + 1]``.

    ``delays`` (steps, floating) are clamped to ``[0, max_delay]`` first.
    """
    D = _check_max_delay(max_delay)
    check_choice("delay mode", mode, DELAY_MODES)
    if not isinstance(delays, torch.Tensor) or not delays.is_floating_point():
        raise TypeError("delays must be a floating torch.Tensor (in time steps)")
    d = delays.clamp(0.0, float(D)).unsqueeze(-1)
    k = torch.arange(D + 1, dtype=delays.dtype, device=delays.device)
    lin = (1.0 - (k - d).abs()).clamp_min(0.0)
    if mode == "linear":
        return lin
    if mode == "integer":
        hard = (k == torch.round(d.detach())).to(delays.dtype)
        return hard + (lin - lin.detach())
    sigma = check_positive("sigma", sigma)
    g = torch.exp(-0.5 * ((k - d) / sigma) ** 2)
    return g / g.sum(-1, keepdim=True)


def shift(x: torch.Tensor, steps: torch.Tensor | int) -> torch.Tensor:
    r"""Exact integer delay per channel: :math:`y[n, b, c] = x[n - k_c, b, c]` (zeros before).

    ``x`` is ``[T, B, N]``; ``steps`` an int or an integer ``[N]`` tensor (>= 0).
    Not differentiable in ``steps`` (a plain fixed delay line).
    """
    check_sequence_tensor("x", x, finite=False)
    T, B, N = x.shape
    st = torch.as_tensor(steps, device=x.device)
    if st.is_floating_point():
        raise SpikegradInputError(
            "steps must be integers; use delay_channels for fractional delays"
        )
    st = st.to(torch.long).expand(N) if st.dim() == 0 else st.to(torch.long)
    if st.shape != (N,):
        raise SpikegradInputError(
            f"steps must be an int or have shape [{N}], got {tuple(st.shape)}"
        )
    if bool((st < 0).any()):
        raise SpikegradInputError("steps must be >= 0 (delays cannot look into the future)")
    src = torch.arange(T, device=x.device).unsqueeze(1) - st.unsqueeze(0)  # [T, N]
    valid = src >= 0
    idx = src.clamp_min(0).unsqueeze(1).expand(T, B, N)
    out = torch.gather(x, 0, idx)
    return out * valid.unsqueeze(1).to(x.dtype)


def _causal_conv(x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """``x`` [T, B, C], ``weight`` [O, C/groups, D+1] with tap k = delay k -> [T, B, O]."""
    D = weight.shape[-1] - 1
    xb = x.permute(1, 2, 0)  # [B, C, T]
    xb = F.pad(xb, (D, 0))
    y = F.conv1d(xb, weight.flip(-1), groups=groups)  # cross-correlation: flip taps
    return y.permute(2, 0, 1)


def delay_channels(
    x: torch.Tensor,
    delays: torch.Tensor,
    max_delay: float,
    *,
    mode: str = "linear",
    sigma: float = 1.0,
    dt: float | None = None,
) -> torch.Tensor:
    r"""Delay every channel of ``x`` ``[T, B, N]`` by its own ``delays[c]`` -> ``[T, B, N]``.

    :math:`y[n, b, c] = \sum_k K_{d_c}[k]\,x[n - k, b, c]` (see the module notes).
    ``delays``, ``max_delay`` and ``sigma`` in seconds with ``dt``, in steps without.
    Differentiable in ``x`` and ``delays``.
    """
    check_sequence_tensor("x", x, finite=False)
    N = x.shape[-1]
    if delays.shape != (N,):
        raise SpikegradInputError(f"delays must have shape [{N}], got {tuple(delays.shape)}")
    delays, max_delay, sigma = _step_args(delays, max_delay, sigma, dt)
    taps = delay_taps(delays.to(x.dtype), max_delay, mode, sigma)  # [N, D+1]
    return _causal_conv(x, taps.unsqueeze(1), groups=N)


def delayed_linear(
    x: torch.Tensor,
    weight: torch.Tensor,
    delays: torch.Tensor,
    max_delay: float,
    *,
    mode: str = "linear",
    sigma: float = 1.0,
    dt: float | None = None,
) -> torch.Tensor:
    r"""Per-synapse delayed currents :math:`I[n, b, o] = \sum_i w_{oi}\sum_k K_{d_{oi}}[k]
    x[n - k, b, i]`, ``[T, B, O]``.

    ``x`` ``[T, B, I]`` spikes, ``weight`` and ``delays`` ``[O, I]``; ``delays``,
    ``max_delay`` and ``sigma`` in seconds with ``dt``, in steps without.
    With all delays 0 this is ``x @ weight.T``. Differentiable in all three.
    """
    check_sequence_tensor("x", x, finite=False)
    if weight.dim() != 2 or weight.shape[1] != x.shape[-1]:
        raise SpikegradInputError(f"weight must be [O, {x.shape[-1]}], got {tuple(weight.shape)}")
    if delays.shape != weight.shape:
        raise SpikegradInputError(
            f"delays must have the weight's shape {tuple(weight.shape)}, got {tuple(delays.shape)}"
        )
    delays, max_delay, sigma = _step_args(delays, max_delay, sigma, dt)
    taps = delay_taps(delays.to(x.dtype), max_delay, mode, sigma)  # [O, I, D+1]
    return _causal_conv(x, weight.to(x.dtype).unsqueeze(-1) * taps, groups=1)
