r"""Compare learning rules on one model: accuracy, cost and gradient fidelity side by side.

:func:`compare` trains the same network with several rules (:data:`COMPARE_RULES`) over
several seeds. For a seed ``s`` every rule starts from the same initial weights (the model
is built once from ``s`` and deep-copied per rule) and sees the same batches (the
trainer's batch order comes from ``s``); rules that need another model kind get the
matching model built from the same seed (the recurrent network for ``eprop-rec``, the
conductance-based classifier for ``conductance``, an SRM0 neuron for ``kernel``). A rule
that cannot serve the task is refused up front with one line.

Per (rule, seed) *cell* it records, per epoch: validation score, wall and CPU seconds,
spikes per neuron; at the end: test score (best-validation model), best validation
score and its epoch, the process's peak resident memory during the cell; and at the
*fidelity checkpoints* (epoch 0 and the epochs at fractions ``checkpoints`` of training)
the **gradient fidelity** of the rule on a fixed batch of the training split:

.. math::

    \cos = \frac{\langle \hat g, g\rangle}{\lVert \hat g\rVert\,\lVert g\rVert}, \qquad
    \rho = \frac{\lVert \hat g\rVert}{\lVert g\rVert}, \qquad
    V = \frac{1}{D-1}\sum_{d=1}^{D} \lVert \hat g_d - \bar g\rVert^2

where :math:`g` is the exact BPTT gradient of the same loss with the same surrogate, on
the same weights and batch (:func:`gradient_fidelity`); :math:`\cos` and :math:`\rho`
are averaged over ``draws`` independent noise draws :math:`\hat g_d` of a stochastic rule,
:math:`V` is the estimator's total variance over them (trace of the covariance), also
reported relative to :math:`\lVert g\rVert^2`. The rule's own noise generator is never
touched by a measurement (a deep copy is measured), so training is the same with or
without fidelity checkpoints.

Probes (per seed, on the untrained model): the cosine of node/weight perturbation as the
number of trials per estimate grows, and the estimators' variance as the network grows
(Werfel, Xie & Seung 2005: the variance of perturbation grows with the number of
perturbed units).

The classification tasks are built **without** the activity regulariser, so every rule
(gradient-based or reward-based) follows the same objective, the cross-entropy.

Output folder (resumable: a finished cell is never run again)::

    OUT/compare.json       the settings (a rerun must match them; rules and seeds may grow)
    OUT/runs/<cell>.json   one record per finished cell or probe (atomic writes)
    OUT/results.csv        one row per rule x seed x checkpoint (epoch)
    OUT/summary.csv        one row per rule: means, 95 % intervals, costs, fidelity
    OUT/probes.csv         trials and network-size probes
    OUT/expectations.json  checkable expectations with verdicts computed from the data
    OUT/report.md          the table, a reading of it, the expectations, the plots
    OUT/accuracy_epoch.png, accuracy_wall.png, cosine.png, variance_size.png
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import resource
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from .._checks import SpikegradInputError, check_choice, check_size
from ..io.checkpoint import atomic_write_text
from .stats import CONFIDENCE, Interval, diff_interval, mean_interval
from .sweep import EXECUTORS, load_results, write_results_csv

__all__ = [
    "COMPARE_RULES",
    "COMPARE_TASKS",
    "RuleSpec",
    "CompareConfig",
    "CompareOutcome",
    "compare",
    "run_cell",
    "gradient_fidelity",
    "summarise",
    "expectations",
    "write_compare_report",
]


@dataclass(frozen=True)
class RuleSpec:
    """A rule of the comparison: registry rule, its options, the model it trains."""

    rule: str
    options: dict
    model: str  # a model variant: "lif", "lif-rec", "alif", "alif-rec", "coba", "srm"
    about: str


#: names ``compare`` accepts -> (rule, options, model variant)
COMPARE_RULES: dict[str, RuleSpec] = {
    "bptt": RuleSpec("bptt", {}, "lif", "surrogate-gradient BPTT (the reference)"),
    "tbptt": RuleSpec("tbptt", {"k": 10}, "lif", "BPTT truncated to 10-step windows"),
    "eprop": RuleSpec("eprop", {}, "lif", "e-prop, feed-forward hidden layer"),
    "eprop-rec": RuleSpec("eprop", {}, "lif-rec", "e-prop, recurrent hidden layer"),
    "bptt-rec": RuleSpec("bptt", {}, "lif-rec", "BPTT on the recurrent network"),
    "node": RuleSpec("node", {"trials": 4}, "lif", "node perturbation, 4 trials"),
    "weight": RuleSpec("weight", {"trials": 4}, "lif", "weight perturbation, 4 trials"),
    "conductance": RuleSpec(
        "conductance", {"trials": 4}, "coba", "conductance perturbation (coba model)"
    ),
    "weight-coba": RuleSpec("weight", {"trials": 4}, "coba", "weight perturbation (coba)"),
    "bptt-coba": RuleSpec("bptt", {}, "coba", "surrogate BPTT through the coba model"),
    "bptt-alif": RuleSpec("bptt", {}, "alif", "BPTT on the adaptive-threshold (ALIF) network"),
    "bptt-alif-rec": RuleSpec("bptt", {}, "alif-rec", "BPTT on the recurrent ALIF network"),
    "ottt": RuleSpec("ottt", {}, "lif", "OTTT: online, presynaptic traces (memory flat in T)"),
    "ostl": RuleSpec("ostl", {}, "lif", "OSTL: online spatio-temporal eligibility, one layer"),
    "eprop-random": RuleSpec(
        "eprop-random", {}, "lif", "e-prop with fixed random feedback (OSTL's traces)"
    ),
    "eventprop": RuleSpec(
        "eventprop", {}, "lif", "EventProp: exact gradient of the event-driven LIF model"
    ),
    "kernel": RuleSpec("kernel", {}, "srm", "spike-train kernel rule (SRM0)"),
    "resume": RuleSpec("resume", {}, "srm", "ReSuMe (SRM0)"),
}

#: ``spikegrad compare --model`` choices (names of :data:`spikegrad.nn.catalog.MODEL_CHOICES`
#: that compare builds) -> the model variant (``--recurrent`` adds ``-rec`` where allowed)
COMPARE_MODELS = {"lif": "lif", "alif": "alif", "coba": "coba", "srm": "srm"}
_RECURRENT = ("lif", "alif")

#: tasks with their own model kinds; every other name is a data set of make_task
COMPARE_TASKS = {"rates": ("coba",), "spike-target": ("srm",)}
_CLASSIFY_MODELS = ("lif", "lif-rec", "alif", "alif-rec", "coba")
#: default learning rate (Adam) per model variant
_LR = {"lif": 1e-2, "lif-rec": 1e-2, "alif": 1e-2, "alif-rec": 1e-2, "coba": 0.3, "srm": 3e-3}


def model_variant(model: str, recurrent: bool = False) -> str:
    """The model variant of ``--model`` (and ``--recurrent``)."""
    check_choice("model", model, tuple(COMPARE_MODELS))
    if recurrent and model not in _RECURRENT:
        raise SpikegradInputError(
            f"--recurrent: the {model!r} model has no recurrent variant in compare "
            f"(recurrent: {', '.join(_RECURRENT)})"
        )
    return COMPARE_MODELS[model] + ("-rec" if recurrent else "")


def compared_name(rule: str, variant: str) -> str | None:
    """The name in :data:`COMPARE_RULES` of registry ``rule`` on model ``variant``
    (``eprop`` on ``lif-rec``: ``eprop-rec``), or None if compare has no such pair."""
    for name, spec in COMPARE_RULES.items():
        if spec.rule == rule and spec.model == variant:
            return name
    return None


@dataclass
class CompareConfig:
    """Settings of a comparison (saved as ``compare.json``).

    ``checkpoints``: fractions of training after which fidelity is measured (epoch 0 is
    always measured). ``draws``: noise draws per fidelity measurement of a stochastic
    rule. ``target``: the score whose first crossing gives the time to target (default
    halfway from chance to 1). ``probe_trials``, ``probe_sizes``: the trials and hidden
    sizes of the probes (empty: no probe). ``lr``: Adam's rate (default per model kind:
    lif 1e-2, coba 0.3, srm 3e-3); ``rule_options`` override a rule's options by name.
    """

    task: str = "randman"
    task_options: dict = field(default_factory=dict)
    rules: tuple[str, ...] = ("bptt", "eprop", "node")
    seeds: int = 3
    epochs: int = 10
    batch_size: int = 32
    hidden: int | tuple[int, ...] = 32
    lr: float | None = None
    rule_options: dict = field(default_factory=dict)
    checkpoints: tuple[float, ...] = (0.5, 1.0)
    fidelity_batch: int = 32
    draws: int = 8
    target: float | None = None
    probe_trials: tuple[int, ...] = (1, 4, 16, 64)
    probe_sizes: tuple[int, ...] = (8, 16, 32, 64)
    probe_draws: int = 16
    threads: int = 1
    first_seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.task, str):
            raise SpikegradInputError(f"task must be a name, got {self.task!r}")
        self.rules = tuple(self.rules)
        if not self.rules:
            raise SpikegradInputError("rules: name at least one rule")
        for r in self.rules:
            check_choice("rule", r, tuple(COMPARE_RULES))
        if len(set(self.rules)) != len(self.rules):
            raise SpikegradInputError(f"rules: each rule once, got {list(self.rules)}")
        self.seeds = check_size("seeds", self.seeds, 1)
        self.epochs = check_size("epochs", self.epochs, 1)
        for name in ("batch_size", "fidelity_batch", "draws", "probe_draws",
                     "threads"):  # fmt: skip
            setattr(self, name, check_size(name, getattr(self, name), 1))
        self.first_seed = check_size("first seed", self.first_seed, 0)
        if isinstance(self.hidden, (list, tuple)):  # one layer: an int, as before lists
            sizes = tuple(check_size("hidden", h, 1) for h in self.hidden)
            if not sizes:
                raise SpikegradInputError("hidden: give at least one layer size")
            self.hidden = sizes[0] if len(sizes) == 1 else sizes
        else:
            self.hidden = check_size("hidden", self.hidden, 1)
        if self.draws < 2:
            raise SpikegradInputError(
                f"draws must be >= 2 (a variance needs two), got {self.draws}"
            )
        if self.lr is not None and not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise SpikegradInputError(f"lr must be a positive number, got {self.lr!r}")
        self.checkpoints = tuple(float(c) for c in self.checkpoints)
        if any(not 0 < c <= 1 for c in self.checkpoints):
            raise SpikegradInputError(
                f"checkpoints must be fractions in (0, 1], got {self.checkpoints}"
            )
        self.probe_trials = tuple(check_size("probe trials", t, 1) for t in self.probe_trials)
        self.probe_sizes = tuple(check_size("probe sizes", t, 1) for t in self.probe_sizes)
        if self.target is not None and not 0 < float(self.target) <= 1:
            raise SpikegradInputError(f"target must be in (0, 1], got {self.target!r}")
        if not isinstance(self.rule_options, dict) or not all(
            isinstance(v, dict) for v in self.rule_options.values()
        ):
            raise SpikegradInputError("rule_options must map rule names to option dicts")
        for r in self.rule_options:
            if r not in self.rules:
                raise SpikegradInputError(
                    f"rule_options for {r!r}, which is not compared "
                    f"(rules: {', '.join(self.rules)})"
                )
        allowed = COMPARE_TASKS.get(self.task, _CLASSIFY_MODELS)
        for r in self.rules:
            kind = COMPARE_RULES[r].model
            if kind == "coba" and isinstance(self.hidden, tuple):
                raise SpikegradInputError(
                    f"hidden: rule {r!r} trains the coba model, which has one hidden layer; "
                    f"give one size, got {list(self.hidden)}"
                )
            if kind not in allowed:
                hint = (
                    "classification tasks (randman, digits, ...)"
                    if kind in _CLASSIFY_MODELS
                    else " / ".join(t for t, m in COMPARE_TASKS.items() if kind in m)
                )
                raise SpikegradInputError(
                    f"rule {r!r} trains a {kind!r} model, which cannot serve task "
                    f"{self.task!r}; use it on {hint}"
                )

    def rule_spec(self, name: str) -> tuple[str, dict, str]:
        """``(registry rule, options, model variant)`` of a compared rule."""
        s = COMPARE_RULES[name]
        return s.rule, {**s.options, **self.rule_options.get(name, {})}, s.model

    def key(self) -> dict:
        """The settings a resumed comparison must share (all but rules, seeds, threads)."""
        d = asdict(self)
        for k in ("rules", "seeds", "threads", "first_seed"):
            d.pop(k)
        d["rule_options"] = {k: v for k, v in sorted(self.rule_options.items())}
        return json.loads(json.dumps(d))


# ----------------------------------------------------------------------------- building
_TASKS: dict[str, Any] = {}


def build_task(name: str, options: dict) -> Any:
    """The task of a comparison (cached per process): ``rates`` (conductance network),
    ``spike-target`` (SRM0), or a task of :func:`~spikegrad.tasks.make_task` without
    activity regulariser."""
    key = json.dumps([name, options], sort_keys=True)
    if key not in _TASKS:
        if name == "rates":
            from ..perturbation.tasks import RatesTask

            try:
                task: Any = RatesTask(**{"samples_per_epoch": 8, **options})
            except TypeError as exc:
                raise SpikegradInputError(f"task 'rates': bad options {options!r}") from exc
        else:
            from ..tasks import make_task

            task = make_task(name, **options)
        _TASKS.clear()
        _TASKS[key] = task
    return _TASKS[key]


def build_model(
    variant: str, task: Any, hidden: int | Sequence[int], seed: int
) -> torch.nn.Module:
    """The model of ``variant`` for ``task``, weights from ``seed`` (``hidden``: one size
    or one per layer)."""
    gen = torch.Generator().manual_seed(int(seed))
    sizes = (hidden,) if isinstance(hidden, int) else tuple(hidden)
    if variant in ("lif", "lif-rec", "alif", "alif-rec"):
        from ..learning.config import fluctuation_rates
        from ..nn.alif import ALIFNetwork
        from ..nn.network import SpikingNetwork

        input_rate, hidden_rate = fluctuation_rates(task.split("train"))
        cls = ALIFNetwork if variant.startswith("alif") else SpikingNetwork
        return cls(
            task.n_inputs, task.n_outputs, hidden=sizes, recurrent=variant.endswith("-rec"),
            seed=seed, init="fluctuation", input_rate=input_rate, hidden_rate=hidden_rate,
        )
    if variant == "coba":
        if hasattr(task, "init_weights"):  # rates: the task's own network
            return task.model(task.init_weights(gen))
        from ..nn.coba import coba_classifier

        return coba_classifier(task.n_inputs, task.n_outputs, n_hidden=sizes[0], seed=seed)
    from ..nn.srm import SRMLayer

    return SRMLayer(task.n_inputs, task.n_outputs, init_scale=0.02, generator=gen)


def _flat_grads(model: torch.nn.Module, names: Sequence[str] | None = None):
    grads = {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
    keys = list(grads) if names is None else list(names)
    vec = torch.cat(
        [(grads[n] if n in grads else torch.zeros_like(dict(model.named_parameters())[n]))
         .detach().double().flatten() for n in keys]
    ) if keys else torch.zeros(0, dtype=torch.float64)
    return vec, keys


def _cos(a: torch.Tensor, b: torch.Tensor) -> float:
    na, nb = float(a @ a), float(b @ b)
    if na == 0 or nb == 0:
        return math.nan
    return float(a @ b) / math.sqrt(na * nb)


def reference_gradient(
    model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any
) -> dict[str, torch.Tensor]:
    """Exact surrogate BPTT gradient of the task loss on a copy of ``model`` (by name)."""
    from ..learning.rules import make_rule

    m = copy.deepcopy(model)
    make_rule("bptt").gradients(m, task, x, y)
    return {n: p.grad.detach().clone() for n, p in m.named_parameters() if p.grad is not None}


def gradient_fidelity(
    model: torch.nn.Module,
    rule: Any,
    task: Any,
    x: torch.Tensor,
    y: Any,
    *,
    draws: int = 1,
    reference: dict[str, torch.Tensor] | None = None,
) -> dict[str, float]:
    r"""Cosine, norm ratio and variance of ``rule``'s update against exact BPTT.

    The rule runs ``draws`` times on deep copies of ``model`` (a deep copy of ``rule``, so
    the caller's noise generator is untouched; successive draws continue the copy's
    generator: independent noise). The comparison uses the parameters the rule trains (a
    ``.grad`` left by the rule); the reference is the BPTT gradient of the same
    parameters (``reference`` if given, else :func:`reference_gradient`). Returns
    ``cosine`` and ``norm_ratio`` (means over draws), ``cosine_of_mean`` (of the mean
    estimate), ``variance`` (:math:`\frac{1}{D-1}\sum_d \lVert\hat g_d - \bar g\rVert^2`,
    NaN for one draw) and ``rel_variance`` (``variance`` / :math:`\lVert g\rVert^2`).
    """
    draws = check_size("draws", draws, 1)
    ref = reference if reference is not None else reference_gradient(model, task, x, y)
    r = copy.deepcopy(rule)
    est, names = [], None
    for _ in range(draws):
        m = copy.deepcopy(model)
        r.gradients(m, task, x, y)
        v, names = _flat_grads(m, names)
        est.append(v)
    g = torch.cat(
        [(ref[n] if n in ref else torch.zeros_like(dict(model.named_parameters())[n]))
         .double().flatten() for n in names]
    ) if names else torch.zeros(0, dtype=torch.float64)
    gn = math.sqrt(float(g @ g))
    cos = [_cos(e, g) for e in est]
    ratio = [math.sqrt(float(e @ e)) / gn if gn > 0 else math.nan for e in est]
    mean = torch.stack(est).mean(0)
    var = (
        float(sum(float((e - mean) @ (e - mean)) for e in est) / (draws - 1))
        if draws > 1 else math.nan
    )
    return {
        "cosine": sum(cos) / draws,
        "norm_ratio": sum(ratio) / draws,
        "cosine_of_mean": _cos(mean, g),
        "variance": var,
        "rel_variance": var / gn**2 if gn > 0 else math.nan,
        "n_params": int(g.numel()),
        "draws": draws,
    }


def _is_stochastic(rule: Any) -> bool:
    return hasattr(rule, "trials") and hasattr(rule, "seed")


def _fixed_batch(task: Any, n: int, dtype: torch.dtype) -> tuple[torch.Tensor, Any]:
    return next(iter(task.batches("train", n, shuffle=False, dtype=dtype)))


def _peak_reset() -> bool:
    """Reset this process's resident-memory high-water mark (Linux ``clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _checkpoint_epochs(epochs: int, fractions: Sequence[float]) -> list[int]:
    return sorted({max(1, int(round(f * epochs))) for f in fractions})


# ----------------------------------------------------------------------------- one cell
def run_cell(config: dict, rule_name: str, seed: int) -> dict:
    """Train one (rule, seed) cell and measure it; returns the cell's record.

    ``config`` is :meth:`CompareConfig.key` plus ``threads``; runs in a worker process
    (local or Ray) or in the caller.
    """
    from ..learning.rules import make_rule
    from ..learning.trainer import fit

    opts = {k: v for k, v in config.get("rule_options", {}).items() if k == rule_name}
    cfg = CompareConfig(**{**config, "rules": (rule_name,), "seeds": 1, "rule_options": opts})
    torch.set_num_threads(cfg.threads)
    task = build_task(cfg.task, cfg.task_options)
    rname, options, variant = cfg.rule_spec(rule_name)
    base = build_model(variant, task, cfg.hidden, seed)  # built once per seed ...
    model = copy.deepcopy(base)  # ... and copied for the rule
    digest = _digest(base)
    if "seed" in _fields(rname):
        options = {"seed": seed, **options}
    rule = make_rule(rname, **options)
    rule.check_model(model)
    dtype = next(model.parameters()).dtype
    x_f, y_f = _fixed_batch(task, cfg.fidelity_batch, dtype)
    has_ref = variant != "srm"
    draws = cfg.draws if _is_stochastic(rule) else 1
    rows: list[dict] = []
    fidelity: dict[int, dict] = {}

    def measure(epoch: int) -> None:
        if has_ref:
            fidelity[epoch] = gradient_fidelity(model, rule, task, x_f, y_f, draws=draws)

    lr = cfg.lr if cfg.lr is not None else _LR[variant]
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if variant == "coba":
        from ..nn.coba import CobaSpikingNetwork

        cast(CobaSpikingNetwork, model).constrain(opt)
    marks = set(_checkpoint_epochs(cfg.epochs, cfg.checkpoints))
    measure(0)
    from ..learning.trainer import evaluate

    start = evaluate(model, task, "val")
    peak_ok = _peak_reset()
    t0, c0 = time.perf_counter(), time.process_time()
    clock = {"wall": 0.0, "cpu": 0.0, "t": t0, "c": c0}
    rows.append({"epoch": 0, "val_accuracy": start["accuracy"], "train_loss": None,
                 "spikes_per_neuron": start["spikes_per_neuron"], "wall_s": 0.0,
                 "cpu_s": 0.0})  # fmt: skip

    def after_epoch(stats) -> None:
        t, c = time.perf_counter(), time.process_time()
        clock["wall"] += t - clock["t"]
        clock["cpu"] += c - clock["c"]
        rows.append({
            "epoch": stats.epoch, "val_accuracy": stats.val_accuracy,
            "train_loss": stats.train_loss, "train_accuracy": stats.train_accuracy,
            "spikes_per_neuron": stats.spikes_per_neuron,
            "wall_s": clock["wall"], "cpu_s": clock["cpu"],
        })  # fmt: skip
        if stats.epoch in marks:
            measure(stats.epoch)  # not counted as training time
        clock["t"], clock["c"] = time.perf_counter(), time.process_time()

    res = fit(model, rule, task, opt, epochs=cfg.epochs, batch_size=cfg.batch_size, seed=seed,
              progress=False, plots=False, callback=after_epoch)  # fmt: skip
    for r in rows:
        r.update(fidelity.get(r["epoch"], {}))
    m = res.metrics
    return {
        "run_id": f"{rule_name}-s{seed}",
        "status": "ok",
        "kind": "cell",
        "rule": rule_name,
        "seed": seed,
        "model": variant,
        "rule_options": {k: v for k, v in rule.to_dict().items() if _jsonable(v)},
        "lr": lr,
        "score": task.score_name,
        "test_accuracy": m["test_accuracy"],
        "best_val_accuracy": max(
            (r["val_accuracy"] for r in rows[1:] if not math.isnan(r["val_accuracy"])),
            default=math.nan,
        ),
        "best_epoch": m["best_epoch"],
        "spikes_per_neuron": m["spikes_per_neuron"],
        "peak_rss_mb": _peak_mb(),
        "peak_rss_reset": peak_ok,
        "train_wall_s": clock["wall"],
        "train_cpu_s": clock["cpu"],
        "epochs": len(rows) - 1,
        "n_params": sum(p.numel() for p in model.parameters()),
        "init_sha256": digest,
        "threads": torch.get_num_threads(),
        "history": rows,
    }


def _digest(model: torch.nn.Module) -> str:
    """SHA-256 (16 hex digits) of a model's initial state: equal for every rule of a seed."""
    import hashlib

    h = hashlib.sha256()
    for k, v in model.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _fields(rule: str) -> set[str]:
    import dataclasses

    from ..learning.rules import rule_class

    cls = rule_class(rule)
    return {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def run_probe(config: dict, seed: int) -> dict:
    """Node/weight perturbation probes on the untrained LIF model of ``seed``.

    ``trials``: cosine with BPTT (mean over ``probe_draws`` draws) of node and weight
    perturbation with ``K`` trials per estimate, ``K`` in ``probe_trials``, at the
    comparison's hidden size. ``sizes``: the estimators' total and relative variance
    (one trial per estimate) for hidden sizes ``probe_sizes``; the perturbed units are
    the neurons (node: hidden + readout) or the weights (weight).
    """
    from ..learning.rules import make_rule

    which = [r for r in ("node", "weight") if r in config.get("_probe_rules", ("node", "weight"))]
    keep = {k: v for k, v in config.items() if k != "_probe_rules"}
    cfg = CompareConfig(**{**keep, "rules": ("bptt",), "seeds": 1, "rule_options": {}})
    torch.set_num_threads(cfg.threads)
    task = build_task(cfg.task, cfg.task_options)
    x, y = _fixed_batch(task, cfg.fidelity_batch, torch.float32)
    rows = []
    model = build_model("lif", task, cfg.hidden, seed)
    ref = reference_gradient(model, task, x, y)
    for name in which:
        for K in cfg.probe_trials:
            rule = make_rule(name, trials=K, seed=seed)
            f = gradient_fidelity(model, rule, task, x, y, draws=cfg.probe_draws, reference=ref)
            rows.append({"probe": "trials", "rule": name, "seed": seed, "trials": K,
                         "hidden": cfg.hidden, **f})  # fmt: skip
    for H in cfg.probe_sizes:
        m = build_model("lif", task, H, seed)
        ref_h = reference_gradient(m, task, x, y)
        for name in which:
            rule = make_rule(name, trials=1, seed=seed)
            f = gradient_fidelity(m, rule, task, x, y, draws=cfg.probe_draws, reference=ref_h)
            units = H + task.n_outputs if name == "node" else f["n_params"]
            rows.append({"probe": "size", "rule": name, "seed": seed, "trials": 1,
                         "hidden": H, "perturbed_units": units, **f})  # fmt: skip
    return {"run_id": f"probe-s{seed}", "status": "ok", "kind": "probe", "seed": seed,
            "rows": rows}  # fmt: skip


# ----------------------------------------------------------------------------- driver
@dataclass
class CompareOutcome:
    """What :func:`compare` returns."""

    out_dir: Path
    total: int
    skipped: int
    finished: int
    failed: int
    summary: list[dict]
    expectations: list[dict]


def _job(kind: str, config: dict, rule: str | None, seed: int) -> dict:
    if kind == "probe":
        return run_probe(config, seed)
    assert rule is not None  # cells (not probes) name their rule
    return run_cell(config, rule, seed)


def _init_worker() -> None:
    torch.set_num_threads(1)


def _serial(jobs):
    for job in jobs:
        try:
            yield job, _job(*job), None
        except SpikegradInputError:
            raise
        except Exception:
            yield job, None, traceback.format_exc()


def _pool(jobs, workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"),
                               initializer=_init_worker)  # fmt: skip
    ok = False
    try:
        futs = {pool.submit(_job, *job): job for job in jobs}
        for fut in as_completed(futs):
            exc = fut.exception()
            yield futs[fut], (fut.result() if exc is None else None), (
                None if exc is None else "".join(traceback.format_exception(exc))
            )
        ok = True
    finally:
        if not ok:
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.terminate()
        pool.shutdown(wait=ok, cancel_futures=True)


def _ray(jobs, workers: int, address: str | None):
    try:
        import ray
    except ImportError as exc:
        raise SpikegradInputError("executor 'ray' needs Ray: pip install 'spikegrad[ray]'") from exc
    here = not ray.is_initialized()
    if here:
        kw: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
        ray.init(address=address, **kw) if address else ray.init(num_cpus=workers, **kw)
    remote = ray.remote(num_cpus=1, max_retries=0)(_job)
    refs = {}
    try:
        refs = {remote.remote(*job): job for job in jobs}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                job = refs.pop(ref)
                try:
                    yield job, ray.get(ref), None
                except Exception:
                    yield job, None, traceback.format_exc()
    finally:
        for ref in refs:
            ray.cancel(ref, force=True)
        if here:
            ray.shutdown()


def compare(
    config: CompareConfig,
    out_dir: str | Path,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = True,
    command: str = "",
    on_result: Callable[[dict], None] | None = None,
) -> CompareOutcome:
    """Run every unfinished cell of a comparison and write the output folder.

    Parameters
    ----------
    config:
        The comparison (:class:`CompareConfig`).
    out_dir:
        Output folder (created; resumed if it holds a comparison with the same settings:
        finished cells are skipped, new rules or seeds are added).
    executor, workers, address:
        ``"local"`` (``workers`` processes; 1: in this process) or ``"ray"`` (a cluster at
        ``address``, or a local Ray instance with ``workers`` CPUs), as for sweeps.
    progress:
        Progress bar over cells.
    command:
        The command line, quoted in the report.
    on_result:
        Called with each new record.
    """
    t_start = time.perf_counter()
    check_choice("executor", executor, EXECUTORS)
    workers = check_size("workers", workers, 1)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpikegradInputError(f"output folder {str(out)!r} exists and is a file")
    (out / "runs").mkdir(parents=True, exist_ok=True)
    key = config.key()
    saved = out / "compare.json"
    if saved.is_file():
        try:
            old = json.loads(saved.read_text(encoding="utf-8"))
        except ValueError:
            old = None
        if old is not None and old.get("settings") != key:
            raise SpikegradInputError(
                f"{str(out)!r} holds a comparison with other settings (see compare.json); "
                "use another --out, or the same settings (rules and seeds may change)"
            )
    atomic_write_text(saved, json.dumps({"settings": key, "rules": list(config.rules),
                                         "seeds": config.seeds}, indent=1))  # fmt: skip
    job_cfg = {**key, "threads": config.threads}
    probe_rules = [r for r in ("node", "weight") if r in config.rules]
    job_cfg["_probe_rules"] = probe_rules
    cell_cfg = {k: v for k, v in job_cfg.items() if k != "_probe_rules"}
    jobs: list[tuple] = []
    for seed in range(config.first_seed, config.first_seed + config.seeds):
        for r in config.rules:
            jobs.append(("cell", cell_cfg, r, seed))
        if probe_rules and (config.probe_trials or config.probe_sizes) and config.task not in (
            COMPARE_TASKS
        ):
            jobs.append(("probe", job_cfg, None, seed))
    ids = [_job_id(j) for j in jobs]
    done = {r["run_id"] for r in load_results(out, ids)}
    pending = [j for j in jobs if _job_id(j) not in done]
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), initial=len(jobs) - len(pending), desc="cells", unit="cell",
               disable=not progress, dynamic_ncols=True)  # fmt: skip
    if executor == "ray":
        stream = _ray(pending, workers, address)
    elif workers == 1 or len(pending) <= 1:
        stream = _serial(pending)
    else:
        stream = _pool(pending, min(workers, len(pending)))
    finished = failed = 0
    try:
        for job, record, err in stream:
            jid = _job_id(job)
            if record is not None:
                atomic_write_text(out / "runs" / f"{jid}.json", json.dumps(record, indent=1))
                finished += 1
                if on_result is not None:
                    on_result(record)
            else:
                (out / "errors").mkdir(exist_ok=True)
                atomic_write_text(out / "errors" / f"{jid}.txt", err or "")
                failed += 1
            bar.update(1)
    finally:
        bar.close()
        close = getattr(stream, "close", None)
        if close:
            close()
    records = load_results(out, ids)
    summary, exps = write_compare_report(
        records, config, out, command=command, wall_seconds=time.perf_counter() - t_start
    )
    return CompareOutcome(out, len(jobs), len(jobs) - len(pending), finished, failed, summary,
                          exps)  # fmt: skip


def _job_id(job: tuple) -> str:
    kind, _, rule, seed = job
    return f"probe-s{seed}" if kind == "probe" else f"{rule}-s{seed}"


# ----------------------------------------------------------------------------- analysis
def _chance(config: CompareConfig) -> float | None:
    if config.task in COMPARE_TASKS:
        return None
    task = build_task(config.task, config.task_options)
    return 1.0 / task.n_outputs


def _time_to(history: list[dict], target: float, key: str) -> float:
    for r in history[1:]:
        if r["val_accuracy"] is not None and r["val_accuracy"] >= target:
            return r[key]
    return math.nan


def _fid(history: list[dict], key: str) -> list[tuple[int, float]]:
    return [(r["epoch"], r[key]) for r in history if key in r]


def summarise(records: Sequence[dict], config: CompareConfig) -> list[dict]:
    """One row per compared rule: accuracy intervals, costs, fidelity (first/last)."""
    chance = _chance(config)
    target = config.target if config.target is not None else (
        0.5 * (1 + chance) if chance is not None else math.nan
    )
    cells = [r for r in records if r.get("kind") == "cell"]
    out = []
    for name in config.rules:
        rs = sorted((r for r in cells if r["rule"] == name), key=lambda r: r["seed"])
        if not rs:
            continue
        acc = mean_interval([r["test_accuracy"] for r in rs], bounds=(0.0, 1.0))
        val = mean_interval([r["best_val_accuracy"] for r in rs], bounds=(0.0, 1.0))
        per_epoch = [r["train_wall_s"] / r["epochs"] for r in rs]
        cpu_epoch = [r["train_cpu_s"] / r["epochs"] for r in rs]
        ttw = [_time_to(r["history"], target, "wall_s") for r in rs]
        ttc = [_time_to(r["history"], target, "cpu_s") for r in rs]
        first = [r["history"][0].get("cosine", math.nan) for r in rs]
        last = [_fid(r["history"], "cosine")[-1][1] if _fid(r["history"], "cosine") else math.nan
                for r in rs]  # fmt: skip
        cos_all = [c for r in rs for _, c in _fid(r["history"], "cosine")]
        ratio = [c for r in rs for _, c in _fid(r["history"], "norm_ratio")]
        relv = [c for r in rs for _, c in _fid(r["history"], "rel_variance")]
        reached = [t for t in ttw if not math.isnan(t)]
        out.append({
            "rule": name,
            "model": rs[0]["model"],
            "n_seeds": len(rs),
            "seeds": [r["seed"] for r in rs],
            "test_accuracy": acc.mean, "test_accuracy_sd": acc.sd,
            "test_accuracy_lo": acc.lo, "test_accuracy_hi": acc.hi,
            "test_accuracies": [r["test_accuracy"] for r in rs],
            "best_val_accuracy": val.mean,
            "best_epoch": sum(r["best_epoch"] for r in rs) / len(rs),
            "wall_s_per_epoch": _median(per_epoch),
            "cpu_s_per_epoch": _median(cpu_epoch),
            "target": target,
            "reached_target": len(reached),
            "wall_s_to_target": _median(reached) if reached else math.nan,
            "cpu_s_to_target": _median([t for t in ttc if not math.isnan(t)]) if reached
            else math.nan,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
            "spikes_per_neuron": sum(r["spikes_per_neuron"] for r in rs) / len(rs),
            "cosine_start": _nanmean(first),
            "cosine_end": _nanmean(last),
            "cosine_min": min(cos_all) if cos_all else math.nan,
            "cosine_max": max(cos_all) if cos_all else math.nan,
            "norm_ratio": _nanmean(ratio),
            "rel_variance": _nanmean(relv),
            "lr": rs[0]["lr"],
        })  # fmt: skip
    return out


def _median(xs: Sequence[float]) -> float:
    v = sorted(x for x in xs if not math.isnan(x))
    if not v:
        return math.nan
    n = len(v)
    return v[n // 2] if n % 2 else 0.5 * (v[n // 2 - 1] + v[n // 2])


def _nanmean(xs: Sequence[float]) -> float:
    v = [x for x in xs if x is not None and not math.isnan(x)]
    return sum(v) / len(v) if v else math.nan


def probe_rows(records: Sequence[dict]) -> list[dict]:
    """The probe measurements of all seeds, one row each."""
    return [row for r in records if r.get("kind") == "probe" for row in r["rows"]]


TRUE, FALSE, NO_DATA = "true", "false", "no data"


def expectations(
    summary: Sequence[dict], probes: Sequence[dict], *, chance: float | None,
    cells: Sequence[dict] = (),
) -> list[dict]:
    """Checkable expectations with verdicts (``"true"``, ``"false"``, ``"no data"``).

    * ``bptt-best``: for every other rule, BPTT's mean test score is higher, or the 95 %
      t-interval of the paired (same seed) difference rule - BPTT contains 0 (tied);
    * ``eprop-ff-cosine``: every feed-forward e-prop cosine (all seeds, checkpoints) > 0.999;
    * ``eprop-rec-cosine``: the recurrent e-prop cosine is below 1 (max < 1 - 1e-4, well
      beyond the float32 round-off of an exact gradient, about 1e-6);
    * ``node-trials``: node perturbation's cosine (mean over seeds) is larger with the
      most trials than with the fewest, and never falls by more than 0.02 from one
      trial count to the next;
    * ``weight-vs-node-variance``: weight perturbation's relative variance exceeds node
      perturbation's on the same network (the compared network, one trial per estimate);
    * ``variance-grows``: each estimator's variance is larger on the largest probed network
      than on the smallest (more perturbed units);
    * ``beats-chance``: the lower end of every perturbation rule's 95 % interval of test
      accuracy is above chance.
    """
    by = {s["rule"]: s for s in summary}
    res = []

    def add(eid, text, verdict, evidence):
        res.append({"id": eid, "expectation": text, "verdict": verdict, "evidence": evidence})

    t = "BPTT is best or tied on test accuracy (paired 95 % interval of rule - BPTT)"
    if "bptt" not in by or len(by) < 2:
        add("bptt-best", t, NO_DATA, "needs bptt and another rule")
    else:
        ok, ev = True, []
        b = {c["seed"]: c["test_accuracy"] for c in cells if c["rule"] == "bptt"}
        for name in by:
            if name == "bptt":
                continue
            o = {c["seed"]: c["test_accuracy"] for c in cells if c["rule"] == name}
            seeds = sorted(set(b) & set(o))
            d = diff_interval([o[k] for k in seeds], [b[k] for k in seeds])
            better = d.n > 0 and d.lo > 0
            ok &= not better
            ev.append(f"{name} - bptt {d.text()}")
        add("bptt-best", t, TRUE if ok else FALSE, "; ".join(ev))

    t = "feed-forward e-prop's update has cosine > 0.999 with BPTT's"
    if "eprop" not in by or math.isnan(by["eprop"]["cosine_min"]):
        add("eprop-ff-cosine", t, NO_DATA, "eprop not compared")
    else:
        c = by["eprop"]["cosine_min"]
        add("eprop-ff-cosine", t, TRUE if c > 0.999 else FALSE,
            f"min cosine over seeds and checkpoints {c:.6f}")  # fmt: skip

    t = "recurrent e-prop's cosine is reported and lies below 1"
    if "eprop-rec" not in by or math.isnan(by["eprop-rec"]["cosine_max"]):
        add("eprop-rec-cosine", t, NO_DATA, "eprop-rec not compared")
    else:
        s = by["eprop-rec"]
        add("eprop-rec-cosine", t, TRUE if s["cosine_max"] < 1 - 1e-4 else FALSE,
            f"cosine {s['cosine_min']:.4f} .. {s['cosine_max']:.4f} (start {s['cosine_start']:.4f},"
            f" end {s['cosine_end']:.4f})")  # fmt: skip

    t = "node perturbation's cosine rises with the number of trials"
    tr = [p for p in probes if p["probe"] == "trials" and p["rule"] == "node"]
    if len({p["trials"] for p in tr}) < 2:
        add("node-trials", t, NO_DATA, "no trials probe")
    else:
        ks = sorted({p["trials"] for p in tr})
        cs = [_nanmean([p["cosine"] for p in tr if p["trials"] == k]) for k in ks]
        rises = cs[-1] > cs[0] and all(b > a - 0.02 for a, b in zip(cs, cs[1:], strict=False))
        add("node-trials", t, TRUE if rises else FALSE,
            ", ".join(f"K={k}: {c:.3f}" for k, c in zip(ks, cs, strict=True)))  # fmt: skip

    t = "weight perturbation's variance exceeds node perturbation's on the same network"
    one = [p for p in probes if p["probe"] == "trials" and p["trials"] == 1]
    w = _nanmean([p["rel_variance"] for p in one if p["rule"] == "weight"])
    n = _nanmean([p["rel_variance"] for p in one if p["rule"] == "node"])
    if math.isnan(w) or math.isnan(n):
        add("weight-vs-node-variance", t, NO_DATA, "needs node and weight probes")
    else:
        add("weight-vs-node-variance", t, TRUE if w > n else FALSE,
            f"variance / |g|^2 at the compared network, one trial, mean over seeds: weight "
            f"{w:.3g}, node {n:.3g}")  # fmt: skip

    t = "perturbation variance grows with the number of perturbed units (Werfel et al. 2005)"
    sz = [p for p in probes if p["probe"] == "size"]
    ev, ok, seen = [], True, False
    for name in ("node", "weight"):
        pts: dict[int, list[float]] = {}
        for p in sz:
            if p["rule"] == name:
                pts.setdefault(p["perturbed_units"], []).append(p["variance"])
        if len(pts) >= 2:
            seen = True
            ks = sorted(pts)
            lo, hi = _nanmean(pts[ks[0]]), _nanmean(pts[ks[-1]])
            ok &= hi > lo
            ev.append(f"{name}: {lo:.3g} at {ks[0]} units -> {hi:.3g} at {ks[-1]}")
    add("variance-grows", t, (TRUE if ok else FALSE) if seen else NO_DATA,
        "; ".join(ev) or "no size probe")  # fmt: skip

    t = "every perturbation rule beats chance (lower 95 % bound of test accuracy > chance)"
    pert = [s for s in summary if s["rule"] in ("node", "weight", "conductance", "weight-coba")]
    if not pert or chance is None:
        add("beats-chance", t, NO_DATA, "no perturbation rule or no chance level")
    else:
        ok = all(s["test_accuracy_lo"] > chance for s in pert)
        add("beats-chance", t, TRUE if ok else FALSE,
            f"chance {chance:.3f}; " + ", ".join(
                f"{s['rule']} {Interval(s['test_accuracy'], s['test_accuracy_lo'], s['test_accuracy_hi'], s['test_accuracy_sd'], s['n_seeds']).text()}"  # noqa: E501
                for s in pert))  # fmt: skip
    return res


# ----------------------------------------------------------------------------- report
def result_rows(records: Sequence[dict], task: str) -> list[dict]:
    """``results.csv``: one row per rule x seed x checkpoint (epoch)."""
    rows = []
    for r in records:
        if r.get("kind") != "cell":
            continue
        for h in r["history"]:
            rows.append({
                "task": task, "rule": r["rule"], "seed": r["seed"], "model": r["model"],
                "epoch": h["epoch"], "progress": h["epoch"] / r["epochs"],
                "val_accuracy": h["val_accuracy"], "train_loss": h.get("train_loss"),
                "train_accuracy": h.get("train_accuracy"),
                "spikes_per_neuron": h["spikes_per_neuron"], "wall_s": h["wall_s"],
                "cpu_s": h["cpu_s"],
                **{k: h.get(k) for k in ("cosine", "norm_ratio", "cosine_of_mean", "variance",
                                         "rel_variance")},
                "test_accuracy": r["test_accuracy"], "best_val_accuracy": r["best_val_accuracy"],
                "best_epoch": r["best_epoch"], "peak_rss_mb": r["peak_rss_mb"], "lr": r["lr"],
            })  # fmt: skip
    return rows


_STYLES = ("o-", "s--", "^:", "v-.", "D-", "x--", "*:", "P-.")


def _g(v: Any, fmt: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return format(v, fmt)


def _plots(records: Sequence[dict], probes: Sequence[dict], config: CompareConfig,
           out: Path) -> list[str]:  # fmt: skip
    from ..viz.plots import pyplot, save_figure

    plt = pyplot()
    cells = [r for r in records if r.get("kind") == "cell"]
    made = []
    for key, fname, xlabel in (("epoch", "accuracy_epoch.png", "epoch"),
                               ("wall_s", "accuracy_wall.png", "training wall time (s)")):
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for i, name in enumerate(config.rules):
            rs = [r for r in cells if r["rule"] == name]
            if not rs:
                continue
            n = min(len(r["history"]) for r in rs)
            xs = [_nanmean([r["history"][k][key] for r in rs]) for k in range(n)]
            ys = [_nanmean([r["history"][k]["val_accuracy"] for r in rs]) for k in range(n)]
            # distinct line styles: rules with identical curves (eprop = bptt) stay visible
            ax.plot(xs, ys, _STYLES[i % len(_STYLES)], ms=3, label=name)
        ax.set(xlabel=xlabel, ylabel="validation score (mean over seeds)")
        if key == "wall_s":
            ax.set_xscale("symlog", linthresh=1.0)
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out / fname, dpi=90)
        made.append(fname)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    any_cos = False
    for i, name in enumerate(config.rules):
        rs = [r for r in cells if r["rule"] == name]
        pts: dict[float, list[float]] = {}
        for r in rs:
            for e, c in _fid(r["history"], "cosine"):
                pts.setdefault(e / r["epochs"], []).append(c)
        if pts:
            any_cos = True
            ks = sorted(pts)
            ax.plot(ks, [_nanmean(pts[k]) for k in ks], _STYLES[i % len(_STYLES)], label=name)
    if any_cos:
        ax.set(xlabel="training progress (fraction of epochs)", ylabel="cosine with BPTT",
               ylim=(-0.1, 1.05))  # fmt: skip
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out / "cosine.png", close=False, dpi=90)
        made.append("cosine.png")
    plt.close(fig)
    sz = [p for p in probes if p["probe"] == "size"]
    if sz:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for name in ("node", "weight"):
            pts_n: dict[int, list[float]] = {}
            for p in sz:
                if p["rule"] == name:
                    pts_n.setdefault(p["perturbed_units"], []).append(p["variance"])
            if pts_n:
                ks_n = sorted(pts_n)
                ax.loglog(ks_n, [_nanmean(pts_n[k]) for k in ks_n], "o-", label=name)
        ax.set(xlabel="perturbed units (neurons or weights)",
               ylabel="estimator variance (trace)")  # fmt: skip
        ax.legend(fontsize=7)
        fig.tight_layout()
        save_figure(fig, out / "variance_size.png", dpi=90)
        made.append("variance_size.png")
    return made


def write_compare_report(
    records: Sequence[dict],
    config: CompareConfig,
    out_dir: str | Path,
    *,
    command: str = "",
    wall_seconds: float | None = None,
) -> tuple[list[dict], list[dict]]:
    """Write results.csv, summary.csv, probes.csv, expectations.json, plots, report.md."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_results_csv(result_rows(records, config.task), out / "results.csv")
    summary = summarise(records, config)
    write_results_csv(
        [{k: v for k, v in s.items() if not isinstance(v, list)} for s in summary],
        out / "summary.csv",
    )
    probes = probe_rows(records)
    write_results_csv(probes, out / "probes.csv")
    chance = _chance(config)
    cells = [r for r in records if r.get("kind") == "cell"]
    exps = expectations(summary, probes, chance=chance, cells=cells)
    atomic_write_text(out / "expectations.json", json.dumps(exps, indent=2))
    figs = _plots(records, probes, config, out)
    md = [f"# Learning rules compared on `{config.task}`", ""]
    if command:
        md.append(f"* command: `{command}`")
    md += [
        f"* settings: {json.dumps(config.key(), sort_keys=True)}",
        f"* machine: {platform.node()}, {platform.platform()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {config.threads} thread(s) per cell; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} at report time",
        f"* cells: {len(cells)}" + (f"; this invocation {wall_seconds / 60:.1f} min wall"
                                    if wall_seconds is not None else ""),  # fmt: skip
        "* test score: the best-validation model of each cell; interval: 95 % Student t over "
        f"seeds (confidence {CONFIDENCE:g}); time to target: first epoch whose validation "
        "score reaches the target (median over the seeds that reached it)",
        "",
        "| rule | model | seeds | test score [95 % CI] | sd | best val (epoch) | wall s/ep "
        "| CPU s/ep | wall s to target (reached) | peak RSS MB | spikes/neuron | cosine "
        "start -> end | norm ratio | rel. variance |",
        "|" + "---|" * 14,
    ]
    for s in summary:
        iv = Interval(s["test_accuracy"], s["test_accuracy_lo"], s["test_accuracy_hi"],
                      s["test_accuracy_sd"], s["n_seeds"])  # fmt: skip
        md.append(
            f"| {s['rule']} | {s['model']} | {s['n_seeds']} | {iv.text()} | "
            f"{_g(s['test_accuracy_sd'])} | {_g(s['best_val_accuracy'])} "
            f"({_g(s['best_epoch'], '.1f')}) | {_g(s['wall_s_per_epoch'], '.2f')} | "
            f"{_g(s['cpu_s_per_epoch'], '.2f')} | {_g(s['wall_s_to_target'], '.1f')} "
            f"({s['reached_target']}/{s['n_seeds']}) | {_g(s['peak_rss_mb'], '.0f')} | "
            f"{_g(s['spikes_per_neuron'], '.2f')} | {_g(s['cosine_start'], '.4f')} -> "
            f"{_g(s['cosine_end'], '.4f')} | {_g(s['norm_ratio'], '.3g')} | "
            f"{_g(s['rel_variance'], '.3g')} |"
        )
    md += ["", "## Reading", ""] + _reading(summary, chance) + [""]
    md += ["## Expectations (verdicts computed from the data)", "",
           "| expectation | verdict | evidence |", "|---|---|---|"]  # fmt: skip
    md += [f"| {e['expectation']} | {e['verdict']} | {e['evidence']} |" for e in exps]
    md += [""] + [f"![{f}]({f})" for f in figs]
    md += ["", "Files: `results.csv` (rule x seed x epoch; fidelity columns at the "
           "checkpoints), `summary.csv`, `probes.csv`, `expectations.json`, `runs/`."]  # fmt: skip
    atomic_write_text(out / "report.md", "\n".join(md) + "\n")
    return summary, exps


def _reading(summary: Sequence[dict], chance: float | None) -> list[str]:
    if not summary:
        return ["No finished cells yet."]
    best = max(summary, key=lambda s: s["test_accuracy"])
    cheap = min(summary, key=lambda s: s["wall_s_per_epoch"])
    lines = [
        f"* Highest mean test score: **{best['rule']}** ({best['test_accuracy']:.3f}"
        + (f"; chance {chance:.3f}" if chance is not None else "") + ").",
        f"* Cheapest per epoch: **{cheap['rule']}** ({cheap['wall_s_per_epoch']:.2f} s wall).",
    ]
    for s in summary:
        if s["rule"] == "bptt" or math.isnan(s["cosine_end"]):
            continue
        lines.append(
            f"* {s['rule']}: update cosine with BPTT {s['cosine_start']:.3f} at the start, "
            f"{s['cosine_end']:.3f} at the end; norm ratio {s['norm_ratio']:.3g}"
            + (f"; estimator variance {s['rel_variance']:.3g} x |g|^2" if not math.isnan(
                s["rel_variance"]) else "")  # fmt: skip
            + "."
        )
    lines.append(
        "* Intervals come from few seeds: where two rules' intervals overlap, the table does "
        "not rank them."
    )
    return lines
