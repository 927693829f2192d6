"""Atomic file writes and safe checkpoints.

Checkpoints hold only tensors, numbers, strings, lists and dicts and are loaded
with ``torch.load(weights_only=True)``: a checkpoint file can never execute code.
Every write goes to a temporary file in the same folder, is fsync'ed, then
renamed over the target, so a run killed mid-write leaves the old file intact.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from .._checks import SpikegradInputError

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "save_payload",
    "load_payload",
    "save_checkpoint",
    "load_checkpoint",
]


def _atomic_write(path: Path, write) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
    _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_payload(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` a dict of tensors / numbers / strings / lists / dicts, atomically."""
    _atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_payload(path: str | Path, fmt: str) -> dict[str, Any]:
    """Load a payload saved by :func:`save_payload` whose ``"format"`` is ``fmt``.

    Uses ``torch.load(weights_only=True)``, so the file can never execute code.

    Raises
    ------
    SpikegradInputError
        If the file is missing, truncated, tampered with, or of another format.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"checkpoint {str(path)!r} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure means a bad file
        raise SpikegradInputError(
            f"checkpoint {str(path)!r} is corrupt, truncated or not a safe checkpoint: {exc}"
        ) from exc
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise SpikegradInputError(f"{str(path)!r} is not a spikegrad checkpoint ({fmt})")
    return payload


def save_checkpoint(
    path: str | Path, state_dict: dict[str, torch.Tensor], config: dict, epoch: int
) -> None:
    """Save model weights with the run's config and epoch, atomically."""
    payload = {
        "format": "spikegrad-checkpoint-1",
        "state_dict": state_dict,
        "config": config,
        "epoch": int(epoch),
    }
    save_payload(path, payload)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (never executes code).

    Raises
    ------
    SpikegradInputError
        If the file is missing, truncated, tampered with, or not a spikegrad checkpoint.
    """
    return load_payload(path, "spikegrad-checkpoint-1")
