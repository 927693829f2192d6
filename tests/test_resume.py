"""Checkpoints and resume: a run killed with SIGKILL mid-epoch resumes to identical results."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.io.checkpoint import load_checkpoint, load_payload

ARGS = [
    "train",
    "--classes",
    "3",
    "--samples-per-class",
    "60",
    "--hidden",
    "24",
    "--epochs",
    "4",
    "--batch-size",
    "8",
    "--lr",
    "0.02",
    "--seed",
    "3",
    "--quiet",
    "--no-plots",
    "--threads",
    "1",
    "--checkpoint-every",
    "1",
]


def _cli(args, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "spikegrad", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        **kw,
    )


def _finish(p, timeout=600):
    _, err = p.communicate(timeout=timeout)
    assert p.returncode == 0, err.decode()


def _result(run):
    m = json.loads((run / "metrics.json").read_text())
    m.pop("wall_seconds")
    hist = [line.split(",")[:-1] for line in (run / "history.csv").read_text().splitlines()]
    last = load_payload(run / "last.pt", "spikegrad-resume-1")
    best = load_checkpoint(run / "checkpoint.pt")
    return m, hist, last["model"], best["state_dict"]


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    _finish(_cli([*ARGS, "--out", str(ref)]))
    p = _cli([*ARGS, "--out", str(killed)])
    deadline = time.time() + 300
    state = None
    while time.time() < deadline:  # wait until the run is inside epoch 2
        try:
            loop = load_payload(killed / "last.pt", "spikegrad-resume-1")["loop"]
            if loop["epoch"] >= 2 and loop["step"] >= 3:
                state = loop
                break
        except SpikegradInputError:
            pass
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert state is not None, "the run never reached epoch 2"
    assert not (killed / "metrics.json").exists()
    _finish(_cli(["train", "--resume", str(killed), "--quiet", "--no-plots", "--threads", "1"]))
    m_ref, h_ref, last_ref, best_ref = _result(ref)
    m_res, h_res, last_res, best_res = _result(killed)
    assert m_res == m_ref
    assert h_res == h_ref
    for k in last_ref:
        assert torch.equal(last_ref[k], last_res[k]), k
        assert torch.equal(best_ref[k], best_res[k]), k


def test_truncated_and_tampered_checkpoints_give_clear_errors(tmp_path):
    from spikegrad.io.checkpoint import save_checkpoint

    path = tmp_path / "c.pt"
    save_checkpoint(path, {"w": torch.ones(3)}, {"a": 1}, 1)
    data = path.read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpikegradInputError, match="corrupt, truncated"):
        load_checkpoint(tmp_path / "trunc.pt")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned > " + str(tmp_path / "pwned"),))

    # a pickle that would run code, with a valid header and checksum: weights_only refuses
    import hashlib
    import io

    from spikegrad.io.checkpoint import MAGIC

    buf = io.BytesIO()
    torch.save({"format": "spikegrad-checkpoint-1", "x": Evil()}, buf)
    body = buf.getvalue()
    (tmp_path / "evil.pt").write_bytes(MAGIC + hashlib.sha256(body).digest() + body)
    with pytest.raises(SpikegradInputError, match="not a safe checkpoint"):
        load_checkpoint(tmp_path / "evil.pt")
    assert not (tmp_path / "pwned").exists()
    torch.save({"format": "other"}, tmp_path / "other.pt")
    with pytest.raises(SpikegradInputError, match="is not a spikegrad checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(SpikegradInputError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")


def test_resume_without_run_folder_files_is_a_clear_error(tmp_path, capsys):
    from spikegrad.cli import main

    assert main(["train", "--resume", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "config.json" in capsys.readouterr().err
