"""Tests for the Randman generator ``spikegrad.data.randman`` (PAPERS.md section 2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.randman import (
    RandmanConfig,
    RandmanManifold,
    make_randman,
    make_randman_dataset,
    randman_manifold,
    randman_n_terms,
    randman_spike_times,
)
from spikegrad.data.spikes import SpikeDataset

SMALL = dict(n_classes=3, n_units=6, samples_per_class=60, seed=7)


def _per_sample_unit_counts(ds: SpikeDataset) -> torch.Tensor:
    return ds.dense(dtype=torch.int64).sum(0)  # [N, C]


# ---------------------------------------------------------------------------- manifold


@pytest.mark.parametrize(
    "alpha,expected", [(0.25, 1000), (0.5, 1000), (1.0, 1000), (2.0, 32), (3.0, 10)]
)
def test_number_of_terms(alpha, expected):
    assert randman_n_terms(alpha) == expected
    assert RandmanConfig(alpha=alpha).n_terms == expected
    m = randman_manifold(2, 1, alpha, generator=torch.Generator().manual_seed(0))
    assert m.n_terms == expected and m.amplitude.shape == (2, 1, expected)


def test_parameters_drawn_from_generator_with_paper_spectrum():
    m = randman_manifold(4, 2, 2.0, generator=torch.Generator().manual_seed(11))
    theta = torch.rand(
        4, 2, 3, 32, generator=torch.Generator().manual_seed(11), dtype=torch.float64
    )
    assert torch.equal(m.amplitude, theta[:, :, 0])
    assert torch.equal(m.frequency, theta[:, :, 1])
    assert torch.equal(m.phase, theta[:, :, 2])
    k = torch.arange(1, 33, dtype=torch.float64)
    assert torch.equal(m.k, k)
    assert torch.allclose(m.weights, k**-2.0)


def _reference(m: RandmanManifold, x: torch.Tensor) -> torch.Tensor:
    """Loop-by-loop evaluation of y_m = prod_d sum_k A s_k sin(2 pi (k x_d B + C))."""
    n, d_dim = x.shape
    y = torch.ones(n, m.n_units, dtype=torch.float64)
    for mm in range(m.n_units):
        for d in range(d_dim):
            f = torch.zeros(n, dtype=torch.float64)
            for k in range(m.n_terms):
                f += (
                    m.amplitude[mm, d, k]
                    * m.weights[k]
                    * torch.sin(
                        2 * math.pi * (m.k[k] * x[:, d] * m.frequency[mm, d, k] + m.phase[mm, d, k])
                    )
                )
            y[:, mm] *= f
    return y


@pytest.mark.parametrize("spectrum", ["paper", "torch"])
def test_manifold_matches_definition(spectrum):
    g = torch.Generator().manual_seed(2)
    m = randman_manifold(3, 2, 3.0, generator=g, spectrum=spectrum)
    x = torch.rand(17, 2, generator=g, dtype=torch.float64)
    y = m(x)
    assert y.shape == (17, 3) and y.dtype == torch.float64
    assert torch.allclose(y, _reference(m, x), rtol=1e-10, atol=1e-12)


def test_product_over_dimensions():
    g = torch.Generator().manual_seed(5)
    m2 = randman_manifold(5, 2, 1.5, generator=g)
    x = torch.rand(40, 2, generator=g, dtype=torch.float64)
    factors = []
    for d in range(2):
        sl = slice(d, d + 1)
        m1 = RandmanManifold(
            m2.amplitude[:, sl], m2.frequency[:, sl], m2.phase[:, sl], m2.k, m2.weights
        )
        factors.append(m1(x[:, sl]))
    assert torch.allclose(m2(x), factors[0] * factors[1], rtol=1e-12, atol=1e-14)
    assert torch.allclose(m2.factors(x).prod(-1), m2(x))
    # a sum over d would be a different function
    assert not torch.allclose(m2(x), factors[0] + factors[1])


def test_chunked_evaluation_matches_single_pass():
    g = torch.Generator().manual_seed(9)
    m = randman_manifold(20, 1, 1.0, generator=g)  # F = 1000 -> chunks of 209 samples
    x = torch.rand(500, 1, generator=g, dtype=torch.float64)
    whole = torch.cat([m(x[i : i + 1]) for i in range(0, 500, 50)])
    assert torch.allclose(m(x)[::50], whole, rtol=1e-12, atol=1e-14)


def test_torch_spectrum_has_no_constant_term():
    g = torch.Generator().manual_seed(4)
    m = randman_manifold(4, 1, 1.0, generator=g, spectrum="torch")
    assert m.k[0] == 0 and m.k[-1] == 999
    assert torch.all(m.amplitude[:, :, 0] == 0)
    assert torch.all(m.amplitude[:, :, 1:] > 0)
    kk = torch.arange(1000, dtype=torch.float64)
    assert torch.allclose(m.weights, 1.0 / ((kk + 1) ** 1.0 + 1.0))
    # the k = 0 term, A sin(2 pi C), would be constant in x; its phase must not matter
    x = torch.rand(30, 1, generator=g, dtype=torch.float64)
    phase = m.phase.clone()
    phase[:, :, 0] = torch.rand(4, 1, generator=g, dtype=torch.float64)
    m_other = RandmanManifold(m.amplitude, m.frequency, phase, m.k, m.weights, "torch")
    assert torch.equal(m(x), m_other(x))
    # the paper spectrum starts at k = 1 (no constant term either)
    assert randman_manifold(2, 1, 1.0, generator=g).k[0] == 1


def test_coordinate_sorted_neighbours_are_close_in_time():
    g = torch.Generator().manual_seed(0)
    m = randman_manifold(20, 1, 1.0, generator=g)
    x = torch.rand(1000, 1, generator=g, dtype=torch.float64).sort(0).values
    t = randman_spike_times([m], x, 50)[:, 0].double()  # [n, M]
    neighbours = (t[1:] - t[:-1]).abs().mean()
    perm = torch.randperm(1000, generator=g)
    random_pairs = (t - t[perm]).abs().mean()
    assert neighbours < 0.25 * random_pairs


def test_spike_times_span_window_per_manifold():
    g = torch.Generator().manual_seed(1)
    ms = [randman_manifold(8, 1, 1.0, generator=g) for _ in range(2)]
    x = torch.rand(100, 1, generator=g, dtype=torch.float64)
    t = randman_spike_times(ms, x, 50)
    assert t.shape == (100, 2, 8) and t.dtype == torch.int64
    assert torch.all(t.min(0).values == 0) and torch.all(t.max(0).values == 49)


# ----------------------------------------------------------------------------- dataset


@pytest.mark.parametrize("spikes", [1, 3])
def test_every_unit_fires_exactly_spikes_per_unit_times(spikes):
    ds = make_randman_dataset(spikes_per_unit=spikes, **SMALL)
    assert len(ds) == 3 * 60 and ds.n_units == 6 and ds.n_steps == 100
    assert torch.all(_per_sample_unit_counts(ds) == spikes)
    assert torch.all(ds.counts_per_sample() == spikes * 6)


@pytest.mark.parametrize("spikes,dim", [(1, 1), (3, 1), (1, 2)])
def test_per_class_and_unit_spikes_span_0_to_49(spikes, dim):
    ds = make_randman_dataset(spikes_per_unit=spikes, dim=dim, **SMALL)
    x = ds.dense(dtype=torch.int64)  # [T, N, C]
    steps = torch.arange(ds.n_steps)[:, None, None]
    active = x > 0
    first = torch.where(active, steps, 10**6).amin(0)  # [N, C]
    last = torch.where(active, steps, -1).amax(0)
    for k in range(ds.n_classes):
        sel = ds.labels == k
        assert torch.all(first[sel].amin(0) == 0)
        assert torch.all(last[sel].amax(0) == 49)
    assert not bool(x[50:].any())  # nothing outside the spike window


def test_events_sorted_by_time_within_each_sample():
    ds = make_randman_dataset(**SMALL)
    t = ds.times.reshape(len(ds), -1)
    assert torch.all(t[:, 1:] >= t[:, :-1])


def test_classes_differ():
    ds = make_randman_dataset(n_classes=2, n_units=6, samples_per_class=200, seed=3)
    x = ds.dense()
    mean0 = x[:, ds.labels == 0].mean(1)
    mean1 = x[:, ds.labels == 1].mean(1)
    assert (mean0 - mean1).abs().sum() > 0.5


def test_same_seed_byte_identical_other_seed_different():
    a = make_randman_dataset(**SMALL)
    b = make_randman_dataset(**SMALL)
    for name in ("times", "units", "offsets", "labels"):
        ta, tb = getattr(a, name), getattr(b, name)
        assert ta.dtype == tb.dtype
        assert ta.numpy().tobytes() == tb.numpy().tobytes()
    c = make_randman_dataset(**{**SMALL, "seed": 8})
    assert not torch.equal(a.dense(), c.dense())
    assert not torch.equal(a.labels, c.labels)
    # splits are reproducible too
    for p, q in zip(make_randman(**SMALL), make_randman(**SMALL), strict=True):
        assert torch.equal(p.dense(), q.dense()) and torch.equal(p.labels, q.labels)


def test_global_rng_untouched_and_irrelevant():
    torch.manual_seed(123)
    np.random.seed(123)  # noqa: NPY002
    state = torch.get_rng_state()
    np_state = np.random.get_state()  # noqa: NPY002
    first = make_randman(**SMALL)
    assert torch.equal(torch.get_rng_state(), state)
    np_after = np.random.get_state()  # noqa: NPY002
    assert np_state[0] == np_after[0] and np.array_equal(np_state[1], np_after[1])
    assert np_state[2:] == np_after[2:]
    torch.manual_seed(999)  # another global seed gives the same data
    second = make_randman(**SMALL)
    for p, q in zip(first, second, strict=True):
        assert torch.equal(p.dense(), q.dense())


def test_stratified_split_sizes_small():
    cfg = RandmanConfig(n_classes=4, n_units=5, samples_per_class=100, alpha=2.0, seed=1)
    full = make_randman_dataset(cfg)
    train, val, test = make_randman(cfg)
    for part, per_class in ((train, 80), (val, 10), (test, 10)):
        assert torch.equal(part.class_counts(), torch.full((4,), per_class))
        assert part.n_classes == 4 and part.n_steps == 100

    # the three parts partition the full dataset (compare samples as spike patterns)
    def keys(ds):
        return sorted(map(tuple, ds.dense().permute(1, 0, 2).reshape(len(ds), -1).tolist()))

    assert keys(full) == sorted(keys(train) + keys(val) + keys(test))
    assert train.name.endswith("/train") and "spectrum=paper" in train.name


def test_paper_default_size():
    train, val, test = make_randman()
    assert (len(train), len(val), len(test)) == (8000, 1000, 1000)
    assert torch.equal(train.class_counts(), torch.full((10,), 800))
    assert torch.equal(val.class_counts(), torch.full((10,), 100))
    assert torch.equal(test.class_counts(), torch.full((10,), 100))
    assert train.n_units == 20 and train.n_steps == 100
    assert torch.all(train.counts_per_sample() == 20)


def test_torch_spectrum_dataset():
    ds = make_randman_dataset(spectrum="torch", **SMALL)
    assert torch.all(_per_sample_unit_counts(ds) == 1)
    assert "spectrum=torch" in ds.name
    assert not torch.equal(ds.dense(), make_randman_dataset(**SMALL).dense())


BAD_CONFIGS = [
    ("n_classes", dict(n_classes=0)),
    ("n_units", dict(n_units=0)),
    ("n_steps", dict(n_steps=-3)),
    ("dim", dict(dim=1.5)),
    ("spikes_per_unit", dict(spikes_per_unit=0)),
    ("samples_per_class", dict(samples_per_class=0)),
    ("spike_window", dict(spike_window=0)),
    ("spike_window", dict(spike_window=101)),
    ("alpha", dict(alpha=0.0)),
    ("alpha", dict(alpha=-1.0)),
    ("alpha", dict(alpha=float("nan"))),
    ("'paper', 'torch'", dict(spectrum="numpy")),
    ("splits", dict(splits=(0.5, 0.2, 0.2))),
    ("splits", dict(splits=(0.5, 0.5))),
    ("splits", dict(splits=(1.1, -0.1, 0.0))),
    ("seed", dict(seed=-1)),
    ("seed", dict(seed=True)),
    ("prec", dict(prec=2.0)),
    ("valid fields", dict(n_unit=3)),
]


@pytest.mark.parametrize(
    "name,kw", BAD_CONFIGS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(BAD_CONFIGS)]
)
def test_bad_config_raises_with_argument_name(name, kw):
    with pytest.raises(SpikegradInputError, match=name):
        make_randman(**kw)


def test_bad_config_object_and_manifold_arguments():
    with pytest.raises(SpikegradInputError, match="n_units"):
        RandmanConfig(n_units=0)
    with pytest.raises(SpikegradInputError, match="config"):
        make_randman_dataset(config={"n_units": 3})
    g = torch.Generator().manual_seed(0)
    with pytest.raises(SpikegradInputError, match="generator"):
        randman_manifold(3, 1, 1.0, generator=None)
    with pytest.raises(SpikegradInputError, match="valid spectra"):
        randman_manifold(3, 1, 1.0, generator=g, spectrum="exact")
    with pytest.raises(SpikegradInputError, match="dim"):
        randman_manifold(3, 0, 1.0, generator=g)
    with pytest.raises(SpikegradInputError, match="x"):
        randman_manifold(3, 2, 1.0, generator=g)(torch.rand(5, 1, generator=g))
    with pytest.raises(SpikegradInputError, match="spike_window"):
        randman_spike_times(
            [randman_manifold(3, 1, 1.0, generator=g)], torch.rand(5, 1, generator=g), 0
        )


def _spike_time_matrix(ds):
    """[N, units] first-spike bin per unit (1 spike per unit) and labels."""
    x = ds.dense(list(range(len(ds))))  # [T, N, C]
    t = torch.arange(x.shape[0], dtype=torch.float64)[:, None, None]
    return (x.double() * t).sum(0), ds.labels


def _nn_accuracy(train, test):
    a, ya = _spike_time_matrix(train)
    b, yb = _spike_time_matrix(test)
    nearest = torch.cdist(b, a).argmin(1)
    return float((ya[nearest] == yb).double().mean())


def test_sample_seed_gives_more_samples_of_the_same_task():
    """Same manifolds (seed), fresh samples (sample_seed): a 1-NN fitted on the original
    samples classifies the new ones; on another seed's task it is at chance."""
    base = make_randman_dataset(**SMALL)
    more = make_randman_dataset(**SMALL, sample_seed=123)
    other = make_randman_dataset(**{**SMALL, "seed": 8})
    assert "sample_seed=123" in more.name
    assert not torch.equal(_spike_time_matrix(base)[0], _spike_time_matrix(more)[0])
    same, diff = _nn_accuracy(base, more), _nn_accuracy(base, other)
    assert same >= 0.9, same  # measured 0.956
    assert diff <= 0.6, diff  # chance 1/3
    # sample_seed=None is the old generation, bit for bit
    again = make_randman_dataset(**SMALL, sample_seed=None)
    assert torch.equal(again.times, base.times) and torch.equal(again.labels, base.labels)
