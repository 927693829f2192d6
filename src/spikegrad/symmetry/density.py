r"""Symmetry events and symmetry density of images.

:func:`symmetry_events` encodes an image as input spikes, runs the delay-line
coincidence detectors for every requested axis orientation and parity, and
returns the detector spike counts :math:`E_{o,\pi}(q)` (orientation :math:`o`,
parity :math:`\pi`, pixel :math:`q`). From them (spikegrad's reading of the
paper's "symmetry density"):

.. math::

    E_o(q) = \sum_\pi E_{o,\pi}(q), \qquad E(q) = \sum_o E_o(q), \qquad
    \rho_\text{area}(Q) = \frac{\sum_{q\in Q} E(q)}{|Q|}, \qquad
    \rho_\text{active}(Q) = \frac{\sum_{q\in Q} E(q)}{\sum_{q\in Q} n(q)}

for a window or region :math:`Q`, with :math:`n(q)` the number of input spikes of
pixel :math:`q` (the active inputs). :math:`\rho_\text{area}` is events per pixel,
:math:`\rho_\text{active}` events per input spike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from .._checks import SpikegradInputError, check_choice
from .encoding import as_image, encode, spike_times
from .geometry import ORIENTATIONS, PARITIES, delays, effective_radius
from .network import SymmetryNetwork, check_spikes, run_detectors, run_detectors_exact
from .noise import add_intensity_noise, add_spike_noise, add_time_noise
from .oracle import pair_counts, pair_counts_direct

__all__ = [
    "NORMALISATIONS",
    "METHODS",
    "SymmetryEvents",
    "symmetry_events",
    "events_from_spikes",
    "box_sum",
]

#: Normalisations of the density.
NORMALISATIONS = ("area", "active", "chance", "none")
#: How the detector counts are obtained.
METHODS = ("spiking", "oracle")


def box_sum(x: torch.Tensor, window: int) -> torch.Tensor:
    """Sum of ``x`` ``[B, H, W]`` over a ``window x window`` box centred on each pixel.

    Outside the image counts as 0 (the box is truncated at the border). Uses
    cumulative sums: :math:`O(HW)` whatever the window.
    """
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise SpikegradInputError(f"window must be an int >= 1, got {window!r}")
    B, H, W = x.shape
    lo, hi = (window - 1) // 2, window // 2
    c = torch.zeros(B, H + 1, W + 1, dtype=torch.float64)
    c[:, 1:, 1:] = x.to(torch.float64).cumsum(1).cumsum(2)
    r0 = (torch.arange(H) - lo).clamp(0, H)
    r1 = (torch.arange(H) + hi + 1).clamp(0, H)
    c0 = (torch.arange(W) - lo).clamp(0, W)
    c1 = (torch.arange(W) + hi + 1).clamp(0, W)
    s = (
        c[:, r1][:, :, c1]
        - c[:, r0][:, :, c1]
        - c[:, r1][:, :, c0]
        + c[:, r0][:, :, c0]
    )
    return s.to(x.dtype)


@dataclass
class SymmetryEvents:
    """Detector event counts of one image or a batch.

    Attributes
    ----------
    raw_counts:
        ``"orientation/parity"`` -> event counts ``[B, H, W]`` (always batched;
        :attr:`counts` follows the shape of the input).
    raw_active:
        Input spikes per pixel ``[B, H, W]``.
    batched:
        Whether the input was a batch ``[B, H, W]`` (else maps are returned 2-D).
    settings:
        The encoding, noise and network settings (for reports).
    """

    raw_counts: dict[str, torch.Tensor]
    raw_active: torch.Tensor
    batched: bool = True
    settings: dict = field(default_factory=dict)
    network: SymmetryNetwork | None = None

    def _slots(self, orientation: str | None) -> torch.Tensor:
        """Pair slots per detector: the count an all-active image would give ``[B, H, W]``."""
        net = self.network or SymmetryNetwork()
        ones = torch.ones_like(self.raw_active[:1])
        total = torch.zeros_like(ones)
        for key in self.raw_counts:
            o, p = key.split("/")
            if orientation is None or o == orientation:
                total += pair_counts_direct(ones, o, p, net.max_radius).to(ones.dtype)
        return total.expand_as(self.raw_active)

    def _out(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.batched else x[0]

    @property
    def counts(self) -> dict[str, torch.Tensor]:
        """``"orientation/parity"`` -> event counts, shaped like the input image."""
        return {k: self._out(v) for k, v in self.raw_counts.items()}

    @property
    def active(self) -> torch.Tensor:
        """Input spikes per pixel, shaped like the input image."""
        return self._out(self.raw_active)

    @property
    def orientations(self) -> list[str]:
        """Orientations present, in the order of :data:`ORIENTATIONS`."""
        have = {k.split("/")[0] for k in self.raw_counts}
        return [o for o in ORIENTATIONS if o in have]

    def _orientation(self, o: str) -> torch.Tensor:
        return sum(v for k, v in self.raw_counts.items() if k.split("/")[0] == o)

    @property
    def maps(self) -> dict[str, torch.Tensor]:
        r"""Per-orientation event maps :math:`E_o` (both parities summed)."""
        return {o: self._out(self._orientation(o)) for o in self.orientations}

    @property
    def combined(self) -> torch.Tensor:
        r"""All orientations and parities summed, :math:`E(q)`."""
        return self._out(sum(self.raw_counts.values()))

    @property
    def total_events(self) -> float:
        """Total number of detector events (all images of the batch)."""
        return float(sum(float(v.sum()) for v in self.raw_counts.values()))

    def axis_profile(self, orientation: str) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Total events per mirror-axis line of one orientation (global symmetry axes).

        Sums the detectors that lie on the same axis line, both parities:

        * ``vertical``: axis :math:`x = c` (on-pixel detectors of column :math:`c`)
          and :math:`x = c + \tfrac12` (half-pixel detectors of column :math:`c`);
        * ``horizontal``: the same for rows, :math:`y`;
        * ``diagonal``: axis line :math:`r - c = m` (on-pixel detectors with
          :math:`r - c = m`, half-pixel detectors with :math:`r - c = m - 1`);
        * ``antidiagonal``: axis line :math:`r + c = m` (half-pixel: :math:`r + c = m - 1`).

        For a binary shape and ``max_radius=None`` the total on an axis is the number of
        mirror pairs about that axis; for a shape mirror-symmetric about it, half the
        number of its active pixels off the axis.

        Returns
        -------
        positions, totals
            Axis coordinates ``[P]`` (x or y in pixels, or :math:`m`) and totals
            ``[B, P]`` (``[P]`` for a 2-D input).
        """
        check_choice("orientation", orientation, self.orientations)
        on = self.raw_counts.get(f"{orientation}/on")
        half = self.raw_counts.get(f"{orientation}/half")
        B, H, W = self.raw_active.shape
        r = torch.arange(H).view(H, 1).expand(H, W)
        c = torch.arange(W).view(1, W).expand(H, W)
        if orientation in ("vertical", "horizontal"):
            n = W if orientation == "vertical" else H
            coord = c if orientation == "vertical" else r
            idx_on, idx_half = 2 * coord, 2 * coord + 1
            positions = torch.arange(2 * n, dtype=torch.float64) / 2
        else:
            if orientation == "diagonal":
                coord, lo = r - c, -(W - 1)
            else:
                coord, lo = r + c, 0
            idx_on, idx_half = coord - lo, coord + 1 - lo
            n_pos = int(coord.max()) - lo + 2
            positions = torch.arange(n_pos, dtype=torch.float64) + lo
        totals = torch.zeros(B, positions.numel(), dtype=torch.float64)
        for counts, idx in ((on, idx_on), (half, idx_half)):
            if counts is not None:
                totals.index_add_(1, idx.reshape(-1), counts.reshape(B, -1).to(torch.float64))
        return positions, self._out(totals)

    def _select(self, orientation: str | None) -> torch.Tensor:
        if orientation is None:
            return sum(self.raw_counts.values())
        check_choice("orientation", orientation, self.orientations)
        return self._orientation(orientation)

    def density(
        self, window: int = 15, normalise: str = "area", orientation: str | None = None
    ) -> torch.Tensor:
        r"""Sliding-window symmetry density :math:`\rho(Q_q)` around every pixel.

        ``normalise``: ``"area"`` (events per pixel of the truncated window),
        ``"active"`` (events per input spike; 0 where the window has none) or
        ``"none"`` (event count).
        """
        check_choice("normalise", normalise, NORMALISATIONS)
        ev = box_sum(self._select(orientation), window)
        if normalise == "area":
            ev = ev / box_sum(torch.ones_like(self.raw_active), window)
        elif normalise == "active":
            n = box_sum(self.raw_active, window)
            ev = torch.where(n > 0, ev / n.clamp(min=1e-12), torch.zeros_like(ev))
        elif normalise == "chance":
            area = box_sum(torch.ones_like(self.raw_active), window)
            dens = box_sum(self.raw_active.clamp(max=1), window) / area
            expected = dens**2 * box_sum(self._slots(orientation), window)
            ev = torch.where(expected > 0, ev / expected.clamp(min=1e-12), torch.zeros_like(ev))
        return self._out(ev)

    def region_scores(
        self, patch: int, normalise: str = "area", orientation: str | None = None
    ) -> torch.Tensor:
        r"""Density over a grid of non-overlapping ``patch x patch`` regions.

        Returns ``[B, H // patch, W // patch]`` (incomplete border regions are dropped).
        """
        check_choice("normalise", normalise, NORMALISATIONS)
        ev = self._select(orientation)
        B, H, W = ev.shape
        if isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(H, W):
            raise SpikegradInputError(
                f"patch must be an int in [1, min(H, W) = {min(H, W)}], got {patch!r}"
            )
        nh, nw = H // patch, W // patch

        def pool(x: torch.Tensor) -> torch.Tensor:
            x = x[:, : nh * patch, : nw * patch].to(torch.float64)
            return x.reshape(B, nh, patch, nw, patch).sum((2, 4))

        e = pool(ev)
        if normalise == "area":
            e = e / (patch * patch)
        elif normalise == "active":
            n = pool(self.raw_active)
            e = torch.where(n > 0, e / n.clamp(min=1e-12), torch.zeros_like(e))
        elif normalise == "chance":
            dens = pool(self.raw_active.clamp(max=1)) / (patch * patch)
            expected = dens**2 * pool(self._slots(orientation))
            e = torch.where(expected > 0, e / expected.clamp(min=1e-12), torch.zeros_like(e))
        return self._out(e)


def _network_settings(net: SymmetryNetwork) -> dict:
    """The network's settings for reports (its explicit ``threshold`` is ``detector_threshold``)."""
    return {k: v for k, v in net.to_dict().items() if k != "threshold"}


def _check_names(name: str, values: Sequence[str], valid: Sequence[str]) -> tuple[str, ...]:
    if isinstance(values, str):
        values = (values,)
    values = tuple(values)
    if not values:
        raise SpikegradInputError(f"{name} must name at least one of {', '.join(valid)}")
    for v in values:
        check_choice(name[:-1] if name.endswith("s") else name, v, valid)
    return values


def events_from_spikes(
    spikes: torch.Tensor,
    *,
    network: SymmetryNetwork | None = None,
    orientations: Sequence[str] = ORIENTATIONS,
    parities: Sequence[str] = PARITIES,
    method: str = "spiking",
) -> SymmetryEvents:
    """Detector event counts for given time-major input spikes ``[T, B, H, W]``.

    ``method="oracle"`` replaces the simulation by the exact pair count; it is
    allowed only where the two are provably equal: single-tick binary input,
    ``tau = 0``, a threshold in :math:`[w, 2w)` (``k = 2``) and distinct delays.
    """
    net = network or SymmetryNetwork()
    spikes = check_spikes("spikes", spikes)
    orientations = _check_names("orientations", orientations, ORIENTATIONS)
    parities = _check_names("parities", parities, PARITIES)
    check_choice("method", method, METHODS)
    if net.fractional and method == "spiking":
        raise SpikegradInputError(
            "a fractional network needs spike times: use symmetry_events, or "
            "run_detectors_exact directly"
        )
    B, H, W = spikes.shape[1:]
    counts = {}
    for o in orientations:
        for p in parities:
            if method == "oracle":
                R = effective_radius(o, (H, W), net.max_radius)
                d = delays(o, p, R, net.ticks_per_pixel, net.metric)
                theta = net.params.threshold / net.weight
                if (
                    spikes.shape[0] != 1
                    or net.tau != 0
                    or not (1.0 <= theta < 2.0)
                    or len(set(d)) != len(d)
                    or bool(((spikes != 0) & (spikes != 1)).any())
                ):
                    raise SpikegradInputError(
                        "method='oracle' equals the spiking network only for single-tick "
                        "binary spikes, tau=0, a threshold in [w, 2w) and distinct delays"
                    )
                if net.max_radius is None:
                    c = pair_counts(spikes[0], o, p)
                else:
                    c = pair_counts_direct(spikes[0], o, p, net.max_radius)
                counts[f"{o}/{p}"] = c.to(spikes.dtype)
            else:
                counts[f"{o}/{p}"] = run_detectors(spikes, o, p, net).counts
    return SymmetryEvents(counts, spikes.sum(0), True, {"method": method}, net)


def symmetry_events(
    image: object,
    *,
    encoding: str = "threshold",
    threshold: float = 0.5,
    levels: int = 8,
    network: SymmetryNetwork | None = None,
    orientations: Sequence[str] = ORIENTATIONS,
    parities: Sequence[str] = PARITIES,
    intensity_noise: float = 0.0,
    spike_noise: float = 0.0,
    generator: torch.Generator | None = None,
    method: str = "spiking",
) -> SymmetryEvents:
    r"""Mirror-symmetry events of a binary or grey image, per axis orientation.

    Pipeline: optional intensity noise :math:`x + \sigma\xi` ->
    pixel-to-spike rule (:func:`~spikegrad.symmetry.encoding.encode`) -> optional
    random extra spikes (probability :math:`\rho` per silent pixel) -> delay lines
    and coincidence detectors (:mod:`~spikegrad.symmetry.network`) for every
    orientation and parity -> spike counts.

    Parameters
    ----------
    image:
        Grey or binary image ``[H, W]`` or batch ``[B, H, W]`` (numpy or torch;
        floats in [0, 1], uint8, or bool).
    encoding, threshold, levels:
        Pixel-to-spike rule: ``"threshold"``, ``"edges"`` or ``"latency"``.
    network:
        Delay and detector settings (default :class:`SymmetryNetwork`: radius 8,
        1 tick per pixel, :math:`\tau = 0`, :math:`k = 2`).
    orientations, parities:
        Which detector populations to run (default: all 4 x 2).
    intensity_noise:
        :math:`\sigma` of Gaussian noise added to the intensities before encoding.
    spike_noise:
        Probability :math:`\rho` of a random extra spike per silent pixel.
    generator:
        ``torch.Generator`` for the noise (required when any noise is > 0).
    method:
        ``"spiking"`` (simulate) or ``"oracle"`` (exact pair count; see
        :func:`events_from_spikes`).

    Returns
    -------
    SymmetryEvents
        ``.maps`` (orientation -> event map), ``.combined``, ``.counts`` (per
        orientation and parity), ``.density(...)``, ``.region_scores(...)``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((9, 9)); img[2:7, 1:8] = 1.0   # a 5 x 7 rectangle
    >>> ev = symmetry_events(img)
    >>> float(ev.counts["vertical/on"][4, 4])   # pairs about the column through x = 4
    3.0
    >>> float(ev.maps["vertical"][4, 4])   # + 3 pairs about the axis at x = 4.5
    6.0
    """
    net = network or SymmetryNetwork()
    x, was_2d = as_image(image)
    if (intensity_noise or spike_noise) and generator is None:
        raise SpikegradInputError(
            "intensity_noise / spike_noise need an explicit generator=torch.Generator()"
        )
    if intensity_noise:
        x = add_intensity_noise(x, intensity_noise, generator)
    settings = {
        "encoding": encoding,
        "threshold": float(threshold),
        "levels": levels,
        "intensity_noise": float(intensity_noise),
        "spike_noise": float(spike_noise),
        **_network_settings(net),
        "method": method,
    }
    if net.fractional:
        check_choice("method", method, ("spiking",))
        orientations = _check_names("orientations", orientations, ORIENTATIONS)
        parities = _check_names("parities", parities, PARITIES)
        if encoding == "latency":
            times = spike_times(x, threshold, levels=levels, fractional=True)
            span = float(levels)
        else:
            times = encode(x, encoding, threshold)[0]
            inf = torch.full_like(times, math.inf)
            times = torch.where(times > 0, torch.zeros_like(times), inf)
            span = 0.0
        if spike_noise:
            times = add_time_noise(times, spike_noise, generator, span=span)
        counts = {
            f"{o}/{p}": run_detectors_exact(times, o, p, net)
            for o in orientations
            for p in parities
        }
        ev = SymmetryEvents(counts, torch.isfinite(times).float(), not was_2d, settings, net)
        return ev
    spikes = encode(x, encoding, threshold, levels=levels)
    if spike_noise:
        spikes = add_spike_noise(spikes, spike_noise, generator)
    ev = events_from_spikes(
        spikes, network=net, orientations=orientations, parities=parities, method=method
    )
    ev.batched = not was_2d
    ev.settings = settings
    return ev
