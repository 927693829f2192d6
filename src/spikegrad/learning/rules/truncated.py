r"""Truncated backpropagation through time: the surrogate gradient through at most ``k`` steps.

The network runs forward in windows of ``k`` steps; at every window boundary the state of
every layer (hidden :math:`U, I` and the readout's :math:`U, I`) is cut from the graph
(``detach``), the values unchanged. A loss term at step :math:`t` then reaches back only
to step :math:`\lfloor t/k \rfloor k`, at most ``k - 1`` steps (TBPTT(k, k) of Williams &
Peng 1990, in the one-update-per-sequence form):

.. math::

    \widehat{\frac{d\mathcal L}{dW}} = \sum_{t} \frac{\partial \mathcal L}{\partial o[t]}
        \sum_{t' = \lfloor t/k\rfloor k}^{t} \frac{\partial o[t]}{\partial W[t']}

where the inner sum runs only over the paths inside the window. The forward values (spikes,
readout, loss) are those of the untruncated network; only the gradient is truncated.
``k >= T`` is exact BPTT (tested against :class:`~spikegrad.learning.rules.BPTT`). The
current-based LIF synapse delays a presynaptic spike by two steps before it reaches the
membrane (:math:`S[n] \to I[n+1] \to U[n+2]`), so windows of ``k <= 2`` give a zero
gradient for every weight (tested); ``k`` is best read as the memory, in steps, the
learning rule can afford (``k`` times ``dt``: the credit-assignment horizon).

Trains the ``lif`` model (:class:`~spikegrad.nn.SpikingNetwork`, any depth, feed-forward
or recurrent, either reset) with the layers' own constants and surrogate, through the
functional :func:`~spikegrad.functional.lif.lif_step` (the reference path: slower than the
compiled BPTT backends). Learnable time constants get their truncated gradient too.

The ``alif`` and ``sequential`` models (adaptive threshold, Izhikevich, convolution,
pooling, dropout) run one step at a time through :class:`~spikegrad.nn.stepping.Stepper`
(each layer's own ``step``), and every tensor of the carried state (membranes, currents,
adaptation, recovery variables, the readout's :math:`U, I`) is detached at steps
``k, 2k, ...``; thresholds, adaptation strengths and time constants that are learned get
their truncated gradient too. Layers with an input projection (delays) need the input
history and are refused. The ``coba`` model runs
:func:`~spikegrad.functional.coba.coba_run` window by window, each window starting from
the previous one's final :class:`~spikegrad.functional.coba.CobaState` detached
(membranes, traces, resources, refractory counters), with the model's projected,
plastic-masked weights and its surrogate spikes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, cast

import torch

from ..._checks import SpikegradInputError, check_size
from ...functional.lif import LIFState, lif_step
from ...nn.network import SNNOutput, SpikingNetwork
from .base import Rule, RuleStep, model_kind

__all__ = ["TruncatedBPTT", "truncated_coba", "truncated_forward", "truncated_stepper"]


def _cut(state: LIFState) -> LIFState:
    return LIFState(state.u.detach(), state.i.detach())


def truncated_forward(model: torch.nn.Module, x: torch.Tensor, k: int) -> SNNOutput:
    """Forward pass of a SpikingNetwork whose graph is cut every ``k`` steps.

    Same values as ``model(x)`` (the reference backend); the state of every layer is
    detached at steps ``k, 2k, ...``, so gradients flow through at most ``k`` steps.
    """
    k = check_size("k", k, 1)
    net = cast(SpikingNetwork, model)  # the rule's models: SpikingNetwork ("lif") only
    T = x.shape[0]
    h, spikes = x, []
    for layer in net.hidden_layers:
        cur = h @ layer.weight.t()
        p = layer.taus.params()
        state = LIFState.zeros(cur.shape[1], cur.shape[2], dtype=cur.dtype)
        steps = []
        for n, x_n in enumerate(cur.unbind(0)):
            if n and n % k == 0:
                state = _cut(state)
            s_n, state = lif_step(
                x_n, state, p, layer.surrogate, rec_weight=layer.rec_weight,
                reset=layer.reset, recurrent_grad=layer.recurrent_grad,
            )
            steps.append(s_n)
        h = torch.stack(steps)
        spikes.append(h)
    ro = net.readout
    cur = h @ ro.weight.t()
    bm, bs = ro.taus.params()
    u = torch.zeros(cur.shape[1], cur.shape[2], dtype=cur.dtype) + ro.u0
    i = torch.zeros_like(u)
    out = []
    for n in range(T):
        if n and n % k == 0:
            u, i = u.detach(), i.detach()
        out.append(u)
        u = bm * u + (1.0 - bm) * i
        i = bs * i + cur[n]
    return SNNOutput(torch.stack(out), tuple(spikes), ())


def _detach_all(state: Any) -> Any:
    """Every tensor of a (nested) state detached; ``None`` and numbers as they are."""
    if isinstance(state, torch.Tensor):
        return state.detach()
    if isinstance(state, tuple):
        parts = [_detach_all(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else tuple(parts)
    return state


def truncated_stepper(model: torch.nn.Module, x: torch.Tensor, k: int) -> SNNOutput:
    """Forward pass of any steppable network (``alif``, ``sequential``) cut every ``k`` steps.

    Runs :class:`~spikegrad.nn.stepping.Stepper` over ``x`` and detaches the whole state
    at steps ``k, 2k, ...``: the values are those of the stepped (unrolled) network, the
    gradient flows through at most ``k`` steps.
    """
    from ...nn.stepping import Stepper

    k = check_size("k", k, 1)
    stepper = Stepper(model)
    state = None
    outs: list[torch.Tensor] = []
    spikes: list[tuple[torch.Tensor, ...]] = []
    for n, x_n in enumerate(x.unbind(0)):
        if n and n % k == 0:
            state = _detach_all(state)
        o, state = stepper.step(x_n, state)
        outs.append(o)
        spikes.append(stepper.last_spikes)
    layers = tuple(torch.stack([s[j].reshape(s[j].shape[0], -1) for s in spikes])
                   for j in range(len(spikes[0]))) if spikes else ()
    return SNNOutput(torch.stack(outs), layers, ())


def truncated_coba(model: torch.nn.Module, x: torch.Tensor, k: int) -> Any:
    """Forward pass of a :class:`~spikegrad.nn.coba.CobaSpikingNetwork` cut every ``k`` steps.

    ``coba_run`` per window of ``k`` steps from the detached final state of the previous
    window: the values are those of ``model(x)``, the gradient flows through at most ``k``
    steps.
    """
    from ...functional.coba import coba_run
    from ...nn.coba import CobaSpikingNetwork

    k = check_size("k", k, 1)
    net = cast(CobaSpikingNetwork, model)  # the rule's "coba" kind
    net.project_()
    w = net._masked_weight()
    state, spikes = None, []
    for a in range(0, x.shape[0], k):
        run = coba_run(x[a : a + k], w, net.topology, net.params, record=(),
                       surrogate=net.surrogate, state=state)
        spikes.append(run.spikes)
        state = _detach_all(run.state)
    return net.output(torch.cat(spikes))


@dataclass
class TruncatedBPTT(Rule):
    """Surrogate-gradient BPTT truncated to windows of ``k`` steps (gradient paths <= k steps).

    See the module docstring for the equations and the models.
    """

    name: ClassVar[str] = "tbptt"
    models: ClassVar[tuple[str, ...]] = ("lif", "alif", "sequential", "coba")
    exact: ClassVar[bool] = False
    #: window length in steps: gradients flow back through at most ``k`` steps
    k: int = 10

    def __post_init__(self) -> None:
        self.k = check_size("k", self.k, 1)

    def _check_model(self, model: torch.nn.Module) -> None:
        layers = getattr(model, "layers", ())
        if any(getattr(layer, "projection", None) is not None for layer in layers):
            raise SpikegradInputError(
                "rule 'tbptt' trains SpikingNetworks without input projections (delays); "
                "use --rule bptt for this network"
            )

    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """``loss.backward()`` through the truncated graph; gradients land in ``p.grad``."""
        if model_kind(model) == "lif":
            out = truncated_forward(model, x, self.k)
        elif model_kind(model) == "coba":
            out = truncated_coba(model, x, self.k)
        else:
            out = truncated_stepper(model, x, self.k)
        loss = task.loss(model, out, y)
        for p in model.parameters():
            p.grad = None
        if loss.requires_grad:
            loss.backward()
        # windows too short for any path from a parameter to the loss (k <= 2 on lif; a
        # deep sequential model's first layers need more steps): its truncated gradient
        # is zero
        for p in model.parameters():
            if p.requires_grad and p.grad is None:
                p.grad = torch.zeros_like(p)
        if model_kind(model) == "coba":
            return RuleStep(loss.detach(), type(out)(*(_detach_all(f) for f in out)))
        detached = SNNOutput(
            out.readout.detach(), tuple(s.detach() for s in out.spikes), ()
        )
        return RuleStep(loss.detach(), detached)
