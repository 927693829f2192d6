"""PNG plots of a training run: learning curves and one sample's spikes and readout."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

__all__ = ["plot_learning_curves", "plot_sample"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(history: Sequence, path: str | Path) -> None:
    """Loss, accuracy and hidden activity per epoch (train and validation)."""
    plt = _pyplot()
    ep = [h.epoch for h in history]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
    ax[0].plot(ep, [h.train_loss for h in history], label="train (incl. regulariser)")
    ax[0].plot(ep, [h.val_loss for h in history], label="validation")
    ax[0].set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax[1].plot(ep, [h.train_accuracy for h in history], label="train")
    ax[1].plot(ep, [h.val_accuracy for h in history], label="validation")
    ax[1].set(xlabel="epoch", ylabel="accuracy", ylim=(0, 1.02), title="accuracy")
    ax[2].plot(ep, [h.spikes_per_neuron for h in history], color="k")
    ax[2].set(xlabel="epoch", ylabel="spikes / neuron / sample", title="hidden activity")
    for a in ax[:2]:
        a.legend(frameon=False)
        a.grid(alpha=0.3)
    ax[2].grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@torch.no_grad()
def plot_sample(model, data, path: str | Path, index: int = 0) -> None:
    """Input raster, hidden rasters and readout traces of one sample of ``data``."""
    plt = _pyplot()
    dtype = next(model.parameters()).dtype
    x = data.dense([index], dtype=dtype)
    label = int(data.labels[index])
    out = model(x)
    n_hidden = len(out.spikes)
    fig, ax = plt.subplots(
        2 + n_hidden,
        1,
        figsize=(7, 2.2 * (2 + n_hidden)),
        sharex=True,
        gridspec_kw={"height_ratios": [1] * (1 + n_hidden) + [1.3]},
    )
    t_in, n_in = torch.nonzero(x[:, 0], as_tuple=True)
    ax[0].scatter(t_in, n_in, s=4, c="k", marker="|")
    ax[0].set(ylabel="input unit", title=f"test sample {index} (class {label})")
    for k, s in enumerate(out.spikes):
        t, n = torch.nonzero(s[:, 0], as_tuple=True)
        ax[1 + k].scatter(t, n, s=4, c="C0", marker="|")
        ax[1 + k].set(ylabel=f"hidden {k + 1}", ylim=(-1, s.shape[2]))
    r = out.readout[:, 0]
    pred = int(model.logits(out).argmax(1)[0])
    for c in range(r.shape[1]):
        lw, col = (2.2, "C3") if c == label else (0.8, "0.6")
        ax[-1].plot(r[:, c], lw=lw, color=col, label=f"class {c} (true)" if c == label else None)
    ax[-1].set(xlabel="time step", ylabel="readout U", title=f"readout (predicted {pred})")
    ax[-1].legend(frameon=False, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
