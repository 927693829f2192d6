r"""Losses on spike and membrane outputs ``[T, B, K]`` (time-major), each a batch mean.

====================================  ======================================================
function                              loss
====================================  ======================================================
:func:`ce_count_loss`                 :math:`-\log\mathrm{softmax}(c)_y` of the spike counts
                                      :math:`c_k = \sum_n S_k[n]`
:func:`ce_rate_loss`                  :math:`\frac1T\sum_n -\log\mathrm{softmax}(S[n])_y`
                                      (snnTorch's ``ce_rate_loss``)
:func:`mse_count_loss`                :math:`\frac1K\sum_k (c_k - c^*_k)^2`, target count
                                      ``correct`` for class ``y``, ``incorrect`` otherwise
:func:`mse_membrane_loss`             :math:`\frac{1}{TK}\sum_{n,k} (U_k[n] - u^*_k)^2`, target
                                      ``on`` for class ``y``, ``off`` otherwise
:func:`van_rossum_loss`               squared van Rossum distance to target trains
                                      (:func:`~spikegrad.functional.spike_kernels.van_rossum_binned`),
                                      summed over neurons
:func:`first_spike_time_loss`         :math:`-\log\mathrm{softmax}(-t/\tau)_y` of the
                                      differentiable first-spike times :math:`t_k`
====================================  ======================================================

First-spike time of a train :math:`S[0..T-1]` (values in [0, 1]; with surrogate
spikes the expression carries the surrogate gradient):

.. math::

    t = \sum_{n} n\,S[n] \prod_{m<n} (1 - S[m]) + T \prod_{m} (1 - S[m])

which is the step of the first spike, or :math:`T` for a silent neuron.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from .._checks import SpikegradInputError, check_positive
from .spike_kernels import van_rossum_binned

__all__ = [
    "ce_count_loss",
    "ce_rate_loss",
    "mse_count_loss",
    "mse_membrane_loss",
    "van_rossum_loss",
    "first_spike_times",
    "first_spike_time_loss",
]


def _check(x: torch.Tensor, y: torch.Tensor | None, name: str) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SpikegradInputError(f"{name} must be a floating [T, B, K] tensor, got {shape}")
    if y is not None:
        if not isinstance(y, torch.Tensor) or y.shape != (x.shape[1],) or y.is_floating_point():
            raise SpikegradInputError(
                f"y must be integer class labels [B] = [{x.shape[1]}], got "
                f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}"
            )
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= x.shape[2]):
            raise SpikegradInputError(f"y must lie in [0, {x.shape[2]}), got {y.tolist()}")


def ce_count_loss(spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the spike counts used as logits."""
    _check(spikes, y, "spikes")
    return F.cross_entropy(spikes.sum(0), y)


def ce_rate_loss(spikes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the spikes at every step, averaged over time."""
    _check(spikes, y, "spikes")
    T, B, K = spikes.shape
    return F.cross_entropy(spikes.reshape(T * B, K), y.repeat(T))


def mse_count_loss(
    spikes: torch.Tensor, y: torch.Tensor, *, correct: float, incorrect: float = 0.0
) -> torch.Tensor:
    """Mean squared error of spike counts to ``correct`` (class ``y``) / ``incorrect`` spikes."""
    _check(spikes, y, "spikes")
    target = torch.full_like(spikes[0], float(incorrect))
    target.scatter_(1, y[:, None], float(correct))
    return ((spikes.sum(0) - target) ** 2).mean()


def mse_membrane_loss(
    membrane: torch.Tensor, y: torch.Tensor, *, on: float = 1.0, off: float = 0.0
) -> torch.Tensor:
    """Mean squared error of the membrane at every step to ``on`` (class ``y``) / ``off``."""
    _check(membrane, y, "membrane")
    target = torch.full_like(membrane[0], float(off))
    target.scatter_(1, y[:, None], float(on))
    return ((membrane - target) ** 2).mean()


def van_rossum_loss(
    spikes: torch.Tensor, target: torch.Tensor, *, tau: float = 10e-3, dt: float = 1e-3
) -> torch.Tensor:
    """Squared van Rossum distance of ``spikes`` to ``target`` trains (both ``[T, B, K]``),
    summed over neurons, averaged over the batch."""
    _check(spikes, None, "spikes")
    return van_rossum_binned(spikes, target.to(spikes.dtype), tau, dt).sum(-1).mean()


def first_spike_times(spikes: torch.Tensor) -> torch.Tensor:
    """Differentiable first-spike step of every train, ``[B, K]`` (``T`` where silent)."""
    _check(spikes, None, "spikes")
    T = spikes.shape[0]
    silent = torch.cumprod(1.0 - spikes, dim=0)  # prod_{m <= n}
    before = torch.cat([torch.ones_like(silent[:1]), silent[:-1]])  # prod_{m < n}
    steps = torch.arange(T, dtype=spikes.dtype, device=spikes.device).reshape(T, 1, 1)
    return (steps * spikes * before).sum(0) + T * silent[-1]


def first_spike_time_loss(
    spikes: torch.Tensor, y: torch.Tensor, *, tau: float = 5.0
) -> torch.Tensor:
    r"""Cross-entropy of :math:`-t_k/\tau` (``tau`` in steps): the correct neuron should
    fire first (snnTorch's ``ce_temporal_loss``, Mostafa 2017's time-to-first-spike coding)."""
    _check(spikes, y, "spikes")
    tau = check_positive("tau", tau)
    return F.cross_entropy(-first_spike_times(spikes) / tau, y)
