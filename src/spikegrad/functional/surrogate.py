r"""Surrogate spike functions, as values.

The forward pass of every surrogate is the Heaviside step of the distance to
threshold, :math:`S = \Theta(x)` with :math:`x = U - 1` and :math:`\Theta(0) = 0`.
The backward pass replaces :math:`\Theta'(x)` (zero almost everywhere) by a
surrogate derivative :math:`h(x)` of adjustable scale :math:`\beta`
(Zenke & Vogels 2021, Table in Sec. 2):

================================  ==============================================
name                              :math:`h(x)`
================================  ==============================================
``superspike`` (default)          :math:`1/(\beta|x|+1)^2`
``sigmoid``                       :math:`s(1-s)`, :math:`s = \sigma(\beta x)`
``esser`` (piecewise linear)      :math:`\max(0, 1-\beta|x|)`
``asymptotic_superspike``         :math:`\beta/(\beta|x|+1)^2`  (:math:`\to\delta(x)`)
``constant``                      :math:`1`
``zero`` ("true" gradient)        :math:`0`
``exponential``                   :math:`\exp(-\beta|x|)`
``gaussian``                      :math:`\exp(-(\beta x)^2/2)`
``arctan``                        :math:`1/(1+(\pi\beta x)^2)`
================================  ==============================================

All but the asymptotic one are *normalised*: their peak does not grow with
:math:`\beta` (the sigmoid's peak is 1/4, as in the paper). A surrogate is a
small frozen dataclass; build one directly (``SuperSpike(beta=10)``) or by name
from the registry (``make_surrogate("superspike", beta=10)``).

Each surrogate also exposes :meth:`Surrogate.primitive`, a smooth function whose
derivative is :math:`h` (where one exists). Tests use it to check the backward
values against finite differences, and to check the whole BPTT wiring against
finite differences with the step replaced by its smooth primitive.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .._checks import SpikegradInputError

__all__ = [
    "Surrogate",
    "SuperSpike",
    "SigmoidDerivative",
    "Esser",
    "AsymptoticSuperSpike",
    "Constant",
    "Zero",
    "Exponential",
    "Gaussian",
    "Arctan",
    "Relaxed",
    "SURROGATES",
    "make_surrogate",
    "heaviside",
]


#: Largest accepted scale: beyond it ``beta * x`` overflows float32 and the surrogate
#: derivative at threshold becomes ``inf * 0 = NaN``.
_MAX_BETA = 1e30


def heaviside(x: torch.Tensor) -> torch.Tensor:
    r"""Heaviside step with :math:`\Theta(0) = 0`: ``(x > 0)`` in ``x``'s dtype."""
    return (x > 0).to(x.dtype)


class _SpikeFunction(torch.autograd.Function):
    """Heaviside forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return surrogate.forward_value(x)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad_out * ctx.surrogate.derivative(x), None


@dataclass(frozen=True)
class Surrogate:
    """Base class: a spike nonlinearity with a surrogate derivative of scale ``beta``.

    Subclasses implement :meth:`derivative` (and :meth:`primitive` where the
    derivative has a closed-form antiderivative).
    """

    beta: float = 10.0
    name = "surrogate"
    #: peak value of ``h`` at x = 0 when ``beta`` is 1 (documentation only)
    normalised = True

    def __post_init__(self) -> None:
        try:
            b = float(self.beta)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"surrogate beta must be a number, got {self.beta!r}") from exc
        if not math.isfinite(b) or b < 0 or b > _MAX_BETA:
            raise SpikegradInputError(
                f"surrogate beta must be a finite number in [0, {_MAX_BETA:g}], got {self.beta!r}"
            )
        object.__setattr__(self, "beta", b)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        r"""Surrogate derivative :math:`h(x)` used in the backward pass."""
        raise NotImplementedError

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        r"""A smooth :math:`H(x)` with :math:`H'(x) = h(x)`, for gradient checks."""
        raise NotImplementedError(f"{type(self).__name__} has no closed-form primitive")

    def forward_value(self, x: torch.Tensor) -> torch.Tensor:
        r"""Forward value of the spike: :math:`\Theta(x)` (all but :class:`Relaxed`)."""
        return heaviside(x)

    def spike(self, x: torch.Tensor) -> torch.Tensor:
        r"""Spikes :math:`\Theta(x)` whose gradient is :math:`h(x)`; ``x = U - 1``."""
        return _SpikeFunction.apply(x, self)

    __call__ = spike

    def __repr__(self) -> str:  # concise, used in logs and configs
        return f"{type(self).__name__}(beta={self.beta:g})"


@dataclass(frozen=True, repr=False)
class SuperSpike(Surrogate):
    r""":math:`h(x) = 1/(\beta|x| + 1)^2` (Zenke & Ganguli 2018); peak 1."""

    name = "superspike"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (self.beta * x.abs() + 1.0) ** 2

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        # d/dx x / (1 + beta|x|) = 1 / (1 + beta|x|)^2
        return x / (1.0 + self.beta * x.abs())


@dataclass(frozen=True, repr=False)
class SigmoidDerivative(Surrogate):
    r""":math:`h(x) = s(1-s)` with :math:`s = \sigma(\beta x)`; peak 1/4 (not times beta)."""

    name = "sigmoid"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.beta * x)
        return s * (1.0 - s)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 0:
            return 0.25 * x
        return torch.sigmoid(self.beta * x) / self.beta


@dataclass(frozen=True, repr=False)
class Esser(Surrogate):
    r"""Piecewise linear (Esser et al. 2016): :math:`h(x) = \max(0, 1 - \beta|x|)`."""

    name = "esser"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(1.0 - self.beta * x.abs(), min=0.0)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 0:
            return x
        xc = torch.clamp(x, -1.0 / self.beta, 1.0 / self.beta)
        return xc - 0.5 * self.beta * xc * xc.abs()


@dataclass(frozen=True, repr=False)
class AsymptoticSuperSpike(Surrogate):
    r""":math:`h(x) = \beta/(\beta|x|+1)^2`, which tends to :math:`\delta(x)` as beta grows.

    Not normalised: the peak is ``beta``. With a detached reset and no
    recurrence it only rescales gradients by ``beta`` (Zenke & Vogels Fig. 5).
    """

    name = "asymptotic_superspike"
    normalised = False

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta / (self.beta * x.abs() + 1.0) ** 2

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return self.beta * x / (1.0 + self.beta * x.abs())


@dataclass(frozen=True, repr=False)
class Constant(Surrogate):
    r""":math:`h(x) = 1` (the straight-through control of Fig. 3c); ``beta`` is ignored."""

    name = "constant"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(x)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return x


@dataclass(frozen=True, repr=False)
class Zero(Surrogate):
    r""":math:`h(x) = 0`: the "true" gradient of the step, zero almost everywhere."""

    name = "zero"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


@dataclass(frozen=True, repr=False)
class Exponential(Surrogate):
    r""":math:`h(x) = \exp(-\beta|x|)`; peak 1."""

    name = "exponential"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-self.beta * x.abs())

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 0:
            return x
        return torch.sign(x) * (1.0 - torch.exp(-self.beta * x.abs())) / self.beta


@dataclass(frozen=True, repr=False)
class Gaussian(Surrogate):
    r""":math:`h(x) = \exp(-(\beta x)^2 / 2)`; peak 1."""

    name = "gaussian"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-0.5 * (self.beta * x) ** 2)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 0:
            return x
        return math.sqrt(math.pi / 2.0) / self.beta * torch.erf(self.beta * x / math.sqrt(2.0))


@dataclass(frozen=True, repr=False)
class Arctan(Surrogate):
    r""":math:`h(x) = 1/(1 + (\pi\beta x)^2)`; peak 1 (derivative of an arctan step)."""

    name = "arctan"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 / (1.0 + (math.pi * self.beta * x) ** 2)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        if self.beta == 0:
            return x
        return torch.atan(math.pi * self.beta * x) / (math.pi * self.beta)


@dataclass(frozen=True, repr=False, init=False)
class Relaxed(Surrogate):
    r"""Verification device, not for training: forward :math:`H(x)` (the smooth primitive
    of ``base``) instead of the step, backward :math:`h(x)` as usual.

    With this forward, the surrogate backward pass *is* the exact derivative, so a
    network built with ``Relaxed(s)`` can be checked against finite differences
    (``torch.autograd.gradcheck``): this verifies the BPTT wiring (reset, recurrence,
    time constants) of any implementation that uses ``surrogate.forward_value`` and
    ``surrogate.derivative``.
    """

    base: Surrogate = None  # type: ignore[assignment]
    name = "relaxed"

    def __init__(self, base: Surrogate | None = None) -> None:
        base = SuperSpike() if base is None else base
        if not isinstance(base, Surrogate):
            raise TypeError(f"Relaxed wraps a Surrogate, got {type(base).__name__}")
        object.__setattr__(self, "base", base)
        object.__setattr__(self, "beta", base.beta)

    def forward_value(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.primitive(x)

    def derivative(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.derivative(x)

    def primitive(self, x: torch.Tensor) -> torch.Tensor:
        return self.base.primitive(x)

    def __repr__(self) -> str:
        return f"Relaxed({self.base!r})"


#: Registry: surrogate name -> factory ``(beta) -> Surrogate``. Read-only by convention.
SURROGATES: dict[str, Callable[..., Surrogate]] = {
    cls.name: cls
    for cls in (
        SuperSpike,
        SigmoidDerivative,
        Esser,
        AsymptoticSuperSpike,
        Constant,
        Zero,
        Exponential,
        Gaussian,
        Arctan,
    )
}
_ALIASES = {
    "sigmoid_derivative": "sigmoid",
    "piecewise_linear": "esser",
    "triangle": "esser",
    "asymptotic": "asymptotic_superspike",
    "true": "zero",
    "atan": "arctan",
}


def make_surrogate(name: str | Surrogate, beta: float = 10.0) -> Surrogate:
    """Build a surrogate from its registry name (or pass a :class:`Surrogate` through).

    Raises
    ------
    SpikegradInputError
        If ``name`` is unknown; the message lists the valid names.
    """
    if isinstance(name, Surrogate):
        return name
    if not isinstance(name, str):
        raise TypeError(f"surrogate must be a name or a Surrogate, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in SURROGATES:
        raise SpikegradInputError(
            f"unknown surrogate {name!r}; valid names: {', '.join(sorted(SURROGATES))}"
        )
    return SURROGATES[key](beta=beta)
