r"""Gradient estimates of a trial objective on a conductance-based network.

All estimators return an estimate of :math:`\nabla_W J` with :math:`J = \mathbb E[R]`, one
per trial (``[K, N, M]``) so that means, variances and convergence can be studied:

Only neurons that have plastic input synapses of a class are perturbed (in that class's
channel); the others carry no eligibility, so their noise would only add variance.

``conductance``  (Fiete & Seung) :math:`\hat g = (R - \bar R)\, e / \sigma^2`,
                 :math:`e_{ij} = \sum_n \xi_i[n] s_j[n]\Delta t`, white :math:`\xi`.
``empiric``      the same with the fluctuation of Poisson-driven empiric synapses and
                 :math:`\sigma^2_\text{eff}` (:class:`~.rule.EmpiricSynapses`).
``current``      node perturbation of currents: white current noise :math:`\eta_i`
                 (pA) and :math:`e_{ij} = \sum_n \eta_i[n] (E_j - V_i[n]) s_j[n]\Delta t`
                 (the current of synapse :math:`ij` is :math:`W_{ij}s_j(E_j - V_i)`);
                 exact with Euler integration, first-order with exponential Euler.
``weight``       weight perturbation: :math:`\psi \sim \mathcal N(0, \sigma_w^2)` on every
                 plastic weight, :math:`\hat g = (R(W + \psi) - R(W))\,\psi/\sigma_w^2`.
``bptt``         surrogate-gradient BPTT of one noise-free trial's reward (a biased,
                 deterministic descent direction; exact with a ``Relaxed`` surrogate).

:func:`finite_difference_gradient` is the reference: central differences of the Monte
Carlo mean of :math:`R` over the *same* noise samples for :math:`W \pm h` (common random
numbers).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_positive
from ..functional.surrogate import SuperSpike, Surrogate
from .coba import CobaNetwork, CobaParams, coba_run
from .rule import (
    EmpiricSynapses,
    RunningBaseline,
    baseline_values,
    check_baseline,
    eligibility,
    white_noise,
)

__all__ = [
    "ESTIMATORS",
    "RewardFn",
    "run_rewards",
    "estimate_gradient",
    "finite_difference_gradient",
    "bptt_gradient",
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
    if inputs.shape[1] == B:
        return inputs
    if inputs.shape[1] == 1:
        return inputs.expand(-1, B, -1)
    raise SpikegradInputError(
        f"inputs has batch {inputs.shape[1]}; expected 1 (shared) or {B} (one per trial)"
    )


def run_rewards(
    W: Tensor, net: CobaNetwork, params: CobaParams, inputs: Tensor, reward_fn: RewardFn,
    **kw,
) -> Tensor:
    """Rewards ``[B]`` of one simulated batch (no traces recorded); ``kw`` to :func:`coba_run`."""
    with torch.no_grad():
        run = coba_run(inputs, W, net, params, record=(), **kw)
        return reward_fn(run.spikes)


def estimate_gradient(
    method: str,
    W: Tensor,
    net: CobaNetwork,
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
        One of :data:`~.rule.BASELINES` (``weight`` always uses the paired trial).
    paired_reward:
        Rewards of the unperturbed trials if already known (saves a simulation); for
        ``empiric`` the unperturbed trial has the mean empiric conductance.
    running, trial:
        The running baseline and the index of this batch (for ``baseline="running"``).

    Returns
    -------
    grads, rewards, paired
        ``[K, N, M]`` per-trial estimates (zero off the plastic mask), the perturbed trials'
        rewards ``[K]`` and the unperturbed rewards ``[K]``.
    """
    check_choice("method", method, ESTIMATORS)
    check_baseline(baseline)
    K = int(n_trials if n_trials is not None else inputs.shape[1])
    x = _expand(inputs, K)
    T = x.shape[0]
    dt = params.dt
    plastic = net.plastic.to(W.dtype)
    if method == "bptt":
        g, r = bptt_gradient(W, net, params, x, reward_fn, surrogate=surrogate)
        return g.unsqueeze(0), r.detach().reshape(1), r.detach().reshape(1)
    if paired_reward is None and method != "empiric" and (
        baseline == "paired" or method == "weight"
    ):
        # a shared input (batch 1) needs one unperturbed trial, not K identical ones
        paired_reward = run_rewards(W, net, params, inputs, reward_fn).expand(K)
    with torch.no_grad():
        if method == "weight":
            sigma = check_positive("sigma", sigma)
            psi = torch.randn((K, *W.shape), generator=generator, dtype=W.dtype) * sigma
            psi = psi * plastic
            r = reward_fn(coba_run(x, W + psi, net, params, record=(), check_sign=False).spikes)
            g = (r - paired_reward).view(K, 1, 1) * psi / sigma**2
            return g, r, paired_reward
        shape = (T, K, net.n)
        xi_e = xi_i = i_noise = g_extra = None
        # only neurons with plastic synapses of a class are perturbed in that class's
        # channel: perturbing the others adds variance and no information
        ne = net.n_in + net.n_exc
        on_e = net.plastic[:, :ne].any(1).to(W.dtype)
        on_i = net.plastic[:, ne:].any(1).to(W.dtype)
        if method == "conductance":
            sigma2 = check_positive("sigma", sigma) ** 2
            xi_e = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * on_e
            if bool(on_i.any()):
                xi_i = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * on_i
        elif method == "empiric":
            emp = empiric if empiric is not None else EmpiricSynapses()
            sigma2 = emp.sigma2(dt)
            g_extra, xi_e = emp.sample(shape, dt, generator, dtype=W.dtype)
            g_extra, xi_e = g_extra * on_e, xi_e * on_e
        else:  # current
            sigma2 = check_positive("sigma", sigma) ** 2
            on = torch.maximum(on_e, on_i)
            i_noise = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * on
        rec = ("traces", "active", "v")
        run = coba_run(x, W, net, params, xi_exc=xi_e, xi_inh=xi_i, i_noise=i_noise,
                       g_extra=g_extra, record=rec)
        r = reward_fn(run.spikes)
        if method == "empiric":
            # the reward function of the empiric trial includes the mean empiric drive;
            # its paired baseline is the trial with the mean conductance and no fluctuation
            if baseline == "paired" and paired_reward is None:
                B0 = inputs.shape[1]
                mean_g = torch.full((T, B0, net.n), emp.mean(dt), dtype=W.dtype) * on_e
                paired_reward = run_rewards(
                    W, net, params, inputs, reward_fn, g_extra=mean_g
                ).expand(K)
        active = run.active if gate_refractory else None
        if method == "current":
            v0 = torch.full_like(run.v[:1], params.E_L)
            v_start = torch.cat([v0, run.v[:-1]])  # membrane at the start of step n
            ne = net.n_in + net.n_exc
            xa = i_noise if active is None else i_noise * active
            e = x.new_zeros(K, net.n, net.m)
            e[:, :, :ne] = dt * torch.einsum(
                "tbn,tbm->bnm", xa * (params.E_exc - v_start), run.traces[:, :, :ne])
            if net.n_inh:
                e[:, :, ne:] = dt * torch.einsum(
                    "tbn,tbm->bnm", xa * (params.E_inh - v_start), run.traces[:, :, ne:])
        else:
            e = eligibility(net, run.traces, dt, xi_e, xi_i, active=active)
        b = baseline_values(baseline, r, paired=paired_reward, running=running, trial=trial)
        g = (r - b).view(K, 1, 1) * e / sigma2 * plastic
        return g, r, paired_reward


def bptt_gradient(
    W: Tensor,
    net: CobaNetwork,
    params: CobaParams,
    inputs: Tensor,
    reward_fn: RewardFn,
    *,
    surrogate: Surrogate | None = None,
) -> tuple[Tensor, Tensor]:
    r"""Surrogate-gradient BPTT through the conductance model: :math:`\nabla_W \langle R\rangle_B`.

    Spikes are ``surrogate.spike((V - V_th)/(V_th - V_reset))`` (default ``SuperSpike(10)``);
    reset and refractory clamp are detached. Returns ``(grad [N, M], mean reward)``, the
    gradient masked to plastic synapses.
    """
    surrogate = surrogate if surrogate is not None else SuperSpike(beta=10.0)
    Wg = W.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        run = coba_run(inputs, Wg, net, params, surrogate=surrogate, record=())
        r = reward_fn(run.spikes).mean()
        (g,) = torch.autograd.grad(r, Wg)
    return g * net.plastic.to(W.dtype), r.detach()


def finite_difference_gradient(
    W: Tensor,
    net: CobaNetwork,
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
