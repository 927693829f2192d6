"""Timing and scaling of the symmetry network: image size x maximum radius.

Runs all 4 orientations x 2 parities of the spiking simulation (``run_detectors``),
the radius-limited oracle and, at full radius, the FFT oracle, on random binary
images of density 0.3, and prints a Markdown table.

    python bench/symmetry_timing.py [--threads 1] [--repeats 3] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from spikegrad.symmetry import ORIENTATIONS, PARITIES, SymmetryNetwork, symmetry_events
from spikegrad.symmetry.oracle import pair_counts


def best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    rows = []
    grid = [(64, 8), (128, 8), (256, 8), (512, 8), (512, 16), (512, 32), (512, 64),
            (1024, 16), (128, None), (256, None), (512, None)]
    for size, R in grid:
        img = (torch.rand(size, size, generator=g) < 0.3).float()
        net = SymmetryNetwork(max_radius=R)
        spk = best_of(lambda img=img, net=net: symmetry_events(img, network=net), args.repeats)
        orc = best_of(lambda img=img, net=net: symmetry_events(img, network=net, method="oracle"),
                      args.repeats)
        fft = None
        if R is None:
            b = img > 0.5
            fft = best_of(
                lambda b=b: [pair_counts(b, o, p) for o in ORIENTATIONS for p in PARITIES],
                args.repeats)
        # sanity: the timed paths agree
        a = symmetry_events(img, network=net)
        c = symmetry_events(img, network=net, method="oracle")
        assert all(torch.equal(a.counts[k], c.counts[k]) for k in a.counts)
        rows.append({"size": size, "max_radius": R, "spiking_s": spk, "oracle_direct_s": orc,
                     "oracle_fft_s": fft, "events": a.total_events,
                     "ns_per_pixel_per_radius": spk / (size * size * (R or size // 2)) * 1e9})
        print(rows[-1], flush=True)
    print(f"\n{platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{args.threads} thread(s), best of {args.repeats}; all 4 orientations x 2 parities\n")
    print("| image | max radius R | spiking simulation (s) | oracle, sum of products (s) "
          "| oracle, FFT (s) | ns / pixel / R |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        fft = f"{r['oracle_fft_s']:.3f}" if r["oracle_fft_s"] is not None else "-"
        rad = r["max_radius"] if r["max_radius"] is not None else f"full ({r['size'] // 2})"
        print(f"| {r['size']}x{r['size']} | {rad} | {r['spiking_s']:.3f} | "
              f"{r['oracle_direct_s']:.3f} | {fft} | {r['ns_per_pixel_per_radius']:.1f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
