"""Argument validation used at spikegrad's public boundaries.

Every check raises :class:`SpikegradInputError` (a :class:`ValueError`) or
:class:`TypeError` with a message that names the argument and says what was
expected, so users see a clear error instead of a traceback from deep inside.
"""

from __future__ import annotations

import math
import operator
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = [
    "SpikegradInputError",
    "check_positive",
    "check_size",
    "check_nonnegative",
    "check_sequence_tensor",
    "check_finite",
    "check_options",
    "format_bytes",
    "check_memory",
    "check_parallel",
    "machine_cores",
    "machine_memory",
    "network_bytes",
    "Option",
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
    """Raise if ``x`` holds NaN or infinite values.

    A NaN or an infinity anywhere makes the sum non-finite (inf + finite = inf, anything
    with NaN or inf - inf = NaN), so a finite sum proves every entry finite in one
    reduction (about 45x cheaper than ``isfinite(x).all()`` on a spike batch); only a
    non-finite sum (which finite entries can also give, by overflow) runs the exact check.
    """
    if (
        x.is_floating_point()
        and not bool(torch.isfinite(x.sum()))
        and not bool(torch.isfinite(x).all())
    ):
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


def format_bytes(n: float) -> str:
    """``n`` bytes as a short human-readable size (``"2.6 GiB"``)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover - the loop returns


@dataclass(frozen=True)
class Option:
    """One typed option of a ``KEY=VALUE`` flag (``--task-option``, ``--model-option``,
    sweep ``dataset_options``): its type, meaning, range and, for sizes, a cap.

    ``type`` is ``"int"``, ``"float"``, ``"bool"``, ``"str"``, ``"list"``, ``"choice"``
    (one of ``choices``), ``"any"`` (left to the constructor that takes it) or ``"ints"``
    (a non-empty list of integers, each in range). An
    int option refuses floats (``30.9`` is never truncated to 30) and bools; a float
    option takes ints. ``maximum`` caps a size; ``bytes_per`` (bytes one unit of the value
    costs, e.g. one step of one sample) puts the estimated memory of a refused value in
    the message. ``nullable`` lets ``None`` through (the option's "not set").
    """

    type: str
    help: str = ""
    minimum: float | None = None
    maximum: float | None = None
    exclusive_min: bool = False
    choices: tuple[str, ...] = ()
    exclusive_max: bool = False
    nullable: bool = False
    bytes_per: float | None = None

    def check(self, where: str, value: Any) -> Any:
        """``value`` if it fits, else :class:`SpikegradInputError` (one line, ``where``)."""
        if value is None and self.nullable:
            return None
        if self.type == "any":  # checked by the constructor that takes it
            return value
        if self.type == "bool":
            if not isinstance(value, bool):
                raise SpikegradInputError(f"{where} must be true or false, got {value!r}")
            return value
        if self.type == "str":
            if isinstance(value, os.PathLike):
                return value
            if not isinstance(value, str) or not value:
                raise SpikegradInputError(f"{where} must be a text (e.g. a path), got {value!r}")
            return value
        if self.type == "list":
            if not isinstance(value, (list, tuple)):
                raise SpikegradInputError(f"{where} must be a list, e.g. [0.8,0.1,0.1]")
            return value
        if self.type == "choice":
            if value not in self.choices:
                raise SpikegradInputError(
                    f"{where} must be one of {', '.join(self.choices)}, got {value!r}"
                )
            return value
        if self.type == "ints":
            if not isinstance(value, (list, tuple)) or not value:
                raise SpikegradInputError(f"{where} must be a list of integers, e.g. [8,16]")
            return [self._number(where, v, True) for v in value]
        return self._number(where, value, self.type == "int")

    def _number(self, where: str, value: Any, is_int: bool) -> Any:
        import numbers

        kinds = numbers.Integral if is_int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, kinds):
            word = "an integer" if is_int else "a number"
            raise SpikegradInputError(f"{where} must be {word}, got {value!r}")
        v = int(value) if is_int else float(value)  # type: ignore[call-overload]
        if not math.isfinite(v):
            raise SpikegradInputError(f"{where} must be finite, got {value!r}")
        lo, hi = self.minimum, self.maximum
        if lo is not None and (v < lo or (self.exclusive_min and v == lo)):
            rel = ">" if self.exclusive_min else ">="
            raise SpikegradInputError(f"{where} must be {rel} {lo:g}, got {value!r}")
        if hi is not None and (v > hi or (self.exclusive_max and v == hi)):
            rel = "<" if self.exclusive_max else "<="
            cost = (f" (it would need about {format_bytes(v * self.bytes_per)} per sample)"
                    if self.bytes_per else "")  # fmt: skip
            raise SpikegradInputError(f"{where} must be {rel} {hi:g}, got {value!r}{cost}")
        return v


def check_options(
    where: str, schema: Mapping[str, Option], options: Mapping[str, Any]
) -> dict[str, Any]:
    """``options`` checked against ``schema``: an unknown key or a value of the wrong
    type or range raises :class:`SpikegradInputError` naming ``where`` and the key."""
    out = {}
    for key, value in options.items():
        if key not in schema:
            valid = ", ".join(sorted(schema)) or "none"
            raise SpikegradInputError(f"{where} has no option {key!r}; its options: {valid}")
        out[key] = schema[key].check(f"{where} option {key!r}", value)
    return out


def machine_memory() -> int:
    """Physical memory of this machine in bytes (``0`` where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 0


def machine_cores() -> int:
    """CPU cores this process may run on (its affinity where known)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


#: the most threads or worker processes a flag may ask for, per CPU core: more only
#: oversubscribes the cores (each thread or process then waits) and a typo such as
#: ``--workers 10000`` would start ten thousand interpreters
PER_CORE = 4

#: memory one worker process needs at least (an interpreter with torch imported)
WORKER_BYTES = 300 * 2**20


def check_parallel(flag: str, value: int, *, processes: bool = False) -> int:
    """``value`` of ``--threads`` / ``--workers`` if this machine can run it, else one line.

    The cap is ``PER_CORE`` x the cores this process may use; for worker processes also
    the physical memory over :data:`WORKER_BYTES` per process.
    """
    cores = machine_cores()
    cap = PER_CORE * cores
    why = f"{cores} CPU core{'s' if cores != 1 else ''}"
    mem = machine_memory()
    if processes and mem:
        if mem // WORKER_BYTES < cap:
            cap = max(1, mem // WORKER_BYTES)
            why = (f"{format_bytes(mem)} of memory, about {format_bytes(WORKER_BYTES)} per "
                   "worker process")  # fmt: skip
    if value > cap:
        raise SpikegradInputError(f"{flag} must be <= {cap} on this machine ({why}), got {value}")
    return value


#: the share of the physical memory one run may plan to use
MEMORY_SHARE = 0.8


def network_bytes(
    batch: int,
    steps: int,
    inputs: int,
    hidden: Sequence[int],
    outputs: int,
    recurrent: bool = False,
) -> int:
    r"""Estimated memory of training a layered spiking network, in bytes.

    Weights (float32, with gradient and two Adam moments: 16 bytes each)
    :math:`16 \sum_l (n_{l-1} n_l + [\text{rec}]\, n_l^2)` plus the states kept for the
    backward pass, about 8 float32 values per neuron and step:
    :math:`32\, B\, T \,(N_\text{in} + \sum_l n_l + N_\text{out})`. A lower bound of what a
    run needs: a refused size would certainly not fit.
    """
    sizes = [int(inputs), *map(int, hidden), int(outputs)]
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))
    if recurrent:
        weights += sum(int(h) ** 2 for h in hidden)
    states = int(batch) * int(steps) * sum(sizes)
    return 16 * weights + 32 * states


def check_memory(where: str, nbytes: float, detail: str = "") -> None:
    """Refuse (one line, naming ``where`` and the estimate) a plan that needs more than
    :data:`MEMORY_SHARE` of this machine's physical memory."""
    mem = machine_memory()
    if mem and nbytes > MEMORY_SHARE * mem:
        extra = f" ({detail})" if detail else ""
        raise SpikegradInputError(
            f"{where} would need about {format_bytes(nbytes)} of memory{extra}; this machine "
            f"has {format_bytes(mem)}: choose smaller sizes"
        )
