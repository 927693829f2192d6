"""One trainer for every learning rule: :func:`fit` (model, rule, task, optimizer, run).

Per epoch it draws the batch order from an explicit generator, asks the rule for the
gradients of each batch (:meth:`~spikegrad.learning.rules.Rule.gradients`), lets the
optimizer step, evaluates the validation split and keeps the best-validation weights
(never test). It writes the run folder (:class:`~spikegrad.io.run.RunFolder`) as it goes:

* ``history.csv`` after every epoch, ``checkpoint.pt`` whenever validation improves;
* ``last.pt`` every ``checkpoint_every`` steps and at every epoch end: weights, optimizer
  state, the rule's state (noise generators), the batch-order generator and the loop
  state, so ``resume=True`` replays the interrupted epoch's batch order and ends with
  exactly the weights and metrics of an uninterrupted run;
* ``metrics.json`` at the end (test evaluated once, on the best-validation model).

Data-parallel training: when ``torch.distributed`` is initialised (e.g. under
``torchrun``), every process takes a strided shard of each global batch; the rule's
gradient of the local mean loss is scaled by ``n_local / n_global`` and summed over the
processes (all-reduce), which equals the gradient of the global batch mean for every
rule whose estimate is linear in the per-sample losses (all of them). Only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .._checks import SpikegradInputError, check_size
from ..functional.regularization import mean_spikes_per_neuron
from ..io.run import RunFolder
from ..nn.energy import OpCosts, OpCounter, has_counts, make_costs, not_counted
from ..nn.spec import spec_or_kind
from ..tasks.base import Task
from .rules.base import Rule

__all__ = ["EpochStats", "FitResult", "fit", "evaluate", "RESUME_FORMAT", "SilentRunWarning"]

#: format tag of ``last.pt``
RESUME_FORMAT = "spikegrad-resume-1"


@dataclass
class EpochStats:
    """One row of ``history.csv``.

    ``train_accuracy`` / ``val_accuracy`` hold the task's score (its ``score_name``;
    accuracy for classification); ``train_loss`` is the training objective
    (with regulariser), ``val_loss`` the per-sample loss without it.
    """

    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    spikes_per_neuron: float
    seconds: float


class SilentRunWarning(UserWarning):
    """A run that trains but cannot learn (silent hidden layers, zero gradients, rising loss)."""


@dataclass
class FitResult:
    """What :func:`fit` returns: final metrics, per-epoch history, the best model, folder.

    ``already_finished`` is true when ``resume=True`` found a run that had already ended
    (all epochs done or stopped early): nothing was trained and the folder's
    ``metrics.json`` was returned unchanged.
    """

    metrics: dict
    history: list[EpochStats]
    model: torch.nn.Module
    out_dir: Path | None
    already_finished: bool = False


def _spikes(out: Any) -> float:
    spikes = getattr(out, "spikes", None)
    if not spikes:
        return 0.0
    return mean_spikes_per_neuron(spikes)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    task: Task,
    split: str = "test",
    batch_size: int = 500,
    ops: OpCounter | None = None,
) -> dict[str, float]:
    """Mean per-sample loss, mean score and spikes per hidden neuron on a split.

    The score is reported under ``"accuracy"`` and under the task's ``score_name``.
    ``ops`` (an :class:`~spikegrad.nn.energy.OpCounter`) counts every batch's synaptic
    operations.
    """
    n = task.size(split)
    if n == 0:
        raise SpikegradInputError("cannot evaluate on an empty dataset")
    dtype = next(model.parameters()).dtype
    loss_sum = score = spikes = 0.0
    for x, y in task.batches(split, batch_size, shuffle=False, dtype=dtype):
        out = model(x)
        if ops is not None:
            ops.add(model, x, out)
        b = x.shape[1]
        loss_sum += float(task.sample_loss(model, out, y).sum())
        score += float(task.score(model, out, y).sum())
        spikes += _spikes(out) * b
    res = {"loss": loss_sum / n, "accuracy": score / n, "spikes_per_neuron": spikes / n}
    res[task.score_name] = score / n
    return res


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
    best_val: float = -math.inf
    best_epoch: int = 0
    since_best: int = 0
    best_state: dict | None = None
    done: bool = False

    def next_epoch(self) -> None:
        self.epoch += 1
        self.step = 0
        self.loss_sum = self.correct = self.spikes = self.seen = 0.0


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

    def shard(self, x: torch.Tensor, y: Any) -> tuple[torch.Tensor, Any]:
        """This rank's samples of a global batch (strided, so shards differ by <= 1).

        A global batch smaller than the number of processes leaves some ranks an empty
        shard; they contribute a zero gradient to the all-reduce (see :func:`fit`).
        """
        if self.world == 1:
            return x, y
        idx = torch.arange(self.rank, x.shape[1], self.world)
        return x[:, idx], y[idx]

    def reduce_grads(self, model: torch.nn.Module, n_local: int, n_global: int) -> None:
        """Scale each gradient by ``n_local / n_global`` and sum it over the processes."""
        if self.world == 1:
            return
        import torch.distributed as tdist

        for p in model.parameters():
            if not p.requires_grad:
                continue
            if p.grad is None:
                p.grad = torch.zeros_like(p)
            p.grad.mul_(n_local / n_global)
            tdist.all_reduce(p.grad, op=tdist.ReduceOp.SUM)

    def broadcast_params(self, model: torch.nn.Module) -> None:
        """Rank 0's weights everywhere (processes start identical)."""
        if self.world == 1:
            return
        import torch.distributed as tdist

        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                tdist.broadcast(t, 0)


def fit(
    model: torch.nn.Module,
    rule: Rule,
    task: Task,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int = 100,
    batch_size: int = 250,
    seed: int = 0,
    out_dir: str | Path | RunFolder | None = None,
    config: dict | None = None,
    patience: int = 0,
    eval_every: int = 1,
    checkpoint_every: int = 20,
    eval_batch_size: int = 500,
    progress: bool = True,
    plots: bool = True,
    callback: Callable[[EpochStats], None] | None = None,
    resume: bool = False,
    energy_costs: OpCosts | dict | None = None,
) -> FitResult:
    """Train ``model`` on ``task`` with ``rule`` and ``optimizer``; write a run folder.

    Parameters
    ----------
    model, rule, task, optimizer:
        Any model the rule supports (checked first: a clear error names the kinds it
        trains), any :class:`~spikegrad.tasks.Task`, any ``torch.optim`` optimizer over
        the model's parameters.
    epochs, batch_size:
        Passes over the training split and samples per step.
    seed:
        Seed of the batch-order generator (the model's weights come from its own seed).
    out_dir:
        Run folder (created); ``None`` writes nothing.
    config:
        The run's settings, written as ``config.json`` and checked on resume (default:
        the rule's, the task's and these arguments).
    patience:
        Stop after this many evaluated epochs without a validation gain (0: never).
    eval_every:
        Evaluate the validation split every this many epochs (and at the last).
    checkpoint_every:
        Write ``last.pt`` every this many steps (0: only at epoch ends).
    progress, plots, callback:
        Progress bar over epochs; PNG plots in the run folder; called with each epoch's
        :class:`EpochStats`.
    resume:
        Continue the run in ``out_dir`` from its ``last.pt``. ``config`` must equal the
        run's own except for ``epochs``: a larger value continues a run that ended at its
        last epoch, a value below the epochs already done is refused. A run that has
        already ended is not trained again (``already_finished`` in the result).
    energy_costs:
        Per-operation costs of the energy estimate (:class:`~spikegrad.nn.energy.OpCosts`
        or a dict; default Horowitz 2014, 45 nm). The test evaluation counts synaptic
        operations, dense MACs, neuron updates and memory traffic per sample and layer
        (``metrics["synops"]``, ``synops.png``) for the models :mod:`spikegrad.nn.energy`
        models; every other model and layer gets an explicit ``{"counted": false, "why":
        ...}`` entry there.

    Warns
    -----
    SilentRunWarning
        Hidden layers that emit no spike, or gradients that are all zero, over the whole
        first epoch (the run cannot learn); a training loss that rises to several times
        its lowest value (the learning rate is likely too high).
    """
    t_start = time.perf_counter()
    if not isinstance(rule, Rule):
        raise TypeError(f"rule must be a Rule (spikegrad.learning.rules), got {rule!r}")
    if not isinstance(task, Task):
        raise TypeError(f"task must be a Task (spikegrad.tasks), got {task!r}")
    rule.check_model(model)
    task.check_model(model)
    epochs = check_size("epochs", epochs, 1)
    batch_size = check_size("batch_size", batch_size, 1)
    eval_every = check_size("eval_every", eval_every, 1)
    eval_batch_size = check_size("eval_batch_size", eval_batch_size, 1)
    patience = check_size("patience", patience, 0)
    checkpoint_every = check_size("checkpoint_every", checkpoint_every, 0)
    seed = check_size("seed", seed, 0)
    costs = make_costs(energy_costs)
    for split in ("train", "val", "test"):
        if task.size(split) == 0:
            label = "validation" if split == "val" else split
            raise SpikegradInputError(f"the {label} dataset is empty")
    if resume and out_dir is None:
        raise SpikegradInputError("resume needs the run folder (out_dir)")
    if config is None:
        config = {
            "model_spec": spec_or_kind(model),
            "rule": rule.name,
            "rule_options": rule.to_dict(),
            "task": task.to_dict(),
            "epochs": epochs,
            "batch_size": batch_size,
            "seed": seed,
            "patience": patience,
            "eval_every": eval_every,
            "checkpoint_every": checkpoint_every,
        }
    else:
        # the model's spec beside the settings: load_run rebuilds any model from it
        config = {**config, "model_spec": spec_or_kind(model)}
    dist = _DistInfo.current()
    run = None
    if dist.rank == 0 and out_dir is not None:
        run = out_dir if isinstance(out_dir, RunFolder) else RunFolder(out_dir)
    dtype = next(model.parameters()).dtype
    gen = torch.Generator().manual_seed(seed)
    st = _LoopState(gen_state=gen.get_state())
    if resume:
        folder = out_dir if isinstance(out_dir, RunFolder) else RunFolder(out_dir)
        st, epochs_changed = _load_last(folder, config, model, optimizer, rule, epochs, patience)
        if run is not None:
            for tmp in run.path.glob(".*.tmp"):  # left by a write a kill interrupted
                tmp.unlink(missing_ok=True)
        if st.done and folder.file(RunFolder.METRICS).is_file():
            return _finished(folder, st, model)
        if run is not None and epochs_changed:
            run.write_config(config)
    elif run is not None:
        run.write_config(config)
    dist.broadcast_params(model)
    rename = {}
    if task.score_name != "accuracy":
        rename = {
            "train_accuracy": f"train_{task.score_name}",
            "val_accuracy": f"val_{task.score_name}",
        }

    def save_last() -> None:
        if run is not None:
            _save_last(run, st, config, model, optimizer, rule)

    bar = _progress(epochs, progress and dist.rank == 0, initial=st.epoch - 1)
    watch = _Watch(st.epoch == 1 and st.step == 0 and dist.rank == 0)
    while not st.done and st.epoch <= epochs:
        epoch = st.epoch
        t0 = time.perf_counter()
        model.train()
        gen.set_state(st.gen_state)
        batches = task.batches("train", batch_size, shuffle=True, generator=gen, dtype=dtype)
        for k, (x, y) in enumerate(batches):
            if k < st.step:
                continue  # replay of a resumed epoch: same permutation, skip what is done
            n_global = x.shape[1]
            x, y = dist.shard(x, y)
            b = x.shape[1]
            if b == 0:  # global batch smaller than the number of processes
                for p in model.parameters():
                    if p.requires_grad:
                        p.grad = torch.zeros_like(p)
            else:
                res = rule.gradients(model, task, x, y)
            dist.reduce_grads(model, b, n_global)
            if watch.active and epoch == 1:
                watch.grads(model)
            optimizer.step()
            if b:
                with torch.no_grad():
                    st.loss_sum += float(res.loss) * b
                    st.correct += float(task.score(model, res.out, y).sum())
                    st.spikes += _spikes(res.out) * b
                    st.seen += b
                    if watch.active and epoch == 1:
                        watch.spikes(res.out)
            st.step = k + 1
            if checkpoint_every and st.step % checkpoint_every == 0:
                save_last()
        st.gen_state = gen.get_state()
        if not math.isfinite(st.loss_sum):
            raise FloatingPointError(
                f"training diverged at epoch {epoch} (loss is not finite); lower the learning rate"
            )
        model.eval()
        if epoch % eval_every == 0 or epoch == epochs:
            val = evaluate(model, task, "val", eval_batch_size)
        else:
            val = {"loss": float("nan"), "accuracy": float("nan")}
        seen = max(st.seen, 1.0)  # 0 only on a rank whose every shard was empty
        stats = EpochStats(
            epoch,
            st.loss_sum / seen,
            st.correct / seen,
            val["loss"],
            val["accuracy"],
            st.spikes / seen,
            time.perf_counter() - t0,
        )
        st.history.append(stats)
        watch.epoch_end(epoch, stats.train_loss)
        if run is not None:
            run.write_history(st.history, rename=rename)
        if callback is not None:
            callback(stats)
        if val["accuracy"] > st.best_val:
            st.best_val, st.best_epoch, st.since_best = val["accuracy"], epoch, 0
            st.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if run is not None:
                run.save_weights(st.best_state, config, epoch)
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
        stop = bool(patience and st.since_best >= patience)
        st.done = stop or st.epoch > epochs
        save_last()
    bar.close()

    if st.best_state is not None:
        model.load_state_dict(st.best_state)
    model.eval()
    ops = OpCounter()
    test = evaluate(model, task, "test", eval_batch_size, ops=ops)
    val = evaluate(model, task, "val", eval_batch_size)
    tr = evaluate(model, task, "train", eval_batch_size)
    metrics = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "val_accuracy": val["accuracy"],
        "val_loss": val["loss"],
        "train_accuracy": tr["accuracy"],
        "train_loss": tr["loss"],
        "spikes_per_neuron": test["spikes_per_neuron"],
        "best_epoch": st.best_epoch,
        "epochs": len(st.history),
        "wall_seconds": time.perf_counter() - t_start,
        "torch_threads": torch.get_num_threads(),
        "rule": rule.name,
        "score": task.score_name,
        "config": config,
    }
    if task.score_name != "accuracy":
        for part, r in (("test", test), ("val", val), ("train", tr)):
            metrics[f"{part}_{task.score_name}"] = r["accuracy"]
    synops = ops.report(costs)
    # every model gets an entry: a model the counter does not know says so
    metrics["synops"] = synops if synops is not None else not_counted(model)
    if run is not None:
        run.write_metrics(metrics)
        if plots:
            from ..viz.plots import plot_learning_curves, plot_sample

            plot_learning_curves(
                st.history, run.file("learning_curves.png"), score=task.score_name
            )
            if has_counts(synops):
                from ..viz.plots import plot_synops

                plot_synops(synops, run.file("synops.png"))
            sample = getattr(task, "split", None)
            if sample is not None and hasattr(model, "readout"):
                plot_sample(model, task.split("test"), run.file("raster.png"))
    return FitResult(metrics, st.history, model, run.path if run is not None else None)


class _Watch:
    """Warn about runs that cannot learn (rank 0, from the first epoch of a fresh run on).

    Silent hidden layers and all-zero gradients are judged over the whole first epoch;
    the loss check runs at every epoch end and warns once.
    """

    def __init__(self, active: bool) -> None:
        self.active = active
        self.layer_spikes: list[float] = []
        self.still: list[str] | None = None  # parameters whose gradient was always zero
        self.min_loss = math.inf
        self.warned_loss = False

    def grads(self, model: torch.nn.Module) -> None:
        if self.still is None:
            self.still = [n for n, p in model.named_parameters() if p.requires_grad]
        if not self.still:
            return
        params = dict(model.named_parameters())
        self.still = [
            n for n in self.still if params[n].grad is None or not bool(params[n].grad.any())
        ]

    def spikes(self, out: Any) -> None:
        layers = getattr(out, "spikes", None)
        if not layers:
            return
        if not self.layer_spikes:
            self.layer_spikes = [0.0] * len(layers)
        for k, s in enumerate(layers):
            self.layer_spikes[k] += float(s.sum())

    def epoch_end(self, epoch: int, loss: float) -> None:
        if not self.active:
            return
        if epoch == 1:
            silent = [k + 1 for k, n in enumerate(self.layer_spikes) if n == 0]
            if self.still:
                warnings.warn(
                    f"the gradient of {', '.join(self.still)} was exactly zero over the "
                    "whole first epoch: these parameters cannot learn (likely cause: "
                    + (
                        "silent hidden layers, "
                        if silent
                        else "a surrogate that is zero where the membrane potentials are, "
                    )
                    + "e.g. the zero surrogate or a too large --beta; try --init fluctuation "
                    "or a smaller --beta)",
                    SilentRunWarning,
                    stacklevel=3,
                )
            if silent:
                which = ", ".join(map(str, silent))
                warnings.warn(
                    f"hidden layer(s) {which} emitted no spike in the whole first epoch: "
                    "learning then rests on the surrogate's tail alone and often stalls at "
                    "chance; likely cause: weights too small for the threshold or a "
                    "surrogate too narrow; try --init fluctuation or a smaller --beta",
                    SilentRunWarning,
                    stacklevel=3,
                )
        if math.isfinite(loss):
            if (
                not self.warned_loss
                and math.isfinite(self.min_loss)
                and loss > 4.0 * self.min_loss
                and loss - self.min_loss > 1e-6
            ):
                self.warned_loss = True
                warnings.warn(
                    f"training loss rose to {loss:.4g} at epoch {epoch}, over 4 times its "
                    f"lowest value {self.min_loss:.4g}: the learning rate is likely too "
                    "high (the run may diverge)",
                    SilentRunWarning,
                    stacklevel=3,
                )
            self.min_loss = min(self.min_loss, loss)


def _finished(folder: RunFolder, st: _LoopState, model) -> FitResult:
    """The result of a run that had already ended: its metrics, nothing trained."""
    metrics = folder.read_json(RunFolder.METRICS)
    if st.best_state is not None:
        model.load_state_dict(st.best_state)
    model.eval()
    return FitResult(metrics, st.history, model, folder.path, already_finished=True)


def _save_last(run: RunFolder, st: _LoopState, config: dict, model, opt, rule: Rule) -> None:
    payload = {
        "format": RESUME_FORMAT,
        "config": config,
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "rule": rule.state_dict(),
        "loop": {
            k: v
            for k, v in dataclasses.asdict(st).items()
            if k not in ("history", "best_state", "gen_state")
        },
        "gen_state": st.gen_state,
        "best_state": st.best_state,
        "history": [dataclasses.asdict(h) for h in st.history],
    }
    run.save_state(payload)


def _load_last(
    run: RunFolder, config: dict, model, opt, rule: Rule, epochs: int, patience: int
) -> tuple[_LoopState, bool]:
    """Restore the loop state; returns it and whether ``epochs`` differs from the run's.

    Every setting but ``epochs`` must match. A changed ``epochs`` is honoured: below
    the epochs already done it is refused; above, a run that ended at its last epoch
    (not stopped early) continues.
    """
    payload = run.load_state(RESUME_FORMAT)
    path = run.file(RunFolder.LAST)
    saved = payload["config"]
    if not isinstance(saved, dict):
        raise SpikegradInputError(f"{str(path)!r} holds no config dict")
    changed = sorted(
        k for k in set(saved) | set(config)
        if k != "epochs" and saved.get(k) != config.get(k)
        and not (k == "model_spec" and k not in saved)  # written before specs were recorded
    )
    if changed:
        raise SpikegradInputError(
            f"{str(path)!r} was written by a run with other settings ({', '.join(changed)}); "
            "resume with the run's own config.json (only epochs may change)"
        )
    try:
        model.load_state_dict(payload["model"])
        opt.load_state_dict(payload["optimizer"])
        rule.load_state_dict(payload.get("rule", {}))
        st = _LoopState(**payload["loop"])
        st.gen_state = payload["gen_state"]
        st.best_state = payload["best_state"]
        st.history = [EpochStats(**h) for h in payload["history"]]
    except (RuntimeError, TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        raise SpikegradInputError(
            f"{str(path)!r} does not fit this model and config: {str(exc).splitlines()[0]}"
        ) from exc
    if not isinstance(st.gen_state, torch.Tensor):
        raise SpikegradInputError(f"{str(path)!r} holds no batch-order generator state")
    done_epochs = len(st.history)
    epochs_changed = saved.get("epochs", epochs) != epochs
    if epochs_changed:
        if epochs < done_epochs:
            raise SpikegradInputError(
                f"epochs {epochs} is below the {done_epochs} epochs this run has already "
                f"done ({str(path)!r}); resume with epochs >= {done_epochs}"
            )
        stopped_early = bool(patience and st.since_best >= patience)
        st.done = stopped_early or st.epoch > epochs
    return st, epochs_changed


class _NoBar:
    def set_postfix(self, **kw) -> None:
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
