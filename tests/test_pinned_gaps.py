"""Behaviours the mutation check (scripts/mutations.py, docs/mutations.md) found unpinned.

Each test here fails on a named deliberate break of the source and passes on the real code:
the non-finite check of the compiled event scan on each of its input paths, OeSNN-UAD's
merge step (hand-worked), and ``compare``'s estimator variance (closed form, D - 1).
"""

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import pytest
import torch

from spikegrad import SpikegradInputError, SpikingNetwork, make_rule, make_task
from spikegrad.experiments.compare import gradient_fidelity, reference_gradient
from spikegrad.kernels import lif_numba as L
from spikegrad.learning.rules import Rule, RuleStep
from spikegrad.online.uad import OeSNNUAD

# ------------------------------------------------- non-finite inputs, every scan path

# (dtype, channels): float64 and even float32 rows are scanned as 64-bit words; an odd
# float32 row has no word view and goes through the element loop
PATHS = [(torch.float64, 33), (torch.float64, 64), (torch.float32, 64), (torch.float32, 33)]


@pytest.mark.parametrize("dtype,K", PATHS, ids=["f64-odd", "f64-even", "f32-even", "f32-odd"])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_event_scan_raises_on_non_finite_on_every_path(dtype, K, bad):
    x = torch.zeros(20, 3, K, dtype=dtype)
    x[::3, :, ::4] = 1.0  # sparse: the event path
    ev = L.build_events(x, finite_name="x")
    assert ev is not None and int(ev.count.sum()) == int((x != 0).sum())
    x[7, 1, K - 1] = bad  # the last channel: the tail of a row as well as its words
    with pytest.raises(SpikegradInputError, match="x contains non-finite"):
        L.build_events(x, finite_name="x")
    assert L.build_events(x) is not None  # without a name it is an event, not an error
    net = SpikingNetwork(K, 2, (5,), backend="numba", seed=0).to(dtype)
    with pytest.raises(SpikegradInputError, match="non-finite"):
        net(x)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
def test_event_scan_raises_on_non_finite_in_an_overfull_region(dtype):
    # the first half of the rows dense: their chunks overflow their regions and only count
    x = torch.zeros(50, 8, 33, dtype=dtype)
    x[:25, :, :3] = 1.0
    x[24, 7, 1] = math.nan  # the last dense row: counted in the overflow pass
    with pytest.raises(SpikegradInputError, match="non-finite"):
        L.build_events(x, 0.03, finite_name="x")


# ------------------------------------------------- OeSNN-UAD merge, hand-worked


def test_uad_merge_averages_weights_threshold_value_and_age():
    """Window 3, fields 3 (zero-based centres lo + (2j - 3)/2 (hi - lo): -1.5, -0.5, 0.5
    on [0, 1]), mod 0.6, c 0.6, sim large (always merge), xi 0 (no value correction).

    t=1, x=0: one value in the window (hi == lo): nothing fires, no neuron.
    t=2, x=1 on [0, 1]: field distances 2.5, 1.5, 0.5 -> order 2, 1, 0, w = (0.36, 0.6, 1),
    theta = 0.6 (1 + 0.36 + 0.1296) = 0.89376; window (0, 1): mean 1/2, std 1/2; with the
    normal draw z = 1 the value is 1/2 + 1/2 = 1.
    t=3, x=0: distances 1.5, 0.5, 0.5 (tie: canonical order) -> order 1, 2, 0,
    w = (0.36, 1, 0.6); window (0, 1, 0): mean 1/3, std sqrt(2)/3; z = -1 gives the value
    1/3 - sqrt(2)/3. Merge with M = 1: w = (0.36, 0.8, 0.8), theta unchanged, value
    (1 + 1/3 - sqrt(2)/3) / 2, age (3 + 2) / 2 = 2.5, M = 2.
    """
    det = OeSNNUAD(window=3, n_fields=3, mod=0.6, c=0.6, sim=10.0, xi=0.0)
    det.learn_one({"x": 0.0})
    assert det.n_neurons == 0
    det._z = 1.0
    det.learn_one({"x": 1.0})
    assert det.n_neurons == 1
    np.testing.assert_allclose(det._Wr[0], [0.36, 0.6, 1.0], rtol=1e-15)
    assert det._value[0, 0] == 1.0 and det._merges[0] == 1 and det._age[0] == 2
    det._z = -1.0
    det.learn_one({"x": 0.0})
    assert det.n_neurons == 1  # merged, not added
    np.testing.assert_allclose(det._Wr[0], [0.36, 0.8, 0.8], rtol=1e-15)
    np.testing.assert_allclose(det._WT[:, 0], [0.36, 0.8, 0.8], rtol=1e-15)
    assert det._theta[0] == pytest.approx(0.89376, rel=1e-14)
    assert det._value[0, 0] == pytest.approx((1 + 1 / 3 - math.sqrt(2) / 3) / 2, rel=1e-14)
    assert det._age[0] == 2.5 and det._merges[0] == 2


# ------------------------------------------------- compare: estimator variance, closed form


@dataclass
class _Scripted(Rule):
    """BPTT's gradient times the next factor of a script (one per draw)."""

    name: ClassVar[str] = "scripted"
    models: ClassVar[tuple[str, ...]] = ("lif",)
    factors: tuple = (1.0, 2.0, 4.0)
    calls: list = field(default_factory=list)

    def gradients(self, model, task, x, y):
        res = make_rule("bptt").gradients(model, task, x, y)
        f = self.factors[len(self.calls)]
        self.calls.append(f)
        for p in model.parameters():
            if p.grad is not None:
                p.grad.mul_(f)
        return RuleStep(res.loss, res.out)


def test_fidelity_variance_is_the_unbiased_closed_form():
    """Draws f_d g with f = (1, 2, 4): mean 7/3 g, sum (f_d - 7/3)^2 = 42/9, so the variance
    is 42/9 / (D - 1) |g|^2 = 7/3 |g|^2 (dividing by D would give 14/9)."""
    task = make_task("randman", seed=3, n_classes=3, samples_per_class=20, n_units=10,
                     n_steps=30, spike_window=25)  # fmt: skip
    x, y = next(task.batches("train", 12, dtype=torch.float64))
    net = SpikingNetwork(10, 3, hidden=(12,), seed=1, backend="reference", init="fluctuation",
                         input_rate=0.03, hidden_rate=0.05).double()  # fmt: skip
    ref = reference_gradient(net, task, x, y)
    g2 = float(sum(float(v.double().pow(2).sum()) for v in ref.values()))
    assert g2 > 0
    rule = _Scripted()
    f = gradient_fidelity(net, rule, task, x, y, draws=3, reference=ref)
    assert rule.calls == []  # the caller's rule is copied, not advanced
    assert f["rel_variance"] == pytest.approx(7 / 3, rel=1e-12)
    assert f["variance"] == pytest.approx(7 / 3 * g2, rel=1e-12)
    assert f["norm_ratio"] == pytest.approx(7 / 3, rel=1e-12)
    assert f["cosine"] == pytest.approx(1.0, abs=1e-12)
    two = gradient_fidelity(net, _Scripted(factors=(1.0, 4.0)), task, x, y, draws=2,
                            reference=ref)  # fmt: skip
    assert two["rel_variance"] == pytest.approx(4.5, rel=1e-12)  # (1.5^2 + 1.5^2) / 1
