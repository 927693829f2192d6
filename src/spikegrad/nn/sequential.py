"""A network built from any spiking layers in sequence, ending in a readout (kind ``"sequential"``).

:class:`SpikingSequential` chains modules that map ``[T, B, ...]`` to ``[T, B, ...]``
(:class:`~spikegrad.nn.LIFLayer`, :class:`~spikegrad.nn.alif.ALIFLayer`,
:class:`~spikegrad.nn.izhikevich.IzhikevichLayer`, the convolution, pooling, flatten and
dropout modules of :mod:`spikegrad.nn.conv`) and ends in a
:class:`~spikegrad.nn.Readout`. It returns the same :class:`~spikegrad.nn.SNNOutput` as
:class:`~spikegrad.nn.SpikingNetwork`, so every classification task, the trainer, the run
folder and the BPTT rule serve it unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .._checks import SpikegradInputError, check_size
from ..functional.readout import readout_logits
from .izhikevich import IzhikevichLayer
from .lif import LIFLayer, Readout
from .network import SNNOutput

__all__ = ["SpikingSequential", "is_spiking"]


def is_spiking(module: nn.Module) -> bool:
    """Whether ``module`` emits spikes (its outputs go into ``SNNOutput.spikes``)."""
    return isinstance(module, (LIFLayer, IzhikevichLayer)) or bool(getattr(module, "spiking", False))


class SpikingSequential(nn.Module):
    """Spiking layers in sequence, then a :class:`~spikegrad.nn.Readout`.

    Parameters
    ----------
    *layers:
        The modules, the last one a ``Readout``.
    input_shape:
        Shape of one input frame, e.g. ``(2, 16, 16)`` for ON/OFF event frames: the
        flat input ``[T, B, prod(input_shape)]`` that data sets deliver is reshaped to
        ``[T, B, *input_shape]`` (C-order). ``None``: the input is ``[T, B, n_inputs]``
        with ``n_inputs`` the first layer's ``in_features``.
    readout_mode:
        ``"max"`` (default), ``"mean"`` or ``"last"``; used by :meth:`logits`.
    """

    kind = "sequential"

    def __init__(
        self,
        *layers: nn.Module,
        input_shape: Sequence[int] | None = None,
        readout_mode: str = "max",
    ) -> None:
        super().__init__()
        if not layers or not isinstance(layers[-1], Readout):
            raise SpikegradInputError("SpikingSequential needs layers ending in a Readout")
        readout_logits(torch.zeros(1, 1, 1), readout_mode)  # validates the mode
        self.layers = nn.ModuleList(layers[:-1])
        self.readout = layers[-1]
        self.readout_mode = readout_mode
        if input_shape is not None:
            self.input_shape = tuple(check_size(f"input_shape[{k}]", s)
                                     for k, s in enumerate(input_shape))
            n = 1
            for s in self.input_shape:
                n *= s
            self.n_inputs = n
        else:
            self.input_shape = None
            first = layers[0]
            if not hasattr(first, "in_features"):
                raise SpikegradInputError(
                    f"the first layer {type(first).__name__} has no in_features: give "
                    "input_shape"
                )
            self.n_inputs = int(first.in_features)
        self.n_classes = self.readout.n_classes

    def _reshape(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.n_inputs:
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise SpikegradInputError(
                f"x must be [T, B, {self.n_inputs}] (time-major, flat frames), got {shape}"
            )
        return x if self.input_shape is None else x.reshape(*x.shape[:2], *self.input_shape)

    def forward(self, x: torch.Tensor) -> SNNOutput:
        """Run on input spikes ``[T, B, n_inputs]``; ``spikes`` are flattened to ``[T, B, N]``."""
        h = self._reshape(x)
        spikes = []
        for layer in self.layers:
            h = layer(h)
            if is_spiking(layer):
                spikes.append(h.reshape(h.shape[0], h.shape[1], -1))
        if h.dim() != 3:
            raise SpikegradInputError(
                f"the readout needs [T, B, N]; the last layer gives {tuple(h.shape)} (add Flatten)"
            )
        return SNNOutput(self.readout(h), tuple(spikes), ())

    def logits(self, out: SNNOutput) -> torch.Tensor:
        """Readout reduced over time with ``readout_mode``, ``[B, n_classes]``."""
        return readout_logits(out.readout, self.readout_mode)
