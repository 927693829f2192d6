"""Variance scaling of perturbative gradient estimators (Werfel, Xie & Seung 2005).

A feed-forward layer of ``N`` conductance-based E neurons receives ``M`` frozen
Poisson-like inputs (20 Hz); every input synapse is plastic. Reward:
``R = -sum_i mean_t (r_i(t) - r*_i(t))^2 / 1e4`` with r*_i a ramp to 60 Hz (smoothed rate,
tau 10 ms). For each configuration ``K`` single-trial estimates g_k are drawn and we report
the relative variance

    V = E||g_k - g||^2 / ||g||^2,

with g the mean of the K estimates and ||g||^2 corrected for its own sampling noise
(||g_mean||^2 - tr(Cov)/K). V is the number of trials needed for an estimate with unit
signal-to-noise ratio. Sweeps (one factor at a time around N=4, M=10, 100 steps of 0.5 ms):
perturbed neurons N, inputs M (synapses per neuron), trial length T (time bins), and dt at
fixed duration; conductance perturbation (F&S), node perturbation of currents and weight
perturbation.

Usage::

    python bench/perturbation_variance.py [--trials 3000] [--problems 3]

Reported: the median of V over ``--problems`` random problems (inputs, weights); a problem
whose gradient is not resolved by the trials (negative corrected ||g||^2) counts as inf.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikegrad.perturbation import CobaParams, CobaTopology, estimate_gradient, smoothed_rate

SIGMA = {"conductance": 0.5, "current": 20.0, "weight": 1.5}  # weight: at M = 10


def problem(N: int, M: int, T: int, dt: float = 5e-4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    conn = torch.zeros(N, M + N, dtype=torch.bool)
    conn[:, :M] = True
    net = CobaTopology(M, N, 0, connectivity=conn)
    p = CobaParams(dt=dt)
    x = (torch.rand(T, 1, M, generator=g) < 20.0 * dt).double()
    # input weights scaled so that the mean drive does not depend on M; the N neurons are
    # identical copies (same weights, same target), so only the number of perturbed units
    # changes along the N sweep
    W = torch.zeros(N, M + N, dtype=torch.float64)
    W[:, :M] = torch.rand(1, M, generator=g, dtype=torch.float64) * 60.0 / M
    tgt = torch.linspace(0, 60, T, dtype=torch.float64).view(-1, 1, 1)

    def reward(sp):
        r = smoothed_rate(sp, dt, 10e-3)
        return -((r - tgt) ** 2).mean(0).sum(-1) / 1e4

    return net, p, x, W, reward


def rel_variance(method: str, N: int, M: int, T: int, dt: float, K: int, seed: int) -> dict:
    net, p, x, W, reward = problem(N, M, T, dt, seed)
    # weight perturbation: sigma_w = 1.5 * 10 / M nS, half the mean weight
    sigma = SIGMA[method] * (10.0 / M if method == "weight" else 1.0)
    g, _, _ = estimate_gradient(method, W, net, p, x, reward, sigma=sigma,
                                n_trials=K, generator=torch.Generator().manual_seed(seed + 1))
    m = net.plastic
    gk = g[:, m]
    mean = gk.mean(0)
    tr = float(((gk - mean) ** 2).sum(1).mean())
    sig2 = float((mean**2).sum()) - tr / K
    return {"method": method, "N": N, "M": M, "T": T, "dt": dt, "synapses": int(m.sum()),
            "rel_variance": tr / sig2 if sig2 > 0 else float("inf"),
            "snr_ok": sig2 > 3 * tr / K}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--problems", type=int, default=3, help="random problems averaged")
    ap.add_argument("--out", type=Path, default=Path("runs/perturbation_variance"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    rows = []
    base = {"N": 4, "M": 10, "T": 100, "dt": 5e-4}
    sweeps = {
        "N": [1, 2, 4, 8, 16],
        "M": [5, 10, 20, 40],
        "T": [50, 100, 200, 400],
        "dt": [1e-3, 5e-4, 2.5e-4],
    }
    for factor, values in sweeps.items():
        for v in values:
            cfg = dict(base)
            cfg[factor] = v
            if factor == "dt":
                cfg["T"] = int(round(base["T"] * base["dt"] / v))
            for method in ("conductance", "current", "weight"):
                reps = [rel_variance(method, cfg["N"], cfg["M"], cfg["T"], cfg["dt"],
                                     a.trials, a.seed + 10 * k) for k in range(a.problems)]
                r = dict(reps[0])
                vs = torch.tensor([x["rel_variance"] for x in reps], dtype=torch.float64)
                r["rel_variance"] = float(vs.median())  # robust to one ill-posed problem
                r["per_problem"] = vs.tolist()
                r["snr_ok"] = all(x["snr_ok"] for x in reps)
                r["sweep"] = factor
                rows.append(r)
                print(f"{factor}={v!s:8s} {method:12s} synapses {r['synapses']:4d} "
                      f"V = {r['rel_variance']:10.1f}{'' if r['snr_ok'] else '  (noisy)'}",
                      flush=True)
    (a.out / "variance.json").write_text(json.dumps(rows, indent=2))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(1, 4, figsize=(15, 3.4))
    for k, (factor, values) in enumerate(sweeps.items()):
        for method in ("conductance", "current", "weight"):
            ys = [r["rel_variance"] for r in rows if r["sweep"] == factor and r["method"] == method]
            ax[k].loglog(values, ys, "o-", label=method)
        ax[k].set(xlabel=factor, ylabel="relative variance", title=f"sweep over {factor}")
        ax[k].grid(alpha=0.3, which="both")
    ax[0].legend(frameon=False)
    fig.tight_layout()
    fig.savefig(a.out / "variance.png", dpi=110)
    print(f"wrote {a.out}/variance.json, variance.png in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
