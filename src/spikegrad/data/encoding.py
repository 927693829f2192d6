"""Spike codes for static inputs (images, feature vectors).

Latency code (SpyTorch tutorial 2, used for the Zenke & Vogels 2021 image tasks):
a value ``x`` in [0, 1] above the threshold ``theta`` fires exactly one spike at step

.. math::

    n(x) = \\left\\lfloor \\tau_\\mathrm{eff} \\ln \\frac{x}{x - \\theta} \\right\\rfloor,

and values ``x <= theta`` stay silent. With ``theta = 0.2`` and ``tau_eff = 20`` steps:
``x = 1`` fires at step 4 and ``x = 0.21`` at step 60. Spikes that would fall at or after
``n_steps`` (values just above ``theta``) are dropped, so every input fires at most once
inside the trial.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._checks import SpikegradInputError
from .spikes import SpikeDataset

__all__ = ["latency_steps", "latency_encode"]


def _check_values(x: Tensor, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.is_complex() or x.dtype == torch.bool:
        raise SpikegradInputError(f"{name} must be real intensities in [0, 1], got {x.dtype}")
    x = x.detach().cpu().to(torch.float64)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise SpikegradInputError(f"{name} contains non-finite values (NaN or inf)")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise SpikegradInputError(
            f"{name} must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]"
            " (scale images by their maximum first)"
        )
    return x


def latency_steps(
    x: Tensor, theta: float = 0.2, tau_eff: float = 20.0, n_steps: int = 100
) -> Tensor:
    """Spike step of every value under the latency code; ``-1`` where silent.

    Parameters
    ----------
    x:
        Intensities in [0, 1], any shape.
    theta:
        Threshold in [0, 1); values ``x <= theta`` never fire.
    tau_eff:
        Effective time constant in steps (> 0).
    n_steps:
        Trial length; spikes at step ``>= n_steps`` are dropped (returned as ``-1``).

    Returns
    -------
    Tensor
        int64, same shape as ``x``: ``floor(tau_eff * ln(x / (x - theta)))`` or ``-1``.
    """
    if not (0.0 <= float(theta) < 1.0):
        raise SpikegradInputError(f"theta must lie in [0, 1), got {theta!r}")
    if not (math.isfinite(float(tau_eff)) and float(tau_eff) > 0):
        raise SpikegradInputError(f"tau_eff must be a positive number of steps, got {tau_eff!r}")
    if int(n_steps) < 1:
        raise SpikegradInputError(f"n_steps must be >= 1, got {n_steps!r}")
    x = _check_values(x)
    fire = x > theta
    safe = torch.where(fire, x, torch.ones_like(x))
    t = torch.floor(tau_eff * torch.log(safe / (safe - theta)))
    t = torch.where(fire & (t < n_steps), t, torch.full_like(t, -1.0))
    return t.to(torch.int64)


def latency_encode(
    x: Tensor,
    labels: Tensor,
    n_classes: int | None = None,
    *,
    theta: float = 0.2,
    tau_eff: float = 20.0,
    n_steps: int = 100,
    name: str = "",
) -> SpikeDataset:
    """Latency-code a batch of flattened inputs into a :class:`SpikeDataset`.

    Parameters
    ----------
    x:
        ``[N, P]`` intensities in [0, 1] (images flattened; ``P`` becomes ``n_units``).
    labels:
        ``[N]`` integer class labels.
    n_classes, name:
        As in :class:`SpikeDataset`.
    theta, tau_eff, n_steps:
        As in :func:`latency_steps`.

    Returns
    -------
    SpikeDataset
        One event per firing input, events sorted by unit inside each sample.
    """
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2:
        raise SpikegradInputError(
            f"x must be [N, P] (samples x flattened inputs), got shape {tuple(x.shape)}"
        )
    steps = latency_steps(x, theta, tau_eff, n_steps)
    sample, unit = torch.nonzero(steps >= 0, as_tuple=True)
    times = steps[sample, unit]
    offsets = torch.zeros(x.shape[0] + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.bincount(sample, minlength=x.shape[0]), 0)
    labels = labels if isinstance(labels, Tensor) else torch.as_tensor(labels)
    return SpikeDataset(
        times, unit, offsets, labels.to(torch.int64), n_steps, x.shape[1], n_classes, name
    )
