"""Fault tests: SIGKILL at chosen points, a killed sweep driver, two sweeps, a full disk.

Each fault ends with nothing lost and the same final result as an uninterrupted run:

* the trainer killed (SIGKILL, in a subprocess) in the middle of writing ``last.pt``,
  between two epochs (history written, ``last.pt`` not yet) and after early stopping
  (``last.pt`` says done, ``metrics.json`` not yet written); then resumed in this process
  on another thread count (the killed process ran 2 torch / numba threads, the resume 1);
* a sweep driver killed alone while its two workers train: the workers end, a second
  sweep on the folder is refused while the first holds it, and a restart finishes with
  the results of an uninterrupted sweep;
* a full disk (a file-size limit, ``RLIMIT_FSIZE``): one error line, exit code 1, every
  finished result intact, and the next start completes the sweep.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from hostile_support import run_cli
from spikegrad.experiments.config import SweepSpec
from spikegrad.experiments.sweep import load_results, run_sweep
from spikegrad.io.checkpoint import load_payload
from spikegrad.learning.config import TrainConfig, train

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals, prctl and rlimits")

SRC = str(Path(__file__).resolve().parents[1] / "src")

#: 72 training samples in batches of 20: 4 steps per epoch, last.pt every 2 steps and at
#: each epoch end; patience 2 stops this seed after epoch 3 of 8
CONFIG = {
    "epochs": 8,
    "patience": 2,
    "hidden": [8],
    "batch_size": 20,
    "checkpoint_every": 2,
    "init": "fluctuation",
    "dataset_options": {"n_classes": 3, "n_units": 10, "samples_per_class": 30, "seed": 0},
}

KILLER = textwrap.dedent(
    """
    import io, os, signal, sys
    import spikegrad.io.checkpoint as ck
    from spikegrad.io.run import RunFolder
    from spikegrad.kernels import set_num_threads
    from spikegrad.learning.config import TrainConfig, train
    import json
    where, out = sys.argv[1], sys.argv[2]
    set_num_threads(2)
    def die():
        os.kill(os.getpid(), signal.SIGKILL)
    writes = [0]
    original = ck._atomic_write
    def atomic_write(path, write):
        if where == "mid-write" and path.name == "last.pt":
            writes[0] += 1
            if writes[0] == 3:  # the 3rd last.pt: half of it on disk, then killed
                def half(f):
                    buf = io.BytesIO()
                    write(buf)
                    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                    die()
                return original(path, half)
        return original(path, write)
    ck._atomic_write = atomic_write
    def callback(stats):
        if where == "between-epochs" and stats.epoch == 2:
            die()  # history.csv has epoch 2, last.pt still holds mid-epoch 2
    if where == "after-early-stop":
        RunFolder.write_metrics = lambda self, m: die()
    cfg = TrainConfig.from_dict(json.loads(os.environ["FAULT_CONFIG"]))
    train(cfg, out_dir=out, progress=False, plots=False, callback=callback)
    """
)


def _env(**extra) -> dict:
    env = {**os.environ, "PYTHONPATH": SRC, "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2"}
    env.update(extra)
    return env


def _same_run(a: Path, b: Path) -> None:
    """Two run folders hold the same results: metrics, history, best and last weights."""
    ma, mb = (json.loads((d / "metrics.json").read_text()) for d in (a, b))
    for k in ("test_accuracy", "test_loss", "val_accuracy", "val_loss", "train_accuracy",
              "train_loss", "best_epoch", "epochs"):  # fmt: skip
        assert ma[k] == mb[k], k
    ha, hb = ((d / "history.csv").read_text().splitlines() for d in (a, b))
    assert [r.rsplit(",", 1)[0] for r in ha] == [r.rsplit(",", 1)[0] for r in hb]  # not seconds
    for name, fmt, key in (
        ("checkpoint.pt", "spikegrad-checkpoint-1", "state_dict"),
        ("last.pt", "spikegrad-resume-1", "model"),
    ):
        sa, sb = (load_payload(d / name, fmt)[key] for d in (a, b))
        assert sa.keys() == sb.keys()
        for k in sa:
            assert torch.equal(sa[k], sb[k]), (name, k)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run, on one thread."""
    out = tmp_path_factory.mktemp("reference") / "run"
    res = train(TrainConfig.from_dict(CONFIG), out_dir=out, progress=False, plots=False)
    assert res.metrics["epochs"] == 3 < CONFIG["epochs"]  # early stopping happened
    return out


@pytest.mark.parametrize("where", ["mid-write", "between-epochs", "after-early-stop"])
def test_trainer_killed_then_resumed_on_another_thread_count(where, reference, tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-c", KILLER, where, str(out)],
        env=_env(FAULT_CONFIG=json.dumps(CONFIG)),
        capture_output=True,
        timeout=300,
    )
    assert r.returncode == -signal.SIGKILL, r.stderr.decode()[-2000:]
    assert not (out / "metrics.json").exists()
    load_payload(out / "last.pt", "spikegrad-resume-1")  # the last complete state, intact
    if where == "mid-write":
        assert list(out.glob(".last.pt.*.tmp"))  # the half-written file never replaced it
    res = train(TrainConfig.from_dict(CONFIG), out_dir=out, progress=False, plots=False,
                resume=True)  # fmt: skip
    assert not res.already_finished
    assert not list(out.glob(".*.tmp"))  # the interrupted write's leftover is cleared
    _same_run(out, reference)
    again = train(TrainConfig.from_dict(CONFIG), out_dir=out, progress=False, plots=False,
                  resume=True)  # fmt: skip
    assert again.already_finished and again.metrics == res.metrics


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


SWEEP_BASE = {**CONFIG, "patience": 0, "epochs": 3, "checkpoint_every": 1}


def test_sweep_driver_killed_alone_workers_end_and_restart_completes(tmp_path, capsys):
    # 12 epochs: long enough runs that the kill below lands while runs remain (with 3
    # epochs an idle machine finished all three during the two refused commands)
    base = {**SWEEP_BASE, "epochs": 12}
    spec = {"name": "kill", "base": base, "grid": {"seed": [0, 1, 2]}}
    plain = {k: v for k, v in base.items() if k != "dataset_options"}
    toml = tmp_path / "g.toml"
    toml.write_text(
        "name = 'kill'\n[base]\n"
        + "".join(f"{k} = {json.dumps(v)}\n" for k, v in plain.items())
        + "dataset_options = { n_classes = 3, n_units = 10, samples_per_class = 30, seed = 0 }\n"
        + "[grid]\nseed = [0, 1, 2]\n"
    )
    out = tmp_path / "sweep"
    cmd = [sys.executable, "-m", "spikegrad", "sweep", str(toml), "--out", str(out),
           "--workers", "2", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(
        cmd, env=_env(OMP_NUM_THREADS="1"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.time() + 120
    while time.time() < deadline and not list(out.glob("work/*/last.pt")):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    workers = _children(proc.pid)
    assert workers, "the sweep should have worker processes"
    # a second sweep on the folder is refused while the first holds it
    rc, _, err = run_cli([*cmd[3:]], capsys)
    assert rc == 2 and "in use by another spikegrad sweep" in err and f"pid {proc.pid}" in err
    # the sweep's lock is every command's run-folder lock: a train into it is refused too
    rc, _, err = run_cli(["train", "--out", str(out), "--epochs", "1"], capsys)
    assert rc == 2 and "in use by another spikegrad train" in err and f"pid {proc.pid}" in err
    os.kill(proc.pid, signal.SIGKILL)  # the driver alone, not its process group
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.1)
    assert not any(_alive(w) for w in workers), "workers outlived their driver"
    before = {p.name: p.read_bytes() for p in out.glob("runs/*.json")}
    in_flight = list(out.glob("work/*/last.pt"))
    assert len(before) < 3 and in_flight  # killed part-way, with runs to resume mid-run
    rc, stdout, err = run_cli([*cmd[3:]], capsys)  # restart (in this process, serial)
    assert rc == 0, err
    assert f"3 runs: {len(before)} already finished" in stdout
    for name, data in before.items():  # nothing redone or lost
        assert (out / "runs" / name).read_bytes() == data
    assert not list(out.glob("work/*"))  # run folders are removed once recorded
    ref = run_sweep(SweepSpec.from_dict(spec).expand(), tmp_path / "ref", progress=False)
    got = {r["run_id"]: r for r in load_results(out)}
    for r in load_results(ref.out_dir):
        g = got[r["run_id"]]
        assert g["history"] == r["history"]
        for k in ("test_accuracy", "val_accuracy", "train_accuracy", "test_loss", "best_epoch"):
            assert g["metrics"][k] == r["metrics"][k], k


def _limit_file_size(limit: int):
    def preexec() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_full_disk_stops_with_one_message_and_keeps_finished_results(tmp_path):
    out = tmp_path / "sweep"
    small = SweepSpec.from_dict({"name": "small", "base": {**SWEEP_BASE, "epochs": 1}})
    first = run_sweep(small.expand(), out, progress=False)
    assert first.finished == 1
    kept = {p: p.read_bytes() for p in out.glob("runs/*.json")}
    # a wider network: its last.pt (~60 kB) exceeds a 32 kB file-size limit
    cmd = [sys.executable, "-m", "spikegrad", "sweep", "--set", "epochs=1", "--set",
           "hidden=[256]", "--set", "batch_size=20", "--set",
           "dataset_options={n_classes=3,n_units=10,samples_per_class=30,seed=0}",
           "--out", str(out), "--quiet"]  # fmt: skip
    r = subprocess.run(
        cmd, env=_env(), capture_output=True, text=True, timeout=300,
        preexec_fn=_limit_file_size(32_000),
    )  # fmt: skip
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "disk is full" in lines[0], r.stderr
    for p, data in kept.items():  # the finished result is intact
        assert p.read_bytes() == data
    assert load_results(out) and len(load_results(out)) == 1
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].startswith(small.expand()[0].run_id)
    r = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert len(load_results(out)) == 2
    # results.csv keeps the first grid's row next to the second's
    assert len((out / "results.csv").read_text().splitlines()) == 3


# -- run-folder locks: every command that writes a run folder refuses a second writer ----

HOLDER = textwrap.dedent(
    """
    import sys, time
    from spikegrad.io.run import lock_run_folder
    lock_run_folder(sys.argv[1], "train")
    print("held", flush=True)
    time.sleep(120)
    """
)

#: one command line per run-folder writer; {out} is the folder another process holds
LOCKED_WRITERS = [
    "train --epochs 1 --out {out}",
    "train --resume {out}",
    "compare --epochs 1 --out {out}",
    "reproduce zenke-vogels --profile smoke --out {out}",
    "perturb --iterations 1 --out {out}",
    "spiketrain --epochs 1 --out {out}",
    "stream --task sea --samples 10 --out {out}",
    "symmetry --demo --scenes 1 --out {out}",
]


@pytest.fixture
def held_folder(tmp_path):
    """A run folder whose lock another process holds; yields (folder, holder pid)."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")  # so `train --resume` reaches the lock
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], env=_env(),
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout.readline().strip() == "held"
        yield out, proc.pid
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("line", LOCKED_WRITERS, ids=[c.split(" --")[0] for c in LOCKED_WRITERS])
def test_second_writer_of_a_run_folder_is_refused_at_once(line, held_folder, capsys):
    out, pid = held_folder
    before = sorted(p.name for p in out.iterdir())
    t0 = time.monotonic()
    rc, _, err = run_cli(line.format(out=out).split(), capsys)
    assert rc == 2, err[-800:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "in use" in lines[0] and f"pid {pid}" in lines[0], err
    assert time.monotonic() - t0 < 30
    assert sorted(p.name for p in out.iterdir()) == before  # nothing written


def test_data_generation_refuses_a_held_folder(held_folder, capsys, monkeypatch):
    import spikegrad.data.spoken_digits as sd

    out, pid = held_folder
    monkeypatch.setattr(sd, "require_espeak", lambda: None)
    rc, _, err = run_cli(["data", "spoken-digits", "--out", str(out)], capsys)
    assert rc == 2 and f"pid {pid}" in err and len(err.strip().splitlines()) == 1, err


def test_lock_is_released_when_the_command_ends(tmp_path, capsys):
    from spikegrad.io.run import _HELD, lock_run_folder, release_run_folders

    lock_run_folder(tmp_path / "a", "train")
    lock_run_folder(tmp_path / "a", "train")  # the same process: no-op
    assert len(_HELD) == 1
    release_run_folders()
    assert not _HELD
    holder = HOLDER.replace("time.sleep(120)", "")
    r = subprocess.run([sys.executable, "-c", holder, str(tmp_path / "a")],
                       env=_env(), capture_output=True, text=True)  # fmt: skip
    assert r.returncode == 0 and "held" in r.stdout, r.stderr


# -- a full disk during train / encode-audio: one line, no leftover, advice that works ---

TRAIN_LINE = ["train", "--epochs", "1", "--hidden", "256", "--batch-size", "20", "--units", "10",
              "--classes", "3", "--samples-per-class", "30", "--init", "fluctuation", "--quiet",
              "--no-plots"]  # fmt: skip


def _disk_full_once(cmd: list[str], cwd: Path, limit: int = 32_000) -> str:
    """Run ``spikegrad cmd`` under a file-size limit; return its one stderr line."""
    r = subprocess.run([sys.executable, "-m", "spikegrad", *cmd], env=_env(), cwd=cwd,
                       capture_output=True, text=True, timeout=300,
                       preexec_fn=_limit_file_size(limit))  # fmt: skip
    assert r.returncode == 1, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.strip().splitlines() if "warning:" not in ln]
    assert len(lines) == 1 and "error: the disk is full" in lines[0], r.stderr
    return lines[0]


def _follow(advice: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command an error line advises (``... run: spikegrad ARGS``)."""
    import shlex

    assert "run: spikegrad " in advice, advice
    args = shlex.split(advice.split("run: spikegrad ", 1)[1])
    return subprocess.run([sys.executable, "-m", "spikegrad", *args], env=_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_train_on_a_full_disk_advises_a_resume_that_works(tmp_path):
    """Before: "run the same command again", which was then refused, and so was --resume."""
    line = _disk_full_once([*TRAIN_LINE, "--out", "run"], tmp_path)
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    r = _follow(line, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ref = subprocess.run([sys.executable, "-m", "spikegrad", *TRAIN_LINE, "--out", "ref"],
                         env=_env(), cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-2000:]
    # the recovered run is the run an ample disk gives
    assert metrics["test_accuracy"] == json.loads(
        (tmp_path / "ref" / "metrics.json").read_text())["test_accuracy"]


def test_encode_audio_on_a_full_disk_one_line_no_leftover_then_same_command(tmp_path):
    """Before: h5py close-time tracebacks (and a crash) and a leftover OUT.h5.tmp."""
    wav = Path(__file__).parent / "data" / "audio" / "en_one.wav"
    cmd = ["encode-audio", str(wav), str(wav), str(wav), "--out", "o.h5", "--quiet"]
    for limit in (8_000, 60_000):  # full at the first write / in the middle of the file
        line = _disk_full_once(cmd, tmp_path, limit)
        assert "run the same command again" in line
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    r = subprocess.run([sys.executable, "-m", "spikegrad", *cmd], env=_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)  # fmt: skip
    assert r.returncode == 0 and (tmp_path / "o.h5").is_file(), r.stderr[-2000:]


# -- a full disk during every other writer: one line, no partial file, advice that works --

#: (command line, the metric key a run on an ample disk must reproduce, files of a finished
#: run); each writes its first file past a 3 kB file-size limit
FULL_DISK_WRITERS = [
    (["stream", "--task", "sea", "--samples", "200", "--print-every", "0"], "accuracy",
     ["metrics.json", "history.csv", "table.csv"]),
    (["symmetry", "--demo", "--scenes", "1", "--size", "64", "--cell", "16"], "auc",
     ["metrics.json", "config.json"]),
    (["spiketrain", "--epochs", "2", "--no-plots"], "test_correlation",
     ["metrics.json", "history.csv"]),
    (["compare", "--epochs", "1", "--n-seeds", "1", "--rules", "bptt", "--task", "randman",
      "--task-option", "samples_per_class=10", "--quiet"], None,
     ["report.md", "results.csv", "summary.csv"]),
    (["reproduce", "zenke-vogels", "--profile", "smoke", "--quiet"], None,
     ["report.md", "results.csv"]),
]  # fmt: skip


def _no_partial_file(folder: Path) -> None:
    """No temporary file anywhere below ``folder`` and every JSON / PNG there complete."""
    for p in folder.rglob("*"):
        assert not p.name.endswith(".tmp"), p
        if p.suffix == ".json":
            json.loads(p.read_text())
        if p.suffix == ".png":
            assert p.read_bytes().endswith(b"IEND\xaeB`\x82"), p


def _advised(line: str, cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Do what the error line says: its ``run: spikegrad ...`` or the same command again."""
    if "run: spikegrad " in line:
        return _follow(line, cwd)
    assert "run the same command again" in line, line
    return subprocess.run([sys.executable, "-m", "spikegrad", *cmd], env=_env(), cwd=cwd,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.mark.parametrize("cmd, key, files", FULL_DISK_WRITERS,
                         ids=[c[0][0] for c in FULL_DISK_WRITERS])  # fmt: skip
def test_full_disk_one_line_no_partial_file_and_the_advice_works(cmd, key, files, tmp_path):
    run = [*cmd, "--out", "run"]
    line = _disk_full_once(run, tmp_path, limit=3_000)
    _no_partial_file(tmp_path / "run")
    r = _advised(line, run, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    for name in files:
        assert (tmp_path / "run" / name).is_file(), name
    _no_partial_file(tmp_path / "run")
    if key is not None:  # the recovered run is the run an ample disk gives
        ref = subprocess.run([sys.executable, "-m", "spikegrad", *cmd, "--out", "ref"],
                             env=_env(), cwd=tmp_path, capture_output=True, text=True,
                             timeout=300)  # fmt: skip
        assert ref.returncode == 0, ref.stderr[-2000:]
        got = json.loads((tmp_path / "run" / "metrics.json").read_text())[key]
        want = json.loads((tmp_path / "ref" / "metrics.json").read_text())[key]
        assert got == want


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                       capture_output=True)  # fmt: skip
    return r.returncode == 0


def test_data_generation_on_a_full_disk_then_the_advice_gives_the_same_files(tmp_path):
    """espeak-ng dies under a file-size limit, so the disk here is a real one that fills:
    a 200 kB tmpfs (root only). The error is one line; after the disk grows, the advised
    command finishes with the files an ample disk gives."""
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("needs espeak-ng")
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, "200k"):
        pytest.skip("mounting a tmpfs needs root")
    cmd = ["data", "spoken-digits", "--speakers", "2", "--test-speakers", "1", "--repeats",
           "4", "--labels", "0", "1", "--quiet"]  # fmt: skip
    try:
        r = subprocess.run([sys.executable, "-m", "spikegrad", *cmd, "--out", str(disk / "sd")],
                           env=_env(), capture_output=True, text=True, timeout=300)  # fmt: skip
        assert r.returncode == 1, r.stderr[-2000:]
        lines = [ln for ln in r.stderr.strip().splitlines() if "warning:" not in ln]
        assert len(lines) == 1 and "the disk is full" in lines[0], r.stderr
        assert not list((disk / "sd").glob("*.h5"))  # no partial output file
        _no_partial_file(disk / "sd")
        subprocess.run(["mount", "-o", "remount,size=8m", str(disk)], check=True)
        again = _advised(lines[0], [*cmd, "--out", str(disk / "sd")], tmp_path)
        assert again.returncode == 0, again.stderr[-2000:]
        ref = subprocess.run([sys.executable, "-m", "spikegrad", *cmd, "--out",
                              str(tmp_path / "ref")], env=_env(), capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        assert ref.returncode == 0, ref.stderr[-2000:]
        import h5py
        import numpy as np

        for part in ("train", "test"):
            with h5py.File(disk / "sd" / f"spoken_digits_{part}.h5") as a, h5py.File(
                tmp_path / "ref" / f"spoken_digits_{part}.h5"
            ) as b:
                for k in ("spikes/times", "spikes/units", "labels"):
                    for x, y in zip(a[k][()], b[k][()], strict=True):
                        assert np.array_equal(x, y), k
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)
