"""SHD / SSC HDF5 loading on small files written in the published layout."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.shd import bin_events, hdf5_file_info, make_shd, make_ssc, shd_release

h5py = pytest.importorskip("h5py")


def _write(path, times, units, labels):
    with h5py.File(path, "w") as f:
        vt = h5py.vlen_dtype(np.dtype("float32"))
        vu = h5py.vlen_dtype(np.dtype("uint16"))
        t = f.create_dataset("spikes/times", (len(times),), dtype=vt)
        u = f.create_dataset("spikes/units", (len(units),), dtype=vu)
        for i, (a, b) in enumerate(zip(times, units, strict=True)):
            t[i] = np.asarray(a, np.float32)
            u[i] = np.asarray(b, np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint8))
        f.create_dataset("extra/speaker", data=np.zeros(len(labels), np.uint8))


def _make_files(folder, n_train=80, n_test=10, prefix="shd"):
    rng = np.random.default_rng(0)
    for part, n in (("train", n_train), ("test", n_test)):
        times, units = [], []
        for _ in range(n):
            k = rng.integers(5, 30)
            times.append(np.sort(rng.uniform(0, 1.6, k)))  # some past 1.4 s
            units.append(rng.integers(0, 700, k))
        _write(folder / f"{prefix}_{part}.h5", times, units, np.arange(n) % 20)


def test_binning_counts_and_drops_late_events():
    times = [np.array([0.0, 0.0139, 0.014, 0.0141, 1.3999, 1.4, 2.0])]
    units = [np.array([3, 3, 3, 5, 699, 1, 1])]
    ds = bin_events(times, units, np.array([2]), n_steps=100, duration=1.4, n_classes=20)
    x = ds.dense()  # [T, 1, 700]
    assert x.shape == (100, 1, 700)
    assert x[0, 0, 3] == 2  # 0.0 and 0.0139 share bin 0: counted, not clipped
    assert x[1, 0, 3] == 1 and x[1, 0, 5] == 1
    assert x[99, 0, 699] == 1
    assert int(x.sum()) == 5  # t = 1.4 and 2.0 are past the window


def test_binning_rejects_bad_units():
    with pytest.raises(SpikegradInputError, match=r"units must lie in \[0, 700\)"):
        bin_events([np.array([0.1])], [np.array([700])], np.array([0]), n_steps=10, duration=1.0)


def test_make_shd_from_small_files(tmp_path):
    _make_files(tmp_path)
    tr, va, te = make_shd(tmp_path, n_steps=50, duration=1.4, val_fraction=0.25, seed=1)
    assert (len(tr), len(va), len(te)) == (60, 20, 10)
    assert tr.n_units == 700 and tr.n_steps == 50 and tr.n_classes == 20
    assert "unknown release (80 train / 10 test)" in tr.name
    # every kept event is one raw event before 1.4 s
    with h5py.File(tmp_path / "shd_test.h5") as f:
        raw = sum(int((np.asarray(t) < 1.4).sum()) for t in f["spikes/times"][:])
    assert te.spike_count() == raw
    # sparse storage: events, not dense tensors
    assert te.times.numel() == raw


def test_make_shd_reads_gzipped_files(tmp_path):
    _make_files(tmp_path)
    for part in ("train", "test"):
        src = tmp_path / f"shd_{part}.h5"
        with open(src, "rb") as fi, gzip.open(str(src) + ".gz", "wb") as fo:
            shutil.copyfileobj(fi, fo)
        src.unlink()
    tr, va, te = make_shd(tmp_path, limit=60, val_fraction=0.5)
    assert len(tr) + len(va) == 60 and len(te) == 10


def test_release_and_file_record(tmp_path):
    assert shd_release(8156, 2264).startswith("current")
    assert shd_release(8332, 2088).startswith("earlier")
    _make_files(tmp_path)
    info = hdf5_file_info(tmp_path / "shd_train.h5")
    assert info["samples"] == 80 and len(info["sha256"]) == 64


def test_shd_errors_name_the_file(tmp_path):
    with pytest.raises(SpikegradInputError, match="shd_train.h5"):
        make_shd(tmp_path)
    _make_files(tmp_path)
    with h5py.File(tmp_path / "shd_test.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(3, np.uint8))
    with pytest.raises(SpikegradInputError, match="shd_test.h5.*spikes/times"):
        make_shd(tmp_path)
    (tmp_path / "shd_test.h5").write_bytes(b"not hdf5")
    with pytest.raises(SpikegradInputError, match="shd_test.h5.*HDF5"):
        make_shd(tmp_path)


def test_ssc_three_files(tmp_path):
    _make_files(tmp_path, prefix="ssc")
    (tmp_path / "ssc_test.h5").rename(tmp_path / "ssc_valid.h5")
    _make_files(tmp_path / ".." / tmp_path.name, prefix="ssc")  # rewrites train and test
    tr, va, te = make_ssc(tmp_path, n_classes=35)
    assert (len(tr), len(va), len(te)) == (80, 10, 10) and tr.n_classes == 35
    assert torch.all(tr.times < 100)


def test_registry_shd(tmp_path):
    from spikegrad.data.registry import load_dataset

    _make_files(tmp_path)
    tr, _, _ = load_dataset("shd", data_dir=str(tmp_path), n_steps=20, val_fraction=0.5)
    assert tr.n_steps == 20
    with pytest.raises(SpikegradInputError, match="data_dir"):
        load_dataset("shd")
