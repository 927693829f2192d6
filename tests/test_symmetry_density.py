"""symmetry_events, encodings, noise, density normalisation, scenes and AUC (issue 8)."""

import math

import numpy as np
import pytest
import torch

from spikegrad.symmetry import (
    ORIENTATIONS,
    SymmetryNetwork,
    add_intensity_noise,
    add_spike_noise,
    add_time_noise,
    box_sum,
    edge_map,
    encode,
    load_image,
    pair_counts,
    spike_times,
    symmetry_events,
)
from spikegrad.symmetry.evaluate import classify_scenes, roc_auc, separation
from spikegrad.symmetry.scenes import generate_scene, generate_scenes


@pytest.fixture(autouse=True)
def one_thread():
    # small element-wise ops: thread sync costs more than it gains on a busy 2-core box
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def mirror_shape(H, W, axis2, rng, span=8):
    """Random binary pattern mirror-symmetric about column axis2 / 2, within +-span."""
    img = np.zeros((H, W))
    half = rng.random((H, W)) < 0.4
    for c in range(W):
        m = axis2 - c  # mirror column of c
        if 0 <= m < W and abs(c - axis2 / 2) <= span:
            img[:, c] = half[:, min(c, m)]
    return img


@pytest.mark.parametrize("axis2", [20, 21])  # x0 = 10 (on pixel) and 10.5 (between pixels)
def test_mirror_symmetric_shape_peaks_on_true_axis(axis2):
    img = mirror_shape(24, 32, axis2, np.random.default_rng(axis2))
    ev = symmetry_events(img, network=SymmetryNetwork(max_radius=None),
                         orientations=("vertical",))
    per_axis = np.empty(2 * 32)  # index = 2 x (axis position)
    per_axis[0::2] = ev.counts["vertical/on"].sum(0).numpy()
    per_axis[1::2] = ev.counts["vertical/half"].sum(0).numpy()
    assert int(np.argmax(per_axis)) == axis2
    # on the true axis every active pixel off the axis is in a pair
    b = img > 0.5
    n_off_axis = b.sum() - (b[:, axis2 // 2].sum() if axis2 % 2 == 0 else 0)
    assert per_axis[axis2] == n_off_axis / 2
    second = np.sort(per_axis)[-2]
    assert per_axis[axis2] > 1.3 * second


def test_symmetry_events_example_numbers_and_shapes():
    img = np.zeros((9, 9))
    img[2:7, 1:8] = 1.0  # 5 x 7 rectangle
    ev = symmetry_events(img, network=SymmetryNetwork(max_radius=None))
    assert set(ev.maps) == set(ORIENTATIONS)
    assert ev.combined.shape == (9, 9)
    assert float(ev.counts["vertical/on"][4, 4]) == 3.0
    assert float(ev.counts["horizontal/on"][4, 4]) == 2.0  # rows 2..6 about row 4
    assert float(ev.maps["vertical"][4, 4]) == 6.0
    # totals equal the oracle summed over all populations
    b = torch.from_numpy(img > 0.5)
    total = sum(float(pair_counts(b, o, p).sum()) for o in ORIENTATIONS for p in ("on", "half"))
    assert ev.total_events == total
    batch = symmetry_events(np.stack([img, img.T]), network=SymmetryNetwork(max_radius=None))
    assert batch.combined.shape == (2, 9, 9)
    # transposing swaps vertical and horizontal axes and maps each diagonal onto itself
    tr = {k: v[1] for k, v in batch.counts.items()}
    for a, b_ in [("horizontal/on", "vertical/on"), ("horizontal/half", "vertical/half"),
                  ("vertical/on", "horizontal/on"), ("diagonal/on", "diagonal/on"),
                  ("antidiagonal/on", "antidiagonal/on")]:
        assert torch.equal(tr[a], ev.counts[b_].T)
    # the oracle method gives the same counts
    orc = symmetry_events(img, network=SymmetryNetwork(max_radius=3), method="oracle")
    sim = symmetry_events(img, network=SymmetryNetwork(max_radius=3))
    for key in orc.counts:
        assert torch.equal(orc.counts[key], sim.counts[key])
    for bad in (SymmetryNetwork(tau=1.0), SymmetryNetwork(k=3),
                SymmetryNetwork(ticks_per_pixel=0.3)):  # 0.3: delays collide
        with pytest.raises(ValueError, match="oracle"):
            symmetry_events(img, network=bad, method="oracle")
    with pytest.raises(ValueError, match="oracle"):
        symmetry_events(img, encoding="latency", method="oracle")


def test_density_normalisations():
    img = np.zeros((8, 8))
    img[:, 2:6] = 1.0  # vertical band, 4 wide: per row pairs about 2.5..3.5
    ev = symmetry_events(img, network=SymmetryNetwork(max_radius=None),
                         orientations=("vertical",))
    # per row: on-axes x=3,4 have 1 pair each; half axes 2|3: 1, 3|4: 2, 4|5: 1 -> 6 per row
    assert ev.total_events == 6 * 8
    assert float(ev.region_scores(8, "none")) == 48.0
    assert float(ev.region_scores(8, "area")) == pytest.approx(48 / 64)
    assert float(ev.region_scores(8, "active")) == pytest.approx(48 / 32)
    # chance: a region with density p expects p^2 x (pair slots); slots per row of 8
    # (vertical, all radii): on: 0+1+2+3+3+2+1+0 = 12; half: 1+2+3+4+3+2+1+0 = 16
    assert float(ev.region_scores(8, "chance")) == pytest.approx(48 / (0.25 * 28 * 8))
    d = ev.density(3, "area")
    assert d.shape == (8, 8)
    assert float(d[4, 3]) == pytest.approx(box_sum(ev.combined[None], 3)[0, 4, 3] / 9)
    assert float(d[0, 0]) == pytest.approx(float(ev.combined[:2, :2].sum()) / 4)  # truncated
    with pytest.raises(ValueError, match="normalise"):
        ev.density(3, "bogus")
    with pytest.raises(ValueError, match="patch"):
        ev.region_scores(9)


def test_box_sum_matches_loop():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 7, 9, generator=g)
    for w in (1, 2, 4, 5):
        got = box_sum(x, w)
        lo, hi = (w - 1) // 2, w // 2
        for r in range(7):
            for c in range(9):
                want = x[:, max(r - lo, 0) : r + hi + 1, max(c - lo, 0) : c + hi + 1].sum((1, 2))
                torch.testing.assert_close(got[:, r, c], want)


def test_encodings():
    img = np.zeros((6, 6), np.float32)
    img[:, 3:] = 1.0
    s = encode(img, "threshold", 0.5)
    assert s.shape == (1, 1, 6, 6) and s.sum() == 18
    e = edge_map(torch.from_numpy(img)[None])
    assert float(e.max()) == pytest.approx(1.0)  # unit step edge -> 1
    assert torch.equal(encode(img, "edges", 0.5)[0, 0].sum(0), torch.full((6,), 0.0).index_fill(
        0, torch.tensor([2, 3]), 6.0))
    grey = np.array([[0.2, 0.55, 0.8, 1.0]], np.float32)
    t = spike_times(grey, 0.5, levels=4)
    assert t[0, 0].tolist() == [math.inf, 3.0, 1.0, 0.0]  # floor(4 (1-x) / 0.5), capped at 3
    lat = encode(grey, "latency", 0.5, levels=4)
    assert lat.shape == (4, 1, 1, 4) and lat[:, 0, 0, 2].tolist() == [0, 1, 0, 0]
    assert encode(np.uint8([[0, 255]]), "threshold")[0, 0, 0].tolist() == [0, 1]
    with pytest.raises(ValueError, match="encoding"):
        encode(img, "rate")
    with pytest.raises(ValueError, match="NaN"):
        symmetry_events(np.full((4, 4), np.nan))
    with pytest.raises(ValueError, match=r"\[H, W\]"):
        symmetry_events(np.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="0/1"):
        symmetry_events(np.array([[0, 2]], dtype=np.int64))
    with pytest.raises(TypeError, match="numpy array"):
        symmetry_events([[0, 1]])
    with pytest.raises(ValueError, match="orientation"):
        symmetry_events(img, orientations=("sideways",))


def test_load_image_png_and_npy(tmp_path):
    from PIL import Image

    arr = (np.arange(12 * 10).reshape(12, 10) % 256).astype(np.uint8)
    Image.fromarray(np.stack([arr] * 3, -1)).save(tmp_path / "x.png")
    img = load_image(tmp_path / "x.png")
    assert img.shape == (12, 10) and img.dtype == np.float32
    np.testing.assert_allclose(img, arr / 255.0, atol=1 / 255)
    assert load_image(tmp_path / "x.png", size=6).shape == (6, 5)
    np.save(tmp_path / "y.npy", arr / 255.0)
    np.testing.assert_allclose(load_image(tmp_path / "y.npy"), arr / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="does not exist"):
        load_image(tmp_path / "nope.png")
    a16 = (np.arange(20 * 10).reshape(20, 10) * 300).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "t16.png")  # 16-bit grey PNG
    np.testing.assert_allclose(load_image(tmp_path / "t16.png"), a16 / 65535.0, rtol=1e-6)
    f = np.linspace(-1, 3, 20, dtype=np.float32).reshape(4, 5)
    Image.fromarray(f).save(tmp_path / "f.tiff")  # float TIFF: min-max scaled
    np.testing.assert_allclose(load_image(tmp_path / "f.tiff"), (f + 1) / 4, atol=1e-6)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        load_image(tmp_path / "bad.png")


def test_noise_models_statistics_and_reproducibility():
    x = torch.zeros(1, 200, 200)
    a = add_intensity_noise(x, 0.3, torch.Generator().manual_seed(1))
    b = add_intensity_noise(x, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert float(a.std()) == pytest.approx(0.3, rel=0.02)
    spikes = torch.zeros(3, 1, 200, 200)
    spikes[0, 0, :100] = 1.0  # half the pixels already spike
    noisy = add_spike_noise(spikes, 0.2, torch.Generator().manual_seed(2))
    assert noisy.max() == 1.0 and torch.equal(noisy[:, :, :100], spikes[:, :, :100])
    extra = noisy[:, 0, 100:].sum(0)
    assert float(extra.mean()) == pytest.approx(0.2, abs=0.01)  # one spike at most per pixel
    per_tick = noisy[:, 0, 100:].sum((1, 2)) / extra.sum()
    assert per_tick.tolist() == pytest.approx([1 / 3] * 3, abs=0.03)
    t = torch.full((1, 100, 100), math.inf)
    tn = add_time_noise(t, 0.5, torch.Generator().manual_seed(3), span=4.0)
    fin = tn[torch.isfinite(tn)]
    assert fin.numel() / 1e4 == pytest.approx(0.5, abs=0.02) and 0 <= fin.min() and fin.max() < 4
    with pytest.raises(ValueError, match="generator"):
        symmetry_events(np.zeros((4, 4)), intensity_noise=0.1)
    with pytest.raises(ValueError, match="rate"):
        add_spike_noise(spikes, 1.5, torch.Generator())
    with pytest.raises(ValueError, match="sigma"):
        add_intensity_noise(x, -0.1, torch.Generator())


def test_random_extra_spikes_create_coincidence_points():
    """Noise spikes make pairs with the true pixels: events grow by about 2 rho n R."""
    img = np.zeros((1, 64, 64))
    img[0, 10:54, 10:54] = 1.0
    net = SymmetryNetwork(max_radius=4)
    base = symmetry_events(img, network=net, orientations=("vertical",), parities=("on",))
    noisy = symmetry_events(img, network=net, orientations=("vertical",), parities=("on",),
                            spike_noise=0.1, generator=torch.Generator().manual_seed(0))
    assert noisy.total_events > base.total_events
    added = float(noisy.raw_active.sum() - base.raw_active.sum())
    assert added == pytest.approx(0.1 * (64 * 64 - 44 * 44), rel=0.1)


def test_fractional_network_through_symmetry_events():
    g = np.random.default_rng(3)
    img = (g.random((12, 12)) < 0.5).astype(np.float32)
    frac = symmetry_events(img, network=SymmetryNetwork(max_radius=4, fractional=True,
                                                        ticks_per_pixel=0.7))
    ref = symmetry_events(img, network=SymmetryNetwork(max_radius=4))
    for key in ref.counts:
        assert torch.equal(frac.counts[key], ref.counts[key])
    # grey latency code: only equal-latency mirror pairs coincide
    grey = g.random((10, 10)).astype(np.float32)
    lat = symmetry_events(grey, encoding="latency", threshold=0.3, levels=4,
                          network=SymmetryNetwork(max_radius=None, fractional=True),
                          orientations=("vertical",), parities=("on",))
    t = spike_times(grey, 0.3, levels=4, fractional=True)[0].numpy()
    want = np.zeros((10, 10))
    for r in range(10):
        for c in range(10):
            for a in range(1, 6):
                if c - a >= 0 and c + a < 10 and np.isfinite(t[r, c - a]):
                    want[r, c] += t[r, c - a] == t[r, c + a]
    # distinct pairs could only collide by an exact float tie of t + d, absent here
    np.testing.assert_array_equal(lat.counts["vertical/on"].numpy(), want)


def test_scene_generator_labels_and_determinism():
    s1 = generate_scene(64, 32, rng=5)
    s2 = generate_scene(64, 32, rng=5)
    np.testing.assert_array_equal(s1.image, s2.image)
    assert s1.image.shape == (64, 64) and s1.cell_labels.shape == (2, 2)
    assert s1.image.min() >= 0 and s1.image.max() <= 1
    assert set(np.unique(s1.labels)) <= {0, 1, 2}
    for (i, j), lab in np.ndenumerate(s1.cell_labels):
        block = s1.labels[i * 32 : (i + 1) * 32, j * 32 : (j + 1) * 32]
        assert set(np.unique(block)) <= {0, int(lab)}
    scenes = generate_scenes(3, 64, 32, seed=1)
    assert not np.array_equal(scenes[0].image, scenes[1].image)
    kinds = {k for s in generate_scenes(6, 128, 32, seed=0) for row in s.kinds for k in row}
    assert kinds == {"buildings", "road", "parking", "fields", "trees", "texture"}
    noisy = generate_scenes(3, 64, 32, seed=1, noise=0.05)
    for a, b in zip(scenes, noisy, strict=True):  # same layouts, noise on top
        np.testing.assert_array_equal(a.cell_labels, b.cell_labels)
        diff = b.image - a.image
        inside = (a.image > 0.2) & (a.image < 0.8)  # away from the clipping
        assert float(diff[inside].std()) == pytest.approx(0.05, rel=0.1)
    rotated = generate_scenes(3, 64, 32, seed=1, max_angle=45)
    for a, b in zip(scenes, rotated, strict=True):  # same layouts, man-made cells rotated
        np.testing.assert_array_equal(a.cell_labels, b.cell_labels)
        veg = np.kron(a.cell_labels == 2, np.ones((32, 32), bool))
        np.testing.assert_array_equal(a.image[veg], b.image[veg])
        assert set(np.unique(b.labels[~veg])) <= {0, 1}
    assert any(not np.array_equal(a.image, b.image) for a, b in zip(scenes, rotated,
                                                                    strict=True))
    s0 = generate_scene(64, 32, rng=5, max_angle=0.0)
    np.testing.assert_array_equal(s0.image, s1.image)
    with pytest.raises(ValueError, match="multiples"):
        generate_scene(70, 32)


def test_roc_auc_and_separation():
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]) == 1.0
    assert roc_auc([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0]) == 0.0
    assert roc_auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    rng = np.random.default_rng(0)
    s, y = rng.normal(size=40), rng.random(40) < 0.5
    s[:5] = 0.0  # ties
    brute = np.mean([(a > b) + 0.5 * (a == b) for a in s[y] for b in s[~y]])
    assert roc_auc(s, y) == pytest.approx(brute, abs=1e-12)
    assert separation([0, 2, 4, 6], [0, 0, 1, 1]) == pytest.approx(4 / math.sqrt(1.0))
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 2], [1, 1])


def test_classification_on_generated_scenes():
    """Edge-map symmetry density separates man-made from vegetation (spiking simulation)."""
    scenes = generate_scenes(2, 256, 32, seed=0)
    r = classify_scenes(scenes, encoding="edges", threshold=0.15, normalise="active",
                        network=SymmetryNetwork(max_radius=8))
    assert (r["n_manmade"], r["n_vegetation"]) == (63, 65)
    assert r["auc"] == pytest.approx(0.7214, abs=1e-3)  # measured; baseline 0.518
    assert r["auc"] > r["auc_active_fraction"] + 0.15


@pytest.mark.parametrize("k", [0, 3])
def test_diagonal_mirror_patterns_peak_on_true_axis(k):
    """Patterns symmetric about r - c = k (diagonal) and r + c = 15 + k (antidiagonal)."""
    n = 16
    rng = np.random.default_rng(10 + k)
    base = rng.random((n, n)) < 0.3
    diag = np.zeros((n, n), bool)
    anti = np.zeros((n, n), bool)
    for r in range(n):
        for c in range(n):
            if base[r, c]:
                for img, (r2, c2) in ((diag, (c + k, r - k)), (anti, (15 + k - c, 15 + k - r))):
                    if 0 <= r2 < n and 0 <= c2 < n:  # keep only pixels whose mirror fits
                        img[r, c] = img[r2, c2] = True
    rr, cc = np.mgrid[0:n, 0:n]
    net = SymmetryNetwork(max_radius=None)
    for img, orientation, coord, true_axis in ((diag, "diagonal", rr - cc, k),
                                               (anti, "antidiagonal", rr + cc, 15 + k)):
        ev = symmetry_events(img, network=net, orientations=(orientation,))
        on = ev.counts[f"{orientation}/on"].numpy()
        half = ev.counts[f"{orientation}/half"].numpy()
        # axis line m collects on-detectors with coord = m and half-detectors with coord = m - 1
        axes = range(int(coord.min()), int(coord.max()) + 2)
        total = {m: on[coord == m].sum() + half[coord == m - 1].sum() for m in axes}
        assert max(total, key=total.get) == true_axis
        n_off_axis = img.sum() - img[coord == true_axis].sum()
        assert total[true_axis] == n_off_axis / 2


def test_without_delays_coincidence_loses_mirror_information():
    """Collapse all delays to tick 0 (ticks_per_pixel tiny): the detector then fires once
    whenever >= 2 of its inputs spike, and the true axis is no longer singled out."""
    img = mirror_shape(24, 32, 21, np.random.default_rng(21))
    flat = SymmetryNetwork(max_radius=None, ticks_per_pixel=1e-3)
    ev = symmetry_events(img, network=flat, orientations=("vertical",))
    per_axis = np.empty(64)
    per_axis[0::2] = ev.counts["vertical/on"].sum(0).numpy()
    per_axis[1::2] = ev.counts["vertical/half"].sum(0).numpy()
    assert ev.counts["vertical/on"].max() <= 1  # at most one spike per detector
    assert per_axis[21] <= 24  # one per row instead of one per pair (79 with delays)
    assert (per_axis >= per_axis[21]).sum() >= 5  # many axes look as symmetric as the true one
    timed = symmetry_events(img, network=SymmetryNetwork(max_radius=None),
                            orientations=("vertical",))
    assert float(timed.counts["vertical/half"].sum(0)[10]) == (img > 0.5).sum() / 2


def test_chance_normalisation_is_one_for_random_patterns():
    img = (np.random.default_rng(0).random((256, 256)) < 0.3).astype(np.float32)
    ev = symmetry_events(img)  # radius 8, all 8 populations
    r = ev.region_scores(32, "chance").numpy()
    assert r.mean() == pytest.approx(1.0, abs=0.01)  # measured 0.998
    assert 0.9 < r.min() and r.max() < 1.1
    assert float(ev.density(31, "chance")[20:-20, 20:-20].mean()) == pytest.approx(1.0, abs=0.01)


def test_axis_profile_finds_global_axes():
    img = mirror_shape(24, 32, 21, np.random.default_rng(21))  # axis x = 10.5
    ev = symmetry_events(img, network=SymmetryNetwork(max_radius=None))
    pos, tot = ev.axis_profile("vertical")
    assert pos.shape == (64,) and tot.shape == (64,)
    assert float(pos[int(tot.argmax())]) == 10.5
    assert float(tot.max()) == (img > 0.5).sum() / 2
    assert float(tot.sum()) == float(ev.maps["vertical"].sum())
    # diagonal: symmetric about r - c = 3 (mirror (r, c) -> (c + 3, r - 3))
    n, k = 16, 3
    base = np.random.default_rng(1).random((n, n)) < 0.3
    sym = np.zeros((n, n), bool)
    for r, c in zip(*np.nonzero(base), strict=True):
        if 0 <= c + k < n and 0 <= r - k < n:
            sym[r, c] = sym[c + k, r - k] = True
    ev = symmetry_events(sym[None], network=SymmetryNetwork(max_radius=None),
                         orientations=("diagonal",))
    pos, tot = ev.axis_profile("diagonal")
    assert tot.shape == (1, pos.numel()) and float(pos[0]) == -(n - 1)
    assert float(pos[int(tot[0].argmax())]) == k
    rr, cc = np.mgrid[0:n, 0:n]
    assert float(tot.max()) == (sym.sum() - sym[rr - cc == k].sum()) / 2
    with pytest.raises(ValueError, match="orientation"):
        ev.axis_profile("vertical")  # not computed
