"""PNG plots of a training run, and the one matplotlib set-up every plot in spikegrad uses.

:func:`pyplot` selects the non-interactive Agg backend (unless a backend is already in
use) and returns :mod:`matplotlib.pyplot`, so plotting works on headless machines and
never opens a window. Nothing here imports from spikegrad except ``_checks``: models
and datasets are taken duck-typed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from .._checks import SpikegradInputError

__all__ = ["pyplot", "plot_learning_curves", "plot_sample", "plot_synops", "save_figure"]

#: Fields of one learning-curve row (a dataclass such as ``EpochStats`` or a dict).
HISTORY_FIELDS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "spikes_per_neuron",
)


def save_figure(fig: Any, path: str | Path, *, close: bool = True, **savefig: Any) -> Path:
    """Write matplotlib figure ``fig`` to ``path`` atomically; the format follows the suffix.

    The figure is written to a temporary file beside ``path`` (same folder, so the rename
    stays on one file system), flushed to disk and renamed over ``path``: a failure at any
    moment (an error while drawing, a full disk, a kill) leaves ``path`` either absent or
    holding its previous complete plot, never a truncated one, and no temporary file.
    ``savefig`` keywords go to :meth:`matplotlib.figure.Figure.savefig`; the figure is
    closed afterwards unless ``close`` is false.
    """
    from .._files import atomic_write

    path = Path(path)
    fmt = savefig.pop("format", None) or (path.suffix[1:].lower() or "png")
    try:
        atomic_write(path, lambda f: fig.savefig(f, format=fmt, **savefig))
    finally:
        if close:
            pyplot().close(fig)
    return path


def pyplot() -> Any:
    """Return :mod:`matplotlib.pyplot` with the headless Agg backend selected.

    ``matplotlib.use("Agg", force=False)`` is called before the first import of
    :mod:`matplotlib.pyplot`; if another backend is already active it is kept.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _field(row: object, key: str, index: int) -> Any:
    """``row[key]`` for a mapping, ``row.key`` otherwise; a clear error if missing."""
    if isinstance(row, Mapping):
        if key in row:
            return row[key]
    elif hasattr(row, key):
        return getattr(row, key)
    raise SpikegradInputError(
        f"history row {index} ({type(row).__name__}) has no {key!r}; every row needs "
        f"{', '.join(HISTORY_FIELDS)} (as attributes or dict keys)"
    )


def _column(history: Sequence[object], key: str) -> list[Any]:
    return [_field(row, key, i) for i, row in enumerate(history)]


def plot_learning_curves(
    history: Sequence[object], path: str | Path, *, score: str = "accuracy"
) -> None:
    """Loss, score (accuracy, or the task's ``score`` name) and hidden activity per epoch.

    Parameters
    ----------
    history:
        One row per epoch: objects with the attributes of :data:`HISTORY_FIELDS`
        (e.g. dataclass rows) or dicts with those keys; both may be mixed.
    path:
        Output PNG file.
    """
    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise SpikegradInputError(
            f"history must be a sequence of rows, got {type(history).__name__}"
        )
    cols = {k: _column(history, k) for k in HISTORY_FIELDS}
    plt = pyplot()
    ep = cols["epoch"]
    fig, ax = plt.subplots(1, 3, figsize=(12, 3.4))
    ax[0].plot(ep, cols["train_loss"], label="train (incl. regulariser)")
    ax[0].plot(ep, cols["val_loss"], label="validation")
    ax[0].set(xlabel="epoch", ylabel="loss", yscale="log", title="loss")
    ax[1].plot(ep, cols["train_accuracy"], label="train")
    ax[1].plot(ep, cols["val_accuracy"], label="validation")
    ax[1].set(xlabel="epoch", ylabel=score, ylim=(0, 1.02), title=score)
    ax[2].plot(ep, cols["spikes_per_neuron"], color="k")
    ax[2].set(xlabel="epoch", ylabel="spikes / neuron / sample", title="hidden activity")
    for a in ax[:2]:
        a.legend(frameon=False)
        a.grid(alpha=0.3)
    ax[2].grid(alpha=0.3)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


@torch.no_grad()
def plot_sample(model: Any, data: Any, path: str | Path, index: int = 0) -> None:
    """Input raster, hidden rasters and readout traces of one sample of ``data``.

    Parameters
    ----------
    model:
        Duck-typed network: ``parameters()``, ``model(x)`` returning an output with
        ``spikes`` (a sequence of ``[T, B, N]`` tensors) and ``readout`` (``[T, B, K]``),
        and ``model.logits(out)`` (``[B, K]``), as :class:`spikegrad.nn.SpikingNetwork`.
    data:
        Duck-typed dataset: ``dense(indices, dtype=...)`` (``[T, B, C]``) and ``labels``,
        as :class:`spikegrad.data.SpikeDataset`.
    path:
        Output PNG file.
    index:
        Sample to draw.
    """
    dtype = next(model.parameters()).dtype
    x = data.dense([index], dtype=dtype)
    label = int(data.labels[index])
    out = model(x)
    n_hidden = len(out.spikes)
    plt = pyplot()
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
    save_figure(fig, path, dpi=110)


def plot_synops(report: Mapping[str, Any], path: str | Path) -> None:
    """Per-layer operations and energy of an operation count (``metrics["synops"]``).

    Left: SynOps (event-driven) next to the dense network's MACs per sample, log scale.
    Right: the two energy estimates per sample and layer (µJ), compute and memory stacked.

    Parameters
    ----------
    report:
        The dict of :meth:`spikegrad.nn.energy.OpCounter.report` (``layers`` rows with
        ``name``, ``synops``, ``dense_macs``, ``energy_*_pj`` and ``dense_energy_*_pj``;
        rows with ``counted: False`` are left out).
    path:
        Output PNG file.
    """
    rows = report.get("layers") if isinstance(report, Mapping) else None
    if not rows:
        raise SpikegradInputError("report must be an operation count with a 'layers' list")
    # rows of layers without an operation model ({"counted": False, "why": ...}) have no bars
    rows = [r for r in rows if r.get("counted", True)]
    if not rows:
        raise SpikegradInputError("the operation count has no counted layer to plot")
    plt = pyplot()
    names = [str(r["name"]) for r in rows]
    pos = list(range(len(rows)))
    w = 0.38
    fig, ax = plt.subplots(1, 2, figsize=(11, 3.6))
    syn = [float(r["synops"]) for r in rows]
    dense = [float(r["dense_macs"]) for r in rows]
    for off, vals, lab in ((-w / 2, syn, "SynOps (event-driven)"),
                           (w / 2, dense, "MACs (dense network)")):  # fmt: skip
        bars = ax[0].bar([p + off for p in pos], [max(v, 1e-3) for v in vals], w, label=lab)
        ax[0].bar_label(bars, labels=[f"{v:.3g}" for v in vals], fontsize=7)
    top = max(max(syn), max(dense), 1.0)
    ax[0].set(yscale="log", ylim=(0.5, top * 10), ylabel="operations / sample",
              title="operations per layer")  # fmt: skip
    uj = 1e-6
    for off, pre, lab in ((-w / 2, "", "event-driven"), (w / 2, "dense_", "dense")):
        comp = [float(r[f"{pre}energy_compute_pj"]) * uj for r in rows]
        mem = [float(r[f"{pre}energy_memory_pj"]) * uj for r in rows]
        xs = [p + off for p in pos]
        ax[1].bar(xs, comp, w, label=f"{lab}: compute")
        ax[1].bar(xs, mem, w, bottom=comp, label=f"{lab}: memory", alpha=0.6)
    src = str(report.get("costs", {}).get("source", ""))
    ax[1].set(ylabel="µJ / sample", title="energy estimate per layer")
    for a in ax:
        a.set_xticks(pos, names)
        a.legend(frameon=False, fontsize=8)
        a.grid(alpha=0.3, axis="y")
    import textwrap

    fig.text(0.01, 0.01, "\n".join(textwrap.wrap(f"costs: {src}", 190)), fontsize=6,
             color="0.4")  # fmt: skip
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    save_figure(fig, path, dpi=110)
