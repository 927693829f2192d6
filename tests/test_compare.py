"""`spikegrad compare`: same start per seed, every output file, exact fidelity of BPTT,
verdict rules on constructed data, truncated BPTT, one-line CLI errors."""

import copy
import csv
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from spikegrad import SpikingNetwork, make_rule, make_task
from spikegrad.cli import main
from spikegrad.experiments.compare import (
    CompareConfig,
    compare,
    expectations,
    gradient_fidelity,
)
from spikegrad.experiments.stats import diff_interval, mean_interval, t975
from spikegrad.learning.rules import Rule, RuleStep

TINY = {"n_classes": 3, "samples_per_class": 20, "n_units": 10, "n_steps": 30,
        "spike_window": 25}  # fmt: skip


@pytest.fixture(scope="module")
def batch():
    task = make_task("randman", seed=3, **TINY)
    x, y = next(task.batches("train", 12, dtype=torch.float64))
    return task, x, y


def _net(recurrent=False, backend="reference"):
    return SpikingNetwork(10, 3, hidden=(12,), recurrent=recurrent, seed=1, backend=backend,
                          init="fluctuation", input_rate=0.03, hidden_rate=0.05).double()


@dataclass
class _Scaled(Rule):
    """BPTT's gradient times a factor (a rule with a known fidelity)."""

    name: ClassVar[str] = "scaled"
    models: ClassVar[tuple[str, ...]] = ("lif",)
    factor: float = 2.0

    def gradients(self, model, task, x, y):
        res = make_rule("bptt").gradients(model, task, x, y)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(self.factor)
        return RuleStep(res.loss, res.out)


def test_bptt_fidelity_against_itself_is_exactly_one(batch):
    task, x, y = batch
    net = _net()
    f = gradient_fidelity(net, make_rule("bptt"), task, x, y, draws=2)
    assert f["cosine"] == 1.0 and f["norm_ratio"] == 1.0 and f["cosine_of_mean"] == 1.0
    assert f["variance"] == 0.0  # deterministic: two draws agree bit for bit
    assert f["n_params"] == sum(p.numel() for p in net.parameters())
    # the measurement is not vacuous: known scalings of the same gradient
    for factor, cos in ((2.0, 1.0), (-0.5, -1.0)):
        g = gradient_fidelity(net, _Scaled(factor), task, x, y)
        assert g["cosine"] == pytest.approx(cos, abs=1e-12)
        assert g["norm_ratio"] == pytest.approx(abs(factor), rel=1e-12)
    # feed-forward e-prop is BPTT (float64: to round-off); recurrent e-prop is not
    assert gradient_fidelity(net, make_rule("eprop"), task, x, y)["cosine"] > 1 - 1e-12
    rec = _net(recurrent=True)
    assert gradient_fidelity(rec, make_rule("eprop"), task, x, y)["cosine"] < 1 - 1e-4


def test_stochastic_fidelity_leaves_the_rules_generator_alone(batch):
    task, x, y = batch
    net = _net()
    rule = make_rule("node", trials=2, seed=4)
    before = copy.deepcopy(rule.state_dict())
    f = gradient_fidelity(net, rule, task, x, y, draws=3)
    assert torch.equal(rule.state_dict()["generator"], before["generator"]) if (
        "generator" in before) else rule.state_dict().keys() == before.keys()
    assert f["variance"] > 0 and math.isfinite(f["rel_variance"])
    assert -1 <= f["cosine"] <= 1


def test_truncated_bptt_is_bptt_for_long_windows_and_zero_for_two_steps(batch):
    task, x, y = batch
    for recurrent in (False, True):
        net = _net(recurrent)
        make_rule("bptt").gradients(net, task, x, y)
        ref = [p.grad.clone() for p in net.parameters()]
        make_rule("tbptt", k=x.shape[0]).gradients(net, task, x, y)
        for a, p in zip(ref, net.parameters(), strict=True):
            torch.testing.assert_close(p.grad, a, rtol=1e-10, atol=1e-13)
        # S[n] reaches the next membrane at n + 2: windows of 2 steps carry no gradient
        make_rule("tbptt", k=2).gradients(net, task, x, y)
        assert all(float(p.grad.abs().max()) == 0.0 for p in net.parameters())
        make_rule("tbptt", k=5).gradients(net, task, x, y)
        diff = max(float((p.grad - a).abs().max()) for a, p in zip(ref, net.parameters(),
                                                                    strict=True))  # fmt: skip
        assert diff > 1e-4  # a real truncation


def test_t_intervals_by_hand():
    assert t975(1) == 12.706 and t975(30) == 2.042
    assert t975(60) == pytest.approx(2.0003, abs=2e-4)  # tabulated value 2.000
    iv = mean_interval([1.0, 2.0, 3.0])  # sd 1, half width 4.303 / sqrt(3)
    assert (iv.mean, iv.sd, iv.n) == (2.0, 1.0, 3)
    assert iv.hi - iv.mean == pytest.approx(4.303 / math.sqrt(3), rel=1e-12)
    d = diff_interval([0.8, 0.9], [0.7, 0.7])  # differences 0.1, 0.2
    assert d.mean == pytest.approx(0.15) and d.lo == pytest.approx(0.15 - 12.706 * 0.05)


def _summary(rule, accs, **kw):
    iv = mean_interval(accs)
    row = {"rule": rule, "n_seeds": len(accs), "test_accuracy": iv.mean, "test_accuracy_sd": iv.sd,
           "test_accuracy_lo": iv.lo, "test_accuracy_hi": iv.hi, "cosine_min": math.nan,
           "cosine_max": math.nan, "cosine_start": math.nan, "cosine_end": math.nan}  # fmt: skip
    row.update(kw)
    return row


def _cells(rule, accs):
    return [{"rule": rule, "seed": s, "test_accuracy": a} for s, a in enumerate(accs)]


def test_expectation_verdicts_on_constructed_data():
    v = {}

    def run(summary, probes=(), cells=(), chance=0.1):
        return {e["id"]: e["verdict"] for e in expectations(summary, probes, chance=chance,
                                                            cells=cells)}  # fmt: skip

    # BPTT tied (node higher on average, but the paired interval contains 0) -> true
    b, n = [0.80, 0.85, 0.90], [0.84, 0.83, 0.95]
    v = run([_summary("bptt", b), _summary("node", n)], cells=_cells("bptt", b) + _cells("node", n))
    assert v["bptt-best"] == "true"
    # node better on every seed by a steady margin -> false
    n = [0.90, 0.95, 1.00]
    v = run([_summary("bptt", b), _summary("node", n)], cells=_cells("bptt", b) + _cells("node", n))
    assert v["bptt-best"] == "false"
    # beats chance: lower bound 0.3 > 0.1 true; a wide interval reaching chance -> false
    assert v["beats-chance"] == "true"
    v = run([_summary("weight", [0.05, 0.6, 0.3])])
    assert v["beats-chance"] == "false" and v["bptt-best"] == "no data"
    # e-prop cosines
    v = run([_summary("eprop", [0.5], cosine_min=0.9995, cosine_max=1.0),
             _summary("eprop-rec", [0.5], cosine_min=0.95, cosine_max=0.99, cosine_start=0.99,
                      cosine_end=0.95)])  # fmt: skip
    assert v["eprop-ff-cosine"] == "true" and v["eprop-rec-cosine"] == "true"
    v = run([_summary("eprop", [0.5], cosine_min=0.998, cosine_max=1.0),
             _summary("eprop-rec", [0.5], cosine_min=0.99, cosine_max=0.99999, cosine_start=1,
                      cosine_end=1)])  # fmt: skip
    assert v["eprop-ff-cosine"] == "false" and v["eprop-rec-cosine"] == "false"
    # probes: node cosine vs trials, variance weight vs node, growth with units
    def p(probe, rule, trials, cos, relv, units=None, var=None):
        return {"probe": probe, "rule": rule, "trials": trials, "cosine": cos,
                "rel_variance": relv, "perturbed_units": units, "variance": var}  # fmt: skip

    rising = [p("trials", "node", 1, 0.05, 9.0), p("trials", "node", 4, 0.1, 2.0),
              p("trials", "node", 16, 0.2, 0.5), p("trials", "weight", 1, 0.04, 20.0),
              p("size", "node", 1, 0, 0, 10, 1.0), p("size", "node", 1, 0, 0, 40, 3.0)]  # fmt: skip
    v = run([], rising)
    assert v["node-trials"] == "true" and v["weight-vs-node-variance"] == "true"
    assert v["variance-grows"] == "true"
    falling = [p("trials", "node", 1, 0.2, 30.0), p("trials", "node", 16, 0.1, 0.5),
               p("trials", "weight", 1, 0.04, 20.0), p("size", "node", 1, 0, 0, 10, 3.0),
               p("size", "node", 1, 0, 0, 40, 1.0)]  # fmt: skip
    v = run([], falling)
    assert v["node-trials"] == "false" and v["weight-vs-node-variance"] == "false"
    assert v["variance-grows"] == "false"


def test_tiny_compare_writes_every_file_and_resumes(tmp_path):
    cfg = CompareConfig(task="randman", task_options=dict(TINY), rules=("bptt", "node"),
                        seeds=2, epochs=2, hidden=8, batch_size=16, fidelity_batch=8,
                        draws=2, probe_trials=(1, 4), probe_sizes=(4, 8), probe_draws=2)
    res = compare(cfg, tmp_path / "c", progress=False)
    out = tmp_path / "c"
    assert (res.total, res.finished, res.failed) == (6, 6, 0)  # 2 rules x 2 seeds + 2 probes
    for name in ("compare.json", "results.csv", "summary.csv", "probes.csv", "report.md",
                 "expectations.json", "accuracy_epoch.png", "accuracy_wall.png", "cosine.png",
                 "variance_size.png"):  # fmt: skip
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 2 * 2 * 3  # rule x seed x epoch (0, 1, 2)
    by = {(r["rule"], r["seed"], r["epoch"]): r for r in rows}
    for s in ("0", "1"):  # same initial weights for every rule of a seed
        assert by["bptt", s, "0"]["val_accuracy"] == by["node", s, "0"]["val_accuracy"]
        for e in ("0", "1", "2"):  # checkpoints at 0, 0.5 and 1 of training
            assert float(by["bptt", s, e]["cosine"]) == 1.0
            assert float(by["bptt", s, e]["norm_ratio"]) == 1.0
            assert by["node", s, e]["variance"] != ""
    cells = {p.stem: json.loads(p.read_text()) for p in (out / "runs").glob("*-s*.json")}
    assert cells["bptt-s0"]["init_sha256"] == cells["node-s0"]["init_sha256"]
    assert cells["bptt-s1"]["init_sha256"] == cells["node-s1"]["init_sha256"]
    assert cells["bptt-s0"]["init_sha256"] != cells["bptt-s1"]["init_sha256"]
    summary = list(csv.DictReader(open(out / "summary.csv")))
    assert [r["rule"] for r in summary] == ["bptt", "node"]
    for r in summary:  # 2 seeds: t(0.975, 1) = 12.7 must not push an accuracy out of [0, 1]
        assert 0.0 <= float(r["test_accuracy_lo"]) <= float(r["test_accuracy"])
        assert float(r["test_accuracy"]) <= float(r["test_accuracy_hi"]) <= 1.0
    exps = json.loads((out / "expectations.json").read_text())
    assert {e["id"] for e in exps} >= {"bptt-best", "node-trials", "beats-chance"}
    report = (out / "report.md").read_text()
    assert "| bptt | lif | 2 |" in report and "## Expectations" in report
    before = (out / "results.csv").read_text()
    again = compare(cfg, out, progress=False)
    assert (again.skipped, again.finished) == (6, 0)
    assert (out / "results.csv").read_text() == before
    # other settings in the same folder are refused, more seeds are not
    with pytest.raises(Exception, match="other settings"):
        compare(CompareConfig(**{**cfg.__dict__, "epochs": 3}), out, progress=False)


def _cli(capsys, *args):
    try:
        rc = main(["compare", *args])
    except SystemExit as exc:  # argparse's own errors
        rc = exc.code
    return rc, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--rules", "bptt", "nope"], "rule"),
        (["--rules", "kernel"], "srm"),
        (["--task", "spike-target", "--rules", "bptt"], "lif"),
        (["--seeds", "0"], "--seeds"),  # the old spelling, named as typed
        (["--n-seeds", "0"], "--n-seeds"),
        (["--seed", "-1"], "--seed"),
        (["--target", "0.5"], "--score"),  # retired: stream's --target is a CSV column
        (["--score", "2"], "--score"),
        (["--rule-option", "k=3"], "RULE.KEY=VALUE"),
        (["--rule-option", "nope.trials=3"], "not compared"),
        (["--rules", "eprop", "--model", "coba"], "cannot train --model coba"),
        (["--rules", "eprop-rec", "--model", "coba"], "conflicts with --model coba"),
        (["--model", "izhikevich"], "--model"),
        (["--model", "coba", "--rules", "bptt", "--hidden", "4", "4"], "--hidden"),
        (["--rules", "node", "--recurrent"], "node"),
        (["--hidden", "8", "0"], "--hidden"),
        (["--probe-sizes", "0"], "--probe-sizes"),
        (["--rules", "tbptt", "--rule-option", "tbptt.k=0"], "k"),
        (["--task", "nosuchtask"], "task"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, args, words):
    rc, err = _cli(capsys, *args, "--out", str(tmp_path / "o"))
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("usage")
             and not ln.startswith(" ")]  # argparse prints its usage first
    assert rc == 2, err
    assert len(lines) == 1 and words in lines[0], err
    assert not (tmp_path / "o" / "runs").exists()  # refused before anything ran


def _parsed(*args):
    from spikegrad.cli import build_parser

    return build_parser().parse_args(["compare", "--out", "o", *args])


def test_cli_seed_vocabulary_and_the_old_seeds_alias():
    a = _parsed()
    assert (a.seed, a.n_seeds, a.hidden) == (0, 3, [32])
    assert _parsed("--seeds", "5").n_seeds == 5  # old command lines keep their meaning
    assert _parsed("--n-seeds", "5", "--seed", "2").n_seeds == 5
    assert _parsed("--hidden", "16", "8").hidden == [16, 8]


@pytest.mark.parametrize(
    ("args", "names"),
    [
        ([], ["bptt", "eprop", "node"]),
        (["--rules", "eprop", "bptt", "--recurrent"], ["eprop-rec", "bptt-rec"]),
        (["--rules", "eprop-rec"], ["eprop-rec"]),  # the old name: the same cell name
        (["--rules", "bptt", "weight", "conductance", "--model", "coba"],
         ["bptt-coba", "weight-coba", "conductance"]),
        (["--rules", "bptt-coba", "--model", "coba"], ["bptt-coba"]),
        (["--rules", "bptt", "conductance"], ["bptt", "conductance"]),  # its one model
        (["--rules", "bptt", "--model", "alif"], ["bptt-alif"]),
        (["--rules", "kernel", "resume"], ["kernel", "resume"]),
    ],
)
def test_cli_rules_on_a_model_map_to_the_compared_names(args, names):
    from spikegrad.commands.compare import _resolve_rules

    a = _parsed(*args)
    assert _resolve_rules(a.rules, a.model, a.recurrent) == names


def test_cli_rule_option_prefix_picks_the_rule_and_bare_keys_go_to_every_taker():
    from spikegrad.commands.compare import _rule_options

    compared = ["bptt", "node", "weight", "eprop-rec"]
    assert _rule_options(["trials=8"], compared, "--rule-option") == {
        "node": {"trials": 8}, "weight": {"trials": 8}}
    assert _rule_options(["node.trials=2", "eprop.lr=1"], compared, "--rule-option") == {
        "node": {"trials": 2}, "eprop-rec": {"lr": 1}}  # RULE. also names the registry rule


def test_cli_first_seed_and_count_run_those_seeds(tmp_path, capsys):
    opts = [f"--task-option={k}={v}" for k, v in TINY.items()]
    out = tmp_path / "c"
    rc, err = _cli(capsys, *opts, "--rules", "bptt", "--seed", "2", "--n-seeds", "1",
                   "--epochs", "1", "--hidden", "8", "--probe-trials", "--probe-sizes",
                   "--quiet", "--out", str(out))  # fmt: skip
    assert rc == 0, err
    assert sorted(p.stem for p in (out / "runs").glob("*.json")) == ["bptt-s2"]
    # an explicit first seed is kept on resume; the old --seeds spelling means the count
    rc, err = _cli(capsys, *opts, "--rules", "bptt", "--seed", "2", "--seeds", "2",
                   "--epochs", "1", "--hidden", "8", "--probe-trials", "--probe-sizes",
                   "--quiet", "--out", str(out))  # fmt: skip
    assert rc == 0, err
    assert sorted(p.stem for p in (out / "runs").glob("*.json")) == ["bptt-s2", "bptt-s3"]


@pytest.mark.parametrize(
    ("flags", "cells", "model"),
    [
        (["--model", "alif", "--rules", "bptt"], ["bptt-alif-s0"], "alif"),
        (["--model", "coba", "--rules", "bptt"], ["bptt-coba-s0"], "coba"),
        (["--recurrent", "--rules", "eprop"], ["eprop-rec-s0"], "lif-rec"),
    ],
)
def test_cli_rule_on_a_model_trains_that_model(tmp_path, capsys, flags, cells, model):
    opts = [f"--task-option={k}={v}" for k, v in TINY.items()]
    out = tmp_path / "m"
    rc, err = _cli(capsys, *opts, *flags, "--n-seeds", "1", "--epochs", "1", "--hidden", "8",
                   "--probe-trials", "--probe-sizes", "--quiet", "--out", str(out))  # fmt: skip
    assert rc == 0, err
    assert sorted(p.stem for p in (out / "runs").glob("*.json")) == cells
    record = json.loads((out / "runs" / f"{cells[0]}.json").read_text())
    assert record["model"] == model
