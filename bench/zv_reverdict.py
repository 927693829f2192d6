"""Re-decide the Zenke & Vogels verdicts of a published report's tables with today's rules.

    python bench/zv_reverdict.py docs/reproductions/zenke-vogels.md [--samples-per-class 150]

Reads the learning-rate-selected tables (shape, scale, sparse) of a report.md, rebuilds
the selection rows (mean, sd, n; Randman with the given samples per class for the test
size) and prints every finding with its verdict and evidence under the interval rules of
``spikegrad.experiments.reports``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spikegrad.experiments.reports import scale_findings, shape_findings, sparse_findings


def _tables(text: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    section = None
    head: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            section, head = line[3:].split(" ")[1].lower() if line[3].isdigit() else None, None
            continue
        if section and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if head is None:
                head = cells
            elif not set(line) <= set("|-"):
                out.setdefault(section, []).append(dict(zip(head, cells, strict=True)))
    return out


def _num(v: str) -> float | None:
    try:
        return float(v)
    except ValueError:
        return None


def rows_from_report(text: str, samples_per_class: int) -> list[dict]:
    """Selection rows (as :func:`select_learning_rate` writes them) from a report's tables."""
    rows = []
    names = {"shape": "shape", "scale": "scale", "sparse": "sparse"}
    for section, table in _tables(text).items():
        exp = names.get(section.rstrip("."))
        if exp is None:
            continue
        for t in table:
            r = {
                "experiment": exp, "dataset": "randman",
                "data.samples_per_class": samples_per_class,
                "test_accuracy_mean": _num(t["test acc."]), "test_accuracy_sd": _num(t["sd"]),
                "val_accuracy_mean": _num(t["val acc."]),
                "spikes_per_neuron_mean": _num(t["spikes/neuron"]), "lr": _num(t["lr"]),
                "n": int(t["n"]),
            }  # fmt: skip
            if exp == "shape":
                r.update(condition=t["surrogate"], beta=_num(t["beta"]))
            elif exp == "scale":
                r.update(condition=t["condition"], part=t["part"], n_layers=int(t["layers"]),
                         beta=_num(t["beta"]))  # fmt: skip
            else:
                r.update(condition=t["regulariser"], upper_threshold=_num(t["threshold"]),
                         upper_strength=_num(t["strength"]))  # fmt: skip
            rows.append(r)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--samples-per-class", type=int, default=150)
    args = ap.parse_args()
    rows = rows_from_report(args.report.read_text(), args.samples_per_class)
    for f in shape_findings(rows) + scale_findings(rows) + sparse_findings(rows):
        evidence = f["evidence"].replace("|", "\\|")
        print(f"| {f['finding']} | {f['verdict']} | {evidence} |")


if __name__ == "__main__":
    main()
