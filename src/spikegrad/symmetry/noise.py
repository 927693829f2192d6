r"""Noise models for the symmetry network (the paper's concept; the models are spikegrad's).

George et al. (2021) report that added noise can improve feature detectability by
creating coincidence points. spikegrad offers two noise models, both drawn only
from an explicit generator:

* **intensity noise** before the pixel-to-spike rule:
  :math:`\tilde x_p = x_p + \sigma\,\xi_p`, :math:`\xi_p \sim \mathcal N(0, 1)`
  (no clipping; the threshold sees :math:`\tilde x`);
* **random extra spikes**: every *silent* input pixel spikes with probability
  :math:`\rho`, at a tick drawn uniformly from the code's :math:`T` ticks (so each
  pixel still spikes at most once).
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError, check_nonnegative

__all__ = ["add_intensity_noise", "add_spike_noise", "add_time_noise"]


def _check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            "generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)); "
            f"got {type(generator).__name__}"
        )
    return generator


def _check_rate(rate: float) -> float:
    r = check_nonnegative("rate", rate)
    if r > 1:
        raise SpikegradInputError(f"rate must be a probability in [0, 1], got {rate!r}")
    return r


def add_intensity_noise(
    image: torch.Tensor, sigma: float, generator: torch.Generator
) -> torch.Tensor:
    r"""Return :math:`x + \sigma \xi`, :math:`\xi` standard normal (float image ``[..., H, W]``)."""
    sigma = check_nonnegative("sigma", sigma)
    _check_generator(generator)
    if sigma == 0:
        return image
    xi = torch.randn(image.shape, generator=generator, dtype=image.dtype)
    return image + sigma * xi


def add_spike_noise(spikes: torch.Tensor, rate: float, generator: torch.Generator) -> torch.Tensor:
    r"""Add random spikes to silent pixels of time-major spikes ``[T, B, H, W]``.

    A pixel without any spike gets one with probability ``rate``, at a uniform
    random tick :math:`t \in \{0, \dots, T-1\}`.
    """
    rate = _check_rate(rate)
    _check_generator(generator)
    if rate == 0:
        return spikes
    T = spikes.shape[0]
    silent = spikes.sum(0) == 0
    extra = (torch.rand(silent.shape, generator=generator) < rate) & silent
    tick = torch.randint(0, T, silent.shape, generator=generator)
    onehot = torch.zeros_like(spikes)
    onehot.scatter_(0, tick.unsqueeze(0), extra.to(spikes.dtype).unsqueeze(0))
    return spikes + onehot


def add_time_noise(
    times: torch.Tensor, rate: float, generator: torch.Generator, *, span: float = 0.0
) -> torch.Tensor:
    """Event-driven counterpart of :func:`add_spike_noise` on spike times ``[B, H, W]``.

    A silent pixel (``inf``) gets a spike with probability ``rate`` at a time drawn
    uniformly from ``[0, span)`` (``span = 0``: at time 0, as for single-tick codes).
    """
    rate = _check_rate(rate)
    span = check_nonnegative("span", span)
    _check_generator(generator)
    if rate == 0:
        return times
    silent = torch.isinf(times)
    extra = (torch.rand(times.shape, generator=generator) < rate) & silent
    t_new = torch.rand(times.shape, generator=generator, dtype=times.dtype) * span
    return torch.where(extra, t_new, times)
