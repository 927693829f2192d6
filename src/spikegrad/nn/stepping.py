r"""Step any spikegrad network one time step at a time, with explicit state in and out.

``Stepper(model).step(x_t, state) -> (out_t, state)`` for closed-loop control and
streaming: ``x_t`` is one input frame ``[B, n_inputs]``, ``out_t`` the readout membrane
``[B, n_classes]`` at that step, ``state`` a tuple with one entry per layer (``None``
before the first step). Stepping through a whole sequence gives the same readout and
spikes as the unrolled ``model(x)`` (tested per element; exactly for the ``reference``
backend, within float rounding for the fused ones, whose readout is a convolution).

Supported: :class:`~spikegrad.nn.SpikingNetwork` (and
:class:`~spikegrad.nn.alif.ALIFNetwork`), :class:`~spikegrad.nn.sequential.SpikingSequential`,
and any layer with a ``step(x_t, state)`` method. LIF layers step with
:func:`~spikegrad.functional.alif.alif_step`, which equals eq. 4.1's
:func:`~spikegrad.functional.lif.lif_step` bit for bit under the default options.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol, cast

import torch
from torch import nn

from .._checks import SpikegradInputError
from ..functional.alif import ALIFState, alif_step
from .lif import LIFLayer, Readout
from .sequential import is_spiking

__all__ = ["ReadoutState", "Stepper"]


class _Steps(Protocol):
    """A layer with its own one-step method (checked by ``Stepper.__init__``)."""

    def step(self, x_t: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]: ...


class ReadoutState(NamedTuple):
    """Readout membrane ``u`` and current ``i``, ``[B, n_classes]``."""

    u: torch.Tensor
    i: torch.Tensor


def _lif_step(layer: LIFLayer, x_t: torch.Tensor, state: ALIFState | None):
    if layer.projection is not None:
        raise SpikegradInputError(
            "a LIF layer with an input projection (delays) needs the input history; "
            "Stepper cannot step it"
        )
    cur = x_t @ layer.weight.t()
    if state is None:
        state = ALIFState.zeros(cur.shape[0], layer.out_features, dtype=cur.dtype,
                                device=cur.device)
    return alif_step(cur, state, layer.neuron_params(), layer.surrogate,
                     rec_weight=layer.rec_weight, reset=layer.reset,
                     recurrent_grad=layer.recurrent_grad)


def _readout_step(ro: Readout, x_t: torch.Tensor, state: ReadoutState | None):
    cur = x_t @ ro.weight.t()
    if state is None:
        z = torch.zeros_like(cur)
        state = ReadoutState(z + ro.u0, z)
    p = ro.taus.params()
    u, i = state
    return u, ReadoutState(p.beta_mem * u + (1.0 - p.beta_mem) * i, p.beta_syn * i + cur)


class Stepper:
    """One-step-at-a-time view of a network (parameters shared with ``model``).

    Parameters
    ----------
    model:
        A ``SpikingNetwork``, ``ALIFNetwork`` or ``SpikingSequential``.
    """

    def __init__(self, model: nn.Module) -> None:
        layers = getattr(model, "layers", None)
        readout = getattr(model, "readout", None)
        if layers is None or not isinstance(readout, Readout):
            raise SpikegradInputError(
                f"Stepper needs a network with .layers and a Readout, got {type(model).__name__}"
            )
        for k, layer in enumerate(layers):
            if not isinstance(layer, LIFLayer) and not hasattr(layer, "step"):
                raise SpikegradInputError(
                    f"layer {k} ({type(layer).__name__}) has no step(x_t, state) method"
                )
        self.model = model
        self.input_shape = getattr(model, "input_shape", None)

    @property
    def _layers(self) -> Sequence[nn.Module]:
        # the model's nn.ModuleList (or list) of layers, checked in __init__
        return cast(Sequence[nn.Module], self.model.layers)

    @property
    def _readout(self) -> Readout:
        return cast(Readout, self.model.readout)  # checked in __init__

    def initial_state(self) -> tuple[Any, ...]:
        """The state before the first step: ``None`` per layer and for the readout."""
        return (None,) * (len(self._layers) + 1)

    def step(
        self, x_t: torch.Tensor, state: tuple[Any, ...] | None = None
    ) -> tuple[torch.Tensor, tuple[Any, ...]]:
        """Advance one step: input ``[B, n_inputs]`` -> (readout ``[B, n_classes]``, state).

        The readout returned at step ``n`` is ``model(x).readout[n]``; also available:
        :attr:`last_spikes`, the spikes of every spiking layer at this step.
        """
        if not isinstance(x_t, torch.Tensor) or x_t.dim() != 2:
            shape = tuple(x_t.shape) if isinstance(x_t, torch.Tensor) else type(x_t).__name__
            raise SpikegradInputError(f"x_t must be one frame [B, n_inputs], got {shape}")
        if state is None:
            state = self.initial_state()
        h = x_t if self.input_shape is None else x_t.reshape(x_t.shape[0], *self.input_shape)
        new, spikes = [], []
        for layer, st in zip(self._layers, state[:-1], strict=True):
            if isinstance(layer, LIFLayer):
                h, st = _lif_step(layer, h, st)
            else:
                h, st = cast(_Steps, layer).step(h, st)
            if is_spiking(layer):
                spikes.append(h)
            new.append(st)
        out, ro_state = _readout_step(self._readout, h, state[-1])
        new.append(ro_state)
        self.last_spikes = tuple(spikes)
        return out, tuple(new)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Step through ``x`` ``[T, B, n_inputs]``; the readout trace ``[T, B, n_classes]``."""
        state, outs = None, []
        for x_t in x.unbind(0):
            out, state = self.step(x_t, state)
            outs.append(out)
        return torch.stack(outs)
