"""SpikeDataset as a map-style torch Dataset: ds[i], slicing, DataLoader + collate."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from spikegrad import SpikegradInputError
from spikegrad.data import SpikeDataset, collate_time_major, make_randman


def _ds(n=11, t=9, c=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 3, (n, t, c), generator=g) * (torch.rand(n, t, c, generator=g) < 0.3)
    return SpikeDataset.from_dense(x, torch.arange(n) % 4, name="toy")


def test_getitem_int_is_one_sample():
    ds = _ds()
    dense = ds.dense()
    assert isinstance(ds, Dataset)
    for i in (0, 4, len(ds) - 1, -1, -len(ds)):
        x, y = ds[i]
        assert x.dtype == torch.float32 and x.shape == (ds.n_steps, ds.n_units)
        assert y.dtype == torch.int64 and y.shape == ()
        assert torch.equal(x, dense[:, i % len(ds)])
        assert int(y) == int(ds.labels[i % len(ds)])
    _, y = ds[0]
    y += 1  # a copy: the dataset's labels are untouched
    assert int(ds.labels[0]) == 0
    assert len(list(ds)) == len(ds)  # iteration stops at IndexError


def test_getitem_slices_and_index_tensors_give_subsets():
    ds = _ds()
    for index, expect in (
        (slice(2, 7), list(range(2, 7))),
        (slice(None, None, -3), list(range(len(ds)))[::-3]),
        ([5, 1, 1], [5, 1, 1]),
        (torch.tensor([3]), [3]),
        (torch.tensor([0, 10]), [0, 10]),
    ):
        sub = ds[index]
        assert isinstance(sub, SpikeDataset)
        assert torch.equal(sub.dense(), ds.dense(torch.tensor(expect)))
        assert torch.equal(sub.labels, ds.labels[expect])
    assert isinstance(ds[torch.tensor(2)], tuple)  # 0-d tensor: one sample


def test_getitem_errors():
    ds = _ds()
    with pytest.raises(IndexError, match="out of range"):
        ds[len(ds)]
    with pytest.raises(IndexError, match="out of range"):
        ds[-len(ds) - 1]
    with pytest.raises(TypeError, match="bool"):
        ds[True]
    with pytest.raises(SpikegradInputError):
        ds[[0, 99]]
    with pytest.raises(SpikegradInputError, match="no samples"):
        ds[3:3]
    with pytest.raises(SpikegradInputError):
        ds["a"]


@pytest.mark.parametrize("batch_size", [1, 4, 11, 50])
def test_dataloader_matches_batches(batch_size):
    ds = _ds()
    loader = DataLoader(ds, batch_size=batch_size, shuffle=False, collate_fn=collate_time_major)
    got = list(loader)
    want = list(ds.batches(batch_size, shuffle=False))
    assert len(got) == len(want)
    for (xg, yg), (xw, yw) in zip(got, want, strict=True):
        assert xg.dtype == xw.dtype and yg.dtype == yw.dtype
        assert torch.equal(xg, xw) and torch.equal(yg, yw)


def test_dataloader_on_randman_with_drop_last():
    ds = make_randman(n_classes=3, n_units=6, n_steps=20, spike_window=20,
                      samples_per_class=10, seed=0)[0]
    loader = DataLoader(ds, batch_size=7, drop_last=True, collate_fn=collate_time_major)
    want = list(ds.batches(7, shuffle=False, drop_last=True))
    got = list(loader)
    assert len(got) == len(want) > 0
    for (xg, yg), (xw, yw) in zip(got, want, strict=True):
        assert torch.equal(xg, xw) and torch.equal(yg, yw)


def test_collate_errors():
    with pytest.raises(SpikegradInputError, match="empty"):
        collate_time_major([])
    with pytest.raises(SpikegradInputError, match="pair"):
        collate_time_major([torch.zeros(3, 2)])
    with pytest.raises(SpikegradInputError, match=r"\[T, C\]"):
        collate_time_major([(torch.zeros(3), 0)])
    with pytest.raises(SpikegradInputError, match="same"):
        collate_time_major([(torch.zeros(3, 2), 0), (torch.zeros(4, 2), 1)])
    x, y = collate_time_major([(torch.ones(3, 2), 1), (torch.zeros(3, 2), torch.tensor(0))])
    assert x.shape == (3, 2, 2) and torch.equal(y, torch.tensor([1, 0]))
