"""Sweep runner: grid files, parallel runs, atomic per-run files, kill-and-resume, selection."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from spikegrad._checks import SpikegradInputError
from spikegrad.cli import main
from spikegrad.experiments.config import SweepSpec, load_sweep_file, parse_assignments
from spikegrad.experiments.sweep import load_results, run_sweep, select_learning_rate

TINY = {
    "epochs": 1,
    "hidden": [8],
    "batch_size": 60,
    "dataset_options": {"n_classes": 3, "samples_per_class": 20, "n_units": 10},
}

GRID_TOML = """
name = "tiny"
[base]
epochs = 1
hidden = [8]
batch_size = 60
dataset_options = { n_classes = 3, samples_per_class = 20, n_units = 10 }
[grid]
lr = [0.01, 0.05]
seed = [0, 1]
[[conditions]]
condition = "ss"
surrogate = "superspike"
[[conditions]]
condition = "esser"
surrogate = "esser"
beta = 2.0
"""


def test_grid_file_expands_conditions_times_axes(tmp_path):
    p = tmp_path / "g.toml"
    p.write_text(GRID_TOML)
    runs = load_sweep_file(p).expand()
    assert len(runs) == 8
    assert len({r.run_id for r in runs}) == 8
    esser = [r for r in runs if r.tags["condition"] == "esser"]
    assert all(r.config["surrogate"] == "esser" and r.config["beta"] == 2.0 for r in esser)
    assert all(r.tags["experiment"] == "tiny" for r in runs)
    # ids are stable: the same grid gives the same ids
    assert [r.run_id for r in runs] == [r.run_id for r in load_sweep_file(p).expand()]


def test_grid_errors_name_the_problem(tmp_path):
    with pytest.raises(SpikegradInputError, match="unknown setting 'lrate'"):
        SweepSpec.from_dict({"grid": {"lrate": [0.1]}})
    with pytest.raises(SpikegradInputError, match="non-empty list"):
        SweepSpec.from_dict({"grid": {"lr": 0.1}})
    with pytest.raises(SpikegradInputError, match="surrogate"):
        SweepSpec.from_dict({"base": {"surrogate": "nope"}})
    bad = tmp_path / "bad.toml"
    bad.write_text("[grid\nlr = 1")
    with pytest.raises(SpikegradInputError, match="bad.toml.*TOML"):
        load_sweep_file(bad)
    with pytest.raises(SpikegradInputError, match="does not exist"):
        load_sweep_file(tmp_path / "none.toml")


def test_cli_assignments():
    assert parse_assignments(["lr=0.01,0.05", "hidden=[8];[8,8]"], True, "--vary") == {
        "lr": [0.01, 0.05],
        "hidden": [[8], [8, 8]],
    }
    assert parse_assignments(["surrogate=esser", "recurrent=true"], False, "--set") == {
        "surrogate": "esser",
        "recurrent": True,
    }
    with pytest.raises(SpikegradInputError, match="KEY=VALUE"):
        parse_assignments(["lr"], False, "--set")


def test_dotted_keys_and_yaml(tmp_path):
    spec = SweepSpec.from_dict({"base": TINY, "grid": {"dataset_options.alpha": [1.0, 2.0]}})
    runs = spec.expand()
    assert [r.config["dataset_options"]["alpha"] for r in runs] == [1.0, 2.0]
    assert runs[0].config["dataset_options"]["n_classes"] == 3
    pytest.importorskip("yaml")
    y = tmp_path / "g.yaml"
    y.write_text("name: y\nbase: {epochs: 1}\ngrid: {seed: [0, 1, 2]}\n")
    assert len(load_sweep_file(y).expand()) == 3


def test_select_learning_rate_uses_validation_not_test():
    rows = []
    for lr, val, test in ((0.01, 0.9, 0.5), (0.05, 0.6, 0.99)):
        for seed in (0, 1):
            rows.append(
                {
                    "run_id": f"{lr}{seed}",
                    "status": "ok",
                    "surrogate": "s",
                    "lr": lr,
                    "seed": seed,
                    "val_accuracy": val + seed * 0.01,
                    "test_accuracy": test,
                    "spikes_per_neuron": 1.0,
                }
            )
    rows.append(
        {
            "run_id": "d",
            "status": "diverged",
            "surrogate": "s",
            "lr": 0.5,
            "seed": 0,
            "val_accuracy": None,
            "test_accuracy": None,
            "spikes_per_neuron": None,
        }
    )
    (sel,) = select_learning_rate(rows)
    assert sel["lr"] == 0.01 and sel["test_accuracy_mean"] == pytest.approx(0.5)
    assert sel["val_accuracy_mean"] == pytest.approx(0.905) and sel["n"] == 2
    assert sel["candidates"] == 3


def test_sweep_in_process_then_resume_and_failed_runs(tmp_path):
    spec = SweepSpec.from_dict({"name": "t", "base": TINY, "grid": {"seed": [0, 1]}})
    bad = SweepSpec.from_dict(
        {"name": "bad", "base": {**TINY, "dataset": "mnist", "dataset_options": {}}}
    )
    runs = spec.expand() + bad.expand()
    res = run_sweep(runs, tmp_path, progress=False)
    assert (res.finished, res.failed, res.skipped) == (2, 1, 0) and not res.complete
    assert (tmp_path / "errors" / f"{runs[2].run_id}.txt").read_text().count("data_dir")
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert len(lines) == 3 and "test_accuracy" in lines[0] and "data.n_classes" in lines[0]
    res2 = run_sweep(runs, tmp_path, progress=False)
    assert (res2.skipped, res2.finished, res2.failed) == (2, 0, 1)  # failed run retried


def test_restart_removes_run_folders_of_runs_already_recorded(tmp_path):
    """A kill between writing a run's result and removing its run folder leaves the folder
    behind; the next start (under the sweep's lock) removes it, and keeps the others."""
    runs = SweepSpec.from_dict({"name": "t", "base": TINY, "grid": {"seed": [0]}}).expand()
    assert run_sweep(runs, tmp_path, progress=False).finished == 1
    left = tmp_path / "work" / runs[0].run_id
    other = tmp_path / "work" / "not-a-run-of-this-grid"
    for d in (left, other):
        d.mkdir(parents=True)
        (d / "last.pt").write_bytes(b"state of a killed run")
    res = run_sweep(runs, tmp_path, progress=False)
    assert (res.skipped, res.finished) == (1, 0)
    assert not left.exists() and (other / "last.pt").exists()


@pytest.mark.parametrize("workers", [2])
def test_sweep_cli_kill_and_resume(tmp_path, workers):
    """Kill a running sweep (process group, SIGKILL), start it again: nothing lost or redone."""
    grid = tmp_path / "g.toml"
    grid.write_text(
        "name = 'kill'\n[base]\nepochs = 2\nhidden = [16]\nbatch_size = 30\n"
        "dataset_options = { n_classes = 3, samples_per_class = 40, n_units = 10 }\n"
        "[grid]\nseed = [0, 1, 2, 3, 4, 5]\n"
    )
    out = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "-m",
        "spikegrad",
        "sweep",
        str(grid),
        "--out",
        str(out),
        "--workers",
        str(workers),
        "--quiet",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        cmd, start_new_session=True, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    runs_dir = out / "runs"
    deadline = time.time() + 120
    while time.time() < deadline:
        done = list(runs_dir.glob("*.json")) if runs_dir.exists() else []
        if len(done) >= 2 or proc.poll() is not None:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in runs_dir.glob("*.json")}
    assert 2 <= len(before) < 6, "the sweep should be killed part-way"
    for data, _ in before.values():
        assert json.loads(data)["status"] == "ok"  # never a half-written result
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"6 runs: {len(before)} already finished, {6 - len(before)} run now" in r.stdout
    after = {p.name: p for p in runs_dir.glob("*.json")}
    assert len(after) == 6
    for name, (data, mtime) in before.items():  # finished runs were not redone
        assert after[name].read_bytes() == data and after[name].stat().st_mtime_ns == mtime
    assert not list(runs_dir.glob(".*tmp"))
    seeds = sorted(rec["config"]["seed"] for rec in load_results(out))
    assert seeds == list(range(6))
    assert len((out / "results.csv").read_text().splitlines()) == 7
    assert (out / "selection.csv").exists()


def test_sweep_cli_flags_and_dry_run(tmp_path, capsys):
    rc = main(
        [
            "sweep",
            "--out",
            str(tmp_path),
            "--set",
            "epochs=1",
            "--vary",
            "lr=0.01,0.02",
            "--vary",
            "seed=0,1,2",
            "--dry-run",
        ]
    )
    assert rc == 0 and "6 runs" in capsys.readouterr().out
    assert main(["sweep", "--out", str(tmp_path), "--set", "lrate=1", "--dry-run"]) == 2
    assert "unknown setting 'lrate'" in capsys.readouterr().err


def test_shipped_grid_files_parse():
    from pathlib import Path

    files = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))
    assert files
    for f in files:
        runs = load_sweep_file(f).expand()
        assert runs, f
        assert all(r.train_config().epochs >= 1 for r in runs)


def test_shared_config_trains_once_and_is_listed_under_each_tag(tmp_path):
    a = SweepSpec.from_dict({"name": "a", "base": TINY}).expand()
    b = SweepSpec.from_dict({"name": "b", "base": TINY}).expand()
    assert a[0].run_id == b[0].run_id  # same config, different tags
    res = run_sweep(a + b, tmp_path, progress=False)
    assert (res.total, res.finished) == (1, 1)
    assert [r["experiment"] for r in res.rows] == ["a", "b"]
    assert res.rows[0]["test_accuracy"] == res.rows[1]["test_accuracy"]


def test_sweep_over_rules_and_rule_options(tmp_path):
    """A sweep varies the learning rule and its options like any other field: one run per
    (rule, option) combination, each trained by its own rule through the one trainer."""
    spec = SweepSpec(
        name="rules",
        base={**TINY, "init": "fluctuation"},
        conditions=[
            {"condition": "bptt", "rule": "bptt"},
            {"condition": "eprop", "rule": "eprop"},
            {"condition": "node", "rule": "node", "rule_options": {"trials": 2}},
        ],
        grid={"seed": [0]},
    )
    runs = spec.expand()
    assert len(runs) == 3 and len({r.run_id for r in runs}) == 3
    outcome = run_sweep(runs, tmp_path, workers=1, progress=False)
    assert outcome.finished == 3 and outcome.complete
    rows = {r["config"]["rule"]: r for r in load_results(tmp_path)}
    assert set(rows) == {"bptt", "eprop", "node"}
    # feed-forward + detached reset: e-prop is the exact gradient, so it trains like BPTT
    assert rows["eprop"]["metrics"]["train_loss"] == pytest.approx(
        rows["bptt"]["metrics"]["train_loss"], rel=1e-4
    )
    assert rows["node"]["metrics"]["train_loss"] != rows["bptt"]["metrics"]["train_loss"]
    with pytest.raises(SpikegradInputError, match="unknown rule 'nosuch'"):
        SweepSpec(name="bad", base={**TINY, "rule": "nosuch"}).expand()[0].train_config()
