"""Izhikevich neurons: trajectory by hand, an independent float loop, gradients, fused path."""

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional.izhikevich import (
    IzhikevichParams,
    IzhikevichState,
    izhikevich_sequence,
    izhikevich_step,
)
from spikegrad.functional.surrogate import Relaxed, SuperSpike
from spikegrad.kernels.izhikevich_fused import izhikevich_sequence_fused
from spikegrad.nn.izhikevich import IzhikevichLayer

D = torch.float64
RS = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 1.0, 30.0, 10.0)  # regular spiking, h = 1 ms


def test_first_steps_by_hand():
    x = torch.full((3, 1, 1), 10.0, dtype=D)
    s, st, v = izhikevich_sequence(x, RS, SuperSpike(), record_membrane=True)
    # v1 = -65 + (0.04*4225 - 325 + 140 + 13 + 10) = -58; u1 = -13 + 0.02(0.2*-65 + 13) = -13
    # v2 = -58 + (0.04*3364 - 290 + 140 + 13 + 10) = -50.44; u2 = -13 + 0.02(-11.6 + 13)
    assert v.flatten().tolist() == pytest.approx([-65.0, -58.0, -50.44], abs=1e-12)
    assert s.sum() == 0
    v3 = -50.44 + (0.04 * 50.44**2 - 5 * 50.44 + 140 + 12.972 + 10)
    assert float(st.v) == pytest.approx(v3, abs=1e-12)


def test_reset_by_hand():
    st = IzhikevichState(torch.tensor([[35.0]], dtype=D), torch.tensor([[-13.0]], dtype=D))
    s, new = izhikevich_step(torch.tensor([[4.0]], dtype=D), st, RS, SuperSpike())
    # spike: v -> c = -65, u -> -13 + 8 = -5; then v' = -65 + (169 - 325 + 140 + 5 + 4) = -72
    assert float(s) == 1.0
    assert float(new.v) == pytest.approx(-72.0, abs=1e-12)
    assert float(new.u) == pytest.approx(-5.0 + 0.02 * (0.2 * -65.0 + 5.0), abs=1e-12)


def _loop(I, T, a, b, c, d, h):
    """Independent plain-float simulation: spike steps."""
    v, u, out = c, b * c, []
    for n in range(T):
        if v > 30.0:  # Heaviside(0) = 0
            out.append(n)
            v, u = c, u + d
        v, u = v + h * (0.04 * v * v + 5 * v + 140 - u + I), u + h * a * (b * v - u)
    return out


@pytest.mark.parametrize("preset", ["regular_spiking", "fast_spiking", "chattering"])
def test_spike_times_match_an_independent_loop(preset):
    from spikegrad.functional.izhikevich import IZHIKEVICH_PRESETS

    a, b, c, d = IZHIKEVICH_PRESETS[preset]
    p = IzhikevichParams(a, b, c, d, 0.5, 30.0, 10.0)
    x = torch.full((400, 1, 1), 10.0, dtype=D)
    s, _, _ = izhikevich_sequence(x, p, SuperSpike())
    got = torch.nonzero(s.flatten()).flatten().tolist()
    assert len(got) >= 3
    assert got == _loop(10.0, 400, a, b, c, d, 0.5)


def test_gradcheck_with_relaxed_forward():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(10, 2, 2, generator=g, dtype=D) * 40).requires_grad_()
    p = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 0.5, 30.0, 10.0)
    sur = Relaxed(SuperSpike(1.0))

    def ref(x):
        return izhikevich_sequence(x, p, sur, reset="differentiable")[0]

    def fused(x):
        return izhikevich_sequence_fused(x, p, sur, reset="differentiable")[0]

    assert torch.autograd.gradcheck(ref, (x,), atol=1e-6, rtol=1e-5)
    assert torch.autograd.gradcheck(fused, (x,), atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("reset", ["detach", "differentiable"])
def test_fused_equals_reference(reset):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(80, 3, 4, generator=g, dtype=D) * 25).requires_grad_()
    p = IzhikevichParams(0.02, 0.2, -65.0, 8.0, 0.5, 30.0, 10.0)
    s1, _, v1 = izhikevich_sequence(x, p, SuperSpike(2.0), reset=reset, record_membrane=True)
    s2, v2 = izhikevich_sequence_fused(x, p, SuperSpike(2.0), reset=reset)
    assert s1.sum() >= 10 and torch.equal(s1, s2)
    torch.testing.assert_close(v1, v2, rtol=0, atol=0)
    w = torch.randn(s1.shape, generator=g, dtype=D)
    g1, = torch.autograd.grad((s1 * w).sum(), x)
    g2, = torch.autograd.grad((s2 * w).sum(), x)
    assert g1.abs().max() > 0
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_layer_backends_and_errors():
    g = torch.Generator().manual_seed(2)
    x = (torch.rand(60, 2, 5, generator=g) < 0.4).double()
    a = IzhikevichLayer(5, 3, generator=torch.Generator().manual_seed(0)).double()
    b = IzhikevichLayer(5, 3, backend="reference", generator=torch.Generator().manual_seed(0))
    b.double()
    sa, sb = a(x), b(x)
    assert sa.sum() > 0 and torch.equal(sa, sb)
    assert a.params.h == 1.0  # dt = 1 ms at the boundary -> h = 1 model ms
    # backend "numba" (issue 31: the compiled kernel exists now) gives the same spikes
    c = IzhikevichLayer(5, 3, backend="numba", generator=torch.Generator().manual_seed(0))
    assert torch.equal(c.double()(x), sb)
    with pytest.raises(SpikegradInputError, match="backend"):
        IzhikevichLayer(5, 3, backend="cuda-magic")
    with pytest.raises(SpikegradInputError, match="preset"):
        IzhikevichLayer(5, 3, preset="bogus")
