"""One latency code on tensors (spikegrad.data.encoding.latency) shared by the data sets, the
symmetry network and the online learners; GRF and rank-order codes moved there (issue 13)."""

import math

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data import encoding as enc
from spikegrad.data.encoding import grf_responses, grf_spike_times, latency, latency_steps


def test_log_code_hand_computed():
    # 20 ln(1/0.8) = 4.46 -> 4; 20 ln(0.21/0.01) = 60.89 -> 60; 20 ln(0.5/0.3) = 10.2 -> 10
    x = torch.tensor([1.0, 0.21, 0.2, 0.0, 0.5], dtype=torch.float64)
    assert latency(x).tolist() == [4, 60, -1, -1, 10]
    t = latency(x, output="times")
    assert t[0].item() == pytest.approx(20 * math.log(1 / 0.8), rel=1e-15)
    assert t[1].item() == pytest.approx(20 * math.log(0.21 / 0.01), rel=1e-12)
    assert math.isinf(t[2].item()) and math.isinf(t[3].item())
    # drop vs clip past the trial: x = 0.21 needs 60.9 steps
    assert latency(x[1:2], 50).tolist() == [-1]
    assert latency(x[1:2], 50, overflow="clip").tolist() == [49]
    assert latency(x[1:2], 50, overflow="clip", output="times").item() == 49.0


def test_linear_code_hand_computed():
    # L (1 - x) / (1 - theta), L = 8, theta = 0.5: x = 1 -> 0, 0.75 -> 4, 0.55 -> 7.2
    x = torch.tensor([1.0, 0.75, 0.55, 0.5, 1.2])
    assert latency(x, 8, code="linear", theta=0.5).tolist() == [0, 4, 7, -1, 0]
    t = latency(x, 8, code="linear", theta=0.5, output="times")
    assert t.tolist()[:3] == [0.0, 4.0, pytest.approx(7.2, rel=1e-6)]
    assert t[4].item() == 0.0  # brighter than 1 fires at 0, not before
    # x just above theta: t -> 8, dropped by default, last step with clip
    near = torch.tensor([0.5001])
    assert latency(near, 8, code="linear", theta=0.5).tolist() == [7]
    assert latency(near, 8, code="linear", theta=0.5, output="times").item() == pytest.approx(
        7.9984, abs=1e-3)
    assert latency(near, 8, code="linear", theta=0.5, overflow="clip",
                   output="times").item() == 7.0


def test_spikes_output_is_time_major_one_hot():
    x = torch.tensor([[1.0, 0.21, 0.0], [0.5, 0.1, 1.0]])
    s = latency(x, output="spikes")
    assert s.shape == (100, 2, 3) and s.dtype == torch.float32
    assert s.sum(0).tolist() == [[1, 1, 0], [1, 0, 1]]
    steps = latency(x)
    for b, c in zip(*torch.nonzero(steps >= 0, as_tuple=True), strict=True):
        assert s[steps[b, c], b, c] == 1
    assert s.dtype == x.dtype
    assert latency(x.double(), output="spikes").dtype == torch.float64


def test_latency_steps_and_symmetry_code_are_the_one_latency():
    from spikegrad.symmetry.encoding import encode, spike_times

    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 6, 7, generator=g)
    assert torch.equal(latency_steps(x), latency(x.double()))
    assert torch.equal(latency_steps(x, 0.1, 7.5, 30),
                       latency(x.double(), 30, theta=0.1, tau_eff=7.5))
    steps = latency(x, 6, code="linear", theta=0.3, overflow="clip")
    t = spike_times(x, 0.3, levels=6)
    assert torch.equal(torch.isfinite(t), steps >= 0)
    assert torch.equal(t[steps >= 0], steps[steps >= 0].float())
    frac = spike_times(x, 0.3, levels=6, fractional=True)
    assert torch.equal(frac, latency(x, 6, code="linear", theta=0.3, overflow="clip",
                                     output="times"))
    assert torch.equal(encode(x, "latency", 0.3, levels=6),
                       latency(x, 6, code="linear", theta=0.3, overflow="clip", output="spikes"))


def test_grf_times_are_the_linear_code_without_threshold():
    """t = 1 - r equals latency(r, 1, linear, theta=0) bit for bit wherever t < 1; a response
    that rounds to t = 1 (r < 2^-53, or 0 on underflow) still fires, last, at t = 1, where the
    latency code puts it past the end of the trial."""
    r = grf_responses(np.array([0.3, -2.0, 1e6]), np.array([0.0, 0.0, 0.0]),
                      np.array([1.0, 1.0, 1.0]), 6, 1.5)
    assert (r[2] == 0.0).all()  # far outside the range: every response underflows
    t = grf_spike_times(r)
    lat = latency(torch.from_numpy(r), 1, code="linear", theta=0.0, output="times").numpy()
    early = t < 1.0
    assert early.sum() == 6 and np.array_equal(t[early], lat[early])
    assert (t[~early] == 1.0).all() and np.isinf(lat[~early]).all()
    assert (r[~early] < 2.0**-53).all()
    assert np.isnan(grf_spike_times(np.array([np.nan]))).all()


def test_online_reexports_the_moved_encoders():
    from spikegrad.online import encoding as online_enc

    for name in ("grf_centres", "grf_sigma", "grf_responses", "grf_spike_times", "rank_order",
                 "NUMBERINGS"):
        assert getattr(online_enc, name) is getattr(enc, name)
    assert online_enc.spike_times is enc.grf_spike_times  # the old name


def test_latency_rejects_bad_arguments():
    x = torch.tensor([0.5])
    for kw, match in [
        ({"n_steps": 0}, "n_steps"),
        ({"n_steps": 2.5}, "n_steps"),
        ({"theta": 1.0}, "theta"),
        ({"theta": -0.1}, "theta"),
        ({"tau_eff": 0.0}, "tau_eff"),
        ({"code": "exp"}, "code"),
        ({"overflow": "wrap"}, "overflow"),
        ({"output": "dense"}, "output"),
    ]:
        with pytest.raises(SpikegradInputError, match=match):
            latency(x, **kw)
    with pytest.raises(SpikegradInputError, match="non-finite"):
        latency(torch.tensor([float("nan")]))
    with pytest.raises(SpikegradInputError, match="real"):
        latency(torch.tensor([1 + 1j]))
    # the linear code has no tau_eff; integers and lists are converted to float64
    assert latency([1, 0], 4, code="linear", theta=0.0, tau_eff=-1).tolist() == [0, -1]
