r"""Surrogate-gradient BPTT on a spike-train loss through the foundation's LIF neuron.

The comparison method of issue 6: a current-based LIF layer (Zenke & Vogels
eq. 4.1, :func:`~spikegrad.functional.lif.lif_sequence`) driven by binned input
spikes ``[T, B, N]`` through a (optionally delayed) projection, trained with
Adam on the squared van Rossum distance of its binned output to the target,

.. math::

    L = \frac{\Delta t}{\tau_\text{vR}}\sum_n \big(f_a[n] - f_d[n]\big)^2,
    \qquad f[n] = \sum_{m \le n} e^{-(n - m)\Delta t/\tau_\text{vR}} s[m],

or on the Gaussian-kernel distance of the filtered binned trains
(``loss="kernel"``: the same quadratic form with a Gaussian filter of width
``width``). Gradients flow through the surrogate derivative of the spike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from .._checks import SpikegradInputError, check_choice, check_positive, check_sequence_tensor
from ..functional.delay import delayed_linear
from ..functional.lif import LIFParams, decay, lif_sequence
from ..functional.surrogate import make_surrogate
from .kernels import schreiber_correlation, van_rossum_binned, van_rossum_distance
from .trains import from_binned

__all__ = ["BPTTConfig", "BPTTResult", "gaussian_kernel_loss", "train_bptt"]

LOSSES = ("van_rossum", "kernel")


@dataclass(frozen=True)
class BPTTConfig:
    """Hyper-parameters of :func:`train_bptt` (time in seconds; delays in steps)."""

    dt: float = 1e-3
    tau_mem: float = 10e-3
    tau_syn: float = 5e-3
    surrogate: str = "superspike"
    beta: float = 10.0
    loss: str = "van_rossum"
    vr_tau: float = 10e-3
    width: float = 5e-3
    lr: float = 5e-3
    lr_delay: float = 0.5
    max_delay: int = 0
    learn_delays: bool = False
    corr_sigma: float = 2e-3

    def __post_init__(self) -> None:
        for k in ("dt", "tau_mem", "tau_syn", "vr_tau", "width", "lr", "corr_sigma"):
            check_positive(k, getattr(self, k))
        check_choice("loss", self.loss, LOSSES)
        if int(self.max_delay) < 0:
            raise SpikegradInputError(f"max_delay must be >= 0 steps, got {self.max_delay}")


@dataclass
class BPTTResult:
    weights: torch.Tensor
    delays: torch.Tensor | None
    correlation: list[float] = field(default_factory=list)
    distance: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    outputs: list = field(default_factory=list)
    epochs_to_target: int | None = None


def gaussian_kernel_loss(x: torch.Tensor, y: torch.Tensor, width: float, dt: float) -> torch.Tensor:
    r"""Squared Gaussian-kernel distance of binned trains ``[T, ...]``:
    :math:`\sum_{m,n}(x-y)[m](x-y)[n]\,e^{-((m-n)\Delta t)^2/2w^2}` (sum over time only)."""
    half = max(1, int(math.ceil(5 * width / dt)))
    k = torch.exp(
        -0.5 * (torch.arange(-half, half + 1, dtype=x.dtype, device=x.device) * dt / width) ** 2
    )
    diff = x - y
    T = diff.shape[0]
    flat = diff.reshape(T, -1).t().unsqueeze(1)
    conv = torch.nn.functional.conv1d(flat, k.view(1, 1, -1), padding=half).squeeze(1).t()
    return (conv * diff.reshape(T, -1)).sum(0).reshape(diff.shape[1:])


def train_bptt(
    inputs: torch.Tensor,
    target: torch.Tensor,
    weights: torch.Tensor,
    *,
    config: BPTTConfig = BPTTConfig(),  # noqa: B008 (frozen dataclass, immutable)
    delays: torch.Tensor | None = None,
    epochs: int = 100,
    target_correlation: float | None = 0.95,
    record_outputs: bool = False,
) -> BPTTResult:
    r"""Train LIF neurons on binned inputs ``[T, B, N]`` to emit binned targets ``[T, B, O]``.

    ``weights`` ``[O, N]`` initial weights; ``delays`` ``[O, N]`` initial delays in steps
    (used with ``config.max_delay > 0``). Returns per-epoch C (Schreiber, of the
    trains extracted with spike time = step * dt), van Rossum distance and loss,
    measured *before* each update (entry 0: initial network).
    """
    check_sequence_tensor("inputs", inputs)
    check_sequence_tensor("target", target)
    if weights.dim() != 2 or weights.shape[1] != inputs.shape[-1]:
        raise SpikegradInputError(f"weights must be [O, {inputs.shape[-1]}]")
    if target.shape[:2] != inputs.shape[:2] or target.shape[-1] != weights.shape[0]:
        raise SpikegradInputError(
            f"target must be [T, B, {weights.shape[0]}] matching inputs, got {tuple(target.shape)}"
        )
    c = config
    w = torch.nn.Parameter(weights.detach().clone().to(inputs.dtype))
    params = [{"params": [w], "lr": c.lr}]
    d = None
    if c.max_delay > 0:
        d0 = torch.zeros_like(w) if delays is None else delays.detach().clone().to(inputs.dtype)
        d = torch.nn.Parameter(d0) if c.learn_delays else d0
        if c.learn_delays:
            params.append({"params": [d], "lr": c.lr_delay})
    opt = torch.optim.Adam(params)
    lif = LIFParams(decay(c.tau_mem, c.dt), decay(c.tau_syn, c.dt))
    sur = make_surrogate(c.surrogate, c.beta)
    tgt_trains = from_binned(target, c.dt)
    res = BPTTResult(w.detach(), None if d is None else d.detach())
    for ep in range(int(epochs) + 1):
        if d is None:
            cur = inputs @ w.t()
        else:
            cur = delayed_linear(inputs, w, d, c.max_delay)
        out, _, _ = lif_sequence(cur, lif, sur)
        if c.loss == "van_rossum":
            loss = van_rossum_binned(out, target, c.vr_tau, c.dt).sum()
        else:
            loss = gaussian_kernel_loss(out, target, c.width, c.dt).sum()
        with torch.no_grad():
            tr = from_binned(out.detach(), c.dt)
            cc = float(schreiber_correlation(tr, tgt_trains, c.corr_sigma).mean())
            dist = float(van_rossum_distance(tr, tgt_trains, c.vr_tau).mean())
        res.correlation.append(cc)
        res.distance.append(dist)
        res.loss.append(float(loss.detach()))
        if record_outputs:
            res.outputs.append(tr.lists())
        if res.epochs_to_target is None and target_correlation is not None:
            if cc >= target_correlation:
                res.epochs_to_target = ep
        if ep == int(epochs):
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
        if d is not None and c.learn_delays:
            with torch.no_grad():
                d.clamp_(0.0, float(c.max_delay))
    res.weights = w.detach()
    res.delays = None if d is None else d.detach()
    return res
