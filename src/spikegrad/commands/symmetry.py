"""``spikegrad symmetry``: mirror-symmetry density with delay lines and coincidence detectors."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``symmetry`` sub-command."""
    from ..symmetry.density import NORMALISATIONS
    from ..symmetry.encoding import ENCODINGS
    from ..symmetry.geometry import METRICS

    p = sub.add_parser(
        "symmetry",
        help="symmetry density of an image (delay lines + coincidence detectors)",
        description="Mirror-symmetry events of an image (George et al. 2021): pixels spike, "
        "delays equal distance, LIF detectors fire on coincident mirror pairs. With IMAGE "
        "(PNG/JPEG/.npy) writes overlay.png, maps.png and regions.json into --out; with "
        "--demo runs generated aerial-like scenes and writes metrics.json (AUC man-made vs "
        "vegetation, noise sweeps) and plots.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("image", nargs="?", type=Path, default=None, help="image file")
    p.add_argument("--demo", action="store_true", help="run on generated labelled scenes")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder; if not given: runs/symmetry-<name>-<timestamp>")
    g = p.add_argument_group("encoding")
    g.add_argument("--encoding", default="edges", choices=ENCODINGS, help="pixel-to-spike rule")
    g.add_argument("--threshold", type=float, default=0.15,
                   help="threshold on intensity / edge map (0..1)")
    g.add_argument("--size", type=int, default=None,
                   help="IMAGE: resize so the longer side has this many pixels; "
                   "demo: scene side (default 256)")
    g = p.add_argument_group("network")
    g.add_argument("--max-radius", type=int, default=8,
                   help="largest pair index R (pairs up to R steps from the axis; "
                   "0: every pair in the image)")
    g.add_argument("--ticks-per-pixel", type=float, default=1.0, help="delay per pixel")
    g.add_argument("--metric", default="euclidean", choices=METRICS)
    g.add_argument("--tau", type=float, default=0.0, help="detector membrane tau (ticks)")
    g.add_argument("--k", type=int, default=2, help="coincident spikes needed")
    g.add_argument("--fractional", action="store_true",
                   help="real-valued delays, event-driven detectors")
    g = p.add_argument_group("density and noise")
    g.add_argument("--normalise", default="active", choices=NORMALISATIONS)
    g.add_argument("--window", type=int, default=15, help="IMAGE: sliding window for the map")
    g.add_argument("--patch", type=int, default=32, help="IMAGE: region size for regions.json")
    g.add_argument("--intensity-noise", type=float, default=0.0, help="IMAGE: Gaussian sigma")
    g.add_argument("--spike-noise", type=float, default=0.0, help="IMAGE: extra-spike prob.")
    g.add_argument("--scenes", type=int, default=4, help="demo: number of scenes")
    g.add_argument("--cell", type=int, default=32, help="demo: labelled region size")
    g.add_argument("--scene-noise", type=float, default=0.0,
                   help="demo: sensor noise sigma of the generated scenes")
    g.add_argument("--max-angle", type=float, default=0.0,
                   help="demo: rotate man-made regions by up to this many degrees")
    g.add_argument("--seed", type=int, default=0, help="seed of scenes and noise")
    g.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (the element-wise work gains little from more, "
                   "and loses much on a busy machine; 0: torch default)")
    g.add_argument("--no-plots", action="store_true", help="skip PNG output")
    p.set_defaults(func=_cmd_symmetry)


def _cmd_symmetry(args: argparse.Namespace) -> int:
    import torch

    from ..symmetry.encoding import load_image
    from ..symmetry.network import SymmetryNetwork
    from ..symmetry.report import analyse_image, run_demo

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.demo == (args.image is not None):
        raise SpikegradInputError("give either IMAGE or --demo (exactly one)")
    net = SymmetryNetwork(
        max_radius=None if args.max_radius == 0 else args.max_radius,
        ticks_per_pixel=args.ticks_per_pixel,
        metric=args.metric,
        tau=args.tau,
        k=args.k,
        fractional=args.fractional,
    )
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    if args.demo:
        out = args.out or Path("runs") / f"symmetry-demo-{stamp}"
        m = run_demo(out, network=net, size=args.size or 256, cell=args.cell,
                     n_scenes=args.scenes, scene_noise=args.scene_noise,
                     max_angle=args.max_angle,
                     encoding=args.encoding, threshold=args.threshold,
                     normalise=args.normalise, seed=args.seed, plots=not args.no_plots)
        pk = m["noise_peak"]
        print(
            f"AUC man-made vs vegetation {m['auc']:.3f} (d' {m['separation']:.2f}; "
            f"active-fraction baseline {m['auc_active_fraction']:.3f}; chance-normalised "
            f"{m['auc_chance_normalised']:.3f}) on {m['n_manmade']}+{m['n_vegetation']} regions\n"
            + "\n".join(
                f"noise sweep {k}: best AUC {v['auc']:.3f} at amplitude {v['amplitude']:g} "
                f"(AUC {v['auc_at_zero']:.3f} without noise)" for k, v in pk.items())
            + f"\n{m['wall_seconds']:.1f} s; run folder: {out}"
        )
        return 0
    image = load_image(args.image, size=args.size)
    out = args.out or Path("runs") / f"symmetry-{args.image.stem}-{stamp}"
    r = analyse_image(image, out, network=net, encoding=args.encoding,
                      threshold=args.threshold, window=args.window, patch=args.patch,
                      normalise=args.normalise, intensity_noise=args.intensity_noise,
                      spike_noise=args.spike_noise, seed=args.seed,
                      plots=not args.no_plots, source=str(args.image))
    print(
        f"{r['shape'][0]}x{r['shape'][1]} image: {r['total_events']:.0f} symmetry events from "
        f"{r['active_inputs']:.0f} active inputs in {r['seconds']:.2f} s; "
        f"{len(r['regions'])} regions\nrun folder: {out}"
    )
    return 0
