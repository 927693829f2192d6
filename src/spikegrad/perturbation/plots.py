"""PNG plots for perturbation learning: learning curves, rates, gradient scatter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import Tensor

from ..viz.plots import pyplot, save_figure

__all__ = ["plot_learning_curves", "plot_rates", "plot_gradient_scatter"]


def plot_learning_curves(
    histories: Mapping[str, Sequence[dict]], path: str | Path, *, key: str = "error"
) -> None:
    """``key`` (noise-free error) against trials and against wall time, one line per rule;
    a second row with the accuracy when the histories hold one (classification)."""
    plt = pyplot()
    keys = [key] + (["accuracy"] if all("accuracy" in h[0] for h in histories.values())
                    else [])
    fig, ax = plt.subplots(len(keys), 2, figsize=(10, 3.4 * len(keys)), squeeze=False)
    for row, k in enumerate(keys):
        for rule, hist in histories.items():
            ax[row, 0].plot([h["trials"] for h in hist], [h[k] for h in hist], label=rule)
            ax[row, 1].plot([h["wall_seconds"] for h in hist], [h[k] for h in hist],
                            label=rule)
        ax[row, 0].set(xlabel="trials", ylabel=k, title=f"{k} vs trials")
        ax[row, 1].set(xlabel="wall time (s)", ylabel=k, title=f"{k} vs wall time")
    for a in ax.flat:
        a.grid(alpha=0.3)
        a.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


@torch.no_grad()
def plot_rates(task, W: Tensor, path: str | Path, *, W0: Tensor | None = None) -> None:
    """Target vs produced smoothed rates of a :class:`~.tasks.RatesTask` (noise-free)."""
    from ..functional.coba import coba_run

    plt = pyplot()
    x, y = task.inputs(), task.target()
    t = (torch.arange(x.shape[0]) + 0.5) * task.dt
    r = task.rates(coba_run(x, W, task.topology, task.params, record=()).spikes)
    r0 = None
    if W0 is not None:
        r0 = task.rates(coba_run(x, W0, task.topology, task.params, record=()).spikes)
    K = y.shape[-1]
    fig, ax = plt.subplots(K, 1, figsize=(7, 1.6 * K + 0.6), sharex=True, squeeze=False)
    for k in range(K):
        a = ax[k, 0]
        a.plot(t, y[:, 0, k], "k--", label="target")
        if r0 is not None:
            a.plot(t, r0[:, 0, k], color="0.6", label="before")
        a.plot(t, r[:, 0, k], color="C3", label="after")
        a.set_ylabel(f"out {k} (Hz)")
    ax[0, 0].legend(frameon=False, ncol=3, fontsize=8)
    ax[-1, 0].set_xlabel("time (s)")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_gradient_scatter(check, path: str | Path) -> None:
    """Estimated vs finite-difference gradient (scatter) and cosine vs trials."""
    plt = pyplot()
    m = check.mask
    fd, est = check.finite_difference[m].numpy(), check.estimate[m].numpy()
    fig, ax = plt.subplots(1, 2, figsize=(9, 3.8))
    ax[0].scatter(fd, est, s=14)
    lo, hi = float(min(fd.min(), est.min())), float(max(fd.max(), est.max()))
    ax[0].plot([lo, hi], [lo, hi], "k:", lw=1)
    ax[0].set(xlabel="finite-difference dE[R]/dW", ylabel="perturbation estimate",
              title=f"{check.trials} trials, cos = {check.gradient_cosine:.3f}")
    ks = sorted(check.cosines)
    ax[1].semilogx(ks, [check.cosines[k] for k in ks], "o-")
    ax[1].set(xlabel="trials per estimate", ylabel="mean cosine with FD", ylim=(0, 1.02),
              title="convergence")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
