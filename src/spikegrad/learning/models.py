"""The model choices of ``spikegrad train --model``: typed option schemas and builders.

Each choice of :data:`spikegrad.nn.catalog.MODEL_CHOICES` declares the options
``--model-option KEY=VALUE`` (``TrainConfig.model_options``) may set, each with a type
and a range (:data:`MODEL_OPTIONS`); :func:`check_model_options` refuses an unknown key,
a wrong type, NaN or a value out of range with one line naming the option. The network
fields of :class:`~spikegrad.learning.config.TrainConfig` (``hidden``, ``recurrent``,
``surrogate``, ``beta``, ``reset``, taus, ``dt``, ``readout``) apply to every choice
that has them:

===============  ===========================================================================
choice           model built (:func:`build_choice`)
===============  ===========================================================================
``lif``          :class:`~spikegrad.nn.SpikingNetwork` (current-based LIF, eq. 4.1)
``alif``         :class:`~spikegrad.nn.alif.ALIFNetwork` (adaptive threshold, LSNN)
``izhikevich``   :class:`~spikegrad.nn.sequential.SpikingSequential` of
                 :class:`~spikegrad.nn.izhikevich.IzhikevichLayer` per ``hidden`` entry,
                 then a leaky readout
``conv``         :func:`~spikegrad.nn.sequential.conv_network` (conv / pool stages, a LIF
                 layer of ``hidden[0]`` neurons, readout) on frames ``input_shape``
``coba``         :func:`~spikegrad.nn.coba.coba_classifier` (Fiete & Seung 2006)
``srm``          :class:`~spikegrad.nn.srm.SRMLayer` (SRM0 output neurons, Lin et al.)
===============  ===========================================================================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from .._checks import Option, SpikegradInputError
from ..functional.izhikevich import IZHIKEVICH_PRESETS

if TYPE_CHECKING:
    from .config import TrainConfig

__all__ = ["Option", "MODEL_OPTIONS", "NEURON_FLAGS", "check_model_options", "build_choice"]


def _pos(help: str) -> Option:
    return Option("float", help, 0.0, exclusive_min=True)


def _nonneg(help: str) -> Option:
    return Option("float", help, 0.0)


_NEURON: dict[str, Option] = {
    "threshold": _pos("firing threshold (default 1)"),
    "learn_threshold": Option("bool", "learn the threshold per neuron"),
    "refractory": _nonneg("absolute refractory period in seconds (default 0)"),
}
_ADAPT: dict[str, Option] = {
    "tau_adapt": _pos("adaptation time constant in seconds (default 0.1)"),
    "adapt": _nonneg("threshold increase per unit of adaptation (default 0.2)"),
    "learn_adapt": Option("bool", "learn the adaptation strength per neuron"),
    # synaptic delays of the hidden layers' inputs (issue 29, nn.alif.ALIFNetwork)
    "max_delay": _nonneg("largest synaptic delay in seconds (default 0: no delays)"),
    "learn_delays": Option("bool", "learn the delays (default true; false: fixed random)"),
    "delay_mode": Option("choice", "delay taps", choices=("linear", "gaussian", "integer")),
    "delay_sigma": _pos("width of the gaussian delay taps in seconds (default 1 ms)"),
}
_IZH: dict[str, Option] = {
    "preset": Option("choice", "firing class of Izhikevich 2003", choices=tuple(
        IZHIKEVICH_PRESETS)),
    "a": Option("float", "recovery time scale (overrides the preset)"),
    "b": Option("float", "recovery sensitivity (overrides the preset)"),
    "c": Option("float", "reset potential in mV (overrides the preset)"),
    "d": Option("float", "recovery jump after a spike (overrides the preset)"),
    "v_scale": _pos("distance to the peak that the surrogate sees as 1 (default 10)"),
    "weight_scale": _pos("initial weights U(+-weight_scale/sqrt(fan-in)) (default 20)"),
}
_CONV: dict[str, Option] = {
    "channels": Option("ints", "output channels of each conv / pool stage (default [8,16])",
                       1),
    "kernel_size": Option("int", "convolution kernel size (default 3)", 1),
    "dropout": Option("float", "time-fixed dropout before the LIF layer (default 0)", 0.0,
                      0.99),
    "weight_scale": _pos("conv weights U(+-weight_scale/sqrt(fan-in)) (default 30)"),
    "hidden_weight_scale": _pos("LIF-layer weight scale (default 20)"),
    "input_shape": Option("ints", "frame shape [C,H,W] of the flat input (default: from "
                          "the task, e.g. [2,16,16] for moving-shapes)", 1),
}
_COBA: dict[str, Option] = {
    "n_hidden": Option("int", "hidden excitatory neurons (default 0)", 0),
    "n_inh": Option("int", "inhibitory neurons (default 4)", 0),
    "w_in": _nonneg("input weight scale in nS (default 3)"),
    "w_ho": _nonneg("hidden-to-output weight scale (default 3)"),
    "w_oi": _nonneg("output-to-inhibitory weight scale (default 4)"),
    "w_io": _nonneg("inhibitory-to-output weight scale (default 4)"),
    "method": Option("choice", "integration method", choices=("exp_euler", "euler")),
}
_SRM: dict[str, Option] = {
    "tau": _pos("PSP time constant in seconds (default 7 ms)"),
    "tau_r": _pos("refractory kernel time constant in seconds (default 10 ms)"),
    "threshold": _pos("firing threshold (default 1)"),
    "duration": _pos("simulated duration in seconds (default 1)"),
    "max_spikes": Option("int", "output spikes kept per neuron (default 100)", 1),
    "interpolate": Option("bool", "interpolate threshold crossings (default true)"),
    "psp_window": _pos("PSP kernel support in units of tau (default 15)"),
    "init_scale": _pos("initial weights U(0, init_scale) (default 0.02)"),
    "learn_delays": Option("bool", "learn one delay per synapse"),
    "delays": _nonneg("initial or fixed delays in seconds"),
    "max_delay": _pos("largest delay in seconds (default 20 ms)"),
}

#: model choice -> the options ``--model-option`` may set for it
MODEL_OPTIONS: dict[str, dict[str, Option]] = {
    "lif": dict(_NEURON),
    "alif": {**_NEURON, **_ADAPT},
    "izhikevich": dict(_IZH),
    "conv": {**_CONV, **_NEURON},
    "coba": dict(_COBA),
    "srm": dict(_SRM),
}

#: named neuron flags of ``spikegrad train`` -> the model option each sets
NEURON_FLAGS: dict[str, str] = {
    "--firing-threshold": "threshold",
    "--learn-threshold": "learn_threshold",
    "--refractory": "refractory",
    "--tau-adapt": "tau_adapt",
    "--adapt": "adapt",
    "--learn-adapt": "learn_adapt",
}


def check_model_options(model: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` checked against ``model``'s schema (one-line errors naming the key)."""
    if model not in MODEL_OPTIONS:
        raise SpikegradInputError(
            f"unknown model {model!r}; valid models: {', '.join(MODEL_OPTIONS)}"
        )
    schema = MODEL_OPTIONS[model]
    out = {}
    for key, value in options.items():
        if key not in schema:
            valid = ", ".join(schema) or "none"
            raise SpikegradInputError(
                f"model {model!r} has no option {key!r}; its options: {valid}"
            )
        out[key] = schema[key].check(f"model option {key!r}", value)
    return out


def _input_shape(n_inputs: int, options: Mapping[str, Any]) -> tuple[int, int, int]:
    """The conv network's frame shape: given, or ``[C, H, H]`` with C = 2 (ON/OFF) or 1."""
    given = options.get("input_shape")
    if given is not None:
        if len(given) != 3 or given[0] * given[1] * given[2] != n_inputs:
            raise SpikegradInputError(
                f"model option 'input_shape' {list(given)} must be [C,H,W] with C*H*W = "
                f"{n_inputs} (the task's inputs)"
            )
        return (int(given[0]), int(given[1]), int(given[2]))
    for c in (2, 1):
        side = math.isqrt(n_inputs // c)
        if c * side * side == n_inputs:
            return (c, side, side)
    raise SpikegradInputError(
        f"the task's {n_inputs} inputs are not square frames; give --model-option "
        "input_shape=[C,H,W]"
    )


def build_choice(
    config: TrainConfig,
    n_inputs: int,
    n_classes: int,
    construct: Callable[..., Any],
    rates: Mapping[str, float] | None = None,
) -> torch.nn.Module:
    """The ``alif``, ``izhikevich`` or ``conv`` model a config describes (weights from
    ``config.seed``); ``construct`` is the config module's constructor wrapper, ``rates``
    the input / hidden rates of the fluctuation-driven initialisation (``alif``)."""
    from ..nn.lif import Readout

    opts = dict(config.model_options)
    if config.init != "uniform" and config.model != "alif":
        raise SpikegradInputError(
            f"--init {config.init}: the {config.model} model draws its own initial weights "
            "(uniform); the fluctuation-driven initialisation is for lif and alif"
        )
    if config.model == "alif":
        from ..nn.alif import ALIFNetwork

        return construct(
            ALIFNetwork, n_inputs, n_classes, config, hidden=config.hidden,
            recurrent=config.recurrent, surrogate=config.surrogate, beta=config.beta,
            reset=config.reset, recurrent_grad=config.recurrent_grad,
            learn_tau=config.learn_tau, tau_mem=config.tau_mem, tau_syn=config.tau_syn,
            tau_out=config.tau_out, dt=config.dt, readout_mode=config.readout,
            seed=config.seed, init=config.init, **dict(rates or {}),
        )
    if config.model == "izhikevich":
        from ..nn.izhikevich import IzhikevichLayer
        from ..nn.sequential import SpikingSequential

        if config.recurrent:
            raise SpikegradInputError("--recurrent: the Izhikevich layers are feed-forward")
        if config.reset not in ("detach", "differentiable"):
            raise SpikegradInputError(
                f"--reset {config.reset}: Izhikevich neurons reset to c (detach or "
                "differentiable)"
            )
        gen = torch.Generator().manual_seed(config.seed)
        sizes = [n_inputs, *config.hidden]
        layers: list[torch.nn.Module] = [
            IzhikevichLayer(sizes[k], sizes[k + 1], dt=config.dt, surrogate=config.surrogate,
                            beta=config.beta, reset=config.reset, generator=gen, **opts)
            for k in range(len(config.hidden))
        ]
        layers.append(Readout(sizes[-1], n_classes, tau_mem=config.tau_out,
                              tau_syn=config.tau_syn, dt=config.dt, generator=gen))
        return SpikingSequential(*layers, readout_mode=config.readout)
    if config.model == "conv":
        from ..nn.sequential import conv_network

        if config.recurrent:
            raise SpikegradInputError("--recurrent: the conv network is feed-forward")
        if len(config.hidden) != 1:
            raise SpikegradInputError(
                f"--hidden: the conv network has one LIF layer, got {list(config.hidden)}"
            )
        shape = _input_shape(n_inputs, opts)
        opts.pop("input_shape", None)
        return conv_network(
            shape, n_classes, hidden=config.hidden[0], readout_mode=config.readout,
            seed=config.seed, tau_mem=config.tau_mem, tau_syn=config.tau_syn, dt=config.dt,
            surrogate=config.surrogate, beta=config.beta, reset=config.reset,
            learn_tau=config.learn_tau, **opts,
        )
    raise SpikegradInputError(f"build_choice does not build model {config.model!r}")
