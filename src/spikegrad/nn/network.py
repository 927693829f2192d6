"""A stack of LIF layers with a leaky-integrator readout: the networks of Zenke & Vogels 2021."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import torch
from torch import nn

from .._checks import (
    SpikegradInputError,
    check_choice,
    check_positive,
    check_sequence_tensor,
    check_size,
)
from ..functional.readout import readout_logits
from ..functional.surrogate import Surrogate, make_surrogate
from ..init import fluctuation_driven_
from ..kernels import lif_numba
from .lif import LIFLayer, Readout

__all__ = ["INIT_MODES", "SNNOutput", "SpikingNetwork"]

#: weight initialisations of :class:`SpikingNetwork`
INIT_MODES = ("uniform", "fluctuation")


class SNNOutput(NamedTuple):
    """What a forward pass returns.

    Attributes
    ----------
    readout:
        Readout membrane trace ``[T, B, n_classes]``.
    spikes:
        One spike tensor ``[T, B, N_l]`` per hidden layer.
    membranes:
        Hidden membrane traces (only when requested), else an empty tuple.
    """

    readout: torch.Tensor
    spikes: tuple[torch.Tensor, ...]
    membranes: tuple[torch.Tensor, ...] = ()


class SpikingNetwork(nn.Module):
    """Input spikes -> hidden LIF layers (feed-forward or recurrent) -> readout.

    Parameters
    ----------
    n_inputs, n_classes:
        Input channels and readout units.
    hidden:
        Sizes of the hidden layers, e.g. ``(100,)`` or ``(128, 128)``.
    recurrent:
        Make every hidden layer recurrent (bool), or one bool per layer.
    surrogate, beta:
        Surrogate (object or registry name) and its scale, shared by all layers.
    reset, recurrent_grad, learn_tau:
        See :class:`~spikegrad.nn.lif.LIFLayer`.
    tau_mem, tau_syn, tau_out, dt:
        Hidden membrane / synaptic time constants, readout membrane time constant,
        time step (seconds).
    readout_mode:
        ``"max"`` (default), ``"mean"`` or ``"last"``; used by :meth:`logits`.
    backend:
        Simulation backend of every layer: ``"auto"``, ``"numba"``, ``"fused"`` or
        ``"reference"``. With the compiled kernels the last hidden layer and the readout
        run fused (:func:`spikegrad.kernels.lif_numba.lif_readout_numba`).
    seed:
        Seed of the private generator used for the weights (``None``: torch's default RNG).
    init:
        ``"uniform"`` (the paper's :math:`\\mathcal U(\\pm 1/\\sqrt{n_\\text{in}})`) or
        ``"fluctuation"``: the fluctuation-driven initialisation
        (:func:`spikegrad.init.fluctuation_driven_`), which deep and recurrent networks
        need to be active at the start. It needs ``input_rate`` (the input's spike
        probability per unit and step) and ``hidden_rate`` (the target probability of
        the hidden layers, e.g. one spike per trial: ``1 / n_steps``); its generator is
        seeded with ``seed + 1``.
    threshold, learn_threshold, refractory:
        Neuron options of every hidden :class:`~spikegrad.nn.LIFLayer`: firing threshold
        (default 1), learned per neuron, absolute refractory period in seconds (default
        0). With ``reset="subtract"`` (reset by subtracting the threshold) any of them
        runs the hidden layers on the ``"fused"`` / ``"reference"`` backends.
    """

    #: model kind for the rule registry (:func:`spikegrad.learning.rules.model_kind`)
    kind = "lif"

    def __init__(
        self,
        n_inputs: int,
        n_classes: int,
        hidden: Sequence[int] = (100,),
        *,
        recurrent: bool | Sequence[bool] = False,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        reset: str = "detach",
        recurrent_grad: bool = True,
        learn_tau: bool = False,
        tau_mem: float = 10e-3,
        tau_syn: float = 5e-3,
        tau_out: float = 20e-3,
        dt: float = 1e-3,
        readout_mode: str = "max",
        backend: str = "auto",
        seed: int | None = None,
        init: str = "uniform",
        input_rate: float | None = None,
        hidden_rate: float | None = None,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        refractory: float = 0.0,
    ) -> None:
        super().__init__()
        if isinstance(hidden, (str, bytes, dict)) or not hasattr(hidden, "__iter__"):
            raise TypeError(
                f"hidden must be a sequence of layer sizes such as (100,), got "
                f"{type(hidden).__name__} {hidden!r}"
            )
        hidden = [check_size(f"hidden[{k}]", h) for k, h in enumerate(hidden)]
        n_inputs = check_size("n_inputs", n_inputs)
        n_classes = check_size("n_classes", n_classes)
        if not hidden:
            raise SpikegradInputError("hidden must list at least one hidden layer size")
        if isinstance(recurrent, bool):
            rec = [recurrent] * len(hidden)
        else:
            rec = [bool(r) for r in recurrent]
            if len(rec) != len(hidden):
                raise SpikegradInputError(
                    f"recurrent has {len(rec)} entries but there are {len(hidden)} hidden layers"
                )
        readout_logits(torch.zeros(1, 1, 1), readout_mode)  # validates the mode
        gen = None
        if seed is not None:
            seed = check_size("seed", seed, minimum=0)
            if seed >= 2**64:
                raise SpikegradInputError(f"seed must be < 2**64, got {seed}")
            gen = torch.Generator().manual_seed(seed)
        sur = make_surrogate(surrogate, beta)
        self.n_inputs, self.n_classes = n_inputs, n_classes
        self.readout_mode = readout_mode
        self._spec: dict[str, Any] = {
            "kind": self.kind,
            "n_inputs": n_inputs,
            "n_classes": n_classes,
            "hidden": list(hidden),
            "recurrent": list(rec),
            "surrogate": sur.name,
            "beta": float(sur.beta),
            "reset": reset,
            "recurrent_grad": bool(recurrent_grad),
            "learn_tau": bool(learn_tau),
            "tau_mem": float(tau_mem),
            "tau_syn": float(tau_syn),
            "tau_out": float(tau_out),
            "dt": float(dt),
            "readout_mode": readout_mode,
            "backend": backend,
        }
        # neuron options beyond eq. 4.1 (LIFLayer): recorded only when set, so the spec
        # of a plain network stays what it was
        options: dict[str, Any] = {"threshold": float(threshold),
                                   "learn_threshold": bool(learn_threshold),
                                   "refractory": float(refractory)}
        for key, plain in (("threshold", 1.0), ("learn_threshold", False), ("refractory", 0.0)):
            if options[key] != plain:
                self._spec[key] = options[key]
        sizes = [n_inputs, *hidden]
        self.layers = nn.ModuleList(
            LIFLayer(
                sizes[k],
                sizes[k + 1],
                recurrent=rec[k],
                tau_mem=tau_mem,
                tau_syn=tau_syn,
                dt=dt,
                surrogate=sur,
                reset=reset,
                recurrent_grad=recurrent_grad,
                learn_tau=learn_tau,
                backend=backend,
                generator=gen,
                **options,
            )
            for k in range(len(hidden))
        )
        self.readout = Readout(
            hidden[-1],
            n_classes,
            tau_mem=tau_out,
            tau_syn=tau_syn,
            dt=dt,
            backend=backend,
            generator=gen,
        )
        self.init = check_choice("init", init, INIT_MODES)
        if init == "fluctuation":
            if input_rate is None or hidden_rate is None:
                raise SpikegradInputError(
                    'init="fluctuation" needs input_rate and hidden_rate (spike '
                    "probabilities per unit and step)"
                )
            self._fluctuation_init(
                check_positive("input_rate", input_rate),
                check_positive("hidden_rate", hidden_rate),
                tau_mem,
                tau_syn,
                dt,
                None if seed is None else seed + 1,
            )

    def _fluctuation_init(
        self, p_in: float, p_hidden: float, tau_mem: float, tau_syn: float, dt: float,
        seed: int | None,
    ) -> None:
        """Re-draw the hidden weights with the fluctuation-driven rule.

        The first layer uses the input's spike probability, deeper layers and recurrent
        weights the hidden target; a recurrent layer splits the target membrane variance
        equally between its feed-forward and recurrent drive.
        """
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        kw: dict[str, Any] = dict(tau_mem=tau_mem, tau_syn=tau_syn, dt=dt, generator=gen)
        for k, layer in enumerate(self.hidden_layers):
            p = p_in if k == 0 else p_hidden
            if layer.rec_weight is None:
                fluctuation_driven_(layer.weight, max(p, 1e-6), **kw)
            else:
                fluctuation_driven_(layer.weight, max(p, 1e-6), sigma_u=math.sqrt(0.5), **kw)
                fluctuation_driven_(layer.rec_weight, p_hidden, sigma_u=math.sqrt(0.5), **kw)

    @property
    def hidden_layers(self) -> list[LIFLayer]:
        """The hidden :class:`~spikegrad.nn.LIFLayer` s of ``layers``, bottom first."""
        return [cast(LIFLayer, m) for m in self.layers]

    @property
    def surrogate(self) -> Surrogate:
        return self.hidden_layers[0].surrogate

    def forward(self, x: torch.Tensor, *, record_membrane: bool = False) -> SNNOutput:
        """Run the network on input spikes ``[T, B, n_inputs]`` (time-major)."""
        # finiteness is checked by the first layer (free inside the numba event scan)
        check_sequence_tensor("x", x, features=self.n_inputs, finite=False)
        spikes, mems = [], []
        h = x
        last = len(self.layers) - 1
        for k, layer in enumerate(self.hidden_layers):
            if k == last and not record_membrane and self._fuse_last(h):
                # last hidden layer + readout as one compiled function: the readout's
                # input gradient is never materialised as a [T, B, N] tensor
                h, u = self._fused_tail(h, check_finite=k == 0)
                spikes.append(h)
                return SNNOutput(u, tuple(spikes), ())
            if record_membrane:
                h, m = layer(h, record_membrane=True, check_finite=k == 0)
                mems.append(m)
            else:
                h = layer(h, check_finite=k == 0)
            spikes.append(h)
        return SNNOutput(self.readout(h), tuple(spikes), tuple(mems))

    def _fuse_last(self, h: torch.Tensor) -> bool:
        layer, ro = self.hidden_layers[-1], self.readout
        return (
            h.dtype == layer.weight.dtype == ro.weight.dtype
            and layer.uses_numba(h)
            and ro.uses_numba(h)
        )

    def _fused_tail(self, h: torch.Tensor, *, check_finite: bool) -> tuple[torch.Tensor, ...]:
        layer, ro = self.hidden_layers[-1], self.readout
        p, pr = layer.taus.params(), ro.taus.params()
        return lif_numba.lif_readout_numba(
            h,
            layer.weight,
            p.beta_mem,
            p.beta_syn,
            layer.surrogate,
            ro.weight,
            pr.beta_mem,
            pr.beta_syn,
            rec_weight=layer.rec_weight,
            reset=layer.reset,
            recurrent_grad=layer.recurrent_grad,
            u0=ro.u0,
            finite_name="x" if check_finite else None,
        )

    def spec(self) -> dict:
        """The constructor settings as plain JSON values (``kind`` included).

        :meth:`from_spec` builds a network of the same shape and dynamics; its weights
        come from a state dict (the spec records no seed or initialisation). A custom
        surrogate is recorded by its registry name and scale.
        """
        return dict(self._spec, hidden=list(self._spec["hidden"]),
                    recurrent=list(self._spec["recurrent"]))  # fmt: skip

    @classmethod
    def from_spec(cls, spec: dict) -> SpikingNetwork:
        """A network from :meth:`spec`'s dict (weights drawn anew: load a state dict)."""
        if not isinstance(spec, dict) or spec.get("kind", "lif") != cls.kind:
            raise SpikegradInputError(f"not a SpikingNetwork spec: {spec!r}")
        kw = {k: v for k, v in spec.items() if k != "kind"}
        try:
            return cls(kw.pop("n_inputs"), kw.pop("n_classes"), **kw)
        except (KeyError, TypeError) as exc:
            raise SpikegradInputError(f"malformed SpikingNetwork spec: {exc}") from exc

    def logits(self, out: SNNOutput) -> torch.Tensor:
        """Reduce the readout trace to logits ``[B, n_classes]`` with ``readout_mode``."""
        return readout_logits(out.readout, self.readout_mode)
