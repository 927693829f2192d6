"""GRF encoding and the OeSNN river classifier: numbers, river compatibility, bad samples."""

import itertools
import math
import pickle

import numpy as np
import pytest

river = pytest.importorskip("river")
from river import datasets, drift, evaluate, metrics, preprocessing  # noqa: E402
from river.checks import clf, common  # noqa: E402

from spikegrad._checks import SpikegradInputError  # noqa: E402
from spikegrad.online import (  # noqa: E402
    OeSNNClassifier,
    RangeTracker,
    candidate_neuron,
    grf_centres,
    grf_responses,
    grf_sigma,
    rank_order,
    recall,
    recall_reference,
)
from spikegrad.online.prequential import prequential  # noqa: E402
from spikegrad.online.streams import STREAMS, make_model, make_stream  # noqa: E402

# ---------------------------------------------------------------- encoding


def test_grf_centres_one_and_zero_based():
    c1 = grf_centres(0.0, 1.0, 10)
    c0 = grf_centres(0.0, 1.0, 10, numbering="zero_based")
    assert c1[0] == pytest.approx(-0.0625) and c1[-1] == pytest.approx(1.0625)
    assert c0[0] == pytest.approx(-0.1875) and c0[-1] == pytest.approx(0.9375)
    assert np.allclose(c1 - c0, 1 / 8)  # shifted by one spacing (I_max - I_min)/(M - 2)
    assert grf_sigma(0.0, 1.0, 10, 2.0) == pytest.approx(1 / 16)
    assert grf_sigma(3.0, 3.0, 10, 2.0) == 1.0  # degenerate range


def test_grf_response_values():
    r = grf_responses(np.array([0.5]), np.array([0.0]), np.array([1.0]), 3, 2.0)
    # centres -0.5, 0.5, 1.5; sigma = 0.5
    assert r.shape == (1, 3)
    assert r[0, 1] == pytest.approx(1.0)
    assert r[0, 0] == pytest.approx(math.exp(-2.0)) and r[0, 2] == pytest.approx(math.exp(-2.0))


def test_grf_rejects_bad_arguments():
    with pytest.raises(SpikegradInputError, match="n_fields"):
        grf_centres(0, 1, 2)
    with pytest.raises(SpikegradInputError, match="numbering"):
        grf_centres(0, 1, 5, numbering="two_based")
    with pytest.raises(SpikegradInputError, match="beta"):
        grf_sigma(0, 1, 5, -1.0)


def test_rank_order_is_stable_and_cuts_late_spikes():
    t = np.array([0.3, 0.1, 0.3, np.nan, 0.1, 0.95])
    assert rank_order(t).tolist() == [1, 4, 0, 2, 5]
    assert rank_order(t, late_cut=0.9).tolist() == [1, 4, 0, 2]


def test_psp_max_values_from_the_notes():
    order = np.arange(10)
    _, th6 = candidate_neuron(order, 10, 0.6, 1.0)
    _, th9 = candidate_neuron(order, 10, 0.9, 1.0)
    assert th6 == pytest.approx(1.5624, abs=1e-4)
    assert th9 == pytest.approx(4.6233, abs=1e-4)
    w, th = candidate_neuron(np.array([2, 0]), 4, 0.5, 0.7)
    assert w.tolist() == [0.5, 0.0, 1.0, 0.0]
    assert th == pytest.approx(0.7 * 1.25)


def test_dmax_distance_value_from_the_notes():
    m = OeSNNClassifier(mod=0.6, distance="dmax")
    assert m._dmax(10) == pytest.approx(1.7098, abs=1e-4)
    for x, y in PHISHING[:60]:
        m.learn_one(x, y)
    assert 0 < m.n_neurons < 60 and m.n_merges > 0


def test_range_tracker_window_matches_brute_force():
    rng = np.random.default_rng(0)
    v = rng.normal(size=400)
    tr = RangeTracker("window", window=37)
    for i, x in enumerate(v):
        tr.update("a", float(x))
        w = v[max(0, i - 36) : i + 1]
        assert tr.range("a") == (w.min(), w.max())
    assert tr.state_size() <= 2 * 37
    run = RangeTracker("running")
    for x in v:
        run.update("a", float(x))
    assert run.range("a") == (v.min(), v.max()) and run.range("b") is None


# ---------------------------------------------------------------- recall


def test_vectorised_recall_matches_per_spike_reference():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n, m = rng.integers(1, 12), rng.integers(1, 30)
        w = rng.random((n, m)) * (rng.random((n, m)) < 0.7)
        order = rng.permutation(m)[: rng.integers(1, m + 1)]
        theta = rng.random(n) * w.sum(1) * 0.8
        a = recall(w, theta, order, 0.9)
        b = recall_reference(w, theta, order, 0.9)
        for x, y in zip(a, b, strict=True):
            assert np.allclose(x, y)


def test_first_to_fire_decides_not_largest_psp():
    m = OeSNNClassifier(n_fields=3, sim=0.5, max_neurons_per_class=5)
    # two 1-feature samples far apart: identical repeats merge
    for _ in range(3):
        m.learn_one({"a": 0.0}, "lo")
        m.learn_one({"a": 10.0}, "hi")
    assert m.repository_sizes() == {"lo": 1, "hi": 1}
    assert m.predict_one({"a": 0.5}) == "lo"
    assert m.predict_one({"a": 9.0}) == "hi"
    p = m.predict_proba_one({"a": 9.0})
    assert set(p) == {"lo", "hi"} and sum(p.values()) == pytest.approx(1.0)
    assert max(p, key=p.get) == "hi"


def test_merge_is_running_average_weighted_by_count():
    m = OeSNNClassifier(n_fields=3, sim=10.0, mod=0.5, c=0.7)
    m.learn_one({"a": 0.0}, 1)  # range still one value: no spikes, skipped
    assert m.n_neurons == 0 and m.n_skipped == 1
    m.learn_one({"a": 1.0}, 1)  # range [0, 1]: centres -0.5, 0.5, 1.5; fields 1, 2 tie
    r = m._class_rows[0][0]
    assert m._W[r].tolist() == [0.25, 1.0, 0.5]  # stable tie: field 1 before field 2
    assert m._theta[r] == pytest.approx(0.7 * (1 + 0.25 + 0.0625))
    m.learn_one({"a": 0.0}, 1)  # order fields 0, 1, 2 -> w = [1, 0.5, 0.25]; merges
    assert m.n_neurons == 1 and m.n_merges == 1 and m._merges[r] == 2
    assert m._W[r].tolist() == [0.625, 0.75, 0.375]
    m.learn_one({"a": 0.0}, 1)  # weighted by the count: (w_new + 2 w) / 3
    assert np.allclose(m._W[r], [(1 + 2 * 0.625) / 3, (0.5 + 1.5) / 3, (0.25 + 0.75) / 3])
    assert m._age[r] == pytest.approx((4 + 2 * (2 + 3) / 2) / 3)


# ---------------------------------------------------------------- river compatibility

PHISHING = list(itertools.islice(datasets.Phishing(), 120))
RIVER_CHECKS = [
    common.check_learn_one,
    common.check_pickling,
    common.check_shuffle_features_no_impact,
    common.check_emerging_features,
    common.check_disappearing_features,
    common.check_radically_disappearing_features,
    common.check_predict_one_pure,
    common.check_predict_one_before_any_learn,
    common.check_no_state_aliasing_with_input,
    common.check_clone_is_independent,
    clf.check_predict_proba_one,
    clf.check_classifier_tracks_seen_labels,
]


@pytest.mark.parametrize("check", RIVER_CHECKS, ids=lambda c: c.__name__)
def test_river_estimator_checks(check):
    check(OeSNNClassifier(), dataset=PHISHING)  # self-tuning population
    check(OeSNNClassifier(tune=False), dataset=PHISHING)  # the fixed defaults
    check(OeSNNClassifier(drift_detector=drift.ADWIN(), passive_prune=0.4), dataset=PHISHING)


def test_is_river_classifier_and_clones():
    m = OeSNNClassifier(n_fields=7, drift_detector=drift.ADWIN(delta=0.01))
    assert isinstance(m, river.base.Classifier)
    c = m.clone()
    assert c.n_fields == 7 and c.drift_detector is not m.drift_detector
    assert c.drift_detector.delta == 0.01


def test_progressive_val_score_in_pipeline_phishing():
    model = preprocessing.StandardScaler() | OeSNNClassifier()
    acc = evaluate.progressive_val_score(datasets.Phishing(), model, metrics.Accuracy())
    # river's HoeffdingTreeClassifier gets 0.8735 under the same protocol
    assert acc.get() > 0.8735
    # our own evaluator gives exactly river's number (denominator n - 1)
    res = prequential(datasets.Phishing(), preprocessing.StandardScaler() | OeSNNClassifier())
    assert res.accuracy == pytest.approx(acc.get(), abs=1e-12)
    assert res.scored == 1249 and res.samples == 1250


def test_river_metrics_with_probabilities():
    model = preprocessing.StandardScaler() | OeSNNClassifier()
    auc = evaluate.progressive_val_score(datasets.Phishing(), model, metrics.ROCAUC())
    assert auc.get() > 0.85


def test_predict_one_is_argmax_of_proba():
    m = OeSNNClassifier(max_neurons_per_class=30)
    sc = preprocessing.StandardScaler()
    for x, y in itertools.islice(datasets.ImageSegments(), 300):
        sc.learn_one(x)
        xs = sc.transform_one(x)
        if m.n_neurons:
            p = m.predict_proba_one(xs)
            assert m.predict_one(xs) == max(p, key=p.get)
        m.learn_one(xs, y)


# ---------------------------------------------------------------- bounded memory


def test_repository_bounded_on_long_stream():
    rng = np.random.default_rng(3)
    cap = 12
    m = OeSNNClassifier(n_fields=4, max_neurons_per_class=cap, sim=0.05)
    sizes = []
    for t in range(12000):
        x = {"a": float(rng.normal()), "b": float(rng.normal())}
        y = int(rng.integers(3))
        m.learn_one(x, y)
        assert m.n_neurons <= 3 * cap
        if t in (1000, 11999):
            sizes.append(m.state_bytes())
    assert max(m.repository_sizes().values()) == cap
    assert sizes[0] == sizes[1]  # no growth with stream length once full
    assert m.n_replaced > 1000
    # every learned sample merged, replaced or added a neuron
    assert m.n_merges + m.n_replaced + m.n_neurons + m.n_skipped == 12000


def test_river_bounded_memory_check():
    stream = list(itertools.islice(datasets.Phishing(), 1250))
    common.check_bounded_memory_growth(OeSNNClassifier(max_neurons_per_class=50), stream)


# ---------------------------------------------------------------- bad samples


def test_predict_before_learning():
    m = OeSNNClassifier()
    assert m.predict_one({"a": 1.0}) is None
    assert m.predict_proba_one({"a": 1.0}) == {}


def test_missing_and_nan_features_are_ignored():
    m = OeSNNClassifier(n_fields=5)
    for i in range(50):
        m.learn_one({"a": float(i % 2), "b": float(i % 2) * 3}, i % 2)
    ref = m.predict_one({"a": 1.0, "b": 3.0})
    assert m.predict_one({"a": 1.0}) == ref == 1
    for bad in (None, math.nan, math.inf):
        assert m.predict_one({"a": 1.0, "b": bad}) == ref
    before = m._ranges.range("b")
    m.learn_one({"a": 1.0, "b": math.nan}, 1)
    m.learn_one({"a": 0.0, "b": None}, 0)
    assert m._ranges.range("b") == before
    # nothing usable: not learned, predicted from the class prior
    n = m._t
    m.learn_one({"c": None}, 0)
    assert m.n_neurons > 0 and "c" not in m._features and m._t == n + 1
    assert m.predict_one({}) in (0, 1)


def test_late_feature_and_unseen_label():
    m = OeSNNClassifier(n_fields=3)
    for i in range(20):
        m.learn_one({"a": float(i % 2)}, i % 2)
    assert m.n_inputs == 3
    m.learn_one({"a": 0.5, "z": 7.0}, "new")
    assert m.n_inputs == 6 and "new" in m.repository_sizes()
    assert set(m.predict_proba_one({"a": 0.5, "z": 7.0})) == {0, 1, "new"}
    assert m.predict_one({"a": 0.5, "z": 7.0}) == "new"
    assert m.predict_one({"unknown": 1.0}) in (0, 1, "new")  # features never learned ignored


def test_non_numeric_values_and_bad_arguments_raise():
    m = OeSNNClassifier()
    with pytest.raises(TypeError, match="'color'"):
        m.learn_one({"color": "red"}, 1)
    with pytest.raises(TypeError, match="dict"):
        m.predict_one([1.0, 2.0])
    with pytest.raises(SpikegradInputError, match="y"):
        m.learn_one({"a": 1.0}, None)
    with pytest.raises(SpikegradInputError, match="mod"):
        OeSNNClassifier(mod=1.5)
    with pytest.raises(SpikegradInputError, match="max_neurons_per_class"):
        OeSNNClassifier(max_neurons_per_class=0)
    with pytest.raises(SpikegradInputError, match="no_fire"):
        OeSNNClassifier(no_fire="guess")
    with pytest.raises(TypeError, match="drift detector"):
        OeSNNClassifier(drift_detector="adwin")


def test_pickle_roundtrip_keeps_predictions():
    m = preprocessing.StandardScaler() | OeSNNClassifier()
    for x, y in PHISHING:
        m.learn_one(x, y)
    m2 = pickle.loads(pickle.dumps(m))
    for x, _ in PHISHING[:30]:
        assert m2.predict_proba_one(x) == m.predict_proba_one(x)


# ---------------------------------------------------------------- drift


def _rolling_after(res, start, length):
    pairs = zip(res.positions, res.window_accuracy, strict=True)
    acc = [a for p, a in pairs if start < p <= start + length]
    return float(np.mean(acc))


def test_drift_aware_recovers_faster_than_passive_after_label_reversal():
    spec = make_stream("sine")  # labels reverse abruptly at 3000
    naive = prequential(spec(0, 3600), make_model("oesnn"), window=200, record_every=50)
    active = prequential(spec(0, 3600), make_model("oesnn-adwin"), window=200, record_every=50)
    assert 3000 <= active.drift_points[0] < 3200  # ADWIN fires soon after the drift
    assert naive.drift_points == []
    # windowed accuracy over the 600 samples after the drift (measured 0.898 vs 0.393)
    a, p = _rolling_after(active, 3000, 600), _rolling_after(naive, 3000, 600)
    assert a > 0.85 and a > p + 0.3


def test_drift_reduction_keeps_youngest():
    m = OeSNNClassifier(n_fields=3, sim=0.0)
    for i in range(30):
        m.learn_one({"a": float(i)}, i % 2)
    m._reduce(2)
    assert m.repository_sizes() == {0: 2, 1: 2}
    ages = sorted(m._age[r] for r in m._class_rows[0])
    assert ages == [27.0, 29.0]  # sample i has age i + 1


def test_stream_registry():
    assert {"phishing", "bananas", "imagesegments", "sea", "agrawal", "sine"} <= set(STREAMS)
    xs = list(make_stream("sea")(0, 5))
    assert len(xs) == 5 and isinstance(xs[0][0], dict)
    assert list(make_stream("sea")(0, 5)) == xs  # seeded: reproducible
    with pytest.raises(SpikegradInputError, match="unknown dataset"):
        make_stream("mnist")
    with pytest.raises(SpikegradInputError, match="unknown model"):
        make_model("svm")


def test_passive_pruning_removes_neurons_after_drift():
    spec = make_stream("sine")
    model = make_model("oesnn-passive")
    stream = spec(0, 4000)
    prequential(itertools.islice(stream, 3000), model)
    before = model[-1].n_pruned  # noisy neurons near the class boundary (measured 9)
    prequential(stream, model)  # the 1000 samples after the label reversal
    assert model[-1].n_pruned - before > 2 * before  # measured 32 in 1000 vs 9 in 3000


@pytest.mark.parametrize("policy", ["oldest", "least_used"])
def test_full_repository_replacement_policy(policy):
    m = OeSNNClassifier(n_fields=5, sim=1e-9, max_neurons_per_class=3, replace=policy)
    for v in (0.0, 1.0, 1.0, 1.0, 0.0, 0.5):  # first: constant range, skipped
        m.learn_one({"a": v}, 0)
    # A (x=1, merged 3 times, mean age (2+3+4)/3 = 3), B (x=0, age 5), C (x=0.5, age 6)
    rows = m._class_rows[0]
    assert sorted((m._merges[r], m._age[r]) for r in rows) == [(1, 5), (1, 6), (3, 3)]
    m.learn_one({"a": 0.25}, 0)  # a fourth ordering, repository full: evict one
    assert m.n_neurons == 3 and m.n_replaced == 1
    after = sorted((m._merges[r], m._age[r]) for r in m._class_rows[0])
    if policy == "oldest":
        assert after == [(1, 5), (1, 6), (1, 7)]  # A (oldest mean age) went
    else:
        assert after == [(1, 6), (1, 7), (3, 3)]  # B (fewest merges, then oldest) went
