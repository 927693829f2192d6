"""``spikegrad perturb``: gradient check, learning on fixed seeds, metrics.json, errors."""

from __future__ import annotations

import json

import pytest
import torch

from spikegrad.cli import main
from spikegrad.perturbation.learn import LearnConfig, learn
from spikegrad.perturbation.tasks import RatesTask, make_digits

torch.set_num_threads(1)


def test_check_gradient_writes_cosine(tmp_path):
    out = tmp_path / "chk"
    rc = main(["perturb", "--check-gradient", "--trials", "1000", "--fd-trials", "1000",
               "--out", str(out), "--quiet"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["trials"] == 1000
    assert m["gradient_cosine"] >= 0.9
    c = m["cosine_by_trials"]
    assert c["1"] < c["10"] < c["100"] < c["1000"]
    assert (out / "gradient_scatter.png").stat().st_size > 0


def test_digits_reward_only_learning(tmp_path):
    out = tmp_path / "dig"
    rc = main(["perturb", "--task", "digits", "--classes", "3", "--iterations", "60",
               "--samples-per-class", "40", "--eval-every", "10", "--out", str(out),
               "--quiet"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("initial_error", "final_error", "error_reduction", "test_accuracy", "trials",
                "wall_seconds"):
        assert key in m
    assert m["trials"] == 60 * 32 * 2  # perturbed + paired unperturbed trials
    assert m["initial_test_accuracy"] < 0.5
    assert m["test_accuracy"] >= 0.9
    assert m["error_reduction"] > 0.3
    assert (out / "learning_curve.png").exists()


def test_rates_cli_compare_writes_all_rules(tmp_path):
    out = tmp_path / "rates"
    rc = main(["perturb", "--task", "rates", "--iterations", "2", "--batch", "4",
               "--eval-every", "2", "--compare", "weight", "node", "--out", str(out),
               "--quiet"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["compare"]) == {"perturbation", "weight", "node"}
    assert m["test_accuracy"] is None and m["trials"] == 2 * (4 + 1)
    assert (out / "rates.png").exists() and (out / "learning_curve.png").exists()


def test_rates_error_falls_with_the_plain_perturbation_rule():
    # SGD: W += lr * <(R - R_paired) e> / sigma^2, i.e. Fiete & Seung's dW = eta (R - R_bar) e
    # with eta = lr / sigma^2, on a fixed seed
    task = RatesTask()
    res = learn(task, LearnConfig(rule="perturbation", iterations=30, batch=16, lr=30.0,
                                  sigma=0.3, optimizer="sgd", eval_every=30, seed=0))
    h = res.history
    assert h[-1]["error"] < 0.7 * h[0]["error"]
    assert bool((res.W >= 0).all())
    fixed = ~task.topology.plastic
    assert torch.equal(res.W[fixed], task.init_weights()[fixed])


def test_running_baseline_learning_runs():
    task = RatesTask()
    res = learn(task, LearnConfig(rule="perturbation", iterations=20, batch=8, lr=0.3,
                                  sigma=0.3, baseline="running", eval_every=20, seed=1))
    assert res.history[-1]["error"] < res.history[0]["error"]
    assert res.history[-1]["trials"] == 20 * 8  # no paired trials


def test_digits_are_latency_coded():
    ds = make_digits(5, n_classes=10, noise=0.0, seed=0)
    x = ds.dense([0])  # a clean zero: on pixels spike at t_min, off pixels are silent
    assert int(x.sum()) == 19
    assert int(torch.nonzero(x)[:, 0].unique().numel()) == 1


def test_cli_rejects_bad_settings(tmp_path, capsys):
    rc = main(["perturb", "--task", "rates", "--sigma", "0", "--iterations", "1",
               "--out", str(tmp_path / "a"), "--quiet"])
    assert rc == 2
    assert "sigma" in capsys.readouterr().err
    rc = main(["perturb", "--task", "rates", "--lr", "-1", "--iterations", "1",
               "--out", str(tmp_path / "b"), "--quiet"])
    assert rc == 2
    assert "lr" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["perturb", "--baseline", "batch_mean"])


def test_shared_flag_vocabulary_and_run_folder(tmp_path):
    # --batch-size / --epochs (epochs of --eval-every updates) mean the old --batch /
    # --iterations; the run folder is the one of every command
    out = tmp_path / "voc"
    rc = main(["perturb", "--task", "rates", "--epochs", "1", "--eval-every", "2",
               "--batch-size", "4", "--seed", "3", "--out", str(out), "--quiet",
               "--no-plots"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["iterations"] == 2 and m["trials"] == 2 * (4 + 1)
    assert m["config"]["seed"] == 3 and m["registry_rule"] == "conductance"
    for name in ("config.json", "history.csv", "checkpoint.pt", "last.pt"):
        assert (out / name).stat().st_size > 0, name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["rule"] == "conductance" and cfg["rule_options"]["trials"] == 4
    assert len((out / "history.csv").read_text().splitlines()) == 2  # header + 1 epoch


@pytest.mark.parametrize("flags", [["--iterations", "0"], ["--batch-size", "0"],
                                   ["--eval-every", "0"], ["--threads", "0"],
                                   ["--epochs", "0"], ["--task", "digits", "--classes", "1"],
                                   ["--check-gradient", "--trials", "0"],
                                   ["--batch", "0"], ["--task", "digits", "--hidden", "4", "4"]])
def test_explicit_zero_is_an_error_not_the_default(tmp_path, capsys, flags):
    rc = main(["perturb", *flags, "--out", str(tmp_path / "z"), "--quiet", "--no-plots"])
    assert rc == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flags[-2] in err[0]
    with pytest.raises(SystemExit):
        main(["perturb", "--iterations", "2", "--epochs", "1"])


def test_task_option_sets_any_task_field_and_refuses_flagged_or_unknown_ones(tmp_path, capsys):
    # issue 27: --task-option KEY=VALUE for every task (rates included), never required
    out = tmp_path / "opt"
    rc = main(["perturb", "--task", "rates", "--task-option", "n_exc=8", "--iterations", "2",
               "--batch-size", "2", "--eval-every", "2", "--out", str(out), "--quiet",
               "--no-plots"])  # fmt: skip
    assert rc == 0
    assert json.loads((out / "config.json").read_text())["task"]["n_exc"] == 8
    for opt, words in (("n_classes=3", "--classes"), ("nope=1", "not a setting"),
                       ("n_exc=x", "n_exc"), ("n_exc", "KEY=VALUE")):  # fmt: skip
        assert main(["perturb", "--task-option", opt, "--out", str(tmp_path / "z"),
                     "--quiet"]) == 2  # fmt: skip
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], err
