"""Every command with hostile arguments: exit code 2, one error line naming the argument.

Each row is (command line, words the error line must contain). Values are zero, negative,
text for numbers, unknown names, unwritable output paths and combinations that do not
fit. The contract (docs/reliability.md): exit code 2, the last stderr line is
``spikegrad CMD: error: ...`` naming the argument, no traceback, and no explicit value
silently replaced by a default (an explicit 0 is refused where it is not a documented
value, never run as the default).
"""

from __future__ import annotations

import pytest

from hostile_support import run_cli

BLOCKED = "{tmp}/afile/sub"  # a folder below a regular file: never writable, even as root

CASES = [
    # train
    ("train --epochs 0", ["epochs"]),
    ("train --epochs -3", ["epochs"]),
    ("train --epochs abc", ["--epochs"]),
    ("train --batch-size 0", ["batch_size"]),
    ("train --classes 0", ["--classes"]),
    ("train --classes 1", ["--classes"]),
    ("train --hidden 0", ["hidden"]),
    ("train --layers 0", ["--layers"]),
    ("train --threads 0", ["--threads"]),
    ("train --threads -1", ["--threads"]),
    ("train --lr nan", ["lr"]),
    ("train --lr -1", ["lr"]),
    ("train --dt 0", ["dt"]),
    ("train --tau-mem -1", ["tau_mem"]),
    ("train --patience -1", ["patience"]),
    ("train --checkpoint-every -1", ["checkpoint_every"]),
    ("train --seed -1", ["seed"]),
    ("train --units 0", ["n_units"]),
    ("train --samples-per-class 0", ["samples_per_class"]),
    ("train --rule nope", ["rule"]),
    ("train --rule weight --rule-option trials=abc", ["trials"]),
    ("train --model-option =3", ["--model-option"]),
    ("train --task-option samples=3", ["--task-option"]),
    ("train --dataset mnist", ["--data-dir"]),
    ("train --surrogate nope", ["--surrogate"]),
    ("train --epochs 1 --out " + BLOCKED, ["cannot be written"]),
    ("train --resume {tmp}/missing", ["config.json"]),
    # typed task options: never truncated, defaulted or silently clipped
    ("train --task spoken-digits --task-option limit=-5", ["limit", ">= 1", "-5"]),
    ("train --task spoken-digits --task-option limit=30.9", ["limit", "integer", "30.9"]),
    ("train --task spoken-digits --task-option seed=1.5", ["seed", "integer", "1.5"]),
    ("train --task spoken-digits --task-option n_steps=2.5", ["n_steps", "integer"]),
    ("train --task spoken-digits --task-option n_steps=abc", ["n_steps", "integer"]),
    ("train --task spoken-digits --task-option path=3", ["path", "3"]),
    ("train --task spoken-digits --task-option nope=1", ["nope", "its options"]),
    ("train --task spoken-digits --task-option n_steps=1000000000", ["n_steps", "TiB"]),
    ("train --task moving-shapes --task-option size=2.5", ["size", "integer"]),
    ("train --task lag-order --task-option noise_prob=2", ["noise_prob", "<= 1"]),
    ("compare --task spoken-digits --task-option limit=-5 --out {tmp}/c", ["limit", ">= 1"]),
    ("train --rule weight --rule-option trials=1.5", ["trials", "integer", "1.5"]),
    ("train --rule weight --rule-option nope=1", ["nope"]),
    ("train --rule weight --rule-option sigma=abc", ["sigma", "number"]),
    ("train --model-option threshold=abc", ["threshold", "number"]),
    ("train --model-option threshold=-1", ["threshold", "> 0"]),
    ("train --model-option nope=1", ["nope", "its options"]),
    ("stream --task sea --samples 10 --param nope=1", ["--param", "nope"]),
    ("sweep --set dataset=spoken-digits --set dataset_options={{limit=-5}} --out {tmp}/sw",
     ["limit", ">= 1"]),
    ("sweep --set dataset=spoken-digits --set dataset_options={{limit=30.9}} --dry-run "
     "--out {tmp}/sw", ["limit", "integer"]),
    # perturb
    ("perturb --iterations 0", ["--iterations"]),
    ("perturb --iterations -1", ["--iterations"]),
    ("perturb --iterations x", ["--iterations"]),
    ("perturb --batch-size 0", ["--batch-size"]),
    ("perturb --classes 0", ["--classes"]),
    ("perturb --threads 0", ["--threads"]),
    ("perturb --threads -1", ["--threads"]),
    ("perturb --trials 0 --check-gradient", ["--trials"]),
    ("perturb --sigma 0", ["sigma"]),
    ("perturb --lr -1", ["lr"]),
    ("perturb --iterations 1 --out " + BLOCKED, ["cannot be written"]),
    # spiketrain
    ("spiketrain --epochs 0", ["--epochs"]),
    ("spiketrain --batch-size 0", ["--batch-size"]),
    ("spiketrain --inputs 0", ["--inputs"]),
    ("spiketrain --task classify --classes 0", ["classes"]),
    ("spiketrain --threads 0", ["--threads"]),
    ("spiketrain --dt 0", ["dt"]),
    ("spiketrain --rate -1", ["rate"]),
    ("spiketrain --epochs 1 --out " + BLOCKED, ["cannot be written"]),
    # stream
    ("stream --task sea --samples 0", ["--samples"]),
    ("stream --task sea --samples -1", ["--samples"]),
    ("stream --task sea --window 0", ["--window"]),
    ("stream --task sea --threads -1", ["--threads"]),
    ("stream --task sea --record-every 0", ["--record-every"]),
    ("stream --task sea --print-every -1", ["--print-every"]),
    ("stream --task sea --samples 10 --out " + BLOCKED, ["cannot be written"]),
    # symmetry
    ("symmetry --demo --size 0", ["--size"]),
    ("symmetry --demo --scenes 0", ["--scenes"]),
    ("symmetry --demo --threads -1", ["--threads"]),
    ("symmetry --demo --k 0", ["--k"]),
    ("symmetry --demo --dt 0", ["--dt"]),
    ("symmetry --demo --levels 0", ["--levels"]),
    ("symmetry --demo --scenes 1 --out " + BLOCKED, ["cannot be written"]),
    # sweep
    ("sweep {tmp}/missing.toml --out {tmp}/sw", ["grid file"]),
    ("sweep --workers 0 --out {tmp}/sw", ["workers"]),
    ("sweep --workers -1 --out {tmp}/sw", ["workers"]),
    ("sweep --set epochs=0 --out {tmp}/sw", ["epochs"]),
    ("sweep --set lr=abc --out {tmp}/sw", ["lr"]),
    ("sweep --set dataset=nope --out {tmp}/sw", ["dataset"]),
    ("sweep --set nope=1 --out {tmp}/sw", ["nope"]),
    ("sweep --vary lr= --out {tmp}/sw", ["lr"]),
    ("sweep --set epochs=1 --out " + BLOCKED, ["cannot be created"]),
    # reproduce
    ("reproduce zenke-vogels --workers 0 --out {tmp}/z", ["--workers"]),
    ("reproduce zenke-vogels --workers -1 --estimate", ["--workers"]),
    ("reproduce zenke-vogels --report-only --out {tmp}/empty", ["nothing to report"]),
    ("reproduce zenke-vogels --profile smoke --out " + BLOCKED, ["cannot be created"]),
    ("reproduce nope", ["study"]),
    # export-nir
    ("export-nir {tmp}/missing {tmp}/o.nir", ["run folder"]),
    ("export-nir {tmp}/afile {tmp}/o.nir", ["afile"]),
    # an output path that is an input file is refused, never overwritten
    ("encode-audio {tmp}/afile --out {tmp}/afile", ["--out", "input file"]),
    ("encode-audio {tmp}/afile --out {tmp}/alink", ["--out", "input file"]),
    ("export-nir {tmp}/rundir {tmp}/rundir/config.json", ["OUT.nir", "input file"]),
    ("export-nir {tmp}/rundir {tmp}/rundir/../rundir/checkpoint.pt", ["OUT.nir", "input"]),
    ("stream --task {tmp}/rundir/history.csv --out {tmp}/rundir", ["lies in the run folder"]),
    ("symmetry {tmp}/rundir/scene.npy --out {tmp}/rundir", ["lies in the run folder"]),
    # found by scripts/hostile_sweep.py: binary or empty files, values beyond a dtype
    ("sweep {tmp}/binary.toml --out {tmp}/sw", ["grid file", "not text"]),
    ("sweep {tmp}/empty.toml --out {tmp}/sw", ["grid file", "empty"]),
    ("train --resume {tmp}/binrun", ["config.json", "malformed"]),
    ("encode-audio {tmp}/afile --out {tmp}/o.h5 --label 1000000000000", ["--label", "uint16"]),
    ("encode-audio {tmp}/afile --out {tmp}/o.h5 --speaker 70000", ["--speaker", "uint16"]),
    ("perturb --threads 1000000000000", ["--threads", "on this machine"]),
    ("symmetry --demo --threads 1000000000000", ["--threads", "on this machine"]),
    ("symmetry --demo --scenes 1000000000000", ["--scenes", "TiB"]),
    ("symmetry --demo --delay-per-pixel 1000000000000", ["--delay-per-pixel", "at most"]),
    # top level
    ("nope", ["COMMAND"]),
]


@pytest.fixture
def tmp(tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    (tmp_path / "empty").mkdir()
    (tmp_path / "alink").symlink_to(tmp_path / "afile")
    (tmp_path / "rundir").mkdir()
    for name in ("config.json", "checkpoint.pt"):
        (tmp_path / "rundir" / name).write_text("{}")
    __import__("numpy").save(tmp_path / "rundir" / "scene.npy", __import__("numpy").eye(16))
    (tmp_path / "rundir" / "history.csv").write_text("a,label\n1,x\n2,y\n")
    (tmp_path / "binary.toml").write_bytes(bytes(range(128, 256)))
    (tmp_path / "empty.toml").write_text("")
    (tmp_path / "binrun").mkdir()
    (tmp_path / "binrun" / "config.json").write_bytes(bytes(range(128, 256)))
    return tmp_path


@pytest.mark.parametrize("line, words", CASES, ids=[c[0].split(" --out")[0] for c in CASES])
def test_hostile_argument_exit_2_one_line(line, words, tmp, capsys, monkeypatch):
    monkeypatch.chdir(tmp)  # a default output folder lands in tmp, never in the checkout
    rc, out, err = run_cli(line.format(tmp=tmp).split(), capsys)
    assert "Traceback" not in out + err
    assert rc == 2, f"exit {rc}; stderr: {err[-500:]!r}"
    errors = [ln for ln in err.splitlines() if "error:" in ln]
    assert len(errors) == 1, err
    last = err.strip().splitlines()[-1]
    assert last == errors[0] and last.startswith("spikegrad"), err
    for w in words:
        assert w in last, f"{w!r} not in {last!r}"
    assert not list(tmp.glob("runs/*/metrics.json")), "a run was started"
    assert (tmp / "afile").read_text() == "not a folder"  # inputs are never overwritten
    assert (tmp / "rundir" / "config.json").read_text() == "{}"
    assert (tmp / "rundir" / "history.csv").read_text() == "a,label\n1,x\n2,y\n"


def test_time_major_data_refused_where_sample_major_is_required():
    """from_dense takes [N, T, C]; a [T, N, C] tensor whose dim 1 matches the labels is refused."""
    import torch

    from spikegrad import SpikegradInputError
    from spikegrad.data.spikes import SpikeDataset

    labels = torch.arange(4) % 2
    with pytest.raises(SpikegradInputError, match=r"time-major.*permute\(1, 0, 2\)"):
        SpikeDataset.from_dense(torch.zeros(50, 4, 3), labels)
    ds = SpikeDataset.from_dense(torch.zeros(50, 4, 3).permute(1, 0, 2), labels)
    assert (len(ds), ds.n_steps, ds.n_units) == (4, 50, 3)


# -- forged files: one error line, exit 2 (torch's weights-only page is not shown) -------


def _forge_run(folder):
    """A run folder whose checkpoints carry a valid header and checksum around a pickle
    that would call os.system."""
    import hashlib
    import io
    import os

    import torch

    from spikegrad.io.checkpoint import MAGIC
    from spikegrad.learning.config import TrainConfig

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo forged",))

    buf = io.BytesIO()
    torch.save({"format": "spikegrad-train-state", "evil": Evil()}, buf)
    body = buf.getvalue()
    folder.mkdir()
    for name in ("checkpoint.pt", "last.pt"):
        (folder / name).write_bytes(MAGIC + hashlib.sha256(body).digest() + body)
    (folder / "config.json").write_text(__import__("json").dumps(TrainConfig().to_dict()))
    return folder


@pytest.mark.parametrize("line", ["predict {run} {run}/config.json", "export-nir {run} {tmp}/o.nir",
                                  "train --resume {run}"])  # fmt: skip
def test_forged_checkpoint_is_one_error_line(line, tmp_path, capsys):
    run = _forge_run(tmp_path / "forged")
    rc, out, err = run_cli(line.format(run=run, tmp=tmp_path).split(), capsys)
    assert rc == 2, err[-1500:]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "not a safe checkpoint" in lines[0], err
    assert "GLOBAL" in lines[0] and "weights_only" not in lines[0]


# -- hostile files: refused with one line before any work (and before any run folder) ---


def _png_header(path, width, height):
    """A tiny PNG whose header declares ``width`` x ``height`` pixels."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(b"\0" * 100)) + chunk(b"IEND", b""))


def _hostile_files(tmp):
    import wave

    import numpy as np

    from spikegrad.data.spoken_digits import write_shd_hdf5

    _png_header(tmp / "bomb.png", 20000, 20000)  # Pillow's DecompressionBombError before
    _png_header(tmp / "big.png", 10000, 10000)  # ran for minutes before
    np.save(tmp / "obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
    np.save(tmp / "nan.npy", np.full((8, 8), np.nan))
    np.save(tmp / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    for name, rate in (("fast.wav", 10_000_000), ("slow.wav", 1)):
        with wave.open(str(tmp / name), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes(b"\0\1" * 100)
    (tmp / "h5nan").mkdir()
    times = [np.array([0.1, np.nan, 0.3], np.float32)] * 4
    for split in ("train", "test"):
        write_shd_hdf5(tmp / "h5nan" / f"spoken_digits_{split}.h5", times,
                       [np.array([1, 2, 3])] * 4, [0, 1, 0, 1])  # fmt: skip


FILE_CASES = [
    ("symmetry {tmp}/bomb.png --out {tmp}/s", ["bomb.png", "pixels"]),
    ("symmetry {tmp}/big.png --out {tmp}/s", ["10000x10000", "MiB"]),
    ("symmetry {tmp}/obj.npy --out {tmp}/s", ["obj.npy"]),
    ("symmetry {tmp}/nan.npy --out {tmp}/s", ["nan.npy", "NaN"]),
    ("symmetry {tmp}/text.npy --out {tmp}/s", ["text.npy", "numbers"]),
    ("symmetry --demo --size 100000 --out {tmp}/s", ["--size", "GiB"]),
    ("encode-audio {tmp}/fast.wav --out {tmp}/o.h5", ["sample rate", "10000000"]),
    ("encode-audio {tmp}/slow.wav --out {tmp}/o.h5", ["sample rate"]),
    ("train --task spoken-digits --data-dir {tmp}/h5nan --epochs 1 --out {tmp}/s",
     ["spikes/times of sample 0", "nan at index 1"]),
]


@pytest.mark.parametrize("line, words", FILE_CASES, ids=[c[0].split(" --out")[0].replace(
    "{tmp}/", "") for c in FILE_CASES])  # fmt: skip
def test_hostile_file_one_line_before_any_work(line, words, tmp_path, capsys):
    import time

    _hostile_files(tmp_path)
    t0 = time.monotonic()
    rc, out, err = run_cli(line.format(tmp=tmp_path).split(), capsys)
    assert "Traceback" not in out + err
    assert rc == 2, err[-800:]
    lines = [ln for ln in err.strip().splitlines() if "recipe" not in ln]
    assert len(lines) == 1 and lines[0].startswith("spikegrad "), err
    assert "array(" not in lines[0] and "warning" not in err
    for w in words:
        assert w in lines[0], f"{w!r} not in {lines[0]!r}"
    assert time.monotonic() - t0 < 60
    assert not (tmp_path / "o.h5").exists()
    assert not (tmp_path / "s" / "config.json").exists()


def test_stream_csv_with_missing_cells_runs_every_model_and_baseline(tmp_path, capsys):
    """Before: a traceback inside river's scaler and a half-written run folder."""
    import random

    from spikegrad.online.streams import csv_stream

    rng = random.Random(0)
    rows = ["a,b,c,label"]
    for i in range(40):
        cells = [f"{rng.random():.3f}" for _ in range(3)]
        if i % 5 == 0:
            cells[i % 3] = "" if i % 10 else "nan"
        rows.append(",".join(cells) + "," + ("x" if i % 2 else "y"))
    path = tmp_path / "missing.csv"
    path.write_text("\n".join(rows) + "\n")
    data = list(csv_stream(path)(0))
    assert "a" not in data[0][0] and set(data[5][0]) == {"a", "b"}  # missing: absent
    from spikegrad.online.streams import MODELS

    others = ",".join(m for m in sorted(MODELS) if m != "oesnn")
    for extra in ([], ["--no-scaler"]):
        out = tmp_path / f"run{len(extra)}"
        rc, _, err = run_cli(["stream", "--task", path, "--out", out, "--print-every", "0",
                              "--against", others, *extra], capsys)  # fmt: skip
        assert rc == 0, err[-1500:]
        table = (out / "table.csv").read_text().splitlines()
        assert len(table) == 1 + len(MODELS)
        assert (out / "metrics.json").is_file()


def test_predict_refuses_hostile_npy_with_one_line(tmp_path, capsys):
    """Object arrays, NaN and wrong shapes in a .npy INPUT: one line, exit 2."""
    import numpy as np

    run = tmp_path / "run"
    rc, _, err = run_cli(["train", "--epochs", "1", "--samples-per-class", "20", "--units", "10",
                          "--classes", "2", "--hidden", "4", "--init", "fluctuation", "--quiet",
                          "--no-plots", "--out", run], capsys)  # fmt: skip
    assert rc == 0, err[-1500:]
    np.save(tmp_path / "obj.npy", np.array([[[1]]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "nan.npy", np.full((2, 5, 10), np.nan))
    np.save(tmp_path / "flat.npy", np.zeros(10))
    (tmp_path / "empty.npy").write_bytes(b"")  # was an EOFError traceback
    for name, word in (("obj.npy", "not a .npy array"), ("nan.npy", "non-finite"),
                       ("flat.npy", "shape"), ("empty.npy", "not a .npy array")):  # fmt: skip
        rc, _, err = run_cli(["predict", run, tmp_path / name], capsys)
        assert rc == 2, err[-800:]
        lines = err.strip().splitlines()
        assert len(lines) == 1 and word in lines[0], err
