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


def test_bad_arguments(tmp_path, capsys):
    rc = main(["spiketrain", "--task", "multi", "--rule", "bptt", "--out", str(tmp_path)])
    assert rc == 2
    assert "bptt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["spiketrain", "--task", "nonsense"])
