r"""Dynamic perturbation of conductances (Fiete & Seung 2006), spikegrad's reading.

**Perturbation.** Every trial, each neuron :math:`i` receives a white-noise conductance
:math:`\xi_i[n] = (\sigma/\sqrt{\Delta t})\,\mathcal N(0, 1)` (nS) with the reversal
potential of the plastic synapses it perturbs (:math:`E_E` for excitatory synapses;
a second, independent channel with :math:`E_I` when inhibitory synapses are plastic).
With *empiric synapses* the perturbation is the fluctuation
:math:`\xi_i = g^\text{emp}_i - \langle g^\text{emp}_i\rangle` of an extra excitatory
conductance driven by Poisson spike trains (see :class:`EmpiricSynapses`).

**Eligibility** (non-decaying within the trial; presynaptic traces :math:`s_j[n]` as used
in step :math:`n`):

.. math:: e_{ij} = \sum_n \xi_i[n]\, s_j[n]\, \Delta t .

**Update** after the trial: :math:`\Delta W_{ij} = \eta\,(R - \bar R)\, e_{ij}` with a
baseline :math:`\bar R` that does not depend on the current trial's noise (a running
average of past rewards, or the reward of a paired unperturbed trial); weights stay
non-negative magnitudes (Dale's law: the presynaptic population sets the sign).

**Why it is unbiased (spikegrad's reading, exact in discrete time).** :math:`W` enters the
dynamics only through :math:`G_i[n] = \sum_j W_{ij}s_j[n] + \xi_i[n]`, and given the past
:math:`G_i[n]` is Gaussian with mean :math:`\sum_j W_{ij}s_j[n]` and variance
:math:`\sigma^2/\Delta t`. Everything in the trial (spikes, reward) is a deterministic
function of the path of :math:`G` (and of inputs and fixed weights), so the likelihood
ratio gives

.. math:: \frac{\partial}{\partial W_{ij}} \mathbb E[R]
          = \mathbb E\Big[R \sum_n \frac{\xi_i[n]\, s_j[n]}{\sigma^2/\Delta t}\Big]
          = \frac{1}{\sigma^2}\,\mathbb E\big[(R - \bar R)\, e_{ij}\big]

for any spiking, discontinuous :math:`R`, any integrator and recurrent connections,
where :math:`\mathbb E[R]` is the expected reward *under the perturbation*. Hence
:math:`\mathbb E[\Delta W] = \eta\sigma^2 \nabla_W \mathbb E[R]`: keep :math:`\eta\sigma^2`
fixed when changing :math:`\sigma` or :math:`\Delta t`. The identity needs the
perturbation to share the reversal potential of the synapses it credits; crediting an
inhibitory synapse with excitatory noise would scale its gradient by
:math:`(V - E_I)/(V - E_E)`, hence the separate inhibitory channel here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_nonnegative, check_positive
from .coba import CobaNetwork

__all__ = [
    "BASELINES",
    "white_noise",
    "EmpiricSynapses",
    "eligibility",
    "RunningBaseline",
    "check_baseline",
    "baseline_values",
    "perturbation_update",
    "apply_update",
]

#: Baselines that do not depend on the current trial's noise.
BASELINES = ("running", "paired", "leave_one_out", "none")
_BIASED = {
    "batch_mean": "the mean over the batch includes the current trial's reward",
    "mean": "the mean over the batch includes the current trial's reward",
    "current": "the current trial's own reward",
    "trial": "the current trial's own reward",
}


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
    net: CobaNetwork,
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


def apply_update(W: Tensor, dW: Tensor, net: CobaNetwork) -> Tensor:
    """``W + dW`` on plastic synapses, clipped at 0 (sign constraints: Dale's law)."""
    if dW.shape != W.shape:
        raise SpikegradInputError(f"dW has shape {tuple(dW.shape)}, W has {tuple(W.shape)}")
    return torch.clamp(W + dW * net.plastic.to(W.dtype), min=0.0) * net.connectivity.to(W.dtype)
