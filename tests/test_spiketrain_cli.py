"""The ``spikegrad spiketrain`` sub-command: runs, writes metrics.json, validates arguments."""

from __future__ import annotations

import json

import pytest
import torch

from spikegrad.cli import main


@pytest.fixture(autouse=True)
def _restore_threads():
    """The command sets torch's thread count (--threads 1); restore it for other tests."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_single_task_writes_metrics(tmp_path):
    out = tmp_path / "run"
    rc = main(
        [
            "spiketrain",
            "--task",
            "single",
            "--inputs",
            "200",
            "--duration",
            "0.4",
            "--target-spikes",
            "3",
            "--init-scale",
            "0.04",
            "--epochs",
            "25",
            "--delays",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("correlation", "epochs", "epochs_to_0.95", "test_accuracy", "distance"):
        assert key in m
    assert m["epochs"] == 25 and m["test_accuracy"] is None and m["delays"] is True
    assert m["correlation"] >= 0.95 and m["epochs_to_0.95"] is not None
    for name in ("input_raster.png", "outputs_by_epoch.png", "learning_curves.png", "history.csv"):
        assert (out / name).stat().st_size > 0
    assert len((out / "history.csv").read_text().splitlines()) == 27
    # the run folder of the one trainer: config, best weights, resume state
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["rule"] == "kernel" and cfg["delays"] is True and cfg["batch_size"] == 1
    assert cfg["rule_options"]["kernel"] == "gaussian" and cfg["task_options"]["view"] == "trains"
    for name in ("checkpoint.pt", "last.pt"):
        assert (out / name).stat().st_size > 0
    assert m["val_correlation"] == m["correlation"] and m["score"] == "correlation"
    assert 0.0 <= m["mean_delay_s"] <= 20e-3
    header = (out / "history.csv").read_text().splitlines()[0]
    assert header.startswith("epoch,train_loss,train_correlation,val_loss,val_correlation")


def test_classify_task_reports_accuracy(tmp_path):
    out = tmp_path / "cls"
    rc = main(
        [
            "spiketrain",
            "--task",
            "classify",
            "--inputs",
            "60",
            "--duration",
            "0.3",
            "--classes",
            "2",
            "--train-per-class",
            "3",
            "--test-per-class",
            "5",
            "--init-scale",
            "0.12",
            "--epochs",
            "6",
            "--out",
            str(out),
            "--quiet",
            "--no-plots",
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert 0.0 <= m["test_accuracy"] <= 1.0 and m["test_accuracy"] >= 0.7


def _small_run(tmp_path, *extra: str) -> dict:
    out = tmp_path / "run"
    rc = main(["spiketrain", "--inputs", "100", "--duration", "0.2", "--target-spikes", "2",
               "--out", str(out), "--quiet", "--no-plots", *extra])  # fmt: skip
    assert rc == 0
    return json.loads((out / "metrics.json").read_text())


def test_bptt_rule_trains_a_lif_network_through_the_trainer(tmp_path):
    m = _small_run(tmp_path, "--rule", "bptt", "--epochs", "3", "--init-scale", "0.12")
    assert m["rule"] == "bptt" and m["epochs"] == 3
    assert m["config"]["task_options"]["view"] == "binned"
    assert 0.0 <= m["correlation"] <= 1.0
    m = _small_run(tmp_path, "--rule", "bptt", "--epochs", "2", "--delays")
    assert 0.0 <= m["mean_delay_s"] <= 20e-3


def test_multi_task_with_hidden_delays(tmp_path):
    m = _small_run(tmp_path, "--task", "multi", "--hidden", "8", "--epochs", "2", "--delays")
    assert m["hidden"] == 8 and m["epochs"] == 2 and 0.0 <= m["mean_delay_s"] <= 20e-3


def test_bad_arguments(tmp_path, capsys):
    rc = main(["spiketrain", "--task", "multi", "--rule", "bptt", "--out", str(tmp_path)])
    assert rc == 2
    assert "bptt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["spiketrain", "--task", "nonsense"])
    capsys.readouterr()
    for bad, word in ((["--rule", "resume", "--delays"], "delay"), (["--epochs", "0"], "epochs"),
                      (["--batch-size", "0"], "batch-size"), (["--max-delay", "-1", "--delays"],
                                                              "max_delay")):  # fmt: skip
        rc = main(["spiketrain", *bad, "--out", str(tmp_path / "bad"), "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and word in err and len(err.strip().splitlines()) == 1, (bad, err)
