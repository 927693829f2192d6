r"""Synthetic aerial-like scenes with labelled man-made and vegetation regions.

No public data set is bundled: these scenes are a stand-in built for this library
(the paper used satellite images that it does not name). A scene is a grid of
``cell x cell`` regions on a textured ground; each region is either

* **man-made** (label 1), one of: ``buildings`` (1-3 rectangles or L-shapes,
  optionally with a roof ridge), ``road`` (a straight band with a dashed centre
  line), ``parking`` (rows of cars), ``fields`` (parallel strips); or
* **vegetation** (label 2), one of: ``trees`` (clustered crowns with ragged
  edges) or ``texture`` (fractal value noise, a Perlin-like 1/f texture).

Ground is labelled 0 at pixel level; every cell has one label in
``cell_labels``. Intensities are grey levels in [0, 1]; objects are drawn mostly
above 0.5 and ground below, with the same range for both classes so that
brightness alone is a weak cue (measure it: :func:`~spikegrad.symmetry.evaluate.classify_scenes`
reports the active-fraction baseline). All randomness comes from a
``numpy.random.Generator``. Structures are axis-aligned by default (the detector
orientations are rows, columns and diagonals); ``max_angle`` rotates man-made
regions by random angles to measure what that costs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._checks import SpikegradInputError, check_nonnegative

__all__ = [
    "MANMADE_KINDS",
    "VEGETATION_KINDS",
    "Scene",
    "value_noise",
    "generate_scene",
    "generate_scenes",
]

MANMADE_KINDS = ("buildings", "road", "parking", "fields")
VEGETATION_KINDS = ("trees", "texture")
GROUND, MANMADE, VEGETATION = 0, 1, 2


@dataclass
class Scene:
    """A generated scene.

    ``image`` float32 ``[H, W]`` in [0, 1]; ``labels`` int8 ``[H, W]`` (0 ground,
    1 man-made, 2 vegetation); ``cell_labels`` int8 ``[H//cell, W//cell]`` (1 or 2);
    ``kinds``: the sub-type drawn in each cell.
    """

    image: np.ndarray
    labels: np.ndarray
    cell: int
    cell_labels: np.ndarray
    kinds: list


def _rng(rng: object) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got {type(rng)}")


def value_noise(shape: tuple[int, int], rng: np.random.Generator, *, octaves: int = 4,
                base: int = 4, persistence: float = 0.55) -> np.ndarray:
    r"""Fractal value noise in roughly [-1, 1]: :math:`\sum_o p^o\, \mathrm{up}(g_o)`.

    :math:`g_o` is a ``(base 2^o + 1)``-square grid of uniform values, bicubically
    upsampled to ``shape``; amplitudes fall by ``persistence`` per octave (1/f-like).
    """
    H, W = shape
    out = np.zeros(shape, dtype=np.float32)
    norm = 0.0
    for o in range(octaves):
        n = base * 2**o + 1
        g = torch.from_numpy(rng.uniform(-1, 1, (1, 1, n, n)).astype(np.float32))
        up = torch.nn.functional.interpolate(g, size=(H, W), mode="bicubic", align_corners=True)
        amp = persistence**o
        out += amp * up[0, 0].numpy()
        norm += amp
    return out / norm * 1.6


def _rect(img, lab, r0, c0, h, w, val, label):
    H, W = img.shape
    r1, c1 = max(r0, 0), max(c0, 0)
    r2, c2 = min(r0 + h, H), min(c0 + w, W)
    if r2 > r1 and c2 > c1:
        img[r1:r2, c1:c2] = val
        lab[r1:r2, c1:c2] = label


def _buildings(img, lab, rng, c):
    for _ in range(rng.integers(1, 4)):
        h, w = rng.integers(6, c - 6, size=2)
        r0, c0 = rng.integers(1, c - h), rng.integers(1, c - w)
        roof = rng.uniform(0.6, 0.9)
        _rect(img, lab, r0, c0, h, w, roof, MANMADE)
        if rng.random() < 0.5:  # L-shape: a wing at one corner
            wh, ww = rng.integers(4, max(5, h)), rng.integers(4, max(5, w))
            wr = r0 + h - 1 if rng.random() < 0.5 else r0 - wh + 1
            _rect(img, lab, wr, c0, wh, min(ww, c - c0 - 1), roof, MANMADE)
        elif rng.random() < 0.5:  # roof ridge along the long side
            if w >= h:
                img[r0 + h // 2, c0 : c0 + w] = roof - 0.25
            else:
                img[r0 : r0 + h, c0 + w // 2] = roof - 0.25


def _road(img, lab, rng, c):
    width = rng.integers(4, 9)
    pos = rng.integers(2, c - width - 2)
    val = rng.uniform(0.6, 0.8)
    vertical = rng.random() < 0.5
    if vertical:
        _rect(img, lab, 0, pos, c, width, val, MANMADE)
        mid = pos + width // 2
        for r in range(1, c, 6):
            img[r : r + 3, mid] = 0.95
    else:
        _rect(img, lab, pos, 0, width, c, val, MANMADE)
        mid = pos + width // 2
        for k in range(1, c, 6):
            img[mid, k : k + 3] = 0.95


def _parking(img, lab, rng, c):
    ch, cw = 6, 3  # car length x width (pixels)
    gap = rng.integers(1, 3)
    n_rows = rng.integers(1, 4)
    r = rng.integers(1, 4)
    for _ in range(n_rows):
        if r + ch >= c:
            break
        for k in range(1, c - cw, cw + gap):
            if rng.random() < 0.85:
                _rect(img, lab, r, k, ch, cw, rng.uniform(0.55, 0.95), MANMADE)
        r += ch + rng.integers(2, 5)


def _fields(img, lab, rng, c):
    width = rng.integers(2, 6)
    hi, lo = rng.uniform(0.6, 0.8), rng.uniform(0.3, 0.45)
    vertical = rng.random() < 0.5
    for k in range(0, c, width):
        val = hi if (k // width) % 2 == 0 else lo
        if vertical:
            _rect(img, lab, 0, k, c, width, val, MANMADE)
        else:
            _rect(img, lab, k, 0, width, c, val, MANMADE)


def _trees(img, lab, rng, c):
    yy, xx = np.mgrid[0:c, 0:c].astype(np.float32)
    rag = value_noise((c, c), rng, octaves=3, base=8)
    for _ in range(rng.integers(1, 4)):
        cy, cx = rng.uniform(4, c - 4, size=2)
        for _ in range(rng.integers(6, 16)):
            ty, tx = rng.normal(cy, c / 7), rng.normal(cx, c / 7)
            rad = rng.uniform(1.5, 4.0)
            d = np.sqrt((yy - ty) ** 2 + (xx - tx) ** 2)
            m = d < rad * (1.0 + 0.35 * rag)
            shade = rng.uniform(0.55, 0.85) - 0.25 * d / (rad + 1e-6)
            img[m] = np.maximum(img[m], shade[m])
            lab[m] = VEGETATION


def _texture(img, lab, rng, c):
    t = value_noise((c, c), rng, octaves=4, base=3)
    v = 0.5 + 0.3 * t
    m = v > 0.45
    img[m] = v[m]
    lab[m] = VEGETATION


def _rotated(kind, sub, sub_lab, rng, c, phi):
    """Draw a man-made ``kind`` in a ``c x c`` frame rotated by ``phi`` (radians).

    The objects are drawn axis-aligned on a larger blank canvas, which is rotated
    about its centre with nearest-neighbour sampling (sharp, aliased edges, like
    a rendered roof); pixels the rotated objects do not cover keep their ground.
    """
    C = int(np.ceil(c * np.sqrt(2))) + 2
    o = (C - c) // 2
    canvas = np.full((C, C), np.nan, dtype=np.float32)
    canvas_lab = np.zeros((C, C), dtype=np.int8)
    view, view_lab = canvas[o : o + c, o : o + c], canvas_lab[o : o + c, o : o + c]
    _DRAW[kind](view, view_lab, rng, c)
    yy, xx = np.mgrid[0:c, 0:c].astype(np.float64) - (c - 1) / 2
    cos, sin = np.cos(phi), np.sin(phi)
    ys = np.rint(cos * yy + sin * xx + (C - 1) / 2).astype(int)
    xs = np.rint(-sin * yy + cos * xx + (C - 1) / 2).astype(int)
    ok = (ys >= 0) & (ys < C) & (xs >= 0) & (xs < C)
    val = np.full((c, c), np.nan, dtype=np.float32)
    lab = np.zeros((c, c), dtype=np.int8)
    val[ok], lab[ok] = canvas[ys[ok], xs[ok]], canvas_lab[ys[ok], xs[ok]]
    drawn = ~np.isnan(val)
    sub[drawn] = val[drawn]
    sub_lab[drawn] = lab[drawn]


_DRAW = {
    "buildings": _buildings,
    "road": _road,
    "parking": _parking,
    "fields": _fields,
    "trees": _trees,
    "texture": _texture,
}


def generate_scene(
    size: int | tuple[int, int] = 256,
    cell: int = 32,
    *,
    p_manmade: float = 0.5,
    noise: float = 0.0,
    max_angle: float = 0.0,
    rng: np.random.Generator | int = 0,
    angle_rng: np.random.Generator | None = None,
) -> Scene:
    """Generate one labelled aerial-like scene.

    Parameters
    ----------
    size:
        ``H = W = size`` or ``(H, W)``; both must be multiples of ``cell``.
    cell:
        Side of each labelled region (>= 16).
    p_manmade:
        Probability that a region is man-made.
    noise:
        Standard deviation of Gaussian sensor noise added to the whole image
        (then clipped to [0, 1]).
    max_angle:
        Man-made regions are rotated by an angle drawn uniformly from
        ``[-max_angle, max_angle]`` degrees (0: axis-aligned, the default).
    rng:
        ``numpy.random.Generator`` or an int seed.
    angle_rng:
        Generator of the rotation angles (default: ``rng``; a separate one keeps
        the layouts identical across ``max_angle``).
    """
    rng = _rng(rng)
    H, W = (size, size) if isinstance(size, (int, np.integer)) else tuple(size)
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or cell < 16:
        raise SpikegradInputError(f"cell must be an int >= 16, got {cell!r}")
    if H < cell or W < cell or H % cell or W % cell:
        raise SpikegradInputError(f"size {(H, W)} must be positive multiples of cell={cell}")
    if not 0.0 <= float(p_manmade) <= 1.0:
        raise SpikegradInputError(f"p_manmade must be in [0, 1], got {p_manmade!r}")
    noise = check_nonnegative("noise", noise)
    max_angle = check_nonnegative("max_angle", max_angle)
    angle_rng = rng if angle_rng is None else _rng(angle_rng)
    img = (0.3 + 0.06 * value_noise((H, W), rng, octaves=3, base=4)).astype(np.float32)
    lab = np.zeros((H, W), dtype=np.int8)
    nh, nw = H // cell, W // cell
    cell_labels = np.zeros((nh, nw), dtype=np.int8)
    kinds = []
    for i in range(nh):
        row = []
        for j in range(nw):
            manmade = rng.random() < p_manmade
            kind = str(rng.choice(MANMADE_KINDS if manmade else VEGETATION_KINDS))
            sl = (slice(i * cell, (i + 1) * cell), slice(j * cell, (j + 1) * cell))
            sub, sub_lab = img[sl].copy(), lab[sl].copy()
            if manmade and max_angle > 0:
                phi = np.deg2rad(angle_rng.uniform(-max_angle, max_angle))
                _rotated(kind, sub, sub_lab, rng, cell, phi)
            else:
                _DRAW[kind](sub, sub_lab, rng, cell)
            img[sl], lab[sl] = sub, sub_lab
            cell_labels[i, j] = MANMADE if manmade else VEGETATION
            row.append(kind)
        kinds.append(row)
    if noise:
        img = img + rng.normal(0.0, noise, img.shape).astype(np.float32)
    img = np.clip(img, 0.0, 1.0).astype(np.float32)
    return Scene(img, lab, int(cell), cell_labels, kinds)


def generate_scenes(
    n: int,
    size: int = 256,
    cell: int = 32,
    *,
    noise: float = 0.0,
    max_angle: float = 0.0,
    seed: int = 0,
) -> list[Scene]:
    """``n`` independent scenes from one seed (``numpy.random.default_rng(seed)``).

    The sensor noise and the rotation angles come from separate streams
    (``default_rng([seed, 1])``, ``default_rng([seed, 2])``), so the same seed gives
    the same layouts at every noise level and angle range.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise SpikegradInputError(f"n must be an int >= 1, got {n!r}")
    noise = check_nonnegative("noise", noise)
    rng = np.random.default_rng(seed)
    arng = np.random.default_rng([seed, 2])
    scenes = [generate_scene(size, cell, rng=rng, max_angle=max_angle, angle_rng=arng)
              for _ in range(n)]
    if noise:
        nrng = np.random.default_rng([seed, 1])
        for sc in scenes:
            noisy = sc.image + nrng.normal(0.0, noise, sc.image.shape).astype(np.float32)
            sc.image = np.clip(noisy, 0.0, 1.0).astype(np.float32)
    return scenes
