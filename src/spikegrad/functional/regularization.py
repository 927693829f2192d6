r"""Activity regularisation on hidden spike counts (Zenke & Vogels 2021, Sec. 4.1.3).

With :math:`z_i^\mu = \sum_n S_i^\mu[n]` the spike count of neuron :math:`i` on
sample :math:`\mu` (``M`` samples, ``N`` neurons):

* per-neuron **lower bound** (wakes silent neurons up):
  :math:`L_\text{low} = \lambda_l \frac{1}{MN} \sum_{\mu,i} [\nu_l - z_i^\mu]_+^2`,
  defaults :math:`\lambda_l = 100`, :math:`\nu_l = 10^{-3}`;
* population **upper bound** on the mean count per neuron per sample
  :math:`\bar z^\mu = \frac{1}{N}\sum_i z_i^\mu`:
  :math:`L_\text{up} = \lambda_u \frac{1}{M}\sum_\mu [\bar z^\mu - \nu_u]_+^p`,
  with :math:`p = 1` (L1) or :math:`p = 2` (L2).

Both are summed over hidden layers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import SpikegradInputError, check_nonnegative

__all__ = ["ActivityRegularizer", "spike_counts", "mean_spikes_per_neuron"]

_FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def _check_spike_list(spikes: object) -> None:
    """``spikes`` must be a non-empty list / tuple of floating ``[T, B, N]`` tensors."""
    if not isinstance(spikes, (list, tuple)):
        raise TypeError(
            "spikes must be a list or tuple of hidden spike tensors [T, B, N] (e.g. "
            f"SNNOutput.spikes), got {type(spikes).__name__}"
        )
    if not spikes:
        raise SpikegradInputError("spikes is empty: pass one [T, B, N] tensor per hidden layer")
    for k, s in enumerate(spikes):
        if not isinstance(s, torch.Tensor):
            raise TypeError(f"spikes[{k}] must be a torch.Tensor, got {type(s).__name__}")
        if s.dim() != 3 or not s.is_floating_point():
            raise SpikegradInputError(
                f"spikes[{k}] must be a floating [T, B, N] tensor, got shape "
                f"{tuple(s.shape)} and dtype {s.dtype}"
            )
        if s.shape[1] == 0 or s.shape[2] == 0:
            raise SpikegradInputError(
                f"spikes[{k}] has shape {tuple(s.shape)}: no samples or no neurons, so the "
                "mean activity is undefined"
            )


def spike_counts(spikes: torch.Tensor) -> torch.Tensor:
    """Spike count per sample and neuron, ``[B, N]``, from spikes ``[T, B, N]``."""
    return spikes.sum(dim=0)


def mean_spikes_per_neuron(spikes: Sequence[torch.Tensor]) -> float:
    """Mean spike count per hidden neuron per sample, over all given layers ``[T, B, N]``."""
    total = sum(float(s.detach().sum()) for s in spikes)
    n = sum(s.shape[1] * s.shape[2] for s in spikes)
    return total / max(n, 1)


@dataclass(frozen=True)
class ActivityRegularizer:
    """Lower (per neuron) and upper (population) bounds on hidden spike counts.

    Parameters
    ----------
    lower_strength, lower_threshold:
        :math:`\\lambda_l` and :math:`\\nu_l` (defaults 100 and 1e-3).
    upper_strength, upper_threshold:
        :math:`\\lambda_u` and :math:`\\nu_u` (default 0: off; threshold 4 spikes).
    upper_norm:
        1 (L1) or 2 (L2, default).
    """

    lower_strength: float = 100.0
    lower_threshold: float = 1e-3
    upper_strength: float = 0.0
    upper_threshold: float = 4.0
    upper_norm: int = 2

    def __post_init__(self) -> None:
        for name in ("lower_strength", "lower_threshold", "upper_strength", "upper_threshold"):
            v = check_nonnegative(name, getattr(self, name))
            if v > _FLOAT32_MAX:  # would be inf in a float32 loss, and inf * 0 = NaN
                raise SpikegradInputError(f"{name} must be <= {_FLOAT32_MAX:.4g}, got {v!r}")
            object.__setattr__(self, name, v)  # a float, even if given as "1" or an int
        if self.upper_norm not in (1, 2):
            raise SpikegradInputError(f"upper_norm must be 1 or 2, got {self.upper_norm!r}")

    def __call__(self, spikes: Sequence[torch.Tensor]) -> torch.Tensor:
        """Regularisation loss for a list of hidden spike tensors ``[T, B, N]``."""
        _check_spike_list(spikes)
        loss = spikes[0].new_zeros(())
        for s in spikes:
            z = spike_counts(s)
            if self.lower_strength > 0:
                loss = (
                    loss + self.lower_strength * torch.relu(self.lower_threshold - z).pow(2).mean()
                )
            if self.upper_strength > 0:
                excess = torch.relu(z.mean(dim=1) - self.upper_threshold)
                loss = loss + self.upper_strength * excess.pow(self.upper_norm).mean()
        return loss
