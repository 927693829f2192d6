r"""EventProp (Wunderlich & Pehle 2021): the exact gradient of an event-driven LIF network.

The model is the **continuous-time** current-based LIF network behind
:class:`~spikegrad.nn.SpikingNetwork` (hidden layers feed-forward or recurrent, stacked,
leaky non-spiking readout), integrated exactly between events (no time grid inside a step).
The hidden layers form one population (:func:`population`): input weights :math:`W`, a
coupling :math:`C` (recurrent weights on the diagonal blocks, the next layer's input
weights below them), readout :math:`W^o` on the last layer:

.. math::

    \tau_m \dot V = -V + I, \qquad \tau_s \dot I = -I, \qquad
    I \mathrel{+}= \textstyle\sum_i W_{ji}\, x_i[n] \text{ at } t = n\,\Delta t, \\
    V_j(t_s) = 1 \;\Rightarrow\; \text{spike at } t_s,\; V_j \leftarrow 0,\;
    I_k \mathrel{+}= C_{kj}; \qquad
    \tau^o_m \dot V^o = -V^o + I^o,\quad \tau^o_s \dot I^o = -I^o,\quad
    I^o_k \mathrel{+}= W^o_{kj} \text{ at each spike } t_s \text{ of } j,

with :math:`V^o(0) = u_0`. Between events :math:`z = (V, I)` evolves as
:math:`z(t+\Delta) = e^{M\Delta} z(t)`, :math:`V(t+\Delta) = e^{-\Delta/\tau_m} V +
a\,(e^{-\Delta/\tau_s} - e^{-\Delta/\tau_m})\, I`, :math:`a = \tau_s/(\tau_s-\tau_m)`, so
spike times are the roots of a sum of two exponentials (bracketed at the trajectory's
extremum and found by bisection to float precision; a crossing and re-crossing inside one
step is detected through the extremum). The readout is sampled at the grid times
:math:`n\Delta t` and the loss is the task's own loss of that trace (``readout_mode``
included): :math:`g_n = \partial\mathcal L/\partial V^o(n\Delta t)` by autograd of the
``[T, B, K]`` trace alone.

**Forward** stores the events only: per spike its time :math:`t_s` and current
:math:`I(t_s)` (plus the readout trace, ``T x B x K``, for the loss). **Backward** runs
the adjoints :math:`\lambda = (\lambda_V, \lambda_I)` from :math:`T\Delta t` to 0,
:math:`\lambda(t - \Delta) = e^{M^\top\Delta}\lambda(t)` between events, with jumps

.. math::

    \lambda^o_V &\mathrel{+}= g_n \text{ at } t = n\Delta t, \\
    \frac{\partial\mathcal L}{\partial t_s} &= \sum_k W^o_{kj}
        \Big(\frac{\lambda^o_{I,k}}{\tau^o_s} - \frac{\lambda^o_{V,k}}{\tau^o_m}\Big)
        + \sum_k C_{kj}
        \Big(\frac{\lambda_{I,k}}{\tau_s} - \frac{\lambda_{V,k}}{\tau_m}\Big),
    \qquad
    \lambda_V^- = \frac{\dot V^+}{\dot V^-}\lambda_V^+
        - \frac{1}{\dot V^-}\frac{\partial\mathcal L}{\partial t_s},\quad
    \lambda_I^- = \lambda_I^+

at a spike of hidden neuron :math:`j` (:math:`\dot V^- = (I_j(t_s^-) - 1)/\tau_m`,
:math:`\dot V^+ = I_j(t_s^-)/\tau_m`, the self-coupling :math:`C_{jj}` counted in the sum;
all adjoints at :math:`t_s^+`, other components continuous), and the gradients

.. math::

    \frac{\partial\mathcal L}{\partial W^o_{kj}} = \sum_{s \in j} \lambda^o_{I,k}(t_s),
    \qquad
    \frac{\partial\mathcal L}{\partial C_{kj}} = \sum_{s \in j} \lambda_{I,k}(t_s),
    \qquad
    \frac{\partial\mathcal L}{\partial W_{ji}} = \sum_n x_i[n]\,\lambda_{I,j}(n\Delta t).

This is the exact gradient of the event-driven model wherever the spike count does not
change (tested against float64 central finite differences). With a coupling the neurons of
one sample advance together from spike to spike; the model has no rate cap (no refractory
period), so strong self-excitation runs away inside a step and is refused.

It is *not* the gradient of the discrete-time eq. 4.1 forward that ``model(x)`` (and so
evaluation) runs, which approximates this model on the ``dt`` grid (compared in the limit
of small ``dt`` by ``bench/eventprop_dt.py``); the activity regulariser, piecewise constant
in the weights, adds its value but no gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from ..._checks import SpikegradInputError
from .base import Rule, RuleStep

__all__ = [
    "EventGrads",
    "EventProp",
    "EventRecord",
    "Population",
    "eventprop_backward",
    "population",
    "simulate_events",
]

_BISECT = 64  # bisection steps: the bracket (<= dt) shrinks below float64 resolution


class _Taus(NamedTuple):
    tau_m: float
    tau_s: float

    @property
    def a(self) -> float:
        return self.tau_s / (self.tau_s - self.tau_m)

    def propagate(self, v: torch.Tensor, i: torch.Tensor, d: torch.Tensor | float):
        r""":math:`e^{M\Delta}(V, I)`."""
        em, es = _exp(-d / self.tau_m), _exp(-d / self.tau_s)
        return em * v + self.a * (es - em) * i, es * i

    def adjoint(self, lv: torch.Tensor, li: torch.Tensor, d: torch.Tensor | float):
        r""":math:`e^{M^\top\Delta}(\lambda_V, \lambda_I)` (backward by :math:`\Delta`)."""
        em, es = _exp(-d / self.tau_m), _exp(-d / self.tau_s)
        return em * lv, self.a * (es - em) * lv + es * li


def _exp(z: torch.Tensor | float) -> torch.Tensor | float:
    return torch.exp(z) if isinstance(z, torch.Tensor) else math.exp(z)


class EventGrads(NamedTuple):
    """Gradients of the adjoint pass: input weights, readout weights, coupling (or None)."""

    weight: torch.Tensor
    readout: torch.Tensor
    coupling: torch.Tensor | None


class EventRecord(NamedTuple):
    """The spikes of one time step: batch and neuron indices, time in the step, current."""

    b: torch.Tensor
    j: torch.Tensor
    tau: torch.Tensor
    current: torch.Tensor


def _first_crossing(v: torch.Tensor, i: torch.Tensor, rem: torch.Tensor, tau: _Taus):
    r"""Time of the first crossing of :math:`V = 1` within ``(0, rem]`` (NaN where none).

    All arguments are 1-D (the candidate neurons); bisection runs on the crossing ones only.
    """
    A, B = v - tau.a * i, tau.a * i  # V(t) = A e^{-t/tau_m} + B e^{-t/tau_s}
    km, ks = 1.0 / tau.tau_m, 1.0 / tau.tau_s
    # extremum: A km e^{-t km} = -B ks e^{-t ks}  =>  t* = log(-B ks / (A km)) / (ks - km)
    ratio = -B * ks / (A * km)
    t_ext = torch.where(
        ratio > 0, torch.log(ratio.clamp_min(1e-300)) / (ks - km), torch.full_like(v, -1.0)
    )
    inside = (t_ext > 0) & (t_ext < rem)
    v_ext = tau.propagate(v, i, t_ext.clamp(min=0.0))[0]
    v_end = tau.propagate(v, i, rem)[0]
    is_max = inside & (v_ext >= v) & (v_ext >= v_end)
    cross_max = is_max & (v_ext > 1.0)
    cross = cross_max | (v_end > 1.0)
    out = torch.full_like(v, math.nan)
    k = cross.nonzero(as_tuple=True)[0]
    if len(k) == 0:
        return out
    lo = torch.where(inside[k] & ~is_max[k], t_ext[k], 0.0)  # after a minimum
    hi = torch.where(cross_max[k], t_ext[k], rem[k])
    vk, ik = v[k], i[k]
    for _ in range(_BISECT):
        mid = 0.5 * (lo + hi)
        up = tau.propagate(vk, ik, mid)[0] > 1.0
        hi, lo = torch.where(up, mid, hi), torch.where(up, lo, mid)
    out[k] = hi
    return out


@torch.no_grad()
def simulate_events(
    x: torch.Tensor,
    weight: torch.Tensor,
    readout_weight: torch.Tensor,
    dt: float,
    hidden: tuple[float, float],
    readout: tuple[float, float],
    u0: float = 0.0,
    max_spikes_per_step: int = 100,
    coupling: torch.Tensor | None = None,
) -> tuple[torch.Tensor, list[list[EventRecord]], torch.Tensor]:
    r"""The event-driven forward pass (module docstring), storing spike events only.

    Parameters
    ----------
    x:
        Input spikes ``[T, B, N_in]``; step ``n`` arrives at :math:`t = n\Delta t`.
    weight, readout_weight:
        :math:`W` ``[N, N_in]`` and :math:`W^o` ``[K, N]``.
    dt:
        Grid step :math:`\Delta t` (s): input times and readout samples.
    hidden, readout:
        :math:`(\tau_m, \tau_s)` of the hidden layer and of the readout (s, unequal).
    u0:
        Initial readout membrane.
    max_spikes_per_step:
        Guard against a runaway loop (a neuron firing more often inside one step).
    coupling:
        :math:`C` ``[N, N]`` or ``None``: a spike of hidden neuron :math:`j` at :math:`t_s`
        adds :math:`C_{kj}` to :math:`I_k` (recurrent weights, and the feed-forward
        weights between stacked layers as off-diagonal blocks, see :func:`population`).
        With a coupling the neurons of one sample are advanced together from event to
        event (one spike per sample per pass); without, each neuron on its own.

    Returns
    -------
    readout, events, counts
        :math:`V^o(n\Delta t)` ``[T, B, K]``, per step the list of
        :class:`EventRecord` (one per spike rank inside the step), spike counts ``[B, N]``.
    """
    T, B, _ = x.shape
    N, K = weight.shape[0], readout_weight.shape[0]
    th, to = _Taus(*hidden), _Taus(*readout)
    v, i = x.new_zeros(B, N), x.new_zeros(B, N)
    vo, io = x.new_full((B, K), float(u0)), x.new_zeros(B, K)
    counts = x.new_zeros(B, N)
    trace, events = x.new_empty(T, B, K), []
    for n in range(T):
        trace[n] = vo
        i = i + x[n] @ weight.t()
        if coupling is not None:
            v, i, crecs = _coupled_step(v, i, counts, coupling, dt, th, max_spikes_per_step * N)
            vo, io = _readout_step(vo, io, crecs, readout_weight, dt, to)
            events.append(crecs)
            continue
        start = x.new_zeros(B, N)  # time in the step where (v, i) is
        recs: list[EventRecord] = []
        cand = torch.arange(B * N)  # first rank: every neuron; then the ones that fired
        for _ in range(max_spikes_per_step):
            vf, i_f, sf = v.view(-1), i.view(-1), start.view(-1)
            t_rel = _first_crossing(vf[cand], i_f[cand], dt - sf[cand], th)
            hit = ~torch.isnan(t_rel)
            if not bool(hit.any()):
                break
            cand, d = cand[hit], t_rel[hit]
            v_new, i_new = th.propagate(vf[cand], i_f[cand], d)
            t_s = sf[cand] + d
            recs.append(EventRecord(cand // N, cand % N, t_s, i_new))
            v, i, start = v.clone(), i.clone(), start.clone()
            v.view(-1)[cand] = 0.0
            i.view(-1)[cand] = i_new
            start.view(-1)[cand] = t_s
            counts.view(-1)[cand] += 1.0
        else:
            raise SpikegradInputError(
                f"eventprop: more than {max_spikes_per_step} spikes of one neuron in one "
                "step; lower the weights or dt"
            )
        v, i = th.propagate(v, i, dt - start)
        vo, io = _readout_step(vo, io, recs, readout_weight, dt, to)
        events.append(recs)
    return trace, events, counts


def _readout_step(
    vo: torch.Tensor,
    io: torch.Tensor,
    recs: list[EventRecord],
    readout_weight: torch.Tensor,
    dt: float,
    to: _Taus,
):
    """The readout over one step: free evolution plus each spike's jump carried to its end."""
    vo, io = to.propagate(vo, io, dt)
    for r in recs:
        w = readout_weight[:, r.j].t()  # [E, K]
        dv, di = to.propagate(torch.zeros_like(w), w, (dt - r.tau)[:, None])
        vo = vo.index_add(0, r.b, dv)
        io = io.index_add(0, r.b, di)
    return vo, io


def _coupled_step(
    v: torch.Tensor,
    i: torch.Tensor,
    counts: torch.Tensor,
    coupling: torch.Tensor,
    dt: float,
    th: _Taus,
    max_events: int,
):
    r"""One step of the coupled population: per sample the earliest crossing first.

    Every pass finds, for each sample, the first threshold crossing over all its neurons
    in what is left of the step, advances that sample's neurons to it, resets the spiking
    neuron and adds :math:`C_{:,j}` to the currents; the other samples stay where they are.
    ``counts`` is updated in place. Returns the state at the step's end and the events.
    """
    B, N = v.shape
    start = v.new_zeros(B)  # time in the step where the sample's state is
    recs: list[EventRecord] = []
    for _ in range(max_events):
        rem = (dt - start)[:, None].expand(B, N).reshape(-1)
        t_rel = _first_crossing(v.reshape(-1), i.reshape(-1), rem, th).view(B, N)
        d, j = torch.nan_to_num(t_rel, nan=math.inf).min(1)
        b = torch.isfinite(d).nonzero(as_tuple=True)[0]
        if len(b) == 0:
            break
        d, j = d[b], j[b]
        e = torch.arange(len(b))
        vb, ib = th.propagate(v[b], i[b], d[:, None])
        cur = ib[e, j]
        vb[e, j] = 0.0
        ib = ib + coupling[:, j].t()
        v, i = v.index_put((b,), vb), i.index_put((b,), ib)
        start = start.index_put((b,), start[b] + d)
        counts.index_put_((b, j), torch.ones_like(d), accumulate=True)
        recs.append(EventRecord(b, j, start[b], cur))
    else:
        raise SpikegradInputError(
            f"eventprop: more than {max_events} spikes of one sample in one step; lower "
            "the weights or dt"
        )
    v, i = th.propagate(v, i, (dt - start)[:, None])
    return v, i, recs


@torch.no_grad()
def eventprop_backward(
    x: torch.Tensor,
    events: list[list[EventRecord]],
    g: torch.Tensor,
    weight: torch.Tensor,
    readout_weight: torch.Tensor,
    dt: float,
    hidden: tuple[float, float],
    readout: tuple[float, float],
    coupling: torch.Tensor | None = None,
) -> EventGrads:
    r"""The adjoint pass: :math:`\partial\mathcal L/\partial W`, :math:`\partial\mathcal
    L/\partial W^o` and :math:`\partial\mathcal L/\partial C` (``None`` without a
    coupling) from the stored events and :math:`g_n` ``[T, B, K]`` (module docstring).
    """
    T, B, _ = x.shape
    N, K = weight.shape[0], readout_weight.shape[0]
    th, to = _Taus(*hidden), _Taus(*readout)
    lv, li = x.new_zeros(B, N), x.new_zeros(B, N)
    lov, loi = x.new_zeros(B, K), x.new_zeros(B, K)
    gw, gwo = torch.zeros_like(weight), torch.zeros_like(readout_weight)
    gc = None if coupling is None else torch.zeros_like(coupling)
    for n in reversed(range(T)):
        if coupling is None:
            cur = x.new_full((B, N), dt)  # time in the step where (lv, li) is, per neuron
        else:
            cur = x.new_full((B, 1), dt)  # ... per sample (its neurons move together)
        for r in reversed(events[n]):  # later spike ranks first
            e = torch.arange(len(r.j))
            # readout adjoint at t_s (no readout jump inside the open step)
            ov, oi = to.adjoint(lov[r.b], loi[r.b], (dt - r.tau)[:, None])  # [E, K]
            w = readout_weight[:, r.j].t()  # [E, K]
            gwo.index_put_(
                (torch.arange(K).repeat(len(r.j)), r.j.repeat_interleave(K)),
                oi.reshape(-1),
                accumulate=True,
            )
            dl_dt = (w * (oi / to.tau_s - ov / to.tau_m)).sum(1)
            if coupling is None or gc is None:
                # hidden adjoint of the spiking neuron to t_s^+
                hv, hi = th.adjoint(lv[r.b, r.j], li[r.b, r.j], cur[r.b, r.j] - r.tau)
            else:
                # every neuron of the sample to t_s^+; the coupling's share of dL/dt_s
                av, ai = th.adjoint(lv[r.b], li[r.b], (cur[r.b, 0] - r.tau)[:, None])
                c = coupling[:, r.j].t()  # [E, N]
                gc.index_put_(
                    (torch.arange(N).repeat(len(r.j)), r.j.repeat_interleave(N)),
                    ai.reshape(-1),
                    accumulate=True,
                )
                dl_dt = dl_dt + (c * (ai / th.tau_s - av / th.tau_m)).sum(1)
                hv, hi = av[e, r.j], ai[e, r.j]
            vdot_minus = (r.current - 1.0) / th.tau_m
            vdot_plus = r.current / th.tau_m
            hv = (vdot_plus / vdot_minus) * hv - dl_dt / vdot_minus
            if coupling is None:
                lv = lv.index_put((r.b, r.j), hv)
                li = li.index_put((r.b, r.j), hi)
                cur = cur.index_put((r.b, r.j), r.tau)
            else:
                av[e, r.j] = hv
                lv, li = lv.index_put((r.b,), av), li.index_put((r.b,), ai)
                cur = cur.index_put((r.b,), r.tau[:, None])
        lv, li = th.adjoint(lv, li, cur)
        gw += li.t() @ x[n]
        lov, loi = to.adjoint(lov, loi, dt)
        lov = lov + g[n]
    return EventGrads(gw, gwo, gc)


class Population(NamedTuple):
    r"""A :class:`~spikegrad.nn.SpikingNetwork`'s hidden layers as one population.

    ``weight`` :math:`W` ``[N, N_in]`` (the first layer's rows, zeros below), ``coupling``
    :math:`C` ``[N, N]`` (layer :math:`l`'s recurrent weights on the diagonal block
    :math:`(l, l)`, layer :math:`l+1`'s input weights on block :math:`(l+1, l)`; ``None`` for
    one feed-forward layer), ``readout`` :math:`W^o` ``[K, N]`` (the last layer's columns)
    and ``slices``, each layer's rows.
    """

    weight: torch.Tensor
    coupling: torch.Tensor | None
    readout: torch.Tensor
    slices: tuple[slice, ...]


def population(model: Any) -> Population:
    """The hidden layers of ``model`` stacked into one coupled population (detached)."""
    layers, ro = model.hidden_layers, model.readout
    sizes = [int(layer.out_features) for layer in layers]
    edges = [0]
    for n in sizes:
        edges.append(edges[-1] + n)
    sl = tuple(slice(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True))
    W0 = layers[0].weight.detach()
    if len(layers) == 1 and layers[0].rec_weight is None:
        return Population(W0, None, ro.weight.detach(), sl)
    N = edges[-1]
    W = W0.new_zeros(N, W0.shape[1])
    W[sl[0]] = W0
    C = W0.new_zeros(N, N)
    for k, layer in enumerate(layers):
        if k > 0:
            C[sl[k], sl[k - 1]] = layer.weight.detach()
        if layer.rec_weight is not None:
            C[sl[k], sl[k]] = layer.rec_weight.detach()
    Wo = W0.new_zeros(ro.weight.shape[0], N)
    Wo[:, sl[-1]] = ro.weight.detach()
    return Population(W, C, Wo, sl)


@dataclass
class EventProp(Rule):
    """EventProp (Wunderlich & Pehle 2021): exact adjoint of the event-driven LIF model."""

    name: ClassVar[str] = "eventprop"
    models: ClassVar[tuple[str, ...]] = ("lif",)
    exact: ClassVar[bool] = True

    def _check_model(self, model: Any) -> None:
        from ...nn import SpikingNetwork

        if not isinstance(model, SpikingNetwork):
            raise SpikegradInputError("rule 'eventprop' trains a SpikingNetwork: use --rule bptt")
        layers, ro = model.hidden_layers, model.readout
        if (
            any(
                layer.neuron_options or layer.taus.learn_tau or layer.projection is not None
                for layer in layers
            )
            or ro.taus.learn_tau
        ):
            raise SpikegradInputError(
                "rule 'eventprop' simulates threshold 1, no refractory period, no delays and "
                "fixed time constants: use --rule bptt"
            )
        taus = {(float(layer.taus.tau_mem), float(layer.taus.tau_syn)) for layer in layers}
        if len(taus) > 1:
            raise SpikegradInputError(
                "rule 'eventprop' needs the same tau_mem and tau_syn in every hidden layer"
            )
        for t in (layers[0].taus, ro.taus):
            if float(t.tau_mem) == float(t.tau_syn):
                raise SpikegradInputError(
                    "rule 'eventprop' needs tau_mem != tau_syn (closed-form trajectories)"
                )

    @staticmethod
    def _setup(model: Any) -> dict:
        layer, ro = model.hidden_layers[0], model.readout
        return dict(
            dt=float(layer.taus.dt),
            hidden=(float(layer.taus.tau_mem), float(layer.taus.tau_syn)),
            readout=(float(ro.taus.tau_mem), float(ro.taus.tau_syn)),
        )

    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """Event-driven forward, the task loss of the sampled readout, adjoint backward."""
        from ...nn.network import SNNOutput

        net: Any = model  # a SpikingNetwork (checked by check_model)
        layers, ro = net.hidden_layers, net.readout
        for p in model.parameters():
            p.grad = None
        kw = self._setup(model)
        pop = population(net)
        trace, events, counts = simulate_events(
            x, pop.weight, pop.readout, u0=ro.u0, coupling=pop.coupling, **kw
        )
        spikes = tuple(counts[None, :, s] for s in pop.slices)
        leaf = trace.requires_grad_(True)
        loss = task.loss(model, SNNOutput(leaf, spikes, ()), y)
        (g,) = torch.autograd.grad(loss, leaf, allow_unused=True)
        if g is None:
            g = torch.zeros_like(trace)
        grads = eventprop_backward(
            x, events, g, pop.weight, pop.readout, coupling=pop.coupling, **kw
        )
        sl = pop.slices
        found: list[tuple[torch.nn.Parameter | None, torch.Tensor]] = [
            (layers[0].weight, grads.weight[sl[0]]),
            (ro.weight, grads.readout[:, sl[-1]]),
        ]
        if grads.coupling is not None:
            for k, layer in enumerate(layers):
                if k > 0:
                    found.append((layer.weight, grads.coupling[sl[k], sl[k - 1]]))
                found.append((layer.rec_weight, grads.coupling[sl[k], sl[k]]))
        for param, grad in found:
            if param is not None and param.requires_grad:
                param.grad = grad.to(param.dtype).clone()
        return RuleStep(loss.detach(), SNNOutput(trace.detach(), spikes, ()))
