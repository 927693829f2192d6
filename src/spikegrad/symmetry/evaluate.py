r"""Man-made vs vegetation classification by symmetry density, and the noise sweep.

Each labelled region (cell) of a scene gets a score, its symmetry density
:math:`\rho(Q)` (:meth:`SymmetryEvents.region_scores`); the detectability of
man-made structure is the ROC AUC of these scores, man-made positive:

.. math::

    \mathrm{AUC} = P(\rho_+ > \rho_-) + \tfrac12 P(\rho_+ = \rho_-)

(the Mann-Whitney statistic, ties counted half), and the separation score
:math:`d' = (\bar\rho_+ - \bar\rho_-) / \sqrt{(s_+^2 + s_-^2)/2}`. A baseline
score, the fraction of active inputs in the region, shows how much of the
separation brightness alone explains.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from .._checks import SpikegradInputError, check_choice
from .density import NORMALISATIONS, symmetry_events
from .scenes import MANMADE, Scene

__all__ = ["roc_auc", "roc_curve", "separation", "region_table", "classify_scenes",
           "noise_sweep"]


def _check_scores(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise SpikegradInputError(f"scores ({s.size}) and labels ({y.size}) differ in length")
    if not np.isfinite(s).all():
        raise SpikegradInputError("scores contain NaN or infinite values")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise SpikegradInputError("labels must contain both classes for an AUC")
    return s, y


def roc_auc(scores: object, labels: object) -> float:
    """ROC AUC of ``scores`` for binary ``labels`` (True = positive), ties counted half."""
    s, y = _check_scores(scores, labels)
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty_like(s)
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    n1, n0 = int(y.sum()), int((~y).sum())
    return float((ranks[y].sum() - n1 * (n1 + 1) / 2.0) / (n1 * n0))


def roc_curve(scores: object, labels: object) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates at every distinct threshold (descending)."""
    s, y = _check_scores(scores, labels)
    thr = np.unique(s)[::-1]
    tpr = np.array([0.0] + [float((s[y] >= t).mean()) for t in thr])
    fpr = np.array([0.0] + [float((s[~y] >= t).mean()) for t in thr])
    return fpr, tpr


def separation(scores: object, labels: object) -> float:
    r"""Separation :math:`d'` of the positive and negative score distributions."""
    s, y = _check_scores(scores, labels)
    pooled = math.sqrt((s[y].var() + s[~y].var()) / 2.0)
    diff = s[y].mean() - s[~y].mean()
    return float(diff / pooled) if pooled > 0 else float(np.sign(diff) * np.inf)


def region_table(
    scenes: Sequence[Scene],
    *,
    normalise: str = "active",
    generator: torch.Generator | None = None,
    **kwargs,
) -> dict[str, np.ndarray]:
    """Score every cell of every scene; ``kwargs`` go to :func:`symmetry_events`.

    Returns arrays (one entry per cell): ``score`` (symmetry density),
    ``active_fraction`` (baseline), ``events``, ``manmade`` (bool label),
    ``kind``, ``scene``.
    """
    check_choice("normalise", normalise, NORMALISATIONS)
    if not scenes:
        raise SpikegradInputError("scenes is empty")
    cell = scenes[0].cell
    shape = scenes[0].image.shape
    if any(s.cell != cell or s.image.shape != shape for s in scenes):
        raise SpikegradInputError("all scenes must share size and cell")
    batch = np.stack([s.image for s in scenes])
    ev = symmetry_events(batch, generator=generator, **kwargs)
    score = ev.region_scores(cell, normalise).numpy()
    events = ev.region_scores(cell, "none").numpy()
    active = ev.raw_active.to(torch.float64)
    B, H, W = active.shape
    frac = active.reshape(B, H // cell, cell, W // cell, cell).mean((2, 4)).numpy()
    labels = np.stack([s.cell_labels for s in scenes]) == MANMADE
    kinds = np.array([k for s in scenes for row in s.kinds for k in row])
    scene_idx = np.repeat(np.arange(len(scenes)), labels[0].size)
    return {
        "score": score.ravel(),
        "active_fraction": frac.ravel(),
        "events": events.ravel(),
        "manmade": labels.ravel(),
        "kind": kinds,
        "scene": scene_idx,
    }


def classify_scenes(scenes: Sequence[Scene], **kwargs) -> dict:
    """AUC and :math:`d'` of man-made vs vegetation cells; ``kwargs`` as :func:`region_table`.

    Returns ``{"auc", "separation", "auc_active_fraction", "n_manmade",
    "n_vegetation", "mean_score_manmade", "mean_score_vegetation", "by_kind"}``.
    """
    t = region_table(scenes, **kwargs)
    y = t["manmade"]
    by_kind = {
        k: float(t["score"][t["kind"] == k].mean()) for k in sorted(set(t["kind"].tolist()))
    }
    return {
        "auc": roc_auc(t["score"], y),
        "separation": separation(t["score"], y),
        "auc_active_fraction": roc_auc(t["active_fraction"], y),
        "n_manmade": int(y.sum()),
        "n_vegetation": int((~y).sum()),
        "mean_score_manmade": float(t["score"][y].mean()),
        "mean_score_vegetation": float(t["score"][~y].mean()),
        "by_kind": by_kind,
    }


def noise_sweep(
    scenes: Sequence[Scene],
    amplitudes: Sequence[float],
    *,
    kind: str = "intensity",
    seed: int = 0,
    normalise: str = "active",
    **kwargs,
) -> list[dict]:
    """Detectability (AUC, :math:`d'`) against noise amplitude.

    ``kind="intensity"``: Gaussian :math:`\\sigma` before encoding;
    ``kind="spikes"``: probability of random extra spikes. Every amplitude uses a
    fresh ``torch.Generator().manual_seed(seed)`` (common random numbers, so the
    curve is smooth in the amplitude). ``kwargs`` go to :func:`symmetry_events`.
    """
    check_choice("kind", kind, ("intensity", "spikes"))
    out = []
    for amp in amplitudes:
        g = torch.Generator().manual_seed(seed)
        noise = {"intensity_noise": float(amp)} if kind == "intensity" else {
            "spike_noise": float(amp)}
        t = region_table(scenes, normalise=normalise, generator=g, **noise, **kwargs)
        y = t["manmade"]
        out.append({
            "amplitude": float(amp),
            "auc": roc_auc(t["score"], y),
            "separation": separation(t["score"], y),
            "auc_active_fraction": roc_auc(t["active_fraction"], y),
            "mean_active_fraction": float(t["active_fraction"].mean()),
        })
    return out

