"""The fused LIF kernel against the reference autograd loop: spikes, loss and gradients."""

import math
import zlib

import pytest
import torch

from spikegrad.functional.lif import LIFParams, li_sequence, lif_sequence
from spikegrad.functional.surrogate import SURROGATES, make_surrogate
from spikegrad.kernels.lif_fused import li_sequence_fused, lif_sequence_fused
from spikegrad.kernels.lif_numba import lif_sequence_numba
from spikegrad.nn import SpikingNetwork


def _run(impl, x, V, tm, ts, sur, reset, rg):
    bm, bs = torch.exp(-1e-3 / tm), torch.exp(-1e-3 / ts)
    if impl == "reference":
        s, _, _ = lif_sequence(
            x, LIFParams(bm, bs), sur, rec_weight=V, reset=reset, recurrent_grad=rg
        )
    elif impl == "numba":
        assert V is None
        s, _ = lif_sequence_numba(x, bm, bs, sur, reset=reset)
    else:
        s, _ = lif_sequence_fused(x, bm, bs, sur, rec_weight=V, reset=reset, recurrent_grad=rg)
    T, B, N = s.shape
    w = torch.linspace(-1, 1, T * B * N, dtype=x.dtype).view(T, B, N)
    loss = (s * w).sum() + 0.1 * (s.sum(0) ** 2).sum()
    params = [x, tm, ts] + ([V] if V is not None else [])
    return s, loss, torch.autograd.grad(loss, params)


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize(
    "impl,rec,rg",
    [("fused", False, True), ("fused", True, True), ("fused", True, False), ("numba", False, True)],
)
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-15), (torch.float32, 1e-5)])
def test_fast_kernels_match_reference(name, reset, impl, rec, rg, dtype, tol):
    g = torch.Generator().manual_seed(zlib.crc32(repr((name, reset, rec, rg)).encode()))
    T, B, N = 25, 3, 6
    sur = make_surrogate(name, 5.0)
    x = (torch.randn(T, B, N, generator=g, dtype=dtype) * 0.8 + 0.3).requires_grad_()
    V = (torch.randn(N, N, generator=g, dtype=dtype) * 0.5).requires_grad_() if rec else None
    tm = torch.full((N,), 10e-3, dtype=dtype, requires_grad=True)
    ts = torch.full((N,), 5e-3, dtype=dtype, requires_grad=True)
    s1, l1, g1 = _run("reference", x, V, tm, ts, sur, reset, rg)
    s2, l2, g2 = _run(impl, x, V, tm, ts, sur, reset, rg)
    assert s1.sum() > 0 and torch.equal(s1, s2)
    torch.testing.assert_close(l2, l1, rtol=1e-14 if dtype == torch.float64 else 1e-6,
                               atol=0)
    for a, b in zip(g1, g2, strict=True):
        # per element: |b - a| <= tol * max|a| + rtol * |a| (tolerances near the measured
        # agreement, docs/performance.md)
        scale = float(a.abs().max())
        rtol = 1e-14 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(b, a, rtol=rtol, atol=tol * scale)


@pytest.mark.parametrize("fill", [0.0, 1.0])
@pytest.mark.parametrize("backend,recurrent", [("fused", True), ("numba", False)])
def test_all_zero_and_all_one_inputs(fill, backend, recurrent):
    kw = dict(hidden=(7, 5), recurrent=recurrent, seed=2)
    ref = SpikingNetwork(4, 3, backend="reference", **kw).double()
    fus = SpikingNetwork(4, 3, backend=backend, **kw).double()
    x = torch.full((30, 1, 4), fill, dtype=torch.float64)  # batch size 1
    o1, o2 = ref(x), fus(x)
    assert all(torch.equal(a, b) for a, b in zip(o1.spikes, o2.spikes, strict=True))
    torch.testing.assert_close(o2.readout, o1.readout, rtol=1e-15, atol=1e-17)
    y = torch.tensor([1])
    for net, o in ((ref, o1), (fus, o2)):
        torch.nn.functional.cross_entropy(net.logits(o), y).backward()
    for (n, a), (_, b) in zip(ref.named_parameters(), fus.named_parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-14, atol=1e-17, msg=n)


def test_readout_convolution_matches_loop_and_tau_gradient():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(40, 2, 3, generator=g, dtype=torch.float64)
    tau = torch.tensor([20e-3, 10e-3, 5e-3], dtype=torch.float64, requires_grad=True)
    bs = math.exp(-0.2)
    u1 = li_sequence(x, LIFParams(torch.exp(-1e-3 / tau), bs), u0=-1e-3)
    u2 = li_sequence_fused(x, torch.exp(-1e-3 / tau), bs, u0=-1e-3)
    torch.testing.assert_close(u2, u1, rtol=1e-12, atol=1e-14)
    (ga,) = torch.autograd.grad(u1.pow(2).sum(), tau)
    (gb,) = torch.autograd.grad(u2.pow(2).sum(), tau)
    torch.testing.assert_close(gb, ga, rtol=1e-14, atol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numba_fixed_taus_bit_identical_spikes_in_a_network(dtype):
    """Fixed (float) time constants: 1 - beta is formed as the reference forms it."""
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(100, 16, 20, generator=g) < 0.05).to(dtype)
    ref = SpikingNetwork(20, 5, (64, 32), backend="reference", seed=4).to(dtype)
    fast = SpikingNetwork(20, 5, (64, 32), backend="auto", seed=4).to(dtype)
    with torch.no_grad():
        for net in (ref, fast):
            net.layers[0].weight.mul_(6)
    o1, o2 = ref(x), fast(x)
    assert o1.spikes[0].sum() > 0
    for a, b in zip(o1.spikes, o2.spikes, strict=True):
        assert torch.equal(a, b)


def test_backend_numba_rejects_unregistered_surrogates():
    from spikegrad import SpikegradInputError
    from spikegrad.functional.surrogate import Relaxed, SuperSpike

    net = SpikingNetwork(3, 2, (4,), recurrent=True, surrogate=Relaxed(SuperSpike(5.0)),
                         backend="numba")
    with pytest.raises(SpikegradInputError, match="registered surrogate"):
        net(torch.zeros(5, 1, 3))
