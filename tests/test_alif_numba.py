"""The compiled adaptive-LIF kernels (spikegrad.kernels.alif_numba) against the torch loops.

``alif_sequence_fused(kernel="numba")`` must give the spikes, membrane and every gradient
of ``kernel="torch"`` (the hand-written adjoint, itself tested against autograd of the
reference step in tests/test_alif.py) per element, and of the reference
:func:`spikegrad.functional.alif.alif_sequence` through autograd, for every reset mode,
with and without a refractory period and recurrence, for every compiled surrogate, in
float64 (to round-off) and float32 (measured: spikes identical, membrane within 2.4e-7 = two ulp,
gradients within 4e-7 relative).
"""

from __future__ import annotations

import itertools

import pytest
import torch

from spikegrad.functional.alif import ALIFParams, alif_sequence
from spikegrad.functional.surrogate import SURROGATES
from spikegrad.kernels.alif_fused import alif_sequence_fused
from spikegrad.kernels.lif_numba import SURROGATE_CODES

pytest.importorskip("numba")


def _case(dtype, rec, seed=0, T=30, B=4, N=7):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(T, B, N, generator=g, dtype=dtype) * 0.6).requires_grad_()
    p = {
        "bm": torch.tensor(0.9, dtype=dtype, requires_grad=True),
        "bs": torch.linspace(0.7, 0.85, N, dtype=dtype).requires_grad_(),
        "rho": torch.tensor(0.95, dtype=dtype, requires_grad=True),
        "th": torch.linspace(0.9, 1.1, N, dtype=dtype).requires_grad_(),
        "al": torch.tensor(0.2, dtype=dtype, requires_grad=True),
    }
    V = (torch.randn(N, N, generator=g, dtype=dtype) * 0.3).requires_grad_() if rec else None
    return x, p, V


def _run(kernel, x, p, V, sg, reset, refr):
    T = x.shape[0]
    if kernel == "reference":
        prm = ALIFParams(p["bm"], p["bs"], p["rho"], p["th"], p["al"], refr)
        S, _, U = alif_sequence(x, prm, sg, rec_weight=V, reset=reset, record_membrane=True)
    else:
        S, U = alif_sequence_fused(
            x,
            p["bm"],
            p["bs"],
            sg,
            rho=p["rho"],
            threshold=p["th"],
            adapt=p["al"],
            refractory=refr,
            rec_weight=V,
            reset=reset,
            kernel=kernel,
        )
    w = torch.linspace(0.1, 1.0, T, dtype=x.dtype)[:, None, None]
    loss = (S * w).sum() + 0.1 * (U * U * w).sum()
    ps = [x, *p.values()] + ([V] if V is not None else [])
    return S.detach(), U.detach(), torch.autograd.grad(loss, ps)


def _compare(a, b, val_tol, grad_tol):
    assert torch.equal(a[0], b[0])
    assert (a[1] - b[1]).abs().max().item() <= val_tol
    for ga, gb in zip(a[2], b[2], strict=True):
        scale = ga.abs().max().item() + 1e-30
        assert (ga - gb).abs().max().item() <= grad_tol * scale


@pytest.mark.parametrize(
    "reset,refr,rec",
    list(itertools.product(("detach", "subtract", "differentiable"), (0, 2), (False, True))),
)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_equals_torch_loop_and_reference(reset, refr, rec, dtype):
    x, p, V = _case(dtype, rec, seed=refr + 3 * rec)
    sg = SURROGATES["superspike"](beta=10.0)
    num = _run("numba", x, p, V, sg, reset, refr)
    assert num[0].sum() > 20  # the case spikes, so resets and adaptation act
    f64 = dtype == torch.float64
    for other in ("torch", "reference"):
        _compare(
            num,
            _run(other, x, p, V, sg, reset, refr),
            1e-14 if f64 else 3e-7,
            1e-13 if f64 else 1e-6,
        )


@pytest.mark.parametrize("name", sorted(SURROGATE_CODES))
def test_every_compiled_surrogate(name):
    x, p, V = _case(torch.float64, True, seed=5)
    sg = SURROGATES[name]()
    a = _run("numba", x, p, V, sg, "detach", 0)
    _compare(a, _run("torch", x, p, V, sg, "detach", 0), 1e-14, 1e-13)


def test_numba_kernel_refuses_what_it_cannot_run():
    from spikegrad._checks import SpikegradInputError

    class Custom(SURROGATES["superspike"]):  # a subclass: no compiled derivative
        pass

    x, p, V = _case(torch.float64, False)
    with pytest.raises(SpikegradInputError, match="kernel='numba'"):
        _run("numba", x, p, V, Custom(), "detach", 0)
    # auto falls back to the torch loop for it, with the same result
    a = _run("auto", x, p, V, Custom(), "detach", 0)
    _compare(a, _run("torch", x, p, V, Custom(), "detach", 0), 0.0, 0.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("density", [0.03, 0.5])
def test_event_linear_equals_dense_product(dtype, density):
    from spikegrad.kernels.event_linear import event_linear

    g = torch.Generator().manual_seed(2)
    x = (torch.rand(40, 5, 30, generator=g) < density).to(dtype)
    x[3, 1, 4] = 2.5  # any value, not only 0/1 spikes
    x.requires_grad_()
    W = torch.randn(11, 30, generator=g, dtype=dtype, requires_grad=True)
    gout = torch.randn(40, 5, 11, generator=g, dtype=dtype)
    y = event_linear(x, W)
    gx, gw = torch.autograd.grad(y, (x, W), gout)
    xr, Wr = x.detach().clone().requires_grad_(), W.detach().clone().requires_grad_()
    yr = xr @ Wr.t()
    gxr, gwr = torch.autograd.grad(yr, (xr, Wr), gout)
    tol = 1e-13 if dtype == torch.float64 else 2e-6
    for a, b in ((y, yr), (gx, gxr), (gw, gwr)):
        assert (a - b).abs().max().item() <= tol * (b.abs().max().item() + 1.0)


def test_event_linear_refuses_non_finite_input():
    from spikegrad._checks import SpikegradInputError
    from spikegrad.kernels.event_linear import event_linear

    x = torch.zeros(10, 2, 6)
    x[4, 1, 2] = float("nan")
    with pytest.raises(SpikegradInputError, match="^x contains non-finite"):
        event_linear(x, torch.ones(3, 6), finite_name="x")
    assert torch.isnan(event_linear(x, torch.ones(3, 6))).any()  # no name: propagated


def test_alif_network_sparse_input_matches_reference_backend():
    from spikegrad.nn.alif import ALIFNetwork

    g = torch.Generator().manual_seed(4)
    x = (torch.rand(50, 6, 40, generator=g) < 0.04).double()
    y = torch.randint(0, 3, (6,), generator=g)
    out = {}
    for backend in ("fused", "reference"):
        net = ALIFNetwork(
            40, 3, (16,), tau_adapt=0.1, adapt=0.2, recurrent=True, backend=backend, seed=0
        ).double()
        with torch.no_grad():
            net.layers[0].weight.mul_(8.0)
        loss = torch.nn.functional.cross_entropy(net.logits(net(x)), y)
        out[backend] = (loss.detach(), torch.autograd.grad(loss, list(net.parameters())))
    a, b = out["fused"], out["reference"]
    assert abs(a[0].item() - b[0].item()) < 1e-12
    for ga, gb in zip(a[1], b[1], strict=True):
        assert (ga - gb).abs().max().item() <= 1e-11 * (gb.abs().max().item() + 1e-30)
    assert any(gb.abs().max() > 0 for gb in b[1])


def test_second_backward_with_retain_graph_repeats_the_first():
    """The traces and events live in save_for_backward: a retained graph can be
    differentiated twice, and gives the same gradients both times."""
    from spikegrad.nn.alif import ALIFNetwork

    g = torch.Generator().manual_seed(6)
    x = (torch.rand(30, 4, 20, generator=g) < 0.05).double()
    net = ALIFNetwork(20, 3, (12,), recurrent=True, seed=0).double()
    with torch.no_grad():
        net.layers[0].weight.mul_(8.0)
    loss = net.logits(net(x)).logsumexp(1).sum()
    params = list(net.parameters())
    first = torch.autograd.grad(loss, params, retain_graph=True)
    second = torch.autograd.grad(loss, params)
    assert any(a.abs().max() > 0 for a in first)
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
