r"""Generated tasks for precise spike-time learning (all randomness from an explicit generator).

* :func:`single_target_task`: N Poisson inputs (rate Hz, ``duration`` s) and one
  target train of a few spikes (uniform times in ``[margin, duration - margin]``,
  at least ``min_isi`` apart) -- the classic task of the kernel-rule papers.
* :func:`pattern_classes_task`: C classes, each a frozen Poisson template of N
  inputs; samples are the template with every spike jittered by
  :math:`\mathcal N(0, \text{jitter}^2)`, a fraction ``p_delete`` of spikes deleted
  and ``p_noise`` Hz of extra Poisson spikes. Class :math:`c` is taught one target
  output train; a response is classified to the nearest target (van Rossum distance).
* :func:`lag_order_task`: which of two input groups fired first, by a fixed lag
  (binned ``[T, B, 2g]``); the delay benchmark for BPTT networks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_nonnegative, check_positive
from .kernels import van_rossum_distance
from .trains import SpikeTrains, pad_trains, poisson_trains

__all__ = [
    "random_target",
    "single_target_task",
    "PatternTask",
    "pattern_classes_task",
    "classify_by_distance",
    "lag_order_task",
]


def random_target(
    n_spikes: int,
    duration: float,
    *,
    generator: torch.Generator,
    margin: float = 0.05,
    min_isi: float = 0.02,
    dtype: torch.dtype = torch.float64,
) -> SpikeTrains:
    """Sorted uniform spike times in ``[margin, duration - margin]``, pairwise >= ``min_isi``."""
    if int(n_spikes) < 0:
        raise SpikegradInputError(f"n_spikes must be >= 0, got {n_spikes}")
    span = duration - 2 * margin
    if span <= 0 or (n_spikes > 1 and (n_spikes - 1) * min_isi > span):
        raise SpikegradInputError(
            f"cannot place {n_spikes} spikes {min_isi} s apart in {duration} s (margin {margin})"
        )
    for _ in range(10000):
        t = torch.sort(torch.rand(int(n_spikes), generator=generator, dtype=torch.float64)).values
        t = margin + span * t
        if n_spikes < 2 or bool((t.diff() >= min_isi).all()):
            return SpikeTrains(t.to(dtype), torch.ones(int(n_spikes), dtype=torch.bool))
    raise SpikegradInputError("could not draw a target train; lower min_isi")  # pragma: no cover


def single_target_task(
    n_inputs: int = 400,
    rate: float = 10.0,
    duration: float = 1.0,
    n_target: int = 5,
    *,
    generator: torch.Generator,
    min_isi: float = 0.02,
    dtype: torch.dtype = torch.float64,
) -> tuple[SpikeTrains, SpikeTrains]:
    """Inputs ``[N, M]`` (Poisson) and a desired train ``[K]``."""
    inputs = poisson_trains(n_inputs, rate, duration, generator=generator, dtype=dtype)
    target = random_target(n_target, duration, generator=generator, min_isi=min_isi, dtype=dtype)
    return inputs, target


class PatternTask(NamedTuple):
    """Train/test spike patterns ``[P, N, M]``, labels ``[P]`` and class targets ``[C, K]``."""

    train: SpikeTrains
    train_labels: torch.Tensor
    test: SpikeTrains
    test_labels: torch.Tensor
    targets: SpikeTrains
    templates: SpikeTrains


def _perturb(
    template: SpikeTrains,
    jitter: float,
    p_delete: float,
    noise_rate: float,
    duration: float,
    generator: torch.Generator,
) -> list[list[float]]:
    t, m = template
    jit = torch.randn(t.shape, generator=generator, dtype=torch.float64) * jitter
    keep = torch.rand(t.shape, generator=generator, dtype=torch.float64) >= p_delete
    tt = (t.to(torch.float64) + jit).clamp(0.0, duration - 1e-9)
    trains = [sorted(tt[i][m[i] & keep[i]].tolist()) for i in range(t.shape[0])]
    if noise_rate > 0:
        extra = poisson_trains(t.shape[0], noise_rate, duration, generator=generator)
        for i in range(t.shape[0]):
            trains[i] = sorted(trains[i] + extra.times[i][extra.mask[i]].tolist())
    return trains


def pattern_classes_task(
    n_classes: int = 3,
    n_inputs: int = 100,
    rate: float = 10.0,
    duration: float = 0.5,
    *,
    train_per_class: int = 10,
    test_per_class: int = 20,
    jitter: float = 3e-3,
    p_delete: float = 0.0,
    noise_rate: float = 0.0,
    target_spikes: int = 3,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float64,
) -> PatternTask:
    """Jittered Poisson templates, one target output train per class (see the module notes)."""
    for k, v in (("n_classes", n_classes), ("n_inputs", n_inputs)):
        check_positive(k, v)
    check_nonnegative("jitter", jitter)
    check_nonnegative("noise_rate", noise_rate)
    if not 0 <= p_delete < 1:
        raise SpikegradInputError(f"p_delete must be in [0, 1), got {p_delete}")
    templates = poisson_trains((n_classes, n_inputs), rate, duration, generator=generator)
    targets = [
        random_target(target_spikes, duration, generator=generator, min_isi=0.03).times.tolist()
        for _ in range(n_classes)
    ]

    def make(per_class: int):
        pats, labels = [], []
        for _ in range(per_class):
            for c in range(n_classes):
                tpl = SpikeTrains(templates.times[c], templates.mask[c])
                pats.append(_perturb(tpl, jitter, p_delete, noise_rate, duration, generator))
                labels.append(c)
        return pad_trains(pats, dtype=dtype), torch.tensor(labels)

    tr, trl = make(int(train_per_class))
    te, tel = make(int(test_per_class))
    return PatternTask(tr, trl, te, tel, pad_trains(targets, dtype=dtype), templates)


def classify_by_distance(
    outputs: SpikeTrains, targets: SpikeTrains, tau: float = 10e-3
) -> torch.Tensor:
    """Class of every output train ``[P, K]``: the nearest class target ``[C, K']`` (van Rossum)."""
    o = SpikeTrains(outputs.times.unsqueeze(1), outputs.mask.unsqueeze(1))  # [P, 1, K]
    t = SpikeTrains(targets.times.unsqueeze(0), targets.mask.unsqueeze(0))  # [1, C, K']
    return van_rossum_distance(o, t, tau).argmin(-1)


def lag_order_task(
    n_samples: int,
    *,
    n_steps: int = 100,
    group: int = 4,
    lag: int = 25,
    jitter: int = 1,
    noise_prob: float = 0.0,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Binned ``[T, B, 2 * group]`` inputs and labels ``[B]``: label 0 if group A fired
    ``lag`` steps before group B, 1 if B fired first.

    Each channel of the first group fires once at :math:`t_0 + \text{jitter}` and each
    channel of the second at :math:`t_0 + \text{lag} + \text{jitter}` (integer jitter
    uniform in ``[-jitter, jitter]``, :math:`t_0` uniform so both fit), plus
    background spikes with probability ``noise_prob`` per bin. With ``lag`` much
    longer than the membrane and synaptic time constants, a network without delays
    only sees two separate volleys whose order it cannot tell apart; a delay of
    about ``lag`` on the first group's synapses makes the volleys coincide.
    """
    n = int(n_samples)
    if lag + 2 * jitter + 2 >= n_steps:
        raise SpikegradInputError(f"lag={lag} does not fit into n_steps={n_steps}")
    x = torch.zeros(n_steps, n, 2 * group, dtype=dtype)
    labels = torch.randint(0, 2, (n,), generator=generator)
    t0 = torch.randint(jitter, n_steps - lag - jitter - 1, (n,), generator=generator)
    for b in range(n):
        first = 0 if labels[b] == 0 else group
        second = group - first
        j = torch.randint(-jitter, jitter + 1, (2, group), generator=generator)
        for c in range(group):
            x[int(t0[b] + j[0, c]), b, first + c] = 1.0
            x[int(t0[b] + lag + j[1, c]), b, second + c] = 1.0
    if noise_prob > 0:
        x = torch.clamp(
            x + (torch.rand(x.shape, generator=generator) < noise_prob).to(dtype), max=1.0
        )
    return x, labels
