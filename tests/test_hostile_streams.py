"""Hostile stream samples and images (issue 9, item 4): OeSNN ``learn_one`` / ``predict_one``
and ``symmetry_events``.

A bad sample or image gives ONE clear error (``SpikegradInputError`` or ``TypeError``)
naming the feature / argument; a sample that raises leaves the model unchanged; an accepted
sample gives a valid prediction without NaN, overflow warnings or a corrupted model.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hostile_support import FAST, one_thread  # noqa: E402, F401
from spikegrad import SpikegradInputError  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------ OeSNN
VALUES = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [None, math.nan, math.inf, -math.inf, 1e308, -1e308, 1e150, 10**400, True, 0, -3]
    ),
    st.sampled_from(["x", "", "1.5", b"1", [1.0], {"a": 1}, 1j, np.float32(2.0)]),
    st.sampled_from([np.array([1.0, 2.0]), np.nan]),
)
KEYS = st.sampled_from(["a", "b", "c", 0, ("t",), None])
SAMPLES = st.dictionaries(KEYS, VALUES, max_size=4)
LABELS = st.one_of(
    st.sampled_from([0, 1, "spam", 2.5, True]),
    st.sampled_from([None, math.nan, [1], {"a": 1}, float("nan")]),
)


def _trained():
    from spikegrad.online import OeSNNClassifier

    m = OeSNNClassifier(n_fields=4, max_neurons_per_class=5)
    for i in range(12):
        m.learn_one({"a": (i % 3) * 1.0, "b": -0.5 * i}, i % 2)
    return m


def _snapshot(m) -> tuple:
    return (
        m._t,
        list(m._classes),
        list(m._class_counts),
        m.repository_sizes(),
        dict(m._features),
        m._W.copy(),
        m._theta.copy(),
        m.n_skipped,
        m.n_merges,
        m.n_replaced,
    )


def _same(a: tuple, b: tuple) -> bool:
    return all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(a, b, strict=True)
    )


def _clear(exc: BaseException, x: dict) -> None:
    msg = str(exc)
    assert isinstance(exc, (SpikegradInputError, TypeError)), repr(exc)
    assert "y " in msg or any(repr(k) in msg for k in x), f"error names no feature: {msg}"


def _check_predictions(m, x: dict) -> None:
    p = m.predict_proba_one(x)
    assert set(p) == set(m._classes)
    assert all(math.isfinite(v) and 0 <= v <= 1 for v in p.values())
    assert math.isclose(sum(p.values()), 1.0, rel_tol=1e-9)
    y = m.predict_one(x)
    assert y in m._classes or y is None


@FAST
@given(x=SAMPLES)
def test_oesnn_predict_hostile_samples(x):
    pytest.importorskip("river")
    m = _trained()
    before = _snapshot(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow / invalid-value RuntimeWarning
        try:
            _check_predictions(m, x)
        except (SpikegradInputError, TypeError) as exc:
            _clear(exc, x)
    assert _same(before, _snapshot(m)), "predicting changed the model"


@FAST
@given(x=SAMPLES, y=LABELS)
def test_oesnn_learn_hostile_samples(x, y):
    pytest.importorskip("river")
    m = _trained()
    before = _snapshot(m)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            m.learn_one(x, y)
        except (SpikegradInputError, TypeError) as exc:
            _clear(exc, x)
            assert _same(before, _snapshot(m)), f"a rejected sample changed the model: {exc}"
        else:
            assert y is not None and y == y  # NaN labels never become a class
            assert all(c == c for c in m._classes)
            assert np.isfinite(m._W).all() and np.isfinite(m._theta).all()
        # whatever happened, the model still predicts clean samples
        _check_predictions(m, {"a": 1.0, "b": -1.0})


@settings(FAST, max_examples=15)
@given(stream=st.lists(st.tuples(SAMPLES, LABELS), min_size=1, max_size=15))
def test_oesnn_hostile_stream(stream):
    """A whole stream of mixed good and bad samples: bad ones raise, the rest is learned."""
    pytest.importorskip("river")
    from spikegrad.online import OeSNNClassifier

    m = OeSNNClassifier(n_fields=4, max_neurons_per_class=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in stream:
            try:
                m.learn_one(x, y)
            except (SpikegradInputError, TypeError) as exc:
                _clear(exc, x)
            if m._classes:
                _check_predictions(m, {"a": 0.5})
    assert m.n_neurons <= 3 * len(m._classes)


def test_oesnn_nan_label_is_not_a_class():
    pytest.importorskip("river")
    m = _trained()
    with pytest.raises(SpikegradInputError, match="y"):
        m.learn_one({"a": 1.0}, float("nan"))
    assert m._classes == [0, 1]


# ------------------------------------------------------------------------- symmetry_events
@st.composite
def images(draw):
    kind = draw(st.sampled_from(["numpy", "torch"]))
    shape = draw(st.lists(st.integers(0, 6), min_size=0, max_size=4))
    dtype = draw(st.sampled_from(["float32", "float64", "uint8", "bool", "int64", "complex64"]))
    fill = draw(st.sampled_from([0.0, 1.0, 0.7, math.nan, math.inf, -1.0, 1e300, 2.0]))
    a = np.zeros(shape)
    if a.size:
        a.flat[:: max(1, a.size // 3)] = 1.0
        a.flat[draw(st.integers(0, a.size - 1))] = fill
    if dtype in ("uint8", "bool", "int64"):
        a = np.nan_to_num(a, nan=0, posinf=1, neginf=0).clip(0, 1)
    with np.errstate(over="ignore", invalid="ignore"):  # 1e300 -> inf in float32: on purpose
        a = np.asarray(a.astype(dtype))
    return torch.from_numpy(a) if kind == "torch" else a


@FAST
@given(
    image=images(),
    encoding=st.sampled_from(["threshold", "edges", "latency"]),
    method=st.sampled_from(["spiking", "oracle"]),
)
def test_symmetry_events_hostile_images(image, encoding, method):
    from spikegrad.symmetry import symmetry_events

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. "casting complex values discards the imaginary part"
        try:
            ev = symmetry_events(image, encoding=encoding, method=method, levels=4)
        except (SpikegradInputError, TypeError) as exc:
            assert "image" in str(exc) or "method" in str(exc), str(exc)
            return
    a = np.asarray(image)
    assert a.ndim in (2, 3) and a.size > 0 and a.dtype.kind in "biuf"
    assert np.isfinite(a.astype(np.float64)).all()
    for k, c in ev.counts.items():
        assert c.shape[-2:] == a.shape[-2:], k
        assert bool(torch.isfinite(c).all()) and bool((c >= 0).all()), k


@pytest.mark.parametrize(
    "kw, name",
    [
        ({"threshold": math.nan}, "threshold"),
        ({"encoding": "colour"}, "encoding"),
        ({"levels": 0, "encoding": "latency"}, "levels"),
        ({"orientations": ["up"]}, "orientation"),
        ({"method": "guess"}, "method"),
        ({"spike_noise": 2.0, "generator": torch.Generator()}, "rate"),
        ({"intensity_noise": math.inf, "generator": torch.Generator()}, "sigma"),
        ({"intensity_noise": 0.1}, "generator"),
    ],
)
def test_symmetry_events_bad_options(kw, name):
    from spikegrad.symmetry import symmetry_events

    with pytest.raises((SpikegradInputError, TypeError), match=name):
        symmetry_events(np.eye(5), **kw)


def test_symmetry_events_complex_and_overflowing_images():
    from spikegrad.symmetry import symmetry_events

    with pytest.raises(TypeError, match="image must be a real image"):
        symmetry_events(torch.ones(5, 5, dtype=torch.complex64))
    with pytest.raises(TypeError, match="image must be a numeric array"):
        symmetry_events(np.ones((5, 5), dtype=np.complex128))
    # finite in float64 but not in float32: say so, not "contains NaN or infinite values"
    with pytest.raises(SpikegradInputError, match="float32 range"):
        symmetry_events(np.full((5, 5), 1e300))
    with pytest.raises(SpikegradInputError, match="NaN or infinite"):
        symmetry_events(np.full((5, 5), np.nan))
    for zero_d in (np.array(3, dtype=np.uint8), np.array(0.5), torch.tensor(1.0)):
        with pytest.raises(SpikegradInputError, match="image must be a grey image"):
            symmetry_events(zero_d)


# ------------------------------------------------------------------- the one latency code
@FAST
@given(
    values=st.lists(st.floats(-2.0, 3.0, allow_nan=False), min_size=0, max_size=12),
    n_steps=st.integers(1, 40),
    code=st.sampled_from(["log", "linear"]),
    theta=st.floats(0.0, 0.95),
    overflow=st.sampled_from(["drop", "clip"]),
)
def test_latency_outputs_agree_on_any_values(values, n_steps, code, theta, overflow):
    """steps in [-1, n_steps), at most one spike per value, times <-> steps <-> spikes."""
    from spikegrad.data.encoding import latency

    x = torch.tensor(values, dtype=torch.float64)
    kw = {"code": code, "theta": theta, "overflow": overflow}
    steps = latency(x, n_steps, **kw)
    times = latency(x, n_steps, output="times", **kw)
    spikes = latency(x, n_steps, output="spikes", **kw)
    assert steps.shape == x.shape and spikes.shape == (n_steps, *x.shape)
    assert bool(((steps >= -1) & (steps < n_steps)).all())
    assert torch.equal(steps >= 0, torch.isfinite(times))
    fired = steps >= 0
    assert bool((fired <= (x > theta)).all())  # only values above the threshold fire
    if overflow == "clip":
        assert torch.equal(fired, x > theta)  # and with clipping every one of them
    assert torch.equal(times[steps >= 0].floor().long(), steps[steps >= 0])
    assert bool((times[steps >= 0] >= 0).all())
    assert torch.equal(spikes.sum(0), (steps >= 0).double())
    for i in torch.nonzero(steps >= 0).flatten().tolist():
        assert spikes[steps[i], i] == 1.0
