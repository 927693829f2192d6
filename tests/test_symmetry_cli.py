"""``spikegrad symmetry IMAGE`` and ``spikegrad symmetry --demo`` (issue 8)."""

import json

import numpy as np
import pytest
import torch

from spikegrad.cli import main
from spikegrad.symmetry import SymmetryNetwork
from spikegrad.symmetry.evaluate import classify_scenes
from spikegrad.symmetry.scenes import generate_scene, generate_scenes


@pytest.fixture(autouse=True)
def restore_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def test_cli_image_writes_overlay_and_region_scores(tmp_path, capsys):
    from PIL import Image

    scene = generate_scene(64, 32, rng=0)
    Image.fromarray((scene.image * 255).astype(np.uint8)).save(tmp_path / "tile.png")
    out = tmp_path / "run"
    rc = main(["symmetry", str(tmp_path / "tile.png"), "--out", str(out), "--patch", "32",
               "--max-radius", "6"])
    assert rc == 0
    assert (out / "overlay.png").stat().st_size > 1000 and (out / "maps.png").exists()
    r = json.loads((out / "regions.json").read_text())
    assert r["shape"] == [64, 64] and len(r["regions"]) == 4
    assert r["settings"]["encoding"] == "edges" and r["settings"]["max_radius"] == 6
    total = sum(reg["events"] for reg in r["regions"])
    assert total == pytest.approx(r["total_events"])
    reg = r["regions"][0]
    assert reg["density"] == pytest.approx(reg["events"] / reg["active"])  # normalise=active
    assert set(reg["by_orientation"]) == {"vertical", "horizontal", "diagonal", "antidiagonal"}
    assert "symmetry events" in capsys.readouterr().out


def test_cli_demo_metrics(tmp_path):
    out = tmp_path / "demo"
    rc = main(["symmetry", "--demo", "--out", str(out), "--size", "128", "--scenes", "2",
               "--no-plots"])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    for key in ("auc", "auc_active_fraction", "auc_chance_normalised", "noise_sweep",
                "noise_peak", "settings"):
        assert key in m
    torch.set_num_threads(1)
    ref = classify_scenes(generate_scenes(2, 128, 32, seed=0), encoding="edges",
                          threshold=0.15, normalise="active",
                          network=SymmetryNetwork(max_radius=8))
    assert m["auc"] == pytest.approx(ref["auc"])
    sweep = m["noise_sweep"]["intensity"]
    assert sweep[0]["amplitude"] == 0.0 and sweep[0]["auc"] == pytest.approx(m["auc"])
    assert set(m["noise_sweep"]) == {"intensity", "spikes", "subthreshold_intensity"}
    assert all(0.0 <= row["auc"] <= 1.0 for rows in m["noise_sweep"].values() for row in rows)


def test_cli_demo_plots(tmp_path):
    out = tmp_path / "demo"
    assert main(["symmetry", "--demo", "--out", str(out), "--size", "64", "--scenes", "2",
                 "--max-radius", "4"]) == 0
    for name in ("metrics.json", "overlay.png", "maps.png", "noise_sweep.png", "roc.png"):
        assert (out / name).stat().st_size > 0


def test_cli_errors(tmp_path, capsys):
    assert main(["symmetry", "--out", str(tmp_path)]) == 2
    assert "exactly one" in capsys.readouterr().err
    assert main(["symmetry", str(tmp_path / "missing.png")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["symmetry", "--demo", "--max-radius", "-1", "--out", str(tmp_path)]) == 2
    assert "max_radius" in capsys.readouterr().err


def test_docs_quick_start_and_example_run(capsys):
    import re
    import runpy
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    doc = (root / "docs" / "symmetry.md").read_text()
    block = re.search(r"```python\n(.*?)```", doc, re.S).group(1)
    ns: dict = {}
    exec(compile(block, "docs/symmetry.md", "exec"), ns)  # noqa: S102
    assert float(ns["ev"].counts["vertical/on"][4, 4]) == 3.0
    runpy.run_path(str(root / "examples" / "symmetry_quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "between columns 12 and 13 (45 pairs" in out
    assert "frame total 155 = pair count 155" in out
