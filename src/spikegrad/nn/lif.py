"""PyTorch modules for the current-based LIF layer and the leaky-integrator readout.

Modules hold parameters only; the simulation state lives inside one call of
``forward`` (no hidden state between calls, nothing to reset).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import torch
from torch import nn

from .._checks import (
    SpikegradInputError,
    check_choice,
    check_positive,
    check_sequence_tensor,
    check_size,
)
from .._checks import (
    check_finite as check_finite_values,
)
from ..functional.alif import ALIF_RESET_MODES, ALIFParams, alif_sequence, refractory_steps
from ..functional.lif import LIFParams, decay, li_sequence, lif_sequence
from ..functional.surrogate import Surrogate, make_surrogate
from ..init import uniform_
from ..kernels import lif_numba, lif_triton
from ..kernels._membrane import membrane_without_gradient, needs_graph
from ..kernels.alif_fused import alif_sequence_fused
from ..kernels.event_linear import event_linear
from ..kernels.lif_fused import li_sequence_fused, lif_sequence_fused
from .spec import records_init

__all__ = ["BACKENDS", "CurrentNoise", "LIFLayer", "Readout", "TimeConstants"]

#: Simulation backends: ``"reference"`` (plain autograd through the step loop),
#: ``"fused"`` (one autograd function with a hand-written BPTT in torch ops,
#: :mod:`spikegrad.kernels.lif_fused`), ``"numba"`` (compiled CPU kernels with
#: event-driven projections, feed-forward and recurrent,
#: :mod:`spikegrad.kernels.lif_numba`), ``"triton"`` (GPU kernels,
#: :mod:`spikegrad.kernels.lif_triton`; CUDA tensors, or CPU under ``TRITON_INTERPRET=1``),
#: ``"auto"`` (numba on CPU where it applies, Triton on CUDA where it is installed, else
#: fused).
BACKENDS = ("auto", "numba", "fused", "reference", "triton")


def _resolve_backend(backend: str) -> str:
    return check_choice("backend", backend, BACKENDS)


def _new_weight(out_f: int, in_f: int, generator: torch.Generator | None) -> torch.Tensor:
    try:
        w = torch.empty(out_f, in_f)
    except (RuntimeError, TypeError) as exc:  # size overflow or out of memory
        raise SpikegradInputError(
            f"cannot allocate a weight matrix for out_features={out_f}, in_features={in_f} "
            f"(too large): {str(exc).splitlines()[0]}"
        ) from exc
    return uniform_(w, generator)


def _uses_triton(
    backend: str, surrogate: Surrogate | None, x: torch.Tensor, why: str | None
) -> bool:
    """Whether a call on ``x`` runs the Triton kernels: always for ``backend="triton"``
    (raising, with the reason, if they cannot run it), for ``"auto"`` on CUDA tensors
    when they can. ``why`` is a layer option the kernels do not implement, or ``None``."""
    if backend != "triton" and (backend != "auto" or x.device.type != "cuda"):
        return False  # (auto on CPU never imports triton)
    why = why or lif_triton.unsupported(surrogate, x)
    if backend == "triton":
        if why is not None:
            raise SpikegradInputError(f"backend='triton': {why}; use backend='auto' or 'fused'")
        return True
    return why is None


def _check_input_dtype(x: torch.Tensor, weight: torch.Tensor) -> None:
    if x.dtype != weight.dtype:
        raise TypeError(
            f"x has dtype {x.dtype} but the layer's weights are {weight.dtype}; convert the "
            f"input (x.to({weight.dtype})) or the module (.to({x.dtype}))"
        )


def _check_projection(projection: object, in_f: int, out_f: int, dt: float) -> nn.Module | None:
    if projection is None:
        return None
    if not isinstance(projection, nn.Module) or not isinstance(
        getattr(projection, "weight", None), nn.Parameter
    ):
        raise TypeError(
            f"projection must be an nn.Module with a weight parameter, got {projection!r}"
        )
    shape = tuple(projection.weight.shape)  # type: ignore[arg-type]  # checked Parameter above
    if shape != (out_f, in_f):
        raise SpikegradInputError(
            f"projection weight is {shape}, the layer needs ({out_f}, {in_f})"
        )
    if getattr(projection, "dt", dt) != dt:
        raise SpikegradInputError(
            f"projection has dt={projection.dt!r} s but the layer dt={dt!r} s"
        )
    return projection


class CurrentNoise:
    r"""The injection point of node perturbation: noise added to a layer's input current.

    A layer with this mixin computes its input current :math:`c[n]` (``W S_in[n]``, the
    convolution, ...) and integrates :meth:`perturb_current` of it,

    .. math:: I[n+1] = \beta_\text{syn} I[n] + c[n] + \xi[n],
              \qquad \xi = \texttt{current\_noise}(c),

    where ``current_noise`` is ``None`` (the default: no perturbation, the layer's own
    fast paths unchanged) or a function of the current tensor returning a noise tensor
    of its shape (``[T, B, N]``; ``[T, B, C*H*W]`` for convolutions). A perturbed layer
    runs its autograd path (the compiled numba kernels compute the projection themselves
    and are skipped). :class:`~spikegrad.learning.rules.perturbation.NodePerturbation`
    sets it for the noisy trials and removes it afterwards.
    """

    current_noise: Callable[[torch.Tensor], torch.Tensor] | None = None

    def perturb_current(self, current: torch.Tensor) -> torch.Tensor:
        """``current + current_noise(current)``, or ``current`` itself without noise."""
        f = self.current_noise
        return current if f is None else current + f(current)


class TimeConstants(nn.Module):
    r"""Membrane and synaptic time constants: fixed floats, or learnable per neuron.

    The time-constant part of :class:`LIFLayer` and :class:`Readout` (their ``taus``).

    Parameters
    ----------
    n:
        Number of neurons (length of the learnable per-neuron taus).
    tau_mem, tau_syn, dt:
        Time constants and step in seconds (each a finite number > 0).
    learn:
        Hold the taus as ``[n]`` parameters (initialised to ``tau_mem`` / ``tau_syn``)
        instead of fixed floats.
    """

    def __init__(self, n: int, tau_mem: float, tau_syn: float, dt: float, learn: bool) -> None:
        super().__init__()
        self.dt = check_positive("dt", dt)
        tau_mem = check_positive("tau_mem", tau_mem)
        tau_syn = check_positive("tau_syn", tau_syn)
        self.learn_tau = bool(learn)
        self.tau_mem: nn.Parameter | float
        self.tau_syn: nn.Parameter | float
        if learn:
            self.tau_mem = nn.Parameter(torch.full((n,), tau_mem))
            self.tau_syn = nn.Parameter(torch.full((n,), tau_syn))
        else:
            self.tau_mem, self.tau_syn = tau_mem, tau_syn

    def params(self) -> LIFParams:
        r"""Decay factors :math:`e^{-\Delta t/\tau}`; learnable taus are kept >= dt/10."""
        if isinstance(self.tau_mem, torch.Tensor) and isinstance(self.tau_syn, torch.Tensor):
            floor = self.dt / 10
            return LIFParams(
                decay(self.tau_mem.clamp_min(floor), self.dt),
                decay(self.tau_syn.clamp_min(floor), self.dt),
            )
        return LIFParams(decay(self.tau_mem, self.dt), decay(self.tau_syn, self.dt))


@records_init
class LIFLayer(CurrentNoise, nn.Module):
    r"""A layer of current-based LIF neurons (Zenke & Vogels eq. 4.1), feed-forward or recurrent.

    Parameters
    ----------
    in_features, out_features:
        Sizes of the presynaptic and this layer's population.
    recurrent:
        Add all-to-all recurrent weights ``V`` (``rec_weight``, ``[out, out]``).
    tau_mem, tau_syn, dt:
        Time constants and step in seconds (defaults 10 ms, 5 ms, 1 ms).
    surrogate:
        A :class:`~spikegrad.functional.surrogate.Surrogate` or a registry name.
    beta:
        Surrogate scale when ``surrogate`` is a name (default 10).
    reset:
        ``"detach"`` (default: reset to zero, no gradient through the reset),
        ``"differentiable"`` (reset to zero, gradient through it) or ``"subtract"``
        (reset by subtracting the threshold; see :mod:`spikegrad.functional.alif`).
    recurrent_grad:
        Propagate gradients through the recurrent connections (default ``True``).
    learn_tau:
        Learn per-neuron time constants.
    threshold, learn_threshold:
        Firing threshold (default 1) and whether to learn it per neuron.
    refractory:
        Absolute refractory period in seconds (rounded to whole steps; default 0):
        after a spike the membrane is held and cannot spike for that many steps.
        ``reset="subtract"``, a refractory period or a threshold other than a fixed 1
        run the neuron of :func:`spikegrad.functional.alif.alif_step` on the
        ``"fused"`` (``"auto"``) or ``"reference"`` backend; ``"numba"`` raises.
    backend:
        ``"auto"`` (default), ``"numba"``, ``"fused"``, ``"reference"`` or ``"triton"``
        (see :data:`BACKENDS`); all give identical spikes and gradients. The membrane
        returned with ``record_membrane=True`` carries its gradient on ``"reference"``,
        ``"fused"`` and ``"numba"``; the Triton kernels differentiate the spikes only,
        so ``"auto"`` runs ``"fused"`` on CUDA when that gradient can be needed and on
        ``"triton"`` a backward pass through the membrane raises.
    projection:
        Optional module that replaces the layer's ``x @ weight.T``: spikes
        ``[T, B, in_features]`` in, currents ``[T, B, out_features]`` out, with its own
        ``weight`` (e.g. :class:`~spikegrad.nn.DelayedLinear`: per-synapse delays). The
        layer's ``weight`` is then the projection's (one tensor, also listed as
        ``projection.weight`` in the state dict). The numba kernels compute the plain
        projection themselves, so a layer with a projection runs on the ``"fused"``
        backend (``"auto"``) or ``"reference"``; ``"numba"`` raises.

    Notes
    -----
    Input ``[T, B, in_features]`` spikes; output ``[T, B, out_features]`` spikes.
    Weights are initialised :math:`\mathcal U(\pm 1/\sqrt{\text{fan-in}})`, no biases.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        recurrent: bool = False,
        tau_mem: float = 10e-3,
        tau_syn: float = 5e-3,
        dt: float = 1e-3,
        surrogate: Surrogate | str = "superspike",
        beta: float = 10.0,
        reset: str = "detach",
        recurrent_grad: bool = True,
        learn_tau: bool = False,
        backend: str = "auto",
        generator: torch.Generator | None = None,
        projection: nn.Module | None = None,
        threshold: float = 1.0,
        learn_threshold: bool = False,
        refractory: float = 0.0,
    ) -> None:
        super().__init__()
        in_features = check_size("in_features", in_features)
        out_features = check_size("out_features", out_features)
        self.refractory_steps = refractory_steps(refractory, check_positive("dt", dt))
        threshold = check_positive("threshold", threshold)
        self.threshold: nn.Parameter | float = (
            nn.Parameter(torch.full((out_features,), threshold)) if learn_threshold else threshold
        )
        self.backend = _resolve_backend(backend)
        self.in_features, self.out_features = in_features, out_features
        self.projection = _check_projection(projection, in_features, out_features, dt)
        self.surrogate = make_surrogate(surrogate, beta)
        self.reset = check_choice("reset mode", reset, ALIF_RESET_MODES)
        self.recurrent_grad = bool(recurrent_grad)
        self.taus = TimeConstants(out_features, tau_mem, tau_syn, dt, learn_tau)
        self.weight: nn.Parameter
        if self.projection is not None:
            self.weight = self.projection.weight  # type: ignore[assignment]  # a Parameter
        else:
            self.weight = nn.Parameter(_new_weight(out_features, in_features, generator))
        self.rec_weight: nn.Parameter | None = (
            nn.Parameter(_new_weight(out_features, out_features, generator)) if recurrent else None
        )

    @property
    def recurrent(self) -> bool:
        return self.rec_weight is not None

    def forward(
        self, x: torch.Tensor, *, record_membrane: bool = False, check_finite: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Spikes ``[T, B, out]`` (and the membrane trace if ``record_membrane``).

        ``check_finite`` rejects NaN/inf in ``x`` (on the numba backend this is part of
        the event scan and costs nothing extra).
        """
        check_sequence_tensor("x", x, features=self.in_features, finite=False)
        _check_input_dtype(x, self.weight)
        if self.neuron_options:
            return self._forward_options(x, record_membrane, check_finite)
        p = self.taus.params()
        # a membrane that may be differentiated: "auto" leaves the Triton kernels
        grad_mem = record_membrane and needs_graph(x, *self.parameters())
        if self.current_noise is None and self.uses_numba(x):
            spikes, mem = lif_numba.lif_layer_numba(
                x,
                self.weight,
                p.beta_mem,
                p.beta_syn,
                self.surrogate,
                rec_weight=self.rec_weight,
                reset=self.reset,
                recurrent_grad=self.recurrent_grad,
                finite_name="x" if check_finite else None,
                record_membrane=record_membrane,
            )
            return (spikes, cast(torch.Tensor, mem)) if record_membrane else spikes
        if check_finite:
            check_finite_values("x", x)
        current = x @ self.weight.t() if self.projection is None else self.projection(x)
        current = self.perturb_current(current)
        if self.backend in ("fused", "auto", "triton"):
            triton = self.uses_triton(current) and not (grad_mem and self.backend == "auto")
            fn = lif_triton.lif_sequence_triton if triton else lif_sequence_fused
            spikes, mem = fn(
                current,
                p.beta_mem,
                p.beta_syn,
                self.surrogate,
                rec_weight=self.rec_weight,
                reset=self.reset,
                recurrent_grad=self.recurrent_grad,
            )
            if triton and record_membrane:
                mem = membrane_without_gradient(mem, "triton", x, *self.parameters())
            return (spikes, mem) if record_membrane else spikes
        spikes, _, mem_or_none = lif_sequence(
            current,
            p,
            self.surrogate,
            rec_weight=self.rec_weight,
            reset=self.reset,
            recurrent_grad=self.recurrent_grad,
            record_membrane=record_membrane,
        )
        return (spikes, cast(torch.Tensor, mem_or_none)) if record_membrane else spikes

    @property
    def neuron_options(self) -> bool:
        """Whether the layer uses an option beyond eq. 4.1 (reset by subtraction, a
        refractory period, a threshold other than a fixed 1, adaptation): those run
        :func:`~spikegrad.functional.alif.alif_step` on the fused or reference backend."""
        return (
            self.reset == "subtract"
            or self.refractory_steps > 0
            or isinstance(self.threshold, torch.Tensor)
            or self.threshold != 1.0
        )

    def neuron_params(self) -> ALIFParams:
        """Decays, threshold, adaptation and refractory steps of the neuron step."""
        p = self.taus.params()
        return ALIFParams(p.beta_mem, p.beta_syn, 0.0, self.threshold, 0.0, self.refractory_steps)

    def _forward_options(
        self, x: torch.Tensor, record_membrane: bool, check_finite: bool
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if self.backend not in ("auto", "fused", "reference"):
            raise SpikegradInputError(
                f"backend={self.backend!r} runs the plain eq. 4.1 neuron only; reset='subtract', "
                "a refractory period, a learnable or non-unit threshold and adaptation run on "
                "backend='fused' (or 'auto') and 'reference'"
            )
        if self.projection is None and self.backend != "reference":
            # event-driven where x is sparse (finiteness checked inside the event scan)
            current = event_linear(x, self.weight, finite_name="x" if check_finite else None)
        else:
            if check_finite:
                check_finite_values("x", x)
            current = x @ self.weight.t() if self.projection is None else self.projection(x)
        current = self.perturb_current(current)
        p = self.neuron_params()
        if self.backend == "reference":
            spikes, _, mem = alif_sequence(
                current,
                p,
                self.surrogate,
                rec_weight=self.rec_weight,
                reset=self.reset,
                recurrent_grad=self.recurrent_grad,
                record_membrane=record_membrane,
            )
        else:
            spikes, mem = alif_sequence_fused(
                current,
                p.beta_mem,
                p.beta_syn,
                self.surrogate,
                rho=p.rho,
                threshold=p.threshold,
                adapt=p.adapt,
                refractory=p.refractory,
                rec_weight=self.rec_weight,
                reset=self.reset,
                recurrent_grad=self.recurrent_grad,
            )
        if not record_membrane:
            return spikes
        assert mem is not None  # both backends return the membrane when it is recorded
        return spikes, mem

    def uses_numba(self, x: torch.Tensor) -> bool:
        """Whether a call on ``x`` runs the compiled kernels (raises if the backend is
        ``"numba"`` and they cannot run it)."""
        if self.neuron_options:
            if self.backend == "numba":
                raise SpikegradInputError(
                    "backend='numba' runs the plain eq. 4.1 neuron only; reset='subtract', a "
                    "refractory period, a learnable or non-unit threshold and adaptation run "
                    "on backend='fused' (or 'auto') and 'reference'"
                )
            return False
        ok = self.backend in ("auto", "numba") and lif_numba.available(self.surrogate, x)
        if self.projection is not None:
            if self.backend == "numba":
                raise SpikegradInputError(
                    "backend='numba' computes the plain projection x @ weight.T itself; a "
                    "layer with a projection runs on 'fused' (backend='auto') or 'reference'"
                )
            return False
        if self.backend == "numba" and not ok:
            if lif_numba.surrogate_code(self.surrogate) is None:
                # exact-type dispatch: a subclass may override derivative (see surrogate_code)
                raise SpikegradInputError(
                    f"backend='numba' has no compiled derivative for surrogate "
                    f"{self.surrogate!r} (type {type(self.surrogate).__qualname__}): only the "
                    "exact registered surrogate classes are compiled, not subclasses; use "
                    "backend='auto' (runs it on the fused backend) or 'fused'"
                )
            raise SpikegradInputError(
                "backend='numba' needs numba installed, a CPU float32/float64 input and a "
                "registered surrogate; use backend='auto'"
            )
        return ok

    def uses_triton(self, x: torch.Tensor) -> bool:
        """Whether a call with projected currents ``x`` runs the Triton kernels (raises if
        the backend is ``"triton"`` and they cannot run it). Layer options the kernels do
        not implement are listed here: ``"auto"`` then runs fused, ``"triton"`` raises."""
        why = None
        if self.reset not in lif_triton.RESET_MODES:
            why = f"reset={self.reset!r} is not implemented (only {lif_triton.RESET_MODES})"
        return _uses_triton(self.backend, self.surrogate, x, why)

    def extra_repr(self) -> str:
        return (
            f"{self.in_features}, {self.out_features}, recurrent={self.recurrent}, "
            f"surrogate={self.surrogate!r}, reset={self.reset!r}, backend={self.backend!r}"
        )


@records_init
class Readout(CurrentNoise, nn.Module):
    r"""Non-spiking leaky integrators, one per class (tau_mem = 20 ms, same synapse as the LIF).

    Input ``[T, B, in_features]`` spikes; output the membrane trace ``[T, B, n_classes]``
    starting at ``u0`` (default ``-1e-3``, see :func:`~spikegrad.functional.lif.li_sequence`).
    The ``"numba"`` backend (``"auto"`` on CPU) runs the recursion compiled, with
    event-driven input; ``"fused"`` computes the same trace as one causal convolution;
    ``"triton"`` (``"auto"`` on CUDA) runs the recursion in a Triton kernel.
    """

    def __init__(
        self,
        in_features: int,
        n_classes: int,
        *,
        tau_mem: float = 20e-3,
        tau_syn: float = 5e-3,
        dt: float = 1e-3,
        u0: float = -1e-3,
        learn_tau: bool = False,
        backend: str = "auto",
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        in_features = check_size("in_features", in_features)
        n_classes = check_size("n_classes", n_classes)
        self.backend = _resolve_backend(backend)
        self.in_features, self.n_classes = in_features, n_classes
        self.taus = TimeConstants(n_classes, tau_mem, tau_syn, dt, learn_tau)
        self.u0 = float(u0)
        self.weight = nn.Parameter(_new_weight(n_classes, in_features, generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Readout membrane trace ``[T, B, n_classes]``."""
        check_sequence_tensor("x", x, features=self.in_features, finite=False)
        _check_input_dtype(x, self.weight)
        p = self.taus.params()
        if self.current_noise is not None:
            return li_sequence(self.perturb_current(x @ self.weight.t()), p, u0=self.u0)
        if self.uses_numba(x):
            return lif_numba.li_readout_numba(x, self.weight, p.beta_mem, p.beta_syn, u0=self.u0)
        if _uses_triton(self.backend, None, x, None):
            current = x @ self.weight.t()
            return lif_triton.li_sequence_triton(current, p.beta_mem, p.beta_syn, u0=self.u0)
        if self.backend != "reference":
            return li_sequence_fused(x @ self.weight.t(), p.beta_mem, p.beta_syn, u0=self.u0)
        return li_sequence(x @ self.weight.t(), p, u0=self.u0)

    def uses_numba(self, x: torch.Tensor) -> bool:
        """Whether a call on ``x`` runs the compiled kernel (raises if the backend is
        ``"numba"`` and it cannot run it)."""
        ok = self.backend in ("auto", "numba") and lif_numba.available(None, x)
        if self.backend == "numba" and not ok:
            raise SpikegradInputError(
                "backend='numba' needs numba installed and a CPU float32/float64 input; "
                "use backend='auto'"
            )
        return ok

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.n_classes}, u0={self.u0:g}"
