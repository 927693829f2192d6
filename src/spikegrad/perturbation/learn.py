r"""The perturbation experiments' settings on the one trainer (:func:`~spikegrad.learning.fit`).

:func:`learn` maps a :class:`LearnConfig` (iterations of ``batch`` parallel trials, the
vocabulary of the papers' experiments) onto the shared parts: a
:class:`~spikegrad.nn.CobaSpikingNetwork` built from the task, a rule of
:data:`spikegrad.learning.rules.RULES` (:data:`RULES` below), a ``torch.optim``
optimizer, and ``fit`` with

* ``epochs = iterations / eval_every`` epochs of ``eval_every`` updates each (one
  validation, one history row per epoch; ``eval_every`` is lowered to the largest divisor
  of ``iterations`` so the run makes exactly ``iterations`` updates);
* on a task with one shared trial (:class:`~.tasks.RatesTask`): batches of 1 sample and
  ``batch`` noisy trials of it per update (the rule's ``trials``); on a classification
  task: ``batch`` samples per update, one noisy trial each.

Updates, with :math:`\hat g` the rule's reward-gradient estimate (``p.grad`` holds
:math:`-\hat g`):

* ``optimizer="sgd"``: :math:`W \leftarrow W + \text{lr}\,\hat g`. For the perturbation
  rule :math:`\hat g = \langle (R - \bar R) e\rangle / \sigma^2`, so this *is*
  :math:`\Delta W = \eta (R - \bar R) e` with :math:`\eta = \text{lr}/\sigma^2`
  (Fiete & Seung's update; ``lr`` = :math:`\eta\sigma^2` is what stays fixed across
  :math:`\sigma` and :math:`\Delta t`).
* ``optimizer="adam"``: Adam ascent on :math:`\hat g` (per-synapse step normalisation;
  not local in time but common to all rules, for side-by-side comparisons).

``lr_end``: the step size decays geometrically from ``lr`` to ``lr_end`` over the updates,
:math:`\text{lr}_k = \text{lr}\,(\text{lr}_\text{end}/\text{lr})^{(k-1)/(\text{iterations}-1)}`
(set by a post-step hook of the optimizer; the update count lives in the optimizer's
param group, so its ``state_dict`` carries the schedule into ``last.pt``). After every step the
weights are projected (clipped at 0, Dale's law; :meth:`~spikegrad.nn.
CobaSpikingNetwork.project_`).
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_positive
from ..learning.rules import Rule, make_rule
from ..learning.rules.perturbation import check_baseline
from ..learning.trainer import FitResult, evaluate, fit
from ..nn.coba import CobaSpikingNetwork

__all__ = ["RULES", "LearnConfig", "LearnResult", "learn"]

#: Experiment rule names -> (registry rule, its fixed options).
RULES: dict[str, tuple[str, dict[str, Any]]] = {
    "perturbation": ("conductance", {}),
    "empiric": ("conductance", {"noise": "empiric"}),
    "node": ("conductance", {"noise": "current"}),
    "weight": ("weight", {}),
    "bptt": ("bptt", {}),
}


@dataclass
class LearnConfig:
    """Settings of :func:`learn`.

    ``lr_end``: if set, the step size decays geometrically from ``lr`` to ``lr_end`` over
    the iterations. ``sigma`` is per rule: nS·s^{1/2} for ``perturbation``, pA·s^{1/2} for
    ``node`` (node perturbation of the coba model's currents), nS per weight for
    ``weight``. Every ``eval_every`` iterations the noise-free validation error is
    recorded. ``seed`` seeds the rule's noise and the batch order. ``surrogate`` and
    ``beta``: surrogate shape and scale of the ``bptt`` rule (``beta`` is the surrogate
    scale everywhere in spikegrad; this field was ``surrogate_beta``).
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
    beta: float = 5.0
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
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpikegradInputError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.baseline == "leave_one_out" and self.batch < 2:
            raise SpikegradInputError("baseline 'leave_one_out' needs batch >= 2")

    def rule_options(self, shared_input: bool) -> tuple[str, dict[str, Any]]:
        """Registry name and options of the rule these settings describe."""
        name, fixed = RULES[self.rule]
        if name == "bptt":
            return name, {}
        opts: dict[str, Any] = {
            "trials": self.batch if shared_input else 1,
            "sigma": self.sigma,
            # weight perturbation compares with the unperturbed trial, R(W + psi) - R(W)
            "baseline": "paired" if name == "weight" else self.baseline,
            "tau_R": self.tau_R,
            "seed": self.seed,
        }
        if name == "conductance":
            opts.update(
                gate_refractory=self.gate_refractory, empiric_rate=self.empiric_rate,
                empiric_weight=self.empiric_weight, empiric_tau=self.empiric_tau,
            )
        return name, {**opts, **fixed}


@dataclass
class LearnResult:
    """Weights of the returned model, the learning curve (one dict per evaluation), the
    settings, and what :func:`~spikegrad.learning.fit` returned.

    ``W`` and ``fit.model`` are the best-validation weights (the trainer's rule; for
    :class:`~.tasks.RatesTask` validation is the training trial); ``history[-1]`` is the
    last iterate's evaluation.
    """

    W: Tensor
    history: list[dict] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    fit: FitResult | None = None
    rule: Rule | None = None


def _eval_period(iterations: int, eval_every: int) -> int:
    """The largest divisor of ``iterations`` that is <= ``eval_every``."""
    k = min(eval_every, iterations)
    while iterations % k:
        k -= 1
    return k


def learn(
    task: Any,
    config: LearnConfig,
    W0: Tensor | None = None,
    *,
    callback: Callable[[dict], None] | None = None,
    out_dir: str | Path | None = None,
    progress: bool = False,
    plots: bool = False,
) -> LearnResult:
    """Train ``task``'s network with ``config.rule`` through :func:`~spikegrad.learning.fit`.

    ``task`` is a :class:`~spikegrad.tasks.Task` that builds its network
    (``topology``, ``params``, ``init_weights()``, ``samples_per_epoch``; a class attribute
    ``shared_input = True`` marks a task whose batches repeat one trial). Each history
    entry holds ``iteration``, ``trials`` (trials the rule's estimates consumed: noisy ones
    plus the paired unperturbed ones; BPTT: one per sample), ``wall_seconds`` (training and
    the per-epoch validation), ``train_loss`` (mean noise-free loss of the epoch's
    batches), ``error`` (validation loss), ``accuracy`` (classification) and
    ``spikes_per_neuron``. ``out_dir``: the run folder ``fit`` writes (config.json,
    history.csv, checkpoint.pt, last.pt, metrics.json).
    """
    W = task.init_weights() if W0 is None else W0
    model = CobaSpikingNetwork(
        task.topology, task.params, W, surrogate=config.surrogate, beta=config.beta
    )
    shared = bool(getattr(task, "shared_input", False))
    name, options = config.rule_options(shared)
    rule = make_rule(name, **options)
    batch_size = 1 if shared else config.batch
    per = _eval_period(config.iterations, config.eval_every)
    epochs = config.iterations // per
    task = copy.copy(task)
    task.samples_per_epoch = per * batch_size
    cls = torch.optim.Adam if config.optimizer == "adam" else torch.optim.SGD
    opt = cls(model.parameters(), lr=config.lr)
    if config.lr_end is not None and config.iterations > 1 and config.lr > 0:
        lr0, ratio, span = config.lr, config.lr_end / config.lr, config.iterations - 1

        def _decay(optimizer, *_):
            # lr of update k (1-based): lr0 * ratio ** ((k - 1) / span); the count lives in
            # the param group, so the optimizer's state_dict (last.pt) carries it
            for g in optimizer.param_groups:
                g["decay_steps"] = g.get("decay_steps", 0) + 1
                g["lr"] = lr0 * ratio ** (g["decay_steps"] / span)

        opt.register_step_post_hook(_decay)
    model.constrain(opt)
    settings = {
        "learn": asdict(config),
        "task": task.to_dict(),
        "rule": rule.name,
        "rule_options": rule.to_dict(),
        "epochs": epochs,
        "eval_every": per,
        "batch_size": batch_size,
        "seed": config.seed,
    }
    history: list[dict] = []
    has_acc = task.score_name == "accuracy"
    ev = evaluate(model, task, "val")
    row0 = {"iteration": 0, "trials": 0, "wall_seconds": 0.0, "train_loss": float("nan"),
            "error": ev["loss"], "spikes_per_neuron": ev["spikes_per_neuron"]}
    if has_acc:
        row0["accuracy"] = ev["accuracy"]
    history.append(row0)
    if callback is not None:
        callback(row0)
    t0 = time.perf_counter()

    def on_epoch(stats) -> None:
        steps = stats.epoch * per
        trials = getattr(rule, "trials_simulated", steps * batch_size)
        row = {"iteration": steps, "trials": int(trials),
               "wall_seconds": time.perf_counter() - t0, "train_loss": stats.train_loss,
               "error": stats.val_loss, "spikes_per_neuron": stats.spikes_per_neuron}
        if has_acc:
            row["accuracy"] = stats.val_accuracy
        history.append(row)
        if callback is not None:
            callback(row)

    res = fit(
        model, rule, task, opt, epochs=epochs, batch_size=batch_size, seed=config.seed,
        out_dir=out_dir, config=settings, eval_every=1, progress=progress, plots=plots,
        callback=on_epoch,
    )
    return LearnResult(
        res.model.weight.detach().clone(), history, dataclasses.asdict(config), res, rule
    )
