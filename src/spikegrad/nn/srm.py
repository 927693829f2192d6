r"""SRM\ :sub:`0` layers: weights and synaptic delays as parameters, driven by spike times.

:class:`SRMLayer` holds the weights ``[out, in]`` and, optionally, one delay per
synapse (seconds) and simulates with the one SRM\ :sub:`0` simulator,
:func:`spikegrad.functional.srm.srm_simulate`:

.. math::

    u_o(t) = \sum_i w_{oi} \sum_f \varepsilon(t - t_i^f - d_{oi})
             + \sum_{\hat t_o < t} \eta(t - \hat t_o).

:class:`SRMNetwork` stacks layers (the output trains of one are the input trains of the
next). Both have ``kind = "srm"`` (see :func:`spikegrad.learning.rules.model_kind`) and
are trained by the kernel rules (:mod:`spikegrad.learning.rules.kernel`), which read the
weights and delays as parameters and write their gradients into ``.grad``.

Inputs are spike trains, never binned: a :class:`~spikegrad.functional.spiketrains.SpikeTrains`
``[B, N, M]`` (or ``[N, M]``) or the spike-time tensor ``[M, B, N]`` a task hands the
trainer (:func:`~spikegrad.functional.spiketrains.to_slots`). The simulation has no autograd
path (the rules' gradients are explicit formulas); it runs under ``torch.no_grad``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import nn

from .._checks import SpikegradInputError, check_nonnegative, check_positive, check_size
from ..functional.spiketrains import SpikeTrains, check_trains, from_slots
from ..functional.srm import SRMParams, srm_simulate
from .spec import records_init

__all__ = ["SRMOutput", "SRMLayer", "SRMNetwork", "srm_layers"]


class SRMOutput(NamedTuple):
    """What an SRM\\ :sub:`0` forward pass returns.

    Attributes
    ----------
    trains:
        Output trains of the last layer ``[B, O, K]`` (``K`` may be 0: silence).
    layers:
        Output trains of every layer, first to last (``layers[-1] is trains``).
    spikes:
        Spike counts of every layer as one-bin tensors ``[1, B, N_l]``, the form the
        trainer's activity statistic reads (spikes per neuron and sample).
    membrane:
        Membrane :math:`u(t_n)` of the last layer ``[B, O, T]`` when requested, else ``None``.
    """

    trains: SpikeTrains
    layers: tuple[SpikeTrains, ...]
    spikes: tuple[torch.Tensor, ...]
    membrane: torch.Tensor | None = None


def _as_trains(x: object, n_in: int, dtype: torch.dtype) -> tuple[SpikeTrains, bool]:
    """Input trains ``[B, N, M]`` from trains or a spike-time tensor; whether batched."""
    if isinstance(x, torch.Tensor):
        tr = from_slots(x)
    else:
        tr = check_trains("x", x)
    batched = tr.times.dim() == 3
    if not batched:
        if tr.times.dim() != 2:
            raise SpikegradInputError(
                f"x must be trains [N, M] or [B, N, M], got {tuple(tr.times.shape)}"
            )
        tr = SpikeTrains(tr.times.unsqueeze(0), tr.mask.unsqueeze(0))
    if tr.times.shape[1] != n_in:
        raise SpikegradInputError(
            f"x has {tr.times.shape[1]} input trains, the layer takes {n_in}"
        )
    return SpikeTrains(tr.times.to(dtype), tr.mask), batched


@records_init
class SRMLayer(nn.Module):
    r"""A layer of SRM\ :sub:`0` neurons with multi-spike output (Lin, Zhang & Zhang 2012).

    Parameters
    ----------
    in_features, out_features:
        Input trains ``N`` and output neurons ``O``.
    tau, tau_r, threshold, dt, duration, max_spikes, interpolate, psp_window:
        Neuron constants and simulation grid of
        :class:`~spikegrad.functional.srm.SRMParams` (seconds; defaults 7 ms, 10 ms, 1,
        1 ms, 1 s, 100, True, 15).
    weight:
        Initial weights ``[O, N]`` (copied; no random draw). Default:
        :math:`\mathcal U(0, \text{init\_scale})` drawn from ``generator``.
    init_scale:
        Upper end of the uniform initial weights (default 0.02, the 400-input task's).
    generator:
        Generator of the initial weights (default: one seeded with 0; the global RNG is
        never used).
    learn_delays:
        Hold one delay per synapse ``[O, N]`` as a trainable parameter ``delays``.
    delays:
        Initial (``learn_delays``) or fixed delays in seconds: a number or an ``[O, N]``
        tensor. Fixed delays become a buffer. Default: 0 when learned, none otherwise.
    max_delay:
        Delays are kept in ``[0, max_delay]`` seconds (forward pass and :meth:`clamp_`);
        default 20 ms.
    dtype:
        Parameter dtype (default float64, as the kernel rules are measured).
    """

    #: model kind for the rule registry (:func:`spikegrad.learning.rules.model_kind`)
    kind = "srm"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        tau: float = 7e-3,
        tau_r: float = 10e-3,
        threshold: float = 1.0,
        dt: float = 1e-3,
        duration: float = 1.0,
        max_spikes: int = 100,
        interpolate: bool = True,
        psp_window: float = 15.0,
        weight: torch.Tensor | None = None,
        init_scale: float = 0.02,
        generator: torch.Generator | None = None,
        learn_delays: bool = False,
        delays: float | torch.Tensor | None = None,
        max_delay: float = 20e-3,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        self.in_features = check_size("in_features", in_features)
        self.out_features = check_size("out_features", out_features)
        self.params = SRMParams(
            tau=tau,
            tau_r=tau_r,
            threshold=threshold,
            dt=dt,
            duration=duration,
            max_spikes=max_spikes,
            interpolate=bool(interpolate),
            psp_window=psp_window,
        )
        self.max_delay = check_nonnegative("max_delay", max_delay)
        shape = (self.out_features, self.in_features)
        if weight is None:
            init_scale = check_positive("init_scale", init_scale)
            gen = generator if generator is not None else torch.Generator().manual_seed(0)
            w = torch.rand(shape, generator=gen, dtype=dtype) * init_scale
        else:
            if not isinstance(weight, torch.Tensor):
                raise TypeError(f"weight must be a torch.Tensor, got {type(weight).__name__}")
            w = weight.detach().to(dtype).clone().reshape(-1)
            if w.numel() != shape[0] * shape[1]:
                raise SpikegradInputError(
                    f"weight must have {shape} entries, got {tuple(weight.shape)}"
                )
            w = w.reshape(shape)
        self.weight = nn.Parameter(w)
        d = None
        if delays is not None or learn_delays:
            d = torch.zeros(shape, dtype=dtype)
            if isinstance(delays, torch.Tensor):
                if delays.numel() not in (shape[1], shape[0] * shape[1]):
                    raise SpikegradInputError(
                        f"delays must be a number, [{shape[1]}] or {shape}, got "
                        f"{tuple(delays.shape)}"
                    )
                d = d + delays.detach().to(dtype).reshape(-1, shape[1])
            elif delays is not None:
                d = d + float(delays)
            if bool((d < 0).any()) or bool((d > self.max_delay).any()):
                raise SpikegradInputError(
                    f"initial delays must lie in [0, max_delay={self.max_delay!r}] seconds"
                )
        self.learn_delays = bool(learn_delays)
        if learn_delays:
            self.delays = nn.Parameter(d)
        else:
            self.register_buffer("delays", d)

    @torch.no_grad()
    def clamp_(self) -> None:
        """Project the stored delays into ``[0, max_delay]`` seconds (after an optimiser step)."""
        if self.delays is not None:
            self.delays.clamp_(0.0, self.max_delay)

    def simulate(
        self, trains: SpikeTrains, *, record_membrane: bool = False
    ) -> tuple[SpikeTrains, torch.Tensor | None]:
        """Output trains ``[B, O, K]`` (and the membrane) for input trains ``[B, N, M]``."""
        d = None if self.delays is None else self.delays.detach().clamp(0.0, self.max_delay)
        return srm_simulate(
            trains, self.weight.detach(), self.params, d, record_membrane=record_membrane
        )

    def forward(self, x: SpikeTrains | torch.Tensor, *, record_membrane: bool = False) -> SRMOutput:
        """Simulate on input trains ``[B, N, M]`` / ``[N, M]`` or a spike-time tensor ``[M, B, N]``.

        Returns :class:`SRMOutput` (batch dimension kept even for ``[N, M]`` input).
        """
        trains, _ = _as_trains(x, self.in_features, self.weight.dtype)
        out, mem = self.simulate(trains, record_membrane=record_membrane)
        return SRMOutput(out, (out,), (_counts(out),), mem)

    def spec(self) -> dict:
        """``{"kind": "srm", **constructor settings}`` (initial weights and delays come
        from the state dict)."""
        return {"kind": self.kind, **self._init_args}

    @classmethod
    def from_spec(cls, spec: dict) -> SRMLayer:
        """The layer :meth:`spec` described (weights drawn anew: load a state dict)."""
        from .spec import layer_from_spec

        if not isinstance(spec, dict) or spec.get("kind") != cls.kind:
            raise SpikegradInputError(f"not an SRMLayer spec: {spec!r}")
        body = {k: v for k, v in spec.items() if k != "kind"}
        return layer_from_spec({"type": "srm", **body})  # type: ignore[return-value]

    def extra_repr(self) -> str:
        p = self.params
        return (
            f"{self.in_features}, {self.out_features}, tau={p.tau:g}, tau_r={p.tau_r:g}, "
            f"dt={p.dt:g}, duration={p.duration:g}, learn_delays={self.learn_delays}"
        )


def _counts(tr: SpikeTrains) -> torch.Tensor:
    """Spikes per train as a one-bin tensor ``[1, B, N]``."""
    return tr.mask.sum(-1).to(torch.float64).unsqueeze(0)


class SRMNetwork(nn.Module):
    r"""SRM\ :sub:`0` layers in sequence: each layer's output trains feed the next.

    ``SRMNetwork([SRMLayer(400, 100), SRMLayer(100, 1)])`` is the input -> hidden ->
    output network of the multilayer kernel rule. All layers need the same time grid
    (``dt``, ``duration``).
    """

    kind = "srm"

    def __init__(self, layers: Sequence[SRMLayer]) -> None:
        super().__init__()
        layers = list(layers)
        if not layers or not all(isinstance(m, SRMLayer) for m in layers):
            raise SpikegradInputError("layers must be a non-empty sequence of SRMLayer")
        for k in range(1, len(layers)):
            a, b = layers[k - 1], layers[k]
            if a.out_features != b.in_features:
                raise SpikegradInputError(
                    f"layer {k} takes {b.in_features} inputs but layer {k - 1} has "
                    f"{a.out_features} neurons"
                )
            if (a.params.dt, a.params.duration) != (b.params.dt, b.params.duration):
                raise SpikegradInputError("all layers need the same dt and duration")
        self.layers = nn.ModuleList(layers)
        self.in_features = layers[0].in_features
        self.out_features = layers[-1].out_features

    @torch.no_grad()
    def clamp_(self) -> None:
        """Clamp every layer's delays into range."""
        for layer in self.layers:
            layer.clamp_()

    def forward(self, x: SpikeTrains | torch.Tensor, *, record_membrane: bool = False) -> SRMOutput:
        """Run the layers on input trains; see :meth:`SRMLayer.forward`."""
        first = self.layers[0]
        h, _ = _as_trains(x, first.in_features, first.weight.dtype)
        outs: list[SpikeTrains] = []
        mem = None
        for k, layer in enumerate(self.layers):
            last = k == len(self.layers) - 1
            h, m = layer.simulate(
                SpikeTrains(h.times.to(layer.weight.dtype), h.mask),
                record_membrane=record_membrane and last,
            )
            outs.append(h)
            mem = m if last else mem
        return SRMOutput(outs[-1], tuple(outs), tuple(_counts(o) for o in outs), mem)


def srm_layers(model: nn.Module) -> list[SRMLayer]:
    """The SRM\\ :sub:`0` layers of a model, first to last (an :class:`SRMLayer` is one)."""
    if isinstance(model, SRMLayer):
        return [model]
    if isinstance(model, SRMNetwork):
        return list(model.layers)
    raise SpikegradInputError(
        f"expected an SRMLayer or SRMNetwork ('srm' model), got {type(model).__name__}"
    )
