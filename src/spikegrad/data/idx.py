"""MNIST / Fashion-MNIST from the standard IDX files, latency coded. Never downloads.

IDX layout (big-endian): two zero bytes, a type code (``0x08`` = unsigned byte), the number
of dimensions ``d``, then ``d`` 32-bit sizes, then the data. Images are ``idx3`` (``[N, 28,
28]``), labels ``idx1`` (``[N]``). Both MNIST and Fashion-MNIST ship the files::

    train-images-idx3-ubyte[.gz]  train-labels-idx1-ubyte[.gz]
    t10k-images-idx3-ubyte[.gz]   t10k-labels-idx1-ubyte[.gz]

in a folder the user names. The validation set is the last ``val_fraction`` of the
training set after a seeded, class-stratified shuffle; the test set is ``t10k``.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import torch

from .._checks import SpikegradInputError
from .encoding import latency_encode
from .spikes import SpikeDataset, split

__all__ = ["read_idx", "find_idx_file", "load_idx_images", "make_mnist", "IDX_FILES"]

_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

#: part -> (images stem, labels stem)
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path, expect_dims: int | None = None) -> np.ndarray:
    """Read one IDX file (plain or ``.gz``) into a numpy array.

    Raises
    ------
    SpikegradInputError
        If the file is missing, not gzip although named ``.gz``, has a bad magic number,
        the wrong number of dimensions, or a data size that does not match its header;
        the message names the file and what was expected.
    """
    path = Path(path)
    if not path.is_file():
        raise SpikegradInputError(f"IDX file {str(path)!r} does not exist")
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                raw = f.read()
        else:
            raw = path.read_bytes()
    except (OSError, EOFError) as exc:
        raise SpikegradInputError(
            f"cannot read IDX file {str(path)!r}: {exc} (expected a gzip-compressed IDX file)"
        ) from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise SpikegradInputError(
            f"{str(path)!r} is not an IDX file: expected a header 00 00 <type> <ndim> with "
            f"type one of {', '.join(hex(t) for t in _DTYPES)}, got {raw[:4].hex(' ') or 'nothing'}"
        )
    ndim = raw[3]
    if expect_dims is not None and ndim != expect_dims:
        raise SpikegradInputError(
            f"IDX file {str(path)!r} has {ndim} dimensions, expected {expect_dims}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise SpikegradInputError(
            f"IDX file {str(path)!r} is truncated: the header needs {header} bytes, "
            f"the file has {len(raw)}"
        )
    shape = tuple(int.from_bytes(raw[4 + 4 * k : 8 + 4 * k], "big") for k in range(ndim))
    dtype = _DTYPES[raw[2]]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: no overflow for huge headers
    if len(raw) - header != expected:
        raise SpikegradInputError(
            f"IDX file {str(path)!r} is malformed: header shape {shape} needs {expected} data "
            f"bytes, found {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def find_idx_file(folder: str | Path, stem: str) -> Path:
    """``folder/stem`` or ``folder/stem.gz`` (also the ``stem.idx3-ubyte`` spelling)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SpikegradInputError(f"data folder {str(folder)!r} does not exist or is not a folder")
    alt = stem.replace("-idx", ".idx")
    for name in (stem, stem + ".gz", alt, alt + ".gz"):
        p = folder / name
        if p.is_file():
            return p
    raise SpikegradInputError(
        f"missing IDX file {stem}[.gz] in {str(folder)!r} (expected the standard MNIST / "
        f"Fashion-MNIST files {', '.join(s for pair in IDX_FILES.values() for s in pair)}; "
        "spikegrad never downloads them)"
    )


def load_idx_images(folder: str | Path, part: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, H, W]`` (uint8) and labels ``[N]`` of one part (``train``/``test``)."""
    if part not in IDX_FILES:
        raise SpikegradInputError(f"part must be one of {sorted(IDX_FILES)}, got {part!r}")
    img_path = find_idx_file(folder, IDX_FILES[part][0])
    lab_path = find_idx_file(folder, IDX_FILES[part][1])
    images = read_idx(img_path, expect_dims=3)
    labels = read_idx(lab_path, expect_dims=1)
    if images.dtype != np.uint8 or labels.dtype != np.uint8:
        raise SpikegradInputError(
            f"expected unsigned-byte IDX files, got {images.dtype} ({img_path}) and "
            f"{labels.dtype} ({lab_path})"
        )
    if len(images) != len(labels):
        raise SpikegradInputError(
            f"{str(img_path)!r} holds {len(images)} images but {str(lab_path)!r} holds "
            f"{len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise SpikegradInputError(
            f"labels in {str(lab_path)!r} must be 0..9, found {int(labels.max())}"
        )
    return images, labels


def make_mnist(
    data_dir: str | Path,
    *,
    theta: float = 0.2,
    tau_eff: float = 20.0,
    n_steps: int = 100,
    val_fraction: float = 0.1,
    seed: int = 0,
    limit: int | None = None,
    name: str = "mnist",
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """Latency-coded MNIST (or Fashion-MNIST: same files) as (train, validation, test).

    Parameters
    ----------
    data_dir:
        Folder with the four IDX files (plain or gzipped).
    theta, tau_eff, n_steps:
        Latency code; pixel intensities are ``byte / 255``.
    val_fraction:
        Part of the training files held out for validation (stratified, seeded).
    seed:
        Seed of the shuffle before the train/validation split.
    limit:
        Use at most this many training and this many test images (quick runs).
    """
    if not 0.0 < float(val_fraction) < 1.0:
        raise SpikegradInputError(f"val_fraction must lie in (0, 1), got {val_fraction!r}")
    code = dict(theta=theta, tau_eff=tau_eff, n_steps=n_steps)
    out = {}
    gen = torch.Generator().manual_seed(int(seed))
    for part in ("train", "test"):
        images, labels = load_idx_images(data_dir, part)
        x = torch.from_numpy(images.reshape(len(images), -1).astype(np.float64) / 255.0)
        y = torch.from_numpy(labels.astype(np.int64))
        idx = torch.randperm(len(y), generator=gen) if part == "train" else torch.arange(len(y))
        if limit is not None:
            idx = idx[: int(limit)]
        out[part] = latency_encode(x[idx], y[idx], 10, name=f"{name}-{part}", **code)
    train, val = split(out["train"], (1.0 - val_fraction, val_fraction), stratified=True)
    return train, val, out["test"]
