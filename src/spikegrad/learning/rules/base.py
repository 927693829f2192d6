"""The learning-rule interface: a rule turns (model, task, batch) into parameter gradients.

A rule never steps the weights itself. :meth:`Rule.gradients` leaves in every trainable
parameter's ``.grad`` the direction of steepest *descent* of the task's loss as the rule
estimates it (``None`` for parameters it does not train), and any ``torch.optim``
optimizer then applies it: ``optimizer.step()``. That keeps the rule apart from the model
and the optimiser (as in optax), so BPTT, e-prop, perturbation and kernel rules share one
trainer (:func:`spikegrad.learning.trainer.fit`), one run folder and the same optimisers.

The task supplies the loss (or, for reward-based rules, the reward ``-loss`` per
sample); see :class:`spikegrad.tasks.Task`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..._checks import SpikegradInputError

__all__ = ["Rule", "RuleStep", "model_kind"]


@dataclass
class RuleStep:
    """What one :meth:`Rule.gradients` call returns besides the gradients.

    Attributes
    ----------
    loss:
        The task loss of the batch under the current weights (a detached scalar tensor:
        the value the trainer logs as ``train_loss``).
    out:
        The model's (noise-free) output on the batch, for accuracy and activity statistics.
    """

    loss: torch.Tensor
    out: Any


def model_kind(model: torch.nn.Module) -> str:
    """The registry name of a model's kind: its class's ``kind`` attribute.

    ``"lif"`` for :class:`~spikegrad.nn.SpikingNetwork`, ``"coba"`` for the
    conductance-based network, ``"srm"`` for SRM0 layers; the class name otherwise.
    """
    return str(getattr(type(model), "kind", type(model).__name__))


class Rule(ABC):
    """A learning rule: gradients (or gradient estimates) of a task loss.

    Subclasses set :attr:`name` (registry name), :attr:`models` (the model kinds they can
    train, see :func:`model_kind`) and implement :meth:`gradients`. Stateful rules
    (noise generators, running baselines) implement :meth:`state_dict` /
    :meth:`load_state_dict`, which the trainer writes into ``last.pt`` so a resumed run
    continues bit for bit.
    """

    name: ClassVar[str] = "rule"
    #: model kinds this rule can train (see :func:`model_kind`)
    models: ClassVar[tuple[str, ...]] = ()
    #: True when the update is exact (a true gradient of the loss, up to the surrogate)
    exact: ClassVar[bool] = False

    def check_model(self, model: torch.nn.Module) -> None:
        """Raise :class:`SpikegradInputError` unless this rule can train ``model``.

        The message names the model kinds the rule supports, so a user learns at once
        which model to build instead.
        """
        kind = model_kind(model)
        if kind not in self.models:
            raise SpikegradInputError(
                f"rule {self.name!r} cannot train a {kind!r} model "
                f"({type(model).__name__}); it trains: {', '.join(self.models)}"
            )
        self._check_model(model)

    def _check_model(self, model: torch.nn.Module) -> None:  # noqa: B027 - optional hook
        """Further checks of a supported model (e.g. one hidden layer only)."""

    @abstractmethod
    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """Write the rule's descent direction of ``task``'s loss into each ``p.grad``.

        Parameters
        ----------
        model:
            The network (already checked with :meth:`check_model`).
        task:
            Supplies ``loss(model, out, y)`` (scalar, batch mean, with any regulariser)
            and ``sample_loss(model, out, y)`` (``[B]``, the negative reward).
        x:
            Time-major input ``[T, B, n_inputs]``.
        y:
            Targets of the batch (class labels ``[B]`` or target spike trains).
        """

    def state_dict(self) -> dict:
        """Internal state to checkpoint (random generators, baselines); empty by default."""
        return {}

    def load_state_dict(self, state: dict) -> None:  # noqa: B027 - stateless by default
        """Restore what :meth:`state_dict` returned."""

    def to_dict(self) -> dict:
        """The rule's settings (for config.json); dataclass rules return their fields."""
        import dataclasses

        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {}


def trainable(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters that require gradients, in ``model.parameters()`` order."""
    return [p for p in model.parameters() if p.requires_grad]


def set_grads(params: Sequence[torch.nn.Parameter], grads: Sequence[torch.Tensor | None]) -> None:
    """Store ``grads`` as the parameters' ``.grad`` (``None`` clears it)."""
    for p, g in zip(params, grads, strict=True):
        p.grad = None if g is None else g.detach().to(dtype=p.dtype).reshape(p.shape).clone()
