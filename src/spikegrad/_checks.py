"""Argument validation used at spikegrad's public boundaries.

Every check raises :class:`SpikegradInputError` (a :class:`ValueError`) or
:class:`TypeError` with a message that names the argument and says what was
expected, so users see a clear error instead of a traceback from deep inside.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch

__all__ = [
    "SpikegradInputError",
    "check_positive",
    "check_size",
    "check_nonnegative",
    "check_sequence_tensor",
    "check_finite",
]


class SpikegradInputError(ValueError):
    """Raised when a public function receives an argument it cannot use."""


def check_positive(name: str, value: float) -> float:
    """Return ``float(value)`` if it is a finite number > 0, else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from exc
    if not math.isfinite(v) or v <= 0:
        raise SpikegradInputError(f"{name} must be a finite number > 0, got {value!r}")
    return v


def check_size(name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as ``int`` if it is an integer >= ``minimum``, else raise.

    Integers, numpy integers and 0-d integer tensors pass; bools, floats (even 3.0) and
    strings raise ``TypeError``, so a size is never truncated or parsed silently.
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        v = operator.index(value)  # type: ignore[arg-type]  # non-integers raise TypeError
    except TypeError as exc:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from exc
    if v < minimum:
        raise SpikegradInputError(f"{name} must be an integer >= {minimum}, got {v}")
    return v


def check_int(name: str, value: object, minimum: int = 1, maximum: int | None = None) -> int:
    """Return ``value`` as ``int`` if it is an integer in [``minimum``, ``maximum``].

    Like :func:`check_size` but every failure, a non-integer included, is a
    :class:`SpikegradInputError` (the convention of the data-set and task configs).
    Integers, numpy integers and 0-d integer tensors pass; bools, floats and strings do not.
    """
    bad = f"{name} must be an integer >= {minimum}, got {value!r} ({type(value).__name__})"
    if isinstance(value, bool):
        raise SpikegradInputError(bad)
    try:
        v = operator.index(value)  # type: ignore[arg-type]  # non-integers raise TypeError
    except TypeError as exc:
        raise SpikegradInputError(bad) from exc
    if v < minimum:
        raise SpikegradInputError(f"{name} must be an integer >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise SpikegradInputError(f"{name} must be at most {maximum}, got {v}")
    return v


def check_nonnegative(name: str, value: float) -> float:
    """Return ``float(value)`` if it is a finite number >= 0, else raise."""
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a number, got {type(value).__name__}") from exc
    if not math.isfinite(v) or v < 0:
        raise SpikegradInputError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def check_finite(name: str, x: torch.Tensor) -> None:
    """Raise if ``x`` holds NaN or infinite values."""
    if x.is_floating_point() and not bool(torch.isfinite(x).all()):
        n_nan = int(torch.isnan(x).sum())
        raise SpikegradInputError(
            f"{name} contains non-finite values ({n_nan} NaN); spiking inputs must be finite"
        )


def check_sequence_tensor(
    name: str,
    x: object,
    *,
    features: int | None = None,
    rank: int = 3,
    finite: bool = True,
) -> torch.Tensor:
    """Validate a time-major input sequence ``[T, B, features]``.

    Parameters
    ----------
    name:
        Argument name used in error messages.
    x:
        The value to check.
    features:
        Expected size of the last dimension, or ``None`` to accept any.
    rank:
        Expected number of dimensions (3 for ``[T, B, N]``).
    finite:
        Also reject NaN / inf values.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [T, B, N], got {type(x).__name__}")
    if x.dim() != rank:
        raise SpikegradInputError(
            f"{name} must be time-major with {rank} dimensions [T, B, N]; "
            f"got shape {tuple(x.shape)} ({x.dim()} dimensions)"
        )
    if not (x.is_floating_point()):
        raise TypeError(
            f"{name} must have a floating dtype (float32 or float64), got {x.dtype}; "
            f"convert spikes with .float()"
        )
    if features is not None and x.shape[-1] != features:
        raise SpikegradInputError(
            f"{name} has {x.shape[-1]} features in its last dimension, expected {features}"
        )
    if x.shape[0] == 0:
        raise SpikegradInputError(f"{name} has zero time steps (shape {tuple(x.shape)})")
    if finite:
        check_finite(name, x)
    return x


def check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    """Raise unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise SpikegradInputError(
            f"unknown {name} {value!r}; valid choices: {', '.join(map(str, choices))}"
        )
    return value
