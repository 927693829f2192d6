r"""Classification of spike-train samples (Randman, digits, MNIST, SHD, ...).

The loss of a model with a readout is the cross-entropy of its logits (the readout trace
reduced over time by the model's ``readout_mode``, Zenke & Vogels 2021):

.. math::

    \mathcal L = -\frac{1}{B}\sum_b \log \operatorname{softmax}(z_b)_{y_b}
        + \mathcal R(S),

with :math:`\mathcal R` an optional :class:`~spikegrad.functional.ActivityRegularizer` of
the hidden spikes. Models without a readout define ``logits(out)`` themselves (e.g. the
spike counts of an output population).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .._checks import SpikegradInputError
from ..data.spikes import SpikeDataset
from ..functional.regularization import ActivityRegularizer
from .base import Task

__all__ = ["ClassificationTask"]


class ClassificationTask(Task):
    """Class labels of :class:`~spikegrad.data.SpikeDataset` splits.

    Parameters
    ----------
    train, val, test:
        The splits (same ``n_units``, ``n_steps``, ``n_classes``).
    regularizer:
        Activity regulariser added to :meth:`loss` (``None``: none).
    dataset:
        The data set's name (recorded in config.json).
    """

    name: ClassVar[str] = "classification"
    score_name: ClassVar[str] = "accuracy"

    def __init__(
        self,
        train: SpikeDataset,
        val: SpikeDataset,
        test: SpikeDataset,
        *,
        regularizer: ActivityRegularizer | None = None,
        dataset: str = "custom",
    ) -> None:
        sets = {"train": train, "val": val, "test": test}
        for split, ds in sets.items():
            if not isinstance(ds, SpikeDataset):
                raise TypeError(f"{split} must be a SpikeDataset, got {type(ds).__name__}")
            if len(ds) == 0:
                label = "validation" if split == "val" else split
                raise SpikegradInputError(f"the {label} dataset is empty")
        if len({(d.n_units, d.n_classes) for d in sets.values()}) != 1:
            raise SpikegradInputError("train, val and test differ in n_units or n_classes")
        if regularizer is not None and not isinstance(regularizer, ActivityRegularizer):
            raise TypeError(
                f"regularizer must be an ActivityRegularizer or None, got {regularizer!r}"
            )
        self.sets = sets
        self.regularizer = regularizer
        self.dataset = dataset
        self.n_inputs = train.n_units
        self.n_outputs = train.n_classes
        self.n_steps = train.n_steps

    def split(self, split: str) -> SpikeDataset:
        """The :class:`SpikeDataset` of ``"train"``, ``"val"`` or ``"test"``."""
        return self.sets[self.check_split(split)]

    def size(self, split: str) -> int:
        return len(self.split(split))

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.split(split).batches(
            batch_size, shuffle=shuffle, generator=generator, dtype=dtype
        )

    def check_model(self, model: torch.nn.Module) -> None:
        """Classification needs ``model.logits(out) -> [B, n_classes]``."""
        if not callable(getattr(model, "logits", None)):
            raise SpikegradInputError(
                f"a classification task needs a model with logits(out) (a readout or an "
                f"output population); {type(model).__name__} has none"
            )

    def sample_loss(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of ``model.logits(out)`` per sample ``[B]``."""
        return F.cross_entropy(model.logits(out), y, reduction="none")

    def loss(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy plus the activity regulariser of ``out.spikes``."""
        loss = F.cross_entropy(model.logits(out), y)
        if self.regularizer is not None:
            loss = loss + self.regularizer(out.spikes)
        return loss

    def score(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """1.0 where the arg-max logit is the label, else 0.0."""
        return (model.logits(out).argmax(1) == y).to(torch.float64)

    def to_dict(self) -> dict:
        return {"name": self.name, "dataset": self.dataset}
