"""Unbiasedness of the dynamic-perturbation estimate: cosine with finite differences.

On the check network of :mod:`spikegrad.perturbation.check` (4 inputs, 2 E + 1 I
conductance-based neurons, 18 plastic synapses, 60 steps of 0.5 ms), for several noise
scales sigma: the finite-difference gradient of E_xi[R] (common random numbers, h = 0.5 nS,
``--fd-trials`` trials) against the perturbation estimate averaged over k trials
(mean cosine over disjoint blocks of k trials). Also the empiric-synapse variant.

Usage::

    python bench/perturbation_gradient.py [--trials 10000] [--fd-trials 4000]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikegrad.perturbation import EmpiricSynapses, cosine, estimate_gradient
from spikegrad.perturbation.check import gradient_check, small_problem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10000)
    ap.add_argument("--fd-trials", type=int, default=4000)
    ap.add_argument("--out", type=Path, default=Path("runs/perturbation_gradient"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    t0 = time.time()
    fds = {}
    for sigma in (0.3, 1.0, 3.0):
        chk = gradient_check(a.trials, fd_trials=a.fd_trials, sigma=sigma)
        fds[sigma] = chk
        row = {"method": "conductance", "sigma": sigma,
               **{str(k): v for k, v in chk.cosines.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if sigma == 1.0:
            from spikegrad.perturbation.plots import plot_gradient_scatter

            plot_gradient_scatter(chk, a.out / "gradient_scatter.png")
    # empiric synapses (sigma_eff from the Poisson drive), against the sigma = 1 FD
    net, p, x, W, reward = small_problem()
    chk = fds[1.0]
    for emp in (EmpiricSynapses(400.0, 1.0, 1e-3), EmpiricSynapses(100.0, 1.0, 4e-3)):
        g, _, _ = estimate_gradient("empiric", W, net, p, x, reward, sigma=1.0,
                                    n_trials=a.trials, empiric=emp,
                                    generator=torch.Generator().manual_seed(9))
        row = {"method": f"empiric(rate={emp.rate:g}, tau={emp.tau * 1e3:g} ms)",
               "sigma_eff": emp.sigma2(p.dt) ** 0.5}
        for k in (10, 100, 1000, a.trials):
            blocks = g[: (a.trials // k) * k].split(k)
            row[str(k)] = sum(cosine(b.mean(0), chk.finite_difference, chk.mask)
                              for b in blocks) / len(blocks)
        rows.append(row)
        print(json.dumps(row), flush=True)
    (a.out / "gradient.json").write_text(json.dumps(rows, indent=2))
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
