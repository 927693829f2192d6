"""Compiled-kernel dispatch is on the exact surrogate type, never on its name alone.

A subclass of a registered surrogate inherits ``name`` but may override ``derivative``;
it must run the generic (fused) backend under ``backend="auto"``, with the gradient of
its own derivative, and be refused by ``backend="numba"`` and by the kernels directly.
"""

import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.functional.surrogate import SURROGATES, Relaxed, SuperSpike
from spikegrad.kernels import lif_numba as L
from spikegrad.nn import LIFLayer, SpikingNetwork

needs_numba = pytest.mark.skipif(not L._HAVE_NUMBA, reason="numba not installed")


class TwiceSuperSpike(SuperSpike):
    """SuperSpike with twice its derivative; same ``name`` as the parent class."""

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 2.0 * super().derivative(x)


def _input(seed=0, shape=(30, 4, 12)):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < 0.2).to(torch.float64)


def _layer(surrogate, backend):
    torch.manual_seed(0)
    layer = LIFLayer(12, 7, surrogate=surrogate, learn_tau=True, backend=backend).double()
    with torch.no_grad():
        layer.weight.mul_(8)  # enough drive to spike
    return layer


def _layer_grads(layer, x):
    x = x.clone().requires_grad_(True)
    s, mem = layer(x, record_membrane=True)
    # spikes and the (gradient-free) membrane: the loss depends on S, so on h(U - 1)
    loss = (s * torch.linspace(0.5, 1.5, s.shape[-1], dtype=s.dtype)).sum()
    loss.backward()
    assert s.sum() > 0, "the layer must spike for the gradients to mean anything"
    return [x.grad, layer.weight.grad, layer.taus.tau_mem.grad, layer.taus.tau_syn.grad]


def _net(surrogate, backend):
    return SpikingNetwork(12, 3, (9, 8), surrogate=surrogate, recurrent=True, seed=1,
                          backend=backend).double()  # fmt: skip


def _net_grads(net, x):
    out = net(x)
    loss = (net.logits(out) * torch.tensor([1.0, -0.5, 0.25], dtype=x.dtype)).sum()
    loss.backward()
    return [p.grad.clone() for p in net.parameters()]


def test_surrogate_code_is_exact_type():
    for name, cls in SURROGATES.items():
        assert L.surrogate_code(cls(beta=3.0)) == L.SURROGATE_CODES[name], name
    assert TwiceSuperSpike.name == "superspike"
    assert L.surrogate_code(TwiceSuperSpike()) is None
    assert L.surrogate_code(Relaxed(SuperSpike())) is None
    assert L.surrogate_code(object()) is None
    assert not L.available(TwiceSuperSpike(), _input())


def test_layer_subclass_under_auto_uses_its_own_derivative():
    x = _input()
    auto = _layer(TwiceSuperSpike(), "auto")
    assert not auto.uses_numba(x)
    ref = _layer(TwiceSuperSpike(), "reference")
    plain = _layer(SuperSpike(), "auto")
    g_auto, g_ref, g_plain = _layer_grads(auto, x), _layer_grads(ref, x), _layer_grads(plain, x)
    for a, r in zip(g_auto, g_ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-12)
    # the subclass's derivative is twice SuperSpike's: the weight gradient differs
    assert not torch.allclose(g_auto[1], g_plain[1])


def test_network_subclass_under_auto_matches_reference():
    x = _input(1)
    auto, ref = _net(TwiceSuperSpike(), "auto"), _net(TwiceSuperSpike(), "reference")
    plain = _net(SuperSpike(), "auto")
    assert not any(layer.uses_numba(x) for layer in auto.layers[:1])
    g_auto, g_ref, g_plain = _net_grads(auto, x), _net_grads(ref, x), _net_grads(plain, x)
    for a, r in zip(g_auto, g_ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-9, atol=1e-12)
    assert any(not torch.allclose(a, p) for a, p in zip(g_auto, g_plain, strict=True))


@needs_numba
def test_plain_superspike_still_compiled_and_equal_to_reference():
    x = _input(2)
    auto, ref = _layer(SuperSpike(), "auto"), _layer(SuperSpike(), "reference")
    assert auto.uses_numba(x)
    for a, r in zip(_layer_grads(auto, x), _layer_grads(ref, x), strict=True):
        torch.testing.assert_close(a, r, rtol=1e-7, atol=1e-10)


def test_explicit_numba_refuses_subclass():
    x = _input()
    layer = _layer(TwiceSuperSpike(), "numba")
    with pytest.raises(SpikegradInputError, match="TwiceSuperSpike"):
        layer(x)
    net = _net(TwiceSuperSpike(), "numba")
    with pytest.raises(SpikegradInputError, match="compiled"):
        net(x)


@needs_numba
def test_kernels_refuse_subclass_directly():
    x = _input()
    w = torch.randn(7, 12, dtype=torch.float64)
    with pytest.raises(SpikegradInputError, match="no compiled derivative"):
        L.lif_layer_numba(x, w, 0.9, 0.8, TwiceSuperSpike())
    with pytest.raises(SpikegradInputError, match="no compiled derivative"):
        L.lif_sequence_numba(x @ w.t(), 0.9, 0.8, TwiceSuperSpike())
    with pytest.raises(SpikegradInputError, match="no compiled derivative"):
        L.lif_readout_numba(x, w, 0.9, 0.8, TwiceSuperSpike(),
                            torch.randn(3, 7, dtype=torch.float64), 0.95, 0.9)  # fmt: skip
