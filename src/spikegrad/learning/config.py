"""Config-driven training of :class:`~spikegrad.nn.SpikingNetwork` classifiers.

A :class:`TrainConfig` names the data set, the network, the learning rule (``rule``:
``"bptt"`` by default, or any rule of :data:`spikegrad.learning.rules.RULES` that trains
a ``lif`` model) and the optimiser. :func:`train` builds the three parts and runs the
one trainer (:func:`spikegrad.learning.trainer.fit`): minibatches for a number of epochs,
the model with the best validation accuracy (never test), evaluated on the test set,
and a run folder::

    RUN_DIR/
      config.json      every setting of the run (TrainConfig)
      metrics.json     test/val/train accuracy, test loss, spikes per neuron, epochs, wall time
      history.csv      one row per epoch
      checkpoint.pt    best-validation weights + config (load with weights_only=True)
      learning_curves.png, raster.png

Training on CPU is repeatable: the weights, the batch order and the data come from
explicit seeds; the global RNG is never reseeded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .._checks import SpikegradInputError, check_choice, check_positive, check_size
from ..data.spikes import SpikeDataset
from ..functional.alif import ALIF_RESET_MODES
from ..functional.readout import READOUT_MODES
from ..functional.regularization import ActivityRegularizer
from ..functional.surrogate import make_surrogate
from ..nn.catalog import MODEL_CHOICES
from ..nn.energy import OpCosts
from ..nn.network import INIT_MODES, SpikingNetwork
from ..tasks.base import Task
from ..tasks.classification import ClassificationTask
from .trainer import EpochStats, fit
from .trainer import evaluate as _evaluate

__all__ = [
    "TrainConfig",
    "TrainResult",
    "EpochStats",
    "OPTIMIZERS",
    "MODELS",
    "train",
    "evaluate",
    "build_model",
    "build_task",
    "build_optimizer",
    "fluctuation_rates",
]

#: optimisers a config can name
OPTIMIZERS = ("adam", "sgd")
#: model choices a config can build (:func:`build_model`; ``spikegrad train --model``)
MODELS: tuple[str, ...] = tuple(MODEL_CHOICES)


@dataclass
class TrainConfig:
    """Every setting of a training run (saved as ``config.json``).

    The defaults are the paper's Randman setting (Zenke & Vogels 2021): 10 classes,
    20 inputs, 100 steps, one hidden layer of 100 LIF neurons, SuperSpike beta = 10,
    detached reset, max-over-time readout, lower-bound regulariser (100, 1e-3),
    Adam, batch 250.
    """

    dataset: str = "randman"
    dataset_options: dict = field(default_factory=dict)
    hidden: tuple[int, ...] = (100,)
    recurrent: bool = False
    surrogate: str = "superspike"
    beta: float = 10.0
    reset: str = "detach"
    recurrent_grad: bool = True
    learn_tau: bool = False
    tau_mem: float = 10e-3
    tau_syn: float = 5e-3
    tau_out: float = 20e-3
    dt: float = 1e-3
    readout: str = "max"
    init: str = "uniform"
    lr: float = 5e-2
    batch_size: int = 250
    epochs: int = 100
    seed: int = 0
    lower_strength: float = 100.0
    lower_threshold: float = 1e-3
    upper_strength: float = 0.0
    upper_threshold: float = 4.0
    upper_norm: int = 2
    patience: int = 0
    eval_every: int = 1
    checkpoint_every: int = 20
    rule: str = "bptt"
    rule_options: dict = field(default_factory=dict)
    optimizer: str = "adam"
    model: str = "lif"
    model_options: dict = field(default_factory=dict)
    #: the task recipe these settings started from (``{"name": "task/model", "applied":
    #: {field: value}}``, the recipe's settings no explicit value replaced); empty: none
    recipe: dict = field(default_factory=dict)
    #: the model's spec (:mod:`spikegrad.nn.spec`), written by the trainer from the model it
    #: built; informative: the model is always built from the other fields
    model_spec: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, (str, bytes)) or not hasattr(self.hidden, "__iter__"):
            raise TypeError(f"hidden must be a sequence of layer sizes, got {self.hidden!r}")
        self.hidden = tuple(check_size(f"hidden[{k}]", h) for k, h in enumerate(self.hidden))
        if not self.hidden:
            raise SpikegradInputError("hidden must list at least one hidden layer size")
        if not isinstance(self.dataset, str):
            raise TypeError(f"dataset must be a name (str), got {self.dataset!r}")
        if not isinstance(self.dataset_options, dict):
            raise TypeError(f"dataset_options must be a dict, got {self.dataset_options!r}")
        for name in ("recurrent", "recurrent_grad", "learn_tau"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"{name} must be True or False, got {getattr(self, name)!r}")
        make_surrogate(self.surrogate, self.beta)  # validates name and beta
        check_choice("reset mode", self.reset, ALIF_RESET_MODES)
        check_choice("readout", self.readout, READOUT_MODES)
        check_choice("init", self.init, INIT_MODES)
        for name, value in self.__dict__.items():
            if isinstance(value, str) and isinstance(_FLOAT_DEFAULTS.get(name), float):
                raise TypeError(f"{name} must be a number, got the text {value!r}")
        for name in ("tau_mem", "tau_syn", "tau_out", "dt", "lr"):
            check_positive(name, getattr(self, name))
        for name in ("batch_size", "epochs", "eval_every"):
            setattr(self, name, check_size(name, getattr(self, name), 1))
        # checkpoint_every 0: only at epoch ends; patience 0: no early stop
        for name in ("checkpoint_every", "patience", "seed"):
            setattr(self, name, check_size(name, getattr(self, name), 0))
        self.regularizer()  # validates the regulariser settings
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("model", self.model, MODELS)
        for name in ("rule_options", "model_options", "recipe", "model_spec"):
            if not isinstance(getattr(self, name), dict):
                raise TypeError(f"{name} must be a dict, got {getattr(self, name)!r}")
        from .models import check_model_options

        self.model_options = check_model_options(self.model, self.model_options)
        from .rules import make_rule

        make_rule(self.rule, **self.rule_options)  # validates the rule and its options

    def regularizer(self) -> ActivityRegularizer:
        """The activity regulariser these settings describe."""
        return ActivityRegularizer(
            self.lower_strength,
            self.lower_threshold,
            self.upper_strength,
            self.upper_threshold,
            self.upper_norm,
        )

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        if not isinstance(d, dict):
            raise TypeError(f"config must be a dict, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            names = ", ".join(sorted(repr(k) for k in unknown))
            raise SpikegradInputError(f"unknown config keys: {names}")
        return cls(**d)


#: default of every float field of TrainConfig (a text value there is refused)
_FLOAT_DEFAULTS = {
    f.name: f.default for f in dataclasses.fields(TrainConfig) if isinstance(f.default, float)
}


@dataclass
class TrainResult:
    """What :func:`train` returns: the metrics, the per-epoch history and the best model."""

    metrics: dict
    history: list[EpochStats]
    model: torch.nn.Module
    out_dir: Path | None
    #: ``resume=True`` found the run already ended: nothing trained, its metrics returned
    already_finished: bool = False


def fluctuation_rates(train_set: SpikeDataset) -> tuple[float, float]:
    """Input spike probability per unit and step, and the hidden target (1 spike / trial).

    The rates :class:`~spikegrad.nn.SpikingNetwork`'s fluctuation-driven
    initialisation needs (``input_rate``, ``hidden_rate``).
    """
    steps = train_set.n_steps
    p_in = train_set.spike_count() / (len(train_set) * steps * train_set.n_units)
    return float(p_in), 1.0 / steps


def build_model(
    config: TrainConfig, n_inputs: int, n_classes: int, train_set: SpikeDataset | None = None
) -> torch.nn.Module:
    """Build the model a config describes (weights from ``config.seed``).

    ``config.model``: ``"lif"`` (:class:`~spikegrad.nn.SpikingNetwork` from the config's
    network fields; ``init="fluctuation"`` needs the training split, for its input spike
    rate), ``"srm"`` (:class:`~spikegrad.nn.srm.SRMLayer` with ``n_classes`` output
    neurons), ``"coba"`` (the conductance-based network of :mod:`spikegrad.nn.coba`).
    ``"alif"``, ``"izhikevich"``, ``"conv"`` (:func:`spikegrad.learning.models.build_choice`).
    ``config.model_options`` (checked against the choice's schema,
    :data:`spikegrad.learning.models.MODEL_OPTIONS`) go to the model's constructor.
    """

    if config.model == "srm":
        from ..nn.srm import SRMLayer

        gen = torch.Generator().manual_seed(config.seed)
        return _construct(SRMLayer, n_inputs, n_classes, config, generator=gen)
    if config.model == "coba":
        from ..nn.coba import coba_classifier

        return _construct(coba_classifier, n_inputs, n_classes, config, seed=config.seed,
                          dt=config.dt)
    rates: dict = {}
    if config.init == "fluctuation":
        if train_set is None:
            raise SpikegradInputError('init="fluctuation" needs the training data (train_set)')
        rates = dict(zip(("input_rate", "hidden_rate"), fluctuation_rates(train_set), strict=True))
    if config.model in ("alif", "izhikevich", "conv"):
        from .models import build_choice

        return build_choice(config, n_inputs, n_classes, _construct, rates)
    return _construct(
        SpikingNetwork,
        n_inputs,
        n_classes,
        config,
        hidden=config.hidden,
        recurrent=config.recurrent,
        surrogate=config.surrogate,
        beta=config.beta,
        reset=config.reset,
        recurrent_grad=config.recurrent_grad,
        learn_tau=config.learn_tau,
        tau_mem=config.tau_mem,
        tau_syn=config.tau_syn,
        tau_out=config.tau_out,
        dt=config.dt,
        readout_mode=config.readout,
        seed=config.seed,
        init=config.init,
        **rates,
    )


def _construct(cls, n_inputs: int, n_outputs: int, config: TrainConfig, **kw):
    """``cls(n_inputs, n_outputs, **kw, **config.model_options)``, with clear errors."""
    clash = sorted(set(kw) & set(config.model_options))
    if clash:
        raise SpikegradInputError(
            f"model_options {clash} are set by the config's own fields; set those instead"
        )
    try:
        return cls(n_inputs, n_outputs, **kw, **config.model_options)
    except TypeError as exc:
        raise SpikegradInputError(
            f"model {config.model!r}: bad model_options {config.model_options!r}: {exc}"
        ) from exc


def build_task(
    config: TrainConfig,
    data: tuple[SpikeDataset, SpikeDataset, SpikeDataset] | None = None,
) -> Task:
    """The task a config describes: ``config.dataset`` names a data set of the registry
    (a classification task with the config's regulariser) or a task of
    :data:`spikegrad.tasks.TASKS`, built with ``config.dataset_options``."""
    from ..tasks import TASKS, accepts_regularizer, make_task

    if data is None and config.dataset in TASKS:
        reg = config.regularizer() if accepts_regularizer(config.dataset) else None
        return make_task(config.dataset, regularizer=reg, **config.dataset_options)
    if data is None:
        from ..data.registry import load_dataset

        data = load_dataset(config.dataset, **config.dataset_options)
    train_set, val_set, test_set = data
    return ClassificationTask(
        train_set, val_set, test_set, regularizer=config.regularizer(), dataset=config.dataset
    )


def build_optimizer(config: TrainConfig, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimiser a config describes (``config.optimizer`` at ``config.lr``; a parameter
    with an ``lr_scale`` attribute, e.g. learnable delays in seconds
    (:mod:`spikegrad.nn.delay`), gets ``config.lr * lr_scale``)."""
    cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}[config.optimizer]
    groups: dict[float, list] = {}
    for p in model.parameters():
        groups.setdefault(float(getattr(p, "lr_scale", 1.0)), []).append(p)
    if set(groups) == {1.0}:
        return cls(model.parameters(), lr=config.lr)
    return cls([{"params": ps, "lr": config.lr * k} for k, ps in groups.items()], lr=config.lr)


def evaluate(
    model: SpikingNetwork,
    data: SpikeDataset,
    batch_size: int = 500,
    regularizer: ActivityRegularizer | None = None,
) -> dict[str, float]:
    """Loss (cross-entropy), accuracy and mean spikes per hidden neuron on a data set."""
    if len(data) == 0:
        raise SpikegradInputError("cannot evaluate on an empty dataset")
    task = ClassificationTask(data, data, data, regularizer=regularizer)
    res = _evaluate(model, task, "test", batch_size)
    return {k: res[k] for k in ("loss", "accuracy", "spikes_per_neuron")}


#: file of a run folder naming data passed to :func:`train` instead of ``config.dataset``
DATA_SOURCE = "data.json"


def _data_summary(data: tuple) -> dict:
    parts = {}
    for name, ds in zip(("train", "val", "test"), data, strict=False):
        parts[name] = [len(ds), int(getattr(ds, "n_steps", 0)), int(getattr(ds, "n_units", 0))]
    return {"source": "data passed to train()", "splits": parts}


def _check_data_source(config: TrainConfig, data, out_dir, resume: bool) -> None:
    """Record custom data in ``data.json``; on resume, require the same data back.

    A run trained on data passed to :func:`train` cannot be rebuilt from
    ``config.dataset``: resuming it without that data (e.g. ``spikegrad train --resume``)
    would build a model of the wrong size, so it is refused with the way to resume.
    """
    import json

    path = Path(out_dir if not hasattr(out_dir, "path") else out_dir.path) / DATA_SOURCE
    if not resume:
        if data is not None:
            from ..io.run import RunFolder

            RunFolder(path.parent).write_json(DATA_SOURCE, _data_summary(data))
        elif path.is_file():
            path.unlink()  # a fresh run of config.dataset in a reused folder
        return
    if not path.is_file():
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SpikegradInputError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if data is None:
        raise SpikegradInputError(
            f"the run in {str(path.parent)!r} was trained on data passed to train(), not "
            f"on {config.dataset!r}; resume it from Python with train(config, data=(train, "
            "val, test), out_dir=..., resume=True)"
        )
    if saved.get("splits") != _data_summary(data)["splits"]:
        raise SpikegradInputError(
            f"the data passed to resume the run in {str(path.parent)!r} differs from the "
            f"data it was trained on (sizes {saved.get('splits')} [samples, steps, units])"
        )


def _warn_time_step(config: TrainConfig) -> None:
    """Warn when the time step is longer than a time constant of the LIF network.

    The exact-decay update ``u[t+1] = exp(-dt / tau) u[t] + ...`` stays stable, but a
    neuron that forgets everything within one step integrates nothing over time.
    """
    if config.model not in ("lif", "alif", "conv"):
        return
    taus = {"tau_mem": config.tau_mem, "tau_syn": config.tau_syn, "tau_out": config.tau_out}
    short = {k: v for k, v in taus.items() if isinstance(v, (int, float)) and v < config.dt}
    if short:
        import warnings

        names = ", ".join(f"{k} = {v:g} s" for k, v in short.items())
        warnings.warn(
            f"time step dt = {config.dt:g} s is longer than {names}: the neurons forget "
            "their input within one step; use a smaller --dt or longer time constants",
            UserWarning,
            stacklevel=3,
        )


def train(
    config: TrainConfig,
    data: tuple[SpikeDataset, SpikeDataset, SpikeDataset] | None = None,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    plots: bool = True,
    callback: Callable[[EpochStats], None] | None = None,
    resume: bool = False,
    energy_costs: OpCosts | dict | None = None,
) -> TrainResult:
    """Train the spiking classifier a config describes with its learning rule.

    Builds the model (:func:`build_model`), the task (:func:`build_task`), the rule
    (``config.rule`` with ``config.rule_options``, default BPTT) and the optimiser, and
    runs :func:`spikegrad.learning.trainer.fit`.

    Parameters
    ----------
    config:
        All settings; see :class:`TrainConfig`.
    data:
        ``(train, val, test)``; by default loaded from ``config.dataset``.
    out_dir:
        Run folder to write (created; must not be a file). ``None`` writes nothing.
    progress:
        Show a progress bar over epochs.
    plots:
        Write PNG plots into ``out_dir``.
    callback:
        Called with each epoch's :class:`EpochStats`.
    resume:
        Continue the run in ``out_dir`` from its ``last.pt`` (written every
        ``config.checkpoint_every`` steps and at each epoch end). The resumed run
        replays the interrupted epoch's batch order and ends with exactly the weights
        and metrics of an uninterrupted run.
    energy_costs:
        Per-operation costs of the energy estimate in ``metrics["synops"]``
        (:class:`~spikegrad.nn.energy.OpCosts` or a dict; default Horowitz 2014).

    Notes
    -----
    Data-parallel training under ``torchrun``: see :func:`~spikegrad.learning.trainer.fit`.
    """
    from .rules import make_rule

    if resume and out_dir is None:
        raise SpikegradInputError("resume needs the run folder (out_dir)")
    _warn_time_step(config)
    if out_dir is not None:
        _check_data_source(config, data, out_dir, resume)
    task = build_task(config, data)
    train_set = task.split("train") if isinstance(task, ClassificationTask) else None
    model = build_model(config, task.n_inputs, task.n_outputs, train_set)
    rule = make_rule(config.rule, **config.rule_options)
    rule.check_model(model)
    opt = build_optimizer(config, model)
    res = fit(
        model,
        rule,
        task,
        opt,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        out_dir=out_dir,
        config=config.to_dict(),
        patience=config.patience,
        eval_every=config.eval_every,
        checkpoint_every=config.checkpoint_every,
        progress=progress,
        plots=plots,
        callback=callback,
        resume=resume,
        energy_costs=energy_costs,
    )
    return TrainResult(res.metrics, res.history, res.model, res.out_dir, res.already_finished)
