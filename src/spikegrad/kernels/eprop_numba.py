r"""Compiled e-prop weight gradients of one LIF or adaptive-LIF layer, without per-synapse traces.

The trainer's e-prop rule (:mod:`spikegrad.learning.rules.eprop`) sums, over the
recorded sequence, the learning signal times the forward eligibility trace,

.. math:: G_{ji} = \sum_n L_j[n]\, e_{ji}[n],

and the reference (:func:`~spikegrad.learning.rules.eprop.layer_gradients`) runs the
per-synapse eligibility vectors :math:`\epsilon_{ji}[n]` forward in time: ``[B, N, M]``
numbers updated at every step (:math:`O(TBNM)` memory traffic). The eligibility vectors
are linear in the presynaptic trace :math:`\epsilon^I_i` with coefficients that depend
on neuron :math:`j` only, so the same sum can be taken backwards in time per neuron
(an adjoint, :math:`O(TBN)`) and closed with one matrix product over the
presynaptic activity :math:`z` (:math:`x` for ``W``, :math:`S` for ``V``):

.. math:: G_{ji} = \sum_{n,b} R_{bj}[n+1]\, z_{bi}[n].

This is a rearrangement of the same finite sum (no approximation): the results agree
with the forward traces to round-off (``tests/test_rules_fast.py``).

**LIF** (detached reset, keep :math:`k_j[n] = 1 - S_j[n]`, :math:`\psi_j[n] = L_j[n]
h(U_j[n] - 1)`). With :math:`\epsilon^U_{ji}[n+1] = k_j[n](\beta_m
\epsilon^U_{ji}[n] + (1-\beta_m)\epsilon^I_i[n])` and :math:`\epsilon^I_i[n+1] =
\beta_s \epsilon^I_i[n] + z_i[n]`, with :math:`A[T] = R[T] = 0`:

.. math::

    A_j[n] &= \psi_j[n] + \beta_m k_j[n] A_j[n+1] \\
    R_j[n] &= (1-\beta_m) k_j[n] A_j[n+1] + \beta_s R_j[n+1]

(:math:`\beta_m, \beta_s` per neuron allowed). The time-constant gradients of the
reference follow from the same adjoints: :math:`\widehat{dE/d\beta_{m,j}} = \sum_n
(U_j[n] - I_j[n])\,k_j[n] A_j[n+1]` and :math:`\widehat{dE/d\beta_{s,j}} = \sum_n
I_j[n] R_j[n+1]`.

**Adaptive LIF** (:func:`~spikegrad.functional.eprop.alif_eligibility_step`, every reset
rule and the refractory hold). The pair :math:`(\epsilon^U, \epsilon^A)_{ji}` follows
:math:`\epsilon[n+1] = M_j[n]\,\epsilon[n] + c_j[n]\,\epsilon^I_i[n]` with

.. math::

    M = \begin{pmatrix} F m_{uu} + 1 - F & F m_{ua} \\ h & \rho - h\alpha
    \end{pmatrix}, \qquad c = \big(F (1-\beta_m) \kappa, 0\big)

and, per reset rule, ``detach``: :math:`m_{uu} = (1-S)\beta_m`, :math:`m_{ua} = 0`,
:math:`\kappa = 1-S`; ``differentiable``: :math:`m_{uu} = (1-S)\beta_m - \tilde U h`,
:math:`m_{ua} = \tilde U h \alpha`, :math:`\kappa = 1-S`; ``subtract``: :math:`m_{uu} =
\beta_m`, :math:`m_{ua} = -S\alpha`, :math:`\kappa = 1` (:math:`F` the free flag,
:math:`h = F\sigma'(U - \Theta)`). With the output :math:`o[n] = L[n] h[n] (1,
-\alpha)` the adjoint is :math:`\lambda[n] = o[n] + M[n]^\top \lambda[n+1]`,
:math:`R[n] = c_u[n]\lambda_u[n+1] + \beta_s R[n+1]`.

The module also holds the compiled per-trial loop of weight perturbation with recurrent
weights (:func:`lif_trials_recurrent`: one ``V`` per trial, which the LIF kernels of
:mod:`spikegrad.kernels.lif_numba` do not take).

The scans run over ``[B, N]`` per step in float64 whatever the input dtype (results
are returned in the input's dtype); the surrogate derivative :math:`h` is computed by
the compiled derivative of the layer's surrogate where it has one, else by
``surrogate.derivative``. Without numba (or off the CPU) the rule runs the same adjoint
as a torch loop over time (``learning/rules/eprop.py``), never the per-synapse traces
unless asked to.
"""

from __future__ import annotations

import os

import numpy as np
import torch

from ..functional.surrogate import Surrogate
from . import lif_numba as _ln

__all__ = [
    "REFERENCE_ENV",
    "RESET_CODES",
    "available",
    "reference_forced",
    "lif_adjoint",
    "alif_state",
    "alif_adjoint",
    "lowpass",
    "lif_trials_recurrent",
]

#: Environment variable that, set to a non-empty value other than ``0``, makes the
#: learning rules (e-prop, node and weight perturbation) take their reference torch path.
REFERENCE_ENV = "SPIKEGRAD_RULE_REFERENCE"

#: reset rule -> code of the ALIF adjoint
RESET_CODES = {"detach": 0, "differentiable": 1, "subtract": 2}


def reference_forced() -> bool:
    """Whether :data:`REFERENCE_ENV` asks for the reference paths."""
    return os.environ.get(REFERENCE_ENV, "") not in ("", "0")


def available(*tensors: torch.Tensor | None) -> bool:
    """True if the compiled scans handle these tensors (numba installed, CPU, float32/64,
    one dtype). Whether a rule uses them also depends on :func:`reference_forced`."""
    if not _ln._HAVE_NUMBA:
        return False
    ts = [t for t in tensors if t is not None]
    return all(
        t.device.type == "cpu"
        and t.dtype in (torch.float32, torch.float64)
        and t.dtype == ts[0].dtype
        for t in ts
    )


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def _vec(p: torch.Tensor | float, n: int) -> np.ndarray:
    """A number or ``[N]`` tensor as a float64 ``[N]`` array."""
    t = torch.as_tensor(p.detach() if isinstance(p, torch.Tensor) else p, dtype=torch.float64)
    return np.ascontiguousarray(t.expand(n).numpy())


if _ln._HAVE_NUMBA:
    import numba

    @numba.njit(cache=True, error_model="numpy")
    def _lif_adjoint(
        signal, membrane, spikes, hpre, code, cst, bm, bs, r_out, a_out
    ):  # pragma: no cover - compiled
        T, B, N = signal.shape
        a = np.zeros((B, N))
        r = np.zeros((B, N))
        h = np.empty(N, membrane.dtype)
        for n in range(T - 1, -1, -1):
            for b in range(B):
                if code >= 0:  # the compiled surrogate derivative h(U - 1)
                    _ln._hrow(code, cst, membrane[n, b], h)
                else:
                    h[:] = hpre[n, b]
                for j in range(N):
                    k = 1.0 - spikes[n, b, j]
                    an = a[b, j]  # A[n+1]
                    rn = r[b, j]  # R[n+1]
                    r_out[n, b, j] = rn
                    a_out[n, b, j] = an
                    r[b, j] = (1.0 - bm[j]) * k * an + bs[j] * rn
                    a[b, j] = signal[n, b, j] * h[j] + bm[j] * k * an

    @numba.njit(cache=True, error_model="numpy")
    def _lowpass(x, beta, y):  # pragma: no cover - compiled
        T, B, N = x.shape
        v = np.zeros((B, N))
        for n in range(T):
            for b in range(B):
                for j in range(N):
                    y[n, b, j] = v[b, j]
                    v[b, j] = beta[j] * v[b, j] + x[n, b, j]

    @numba.njit(cache=True, error_model="numpy")
    def _alif_state(spikes, rho, refractory, a_out, free_out):  # pragma: no cover - compiled
        T, B, N = spikes.shape
        one = a_out.dtype.type(1.0)
        for b in range(B):
            for j in range(N):
                a = a_out.dtype.type(0.0)
                ref = 0
                rj = a_out.dtype.type(rho[j])
                for n in range(T):
                    s = spikes[n, b, j]
                    a_out[n, b, j] = a
                    free_out[n, b, j] = one if ref <= 0 else 0.0
                    a = rj * a + s
                    if refractory > 0:
                        if s > 0:
                            ref = refractory
                        elif ref > 0:
                            ref -= 1

    @numba.njit(cache=True, error_model="numpy")
    def _alif_adjoint(
        signal,
        spikes,
        membrane,
        adapt_state,
        free,
        hpre,
        code,
        cst,
        th0,
        al_dt,
        u_tilde,
        bm,
        bs,
        rho,
        alpha,
        reset,
        r_out,
    ):  # pragma: no cover - compiled
        T, B, N = signal.shape
        lu = np.zeros((B, N))
        la = np.zeros((B, N))
        r = np.zeros((B, N))
        h = np.empty(N, membrane.dtype)
        row = np.empty(N, membrane.dtype)
        one = cst[0]
        for n in range(T - 1, -1, -1):
            for b in range(B):
                if code >= 0:  # h = F sigma'(U - Theta), Theta = theta + alpha A, compiled
                    for j in range(N):
                        row[j] = (
                            membrane[n, b, j] - (th0[j] + al_dt[j] * adapt_state[n, b, j]) + one
                        )
                    _ln._hrow(code, cst, row, h)
                    for j in range(N):
                        h[j] *= free[n, b, j]
                else:
                    h[:] = hpre[n, b]
                for j in range(N):
                    s = spikes[n, b, j]
                    f = free[n, b, j]
                    hh = h[j]
                    al = alpha[j]
                    lun = lu[b, j]  # lambda[n+1]
                    lan = la[b, j]
                    rn = r[b, j]
                    r_out[n, b, j] = rn
                    if reset == 2:  # subtract
                        muu = bm[j]
                        mua = -s * al
                        kappa = 1.0
                    else:
                        muu = (1.0 - s) * bm[j]
                        mua = 0.0
                        kappa = 1.0 - s
                        if reset == 1:  # differentiable
                            ut = u_tilde[n, b, j]
                            muu -= ut * hh
                            mua = ut * hh * al
                    muu = f * muu + (1.0 - f)
                    mua = f * mua
                    r[b, j] = f * (1.0 - bm[j]) * kappa * lun + bs[j] * rn
                    o = signal[n, b, j] * hh
                    lu[b, j] = o + muu * lun + hh * lan
                    la[b, j] = -o * al + mua * lun + (rho[j] - hh * al) * lan


if _ln._HAVE_NUMBA:

    @numba.njit(cache=True, error_model="numpy")
    def _lif_trials(cur, V, bm, omb, bs, spikes):  # pragma: no cover - compiled
        T, B, N = cur.shape
        u = np.zeros(N, cur.dtype)
        i = np.zeros(N, cur.dtype)
        un = np.zeros(N, cur.dtype)
        one = cur.dtype.type(1.0)
        for b in range(B):
            u[:] = 0.0
            i[:] = 0.0
            for t in range(T):
                for j in range(N):
                    sj = one if u[j] - one > 0 else cur.dtype.type(0.0)
                    spikes[t, b, j] = sj
                    un[j] = (bm[j] * u[j] + omb[j] * i[j]) * (one - sj)
                    i[j] = bs[j] * i[j] + cur[t, b, j]
                for k in range(N):  # V S[n], one column per spike
                    if spikes[t, b, k] != 0:
                        for j in range(N):
                            i[j] += V[b, j, k]
                u[:] = un


def lif_trials_recurrent(
    cur: torch.Tensor,
    rec_weight: torch.Tensor,
    beta_mem: torch.Tensor | float,
    beta_syn: torch.Tensor | float,
) -> torch.Tensor:
    r"""Spikes ``[T, B, N]`` of eq. 4.1 with one recurrent matrix per trial (no gradient).

    ``cur`` the projected input currents ``[T, B, N]``, ``rec_weight`` ``V_b`` ``[B, N,
    N]``: :math:`S[n] = \Theta(U[n] - 1)`, :math:`U[n+1] = (\beta_m U[n] + (1 - \beta_m)
    I[n])(1 - S[n])`, :math:`I[n+1] = \beta_s I[n] + c[n] + V_b S[n]` from zero state
    (the per-trial loop of weight perturbation, ``learning/rules/perturbation.py``). The
    recurrent input is added spike by spike (its summation order differs from a matrix
    product's: currents agree to round-off, tested against the torch loop). Both reset
    rules give the same forward values.
    """
    n = cur.shape[2]
    dt = _np(cur).dtype
    bm = beta_mem.detach() if isinstance(beta_mem, torch.Tensor) else beta_mem
    omb = (1.0 - bm) if isinstance(bm, torch.Tensor) else 1.0 - bm
    spikes = torch.empty_like(cur)
    _lif_trials(
        _np(cur),
        _np(rec_weight.to(cur.dtype)),
        _ln._vec(bm, n, dt),
        _ln._vec(omb, n, dt),
        _ln._vec(beta_syn, n, dt),
        spikes.numpy(),
    )
    return spikes


def lowpass(x: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    r""":math:`y[0] = 0`, :math:`y[n+1] = \beta y[n] + x[n]` over ``x [T, B, N]``
    (:math:`y[n]`, the state *before* step :math:`n`, as the reference rebuilds
    :math:`I[n]`), in ``x``'s dtype."""
    y = torch.empty_like(x)
    _lowpass(_np(x), _vec(beta, x.shape[2]), y.numpy())
    return y


def lif_adjoint(
    signal: torch.Tensor,
    membrane: torch.Tensor,
    spikes: torch.Tensor,
    surrogate: Surrogate,
    beta_mem: torch.Tensor | float,
    beta_syn: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The LIF adjoints of the module docstring: ``(R[n+1], A[n+1])`` for ``n = 0..T-1``,
    each ``[T, B, N]`` in ``signal``'s dtype.

    ``signal`` is :math:`L[n]`, ``membrane`` :math:`U[n]`, ``spikes`` :math:`S[n]`;
    :math:`\psi = L\,h(U - 1)` uses the compiled derivative of ``surrogate`` where it
    has one (:func:`spikegrad.kernels.lif_numba.surrogate_code`), else
    ``surrogate.derivative``. The input-weight gradient is then
    ``einsum("tbj,tbi->ji", R, x)``.
    """
    n = signal.shape[2]
    r = torch.empty_like(signal)
    a = torch.empty_like(signal)
    dt = _np(signal).dtype
    code = _ln.surrogate_code(surrogate)
    if code is None:
        hpre = _np(surrogate.derivative(membrane - 1.0).to(signal.dtype))
        code, cst = -1, _ln._consts(dt, 0.0)
    else:
        hpre = np.zeros((1, 1, 1), dt)
        cst = _ln._consts(dt, float(getattr(surrogate, "beta", 1.0)))
    _lif_adjoint(
        _np(signal),
        _np(membrane),
        _np(spikes),
        hpre,
        code,
        cst,
        _vec(beta_mem, n),
        _vec(beta_syn, n),
        r.numpy(),
        a.numpy(),
    )
    return r, a


def alif_state(
    spikes: torch.Tensor, rho: torch.Tensor | float, refractory: int
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Adaptation :math:`A[n]` (:math:`A[n+1] = \rho A[n] + S[n]`, :math:`A[0] = 0`) and
    the free flag :math:`F[n]` (1 unless within ``refractory`` steps after a spike), both
    before step :math:`n`, ``[T, B, N]``, rebuilt from the recorded spikes."""
    a = torch.empty_like(spikes)
    free = torch.empty_like(spikes)
    rv = _vec(rho, spikes.shape[2]).astype(_np(spikes).dtype)
    _alif_state(_np(spikes), rv, int(refractory), a.numpy(), free.numpy())
    return a, free


def alif_adjoint(
    signal: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    surrogate: Surrogate,
    u_tilde: torch.Tensor | None,
    *,
    beta_mem: torch.Tensor | float,
    beta_syn: torch.Tensor | float,
    rho: torch.Tensor | float,
    threshold: torch.Tensor | float,
    adapt: torch.Tensor | float,
    refractory: int,
    reset: str,
) -> torch.Tensor:
    r""":math:`R[n+1]` (``[T, B, N]``) of the adaptive-LIF adjoint (module docstring).

    ``signal`` :math:`L[n]`, ``spikes`` :math:`S[n]`, ``membrane`` :math:`U[n]`,
    ``u_tilde`` :math:`\tilde U[n]` (the ``"differentiable"`` reset only). The
    adaptation :math:`A[n]` and the free flag :math:`F[n]` are rebuilt from the spikes
    (:func:`alif_state`); :math:`h = F\sigma'(U - \vartheta - \alpha A)` uses the
    compiled derivative of ``surrogate`` where it has one, else ``surrogate.derivative``.
    Weight gradient: ``einsum("tbj,tbi->ji", R, z)``.
    """
    n = signal.shape[2]
    dt = _np(signal).dtype
    a, free = alif_state(spikes, rho, refractory)
    code = _ln.surrogate_code(surrogate)
    if code is None:
        h = surrogate.derivative(membrane - (threshold + adapt * a))
        if refractory > 0:
            h = h * free
        hpre = _np(h.to(signal.dtype))
        code, cst = -1, _ln._consts(dt, 0.0)
    else:
        hpre = np.zeros((1, 1, 1), dt)
        cst = _ln._consts(dt, float(getattr(surrogate, "beta", 1.0)))
    r = torch.empty_like(signal)
    ut = _np(u_tilde) if u_tilde is not None else np.zeros((1, 1, 1), dt)
    _alif_adjoint(
        _np(signal),
        _np(spikes),
        _np(membrane),
        _np(a),
        _np(free),
        hpre,
        code,
        cst,
        _vec(threshold, n).astype(dt),
        _vec(adapt, n).astype(dt),
        ut,
        _vec(beta_mem, n),
        _vec(beta_syn, n),
        _vec(rho, n),
        _vec(adapt, n),
        RESET_CODES[reset],
        r.numpy(),
    )
    return r
