"""predict / evaluate / collate take the batch layout explicitly: a sample-major tensor is
never silently read as time-major (issue 27)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from spikegrad import SpikegradInputError, SpikingNetwork, evaluate, predict
from spikegrad.data import SpikeDataset, collate, collate_time_major, layout_of

pytestmark = pytest.mark.usefixtures("one_thread")


def _ds(n=5, t=60, c=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, t, c, generator=g) < 0.2).to(torch.float32)
    return SpikeDataset.from_dense(x, torch.arange(n) % 3, n_classes=3, name="toy"), x


def _net(c=40):
    net = SpikingNetwork(c, 3, hidden=(16,), seed=0)
    with torch.no_grad():
        net.layers[0].weight.mul_(4)  # some hidden activity, so predictions differ
    return net.eval()


def test_sample_major_tensor_without_layout_is_refused_in_one_line():
    net = _net()
    _, x = _ds()  # [5, 60, 40]: 5 samples of 60 steps, as a default DataLoader stacks them
    with pytest.raises(SpikegradInputError) as e:
        predict(net, x)
    msg = str(e.value)
    assert "layout='sample-major'" in msg and "layout='time-major'" in msg
    assert "5 samples" in msg and "60 samples" in msg and "\n" not in msg
    with pytest.raises(SpikegradInputError, match="layout"):
        evaluate(net, (x, torch.arange(5) % 3))


def test_sample_major_layout_gives_one_prediction_per_sample():
    net = _net()
    ds, x = _ds()
    want = predict(net, ds)  # the dataset path, in order
    assert want.shape == (5,)
    got = predict(net, x, layout="sample-major")
    assert torch.equal(got, want)
    assert torch.equal(predict(net, x.transpose(0, 1), layout="time-major"), want)
    # numpy arrays where tensors are accepted, either layout
    assert torch.equal(predict(net, x.numpy(), layout="sample-major"), want)
    assert torch.equal(predict(net, np.ascontiguousarray(x.numpy().transpose(1, 0, 2)),
                               layout="time-major"), want)  # fmt: skip
    # the model's n_inputs is checked after the layout
    with pytest.raises(SpikegradInputError, match="n_inputs=40"):
        predict(net, x[:, :, :39], layout="sample-major")
    with pytest.raises(SpikegradInputError, match="layout must be one of"):
        predict(net, x, layout="batch-first")
    with pytest.raises(SpikegradInputError, match="must be 3-D"):
        predict(net, x[0], layout="sample-major")


def test_recorded_layouts_need_no_argument_and_cannot_be_contradicted():
    net = _net()
    ds, x = _ds()
    want = predict(net, ds)
    xb, _ = next(iter(ds.batches(5, shuffle=False)))
    assert layout_of(xb) == "time-major" and layout_of(xb.clone()) is None
    assert torch.equal(predict(net, xb), want)
    with pytest.raises(SpikegradInputError, match="built time-major .* layout='sample-major'"):
        predict(net, xb, layout="sample-major")
    # a default DataLoader: sample-major [B, T, C] without a record -> refused
    xd, _ = next(iter(DataLoader(ds, batch_size=5)))
    assert xd.shape == (5, 60, 40) and layout_of(xd) is None
    with pytest.raises(SpikegradInputError, match="cannot tell the layout"):
        predict(net, xd)
    # collate with an explicit layout records it
    for layout in ("sample-major", "time-major"):
        loader = DataLoader(ds, batch_size=5, collate_fn=functools.partial(collate, layout=layout))
        xl, yl = next(iter(loader))
        assert layout_of(xl) == layout
        assert xl.shape == ((5, 60, 40) if layout == "sample-major" else (60, 5, 40))
        assert torch.equal(predict(net, xl), want)
        assert torch.equal(yl, ds.labels)


def test_collate_layouts_stack_the_same_samples():
    ds, x = _ds(n=4, t=6, c=3)
    items = [ds[i] for i in range(4)]
    tm, y = collate_time_major(items)
    sm, y2 = collate(items, layout="sample-major")
    assert torch.equal(sm, x) and torch.equal(tm, x.transpose(0, 1)) and torch.equal(y, y2)
    assert layout_of(tm) == "time-major" and layout_of(sm) == "sample-major"
    with pytest.raises(SpikegradInputError, match="layout must be one of"):
        collate(items, layout="time")


def test_evaluate_accepts_tensor_and_numpy_pairs_with_a_layout():
    net = _net()
    ds, x = _ds()
    want = evaluate(net, ds)
    y = (torch.arange(5) % 3)
    for got in (
        evaluate(net, (x, y), layout="sample-major"),
        evaluate(net, (x.numpy(), y.numpy()), layout="sample-major"),
        evaluate(net, (x.transpose(0, 1), y), layout="time-major"),
    ):
        assert got == pytest.approx(want, rel=0, abs=0)
    with pytest.raises(SpikegradInputError, match="4 entries for 5 samples"):
        evaluate(net, (x, y[:4]), layout="sample-major")
    with pytest.raises(SpikegradInputError, match="layout applies to"):
        evaluate(net, ds, layout="time-major")
