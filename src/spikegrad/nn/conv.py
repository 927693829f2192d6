r"""Spiking convolution, pooling, flatten and time-fixed dropout for ``[T, B, C, H, W]`` spikes.

Every module maps a time-major sequence to a time-major sequence; the spatial operation
(convolution, pooling) is applied to all ``T * B`` frames at once, the neurons run over
time with :mod:`spikegrad.functional.alif` (plain LIF by default: eq. 4.1, threshold 1,
reset to zero). Each module also has ``step(x_t, state) -> (out_t, state)`` for one
time step (see :class:`spikegrad.nn.stepping.Stepper`).
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F

from .._checks import SpikegradInputError, check_choice, check_positive, check_size
from ..functional.alif import ALIF_RESET_MODES, ALIFParams, ALIFState, alif_sequence, alif_step
from ..functional.alif import refractory_steps as _ref_steps
from ..functional.surrogate import Surrogate, make_surrogate
from ..kernels.alif_fused import alif_sequence_fused
from .lif import CurrentNoise, TimeConstants
from .spec import records_init

__all__ = [
    "SpikingConv2d",
    "SpikingAvgPool2d",
    "SpikingMaxPool2d",
    "SpikingSumPool2d",
    "Flatten",
    "TimeDropout",
]


def _frames(x: torch.Tensor, name: str) -> tuple[int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 5:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise SpikegradInputError(f"{name} needs input [T, B, C, H, W], got {shape}")
    return x.shape[0], x.shape[1]


@records_init
class SpikingConv2d(CurrentNoise, nn.Module):
    r"""A 2-D convolution with bias followed by LIF neurons, one per output channel and pixel.

    .. math::

        I[n+1] = \beta_\text{syn} I[n] + (W * S_\text{in}[n] + b), \qquad
        \text{then eq. 4.1 / the LIF options of } :func:`~spikegrad.functional.alif.alif_step`

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding:
        As :class:`torch.nn.Conv2d` (bias always on).
    tau_mem, tau_syn, dt, surrogate, beta, reset, threshold, learn_threshold, refractory, learn_tau:
        As :class:`~spikegrad.nn.LIFLayer`; learnable threshold and taus are per channel.
    weight_scale:
        Weights are :math:`\mathcal U(\pm\,\text{weight\_scale}/\sqrt{\text{fan-in}})`
        drawn from ``generator`` (default 1); the bias (learnable) starts at 0, so a
        silent input leaves the layer silent at the start.
    backend:
        ``"auto"``/``"fused"`` (hand-written BPTT) or ``"reference"``.
    """

    spiking = True

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        *,
        stride: int = 1,
        padding: int = 0,
        tau_mem: float = 10e-3,
        tau_syn: float = 5e-3,
        dt: float = 1e-3,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        reset: str = "detach",
        threshold: float = 1.0,
        learn_threshold: bool = False,
        refractory: float = 0.0,
        learn_tau: bool = False,
        weight_scale: float = 1.0,
        backend: str = "auto",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            check_size("in_channels", in_channels), check_size("out_channels", out_channels),
            check_size("kernel_size", kernel_size), stride=check_size("stride", stride),
            padding=check_size("padding", padding, 0), bias=True, device="meta",
        )  # on "meta": torch's own init would draw from the global RNG
        self.conv.to_empty(device="cpu")
        bound = check_positive("weight_scale", weight_scale) / math.sqrt(
            in_channels * kernel_size * kernel_size
        )
        with torch.no_grad():
            self.conv.weight.uniform_(-bound, bound, generator=generator)
            self.bias.zero_()
        self.surrogate = make_surrogate(surrogate, beta)
        self.reset = check_choice("reset mode", reset, ALIF_RESET_MODES)
        self.backend = check_choice("backend", backend, ("auto", "fused", "reference", "numba"))
        if self.backend == "numba":
            raise SpikegradInputError(
                "backend='numba' has no convolution kernel; use 'fused' (or 'auto') or 'reference'"
            )
        self.taus = TimeConstants(out_channels, tau_mem, tau_syn, dt, learn_tau)
        self.refractory_steps = _ref_steps(refractory, self.taus.dt)
        threshold = check_positive("threshold", threshold)
        self.threshold: nn.Parameter | float = (
            nn.Parameter(torch.full((out_channels,), threshold)) if learn_threshold else threshold
        )

    @property
    def weight(self) -> nn.Parameter:
        return cast(nn.Parameter, self.conv.weight)  # typed Tensor in torch's stub

    @property
    def bias(self) -> nn.Parameter:
        return cast(nn.Parameter, self.conv.bias)  # always built with bias=True

    def _params(self, hw: int) -> ALIFParams:
        """Per-channel parameters expanded to the flattened ``C * H * W`` neurons."""
        p = self.taus.params()

        def per_neuron(v):
            return v.repeat_interleave(hw) if isinstance(v, torch.Tensor) else v

        return ALIFParams(per_neuron(p.beta_mem), per_neuron(p.beta_syn), 0.0,
                          per_neuron(self.threshold), 0.0, self.refractory_steps)

    def forward(self, x: torch.Tensor, *, record_membrane: bool = False):
        """Spikes ``[T, B, C_out, H', W']`` from spikes ``[T, B, C_in, H, W]``."""
        T, B = _frames(x, "SpikingConv2d")
        cur = self.conv(x.reshape(T * B, *x.shape[2:]))
        shape = cur.shape[1:]
        cur = self.perturb_current(cur.reshape(T, B, -1))
        p = self._params(shape[1] * shape[2])
        if self.backend == "reference":
            s, _, u = alif_sequence(cur, p, self.surrogate, reset=self.reset,
                                    record_membrane=record_membrane)
        else:
            s, u = alif_sequence_fused(cur, p.beta_mem, p.beta_syn, self.surrogate,
                                       threshold=p.threshold, refractory=p.refractory,
                                       reset=self.reset)
        s = s.reshape(T, B, *shape)
        if not record_membrane:
            return s
        assert u is not None  # both backends return the membrane when it is recorded
        return s, u.reshape(T, B, *shape)

    def step(self, x_t: torch.Tensor, state: ALIFState | None):
        """One step: spikes ``[B, C_in, H, W]`` -> spikes ``[B, C_out, H', W']``, state."""
        cur = self.conv(x_t)
        shape = cur.shape[1:]
        cur = cur.reshape(cur.shape[0], -1)
        if state is None:
            state = ALIFState.zeros(cur.shape[0], cur.shape[1], dtype=cur.dtype)
        s, state = alif_step(cur, state, self._params(shape[1] * shape[2]), self.surrogate,
                             reset=self.reset)
        return s.reshape(-1, *shape), state


class _Pool(nn.Module):
    kind = "avg"

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = check_size("kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else check_size("stride", stride)

    def _op(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "max":
            return F.max_pool2d(x, self.kernel_size, self.stride)
        y = F.avg_pool2d(x, self.kernel_size, self.stride)
        return y * (self.kernel_size**2) if self.kind == "sum" else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B = _frames(x, type(self).__name__)
        y = self._op(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])

    def step(self, x_t: torch.Tensor, state=None):
        return self._op(x_t), None

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


@records_init
class SpikingAvgPool2d(_Pool):
    """Average pooling of every frame (spike fractions, fed to the next layer's synapses)."""

    kind = "avg"


@records_init
class SpikingMaxPool2d(_Pool):
    """Max pooling of every frame (output: a spike where any input in the window spiked)."""

    kind = "max"


@records_init
class SpikingSumPool2d(_Pool):
    """Sum pooling of every frame (NIR ``SumPooling``): the window's spike count."""

    kind = "sum"


@records_init
class Flatten(nn.Module):
    """``[T, B, C, H, W]`` -> ``[T, B, C * H * W]`` (C-order, as :class:`torch.nn.Flatten`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], -1)

    def step(self, x_t: torch.Tensor, state=None):
        return x_t.reshape(x_t.shape[0], -1), None


@records_init
class TimeDropout(nn.Module):
    r"""Dropout whose mask is drawn once per sequence and kept for every time step.

    In training mode each element of a ``[B, ...]`` frame is zeroed with probability
    ``p`` for the whole sequence and the others scaled by :math:`1/(1-p)`; in eval mode
    it is the identity. The masks come from the module's own generator (``seed``), never
    from torch's global RNG; its state is part of the module's state dict.
    """

    def __init__(self, p: float = 0.5, *, seed: int = 0) -> None:
        super().__init__()
        p = float(p)
        if not (0.0 <= p < 1.0) or math.isnan(p):
            raise SpikegradInputError(f"dropout p must lie in [0, 1), got {p!r}")
        self.p = p
        self.generator = torch.Generator().manual_seed(check_size("seed", seed, 0))

    def get_extra_state(self) -> torch.Tensor:
        """The generator's state, saved in the state dict (a resumed run draws the same masks)."""
        return self.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state)

    def _mask(self, like: torch.Tensor) -> torch.Tensor:
        keep = torch.rand(like.shape, generator=self.generator, dtype=like.dtype) >= self.p
        return keep.to(like.dtype) / (1.0 - self.p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * self._mask(x[0]).unsqueeze(0)

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None):
        """The mask is drawn at the first step and carried in the state."""
        if not self.training or self.p == 0.0:
            return x_t, None
        mask = self._mask(x_t) if state is None else state
        return x_t * mask, mask

    def extra_repr(self) -> str:
        return f"p={self.p}"
