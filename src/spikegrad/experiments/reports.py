"""Findings, verdicts and the Markdown report of the Zenke & Vogels study.

Every verdict is computed from the runs' numbers by a stated rule (thresholds below), never
written by hand. Each finding returns ``{"finding", "verdict", "evidence", ...}`` with the
verdict one of ``"reproduced"``, ``"partly"``, ``"not reproduced"``, ``"not resolved"`` or
``"no data"``. All comparisons use test accuracy at the learning rate (and, for "best over
beta", the beta) chosen on **validation**.

Every number a verdict uses carries its 95 % interval (:func:`accuracy_interval`: the
Student-t interval over seeds and the binomial error of the test set; differences add
half-widths in quadrature), and every claim is decided on the interval: "d > threshold"
holds only if the whole interval lies above, fails if it lies at or below, and is *not
resolved* if it straddles the threshold; "|d| <= tolerance" likewise. A finding is
reproduced only if all its claims hold at that confidence; any unresolved claim makes it
"not resolved". With no interval information (one seed, unknown test size) the rules fall
back to the point values.
"""

from __future__ import annotations

import functools
import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from ..io.checkpoint import atomic_write_text
from ..viz.plots import pyplot, save_figure
from .stats import CONFIDENCE, t975, wilson
from .sweep import select_per_seed

__all__ = [
    "TOLERANCE",
    "MARGIN",
    "PIPELINE_CHECK",
    "analyse",
    "shape_findings",
    "scale_findings",
    "sparse_findings",
    "write_report",
    "verdicts_markdown",
]

#: two accuracies closer than this count as "the same"
TOLERANCE = 0.05
#: an accuracy this much lower counts as "hurt" / "worse"
MARGIN = 0.05
#: a control must beat chance by this much, or a comparison against it means nothing
LEARNED = 0.2

REPRODUCED, PARTLY, NOT, NO_DATA = "reproduced", "partly", "not reproduced", "no data"
NOT_RESOLVED = "not resolved"
#: the verdict every finding of a pipeline-check profile gets (the smoke profile: one
#: epoch, 60 samples, so it exercises the code and decides nothing)
PIPELINE_CHECK = "pipeline check, not evidence"
PIPELINE_PROFILES = ("smoke",)


def _f(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _rows(rows: Sequence[dict], **match) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _best_by_val(rows: Sequence[dict]) -> dict | None:
    """Of lr-selected rows, the one with the best validation accuracy (test reported)."""
    rows = [r for r in rows if not math.isnan(r.get("val_accuracy_mean", math.nan))]
    return max(rows, key=lambda r: r["val_accuracy_mean"]) if rows else None


#: classes of the data sets whose rows do not carry ``data.n_classes``
_N_CLASSES = {"spoken-digits": 20, "shd": 20, "ssc": 35}


def _chance(rows: Sequence[dict]) -> float:
    k = next((r.get("data.n_classes") for r in rows if r.get("data.n_classes")), None)
    if k is None:
        k = next((_N_CLASSES[r["dataset"]] for r in rows if r.get("dataset") in _N_CLASSES), 10)
    return 1.0 / float(k)


@functools.lru_cache(maxsize=16)
def _file_samples(folder: str, stem: str) -> int | None:
    """Samples in ``folder/stem.h5[.gz]`` (``None`` if it cannot be read)."""
    from ..data.shd import find_hdf5_file, hdf5_file_info

    try:
        n = hdf5_file_info(find_hdf5_file(folder, stem))["samples"]
    except Exception:  # noqa: BLE001 - the report then omits the binomial term
        return None
    return n if n > 0 else None


def _finding(fid: str, finding: str, verdict: str, evidence: str, **numbers) -> dict:
    return {"id": fid, "finding": finding, "verdict": verdict, "evidence": evidence, **numbers}


# ----------------------------------------------------------------------------- intervals
_Z95 = 1.959964


class Est(NamedTuple):
    r"""A number with the half-width of its 95 % interval (``half = 0``: exact).

    ``seeds`` holds the per-seed values behind a mean over seeds (seed -> value, as pairs)
    and ``bvar`` the binomial variance of the test set(s) behind it. Subtracting two
    estimates that share at least two seeds gives the **paired** difference (Student 1908):
    the per-seed differences :math:`d_s = a_s - b_s` (same initial weights and batch order
    in both conditions, so the seed's luck cancels), with

    .. math:: h = \sqrt{\big(t_{0.975,n-1}\, s_d/\sqrt n\big)^2
              + 1.96^2\,(v_a + v_b)}

    where :math:`s_d` is the sample SD of the :math:`d_s` and :math:`v_a, v_b` the test
    sets' binomial variances (added as if independent: conservative, since both
    conditions are scored on the same test samples and their errors correlate).
    Otherwise (no shared seeds, or a constant) the difference is unpaired and half-widths
    add in quadrature. ``bounds`` overrides ``value ± half`` where the interval is not
    symmetric (the Wilson interval of one seed's accuracy) or must stay in ``[0, 1]``.
    """

    value: float
    half: float
    seeds: tuple[tuple[Any, float], ...] = ()
    bvar: float = 0.0
    bounds: tuple[float, float] | None = None
    paired_diff: bool = False

    @property
    def lo(self) -> float:
        return self.bounds[0] if self.bounds is not None else self.value - self.half

    @property
    def hi(self) -> float:
        return self.bounds[1] if self.bounds is not None else self.value + self.half

    def text(self) -> str:
        if math.isnan(self.value):
            return "n/a"
        if self.bounds is not None and abs((self.hi - self.value) - (self.value - self.lo)) > 5e-4:
            return f"{self.value:.3f} [{self.lo:.3f}, {self.hi:.3f}]"
        txt = f"{self.value:.3f}" + (f" ± {self.half:.3f}" if self.half > 0 else "")
        return txt + (f" (paired, {len(self.seeds)} seeds)" if self.paired_diff else "")

    def __sub__(self, other: Est) -> Est:  # type: ignore[override]
        a, b = dict(self.seeds), dict(other.seeds)
        common = [s for s in a if s in b]
        if len(common) >= 2:
            d = [a[s] - b[s] for s in common]
            e = _from_seeds(tuple(zip(common, d, strict=True)), self.bvar + other.bvar)
            return e._replace(paired_diff=True)
        if not other.seeds and other.half == 0 and other.bvar == 0:  # minus a constant
            c = other.value
            bounds = None if self.bounds is None else (self.bounds[0] - c, self.bounds[1] - c)
            return Est(self.value - c, self.half, tuple((s, v - c) for s, v in self.seeds),
                       self.bvar, bounds, self.paired_diff)  # fmt: skip
        return Est(self.value - other.value, math.hypot(self.half, other.half))


def _from_seeds(seeds: tuple[tuple[Any, float], ...], bvar: float) -> Est:
    """Mean over per-seed values with the t-half-width combined with the binomial term."""
    vals = [v for _, v in seeds]
    n = len(vals)
    m = sum(vals) / n
    h2 = _Z95**2 * bvar
    if n >= 2:
        sd = math.sqrt(sum((v - m) ** 2 for v in vals) / (n - 1))
        h2 += (t975(n - 1) * sd / math.sqrt(n)) ** 2
    return Est(m, math.sqrt(h2), seeds, bvar)


def n_test_samples(row: dict) -> int | None:
    """Test samples behind a row's accuracy: Randman from its options (stratified split,
    default 0.8 / 0.1 / 0.1 per class; ``data.splits`` as a list or ``"a-b-c"``);
    the spoken digits from their test file (``data.path``, ``data.limit``); ``None``
    where the row does not say."""
    if row.get("dataset") == "spoken-digits" and row.get("data.path"):
        n = _file_samples(str(row["data.path"]), "spoken_digits_test")
        lim = row.get("data.limit")
        return None if n is None else (min(n, int(lim)) if lim else n)
    if row.get("dataset") != "randman":
        return None
    k = int(row.get("data.n_classes") or 10)
    n = int(row.get("data.samples_per_class") or 1000)
    splits = row.get("data.splits") or (0.8, 0.1, 0.1)
    if isinstance(splits, str):
        splits = [float(v) for v in splits.split("-")]
    return k * (n - int(round((float(splits[0]) + float(splits[1])) * n)))


def accuracy_interval(row: dict) -> Est:
    r"""Mean test accuracy of an lr-selected row with its 95 % interval.

    .. math:: h = \sqrt{\big(t_{0.975,n-1}\, s/\sqrt n\big)^2
              + \big(1.96\,\sqrt{p(1-p)/N_\text{test}}\big)^2}

    over ``n`` seeds (sample SD ``s``) and the binomial error of the ``N_test`` test
    samples (absent where the row does not give the test size). The two sources are
    independent (training randomness, the finite test set), so their half-widths add in
    quadrature; every seed is scored on the same test set, so the binomial term does not
    shrink with ``n``. The interval is clipped to ``[0, 1]``. With one seed the interval
    is Wilson's (:func:`wilson`), which stays inside ``[0, 1]`` by construction. A silent
    network (no hidden spike) predicts one class for every sample: its accuracy is the
    class frequency of the stratified test split, without sampling error.

    Where the row carries ``per_seed`` values (:func:`~spikegrad.experiments.sweep.
    select_per_seed`) they travel with the estimate, so differences between two cells
    are paired per seed (:class:`Est`).
    """
    p = float(row.get("test_accuracy_mean", math.nan))
    if math.isnan(p):
        return Est(p, math.nan)
    nt = n_test_samples(row)
    silent = row.get("spikes_per_neuron_mean") == 0
    bvar = max(p * (1 - p), 0.0) / nt if nt and not silent else 0.0
    per_seed = row.get("per_seed") or {}
    seeds = tuple(
        (s, float(v["test_accuracy"]))
        for s, v in per_seed.items()
        if v.get("test_accuracy") is not None
    )
    n = len(seeds) if seeds else int(row.get("n") or 1)
    if seeds and n >= 2:
        e = _from_seeds(seeds, bvar)
        return e._replace(bounds=(max(0.0, e.lo), min(1.0, e.hi)))
    if n == 1 and nt and not silent:  # one seed: Wilson, inside [0, 1]
        lo, hi = wilson(p, nt)
        return Est(p, max(hi - p, p - lo), seeds, bvar, (lo, hi))
    sd = row.get("test_accuracy_sd")
    h2 = _Z95**2 * bvar
    if n >= 2 and sd is not None and not math.isnan(float(sd)):
        h2 += (t975(n - 1) * float(sd) / math.sqrt(n)) ** 2
    h = math.sqrt(h2)
    bounds = (max(0.0, p - h), min(1.0, p + h)) if h > 0 else None
    return Est(p, h, seeds, bvar, bounds)


def _greater(e: Est, threshold: float) -> bool | None:
    """``e > threshold`` at 95 %: True if the whole interval is above, False if it lies
    at or below, None (not resolved) if it straddles."""
    if e.lo > threshold:
        return True
    if e.hi <= threshold:
        return False
    return None


def _within(e: Est, tol: float) -> bool | None:
    """``|e| <= tol`` at 95 %: True if ``|e| + h <= tol``, False if ``|e| - h > tol``."""
    if abs(e.value) + e.half <= tol:
        return True
    if abs(e.value) - e.half > tol:
        return False
    return None


def _all(parts: Sequence[bool | None]) -> bool | None:
    if any(p is False for p in parts):
        return False
    return None if any(p is None for p in parts) else True


def _any(parts: Sequence[bool | None]) -> bool | None:
    if any(p is True for p in parts):
        return True
    return None if any(p is None for p in parts) else False


def _combine(parts: Sequence[bool | None], gate: bool | None = True) -> str:
    """Verdict of a finding's claims: all hold -> reproduced; any not resolved -> not
    resolved; none hold -> not reproduced; some -> partly. A failed gate (the control
    did not learn) -> not reproduced; an unresolved gate -> not resolved."""
    if gate is False:
        return NOT
    if gate is None or any(p is None for p in parts):
        return NOT_RESOLVED
    if all(parts):
        return REPRODUCED
    return PARTLY if any(parts) else NOT


def _chain(first: bool | None, second: bool | None) -> str:
    """First claim holds -> reproduced; else the weaker second -> partly; else not."""
    if first is True:
        return REPRODUCED
    if first is None or second is None:
        return NOT_RESOLVED
    return PARTLY if second else NOT


_RULE = f"{int(CONFIDENCE * 100)} % intervals"


# ----------------------------------------------------------------------------- shape
def shape_findings(sel: Sequence[dict]) -> list[dict]:
    """Findings of the shape experiment from lr-selected rows (``experiment == "shape"``)."""
    rows = _rows(sel, experiment="shape")
    chance = _chance(rows)
    out = []
    best = {s: _best_by_val(_rows(rows, condition=s)) for s in ("superspike", "sigmoid", "esser")}
    have = {s: b for s, b in best.items() if b is not None}
    f1 = (
        "Learning is robust to the surrogate's shape: SuperSpike, sigmoid' and Esser reach "
        "similar best accuracy (best beta and lr chosen on validation)."
    )
    if len(have) < 2:
        out.append(_finding("shape-robust", f1, NO_DATA, "fewer than two shapes were run"))
    else:
        ivs = {s: accuracy_interval(b) for s, b in have.items()}
        hi_s = max(ivs, key=lambda s: ivs[s].value)
        lo_s = min(ivs, key=lambda s: ivs[s].value)
        spread = ivs[hi_s] - ivs[lo_s]
        gate = _all([_greater(ivs[s] - Est(chance, 0.0), LEARNED) for s in ivs])
        verdict = _chain(_within(spread, TOLERANCE), _within(spread, 2 * TOLERANCE))
        verdict = NOT if gate is False else (NOT_RESOLVED if gate is None else verdict)
        ev = ", ".join(
            f"{s} {ivs[s].text()} (beta {have[s]['beta']:g}, lr {have[s]['lr']:g})" for s in ivs
        )
        ev += (
            f"; spread {spread.text()} (reproduced if spread + h <= {TOLERANCE}, partly if <= "
            f"{2 * TOLERANCE:g}, not reproduced if spread - h exceeds it, else not resolved; "
            f"{_RULE}); chance {_f(chance)}"
        )
        if gate is not True:
            ev += f"; a shape's lower bound is not above chance + {LEARNED}"
        out.append(_finding("shape-robust", f1, verdict, ev, spread=spread.value,
                            spread_half=spread.half,
                            best={s: e.value for s, e in ivs.items()}))  # fmt: skip

    f2 = "The zero ('true') gradient stays at chance from a silent start."
    z = _rows(rows, condition="zero")
    if not z:
        out.append(_finding("zero-gradient", f2, NO_DATA, "the zero-gradient control was not run"))
    else:
        r = max(z, key=lambda r: r["test_accuracy_mean"])
        acc = accuracy_interval(r)
        spk = max(r["spikes_per_neuron_mean"] for r in z)
        ok = _greater(Est(chance + MARGIN, 0.0) - acc, 0.0)
        ok = True if (ok is False and acc.hi <= chance + MARGIN) else ok
        verdict = {True: REPRODUCED, False: NOT, None: NOT_RESOLVED}[ok]
        out.append(
            _finding(
                "zero-gradient",
                f2,
                verdict,
                f"test accuracy {acc.text()} vs chance {_f(chance)} (reproduced if the upper "
                f"bound <= chance + {MARGIN}, not reproduced if the lower bound exceeds it; "
                f"{_RULE}); hidden activity {spk:.3g} spikes/neuron",
                accuracy=acc.value,
            )
        )

    f3 = "The constant surrogate (h = 1) learns worse than the shaped surrogates."
    c = _best_by_val(_rows(rows, condition="constant"))
    if c is None or not have:
        out.append(_finding("constant-worse", f3, NO_DATA, "constant control or shapes missing"))
    else:
        ivs = {s: accuracy_interval(b) for s, b in have.items()}
        worst = min(ivs.values(), key=lambda e: e.value)
        bestv = max(ivs.values(), key=lambda e: e.value)
        ca = accuracy_interval(c)
        verdict = _chain(_greater(worst - ca, MARGIN), _greater(bestv - ca, 0.0))
        out.append(
            _finding(
                "constant-worse",
                f3,
                verdict,
                f"constant {ca.text()} vs shaped {worst.text()} .. {bestv.text()}; worst shape - "
                f"constant {(worst - ca).text()} (reproduced if its lower bound > {MARGIN}; "
                f"partly if best shape - constant {(bestv - ca).text()} is above 0; {_RULE})",
                accuracy=ca.value,
            )
        )

    f4 = "The scale beta matters: each shape learns worse at some beta of the log grid."
    drops: dict[str, Est] = {}
    for s in have:
        rs = [r for r in _rows(rows, condition=s) if not math.isnan(r["test_accuracy_mean"])]
        if len(rs) > 1:
            hi = accuracy_interval(max(rs, key=lambda r: r["test_accuracy_mean"]))
            lo = accuracy_interval(min(rs, key=lambda r: r["test_accuracy_mean"]))
            drops[s] = hi - lo
    if not drops:
        out.append(_finding("beta-matters", f4, NO_DATA, "fewer than two betas per shape"))
    else:
        parts = [_greater(d, 2 * MARGIN) for d in drops.values()]
        verdict = _combine(parts)
        out.append(
            _finding(
                "beta-matters",
                f4,
                verdict,
                "best - worst test accuracy over beta: "
                + ", ".join(f"{s} {d.text()}" for s, d in drops.items())
                + f" (a drop counts if its lower bound > {2 * MARGIN:g}; {_RULE})",
            )
        )
    return out


# ----------------------------------------------------------------------------- scale
def _iv(rows: Sequence[dict], **match) -> Est | None:
    b = _best_by_val(_rows(rows, **match))
    return None if b is None else accuracy_interval(b)


def scale_findings(sel: Sequence[dict]) -> list[dict]:
    """Findings of the scale experiment (paper Fig. 5)."""
    rows = _rows(sel, experiment="scale")
    out = []
    ff = _rows(rows, part="ff")
    s_ctl, a_ctl, a_dr = (_iv(ff, condition=c) for c in ("sCtl", "aCtl", "aDR"))
    f1 = (
        "Feed-forward: the asymptotic (large-peak) surrogate hurts only through a "
        "differentiable reset (aDR < sCtl), not with the reset detached (aCtl ~ sCtl)."
    )
    if None in (s_ctl, a_ctl, a_dr):
        out.append(_finding("scale-reset", f1, NO_DATA, "sCtl, aCtl or aDR missing"))
    else:
        same, hurt = a_ctl - s_ctl, s_ctl - a_dr
        gate = _greater(s_ctl - Est(_chance(ff), 0.0), LEARNED)
        verdict = _combine([_within(same, TOLERANCE), _greater(hurt, MARGIN)], gate)
        out.append(
            _finding(
                "scale-reset",
                f1,
                verdict,
                f"sCtl {s_ctl.text()}, aCtl {a_ctl.text()}, aDR {a_dr.text()}; aCtl - sCtl "
                f"{same.text()} (same if |d| + h <= {TOLERANCE}); sCtl - aDR {hurt.text()} "
                f"(hurt if d - h > {MARGIN}); sCtl must beat chance by {LEARNED}; {_RULE}, "
                "a claim whose interval straddles its threshold is not resolved",
                sCtl=s_ctl.value,
                aCtl=a_ctl.value,
                aDR=a_dr.value,
            )
        )
    rec = _rows(rows, part="recurrent")
    r_s, r_a, r_ap = (_iv(rec, condition=c) for c in ("sCtl", "aCtl", "aProp"))
    f2 = (
        "Recurrent: the asymptotic surrogate hurts when the gradient passes through the "
        "recurrent connections (aProp < aCtl), not when they are detached (aCtl ~ sCtl)."
    )
    if None in (r_s, r_a, r_ap):
        out.append(_finding("scale-recurrence", f2, NO_DATA, "recurrent conditions missing"))
    else:
        same, hurt = r_a - r_s, r_a - r_ap
        gate = _greater(r_s - Est(_chance(rec), 0.0), LEARNED)
        verdict = _combine([_within(same, TOLERANCE), _greater(hurt, MARGIN)], gate)
        sprop = _iv(rec, condition="sProp")
        out.append(
            _finding(
                "scale-recurrence",
                f2,
                verdict,
                f"sCtl {r_s.text()}, sProp {sprop.text() if sprop else 'n/a'}, aCtl "
                f"{r_a.text()}, aProp {r_ap.text()}; aCtl - sCtl {same.text()} (same if |d| + "
                f"h <= {TOLERANCE}); aCtl - aProp {hurt.text()} (hurt if d - h > {MARGIN}); "
                f"sCtl must beat chance by {LEARNED}; {_RULE}",
                sCtl=r_s.value,
                aCtl=r_a.value,
                aProp=r_ap.value,
            )
        )
    dep = _rows(rows, part="depth")
    depths = sorted({int(r["n_layers"]) for r in dep})
    gaps: dict[int, Est] = {}
    ctl: list[Est] = []
    for d in depths:
        a, b = _iv(dep, condition="aCtl", n_layers=d), _iv(dep, condition="aDR", n_layers=d)
        if a is not None and b is not None:
            gaps[d] = a - b
            ctl.append(a)
    f3 = (
        "The damage of the asymptotic surrogate through the reset grows with depth "
        "(aCtl - aDR larger for more hidden layers)."
    )
    if len(gaps) < 2:
        out.append(_finding("scale-depth", f3, NO_DATA, "fewer than two depths"))
    else:
        ds = sorted(gaps)
        growth = gaps[ds[-1]] - gaps[ds[0]]
        parts = [_greater(growth, MARGIN), _all([_greater(g, 0.0) for g in gaps.values()])]
        chance = _chance(dep)
        gate = _all([_greater(a - Est(chance, 0.0), LEARNED) for a in ctl])
        verdict = _combine(parts, gate)
        out.append(
            _finding(
                "scale-depth",
                f3,
                verdict,
                "aCtl - aDR by depth: "
                + ", ".join(f"{d} layer(s) {g.text()}" for d, g in gaps.items())
                + f"; growth {growth.text()} (grows if d - h > {MARGIN}; every gap's lower "
                f"bound > 0; aCtl must beat chance by {LEARNED}; {_RULE})",
                gaps={str(k): v.value for k, v in gaps.items()},
            )
        )
    return out


# ----------------------------------------------------------------------------- sparse
def sparse_curve(sel: Sequence[dict]) -> list[tuple[float, float, float | None]]:
    """``(spikes per neuron, test accuracy, upper threshold)`` of the sparse experiment."""
    pts = []
    for r in _rows(sel, experiment="sparse"):
        if not math.isnan(r.get("test_accuracy_mean", math.nan)):
            thr = r.get("upper_threshold") if r.get("condition") == "upper" else None
            pts.append((r["spikes_per_neuron_mean"], r["test_accuracy_mean"], thr))
    return sorted(pts, key=lambda p: (p[0], p[1]))


def sparse_findings(sel: Sequence[dict]) -> list[dict]:
    """Accuracy holds down to a critical activity level, then collapses."""
    pts = sparse_curve(sel)
    chance = _chance(_rows(sel, experiment="sparse"))
    f = (
        "With an upper-bound activity regulariser, accuracy holds at much sparser activity "
        "down to a critical level, below which it collapses."
    )
    none = [
        r
        for r in _rows(sel, experiment="sparse", condition="none")
        if not math.isnan(r.get("test_accuracy_mean", math.nan))
    ]
    if len(pts) < 3 or not none:
        return [_finding("sparse", f, NO_DATA, "fewer than three activity levels")]
    runs = [
        r for r in _rows(sel, experiment="sparse")
        if not math.isnan(r.get("test_accuracy_mean", math.nan))
    ]  # fmt: skip
    ref = accuracy_interval(none[0])
    ref_spk = none[0]["spikes_per_neuron_mean"]
    top = max(runs, key=lambda r: r["test_accuracy_mean"])
    a_max = accuracy_interval(top)
    holding = [r for r in runs if r["test_accuracy_mean"] >= a_max.value - MARGIN]
    crit_row = min(holding, key=lambda r: r["spikes_per_neuron_mean"])
    critical = crit_row["spikes_per_neuron_mean"]
    hold_best = accuracy_interval(max(holding, key=lambda r: r["test_accuracy_mean"]))
    holds = _all([critical <= 0.5 * ref_spk, _greater(hold_best - ref, -MARGIN)])
    below = [r for r in runs if r["spikes_per_neuron_mean"] < critical]
    drops = [(r, a_max - accuracy_interval(r)) for r in below]
    collapsed = _any([_greater(d, 3 * MARGIN) for _, d in drops]) if drops else False
    gate = _greater(ref - Est(chance, 0.0), LEARNED)
    verdict = _combine([holds, collapsed], gate)
    ev_prefix = (
        f"the unregularised network did not learn (<= chance + {LEARNED}); "
        if gate is False
        else ""
    )
    ev = ev_prefix + (
        f"unregularised: {ref.text()} at {ref_spk:.3g} spikes/neuron; best {a_max.text()}; "
        f"critical activity (sparsest run within {MARGIN} of the best) {critical:.3g} "
        f"spikes/neuron (holds if <= half the unregularised activity and its accuracy is not "
        f"below the unregularised by more than {MARGIN}); "
    )
    ev += (
        "below it, best - run: "
        + ", ".join(f"{d.text()} at {r['spikes_per_neuron_mean']:.3g}" for r, d in drops)
        + f" (collapse: d - h > {3 * MARGIN:g}; {_RULE})"
        if drops
        else "no run below it collapsed"
    )
    return [_finding("sparse", f, verdict, ev, critical_spikes_per_neuron=critical, chance=chance)]


# ----------------------------------------------------------------------------- report
def analyse(rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """lr-selected cells and every finding from the raw results rows.

    The learning rate is chosen per cell **and seed** on validation
    (:func:`~spikegrad.experiments.sweep.select_per_seed`), and the cells carry their
    per-seed values, so every difference between two cells that share seeds is paired.
    """
    sel, _ = select_per_seed(rows)
    findings = shape_findings(sel) + scale_findings(sel) + sparse_findings(sel)
    return sel, findings


def _table(rows: Sequence[dict], cols: Sequence[tuple[str, str]]) -> str:
    head = "| " + " | ".join(h for h, _ in cols) + " |\n|" + "---|" * len(cols) + "\n"
    body = ""
    metric = ("_mean", "_sd")
    for r in rows:
        cells = []
        for _, k in cols:
            v = r.get(k)
            if isinstance(v, float):
                cells.append(_f(v) if k.endswith(metric) else f"{v:g}")
            else:
                cells.append("" if v is None else str(v).replace("|", "\\|"))
        body += "| " + " | ".join(cells) + " |\n"
    return head + body


#: one colour, marker and line style per condition in every figure
_STYLE = {
    "superspike": ("C0", "o", "-"),
    "sigmoid": ("C1", "s", "--"),
    "esser": ("C2", "^", "-."),
    "constant": ("C7", "D", ":"),
    "zero": ("k", "x", ":"),
    "sCtl": ("C0", None, None),
    "sDR": ("C9", None, None),
    "sProp": ("C4", None, None),
    "aCtl": ("C1", None, None),
    "aDR": ("C3", None, None),
    "aProp": ("C5", None, None),
}


def _errs(rows: Sequence[dict]) -> tuple[list[float], list[list[float]]]:
    """Test accuracies and their 95 % error bars (lower, upper lengths) for errorbar()."""
    ys, lo, hi = [], [], []
    for r in rows:
        e = accuracy_interval(r)
        y = e.value
        ys.append(y)
        lo.append(0.0 if math.isnan(e.half) else max(0.0, y - e.lo))
        hi.append(0.0 if math.isnan(e.half) else max(0.0, e.hi - y))
    return ys, [lo, hi]


def _chance_line(ax, chance: float) -> None:
    ax.axhline(chance, color="0.6", lw=1, ls=(0, (4, 3)), zorder=0, label=f"chance ({chance:g})")


def _plots(sel: Sequence[dict], out: Path) -> list[str]:
    """The report's figures in the paper's layout (Zenke & Vogels 2021, Fig. 3 and 5).

    ``shape.png``: test accuracy over the surrogate scale beta, one line per shape (each
    shape's points shifted a little along the log axis so that no line hides another
    where they coincide, e.g. at chance), and the best of each shape beside the constant
    and zero controls. ``scale.png``: the scale conditions as bars per architecture and
    depth. ``sparse.png``: test accuracy against hidden activity with the critical
    activity marked. Every point carries its 95 % interval (:func:`accuracy_interval`);
    every panel has a title and the chance level.
    """
    plt = pyplot()

    made = []
    shape = _rows(sel, experiment="shape")
    if shape:
        chance = _chance(shape)
        fig, (ax, axb) = plt.subplots(
            1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [2, 1]}, sharey=True
        )
        shapes = ("superspike", "sigmoid", "esser")
        for k, sname in enumerate(shapes):
            rs = sorted(_rows(shape, condition=sname), key=lambda r: r["beta"])
            if not rs:
                continue
            ys, err = _errs(rs)
            xs = [r["beta"] * 1.12 ** (k - 1) for r in rs]  # dodge on the log axis
            c, m, ls = _STYLE[sname]
            ax.errorbar(xs, ys, yerr=err, color=c, marker=m, ls=ls, ms=5, capsize=2,
                        label=sname)  # fmt: skip
        _chance_line(ax, chance)
        ax.set_xscale("log")
        ax.set(xlabel="surrogate scale beta", ylabel="test accuracy", ylim=(0, 1.02),
               title="Accuracy over surrogate shape and scale")  # fmt: skip
        ax.legend(fontsize=7, loc="lower left")
        names, bests = [], []
        for sname in (*shapes, "constant", "zero"):
            b = _best_by_val(_rows(shape, condition=sname))
            if b is not None:
                names.append(sname if sname not in shapes else f"{sname}\nbeta {b['beta']:g}")
                bests.append(b)
        if bests:
            ys, err = _errs(bests)
            cols = [_STYLE[r["condition"]][0] for r in bests]
            axb.bar(range(len(bests)), ys, yerr=err, color=cols, capsize=3)
            axb.set_xticks(range(len(bests)), names, fontsize=7, rotation=30)
            _chance_line(axb, chance)
            axb.set_title("Best beta (on validation), controls", fontsize=9)
        fig.tight_layout()
        save_figure(fig, out / "shape.png", dpi=120)
        made.append("shape.png")
    scale = _rows(sel, experiment="scale")
    if scale:
        chance = _chance(scale)
        groups: list[tuple[str, list[dict]]] = []
        ff = _rows(scale, part="ff")
        if ff:
            groups.append(("feed-forward\n1 layer", ff))
        dep = _rows(scale, part="depth")
        for d in sorted({int(r["n_layers"]) for r in dep}):
            groups.append((f"fluct. init\n{d} layer{'s' if d > 1 else ''}",
                           _rows(dep, n_layers=d)))  # fmt: skip
        rec = _rows(scale, part="recurrent")
        if rec:
            groups.append(("recurrent\n1 layer", rec))
        order = ("sCtl", "sDR", "sProp", "aCtl", "aDR", "aProp")
        width = 0.8 / max(1, max(len({r["condition"] for r in g}) for _, g in groups))
        fig, ax = plt.subplots(figsize=(max(6.5, 1.7 * len(groups)), 3.8))
        labelled: set[str] = set()
        for i, (_, g) in enumerate(groups):  # the conditions a group has, centred on it
            cell = [b for c in order if (b := _best_by_val(_rows(g, condition=c))) is not None]
            ys, err = _errs(cell)
            for j, (b, y) in enumerate(zip(cell, ys, strict=True)):
                c = b["condition"]
                ax.bar(i + (j - (len(cell) - 1) / 2) * width, y, width=width * 0.95,
                       yerr=[[err[0][j]], [err[1][j]]], capsize=2, color=_STYLE[c][0],
                       hatch="//" if c.startswith("a") else None,
                       label=None if c in labelled else c)  # fmt: skip
                labelled.add(c)
        _chance_line(ax, chance)
        ax.set_xticks(range(len(groups)), [g for g, _ in groups], fontsize=8)
        ax.set(ylabel="test accuracy", ylim=(0, 1.02),
               title="Surrogate scale: normalised (s) vs asymptotic (a)")  # fmt: skip
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        save_figure(fig, out / "scale.png", dpi=120)
        made.append("scale.png")
    runs = [r for r in _rows(sel, experiment="sparse")
            if not math.isnan(r.get("test_accuracy_mean", math.nan))]  # fmt: skip
    if runs:
        chance = _chance(runs)
        runs = sorted(runs, key=lambda r: r["spikes_per_neuron_mean"])
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
        xs = [r["spikes_per_neuron_mean"] for r in runs]
        ys, err = _errs(runs)
        ax.errorbar(xs, ys, yerr=err, marker="o", ls="-", color="C0", capsize=2,
                    label="upper-bound regulariser")  # fmt: skip
        none = [r for r in runs if r.get("condition") == "none"]
        if none:
            yn, en = _errs(none)
            ax.errorbar([r["spikes_per_neuron_mean"] for r in none], yn, yerr=en, marker="*",
                        ms=12, ls="none", color="C3", capsize=2, label="unregularised")  # fmt: skip
        f = sparse_findings(sel)[0]
        crit = f.get("critical_spikes_per_neuron")
        if crit is not None:
            ax.axvline(crit, color="C2", ls="--", lw=1, label=f"critical activity ({crit:.2g})")
        _chance_line(ax, chance)
        if min(xs) > 0:
            ax.set_xscale("log")
        else:  # a silenced network (0 spikes) stays on the axis: linear below the first
            ax.set_xscale("symlog", linthresh=max(1e-3, min([x for x in xs if x > 0] or [1e-3])))
            ax.set_xlim(left=0.0)
        ax.set_xlim(right=max(xs) * 1.6 if max(xs) > 0 else 1.0)
        ax.set(xlabel="spikes per hidden neuron per sample", ylabel="test accuracy",
               ylim=(0, 1.02), title="Accuracy against hidden activity")  # fmt: skip
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        save_figure(fig, out / "sparse.png", dpi=120)
        made.append("sparse.png")
    return made


def verdicts_markdown(findings: Sequence[dict]) -> str:
    """The verdict table of a report (finding, verdict, evidence), from :func:`analyse`'s
    findings or a ``verdicts.json`` read back; the documentation pages are rewritten from
    the published ``verdicts.json`` with it (``python bench/zv_page.py``)."""
    return _table(
        findings, [("finding", "finding"), ("verdict", "verdict"), ("evidence", "evidence")]
    )


def machine_description() -> str:
    import os

    import torch

    return (
        f"{platform.node()}: {platform.platform()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, torch {torch.__version__}"
    )


def write_report(
    rows: Sequence[dict],
    out_dir: str | Path,
    *,
    command: str = "",
    profile: str = "",
    wall_seconds: float | None = None,
    notes: Sequence[str] = (),
) -> list[dict]:
    """Write ``report.md``, ``verdicts.json``, ``selection.csv`` and figures; return findings."""
    from .sweep import write_results_csv

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sel, findings = analyse(rows)
    if profile in PIPELINE_PROFILES:  # sized to run in seconds: it cannot decide anything
        for f in findings:
            f["computed_verdict"], f["verdict"] = f["verdict"], PIPELINE_CHECK
    write_results_csv(select_per_seed(rows)[1], out / "selection.csv")
    atomic_write_text(
        out / "verdicts.json",
        json.dumps(
            [
                {
                    k: f[k]
                    for k in ("id", "finding", "verdict", "computed_verdict", "evidence")
                    if k in f
                }
                for f in findings
            ],
            indent=2,
        ),
    )
    figs = _plots(sel, out)
    n_div = sum(r.get("status") == "diverged" for r in rows)
    md = ["# Zenke & Vogels (2021) surrogate-gradient study: spikegrad reproduction", ""]
    md += [
        f"* command: `{command}`" if command else "",
        f"* profile: `{profile}`",
        f"* machine: {machine_description()}",
        f"* runs: {len(rows)} ({n_div} diverged)"
        + (f"; wall time {wall_seconds / 60:.1f} min" if wall_seconds else ""),
        "* every number is the test accuracy at the learning rate chosen on validation "
        "(and, for 'best over beta', the beta chosen on validation)",
        "",
    ]
    if profile in PIPELINE_PROFILES:
        md += [
            f"* **profile `{profile}` is a pipeline check, not evidence**: one epoch on a "
            "few dozen samples exercises every part of the study and decides nothing; "
            "each verdict reads 'pipeline check, not evidence' (the rule's own verdict is "
            "kept as `computed_verdict` in verdicts.json)"
        ]
    md += [f"* {n}" for n in notes]
    md += [
        "",
        "## Verdicts",
        "",
        "Computed from the data by the rules in `spikegrad.experiments.reports` "
        f"(tolerance {TOLERANCE}, margin {MARGIN}). Every number carries its "
        f"{int(CONFIDENCE * 100)} % interval (Student t over seeds, binomial error of the "
        "test set); a claim holds only if its whole interval is on the claimed side of the "
        "threshold, and a finding with a claim whose interval straddles it is 'not resolved'.",
        "",
    ]
    md.append(verdicts_markdown(findings))
    cols_lr = [
        ("test acc.", "test_accuracy_mean"),
        ("sd", "test_accuracy_sd"),
        ("val acc.", "val_accuracy_mean"),
        ("spikes/neuron", "spikes_per_neuron_mean"),
        ("lr (seed:lr)", "lrs"),
        ("n", "n"),
    ]
    shape = sorted(_rows(sel, experiment="shape"), key=lambda r: (r["condition"], r["beta"]))
    md += ["## 1. Shape (paper Fig. 3)", ""]
    md += ["![shape](shape.png)", ""] if "shape.png" in figs else []
    md.append(_table(shape, [("surrogate", "condition"), ("beta", "beta")] + cols_lr))
    scale = sorted(
        _rows(sel, experiment="scale"),
        key=lambda r: (str(r.get("part")), r["n_layers"], r["condition"], r["beta"]),
    )
    md += [
        "## 2. Scale (paper Fig. 5)",
        "",
        "`s` = normalised SuperSpike, `a` = asymptotic SuperSpike (peak beta); `Ctl` = reset "
        "(or recurrence) detached, `DR` = differentiable reset, `Prop` = gradient through "
        "the recurrence. Depth rows use the fluctuation-driven initialisation.",
        "",
    ]
    md += ["![scale](scale.png)", ""] if "scale.png" in figs else []
    md.append(
        _table(
            scale,
            [("part", "part"), ("layers", "n_layers"), ("condition", "condition"), ("beta", "beta")]
            + cols_lr,
        )
    )
    sparse = sorted(
        _rows(sel, experiment="sparse"), key=lambda r: -(r.get("spikes_per_neuron_mean") or 0)
    )
    md += [
        "## 3. Sparse activity",
        "",
        "Population upper bound L = strength * mean_batch [mean_i(count_i) - threshold]_+^2, "
        "from gentle to strong enough to silence the network; lower bound as in the paper. "
        "The critical activity is the sparsest run within the margin of the best accuracy.",
        "",
    ]
    md += ["![sparse](sparse.png)", ""] if "sparse.png" in figs else []
    md.append(
        _table(
            sparse,
            [
                ("regulariser", "condition"),
                ("threshold", "upper_threshold"),
                ("strength", "upper_strength"),
            ]
            + cols_lr,
        )
    )
    ds = _rows(sel, experiment="datasets")
    md += [
        "## 4. Data sets",
        "",
        "The default architecture (one hidden layer, SuperSpike beta 10, detached reset). "
        "No verdict: the paper's numbers for these data sets are not verified here.",
        "",
    ]
    md.append(_table(ds, [("data set", "condition"), ("limit", "data.limit")] + cols_lr))
    md += [
        "",
        "Files: `results.csv` (one row per run), `selection.csv` (learning rate chosen "
        "on validation per cell), `verdicts.json`, figures.",
    ]
    atomic_write_text(out / "report.md", "\n".join(x for x in md if x is not None) + "\n")
    return findings
