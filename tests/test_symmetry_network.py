"""Delay-line coincidence detectors against the exact pair-count oracle (issue 8)."""

import itertools
import math

import numpy as np
import pytest
import torch

from spikegrad.symmetry import (
    ORIENTATIONS,
    PARITIES,
    DetectorState,
    SymmetryNetwork,
    connectivity,
    delays,
    detector_input,
    detector_step,
    pair_counts,
    pair_counts_direct,
    run_detectors,
    run_detectors_exact,
    self_convolution,
    synchronised_output,
)
from spikegrad.symmetry.geometry import pair_offsets, pair_step


@pytest.fixture(autouse=True)
def one_thread():
    # small element-wise ops: thread sync costs more than it gains on a busy 2-core box
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


CASES = list(itertools.product(ORIENTATIONS, PARITIES))
FULL = SymmetryNetwork(max_radius=None)


def brute_force(b: np.ndarray, orientation: str, parity: str, R: int | None = None) -> np.ndarray:
    """Pairs counted one by one with Python loops over pixels (slow, obviously right)."""
    H, W = b.shape
    dr, dc = {"vertical": (0, 1), "horizontal": (1, 0), "diagonal": (1, -1),
              "antidiagonal": (1, 1)}[orientation]
    out = np.zeros((H, W))
    for r in range(H):
        for c in range(W):
            a = 1
            while R is None or a <= R:
                km, kp = (-a, a) if parity == "on" else (1 - a, a)
                (r1, c1), (r2, c2) = (r + km * dr, c + km * dc), (r + kp * dr, c + kp * dc)
                inside = [0 <= r1 < H and 0 <= c1 < W, 0 <= r2 < H and 0 <= c2 < W]
                if not any(inside):
                    break
                if all(inside):
                    out[r, c] += b[r1, c1] * b[r2, c2]
                a += 1
    return out


def random_binary(B, H, W, p, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(B, H, W, generator=g) < p).float()


def test_self_convolution_identities_on_random_rows():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 16, 31):
        b = (rng.random((50, n)) < 0.5).astype(float)
        conv = self_convolution(torch.from_numpy(b)).numpy()
        np.testing.assert_array_equal(conv, np.stack([np.convolve(x, x) for x in b]))
        for row, cr in zip(b, conv, strict=True):
            for x0 in range(n):
                s_on = sum(row[x0 - a] * row[x0 + a] for a in range(1, n) if 0 <= x0 - a
                           and x0 + a < n)
                s_half = sum(row[x0 - a + 1] * row[x0 + a] for a in range(1, n)
                             if 0 <= x0 - a + 1 and x0 + a < n)
                assert s_on == (cr[2 * x0] - row[x0]) / 2
                assert s_half == (cr[2 * x0 + 1] / 2 if 2 * x0 + 1 < 2 * n - 1 else 0)


@pytest.mark.parametrize(("orientation", "parity"), CASES)
def test_oracle_matches_brute_force(orientation, parity):
    b = random_binary(2, 9, 12, 0.5, 1)
    oracle = pair_counts(b, orientation, parity).numpy()
    for i in range(2):
        np.testing.assert_array_equal(oracle[i], brute_force(b[i].numpy(), orientation, parity))
    np.testing.assert_array_equal(
        pair_counts_direct(b, orientation, parity, 3).numpy()[1],
        brute_force(b[1].numpy(), orientation, parity, R=3),
    )


@pytest.mark.parametrize(("orientation", "parity"), CASES)
@pytest.mark.parametrize(("H", "W", "p", "seed"), [(16, 16, 0.5, 0), (11, 23, 0.3, 1),
                                                   (24, 7, 0.7, 2), (1, 9, 0.5, 3)])
def test_spiking_network_equals_pair_count_oracle(orientation, parity, H, W, p, seed):
    """The central check: 100 % agreement, every orientation and parity, full radius."""
    b = random_binary(3, H, W, p, seed)
    res = run_detectors(b.unsqueeze(0), orientation, parity, FULL, record=True)
    oracle = pair_counts(b, orientation, parity)
    assert torch.equal(res.counts.double(), oracle)
    assert torch.equal(res.spikes.sum(0), res.counts)
    assert res.spikes.shape[0] == 1 + max(res.delays, default=0)
    # each spike sits at the delay of its pair: t = d_a iff pair a is active
    if res.delays:
        a_star = len(res.delays) // 2 + 1
        km, kp = pair_offsets(parity, a_star)
        dr, dc = pair_step(orientation)
        shifted = torch.zeros_like(b)
        for q in itertools.product(range(H), range(W)):
            r1, c1 = q[0] + km * dr, q[1] + km * dc
            r2, c2 = q[0] + kp * dr, q[1] + kp * dc
            if 0 <= r1 < H and 0 <= c1 < W and 0 <= r2 < H and 0 <= c2 < W:
                shifted[:, q[0], q[1]] = b[:, r1, c1] * b[:, r2, c2]
        assert torch.equal(res.spikes[res.delays[a_star - 1]], shifted)


@pytest.mark.parametrize(("orientation", "parity"), CASES)
def test_radius_limit_and_other_simulators_agree(orientation, parity):
    b = random_binary(2, 14, 15, 0.5, 4)
    net = SymmetryNetwork(max_radius=4)
    direct = pair_counts_direct(b, orientation, parity, 4)
    assert torch.equal(run_detectors(b[None], orientation, parity, net).counts.double(), direct)
    times = torch.where(b > 0, 0.0, math.inf)
    assert torch.equal(run_detectors_exact(times, orientation, parity, net).double(), direct)
    frac = SymmetryNetwork(max_radius=4, fractional=True, ticks_per_pixel=0.37)
    assert torch.equal(run_detectors_exact(times, orientation, parity, frac).double(), direct)
    sync = synchronised_output(b[None], orientation, parity, net)
    assert torch.equal(sync[-1].double(), direct) and sync[:-1].abs().sum() == 0
    # the full current I_q[t] run through detector_step gives the same spikes
    current = detector_input(b[None], orientation, parity, net)
    state = DetectorState(torch.zeros_like(b))
    total = torch.zeros_like(b)
    for x in current:
        s, state = detector_step(x, state, net.params)
        total += s
    assert torch.equal(total.double(), direct)


@pytest.mark.parametrize(("orientation", "parity"), CASES)
def test_detector_input_equals_shared_delay_machinery(orientation, parity):
    """Explicit synapses through spikegrad.functional.delay.delayed_linear give I_q[t]."""
    from spikegrad.functional.delay import delayed_linear

    g = torch.Generator().manual_seed(7)
    H, W = 7, 8
    spikes = (torch.rand(2, 3, H, W, generator=g) < 0.4).double()
    net = SymmetryNetwork(max_radius=3, weight=0.5)
    ours = detector_input(spikes, orientation, parity, net)  # [T_in + D, B, H, W]
    weight, delay = connectivity(orientation, parity, (H, W), net)
    # synapses per detector: 2 per pair a <= 3, minus members outside the image
    ones = detector_input(torch.ones(1, 1, H, W), orientation, parity, net).sum(0)[0]
    torch.testing.assert_close(weight.sum(1).view(H, W), ones.float())
    assert float(weight.sum(1).max()) == 0.5 * 6  # an interior detector has all 6 synapses
    if parity == "on":
        assert torch.diagonal(weight).sum() == 0
    T_out, D = ours.shape[0], int(delay.max())
    x = torch.zeros(T_out, 3, H * W, dtype=torch.float64)
    x[:2] = spikes.reshape(2, 3, H * W)
    ref = delayed_linear(x, weight.double(), delay.double(), D, mode="integer")
    torch.testing.assert_close(ref.reshape(T_out, 3, H, W), ours, rtol=0, atol=1e-12)


@pytest.mark.parametrize("tau", [0.0, 2e-3])  # seconds: 0 and 2 ticks of the default 1 ms
def test_weight_scales_with_threshold(tau):
    """Only the ratio threshold / weight matters; default threshold (k - 1/2) w."""
    g = torch.Generator().manual_seed(8)
    spikes = (torch.rand(2, 2, 9, 10, generator=g) < 0.4).float()  # two input ticks
    ref = SymmetryNetwork(max_radius=4, tau=tau)
    want = [run_detectors(spikes, o, p, ref).counts for o, p in CASES]
    for w in (0.3, 2.5):
        for net in (SymmetryNetwork(max_radius=4, tau=tau, weight=w),
                    SymmetryNetwork(max_radius=4, tau=tau, weight=w, threshold=1.5 * w)):
            got = [run_detectors(spikes, o, p, net).counts for o, p in CASES]
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True)), (w, net)
    b = spikes[:1]
    net = SymmetryNetwork(max_radius=4, weight=0.3)
    assert torch.equal(run_detectors(b, "vertical", "on", net).counts.double(),
                       pair_counts_direct(b[0], "vertical", "on", 4))
    # a threshold above 2 w needs three coincident spikes: never for pairs
    high = SymmetryNetwork(max_radius=4, weight=0.3, threshold=0.61)
    assert run_detectors(b, "vertical", "on", high).counts.sum() == 0


def test_delays_integer_rounding_and_injective():
    assert delays("vertical", "on", 4) == [1, 2, 3, 4]
    assert delays("vertical", "half", 4) == [1, 2, 3, 4]  # 0.5, 1.5, ... round half up
    assert delays("vertical", "half", 3, ticks_per_pixel=2) == [1, 3, 5]
    assert delays("diagonal", "on", 5) == [1, 3, 4, 6, 7]  # round(a * sqrt 2)
    assert delays("diagonal", "on", 3, metric="steps") == [1, 2, 3]
    assert delays("antidiagonal", "half", 2, exact=True) == pytest.approx(
        [0.5 * math.sqrt(2), 1.5 * math.sqrt(2)]
    )
    for o, p in CASES:
        d = delays(o, p, 200)
        assert len(set(d)) == len(d)


def test_border_pairs_are_not_counted_hand_example():
    row = torch.tensor([[1.0, 1.0, 0.0, 1.0, 1.0, 1.0]])
    on = run_detectors(row[None, None], "vertical", "on", FULL).counts[0, 0].tolist()
    # x0=1: (0,2)=0;  x0=2: (1,3)+(0,4)=2;  x0=3: (2,4)=0+(1,5)=1;  x0=4: (3,5)=1
    assert on == [0, 0, 2, 1, 1, 0]
    half = run_detectors(row[None, None], "vertical", "half", FULL).counts[0, 0].tolist()
    # between 0|1: (0,1)=1;  1|2: (1,2)=0,(0,3)=1;  2|3: (2,3)=0,(1,4)=1,(0,5)=1;
    # 3|4: (3,4)=1,(2,5)=0;  4|5: (4,5)=1;  5|outside: 0
    assert half == [1, 1, 2, 1, 1, 0]


def test_centre_pixel_excluded_and_threshold_counts_coincidences():
    img = torch.zeros(1, 1, 1, 5)
    img[..., 2] = 1.0  # a lone pixel: no pair, and it does not pair with itself
    assert run_detectors(img, "vertical", "on", FULL).counts.sum() == 0
    img[..., 0] = 1.0
    # k=1 fires once per tick with any arrival, k=3 never fires for pairs.
    # Full radius for W=5 is 2. q=1 gets both spikes at tick 1 -> one spike.
    k1 = run_detectors(img, "vertical", "on", SymmetryNetwork(max_radius=None, k=1)).counts
    assert k1[0, 0].tolist() == [1, 1, 1, 1, 1]
    img2 = torch.zeros(1, 1, 1, 5)
    img2[..., :2] = 1.0  # q=2 sees pixel 1 at tick 1 and pixel 0 at tick 2 -> 2 spikes
    k1 = run_detectors(img2, "vertical", "on", SymmetryNetwork(max_radius=None, k=1)).counts
    assert k1[0, 0].tolist() == [1, 1, 2, 1, 0]
    k3 = run_detectors(img, "vertical", "on", SymmetryNetwork(max_radius=None, k=3)).counts
    assert k3.sum() == 0


def test_leak_sets_jitter_tolerance():
    # latency code: left member spikes at t=0, right member at t=1 -> arrivals 1 tick apart
    spikes = torch.zeros(2, 1, 1, 5)
    spikes[0, 0, 0, 0] = 1.0
    spikes[1, 0, 0, 4] = 1.0
    exact = run_detectors(spikes, "vertical", "on", SymmetryNetwork(max_radius=None, tau=0))
    assert exact.counts[0, 0, 2] == 0
    for tau, fires in [(1.0, False), (2.0, True)]:  # tau in ticks: 1 + e^{-1/tau} > 1.5 ?
        assert (1 + math.exp(-1 / tau) > 1.5) == fires
        net = SymmetryNetwork(max_radius=None, tau=tau * 1e-3)  # seconds, dt = 1 ms
        res = run_detectors(spikes, "vertical", "on", net, record=True)
        assert bool(res.counts[0, 0, 2] == 1) == fires
        if fires:
            assert res.spikes[:, 0, 0, 2].tolist() == [0, 0, 0, 1]  # at the second arrival
        times = torch.full((1, 1, 5), math.inf)
        times[0, 0, 0], times[0, 0, 4] = 0.0, 1.0
        assert torch.equal(run_detectors_exact(times, "vertical", "on", net), res.counts)


def test_exact_simulator_equals_stepped_with_leak_and_latency():
    g = torch.Generator().manual_seed(5)
    times = torch.randint(0, 3, (2, 10, 10), generator=g).float()
    times[torch.rand(2, 10, 10, generator=g) < 0.4] = math.inf
    spikes = torch.zeros(3, 2, 10, 10)
    for t in range(3):
        spikes[t] = (times == t).float()
    for tau, (o, p) in itertools.product([0.0, 1.5, 4.0], CASES):  # ticks
        net = SymmetryNetwork(max_radius=5, tau=tau * 1e-3)  # seconds, dt = 1 ms
        a = run_detectors(spikes, o, p, net).counts
        b = run_detectors_exact(times, o, p, net)
        assert torch.equal(a, b), (tau, o, p)


def test_latency_code_counts_ticks_with_two_or_more_arrivals():
    """With latency inputs and tau=0 a detector fires at every tick where >= 2 spikes arrive."""
    g = torch.Generator().manual_seed(6)
    spikes = (torch.rand(3, 1, 8, 9, generator=g) < 0.25).float()
    for o, p in CASES:
        cur = detector_input(spikes, o, p, FULL)
        want = (cur >= 2).sum(0).float()
        assert torch.equal(run_detectors(spikes, o, p, FULL).counts, want)


def test_network_validates_arguments():
    with pytest.raises(ValueError, match="max_radius"):
        SymmetryNetwork(max_radius=0)
    with pytest.raises(ValueError, match="tau"):
        SymmetryNetwork(tau=-1.0)
    with pytest.raises(ValueError, match="k must"):
        SymmetryNetwork(k=0)
    with pytest.raises(ValueError, match="ticks_per_pixel"):
        SymmetryNetwork(ticks_per_pixel=float("nan"))
    with pytest.raises(ValueError, match="metric"):
        SymmetryNetwork(metric="manhattan")
    x = torch.zeros(1, 1, 4, 4)
    with pytest.raises(ValueError, match="orientation"):
        run_detectors(x, "oblique", "on")
    with pytest.raises(ValueError, match="parity"):
        run_detectors(x, "vertical", "odd")
    with pytest.raises(ValueError, match="time-major"):
        run_detectors(x[0], "vertical", "on")
    with pytest.raises(ValueError, match="NaN"):
        run_detectors(x + float("nan"), "vertical", "on")
    with pytest.raises(ValueError, match="fractional"):
        run_detectors(x, "vertical", "on", SymmetryNetwork(fractional=True))
    with pytest.raises(ValueError, match="NaN"):
        run_detectors_exact(torch.full((1, 3, 3), float("nan")), "vertical", "on")
    with pytest.raises(ValueError, match="binary"):
        pair_counts(torch.full((3, 3), 0.5), "vertical", "on")


def test_large_image_full_radius_agreement():
    """200 x 256, every pair in the image, all 8 populations: spiking == FFT oracle."""
    b = random_binary(1, 200, 256, 0.3, 11)
    for o, p in CASES:
        got = run_detectors(b[None], o, p, FULL).counts
        assert torch.equal(got.double(), pair_counts(b, o, p)), (o, p)
