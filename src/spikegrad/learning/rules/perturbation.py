r"""Reward-based learning by perturbation: node, weight and conductance perturbation.

Every rule here runs the model without noise (the reported loss, the paired baseline)
and with noise in ``K = trials`` noisy trials per sample, takes the reward
:math:`R_b = -\ell_b` (``task.sample_loss``) of each trial, and forms a likelihood-ratio
(REINFORCE) estimate of the gradient of the expected reward,

.. math:: \hat g = \frac{1}{BK} \sum_{b} (R_b - \bar R_b)\, \frac{e_b}{\sigma^2},

with an eligibility :math:`e_b` and a baseline :math:`\bar R_b` that does not depend on
trial :math:`b`'s own noise (:data:`BASELINES`). Each parameter's ``.grad`` receives
:math:`-\hat g`, the descent direction of the loss; the optimizer does the step.

=================================  ==================  ==============================
rule                               models              perturbation and eligibility
=================================  ==================  ==============================
:class:`NodePerturbation`          lif, alif,          white noise on every layer's
                                   sequential          input current; :math:`e =
                                                       \sum_n \xi[n] S_\text{pre}
                                                       [n]^\top` (convolutions: the
                                                       noise map's correlation with
                                                       the input)
:class:`WeightPerturbation`        lif, coba, alif,    :math:`\psi \sim \mathcal N(0,
                                   sequential          \sigma^2)` on every trained
                                                       weight; :math:`e = \psi`
:class:`ConductancePerturbation`   coba                white conductance noise (Fiete
                                                       & Seung 2006); :math:`e_{ij} =
                                                       \sum_n \xi_i[n] s_j[n] \Delta t`
=================================  ==================  ==============================

Trial layout: the inputs ``[T, B, C]`` are repeated ``K`` times along the batch
(``x.repeat(1, K, 1)``: trial ``k * B + b`` is sample ``b``); targets are class labels
``[B]`` or time-major ``[T, B, ...]`` and are repeated the same way. Each rule owns a
``torch.Generator`` seeded with ``seed``; :meth:`~spikegrad.learning.rules.Rule.
state_dict` saves it (and the running baseline), so a resumed run draws the same noise.
``trials_simulated`` counts the trials the estimates consumed (noisy trials plus the
unperturbed ones a paired baseline compares with); the noise-free pass that reports the
loss under another baseline is not counted.

**Dynamic perturbation of conductances (Fiete & Seung 2006), spikegrad's reading.** Every
trial, each neuron :math:`i` receives a white-noise conductance
:math:`\xi_i[n] = (\sigma/\sqrt{\Delta t})\,\mathcal N(0, 1)` (nS) with the reversal
potential of the plastic synapses it perturbs (:math:`E_E` for excitatory synapses;
a second, independent channel with :math:`E_I` when inhibitory synapses are plastic).
With *empiric synapses* the perturbation is the fluctuation
:math:`\xi_i = g^\text{emp}_i - \langle g^\text{emp}_i\rangle` of an extra excitatory
conductance driven by Poisson spike trains (see :class:`EmpiricSynapses`).
Eligibility (non-decaying within the trial; presynaptic traces :math:`s_j[n]` as used
in step :math:`n`): :math:`e_{ij} = \sum_n \xi_i[n]\, s_j[n]\, \Delta t`; update
:math:`\Delta W_{ij} = \eta\,(R - \bar R)\, e_{ij}` (SGD on :math:`-\hat g` with step
:math:`\text{lr} = \eta\sigma^2`).

*Why it is unbiased (exact in discrete time).* :math:`W` enters the dynamics only through
:math:`G_i[n] = \sum_j W_{ij}s_j[n] + \xi_i[n]`, and given the past :math:`G_i[n]` is
Gaussian with mean :math:`\sum_j W_{ij}s_j[n]` and variance :math:`\sigma^2/\Delta t`.
Everything in the trial (spikes, reward) is a deterministic function of the path of
:math:`G` (and of inputs and fixed weights), so the likelihood ratio gives

.. math:: \frac{\partial}{\partial W_{ij}} \mathbb E[R]
          = \mathbb E\Big[R \sum_n \frac{\xi_i[n]\, s_j[n]}{\sigma^2/\Delta t}\Big]
          = \frac{1}{\sigma^2}\,\mathbb E\big[(R - \bar R)\, e_{ij}\big]

for any spiking, discontinuous :math:`R`, any integrator and recurrent connections,
where :math:`\mathbb E[R]` is the expected reward *under the perturbation*. The identity
needs the perturbation to share the reversal potential of the synapses it credits;
crediting an inhibitory synapse with excitatory noise would scale its gradient by
:math:`(V - E_I)/(V - E_E)`, hence the separate inhibitory channel. The same argument
makes :class:`NodePerturbation` exact for the current-based LIF network (the noise is
added to the Gaussian-perturbed input current :math:`a_i[n] = \sum_j W_{ij}
S_j[n] + \xi_i[n]`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor

from ..._checks import (
    SpikegradInputError,
    check_choice,
    check_int,
    check_nonnegative,
    check_positive,
)
from ...functional.coba import CobaParams, CobaRun, CobaTopology, coba_run
from ...functional.lif import LIFParams, LIFState, li_sequence, lif_sequence, lif_step
from ...nn.network import SNNOutput
from .base import Rule, RuleStep, model_kind, set_grads

__all__ = [
    "BASELINES",
    "NOISES",
    "COBA_METHODS",
    "white_noise",
    "EmpiricSynapses",
    "eligibility",
    "RunningBaseline",
    "check_baseline",
    "baseline_values",
    "perturbation_update",
    "apply_update",
    "repeat_targets",
    "run_rewards",
    "coba_estimates",
    "NodePerturbation",
    "WeightPerturbation",
    "ConductancePerturbation",
]

#: Baselines that do not depend on the current trial's noise.
BASELINES = ("running", "paired", "leave_one_out", "none")
_BIASED = {
    "batch_mean": "the mean over the batch includes the current trial's reward",
    "mean": "the mean over the batch includes the current trial's reward",
    "current": "the current trial's own reward",
    "trial": "the current trial's own reward",
}
#: Noise channels of :class:`ConductancePerturbation`.
NOISES = ("white", "empiric", "current")
#: Per-trial estimators of :func:`coba_estimates`.
COBA_METHODS = ("conductance", "empiric", "current", "weight")

#: Reward of a trial batch from the network's spikes ``[T, B, N]`` -> ``[B]``.
RewardFn = Callable[[Tensor], Tensor]


# ------------------------------------------------------------------ noise and baselines
def white_noise(
    shape: tuple[int, ...],
    sigma: float,
    dt: float,
    generator: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""White conductance noise :math:`\xi = (\sigma/\sqrt{\Delta t})\,\mathcal N(0, 1)`.

    ``shape`` is time-major ``(T, B, N)``; ``sigma`` in nS·s^{1/2}, so that
    :math:`\langle \xi[n]\xi[m]\rangle \Delta t = \sigma^2 \delta_{nm}` (the discrete
    :math:`\sigma^2\delta(t - t')`).
    """
    sigma = check_positive("sigma", sigma)
    dt = check_positive("dt", dt)
    if not isinstance(generator, torch.Generator):
        raise SpikegradInputError("generator must be a torch.Generator (explicit randomness)")
    return torch.randn(shape, generator=generator, dtype=dtype) * (sigma / math.sqrt(dt))


@dataclass(frozen=True)
class EmpiricSynapses:
    r"""Extra excitatory synapses driven by external Poisson trains ("empiric synapses").

    One Poisson train of ``rate`` (Hz) per neuron drives a trace
    :math:`q[n+1] = a q[n] + z[n]`, :math:`a = e^{-\Delta t/\tau}`,
    :math:`z[n] \sim \mathrm{Bernoulli}(p)`, :math:`p = \nu\Delta t`, started at its
    stationary mean. The conductance is :math:`g^\text{emp} = w q` (nS) with mean
    :math:`w p/(1-a)`; the perturbation is the fluctuation :math:`\xi = g^\text{emp} -
    \langle g^\text{emp}\rangle`. Its area under the autocovariance (the white-noise
    equivalent :math:`\sigma^2`) is

    .. math:: \sigma^2_\text{eff} = \sum_k \mathrm{Cov}(\xi[n], \xi[n+k])\,\Delta t
              = w^2 \frac{p(1-p)}{(1-a)^2}\,\Delta t \;\to\; w^2 \nu \tau^2 .

    The estimate is accurate only when :math:`\tau` is short compared with the time
    scales on which the reward depends on the conductance.
    """

    rate: float = 200.0
    weight: float = 1.0
    tau: float = 1e-3

    def __post_init__(self) -> None:
        check_positive("rate", self.rate)
        check_positive("weight", self.weight)
        check_positive("tau", self.tau)

    def _p_a(self, dt: float) -> tuple[float, float]:
        p = self.rate * dt
        if p >= 1:
            raise SpikegradInputError(
                f"empiric rate * dt must be < 1 (one spike per step at most), got {p}"
            )
        return p, math.exp(-dt / self.tau)

    def mean(self, dt: float) -> float:
        """Mean conductance :math:`w p / (1 - a)` (nS)."""
        p, a = self._p_a(dt)
        return self.weight * p / (1 - a)

    def sigma2(self, dt: float) -> float:
        r"""White-noise equivalent variance :math:`\sigma^2_\text{eff}` (nS² s)."""
        p, a = self._p_a(dt)
        return self.weight**2 * p * (1 - p) / (1 - a) ** 2 * dt

    def sample(
        self,
        shape: tuple[int, int, int],
        dt: float,
        generator: torch.Generator,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, Tensor]:
        """Draw ``(g_emp, xi)``, both time-major ``[T, B, N]`` (nS)."""
        p, a = self._p_a(dt)
        T = shape[0]
        z = (torch.rand(shape, generator=generator, dtype=dtype) < p).to(dtype)
        q = torch.full(shape[1:], p / (1 - a), dtype=dtype)
        out = []
        for n in range(T):
            out.append(q)
            q = a * q + z[n]
        g = torch.stack(out) * self.weight
        return g, g - self.mean(dt)


def eligibility(
    net: CobaTopology,
    traces: Tensor,
    dt: float,
    xi_exc: Tensor | None,
    xi_inh: Tensor | None = None,
    *,
    active: Tensor | None = None,
) -> Tensor:
    r"""Per-trial eligibility :math:`e_{ij} = \sum_n \xi_i[n] s_j[n] \Delta t`, ``[B, N, M]``.

    Excitatory presynaptic columns (inputs and E neurons) pair with ``xi_exc``,
    inhibitory columns with ``xi_inh`` (zero if ``None``). ``traces`` is ``[T, B, M]``, the
    noises ``[T, B, N]``. With ``active`` (``[T, B, N]``, 0 during refractory steps) the
    terms of refractory steps are dropped: the noise has no effect there, so their
    expectation is zero and dropping them only removes variance.
    """
    T, B, M = traces.shape
    if M != net.m:
        raise SpikegradInputError(f"traces must have M = {net.m} units, got {M}")
    e = traces.new_zeros(B, net.n, M)
    ne = net.n_in + net.n_exc
    for xi, cols in ((xi_exc, slice(0, ne)), (xi_inh, slice(ne, M))):
        if xi is None or cols.start == cols.stop:
            continue
        if tuple(xi.shape) != (T, B, net.n):
            raise SpikegradInputError(
                f"noise must have shape [T, B, N] = [{T}, {B}, {net.n}], got {tuple(xi.shape)}"
            )
        x = xi if active is None else xi * active
        e[:, :, cols] = dt * torch.einsum("tbn,tbm->bnm", x, traces[:, :, cols])
    return e


class RunningBaseline:
    r"""Running average of past rewards, :math:`\bar R \leftarrow \bar R + (R - \bar R)/\tau_R`.

    :meth:`value` for trial (batch) ``k`` may only be read before :meth:`update` has seen
    trial ``k``: reading it afterwards would make the baseline depend on the current
    trial's reward (and noise), so it raises. Before the first update the value is
    ``initial`` (default 0).
    """

    def __init__(self, tau: float = 10.0, initial: float | None = None) -> None:
        self.tau = check_positive("tau_R", tau)
        if self.tau < 1:
            raise SpikegradInputError(f"tau_R must be >= 1 (in trials), got {tau}")
        self._value = initial
        self.last_trial = -1

    def value(self, trial: int) -> float:
        """Baseline for trial ``trial``; raises if that trial's reward was already seen."""
        if trial <= self.last_trial:
            raise SpikegradInputError(
                f"baseline for trial {trial} requested after update() already saw trial "
                f"{self.last_trial}: it would use the current trial's reward"
            )
        return 0.0 if self._value is None else float(self._value)

    def update(self, reward: Tensor | float, trial: int) -> None:
        """Fold in the (mean) reward of trial ``trial``."""
        r = float(torch.as_tensor(reward, dtype=torch.float64).mean())
        if self._value is None:
            self._value = r
        else:
            self._value += (r - self._value) / self.tau
        self.last_trial = trial

    def state_dict(self) -> dict:
        """Value and last trial seen (for resume)."""
        return {"value": self._value, "last_trial": self.last_trial}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        self._value = state["value"]
        self.last_trial = int(state["last_trial"])


def check_baseline(name: str) -> str:
    """Return ``name`` if it is one of :data:`BASELINES`; explain biased choices."""
    if name in _BIASED:
        raise SpikegradInputError(
            f"baseline {name!r} would use {_BIASED[name]}, which correlates with that "
            f"trial's noise and biases the gradient estimate; use one of "
            f"{', '.join(BASELINES)}"
        )
    if name not in BASELINES:
        raise SpikegradInputError(
            f"unknown baseline {name!r}; valid choices: {', '.join(BASELINES)}"
        )
    return name


def baseline_values(
    name: str,
    reward: Tensor,
    *,
    paired: Tensor | None = None,
    running: RunningBaseline | None = None,
    trial: int = 0,
) -> Tensor:
    r"""Per-trial baselines :math:`\bar R_b` for a batch of rewards ``reward`` ``[B]``.

    ``"paired"``: the unperturbed trial's reward ``paired`` ``[B]``; ``"running"``: the
    running average (read before it sees this batch); ``"leave_one_out"``: the mean of the
    *other* trials of the batch (needs B >= 2); ``"none"``: zero.
    """
    check_baseline(name)
    if name == "paired":
        if paired is None or tuple(paired.shape) != tuple(reward.shape):
            raise SpikegradInputError(
                f"baseline 'paired' needs the unperturbed rewards (shape {tuple(reward.shape)})"
            )
        return paired
    if name == "running":
        if running is None:
            raise SpikegradInputError("baseline 'running' needs a RunningBaseline")
        return torch.full_like(reward, running.value(trial))
    if name == "leave_one_out":
        B = reward.numel()
        if B < 2:
            raise SpikegradInputError("baseline 'leave_one_out' needs a batch of >= 2 trials")
        return (reward.sum() - reward) / (B - 1)
    return torch.zeros_like(reward)


def perturbation_update(
    e: Tensor, reward: Tensor, baseline: Tensor, eta: float, *, plastic: Tensor | None = None
) -> Tensor:
    r""":math:`\Delta W = \eta\,\langle (R_b - \bar R_b)\, e_b \rangle_b` over a batch of trials.

    ``e`` ``[B, N, M]``, ``reward`` and ``baseline`` ``[B]``; ``eta >= 0``. ``baseline``
    must not be ``reward`` itself. Entries outside ``plastic`` are zero.
    """
    eta = check_nonnegative("eta", eta)
    if baseline is reward:
        raise SpikegradInputError(
            "baseline is the current trial's reward; it must not depend on the current noise"
        )
    if e.dim() != 3 or reward.shape != (e.shape[0],) or baseline.shape != reward.shape:
        raise SpikegradInputError(
            f"shapes do not match: e {tuple(e.shape)} needs reward and baseline of shape "
            f"[{e.shape[0] if e.dim() else '?'}], got {tuple(reward.shape)} and "
            f"{tuple(baseline.shape)}"
        )
    dW = eta * torch.einsum("b,bnm->nm", (reward - baseline).to(e.dtype), e) / e.shape[0]
    if plastic is not None:
        dW = dW * plastic.to(dW.dtype)
    return dW


def apply_update(W: Tensor, dW: Tensor, net: CobaTopology) -> Tensor:
    """``W + dW`` on plastic synapses, clipped at 0 (sign constraints: Dale's law)."""
    if dW.shape != W.shape:
        raise SpikegradInputError(f"dW has shape {tuple(dW.shape)}, W has {tuple(W.shape)}")
    return torch.clamp(W + dW * net.plastic.to(W.dtype), min=0.0) * net.connectivity.to(W.dtype)


def repeat_targets(y: Any, k: int, batch: int) -> Any:
    """Targets of the trial layout ``x.repeat(1, k, 1)`` (trial ``j * batch + b``).

    ``y`` is a tensor of class labels ``[batch, ...]`` or time-major targets
    ``[T, batch, ...]`` (a tensor whose dimension 1 has ``batch`` entries is read as
    time-major).
    """
    if k == 1:
        return y
    if isinstance(y, Tensor) and y.dim() >= 1:
        if y.dim() >= 2 and y.shape[1] == batch:
            return y.repeat(1, k, *([1] * (y.dim() - 2)))
        if y.shape[0] == batch:
            return y.repeat(k, *([1] * (y.dim() - 1)))
    raise SpikegradInputError(
        f"targets must be a tensor of labels [B] or time-major [T, B, ...] with B = {batch} "
        f"to repeat them over trials, got {type(y).__name__}"
        + (f" of shape {tuple(y.shape)}" if isinstance(y, Tensor) else "")
    )


# ---------------------------------------------------------- estimates on the coba model
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
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    inputs: Tensor,
    reward_fn: RewardFn,
    **kw,
) -> Tensor:
    """Rewards ``[B]`` of one simulated batch (no traces recorded); ``kw`` to ``coba_run``."""
    with torch.no_grad():
        run = coba_run(inputs, W, net, params, record=(), **kw)
        return reward_fn(run.spikes)


def coba_estimates(
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
    paired_reward: Tensor | None = None,
    running: RunningBaseline | None = None,
    trial: int = 0,
) -> tuple[Tensor, Tensor, Tensor | None]:
    r"""Per-trial estimates of :math:`\nabla_W \mathbb E[R]` on a conductance-based network.

    Only neurons that have plastic input synapses of a class are perturbed (in that
    class's channel); the others carry no eligibility, so their noise would only add
    variance.

    ``conductance``  (Fiete & Seung) :math:`\hat g = (R - \bar R)\, e / \sigma^2`,
                     :math:`e_{ij} = \sum_n \xi_i[n] s_j[n]\Delta t`, white :math:`\xi`.
    ``empiric``      the same with the fluctuation of Poisson-driven empiric synapses and
                     :math:`\sigma^2_\text{eff}` (:class:`EmpiricSynapses`).
    ``current``      node perturbation of currents: white current noise :math:`\eta_i`
                     (pA) and :math:`e_{ij} = \sum_n \eta_i[n] (E_j - V_i[n]) s_j[n]\Delta t`
                     (the current of synapse :math:`ij` is :math:`W_{ij}s_j(E_j - V_i)`);
                     exact with Euler integration, first-order with exponential Euler.
    ``weight``       weight perturbation: :math:`\psi \sim \mathcal N(0, \sigma_w^2)` on
                     every plastic weight, :math:`\hat g = (R(W + \psi) - \bar R)\,
                     \psi/\sigma_w^2` (:math:`\bar R = R(W)` with the paired baseline).

    Parameters
    ----------
    method:
        One of :data:`COBA_METHODS`.
    W:
        Weights ``[N, M]`` (nS).
    inputs:
        Time-major input spikes ``[T, B, n_in]`` (``B`` = ``n_trials``, or 1 to share).
    reward_fn:
        Reward of each trial from its spikes ``[T, n_trials, N]`` -> ``[n_trials]``.
    sigma:
        Noise scale: nS·s^{1/2} (``conductance``), pA·s^{1/2} (``current``), nS per weight
        (``weight``); ignored by ``empiric`` (uses ``empiric``).
    generator:
        Source of all noise.
    n_trials:
        Batch of trials (default: ``inputs.shape[1]``).
    baseline:
        One of :data:`BASELINES`.
    paired_reward:
        Rewards ``[n_trials]`` of the unperturbed trials if already known (saves a
        simulation); for ``empiric`` the unperturbed trial has the mean empiric
        conductance.
    running, trial:
        The running baseline and the index of this batch (for ``baseline="running"``).

    Returns
    -------
    grads, rewards, paired
        ``[K, N, M]`` per-trial estimates (zero off the plastic mask), the perturbed trials'
        rewards ``[K]`` and the unperturbed rewards ``[K]`` (``None`` when the baseline
        did not need them).
    """
    check_choice("method", method, COBA_METHODS)
    check_baseline(baseline)
    K = int(n_trials if n_trials is not None else inputs.shape[1])
    x = _expand(inputs, K)
    T = x.shape[0]
    plastic = net.plastic.to(W.dtype)
    if paired_reward is None and method != "empiric" and baseline == "paired":
        # a shared input (batch 1) needs one unperturbed trial, not K identical ones
        paired_reward = run_rewards(W, net, params, inputs, reward_fn).expand(K)
    with torch.no_grad():
        if method == "weight":
            sigma = check_positive("sigma", sigma)
            psi = _weight_noise(W, net, K, sigma, generator)
            r = reward_fn(coba_run(x, W + psi, net, params, record=(), check_sign=False).spikes)
            b = baseline_values(baseline, r, paired=paired_reward, running=running, trial=trial)
            g = (r - b).view(K, 1, 1) * psi / sigma**2
            return g, r, paired_reward
        emp = empiric if empiric is not None else EmpiricSynapses()
        noise = _coba_noise(
            method,
            W,
            net,
            params,
            (T, K, net.n),
            sigma=sigma,
            generator=generator,
            empiric=emp,
        )
        run = coba_run(x, W, net, params, record=("traces", "active", "v"), **noise.sim)
        r = reward_fn(run.spikes)
        if method == "empiric" and baseline == "paired" and paired_reward is None:
            # the reward function of the empiric trial includes the mean empiric drive;
            # its paired baseline is the trial with the mean conductance and no fluctuation
            mean_g = _mean_empiric(emp, W, net, params, T, inputs.shape[1])
            paired_reward = run_rewards(W, net, params, inputs, reward_fn, g_extra=mean_g).expand(K)
        e = _coba_eligibility(method, net, params, run, noise, gate_refractory)
        b = baseline_values(baseline, r, paired=paired_reward, running=running, trial=trial)
        g = (r - b).view(K, 1, 1) * e / noise.sigma2 * plastic
        return g, r, paired_reward


def _channels(net: CobaTopology, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """1 for the neurons with plastic excitatory / inhibitory input synapses, ``[N]``."""
    ne = net.n_exc_pre
    return net.plastic[:, :ne].any(1).to(dtype), net.plastic[:, ne:].any(1).to(dtype)


def _weight_noise(
    W: Tensor, net: CobaTopology, K: int, sigma: float, generator: torch.Generator
) -> Tensor:
    r""":math:`\psi \sim \mathcal N(0, \sigma^2)` on the plastic synapses, ``[K, N, M]``."""
    psi = torch.randn((K, *W.shape), generator=generator, dtype=W.dtype) * sigma
    return psi * net.plastic.to(W.dtype)


def _mean_empiric(
    emp: EmpiricSynapses, W: Tensor, net: CobaTopology, params: CobaParams, T: int, B: int
) -> Tensor:
    """The mean empiric conductance on the perturbed neurons, ``[T, B, N]``."""
    on_e, _ = _channels(net, W.dtype)
    return torch.full((T, B, net.n), emp.mean(params.dt), dtype=W.dtype) * on_e


class _Noise(NamedTuple):
    """Perturbations of the noisy trials: ``sim`` the ``coba_run`` keywords, ``xi`` the
    noises the eligibility pairs with the traces (``(xi_exc, xi_inh)``; ``current``:
    ``(i_noise, None)``), ``sigma2`` the normalisation."""

    sim: dict[str, Tensor | None]
    xi: tuple[Tensor | None, Tensor | None]
    sigma2: float


def _coba_noise(
    method: str,
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    shape: tuple[int, int, int],
    *,
    sigma: float,
    generator: torch.Generator,
    empiric: EmpiricSynapses,
) -> _Noise:
    r"""Draw the noisy trials' perturbations (``shape`` = ``(T, K, N)``).

    Only neurons with plastic synapses of a class are perturbed in that class's channel:
    perturbing the others adds variance and no information. Empiric synapses add their
    whole conductance :math:`g^\text{emp}` to the trial; the eligibility pairs its
    fluctuation.
    """
    dt = params.dt
    on_e, on_i = _channels(net, W.dtype)
    sim: dict[str, Tensor | None] = {}
    xi_i = None
    if method == "conductance":
        sigma2 = check_positive("sigma", sigma) ** 2
        xi_e = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * on_e
        if bool(on_i.any()):
            xi_i = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * on_i
        sim = {"xi_exc": xi_e, "xi_inh": xi_i}
    elif method == "empiric":
        sigma2 = empiric.sigma2(dt)
        g_extra, xi_e = empiric.sample(shape, dt, generator, dtype=W.dtype)
        g_extra, xi_e = g_extra * on_e, xi_e * on_e
        sim = {"g_extra": g_extra}
    else:  # current
        sigma2 = check_positive("sigma", sigma) ** 2
        xi_e = white_noise(shape, sigma, dt, generator, dtype=W.dtype) * torch.maximum(on_e, on_i)
        sim = {"i_noise": xi_e}
    return _Noise(sim, (xi_e, xi_i), sigma2)


def _coba_eligibility(
    method: str,
    net: CobaTopology,
    params: CobaParams,
    run: CobaRun,
    noise: _Noise,
    gate_refractory: bool,
) -> Tensor:
    """Per-trial eligibility ``[K, N, M]`` of a noisy run (see :func:`coba_estimates`)."""
    dt = params.dt
    active = run.active if gate_refractory else None
    if method != "current":
        return eligibility(net, run.traces, dt, noise.xi[0], noise.xi[1], active=active)
    i_noise = noise.xi[0]
    ne = net.n_exc_pre
    v0 = torch.full_like(run.v[:1], params.E_L)
    v_start = torch.cat([v0, run.v[:-1]])  # membrane at the start of step n
    xa = i_noise if active is None else i_noise * active
    e = i_noise.new_zeros(i_noise.shape[1], net.n, net.m)
    e[:, :, :ne] = dt * torch.einsum(
        "tbn,tbm->bnm", xa * (params.E_exc - v_start), run.traces[:, :, :ne]
    )
    if net.n_inh:
        e[:, :, ne:] = dt * torch.einsum(
            "tbn,tbm->bnm", xa * (params.E_inh - v_start), run.traces[:, :, ne:]
        )
    return e


# --------------------------------------------------------------------------- the rules
@dataclass
class _RewardRule(Rule):
    """Settings and state shared by the perturbation rules (not registered itself)."""

    trials: int = 1
    sigma: float = 1.0
    baseline: str = "paired"
    tau_R: float = 5.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.trials = check_int("trials", self.trials, 1)
        if self.sigma is not None:
            self.sigma = check_positive("sigma", self.sigma)
        self.baseline = check_baseline(self.baseline)
        self.tau_R = check_positive("tau_R", self.tau_R)
        if self.tau_R < 1:
            raise SpikegradInputError(f"tau_R must be >= 1 (in trials), got {self.tau_R}")
        self.seed = check_int("seed", self.seed, 0)
        self._gen = torch.Generator().manual_seed(self.seed)
        self._running = RunningBaseline(self.tau_R) if self.baseline == "running" else None
        self._step = 0
        #: trials the estimates consumed so far (noisy + paired unperturbed ones)
        self.trials_simulated = 0

    @property
    def generator(self) -> torch.Generator:
        """The rule's own noise generator (seeded with ``seed``)."""
        return self._gen

    def state_dict(self) -> dict:
        """Noise generator, running baseline, step and trial counters (exact resume)."""
        return {
            "generator": self._gen.get_state(),
            "running": None if self._running is None else self._running.state_dict(),
            "step": self._step,
            "trials_simulated": self.trials_simulated,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`."""
        if not state:
            return
        self._gen.set_state(state["generator"])
        if self._running is not None and state.get("running") is not None:
            self._running.load_state_dict(state["running"])
        self._step = int(state["step"])
        self.trials_simulated = int(state["trials_simulated"])

    def _check_model(self, model: torch.nn.Module) -> None:
        layers = getattr(model, "layers", ())
        if any(getattr(layer, "neuron_options", False) for layer in layers):
            raise SpikegradInputError(
                f"rule {self.name!r} simulates the plain eq. 4.1 LIF; this network uses "
                "neuron options (reset='subtract', refractory period, non-unit or learnable "
                "threshold): use --rule bptt"
            )

    def _rewards(
        self, model: torch.nn.Module, task: Any, out: Any, noisy: Any, y: Any, K: int, B: int
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """The clean trial's loss, the rewards :math:`R = -L` of the ``K`` noisy repeats of
        the batch (``[K B]``) and, for the ``"paired"`` baseline, the clean rewards repeated
        ``K`` times (``None`` otherwise)."""
        loss = task.loss(model, out, y)
        r = -task.sample_loss(model, noisy, repeat_targets(y, K, B))
        paired = None
        if self.baseline == "paired":
            paired = (-task.sample_loss(model, out, y)).repeat(K)
        return loss, r, paired

    def _baseline(self, r: Tensor, paired: Tensor | None) -> Tensor:
        return baseline_values(
            self.baseline, r, paired=paired, running=self._running, trial=self._step
        )

    def _finish(self, r: Tensor, n_sim: int) -> None:
        if self._running is not None:
            self._running.update(r, self._step)
        self.trials_simulated += n_sim

    def _n_paired(self, B: int) -> int:
        return B if self.baseline == "paired" else 0


def _check_batch(x: Tensor) -> tuple[int, int]:
    if not isinstance(x, Tensor) or x.dim() != 3:
        raise SpikegradInputError("x must be a time-major tensor [T, B, n_inputs]")
    return x.shape[0], x.shape[1]


def _pad_trials(t: Tensor | None, n: int) -> Tensor | None:
    """Prepend ``n`` unperturbed trials (zeros) to a perturbation ``[T, K, N]``."""
    if t is None:
        return None
    return torch.cat([t.new_zeros(t.shape[0], n, t.shape[2]), t], dim=1)


def _append_trials(t: Tensor | None, n: int) -> Tensor | None:
    """Append ``n`` unperturbed trials (zeros) to a perturbation ``[T, K, N]``."""
    if t is None:
        return None
    return torch.cat([t, t.new_zeros(t.shape[0], n, t.shape[2])], dim=1)


def _rows(run: CobaRun, lo: int, hi: int) -> CobaRun:
    """Trials ``lo:hi`` of a run (time-major fields)."""

    def cut(t: Tensor | None) -> Tensor | None:
        return None if t is None else t[:, lo:hi]

    return CobaRun(cut(run.spikes), cut(run.traces), cut(run.v), cut(run.active), run.state)


@dataclass
class ConductancePerturbation(_RewardRule):
    r"""Dynamic perturbation of conductances (Fiete & Seung 2006), conductance-based model.

    Estimate (see the module docstring): :math:`\hat g = \langle (R - \bar R)\, e\rangle
    / \sigma^2`, :math:`e_{ij} = \sum_n \xi_i[n] s_j[n]\Delta t`, with white conductance
    noise :math:`\xi = (\sigma/\sqrt{\Delta t})\mathcal N(0, 1)` (``sigma`` in
    nS·s^{1/2}) in the reversal channel of each plastic synapse class; only neurons with
    plastic synapses are perturbed, and the estimate is zero off ``topology.plastic``.

    ``noise="empiric"``: Poisson-driven empiric synapses (``empiric_rate`` Hz,
    ``empiric_weight`` nS, ``empiric_tau`` s) instead of white noise (``sigma`` unused;
    the paired baseline is the trial with the mean empiric conductance).
    ``noise="current"``: node perturbation of the membrane currents (``sigma`` in
    pA·s^{1/2}; eligibility with the driving force, :func:`coba_estimates`).
    ``gate_refractory``: drop eligibility terms of refractory steps. ``sigma`` defaults
    to 0.3 nS·s^{1/2} (white) or 20 pA·s^{1/2} (current).

    The noisy trials run as one batch of the functional simulation; the noise-free pass
    (the reported loss) rides along in it unless it is the paired reference, which runs as
    a batch of its own (as :func:`coba_estimates` runs it, so the rule reproduces the
    estimator's numbers bit for bit).
    """

    name: ClassVar[str] = "conductance"
    models: ClassVar[tuple[str, ...]] = ("coba",)
    sigma: float | None = None
    noise: str = "white"
    gate_refractory: bool = False
    empiric_rate: float = 200.0
    empiric_weight: float = 10.0
    empiric_tau: float = 1e-3

    def __post_init__(self) -> None:
        self.noise = check_choice("noise", self.noise, NOISES)
        if self.sigma is None:
            self.sigma = 20.0 if self.noise == "current" else 0.3
        if not isinstance(self.gate_refractory, bool):
            raise SpikegradInputError(
                f"gate_refractory must be True or False, got {self.gate_refractory!r}"
            )
        self._empiric = EmpiricSynapses(self.empiric_rate, self.empiric_weight, self.empiric_tau)
        super().__post_init__()

    def gradients(self, model: torch.nn.Module, task: Any, x: Tensor, y: Any) -> RuleStep:
        """Write :math:`-\\hat g` into ``model.weight.grad`` (zero off the plastic mask)."""
        T, B = _check_batch(x)
        K = self.trials
        BK = B * K
        self._step += 1
        method = {"white": "conductance", "empiric": "empiric", "current": "current"}[self.noise]
        with torch.no_grad():
            model.project_()
            W = model.weight.detach()
            net, params = model.topology, model.params
            plastic = net.plastic.to(W.dtype)
            noise = _coba_noise(
                method,
                W,
                net,
                params,
                (T, BK, net.n),
                sigma=self.sigma,
                generator=self._gen,
                empiric=self._empiric,
            )
            paired_run = self.baseline == "paired"
            # unperturbed trials that ride along after the noisy ones: the noise-free pass
            # (unless it is the paired reference, which runs as its own batch, exactly as
            # the estimator runs it) and the mean-empiric-drive reference
            tails = [] if (paired_run and method != "empiric") else ["clean"]
            if paired_run and method == "empiric":
                tails.append("mean")
            sim = {k: _append_trials(v, B * len(tails)) for k, v in noise.sim.items()}
            if "mean" in tails:
                i = BK + B * tails.index("mean")
                sim["g_extra"][:, i : i + B] = _mean_empiric(self._empiric, W, net, params, T, B)
            xs = torch.cat([x.repeat(1, K, 1)] + [x] * len(tails), dim=1)
            run = coba_run(xs, W, net, params, record=("traces", "active", "v"), **sim)
            seg = {
                kind: run.spikes[:, BK + B * i : BK + B * (i + 1)] for i, kind in enumerate(tails)
            }
            out = model.output(seg["clean"]) if "clean" in seg else model(x)
            loss = task.loss(model, out, y)
            paired = None
            if paired_run:
                ref = model.output(seg["mean"]) if "mean" in seg else out
                paired = (-task.sample_loss(model, ref, y)).to(W.dtype).repeat(K)
            noisy = _rows(run, 0, BK)
            r = -task.sample_loss(model, model.output(noisy.spikes), repeat_targets(y, K, B))
            e = _coba_eligibility(method, net, params, noisy, noise, self.gate_refractory)
            b = self._baseline(r, paired)
            g = (r - b).view(BK, 1, 1) * e / noise.sigma2 * plastic
            set_grads([model.weight], [-(g.mean(0) * plastic)])
        self._finish(r, BK + self._n_paired(B))
        return RuleStep(loss.detach(), out)


@dataclass
class WeightPerturbation(_RewardRule):
    r"""Weight perturbation: Gaussian noise on every trained weight, one draw per trial.

    :math:`\hat g = \langle (R(W + \psi) - \bar R)\,\psi\rangle / \sigma^2`,
    :math:`\psi \sim \mathcal N(0, \sigma^2)` per trained weight and trial. Every trial
    (sample ``b``, repeat ``k``) draws its own :math:`\psi` for all trained weights; with
    the paired baseline :math:`\bar R = R(W)`, the noise-free reward of the same sample.
    ``lif``: the hidden, recurrent and readout weights of a
    :class:`~spikegrad.nn.SpikingNetwork` (``sigma`` dimensionless, the units of the
    weights; learnable time constants are not trained, their ``.grad`` stays ``None``),
    simulated with the functional :func:`~spikegrad.functional.lif.lif_sequence` /
    :func:`~spikegrad.functional.lif.li_sequence` with one weight matrix per trial.
    ``coba``: the plastic synapses (``sigma`` in nS; perturbed weights may cross zero).
    ``alif`` and ``sequential``: every trained ``weight``, ``bias`` and ``rec_weight``,
    through the model's own forward (:func:`torch.func.functional_call`), one draw per
    repeat shared by the batch's samples (see :meth:`_generic`).
    ``sigma=None`` (default): 0.5 nS on coba, 0.2 on sequential (Izhikevich and
    convolution weights are of order 10), 0.02 on lif and alif. On lif the noise-free
    and the perturbed trials run as one batch.
    """

    name: ClassVar[str] = "weight"
    models: ClassVar[tuple[str, ...]] = ("lif", "coba", "alif", "sequential")
    sigma: float | None = None

    def _sigma_for(self, kind: str) -> float:
        if self.sigma is not None:
            return self.sigma
        return {"coba": 0.5, "sequential": 0.2}.get(kind, 0.02)

    def _check_model(self, model: torch.nn.Module) -> None:
        if model_kind(model) == "lif":
            super()._check_model(model)
        elif model_kind(model) != "coba" and not _synaptic(model):
            raise SpikegradInputError("rule 'weight' found no trained weight in this model")

    def gradients(self, model: torch.nn.Module, task: Any, x: Tensor, y: Any) -> RuleStep:
        """Write :math:`-\\hat g` into each trained weight's ``.grad``."""
        if model_kind(model) not in ("lif", "coba"):
            return self._generic(model, task, x, y)
        _, B = _check_batch(x)
        K = self.trials
        BK = B * K
        self._step += 1
        kind = model_kind(model)
        sigma = self._sigma_for(kind)
        xs = torch.cat([x, x.repeat(1, K, 1)], dim=1)
        with torch.no_grad():
            if kind == "coba":
                model.project_()
                W = model.weight.detach()
                psi = {"w": _weight_noise(W, model.topology, BK, sigma, self._gen)}
                params = {"w": model.weight}
                if self.baseline == "paired":  # the reference as its own batch (estimator)
                    out = model(x)
                    run = coba_run(
                        x.repeat(1, K, 1),
                        W + psi["w"],
                        model.topology,
                        model.params,
                        record=(),
                        check_sign=False,
                    )
                    outp = model.output(run.spikes)
                else:  # the noise-free pass rides along after the perturbed trials
                    Ws = torch.cat([W + psi["w"], W.expand(B, *W.shape)])
                    run = coba_run(
                        torch.cat([x.repeat(1, K, 1), x], dim=1),
                        Ws,
                        model.topology,
                        model.params,
                        record=(),
                        check_sign=False,
                    )
                    out, outp = model.output(run.spikes[:, BK:]), model.output(run.spikes[:, :BK])
            else:
                params = _lif_weights(model)
                psi = {
                    key: torch.randn((BK, *p.shape), generator=self._gen, dtype=p.dtype) * sigma
                    for key, p in params.items()
                }
                trial_w = {
                    key: torch.cat([p.expand(B, *p.shape), p + psi[key]])
                    for key, p in params.items()
                }
                both = _lif_forward(model, xs, weights=trial_w)
                out, outp = _take(both, 0, B), _take(both, B, B + BK)
            loss, r, paired = self._rewards(model, task, out, outp, y, K, B)
            if kind == "coba":  # the estimator's arithmetic, term by term
                plastic = model.topology.plastic.to(psi["w"].dtype)
                d = (r - self._baseline(r, paired)).view(BK, 1, 1)
                set_grads(params.values(), [-((d * psi["w"] / sigma**2).mean(0) * plastic)])
            else:
                w = (r - self._baseline(r, paired)) / (sigma**2 * BK)
                set_grads(
                    list(params.values()),
                    [-torch.einsum("b,b...->...", w.to(psi[k].dtype), psi[k]) for k in params],
                )
        self._finish(r, BK + self._n_paired(B))
        return RuleStep(loss.detach(), out)

    def _generic(self, model: torch.nn.Module, task: Any, x: Tensor, y: Any) -> RuleStep:
        """Any model: ``K`` runs of its own forward with perturbed parameters.

        One draw :math:`\\psi_k` per repeat ``k``, shared by the ``B`` samples of that run
        (still unbiased: :math:`\\mathbb E[(R_{kb} - \\bar R_b)\\psi_k]/\\sigma^2` is the
        gradient for each sample), through :func:`torch.func.functional_call`; perturbed:
        every trained ``weight``, ``bias`` and ``rec_weight`` (:func:`_synaptic`).
        """
        from torch.func import functional_call

        _, B = _check_batch(x)
        K = self.trials
        self._step += 1
        sigma = self._sigma_for(model_kind(model))
        params = _synaptic(model)
        for p in model.parameters():
            p.grad = None
        with torch.no_grad():
            out = model(x)
            loss = task.loss(model, out, y)
            paired = (-task.sample_loss(model, out, y)).repeat(K)
            psi = {
                name: torch.randn((K, *p.shape), generator=self._gen, dtype=p.dtype).to(p.device)
                * sigma
                for name, p in params.items()
            }
            rs = []
            for k in range(K):
                moved = {name: p + psi[name][k] for name, p in params.items()}
                rs.append(-task.sample_loss(model, functional_call(model, moved, (x,)), y))
            r = torch.cat(rs)  # trial k * B + b
            w = (
                (
                    (r - self._baseline(r, paired if self.baseline == "paired" else None))
                    / (sigma**2 * K * B)
                )
                .view(K, B)
                .sum(1)
            )
            set_grads(
                list(params.values()),
                [-torch.einsum("k,k...->...", w.to(psi[n].dtype), psi[n]) for n in params],
            )
        self._finish(r, K * B + self._n_paired(B))
        return RuleStep(loss.detach(), out)


def _synaptic(model: torch.nn.Module) -> dict[str, torch.nn.Parameter]:
    """Trained synaptic parameters of a model: those named ``weight``, ``bias`` or
    ``rec_weight`` (time constants, thresholds and adaptation strengths are left out)."""
    return {
        name: p
        for name, p in model.named_parameters()
        if p.requires_grad and name.rsplit(".", 1)[-1] in ("weight", "bias", "rec_weight")
    }


@dataclass
class NodePerturbation(_RewardRule):
    r"""Node perturbation: white noise on every layer's input current, readout included.

    Each noisy trial adds white noise :math:`\xi^l[n] \sim \mathcal N(0, \sigma^2)`
    (``sigma`` per step, in the units of the input current :math:`W S`) to the input
    current of every layer :math:`l` that has a trained weight, hidden layers and readout
    alike:

    .. math:: I^l[n+1] = \beta_\text{syn} I^l[n] + W^l S^{l-1}[n] + V^l S^l[n] + \xi^l[n]

    (:math:`S^0 = x`; the readout has no :math:`V`). The eligibilities are the products
    of the noise with the presynaptic spikes of the same step,

    .. math:: e^{W^l}_{ij} = \sum_n \xi^l_i[n]\, S^{l-1}_j[n], \qquad
              e^{V^l}_{ij} = \sum_n \xi^l_i[n]\, S^l_j[n],

    and :math:`\hat g = \langle (R - \bar R) e\rangle / \sigma^2`: the exact
    likelihood-ratio gradient of the expected reward under the noise (the perturbed
    current :math:`a_i[n] = \sum_j W_{ij} S_j[n] + \xi_i[n]` is Gaussian given the past).
    The noise-free and the noisy trials run as one batch of the functional
    :func:`~spikegrad.functional.lif.lif_sequence` and
    :func:`~spikegrad.functional.lif.li_sequence` with the layers' own constants,
    surrogate, reset and recurrence (on CPU with numba: the compiled
    :func:`~spikegrad.kernels.lif_numba.lif_sequence_numba` and readout kernels, the noise
    added to the projected current first; bit-identical spikes, see :func:`_fast_forward`;
    ``SPIKEGRAD_RULE_REFERENCE=1`` forces the torch loops); learnable time constants are
    not trained.

    **Other models** (``alif``: :class:`~spikegrad.nn.alif.ALIFNetwork`; ``sequential``:
    Izhikevich, convolutional and any other :class:`~spikegrad.nn.SpikingSequential`):
    the noise enters through each layer's :class:`~spikegrad.nn.lif.CurrentNoise`
    injection point (LIF, ALIF, Izhikevich and convolution layers and the readout), the
    model's own forward runs, and the eligibility of the feed-forward weights (and
    biases) is the gradient of :math:`\sum_n \xi[n]\cdot c[n]` by them, :math:`c` the
    layer's current, linear in its weights: :math:`\sum_n \xi[n] S_\text{pre}[n]^\top`
    for a dense layer, :math:`\sum_n \xi[n] \star S_\text{pre}[n]` (the
    cross-correlation of the noise map with the input, a convolution's weight gradient)
    for a convolution. The argument for unbiasedness is the same: the perturbed current
    is Gaussian given the past, whatever the neuron model. On a ``SpikingNetwork`` this
    path gives the functional path's estimate (tested to 1e-13). Thresholds, adaptation
    strengths and time constants are not trained.
    """

    name: ClassVar[str] = "node"
    models: ClassVar[tuple[str, ...]] = ("lif", "alif", "sequential")
    sigma: float = 0.1

    def _check_model(self, model: torch.nn.Module) -> None:
        if model_kind(model) == "lif":
            super()._check_model(model)
            return
        if not _noisy_layers(model):
            raise SpikegradInputError(
                "rule 'node' found no layer with a noise injection point (CurrentNoise) and "
                "a trained weight in this model"
            )

    def gradients(self, model: torch.nn.Module, task: Any, x: Tensor, y: Any) -> RuleStep:
        """Write :math:`-\\hat g` into each trained weight's ``.grad``."""
        if model_kind(model) != "lif":
            return self._generic(model, task, x, y)
        T, B = _check_batch(x)
        K, sigma = self.trials, self.sigma
        BK = B * K
        self._step += 1
        params = _lif_weights(model)
        noisy = {k for (_, k) in params}
        with torch.no_grad():
            sizes = [layer.out_features for layer in model.layers] + [model.readout.n_classes]
            noise = [
                torch.randn((T, BK, n), generator=self._gen, dtype=x.dtype) * sigma
                if k in noisy
                else None
                for k, n in enumerate(sizes)
            ]
            xs = torch.cat([x, x.repeat(1, K, 1)], dim=1)
            both = _lif_forward(model, xs, noise=[_pad_trials(xi, B) for xi in noise])
            out, outn = _take(both, 0, B), _take(both, B, B + BK)
            loss, r, paired = self._rewards(model, task, out, outn, y, K, B)
            w = ((r - self._baseline(r, paired)) / (sigma**2 * BK)).to(x.dtype)
            pre = [xs[:, B:], *outn.spikes]  # presynaptic spikes of layer k (last: readout)
            grads = []
            for kind, k in params:
                xi = noise[k] * w.view(1, -1, 1)
                src = outn.spikes[k] if kind == "v" else pre[k]
                grads.append(-_correlate(xi, src))
            set_grads(list(params.values()), grads)
        self._finish(r, BK + self._n_paired(B))
        return RuleStep(loss.detach(), out)

    def _generic(self, model: torch.nn.Module, task: Any, x: Tensor, y: Any) -> RuleStep:
        """Any model whose layers have the :class:`~spikegrad.nn.lif.CurrentNoise` point.

        The model's own forward runs the noise-free and the noisy trials as one batch;
        each noisy layer draws :math:`\\xi` of its current's shape (zero on the noise-free
        trials) and records its input; the eligibility of the feed-forward weights is the
        gradient of :math:`\\sum_{n,b} w_b\\,\\xi_b[n]\\cdot c_b[n]` by the weights
        (:math:`c` the layer's current, linear in them: for a convolution the correlation
        of the noise map with the input), of ``V`` :math:`\\sum_n w_b \\xi_b[n]
        S_b[n]^\\top`, with :math:`w_b = (R_b - \\bar R_b)/(\\sigma^2 BK)`.
        """
        T, B = _check_batch(x)
        K, sigma = self.trials, self.sigma
        BK = B * K
        self._step += 1
        layers = _noisy_layers(model)
        for p in model.parameters():
            p.grad = None
        noise: dict[int, Tensor] = {}
        inputs: dict[int, Tensor] = {}
        outputs: dict[int, Tensor] = {}
        hooks = []

        def draw(k: int) -> Callable[[Tensor], Tensor]:
            def f(current: Tensor) -> Tensor:
                xi = torch.randn(
                    (current.shape[0], BK, *current.shape[2:]),
                    generator=self._gen,
                    dtype=current.dtype,
                )
                xi = xi.to(current.device) * sigma  # drawn on the CPU generator
                noise[k] = xi
                return torch.cat([xi.new_zeros(xi.shape[0], B, *xi.shape[2:]), xi], dim=1)

            return f

        for k, (layer, _) in enumerate(layers):
            layer.current_noise = draw(k)
            hooks.append(
                layer.register_forward_pre_hook(lambda m, a, k=k: inputs.__setitem__(k, a[0]))
            )
            hooks.append(
                layer.register_forward_hook(lambda m, a, o, k=k: outputs.__setitem__(k, o))
            )
        try:
            with torch.no_grad():
                xs = torch.cat([x, x.repeat(1, K, 1)], dim=1)
                both = model(xs)
        finally:
            for layer, _ in layers:
                layer.current_noise = None
            for h in hooks:
                h.remove()
        with torch.no_grad():
            out, outn = _take(both, 0, B), _take(both, B, B + BK)
            loss, r, paired = self._rewards(model, task, out, outn, y, K, B)
            w = ((r - self._baseline(r, paired)) / (sigma**2 * BK)).to(x.dtype)
        fast = _fast_forward(None, x)
        for k, (layer, params) in enumerate(layers):
            xi = noise[k] * w.view(1, -1, *([1] * (noise[k].dim() - 2)))
            ff = [p for name, p in params.items() if name != "rec_weight"]
            if ff and fast and _plain_projection(layer, ff):
                # c = x W^T: the gradient of sum(xi * c) by W is xi^T x, one matrix product
                with torch.no_grad():
                    ff[0].grad = -_correlate(xi, inputs[k][:, B:])
            elif ff:
                with torch.enable_grad():
                    cur = _layer_current(layer, inputs[k][:, B:])
                    gs = torch.autograd.grad((cur * xi).sum(), ff)
                for p, g in zip(ff, gs, strict=True):
                    p.grad = -g.detach()
            if "rec_weight" in params:
                s = outputs[k][:, B:]
                params["rec_weight"].grad = -torch.einsum("tbo,tbi->oi", xi, s)
        self._finish(r, BK + self._n_paired(B))
        return RuleStep(loss.detach(), out)


def _plain_projection(layer: Any, ff: list[torch.nn.Parameter]) -> bool:
    """Whether a noisy layer's current is :math:`x W^\top` with ``W`` its only trained
    feed-forward parameter (:func:`_layer_current` on a dense layer without projection)."""
    from ...nn.conv import SpikingConv2d

    return (
        not isinstance(layer, SpikingConv2d)
        and getattr(layer, "projection", None) is None
        and len(ff) == 1
        and ff[0] is getattr(layer, "weight", None)
    )


def _noisy_layers(model: torch.nn.Module) -> list[tuple[Any, dict[str, torch.nn.Parameter]]]:
    """The layers (and readout) with a noise injection point and trained synaptic
    parameters: ``(layer, {"weight" / "bias" / "rec_weight": parameter})``."""
    from ...nn.lif import CurrentNoise

    out = []
    for layer in [*getattr(model, "layers", ()), getattr(model, "readout", None)]:
        if not isinstance(layer, CurrentNoise):
            continue
        params = {
            name: p
            for name in ("weight", "bias", "rec_weight")
            if isinstance(p := getattr(layer, name, None), torch.nn.Parameter) and p.requires_grad
        }
        if params:
            out.append((layer, params))
    return out


def _layer_current(layer: Any, x: Tensor) -> Tensor:
    """The input current :math:`c` a :class:`~spikegrad.nn.lif.CurrentNoise` layer
    computes from its input ``x`` (before the noise), ``[T, B, N]``."""
    from ...nn.conv import SpikingConv2d

    if isinstance(layer, SpikingConv2d):
        T, B = x.shape[:2]
        return layer.conv(x.reshape(T * B, *x.shape[2:])).reshape(T, B, -1)
    projection = getattr(layer, "projection", None)
    return x @ layer.weight.t() if projection is None else projection(x)


def _take(out: SNNOutput, lo: int, hi: int) -> SNNOutput:
    """Trials ``lo:hi`` of a network output (dimension 1 of every tensor)."""
    return SNNOutput(
        out.readout[:, lo:hi],
        tuple(s[:, lo:hi] for s in out.spikes),
        tuple(m[:, lo:hi] for m in out.membranes),
    )


# ------------------------------------------------------ functional SpikingNetwork pass
def _lif_weights(model: torch.nn.Module) -> dict[tuple[str, int], torch.nn.Parameter]:
    """Trained weights of a SpikingNetwork: ``("w", l)``, ``("v", l)``, ``("out", L)``."""
    out: dict[tuple[str, int], torch.nn.Parameter] = {}
    for k, layer in enumerate(model.layers):
        out["w", k] = layer.weight
        if layer.rec_weight is not None:
            out["v", k] = layer.rec_weight
    out["out", len(model.layers)] = model.readout.weight
    return {k: p for k, p in out.items() if p.requires_grad}


def _project(h: Tensor, W: Tensor) -> Tensor:
    """Input current ``h W^T``, ``[T, B, out]``; ``W`` ``[out, in]`` or ``[B, out, in]``."""
    if W.dim() == 2:
        return h @ W.t()
    return torch.einsum("tbi,boi->tbo", h, W)


def _lif_forward(
    model: torch.nn.Module,
    x: Tensor,
    *,
    noise: list[Tensor | None] | None = None,
    weights: dict[tuple[str, int], Tensor] | None = None,
) -> SNNOutput:
    """Forward pass of a SpikingNetwork with the functional LIF pieces.

    ``noise[l]`` (``[T, B, N_l]`` or ``None``) is added to layer ``l``'s input current
    (the last entry: the readout's); ``weights`` replaces weights by per-trial ones
    (``[B, out, in]``, keys as in :func:`_lif_weights`).
    """
    weights = weights or {}
    h, spikes = x, []
    n_layers = len(model.layers)
    fast = _fast_forward(model, x)
    for k, layer in enumerate(model.layers):
        cur = _project(h, weights.get(("w", k), layer.weight))
        if noise is not None and noise[k] is not None:
            cur = cur + noise[k]
        V = weights.get(("v", k), layer.rec_weight)
        p = layer.taus.params()
        if fast and (V is None or V.dim() == 2):
            from ...kernels.lif_numba import lif_sequence_numba

            s, _ = lif_sequence_numba(
                cur,
                p.beta_mem,
                p.beta_syn,
                layer.surrogate,
                rec_weight=V,
                reset=layer.reset,
                recurrent_grad=layer.recurrent_grad,
            )
        elif V is None or V.dim() == 2:
            s, _, _ = lif_sequence(
                cur,
                p,
                layer.surrogate,
                rec_weight=V,
                reset=layer.reset,
                recurrent_grad=layer.recurrent_grad,
            )
        elif fast:  # one recurrent matrix per trial, compiled
            from ...kernels.eprop_numba import lif_trials_recurrent

            s = lif_trials_recurrent(cur, V, p.beta_mem, p.beta_syn)
        else:  # one recurrent matrix per trial: lif_step plus the per-trial V S[n]
            state = LIFState.zeros(cur.shape[1], cur.shape[2], dtype=cur.dtype)
            steps = []
            for x_n in cur.unbind(0):
                s_n, state = lif_step(x_n, state, p, layer.surrogate, reset=layer.reset)
                rec = torch.bmm(V, s_n.unsqueeze(-1)).squeeze(-1)
                state = LIFState(state.u, state.i + rec)
                steps.append(s_n)
            s = torch.stack(steps)
        spikes.append(s)
        h = s
    ro = model.readout
    cur = _project(h, weights.get(("out", n_layers), ro.weight))
    if noise is not None and noise[n_layers] is not None:
        cur = cur + noise[n_layers]
    bm, bs = ro.taus.params()
    if fast and isinstance(ro.u0, (int, float)):
        from ...kernels import lif_numba

        u = lif_numba._LIReadoutNumba.apply(
            cur, None, bm, lif_numba._omb(bm), bs, float(ro.u0), None
        )
    else:
        u = li_sequence(cur, LIFParams(bm, bs), u0=ro.u0)
    return SNNOutput(u, tuple(spikes), ())


def _fast_forward(model: torch.nn.Module | None, x: Tensor) -> bool:
    """Whether :func:`_lif_forward` runs the compiled LIF and readout kernels
    (:mod:`spikegrad.kernels.lif_numba`): numba installed, a CPU float32/float64 input,
    every hidden layer's surrogate compiled, the reference not forced
    (:data:`spikegrad.kernels.eprop_numba.REFERENCE_ENV`). Spikes are bit-identical to
    the torch loop's (:func:`~spikegrad.kernels.lif_numba.lif_sequence_numba`).
    ``model=None``: the checks that do not depend on the model (the eligibility
    shortcut of :meth:`NodePerturbation._generic`)."""
    from ...kernels import eprop_numba, lif_numba

    if eprop_numba.reference_forced() or not lif_numba.available(None, x):
        return False
    if model is None:
        return True
    return all(
        lif_numba.surrogate_code(layer.surrogate) is not None
        and layer.reset in ("detach", "differentiable")
        for layer in model.layers
    )


def _correlate(xi: Tensor, src: Tensor) -> Tensor:
    r""":math:`\sum_{n,b} \xi_{bo}[n]\, z_{bi}[n]` ``[O, I]``: one matrix product."""
    return xi.reshape(-1, xi.shape[-1]).t() @ src.reshape(-1, src.shape[-1])
