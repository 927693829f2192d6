"""Malformed files at the readers (issue 9, item 4): IDX, SHD/SSC HDF5, checkpoints.

Every file is written by the test with real bytes (or h5py). A truncated file, a wrong
magic number, a wrong dtype code, missing keys or non-finite spike times give ONE clear
:class:`SpikegradInputError` naming the file -- never another exception type, a hang or a
silently wrong dataset.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hostile_support import FAST, one_thread  # noqa: E402, F401
from spikegrad import SpikegradInputError  # noqa: E402
from spikegrad.data.idx import load_idx_images, read_idx  # noqa: E402
from spikegrad.io.checkpoint import load_checkpoint, save_checkpoint  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def _write(folder: Path, name: str, data: bytes) -> Path:
    p = folder / name
    p.write_bytes(data)
    return p


def _names_file(exc: BaseException, path: Path) -> None:
    assert str(path) in str(exc), f"error does not name the file {path}: {exc}"


# ---------------------------------------------------------------------------------------- IDX
IDX_CODES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    header = bytes([0, 0, code, array.ndim]) + b"".join(struct.pack(">I", s) for s in array.shape)
    return header + array.astype(IDX_CODES[code]).tobytes()


@st.composite
def idx_files(draw):
    code = draw(st.sampled_from(sorted(IDX_CODES)))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=1, max_size=3)))
    data = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape) % 100
    return data, code, idx_bytes(data, code)


@FAST
@given(f=idx_files(), gz=st.booleans())
def test_idx_round_trip(tmp_path_factory, f, gz):
    data, code, raw = f
    d = tmp_path_factory.mktemp("idx")
    p = _write(d, "a.gz" if gz else "a", gzip.compress(raw) if gz else raw)
    out = read_idx(p)
    assert out.shape == data.shape and np.array_equal(out.astype(np.float64), data)


@FAST
@given(
    f=idx_files(),
    mutation=st.sampled_from(["truncate", "extend", "magic", "code", "ndim", "huge", "gz"]),
    k=st.integers(0, 10**6),
)
def test_idx_malformed(tmp_path_factory, f, mutation, k):
    data, code, raw = f
    b = bytearray(raw)
    if mutation == "truncate":
        b = b[: k % len(b)]
    elif mutation == "extend":
        b += bytes([k % 256]) * (1 + k % 5)
    elif mutation == "magic":
        b[k % 2] = 1 + k % 255
    elif mutation == "code":
        b[2] = sorted(set(range(256)) - set(IDX_CODES))[k % 250]
    elif mutation == "ndim":
        b[3] = (b[3] + 1 + k % 200) % 256
    elif mutation == "huge":  # a header that claims an absurd size
        b[4 : 4 + 4 * data.ndim] = struct.pack(">I", 2**32 - 1 - k % 7) * data.ndim
    name = "a.gz" if mutation == "gz" else "a"  # not gzip although named .gz
    p = _write(tmp_path_factory.mktemp("idx"), name, bytes(b))
    shape = _idx_shape(bytes(b))
    if shape is not None and mutation != "gz":  # the edit happens to give a valid file
        assert read_idx(p).shape == shape
        return
    with pytest.raises(SpikegradInputError) as info:
        read_idx(p)
    _names_file(info.value, p)
    assert "needs -" not in str(info.value), f"negative byte count: {info.value}"


def _idx_shape(b: bytes) -> tuple | None:
    """Independent reading of the IDX format: the shape if ``b`` is a valid file, else None."""
    if len(b) < 4 or b[0] or b[1] or b[2] not in IDX_CODES:
        return None
    header = 4 + 4 * b[3]
    if len(b) < header:
        return None
    shape = struct.unpack(f">{b[3]}I", b[4:header])
    size = math.prod(shape) * np.dtype(IDX_CODES[b[2]]).itemsize
    return shape if len(b) - header == size else None


def test_idx_gz_truncated(tmp_path):
    raw = idx_bytes(np.zeros((3, 2, 2)), 0x08)
    p = _write(tmp_path, "x.gz", gzip.compress(raw)[:-9])
    with pytest.raises(SpikegradInputError, match="x.gz"):
        read_idx(p)


def _mnist_folder(folder: Path, images: bytes, labels: bytes) -> Path:
    _write(folder, "train-images-idx3-ubyte", images)
    _write(folder, "train-labels-idx1-ubyte", labels)
    return folder


@pytest.mark.parametrize(
    "images, labels, match",
    [
        (idx_bytes(np.zeros((2, 3, 3)), 0x0D), idx_bytes(np.zeros(2), 0x08), "unsigned-byte"),
        (idx_bytes(np.zeros((2, 3, 3)), 0x08), idx_bytes(np.zeros(3), 0x08), "2 images"),
        (idx_bytes(np.zeros((2, 3, 3)), 0x08), idx_bytes(np.full(2, 11), 0x08), "0..9"),
        (idx_bytes(np.zeros((2, 3)), 0x08), idx_bytes(np.zeros(2), 0x08), "dimensions"),
        (idx_bytes(np.zeros((2, 3, 3)), 0x08)[:-1], idx_bytes(np.zeros(2), 0x08), "malformed"),
    ],
)
def test_idx_images_wrong_dtype_and_shapes(tmp_path, images, labels, match):
    folder = _mnist_folder(tmp_path, images, labels)
    with pytest.raises(SpikegradInputError, match=match) as info:
        load_idx_images(folder, "train")
    assert str(folder) in str(info.value)


def test_idx_missing_file_names_folder(tmp_path):
    with pytest.raises(SpikegradInputError, match="missing IDX file"):
        load_idx_images(tmp_path, "train")


# ------------------------------------------------------------------------------------ SHD
def _h5py():
    return pytest.importorskip("h5py")


def write_shd(path: Path, times, units, labels, *, skip=(), replace=None) -> Path:
    """An SHD-layout file; ``skip`` drops keys, ``replace`` maps a key to raw data."""
    h5py = _h5py()
    replace = replace or {}
    with h5py.File(path, "w") as f:
        for key, rows, dt in (
            ("spikes/times", times, np.float64),
            ("spikes/units", units, np.int64),
        ):
            if key in skip:
                continue
            if key in replace:
                f[key] = replace[key]
                continue
            ds = f.create_dataset(key, (len(rows),), dtype=h5py.vlen_dtype(dt))
            for i, r in enumerate(rows):
                ds[i] = np.asarray(r, dtype=dt)
        if "labels" not in skip:
            f["labels"] = replace.get("labels", np.asarray(labels))
    return path


GOOD = ([[0.1, 0.5], [0.2]], [[1, 2], [3]], [0, 1])


def test_shd_good_file(tmp_path):
    from spikegrad.data.shd import read_hdf5_spikes

    p = write_shd(tmp_path / "shd_train.h5", *GOOD)
    times, units, labels = read_hdf5_spikes(p)
    assert [t.tolist() for t in times] == GOOD[0] and labels.tolist() == [0, 1]


@pytest.mark.parametrize("key", ["spikes/times", "spikes/units", "labels"])
def test_shd_missing_key(tmp_path, key):
    from spikegrad.data.shd import read_hdf5_spikes

    p = write_shd(tmp_path / "a.h5", *GOOD, skip=(key,))
    with pytest.raises(SpikegradInputError, match=key) as info:
        read_hdf5_spikes(p)
    _names_file(info.value, p)


BAD_LAYOUTS = {
    "labels scalar": dict(replace={"labels": np.int64(3)}),
    "labels strings": dict(replace={"labels": np.array([b"a", b"b"])}),
    "labels 2-D": dict(replace={"labels": np.zeros((2, 2), dtype=np.int64)}),
    "labels fractional": dict(replace={"labels": np.array([0.5, 1.0])}),
    "labels NaN": dict(replace={"labels": np.array([np.nan, 1.0])}),
    "times strings": dict(replace={"spikes/times": np.array([b"x", b"y"])}),
    "times scalar": dict(replace={"spikes/times": np.float64(1.0)}),
}


@pytest.mark.parametrize("case", sorted(BAD_LAYOUTS))
def test_shd_bad_layout(tmp_path, case):
    from spikegrad.data.shd import read_hdf5_spikes

    p = write_shd(tmp_path / "a.h5", *GOOD, **BAD_LAYOUTS[case])
    with pytest.raises(SpikegradInputError) as info:
        read_hdf5_spikes(p)
    _names_file(info.value, p)


def test_shd_group_instead_of_dataset(tmp_path):
    from spikegrad.data.shd import read_hdf5_spikes

    h5py = _h5py()
    p = tmp_path / "g.h5"
    with h5py.File(p, "w") as f:
        f.create_group("spikes/times")
        f["spikes/units"] = np.array([1])
        f["labels"] = np.array([0])
    with pytest.raises(SpikegradInputError, match="spikes/times") as info:
        read_hdf5_spikes(p)
    _names_file(info.value, p)


@settings(FAST, max_examples=20)
@given(
    bad=st.sampled_from([math.nan, math.inf, -math.inf, 1e300, -1e300]),
    sample=st.integers(0, 1),
)
def test_shd_non_finite_or_absurd_times(tmp_path_factory, bad, sample):
    """A NaN / inf spike time is an error naming the file and sample, never dropped silently."""
    from spikegrad.data.shd import read_hdf5_spikes

    times = [list(t) for t in GOOD[0]]
    times[sample][0] = bad
    p = write_shd(tmp_path_factory.mktemp("shd") / "a.h5", times, GOOD[1], GOOD[2])
    if math.isfinite(bad):  # finite but absurd: out of the window, dropped by binning (documented)
        read_hdf5_spikes(p)
        return
    with pytest.raises(SpikegradInputError, match=f"sample {sample}") as info:
        read_hdf5_spikes(p)
    _names_file(info.value, p)


@settings(FAST, max_examples=25)
@given(cut=st.floats(0.0, 0.99), gz=st.booleans(), junk=st.booleans())
def test_shd_truncated_or_random_bytes(tmp_path_factory, cut, gz, junk):
    from spikegrad.data.shd import read_hdf5_spikes

    d = tmp_path_factory.mktemp("shd")
    raw = write_shd(d / "good.h5", *GOOD).read_bytes()
    data = os.urandom(len(raw)) if junk else raw[: int(cut * len(raw))]
    if gz:
        data = gzip.compress(data)[: None if junk else -5]
    p = _write(d, "bad.h5.gz" if gz else "bad.h5", data)
    with pytest.raises(SpikegradInputError) as info:
        read_hdf5_spikes(p)
    _names_file(info.value, p)


def test_make_shd_rejects_bad_options_and_units(tmp_path):
    from spikegrad.data.shd import make_shd

    n = 20
    times = [[0.1, 0.2]] * n
    write_shd(tmp_path / "shd_test.h5", times, [[1, 2]] * n, np.arange(n) % 2)
    write_shd(tmp_path / "shd_train.h5", times, [[1, 900]] * n, np.arange(n) % 2)
    with pytest.raises(SpikegradInputError, match="units must lie in"):
        make_shd(tmp_path, n_classes=2)
    for kw, name in (
        ({"n_steps": "x"}, "n_steps"),
        ({"duration": math.nan}, "duration"),
        ({"duration": "x"}, "duration"),
    ):
        with pytest.raises((SpikegradInputError, TypeError), match=name):
            make_shd(tmp_path, n_classes=2, **kw)


# ------------------------------------------------------------------------------ checkpoints
def _checkpoint(folder: Path) -> Path:
    p = folder / "checkpoint.pt"
    save_checkpoint(p, {"w": torch.arange(16.0)}, {"lr": 0.1}, 3)
    return p


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # random bytes, on purpose
@FAST
@given(cut=st.floats(0.0, 0.999), junk=st.integers(0, 4096))
def test_checkpoint_truncated_or_random(tmp_path_factory, cut, junk):
    d = tmp_path_factory.mktemp("ckpt")
    raw = _checkpoint(d).read_bytes()
    for data in (raw[: int(cut * len(raw))], os.urandom(junk)):
        p = _write(d, "bad.pt", data)
        with pytest.raises(SpikegradInputError) as info:
            load_checkpoint(p)
        _names_file(info.value, p)


def test_checkpoint_other_payloads(tmp_path):
    for i, obj in enumerate(([1, 2], {"format": "other"}, torch.zeros(2), "text")):
        p = tmp_path / f"o{i}.pt"
        torch.save(obj, p)
        with pytest.raises(SpikegradInputError, match="not a spikegrad checkpoint"):
            load_checkpoint(p)
    with pytest.raises(SpikegradInputError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_checkpoint_tampered_bytes(tmp_path):
    p = _checkpoint(tmp_path)
    raw = p.read_bytes()
    silent = []
    for i in range(0, len(raw), 5):
        b = bytearray(raw)
        b[i] ^= 0x55
        q = _write(tmp_path, "t.pt", bytes(b))
        try:
            c = load_checkpoint(q)
        except SpikegradInputError:
            continue
        same = (
            set(c) >= {"state_dict", "config", "epoch"}
            and torch.equal(c["state_dict"].get("w", torch.zeros(0)), torch.arange(16.0))
            and c["config"] == {"lr": 0.1}
            and c["epoch"] == 3
        )
        if not same:
            silent.append(i)
    assert not silent, f"{len(silent)} tampered byte positions load silently, e.g. {silent[:5]}"
