r"""Training loops for the kernel rules: one SRM\ :sub:`0` layer (weights and delays) and the
multilayer version, with per-epoch correlation / distance records.

An *epoch* is one presentation of every pattern followed by one update per
pattern (online) -- with a single pattern, one simulation and one update.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .._checks import SpikegradInputError, check_choice, check_nonnegative, check_positive
from .kernels import SpikeKernel, make_kernel, schreiber_correlation, van_rossum_distance
from .rules import (
    kernel_delay_gradient,
    kernel_weight_gradient,
    multilayer_delay_gradient,
    multilayer_hidden_gradient,
    resume_weight_update,
)
from .srm import SRMParams, srm_simulate
from .trains import SpikeTrains, check_trains

__all__ = [
    "RULES",
    "KernelRuleConfig",
    "EpochRecord",
    "SpikeTimeResult",
    "rule_update",
    "train_spike_times",
    "train_multilayer",
]

#: Weight rules of :func:`train_spike_times`.
RULES = ("kernel", "resume")


@dataclass(frozen=True)
class KernelRuleConfig:
    """Hyper-parameters of the kernel rules (defaults measured on the 400-input task).

    Attributes
    ----------
    kernel, width:
        ``"gaussian"`` (sigma) or ``"laplacian"`` (tau) and its width in seconds (5 ms).
    lr:
        Weight learning rate :math:`\\eta_w` (3e-3).
    lr_delay:
        Delay learning rate :math:`\\eta_d` in s per unit gradient (1e-3).
    learn_delays:
        Also apply the delay rule.
    max_delay:
        Delays are clamped to ``[0, max_delay]`` seconds (20 ms).
    offset:
        Extra shift of the input spikes in the kernel comparison (0; see
        :mod:`spikegrad.spiketrain.rules`).
    rule:
        ``"kernel"`` (Lin et al.) or ``"resume"`` (baseline; ``resume_a``,
        ``resume_amplitude``, ``resume_tau`` set its window).
    corr_sigma:
        Width of the Gaussian filter of the Schreiber correlation (2 ms).
    vr_tau:
        Time constant of the reported van Rossum distance (10 ms).
    """

    kernel: str = "gaussian"
    width: float = 5e-3
    lr: float = 3e-3
    lr_delay: float = 1e-3
    learn_delays: bool = False
    max_delay: float = 20e-3
    offset: float = 0.0
    rule: str = "kernel"
    resume_a: float = 0.0
    resume_amplitude: float = 1.0
    resume_tau: float = 5e-3
    corr_sigma: float = 2e-3
    vr_tau: float = 10e-3

    def __post_init__(self) -> None:
        check_positive("width", self.width)
        check_positive("lr", self.lr)
        check_nonnegative("lr_delay", self.lr_delay)
        check_nonnegative("max_delay", self.max_delay)
        check_choice("rule", self.rule, RULES)
        check_positive("corr_sigma", self.corr_sigma)
        check_positive("vr_tau", self.vr_tau)
        make_kernel(self.kernel, self.width)

    def make_kernel(self) -> SpikeKernel:
        return make_kernel(self.kernel, self.width)


_DEFAULT_PARAMS = SRMParams()
_DEFAULT_CONFIG = KernelRuleConfig()


@dataclass
class EpochRecord:
    """Per-epoch record: mean Schreiber C, mean van Rossum distance, mean output spikes."""

    epoch: int
    correlation: float
    distance: float
    spikes: float
    outputs: list | None = None


@dataclass
class SpikeTimeResult:
    """What :func:`train_spike_times` returns."""

    weights: torch.Tensor
    delays: torch.Tensor | None
    history: list[EpochRecord] = field(default_factory=list)
    epochs_to_target: int | None = None
    hidden_weights: torch.Tensor | None = None

    @property
    def correlation(self) -> float:
        return self.history[-1].correlation if self.history else float("nan")


def rule_update(
    inputs: SpikeTrains,
    actual: SpikeTrains,
    desired: SpikeTrains,
    weights: torch.Tensor,
    delays: torch.Tensor | None,
    config: KernelRuleConfig,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    r"""One update: :math:`w \leftarrow w - \eta_w\,\partial E/\partial w` (kernel rule) or
    :math:`w \leftarrow w + \eta_w \Delta w_\text{ReSuMe}`; with ``learn_delays``
    :math:`d \leftarrow \mathrm{clamp}(d - \eta_d\,\partial E/\partial d, 0, d_\max)`.
    Canonical shapes (``[B, N, M]``, ``[B, O, K]``, ``[O, N]``); averaged over ``B``."""
    k = config.make_kernel()
    if config.rule == "kernel":
        dw = -kernel_weight_gradient(inputs, actual, desired, k, delays, offset=config.offset)
    else:
        dw = resume_weight_update(
            inputs,
            actual,
            desired,
            delays,
            a=config.resume_a,
            amplitude=config.resume_amplitude,
            tau_l=config.resume_tau,
        )
    new_w = weights + config.lr * dw.mean(0)
    new_d = delays
    if config.learn_delays and delays is not None:
        gd = kernel_delay_gradient(
            inputs, actual, desired, weights, k, delays, offset=config.offset
        )
        new_d = (delays - config.lr_delay * gd.mean(0)).clamp(0.0, config.max_delay)
    return new_w, new_d


def _batched(name: str, tr: SpikeTrains, rank: int) -> SpikeTrains:
    tr = check_trains(name, tr)
    while tr.times.dim() < rank:
        tr = SpikeTrains(tr.times.unsqueeze(0), tr.mask.unsqueeze(0))
    if tr.times.dim() != rank:
        raise SpikegradInputError(f"{name} has too many dimensions: {tuple(tr.times.shape)}")
    return tr


def _measure(out: SpikeTrains, desired: SpikeTrains, config: KernelRuleConfig) -> tuple:
    c = schreiber_correlation(out, desired, config.corr_sigma)
    d = van_rossum_distance(out, desired, config.vr_tau)
    return float(c.mean()), float(d.mean()), float(out.mask.sum(-1).float().mean())


def train_spike_times(
    inputs: SpikeTrains,
    desired: SpikeTrains,
    weights: torch.Tensor,
    *,
    params: SRMParams = _DEFAULT_PARAMS,
    config: KernelRuleConfig = _DEFAULT_CONFIG,
    delays: torch.Tensor | None = None,
    epochs: int = 100,
    target_correlation: float | None = 0.95,
    stop_at_target: bool = False,
    record_outputs: bool = False,
    callback=None,
) -> SpikeTimeResult:
    r"""Train one layer of SRM\ :sub:`0` neurons to emit ``desired`` spike trains.

    Parameters
    ----------
    inputs:
        ``[N, M]`` (one pattern) or ``[P, N, M]`` (P patterns).
    desired:
        ``[K]`` (one neuron, one pattern), ``[O, K]`` or ``[P, O, K]``.
    weights:
        Initial weights ``[O, N]`` (or ``[N]``).
    delays:
        Initial delays in seconds, ``[O, N]`` / ``[N]``; required when
        ``config.learn_delays`` (``None``: no delays).
    epochs:
        Number of epochs; each presents every pattern once, in order, updating after each.
    target_correlation:
        Record the first epoch whose mean C reaches this (``epochs_to_target``).
    stop_at_target:
        Stop there.
    record_outputs:
        Keep every epoch's output trains (lists) in the history (for plots).
    callback:
        ``callback(record)`` after every epoch.

    Returns
    -------
    SpikeTimeResult
        Final weights/delays, per-epoch history (epoch 0 = before learning),
        ``epochs_to_target`` (number of updating epochs needed, or ``None``).
    """
    inp = _batched("inputs", inputs, 3)
    des = _batched("desired", desired, 3)
    w = weights.detach().clone()
    if w.dim() == 1:
        w = w.unsqueeze(0)
    P, N, _ = inp.times.shape
    if des.times.shape[0] != P:
        if des.times.shape[0] == 1:
            des = SpikeTrains(
                des.times.expand(P, *des.times.shape[1:]), des.mask.expand(P, *des.mask.shape[1:])
            )
        else:
            raise SpikegradInputError(
                f"desired has {des.times.shape[0]} patterns but inputs has {P}"
            )
    if w.shape != (des.times.shape[1], N):
        raise SpikegradInputError(
            f"weights must be [{des.times.shape[1]}, {N}] (outputs x inputs), got {tuple(w.shape)}"
        )
    d = None
    if delays is not None:
        d = delays.detach().clone().to(inp.times.dtype)
        if d.dim() == 1:
            d = d.unsqueeze(0).expand_as(w).clone()
        if d.shape != w.shape:
            raise SpikegradInputError(f"delays must be [N] or {tuple(w.shape)}")
    elif config.learn_delays:
        d = torch.zeros_like(w, dtype=inp.times.dtype)
    w = w.to(inp.times.dtype)
    if int(epochs) < 0:
        raise SpikegradInputError(f"epochs must be >= 0, got {epochs}")
    res = SpikeTimeResult(w, d)

    last: list[SpikeTrains] = []

    def evaluate(ep: int) -> EpochRecord:
        out, _ = srm_simulate(inp, w, params, d)
        last[:] = [out]
        c, dist, n = _measure(out, des, config)
        rec = EpochRecord(ep, c, dist, n, out.lists() if record_outputs else None)
        res.history.append(rec)
        if callback is not None:
            callback(rec)
        return rec

    rec = evaluate(0)
    if target_correlation is not None and rec.correlation >= target_correlation:
        res.epochs_to_target = 0
    for ep in range(1, int(epochs) + 1):
        if res.epochs_to_target is not None and stop_at_target:
            break
        for p in range(P):
            x = SpikeTrains(inp.times[p : p + 1], inp.mask[p : p + 1])
            y = SpikeTrains(des.times[p : p + 1], des.mask[p : p + 1])
            if P == 1:
                out = last[0]  # same weights as the evaluation just done: reuse its output
            else:
                out, _ = srm_simulate(x, w, params, d)
            w, d = rule_update(x, out, y, w, d, config)
        rec = evaluate(ep)
        if (
            res.epochs_to_target is None
            and target_correlation is not None
            and rec.correlation >= target_correlation
        ):
            res.epochs_to_target = ep
    res.weights, res.delays = w, d
    return res


def train_multilayer(
    inputs: SpikeTrains,
    desired: SpikeTrains,
    hidden_weights: torch.Tensor,
    out_weights: torch.Tensor,
    *,
    params: SRMParams = _DEFAULT_PARAMS,
    config: KernelRuleConfig = _DEFAULT_CONFIG,
    hidden_delays: torch.Tensor | None = None,
    lr_hidden: float | None = None,
    epochs: int = 100,
    target_correlation: float | None = 0.95,
    record_outputs: bool = False,
) -> SpikeTimeResult:
    r"""Multilayer kernel rule: inputs -> SRM\ :sub:`0` hidden layer -> SRM\ :sub:`0` outputs.

    Output weights: :math:`\Delta w_{oh} = \eta(\langle s_h, s_d^o\rangle - \langle s_h,
    s_a^o\rangle)`; hidden weights: :math:`\Delta w_{hi} = \eta_h\sum_o w_{oh}(\langle s_i,
    s_d^o\rangle - \langle s_i, s_a^o\rangle)` (``lr_hidden``, default ``config.lr``).
    With ``config.learn_delays`` the input-to-hidden delays ``hidden_delays``
    (``[H, N]`` seconds) follow the delay rule with the error back-propagated the
    same way (:math:`\partial E/\partial d_{hi} = w_{hi}\sum_o w_{oh}[\ldots]`).
    Shapes: inputs ``[N, M]`` or ``[P, N, M]``, desired ``[O, K]`` or ``[P, O, K]``,
    ``hidden_weights`` ``[H, N]``, ``out_weights`` ``[O, H]``.
    """
    inp = _batched("inputs", inputs, 3)
    des = _batched("desired", desired, 3)
    P = inp.times.shape[0]
    wh = hidden_weights.detach().clone().to(inp.times.dtype)
    wo = out_weights.detach().clone().to(inp.times.dtype)
    dh = None
    if hidden_delays is not None or config.learn_delays:
        dh = (
            torch.zeros_like(wh)
            if hidden_delays is None
            else hidden_delays.detach().clone().to(wh.dtype)
        )
    eta_h = config.lr if lr_hidden is None else check_positive("lr_hidden", lr_hidden)
    k = config.make_kernel()
    res = SpikeTimeResult(wo, None, hidden_weights=wh)

    def forward(x: SpikeTrains) -> tuple[SpikeTrains, SpikeTrains]:
        h, _ = srm_simulate(x, wh, params, dh)
        o, _ = srm_simulate(h, wo, params)
        return h, o

    def evaluate(ep: int) -> None:
        _, out = forward(inp)
        c, dist, n = _measure(out, des, config)
        res.history.append(EpochRecord(ep, c, dist, n, out.lists() if record_outputs else None))
        if (
            res.epochs_to_target is None
            and target_correlation is not None
            and c >= target_correlation
        ):
            res.epochs_to_target = ep

    evaluate(0)
    for ep in range(1, int(epochs) + 1):
        for p in range(P):
            x = SpikeTrains(inp.times[p : p + 1], inp.mask[p : p + 1])
            y = SpikeTrains(des.times[p : p + 1], des.mask[p : p + 1])
            h, o = forward(x)
            g_o = kernel_weight_gradient(h, o, y, k, offset=config.offset).mean(0)
            g_h = multilayer_hidden_gradient(x, o, y, wo, k, dh, offset=config.offset).mean(0)
            if config.learn_delays:
                gd = multilayer_delay_gradient(x, o, y, wh, wo, k, dh, offset=config.offset)
                dh = (dh - config.lr_delay * gd.mean(0)).clamp(0.0, config.max_delay)
            wo = wo - config.lr * g_o
            wh = wh - eta_h * g_h
        evaluate(ep)
    res.weights, res.hidden_weights, res.delays = wo, wh, dh
    return res
