r"""Spike-target tasks: input spike trains and desired output spike trains.

:class:`SpikeTargetTask` is the :class:`~spikegrad.tasks.Task` of precise spike-time
learning. Each split holds patterns (:class:`SpikePatterns`): input trains
``[P, N, M]`` and the desired output trains ``[P, O, K]``. It gives the trainer one of
two views of a batch:

* ``view="trains"`` (SRM\ :sub:`0` models and the kernel rules): ``x`` is the spike-time
  tensor ``[M, B, N]`` (:func:`~spikegrad.functional.spiketrains.to_slots`), continuous
  times;
* ``view="binned"`` (LIF models and BPTT): ``x`` is binned ``[T, B, N]``
  (:func:`~spikegrad.functional.spiketrains.to_binned`, spike at ``t`` -> bin
  :math:`\lfloor t/\Delta t + 1/2\rfloor`) and the desired spikes are moved to their bins
  (:math:`t = n\Delta t`), the times a binned model can emit.

In both views ``y`` is the desired times ``[B, O, K]`` padded with ``+inf``. With the
actual trains :math:`s_a` of the output neurons (SRM\ :sub:`0`: ``out.trains``; LIF: the
last layer's spikes ``out.spikes[-1]`` read at :math:`t = n\Delta t`),

* :meth:`SpikeTargetTask.sample_loss` is the van Rossum distance, a kernel distance
  (van Rossum 2001; exact in continuous time):
  :math:`D = \sqrt{\tfrac12\|s_a - s_d\|^2_{\text{Laplacian}(\tau_\text{vR})}}`,
  averaged over the output neurons;
* :meth:`SpikeTargetTask.score` is the Schreiber et al. (2003) correlation :math:`C`
  (:math:`\sigma_C` = 2 ms), averaged over the output neurons (``score_name``
  ``"correlation"``, what the trainer selects on);
* :meth:`SpikeTargetTask.loss` is the training objective: in the ``binned`` view the
  differentiable squared binned van Rossum distance
  :math:`\frac{\Delta t}{\tau_\text{vR}}\sum_n (f_a[n] - f_d[n])^2` (or the Gaussian-kernel
  distance, ``loss="kernel"``) summed over the output neurons, for BPTT; in the ``trains``
  view the mean of :meth:`sample_loss` (the kernel rules do not differentiate it).

Generators (all randomness from an explicit generator):

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

from collections.abc import Iterator
from typing import Any, ClassVar, NamedTuple

import torch

from .._checks import SpikegradInputError, check_choice, check_nonnegative, check_positive
from ..functional.spike_kernels import (
    gaussian_kernel_loss,
    schreiber_correlation,
    van_rossum_binned,
    van_rossum_distance,
)
from ..functional.spiketrains import (
    SpikeTrains,
    check_trains,
    from_binned,
    pad_trains,
    poisson_trains,
    to_binned,
    to_slots,
)
from .base import SPLITS, Task

__all__ = [
    "VIEWS",
    "LOSSES",
    "SpikePatterns",
    "SpikeTargetTask",
    "random_target",
    "single_target_task",
    "PatternTask",
    "pattern_classes_task",
    "classify_by_distance",
    "lag_order_task",
]

#: batch views of :class:`SpikeTargetTask`
VIEWS = ("trains", "binned")
#: differentiable losses of the binned view
LOSSES = ("van_rossum", "kernel")


class SpikePatterns(NamedTuple):
    """One split: input trains ``[P, N, M]``, desired trains ``[P, O, K]``, labels ``[P]``.

    ``labels`` (optional) name each pattern's class, for tasks that also classify.
    """

    inputs: SpikeTrains
    desired: SpikeTrains
    labels: torch.Tensor | None = None


def _patterns(name: str, p: object) -> SpikePatterns:
    if not isinstance(p, SpikePatterns):
        if isinstance(p, tuple) and len(p) in (2, 3):
            p = SpikePatterns(*p)
        else:
            raise TypeError(f"{name} must be SpikePatterns(inputs, desired[, labels])")
    inp = check_trains(f"{name}.inputs", p.inputs)
    des = check_trains(f"{name}.desired", p.desired)
    if inp.times.dim() == 2:  # one pattern [N, M]
        inp = SpikeTrains(inp.times.unsqueeze(0), inp.mask.unsqueeze(0))
    while des.times.dim() < 3:  # [K] -> [1, K] -> [1, 1, K]
        des = SpikeTrains(des.times.unsqueeze(0), des.mask.unsqueeze(0))
    if inp.times.dim() != 3 or des.times.dim() != 3:
        raise SpikegradInputError(
            f"{name}: inputs must be [P, N, M] and desired [P, O, K], got "
            f"{tuple(inp.times.shape)} and {tuple(des.times.shape)}"
        )
    P = inp.times.shape[0]
    if des.times.shape[0] != P:
        if des.times.shape[0] != 1:
            raise SpikegradInputError(
                f"{name}: desired has {des.times.shape[0]} patterns but inputs has {P}"
            )
        des = SpikeTrains(
            des.times.expand(P, *des.times.shape[1:]), des.mask.expand(P, *des.mask.shape[1:])
        )
    labels = p.labels
    if labels is not None:
        labels = torch.as_tensor(labels).to(torch.int64).reshape(-1)
        if labels.shape[0] != P:
            raise SpikegradInputError(f"{name}: {labels.shape[0]} labels for {P} patterns")
    if P == 0:
        raise SpikegradInputError(f"the {name} split holds no pattern")
    return SpikePatterns(inp, SpikeTrains(des.times, des.mask != 0), labels)


class SpikeTargetTask(Task):
    r"""Learn to emit desired spike trains (see the module notes for views, loss and score).

    Parameters
    ----------
    train, val, test:
        :class:`SpikePatterns` (or ``(inputs, desired[, labels])`` tuples; a single
        pattern may be ``[N, M]`` / ``[K]``). ``val`` and ``test`` default to ``train``:
        the single-target protocol of the kernel-rule papers learns and measures one
        pattern.
    duration, dt:
        Trial length and time step (seconds): the binned view has
        ``T = round(duration / dt)`` steps.
    view:
        ``"trains"`` (default) or ``"binned"``.
    loss:
        Training objective of the binned view: ``"van_rossum"`` (default) or ``"kernel"``
        (Gaussian-kernel distance of width ``width``).
    vr_tau, width, corr_sigma:
        van Rossum time constant (10 ms), Gaussian loss width (5 ms) and the filter width
        :math:`\sigma_C` of the correlation (2 ms), seconds.
    shuffle:
        Let the trainer shuffle the training patterns (default). ``False`` presents
        them in their stored order every epoch (the online protocol of the papers).
    classes:
        Desired train of each class ``[C, K]``, for :meth:`accuracy` (nearest target).
    name:
        Recorded in config.json.
    """

    name: ClassVar[str] = "spike_targets"
    score_name: ClassVar[str] = "correlation"

    def __init__(
        self,
        train: SpikePatterns | tuple,
        val: SpikePatterns | tuple | None = None,
        test: SpikePatterns | tuple | None = None,
        *,
        duration: float,
        dt: float = 1e-3,
        view: str = "trains",
        loss: str = "van_rossum",
        vr_tau: float = 10e-3,
        width: float = 5e-3,
        corr_sigma: float = 2e-3,
        shuffle: bool = True,
        classes: SpikeTrains | None = None,
        name: str = "custom",
    ) -> None:
        tr = _patterns("train", train)
        sets = {
            "train": tr,
            "val": tr if val is None else _patterns("val", val),
            "test": tr if test is None else _patterns("test", test),
        }
        shapes = {(s.inputs.times.shape[1], s.desired.times.shape[1]) for s in sets.values()}
        if len(shapes) != 1:
            raise SpikegradInputError("train, val and test differ in input or output trains")
        self.duration = check_positive("duration", duration)
        self.dt = check_positive("dt", dt)
        self.n_steps = max(1, int(round(self.duration / self.dt)))
        self.view = check_choice("view", view, VIEWS)
        self.loss_name = check_choice("loss", loss, LOSSES)
        self.vr_tau = check_positive("vr_tau", vr_tau)
        self.width = check_positive("width", width)
        self.corr_sigma = check_positive("corr_sigma", corr_sigma)
        self.shuffle = bool(shuffle)
        self.classes = None if classes is None else check_trains("classes", classes)
        self.dataset = str(name)
        if self.view == "binned":  # the desired spikes a binned model can emit exactly
            sets = {k: self._snap(s) for k, s in sets.items()}
        self.sets = sets
        self.n_inputs, self.n_outputs = shapes.pop()

    def _snap(self, p: SpikePatterns) -> SpikePatterns:
        snapped = from_binned(to_binned(p.desired, self.n_steps, self.dt), self.dt)
        times = snapped.times.to(p.desired.times.dtype)
        return SpikePatterns(p.inputs, SpikeTrains(times, snapped.mask), p.labels)

    def patterns(self, split: str) -> SpikePatterns:
        """The :class:`SpikePatterns` of ``"train"``, ``"val"`` or ``"test"``."""
        return self.sets[self.check_split(split)]

    def size(self, split: str) -> int:
        return int(self.patterns(split).inputs.times.shape[0])

    def batches(
        self,
        split: str,
        batch_size: int,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)``: spike-time tensor ``[M, B, N]`` or binned ``[T, B, N]`` inputs (in
        ``dtype``) and the desired times ``[B, O, K]`` (``+inf`` padding, their own dtype)."""
        p = self.patterns(split)
        n = self.size(split)
        if shuffle and self.shuffle:
            order = torch.randperm(n, generator=generator)
        else:
            order = torch.arange(n)
        for k in range(0, n, int(batch_size)):
            idx = order[k : k + int(batch_size)]
            inp = p.inputs.select(idx)
            if self.view == "trains":
                x = to_slots(SpikeTrains(inp.times.to(dtype), inp.mask))
            else:
                x = to_binned(inp, self.n_steps, self.dt, dtype=dtype)
            yield x, p.desired.select(idx).padded()

    def actual(self, out: Any) -> SpikeTrains:
        """The output neurons' trains ``[B, O, K]`` of a model output (either view)."""
        if self.view == "trains":
            trains = getattr(out, "trains", None)
            if not isinstance(trains, SpikeTrains):
                raise SpikegradInputError(
                    "the 'trains' view needs a model whose output has .trains (an SRM0 "
                    "model); build the task with view='binned' for a LIF model"
                )
            return trains
        return from_binned(self._binned_spikes(out).detach(), self.dt)

    def _binned_spikes(self, out: Any) -> torch.Tensor:
        spikes = getattr(out, "spikes", None)
        if not spikes or not isinstance(spikes[-1], torch.Tensor) or spikes[-1].dim() != 3:
            raise SpikegradInputError(
                "the 'binned' view needs a model whose output has .spikes (a LIF model: "
                "the last layer's [T, B, O] spikes are the output trains)"
            )
        s = spikes[-1]
        if s.shape[0] != self.n_steps or s.shape[-1] != self.n_outputs:
            raise SpikegradInputError(
                f"output spikes {tuple(s.shape)} do not match [{self.n_steps}, B, "
                f"{self.n_outputs}]"
            )
        return s

    def sample_loss(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """van Rossum distance to the desired trains, mean over output neurons ``[B]``."""
        d = van_rossum_distance(self.actual(out), SpikeTrains.from_padded(y), self.vr_tau)
        return d.mean(-1)

    def loss(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """Binned view: differentiable binned loss (sum over outputs, batch mean); trains
        view: mean of :meth:`sample_loss`."""
        if self.view == "trains":
            return self.sample_loss(model, out, y).mean()
        s = self._binned_spikes(out)
        target = to_binned(SpikeTrains.from_padded(y), self.n_steps, self.dt, dtype=s.dtype)
        if self.loss_name == "van_rossum":
            per = van_rossum_binned(s, target, self.vr_tau, self.dt)
        else:
            per = gaussian_kernel_loss(s, target, self.width, self.dt)
        return per.sum(-1).mean()

    def score(self, model: torch.nn.Module, out: Any, y: torch.Tensor) -> torch.Tensor:
        """Schreiber correlation C to the desired trains, mean over output neurons ``[B]``."""
        c = schreiber_correlation(self.actual(out), SpikeTrains.from_padded(y), self.corr_sigma)
        return c.to(torch.float64).mean(-1)

    @torch.no_grad()
    def accuracy(self, model: torch.nn.Module, split: str, batch_size: int = 500) -> float:
        """Fraction of ``split``'s patterns whose response (output neuron 0) is nearest
        (van Rossum, ``vr_tau``) to the desired train of their own class (``classes``)."""
        p = self.patterns(split)
        if self.classes is None or p.labels is None:
            raise SpikegradInputError("accuracy needs the task's classes and labels")
        dtype = next(model.parameters()).dtype
        correct = 0
        for k, (x, _) in enumerate(self.batches(split, batch_size, dtype=dtype)):
            a = self.actual(model(x))
            pred = classify_by_distance(a.select((slice(None), 0)), self.classes, self.vr_tau)
            lab = p.labels[k * batch_size : k * batch_size + x.shape[1]]
            correct += int((pred == lab).sum())
        return correct / self.size(split)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "dataset": self.dataset,
            "view": self.view,
            "loss": self.loss_name,
            "duration": self.duration,
            "dt": self.dt,
            "vr_tau": self.vr_tau,
            "width": self.width,
            "corr_sigma": self.corr_sigma,
            "shuffle": self.shuffle,
            "sizes": {s: self.size(s) for s in SPLITS},
        }


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
