"""``spikegrad predict``: the classes a trained run predicts for new inputs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .._checks import SpikegradInputError


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``predict`` sub-command."""
    p = sub.add_parser(
        "predict",
        help="predict the classes of new inputs with a trained run",
        description="Load the model of a run folder (spikegrad train / compare / fit) and "
        "print the class it predicts for each sample of INPUT: an event file in SHD's "
        "HDF5 layout (.h5, e.g. from spikegrad encode-audio), binned the way the run's "
        "task binned its training data (recorded in its config.json), or a numpy array "
        "(.npy) of spikes [samples, steps, inputs] (sample-major).",
    )
    p.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    p.add_argument("input", type=Path, metavar="INPUT",
                   help="an SHD-layout event file (.h5) or a .npy array [N, T, C]")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np
    import torch

    from ..api import load_run, predict, read_for_run
    from ..data.spikes import SpikeDataset

    if not args.input.is_file():
        raise SpikegradInputError(f"INPUT {str(args.input)!r} does not exist")
    model = load_run(args.run_dir)
    labels = None
    if args.input.suffix == ".npy":
        try:
            x = np.load(args.input, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:  # EOFError: an empty file
            raise SpikegradInputError(
                f"INPUT {str(args.input)!r} is not a .npy array: {exc}"
            ) from exc
        if x.ndim != 3:
            raise SpikegradInputError(
                f"INPUT {str(args.input)!r}: expected [samples, steps, inputs], got shape "
                f"{x.shape}"
            )
        data = SpikeDataset.from_dense(torch.from_numpy(np.ascontiguousarray(x)),
                                       torch.zeros(x.shape[0], dtype=torch.int64))
        keys = [str(k) for k in range(x.shape[0])]
    else:
        data = read_for_run(args.run_dir, args.input)
        labels = data.labels.tolist()
        keys = _keys(args.input, len(data))
    n_in = getattr(model, "n_inputs", None)
    if n_in is not None and data.n_units != n_in:
        raise SpikegradInputError(
            f"INPUT has {data.n_units} input channels; the run's model takes {n_in}"
        )
    pred = predict(model, data).tolist()
    rows = [{"sample": k, "predicted": p} | ({"label": labels[i]} if labels else {})
            for i, (k, p) in enumerate(zip(keys, pred, strict=True))]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(f"{r['sample']}\t{r['predicted']}")
    return 0


def _keys(path: Path, n: int) -> list[str]:
    """``extra/keys`` of an SHD-layout file (the encoded file names), else 0..n-1."""
    try:
        import h5py

        with h5py.File(path, "r") as f:
            if "extra/keys" in f and len(f["extra/keys"]) == n:
                return [k.decode() if isinstance(k, bytes) else str(k) for k in f["extra/keys"]]
    except (OSError, ImportError):
        pass
    return [str(k) for k in range(n)]
