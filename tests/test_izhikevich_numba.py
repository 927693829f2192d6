"""The compiled Izhikevich kernels (spikegrad.kernels.izhikevich_numba) against the torch loops.

``izhikevich_sequence_fused(kernel="numba")`` must give the spikes, the trace ``V`` and the
input gradient of ``kernel="torch"`` (the hand-written adjoint, gradchecked with a relaxed
surrogate in tests/test_izhikevich.py) and of the reference
:func:`spikegrad.functional.izhikevich.izhikevich_sequence` through autograd, per element,
for both reset modes, every compiled surrogate, per-neuron parameters, float64 and float32.
Measured on this machine: spikes and ``V`` bitwise identical in both dtypes (the kernel does
the torch loop's operations in its order); input gradients, over five seeds, within 2.9e-15
(float64) and 1.6e-6 (float32) of the largest element against the reference and within
1.7e-15 / 3.9e-7 against the torch loop (the surrogate derivative's round-off differs, and
the adjoint grows along the sequence). The trace ``V`` is also
checked against central finite differences in float64 where no spike moves.
"""

from __future__ import annotations

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional.izhikevich import (
    IZHIKEVICH_PRESETS,
    IzhikevichParams,
    izhikevich_sequence,
)
from spikegrad.functional.surrogate import SURROGATES, Relaxed, SuperSpike
from spikegrad.kernels.izhikevich_fused import izhikevich_sequence_fused
from spikegrad.kernels.lif_numba import SURROGATE_CODES
from spikegrad.nn.izhikevich import IzhikevichLayer

numba = pytest.importorskip("numba")

P = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 0.5, 30.0, 10.0)  # regular spiking, h = 0.5 ms


def _x(dtype, seed=1, T=80, B=3, N=5, scale=25.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, N, generator=g, dtype=dtype) * scale).requires_grad_()


def _run(kernel, x, p, sg, reset, on=("S", "V")):
    """Spikes, trace and d loss / d x, loss on the spikes and / or on the trace."""
    if kernel == "reference":
        S, _, V = izhikevich_sequence(x, p, sg, reset=reset, record_membrane=True)
    else:
        S, V = izhikevich_sequence_fused(x, p, sg, reset=reset, kernel=kernel)
    g = torch.Generator().manual_seed(7)
    w = torch.randn(S.shape, generator=g, dtype=x.dtype)
    loss = 0.0
    if "S" in on:
        loss = loss + (S * w).sum()
    if "V" in on:
        loss = loss + 1e-3 * (V * w.flip(0)).sum()
    (gx,) = torch.autograd.grad(loss, x)
    return S.detach(), V.detach(), gx


def _compare(a, b, grad_tol):
    assert torch.equal(a[0], b[0])  # the same spikes
    assert torch.equal(a[1], b[1])  # the same trace, bit for bit (same operations, same order)
    scale = b[2].abs().max().item()
    assert scale > 0
    assert (a[2] - b[2]).abs().max().item() <= grad_tol * scale


@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_numba_equals_torch_loop_and_reference(reset, dtype):
    x = _x(dtype)
    sg = SuperSpike(2.0)
    num = _run("numba", x, P, sg, reset)
    assert num[0].sum() >= 30  # spikes, so both resets act
    f64 = dtype == torch.float64
    _compare(num, _run("torch", x, P, sg, reset), 1e-14 if f64 else 1e-6)
    _compare(num, _run("reference", x, P, sg, reset), 1e-14 if f64 else 4e-6)


@pytest.mark.parametrize("on", [("S",), ("V",)])
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_loss_on_one_output_only(on, reset):
    # the adjoint without a spike gradient (gS None) or without a trace gradient (gV None)
    x = _x(torch.float64, seed=2)
    sg = SuperSpike(2.0)
    num = _run("numba", x, P, sg, reset, on)
    _compare(num, _run("reference", x, P, sg, reset, on), 1e-14)


@pytest.mark.parametrize("name", sorted(SURROGATE_CODES))
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_every_compiled_surrogate(name, reset):
    x = _x(torch.float64, seed=3, T=50)
    sg = SURROGATES[name](beta=1.5)
    num = _run("numba", x, P, sg, reset)
    ref = _run("reference", x, P, sg, reset)
    if name == "zero":  # no gradient through the spikes: only the trace's loss reaches x
        assert _run("numba", x, P, sg, reset, ("S",))[2].abs().max() == 0
    _compare(num, ref, 1e-13)
    _compare(num, _run("torch", x, P, sg, reset), 1e-13)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_per_neuron_parameters(dtype):
    # a, b, c, d as [N] tensors: one column per firing class of Izhikevich 2003, Fig. 2
    cols = list(zip(*IZHIKEVICH_PRESETS.values(), strict=True))
    a, b, c, d = (torch.tensor(v, dtype=dtype) for v in cols)
    p = IzhikevichParams(a, b, c, d, 0.5, 30.0, 10.0)
    x = _x(dtype, seed=4, N=len(IZHIKEVICH_PRESETS))
    sg = SuperSpike(2.0)
    num = _run("numba", x, p, sg, "differentiable")
    assert (num[0].sum(dim=(0, 1)) > 0).all()  # every class spikes
    tol = 1e-14 if dtype == torch.float64 else 1e-6
    _compare(num, _run("torch", x, p, sg, "differentiable"), tol)
    # a 0-d tensor parameter broadcasts like the number it holds
    p0 = IzhikevichParams(torch.tensor(0.02, dtype=dtype), *P[1:])
    _compare(_run("numba", x, p0, sg, "detach"), _run("numba", x, P, sg, "detach"), 0.0)


def test_retained_graph_differentiated_twice():
    x = _x(torch.float64, seed=5)
    S, V = izhikevich_sequence_fused(x, P, SuperSpike(2.0), reset="differentiable", kernel="numba")
    loss = S.sum() + 1e-3 * V.pow(2).sum()
    loss.backward(retain_graph=True)
    g1 = x.grad.clone()
    loss.backward()
    assert g1.abs().max() > 0
    torch.testing.assert_close(x.grad, 2 * g1, rtol=0, atol=0)
    with pytest.raises(RuntimeError):  # the traces were freed after the second backward
        loss.backward()


def test_in_place_change_of_an_output_is_caught():
    x = _x(torch.float64, seed=5)
    S, V = izhikevich_sequence_fused(x, P, SuperSpike(2.0), kernel="numba")
    loss = S.sum()
    V.mul_(2.0)  # V is a saved trace: autograd must refuse the stale backward
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


def test_trace_gradient_matches_finite_differences():
    # With the reset detached, V is a piecewise-smooth function of x and the adjoint of a
    # loss on V alone is its exact derivative while no spike moves: check that by central
    # differences in float64 (torch.autograd.gradcheck, eps 1e-6).
    x = _x(torch.float64, seed=6, T=40, B=2, N=3, scale=30.0)
    S, V = izhikevich_sequence_fused(x, P, SuperSpike(2.0), kernel="numba")
    assert S.sum() >= 6  # resets inside the window
    margin = (V.detach() - P.v_peak).abs().min().item()
    assert margin > 1e-3  # far from the threshold: no spike flips under eps = 1e-6

    def trace(x):
        return izhikevich_sequence_fused(x, P, SuperSpike(2.0), kernel="numba")[1]

    assert torch.autograd.gradcheck(trace, (x,), eps=1e-6, atol=1e-6, rtol=1e-5)


def test_by_hand_two_steps():
    # V[1] = V[0] + h (0.04 V0^2 + 5 V0 + 140 - U0 + x0): dV[1]/dx[0] = h, dV[2]/dx[1] = h and
    # dV[2]/dx[0] = h (1 + h (0.08 V[1] + 5)) (no spike); dV[2]/dU[1] = -h, dU[1]/dx[0] = 0
    x = torch.tensor([[[10.0]], [[10.0]], [[0.0]]], dtype=torch.float64, requires_grad=True)
    p = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 1.0, 30.0, 10.0)
    S, V = izhikevich_sequence_fused(x, p, SuperSpike(), kernel="numba")
    assert V.flatten().tolist() == pytest.approx([-65.0, -58.0, -50.44], abs=1e-12)
    (g,) = torch.autograd.grad(V[2].sum(), x)
    assert g.flatten().tolist() == pytest.approx([1.0 + (0.08 * -58.0 + 5.0), 1.0, 0.0], abs=1e-12)


def test_thread_count_does_not_change_results():
    x = _x(torch.float32, seed=8, B=6)
    sg = SuperSpike(2.0)
    n0 = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _run("numba", x, P, sg, "differentiable")
        numba.set_num_threads(max(1, min(2, numba.config.NUMBA_NUM_THREADS)))
        two = _run("numba", x, P, sg, "differentiable")
    finally:
        numba.set_num_threads(n0)
    _compare(one, two, 0.0)  # samples are independent: no reduction order to differ


def test_refusals_and_fallbacks():
    class Custom(SuperSpike):  # a subclass: its derivative could differ, so no compiled form
        pass

    x = _x(torch.float64, seed=9, T=30)
    with pytest.raises(SpikegradInputError, match="kernel='numba'"):
        izhikevich_sequence_fused(x, P, Custom(2.0), kernel="numba")
    with pytest.raises(SpikegradInputError, match="kernel"):
        izhikevich_sequence_fused(x, P, SuperSpike(), kernel="triton")
    # a parameter tensor of another dtype, or a surrogate without a compiled form: auto
    # runs the torch loop, with the torch loop's result
    p32 = IzhikevichParams(torch.tensor([0.02] * 5, dtype=torch.float32), *P[1:])
    with pytest.raises(SpikegradInputError, match="kernel='numba'"):
        izhikevich_sequence_fused(x, p32, SuperSpike(), kernel="numba")
    for sg, p in ((Custom(2.0), P), (Relaxed(SuperSpike(1.0)), P), (SuperSpike(2.0), p32)):
        S, V = izhikevich_sequence_fused(x, p, sg, kernel="auto")
        assert type(S.grad_fn).__name__ == "_IzhFusedBackward"
        _compare(_run("auto", x, p, sg, "detach"), _run("torch", x, p, sg, "detach"), 0.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layer_runs_on_the_compiled_kernel_by_default(dtype):
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(60, 2, 5, generator=g) < 0.4).to(dtype)
    a = IzhikevichLayer(5, 3, generator=torch.Generator().manual_seed(0)).to(dtype)
    r = IzhikevichLayer(5, 3, backend="reference", generator=torch.Generator().manual_seed(0))
    r.to(dtype)
    sa, va = a(x, record_membrane=True)
    sr, vr = r(x, record_membrane=True)
    assert type(sa.grad_fn).__name__ == "_IzhNumbaBackward"
    assert sa.sum() > 0 and torch.equal(sa, sr) and torch.equal(va, vr)
    (ga,) = torch.autograd.grad(sa.sum(), a.weight)
    (gr,) = torch.autograd.grad(sr.sum(), r.weight)
    tol = 1e-13 if dtype == torch.float64 else 4e-6
    assert (ga - gr).abs().max() <= tol * gr.abs().max()


def test_non_contiguous_input_and_gradient():
    # a [B, T, N] tensor seen as [T, B, N] (a transposed view) and an expanded gradient
    base = _x(torch.float64, seed=10).detach().transpose(0, 1).contiguous()
    x = base.transpose(0, 1).requires_grad_()
    assert not x.is_contiguous()
    xc = x.detach().contiguous().requires_grad_()
    sg = SuperSpike(2.0)
    S, V = izhikevich_sequence_fused(x, P, sg, reset="differentiable", kernel="numba")
    Sc, Vc = izhikevich_sequence_fused(xc, P, sg, reset="differentiable", kernel="numba")
    assert S.sum() > 0 and torch.equal(S, Sc) and torch.equal(V, Vc)
    w = torch.linspace(0.5, 1.5, x.shape[-1], dtype=x.dtype).expand_as(S)  # stride-0 weights
    (g,) = torch.autograd.grad((S * w).sum(), x)
    (gc,) = torch.autograd.grad((Sc * w.contiguous()).sum(), xc)
    assert g.abs().max() > 0 and torch.equal(g, gc)
