"""``spikegrad export-nir`` / ``import-nir``: trained networks to and from NIR files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export-nir`` and ``import-nir`` sub-commands."""
    p = sub.add_parser(
        "export-nir",
        help="write a trained run's network as a NIR graph (CubaLIF / CubaLI / Linear)",
        description="Load RUN_DIR/checkpoint.pt (best weights) with RUN_DIR/config.json and "
        "write the network as a NIR file (Neuromorphic Intermediate Representation). The "
        "parameter conversion is described in docs/nir.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="training run folder")
    p.add_argument("out", type=Path, metavar="OUT.nir", help="NIR file to write")
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="step (s) of the simulator meant to run the file (w_in = tau_syn/dt); "
        "default: the run's dt",
    )
    p.set_defaults(func=_cmd_export)

    q = sub.add_parser(
        "import-nir",
        help="read a NIR file into a spikegrad network and print its layers",
        description="Read a NIR file with spikegrad.io.nir.import_nir and print the network "
        "it describes (layer sizes, recurrence, time constants) as JSON.",
    )
    q.add_argument("path", type=Path, metavar="FILE.nir")
    q.add_argument("--dt", type=float, default=None, help="step (s) if the file records none")
    q.set_defaults(func=_cmd_import)


def load_run_model(run_dir: Path):
    """The network of a training run folder (``config.json`` + ``checkpoint.pt``)."""
    from ..io.checkpoint import load_checkpoint
    from ..learning.config import TrainConfig, build_model

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise SpikegradInputError(f"run folder {str(run_dir)!r} does not exist")
    payload = load_checkpoint(run_dir / "checkpoint.pt")
    cfg_path = run_dir / "config.json"
    if cfg_path.is_file():
        try:
            cfg_dict = json.loads(cfg_path.read_text())
        except json.JSONDecodeError as exc:
            raise SpikegradInputError(f"{str(cfg_path)!r} is not valid JSON: {exc}") from exc
    else:
        cfg_dict = payload["config"]
    config = TrainConfig.from_dict(cfg_dict)
    sd = payload["state_dict"]
    try:
        n_inputs = int(sd["layers.0.weight"].shape[1])
        n_classes = int(sd["readout.weight"].shape[0])
    except (KeyError, AttributeError, IndexError) as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} has no SpikingNetwork weights ({exc})"
        ) from exc
    model = build_model(config, n_inputs, n_classes)
    try:
        model.load_state_dict(sd)
    except RuntimeError as exc:
        raise SpikegradInputError(
            f"checkpoint in {str(run_dir)!r} does not fit its config.json: {exc}"
        ) from exc
    return model


def _cmd_export(args: argparse.Namespace) -> int:
    from ..io.nir import export_nir

    model = load_run_model(args.run_dir)
    graph = export_nir(model, args.out, dt=args.dt)
    sizes = [layer.out_features for layer in model.layers]
    print(
        f"wrote {args.out}: {model.n_inputs} inputs -> hidden {sizes} -> "
        f"{model.n_classes} readouts ({len(graph.nodes)} nodes)"
    )
    return 0


def _cmd_import(args: argparse.Namespace) -> int:
    from ..io.nir import import_nir

    model = import_nir(args.path, dt=args.dt)
    layers = [
        {
            "in": layer.in_features,
            "out": layer.out_features,
            "recurrent": layer.recurrent,
            "tau_mem": _tau(layer.taus.tau_mem),
            "tau_syn": _tau(layer.taus.tau_syn),
        }
        for layer in model.layers
    ]
    info = {
        "n_inputs": model.n_inputs,
        "n_classes": model.n_classes,
        "dt": model.readout.taus.dt,
        "layers": layers,
        "readout": {
            "tau_mem": _tau(model.readout.taus.tau_mem),
            "tau_syn": _tau(model.readout.taus.tau_syn),
            "u0": model.readout.u0,
        },
    }
    print(json.dumps(info, indent=2))
    return 0


def _tau(t) -> float | list[float]:
    return [float(v) for v in t.detach().flatten()] if hasattr(t, "detach") else float(t)
