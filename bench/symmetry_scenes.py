"""Man-made vs vegetation AUC on generated scenes over several seeds.

For each seed: 4 scenes of 256 x 256 (8 x 8 labelled cells of 32 x 32 each, 256
cells per seed). Reports the symmetry-density AUC and the active-fraction
baseline AUC for several encodings / radii / normalisations, and the noise sweeps
of the demo (peak amplitude per seed). Spiking simulation throughout.

    python bench/symmetry_scenes.py [--seeds 5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from spikegrad.symmetry import SymmetryNetwork
from spikegrad.symmetry.evaluate import classify_scenes, noise_sweep
from spikegrad.symmetry.scenes import generate_scenes

DT = 1e-3  # tick length (s), SymmetryNetwork's default
CONFIGS = [  # encoding, threshold, normalisation, radius, detector tau (ticks of DT)
    ("edges", 0.15, "active", 8, 0.0),
    ("edges", 0.15, "active", 16, 0.0),
    ("edges", 0.15, "area", 8, 0.0),
    ("edges", 0.15, "chance", 8, 0.0),
    ("edges", 0.15, "active", 8, 2.0),
    ("edges", 0.25, "active", 8, 0.0),
    ("edges", 0.25, "area", 8, 0.0),
    ("threshold", 0.5, "active", 8, 0.0),
    ("threshold", 0.5, "area", 8, 0.0),
    ("latency", 0.5, "active", 8, 0.0),  # 8 latency levels
    ("latency", 0.5, "active", 8, 2.0),
]
SWEEPS = {
    "intensity (edges > 0.15)": ("intensity", "edges", 0.15,
                                 [0.0, 0.01, 0.02, 0.04, 0.08, 0.16]),
    "spikes (edges > 0.15)": ("spikes", "edges", 0.15, [0.0, 0.01, 0.02, 0.05, 0.1, 0.2]),
    "subthreshold intensity (x > 0.9)": ("intensity", "threshold", 0.9,
                                         [0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    res = {"configs": {}, "sweeps": {}}
    scene_sets = [generate_scenes(4, 256, 32, seed=s) for s in range(args.seeds)]
    for enc, thr, norm, R, tau in CONFIGS:
        key = f"{enc} > {thr}, {norm}, R={R}, tau={tau:g}"
        rows = [classify_scenes(sc, encoding=enc, threshold=thr, normalise=norm, levels=8,
                                network=SymmetryNetwork(max_radius=R, tau=tau * DT, dt=DT))
                for sc in scene_sets]
        res["configs"][key] = {
            "auc": [r["auc"] for r in rows],
            "auc_active_fraction": [r["auc_active_fraction"] for r in rows],
        }
        a, b = np.array(res["configs"][key]["auc"]), np.array(
            res["configs"][key]["auc_active_fraction"])
        print(f"| {key} | {a.mean():.3f} ± {a.std(ddof=1):.3f} | {b.mean():.3f} ± "
              f"{b.std(ddof=1):.3f} |", flush=True)
    print("\n| scene sensor noise | AUC symmetry (edges > 0.15, active, R=8) | AUC baseline |")
    print("|---|---|---|")
    res["scene_noise"] = {}
    for sn in (0.0, 0.02, 0.05, 0.1):
        rows = [classify_scenes(generate_scenes(4, 256, 32, seed=s, noise=sn), encoding="edges",
                                threshold=0.15, normalise="active",
                                network=SymmetryNetwork(max_radius=8))
                for s in range(args.seeds)]
        a = np.array([r["auc"] for r in rows])
        b = np.array([r["auc_active_fraction"] for r in rows])
        res["scene_noise"][sn] = {"auc": a.tolist(), "auc_active_fraction": b.tolist()}
        print(f"| {sn:g} | {a.mean():.3f} ± {a.std(ddof=1):.3f} | {b.mean():.3f} ± "
              f"{b.std(ddof=1):.3f} |", flush=True)
    print("\n| man-made rotated by up to | AUC symmetry (edges > 0.15, active, R=8) | "
          "AUC baseline |")
    print("|---|---|---|")
    res["max_angle"] = {}
    for ang in (0.0, 15.0, 45.0):
        rows = [classify_scenes(generate_scenes(4, 256, 32, seed=s, max_angle=ang),
                                encoding="edges", threshold=0.15, normalise="active",
                                network=SymmetryNetwork(max_radius=8))
                for s in range(args.seeds)]
        a = np.array([r["auc"] for r in rows])
        b = np.array([r["auc_active_fraction"] for r in rows])
        res["max_angle"][ang] = {"auc": a.tolist(), "auc_active_fraction": b.tolist()}
        print(f"| ±{ang:g}° | {a.mean():.3f} ± {a.std(ddof=1):.3f} | {b.mean():.3f} ± "
              f"{b.std(ddof=1):.3f} |", flush=True)
    for name, (kind, enc, thr, amps) in SWEEPS.items():
        curves = [noise_sweep(sc, amps, kind=kind, seed=s, encoding=enc, threshold=thr,
                              normalise="active", network=SymmetryNetwork(max_radius=8))
                  for s, sc in enumerate(scene_sets)]
        auc = np.array([[r["auc"] for r in c] for c in curves])
        base = np.array([[r["auc_active_fraction"] for r in c] for c in curves])
        peaks = [amps[int(np.argmax(row))] for row in auc]
        res["sweeps"][name] = {"amplitudes": amps, "auc": auc.tolist(),
                               "auc_active_fraction": base.tolist(), "peak_amplitude": peaks}
        print(f"\n{name}: peak amplitude per seed {peaks}")
        print("| amplitude | " + " | ".join(f"{a:g}" for a in amps) + " |")
        print("|---" * (len(amps) + 1) + "|")
        print("| AUC symmetry | " + " | ".join(
            f"{m:.3f} ± {s:.3f}" for m, s in zip(auc.mean(0), auc.std(0, ddof=1), strict=True))
            + " |")
        print("| AUC active fraction | " + " | ".join(
            f"{m:.3f} ± {s:.3f}" for m, s in zip(base.mean(0), base.std(0, ddof=1),
                                                 strict=True)) + " |", flush=True)
    res["wall_seconds"] = time.perf_counter() - t0
    print(f"\n{res['wall_seconds']:.1f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
