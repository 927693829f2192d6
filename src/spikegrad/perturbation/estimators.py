r"""Gradient estimates of a trial objective on a conductance-based network (analysis tools).

:func:`estimate_gradient` returns an estimate of :math:`\nabla_W J` with
:math:`J = \mathbb E[R]`, one per trial (``[K, N, M]``) so that means, variances and
convergence can be studied. The perturbative estimators are those of the learning rules
(:func:`spikegrad.learning.rules.perturbation.coba_estimates`: ``conductance``,
``empiric``, ``current``, ``weight``); ``bptt`` is the :class:`~spikegrad.learning.rules.
BPTT` rule on a :class:`~spikegrad.nn.CobaSpikingNetwork`: surrogate-gradient BPTT of one
noise-free trial's reward (a biased, deterministic descent direction; exact with a
``Relaxed`` surrogate). Spikes there are ``surrogate.spike((V - V_th)/(V_th - V_reset))``
(default ``SuperSpike(10)``); reset and refractory clamp are detached.

:func:`finite_difference_gradient` is the reference: central differences of the Monte
Carlo mean of :math:`R` over the *same* noise samples for :math:`W \pm h` (common random
numbers).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_positive
from ..functional.coba import CobaParams, CobaTopology
from ..functional.surrogate import SuperSpike, Surrogate
from ..learning.rules.bptt import BPTT
from ..learning.rules.perturbation import (
    EmpiricSynapses,
    RunningBaseline,
    check_baseline,
    coba_estimates,
    run_rewards,
    white_noise,
)
from ..nn.coba import CobaSpikingNetwork

__all__ = [
    "ESTIMATORS",
    "RewardFn",
    "run_rewards",
    "estimate_gradient",
    "finite_difference_gradient",
    "cosine",
]

#: Gradient estimators (see the module docstring).
ESTIMATORS = ("conductance", "empiric", "current", "weight", "bptt")

#: Reward of a trial batch from the network's spikes ``[T, B, N]`` -> ``[B]``.
RewardFn = Callable[[Tensor], Tensor]


def _expand(inputs: Tensor, B: int) -> Tensor:
    if inputs.dim() != 3:
        raise SpikegradInputError(
            f"inputs must be time-major [T, B, n_in], got {tuple(inputs.shape)}"
        )
    if inputs.shape[1] in (1, B):
        return inputs.expand(-1, B, -1)
    raise SpikegradInputError(
        f"inputs has batch {inputs.shape[1]}; expected 1 (shared) or {B} (one per trial)"
    )


class _RewardObjective:
    """The loss ``-mean R`` of a reward function, for the BPTT rule (``loss`` only)."""

    def __init__(self, reward_fn: RewardFn) -> None:
        self.reward_fn = reward_fn

    def loss(self, model: torch.nn.Module, out: Any, y: Any) -> Tensor:
        return -self.reward_fn(out.spikes[0]).mean()


def estimate_gradient(
    method: str,
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    inputs: Tensor,
    reward_fn: RewardFn,
    *,
    sigma: float,
    generator: torch.Generator,
    n_trials: int | None = None,
    baseline: str = "paired",
    empiric: EmpiricSynapses | None = None,
    gate_refractory: bool = False,
    surrogate: Surrogate | None = None,
    paired_reward: Tensor | None = None,
    running: RunningBaseline | None = None,
    trial: int = 0,
) -> tuple[Tensor, Tensor, Tensor]:
    r"""Per-trial gradient estimates of :math:`J(W) = \mathbb E[R]`.

    Parameters
    ----------
    method:
        One of :data:`ESTIMATORS`.
    W:
        Weights ``[N, M]`` (nS).
    inputs:
        Time-major input spikes ``[T, B, n_in]`` (``B`` = ``n_trials``, or 1 to share).
    reward_fn:
        Reward of each trial from its spikes ``[T, B, N]`` -> ``[B]``.
    sigma:
        Noise scale: nS·s^{1/2} (``conductance``), pA·s^{1/2} (``current``), nS per weight
        (``weight``); ignored by ``empiric`` (uses ``empiric``) and ``bptt``.
    generator:
        Source of all noise.
    n_trials:
        Batch of trials (default: ``inputs.shape[1]``).
    baseline:
        One of :data:`~spikegrad.learning.rules.perturbation.BASELINES`.
    surrogate:
        ``bptt`` only: the surrogate (default ``SuperSpike(beta=10)``).
    paired_reward:
        Rewards of the unperturbed trials if already known (saves a simulation); for
        ``empiric`` the unperturbed trial has the mean empiric conductance.
    running, trial:
        The running baseline and the index of this batch (for ``baseline="running"``).

    Returns
    -------
    grads, rewards, paired
        ``[K, N, M]`` per-trial estimates (zero off the plastic mask), the perturbed trials'
        rewards ``[K]`` and the unperturbed rewards ``[K]`` (``bptt``: ``[1, N, M]`` and
        the mean reward twice).
    """
    check_choice("method", method, ESTIMATORS)
    check_baseline(baseline)
    if method == "bptt":
        K = int(n_trials if n_trials is not None else inputs.shape[1])
        model = CobaSpikingNetwork(
            net, params, W.detach(), surrogate=surrogate if surrogate is not None
            else SuperSpike(beta=10.0),
        )
        step = BPTT().gradients(model, _RewardObjective(reward_fn), _expand(inputs, K), None)
        r = -step.loss
        return -model.weight.grad.unsqueeze(0), r.reshape(1), r.reshape(1)
    return coba_estimates(
        method, W, net, params, inputs, reward_fn, sigma=sigma, generator=generator,
        n_trials=n_trials, baseline=baseline, empiric=empiric,
        gate_refractory=gate_refractory, paired_reward=paired_reward, running=running,
        trial=trial,
    )


def finite_difference_gradient(
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    inputs: Tensor,
    reward_fn: RewardFn,
    *,
    sigma: float,
    n_trials: int,
    h: float,
    generator: torch.Generator,
    entries: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Central differences of :math:`J(W) = \mathbb E_\xi[R]` with common random numbers.

    One white conductance noise sample ``[T, n_trials, N]`` (scale ``sigma``, on the same
    neurons and channels as :func:`estimate_gradient` perturbs) is drawn and reused for
    :math:`W + h\,E_{ij}` and :math:`W - h\,E_{ij}`:
    :math:`\partial J/\partial W_{ij} \approx (\bar R_+ - \bar R_-)/(2h)`.

    Returns ``(grad [N, M], mask [N, M])``; ``mask`` marks the entries computed
    (``entries``: bool ``[N, M]``, default the plastic synapses).
    """
    h = check_positive("h", h)
    mask = net.plastic.clone() if entries is None else entries.to(torch.bool) & net.plastic
    x = _expand(inputs, n_trials)
    T = x.shape[0]
    shape = (T, n_trials, net.n)
    ne = net.n_in + net.n_exc
    on_e = net.plastic[:, :ne].any(1).to(W.dtype)
    on_i = net.plastic[:, ne:].any(1).to(W.dtype)
    xi_e = white_noise(shape, sigma, params.dt, generator, dtype=W.dtype) * on_e
    xi_i = None
    if bool(on_i.any()):
        xi_i = white_noise(shape, sigma, params.dt, generator, dtype=W.dtype) * on_i
    grad = torch.zeros_like(W)
    idx = torch.nonzero(mask)
    for i, j in idx.tolist():
        d = torch.zeros_like(W)
        d[i, j] = h
        Wb = torch.stack([W + d, W - d]).repeat_interleave(n_trials, 0)
        r = run_rewards(
            Wb, net, params, x.repeat(1, 2, 1), reward_fn,
            xi_exc=xi_e.repeat(1, 2, 1),
            xi_inh=None if xi_i is None else xi_i.repeat(1, 2, 1),
            check_sign=False,
        )
        grad[i, j] = (r[:n_trials].mean() - r[n_trials:].mean()) / (2 * h)
    return grad, mask


def cosine(a: Tensor, b: Tensor, mask: Tensor | None = None) -> float:
    """Cosine similarity of two gradients (restricted to ``mask``)."""
    if mask is not None:
        a, b = a[mask], b[mask]
    a, b = a.flatten().double(), b.flatten().double()
    den = float(a.norm() * b.norm())
    return float(a @ b) / den if den > 0 else 0.0
