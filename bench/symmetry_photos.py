"""Mirror symmetry above chance on real photographs: man-made vs natural patches.

Protocol (docs/symmetry.md, "Real photographs"): the sample photographs of
scikit-image and scikit-learn (``spikegrad.symmetry.photos.PHOTOS``), grey, 64 x 64
non-overlapping patches, patches with < 2 % edge pixels dropped, at most 48 per
image (the filter uses edge strength 0.1 whatever the setting, so every setting
sees the same patches). Parameters (edge threshold, channel code, null model, how orientations are
combined) are chosen on the *tuning* images only (role "tune"), then fixed; every
AUC reported for the evaluation images uses those settings. The main table counts
the spikes of the channel detectors (spiking network), checked equal to the oracle
on every patch; the tuning grid and the noise sweeps use the oracle.

    PYTHONPATH=src python bench/symmetry_photos.py [--out bench/results/symmetry_photos.json]
        [--figures docs]

Needs scikit-image (and scikit-learn for two photos). Prints markdown tables.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from spikegrad.symmetry.chance import DEFAULT_BANDS
from spikegrad.symmetry.evaluate import roc_auc
from spikegrad.symmetry.oriented import ChannelCode
from spikegrad.symmetry.photos import (
    PHOTOS,
    grouped_cv_auc,
    load_photo,
    photo_features,
    photo_names,
    photo_patches,
)

THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3)
CODES = ((8, True), (4, False))
NULLS = ("labels", "positions")
COMBINES = ("sum", "max")
NOISE = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)
SUBTHRESHOLD = 0.4
#: Patch filter (>= 2 % pixels with edge strength above this), the same for every
#: setting so that all settings are compared on the same patches.
FILTER = 0.1


def features(P, code, method="oracle"):
    return photo_features(P, code, method=method)


def cv_auc(cols, f, y, g):
    """Mean grouped-CV AUC (one man-made + one natural image held out per fold)."""
    return grouped_cv_auc(np.stack([f[c] for c in cols], 1), y, g)[:2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results/symmetry_photos.json"))
    ap.add_argument("--figures", type=Path, default=Path("docs"))
    ap.add_argument("--skip-noise", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_all = time.perf_counter()
    names = [p.name for p in PHOTOS]
    images = {n: load_photo(n) for n in names}
    tune = photo_names(role="tune")
    evaln = [n for n in photo_names(role="eval") if n in photo_names("manmade")
             + photo_names("natural")]
    res: dict = {"photos": [p.__dict__ for p in PHOTOS], "tune_images": tune,
                 "eval_images": evaln, "bands": DEFAULT_BANDS, "platform": platform.platform()}

    # 1. tuning grid on the tuning images only
    grid = []
    for thr, (C, pol) in itertools.product(THRESHOLDS, CODES):
        code = ChannelCode(thr, C, pol)
        P, y, g, _ = photo_patches(tune, threshold=FILTER, images=images)
        f, _ = features(P, code)
        for null, comb in itertools.product(NULLS, COMBINES):
            grid.append({"threshold": thr, "n_channels": C, "polarity": pol, "null": null,
                         "combine": comb, "n_patches": len(y),
                         "auc_tune": roc_auc(f[f"sym_{null}_{comb}"], y)})
            print("tune", grid[-1], flush=True)
    best = max(grid, key=lambda r: r["auc_tune"])
    res["tuning"] = {"grid": grid, "chosen": best}
    code = ChannelCode(best["threshold"], best["n_channels"], best["polarity"])
    null, comb = best["null"], best["combine"]
    key = f"sym_{null}_{comb}"
    print("chosen", best, flush=True)

    # 2. evaluation images, spiking network (checked against the oracle)
    P, y, g, where = photo_patches(evaln, threshold=FILTER, images=images)
    t0 = time.perf_counter()
    f, ps = features(P, code, method="spiking")
    t_spk = time.perf_counter() - t0
    _, ps_o = features(P, code, method="oracle")
    assert torch.equal(ps.observed, ps_o.observed), "spiking network != oracle"
    res["eval"] = {"n_patches": len(y), "n_manmade": int(y.sum()), "n_natural": int((~y).sum()),
                   "spiking_seconds": t_spk, "spiking_equals_oracle": True}
    aucs = {k: roc_auc(v, y) for k, v in f.items()}
    base_sets = {"edge fraction": ["edge_fraction"], "lag-1 co-occurrence": ["lag1"],
                 "edge fraction + lag-1": ["edge_fraction", "lag1"],
                 "edge fraction + lag-1 + blind density": ["edge_fraction", "lag1",
                                                           "blind_density_r8"]}
    band_cols = [f"band_{null}_{lo}-{hi}" for lo, hi in DEFAULT_BANDS]
    sym_sets = {"symmetry score": [key], "symmetry per-band scores": band_cols,
                "edge fraction + lag-1 + symmetry score": ["edge_fraction", "lag1", key],
                "edge fraction + lag-1 + per-band scores": ["edge_fraction", "lag1", *band_cols],
                "edge fraction + lag-1 + blind density + symmetry score":
                    ["edge_fraction", "lag1", "blind_density_r8", key]}
    cv = {name: cv_auc(cols, f, y, g) for name, cols in {**base_sets, **sym_sets}.items()}
    best_base = max(cv[k][0] for k in base_sets)
    res["eval"].update({"auc_raw": aucs, "auc_cv": cv, "best_baseline_cv": best_base,
                        "gain_cv": max(cv[k][0] for k in sym_sets) - best_base})
    per_image = {}
    for n in evaln:
        m = np.array([w[0] == n for w in where])
        if m.any():
            per_image[n] = {"n": int(m.sum()), "score": float(f[key][m].mean()),
                            "edge_fraction": float(f["edge_fraction"][m].mean()),
                            "lag1": float(f["lag1"][m].mean()),
                            "ratio_labels": float(ps.ratio("labels").numpy()[m].mean())}
    res["eval"]["per_image"] = per_image
    print(json.dumps(res["eval"], indent=1), flush=True)

    # breakdown per natural image (man-made patches against that image's patches)
    nat = [n for n in evaln if n in photo_names("natural") and n in per_image]
    res["eval"]["auc_vs_each_natural"] = {
        n: {k: roc_auc(f[k][y | np.array([w[0] == n for w in where])],
                       y[y | np.array([w[0] == n for w in where])])
            for k in (key, "sym_positions_max", "edge_fraction", "lag1", "blind_density_r8")}
        for n in nat}

    # sensitivity (NOT used for any choice): every grid setting on the evaluation images
    sens = []
    for thr, (C, pol) in itertools.product(THRESHOLDS, CODES):
        c = ChannelCode(thr, C, pol)
        Ps, ys, gs, _ = photo_patches(evaln, threshold=FILTER, images=images)
        fs, _ = features(Ps, c)
        base = max(cv_auc(cols, fs, ys, gs)[0] for cols in base_sets.values())
        for nl, cb in itertools.product(NULLS, COMBINES):
            k = f"sym_{nl}_{cb}"
            sens.append({"threshold": thr, "n_channels": C, "polarity": pol, "null": nl,
                         "combine": cb, "n_patches": len(ys), "auc_eval": roc_auc(fs[k], ys),
                         "cv_best_baseline": base,
                         "cv_baselines_plus_symmetry": cv_auc(
                             ["edge_fraction", "lag1", "blind_density_r8", k], fs, ys, gs)[0]})
            print("sensitivity", sens[-1], flush=True)
    res["sensitivity"] = sens

    # 3. mixed images (not in the AUCs)
    mixed = photo_names("mixed")
    Pm, _, _, wm = photo_patches(mixed, threshold=FILTER, images=images)
    fm, _ = features(Pm, code)
    res["mixed"] = {n: {"n": int(sum(w[0] == n for w in wm)),
                        "score": float(fm[key][[w[0] == n for w in wm]].mean())}
                    for n in mixed}

    # 4. noise sweeps (oracle): intensity noise at the chosen threshold, and sub-threshold
    if not args.skip_noise:
        sweeps = {}
        for name, thr in (("chosen threshold", code.threshold), ("sub-threshold", SUBTHRESHOLD)):
            c = ChannelCode(thr, code.n_channels, code.polarity)
            rows = []
            for sigma in NOISE:
                gen = torch.Generator().manual_seed(1)
                Pn = P + sigma * torch.randn(P.shape, generator=gen, dtype=torch.float64).numpy()
                fn, _ = features(Pn, c)
                rows.append({"sigma": sigma,
                             "auc_symmetry": roc_auc(fn[key], y),
                             "auc_edge_fraction": roc_auc(fn["edge_fraction"], y),
                             "auc_lag1": roc_auc(fn["lag1"], y),
                             "cv_symmetry": cv_auc([key], fn, y, g)[0],
                             "cv_baselines": cv_auc(["edge_fraction", "lag1"], fn, y, g)[0],
                             "cv_with_symmetry": cv_auc(["edge_fraction", "lag1", key], fn, y,
                                                        g)[0],
                             "mean_edge_fraction": float(fn["edge_fraction"].mean())})
                print(name, rows[-1], flush=True)
            sweeps[name] = {"threshold": thr, "rows": rows}
        res["noise"] = sweeps

    # 5. figures: overlays of a few patches with their strongest axes
    if args.figures:
        from spikegrad.symmetry.report import plot_patch_axes

        pick = []
        for n in ("brick", "rocket", "grass", "chelsea"):
            idx = [i for i, w in enumerate(where) if w[0] == n]
            if idx:
                i = max(idx, key=lambda i: f[key][i]) if n in ("brick", "rocket") else idx[0]
                pick.append(i)
        plot_patch_axes([P[i] for i in pick], [f"{where[i][0]} ({where[i][1]},{where[i][2]}): "
                        f"score {f[key][i]:.2f}" for i in pick], code,
                        args.figures / "symmetry_photo_patches.png")
    res["wall_seconds"] = time.perf_counter() - t_all
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=1, default=float))
    print("wrote", args.out, f"{res['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
