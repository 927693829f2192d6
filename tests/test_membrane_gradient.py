"""A loss on the membrane recorded with ``record_membrane=True`` trains the weights on every
backend that can differentiate it, with the reference's gradients (float64, per element);
the compiled backends that cannot refuse the backward pass with one line."""

import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.kernels import lif_numba as L
from spikegrad.nn import LIFLayer
from spikegrad.nn.alif import ALIFLayer
from spikegrad.nn.conv import SpikingConv2d
from spikegrad.nn.izhikevich import IzhikevichLayer

needs_numba = pytest.mark.skipif(not L._HAVE_NUMBA, reason="numba not installed")


def _spikes(shape, p=0.3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g) < p).to(torch.float64)


def _membrane_loss(mem, spikes):
    # weights per step so that every U[n] matters differently; plus a spike term
    w = torch.linspace(0.5, 1.5, mem.shape[0], dtype=mem.dtype).view(-1, *[1] * (mem.dim() - 1))
    return (w * mem**2).sum() + 0.3 * spikes.sum()


def _grads(layer, x, spike_term=True):
    x = x.clone().requires_grad_(True)
    s, mem = layer(x, record_membrane=True)
    assert mem.requires_grad
    loss = _membrane_loss(mem, s if spike_term else torch.zeros(()))
    params = [p for p in layer.parameters() if p.requires_grad]
    g = torch.autograd.grad(loss, [x, *params])
    return s.detach(), mem.detach(), g


def _twin(make, backend):
    torch.manual_seed(0)
    return make(backend).double()


def _check(make, x, backends=("fused", "auto")):
    ref = _grads(_twin(make, "reference"), x)
    # a loss on the membrane alone reaches the weights (non-zero) on the reference
    assert float(ref[2][1].abs().sum()) > 0
    for be in backends:
        got = _grads(_twin(make, be), x)
        assert torch.equal(got[0], ref[0]), be  # same spikes
        assert torch.equal(got[1], ref[1]), be  # same membrane, bitwise
        for a, b in zip(got[2], ref[2], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)  # measured rel <= 6e-14


LIF_BACKENDS = ("fused", "auto", "numba") if L._HAVE_NUMBA else ("fused", "auto")


@pytest.mark.parametrize("density", [0.3, 0.03])  # numba: dense current / event input
@pytest.mark.parametrize("surrogate", ["superspike", "esser"])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_lif_membrane_gradient_matches_reference(reset, recurrent, surrogate, density):
    # numba: recurrent superspike runs the per-step BLAS adjoint, recurrent esser (bounded
    # support) and feed-forward layers the compiled sweep
    def make(be):
        layer = LIFLayer(6, 5, recurrent=recurrent, reset=reset, learn_tau=True, backend=be,
                         surrogate=surrogate)  # fmt: skip
        with torch.no_grad():
            layer.weight.mul_(6 if density > 0.1 else 30)  # spikes and sub-threshold steps
        return layer

    x = _spikes((20, 3, 6), p=density)
    s = _grads(_twin(make, "reference"), x)[0]
    assert 0 < float(s.sum()) < s.numel()
    _check(make, x, backends=LIF_BACKENDS)


def test_lif_membrane_only_loss_trains_on_auto():
    # the trap: before, "auto" (numba on CPU) returned a membrane without a graph
    torch.manual_seed(0)
    layer = LIFLayer(6, 5, backend="auto").double()
    s, mem = layer(_spikes((15, 2, 6)), record_membrane=True)
    (mem**2).sum().backward()
    assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0


@pytest.mark.parametrize("reset", ["detach", "subtract"])
def test_alif_membrane_gradient_matches_reference(reset):
    def make(be):
        layer = ALIFLayer(6, 5, recurrent=True, reset=reset, adapt=0.5, learn_adapt=True,
                          learn_threshold=True, refractory=2e-3, backend=be)
        with torch.no_grad():
            layer.weight.mul_(6)
        return layer

    _check(make, _spikes((20, 3, 6), seed=1))


@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_izhikevich_membrane_gradient_matches_reference(reset):
    def make(be):
        return IzhikevichLayer(6, 4, reset=reset, weight_scale=40.0, backend=be)

    x = _spikes((25, 2, 6), seed=2)
    s = _grads(_twin(make, "reference"), x)[0]
    assert float(s.sum()) > 0
    _check(make, x, backends=("fused", "auto"))


def test_conv_membrane_gradient_matches_reference():
    def make(be):
        return SpikingConv2d(1, 2, 3, padding=1, weight_scale=8.0, backend=be)

    _check(make, _spikes((10, 2, 1, 4, 4), seed=3))


def test_membrane_without_gradient_raises_in_backward_one_line():
    # what backend='triton' returns as the membrane (its kernels differentiate the spikes
    # only): the values unchanged, a backward pass through them refused
    from spikegrad.kernels._membrane import membrane_without_gradient

    w = torch.ones(3, requires_grad=True)
    mem = torch.arange(6.0).reshape(2, 3)
    wrapped = membrane_without_gradient(mem, "triton", None, w)
    assert torch.equal(wrapped, mem) and wrapped.requires_grad
    with pytest.raises(SpikegradInputError) as e:
        (wrapped**2).sum().backward()
    assert str(e.value) == (
        "the membrane recorded on backend 'triton' carries no gradient; use "
        "backend='fused' (or 'auto' or 'reference') for a loss on the membrane"
    )
    with torch.no_grad():
        assert membrane_without_gradient(mem, "triton", w) is mem
    assert membrane_without_gradient(mem, "triton", torch.ones(3)) is mem


@needs_numba
def test_numba_membrane_only_loss_trains():
    torch.manual_seed(0)
    layer = LIFLayer(6, 5, backend="numba").double()
    s, mem = layer(_spikes((15, 2, 6)), record_membrane=True)
    assert mem.requires_grad
    (mem**2).sum().backward()
    assert layer.weight.grad is not None and float(layer.weight.grad.abs().sum()) > 0
