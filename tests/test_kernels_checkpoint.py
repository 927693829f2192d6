"""Block checkpoints of the numba LIF kernels: no membrane trace kept, bitwise the same.

With ``lif_numba.CHECKPOINT`` the forward sweep of an event-driven layer keeps only the
state (u, i) at the start of every time block and the backward sweep recomputes each
block's rows (``_replay``). The recomputation repeats the forward's arithmetic in the
same order, so spikes, readout, loss and every gradient must be *bitwise* those of the
stored-trace path, for every backward path (feed-forward sweep, per-step BLAS recurrent
adjoint, sparse recurrent adjoint), block layouts (T shorter than, equal to, and not a
multiple of the block length), both reset modes and trainable time constants.
Also: the step-sized arrays travel through ``save_for_backward``, so autograd frees
them right after the backward even while the caller keeps the loss.
"""

import gc

import numpy as np
import pytest
import torch

from spikegrad.functional.readout import readout_loss
from spikegrad.kernels import _buffers
from spikegrad.kernels import lif_numba as L
from spikegrad.nn import LIFLayer, SpikingNetwork

pytest.importorskip("numba")

TB = L._TB


@pytest.fixture(autouse=True)
def _any_size(monkeypatch):
    """Checkpoint the small traces of these tests too (the default bound is 64 MiB)."""
    monkeypatch.setattr(L, "CHECKPOINT_MIN_BYTES", 0)


def _layer_grads(kw, x, ck, monkeypatch):
    monkeypatch.setattr(L, "CHECKPOINT", ck)
    torch.manual_seed(5)
    layer = LIFLayer(x.shape[2], 9, learn_tau=True, backend="numba", **kw).to(x.dtype)
    with torch.no_grad():
        layer.weight.mul_(40)
    s = layer(x)
    T, B, N = s.shape
    w = torch.linspace(-1, 1, T * B * N, dtype=x.dtype).view(T, B, N)
    loss = (s * w).sum() + 0.1 * (s.sum(0) ** 2).sum()
    params = [x] + [p for _, p in sorted(layer.named_parameters())]
    return s, loss, torch.autograd.grad(loss, params)


@pytest.fixture
def ck_spy(monkeypatch):
    """Record, per LIF forward, whether it ran with checkpoints."""
    seen = []
    inner = L._lif_run

    def spy(*a, **k):
        r, s = inner(*a, **k)
        seen.append(r.ck)
        return r, s

    monkeypatch.setattr(L, "_lif_run", spy)
    return seen


@pytest.mark.parametrize("T", [7, TB, 2 * TB + 5])
@pytest.mark.parametrize(
    "kw",
    [
        dict(recurrent=False),
        dict(recurrent=True),  # per-step BLAS recurrent adjoint
        dict(recurrent=True, recurrent_grad=False),
        dict(recurrent=True, surrogate="esser", beta=2.0),  # sparse recurrent adjoint
    ],
)
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_checkpointed_layer_is_bitwise_the_stored_one(T, kw, reset, dtype, ck_spy, monkeypatch):
    g = torch.Generator().manual_seed(T)
    x = (torch.rand(T, 3, 40, generator=g) < 0.09).to(dtype)
    x = (x * (0.5 + torch.rand(T, 3, 40, generator=g, dtype=dtype))).requires_grad_()
    kw = dict(kw, reset=reset)
    if kw.get("surrogate") == "esser":
        monkeypatch.setattr(L, "SPARSE_ADJOINT_MAX", 1.0)
    s0, l0, g0 = _layer_grads(kw, x, False, monkeypatch)
    s1, l1, g1 = _layer_grads(kw, x, True, monkeypatch)
    assert ck_spy == [False, True]
    assert 0 < int(s0.sum()) < s0.numel()
    assert torch.equal(s0, s1) and torch.equal(l0, l1)
    for a, b in zip(g0, g1, strict=True):
        assert a.abs().max() > 0
        assert torch.equal(a, b)


@pytest.mark.parametrize("recurrent", [False, True])
def test_checkpointed_network_is_bitwise_the_stored_one(recurrent, ck_spy, monkeypatch):
    """Two hidden layers and the fused readout (the last layer's readout term per block)."""
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(2 * TB + 9, 4, 16, generator=g) < 0.06).double()
    y = torch.arange(4) % 3
    grads = []
    for ck in (False, True):
        monkeypatch.setattr(L, "CHECKPOINT", ck)
        net = SpikingNetwork(16, 3, (24, 12), recurrent=recurrent, learn_tau=True, seed=3,
                             backend="numba").double()  # fmt: skip
        with torch.no_grad():
            net.layers[0].weight.mul_(8)
            net.layers[1].weight.mul_(10)
        out = net(x)
        assert all(s.sum() > 0 for s in out.spikes)
        (readout_loss(out.readout, y) + 0.01 * sum(s.sum() for s in out.spikes)).backward()
        grads.append([p.grad for p in net.parameters()])
    assert ck_spy == [False, False, True, True]
    for a, b in zip(*grads, strict=True):
        assert torch.equal(a, b)


def test_checkpoints_replace_the_trace(monkeypatch):
    """With checkpoints no [B, T, N] trace is allocated; the membrane is still returned
    when asked for (then it is stored)."""
    shapes = []
    inner = _buffers.empty
    monkeypatch.setattr(_buffers, "empty", lambda s, dtype: shapes.append(s) or inner(s, dtype))
    x = (torch.rand(50, 3, 11, generator=torch.Generator().manual_seed(0)) < 0.05).float()
    layer = LIFLayer(11, 9, backend="numba")
    monkeypatch.setattr(L, "CHECKPOINT", True)
    layer(x).sum().backward()
    assert (3, 50, 9) not in shapes and (3, 2, 9) in shapes  # 2 blocks of 32 steps
    shapes.clear()
    s, mem = layer(x, record_membrane=True)
    assert (3, 50, 9) in shapes and mem.shape == (50, 3, 9)
    monkeypatch.setattr(L, "CHECKPOINT", False)
    shapes.clear()
    layer(x).sum().backward()
    assert (3, 50, 9) in shapes


def test_saved_arrays_are_freed_after_backward_while_the_loss_is_kept(monkeypatch):
    """A training loop keeps its last loss until the next step; the step's traces must
    be back in the buffer pool right after the backward all the same."""
    monkeypatch.setattr(L, "CHECKPOINT", False)
    _buffers.clear()
    T, B, N = 400, 8, 100  # the [B, T, N] float32 trace is 1.28 MB: pooled
    x = (torch.rand(T, B, 30, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    layer = LIFLayer(30, N, backend="numba")
    with torch.no_grad():
        layer.weight.mul_(5)
    loss = layer(x).sum()
    gc.collect()
    idle = _buffers.pool_bytes()
    loss.backward()
    gc.collect()
    # the membrane trace (B T N floats) went back to the pool though `loss` lives on
    assert _buffers.pool_bytes() - idle >= B * T * N * 4
    assert loss.grad_fn is not None


def test_retain_graph_backward_twice_gives_the_same_gradients(monkeypatch):
    for ck in (False, True):
        monkeypatch.setattr(L, "CHECKPOINT", ck)
        x = (torch.rand(40, 3, 11, generator=torch.Generator().manual_seed(4)) < 0.05).float()
        layer = LIFLayer(11, 9, recurrent=True, backend="numba")
        with torch.no_grad():
            layer.weight.mul_(6)
        loss = (layer(x) * torch.linspace(0, 1, 9)).sum()
        g1 = torch.autograd.grad(loss, list(layer.parameters()), retain_graph=True)
        g2 = torch.autograd.grad(loss, list(layer.parameters()))
        assert all(torch.equal(a, b) for a, b in zip(g1, g2, strict=True))
        with pytest.raises(RuntimeError, match="second time"):
            torch.autograd.grad(loss, list(layer.parameters()))


def test_only_traces_of_at_least_the_bound_are_recomputed(ck_spy, monkeypatch):
    x = (torch.rand(50, 3, 11, generator=torch.Generator().manual_seed(0)) < 0.05).float()
    layer = LIFLayer(11, 9, backend="numba")
    monkeypatch.setattr(L, "CHECKPOINT", True)
    for bound, ck in ((50 * 3 * 9 * 4, True), (50 * 3 * 9 * 4 + 1, False)):
        monkeypatch.setattr(L, "CHECKPOINT_MIN_BYTES", bound)
        layer(x)
        assert ck_spy.pop() is ck


def test_support_fraction_from_checkpoints_counts_block_starts():
    cst = L._consts(np.float64, 2.0)
    CKU = np.zeros((2, 3, 2))
    CKU[:, 1:] = [[1.2, 5.0], [0.9, 0.0]]  # |U - 1| < 1/2: 1.2 and 0.9 inside
    assert L._support_fraction(L.SURROGATE_CODES["esser"], cst, CKU[:, 1:], (1, 1)) == 0.5
