r"""Learning rules behind one interface (:class:`Rule`); :data:`RULES` maps names to them.

=================  =================================================  =====================
name               what it computes                                   ``--model`` choices
=================  =================================================  =====================
``bptt``           surrogate-gradient BPTT (Zenke & Vogels 2021)      lif, alif, izhikevich,
                                                                      conv, coba
``tbptt``          BPTT truncated to windows of ``k`` steps           lif, alif, izhikevich,
                                                                      conv, coba
``eprop``          e-prop eligibility traces (Bellec et al. 2020),    lif, alif
                   one hidden layer; adaptive threshold: the
                   :math:`\epsilon^A` trace
``node``           node perturbation of every layer's input current   lif, alif, izhikevich,
                                                                      conv
``weight``         weight perturbation                                lif, alif, izhikevich,
                                                                      conv, coba
``conductance``    dynamic perturbation of conductances               coba
                   (Fiete & Seung 2006)
``kernel``         spike-train kernel rule, weights and delays        srm
                   (Lin, Zhang & Zhang 2012)
``resume``         ReSuMe (Ponulak & Kasinski 2010)                   srm
``ottt``           online training through time (Xiao et al. 2022):   lif
                   presynaptic traces, per-step loss, memory
                   independent of ``T``
``ostl``           online spatio-temporal learning (Bohnstingl et     lif
                   al. 2022): state eligibility, one hidden layer,
                   per-step loss, memory independent of ``T``
``eprop-random``   random e-prop (Bellec et al. 2020): OSTL with a    lif
                   fixed random feedback matrix, one hidden layer
``eventprop``      EventProp (Wunderlich & Pehle 2021): exact         lif
                   adjoint of the event-driven continuous-time
                   LIF, feed-forward or recurrent, any depth
=================  =================================================  =====================

The last column is :func:`rule_matrix`: the ``spikegrad train --model`` choices
(:data:`spikegrad.nn.catalog.MODEL_CHOICES`: ``izhikevich`` and ``conv`` build the
``sequential`` kind) whose model kind is in the rule's ``models`` (tested to match).
Where a cell is empty the mathematics does not carry over: e-prop needs a single
recurrent layer's forward traces (no deep or convolutional stack); node perturbation of
the conductance model is the ``conductance`` rule's ``noise="current"``; the SRM0 rules
work on spike times, not on differentiable or perturbable currents; OTTT and OSTL trace
the plain eq. 4.1 LIF with its leaky readout (:mod:`.online`); EventProp's event-driven
model has closed-form trajectories between spikes (:mod:`.eventprop`).

Rules are imported on first use (``make_rule(name, **options)``), so a rule's optional
dependencies never slow down or break the others. ``spikegrad rules`` lists them.
"""

from __future__ import annotations

import importlib
from typing import Any

from ..._checks import SpikegradInputError
from .base import Rule, RuleStep, model_kind, set_grads, trainable
from .bptt import BPTT

__all__ = [
    "RULES",
    "Rule",
    "RuleStep",
    "BPTT",
    "make_rule",
    "rule_class",
    "model_kind",
    "set_grads",
    "trainable",
    "rule_matrix",
]

#: rule name -> "module:Class" (relative to this package), imported on first use
RULES: dict[str, str] = {
    "bptt": "bptt:BPTT",
    "tbptt": "truncated:TruncatedBPTT",
    "eprop": "eprop:Eprop",
    "node": "perturbation:NodePerturbation",
    "weight": "perturbation:WeightPerturbation",
    "conductance": "perturbation:ConductancePerturbation",
    "kernel": "kernel:KernelRule",
    "resume": "kernel:ReSuMe",
    "ottt": "online:OTTT",
    "ostl": "online:OSTL",
    "eprop-random": "online:RandomEprop",
    "eventprop": "eventprop:EventProp",
}


def available_rules() -> dict[str, type[Rule]]:
    """Every registered rule whose module is importable, name -> class."""
    out = {}
    for name in RULES:
        try:
            out[name] = rule_class(name)
        except (ImportError, AttributeError):
            continue
    return out


def rule_matrix() -> dict[str, list[str]]:
    """The rule x model matrix: rule name -> the ``spikegrad train --model`` choices it trains.

    A rule trains a model choice when the model kind built for that choice
    (:data:`spikegrad.nn.catalog.MODEL_CHOICES`) is in the rule's ``models``. ``spikegrad
    rules`` prints it and the tests train every pair it lists.
    """
    from ...nn.catalog import MODEL_CHOICES

    return {
        name: [m for m, kind in MODEL_CHOICES.items() if kind in cls.models]
        for name, cls in available_rules().items()
    }


def rule_class(name: str) -> type[Rule]:
    """The class registered under ``name`` (clear error listing the valid names)."""
    if not isinstance(name, str) or name not in RULES:
        raise SpikegradInputError(
            f"unknown rule {name!r}; valid rules: {', '.join(sorted(RULES))}"
        )
    module, cls = RULES[name].split(":")
    return getattr(importlib.import_module(f"{__name__}.{module}"), cls)


def make_rule(name: str | Rule, **options: Any) -> Rule:
    """A rule by registry name with its settings (``make_rule("node", sigma=0.1)``)."""
    if isinstance(name, Rule):
        if options:
            raise SpikegradInputError("options given together with a rule object")
        return name
    cls = rule_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise SpikegradInputError(f"rule {name!r}: bad options {options!r}: {exc}") from exc
