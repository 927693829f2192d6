r"""Surrogate-gradient backpropagation through time (Zenke & Vogels 2021).

The gradient of the task loss :math:`\mathcal L` (cross-entropy of the readout plus the
activity regulariser, or any loss a task defines) by reverse-mode autograd through the
whole simulation, with the spike nonlinearity's derivative replaced by the model's
surrogate :math:`\sigma'(U - 1)`. Surrogate shape and scale, reset mode
(detached or differentiable) and whether the gradient flows through the recurrent
weights are properties of the model's layers (:class:`~spikegrad.nn.LIFLayer`); the
fused and compiled backends compute the same gradient (tested per element).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from .base import Rule, RuleStep

__all__ = ["BPTT"]


@dataclass
class BPTT(Rule):
    """Exact backpropagation through time with the model's surrogate derivative."""

    name: ClassVar[str] = "bptt"
    models: ClassVar[tuple[str, ...]] = ("lif", "coba", "alif", "sequential")
    exact: ClassVar[bool] = True

    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """``loss.backward()`` of the task loss; gradients land in ``p.grad``."""
        out = model(x)
        loss = task.loss(model, out, y)
        for p in model.parameters():
            p.grad = None
        loss.backward()
        return RuleStep(loss.detach(), out)
