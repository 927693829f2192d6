"""OeSNNClassifier(reduction="cnn"): condensed nearest neighbour over the repository."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

river = pytest.importorskip("river")

from river import datasets, drift, preprocessing  # noqa: E402

from spikegrad._checks import SpikegradInputError  # noqa: E402
from spikegrad.online import OeSNNClassifier  # noqa: E402
from spikegrad.online.prequential import prequential  # noqa: E402
from spikegrad.online.streams import make_stream  # noqa: E402


def _scaled(stream, n):
    sc = preprocessing.StandardScaler()
    out = []
    for x, y in itertools.islice(stream, n):
        sc.learn_one(x)
        out.append((sc.transform_one(x), y))
    return out


def _hart(w: np.ndarray, lab: np.ndarray) -> list[int]:
    """Hart's CNN written out with plain loops (rows already youngest first)."""
    keep: list[int] = []
    for i in range(len(lab)):
        if all(lab[j] != lab[i] for j in keep):
            keep.append(i)
    changed = True
    while changed:
        changed = False
        for i in range(len(lab)):
            if i in keep:
                continue
            d = [float(np.linalg.norm(w[i] - w[j])) for j in keep]
            if lab[keep[int(np.argmin(d))]] != lab[i]:
                keep.append(i)
                changed = True
    return sorted(keep)


def test_condense_equals_hart_and_keeps_every_old_neuron_correct():
    m = OeSNNClassifier(tune=False, n_fields=5, max_neurons_per_class=40)
    for x, y in _scaled(datasets.ImageSegments(), 400):
        m.learn_one(x, y)
    used = np.flatnonzero(m._label >= 0)
    rows = used[np.argsort(-m._age[used], kind="stable")]
    w, lab = m._Wr[rows].copy(), m._label[rows].copy()
    expect = _hart(w, lab)
    n_before = m.n_neurons
    m._condense()
    kept = np.flatnonzero(m._label >= 0)
    assert sorted(kept.tolist()) == sorted(rows[expect].tolist())
    assert m._n_condensed == n_before - len(kept) > 0
    # 1-NN over the kept neurons labels every neuron of the old repository correctly
    for i in range(len(rows)):
        d = np.linalg.norm(m._Wr[kept] - w[i], axis=1)
        assert m._label[kept[int(np.argmin(d))]] == lab[i]
    # the class rows and free list stay consistent
    assert sorted(itertools.chain(*m._class_rows)) == sorted(kept.tolist())
    assert len(m._free) + len(kept) == m._WT.shape[1]


def test_passive_schedule_fewer_neurons_similar_accuracy():
    # measured on SEA (1500 samples): fixed 0.939 with 400 neurons at the end;
    # with CNN every 500 samples 0.936 with 74 neurons at the end (938 removed)
    data = list(make_stream("sea")(0, 1500))
    plain = preprocessing.StandardScaler() | OeSNNClassifier(tune=False)
    oes = OeSNNClassifier(tune=False, reduction="cnn")
    red = preprocessing.StandardScaler() | oes
    a0 = prequential(iter(data), plain, window=500).accuracy
    a1 = prequential(iter(data), red, window=500).accuracy
    assert a1 > a0 - 0.01 and a1 > 0.925
    assert oes.n_neurons < 0.5 * plain["OeSNNClassifier"].n_neurons
    assert oes._n_condensed > 0


def test_active_mode_condenses_at_a_detection_and_bad_arguments():
    m = OeSNNClassifier(
        tune=False, reduction="cnn", reduce_every=10**9, drift_detector=drift.ADWIN()
    )
    data = _scaled(datasets.Phishing(), 1250)
    flipped = [(x, not y) for x, y in data[600:]]  # label reversal at 600
    for x, y in data[:600] + flipped:
        m.learn_one(x, y)
    assert m.drift_points and m._n_condensed > 0
    for bad in ({"reduction": "smma"}, {"reduce_every": 0}):
        with pytest.raises(SpikegradInputError):
            OeSNNClassifier(**bad)


def test_river_estimator_checks_with_reduction():
    from river.checks import clf, common

    data = list(itertools.islice(datasets.Phishing(), 200))
    for check in (
        common.check_learn_one,
        common.check_pickling,
        common.check_shuffle_features_no_impact,
        common.check_predict_one_pure,
        common.check_clone_is_independent,
        clf.check_predict_proba_one,
        clf.check_classifier_tracks_seen_labels,
    ):
        check(OeSNNClassifier(tune=False, reduction="cnn", reduce_every=20), dataset=data)
        check(OeSNNClassifier(reduction="cnn", reduce_every=20), dataset=data)
        check(OeSNNClassifier(tune=False, reduction="chang", reduce_every=20), dataset=data)


def _chang(w: np.ndarray, lab: np.ndarray, cnt: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Chang's merging written out with plain loops: (weights, label) of the result."""
    protos = {k: (w[k].copy(), int(lab[k]), float(cnt[k])) for k in range(len(lab))}
    blocked: set = set()
    correct = []
    for i in range(len(lab)):  # every original is its own prototype: correct unless tied
        d = [float(np.linalg.norm(w[i] - w[k])) for k in range(len(lab))]
        correct.append(lab[int(np.argmin(d))] == lab[i])
    for _ in range(4 * len(lab)):
        best = None
        for p, q in itertools.combinations(sorted(protos), 2):
            if protos[p][1] != protos[q][1] or (p, q) in blocked:
                continue
            d = float(np.linalg.norm(protos[p][0] - protos[q][0]))
            if best is None or d < best[0]:
                best = (d, p, q)
        if best is None:
            break
        _, p, q = best
        (wp, c, np_), (wq, _, nq) = protos[p], protos[q]
        m = (np_ * wp + nq * wq) / (np_ + nq)
        trial = {k: v for k, v in protos.items() if k != q}
        trial[p] = (m, c, np_ + nq)
        keys = sorted(trial)
        ok = True
        for i in range(len(lab)):
            d = [float(np.linalg.norm(w[i] - trial[k][0])) for k in keys]
            if correct[i] and trial[keys[int(np.argmin(d))]][1] != lab[i]:
                ok = False
                break
        if ok:
            protos = trial
        else:
            blocked.add((p, q))
    return [(v[0], v[1]) for _, v in sorted(protos.items())]


def test_chang_generation_equals_a_loop_implementation_and_keeps_labels():
    m = OeSNNClassifier(
        tune=False, n_fields=4, max_neurons_per_class=12, reduction="chang", reduce_every=10**9
    )
    for x, y in _scaled(datasets.ImageSegments(), 200):
        m.learn_one(x, y)
    used = np.flatnonzero(m._label >= 0)
    w, lab, cnt = m._Wr[used].copy(), m._label[used].copy(), m._merges[used].copy()
    expect = _chang(w, lab, cnt)
    m._condense()
    kept = np.flatnonzero(m._label >= 0)
    assert len(kept) == len(expect) < len(used)
    got = sorted((tuple(np.round(m._Wr[r], 9)), int(m._label[r])) for r in kept)
    ref = sorted((tuple(np.round(v, 9)), c) for v, c in expect)
    assert got == ref
    # every neuron of the old repository keeps its label under 1-NN over the new set
    for i in range(len(used)):
        d = np.linalg.norm(m._Wr[kept] - w[i], axis=1)
        assert m._label[kept[int(np.argmin(d))]] == lab[i]
    assert m._merges[kept].sum() == cnt.sum()  # merge counts add up
