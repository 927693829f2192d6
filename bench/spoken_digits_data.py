"""Extra training speakers for the spoken-digit benchmark (issue 29: more voices).

Writes ``DIR/spoken_digits_extra_train.h5``: ``--speakers`` speakers drawn from
:data:`spikegrad.data.spoken_digits.EXTRA_VARIANTS` (espeak-ng variants that none of the
default set's speakers use, so none of its held-out test speakers' voices), each with its
own dialect, speed, pitch and a vocal-tract warp in ``[1 - warp, 1 + warp]``, every digit
``--repeats`` times. Roughly 1 s of CPU per utterance.

    python bench/spoken_digits_data.py DIR --speakers 40 --repeats 1 --warp 0.12
"""

from __future__ import annotations

import argparse
import json
import time

from spikegrad.data.spoken_digits import EXTRA_VARIANTS, generate_spoken_digits, make_speakers


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--speakers", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--warp", type=float, default=0.12)
    ap.add_argument("--seed", type=int, default=29)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    speakers = make_speakers(args.speakers, args.seed, variants=EXTRA_VARIANTS, warp=args.warp)
    t0 = time.time()
    summary = generate_spoken_digits(
        args.out,
        speakers=speakers,
        n_test_speakers=0,
        repeats=args.repeats,
        seed=args.seed,
        workers=args.workers,
        prefix="spoken_digits_extra",
    )
    summary["wall_seconds"] = time.time() - t0
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
