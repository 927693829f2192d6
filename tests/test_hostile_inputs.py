"""Hostile and malformed input at the tensor / config / dataset entry points (issue 9, item 4).

Property-based (hypothesis) over shapes, dtypes, NaN / inf, empty and huge values. The
contract at every public boundary: a malformed input gives ONE clear error -- a
:class:`SpikegradInputError` (or ``TypeError`` for a wrong type) whose message names the
argument and the problem -- never another exception type, a hang or a silent wrong result;
a well-formed input gives a result of the documented shape and value range.

Examples are derandomised (the same on every run) and few, so the file runs in seconds.
"""

from __future__ import annotations

import math

import pytest
import torch

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from hostile_support import FAST, one_thread  # noqa: E402, F401
from spikegrad import SpikegradInputError, SpikingNetwork, make_surrogate  # noqa: E402
from spikegrad.data.randman import make_randman  # noqa: E402
from spikegrad.data.spikes import SpikeDataset  # noqa: E402
from spikegrad.functional.regularization import ActivityRegularizer  # noqa: E402
from spikegrad.functional.surrogate import SURROGATES, Surrogate  # noqa: E402
from spikegrad.learning.config import TrainConfig  # noqa: E402
from spikegrad.nn import LIFLayer  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")


def clear_error(fn, *names: str):
    """Call ``fn``; if it raises, the error must be clear: our type and naming one of ``names``.

    Returns ``(result, None)`` or ``(None, exc)``.
    """
    try:
        return fn(), None
    except (SpikegradInputError, TypeError) as exc:
        msg = str(exc)
        assert any(n in msg for n in names), f"error does not name {names}: {msg!r}"
        return None, exc


# ------------------------------------------------------------------------------- strategies
DTYPES = [
    torch.float32,
    torch.float64,
    torch.float16,
    torch.bfloat16,
    torch.int64,
    torch.uint8,
    torch.bool,
    torch.complex64,
]
FILLS = [0.0, 1.0, 0.5, -1.0, math.nan, math.inf, -math.inf, 1e30, -1e30, 1e-45, 3.0]


@st.composite
def tensors(draw, max_rank: int = 4, max_side: int = 4, features: int = 3):
    if draw(st.booleans()):  # near the expected [T, B, features]
        shape = [
            draw(st.integers(0, 3)),
            draw(st.integers(0, 3)),
            draw(st.sampled_from([features, features, 0, features + 1])),
        ]
    else:
        shape = draw(st.lists(st.integers(0, max_side), min_size=0, max_size=max_rank))
    dtype = draw(st.sampled_from(DTYPES))
    fill = draw(st.sampled_from(FILLS))
    x = torch.zeros(shape, dtype=torch.float64)
    if x.numel():
        # a random 0/1 pattern plus one hostile entry
        pattern = draw(st.lists(st.booleans(), min_size=x.numel(), max_size=x.numel()))
        x = torch.tensor(pattern, dtype=torch.float64).reshape(shape)
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = fill
    if not (dtype.is_floating_point or dtype.is_complex):
        x = torch.nan_to_num(x, nan=0.0, posinf=1.0, neginf=0.0).clamp(0, 1).round()
    return x.to(dtype)


def _well_formed(x: torch.Tensor, features: int) -> bool:
    return (
        x.dim() == 3
        and x.dtype == torch.float32
        and x.shape[-1] == features
        and x.shape[0] > 0
        and bool(torch.isfinite(x).all())
    )


# --------------------------------------------------------------------------- SpikingNetwork
_NETS: dict = {}


def _net(backend: str) -> SpikingNetwork:
    if backend not in _NETS:
        _NETS[backend] = SpikingNetwork(3, 2, (4,), seed=0, backend=backend)
    return _NETS[backend]


@FAST
@given(x=tensors(), backend=st.sampled_from(["auto", "fused", "reference"]))
def test_network_forward_hostile_tensors(x, backend):
    out, err = clear_error(lambda: _net(backend)(x), "x")
    if _well_formed(x, 3):
        assert err is None, f"well-formed input rejected: {err}"
    if err is None:
        assert _well_formed(x, 3), f"malformed input accepted: {x.dtype} {tuple(x.shape)}"
        t, b = x.shape[:2]
        assert out.readout.shape == (t, b, 2)
        assert out.readout.dtype == torch.float32
        assert bool(torch.isfinite(out.readout).all())
        s = out.spikes[0]
        assert s.shape == (t, b, 4) and bool(((s == 0) | (s == 1)).all())


@FAST
@given(x=tensors(), dtype=st.sampled_from([torch.float32, torch.float64]))
def test_network_forward_dtype_follows_the_module(x, dtype):
    """A float64 network takes float64 input; any other dtype is one clear TypeError."""
    net = SpikingNetwork(3, 2, (4,), seed=0).to(dtype)
    out, err = clear_error(lambda: net(x), "x")
    ok = (
        x.dim() == 3
        and x.dtype == dtype
        and x.shape[-1] == 3
        and x.shape[0] > 0
        and bool(torch.isfinite(x).all())
    )
    assert (err is None) == ok, (x.dtype, tuple(x.shape), err)
    if ok:
        assert out.readout.dtype == dtype


SIZES = st.one_of(
    st.integers(-3, 5),
    st.sampled_from([2.5, 3.0, math.nan, math.inf, "3", None, True, [3], 10**40]),
)


@FAST
@given(n_in=SIZES, n_out=SIZES, hidden=st.one_of(st.lists(SIZES, max_size=3), SIZES))
def test_network_constructor_sizes(n_in, n_out, hidden):
    """Sizes must be integers >= 1 (not bool, not float); never truncated silently."""

    def ok_size(v):
        return type(v) is int and 1 <= v <= 5

    net, err = clear_error(
        lambda: SpikingNetwork(n_in, n_out, hidden, seed=0),
        "n_inputs",
        "n_classes",
        "hidden",
        "in_features",
        "out_features",
    )
    valid = (
        ok_size(n_in)
        and ok_size(n_out)
        and isinstance(hidden, list)
        and len(hidden) > 0
        and all(ok_size(h) for h in hidden)
    )
    assert (err is None) == valid, (n_in, n_out, hidden, err)
    if valid:
        assert [layer.out_features for layer in net.layers] == hidden
        assert net.layers[0].in_features == n_in and net.readout.n_classes == n_out


@pytest.mark.parametrize("seed", ["x", 2.5, -1, 2**70, True, math.nan])
def test_network_seed(seed):
    with pytest.raises((SpikegradInputError, TypeError), match="seed"):
        SpikingNetwork(2, 2, (2,), seed=seed)


# --------------------------------------------------------------------------------- LIFLayer
@FAST
@given(
    x=tensors(),
    backend=st.sampled_from(["auto", "numba", "fused", "reference"]),
    recurrent=st.booleans(),
)
def test_lif_layer_hostile_tensors(x, backend, recurrent):
    layer = LIFLayer(3, 4, recurrent=recurrent, backend=backend)
    out, err = clear_error(lambda: layer(x), "x", "backend")
    ok = x.dim() == 3 and x.dtype == torch.float32 and x.shape[-1] == 3 and x.shape[0] > 0
    if err is not None and "backend" in str(err):
        assert backend == "numba" and recurrent  # numba is feed-forward only
        return
    assert (err is None) == ok, (x.dtype, tuple(x.shape), err)
    if ok:
        assert out.shape == (*x.shape[:2], 4) and bool(((out == 0) | (out == 1)).all())


@FAST
@given(
    kw=st.fixed_dictionaries(
        {},
        optional={
            "in_features": SIZES,
            "out_features": SIZES,
            "tau_mem": st.sampled_from([1e-2, 0.0, -1.0, math.nan, math.inf, "x", None, 1e300]),
            "tau_syn": st.sampled_from([5e-3, 0.0, math.nan, -math.inf, [1]]),
            "dt": st.sampled_from([1e-3, 0, math.nan, 1e-300]),
            "reset": st.sampled_from(["detach", "differentiable", "soft", None, 3]),
            "surrogate": st.sampled_from(["superspike", "nope", None, 3, "SIGMOID"]),
            "beta": st.sampled_from([10.0, -1.0, math.nan, math.inf, "x", None]),
            "backend": st.sampled_from(["auto", "fused", "gpu", None, ["auto"]]),
        },
    )
)
def test_lif_layer_constructor(kw):
    kw = {"in_features": 3, "out_features": 4, **kw}
    n_in, n_out = kw.pop("in_features"), kw.pop("out_features")
    layer, err = clear_error(
        lambda: LIFLayer(n_in, n_out, **kw),
        *kw,
        "in_features",
        "out_features",
        "surrogate",
        "reset",
        "backend",
    )
    if err is None:
        assert type(n_in) is int and type(n_out) is int
        assert layer.weight.shape == (n_out, n_in)
        assert bool(torch.isfinite(layer.weight).all())


# -------------------------------------------------------------------------------- surrogate
@FAST
@given(
    name=st.one_of(
        st.sampled_from(sorted(SURROGATES)),
        st.text(max_size=12),
        st.sampled_from([None, 3, 1.5, [], {}, b"superspike"]),
    ),
    beta=st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([None, "x", [1.0], 1j, -0.0, 0]),
    ),
)
def test_make_surrogate(name, beta):
    sur, err = clear_error(lambda: make_surrogate(name, beta), "surrogate", "beta")
    if err is None:
        assert isinstance(sur, Surrogate)
        assert math.isfinite(sur.beta) and sur.beta >= 0
        x = torch.linspace(-2, 2, 9, requires_grad=True)  # includes the threshold x = 0
        s = sur(x)
        assert bool(((s == 0) | (s == 1)).all())
        s.sum().backward()
        assert x.grad is not None and bool(torch.isfinite(x.grad).all())


# ----------------------------------------------------------------------- ActivityRegularizer
NUMBERS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([None, "1", [1.0], 0, 1, 2, 3]),
)


@FAST
@given(
    lower_strength=NUMBERS,
    lower_threshold=NUMBERS,
    upper_strength=NUMBERS,
    upper_threshold=NUMBERS,
    upper_norm=st.sampled_from([1, 2, 0, 3, "2", None, 1.5]),
)
def test_regularizer_settings(
    lower_strength, lower_threshold, upper_strength, upper_threshold, upper_norm
):
    kw = dict(
        lower_strength=lower_strength,
        lower_threshold=lower_threshold,
        upper_strength=upper_strength,
        upper_threshold=upper_threshold,
        upper_norm=upper_norm,
    )
    reg, err = clear_error(lambda: ActivityRegularizer(**kw), *kw)
    if err is None:
        for s in (torch.ones(4, 2, 3), torch.zeros(4, 2, 3)):
            loss = reg([s])  # may overflow to inf for huge settings, never NaN
            assert loss.shape == () and not bool(torch.isnan(loss))


@FAST
@given(
    spikes=st.one_of(
        st.lists(tensors(), max_size=3),
        tensors(),
        st.sampled_from([None, 3, "spikes", [[1.0]], ()]),
    )
)
def test_regularizer_call_hostile(spikes):
    reg = ActivityRegularizer(upper_strength=1.0)
    loss, err = clear_error(lambda: reg(spikes), "spikes")
    if err is None:
        assert isinstance(spikes, (list, tuple)) and len(spikes) > 0
        assert all(s.dim() == 3 and s.is_floating_point() for s in spikes)
        assert all(s.shape[1] > 0 and s.shape[2] > 0 for s in spikes)
        assert loss.shape == ()
        if all(bool((s.abs() <= 1e3).all()) for s in spikes):
            assert bool(torch.isfinite(loss))
        elif not all(bool(torch.isfinite(s).all()) for s in spikes):
            # NaN / inf spikes are never turned into a finite loss
            assert not bool(torch.isfinite(loss))
        # else: absurd finite counts (1e30) may overflow to inf, never NaN
        assert not bool(torch.isnan(loss)) or any(not bool(s.isfinite().all()) for s in spikes)


def test_regularizer_bare_tensor_is_not_read_as_a_list_of_layers():
    """A [T, B, N] tensor instead of a list would be iterated over time: a wrong loss."""
    reg = ActivityRegularizer()
    with pytest.raises(TypeError, match="spikes"):
        reg(torch.zeros(5, 2, 3))


# ------------------------------------------------------------------------- TrainConfig fuzz
CONFIG_FIELDS = list(TrainConfig.__dataclass_fields__)
HOSTILE_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.integers(-3, 300), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.sampled_from(["superspike", "detach", "max", "uniform", "randman", (64,), [10, 10]]),
)

#: Every field is validated now (the gaps the fuzz test found are fixed); kept empty so
#: a field can be excluded again while a gap is being fixed.
UNVALIDATED_FIELDS: set[str] = set()


def _check_config_call(d: dict) -> None:
    cfg, err = clear_error(lambda: TrainConfig.from_dict(d), *map(str, d), "config")
    if err is None:
        assert isinstance(cfg, TrainConfig)
        # the built config round-trips and can make its regulariser
        assert TrainConfig.from_dict(cfg.to_dict()) == cfg
        cfg.regularizer()


@settings(FAST, max_examples=150)
@given(
    d=st.dictionaries(
        st.sampled_from(sorted(set(CONFIG_FIELDS) - UNVALIDATED_FIELDS)),
        HOSTILE_VALUES,
        max_size=6,
    )
)
def test_train_config_fuzz(d):
    """Random values for every validated field: a valid config or one clear error naming it."""
    _check_config_call(d)


@FAST
@given(
    d=st.dictionaries(
        st.one_of(st.text(max_size=10), st.sampled_from(CONFIG_FIELDS)), HOSTILE_VALUES, max_size=4
    )
)
def test_train_config_fuzz_keys(d):
    """Unknown keys are named; known ones validated."""
    d = {k: v for k, v in d.items() if k not in UNVALIDATED_FIELDS}
    _check_config_call(d)


KNOWN_GAPS = [
    {"hidden": "abc"},
    {"hidden": [2.5]},
    {"hidden": [math.nan]},
    {"batch_size": "x"},
    {"batch_size": 2.5},
    {"batch_size": math.inf},
    {"eval_every": "x"},
    {"checkpoint_every": None},
    {"checkpoint_every": math.nan},
    {"patience": "3"},
    {"patience": math.nan},
    {"seed": "x"},
    {"seed": 2.5},
    {"dataset": None},
    {"dataset_options": 3},
    {"recurrent": "no"},
    {"learn_tau": "yes"},
]


@pytest.mark.parametrize("d", KNOWN_GAPS, ids=lambda d: f"{next(iter(d))}={d[next(iter(d))]!r}")
def test_train_config_known_gaps(d):
    field = next(iter(d))
    with pytest.raises((SpikegradInputError, TypeError), match=field):
        TrainConfig.from_dict(d)


def test_train_config_from_dict_rejects_non_dicts():
    for bad in (None, [("lr", 1.0)], 3):
        with pytest.raises((SpikegradInputError, TypeError)):
            TrainConfig.from_dict(bad)


# ----------------------------------------------------------------------------- SpikeDataset
INDEXES = st.one_of(
    st.lists(st.integers(-2, 6), max_size=6),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), min_size=1, max_size=3),
    st.sampled_from([None, "abc", 3, [[0]], [True], [2**64]]),
)


@FAST
@given(
    times=INDEXES,
    units=INDEXES,
    offsets=INDEXES,
    labels=INDEXES,
    n_steps=SIZES,
    n_units=SIZES,
)
def test_spike_dataset_constructor(times, units, offsets, labels, n_steps, n_units):
    kw = dict(times=times, units=units, offsets=offsets, labels=labels)
    ds, err = clear_error(
        lambda: SpikeDataset(times, units, offsets, labels, n_steps, n_units),
        *kw,
        "n_steps",
        "n_units",
        "n_classes",
        "dataset",
    )
    if err is None:
        x = ds.dense()
        assert x.shape == (n_steps, len(ds), n_units)
        assert int(x.sum()) == ds.spike_count() == len(times)


@FAST
@given(x=tensors(max_rank=4), labels=INDEXES)
def test_spike_dataset_from_dense(x, labels):
    ds, err = clear_error(lambda: SpikeDataset.from_dense(x, labels), "x", "labels", "n_")
    if err is None:
        assert x.dim() == 3 and not x.is_complex()
        assert torch.equal(ds.dense(dtype=torch.float64), x.permute(1, 0, 2).to(torch.float64))


@pytest.mark.parametrize(
    "kw",
    [
        {"n_steps": 10**40},
        {"n_steps": 2**63},
        {"n_units": 10**12},
        {"n_classes": 10**30},
        {"labels": [2**62]},
    ],
)
def test_spike_dataset_huge_sizes(kw):
    """Absurd sizes are refused up front, not as a torch overflow / allocation error later."""
    args = {"n_steps": 2, "n_units": 2, "labels": [0], **kw}
    with pytest.raises(SpikegradInputError, match="n_steps|n_units|n_classes"):
        SpikeDataset([0], [0], [0, 1], args.pop("labels"), **args)


@pytest.mark.parametrize("value", [1e30, 2.0**63, 1e19])
def test_spike_dataset_from_dense_huge_counts(value):
    with pytest.raises(SpikegradInputError, match="x"):
        SpikeDataset.from_dense(torch.full((1, 2, 2), value), [0])


@FAST
@given(
    idx=INDEXES,
    batch_size=SIZES,
    dtype=st.sampled_from([torch.float32, torch.bool, torch.int64, "float", None]),
)
def test_spike_dataset_indexing(idx, batch_size, dtype):
    ds = SpikeDataset.from_dense(torch.eye(3).reshape(3, 1, 3).repeat(1, 2, 1), [0, 1, 2])
    x, err = clear_error(lambda: ds.dense(idx, dtype=dtype), "idx", "dtype")
    if err is None:
        assert x.shape[1] == (3 if idx is None else len(idx))
    batches, err = clear_error(lambda: list(ds.batches(batch_size, shuffle=False)), "batch_size")
    if err is None:
        assert sum(len(y) for _, y in batches) == 3


# ---------------------------------------------------------------------------------- Randman
@settings(FAST, max_examples=25)
@given(
    kw=st.fixed_dictionaries(
        {},
        optional={
            "n_classes": SIZES,
            "n_units": SIZES,
            "dim": st.sampled_from([1, 2, 0, -1, 1.5, None]),
            "alpha": st.sampled_from([1.0, 2.0, 0.0, -1.0, math.nan, math.inf, 1e-300, "x"]),
            "spikes_per_unit": st.sampled_from([1, 2, 0, 2.0]),
            "seed": st.sampled_from([0, 1, -1, 2.5, None, "x", 2**70]),
            "spectrum": st.sampled_from(["paper", "torch", "x", None]),
            "spike_window": st.sampled_from([5, 10, 11, 0, 2.5]),
            "splits": st.sampled_from([(0.8, 0.1, 0.1), (1.0, 0.0, 0.0), (0.5, 0.5), "abc"]),
            "bogus": st.just(1),
        },
    )
)
def test_make_randman_small(kw):
    base = dict(n_steps=10, samples_per_class=10, spike_window=5, n_classes=2, n_units=3)
    kw = {**base, **kw}
    parts, err = clear_error(lambda: make_randman(**kw), *kw, "fractions", "part")
    if err is None:
        assert len(parts) == 3
        for ds in parts:
            assert ds.n_steps == 10 and ds.n_units == kw["n_units"]
            assert ds.dense().shape[1] == len(ds) > 0
