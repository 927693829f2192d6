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
from typing import Any

import torch
from torch import nn

from .._checks import SpikegradInputError, check_size
from ..functional.readout import readout_logits
from .conv import Flatten, SpikingAvgPool2d, SpikingConv2d, TimeDropout
from .izhikevich import IzhikevichLayer
from .lif import LIFLayer, Readout
from .network import SNNOutput
from .spec import layer_from_spec, layer_spec

__all__ = ["SpikingSequential", "conv_network", "is_spiking"]


def is_spiking(module: nn.Module) -> bool:
    """Whether ``module`` emits spikes (its outputs go into ``SNNOutput.spikes``)."""
    if isinstance(module, (LIFLayer, IzhikevichLayer)):
        return True
    return bool(getattr(module, "spiking", False))


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
        readout = layers[-1] if layers else None
        if not isinstance(readout, Readout):
            raise SpikegradInputError("SpikingSequential needs layers ending in a Readout")
        readout_logits(torch.zeros(1, 1, 1), readout_mode)  # validates the mode
        self.layers = nn.ModuleList(layers[:-1])
        self.readout: Readout = readout
        self.readout_mode = readout_mode
        self.input_shape: tuple[int, ...] | None
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
            in_features: Any = getattr(first, "in_features", None)
            if in_features is None:
                raise SpikegradInputError(
                    f"the first layer {type(first).__name__} has no in_features: give "
                    "input_shape"
                )
            self.n_inputs = int(in_features)
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

    def spec(self) -> dict[str, Any]:
        """``{"kind": "sequential", "input_shape", "readout_mode", "layers": [...]}``:
        each layer's :func:`~spikegrad.nn.spec.layer_spec`, the readout last."""
        return {
            "kind": self.kind,
            "input_shape": None if self.input_shape is None else list(self.input_shape),
            "readout_mode": self.readout_mode,
            "layers": [layer_spec(m) for m in (*self.layers, self.readout)],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SpikingSequential:
        """The network :meth:`spec` described (weights drawn anew: load a state dict)."""
        if not isinstance(spec, dict) or spec.get("kind") != cls.kind:
            raise SpikegradInputError(f"not a SpikingSequential spec: {spec!r}")
        layers = spec.get("layers")
        if not isinstance(layers, list) or not layers:
            raise SpikegradInputError("a SpikingSequential spec needs a non-empty 'layers' list")
        return cls(*(layer_from_spec(d) for d in layers), input_shape=spec.get("input_shape"),
                   readout_mode=spec.get("readout_mode", "max"))


def conv_network(
    input_shape: Sequence[int],
    n_classes: int,
    *,
    channels: Sequence[int] = (8, 16),
    kernel_size: int = 3,
    hidden: int = 64,
    dropout: float = 0.0,
    weight_scale: float = 30.0,
    hidden_weight_scale: float = 20.0,
    readout_mode: str = "max",
    seed: int = 0,
    **neuron: object,
) -> SpikingSequential:
    r"""A convolutional spiking classifier: (SpikingConv2d -> 2x2 average pool) per entry of
    ``channels``, Flatten, time-fixed dropout, a LIF layer of ``hidden`` neurons, Readout.

    Convolution weights are :math:`\mathcal U(\pm\,\text{weight\_scale}/\sqrt{\text{fan-in}})`,
    the LIF layer's :math:`\mathcal U(\pm\,\text{hidden\_weight\_scale}/\sqrt{\text{fan-in}})`
    (sparse event input needs large weights for the deeper layers to be active at the
    start). ``neuron`` options (``tau_mem``, ``tau_syn``, ``dt``, ``surrogate``, ``beta``,
    ``reset``, ``backend``, ...) go to every spiking layer; weights from a private
    generator seeded with ``seed``.
    """
    opts: dict[str, Any] = dict(neuron)  # forwarded to layers of differently typed options
    gen = torch.Generator().manual_seed(check_size("seed", seed, 0))
    c, h, w = (check_size(f"input_shape[{k}]", s) for k, s in enumerate(input_shape))
    layers: list[nn.Module] = []
    for ch in channels:
        layers.append(SpikingConv2d(c, ch, kernel_size, padding=kernel_size // 2,
                                    weight_scale=weight_scale, generator=gen, **opts))
        layers.append(SpikingAvgPool2d(2))
        c, h, w = ch, h // 2, w // 2
        if h < 1 or w < 1:
            raise SpikegradInputError(f"input_shape {tuple(input_shape)} is too small for "
                                      f"{len(channels)} pooling stages")
    layers.append(Flatten())
    if dropout:
        layers.append(TimeDropout(dropout, seed=seed + 1))
    lif_opts = {k: v for k, v in opts.items() if k != "weight_scale"}
    lif = LIFLayer(c * h * w, check_size("hidden", hidden), generator=gen, **lif_opts)
    with torch.no_grad():
        lif.weight.mul_(hidden_weight_scale)
    layers.append(lif)
    ro_opts = {k: v for k, v in opts.items() if k in ("dt", "tau_syn", "backend")}
    layers.append(Readout(hidden, check_size("n_classes", n_classes), generator=gen, **ro_opts))
    return SpikingSequential(*layers, input_shape=(input_shape[0], input_shape[1],
                                                   input_shape[2]), readout_mode=readout_mode)
