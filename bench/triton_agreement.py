"""Measured agreement of the Triton kernels with the reference, over the test grid.

Runs the grid of tests/test_kernels_triton.py (every surrogate x reset x {ff, rec,
rec without recurrent gradient} x {float32, float64}, T = 6, B = 3, N = 7, learnable
per-neuron taus) and prints, per dtype, the largest gradient error relative to the
gradient's largest magnitude, the largest absolute error, the largest loss difference and
whether every spike train was identical; then the same errors for the readout (trace and
gradients, B = 1 and 3). On CPU it runs in Triton's interpreter:

    TRITON_INTERPRET=1 PYTHONPATH=src python bench/triton_agreement.py
    PYTHONPATH=src python bench/triton_agreement.py --device cuda   # compiled, on a GPU
"""

from __future__ import annotations

import argparse
import zlib

import torch

from spikegrad.functional.lif import LIFParams, li_sequence, lif_sequence
from spikegrad.functional.surrogate import SURROGATES, make_surrogate
from spikegrad.kernels.lif_triton import li_sequence_triton, lif_sequence_triton

MODES = {"ff": (False, True), "rec": (True, True), "rec_nograd": (True, False)}


def one(name, reset, mode, dtype, device, T=6, B=3, N=7):
    rec, rg = MODES[mode]
    g = torch.Generator().manual_seed(zlib.crc32(repr((name, reset, mode)).encode()))
    x = torch.randn(T, B, N, generator=g, dtype=dtype) * 3.0 + 2.0
    V = torch.randn(N, N, generator=g, dtype=dtype) * 0.8 if rec else None
    tm = 2e-3 + 4e-3 * torch.rand(N, generator=g, dtype=dtype)
    ts = 1e-3 + 4e-3 * torch.rand(N, generator=g, dtype=dtype)
    x, V, tm, ts = [None if t is None else t.to(device).requires_grad_() for t in (x, V, tm, ts)]
    params = [x, tm, ts] + ([V] if rec else [])
    sur = make_surrogate(name, 3.0)
    res = []
    for impl in ("reference", "triton"):
        bm, bs = torch.exp(-1e-3 / tm), torch.exp(-1e-3 / ts)
        if impl == "reference":
            s, _, _ = lif_sequence(x, LIFParams(bm, bs), sur, rec_weight=V, reset=reset,
                                   recurrent_grad=rg)  # fmt: skip
        else:
            s, _ = lif_sequence_triton(x, bm, bs, sur, rec_weight=V, reset=reset,
                                       recurrent_grad=rg)  # fmt: skip
        w = torch.linspace(-1, 1, s.numel(), dtype=dtype, device=device).view(s.shape)
        loss = (s * w).sum() + 0.1 * (s.sum(0) ** 2).sum()
        res.append((s, loss, torch.autograd.grad(loss, params)))
    (s1, l1, g1), (s2, l2, g2) = res
    return (torch.equal(s1, s2), abs((l1 - l2).item())) + _errors(g1, g2)


def _errors(g1, g2) -> tuple[float, float]:
    pairs = list(zip(g1, g2, strict=True))
    ab = max((a - b).abs().max().item() for a, b in pairs)
    rel = max(((a - b).abs().max() / a.abs().max().clamp_min(1e-300)).item() for a, b in pairs)
    return ab, rel


def readout(dtype, device, B):
    """Readout trace and gradients (x, both taus), reference vs Triton: (abs, rel) errors."""
    g = torch.Generator().manual_seed(B)
    x = torch.randn(6, B, 5, generator=g, dtype=dtype)
    tm = 10e-3 + 20e-3 * torch.rand(5, generator=g, dtype=dtype)
    ts = 2e-3 + 5e-3 * torch.rand(5, generator=g, dtype=dtype)
    w = torch.randn(6, B, 5, generator=g, dtype=dtype).to(device)
    x, tm, ts = (t.to(device).requires_grad_() for t in (x, tm, ts))
    outs = []
    for triton in (False, True):
        bm, bs = torch.exp(-1e-3 / tm), torch.exp(-1e-3 / ts)
        u = (li_sequence_triton(x, bm, bs, u0=-1e-3) if triton
             else li_sequence(x, LIFParams(bm, bs), u0=-1e-3))  # fmt: skip
        outs.append([u.detach(), *torch.autograd.grad((u * w).sum(), [x, tm, ts])])
    return _errors(*outs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    for dtype in (torch.float32, torch.float64):
        rows = [one(n, r, m, dtype, a.device) for n in sorted(SURROGATES)
                for r in ("detach", "differentiable") for m in MODES]  # fmt: skip
        print(f"{str(dtype):<14} cases {len(rows)}  spikes identical {all(r[0] for r in rows)}  "
              f"max |dloss| {max(r[1] for r in rows):.1e}  "
              f"max abs grad err {max(r[2] for r in rows):.1e}  "
              f"max rel grad err {max(r[3] for r in rows):.1e}")  # fmt: skip
        ro = [readout(dtype, a.device, B) for B in (1, 3)]
        print(f"{'':<14} readout (B = 1, 3): max abs err {max(r[0] for r in ro):.1e}  "
              f"max rel err {max(r[1] for r in ro):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
