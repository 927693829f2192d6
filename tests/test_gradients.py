"""Surrogate-specific gradient properties of whole networks (Zenke & Vogels 2021)."""

import pytest
import torch

from spikegrad.functional.readout import readout_loss
from spikegrad.functional.regularization import ActivityRegularizer
from spikegrad.functional.surrogate import AsymptoticSuperSpike, SuperSpike, Zero
from spikegrad.nn import SpikingNetwork


def _data(T=40, B=6, n=10, p=0.2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, n, generator=g) < p).double()
    y = torch.randint(0, 3, (B,), generator=g)
    return x, y


def _grads(net, x, y, reg=None):
    net.zero_grad()
    out = net(x)
    loss = readout_loss(out.readout, y)
    if reg is not None:
        loss = loss + reg(out.spikes)
    loss.backward()
    return {n: p.grad.clone() for n, p in net.named_parameters()}, out


def _scaled(net, factor=6.0):
    with torch.no_grad():
        for layer in net.layers:
            layer.weight.mul_(factor)
    return net


@pytest.mark.parametrize("recurrent", [False, True])
def test_zero_surrogate_gives_zero_hidden_weight_gradients(recurrent):
    x, y = _data()
    net = _scaled(
        SpikingNetwork(10, 3, (8, 8), recurrent=recurrent, surrogate=Zero(), seed=0).double()
    )
    grads, out = _grads(net, x, y, ActivityRegularizer(upper_strength=1.0, upper_threshold=0.0))
    assert all(s.sum() > 0 for s in out.spikes)  # the network is active
    for name, g in grads.items():
        if name.startswith("layers."):
            assert torch.count_nonzero(g) == 0, name
    assert torch.count_nonzero(grads["readout.weight"]) > 0


@pytest.mark.parametrize("n_hidden", [1, 2])
def test_asymptotic_is_beta_times_superspike_with_detached_reset_no_recurrence(n_hidden):
    beta = 7.0
    x, y = _data()
    g_norm, out_n = _grads(
        _scaled(
            SpikingNetwork(10, 3, (8,) * n_hidden, surrogate=SuperSpike(beta), seed=3).double()
        ),
        x,
        y,
    )
    g_asym, out_a = _grads(
        _scaled(
            SpikingNetwork(
                10, 3, (8,) * n_hidden, surrogate=AsymptoticSuperSpike(beta), seed=3
            ).double()
        ),
        x,
        y,
    )
    assert torch.equal(out_n.readout, out_a.readout)
    # readout weights: no surrogate on the path
    torch.testing.assert_close(g_asym["readout.weight"], g_norm["readout.weight"], rtol=0, atol=0)
    # hidden layer k (0-based) is reached through n_hidden - k surrogates
    for k in range(n_hidden):
        factor = beta ** (n_hidden - k)
        g = g_norm[f"layers.{k}.weight"]
        assert g.abs().sum() > 0
        torch.testing.assert_close(g_asym[f"layers.{k}.weight"], factor * g, rtol=1e-12, atol=0)


def test_asymptotic_differs_from_scaled_superspike_with_differentiable_reset():
    beta = 7.0
    x, y = _data()
    kw = dict(reset="differentiable", seed=3)
    g_n, _ = _grads(
        _scaled(SpikingNetwork(10, 3, (8,), surrogate=SuperSpike(beta), **kw).double()), x, y
    )
    g_a, _ = _grads(
        _scaled(SpikingNetwork(10, 3, (8,), surrogate=AsymptoticSuperSpike(beta), **kw).double()),
        x,
        y,
    )
    assert not torch.allclose(g_a["layers.0.weight"], beta * g_n["layers.0.weight"], rtol=1e-6)


def test_silent_network_learns_only_through_lower_bound():
    """Under the paper's init the hidden layer is silent: the lower bound has a gradient."""
    x, y = _data(p=0.02)
    net = SpikingNetwork(10, 3, (20,), seed=0).double()
    grads, out = _grads(net, x, y, ActivityRegularizer())
    assert out.spikes[0].sum() == 0
    assert grads["layers.0.weight"].abs().sum() > 0
    # the lower bound pushes weights up where inputs were active
    assert grads["layers.0.weight"].sum() < 0
