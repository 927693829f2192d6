"""Recycled large buffers for the compiled kernels.

A training step allocates the same large arrays every time (membrane traces, spikes,
gradients: tens of MB each). Freshly allocated large blocks come from the operating
system as untouched pages, and first-touching them costs a page fault per 4 KiB; on
the benchmark machine that was 35-50 ms of a ~45 ms step (measured with
``bench/train_step.py`` and glibc's ``MALLOC_MMAP_THRESHOLD_``; see BENCHMARKS.md).

:func:`empty` hands out arrays whose memory is returned to a small pool when the
last reference to the array goes away (a ``weakref.finalize`` on the array object
itself), so the next step reuses already-mapped memory. Safety rests on one rule,
kept by every caller in this package: the returned array object is the only numpy
object that refers to the memory (torch tensors made with ``torch.from_numpy`` keep
that object alive; numpy views of it are made only transiently inside a call).
"""

from __future__ import annotations

import math
import threading
import weakref

import numpy as np

__all__ = ["empty", "pool_bytes", "set_pool_limit"]

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
    arr = base.view(dtype).reshape(shape)
    weakref.finalize(arr, _give_back, base)
    return arr
