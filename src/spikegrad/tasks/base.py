"""The task interface: data, the loss (or reward) and the metric a trainer selects on.

A task owns its three splits (``"train"``, ``"val"``, ``"test"``) and knows how to turn a
model's output on a batch into

* :meth:`Task.loss`: the scalar training objective (batch mean, with any regulariser);
  BPTT differentiates it;
* :meth:`Task.sample_loss`: the per-sample loss ``[B]`` without regulariser; reward-based
  rules (perturbation) use the reward :math:`R_b = -\\ell_b`;
* :meth:`Task.score`: the per-sample score ``[B]`` whose validation mean selects the best
  model (``score_name``, higher is better: accuracy, correlation, ...).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import torch

from .._checks import SpikegradInputError

__all__ = ["Task", "SPLITS"]

#: split names every task provides
SPLITS = ("train", "val", "test")


class Task(ABC):
    """Data + loss + metric. Subclasses implement the abstract methods."""

    name: ClassVar[str] = "task"
    #: what :meth:`score` measures (higher is better)
    score_name: ClassVar[str] = "accuracy"

    n_inputs: int
    n_outputs: int

    @abstractmethod
    def size(self, split: str) -> int:
        """Number of samples in ``split``."""

    @abstractmethod
    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[torch.Tensor, Any]]:
        """Batches ``(x [T, B, n_inputs], y)`` of a split; time-major inputs."""

    @abstractmethod
    def sample_loss(self, model: torch.nn.Module, out: Any, y: Any) -> torch.Tensor:
        """Per-sample loss ``[B]`` (no regulariser); the reward is its negative."""

    def loss(self, model: torch.nn.Module, out: Any, y: Any) -> torch.Tensor:
        """The training objective: mean of :meth:`sample_loss` (+ a regulariser)."""
        return self.sample_loss(model, out, y).mean()

    @abstractmethod
    def score(self, model: torch.nn.Module, out: Any, y: Any) -> torch.Tensor:
        """Per-sample score ``[B]`` (e.g. 1.0 for a correct class); higher is better."""

    def check_model(self, model: torch.nn.Module) -> None:  # noqa: B027 - optional hook
        """Raise :class:`SpikegradInputError` if ``model``'s output cannot serve this task."""

    def to_dict(self) -> dict:
        """Settings recorded in config.json."""
        return {"name": self.name}

    def check_split(self, split: str) -> str:
        if split not in SPLITS:
            raise SpikegradInputError(f"split must be one of {SPLITS}, got {split!r}")
        return split
