"""OeSNN / OeSNN-UAD thresholds, merges and the error statistics, worked by hand (issue 33).

The thresholds of two merged neurons differ only when their candidates have different
spike counts K (theta = C sum_{k<K} mod^(2k)): with every feature present, every sample
spikes in all fields and a merge that replaced the threshold instead of averaging it
would look the same. Here a feature is missing from the later sample, so K drops from
2 M to M. The UAD error statistics are pinned on a univariate stream whose window means,
neuron values and errors are written out below.
"""

from __future__ import annotations

import math
import statistics

import pytest

from spikegrad.online.esnn import OeSNNClassifier
from spikegrad.online.uad import OeSNNUAD


def _psp_max(mod: float, k: int) -> float:
    return sum(mod ** (2 * i) for i in range(k))


def test_uad_merge_averages_thresholds_of_different_spike_counts():
    # fields 3, mod 0.6, c 0.6; t=1 both features constant (no spikes, nothing learned);
    # t=2 both present on [0, 1]: K = 6; t=3 feature b missing: K = 3; sim large: merge
    det = OeSNNUAD(window=3, n_fields=3, mod=0.6, c=0.6, sim=100.0, xi=0.0)
    det.learn_one({"a": 0.0, "b": 0.0})
    assert det.n_neurons == 0
    det.learn_one({"a": 1.0, "b": 1.0})
    th6 = 0.6 * _psp_max(0.6, 6)
    assert det.n_neurons == 1 and det._theta[0] == pytest.approx(th6, rel=1e-14)
    det.learn_one({"a": 0.0})
    th3 = 0.6 * (1 + 0.36 + 0.1296)  # 0.89376
    assert det.n_neurons == 1 and det._merges[0] == 2
    assert det._theta[0] == pytest.approx((th3 + th6) / 2, rel=1e-14)
    assert th6 - th3 > 0.04  # the two candidates' thresholds do differ


def test_uad_error_sd_is_the_population_sd():
    """Window 10, fields 3, c 0.1 (the single merged neuron always fires), sim large
    (every sample merges into it), xi 0 (no value correction), epsilon huge (no sample
    is anomalous, every error counts), the normal draw z = 0 (a candidate's value is the
    window mean, the merged value the running mean of those).

    t=1 x=0: nothing learned. t=2 x=1: mean 1/2, value 1/2, error 1/2.
    t=3 x=0: mean 1/3, value (1/3 + 1/2)/2 = 5/12, error 5/12.
    t=4 x=1: mean 1/2, value (1/2 + 2 * 5/12)/3 = 4/9, error 5/9.
    score of x=1/4: mean 9/20, value (9/20 + 3 * 4/9)/4, error |1/4 - value|; the score is
    (error - mean E) / sd E with the population SD of E = (1/2, 5/12, 5/9).
    """
    det = OeSNNUAD(window=10, n_fields=3, c=0.1, sim=100.0, xi=0.0, epsilon=1e9)
    det.learn_one({"x": 0.0})
    errors = []
    value = None
    xs = [0.0]
    for n, x in enumerate([1.0, 0.0, 1.0]):
        xs.append(x)
        det._z = 0.0
        if len(errors) >= 2:  # the score before learning x: pure, same arithmetic
            v = (statistics.mean(xs) + n * value) / (n + 1)
            want = (abs(x - v) - statistics.mean(errors)) / statistics.pstdev(errors)
            assert det.score_one({"x": x}) == pytest.approx(want, rel=1e-12)
        det.learn_one({"x": x})
        m = statistics.mean(xs)
        value = m if value is None else (m + n * value) / (n + 1)
        errors.append(abs(x - value))
    assert value == pytest.approx(4 / 9, rel=1e-14)
    assert errors == pytest.approx([1 / 2, 5 / 12, 5 / 9], rel=1e-14)
    assert det._value[0, 0] == pytest.approx(4 / 9, rel=1e-14)
    det._z = 0.0
    v5 = (9 / 20 + 3 * 4 / 9) / 4
    e = [1 / 2, 5 / 12, 5 / 9]
    mean_e = sum(e) / 3
    sd_e = math.sqrt(sum((u - mean_e) ** 2 for u in e) / 3)
    assert det.score_one({"x": 0.25}) == pytest.approx((abs(0.25 - v5) - mean_e) / sd_e,
                                                     rel=1e-12)


def test_esnn_merge_averages_thresholds_of_different_spike_counts():
    m = OeSNNClassifier(n_fields=3, mod=0.5, c=0.7, sim=100.0)
    m.learn_one({"a": 0.0, "b": 0.0}, 1)  # ranges one value: no spikes, skipped
    assert m.n_neurons == 0 and m.n_skipped == 1
    m.learn_one({"a": 1.0, "b": 1.0}, 1)  # K = 6 spikes
    r = m._class_rows[0][0]
    th6 = 0.7 * _psp_max(0.5, 6)
    assert m._theta[r] == pytest.approx(th6, rel=1e-14)
    assert int((m._W[r] > 0).sum()) == 6
    m.learn_one({"a": 0.0}, 1)  # b missing: K = 3, merged with M = 1
    th3 = 0.7 * (1 + 0.25 + 0.0625)
    assert m.n_neurons == 1 and m.n_merges == 1
    assert m._theta[r] == pytest.approx((th3 + th6) / 2, rel=1e-14)


def test_esnn_feature_rank_threshold_is_c_times_the_psp_maximum():
    # rank="feature": each feature's 3 spikes are modulated by 1, mod, mod^2, so the
    # weights are two copies of (1, 0.5, 0.25) and theta = C sum_k w_k^2 (the PSP of the
    # sample itself, not the sum of its weights)
    m = OeSNNClassifier(n_fields=3, mod=0.5, c=0.7, rank="feature")
    m.learn_one({"a": 0.0, "b": 0.0}, "y")
    m.learn_one({"a": 1.0, "b": 1.0}, "y")
    r = m._class_rows[0][0]
    assert sorted(m._W[r].tolist()) == [0.25, 0.25, 0.5, 0.5, 1.0, 1.0]
    assert m._theta[r] == pytest.approx(0.7 * 2 * (1 + 0.25 + 0.0625), rel=1e-14)
