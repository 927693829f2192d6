"""Reference outputs of lauscher (the SHD authors' cochlea chain) for the audio encoder tests.

Runs lauscher 1.0.1's ``Wave2Spike`` chain stage by stage on each WAV with one worker
process and ``np.random.seed(seed)`` before the bushy-cell stage, times each stage, and
stores per WAV a compressed ``.npz`` in tests/data/audio/ with the SHA-256 of the input:
the spike train (times, units), per-channel means of the basilar-membrane velocity and the
hair-cell output, and every 16th hair-cell sample of 8 channels.

Needs ``pip install lauscher==1.0.1 soundfile`` (the ``bench`` extra); not used by the tests.

    python bench/audio_lauscher_reference.py tests/data/audio/*.wav
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

SEED = 1234
TRACE_CHANNELS = np.arange(0, 700, 100) + 50  # 8 channels


def main(paths: list[str]) -> None:
    from lauscher.audiowaves import FileMonoAudioWave
    from lauscher.helpers import CommandLineArguments
    from lauscher.transformations import (
        BasilarMembrane,
        BushyCell,
        HairCell,
        HanningWindow,
        RmsNormalizer,
    )

    CommandLineArguments().num_concurrent_jobs = 1
    for p in paths:
        p = Path(p)
        sha = hashlib.sha256(p.read_bytes()).hexdigest()
        t = {}
        t0 = time.process_time()
        w0 = time.perf_counter()
        wave = FileMonoAudioWave(str(p))
        wave = wave.transform(RmsNormalizer(0.3)).transform(HanningWindow())
        a = time.perf_counter()
        bm = wave.transform(BasilarMembrane(channels=700))
        t["basilar_membrane_s"] = time.perf_counter() - a
        a = time.perf_counter()
        hc = bm.transform(HairCell())
        t["hair_cell_s"] = time.perf_counter() - a
        np.random.seed(SEED)  # noqa: NPY002 - lauscher draws from the global stream
        a = time.perf_counter()
        sp = hc.transform(BushyCell())
        t["bushy_cell_s"] = time.perf_counter() - a
        t["total_wall_s"] = time.perf_counter() - w0
        t["main_process_cpu_s"] = time.process_time() - t0
        out = p.with_suffix(".lauscher.npz")
        np.savez_compressed(
            out,
            wav_sha256=np.array(sha),
            seed=np.array(SEED),
            sample_rate=np.array(bm.sample_rate),
            times=sp.spike_times.astype(np.float64),
            units=sp.spike_labels.astype(np.int16),
            bm_mean_abs=np.abs(bm.channels).mean(axis=1),
            hc_mean=hc.channels.mean(axis=1),
            trace_channels=TRACE_CHANNELS,
            hc_trace=hc.channels[TRACE_CHANNELS, ::16],
            timing=np.array(json.dumps(t)),
        )
        print(p.name, len(sp.spike_times), "spikes", json.dumps(t), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
