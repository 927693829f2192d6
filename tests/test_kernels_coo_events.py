"""Kernel events built from a SpikeDataset's stored events instead of a dense scan.

:meth:`SpikeDataset.dense` attaches :func:`events_from_coo` events to the batch; they
must hold, row by row, exactly what :func:`build_events` finds by scanning the same
tensor (channels ascending, repeated events merged into their count), so a numba
network computes bitwise the same spikes and gradients with or without them, and an
in-place change of the batch must make the kernels scan again.
"""

import gc
import itertools

import numpy as np
import pytest
import torch

pytest.importorskip("numba")

from spikegrad import SpikegradInputError  # noqa: E402
from spikegrad.data import SpikeDataset  # noqa: E402
from spikegrad.kernels import _coo_events as C  # noqa: E402
from spikegrad.kernels import lif_numba as L  # noqa: E402
from spikegrad.nn import SpikingNetwork  # noqa: E402

DTYPES = (torch.float32, torch.float64)


def _rows(ev: L.Events, R: int) -> list[tuple[list[int], list[float]]]:
    """Per-row content (channels, values) of ``ev``, in row order."""
    assert ev.start.shape == ev.count.shape == (R,)
    out = []
    for r in range(R):
        s, n = int(ev.start[r]), int(ev.count[r])
        out.append((ev.idx[s : s + n].tolist(), ev.val[s : s + n].tolist()))
    return out


def _assert_same_events(a: L.Events, b: L.Events, R: int) -> None:
    assert a.idx.dtype == b.idx.dtype == np.int32
    assert a.val.dtype == b.val.dtype
    assert a.density == b.density
    assert _rows(a, R) == _rows(b, R)


def _dataset(seed: int, T=12, C=40, N=9, per_sample=(0, 3, 25, 0, 60, 1, 7, 0, 30)):
    """Events in random order per sample, many repeated (t, u) bins, empty samples,
    and one burst of 45 events in one step of sample 4 (longer than insertion sort)."""
    g = torch.Generator().manual_seed(seed)
    times, units = [], []
    for n, k in enumerate(per_sample[:N]):
        t = torch.randint(0, T, (k,), generator=g)
        u = torch.randint(0, C // 4 if n % 2 else C, (k,), generator=g)  # odd: many repeats
        if n == 4:
            t[:45] = 5
            u[:45] = torch.randint(0, 20, (45,), generator=g)
        times.append(t)
        units.append(u)
    lengths = torch.tensor([len(t) for t in times])
    offsets = torch.zeros(N + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(lengths, 0)
    labels = torch.arange(N) % 3
    return SpikeDataset(torch.cat(times), torch.cat(units), offsets, labels, T, C)


def _scan(x: torch.Tensor) -> L.Events:
    """What the kernels find by scanning ``x`` (attribute removed, on a copy)."""
    y = x.clone()
    assert L.get_events(y) is None
    return L.build_events(y, None)


def test_repeated_events_merge_into_counts_by_hand():
    # sample 0 at step 0: units 3, 1, 3 -> row 0 holds channel 1 (1 event), 3 (2 events);
    # sample 1 at step 1: unit 0 -> row 1 * B + 1 = 3; rows 1 and 2 are empty
    ev = C.events_from_coo([0, 0, 0, 1], [0, 0, 0, 1], [3, 1, 3, 0], T=2, B=2, K=4)
    assert _rows(ev, 4) == [([1, 3], [1.0, 2.0]), ([], []), ([], []), ([0], [1.0])]
    assert ev.density == 3 / 16
    assert ev.val.dtype == np.float32 and ev.version == -1


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_batches_carry_the_events_a_scan_finds(dtype, seed):
    ds = _dataset(seed)
    g = torch.Generator().manual_seed(100 + seed)
    batches = [torch.arange(len(ds)), torch.randperm(len(ds), generator=g)[:5],
               torch.tensor([4, 4, 0, 3]), torch.tensor([0, 3, 7])]  # fmt: skip
    for idx in batches:
        x = ds.dense(idx, dtype=dtype)
        ev = L.get_events(x)
        assert ev.version == x._version
        assert L.build_events(x, None) is ev  # used as they are, no scan
        T, B, K = x.shape
        _assert_same_events(ev, _scan(x), T * B)
    # a batch of empty samples only: no events in any row
    x = ds.dense([0, 3, 7], dtype=dtype)
    assert L.get_events(x).count.sum() == 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_events_from_coo_equal_the_scan_of_dense_random_triplets(dtype):
    # dense rows (up to K events, far above the threshold) in random triplet order
    g = np.random.default_rng(3)
    T, B, K = 7, 5, 90
    E = 2000
    t, b, u = g.integers(0, T, E), g.integers(0, B, E), g.integers(0, K, E)
    x = torch.zeros(T, B, K, dtype=dtype)
    x.index_put_(tuple(torch.from_numpy(a) for a in (t, b, u)), torch.ones(E, dtype=dtype),
                 accumulate=True)  # fmt: skip
    ev = C.events_from_coo(torch.from_numpy(t), b, u, T, B, K, dtype)
    assert ev.count.max() > C._INSERTION_MAX
    _assert_same_events(ev, _scan(x), T * B)


def test_out_of_range_and_mismatched_triplets_raise():
    with pytest.raises(SpikegradInputError, match=r"event 1 = \(t=0, b=2, u=0\)"):
        C.events_from_coo([0, 0], [0, 2], [0, 0], T=1, B=2, K=3)
    with pytest.raises(SpikegradInputError, match="one entry per event"):
        C.events_from_coo([0, 0], [0], [0, 0], T=1, B=2, K=3)
    with pytest.raises(SpikegradInputError, match="float32 or float64"):
        C.events_from_coo([0], [0], [0], T=1, B=1, K=1, dtype=torch.int64)
    with pytest.raises(SpikegradInputError, match="float32 or float64"):
        C.events_from_coo([0], [0], [0], T=1, B=1, K=1, dtype=None)
    ev = C.events_from_coo([0], [0], [0], T=1, B=1, K=1, dtype=np.float64)
    assert ev.val.dtype == np.float64


def test_bool_dense_and_too_dense_batches_carry_no_events(monkeypatch):
    ds = _dataset(0)
    x = ds.dense(kernel_events=False)
    assert L.get_events(x) is None
    assert torch.equal(x, ds.dense())
    assert L.get_events(ds.dense(dtype=torch.bool)) is None
    assert L.get_events(ds.dense(dtype=torch.float16)) is None
    monkeypatch.setattr(C, "DENSITY_THRESHOLD", 0.0)
    assert L.get_events(ds.dense()) is None
    monkeypatch.setattr(C, "_HAVE_NUMBA", False)
    assert C.events_from_coo([0], [0], [0], 1, 1, 1) is None


def _net(dtype=torch.float32, **kw) -> SpikingNetwork:
    """A network whose layers spike on these sparse inputs (weights scaled up)."""
    net = SpikingNetwork(40, 3, kw.pop("hidden", (16, 8)), backend="auto", seed=0, **kw)
    with torch.no_grad():
        net.layers[0].weight.mul_(30)
        net.layers[1].weight.mul_(10)
    return net.to(dtype)


def _step(net: SpikingNetwork, x: torch.Tensor):
    out = net(x)
    T, B, O = out[0].shape
    w = torch.linspace(-1, 1, T * B * O, dtype=x.dtype).view(T, B, O)
    loss = (out[0] * w).sum() + 0.1 * (out[1][0].sum(0) ** 2).sum()
    grads = torch.autograd.grad(loss, list(net.parameters()))
    return [s.detach() for s in out[1]] + [out[0].detach(), *grads]


def _scans(monkeypatch) -> list[int]:
    """Count the kernels' dense scans of ``[T, B, K]`` inputs."""
    calls = []
    scan = L._scan_events

    def counted(x2, *args):
        calls.append(x2.shape)
        return scan(x2, *args)

    monkeypatch.setattr(L, "_scan_events", counted)
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("recurrent", [False, True])
def test_training_step_is_bitwise_the_same_with_attached_events(monkeypatch, dtype, recurrent):
    ds = _dataset(5, T=20, C=40)
    net = _net(dtype, recurrent=recurrent)
    x = ds.dense([1, 2, 4, 5, 6, 8], dtype=dtype)
    plain = x.clone()
    scans = _scans(monkeypatch)
    a = _step(net, x)
    assert not scans  # the first layer took the attached events (hidden spikes carry theirs)
    b = _step(net, plain)
    assert scans and scans[0] == (20 * 6, 40)  # the copy was scanned
    assert a[0].sum() > 0 and a[1].sum() > 0  # spikes in both layers: the test has content
    for p, q in zip(a, b, strict=True):
        assert torch.equal(p, q)


def test_attached_events_are_what_the_kernels_read():
    # guard against a vacuous equality test: events for another tensor change the result
    ds = _dataset(5, T=20, C=40)
    net = _net()
    x = ds.dense([1, 2, 4, 5, 6, 8])
    other = ds.dense([8, 6, 5, 4, 2, 1])
    C.attach_events(x, L.get_events(other))
    assert torch.equal(_step(net, x)[0], _step(net, other.clone())[0])
    assert not torch.equal(_step(net, x)[0], _step(net, x.clone())[0])


def test_in_place_change_expires_the_events(monkeypatch):
    ds = _dataset(6, T=20, C=40)
    net = _net()
    x = ds.dense([0, 1, 2, 4])
    x[0, 0, 0] += 1
    x.view(-1)[5] += 2  # through a view: shares the version counter
    scans = _scans(monkeypatch)
    ev = L.build_events(x, None)
    assert scans  # scanned again
    row0 = ev.idx[ev.start[0] : ev.start[0] + ev.count[0]].tolist()
    assert 0 in row0 and 5 in row0  # the edits, which the stale events do not hold
    _assert_same_events(ev, _scan(x), 20 * 4)
    for p, q in zip(_step(net, x), _step(net, x.clone()), strict=True):
        assert torch.equal(p, q)


def test_batches_with_events_save_and_load_as_plain_tensors(tmp_path):
    """The events live beside the tensor: torch.save / weights_only load see a plain one."""
    x = _dataset(0).dense()
    assert L.get_events(x) is not None
    torch.save({"x": x}, tmp_path / "b.pt")
    y = torch.load(tmp_path / "b.pt", weights_only=True)["x"]
    assert torch.equal(x, y) and L.get_events(y) is None


def test_registry_entry_goes_with_its_tensor():
    x = _dataset(0).dense()
    key = id(x)
    assert key in L._EVENTS
    del x
    gc.collect()
    assert key not in L._EVENTS


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kernel_events", [True, False])
def test_dense_from_events_equals_counting_the_triplets(dtype, kernel_events):
    """The compiled fill against an independent count of every stored triplet (repeats
    add up), for every sample order: no bin missed, none left over from a recycled
    buffer."""
    for ds, idx in itertools.product(
        (_dataset(1), _dataset(2, T=100, C=700)),  # the second: 2.5 MB, pooled memory
        (None, [4, 0, 4, 8], [3]),
    ):
        order = range(len(ds)) if idx is None else idx
        x = ds.dense(idx, dtype=dtype, kernel_events=kernel_events)
        ref = torch.zeros(ds.n_steps, len(order), ds.n_units, dtype=dtype)
        for j, n in enumerate(order):
            for e in range(int(ds.offsets[n]), int(ds.offsets[n + 1])):
                ref[ds.times[e], j, ds.units[e]] += 1
        assert ref.sum() > 0 or idx == [3]
        assert x.dtype == dtype and torch.equal(x, ref)
        assert (L.get_events(x) is not None) == kernel_events
        x.fill_(7.0)  # its recycled memory must not leak into the next batch
        del x
