r"""Export and import networks as NIR (Neuromorphic Intermediate Representation) graphs.

NIR describes neurons as continuous-time ODEs; spikegrad simulates the discrete
eq. 4.1 model (:mod:`spikegrad.functional.lif`). The conversion (see ``docs/nir.md``):

================  ==================================  ====================================
NIR field         value written                       meaning
================  ==================================  ====================================
``tau_mem``       our :math:`\tau_\text{mem}` (s)     :math:`\beta = e^{-\Delta t/\tau}`
``tau_syn``       our :math:`\tau_\text{syn}` (s)     :math:`\beta = e^{-\Delta t/\tau}`
``r``             1                                   membrane gain
``w_in``          :math:`\tau_\text{syn}/\Delta t`    one spike (a unit pulse one step
                                                      long) raises :math:`I` by :math:`W`
``v_threshold``   1                                   dimensionless threshold
``v_leak``        0                                   rest
``v_reset``       0                                   reset to rest
================  ==================================  ====================================

Eq. 4.1 is the exponential-Euler discretisation of these ODEs: both decays exact,
each spike an impulse of area ``dt`` (the area of a unit pulse one step long), and the
membrane driven by the synaptic current held at its start-of-step value. A
forward-Euler reader at the same ``dt`` instead uses :math:`1 - \Delta t/\tau` for
:math:`e^{-\Delta t/\tau}` and a membrane gain :math:`\Delta t/\tau_\text{mem}` for
:math:`1 - e^{-\Delta t/\tau_\text{mem}}`.

Graph layout written by :func:`export_nir` (node names)::

    input -> fc0 -> lif0 -> fc1 -> lif1 ... -> fc_out -> readout -> output

A hidden layer with a :class:`~spikegrad.nn.delay.DelayedLinear` input projection (whole-step
delays, :func:`spikegrad.nn.delay.round_delays`) is written exactly as
``fanK -> delayK -> fcK`` (fan-out :class:`nir.Linear`, :class:`nir.Delay` of one channel
per synapse, weights :class:`nir.Linear`; see :func:`delayed_linear_to_nir`), and
:func:`import_nir` folds that chain back into a fixed integer-tap ``DelayedLinear``.

``fcK`` are :class:`nir.Linear`, ``lifK`` a :class:`nir.CubaLIF` or, for a recurrent
layer, a :class:`nir.NIRGraph` subgraph ``input -> lif -> output`` with the recurrent
edge ``lif -> w_rec -> lif``; ``readout`` is a :class:`nir.CubaLI`. The step ``dt``,
surrogate and reset settings go into the graph's metadata, the readout's initial
membrane ``u0`` into the readout node's metadata (NIR has no initial state).

``nir`` is an optional dependency (``pip install nir``), imported on first use.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .._checks import SpikegradInputError
from ..nn.delay import Delay
from ..nn.lif import LIFLayer, TimeConstants
from ..nn.network import SpikingNetwork

if TYPE_CHECKING:  # pragma: no cover
    import nir

__all__ = [
    "export_nir",
    "import_nir",
    "delay_to_nir",
    "delay_from_nir",
    "delayed_linear_to_nir",
    "delayed_linear_from_nir",
    "nir_parameters",
]

#: Gains within this relative distance of 1 are taken as exactly 1 on import, so a
#: round trip does not multiply weights by ``(dt/tau_syn) * (tau_syn/dt) != 1.0``.
_UNIT_GAIN_RTOL = 1e-9


def _nir() -> Any:
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise SpikegradInputError(
            "NIR support needs the 'nir' package: pip install 'spikegrad[nir]' (or pip install nir)"
        ) from exc
    return nir


def _tau_array(tau: torch.Tensor | float, n: int) -> np.ndarray:
    if isinstance(tau, torch.Tensor):
        return tau.detach().cpu().to(torch.float64).numpy().reshape(n).copy()
    return np.full(n, float(tau), dtype=np.float64)


def nir_parameters(
    tau_mem: torch.Tensor | float,
    tau_syn: torch.Tensor | float,
    n: int,
    dt: float,
    *,
    spiking: bool = True,
) -> dict[str, np.ndarray]:
    r"""NIR ``CubaLIF`` (``spiking``) or ``CubaLI`` parameters of ``n`` eq. 4.1 neurons.

    ``tau_mem``, ``tau_syn`` in seconds (numbers or ``[n]`` tensors); ``dt`` the step in
    seconds that one spike pulse lasts. Returns ``tau_mem``, ``tau_syn``, ``r = 1``,
    ``v_leak = 0``, ``w_in = tau_syn / dt`` and, if ``spiking``, ``v_threshold = 1``,
    ``v_reset = 0``, each an ``[n]`` float64 array.
    """
    tm, ts = _tau_array(tau_mem, n), _tau_array(tau_syn, n)
    out = {
        "tau_mem": tm,
        "tau_syn": ts,
        "r": np.ones(n),
        "v_leak": np.zeros(n),
        "w_in": ts / dt,
    }
    if spiking:
        out["v_threshold"] = np.ones(n)
        out["v_reset"] = np.zeros(n)
    return out


def _layer_taus(taus: TimeConstants) -> tuple[torch.Tensor | float, torch.Tensor | float]:
    # learnable taus are clamped at dt/10 in the forward pass; export what the forward uses
    if taus.learn_tau:
        floor = taus.dt / 10
        return taus.tau_mem.clamp_min(floor), taus.tau_syn.clamp_min(floor)
    return taus.tau_mem, taus.tau_syn


def _weight(w: torch.Tensor) -> np.ndarray:
    """Weights as numpy, in their own float dtype (float32 / float64)."""
    return w.detach().cpu().numpy().copy()


def export_nir(
    model: SpikingNetwork, path: str | Path | None = None, *, dt: float | None = None
) -> nir.NIRGraph:
    """Describe ``model`` as a NIR graph, and write it to ``path`` if given.

    Parameters
    ----------
    model:
        A :class:`~spikegrad.nn.SpikingNetwork` (feed-forward or recurrent layers), or a
        :class:`~spikegrad.nn.sequential.SpikingSequential` (conv / pool / LIF chains,
        :func:`spikegrad.io.nir_layers.export_sequential_nir`). Other models (ALIF,
        Izhikevich, CoBa, SRM0) have no NIR node and are refused in one line naming the
        layer or model.
    path:
        Output file (HDF5, conventionally ``.nir``); written atomically.
    dt:
        Step (seconds) of the simulator meant to run the file: a spike is a unit pulse
        this long, so ``w_in = tau_syn / dt``. Default: the model's own step, which makes
        :func:`import_nir` reproduce the model exactly.

    Returns
    -------
    nir.NIRGraph
    """
    from ..nn.sequential import SpikingSequential

    if isinstance(model, SpikingSequential):
        from .nir_layers import export_sequential_nir

        return export_sequential_nir(model, path, dt=dt)
    nir = _nir()
    if not isinstance(model, SpikingNetwork):
        kind = getattr(type(model), "kind", type(model).__name__)
        raise SpikegradInputError(
            f"cannot export a {kind!r} model ({type(model).__name__}): NIR has no node for "
            "its neurons; NIR export takes SpikingNetwork (lif) and SpikingSequential models"
        )
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise SpikegradInputError(f"cannot export: parameter {name!r} holds NaN or inf")
    for k, layer in enumerate(model.layers):
        if getattr(layer, "neuron_options", False):
            raise SpikegradInputError(
                f"cannot export layer {k}: reset='subtract', refractory periods, adaptation "
                "and non-unit or learnable thresholds have no form in this layout (a "
                "SpikingSequential with thresholds: spikegrad.io.nir_layers)"
            )
        if getattr(layer, "projection", None) is not None and not _whole_step_delays(
            layer.projection
        ):
            raise SpikegradInputError(
                f"cannot export layer {k}: its input projection "
                f"({type(layer.projection).__name__}) has no NIR form here; delays would be "
                "lost (a DelayedLinear is written once its delays are whole steps: "
                "spikegrad.nn.delay.round_delays)"
            )
    model_dt = float(model.layers[0].taus.dt)
    dt = model_dt if dt is None else float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise SpikegradInputError(f"dt must be a finite number > 0 seconds, got {dt!r}")
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([model.n_inputs])})}
    edges: list[tuple[str, str]] = []
    prev = "input"
    layer: LIFLayer
    for k, layer in enumerate(model.layers):
        n = layer.out_features
        tm, ts = _layer_taus(layer.taus)
        cuba = nir.CubaLIF(**nir_parameters(tm, ts, n, dt, spiking=True))
        nodes[f"fc{k}"] = nir.Linear(weight=_weight(layer.weight))
        if layer.projection is not None:  # DelayedLinear: fan-out -> Delay -> weights
            fan, delay, fc = delayed_linear_to_nir(layer.projection)
            nodes.update({f"fan{k}": fan, f"delay{k}": delay, f"fc{k}": fc})
            edges += [(prev, f"fan{k}"), (f"fan{k}", f"delay{k}")]
            prev = f"delay{k}"
        if layer.rec_weight is None:
            nodes[f"lif{k}"] = cuba
        else:
            nodes[f"lif{k}"] = nir.NIRGraph(
                nodes={
                    "input": nir.Input(input_type={"input": np.array([n])}),
                    "lif": cuba,
                    "w_rec": nir.Linear(weight=_weight(layer.rec_weight)),
                    "output": nir.Output(output_type={"output": np.array([n])}),
                },
                edges=[("input", "lif"), ("lif", "w_rec"), ("w_rec", "lif"), ("lif", "output")],
            )
        edges += [(prev, f"fc{k}"), (f"fc{k}", f"lif{k}")]
        prev = f"lif{k}"
    ro = model.readout
    tm, ts = _layer_taus(ro.taus)
    nodes["fc_out"] = nir.Linear(weight=_weight(ro.weight))
    nodes["readout"] = nir.CubaLI(
        **nir_parameters(tm, ts, ro.n_classes, dt, spiking=False), metadata={"u0": ro.u0}
    )
    nodes["output"] = nir.Output(output_type={"output": np.array([ro.n_classes])})
    edges += [(prev, "fc_out"), ("fc_out", "readout"), ("readout", "output")]
    layer0 = model.layers[0]
    metadata = {
        "producer": "spikegrad",
        "model": "Zenke & Vogels 2021 eq. 4.1 (discrete time, exp(-dt/tau) decays)",
        "dt": dt,
        "surrogate": str(getattr(layer0.surrogate, "name", "superspike")),
        "beta": float(getattr(layer0.surrogate, "beta", 10.0)),
        "reset": layer0.reset,
        "recurrent_grad": int(layer0.recurrent_grad),
        "readout_mode": model.readout_mode,
    }
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    if path is not None:
        _write(graph, Path(path))
    return graph


def _write(graph: nir.NIRGraph, path: Path) -> None:
    import io as _io

    from .checkpoint import atomic_write_bytes

    nir = _nir()
    if not path.parent.is_dir():
        raise SpikegradInputError(f"folder {str(path.parent)!r} for the NIR file does not exist")
    buf = _io.BytesIO()
    nir.write(buf, graph)
    atomic_write_bytes(path, buf.getvalue())


# ----------------------------------------------------------------------------- import


def _read(source: Any) -> tuple[nir.NIRGraph, str]:
    nir = _nir()
    if isinstance(source, nir.NIRGraph):
        return source, "NIR graph"
    if not isinstance(source, (str, Path)):
        raise SpikegradInputError(
            f"import_nir needs a nir.NIRGraph or a file path, got {type(source).__name__}"
        )
    path = Path(source)
    where = f"NIR file {str(path)!r}"
    if not path.is_file():
        raise SpikegradInputError(f"{where} does not exist")
    try:
        graph = nir.read(path)
    except Exception as exc:  # noqa: BLE001 - h5py / nir raise many kinds of errors
        raise SpikegradInputError(
            f"{where} is not a readable NIR graph ({type(exc).__name__}: {exc})"
        ) from exc
    if not isinstance(graph, nir.NIRGraph):
        raise SpikegradInputError(f"{where} holds a {type(graph).__name__}, not a NIRGraph")
    return graph, where


def _chain(graph: nir.NIRGraph, where: str) -> list[tuple[str, Any]]:
    """The nodes of a graph that must be one chain Input -> ... -> Output."""
    nir = _nir()
    inputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Input)]
    outputs = [k for k, v in graph.nodes.items() if isinstance(v, nir.Output)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise SpikegradInputError(
            f"{where}: expected one Input and one Output node, found {len(inputs)} and "
            f"{len(outputs)}"
        )
    succ: dict[str, list[str]] = {}
    for edge in graph.edges:
        if len(edge) != 2 or any(e not in graph.nodes for e in edge):
            raise SpikegradInputError(f"{where}: edge {edge!r} names a node that does not exist")
        succ.setdefault(edge[0], []).append(edge[1])
    chain, seen, cur = [], set(), inputs[0]
    while True:
        if cur in seen:
            raise SpikegradInputError(f"{where}: the graph has a cycle through {cur!r}")
        seen.add(cur)
        chain.append((cur, graph.nodes[cur]))
        if cur == outputs[0]:
            break
        nxt = succ.get(cur, [])
        if len(nxt) != 1:
            raise SpikegradInputError(
                f"{where}: node {cur!r} has {len(nxt)} outgoing edges; spikegrad imports "
                "a chain of layers (one successor per node)"
            )
        cur = nxt[0]
    if len(seen) != len(graph.nodes):
        extra = sorted(set(graph.nodes) - seen)
        raise SpikegradInputError(f"{where}: nodes {extra} are not on the Input -> Output chain")
    return chain


def _matrix(name: str, node: Any, where: str) -> np.ndarray:
    nir = _nir()
    if isinstance(node, nir.Affine):
        if node.bias is not None and np.any(np.asarray(node.bias) != 0):
            raise SpikegradInputError(
                f"{where}: Affine node {name!r} has a nonzero bias; spikegrad layers have none"
            )
    elif not isinstance(node, nir.Linear):
        raise SpikegradInputError(
            f"{where}: expected a Linear or Affine node at {name!r}, found {type(node).__name__}"
        )
    w = np.asarray(node.weight, dtype=np.float64)
    if w.ndim != 2 or not np.all(np.isfinite(w)):
        raise SpikegradInputError(f"{where}: weight of {name!r} must be a finite 2-D matrix")
    return w


def _neuron_params(
    name: str, node: Any, n: int, dt: float, where: str, *, spiking: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(tau_mem, tau_syn, gain) of a CubaLIF / CubaLI node of ``n`` neurons.

    ``gain = r * w_in * (dt / tau_syn) / v_threshold`` multiplies the rows of the
    incoming weights so that the threshold becomes 1 and one spike raises I by W.
    """
    fields = ["tau_mem", "tau_syn", "r", "v_leak", "w_in"]
    if spiking:
        fields += ["v_threshold", "v_reset"]
    vals: dict[str, np.ndarray] = {}
    for f in fields:
        raw = getattr(node, f, None)
        if raw is None:
            raw = 0.0 if f == "v_reset" else None
        if raw is None:
            raise SpikegradInputError(f"{where}: node {name!r} has no {f}")
        a = (
            np.broadcast_to(np.asarray(raw, dtype=np.float64), (n,))
            if np.ndim(raw) == 0
            else (np.asarray(raw, dtype=np.float64))
        )
        if a.shape != (n,):
            raise SpikegradInputError(
                f"{where}: {f} of {name!r} has shape {a.shape}, expected ({n},)"
            )
        if not np.all(np.isfinite(a)):
            raise SpikegradInputError(f"{where}: {f} of {name!r} is not finite")
        vals[f] = a
    for f in ("tau_mem", "tau_syn"):
        if np.any(vals[f] <= 0):
            raise SpikegradInputError(f"{where}: {f} of {name!r} must be > 0")
    if np.any(vals["v_leak"] != 0):
        raise SpikegradInputError(f"{where}: {name!r} has v_leak != 0; spikegrad neurons rest at 0")
    gain = vals["r"] * vals["w_in"] * dt / vals["tau_syn"]
    if spiking:
        if np.any(vals["v_threshold"] <= 0):
            raise SpikegradInputError(f"{where}: v_threshold of {name!r} must be > 0")
        if np.any(vals["v_reset"] != 0):
            raise SpikegradInputError(
                f"{where}: {name!r} has v_reset != 0; spikegrad resets to rest (0)"
            )
        gain = gain / vals["v_threshold"]
    gain = np.where(np.abs(gain - 1.0) <= _UNIT_GAIN_RTOL, 1.0, gain)
    return vals["tau_mem"], vals["tau_syn"], gain


def _recurrent_subgraph(name: str, sub: Any, where: str) -> tuple[str, Any, np.ndarray]:
    """(lif name, CubaLIF node, V) of a recurrent-layer subgraph."""
    nir = _nir()
    where_sub = f"{where}, subgraph {name!r}"
    lifs = [k for k, v in sub.nodes.items() if isinstance(v, nir.CubaLIF)]
    others = [
        k for k, v in sub.nodes.items() if not isinstance(v, (nir.CubaLIF, nir.Input, nir.Output))
    ]
    if len(lifs) != 1 or len(others) != 1:
        raise SpikegradInputError(
            f"{where_sub}: a recurrent layer must hold one CubaLIF and one Linear/Affine "
            f"(plus Input and Output), found {sorted(sub.nodes)}"
        )
    lif, rec = lifs[0], others[0]
    edges = {tuple(e) for e in sub.edges}
    ins = [k for k, v in sub.nodes.items() if isinstance(v, nir.Input)]
    outs = [k for k, v in sub.nodes.items() if isinstance(v, nir.Output)]
    wanted = {(lif, rec), (rec, lif)}
    if len(ins) != 1 or len(outs) != 1:
        raise SpikegradInputError(f"{where_sub}: needs one Input and one Output node")
    wanted |= {(ins[0], lif), (lif, outs[0])}
    if edges != wanted:
        raise SpikegradInputError(
            f"{where_sub}: edges {sorted(edges)} are not input -> lif -> output with "
            f"lif <-> {rec!r}"
        )
    return lif, sub.nodes[lif], _matrix(rec, sub.nodes[rec], where_sub)


def _set_taus(module: torch.nn.Module, tau_mem: np.ndarray, tau_syn: np.ndarray, dt: float) -> None:
    n = tau_mem.shape[0]
    uniform = bool(np.all(tau_mem == tau_mem[0]) and np.all(tau_syn == tau_syn[0]))
    taus = TimeConstants(n, float(tau_mem[0]), float(tau_syn[0]), dt, learn=not uniform)
    if not uniform:
        with torch.no_grad():
            taus.tau_mem.copy_(torch.from_numpy(tau_mem))
            taus.tau_syn.copy_(torch.from_numpy(tau_syn))
    module.taus = taus


def _meta_str(meta: dict, key: str, default: str) -> str:
    v = meta.get(key, default)
    return v.decode() if isinstance(v, bytes) else str(v)


def import_nir(graph_or_path: Any, *, dt: float | None = None) -> SpikingNetwork:
    """Build a :class:`~spikegrad.nn.SpikingNetwork` from a NIR graph or file.

    Accepts the layout :func:`export_nir` writes, and any chain
    ``Input -> (Linear|Affine -> CubaLIF | recurrent subgraph)+ -> Linear|Affine -> CubaLI
    -> Output`` with ``v_leak = v_reset = 0`` (thresholds, ``r`` and ``w_in`` are folded
    into the weights: see ``docs/nir.md``).

    Parameters
    ----------
    graph_or_path:
        A :class:`nir.NIRGraph` or the path of a NIR file.
    dt:
        Simulation step in seconds. Default: the ``dt`` the file's metadata records
        (files from other tools usually have none; then ``dt`` is required).

    Raises
    ------
    SpikegradInputError
        If the file is missing or unreadable, or the graph is not such a chain.
    """
    nir = _nir()
    graph, where = _read(graph_or_path)
    meta = dict(graph.metadata or {})
    if dt is None:
        if "dt" not in meta:
            raise SpikegradInputError(
                f"{where} records no time step (metadata 'dt'); pass dt= in seconds"
            )
        dt = float(np.asarray(meta["dt"]))
    if not (math.isfinite(dt) and dt > 0):
        raise SpikegradInputError(f"dt must be a finite number > 0 seconds, got {dt!r}")
    chain = _chain(graph, where)
    body, delays = _fold_delayed_linears(chain[1:-1], where)
    n_inputs = int(np.prod(np.asarray(chain[0][1].input_type["input"])))
    if len(body) < 4 or len(body) % 2:
        raise SpikegradInputError(
            f"{where}: expected Linear/neuron pairs ending with a CubaLI readout, found "
            f"{[type(n).__name__ for _, n in body]}"
        )
    layers: list[dict[str, Any]] = []
    size = n_inputs
    for i in range(0, len(body), 2):
        (wname, wnode), (nname, nnode) = body[i], body[i + 1]
        w = _matrix(wname, wnode, where)
        if w.shape[1] != size:
            raise SpikegradInputError(
                f"{where}: {wname!r} takes {w.shape[1]} inputs but receives {size}"
            )
        n = w.shape[0]
        last = i == len(body) - 2
        rec = None
        if last:
            if isinstance(nnode, nir.LI):
                raise SpikegradInputError(
                    f"{where}: readout {nname!r} is a LI (no synapse); spikegrad's readout is "
                    "current-based (CubaLI)"
                )
            if not isinstance(nnode, nir.CubaLI):
                raise SpikegradInputError(
                    f"{where}: the last neuron node {nname!r} must be a CubaLI readout, found "
                    f"{type(nnode).__name__}"
                )
            tm, ts, g = _neuron_params(nname, nnode, n, dt, where, spiking=False)
        elif isinstance(nnode, nir.CubaLIF):
            tm, ts, g = _neuron_params(nname, nnode, n, dt, where, spiking=True)
        elif isinstance(nnode, nir.NIRGraph):
            lname, lif, rec = _recurrent_subgraph(nname, nnode, where)
            tm, ts, g = _neuron_params(f"{nname}.{lname}", lif, n, dt, where, spiking=True)
            if rec.shape != (n, n):
                raise SpikegradInputError(
                    f"{where}: recurrent weights of {nname!r} have shape {rec.shape}, "
                    f"expected ({n}, {n})"
                )
            rec = rec * g[:, None]
        else:
            raise SpikegradInputError(
                f"{where}: node {nname!r} is a {type(nnode).__name__}; hidden layers must be "
                "CubaLIF or a recurrent CubaLIF subgraph"
                + (
                    " (Delay nodes: see spikegrad.io.nir.delay_from_nir)"
                    if isinstance(nnode, nir.Delay)
                    else ""
                )
            )
        layers.append({"w": w * g[:, None], "rec": rec, "tau_mem": tm, "tau_syn": ts})
        size = n
    hidden, readout = layers[:-1], layers[-1]
    readout_meta = dict(getattr(body[-1][1], "metadata", None) or {})
    u0 = float(np.asarray(readout_meta.get("u0", -1e-3)))
    from ..functional.surrogate import SURROGATES

    sur_name = _meta_str(meta, "surrogate", "superspike")
    if sur_name not in SURROGATES:  # not ours: the forward pass does not depend on it
        sur_name = "superspike"
    model = SpikingNetwork(
        n_inputs,
        readout["w"].shape[0],
        [h["w"].shape[0] for h in hidden],
        recurrent=[h["rec"] is not None for h in hidden],
        surrogate=sur_name,
        beta=float(np.asarray(meta.get("beta", 10.0))),
        reset=_meta_str(meta, "reset", "detach"),
        recurrent_grad=bool(int(np.asarray(meta.get("recurrent_grad", 1)))),
        readout_mode=_meta_str(meta, "readout_mode", "max"),
        dt=dt,
    )
    with torch.no_grad():
        for layer, h in zip(model.layers, hidden, strict=True):
            layer.weight.copy_(torch.from_numpy(h["w"]))
            if h["rec"] is not None:
                layer.rec_weight.copy_(torch.from_numpy(h["rec"]))
            _set_taus(layer, h["tau_mem"], h["tau_syn"], dt)
        _attach_delays(model, delays, dt)
        model.readout.weight.copy_(torch.from_numpy(readout["w"]))
        _set_taus(model.readout, readout["tau_mem"], readout["tau_syn"], dt)
    model.readout.u0 = u0
    return model


# ----------------------------------------------------------------------------- delays


def delay_to_nir(module: Delay, dt: float) -> nir.Delay:
    """A :class:`~spikegrad.nn.delay.Delay` as a NIR ``Delay`` node (delays in seconds).

    The forward pass clamps delays to ``[0, max_delay]``; the node holds the clamped
    values (``"integer"`` mode: rounded to whole steps of the module's ``dt``, which
    ``dt`` must equal). Integer delays are exact; fractional ones are interpolated by
    spikegrad (``mode``) but are a pure time shift in NIR.
    """
    nir = _nir()
    if not isinstance(module, Delay):
        raise SpikegradInputError(f"delay_to_nir needs a Delay module, got {type(module).__name__}")
    if not math.isclose(float(dt), module.dt, rel_tol=1e-9):
        raise SpikegradInputError(f"dt={dt!r} differs from the Delay module's dt={module.dt!r}")
    d = module.delays.detach().clamp(0.0, module.max_delay).to(torch.float64)
    if module.mode == "integer":
        d = (d / module.dt).round() * module.dt
    return nir.Delay(delay=d.cpu().numpy())


def delay_from_nir(node: Any, dt: float) -> Delay:
    """A fixed :class:`~spikegrad.nn.delay.Delay` of step ``dt`` from a NIR ``Delay`` node.

    Delays that are whole steps (within 1e-6) become an ``"integer"`` delay line,
    others a ``"linear"`` (fractional) one.
    """
    nir = _nir()
    if not isinstance(node, nir.Delay):
        raise SpikegradInputError(f"expected a NIR Delay node, got {type(node).__name__}")
    d = np.asarray(node.delay, dtype=np.float64).reshape(-1) / float(dt)  # steps
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise SpikegradInputError("NIR Delay node needs finite delays >= 0")
    whole = np.allclose(d, np.round(d), rtol=0, atol=1e-6)
    if whole:
        d = np.round(d)
    max_steps = int(math.ceil(float(d.max()) - 1e-9)) if d.size else 0
    return Delay(
        d.size,
        max_steps * float(dt),
        dt=float(dt),
        learnable=False,
        mode="integer" if whole else "linear",
        init=torch.from_numpy(np.minimum(d, max_steps) * float(dt)).to(torch.float32),
    )


# ------------------------------------------------------- per-synapse delays (issue 29)
#
# NIR's Delay node delays each of its channels; a DelayedLinear (one weight and one delay
# per synapse) is the exact chain
#
#     Linear F (fan-out, [O*I, I])  ->  Delay d ([O*I])  ->  Linear W' ([O, O*I])
#
# with channel m = o*I + i carrying input i (F[m, i] = 1) delayed by d[m] = d_oi seconds
# and W'[o, m] = w_oi: I[n, o] = sum_i w_oi x[n - d_oi/dt, i], the DelayedLinear with
# whole-step delays. export_nir writes it in place of fcK (nodes fanK, delayK, fcK).


def _whole_step_delays(proj: Any) -> bool:
    """Whether ``proj`` is a DelayedLinear whose delays are exactly whole steps of its dt
    (what :func:`spikegrad.nn.delay.round_delays` makes) and taps exact for them."""
    from ..nn.delay import DelayedLinear

    if not isinstance(proj, DelayedLinear) or proj.mode == "gaussian":
        return False
    steps = proj.delays.detach().clamp(0.0, proj.max_delay).double() / proj.dt
    return bool(((steps - steps.round()).abs() <= 1e-6).all())


def delayed_linear_to_nir(proj: Any) -> tuple[Any, Any, Any]:
    """A :class:`~spikegrad.nn.delay.DelayedLinear` with whole-step delays as the exact
    NIR chain ``(Linear fan-out, Delay, Linear weights)`` (see the notes above; delays in
    seconds). Fractional or Gaussian-tap delays are refused: round them first
    (:func:`spikegrad.nn.delay.round_delays`)."""
    nir = _nir()
    if not _whole_step_delays(proj):
        raise SpikegradInputError(
            "delayed_linear_to_nir needs a DelayedLinear with whole-step delays and linear "
            "or integer taps; call spikegrad.nn.delay.round_delays(model) first"
        )
    w = proj.weight.detach().to(torch.float64).cpu().numpy()
    O, I = w.shape
    steps = (proj.delays.detach().clamp(0.0, proj.max_delay).double() / proj.dt).round()
    d = (steps * proj.dt).cpu().numpy().reshape(-1)
    fan = np.zeros((O * I, I), np.float32)
    fan[np.arange(O * I), np.tile(np.arange(I), O)] = 1.0
    fc = np.zeros((O, O * I), np.float32)
    fc[np.repeat(np.arange(O), I), np.arange(O * I)] = w.reshape(-1)
    return nir.Linear(weight=fan), nir.Delay(delay=d), nir.Linear(weight=fc)


def delayed_linear_from_nir(fan: Any, delay: Any, fc: Any, dt: float, where: str = "NIR graph"):
    """Weights ``[O, I]`` and delays ``[O, I]`` (seconds) of the chain
    ``Linear fan-out -> Delay -> Linear`` (any channel order; each channel must carry one
    input with gain 1, and each synapse (o, i) at most one delay)."""
    F_ = np.asarray(_matrix("fan-out", fan, where), np.float64)
    W_ = np.asarray(_matrix("weights", fc, where), np.float64)
    d = np.asarray(delay.delay, np.float64).reshape(-1)
    M, I = F_.shape
    if d.shape != (M,) or W_.shape[1] != M:
        raise SpikegradInputError(f"{where}: fan-out, Delay and weights disagree in channels")
    src = F_.argmax(1)
    if not (np.allclose(F_.sum(1), 1.0) and np.allclose(F_[np.arange(M), src], 1.0)):
        raise SpikegradInputError(f"{where}: a fan-out row must hold exactly one 1")
    if not (np.isfinite(d).all() and (d >= 0).all()):
        raise SpikegradInputError(f"{where}: NIR Delay node needs finite delays >= 0")
    O = W_.shape[0]
    w, dd, seen = np.zeros((O, I)), np.zeros((O, I)), np.zeros((O, I), bool)
    for m in range(M):
        for o in np.nonzero(W_[:, m])[0]:
            i = src[m]
            if seen[o, i] and not math.isclose(dd[o, i], d[m], abs_tol=1e-12):
                raise SpikegradInputError(f"{where}: synapse ({o}, {i}) has two delays")
            w[o, i] += W_[o, m]
            dd[o, i], seen[o, i] = d[m], True
    return w, dd


def _is_fanout(node: Any, delay: Any) -> bool:
    """Whether ``node`` is a fan-out matrix (each row a single 1) feeding ``delay``."""
    w = np.asarray(getattr(node, "weight", None), dtype=np.float64)
    d = np.asarray(delay.delay).reshape(-1)
    return bool(
        w.ndim == 2
        and w.shape[0] == d.size
        and np.all((w == 0) | (w == 1))
        and np.all(w.sum(1) == 1)
    )


def _fold_delayed_linears(body: list, where: str) -> tuple[list, dict[int, np.ndarray]]:
    """``body`` with every ``Linear -> Delay -> Linear`` triple replaced by one Linear of
    the folded weights; the delays (seconds) by hidden-layer index."""
    nir = _nir()
    out: list = []
    delays: dict[int, np.ndarray] = {}
    k = 0
    while k < len(body):
        name, node = body[k]
        if (
            k + 2 < len(body)
            and isinstance(body[k + 1][1], nir.Delay)
            and isinstance(node, (nir.Linear, nir.Affine))
            and _is_fanout(node, body[k + 1][1])
        ):
            w, d = delayed_linear_from_nir(node, body[k + 1][1], body[k + 2][1], 1.0, where)
            delays[len(out) // 2] = d
            out.append((body[k + 2][0], nir.Linear(weight=w)))
            k += 3
            continue
        out.append((name, node))
        k += 1
    return out, delays


def _attach_delays(model: SpikingNetwork, delays: dict[int, np.ndarray], dt: float) -> None:
    """Give the hidden layers named in ``delays`` a fixed integer-tap DelayedLinear
    projection holding their (already imported) weights and those delays."""
    from ..nn.delay import DelayedLinear

    for k, d in delays.items():
        if k >= len(model.layers):
            raise SpikegradInputError(
                "a Delay node feeds the readout; spikegrad delays hidden layers only"
            )
        layer = model.layers[k]
        steps = np.round(d / dt)
        if np.abs(d / dt - steps).max(initial=0.0) > 1e-6:
            raise SpikegradInputError(f"delays of layer {k} are not whole steps of dt={dt!r} s")
        proj = DelayedLinear(
            layer.in_features, layer.out_features, float(steps.max(initial=0.0)) * dt, dt=dt,
            learnable=False, mode="integer", init=torch.from_numpy(steps * dt).float(),
        )  # fmt: skip
        with torch.no_grad():
            proj.weight.copy_(layer.weight)
        layer.projection = proj
        layer.weight = proj.weight
