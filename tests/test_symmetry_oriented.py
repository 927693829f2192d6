"""Mirror detectors on orientation channels, null models, and one real photograph pinned.

The oracle equality (spiking channel detectors == direct count of mirror-matched
pairs) on random images; the mirror map checked against reflected images; the two
null-model expectations checked by exhaustive enumeration and by simulation; and a
scikit-image photograph's score recomputed here by brute force over pixel pairs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from spikegrad._checks import SpikegradInputError
from spikegrad.symmetry import SymmetryNetwork
from spikegrad.symmetry.chance import (
    match_probability,
    patch_symmetry,
    shuffle_labels,
    shuffle_positions,
)
from spikegrad.symmetry.geometry import ORIENTATIONS, PARITIES
from spikegrad.symmetry.oriented import (
    ChannelCode,
    blind_pair_counts,
    channel_spikes,
    edge_channels,
    mirror_channel,
    mirror_pair_counts,
    run_mirror_detectors,
)

CODES = [ChannelCode(0.08), ChannelCode(0.08, 4, False, 1), ChannelCode(0.02, 16, True, 2)]


@pytest.mark.parametrize("code", CODES, ids=["dir8", "ori4-tol1", "dir16-tol2"])
def test_mirror_network_equals_oracle_on_random_images(code):
    g = torch.Generator().manual_seed(3)
    img = torch.rand(2, 13, 18, generator=g, dtype=torch.float64)
    lab = edge_channels(img, code)
    assert 0.3 < float((lab >= 0).double().mean()) < 1.0
    # plus random label images (every channel dense, some pixels silent)
    rnd = torch.randint(-1, code.n_channels, (2, 13, 18), generator=g)
    for labels in (lab, rnd):
        sp = channel_spikes(labels, code.n_channels)
        for R in (4, None):
            net = SymmetryNetwork(max_radius=R)
            for o, p in itertools.product(ORIENTATIONS, PARITIES):
                res = run_mirror_detectors(sp, o, p, code, net)
                ora = mirror_pair_counts(labels, o, p, code, R, per_pair=True)
                assert torch.equal(res.counts.double(), ora.sum(0)), (o, p, R)
                # the spike tick identifies the pair: per-pair totals agree too
                assert torch.equal(res.per_pair, ora.sum((2, 3))), (o, p, R)
                assert bool((ora.sum(0) <= blind_pair_counts(labels, o, p, R)).all())


def _reflect(x: torch.Tensor, o: str) -> tuple[torch.Tensor, callable]:
    """Image reflected about an axis of orientation ``o``, and the pixel map p -> p'."""
    H, W = x.shape[-2:]
    if o == "vertical":
        return x.flip(-1), lambda r, c: (r, W - 1 - c)
    if o == "horizontal":
        return x.flip(-2), lambda r, c: (H - 1 - r, c)
    if o == "diagonal":  # axis along (dr, dc) = (1, 1): transpose
        return x.transpose(-1, -2), lambda r, c: (c, r)
    return x.flip(-1).flip(-2).transpose(-1, -2), lambda r, c: (W - 1 - c, H - 1 - r)


@pytest.mark.parametrize("code", CODES[:2], ids=["dir8", "ori4"])
def test_mirror_map_is_the_reflection_of_gradient_directions(code):
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 15, 15, generator=g, dtype=torch.float64)
    lab = edge_channels(x, code)[0]
    for o in ORIENTATIONS:
        xr, mp = _reflect(x, o)
        labr = edge_channels(xr, code)[0]
        for r, c in itertools.product(range(15), range(15)):
            rr, cc = mp(r, c)
            want = -1 if lab[r, c] < 0 else mirror_channel(int(lab[r, c]), o, code)
            assert int(labr[rr, cc]) == want, (o, r, c)


def test_mirror_symmetric_image_matches_on_its_axis_only():
    g = torch.Generator().manual_seed(0)
    half = torch.rand(1, 16, 16, generator=g, dtype=torch.float64)
    x = torch.cat([half, half.flip(-1)], -1)  # mirror axis between columns 15 and 16
    code = ChannelCode(0.05)
    lab = edge_channels(x, code)
    m = mirror_pair_counts(lab, "vertical", "half", code, None)[0].sum(0)
    b = blind_pair_counts(lab, "vertical", "half", None)[0].sum(0)
    assert m[15] == b[15] > 200  # every edge pair about the true axis is mirror-matched
    others = torch.cat([m[:15] / b[:15], m[16:-1] / b[16:-1]])
    assert float(others.max()) < 0.3  # elsewhere only chance matches
    # the pixel network cannot tell: its counts on neighbouring axes are nearly as high
    assert float(b[14]) > 0.85 * float(b[15])


def test_null_expectations_exact_by_enumeration():
    code = ChannelCode(0.1, 8, True, 1)
    labels = torch.tensor([[[0, 4, -1], [2, 0, -1]]])  # 2 x 3, four edges, two silent
    flat = labels.reshape(-1).tolist()
    edge_pos = [i for i, v in enumerate(flat) if v >= 0]
    edge_vals = [flat[i] for i in edge_pos]
    hist = torch.tensor([[float(edge_vals.count(c)) for c in range(8)]])
    def count(lbls, o, fn):
        t = torch.tensor(lbls).reshape(-1, 2, 3)
        args = (code, None) if fn is mirror_pair_counts else (None,)
        return sum(fn(t, o, p, *args).sum((1, 2)).double() for p in PARITIES)

    all_perms = list(itertools.permutations(flat))  # "positions": all 6 pixel labels
    label_perms = []  # "labels": the labels permuted among the fixed edge positions
    for q in itertools.permutations(edge_vals):
        lbl = list(flat)
        for i, v in zip(edge_pos, q, strict=True):
            lbl[i] = v
        label_perms.append(lbl)
    for o in ORIENTATIONS:
        mean_pos = float(count(all_perms, o, mirror_pair_counts).mean())
        slots = float(count([[0] * 6], o, blind_pair_counts)[0])
        want = slots * float(match_probability(hist, o, code, total=torch.tensor([6.0]))[0])
        assert mean_pos == pytest.approx(want, abs=1e-12)
        mean_lab = float(count(label_perms, o, mirror_pair_counts).mean())
        want = float(count([flat], o, blind_pair_counts)[0]) * float(
            match_probability(hist, o, code)[0])
        assert mean_lab == pytest.approx(want, abs=1e-12)
        assert 0 < want < slots


def test_null_expectations_match_simulation():
    g = torch.Generator().manual_seed(11)
    x = torch.rand(1, 20, 20, generator=g, dtype=torch.float64)
    x = torch.nn.functional.avg_pool2d(x[None], 3, 1, 1)[0]  # some spatial structure
    code = ChannelCode(0.02)
    bands = ((1, 2), (3, 6))
    ps = patch_symmetry(x, code, bands=bands, method="oracle")
    lab = edge_channels(x, code)
    n_sim = 200
    for null, shuf in (("labels", shuffle_labels), ("positions", shuffle_positions)):
        sims = []
        for _ in range(n_sim):
            sl = shuf(lab, g)
            tot = torch.zeros(len(bands), dtype=torch.float64)
            for o, p in itertools.product(ORIENTATIONS, PARITIES):
                per_a = mirror_pair_counts(sl, o, p, code, 6, per_pair=True).sum((1, 2, 3))
                tot += torch.stack([per_a[lo - 1:hi].sum() for lo, hi in bands])
            sims.append(tot)
        sims = torch.stack(sims)
        want = ps.expected[null].sum(1)[0]
        se = sims.std(0) / math.sqrt(n_sim)
        assert bool(((sims.mean(0) - want).abs() < 4 * se + 1e-9).all()), (null, sims.mean(0), want)
        # and the structured image has more mirror pairs than its shuffles
        assert bool((ps.observed.sum(1)[0] > want).all())


def test_channel_code_rejects_bad_settings():
    with pytest.raises(SpikegradInputError, match="multiple of 4"):
        ChannelCode(0.1, 6, True)
    with pytest.raises(SpikegradInputError, match="tolerance"):
        ChannelCode(0.1, 4, False, 2)
    with pytest.raises(SpikegradInputError, match="threshold"):
        ChannelCode(float("nan"))


# ---- one real photograph, pinned by an independent brute-force computation ----------


def _numpy_channels(x: np.ndarray, thr: float, C: int) -> np.ndarray:
    """Sobel (replicated border), direction bins of width 2 pi / C, -1 below threshold."""
    p = np.pad(x, 1, mode="edge")
    H, W = x.shape
    win = lambda dr, dc: p[1 + dr:1 + dr + H, 1 + dc:1 + dc + W]  # noqa: E731
    gx = (win(-1, 1) + 2 * win(0, 1) + win(1, 1)) - (win(-1, -1) + 2 * win(0, -1) + win(1, -1))
    gy = (win(1, -1) + 2 * win(1, 0) + win(1, 1)) - (win(-1, -1) + 2 * win(-1, 0) + win(-1, 1))
    e = np.sqrt(gx**2 + gy**2) / 4
    c = np.mod(np.round(np.arctan2(gy, gx) / (2 * np.pi / C)).astype(int), C)
    return np.where(e > thr, c, -1)


def _brute_force_score(lab: np.ndarray, C: int, R: int) -> tuple[float, float, float]:
    """Mirror-matched pairs O, edge pairs A and E = sum_o A_o P_o over all pixel pairs."""
    rs, cs = np.nonzero(lab >= 0)
    ls = lab[rs, cs]
    hist = np.bincount(ls, minlength=C).astype(float)
    n = hist.sum()
    # axis angle alpha -> mirror channel (2 alpha / w - c) mod C, w = 2 pi / C
    shift = {"vertical": C // 2, "horizontal": 0, "diagonal": C // 4, "antidiagonal": -C // 4}
    O = A = E = 0.0
    for o, s in shift.items():
        if o == "vertical":
            same, k = rs[:, None] == rs[None, :], np.abs(cs[:, None] - cs[None, :])
        elif o == "horizontal":
            same, k = cs[:, None] == cs[None, :], np.abs(rs[:, None] - rs[None, :])
        elif o == "diagonal":  # pair line (1, -1): r + c constant
            same, k = (rs + cs)[:, None] == (rs + cs)[None, :], np.abs(rs[:, None] - rs[None, :])
        else:  # pair line (1, 1): r - c constant
            same, k = (rs - cs)[:, None] == (rs - cs)[None, :], np.abs(rs[:, None] - rs[None, :])
        a = (k + 1) // 2  # on-pixel axis: k = 2a; half-pixel axis: k = 2a - 1
        pair = same & (k > 0) & (a <= R) & np.triu(np.ones_like(same), 1)
        match = np.mod(s - ls[:, None], C) == ls[None, :]
        A_o, O_o = pair.sum(), (pair & match).sum()
        m = [(s - c) % C for c in range(C)]
        P_o = sum(hist[c] * (hist[m[c]] - (c == m[c])) for c in range(C)) / (n * (n - 1))
        O, A, E = O + O_o, A + A_o, E + A_o * P_o
    return float(O), float(A), float(E)


def test_real_photo_score_pinned_by_brute_force():
    data = pytest.importorskip("skimage.data")
    x = data.brick()[200:248, 300:348].astype(np.float64) / 255.0  # a 48 x 48 patch
    thr, C, R = 0.15, 8, 8
    lab = _numpy_channels(x, thr, C)
    O, A, E = _brute_force_score(lab, C, R)
    assert 100 < O < A  # a real, non-trivial count
    ps = patch_symmetry(torch.from_numpy(x), ChannelCode(thr, C), bands=((1, R),),
                        method="spiking")
    assert float(ps.observed.sum()) == O
    assert float(ps.blind.sum()) == A
    assert float(ps.expected["labels"].sum()) == pytest.approx(E, rel=1e-12)
    assert float(ps.multiscale()[0]) == pytest.approx(math.log((O + 1) / (E + 1)), rel=1e-12)
    assert O > 1.5 * E  # bricks: many more mirror pairs than their edges explain


# ---- command line -------------------------------------------------------------------


def test_cli_image_writes_chance_map_and_axes(tmp_path, capsys):
    import json

    from PIL import Image

    from spikegrad.cli import main

    # a mirror-symmetric texture: random left half and its reflection (axis x = 23.5)
    rng = np.random.default_rng(0)
    half = (rng.random((40, 24)) > 0.5).astype(np.uint8) * 255
    img = np.concatenate([half, half[:, ::-1]], 1)
    Image.fromarray(img).save(tmp_path / "sym.png")
    out = tmp_path / "run"
    assert main(["symmetry", str(tmp_path / "sym.png"), "--out", str(out), "--max-radius", "20",
                 "--axes", "3"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["axes"][0]["orientation"] == "vertical" and m["axes"][0]["position"] == 23.5
    ac = m["above_chance"]
    assert ac["score"] == pytest.approx(math.log((ac["observed"] + 1) / (ac["expected"] + 1)))
    assert ac["observed"] > ac["expected"]
    assert (out / "chance.png").stat().st_size > 1000
    assert "strongest axis: vertical at 23.5" in capsys.readouterr().out


@pytest.mark.parametrize("flags,name", [
    (["--channels", "6"], "--channels"),
    (["--channels", "6", "--no-polarity", "--tolerance", "3"], "--tolerance"),
    (["--chance-window", "0"], "--chance-window"),
    (["--axes", "-1"], "--axes"),
    (["--max-patches", "0"], "--max-patches"),
])
def test_cli_mirror_flags_exit_2_with_one_line(tmp_path, capsys, flags, name):
    from spikegrad.cli import main

    assert main(["symmetry", "--demo", "photos", "--out", str(tmp_path / "x"), *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err


def test_cli_photo_demo_needs_scikit_image(tmp_path, capsys, monkeypatch):
    import sys

    from spikegrad.cli import main

    monkeypatch.setitem(sys.modules, "skimage", None)  # import fails as if not installed
    assert main(["symmetry", "--demo", "photos", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "scikit-image" in err


def test_cli_photo_demo_runs_on_real_photographs(tmp_path):
    import json

    pytest.importorskip("skimage")
    pytest.importorskip("sklearn")
    from spikegrad.cli import main

    out = tmp_path / "photos"
    assert main(["symmetry", "--demo", "photos", "--out", str(out), "--max-patches", "2",
                 "--patch", "32", "--no-plots"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["n_manmade"] == 10 and m["n_natural"] == 10  # 2 patches of each of 5 + 5
    assert set(m["images"]) >= {"brick", "grass", "flower"}
    assert 0.0 <= m["auc"] <= 1.0 and len(m["noise_sweep"]) == 4
    assert m["auc_cv"]["baselines + symmetry"][0] > 0.0


def test_logistic_fit_matches_scikit_learn():
    lm = pytest.importorskip("sklearn.linear_model")
    from spikegrad.symmetry.photos import logistic_fit

    rng = np.random.default_rng(2)
    X = rng.normal(size=(200, 3)) * [1.0, 5.0, 0.2] + [0.0, 3.0, -1.0]
    y = (X @ [1.0, -0.3, 4.0] + rng.normal(size=200)) > -1.0
    w, mu, sd = logistic_fit(X, y, l2=0.5)
    ref = lm.LogisticRegression(C=2.0, tol=1e-10, max_iter=1000).fit((X - mu) / sd, y)
    np.testing.assert_allclose(w[:-1], ref.coef_[0], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(w[-1], ref.intercept_[0], rtol=1e-5, atol=1e-7)


def test_grouped_cv_holds_out_one_image_of_each_class():
    from spikegrad.symmetry.photos import grouped_cv_auc

    rng = np.random.default_rng(4)
    groups = np.repeat(np.arange(6), 20)
    y = groups < 3  # images 0-2 positive, 3-5 negative
    X = (y + rng.normal(scale=0.5, size=120))[:, None]
    mean, sd, folds = grouped_cv_auc(X, y, groups)
    assert folds == 9 and mean > 0.9
    # a feature that is constant within each image but with no consistent sign
    Xg = np.array([0, 5, 1, 4, -1, 2], float)[groups][:, None]
    mean_g, _, _ = grouped_cv_auc(Xg, y, groups)
    assert mean_g < 0.7  # image identity does not carry over to held-out images
