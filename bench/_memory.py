"""Peak-memory measurement shared by bench/peers.py and bench/peers_jax.py (stdlib only:
it also runs in the JAX environment, which has no spikegrad)."""

from __future__ import annotations

import resource

__all__ = ["memory_baseline", "peak_since_baseline"]


def _status_mb(key: str) -> float | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024.0  # kB
    except OSError:
        pass
    return None


def memory_baseline() -> float:
    """Reset the peak-RSS mark (Linux: clear_refs 5) and return the current RSS in MB.

    Temporaries made before (imports, data) then do not hide the training step's peak;
    without /proc the high-water mark ``ru_maxrss`` is the fallback.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        rss = _status_mb("VmRSS")
        if rss is not None:
            return rss
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_since_baseline(base: float) -> float:
    """Peak RSS growth in MB since :func:`memory_baseline`."""
    hwm = _status_mb("VmHWM")
    if hwm is None:
        hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    return hwm - base
