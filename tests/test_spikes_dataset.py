"""Tests for the sparse event dataset ``spikegrad.data.spikes``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.spikes import SpikeDataset, split

# Hand-built example: T = 4 steps, C = 3 units, N = 3 samples.
#   sample 0: (t=0, u=1), (t=2, u=0)
#   sample 1: no events
#   sample 2: (t=3, u=2) twice (count 2), (t=1, u=0)
TIMES = [0, 2, 3, 3, 1]
UNITS = [1, 0, 2, 2, 0]
OFFSETS = [0, 2, 2, 5]
LABELS = [1, 0, 2]


def _hand() -> SpikeDataset:
    return SpikeDataset(
        torch.tensor(TIMES),
        torch.tensor(UNITS),
        torch.tensor(OFFSETS),
        torch.tensor(LABELS),
        n_steps=4,
        n_units=3,
        name="hand",
    )


def _hand_expected() -> torch.Tensor:
    x = torch.zeros(4, 3, 3)
    x[0, 0, 1] = 1
    x[2, 0, 0] = 1
    x[3, 2, 2] = 2
    x[1, 2, 0] = 1
    return x


def _identified(n: int, n_classes: int = 3) -> SpikeDataset:
    """Sample i carries i + 1 spikes on unit 0 at t = 0, so x[0, b, 0] - 1 is its index."""
    counts = torch.zeros(n, 2, 2, dtype=torch.int64)
    counts[:, 0, 0] = torch.arange(1, n + 1)
    counts[:, 1, 1] = 1
    labels = torch.arange(n) % n_classes
    return SpikeDataset.from_dense(counts, labels, n_classes=n_classes)


def _ids(x: torch.Tensor) -> torch.Tensor:
    return x[0, :, 0].round().long() - 1


def test_dense_matches_hand_built_example_and_counts_accumulate():
    ds = _hand()
    assert len(ds) == 3
    assert (ds.n_steps, ds.n_units, ds.n_classes) == (4, 3, 3)
    x = ds.dense()
    assert x.shape == (4, 3, 3) and x.dtype == torch.float32
    assert torch.equal(x, _hand_expected())
    assert x[3, 2, 2] == 2  # two events in one bin accumulate
    assert ds.spike_count() == 5
    assert torch.equal(ds.counts_per_sample(), torch.tensor([2, 0, 3]))
    assert ds.mean_rate() == pytest.approx(5 / (3 * 4 * 3))


def test_dense_index_order_and_dtypes():
    ds = _hand()
    exp = _hand_expected()
    assert torch.equal(ds.dense([2, 0]), exp[:, [2, 0]])
    assert torch.equal(ds.dense(torch.tensor([1, 1, 2])), exp[:, [1, 1, 2]])
    assert ds.dense(torch.tensor([0]), dtype=torch.float64).dtype == torch.float64
    xb = ds.dense(dtype=torch.bool)
    assert xb.dtype == torch.bool and torch.equal(xb, exp > 0)
    assert ds.dense([]).shape == (4, 0, 3)


def test_subset_matches_dense_selection():
    ds = _hand()
    sub = ds.subset([2, 1])
    assert len(sub) == 2 and sub.n_classes == 3 and sub.name == "hand"
    assert torch.equal(sub.labels, torch.tensor([2, 0]))
    assert torch.equal(sub.dense(), ds.dense([2, 1]))
    assert torch.equal(sub.offsets, torch.tensor([0, 3, 3]))
    assert sub.spike_count() == 3


def test_n_classes_inferred_from_labels():
    ds = SpikeDataset(
        torch.tensor([0]),
        torch.tensor([0]),
        torch.tensor([0, 1, 1]),
        torch.tensor([0, 4]),
        n_steps=1,
        n_units=1,
    )
    assert ds.n_classes == 5
    assert torch.equal(ds.class_counts(), torch.tensor([1, 0, 0, 0, 1]))


def test_from_dense_round_trip_counts_bool_and_float():
    g = torch.Generator().manual_seed(3)
    counts = torch.randint(0, 4, (7, 5, 6), generator=g)
    counts[2] = 0  # a silent sample
    labels = torch.randint(0, 3, (7,), generator=g)
    ds = SpikeDataset.from_dense(counts, labels, n_classes=3)
    assert (len(ds), ds.n_steps, ds.n_units) == (7, 5, 6)
    assert ds.spike_count() == int(counts.sum())
    assert torch.equal(ds.dense(dtype=torch.int64), counts.permute(1, 0, 2))
    assert torch.equal(ds.labels, labels)
    # a round trip back through dense keeps the data
    again = SpikeDataset.from_dense(ds.dense().permute(1, 0, 2), ds.labels)
    assert torch.equal(again.dense(), ds.dense())

    binary = counts > 1
    ds_b = SpikeDataset.from_dense(binary, labels.tolist())
    assert torch.equal(ds_b.dense(), binary.permute(1, 0, 2).float())
    ds_f = SpikeDataset.from_dense(binary.double(), labels)
    assert torch.equal(ds_f.dense(), ds_b.dense())


def test_batches_cover_every_sample_once_per_epoch():
    ds = _identified(10)
    g = torch.Generator().manual_seed(0)
    seen, sizes, orders = [], [], []
    for _ in range(2):
        ids = []
        for x, y in ds.batches(4, shuffle=True, generator=g):
            assert x.shape[0] == 2 and x.shape[2] == 2 and x.shape[1] == y.shape[0]
            b = _ids(x)
            assert torch.equal(y, ds.labels[b])
            ids.append(b)
            sizes.append(x.shape[1])
        order = torch.cat(ids)
        orders.append(order)
        seen.append(sorted(order.tolist()))
    assert seen[0] == seen[1] == list(range(10))
    assert sizes == [4, 4, 2, 4, 4, 2]
    assert not torch.equal(orders[0], orders[1])  # a new order each epoch
    assert not torch.equal(orders[0], torch.arange(10))
    # same seed -> same order
    g2 = torch.Generator().manual_seed(0)
    order2 = torch.cat([_ids(x) for x, _ in ds.batches(4, shuffle=True, generator=g2)])
    assert torch.equal(order2, orders[0])


def test_batches_unshuffled_and_drop_last():
    ds = _identified(10)
    out = list(ds.batches(4, shuffle=False))
    assert torch.equal(torch.cat([_ids(x) for x, _ in out]), torch.arange(10))
    out = list(ds.batches(4, shuffle=False, drop_last=True))
    assert [x.shape[1] for x, _ in out] == [4, 4]
    out = list(ds.batches(20, shuffle=False, dtype=torch.float64))
    assert len(out) == 1 and out[0][0].dtype == torch.float64


def test_batches_do_not_touch_global_rng():
    ds = _identified(10)
    torch.manual_seed(1234)
    np.random.seed(5)  # noqa: NPY002
    state = torch.get_rng_state()
    np_state = np.random.get_state()  # noqa: NPY002
    list(ds.batches(3, shuffle=True, generator=torch.Generator().manual_seed(1)))
    list(ds.batches(3, shuffle=True))  # no generator: private, OS-seeded
    assert torch.equal(torch.get_rng_state(), state)
    np_after = np.random.get_state()  # noqa: NPY002
    assert np_state[0] == np_after[0] and np.array_equal(np_state[1], np_after[1])


def test_split_stratified_sizes_disjoint_and_ordered():
    ds = _identified(30, n_classes=3)  # 10 per class
    parts = split(ds, (0.8, 0.1, 0.1))
    assert [len(p) for p in parts] == [24, 3, 3]
    for p in parts:
        assert torch.equal(p.class_counts(), torch.full((3,), len(p) // 3))
    ids = [_ids(p.dense()) for p in parts]
    assert sorted(torch.cat(ids).tolist()) == list(range(30))
    for i in ids:  # without a generator the stored order is kept
        assert torch.equal(i, i.sort().values)
    # per class: first 8 / next 1 / last 1 of that class's samples
    cls0 = [i[ds.labels[i] == 0].tolist() for i in ids]
    assert cls0 == [[0, 3, 6, 9, 12, 15, 18, 21], [24], [27]]
    assert parts[0].name == "train" and parts[2].name == "test"


def test_split_with_generator_and_unstratified():
    ds = _identified(20, n_classes=2)
    a = split(ds, (0.5, 0.5), generator=torch.Generator().manual_seed(0))
    b = split(ds, (0.5, 0.5), generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in a] == [10, 10]
    assert torch.equal(a[0].dense(), b[0].dense())
    ids = torch.cat([_ids(p.dense()) for p in a])
    assert sorted(ids.tolist()) == list(range(20))
    assert not torch.equal(_ids(a[0].dense()), torch.arange(10))
    (whole,) = split(ds, (1.0,), stratified=False)
    assert torch.equal(whole.dense(), ds.dense())
    u = split(ds, (0.7, 0.3), stratified=False)
    assert torch.equal(_ids(u[0].dense()), torch.arange(14))


def _ds(**kw):
    args = dict(
        times=torch.tensor(TIMES),
        units=torch.tensor(UNITS),
        offsets=torch.tensor(OFFSETS),
        labels=torch.tensor(LABELS),
        n_steps=4,
        n_units=3,
    )
    args.update(kw)
    return SpikeDataset(**args)


BAD_INPUTS = [
    ("offsets", lambda: _ds(offsets=torch.tensor([0, 3, 2, 5]))),
    ("offsets", lambda: _ds(offsets=torch.tensor([1, 2, 2, 5]))),
    ("offsets", lambda: _ds(offsets=torch.tensor([0, 2, 2, 4]))),
    ("offsets", lambda: _ds(offsets=torch.tensor([[0, 2], [2, 5]]))),
    ("times", lambda: _ds(times=torch.tensor([0, 2, 3, 3]))),
    ("times", lambda: _ds(times=torch.tensor([0, 2, 4, 3, 1]))),
    ("times", lambda: _ds(times=torch.tensor([0, -1, 3, 3, 1]))),
    ("times", lambda: _ds(times=torch.tensor([0.0, 2, 3, 3, 1]))),
    ("units", lambda: _ds(units=torch.tensor([1, 0, 3, 2, 0]))),
    ("labels", lambda: _ds(labels=torch.tensor([1, 0]))),
    ("labels", lambda: _ds(labels=torch.tensor([1, 0, 5]), n_classes=3)),
    ("labels", lambda: _ds(labels=torch.tensor([1, -1, 2]))),
    ("n_steps", lambda: _ds(n_steps=0)),
    ("n_units", lambda: _ds(n_units=0)),
    ("n_units", lambda: _ds(n_units=2.5)),
    ("n_classes", lambda: _ds(n_classes=0)),
    (
        "empty",
        lambda: _ds(
            times=torch.tensor([]),
            units=torch.tensor([]),
            offsets=torch.tensor([0]),
            labels=torch.tensor([]),
        ),
    ),
    ("batch_size", lambda: _hand().batches(0, shuffle=False)),
    ("generator", lambda: _hand().batches(2, shuffle=True, generator=0)),
    ("idx", lambda: _hand().dense([0, 3])),
    ("idx", lambda: _hand().dense(torch.tensor([[0]]))),
    ("idx", lambda: _hand().subset([])),
    ("x", lambda: SpikeDataset.from_dense(torch.zeros(3, 4), [0, 0, 0])),
    ("x", lambda: SpikeDataset.from_dense(-torch.ones(1, 2, 2), [0])),
    ("x", lambda: SpikeDataset.from_dense(torch.full((1, 2, 2), 0.5), [0])),
    ("empty", lambda: SpikeDataset.from_dense(torch.zeros(0, 2, 2), [])),
    ("labels", lambda: SpikeDataset.from_dense(torch.zeros(2, 2, 2), [0])),
    ("fractions", lambda: split(_identified(10), (0.5, 0.4))),
    ("fractions", lambda: split(_identified(10), (1.2, -0.2))),
    ("fractions", lambda: split(_identified(10), ())),
    ("fractions", lambda: split(_identified(10), (0.99, 0.01))),  # part 1 empty
]


@pytest.mark.parametrize(
    "name,make", BAD_INPUTS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_INPUTS)]
)
def test_bad_inputs_raise_with_argument_name(name, make):
    with pytest.raises(SpikegradInputError, match=name):
        make()
