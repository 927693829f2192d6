r"""Spike-train kernels, inner products and metrics.

A spike train :math:`s = \sum_m \delta(t - t^m)` is mapped by a symmetric
kernel :math:`\kappa` into a function space with inner product

.. math::

    \langle s_i, s_j \rangle = \sum_m \sum_n \kappa(t_i^m, t_j^n),

(Lin, Zhang & Zhang 2012; Wang, Lin & Dang 2019) and induced distance
:math:`\|s_i - s_j\|^2 = \langle s_i,s_i\rangle - 2\langle s_i,s_j\rangle
+ \langle s_j,s_j\rangle`. Two kernels are provided:

* Gaussian :math:`\kappa(a, b) = \exp(-(a-b)^2 / 2\sigma^2)`,
  :math:`\partial_1\kappa = -\frac{a-b}{\sigma^2}\kappa`;
* Laplacian :math:`\kappa(a, b) = \exp(-|a-b| / \tau)`,
  :math:`\partial_1\kappa = -\frac{\operatorname{sign}(a-b)}{\tau}\kappa`
  (taken as 0 at :math:`a = b`).

Trains are padded ``[..., M]`` tensors with a mask (:class:`SpikeTrains`);
every kernel sum is one broadcast evaluation and a masked sum over the two
slot dimensions, batched over the leading dimensions. A mask may also be a
floating tensor of *spike weights* :math:`\alpha_m` (the sum becomes
:math:`\sum_m\sum_n \alpha_m\beta_n\kappa(\cdot,\cdot)`), which is how the
linear approximation :math:`s_a \approx \sum_i w_i s_i` of the learning rules
is expressed.

Metrics
-------
* :func:`van_rossum_distance`: with the causal exponential filter
  :math:`f(t) = \sum_m e^{-(t - t^m)/\tau}\Theta(t - t^m)` and
  :math:`D^2 = \frac1\tau\int (f_a - f_b)^2\,dt` (van Rossum 2001) one has
  :math:`\frac1\tau\int f_i f_j\,dt = \frac12\sum\sum e^{-|t_i^m - t_j^n|/\tau}`,
  so :math:`D^2 = \frac12\|s_a - s_b\|^2_\text{Laplacian}` exactly (one
  lone spike: :math:`D^2 = 1/2`).
* :func:`schreiber_correlation`: the correlation measure of Schreiber et al. 2003,
  :math:`C = v_a\cdot v_b/(\|v_a\|\|v_b\|)` of the trains filtered by a
  Gaussian of width :math:`\sigma_C`. On the infinite time axis
  :math:`\int g_\sigma(t - a) g_\sigma(t - b)\,dt \propto e^{-(a-b)^2/4\sigma^2}`,
  so :math:`C` is the normalised Gaussian-kernel inner product with width
  :math:`\sqrt2\,\sigma_C`; :func:`schreiber_correlation_binned` computes the
  same on a time grid. Convention for empty trains: :math:`C = 1` if both
  trains are empty, :math:`C = 0` if exactly one is.

Differentiable losses of binned trains ``[T, ...]`` (for surrogate-gradient BPTT):
:func:`van_rossum_binned` and :func:`gaussian_kernel_loss`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .._checks import SpikegradInputError, check_positive
from .spiketrains import SpikeTrains, check_trains

__all__ = [
    "SpikeKernel",
    "GaussianKernel",
    "LaplacianKernel",
    "make_kernel",
    "pairwise",
    "inner_product",
    "kernel_distance",
    "kernel_error",
    "van_rossum_distance",
    "van_rossum_binned",
    "schreiber_correlation",
    "schreiber_correlation_binned",
    "gaussian_kernel_loss",
]


@dataclass(frozen=True)
class SpikeKernel:
    """Base class of a translation-invariant kernel :math:`\\kappa(a, b) = k(a - b)`."""

    name = "kernel"

    def value(self, diff: torch.Tensor) -> torch.Tensor:
        """:math:`k(a - b)` for ``diff = a - b``."""
        raise NotImplementedError

    def d1(self, diff: torch.Tensor) -> torch.Tensor:
        r""":math:`\partial_a \kappa(a, b)` for ``diff = a - b``."""
        raise NotImplementedError

    def __call__(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.value(a - b)


@dataclass(frozen=True)
class GaussianKernel(SpikeKernel):
    r""":math:`\kappa(a, b) = \exp(-(a-b)^2/2\sigma^2)` (``sigma`` in seconds)."""

    sigma: float = 5e-3
    name = "gaussian"

    def __post_init__(self) -> None:
        object.__setattr__(self, "sigma", check_positive("sigma", self.sigma))

    def value(self, diff: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (diff / self.sigma) ** 2)

    def d1(self, diff: torch.Tensor) -> torch.Tensor:
        return -diff / self.sigma**2 * self.value(diff)


@dataclass(frozen=True)
class LaplacianKernel(SpikeKernel):
    r""":math:`\kappa(a, b) = \exp(-|a-b|/\tau)` (``tau`` in seconds)."""

    tau: float = 5e-3
    name = "laplacian"

    def __post_init__(self) -> None:
        object.__setattr__(self, "tau", check_positive("tau", self.tau))

    def value(self, diff: torch.Tensor) -> torch.Tensor:
        return torch.exp(-diff.abs() / self.tau)

    def d1(self, diff: torch.Tensor) -> torch.Tensor:
        return -torch.sign(diff) / self.tau * self.value(diff)


def make_kernel(name: str | SpikeKernel, width: float = 5e-3) -> SpikeKernel:
    """A kernel by name (``"gaussian"`` / ``"laplacian"``) and width (sigma or tau, seconds)."""
    if isinstance(name, SpikeKernel):
        return name
    key = str(name).strip().lower()
    if key == "gaussian":
        return GaussianKernel(width)
    if key in ("laplacian", "laplace", "exponential"):
        return LaplacianKernel(width)
    raise SpikegradInputError(f"unknown kernel {name!r}; valid names: gaussian, laplacian")


def _weights(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    return mask.to(dtype)


def pairwise(x: SpikeTrains, y: SpikeTrains, fn) -> torch.Tensor:
    r"""Masked pair sum :math:`\sum_m\sum_n \alpha_m\beta_n\,\mathrm{fn}(t_x^m - t_y^n)`.

    ``x`` is ``[..., M]``, ``y`` is ``[..., P]``; leading dimensions broadcast.
    Returns ``[...]``. Padding slots never enter ``fn``'s result (``torch.where``),
    so arbitrary padding values cannot produce NaN.
    """
    tx, mx = x
    ty, my = y
    diff = tx.unsqueeze(-1) - ty.unsqueeze(-2)
    w = _weights(mx, tx.dtype).unsqueeze(-1) * _weights(my, tx.dtype).unsqueeze(-2)
    real = (mx.unsqueeze(-1) != 0) & (my.unsqueeze(-2) != 0)
    safe = torch.where(real, diff, torch.zeros_like(diff))
    vals = fn(safe)
    return torch.where(real, vals * w, torch.zeros_like(vals)).sum((-1, -2))


def inner_product(x: SpikeTrains, y: SpikeTrains, kernel: SpikeKernel) -> torch.Tensor:
    r""":math:`\langle s_x, s_y\rangle = \sum_m\sum_n \kappa(t_x^m, t_y^n)`, batched ``[...]``.

    Empty trains give 0. Differentiable in the spike times (autograd).
    """
    x = check_trains("x", x)
    y = check_trains("y", y)
    return pairwise(x, y, kernel.value)


def kernel_distance(
    x: SpikeTrains, y: SpikeTrains, kernel: SpikeKernel, *, squared: bool = False
) -> torch.Tensor:
    r"""Induced distance :math:`\|s_x - s_y\| = \sqrt{\langle x,x\rangle - 2\langle x,y\rangle
    + \langle y,y\rangle}` (clamped at 0 against round-off)."""
    d2 = (
        inner_product(x, x, kernel) - 2 * inner_product(x, y, kernel) + inner_product(y, y, kernel)
    ).clamp_min(0.0)
    return d2 if squared else d2.sqrt()


def kernel_error(actual: SpikeTrains, desired: SpikeTrains, kernel: SpikeKernel) -> torch.Tensor:
    r"""The learning rules' error :math:`E = \tfrac12\|s_a - s_d\|^2`."""
    return 0.5 * kernel_distance(actual, desired, kernel, squared=True)


def van_rossum_distance(
    x: SpikeTrains, y: SpikeTrains, tau: float = 10e-3, *, squared: bool = False
) -> torch.Tensor:
    r"""Van Rossum distance, exact in continuous time:

    :math:`D^2 = \frac1\tau\int (f_x - f_y)^2 dt
    = \frac12\|s_x - s_y\|^2_{\text{Laplacian}(\tau)}`."""
    d2 = 0.5 * kernel_distance(x, y, LaplacianKernel(tau), squared=True)
    return d2 if squared else d2.sqrt()


def van_rossum_binned(
    x: torch.Tensor, y: torch.Tensor, tau: float = 10e-3, dt: float = 1e-3
) -> torch.Tensor:
    r"""Differentiable squared van Rossum distance of binned trains ``[T, ...]``.

    :math:`f[n] = \sum_{m \le n} e^{-(n - m)\Delta t/\tau} x[m]` and
    :math:`D^2 = \frac{\Delta t}{\tau}\sum_n (f_x[n] - f_y[n])^2`, summed over
    time only (returns ``[...]``). Approaches the continuous :math:`D^2` as
    :math:`\Delta t/\tau \to 0` (the filtered trace is sampled after each jump).
    Use it as a loss for surrogate-gradient BPTT on ``[T, B, N]`` outputs.
    """
    tau = check_positive("tau", tau)
    dt = check_positive("dt", dt)
    if x.shape != y.shape:
        raise SpikegradInputError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have one shape")
    a = math.exp(-dt / tau)
    diff = x - y
    f = torch.zeros_like(diff[0])
    acc = torch.zeros_like(diff[0])
    for n in range(diff.shape[0]):
        f = a * f + diff[n]
        acc = acc + f * f
    return acc * (dt / tau)


def schreiber_correlation(x: SpikeTrains, y: SpikeTrains, sigma: float = 2e-3) -> torch.Tensor:
    r"""Schreiber et al. 2003 correlation :math:`C` of Gaussian-filtered trains, ``[...]``.

    Exact on the infinite time axis (see the module notes):
    :math:`C = \langle x,y\rangle_{G} / \sqrt{\langle x,x\rangle_{G}\langle y,y\rangle_{G}}`
    with the Gaussian kernel of width :math:`\sqrt2\sigma`. Both empty: 1; one empty: 0.
    """
    sigma = check_positive("sigma", sigma)
    k = GaussianKernel(math.sqrt(2.0) * sigma)
    xy = inner_product(x, y, k)
    xx = inner_product(x, x, k)
    yy = inner_product(y, y, k)
    nx = check_trains("x", x).mask.sum(-1)
    ny = check_trains("y", y).mask.sum(-1)
    nx, ny = torch.broadcast_tensors(nx, ny)
    denom = (xx * yy).clamp_min(1e-300).sqrt()
    c = xy / denom
    both_empty = (nx == 0) & (ny == 0)
    one_empty = (nx == 0) ^ (ny == 0)
    c = torch.where(both_empty, torch.ones_like(c), c)
    return torch.where(one_empty, torch.zeros_like(c), c)


def schreiber_correlation_binned(
    x: torch.Tensor, y: torch.Tensor, sigma: float = 2e-3, dt: float = 1e-3
) -> torch.Tensor:
    r"""Schreiber :math:`C` computed on the time grid: binned trains ``[T, ...]`` are
    convolved with :math:`e^{-t^2/2\sigma^2}` (truncated at :math:`\pm 5\sigma`,
    zero padding) and :math:`C = v_x\cdot v_y/(\|v_x\|\|v_y\|)` over time."""
    sigma = check_positive("sigma", sigma)
    dt = check_positive("dt", dt)
    half = max(1, int(math.ceil(5 * sigma / dt)))
    k = torch.exp(-0.5 * (torch.arange(-half, half + 1, dtype=x.dtype) * dt / sigma) ** 2)
    T = x.shape[0]

    def filt(z: torch.Tensor) -> torch.Tensor:
        flat = z.reshape(T, -1).t().unsqueeze(1)  # [K, 1, T]
        out = torch.nn.functional.conv1d(flat, k.view(1, 1, -1), padding=half)
        return out.squeeze(1).t().reshape(z.shape)

    vx, vy = filt(x), filt(y)
    num = (vx * vy).sum(0)
    nx, ny = (vx * vx).sum(0), (vy * vy).sum(0)
    c = num / (nx * ny).clamp_min(1e-300).sqrt()
    ex, ey = x.sum(0) == 0, y.sum(0) == 0
    c = torch.where(ex & ey, torch.ones_like(c), c)
    return torch.where(ex ^ ey, torch.zeros_like(c), c)


def gaussian_kernel_loss(x: torch.Tensor, y: torch.Tensor, width: float, dt: float) -> torch.Tensor:
    r"""Squared Gaussian-kernel distance of binned trains ``[T, ...]`` (sum over time only):

    .. math::

        L = \sum_{m,n} (x - y)[m]\,(x - y)[n]\; e^{-((m - n)\Delta t)^2 / 2 w^2}

    (kernel truncated at :math:`\pm 5w`); ``width`` :math:`w` and ``dt`` in seconds.
    Differentiable in ``x``: a BPTT loss on ``[T, B, N]`` spikes.
    """
    width = check_positive("width", width)
    dt = check_positive("dt", dt)
    if x.shape != y.shape:
        raise SpikegradInputError(f"x {tuple(x.shape)} and y {tuple(y.shape)} must have one shape")
    half = max(1, int(math.ceil(5 * width / dt)))
    k = torch.exp(
        -0.5 * (torch.arange(-half, half + 1, dtype=x.dtype, device=x.device) * dt / width) ** 2
    )
    diff = x - y
    T = diff.shape[0]
    flat = diff.reshape(T, -1).t().unsqueeze(1)
    conv = torch.nn.functional.conv1d(flat, k.view(1, 1, -1), padding=half).squeeze(1).t()
    return (conv * diff.reshape(T, -1)).sum(0).reshape(diff.shape[1:])
