"""Latency code, sklearn digits and the IDX (MNIST / Fashion-MNIST) reader."""

import gzip
import struct

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.encoding import latency_encode, latency_steps
from spikegrad.data.idx import make_mnist, read_idx
from spikegrad.data.registry import load_dataset


def test_latency_hand_checked_values():
    # 20 ln(1/0.8) = 4.46 -> 4 ; 20 ln(0.21/0.01) = 60.89 -> 60 ; x <= theta silent
    t = latency_steps(torch.tensor([1.0, 0.21, 0.2, 0.0, 0.5]))
    assert t.tolist() == [4, 60, -1, -1, int(np.floor(20 * np.log(0.5 / 0.3)))]


def test_latency_drops_spikes_past_the_trial():
    # just above theta the latency exceeds 100 steps: no spike inside the trial
    assert latency_steps(torch.tensor([0.2001]), n_steps=100).item() == -1
    assert latency_steps(torch.tensor([0.2001]), n_steps=1000).item() == 152


def test_latency_rejects_out_of_range():
    with pytest.raises(SpikegradInputError, match=r"\[0, 1\]"):
        latency_steps(torch.tensor([1.5]))
    with pytest.raises(SpikegradInputError, match="tau_eff"):
        latency_steps(torch.tensor([0.5]), tau_eff=0)


def test_latency_encode_one_spike_per_pixel_at_most():
    x = torch.tensor([[1.0, 0.21, 0.0], [0.5, 0.1, 1.0]])
    ds = latency_encode(x, torch.tensor([0, 1]))
    dense = ds.dense()  # [T, B, C]
    assert dense.shape == (100, 2, 3)
    assert dense.sum(0).tolist() == [[1, 1, 0], [1, 0, 1]]
    assert dense[4, 0, 0] == 1 and dense[60, 0, 1] == 1


def test_digits_dataset():
    pytest.importorskip("sklearn")
    tr, va, te = load_dataset("digits", seed=0)
    assert len(tr) + len(va) + len(te) == 1797
    assert tr.n_units == 64 and tr.n_steps == 100 and tr.n_classes == 10
    # at most one spike per pixel
    assert int(tr.dense().sum(0).max()) == 1
    # seeded: same split twice, another seed differs
    tr2, _, _ = load_dataset("digits", seed=0)
    assert torch.equal(tr.times, tr2.times) and torch.equal(tr.labels, tr2.labels)
    tr3, _, _ = load_dataset("digits", seed=1)
    assert not torch.equal(tr.labels, tr3.labels)


def _idx_bytes(arr: np.ndarray) -> bytes:
    return (
        bytes([0, 0, 0x08, arr.ndim])
        + struct.pack(">" + "I" * arr.ndim, *arr.shape)
        + (arr.astype(np.uint8).tobytes())
    )


def _write_mnist(folder, n_train=40, n_test=20, gz=False, seed=0):
    rng = np.random.default_rng(seed)
    files = {}
    for part, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        images = np.zeros((n, 28, 28), np.uint8)
        for i, lab in enumerate(labels):  # class k: one bright pixel row k
            images[i, lab, :] = 255
            images[i, 20, rng.integers(0, 28)] = 60  # 60/255 = 0.235 > theta
        files[f"{part}-images-idx3-ubyte"] = _idx_bytes(images)
        files[f"{part}-labels-idx1-ubyte"] = _idx_bytes(labels)
    for name, data in files.items():
        if gz:
            with gzip.open(folder / (name + ".gz"), "wb") as f:
                f.write(data)
        else:
            (folder / name).write_bytes(data)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_from_idx_files(tmp_path, gz):
    _write_mnist(tmp_path, gz=gz)
    tr, va, te = load_dataset("mnist", data_dir=str(tmp_path), val_fraction=0.25)
    assert (len(tr), len(va), len(te)) == (30, 10, 20)
    assert tr.n_units == 784 and tr.n_classes == 10
    x = te.dense()  # [T, B, 784]
    # sample 3 of the test part has label 3: row 3 lit at 255 -> step 4
    assert int(te.labels[3]) == 3
    img = x[:, 3].reshape(100, 28, 28)
    assert img[4, 3].sum() == 28
    t_dim = int(np.floor(20 * np.log((60 / 255) / (60 / 255 - 0.2))))
    assert img[t_dim, 20].sum() == 1
    assert int(x.sum()) == 20 * 29


def test_fashion_mnist_same_layout(tmp_path):
    _write_mnist(tmp_path)
    tr, va, te = load_dataset("fashion-mnist", data_dir=tmp_path, limit=20, val_fraction=0.5)
    assert len(tr) + len(va) == 20 and len(te) == 20 and "fashion" in te.name


def test_idx_missing_file_names_it(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(SpikegradInputError, match="t10k-labels-idx1-ubyte"):
        make_mnist(tmp_path)


def test_idx_needs_data_dir():
    with pytest.raises(SpikegradInputError, match="data_dir"):
        load_dataset("mnist")


def test_idx_malformed_files(tmp_path):
    bad = tmp_path / "x-idx3-ubyte"
    bad.write_bytes(b"\x01\x02\x03")
    with pytest.raises(SpikegradInputError, match="x-idx3-ubyte.*not an IDX file"):
        read_idx(bad)
    trunc = tmp_path / "t-idx1-ubyte"
    trunc.write_bytes(_idx_bytes(np.arange(10))[:-3])
    with pytest.raises(SpikegradInputError, match="t-idx1-ubyte.*needs 10 data bytes, found 7"):
        read_idx(trunc)
    notgz = tmp_path / "n-idx1-ubyte.gz"
    notgz.write_bytes(_idx_bytes(np.arange(10)))
    with pytest.raises(SpikegradInputError, match="n-idx1-ubyte.gz.*gzip"):
        read_idx(notgz)
    with pytest.raises(SpikegradInputError, match="3 dimensions, expected 1"):
        read_idx_ok = tmp_path / "ok-idx3-ubyte"
        read_idx_ok.write_bytes(_idx_bytes(np.zeros((2, 3, 3))))
        read_idx(read_idx_ok, expect_dims=1)


def test_idx_image_label_count_mismatch(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(_idx_bytes(np.arange(5) % 10))
    with pytest.raises(SpikegradInputError, match="40 images but .* 5 labels"):
        make_mnist(tmp_path)


def test_train_cli_accepts_registry_datasets(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from spikegrad.cli import main

    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--dataset",
            "digits",
            "--data-limit",
            "200",
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--quiet",
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    import json

    cfg = json.loads((out / "config.json").read_text())
    assert cfg["dataset"] == "digits" and cfg["dataset_options"]["limit"] == 200
    assert main(["train", "--dataset", "mnist", "--quiet", "--out", str(out)]) == 2
    assert "--data-dir" in capsys.readouterr().err
    _write_mnist(tmp_path, n_train=100)
    rc = main(
        [
            "train",
            "--dataset",
            "mnist",
            "--data-dir",
            str(tmp_path),
            "--hidden",
            "8",
            "--epochs",
            "1",
            "--batch-size",
            "50",
            "--quiet",
            "--no-plots",
            "--out",
            str(tmp_path / "m"),
        ]
    )
    assert rc == 0
    assert json.loads((tmp_path / "m" / "metrics.json").read_text())["epochs"] == 1
