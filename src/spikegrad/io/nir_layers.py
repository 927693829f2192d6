r"""NIR export and import of :class:`~spikegrad.nn.sequential.SpikingSequential` networks.

The same conversion of the LIF neuron as :mod:`spikegrad.io.nir` (``tau_mem``,
``tau_syn``, ``r = 1``, ``w_in = tau_syn / dt``, ``v_leak = v_reset = 0``), with the
layers NIR has nodes for:

=============================  ===============================================================
spikegrad                      NIR nodes (names)
=============================  ===============================================================
``SpikingConv2d``              ``convK`` :class:`nir.Conv2d` (weight, bias, stride, padding) ->
                               ``lifK`` :class:`nir.CubaLIF` with ``[C, H, W]`` parameters
``SpikingAvgPool2d``           ``poolK`` :class:`nir.AvgPool2d`
``SpikingSumPool2d``           ``poolK`` :class:`nir.SumPool2d`
``Flatten``                    ``flattenK`` :class:`nir.Flatten` (``start_dim=0`` of the
                               unbatched ``[C, H, W]``)
``LIFLayer`` (feed-forward)    ``fcK`` :class:`nir.Linear` -> ``lifK`` :class:`nir.CubaLIF`
``Readout``                    ``fc_out`` :class:`nir.Linear` -> ``readout`` :class:`nir.CubaLI`
``TimeDropout``                nothing (the identity at inference)
=============================  ===============================================================

A threshold other than 1 is written as ``v_threshold`` (exact). Max pooling, reset by
subtraction, refractory periods, adaptation, Izhikevich neurons and recurrent layers in
a sequential network have no node here and are refused with a one-line error. Import
reads that chain back (any ``v_threshold`` > 0 is kept as the threshold).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._checks import SpikegradInputError
from ..nn.conv import Flatten, SpikingAvgPool2d, SpikingConv2d, SpikingSumPool2d, TimeDropout
from ..nn.lif import LIFLayer, Readout, TimeConstants
from ..nn.sequential import SpikingSequential
from .nir import _chain, _layer_taus, _neuron_params, _nir, _read, _weight, _write, nir_parameters

__all__ = ["export_sequential_nir", "import_sequential_nir"]


def _per_neuron(v: torch.Tensor | float, channels: int, hw: int) -> torch.Tensor | float:
    if isinstance(v, torch.Tensor):
        return v.detach().repeat_interleave(hw) if v.numel() == channels else v.detach()
    return v


def _lif_node(nir: Any, tm, ts, threshold, n: int, dt: float, shape: tuple[int, ...]):
    p = nir_parameters(tm, ts, n, dt, spiking=True)
    if isinstance(threshold, torch.Tensor):
        p["v_threshold"] = threshold.detach().cpu().to(torch.float64).numpy().reshape(n).copy()
    else:
        p["v_threshold"] = np.full(n, float(threshold))
    return nir.CubaLIF(**{k: v.reshape(shape) for k, v in p.items()})


def _check_neuron(k: int, layer: Any) -> None:
    if layer.reset == "subtract" or layer.refractory_steps > 0:
        raise SpikegradInputError(
            f"cannot export layer {k}: NIR's CubaLIF resets to v_reset; reset='subtract' and "
            "refractory periods have no NIR form"
        )


def export_sequential_nir(
    model: SpikingSequential, path: str | Path | None = None, *, dt: float | None = None
) -> Any:
    """Describe a :class:`SpikingSequential` as a NIR graph (and write it to ``path``).

    ``dt`` (seconds) as in :func:`spikegrad.io.nir.export_nir` (default: the model's).
    """
    nir = _nir()
    if not isinstance(model, SpikingSequential):
        raise SpikegradInputError(
            f"export_sequential_nir needs a SpikingSequential, got {type(model).__name__}"
        )
    for name, p in model.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise SpikegradInputError(f"cannot export: parameter {name!r} holds NaN or inf")
    model_dt = float(model.readout.taus.dt)
    dt = model_dt if dt is None else float(dt)
    if not (math.isfinite(dt) and dt > 0):
        raise SpikegradInputError(f"dt must be a finite number > 0 seconds, got {dt!r}")
    shape: tuple[int, ...] = model.input_shape or (model.n_inputs,)
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    prev = "input"

    def add(name: str, node: Any) -> None:
        nonlocal prev
        nodes[name] = node
        edges.append((prev, name))
        prev = name

    for k, layer in enumerate(model.layers):
        if isinstance(layer, SpikingConv2d):
            _check_neuron(k, layer)
            c_in, h, w = shape
            conv = layer.conv
            with torch.no_grad():
                out_hw = conv(torch.zeros(1, c_in, h, w, dtype=conv.weight.dtype)).shape[1:]
            add(f"conv{k}", nir.Conv2d(
                input_shape=(h, w), weight=_weight(conv.weight), stride=conv.stride,
                padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                bias=_weight(layer.bias)))
            shape = tuple(int(s) for s in out_hw)
            n, hw = math.prod(shape), shape[1] * shape[2]
            tm, ts = _layer_taus(layer.taus)
            add(f"lif{k}", _lif_node(
                nir, _per_neuron(tm, shape[0], hw), _per_neuron(ts, shape[0], hw),
                _per_neuron(layer.threshold, shape[0], hw), n, dt, shape))
        elif isinstance(layer, (SpikingAvgPool2d, SpikingSumPool2d)):
            cls = nir.AvgPool2d if isinstance(layer, SpikingAvgPool2d) else nir.SumPool2d
            ks = np.array([layer.kernel_size] * 2)
            add(f"pool{k}", cls(kernel_size=ks, stride=np.array([layer.stride] * 2),
                                padding=np.array([0, 0])))
            c, h, w = shape
            shape = (c, (h - layer.kernel_size) // layer.stride + 1,
                     (w - layer.kernel_size) // layer.stride + 1)
        elif isinstance(layer, Flatten):
            add(f"flatten{k}", nir.Flatten(input_type={"input": np.array(shape)}, start_dim=0,
                                           end_dim=-1))
            shape = (math.prod(shape),)
        elif isinstance(layer, TimeDropout):
            continue
        elif isinstance(layer, LIFLayer) and type(layer) is LIFLayer:
            _check_neuron(k, layer)
            if layer.rec_weight is not None or layer.projection is not None:
                raise SpikegradInputError(
                    f"cannot export layer {k}: recurrent or delayed LIF layers inside a "
                    "SpikingSequential have no NIR form here (use SpikingNetwork's export_nir)"
                )
            tm, ts = _layer_taus(layer.taus)
            add(f"fc{k}", nir.Linear(weight=_weight(layer.weight)))
            add(f"lif{k}", _lif_node(nir, tm, ts, layer.threshold, layer.out_features, dt,
                                     (layer.out_features,)))
            shape = (layer.out_features,)
        else:
            raise SpikegradInputError(
                f"cannot export layer {k} ({type(layer).__name__}): NIR has no node for it "
                "here (exported: SpikingConv2d, SpikingAvgPool2d, SpikingSumPool2d, Flatten, "
                "feed-forward LIFLayer, TimeDropout)"
            )
    ro: Readout = model.readout
    tm, ts = _layer_taus(ro.taus)
    add("fc_out", nir.Linear(weight=_weight(ro.weight)))
    add("readout", nir.CubaLI(**nir_parameters(tm, ts, ro.n_classes, dt, spiking=False),
                              metadata={"u0": ro.u0}))
    add("output", nir.Output(output_type={"output": np.array([ro.n_classes])}))
    lif0 = next((m for m in model.layers if hasattr(m, "surrogate")), None)
    metadata = {
        "producer": "spikegrad",
        "model": "SpikingSequential (Zenke & Vogels eq. 4.1 neurons, exp(-dt/tau) decays)",
        "dt": dt,
        "surrogate": str(getattr(getattr(lif0, "surrogate", None), "name", "superspike")),
        "beta": float(getattr(getattr(lif0, "surrogate", None), "beta", 10.0)),
        "reset": str(getattr(lif0, "reset", "detach")),
        "readout_mode": model.readout_mode,
    }
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)
    if path is not None:
        _write(graph, Path(path))
    return graph


def _taus_of(tm: np.ndarray, ts: np.ndarray, n: int, dt: float) -> TimeConstants:
    uniform = bool(np.all(tm == tm.flat[0]) and np.all(ts == ts.flat[0]))
    taus = TimeConstants(n, float(tm.flat[0]), float(ts.flat[0]), dt, learn=not uniform)
    if not uniform:
        # learn=True: the taus are per-neuron parameters
        assert isinstance(taus.tau_mem, torch.Tensor) and isinstance(taus.tau_syn, torch.Tensor)
        with torch.no_grad():
            taus.tau_mem.copy_(torch.from_numpy(tm.reshape(n).copy()))
            taus.tau_syn.copy_(torch.from_numpy(ts.reshape(n).copy()))
    return taus


def import_sequential_nir(graph_or_path: Any, *, dt: float | None = None) -> SpikingSequential:
    """Build a :class:`SpikingSequential` from the chain :func:`export_sequential_nir` writes.

    Conv2d nodes must be followed by a CubaLIF whose parameters are uniform per channel;
    ``r``, ``w_in`` and ``v_threshold`` are folded as in :func:`spikegrad.io.nir.import_nir`
    except that ``v_threshold`` stays the neurons' threshold.
    """
    nir = _nir()
    graph, where = _read(graph_or_path)
    meta = dict(graph.metadata or {})
    if dt is None:
        if "dt" not in meta:
            raise SpikegradInputError(f"{where} records no time step (metadata 'dt'); pass dt=")
        dt = float(np.asarray(meta["dt"]))
    chain = _chain(graph, where)
    in_shape = tuple(int(s) for s in np.asarray(chain[0][1].input_type["input"]).reshape(-1))
    body = chain[1:-1]
    layers: list[torch.nn.Module] = []
    shape = in_shape
    i = 0
    while i < len(body):
        name, node = body[i]
        nxt: tuple[str, Any] = body[i + 1] if i + 1 < len(body) else ("", None)
        if isinstance(node, nir.Conv2d):
            w = np.asarray(node.weight, dtype=np.float64)
            if not isinstance(nxt[1], nir.CubaLIF):
                raise SpikegradInputError(f"{where}: Conv2d {name!r} must be followed by a CubaLIF")
            stride = int(np.asarray(node.stride).reshape(-1)[0])
            padding = int(np.asarray(node.padding).reshape(-1)[0])
            conv = SpikingConv2d(w.shape[1], w.shape[0], w.shape[-1], stride=stride,
                                 padding=padding, dt=dt)
            c, h, ww = shape
            with torch.no_grad():
                out = conv.conv(torch.zeros(1, c, h, ww)).shape[1:]
            shape = tuple(int(s) for s in out)
            n = math.prod(shape)
            lif = nxt[1]
            vt = np.broadcast_to(np.asarray(lif.v_threshold, dtype=np.float64), shape).reshape(n)
            flat = nir.CubaLIF(**{f: np.broadcast_to(np.asarray(getattr(lif, f), dtype=np.float64),
                                                     shape).reshape(n)
                                  for f in ("tau_mem", "tau_syn", "r", "v_leak", "w_in")},
                               v_threshold=np.ones(n),
                               v_reset=np.zeros(n) if lif.v_reset is None else np.broadcast_to(
                                   np.asarray(lif.v_reset, dtype=np.float64), shape).reshape(n))
            tm, ts, g = _neuron_params(nxt[0], flat, n, dt, where, spiking=True)
            per_c = [x.reshape(shape[0], -1) for x in (tm, ts, g, vt)]
            if any(not np.all(x == x[:, :1]) for x in per_c):
                raise SpikegradInputError(
                    f"{where}: {nxt[0]!r} parameters must be uniform within each channel"
                )
            tmc, tsc, gc, vtc = (x[:, 0] for x in per_c)
            with torch.no_grad():
                conv.conv.weight.copy_(torch.from_numpy(w * gc[:, None, None, None]))
                conv.bias.copy_(torch.from_numpy(np.asarray(node.bias, dtype=np.float64) * gc))
            conv.taus = _taus_of(tmc, tsc, shape[0], dt)
            if np.all(vtc == vtc[0]):
                conv.threshold = float(vtc[0])
            else:
                conv.threshold = torch.nn.Parameter(torch.from_numpy(vtc.copy()).float())
            layers.append(conv)
            i += 2
        elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            ks = int(np.asarray(node.kernel_size).reshape(-1)[0])
            st = int(np.asarray(node.stride).reshape(-1)[0])
            cls = SpikingAvgPool2d if isinstance(node, nir.AvgPool2d) else SpikingSumPool2d
            layers.append(cls(ks, st))
            c, h, ww = shape
            shape = (c, (h - ks) // st + 1, (ww - ks) // st + 1)
            i += 1
        elif isinstance(node, nir.Flatten):
            layers.append(Flatten())
            shape = (math.prod(shape),)
            i += 1
        elif isinstance(node, (nir.Linear, nir.Affine)) and isinstance(nxt[1], nir.CubaLIF):
            w = np.asarray(node.weight, dtype=np.float64)
            n = w.shape[0]
            vt = np.broadcast_to(np.asarray(nxt[1].v_threshold, dtype=np.float64), (n,))
            tm, ts, g = _neuron_params(nxt[0], nxt[1], n, dt, where, spiking=True)
            g = g * vt  # keep the threshold: fold only r and w_in
            thr = float(vt[0]) if np.all(vt == vt[0]) else 1.0
            layer = LIFLayer(w.shape[1], n, dt=dt, threshold=thr)
            if thr == 1.0 and not np.all(vt == 1.0):
                layer.threshold = torch.nn.Parameter(torch.from_numpy(vt.copy()).float())
            with torch.no_grad():
                layer.weight.copy_(torch.from_numpy(w * g[:, None]))
            layer.taus = _taus_of(tm, ts, n, dt)
            layers.append(layer)
            shape = (n,)
            i += 2
        elif isinstance(node, (nir.Linear, nir.Affine)) and isinstance(nxt[1], nir.CubaLI):
            w = np.asarray(node.weight, dtype=np.float64)
            n = w.shape[0]
            tm, ts, g = _neuron_params(nxt[0], nxt[1], n, dt, where, spiking=False)
            ro = Readout(w.shape[1], n, dt=dt,
                         u0=float(np.asarray(dict(nxt[1].metadata or {}).get("u0", -1e-3))))
            with torch.no_grad():
                ro.weight.copy_(torch.from_numpy(w * g[:, None]))
            ro.taus = _taus_of(tm, ts, n, dt)
            layers.append(ro)
            i += 2
        else:
            raise SpikegradInputError(
                f"{where}: node {name!r} ({type(node).__name__}) is not part of a chain "
                "spikegrad imports (Conv2d+CubaLIF, AvgPool2d, SumPool2d, Flatten, "
                "Linear+CubaLIF, Linear+CubaLI)"
            )
    mode = meta.get("readout_mode", "max")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    return SpikingSequential(*layers, input_shape=in_shape if len(in_shape) > 1 else None,
                             readout_mode=mode)
