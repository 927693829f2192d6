"""``spikegrad symmetry``: mirror-symmetry density with delay lines and coincidence detectors."""

from __future__ import annotations

import argparse
import math
from datetime import datetime
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``symmetry`` sub-command."""
    from ..symmetry.density import NORMALISATIONS
    from ..symmetry.encoding import ENCODINGS
    from ..symmetry.geometry import METRICS
    from ._flags import HelpFormatter

    p = sub.add_parser(
        "symmetry",
        help="symmetry density of an image (delay lines + coincidence detectors)",
        description="Mirror-symmetry events of an image (George et al. 2021): pixels spike, "
        "delays equal distance, LIF detectors fire on coincident mirror pairs. With IMAGE "
        "(PNG/JPEG/.npy) writes a run folder with config.json, metrics.json, history.csv "
        "(one row per region), regions.json, overlay.png, maps.png and chance.png (mirror "
        "pairs above chance from orientation channels, with the strongest axes) into --out; "
        "--demo photos runs man-made vs natural patches of sample photographs; "
        "--demo [scenes] runs generated aerial-like scenes and writes config.json, "
        "metrics.json (AUC man-made vs vegetation, noise sweeps), history.csv (one row per "
        "sweep amplitude) and plots. Times are in seconds (--dt, --tau, --delay-per-pixel); "
        "the network runs on ticks of --dt.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("image", nargs="?", type=Path, default=None, help="image file")
    p.add_argument("--demo", nargs="?", const="scenes", default=None,
                   choices=("scenes", "photos"),
                   help="demo instead of IMAGE: 'photos' = man-made vs natural patches of the "
                   "sample photographs of scikit-image/scikit-learn (symmetry above chance, "
                   "baselines, grouped-CV AUC; needs scikit-image); 'scenes' (the default "
                   "of a bare --demo) = generated aerial-like scenes")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder; if not given: runs/symmetry-<name>-<timestamp>")
    g = p.add_argument_group("encoding")
    g.add_argument("--encoding", default="edges", choices=ENCODINGS, help="pixel-to-spike rule")
    g.add_argument("--threshold", type=float, default=None,
                   help="threshold on intensity / edge map (0..1); default 0.15, --demo "
                   "photos 0.2 (the setting chosen on its tuning images)")
    g.add_argument("--levels", type=int, default=8,
                   help="latency ticks L of --encoding latency")
    g.add_argument("--size", type=int, default=None,
                   help="IMAGE: resize so the longer side has this many pixels (default: "
                   "keep); demo: scene side (default 256)")
    g = p.add_argument_group("network (times in seconds)")
    g.add_argument("--max-radius", type=int, default=8,
                   help="largest pair index R (pairs up to R steps from the axis; "
                   "0: every pair in the image)")
    g.add_argument("--dt", type=float, default=1e-3, help="tick length (s)")
    g.add_argument("--delay-per-pixel", type=float, default=None,
                   help="conduction delay per pixel of distance (s; default: one tick)")
    g.add_argument("--ticks-per-pixel", type=float, default=None,
                   help="the same delay in ticks (delay-per-pixel / dt; default 1)")
    g.add_argument("--metric", default="euclidean", choices=METRICS,
                   help="distance of a pixel pair, in pixels of delay")
    g.add_argument("--tau", type=float, default=None,
                   help="detector membrane time constant (s; default 0: exact coincidence)")
    g.add_argument("--tau-ticks", type=float, default=None,
                   help="the same time constant in ticks (tau / dt)")
    g.add_argument("--k", type=int, default=2, help="coincident spikes needed")
    g.add_argument("--fractional", action="store_true",
                   help="real-valued delays, event-driven detectors")
    g = p.add_argument_group("density and noise")
    g.add_argument("--normalise", default="active", choices=NORMALISATIONS,
                   help="what the symmetry density is divided by")
    g.add_argument("--window", type=int, default=15, help="IMAGE: sliding window for the map")
    g.add_argument("--patch", type=int, default=None,
                   help="IMAGE: region size for regions.json / history.csv (default 32, "
                   "or the shorter image side)")
    g.add_argument("--intensity-noise", type=float, default=0.0, help="IMAGE: Gaussian sigma")
    g.add_argument("--spike-noise", type=float, default=0.0, help="IMAGE: extra-spike prob.")
    g.add_argument("--scenes", type=int, default=4, help="demo: number of scenes")
    g.add_argument("--cell", type=int, default=32, help="demo: labelled region size (>= 16)")
    g.add_argument("--scene-noise", type=float, default=0.0,
                   help="demo: sensor noise sigma of the generated scenes")
    g.add_argument("--max-angle", type=float, default=0.0,
                   help="demo: rotate man-made regions by up to this many degrees")
    g.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of scenes and noise")
    g.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (the element-wise work gains little from more, "
                   "and loses much on a busy machine; 0: torch default)")
    g.add_argument("--no-plots", action="store_true", help="skip PNG output")
    g = p.add_argument_group(
        "mirror channels: orientation-selective inputs, mirror-matched delay lines, "
        "symmetry above chance (edge threshold: --threshold)")
    g.add_argument("--channels", type=int, default=8,
                   help="edge-direction channels C (a multiple of 4; of 2 with --no-polarity)")
    g.add_argument("--no-polarity", action="store_true",
                   help="orientation channels (0..180 deg) instead of directions (0..360)")
    g.add_argument("--tolerance", type=int, default=0,
                   help="accept mirror channels within this many bins")
    g.add_argument("--null", default=None, choices=("labels", "positions"),
                   help="null model: channel labels shuffled among the edge pixels, or all "
                   "pixel labels shuffled; default labels, --demo photos positions (the "
                   "setting chosen on its tuning images)")
    g.add_argument("--chance-window", type=int, default=32,
                   help="IMAGE: window of the symmetry-above-chance map")
    g.add_argument("--axes", type=int, default=5, help="IMAGE: mirror axes to report and draw")
    g.add_argument("--max-patches", type=int, default=48,
                   help="--demo photos: at most this many 64x64 patches per photograph")
    p.set_defaults(func=_cmd_symmetry)


def _need(ok: bool, flag: str, what: str, value: object) -> None:
    if not ok:
        raise SpikegradInputError(f"--{flag} must be {what}, got {value!r}")


def _finite(v: float) -> bool:
    return math.isfinite(v)


def _check_args(args: argparse.Namespace) -> None:
    """Every numeric flag, each with a one-line error naming it (exit 2)."""
    if (args.demo is not None) == (args.image is not None):
        raise SpikegradInputError("give either IMAGE or --demo (exactly one)")
    photos = args.demo == "photos"  # its defaults: the setting docs/symmetry.md reports
    if args.threshold is None:
        args.threshold = 0.2 if photos else 0.15
    if args.null is None:
        args.null = "positions" if photos else "labels"
    mult = 2 if args.no_polarity else 4
    _need(args.channels >= mult and args.channels % mult == 0, "channels",
          f"a positive multiple of {mult}", args.channels)
    _need(args.tolerance >= 0 and 2 * args.tolerance + 1 <= args.channels, "tolerance",
          "an integer >= 0 with 2*tolerance+1 <= --channels", args.tolerance)
    _need(args.chance_window >= 1, "chance-window", "an integer >= 1", args.chance_window)
    _need(args.axes >= 0, "axes", "an integer >= 0", args.axes)
    _need(args.max_patches >= 1, "max-patches", "an integer >= 1", args.max_patches)
    if args.demo == "photos" and args.patch is not None:
        _need(args.patch >= 8, "patch", "an integer >= 8 for --demo photos", args.patch)
    _need(_finite(args.threshold), "threshold", "a finite number", args.threshold)
    if args.encoding == "latency":
        _need(0.0 <= args.threshold < 1.0, "threshold", "in [0, 1) for --encoding latency",
              args.threshold)
    _need(args.levels >= 1, "levels", "an integer >= 1", args.levels)
    if args.size is not None:
        from .._checks import format_bytes
        from ..symmetry.encoding import MAX_SIDE

        _need(args.size >= 1, "size", "an integer >= 1", args.size)
        if args.size > MAX_SIDE:
            raise SpikegradInputError(
                f"--size must be at most {MAX_SIDE} pixels, got {args.size} (one "
                f"{args.size}x{args.size} float32 image alone would take "
                f"{format_bytes(4.0 * args.size**2)}, the network many times that)"
            )
    _need(args.max_radius >= 0, "max-radius", "an integer >= 0 (0: every pair)", args.max_radius)
    _need(_finite(args.dt) and args.dt > 0, "dt", "a finite number of seconds > 0", args.dt)
    for flag, v in (("delay-per-pixel", args.delay_per_pixel),
                    ("ticks-per-pixel", args.ticks_per_pixel)):
        if v is not None:
            _need(_finite(v) and v > 0, flag, "a finite number > 0", v)
    if args.delay_per_pixel is not None and args.ticks_per_pixel is not None:
        raise SpikegradInputError("give --delay-per-pixel (s) or --ticks-per-pixel, not both")
    for flag, v in (("tau", args.tau), ("tau-ticks", args.tau_ticks)):
        if v is not None:
            _need(_finite(v) and v >= 0, flag, "a finite number >= 0", v)
    if args.tau is not None and args.tau_ticks is not None:
        raise SpikegradInputError("give --tau (s) or --tau-ticks, not both")
    _need(args.k >= 1, "k", "an integer >= 1", args.k)
    _need(args.window >= 1, "window", "an integer >= 1", args.window)
    if args.patch is not None:
        _need(args.patch >= 1, "patch", "an integer >= 1", args.patch)
    _need(_finite(args.intensity_noise) and args.intensity_noise >= 0, "intensity-noise",
          "a finite number >= 0", args.intensity_noise)
    _need(0.0 <= args.spike_noise <= 1.0, "spike-noise", "a probability in [0, 1]",
          args.spike_noise)
    _need(args.scenes >= 1, "scenes", "an integer >= 1", args.scenes)
    side = 256 if args.size is None else args.size
    from .._checks import check_memory

    # the scenes are generated and held as float32 images (and their spike maps)
    check_memory("--scenes", 8.0 * args.scenes * side * side,
                 f"{args.scenes} scenes of {side}x{side} pixels")  # fmt: skip
    for flag, v, per in (("ticks-per-pixel", args.ticks_per_pixel, 1.0),
                         ("delay-per-pixel", args.delay_per_pixel, 1.0 / args.dt)):
        # every pixel of distance adds this many time steps to each detector's delay line
        if v is not None and v * per > MAX_TICKS_PER_PIXEL:
            raise SpikegradInputError(
                f"--{flag} {v:g} gives {v * per:.3g} time steps of delay per pixel; at most "
                f"{MAX_TICKS_PER_PIXEL} (the delay lines grow with it)"
            )
    _need(args.cell >= 16, "cell", "an integer >= 16", args.cell)
    _need(_finite(args.scene_noise) and args.scene_noise >= 0, "scene-noise",
          "a finite number >= 0", args.scene_noise)
    _need(_finite(args.max_angle) and args.max_angle >= 0, "max-angle",
          "a finite number of degrees >= 0", args.max_angle)
    _need(args.seed >= 0, "seed", "an integer >= 0", args.seed)
    _need(args.threads >= 0, "threads", "an integer >= 0 (0: torch default)", args.threads)
    if args.demo == "scenes":
        size = 256 if args.size is None else args.size
        if size % args.cell:
            raise SpikegradInputError(
                f"--size ({size}) must be a multiple of --cell ({args.cell}) for --demo"
            )


#: the most time steps of delay one pixel of distance may add (--ticks-per-pixel, or
#: --delay-per-pixel / --dt)
MAX_TICKS_PER_PIXEL = 1000


def _cmd_symmetry(args: argparse.Namespace) -> int:
    import torch

    from ..io.run import RunFolder, lock_run_folder
    from ..symmetry.encoding import load_image
    from ..symmetry.network import SymmetryNetwork
    from ..symmetry.oriented import ChannelCode
    from ..symmetry.report import analyse_image, run_demo, run_photo_demo

    _check_args(args)
    if args.demo == "photos":
        from ..symmetry.photos import MISSING_SKIMAGE
        try:
            import skimage  # noqa: F401
        except ImportError as exc:
            raise SpikegradInputError(MISSING_SKIMAGE) from exc
    code = ChannelCode(args.threshold, args.channels, not args.no_polarity, args.tolerance)
    if args.tau_ticks is not None:
        tau = args.tau_ticks * args.dt
    else:
        tau = args.tau if args.tau is not None else 0.0
    net = SymmetryNetwork(
        max_radius=None if args.max_radius == 0 else args.max_radius,
        ticks_per_pixel=args.ticks_per_pixel,
        delay_per_pixel=args.delay_per_pixel,
        dt=args.dt,
        metric=args.metric,
        tau=tau,
        k=args.k,
        fractional=args.fractional,
    )
    image = None if args.demo else load_image(args.image, size=args.size)
    if image is not None and args.patch is not None and args.patch > min(image.shape):
        raise SpikegradInputError(
            f"--patch must be at most the shorter image side ({min(image.shape)} pixels of "
            f"{image.shape[0]}x{image.shape[1]}), got {args.patch}"
        )
    stamp = f"{datetime.now():%Y%m%d-%H%M%S}"
    name = f"demo-{args.demo}" if args.demo else args.image.stem
    out = args.out if args.out is not None else Path("runs") / f"symmetry-{name}-{stamp}"
    from ..io.run import refuse_input_in_run_folder

    if args.image is not None:
        refuse_input_in_run_folder(out, [args.image])
    lock_run_folder(out, "symmetry")
    run = RunFolder(out)  # an unwritable --out fails here, before any work
    if args.threads:
        torch.set_num_threads(args.threads)
    cli = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
           if k != "func"}
    config = {"cli": cli, "torch_threads": torch.get_num_threads()}
    if args.demo == "photos":
        m = run_photo_demo(run, code=code, null=args.null,
                           patch=64 if args.patch is None else args.patch,
                           max_patches=args.max_patches, seed=args.seed,
                           plots=not args.no_plots, config=config)
        cv = m["auc_cv"]
        print(
            f"man-made vs natural on {m['n_patches']} patches of {len(m['images'])} photographs: "
            f"AUC symmetry above chance {m['auc']:.3f} (edge fraction {m['auc_edge_fraction']:.3f}"
            f", lag-1 co-occurrence {m['auc_lag1']:.3f}); grouped-CV AUC baselines "
            f"{cv['baselines'][0]:.3f}, with symmetry {cv['baselines + symmetry'][0]:.3f}\n"
            f"{m['wall_seconds']:.1f} s; run folder: {out}"
        )
        return 0
    if args.demo:
        m = run_demo(run, network=net, size=256 if args.size is None else args.size,
                     cell=args.cell, n_scenes=args.scenes, scene_noise=args.scene_noise,
                     max_angle=args.max_angle, encoding=args.encoding,
                     threshold=args.threshold, levels=args.levels,
                     normalise=args.normalise, seed=args.seed, plots=not args.no_plots,
                     config=config)
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
    r = analyse_image(image, run, network=net, encoding=args.encoding,
                      threshold=args.threshold, levels=args.levels, window=args.window,
                      patch=args.patch, normalise=args.normalise,
                      intensity_noise=args.intensity_noise, spike_noise=args.spike_noise,
                      seed=args.seed, plots=not args.no_plots, source=str(args.image),
                      config=config, code=code, null=args.null,
                      chance_window=args.chance_window, n_axes=args.axes)
    ac = r["above_chance"]
    print(
        f"{r['shape'][0]}x{r['shape'][1]} image: {r['total_events']:.0f} symmetry events from "
        f"{r['active_inputs']:.0f} active inputs in {r['seconds']:.2f} s; "
        f"{len(r['regions'])} regions\nmirror pairs above chance ({args.null} null): "
        f"ln((O+1)/(E+1)) = {ac['score']:.3f} (O = {ac['observed']:.0f}, "
        f"E = {ac['expected']:.1f}); strongest axis: "
        + (f"{r['axes'][0]['orientation']} at {r['axes'][0]['position']:g} "
           f"(z = {r['axes'][0]['z']:.1f})" if r["axes"] else "none above chance")
        + f"\nrun folder: {out}"
    )
    return 0
