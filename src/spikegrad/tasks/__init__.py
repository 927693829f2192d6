"""Tasks: data + loss/reward + metric (:class:`Task`); :func:`make_task` builds one by name.

Classification tasks wrap the data sets of :data:`spikegrad.data.registry.DATASETS`
(``randman``, ``digits``, ``mnist``, ``fashion-mnist``, ``shd``, ``ssc``); :data:`TASKS`
adds generated tasks of other kinds (``lag-order``, ``spike-target``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._checks import Option, SpikegradInputError, check_options
from .base import SPLITS, Task
from .classification import ClassificationTask
from .spike_targets import SpikePatterns, SpikeTargetTask

__all__ = [
    "SPLITS",
    "Task",
    "ClassificationTask",
    "SpikePatterns",
    "SpikeTargetTask",
    "TASKS",
    "TASK_OPTIONS",
    "check_task_options",
    "accepts_regularizer",
    "make_task",
    "task_names",
]


def _split_sizes(n: int, fractions: tuple[float, float, float]) -> tuple[int, int, int]:
    n_train = int(round(fractions[0] * n))
    n_val = int(round((fractions[0] + fractions[1]) * n)) - n_train
    return n_train, n_val, n - n_train - n_val


def _lag_order(
    *,
    samples: int = 600,
    n_steps: int = 100,
    group: int = 4,
    lag: int = 25,
    jitter: int = 1,
    noise_prob: float = 0.0,
    seed: int = 0,
    regularizer: Any = None,
) -> Task:
    """The lag-order task (which of two input groups fired first) as classification."""
    import torch

    from .spike_targets import lag_order_task

    def make(n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = lag_order_task(
            n, n_steps=n_steps, group=group, lag=lag, jitter=jitter, noise_prob=noise_prob,
            generator=gen,
        )
        return x.transpose(0, 1), y

    return _generated("lag-order", samples, seed, 2, regularizer, make)


def _generated(
    name: str, samples: int, seed: int, n_classes: int, regularizer: Any,
    make: Callable[..., Any],
) -> Task:
    """A ClassificationTask of ``samples`` generated samples split 80/10/10 %:
    ``make(n, generator) -> (x [n, T, C], y [n])``, one generator (``seed``) for all splits."""
    import torch

    from .._checks import check_size
    from ..data.spikes import SpikeDataset

    samples = check_size("samples", samples, 3)
    gen = torch.Generator().manual_seed(check_size("seed", seed, 0))
    sets = []
    for n in _split_sizes(samples, (0.8, 0.1, 0.1)):
        x, y = make(n, gen)
        sets.append(SpikeDataset.from_dense(x, y, n_classes=n_classes, name=name))
    return ClassificationTask(*sets, regularizer=regularizer, dataset=name)


def _spike_target(
    *,
    n_inputs: int = 400,
    rate: float = 10.0,
    duration: float = 1.0,
    n_target: int = 5,
    seed: int = 0,
    view: str = "trains",
) -> Task:
    """One neuron learns one target spike train from fixed Poisson inputs (Lin et al.)."""
    import torch

    from .._checks import check_size
    from .spike_targets import single_target_task

    gen = torch.Generator().manual_seed(check_size("seed", seed, 0))
    inputs, target = single_target_task(n_inputs, rate, duration, n_target, generator=gen)
    return SpikeTargetTask(
        SpikePatterns(inputs, target), duration=duration, view=view, name="spike-target"
    )


def _moving_shapes(
    *,
    samples: int = 600,
    size: int = 16,
    n_steps: int = 30,
    noise: float = 0.002,
    seed: int = 0,
    regularizer: Any = None,
) -> Task:
    """Direction of a shape moving across an event sensor (ON/OFF events), 4 classes."""
    from ..data.moving_shapes import moving_shapes

    def make(n: int, gen: Any) -> Any:
        return moving_shapes(n, size=size, n_steps=n_steps, noise=noise, generator=gen)

    return _generated("moving-shapes", samples, seed, 4, regularizer, make)


#: task name -> builder(**options) for the tasks that are not a data set of the registry
TASKS: dict[str, Callable[..., Task]] = {
    "lag-order": _lag_order,
    "spike-target": _spike_target,
    "moving-shapes": _moving_shapes,
}


_INT1 = Option("int", "", 1)
_SEED = Option("int", "", 0)
_PROB = Option("float", "", 0.0, 1.0)
_POS = Option("float", "", 0.0, exclusive_min=True)

#: task of :data:`TASKS` -> the options its builder takes (type, range, size cap)
TASK_OPTIONS: dict[str, dict[str, Option]] = {
    "lag-order": {"samples": _INT1, "n_steps": Option("int", "", 1, 100_000, bytes_per=4 * 8),
                  "group": _INT1, "lag": Option("int", "", 0), "jitter": Option("int", "", 0),
                  "noise_prob": _PROB, "seed": _SEED},
    "spike-target": {"n_inputs": Option("int", "", 1, 1_000_000), "rate": _POS, "duration": _POS,
                     "n_target": _INT1, "seed": _SEED, "view": Option("str")},
    "moving-shapes": {"samples": _INT1, "size": Option("int", "", 8, 1024, bytes_per=4 * 2 * 30),
                      "n_steps": Option("int", "", 2, 100_000, bytes_per=4 * 2 * 16 * 16),
                      "noise": _PROB, "seed": _SEED},
}


def check_task_options(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` of task ``name`` checked against :data:`TASK_OPTIONS` (one-line
    :class:`SpikegradInputError` naming the key); other tasks' options pass unchanged."""
    schema = TASK_OPTIONS.get(name)
    if schema is None:
        return dict(options)
    return check_options(f"task {name!r}", schema, options)


def accepts_regularizer(name: str) -> bool:
    """Whether task ``name`` adds an activity regulariser to its loss (classification)."""
    import inspect

    if name not in TASKS:
        return True
    return "regularizer" in inspect.signature(TASKS[name]).parameters


def task_names() -> list[str]:
    """Names :func:`make_task` accepts: the data sets, then the other tasks."""
    from ..data.registry import DATASETS

    return sorted(DATASETS) + sorted(TASKS)


def make_task(name: str, *, regularizer: Any = None, **options: Any) -> Task:
    """The task called ``name``.

    A data set of :data:`spikegrad.data.registry.DATASETS` (``randman``, ``digits``,
    ``mnist``, ...) becomes a :class:`ClassificationTask` (``options`` go to its loader,
    e.g. ``n_classes=4, seed=1`` for Randman); :data:`TASKS` adds ``lag-order``
    (classification of which input group fired first) and ``spike-target`` (one SRM0
    neuron learns a target spike train, :class:`SpikeTargetTask`).
    """
    from ..data.registry import DATASETS, load_dataset

    if name in TASKS:
        if regularizer is not None:
            if not accepts_regularizer(name):
                raise SpikegradInputError(f"task {name!r} takes no activity regulariser")
            options = {**options, "regularizer": regularizer}
        options = {**check_task_options(name, {k: v for k, v in options.items()
                                                if k != "regularizer"}),
                   **({"regularizer": options["regularizer"]} if "regularizer" in options
                      else {})}  # fmt: skip
        try:
            return TASKS[name](**options)
        except TypeError as exc:
            raise SpikegradInputError(f"task {name!r}: bad options {options!r}: {exc}") from exc
    if name not in DATASETS:
        raise SpikegradInputError(
            f"unknown task {name!r}; valid tasks: {', '.join(task_names())}"
        )
    train, val, test = load_dataset(name, **options)
    return ClassificationTask(train, val, test, regularizer=regularizer, dataset=name)
