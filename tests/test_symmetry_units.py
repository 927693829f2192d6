"""The coincidence detector as a pure step (spikegrad.functional.detector) and the symmetry
network's units: seconds at the boundary, ticks inside (issue 13)."""

import itertools
import math

import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.functional import (
    DetectorParams,
    DetectorState,
    detector_decay,
    detector_sequence,
    detector_step,
)
from spikegrad.symmetry import (
    ORIENTATIONS,
    PARITIES,
    SymmetryNetwork,
    detector_input,
    run_detectors,
    run_detectors_exact,
)
from spikegrad.symmetry import detector_step as symmetry_detector_step

CASES = list(itertools.product(ORIENTATIONS, PARITIES))


@pytest.fixture(autouse=True)
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_symmetry_uses_the_one_functional_step():
    assert symmetry_detector_step is detector_step


def test_detector_step_hand_computed():
    # alpha = e^{-1/2} (tau = 2 ms, dt = 1 ms), theta = 1.5
    p = DetectorParams(detector_decay(2e-3, 1e-3), 1.5)
    assert p.decay == pytest.approx(math.exp(-0.5), rel=1e-15)
    st = DetectorState.zeros((3,), dtype=torch.float64)
    s, st = detector_step(torch.tensor([1.0, 2.0, 1.5], dtype=torch.float64), st, p)
    assert s.tolist() == [0.0, 1.0, 0.0]  # Theta(0) = 0: 1.5 does not fire
    assert st.u.tolist() == [1.0, 0.0, 1.5]  # reset to rest after a spike
    s, st = detector_step(torch.tensor([1.0, 1.0, 0.0], dtype=torch.float64), st, p)
    # V = e^{-1/2} U + I = [1.6065, 1.0, 0.9098]
    assert s.tolist() == [1.0, 0.0, 0.0]
    torch.testing.assert_close(
        st.u, torch.tensor([0.0, 1.0, 1.5 * math.exp(-0.5)], dtype=torch.float64),
        rtol=0, atol=1e-15,
    )
    assert s.dtype == torch.float64


def test_detector_without_memory_forgets_and_ignores_state():
    p = DetectorParams(detector_decay(0.0, 1e-3), 1.5)
    assert p.decay == 0.0
    x = torch.tensor([1.0, 2.0])
    s, st = detector_step(x, DetectorState(torch.tensor([100.0, 100.0])), p)
    assert s.tolist() == [0.0, 1.0] and st.u.tolist() == [1.0, 0.0]


def test_detector_sequence_equals_the_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(7, 2, 3, generator=g, dtype=torch.float64) * 1.2
    p = DetectorParams(0.6, 1.0)
    spikes, final = detector_sequence(x, p)
    st = DetectorState.zeros((2, 3), dtype=torch.float64)
    for t in range(7):
        s, st = detector_step(x[t], st, p)
        assert torch.equal(spikes[t], s)
    assert torch.equal(final.u, st.u) and spikes.shape == x.shape
    with pytest.raises(SpikegradInputError, match="time-major"):
        detector_sequence(torch.zeros(0, 3), p)


def test_detector_decay_validates_seconds():
    assert detector_decay(1e-3, 1e-3) == pytest.approx(math.exp(-1.0))
    with pytest.raises(SpikegradInputError, match="tau"):
        detector_decay(-1e-3, 1e-3)
    with pytest.raises(SpikegradInputError, match="dt"):
        detector_decay(1e-3, 0.0)


def test_run_detectors_is_the_step_over_the_current():
    """run_detectors (streaming) == detector_sequence over detector_input, with a leak."""
    g = torch.Generator().manual_seed(3)
    spikes = (torch.rand(3, 2, 9, 11, generator=g) < 0.3).float()
    net = SymmetryNetwork(max_radius=4, tau=2e-3)
    for o, p in CASES:
        res = run_detectors(spikes, o, p, net, record=True)
        ref, _ = detector_sequence(detector_input(spikes, o, p, net), net.params)
        assert torch.equal(res.spikes, ref), (o, p)
        assert torch.equal(res.counts, ref.sum(0))


def test_only_the_ratio_to_dt_matters():
    """tau = 2 ticks and 1 tick per pixel, in milliseconds or in seconds of a 1 s tick."""
    g = torch.Generator().manual_seed(4)
    spikes = (torch.rand(2, 1, 10, 10, generator=g) < 0.35).float()
    ms = SymmetryNetwork(max_radius=5, tau=2e-3, delay_per_pixel=1e-3)
    s = SymmetryNetwork(max_radius=5, tau=2.0, dt=1.0, ticks_per_pixel=1.0)
    us = SymmetryNetwork(max_radius=5, tau=2e-6, dt=1e-6, delay_per_pixel=1e-6)
    assert ms.ticks_per_pixel == s.ticks_per_pixel == us.ticks_per_pixel == 1.0
    assert ms.params.decay == s.params.decay == pytest.approx(math.exp(-0.5), rel=1e-15)
    for o, p in CASES:
        a = run_detectors(spikes, o, p, ms).counts
        assert torch.equal(a, run_detectors(spikes, o, p, s).counts)
        assert torch.equal(a, run_detectors(spikes, o, p, us).counts)


def test_delay_in_seconds_equals_ticks_per_pixel():
    """2 ms per pixel on a 1 ms tick is ticks_per_pixel = 2, in both simulators."""
    g = torch.Generator().manual_seed(5)
    times = torch.randint(0, 3, (1, 9, 9), generator=g).double()
    times[torch.rand(1, 9, 9, generator=g) < 0.5] = math.inf
    sec = SymmetryNetwork(max_radius=4, delay_per_pixel=2e-3, tau=1.5e-3)
    ticks = SymmetryNetwork(max_radius=4, ticks_per_pixel=2.0, tau=1.5e-3)
    assert sec == ticks and sec.delay_per_pixel == pytest.approx(2e-3)
    frac_s = SymmetryNetwork(max_radius=4, delay_per_pixel=0.37e-3, fractional=True)
    frac_t = SymmetryNetwork(max_radius=4, ticks_per_pixel=0.37, fractional=True)
    assert frac_s.ticks_per_pixel == pytest.approx(0.37, rel=1e-12)
    for o, p in CASES:
        assert torch.equal(run_detectors_exact(times, o, p, sec),
                           run_detectors_exact(times, o, p, ticks))
        assert torch.equal(run_detectors_exact(times, o, p, frac_s),
                           run_detectors_exact(times, o, p, frac_t))


def test_network_units_validation_and_settings():
    net = SymmetryNetwork()
    assert (net.dt, net.tau, net.ticks_per_pixel, net.delay_per_pixel) == (1e-3, 0.0, 1.0, 1e-3)
    assert net.params == DetectorParams(0.0, 1.5)
    d = SymmetryNetwork(tau=3e-3, k=3, weight=0.5).to_dict()
    assert d["tau_ticks"] == pytest.approx(3.0) and d["detector_threshold"] == 1.25
    assert d["detector_decay"] == pytest.approx(math.exp(-1 / 3))
    for key in ("max_radius", "metric", "dt", "delay_per_pixel", "ticks_per_pixel",
                "fractional", "threshold", "weight", "k", "tau"):
        assert key in d
    rebuilt = SymmetryNetwork(**{k: d[k] for k in ("max_radius", "metric", "k", "weight",
                                                    "threshold", "fractional", "dt", "tau",
                                                    "ticks_per_pixel", "delay_per_pixel")})
    assert rebuilt == SymmetryNetwork(tau=3e-3, k=3, weight=0.5)
    with pytest.raises(SpikegradInputError, match="disagree"):
        SymmetryNetwork(ticks_per_pixel=1.0, delay_per_pixel=2e-3)
    with pytest.raises(SpikegradInputError, match="dt"):
        SymmetryNetwork(dt=0.0)
    with pytest.raises(SpikegradInputError, match="delay_per_pixel"):
        SymmetryNetwork(delay_per_pixel=-1e-3)
    with pytest.raises(SpikegradInputError, match="tau"):
        SymmetryNetwork(tau=float("inf"))
