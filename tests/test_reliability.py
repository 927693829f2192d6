"""Nothing lost, nothing silent: resume rules, refusals, warnings and malformed files.

In-process and small (a few seconds): finished runs resumed do nothing and say so,
``--epochs`` on resume is honoured or refused, other settings are refused, ``--out`` on
a run is refused without ``--overwrite``, Ctrl-C says how to resume, runs on custom data
resume from Python and are refused by the CLI with the way to do it, grids convert and
check values when expanded, checkpoints of the wrong types give one clear error, and
runs that cannot learn warn with the likely cause.
"""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from hostile_support import run_cli
from spikegrad import SpikegradInputError
from spikegrad.data.registry import load_dataset
from spikegrad.experiments.config import SweepSpec
from spikegrad.io.checkpoint import load_payload, save_payload
from spikegrad.io.run import RunFolder
from spikegrad.learning.config import TrainConfig, train
from spikegrad.learning.trainer import SilentRunWarning

pytestmark = pytest.mark.usefixtures("one_thread")

SMALL = ["--classes", "3", "--units", "5", "--samples-per-class", "10", "--hidden", "8",
         "--batch-size", "10", "--quiet", "--no-plots"]  # fmt: skip


TINY2 = {"n_classes": 2, "n_units": 3, "samples_per_class": 10}
TINY3 = {"n_classes": 3, "n_units": 5, "samples_per_class": 10}


def _train(capsys, out, *extra):
    return run_cli(["train", *SMALL, "--out", out, *extra], capsys)


def test_resume_finished_run_does_nothing_epochs_honoured_or_refused(tmp_path, capsys):
    out = tmp_path / "run"
    rc, _, err = _train(capsys, out, "--epochs", "2")
    assert rc == 0, err
    metrics = (out / "metrics.json").read_bytes()
    history = (out / "history.csv").read_text()
    rc, stdout, err = run_cli(["train", "--resume", out, "--quiet", "--no-plots"], capsys)
    assert rc == 0 and "already finished (2 epochs); nothing to do" in stdout
    assert (out / "metrics.json").read_bytes() == metrics  # not even rewritten
    # a changed setting is refused, naming it
    rc, _, err = run_cli(["train", "--resume", out, "--lr", "0.1"], capsys)
    assert rc == 2 and "--lr cannot be changed" in err
    # fewer epochs than done: refused
    rc, _, err = run_cli(["train", "--resume", out, "--epochs", "1", "--quiet"], capsys)
    assert rc == 2 and "below the 2 epochs" in err
    # more epochs: honoured, the first two epochs kept as they were
    rc, _, err = run_cli(["train", "--resume", out, "--epochs", "3", "--quiet", "--no-plots"],
                         capsys)  # fmt: skip
    assert rc == 0, err
    rows = (out / "history.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[:3] == history.splitlines()
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 3
    assert json.loads((out / "config.json").read_text())["epochs"] == 3
    # and it equals a run of 3 epochs from the start (seconds aside)
    ref = tmp_path / "ref"
    assert _train(capsys, ref, "--epochs", "3")[0] == 0
    strip = [r.rsplit(",", 1)[0] for r in (ref / "history.csv").read_text().splitlines()]
    assert [r.rsplit(",", 1)[0] for r in rows] == strip


def test_out_holding_a_run_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(capsys, out, "--epochs", "1")[0] == 0
    metrics = (out / "metrics.json").read_bytes()
    rc, _, err = _train(capsys, out, "--epochs", "1", "--seed", "3")
    assert rc == 2 and "already holds a finished run" in err and "--overwrite" in err
    assert (out / "metrics.json").read_bytes() == metrics
    rc, _, err = _train(capsys, out, "--epochs", "1", "--seed", "3", "--overwrite")
    assert rc == 0, err
    assert json.loads((out / "config.json").read_text())["seed"] == 3


def test_ctrl_c_says_how_to_resume(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"

    def interrupt(self, history, rename=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(RunFolder, "write_history", interrupt)
    rc, _, err = _train(capsys, out, "--epochs", "2")
    assert rc == 130 and "Traceback" not in err
    assert f"Resume with: spikegrad train --resume {out}" in err


def test_custom_data_run_resumes_from_python_and_the_cli_says_how(tmp_path, capsys):
    data = load_dataset("randman", n_classes=3, n_units=7, samples_per_class=10, seed=2)
    cfg = TrainConfig(hidden=(8,), epochs=2, batch_size=10)  # config.dataset: the default
    out = tmp_path / "custom"
    first = train(cfg, data=data, out_dir=out, progress=False, plots=False)
    assert json.loads((out / "data.json").read_text())["splits"]["train"][2] == 7
    again = train(cfg, data=data, out_dir=out, progress=False, plots=False, resume=True)
    assert again.already_finished and again.metrics == json.loads(
        (out / "metrics.json").read_text()
    )
    assert again.metrics["test_accuracy"] == first.metrics["test_accuracy"]
    rc, _, err = run_cli(["train", "--resume", out, "--quiet"], capsys)
    assert rc == 2 and "trained on data passed to train()" in err and "resume=True" in err
    other = load_dataset("randman", n_classes=3, n_units=7, samples_per_class=12, seed=2)
    with pytest.raises(SpikegradInputError, match="differs from the data it was trained on"):
        train(cfg, data=other, out_dir=out, progress=False, plots=False, resume=True)


def test_grid_values_converted_and_checked_at_expansion():
    spec = SweepSpec.from_dict({"name": "g", "base": {"lr": "1e-3", "epochs": "2"}})
    (run,) = spec.expand()
    assert run.config["lr"] == 0.001 and run.config["epochs"] == 2
    with pytest.raises(SpikegradInputError, match="lr must be a number, got the text 'fast'"):
        SweepSpec.from_dict({"name": "g", "base": {"lr": "fast"}})
    with pytest.raises(SpikegradInputError, match="unknown dataset 'mnsit'"):
        SweepSpec.from_dict({"name": "g", "grid": {"dataset": ["randman", "mnsit"]}})
    with pytest.raises(TypeError, match="lr must be a number"):
        TrainConfig(lr="1e-3")


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("model", "abc", "model must be a dict of tensors"),
        ("optimizer", [1], "optimizer must be a dict"),
        ("loop", [1], "loop must be a dict"),
        ("history", [1, 2], "history must be a list of dicts"),
        ("best_state", "x", "best_state must be a dict of tensors"),
        ("gen_state", torch.zeros(3), "gen_state must be a uint8 tensor"),
        ("rule", 5, "rule must be a dict"),
    ],
)
def test_resume_state_of_wrong_types_gives_one_clear_error(key, value, words, tmp_path):
    cfg = TrainConfig(hidden=(4,), epochs=1, batch_size=10,
                      dataset_options=TINY2)  # fmt: skip
    out = tmp_path / "run"
    train(cfg, out_dir=out, progress=False, plots=False)
    payload = load_payload(out / "last.pt", "spikegrad-resume-1")
    save_payload(out / "last.pt", {**payload, key: value})  # a valid hash, wrong contents
    with pytest.raises(SpikegradInputError, match=words):
        train(cfg, out_dir=out, progress=False, plots=False, resume=True)


def test_loop_state_field_of_wrong_type(tmp_path):
    cfg = TrainConfig(hidden=(4,), epochs=1, batch_size=10,
                      dataset_options=TINY2)  # fmt: skip
    train(cfg, out_dir=tmp_path, progress=False, plots=False)
    payload = load_payload(tmp_path / "last.pt", "spikegrad-resume-1")
    payload["loop"] = {**payload["loop"], "epoch": "2"}
    save_payload(tmp_path / "last.pt", payload)
    with pytest.raises(SpikegradInputError, match=r"loop\['epoch'\] must be an int"):
        train(cfg, out_dir=tmp_path, progress=False, plots=False, resume=True)


def test_runs_that_cannot_learn_warn_with_the_likely_cause(capsys, tmp_path):
    # the README's esser / beta 50 example: the hidden layer never spikes
    rc, _, err = _train(capsys, tmp_path / "silent", "--epochs", "1", "--surrogate", "esser",
                        "--beta", "50")  # fmt: skip
    assert rc == 0
    line = next(ln for ln in err.splitlines() if "emitted no spike" in ln)
    assert line.startswith("spikegrad train: warning:") and "--init fluctuation" in line
    # a time step longer than a time constant
    rc, _, err = _train(capsys, tmp_path / "dt", "--epochs", "1", "--dt", "0.01",
                        "--tau-syn", "0.005", "--init", "fluctuation")  # fmt: skip
    assert rc == 0 and "dt = 0.01 s is longer than tau_syn = 0.005 s" in err
    # the zero surrogate: every gradient exactly zero the whole first epoch
    cfg = TrainConfig(hidden=(8,), epochs=1, batch_size=10, surrogate="zero", init="fluctuation",
                      dataset_options=TINY3)  # fmt: skip
    with pytest.warns(SilentRunWarning, match=r"gradient of layers.0.weight was exactly zero"):
        train(cfg, progress=False, plots=False)
    # a learning run says nothing
    cfg = TrainConfig(hidden=(8,), epochs=1, batch_size=10, init="fluctuation",
                      dataset_options=TINY3)  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("error", SilentRunWarning)
        train(cfg, progress=False, plots=False)
