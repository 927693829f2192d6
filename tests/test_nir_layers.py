"""NIR export/import of convolutional SpikingSequential networks, read back by Norse."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

nir = pytest.importorskip("nir")

from spikegrad._checks import SpikegradInputError  # noqa: E402
from spikegrad.io.nir_layers import export_sequential_nir, import_sequential_nir  # noqa: E402
from spikegrad.nn import LIFLayer, Readout  # noqa: E402
from spikegrad.nn.conv import (  # noqa: E402
    Flatten,
    SpikingAvgPool2d,
    SpikingConv2d,
    SpikingMaxPool2d,
    SpikingSumPool2d,
    TimeDropout,
)
from spikegrad.nn.izhikevich import IzhikevichLayer  # noqa: E402
from spikegrad.nn.sequential import SpikingSequential  # noqa: E402


def _net():
    g = torch.Generator().manual_seed(0)
    net = SpikingSequential(
        SpikingConv2d(2, 3, 3, padding=1, weight_scale=20, generator=g),
        SpikingSumPool2d(2),
        SpikingConv2d(3, 4, 3, padding=1, weight_scale=10, generator=g, learn_threshold=True,
                      learn_tau=True),
        SpikingAvgPool2d(2),
        Flatten(),
        TimeDropout(0.2),
        LIFLayer(16, 6, generator=g, threshold=0.8),
        Readout(6, 3, generator=g),
        input_shape=(2, 10, 10),
    )
    with torch.no_grad():
        net.layers[6].weight.abs_().mul_(4)
        net.layers[0].bias.fill_(0.02)
        net.layers[2].threshold.mul_(torch.linspace(0.8, 1.2, 4))
        net.layers[2].taus.tau_mem.mul_(torch.linspace(0.8, 1.2, 4))
    return net.eval()


def test_round_trip_is_exact(tmp_path):
    net = _net()
    path = tmp_path / "conv.nir"
    export_sequential_nir(net, path)
    graph = nir.read(path)  # NIR's own type inference checked the shapes on construction
    kinds = [type(graph.nodes[k]).__name__ for k in
             ("conv0", "lif0", "pool1", "conv2", "lif2", "pool3", "flatten4", "fc6", "lif6")]
    assert kinds == ["Conv2d", "CubaLIF", "SumPool2d", "Conv2d", "CubaLIF", "AvgPool2d",
                     "Flatten", "Linear", "CubaLIF"]
    assert graph.nodes["lif2"].v_threshold.shape == (4, 5, 5)
    back = import_sequential_nir(path)
    x = (torch.rand(40, 2, 200, generator=torch.Generator().manual_seed(1)) < 0.2).float()
    with torch.no_grad():
        a, b = net(x), back(x)
    assert all(float(s.sum()) > 0 for s in a.spikes)
    for s1, s2 in zip(a.spikes, b.spikes, strict=True):
        assert torch.equal(s1, s2)
    torch.testing.assert_close(a.readout, b.readout, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(
    "layer, match",
    [
        (SpikingMaxPool2d(2), "SpikingMaxPool2d"),
        (IzhikevichLayer(200, 4), "IzhikevichLayer"),
    ],
)
def test_layers_without_a_node_are_refused(layer, match):
    g = torch.Generator().manual_seed(0)
    first = SpikingConv2d(2, 2, 3, padding=1, generator=g)
    if isinstance(layer, IzhikevichLayer):
        net = SpikingSequential(layer, Readout(4, 2, generator=g))
    else:
        net = SpikingSequential(first, layer, Flatten(), LIFLayer(50, 3, generator=g),
                                Readout(3, 2, generator=g), input_shape=(2, 10, 10))
    with pytest.raises(SpikegradInputError, match=match):
        export_sequential_nir(net)


def test_subtract_reset_is_refused():
    g = torch.Generator().manual_seed(0)
    net = SpikingSequential(LIFLayer(4, 3, reset="subtract", generator=g),
                            Readout(3, 2, generator=g))
    with pytest.raises(SpikegradInputError, match="subtract"):
        export_sequential_nir(net)


def test_norse_reads_our_conv_file(tmp_path):
    pytest.importorskip("nirtorch")
    norse_nir = pytest.importorskip("norse.torch.utils.import_nir")
    g = torch.Generator().manual_seed(0)
    net = SpikingSequential(
        SpikingConv2d(2, 3, 3, padding=1, weight_scale=20, generator=g), SpikingSumPool2d(2),
        Flatten(), LIFLayer(75, 6, generator=g), Readout(6, 3, generator=g),
        input_shape=(2, 10, 10),
    )
    with torch.no_grad():
        net.layers[3].weight.mul_(3)
        net.layers[0].bias.fill_(0.02)
    export_sequential_nir(net, tmp_path / "c.nir")
    graph = nir.read(tmp_path / "c.nir")
    # Norse has no CubaLI readout: read the file's chain up to the last spiking layer
    order = ["input", "conv0", "lif0", "pool1", "flatten2", "fc3", "lif3"]
    nodes = {k: graph.nodes[k] for k in order}
    nodes["output"] = nir.Output(output_type={"output": np.array([6])})
    sub = nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:] + ["output"], strict=True)))
    m = norse_nir.from_nir(sub, dt=1e-3)
    T = 200
    x = (torch.rand(T, 1, 200, generator=g) < 0.1).float()
    rec: list[torch.Tensor] = []
    hook = m.lif0.register_forward_hook(lambda mod, i, o: rec.append(o[0].detach()))
    state, outs = None, []
    with torch.no_grad():
        for x_t in x:  # Norse's Flatten(start_dim=0) also flattens the batch: one sample
            o, state = m(x_t.reshape(1, 2, 10, 10), state)
            outs.append(o.reshape(1, -1))
        ours = net(x)
    hook.remove()
    theirs0 = torch.stack(rec).reshape(T, 1, -1)
    # 1. Norse runs the forward-Euler reading of the file's Conv2d + CubaLIF exactly
    node = graph.nodes["lif0"]
    conv = graph.nodes["conv0"]
    cur = F.conv2d(x.reshape(T, 2, 10, 10), torch.as_tensor(conv.weight),
                   torch.as_tensor(conv.bias), padding=1).reshape(T, 1, -1)
    a = 1e-3 / torch.as_tensor(node.tau_syn).float().reshape(-1)
    c = 1e-3 / torch.as_tensor(node.tau_mem).float().reshape(-1)
    w_in = torch.as_tensor(node.w_in).float().reshape(-1)
    i = v = torch.zeros(1, cur.shape[-1])
    euler = []
    for cur_n in cur:
        i = i + a * (w_in * cur_n - i)
        v = v + c * (i - v)
        z = (v > torch.as_tensor(node.v_threshold).float().reshape(-1)).float()
        v = v * (1 - z)
        euler.append(z)
    assert torch.equal(theirs0, torch.stack(euler))
    # 2. against our exp(-dt/tau) model, per neuron spike counts (measured 0.997 both layers)
    for s_ours, s_theirs in ((ours.spikes[0], theirs0), (ours.spikes[1], torch.stack(outs))):
        counts = torch.stack([s_ours.sum(0).flatten(), s_theirs.sum(0).flatten()])
        assert float(s_ours.sum()) > 50
        assert float(torch.corrcoef(counts)[0, 1]) > 0.98


def test_spiking_network_export_refuses_lif_options():
    from spikegrad.io.nir import export_nir
    from spikegrad.nn import SpikingNetwork
    from spikegrad.nn.alif import ALIFNetwork

    for net in (SpikingNetwork(3, 2, (4,), reset="subtract", seed=0), ALIFNetwork(3, 2, (4,))):
        with pytest.raises(SpikegradInputError, match="cannot export layer 0"):
            export_nir(net)
