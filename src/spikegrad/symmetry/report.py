"""Run folders of the ``spikegrad symmetry`` command: image analysis and the scene demo.

Both write one run folder through :class:`spikegrad.io.run.RunFolder`, every file
atomically (the PNGs are rendered in memory and written with
:func:`spikegrad.io.checkpoint.atomic_write_bytes`):

* :func:`analyse_image`: ``config.json`` (every setting), ``metrics.json`` (totals),
  ``history.csv`` (one row per region), ``regions.json`` (region scores with the
  settings, self-contained), ``overlay.png`` and ``maps.png``;
* :func:`run_demo`: ``config.json``, ``metrics.json`` (AUC man-made vs vegetation,
  noise sweeps and their peaks), ``history.csv`` (one row per noise-sweep amplitude),
  ``overlay.png``, ``maps.png``, ``noise_sweep.png`` and ``roc.png``.
"""

from __future__ import annotations

import io
import math
import platform
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import SpikegradInputError
from ..io.checkpoint import atomic_write_bytes
from ..io.run import RunFolder
from ..viz.plots import pyplot
from .chance import chance_map, find_axes, patch_symmetry
from .density import SymmetryEvents, _network_settings, symmetry_events
from .evaluate import classify_scenes, noise_sweep, region_table, roc_curve
from .network import SymmetryNetwork
from .oriented import ChannelCode
from .scenes import generate_scenes

__all__ = ["analyse_image", "run_demo", "plot_overlay", "plot_maps", "plot_noise_sweep",
           "axis_segment", "plot_chance_overlay", "plot_patch_axes", "run_photo_demo"]


def _save_png(fig: Any, path: str | Path, dpi: int) -> None:
    """Render ``fig`` as PNG in memory and write it atomically; closes the figure."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi)
    finally:
        pyplot().close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _run_folder(out_dir: str | Path | RunFolder) -> RunFolder:
    return out_dir if isinstance(out_dir, RunFolder) else RunFolder(out_dir)


def plot_overlay(image: np.ndarray, density: np.ndarray, path: str | Path, *,
                 title: str = "symmetry density", grid: int | None = None,
                 cell_labels: np.ndarray | None = None) -> None:
    """Grey image with the density map on top (alpha 0.55) and a colour bar."""
    plt = pyplot()
    h, w = image.shape
    fig, ax = plt.subplots(1, 2, figsize=(10, 5 * h / w + 0.6))
    ax[0].imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax[0].set_title("image")
    ax[1].imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    vmax = float(np.percentile(density, 99.5)) if density.size else 1.0
    im = ax[1].imshow(density, cmap="inferno", alpha=0.55, interpolation="nearest",
                      vmin=0.0, vmax=max(vmax, 1e-12))
    cb = fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.04)
    cb.set_label("clipped at the 99.5th percentile", fontsize=8)
    ax[1].set_title(title)
    if grid and cell_labels is not None:
        for (i, j), lab in np.ndenumerate(cell_labels):
            ax[0].text(j * grid + 2, i * grid + 8, "M" if lab == 1 else "V", fontsize=6,
                       color="cyan" if lab == 1 else "lime")
    for a in ax:
        a.set_axis_off()
    fig.tight_layout()
    _save_png(fig, path, 120)


def axis_segment(axis: Mapping[str, Any], shape: tuple[int, int]) -> tuple[list, list]:
    """End points ``(xs, ys)`` (column, row) of a :func:`~.chance.find_axes` axis in an image."""
    H, W = shape
    o, m = axis["orientation"], float(axis["position"])
    if o == "vertical":
        return [m, m], [-0.5, H - 0.5]
    if o == "horizontal":
        return [-0.5, W - 0.5], [m, m]
    # diagonal: r - c = m; antidiagonal: r + c = m; clip to the image rows and columns
    pts = []
    for r in (-0.5, H - 0.5):
        c = r - m if o == "diagonal" else m - r
        pts.append((c, r))
    for c in (-0.5, W - 0.5):
        r = m + c if o == "diagonal" else m - c
        pts.append((c, r))
    inside = sorted({(round(c, 6), round(r, 6)) for c, r in pts
                     if -0.5 <= c <= W - 0.5 and -0.5 <= r <= H - 0.5})
    if len(inside) < 2:
        return [], []
    (c0, r0), (c1, r1) = inside[0], inside[-1]
    return [c0, c1], [r0, r1]


def _draw_axes(ax: Any, axes: Sequence[Mapping[str, Any]], shape: tuple[int, int]) -> None:
    for k, a in enumerate(axes):
        xs, ys = axis_segment(a, shape)
        if xs:
            ax.plot(xs, ys, "-", color="cyan" if k == 0 else "deepskyblue",
                    lw=1.6 if k == 0 else 0.9)
    ax.set_xlim(-0.5, shape[1] - 0.5)
    ax.set_ylim(shape[0] - 0.5, -0.5)


def plot_chance_overlay(image: np.ndarray, cmap: np.ndarray, axes: Sequence[Mapping[str, Any]],
                        path: str | Path, *, title: str = "symmetry above chance") -> None:
    """Image with its axes, and the above-chance map (diverging, 0 = chance) on the image."""
    plt = pyplot()
    h, w = image.shape
    fig, ax = plt.subplots(1, 2, figsize=(10, 5 * h / w + 0.6))
    ax[0].imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    _draw_axes(ax[0], axes, (h, w))
    ax[0].set_title(f"image and its {len(axes)} strongest mirror axes")
    ax[1].imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    lim = float(np.percentile(np.abs(cmap), 99.5)) if cmap.size else 1.0
    im = ax[1].imshow(cmap, cmap="RdBu_r", alpha=0.6, vmin=-max(lim, 1e-6), vmax=max(lim, 1e-6),
                      interpolation="nearest")
    cb = fig.colorbar(im, ax=ax[1], fraction=0.046, pad=0.04)
    cb.set_label("ln((O+1)/(E+1)); 0 = chance", fontsize=8)
    ax[1].set_title(title)
    for a in ax:
        a.set_axis_off()
    fig.tight_layout()
    _save_png(fig, path, 110)


def plot_patch_axes(patches: Sequence[np.ndarray], titles: Sequence[str], code: Any,
                    path: str | Path, *, top: int = 3, max_radius: int | None = 32) -> None:
    """A row of patches, each with its ``top`` strongest mirror axes (cyan: the first)."""
    plt = pyplot()
    n = len(patches)
    fig, ax = plt.subplots(1, max(n, 1), figsize=(2.6 * max(n, 1), 2.9), squeeze=False)
    for a, p, t in zip(ax[0], patches, titles, strict=True):
        a.imshow(p, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        _draw_axes(a, find_axes(p, code, max_radius=max_radius, top=top), p.shape)
        a.set_title(t, fontsize=7)
        a.set_axis_off()
    fig.tight_layout()
    _save_png(fig, path, 90)


def plot_maps(events: SymmetryEvents, path: str | Path, index: int = 0) -> None:
    """Event maps per orientation and combined (one image of the batch)."""
    plt = pyplot()
    maps = {o: m for o, m in events.maps.items()}
    maps["combined"] = events.combined
    n = len(maps)
    fig, ax = plt.subplots(1, n, figsize=(3.2 * n, 3.4))
    ax = np.atleast_1d(ax)
    for a, (name, m) in zip(ax, maps.items(), strict=True):
        m = m if not events.batched else m[index]
        im = a.imshow(m.numpy(), cmap="inferno", interpolation="nearest")
        a.set_title(name)
        a.set_axis_off()
        fig.colorbar(im, ax=a, fraction=0.046, pad=0.04)
    fig.tight_layout()
    _save_png(fig, path, 110)


def plot_noise_sweep(sweeps: dict[str, list[dict]], path: str | Path) -> None:
    """AUC (symmetry density, solid; active-fraction baseline, dashed) per noise sweep."""
    plt = pyplot()
    fig, ax = plt.subplots(1, len(sweeps), figsize=(4.6 * len(sweeps), 3.6), squeeze=False)
    for a, (name, rows) in zip(ax[0], sweeps.items(), strict=True):
        x = [r["amplitude"] for r in rows]
        a.plot(x, [r["auc"] for r in rows], "o-", label="symmetry density")
        a.plot(x, [r["auc_active_fraction"] for r in rows], "s--", color="gray",
               label="active fraction (baseline)")
        a.axhline(0.5, color="k", lw=0.5)
        a.set(xlabel="noise amplitude", ylabel="AUC man-made vs vegetation", title=name,
              ylim=(0.3, 1.0))
        a.grid(alpha=0.3)
        a.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    _save_png(fig, path, 110)


def _plot_roc(table: dict, path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4, 4))
    for key, name in (("score", "symmetry density"), ("active_fraction", "active fraction")):
        fpr, tpr = roc_curve(table[key], table["manmade"])
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (man-made +)")
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    _save_png(fig, path, 110)


def _settings(events_kwargs: dict, net: SymmetryNetwork) -> dict:
    s = {k: v for k, v in events_kwargs.items() if k != "network"}
    s.update(_network_settings(net))
    return s


def analyse_image(
    image: np.ndarray,
    out_dir: str | Path | RunFolder,
    *,
    network: SymmetryNetwork,
    encoding: str = "edges",
    threshold: float = 0.15,
    levels: int = 8,
    window: int = 15,
    patch: int | None = None,
    normalise: str = "active",
    intensity_noise: float = 0.0,
    spike_noise: float = 0.0,
    seed: int = 0,
    plots: bool = True,
    source: str = "",
    config: Mapping[str, Any] | None = None,
    code: ChannelCode | None = None,
    null: str = "labels",
    chance_window: int = 32,
    n_axes: int = 5,
) -> dict:
    r"""Symmetry density of one grey image ``[H, W]``, written as a run folder (module docstring).

    Besides the pixel network's density, the mirror-channel detectors
    (:mod:`~spikegrad.symmetry.oriented`, channel ``code``, pairs up to the
    network's radius) give the whole image's symmetry above chance
    (``above_chance``: :math:`O`, :math:`E` of the ``null`` model and
    :math:`\ln((O+1)/(E+1))`), the ``n_axes`` strongest mirror axes
    (:func:`~spikegrad.symmetry.chance.find_axes`) and ``chance.png``: the image
    with its axes and the above-chance map in a ``chance_window`` window.

    ``patch`` is the side of the square regions of ``regions.json`` / ``history.csv``
    (default: 32, or the shorter image side if smaller; an explicit ``patch`` larger
    than the image is an error). ``config`` entries are added to ``config.json``
    (e.g. the command line). Returns the ``regions.json`` dictionary.
    """
    out = _run_folder(out_dir)
    H, W = np.shape(image)[-2:]
    if patch is None:
        patch = min(32, H, W)
    elif isinstance(patch, bool) or not isinstance(patch, int) or not 1 <= patch <= min(H, W):
        raise SpikegradInputError(
            f"patch must be an int in [1, {min(H, W)}] for a {H}x{W} image, got {patch!r}"
        )
    kw = {"encoding": encoding, "threshold": threshold, "intensity_noise": intensity_noise,
          "spike_noise": spike_noise}
    settings = {**_settings(kw, network), "levels": levels, "window": window, "patch": patch,
                "normalise": normalise, "seed": seed}
    out.write_config({"command": "symmetry", "mode": "image", "source": source,
                      "shape": [H, W], **settings, "plots": plots,
                      "network": network.to_dict(), **(config or {})})
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    ev = symmetry_events(image, network=network, generator=g, levels=levels, **kw)
    seconds = time.perf_counter() - t0
    scores = ev.region_scores(patch, normalise).numpy()
    events = ev.region_scores(patch, "none").numpy()
    act = ev.active.numpy()
    by_o = {o: ev.region_scores(patch, normalise, o).numpy() for o in ev.orientations}
    regions = []
    for (i, j), s in np.ndenumerate(scores):
        blk = act[i * patch : (i + 1) * patch, j * patch : (j + 1) * patch]
        regions.append({
            "row": i * patch, "col": j * patch, "height": patch, "width": patch,
            "density": float(s), "events": float(events[i, j]), "active": float(blk.sum()),
            "by_orientation": {o: float(m[i, j]) for o, m in by_o.items()},
        })
    result = {
        "source": source,
        "shape": [H, W],
        "settings": settings,
        "total_events": ev.total_events,
        "active_inputs": float(act.sum()),
        "events_by_orientation": {o: float(m.sum()) for o, m in ev.maps.items()},
        "seconds": seconds,
        "regions": regions,
    }
    code = code or ChannelCode(threshold)
    R = network.max_radius if network.max_radius is not None else max(H, W)
    t1 = time.perf_counter()
    ps = patch_symmetry(np.asarray(image), code, bands=((1, R),), method="spiking",
                        network=network)
    O, E = float(ps.observed.sum()), float(ps.expected[null].sum())
    axes = find_axes(np.asarray(image), code, max_radius=R, top=n_axes) if n_axes else []
    result["above_chance"] = {"observed": O, "expected": E, "null": null,
                              "score": math.log((O + 1) / (E + 1)), "code": code.to_dict(),
                              "max_radius": R, "seconds": time.perf_counter() - t1}
    result["axes"] = axes
    out.write_json("regions.json", result)
    out.write_history([
        {**{k: v for k, v in r.items() if k != "by_orientation"},
         **{f"density_{o}": d for o, d in r["by_orientation"].items()}}
        for r in regions
    ])
    out.write_metrics({
        "shape": [H, W], "total_events": result["total_events"],
        "active_inputs": result["active_inputs"],
        "events_by_orientation": result["events_by_orientation"],
        "n_regions": len(regions),
        "mean_density": float(np.mean(scores)) if scores.size else 0.0,
        "max_density": float(np.max(scores)) if scores.size else 0.0,
        "seconds": seconds, "torch_threads": torch.get_num_threads(),
        "above_chance": result["above_chance"], "axes": axes,
    })
    if plots:
        cmap = chance_map(np.asarray(image), code, window=chance_window, max_radius=R,
                          null=null)[0].numpy()
        plot_chance_overlay(np.asarray(image), cmap, axes, out.file("chance.png"),
                            title=f"mirror pairs above chance ({null} null, window "
                            f"{chance_window})")
        dens = ev.density(window, normalise).numpy()
        plot_overlay(image, dens, out.file("overlay.png"),
                     title=f"symmetry density ({normalise}, window {window})")
        plot_maps(ev, out.file("maps.png"))
    return result


def run_demo(
    out_dir: str | Path,
    *,
    network: SymmetryNetwork,
    size: int = 256,
    cell: int = 32,
    n_scenes: int = 4,
    scene_noise: float = 0.0,
    max_angle: float = 0.0,
    encoding: str = "edges",
    threshold: float = 0.15,
    levels: int = 8,
    normalise: str = "active",
    noise_levels: Sequence[float] = (0.0, 0.01, 0.02, 0.04, 0.08, 0.16),
    subthreshold: float = 0.9,
    subthreshold_levels: Sequence[float] = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5),
    spike_levels: Sequence[float] = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2),
    seed: int = 0,
    plots: bool = True,
    config: Mapping[str, Any] | None = None,
) -> dict:
    """Generated-scene demo: AUC man-made vs vegetation and noise sweeps, as a run folder.

    ``scene_noise`` is sensor noise baked into the generated scenes (clipped to
    [0, 1]); the sweeps add their own noise on top. ``max_angle`` rotates the
    man-made regions by random angles (degrees).

    Three sweeps (all AUCs with the active-fraction baseline beside them):
    ``intensity`` (Gaussian noise before the chosen encoding), ``spikes`` (random
    extra spikes) and ``subthreshold_intensity`` (Gaussian noise with the plain
    intensity threshold raised to ``subthreshold``, where structures sit just
    below threshold and noise can create coincidence points).

    ``config.json`` holds every setting (``config`` entries added), ``metrics.json``
    the numbers (returned), ``history.csv`` one row per sweep and amplitude.
    """
    if isinstance(n_scenes, bool) or not isinstance(n_scenes, int) or n_scenes < 1:
        raise SpikegradInputError(f"n_scenes must be an int >= 1, got {n_scenes!r}")
    out = _run_folder(out_dir)
    settings = {
        **_settings({"encoding": encoding, "threshold": threshold}, network),
        "levels": levels, "normalise": normalise, "size": size, "cell": cell,
        "n_scenes": n_scenes, "scene_noise": scene_noise, "max_angle": max_angle,
        "seed": seed, "noise_levels": list(noise_levels), "subthreshold": subthreshold,
        "subthreshold_levels": list(subthreshold_levels), "spike_levels": list(spike_levels),
        "pixel_to_spike": f"{encoding} > {threshold}",
        "noise_model": "intensity: x + sigma N(0,1) before encoding; spikes: "
                       "each silent pixel spikes with prob rho",
    }
    out.write_config({"command": "symmetry", "mode": "demo", **settings, "plots": plots,
                      "network": network.to_dict(), **(config or {})})
    t0 = time.perf_counter()
    scenes = generate_scenes(n_scenes, size, cell, noise=scene_noise, max_angle=max_angle,
                             seed=seed)
    kw = {"encoding": encoding, "threshold": threshold, "levels": levels, "network": network}
    cls = classify_scenes(scenes, normalise=normalise, **kw)
    cls_chance = classify_scenes(scenes, normalise="chance", **kw)
    table = region_table(scenes, normalise=normalise, **kw)
    sweeps = {
        "intensity": noise_sweep(scenes, noise_levels, kind="intensity", seed=seed,
                                 normalise=normalise, **kw),
        "spikes": noise_sweep(scenes, spike_levels, kind="spikes", seed=seed,
                              normalise=normalise, **kw),
        "subthreshold_intensity": noise_sweep(
            scenes, subthreshold_levels, kind="intensity", seed=seed, normalise=normalise,
            encoding="threshold", threshold=subthreshold, levels=levels, network=network),
    }
    peaks = {}
    for name, rows in sweeps.items():
        best = max(rows, key=lambda r: r["auc"])
        peaks[name] = {"amplitude": best["amplitude"], "auc": best["auc"],
                       "auc_at_zero": rows[0]["auc"],
                       "improves_over_zero": best["auc"] > rows[0]["auc"]}
    metrics = {
        "auc": cls["auc"],
        "separation": cls["separation"],
        "auc_active_fraction": cls["auc_active_fraction"],
        "auc_chance_normalised": cls_chance["auc"],
        "n_manmade": cls["n_manmade"],
        "n_vegetation": cls["n_vegetation"],
        "mean_score_by_kind": cls["by_kind"],
        "noise_sweep": sweeps,
        "noise_peak": peaks,
        "wall_seconds": time.perf_counter() - t0,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    out.write_metrics(metrics)
    out.write_history([{"sweep": name, **row} for name, rows in sweeps.items() for row in rows])
    if plots:
        g = torch.Generator().manual_seed(seed)
        ev = symmetry_events(scenes[0].image, generator=g, **kw)
        plot_overlay(scenes[0].image, ev.density(15, normalise).numpy(), out.file("overlay.png"),
                     title=f"symmetry density ({normalise})", grid=cell,
                     cell_labels=scenes[0].cell_labels)
        plot_maps(ev, out.file("maps.png"))
        plot_noise_sweep(sweeps, out.file("noise_sweep.png"))
        _plot_roc(table, out.file("roc.png"))
    return metrics


#: Edge strength of the photo demo's patch filter (independent of the channel threshold).
PATCH_FILTER = 0.1


def run_photo_demo(
    out_dir: str | Path | RunFolder,
    *,
    code: ChannelCode | None = None,
    null: str = "labels",
    combine: str = "max",
    patch: int = 64,
    max_patches: int = 48,
    noise_levels: Sequence[float] = (0.0, 0.02, 0.05, 0.1),
    seed: int = 0,
    plots: bool = True,
    config: Mapping[str, Any] | None = None,
) -> dict:
    """Real-photograph demo: man-made vs natural patches, symmetry above chance vs baselines.

    The labelled evaluation photographs of :data:`~spikegrad.symmetry.photos.PHOTOS`
    (scikit-image / scikit-learn samples), cut by
    :func:`~spikegrad.symmetry.photos.photo_patches`; each patch gets its multi-scale
    score (``null``, ``combine``) and the baselines of
    :func:`~spikegrad.symmetry.photos.photo_features`. ``metrics.json``: AUCs (score
    and baselines), grouped-CV AUCs (one man-made and one natural image held out per
    fold) of the baselines alone and with the score, per-image means and an
    intensity-noise sweep; ``history.csv``: one row per noise amplitude; plots:
    ``patches.png`` (patches with their strongest axes), ``chance.png`` (the
    above-chance map of the first man-made and the first natural photograph) and
    ``roc.png``. Counts use the oracle, equal to the spiking channel detectors (tested).
    """
    from .evaluate import roc_auc
    from .photos import (
        grouped_cv_auc,
        load_photo,
        photo_features,
        photo_names,
        photo_patches,
    )

    code = code or ChannelCode()
    out = _run_folder(out_dir)
    names = [n for n in photo_names(role="eval") if n not in photo_names("mixed")]
    settings = {"code": code.to_dict(), "null": null, "combine": combine, "patch": patch,
                "max_patches": max_patches, "noise_levels": list(noise_levels), "seed": seed,
                "images": names, "counts": "oracle (equal to the spiking detectors, tested)",
                "protocol": "grey, non-overlapping patch x patch grid, patches with < 2 % "
                            f"pixels of edge strength > {PATCH_FILTER} dropped (whatever the "
                            "code's threshold), at most max_patches per image"}
    out.write_config({"command": "symmetry", "mode": "demo-photos", **settings, "plots": plots,
                      **(config or {})})
    t0 = time.perf_counter()
    images = {n: load_photo(n) for n in names}
    P, y, g, where = photo_patches(names, patch=patch, threshold=PATCH_FILTER,
                                   max_patches=max_patches, seed=seed, images=images)
    if len(set(y.tolist())) < 2:
        raise SpikegradInputError("no patches of one class survived the edge filter; "
                                  "lower --threshold")
    key = f"sym_{null}_{combine}"
    f, _ = photo_features(P, code)
    cols = {"baselines": ["edge_fraction", "lag1"],
            "symmetry": [key], "baselines + symmetry": ["edge_fraction", "lag1", key]}
    cv = {k: list(grouped_cv_auc(np.stack([f[c] for c in v], 1), y, g)) for k, v in cols.items()}
    per_image = {n: {"label": "manmade" if y[g == i][0] else "natural", "patches": int(m.sum()),
                     "score": float(f[key][m].mean()),
                     "edge_fraction": float(f["edge_fraction"][m].mean())}
                 for i, n in enumerate(names) if (m := g == i).any()}
    sweep = []
    for sigma in noise_levels:
        gen = torch.Generator().manual_seed(seed + 1)
        Pn = P + float(sigma) * torch.randn(P.shape, generator=gen, dtype=torch.float64).numpy()
        fn, _ = photo_features(Pn, code)
        sweep.append({"amplitude": float(sigma), "auc": roc_auc(fn[key], y),
                      "auc_edge_fraction": roc_auc(fn["edge_fraction"], y),
                      "auc_lag1": roc_auc(fn["lag1"], y)})
    metrics = {
        "auc": roc_auc(f[key], y),
        "auc_edge_fraction": roc_auc(f["edge_fraction"], y),
        "auc_lag1": roc_auc(f["lag1"], y),
        "auc_blind_density": roc_auc(f["blind_density_r8"], y),
        "auc_cv": cv,
        "n_patches": len(y), "n_manmade": int(y.sum()), "n_natural": int((~y).sum()),
        "images": per_image,
        "noise_sweep": sweep,
        "wall_seconds": time.perf_counter() - t0,
        "torch_threads": torch.get_num_threads(),
    }
    out.write_metrics(metrics)
    out.write_history(sweep)
    if plots:
        pick = [int(np.flatnonzero(y)[np.argmax(f[key][y])]),
                int(np.flatnonzero(~y)[np.argmax(f[key][~y])]),
                int(np.flatnonzero(~y)[np.argmin(f[key][~y])])]
        plot_patch_axes([P[i] for i in pick],
                        [f"{where[i][0]} ({where[i][1]},{where[i][2]}) {f[key][i]:.2f}"
                         for i in pick], code, out.file("patches.png"))
        first = [photo_names("manmade", "eval")[0], photo_names("natural", "eval")[0]]
        for n in first:
            if n in images:
                img = images[n]
                plot_chance_overlay(img, chance_map(img, code, window=32, null=null)[0].numpy(),
                                    find_axes(img, code, top=5), out.file(f"chance_{n}.png"),
                                    title=f"{n}: mirror pairs above chance")
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(4, 4))
        for k, name in ((key, "symmetry above chance"), ("edge_fraction", "edge fraction"),
                        ("lag1", "lag-1 co-occurrence")):
            fpr, tpr = roc_curve(f[k], y)
            ax.plot(fpr, tpr, label=name)
        ax.plot([0, 1], [0, 1], "k:", lw=0.8)
        ax.set(xlabel="false-positive rate", ylabel="true-positive rate",
               title="man-made (+) vs natural patches")
        ax.legend(frameon=False, fontsize=8)
        fig.tight_layout()
        _save_png(fig, out.file("roc.png"), 110)
    return metrics
