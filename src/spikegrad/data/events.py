r"""Structured event arrays (the layout Tonic uses) to spike data and back; sparse loading.

Neuromorphic data sets are commonly held as one NumPy *structured array* per sample with
the fields ``t`` (time stamp), ``x``, optionally ``y`` (pixel) and ``p`` (polarity), and a
``sensor_size = (W, H, P)`` tuple; for 1-D sensors such as the Spiking Heidelberg Digits
``H = 1`` and the array has no ``y``. This module converts such arrays to a
:class:`~spikegrad.data.SpikeDataset` and back without importing Tonic (only NumPy).

Binning, for time step :math:`\Delta t` (seconds) and events time-stamped in units of
``time_unit`` seconds (default 1 µs, Tonic's convention):

.. math::

    \text{step}(t) = k \quad\text{for}\quad k\,\Delta t' \le t < (k+1)\,\Delta t',
    \qquad \Delta t' = \Delta t / \text{time\_unit}, \\
    \text{unit}(x, y, p) = (p\,H + y)\,W + x,

so the dense sample ``x[k, unit]`` equals Tonic's
``ToFrame(sensor_size, time_window=Δt', start_time=0, end_time=n_steps·Δt')`` frame
``[k, p, y, x]`` flattened (events at or after ``n_steps·Δt'`` are dropped, as
``ToFrame`` drops them). :func:`dataset_to_events` maps back, stamping every event
with the start of its bin, ``t = k·Δt'``.

For :class:`torch.utils.data.DataLoader`: :class:`EventSamples` serves one sample's
*events* ``(times, units, label)`` per item and :class:`EventCollate` turns a list of
them into the time-major batch ``(x [T, B, C], y [B])``, so samples stay sparse (and
cheap to send between worker processes) until the batch is built.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from .._checks import SpikegradInputError, check_positive, check_size
from .spikes import SpikeDataset

__all__ = [
    "EventCollate",
    "EventSamples",
    "dataset_to_events",
    "event_dtype",
    "events_to_dataset",
    "events_to_sample",
]


def _check_sensor(sensor_size: object) -> tuple[int, int, int]:
    if (
        not isinstance(sensor_size, (tuple, list))
        or len(sensor_size) != 3
        or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                   for v in sensor_size)  # fmt: skip
    ):
        raise SpikegradInputError(
            f"sensor_size must be a tuple of 3 integers >= 1 (W, H, P), got {sensor_size!r}"
        )
    w, h, p = (int(v) for v in sensor_size)
    return w, h, p


def _bin_width(dt: float, time_unit: float) -> float:
    """``dt / time_unit`` (bin width in event time units), snapped to an integer if within
    rounding error of one."""
    width = check_positive("dt", dt) / check_positive("time_unit", time_unit)
    r = round(width)
    return float(r) if r >= 1 and abs(width - r) <= 1e-9 * width else width


def event_dtype(with_y: bool, time_dtype: Any = np.int64) -> np.dtype:
    """The structured dtype of :func:`dataset_to_events`: fields ``t, x, (y,) p``."""
    fields = [("t", time_dtype), ("x", np.int64)]
    if with_y:
        fields.append(("y", np.int64))
    fields.append(("p", np.int64))
    return np.dtype(fields)


def events_to_sample(
    events: np.ndarray,
    sensor_size: Sequence[int],
    *,
    dt: float,
    n_steps: int,
    time_unit: float = 1e-6,
) -> tuple[Tensor, Tensor]:
    """Time steps and unit indices (int64 ``[E]`` each) of one structured event array.

    Parameters
    ----------
    events:
        Structured array with fields ``t``, ``x``, ``p`` and, for 2-D sensors, ``y``.
    sensor_size:
        ``(W, H, P)``: ``0 <= x < W``, ``0 <= y < H``, ``0 <= p < P`` (booleans count as
        0 / 1; with ``P = 1`` a single polarity value of any sign is accepted).
    dt, n_steps:
        Time step (seconds) and number of steps; events at ``t < 0`` are refused, events
        at or after ``n_steps * dt`` dropped.
    time_unit:
        Seconds per unit of ``t`` (default ``1e-6``: microseconds).
    """
    w, h, npol = _check_sensor(sensor_size)
    n_steps = check_size("n_steps", n_steps, 1)
    names = getattr(getattr(events, "dtype", None), "names", None) or ()
    missing = [f for f in ("t", "x", "p") if f not in names]
    if not isinstance(events, np.ndarray) or missing:
        raise SpikegradInputError(
            "events must be a structured NumPy array with fields t, x, p (and y for 2-D "
            f"sensors); missing {', '.join(missing) or 'fields'}"
        )
    if "y" not in names and h != 1:
        raise SpikegradInputError(
            f"events have no y field but sensor_size has H = {h}; give H = 1 for 1-D sensors"
        )
    t = np.asarray(events["t"], dtype=np.float64)
    x = np.asarray(events["x"]).astype(np.int64)
    y = np.asarray(events["y"]).astype(np.int64) if "y" in names else np.zeros_like(x)
    p = np.asarray(events["p"]).astype(np.int64)
    if t.size and not np.isfinite(t).all():
        raise SpikegradInputError("event times t must be finite")
    if t.size and t.min() < 0:
        raise SpikegradInputError(f"event times t must be >= 0, got a minimum of {t.min()}")
    if npol == 1:
        if np.unique(p).size > 1:
            raise SpikegradInputError(
                "sensor_size has P = 1 polarity but the events hold several p values"
            )
        p = np.zeros_like(p)
    for name, v, hi in (("x", x, w), ("y", y, h), ("p", p, npol)):
        if v.size and (v.min() < 0 or v.max() >= hi):
            raise SpikegradInputError(
                f"event field {name} must lie in [0, {hi}) for sensor_size {tuple(sensor_size)}"
                f", got values in [{v.min()}, {v.max()}]"
            )
    width = _bin_width(dt, time_unit)
    edges = np.arange(n_steps + 1, dtype=np.float64) * width
    step = np.searchsorted(edges, t, side="right") - 1
    keep = step < n_steps
    units = (p * h + y) * w + x
    return torch.from_numpy(step[keep].astype(np.int64)), torch.from_numpy(units[keep])


def events_to_dataset(
    samples: Sequence[np.ndarray],
    labels: Sequence[int] | Tensor,
    sensor_size: Sequence[int],
    *,
    dt: float,
    n_steps: int,
    time_unit: float = 1e-6,
    n_classes: int | None = None,
    name: str = "",
) -> SpikeDataset:
    """A :class:`~spikegrad.data.SpikeDataset` from one structured event array per sample.

    ``C = W * H * P`` input units (see the module docstring for the binning and the unit
    order); the other arguments are those of :func:`events_to_sample` and of
    :class:`~spikegrad.data.SpikeDataset`.
    """
    if isinstance(samples, np.ndarray) and samples.dtype.names is not None:
        raise SpikegradInputError("samples must be a sequence of event arrays, one per sample")
    w, h, npol = _check_sensor(sensor_size)
    times, units, offsets = [], [], [0]
    for k, ev in enumerate(samples):
        try:
            tt, uu = events_to_sample(ev, sensor_size, dt=dt, n_steps=n_steps,
                                      time_unit=time_unit)  # fmt: skip
        except SpikegradInputError as exc:
            raise SpikegradInputError(f"sample {k}: {exc}") from None
        times.append(tt)
        units.append(uu)
        offsets.append(offsets[-1] + tt.numel())
    if len(offsets) == 1:
        raise SpikegradInputError("samples is empty: give at least one event array")
    return SpikeDataset(
        torch.cat(times),
        torch.cat(units),
        torch.tensor(offsets, dtype=torch.int64),
        torch.as_tensor(labels, dtype=torch.int64),
        n_steps,
        w * h * npol,
        n_classes,
        name,
    )


def dataset_to_events(
    ds: SpikeDataset,
    sensor_size: Sequence[int],
    *,
    dt: float,
    time_unit: float = 1e-6,
    with_y: bool | None = None,
) -> tuple[list[np.ndarray], np.ndarray]:
    """One structured event array per sample (sorted by time) and the labels.

    Every event is stamped with the start of its time step, ``t = step * dt / time_unit``
    (int64 when that is a whole number for every step, else float64), and its unit is
    split into ``(x, y, p)`` by ``sensor_size`` (``W * H * P`` must equal
    ``ds.n_units``). ``with_y`` (default: ``H > 1``) adds the ``y`` field.
    """
    if not isinstance(ds, SpikeDataset):
        raise TypeError(f"ds must be a SpikeDataset, got {type(ds).__name__}")
    w, h, npol = _check_sensor(sensor_size)
    if w * h * npol != ds.n_units:
        raise SpikegradInputError(
            f"sensor_size {tuple(sensor_size)} has W*H*P = {w * h * npol} units but the "
            f"dataset has {ds.n_units}"
        )
    with_y = h > 1 if with_y is None else bool(with_y)
    if not with_y and h != 1:
        raise SpikegradInputError("with_y=False needs a 1-D sensor (H = 1)")
    width = _bin_width(dt, time_unit)
    integral = float(width).is_integer()
    dtype = event_dtype(with_y, np.int64 if integral else np.float64)
    times = ds.times.numpy()
    units = ds.units.numpy()
    off = ds.offsets.numpy()
    out = []
    for n in range(len(ds)):
        lo, hi = int(off[n]), int(off[n + 1])
        order = np.argsort(times[lo:hi], kind="stable")
        st, u = times[lo:hi][order], units[lo:hi][order]
        ev = np.empty(hi - lo, dtype=dtype)
        ev["t"] = st * int(width) if integral else st * width
        ev["x"] = u % w
        if with_y:
            ev["y"] = (u // w) % h
        ev["p"] = u // (w * h)
        out.append(ev)
    return out, ds.labels.numpy().copy()


class EventSamples(Dataset):
    """The samples of a :class:`~spikegrad.data.SpikeDataset` as sparse events.

    ``samples[i]`` is ``(times int64 [E_i], units int64 [E_i], label int64 [])``: no
    dense ``[T, C]`` tensor is built per item. Batch them with :class:`EventCollate`
    (:meth:`collate` returns one for this dataset)::

        loader = DataLoader(EventSamples(ds), batch_size=64, shuffle=True,
                            collate_fn=EventSamples(ds).collate())
    """

    def __init__(self, ds: SpikeDataset) -> None:
        if not isinstance(ds, SpikeDataset):
            raise TypeError(f"ds must be a SpikeDataset, got {type(ds).__name__}")
        self.ds = ds

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int) -> tuple[Tensor, Tensor, Tensor]:
        n = len(self.ds)
        i = int(i)
        if not -n <= i < n:
            raise IndexError(f"sample index {i} is out of range for a dataset of {n} samples")
        i %= n
        lo, hi = int(self.ds.offsets[i]), int(self.ds.offsets[i + 1])
        return self.ds.times[lo:hi], self.ds.units[lo:hi], self.ds.labels[i]

    def collate(self, dtype: torch.dtype = torch.float32) -> EventCollate:
        """The :class:`EventCollate` for this dataset's ``[T, C]``."""
        return EventCollate(self.ds.n_steps, self.ds.n_units, dtype)


class EventCollate:
    r"""``collate_fn`` turning event samples into a time-major batch ``(x [T, B, C], y [B])``.

    :math:`x[t, b, c]` is the number of events of item ``b`` at step ``t`` and unit ``c``
    (as :meth:`SpikeDataset.dense`). A plain picklable object, so it works with
    ``num_workers > 0``.
    """

    def __init__(self, n_steps: int, n_units: int, dtype: torch.dtype = torch.float32) -> None:
        self.n_steps = check_size("n_steps", n_steps, 1)
        self.n_units = check_size("n_units", n_units, 1)
        self.dtype = dtype

    def __call__(self, batch: Sequence[tuple[Tensor, Tensor, Any]]) -> tuple[Tensor, Tensor]:
        items = list(batch)
        if not items:
            raise SpikegradInputError("batch is empty; EventCollate needs at least one sample")
        x = torch.zeros(self.n_steps, len(items), self.n_units, dtype=self.dtype)
        ys = []
        for b, item in enumerate(items):
            if not isinstance(item, (tuple, list)) or len(item) != 3:
                raise SpikegradInputError(
                    f"batch item {b} must be (times, units, label), got {type(item).__name__}"
                )
            t, u, y = item
            t = torch.as_tensor(t, dtype=torch.int64)
            u = torch.as_tensor(u, dtype=torch.int64)
            if t.numel() and (
                int(t.min()) < 0 or int(t.max()) >= self.n_steps
                or int(u.min()) < 0 or int(u.max()) >= self.n_units
            ):  # fmt: skip
                raise SpikegradInputError(
                    f"batch item {b}: events outside [0, {self.n_steps}) x [0, {self.n_units})"
                )
            bb = torch.full_like(t, b)
            x.index_put_((t, bb, u), torch.ones(t.numel(), dtype=self.dtype), accumulate=True)
            ys.append(torch.as_tensor(y, dtype=torch.int64).reshape(()))
        return x, torch.stack(ys)
