"""Quick start: estimate a gradient by perturbing conductances, then learn rates with it.

Runs in well under a minute on one CPU thread::

    python examples/perturbation_quickstart.py
"""

from __future__ import annotations

import torch

from spikegrad import fit, make_rule
from spikegrad.perturbation import (
    CobaParams,
    CobaTopology,
    coba_run,
    cosine,
    estimate_gradient,
    finite_difference_gradient,
    smoothed_rate,
)
from spikegrad.perturbation.tasks import RatesTask

torch.set_num_threads(1)

# 1. a small recurrent E/I network in physical units (s, mV, nS, nF)
g = torch.Generator().manual_seed(0)
net = CobaTopology(n_in=4, n_exc=2, n_inh=1)  # inputs | 2 E | 1 I, all plastic
params = CobaParams()  # 0.5 ms steps, exponential Euler, tau_m = 20 ms
T = 60
x = (torch.rand(T, 1, 4, generator=g) < 0.15).double()  # time-major [T, B, n_in]
W = torch.rand(net.n, net.m, generator=g, dtype=torch.float64) * 8.0 * net.connectivity
run = coba_run(x, W, net, params, record=("v",))
print("spikes per neuron:", run.spikes.sum(0)[0].tolist())

target = torch.linspace(0, 100, T, dtype=torch.float64).view(-1, 1, 1)


def reward(spikes: torch.Tensor) -> torch.Tensor:
    """R = -mean_t (r_0(t) - r*(t))^2 / 1e4 for neuron 0's smoothed rate."""
    r = smoothed_rate(spikes[:, :, :1], params.dt, 10e-3)
    return -((r - target) ** 2).mean(dim=(0, 2)) / 1e4


# 2. the perturbation estimate (no backward pass) vs finite differences of E[R]
est, _, _ = estimate_gradient("conductance", W, net, params, x, reward, sigma=1.0,
                              n_trials=2000, generator=torch.Generator().manual_seed(1))
fd, mask = finite_difference_gradient(W, net, params, x, reward, sigma=1.0, n_trials=1000,
                                      h=0.5, generator=torch.Generator().manual_seed(2))
print(f"cosine(perturbation estimate, finite difference) = {cosine(est.mean(0), fd, mask):.3f}")

# 3. learn target rate bumps with the Fiete-Seung rule: the model, the rule and the task
#    are parts of the one interface and the one trainer runs them (4 epochs of 10 updates,
#    16 noisy trials + 1 paired unperturbed trial per update)
task = RatesTask(samples_per_epoch=10)
model = task.model()  # CobaSpikingNetwork (kind "coba"), W >= 0 on the task's topology
rule = make_rule("conductance", trials=16, sigma=0.3, seed=0)
opt = torch.optim.Adam(model.parameters(), lr=0.3)
res = fit(model, rule, task, opt, epochs=4, batch_size=1, seed=0, progress=False,
          callback=lambda st: print(f"epoch {st.epoch}  trials {rule.trials_simulated:5d}  "
                                    f"error {st.val_loss:.3f}"))
print(f"best error {-res.metrics['test_neg_error']:.3f} (initial 0.775)")
