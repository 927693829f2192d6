r"""Exact pair counts of binary images: the oracle for the spiking detectors.

For a binary line :math:`b` (a row, a column or a diagonal of the image) and its
full self-convolution :math:`(b * b)[m] = \sum_i b[i]\, b[m - i]`, the number of
mirror-symmetric active pairs is

.. math::

    S_\text{on}(x_0) &= \sum_{a \ge 1} b[x_0 - a]\, b[x_0 + a]
                     = \tfrac12\big((b * b)[2 x_0] - b[x_0]\big)
    \qquad \text{(axis through pixel } x_0) \\
    S_\text{half}(x_0) &= \sum_{a \ge 1} b[x_0 - a + 1]\, b[x_0 + a]
                       = \tfrac12 (b * b)[2 x_0 + 1]
    \qquad \text{(axis between } x_0 \text{ and } x_0 + 1)

(each unordered pair :math:`i \ne j` with :math:`i + j = m` appears twice in the
convolution; the term :math:`i = j` exists only for even :math:`m` and equals
:math:`b[x_0]^2 = b[x_0]`). Pixels outside the image are 0, so pairs crossing the
border are not counted. The identities are exact (George et al. 2021 describe the
coincidence principle; writing the count as a self-convolution is spikegrad's
reading). :func:`pair_counts` evaluates them for all lines at once with an FFT;
:func:`pair_counts_direct` is the radius-limited sum of products.
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError, check_choice
from .geometry import PARITIES, effective_radius, pad_image, pair_offsets, pair_step, shift

__all__ = ["line_index", "self_convolution", "pair_counts", "pair_counts_direct"]


def line_index(orientation: str, H: int, W: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """Map each pixel ``(r, c)`` to ``(line, position)`` along the pair lines of ``orientation``.

    Returns ``(line [H, W], pos [H, W], n_lines, length)``; the position grows by one
    per step :math:`v` of the pair line.
    """
    r = torch.arange(H).view(H, 1).expand(H, W)
    c = torch.arange(W).view(1, W).expand(H, W)
    dr, dc = pair_step(orientation)
    if (dr, dc) == (0, 1):
        return r.clone(), c.clone(), H, W
    if (dr, dc) == (1, 0):
        return c.clone(), r.clone(), W, H
    if (dr, dc) == (1, 1):
        return c - r + (H - 1), r.clone(), H + W - 1, H
    return r + c, r.clone(), H + W - 1, H  # (1, -1)


def self_convolution(lines: torch.Tensor) -> torch.Tensor:
    r"""Full self-convolution :math:`(b * b)[m]`, ``m = 0..2P-2``, of each line ``[..., P]``.

    Computed with a real FFT in float64 and rounded (exact for integer inputs).
    """
    P = lines.shape[-1]
    n = 2 * P
    f = torch.fft.rfft(lines.to(torch.float64), n=n)
    return torch.round(torch.fft.irfft(f * f, n=n)[..., : 2 * P - 1])


def _check_binary(name: str, b: object) -> torch.Tensor:
    if not isinstance(b, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor [B, H, W] or [H, W]")
    if b.dim() not in (2, 3):
        raise SpikegradInputError(
            f"{name} must have shape [H, W] or [B, H, W]; got {tuple(b.shape)}"
        )
    bf = b.to(torch.float64)
    if not bool(((bf == 0) | (bf == 1)).all()):
        raise SpikegradInputError(f"{name} must be binary (0/1 or bool)")
    return bf


def pair_counts(b: torch.Tensor, orientation: str, parity: str) -> torch.Tensor:
    r"""Number of mirror-symmetric active pairs about every axis position (no radius limit).

    Parameters
    ----------
    b:
        Binary image ``[H, W]`` or ``[B, H, W]`` (bool or 0/1).
    orientation, parity:
        Axis orientation and parity (see :mod:`~spikegrad.symmetry.geometry`).

    Returns
    -------
    torch.Tensor
        float64 counts with the shape of ``b``; the half-pixel count between
        :math:`q` and :math:`q + v` is stored at :math:`q`.
    """
    check_choice("parity", parity, PARITIES)
    bf = _check_binary("b", b)
    squeeze = bf.dim() == 2
    if squeeze:
        bf = bf.unsqueeze(0)
    B, H, W = bf.shape
    line, pos, n_lines, P = line_index(orientation, H, W)
    line, pos = line.to(bf.device), pos.to(bf.device)
    lines = torch.zeros(B, n_lines, P, dtype=torch.float64, device=bf.device)
    lines[:, line, pos] = bf
    conv = self_convolution(lines)  # [B, n_lines, 2P-1]
    if parity == "on":
        m = 2 * pos
        out = (conv[:, line, m] - bf) / 2
    else:
        m = 2 * pos + 1
        valid = m <= 2 * P - 2
        out = conv[:, line, m.clamp(max=2 * P - 2)] / 2 * valid
    return out[0] if squeeze else out


def pair_counts_direct(
    b: torch.Tensor, orientation: str, parity: str, max_radius: int | None = None
) -> torch.Tensor:
    r"""Radius-limited pair count :math:`\sum_{a=1}^{R} b[q + k^-_a v]\, b[q + k^+_a v]`.

    Same conventions as :func:`pair_counts` (which it equals for ``max_radius=None``);
    costs :math:`O(R H W)`.
    """
    bf = _check_binary("b", b)
    squeeze = bf.dim() == 2
    if squeeze:
        bf = bf.unsqueeze(0)
    _, H, W = bf.shape
    R = effective_radius(orientation, (H, W), max_radius)
    step = pair_step(orientation)
    xpad = pad_image(bf, R)
    out = torch.zeros_like(bf)
    for a in range(1, R + 1):
        km, kp = pair_offsets(parity, a)
        out += shift(xpad, R, km, step, H, W) * shift(xpad, R, kp, step, H, W)
    return out[0] if squeeze else out
