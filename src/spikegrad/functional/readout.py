r"""Readout losses: reduce a readout membrane trace over time, then softmax cross-entropy.

Given the readout trace :math:`U^\text{out}_k[n]` (``[T, B, K]``):

* ``"max"`` (default, Zenke & Vogels 2021): :math:`a_k = \max_n U^\text{out}_k[n]`
* ``"mean"``: :math:`a_k = \frac{1}{T}\sum_n U^\text{out}_k[n]`
* ``"last"``: :math:`a_k = U^\text{out}_k[T-1]`

and the loss is :math:`-\log \mathrm{softmax}(a)_y`, averaged over the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._checks import check_choice

__all__ = ["READOUT_MODES", "readout_logits", "readout_loss"]

#: Valid ways to reduce the readout trace over time.
READOUT_MODES = ("max", "mean", "last")


def readout_logits(u: torch.Tensor, mode: str = "max") -> torch.Tensor:
    """Reduce a time-major readout trace ``[T, B, K]`` to logits ``[B, K]``."""
    check_choice("readout mode", mode, READOUT_MODES)
    if mode == "max":
        return u.max(dim=0).values
    if mode == "mean":
        return u.mean(dim=0)
    return u[-1]


def readout_loss(u: torch.Tensor, target: torch.Tensor, mode: str = "max") -> torch.Tensor:
    """Softmax cross-entropy of the reduced readout trace against class labels ``[B]``."""
    return F.cross_entropy(readout_logits(u, mode), target)
