"""Checkpoints and resume: a run killed with SIGKILL mid-epoch resumes to identical results."""

import json
import os
import signal
import subprocess
import sys

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


# The killed run dies by a real SIGKILL sent by the process to itself right after it
# wrote last.pt at epoch 2, step 3: deterministic, where polling last.pt from outside
# raced the (now very fast) training and could miss the window entirely.
_KILL_AT_2_3 = """
import os, signal, sys
import spikegrad.learning.trainer as bptt
save = bptt._save_last
def save_then_die(path, st, *rest):
    save(path, st, *rest)
    if st.epoch == 2 and st.step == 3:
        os.kill(os.getpid(), signal.SIGKILL)
bptt._save_last = save_then_die
from spikegrad.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    _finish(_cli([*ARGS, "--out", str(ref)]))
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    p = subprocess.run(
        [sys.executable, "-c", _KILL_AT_2_3, *ARGS, "--out", str(killed)],
        env=env,
        capture_output=True,
        timeout=600,
    )
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()
    state = load_payload(killed / "last.pt", "spikegrad-resume-1")["loop"]
    assert (state["epoch"], state["step"]) == (2, 3)
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
