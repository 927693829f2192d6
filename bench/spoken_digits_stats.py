"""Statistics of a spoken-digit data set (or any SHD-layout files), for BENCHMARKS.md.

Per file: samples, classes, speakers, spikes per sample (mean / median / 5-95 %), duration
(last spike, s), spikes per second of that duration, channels active per sample, and
the share of all spikes in the lowest/middle/highest third of the channels.

    python bench/spoken_digits_stats.py DIR/spoken_digits_train.h5 DIR/spoken_digits_test.h5
"""

from __future__ import annotations

import json
import sys

import numpy as np


def stats(path: str) -> dict:
    from spikegrad.data.shd import read_hdf5_spikes

    times, units, labels = read_hdf5_spikes(path)
    n = np.array([t.size for t in times])
    dur = np.array([t.max() if t.size else 0.0 for t in times])
    active = np.array([np.unique(u).size for u in units])
    allu = np.concatenate(units)
    thirds = np.bincount(allu * 3 // 700, minlength=3) / allu.size
    return {
        "file": path,
        "samples": int(len(labels)),
        "classes": int(np.unique(labels).size),
        "spikes_per_sample_mean": float(n.mean()),
        "spikes_per_sample_median": float(np.median(n)),
        "spikes_per_sample_p5_p95": [float(v) for v in np.quantile(n, [0.05, 0.95])],
        "duration_s_mean": float(dur.mean()),
        "duration_s_p5_p95": [float(v) for v in np.quantile(dur, [0.05, 0.95])],
        "spikes_per_second": float(n.sum() / dur.sum()),
        "active_channels_mean": float(active.mean()),
        "spike_share_channel_thirds_base_mid_apex": [float(v) for v in thirds],
    }


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(json.dumps(stats(p)))
