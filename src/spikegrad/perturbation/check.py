r"""Estimator-vs-finite-difference check on a small recurrent E/I network.

The network (4 Poisson-like inputs frozen across trials, 2 E and 1 I conductance-based
neurons, all-to-all without autapses, every synapse plastic) must make neuron 0's
smoothed rate follow a ramp; :math:`R = -\langle (r_0 - r^*)^2\rangle_t / 10^4`. The
reference gradient is the central finite difference of :math:`\mathbb E_\xi[R]` with
common random numbers; the perturbation estimate is averaged over ``trials`` trials.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch import Tensor

from ..functional.coba import CobaParams, CobaTopology, smoothed_rate
from .estimators import cosine, estimate_gradient, finite_difference_gradient

__all__ = ["GradientCheck", "small_problem", "gradient_check"]


def small_problem(seed: int = 0, steps: int = 60, dtype: torch.dtype = torch.float64):
    """``(net, params, inputs [T, 1, 4], W, reward_fn)`` of the check network."""
    g = torch.Generator().manual_seed(seed)
    net = CobaTopology(n_in=4, n_exc=2, n_inh=1, outputs=torch.tensor([0]))
    p = CobaParams()
    x = (torch.rand(steps, 1, 4, generator=g) < 0.15).to(dtype)
    W = torch.rand(net.n, net.m, generator=g, dtype=dtype) * 8.0 * net.connectivity
    tgt = torch.linspace(0, 100, steps, dtype=dtype).view(-1, 1, 1)

    def reward(sp: Tensor) -> Tensor:
        r = smoothed_rate(sp[:, :, :1], p.dt, 10e-3)
        return -((r - tgt) ** 2).mean(dim=(0, 2)) / 1e4

    return net, p, x, W, reward


@dataclass
class GradientCheck:
    """Result of :func:`gradient_check`."""

    finite_difference: Tensor
    estimate: Tensor
    mask: Tensor
    cosines: dict[int, float]
    trials: int
    fd_trials: int
    sigma: float
    method: str
    wall_seconds: float

    @property
    def gradient_cosine(self) -> float:
        """Cosine of the estimate from all trials with the finite difference."""
        return self.cosines[self.trials]


def gradient_check(
    trials: int = 4000,
    *,
    fd_trials: int = 4000,
    sigma: float = 1.0,
    h: float = 0.5,
    method: str = "conductance",
    seed: int = 0,
    steps: int = 60,
) -> GradientCheck:
    """Compare the averaged perturbation estimate with finite differences.

    ``cosines`` maps a number of trials ``k`` (powers of ten up to ``trials``, and
    ``trials``) to the mean cosine of estimates from disjoint blocks of ``k`` trials.
    """
    t0 = time.perf_counter()
    net, p, x, W, reward = small_problem(seed, steps)
    fd, mask = finite_difference_gradient(
        W, net, p, x, reward, sigma=sigma, n_trials=fd_trials, h=h,
        generator=torch.Generator().manual_seed(seed + 1),
    )
    g, _, _ = estimate_gradient(
        method, W, net, p, x, reward, sigma=sigma, n_trials=trials,
        generator=torch.Generator().manual_seed(seed + 2),
    )
    ks = [k for k in (1, 10, 100, 1000, 10000, 100000) if k < trials] + [trials]
    cos = {}
    for k in ks:
        blocks = g[: (trials // k) * k].split(k)
        cos[k] = sum(cosine(b.mean(0), fd, mask) for b in blocks) / len(blocks)
    return GradientCheck(fd, g.mean(0), mask, cos, trials, fd_trials, sigma, method,
                         time.perf_counter() - t0)
