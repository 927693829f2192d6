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
                "noise_peak"):
        assert key in m
    cfg = json.loads((out / "config.json").read_text())  # the settings moved to config.json
    assert cfg["mode"] == "demo" and cfg["size"] == 128 and cfg["n_scenes"] == 2
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
    assert "--max-radius" in capsys.readouterr().err


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


# ------------------------------------------------------------------ run-folder contract
def _csv(path):
    import csv

    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _no_temp_files(folder):
    return not [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_demo_run_folder_contract(tmp_path):
    """config.json holds every setting (defaults too), history.csv the sweep rows."""
    out = tmp_path / "demo"
    assert main(["symmetry", "--demo", "--out", str(out), "--size", "64", "--scenes", "2",
                 "--max-radius", "4", "--no-plots"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["command"] == "symmetry" and cfg["mode"] == "demo"
    net = cfg["network"]
    assert net["dt"] == 1e-3 and net["tau"] == 0.0 and net["ticks_per_pixel"] == 1.0
    assert net["delay_per_pixel"] == 1e-3 and net["max_radius"] == 4 and net["k"] == 2
    assert cfg["levels"] == 8 and cfg["cell"] == 32 and cfg["normalise"] == "active"
    assert cfg["noise_levels"] == [0.0, 0.01, 0.02, 0.04, 0.08, 0.16]
    assert cfg["cli"]["threads"] == 1 and cfg["cli"]["tau"] is None  # flags as given
    m = json.loads((out / "metrics.json").read_text())
    rows = _csv(out / "history.csv")
    sweeps = m["noise_sweep"]
    assert len(rows) == sum(len(v) for v in sweeps.values()) == 6 + 6 + 7
    first = rows[0]
    assert first["sweep"] == "intensity" and float(first["amplitude"]) == 0.0
    assert float(first["auc"]) == pytest.approx(m["auc"], abs=1e-6)
    assert [float(r["amplitude"]) for r in rows if r["sweep"] == "spikes"] == [
        0.0, 0.01, 0.02, 0.05, 0.1, 0.2]
    assert _no_temp_files(out)


def test_image_run_folder_contract(tmp_path):
    """Image mode: config/metrics/history (one row per region) + regions.json + plots."""
    img = generate_scene(64, 32, rng=3).image
    np.save(tmp_path / "tile.npy", img)
    out = tmp_path / "img"
    assert main(["symmetry", str(tmp_path / "tile.npy"), "--out", str(out), "--patch", "16",
                 "--max-radius", "5", "--tau", "2e-3"]) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["mode"] == "image" and cfg["patch"] == 16 and cfg["window"] == 15
    assert cfg["network"]["tau"] == 2e-3 and cfg["network"]["tau_ticks"] == pytest.approx(2.0)
    assert cfg["source"].endswith("tile.npy") and cfg["shape"] == [64, 64]
    regions = json.loads((out / "regions.json").read_text())["regions"]
    rows = _csv(out / "history.csv")
    assert len(rows) == len(regions) == 16
    assert float(rows[5]["density"]) == pytest.approx(regions[5]["density"], rel=1e-5)
    assert float(rows[5]["density_vertical"]) == pytest.approx(
        regions[5]["by_orientation"]["vertical"], rel=1e-5)
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_regions"] == 16
    assert m["total_events"] == pytest.approx(sum(r["events"] for r in regions))
    for name in ("overlay.png", "maps.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _no_temp_files(out)


def test_seconds_flags_equal_tick_flags(tmp_path):
    """--tau-ticks 2 == --tau 2e-3, --delay-per-pixel 2e-3 == --ticks-per-pixel 2 (dt 1 ms),
    and --dt 1 with --tau 2 is the same network again."""
    np.save(tmp_path / "t.npy", generate_scene(64, 32, rng=1).image)

    def events(*flags):
        out = tmp_path / f"r{len(list(tmp_path.iterdir()))}"
        assert main(["symmetry", str(tmp_path / "t.npy"), "--out", str(out), "--no-plots",
                     "--encoding", "latency", "--threshold", "0.4", "--levels", "4",
                     "--max-radius", "4", *flags]) == 0
        return json.loads((out / "regions.json").read_text())["events_by_orientation"]

    a = events("--tau", "2e-3", "--delay-per-pixel", "2e-3")
    assert a == events("--tau-ticks", "2", "--ticks-per-pixel", "2")
    assert a == events("--dt", "1", "--tau", "2", "--ticks-per-pixel", "2")
    assert a != events("--ticks-per-pixel", "2")  # the leak matters here


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--size", "0"], "--size must be an integer >= 1, got 0"),
        (["--threads", "-1"], "--threads must be"),
        (["--levels", "0"], "--levels"),
        (["--k", "0"], "--k must"),
        (["--dt", "0"], "--dt must"),
        (["--tau", "-0.001"], "--tau must"),
        (["--tau", "1e-3", "--tau-ticks", "1"], "not both"),
        (["--delay-per-pixel", "1e-3", "--ticks-per-pixel", "1"], "not both"),
        (["--ticks-per-pixel", "nan"], "--ticks-per-pixel must"),
        (["--spike-noise", "1.5"], "--spike-noise"),
        (["--seed", "-1"], "--seed must"),
        (["--cell", "8"], "--cell must"),
        (["--size", "100"], "multiple of --cell"),
        (["--encoding", "latency", "--threshold", "1.0"], "--threshold must"),
        (["--window", "0"], "--window"),
        (["--scenes", "0"], "--scenes"),
    ],
)
def test_cli_bad_flags_exit_2_with_one_line(tmp_path, capsys, flags, message):
    out = tmp_path / "never"
    assert main(["symmetry", "--demo", "--out", str(out), *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()  # rejected before any output


def test_cli_unwritable_out_and_too_large_patch(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["symmetry", "--demo", "--out", str(tmp_path / "file")]) == 2
    assert "exists and is a file" in capsys.readouterr().err
    assert main(["symmetry", "--demo", "--out", str(tmp_path / "file" / "sub")]) == 2
    err = capsys.readouterr().err
    assert "cannot be written" in err and len(err.strip().splitlines()) == 1
    np.save(tmp_path / "small.npy", np.zeros((20, 24), np.float32))
    assert main(["symmetry", str(tmp_path / "small.npy"), "--patch", "21",
                 "--out", str(tmp_path / "p")]) == 2
    assert "--patch must be at most the shorter image side (20" in capsys.readouterr().err
    # no --patch: the regions are the shorter side (20 x 20), not an error
    assert main(["symmetry", str(tmp_path / "small.npy"), "--no-plots",
                 "--out", str(tmp_path / "q")]) == 0
    r = json.loads((tmp_path / "q" / "regions.json").read_text())
    assert r["settings"]["patch"] == 20 and len(r["regions"]) == 1
