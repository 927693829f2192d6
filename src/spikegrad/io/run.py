"""The run-folder contract shared by every command.

Every training or analysis command writes one folder::

    RUN_DIR/
      config.json      every setting of the run (enough to rebuild the model)
      metrics.json     final numbers
      history.csv      one row per epoch / iteration / evaluation, rewritten as the run goes
      checkpoint.pt    best weights (where the run has weights), SHA-256-checked
      last.pt          resume state (where the run can be resumed)
      *.png            plots

Every file is written atomically (temp file, fsync, rename): a run killed at any moment
leaves each file either in its previous or its new complete state, never half written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .._checks import SpikegradInputError
from .checkpoint import atomic_write_text, load_payload, save_checkpoint, save_payload

__all__ = [
    "RunFolder",
    "history_rows",
    "json_safe",
    "lock_run_folder",
    "refuse_input_in_run_folder",
    "refuse_overwriting_input",
    "release_run_folders",
    "run_folder_lock",
]

#: name of the lock file in a run folder (``flock``-ed while a command writes the folder)
LOCK_NAME = ".run.lock"

#: run folders this process holds: resolved path -> open lock file descriptor
_HELD: dict[str, int] = {}

#: folders this process created to lock them: resolved path -> the folders made, deepest
#: first (removed again at release if nothing was written into them)
_MADE: dict[str, list[str]] = {}


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    out = []
    p = folder.absolute()
    while not p.exists() and p != p.parent:
        out.append(p)
        p = p.parent
    return out


def _remove_if_empty(key: str) -> None:
    """Remove the folders this process created for run folder ``key`` if they are empty:
    a command refused after it took the lock leaves no empty ``--out`` behind."""
    for d in _MADE.pop(key, []):
        try:
            os.rmdir(d)
        except OSError:  # not empty (the run wrote into it), or gone: keep the rest too
            return


def lock_run_folder(path: str | Path, command: str) -> None:
    """Take an exclusive lock on run folder ``path`` (created if missing) for this process.

    A folder this call created is removed again at release if the command wrote nothing
    into it (a command refused after taking the lock leaves no empty ``--out``).

    The lock is an ``flock`` on ``PATH/.run.lock``; the kernel drops it when the process
    exits, however it exits, so a killed run never leaves a stale lock. A second writer
    (another process) is refused at once with :class:`SpikegradInputError` naming the
    holder's pid. Taking a lock this process already holds is a no-op; locks are released
    by :func:`release_run_folders` (the CLI calls it when a command ends). Where ``fcntl``
    does not exist (Windows) no lock is taken.
    """
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise SpikegradInputError(f"output folder {str(folder)!r} exists and is a file")
    made = _missing_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpikegradInputError(
            f"output folder {str(folder)!r} cannot be written: it cannot be created "
            f"({exc.strerror or exc})"
        ) from exc
    key = os.path.realpath(folder)
    if key in _HELD:
        return
    if made:
        _MADE[key] = [str(d) for d in made]
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return
    lock = folder / LOCK_NAME
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            _remove_if_empty(key)
            raise SpikegradInputError(
                f"output folder {str(folder)!r} cannot be written: {exc.strerror or exc}"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            _MADE.pop(key, None)  # the holder's folder: never removed by this process
            if exc.errno not in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                raise
            raise SpikegradInputError(
                f"run folder {str(folder)!r} is in use by another spikegrad {command} or "
                f"writer (pid {holder}); wait for it to end or choose another --out"
            ) from None
        # the holder removes the file when it ends: a lock on a removed file is no lock
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _HELD[key] = fd


@contextlib.contextmanager
def run_folder_lock(path: str | Path, command: str) -> Iterator[None]:
    """:func:`lock_run_folder` for the duration of a ``with`` block (a sweep run from
    Python); a lock the process already held before the block is kept after it."""
    key = os.path.realpath(path) if Path(path).exists() else None
    held = key in _HELD
    lock_run_folder(path, command)
    key = os.path.realpath(path)
    try:
        yield
    finally:
        if not held and key in _HELD:
            fd = _HELD.pop(key)
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(key, LOCK_NAME))
            os.close(fd)
            _remove_if_empty(key)


def release_run_folders() -> None:
    """Release every run-folder lock this process holds (see :func:`lock_run_folder`);
    the lock file is removed (a killed holder leaves it, unlocked and harmless)."""
    while _HELD:
        key, fd = _HELD.popitem()
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(key, LOCK_NAME))  # while still locked: no one else holds it
        os.close(fd)  # releases the flock
        _remove_if_empty(key)


def refuse_overwriting_input(
    out: str | Path, inputs: Iterable[str | Path], flag: str = "--out"
) -> None:
    """Refuse an output path that resolves (symlinks followed) to one of ``inputs``.

    Raises :class:`SpikegradInputError` (one line) so an input file is never overwritten.
    """
    target = os.path.realpath(out)
    for src in inputs:
        if os.path.realpath(src) == target:
            raise SpikegradInputError(
                f"{flag} {str(out)!r} is the input file {str(src)!r}; refusing to overwrite "
                "an input, choose another output path"
            )


def refuse_input_in_run_folder(out: str | Path, inputs: Iterable[str | Path]) -> None:
    """Refuse an input file that lies (symlinks followed) directly in run folder ``out``:
    the command rewrites that folder's files (``history.csv``, ``config.json``, plots), so
    the input could be overwritten while it is read."""
    folder = os.path.realpath(out)
    for src in inputs:
        if os.path.isfile(src) and os.path.dirname(os.path.realpath(src)) == folder:
            raise SpikegradInputError(
                f"input {str(src)!r} lies in the run folder {str(out)!r}, whose files the "
                "command rewrites; copy it elsewhere or choose another --out"
            )


def json_safe(obj: Any) -> Any:
    """``obj`` with tuples as lists and non-finite floats as ``None`` (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, Path):
        return str(obj)
    return obj


def history_rows(history: Sequence[Any]) -> list[dict]:
    """History entries (dataclasses or dicts) as dicts with the same key order."""
    rows = []
    for h in history:
        if dataclasses.is_dataclass(h):
            rows.append({f.name: getattr(h, f.name) for f in dataclasses.fields(h)})
        elif isinstance(h, Mapping):
            rows.append(dict(h))
        else:
            raise TypeError(f"history rows must be dataclasses or dicts, got {type(h).__name__}")
    return rows


class RunFolder:
    """A run folder (created on first use); all writes are atomic.

    Raises :class:`SpikegradInputError` (one line, naming the folder) when the path is
    a file or cannot be created or written.
    """

    CONFIG = "config.json"
    METRICS = "metrics.json"
    HISTORY = "history.csv"
    CHECKPOINT = "checkpoint.pt"
    LAST = "last.pt"

    def __init__(self, path: str | Path) -> None:
        if not isinstance(path, (str, Path)):
            raise TypeError(f"run folder must be a str or Path, got {type(path).__name__}")
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise SpikegradInputError(f"output folder {str(self.path)!r} exists and is a file")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".spikegrad-write-test"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpikegradInputError(
                f"output folder {str(self.path)!r} cannot be written: {exc.strerror or exc}"
            ) from exc

    def file(self, name: str) -> Path:
        """Path of a file in the folder."""
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` as indented strict JSON (NaN/inf as null), atomically."""
        path = self.file(name)
        atomic_write_text(path, json.dumps(json_safe(obj), indent=2) + "\n")
        return path

    def read_json(self, name: str) -> Any:
        """Read a JSON file of the folder (clear error when missing or malformed)."""
        path = self.file(name)
        if not path.is_file():
            raise SpikegradInputError(f"{str(path)!r} does not exist")
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise SpikegradInputError(f"{str(path)!r} is not valid JSON: {exc}") from exc

    def write_config(self, config: Mapping) -> Path:
        return self.write_json(self.CONFIG, config)

    def write_metrics(self, metrics: Mapping) -> Path:
        return self.write_json(self.METRICS, metrics)

    def write_history(
        self, history: Sequence[Any], *, rename: Mapping[str, str] | None = None
    ) -> Path:
        """Write ``history.csv`` (one row per entry, ``%.6g`` numbers), atomically.

        ``rename`` maps field names to column names (e.g. ``train_accuracy`` ->
        ``train_correlation`` for a task whose score is a correlation).
        """
        rows = history_rows(history)
        names = list(rows[0]) if rows else []
        rename = dict(rename or {})
        lines = [",".join(rename.get(n, n) for n in names)]
        for r in rows:
            lines.append(",".join(_cell(r.get(n)) for n in names))
        path = self.file(self.HISTORY)
        atomic_write_text(path, "\n".join(lines) + "\n")
        return path

    def save_weights(self, state_dict: dict, config: dict, epoch: int) -> Path:
        """``checkpoint.pt``: weights + config + epoch (SHA-256-checked, weights-only load)."""
        path = self.file(self.CHECKPOINT)
        save_checkpoint(path, state_dict, config, epoch)
        return path

    def save_state(self, payload: dict) -> Path:
        """``last.pt``: resume state (a payload with a ``"format"`` key)."""
        path = self.file(self.LAST)
        save_payload(path, payload)
        return path

    def load_state(self, fmt: str) -> dict:
        """Load ``last.pt`` of format ``fmt``."""
        return load_payload(self.file(self.LAST), fmt)


def _cell(v: Any) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int, float)):
        return f"{v:.6g}"
    if v is None:
        return ""
    s = str(v)
    return '"' + s.replace('"', '""') + '"' if ("," in s or '"' in s) else s
