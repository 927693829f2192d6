"""Synaptic-operation and energy accounting (spikegrad.nn.energy) on hand-countable nets."""

from __future__ import annotations

import json

import pytest
import torch

from spikegrad import SpikingNetwork, fit, make_rule, make_task
from spikegrad._checks import SpikegradInputError
from spikegrad.functional.coba import CobaTopology
from spikegrad.nn import CobaSpikingNetwork, OpCosts, OpCounter, count_ops
from spikegrad.nn.energy import make_costs
from spikegrad.nn.network import SNNOutput

pytestmark = pytest.mark.usefixtures("one_thread")


def _events(T, B, n, where):
    """A [T, B, n] 0/1 tensor with ones at the (t, b, j) in ``where``."""
    x = torch.zeros(T, B, n)
    for t, b, j in where:
        x[t, b, j] = 1.0
    return x


def _hand_net():
    """3 inputs -> 4 recurrent LIF -> 2 readout units, with zeros shaping the fan-outs."""
    net = SpikingNetwork(3, 2, hidden=(4,), recurrent=True, seed=0)
    with torch.no_grad():
        w = torch.ones(4, 3)
        w[:, 1] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # fan-out 2
        w[:, 2] = 0.0  # fan-out 0
        net.layers[0].weight.copy_(w)
        v = torch.ones(4, 4) - torch.eye(4)  # fan-out 3 ...
        v[:, 3] = 0.0  # ... except neuron 3: 0
        net.layers[0].rec_weight.copy_(v)
        r = torch.ones(2, 4)
        r[0, 1] = 0.0  # readout fan-out of neuron 1: 1, others 2
        net.readout.weight.copy_(r)
    return net


# inputs: unit 0 fires 3 times, unit 1 twice, unit 2 four times (2 samples, 5 steps)
X = _events(5, 2, 3, [(0, 0, 0), (1, 0, 0), (2, 0, 1), (3, 0, 2), (4, 0, 2),
                      (4, 1, 0), (0, 1, 1), (1, 1, 2), (2, 1, 2)])  # fmt: skip
# hidden spikes: neurons 0, 1, 2 twice each, neuron 3 once
S = _events(5, 2, 4, [(1, 0, 0), (3, 0, 0), (2, 0, 1), (4, 0, 3),
                      (0, 1, 1), (2, 1, 2), (3, 1, 2)])  # fmt: skip


def test_counts_and_energy_worked_out_by_hand():
    net = _hand_net()
    out = SNNOutput(torch.zeros(5, 2, 2), (S,))
    counter = OpCounter()
    counter.add(net, X, out)
    rep = counter.report()
    hid, ro = rep["layers"]
    assert rep["samples"] == 2 and rep["steps"] == 5 and rep["per"] == "sample"
    # per sample: feed-forward 3*4 + 2*2 + 4*0 = 16 over the batch -> 8;
    # recurrent 2*3 + 2*3 + 2*3 + 1*0 = 18 -> 9
    assert hid["input_events"] == 4.5 and hid["recurrent_events"] == 3.5
    assert hid["synops_recurrent"] == 9.0 and hid["synops"] == 17.0
    assert hid["dense_macs"] == 5 * 3 * 4 + 5 * 4 * 4  # 140
    assert hid["neuron_updates"] == 20.0
    assert hid["memory_words"] == 17 + 2 * 2 * 20  # weight reads + U, I read and written
    assert hid["dense_memory_words"] == 140
    # readout: events 2, 2, 2, 1 through fan-outs 2, 1, 2, 2 = 12 -> 6 per sample
    assert ro["synops"] == 6.0 and ro["input_events"] == 3.5 and ro["synops_recurrent"] == 0
    assert ro["dense_macs"] == 40 and ro["neuron_updates"] == 10 and ro["memory_words"] == 46
    # Horowitz 2014: add 0.9 pJ, multiply 3.7 pJ, 5 pJ per 32-bit SRAM word
    # LIF update 3 mult + 2 add = 12.9 pJ; readout LI 3 mult + 1 add = 12.0 pJ
    assert hid["energy_compute_pj"] == pytest.approx(17 * 0.9 + 20 * 12.9)  # 273.3
    assert hid["energy_memory_pj"] == pytest.approx(97 * 5.0)
    assert hid["dense_energy_pj"] == pytest.approx(140 * 4.6 + 140 * 5.0)  # 1344
    assert ro["energy_pj"] == pytest.approx(6 * 0.9 + 10 * 12.0 + 46 * 5.0)  # 355.4
    t = rep["total"]
    assert t["synops"] == 23.0 and t["dense_macs"] == 180 and t["neurons"] == 6
    assert t["energy_pj"] == pytest.approx(273.3 + 485.0 + 355.4)
    assert t["dense_energy_pj"] == pytest.approx(1344 + 40 * 9.6)
    assert "Horowitz" in rep["costs"]["source"]
    json.dumps(rep)  # plain JSON values


def test_user_costs_replace_the_defaults():
    net = _hand_net()
    counter = OpCounter()
    counter.add(net, X, SNNOutput(torch.zeros(5, 2, 2), (S,)))
    rep = counter.report({"add_pj": 1.0, "mult_pj": 2.0, "memory_pj": 0.0})
    hid = rep["layers"][0]
    assert hid["energy_pj"] == pytest.approx(17 * 1.0 + 20 * (3 * 2.0 + 2 * 1.0))
    assert hid["dense_energy_pj"] == pytest.approx(140 * 3.0)
    assert rep["costs"]["source"] == "user-supplied"
    with pytest.raises(SpikegradInputError, match="unknown energy cost 'adds'"):
        make_costs({"adds": 1.0})
    with pytest.raises(SpikegradInputError, match="mult_pj must be a number >= 0"):
        OpCosts(mult_pj=-1.0)


def test_batches_accumulate_to_the_same_per_sample_figures():
    net = _hand_net()
    one, two = OpCounter(), OpCounter()
    one.add(net, X, SNNOutput(torch.zeros(5, 2, 2), (S,)))
    for b in (0, 1):
        two.add(net, X[:, b : b + 1], SNNOutput(torch.zeros(5, 1, 2), (S[:, b : b + 1],)))
    assert one.report() == two.report()


def test_real_forward_pass_counts_the_input_events():
    """Inhibitory input weights: no hidden spikes, so only the input events are delivered."""
    net = SpikingNetwork(3, 2, hidden=(4,), seed=0)
    with torch.no_grad():
        net.layers[0].weight.fill_(-1.0)
    out = net(X)
    assert float(out.spikes[0].detach().sum()) == 0.0
    hid, ro = count_ops(net, X, out)
    assert hid.input_events == 9 and hid.synops == 9 * 4 and hid.synops_recurrent == 0
    assert ro.synops == 0 and ro.input_events == 0 and ro.neuron_updates == 5 * 2 * 2


def test_coba_network_counts_inputs_and_recurrent_spikes():
    topo = CobaTopology(n_in=2, n_exc=2, n_inh=1)  # all-to-all without autapses
    net = CobaSpikingNetwork(topo, weight=topo.connectivity.float())
    x = _events(4, 1, 2, [(0, 0, 0), (1, 0, 0), (2, 0, 1)])
    z = _events(4, 1, 3, [(1, 0, 0), (3, 0, 2)])
    (lo,) = count_ops(net, x, net.output(z))
    assert lo.synops == 3 * 3 + 2 * 2 and lo.synops_recurrent == 4
    assert lo.dense_macs == 4 * (2 * 3 + 3 * 3) and lo.neuron_updates == 12


def test_unsupported_models_are_not_counted():
    counter = OpCounter()
    counter.add(torch.nn.Linear(3, 2), X, None)
    assert counter.report() is None


def test_fit_writes_synops_into_metrics_and_plot(tmp_path):
    task = make_task("randman", n_classes=2, samples_per_class=20, seed=1)
    net = SpikingNetwork(task.n_inputs, task.n_outputs, hidden=(8,), seed=0)
    res = fit(net, make_rule("bptt"), task, torch.optim.Adam(net.parameters(), 1e-3),
              epochs=1, batch_size=20, out_dir=tmp_path, progress=False,
              energy_costs={"memory_pj": 10.0})  # fmt: skip
    m = json.loads((tmp_path / "metrics.json").read_text())
    rep = m["synops"]
    assert rep == res.metrics["synops"] and rep["costs"]["memory_pj"] == 10.0
    assert rep["samples"] == task.size("test") and [r["name"] for r in rep["layers"]] == [
        "hidden 1", "readout"]  # fmt: skip
    hid, ro = rep["layers"]
    # every input event reaches all 8 hidden neurons (uniform init: no zero weights)
    assert hid["synops"] == pytest.approx(8 * hid["input_events"])
    # the readout's events are the hidden spikes: spikes/neuron/sample x 8 neurons
    assert ro["input_events"] == pytest.approx(8 * m["spikes_per_neuron"])
    assert hid["dense_macs"] == rep["steps"] * task.n_inputs * 8
    assert (tmp_path / "synops.png").stat().st_size > 1000


def test_cli_prints_synops_and_rejects_bad_costs(tmp_path, capsys):
    from spikegrad.cli import main

    args = ["train", "--classes", "2", "--samples-per-class", "10", "--hidden", "8",
            "--epochs", "1", "--quiet", "--no-plots"]  # fmt: skip
    rc = main([*args, "--energy-cost", "add_pj=1.5", "--out", str(tmp_path / "a")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "synops " in out and "dense MACs" in out and "user-supplied" in out
    rc = main([*args, "--energy-cost", "adds=1", "--out", str(tmp_path / "b")])
    err = capsys.readouterr().err
    assert rc == 2 and "unknown energy cost 'adds'" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "b").exists()
