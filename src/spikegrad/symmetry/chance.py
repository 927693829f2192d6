r"""Symmetry above chance: mirror-pair counts against null models with the same edge statistics.

For one patch (the whole detector input; pairs with a member outside it do not
exist), one axis orientation :math:`o`, parity :math:`\pi` and radius band
:math:`s` (pairs :math:`a \in s`) let

* :math:`O` = mirror-matched pairs (:func:`~spikegrad.symmetry.oriented.mirror_pair_counts`,
  the spike count of the channel detectors),
* :math:`A` = pairs of two edge pixels, any directions (the pixel network's count),
* :math:`S` = pair slots (pairs with both members inside the patch),
* :math:`n_c` = edge pixels in channel :math:`c`, :math:`n = \sum_c n_c`, :math:`N` pixels.

Two null models keep the channel histogram :math:`(n_c)` and the edge density
:math:`n/N`, and destroy the mirror structure [spikegrad's; exact expectations]:

* ``"labels"``: the *edge positions are kept* and the channel labels are permuted
  at random among the :math:`n` edge pixels. Each of the :math:`A` edge pairs is
  then matched with probability

  .. math::

      P_o = \sum_{c, c'} M_o[c, c']\, \frac{n_c\,(n_{c'} - \delta_{cc'})}{n\,(n-1)},
      \qquad E[O] = A\, P_o .

  This is the stringent null: a score above 1 means more mirror-matched pairs than
  the edges' positions (all co-occurrence, clustering, lines) and their direction
  histogram explain.
* ``"positions"``: all :math:`N` pixel labels (edge channels and "no edge") are
  permuted at random in the patch: :math:`E[O] = S\, Q_o` with
  :math:`Q_o = \sum_{c,c'} M_o[c,c']\, n_c (n_{c'} - \delta_{cc'}) / (N (N - 1))`.

Both hold exactly for every pair of distinct pixels (a random permutation puts any
two given labels on two given pixels with probability
:math:`n_c (n_{c'} - \delta_{cc'}) / (n(n-1))`); the tests check them by exhaustive
enumeration on a small image and by simulation.

**Score** [spikegrad's]. Per band :math:`s`, summed over orientations and parities,
:math:`\sigma_s = \ln\big((O_s + 1) / (E_s + 1)\big)` (0: as many mirror pairs as
chance; the +1 keeps empty patches at 0). The multi-scale score is the mean of
:math:`\sigma_s` over the bands. Default bands (pair index :math:`a`): 1–2, 3–4,
5–8, 9–16, 17–32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .._checks import SpikegradInputError, check_choice
from .geometry import ORIENTATIONS, PARITIES, effective_radius
from .network import SymmetryNetwork
from .oriented import (
    ChannelCode,
    blind_pair_counts,
    channel_spikes,
    edge_channels,
    match_matrix,
    mirror_pair_counts,
    run_mirror_detectors,
)

__all__ = [
    "NULLS",
    "COMBINES",
    "DEFAULT_BANDS",
    "channel_histogram",
    "match_probability",
    "pair_slots",
    "PatchSymmetry",
    "patch_symmetry",
    "shuffle_labels",
    "shuffle_positions",
    "chance_map",
    "find_axes",
]

#: Null models.
NULLS = ("labels", "positions")
#: How orientations are combined into the multi-scale score.
COMBINES = ("sum", "max")
#: Radius bands (inclusive pair-index ranges).
DEFAULT_BANDS = ((1, 2), (3, 4), (5, 8), (9, 16), (17, 32))


def channel_histogram(labels: torch.Tensor, n_channels: int) -> torch.Tensor:
    """Edge pixels per channel of each image, float64 ``[B, C]``."""
    B = labels.shape[0]
    flat = labels.reshape(B, -1)
    return torch.stack([(flat == c).sum(1) for c in range(n_channels)], 1).double()


def match_probability(
    hist: torch.Tensor, orientation: str, code: ChannelCode, total: torch.Tensor | None = None
) -> torch.Tensor:
    r""":math:`\sum_{c,c'} M_o[c,c']\, n_c (n_{c'} - \delta_{cc'}) / (T (T-1))` per image ``[B]``.

    ``total`` :math:`T` defaults to :math:`n = \sum_c n_c` (the ``"labels"`` null);
    pass the pixel count :math:`N` for the ``"positions"`` null. 0 where :math:`T < 2`.
    """
    M = match_matrix(orientation, code).double()
    hist = hist.double()
    n = hist.sum(1) if total is None else total.double()
    num = torch.einsum("bc,cd,bd->b", hist, M, hist) - (hist * torch.diagonal(M)).sum(1)
    den = n * (n - 1)
    return torch.where(den > 0, num / den.clamp(min=1), torch.zeros_like(num))


def pair_slots(orientation: str, parity: str, shape: tuple[int, int],
               max_radius: int | None) -> torch.Tensor:
    """Pairs ``a = 1..R`` with both members inside an ``H x W`` patch, per ``a``: ``[R]``."""
    H, W = shape
    every = torch.zeros(1, H, W, dtype=torch.long)  # every pixel an edge (channel 0)
    return blind_pair_counts(every, orientation, parity, max_radius, per_pair=True).sum((1, 2, 3))


def _bands_index(bands: Sequence[tuple[int, int]], R: int) -> list[list[int]]:
    out = []
    for lo, hi in bands:
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi):
            raise SpikegradInputError(f"bands must be (lo, hi) with 1 <= lo <= hi, got {(lo, hi)}")
        out.append([a - 1 for a in range(lo, min(hi, R) + 1)])
    return out


@dataclass
class PatchSymmetry:
    r"""Per-patch counts and null expectations per orientation and band.

    ``observed`` :math:`O`, ``blind`` :math:`A`, ``slots`` :math:`S` and
    ``expected[null]`` are float64 ``[B, O, S]`` (patch, orientation in the order of
    ``orientations``, band; both parities summed); ``edges`` :math:`n` ``[B]``,
    ``pixels`` :math:`N`, ``bands`` the pair-index ranges.
    """

    observed: torch.Tensor
    blind: torch.Tensor
    slots: torch.Tensor
    expected: dict
    edges: torch.Tensor
    pixels: int
    bands: tuple
    orientations: tuple
    code: ChannelCode

    def scores(self, null: str = "labels", by_orientation: bool = False) -> torch.Tensor:
        r"""Per-band score :math:`\ln((O_s+1)/(E_s+1))`, ``[B, S]`` (orientations summed)
        or ``[B, O, S]`` with ``by_orientation``."""
        check_choice("null", null, NULLS)
        o, e = self.observed, self.expected[null]
        if not by_orientation:
            o, e = o.sum(1), e.sum(1)
        return torch.log((o + 1) / (e + 1))

    def multiscale(self, null: str = "labels", combine: str = "sum") -> torch.Tensor:
        r"""Multi-scale score ``[B]``: mean of the per-band scores.

        ``combine="sum"``: bands of the counts summed over orientations;
        ``"max"``: the largest per-orientation multi-scale score (the best axis
        orientation of the patch).
        """
        check_choice("combine", combine, COMBINES)
        if combine == "sum":
            return self.scores(null).mean(1)
        return self.scores(null, by_orientation=True).mean(2).amax(1)

    def ratio(self, null: str = "labels") -> torch.Tensor:
        r"""All bands and orientations together: :math:`\sum O / \sum E` (0 where E = 0)."""
        o, e = self.observed.sum((1, 2)), self.expected[null].sum((1, 2))
        return torch.where(e > 0, o / e.clamp(min=1e-12), torch.zeros_like(o))


def patch_symmetry(
    patches: object,
    code: ChannelCode | None = None,
    *,
    bands: Sequence[tuple[int, int]] = DEFAULT_BANDS,
    method: str = "spiking",
    network: SymmetryNetwork | None = None,
    orientations: Sequence[str] = ORIENTATIONS,
    parities: Sequence[str] = PARITIES,
) -> PatchSymmetry:
    r"""Mirror counts and null expectations of a batch of patches ``[B, H, W]`` (grey).

    ``method="spiking"`` counts the detector spikes of
    :func:`~spikegrad.symmetry.oriented.run_mirror_detectors` (the tick of a spike
    gives its pair, hence its band); ``"oracle"`` the direct count (equal, tested).
    ``network`` sets delays and detectors (its radius is replaced by the largest
    band; default: 1 tick per pixel, :math:`\tau = 0`, :math:`k = 2`).
    """
    code = code or ChannelCode()
    check_choice("method", method, ("spiking", "oracle"))
    orientations = tuple(orientations)
    for o in orientations:
        check_choice("orientation", o, ORIENTATIONS)
    labels = edge_channels(patches, code)
    B, H, W = labels.shape
    R_max = max(hi for _, hi in bands)
    base = network or SymmetryNetwork()
    net = SymmetryNetwork(max_radius=R_max, ticks_per_pixel=base.ticks_per_pixel,
                          metric=base.metric, tau=base.tau, k=base.k, weight=base.weight,
                          threshold=base.threshold, dt=base.dt)
    hist = channel_histogram(labels, code.n_channels)
    n = hist.sum(1)
    N = torch.full_like(n, float(H * W))
    spikes = channel_spikes(labels, code.n_channels) if method == "spiking" else None
    S, O = len(bands), len(orientations)
    obs = torch.zeros(B, O, S, dtype=torch.float64)
    blind = torch.zeros_like(obs)
    slots = torch.zeros_like(obs)
    exp = {k: torch.zeros_like(obs) for k in NULLS}
    for i, o in enumerate(orientations):
        p_lab = match_probability(hist, o, code)
        p_pos = match_probability(hist, o, code, total=N)
        for p in parities:
            R = effective_radius(o, (H, W), R_max)
            idx = _bands_index(bands, R)
            if spikes is not None:  # method == "spiking"
                per_a = run_mirror_detectors(spikes, o, p, code, net).per_pair  # [R, B]
            else:
                per_a = mirror_pair_counts(labels, o, p, code, R_max, per_pair=True).sum((2, 3))
            blind_a = blind_pair_counts(labels, o, p, R_max, per_pair=True).sum((2, 3))
            slot_a = pair_slots(o, p, (H, W), R_max).double()
            for s, ia in enumerate(idx):
                if not ia:
                    continue
                obs[:, i, s] += per_a[ia].sum(0)
                blind[:, i, s] += blind_a[ia].sum(0)
                slots[:, i, s] += slot_a[ia].sum()
                exp["labels"][:, i, s] += blind_a[ia].sum(0) * p_lab
                exp["positions"][:, i, s] += slot_a[ia].sum() * p_pos
    return PatchSymmetry(obs, blind, slots, exp, n, H * W, tuple(tuple(b) for b in bands),
                         tuple(orientations), code)


def shuffle_labels(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The ``"labels"`` null: channels permuted among the edge pixels of each image."""
    out = labels.clone()
    for b in range(labels.shape[0]):
        idx = (labels[b] >= 0).nonzero(as_tuple=True)
        vals = labels[b][idx]
        out[b][idx] = vals[torch.randperm(vals.numel(), generator=generator)]
    return out


def shuffle_positions(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The ``"positions"`` null: all pixel labels permuted within each image."""
    B = labels.shape[0]
    flat = labels.reshape(B, -1)
    out = torch.stack([f[torch.randperm(f.numel(), generator=generator)] for f in flat])
    return out.reshape(labels.shape)


def chance_map(
    image: object,
    code: ChannelCode | None = None,
    *,
    window: int = 32,
    max_radius: int | None = 8,
    null: str = "labels",
) -> torch.Tensor:
    r"""Symmetry-above-chance map :math:`\ln((O_w + 1)/(E_w + 1))` in a sliding window.

    :math:`O_w`: mirror-matched pairs of the detectors inside the ``window x window``
    box around each pixel (all orientations and parities, pairs up to
    ``max_radius``); :math:`E_w = \sum_o A_{o,w} P_o(w)` (``"labels"``) or
    :math:`\sum_o S_{o,w} Q_o(w)` (``"positions"``), with the channel histogram of the
    window. Approximate at the window border (a pair may have a member just outside
    the window, counted by a detector inside it); exact for a window covering the
    whole image. Returns ``[B, H, W]`` float64.
    """
    from .density import box_sum

    code = code or ChannelCode()
    check_choice("null", null, NULLS)
    labels = edge_channels(image, code)
    B, H, W = labels.shape
    hist = torch.stack([box_sum((labels == c).double(), window)
                        for c in range(code.n_channels)], -1)  # [B, H, W, C]
    flat = hist.reshape(-1, code.n_channels)
    area = box_sum(torch.ones(B, H, W, dtype=torch.float64), window).reshape(-1)
    obs = torch.zeros(B, H, W, dtype=torch.float64)
    exp = torch.zeros_like(obs)
    for o in ORIENTATIONS:
        if null == "labels":
            prob = match_probability(flat, o, code).reshape(B, H, W)
        else:
            prob = match_probability(flat, o, code, total=area).reshape(B, H, W)
        for p in PARITIES:
            obs += box_sum(mirror_pair_counts(labels, o, p, code, max_radius), window)
            if null == "labels":
                base = blind_pair_counts(labels, o, p, max_radius)
            else:
                base = blind_pair_counts(torch.zeros_like(labels), o, p, max_radius)
            exp += box_sum(base, window) * prob
    return torch.log((obs + 1) / (exp + 1))


def find_axes(
    image: object,
    code: ChannelCode | None = None,
    *,
    max_radius: int | None = 8,
    top: int = 5,
    min_separation: float = 3.0,
) -> list[dict]:
    r"""The mirror axes with the largest excess of matched pairs over the ``"labels"`` null.

    For every axis line (:meth:`~spikegrad.symmetry.density.SymmetryEvents.axis_profile`:
    columns and half-columns for vertical axes, rows for horizontal ones, the lines
    :math:`r - c = m` / :math:`r + c = m` for the diagonals) the mirror-matched pairs
    :math:`O` and the expectation :math:`E = A\,P_o` (global channel histogram); the
    axes are ranked by :math:`z = (O - E)/\sqrt{E + 1}`, keeping at most ``top``
    and, per orientation, none closer than ``min_separation`` to a better one.
    The image must be a single ``[H, W]`` image.
    """
    from .density import SymmetryEvents

    code = code or ChannelCode()
    labels = edge_channels(image, code)
    if labels.shape[0] != 1:
        raise SpikegradInputError("find_axes takes one image [H, W]")
    hist = channel_histogram(labels, code.n_channels)
    mir, bl = {}, {}
    for o in ORIENTATIONS:
        for p in PARITIES:
            mir[f"{o}/{p}"] = mirror_pair_counts(labels, o, p, code, max_radius)
            bl[f"{o}/{p}"] = blind_pair_counts(labels, o, p, max_radius)
    act = (labels >= 0).double()
    ev_m, ev_b = SymmetryEvents(mir, act), SymmetryEvents(bl, act)
    cands: list[tuple[float, str, float, float, float]] = []
    for o in ORIENTATIONS:
        pos, om = ev_m.axis_profile(o)
        _, ab = ev_b.axis_profile(o)
        e = ab[0] * float(match_probability(hist, o, code)[0])
        z = (om[0] - e) / torch.sqrt(e + 1)
        for i in torch.argsort(z, descending=True).tolist():
            cands.append((float(z[i]), o, float(pos[i]), float(om[0, i]), float(e[i])))
    cands.sort(key=lambda c: -c[0])
    out: list[dict] = []
    for zc, o, x, ob, ex in cands:
        if len(out) >= top or zc <= 0:
            break
        if any(a["orientation"] == o and abs(a["position"] - x) < min_separation for a in out):
            continue
        out.append({"orientation": o, "position": x, "observed": ob, "expected": ex, "z": zc})
    return out
