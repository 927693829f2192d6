"""Atomic writes: a failed write leaves neither a temp file nor a changed target, and the
data is fsync'ed before the rename (mutation survivors io-tmp-left-on-error, io-no-fsync)."""

import os

import pytest

from spikegrad.io import checkpoint as ck


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp(tmp_path):
    p = tmp_path / "a.bin"
    p.write_bytes(b"old")

    def boom(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        ck._atomic_write(p, boom)
    assert p.read_bytes() == b"old"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["a.bin"]


def test_atomic_write_fsyncs_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"),
                                                     real_replace(a, b))[1])  # fmt: skip
    ck.atomic_write_text(tmp_path / "t.txt", "hello")
    assert calls == ["fsync", "replace"]
    assert (tmp_path / "t.txt").read_text() == "hello"
    assert [x.name for x in tmp_path.iterdir()] == ["t.txt"]


@pytest.mark.parametrize("epoch", [1.5, "3", None, True])
def test_a_checkpoint_whose_epoch_is_not_an_integer_is_refused(tmp_path, epoch):
    """A payload in the checkpoint format with a non-integer epoch (written with a valid
    checksum) is refused in one line naming the epoch."""
    import torch

    from spikegrad._checks import SpikegradInputError
    from spikegrad.io.checkpoint import load_checkpoint, save_payload

    path = tmp_path / "checkpoint.pt"
    save_payload(path, {"format": "spikegrad-checkpoint-1", "state_dict": {"w": torch.ones(2)},
                        "config": {}, "epoch": epoch})
    with pytest.raises(SpikegradInputError, match="epoch must be an integer"):
        load_checkpoint(path)
