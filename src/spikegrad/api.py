"""The public API a researcher reaches for: train, fit, evaluate, predict, load a run.

>>> from spikegrad import SpikingNetwork, fit, load_run, make_rule, make_task
>>> task = make_task("randman", n_classes=4, samples_per_class=50, seed=1)  # doctest: +SKIP
>>> net = SpikingNetwork(task.n_inputs, task.n_outputs, hidden=(32,), seed=0)  # doctest: +SKIP

See README.md ("One network, three rules").
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ._checks import SpikegradInputError, check_size
from .data.spikes import LAYOUTS, SpikeDataset, layout_of
from .io.checkpoint import load_checkpoint
from .io.run import RunFolder
from .learning.config import TrainConfig, build_model
from .learning.trainer import evaluate as _evaluate_task
from .tasks import ClassificationTask, Task

__all__ = ["load_run", "predict", "evaluate", "run_binning", "read_for_run"]


def load_run(run_dir: str | Path) -> torch.nn.Module:
    """The best-validation model of a run folder (``config.json`` + ``checkpoint.pt``).

    Works for every run that ``spikegrad train`` or :func:`~spikegrad.fit` writes, whatever
    its model kind and rule (``compare`` keeps no weights per cell): the model is rebuilt
    from the model spec the run recorded (:mod:`spikegrad.nn.spec`; older runs of
    ``train`` from their settings) and returned in eval mode. Raises
    :class:`SpikegradInputError` (one line) when the folder, its checkpoint or its config
    is missing, corrupt or inconsistent.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SpikegradInputError(f"run folder {str(run_dir)!r} does not exist")
    payload = load_checkpoint(run_dir / RunFolder.CHECKPOINT)
    if (run_dir / RunFolder.CONFIG).is_file():
        cfg_dict = RunFolder(run_dir).read_json(RunFolder.CONFIG)
    else:
        cfg_dict = payload["config"]
    sd = payload["state_dict"]
    if not isinstance(sd, dict):
        raise SpikegradInputError(f"checkpoint in {str(run_dir)!r} holds no state_dict")
    spec = cfg_dict.get("model_spec") if isinstance(cfg_dict, dict) else None
    if isinstance(spec, dict) and (len(spec) > 1 or "model" not in cfg_dict):
        return _load_state(_from_spec(spec, run_dir), sd, run_dir)
    try:
        config = TrainConfig.from_dict(cfg_dict)
    except TypeError as exc:
        raise SpikegradInputError(f"config of {str(run_dir)!r} is malformed: {exc}") from exc
    try:
        n_inputs, n_classes = _shape(config, sd)
    except (KeyError, AttributeError, IndexError) as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} has no weights of a {config.model!r} model ({exc})"
        ) from exc
    # the stored weights replace the initial ones, so the fluctuation init needs no data
    config = TrainConfig.from_dict({**config.to_dict(), "init": "uniform"})
    return _load_state(build_model(config, n_inputs, n_classes), sd, run_dir)


def _from_spec(spec: dict, run_dir: Path) -> torch.nn.Module:
    from .nn.spec import MODEL_KINDS, model_from_spec

    kind = spec.get("kind")
    if kind not in MODEL_KINDS or len(spec) <= 1:
        raise SpikegradInputError(
            f"the model of {str(run_dir)!r} (kind {kind!r}) is not one of spikegrad's model "
            "kinds and records no spec; build it yourself, then model.load_state_dict("
            "load_checkpoint(path).state_dict)"
        )
    return model_from_spec(spec)


#: tasks whose inputs are event files (SHD layout) and the binning defaults of each loader
_EVENT_TASKS = {"spoken-digits": (100, 1.0), "shd": (100, 1.4), "ssc": (100, 1.4)}


def run_binning(run_dir: str | Path) -> dict[str, float | int]:
    """``{"n_steps", "duration"}`` (and ``"channels"`` where the task pooled its channels):
    how the run's task binned its event files.

    An event at ``t`` seconds goes to step ``floor(t * n_steps / duration)``; events past
    ``duration`` are dropped. Read from the run's ``config.json`` (its task options, else
    the task loader's defaults). Raises :class:`SpikegradInputError` for a run whose task
    reads no event files.
    """
    run_dir = Path(run_dir)
    cfg = RunFolder(run_dir).read_json(RunFolder.CONFIG) if run_dir.is_dir() else None
    if not isinstance(cfg, dict):
        raise SpikegradInputError(f"run folder {str(run_dir)!r} does not exist")
    task = cfg.get("dataset")
    if task not in _EVENT_TASKS:
        raise SpikegradInputError(
            f"the run in {str(run_dir)!r} was trained on task {task!r}, which reads no event "
            f"files; event files fit runs of {', '.join(_EVENT_TASKS)}"
        )
    opts = cfg.get("dataset_options") or {}
    steps, duration = _EVENT_TASKS[task]
    out: dict[str, float | int] = {"n_steps": int(opts.get("n_steps", steps)),
                                   "duration": float(opts.get("duration", duration))}
    if opts.get("channels") is not None:  # the spoken-digit task's pooled bands
        out["channels"] = int(opts["channels"])
    return out


def read_for_run(run_dir: str | Path, path: str | Path) -> SpikeDataset:
    """An event file in SHD's HDF5 layout (``spikegrad encode-audio``'s output, an SHD
    file) binned the way the run's task binned its training data (:func:`run_binning`),
    its channels pooled into the run's bands where the task pooled them.

    The labels are the file's (``encode-audio --label``; 0 when none were given).
    """
    from .data import shd

    binning = run_binning(run_dir)
    times, units, labels = shd.read_hdf5_spikes(path)
    ds = shd.bin_events(times, units, labels, n_steps=int(binning["n_steps"]),
                        duration=float(binning["duration"]), name=Path(path).name)
    channels = int(binning.get("channels", ds.n_units))
    if channels != ds.n_units:  # pooled the way the run's task pooled its channels
        from .data.spoken_digits import pool_channels

        if ds.n_units % channels:
            raise SpikegradInputError(
                f"{str(path)!r} has {ds.n_units} channels, which the run's {channels} "
                "pooled bands do not divide"
            )
        ds = pool_channels(ds, channels)
    return ds


def _load_state(model: torch.nn.Module, sd: dict, run_dir: Path) -> torch.nn.Module:
    try:
        model.load_state_dict(sd)
    except (RuntimeError, TypeError) as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} does not fit its config.json: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    if not all(
        bool(torch.isfinite(v).all())
        for v in sd.values()
        if isinstance(v, torch.Tensor) and v.is_floating_point()
    ):
        raise SpikegradInputError(f"checkpoint in {str(run_dir)!r} holds non-finite weights")
    return model.eval()


def _shape(config: TrainConfig, sd: dict) -> tuple[int, int]:
    """(n_inputs, n_outputs) of the config's model from its state dict."""
    if config.model == "srm":
        return int(sd["weight"].shape[1]), int(sd["weight"].shape[0])
    if config.model == "coba":
        from .nn.coba import coba_classifier_shape

        opts = config.model_options
        return coba_classifier_shape(sd, opts.get("n_hidden", 0), opts.get("n_inh", 4))
    return int(sd["layers.0.weight"].shape[1]), int(sd["readout.weight"].shape[0])


def _as_tensor(name: str, data: object) -> torch.Tensor:
    """A tensor from a tensor or a numpy array (anything else: one-line ``TypeError``)."""
    if isinstance(data, torch.Tensor):
        return data
    if isinstance(data, np.ndarray):
        if data.dtype == object or not (
            np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_
        ):
            raise SpikegradInputError(f"{name} must hold numbers, got a {data.dtype} array")
        return torch.from_numpy(np.ascontiguousarray(data))
    raise TypeError(
        f"{name} must be a [T, B, N] tensor or numpy array, or a SpikeDataset, got "
        f"{type(data).__name__}"
    )


def _n_inputs(model: torch.nn.Module) -> int | None:
    n = getattr(model, "n_inputs", None)
    if n is None:
        n = getattr(model, "in_features", None)
    return int(n) if isinstance(n, int) else None


def _time_major(model: torch.nn.Module, x: torch.Tensor, layout: str | None) -> torch.Tensor:
    r"""``x`` as the time-major ``[T, B, N]`` the model takes, from ``layout``.

    ``layout=None`` uses the layout a batch of :class:`~spikegrad.data.SpikeDataset` or
    :func:`~spikegrad.data.collate` recorded (:func:`~spikegrad.data.layout_of`); a
    3-D tensor without that record is refused: ``[5, 60, 40]`` is 60 samples of 5 steps
    time-major and 5 samples of 60 steps sample-major, and nothing in it tells which.
    """
    n = _n_inputs(model)
    feat = n if n is not None else "N"
    if x.dim() != 3:
        raise SpikegradInputError(
            f"data must be 3-D, [T, B, {feat}] (layout='time-major') or [B, T, {feat}] "
            f"(layout='sample-major'), got shape {tuple(x.shape)}"
        )
    recorded = layout_of(x)
    if layout is None:
        if recorded is None:
            raise SpikegradInputError(
                f"cannot tell the layout of data {tuple(x.shape)}: pass layout='time-major' "
                f"([T, B, N]: {x.shape[1]} samples) or layout='sample-major' ([B, T, N]: "
                f"{x.shape[0]} samples)"
            )
        layout = recorded
    elif layout not in LAYOUTS:
        raise SpikegradInputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    elif recorded is not None and recorded != layout:
        raise SpikegradInputError(
            f"data was built {recorded} (SpikeDataset / collate) but layout={layout!r}"
        )
    if n is not None and x.shape[-1] != n:
        raise SpikegradInputError(
            f"data has {x.shape[-1]} features in its last dimension; the model takes "
            f"n_inputs={n} ([T, B, {n}] or, with layout='sample-major', [B, T, {n}])"
        )
    return x if layout == "time-major" else x.transpose(0, 1).contiguous()


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    data: torch.Tensor | np.ndarray | SpikeDataset,
    batch_size: int = 500,
    *,
    layout: str | None = None,
) -> torch.Tensor:
    """Predicted classes ``[B]``: arg-max of ``model.logits`` on the inputs.

    ``data`` is a spike tensor or numpy array, or a :class:`~spikegrad.data.SpikeDataset`
    (predicted in order, in batches). ``layout`` says how a tensor is laid out:
    ``"time-major"`` ``[T, B, n_inputs]`` or ``"sample-major"`` ``[B, T, n_inputs]`` (a
    default torch ``DataLoader`` over a ``SpikeDataset``). It may be left out only for
    the batches of ``SpikeDataset`` and :func:`~spikegrad.data.collate`, which record
    their layout; any other 3-D tensor without it is refused (one-line
    :class:`SpikegradInputError`), as is one whose last dimension is not the model's
    ``n_inputs`` or a ``layout`` that contradicts the recorded one.
    """
    batch_size = check_size("batch_size", batch_size, 1)
    dtype = next(model.parameters()).dtype
    if isinstance(data, SpikeDataset):
        parts = [
            model.logits(model(x)).argmax(1)
            for x, _ in data.batches(batch_size, shuffle=False, dtype=dtype)
        ]
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)
    x = _time_major(model, _as_tensor("data", data), layout)
    return model.logits(model(x.to(dtype))).argmax(1)


def evaluate(
    model: torch.nn.Module,
    data: Task | SpikeDataset | tuple,
    split: str = "test",
    batch_size: int = 500,
    *,
    layout: str | None = None,
) -> dict[str, float]:
    """Loss, score (``accuracy`` for classification) and spikes per neuron.

    ``data`` is a :class:`~spikegrad.tasks.Task` (then ``split`` picks train / val /
    test), one :class:`~spikegrad.data.SpikeDataset` (evaluated whole) or a pair
    ``(x, labels)`` of tensors or numpy arrays: spike counts ``x`` laid out as
    ``layout`` says (see :func:`predict`; whole numbers, as
    :meth:`~spikegrad.data.SpikeDataset.from_dense` stores them) and ``[B]`` integer
    labels.
    """
    if isinstance(data, tuple):
        if len(data) != 2:
            raise SpikegradInputError(
                f"data as a tuple must be (x, labels), got {len(data)} items"
            )
        x = _time_major(model, _as_tensor("x", data[0]), layout)
        y = _as_tensor("labels", data[1]).reshape(-1)
        if y.numel() != x.shape[1]:
            raise SpikegradInputError(
                f"labels has {y.numel()} entries for {x.shape[1]} samples in x"
            )
        n_classes = getattr(model, "n_classes", None)
        data = SpikeDataset.from_dense(
            x.transpose(0, 1), y.to(torch.int64),
            n_classes=int(n_classes) if isinstance(n_classes, int) else None,
        )
    elif layout is not None:
        raise SpikegradInputError(
            "layout applies to (x, labels) tensors; a Task or SpikeDataset knows its own"
        )
    if isinstance(data, SpikeDataset):
        if len(data) == 0:
            raise SpikegradInputError("cannot evaluate on an empty dataset")
        data, split = ClassificationTask(data, data, data, dataset=data.name), "test"
    if not isinstance(data, Task):
        raise TypeError(
            f"data must be a Task, a SpikeDataset or (x, labels), got {type(data).__name__}"
        )
    return _evaluate_task(model, data, split, batch_size)
