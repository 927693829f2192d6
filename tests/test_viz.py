"""spikegrad.viz: the one matplotlib set-up and the training-run plots."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import torch

from spikegrad import SpikegradInputError, SpikingNetwork
from spikegrad.data import SpikeDataset
from spikegrad.viz import plot_learning_curves, plot_sample, pyplot

PNG = b"\x89PNG\r\n\x1a\n"


@dataclasses.dataclass
class _Row:
    epoch: int
    train_loss: float
    train_accuracy: float
    val_loss: float
    val_accuracy: float
    spikes_per_neuron: float
    seconds: float = 0.0  # extra fields are ignored


def _rows(n=4):
    return [_Row(e, 1.0 / e, 0.2 * e, 1.2 / e, 0.18 * e, 3.0 - 0.1 * e) for e in range(1, n + 1)]


def test_pyplot_is_headless_agg():
    plt = pyplot()
    assert plt.get_backend().lower() == "agg"
    assert pyplot() is plt


def test_import_does_not_load_matplotlib():
    code = "import sys, spikegrad.viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("kind", ["dataclass", "dict", "mixed"])
def test_learning_curves_from_dataclass_or_dict_rows(tmp_path, kind):
    rows = _rows()
    if kind == "dict":
        rows = [dataclasses.asdict(r) for r in rows]
    elif kind == "mixed":
        rows = [dataclasses.asdict(r) if i % 2 else r for i, r in enumerate(rows)]
    path = tmp_path / "curves.png"
    plot_learning_curves(rows, path)
    assert path.read_bytes()[:8] == PNG


def test_learning_curves_name_the_missing_field(tmp_path):
    rows = [dataclasses.asdict(r) for r in _rows()]
    del rows[2]["val_loss"]
    with pytest.raises(SpikegradInputError, match=r"row 2 .*'val_loss'"):
        plot_learning_curves(rows, tmp_path / "x.png")
    with pytest.raises(SpikegradInputError, match="sequence of rows"):
        plot_learning_curves({"epoch": 1}, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_plot_sample(tmp_path):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(5, 40, 10, generator=g) < 0.2).float()
    data = SpikeDataset.from_dense(x, torch.tensor([0, 1, 2, 0, 1]))
    model = SpikingNetwork(10, 3, (8, 6), seed=0)
    path = tmp_path / "raster.png"
    plot_sample(model, data, path, index=3)
    assert path.read_bytes()[:8] == PNG
