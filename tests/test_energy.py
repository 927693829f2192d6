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


# ---- every layer kind (issue 27): hand-counted fan-outs on tiny inputs ----------------


def _conv_net(stride=1, c_out=2):
    from spikegrad.nn.conv import Flatten, SpikingConv2d
    from spikegrad.nn.lif import Readout
    from spikegrad.nn.sequential import SpikingSequential

    conv = SpikingConv2d(1, c_out, 3, stride=stride, padding=1, weight_scale=1.0)
    ho = (4 + 2 - 2 - 1) // stride + 1
    with torch.no_grad():
        conv.weight.fill_(0.5)
        if c_out > 1:
            conv.weight[1, 0, 0, 0] = 0.0  # channel 1: the (ky, kx) = (0, 0) tap is absent
    net = SpikingSequential(conv, Flatten(), Readout(c_out * ho * ho, 2),
                            input_shape=(1, 4, 4))  # fmt: skip
    return net, ho


def _frames(T, B, where, shape=(1, 4, 4)):
    """Flat [T, B, C*H*W] input with ones at the (t, b, c, y, x) in ``where``."""
    x = torch.zeros(T, B, *shape)
    for t, b, c, y, xx in where:
        x[t, b, c, y, xx] = 1.0
    return x.reshape(T, B, -1)


def test_conv_fan_out_counted_by_hand_with_edge_truncation():
    # 1 x 4 x 4 input, 3x3 kernel, padding 1, stride 1: an output (y', x') sees input
    # y = y' - 1 + ky. Spike at the corner (0, 0): outputs y', x' in {0, 1} -> 4 per
    # channel; spike at (1, 2): y' in {0, 1, 2}, x' in {1, 2, 3} -> 9. Channel 1 lacks the
    # (0, 0) tap, i.e. the output (y + 1, x + 1): inside for both spikes -> 3 and 8.
    net, ho = _conv_net()
    x = _frames(3, 2, [(0, 0, 0, 0, 0), (2, 1, 0, 1, 2)])
    out = net(x)
    conv, flat, ro = count_ops(net, x, out)
    assert (conv.name, conv.kind, flat.name, ro.name) == ("conv 1", "SpikingConv2d",
                                                          "flatten 1", "readout")  # fmt: skip
    assert conv.input_events == 2
    assert conv.synops == (4 + 9) + (3 + 8)  # 24
    assert conv.dense_macs == 3 * 2 * (2 * 4 * 4) * (1 * 3 * 3)  # T B C_out H' W' C_in k k
    assert conv.neuron_updates == 3 * 2 * 32 and conv.neurons == 32 and conv.presynaptic == 16
    assert conv.neuron == "conv_lif" and conv.synops_recurrent == 0
    # flatten: an explicit row of zeros, with its reason
    assert flat.counted and flat.synops == flat.dense_macs == flat.neuron_updates == 0
    assert "reshape" in flat.note and flat.memory_words == 0
    assert ro.input_events == float((out.spikes[0] != 0).sum())


def test_conv_fan_out_with_stride_two():
    # stride 2, padding 1: H' = 2, input row y is seen by outputs with 2 y' - 1 + ky = y.
    # (0, 0): ky = kx = 1 only -> 1 output; (1, 2): rows y' = 0 (ky 2), 1 (ky 0), column
    # 2 x' = 3 - kx -> kx = 1, x' = 1 -> 2 outputs. One channel: 3 SynOps.
    net, ho = _conv_net(stride=2, c_out=1)
    assert ho == 2
    x = _frames(2, 1, [(0, 0, 0, 0, 0), (1, 0, 0, 1, 2)])
    conv = count_ops(net, x, net(x))[0]
    assert conv.synops == 3 and conv.dense_macs == 2 * 1 * (1 * 2 * 2) * 9


def test_pooling_counts_windows_and_truncated_edges():
    from spikegrad.nn.conv import Flatten, SpikingAvgPool2d, SpikingMaxPool2d
    from spikegrad.nn.lif import LIFLayer, Readout
    from spikegrad.nn.sequential import SpikingSequential

    # 2x2 pooling (stride 2) of a 5x5 frame: rows / columns 4 lie in no window.
    # Spikes at (0, 0) -> window (0, 0); (3, 1) -> window (1, 0); (4, 4) -> none.
    x = _frames(2, 1, [(0, 0, 0, 0, 0), (1, 0, 0, 3, 1), (1, 0, 0, 4, 4)], shape=(1, 5, 5))
    for pool in (SpikingAvgPool2d(2), SpikingMaxPool2d(2)):
        net = SpikingSequential(pool, Flatten(), LIFLayer(4, 3), Readout(3, 2),
                                input_shape=(1, 5, 5))  # fmt: skip
        p, flat, lif, ro = count_ops(net, x, net(x))
        assert p.input_events == 3 and p.synops == 2  # the (4, 4) event reaches nothing
        assert p.dense_macs == 2 * 1 * (1 * 2 * 2) * 4 and p.neuron_updates == 0
        assert p.neurons == 0 and p.memory_words == 0 and p.dense_memory_words == 0
        assert p.name == f"{pool.kind}pool 1"
        # the LIF layer sees the two nonzero pooled values, fan-out 3 each
        assert lif.input_events == 2 and lif.synops == 6 and lif.kind == "LIFLayer"
    rep = OpCounter()
    rep.add(net, x, net(x))
    row = rep.report()["layers"][0]
    # no weights: a dense pooling op is one add (0.9 pJ), no multiply, no memory
    assert row["dense_energy_pj"] == pytest.approx(32 * 0.9) and row["energy_pj"] == 2 * 0.9


def test_izhikevich_layer_counts_two_state_variables():
    from spikegrad.nn.izhikevich import IzhikevichLayer
    from spikegrad.nn.lif import Readout
    from spikegrad.nn.sequential import SpikingSequential

    izh = IzhikevichLayer(3, 4, weight_scale=40.0)
    with torch.no_grad():
        izh.weight[:, 1] = torch.tensor([1.0, 0.0, 1.0, 0.0])  # fan-out 2
        izh.weight[:, 2] = 0.0  # fan-out 0
        izh.weight[:, 0] = 50.0  # fan-out 4
    net = SpikingSequential(izh, Readout(4, 2))
    out = net(X)
    counter = OpCounter()
    counter.add(net, X, out)
    rep = counter.report()
    hid, ro = rep["layers"]
    # input 0 fires 3 times (x4), input 1 twice (x2), input 2 four times (x0): 16 / 2
    assert hid["name"] == "izhikevich 1" and hid["neuron"] == "izhikevich"
    assert hid["synops"] == 8.0 and hid["input_events"] == 4.5
    assert hid["dense_macs"] == 5 * 3 * 4 and hid["neuron_updates"] == 20
    # state v, u read and written per update: 20 * 2 * 2 + 8 weight reads
    assert hid["memory_words"] == 8 + 80
    # update: 6 multiplies and 8 adds = 6 * 3.7 + 8 * 0.9 = 29.4 pJ
    assert hid["energy_compute_pj"] == pytest.approx(8 * 0.9 + 20 * 29.4)
    assert ro["input_events"] == pytest.approx(float(out.spikes[0].detach().sum()) / 2)


def test_alif_network_adds_the_adaptation_state():
    from spikegrad.nn.alif import ALIFNetwork

    hand = _hand_net()
    net = ALIFNetwork(3, 2, hidden=(4,), recurrent=True, seed=0)
    net.load_state_dict(hand.state_dict())
    counter = OpCounter()
    counter.add(net, X, SNNOutput(torch.zeros(5, 2, 2), (S,)))
    hid, ro = counter.report()["layers"]
    # the same SynOps as the LIF hand net (17 per sample), with the ALIF neuron:
    # state U, I, A (3 words read and written) and 5 mult + 4 add = 22.1 pJ per update
    assert hid["neuron"] == "alif" and hid["kind"] == "ALIFLayer"
    assert hid["synops"] == 17.0 and hid["synops_recurrent"] == 9.0 and hid["dense_macs"] == 140
    assert hid["memory_words"] == 17 + 2 * 3 * 20
    assert hid["energy_compute_pj"] == pytest.approx(17 * 0.9 + 20 * 22.1)  # 457.3
    assert ro["synops"] == 6.0


def test_delayed_projection_counts_one_synop_per_nonzero_tap():
    from spikegrad.nn.delay import Delay, DelayedLinear
    from spikegrad.nn.lif import LIFLayer, Readout
    from spikegrad.nn.sequential import SpikingSequential

    # delays (ms) [[0, 1, 0.5], [1.5, 2, 0]]: whole steps write 1 slot, half steps 2
    d = torch.tensor([[0.0, 1e-3, 0.5e-3], [1.5e-3, 2e-3, 0.0]])
    proj = DelayedLinear(3, 2, 2e-3, learnable=False, init=d)
    net = SpikingSequential(LIFLayer(3, 2, projection=proj), Readout(2, 2))
    x = _events(4, 1, 3, [(0, 0, 0), (2, 0, 0), (1, 0, 2)])
    lif, _ = count_ops(net, x, net(x))
    # fan-out (taps summed over targets): input 0: 1 + 2 = 3, input 2: 2 + 1 = 3
    assert lif.synops == 2 * 3 + 1 * 3 and "delay" in lif.note
    assert lif.dense_macs == 4 * 1 * 3 * 2 * 3  # T B in out (D + 1 taps)
    # a per-channel delay line in a sequential network: no neurons, one write per tap
    dl = Delay(3, 2e-3, learnable=False, init=torch.tensor([0.0, 0.5e-3, 2e-3]))
    net = SpikingSequential(dl, LIFLayer(3, 2), Readout(2, 2), input_shape=(3,))
    row, lif, _ = count_ops(net, x, net(x))
    assert row.name == "delay 1" and row.neuron_updates == 0 and row.neurons == 0
    assert row.synops == 2 * 1 + 1 * 1 and row.dense_macs == 4 * 3 * 3
    assert lif.input_events == float((dl(x) != 0).sum())


def test_srm_and_unknown_models_say_why_they_are_not_counted():
    from spikegrad.nn.energy import has_counts, not_counted, summary_line
    from spikegrad.nn.srm import SRMLayer, SRMNetwork

    net = SRMNetwork([SRMLayer(3, 2), SRMLayer(2, 1)])
    rows = count_ops(net, torch.zeros(2, 4, 3), None)
    assert [(r.name, r.counted) for r in rows] == [("srm 1", False), ("srm 2", False)]
    counter = OpCounter()
    counter.add(net, torch.zeros(2, 4, 3), None)
    rep = counter.report()
    assert rep["layers"][0] == {"name": "srm 1", "kind": "SRMLayer", "counted": False,
                                "why": rows[0].why}  # fmt: skip
    assert "spike times" in rows[0].why and rep["total"]["synops"] == 0 and rep["samples"] == 4
    assert not has_counts(rep) and summary_line(rep).startswith("synops: not counted (SRM0")
    entry = not_counted(torch.nn.Linear(3, 2))
    assert entry["counted"] is False and "Linear" in entry["why"]
    assert summary_line(entry).startswith("synops: not counted (Linear")


def test_fit_conv_network_writes_synops_for_every_layer(tmp_path):
    from spikegrad.nn.sequential import conv_network

    task = make_task("randman", n_classes=2, samples_per_class=10, seed=1, n_units=16)
    net = conv_network((1, 4, 4), 2, channels=(2,), hidden=6, dropout=0.1, seed=0)
    fit(net, make_rule("bptt"), task, torch.optim.Adam(net.parameters(), 1e-3), epochs=1,
        batch_size=10, out_dir=tmp_path, progress=False)  # fmt: skip
    rep = json.loads((tmp_path / "metrics.json").read_text())["synops"]
    names = [r["name"] for r in rep["layers"]]
    assert names == ["conv 1", "avgpool 1", "flatten 1", "dropout 1", "lif 1", "readout"]
    assert all(r["counted"] for r in rep["layers"])
    conv, pool, flat, drop, lif, ro = rep["layers"]
    T = rep["steps"]
    assert conv["dense_macs"] == T * 2 * 16 * 9 and conv["neuron_updates"] == T * 2 * 16
    assert pool["dense_macs"] == T * 2 * 2 * 2 * 4 and lif["dense_macs"] == T * 8 * 6
    # 3x3 padding 1 on 4x4: an input reaches between 4 (corner) and 9 (inside) outputs
    # per channel (2 channels, weights a.s. nonzero)
    assert 8 * conv["input_events"] <= conv["synops"] <= 18 * conv["input_events"]
    assert conv["input_events"] > 0
    assert rep["total"]["synops"] == pytest.approx(sum(r["synops"] for r in rep["layers"]))
    assert (tmp_path / "synops.png").stat().st_size > 1000


def test_fit_srm_model_writes_an_explicit_not_counted_entry(tmp_path):
    from spikegrad.learning.rules.kernel import KernelRule
    from spikegrad.nn import SRMLayer
    from spikegrad.nn.energy import SRM_WHY
    from spikegrad.tasks.spike_targets import SpikePatterns, SpikeTargetTask, single_target_task

    inp, tgt = single_target_task(20, 10.0, 0.2, 1, generator=torch.Generator().manual_seed(0))
    layer = SRMLayer(20, 1, duration=0.2, init_scale=0.04,
                     generator=torch.Generator().manual_seed(1))  # fmt: skip
    task = SpikeTargetTask(SpikePatterns(inp, tgt), duration=0.2)
    fit(layer, KernelRule(), task, torch.optim.SGD([layer.weight], 1e-3), epochs=1,
        batch_size=1, out_dir=tmp_path, progress=False)  # fmt: skip
    rep = json.loads((tmp_path / "metrics.json").read_text())["synops"]
    assert rep["layers"] == [{"name": "srm 1", "kind": "SRMLayer", "counted": False,
                              "why": SRM_WHY}]  # fmt: skip
    assert not (tmp_path / "synops.png").exists()  # nothing counted: no plot


def test_plot_synops_leaves_out_rows_that_are_not_counted(tmp_path):
    from spikegrad.viz.plots import plot_synops

    counter = OpCounter()
    counter.add(_hand_net(), X, SNNOutput(torch.zeros(5, 2, 2), (S,)))
    rep = counter.report()
    rep["layers"].append({"name": "srm 1", "kind": "SRMLayer", "counted": False, "why": "x"})
    plot_synops(rep, tmp_path / "mixed.png")
    assert (tmp_path / "mixed.png").stat().st_size > 1000
    only = dict(rep, layers=rep["layers"][-1:])
    with pytest.raises(SpikegradInputError, match="no counted layer"):
        plot_synops(only, tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()
