"""``spikegrad data``: make data sets offline (``spikegrad data spoken-digits``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``data`` sub-command and its data sets."""
    from ._flags import HelpFormatter, add_moved

    p = sub.add_parser(
        "data",
        help="make a data set offline (spoken-digits: espeak-ng + SHD's cochlea chain)",
        description="Make a data set on this machine, without downloads.",
    )
    ds = p.add_subparsers(dest="dataset", metavar="DATASET")
    s = ds.add_parser(
        "spoken-digits",
        help="digits 0-9 in English and German spoken by espeak-ng, encoded like SHD",
        description="Synthesise the 20 classes of the Spiking Heidelberg Digits (English "
        "zero..nine = labels 0-9, German null..neun = 10-19) with espeak-ng across voices, "
        "speeds and pitches (each combination a speaker), encode every utterance with the "
        "SHD cochlea chain into 700 channels, and write spoken_digits_train.h5 / "
        "spoken_digits_test.h5 in SHD's HDF5 layout, the test file holding other speakers. "
        "Needs the espeak-ng program (Debian/Ubuntu: apt-get install espeak-ng).",
        formatter_class=HelpFormatter,
    )
    s.add_argument("--out", type=Path, required=True, help="output folder")
    s.add_argument("--speakers", type=int, default=12, help="number of speakers")
    s.add_argument("--test-speakers", type=int, default=2, help="speakers held out for test")
    s.add_argument("--repeats", type=int, default=10, help="utterances per speaker and class")
    s.add_argument(
        "--labels",
        type=int,
        nargs="+",
        default=None,
        help="class labels to make (0-9 English, 10-19 German; default all 20)",
    )
    add_moved(s, "--classes", "--labels")  # --classes is a number of classes elsewhere
    s.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of speakers, jitter and spikes")
    s.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    s.set_defaults(func=_cmd_spoken_digits)
    p.set_defaults(func=lambda args: _no_dataset(p))


def _no_dataset(parser: argparse.ArgumentParser) -> int:
    raise SpikegradInputError("DATASET is required; valid data sets: spoken-digits")


def _cmd_spoken_digits(args: argparse.Namespace) -> int:
    import json

    from ..data.spoken_digits import generate_spoken_digits, require_espeak

    for name, value, low in (
        ("--speakers", args.speakers, 1),
        ("--test-speakers", args.test_speakers, 0),
        ("--repeats", args.repeats, 1),
        ("--workers", args.workers, 1),
        ("--seed", args.seed, 0),
    ):
        if value < low:
            raise SpikegradInputError(f"{name} must be an integer >= {low}, got {value}")
    if args.test_speakers >= args.speakers:
        raise SpikegradInputError(
            f"--test-speakers must be below --speakers ({args.speakers}), got {args.test_speakers}"
        )
    if args.labels is not None and any(not 0 <= c < 20 for c in args.labels):
        raise SpikegradInputError(f"--labels must be labels in 0..19, got {args.labels}")
    if args.out.exists() and not args.out.is_dir():
        raise SpikegradInputError(f"--out {str(args.out)!r} is a file, not a folder")
    from .._checks import check_memory

    count = args.speakers * args.repeats * (len(args.labels) if args.labels else 20)
    # each utterance's spike trains are held until the HDF5 files are written (measured:
    # 27045 spikes of 4 utterances, 6 bytes a spike: about 40 KiB an utterance; 64 KiB kept)
    check_memory("--speakers x --repeats x --labels", count * 64 * 1024,
                 f"{count} utterances of about 64 KiB of spikes")  # fmt: skip
    require_espeak()
    from ..io.run import lock_run_folder

    lock_run_folder(args.out, "data")
    n = args.speakers * args.repeats * (len(args.labels) if args.labels else 20)
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="utterances", unit="utt", dynamic_ncols=True)
    try:
        summary = generate_spoken_digits(
            args.out,
            n_speakers=args.speakers,
            n_test_speakers=args.test_speakers,
            repeats=args.repeats,
            classes=args.labels,
            seed=args.seed,
            workers=args.workers,
            progress=bar.update if bar is not None else None,
        )
    finally:
        if bar is not None:
            bar.close()
    print(json.dumps(summary))
    return 0
