"""The sparse recurrent adjoint for surrogates of bounded support, against the reference.

With a surrogate whose derivative is exactly zero outside an interval (Esser's
max(0, 1 - beta |U - 1|)), dL/dS[t, j] reaches the adjoint only as h_j dL/dS[t, j], so
the recurrent term (g_i V)[j] is needed only inside the support: the numba backward
computes just those (the idea of Perez-Nieves & Goodman 2021's sparse spiking gradient
descent, exact here). Spikes, loss and every gradient per element as in
tests/test_kernels_events.py, with the sparse path forced and observed to run.
"""

import numpy as np
import pytest
import torch

from spikegrad.functional.readout import readout_loss
from spikegrad.kernels import lif_numba as L
from spikegrad.nn import LIFLayer
from test_kernels_events import _compare, _two_layer_nets


@pytest.fixture
def sparse_calls(monkeypatch):
    """Force the sparse path (any support fraction) and record which path each call took."""
    calls = []
    inner = L._lif_backward

    def spy(*args):
        calls.append(int(args[-2]))  # recg: 1 = the sparse recurrent adjoint ran
        return inner(*args)

    monkeypatch.setattr(L, "_lif_backward", spy)
    monkeypatch.setattr(L, "SPARSE_ADJOINT_MAX", 1.0)
    return calls


@pytest.mark.parametrize("beta", [2.0, 10.0])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-5)])
def test_sparse_recurrent_adjoint_matches_reference(sparse_calls, beta, reset, dtype, tol):
    kw = dict(recurrent=True, surrogate="esser", beta=beta)
    s = _compare(kw, dtype, tol, 0.3, 3, reset=reset)
    assert sparse_calls == [1]
    assert 10 <= int(s.sum()) <= s.numel() - 10  # neurons both spike and stay silent


def _paths(monkeypatch):
    calls = []
    inner = L._lif_backward
    monkeypatch.setattr(L, "_lif_backward", lambda *a: calls.append(int(a[-2])) or inner(*a))
    return calls


def test_dispatch_picks_the_sparse_path_only_for_bounded_support(monkeypatch):
    calls = _paths(monkeypatch)
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(40, 4, 30, generator=g) < 0.1).float()
    # 1: sparse adjoint in the sweep, 2: dense adjoint in the sweep, []: per-step BLAS
    for name, sweep, expect in (("esser", True, [1]), ("zero", True, [1]),
                                ("superspike", True, [2]), ("superspike", False, [])):  # fmt: skip
        monkeypatch.setattr(L, "SWEEP_ADJOINT", sweep)
        torch.manual_seed(0)
        lay = LIFLayer(30, 16, recurrent=True, surrogate=name, beta=10.0, backend="numba")
        with torch.no_grad():
            lay.weight.mul_(6)
        calls.clear()
        lay(x).sum().backward()
        assert calls == expect, name


@pytest.mark.parametrize("sweep", [True, False])
@pytest.mark.parametrize("name", ["superspike", "sigmoid"])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-14), (torch.float32, 1e-5)])
def test_dense_recurrent_adjoint_both_paths_match_reference(
    monkeypatch, sweep, name, reset, dtype, tol
):
    calls = _paths(monkeypatch)
    monkeypatch.setattr(L, "SWEEP_ADJOINT", sweep)
    _compare(dict(recurrent=True, surrogate=name), dtype, tol, 0.3, 5, reset=reset)
    assert calls == ([2] if sweep else [])


def test_support_fraction_hand_computed():
    cst = L._consts(np.float64, 10.0)
    # |U - 1| < 0.1 is inside Esser's support at beta = 10: 0.95, 1.0, 1.05 of 5 values
    U = np.array([0.85, 0.95, 1.0, 1.05, 1.2]).reshape(1, 1, 5)
    assert L._support_fraction(L.SURROGATE_CODES["esser"], cst, U) == pytest.approx(3 / 5)
    assert L._support_fraction(L.SURROGATE_CODES["zero"], cst, U) == 0.0
    assert L._support_fraction(L.SURROGATE_CODES["superspike"], cst, U) == 1.0


def test_release_buffers_empties_the_pool():
    from spikegrad.kernels import _buffers, release_buffers

    _buffers.clear()
    a = _buffers.empty((1 << 20,), np.uint8)
    del a  # back to the pool
    assert _buffers.pool_bytes() == 1 << 20
    assert release_buffers() == 1 << 20
    assert _buffers.pool_bytes() == 0
    b = _buffers.empty((1 << 20,), np.uint8)  # the pool still works afterwards
    del b
    assert _buffers.pool_bytes() == 1 << 20


def test_sparse_path_in_the_fused_network_tail_matches_reference(sparse_calls):
    """Two recurrent layers, the last fused with the readout (readout and spike-count
    gradients both reach the sparse sweep), float64, Esser at beta 2."""
    x, y, nets = _two_layer_nets(5, recurrent=True, surrogate="esser", beta=2.0)
    outs = [net(x) for net in nets]
    for a, b in zip(outs[0].spikes, outs[1].spikes, strict=True):
        assert a.sum() > 0 and torch.equal(a, b)
    for o in outs:
        (readout_loss(o.readout, y) + 0.01 * sum(s.sum() for s in o.spikes)).backward()
    assert sparse_calls == [1, 1]
    for (n, a), (_, b) in zip(nets[0].named_parameters(), nets[1].named_parameters(),
                              strict=True):  # fmt: skip
        assert a.grad.abs().max() > 0, n
        scale = float(a.grad.abs().max())
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-14, atol=1e-15 * scale, msg=n)
