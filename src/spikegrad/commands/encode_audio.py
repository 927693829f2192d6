"""``spikegrad encode-audio``: turn WAV recordings into spikes in SHD's HDF5 layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``encode-audio`` sub-command."""
    from ._flags import HelpFormatter

    p = sub.add_parser(
        "encode-audio",
        help="encode WAV recordings into 700-channel spike trains (SHD's cochlea chain)",
        description="Pass each WAV file (PCM, any sample rate; several channels are "
        "averaged) through the cochlea chain that made the Spiking Heidelberg Digits "
        "(basilar membrane, hair cells, bushy cells; spikegrad.data.audio) and write one "
        "HDF5 file in SHD's layout: spikes/times, spikes/units, labels, extra/speaker, "
        "extra/keys (the input file names). `spikegrad train --task spoken-digits "
        "--data-dir DIR` trains on a folder of such files; `spikegrad predict RUN_DIR "
        "FILE.h5` classifies one with a trained run.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("files", nargs="+", type=Path, metavar="FILE.wav", help="WAV recordings")
    p.add_argument("--out", type=Path, required=True, help="output HDF5 file (.h5)")
    p.add_argument(
        "--label",
        type=int,
        nargs="+",
        default=None,
        help="class label per file (one value for all, or one per file; default 0)",
    )
    p.add_argument("--speaker", type=int, default=0, help="speaker id written to extra/speaker")
    p.add_argument("--seed", type=int, default=0, metavar="S",
                   help="seed of the fibres' random draws")
    p.add_argument(
        "--transfer",
        choices=["interp", "exact"],
        default="interp",
        help="basilar-membrane transfer: interpolated from a log grid (fast) or exact",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_encode_audio)


def _cmd_encode_audio(args: argparse.Namespace) -> int:
    import numpy as np

    from ..data.audio import encode_audio, read_wav
    from ..data.spoken_digits import write_shd_hdf5

    out = args.out
    if out.is_dir():
        raise SpikegradInputError(
            f"--out {str(out)!r} is a folder; give a file name like spikes.h5"
        )
    if not out.parent.is_dir():
        raise SpikegradInputError(f"--out: folder {str(out.parent)!r} does not exist")
    from ..io.run import refuse_overwriting_input

    refuse_overwriting_input(out, args.files)
    labels = args.label if args.label is not None else [0]
    if len(labels) not in (1, len(args.files)):
        raise SpikegradInputError(
            f"--label takes one value or one per file ({len(args.files)}), got {len(labels)}"
        )
    # SHD's layout stores labels and speakers as uint16 (0 .. 65535)
    if any(not 0 <= v <= 65535 for v in labels):
        raise SpikegradInputError(f"--label values must be in 0 .. 65535 (uint16), got {labels}")
    if not 0 <= args.speaker <= 65535:
        raise SpikegradInputError(
            f"--speaker must be in 0 .. 65535 (uint16), got {args.speaker}")
    if args.seed < 0:
        raise SpikegradInputError(f"--seed must be >= 0, got {args.seed}")
    labels = labels * len(args.files) if len(labels) == 1 else labels
    files = list(args.files)
    audio = []
    for f in files:  # read (and check) every file before the long work starts
        if not f.is_file():
            raise SpikegradInputError(f"FILE {str(f)!r} does not exist")
        audio.append(read_wav(f))
    times, units = [], []
    bar = None
    if not args.quiet:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(files), desc="encode", unit="file", dynamic_ncols=True)
    rng = np.random.default_rng(args.seed)
    for x, rate in audio:
        t, u = encode_audio(x, rate, seed=None, generator=rng, transfer=args.transfer)
        times.append(t)
        units.append(u)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    write_shd_hdf5(
        out,
        times,
        units,
        labels,
        speakers=[args.speaker] * len(files),
        keys=[f.name for f in files],
        attrs={"files": [str(f) for f in files], "seed": args.seed, "transfer": args.transfer},
    )
    n = sum(t.size for t in times)
    print(f"wrote {out}: {len(files)} samples, {n} spikes")
    return 0
