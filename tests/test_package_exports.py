"""Package __init__s export their public names, and optional dependencies stay lazy."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

LAZY = ("h5py", "sklearn", "river", "nir", "matplotlib", "spikegrad.io.nir", "triton")


@pytest.mark.parametrize("package", ["spikegrad.data", "spikegrad.io", "spikegrad.nn",
                                     "spikegrad.viz"])  # fmt: skip
def test_all_names_resolve(package):
    mod = importlib.import_module(package)
    assert mod.__all__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, name


def test_data_exports_match_the_modules():
    import spikegrad.data as data

    for sub in ("spikes", "encoding", "digits", "idx", "randman", "registry", "shd"):
        m = importlib.import_module(f"spikegrad.data.{sub}")
        for name in m.__all__:
            assert getattr(data, name) is getattr(m, name), f"{sub}.{name}"
            assert name in data.__all__, f"{sub}.{name}"
    from spikegrad.data import SpikeDataset, collate_time_major, load_dataset, split  # noqa: F401


def test_io_exports():
    import spikegrad.io as io
    from spikegrad.io import checkpoint, nir

    for name in checkpoint.__all__:
        assert getattr(io, name) is getattr(checkpoint, name)
    for name in nir.__all__:
        assert getattr(io, name) is getattr(nir, name)
        assert name in io.__all__ and name in dir(io)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        io.nope  # noqa: B018


def test_time_constants_are_public():
    from spikegrad.nn import LIFLayer, TimeConstants

    assert isinstance(LIFLayer(3, 2).taus, TimeConstants)
    assert not hasattr(importlib.import_module("spikegrad.nn.lif"), "_TimeConstants")


def test_imports_stay_light():
    code = (
        "import sys, spikegrad, spikegrad.data, spikegrad.io, spikegrad.viz\n"
        f"print([m for m in {LAZY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
