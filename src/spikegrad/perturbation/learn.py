r"""Trial-by-trial learning loop shared by every rule.

Each iteration runs ``batch`` trials in parallel with the current weights, forms the
rule's gradient estimate :math:`\hat g` (mean over the batch; see
:mod:`.estimators`), and steps the plastic weights:

* ``optimizer="sgd"``: :math:`W \leftarrow W + \text{lr}\,\hat g`. For the perturbation
  rule :math:`\hat g = \langle (R - \bar R) e\rangle / \sigma^2`, so this *is*
  :math:`\Delta W = \eta (R - \bar R) e` with :math:`\eta = \text{lr}/\sigma^2`
  (Fiete & Seung's update; ``lr`` = :math:`\eta\sigma^2` is what stays fixed across
  :math:`\sigma` and :math:`\Delta t`).
* ``optimizer="adam"``: Adam ascent on :math:`\hat g` (per-synapse step normalisation;
  not local in time but common to all rules, for side-by-side comparisons).

After every step the weights are clipped at 0 on plastic synapses (Dale's law).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_positive
from ..functional.surrogate import make_surrogate
from .estimators import estimate_gradient
from .rule import EmpiricSynapses, RunningBaseline, check_baseline

__all__ = ["RULES", "LearnConfig", "LearnResult", "learn"]

#: Learning rules -> estimator.
RULES = {
    "perturbation": "conductance",
    "empiric": "empiric",
    "node": "current",
    "weight": "weight",
    "bptt": "bptt",
}


@dataclass
class LearnConfig:
    """Settings of :func:`learn`.

    ``lr_end``: if set, the step size decays geometrically from ``lr`` to ``lr_end`` over
    the iterations. ``sigma`` is per rule: nS·s^{1/2} for ``perturbation``, pA·s^{1/2} for ``node``,
    nS per weight for ``weight``. ``eval_every`` iterations the noise-free error is
    recorded.
    """

    rule: str = "perturbation"
    iterations: int = 200
    batch: int = 16
    lr: float = 0.05
    lr_end: float | None = None
    optimizer: str = "adam"
    sigma: float = 1.0
    baseline: str = "paired"
    tau_R: float = 5.0
    empiric_rate: float = 200.0
    empiric_weight: float = 10.0
    empiric_tau: float = 1e-3
    surrogate: str = "superspike"
    surrogate_beta: float = 5.0
    gate_refractory: bool = False
    eval_every: int = 10
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("rule", self.rule, tuple(RULES))
        check_choice("optimizer", self.optimizer, ("adam", "sgd"))
        check_baseline(self.baseline)
        check_positive("sigma", self.sigma)
        if not self.lr >= 0:
            raise SpikegradInputError(f"lr (eta sigma^2) must be >= 0, got {self.lr!r}")
        if self.lr_end is not None and not self.lr_end > 0:
            raise SpikegradInputError(f"lr_end must be > 0, got {self.lr_end!r}")
        for nm in ("iterations", "batch", "eval_every"):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise SpikegradInputError(f"{nm} must be an integer >= 1, got {v!r}")
        if self.baseline == "leave_one_out" and self.batch < 2:
            raise SpikegradInputError("baseline 'leave_one_out' needs batch >= 2")


@dataclass
class LearnResult:
    """Final weights and the learning curve (one dict per evaluation)."""

    W: Tensor
    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)


def learn(
    task,
    config: LearnConfig,
    W0: Tensor | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
) -> LearnResult:
    """Train ``task``'s plastic weights with ``config.rule``.

    ``task`` provides ``net``, ``params``, ``init_weights()``, ``sample(batch, generator)``,
    ``reward_fn(targets)`` and ``evaluate(W)`` (see :mod:`.tasks`). Each history entry
    holds ``iteration``, ``trials`` (simulated trials so far, including paired ones),
    ``wall_seconds``, ``reward`` (mean of the last batch) and the task's evaluation.
    """
    net, params = task.net, task.params
    W = (task.init_weights() if W0 is None else W0).clone()
    net.check_weights(W)
    gen = torch.Generator().manual_seed(config.seed)
    method = RULES[config.rule]
    emp = EmpiricSynapses(config.empiric_rate, config.empiric_weight, config.empiric_tau)
    sur = make_surrogate(config.surrogate, config.surrogate_beta)
    running = RunningBaseline(config.tau_R) if config.baseline == "running" else None
    Wp = W.clone().requires_grad_(True)
    opt = torch.optim.Adam([Wp], lr=config.lr) if config.optimizer == "adam" else None
    plastic = net.plastic.to(W.dtype)
    history: list[dict] = []
    trials = 0
    t0 = time.perf_counter()
    wall_eval = 0.0

    def record(it: int, reward: float) -> None:
        nonlocal wall_eval
        te = time.perf_counter()
        ev = task.evaluate(Wp.detach())
        wall_eval += time.perf_counter() - te
        row = {"iteration": it, "trials": trials,
               "wall_seconds": time.perf_counter() - t0 - wall_eval, "reward": reward, **ev}
        history.append(row)
        if callback is not None:
            callback(row)

    record(0, float("nan"))
    for it in range(1, config.iterations + 1):
        x, y = task.sample(config.batch, gen)
        reward_fn = task.reward_fn(y)
        k = x.shape[1] if method == "bptt" else config.batch
        g, r, _ = estimate_gradient(
            method, Wp.detach(), net, params, x, reward_fn,
            sigma=config.sigma, generator=gen, n_trials=k,
            baseline="paired" if method == "weight" else config.baseline,
            empiric=emp, gate_refractory=config.gate_refractory, surrogate=sur,
            running=running, trial=it,
        )
        paired = config.baseline == "paired" or method == "weight"
        trials += k + (x.shape[1] if paired and method != "bptt" else 0)
        ghat = g.mean(0) * plastic
        if running is not None:
            running.update(r, it)
        lr = config.lr
        if config.lr_end is not None and config.iterations > 1:
            lr = config.lr * (config.lr_end / config.lr) ** ((it - 1) / (config.iterations - 1))
        with torch.no_grad():
            if opt is None:
                Wp += lr * ghat
            else:
                Wp.grad = -ghat
                opt.param_groups[0]["lr"] = lr
                opt.step()
            Wp.clamp_(min=0.0)
            Wp.mul_(net.connectivity.to(W.dtype))
        if it % config.eval_every == 0 or it == config.iterations:
            record(it, float(r.mean()))
    return LearnResult(Wp.detach().clone(), history, asdict(config))
