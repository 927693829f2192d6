"""Model specs: a plain, versioned description from which every model is rebuilt exactly.

Every model kind (:class:`~spikegrad.nn.SpikingNetwork` ``"lif"``,
:class:`~spikegrad.nn.alif.ALIFNetwork` ``"alif"``,
:class:`~spikegrad.nn.sequential.SpikingSequential` ``"sequential"`` of any layers of
:data:`LAYER_TYPES`, :class:`~spikegrad.nn.coba.CobaSpikingNetwork` ``"coba"``,
:class:`~spikegrad.nn.srm.SRMLayer` ``"srm"``) writes its spec with :func:`model_spec`::

    {"spec_version": 1, "kind": "sequential", "input_shape": [2, 16, 16],
     "readout_mode": "max",
     "layers": [{"type": "conv2d", "in_channels": 2, "out_channels": 8, ...}, ...,
                {"type": "readout", "in_features": 64, "n_classes": 4, ...}]}

JSON values only (numbers, text, booleans, lists, dicts). :func:`model_from_spec` builds
a model of the same class, shape and dynamics; its weights come from a state dict (the
spec records no weights, seeds of initial weights or random state). Run folders store
the spec in ``config.json`` (``model_spec``); :func:`spikegrad.load_run`, NIR export and
energy counting read it.

Layers record their constructor settings when they are built (:func:`records_init`):
everything given except the generator of the initial weights and initial weight tensors
(replaced by the state dict). A surrogate object is recorded by its registry name and
scale; a projection module by its own spec.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import torch
from torch import nn

from .._checks import SpikegradInputError

__all__ = [
    "SPEC_VERSION",
    "LAYER_TYPES",
    "MODEL_KINDS",
    "records_init",
    "layer_spec",
    "layer_from_spec",
    "model_spec",
    "model_from_spec",
    "spec_or_kind",
]

#: version of the spec format; :func:`model_from_spec` refuses newer ones
SPEC_VERSION = 1

#: layer type name (the names ``spikegrad models`` prints) -> "module:Class" under spikegrad.nn
LAYER_TYPES: dict[str, str] = {
    "lif": "lif:LIFLayer",
    "alif": "alif:ALIFLayer",
    "izhikevich": "izhikevich:IzhikevichLayer",
    "conv2d": "conv:SpikingConv2d",
    "avgpool2d": "conv:SpikingAvgPool2d",
    "maxpool2d": "conv:SpikingMaxPool2d",
    "sumpool2d": "conv:SpikingSumPool2d",
    "flatten": "conv:Flatten",
    "dropout": "conv:TimeDropout",
    "readout": "lif:Readout",
    "delayed_linear": "delay:DelayedLinear",
    "delay": "delay:Delay",
    "srm": "srm:SRMLayer",
}

#: model kind (``model.kind``) -> "module:Class" under spikegrad.nn; each has ``from_spec``
MODEL_KINDS: dict[str, str] = {
    "lif": "network:SpikingNetwork",
    "alif": "alif:ALIFNetwork",
    "sequential": "sequential:SpikingSequential",
    "coba": "coba:CobaSpikingNetwork",
    "srm": "srm:SRMLayer",
}

#: constructor arguments never recorded: initial random state and initial weights
_SKIPPED = ("generator", "weight")

#: initial tensors recorded as a placeholder of the same role (the state dict holds them)
_TENSOR_PLACEHOLDERS: dict[str, Any] = {"init": "uniform", "delays": 0.0}

_C = TypeVar("_C", bound=type)


def _resolve(table: Mapping[str, str], name: str) -> type:
    module, cls = table[name].split(":")
    return getattr(importlib.import_module(f"spikegrad.nn.{module}"), cls)


def _type_name(cls: type) -> str:
    for name in LAYER_TYPES:
        if _resolve(LAYER_TYPES, name) is cls:
            return name
    raise SpikegradInputError(
        f"layer {cls.__name__} is not one of the layer types a spec can hold "
        f"({', '.join(LAYER_TYPES)})"
    )


def _plain(name: str, value: Any, owner: str) -> Any:
    """A constructor argument as a JSON value (one-line error naming it otherwise)."""
    from ..functional.surrogate import Surrogate

    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, Surrogate):
        return value.name
    if isinstance(value, torch.dtype):
        return str(value).removeprefix("torch.")
    if isinstance(value, (tuple, list)):
        return [_plain(name, v, owner) for v in value]
    if isinstance(value, nn.Module):
        return layer_spec(value)
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    if isinstance(value, torch.Tensor) and name in _TENSOR_PLACEHOLDERS:
        return _TENSOR_PLACEHOLDERS[name]  # the state dict restores the tensor itself
    raise SpikegradInputError(
        f"{owner}: argument {name!r} ({type(value).__name__}) cannot be written to a model "
        "spec; pass a number, text or a layer"
    )


def records_init(cls: _C) -> _C:
    """Class decorator: instances remember their constructor arguments as JSON values.

    The arguments given (defaults not filled in) are kept in ``self._init_args`` for
    :func:`layer_spec`, except the weights' generator and initial weight tensors. Only
    the class being built records (a subclass that calls ``super().__init__`` records
    its own arguments, not its parent's). A surrogate object given as ``surrogate`` is
    recorded by name with its scale as ``beta``.
    """
    init = cls.__init__  # type: ignore[misc]
    sig = inspect.signature(init)

    @functools.wraps(init)
    def wrapped(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if type(self) is not cls:
            return
        bound = sig.bind(self, *args, **kwargs)
        rec: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if name == "self" or name in _SKIPPED:
                continue
            if sig.parameters[name].kind is inspect.Parameter.VAR_KEYWORD:
                rec.update((k, v) for k, v in value.items() if k not in _SKIPPED)
            else:
                rec[name] = value
        from ..functional.surrogate import Surrogate

        sur = rec.get("surrogate")
        if isinstance(sur, Surrogate):
            rec["beta"] = float(sur.beta)
        self._init_args = {  # type: ignore[attr-defined]
            k: _plain(k, v, cls.__name__) for k, v in rec.items()
        }

    cls.__init__ = wrapped  # type: ignore[misc]
    return cls


def layer_spec(module: nn.Module) -> dict[str, Any]:
    """``{"type": name, **constructor arguments}`` of a layer of :data:`LAYER_TYPES`."""
    name = _type_name(type(module))
    args = getattr(module, "_init_args", None)
    if args is None:
        raise SpikegradInputError(
            f"layer {type(module).__name__} recorded no constructor arguments"
        )
    return {"type": name, **args}


def layer_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """The layer :func:`layer_spec` described (weights drawn from a throwaway generator)."""
    if not isinstance(spec, Mapping) or spec.get("type") not in LAYER_TYPES:
        kind = spec.get("type") if isinstance(spec, Mapping) else spec
        raise SpikegradInputError(
            f"unknown layer type {kind!r} in a model spec; known: {', '.join(LAYER_TYPES)}"
        )
    cls = _resolve(LAYER_TYPES, str(spec["type"]))
    kw: dict[str, Any] = {k: v for k, v in spec.items() if k != "type"}
    if isinstance(kw.get("projection"), Mapping):
        kw["projection"] = layer_from_spec(kw["projection"])
    if "dtype" in kw and isinstance(kw["dtype"], str):
        kw["dtype"] = _dtype(kw["dtype"])
    if "generator" in inspect.signature(cls.__init__).parameters:  # type: ignore[misc]
        kw["generator"] = torch.Generator().manual_seed(0)
    try:
        return cls(**kw)
    except TypeError as exc:
        raise SpikegradInputError(f"malformed {spec['type']!r} layer spec: {exc}") from exc


def _dtype(name: str) -> torch.dtype:
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise SpikegradInputError(f"unknown dtype {name!r} in a model spec")
    return dt


def model_spec(model: nn.Module) -> dict[str, Any]:
    """The versioned spec of a model: ``{"spec_version": 1, "kind": ..., ...}``.

    Raises :class:`SpikegradInputError` (one line) for a model that cannot describe
    itself (no ``spec()`` method).
    """
    spec: Callable[[], dict] | None = getattr(model, "spec", None)
    if not callable(spec):
        raise SpikegradInputError(
            f"model {type(model).__name__} cannot describe itself (no spec() method); "
            f"the model kinds with a spec: {', '.join(MODEL_KINDS)}"
        )
    return {"spec_version": SPEC_VERSION, **spec()}


def spec_or_kind(model: nn.Module) -> dict[str, Any]:
    """:func:`model_spec`, or just ``{"kind": ...}`` for a model of the user's own that
    cannot describe itself (its run folder then holds weights a user loads by hand)."""
    if callable(getattr(model, "spec", None)):
        return model_spec(model)
    return {"kind": str(getattr(type(model), "kind", type(model).__name__))}


def model_from_spec(spec: Mapping[str, Any]) -> nn.Module:
    """The model a spec of :func:`model_spec` describes (load its weights next).

    Raises :class:`SpikegradInputError` (one line) for an unknown kind, a newer spec
    version or malformed settings.
    """
    if not isinstance(spec, Mapping):
        raise SpikegradInputError(f"a model spec must be a dict, got {type(spec).__name__}")
    version = spec.get("spec_version", 1)
    if not isinstance(version, int) or version > SPEC_VERSION:
        raise SpikegradInputError(
            f"model spec version {version!r} is newer than this spikegrad's ({SPEC_VERSION}); "
            "upgrade spikegrad"
        )
    kind = spec.get("kind")
    if kind not in MODEL_KINDS:
        raise SpikegradInputError(
            f"unknown model kind {kind!r} in a model spec; known: {', '.join(MODEL_KINDS)}"
        )
    body = {k: v for k, v in spec.items() if k != "spec_version"}
    return _resolve(MODEL_KINDS, str(kind)).from_spec(body)  # type: ignore[attr-defined]
