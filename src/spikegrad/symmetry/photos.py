r"""Real photographs shipped by installable packages, cut into patches, with baselines.

No aerial or satellite images can be had offline, so the man-made vs natural test
uses the sample photographs that scikit-image (``skimage.data``) and scikit-learn
(``sklearn.datasets.load_sample_images``) install with the package. Each image is
labelled as a whole (:data:`PHOTOS`); images with large parts of both kinds are
marked ``"mixed"`` and left out of the AUCs; synthetic images are not used.

**Patch protocol** [spikegrad's]. Grey levels in [0, 1] (colour: ITU-R 601 luma,
``skimage.color.rgb2gray``), native resolution, the non-overlapping ``patch x
patch`` grid (64 by default) from the top-left corner, patches with fewer than
``min_edge_fraction`` (2 %) pixels of edge strength above ``threshold`` dropped
(flat sky, black background; the benchmark and the demo use 0.1 whatever the
detector's edge threshold, so that every setting sees the same patches), then at
most ``max_patches`` (48) per image drawn with a fixed seed so that large images do
not dominate.

**Baselines** (no symmetry): the edge fraction :math:`n/N` and the lag-1 edge
co-occurrence, the number of 8-neighbour pairs of edge pixels (horizontal,
vertical, both diagonals) per edge pixel. Cross-validated AUCs use a logistic
regression (:func:`logistic_fit`) with grouped folds (:func:`grouped_cv_auc`):
each fold holds out one man-made and one natural source image, so that patches of
one image never sit in both the training and the test set.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._checks import SpikegradInputError

if TYPE_CHECKING:
    from .oriented import ChannelCode

__all__ = [
    "Photo",
    "PHOTOS",
    "photo_names",
    "load_photo",
    "photo_patches",
    "edge_fraction",
    "lag1_cooccurrence",
    "logistic_fit",
    "grouped_cv_auc",
    "photo_features",
    "MISSING_SKIMAGE",
]

MISSING_SKIMAGE = (
    "the real-photograph demo needs scikit-image (pip install 'scikit-image>=0.22'); "
    "IMAGE mode and --demo scenes work without it"
)


@dataclass(frozen=True)
class Photo:
    """One sample photograph: loader, label and what it shows."""

    name: str
    source: str
    label: str  # "manmade", "natural" or "mixed"
    shows: str
    role: str = "eval"  # "eval" or "tune": images used to choose the parameters


#: The photographs used, with labels. ``role="tune"`` images chose the parameters
#: and are not in the evaluation AUCs.
PHOTOS = (
    Photo("brick", "skimage.data.brick", "manmade", "brick wall (stands in for roofs)"),
    Photo("coffee", "skimage.data.coffee", "manmade", "coffee cup and saucer on a table"),
    Photo("page", "skimage.data.page", "manmade", "scanned page of printed text"),
    Photo("rocket", "skimage.data.rocket", "manmade", "rocket on its launch pad"),
    Photo("text", "skimage.data.text", "manmade", "photographed text on a sign"),
    Photo("coins", "skimage.data.coins", "manmade", "coins on a table", "tune"),
    Photo("clock", "skimage.data.clock", "manmade", "wall clock", "tune"),
    Photo("grass", "skimage.data.grass", "natural", "grass (stands in for vegetation)"),
    Photo("flower", "sklearn.datasets.load_sample_images", "natural", "flower close-up"),
    Photo("chelsea", "skimage.data.chelsea", "natural", "cat (fur, whiskers)"),
    Photo("cell", "skimage.data.cell", "natural", "cells under a microscope"),
    Photo("hubble_deep_field", "skimage.data.hubble_deep_field", "natural", "galaxies"),
    Photo("gravel", "skimage.data.gravel", "natural", "gravel (stands in for bare ground)",
          "tune"),
    Photo("moon", "skimage.data.moon", "natural", "lunar surface", "tune"),
    Photo("astronaut", "skimage.data.astronaut", "mixed", "astronaut portrait, flag, model"),
    Photo("camera", "skimage.data.camera", "mixed", "cameraman on grass, buildings behind"),
    Photo("china", "sklearn.datasets.load_sample_images", "mixed", "temple among trees"),
)


def photo_names(label: str | None = None, role: str | None = None) -> list[str]:
    """Names in :data:`PHOTOS`, optionally only one label and/or role."""
    return [p.name for p in PHOTOS
            if (label is None or p.label == label) and (role is None or p.role == role)]


def _photo(name: str) -> Photo:
    for p in PHOTOS:
        if p.name == name:
            return p
    raise SpikegradInputError(
        f"unknown photo {name!r}; choose from {', '.join(photo_names())}"
    )


def load_photo(name: str) -> np.ndarray:
    """Grey float64 ``[H, W]`` in [0, 1] of a photograph of :data:`PHOTOS`.

    Raises :class:`~spikegrad._checks.SpikegradInputError` with one line when the
    package that ships it is missing.
    """
    p = _photo(name)
    try:
        from skimage import data
        from skimage.color import rgb2gray
    except ImportError as exc:
        raise SpikegradInputError(MISSING_SKIMAGE) from exc
    if p.source.startswith("sklearn"):
        try:
            from sklearn.datasets import load_sample_images
        except ImportError as exc:
            raise SpikegradInputError(
                f"photo {name!r} ships with scikit-learn (pip install scikit-learn)"
            ) from exc
        imgs = load_sample_images()
        idx = [f.rsplit("/", 1)[-1].split(".")[0] for f in imgs.filenames].index(name)
        img = imgs.images[idx]
    else:
        img = getattr(data, name)()
    img = np.asarray(img)
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    elif img.dtype == np.uint8:
        img = img / 255.0
    return np.asarray(img, dtype=np.float64)


def edge_fraction(edges: np.ndarray) -> np.ndarray:
    """Fraction of edge pixels of each binary patch ``[B, H, W]`` -> ``[B]``."""
    e = np.asarray(edges, dtype=bool)
    return e.reshape(e.shape[0], -1).mean(1)


def lag1_cooccurrence(edges: np.ndarray) -> np.ndarray:
    """8-neighbour pairs of edge pixels per edge pixel ``[B]`` (0 for no edges).

    Pairs ``(p, p + u)`` for ``u`` in (0, 1), (1, 0), (1, 1), (1, -1), both inside.
    """
    e = np.asarray(edges, dtype=bool)
    pairs = ((e[:, :, 1:] & e[:, :, :-1]).sum((1, 2)) + (e[:, 1:, :] & e[:, :-1, :]).sum((1, 2))
             + (e[:, 1:, 1:] & e[:, :-1, :-1]).sum((1, 2))
             + (e[:, 1:, :-1] & e[:, :-1, 1:]).sum((1, 2)))
    n = e.sum((1, 2))
    return np.where(n > 0, pairs / np.maximum(n, 1), 0.0)


def photo_patches(
    names: Sequence[str],
    *,
    patch: int = 64,
    threshold: float = 0.15,
    min_edge_fraction: float = 0.02,
    max_patches: int | None = 48,
    seed: int = 0,
    images: dict | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[tuple[str, int, int]]]:
    """Patches of the named photographs (module docstring: the protocol).

    Returns ``(patches [B, patch, patch], manmade [B] bool, group [B] int, where)``
    with ``where`` the ``(name, row, col)`` of each patch. ``images`` may give the
    grey images by name (else :func:`load_photo`). The edge test uses the Sobel
    edge map of :func:`~spikegrad.symmetry.encoding.edge_map`.
    """
    import torch

    from .encoding import edge_map

    if isinstance(patch, bool) or not isinstance(patch, int) or patch < 4:
        raise SpikegradInputError(f"patch must be an int >= 4, got {patch!r}")
    rng = np.random.default_rng(seed)
    out, lab, grp, where = [], [], [], []
    for gi, name in enumerate(names):
        img = images[name] if images is not None else load_photo(name)
        H, W = img.shape
        cells = [(r, c) for r in range(0, H - patch + 1, patch)
                 for c in range(0, W - patch + 1, patch)]
        if not cells:
            continue
        blocks = np.stack([img[r:r + patch, c:c + patch] for r, c in cells])
        e = edge_map(torch.from_numpy(blocks)).numpy() > threshold
        keep = np.flatnonzero(edge_fraction(e) >= min_edge_fraction)
        if max_patches is not None and keep.size > max_patches:
            keep = np.sort(rng.choice(keep, max_patches, replace=False))
        label = _photo(name).label == "manmade"
        for k in keep:
            out.append(blocks[k])
            lab.append(label)
            grp.append(gi)
            where.append((name, *cells[k]))
    if not out:
        return (np.zeros((0, patch, patch)), np.zeros(0, bool), np.zeros(0, int), [])
    return np.stack(out), np.array(lab), np.array(grp), where


def logistic_fit(X: np.ndarray, y: np.ndarray, l2: float = 1e-2,
                 iters: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""L2-regularised logistic regression on standardised features (Newton's method).

    Minimises :math:`\sum_i \ell(y_i, w^\top z_i + b) + \tfrac{\lambda}{2}\|w\|^2`,
    :math:`z = (x - \mu)/\sigma`. Returns ``(w, b_mu_sigma)`` packed as
    ``(w [F], mu [F], sigma [F])`` with the bias as ``w``'s last entry.
    """
    X = np.asarray(X, np.float64)
    y = np.asarray(y, np.float64)
    mu, sd = X.mean(0), X.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(iters):
        p = 1.0 / (1.0 + np.exp(-(Z @ w)))
        g = Z.T @ (p - y) + reg * w
        Hm = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg) + 1e-9 * np.eye(len(w))
        step = np.linalg.solve(Hm, g)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w, mu, sd


def grouped_cv_auc(X: np.ndarray, y: np.ndarray, groups: np.ndarray) -> tuple[float, float, int]:
    """Cross-validated AUC with whole source images held out, one pair per fold.

    Every fold holds out one man-made and one natural image (all such pairs, so
    every image is held out several times), fits :func:`logistic_fit` on the other
    images and takes the AUC on the held-out patches; returns the mean and the
    standard deviation over the folds and the number of folds. Holding out a single
    image per fold and pooling the predictions instead is biased: the fold's
    training set then lacks exactly the held-out class's image, which shifts the
    intercept against it (we measured AUCs near 0 for weak features that way).
    """
    from .evaluate import roc_auc

    X = np.asarray(X, np.float64)
    if X.ndim == 1:
        X = X[:, None]
    y = np.asarray(y, bool)
    pos = [g for g in np.unique(groups) if y[groups == g].all()]
    neg = [g for g in np.unique(groups) if not y[groups == g].any()]
    if len(pos) < 2 or len(neg) < 2:
        raise SpikegradInputError("grouped CV needs >= 2 source images of each class")
    aucs = []
    for gp in pos:
        for gn in neg:
            te = (groups == gp) | (groups == gn)
            w, mu, sd = logistic_fit(X[~te], y[~te])
            pred = ((X[te] - mu) / sd) @ w[:-1] + w[-1]
            aucs.append(roc_auc(pred, y[te]))
    return float(np.mean(aucs)), float(np.std(aucs)), len(aucs)


def photo_features(patches: np.ndarray, code: ChannelCode | None, *, method: str = "oracle",
                   bands: Sequence[tuple[int, int]] | None = None) -> tuple[dict, object]:
    """Baselines and symmetry scores of patches ``[B, H, W]`` (dict of ``[B]`` arrays).

    Keys: ``edge_fraction``, ``lag1``, ``blind_density_r8`` (the pixel network's
    edge pairs with :math:`a \\le 8` per edge pixel, the old density), and for each
    null model ``sym_<null>_<sum|max>`` (multi-scale) and ``band_<null>_<lo>-<hi>``.
    Also returns the :class:`~spikegrad.symmetry.chance.PatchSymmetry`.
    """
    import torch

    from .chance import COMBINES, DEFAULT_BANDS, NULLS, patch_symmetry
    from .oriented import edge_channels

    x = torch.from_numpy(np.asarray(patches, np.float64))
    ps = patch_symmetry(x, code, method=method, bands=bands or DEFAULT_BANDS)
    edges = (edge_channels(x, code) >= 0).numpy()
    r8 = [i for i, (_, hi) in enumerate(ps.bands) if hi <= 8]
    f = {
        "edge_fraction": edge_fraction(edges),
        "lag1": lag1_cooccurrence(edges),
        "blind_density_r8": (ps.blind[:, :, r8].sum((1, 2)) / ps.edges.clamp(min=1)).numpy(),
    }
    for null in NULLS:
        for comb in COMBINES:
            f[f"sym_{null}_{comb}"] = ps.multiscale(null, comb).numpy()
        sc = ps.scores(null).numpy()
        for i, (lo, hi) in enumerate(ps.bands):
            f[f"band_{null}_{lo}-{hi}"] = sc[:, i]
    return f, ps
