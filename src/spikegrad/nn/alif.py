"""Adaptive-threshold LIF layers and networks (LSNN, Bellec et al. 2018).

:class:`ALIFLayer` is a :class:`~spikegrad.nn.lif.LIFLayer` whose threshold rises by
``adapt`` per unit of a spike-driven adaptation variable that decays with ``tau_adapt``
(:mod:`spikegrad.functional.alif`); :class:`ALIFNetwork` is the
:class:`~spikegrad.nn.SpikingNetwork` with such hidden layers (model kind ``"alif"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .._checks import SpikegradInputError, check_nonnegative, check_positive
from ..functional.alif import ALIFParams
from ..functional.lif import decay
from .delay import DelayedLinear
from .lif import LIFLayer
from .network import SpikingNetwork
from .spec import records_init

__all__ = ["ALIFLayer", "ALIFNetwork"]

_NEURON_KEYS = ("tau_adapt", "adapt", "learn_adapt", "threshold", "learn_threshold", "refractory")


@records_init
class ALIFLayer(LIFLayer):
    r"""LIF neurons with an adaptive threshold :math:`\Theta = \vartheta + \alpha A`.

    Takes every :class:`~spikegrad.nn.lif.LIFLayer` argument, plus

    Parameters
    ----------
    tau_adapt:
        Adaptation time constant in seconds (default 100 ms): :math:`A[n+1] = \rho A[n] +
        S[n]`, :math:`\rho = e^{-\Delta t/\tau_a}`; learnable per neuron with ``learn_tau``.
    adapt:
        Threshold increase :math:`\alpha` per unit of adaptation (default 0.2, >= 0;
        0 gives the plain LIF with the layer's reset / threshold options).
    learn_adapt:
        Learn :math:`\alpha` per neuron.

    Notes
    -----
    Runs on the ``"fused"`` (``"auto"``) and ``"reference"`` backends.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        tau_adapt: float = 100e-3,
        adapt: float = 0.2,
        learn_adapt: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(in_features, out_features, **kwargs)
        tau_adapt = check_positive("tau_adapt", tau_adapt)
        adapt = check_nonnegative("adapt", adapt)
        n = self.out_features
        self.tau_adapt: nn.Parameter | float = (
            nn.Parameter(torch.full((n,), tau_adapt)) if self.taus.learn_tau else tau_adapt
        )
        self.adapt: nn.Parameter | float = (
            nn.Parameter(torch.full((n,), adapt)) if learn_adapt else adapt
        )

    @property
    def neuron_options(self) -> bool:
        return True

    def neuron_params(self) -> ALIFParams:
        p = self.taus.params()
        ta = self.tau_adapt
        rho = decay(ta.clamp_min(self.taus.dt / 10) if isinstance(ta, torch.Tensor) else ta,
                    self.taus.dt)
        return ALIFParams(p.beta_mem, p.beta_syn, rho, self.threshold, self.adapt,
                          self.refractory_steps)

    def extra_repr(self) -> str:
        a = self.adapt if isinstance(self.adapt, float) else "learned"
        return f"{super().extra_repr()}, adapt={a}"


class ALIFNetwork(SpikingNetwork):
    """:class:`~spikegrad.nn.SpikingNetwork` with adaptive-threshold hidden layers (kind
    ``"alif"``).

    Takes every ``SpikingNetwork`` argument plus ``tau_adapt``, ``adapt``, ``learn_adapt``,
    ``threshold``, ``learn_threshold`` and ``refractory`` (seconds) of
    :class:`ALIFLayer`. The weights are those of the ``SpikingNetwork`` with the same
    seed, so ``adapt=0`` reproduces it exactly. ``"numba"`` is refused: the network runs on
    ``"fused"`` (``"auto"``) or ``"reference"``.

    Synaptic delays (issue 29): ``max_delay`` > 0 (seconds, a whole number of steps) gives
    every hidden layer a :class:`~spikegrad.nn.delay.DelayedLinear` input projection, one
    delay per synapse drawn uniformly in ``[0, max_delay]`` (from ``seed``), with the same
    weights as without delays. ``learn_delays`` trains them by BPTT through the
    ``delay_mode`` taps (``"linear"``, ``"gaussian"`` of width ``delay_sigma`` seconds, or
    ``"integer"`` straight-through); without it they stay fixed (a buffer).
    :func:`spikegrad.nn.delay.round_delays` rounds them to whole steps for inference and
    NIR export.
    """

    kind = "alif"

    def __init__(
        self,
        n_inputs: int,
        n_classes: int,
        hidden: Sequence[int] = (100,),
        *,
        tau_adapt: float = 100e-3,
        adapt: float = 0.2,
        learn_adapt: bool = False,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        refractory: float = 0.0,
        max_delay: float = 0.0,
        learn_delays: bool = True,
        delay_mode: str = "linear",
        delay_sigma: float = 1e-3,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("backend", "auto") == "numba":
            raise SpikegradInputError(
                "backend='numba' has no adaptive-threshold kernel; ALIFNetwork runs on "
                "backend='fused' (or 'auto') and 'reference'"
            )
        super().__init__(n_inputs, n_classes, hidden, **kwargs)
        extra: dict[str, Any] = dict(
            tau_adapt=tau_adapt, adapt=adapt, learn_adapt=learn_adapt,
            threshold=threshold, learn_threshold=learn_threshold, refractory=refractory,
        )
        s = self._spec
        max_delay = check_nonnegative("max_delay", max_delay)
        if max_delay > 0:
            extra.update(max_delay=max_delay, learn_delays=bool(learn_delays),
                         delay_mode=delay_mode, delay_sigma=float(delay_sigma))
        seed = kwargs.get("seed")
        dgen = torch.Generator().manual_seed(0 if seed is None else int(seed) + 7919)
        layers: list[ALIFLayer] = []
        for old in self.hidden_layers:
            proj = None
            if max_delay > 0:
                proj = DelayedLinear(
                    old.in_features, old.out_features, max_delay, dt=s["dt"],
                    learnable=bool(learn_delays), mode=delay_mode, sigma=delay_sigma,
                    generator=dgen,
                )
            new = ALIFLayer(
                old.in_features, old.out_features, recurrent=old.recurrent,
                tau_mem=s["tau_mem"], tau_syn=s["tau_syn"], dt=s["dt"], surrogate=old.surrogate,
                reset=s["reset"], recurrent_grad=s["recurrent_grad"], learn_tau=s["learn_tau"],
                backend=s["backend"], generator=torch.Generator().manual_seed(0),
                projection=proj, **{k: extra[k] for k in _NEURON_KEYS},
            )  # the throwaway generator's weights are overwritten below
            with torch.no_grad():
                new.weight.copy_(old.weight)
                if old.rec_weight is not None:
                    assert new.rec_weight is not None  # built with recurrent=old.recurrent
                    new.rec_weight.copy_(old.rec_weight)
            layers.append(new)
        self.layers = nn.ModuleList(layers)
        self._spec = dict(self._spec, kind=self.kind, **extra)
