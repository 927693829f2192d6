r"""Spike trains as data: padded spike-time tensors with masks.

A batch of spike trains is stored as a pair of tensors of the same shape
``[..., M]``: ``times`` (seconds, floating) and ``mask`` (``True`` where the
slot holds a real spike). ``M`` is the largest number of spikes of any train
in the batch; unused slots are padding, ignored by every kernel sum. Typical
shapes are ``[N, M]`` (one train per input), ``[B, N, M]`` (a batch of
patterns) or ``[M]`` (a single output train).

Conversion to and from binned, time-major tensors ``[T, B, N]`` uses
``t = (n + offset) * dt`` for a spike in bin ``n`` (``offset = 0`` by default,
so bin ``n`` stands for the time ``n dt``), and ``n = floor(t / dt + 1/2)``
(nearest bin) in the other direction.

Batches of a task travel as plain tensors (the trainer indexes samples on dimension 1
of the input and 0 of the target, as for binned data): :func:`to_slots` gives the
*spike-time tensor* ``[M, B, N]`` -- slot-major, like time-major ``[T, B, N]``,
entry ``[m, b, n]`` the time of the ``m``-th spike of train ``n`` of sample ``b``,
``+inf`` where that train has fewer spikes -- and :func:`from_slots` reads it back;
:meth:`SpikeTrains.padded` / :meth:`SpikeTrains.from_padded` do the same for
``[..., M]`` tensors with the slot dimension last.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import torch

from .._checks import SpikegradInputError, check_positive

__all__ = [
    "SpikeTrains",
    "check_trains",
    "pad_trains",
    "from_binned",
    "to_binned",
    "to_slots",
    "from_slots",
    "poisson_trains",
]


class SpikeTrains(NamedTuple):
    """Padded spike times ``[..., M]`` (seconds) and their mask ``[..., M]`` (bool).

    Padding slots (``mask == False``) may hold any finite time; they are
    ignored. Build one with :func:`pad_trains`, :func:`from_binned` or
    :func:`poisson_trains`.
    """

    times: torch.Tensor
    mask: torch.Tensor

    @property
    def counts(self) -> torch.Tensor:
        """Number of spikes of every train, shape ``[...]``."""
        return self.mask.sum(-1)

    @property
    def max_spikes(self) -> int:
        """Width ``M`` of the padding dimension."""
        return int(self.times.shape[-1])

    def to(self, *args, **kwargs) -> SpikeTrains:
        """Move / cast the times (the mask keeps its bool dtype)."""
        times = self.times.to(*args, **kwargs)
        return SpikeTrains(times, self.mask.to(times.device))

    def shifted(self, delays: torch.Tensor) -> SpikeTrains:
        r"""Every train delayed by its own ``delays[...]`` (broadcast over the spike slots).

        ``t_i^f \mapsto t_i^f + d_i``; ``delays`` has the shape of :attr:`counts`.
        """
        return SpikeTrains(self.times + delays.unsqueeze(-1), self.mask)

    def padded(self, fill: float = math.inf) -> torch.Tensor:
        """The times ``[..., M]`` with ``fill`` (default ``+inf``) in the padding slots."""
        return torch.where(self.mask != 0, self.times, torch.full_like(self.times, fill))

    @classmethod
    def from_padded(cls, times: torch.Tensor) -> SpikeTrains:
        """Trains from times ``[..., M]`` whose padding slots are non-finite (``+inf``)."""
        if not isinstance(times, torch.Tensor) or not times.is_floating_point():
            raise SpikegradInputError("padded spike times must be a floating torch.Tensor")
        mask = torch.isfinite(times)
        return cls(torch.where(mask, times, torch.zeros_like(times)), mask)

    def select(self, index) -> SpikeTrains:
        """The trains at ``index`` of the leading dimensions (``times[index]``, ``mask[index]``)."""
        return SpikeTrains(self.times[index], self.mask[index])

    def lists(self) -> list:
        """Nested Python lists of the real spike times (for printing and JSON)."""

        def rec(t: torch.Tensor, m: torch.Tensor):
            if t.dim() == 1:
                return [float(v) for v in t[m]]
            return [rec(t[k], m[k]) for k in range(t.shape[0])]

        return rec(self.times.detach().cpu(), self.mask.cpu())


def check_trains(name: str, trains: object) -> SpikeTrains:
    """Validate a :class:`SpikeTrains` (shapes, dtypes, finite real spikes)."""
    if not isinstance(trains, SpikeTrains):
        if isinstance(trains, tuple) and len(trains) == 2:
            trains = SpikeTrains(*trains)
        else:
            raise TypeError(
                f"{name} must be a SpikeTrains(times, mask) pair, got {type(trains).__name__}"
            )
    t, m = trains
    if not isinstance(t, torch.Tensor) or not isinstance(m, torch.Tensor):
        raise TypeError(f"{name}.times and {name}.mask must be torch tensors")
    if not t.is_floating_point():
        raise TypeError(f"{name}.times must be floating (seconds), got {t.dtype}")
    if t.shape != m.shape:
        raise SpikegradInputError(
            f"{name}.times {tuple(t.shape)} and {name}.mask {tuple(m.shape)} must have one shape"
        )
    if t.dim() < 1:
        raise SpikegradInputError(f"{name} needs a spike-slot dimension [..., M]")
    if m.dtype != torch.bool and not m.is_floating_point():
        m = m != 0  # integer masks; floating masks are spike weights and are kept
    if bool((~torch.isfinite(t) & (m != 0)).any()):
        raise SpikegradInputError(f"{name} holds non-finite spike times")
    return SpikeTrains(t, m)


def pad_trains(
    trains: Sequence, *, dtype: torch.dtype = torch.float32, max_spikes: int | None = None
) -> SpikeTrains:
    """Pad nested sequences of spike times into a :class:`SpikeTrains`.

    ``trains`` is a sequence of trains (``[[0.01, 0.2], [], [0.5]]`` gives shape
    ``[3, 2]``) or a sequence of such sequences (shape ``[B, N, M]``). A flat
    sequence of numbers is a single train (shape ``[M]``). Spikes are sorted.
    ``max_spikes`` fixes ``M`` (a train longer than that raises).
    """

    def depth(x) -> int:
        if isinstance(x, (int, float)):
            return 0
        if isinstance(x, torch.Tensor) and x.dim() == 0:
            return 0
        if len(x) == 0:
            return 1
        return 1 + max(depth(v) for v in x)

    if isinstance(trains, torch.Tensor):
        trains = trains.tolist()
    d = depth(trains)
    if d == 1:
        flat = [sorted(float(v) for v in trains)]
        lead: tuple[int, ...] = ()
    elif d == 2:
        flat = [sorted(float(v) for v in tr) for tr in trains]
        lead = (len(trains),)
    elif d == 3:
        if len({len(row) for row in trains}) > 1:
            raise SpikegradInputError("trains: every pattern must have the same number of trains")
        flat = [sorted(float(v) for v in tr) for row in trains for tr in row]
        lead = (len(trains), len(trains[0]) if trains else 0)
    else:
        raise SpikegradInputError(f"trains must be nested 1 to 3 levels deep, got {d}")
    m = max((len(tr) for tr in flat), default=0)
    if max_spikes is not None:
        if m > max_spikes:
            raise SpikegradInputError(f"a train has {m} spikes, more than max_spikes={max_spikes}")
        m = int(max_spikes)
    times = torch.zeros(len(flat), m, dtype=dtype)
    mask = torch.zeros(len(flat), m, dtype=torch.bool)
    for k, tr in enumerate(flat):
        if tr:
            times[k, : len(tr)] = torch.tensor(tr, dtype=dtype)
            mask[k, : len(tr)] = True
    return SpikeTrains(times.reshape(*lead, m), mask.reshape(*lead, m))


def from_binned(
    x: torch.Tensor, dt: float = 1e-3, *, offset: float = 0.0, max_spikes: int | None = None
) -> SpikeTrains:
    r"""Binned time-major spikes ``[T, ...]`` to spike trains ``[..., M]``.

    A spike in bin ``n`` gets the time :math:`t = (n + \text{offset})\,\Delta t`.
    Counts above 1 in a bin give that many spikes at the same time.
    """
    dt = check_positive("dt", dt)
    if not isinstance(x, torch.Tensor) or x.dim() < 1:
        raise SpikegradInputError("x must be a time-major tensor [T, ...]")
    if bool((x < 0).any()):
        raise SpikegradInputError("x must hold non-negative spike counts")
    counts = x.detach().round().to(torch.int64)
    T = counts.shape[0]
    rest = counts.shape[1:]
    flat = counts.reshape(T, -1).t()  # [K, T]
    n_spk = flat.sum(1)
    m = int(n_spk.max()) if flat.numel() else 0
    if max_spikes is not None:
        m = int(max_spikes)
    dtype = x.dtype if x.is_floating_point() else torch.float32
    times = torch.zeros(flat.shape[0], m, dtype=dtype, device=x.device)
    mask = torch.zeros(flat.shape[0], m, dtype=torch.bool, device=x.device)
    if m > 0:
        k_idx, t_idx = torch.nonzero(flat, as_tuple=True)
        reps = flat[k_idx, t_idx]
        k_idx = torch.repeat_interleave(k_idx, reps)
        t_idx = torch.repeat_interleave(t_idx, reps)
        # slot of each spike inside its train (spikes come ordered by train, then time)
        starts = torch.cumsum(n_spk, 0) - n_spk
        slot = torch.arange(k_idx.numel(), device=x.device) - starts[k_idx]
        keep = slot < m
        times[k_idx[keep], slot[keep]] = (t_idx[keep].to(dtype) + offset) * dt
        mask[k_idx[keep], slot[keep]] = True
    return SpikeTrains(times.reshape(*rest, m), mask.reshape(*rest, m))


def to_binned(
    trains: SpikeTrains, n_steps: int, dt: float = 1e-3, *, dtype: torch.dtype | None = None
) -> torch.Tensor:
    r"""Spike trains ``[..., M]`` to binned time-major counts ``[T, ...]``.

    Spike time ``t`` goes to bin :math:`n = \lfloor t/\Delta t + 1/2 \rfloor`;
    spikes outside ``[0, T)`` are dropped.
    """
    trains = check_trains("trains", trains)
    dt = check_positive("dt", dt)
    if int(n_steps) < 1:
        raise SpikegradInputError(f"n_steps must be >= 1, got {n_steps}")
    t, m = trains
    dtype = dtype or t.dtype
    lead = t.shape[:-1]
    k = int(torch.tensor(lead).prod()) if len(lead) else 1
    tf, mf = t.reshape(k, -1), m.reshape(k, -1)
    idx = torch.floor(tf.detach() / dt + 0.5).to(torch.int64)
    ok = mf & (idx >= 0) & (idx < n_steps)
    out = torch.zeros(n_steps, k, dtype=dtype, device=t.device)
    col = torch.arange(k, device=t.device).unsqueeze(1).expand_as(idx)
    out.index_put_((idx[ok], col[ok]), torch.ones(int(ok.sum()), dtype=dtype), accumulate=True)
    return out.reshape(n_steps, *lead)


def to_slots(trains: SpikeTrains) -> torch.Tensor:
    """Trains ``[B, N, M]`` as the spike-time tensor ``[M, B, N]`` (``+inf``: no spike).

    The batch form of spike-time inputs that a task hands the trainer (see the module
    notes); :func:`from_slots` inverts it.
    """
    trains = check_trains("trains", trains)
    if trains.times.dim() != 3:
        raise SpikegradInputError(f"trains must be [B, N, M], got {tuple(trains.times.shape)}")
    return trains.padded().permute(2, 0, 1).contiguous()


def from_slots(x: torch.Tensor) -> SpikeTrains:
    """The spike-time tensor ``[M, B, N]`` (non-finite: no spike) as trains ``[B, N, M]``."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        raise SpikegradInputError(
            "x must be a spike-time tensor [M, B, N] (+inf where there is no spike), got "
            f"{type(x).__name__}{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}"
        )
    return SpikeTrains.from_padded(x.permute(1, 2, 0))


def poisson_trains(
    n: int | Sequence[int],
    rate: float,
    duration: float,
    *,
    generator: torch.Generator,
    dtype: torch.dtype = torch.float32,
    refractory: float = 0.0,
) -> SpikeTrains:
    r"""Homogeneous Poisson spike trains of ``rate`` Hz on ``[0, duration)`` seconds.

    ``n`` is the number of trains (or a shape, e.g. ``(B, N)``). Inter-spike
    intervals are exponential with mean ``1/rate`` plus ``refractory``
    (a dead time, 0 by default). ``generator`` is required (explicit randomness).
    """
    rate = check_positive("rate", rate)
    duration = check_positive("duration", duration)
    if not isinstance(generator, torch.Generator):
        raise TypeError("generator must be a torch.Generator")
    shape = (int(n),) if isinstance(n, int) else tuple(int(v) for v in n)
    k = 1
    for s in shape:
        k *= s
    mean_isi = 1.0 / rate + refractory
    m = max(4, int(duration / mean_isi * 2 + 6 * (duration / mean_isi) ** 0.5 + 4))
    while True:
        isi = torch.empty(k, m, dtype=torch.float64).exponential_(rate, generator=generator)
        isi = isi + refractory
        t = torch.cumsum(isi, 1)
        if bool((t[:, -1] >= duration).all()):
            break
        m *= 2
    mask = t < duration
    width = int(mask.sum(1).max()) if k else 0
    width = max(width, 0)
    return SpikeTrains(
        t[:, :width].to(dtype).reshape(*shape, width), mask[:, :width].reshape(*shape, width)
    )
