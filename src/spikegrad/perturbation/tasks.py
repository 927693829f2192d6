r"""Tasks (:class:`~spikegrad.tasks.Task`) for reward-based learning in conductance networks.

* :class:`RatesTask` (song-learning-like): a sequence of input bursts (one burst per input
  neuron, tiling the trial like HVC projection neurons) drives a recurrent E/I network;
  the smoothed rates :math:`r_k(t)` of ``n_out`` output neurons must follow target bumps
  :math:`r^*_k(t)`. Error :math:`E = \sum_{k,n} (r_k[n] - r^*_k[n])^2 / \sum_{k,n}
  r^*_k[n]^2` (1 for a silent network) is the per-sample loss; reward :math:`R = -E`;
  score ``neg_error`` :math:`= -E`. There is one (deterministic) sample: every split is
  that trial, and a training epoch is ``samples_per_epoch`` copies of it.
* :class:`ClassifyTask`: spike patterns (Randman or latency-coded 5x7 digits) drive
  ``n_hidden`` hidden and ``n_classes`` output neurons (excitatory) plus ``n_inh``
  inhibitory neurons that all outputs excite and that inhibit all outputs. The decision is
  the output with the most spikes (a tie is wrong): score ``accuracy``. Loss: ``"loss"``,
  :math:`\ell = -\log \mathrm{softmax}(c / c_0)_y` of the spike counts :math:`c`
  (``model.logits``; :math:`c_0` = ``count_scale``), or ``"binary"``,
  :math:`\ell = -1` if correct else 0. Training batches are drawn with replacement from
  the ``fit`` generator (``samples_per_epoch`` per epoch, default the split's size).

Each task builds its network: ``task.topology``, ``task.params``, ``task.init_weights()``
and ``task.model()`` (a :class:`~spikegrad.nn.CobaSpikingNetwork`). Task inputs are
generated here from explicit generators; nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_int, check_positive
from ..data.encoding import latency
from ..data.spikes import SpikeDataset, split
from ..functional.coba import CobaParams, CobaTopology, smoothed_rate
from ..nn.coba import CobaSpikingNetwork, classifier_topology, classifier_weights
from ..tasks.base import Task

__all__ = ["RatesTask", "ClassifyTask", "DIGIT_GLYPHS", "make_digits", "REWARDS"]

#: Reward kinds of :class:`ClassifyTask`.
REWARDS = ("loss", "binary")


_check_int = check_int  # shared validator (spikegrad._checks)


def _check_epoch(n: int | None) -> int | None:
    return None if n is None else _check_int("samples_per_epoch", n)


@dataclass
class RatesTask(Task):
    """Recurrent network learns target rate time courses (a sequence of bumps).

    Attributes (units: s, Hz, nS)
    ----------
    n_in: input neurons, each firing one burst of ``burst_spikes`` spikes (``burst_isi``
        apart) at ``(j + 0.5) * duration / n_in``.
    n_exc, n_inh: network E and I neurons; the first ``n_out`` E neurons are the outputs.
    bumps: bumps per output, spread over the trial in output order.
    peak, width: bump height (Hz) and Gaussian SD (s).
    tau_rate: smoothing time constant of the produced rates (s).
    w_in: initial input weights are U(0, w_in).
    plastic_recurrent: also learn E -> E recurrent weights (else only input weights).
    method, std_U: integrator and short-term depression (see
        :class:`~spikegrad.functional.coba.CobaParams`).
    samples_per_epoch: copies of the trial per training epoch.
    """

    name: ClassVar[str] = "rates"
    score_name: ClassVar[str] = "neg_error"
    #: every batch repeats the one trial (rules run their noisy trials on it)
    shared_input: ClassVar[bool] = True

    n_in: int = 30
    n_exc: int = 16
    n_inh: int = 4
    n_out: int = 3
    duration: float = 0.3
    dt: float = 1e-3
    bumps: int = 2
    peak: float = 80.0
    width: float = 0.025
    tau_rate: float = 0.02
    burst_spikes: int = 4
    burst_isi: float = 2e-3
    w_in: float = 6.0
    w_ee: float = 1.0
    w_ei: float = 3.0
    w_ie: float = 4.0
    p_rec: float = 0.3
    plastic_recurrent: bool = True
    method: str = "exp_euler"
    std_U: float = 0.0
    seed: int = 0
    samples_per_epoch: int = 1
    params: CobaParams = field(init=False)
    topology: CobaTopology = field(init=False)

    def __post_init__(self) -> None:
        for nm in ("n_in", "n_exc", "n_out", "bumps", "burst_spikes"):
            _check_int(nm, getattr(self, nm))
        _check_int("n_inh", self.n_inh, 0)
        _check_epoch(self.samples_per_epoch)
        if self.n_out > self.n_exc:
            raise SpikegradInputError(f"n_out ({self.n_out}) must be <= n_exc ({self.n_exc})")
        for nm in ("duration", "dt", "peak", "width", "tau_rate", "burst_isi", "w_in"):
            check_positive(nm, getattr(self, nm))
        self.params = CobaParams(dt=self.dt, method=self.method, std_U=self.std_U)
        g = torch.Generator().manual_seed(self.seed)
        n_in, N = self.n_in, self.n_exc + self.n_inh
        conn = torch.zeros(N, n_in + N, dtype=torch.bool)
        conn[:, :n_in] = True
        rec = torch.rand(N, N, generator=g) < self.p_rec
        rec.fill_diagonal_(False)
        rec[:, self.n_exc :] = True  # every neuron receives inhibition
        rec[self.n_exc :, : self.n_exc] = True  # I neurons pool all E neurons
        rec.fill_diagonal_(False)
        conn[:, n_in:] = rec
        plastic = torch.zeros_like(conn)
        plastic[:, :n_in] = True
        if self.plastic_recurrent:
            plastic[: self.n_exc, n_in : n_in + self.n_exc] = rec[: self.n_exc, : self.n_exc]
        self.topology = CobaTopology(
            n_in,
            self.n_exc,
            self.n_inh,
            connectivity=conn,
            plastic=plastic,
            outputs=torch.arange(self.n_out),
        )
        self._gen_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
        self.n_inputs, self.n_outputs = n_in, self.n_out

    @property
    def steps(self) -> int:
        """Steps per trial."""
        return int(round(self.duration / self.dt))

    def init_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """Initial weights: inputs U(0, w_in), E->E w_ee, E->I w_ei, I->all w_ie (nS)."""
        g = generator if generator is not None else torch.Generator().manual_seed(self._gen_seed)
        n_in, ne = self.n_in, self.n_exc
        net = self.topology
        W = torch.zeros(net.n, net.m)
        W[:, :n_in] = torch.rand(net.n, n_in, generator=g) * self.w_in
        W[:ne, n_in : n_in + ne] = self.w_ee
        W[ne:, n_in : n_in + ne] = self.w_ei
        W[:, n_in + ne :] = self.w_ie
        return W * net.connectivity

    def model(self, weight: Tensor | None = None, **kwargs: Any) -> CobaSpikingNetwork:
        """The task's network with ``weight`` (default :meth:`init_weights`); ``kwargs`` to
        :class:`~spikegrad.nn.CobaSpikingNetwork` (e.g. ``beta``)."""
        w = self.init_weights() if weight is None else weight
        return CobaSpikingNetwork(self.topology, self.params, w, **kwargs)

    def inputs(self) -> Tensor:
        """The burst sequence, ``[T, 1, n_in]``."""
        T = self.steps
        x = torch.zeros(T, 1, self.n_in)
        isi = max(1, int(round(self.burst_isi / self.dt)))
        for j in range(self.n_in):
            t0 = int((j + 0.5) * T / self.n_in)
            for k in range(self.burst_spikes):
                if t0 + k * isi < T:
                    x[t0 + k * isi, 0, j] = 1.0
        return x

    def target(self) -> Tensor:
        """Target rates ``[T, 1, n_out]`` (Hz): ``bumps`` Gaussian bumps per output."""
        T = self.steps
        t = (torch.arange(T) + 0.5) * self.dt
        y = torch.zeros(T, 1, self.n_out)
        nb = self.n_out * self.bumps
        lo, hi = 0.15 * self.duration, 0.9 * self.duration
        for k in range(self.n_out):
            for b in range(self.bumps):
                c = lo + (hi - lo) * (b * self.n_out + k + 0.5) / nb
                y[:, 0, k] += self.peak * torch.exp(-0.5 * ((t - c) / self.width) ** 2)
        return y

    def check_model(self, model: torch.nn.Module) -> None:
        """The task reads the output neurons' spikes of a conductance-based network."""
        t = getattr(model, "topology", None)
        if (
            not isinstance(t, CobaTopology)
            or t.n_in != self.n_in
            or t.outputs.numel() != self.n_out
        ):
            raise SpikegradInputError(
                f"the rates task needs a conductance-based model with {self.n_in} inputs and "
                f"{self.n_out} output neurons (task.model() builds one), got "
                f"{type(model).__name__}"
            )

    def size(self, split: str) -> int:
        """1 (the one trial) in every split."""
        self.check_split(split)
        return 1

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """``(inputs [T, b, n_in], target [T, b, n_out])``: copies of the trial.

        ``split="train"`` with ``shuffle=True`` yields ``samples_per_epoch`` copies in
        batches of ``batch_size``; otherwise the one trial.
        """
        self.check_split(split)
        n = self.samples_per_epoch if (split == "train" and shuffle) else 1
        x, y = self.inputs().to(dtype), self.target().to(dtype)
        for start in range(0, n, batch_size):
            b = min(batch_size, n - start)
            yield x.expand(-1, b, -1), y.expand(-1, b, -1)

    def rates(self, spikes: Tensor) -> Tensor:
        """Smoothed output rates ``[T, B, n_out]`` (Hz) from the spikes of all neurons."""
        return smoothed_rate(spikes[:, :, self.topology.outputs], self.dt, self.tau_rate)

    def error(self, spikes: Tensor, target: Tensor) -> Tensor:
        """Normalised squared error per trial ``[B]`` (1 for a silent network)."""
        r = self.rates(spikes)
        norm = torch.stack([(t**2).sum() for t in target.unbind(1)])  # per trial
        return ((r - target) ** 2).sum(dim=(0, 2)) / norm

    def sample_loss(self, model: torch.nn.Module, out: Any, y: Tensor) -> Tensor:
        """:math:`E` per trial ``[B]`` of ``out.spikes[0]`` against ``y`` ``[T, B, n_out]``."""
        return self.error(out.spikes[0], y)

    def score(self, model: torch.nn.Module, out: Any, y: Tensor) -> Tensor:
        """:math:`-E` per trial (higher is better)."""
        return -self.sample_loss(model, out, y).to(torch.float64)

    def to_dict(self) -> dict:
        d = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in ("params", "topology")
        }
        return {"name": self.name, **d}


# ----------------------------------------------------------------------------- digits
#: 5x7 bitmaps of the digits 0-9 (7 rows of 5 pixels, "#" = on).
DIGIT_GLYPHS: tuple[tuple[str, ...], ...] = (
    (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
)


def _glyph(k: int) -> Tensor:
    return torch.tensor([c == "#" for c in "".join(DIGIT_GLYPHS[k])], dtype=torch.float32)


def make_digits(
    samples_per_class: int = 60,
    *,
    n_classes: int = 10,
    noise: float = 0.25,
    n_steps: int = 40,
    t_min: int = 2,
    threshold: float = 0.5,
    seed: int = 0,
) -> SpikeDataset:
    r"""Latency-coded noisy 5x7 digits (35 input units, one spike at most per unit).

    Pixel intensity :math:`v = \mathrm{clip}(\text{glyph} + \mathcal N(0, \text{noise}^2),
    0, 1)`; a pixel with :math:`v > \theta` spikes at step
    :math:`t_\text{min} + \lfloor (n_\text{steps} - 1 - t_\text{min})(1 - v)/(1 - \theta)
    \rfloor` (bright pixels early), others are silent.
    """
    _check_int("samples_per_class", samples_per_class)
    _check_int("n_classes", n_classes)
    if n_classes > 10:
        raise SpikegradInputError(f"n_classes must be <= 10 for digits, got {n_classes}")
    g = torch.Generator().manual_seed(seed)
    glyphs = torch.stack([_glyph(k) for k in range(n_classes)])
    labels = torch.arange(n_classes).repeat_interleave(samples_per_class)
    v = glyphs[labels] + noise * torch.randn(labels.numel(), 35, generator=g)
    v = v.clamp(0, 1)
    x = torch.zeros(labels.numel(), n_steps, 35)
    # the linear latency code of spikegrad.data.encoding, shifted by t_min
    steps = latency(
        v, n_steps - 1 - t_min, code="linear", theta=threshold, overflow="clip", output="steps"
    )
    n_idx, u_idx = torch.nonzero(steps >= 0, as_tuple=True)
    x[n_idx, t_min + steps[n_idx, u_idx], u_idx] = 1.0
    return SpikeDataset.from_dense(x, labels, n_classes=n_classes, name="digits5x7")


@dataclass
class ClassifyTask(Task):
    """Reward-only spiking classification (Randman or latency-coded digits).

    ``steps_per_bin`` simulation steps per data time step; ``tail`` extra empty data bins
    at the end of each trial; ``samples_per_epoch`` training samples (drawn with
    replacement) per epoch, default the training split's size.
    """

    name: ClassVar[str] = "classify"
    score_name: ClassVar[str] = "accuracy"

    dataset: str = "randman"
    n_classes: int = 3
    n_hidden: int = 0
    n_inh: int = 4
    reward: str = "loss"
    count_scale: float = 2.0
    dt: float = 1e-3
    steps_per_bin: int = 1
    tail: int = 10
    w_in: float = 3.0
    w_ho: float = 3.0
    w_oi: float = 4.0
    w_io: float = 4.0
    samples_per_class: int = 100
    units: int = 20
    data_seed: int = 0
    seed: int = 0
    method: str = "exp_euler"
    std_U: float = 0.0
    samples_per_epoch: int | None = None
    params: CobaParams = field(init=False)
    topology: CobaTopology = field(init=False)

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, ("randman", "digits"))
        check_choice("reward", self.reward, REWARDS)
        _check_int("n_classes", self.n_classes, 2)
        _check_int("n_hidden", self.n_hidden, 0)
        _check_int("n_inh", self.n_inh, 0)
        _check_int("steps_per_bin", self.steps_per_bin)
        _check_int("tail", self.tail, 0)
        _check_epoch(self.samples_per_epoch)
        check_positive("count_scale", self.count_scale)
        self.params = CobaParams(dt=self.dt, method=self.method, std_U=self.std_U)
        if self.dataset == "randman":
            from ..data.randman import make_randman

            self.train, self.val, self.test = make_randman(
                n_classes=self.n_classes,
                n_units=self.units,
                n_steps=50,
                spike_window=40,
                samples_per_class=self.samples_per_class,
                seed=self.data_seed,
            )
        else:
            ds = make_digits(self.samples_per_class, n_classes=self.n_classes, seed=self.data_seed)
            self.train, self.val, self.test = split(
                ds, (0.7, 0.1, 0.2), generator=torch.Generator().manual_seed(self.data_seed)
            )
        for nm, ds in (("train", self.train), ("val", self.val), ("test", self.test)):
            if len(ds) == 0:
                raise SpikegradInputError(
                    f"the {nm} split is empty; raise samples_per_class (got "
                    f"{self.samples_per_class})"
                )
        n_in, K = self.train.n_units, self.n_classes
        self.topology = classifier_topology(n_in, K, self.n_hidden, self.n_inh)
        self.n_inputs, self.n_outputs = n_in, K

    def init_weights(self, generator: torch.Generator | None = None) -> Tensor:
        """Feed-forward weights U(0, w) (nS); fixed lateral inhibition through I."""
        g = generator if generator is not None else torch.Generator().manual_seed(self.seed)
        return classifier_weights(
            self.topology,
            self.n_hidden,
            self.n_classes,
            w_in=self.w_in,
            w_ho=self.w_ho,
            w_oi=self.w_oi,
            w_io=self.w_io,
            generator=g,
        )

    def model(self, weight: Tensor | None = None, **kwargs: Any) -> CobaSpikingNetwork:
        """The task's network with ``weight`` (default :meth:`init_weights`); ``kwargs`` to
        :class:`~spikegrad.nn.CobaSpikingNetwork` (e.g. ``beta``)."""
        w = self.init_weights() if weight is None else weight
        return CobaSpikingNetwork(self.topology, self.params, w, **kwargs)

    def check_model(self, model: torch.nn.Module) -> None:
        """Classification needs ``model.logits(out) -> [B, n_classes]``."""
        if not callable(getattr(model, "logits", None)):
            raise SpikegradInputError(
                f"a classification task needs a model with logits(out); "
                f"{type(model).__name__} has none"
            )

    def split(self, split: str) -> SpikeDataset:
        """The :class:`~spikegrad.data.SpikeDataset` of a split."""
        return {"train": self.train, "val": self.val, "test": self.test}[self.check_split(split)]

    def size(self, split: str) -> int:
        return len(self.split(split))

    def dense(self, ds: SpikeDataset, idx: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
        """Inputs ``[T, B, n_in]`` of samples ``idx``: ``tail`` empty bins appended, each
        bin spread over ``steps_per_bin`` steps (spike in the first)."""
        x = ds.dense(idx, kernel_events=False)  # re-laid out below: events would not carry
        T, B, C = x.shape
        x = torch.cat([x, torch.zeros(self.tail, B, C, dtype=x.dtype)])
        if self.steps_per_bin > 1:
            z = torch.zeros(x.shape[0], self.steps_per_bin, B, C, dtype=x.dtype)
            z[:, 0] = x
            x = z.reshape(-1, B, C)
        return x.to(dtype)

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[Tensor, Tensor]]:
        """``(x [T, b, n_in], labels [b])``.

        ``shuffle=True``: ``samples_per_epoch`` samples drawn uniformly *with
        replacement* from ``generator`` (trial-by-trial sampling, as in the perturbation
        experiments); ``shuffle=False``: the split once, in order.
        """
        ds = self.split(split)
        if shuffle:
            n = self.samples_per_epoch if self.samples_per_epoch is not None else len(ds)
            for start in range(0, n, batch_size):
                b = min(batch_size, n - start)
                idx = torch.randint(0, len(ds), (b,), generator=generator)
                yield self.dense(ds, idx, dtype), ds.labels[idx]
            return
        for start in range(0, len(ds), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(ds)))
            yield self.dense(ds, idx, dtype), ds.labels[idx]

    def sample_loss(self, model: torch.nn.Module, out: Any, y: Tensor) -> Tensor:
        """``"loss"``: cross-entropy of ``model.logits(out) / count_scale``; ``"binary"``:
        minus 1 per correct trial."""
        c = model.logits(out)
        if self.reward == "binary":
            return -_correct(c, y).to(c.dtype)
        return -torch.log_softmax(c / self.count_scale, 1).gather(1, y.view(-1, 1))[:, 0]

    def score(self, model: torch.nn.Module, out: Any, y: Tensor) -> Tensor:
        """1.0 where the label's output neuron fired most (ties and silence are wrong)."""
        return _correct(model.logits(out), y).to(torch.float64)

    def to_dict(self) -> dict:
        d = {
            k: getattr(self, k)
            for k in self.__dataclass_fields__
            if k not in ("params", "topology")
        }
        return {"name": self.name, **d}


def _correct(counts: Tensor, y: Tensor) -> Tensor:
    best = counts.max(1).values
    top = counts.gather(1, y.view(-1, 1))[:, 0]
    unique = (counts == best.view(-1, 1)).sum(1) == 1
    return (top == best) & unique & (best > 0)
