"""pytest plugin: measure how much of each numeric tolerance the tests actually use.

Usage (from the repository root)::

    PYTHONPATH=src:scripts python -m pytest -p tolerance_probe tests/test_kernels_fused.py ...
    # writes $TOLERANCE_PROBE_OUT (default bench/results/tolerances.json)

It wraps ``torch.testing.assert_close`` and ``torch.allclose`` (the comparisons of the
kernel, readout, e-prop and perturbation tests) and records, per call site (test file and
line), the tolerance (``rtol``, ``atol``, the defaults filled in), the largest absolute
and relative errors observed, and the share of the tolerance used,
``max_i d_i / (atol + rtol |b_i|)`` with ``d_i = max(|a_i - b_i|, eps |b_i|)``: an error
below one unit in the last place of the expected value counts as one ulp (no tolerance
can be tighter than that). The *ratio* tolerance / measured of a site is 1 / (largest
share over all its calls); issue 33 asks it to be at most 100.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
from pathlib import Path

import torch

_OUT = Path(os.environ.get("TOLERANCE_PROBE_OUT", "bench/results/tolerances.json"))
_SITES: dict[str, dict] = {}
_orig_close = torch.testing.assert_close
_orig_allclose = torch.allclose

# torch.testing.assert_close defaults per dtype (rtol, atol)
_DEFAULTS = {torch.float16: (1e-3, 1e-5), torch.bfloat16: (1.6e-2, 1e-5),
             torch.float32: (1.3e-6, 1e-5), torch.float64: (1e-7, 1e-7)}  # fmt: skip


def _site() -> tuple[str, str]:
    f = sys._getframe(2)
    while f is not None and "tests" not in Path(f.f_code.co_filename).parts:
        f = f.f_back
    if f is None:
        return "?", "?"
    return f"{Path(f.f_code.co_filename).name}:{f.f_lineno}", f.f_code.co_name


def _record(a, b, rtol: float, atol: float, kind: str) -> None:
    try:
        a = torch.as_tensor(a)
        b = torch.as_tensor(b)
        if a.is_complex() or b.is_complex() or not (a.is_floating_point()
                                                     or b.is_floating_point()):
            return
        dtype = b.dtype if b.is_floating_point() else a.dtype
        eps = torch.finfo(dtype).eps
        a64, b64 = a.detach().double().cpu(), b.detach().double().cpu()
        a64, b64 = torch.broadcast_tensors(a64, b64)
        fin = torch.isfinite(a64) & torch.isfinite(b64)
        if not bool(fin.any()):
            return
        a64, b64 = a64[fin], b64[fin]
        diff = (a64 - b64).abs()
        d = torch.maximum(diff, eps * b64.abs())
        den = atol + rtol * b64.abs()
        share = torch.where(den > 0, d / den.clamp_min(1e-300),
                            torch.where(d > 0, torch.full_like(d, float("inf")), d))
        nz = b64.abs() > 0
        rel = float((diff[nz] / b64.abs()[nz]).max()) if bool(nz.any()) else 0.0
        where, test = _site()
        dt = str(dtype).replace("torch.", "")
        s = _SITES.setdefault(f"{where}|{dt}", {"site": where, "test": test, "kind": kind,
                                                "dtype": set(),
                                                "rtol": set(), "atol": set(), "calls": 0,
                                                "max_abs": 0.0, "max_rel": 0.0,
                                                "max_share": 0.0})
        s["dtype"].add(dt)
        s["rtol"].add(rtol)
        s["atol"].add(atol)
        s["calls"] += 1
        s["max_abs"] = max(s["max_abs"], float(diff.max()))
        s["max_rel"] = max(s["max_rel"], rel)
        s["max_share"] = max(s["max_share"], float(share.max()))
    except Exception:  # noqa: BLE001 - measuring must never change a test's outcome
        return


def assert_close(actual, expected, *args, rtol=None, atol=None, **kw):
    if rtol is None and atol is None:
        e = torch.as_tensor(expected)
        r, t = _DEFAULTS.get(e.dtype, (0.0, 0.0))
    else:
        r, t = rtol, atol
    _record(actual, expected, float(r), float(t), "assert_close")
    return _orig_close(actual, expected, *args, rtol=rtol, atol=atol, **kw)


def allclose(input, other, rtol=1e-05, atol=1e-08, equal_nan=False):
    _record(input, other, float(rtol), float(atol), "allclose")
    return _orig_allclose(input, other, rtol=rtol, atol=atol, equal_nan=equal_nan)


torch.testing.assert_close = assert_close
torch.allclose = allclose


@atexit.register
def _write() -> None:
    if not _SITES:  # imported for its table, or nothing compared: write nothing
        return
    rows = []
    for s in _SITES.values():
        s = dict(s)
        s["dtype"] = "/".join(sorted(s["dtype"]))
        s["rtol"] = sorted(s["rtol"])
        s["atol"] = sorted(s["atol"])
        s["ratio"] = (1.0 / s["max_share"]) if s["max_share"] > 0 else None
        rows.append(s)
    old = json.loads(_OUT.read_text()) if _OUT.is_file() else []
    keep = [r for r in old if r["site"] not in {x["site"] for x in rows}]
    _OUT.parent.mkdir(parents=True, exist_ok=True)
    rows = sorted(keep + rows, key=_order)
    _OUT.write_text(json.dumps(rows, indent=1) + "\n")


def _order(r: dict) -> tuple:
    name, _, line = r["site"].partition(":")
    return (name, int(line) if line.isdigit() else 0, r["dtype"])


def table(rows: list[dict], before: list[dict] | None = None) -> str:
    """Markdown table of a probe's JSON rows; ``before``: an earlier probe, whose
    tolerances are shown where they differ (the ones tightened since)."""

    def g(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.2g}"

    def tol(vals: list[float]) -> str:
        return g(vals[0]) if len(vals) == 1 else f"{g(vals[0])}..{g(vals[-1])} (scaled)"

    old = {}
    for r in before or []:
        for dt in r["dtype"].split("/"):
            old[r["site"], dt] = r
    lines = ["| site | test | dtype | rtol | atol | max abs err | max rel err | "
             "share of tolerance used | ratio tol / measured | before |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        o = old.get((r["site"], r["dtype"].split("/")[0]))
        was = ""
        if o is not None and (o["rtol"], o["atol"]) != (r["rtol"], r["atol"]):
            was = f"rtol {tol(o['rtol'])}, atol {tol(o['atol'])}: ratio {g(o['ratio'])}"
        ratio = r["ratio"]
        if not any(r["rtol"] + r["atol"]):
            shown = "exact"
        elif r["max_abs"] > 0 and r["max_share"] > 1:  # only `assert not allclose` gets here
            shown = "n/a: asserts a difference"
        else:
            shown = "< 1 ulp" if ratio is not None and ratio < 1 else g(ratio)
        lines.append(
            f"| `{r['site']}` | `{r['test']}` | {r['dtype']} | {tol(r['rtol'])} | "
            f"{tol(r['atol'])} | {g(r['max_abs'])} | {g(r['max_rel'])} | "
            f"{g(r['max_share'])} | {shown} | {was} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    # python scripts/tolerance_probe.py NEW.json [BEFORE.json]
    print(table(*(json.loads(Path(a).read_text()) for a in sys.argv[1:3])))
