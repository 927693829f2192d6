r"""Delay modules: per-channel delay lines and the one per-synapse delayed projection.

* :class:`Delay`: ``[T, B, N]`` spikes in, each channel delayed by its own delay.
* :class:`DelayedLinear`: one weight and one delay per synapse, ``[T, B, in]`` spikes in,
  delayed currents ``[T, B, out]`` out. Put it in front of the ordinary LIF layer,
  ``LIFLayer(in, out, projection=DelayedLinear(in, out, max_delay))``, to get a delayed
  LIF layer with every option of :class:`~spikegrad.nn.LIFLayer` (recurrence, learnable
  taus, the fused backend).

Units: delays, ``max_delay`` and the Gaussian taps' ``sigma`` are in **seconds** (the
``delays`` attribute too); ``dt`` (seconds per step, default 1 ms) converts them to steps
inside ``forward`` (:func:`spikegrad.functional.delay.to_steps`), and ``max_delay`` must be
a whole number of steps. Delays are fixed (a buffer) or learnable (a parameter trained by
surrogate gradients through the interpolation taps of :mod:`spikegrad.functional.delay`),
and always clamped to ``[0, max_delay]`` in the forward pass. Call :meth:`clamp_` after an
optimiser step (or once :func:`clamp_after_step`) to keep the stored values in range too.

Modules hold parameters only; there is no state between calls.
"""

from __future__ import annotations

import torch
from torch import nn

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor
from ..functional.delay import DELAY_MODES, delay_channels, delayed_linear, max_delay_steps
from ..init import uniform_
from .spec import records_init

__all__ = ["Delay", "DelayedLinear", "clamp_after_step", "round_delays"]


def _init_delays(
    shape: tuple[int, ...],
    max_delay: float,
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
            f"unknown delay init {init!r}; use 'uniform', 'zero', a number or a tensor (seconds)"
        )
    if bool((d < 0).any()) or bool((d > max_delay * (1 + 1e-6)).any()):
        raise SpikegradInputError(
            f"initial delays must lie in [0, max_delay={max_delay!r}] seconds"
        )
    return d


#: learnable delays get the learning rate ``lr * DELAY_LR_STEPS * dt`` (seconds per unit of
#: Adam's normalised step): with lr 2e-3, one tenth of a step per update
DELAY_LR_STEPS = 50.0


class _DelayBase(nn.Module):
    def _setup(
        self,
        shape: tuple[int, ...],
        max_delay: float,
        dt: float,
        learnable: bool,
        mode: str,
        sigma: float,
        init,
        generator,
    ) -> None:
        self.dt = check_positive("dt", dt)
        self.max_steps = max_delay_steps(max_delay, self.dt)
        self.max_delay = float(max_delay)
        self.mode = check_choice("delay mode", mode, DELAY_MODES)
        self.sigma = check_positive("sigma", sigma)
        d = _init_delays(shape, self.max_delay, init, generator)
        if mode == "integer" and not learnable:
            d = (d / self.dt).round() * self.dt
        if learnable:
            self.delays = nn.Parameter(d)
            # Adam moves every parameter by about lr per step whatever its unit: at lr 2e-3
            # a delay in seconds would jump 2 steps of 1 ms per update (measured: learned
            # delays ended at 0 or max_delay). lr_scale (read by
            # learning.config.build_optimizer) makes that about 0.1 step at lr 2e-3,
            # the delay learning rate of DCLS (Hammouamri et al. 2024) in steps.
            self.delays.lr_scale = DELAY_LR_STEPS * self.dt  # type: ignore[attr-defined]
        else:
            self.register_buffer("delays", d)
        self.learnable = bool(learnable)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the stored delays into ``[0, max_delay]`` seconds (after an optimiser step)."""
        self.delays.clamp_(0.0, self.max_delay)

    @torch.no_grad()
    def round_(self) -> None:
        r"""Round the delays to whole steps for inference and export: :math:`d \leftarrow
        \Delta t\,\mathrm{round}(\mathrm{clamp}(d, 0, D\Delta t)/\Delta t)`, and run the
        ``"integer"`` taps from now on (a one-hot tap per synapse, exactly a delay line
        of that many steps; for whole-step delays the ``"linear"`` taps are the same,
        the ``"gaussian"`` ones are not)."""
        steps = (self.delays.detach().clamp(0.0, self.max_delay).double() / self.dt).round()
        self.delays.copy_((steps * self.dt).to(self.delays.dtype))
        self.mode = "integer"

    def _kw(self) -> dict:
        return {"mode": self.mode, "sigma": self.sigma, "dt": self.dt}


@records_init
class Delay(_DelayBase):
    r"""Per-channel delay line: ``[T, B, N]`` spikes in, ``[T, B, N]`` delayed spikes out.

    :math:`y[n, b, c] = \sum_k K_{d_c}[k]\, x[n - k, b, c]` with taps from ``mode``
    (``"linear"`` fractional, ``"gaussian"``, ``"integer"`` straight-through) and
    :math:`d_c` = ``delays[c] / dt`` steps.

    Parameters
    ----------
    n:
        Number of channels.
    max_delay:
        Largest delay in seconds (a whole number of steps ``dt``).
    dt:
        Simulation step in seconds (default 1 ms).
    learnable:
        A trainable parameter (default) or a fixed buffer.
    mode, sigma:
        Interpolation (see :mod:`spikegrad.functional.delay`); ``sigma`` (seconds) is the
        width of the ``"gaussian"`` taps.
    init:
        ``"uniform"`` on ``[0, max_delay]`` (default), ``"zero"``, a number or a ``[n]``
        tensor (seconds).
    generator:
        Explicit generator for ``"uniform"``.
    """

    def __init__(
        self,
        n: int,
        max_delay: float,
        *,
        dt: float = 1e-3,
        learnable: bool = True,
        mode: str = "linear",
        sigma: float = 1e-3,
        init: str | float | torch.Tensor = "uniform",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        check_positive("n", n)
        self.n = int(n)
        self._setup((self.n,), max_delay, dt, learnable, mode, sigma, init, generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Delayed spikes ``[T, B, n]`` (values in [0, 1] between bins for fractional delays)."""
        check_sequence_tensor("x", x, features=self.n, finite=False)
        return delay_channels(x, self.delays, self.max_delay, **self._kw())

    def extra_repr(self) -> str:
        return (
            f"{self.n}, max_delay={self.max_delay:g}, dt={self.dt:g}, mode={self.mode!r}, "
            f"learnable={self.learnable}"
        )


@records_init
class DelayedLinear(_DelayBase):
    r"""Projection with one weight and one delay per synapse (the delayed input of a layer).

    ``[T, B, in]`` spikes in, delayed currents ``[T, B, out]`` out:

    .. math::

        I[n, b, o] = \sum_i w_{oi} \sum_k K_{d_{oi}}[k]\, x[n - k, b, i],
        \qquad d_{oi} = \text{delays}_{oi} / \Delta t.

    With ``max_delay = 0`` it is ``x @ weight.T``. Weights are
    :math:`\mathcal U(\pm 1/\sqrt{\text{fan-in}})` (as :class:`~spikegrad.nn.LIFLayer`).
    The delay options and units are those of :class:`Delay`; as the projection of a
    :class:`~spikegrad.nn.LIFLayer` (``projection=``) its ``dt`` should be the layer's.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        max_delay: float,
        *,
        dt: float = 1e-3,
        learnable: bool = True,
        mode: str = "linear",
        sigma: float = 1e-3,
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
            dt,
            learnable,
            mode,
            sigma,
            init,
            generator,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Delayed synaptic currents ``[T, B, out_features]``."""
        check_sequence_tensor("x", x, features=self.in_features, finite=False)
        return delayed_linear(x, self.weight, self.delays, self.max_delay, **self._kw())

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, max_delay={self.max_delay:g}, "
            f"dt={self.dt:g}, mode={self.mode!r}, learnable={self.learnable}"
        )


def round_delays(model: nn.Module) -> int:
    """Round every delay of ``model`` (:class:`Delay`, :class:`DelayedLinear`) to whole
    steps in place (:meth:`Delay.round_`); returns the number of modules rounded."""
    mods = [m for m in model.modules() if isinstance(m, _DelayBase)]
    for m in mods:
        m.round_()
    return len(mods)


def clamp_after_step(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Clamp every delay of ``model`` into its range after each ``optimizer.step()``.

    Registers an optimizer step post-hook that calls ``clamp_()`` of every submodule
    that has one (:class:`Delay`, :class:`DelayedLinear`,
    :class:`~spikegrad.nn.SRMLayer`): projected gradient descent on the delays, so any
    trainer (:func:`spikegrad.learning.trainer.fit`) keeps them in ``[0, max_delay]``.
    Returns the hook's handle (``handle.remove()`` undoes it).
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {optimizer!r}")
    clamps = [f for m in model.modules() if callable(f := getattr(m, "clamp_", None))]

    def hook(opt, args, kwargs) -> None:
        for clamp in clamps:
            clamp()

    return optimizer.register_step_post_hook(hook)
