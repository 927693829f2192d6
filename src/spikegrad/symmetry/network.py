r"""Delay lines and LIF coincidence detectors for mirror symmetry (George et al. 2021).

Every pixel :math:`p` is an input neuron (see :mod:`spikegrad.symmetry.encoding`).
For each axis orientation and parity (:mod:`spikegrad.symmetry.geometry`) every
pixel :math:`q` carries one detector neuron, connected to the pixels of its pair
line with weight :math:`w` and a conduction delay :math:`d_a` that grows with the
distance of pair :math:`a` from the axis. The input current of detector :math:`q`
at tick :math:`t` (time-major, input spikes :math:`s_\text{in}[t, p]`) is

.. math::

    I_q[t] = w \sum_{a=1}^{R} \big(s_\text{in}[t - d_a,\ q + k^-_a v]
                                  + s_\text{in}[t - d_a,\ q + k^+_a v]\big)

with the pair offsets :math:`(k^-_a, k^+_a)` = :math:`(-a, a)` (axis on the pixel)
or :math:`(-(a-1), a)` (axis between pixels). The detector is a LIF neuron with a
short leak and a threshold that needs :math:`k` coincident spikes:

.. math::

    V_q[t] &= \beta\, U_q[t-1] + I_q[t], \qquad \beta = e^{-1/\tau}
             \ (\beta = 0 \text{ for } \tau = 0) \\
    S_q[t] &= \Theta(V_q[t] - \theta), \qquad \Theta(0) = 0,
             \qquad \theta = (k - \tfrac12)\, w \\
    U_q[t] &= V_q[t]\,(1 - S_q[t]) \qquad \text{(reset to rest)}

:math:`\tau` is in ticks. With :math:`\tau = 0` the membrane forgets everything
after one tick (exact coincidence); with :math:`\tau \approx 2` two spikes one tick
apart still add up to :math:`(1 + e^{-1/2}) w > 1.5 w`, so *the leak sets the
jitter tolerance*. With binary inputs at :math:`t = 0`, :math:`\tau = 0`,
:math:`k = 2` and distinct delays per pair, detector :math:`q` fires once at
tick :math:`d_a` for every active pair :math:`a`, so its spike count is the pair
count of :mod:`spikegrad.symmetry.oracle`.

The delay-line form of :math:`I_q` is from the paper and its patent; the neuron
equations, the threshold :math:`(k-\frac12)w`, the reset and the rounding of
delays are spikegrad's reading (the paper gives no numbers for them).

Two simulators, which agree wherever both apply:

* :func:`run_detectors` steps through integer ticks (time-major ``[T, B, H, W]``),
  streaming: memory :math:`O(BHW)` unless ``record=True``; cost
  :math:`O((T_\text{in} R + T_\text{in} + d_R) B H W)` per orientation and parity.
* :func:`run_detectors_exact` is event-driven in continuous time: real-valued
  (fractional) delays and spike times, one spike per input pixel at most; it
  sorts the :math:`2R` arrivals at each detector (memory :math:`O(R B H W)`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_choice, check_nonnegative, check_positive
from .geometry import (
    METRICS,
    delays,
    effective_radius,
    pad_image,
    pair_offsets,
    pair_step,
    shift,
)

__all__ = [
    "SymmetryNetwork",
    "DetectorParams",
    "DetectorResult",
    "detector_step",
    "detector_input",
    "run_detectors",
    "run_detectors_exact",
    "synchronised_output",
    "connectivity",
    "check_spikes",
    "check_times",
]


class DetectorParams(NamedTuple):
    r"""Parameters of the coincidence detector: decay :math:`\beta`, threshold, weight."""

    beta: float
    threshold: float
    weight: float


@dataclass(frozen=True)
class SymmetryNetwork:
    r"""Settings of the delay-line coincidence network.

    Parameters
    ----------
    max_radius:
        Largest pair index :math:`R` (pairs :math:`a = 1..R`, i.e. up to about
        :math:`R` pixels from the axis); ``None``: every pair inside the image.
        Default 8 (best of 8 and 16 on the generated scenes, see docs/symmetry.md).
    ticks_per_pixel:
        Delay per pixel of distance :math:`\kappa` (ticks).
    metric:
        ``"euclidean"`` (diagonal steps are :math:`\sqrt2` long) or ``"steps"``.
    tau:
        Membrane time constant of the detectors in ticks (0: no memory).
    k:
        Number of coincident spikes needed; sets the threshold :math:`(k - \frac12) w`.
    weight:
        Synaptic weight :math:`w` of every delay line.
    threshold:
        Explicit threshold (overrides ``k``).
    fractional:
        Use real-valued delays :math:`r\kappa` and the event-driven simulator.
    """

    max_radius: int | None = 8
    ticks_per_pixel: float = 1.0
    metric: str = "euclidean"
    tau: float = 0.0
    k: int = 2
    weight: float = 1.0
    threshold: float | None = None
    fractional: bool = False

    def __post_init__(self) -> None:
        if self.max_radius is not None and (
            isinstance(self.max_radius, bool)
            or not isinstance(self.max_radius, int)
            or self.max_radius < 1
        ):
            raise SpikegradInputError(
                f"max_radius must be an int >= 1 or None, got {self.max_radius!r}"
            )
        check_positive("ticks_per_pixel", self.ticks_per_pixel)
        check_choice("metric", self.metric, METRICS)
        check_nonnegative("tau", self.tau)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise SpikegradInputError(f"k must be an int >= 1, got {self.k!r}")
        check_positive("weight", self.weight)
        if self.threshold is not None:
            check_positive("threshold", self.threshold)

    @property
    def params(self) -> DetectorParams:
        r""":math:`\beta = e^{-1/\tau}` (0 for :math:`\tau=0`), :math:`\theta`, :math:`w`."""
        beta = 0.0 if self.tau == 0 else math.exp(-1.0 / self.tau)
        theta = self.threshold if self.threshold is not None else (self.k - 0.5) * self.weight
        return DetectorParams(beta, float(theta), float(self.weight))


class DetectorResult(NamedTuple):
    """Output of :func:`run_detectors`.

    ``counts`` ``[B, H, W]``: spikes per detector; ``spikes`` ``[T, B, H, W]``
    (time-major) when recorded, else ``None``; ``delays``: :math:`d_a` for
    ``a = 1..R``.
    """

    counts: torch.Tensor
    spikes: torch.Tensor | None
    delays: list


def check_spikes(name: str, spikes: object) -> torch.Tensor:
    """Validate a time-major input spike tensor ``[T, B, H, W]`` (float, finite, >= 0)."""
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [T, B, H, W], got {type(spikes).__name__}")
    if spikes.dim() != 4:
        raise SpikegradInputError(
            f"{name} must be time-major [T, B, H, W] (4 dimensions); got shape "
            f"{tuple(spikes.shape)}"
        )
    if spikes.dtype == torch.bool:
        spikes = spikes.float()
    if not spikes.is_floating_point():
        raise TypeError(f"{name} must be float or bool, got {spikes.dtype}")
    if spikes.shape[0] == 0 or spikes.numel() == 0:
        raise SpikegradInputError(f"{name} is empty (shape {tuple(spikes.shape)})")
    if not bool(torch.isfinite(spikes).all()):
        raise SpikegradInputError(f"{name} contains NaN or infinite values")
    if bool((spikes < 0).any()):
        raise SpikegradInputError(f"{name} contains negative spike counts")
    return spikes


def check_times(name: str, times: object) -> torch.Tensor:
    """Validate spike times ``[B, H, W]`` (float, ``inf`` = no spike, no NaN, >= 0)."""
    if not isinstance(times, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, H, W], got {type(times).__name__}")
    if times.dim() != 3:
        raise SpikegradInputError(
            f"{name} must have shape [B, H, W] (3 dimensions); got {tuple(times.shape)}"
        )
    if not times.is_floating_point():
        raise TypeError(f"{name} must be a float tensor (inf = no spike), got {times.dtype}")
    if bool(torch.isnan(times).any()):
        raise SpikegradInputError(f"{name} contains NaN (use inf for 'no spike')")
    if bool((times < 0).any()):
        raise SpikegradInputError(f"{name} contains negative spike times")
    return times


def detector_step(
    x: torch.Tensor, u: torch.Tensor, params: DetectorParams
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""One tick of the coincidence detector (pure).

    :math:`V = \beta U + x`, :math:`S = \Theta(V - \theta)`, :math:`U' = V (1 - S)`.
    ``x`` is the input current :math:`I[t]` (already weighted); returns ``(S, U')``.
    """
    v = params.beta * u + x if params.beta else x
    s = (v > params.threshold).to(v.dtype)
    return s, v * (1.0 - s)


def _pairs_by_delay(d: list[int]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = defaultdict(list)
    for a, da in enumerate(d, start=1):
        out[da].append(a)
    return out


def detector_input(
    spikes: torch.Tensor,
    orientation: str,
    parity: str,
    net: SymmetryNetwork | None = None,
) -> torch.Tensor:
    r"""The delayed, weighted input current :math:`I_q[t]` of every detector.

    Parameters
    ----------
    spikes:
        Input spikes, time-major ``[T_in, B, H, W]``.
    orientation, parity:
        Which detector population (see :mod:`~spikegrad.symmetry.geometry`).
    net:
        Network settings (integer delays; ``fractional`` is ignored here).

    Returns
    -------
    torch.Tensor
        ``[T_in + d_R, B, H, W]``, time-major.
    """
    net = net or SymmetryNetwork()
    spikes = check_spikes("spikes", spikes)
    T_in, B, H, W = spikes.shape
    R = effective_radius(orientation, (H, W), net.max_radius)
    d = delays(orientation, parity, R, net.ticks_per_pixel, net.metric)
    step = pair_step(orientation)
    T_out = T_in + (max(d) if d else 0)
    xpad = pad_image(spikes, R)
    out = torch.zeros(T_out, B, H, W, dtype=spikes.dtype, device=spikes.device)
    for a, da in enumerate(d, start=1):
        km, kp = pair_offsets(parity, a)
        out[da : da + T_in] += shift(xpad, R, km, step, H, W) + shift(xpad, R, kp, step, H, W)
    return out * net.weight


def run_detectors(
    spikes: torch.Tensor,
    orientation: str,
    parity: str,
    net: SymmetryNetwork | None = None,
    *,
    record: bool = False,
) -> DetectorResult:
    r"""Simulate one detector population tick by tick (integer delays).

    Equivalent to running :func:`detector_step` over :func:`detector_input`, but
    streaming: the current of tick :math:`t` is built from the shifted input
    frames :math:`t - d_a` only when needed. There is no Python loop over pixels.

    Parameters
    ----------
    spikes:
        Input spikes, time-major ``[T_in, B, H, W]`` (float or bool, counts >= 0).
    orientation, parity:
        Detector population.
    net:
        Network settings (``fractional`` must be ``False``; use
        :func:`run_detectors_exact` for real-valued delays).
    record:
        Also return the output spikes ``[T_in + d_R, B, H, W]``.

    Returns
    -------
    DetectorResult
        Spike counts per detector ``[B, H, W]``, optional spikes, delays.
    """
    net = net or SymmetryNetwork()
    if net.fractional:
        raise SpikegradInputError(
            "run_detectors simulates integer delays; with net.fractional=True use "
            "run_detectors_exact"
        )
    spikes = check_spikes("spikes", spikes)
    T_in, B, H, W = spikes.shape
    R = effective_radius(orientation, (H, W), net.max_radius)
    d = delays(orientation, parity, R, net.ticks_per_pixel, net.metric)
    step = pair_step(orientation)
    p = net.params
    by_delay = _pairs_by_delay(d)
    d_max = max(d) if d else 0
    T_out = T_in + d_max
    xpad = pad_image(spikes, R)
    u = torch.zeros(B, H, W, dtype=spikes.dtype, device=spikes.device)
    counts = torch.zeros_like(u)
    rec = [] if record else None
    memoryless = p.beta == 0.0
    for t in range(T_out):
        x = None
        for t_in in range(max(0, t - d_max), min(T_in, t + 1)):
            for a in by_delay.get(t - t_in, ()):
                km, kp = pair_offsets(parity, a)
                frame = xpad[t_in]
                if x is None:
                    x = shift(frame, R, km, step, H, W) + shift(frame, R, kp, step, H, W)
                else:
                    x += shift(frame, R, km, step, H, W)
                    x += shift(frame, R, kp, step, H, W)
        if x is None:
            if memoryless:  # nothing arrives and nothing is remembered
                if rec is not None:
                    rec.append(torch.zeros_like(u))
                continue
            x = torch.zeros_like(u)
        if p.weight != 1.0:
            x *= p.weight
        if memoryless:  # fast path of detector_step: V = I, U is always reset to 0
            fired = torch.gt(x, p.threshold)
            counts += fired
            if rec is not None:
                rec.append(fired.to(u.dtype))
            continue
        s, u = detector_step(x, u, p)
        counts += s
        if rec is not None:
            rec.append(s)
    return DetectorResult(counts, torch.stack(rec) if rec is not None else None, list(d))


def run_detectors_exact(
    times: torch.Tensor,
    orientation: str,
    parity: str,
    net: SymmetryNetwork | None = None,
) -> torch.Tensor:
    r"""Event-driven detectors in continuous time (fractional delays allowed).

    Each input pixel spikes at most once, at ``times[b, r, c]`` (``inf``: never).
    A spike of pixel :math:`p` reaches detector :math:`q` at
    :math:`t_p + d_a`, :math:`d_a = r_a \kappa` (no rounding when
    ``net.fractional``; rounded as in :func:`run_detectors` otherwise). Between
    arrivals the membrane decays as :math:`e^{-\Delta t/\tau}`; simultaneous
    arrivals are summed before the threshold test; after a spike the membrane is
    reset to 0. With integer times and delays this is exactly :func:`run_detectors`.

    Parameters
    ----------
    times:
        First-spike times ``[B, H, W]`` in ticks; ``inf`` for silent pixels.
    orientation, parity, net:
        As in :func:`run_detectors`.

    Returns
    -------
    torch.Tensor
        Spike counts per detector ``[B, H, W]``.
    """
    net = net or SymmetryNetwork()
    times = check_times("times", times)
    B, H, W = times.shape
    R = effective_radius(orientation, (H, W), net.max_radius)
    p = net.params
    if R == 0:
        return torch.zeros_like(times)
    d = delays(orientation, parity, R, net.ticks_per_pixel, net.metric, exact=net.fractional)
    step = pair_step(orientation)
    tpad = pad_image(times, R, value=math.inf)
    arr = []
    for a, da in enumerate(d, start=1):
        km, kp = pair_offsets(parity, a)
        arr.append(shift(tpad, R, km, step, H, W) + da)
        arr.append(shift(tpad, R, kp, step, H, W) + da)
    t_sorted, _ = torch.sort(torch.stack(arr), dim=0)  # [2R, B, H, W]
    finite = torch.isfinite(t_sorted)
    # the last arrival of a group of simultaneous arrivals is where the threshold is tested
    group_end = torch.ones_like(finite)
    group_end[:-1] = t_sorted[1:] != t_sorted[:-1]
    u = torch.zeros(B, H, W, dtype=times.dtype, device=times.device)
    counts = torch.zeros_like(u)
    prev = None
    for j in range(t_sorted.shape[0]):
        tj = t_sorted[j]
        fj = finite[j]
        if not bool(fj.any()):
            break  # sorted: everything later is inf too
        if prev is not None:
            dt = torch.where(fj, tj - prev, torch.zeros_like(tj))
            if p.beta == 0.0:
                keep = (dt == 0).to(u.dtype)
            else:
                keep = torch.exp(-dt * (-math.log(p.beta)))
            u = u * keep
        u = u + p.weight * fj.to(u.dtype)
        fire = (group_end[j] & fj & (u > p.threshold)).to(u.dtype)
        counts += fire
        u = u * (1.0 - fire)
        prev = torch.where(fj, tj, prev if prev is not None else tj)
    return counts


def synchronised_output(
    spikes: torch.Tensor,
    orientation: str,
    parity: str,
    net: SymmetryNetwork | None = None,
) -> torch.Tensor:
    r"""Layered variant: per-pair coincidence neurons with synchronising output delays.

    For the next layer to read a whole frame at once, detector outputs must arrive
    together (the paper's predecessor, arXiv:1709.02684, synchronises symmetry
    networks for layering). spikegrad's reading: one coincidence neuron per pixel
    and pair :math:`a` (threshold :math:`(k-\frac12)w`, no memory) whose output
    travels through a compensating delay :math:`D - d_a`, :math:`D = d_R`; so a
    coincidence caused by input spikes at tick :math:`t` reaches the next layer at
    :math:`t + D` whatever the pair's distance. The returned tensor is the summed
    input of the next layer, time-major ``[T_in + D, B, H, W]``; for binary input at
    :math:`t = 0` all of it sits at tick :math:`D` and equals the pair count.
    """
    net = net or SymmetryNetwork()
    spikes = check_spikes("spikes", spikes)
    T_in, B, H, W = spikes.shape
    R = effective_radius(orientation, (H, W), net.max_radius)
    d = delays(orientation, parity, R, net.ticks_per_pixel, net.metric)
    step = pair_step(orientation)
    p = net.params
    D = max(d) if d else 0
    xpad = pad_image(spikes, R)
    out = torch.zeros(T_in + D, B, H, W, dtype=spikes.dtype, device=spikes.device)
    for a in range(1, R + 1):
        km, kp = pair_offsets(parity, a)
        x = (shift(xpad, R, km, step, H, W) + shift(xpad, R, kp, step, H, W)) * p.weight
        out[D : D + T_in] += (x > p.threshold).to(out.dtype)
    return out


def connectivity(
    orientation: str,
    parity: str,
    shape: tuple[int, int],
    net: SymmetryNetwork | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The same network as explicit synapses: weights and delays ``[H W, H W]``.

    Entry ``[q, p]`` (row-major pixel indices) holds :math:`w` and :math:`d_a` if
    input pixel :math:`p` is a member of pair :math:`a` of detector :math:`q`, else 0.
    The dense form costs :math:`O((HW)^2)` memory: it is meant for small images,
    for export and as an independent reference, e.g. with
    :func:`spikegrad.functional.delay.delayed_linear`, which then reproduces
    :func:`detector_input`.
    """
    net = net or SymmetryNetwork()
    H, W = shape
    R = effective_radius(orientation, (H, W), net.max_radius)
    d = delays(orientation, parity, R, net.ticks_per_pixel, net.metric)
    dr, dc = pair_step(orientation)
    weight = torch.zeros(H * W, H * W)
    delay = torch.zeros(H * W, H * W)
    r = torch.arange(H).view(H, 1).expand(H, W).reshape(-1)
    c = torch.arange(W).view(1, W).expand(H, W).reshape(-1)
    q = torch.arange(H * W)
    for a, da in enumerate(d, start=1):
        km, kp = pair_offsets(parity, a)
        for k in (km, kp):
            rr, cc = r + k * dr, c + k * dc
            ok = (rr >= 0) & (rr < H) & (cc >= 0) & (cc < W)
            p = rr[ok] * W + cc[ok]
            weight[q[ok], p] = net.weight
            delay[q[ok], p] = float(da)
    return weight, delay
