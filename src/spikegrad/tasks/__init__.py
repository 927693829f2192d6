"""Tasks: data + loss/reward + metric (:class:`Task`); :func:`make_task` builds one by name.

Classification tasks wrap the data sets of :data:`spikegrad.data.registry.DATASETS`
(``randman``, ``digits``, ``mnist``, ``fashion-mnist``, ``shd``, ``ssc``).
"""

from __future__ import annotations

from typing import Any

from .base import SPLITS, Task
from .classification import ClassificationTask
from .spike_targets import SpikePatterns, SpikeTargetTask

__all__ = [
    "SPLITS",
    "Task",
    "ClassificationTask",
    "SpikePatterns",
    "SpikeTargetTask",
    "make_task",
    "task_names",
]


def task_names() -> list[str]:
    """Names :func:`make_task` accepts."""
    from ..data.registry import DATASETS

    return sorted(DATASETS)


def make_task(name: str, *, regularizer: Any = None, **options: Any) -> Task:
    """The task called ``name``: a data set of the registry as a classification task.

    ``options`` go to the data set's loader (e.g. ``n_classes=4, seed=1`` for Randman).
    """
    from ..data.registry import load_dataset

    train, val, test = load_dataset(name, **options)
    return ClassificationTask(train, val, test, regularizer=regularizer, dataset=name)
