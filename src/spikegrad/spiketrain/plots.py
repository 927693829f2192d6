"""PNG plots of spike-time learning runs: input raster, outputs across epochs, learning curves."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..functional.spiketrains import SpikeTrains
from ..viz.plots import pyplot, save_figure

__all__ = ["plot_input_raster", "plot_outputs_by_epoch", "plot_learning"]


def plot_input_raster(inputs: SpikeTrains, path: str | Path, *, duration: float) -> None:
    """Raster of input trains ``[N, M]`` (one row per input)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, tr in enumerate(inputs.lists()):
        ax.plot(tr, [i] * len(tr), "|", color="k", ms=2)
    ax.set(xlabel="time (s)", ylabel="input", xlim=(0, duration), title="input spikes")
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_outputs_by_epoch(
    outputs: Sequence[Sequence[float]], target: Sequence[float], path: str | Path, duration: float
) -> None:
    """Actual output spikes per epoch (rows, dots) against the target times (red lines)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for t in target:
        ax.axvline(t, color="tab:red", alpha=0.5, lw=1.5)
    for ep, tr in enumerate(outputs):
        ax.plot(tr, [ep] * len(tr), ".", color="k", ms=2.5)
    ax.set(
        xlabel="time (s)",
        ylabel="epoch",
        xlim=(0, duration),
        title="output spikes across epochs (red: target)",
    )
    ax.invert_yaxis()
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def plot_learning(history: Sequence[tuple], path: str | Path) -> None:
    """Correlation C and van Rossum distance per epoch (rows ``(epoch, C, D, spikes)``)."""
    plt = pyplot()
    ep = [h[0] for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(10, 3.4))
    ax[0].plot(ep, [h[1] for h in history], color="k")
    ax[0].axhline(0.95, color="tab:red", ls="--", lw=1)
    ax[0].set(xlabel="epoch", ylabel="C (Schreiber)", ylim=(0, 1.02), title="correlation")
    ax[1].plot(ep, [h[2] for h in history], color="k")
    ax[1].set(xlabel="epoch", ylabel="van Rossum distance", title="distance")
    for a in ax:
        a.grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
