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

from ..._checks import Option, SpikegradInputError, check_options
from .base import Rule, RuleStep, model_kind, set_grads, trainable
from .bptt import BPTT

__all__ = [
    "RULES",
    "Rule",
    "RuleStep",
    "BPTT",
    "make_rule",
    "RULE_OPTIONS",
    "rule_options_schema",
    "check_rule_options",
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


_SEED = Option("int", "seed of the rule's own noise generator", 0)
#: noise trials per sample: each costs one more forward pass of the batch (memory and time
#: grow linearly), so the count is capped; ``spikegrad train`` also refuses a batch x
#: trials whose estimated memory the machine lacks
_TRIALS = Option("int", "noisy trials per sample (each one more forward pass of the batch)",
                 1, 100_000)
_TAU_R = Option("float", "time constant of the running reward baseline, in trials", 1.0)
_PERTURB = {
    "trials": _TRIALS,
    "baseline": Option("str", "reward baseline: running, paired, leave_one_out or none"),
    "tau_R": _TAU_R,
    "seed": _SEED,
}

#: rule name -> its options (``--rule-option KEY=VALUE``): type, meaning and range, the
#: one schema (:class:`~spikegrad._checks.Option`) of every KEY=VALUE flag. A rule not
#: listed here (its module is maintained elsewhere) gets a schema read off its dataclass
#: fields (:func:`rule_options_schema`); ``tests/test_reliability_options.py`` checks
#: that every listed rule declares exactly its fields.
RULE_OPTIONS: dict[str, dict[str, Option]] = {
    "bptt": {},
    "tbptt": {"k": Option("int", "truncation window in time steps", 1, 1_000_000)},
    "eprop": {},
    "node": {**_PERTURB, "sigma": Option("float", "noise amplitude", 0.0, exclusive_min=True)},
    "weight": {**_PERTURB, "sigma": Option("float", "noise amplitude (default: per model)",
                                           0.0, exclusive_min=True, nullable=True)},
    "conductance": {
        **_PERTURB,
        "sigma": Option("float", "noise amplitude (default: per noise kind)", 0.0,
                        exclusive_min=True, nullable=True),
        "noise": Option("choice", "noise kind", choices=("white", "empiric", "current")),
        "gate_refractory": Option("bool", "no noise in refractory neurons"),
        "empiric_rate": Option("float", "rate of the empiric noise spikes (Hz)", 0.0,
                               exclusive_min=True),
        "empiric_weight": Option("float", "weight of the empiric noise spikes (nS)", 0.0,
                                 exclusive_min=True),
        "empiric_tau": Option("float", "time constant of the empiric noise (s)", 0.0,
                              exclusive_min=True),
    },
    "kernel": {
        "kernel": Option("choice", "spike-train kernel",
                         choices=("gaussian", "laplacian", "laplace", "exponential")),
        "width": Option("float", "kernel width (s)", 0.0, exclusive_min=True),
        "offset": Option("float", "shift of the input spikes in the comparison (s)"),
    },
    "resume": {
        "a": Option("float", "non-Hebbian term", 0.0),
        "amplitude": Option("float", "height of the learning window"),
        "tau_l": Option("float", "time constant of the learning window (s)", 0.0,
                        exclusive_min=True),
    },
}

#: a dataclass field's annotation -> the option type of a rule not in RULE_OPTIONS
_FIELD_TYPES = {"int": "int", "float": "float", "bool": "bool", "str": "str"}


def rule_options_schema(name: str) -> dict[str, Option]:
    """The options of rule ``name``: :data:`RULE_OPTIONS`, else read off its dataclass fields.

    A field annotated ``int`` becomes an integer option >= 0, ``float`` a finite number,
    ``bool`` and ``str`` themselves, ``X | None`` the same, nullable; the rule's own
    constructor checks the finer ranges.
    """
    if name in RULE_OPTIONS:
        return RULE_OPTIONS[name]
    import dataclasses

    cls = rule_class(name)
    schema: dict[str, Option] = {}
    if dataclasses.is_dataclass(cls):
        for f in dataclasses.fields(cls):
            if not f.init or f.name.startswith("_"):
                continue
            text = str(f.type).replace(" ", "")
            nullable = text.endswith("|None")
            kind = _FIELD_TYPES.get(text.removesuffix("|None"))
            if kind is None:  # not a plain value: leave it to the constructor
                schema[f.name] = Option("any")
            else:
                schema[f.name] = Option(kind, "", 0 if kind == "int" else None,
                                        nullable=nullable)
    return schema


def check_rule_options(name: str, options: dict[str, Any], where: str | None = None) -> dict:
    """``options`` of rule ``name`` checked against :func:`rule_options_schema`.

    An unknown key, a value of the wrong type (``trials=1.5`` is never truncated) or out of
    range raises :class:`SpikegradInputError` naming ``where`` (default ``rule 'NAME'``)
    and the key.
    """
    rule_class(name)  # an unknown rule: one line listing the rules
    return check_options(where or f"rule {name!r}", rule_options_schema(name), options)


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
    options = check_rule_options(name, options)
    try:
        return cls(**options)
    except TypeError as exc:
        raise SpikegradInputError(f"rule {name!r}: bad options {options!r}: {exc}") from exc
