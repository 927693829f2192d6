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
short leak and a threshold that needs :math:`k` coincident spikes, the pure step
:func:`spikegrad.functional.detector.detector_step`:

.. math::

    V_q[t] &= \alpha\, U_q[t-1] + I_q[t], \qquad \alpha = e^{-\Delta t/\tau}
             \ (\alpha = 0 \text{ for } \tau = 0) \\
    S_q[t] &= \Theta(V_q[t] - \theta), \qquad \Theta(0) = 0,
             \qquad \theta = (k - \tfrac12)\, w \\
    U_q[t] &= V_q[t]\,(1 - S_q[t]) \qquad \text{(reset to rest)}

**Units.** At the public boundary (:class:`SymmetryNetwork`) times are in seconds:
the tick length :math:`\Delta t` (``dt``, default 1 ms), the membrane time constant
:math:`\tau` (``tau``) and the conduction delay per pixel of distance
(``delay_per_pixel``, default one tick). Inside, everything runs on integer ticks:
:math:`\kappa` = ``ticks_per_pixel`` = ``delay_per_pixel / dt`` and the pair delays
:math:`d_a` of :func:`~spikegrad.symmetry.geometry.delays`, the spike times of
:func:`run_detectors_exact` and :attr:`DetectorResult.delays` are in ticks; a
duration of :math:`n` ticks is :math:`n\,\Delta t` seconds.

With :math:`\tau = 0` the membrane forgets everything after one tick (exact
coincidence); with :math:`\tau \approx 2\Delta t` two spikes one tick apart still add
up to :math:`(1 + e^{-1/2}) w > 1.5 w`, so *the leak sets the jitter tolerance*.
With binary inputs at :math:`t = 0`, :math:`\tau = 0`, :math:`k = 2` and distinct
delays per pair, detector :math:`q` fires once at
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
from ..functional.detector import DetectorParams, DetectorState, detector_decay, detector_step
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
    "DetectorState",
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
        Delay per pixel of distance :math:`\kappa` in ticks (a ratio,
        ``delay_per_pixel / dt``); give this or ``delay_per_pixel``, default 1.
    metric:
        ``"euclidean"`` (diagonal steps are :math:`\sqrt2` long) or ``"steps"``.
    tau:
        Membrane time constant of the detectors in seconds (0: no memory); the
        per-tick factor is :math:`\alpha = e^{-\Delta t/\tau}`.
    k:
        Number of coincident spikes needed; sets the threshold :math:`(k - \frac12) w`.
    weight:
        Synaptic weight :math:`w` of every delay line.
    threshold:
        Explicit threshold (overrides ``k``).
    fractional:
        Use real-valued delays :math:`r\kappa` and the event-driven simulator.
    dt:
        Tick length :math:`\Delta t` in seconds (default 1 ms). Only the ratios
        ``tau / dt`` and ``delay_per_pixel / dt`` change the results.
    delay_per_pixel:
        Conduction delay per pixel of distance in seconds (default: one tick,
        ``dt``); give this or ``ticks_per_pixel``. After construction both fields
        hold the resolved values (``delay_per_pixel = ticks_per_pixel * dt``).

    Examples
    --------
    >>> net = SymmetryNetwork(tau=2e-3, delay_per_pixel=2e-3)  # 2 ms, 2 ms per pixel
    >>> net.ticks_per_pixel, round(net.tau_ticks, 12)
    (2.0, 2.0)
    """

    max_radius: int | None = 8
    ticks_per_pixel: float | None = None
    metric: str = "euclidean"
    tau: float = 0.0
    k: int = 2
    weight: float = 1.0
    threshold: float | None = None
    fractional: bool = False
    dt: float = 1e-3
    delay_per_pixel: float | None = None

    def __post_init__(self) -> None:
        if self.max_radius is not None and (
            isinstance(self.max_radius, bool)
            or not isinstance(self.max_radius, int)
            or self.max_radius < 1
        ):
            raise SpikegradInputError(
                f"max_radius must be an int >= 1 or None, got {self.max_radius!r}"
            )
        dt = check_positive("dt", self.dt)
        if self.ticks_per_pixel is None and self.delay_per_pixel is None:
            kappa, delay = 1.0, dt
        elif self.delay_per_pixel is None:
            kappa = check_positive("ticks_per_pixel", self.ticks_per_pixel)
            delay = kappa * dt
        elif self.ticks_per_pixel is None:
            delay = check_positive("delay_per_pixel", self.delay_per_pixel)
            kappa = delay / dt
        else:
            kappa = check_positive("ticks_per_pixel", self.ticks_per_pixel)
            delay = check_positive("delay_per_pixel", self.delay_per_pixel)
            if not math.isclose(kappa * dt, delay, rel_tol=1e-9):
                raise SpikegradInputError(
                    f"ticks_per_pixel={self.ticks_per_pixel!r} and delay_per_pixel="
                    f"{self.delay_per_pixel!r} s disagree for dt={self.dt!r} s; give one of them"
                )
        object.__setattr__(self, "ticks_per_pixel", float(kappa))
        object.__setattr__(self, "delay_per_pixel", float(delay))
        check_choice("metric", self.metric, METRICS)
        check_nonnegative("tau", self.tau)
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise SpikegradInputError(f"k must be an int >= 1, got {self.k!r}")
        check_positive("weight", self.weight)
        if self.threshold is not None:
            check_positive("threshold", self.threshold)

    @property
    def tau_ticks(self) -> float:
        r"""The membrane time constant in ticks, :math:`\tau / \Delta t`."""
        return self.tau / self.dt

    @property
    def params(self) -> DetectorParams:
        r"""Step parameters: decay :math:`\alpha` and threshold :math:`\theta`.

        :math:`\alpha = e^{-\Delta t/\tau}` (0 for :math:`\tau = 0`); :math:`\theta` is
        ``threshold`` if given, else :math:`(k - \frac12) w`.
        """
        theta = self.threshold if self.threshold is not None else (self.k - 0.5) * self.weight
        return DetectorParams(detector_decay(self.tau, self.dt), float(theta))

    def to_dict(self) -> dict:
        """Every setting (resolved: both delay forms, the detector threshold and decay)."""
        p = self.params
        return {
            "max_radius": self.max_radius, "metric": self.metric, "k": self.k,
            "weight": self.weight, "threshold": self.threshold, "fractional": self.fractional,
            "dt": self.dt, "tau": self.tau, "tau_ticks": self.tau_ticks,
            "delay_per_pixel": self.delay_per_pixel, "ticks_per_pixel": self.ticks_per_pixel,
            "detector_threshold": p.threshold, "detector_decay": p.decay,
        }


class DetectorResult(NamedTuple):
    """Output of :func:`run_detectors`.

    ``counts`` ``[B, H, W]``: spikes per detector; ``spikes`` ``[T, B, H, W]``
    (time-major) when recorded, else ``None``; ``delays``: :math:`d_a` for
    ``a = 1..R`` in ticks (times ``net.dt`` for seconds).
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

    Runs :func:`spikegrad.functional.detector.detector_step` over the current of
    :func:`detector_input`, but streaming: the current of tick :math:`t` is built from
    the shifted input frames :math:`t - d_a` only when needed. There is no Python loop
    over pixels.

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
    state = DetectorState.zeros((B, H, W), dtype=spikes.dtype, device=spikes.device)
    counts = torch.zeros_like(state.u)
    rec = [] if record else None
    memoryless = p.decay == 0.0
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
            if memoryless:  # nothing arrives, nothing is remembered: the step gives S = U = 0
                if rec is not None:
                    rec.append(torch.zeros_like(counts))
                continue
            x = torch.zeros_like(counts)
        if net.weight != 1.0:
            x *= net.weight
        s, state = detector_step(x, state, p)
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
    reset to 0. This is the event form of
    :func:`~spikegrad.functional.detector.detector_step` (:math:`\alpha^{\Delta}` over
    :math:`\Delta` elapsed ticks); with integer times and delays it is exactly
    :func:`run_detectors` (tested).

    Parameters
    ----------
    times:
        First-spike times ``[B, H, W]`` in ticks of ``net.dt`` (seconds / dt);
        ``inf`` for silent pixels.
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
            elapsed = torch.where(fj, tj - prev, torch.zeros_like(tj))  # ticks
            if p.decay == 0.0:
                keep = (elapsed == 0).to(u.dtype)
            else:  # alpha ** elapsed = exp(-elapsed * dt / tau)
                keep = torch.exp(-elapsed * (-math.log(p.decay)))
            u = u * keep
        u = u + net.weight * fj.to(u.dtype)
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
    and pair :math:`a` (:func:`~spikegrad.functional.detector.detector_step` with
    threshold :math:`(k-\frac12)w` and no memory, whatever ``net.tau``) whose output
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
    p = DetectorParams(0.0, net.params.threshold)  # no memory: one tick per coincidence
    rest = DetectorState.zeros((T_in, B, H, W), dtype=spikes.dtype, device=spikes.device)
    D = max(d) if d else 0
    xpad = pad_image(spikes, R)
    out = torch.zeros(T_in + D, B, H, W, dtype=spikes.dtype, device=spikes.device)
    for a in range(1, R + 1):
        km, kp = pair_offsets(parity, a)
        x = (shift(xpad, R, km, step, H, W) + shift(xpad, R, kp, step, H, W)) * net.weight
        s, _ = detector_step(x, rest, p)
        out[D : D + T_in] += s
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
