"""Surrogate-gradient BPTT training of :class:`~spikegrad.nn.SpikingNetwork` classifiers.

:func:`train` runs Adam on minibatches for a number of epochs, selects the model
with the best validation accuracy (never test), evaluates it on the test set and
writes a run folder::

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
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from .._checks import SpikegradInputError, check_choice, check_positive, check_size
from ..data.spikes import SpikeDataset
from ..functional.lif import RESET_MODES
from ..functional.readout import READOUT_MODES, readout_logits
from ..functional.regularization import ActivityRegularizer, mean_spikes_per_neuron
from ..functional.surrogate import make_surrogate
from ..init import fluctuation_driven_
from ..io.checkpoint import atomic_write_text, load_payload, save_checkpoint, save_payload
from ..nn.network import SpikingNetwork

__all__ = ["TrainConfig", "TrainResult", "EpochStats", "train", "evaluate", "build_model"]

INIT_MODES = ("uniform", "fluctuation")


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
        check_choice("reset mode", self.reset, RESET_MODES)
        check_choice("readout", self.readout, READOUT_MODES)
        check_choice("init", self.init, INIT_MODES)
        for name in ("tau_mem", "tau_syn", "tau_out", "dt", "lr"):
            check_positive(name, getattr(self, name))
        for name in ("batch_size", "epochs", "eval_every"):
            setattr(self, name, check_size(name, getattr(self, name), 1))
        # checkpoint_every 0: only at epoch ends; patience 0: no early stop
        for name in ("checkpoint_every", "patience", "seed"):
            setattr(self, name, check_size(name, getattr(self, name), 0))
        self.regularizer()  # validates the regulariser settings

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


@dataclass
class EpochStats:
    """One row of ``history.csv``."""

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    spikes_per_neuron: float
    seconds: float


@dataclass
class TrainResult:
    """What :func:`train` returns: the metrics, the per-epoch history and the best model."""

    metrics: dict
    history: list[EpochStats]
    model: SpikingNetwork
    out_dir: Path | None


def build_model(config: TrainConfig, n_inputs: int, n_classes: int) -> SpikingNetwork:
    """Build the network a config describes (weights from ``config.seed``)."""
    return SpikingNetwork(
        n_inputs,
        n_classes,
        config.hidden,
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
    )


def _apply_fluctuation_init(
    model: SpikingNetwork, train_set: SpikeDataset, config: TrainConfig
) -> None:
    """Re-initialise the hidden layers with the fluctuation-driven rule.

    The first layer uses the measured input spike probability per step; deeper layers
    and recurrent weights assume a target of one spike per neuron per trial.
    """
    gen = torch.Generator().manual_seed(config.seed + 1)
    p_in = train_set.spike_count() / (len(train_set) * train_set.n_steps * train_set.n_units)
    p_hidden = 1.0 / train_set.n_steps
    for k, layer in enumerate(model.layers):
        p = p_in if k == 0 else p_hidden
        kw = dict(tau_mem=config.tau_mem, tau_syn=config.tau_syn, dt=config.dt, generator=gen)
        if layer.rec_weight is None:
            fluctuation_driven_(layer.weight, max(p, 1e-6), **kw)
        else:  # split the target variance between feed-forward and recurrent drive
            fluctuation_driven_(layer.weight, max(p, 1e-6), sigma_u=math.sqrt(0.5), **kw)
            fluctuation_driven_(layer.rec_weight, p_hidden, sigma_u=math.sqrt(0.5), **kw)


@torch.no_grad()
def evaluate(
    model: SpikingNetwork,
    data: SpikeDataset,
    batch_size: int = 500,
    regularizer: ActivityRegularizer | None = None,
) -> dict[str, float]:
    """Loss (cross-entropy), accuracy and mean spikes per hidden neuron on a data set."""
    if len(data) == 0:
        raise SpikegradInputError("cannot evaluate on an empty dataset")
    dtype = next(model.parameters()).dtype
    loss_sum = correct = spikes = 0.0
    for x, y in data.batches(batch_size, shuffle=False, dtype=dtype):
        out = model(x)
        logits = readout_logits(out.readout, model.readout_mode)
        loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
        correct += float((logits.argmax(1) == y).sum())
        spikes += mean_spikes_per_neuron(out.spikes) * len(y)
    n = len(data)
    return {"loss": loss_sum / n, "accuracy": correct / n, "spikes_per_neuron": spikes / n}


def train(
    config: TrainConfig,
    data: tuple[SpikeDataset, SpikeDataset, SpikeDataset] | None = None,
    out_dir: str | Path | None = None,
    *,
    progress: bool = True,
    plots: bool = True,
    callback: Callable[[EpochStats], None] | None = None,
    resume: bool = False,
) -> TrainResult:
    """Train a spiking classifier with surrogate-gradient BPTT.

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

    Data-parallel training: when ``torch.distributed`` is initialised (e.g. under
    ``torchrun``), every process takes its shard of each global batch and the model is
    wrapped in ``DistributedDataParallel``; the loss is scaled so the averaged gradients
    equal those of the global batch. Only rank 0 writes files.
    """
    t_start = time.perf_counter()
    dist = _DistInfo.current()
    out = _prepare_out_dir(out_dir) if dist.rank == 0 else None
    if resume and out_dir is None:
        raise SpikegradInputError("resume needs the run folder (out_dir)")
    if data is None:
        from ..data.registry import load_dataset

        data = load_dataset(config.dataset, **config.dataset_options)
    train_set, val_set, test_set = data
    for name, ds in (("train", train_set), ("validation", val_set), ("test", test_set)):
        if len(ds) == 0:
            raise SpikegradInputError(f"the {name} dataset is empty")
    model = build_model(config, train_set.n_units, train_set.n_classes)
    if config.init == "fluctuation":
        _apply_fluctuation_init(model, train_set, config)
    reg = config.regularizer()
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    st = _LoopState(gen_state=gen.get_state())
    if resume:
        st = _load_last(Path(out_dir), config, model, opt)
    elif out is not None:
        atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2))
    step_model = dist.wrap(model)

    def save_last() -> None:
        if out is not None:
            _save_last(out / "last.pt", st, config, model, opt)

    bar = _progress(config.epochs, progress and dist.rank == 0, initial=st.epoch - 1)
    while st.epoch <= config.epochs:
        epoch = st.epoch
        t0 = time.perf_counter()
        model.train()
        gen.set_state(st.gen_state)
        batches = train_set.batches(config.batch_size, shuffle=True, generator=gen)
        for k, (x, y) in enumerate(batches):
            if k < st.step:
                continue  # replay of a resumed epoch: same permutation, skip what is done
            n_global = len(y)
            x, y = dist.shard(x, y)
            out_ = step_model(x)
            logits = readout_logits(out_.readout, config.readout)
            # local mean loss scaled so that the gradients that data-parallel training
            # averages over ranks equal those of the global batch mean
            local = F.cross_entropy(logits, y) + reg(out_.spikes)
            loss = local * (len(y) * dist.world / n_global)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                st.loss_sum += float(local) * len(y)
                st.correct += float((logits.argmax(1) == y).sum())
                st.spikes += mean_spikes_per_neuron(out_.spikes) * len(y)
                st.seen += len(y)
            st.step = k + 1
            if config.checkpoint_every and st.step % config.checkpoint_every == 0:
                save_last()
        st.gen_state = gen.get_state()
        if not math.isfinite(st.loss_sum):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (loss is not finite); lower the learning rate"
            )
        model.eval()
        if epoch % config.eval_every == 0 or epoch == config.epochs:
            val = evaluate(model, val_set)
        else:
            val = {"loss": float("nan"), "accuracy": float("nan")}
        stats = EpochStats(
            epoch,
            st.loss_sum / st.seen,
            st.correct / st.seen,
            val["loss"],
            val["accuracy"],
            st.spikes / st.seen,
            time.perf_counter() - t0,
        )
        st.history.append(stats)
        if out is not None:
            _write_history(out / "history.csv", st.history)
        if callback is not None:
            callback(stats)
        if val["accuracy"] > st.best_val:
            st.best_val, st.best_epoch, st.since_best = val["accuracy"], epoch, 0
            st.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out is not None:
                save_checkpoint(out / "checkpoint.pt", st.best_state, config.to_dict(), epoch)
        elif not math.isnan(val["accuracy"]):
            st.since_best += 1
        bar.set_postfix(
            loss=f"{stats.train_loss:.3f}",
            train=f"{stats.train_accuracy:.3f}",
            val=f"{stats.val_accuracy:.3f}",
            spk=f"{stats.spikes_per_neuron:.2f}",
        )
        bar.update(1)
        st.next_epoch()
        stop = bool(config.patience and st.since_best >= config.patience)
        st.done = stop or st.epoch > config.epochs
        save_last()
        if stop:
            break
    bar.close()
    history, best_state, best_epoch = st.history, st.best_state, st.best_epoch

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    test = evaluate(model, test_set)
    val = evaluate(model, val_set)
    tr = evaluate(model, train_set)
    metrics = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "train_accuracy": tr["accuracy"],
        "train_loss": tr["loss"],
        "spikes_per_neuron": test["spikes_per_neuron"],
        "best_epoch": best_epoch,
        "epochs": len(history),
        "wall_seconds": time.perf_counter() - t_start,
        "torch_threads": torch.get_num_threads(),
        "config": config.to_dict(),
    }
    if out is not None:
        atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
        if plots:
            from ..experiments.plots import plot_learning_curves, plot_sample

            plot_learning_curves(history, out / "learning_curves.png")
            plot_sample(model, test_set, out / "raster.png")
    return TrainResult(metrics, history, model, out)


@dataclass
class _LoopState:
    """Everything the training loop needs to continue exactly where it stopped."""

    epoch: int = 1
    step: int = 0  # batches of `epoch` already done
    gen_state: torch.Tensor | None = None  # batch-order generator before `epoch`'s permutation
    loss_sum: float = 0.0
    correct: float = 0.0
    spikes: float = 0.0
    seen: float = 0.0
    history: list = field(default_factory=list)
    best_val: float = -1.0
    best_epoch: int = 0
    since_best: int = 0
    best_state: dict | None = None
    done: bool = False

    def next_epoch(self) -> None:
        self.epoch += 1
        self.step = 0
        self.loss_sum = self.correct = self.spikes = self.seen = 0.0


def _save_last(path: Path, st: _LoopState, config: TrainConfig, model, opt) -> None:
    payload = {
        "format": "spikegrad-resume-1",
        "config": config.to_dict(),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "loop": {
            k: v
            for k, v in dataclasses.asdict(st).items()
            if k not in ("history", "best_state", "gen_state")
        },
        "gen_state": st.gen_state,
        "best_state": st.best_state,
        "history": [dataclasses.asdict(h) for h in st.history],
    }
    save_payload(path, payload)


def _load_last(run_dir: Path, config: TrainConfig, model, opt) -> _LoopState:
    path = run_dir / "last.pt"
    payload = load_payload(path, "spikegrad-resume-1")
    if payload["config"] != config.to_dict():
        raise SpikegradInputError(
            f"{str(path)!r} was written by a run with another config; resume with the run's "
            "own config.json"
        )
    model.load_state_dict(payload["model"])
    opt.load_state_dict(payload["optimizer"])
    st = _LoopState(**payload["loop"])
    st.gen_state = payload["gen_state"]
    st.best_state = payload["best_state"]
    st.history = [EpochStats(**h) for h in payload["history"]]
    return st


class _DistInfo:
    """Rank / world size of ``torch.distributed`` (1 process when not initialised)."""

    def __init__(self, rank: int = 0, world: int = 1) -> None:
        self.rank, self.world = rank, world

    @classmethod
    def current(cls) -> _DistInfo:
        import torch.distributed as tdist

        if tdist.is_available() and tdist.is_initialized():
            return cls(tdist.get_rank(), tdist.get_world_size())
        return cls()

    def shard(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """This rank's samples of a global batch (strided, so shards differ by <= 1)."""
        if self.world == 1:
            return x, y
        idx = torch.arange(self.rank, len(y), self.world)
        return x[:, idx], y[idx]

    def wrap(self, model):
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model)


def _prepare_out_dir(out_dir: str | Path | None) -> Path | None:
    if out_dir is None:
        return None
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SpikegradInputError(f"output folder {str(out)!r} exists and is a file")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _write_history(path: Path, history: Sequence[EpochStats]) -> None:
    names = [f.name for f in dataclasses.fields(EpochStats)]
    lines = [",".join(names)]
    for h in history:
        lines.append(",".join(f"{getattr(h, n):.6g}" for n in names))
    atomic_write_text(path, "\n".join(lines) + "\n")


class _NoBar:
    def set_postfix(self, **kw) -> None:  # noqa: D401
        pass

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, initial: int = 0):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc="epochs", unit="ep", dynamic_ncols=True)
