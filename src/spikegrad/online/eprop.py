r"""e-prop: online gradient learning for recurrent LIF networks (Bellec et al. 2020).

Network (time-major ``[T, B, ...]``): input spikes :math:`x[n]` (``N_in``),
recurrent LIF layer of eq. 4.1 (Zenke & Vogels 2021, via
:func:`spikegrad.functional.lif.lif_step`, reset detached) and a non-spiking
leaky-integrator readout (:func:`spikegrad.functional.lif.li_sequence`):

.. math::

    S[n] &= \Theta(U[n] - 1) \\
    U[n+1] &= \big(\beta_m U[n] + (1-\beta_m) I[n]\big)(1 - S[n]) \\
    I[n+1] &= \beta_s I[n] + W x[n] + V S[n] \\
    U^o[n+1] &= \beta^o_m U^o[n] + (1 - \beta^o_m) I^o[n], \qquad
    I^o[n+1] = \beta^o_s I^o[n] + W^o S[n]

with :math:`U^o[0] = u_0`. The loss is a sum over steps,
:math:`E = \sum_n \ell_n(U^o[n])`, so a learning signal exists at every step:
:math:`\delta_k[n] = \partial \ell_n / \partial U^o_k[n]`.

**Eligibility traces**, computed forward in time (no storage of the past). For
a synapse :math:`i \to j` with presynaptic activity :math:`z_i` (:math:`x_i`
for :math:`W`, :math:`S_i` for :math:`V`) the eligibility vector
:math:`(\epsilon^U_{ji}, \epsilon^I_{i}) = (\partial U_j/\partial W_{ji},
\partial I_j / \partial W_{ji})` restricted to neuron :math:`j`'s own state obeys

.. math::

    \epsilon^I_i[n+1] &= \beta_s \epsilon^I_i[n] + z_i[n] \\
    \epsilon^U_{ji}[n+1] &= (1 - S_j[n])\big(\beta_m \epsilon^U_{ji}[n]
        + (1-\beta_m)\epsilon^I_i[n]\big)

and the eligibility trace is :math:`e_{ji}[n] = h(U_j[n] - 1)\,\epsilon^U_{ji}[n]`
with :math:`h` the surrogate derivative. Because the readout is a linear
filter of the spikes, :math:`\partial U^o_k[n]/\partial W_{ji} \approx W^o_{kj}
\bar e_{ji}[n]`, where :math:`\bar e` is :math:`e` passed through the readout's
own two-stage filter. With the learning signal
:math:`L_j[n] = \sum_k B_{jk}\,\delta_k[n]` (symmetric e-prop:
:math:`B = W^{o\top}`) the e-prop gradient is

.. math::

    \widehat{\frac{dE}{dW_{ji}}} = \sum_n L_j[n]\,\bar e_{ji}[n], \qquad
    \frac{dE}{dW^o_{kj}} = \sum_n \delta_k[n]\,\bar S_j[n]

(:math:`\bar S`: spikes through the readout filter; exact). e-prop drops the
paths by which a spike changes *other* neurons' states through :math:`V`; with
:math:`V = 0` and a detached reset it equals the BPTT gradient with the same
surrogate exactly (tested), with :math:`V \ne 0` it is an approximation whose
distance to BPTT :func:`compare_with_bptt` measures.

Losses: ``"ce"`` (per-step softmax cross-entropy against a class label
``[B]``, averaged over the steps ``n >= loss_start``) and ``"mse"``
(:math:`\frac{1}{2T}\sum_n \|U^o[n] - y[n]\|^2` against a target ``[T, B, K]``).
Both are averaged over the batch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor
from ..functional.lif import LIFParams, LIFState, li_sequence, lif_sequence, lif_step
from ..functional.surrogate import Surrogate, make_surrogate

__all__ = [
    "LOSSES",
    "EpropParams",
    "EpropConfig",
    "EpropTraces",
    "init_params",
    "eprop_step",
    "eprop_gradients",
    "bptt_gradients",
    "compare_with_bptt",
    "loss_value",
]

#: Per-step losses.
LOSSES = ("ce", "mse")


class EpropParams(NamedTuple):
    """Weights: input ``w [N, N_in]``, recurrent ``v [N, N]`` or None, readout ``w_out [K, N]``."""

    w: torch.Tensor
    v: torch.Tensor | None
    w_out: torch.Tensor


@dataclass(frozen=True)
class EpropConfig:
    """Time constants (seconds), surrogate and loss of an e-prop network."""

    tau_mem: float = 20e-3
    tau_syn: float = 5e-3
    tau_out_mem: float = 20e-3
    tau_out_syn: float = 5e-3
    dt: float = 1e-3
    surrogate: str = "superspike"
    surrogate_beta: float = 10.0
    loss: str = "ce"
    loss_start: int = 2
    u0_out: float = 0.0

    def __post_init__(self) -> None:
        for name in ("tau_mem", "tau_syn", "tau_out_mem", "tau_out_syn", "dt"):
            check_positive(name, getattr(self, name))
        check_choice("loss", self.loss, LOSSES)
        if not isinstance(self.loss_start, int) or self.loss_start < 0:
            raise SpikegradInputError(f"loss_start must be an int >= 0, got {self.loss_start!r}")
        make_surrogate(self.surrogate, self.surrogate_beta)

    @property
    def hidden_params(self) -> LIFParams:
        return LIFParams(math.exp(-self.dt / self.tau_mem), math.exp(-self.dt / self.tau_syn))

    @property
    def readout_params(self) -> LIFParams:
        return LIFParams(
            math.exp(-self.dt / self.tau_out_mem), math.exp(-self.dt / self.tau_out_syn)
        )

    @property
    def spike_fn(self) -> Surrogate:
        return make_surrogate(self.surrogate, self.surrogate_beta)


class EpropTraces(NamedTuple):
    """Forward state of the network and its eligibility traces (batch ``B``).

    ``u, i`` ``[B, N]``: hidden state; ``uo, io`` ``[B, K]``: readout state;
    ``ei_in`` ``[B, N_in]`` and ``eu_in`` ``[B, N, N_in]``: eligibility vectors of
    ``w``; ``ei_rec`` ``[B, N]`` and ``eu_rec`` ``[B, N, N]``: of ``v``;
    ``fu_in, fi_in, fu_rec, fi_rec``: eligibility traces through the readout
    filter; ``su, si`` ``[B, N]``: spikes through the readout filter.
    """

    u: torch.Tensor
    i: torch.Tensor
    uo: torch.Tensor
    io: torch.Tensor
    ei_in: torch.Tensor
    eu_in: torch.Tensor
    fu_in: torch.Tensor
    fi_in: torch.Tensor
    ei_rec: torch.Tensor | None
    eu_rec: torch.Tensor | None
    fu_rec: torch.Tensor | None
    fi_rec: torch.Tensor | None
    su: torch.Tensor
    si: torch.Tensor

    @classmethod
    def zeros(cls, params: EpropParams, batch: int, u0_out: float = 0.0) -> EpropTraces:
        n, n_in = params.w.shape
        k = params.w_out.shape[0]
        opt = dict(dtype=params.w.dtype, device=params.w.device)

        def z(*s):
            return torch.zeros(*s, **opt)

        rec = params.v is not None
        return cls(
            z(batch, n),
            z(batch, n),
            z(batch, k) + u0_out,
            z(batch, k),
            z(batch, n_in),
            z(batch, n, n_in),
            z(batch, n, n_in),
            z(batch, n, n_in),
            z(batch, n) if rec else None,
            z(batch, n, n) if rec else None,
            z(batch, n, n) if rec else None,
            z(batch, n, n) if rec else None,
            z(batch, n),
            z(batch, n),
        )


def init_params(
    n_in: int,
    n_hidden: int,
    n_out: int,
    *,
    recurrent: bool = True,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    scale_in: float = 1.0,
    scale_rec: float = 0.5,
    scale_out: float = 1.0,
) -> EpropParams:
    r"""Uniform :math:`\mathcal U(\pm s/\sqrt{n_\text{in}})` weights (explicit generator)."""
    for name, v in (("n_in", n_in), ("n_hidden", n_hidden), ("n_out", n_out)):
        if not isinstance(v, int) or v < 1:
            raise SpikegradInputError(f"{name} must be an int >= 1, got {v!r}")

    def u(shape, fan, s):
        b = s / math.sqrt(fan)
        return (torch.rand(*shape, generator=generator, dtype=dtype) * 2 - 1) * b

    v = u((n_hidden, n_hidden), n_hidden, scale_rec) if recurrent else None
    if v is not None:
        v.fill_diagonal_(0.0)  # no self-connections
    return EpropParams(
        u((n_hidden, n_in), n_in, scale_in), v, u((n_out, n_hidden), n_hidden, scale_out)
    )


def _delta(uo: torch.Tensor, target: torch.Tensor, n: int, T: int, cfg: EpropConfig):
    """Learning signal ``dl_n/dU^o[n]`` ``[B, K]`` (batch-mean loss), or None if no loss at n."""
    B = uo.shape[0]
    if cfg.loss == "ce":
        n_steps = T - cfg.loss_start
        if n < cfg.loss_start or n_steps <= 0:
            return None
        p = torch.softmax(uo, dim=1)
        p[torch.arange(B), target] -= 1.0
        return p / (n_steps * B)
    return (uo - target[n]) / (T * B)


def loss_value(uo_trace: torch.Tensor, target: torch.Tensor, cfg: EpropConfig) -> torch.Tensor:
    """The loss :math:`E` of a readout trace ``[T, B, K]`` (differentiable)."""
    T, B, _ = uo_trace.shape
    if cfg.loss == "ce":
        if T - cfg.loss_start <= 0:
            return uo_trace.sum() * 0.0
        z = uo_trace[cfg.loss_start :]
        logp = torch.log_softmax(z, dim=2)
        return -logp[:, torch.arange(B), target].mean()
    return 0.5 * ((uo_trace - target) ** 2).sum() / (T * B)


@torch.no_grad()
def eprop_step(
    x: torch.Tensor, tr: EpropTraces, params: EpropParams, cfg: EpropConfig
) -> tuple[torch.Tensor, torch.Tensor, EpropTraces]:
    r"""Advance one step :math:`n \to n+1`.

    Returns the hidden spikes :math:`S[n]` ``[B, N]``, the readout
    :math:`U^o[n]` ``[B, K]`` (to compute :math:`\delta[n]`) and the traces at
    :math:`n+1`. Call :func:`step_gradients` with the traces *before* the step
    to get the gradient contribution of step :math:`n`.
    """
    bm, bs = cfg.hidden_params
    bmo, bso = cfg.readout_params
    sur = cfg.spike_fn
    state = LIFState(tr.u, tr.i)
    s, new = lif_step(
        x @ params.w.t(), state, LIFParams(bm, bs), sur, rec_weight=params.v, reset="detach"
    )
    h = sur.derivative(tr.u - 1.0)
    keep = (1.0 - s)[:, :, None]
    e_in = h[:, :, None] * tr.eu_in
    eu_in = keep * (bm * tr.eu_in + (1.0 - bm) * tr.ei_in[:, None, :])
    ei_in = bs * tr.ei_in + x
    fu_in = bmo * tr.fu_in + (1.0 - bmo) * tr.fi_in
    fi_in = bso * tr.fi_in + e_in
    if params.v is not None:
        e_rec = h[:, :, None] * tr.eu_rec
        eu_rec = keep * (bm * tr.eu_rec + (1.0 - bm) * tr.ei_rec[:, None, :])
        ei_rec = bs * tr.ei_rec + s
        fu_rec = bmo * tr.fu_rec + (1.0 - bmo) * tr.fi_rec
        fi_rec = bso * tr.fi_rec + e_rec
    else:
        ei_rec = eu_rec = fu_rec = fi_rec = None
    uo = bmo * tr.uo + (1.0 - bmo) * tr.io
    io = bso * tr.io + s @ params.w_out.t()
    su = bmo * tr.su + (1.0 - bmo) * tr.si
    si = bso * tr.si + s
    out = EpropTraces(
        new.u, new.i, uo, io, ei_in, eu_in, fu_in, fi_in, ei_rec, eu_rec, fu_rec, fi_rec, su, si
    )
    return s, tr.uo, out


@torch.no_grad()
def step_gradients(
    delta: torch.Tensor, tr: EpropTraces, params: EpropParams
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    r"""Gradient contributions of step :math:`n` from :math:`\delta[n]` and the traces at :math:`n`.

    :math:`L = \delta W^o` (``[B, N]``), then
    :math:`\Delta W = \sum_b L_{bj} \bar e^U_{bji}`,
    :math:`\Delta V` likewise, :math:`\Delta W^o = \delta^\top \bar S^U`.
    """
    L = delta @ params.w_out
    gw = torch.einsum("bj,bji->ji", L, tr.fu_in)
    gv = torch.einsum("bj,bji->ji", L, tr.fu_rec) if params.v is not None else None
    go = delta.t() @ tr.su
    return gw, gv, go


def _check_inputs(x, target, params: EpropParams, cfg: EpropConfig) -> None:
    check_sequence_tensor("x", x, features=params.w.shape[1])
    if cfg.loss == "ce":
        if not isinstance(target, torch.Tensor) or target.dtype not in (torch.int64, torch.int32):
            raise TypeError("target must be an integer tensor of class labels [B] for loss='ce'")
        if target.shape != (x.shape[1],):
            raise SpikegradInputError(
                f"target must have shape [B] = ({x.shape[1]},), got {tuple(target.shape)}"
            )
        if int(target.min()) < 0 or int(target.max()) >= params.w_out.shape[0]:
            raise SpikegradInputError(
                f"target labels must lie in [0, {params.w_out.shape[0]}), got "
                f"{int(target.min())}..{int(target.max())}"
            )
    else:
        check_sequence_tensor("target", target, features=params.w_out.shape[0])
        if target.shape[:2] != x.shape[:2]:
            raise SpikegradInputError(
                f"target must be [T, B, K] with T, B of x {tuple(x.shape[:2])}, "
                f"got {tuple(target.shape)}"
            )


def eprop_gradients(
    x: torch.Tensor, target: torch.Tensor, params: EpropParams, cfg: EpropConfig
) -> tuple[EpropParams, torch.Tensor, torch.Tensor]:
    r"""e-prop gradient of :math:`E` over a whole sequence, computed forward in time.

    Parameters
    ----------
    x:
        Input spikes, time-major ``[T, B, N_in]``.
    target:
        Class labels ``[B]`` (``loss="ce"``) or targets ``[T, B, K]`` (``"mse"``).
    params, cfg:
        Weights and configuration.

    Returns
    -------
    grads, readout, spikes
        Gradients as :class:`EpropParams`, the readout trace :math:`U^o[0..T-1]`
        ``[T, B, K]`` and the hidden spikes ``[T, B, N]``.
    """
    _check_inputs(x, target, params, cfg)
    T, B, _ = x.shape
    tr = EpropTraces.zeros(params, B, cfg.u0_out)
    gw = torch.zeros_like(params.w)
    gv = torch.zeros_like(params.v) if params.v is not None else None
    go = torch.zeros_like(params.w_out)
    outs, spikes = [], []
    for n in range(T):
        s, uo, new = eprop_step(x[n], tr, params, cfg)
        d = _delta(uo, target, n, T, cfg)
        if d is not None:
            a, b, c = step_gradients(d, tr, params)
            gw += a
            go += c
            if gv is not None:
                gv += b
        outs.append(uo)
        spikes.append(s)
        tr = new
    return EpropParams(gw, gv, go), torch.stack(outs), torch.stack(spikes)


def bptt_gradients(
    x: torch.Tensor, target: torch.Tensor, params: EpropParams, cfg: EpropConfig
) -> tuple[EpropParams, torch.Tensor]:
    """Reference: the exact gradient of the same loss by backpropagation through time.

    Uses :func:`~spikegrad.functional.lif.lif_sequence` and
    :func:`~spikegrad.functional.lif.li_sequence` with the same surrogate and a
    detached reset. Returns the gradients and the loss.
    """
    _check_inputs(x, target, params, cfg)
    w = params.w.detach().clone().requires_grad_(True)
    v = params.v.detach().clone().requires_grad_(True) if params.v is not None else None
    wo = params.w_out.detach().clone().requires_grad_(True)
    s, _, _ = lif_sequence(x @ w.t(), cfg.hidden_params, cfg.spike_fn, rec_weight=v, reset="detach")
    uo = li_sequence(s @ wo.t(), cfg.readout_params, u0=cfg.u0_out)
    loss = loss_value(uo, target, cfg)
    grads = torch.autograd.grad(loss, [w, wo] + ([v] if v is not None else []))
    return EpropParams(grads[0], grads[2] if v is not None else None, grads[1]), loss.detach()


def compare_with_bptt(
    x: torch.Tensor, target: torch.Tensor, params: EpropParams, cfg: EpropConfig
) -> dict:
    r"""Relative differences :math:`\|g_\text{e-prop} - g_\text{BPTT}\| / \|g_\text{BPTT}\|`
    and cosine similarities, per weight matrix."""
    ge, _, _ = eprop_gradients(x, target, params, cfg)
    gb, loss = bptt_gradients(x, target, params, cfg)
    out: dict = {"loss": float(loss)}
    for name in ("w", "v", "w_out"):
        a, b = getattr(ge, name), getattr(gb, name)
        if a is None:
            continue
        nb = float(b.norm())
        out[f"{name}_rel_diff"] = float((a - b).norm()) / nb if nb > 0 else float(a.norm())
        denom = float(a.norm()) * nb
        out[f"{name}_cosine"] = float((a * b).sum()) / denom if denom > 0 else float("nan")
    return out


OPTIMIZERS = ("adam", "sgd")
UPDATES = ("sample", "step")


class OnlineEprop:
    r"""A recurrent LIF network that learns online with e-prop, one sequence (or step) at a time.

    ``update="step"`` applies the gradient contribution of every time step as
    soon as it is known (weights change within the sequence: fully online);
    ``update="sample"`` sums them over the sequence and applies them at its end.
    Either way nothing is stored about the past but the traces
    (:class:`EpropTraces`): memory is :math:`O(B N (N_\text{in} + N))`,
    independent of the sequence length. The optimiser is Adam (default) or SGD
    on the e-prop gradient.

    Parameters
    ----------
    n_in, n_hidden, n_out:
        Layer sizes.
    config:
        :class:`EpropConfig`.
    recurrent:
        Recurrent hidden layer (``V``) or feed-forward.
    lr:
        Learning rate.
    optimizer:
        ``"adam"`` or ``"sgd"``.
    update:
        ``"sample"`` or ``"step"``.
    generator:
        Source of the initial weights.
    """

    def __init__(
        self,
        n_in: int,
        n_hidden: int,
        n_out: int,
        config: EpropConfig | None = None,
        *,
        recurrent: bool = True,
        lr: float = 1e-3,
        optimizer: str = "adam",
        update: str = "sample",
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        scale_in: float = 1.0,
        scale_rec: float = 0.5,
    ) -> None:
        self.config = config or EpropConfig()
        self.lr = check_positive("lr", lr)
        self.optimizer = check_choice("optimizer", optimizer, OPTIMIZERS)
        self.update = check_choice("update", update, UPDATES)
        self.params = init_params(
            n_in,
            n_hidden,
            n_out,
            recurrent=recurrent,
            generator=generator,
            dtype=dtype,
            scale_in=scale_in,
            scale_rec=scale_rec,
        )
        self._m = [torch.zeros_like(p) if p is not None else None for p in self.params]
        self._v = [torch.zeros_like(p) if p is not None else None for p in self.params]
        self._t = 0

    def add_outputs(self, n: int = 1) -> None:
        """Grow the readout by ``n`` classes (zero weights), e.g. for a new label in a stream."""
        w, v, wo = self.params
        extra = torch.zeros(n, wo.shape[1], dtype=wo.dtype, device=wo.device)
        self.params = EpropParams(w, v, torch.cat([wo, extra]))
        self._m[2] = torch.cat([self._m[2], extra.clone()])
        self._v[2] = torch.cat([self._v[2], extra.clone()])

    @torch.no_grad()
    def _apply(self, grads: tuple) -> None:
        self._t += 1
        new = []
        for k, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if p is None:
                new.append(None)
                continue
            if self.optimizer == "sgd":
                p = p - self.lr * g
            else:
                b1, b2, eps = 0.9, 0.999, 1e-8
                self._m[k] = b1 * self._m[k] + (1 - b1) * g
                self._v[k] = b2 * self._v[k] + (1 - b2) * g * g
                mh = self._m[k] / (1 - b1**self._t)
                vh = self._v[k] / (1 - b2**self._t)
                p = p - self.lr * mh / (vh.sqrt() + eps)
            if k == 1:
                p.fill_diagonal_(0.0)
            new.append(p)
        self.params = EpropParams(*new)

    @torch.no_grad()
    def learn(self, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Learn from one sequence ``x`` ``[T, B, N_in]``; returns the readout ``[T, B, K]``."""
        cfg = self.config
        _check_inputs(x, target, self.params, cfg)
        T, B, _ = x.shape
        tr = EpropTraces.zeros(self.params, B, cfg.u0_out)
        acc = None
        outs = []
        for n in range(T):
            s, uo, new = eprop_step(x[n], tr, self.params, cfg)
            d = _delta(uo, target, n, T, cfg)
            if d is not None:
                g = step_gradients(d, tr, self.params)
                if self.update == "step":
                    self._apply(g)
                else:
                    acc = (
                        g
                        if acc is None
                        else tuple(
                            a + b if a is not None else None for a, b in zip(acc, g, strict=True)
                        )
                    )
            outs.append(uo)
            tr = new
        if acc is not None:
            self._apply(acc)
        return torch.stack(outs)

    @torch.no_grad()
    def readout(self, x: torch.Tensor) -> torch.Tensor:
        """Readout trace ``[T, B, K]`` of ``x`` ``[T, B, N_in]`` without learning."""
        check_sequence_tensor("x", x, features=self.params.w.shape[1])
        p, cfg = self.params, self.config
        s, _, _ = lif_sequence(
            x @ p.w.t(), cfg.hidden_params, cfg.spike_fn, rec_weight=p.v, reset="detach"
        )
        return li_sequence(s @ p.w_out.t(), cfg.readout_params, u0=cfg.u0_out)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[B, K]``: mean readout over the loss steps (``n >= loss_start``)."""
        uo = self.readout(x)
        return uo[min(self.config.loss_start, uo.shape[0] - 1) :].mean(dim=0)
