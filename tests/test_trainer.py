"""The one trainer (fit), the rule and task interfaces, the run-folder contract."""

import json
import os
import stat

import pytest
import torch

from spikegrad import (
    SpikegradInputError,
    SpikingNetwork,
    evaluate,
    fit,
    load_run,
    make_rule,
    make_task,
    predict,
)
from spikegrad.cli import main
from spikegrad.data.randman import make_randman
from spikegrad.functional.regularization import ActivityRegularizer
from spikegrad.io.run import RunFolder
from spikegrad.learning.config import TrainConfig, train
from spikegrad.learning.rules import RULES, Rule, RuleStep, model_kind
from spikegrad.learning.rules.bptt import BPTT
from spikegrad.tasks import ClassificationTask

SMALL = dict(n_classes=3, n_units=20, samples_per_class=40, seed=2)


@pytest.fixture(scope="module")
def data():
    return make_randman(**SMALL)


def _task(data, reg=True):
    return ClassificationTask(*data, regularizer=ActivityRegularizer() if reg else None)


def test_fit_equals_config_driven_train(data, tmp_path):
    """The API path (model + rule + task + optimizer) and TrainConfig's path are one."""
    cfg = TrainConfig(hidden=(16,), epochs=3, batch_size=20, lr=2e-2, seed=4)
    a = train(cfg, data=data, progress=False)
    net = SpikingNetwork(20, 3, hidden=(16,), seed=4)
    opt = torch.optim.Adam(net.parameters(), lr=2e-2)
    b = fit(net, BPTT(), _task(data), opt, epochs=3, batch_size=20, seed=4, progress=False)
    for (ka, va), (kb, vb) in zip(
        a.model.state_dict().items(), b.model.state_dict().items(), strict=True
    ):
        assert ka == kb and torch.equal(va, vb), ka
    assert a.metrics["test_accuracy"] == b.metrics["test_accuracy"]


def test_fit_writes_the_run_folder_and_load_run_reads_it(data, tmp_path):
    out = tmp_path / "run"
    cfg = TrainConfig(hidden=(16,), epochs=2, batch_size=20, lr=2e-2, seed=0)
    res = train(cfg, data=data, out_dir=out, progress=False, plots=False)
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt", "last.pt"):
        assert (out / name).is_file(), name
    m = json.loads((out / "metrics.json").read_text())
    assert m["rule"] == "bptt" and m["config"]["rule"] == "bptt"
    model = load_run(out)
    x, _ = next(iter(data[2].batches(len(data[2]), shuffle=False)))
    assert torch.equal(predict(model, x), predict(res.model, x))
    assert torch.equal(predict(model, data[2]), predict(res.model, x))
    ev = evaluate(model, data[2])
    assert ev["accuracy"] == pytest.approx(res.metrics["test_accuracy"])


class _OtherModel(torch.nn.Module):
    kind = "other"

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))


def test_rule_refuses_a_model_it_cannot_train():
    with pytest.raises(SpikegradInputError, match=r"rule 'bptt' cannot train a 'other'.*lif"):
        BPTT().check_model(_OtherModel())
    assert model_kind(SpikingNetwork(2, 2, hidden=(3,))) == "lif"


def test_fit_checks_the_model_before_training(data):
    opt = torch.optim.SGD(_OtherModel().parameters(), lr=0.1)
    with pytest.raises(SpikegradInputError, match="cannot train"):
        fit(_OtherModel(), BPTT(), _task(data), opt, epochs=1, progress=False)


class _SignSGDRule(Rule):
    """A toy rule: the sign of the BPTT gradient (proves fit takes any Rule)."""

    name = "sign"
    models = ("lif",)

    def gradients(self, model, task, x, y):
        res = BPTT().gradients(model, task, x, y)
        for p in model.parameters():
            if p.grad is not None:
                p.grad = p.grad.sign()
        return RuleStep(res.loss, res.out)


def test_any_rule_object_trains_through_fit(data):
    net = SpikingNetwork(20, 3, hidden=(16,), seed=0)
    w0 = net.layers[0].weight.detach().clone()
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    res = fit(net, _SignSGDRule(), _task(data), opt, epochs=1, batch_size=20, progress=False)
    step = (net.layers[0].weight.detach() - w0).abs()
    # every hidden weight moved by a multiple of lr (sign updates), none by another amount
    k = step / 1e-3
    assert torch.allclose(k, k.round(), atol=1e-3) and float(k.max()) >= 1
    assert len(res.history) == 1


def test_make_rule_errors():
    with pytest.raises(SpikegradInputError, match="unknown rule 'nosuch'; valid rules: .*bptt"):
        make_rule("nosuch")
    with pytest.raises(SpikegradInputError, match="rule 'bptt' has no option 'sigma'"):
        make_rule("bptt", sigma=1.0)
    assert set(RULES) >= {"bptt", "eprop", "node", "weight", "conductance", "kernel", "resume"}


def test_cli_unknown_rule_exits_2_with_one_line(capsys, tmp_path):
    rc = main(["train", "--rule", "nosuch", "--epochs", "1", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "unknown rule 'nosuch'" in err[0]


def test_cli_rules_lists_rules_and_models(capsys):
    assert main(["rules", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["bptt"]["models"] == ["lif", "coba", "alif", "sequential"]
    assert rows["bptt"]["exact"] is True


def test_resuming_an_early_stopped_run_adds_nothing(data, tmp_path):
    """last.pt records that the loop ended; resume must not train on (it did before)."""
    out = tmp_path / "early"
    cfg = TrainConfig(hidden=(16,), epochs=40, batch_size=20, lr=1e-5, patience=1, seed=0)
    first = train(cfg, data=data, out_dir=out, progress=False, plots=False)
    assert first.metrics["epochs"] < 40
    history = (out / "history.csv").read_text()
    again = train(cfg, data=data, out_dir=out, progress=False, plots=False, resume=True)
    assert again.metrics["epochs"] == first.metrics["epochs"]
    assert (out / "history.csv").read_text() == history


def test_make_task_by_name():
    task = make_task("randman", n_classes=2, samples_per_class=20, seed=0)
    assert (task.n_inputs, task.n_outputs) == (20, 2)
    assert task.size("train") + task.size("val") + task.size("test") == 40
    with pytest.raises(SpikegradInputError, match="split must be one of"):
        task.size("dev")


def test_run_folder_errors_and_atomic_history(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SpikegradInputError, match="exists and is a file"):
        RunFolder(f)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(SpikegradInputError, match="cannot be written"):
            RunFolder(ro / "run")
    run = RunFolder(tmp_path / "r")
    run.write_history([{"epoch": 1, "a": 0.5, "note": "x,y"}], rename={"a": "b"})
    assert (tmp_path / "r" / "history.csv").read_text() == 'epoch,b,note\n1,0.5,"x,y"\n'
    run.write_metrics({"v": float("nan"), "t": (1, 2)})
    assert json.loads((tmp_path / "r" / "metrics.json").read_text()) == {"v": None, "t": [1, 2]}
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]


def test_atomic_writes_get_the_usual_file_mode(tmp_path):
    """Temp-file writes must not leave run files readable by their owner only (0600)."""
    from spikegrad.io.checkpoint import atomic_write_text

    old = os.umask(0o022)
    try:
        import importlib

        import spikegrad.io.checkpoint as ck

        importlib.reload(ck)  # re-reads the umask
        ck.atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
        importlib.reload(ck)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o644
    atomic_write_text(tmp_path / "b.txt", "y")  # the module as loaded still works
    assert (tmp_path / "b.txt").read_text() == "y"
