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
``"synops"``. Models it counts: :class:`~spikegrad.nn.SpikingNetwork` (``lif``),
:class:`~spikegrad.nn.alif.ALIFNetwork` (``alif``: the adaptation variable adds state
and arithmetic per update), :class:`~spikegrad.nn.CobaSpikingNetwork` (``coba``) and
:class:`~spikegrad.nn.sequential.SpikingSequential` (``conv``, ``izhikevich``), layer
by layer:

* LIF / ALIF / Izhikevich layers: the projection above (delayed projections,
  :class:`~spikegrad.nn.delay.DelayedLinear`: one SynOp per nonzero weight *and*
  nonzero delay tap; dense :math:`T\,\text{in}\,\text{out}\,(D+1)`).
* :class:`~spikegrad.nn.conv.SpikingConv2d`: an event at :math:`(c, y, x)` reaches
  every output :math:`(c', y', x')` with :math:`y = y's - p + k_y`,
  :math:`x = x's - p + k_x` inside the output and :math:`w_{c'c k_y k_x} \ne 0`
  (padding, stride and edge truncation included); dense
  :math:`T\,C_\text{out} H_\text{out} W_\text{out} C_\text{in} k^2` MACs.
* pooling: no weights, no neurons; one accumulate (compare) per input event and window
  it lies in; a dense pooling op costs one add.
* :class:`~spikegrad.nn.conv.Flatten`, :class:`~spikegrad.nn.conv.TimeDropout`: explicit
  rows of zeros with the reason (``note``); :class:`~spikegrad.nn.delay.Delay`: one
  write per event and nonzero tap, no neurons.

Spike-time (SRM) layers, and any module without an operation model, get a row
``{"name", "kind", "counted": False, "why"}``; :func:`count_ops` returns ``None`` only
for a model type it does not know at all, and the trainer then stores
:func:`not_counted`'s entry: every trained model has a ``"synops"`` entry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch.nn.grad import conv2d_input

from .._checks import SpikegradInputError

__all__ = [
    "HOROWITZ_2014",
    "NEURON_OPS",
    "LayerOps",
    "OpCosts",
    "OpCounter",
    "SRM_WHY",
    "count_ops",
    "has_counts",
    "make_costs",
    "not_counted",
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
#: ``alif`` (:func:`spikegrad.functional.alif.alif_step`, adaptation on): the LIF update
#: plus :math:`A \leftarrow \rho A + S` and :math:`\Theta = \vartheta + \alpha A`
#: (2 multiplies, 2 adds); state ``U, I, A``. ``conv_lif`` (:class:`~spikegrad.nn.conv.
#: SpikingConv2d`): the LIF update plus the bias add. ``izhikevich``
#: (:func:`spikegrad.functional.izhikevich.izhikevich_step`):
#: :math:`v \leftarrow v + h(0.04 v^2 + 5v + 140 - u + I)` (4 multiplies, 5 adds),
#: :math:`u \leftarrow u + ha(bv - u)` (2 multiplies, 2 adds) and the peak comparison
#: (1 add); state ``v, u`` (the input current has no state: the SynOps accumulate into
#: it). ``none``: no neurons (pooling, delay lines, reshapes).
NEURON_OPS: dict[str, dict[str, int]] = {
    "lif": {"mult": 3, "add": 2, "state": 2},
    "li": {"mult": 3, "add": 1, "state": 2},
    "coba": {"mult": 5, "add": 8, "state": 4},
    "alif": {"mult": 5, "add": 4, "state": 3},
    "conv_lif": {"mult": 3, "add": 3, "state": 2},
    "izhikevich": {"mult": 6, "add": 8, "state": 2},
    "none": {"mult": 0, "add": 0, "state": 0},
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
    kind: str = ""  # the module's class name
    weights: bool = True  # whether a SynOp / MAC reads a weight (pooling: none)
    note: str = ""  # how the layer is counted, where it is not the plain projection
    counted: bool = True
    why: str = ""  # why the layer is not counted (counted=False)

    @property
    def memory_words(self) -> float:
        """Weight reads (one per SynOp) plus state reads and writes of every update."""
        reads = self.synops if self.weights else 0.0
        return reads + 2.0 * NEURON_OPS[self.neuron]["state"] * self.neuron_updates

    @property
    def dense_memory_words(self) -> float:
        """Weight reads of the dense network (one per MAC)."""
        return self.dense_macs if self.weights else 0.0

    def add(self, other: LayerOps) -> None:
        """Accumulate ``other``'s counts (same layer, more samples)."""
        for k in _COUNT_KEYS[:6]:
            setattr(self, k, getattr(self, k) + getattr(other, k))

    def per_sample(self, n: int, costs: OpCosts) -> dict[str, Any]:
        """Counts divided by ``n`` samples, with the energy estimates (pJ).

        A layer that is not counted gives ``{"name", "kind", "counted": False, "why"}``.
        """
        if not self.counted:
            return {"name": self.name, "kind": self.kind, "counted": False, "why": self.why}
        row: dict[str, Any] = {
            "name": self.name,
            "neuron": self.neuron,
            "neurons": self.neurons,
            "presynaptic": self.presynaptic,
        }
        for k in _COUNT_KEYS:
            row[k] = float(getattr(self, k)) / n
        row.update(_energy(row, self.neuron, costs, self.weights))
        row["kind"] = self.kind
        row["counted"] = True
        if self.note:
            row["note"] = self.note
        return row


def _energy(
    row: Mapping[str, float], neuron: str, c: OpCosts, weights: bool = True
) -> dict[str, float]:
    """Energy of one row; without weights (pooling) a dense op is an add, not a MAC."""
    ops = NEURON_OPS[neuron]
    updates = row["neuron_updates"]
    snn_compute = row["synops"] * c.add_pj + updates * (
        ops["mult"] * c.mult_pj + ops["add"] * c.add_pj
    )
    snn_memory = row["memory_words"] * c.memory_pj
    dense_compute = row["dense_macs"] * ((c.mult_pj if weights else 0.0) + c.add_pj)
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
    name: str,
    neuron: str,
    pre: torch.Tensor,
    weight: torch.Tensor,
    rec: tuple | None = None,
    *,
    kind: str = "",
    fan_out: torch.Tensor | None = None,
    macs_per_pair: int = 1,
    note: str = "",
) -> LayerOps:
    """Counts of one layer: presynaptic events ``pre`` through ``weight`` (+ recurrence).

    ``fan_out`` (per presynaptic unit) replaces the nonzero count of ``weight``'s columns
    (delayed synapses: one delivery per nonzero tap); ``macs_per_pair`` multiplies the
    dense MACs per (input, output) pair (the taps of a delayed projection).
    """
    T, B = pre.shape[0], pre.shape[1]
    out_f, in_f = weight.shape
    ev = _events(pre)
    lo = LayerOps(name, neuron, int(out_f), int(in_f), kind=kind, note=note)
    lo.input_events = float(ev.sum())
    fo = _fan_out(weight) if fan_out is None else fan_out
    lo.synops = float((ev * fo).sum())
    lo.dense_macs = float(T * B * in_f * out_f * macs_per_pair)
    lo.neuron_updates = float(T * B * out_f)
    if rec is not None:
        spikes, v = rec
        rev = _events(spikes)
        lo.recurrent_events = float(rev.sum())
        lo.synops_recurrent = float((rev * _fan_out(v)).sum())
        lo.synops += lo.synops_recurrent
        lo.dense_macs += float(T * B * v.shape[0] * v.shape[1])
    return lo


def _delay_taps_nonzero(module: torch.nn.Module) -> torch.Tensor:
    """Nonzero taps of every delay of a :class:`~spikegrad.nn.delay.Delay` or
    :class:`~spikegrad.nn.delay.DelayedLinear` (``delays.shape``): the slots of the delay
    line one event is written into (1 for an integer delay, 2 for a fractional linear one)."""
    from ..functional.delay import _step_args, delay_taps

    m: Any = module
    d, D, sigma = _step_args(m.delays.detach(), m.max_delay, m.sigma, m.dt)  # as the forward
    return (delay_taps(d, D, m.mode, sigma) != 0).sum(-1).to(torch.float64)


_DELAY_NOTE = (
    "delayed synapses: one SynOp per nonzero weight and nonzero delay tap (an event is "
    "written into the 1 or 2 slots of its delay line; gaussian taps: every nonzero tap); "
    "dense: every tap of every synapse, every step"
)


def _lif_ops(name: str, layer: torch.nn.Module, pre: torch.Tensor, s: torch.Tensor) -> LayerOps:
    """A :class:`~spikegrad.nn.LIFLayer` / ``ALIFLayer`` (projection and recurrence included)."""
    from .alif import ALIFLayer
    from .delay import DelayedLinear

    lay: Any = layer
    neuron = "alif" if isinstance(layer, ALIFLayer) else "lif"
    rec = (s, lay.rec_weight) if lay.rec_weight is not None else None
    kind = type(layer).__name__
    proj = lay.projection
    if isinstance(proj, DelayedLinear):
        taps = _delay_taps_nonzero(proj)  # [out, in]
        nz = (proj.weight.detach() != 0).to(torch.float64)
        return _projection(name, neuron, pre, lay.weight, rec, kind=kind,
                           fan_out=(nz * taps).sum(0), macs_per_pair=proj.max_steps + 1,
                           note=_DELAY_NOTE)  # fmt: skip
    note = "" if proj is None else (
        f"projection {type(proj).__name__} counted as its weight matrix (one SynOp per "
        "nonzero weight)"
    )
    return _projection(name, neuron, pre, lay.weight, rec, kind=kind, note=note)


def _conv_out(size: int, k: int, s: int, p: int, d: int = 1) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def _conv_ops(name: str, layer: torch.nn.Module, pre: torch.Tensor) -> tuple[LayerOps, tuple]:
    r"""A :class:`~spikegrad.nn.conv.SpikingConv2d` on events ``pre`` ``[T, B, C, H, W]``.

    The fan-out of an input at :math:`(c, y, x)` is the number of outputs
    :math:`(c', y', x')` with a nonzero weight :math:`w_{c' c\, k_y k_x}` and
    :math:`y = y' s - p + k_y`, :math:`x = x' s - p + k_x` inside the output (edge
    truncation and stride included): the transposed convolution of a ones output with
    the nonzero pattern of the kernel. Returns the counts and the output shape.
    """
    conv: Any = layer.conv  # type: ignore[union-attr]
    T, B, C, H, W = pre.shape
    k = conv.kernel_size
    st, pd, dl = conv.stride, conv.padding, conv.dilation
    Ho, Wo = _conv_out(H, k[0], st[0], pd[0], dl[0]), _conv_out(W, k[1], st[1], pd[1], dl[1])
    nz = (conv.weight.detach() != 0).to(torch.float64)
    Co = nz.shape[0]
    fan = conv2d_input(
        (1, C, H, W), nz, torch.ones(1, Co, Ho, Wo, dtype=torch.float64), stride=st,
        padding=pd, dilation=dl, groups=conv.groups,
    )[0]  # [C, H, W]
    ev = (pre.detach() != 0).sum(dim=(0, 1)).to(torch.float64)
    n_out = Co * Ho * Wo
    lo = LayerOps(name, "conv_lif", int(n_out), int(C * H * W), kind=type(layer).__name__,
                  note="SynOps: each input event x the outputs its kernel reaches (padding "
                  "and stride); dense: C_out H_out W_out C_in k k MACs per step")  # fmt: skip
    lo.input_events = float(ev.sum())
    lo.synops = float((ev * fan).sum())
    lo.dense_macs = float(T * B * n_out * nz[0].numel())
    lo.neuron_updates = float(T * B * n_out)
    return lo, (Co, Ho, Wo)


def _pool_ops(name: str, layer: torch.nn.Module, pre: torch.Tensor) -> LayerOps:
    """A pooling module (avg / max / sum): no weights, no neurons; each input event is
    accumulated (compared, for max) once per window it lies in."""
    pool: Any = layer
    T, B, C, H, W = pre.shape
    k, s = pool.kernel_size, pool.stride
    Ho, Wo = _conv_out(H, k, s, 0), _conv_out(W, k, s, 0)
    fan = conv2d_input(
        (1, 1, H, W), torch.ones(1, 1, k, k, dtype=torch.float64),
        torch.ones(1, 1, Ho, Wo, dtype=torch.float64), stride=s,
    )[0, 0]  # [H, W]: windows each input position lies in
    ev = (pre.detach() != 0).sum(dim=(0, 1)).to(torch.float64)
    lo = LayerOps(name, "none", 0, int(C * H * W), kind=type(layer).__name__, weights=False,
                  note=f"{pool.kind} pooling, no weights or neurons: one accumulate "
                  "(compare, for max) per input event and window; dense: every window "
                  "entry every step")  # fmt: skip
    lo.input_events = float(ev.sum())
    lo.synops = float((ev * fan).sum())
    lo.dense_macs = float(T * B * C * Ho * Wo * k * k)
    return lo


def _zero_ops(name: str, layer: torch.nn.Module, pre: torch.Tensor, note: str) -> LayerOps:
    """A module without synapses or neurons: an explicit row of zeros and the reason."""
    n = int(pre[0, 0].numel())
    return LayerOps(name, "none", 0, n, kind=type(layer).__name__, weights=False, note=note)


def _not_counted(name: str, layer: torch.nn.Module, why: str) -> LayerOps:
    return LayerOps(name, "none", 0, 0, kind=type(layer).__name__, counted=False, why=why)


def _sequential_ops(model: torch.nn.Module, x: torch.Tensor, spikes: tuple) -> list[LayerOps]:
    """Every module of a :class:`~spikegrad.nn.sequential.SpikingSequential`, then the readout.

    Each layer's input is rebuilt from the recorded spikes of the spiking layers; pooling,
    flatten and delay modules are re-applied to them (cheap, deterministic); dropout is
    counted as the identity it is in eval mode.
    """
    from .conv import Flatten, SpikingConv2d, TimeDropout, _Pool
    from .delay import Delay
    from .izhikevich import IzhikevichLayer
    from .lif import LIFLayer
    from .sequential import is_spiking

    seq: Any = model
    T, B = x.shape[0], x.shape[1]
    h = seq._reshape(x.detach())
    rows: list[LayerOps] = []
    seen: dict[str, int] = {}
    k = 0  # index into spikes

    def label(short: str) -> str:
        seen[short] = seen.get(short, 0) + 1
        return f"{short} {seen[short]}"

    with torch.no_grad():
        for layer in seq.layers:
            out = None
            if is_spiking(layer):
                out = spikes[k].detach()
                k += 1
            if isinstance(layer, SpikingConv2d):
                lo, shape = _conv_ops(label("conv"), layer, h)
                rows.append(lo)
                h = out.reshape(T, B, *shape)  # type: ignore[union-attr]
            elif isinstance(layer, LIFLayer):  # ALIFLayer included
                short = "alif" if type(layer).__name__ == "ALIFLayer" else "lif"
                rows.append(_lif_ops(label(short), layer, h, out))  # type: ignore[arg-type]
                h = out  # type: ignore[assignment]
            elif isinstance(layer, IzhikevichLayer):
                rows.append(_projection(label("izhikevich"), "izhikevich", h, layer.weight,
                                        kind="IzhikevichLayer"))  # fmt: skip
                h = out  # type: ignore[assignment]
            elif isinstance(layer, _Pool):
                rows.append(_pool_ops(label(f"{layer.kind}pool"), layer, h))
                h = layer(h)
            elif isinstance(layer, Flatten):
                rows.append(_zero_ops(label("flatten"), layer, h,
                                      "no synapses or neurons: a reshape"))  # fmt: skip
                h = layer(h)
            elif isinstance(layer, TimeDropout):
                rows.append(_zero_ops(label("dropout"), layer, h,
                                      "no synapses or neurons: a mask in training, the "
                                      "identity in eval mode (counted as the identity)"))
            elif isinstance(layer, Delay):
                fo = _delay_taps_nonzero(layer)
                lo = _projection(label("delay"), "none", h, torch.eye(layer.n), kind="Delay",
                                 fan_out=fo, macs_per_pair=layer.max_steps + 1,
                                 note="per-channel delay line, no neurons: one write per "
                                 "event and nonzero tap; dense: every tap every step")
                lo.dense_macs = float(T * B * layer.n * (layer.max_steps + 1))
                lo.neuron_updates = 0.0
                lo.neurons = 0
                rows.append(lo)
                h = layer(h)
            else:
                rows.append(_not_counted(label(type(layer).__name__.lower()), layer,
                                         f"{type(layer).__name__} is not modelled by "
                                         "spikegrad.nn.energy"))  # fmt: skip
                h = out if out is not None else layer(h)
        ro = _projection("readout", "li", h, seq.readout.weight, kind="Readout")
    rows.append(ro)
    return rows


#: why spike-time (SRM) models have no SynOps entry
SRM_WHY = (
    "SRM0 layers compute on spike times (kernel sums per input spike and output time "
    "slot), not on per-step events; spikegrad.nn.energy has no operation model for them"
)


def count_ops(model: torch.nn.Module, x: torch.Tensor, out: Any) -> list[LayerOps] | None:
    """Operation counts of one forward pass ``out = model(x)``, summed over the batch.

    ``x`` is the time-major input ``[T, B, n_inputs]``. Returns one :class:`LayerOps` per
    layer (for :class:`~spikegrad.nn.SpikingNetwork`: every hidden layer, then the
    readout; for :class:`~spikegrad.nn.sequential.SpikingSequential`: every module, then
    the readout; for SRM models one ``counted=False`` row per layer with the reason), or
    ``None`` for a model type this module does not know.
    """
    from .coba import CobaSpikingNetwork
    from .network import SpikingNetwork
    from .sequential import SpikingSequential

    if getattr(model, "kind", None) == "srm":
        from .srm import srm_layers

        return [_not_counted(f"srm {k + 1}", m, SRM_WHY)
                for k, m in enumerate(srm_layers(model))]  # fmt: skip
    spikes = getattr(out, "spikes", None)
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or not spikes:
        return None
    if isinstance(model, SpikingNetwork):  # ALIFNetwork included
        rows = []
        pre = x
        for k, layer in enumerate(model.hidden_layers):
            s = spikes[k]
            rows.append(_lif_ops(f"hidden {k + 1}", layer, pre, s))
            pre = s
        rows.append(_projection("readout", "li", pre, model.readout.weight, kind="Readout"))
        return rows
    if isinstance(model, SpikingSequential):
        return _sequential_ops(model, x, spikes)
    if isinstance(model, CobaSpikingNetwork):
        topo = model.topology
        z = spikes[0]
        w = model.weight
        n_in = topo.n_in
        lo = _projection("network", "coba", x, w[:, :n_in], (z, w[:, n_in:]),
                         kind="CobaSpikingNetwork")  # fmt: skip
        return [lo]
    return None


def not_counted(model: torch.nn.Module) -> dict[str, Any]:
    """The ``metrics["synops"]`` entry of a model :func:`count_ops` does not know."""
    return {
        "counted": False,
        "why": f"{type(model).__name__} is not a model type spikegrad.nn.energy counts "
        "(SpikingNetwork, ALIFNetwork, SpikingSequential, CobaSpikingNetwork)",
    }


def has_counts(report: Mapping[str, Any] | None) -> bool:
    """Whether an operation report holds at least one counted layer (something to plot)."""
    rows = report.get("layers") if isinstance(report, Mapping) else None
    return bool(rows) and any(r.get("counted", True) for r in rows)  # type: ignore[union-attr]


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
        if isinstance(x, torch.Tensor) and x.dim() >= 2:
            self.samples += int(x.shape[1])
            self.steps = int(x.shape[0])
        else:  # spike trains of an SRM model: [B, N, M] times
            times = getattr(x, "times", None)
            self.samples += int(times.shape[0]) if times is not None and times.dim() == 3 else 1

    def report(self, costs: OpCosts | Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """Per-sample counts and energy per layer and in total (``None`` if nothing counted).

        Keys: ``layers`` (one dict per layer: :data:`LayerOps` counts, ``memory_words``,
        ``dense_memory_words``, the ``energy_*_pj`` / ``dense_energy_*_pj`` estimates,
        ``kind`` (the module class), ``counted: True`` and, where the layer is not a
        plain projection, a ``note``; a layer without an operation model is
        ``{"name", "kind", "counted": False, "why"}``), ``total`` (the counted layers
        summed), ``samples``, ``steps``, ``costs``.
        """
        if not self.supported or self.layers is None or self.samples == 0:
            return None
        c = make_costs(costs)
        layers = [lo.per_sample(self.samples, c) for lo in self.layers]
        counted = [r for r in layers if r["counted"]]
        total: dict[str, Any] = {"neurons": sum(r["neurons"] for r in counted)}
        for k in (*_COUNT_KEYS, *_ENERGY_KEYS):
            total[k] = sum(r[k] for r in counted)
        return {
            "per": "sample",
            "samples": self.samples,
            "steps": self.steps,
            "layers": layers,
            "total": total,
            "costs": c.to_dict(),
        }


def summary_line(report: Mapping[str, Any]) -> str:
    """One line for a CLI summary: SynOps, dense MACs and the two energy estimates
    (or why nothing was counted)."""
    if not has_counts(report):
        rows = report.get("layers") or [report]
        why = next((str(r.get("why")) for r in rows if r.get("why")), "no layer counted")
        return f"synops: not counted ({why})"
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

