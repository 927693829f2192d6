import json

import pytest

from spikegrad.cli import build_parser, main
from spikegrad.io.checkpoint import load_checkpoint


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "surrogates" in out


def test_train_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--surrogate" in out and "superspike" in out and "--reset" in out


def test_train_small_run_writes_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(
        [
            "train",
            "--classes",
            "3",
            "--samples-per-class",
            "30",
            "--hidden",
            "16",
            "--epochs",
            "2",
            "--batch-size",
            "30",
            "--quiet",
            "--no-plots",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["epochs"] == 2 and 0 <= m["test_accuracy"] <= 1
    assert m["config"]["dataset_options"]["n_classes"] == 3
    assert "test accuracy" in capsys.readouterr().out


def test_layers_option_repeats_hidden_size():
    args = build_parser().parse_args(["train", "--hidden", "32", "--layers", "3"])
    assert args.layers == 3 and args.hidden == [32]


def test_layers_option_builds_the_layers(tmp_path, capsys):
    """--layers 3 --hidden 8: three hidden layers of 8 are built and trained."""
    out = tmp_path / "run"
    rc = main(["train", "--hidden", "8", "--layers", "3", "--classes", "3", "--units", "5",
               "--samples-per-class", "10", "--epochs", "1", "--batch-size", "10",
               "--out", str(out), "--quiet", "--no-plots"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert json.loads((out / "config.json").read_text())["hidden"] == [8, 8, 8]
    sd = load_checkpoint(out / "checkpoint.pt")["state_dict"]
    shapes = {k: tuple(v.shape) for k, v in sd.items() if k.endswith("weight")}
    assert shapes == {"layers.0.weight": (8, 5), "layers.1.weight": (8, 8),
                      "layers.2.weight": (8, 8), "readout.weight": (3, 8)}  # fmt: skip


def test_bad_input_gives_clear_error_not_traceback(tmp_path, capsys):
    f = tmp_path / "afile"
    f.write_text("")
    rc = main(["train", "--epochs", "1", "--samples-per-class", "10", "--out", str(f), "--quiet"])
    assert rc == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "Traceback" not in err
    rc = main(["train", "--tau-mem", "-1", "--out", str(tmp_path / "x"), "--quiet"])
    assert rc == 2 and "tau_mem" in capsys.readouterr().err


def test_unknown_surrogate_rejected_by_parser(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--surrogate", "nope"])
    assert e.value.code == 2
    assert "superspike" in capsys.readouterr().err
