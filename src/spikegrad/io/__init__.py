"""Files: atomic writes, checkpoints and payloads, and NIR export/import.

The checkpoint functions are imported eagerly. The NIR functions (:func:`export_nir`,
:func:`import_nir`, ...) live in :mod:`spikegrad.io.nir` and are loaded on first access
(``spikegrad.io.export_nir``), since NIR is an optional dependency and the module sits
above :mod:`spikegrad.nn`.
"""

from __future__ import annotations

import importlib
from typing import Any

from .checkpoint import (
    Checkpoint,
    atomic_write_bytes,
    atomic_write_text,
    load_checkpoint,
    load_payload,
    save_checkpoint,
    save_payload,
)

#: Names served lazily from :mod:`spikegrad.io.nir`.
_NIR_NAMES = (
    "export_nir",
    "import_nir",
    "delay_to_nir",
    "delay_from_nir",
    "delayed_linear_to_nir",
    "delayed_linear_from_nir",
    "nir_parameters",
)

__all__ = [
    "Checkpoint",
    "atomic_write_bytes",
    "atomic_write_text",
    "load_checkpoint",
    "load_payload",
    "save_checkpoint",
    "save_payload",
    *_NIR_NAMES,
]


def __getattr__(name: str) -> Any:
    """Load the NIR functions from :mod:`spikegrad.io.nir` on first access."""
    if name in _NIR_NAMES:
        value = getattr(importlib.import_module(".nir", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
