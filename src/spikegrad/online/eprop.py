r"""Online e-prop: per-step losses, learning while the sequence runs (Bellec et al. 2020).

The network is a :class:`~spikegrad.nn.SpikingNetwork` with one hidden LIF layer
(feed-forward or recurrent, reset detached; its time constants, surrogate and readout
are the network's): input spikes :math:`x[n]`, hidden layer of eq. 4.1 (Zenke & Vogels
2021, :func:`spikegrad.functional.lif.lif_step`) and the leaky-integrator readout

.. math::

    U^o[n+1] = \beta^o_m U^o[n] + (1 - \beta^o_m) I^o[n], \qquad
    I^o[n+1] = \beta^o_s I^o[n] + W^o S[n]

with :math:`U^o[0] = u_0` (the network's ``readout.u0``). The loss is a sum over
steps, :math:`E = \sum_n \ell_n(U^o[n])`, so a learning signal exists at every step:
:math:`\delta_k[n] = \partial \ell_n / \partial U^o_k[n]`.

The eligibility traces :math:`e_{ji}[n] = h(U_j[n]-1)\,\epsilon^U_{ji}[n]` run forward
in time (:mod:`spikegrad.functional.eprop`, the same code as the trainer's
:class:`~spikegrad.learning.rules.eprop.Eprop` rule). Because the readout is a linear
filter of the spikes, :math:`\partial U^o_k[n]/\partial W_{ji} \approx W^o_{kj}\,
\bar e_{ji}[n]`, where :math:`\bar e` is :math:`e` passed through the readout's own
two-stage filter. With the learning signal :math:`L_j[n] = \sum_k W^o_{kj}\,
\delta_k[n]` (symmetric feedback) the gradient is

.. math::

    \widehat{\frac{dE}{dW_{ji}}} = \sum_n L_j[n]\,\bar e_{ji}[n], \qquad
    \frac{dE}{dW^o_{kj}} = \sum_n \delta_k[n]\,\bar S_j[n]

(:math:`\bar S`: spikes through the readout filter; exact), and likewise :math:`V`.
Every term is known at step :math:`n`, so the weights can change within the sequence
(``update="step"``). With :math:`V = 0` this equals the BPTT gradient of :math:`E` with
the same surrogate exactly (tested); with :math:`V \ne 0` :func:`compare_with_bptt`
measures the distance.

Losses: ``"ce"`` (per-step softmax cross-entropy against a class label ``[B]``,
averaged over the steps ``n >= loss_start``) and ``"mse"``
(:math:`\frac{1}{2T}\sum_n \|U^o[n] - y[n]\|^2` against a target ``[T, B, K]``). Both
are averaged over the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor
from ..functional.eprop import EligibilityTraces, eligibility, eligibility_step
from ..functional.lif import LIFParams, LIFState, lif_step
from ..learning.rules.eprop import Eprop
from ..nn.network import SpikingNetwork

__all__ = [
    "LOSSES",
    "UPDATES",
    "OPTIMIZERS",
    "OnlineState",
    "OnlineEprop",
    "check_network",
    "online_step",
    "step_gradients",
    "eprop_gradients",
    "compare_with_bptt",
    "loss_value",
]

#: Per-step losses.
LOSSES = ("ce", "mse")
#: When :class:`OnlineEprop` applies the gradient: once per sequence or at every step.
UPDATES = ("sample", "step")
#: Optimisers :class:`OnlineEprop` builds by name (or pass a ``torch.optim.Optimizer``).
OPTIMIZERS = ("adam", "sgd")

#: short names of the parameters in :func:`compare_with_bptt`
_SHORT = {"layers.0.weight": "w", "layers.0.rec_weight": "v", "readout.weight": "w_out"}


def check_network(network: SpikingNetwork) -> SpikingNetwork:
    """The networks online e-prop trains: those of the ``eprop`` rule, with fixed taus."""
    if not isinstance(network, SpikingNetwork):
        raise TypeError(f"network must be a SpikingNetwork, got {type(network).__name__}")
    Eprop().check_model(network)
    if network.layers[0].taus.learn_tau or network.readout.taus.learn_tau:
        raise SpikegradInputError(
            "online e-prop trains the weights only: build the network with learn_tau=False "
            "(the trainer's 'eprop' rule learns time constants)"
        )
    return network


class OnlineState(NamedTuple):
    r"""Everything online e-prop keeps about the past (batch ``B``); nothing grows with T.

    ``hidden``: :math:`(U[n], I[n])` ``[B, N]``; ``readout``: :math:`(U^o[n], I^o[n])`
    ``[B, K]``; ``traces``: the eligibility vectors
    (:class:`~spikegrad.functional.eprop.EligibilityTraces`); ``e_in`` / ``e_rec``: the
    eligibility traces of ``W`` / ``V`` through the readout filter (two stages,
    ``[B, N, N_in]`` / ``[B, N, N]``); ``spikes``: the spikes through the readout filter
    ``[B, N]``.
    """

    hidden: LIFState
    readout: LIFState
    traces: EligibilityTraces
    e_in: LIFState
    e_rec: LIFState | None
    spikes: LIFState

    @classmethod
    def zeros(cls, network: SpikingNetwork, batch: int) -> OnlineState:
        """The state at step 0 (readout membrane at ``network.readout.u0``)."""
        layer = network.layers[0]
        n, n_in, k = layer.out_features, layer.in_features, network.n_classes
        w = layer.weight
        opt = dict(dtype=w.dtype, device=w.device)
        rec = layer.rec_weight is not None

        def z(*shape: int) -> LIFState:
            return LIFState(torch.zeros(*shape, **opt), torch.zeros(*shape, **opt))

        ro = z(batch, k)
        return cls(
            z(batch, n),
            LIFState(ro.u + network.readout.u0, ro.i),
            EligibilityTraces.zeros(batch, n, n_in, recurrent=rec, **opt),
            z(batch, n, n_in),
            z(batch, n, n) if rec else None,
            z(batch, n),
        )


def _filter(x: torch.Tensor, st: LIFState, params: LIFParams) -> LIFState:
    r"""The readout filter: :math:`u \leftarrow \beta_m u + (1-\beta_m) i`,
    :math:`i \leftarrow \beta_s i + x`."""
    bm, bs = params
    return LIFState(torch.lerp(st.i, st.u, bm), torch.add(x, st.i, alpha=bs))


@torch.no_grad()
def online_step(
    x: torch.Tensor, state: OnlineState, network: SpikingNetwork
) -> tuple[torch.Tensor, torch.Tensor, OnlineState]:
    r"""Advance the network and its traces one step :math:`n \to n+1` (current weights).

    Returns the hidden spikes :math:`S[n]` ``[B, N]``, the readout :math:`U^o[n]`
    ``[B, K]`` (for :math:`\delta[n]`) and the state at :math:`n+1`. The gradient
    contribution of step :math:`n` uses the state *before* the step
    (:func:`step_gradients`).
    """
    layer, ro = network.layers[0], network.readout
    p, po = layer.taus.params(), ro.taus.params()
    v = layer.rec_weight
    s, hidden = lif_step(
        x @ layer.weight.t(), state.hidden, p, layer.surrogate, rec_weight=v, reset="detach"
    )
    h = layer.surrogate.derivative(state.hidden.u - 1.0)
    e_in, e_rec = eligibility(state.traces, h)
    traces = eligibility_step(x, s, state.hidden, state.traces, p)
    new = OnlineState(
        hidden,
        _filter(s @ ro.weight.t(), state.readout, po),
        traces,
        _filter(e_in, state.e_in, po),
        _filter(e_rec, state.e_rec, po) if v is not None else None,
        _filter(s, state.spikes, po),
    )
    return s, state.readout.u, new


@torch.no_grad()
def step_gradients(
    delta: torch.Tensor, state: OnlineState, network: SpikingNetwork
) -> dict[str, torch.Tensor]:
    r"""Gradient contributions of step :math:`n` from :math:`\delta[n]` and the state at :math:`n`.

    :math:`L = \delta W^o` (``[B, N]``), then :math:`\Delta W_{ji} = \sum_b L_{bj}
    \bar e_{bji}`, :math:`\Delta V` likewise, :math:`\Delta W^o = \delta^\top \bar S`.
    Keys are the network's parameter names.
    """
    L = delta @ network.readout.weight
    g = {"layers.0.weight": torch.einsum("bj,bji->ji", L, state.e_in.u)}
    if state.e_rec is not None:
        g["layers.0.rec_weight"] = torch.einsum("bj,bji->ji", L, state.e_rec.u)
    g["readout.weight"] = delta.t() @ state.spikes.u
    return g


def _delta(uo: torch.Tensor, target: torch.Tensor, n: int, T: int, loss: str, start: int):
    """Learning signal ``dl_n/dU^o[n]`` ``[B, K]`` (batch-mean loss), or None if no loss at n."""
    B = uo.shape[0]
    if loss == "ce":
        n_steps = T - start
        if n < start or n_steps <= 0:
            return None
        p = torch.softmax(uo, dim=1)
        p[torch.arange(B), target] -= 1.0
        return p / (n_steps * B)
    return (uo - target[n]) / (T * B)


def loss_value(
    readout: torch.Tensor, target: torch.Tensor, *, loss: str = "ce", loss_start: int = 2
) -> torch.Tensor:
    r"""The loss :math:`E` of a readout trace ``[T, B, K]`` (differentiable).

    ``"ce"``: :math:`-\frac{1}{(T - n_0) B}\sum_{n \ge n_0, b}
    \log\operatorname{softmax}(U^o_b[n])_{y_b}` with :math:`n_0` = ``loss_start``;
    ``"mse"``: :math:`\frac{1}{2TB}\sum_{n,b} \|U^o_b[n] - y_b[n]\|^2`.
    """
    T, B, _ = readout.shape
    if loss == "ce":
        if T - loss_start <= 0:
            return readout.sum() * 0.0
        logp = torch.log_softmax(readout[loss_start:], dim=2)
        return -logp[:, torch.arange(B), target].mean()
    return 0.5 * ((readout - target) ** 2).sum() / (T * B)


def _check_settings(loss: str, loss_start: int) -> None:
    check_choice("loss", loss, LOSSES)
    if isinstance(loss_start, bool) or not isinstance(loss_start, int) or loss_start < 0:
        raise SpikegradInputError(f"loss_start must be an int >= 0, got {loss_start!r}")


def _check_inputs(x, target, network: SpikingNetwork, loss: str) -> None:
    check_sequence_tensor("x", x, features=network.n_inputs)
    if x.dtype != network.layers[0].weight.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the network's weights are {network.layers[0].weight.dtype}"
        )
    k = network.n_classes
    if loss == "ce":
        if not isinstance(target, torch.Tensor) or target.dtype not in (torch.int64, torch.int32):
            raise TypeError("target must be an integer tensor of class labels [B] for loss='ce'")
        if target.shape != (x.shape[1],):
            raise SpikegradInputError(
                f"target must have shape [B] = ({x.shape[1]},), got {tuple(target.shape)}"
            )
        if int(target.min()) < 0 or int(target.max()) >= k:
            raise SpikegradInputError(
                f"target labels must lie in [0, {k}), got {int(target.min())}..{int(target.max())}"
            )
    else:
        check_sequence_tensor("target", target, features=k)
        if target.shape[:2] != x.shape[:2]:
            raise SpikegradInputError(
                f"target must be [T, B, K] with T, B of x {tuple(x.shape[:2])}, "
                f"got {tuple(target.shape)}"
            )


def _run(network, x, target, loss, loss_start, on_step) -> tuple[torch.Tensor, torch.Tensor]:
    """Simulate ``x`` forward; call ``on_step(grads)`` with every step's contribution."""
    T, B, _ = x.shape
    st = OnlineState.zeros(network, B)
    outs, spikes = [], []
    for n in range(T):
        s, uo, new = online_step(x[n], st, network)
        d = _delta(uo, target, n, T, loss, loss_start)
        if d is not None:
            on_step(step_gradients(d, st, network))
        outs.append(uo)
        spikes.append(s)
        st = new
    return torch.stack(outs), torch.stack(spikes)


def eprop_gradients(
    network: SpikingNetwork,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    loss: str = "ce",
    loss_start: int = 2,
) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
    r"""Online e-prop gradient of :math:`E` over a whole sequence, computed forward in time.

    Parameters
    ----------
    network:
        One hidden layer, reset detached, fixed time constants (:func:`check_network`).
    x:
        Input spikes, time-major ``[T, B, N_in]``, the network's dtype.
    target:
        Class labels ``[B]`` (``loss="ce"``) or targets ``[T, B, K]`` (``"mse"``).
    loss, loss_start:
        The per-step loss (module docstring).

    Returns
    -------
    grads, readout, spikes
        Gradients by parameter name (``"layers.0.weight"``, ``"layers.0.rec_weight"``,
        ``"readout.weight"``), the readout trace :math:`U^o[0..T-1]` ``[T, B, K]`` and the
        hidden spikes ``[T, B, N]``.
    """
    check_network(network)
    _check_settings(loss, loss_start)
    _check_inputs(x, target, network, loss)
    acc = {k: torch.zeros_like(p) for k, p in network.named_parameters()}

    def add(g: dict) -> None:
        for k, v in g.items():
            acc[k] += v

    uo, s = _run(network, x, target, loss, loss_start, add)
    return acc, uo, s


def compare_with_bptt(
    network: SpikingNetwork,
    x: torch.Tensor,
    target: torch.Tensor,
    *,
    loss: str = "ce",
    loss_start: int = 2,
) -> dict[str, float]:
    r"""Relative differences :math:`\|g_\text{e-prop} - g_\text{BPTT}\| / \|g_\text{BPTT}\|`
    and cosine similarities per weight matrix (``w``, ``v``, ``w_out``).

    The reference is plain autograd through ``network(x)`` (any backend; BPTT with the
    network's surrogate) of :func:`loss_value`; ``"loss"`` holds its value.
    """
    ge, _, _ = eprop_gradients(network, x, target, loss=loss, loss_start=loss_start)
    names = [k for k, _ in network.named_parameters()]
    value = loss_value(network(x).readout, target, loss=loss, loss_start=loss_start)
    gb = dict(zip(names, torch.autograd.grad(value, list(network.parameters())), strict=True))
    out: dict[str, float] = {"loss": float(value.detach())}
    for name in names:
        a, b, short = ge[name], gb[name], _SHORT[name]
        nb = float(b.norm())
        out[f"{short}_rel_diff"] = float((a - b).norm()) / nb if nb > 0 else float(a.norm())
        denom = float(a.norm()) * nb
        out[f"{short}_cosine"] = float((a * b).sum()) / denom if denom > 0 else float("nan")
    return out


class OnlineEprop:
    r"""Online e-prop learner of a :class:`~spikegrad.nn.SpikingNetwork`, one sequence (or step)
    at a time.

    ``update="step"`` applies the gradient contribution of every time step as soon as it
    is known (weights change within the sequence: fully online); ``update="sample"``
    sums them over the sequence and applies them at its end. Either way nothing is
    stored about the past but :class:`OnlineState`: memory is :math:`O(B N (N_\text{in}
    + N))`, independent of the sequence length. The update is one ``optimizer.step()``
    of a ``torch.optim`` optimiser on the e-prop gradient.

    Parameters
    ----------
    network:
        The network to train, in place (one hidden layer, reset detached, fixed taus).
    loss, loss_start:
        Per-step loss ``"ce"`` (from step ``loss_start`` on) or ``"mse"``.
    lr:
        Learning rate of an optimiser built by name.
    optimizer:
        ``"adam"`` (default), ``"sgd"``, or a ``torch.optim.Optimizer`` over the
        network's parameters.
    update:
        ``"sample"`` or ``"step"``.
    self_connections:
        ``False`` zeroes the diagonal of the recurrent weights and keeps it zero (its
        gradient is masked).
    """

    def __init__(
        self,
        network: SpikingNetwork,
        *,
        loss: str = "ce",
        loss_start: int = 2,
        lr: float = 1e-3,
        optimizer: str | torch.optim.Optimizer = "adam",
        update: str = "sample",
        self_connections: bool = True,
    ) -> None:
        self.network = check_network(network)
        _check_settings(loss, loss_start)
        self.loss, self.loss_start = loss, loss_start
        self.update = check_choice("update", update, UPDATES)
        self.lr = check_positive("lr", lr)
        if isinstance(optimizer, torch.optim.Optimizer):
            self.optimizer = optimizer
        else:
            cls = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
            check_choice("optimizer", optimizer, OPTIMIZERS)
            self.optimizer = cls[optimizer](network.parameters(), lr=self.lr)
        self.self_connections = bool(self_connections)
        v = network.layers[0].rec_weight
        if v is not None and not self.self_connections:
            with torch.no_grad():
                v.fill_diagonal_(0.0)

    @property
    def _params(self) -> dict[str, nn.Parameter]:
        return dict(self.network.named_parameters())

    def _apply(self, grads: dict[str, torch.Tensor]) -> None:
        params = self._params
        for name, p in params.items():
            p.grad = grads[name].clone() if name in grads else None
        v = self.network.layers[0].rec_weight
        if v is not None and not self.self_connections and v.grad is not None:
            v.grad.fill_diagonal_(0.0)
        self.optimizer.step()
        if v is not None and not self.self_connections:
            with torch.no_grad():
                v.fill_diagonal_(0.0)

    def learn(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Learn from one sequence ``x`` ``[T, B, N_in]``; returns the readout ``[T, B, K]``."""
        _check_inputs(x, target, self.network, self.loss)
        acc: dict[str, torch.Tensor] = {}

        def on_step(g: dict) -> None:
            if self.update == "step":
                self._apply(g)
                return
            for k, v in g.items():
                acc[k] = acc[k] + v if k in acc else v

        uo, _ = _run(self.network, x, target, self.loss, self.loss_start, on_step)
        if acc:
            self._apply(acc)
        return uo

    @torch.no_grad()
    def readout(self, x: torch.Tensor) -> torch.Tensor:
        """Readout trace ``[T, B, K]`` of ``x`` ``[T, B, N_in]`` without learning."""
        return self.network(x).readout

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B, K]``: mean readout over the loss steps (``n >= loss_start``)."""
        uo = self.readout(x)
        return uo[min(self.loss_start, uo.shape[0] - 1) :].mean(dim=0)

    def add_outputs(self, n: int = 1) -> None:
        """Grow the readout by ``n`` classes (zero weights), e.g. for a new label in a stream.

        The optimiser keeps its state; the new rows start with zero moments.
        """
        ro = self.network.readout
        extra = ro.weight.new_zeros(n, ro.weight.shape[1])
        self._grow(ro, "weight", extra, 0)
        ro.n_classes += n
        self.network.n_classes += n

    def add_inputs(self, weight: torch.Tensor) -> None:
        """Grow the input layer by ``weight.shape[1]`` channels with these initial weights
        ``[N, m]`` (e.g. for a new feature in a stream); zero optimiser state for them."""
        layer = self.network.layers[0]
        if weight.dim() != 2 or weight.shape[0] != layer.out_features:
            raise SpikegradInputError(
                f"weight must be [{layer.out_features}, m], got {tuple(weight.shape)}"
            )
        self._grow(layer, "weight", weight.to(layer.weight), 1)
        layer.in_features += weight.shape[1]
        self.network.n_inputs += weight.shape[1]

    def _grow(self, module: nn.Module, name: str, extra: torch.Tensor, dim: int) -> None:
        """Replace ``module.<name>`` by itself with ``extra`` appended along ``dim``.

        The new parameter takes the old one's place in the optimiser; every state tensor
        shaped like the parameter (Adam's moments, SGD's momentum) is padded with zeros.
        """
        old = getattr(module, name)
        new = nn.Parameter(torch.cat([old.detach(), extra], dim=dim))
        setattr(module, name, new)
        for group in self.optimizer.param_groups:
            group["params"] = [new if p is old else p for p in group["params"]]
        state = self.optimizer.state.pop(old, None)
        if state:
            self.optimizer.state[new] = {
                k: torch.cat([v, torch.zeros_like(extra, dtype=v.dtype)], dim=dim)
                if isinstance(v, torch.Tensor) and v.shape == old.shape
                else v
                for k, v in state.items()
            }
