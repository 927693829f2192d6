r"""Synaptic operations, neuron updates, memory traffic and an energy estimate per sample.

What an evaluation of a spiking network costs on event-driven hardware, layer by layer,
next to what the equivalent non-spiking (dense) network would cost on the same inputs.
For a layer with presynaptic units :math:`j`, weights :math:`W` (``[out, in]``) and
:math:`T` steps, per sample:

.. math::

    \text{events}   &= \textstyle\sum_{t,j} [s_j[t] \ne 0] \\
    \text{SynOps}   &= \textstyle\sum_{t,j} [s_j[t] \ne 0]\;\mathrm{nnz}(W_{:,j}) \\
    \text{dense MACs} &= T \cdot \text{in} \cdot \text{out} \\
    \text{neuron updates} &= T \cdot \text{out}

Every event is delivered to every target it has a nonzero weight to (its fan-out; a
dense layer's fan-out is ``out``). A recurrent layer adds its own spikes times the
fan-out of the recurrent weights ``V`` (``[out, out]``) and :math:`T\,\text{out}^2` dense
MACs: both count what the step equations compute at every step (the spikes of the
last step included). The readout of :class:`~spikegrad.nn.SpikingNetwork` is a layer of
non-spiking leaky integrators fed by the last hidden layer's spikes.

**Memory traffic** (32-bit words per sample, an estimate with stated assumptions): the
event-driven network reads one weight per synaptic operation and reads and writes each
neuron's state variables once per step (:data:`NEURON_OPS`' ``state`` words); the
dense network reads one weight per MAC. Partial sums stay in registers in both.

**Energy** from per-operation costs (:class:`OpCosts`). The defaults are Horowitz's
45 nm, 0.9 V figures (M. Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, pp. 10-14): 32-bit float add 0.9 pJ, 32-bit float multiply
3.7 pJ, a 64-bit access of an 8 kB SRAM 10 pJ, i.e. 5 pJ per 32-bit word. A synaptic
operation is one add (accumulate the weight into the target's current), a dense MAC one
multiply and one add; neuron updates cost the multiplies and adds of
:data:`NEURON_OPS`. Pass your hardware's own figures as :class:`OpCosts` (or a dict
with the same keys).

:class:`OpCounter` accumulates over batches (the trainer feeds it the test split) and
:meth:`OpCounter.report` returns the JSON block that ``metrics.json`` stores under
``"synops"``. Models it understands: :class:`~spikegrad.nn.SpikingNetwork` (``lif``)
and :class:`~spikegrad.nn.CobaSpikingNetwork` (``coba``); others (spike-time SRM
models) are not counted (:func:`count_ops` returns ``None``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .._checks import SpikegradInputError

__all__ = [
    "HOROWITZ_2014",
    "NEURON_OPS",
    "LayerOps",
    "OpCosts",
    "OpCounter",
    "count_ops",
    "make_costs",
    "summary_line",
]

#: Where the default per-operation costs come from.
HOROWITZ_2014 = (
    "M. Horowitz, Computing's energy problem (and what we can do about it), ISSCC 2014: "
    "45 nm, 0.9 V; 32-bit float add 0.9 pJ, multiply 3.7 pJ; 8 kB SRAM 10 pJ per 64-bit "
    "access (5 pJ per 32-bit word)"
)

#: Arithmetic per neuron and step, and the state words read and written, by neuron type.
#: ``lif`` (eq. 4.1 of :mod:`spikegrad.functional.lif`): :math:`\beta_m U`,
#: :math:`(1-\beta_m) I`, :math:`\beta_s I` (3 multiplies), their sum and the threshold
#: comparison (2 adds; the reset is a select, the input sum is counted as SynOps); state
#: ``U, I``. ``li`` (the readout): the same without the comparison. ``coba``
#: (:func:`spikegrad.functional.coba.coba_step`): three driving forces and conductance
#: terms, the Euler step and two trace decays (5 multiplies, 8 adds; the exponential-Euler
#: factor's ``exp`` is not counted); state ``V``, trace, resource, refractory counter.
NEURON_OPS: dict[str, dict[str, int]] = {
    "lif": {"mult": 3, "add": 2, "state": 2},
    "li": {"mult": 3, "add": 1, "state": 2},
    "coba": {"mult": 5, "add": 8, "state": 4},
}

_ENERGY_KEYS = (
    "energy_compute_pj",
    "energy_memory_pj",
    "energy_pj",
    "dense_energy_compute_pj",
    "dense_energy_memory_pj",
    "dense_energy_pj",
)

_COUNT_KEYS = (
    "input_events",
    "synops",
    "recurrent_events",
    "synops_recurrent",
    "dense_macs",
    "neuron_updates",
    "memory_words",
    "dense_memory_words",
)


@dataclass(frozen=True)
class OpCosts:
    """Energy per operation in picojoules (defaults: :data:`HOROWITZ_2014`).

    Attributes
    ----------
    add_pj, mult_pj:
        One 32-bit floating-point add and multiply.
    memory_pj:
        Reading or writing one 32-bit word of on-chip SRAM.
    source:
        Where the figures come from (reported with the estimate).
    """

    add_pj: float = 0.9
    mult_pj: float = 3.7
    memory_pj: float = 5.0
    source: str = HOROWITZ_2014

    def __post_init__(self) -> None:
        for name in ("add_pj", "mult_pj", "memory_pj"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise SpikegradInputError(f"{name} must be a number >= 0 (pJ), got {v!r}")
            if v == float("inf"):
                raise SpikegradInputError(f"{name} must be finite, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """The costs as plain JSON values."""
        return dataclasses.asdict(self)


def make_costs(costs: OpCosts | Mapping[str, Any] | None = None) -> OpCosts:
    """An :class:`OpCosts` from ``None`` (the defaults), an ``OpCosts`` or a dict.

    A dict may give any of ``add_pj``, ``mult_pj``, ``memory_pj`` and ``source``; the
    others keep their defaults. Unknown keys are refused (one-line error).
    """
    if costs is None:
        return OpCosts()
    if isinstance(costs, OpCosts):
        return costs
    if not isinstance(costs, Mapping):
        raise TypeError(f"costs must be OpCosts or a dict, got {type(costs).__name__}")
    known = {f.name for f in dataclasses.fields(OpCosts)}
    bad = sorted(set(costs) - known)
    if bad:
        raise SpikegradInputError(
            f"unknown energy cost {bad[0]!r}; allowed: {', '.join(sorted(known))}"
        )
    kw = dict(costs)
    if "source" not in kw:
        kw["source"] = "user-supplied" if kw else HOROWITZ_2014
    return OpCosts(**kw)


@dataclass
class LayerOps:
    """Operation counts of one layer, summed over the samples counted so far."""

    name: str
    neuron: str  # key of NEURON_OPS
    neurons: int
    presynaptic: int
    input_events: float = 0.0
    synops: float = 0.0  # feed-forward and recurrent together
    recurrent_events: float = 0.0
    synops_recurrent: float = 0.0
    dense_macs: float = 0.0
    neuron_updates: float = 0.0

    @property
    def memory_words(self) -> float:
        """Weight reads (one per SynOp) plus state reads and writes of every update."""
        return self.synops + 2.0 * NEURON_OPS[self.neuron]["state"] * self.neuron_updates

    @property
    def dense_memory_words(self) -> float:
        """Weight reads of the dense network (one per MAC)."""
        return self.dense_macs

    def add(self, other: LayerOps) -> None:
        """Accumulate ``other``'s counts (same layer, more samples)."""
        for k in _COUNT_KEYS[:6]:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def per_sample(self, n: int, costs: OpCosts) -> dict[str, Any]:
        """Counts divided by ``n`` samples, with the energy estimates (pJ)."""
        row: dict[str, Any] = {
            "name": self.name,
            "neuron": self.neuron,
            "neurons": self.neurons,
            "presynaptic": self.presynaptic,
        }
        for k in _COUNT_KEYS:
            row[k] = float(getattr(self, k)) / n
        row.update(_energy(row, self.neuron, costs))
        return row


def _energy(row: Mapping[str, float], neuron: str, c: OpCosts) -> dict[str, float]:
    ops = NEURON_OPS[neuron]
    updates = row["neuron_updates"]
    snn_compute = row["synops"] * c.add_pj + updates * (
        ops["mult"] * c.mult_pj + ops["add"] * c.add_pj
    )
    snn_memory = row["memory_words"] * c.memory_pj
    dense_compute = row["dense_macs"] * (c.mult_pj + c.add_pj)
    dense_memory = row["dense_memory_words"] * c.memory_pj
    return {
        "energy_compute_pj": snn_compute,
        "energy_memory_pj": snn_memory,
        "energy_pj": snn_compute + snn_memory,
        "dense_energy_compute_pj": dense_compute,
        "dense_energy_memory_pj": dense_memory,
        "dense_energy_pj": dense_compute + dense_memory,
    }


def _events(s: torch.Tensor) -> torch.Tensor:
    """Events per presynaptic unit ``[in]`` of ``s`` ``[T, B, in]`` (nonzero entries)."""
    return (s.detach() != 0).sum(dim=(0, 1)).to(torch.float64)


def _fan_out(weight: torch.Tensor) -> torch.Tensor:
    """Nonzero weights per presynaptic unit (column) of ``weight`` ``[out, in]``."""
    return (weight.detach() != 0).sum(dim=0).to(torch.float64)


def _projection(
    name: str, neuron: str, pre: torch.Tensor, weight: torch.Tensor, rec: tuple | None = None
) -> LayerOps:
    """Counts of one layer: presynaptic events ``pre`` through ``weight`` (+ recurrence)."""
    T, B = pre.shape[0], pre.shape[1]
    out_f, in_f = weight.shape
    ev = _events(pre)
    lo = LayerOps(name, neuron, int(out_f), int(in_f))
    lo.input_events = float(ev.sum())
    lo.synops = float((ev * _fan_out(weight)).sum())
    lo.dense_macs = float(T * B * in_f * out_f)
    lo.neuron_updates = float(T * B * out_f)
    if rec is not None:
        spikes, v = rec
        rev = _events(spikes)
        lo.recurrent_events = float(rev.sum())
        lo.synops_recurrent = float((rev * _fan_out(v)).sum())
        lo.synops += lo.synops_recurrent
        lo.dense_macs += float(T * B * v.shape[0] * v.shape[1])
    return lo


def count_ops(model: torch.nn.Module, x: torch.Tensor, out: Any) -> list[LayerOps] | None:
    """Operation counts of one forward pass ``out = model(x)``, summed over the batch.

    ``x`` is the time-major input ``[T, B, n_inputs]``. Returns one :class:`LayerOps` per
    layer (for :class:`~spikegrad.nn.SpikingNetwork`: every hidden layer, then the
    readout), or ``None`` for a model whose operations this module does not model.
    """
    from .coba import CobaSpikingNetwork
    from .network import SpikingNetwork

    spikes = getattr(out, "spikes", None)
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not spikes:
        return None
    if isinstance(model, SpikingNetwork):
        rows = []
        pre = x
        for k, layer in enumerate(model.hidden_layers):
            s = spikes[k]
            rec = (s, layer.rec_weight) if layer.rec_weight is not None else None
            rows.append(_projection(f"hidden {k + 1}", "lif", pre, layer.weight, rec))
            pre = s
        rows.append(_projection("readout", "li", pre, model.readout.weight))
        return rows
    if isinstance(model, CobaSpikingNetwork):
        topo = model.topology
        z = spikes[0]
        w = model.weight
        n_in = topo.n_in
        lo = _projection("network", "coba", x, w[:, :n_in], (z, w[:, n_in:]))
        return [lo]
    return None


class OpCounter:
    """Accumulates :func:`count_ops` over batches; :meth:`report` gives per-sample figures.

    Usage::

        counter = OpCounter()
        for x, y in batches:
            counter.add(model, x, model(x))
        report = counter.report()  # report["total"] holds the SynOps per sample
    """

    def __init__(self) -> None:
        self.layers: list[LayerOps] | None = None
        self.samples = 0
        self.steps = 0
        self.supported = True

    def add(self, model: torch.nn.Module, x: torch.Tensor, out: Any) -> None:
        """Count one batch ``out = model(x)`` (``x`` time-major ``[T, B, ...]``)."""
        if not self.supported:
            return
        rows = count_ops(model, x, out)
        if rows is None:
            self.supported = False
            self.layers = None
            return
        if self.layers is None:
            self.layers = rows
        else:
            for acc, r in zip(self.layers, rows, strict=True):
                acc.add(r)
        self.samples += int(x.shape[1])
        self.steps = int(x.shape[0])

    def report(self, costs: OpCosts | Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Per-sample counts and energy per layer and in total (``None`` if nothing counted).

        Keys: ``layers`` (one dict per layer: :data:`LayerOps` counts, ``memory_words``,
        ``dense_memory_words`` and the ``energy_*_pj`` / ``dense_energy_*_pj``
        estimates), ``total`` (the same summed), ``samples``, ``steps``, ``costs``.
        """
        if not self.supported or self.layers is None or self.samples == 0:
            return None
        c = make_costs(costs)
        layers = [lo.per_sample(self.samples, c) for lo in self.layers]
        total: dict[str, Any] = {"neurons": sum(r["neurons"] for r in layers)}
        for k in (*_COUNT_KEYS, *_ENERGY_KEYS):
            total[k] = sum(r[k] for r in layers)
        return {
            "per": "sample",
            "samples": self.samples,
            "steps": self.steps,
            "layers": layers,
            "total": total,
            "costs": c.to_dict(),
        }


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for a CLI summary: SynOps, dense MACs and the two energy estimates."""
    t = report["total"]
    ratio = t["synops"] / t["dense_macs"] if t["dense_macs"] else float("nan")
    return (
        f"synops {t['synops']:.4g}/sample ({100 * ratio:.2f} % of {t['dense_macs']:.4g} dense "
        f"MACs); energy {t['energy_pj'] / 1e6:.4g} uJ/sample vs {t['dense_energy_pj'] / 1e6:.4g}"
        f" uJ dense (per-op costs: {_short_source(report)})"
    )


def _short_source(report: Mapping[str, Any]) -> str:
    src = str(report.get("costs", {}).get("source", ""))
    return "Horowitz 2014, 45 nm" if src == HOROWITZ_2014 else (src or "user-supplied")

