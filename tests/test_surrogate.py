import math

import pytest
import torch

from spikegrad import SpikegradInputError
from spikegrad.functional.surrogate import (
    SURROGATES,
    AsymptoticSuperSpike,
    Relaxed,
    SuperSpike,
    heaviside,
    make_surrogate,
)

# (name, beta, x, expected h(x)) computed by hand from the formulas
POINTS = [
    ("superspike", 10.0, 0.0, 1.0),
    ("superspike", 10.0, 0.1, 0.25),
    ("superspike", 10.0, -0.3, 1.0 / 16.0),
    ("sigmoid", 10.0, 0.0, 0.25),
    ("sigmoid", 2.0, 0.5, math.exp(-1) / (1 + math.exp(-1)) ** 2),
    ("esser", 10.0, 0.05, 0.5),
    ("esser", 10.0, -0.05, 0.5),
    ("esser", 10.0, 0.2, 0.0),
    ("asymptotic_superspike", 10.0, 0.0, 10.0),
    ("asymptotic_superspike", 10.0, 0.1, 2.5),
    ("constant", 10.0, 3.0, 1.0),
    ("zero", 10.0, 0.0, 0.0),
    ("exponential", 10.0, 0.1, math.exp(-1)),
    ("gaussian", 10.0, 0.1, math.exp(-0.5)),
    ("arctan", 10.0, 0.1, 1.0 / (1.0 + math.pi**2)),
]


@pytest.mark.parametrize("name,beta,x,expected", POINTS)
def test_backward_values(name, beta, x, expected):
    s = make_surrogate(name, beta)
    xt = torch.tensor([x], dtype=torch.float64, requires_grad=True)
    y = s.spike(xt)
    y.backward(torch.ones_like(y))
    assert xt.grad.item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("name", sorted(SURROGATES))
def test_forward_is_heaviside_with_theta0_zero(name):
    s = make_surrogate(name, 5.0)
    x = torch.tensor([-1.0, -1e-9, 0.0, 1e-9, 2.0])
    assert torch.equal(s.spike(x), torch.tensor([0.0, 0.0, 0.0, 1.0, 1.0]))
    assert torch.equal(heaviside(x), s.spike(x))


@pytest.mark.parametrize("name", sorted(set(SURROGATES) - {"zero"}))
@pytest.mark.parametrize("beta", [0.5, 3.0, 20.0])
def test_derivative_matches_primitive_finite_difference(name, beta):
    s = make_surrogate(name, beta)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(200, generator=g, dtype=torch.float64) - 0.5) * 4
    # stay away from kinks (x = 0 for |x| forms, |x| = 1/beta for Esser)
    x = x[(x.abs() > 1e-3) & ((x.abs() - 1 / beta).abs() > 1e-3)]
    h = 1e-6
    fd = (s.primitive(x + h) - s.primitive(x - h)) / (2 * h)
    torch.testing.assert_close(fd, s.derivative(x), rtol=1e-6, atol=1e-8)


def test_normalised_peaks_do_not_grow_with_beta():
    for name in ("superspike", "esser", "exponential", "gaussian", "arctan", "sigmoid"):
        peaks = [float(make_surrogate(name, b).derivative(torch.zeros(1))) for b in (1, 10, 100)]
        assert max(peaks) == min(peaks)
    assert float(AsymptoticSuperSpike(50.0).derivative(torch.zeros(1))) == 50.0


def test_relaxed_uses_custom_backward_and_passes_gradcheck():
    s = Relaxed(SuperSpike(4.0))
    x = torch.randn(20, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(s.spike, (x,))
    assert not torch.equal(s.spike(x.detach()), heaviside(x.detach()))


def test_registry_errors_and_aliases():
    with pytest.raises(SpikegradInputError, match="valid names: .*superspike"):
        make_surrogate("superspik")
    with pytest.raises(SpikegradInputError, match="beta"):
        SuperSpike(beta=-1.0)
    with pytest.raises(SpikegradInputError, match="beta"):
        make_surrogate("esser", float("nan"))
    assert make_surrogate("Piecewise-Linear", 3).name == "esser"
    s = SuperSpike(3)
    assert make_surrogate(s) is s
    assert repr(s) == "SuperSpike(beta=3)"
    assert s == SuperSpike(3.0) and hash(s) == hash(SuperSpike(3.0))
