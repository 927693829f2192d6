"""NIR export / import: exact round trips, a peer simulator (Norse) reading our files, bad files."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

nir = pytest.importorskip("nir")

from spikegrad._checks import SpikegradInputError  # noqa: E402
from spikegrad.cli import main  # noqa: E402
from spikegrad.io.checkpoint import save_checkpoint  # noqa: E402
from spikegrad.io.nir import delay_from_nir, delay_to_nir, export_nir, import_nir  # noqa: E402
from spikegrad.learning.config import TrainConfig, build_model  # noqa: E402
from spikegrad.nn import SpikingNetwork  # noqa: E402
from spikegrad.nn.delay import Delay  # noqa: E402

torch.set_num_threads(1)


def _active(model: SpikingNetwork, scale: float = 4.0) -> SpikingNetwork:
    """Scale the feed-forward weights so the hidden layers spike often."""
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.mul_(scale)
    return model


def _spikes_in(T: int, B: int, n: int, seed: int, p: float = 0.05) -> torch.Tensor:
    return (torch.rand(T, B, n, generator=torch.Generator().manual_seed(seed)) < p).float()


def _assert_same_outputs(a: SpikingNetwork, b: SpikingNetwork, x: torch.Tensor) -> None:
    with torch.no_grad():
        oa, ob = a(x), b(x)
    assert len(oa.spikes) == len(ob.spikes)
    for sa, sb in zip(oa.spikes, ob.spikes, strict=True):
        assert sa.sum() > 0  # the comparison is not between two silent networks
        assert torch.equal(sa, sb)
    assert torch.equal(oa.readout, ob.readout)


# ----------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("recurrent", [False, True, [True, False]])
def test_round_trip_gives_identical_outputs(tmp_path, recurrent):
    model = _active(SpikingNetwork(12, 3, (16, 10), recurrent=recurrent, seed=1))
    path = tmp_path / "net.nir"
    export_nir(model, path)
    back = import_nir(path)
    assert [layer.recurrent for layer in back.layers] == [layer.recurrent for layer in model.layers]
    _assert_same_outputs(model, back, _spikes_in(80, 4, 12, seed=2, p=0.1))


def test_round_trip_keeps_settings_and_per_neuron_taus(tmp_path):
    model = SpikingNetwork(
        6,
        2,
        (8,),
        recurrent=True,
        learn_tau=True,
        dt=0.5e-3,
        tau_mem=8e-3,
        tau_syn=3e-3,
        tau_out=15e-3,
        surrogate="esser",
        beta=3.0,
        reset="differentiable",
        readout_mode="mean",
        seed=4,
    )
    _active(model, 6.0)
    with torch.no_grad():  # distinct per-neuron time constants
        model.layers[0].taus.tau_mem.mul_(torch.linspace(0.5, 1.5, 8))
    back = import_nir(export_nir(model, tmp_path / "n.nir"))
    assert back.readout.taus.dt == 0.5e-3 and back.readout.u0 == model.readout.u0
    assert back.layers[0].surrogate == model.layers[0].surrogate
    assert back.layers[0].reset == "differentiable" and back.readout_mode == "mean"
    assert torch.equal(back.layers[0].taus.tau_mem, model.layers[0].taus.tau_mem)
    assert back.readout.taus.tau_mem == 15e-3
    _assert_same_outputs(model, back, _spikes_in(60, 3, 6, seed=5, p=0.15))


def test_export_writes_the_documented_parameters():
    model = SpikingNetwork(5, 2, (4,), recurrent=True, seed=0)
    g = export_nir(model)
    assert g.metadata["dt"] == 1e-3
    sub = g.nodes["lif0"]
    assert isinstance(sub, nir.NIRGraph) and isinstance(g.nodes["readout"], nir.CubaLI)
    assert {tuple(e) for e in sub.edges} >= {("lif", "w_rec"), ("w_rec", "lif")}
    lif = sub.nodes["lif"]
    np.testing.assert_allclose(lif.tau_mem, 10e-3)
    np.testing.assert_allclose(lif.tau_syn, 5e-3)
    np.testing.assert_allclose(lif.w_in, 5.0)  # tau_syn / dt
    np.testing.assert_array_equal(lif.r, 1.0)
    np.testing.assert_array_equal(lif.v_threshold, 1.0)
    np.testing.assert_array_equal(lif.v_leak, 0.0)
    np.testing.assert_array_equal(sub.nodes["w_rec"].weight, model.layers[0].rec_weight.detach())
    np.testing.assert_allclose(g.nodes["readout"].tau_mem, 20e-3)
    # another step: the same physical network, w_in for a 0.1 ms simulator
    np.testing.assert_allclose(
        export_nir(model, dt=1e-4).nodes["fc0"].weight, g.nodes["fc0"].weight
    )
    np.testing.assert_allclose(export_nir(model, dt=1e-4).nodes["lif0"].nodes["lif"].w_in, 50.0)


def _foreign_graph(theta: float, r: float, w_in: float, w: np.ndarray, wo: np.ndarray):
    n, k = w.shape[0], wo.shape[0]
    ones = np.ones(n)
    return nir.NIRGraph(
        nodes={
            "in": nir.Input(input_type={"input": np.array([w.shape[1]])}),
            "w": nir.Affine(weight=w, bias=np.zeros(n)),
            "lif": nir.CubaLIF(
                tau_mem=ones * 10e-3,
                tau_syn=ones * 5e-3,
                r=ones * r,
                v_leak=ones * 0,
                v_threshold=ones * theta,
                w_in=ones * w_in,
            ),
            "wo": nir.Linear(weight=wo),
            "li": nir.CubaLI(
                tau_mem=np.full(k, 20e-3),
                tau_syn=np.full(k, 5e-3),
                r=np.ones(k),
                v_leak=np.zeros(k),
                w_in=np.full(k, 5.0),
            ),
            "out": nir.Output(output_type={"output": np.array([k])}),
        },
        edges=[("in", "w"), ("w", "lif"), ("lif", "wo"), ("wo", "li"), ("li", "out")],
    )


def test_import_folds_threshold_r_and_w_in_into_the_weights():
    model = _active(SpikingNetwork(7, 2, (9,), seed=3))
    w = model.layers[0].weight.detach().double().numpy()
    wo = model.readout.weight.detach().double().numpy()
    # threshold 2, r 0.5, w_in 40 at dt 1 ms: gain r * w_in * dt/tau_syn / theta = 2
    g = _foreign_graph(2.0, 0.5, 40.0, w / 2.0, wo)
    with pytest.raises(SpikegradInputError, match="dt="):
        import_nir(g)
    back = import_nir(g, dt=1e-3)
    torch.testing.assert_close(back.layers[0].weight, model.layers[0].weight)
    x = _spikes_in(60, 3, 7, seed=1, p=0.15)
    with torch.no_grad():
        a, b = model(x), back(x)
    assert a.spikes[0].sum() > 0
    assert (a.spikes[0] != b.spikes[0]).float().mean() < 1e-3  # float rounding of the gain only


# ----------------------------------------------------------------------------- peer library


def _norse_layer_spikes(net, x: torch.Tensor, name: str) -> torch.Tensor:
    rec: list[torch.Tensor] = []
    hook = getattr(net, name).register_forward_hook(lambda m, i, o: rec.append(o[0].detach()))
    state = None
    try:
        with torch.no_grad():
            for x_n in x:
                _, state = net(x_n, state)
    finally:
        hook.remove()
    return torch.stack(rec)


def _euler_reading(graph, x: torch.Tensor, dt: float) -> torch.Tensor:
    """Spikes of the first CubaLIF under the forward-Euler reading documented in docs/nir.md."""
    node = graph.nodes["lif0"]
    w = torch.as_tensor(graph.nodes["fc0"].weight)
    a = dt / torch.as_tensor(node.tau_syn, dtype=torch.float32)
    c = dt / torch.as_tensor(node.tau_mem, dtype=torch.float32)
    w_in, r = torch.as_tensor(node.w_in).float(), torch.as_tensor(node.r).float()
    i = v = torch.zeros(x.shape[1], w.shape[0])
    out = []
    for x_n in x:
        i = i + a * (w_in * (x_n @ w.t()) - i)
        v = v + c * (r * i - v)
        z = (v > 1.0).float()
        v = v * (1 - z)
        out.append(z)
    return torch.stack(out)


def _near(a: torch.Tensor, b: torch.Tensor, tol: int) -> float:
    """Fraction of the spikes in ``a`` that ``b`` also has within +-``tol`` steps."""
    T, B, N = b.shape
    wide = F.max_pool1d(b.permute(1, 2, 0).reshape(B * N, 1, T), 2 * tol + 1, 1, tol)
    wide = wide.reshape(B, N, T).permute(2, 0, 1)
    return float((a * wide).sum() / a.sum())


#: Our spike S[n] corresponds to Norse's z[n - 2]: an input spike at step n first moves
#: our membrane at n + 2 (synapse, then membrane), Norse integrates both within step n.
_LAG = 2


def test_norse_reads_our_file_and_spikes_like_us(tmp_path):
    pytest.importorskip("nirtorch")
    import_nir_norse = pytest.importorskip("norse.torch.utils.import_nir")
    model = _active(SpikingNetwork(20, 4, (30,), seed=1), 5.0)
    path = tmp_path / "ff.nir"
    export_nir(model, path)
    graph = nir.read(path)
    net = import_nir_norse.from_nir(graph, dt=1e-3)
    T = 200
    x = _spikes_in(T, 8, 20, seed=1)
    with torch.no_grad():
        ours = model(x).spikes[0]
    theirs = _norse_layer_spikes(net, x, "lif0")
    # 1. Norse simulates exactly the documented forward-Euler reading of our file
    assert torch.equal(theirs, _euler_reading(graph, x, 1e-3))
    # 2. against our exp(-dt/tau) model: the discretisation difference, measured
    a, b = ours[_LAG:], theirs[: T - _LAG]
    counts = torch.stack([ours.sum(0).flatten(), theirs.sum(0).flatten()])
    corr = float(torch.corrcoef(counts)[0, 1])
    total = float(ours.sum()), float(theirs.sum())
    assert total[0] > 300  # enough spikes for the statistics
    assert abs(total[0] - total[1]) / total[0] < 0.1
    assert corr > 0.97
    assert min(_near(a, b, 1), _near(b, a, 1)) > 0.65
    assert min(_near(a, b, 2), _near(b, a, 2)) > 0.75
    # control: the same metrics reject a file read with another spike convention
    # (w_in = 1 would be a Dirac reading 5x weaker here) -> far fewer spikes
    weak = _foreign_graph(1.0, 1.0, 1.0, graph.nodes["fc0"].weight, graph.nodes["fc_out"].weight)
    weak_spikes = _norse_layer_spikes(import_nir_norse.from_nir(weak, dt=1e-3), x, "lif")
    assert float(weak_spikes.sum()) < 0.2 * total[0]


# ----------------------------------------------------------------------------- delays


def test_delay_nodes_round_trip():
    steps = torch.tensor([0.0, 1, 2, 5, 6])
    d = Delay(5, 6e-3, dt=1e-3, learnable=False, mode="integer", init=steps * 1e-3)  # seconds
    node = delay_to_nir(d, dt=1e-3)
    np.testing.assert_allclose(node.delay, [0, 1e-3, 2e-3, 5e-3, 6e-3])
    back = delay_from_nir(node, dt=1e-3)
    x = _spikes_in(30, 2, 5, seed=0, p=0.3)
    assert back.mode == "integer" and torch.equal(back(x), d(x))
    frac = delay_from_nir(nir.Delay(delay=np.array([0.5e-3, 2e-3])), dt=1e-3)
    assert frac.mode == "linear" and frac.max_steps == 2 and frac.max_delay == pytest.approx(2e-3)
    with pytest.raises(SpikegradInputError, match="delays >= 0"):
        delay_from_nir(nir.Delay(delay=np.array([-1e-3])), dt=1e-3)


# ----------------------------------------------------------------------------- bad input


def _good_graph():
    return export_nir(SpikingNetwork(4, 2, (3,), seed=0))


def test_malformed_files_give_clear_errors(tmp_path):
    with pytest.raises(SpikegradInputError, match="does not exist"):
        import_nir(tmp_path / "missing.nir")
    junk = tmp_path / "junk.nir"
    junk.write_bytes(b"not an hdf5 file at all")
    with pytest.raises(SpikegradInputError, match="junk.nir.*not a readable NIR graph"):
        import_nir(junk)
    good = tmp_path / "good.nir"
    export_nir(SpikingNetwork(4, 2, (3,), seed=0), good)
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(SpikegradInputError, match="cut.nir.*not a readable NIR graph"):
        import_nir(cut)
    import h5py

    empty = tmp_path / "empty.nir"
    with h5py.File(empty, "w") as f:
        f.create_dataset("version", data="1.0")
    with pytest.raises(SpikegradInputError, match="empty.nir"):
        import_nir(empty)
    with pytest.raises(SpikegradInputError, match="NIRGraph or a file path"):
        import_nir(42)


def _mutate(fn):
    g = _good_graph()
    fn(g)
    return g


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda g: setattr(g.nodes["lif0"], "v_leak", np.full(3, 0.1)), "v_leak"),
        (lambda g: setattr(g.nodes["lif0"], "v_reset", np.full(3, -0.5)), "v_reset"),
        (lambda g: setattr(g.nodes["lif0"], "tau_mem", np.array([1e-2, -1.0, 1e-2])), "tau_mem"),
        (lambda g: setattr(g.nodes["lif0"], "v_threshold", np.ones(2)), "shape"),
        (lambda g: setattr(g.nodes["fc0"], "weight", np.ones((3, 5))), "takes 5 inputs"),
        (lambda g: setattr(g.nodes["fc0"], "weight", np.full((3, 4), np.nan)), "finite"),
        (lambda g: g.nodes.update(fc0=nir.Affine(weight=np.ones((3, 4)), bias=np.ones(3))), "bias"),
        (
            lambda g: g.nodes.update(
                readout=nir.LI(tau=np.ones(2), r=np.ones(2), v_leak=np.zeros(2))
            ),
            "LI",
        ),
        (lambda g: g.nodes.update(lif0=nir.Delay(delay=np.ones(3))), "delay_from_nir"),
        (lambda g: g.edges.append(("fc0", "output")), "outgoing edges"),
        (lambda g: g.edges.append(("fc0", "nowhere")), "does not exist"),
        (lambda g: g.nodes.pop("input"), "one Input"),
        (lambda g: g.metadata.update(dt=-1.0), "dt"),
    ],
)
def test_malformed_graphs_give_clear_errors(mutation, message):
    with pytest.raises(SpikegradInputError, match=message):
        import_nir(_mutate(mutation))


def test_bad_recurrent_subgraph_is_rejected():
    g = export_nir(SpikingNetwork(4, 2, (3,), recurrent=True, seed=0))
    g.nodes["lif0"].edges.remove(("w_rec", "lif"))
    with pytest.raises(SpikegradInputError, match="subgraph 'lif0'"):
        import_nir(g)


# ----------------------------------------------------------------------------- CLI


def test_cli_export_and_import(tmp_path, capsys):
    config = TrainConfig(hidden=(6,), recurrent=True, epochs=1)
    model = _active(build_model(config, 5, 3))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    save_checkpoint(run / "checkpoint.pt", model.state_dict(), config.to_dict(), 1)
    out = tmp_path / "model.nir"
    assert main(["export-nir", str(run), str(out)]) == 0
    _assert_same_outputs(model, import_nir(out), _spikes_in(50, 2, 5, seed=3, p=0.2))
    capsys.readouterr()
    assert main(["import-nir", str(out)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["layers"][0]["recurrent"] is True and math.isclose(info["dt"], 1e-3)
    assert main(["export-nir", str(tmp_path / "nope"), str(out)]) == 2


def test_export_refuses_non_finite_weights_and_projections(tmp_path):
    """A NaN weight would write a file import_nir rejects; a delay projection would be
    dropped silently: both are refused at export with one-line errors."""
    from spikegrad.nn import DelayedLinear

    net = SpikingNetwork(3, 2, hidden=(4,), seed=0)
    with torch.no_grad():
        net.layers[0].weight[0, 0] = float("nan")
    with pytest.raises(SpikegradInputError, match="'layers.0.weight' holds NaN"):
        export_nir(net, tmp_path / "nan.nir")
    assert not (tmp_path / "nan.nir").exists()
    net = SpikingNetwork(3, 2, hidden=(4,), seed=0)
    net.layers[0].projection = DelayedLinear(3, 4, 5e-3)
    with pytest.raises(SpikegradInputError, match="input projection"):
        export_nir(net)
