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

from .._checks import SpikegradInputError, check_choice, check_positive
from ..data.spikes import SpikeDataset
from ..functional.lif import RESET_MODES
from ..functional.readout import READOUT_MODES, readout_logits
from ..functional.regularization import ActivityRegularizer, mean_spikes_per_neuron
from ..functional.surrogate import make_surrogate
from ..init import fluctuation_driven_
from ..io.checkpoint import atomic_write_text, save_checkpoint
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

    def __post_init__(self) -> None:
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise SpikegradInputError(f"hidden must be positive layer sizes, got {self.hidden}")
        make_surrogate(self.surrogate, self.beta)  # validates name and beta
        check_choice("reset mode", self.reset, RESET_MODES)
        check_choice("readout", self.readout, READOUT_MODES)
        check_choice("init", self.init, INIT_MODES)
        for name in ("tau_mem", "tau_syn", "tau_out", "dt", "lr"):
            check_positive(name, getattr(self, name))
        for name in ("batch_size", "epochs", "eval_every"):
            if int(getattr(self, name)) < 1:
                raise SpikegradInputError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.patience < 0:
            raise SpikegradInputError(f"patience must be >= 0, got {self.patience}")
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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise SpikegradInputError(f"unknown config keys: {', '.join(sorted(unknown))}")
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
    """
    t_start = time.perf_counter()
    out = _prepare_out_dir(out_dir)
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
    if out is not None:
        atomic_write_text(out / "config.json", json.dumps(config.to_dict(), indent=2))

    history: list[EpochStats] = []
    best_val, best_state, best_epoch, since_best = -1.0, None, 0, 0
    bar = _progress(config.epochs, progress)
    for epoch in range(1, config.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        loss_sum = correct = seen = spikes = 0.0
        for x, y in train_set.batches(config.batch_size, shuffle=True, generator=gen):
            out_ = model(x)
            logits = readout_logits(out_.readout, config.readout)
            loss = F.cross_entropy(logits, y) + reg(out_.spikes)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                loss_sum += float(loss) * len(y)
                correct += float((logits.argmax(1) == y).sum())
                spikes += mean_spikes_per_neuron(out_.spikes) * len(y)
                seen += len(y)
        if not math.isfinite(loss_sum):
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
            loss_sum / seen,
            correct / seen,
            val["loss"],
            val["accuracy"],
            spikes / seen,
            time.perf_counter() - t0,
        )
        history.append(stats)
        if out is not None:
            _write_history(out / "history.csv", history)
        if callback is not None:
            callback(stats)
        if val["accuracy"] > best_val:
            best_val, best_epoch, since_best = val["accuracy"], epoch, 0
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if out is not None:
                save_checkpoint(out / "checkpoint.pt", best_state, config.to_dict(), epoch)
        elif not math.isnan(val["accuracy"]):
            since_best += 1
        bar.set_postfix(
            loss=f"{stats.train_loss:.3f}",
            train=f"{stats.train_accuracy:.3f}",
            val=f"{stats.val_accuracy:.3f}",
            spk=f"{stats.spikes_per_neuron:.2f}",
        )
        bar.update(1)
        if config.patience and since_best >= config.patience:
            break
    bar.close()

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


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="epochs", unit="ep", dynamic_ncols=True)
