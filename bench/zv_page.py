"""Rewrite the verdict tables of docs/reproductions/zenke-vogels.md from the published runs.

    python bench/zv_page.py            # rewrite the page
    python bench/zv_page.py --check    # exit 1 if the page differs from the JSON files

Each published run keeps its ``verdicts.json`` under
``docs/reproductions/zenke-vogels/<profile>/``; the page holds, between
``<!-- verdicts:<profile>:begin -->`` and ``<!-- verdicts:<profile>:end -->``, the table
:func:`spikegrad.experiments.reports.verdicts_markdown` makes from it, so the page says
exactly what the files say (tests/test_study_page.py checks it).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from spikegrad.experiments.reports import verdicts_markdown

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "reproductions" / "zenke-vogels.md"
RUNS = ROOT / "docs" / "reproductions" / "zenke-vogels"


def render(page: str) -> str:
    """``page`` with every marked verdict table replaced by its run's ``verdicts.json``."""

    def table(m: re.Match) -> str:
        name = m.group(1)
        verdicts = json.loads((RUNS / name / "verdicts.json").read_text(encoding="utf-8"))
        body = verdicts_markdown(verdicts)
        return f"<!-- verdicts:{name}:begin -->\n{body}<!-- verdicts:{name}:end -->"

    pat = re.compile(r"<!-- verdicts:([\w-]+):begin -->.*?<!-- verdicts:\1:end -->", re.S)
    return pat.sub(table, page)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true")
    a = ap.parse_args(argv)
    page = PAGE.read_text(encoding="utf-8")
    new = render(page)
    if a.check:
        print("up to date" if new == page else "the page differs from the verdicts.json files")
        return 0 if new == page else 1
    PAGE.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
