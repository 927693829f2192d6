r"""Conductance-based leaky integrate-and-fire neurons in physical units (pure functions).

Units (consistent, so no conversion factors appear anywhere): time in **s**,
voltage in **mV**, conductance in **nS**, capacitance in **nF**, current in **pA**
(nS·mV = pA and nF·mV/s = pA).

Membrane of neuron :math:`i` (spikegrad's reading of Fiete & Seung 2006, with separate
excitatory and inhibitory conductances and two optional perturbation channels):

.. math::

    C \frac{dV_i}{dt} = -g_L (V_i - E_L) - (g^E_i + \xi^E_i)(V_i - E_E)
                         - (g^I_i + \xi^I_i)(V_i - E_I) + \eta_i

with :math:`g^E_i = \sum_{j \in E} W_{ij} s_j`, :math:`g^I_i = \sum_{j \in I} W_{ij} s_j`
(weights are non-negative magnitudes in nS; the *presynaptic* population fixes the sign,
Dale's law), :math:`\xi^{E,I}` conductance perturbations with the reversal potential of
the synapses they perturb, and :math:`\eta` an optional current perturbation (pA).
A spike is emitted when :math:`V_i \ge V_\theta`; then :math:`V_i \leftarrow V_r` and the
neuron is clamped at :math:`V_r` for the refractory period :math:`t_\text{ref}`.

Synapses are presynaptic only (independent of :math:`W`): each presynaptic unit
:math:`j` (external inputs first, then the network's neurons) has a trace

.. math::

    s_j[n+1] = e^{-\Delta t/\tau_j} s_j[n] + u_j[n]\, z_j[n],

with :math:`z_j[n] \in \{0, 1\}` its spike in step :math:`n` and :math:`u_j = 1` without
short-term depression. With depression (Tsodyks–Markram resources :math:`x_j`,
utilisation :math:`U`): :math:`u_j[n] = x_j[n]`, then
:math:`x_j \leftarrow x_j - U x_j z_j` and recovery
:math:`x_j \leftarrow 1 - (1 - x_j) e^{-\Delta t/\tau_\text{rec}}`.

**Discrete step** :math:`n` (:func:`coba_step`; all neurons in parallel, batch of trials
on dimension 1):

1. :math:`G^E = W^E s[n] + \xi^E[n]`, :math:`G^I = W^I s[n] + \xi^I[n]`,
   :math:`G = g_L + G^E + G^I`, :math:`I = -g_L(V-E_L) - G^E(V-E_E) - G^I(V-E_I) + \eta[n]`.
2. ``euler``: :math:`V \leftarrow V + \frac{\Delta t}{C} I`.
   ``exp_euler`` (exact for conductances constant over the step):
   :math:`V \leftarrow V + \frac{\Delta t}{C} I\,\varphi(\Delta t G / C)` with
   :math:`\varphi(h) = (1 - e^{-h})/h` (:math:`\varphi(0) = 1`), i.e.
   :math:`V_\infty + (V - V_\infty) e^{-\Delta t G/C}`, :math:`V_\infty = V + I/G`.
3. Refractory neurons are held at :math:`V_r`; others spike if :math:`V \ge V_\theta`
   (:math:`z[n] = 1`, :math:`V \leftarrow V_r`, refractory for
   :math:`\mathrm{round}(t_\text{ref}/\Delta t)` following steps).
4. Traces advance with the inputs' spikes of step :math:`n` and the network's spikes
   :math:`z[n]`, so a spike in step :math:`n` first conducts in step :math:`n + 1`.

Protocol of the functional core: ``coba_step(x, state, params, weight, topology) ->
(spikes, state)`` with the named tuples :class:`CobaState` and :class:`CobaParams`;
:func:`coba_run` loops it over a time-major sequence ``[T, B, ...]``. The module holding
``W`` as a parameter is :class:`spikegrad.nn.CobaSpikingNetwork`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch import Tensor

from .._checks import SpikegradInputError, check_choice, check_nonnegative, check_positive
from .surrogate import Surrogate

__all__ = [
    "METHODS",
    "CobaParams",
    "CobaTopology",
    "CobaState",
    "CobaRun",
    "phi",
    "coba_step",
    "coba_run",
    "register_kernel",
    "smoothed_rate",
    "KERNELS",
]

#: Integration methods.
METHODS = ("exp_euler", "euler")

#: Choices of :func:`coba_run`'s ``kernel``.
KERNELS = ("auto", "torch", "numba")

# the compiled forward, ``(available, run)``, registered by spikegrad.kernels.coba_numba on
# import (the kernels sit above this module and may not be imported from here)
_COMPILED: tuple[Callable[..., bool], Callable[..., Any]] | None = None


def register_kernel(available: Callable[..., bool], run: Callable[..., Any]) -> None:
    """Register the compiled forward :func:`coba_run` dispatches to.

    ``available(inputs, W, perturbations=..., state=..., surrogate=...)`` says whether
    ``run`` (the signature of :func:`spikegrad.kernels.coba_numba.coba_run_numba`)
    handles a call; :mod:`spikegrad.kernels.coba_numba` registers itself when imported
    (:mod:`spikegrad.nn.coba` imports it, so ``import spikegrad`` always does).
    """
    global _COMPILED
    _COMPILED = (available, run)


class _CobaConstants(NamedTuple):
    dt: float = 5e-4
    C: float = 0.2
    g_L: float = 10.0
    E_L: float = -70.0
    E_exc: float = 0.0
    E_inh: float = -80.0
    V_th: float = -50.0
    V_reset: float = -60.0
    t_ref: float = 2e-3
    tau_exc: float = 5e-3
    tau_inh: float = 10e-3
    std_U: float = 0.0
    tau_rec: float = 0.2
    method: str = "exp_euler"


class CobaParams(_CobaConstants):
    """Neuron and synapse constants, a validated named tuple (units: s, mV, nS, nF).

    Defaults: a 200 pF cell with a 10 nS leak (:math:`\\tau_m = 20` ms), rest -70 mV,
    threshold -50 mV, reset -60 mV, 2 ms refractory period, excitatory reversal 0 mV
    (AMPA-like, 5 ms), inhibitory reversal -80 mV (GABA_A-like, 10 ms), time step 0.5 ms.
    ``std_U = 0`` switches short-term depression off. Every construction (and
    :meth:`_replace`) is checked: times > 0, finite voltages, ``V_reset < V_th``,
    ``0 <= std_U <= 1``, ``method`` one of :data:`METHODS`.
    """

    __slots__ = ()

    def __new__(cls, *args, **kwargs) -> CobaParams:
        self = super().__new__(cls, *args, **kwargs)
        self._check()
        return self

    def _check(self) -> None:
        for nm in ("dt", "C", "g_L", "tau_exc", "tau_inh", "tau_rec"):
            check_positive(nm, getattr(self, nm))
        check_nonnegative("t_ref", self.t_ref)
        for nm in ("E_L", "E_exc", "E_inh", "V_th", "V_reset"):
            v = float(getattr(self, nm))
            if not math.isfinite(v):
                raise SpikegradInputError(f"{nm} must be a finite voltage (mV), got {v!r}")
        if not self.V_reset < self.V_th:
            raise SpikegradInputError(
                f"V_reset must lie below V_th, got V_reset={self.V_reset} >= V_th={self.V_th}"
            )
        if not 0.0 <= float(self.std_U) <= 1.0:
            raise SpikegradInputError(f"std_U must lie in [0, 1], got {self.std_U!r}")
        check_choice("method", self.method, METHODS)

    def _replace(self, **changes) -> CobaParams:
        """A copy with ``changes`` applied (validated like a new instance)."""
        return type(self)(**{**self._asdict(), **changes})

    @property
    def tau_mem(self) -> float:
        """Passive membrane time constant :math:`C/g_L` (s)."""
        return self.C / self.g_L

    @property
    def ref_steps(self) -> int:
        """Refractory period in steps, :math:`\\mathrm{round}(t_\\text{ref}/\\Delta t)`."""
        return int(round(self.t_ref / self.dt))


@dataclass
class CobaTopology:
    """Structure of a network: external inputs, then ``n_exc`` E and ``n_inh`` I neurons.

    Presynaptic units (columns of ``W``) are ordered ``[inputs | E neurons | I neurons]``;
    inputs are excitatory. ``W`` is ``[N, M]`` with ``N = n_exc + n_inh`` and
    ``M = n_in + N``; ``connectivity`` (bool ``[N, M]``, default all-to-all without
    autapses) says which synapses exist and ``plastic`` (bool ``[N, M]``, a subset, default
    all of them) which ones learn. ``outputs`` indexes the neurons read out by a task
    (default all).
    """

    n_in: int
    n_exc: int
    n_inh: int = 0
    # ``None`` selects the default; __post_init__ always leaves a tensor
    connectivity: Tensor = None  # type: ignore[assignment]
    plastic: Tensor = None  # type: ignore[assignment]
    outputs: Tensor = None  # type: ignore[assignment]
    pre_inh: Tensor = field(init=False)

    def __post_init__(self) -> None:
        for nm in ("n_in", "n_exc", "n_inh"):
            v = getattr(self, nm)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise SpikegradInputError(f"{nm} must be an integer >= 0, got {v!r}")
        if self.n_exc + self.n_inh < 1:
            raise SpikegradInputError("the network needs at least one neuron (n_exc + n_inh)")
        N, M = self.n, self.m
        if self.connectivity is None:
            c = torch.ones(N, M, dtype=torch.bool)
            c[:, self.n_in :].fill_diagonal_(False)  # no autapses
            self.connectivity = c
        self.connectivity = _check_mask("connectivity", self.connectivity, (N, M))
        if self.plastic is None:
            self.plastic = self.connectivity.clone()
        self.plastic = _check_mask("plastic", self.plastic, (N, M)) & self.connectivity
        if self.outputs is None:
            self.outputs = torch.arange(N)
        self.outputs = torch.as_tensor(self.outputs, dtype=torch.int64)
        if self.outputs.numel() and (self.outputs.min() < 0 or self.outputs.max() >= N):
            raise SpikegradInputError(f"outputs must index neurons in [0, {N})")
        self.pre_inh = torch.zeros(M, dtype=torch.bool)
        self.pre_inh[self.n_in + self.n_exc :] = True

    @property
    def n(self) -> int:
        """Number of neurons ``N``."""
        return self.n_exc + self.n_inh

    @property
    def m(self) -> int:
        """Number of presynaptic units ``M = n_in + N``."""
        return self.n_in + self.n

    @property
    def n_exc_pre(self) -> int:
        """Excitatory presynaptic columns ``n_in + n_exc`` (the inhibitory ones follow)."""
        return self.n_in + self.n_exc

    def check_weights(self, W: Tensor, name: str = "W", *, sign: bool = True) -> Tensor:
        """Validate ``W`` (``[N, M]`` or batched ``[B, N, M]``, finite, >= 0 if ``sign``)."""
        if not isinstance(W, Tensor) or not W.is_floating_point():
            raise SpikegradInputError(f"{name} must be a floating torch.Tensor of shape [N, M]")
        if W.dim() not in (2, 3) or tuple(W.shape[-2:]) != (self.n, self.m):
            raise SpikegradInputError(
                f"{name} must have shape [N, M] = [{self.n}, {self.m}] (or [B, N, M]), "
                f"got {tuple(W.shape)}"
            )
        if not bool(torch.isfinite(W).all()):
            raise SpikegradInputError(f"{name} contains non-finite values")
        if sign and bool((W.detach() < 0).any()):
            raise SpikegradInputError(
                f"{name} must hold non-negative magnitudes (nS); the presynaptic population "
                f"sets the sign (Dale's law)"
            )
        return W

    def to_dict(self) -> dict:
        """Sizes and masks as plain lists (for config.json)."""
        return {
            "n_in": self.n_in,
            "n_exc": self.n_exc,
            "n_inh": self.n_inh,
            "synapses": int(self.connectivity.sum()),
            "plastic_synapses": int(self.plastic.sum()),
            "outputs": self.outputs.tolist(),
        }


def _check_mask(name: str, m: object, shape: tuple[int, int]) -> Tensor:
    if not isinstance(m, Tensor):
        raise SpikegradInputError(f"{name} must be a bool tensor of shape {list(shape)}")
    if tuple(m.shape) != shape:
        raise SpikegradInputError(f"{name} must have shape {list(shape)}, got {tuple(m.shape)}")
    return m.to(torch.bool)


class CobaState(NamedTuple):
    """Membrane ``v`` [B, N] (mV), traces ``s`` [B, M], resources ``x`` [B, M], refractory
    steps left ``ref`` [B, N]."""

    v: Tensor
    s: Tensor
    x: Tensor
    ref: Tensor

    @classmethod
    def rest(
        cls, batch: int, net: CobaTopology, params: CobaParams, *, dtype=torch.float32
    ) -> CobaState:
        """Every neuron at :math:`E_L`, empty traces, full resources, not refractory."""
        v = torch.full((batch, net.n), float(params.E_L), dtype=dtype)
        s = torch.zeros(batch, net.m, dtype=dtype)
        return cls(v, s, torch.ones_like(s), torch.zeros(batch, net.n, dtype=dtype))


class CobaRun(NamedTuple):
    """Result of :func:`coba_run` (time-major).

    ``spikes`` [T, B, N]; ``traces`` [T, B, M] (the :math:`s[n]` used in step n) or
    ``None``; ``v`` [T, B, N] membrane at the end of step n, after any reset (a neuron that
    spiked in step n shows :math:`V_r`), or ``None``;
    ``active`` [T, B, N] 1 where the neuron was not refractory in step n, or ``None``;
    ``state`` the final state.
    """

    spikes: Tensor
    traces: Tensor | None
    v: Tensor | None
    active: Tensor | None
    state: CobaState


def phi(h: Tensor) -> Tensor:
    r""":math:`\varphi(h) = (1 - e^{-h})/h` with :math:`\varphi(0) = 1` (stable near 0)."""
    small = h.abs() < 1e-4
    hs = torch.where(small, torch.ones_like(h), h)
    return torch.where(small, 1.0 - 0.5 * h + h * h / 6.0, -torch.expm1(-hs) / hs)


def _syn(W: Tensor, s: Tensor) -> Tensor:
    """``W s`` per trial: W [N, K] or [B, N, K], s [B, K] -> [B, N]."""
    if W.dim() == 2:
        return s @ W.t()
    return torch.bmm(W, s.unsqueeze(-1)).squeeze(-1)


def coba_step(
    x: Tensor,
    state: CobaState,
    params: CobaParams,
    weight: Tensor,
    topology: CobaTopology,
    *,
    xi_exc: Tensor | None = None,
    xi_inh: Tensor | None = None,
    i_noise: Tensor | None = None,
    g_extra: Tensor | None = None,
    surrogate: Surrogate | None = None,
) -> tuple[Tensor, CobaState]:
    """One step (see the module equations): ``(spikes, state)``.

    Parameters
    ----------
    x:
        External input spikes of this step, ``[B, n_in]``.
    state:
        State before the step; a neuron is *active* in this step iff ``state.ref == 0``.
    params:
        Neuron and synapse constants.
    weight:
        Weights ``[N, M]`` (or ``[B, N, M]``, one matrix per trial), nS.
    topology:
        Population sizes (which columns are inhibitory).
    xi_exc, xi_inh:
        Conductance perturbations ``[B, N]`` (nS) with reversal ``E_exc`` / ``E_inh``.
    i_noise:
        Current perturbation ``[B, N]`` (pA).
    g_extra:
        Extra excitatory conductance ``[B, N]`` (nS), e.g. empiric synapses.
    surrogate:
        If given, spikes are ``surrogate.spike((V - V_th)/(V_th - V_reset) + 1e-6)`` so
        gradients flow (surrogate BPTT; the shift makes ``V = V_th`` spike as in the
        Heaviside branch); the reset and refractory clamp are detached.

    Returns
    -------
    spikes, new_state
        Spikes of step n ``[B, N]`` and the state after the step.
    """
    p = params
    v, s, xr, ref = state
    ne = topology.n_exc_pre
    g_e = _syn(weight[..., :ne], s[:, :ne])
    g_i = _syn(weight[..., ne:], s[:, ne:]) if topology.n_inh else torch.zeros_like(v)
    if xi_exc is not None:
        g_e = g_e + xi_exc
    if g_extra is not None:
        g_e = g_e + g_extra
    if xi_inh is not None:
        g_i = g_i + xi_inh
    current = -p.g_L * (v - p.E_L) - g_e * (v - p.E_exc) - g_i * (v - p.E_inh)
    if i_noise is not None:
        current = current + i_noise
    if p.method == "euler":
        v_new = v + (p.dt / p.C) * current
    else:
        G = p.g_L + g_e + g_i
        v_new = v + (p.dt / p.C) * current * phi((p.dt / p.C) * G)
    refractory = ref > 0
    v_new = torch.where(refractory, torch.full_like(v_new, p.V_reset), v_new)
    if surrogate is None:
        z = ((v_new >= p.V_th) & ~refractory).to(v.dtype)
        zd = z
    else:
        # V >= V_th spikes; spikegrad's Heaviside has Theta(0) = 0, so shift by a tiny margin
        arg = (v_new - p.V_th) / (p.V_th - p.V_reset)
        z = surrogate.spike(arg + 1e-6) * (~refractory).to(v.dtype)
        zd = z.detach()
    v_new = v_new * (1.0 - zd) + p.V_reset * zd
    ref_new = torch.clamp(ref - 1, min=0) + zd * p.ref_steps
    pre = torch.cat([x.to(v.dtype), z], dim=1)
    a_e = math.exp(-p.dt / p.tau_exc)
    a_i = math.exp(-p.dt / p.tau_inh)
    decay = torch.full_like(s[0], a_e).masked_fill(topology.pre_inh, a_i)
    if p.std_U > 0:
        s_new = s * decay + xr * pre
        x_new = xr - p.std_U * xr * pre.detach()
        x_new = 1.0 - (1.0 - x_new) * math.exp(-p.dt / p.tau_rec)
    else:
        s_new = s * decay + pre
        x_new = xr
    return z, CobaState(v_new, s_new, x_new, ref_new)


def coba_run(
    inputs: Tensor,
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    *,
    xi_exc: Tensor | None = None,
    xi_inh: Tensor | None = None,
    i_noise: Tensor | None = None,
    g_extra: Tensor | None = None,
    surrogate: Surrogate | None = None,
    state: CobaState | None = None,
    record: tuple[str, ...] = ("traces",),
    check_sign: bool = True,
    kernel: str = "auto",
) -> CobaRun:
    """Simulate a trial batch (:func:`coba_step` over time).

    Parameters
    ----------
    inputs:
        External spikes, time-major ``[T, B, n_in]``.
    W:
        Weights ``[N, M]`` or ``[B, N, M]`` (nS, >= 0); entries outside
        ``net.connectivity`` are ignored (multiplied by 0).
    net:
        The network's :class:`CobaTopology`.
    params:
        Neuron and synapse constants.
    xi_exc, xi_inh, i_noise, g_extra:
        Perturbations, time-major ``[T, B, N]`` (see :func:`coba_step`).
    surrogate:
        Differentiable spikes for surrogate-gradient BPTT (``None``: plain Heaviside).
    state:
        Initial state (default :meth:`CobaState.rest`).
    record:
        Any of ``"traces"``, ``"v"``, ``"active"``.
    check_sign:
        Reject negative weights (off only for weight perturbation, whose perturbed
        weights may cross zero like a white-noise conductance does).
    kernel:
        ``"auto"`` (default): the compiled forward of
        :mod:`spikegrad.kernels.coba_numba` when it handles the call (CPU, float32 /
        float64 weights with perturbations and state of the same dtype, no
        ``surrogate``, nothing recorded by autograd: grad mode off or no tensor that
        requires a gradient), else the torch loop of :func:`coba_step`; ``"torch"``
        always the torch loop (the reference); ``"numba"`` the compiled forward or an
        error if it cannot run this call. Both give the same spikes, traces and
        resources, and membranes equal at round-off (``tests/test_coba_numba.py``).
        With ``"auto"`` the environment variable ``SPIKEGRAD_COBA_KERNEL`` (one of
        :data:`KERNELS`), if set, chooses instead (so the rules' runs can be forced).

    Returns
    -------
    CobaRun
    """
    if not isinstance(inputs, Tensor) or inputs.dim() != 3:
        got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
        raise SpikegradInputError(f"inputs must be a time-major tensor [T, B, n_in], got {got}")
    T, B, n_in = inputs.shape
    if n_in != net.n_in:
        raise SpikegradInputError(f"inputs has {n_in} units in its last dimension, "
                                  f"the network has n_in={net.n_in}")
    net.check_weights(W, sign=check_sign)
    if W.dim() == 3 and W.shape[0] != B:
        raise SpikegradInputError(f"batched W has {W.shape[0]} matrices for a batch of {B}")
    for nm, t in (("xi_exc", xi_exc), ("xi_inh", xi_inh), ("i_noise", i_noise),
                  ("g_extra", g_extra)):
        if t is not None and tuple(t.shape) != (T, B, net.n):
            raise SpikegradInputError(
                f"{nm} must have shape [T, B, N] = [{T}, {B}, {net.n}], got {tuple(t.shape)}"
            )
    check_choice("kernel", kernel, KERNELS)
    if kernel == "auto":  # the environment can force a path (benches, exactness tests)
        kernel = check_choice(
            "SPIKEGRAD_COBA_KERNEL", os.environ.get("SPIKEGRAD_COBA_KERNEL") or "auto", KERNELS
        )
    dtype = W.dtype
    if kernel != "torch":
        pert = (xi_exc, xi_inh, i_noise, g_extra)
        ok = _COMPILED is not None and _COMPILED[0](
            inputs, W, perturbations=pert, state=state, surrogate=surrogate
        )
        if ok:
            assert _COMPILED is not None
            return _COMPILED[1](
                inputs, W * net.connectivity.to(dtype), net, params, xi_exc=xi_exc,
                xi_inh=xi_inh, i_noise=i_noise, g_extra=g_extra, state=state, record=record,
            )
        if kernel == "numba":
            raise SpikegradInputError(
                "kernel='numba' needs numba (spikegrad.kernels.coba_numba imported), CPU "
                "tensors, float32/float64 weights with perturbations and state of the same "
                "dtype, no surrogate and no autograd recording"
            )
    if state is None:
        state = CobaState.rest(B, net, params, dtype=dtype)
    inputs = inputs.to(dtype)
    W = W * net.connectivity.to(dtype)
    spikes, traces, vs, acts = [], [], [], []

    def _at(t, n):
        return None if t is None else t[n]

    for n in range(T):
        if "traces" in record:
            traces.append(state.s)
        if "active" in record:
            acts.append((~(state.ref > 0)).to(dtype))
        z, state = coba_step(
            inputs[n], state, params, W, net,
            xi_exc=_at(xi_exc, n), xi_inh=_at(xi_inh, n), i_noise=_at(i_noise, n),
            g_extra=_at(g_extra, n), surrogate=surrogate,
        )
        spikes.append(z)
        if "v" in record:
            vs.append(state.v)
    return CobaRun(
        torch.stack(spikes),
        torch.stack(traces) if traces else None,
        torch.stack(vs) if vs else None,
        torch.stack(acts) if acts else None,
        state,
    )


def smoothed_rate(spikes: Tensor, dt: float, tau: float) -> Tensor:
    r"""Exponentially smoothed firing rate (Hz) of time-major spikes ``[T, B, K]``.

    :math:`r[n] = e^{-\Delta t/\tau} r[n-1] + z[n]/\tau`, :math:`r[-1] = 0`, so a single
    spike contributes a unit area (1 spike) to :math:`\sum_n r[n]\Delta t` in the limit.
    """
    check_positive("tau", tau)
    a = math.exp(-dt / tau)
    r = torch.zeros_like(spikes[0])
    out = []
    for z in spikes.unbind(0):
        r = a * r + z / tau
        out.append(r)
    return torch.stack(out)
