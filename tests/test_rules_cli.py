"""`spikegrad train --rule R --model M --task T`: every rule on a model it supports.

Each case trains a small task through the one trainer and must (a) exit 0, (b) write the
same run-folder files, (c) lower the training loss from the first epoch to the last, and
(d) load back with `load_run` as a model of its kind with the checkpoint's weights. The
e-prop and node-perturbation commands are tested in tests/test_rule_eprop.py and
tests/test_rule_perturbation.py.
"""

import csv
import json

import pytest
import torch

from spikegrad import load_run
from spikegrad.cli import main
from spikegrad.io.checkpoint import load_checkpoint
from spikegrad.learning.rules import model_kind

LIF = "--classes 3 --samples-per-class 30 --hidden 16 --epochs 3 --batch-size 30 --init fluctuation"
COBA = "--model coba --task digits --data-limit 300 --epochs 4 --batch-size 30 --lr 0.1"
SRM = (
    "--model srm --task spike-target --task-option n_inputs=200 --task-option duration=0.4 "
    "--task-option n_target=3 --model-option duration=0.4 --model-option init_scale=0.04 "
    "--optimizer sgd --epochs 10 --batch-size 1"
)

# (rule and its options, model/task flags, model kind); measured train-loss falls, seed 0:
CASES = {
    "weight-lif": ("--rule weight --rule-option trials=32", LIF, "lif"),  # 1.096 -> 1.077
    "bptt-coba": ("--rule bptt", COBA, "coba"),  # 2.264 -> 1.749
    # 2.274 -> 2.104
    "conductance-coba": ("--rule conductance --rule-option trials=16", COBA, "coba"),
    "kernel-srm": ("--rule kernel --lr 0.003", SRM, "srm"),  # 1.226 -> 0.900
    "resume-srm": ("--rule resume --lr 0.03", SRM, "srm"),  # 1.226 -> 0.345
    # 0.693 -> 0.312 (test accuracy 0.983)
    # --lr 0.05 pins the rate these numbers were measured at (the task recipe has its own)
    "bptt-lag-order": ("--rule bptt", "--task lag-order --epochs 3 --batch-size 50 --lr 0.05",
                       "lif"),
}


#: small tensors: every test on one torch thread (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("case", list(CASES))
def test_rule_trains_its_model_through_spikegrad_train(case, tmp_path, capsys):
    rule, flags, kind = CASES[case]
    out = tmp_path / case
    argv = ["train", *rule.split(), *flags.split(), "--seed", "0", "--quiet", "--no-plots"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt", "last.pt"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "history.csv").open()))
    first, last = float(rows[0]["train_loss"]), float(rows[-1]["train_loss"])
    assert last < first, (case, first, last)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["rule"] == rule.split()[1]
    model = load_run(out)
    assert model_kind(model) == kind
    sd = load_checkpoint(out / "checkpoint.pt")["state_dict"]
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k]), k


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--rule", "conductance"], "rule 'conductance' cannot train a 'lif' model"),
        (["--rule", "kernel", "--model", "coba"], "rule 'kernel' cannot train a 'coba' model"),
        (["--model", "srm"], "rule 'bptt' cannot train a 'srm' model"),
        (["--model-option", "n_hidden=-1", "--model", "coba"], "n_hidden"),
        (["--model", "srm", "--model-option", "nosuch=1", "--rule", "kernel"], "nosuch"),
        # --task-option is accepted for every task (issue 27); a key the task lacks is refused
        (["--task-option", "samples=10"], "--task-option samples=...: randman has no option"),
    ],
)
def test_incompatible_combinations_exit_2_with_one_line(argv, needle, tmp_path, capsys):
    rc = main(["train", *argv, "--epochs", "1", "--quiet", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err


def test_rules_command_prints_the_matrix_in_plain_text(capsys):
    from spikegrad.learning.rules import RULES, rule_matrix

    assert main(["rules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    matrix = rule_matrix()
    assert set(rows) == set(RULES)
    for name, r in rows.items():
        assert r["choices"] == matrix[name], name
        assert r["about"] and not any(t in r["about"] for t in ("`", ":math:", ":class:", "\\"))
    assert rows["eprop"]["choices"] == ["lif", "alif"] and rows["eprop"]["exact"] is False
    assert rows["kernel"]["choices"] == ["srm"]
    assert main(["rules"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["rule", "--model", "update", "description"]
    by_rule = {line.split()[0]: line for line in lines[1:]}
    assert set(by_rule) == set(RULES)
    for name, line in by_rule.items():
        assert ", ".join(matrix[name]) in line, name
        assert ("exact" if rows[name]["exact"] else "estimate") in line
        assert "`" not in line and ":math:" not in line
    assert "windows of k steps" in by_rule["tbptt"]


def test_plain_strips_rest_markup():
    from spikegrad.commands.rules import plain

    text = (r"See :class:`~spikegrad.nn.LIFLayer`, :func:`f <a.f>`, :math:`\beta_{m}`, "
            r"``k`` steps, `x` and SRM\ 0")
    assert plain(text) == "See LIFLayer, f, beta_m, k steps, x and SRM0"


def test_models_command_shows_the_cli_spelling(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    want = {"lif": ["lif"], "alif": ["alif"], "izhikevich": ["izhikevich"], "conv2d": ["conv"],
            "avgpool2d": ["conv"], "flatten": ["conv"], "dropout": ["conv"], "coba": ["coba"],
            "srm": ["srm"], "readout": ["lif", "alif", "izhikevich", "conv"]}
    for name, choices in want.items():
        assert rows[name]["model_choices"] == choices, name
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "--model conv " in out and "--model lif|alif|izhikevich|conv" in out
