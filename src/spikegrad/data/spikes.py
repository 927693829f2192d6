"""Event-based spike datasets stored sparsely until batching.

A :class:`SpikeDataset` keeps every spike as one event ``(time step, unit)``
in compressed-sparse-row (CSR) form over samples: the events of sample ``n``
are ``times[offsets[n]:offsets[n + 1]]`` and ``units[offsets[n]:offsets[n + 1]]``.
Dense tensors are only built per batch, time-major ``[T, B, C]``, with

.. math::

    x[t, b, c] = \\#\\{e \\in \\mathrm{events}(n_b) : t_e = t,\\ u_e = c\\},

so several events in the same bin add up to a spike count.

A :class:`SpikeDataset` is also a map-style :class:`torch.utils.data.Dataset`:
``ds[i]`` is one sample ``(x [T, C], label)``, and a
:class:`~torch.utils.data.DataLoader` with ``collate_fn=collate_time_major`` yields the
same time-major batches ``([T, B, C], [B])`` as :meth:`SpikeDataset.batches`. A
``DataLoader`` without a ``collate_fn`` stacks samples *sample-major* ``[B, T, C]``;
:func:`collate` takes the layout explicitly (``layout="time-major"`` or
``"sample-major"``). The batches of :meth:`SpikeDataset.dense` / ``batches`` and of
:func:`collate` record their layout (:func:`layout_of`), so
:func:`spikegrad.predict` and :func:`spikegrad.evaluate` accept them without a
``layout`` argument; a tensor without the record must say its layout.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from spikegrad._checks import SpikegradInputError, check_int

__all__ = [
    "LAYOUTS",
    "SpikeDataset",
    "split",
    "collate",
    "collate_time_major",
    "layout_of",
    "mark_layout",
]

#: The two layouts of a batch of spike sequences: ``"time-major"`` ``[T, B, C]`` (what
#: every model's ``forward`` takes) and ``"sample-major"`` ``[B, T, C]`` (torch's default
#: collation of ``(x [T, C], label)`` samples).
LAYOUTS = ("time-major", "sample-major")

# id(tensor) -> (weak reference, layout): the layout a batch was built in, kept beside
# the tensor (not in it) while it lives
_LAYOUT: dict[int, tuple[weakref.ref, str]] = {}


def mark_layout(x: Tensor, layout: str) -> Tensor:
    """Record that the batch ``x`` is ``layout`` (one of :data:`LAYOUTS`); returns ``x``.

    Kept, weakly, until ``x`` is freed; a new tensor made from ``x`` (a slice, a dtype
    conversion) carries no record.
    """
    if layout not in LAYOUTS:
        raise SpikegradInputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    key = id(x)
    hit = _LAYOUT.get(key)
    if hit is None or hit[0]() is not x:
        weakref.finalize(x, _LAYOUT.pop, key, None)
    _LAYOUT[key] = (weakref.ref(x), layout)
    return x


def layout_of(x: object) -> str | None:
    """The layout recorded for the batch ``x`` by :func:`mark_layout` (``None``: unknown)."""
    hit = _LAYOUT.get(id(x))
    return hit[1] if hit is not None and hit[0]() is x else None

IndexLike = Tensor | Sequence[int]

#: Most spike events ``from_dense`` accepts (one stored event per spike).
_MAX_EVENTS = 2**31 - 1
#: Largest ``n_steps`` / ``n_units`` / ``n_classes`` (dense batches and class counts are
#: allocated with these sizes).
_MAX_SIZE = 2**31 - 1


_check_int = check_int  # shared validator (spikegrad._checks)


def _as_index_tensor(name: str, value: object) -> Tensor:
    """Convert ``value`` to a 1-D int64 tensor on the CPU, or raise."""
    if isinstance(value, Tensor):
        t = value
    else:
        try:
            t = torch.as_tensor(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise SpikegradInputError(
                f"{name} must be a 1-D integer tensor or sequence of ints, got "
                f"{type(value).__name__}"
            ) from exc
    if t.numel() == 0 and t.dim() == 1:
        return torch.empty(0, dtype=torch.int64)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise SpikegradInputError(f"{name} must hold integers, got dtype {t.dtype}")
    if t.dim() != 1:
        raise SpikegradInputError(
            f"{name} must be 1-D, got shape {tuple(t.shape)} ({t.dim()} dimensions)"
        )
    return t.detach().to(device="cpu", dtype=torch.int64)


def _dense_numba(
    t: Tensor,
    b: Tensor,
    u: Tensor,
    shape: tuple[int, int, int],
    dtype: torch.dtype,
    attach: bool,
) -> Tensor | None:
    """Dense batch ``shape`` counting the triplets, built through the kernels' events.

    The events (:func:`spikegrad.kernels._coo_events.events_from_coo`, :math:`O(E)`)
    give the dense tensor in one compiled pass (``dense_from_events``), and with
    ``attach`` (and at most the kernels' event density) they stay attached to it, so
    a numba first layer does not scan it again. ``None`` without numba.
    """
    from spikegrad.kernels import _coo_events

    T, B, C = shape
    ev = _coo_events.events_from_coo(t, b, u, T, B, C, dtype)
    if ev is None:
        return None
    out = _coo_events.dense_from_events(ev, T, B, C)
    if attach and ev.density <= _coo_events.DENSITY_THRESHOLD:
        _coo_events.attach_events(out, ev)
    return out


def _gather_events(offsets: Tensor, idx: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Event positions of the samples ``idx`` in CSR order.

    Returns ``(event_index, batch_index, lengths)``: ``event_index[j]`` indexes
    the stored event arrays, ``batch_index[j]`` is its position in ``idx``.
    """
    starts = offsets[idx]
    lengths = offsets[idx + 1] - starts
    batch_index = torch.repeat_interleave(torch.arange(idx.numel()), lengths)
    total = int(lengths.sum())
    # position of each event inside its own sample: 0, 1, ..., len - 1
    first = torch.cumsum(lengths, 0) - lengths
    within = torch.arange(total) - torch.repeat_interleave(first, lengths)
    event_index = torch.repeat_interleave(starts, lengths) + within
    return event_index, batch_index, lengths


class SpikeDataset(Dataset):
    """Spike events stored sparsely (CSR by sample) until batching.

    Parameters
    ----------
    times:
        int64 ``[E]``: time step of every event, ``0 <= t < n_steps``.
    units:
        int64 ``[E]``: input unit of every event, ``0 <= u < n_units``.
    offsets:
        int64 ``[N + 1]``: sample ``n`` owns events ``offsets[n]:offsets[n + 1]``;
        ``offsets[0] = 0``, non-decreasing, ``offsets[N] = E``.
    labels:
        int64 ``[N]``: class label of every sample, ``0 <= label < n_classes``.
    n_steps:
        Number of time steps ``T`` of a trial.
    n_units:
        Number of input units ``C``.
    n_classes:
        Number of classes; ``labels.max() + 1`` if ``None``.
    name:
        Free-form name used in ``repr``.

    Notes
    -----
    Events of one sample may share a ``(t, u)`` bin; :meth:`dense` then returns
    the count. The dataset must hold at least one sample.

    Indexing: ``ds[i]`` (an integer, negative counts from the end) is the sample pair
    ``(x, label)`` with ``x`` float32 ``[T, C]`` and ``label`` an int64 0-d tensor, so
    the dataset works with :class:`torch.utils.data.DataLoader` (use
    :func:`collate_time_major` for time-major batches); ``ds[a:b]``, ``ds[[i, j]]`` or
    ``ds[index_tensor]`` is a new dataset (:meth:`subset`).
    """

    def __init__(
        self,
        times: Tensor,
        units: Tensor,
        offsets: Tensor,
        labels: Tensor,
        n_steps: int,
        n_units: int,
        n_classes: int | None = None,
        name: str = "",
    ) -> None:
        times = _as_index_tensor("times", times)
        units = _as_index_tensor("units", units)
        offsets = _as_index_tensor("offsets", offsets)
        labels = _as_index_tensor("labels", labels)
        n_steps = _check_int("n_steps", n_steps, maximum=_MAX_SIZE)
        n_units = _check_int("n_units", n_units, maximum=_MAX_SIZE)
        if not isinstance(name, str):
            raise SpikegradInputError(f"name must be a str, got {type(name).__name__}")

        if times.numel() != units.numel():
            raise SpikegradInputError(
                f"times and units must have the same length (one entry per event), got "
                f"{times.numel()} times and {units.numel()} units"
            )
        if offsets.numel() < 1:
            raise SpikegradInputError("offsets must have N + 1 >= 1 entries, got an empty tensor")
        n = offsets.numel() - 1
        if n == 0:
            raise SpikegradInputError(
                f"dataset is empty: offsets has 1 entry, so N = 0 samples{_named(name)}"
            )
        if labels.numel() != n:
            raise SpikegradInputError(
                f"labels must have one entry per sample: offsets describes N = {n} samples "
                f"but labels has {labels.numel()} entries"
            )
        if int(offsets[0]) != 0:
            raise SpikegradInputError(f"offsets[0] must be 0, got {int(offsets[0])}")
        if bool((offsets[1:] < offsets[:-1]).any()):
            bad = int(torch.nonzero(offsets[1:] < offsets[:-1])[0, 0])
            raise SpikegradInputError(
                f"offsets must be non-decreasing; offsets[{bad + 1}] = {int(offsets[bad + 1])} "
                f"< offsets[{bad}] = {int(offsets[bad])}"
            )
        if int(offsets[-1]) != times.numel():
            raise SpikegradInputError(
                f"offsets[-1] must equal the number of events E = {times.numel()} "
                f"(length of times/units), got {int(offsets[-1])}"
            )
        if times.numel() > 0:
            tmin, tmax = int(times.min()), int(times.max())
            if tmin < 0 or tmax >= n_steps:
                raise SpikegradInputError(
                    f"times must lie in [0, n_steps) = [0, {n_steps}), got values in "
                    f"[{tmin}, {tmax}]"
                )
            umin, umax = int(units.min()), int(units.max())
            if umin < 0 or umax >= n_units:
                raise SpikegradInputError(
                    f"units must lie in [0, n_units) = [0, {n_units}), got values in "
                    f"[{umin}, {umax}]"
                )
        lmin, lmax = int(labels.min()), int(labels.max())
        if lmin < 0:
            raise SpikegradInputError(f"labels must be >= 0, got a minimum of {lmin}")
        if n_classes is None:
            n_classes = _check_int("n_classes (largest label + 1)", lmax + 1, maximum=_MAX_SIZE)
        else:
            n_classes = _check_int("n_classes", n_classes, maximum=_MAX_SIZE)
            if lmax >= n_classes:
                raise SpikegradInputError(
                    f"labels must lie in [0, n_classes) = [0, {n_classes}), got a maximum of {lmax}"
                )

        self.times: Tensor = times
        self.units: Tensor = units
        self.offsets: Tensor = offsets
        self.labels: Tensor = labels
        self.n_steps: int = n_steps
        self.n_units: int = n_units
        self.n_classes: int = int(n_classes)
        self.name: str = name

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.offsets.numel() - 1

    def __repr__(self) -> str:
        nm = f"{self.name!r}, " if self.name else ""
        return (
            f"SpikeDataset({nm}N={len(self)}, T={self.n_steps}, C={self.n_units}, "
            f"classes={self.n_classes}, events={self.spike_count()})"
        )

    def spike_count(self) -> int:
        """Total number of spike events ``E`` over all samples."""
        return int(self.times.numel())

    def counts_per_sample(self) -> Tensor:
        """Number of events of every sample, int64 ``[N]``."""
        return self.offsets[1:] - self.offsets[:-1]

    def mean_rate(self) -> float:
        """Mean spike count per unit and time step, :math:`E / (N T C)`."""
        return self.spike_count() / (len(self) * self.n_steps * self.n_units)

    def class_counts(self) -> Tensor:
        """Number of samples per class, int64 ``[n_classes]``."""
        return torch.bincount(self.labels, minlength=self.n_classes)

    # ---------------------------------------------------------------- indexing
    def __getitem__(self, index: int | slice | IndexLike) -> tuple[Tensor, Tensor] | SpikeDataset:
        """One sample ``(x [T, C] float32, label int64 [])`` for an integer ``index``;
        a :meth:`subset` for a slice, a sequence of ints or a 1-D index tensor.

        Raises :class:`IndexError` for an integer out of range (so iteration stops),
        :class:`TypeError` for a bool.
        """
        if isinstance(index, slice):
            return self.subset(torch.tensor(range(len(self))[index], dtype=torch.int64))
        if isinstance(index, bool) or (isinstance(index, Tensor) and index.dtype == torch.bool):
            raise TypeError("SpikeDataset indices must be integers, slices or index tensors, "
                            "not bool")  # fmt: skip
        if isinstance(index, Tensor) and index.dim() > 0:
            return self.subset(index)
        try:
            i = operator.index(index)  # type: ignore[arg-type]  # sequences raise TypeError
        except TypeError:
            return self.subset(index)  # type: ignore[arg-type]
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"sample index {i} is out of range for a dataset of {n} samples")
        return self._sample(i % n)

    def _sample(self, i: int, dtype: torch.dtype = torch.float32) -> tuple[Tensor, Tensor]:
        lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
        x = torch.zeros(self.n_steps, self.n_units, dtype=dtype)
        ones = torch.ones(hi - lo, dtype=dtype)
        x.index_put_((self.times[lo:hi], self.units[lo:hi]), ones, accumulate=True)
        return x, self.labels[i].clone()

    def _check_idx(self, idx: IndexLike | None) -> Tensor:
        if idx is None:
            return torch.arange(len(self))
        t = _as_index_tensor("idx", idx)
        if t.numel() > 0:
            lo, hi = int(t.min()), int(t.max())
            if lo < 0 or hi >= len(self):
                raise SpikegradInputError(
                    f"idx must lie in [0, {len(self)}) for a dataset of {len(self)} samples, "
                    f"got values in [{lo}, {hi}]"
                )
        return t

    def dense(
        self,
        idx: IndexLike | None = None,
        dtype: torch.dtype = torch.float32,
        *,
        kernel_events: bool = True,
    ) -> Tensor:
        """Dense time-major spike tensor of the samples ``idx``.

        Parameters
        ----------
        idx:
            Sample indices (1-D), or ``None`` for all samples in stored order.
        dtype:
            Output dtype. For ``torch.bool`` a bin is ``True`` if it holds any event;
            otherwise bins hold event counts.
        kernel_events:
            Attach the events to a float32/float64 result in the form the compiled
            kernels read (:func:`spikegrad.kernels._coo_events.attach_events`, built
            from the stored events in :math:`O(E)`), so a numba network's first layer
            does not scan the dense tensor for them; an in-place change of the tensor
            discards them. ``False`` leaves them off (for a tensor that no numba
            layer reads). They are kept beside the tensor, not in it: ``torch.save``
            stores the plain tensor. With numba, float batches are filled from these
            events in one compiled pass either way (much faster than
            ``index_put_``), in memory recycled by the kernels' buffer pool.

        Returns
        -------
        Tensor
            ``x`` of shape ``[T, B, C]`` with
            :math:`x[t, b, c] = \\#\\{e \\in \\mathrm{events}(idx_b): t_e = t, u_e = c\\}`.
        """
        idx = self._check_idx(idx)
        event_index, batch_index, _ = _gather_events(self.offsets, idx)
        shape = (self.n_steps, idx.numel(), self.n_units)
        t = self.times[event_index]
        u = self.units[event_index]
        if dtype in (torch.float32, torch.float64):
            fast = _dense_numba(t, batch_index, u, shape, dtype, kernel_events)
            if fast is not None:
                return mark_layout(fast, "time-major")
        out = torch.zeros(shape, dtype=dtype)
        if dtype == torch.bool:
            out[t, batch_index, u] = True
        else:
            ones = torch.ones(event_index.numel(), dtype=dtype)
            out.index_put_((t, batch_index, u), ones, accumulate=True)
        return mark_layout(out, "time-major")

    def subset(self, idx: IndexLike, name: str | None = None) -> SpikeDataset:
        """New dataset holding the samples ``idx`` in the given order.

        Raises :class:`SpikegradInputError` if ``idx`` is empty.
        """
        idx = self._check_idx(idx)
        if idx.numel() == 0:
            raise SpikegradInputError("idx selects no samples; the subset dataset would be empty")
        event_index, _, lengths = _gather_events(self.offsets, idx)
        offsets = torch.zeros(idx.numel() + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(lengths, 0)
        return SpikeDataset(
            self.times[event_index],
            self.units[event_index],
            offsets,
            self.labels[idx],
            n_steps=self.n_steps,
            n_units=self.n_units,
            n_classes=self.n_classes,
            name=self.name if name is None else name,
        )

    def batches(
        self,
        batch_size: int,
        *,
        shuffle: bool,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """Iterate once over the dataset in mini-batches.

        Arguments are validated and the order is drawn when this is called (not lazily
        on the first ``next``).

        Parameters
        ----------
        batch_size:
            Samples per batch (>= 1); the last batch may be smaller unless ``drop_last``.
        shuffle:
            Visit samples in a random order drawn from ``generator``.
        generator:
            Private random generator for the order. If ``None`` and ``shuffle`` is set,
            a fresh generator seeded from OS entropy is used (not reproducible); the
            global torch RNG is never used.
        drop_last:
            Skip a final batch smaller than ``batch_size``.
        dtype:
            dtype of the spike tensor (see :meth:`dense`).

        Returns
        -------
        Iterator[tuple[Tensor, Tensor]]
            Batches ``(x, y)`` with ``x`` of shape ``[T, B, C]`` and labels ``y`` of shape ``[B]``.
        """
        batch_size = _check_int("batch_size", batch_size)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise SpikegradInputError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        n = len(self)
        if shuffle:
            if generator is None:
                generator = torch.Generator()
                generator.seed()
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        stop = (n // batch_size) * batch_size if drop_last else n
        return self._iter_batches(order, stop, batch_size, dtype)

    def _iter_batches(
        self, order: Tensor, stop: int, batch_size: int, dtype: torch.dtype
    ) -> Iterator[tuple[Tensor, Tensor]]:
        for start in range(0, stop, batch_size):
            idx = order[start : start + batch_size]
            yield self.dense(idx, dtype=dtype), self.labels[idx]

    # ------------------------------------------------------------ construction
    @classmethod
    def from_dense(
        cls,
        x: Tensor | np.ndarray,
        labels: Tensor | Sequence[int] | np.ndarray,
        n_classes: int | None = None,
        name: str = "",
    ) -> SpikeDataset:
        """Build a dataset from a sample-major dense tensor.

        Parameters
        ----------
        x:
            ``[N, T, C]`` tensor or numpy array of spikes: bool, 0/1 or non-negative
            integer counts
            (a float tensor must hold whole numbers). A count ``c`` becomes ``c`` events.
        labels:
            ``[N]`` integer class labels.
        n_classes, name:
            As in :class:`SpikeDataset`.

        Notes
        -----
        ``from_dense(x, y).dense()`` equals ``x.permute(1, 0, 2)`` (time-major).
        """
        if isinstance(x, np.ndarray):
            x = torch.from_numpy(np.ascontiguousarray(x))
        if isinstance(labels, np.ndarray):
            labels = torch.from_numpy(np.asarray(labels, dtype=np.int64))
        if not isinstance(x, Tensor):
            raise SpikegradInputError(
                f"x must be a tensor or numpy array of shape [N, T, C], got {type(x).__name__}"
            )
        if x.dim() != 3:
            raise SpikegradInputError(
                f"x must be sample-major with 3 dimensions [N, T, C]; got shape "
                f"{tuple(x.shape)} ({x.dim()} dimensions)"
            )
        if x.is_complex():
            raise SpikegradInputError(f"x must be real, got dtype {x.dtype}")
        x = x.detach().cpu()
        if x.dtype != torch.bool:
            if x.is_floating_point():
                if not bool(torch.isfinite(x).all()):
                    raise SpikegradInputError("x contains non-finite values (NaN or inf)")
                if not bool((x == torch.round(x)).all()):
                    raise SpikegradInputError(
                        "x must hold whole spike counts (0/1 or integers); got fractional values"
                    )
            if x.numel() > 0 and bool((x < 0).any()):
                raise SpikegradInputError("x must be non-negative (spike counts), got values < 0")
            total = float(x.sum(dtype=torch.float64))
            if total > _MAX_EVENTS:
                raise SpikegradInputError(
                    f"x holds {total:g} spikes in total, more than the {_MAX_EVENTS} events a "
                    "dataset can store (one event per spike); is x really spike counts?"
                )
        n, n_steps, n_units = x.shape
        if n == 0:
            raise SpikegradInputError("x has N = 0 samples; the dataset would be empty")
        try:
            n_labels = len(labels)
        except TypeError:  # not a sequence: _as_index_tensor names the problem
            n_labels = n
        if n_labels != n and n_labels == n_steps:
            raise SpikegradInputError(
                f"x of shape {tuple(x.shape)} looks time-major [T, N, C] ({n_labels} labels "
                f"match its dimension 1, not 0); from_dense takes sample-major [N, T, C]: "
                "pass x.permute(1, 0, 2)"
            )
        counts = x.to(torch.int64)
        nz = torch.nonzero(counts)  # rows (n, t, c), sorted lexicographically
        reps = counts[nz[:, 0], nz[:, 1], nz[:, 2]]
        sample = torch.repeat_interleave(nz[:, 0], reps)
        times = torch.repeat_interleave(nz[:, 1], reps)
        units = torch.repeat_interleave(nz[:, 2], reps)
        offsets = torch.zeros(n + 1, dtype=torch.int64)
        offsets[1:] = torch.cumsum(torch.bincount(sample, minlength=n), 0)
        return cls(
            times,
            units,
            offsets,
            _as_index_tensor("labels", labels),
            n_steps=n_steps,
            n_units=n_units,
            n_classes=n_classes,
            name=name,
        )


def collate(
    batch: Sequence[tuple[Tensor, object]], layout: str = "time-major"
) -> tuple[Tensor, Tensor]:
    """Stack samples ``(x [T, C], label)`` into a batch ``(x, y [B])`` of ``layout``.

    ``layout="time-major"``: ``x`` ``[T, B, C]`` (stacked on dimension 1, what the models
    take); ``"sample-major"``: ``[B, T, C]`` (dimension 0, as torch's default collation).
    The batch records its layout (:func:`layout_of`). For a
    :class:`torch.utils.data.DataLoader`: ``collate_fn=functools.partial(collate,
    layout=...)``, or :func:`collate_time_major`.

    Raises
    ------
    SpikegradInputError
        If ``layout`` is not one of :data:`LAYOUTS`, ``batch`` is empty, an item is not a
        pair, or the ``x`` are not 2-D tensors of one shape.
    """
    if layout not in LAYOUTS:
        raise SpikegradInputError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    items = list(batch)
    if not items:
        raise SpikegradInputError("batch is empty; collate_time_major needs at least one sample")
    xs: list[Tensor] = []
    ys: list[Tensor] = []
    for k, item in enumerate(items):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise SpikegradInputError(
                f"batch item {k} must be a pair (x [T, C], label), got {type(item).__name__}"
            )
        x, y = item
        if not isinstance(x, Tensor) or x.dim() != 2:
            got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise SpikegradInputError(f"batch item {k}: x must be a [T, C] tensor, got {got}")
        if xs and x.shape != xs[0].shape:
            raise SpikegradInputError(
                f"batch item {k}: x has shape {tuple(x.shape)}, item 0 has "
                f"{tuple(xs[0].shape)}; all samples of a batch need the same [T, C]"
            )
        xs.append(x)
        ys.append(torch.as_tensor(y, dtype=torch.int64).reshape(()))
    out = torch.stack(xs, dim=1 if layout == "time-major" else 0)
    return mark_layout(out, layout), torch.stack(ys)


def collate_time_major(batch: Sequence[tuple[Tensor, object]]) -> tuple[Tensor, Tensor]:
    """Stack samples ``(x [T, C], label)`` into a time-major batch ``(x [T, B, C], y [B])``.

    The ``collate_fn`` for a :class:`torch.utils.data.DataLoader` over a
    :class:`SpikeDataset`: with ``shuffle=False`` it yields exactly the batches of
    :meth:`SpikeDataset.batches` with ``shuffle=False`` (float32 spikes, int64 labels).
    :func:`collate` with ``layout="time-major"``.

    Raises
    ------
    SpikegradInputError
        If ``batch`` is empty, an item is not a pair, or the ``x`` are not 2-D tensors of
        one shape.
    """
    return collate(batch, "time-major")


def _named(name: str) -> str:
    return f" (dataset {name!r})" if name else ""


def split(
    ds: SpikeDataset,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    generator: torch.Generator | None = None,
    stratified: bool = True,
) -> tuple[SpikeDataset, ...]:
    """Split a dataset into consecutive parts (e.g. train / validation / test).

    Parameters
    ----------
    ds:
        Dataset to split.
    fractions:
        Fraction of samples per part, each >= 0, summing to 1.
    generator:
        If given, samples are first permuted with ``torch.randperm(N, generator)``;
        if ``None`` the stored order is used (e.g. a dataset that is already shuffled).
    stratified:
        Split every class separately, so each part keeps the class proportions.

    Returns
    -------
    tuple[SpikeDataset, ...]
        One dataset per fraction. For a group (one class if ``stratified``, else the
        whole dataset) of ``n`` samples in order, part ``j`` receives the samples at
        positions :math:`[\\mathrm{round}(n S_{j-1}), \\mathrm{round}(n S_j))` with
        :math:`S_j = \\sum_{i \\le j} f_i` (:math:`S_{-1} = 0`, the last bound is ``n``).
        Inside a part, samples keep their order.

    Raises
    ------
    SpikegradInputError
        If ``fractions`` is invalid or a part would be empty.
    """
    if not isinstance(ds, SpikeDataset):
        raise SpikegradInputError(f"ds must be a SpikeDataset, got {type(ds).__name__}")
    try:
        fr = [float(f) for f in fractions]
    except (TypeError, ValueError) as exc:
        raise SpikegradInputError(
            f"fractions must be a sequence of numbers, got {fractions!r}"
        ) from exc
    if len(fr) == 0:
        raise SpikegradInputError("fractions must hold at least one fraction, got none")
    if any(not math.isfinite(f) or f < 0 for f in fr):
        raise SpikegradInputError(f"fractions must be finite and >= 0, got {fractions!r}")
    if abs(sum(fr) - 1.0) > 1e-6:
        raise SpikegradInputError(f"fractions must sum to 1, got {fractions!r} (sum {sum(fr)})")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise SpikegradInputError(
            f"generator must be a torch.Generator or None, got {type(generator).__name__}"
        )

    n = len(ds)
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    cum = [0.0]
    for f in fr:
        cum.append(cum[-1] + f)
    if stratified:
        labels = ds.labels[order]
        groups = [order[labels == k] for k in range(ds.n_classes)]
    else:
        groups = [order]
    parts: list[list[Tensor]] = [[] for _ in fr]
    for g in groups:
        m = g.numel()
        bounds = [round(m * c) for c in cum[:-1]] + [m]
        for j in range(len(fr)):
            parts[j].append(g[bounds[j] : bounds[j + 1]])
    out = []
    suffix = ["train", "val", "test"] if len(fr) == 3 else [str(j) for j in range(len(fr))]
    for j, pieces in enumerate(parts):
        idx = torch.cat(pieces)
        if idx.numel() == 0:
            raise SpikegradInputError(
                f"fractions {fractions!r} leave part {j} empty for a dataset of {n} samples"
            )
        # keep the order in which samples appear in `order`
        pos = torch.empty(n, dtype=torch.int64)
        pos[order] = torch.arange(n)
        idx = idx[torch.argsort(pos[idx])]
        name = f"{ds.name}/{suffix[j]}" if ds.name else suffix[j]
        out.append(ds.subset(idx, name=name))
    return tuple(out)
