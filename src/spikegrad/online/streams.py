"""Named data streams and models for prequential (test-then-train) evaluation.

Streams come from river only (its bundled real datasets and its synthetic
generators; nothing is downloaded). Every stream is finite here and carries the
positions of its known concept drifts.

=================  ======  ===================================================
name               length  what
=================  ======  ===================================================
``phishing``        1 250  river Phishing (real, 9 features, 2 classes)
``bananas``         5 300  river Bananas (real, 2 features, 2 classes)
``imagesegments``   2 310  river ImageSegments (real, 18 features, 7 classes)
``sea``            20 000  SEA, abrupt drifts variant 0 -> 1 -> 2 -> 3 every 5 000
``sea-gradual``    10 000  ConceptDriftStream SEA 0 -> 3, centre 5 000, width 1 000
``agrawal``        10 000  Agrawal, abrupt drift function 0 -> 2 at 5 000
``agrawal-gradual`` 10 000 ConceptDriftStream Agrawal 0 -> 2, centre 5 000, width 1 000
``hyperplane``     10 000  rotating Hyperplane (10 features, 2 drifting, 0.001)
``rbf-drift``      10 000  RandomRBFDrift (10 features, 50 moving centroids, 0.001)
``sine``            6 000  Sine, abrupt label reversal (function 0 -> 1) at 3 000
=================  ======  ===================================================

Abrupt drifts are made by concatenating two generators (river's
``ConceptDriftStream`` overflows in ``math.exp`` for very small widths).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .._checks import SpikegradInputError

__all__ = [
    "StreamSpec",
    "STREAMS",
    "make_stream",
    "resolve_stream",
    "csv_stream",
    "river_stream",
    "MODELS",
    "make_model",
]


@dataclass(frozen=True)
class StreamSpec:
    """A finite stream: a factory of ``(x, y)`` iterables, its length and drift positions."""

    name: str
    factory: Callable[[int], Iterable]
    length: int
    drifts: tuple[int, ...] = field(default_factory=tuple)
    description: str = ""

    def __call__(self, seed: int = 0, n: int | None = None) -> Iterator:
        """Iterate over the first ``n`` (default: all) samples, generators seeded by ``seed``."""
        return itertools.islice(iter(self.factory(seed)), n if n is not None else self.length)


def _concat(parts: list[tuple[Iterable, int]]) -> Iterator:
    for stream, n in parts:
        yield from itertools.islice(stream, n)


def _sea(seed: int) -> Iterator:
    from river.datasets import synth

    return _concat([(synth.SEA(variant=v, seed=seed + 10 * v), 5000) for v in range(4)])


def _sea_gradual(seed: int):
    from river.datasets import synth

    return synth.ConceptDriftStream(
        synth.SEA(variant=0, seed=seed),
        synth.SEA(variant=3, seed=seed + 1),
        position=5000,
        width=1000,
        seed=seed + 2,
    )


def _agrawal(seed: int) -> Iterator:
    from river.datasets import synth

    return _concat(
        [
            (synth.Agrawal(classification_function=0, seed=seed), 5000),
            (synth.Agrawal(classification_function=2, seed=seed + 1), 5000),
        ]
    )


def _agrawal_gradual(seed: int):
    from river.datasets import synth

    return synth.ConceptDriftStream(
        synth.Agrawal(classification_function=0, seed=seed),
        synth.Agrawal(classification_function=2, seed=seed + 1),
        position=5000,
        width=1000,
        seed=seed + 2,
    )


def _hyperplane(seed: int):
    from river.datasets import synth

    return synth.Hyperplane(seed=seed, n_features=10, n_drift_features=2, mag_change=0.001)


def _rbf(seed: int):
    from river.datasets import synth

    return synth.RandomRBFDrift(
        seed_model=seed, seed_sample=seed + 1, n_features=10, change_speed=0.001
    )


def _sine(seed: int) -> Iterator:
    from river.datasets import synth

    return _concat(
        [
            (synth.Sine(classification_function=0, seed=seed), 3000),
            (synth.Sine(classification_function=1, seed=seed + 1), 3000),
        ]
    )


def _river_ds(name: str) -> Callable[[int], Iterable]:
    def f(seed: int) -> Iterable:
        from river import datasets

        return getattr(datasets, name)()

    return f


STREAMS: dict[str, StreamSpec] = {
    s.name: s
    for s in [
        StreamSpec("phishing", _river_ds("Phishing"), 1250, (), "river Phishing (real)"),
        StreamSpec("bananas", _river_ds("Bananas"), 5300, (), "river Bananas (real)"),
        StreamSpec(
            "imagesegments", _river_ds("ImageSegments"), 2310, (), "river ImageSegments (real)"
        ),
        StreamSpec("sea", _sea, 20000, (5000, 10000, 15000), "SEA abrupt 0->1->2->3"),
        StreamSpec("sea-gradual", _sea_gradual, 10000, (5000,), "SEA gradual 0->3"),
        StreamSpec("agrawal", _agrawal, 10000, (5000,), "Agrawal abrupt 0->2"),
        StreamSpec("agrawal-gradual", _agrawal_gradual, 10000, (5000,), "Agrawal gradual 0->2"),
        StreamSpec("hyperplane", _hyperplane, 10000, (), "rotating hyperplane (incremental)"),
        StreamSpec("rbf-drift", _rbf, 10000, (), "RandomRBFDrift (incremental)"),
        StreamSpec("sine", _sine, 6000, (3000,), "Sine abrupt label reversal"),
    ]
}


def make_stream(name: str) -> StreamSpec:
    """The :class:`StreamSpec` called ``name`` (see the module table)."""
    if name not in STREAMS:
        raise SpikegradInputError(
            f"unknown dataset {name!r}; valid names: {', '.join(sorted(STREAMS))}"
        )
    return STREAMS[name]


def csv_stream(path, target: str | None = None) -> StreamSpec:
    """A :class:`StreamSpec` over the rows of a CSV file with a header.

    ``target`` names the label column (default: the last one); every other
    column must be numeric (empty cells are missing values). Labels are kept
    as strings. Raises :class:`SpikegradInputError` naming the problem.

    A missing value is left out of the row's feature dict (river's convention for an
    absent feature), so scalers skip it, the spiking models emit no spike for it and
    the ``--against`` baselines see the same sparse row. NaN / inf cells are missing too.
    """
    import csv
    from pathlib import Path

    p = Path(path)
    try:
        with p.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError) as exc:
        raise SpikegradInputError(f"--task: cannot read CSV file {str(p)!r}: {exc}") from exc
    if len(rows) < 2:
        raise SpikegradInputError(f"--task: CSV file {str(p)!r} needs a header and >= 1 row")
    header = [h.strip() for h in rows[0]]
    tcol = header[-1] if target is None else target
    if tcol not in header:
        raise SpikegradInputError(
            f"--target {tcol!r} is not a column of {str(p)!r}; columns: {', '.join(header)}"
        )
    ti = header.index(tcol)
    data = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            raise SpikegradInputError(
                f"--task: CSV line {line} has {len(row)} fields, the header {len(header)}"
            )
        x: dict[str, float] = {}
        for i, (h, c) in enumerate(zip(header, row, strict=True)):
            if i == ti:
                continue
            c = c.strip()
            if c == "":
                continue  # missing: absent from the row
            try:
                v = float(c)
                if math.isfinite(v):
                    x[h] = v
            except ValueError:
                raise SpikegradInputError(
                    f"--task: CSV column {h!r} has non-numeric value {c!r} on line {line}; "
                    "only numeric features are supported"
                ) from None
        y = row[ti].strip()
        if y == "":
            raise SpikegradInputError(f"--task: CSV line {line} has an empty label ({tcol!r})")
        data.append((x, y))
    return StreamSpec(p.name, lambda seed: iter(data), len(data), (), f"CSV file {p}")


def river_stream(name: str) -> StreamSpec | None:
    """A river classification data set by class name (case-insensitive), or ``None``.

    Raises :class:`SpikegradInputError` when it exists but is not on disk
    (river downloads those on first use; nothing is downloaded here).
    """
    from river import datasets
    from river.datasets import base

    cls = None
    for attr in dir(datasets):
        obj = getattr(datasets, attr)
        if isinstance(obj, type) and attr.lower() == name.lower():
            cls = obj
            break
    if cls is None:
        return None
    ds = cls()
    if ds.task not in (base.BINARY_CLF, base.MULTI_CLF):
        raise SpikegradInputError(
            f"--task {name!r}: river data set {cls.__name__} is a {ds.task} task, "
            "not classification"
        )
    if getattr(ds, "is_downloaded", True) is False:
        raise SpikegradInputError(
            f"--task {name!r}: river data set {cls.__name__} is not on disk (river downloads "
            "it on first use); use a bundled one or a CSV file"
        )
    return StreamSpec(
        cls.__name__, lambda seed: cls(), int(ds.n_samples), (), f"river {cls.__name__}"
    )


def resolve_stream(task: str, target: str | None = None) -> StreamSpec:
    """A named stream (:data:`STREAMS`), a CSV file path, or a river data set class name."""
    if task in STREAMS:
        return STREAMS[task]
    if task.lower().endswith(".csv"):
        return csv_stream(task, target)
    spec = river_stream(task)
    if spec is None:
        raise SpikegradInputError(
            f"--task {task!r} is neither a stream ({', '.join(sorted(STREAMS))}), a .csv file, "
            "nor a river data set class name (e.g. Phishing, ImageSegments)"
        )
    return spec


def _oesnn(**kw):
    from .esnn import OeSNNClassifier

    return OeSNNClassifier(**kw)


def _oesnn_adwin(**kw):
    from river import drift

    from .esnn import OeSNNClassifier

    return OeSNNClassifier(drift_detector=drift.ADWIN(), **kw)


def _oesnn_passive(**kw):
    from .esnn import OeSNNClassifier

    kw.setdefault("passive_prune", 0.4)
    return OeSNNClassifier(**kw)


def _eprop(**kw):
    from .eprop_river import EpropClassifier

    return EpropClassifier(**kw)


def _oesnn_wrapped(kind: str):
    def f(**kw):
        from river import drift, ensemble

        from .esnn import OeSNNClassifier

        n = kw.pop("n_models", 5)
        seed = kw.pop("seed", 0)
        base = OeSNNClassifier(**kw)
        if kind == "bagging":
            return ensemble.BaggingClassifier(base, n_models=n, seed=seed)
        if kind == "adwin-bagging":
            return ensemble.ADWINBaggingClassifier(base, n_models=n, seed=seed)
        if kind == "leveraging":
            return ensemble.LeveragingBaggingClassifier(base, n_models=n, seed=seed)
        return drift.DriftRetrainingClassifier(base, drift_detector=drift.binary.DDM())

    return f


def _arf(**kw):
    from river import forest

    kw.setdefault("seed", 0)
    return forest.ARFClassifier(**kw)


def _srp(**kw):
    from river import ensemble

    kw.setdefault("seed", 0)
    return ensemble.SRPClassifier(**kw)


def _amf(**kw):
    from river import forest

    kw.setdefault("seed", 0)
    return forest.AMFClassifier(**kw)


def _oesnn_fixed(**kw):
    from .esnn import OeSNNClassifier

    kw.setdefault("tune", False)
    return OeSNNClassifier(**kw)


def _ht(**kw):
    from river import tree

    return tree.HoeffdingTreeClassifier(**kw)


def _hat(**kw):
    from river import tree

    kw.setdefault("seed", 0)
    return tree.HoeffdingAdaptiveTreeClassifier(**kw)


def _gnb(**kw):
    from river import naive_bayes

    return naive_bayes.GaussianNB(**kw)


def _knn(**kw):
    from river import neighbors

    seed = kw.pop("seed", 0)
    return neighbors.KNNClassifier(engine=neighbors.SWINN(seed=seed), **kw)


#: Model factories by CLI name; keyword arguments go to the model.
MODELS: dict[str, Callable] = {
    "oesnn": _oesnn,
    "oesnn-fixed": _oesnn_fixed,
    "oesnn-adwin": _oesnn_adwin,
    "oesnn-passive": _oesnn_passive,
    "oesnn-bagging": _oesnn_wrapped("bagging"),
    "oesnn-adwin-bagging": _oesnn_wrapped("adwin-bagging"),
    "oesnn-leveraging": _oesnn_wrapped("leveraging"),
    "oesnn-drift-retraining": _oesnn_wrapped("drift-retraining"),
    "eprop": _eprop,
    "ht": _ht,
    "hat": _hat,
    "gnb": _gnb,
    "knn": _knn,
    "arf": _arf,
    "srp": _srp,
    "amf": _amf,
}


def make_model(name: str, *, scale: bool = True, **params):
    """Build model ``name`` (see :data:`MODELS`), behind a ``StandardScaler`` if ``scale``."""
    if name not in MODELS:
        raise SpikegradInputError(
            f"unknown model {name!r}; valid names: {', '.join(sorted(MODELS))}"
        )
    model = MODELS[name](**params)
    if scale:
        from river import preprocessing

        model = preprocessing.StandardScaler() | model
    return model
