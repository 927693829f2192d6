r"""Delay modules: per-channel delay lines, per-synapse delayed projections, delayed LIF layer.

Delays are in *time steps* (``delays * dt`` seconds), fixed (a buffer) or
learnable (a parameter trained by surrogate gradients through the interpolation
taps of :mod:`spikegrad.functional.delay`), and always clamped to
``[0, max_delay]`` in the forward pass. Call :meth:`clamp_` after an optimiser
step to keep the stored values inside that range as well.

Modules hold parameters only; there is no state between calls.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor
from ..functional.delay import DELAY_MODES, delay_channels, delayed_linear
from ..functional.lif import RESET_MODES, LIFParams, decay, lif_sequence
from ..functional.surrogate import Surrogate, make_surrogate
from ..init import uniform_

__all__ = ["Delay", "DelayedLinear", "DelayedLIFLayer"]


def _init_delays(
    shape: tuple[int, ...],
    max_delay: int,
    init: str | float | torch.Tensor,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        d = init.detach().to(torch.float32).clone()
        if d.shape != shape:
            raise SpikegradInputError(f"init delays must have shape {shape}, got {tuple(d.shape)}")
    elif isinstance(init, (int, float)) and not isinstance(init, bool):
        d = torch.full(shape, float(init))
    elif init == "uniform":
        d = torch.rand(shape, generator=generator) * max_delay
    elif init == "zero":
        d = torch.zeros(shape)
    else:
        raise SpikegradInputError(
            f"unknown delay init {init!r}; use 'uniform', 'zero', a number or a tensor (steps)"
        )
    if bool((d < 0).any()) or bool((d > max_delay).any()):
        raise SpikegradInputError(f"initial delays must lie in [0, max_delay={max_delay}] steps")
    return d


class _DelayBase(nn.Module):
    def _setup(
        self,
        shape: tuple[int, ...],
        max_delay: int,
        learnable: bool,
        mode: str,
        sigma: float,
        init,
        generator,
    ) -> None:
        if isinstance(max_delay, bool) or int(max_delay) != max_delay or max_delay < 0:
            raise SpikegradInputError(f"max_delay must be an integer >= 0 steps, got {max_delay!r}")
        self.max_delay = int(max_delay)
        self.mode = check_choice("delay mode", mode, DELAY_MODES)
        self.sigma = check_positive("sigma", sigma)
        d = _init_delays(shape, self.max_delay, init, generator)
        if mode == "integer" and not learnable:
            d = d.round()
        if learnable:
            self.delays = nn.Parameter(d)
        else:
            self.register_buffer("delays", d)
        self.learnable = bool(learnable)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the stored delays into ``[0, max_delay]`` (call after an optimiser step)."""
        self.delays.clamp_(0.0, float(self.max_delay))


class Delay(_DelayBase):
    r"""Per-channel delay line: ``[T, B, N]`` spikes in, ``[T, B, N]`` delayed spikes out.

    :math:`y[n, b, c] = \sum_k K_{d_c}[k]\, x[n - k, b, c]` with taps from ``mode``
    (``"linear"`` fractional, ``"gaussian"``, ``"integer"`` straight-through).

    Parameters
    ----------
    n:
        Number of channels.
    max_delay:
        Largest delay ``D`` in steps.
    learnable:
        A trainable parameter (default) or a fixed buffer.
    mode, sigma:
        Interpolation (see :mod:`spikegrad.functional.delay`); ``sigma`` (steps) for ``"gaussian"``.
    init:
        ``"uniform"`` on ``[0, D]`` (default), ``"zero"``, a number or a ``[n]`` tensor (steps).
    generator:
        Explicit generator for ``"uniform"``.
    """

    def __init__(
        self,
        n: int,
        max_delay: int,
        *,
        learnable: bool = True,
        mode: str = "linear",
        sigma: float = 1.0,
        init: str | float | torch.Tensor = "uniform",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive("n", n)
        self.n = int(n)
        self._setup((self.n,), max_delay, learnable, mode, sigma, init, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Delayed spikes ``[T, B, n]`` (values in [0, 1] between bins for fractional delays)."""
        check_sequence_tensor("x", x, features=self.n, finite=False)
        return delay_channels(x, self.delays, self.max_delay, mode=self.mode, sigma=self.sigma)

    def extra_repr(self) -> str:
        return (
            f"{self.n}, max_delay={self.max_delay}, mode={self.mode!r}, learnable={self.learnable}"
        )


class DelayedLinear(_DelayBase):
    r"""Projection with one weight and one delay per synapse.

    ``[T, B, in]`` spikes in, delayed currents ``[T, B, out]`` out:

    :math:`I[n, b, o] = \sum_i w_{oi} \sum_k K_{d_{oi}}[k]\, x[n - k, b, i]`.
    With ``max_delay = 0`` it is ``x @ weight.T``.
    Weights are :math:`\mathcal U(\pm 1/\sqrt{\text{fan-in}})` (as :class:`~spikegrad.nn.LIFLayer`).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int,
        *,
        learnable: bool = True,
        mode: str = "linear",
        sigma: float = 1.0,
        init: str | float | torch.Tensor = "uniform",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive("in_features", in_features)
        check_positive("out_features", out_features)
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.weight = nn.Parameter(uniform_(torch.empty(out_features, in_features), generator))
        self._setup(
            (self.out_features, self.in_features),
            max_delay,
            learnable,
            mode,
            sigma,
            init,
            generator,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Delayed synaptic currents ``[T, B, out_features]``."""
        check_sequence_tensor("x", x, features=self.in_features, finite=False)
        return delayed_linear(
            x, self.weight, self.delays, self.max_delay, mode=self.mode, sigma=self.sigma
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, max_delay={self.max_delay}, "
            f"mode={self.mode!r}, learnable={self.learnable}"
        )


class DelayedLIFLayer(nn.Module):
    r"""A feed-forward LIF layer (Zenke & Vogels eq. 4.1) whose input synapses have delays.

    :class:`DelayedLinear` followed by :func:`~spikegrad.functional.lif.lif_sequence`:
    ``[T, B, in]`` spikes in, ``[T, B, out]`` spikes out. Same time constants and
    surrogate options as :class:`~spikegrad.nn.LIFLayer`; the delay options as
    :class:`DelayedLinear`. ``max_delay = 0`` gives a plain LIF layer.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: int,
        *,
        learnable_delays: bool = True,
        mode: str = "linear",
        sigma: float = 1.0,
        init: str | float | torch.Tensor = "uniform",
        tau_mem: float = 10e-3,
        tau_syn: float = 5e-3,
        dt: float = 1e-3,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        reset: str = "detach",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.proj = DelayedLinear(
            in_features,
            out_features,
            max_delay,
            learnable=learnable_delays,
            mode=mode,
            sigma=sigma,
            init=init,
            generator=generator,
        )
        self.dt = check_positive("dt", dt)
        self.tau_mem = check_positive("tau_mem", tau_mem)
        self.tau_syn = check_positive("tau_syn", tau_syn)
        self.surrogate = make_surrogate(surrogate, beta)
        self.reset = check_choice("reset mode", reset, RESET_MODES)
        self.in_features, self.out_features = self.proj.in_features, self.proj.out_features

    @property
    def weight(self) -> torch.Tensor:
        return self.proj.weight

    @property
    def delays(self) -> torch.Tensor:
        return self.proj.delays

    def clamp_(self) -> None:
        """Project the delays into ``[0, max_delay]``."""
        self.proj.clamp_()

    def forward(
        self, x: torch.Tensor, *, record_membrane: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Spikes ``[T, B, out]`` (and the membrane if ``record_membrane``)."""
        current = self.proj(x)
        params = LIFParams(decay(self.tau_mem, self.dt), decay(self.tau_syn, self.dt))
        spikes, _, mem = lif_sequence(
            current, params, self.surrogate, reset=self.reset, record_membrane=record_membrane
        )
        return (spikes, mem) if record_membrane else spikes
