"""``spikegrad stream`` on the run-folder contract: config.json, metrics.json, history.csv
(the prequential curve), atomic plot; --task (with --dataset as alias); bad flags exit 2."""

import csv
import json

import pytest

pytest.importorskip("river")

from spikegrad.cli import main  # noqa: E402
from spikegrad.online.prequential import prequential  # noqa: E402
from spikegrad.online.streams import make_model, make_stream  # noqa: E402


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_stream_run_folder_contract(tmp_path):
    out = tmp_path / "run"
    assert main(["stream", "--task", "phishing", "--samples", "250", "--window", "100",
                 "--record-every", "25", "--print-every", "0", "--out", str(out)]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"] == "stream" and cfg["task"] == "phishing" and cfg["model"] == "oesnn"
    assert cfg["samples"] == 250 and cfg["record_every"] == 25 and cfg["window"] == 100
    assert cfg["scaler"] is True and cfg["seed"] == 0 and cfg["params"] == {}
    assert cfg["threads"] is None and cfg["stream_length"] == 1250
    m = json.loads((out / "metrics.json").read_text())
    rows = _rows(out / "history.csv")
    assert [int(r["samples"]) for r in rows] == list(range(25, 251, 25))
    assert [float(r["window_accuracy"]) for r in rows] == pytest.approx(
        m["window_accuracy"], abs=1e-6)
    # the last row's cumulative accuracy is the final prequential accuracy
    assert float(rows[-1]["accuracy"]) == pytest.approx(m["accuracy"], abs=1e-6)
    # the same numbers as the library's evaluator on the same stream and model
    ref = prequential(make_stream("phishing")(0, 250), make_model("oesnn"), window=100,
                      record_every=25)
    assert m["accuracy"] == ref.accuracy and m["scored"] == 249
    assert ref.history_rows()[3] == {"samples": 100, "accuracy": ref.cumulative_accuracy[3],
                                     "window_accuracy": ref.window_accuracy[3]}
    assert (out / "windowed_accuracy.png").read_bytes()[:4] == b"\x89PNG"
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temp files


def test_dataset_is_an_alias_of_task(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    common = ["--samples", "200", "--no-plots", "--print-every", "0"]
    assert main(["stream", "--task", "sine", "--out", str(a), *common]) == 0
    assert main(["stream", "--dataset", "sine", "--out", str(b), *common]) == 0
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    assert ma["task"] == mb["task"] == mb["dataset"] == "sine"
    assert ma["accuracy"] == mb["accuracy"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--samples", "0"], "--samples must be an integer >= 1, got 0"),
        (["--threads", "-1"], "--threads must be an integer >= 0, got -1"),
        (["--window", "0"], "--window must"),
        (["--record-every", "0"], "--record-every must"),
        (["--print-every", "-1"], "--print-every must"),
        (["--seed", "-1"], "--seed must"),
    ],
)
def test_bad_flags_exit_2_with_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "never"
    assert main(["stream", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_unwritable_out_exits_2_before_the_run(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    for out in (tmp_path / "file", tmp_path / "file" / "sub"):
        assert main(["stream", "--samples", "50", "--out", str(out)]) == 2
        err = capsys.readouterr()
        assert "output folder" in err.err and len(err.err.strip().splitlines()) == 1
        assert "prequential accuracy" not in err.out


def test_against_river_leaders(tmp_path):
    """--against takes river's forests (ARF, SRP, AMF) and the tree; each row is the same
    model run by the library's evaluator on the same samples."""
    out = tmp_path / "lead"
    assert main(["stream", "--task", "phishing", "--samples", "120", "--no-plots",
                 "--print-every", "0", "--against", "ht,arf,srp,amf", "--out", str(out)]) == 0
    rows = _rows(out / "table.csv")
    assert [r["model"] for r in rows] == ["oesnn", "ht", "arf", "srp", "amf"]
    for r in rows[1:]:
        ref = prequential(make_stream("phishing")(0, 120), make_model(r["model"]))
        assert float(r["accuracy"]) == pytest.approx(ref.accuracy, abs=1e-6)
    types = {n: type(make_model(n, scale=False)).__name__ for n in ("arf", "srp", "amf")}
    assert types == {"arf": "ARFClassifier", "srp": "SRPClassifier", "amf": "AMFClassifier"}
