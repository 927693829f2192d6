"""Packaging: the `all` extra, the version, py.typed (the wheel itself: scripts/check_wheel.sh)."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_all_extra_holds_every_feature_extra():
    extras = PYPROJECT["project"]["optional-dependencies"]
    (spec,) = extras["all"]
    m = re.fullmatch(r"spikegrad\[([a-z0-9_,-]+)\]", spec)
    assert m, spec
    included = set(m.group(1).split(","))
    # every extra that is a library feature; test/docs/bench are tool sets, not features
    features = set(extras) - {"all", "test", "docs", "bench"}
    assert included == features


def test_py_typed_ships_as_package_data():
    assert (ROOT / "src" / "spikegrad" / "py.typed").is_file()
    assert "py.typed" in PYPROJECT["tool"]["setuptools"]["package-data"]["spikegrad"]


def test_version_comes_from_the_distribution(capsys):
    import spikegrad
    from spikegrad.cli import main

    want = importlib.metadata.version("spikegrad")
    assert spikegrad.__version__ == want == PYPROJECT["project"]["version"]
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"spikegrad {want}"
