"""Synaptic operations and energy per sample of the bench/peers.py network.

The network and inputs of ``bench/peers.py`` (700 Bernoulli inputs at p = 0.02 per 1 ms
step, 200 LIF neurons with the scaled seed-0 input weights, 20 leaky-integrator readout
units; feed-forward and recurrent; T = 100 and 500), untrained, counted with
:class:`spikegrad.nn.energy.OpCounter` (per-operation costs: Horowitz 2014, 45 nm).

    python bench/synops.py [--batch 64] [--T 100 500] [--json FILE]
    python bench/synops.py --run RUN_DIR   # a `spikegrad train` run's best model, test split
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import SpikegradModel, make_data, make_weights  # noqa: E402

from spikegrad.nn.energy import OpCounter  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64, help="samples counted (default 64)")
    p.add_argument("--T", type=int, nargs="+", default=[100, 500], help="steps per trial")
    p.add_argument("--json", metavar="FILE", help="write the reports as JSON")
    p.add_argument("--run", type=Path, help="count a spikegrad train run folder instead")
    args = p.parse_args(argv)
    if args.run is not None:
        return _count_run(args.run, args.json)
    rows = []
    for rec in (False, True):
        w = make_weights(rec)
        model = SpikegradModel(w, rec).net
        for T in args.T:
            x, _ = make_data(T, args.batch)
            counter = OpCounter()
            with torch.no_grad():
                counter.add(model, x, model(x))
            rep = counter.report()
            assert rep is not None
            rows.append({"network": "rec" if rec else "ff", "T": T, "report": rep})
            t = rep["total"]
            hid = rep["layers"][0]
            print(
                f"{'rec' if rec else 'ff':3s} T={T:3d}: input events {hid['input_events']:.0f}, "
                f"hidden spikes {rep['layers'][1]['input_events']:.0f}; SynOps "
                f"{t['synops']:.4g} vs dense MACs {t['dense_macs']:.4g} "
                f"({100 * t['synops'] / t['dense_macs']:.2f} %); energy "
                f"{t['energy_pj'] / 1e6:.3f} uJ (compute {t['energy_compute_pj'] / 1e6:.3f}, "
                f"memory {t['energy_memory_pj'] / 1e6:.3f}) vs dense "
                f"{t['dense_energy_pj'] / 1e6:.3f} uJ per sample"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


def _count_run(run: Path, out: str | None) -> int:
    """What fit() counts at the end of a run, from the folder's best-validation model."""
    from spikegrad.api import load_run
    from spikegrad.learning.config import TrainConfig, build_task
    from spikegrad.learning.trainer import evaluate
    from spikegrad.nn.energy import summary_line

    model = load_run(run)
    task = build_task(TrainConfig.from_dict(json.loads((run / "config.json").read_text())))
    counter = OpCounter()
    res = evaluate(model, task, "test", ops=counter)
    rep = counter.report()
    assert rep is not None
    print(f"test accuracy {res['accuracy']:.4f}, {res['spikes_per_neuron']:.3f} spikes/neuron")
    print(summary_line(rep))
    for r in rep["layers"]:
        print(f"  {r['name']:9s} events {r['input_events']:.1f}  SynOps {r['synops']:.1f}  "
              f"dense MACs {r['dense_macs']:.0f}  updates {r['neuron_updates']:.0f}  "
              f"memory {r['memory_words']:.0f} words  energy {r['energy_pj'] / 1e6:.4f} uJ "
              f"(dense {r['dense_energy_pj'] / 1e6:.4f})")
    if out:
        Path(out).write_text(json.dumps(rep, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
