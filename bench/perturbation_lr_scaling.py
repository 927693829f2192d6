"""Best learning rate vs noise dimension for the plain perturbation rule (SGD).

Werfel, Xie & Seung (2005) predict that the largest useful step size of node perturbation
shrinks like 1 / (number of perturbed units). Set-up: N identical copies of one
conductance-based E neuron (10 frozen 40 Hz inputs, 100 steps of 0.5 ms), each neuron's
smoothed rate must follow the same ramp; R = -sum_i mean_t (r_i - r*)^2 / 1e4, so the
gradient per synapse does not depend on N while the number of perturbed neurons does.
For each N and each lr on a grid, ``--updates`` SGD updates of the plain rule
(dW = lr * (R - R_paired) e / sigma^2, 4 trials per update, sigma 0.5) are run for
``--seeds`` seeds; we report the noise-free error per neuron after training (mean over
seeds) and the best lr.

Usage::

    python bench/perturbation_lr_scaling.py [--updates 40] [--seeds 3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from spikegrad.perturbation import CobaParams, CobaTopology, coba_run, smoothed_rate
from spikegrad.perturbation.learn import LearnConfig, learn
from spikegrad.tasks import Task


class CopiesTask(Task):
    """N identical neurons, same inputs and target (see the module docstring)."""

    name = "copies"
    score_name = "neg_error"
    shared_input = True  # one trial; the rule's noisy trials repeat it

    def __init__(self, N: int, M: int = 10, T: int = 100, dt: float = 5e-4, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        conn = torch.zeros(N, M + N, dtype=torch.bool)
        conn[:, :M] = True
        self.topology = CobaTopology(M, N, 0, connectivity=conn)
        self.params = CobaParams(dt=dt)
        self.x = (torch.rand(T, 1, M, generator=g) < 40.0 * dt).float()
        self.W0 = torch.zeros(N, M + N)
        self.W0[:, :M] = torch.rand(1, M, generator=g) * 12.0
        self.tgt = torch.linspace(0, 60, T).view(-1, 1, 1)
        self.N, self.dt = N, dt
        self.n_inputs, self.n_outputs = M, N
        self.samples_per_epoch = 1

    def init_weights(self):
        return self.W0.clone()

    def size(self, split):
        return 1

    def batches(self, split, batch_size, *, shuffle=False, generator=None,
                dtype=torch.float32):
        n = self.samples_per_epoch if (split == "train" and shuffle) else 1
        for _ in range(n):
            yield self.x.to(dtype), self.tgt.to(dtype)

    def errors(self, spikes):
        r = smoothed_rate(spikes, self.dt, 10e-3)
        return ((r - self.tgt) ** 2).mean(0) / 1e4  # [B, N]

    def sample_loss(self, model, out, y):
        return self.errors(out.spikes[0]).sum(-1)

    def score(self, model, out, y):
        return -self.sample_loss(model, out, y)

    def evaluate(self, W):
        with torch.no_grad():
            sp = coba_run(self.x, W, self.topology, self.params, record=()).spikes
        return {"error": float(self.errors(sp).mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--updates", type=int, default=40)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("runs/perturbation_lr_scaling"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    a.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    lrs = [1, 4, 16, 64, 256]
    rows = []
    for N in (1, 4, 16):
        task = CopiesTask(N)
        init = task.evaluate(task.init_weights())["error"]
        finals = {}
        for lr in lrs:
            errs = []
            for s in range(a.seeds):
                res = learn(task, LearnConfig(rule="perturbation", iterations=a.updates,
                                              batch=4, lr=lr, sigma=0.5, optimizer="sgd",
                                              eval_every=a.updates, seed=s))
                errs.append(res.history[-1]["error"] / task.N)  # per neuron, last iterate
            finals[lr] = sum(errs) / len(errs)
        best = min(finals, key=finals.get)
        row = {"N": N, "initial_error": init, "final_error_by_lr": finals, "best_lr": best}
        rows.append(row)
        print(f"N={N:3d} initial {init:.3f} " + " ".join(
            f"lr {lr:g}: {e:.3f}" for lr, e in finals.items()) + f"  best lr {best:g}",
            flush=True)
    (a.out / "lr_scaling.json").write_text(json.dumps(rows, indent=2))
    print(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
