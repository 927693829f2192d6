"""A layer of Izhikevich (2003) neurons (:mod:`spikegrad.functional.izhikevich`)."""

from __future__ import annotations

import torch
from torch import nn

from .._checks import check_choice, check_positive, check_size
from ..functional.izhikevich import (
    IZHIKEVICH_PRESETS,
    IZHIKEVICH_RESET_MODES,
    IzhikevichParams,
    IzhikevichState,
    izhikevich_sequence,
    izhikevich_step,
)
from ..functional.surrogate import Surrogate, make_surrogate
from ..init import uniform_
from ..kernels.event_linear import event_linear
from ..kernels.izhikevich_fused import izhikevich_sequence_fused
from .lif import CurrentNoise
from .spec import records_init

__all__ = ["IzhikevichLayer"]


@records_init
class IzhikevichLayer(CurrentNoise, nn.Module):
    r"""Izhikevich neurons behind a linear projection: ``[T, B, in]`` spikes in,
    ``[T, B, out]`` out.

    Parameters
    ----------
    in_features, out_features:
        Population sizes.
    preset:
        Firing class of Izhikevich 2003 (default ``"regular_spiking"``, see
        :data:`~spikegrad.functional.izhikevich.IZHIKEVICH_PRESETS`); ``a``, ``b``, ``c``,
        ``d`` override its values.
    dt:
        Step in seconds (default 1 ms; the model's time unit is ms).
    v_scale:
        Distance to the peak that the surrogate sees as 1 (default 10).
    weight_scale:
        Weights are :math:`\mathcal U(\pm\,\text{weight\_scale}/\sqrt{\text{in}})`
        (default 20: the model needs currents of order 10 to fire).
    surrogate, beta, reset:
        As for :class:`~spikegrad.nn.LIFLayer` (reset ``"detach"`` or ``"differentiable"``).
    backend:
        ``"auto"`` / ``"fused"`` (hand-written BPTT, :mod:`spikegrad.kernels.izhikevich_fused`,
        compiled by numba where it can run, with the event-driven input projection of
        :mod:`spikegrad.kernels.event_linear`), ``"numba"`` (the same, but an error where
        the compiled kernel cannot run) or ``"reference"`` (autograd through
        :mod:`spikegrad.functional.izhikevich`).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        preset: str = "regular_spiking",
        a: float | None = None,
        b: float | None = None,
        c: float | None = None,
        d: float | None = None,
        dt: float = 1e-3,
        v_scale: float = 10.0,
        weight_scale: float = 20.0,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        reset: str = "detach",
        backend: str = "auto",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        check_choice("preset", preset, tuple(IZHIKEVICH_PRESETS))
        pa, pb, pc, pd = IZHIKEVICH_PRESETS[preset]
        self.dt = check_positive("dt", dt)
        self.params = IzhikevichParams(
            pa if a is None else float(a),
            pb if b is None else float(b),
            pc if c is None else float(c),
            pd if d is None else float(d),
            1000.0 * self.dt,
            30.0,
            check_positive("v_scale", v_scale),
        )
        self.surrogate = make_surrogate(surrogate, beta)
        self.reset = check_choice("reset mode", reset, IZHIKEVICH_RESET_MODES)
        self.backend = check_choice("backend", backend, ("auto", "fused", "reference", "numba"))
        w = uniform_(torch.empty(self.out_features, self.in_features), generator)
        self.weight = nn.Parameter(w * check_positive("weight_scale", weight_scale))

    def forward(self, x: torch.Tensor, *, record_membrane: bool = False):
        """Spikes ``[T, B, out]`` (and the membrane trace if ``record_membrane``)."""
        if self.backend == "reference":
            current = self.perturb_current(x @ self.weight.t())
            s, _, v = izhikevich_sequence(
                current,
                self.params,
                self.surrogate,
                reset=self.reset,
                record_membrane=record_membrane,
            )
        else:
            # event-driven projection where x is sparse (kernels.event_linear)
            current = self.perturb_current(event_linear(x, self.weight))
            kernel = "numba" if self.backend == "numba" else "auto"
            s, v = izhikevich_sequence_fused(
                current, self.params, self.surrogate, reset=self.reset, kernel=kernel
            )
        return (s, v) if record_membrane else s

    def initial_state(self, batch: int, dtype: torch.dtype) -> IzhikevichState:
        """The resting state for :meth:`step`."""
        return IzhikevichState.rest(batch, self.out_features, self.params, dtype=dtype)

    def step(self, x_t: torch.Tensor, state: IzhikevichState | None):
        """One time step: ``x_t`` ``[B, in]`` -> (spikes ``[B, out]``, new state)."""
        if state is None:
            state = self.initial_state(x_t.shape[0], x_t.dtype)
        return izhikevich_step(
            x_t @ self.weight.t(), state, self.params, self.surrogate, reset=self.reset
        )

    def extra_repr(self) -> str:
        p = self.params
        return f"{self.in_features}, {self.out_features}, a={p.a}, b={p.b}, c={p.c}, d={p.d}"
