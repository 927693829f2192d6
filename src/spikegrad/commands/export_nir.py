"""``spikegrad export-nir`` / ``import-nir``: trained networks to and from NIR files."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``export-nir`` and ``import-nir`` sub-commands."""
    from ._flags import HelpFormatter

    p = sub.add_parser(
        "export-nir",
        help="write a trained run's network as a NIR graph (CubaLIF / CubaLI / Linear)",
        description="Load RUN_DIR/checkpoint.pt (best weights) with RUN_DIR/config.json and "
        "write the network as a NIR file (Neuromorphic Intermediate Representation). The "
        "parameter conversion is described in docs/nir.md.",
        formatter_class=HelpFormatter,
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
    q.add_argument("path", type=Path, metavar="FILE.nir", help="NIR file to read")
    q.add_argument("--dt", type=float, default=None, help="step (s) if the file records none")
    q.set_defaults(func=_cmd_import)


def _cmd_export(args: argparse.Namespace) -> int:
    from ..api import load_run
    from ..io.nir import export_nir
    from ..io.run import refuse_overwriting_input

    if args.run_dir.is_dir():
        refuse_overwriting_input(args.out, [p for p in args.run_dir.iterdir() if p.is_file()],
                                 "OUT.nir")  # fmt: skip
    model = load_run(args.run_dir)
    graph = export_nir(model, args.out, dt=args.dt)
    sizes = [getattr(layer, "out_features", type(layer).__name__) for layer in model.layers]
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
