r"""Mirror detectors on orientation-selective input channels: coincidence = mirrored structure.

The pixel network of :mod:`spikegrad.symmetry.network` fires for *any* two active
pixels at equal distance from a detector, so on edge maps it counts edge
co-occurrence, not mirror symmetry. Here every edge pixel spikes in one of
:math:`C` *channels*, its quantised gradient direction, and each detector's delay
lines pair a channel on one side with the *mirror-image* channel on the other side
(the matching rule of Loy & Eklundh 2006: two features are a mirror pair when their
orientations are reflections of each other about the axis). A coincidence then
means "mirrored local structure", not "two edges".

**Channels** [spikegrad's reading]. With Sobel derivatives :math:`(g_x, g_y)`
(:func:`~spikegrad.symmetry.encoding.sobel_gradient`; :math:`x` to the right,
:math:`y` downwards), edge strength :math:`e = \|g\|/4` and direction
:math:`\varphi = \operatorname{atan2}(g_y, g_x)`, pixel :math:`p` is an edge when
:math:`e_p > \vartheta`, and then spikes in channel

.. math::

    c_p = \operatorname{round}(\varphi_p / w) \bmod C, \qquad
    w = 2\pi / C \ \ (\text{polarity kept}) \quad\text{or}\quad
    w = \pi / C,\ \varphi \bmod \pi \ \ (\text{polarity dropped}).

**Mirror map** [exact geometry]. Reflection about an axis at angle :math:`\alpha`
maps a gradient direction to :math:`\varphi' = 2\alpha - \varphi`; the four axis
orientations of :mod:`~spikegrad.symmetry.geometry` have :math:`\alpha = \pi/2`
(vertical), :math:`0` (horizontal), :math:`\pi/4` (diagonal, along
``(dr, dc) = (1, 1)``) and :math:`-\pi/4` (antidiagonal). With bins centred on
multiples of :math:`w` the map permutes the channels exactly,
:math:`m_o(c) = (2\alpha / w - c) \bmod C`, which needs :math:`C` divisible by 4
(polarity kept) or by 2 (dropped). ``tolerance`` :math:`\tau_c` accepts the
channels :math:`m_o(c) + j`, :math:`|j| \le \tau_c` (cyclic); the set is written
:math:`M_o(c)`.

**Network** [delay lines and coincidence: George et al. 2021; channel pairing:
spikegrad's reading after Loy & Eklundh 2006]. Detector population
:math:`(o, \pi, c)` at pixel :math:`q` receives channel :math:`c` from the minus
side and the channels :math:`M_o(c)` from the plus side of its pair line, with the
same delays :math:`d_a` as the pixel network:

.. math::

    I_{q,c}[t] = w \sum_{a=1}^{R} \Big( s_c[t - d_a,\ q + k^-_a v]
        + \sum_{c' \in M_o(c)} s_{c'}[t - d_a,\ q + k^+_a v] \Big)

and the LIF step :func:`~spikegrad.functional.detector.detector_step` with
threshold :math:`(k - \tfrac12) w`, :math:`k = 2`. A pixel spikes in one channel
at most, so with single-tick input, :math:`\tau = 0` and distinct delays the
detector fires at tick :math:`d_a` exactly when pair :math:`a` is mirror-matched:

.. math::

    O_{o,\pi}(q) = \sum_c \text{spikes}_{q,c}
       = \sum_{a=1}^{R} [\,\ell(q + k^-_a v) \ge 0\,]\,
         [\,\ell(q + k^+_a v) \in M_o(\ell(q + k^-_a v))\,]

with :math:`\ell(p)` the channel of pixel :math:`p` (:math:`-1`: no edge). This
is the oracle :func:`mirror_pair_counts` (tested equal on random images). The spike
tick identifies the pair, so one run gives the counts of every radius band
(``per_pair``), the scales of :mod:`spikegrad.symmetry.chance`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .._checks import SpikegradInputError
from ..functional.detector import DetectorState, detector_step
from .encoding import as_image, sobel_gradient
from .geometry import (
    ORIENTATIONS,
    PARITIES,
    delays,
    effective_radius,
    pad_image,
    pair_offsets,
    pair_step,
    shift,
)
from .network import SymmetryNetwork

__all__ = [
    "AXIS_ANGLE",
    "ChannelCode",
    "MirrorResult",
    "edge_channels",
    "channel_spikes",
    "mirror_channel",
    "match_matrix",
    "run_mirror_detectors",
    "mirror_pair_counts",
    "blind_pair_counts",
]

#: Axis angle :math:`\alpha` (radians, x right, y down) of each axis orientation.
AXIS_ANGLE = {
    "vertical": math.pi / 2,
    "horizontal": 0.0,
    "diagonal": math.pi / 4,
    "antidiagonal": -math.pi / 4,
}


@dataclass(frozen=True)
class ChannelCode:
    r"""How edges become channels (module docstring).

    Parameters
    ----------
    threshold:
        Edge threshold :math:`\vartheta` on :math:`e = \|\nabla x\| / 4`.
    n_channels:
        :math:`C`, a multiple of 4 with ``polarity=True``, of 2 without.
    polarity:
        Keep the gradient sign (direction, :math:`0..2\pi`) or drop it
        (orientation, :math:`0..\pi`).
    tolerance:
        Accept mirror channels within this many bins (0: the exact mirror bin).
    """

    threshold: float = 0.15
    n_channels: int = 8
    polarity: bool = True
    tolerance: int = 0

    def __post_init__(self) -> None:
        thr = self.threshold
        if isinstance(thr, bool) or not isinstance(thr, (int, float)) or not math.isfinite(thr):
            raise SpikegradInputError(f"threshold must be a finite number, got {thr!r}")
        if thr < 0:
            raise SpikegradInputError(f"threshold must be >= 0, got {thr!r}")
        mult = 4 if self.polarity else 2
        C = self.n_channels
        if isinstance(C, bool) or not isinstance(C, int) or C < mult or C % mult:
            raise SpikegradInputError(
                f"n_channels must be a positive multiple of {mult} "
                f"(polarity={self.polarity}), got {C!r}"
            )
        tol = self.tolerance
        if isinstance(tol, bool) or not isinstance(tol, int) or not 0 <= 2 * tol + 1 <= C:
            raise SpikegradInputError(
                f"tolerance must be an int with 0 <= 2*tolerance+1 <= n_channels, got {tol!r}"
            )

    @property
    def bin_width(self) -> float:
        """Channel width :math:`w` in radians."""
        return (2 * math.pi if self.polarity else math.pi) / self.n_channels

    def to_dict(self) -> dict:
        """The settings as a plain dictionary."""
        return {"threshold": float(self.threshold), "n_channels": self.n_channels,
                "polarity": self.polarity, "tolerance": self.tolerance}


def edge_channels(image: object, code: ChannelCode | None = None) -> torch.Tensor:
    r"""Channel :math:`\ell(p)` of every pixel, int64 ``[B, H, W]`` (``-1``: not an edge).

    ``image`` is a grey image ``[H, W]`` or batch ``[B, H, W]`` (see
    :func:`~spikegrad.symmetry.encoding.as_image`); the result is always batched.
    """
    code = code or ChannelCode()
    x, _ = as_image(image)
    g = sobel_gradient(x.to(torch.float64))
    gx, gy = g[:, 0], g[:, 1]
    e = torch.sqrt(gx**2 + gy**2) / 4.0
    phi = torch.atan2(gy, gx)
    if not code.polarity:
        phi = torch.remainder(phi, math.pi)
    c = torch.remainder(torch.round(phi / code.bin_width).long(), code.n_channels)
    return torch.where(e > code.threshold, c, torch.full_like(c, -1))


def channel_spikes(labels: torch.Tensor, n_channels: int) -> torch.Tensor:
    """One-tick spikes per channel, time-major ``[1, C, B, H, W]`` (float 0/1)."""
    labels = _check_labels(labels, n_channels)
    ch = torch.arange(n_channels).view(n_channels, 1, 1, 1)
    return (labels.unsqueeze(0) == ch).float().unsqueeze(0)


def mirror_channel(c: int, orientation: str, code: ChannelCode) -> int:
    r""":math:`m_o(c) = (2\alpha/w - c) \bmod C`, the channel of the reflected direction."""
    if orientation not in AXIS_ANGLE:
        raise SpikegradInputError(
            f"orientation must be one of {', '.join(ORIENTATIONS)}, got {orientation!r}"
        )
    shift_ = round(2 * AXIS_ANGLE[orientation] / code.bin_width)
    return (shift_ - c) % code.n_channels


def match_matrix(orientation: str, code: ChannelCode) -> torch.Tensor:
    r"""``M[c, c'] = 1`` iff :math:`c' \in M_o(c)` (float ``[C, C]``, symmetric)."""
    C = code.n_channels
    M = torch.zeros(C, C)
    for c in range(C):
        m = mirror_channel(c, orientation, code)
        for j in range(-code.tolerance, code.tolerance + 1):
            M[c, (m + j) % C] = 1.0
    return M


def _check_labels(labels: object, n_channels: int) -> torch.Tensor:
    if not isinstance(labels, torch.Tensor) or labels.dtype not in (
        torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8
    ):
        raise TypeError("labels must be an integer torch.Tensor [B, H, W] (-1: no edge)")
    if labels.dim() != 3 or labels.numel() == 0:
        raise SpikegradInputError(f"labels must have shape [B, H, W]; got {tuple(labels.shape)}")
    labels = labels.long()
    if bool(((labels < -1) | (labels >= n_channels)).any()):
        raise SpikegradInputError(f"labels must lie in -1..{n_channels - 1}")
    return labels


class MirrorResult(NamedTuple):
    """Output of :func:`run_mirror_detectors` for one orientation and parity.

    ``counts`` ``[B, H, W]``: detector spikes summed over the channel populations;
    ``per_pair`` ``[R, B]``: spikes of all detectors of one image at the tick of
    pair ``a = 1..R`` (the tick tells the pair); ``delays``: :math:`d_a` in ticks.
    """

    counts: torch.Tensor
    per_pair: torch.Tensor
    delays: list


def run_mirror_detectors(
    spikes: torch.Tensor,
    orientation: str,
    parity: str,
    code: ChannelCode,
    net: SymmetryNetwork | None = None,
) -> MirrorResult:
    r"""Simulate the :math:`C` channel populations of one orientation and parity, tick by tick.

    Parameters
    ----------
    spikes:
        Channel spikes, time-major ``[T_in, C, B, H, W]`` (:func:`channel_spikes`).
    orientation, parity:
        Detector population (:mod:`~spikegrad.symmetry.geometry`).
    code:
        Channel code (its mirror map and tolerance; ``C`` must match).
    net:
        Delays and detector settings (integer delays; default radius 8, :math:`\tau=0`,
        :math:`k=2`).

    Returns
    -------
    MirrorResult
        The input current of tick :math:`t` is built from the shifted channel frames
        :math:`t - d_a` (module docstring), then one
        :func:`~spikegrad.functional.detector.detector_step`. ``per_pair`` is filled
        only where delays are distinct (otherwise a tick carries several pairs and
        the row of its smallest ``a`` holds them all).
    """
    net = net or SymmetryNetwork()
    if net.fractional:
        raise SpikegradInputError("run_mirror_detectors simulates integer delays only")
    if not isinstance(spikes, torch.Tensor) or spikes.dim() != 5:
        raise SpikegradInputError("spikes must be time-major [T_in, C, B, H, W]")
    T_in, C, B, H, W = spikes.shape
    if C != code.n_channels:
        raise SpikegradInputError(f"spikes have {C} channels, the code {code.n_channels}")
    if parity not in PARITIES:
        raise SpikegradInputError(f"parity must be one of {', '.join(PARITIES)}, got {parity!r}")
    spikes = spikes.float()
    R = effective_radius(orientation, (H, W), net.max_radius)
    kappa = net.ticks_per_pixel
    assert kappa is not None  # SymmetryNetwork resolves it on construction
    d = [int(v) for v in delays(orientation, parity, R, kappa, net.metric)]  # integer delays
    step = pair_step(orientation)
    M = match_matrix(orientation, code).to(spikes.device)
    # minus side: channel c itself; plus side: the channels M_o(c), summed
    minus = spikes.reshape(T_in, C, B * H * W)
    plus = torch.einsum("cd,tdn->tcn", M, minus)
    minus = pad_image(minus.reshape(T_in, C * B, H, W), R)
    plus = pad_image(plus.reshape(T_in, C * B, H, W), R)
    p = net.params
    d_max = max(d) if d else 0
    first_pair: dict[int, int] = {}
    for a, da in enumerate(d, start=1):
        first_pair.setdefault(da, a)
    state = DetectorState.zeros((C * B, H, W), device=spikes.device)
    counts = torch.zeros(C * B, H, W, device=spikes.device)
    per_pair = torch.zeros(max(R, 1), B, dtype=torch.float64)
    for t in range(T_in + d_max):
        x = None
        for a, da in enumerate(d, start=1):
            t_in = t - da
            if 0 <= t_in < T_in:
                km, kp = pair_offsets(parity, a)
                term = shift(minus[t_in], R, km, step, H, W) + shift(plus[t_in], R, kp, step, H, W)
                x = term if x is None else x + term
        if x is None:
            if p.decay == 0.0:
                continue
            x = torch.zeros_like(counts)
        s, state = detector_step(x * net.weight, state, p)
        counts += s
        if t in first_pair:
            per_pair[first_pair[t] - 1] += s.reshape(C, B, H * W).sum((0, 2)).double().cpu()
    return MirrorResult(counts.reshape(C, B, H, W).sum(0), per_pair[:R], list(d))


def mirror_pair_counts(
    labels: torch.Tensor,
    orientation: str,
    parity: str,
    code: ChannelCode,
    max_radius: int | None = 8,
    *,
    per_pair: bool = False,
) -> torch.Tensor:
    r"""Oracle: number of mirror-matched pairs about every detector (module docstring).

    Counts :math:`\sum_a [\ell^- \ge 0][\ell^+ \in M_o(\ell^-)]` directly from the
    channel labels (no spikes, no delays). Returns ``[B, H, W]`` (float64), or with
    ``per_pair=True`` the per-pair maps ``[R, B, H, W]``.
    """
    labels = _check_labels(labels, code.n_channels)
    B, H, W = labels.shape
    R = effective_radius(orientation, (H, W), max_radius)
    step = pair_step(orientation)
    M = match_matrix(orientation, code).bool()
    lab = pad_image(labels, R, value=-1)
    out = torch.zeros(max(R, 1), B, H, W, dtype=torch.float64)
    for a in range(1, R + 1):
        km, kp = pair_offsets(parity, a)
        lm = shift(lab, R, km, step, H, W)
        lp = shift(lab, R, kp, step, H, W)
        ok = (lm >= 0) & (lp >= 0)
        match = M[lm.clamp(min=0), lp.clamp(min=0)]
        out[a - 1] = (ok & match).double()
    out = out[:R]
    return out if per_pair else out.sum(0)


def blind_pair_counts(
    labels: torch.Tensor,
    orientation: str,
    parity: str,
    max_radius: int | None = 8,
    *,
    per_pair: bool = False,
) -> torch.Tensor:
    r"""Orientation-blind pairs :math:`A(q) = \sum_a [\ell^- \ge 0][\ell^+ \ge 0]`.

    The count of the pixel network of :mod:`~spikegrad.symmetry.network` on the edge
    map (both members are edges, whatever their direction). Same shapes as
    :func:`mirror_pair_counts`.
    """
    if not isinstance(labels, torch.Tensor) or labels.dim() != 3:
        raise SpikegradInputError("labels must be an integer torch.Tensor [B, H, W]")
    B, H, W = labels.shape
    R = effective_radius(orientation, (H, W), max_radius)
    step = pair_step(orientation)
    e = pad_image((labels >= 0).double(), R)
    out = torch.zeros(max(R, 1), B, H, W, dtype=torch.float64)
    for a in range(1, R + 1):
        km, kp = pair_offsets(parity, a)
        out[a - 1] = shift(e, R, km, step, H, W) * shift(e, R, kp, step, H, W)
    out = out[:R]
    return out if per_pair else out.sum(0)
