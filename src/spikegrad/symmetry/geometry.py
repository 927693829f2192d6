r"""Geometry of the mirror-symmetry network: axis orientations, axis parity, delays.

A detector neuron sits at pixel :math:`q`. For one axis *orientation* it is connected
only to the pixels on the line through :math:`q` perpendicular to the axis (the *pair
line*, unit step :math:`v`); for one axis *parity* the axis passes

* ``"on"``: through :math:`q` itself. The mirror pairs are
  :math:`(q - a v,\ q + a v)`, :math:`a = 1 \dots R`, at distance :math:`a\,|v|`
  from the axis; the centre pixel :math:`q` is excluded.
* ``"half"``: half-way between :math:`q` and :math:`q + v`. The pairs are
  :math:`(q - (a-1) v,\ q + a v)`, :math:`a = 1 \dots R`, at distance
  :math:`(a - \tfrac12)\,|v|`. The half-pixel detector is stored at the pixel
  :math:`q` (the one with the smaller coordinate along :math:`v`).

======================  ==================================  ===============
orientation (the axis)  pair line :math:`v = (dr, dc)`       :math:`|v|`
======================  ==================================  ===============
``"vertical"``          along the row, ``(0, 1)``           1
``"horizontal"``        along the column, ``(1, 0)``        1
``"diagonal"``          axis along ``(1, 1)``; ``(1, -1)``  :math:`\sqrt 2`
``"antidiagonal"``      axis along ``(1, -1)``; ``(1, 1)``  :math:`\sqrt 2`
======================  ==================================  ===============

(``dr`` counts rows downwards, ``dc`` columns to the right.) With
``metric="steps"`` every step counts as distance 1, also on the diagonals.

**Delays** (the paper: delay proportional to distance; the rounding rule is
spikegrad's reading). The conduction delay of a connection of length
:math:`r` pixels is :math:`d = \lfloor r\,\kappa + \tfrac12 \rfloor` ticks
(round half up) with :math:`\kappa` = ``ticks_per_pixel``; in the exact
(fractional) mode it is :math:`r\,\kappa` without rounding. Both members of a
mirror pair share the same distance and hence the same delay, so their spikes
arrive at :math:`q` together. Pairs whose far member would fall outside the
image count for nothing (the image is zero-padded; an absent pixel never spikes).
"""

from __future__ import annotations

import math

import torch

from .._checks import SpikegradInputError, check_choice, check_positive

__all__ = [
    "ORIENTATIONS",
    "PARITIES",
    "METRICS",
    "pair_step",
    "pair_offsets",
    "pair_distances",
    "delays",
    "effective_radius",
    "shift",
    "pad_image",
]

#: Axis orientations (named after the direction of the mirror axis).
ORIENTATIONS = ("vertical", "horizontal", "diagonal", "antidiagonal")
#: Axis parities: through the pixel (``"on"``) or between two pixels (``"half"``).
PARITIES = ("on", "half")
#: Distance metrics along the pair line.
METRICS = ("euclidean", "steps")

_STEP = {
    "vertical": (0, 1),
    "horizontal": (1, 0),
    "diagonal": (1, -1),
    "antidiagonal": (1, 1),
}


def pair_step(orientation: str) -> tuple[int, int]:
    """The unit step ``(dr, dc)`` of the pair line perpendicular to the axis."""
    check_choice("orientation", orientation, ORIENTATIONS)
    return _STEP[orientation]


def pair_offsets(parity: str, a: int) -> tuple[int, int]:
    r"""Offsets ``(k_minus, k_plus)`` (in units of the step :math:`v`) of pair ``a``.

    ``"on"``: :math:`(-a, +a)`; ``"half"``: :math:`(-(a-1), +a)`.
    """
    check_choice("parity", parity, PARITIES)
    return (-a, a) if parity == "on" else (-(a - 1), a)


def pair_distances(
    orientation: str, parity: str, max_radius: int, metric: str = "euclidean"
) -> list[float]:
    r"""Distance (pixels) from the axis of pair ``a = 1..max_radius``.

    :math:`r_a = a\,|v|` (``"on"``) or :math:`(a - \tfrac12)\,|v|` (``"half"``).
    """
    check_choice("metric", metric, METRICS)
    step = pair_step(orientation)
    check_choice("parity", parity, PARITIES)
    norm = math.hypot(*step) if metric == "euclidean" else 1.0
    shift_ = 0.0 if parity == "on" else 0.5
    return [(a - shift_) * norm for a in range(1, max_radius + 1)]


def delays(
    orientation: str,
    parity: str,
    max_radius: int,
    ticks_per_pixel: float = 1.0,
    metric: str = "euclidean",
    *,
    exact: bool = False,
) -> list[float] | list[int]:
    r"""Conduction delay (ticks) of pair ``a = 1..max_radius``.

    :math:`d_a = \lfloor r_a \kappa + \tfrac12 \rfloor` (integer ticks), or
    :math:`d_a = r_a \kappa` when ``exact=True`` (fractional delays).
    """
    kappa = check_positive("ticks_per_pixel", ticks_per_pixel)
    r = pair_distances(orientation, parity, max_radius, metric)
    if exact:
        return [x * kappa for x in r]
    # tiny epsilon so that e.g. 2.5000000000000004 and 2.4999999999999996 round alike
    return [int(math.floor(x * kappa + 0.5 + 1e-9)) for x in r]


def effective_radius(orientation: str, shape: tuple[int, int], max_radius: int | None) -> int:
    """The largest pair index ``a`` that can fit in an image of ``shape`` (H, W).

    ``max_radius=None`` means "no limit": every pair inside the image is counted.
    """
    H, W = shape
    dr, dc = pair_step(orientation)
    length = min(H if dr else 10**9, W if dc else 10**9)  # longest pair line
    full = length // 2
    if max_radius is None:
        return full
    if isinstance(max_radius, bool) or not isinstance(max_radius, int) or max_radius < 1:
        raise SpikegradInputError(f"max_radius must be an int >= 1 or None, got {max_radius!r}")
    return min(max_radius, full)


def pad_image(x: torch.Tensor, pad: int, value: float = 0.0) -> torch.Tensor:
    """Pad the last two (spatial) dimensions of ``x`` by ``pad`` on every side."""
    if pad == 0:
        return x
    shape = (*x.shape[:-2], x.shape[-2] + 2 * pad, x.shape[-1] + 2 * pad)
    out = torch.full(shape, value, dtype=x.dtype, device=x.device)
    out[..., pad : pad + x.shape[-2], pad : pad + x.shape[-1]] = x
    return out


def shift(xpad: torch.Tensor, pad: int, k: int, step: tuple[int, int], H: int, W: int):
    r"""View of :math:`x[q + k v]` for every pixel :math:`q` of an ``H x W`` image.

    ``xpad`` is the image padded by ``pad >= |k|`` (see :func:`pad_image`); pixels
    outside the image read the padding value. Returns a view, no copy.
    """
    r0 = pad + k * step[0]
    c0 = pad + k * step[1]
    return xpad[..., r0 : r0 + H, c0 : c0 + W]
