"""Findings, verdicts and the Markdown report of the Zenke & Vogels study.

Every verdict is computed from the runs' numbers by a stated rule (thresholds below), never
written by hand. Each finding returns ``{"finding", "verdict", "evidence", ...}`` with the
verdict one of ``"reproduced"``, ``"partly"``, ``"not reproduced"`` or ``"no data"``.
All comparisons use test accuracy at the learning rate (and, for "best over beta", the
beta) chosen on **validation**.
"""

from __future__ import annotations

import json
import math
import platform
from collections.abc import Sequence
from pathlib import Path

from ..io.checkpoint import atomic_write_text
from ..viz.plots import pyplot
from .sweep import select_learning_rate

__all__ = [
    "TOLERANCE",
    "MARGIN",
    "analyse",
    "shape_findings",
    "scale_findings",
    "sparse_findings",
    "write_report",
]

#: two accuracies closer than this count as "the same"
TOLERANCE = 0.05
#: an accuracy this much lower counts as "hurt" / "worse"
MARGIN = 0.05
#: a control must beat chance by this much, or a comparison against it means nothing
LEARNED = 0.2

REPRODUCED, PARTLY, NOT, NO_DATA = "reproduced", "partly", "not reproduced", "no data"


def _f(x: float | None) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _rows(rows: Sequence[dict], **match) -> list[dict]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def _best_by_val(rows: Sequence[dict]) -> dict | None:
    """Of lr-selected rows, the one with the best validation accuracy (test reported)."""
    rows = [r for r in rows if not math.isnan(r.get("val_accuracy_mean", math.nan))]
    return max(rows, key=lambda r: r["val_accuracy_mean"]) if rows else None


def _chance(rows: Sequence[dict]) -> float:
    k = next((r.get("data.n_classes") for r in rows if r.get("data.n_classes")), 10)
    return 1.0 / float(k)


def _finding(fid: str, finding: str, verdict: str, evidence: str, **numbers) -> dict:
    return {"id": fid, "finding": finding, "verdict": verdict, "evidence": evidence, **numbers}


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
        accs = {s: b["test_accuracy_mean"] for s, b in have.items()}
        spread = max(accs.values()) - min(accs.values())
        learned = min(accs.values()) > chance + LEARNED
        verdict = (
            (REPRODUCED if spread <= TOLERANCE else PARTLY if spread <= 2 * TOLERANCE else NOT)
            if learned
            else NOT
        )
        ev = ", ".join(
            f"{s} {_f(a)} (beta {have[s]['beta']:g}, lr {have[s]['lr']:g})" for s, a in accs.items()
        )
        ev += (
            f"; spread {_f(spread)} (reproduced if <= {TOLERANCE}, partly if <= "
            f"{2 * TOLERANCE:g}); chance {_f(chance)}"
        )
        if not learned:
            ev += f"; at least one shape did not learn (<= chance + {LEARNED})"
        out.append(_finding("shape-robust", f1, verdict, ev, spread=spread, best=accs))

    f2 = "The zero ('true') gradient stays at chance from a silent start."
    z = _rows(rows, condition="zero")
    if not z:
        out.append(_finding("zero-gradient", f2, NO_DATA, "the zero-gradient control was not run"))
    else:
        acc = max(r["test_accuracy_mean"] for r in z)
        spk = max(r["spikes_per_neuron_mean"] for r in z)
        ok = acc <= chance + MARGIN
        out.append(
            _finding(
                "zero-gradient",
                f2,
                REPRODUCED if ok else NOT,
                f"test accuracy {_f(acc)} vs chance {_f(chance)} (reproduced if <= chance + "
                f"{MARGIN}); hidden activity {spk:.3g} spikes/neuron",
                accuracy=acc,
            )
        )

    f3 = "The constant surrogate (h = 1) learns worse than the shaped surrogates."
    c = _best_by_val(_rows(rows, condition="constant"))
    if c is None or not have:
        out.append(_finding("constant-worse", f3, NO_DATA, "constant control or shapes missing"))
    else:
        accs = [b["test_accuracy_mean"] for b in have.values()]
        ca = c["test_accuracy_mean"]
        verdict = REPRODUCED if ca < min(accs) - MARGIN else PARTLY if ca < max(accs) else NOT
        out.append(
            _finding(
                "constant-worse",
                f3,
                verdict,
                f"constant {_f(ca)} vs shaped best {_f(min(accs))}..{_f(max(accs))} (reproduced "
                f"if below the worst shape by > {MARGIN}, partly if below the best)",
                accuracy=ca,
            )
        )

    f4 = "The scale beta matters: each shape learns worse at some beta of the log grid."
    drops = {}
    for s in have:
        accs_b = [r["test_accuracy_mean"] for r in _rows(rows, condition=s)]
        if len(accs_b) > 1:
            drops[s] = max(accs_b) - min(accs_b)
    if not drops:
        out.append(_finding("beta-matters", f4, NO_DATA, "fewer than two betas per shape"))
    else:
        n_hit = sum(d > 2 * MARGIN for d in drops.values())
        verdict = REPRODUCED if n_hit == len(drops) else PARTLY if n_hit else NOT
        out.append(
            _finding(
                "beta-matters",
                f4,
                verdict,
                "best - worst test accuracy over beta: "
                + ", ".join(f"{s} {_f(d)}" for s, d in drops.items())
                + f" (a drop > {2 * MARGIN:g} counts)",
            )
        )
    return out


# ----------------------------------------------------------------------------- scale
def _acc(rows: Sequence[dict], **match) -> float | None:
    b = _best_by_val(_rows(rows, **match))
    return None if b is None else b["test_accuracy_mean"]


def scale_findings(sel: Sequence[dict]) -> list[dict]:
    """Findings of the scale experiment (paper Fig. 5)."""
    rows = _rows(sel, experiment="scale")
    out = []
    ff = _rows(rows, part="ff")
    s_ctl, a_ctl, a_dr = (_acc(ff, condition=c) for c in ("sCtl", "aCtl", "aDR"))
    f1 = (
        "Feed-forward: the asymptotic (large-peak) surrogate hurts only through a "
        "differentiable reset (aDR < sCtl), not with the reset detached (aCtl ~ sCtl)."
    )
    if None in (s_ctl, a_ctl, a_dr):
        out.append(_finding("scale-reset", f1, NO_DATA, "sCtl, aCtl or aDR missing"))
    else:
        same = abs(a_ctl - s_ctl) <= TOLERANCE
        hurt = a_dr < s_ctl - MARGIN
        verdict = REPRODUCED if same and hurt else PARTLY if same or hurt else NOT
        verdict = verdict if s_ctl > _chance(ff) + LEARNED else NOT
        out.append(
            _finding(
                "scale-reset",
                f1,
                verdict,
                f"sCtl {_f(s_ctl)}, aCtl {_f(a_ctl)}, aDR {_f(a_dr)} (same: |aCtl - sCtl| <= "
                f"{TOLERANCE}; hurt: aDR < sCtl - {MARGIN}; sCtl must beat chance by {LEARNED})",
                sCtl=s_ctl,
                aCtl=a_ctl,
                aDR=a_dr,
            )
        )
    rec = _rows(rows, part="recurrent")
    r_s, r_a, r_ap = (_acc(rec, condition=c) for c in ("sCtl", "aCtl", "aProp"))
    f2 = (
        "Recurrent: the asymptotic surrogate hurts when the gradient passes through the "
        "recurrent connections (aProp < aCtl), not when they are detached (aCtl ~ sCtl)."
    )
    if None in (r_s, r_a, r_ap):
        out.append(_finding("scale-recurrence", f2, NO_DATA, "recurrent conditions missing"))
    else:
        same = abs(r_a - r_s) <= TOLERANCE
        hurt = r_ap < r_a - MARGIN
        verdict = REPRODUCED if same and hurt else PARTLY if same or hurt else NOT
        verdict = verdict if r_s > _chance(rec) + LEARNED else NOT
        out.append(
            _finding(
                "scale-recurrence",
                f2,
                verdict,
                f"sCtl {_f(r_s)}, sProp {_f(_acc(rec, condition='sProp'))}, aCtl {_f(r_a)}, aProp "
                f"{_f(r_ap)} (same: |aCtl - sCtl| <= {TOLERANCE}; hurt: aProp < aCtl - {MARGIN}; "
                f"sCtl must beat chance by {LEARNED})",
                sCtl=r_s,
                aCtl=r_a,
                aProp=r_ap,
            )
        )
    dep = _rows(rows, part="depth")
    depths = sorted({int(r["n_layers"]) for r in dep})
    gaps = {}
    for d in depths:
        s, a = _acc(dep, condition="aCtl", n_layers=d), _acc(dep, condition="aDR", n_layers=d)
        if s is not None and a is not None:
            gaps[d] = s - a
    f3 = (
        "The damage of the asymptotic surrogate through the reset grows with depth "
        "(aCtl - aDR larger for more hidden layers)."
    )
    if len(gaps) < 2:
        out.append(_finding("scale-depth", f3, NO_DATA, "fewer than two depths"))
    else:
        ds = sorted(gaps)
        grows = gaps[ds[-1]] > gaps[ds[0]] + MARGIN
        positive = all(g > 0 for g in gaps.values())
        verdict = REPRODUCED if grows and positive else PARTLY if grows or positive else NOT
        ctl = [_acc(dep, condition="aCtl", n_layers=d) for d in gaps]
        verdict = verdict if min(ctl) > _chance(dep) + LEARNED else NOT
        out.append(
            _finding(
                "scale-depth",
                f3,
                verdict,
                "aCtl - aDR by depth: "
                + ", ".join(f"{d} layer(s) {_f(g)}" for d, g in gaps.items())
                + f" (grows: last > first + {MARGIN}; all > 0; aCtl must beat chance by {LEARNED})",
                gaps={str(k): v for k, v in gaps.items()},
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
    ref_acc = none[0]["test_accuracy_mean"]
    ref_spk = none[0]["spikes_per_neuron_mean"]
    a_max = max(a for _, a, _ in pts)
    holding = [(s, a) for s, a, _ in pts if a >= a_max - MARGIN]
    critical = min(s for s, _ in holding)
    holds = critical <= 0.5 * ref_spk and max(a for s, a in holding) >= ref_acc - MARGIN
    collapsed = [(s, a) for s, a, _ in pts if s < critical and a < a_max - 3 * MARGIN]
    verdict = REPRODUCED if holds and collapsed else PARTLY if holds or collapsed else NOT
    if ref_acc <= chance + LEARNED:
        verdict = NOT
        ev_prefix = f"the unregularised network did not learn (<= chance + {LEARNED}); "
    else:
        ev_prefix = ""
    ev = ev_prefix + (
        f"unregularised: {_f(ref_acc)} at {ref_spk:.3g} spikes/neuron; best {_f(a_max)}; "
        f"critical activity (sparsest run within {MARGIN} of the best) {critical:.3g} "
        f"spikes/neuron (holds if <= half the unregularised activity); "
    )
    ev += (
        f"below it: {', '.join(f'{_f(a)} at {s:.3g}' for s, a in collapsed)} "
        f"(collapse: > {3 * MARGIN:g} below the best)"
        if collapsed
        else "no run below it collapsed"
    )
    return [_finding("sparse", f, verdict, ev, critical_spikes_per_neuron=critical, chance=chance)]


# ----------------------------------------------------------------------------- report
def analyse(rows: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """lr-selected rows and every finding from the raw results rows."""
    sel = select_learning_rate(rows)
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


def _plots(sel: Sequence[dict], out: Path) -> list[str]:
    plt = pyplot()

    made = []
    shape = _rows(sel, experiment="shape")
    if shape:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for s in ("superspike", "sigmoid", "esser"):
            pts = sorted((r["beta"], r["test_accuracy_mean"]) for r in _rows(shape, condition=s))
            if pts:
                ax.plot(*zip(*pts, strict=True), "o-", label=s)
        for s, ls in (("constant", "--"), ("zero", ":")):
            b = _best_by_val(_rows(shape, condition=s))
            if b:
                ax.axhline(b["test_accuracy_mean"], ls=ls, color="k", label=s)
        ax.set_xscale("log")
        ax.set(
            xlabel="surrogate scale beta", ylabel="test accuracy (lr on validation)", ylim=(0, 1)
        )
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "shape.png", dpi=120)
        plt.close(fig)
        made.append("shape.png")
    scale = _rows(sel, experiment="scale")
    if scale:
        fig, axes = plt.subplots(1, 3, figsize=(10, 3.2), sharey=True)
        for ax, part in zip(axes, ("ff", "recurrent", "depth"), strict=True):
            prow = _rows(scale, part=part)
            if part == "depth":
                for c in sorted({r["condition"] for r in prow}):
                    pts = sorted(
                        (r["n_layers"], r["test_accuracy_mean"]) for r in _best_rows(prow, c)
                    )
                    if pts:
                        ax.plot(*zip(*pts, strict=True), "o-", label=c)
                ax.set(xlabel="hidden layers")
                if ax.get_legend_handles_labels()[0]:
                    ax.legend(fontsize=8)
            else:
                conds = sorted({r["condition"] for r in prow})
                ax.bar(conds, [_acc(prow, condition=c) or 0.0 for c in conds])
            ax.set_title(part)
        axes[0].set(ylabel="test accuracy", ylim=(0, 1))
        fig.tight_layout()
        fig.savefig(out / "scale.png", dpi=120)
        plt.close(fig)
        made.append("scale.png")
    pts = sparse_curve(sel)
    if pts:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-")
        if min(p[0] for p in pts) > 0:
            ax.set_xscale("log")
        ax.set(xlabel="spikes per hidden neuron per sample", ylabel="test accuracy", ylim=(0, 1))
        fig.tight_layout()
        fig.savefig(out / "sparse.png", dpi=120)
        plt.close(fig)
        made.append("sparse.png")
    return made


def _best_rows(rows: Sequence[dict], condition: str) -> list[dict]:
    """Per depth, the validation-best row of one condition."""
    out = []
    for d in sorted({r["n_layers"] for r in rows}):
        b = _best_by_val(_rows(rows, condition=condition, n_layers=d))
        if b:
            out.append(b)
    return out


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
    write_results_csv(sel, out / "selection.csv")
    atomic_write_text(
        out / "verdicts.json",
        json.dumps(
            [{k: f[k] for k in ("id", "finding", "verdict", "evidence")} for f in findings],
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
    md += [f"* {n}" for n in notes]
    md += [
        "",
        "## Verdicts",
        "",
        "Computed from the data by the rules in `spikegrad.experiments.reports` "
        f"(tolerance {TOLERANCE}, margin {MARGIN}).",
        "",
    ]
    md.append(
        _table(findings, [("finding", "finding"), ("verdict", "verdict"), ("evidence", "evidence")])
    )
    cols_lr = [
        ("test acc.", "test_accuracy_mean"),
        ("sd", "test_accuracy_sd"),
        ("val acc.", "val_accuracy_mean"),
        ("spikes/neuron", "spikes_per_neuron_mean"),
        ("lr", "lr"),
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
