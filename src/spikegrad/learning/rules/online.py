r"""Online rules with memory independent of ``T``: OTTT (Xiao et al. 2022) and OSTL
(Bohnstingl et al. 2022), for :class:`~spikegrad.nn.SpikingNetwork` (model kind ``lif``).

Both run the network one step at a time, never keep the ``T``-step graph, accumulate the
weight gradients while the sequence runs and leave them in ``p.grad`` at its end (the
trainer's optimiser step applies them). Their output for the trainer is the readout
already reduced by the network's ``readout_mode`` (``[1, B, K]``, so ``model.logits`` works
on it) and the spike counts (``[1, B, N]``): nothing grows with ``T``. The model is
eq. 4.1 (reset detached, threshold 1, fixed time constants) with the leaky readout

.. math::

    S[n] &= \Theta(U[n] - 1), \quad
    U[n+1] = (\beta_m U[n] + (1-\beta_m) I[n])(1 - S[n]), \quad
    I[n+1] = \beta_s I[n] + W h[n] + V S[n] \\
    U^o[n+1] &= \beta^o_m U^o[n] + (1-\beta^o_m) I^o[n], \quad
    I^o[n+1] = \beta^o_s I^o[n] + W^o S^L[n], \quad U^o[0] = u_0 .

**Objective.** An online rule needs a loss it can differentiate at every step, so both
minimise the mean of the task's *instantaneous* loss (Xiao et al. 2022; Bohnstingl et al.
2022): :math:`\mathcal L = \frac1T\sum_n \ell_n`, :math:`\ell_n` = the batch mean of
:meth:`~spikegrad.tasks.Task.sample_loss` of the one-step output :math:`U^o[n]`
(:func:`online_objective`; for classification the cross-entropy of :math:`U^o[n]` as
logits). The activity regulariser (it needs the whole spike count) is not applied.

**Presynaptic trace.** Without the reset the membrane is linear in the weights:
:math:`U[n] = W\hat a[n] + V\hat a^\text{rec}[n]` with the presynaptic traces
:math:`\hat\jmath[n+1] = \beta_s\hat\jmath[n] + h[n]`,
:math:`\hat a[n+1] = \beta_m\hat a[n] + (1-\beta_m)\hat\jmath[n]` (the same filter of the
layer's own spikes gives :math:`\hat a^\text{rec}`, the readout's filter of
:math:`S^L` gives :math:`\hat a^o` and :math:`U^o[n] = W^o\hat a^o[n] + u_0(\beta^o_m)^n`
exactly).

**OTTT** (:class:`OTTT`, any depth, feed-forward or recurrent). At step :math:`n`, with
:math:`g^o[n] = \partial\ell_n/\partial U^o[n]` and :math:`\sigma'` the surrogate:

.. math::

    \Delta W^o &\mathrel{+}= g^o[n]^\top \hat a^o[n], \qquad
    \delta^L[n] = g^o[n] W^o, \\
    g^l[n] &= \delta^l[n]\odot\sigma'(U^l[n]-1), \quad
    \Delta W^l \mathrel{+}= g^l[n]^\top\hat a^l[n], \quad
    \Delta V^l \mathrel{+}= g^l[n]^\top\hat a^{l,\text{rec}}[n], \quad
    \delta^{l-1}[n] = g^l[n] W^l .

The spatial pass goes through the traces with :math:`\partial\hat a[n]/\partial S[n] := 1`
(Xiao et al. 2022): every temporal path except the linear leak of each layer's own
membrane is dropped (reset, recurrence, the delays of the synapses above). State memory:
two ``[B, N_in]`` traces per weight matrix.

**OSTL** (:class:`OSTL`, one hidden layer, feed-forward or recurrent). The temporal part is
the eligibility of the hidden neuron's own state, :math:`\epsilon_{ji}[n] =
\partial U_j[n]/\partial W_{ji}` (:func:`~spikegrad.functional.eprop.eligibility_step`,
reset included), and the readout's diagonal linear state carries it on to the output:

.. math::

    \Psi_{ji}[n+1] &= \beta^o_s\Psi_{ji}[n] + \sigma'(U_j[n]-1)\,\epsilon_{ji}[n], \qquad
    \Phi_{ji}[n+1] = \beta^o_m\Phi_{ji}[n] + (1-\beta^o_m)\Psi_{ji}[n], \\
    \Delta W_{ji} &\mathrel{+}= \textstyle\sum_k g^o_k[n]\,W^o_{kj}\,\Phi_{ji}[n]

(:math:`\Phi_{ji}[n] = \partial \hat a^o_j[n]/\partial W_{ji}`, one per synapse because the
readout's time constants are shared by its units). Without ``V`` this is the exact
gradient of :math:`\mathcal L` (BPTT's, same surrogate; tested to float64 rounding); with
``V`` the paths through other neurons' states are dropped, as in e-prop, which equals BPTT
with ``recurrent_grad=False`` (tested). State memory: four ``[B, N, N_in]`` tensors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from ..._checks import SpikegradInputError
from ...functional.eprop import EligibilityTraces, eligibility_step
from ...functional.lif import LIFState
from .base import Rule, RuleStep

__all__ = ["OTTT", "OSTL", "RandomEprop", "online_objective", "step_loss_grad"]


def _scalar(beta: Any, what: str) -> float:
    """A decay factor as a float (fixed time constants are floats already)."""
    if isinstance(beta, torch.Tensor):
        b = beta.detach().flatten()
        if not bool(torch.all(b == b[0])):
            raise SpikegradInputError(f"online rules need one {what} per layer")
        return float(b[0])
    return float(beta)


def online_objective(model: torch.nn.Module, task: Any, readout: torch.Tensor,
                     y: Any) -> torch.Tensor:
    r"""The online rules' objective :math:`\frac1T\sum_n \ell_n` from a readout trace.

    Parameters
    ----------
    model, task, y:
        As in :meth:`Rule.gradients`.
    readout:
        The readout membrane :math:`U^o[0..T-1]`, ``[T, B, K]`` (differentiable or not).

    Returns
    -------
    torch.Tensor
        :math:`\frac1T\sum_n \operatorname{mean}_b\,
        \text{sample\_loss}(U^o[n])_b` (scalar).
    """
    from ...nn.network import SNNOutput

    T = readout.shape[0]
    total = readout.new_zeros(())
    for n in range(T):
        total = total + task.sample_loss(model, SNNOutput(readout[n : n + 1], ()), y).mean()
    return total / T


def step_loss_grad(model: torch.nn.Module, task: Any, uo: torch.Tensor, y: Any,
                   T: int) -> tuple[torch.Tensor, torch.Tensor]:
    r""":math:`\ell_n/T` and :math:`\partial(\ell_n/T)/\partial U^o[n]` for one step.

    Parameters
    ----------
    uo:
        :math:`U^o[n]`, ``[B, K]``.
    T:
        Sequence length (the objective's :math:`1/T`).
    """
    from ...nn.network import SNNOutput

    leaf = uo.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = task.sample_loss(model, SNNOutput(leaf[None], ()), y).mean() / T
        (g,) = torch.autograd.grad(loss, leaf)
    return loss.detach(), g


class _Logits:
    """The readout reduced as ``model.logits`` reduces it (max / mean / last), step by step.

    The rules return it as a one-step readout ``[1, B, K]``, so ``model.logits(out)`` gives
    the logits without storing the ``[T, B, K]`` trace.
    """

    def __init__(self, mode: str, T: int) -> None:
        self.mode, self.T = mode, T
        self.value: torch.Tensor | None = None

    def add(self, u: torch.Tensor) -> None:
        if self.value is None:
            self.value = u / self.T if self.mode == "mean" else u.clone()
        elif self.mode == "max":
            self.value = torch.maximum(self.value, u)
        elif self.mode == "mean":
            self.value = self.value + u / self.T
        else:
            self.value = u


class _Trace:
    r"""The synapse-and-membrane filter without reset: :math:`\hat a[n]` of an input."""

    def __init__(self, like: torch.Tensor, bm: float, bs: float) -> None:
        self.j = torch.zeros_like(like)
        self.a = torch.zeros_like(like)
        self.bm, self.bs = bm, bs

    def step(self, z: torch.Tensor) -> None:
        self.a = self.bm * self.a + (1.0 - self.bm) * self.j
        self.j = self.bs * self.j + z


class _OnlineRule(Rule):
    """Shared checks and the step-by-step simulation of both online rules."""

    models: ClassVar[tuple[str, ...]] = ("lif",)
    max_layers: ClassVar[int | None] = None

    def _check_model(self, model: Any) -> None:
        layers = model.layers
        if self.max_layers is not None and len(layers) > self.max_layers:
            raise SpikegradInputError(
                f"rule {self.name!r} trains a SpikingNetwork with one hidden layer; this one "
                f"has {len(layers)}: use --hidden N, or --rule ottt / bptt"
            )
        for layer in layers:
            if layer.reset != "detach" or layer.neuron_options or layer.taus.learn_tau:
                raise SpikegradInputError(
                    f"rule {self.name!r} traces the plain eq. 4.1 LIF (reset='detach', "
                    "threshold 1, no refractory period, fixed time constants): use --rule bptt"
                )
        if model.readout.taus.learn_tau:
            raise SpikegradInputError(
                f"rule {self.name!r} needs fixed readout time constants: use --rule bptt"
            )

    @staticmethod
    def _decays(module: Any) -> tuple[float, float]:
        p = module.taus.params()
        return _scalar(p.beta_mem, "tau_mem"), _scalar(p.beta_syn, "tau_syn")

    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """Run the sequence once, step by step; gradients land in ``p.grad`` at the end."""
        from ...nn.network import SNNOutput

        for p in model.parameters():
            p.grad = None
        with torch.no_grad():
            readout, counts, loss, grads = self._run(model, task, x, y)
        for p, g in grads:
            if p.requires_grad:
                p.grad = g.to(p.dtype)
        # readout: [1, B, K], the trace already reduced by readout_mode (model.logits works
        # on it); spikes: the counts per layer, [1, B, N]
        out = SNNOutput(readout, tuple(c[None] for c in counts), ())
        return RuleStep(loss, out)

    def _run(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any):
        raise NotImplementedError


@dataclass
class OTTT(_OnlineRule):
    """Online training through time (Xiao et al. 2022): presynaptic traces, per-step loss."""

    name: ClassVar[str] = "ottt"
    exact: ClassVar[bool] = False

    def _run(self, model, task, x, y):
        T, B, _ = x.shape
        layers, ro = model.hidden_layers, model.readout
        dt = x.dtype
        decays = [self._decays(layer) for layer in layers]
        bmo, bso = self._decays(ro)
        W = [layer.weight.detach() for layer in layers]
        V = [None if layer.rec_weight is None else layer.rec_weight.detach() for layer in layers]
        Wo = ro.weight.detach()
        sizes = [w.shape[0] for w in W]
        u = [x.new_zeros(B, n) for n in sizes]
        i = [x.new_zeros(B, n) for n in sizes]
        pre = [_Trace(x.new_zeros(B, w.shape[1]), *d) for w, d in zip(W, decays, strict=True)]
        rec = [None if v is None else _Trace(x.new_zeros(B, v.shape[1]), *d)
               for v, d in zip(V, decays, strict=True)]
        pre_o = _Trace(x.new_zeros(B, Wo.shape[1]), bmo, bso)
        gW = [torch.zeros_like(w) for w in W]
        gV = [None if v is None else torch.zeros_like(v) for v in V]
        gWo = torch.zeros_like(Wo)
        uo = x.new_zeros(B, Wo.shape[0]) + ro.u0
        io = torch.zeros_like(uo)
        counts = [x.new_zeros(B, n) for n in sizes]
        trace = _Logits(model.readout_mode, T)  # the readout reduced, for the trainer
        loss = x.new_zeros(())
        for n in range(T):
            trace.add(uo)
            # forward: this step's spikes and surrogate derivatives
            h = x[n]
            spikes, deriv = [], []
            for k, layer in enumerate(layers):
                s = (u[k] > 1.0).to(dt)
                spikes.append(s)
                deriv.append(layer.surrogate.derivative(u[k] - 1.0))
            # learning signal of this step's loss, spatial pass through the traces
            ln, go = step_loss_grad(model, task, uo, y, T)
            loss = loss + ln
            gWo += go.t() @ pre_o.a
            delta = go @ Wo
            for k in reversed(range(len(layers))):
                g = delta * deriv[k]
                gW[k] += g.t() @ pre[k].a
                if gV[k] is not None:
                    gV[k] += g.t() @ rec[k].a
                delta = g @ W[k]
            # advance states and traces to step n + 1
            for k in range(len(layers)):
                bm, bs = decays[k]
                s = spikes[k]
                cur = h @ W[k].t()
                if V[k] is not None:
                    cur = cur + s @ V[k].t()
                    rec[k].step(s)
                pre[k].step(h)
                u[k] = (bm * u[k] + (1.0 - bm) * i[k]) * (1.0 - s)
                i[k] = bs * i[k] + cur
                counts[k] += s
                h = s
            uo, io = bmo * uo + (1.0 - bmo) * io, bso * io + h @ Wo.t()
            pre_o.step(h)
        grads = [(ro.weight, gWo)]
        for k, layer in enumerate(layers):
            grads.append((layer.weight, gW[k]))
            if gV[k] is not None:
                grads.append((layer.rec_weight, gV[k]))
        return trace.value[None], counts, loss, grads


@dataclass
class OSTL(_OnlineRule):
    """Online spatio-temporal learning (Bohnstingl et al. 2022), one hidden layer."""

    name: ClassVar[str] = "ostl"
    exact: ClassVar[bool] = False
    max_layers: ClassVar[int | None] = 1

    def _run(self, model, task, x, y):
        T, B, n_in = x.shape
        layer, ro = model.hidden_layers[0], model.readout
        dt = x.dtype
        bm, bs = self._decays(layer)
        bmo, bso = self._decays(ro)
        W = layer.weight.detach()
        V = None if layer.rec_weight is None else layer.rec_weight.detach()
        Wo = ro.weight.detach()
        fb = self._feedback(Wo)
        N = W.shape[0]
        tr = EligibilityTraces.zeros(B, N, n_in, recurrent=V is not None, dtype=dt,
                                     device=x.device)
        psi = torch.zeros_like(tr.eu_in)
        phi = torch.zeros_like(tr.eu_in)
        psi_r = phi_r = None
        if V is not None:
            psi_r, phi_r = torch.zeros_like(tr.eu_rec), torch.zeros_like(tr.eu_rec)
        u, i = x.new_zeros(B, N), x.new_zeros(B, N)
        pre_o = _Trace(x.new_zeros(B, N), bmo, bso)
        gW, gWo = torch.zeros_like(W), torch.zeros_like(Wo)
        gV = None if V is None else torch.zeros_like(V)
        uo = x.new_zeros(B, Wo.shape[0]) + ro.u0
        io = torch.zeros_like(uo)
        count = x.new_zeros(B, N)
        trace = _Logits(model.readout_mode, T)  # the readout reduced, for the trainer
        loss = x.new_zeros(())
        for n in range(T):
            trace.add(uo)
            s = (u > 1.0).to(dt)
            d = layer.surrogate.derivative(u - 1.0)[:, :, None]
            ln, go = step_loss_grad(model, task, uo, y, T)
            loss = loss + ln
            gWo += go.t() @ pre_o.a
            delta = go @ fb  # [B, N]; fb = W^o (OSTL) or a fixed random matrix
            gW += torch.einsum("bj,bji->ji", delta, phi)
            if gV is not None:
                gV += torch.einsum("bj,bji->ji", delta, phi_r)
            # readout filter of the spike sensitivities (uses eps[n], Psi[n])
            phi = bmo * phi + (1.0 - bmo) * psi
            psi = bso * psi + d * tr.eu_in
            if V is not None:
                phi_r = bmo * phi_r + (1.0 - bmo) * psi_r
                psi_r = bso * psi_r + d * tr.eu_rec
            tr = eligibility_step(x[n], s, LIFState(u, i), tr, (bm, bs))
            cur = x[n] @ W.t()
            if V is not None:
                cur = cur + s @ V.t()
            u = (bm * u + (1.0 - bm) * i) * (1.0 - s)
            i = bs * i + cur
            count += s
            uo, io = bmo * uo + (1.0 - bmo) * io, bso * io + s @ Wo.t()
            pre_o.step(s)
        grads = [(ro.weight, gWo), (layer.weight, gW)]
        if gV is not None:
            grads.append((layer.rec_weight, gV))
        return trace.value[None], [count], loss, grads

    def _feedback(self, readout_weight: torch.Tensor) -> torch.Tensor:
        """The matrix that carries the readout error to the hidden layer: :math:`W^o`."""
        return readout_weight


@dataclass
class RandomEprop(OSTL):
    r"""Random e-prop (Bellec et al. 2020): OSTL with a fixed random feedback matrix.

    The learning signal of hidden neuron :math:`j` is :math:`\sum_k g^o_k[n] B_{kj}`
    instead of :math:`\sum_k g^o_k[n] W^o_{kj}` (random broadcast alignment); everything
    else is :class:`OSTL` (for one feed-forward layer: e-prop with the readout-filtered
    eligibility traces and a per-step loss). :math:`B` is drawn once,
    :math:`B_{kj} \sim \mathcal U(\pm 1/\sqrt{N})` (the readout's initial scale), from
    ``seed``, so a resumed run redraws the same matrix.

    Parameters
    ----------
    seed:
        Seed of the feedback matrix.
    """

    name: ClassVar[str] = "eprop-random"
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise SpikegradInputError(f"eprop-random: seed must be an integer >= 0, "
                                      f"got {self.seed!r}")

    def _feedback(self, readout_weight: torch.Tensor) -> torch.Tensor:
        k, n = readout_weight.shape
        g = torch.Generator().manual_seed(self.seed)
        b = (torch.rand(k, n, generator=g, dtype=torch.float64) * 2 - 1) / n**0.5
        return b.to(readout_weight)
