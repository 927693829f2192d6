"""Recycled large buffers for the compiled kernels.

A training step allocates the same large arrays every time (membrane traces, spikes,
gradients: tens of MB each). Freshly allocated large blocks come from the operating
system as untouched pages, and first-touching them costs a page fault per 4 KiB; on
the benchmark machine that was 35-50 ms of a ~45 ms step (measured with
``bench/train_step.py`` and glibc's ``MALLOC_MMAP_THRESHOLD_``; see BENCHMARKS.md).

:func:`empty` hands out arrays whose memory returns to a small pool once nothing refers
to it any more, so the next step reuses already-mapped memory. The pooled block is
exported through a ctypes array, and the numpy array is built on that export: every
numpy view, and every torch tensor made with ``torch.from_numpy`` from any of them,
keeps the ctypes object alive, and a ``weakref.finalize`` on it gives the block back
only when the last of them is gone (tested in tests/test_kernels_events.py).
"""

from __future__ import annotations

import ctypes
import math
import threading
import weakref

import numpy as np

__all__ = ["empty", "pool_bytes", "release", "set_pool_limit", "zeros"]

_MIN_BYTES = 1 << 20  # smaller blocks come from the allocator's own free lists anyway
_lock = threading.Lock()
_free: dict[int, list[np.ndarray]] = {}
_held = 0
_limit = 1 << 30


def set_pool_limit(nbytes: int) -> None:
    """Keep at most ``nbytes`` of idle buffers for reuse (default 1 GiB; 0 disables)."""
    global _limit
    _limit = max(0, int(nbytes))
    if _limit == 0:
        clear()


def pool_bytes() -> int:
    """Bytes currently held idle in the pool."""
    return _held


def clear() -> None:
    """Drop every idle buffer (their memory goes back to the allocator)."""
    global _held
    with _lock:
        _free.clear()
        _held = 0


def release() -> int:
    """Drop every idle buffer and return freed heap memory to the system; bytes dropped.

    For after training (or between phases that need less memory): the pool keeps the
    previous step's buffers mapped so the next step does not page-fault on them, which
    holds the step's high-water mark in the resident set. After this call the next
    step pays those page faults once. glibc's ``malloc_trim(0)`` also gives back the
    free parts of the heap arenas (a no-op where the C library has no such call).
    """
    n = _held
    clear()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # pragma: no cover - not glibc
        pass
    return n


def _give_back(base: np.ndarray) -> None:
    global _held
    n = base.nbytes
    with _lock:
        if _held + n <= _limit:
            _free.setdefault(n, []).append(base)
            _held += n


def empty(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array like ``np.empty``, backed by recycled memory when large."""
    dtype = np.dtype(dtype)
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(shape)
    n = math.prod(shape) * dtype.itemsize
    if n < _MIN_BYTES or _limit == 0:
        return np.empty(shape, dtype)
    global _held
    base = None
    with _lock:
        lst = _free.get(n)
        if lst:
            base = lst.pop()
            _held -= n
    if base is None:
        base = np.empty(n, dtype=np.uint8)
    owner = (ctypes.c_char * n).from_buffer(base)
    arr = np.frombuffer(owner, dtype=dtype).reshape(shape)
    weakref.finalize(owner, _give_back, base)
    return arr


def zeros(shape: int | tuple[int, ...], dtype) -> np.ndarray:
    """Like ``np.zeros``, in recycled memory when large (:func:`empty`, then filled).

    For per-step accumulators (weight gradients): ``np.zeros`` of a few MB is a fresh
    mapping each step until the C library's allocator adapts, so the first training
    steps page-fault on it; a recycled block is filled without faults.
    """
    a = empty(shape, dtype)
    a.fill(0)
    return a
