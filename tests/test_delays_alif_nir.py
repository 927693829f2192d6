"""Issue 29: learnable per-synapse delays in ALIF layers and networks, rounding, NIR export
of learned delays (read back by spikegrad and by nirtorch + Norse), spike augmentation and
the spoken-digit data options."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.data.augment import Augment, AugmentedDataset, augment_batch
from spikegrad.data.spikes import SpikeDataset
from spikegrad.functional.delay import delay_channels
from spikegrad.nn import SpikingNetwork
from spikegrad.nn.alif import ALIFLayer, ALIFNetwork
from spikegrad.nn.delay import Delay, DelayedLinear, round_delays

F64 = torch.float64
pytestmark = pytest.mark.usefixtures("one_thread")


def _spikes(T=30, B=2, N=4, p=0.2, seed=0, dtype=F64):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, N, generator=g) < p).to(dtype)


def _loop_reference(x, w, d_steps):
    """I[n, b, o] = sum_i w_oi x[n - d_oi, b, i] for integer delays, by explicit loops."""
    T, B, _ = x.shape
    out = torch.zeros(T, B, w.shape[0], dtype=x.dtype)
    for o in range(w.shape[0]):
        for i in range(w.shape[1]):
            k = int(d_steps[o, i])
            out[k:, :, o] += w[o, i] * x[: T - k, :, i]
    return out


# ----------------------------------------------------------------------------- ALIF + delays


@pytest.mark.parametrize("mode", ["linear", "gaussian"])
def test_alif_with_delayed_projection_fused_matches_reference(mode):
    """ALIF layer (adaptation on, recurrent) with a learnable DelayedLinear projection:
    the fused backend and the step-by-step reference agree per element in the spikes
    and in the gradients of weights, delays and recurrent weights (float64)."""
    x = _spikes(T=50, B=3, N=5, p=0.3, seed=11)
    got = []
    for backend in ("auto", "reference"):
        g = torch.Generator().manual_seed(1)
        proj = DelayedLinear(5, 4, 6e-3, mode=mode, sigma=1.5e-3, generator=g).double()
        with torch.no_grad():
            proj.weight.mul_(5.0)
        layer = ALIFLayer(
            5, 4, recurrent=True, adapt=0.5, tau_adapt=20e-3, backend=backend,
            projection=proj, generator=g,
        ).double()  # fmt: skip
        s = layer(x)
        probe = torch.linspace(-1, 1, s.numel(), dtype=F64).reshape(s.shape)
        (s * probe).sum().backward()
        got.append((s, proj.weight.grad, proj.delays.grad, layer.rec_weight.grad))
    spikes = got[0][0]
    assert spikes.sum() > 20 and got[0][2].abs().sum() > 0
    for a, b in zip(*got, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_delayed_linear_gradients_in_seconds_match_finite_differences():
    """Delays in seconds (dt = 0.5 ms): d loss / d delay of the linear and Gaussian taps
    against float64 central differences, through a leaky (smooth) synaptic filter."""
    x = _spikes(T=30, B=2, N=3, seed=3)
    for mode in ("linear", "gaussian"):
        proj = DelayedLinear(3, 2, 3e-3, dt=0.5e-3, mode=mode, sigma=0.75e-3,
                             init=torch.tensor([[0.4e-3, 1.3e-3, 2.2e-3],
                                                [0.9e-3, 0.1e-3, 2.6e-3]]),
                             generator=torch.Generator().manual_seed(2)).double()  # fmt: skip
        probe = torch.randn(30, 2, 2, dtype=F64, generator=torch.Generator().manual_seed(4))

        def loss(d, proj=proj, probe=probe):
            proj.delays.data = d
            cur = proj(x)
            i, out = torch.zeros_like(cur[0]), []
            for c in cur:  # leaky synaptic current, beta = 0.8
                i = 0.8 * i + c
                out.append(i)
            return (torch.stack(out) * probe).sum()

        d0 = proj.delays.detach().clone()
        dd = d0.clone().requires_grad_(True)
        proj.delays = torch.nn.Parameter(dd)
        loss_val = loss(proj.delays)
        (g,) = torch.autograd.grad(loss_val, proj.delays)
        h = 1e-7  # seconds (2e-4 steps): inside one linear segment
        fd = torch.zeros_like(d0)
        for idx in np.ndindex(*d0.shape):
            e = torch.zeros_like(d0)
            e[idx] = h
            with torch.no_grad():
                fd[idx] = (loss(d0 + e) - loss(d0 - e)) / (2 * h)
        torch.testing.assert_close(g, fd, rtol=1e-5, atol=1e-4)
        assert g.abs().min() > 1.0  # every delay matters to this loss (per second)


def test_alif_network_delay_options_and_spec_round_trip():
    base = ALIFNetwork(6, 3, (5,), recurrent=True, seed=4)
    net = ALIFNetwork(6, 3, (5,), recurrent=True, seed=4, max_delay=4e-3)
    proj = net.layers[0].projection
    assert isinstance(proj, DelayedLinear) and proj.learnable and proj.max_steps == 4
    assert net.layers[0].weight is proj.weight
    torch.testing.assert_close(proj.weight, base.layers[0].weight, rtol=0, atol=0)
    d = proj.delays.detach()
    assert 0 <= float(d.min()) and float(d.max()) <= 4e-3 and float(d.std()) > 5e-4
    assert base.layers[0].projection is None and "max_delay" not in base.spec()
    x = _spikes(T=40, B=2, N=6, p=0.3, seed=5, dtype=torch.float32)
    # zero delays reproduce the network without delays exactly
    with torch.no_grad():
        proj.delays.zero_()
        base.layers[0].weight.mul_(3.0)
        proj.weight.mul_(3.0)
    with torch.no_grad():
        a, b = base(x), net(x)
    assert a.spikes[0].sum() > 0
    torch.testing.assert_close(a.readout, b.readout, rtol=0, atol=1e-6)
    # spec + state dict rebuild the delayed network, fixed delays (a buffer) included
    fixed = ALIFNetwork(6, 3, (5,), seed=4, max_delay=4e-3, learn_delays=False,
                        delay_mode="integer")  # fmt: skip
    assert "layers.0.projection.delays" in dict(fixed.named_buffers())
    back = ALIFNetwork.from_spec(fixed.spec())
    back.load_state_dict(fixed.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(back(x).readout, fixed(x).readout, rtol=0, atol=0)
    with pytest.raises(SpikegradInputError, match="max_delay"):
        ALIFNetwork(6, 3, (5,), max_delay=-1e-3)
    with pytest.raises(SpikegradInputError, match="max_delay"):
        ALIFNetwork(6, 3, (5,), max_delay=2.5e-3)  # not a whole number of 1 ms steps


def test_train_config_builds_delays_from_model_options():
    from spikegrad.learning.config import TrainConfig, build_model

    cfg = TrainConfig(model="alif", model_options={"max_delay": 0.005, "delay_mode": "gaussian"},
                      hidden=(7,))  # fmt: skip
    net = build_model(cfg, 10, 2)
    proj = net.layers[0].projection
    assert isinstance(proj, DelayedLinear) and proj.mode == "gaussian" and proj.max_steps == 5
    with pytest.raises(SpikegradInputError, match="delay_mode"):
        TrainConfig(model="alif", model_options={"delay_mode": "cubic"})
    with pytest.raises(SpikegradInputError, match="max_delay"):
        TrainConfig(model="alif", model_options={"max_delay": -1.0})


def test_round_delays_gives_whole_step_delay_lines():
    g = torch.Generator().manual_seed(6)
    proj = DelayedLinear(3, 4, 5e-3, dt=1e-3, generator=g).double()
    with torch.no_grad():
        proj.delays.copy_(torch.tensor([[0.4, 1.6, 2.5001], [4.9, 0.0, 3.2],
                                        [6.0, 1.49, 2.51], [0.51, 3.0, 4.4]]) * 1e-3)  # fmt: skip
    ch = Delay(3, 5e-3, init=torch.tensor([0.3e-3, 2.7e-3, 4.5e-3]))
    model = torch.nn.ModuleList([proj, ch])
    assert round_delays(model) == 2
    steps = torch.tensor([[0, 2, 3], [5, 0, 3], [5, 1, 3], [1, 3, 4]])  # 6 ms clamps to 5
    torch.testing.assert_close(proj.delays.detach(), steps.double() * 1e-3, rtol=0, atol=1e-15)
    assert proj.mode == "integer" and ch.mode == "integer"
    x = _spikes(T=20, B=2, N=3, seed=7)
    torch.testing.assert_close(
        proj(x), _loop_reference(x, proj.weight.detach(), steps), rtol=0, atol=1e-12
    )
    torch.testing.assert_close(ch.delays.detach(), torch.tensor([0.0, 3e-3, 4e-3]) + 0 * 1e-3,
                               rtol=0, atol=1e-9)  # 4.5 ms: round half to even  # fmt: skip


# ----------------------------------------------------------------------------- NIR

nir = pytest.importorskip("nir")


def _delayed_net(seed=0):
    """A recurrent LIF network whose hidden layer has trained, then rounded, delays."""
    net = SpikingNetwork(6, 3, (5,), recurrent=True, seed=seed)
    proj = DelayedLinear(6, 5, 4e-3, generator=torch.Generator().manual_seed(seed + 1))
    with torch.no_grad():
        proj.weight.copy_(net.layers[0].weight * 4)
    net.layers[0].projection = proj
    net.layers[0].weight = proj.weight
    x = _spikes(T=40, B=4, N=6, p=0.3, seed=2, dtype=torch.float32)
    before = proj.delays.detach().clone()
    opt = torch.optim.Adam([proj.delays], lr=5e-4)
    for _ in range(3):
        opt.zero_grad()
        net(x).readout.max(0).values[:, 0].sum().backward()
        opt.step()
    assert (proj.delays.detach() - before).abs().max() > 1e-4  # the delays were learned
    return net


def test_learned_delays_round_trip_through_nir(tmp_path):
    from spikegrad.io.nir import export_nir, import_nir

    net = _delayed_net()
    with pytest.raises(SpikegradInputError, match="round_delays"):
        export_nir(net)  # fractional delays: refused, never rounded silently
    round_delays(net)
    graph = export_nir(net, tmp_path / "d.nir")
    assert [e for e in graph.edges if "delay0" in e] == [("fan0", "delay0"), ("delay0", "fc0")]
    d = graph.nodes["delay0"].delay
    w = net.layers[0].weight.detach().numpy()
    assert d.shape == (30,) and np.allclose(
        d.reshape(5, 6), net.layers[0].projection.delays.detach().numpy()
    )
    assert np.array_equal(graph.nodes["fc0"].weight.reshape(5, 5, 6)[np.arange(5), np.arange(5)], w)
    back = import_nir(tmp_path / "d.nir")
    bp = back.layers[0].projection
    assert isinstance(bp, DelayedLinear) and not bp.learnable and bp.mode == "integer"
    torch.testing.assert_close(bp.delays, net.layers[0].projection.delays.detach(), rtol=0,
                               atol=1e-9)  # fmt: skip
    x = _spikes(T=60, B=3, N=6, p=0.3, seed=8, dtype=torch.float32)
    with torch.no_grad():
        a, b = net(x), back(x)
    assert a.spikes[0].sum() >= 10  # 20 measured
    assert torch.equal(a.spikes[0], b.spikes[0])
    torch.testing.assert_close(a.readout, b.readout, rtol=0, atol=1e-6)


class _NirDelayLine(torch.nn.Module):
    """A NIR Delay node for the nirtorch executor: channel m delayed by round(d_m / dt)
    steps, a ring of past inputs as the state (written here from the NIR definition)."""

    def __init__(self, node, dt: float) -> None:
        super().__init__()
        self.steps = torch.as_tensor(np.round(np.asarray(node.delay) / dt)).long()

    def forward(self, x, state=None):
        depth = int(self.steps.max()) + 1
        hist = torch.zeros(depth, *x.shape) if state is None else state
        hist = torch.cat([x.unsqueeze(0), hist[:-1]])
        out = hist.gather(0, self.steps.expand(x.shape).unsqueeze(0))[0]
        return out, hist


def test_nirtorch_and_norse_read_the_exported_delays(tmp_path):
    """nirtorch executes our file with Norse's node map (and a Delay line written from
    NIR's definition): the current it feeds the first LIF equals our DelayedLinear's."""
    nirtorch = pytest.importorskip("nirtorch")
    norse_nir = pytest.importorskip("norse.torch.utils.import_nir")
    from spikegrad.io.nir import export_nir

    net = _delayed_net(seed=3)
    round_delays(net)
    export_nir(net, tmp_path / "d.nir")
    graph = nir.read(tmp_path / "d.nir")

    def node_map(node):
        if isinstance(node, nir.Delay):
            return _NirDelayLine(node, 1e-3)
        return norse_nir._import_norse_module(node, dt=1e-3)

    exe = nirtorch.load(graph, node_map)
    rec: list[torch.Tensor] = []
    hook = exe.fc0.register_forward_hook(lambda m, i, o: rec.append(o.detach()))
    x = _spikes(T=50, B=3, N=6, p=0.3, seed=9, dtype=torch.float32)
    state = None
    with torch.no_grad():
        for x_n in x:
            _, state = exe(x_n, state)
    hook.remove()
    theirs = torch.stack(rec)
    with torch.no_grad():
        ours = net.layers[0].projection(x)
    assert ours.abs().sum() > 10
    torch.testing.assert_close(theirs, ours, rtol=0, atol=1e-5)
    # control: the same currents without delays differ
    assert (ours - x @ net.layers[0].weight.detach().t()).abs().max() > 0.1


# ----------------------------------------------------------------------------- augmentation


def test_augment_shifts_are_exact_per_sample():
    x = torch.arange(5 * 3 * 7, dtype=torch.float32).reshape(5, 3, 7) % 5
    g = torch.Generator().manual_seed(0)
    y = augment_batch(x, Augment(time_shift=2), g)
    s = torch.randint(-2, 3, (3,), generator=torch.Generator().manual_seed(0))
    for b in range(3):
        k = int(s[b])
        ref = torch.zeros(5, 7)
        if k >= 0:
            ref[k:] = x[: 5 - k, b]
        else:
            ref[: 5 + k] = x[-k:, b]
        assert torch.equal(y[:, b], ref)
    y = augment_batch(x, Augment(channel_shift=3), torch.Generator().manual_seed(1))
    s = torch.randint(-3, 4, (3,), generator=torch.Generator().manual_seed(1))
    for b in range(3):
        k = int(s[b])
        ref = torch.zeros(5, 7)
        if k >= 0:
            ref[:, k:] = x[:, b, : 7 - k]
        else:
            ref[:, : 7 + k] = x[:, b, -k:]
        assert torch.equal(y[:, b], ref)


def test_augment_dropout_and_noise_rates():
    x = torch.ones(200, 10, 50)
    y = augment_batch(2 * x, Augment(dropout=0.25), torch.Generator().manual_seed(2))
    assert float(y.max()) <= 2 and abs(float(y.mean()) - 1.5) < 0.02
    z = augment_batch(0 * x, Augment(noise=0.01), torch.Generator().manual_seed(3))
    assert abs(float(z.mean()) - 0.01) < 0.002 and set(z.unique().tolist()) == {0.0, 1.0}
    for bad in (dict(time_shift=-1), dict(dropout=1.0), dict(noise=-0.1), dict(channel_shift=1.5)):
        with pytest.raises(SpikegradInputError, match=next(iter(bad))):
            Augment(**bad)


def test_augmented_dataset_changes_training_batches_only():
    g = torch.Generator().manual_seed(4)
    n, T, C = 12, 20, 8
    counts = torch.randint(3, 9, (n,), generator=g)
    offsets = torch.zeros(n + 1, dtype=torch.long)
    offsets[1:] = counts.cumsum(0)
    E = int(offsets[-1])
    times = torch.randint(0, T, (E,), generator=g)
    units = torch.randint(0, C, (E,), generator=g)
    base = SpikeDataset(times, units, offsets, torch.arange(n) % 3, T, C)
    aug = AugmentedDataset(base, Augment(time_shift=3, channel_shift=2), seed=5)
    ev = list(aug.batches(4, shuffle=False))
    ref = list(base.batches(4, shuffle=False))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(ev, ref, strict=True))
    tr = list(aug.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    plain = list(base.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(tr, plain, strict=True))  # same order
    assert any(not torch.equal(a[0], b[0]) for a, b in zip(tr, plain, strict=True))
    # a fresh dataset with the same seed draws the same augmentations
    again = AugmentedDataset(base, Augment(time_shift=3, channel_shift=2), seed=5)
    tr2 = list(again.batches(4, shuffle=True, generator=torch.Generator().manual_seed(0)))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(tr, tr2, strict=True))


# ----------------------------------------------------------------------------- spoken digits


def _write_set(folder, prefix, n, seed, speakers=0):
    from spikegrad.data.spoken_digits import write_shd_hdf5

    rng = np.random.default_rng(seed)
    times = [np.sort(rng.uniform(0, 0.99, 30)).astype(np.float32) for _ in range(n)]
    units = [rng.integers(0, 700, 30).astype(np.uint16) for _ in range(n)]
    labels = [i % 20 for i in range(n)]
    write_shd_hdf5(folder / f"{prefix}.h5", times, units, labels, speakers=[speakers] * n)
    return times, units, labels


def test_spoken_digits_pooling_and_extra_training_speakers(tmp_path):
    from spikegrad.data.spoken_digits import make_spoken_digits

    tr = _write_set(tmp_path, "spoken_digits_train", 40, 0)
    te = _write_set(tmp_path, "spoken_digits_test", 20, 1)
    _write_set(tmp_path, "spoken_digits_extra_train", 20, 2)
    a, va, ta = make_spoken_digits(tmp_path, extra_train=False)
    b, vb, tb = make_spoken_digits(tmp_path)
    assert len(a) + len(va) == 40 and len(b) + len(vb) == 60 and len(ta) == len(tb) == 20
    p, vp, tp = make_spoken_digits(tmp_path, channels=140, extra_train=False)
    assert p.n_units == 140 and tp.n_units == 140
    # pooled = the 700-channel test tensor summed over groups of five channels
    full = ta.dense().reshape(100, 20, 140, 5).sum(-1)
    assert torch.equal(tp.dense(), full)
    # the first test sample by hand: event at t -> step floor(100 t), unit u -> band u // 5
    ref = torch.zeros(100, 140)
    for t, u in zip(te[0][0], te[1][0], strict=True):
        ref[int(np.floor(float(t) * 100)), int(u) // 5] += 1
    assert torch.equal(tp.dense()[:, 0], ref)
    aug, _, _ = make_spoken_digits(tmp_path, time_shift=2, dropout=0.1)
    assert isinstance(aug, AugmentedDataset) and aug.augment.time_shift == 2
    with pytest.raises(SpikegradInputError, match="channels"):
        make_spoken_digits(tmp_path, channels=300)
    assert tr[2][:3] == [0, 1, 2]


def test_warp_audio_scales_frequencies_and_speakers_stay_reproducible():
    from spikegrad.data.spoken_digits import EXTRA_VARIANTS, make_speakers, warp_audio

    n = np.arange(4000)
    x = np.sin(2 * np.pi * 0.01 * n)
    y = warp_audio(x, 1.5)
    assert y.size == int((x.size - 1) / 1.5) + 1
    np.testing.assert_allclose(y, np.sin(2 * np.pi * 0.015 * np.arange(y.size)), atol=2e-3)
    assert warp_audio(x, 1.0) is x
    old = make_speakers(10, 0)
    assert make_speakers(6, 0) == old[:6] and all(s.warp == 1.0 for s in old)
    ex = make_speakers(8, 29, variants=EXTRA_VARIANTS, warp=0.12)
    assert len({s.variant for s in ex}) == 8 and set(s.variant for s in ex) <= set(EXTRA_VARIANTS)
    assert all(0.88 <= s.warp <= 1.12 for s in ex) and len({s.warp for s in ex}) == 8
    with pytest.raises(SpikegradInputError, match="warp"):
        make_speakers(3, 0, warp=0.7)


def test_delay_channels_seconds_form_is_unchanged_by_rounding():
    # a per-channel Delay rounded: exactly the integer shift of the rounded seconds
    x = _spikes(T=25, B=2, N=3, seed=12)
    d = Delay(3, 6e-3, init=torch.tensor([1.2e-3, 3.5e-3, 5.9e-3])).double()
    d.round_()
    ref = delay_channels(x, torch.tensor([1.0, 4.0, 6.0], dtype=F64), 6, mode="integer")
    assert torch.equal(d(x), ref)


def test_learnable_delays_get_a_step_sized_learning_rate():
    """At lr 2e-3 a delay in seconds would move ~2 steps of 1 ms per Adam update; the
    optimiser gives learnable delays lr * 50 dt = 1e-4 s (0.1 step), weights keep lr."""
    from spikegrad.learning.config import TrainConfig, build_model, build_optimizer

    cfg = TrainConfig(model="alif", model_options={"max_delay": 0.01}, hidden=(7,), lr=2e-3)
    net = build_model(cfg, 10, 2)
    opt = build_optimizer(cfg, net)
    by_id = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert by_id[id(net.layers[0].projection.delays)] == pytest.approx(1e-4)
    assert by_id[id(net.layers[0].weight)] == pytest.approx(2e-3)
    before = net.layers[0].projection.delays.detach().clone()
    x = _spikes(T=30, B=4, N=10, p=0.3, seed=1, dtype=torch.float32)
    net(x).readout.max(0).values[:, 0].sum().backward()
    opt.step()
    step = (net.layers[0].projection.delays.detach() - before).abs()
    assert float(step.max()) <= 1.0001e-4 and float(step.max()) > 5e-5  # Adam: ~lr per step
    opts = {"max_delay": 0.01, "learn_delays": False}
    fixed = build_model(TrainConfig(model="alif", model_options=opts), 10, 2)
    assert len(build_optimizer(cfg, fixed).param_groups) == 1
