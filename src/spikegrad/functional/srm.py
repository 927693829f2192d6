r"""Spike response model SRM\ :sub:`0` with multi-spike output, driven by spike times.

.. math::

    u_o(t) = \sum_i w_{oi} \sum_f \varepsilon(t - t_i^f - d_{oi})
             + \sum_{\hat t_o < t} \eta(t - \hat t_o), \qquad
    \varepsilon(s) = \frac{s}{\tau}\, e^{1 - s/\tau}\,\Theta(s), \qquad
    \eta(s) = -\theta\, e^{-s/\tau_R}\,\Theta(s)

(the SRM\ :sub:`0` of Gerstner & Kistler 2002 as spikegrad reads its use by Lin,
Zhang & Zhang 2012).
The PSP kernel peaks at 1 for :math:`s = \tau`. Output spikes are emitted when
:math:`u_o` reaches the threshold :math:`\theta` (1 by default, as in the rest of
spikegrad); after each spike the refractory kernel is added, so the neuron may
fire again (multi-spike output).

The membrane is evaluated on the grid :math:`t_n = n\,\Delta t`, ``n = 0..T-1``
(inputs and delays stay continuous: :math:`\varepsilon` is evaluated at the exact
shifted times). A threshold crossing between :math:`t_{n-1}` and :math:`t_n` is
placed by linear interpolation of :math:`u` (``interpolate=True``, default) or at
:math:`t_n`. The simulation is vectorised over batch, neurons and time; it loops
only over output spikes (each adds its refractory kernel to the rest of the trace).

Everything here is pure (no state between calls, parameters passed in):
:func:`srm_simulate` is the one SRM\ :sub:`0` simulator of spikegrad;
:class:`spikegrad.nn.SRMLayer` holds the weights and delays as parameters and calls it.
Times (spikes, delays, ``tau``, ``tau_r``, ``dt``, ``duration``) are in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import SpikegradInputError, check_positive
from .spiketrains import SpikeTrains, check_trains

__all__ = [
    "SRMParams",
    "psp_kernel",
    "refractory_kernel",
    "psp_trace",
    "free_membrane",
    "srm_simulate",
]


@dataclass(frozen=True)
class SRMParams:
    r"""Constants of the SRM\ :sub:`0` neuron (seconds; dimensionless threshold).

    Attributes
    ----------
    tau:
        PSP time constant :math:`\tau` (the PSP peaks at 1 after ``tau``). Default 7 ms.
    tau_r:
        Refractory time constant :math:`\tau_R`. Default 10 ms.
    threshold:
        Firing threshold :math:`\theta`. Default 1.
    dt:
        Grid step of the membrane evaluation. Default 1 ms.
    duration:
        Length of the simulated window; ``T = round(duration / dt)`` grid points.
    max_spikes:
        Most output spikes per neuron and trial (the simulation stops there).
    interpolate:
        Place output spikes at the linearly interpolated threshold crossing.
    psp_window:
        The PSP is evaluated over ``psp_window * tau`` after each input spike
        (default 15: :math:`\varepsilon(15\tau) = 15e^{-14} < 2\cdot10^{-5}`).
    """

    tau: float = 7e-3
    tau_r: float = 10e-3
    threshold: float = 1.0
    dt: float = 1e-3
    duration: float = 1.0
    max_spikes: int = 100
    interpolate: bool = True
    psp_window: float = 15.0

    def __post_init__(self) -> None:
        for name in ("tau", "tau_r", "threshold", "dt", "duration"):
            object.__setattr__(self, name, check_positive(name, getattr(self, name)))
        if int(self.max_spikes) < 1:
            raise SpikegradInputError(f"max_spikes must be >= 1, got {self.max_spikes}")

    @property
    def n_steps(self) -> int:
        return max(1, int(round(self.duration / self.dt)))


def psp_kernel(s: torch.Tensor, tau: float) -> torch.Tensor:
    r""":math:`\varepsilon(s) = (s/\tau)\,e^{1 - s/\tau}` for :math:`s > 0`, else 0."""
    x = s / tau
    return torch.where(s > 0, x * torch.exp(1.0 - x.clamp_min(0.0)), torch.zeros_like(s))


def refractory_kernel(s: torch.Tensor, tau_r: float, threshold: float = 1.0) -> torch.Tensor:
    r""":math:`\eta(s) = -\theta\,e^{-s/\tau_R}` for :math:`s > 0`, else 0."""
    return torch.where(
        s > 0, -threshold * torch.exp(-s.clamp_min(0.0) / tau_r), torch.zeros_like(s)
    )


def psp_trace(inputs: SpikeTrains, params: SRMParams, delays: torch.Tensor | None = None):
    r"""PSP traces :math:`P_i(t_n) = \sum_f \varepsilon(t_n - t_i^f - d_i)`, shape ``[..., N, T]``.

    ``inputs`` is ``[..., N, M]``; ``delays`` broadcasts against ``[..., N]``.
    Loops over the M spike slots to keep memory at ``[..., N, T]``.
    """
    t, m = inputs
    if delays is not None:
        t = t + delays.unsqueeze(-1)
        m = m.expand(t.shape)
    grid = torch.arange(params.n_steps, dtype=t.dtype, device=t.device) * params.dt
    out = torch.zeros(*t.shape[:-1], params.n_steps, dtype=t.dtype, device=t.device)
    for f in range(t.shape[-1]):
        e = psp_kernel(grid - t[..., f : f + 1], params.tau)
        out = out + torch.where(m[..., f : f + 1], e, torch.zeros_like(e))
    return out


def free_membrane(
    inputs: SpikeTrains,
    weights: torch.Tensor,
    params: SRMParams,
    delays: torch.Tensor | None = None,
) -> torch.Tensor:
    r"""Membrane without refractoriness,
    :math:`\sum_i w_{oi}\sum_f \varepsilon(t_n - t_i^f - d_{oi})`.

    Event-driven: every input spike adds its PSP to the ``psp_window * tau`` grid
    points after it (one scatter-add), instead of evaluating every PSP on the whole
    grid as :func:`psp_trace` (the dense reference) does. ``inputs`` ``[B, N, M]``,
    ``weights`` ``[O, N]``, ``delays`` ``None``, ``[N]`` or ``[O, N]``; returns
    ``[B, O, T]``.
    """
    t, m = inputs
    B, N, M = t.shape
    O = weights.shape[0]
    T = params.n_steps
    dt = params.dt
    L = max(1, int(math.ceil(params.psp_window * params.tau / dt)) + 1)
    d = torch.zeros(1, N, dtype=t.dtype, device=t.device) if delays is None else delays
    d = d.reshape(-1, N)  # [1 or O, N]
    ks = torch.arange(L, device=t.device)
    if d.shape[0] == 1:
        # delays shared by all outputs: one PSP trace per input, then mix with the weights
        tb = t + d.unsqueeze(-1)  # [B, N, M]
        start = (torch.floor(tb / dt).to(torch.long) + 1).clamp(0, T)
        idx = start.unsqueeze(-1) + ks  # [B, N, M, L]
        vals = psp_kernel(idx.to(t.dtype) * dt - tb.unsqueeze(-1), params.tau)
        vals = torch.where(m.unsqueeze(-1), vals, torch.zeros_like(vals))
        P = torch.zeros(B, N, T + L + 1, dtype=t.dtype, device=t.device)
        P.scatter_add_(-1, idx.clamp_max(T + L).reshape(B, N, -1), vals.reshape(B, N, -1))
        return torch.einsum("on,bnt->bot", weights.to(t.dtype), P[..., :T])
    u = torch.zeros(B, O, T + L + 1, dtype=t.dtype, device=t.device)
    chunk = max(1, int(4e6 // max(1, O * N * M * L)))
    for b0 in range(0, B, chunk):
        tb = t[b0 : b0 + chunk].unsqueeze(1) + d.unsqueeze(0).unsqueeze(-1)  # [b, O, N, M]
        mb = m[b0 : b0 + chunk].unsqueeze(1).expand(tb.shape)
        start = (torch.floor(tb / dt).to(torch.long) + 1).clamp(0, T)
        idx = start.unsqueeze(-1) + ks  # [b, O, N, M, L]
        s_ = idx.to(t.dtype) * dt - tb.unsqueeze(-1)
        vals = psp_kernel(s_, params.tau) * weights.unsqueeze(0).unsqueeze(-1).unsqueeze(-1)
        vals = torch.where(mb.unsqueeze(-1), vals, torch.zeros_like(vals))
        nb = tb.shape[0]
        u[b0 : b0 + nb].scatter_add_(
            -1, idx.clamp_max(T + L).reshape(nb, O, -1), vals.reshape(nb, O, -1)
        )
    return u[..., :T]


@torch.no_grad()
def srm_simulate(
    inputs: SpikeTrains,
    weights: torch.Tensor,
    params: SRMParams,
    delays: torch.Tensor | None = None,
    *,
    record_membrane: bool = False,
) -> tuple[SpikeTrains, torch.Tensor | None]:
    r"""Simulate SRM\ :sub:`0` neurons on input spike trains.

    Parameters
    ----------
    inputs:
        Input trains ``[N, M]`` or ``[B, N, M]`` (seconds).
    weights:
        ``[O, N]`` (O output neurons) or ``[N]`` (one neuron).
    params:
        Neuron constants and grid.
    delays:
        Synaptic delays (seconds, >= 0): ``None``, ``[N]`` (one per input, shared
        by all outputs) or ``[O, N]`` (one per synapse).
    record_membrane:
        Also return :math:`u(t_n)` (refractoriness included), ``[B, O, T]``.

    Returns
    -------
    outputs, membrane
        Output trains ``[B, O, K]`` (batch and neuron dimensions squeezed back
        to the input's form: ``[O, K]`` for unbatched inputs, ``[K]`` for ``[N]``
        weights) and the membrane or ``None``. ``K`` may be 0 (silence).
    """
    inputs = check_trains("inputs", inputs)
    if not isinstance(weights, torch.Tensor) or weights.dim() not in (1, 2):
        raise SpikegradInputError("weights must be a tensor [O, N] or [N]")
    single = weights.dim() == 1
    w = weights.unsqueeze(0) if single else weights
    t_in, m_in = inputs
    batched = t_in.dim() == 3
    if not batched:
        if t_in.dim() != 2:
            raise SpikegradInputError(
                f"inputs must be [N, M] or [B, N, M], got {tuple(t_in.shape)}"
            )
        t_in, m_in = t_in.unsqueeze(0), m_in.unsqueeze(0)
    B, N, _ = t_in.shape
    O = w.shape[0]
    if w.shape[1] != N:
        raise SpikegradInputError(f"weights have {w.shape[1]} inputs but inputs has {N} trains")
    w = w.to(t_in.dtype)
    if delays is not None:
        delays = delays.to(t_in.dtype)
        if delays.dim() == 1 and single:
            delays = delays.unsqueeze(0)
        if delays.shape not in ((N,), (O, N)):
            raise SpikegradInputError(
                f"delays must have shape [{N}] or [{O}, {N}], got {tuple(delays.shape)}"
            )
    u = free_membrane(SpikeTrains(t_in, m_in), w, params, delays)
    times, mask, u = _fire(u, params)
    out = SpikeTrains(times, mask)
    if single:
        out = SpikeTrains(out.times[:, 0], out.mask[:, 0])
        u = u[:, 0]
    if not batched:
        out = SpikeTrains(out.times[0], out.mask[0])
        u = u[0]
    return out, (u if record_membrane else None)


def _fire(u: torch.Tensor, params: SRMParams) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Threshold crossings of ``u`` [B, O, T] with refractory kernels added after each spike."""
    B, O, T = u.shape
    dt, theta = params.dt, params.threshold
    grid = torch.arange(T, dtype=u.dtype, device=u.device) * dt
    steps = torch.arange(T, device=u.device)
    u = u.clone()
    last = torch.full((B, O), -1, dtype=torch.long, device=u.device)
    times, masks = [], []
    for _ in range(int(params.max_spikes)):
        cross = (u >= theta) & (steps > last.unsqueeze(-1))
        fired = cross.any(-1)
        if not bool(fired.any()):
            break
        idx = torch.argmax(cross.to(torch.uint8), -1)  # first crossing
        t_hat = grid[idx]
        if params.interpolate:
            prev = (idx - 1).clamp_min(0)
            u1 = torch.gather(u, -1, idx.unsqueeze(-1)).squeeze(-1)
            u0 = torch.gather(u, -1, prev.unsqueeze(-1)).squeeze(-1)
            ok = (idx > 0) & (u0 < theta) & (u1 > u0)
            frac = torch.where(ok, (theta - u0) / (u1 - u0).clamp_min(1e-12), torch.ones_like(u0))
            t_hat = torch.where(ok, grid[prev] + frac.clamp(0.0, 1.0) * dt, t_hat)
        # refractory kernel from the spike on; the spike's own grid step is reset too
        s_since = (grid - t_hat.unsqueeze(-1)).clamp_min(0.0)
        eta = torch.where(
            steps >= idx.unsqueeze(-1),
            -theta * torch.exp(-s_since / params.tau_r),
            torch.zeros_like(u),
        )
        u = u + torch.where(fired.unsqueeze(-1), eta, torch.zeros_like(eta))
        last = torch.where(fired, idx, last)
        times.append(torch.where(fired, t_hat, torch.zeros_like(t_hat)))
        masks.append(fired)
    if not times:
        return (
            torch.zeros(B, O, 0, dtype=u.dtype, device=u.device),
            torch.zeros(B, O, 0, dtype=torch.bool, device=u.device),
            u,
        )
    return torch.stack(times, -1), torch.stack(masks, -1), u
