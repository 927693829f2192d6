r"""Spike codes for static inputs: the one latency code, Gaussian receptive fields, rank order.

**Latency code** (time to first spike): every value :math:`x` above a threshold
:math:`\theta` fires exactly one spike, brighter values earlier; values
:math:`x \le \theta` stay silent. :func:`latency` maps a tensor of any shape to
first-spike times, integer steps or a time-major one-hot spike tensor, with one of
two intensity-to-time maps (``code``), in steps of the trial's grid:

.. math::

    \text{log:}\quad t(x) &= \tau_\mathrm{eff} \ln \frac{x}{x - \theta}
    \qquad \text{(time for a leaky membrane driven by } x
    \text{ to reach } \theta \text{)} \\
    \text{linear:}\quad t(x) &= n_\text{steps}\,\frac{1 - x}{1 - \theta}
    \qquad \text{(} x = 1 \text{ at } 0,\ x \to \theta^+ \text{ at } n_\text{steps}\text{)}

The step of a spike is :math:`n(x) = \lfloor t(x) \rfloor`. Times past the trial
(:math:`t \ge n_\text{steps}`) are dropped (``overflow="drop"``, every input fires
at most once inside the trial) or put on the last step
(``overflow="clip"``, :math:`t \leftarrow \min(t, n_\text{steps} - 1)`). Under the
linear code values :math:`x > 1` would give :math:`t < 0` and fire at 0.

The log code with :math:`\theta = 0.2`, :math:`\tau_\mathrm{eff} = 20` steps and
100 steps is the SpyTorch tutorial-2 code used for the Zenke & Vogels 2021 image
tasks (:func:`latency_steps`, :func:`latency_encode`): :math:`x = 1` fires at step 4
and :math:`x = 0.21` at step 60. The linear code with clipping is the symmetry
network's ``"latency"`` pixel code (:func:`spikegrad.symmetry.encoding.spike_times`,
``levels`` = :math:`n_\text{steps}`).

**Gaussian receptive fields** (Bohte, Kok & La Poutré 2002; eSNN/OeSNN, Lobo et al.
2018, 2020). Each real feature :math:`x` is covered by :math:`M \ge 3` Gaussian
fields, numbered :math:`j = 1 \dots M` (``numbering="one_based"``, the default):

.. math::

    \mu_j = I_\min + \frac{2j - 3}{2}\,\frac{I_\max - I_\min}{M - 2}, \qquad
    \sigma = \frac{I_\max - I_\min}{\beta (M - 2)}, \qquad
    r_j = \exp\!\Big(-\frac{(x - \mu_j)^2}{2\sigma^2}\Big)

and if :math:`I_\max = I_\min` then :math:`\sigma = 1` (:math:`\beta` here is the
field-width factor of that literature, not a surrogate scale). Field :math:`j` emits
one spike at time :math:`t_j = 1 - r_j \in [0, 1]` (:func:`grf_spike_times`): the
closer the centre, the earlier the spike. ``numbering="zero_based"`` uses
:math:`j = 0 \dots M-1`, the convention of the OeSNN-UAD C++ code and the
``oesnn-ad`` package, which shifts every centre down by one spacing.

**Rank-order code** (:func:`rank_order`): all spikes of a sample are sorted by time
with a **stable** sort (ties keep the input order), and input :math:`j` gets its rank
:math:`\mathrm{order}(j) = 0, 1, \dots`; with a late cut :math:`t_\text{cut}` spikes
with :math:`t_j > t_\text{cut}` count as absent.

**Tensor encoders** (snnTorch's ``spikegen``): :func:`rate_code` (Bernoulli / Poisson
rate code, ``spikegen.rate``), :func:`latency` with ``output="spikes"`` (one spike per
value, ``spikegen.latency``) and :func:`delta_code` (level crossing of a time series,
``spikegen.delta``) take any tensor and return time-major ``[T, ...]`` spikes, so a
batch ``[B, ...]`` becomes ``[T, B, ...]``.

The GRF and rank-order functions work on numpy arrays (float64): online learners
call them once per sample on a few dozen values, where the per-call overhead of
torch would dominate. The latency code works on tensors.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_positive
from .spikes import SpikeDataset

__all__ = [
    "rate_code",
    "delta_code",
    "LATENCY_CODES",
    "LATENCY_OVERFLOW",
    "LATENCY_OUTPUTS",
    "latency",
    "latency_steps",
    "latency_encode",
    "NUMBERINGS",
    "grf_centres",
    "grf_sigma",
    "grf_responses",
    "grf_spike_times",
    "rank_order",
]

#: Intensity-to-time maps of :func:`latency`.
LATENCY_CODES = ("log", "linear")
#: What :func:`latency` does with times past the trial.
LATENCY_OVERFLOW = ("drop", "clip")
#: What :func:`latency` returns.
LATENCY_OUTPUTS = ("steps", "times", "spikes")
#: GRF centre numbering conventions.
NUMBERINGS = ("one_based", "zero_based")


# ------------------------------------------------------------------ latency code
def latency(
    x: Tensor,
    n_steps: int = 100,
    *,
    code: str = "log",
    theta: float = 0.2,
    tau_eff: float = 20.0,
    overflow: str = "drop",
    output: str = "steps",
) -> Tensor:
    r"""Latency (time-to-first-spike) code of every value of a tensor (module docstring).

    Parameters
    ----------
    x:
        Values, any shape (a tensor or array-like; real and finite). Floating
        tensors are used in their own dtype, others are converted to float64.
    n_steps:
        Trial length in steps (>= 1); for ``code="linear"`` also the scale of the map.
    code:
        ``"log"``: :math:`t = \tau_\mathrm{eff} \ln(x / (x - \theta))`;
        ``"linear"``: :math:`t = n_\text{steps} (1 - x) / (1 - \theta)`, at least 0.
    theta:
        Threshold in [0, 1); values ``x <= theta`` never fire.
    tau_eff:
        Effective time constant of the log code in steps (> 0).
    overflow:
        ``"drop"``: spikes at :math:`t \ge n_\text{steps}` are silent;
        ``"clip"``: they are put at :math:`n_\text{steps} - 1`.
    output:
        ``"steps"``: int64 steps :math:`\lfloor t \rfloor`, ``-1`` where silent (shape
        of ``x``); ``"times"``: the unrounded times :math:`t` in steps, ``inf`` where
        silent (shape and float dtype of ``x``); ``"spikes"``: one-hot spikes
        ``[n_steps, *x.shape]`` (time-major, float dtype of ``x``), one spike at
        step :math:`\lfloor t \rfloor` per firing value.

    Examples
    --------
    >>> latency(torch.tensor([1.0, 0.21, 0.2])).tolist()   # 20 ln(1/0.8) = 4.46
    [4, 60, -1]
    >>> latency(torch.tensor([1.0, 0.75, 0.5]), 8, code="linear", theta=0.5).tolist()
    [0, 4, -1]
    """
    check_choice("code", code, LATENCY_CODES)
    check_choice("overflow", overflow, LATENCY_OVERFLOW)
    check_choice("output", output, LATENCY_OUTPUTS)
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise SpikegradInputError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    n_steps = int(n_steps)
    if not (0.0 <= float(theta) < 1.0):
        raise SpikegradInputError(f"theta must lie in [0, 1), got {theta!r}")
    if code == "log" and not (math.isfinite(float(tau_eff)) and float(tau_eff) > 0):
        raise SpikegradInputError(f"tau_eff must be a positive number of steps, got {tau_eff!r}")
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.is_complex():
        raise SpikegradInputError(f"x must be real, got {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise SpikegradInputError("x contains non-finite values (NaN or inf)")
    fire = x > theta
    if code == "log":
        safe = torch.where(fire, x, torch.ones_like(x))
        t = tau_eff * torch.log(safe / (safe - theta))
    else:
        t = (n_steps * (1.0 - x) / (1.0 - theta)).clamp(min=0.0)
    if overflow == "clip":
        t = t.clamp(max=n_steps - 1)
        keep = fire
    else:
        keep = fire & (t < n_steps)
    if output == "times":
        return torch.where(keep, t, torch.full_like(t, math.inf))
    steps = torch.where(keep, torch.floor(t), torch.full_like(t, -1.0)).to(torch.int64)
    if output == "steps":
        return steps
    out = torch.zeros(n_steps, *x.shape, dtype=x.dtype, device=x.device)
    out.scatter_(0, steps.clamp(min=0).unsqueeze(0), keep.to(x.dtype).unsqueeze(0))
    return out


def _check_values(x: Tensor, name: str = "x") -> Tensor:
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.is_complex() or x.dtype == torch.bool:
        raise SpikegradInputError(f"{name} must be real intensities in [0, 1], got {x.dtype}")
    x = x.detach().cpu().to(torch.float64)
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise SpikegradInputError(f"{name} contains non-finite values (NaN or inf)")
    if x.numel() and (float(x.min()) < 0.0 or float(x.max()) > 1.0):
        raise SpikegradInputError(
            f"{name} must lie in [0, 1], got values in [{float(x.min()):.4g}, {float(x.max()):.4g}]"
            " (scale images by their maximum first)"
        )
    return x


def latency_steps(
    x: Tensor, theta: float = 0.2, tau_eff: float = 20.0, n_steps: int = 100
) -> Tensor:
    """Spike step of every intensity under the log latency code; ``-1`` where silent.

    :func:`latency` with ``code="log"``, ``overflow="drop"``, ``output="steps"``, for
    intensities that must lie in [0, 1] (computed in float64).

    Parameters
    ----------
    x:
        Intensities in [0, 1], any shape.
    theta:
        Threshold in [0, 1); values ``x <= theta`` never fire.
    tau_eff:
        Effective time constant in steps (> 0).
    n_steps:
        Trial length; spikes at step ``>= n_steps`` are dropped (returned as ``-1``).

    Returns
    -------
    Tensor
        int64, same shape as ``x``: ``floor(tau_eff * ln(x / (x - theta)))`` or ``-1``.
    """
    if not (0.0 <= float(theta) < 1.0):
        raise SpikegradInputError(f"theta must lie in [0, 1), got {theta!r}")
    if not (math.isfinite(float(tau_eff)) and float(tau_eff) > 0):
        raise SpikegradInputError(f"tau_eff must be a positive number of steps, got {tau_eff!r}")
    if isinstance(n_steps, bool) or int(n_steps) < 1:
        raise SpikegradInputError(f"n_steps must be >= 1, got {n_steps!r}")
    return latency(
        _check_values(x), int(n_steps), code="log", theta=theta, tau_eff=tau_eff,
        overflow="drop", output="steps",
    )


def latency_encode(
    x: Tensor,
    labels: Tensor,
    n_classes: int | None = None,
    *,
    theta: float = 0.2,
    tau_eff: float = 20.0,
    n_steps: int = 100,
    name: str = "",
) -> SpikeDataset:
    """Latency-code a batch of flattened inputs into a :class:`SpikeDataset`.

    Parameters
    ----------
    x:
        ``[N, P]`` intensities in [0, 1] (images flattened; ``P`` becomes ``n_units``).
    labels:
        ``[N]`` integer class labels.
    n_classes, name:
        As in :class:`SpikeDataset`.
    theta, tau_eff, n_steps:
        As in :func:`latency_steps`.

    Returns
    -------
    SpikeDataset
        One event per firing input, events sorted by unit inside each sample.
    """
    if not isinstance(x, Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2:
        raise SpikegradInputError(
            f"x must be [N, P] (samples x flattened inputs), got shape {tuple(x.shape)}"
        )
    steps = latency_steps(x, theta, tau_eff, n_steps)
    sample, unit = torch.nonzero(steps >= 0, as_tuple=True)
    times = steps[sample, unit]
    offsets = torch.zeros(x.shape[0] + 1, dtype=torch.int64)
    offsets[1:] = torch.cumsum(torch.bincount(sample, minlength=x.shape[0]), 0)
    labels = labels if isinstance(labels, Tensor) else torch.as_tensor(labels)
    return SpikeDataset(
        times, unit, offsets, labels.to(torch.int64), n_steps, x.shape[1], n_classes, name
    )


# ------------------------------------------------------------ receptive fields
def _check_fields(n_fields: int) -> int:
    if not isinstance(n_fields, (int, np.integer)) or isinstance(n_fields, bool):
        raise TypeError(f"n_fields must be an int, got {type(n_fields).__name__}")
    if n_fields < 3:
        raise SpikegradInputError(f"n_fields must be >= 3 (the centres use M - 2), got {n_fields}")
    return int(n_fields)


def grf_centres(
    i_min: np.ndarray | float,
    i_max: np.ndarray | float,
    n_fields: int,
    numbering: str = "one_based",
) -> np.ndarray:
    r"""Centres :math:`\mu_j = I_\min + \frac{2j-3}{2}\frac{I_\max-I_\min}{M-2}`.

    Parameters
    ----------
    i_min, i_max:
        Range of each feature, scalars or arrays ``[F]``.
    n_fields:
        :math:`M \ge 3` fields per feature.
    numbering:
        ``"one_based"`` (:math:`j = 1..M`, default) or ``"zero_based"`` (:math:`j = 0..M-1`).

    Returns
    -------
    numpy.ndarray
        ``[F, M]`` (or ``[M]`` for scalar ranges).
    """
    m = _check_fields(n_fields)
    check_choice("numbering", numbering, NUMBERINGS)
    j = (
        np.arange(1, m + 1, dtype=np.float64)
        if numbering == "one_based"
        else np.arange(m, dtype=np.float64)
    )
    lo = np.asarray(i_min, dtype=np.float64)
    hi = np.asarray(i_max, dtype=np.float64)
    return lo[..., None] + ((2.0 * j - 3.0) / 2.0) * ((hi - lo) / (m - 2))[..., None]


def grf_sigma(
    i_min: np.ndarray | float, i_max: np.ndarray | float, n_fields: int, beta: float
) -> np.ndarray:
    r"""Width :math:`\sigma = (I_\max - I_\min)/(\beta (M-2))`; 1 where :math:`I_\max = I_\min`."""
    m = _check_fields(n_fields)
    b = check_positive("beta", beta)
    span = np.asarray(i_max, dtype=np.float64) - np.asarray(i_min, dtype=np.float64)
    return np.where(span > 0, span / (b * (m - 2)), 1.0)


def grf_responses(
    x: np.ndarray,
    i_min: np.ndarray,
    i_max: np.ndarray,
    n_fields: int,
    beta: float,
    numbering: str = "one_based",
) -> np.ndarray:
    r"""Field responses :math:`r_j = \exp(-(x-\mu_j)^2/2\sigma^2)` for features ``x`` ``[F]``.

    Returns ``[F, M]``; rows of non-finite features are NaN (no spikes).
    """
    mu = grf_centres(i_min, i_max, n_fields, numbering)
    sig = grf_sigma(i_min, i_max, n_fields, beta)
    xx = np.asarray(x, dtype=np.float64)
    d = (xx[..., None] - mu) / sig[..., None]
    return np.exp(-0.5 * d * d)


def grf_spike_times(responses: np.ndarray) -> np.ndarray:
    r"""Spike times :math:`t_j = 1 - r_j` of field responses in [0, 1] (NaN stays NaN: no spike).

    This is the linear map of :func:`latency` with :math:`\theta = 0` on a unit time
    axis (``latency(r, 1, code="linear", theta=0, output="times")`` gives the same
    times, bit for bit, wherever :math:`t < 1`), but without a threshold or an end
    of trial: every field fires, one whose time rounds to :math:`t = 1` (response
    below :math:`2^{-53}`, or 0 by underflow far from its centre) last, at
    :math:`t = 1`, where the latency code would drop it. eSNN/OeSNN rank all
    :math:`M` fields of a feature, so dropping them would change the rank-order code
    (and OeSNN's numbers). It stays a numpy function for the per-sample cost
    (module docstring).
    """
    return 1.0 - np.asarray(responses, dtype=np.float64)


def rank_order(times: np.ndarray, late_cut: float | None = None) -> np.ndarray:
    r"""Indices of the spiking inputs in firing order (stable sort of the flat times).

    Parameters
    ----------
    times:
        Spike times of every input (any shape; flattened in C order). NaN
        (or inf) means no spike.
    late_cut:
        Spikes later than this count as absent (``None``: keep all).

    Returns
    -------
    numpy.ndarray
        Flat input indices, earliest first; ties keep input order.
    """
    t = np.asarray(times, dtype=np.float64).ravel()
    ok = np.isfinite(t)
    if late_cut is not None:
        ok &= t <= late_cut
    idx = np.flatnonzero(ok)
    return idx[np.argsort(t[idx], kind="stable")]


# ------------------------------------------------------------ tensor encoders
def rate_code(
    x: Tensor, n_steps: int, *, generator: torch.Generator, gain: float = 1.0
) -> Tensor:
    r"""Bernoulli rate code: :math:`S[n] \sim \mathrm{Bernoulli}(\min(1, \text{gain}\,x))`
    independently per step and element; ``[n_steps, *x.shape]`` in ``x``'s float dtype.

    ``x`` holds firing probabilities per step in [0, 1] (any shape, e.g. ``[B, C, H, W]``
    images scaled to [0, 1]); ``gain`` scales them. Draws only from ``generator``.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 1:
        raise SpikegradInputError(f"n_steps must be an integer >= 1, got {n_steps!r}")
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        x = x.to(torch.float32)
    p = x * check_positive("gain", gain)
    if p.numel() and (not bool(torch.isfinite(p).all()) or float(p.min()) < 0):
        raise SpikegradInputError("x must hold finite probabilities >= 0")
    u = torch.rand((int(n_steps), *x.shape), generator=generator, dtype=x.dtype)
    return (u < p.clamp(max=1.0)).to(x.dtype)


def delta_code(x: Tensor, threshold: float, *, polarity: bool = True) -> Tensor:
    r"""Level-crossing (send-on-delta) code of a time-major signal ``x`` ``[T, ...]``.

    A reference level :math:`r` starts at :math:`x[0]`; at each step :math:`n \ge 1`,
    an ON spike is sent and :math:`r \mathrel{+}= \vartheta` when :math:`x[n] - r \ge
    \vartheta`, an OFF spike and :math:`r \mathrel{-}= \vartheta` when
    :math:`r - x[n] \ge \vartheta` (at most one spike per step and element; a faster
    change is sent over the following steps, as a delta modulator does).

    Returns ``[T, 2, ...]`` (channel 0 ON, 1 OFF) if ``polarity``, else ON spikes
    ``[T, ...]`` only; float dtype of ``x``. For a batch ``[T, B, ...]`` the polarity
    channel comes after the batch: use ``.movedim(1, 2)`` for ``[T, B, 2, ...]``.
    """
    thr = check_positive("threshold", threshold)
    x = torch.as_tensor(x)
    if x.dim() < 1 or x.shape[0] < 1:
        raise SpikegradInputError(
            f"x must be time-major [T, ...] with T >= 1, got {tuple(x.shape)}"
        )
    if not x.is_floating_point():
        x = x.to(torch.float64)
    if not bool(torch.isfinite(x).all()):
        raise SpikegradInputError("x contains non-finite values (NaN or inf)")
    ref = x[0].clone()
    on = torch.zeros_like(x)
    off = torch.zeros_like(x)
    for n in range(1, x.shape[0]):
        up = x[n] - ref >= thr
        down = ref - x[n] >= thr
        on[n] = up.to(x.dtype)
        off[n] = down.to(x.dtype)
        ref = ref + thr * (on[n] - off[n])
    return torch.stack([on, off], dim=1) if polarity else on
