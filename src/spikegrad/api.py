"""The public API a researcher reaches for: train, fit, evaluate, predict, load a run.

>>> from spikegrad import SpikingNetwork, fit, load_run, make_rule, make_task
>>> task = make_task("randman", n_classes=4, samples_per_class=50, seed=1)  # doctest: +SKIP
>>> net = SpikingNetwork(task.n_inputs, task.n_outputs, hidden=(32,), seed=0)  # doctest: +SKIP

See README.md ("One network, three rules").
"""

from __future__ import annotations

from pathlib import Path

import torch

from ._checks import SpikegradInputError, check_size
from .data.spikes import SpikeDataset
from .io.checkpoint import load_checkpoint
from .io.run import RunFolder
from .learning.config import TrainConfig, build_model
from .learning.trainer import evaluate as _evaluate_task
from .nn.network import SpikingNetwork
from .tasks import ClassificationTask, Task

__all__ = ["load_run", "predict", "evaluate"]


def load_run(run_dir: str | Path) -> SpikingNetwork:
    """The best-validation network of a run folder (``config.json`` + ``checkpoint.pt``).

    Works for every run of ``spikegrad train`` whatever its rule; the model is returned
    in eval mode. Raises :class:`SpikegradInputError` (one line) when the folder, its
    checkpoint or its config is missing, corrupt or inconsistent.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SpikegradInputError(f"run folder {str(run_dir)!r} does not exist")
    payload = load_checkpoint(run_dir / RunFolder.CHECKPOINT)
    if (run_dir / RunFolder.CONFIG).is_file():
        cfg_dict = RunFolder(run_dir).read_json(RunFolder.CONFIG)
    else:
        cfg_dict = payload["config"]
    try:
        config = TrainConfig.from_dict(cfg_dict)
    except TypeError as exc:
        raise SpikegradInputError(f"config of {str(run_dir)!r} is malformed: {exc}") from exc
    sd = payload["state_dict"]
    if not isinstance(sd, dict):
        raise SpikegradInputError(f"checkpoint in {str(run_dir)!r} holds no state_dict")
    try:
        n_inputs = int(sd["layers.0.weight"].shape[1])
        n_classes = int(sd["readout.weight"].shape[0])
    except (KeyError, AttributeError, IndexError) as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} has no SpikingNetwork weights ({exc})"
        ) from exc
    # the stored weights replace the initial ones, so the fluctuation init needs no data
    config = TrainConfig.from_dict({**config.to_dict(), "init": "uniform"})
    model = build_model(config, n_inputs, n_classes)
    try:
        model.load_state_dict(sd)
    except (RuntimeError, TypeError) as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} does not fit its config.json: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    if not all(bool(torch.isfinite(v).all()) for v in sd.values() if v.is_floating_point()):
        raise SpikegradInputError(f"checkpoint in {str(run_dir)!r} holds non-finite weights")
    return model.eval()


@torch.no_grad()
def predict(
    model: torch.nn.Module, data: torch.Tensor | SpikeDataset, batch_size: int = 500
) -> torch.Tensor:
    """Predicted classes ``[B]``: arg-max of ``model.logits`` on the inputs.

    ``data`` is a time-major spike tensor ``[T, B, n_inputs]`` or a
    :class:`~spikegrad.data.SpikeDataset` (predicted in order, in batches).
    """
    batch_size = check_size("batch_size", batch_size, 1)
    dtype = next(model.parameters()).dtype
    if isinstance(data, SpikeDataset):
        parts = [
            model.logits(model(x)).argmax(1)
            for x, _ in data.batches(batch_size, shuffle=False, dtype=dtype)
        ]
        return torch.cat(parts) if parts else torch.empty(0, dtype=torch.int64)
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"data must be a [T, B, N] tensor or a SpikeDataset, got {type(data)}")
    return model.logits(model(data.to(dtype))).argmax(1)


def evaluate(
    model: torch.nn.Module,
    data: Task | SpikeDataset,
    split: str = "test",
    batch_size: int = 500,
) -> dict[str, float]:
    """Loss, score (``accuracy`` for classification) and spikes per neuron.

    ``data`` is a :class:`~spikegrad.tasks.Task` (then ``split`` picks train / val /
    test) or one :class:`~spikegrad.data.SpikeDataset` (evaluated whole).
    """
    if isinstance(data, SpikeDataset):
        if len(data) == 0:
            raise SpikegradInputError("cannot evaluate on an empty dataset")
        data, split = ClassificationTask(data, data, data, dataset=data.name), "test"
    if not isinstance(data, Task):
        raise TypeError(f"data must be a Task or a SpikeDataset, got {type(data).__name__}")
    return _evaluate_task(model, data, split, batch_size)
