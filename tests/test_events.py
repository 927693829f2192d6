"""Structured event arrays (Tonic's layout) <-> SpikeDataset, and sparse DataLoader batches."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikegrad._checks import SpikegradInputError
from spikegrad.data import (
    EventCollate,
    EventSamples,
    SpikeDataset,
    dataset_to_events,
    events_to_dataset,
    events_to_sample,
)

DT1 = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])
DT2 = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])


def _ev(dtype, rows):
    a = np.zeros(len(rows), dtype=dtype)
    for k, r in enumerate(rows):
        a[k] = r
    return a


def test_one_dimensional_events_binned_by_hand():
    # sensor (W=5, H=1, P=2), 1 ms steps, times in microseconds
    ev = _ev(DT1, [(0, 1, 0), (999, 4, 1), (1000, 0, 0), (2500, 2, 1), (3999, 3, 0),
                   (4000, 1, 0)])  # fmt: skip
    t, u = events_to_sample(ev, (5, 1, 2), dt=1e-3, n_steps=4)
    # steps floor(t / 1000); units p * 5 + x; t = 4000 lies past 4 steps: dropped
    assert t.tolist() == [0, 0, 1, 2, 3] and u.tolist() == [1, 9, 0, 7, 3]
    ds = events_to_dataset([ev, ev[:2]], [1, 0], (5, 1, 2), dt=1e-3, n_steps=4)
    assert (ds.n_steps, ds.n_units, len(ds), ds.n_classes) == (4, 10, 2, 2)
    assert ds.counts_per_sample().tolist() == [5, 2]
    x = ds.dense([0])[:, 0]
    assert x[0, 1] == 1 and x[0, 9] == 1 and x[2, 7] == 1 and float(x.sum()) == 5


def test_seconds_as_time_unit_and_2d_unit_order():
    ev = _ev(DT2, [(2, 1, 0, 1)])  # x=2, y=1, t=0 s, p=1 on a (3, 2, 2) sensor
    t, u = events_to_sample(ev, (3, 2, 2), dt=0.5, n_steps=1, time_unit=1.0)
    assert t.tolist() == [0] and u.tolist() == [(1 * 2 + 1) * 3 + 2]


def _random_events(rng, n, sensor, t_max, with_y):
    w, h, p = sensor
    ev = np.zeros(n, dtype=DT2 if with_y else DT1)
    ev["t"] = np.sort(rng.integers(0, t_max, n))
    ev["x"] = rng.integers(0, w, n)
    if with_y:
        ev["y"] = rng.integers(0, h, n)
    ev["p"] = rng.integers(0, p, n)
    return ev


@pytest.mark.parametrize("with_y", [True, False])
def test_dense_samples_match_tonic_to_frame(with_y):
    tonic_transforms = pytest.importorskip("tonic.transforms")
    rng = np.random.default_rng(0)
    sensor = (7, 4, 2) if with_y else (11, 1, 2)
    T, dt_us = 12, 1000
    samples = [_random_events(rng, 300, sensor, 13_500, with_y) for _ in range(3)]
    ds = events_to_dataset(samples, [0, 1, 2], sensor, dt=dt_us * 1e-6, n_steps=T)
    to_frame = tonic_transforms.ToFrame(sensor_size=sensor, time_window=dt_us,
                                        start_time=0, end_time=T * dt_us)  # fmt: skip
    for k, ev in enumerate(samples):
        frames = to_frame(ev.copy())  # [T, P, (H,) W]
        assert frames.shape[0] == T
        ours = ds.dense([k])[:, 0].numpy()
        np.testing.assert_array_equal(ours, frames.reshape(T, -1))
        assert 0 < ours.sum() < 300  # some events fell past the last step


def test_round_trip_through_event_arrays():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 3, (4, 6, 2 * 3 * 2))).float()  # counts up to 2
    ds = SpikeDataset.from_dense(x, [0, 1, 1, 0])
    arrays, labels = dataset_to_events(ds, (2, 3, 2), dt=2e-3)
    assert arrays[0].dtype.names == ("t", "x", "y", "p") and arrays[0]["t"].dtype == np.int64
    assert all((np.diff(a["t"]) >= 0).all() for a in arrays)
    assert set(np.unique(np.concatenate([a["t"] for a in arrays]))) <= {0, 2000, 4000, 6000,
                                                                         8000, 10000}  # fmt: skip
    back = events_to_dataset(arrays, labels, (2, 3, 2), dt=2e-3, n_steps=6)
    assert torch.equal(back.dense(), ds.dense()) and torch.equal(back.labels, ds.labels)
    flat, _ = dataset_to_events(ds[:1], (12, 1, 1), dt=1e-3)
    assert flat[0].dtype.names == ("t", "x", "p") and (flat[0]["p"] == 0).all()


def test_event_samples_serve_a_dataloader_sparsely():
    rng = np.random.default_rng(2)
    x = torch.from_numpy(rng.random((10, 8, 5)) < 0.3).float()
    ds = SpikeDataset.from_dense(x, list(range(5)) * 2)
    samples = EventSamples(ds)
    t, u, y = samples[3]
    assert t.dtype == torch.int64 and t.numel() == int(x[3].sum()) and int(y) == 3
    collate = pickle.loads(pickle.dumps(samples.collate()))  # worker processes pickle it
    loader = DataLoader(samples, batch_size=4, shuffle=False, collate_fn=collate)
    got = list(loader)
    want = list(ds.batches(4, shuffle=False))
    assert len(got) == len(want) == 3
    for (xa, ya), (xb, yb) in zip(got, want, strict=True):
        assert xa.shape == xb.shape and torch.equal(xa, xb) and torch.equal(ya, yb)
    g = torch.Generator().manual_seed(0)
    shuffled = DataLoader(samples, batch_size=10, shuffle=True, generator=g, collate_fn=collate)
    xs, ys = next(iter(shuffled))
    order = [int(v) for v in ys]
    assert sorted(order) == sorted(ds.labels.tolist())
    assert float(xs.sum()) == float(x.sum())


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda ev: events_to_sample(ev, (5, 1), dt=1e-3, n_steps=2), "sensor_size must be"),
        (lambda ev: events_to_sample(ev, (3, 1, 2), dt=1e-3, n_steps=2), "field x must lie"),
        (lambda ev: events_to_sample(ev, (5, 2, 2), dt=1e-3, n_steps=2), "no y field"),
        (lambda ev: events_to_sample(ev, (5, 1, 1), dt=1e-3, n_steps=2), "P = 1 polarity"),
        (lambda ev: events_to_sample(ev[["t", "x"]], (5, 1, 2), dt=1e-3, n_steps=2),
         "missing p"),
        (lambda ev: events_to_sample(ev, (5, 1, 2), dt=0.0, n_steps=2), "dt"),
        (lambda ev: events_to_dataset([], [], (5, 1, 2), dt=1e-3, n_steps=2), "empty"),
        (lambda ev: EventCollate(2, 3)([(torch.tensor([2]), torch.tensor([0]), 0)]),
         "outside"),
    ],
)  # fmt: skip
def test_bad_events_give_one_line_errors(call, match):
    ev = _ev(DT1, [(0, 4, 0), (10, 1, 1)])
    with pytest.raises(SpikegradInputError, match=match):
        call(ev)


def test_negative_times_are_refused():
    ev = _ev(DT1, [(-5, 0, 0)])
    with pytest.raises(SpikegradInputError, match="t must be >= 0"):
        events_to_dataset([ev], [0], (1, 1, 1), dt=1e-3, n_steps=2)
