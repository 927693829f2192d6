"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC) from their HDF5 files.

Published layout (https://zenkelab.org/resources/spiking-heidelberg-datasets-shd/)::

    spikes/times   one variable-length float array per sample, seconds
    spikes/units   matching integer arrays, channel 0..699
    labels         integer class per sample

Binning: an event at time ``t`` (s) goes to step ``floor(t / dt)`` with ``dt = duration /
n_steps``; events at ``t >= duration`` are dropped. Several events of one channel in one
bin are **counted** (the dense batch holds the count), not clipped. Events stay sparse
(CSR, :class:`~spikegrad.data.spikes.SpikeDataset`) until batching.

SHD has no official validation split: spikegrad holds out ``val_fraction`` of the training
file (seeded, class-stratified). SSC ships its own ``ssc_valid.h5``.

**Releases differ**: SHD's train/test sizes are 8156 / 2264 in the current release and
8332 / 2088 in an earlier one. :func:`hdf5_file_info` records the sample count and SHA-256 of
every file used, and :func:`shd_release` names the release from the sizes.
Files may be plain ``.h5`` or the shipped ``.h5.gz`` (read into memory).
"""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import torch

from .._checks import SpikegradInputError, check_positive, check_size
from .spikes import SpikeDataset, split

__all__ = [
    "SHD_RELEASES",
    "N_CHANNELS",
    "read_hdf5_spikes",
    "hdf5_file_info",
    "shd_release",
    "find_hdf5_file",
    "make_shd",
    "make_ssc",
]

N_CHANNELS = 700

#: (train size, test size) -> release name
SHD_RELEASES = {
    (8156, 2264): "current (8156 train / 2264 test)",
    (8332, 2088): "earlier (8332 train / 2088 test)",
}


def _h5py():
    try:
        import h5py
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SpikegradInputError(
            "SHD/SSC need h5py: pip install 'spikegrad[hdf5]' or pip install h5py"
        ) from exc
    return h5py


def find_hdf5_file(folder: str | Path, stem: str) -> Path:
    """``folder/stem.h5`` or ``folder/stem.h5.gz``; a clear error if neither exists."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpikegradInputError(f"data folder {str(folder)!r} does not exist or is not a folder")
    for name in (f"{stem}.h5", f"{stem}.h5.gz"):
        if (folder / name).is_file():
            return folder / name
    raise SpikegradInputError(
        f"missing {stem}.h5[.gz] in {str(folder)!r} (expected the published SHD/SSC HDF5 files; "
        "spikegrad never downloads them)"
    )


def _open(path: Path):
    h5py = _h5py()
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return h5py.File(io.BytesIO(f.read()), "r")
        return h5py.File(path, "r")
    except (OSError, EOFError) as exc:
        raise SpikegradInputError(
            f"cannot open {str(path)!r} as HDF5: {exc} (expected an SHD/SSC .h5 or .h5.gz file)"
        ) from exc


def read_hdf5_spikes(path: str | Path) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    """Raw ``(times per sample [s], units per sample, labels)`` of one SHD/SSC file.

    Raises :class:`SpikegradInputError` naming the file if it is missing, not HDF5,
    truncated, lacks a dataset, or holds non-numeric data, labels that are not 1-D integers,
    or spike times / units that are not finite (units: integers).
    """
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"HDF5 file {str(path)!r} does not exist")
    with _open(path) as f:
        for key in ("spikes/times", "spikes/units", "labels"):
            if key not in f:
                raise SpikegradInputError(
                    f"{str(path)!r} is not in the SHD/SSC layout: dataset {key!r} is missing "
                    "(expected spikes/times, spikes/units, labels)"
                )
        times = _read_rows(f, "spikes/times", path)
        units = _read_rows(f, "spikes/units", path)
        labels = _read_rows(f, "labels", path)
    if labels.ndim != 1 or not _whole(labels):
        raise SpikegradInputError(
            f"{str(path)!r}: labels must be a 1-D array of integer classes, got shape "
            f"{labels.shape}{_first_bad(labels.ravel(), True)}"
        )
    labels = labels.astype(np.int64)
    for key, rows in (("spikes/times", times), ("spikes/units", units)):
        for n, r in enumerate(rows):
            whole = key == "spikes/units"
            if r.ndim != 1 or not np.isfinite(r).all() or (whole and not _whole(r)):
                got = (f"shape {r.shape}" if r.ndim != 1 else _first_bad(r, whole).lstrip(", "))
                raise SpikegradInputError(
                    f"{str(path)!r}: {key} of sample {n} must be a 1-D array of finite "
                    f"{'integers' if whole else 'times'}, got {got}"
                )
    units = [u.astype(np.int64) for u in units]
    if not (len(times) == len(units) == len(labels)):
        raise SpikegradInputError(
            f"{str(path)!r}: spikes/times, spikes/units and labels must have one entry per "
            f"sample, got {len(times)}, {len(units)} and {len(labels)}"
        )
    for n, (t, u) in enumerate(zip(times, units, strict=True)):
        if t.shape != u.shape:
            raise SpikegradInputError(
                f"{str(path)!r}: sample {n} has {t.size} spike times but {u.size} units"
            )
    return times, units, labels


def _read_rows(f, key: str, path: Path):
    """``labels`` as one array, ``spikes/*`` as one float64 array per sample; clear errors."""
    try:
        data = f[key][:]
        if key == "labels":
            return np.asarray(data, dtype=np.float64)
        return [np.asarray(r, dtype=np.float64) for r in data]
    except (TypeError, ValueError, OSError) as exc:
        raise SpikegradInputError(
            f"{str(path)!r} is not in the SHD/SSC layout: cannot read {key!r} as numbers "
            f"({type(exc).__name__}: {exc})"
        ) from exc


def _first_bad(a: np.ndarray, whole: bool) -> str:
    """``", value V at index I"`` for the first non-finite (or non-integer) entry of 1-D
    ``a`` (an error message names one value, never prints the array)."""
    bad = ~np.isfinite(a)
    if whole:
        bad |= np.isfinite(a) & (a != np.round(np.nan_to_num(a)))
    idx = np.flatnonzero(bad)
    return f", value {float(a[idx[0]])} at index {idx[0]}" if idx.size else ""


def _whole(a: np.ndarray) -> bool:
    return bool(np.isfinite(a).all() and (a == np.round(a)).all())


def hdf5_file_info(path: str | Path) -> dict:
    """``{"file", "bytes", "sha256", "samples"}`` of one file (for the run's record)."""
    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    with _open(path) as f:
        n = int(f["labels"].shape[0]) if "labels" in f else -1
    return {"file": str(path), "bytes": path.stat().st_size, "sha256": h.hexdigest(), "samples": n}


def shd_release(n_train: int, n_test: int) -> str:
    """Name of the SHD release with these split sizes (``"unknown (...)"`` otherwise)."""
    return SHD_RELEASES.get(
        (int(n_train), int(n_test)), f"unknown release ({n_train} train / {n_test} test)"
    )


def bin_events(
    times: list[np.ndarray],
    units: list[np.ndarray],
    labels: np.ndarray,
    *,
    n_steps: int,
    duration: float,
    n_units: int = N_CHANNELS,
    n_classes: int | None = None,
    name: str = "",
) -> SpikeDataset:
    """Bin per-sample event lists into a :class:`SpikeDataset` (counts kept, late events dropped).

    Step of an event at ``t`` seconds: ``floor(t * n_steps / duration)``; events with
    ``t >= duration`` or ``t < 0`` are dropped. Units outside ``[0, n_units)`` are an error.
    """
    n_steps = check_size("n_steps", n_steps)
    duration = check_positive("duration", duration)
    all_t, all_u, counts = [], [], []
    for n, (t, u) in enumerate(zip(times, units, strict=True)):
        step = np.floor(t * (n_steps / duration)).astype(np.int64)
        keep = (t >= 0) & (step < n_steps)
        step, uu = step[keep], u[keep]
        if uu.size and (uu.min() < 0 or uu.max() >= n_units):
            raise SpikegradInputError(
                f"sample {n}{' of ' + name if name else ''}: units must lie in [0, {n_units}), "
                f"got values in [{uu.min()}, {uu.max()}]"
            )
        order = np.lexsort((uu, step))
        all_t.append(step[order])
        all_u.append(uu[order])
        counts.append(step.size)
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(counts)
    cat = (
        (lambda a: torch.from_numpy(np.concatenate(a)))
        if counts
        else (lambda a: torch.empty(0, dtype=torch.int64))
    )
    return SpikeDataset(
        cat(all_t),
        cat(all_u),
        torch.from_numpy(offsets),
        torch.from_numpy(labels),
        n_steps,
        n_units,
        n_classes,
        name,
    )


def _load(path: Path, limit: int | None, gen: torch.Generator, **kw) -> SpikeDataset:
    times, units, labels = read_hdf5_spikes(path)
    if limit is not None:
        idx = torch.randperm(len(labels), generator=gen)[: int(limit)].sort().values.numpy()
        times = [times[i] for i in idx]
        units = [units[i] for i in idx]
        labels = labels[idx]
    return bin_events(times, units, labels, **kw)


def make_shd(
    data_dir: str | Path,
    *,
    n_steps: int = 100,
    duration: float = 1.4,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    n_classes: int = 20,
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """SHD binned into ``n_steps`` bins over ``duration`` seconds: (train, validation, test).

    Defaults follow SpyTorch tutorial 4 (100 bins over 1.4 s, 700 channels). The
    validation set is ``val_fraction`` of ``shd_train`` (seeded, stratified). ``limit``
    keeps a seeded random subset of at most that many samples per file. The datasets'
    ``name`` records the release (see :func:`shd_release`).
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise SpikegradInputError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    train_p = find_hdf5_file(data_dir, "shd_train")
    test_p = find_hdf5_file(data_dir, "shd_test")
    gen = torch.Generator().manual_seed(int(seed))
    kw = dict(n_steps=n_steps, duration=duration, n_classes=n_classes)
    full = _load(train_p, limit, gen, name="shd-train", **kw)
    test = _load(test_p, limit, gen, name="shd-test", **kw)
    release = shd_release(_n_samples(train_p), _n_samples(test_p))
    perm = torch.randperm(len(full), generator=gen)
    train, val = split(full.subset(perm), (1 - val_fraction, val_fraction), stratified=True)
    for ds, part in ((train, "train"), (val, "validation"), (test, "test")):
        ds.name = f"shd-{part} [{release}]"
    return train, val, test


def _n_samples(path: Path) -> int:
    with _open(path) as f:
        return int(f["labels"].shape[0])


def make_ssc(
    data_dir: str | Path,
    *,
    n_steps: int = 100,
    duration: float = 1.0,
    seed: int = 0,
    limit: int | None = None,
    n_classes: int = 35,
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """SSC (``ssc_train``, ``ssc_valid``, ``ssc_test``) binned like :func:`make_shd`."""
    gen = torch.Generator().manual_seed(int(seed))
    kw = dict(n_steps=n_steps, duration=duration, n_classes=n_classes)
    parts = []
    for stem in ("ssc_train", "ssc_valid", "ssc_test"):
        parts.append(_load(find_hdf5_file(data_dir, stem), limit, gen, name=stem, **kw))
    return parts[0], parts[1], parts[2]
