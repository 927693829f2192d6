#!/usr/bin/env python
"""Mutation check: do the tests fail when the behaviour they guard breaks?

A curated, versioned list of small deliberate breaks of ``src/spikegrad`` (a wrong
constant, a dropped term, a check switched off). Each is applied to a scratch copy of
``src/`` (the working tree is never modified), and the tests that guard that behaviour run
against the copy with a timeout. A mutation the tests catch is *caught*; one they pass
is *survived* (a gap: a test that should have failed did not). A mutation whose original
snippet is not found exactly once in its file is an *error*: the list must stay true to
the code.

Usage (from the repository root)::

    python scripts/mutations.py                  # every mutation, baseline first
    python scripts/mutations.py --list           # the list, nothing run
    python scripts/mutations.py --check          # every snippet found exactly once?
    python scripts/mutations.py --only stats-     # ids starting with (or equal to) stats-
    python scripts/mutations.py --limit 10       # the first 10 (after --only)

It writes ``bench/results/mutations_<date>.json`` and the table between the markers in
``docs/mutations.md`` (``--no-write``: neither). Before the mutations the guarding tests
run once on the unmutated copy (the *baseline*, ``--no-baseline`` to skip): a test set
that already fails on the real code would make every mutation look caught, so its
mutations are reported as errors instead.

The scratch copy lives in one folder (``--scratch``, default
``$TMPDIR/spikegrad-mutations-<hash of the checkout path>/src``) and is reused: numba
caches its compiled kernels next to the sources, and only a mutated file is recompiled.
The tests run from a mirror of the repository next to it (``tests/`` copied, the rest
linked; see ``_mirror``), so that tests which start spikegrad in a subprocess with
``PYTHONPATH=<tests>/../src`` import the mutated copy too.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: bump when the list changes (recorded in the JSON and the docs table)
LIST_VERSION = "2026-12-07.2"


@dataclass(frozen=True)
class Mutation:
    id: str
    file: str  # relative to src/spikegrad
    original: str  # must occur exactly once in the file
    replacement: str
    tests: tuple[str, ...]  # pytest runs, each "files [options]" (shell-quoted)
    description: str


M = Mutation

# each string is one pytest run (files and options, shell-quoted); a mutation is caught
# if any run fails
FUSED = ("tests/test_kernels_fused.py",)
NUMBA = ("tests/test_kernels_events.py",)
TRITON = ("tests/test_kernels_triton.py",)
TRITON_NET = ("tests/test_kernels_triton.py -k network",)
SCAN = ("tests/test_pinned_gaps.py -k event_scan",
        "tests/test_kernels_events.py -k 'nonfinite or event_scan'")  # fmt: skip
CHECKS = ("tests/test_errors.py tests/test_hostile_inputs.py tests/test_pinned_checks.py",)
SCHEMA = ("tests/test_cli_vocabulary.py tests/test_hostile_cli.py tests/test_errors.py "
          "tests/test_pinned_checks.py",)  # fmt: skip
IO = ("tests/test_pinned_io.py tests/test_resume.py tests/test_trainer.py "
      "tests/test_hostile_files.py",)  # fmt: skip
LOCK = ("tests/test_faults.py",)
PERT = ("tests/test_perturbation_scale.py tests/test_rule_perturbation.py "
        "tests/test_perturbation.py",)  # fmt: skip
STATS = ("tests/test_pinned_stats.py tests/test_compare.py tests/test_study_statistics.py",)
COMPARE = ("tests/test_pinned_gaps.py -k fidelity", "tests/test_compare.py")
ENERGY = ("tests/test_energy.py",)
UAD = ("tests/test_online_hand.py -k uad", "tests/test_pinned_gaps.py -k uad",
       "tests/test_online_fast.py")  # fmt: skip
ESNN = ("tests/test_online_hand.py -k esnn",
        "tests/test_online_esnn.py tests/test_online_fast.py")  # fmt: skip
TRAINS = ("tests/test_spiketrain.py tests/test_losses_encoders.py",)
SPEC = ("tests/test_spec.py tests/test_alif.py",)

MUTATIONS: tuple[Mutation, ...] = (
    # ------------------------------------------------------------ fused (torch) adjoint
    M("fused-surrogate-10pc", "kernels/lif_fused.py",
      "            gu = bm * gk + H[n] * gs\n",
      "            gu = bm * gk + 1.1 * H[n] * gs\n",
      FUSED, "fused LIF backward: surrogate term 10 % too large"),
    M("fused-syn-decay-10pc", "kernels/lif_fused.py",
      "            gi = one_m_bm * gk + bs * gi\n",
      "            gi = one_m_bm * gk + 1.1 * bs * gi\n",
      FUSED, "fused LIF backward: synaptic decay of the current adjoint 10 % too large"),
    M("fused-rec-10pc", "kernels/lif_fused.py",
      "                gs = gs + gi @ V\n",
      "                gs = gs + 1.1 * (gi @ V)\n",
      FUSED, "fused LIF backward: recurrent adjoint 10 % too large"),
    M("fused-gbm-no-reset", "kernels/lif_fused.py",
      "            g_bm = (GU * keep * (U - I_)).sum(dim=(0, 1))\n",
      "            g_bm = (GU * (U - I_)).sum(dim=(0, 1))\n",
      FUSED, "fused LIF: membrane-decay gradient ignores the reset"),
    M("fused-gbs-10pc", "kernels/lif_fused.py",
      "            g_bs = (GI * I_).sum(dim=(0, 1))\n",
      "            g_bs = (1.1 * GI * I_).sum(dim=(0, 1))\n",
      FUSED, "fused LIF: synaptic-decay gradient 10 % too large"),
    M("fused-gV-10pc", "kernels/lif_fused.py",
      "            g_V = GI.reshape(T * B, N).t() @ S.reshape(T * B, N)\n",
      "            g_V = 1.1 * GI.reshape(T * B, N).t() @ S.reshape(T * B, N)\n",
      FUSED, "fused LIF: recurrent weight gradient 10 % too large"),
    M("fused-diff-reset-dropped", "kernels/lif_fused.py",
      "                gs = gs - gu * (bm * U[n] + one_m_bm * I_[n])\n",
      "                gs = gs - gu * (bm * U[n])\n",
      FUSED, "fused LIF: differentiable reset drops the current term"),
    M("fused-readout-kernel", "kernels/lif_fused.py",
      "        a = bm * a + (1.0 - bm) * c\n",
      "        a = bm * a + c\n",
      FUSED, "fused readout: impulse response without the (1 - beta_mem) factor"),
    # ------------------------------------------------------------ numba adjoint
    M("numba-surrogate-10pc", "kernels/lif_numba.py",
      "            gu[j] = bm[j] * gk + h[j] * g\n",
      "            gu[j] = bm[j] * gk + 1.1 * h[j] * g\n",
      NUMBA, "numba LIF backward: surrogate term 10 % too large"),
    M("numba-syn-decay-10pc", "kernels/lif_numba.py",
      "            gi[j] = omb[j] * gk + bs[j] * gij\n",
      "            gi[j] = omb[j] * gk + 1.1 * bs[j] * gij\n",
      NUMBA, "numba LIF backward: synaptic decay of the current adjoint 10 % too large"),
    M("numba-gbm-no-reset", "kernels/lif_numba.py",
      "                gbm[j] += guj * keep * (u[j] - i[j])\n",
      "                gbm[j] += guj * (u[j] - i[j])\n",
      NUMBA, "numba LIF: membrane-decay gradient ignores the reset"),
    M("numba-diff-reset-dropped", "kernels/lif_numba.py",
      "                g -= guj * (bm[j] * u[j] + omb[j] * i[j])\n",
      "                g -= guj * (bm[j] * u[j])\n",
      NUMBA, "numba LIF: differentiable reset drops the current term"),
    M("numba-readout-decay-10pc", "kernels/lif_numba.py",
      "                        ai[k] = omb[k] * a_u + bs[k] * ai[k]\n",
      "                        ai[k] = omb[k] * a_u + 1.1 * bs[k] * ai[k]\n",
      NUMBA, "numba readout backward: current adjoint decay 10 % too large"),
    M("numba-readout-gbs-10pc", "kernels/lif_numba.py",
      "                            gbs[c, k] += ai[k] * Io[t, b, k]\n",
      "                            gbs[c, k] += 1.1 * ai[k] * Io[t, b, k]\n",
      NUMBA, "numba readout: synaptic-decay gradient 10 % too large"),
    M("numba-scatter-10pc", "kernels/lif_numba.py",
      "                acc[k, j] += v * g[j]\n",
      "                acc[k, j] += 1.1 * v * g[j]\n",
      NUMBA, "numba: event-driven weight-gradient scatter 10 % too large"),
    # ------------------------------------------------------------ Triton (interpreter)
    M("triton-ff-syn-decay-10pc", "kernels/_triton_src.py",
      "        gi = omb * gk + bs * gi\n",
      "        gi = omb * gk + 1.1 * bs * gi\n",
      TRITON, "Triton feed-forward backward: current adjoint decay 10 % too large"),
    M("triton-ff-syn-decay-10pc-net", "kernels/_triton_src.py",
      "        gi = omb * gk + bs * gi\n",
      "        gi = omb * gk + 1.1 * bs * gi\n",
      TRITON_NET, "the same break, against the whole-network test alone (issue 33, gap 1)"),
    M("triton-rec-10pc", "kernels/lif_triton.py",
      "                R = GX[n] @ V.detach()\n",
      "                R = 1.1 * (GX[n] @ V.detach())\n",
      TRITON, "Triton recurrent backward: recurrent adjoint 10 % too large"),
    M("triton-rec-10pc-net", "kernels/lif_triton.py",
      "                R = GX[n] @ V.detach()\n",
      "                R = 1.1 * (GX[n] @ V.detach())\n",
      TRITON_NET, "the same break, against the whole-network test alone (issue 33, gap 1)"),
    M("triton-step-surrogate-10pc", "kernels/_triton_src.py",
      "    tl.store(GU + offs, bm * gk + h_of(u - 1.0, beta, pib, CODE) * gs, mask=mask)\n",
      "    tl.store(GU + offs, bm * gk + 1.1 * h_of(u - 1.0, beta, pib, CODE) * gs, mask=mask)\n",
      TRITON, "Triton recurrent step backward: surrogate term 10 % too large"),
    M("triton-gV-10pc", "kernels/lif_triton.py",
      "            g_V = GX.reshape(T * B, N).t() @ S.reshape(T * B, N)\n",
      "            g_V = 1.1 * GX.reshape(T * B, N).t() @ S.reshape(T * B, N)\n",
      TRITON, "Triton: recurrent weight gradient 10 % too large"),
    M("triton-readout-decay-10pc", "kernels/_triton_src.py",
      "        ai_new = omb * au + bs * ai\n",
      "        ai_new = omb * au + 1.1 * bs * ai\n",
      TRITON, "Triton readout backward: current adjoint decay 10 % too large"),
    M("triton-gbm-no-reset", "kernels/_triton_src.py",
      "        acc_bm += gk * (u - i)\n",
      "        acc_bm += gu * (u - i)\n",
      TRITON, "Triton feed-forward: membrane-decay gradient ignores the reset"),
    # ------------------------------------------------------------ non-finite checks
    M("scan-nonfinite-element-path", "kernels/lif_numba.py",
      "                for k in range(per * W, K):\n                    v = x2[r, k]\n"
      "                    if v != 0:\n                        idx[e] = k\n"
      "                        val[e] = v\n                        bad += (v - v) != 0\n",
      "                for k in range(per * W, K):\n                    v = x2[r, k]\n"
      "                    if v != 0:\n                        idx[e] = k\n"
      "                        val[e] = v\n",
      SCAN, "event scan: no non-finite count on the element path (odd float32 rows)"),
    M("scan-nonfinite-word-path", "kernels/lif_numba.py",
      "                                val[e] = v\n"
      "                                bad += (v - v) != 0\n",
      "                                val[e] = v\n",
      SCAN, "event scan: no non-finite count on the 64-bit word path"),
    M("scan-nonfinite-overflow-path", "kernels/lif_numba.py",
      "                        bad += (v - v) != 0  # NaN and +-inf (0 - 0 == 0)\n",
      "                        pass\n",
      SCAN, "event scan: no non-finite count in an overflowing region"),
    M("scan-nonfinite-wrong-half", "kernels/lif_numba.py",
      "    if finite_name is not None and status[nchunks:].sum() > 0:\n",
      "    if finite_name is not None and status[:nchunks].sum() > 0:\n",
      SCAN, "event scan: reads the overflow flags instead of the non-finite counts"),
    M("check-finite-inf-passes", "_checks.py",
      "    if x.is_floating_point() and not bool(torch.isfinite(x).all()):\n",
      "    if x.is_floating_point() and bool(torch.isnan(x).any()):\n",
      CHECKS + ("tests/test_pinned_gaps.py -k event_scan",),
      "check_finite: only NaN raises, +-inf passes"),
    M("check-sequence-finite-off", "_checks.py",
      "    if finite:\n        check_finite(name, x)\n",
      "    if False:\n        check_finite(name, x)\n",
      CHECKS, "check_sequence_tensor never checks finiteness"),
    # ------------------------------------------------------------ option checks
    M("check-positive-accepts-zero", "_checks.py",
      "    if not math.isfinite(v) or v <= 0:\n",
      "    if not math.isfinite(v) or v < 0:\n",
      CHECKS, "check_positive accepts 0"),
    M("check-size-off-by-one", "_checks.py",
      "    if v < minimum:\n        raise SpikegradInputError(f\"{name} must be an integer >= "
      "{minimum}, got {v}\")\n    return v\n\n\ndef check_int",
      "    if v < minimum - 1:\n        raise SpikegradInputError(f\"{name} must be an integer >= "
      "{minimum}, got {v}\")\n    return v\n\n\ndef check_int",
      CHECKS, "check_size accepts minimum - 1 (a size of 0)"),
    M("check-int-max-off-by-one", "_checks.py",
      "    if maximum is not None and v > maximum:\n",
      "    if maximum is not None and v > maximum + 1:\n",
      CHECKS, "check_int accepts maximum + 1"),
    M("check-size-accepts-bool", "_checks.py",
      "    if isinstance(value, bool):\n        raise TypeError(f\"{name} must be an integer, "
      "got bool {value!r}\")\n",
      "    if False:\n        raise TypeError(f\"{name} must be an integer, "
      "got bool {value!r}\")\n",
      CHECKS, "check_size accepts True/False as sizes"),
    M("check-nonnegative-accepts-inf", "_checks.py",
      "    if not math.isfinite(v) or v < 0:\n",
      "    if v < 0:\n",
      CHECKS, "check_nonnegative accepts inf and NaN"),
    M("check-choice-off", "_checks.py",
      "    if value not in choices:\n",
      "    if False:\n",
      CHECKS, "check_choice accepts any string"),
    M("check-zero-steps", "_checks.py",
      "    if x.shape[0] == 0:\n",
      "    if x.shape[0] < 0:\n",
      CHECKS, "check_sequence_tensor accepts zero time steps"),
    M("check-features-off", "_checks.py",
      "    if features is not None and x.shape[-1] != features:\n",
      "    if False:\n",
      CHECKS, "check_sequence_tensor accepts the wrong feature count"),
    M("schema-exclusive-min", "_checks.py",
      "        if lo is not None and (v < lo or (self.exclusive_min and v == lo)):\n",
      "        if lo is not None and v < lo:\n",
      SCHEMA, "model option schema: an exclusive minimum accepts the minimum itself"),
    M("schema-maximum-off", "_checks.py",
      "        if hi is not None and (v > hi or (self.exclusive_max and v == hi)):\n",
      "        if False:\n",
      SCHEMA, "model option schema: maxima never enforced"),
    M("schema-finite-off", "_checks.py",
      "        if not math.isfinite(v):\n",
      "        if False:\n",
      SCHEMA, "model option schema: inf / nan accepted"),
    M("schema-bool-off", "_checks.py",
      "            if not isinstance(value, bool):\n",
      "            if False:\n",
      SCHEMA, "model option schema: a bool option accepts any value"),
    # ------------------------------------------------------------ io: atomic writes, lock
    M("io-mode-0600", "io/checkpoint.py",
      "        os.fchmod(fd, 0o666 & ~_UMASK)\n",
      "        pass\n",
      IO, "atomic write leaves mkstemp's 0600 mode"),
    M("io-tmp-left-on-error", "io/checkpoint.py",
      "        if os.path.exists(tmp):\n            os.unlink(tmp)\n",
      "        pass\n",
      IO + LOCK, "atomic write leaves its temp file behind on an error"),
    M("io-no-fsync", "io/checkpoint.py",
      "            os.fsync(f.fileno())\n        os.replace(tmp, path)\n",
      "        os.replace(tmp, path)\n",
      IO + LOCK, "atomic write renames before the data is fsync'ed"),
    M("io-checksum-off", "io/checkpoint.py",
      "    if hashlib.sha256(body).digest() != raw[len(MAGIC) : head]:\n",
      "    if False:\n",
      IO, "checkpoint checksum never verified"),
    M("io-epoch-type-off", "io/checkpoint.py",
      "        if not _is_int(p[\"epoch\"]):\n",
      "        if False:\n",
      IO, "checkpoint epoch type never checked"),
    M("io-weights-only-off", "io/checkpoint.py",
      "weights_only=True)\n",
      "weights_only=False)\n",
      IO, "checkpoints loaded with weights_only=False (a pickle can run code)"),
    M("lock-not-taken", "io/run.py",
      "            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n",
      "            pass\n",
      LOCK, "run-folder lock (sweeps and every command) never taken"),
    M("lock-pid-not-written", "io/run.py",
      "    os.pwrite(fd, f\"{os.getpid()}\\n\".encode(), 0)\n",
      "    pass\n",
      LOCK, "run-folder lock does not record the holder's pid"),
    # ------------------------------------------------------------ perturbation estimators
    M("pert-loo-baseline-B", "learning/rules/perturbation.py",
      "        return (reward.sum() - reward) / (B - 1)\n",
      "        return (reward.sum() - reward) / B\n",
      PERT, "leave-one-out baseline divides by B instead of B - 1"),
    M("pert-generic-sigma", "learning/rules/perturbation.py",
      "                 / (sigma**2 * K * B)).view(K, B).sum(1)\n",
      "                 / (sigma * K * B)).view(K, B).sum(1)\n",
      PERT, "generic weight perturbation divides by sigma instead of sigma^2"),
    M("pert-weight-BK", "learning/rules/perturbation.py",
      "                w = (r - self._baseline(r, paired)) / (sigma**2 * BK)\n",
      "                w = (r - self._baseline(r, paired)) / (sigma**2 * K)\n",
      PERT, "LIF weight perturbation averages over K instead of B K"),
    M("pert-node-BK", "learning/rules/perturbation.py",
      "            w = ((r - self._baseline(r, paired)) / (sigma**2 * BK)).to(x.dtype)\n"
      "            pre = [xs[:, B:], *outn.spikes]",
      "            w = ((r - self._baseline(r, paired)) / (sigma**2 * K)).to(x.dtype)\n"
      "            pre = [xs[:, B:], *outn.spikes]",
      PERT, "LIF node perturbation averages over K instead of B K"),
    M("pert-running-baseline", "learning/rules/perturbation.py",
      "            self._value += (r - self._value) / self.tau\n",
      "            self._value += (r - self._value) / (self.tau + 1)\n",
      PERT, "running baseline uses tau + 1 as its time constant"),
    M("pert-conductance-noise-scale", "learning/rules/perturbation.py",
      "    return torch.randn(shape, generator=generator, dtype=dtype) * (sigma / math.sqrt(dt))\n",
      "    return torch.randn(shape, generator=generator, dtype=dtype) * (sigma * math.sqrt(dt))\n",
      PERT, "white conductance noise scaled by sqrt(dt) instead of 1/sqrt(dt)"),
    M("pert-empiric-sigma2", "learning/rules/perturbation.py",
      "        return self.weight**2 * p * (1 - p) / (1 - a) ** 2 * dt\n",
      "        return self.weight**2 * p * (1 - p) / (1 - a) * dt\n",
      PERT, "empiric synapses' white-noise variance misses a 1/(1 - a)"),
    M("pert-weight-noise-10pc", "learning/rules/perturbation.py",
      "    psi = torch.randn((K, *W.shape), generator=generator, dtype=W.dtype) * sigma\n",
      "    psi = torch.randn((K, *W.shape), generator=generator, dtype=W.dtype) * sigma * 1.1\n",
      PERT, "coba weight perturbation draws 10 % too wide a noise"),
    # ------------------------------------------------------------ statistics
    M("stats-sd-n", "experiments/stats.py",
      "    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (n - 1))\n",
      "    sd = math.sqrt(sum((x - m) ** 2 for x in v) / n)\n",
      STATS, "mean_interval: population SD (divides by n)"),
    M("stats-t-df", "experiments/stats.py",
      "    h = t975(n - 1) * sd / math.sqrt(n)\n",
      "    h = t975(n) * sd / math.sqrt(n)\n",
      STATS, "mean_interval: t quantile at n degrees of freedom"),
    M("stats-t-table", "experiments/stats.py",
      "    12.706, 4.303, 3.182,",
      "    12.706, 4.303, 3.128,",
      STATS, "t table: t(0.975, 3) digits swapped"),
    M("stats-cornish-fisher", "experiments/stats.py",
      "    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)\n",
      "    return z + (z**3 + z) / (4 * df)\n",
      STATS, "t quantile above 30 df: second-order term dropped"),
    M("stats-z-interval", "experiments/stats.py",
      "    return Interval(mean, mean - _Z * se, mean + _Z * se, math.nan, 1)\n",
      "    return Interval(mean, mean - 2 * se, mean + 2 * se, math.nan, 1)\n",
      STATS, "z_interval uses 2 instead of 1.96"),
    M("stats-diff-sign", "experiments/stats.py",
      "        float(x) - float(y)\n",
      "        float(y) - float(x)\n",
      STATS, "diff_interval: b - a instead of a - b"),
    M("stats-single-value", "experiments/stats.py",
      "        return Interval(m, lo1, hi1, math.nan, 1)\n",
      "        return Interval(m, m, m, 0.0, 1)\n",
      STATS, "mean_interval of one value: width 0 instead of unknown"),
    M("stats-unpaired", "experiments/reports.py",
      "        if len(common) >= 2:\n",
      "        if False:\n",
      STATS, "study: differences of cells sharing seeds not paired per seed (issue 34)"),
    M("stats-paired-no-binomial", "experiments/reports.py",
      "            e = _from_seeds(tuple(zip(common, d, strict=True)), self.bvar + other.bvar)\n",
      "            e = _from_seeds(tuple(zip(common, d, strict=True)), 0.0)\n",
      STATS, "study: paired difference drops the test sets' binomial error"),
    M("stats-wilson-centre", "experiments/stats.py",
      "    centre = (p + z * z / (2 * n)) / den\n",
      "    centre = p / den\n",
      STATS, "Wilson interval without the z^2/2n shift of its centre"),
    M("select-per-seed-on-test", "experiments/sweep.py",
      "                v = item[1].get(select_on)\n",
      "                v = item[1].get(\"test_accuracy\")\n",
      STATS, "study: per-seed learning rate chosen on test accuracy, not validation"),
    M("compare-variance-D", "experiments/compare.py",
      "        float(sum(float((e - mean) @ (e - mean)) for e in est) / (draws - 1))\n",
      "        float(sum(float((e - mean) @ (e - mean)) for e in est) / draws)\n",
      COMPARE, "compare: estimator variance divides by D (issue 33, gap 4)"),
    # ------------------------------------------------------------ energy counts
    M("energy-dense-fanout", "nn/energy.py",
      "    lo.synops = float((ev * fo).sum())\n",
      "    lo.synops = float(ev.sum() * out_f)\n",
      ENERGY, "SynOps: every event reaches every output (zero weights counted)"),
    M("energy-no-recurrent-synops", "nn/energy.py",
      "        lo.synops += lo.synops_recurrent\n",
      "        lo.synops += 0.0\n",
      ENERGY, "SynOps: recurrent events not added to the total"),
    M("energy-pool-as-mac", "nn/energy.py",
      "    dense_compute = row[\"dense_macs\"] * ((c.mult_pj if weights else 0.0) + c.add_pj)\n",
      "    dense_compute = row[\"dense_macs\"] * (c.mult_pj + c.add_pj)\n",
      ENERGY, "dense energy: a weightless op (pooling) costed as a MAC"),
    M("energy-memory-cost", "nn/energy.py",
      "    snn_memory = row[\"memory_words\"] * c.memory_pj\n",
      "    snn_memory = row[\"memory_words\"] * c.add_pj\n",
      ENERGY, "SNN memory energy uses the add cost"),
    M("energy-events-by-value", "nn/energy.py",
      "    return (s.detach() != 0).sum(dim=(0, 1)).to(torch.float64)\n",
      "    return s.detach().sum(dim=(0, 1)).to(torch.float64)\n",
      ENERGY, "events counted by value, not as nonzero entries"),
    M("energy-macs-per-pair", "nn/energy.py",
      "    lo.dense_macs = float(T * B * in_f * out_f * macs_per_pair)\n",
      "    lo.dense_macs = float(T * B * in_f * out_f)\n",
      ENERGY, "dense MACs ignore the taps of a delayed projection"),
    M("energy-updates-per-sample", "nn/energy.py",
      "    lo.neuron_updates = float(T * B * out_f)\n",
      "    lo.neuron_updates = float(T * out_f)\n",
      ENERGY, "neuron updates not multiplied by the batch"),
    # ------------------------------------------------------------ OeSNN / UAD
    M("uad-merge-keeps-old-value", "online/uad.py",
      "                    avg = np.where(np.isnan(v_new), old, (v_new + n * old) / (n + 1))\n",
      "                    avg = old\n",
      UAD, "OeSNN-UAD merge keeps the old output value (issue 33, gap 3)"),
    M("uad-merge-age", "online/uad.py",
      "                    age[r] = (self._t + n * age[r]) / (n + 1)\n",
      "                    age[r] = self._t\n",
      UAD, "OeSNN-UAD merge: age set to now instead of averaged"),
    M("uad-merge-theta", "online/uad.py",
      "                    theta[r] = (th + n * theta[r]) / (n + 1)\n",
      "                    theta[r] = th\n",
      UAD, "OeSNN-UAD merge: threshold replaced instead of averaged"),
    M("uad-merge-weights", "online/uad.py",
      "                    wr[r] = (w + n * wr[r]) / (n + 1)\n",
      "                    wr[r] = w\n",
      UAD, "OeSNN-UAD merge: weights replaced instead of averaged"),
    M("uad-value-correction", "online/uad.py",
      "                    value[win] = np.where(upd, v + self.xi * (vals - v), v)\n",
      "                    value[win] = np.where(upd, vals, v)\n",
      UAD, "OeSNN-UAD value correction ignores xi"),
    M("uad-error-sd", "online/uad.py",
      "                e_std = float(np.sqrt(((errs - e_mean) ** 2).mean()))\n",
      "                e_std = float(np.sqrt(((errs - e_mean) ** 2).sum() / (len(errs) - 1)))\n",
      UAD, "OeSNN-UAD error SD with n - 1 (the paper's is the population SD)"),
    M("esnn-merge-weights", "online/esnn.py",
      "                self._Wr[r] = (w + n * self._Wr[r]) / (n + 1)\n",
      "                self._Wr[r] = w\n",
      ESNN, "OeSNN merge: weights replaced instead of averaged"),
    M("esnn-merge-theta", "online/esnn.py",
      "                self._theta[r] = (th + n * self._theta[r]) / (n + 1)\n",
      "                self._theta[r] = th\n",
      ESNN, "OeSNN merge: threshold replaced instead of averaged"),
    M("esnn-merge-age", "online/esnn.py",
      "                self._age[r] = (self._t + n * self._age[r]) / (n + 1)\n",
      "                self._age[r] = self._t\n",
      ESNN, "OeSNN merge: age set to now instead of averaged"),
    M("esnn-dmax", "online/esnn.py",
      "    d = float(np.linalg.norm(mod ** (k - 1 - i) - mod**i))\n",
      "    d = float(np.linalg.norm(mod ** (k - i) - mod**i))\n",
      ESNN, "OeSNN D_max with the wrong exponent"),
    M("esnn-threshold", "online/esnn.py",
      "            th = self.c * float(np.dot(powers, powers))\n",
      "            th = self.c * float(powers.sum())\n",
      ESNN, "OeSNN threshold from the sum of the weights, not of the PSP"),
    # ------------------------------------------------------------ spike metrics
    M("kernel-gauss-width", "functional/spike_kernels.py",
      "        return torch.exp(-0.5 * (diff / self.sigma) ** 2)\n",
      "        return torch.exp(-(diff / self.sigma) ** 2)\n",
      TRAINS, "Gaussian spike kernel without the 1/2"),
    M("kernel-gauss-d1", "functional/spike_kernels.py",
      "        return -diff / self.sigma**2 * self.value(diff)\n",
      "        return -diff / self.sigma * self.value(diff)\n",
      TRAINS, "Gaussian kernel derivative divides by sigma, not sigma^2"),
    M("kernel-laplace-d1-sign", "functional/spike_kernels.py",
      "        return -torch.sign(diff) / self.tau * self.value(diff)\n",
      "        return torch.sign(diff) / self.tau * self.value(diff)\n",
      TRAINS, "Laplacian kernel derivative with the wrong sign"),
    M("kernel-distance-cross", "functional/spike_kernels.py",
      "        inner_product(x, x, kernel) - 2 * inner_product(x, y, kernel)",
      "        inner_product(x, x, kernel) - inner_product(x, y, kernel)",
      TRAINS, "kernel distance: cross term without the 2"),
    M("kernel-error-half", "functional/spike_kernels.py",
      "    return 0.5 * kernel_distance(actual, desired, kernel, squared=True)\n",
      "    return kernel_distance(actual, desired, kernel, squared=True)\n",
      TRAINS, "kernel error without the 1/2"),
    M("van-rossum-half", "functional/spike_kernels.py",
      "    d2 = 0.5 * kernel_distance(x, y, LaplacianKernel(tau), squared=True)\n",
      "    d2 = kernel_distance(x, y, LaplacianKernel(tau), squared=True)\n",
      TRAINS, "van Rossum distance without the 1/2"),
    M("van-rossum-binned-scale", "functional/spike_kernels.py",
      "    return acc * (dt / tau)\n",
      "    return acc * dt\n",
      TRAINS, "binned van Rossum distance not divided by tau"),
    M("schreiber-width", "functional/spike_kernels.py",
      "    k = GaussianKernel(math.sqrt(2.0) * sigma)\n",
      "    k = GaussianKernel(sigma)\n",
      TRAINS, "Schreiber correlation with the filter width instead of sqrt(2) x"),
    M("schreiber-both-empty", "functional/spike_kernels.py",
      "    c = torch.where(both_empty, torch.ones_like(c), c)\n",
      "    c = torch.where(both_empty, torch.zeros_like(c), c)\n",
      TRAINS, "Schreiber correlation of two empty trains 0 instead of 1"),
    M("binned-rounding", "functional/spiketrains.py",
      "    idx = torch.floor(tf.detach() / dt + 0.5).to(torch.int64)\n",
      "    idx = torch.floor(tf.detach() / dt).to(torch.int64)\n",
      TRAINS, "to_binned truncates instead of rounding to the nearest bin"),
    M("binned-offset", "functional/spiketrains.py",
      "        times[k_idx[keep], slot[keep]] = (t_idx[keep].to(dtype) + offset) * dt\n",
      "        times[k_idx[keep], slot[keep]] = t_idx[keep].to(dtype) * dt\n",
      TRAINS, "from_binned ignores the offset"),
    M("binned-drops-bin-0", "functional/spiketrains.py",
      "    ok = mf & (idx >= 0) & (idx < n_steps)\n",
      "    ok = mf & (idx > 0) & (idx < n_steps)\n",
      TRAINS, "to_binned drops spikes in the first bin"),
    # ------------------------------------------------------------ model spec
    M("spec-tensor-scalar", "nn/spec.py",
      "    if isinstance(value, torch.Tensor) and value.numel() == 1:\n"
      "        return float(value)\n",
      "    if isinstance(value, torch.Tensor) and value.numel() == 1:\n        return 0.0\n",
      SPEC, "spec records a one-element tensor setting as 0"),
    M("spec-surrogate-name", "nn/spec.py",
      "    if isinstance(value, Surrogate):\n        return value.name\n",
      "    if isinstance(value, Surrogate):\n        return \"superspike\"\n",
      SPEC, "spec records every surrogate as superspike"),
    M("spec-unknown-type", "nn/spec.py",
      "    if not isinstance(spec, Mapping) or spec.get(\"type\") not in LAYER_TYPES:\n",
      "    if not isinstance(spec, Mapping):\n",
      SPEC, "layer_from_spec: an unknown type is not refused clearly"),
)


def _check_unique() -> None:
    seen = set()
    for m in MUTATIONS:
        if m.id in seen:
            raise SystemExit(f"duplicate mutation id {m.id}")
        seen.add(m.id)


def locate(m: Mutation, src: Path) -> str | None:
    """``None`` if ``m.original`` occurs exactly once in its file, else why not."""
    path = src / "spikegrad" / m.file
    if not path.is_file():
        return f"file {m.file} not found"
    n = path.read_text().count(m.original)
    if n != 1:
        return f"original snippet found {n} times in {m.file} (must be exactly 1)"
    if m.original == m.replacement:
        return "replacement equals the original"
    return None


def _sync(src: Path, scratch: Path) -> None:
    """Make ``scratch`` a copy of ``src`` (``.py`` files, mtimes kept; caches stay)."""
    for p in src.rglob("*"):
        if "__pycache__" in p.parts or p.is_dir():
            continue
        q = scratch / p.relative_to(src)
        if q.exists() and q.stat().st_mtime_ns == p.stat().st_mtime_ns \
                and q.stat().st_size == p.stat().st_size:  # fmt: skip
            continue
        q.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(p, q)


def _mirror(scratch: Path) -> Path:
    """The repository as the tests see it, with ``scratch`` as its ``src``: returns its root.

    Tests that start ``python -m spikegrad`` in a subprocess with their own ``PYTHONPATH``
    (``tests/test_faults.py`` passes ``<tests>/../src``) would otherwise import the real
    ``src`` there, not the mutated copy, and a mutation of code that only runs in such a
    subprocess (the sweep lock) could never be caught. So ``tests/`` is copied next to the
    scratch ``src`` (a copy, not a link: the tests locate ``src`` from their own resolved
    path), every other top-level entry of the repository is linked, and pytest runs from
    that root with ``PYTHONPATH`` = the scratch ``src``.
    """
    if scratch.name != "src":
        raise SystemExit(f"--scratch must be a folder named src (got {scratch}): the tests "
                         "are copied next to it and find the code as ../src")  # fmt: skip
    root = scratch.parent
    _sync(ROOT / "tests", root / "tests")
    for p in ROOT.iterdir():
        q = root / p.name
        if p.name in ("src", "tests"):
            continue
        if q.is_symlink() and q.resolve() != p.resolve():
            q.unlink()  # a link to another checkout's entry
        if not q.is_symlink():
            if q.exists():
                raise SystemExit(f"{q} exists and is not a link to {p}: remove it")
            q.symlink_to(p)
    return root


def _pytest(args: tuple[str, ...], scratch: Path, timeout: float) -> tuple[str, int | None, float,
                                                                          str]:  # fmt: skip
    """Run pytest on ``args`` from the mirror root (:func:`_mirror`), ``scratch`` first on
    the path: (status, rc, s, tail)."""
    env = dict(os.environ, PYTHONPATH=str(scratch), PYTHONDONTWRITEBYTECODE="1")
    root = scratch.parent
    groups = [shlex.split(g) for g in args]
    t0 = time.monotonic()
    tail = ""
    for g in groups:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            return "timeout", None, time.monotonic() - t0, tail
        cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *g]
        try:
            r = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True,
                               timeout=left)  # fmt: skip
        except subprocess.TimeoutExpired:
            return "timeout", None, time.monotonic() - t0, tail
        tail = (r.stdout + r.stderr).strip().splitlines()[-1:] and \
            (r.stdout + r.stderr).strip().splitlines()[-1]  # fmt: skip
        if r.returncode == 1:
            return "failed", 1, time.monotonic() - t0, tail
        if r.returncode != 0:  # 2 interrupted / 3 internal / 4 usage / 5 nothing collected
            return "error", r.returncode, time.monotonic() - t0, tail
    return "passed", 0, time.monotonic() - t0, tail


def run(
    muts: list[Mutation], scratch: Path, timeout: float, baseline: bool, progress=None
) -> list[dict]:
    """Each mutation on the scratch copy; ``progress(rows)`` after each (partial saves)."""
    src = ROOT / "src"
    scratch.mkdir(parents=True, exist_ok=True)
    _sync(src, scratch)
    _mirror(scratch)
    bad_sets: dict[tuple[str, ...], str] = {}
    if baseline:
        for tests in dict.fromkeys(m.tests for m in muts):
            status, rc, secs, tail = _pytest(tests, scratch, timeout)
            print(f"baseline {' ; '.join(tests)}: {status} ({secs:.0f} s) {tail}", flush=True)
            if status != "passed":
                bad_sets[tests] = f"baseline {status}: {tail}"
    rows = []
    for k, m in enumerate(muts, 1):
        row = asdict(m)
        row["tests"] = list(m.tests)
        why = locate(m, src)
        if why is None and m.tests in bad_sets:
            why = bad_sets[m.tests]
        if why is not None:
            row.update(result="error", detail=why, seconds=0.0)
        else:
            path = scratch / "spikegrad" / m.file
            original = path.read_text()
            try:
                path.write_text(original.replace(m.original, m.replacement, 1))
                status, rc, secs, tail = _pytest(m.tests, scratch, timeout)
            finally:
                shutil.copy2(src / "spikegrad" / m.file, path)  # the real file, its mtime
            result = {"failed": "caught", "passed": "survived", "timeout": "caught (timeout)",
                      "error": "caught (error)"}[status]  # fmt: skip
            row.update(result=result, detail=tail, seconds=round(secs, 1), returncode=rc)
        rows.append(row)
        if progress is not None:
            progress(rows)
        print(f"[{k}/{len(muts)}] {m.id}: {row['result']} ({row['seconds']} s) "
              f"{row['detail'][:120]}", flush=True)  # fmt: skip
    return rows


def _default_scratch() -> Path:
    """``$TMPDIR/spikegrad-mutations-<checkout hash>/src``: checkouts never share one."""
    tag = hashlib.sha1(str(ROOT).encode()).hexdigest()[:8]
    return Path(tempfile.gettempdir()) / f"spikegrad-mutations-{tag}" / "src"


MARK_BEGIN = "<!-- mutations:begin -->"
MARK_END = "<!-- mutations:end -->"


def table(rows: list[dict], meta: dict) -> str:
    n = len(rows)
    count = {r: sum(1 for x in rows if x["result"].startswith(r))
             for r in ("caught", "survived", "error")}  # fmt: skip
    lines = [
        f"List version {meta['list_version']}, run {meta['date']} (commit {meta['commit']}): "
        f"{n} of {meta['total']} mutations ran"
        f"{'' if meta.get('complete', True) else ' (run stopped before the end)'}; "
        f"{count['caught']} caught, "
        f"{count['survived']} survived, {count['error']} errors. "
        f"Raw results: `{meta['json']}`."
        + (f" {meta['note']}" if meta.get("note") else ""),
        "",
        "| id | file | breaks | guarding tests | result | s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        tests = " ; ".join(r["tests"]).replace("tests/", "").replace("|", "\\|")
        lines.append(f"| `{r['id']}` | `{r['file']}` | {r['description']} | {tests} | "
                     f"**{r['result']}** | {r['seconds']} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None,
                    help="ids or id prefixes to run (default: all)")  # fmt: skip
    ap.add_argument("--limit", type=int, default=None, help="run at most this many")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per mutation")
    ap.add_argument("--scratch", type=Path, default=_default_scratch(),
                    help="the scratch copy of src/ (a folder named src; default: one per "
                         "checkout under the temporary folder)")  # fmt: skip
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-write", action="store_true", help="write neither JSON nor docs")
    ap.add_argument("--no-docs", action="store_true", help="write the JSON, not the docs")
    ap.add_argument("--tag", default="", help="suffix of the JSON name")
    ap.add_argument("--list", action="store_true", help="print the list and exit")
    ap.add_argument("--check", action="store_true",
                    help="check every original snippet is found exactly once, run nothing")
    ap.add_argument("--from-json", type=Path, default=None,
                    help="rewrite the docs table from a saved run, run nothing")  # fmt: skip
    a = ap.parse_args(argv)
    _check_unique()
    muts = list(MUTATIONS)
    if a.only:
        muts = [m for m in muts if any(m.id == o or m.id.startswith(o) for o in a.only)]
    if a.limit is not None:
        muts = muts[: a.limit]
    if a.list or a.check:
        bad = 0
        for m in muts:
            why = locate(m, ROOT / "src")
            bad += why is not None
            print(f"{m.id:32s} {m.file:34s} {'OK' if why is None else 'ERROR ' + why}"
                  f"  {m.description}" if a.list else
                  f"{m.id:32s} {'OK' if why is None else 'ERROR ' + why}")  # fmt: skip
        print(f"{len(muts)} mutations, {bad} errors")
        return 1 if bad else 0
    date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    jname = f"bench/results/mutations_{date}{('_' + a.tag) if a.tag else ''}.json"
    meta = {"list_version": LIST_VERSION, "date": date, "commit": commit,
            "total": len(MUTATIONS), "ran": 0, "json": jname,
            "argv": sys.argv[1:], "timeout_s": a.timeout, "complete": False}  # fmt: skip
    if a.from_json is not None:  # redo the docs table from a saved (maybe partial) run
        saved = json.loads(a.from_json.read_text())
        meta, rows = saved["meta"], saved["results"]
    else:

        def save(rows: list[dict]) -> None:
            if not a.no_write:
                meta["ran"] = len(rows)
                (ROOT / jname).write_text(
                    json.dumps({"meta": meta, "results": rows}, indent=1) + "\n")

        rows = run(muts, a.scratch, a.timeout, not a.no_baseline, save)
        meta["complete"] = True
        save(rows)
    text = table(rows, meta)
    print(text)
    if not (a.no_write or a.no_docs):
        doc = ROOT / "docs" / "mutations.md"
        d = doc.read_text()
        if MARK_BEGIN in d and MARK_END in d:
            head, rest = d.split(MARK_BEGIN, 1)
            _, tail = rest.split(MARK_END, 1)
            doc.write_text(f"{head}{MARK_BEGIN}\n{text}\n{MARK_END}{tail}")
    survived = sum(r["result"] == "survived" for r in rows)
    errors = sum(r["result"] == "error" for r in rows)
    return 1 if (survived or errors) else 0


if __name__ == "__main__":
    sys.exit(main())
