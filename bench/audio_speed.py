"""Speed of spikegrad's cochlea chain against lauscher 1.0.1 on the same utterance.

One process, one thread (OMP/NUMBA threads = 1; lauscher with one worker process): our
encoder 3 times, lauscher's ``Wave2Spike(700)`` once, our encoder 3 more times; prints the
median of ours, lauscher's time and their ratio, with the machine load before and after.
The first call of ours ("cold") includes evaluating the basilar-membrane transfer on its
log grid (once per sample rate and process) and loading the compiled kernels.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python bench/audio_speed.py tests/data/audio/en_one.wav
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time


def main(path: str) -> None:
    import numpy as np

    from spikegrad.data.audio import encode_wav, read_wav

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    encode_wav(path, seed=0)
    cold = time.perf_counter() - t0
    ours = []

    def run_ours(k):
        for s in range(k):
            t = time.perf_counter()
            encode_wav(path, seed=s + 1)
            ours.append(time.perf_counter() - t)

    run_ours(3)
    from lauscher.audiowaves import FileMonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations.wave2spike import Wave2Spike

    CommandLineArguments().num_concurrent_jobs = 1
    np.random.seed(0)  # noqa: NPY002 - lauscher draws from the global stream
    t = time.perf_counter()
    FileMonoAudioWave(path).transform(Wave2Spike(num_channels=700))
    lauscher = time.perf_counter() - t
    run_ours(3)
    x, fs = read_wav(path)
    med = statistics.median(ours)
    print(
        json.dumps(
            {
                "file": path,
                "audio_s": x.size / fs,
                "ours_cold_s": cold,
                "ours_warm_s": ours,
                "ours_median_s": med,
                "lauscher_s": lauscher,
                "speedup_median": lauscher / med,
                "speedup_cold": lauscher / cold,
                "load_before": load0,
                "load_after": os.getloadavg(),
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1])
