"""Event-driven numba kernels against the reference autograd loop.

Spikes identical, loss equal to 1e-6 relative, every gradient (input, W, V, both time
constants) equal per element to 1e-13 x its largest entry + 1e-12 relative in float64
(1e-5 x largest + 1e-5 relative in float32), for each surrogate,
reset mode, feed-forward / recurrent (with and without gradient through the loop), and
input densities from all-zero to all-one (both sides of the event/dense switch).
"""

import gc
import zlib

import numpy as np
import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.functional.readout import readout_loss
from spikegrad.functional.surrogate import SURROGATES
from spikegrad.kernels import _buffers
from spikegrad.kernels import lif_numba as L
from spikegrad.nn import LIFLayer, Readout, SpikingNetwork

VARIANTS = {"ff": dict(recurrent=False), "rec": dict(recurrent=True),
            "rec-nograd": dict(recurrent=True, recurrent_grad=False)}  # fmt: skip
DENSITIES = (0.0, 0.03, 0.3, 1.0)  # 0.3 and 1.0 are above DENSITY_THRESHOLD: dense path


def _pair(kw, dtype, seed):
    layers = []
    for backend in ("reference", "numba"):
        torch.manual_seed(seed)
        layers.append(LIFLayer(12, 7, learn_tau=True, backend=backend, **kw).to(dtype))
    with torch.no_grad():
        layers[0].weight.mul_(8)
        layers[1].weight.copy_(layers[0].weight)
    return layers


def _loss_and_grads(layer, x):
    s = layer(x)
    T, B, N = s.shape
    w = torch.linspace(-1, 1, T * B * N, dtype=x.dtype).view(T, B, N)
    loss = (s * w).sum() + 0.1 * (s.sum(0) ** 2).sum()
    params = [x] + [p for _, p in sorted(layer.named_parameters())]
    return s, loss, torch.autograd.grad(loss, params)


def _compare(kw, dtype, tol, density, seed, reset="detach"):
    g = torch.Generator().manual_seed(seed)
    T, B = 30, 3
    x = (torch.rand(T, B, 12, generator=g) < density).to(dtype)
    x = (x * (0.5 + torch.rand(T, B, 12, generator=g, dtype=dtype))).requires_grad_()
    ref, fast = _pair(dict(kw, reset=reset), dtype, seed)
    s1, l1, g1 = _loss_and_grads(ref, x)
    s2, l2, g2 = _loss_and_grads(fast, x)
    assert torch.equal(s1, s2)
    torch.testing.assert_close(l2, l1, rtol=1e-14 if dtype == torch.float64 else 1e-6,
                               atol=0)
    for a, b in zip(g1, g2, strict=True):
        # per element: |b - a| <= tol * max|a| + rtol * |a| (tolerances near the measured
        # agreement, docs/performance.md)
        scale = float(a.abs().max())
        rtol = 1e-13 if dtype == torch.float64 else 1e-5
        torch.testing.assert_close(b, a, rtol=rtol, atol=tol * scale)
    return s1


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-5)])
def test_numba_layer_matches_reference(name, reset, variant, dtype, tol):
    seed = zlib.crc32(repr((name, reset, variant, str(dtype))).encode())
    kw = dict(VARIANTS[variant], surrogate=name, beta=5.0)
    s = _compare(kw, dtype, tol, density=0.08, seed=seed, reset=reset)
    assert s.sum() > 0  # an active layer, or the test proves little


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-5)])
def test_numba_layer_all_densities(density, variant, dtype, tol):
    seed = zlib.crc32(repr((density, variant, str(dtype))).encode())
    _compare(VARIANTS[variant], dtype, tol, density=density, seed=seed)


def _two_layer_nets(batch, **kw):
    """Input, labels and a reference / numba pair of 16 -> 24 -> 12 -> 3 networks."""
    g = torch.Generator().manual_seed(7)
    x = (torch.rand(60, batch, 16, generator=g) < 0.1).double()
    y = torch.arange(batch) % 3
    nets = []
    for backend in ("reference", "numba"):
        net = SpikingNetwork(16, 3, (24, 12), learn_tau=True, seed=3, backend=backend,
                             **kw).double()  # fmt: skip
        with torch.no_grad():
            net.layers[0].weight.mul_(4)
            net.layers[1].weight.mul_(5)
        nets.append(net)
    return x, y, nets


@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("batch", [1, 5])
def test_numba_network_matches_reference_two_layers_and_readout(recurrent, batch):
    """Both hidden layers active: the second consumes the first's recorded events."""
    x, y, nets = _two_layer_nets(batch, recurrent=recurrent)
    outs = [net(x) for net in nets]
    for a, b in zip(outs[0].spikes, outs[1].spikes, strict=True):
        assert a.sum() > 0 and torch.equal(a, b)
    torch.testing.assert_close(outs[1].readout, outs[0].readout, rtol=1e-14, atol=1e-16)
    for o in outs:
        (readout_loss(o.readout, y) + 0.01 * sum(s.sum() for s in o.spikes)).backward()
    for (n, a), (_, b) in zip(nets[0].named_parameters(), nets[1].named_parameters(),
                              strict=True):  # fmt: skip
        assert a.grad.abs().max() > 0, n
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-13, atol=1e-16, msg=n)


@pytest.mark.parametrize("density", [0.05, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_numba_readout_matches_reference(density, dtype):
    g = torch.Generator().manual_seed(11)
    x = (torch.rand(40, 4, 9, generator=g) < density).to(dtype).requires_grad_()
    mods = []
    for backend in ("reference", "numba"):
        torch.manual_seed(0)
        mods.append(Readout(9, 3, learn_tau=True, backend=backend).to(dtype))
    outs = [m(x) for m in mods]
    # measured: the outputs are bit-identical (both densities, both dtypes)
    assert torch.equal(outs[1], outs[0])
    grads = [torch.autograd.grad(o.pow(2).sum(), [x, *m.parameters()]) for m, o in
             zip(mods, outs, strict=True)]  # fmt: skip
    # per element, relative: measured at most 6.2e-16 (float64) and 3.5e-7 (float32)
    # over these cases; the tolerances are ~50x that
    rtol = 3e-14 if dtype == torch.float64 else 2e-5
    assert all(a.abs().max() > 0 for a in grads[0][1:])  # W and both time constants
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=rtol, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("K", [700, 33])  # even: 64-bit word skipping; odd: element loop
def test_build_events_equals_nonzero(dtype, K):
    rng = np.random.default_rng(0)
    x = (rng.random((20, 6, K)) < 0.04) * rng.normal(size=(20, 6, K))
    x = torch.from_numpy(x.astype(dtype))
    x[3, 2, 5] = -0.0  # skipped: it adds nothing
    ev = L.build_events(x)
    assert ev is not None and ev.density == pytest.approx((x != 0).float().mean().item())
    for r in range(20 * 6):
        t, b = divmod(r, 6)
        sl = slice(ev.start[r], ev.start[r] + ev.count[r])
        nz = torch.nonzero(x[t, b]).flatten().numpy()
        assert np.array_equal(ev.idx[sl], nz)
        assert np.array_equal(ev.val[sl], x[t, b, nz].numpy())


def test_build_events_threshold_uneven_chunks_and_nonfinite():
    x = torch.zeros(50, 8, 64)
    x[:25, :, :3] = 1.0  # the first half of the rows dense, the rest empty
    assert L.build_events(x, 0.01) is None  # overall 0.023 > 0.01: dense path
    ev = L.build_events(x, 0.03)  # a chunk can be over its region: refilled plainly
    assert ev is not None and int(ev.count.sum()) == 25 * 8 * 3
    assert all(ev.idx[ev.start[r]:ev.start[r] + ev.count[r]].tolist() == [0, 1, 2]
               for r in range(25 * 8))  # fmt: skip
    x[40, 3, 10] = float("nan")
    with pytest.raises(SpikegradInputError, match="non-finite"):
        L.build_events(x, finite_name="x")
    x[40, 3, 10] = float("inf")
    with pytest.raises(SpikegradInputError, match="non-finite"):
        L.build_events(x, 0.0, finite_name="x")  # also when the density sends it dense
    net = SpikingNetwork(64, 2, (5,), backend="numba")
    with pytest.raises(SpikegradInputError, match="non-finite"):
        net(x)


def test_spike_events_travel_with_the_tensor_and_expire_on_edit():
    torch.manual_seed(0)
    layer = LIFLayer(20, 30, backend="numba")
    with torch.no_grad():
        layer.weight.mul_(5)
    x = (torch.rand(40, 3, 20) < 0.2).float()
    s = layer(x)
    cached = L.get_events(s)
    scanned = L.build_events(s.detach().clone(), None)
    assert s.sum() > 0 and cached.count.tolist() == scanned.count.tolist()
    for r in range(40 * 3):
        a = cached.idx[cached.start[r]:cached.start[r] + cached.count[r]]
        b = scanned.idx[scanned.start[r]:scanned.start[r] + scanned.count[r]]
        assert np.array_equal(a, b)
    assert L.build_events(s, None) is cached
    with torch.no_grad():
        s[0, 0, 0] = 1.0  # an in-place edit bumps the version: the cache is not used
    assert L.build_events(s, None) is not cached


def test_dense_inputs_take_the_matrix_product_path():
    x = (torch.rand(10, 2, 8) < 0.9).float()
    assert x.mean() > L.DENSITY_THRESHOLD
    assert L.build_events(x) is None


def test_recycled_buffers_wait_for_every_reference():
    _buffers.clear()
    a = _buffers.empty((512, 1024), np.float32)  # 2 MiB: pooled
    t = torch.from_numpy(a)
    ptr = a.__array_interface__["data"][0]
    del a
    gc.collect()
    assert _buffers.pool_bytes() == 0  # the tensor still uses the memory
    del t
    gc.collect()
    assert _buffers.pool_bytes() == 2 << 20
    b = _buffers.empty((1024, 512), np.float32)
    assert b.__array_interface__["data"][0] == ptr and _buffers.pool_bytes() == 0
    small = _buffers.empty(10, np.float64)
    assert small.shape == (10,)


@pytest.mark.parametrize("recurrent", [False, True])
def test_training_with_numba_reproduces_reference_accuracy(recurrent):
    from spikegrad.data.randman import make_randman
    from spikegrad.learning.config import evaluate

    train_set, _, test_set = make_randman(n_classes=3, n_units=20, samples_per_class=100, seed=2)
    accs, weights = [], []
    for backend in ("reference", "numba"):
        net = SpikingNetwork(20, 3, (32,), recurrent=recurrent, seed=0, backend=backend).double()
        opt = torch.optim.Adam(net.parameters(), lr=3e-2)
        for _ in range(15):
            gen = torch.Generator().manual_seed(1)
            for xb, yb in train_set.batches(30, shuffle=True, generator=gen, dtype=torch.float64):
                opt.zero_grad()
                readout_loss(net(xb).readout, yb).backward()
                opt.step()
        accs.append(evaluate(net, test_set)["accuracy"])
        weights.append([p.detach().clone() for p in net.parameters()])
    # measured 0.867 for both backends, ff and recurrent (chance 1/3)
    assert accs[0] == accs[1] and accs[0] > 0.7
    for a, b in zip(*weights, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-7, atol=1e-9)


def test_recycled_buffers_survive_numpy_views_of_the_array():
    _buffers.clear()
    a = _buffers.empty((256, 1024), np.float32)  # 1 MiB: pooled
    a[:] = 1.0
    v = a.T[::2]  # a numpy view: its base is not `a`
    del a
    gc.collect()
    assert _buffers.pool_bytes() == 0
    b = _buffers.empty((256, 1024), np.float32)  # must not get the memory `v` still uses
    b[:] = 2.0
    assert float(v.sum()) == v.size
    del v, b
    gc.collect()
    assert _buffers.pool_bytes() == 2 * (1 << 20)


@pytest.mark.parametrize("recurrent", [False, True])
def test_step_buffers_return_to_the_pool_without_the_garbage_collector(recurrent):
    """No reference cycle (tensor -> autograd node -> state -> tensor) may keep a step's
    buffers alive: they must come back by reference counting alone, or every step
    page-faults fresh memory again."""
    _buffers.clear()
    net = SpikingNetwork(64, 4, (48, 32), recurrent=recurrent, seed=0, backend="numba")
    x = (torch.rand(200, 64, 64, generator=torch.Generator().manual_seed(0)) < 0.05).float()
    gc.collect()
    gc.disable()
    try:
        for _ in range(2):
            out = net(x)
            readout_loss(out.readout, torch.zeros(64, dtype=torch.long)).backward()
            del out
        # at least both layers' membrane traces and spikes (measured 12.3 MB; 7.4 MB with
        # a cycle through the first layer's autograd node)
        assert _buffers.pool_bytes() >= 2 * 200 * 64 * (48 + 32) * 4
    finally:
        gc.enable()
