"""Atomic file writes, shared by every writer of the package (bottom layer, no imports).

:func:`atomic_write` writes to a temporary file beside the target (same folder, so the
rename stays on one file system), flushes and fsyncs it, then renames it over the target:
a failure at any moment (an error while writing, a full disk, a kill) leaves the target
either absent or holding its previous complete content, never a truncated one, and no
temporary file behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


#: process umask, read once (reading it means setting it, which is not thread-safe)
_UMASK = _umask()


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], object]) -> None:
    """Call ``write(f)`` on a binary temporary file, then rename it over ``path``.

    The file gets the mode a plain ``open()`` would give (``0666 & ~umask``), not
    ``mkstemp``'s 0600.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file, fsync, rename)."""
    atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))
