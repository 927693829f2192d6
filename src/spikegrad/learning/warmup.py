"""Compile the CPU kernels before the first training step: ``python -m spikegrad.learning.warmup``.

numba compiles a kernel on its first call and stores the machine code on disk
(``cache=True``, under the package's ``__pycache__`` or ``NUMBA_CACHE_DIR``); every later
process loads it in milliseconds. Without a warm-up the first ``spikegrad train`` of a
fresh installation pays that compilation inside its first epoch (about 15 s on the
project's idle 2-core VM), and the progress bar's first estimate is wrong by as much.
``scripts/setup.sh`` runs this module once, so the README's first command starts at full
speed.

The warm-up trains, for one epoch and without a run folder, the same configurations the
default command runs (feed-forward and recurrent LIF on a tiny Randman, float32, the
``auto`` backend), the adaptive LIF network (``--model alif``, whose compiled loops
spiking conv layers share), the Izhikevich network (``--model izhikevich``), e-prop
(``--rule eprop``) and the conductance-based network's perturbation rules (``--model coba``,
compiled forward): the calls reach exactly the kernel signatures a real run reaches, so
they are what is cached.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time
import warnings

__all__ = ["warm_up"]


def warm_up(*, verbose: bool = False) -> float:
    """Run one tiny epoch of each default configuration; return the wall seconds taken.

    Parameters
    ----------
    verbose:
        Print one line per configuration with its time.
    """
    from ..data.randman import make_randman_dataset
    from .config import TrainConfig, train

    # the default batch (250) over 300 samples: a full batch and a partial one, so the
    # size-dependent kernel choices (checkpointed blocks, chunked batches) are reached
    data = make_randman_dataset(samples_per_class=32, seed=0)
    n = len(data)
    split = (
        data.subset(range(0, n - 20)),
        data.subset(range(n - 20, n - 10)),
        data.subset(range(n - 10, n)),
    )
    t_all = time.perf_counter()
    # the default init and the fluctuation-driven one: the latter makes every hidden
    # neuron spike in the first epoch, so the spike paths are reached and compiled too
    # (model "lif"); the adaptive LIF network (model "alif") reaches the compiled ALIF
    # loops and the event-driven input projection that conv and option-LIF layers use too
    runs = [
        ("lif", r, i, "bptt")
        for r, i in itertools.product((False, True), ("default", "fluctuation"))
    ]
    runs += [("alif", r, "fluctuation", "bptt") for r in (False, True)]
    runs += [("izhikevich", False, "default", "bptt")]  # the compiled Izhikevich loops
    # e-prop's compiled backward sweep (kernels.eprop_numba), feed-forward and recurrent
    runs += [("lif", r, "fluctuation", "eprop") for r in (False, True)]
    # the compiled conductance-based forward (kernels.coba_numba) its perturbation rules run
    runs += [("coba", False, "default", "conductance")]
    for model, recurrent, init, rule in runs:
        t0 = time.perf_counter()
        cfg = TrainConfig(epochs=1, recurrent=recurrent, seed=0, model=model, rule=rule)
        if init != "default":
            cfg = dataclasses.replace(cfg, init=init)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train(cfg, data=split, out_dir=None, progress=False, plots=False)
        if verbose:
            kind = "recurrent" if recurrent else "feed-forward"  # (izhikevich: ff only)
            print(f"{kind} {model}, {rule}, {init} init: {time.perf_counter() - t0:.1f} s")
    return time.perf_counter() - t_all


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m spikegrad.learning.warmup [--quiet]``."""
    ap = argparse.ArgumentParser(prog="python -m spikegrad.learning.warmup", description=__doc__)
    ap.add_argument("--quiet", action="store_true", help="print nothing")
    args = ap.parse_args(argv)
    seconds = warm_up(verbose=not args.quiet)
    if not args.quiet:
        print(f"kernels ready ({seconds:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
