"""Randman: spike-timing classification on smooth random manifolds.

Zenke & Vogels (2021), Sec. 4.1.1; written from the definition, not from the
reference code (which reseeds the global torch RNG).

One manifold :math:`f: [0, 1]^D \\to \\mathbb{R}^M` has parameters
:math:`A, B, C \\sim U(0, 1)` of shape ``[M, D, F]`` and

.. math::

    f_{m,d}(x) = \\sum_{k} A_{m,d,k} s_k \\sin\\big(2\\pi (k x B_{m,d,k} + C_{m,d,k})\\big),
    \\qquad y_m(\\mathbf{x}) = \\prod_{d=1}^{D} f_{m,d}(x_d),

with :math:`F = \\min(\\lceil \\mathrm{prec}^{-1/\\alpha} \\rceil, \\mathrm{max\\_terms})` terms.
Two spectra are available (a named option, logged and recorded in the dataset name):

* ``"paper"``: :math:`k = 1 \\dots F`, :math:`s_k = k^{-\\alpha}`;
* ``"torch"`` (randman's torch backend): :math:`k = 0 \\dots F-1`,
  :math:`s_k = 1 / ((k + 1)^{\\alpha} + 1)` and :math:`A_{m,d,0} = 0` (no constant term).

A class is one set of manifolds (one per spike number); its samples are points
:math:`\\mathbf{x} \\sim U(0,1)^D`. Each unit's value is min-max standardised over the
class's samples and becomes the spike bin :math:`\\lfloor W y \\rfloor` in a window of
``W = spike_window`` steps, so only spike timing carries class information.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from spikegrad._checks import SpikegradInputError, check_int, check_positive
from spikegrad.data.spikes import SpikeDataset, split

__all__ = [
    "SPECTRA",
    "RandmanConfig",
    "RandmanManifold",
    "make_randman",
    "make_randman_dataset",
    "randman_manifold",
    "randman_n_terms",
    "randman_spike_times",
]

logger = logging.getLogger(__name__)

SPECTRA: tuple[str, ...] = ("paper", "torch")

_CHUNK_ELEMENTS = 1 << 22  # max size of the [chunk, M, D, F] work tensor
_STD_EPS = 1e-7


_check_int = check_int  # shared validator (spikegrad._checks)


def _check_spectrum(spectrum: object) -> str:
    if spectrum not in SPECTRA:
        raise SpikegradInputError(
            f"unknown spectrum {spectrum!r}; valid spectra: {', '.join(map(repr, SPECTRA))}"
        )
    return str(spectrum)


def randman_n_terms(alpha: float, prec: float = 1e-3, max_terms: int = 1000) -> int:
    """Number of Fourier terms :math:`F = \\min(\\lceil \\mathrm{prec}^{-1/\\alpha}\\rceil,
    \\mathrm{max\\_terms})`.

    A relative tolerance of 1e-9 absorbs floating-point error in the power, so an exact
    integer (e.g. :math:`10^{-3 \\cdot -1/3} = 10`) is not rounded up. With the defaults this
    gives 1000 for :math:`\\alpha \\le 1`, 32 for :math:`\\alpha = 2` and 10 for
    :math:`\\alpha = 3`.
    """
    alpha = check_positive("alpha", alpha)
    prec = check_positive("prec", prec)
    if prec >= 1:
        raise SpikegradInputError(f"prec must lie in (0, 1), got {prec!r}")
    max_terms = _check_int("max_terms", max_terms)
    log_v = -math.log(prec) / alpha
    if log_v >= math.log(max_terms):
        return max_terms
    v = math.exp(log_v)
    return max(1, min(math.ceil(v * (1 - 1e-9)), max_terms))


class RandmanManifold:
    """A smooth random manifold :math:`[0,1]^D \\to \\mathbb{R}^M` (callable).

    Parameters
    ----------
    amplitude, frequency, phase:
        :math:`A, B, C`, each ``[M, D, F]``.
    k:
        Integer frequencies ``[F]`` (``1..F`` for ``"paper"``, ``0..F-1`` for ``"torch"``).
    weights:
        Spectrum :math:`s_k`, ``[F]``.
    spectrum:
        Name of the spectrum variant (informational).

    Notes
    -----
    ``factors(x)[n, m, d]`` is :math:`f_{m,d}(x_{n,d})` and ``manifold(x)`` is its
    product over ``d``. A 1-D manifold built from the slice ``[:, d:d+1]`` of the
    parameters evaluates factor ``d`` alone.
    """

    def __init__(
        self,
        amplitude: Tensor,
        frequency: Tensor,
        phase: Tensor,
        k: Tensor,
        weights: Tensor,
        spectrum: str = "paper",
    ) -> None:
        if amplitude.dim() != 3:
            raise SpikegradInputError(
                f"amplitude must have shape [M, D, F], got {tuple(amplitude.shape)}"
            )
        shape = amplitude.shape
        for nm, t in (("frequency", frequency), ("phase", phase)):
            if t.shape != shape:
                raise SpikegradInputError(
                    f"{nm} must have the shape of amplitude {tuple(shape)}, got {tuple(t.shape)}"
                )
        for nm, t in (("k", k), ("weights", weights)):
            if t.shape != (shape[2],):
                raise SpikegradInputError(f"{nm} must have shape [F] = [{shape[2]}]")
        self.amplitude = amplitude
        self.frequency = frequency
        self.phase = phase
        self.k = k.to(amplitude.dtype)
        self.weights = weights.to(amplitude.dtype)
        self.spectrum = spectrum
        # precomputed: 2*pi*k*B, 2*pi*C and A*s
        self._kb = (2 * math.pi) * self.k * frequency
        self._c = (2 * math.pi) * phase
        self._a = amplitude * self.weights

    @property
    def n_units(self) -> int:
        """Output dimension ``M``."""
        return int(self.amplitude.shape[0])

    @property
    def dim(self) -> int:
        """Intrinsic dimension ``D``."""
        return int(self.amplitude.shape[1])

    @property
    def n_terms(self) -> int:
        """Number of Fourier terms ``F``."""
        return int(self.amplitude.shape[2])

    def _check_x(self, x: Tensor) -> Tensor:
        if not isinstance(x, Tensor):
            raise SpikegradInputError(f"x must be a torch.Tensor [n, D], got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.dim:
            raise SpikegradInputError(
                f"x must have shape [n, D] = [n, {self.dim}], got {tuple(x.shape)}"
            )
        return x.to(self.amplitude.dtype)

    def factors(self, x: Tensor) -> Tensor:
        """Per-dimension factors :math:`f_{m,d}(x_{n,d})`, shape ``[n, M, D]``."""
        x = self._check_x(x)
        n = x.shape[0]
        per_sample = max(1, self._kb.numel())
        chunk = max(1, _CHUNK_ELEMENTS // per_sample)
        out = torch.empty(n, self.n_units, self.dim, dtype=x.dtype)
        for s in range(0, n, chunk):
            xc = x[s : s + chunk, None, :, None]  # [c, 1, D, 1]
            arg = xc * self._kb + self._c  # [c, M, D, F]
            arg.sin_().mul_(self._a)
            out[s : s + chunk] = arg.sum(-1)
        return out

    def __call__(self, x: Tensor) -> Tensor:
        """:math:`y_m(\\mathbf{x}) = \\prod_d f_{m,d}(x_d)`, shape ``[n, M]``."""
        return self.factors(x).prod(-1)

    def __repr__(self) -> str:
        return (
            f"RandmanManifold(M={self.n_units}, D={self.dim}, F={self.n_terms}, "
            f"spectrum={self.spectrum!r})"
        )


def randman_manifold(
    n_units: int,
    dim: int,
    alpha: float,
    *,
    generator: torch.Generator,
    spectrum: str = "paper",
    prec: float = 1e-3,
    max_terms: int = 1000,
    dtype: torch.dtype = torch.float64,
) -> RandmanManifold:
    """Draw one smooth random manifold :math:`f: [0,1]^D \\to \\mathbb{R}^M`.

    Parameters
    ----------
    n_units:
        Output dimension ``M`` (number of input units of the spiking task).
    dim:
        Intrinsic dimension ``D``.
    alpha:
        Spectral decay :math:`\\alpha > 0`; larger is smoother.
    generator:
        Private random generator; :math:`\\theta \\sim U(0,1)^{M \\times D \\times 3 \\times F}`
        is drawn from it (slices ``0, 1, 2`` of axis 2 are :math:`A, B, C`).
    spectrum:
        ``"paper"`` (:math:`k = 1..F`, :math:`s_k = k^{-\\alpha}`) or ``"torch"``
        (:math:`k = 0..F-1`, :math:`s_k = 1/((k+1)^\\alpha + 1)`, :math:`A_{\\cdot,\\cdot,0}=0`).
    prec, max_terms:
        :math:`F = \\min(\\lceil \\mathrm{prec}^{-1/\\alpha}\\rceil, \\mathrm{max\\_terms})`.
    dtype:
        Floating dtype of parameters and outputs.

    Returns
    -------
    RandmanManifold
        Callable mapping ``x [n, D]`` to ``y [n, M]`` with
        :math:`y_m = \\prod_d \\sum_k A_{m,d,k} s_k \\sin(2\\pi(k x_d B_{m,d,k} + C_{m,d,k}))`.
    """
    n_units = _check_int("n_units", n_units)
    dim = _check_int("dim", dim)
    alpha = check_positive("alpha", alpha)
    spectrum = _check_spectrum(spectrum)
    if not isinstance(generator, torch.Generator):
        raise SpikegradInputError(
            f"generator must be a torch.Generator, got {type(generator).__name__}"
        )
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise SpikegradInputError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    n_terms = randman_n_terms(alpha, prec, max_terms)
    theta = torch.rand(n_units, dim, 3, n_terms, generator=generator, dtype=dtype)
    amplitude = theta[:, :, 0].clone()
    frequency = theta[:, :, 1].clone()
    phase = theta[:, :, 2].clone()
    if spectrum == "paper":
        k = torch.arange(1, n_terms + 1, dtype=dtype)
        weights = k.pow(-alpha)
    else:  # "torch"
        k = torch.arange(n_terms, dtype=dtype)
        weights = 1.0 / ((k + 1).pow(alpha) + 1.0)
        amplitude[:, :, 0] = 0.0
    return RandmanManifold(amplitude, frequency, phase, k, weights, spectrum=spectrum)


def randman_spike_times(
    manifolds: Sequence[Callable[[Tensor], Tensor]],
    x: Tensor,
    spike_window: int,
) -> Tensor:
    """Spike bins of one class: one spike per manifold and unit.

    For manifold ``i`` with output ``y = f_i(x)`` (``[n, M]``), each unit is min-max
    standardised over the ``n`` samples and quantised by floor,

    .. math::

        \\tilde y_{n,m} = \\frac{y_{n,m} - \\min_n y_{n,m}}
                                {\\max_n y_{n,m} - \\min_n y_{n,m} + 10^{-7}},\\qquad
        t_{n,i,m} = \\min(\\lfloor W \\tilde y_{n,m} \\rfloor, W - 1),

    with ``W = spike_window``. Returns int64 ``[n, len(manifolds), M]``.
    """
    spike_window = _check_int("spike_window", spike_window)
    if len(manifolds) == 0:
        raise SpikegradInputError("manifolds must hold at least one manifold")
    out = []
    for f in manifolds:
        y = f(x)
        lo = y.min(0, keepdim=True).values
        hi = y.max(0, keepdim=True).values
        y = (y - lo) / (hi - lo + _STD_EPS)
        t = torch.floor(spike_window * y).to(torch.int64).clamp_(0, spike_window - 1)
        out.append(t)
    return torch.stack(out, dim=1)


@dataclass(frozen=True)
class RandmanConfig:
    """Settings of a Randman spiking dataset (defaults: the paper's settings).

    Attributes
    ----------
    n_classes:
        Number of classes (one set of manifolds each).
    n_units:
        Input units ``M``.
    n_steps:
        Trial length ``T`` in time steps.
    dim:
        Manifold dimension ``D``.
    alpha:
        Spectral decay (smoothness).
    spikes_per_unit:
        Spikes every unit fires per sample (one manifold per spike number).
    samples_per_class:
        Samples drawn per class.
    spike_window:
        Steps in which spikes fall: bin :math:`= \\lfloor \\mathrm{spike\\_window}\\, y\\rfloor`;
        must be ``<= n_steps``.
    spectrum:
        ``"paper"`` or ``"torch"`` (see :func:`randman_manifold`).
    seed:
        Seed of the private generator; everything is derived from it (the task's
        manifolds and, unless ``sample_seed`` is set, the samples).
    sample_seed:
        Seed of the sample draws and the shuffle only (``None``: from ``seed``). The
        manifolds, i.e. the task, stay those of ``seed``: another ``sample_seed`` gives
        *more samples of the same task* (e.g. a fresh test set), where another ``seed``
        gives another task.
    splits:
        Train / validation / test fractions, split stratified per class.
    prec, max_terms:
        Fourier truncation (see :func:`randman_n_terms`).
    """

    n_classes: int = 10
    n_units: int = 20
    n_steps: int = 100
    dim: int = 1
    alpha: float = 1.0
    spikes_per_unit: int = 1
    samples_per_class: int = 1000
    spike_window: int = 50
    spectrum: str = "paper"
    seed: int = 0
    sample_seed: int | None = None
    splits: tuple[float, float, float] = (0.8, 0.1, 0.1)
    prec: float = 1e-3
    max_terms: int = 1000

    def __post_init__(self) -> None:
        for nm in (
            "n_classes",
            "n_units",
            "n_steps",
            "dim",
            "spikes_per_unit",
            "samples_per_class",
            "spike_window",
            "max_terms",
        ):
            _check_int(nm, getattr(self, nm))
        if self.spike_window > self.n_steps:
            raise SpikegradInputError(
                f"spike_window must be <= n_steps, got spike_window={self.spike_window} "
                f"> n_steps={self.n_steps}"
            )
        check_positive("alpha", self.alpha)
        _check_spectrum(self.spectrum)
        _check_int("seed", self.seed, minimum=0)
        if self.sample_seed is not None:
            _check_int("sample_seed", self.sample_seed, minimum=0)
        randman_n_terms(self.alpha, self.prec, self.max_terms)  # validates prec
        try:
            splits = tuple(float(s) for s in self.splits)
        except (TypeError, ValueError) as exc:
            raise SpikegradInputError(
                f"splits must be three numbers (train, val, test), got {self.splits!r}"
            ) from exc
        if len(splits) != 3:
            raise SpikegradInputError(
                f"splits must be three fractions (train, val, test), got {len(splits)}"
            )
        if any(not math.isfinite(s) or s < 0 for s in splits):
            raise SpikegradInputError(f"splits must be finite and >= 0, got {self.splits!r}")
        if abs(sum(splits) - 1.0) > 1e-6:
            raise SpikegradInputError(
                f"splits must sum to 1, got {self.splits!r} (sum {sum(splits)})"
            )
        object.__setattr__(self, "splits", splits)
        object.__setattr__(self, "alpha", float(self.alpha))

    @property
    def n_terms(self) -> int:
        """Number of Fourier terms ``F`` of every manifold."""
        return randman_n_terms(self.alpha, self.prec, self.max_terms)

    def name(self) -> str:
        """Short description used as the dataset name."""
        return (
            f"randman(C={self.n_classes}, M={self.n_units}, D={self.dim}, alpha={self.alpha:g}, "
            f"spikes={self.spikes_per_unit}, spectrum={self.spectrum}, seed={self.seed}"
            + ("" if self.sample_seed is None else f", sample_seed={self.sample_seed}")
            + ")"
        )


def _resolve(config: RandmanConfig | None, overrides: dict[str, Any]) -> RandmanConfig:
    if config is None:
        config = RandmanConfig()
    elif not isinstance(config, RandmanConfig):
        raise SpikegradInputError(
            f"config must be a RandmanConfig or None, got {type(config).__name__}"
        )
    if overrides:
        unknown, valid = unknown_randman_fields(overrides)
        if unknown:
            raise SpikegradInputError(
                f"unknown RandmanConfig field(s) {', '.join(unknown)}; valid fields: "
                f"{', '.join(valid)}"
            )
        config = dataclasses.replace(config, **overrides)
    return config


def make_randman_dataset(config: RandmanConfig | None = None, **overrides: object) -> SpikeDataset:
    """Generate the full (shuffled, unsplit) Randman dataset.

    Procedure (Zenke & Vogels 2021, Sec. 4.1.1):

    1. A private ``torch.Generator`` is seeded with ``config.seed``; from it one manifold
       seed is drawn per (class ``k``, spike number ``i``).
    2. For each class, :math:`\\mathbf{x} \\sim U(0,1)^{n \\times D}` is drawn (shared by the
       class's manifolds); for each ``i``, ``y = f_{k,i}(x)`` is standardised per unit over
       the class and binned, :math:`t = \\lfloor W \\tilde y \\rfloor`
       (see :func:`randman_spike_times`). Every unit fires exactly ``spikes_per_unit``
       times per sample; per class and unit the bins span ``0 .. W - 1``.
    3. The classes are concatenated and shuffled with the generator.

    Parameters
    ----------
    config:
        Settings; defaults to :class:`RandmanConfig` ().
    **overrides:
        Fields replacing those of ``config``.

    Returns
    -------
    SpikeDataset
        ``N = n_classes * samples_per_class`` samples, ``T = n_steps``, ``C = n_units``;
        events of a sample are sorted by (time, unit).
    """
    cfg = _resolve(config, overrides)
    logger.info("generating %s (F=%d terms)", cfg.name(), cfg.n_terms)
    g = torch.Generator().manual_seed(cfg.seed)
    n_k, n_s, n, m = cfg.n_classes, cfg.spikes_per_unit, cfg.samples_per_class, cfg.n_units
    seeds = torch.randint(0, 2**62, (n_k, n_s), generator=g, dtype=torch.int64)
    if cfg.sample_seed is not None:  # same manifolds (task), other samples
        g = torch.Generator().manual_seed(cfg.sample_seed)
    times_per_class = []
    for k in range(n_k):
        manifolds = [
            randman_manifold(
                m,
                cfg.dim,
                cfg.alpha,
                generator=torch.Generator().manual_seed(int(seeds[k, i])),
                spectrum=cfg.spectrum,
                prec=cfg.prec,
                max_terms=cfg.max_terms,
            )
            for i in range(n_s)
        ]
        x = torch.rand(n, cfg.dim, generator=g, dtype=torch.float64)
        times_per_class.append(randman_spike_times(manifolds, x, cfg.spike_window))
    times = torch.cat(times_per_class).reshape(n_k * n, n_s * m)  # [N, S*M]
    units = torch.arange(m).repeat(n_s).expand(n_k * n, -1)
    labels = torch.arange(n_k).repeat_interleave(n)
    perm = torch.randperm(n_k * n, generator=g)
    times, units, labels = times[perm], units[perm], labels[perm]
    # sort each sample's events by (time, unit)
    order = torch.argsort(times * m + units, dim=1, stable=True)
    times = torch.gather(times, 1, order)
    units = torch.gather(units, 1, order)
    per = n_s * m
    offsets = torch.arange(n_k * n + 1, dtype=torch.int64) * per
    return SpikeDataset(
        times.reshape(-1),
        units.reshape(-1),
        offsets,
        labels,
        n_steps=cfg.n_steps,
        n_units=m,
        n_classes=n_k,
        name=cfg.name(),
    )


def unknown_randman_fields(options: Iterable[str]) -> tuple[list[str], list[str]]:
    """The names in ``options`` that are not :class:`RandmanConfig` fields (sorted), and
    the valid field names (declaration order)."""
    valid = [f.name for f in dataclasses.fields(RandmanConfig)]
    return sorted(set(options) - set(valid)), valid


def make_randman(
    config: RandmanConfig | None = None, **overrides: object
) -> tuple[SpikeDataset, SpikeDataset, SpikeDataset]:
    """Generate Randman and split it stratified per class into train / val / test.

    Per class, the first ``round(splits[0] * n)`` of the class's (shuffled) samples go
    to train, the next ``round((splits[0] + splits[1]) * n) - round(splits[0] * n)`` to
    validation and the rest to test (800 / 100 / 100 at the paper's settings). See
    :func:`make_randman_dataset` for the generation procedure and parameters.

    Returns
    -------
    tuple[SpikeDataset, SpikeDataset, SpikeDataset]
        ``(train, val, test)``.
    """
    cfg = _resolve(config, overrides)
    full = make_randman_dataset(cfg)
    train, val, test = split(full, cfg.splits, stratified=True)
    return train, val, test
