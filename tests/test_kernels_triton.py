"""The Triton kernels against the reference autograd loop, run in Triton's interpreter.

``TRITON_INTERPRET=1`` runs the same kernel source with numpy on CPU tensors, so every
kernel (LIF forward/backward, feed-forward and recurrent, the readout) is checked here
without a GPU: spikes identical, loss and every gradient per element. Sizes are tiny
(T = 6, uneven B x N) because the interpreter is slow; several programs per launch and
a masked tail are exercised by the interpreter's block of 4 elements.

Coverage: every registered surrogate x both reset modes x {feed-forward, recurrent,
recurrent with ``recurrent_grad=False``} x {float32, float64} with learnable per-neuron
time constants (B = 3, N = 7); batch 1 with fixed (float) time constants on two
surrogates; the readout; whole networks through ``backend="triton"``; the dispatch.

tests/conftest.py sets ``TRITON_INTERPRET=1`` before anything imports triton. On a CUDA
machine, ``SPIKEGRAD_TEST_DEVICE=cuda TRITON_INTERPRET=0`` runs the same checks with the
compiled kernels on the GPU (``bench/gpu.py`` does).
"""

import math
import os
import zlib

import pytest
import torch

pytest.importorskip("triton")

from spikegrad._checks import SpikegradInputError  # noqa: E402
from spikegrad.functional.lif import LIFParams, li_sequence, lif_sequence  # noqa: E402
from spikegrad.functional.surrogate import SURROGATES, SuperSpike, make_surrogate  # noqa: E402
from spikegrad.kernels import lif_triton  # noqa: E402
from spikegrad.kernels.lif_triton import li_sequence_triton, lif_sequence_triton  # noqa: E402
from spikegrad.nn import LIFLayer, Readout, SpikingNetwork  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

DEVICE = torch.device(os.environ.get("SPIKEGRAD_TEST_DEVICE", "cpu"))
if DEVICE.type == "cpu" and not lif_triton.interpret_mode():
    pytest.skip(
        "Triton's interpreter is off (TRITON_INTERPRET=1 was not set before triton was imported)",
        allow_module_level=True,
    )

#: Largest gradient error allowed, relative to the largest magnitude of that gradient
#: (measured over this grid: float64 5.2e-16, float32 2.5e-7; bench/triton_agreement.py).
TOL = {torch.float64: 1e-14, torch.float32: 2e-6}


def _inputs(key, T, B, N, dtype, rec):
    g = torch.Generator().manual_seed(zlib.crc32(repr(key).encode()))
    x = torch.randn(T, B, N, generator=g, dtype=dtype) * 3.0 + 2.0
    V = torch.randn(N, N, generator=g, dtype=dtype) * 0.8 if rec else None
    # per-neuron time constants (2..6 ms and 1..5 ms): a wrong neuron index shows
    tm = 2e-3 + 4e-3 * torch.rand(N, generator=g, dtype=dtype)
    ts = 1e-3 + 4e-3 * torch.rand(N, generator=g, dtype=dtype)
    return [None if t is None else t.to(DEVICE).requires_grad_() for t in (x, V, tm, ts)]


def _run(impl, x, V, bm, bs, sur, reset, rg, params):
    if impl == "reference":
        s, _, _ = lif_sequence(
            x, LIFParams(bm, bs), sur, rec_weight=V, reset=reset, recurrent_grad=rg
        )
    else:
        s, _ = lif_sequence_triton(x, bm, bs, sur, rec_weight=V, reset=reset, recurrent_grad=rg)
    T, B, N = s.shape
    w = torch.linspace(-1, 1, T * B * N, dtype=x.dtype, device=x.device).view(T, B, N)
    loss = (s * w).sum() + 0.1 * (s.sum(0) ** 2).sum()
    return s, loss, torch.autograd.grad(loss, params)


def _assert_grads_close(g1, g2, dtype):
    for a, b in zip(g1, g2, strict=True):
        scale = a.abs().max().item()
        # per element: |b - a| <= TOL * max|a| (plus a floor for all-zero gradients)
        torch.testing.assert_close(b, a, rtol=0, atol=TOL[dtype] * scale + 1e-300)


MODES = {"ff": (False, True), "rec": (True, True), "rec_nograd": (True, False)}


@pytest.mark.parametrize("name", sorted(SURROGATES))
@pytest.mark.parametrize("reset", ["detach", "differentiable"])
@pytest.mark.parametrize("mode", sorted(MODES))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_lif_matches_reference(name, reset, mode, dtype):
    rec, rg = MODES[mode]
    x, V, tm, ts = _inputs((name, reset, mode), 6, 3, 7, dtype, rec)
    sur = make_surrogate(name, 3.0)
    params = [x, tm, ts] + ([V] if rec else [])
    out = []
    for impl in ("reference", "triton"):
        bm, bs = torch.exp(-1e-3 / tm), torch.exp(-1e-3 / ts)
        out.append(_run(impl, x, V, bm, bs, sur, reset, rg, params))
    (s1, l1, g1), (s2, l2, g2) = out
    assert 10 <= s1.sum() <= s1.numel() - 10  # spikes and silences, resets taken
    assert torch.equal(s1, s2)
    torch.testing.assert_close(l2, l1, rtol=1e-14, atol=0)
    if name != "zero":  # a kernel that silently drops the surrogate gradient fails here
        assert g2[0].abs().max() > 0 and g2[1].abs().max() > 0
    _assert_grads_close(g1, g2, dtype)


@pytest.mark.parametrize("name", ["superspike", "sigmoid"])
@pytest.mark.parametrize("rec", [False, True], ids=["ff", "rec"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_batch_one_fixed_taus(name, rec, dtype):
    x, V, _, _ = _inputs((name, rec, "b1"), 6, 1, 5, dtype, rec)
    sur = make_surrogate(name, 4.0)
    bm, bs = math.exp(-1e-3 / 4e-3), math.exp(-1e-3 / 2e-3)  # python floats: no tau grads
    params = [x] + ([V] if rec else [])
    s1, l1, g1 = _run("reference", x, V, bm, bs, sur, "differentiable", True, params)
    s2, l2, g2 = _run("triton", x, V, bm, bs, sur, "differentiable", True, params)
    assert s1.sum() > 0 and torch.equal(s1, s2)
    torch.testing.assert_close(l2, l1, rtol=1e-14, atol=0)
    _assert_grads_close(g1, g2, dtype)


@pytest.mark.parametrize("shape", [(), (1,)], ids=["0d", "1"])
def test_shared_decay_tensors_get_their_own_shape_of_gradient(shape):
    x, V, _, _ = _inputs(("shared", shape), 6, 2, 5, torch.float64, True)
    dec = [torch.full(shape, v, dtype=torch.float64, device=DEVICE, requires_grad=True)
           for v in (0.7, 0.6)]  # fmt: skip
    params = [x, *dec, V]
    s1, l1, g1 = _run("reference", x, V, *dec, SuperSpike(), "detach", True, params)
    s2, l2, g2 = _run("triton", x, V, *dec, SuperSpike(), "detach", True, params)
    assert torch.equal(s1, s2) and g2[1].shape == shape and g2[2].shape == shape
    _assert_grads_close(g1, g2, torch.float64)
    u1 = li_sequence(x, LIFParams(*dec))
    u2 = li_sequence_triton(x, *dec)
    _assert_grads_close(torch.autograd.grad(u1.square().sum(), dec),
                        torch.autograd.grad(u2.square().sum(), dec), torch.float64)  # fmt: skip


@pytest.mark.parametrize("B", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
def test_readout_matches_reference(B, dtype):
    g = torch.Generator().manual_seed(B)
    x = torch.randn(6, B, 5, generator=g, dtype=dtype).to(DEVICE).requires_grad_()
    tm = (10e-3 + 20e-3 * torch.rand(5, generator=g, dtype=dtype)).to(DEVICE).requires_grad_()
    ts = (2e-3 + 5e-3 * torch.rand(5, generator=g, dtype=dtype)).to(DEVICE).requires_grad_()
    w = torch.randn(6, B, 5, generator=g, dtype=dtype).to(DEVICE)
    res = []
    for fn in (li_sequence, li_sequence_triton):
        bm, bs = torch.exp(-1e-3 / tm), torch.exp(-1e-3 / ts)
        if fn is li_sequence:
            u = fn(x, LIFParams(bm, bs), u0=-1e-3)
        else:
            u = fn(x, bm, bs, u0=-1e-3)
        res.append((u, torch.autograd.grad((u * w).sum(), [x, tm, ts])))
    (u1, g1), (u2, g2) = res
    assert u1[0].eq(torch.tensor(-1e-3, dtype=dtype, device=DEVICE)).all()
    torch.testing.assert_close(u2, u1, rtol=0, atol=TOL[dtype] * u1.abs().max().item())
    _assert_grads_close(g1, g2, dtype)


@pytest.mark.parametrize("recurrent", [False, True], ids=["ff", "rec"])
def test_network_backend_triton_matches_reference(recurrent):
    # Every layer must fire, or every compared gradient is exactly 0 and a wrong Triton
    # backward passes: weights x15 and 12 steps make both hidden layers spike (measured:
    # ff 48/252 and 30/180 spikes, rec 53/252 and 20/180), and a "mean" readout takes
    # the gradient from every step (the "max" readout picked t=0 here, gradient 0).
    kw = dict(hidden=(7, 5), recurrent=recurrent, learn_tau=True, reset="differentiable",
              seed=4, readout_mode="mean")  # fmt: skip
    ref = SpikingNetwork(4, 3, backend="reference", **kw).double().to(DEVICE)
    tri = SpikingNetwork(4, 3, backend="triton", **kw).double().to(DEVICE)
    with torch.no_grad():
        for n, p in ref.named_parameters():
            if n.endswith("weight"):
                p.mul_(15.0)
    tri.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(0)
    x = ((torch.rand(12, 3, 4, generator=g) < 0.6).double() * 4.0).to(DEVICE)
    o1, o2 = ref(x), tri(x)
    for k, s in enumerate(o1.spikes):  # every layer fires, and not always
        assert 0 < s.sum() < s.numel(), f"layer {k} spikes {s.sum()} of {s.numel()}"
    assert all(torch.equal(a, b) for a, b in zip(o1.spikes, o2.spikes, strict=True))
    torch.testing.assert_close(o2.readout, o1.readout, rtol=1e-14, atol=1e-17)
    y = torch.tensor([0, 2, 1], device=DEVICE)
    for net, o in ((ref, o1), (tri, o2)):
        torch.nn.functional.cross_entropy(net.logits(o), y).backward()
    for (n, a), (_, b) in zip(ref.named_parameters(), tri.named_parameters(), strict=True):
        assert a.grad is not None and b.grad is not None, n
        assert a.grad.abs().max() > 0, f"{n}: reference gradient is all zero"
        # per element, relative to the largest entry: measured <= 4.5e-16 (float64)
        _assert_grads_close([a.grad], [b.grad], torch.float64)


@pytest.mark.skipif(DEVICE.type != "cuda", reason="needs a CUDA device")
def test_auto_picks_triton_on_cuda():
    x = torch.rand(6, 2, 3, device=DEVICE)
    layer, ro = LIFLayer(3, 4).to(DEVICE), Readout(3, 2).to(DEVICE)
    assert layer.uses_triton(x @ layer.weight.t())
    assert ro(x).shape == (6, 2, 2)


@pytest.mark.skipif(DEVICE.type != "cpu", reason="the interpreter's CPU dispatch")
def test_dispatch_and_clear_errors(monkeypatch):
    x = torch.rand(6, 2, 3)
    auto = LIFLayer(3, 4, backend="auto")
    assert not auto.uses_triton(x @ auto.weight.t())  # auto never picks Triton on CPU
    tri = LIFLayer(3, 4, backend="triton")
    assert tri.uses_triton(x @ tri.weight.t())

    class MySpike(SuperSpike):  # a subclass may change derivative: never compiled by name
        def derivative(self, v):
            return torch.ones_like(v)

    with pytest.raises(SpikegradInputError, match="no Triton derivative"):
        LIFLayer(3, 4, surrogate=MySpike(), backend="triton")(x)
    with pytest.raises(SpikegradInputError, match="float32 or float64"):
        lif_sequence_triton(x.half(), 0.9, 0.8, SuperSpike())
    tri.reset = "some-new-mode"  # an option the kernels do not implement
    with pytest.raises(SpikegradInputError, match="reset='some-new-mode' is not implemented"):
        tri(x)
    huge = torch.zeros(1, 1, 1).expand(2**16, 2**8, 2**7)  # 2^31 elements, no memory
    assert "32-bit offsets" in lif_triton.unsupported(None, huge)
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(SpikegradInputError, match="TRITON_INTERPRET=1"):
        LIFLayer(3, 4, backend="triton")(x)
    with pytest.raises(SpikegradInputError, match="TRITON_INTERPRET=1"):
        Readout(3, 2, backend="triton")(x)
    monkeypatch.setattr(lif_triton, "have_triton", lambda: False)
    assert "not installed" in lif_triton.unsupported(None, x)
