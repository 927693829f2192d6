r"""Compiled CPU forward (numba) of the conductance-based network (``functional.coba``).

The same discrete step as :func:`~spikegrad.functional.coba.coba_step` (equations in
:mod:`spikegrad.functional.coba`), run per trial as one compiled loop over time, neurons
and presynaptic units instead of a Python loop of about twenty torch operations per
step. Trials are independent (a trial's conductances depend only on its own traces), so
they run in parallel (``prange``). Per trial and step :math:`n`:

.. math::

    G^E_i = \sum_{j < n_\text{in} + n_E} W_{ij} s_j[n] + \xi^E_i[n] + g^\text{extra}_i[n],
    \qquad G^I_i = \sum_{j \ge n_\text{in} + n_E} W_{ij} s_j[n] + \xi^I_i[n],

then the membrane update (``euler`` or ``exp_euler`` with
:math:`\varphi(h) = (1 - e^{-h})/h`, its series :math:`1 - h/2 + h^2/6` for
:math:`|h| < 10^{-4}`), the refractory clamp, the spike :math:`V \ge V_\theta` of active
neurons, the reset and the trace (and, with ``std_U > 0``, resource) update, every
elementwise operation in the order and the working precision of the torch step (float32
stays float32: the constants are passed in the working dtype).

The synaptic sums are kept event-driven: they are linear in the traces, and the traces
of one class share a decay factor (:math:`a_E` for inputs and E neurons, :math:`a_I` for
I neurons), so after the initial :math:`W s[0]` (one dot product per neuron)

.. math::

    \sum_j W_{ij} s_j[n+1] = a \sum_j W_{ij} s_j[n] + \sum_{j:\, c_j[n] \ne 0} W_{ij} c_j[n],
    \qquad c_j[n] = u_j[n] z_j[n],

per class: a step costs :math:`O(N)` plus :math:`O(N)` per presynaptic spike instead of
:math:`O(NM)`. This and the C library's ``expm1`` (torch's is vectorised) change the
rounding, not the arithmetic: membranes agree with the torch loop at round-off (a few
ulp, measured in ``tests/test_coba_numba.py``); traces, resources, refractory counters
and spikes are identical as long as no membrane lands within round-off of
:math:`V_\theta`.

Only the forward simulation: no surrogate spikes and no autograd. :func:`available`
says whether a call qualifies; :func:`~spikegrad.functional.coba.coba_run` dispatches to
:func:`coba_run_numba` on its own (``kernel="auto"``) when it does. Importing this module
registers the kernel with :mod:`spikegrad.functional.coba` (which sits below the
kernels and cannot import them); :mod:`spikegrad.nn.coba` imports it.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ..functional import coba as _coba
from ..functional.coba import CobaParams, CobaRun, CobaState, CobaTopology
from .lif_numba import _HAVE_NUMBA

__all__ = ["available", "coba_run_numba"]

_DTYPES = (torch.float32, torch.float64)


def available(
    inputs: Tensor,
    W: Tensor,
    *,
    perturbations: tuple[Tensor | None, ...] = (),
    state: CobaState | None = None,
    surrogate: object = None,
) -> bool:
    """True if :func:`coba_run_numba` handles this call.

    Needs numba, CPU tensors, ``W`` float32 or float64, every perturbation and state
    tensor of ``W``'s dtype (state tensors of the exact shapes ``[B, N]`` / ``[B, M]``),
    no surrogate spikes, and no autograd recording (grad mode off, or no tensor that
    requires a gradient).
    """
    if not _HAVE_NUMBA or surrogate is not None:
        return False
    if W.dtype not in _DTYPES:
        return False
    extra = [t for t in perturbations if t is not None]
    if state is not None:
        # exact shapes only (the torch step would broadcast e.g. a [1, N] state)
        B, (N, M) = inputs.shape[1], W.shape[-2:]
        shapes = ((B, N), (B, M), (B, M), (B, N))
        if any(tuple(t.shape) != sh for t, sh in zip(state, shapes, strict=True)):
            return False
        extra += list(state)
    tensors = [inputs, W, *extra]
    if any(t.device.type != "cpu" for t in tensors):
        return False
    if any(t.dtype != W.dtype for t in extra):
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _constants(params: CobaParams, dtype: type) -> np.ndarray:
    """The scalars of the step in the working dtype (so float32 arithmetic stays float32).

    Order: ``dt/C, -g_L, g_L, E_L, E_exc, E_inh, V_th, V_reset, a_exc, a_inh, std_U,
    recovery factor, refractory steps, 1, 0, 0.5, 6, 1e-4``.
    """
    p = params
    vals = [
        p.dt / p.C,
        -p.g_L,
        p.g_L,
        p.E_L,
        p.E_exc,
        p.E_inh,
        p.V_th,
        p.V_reset,
        math.exp(-p.dt / p.tau_exc),
        math.exp(-p.dt / p.tau_inh),
        p.std_U,
        math.exp(-p.dt / p.tau_rec),
        float(p.ref_steps),
        1.0,
        0.0,
        0.5,
        6.0,
        1e-4,
    ]
    return np.array(vals, dtype=dtype)


if _HAVE_NUMBA:
    import numba
    from numba import prange

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _coba_forward(  # pragma: no cover - compiled
        x,
        W,
        xe,
        xi,
        ino,
        gx,
        v0,
        s0,
        r0,
        ref0,
        cst,
        flags,
        n_in,
        ne,
        Z,
        TR,
        VR,
        AC,
        vf,
        sf,
        rf,
        reff,
    ):
        T, B, _ = x.shape
        N = v0.shape[1]
        M = s0.shape[1]
        has_xe, has_xi, has_in, has_gx = flags[0], flags[1], flags[2], flags[3]
        rec_tr, rec_v, rec_ac, euler = flags[4], flags[5], flags[6], flags[7]
        has_inh, depress = flags[8], flags[9]
        dtc, mgl, gl, el, eex, einh = cst[0], cst[1], cst[2], cst[3], cst[4], cst[5]
        vth, vr, ae, ai, U, arec, rs = cst[6], cst[7], cst[8], cst[9], cst[10], cst[11], cst[12]
        one, zero, half, six, small = cst[13], cst[14], cst[15], cst[16], cst[17]
        wstep = 1 if W.shape[0] > 1 else 0  # batched W: one matrix per trial
        for b in prange(B):
            wb = b * wstep
            v = v0[b].copy()
            s = s0[b].copy()
            r = r0[b].copy()
            ref = ref0[b].copy()
            z = np.zeros(N, v0.dtype)
            ges = np.zeros(N, v0.dtype)
            gis = np.zeros(N, v0.dtype)
            # conductances of the initial traces, one presynaptic row of W^T at a time;
            # afterwards they follow the traces event by event (linear in s)
            for j in range(M):
                sj = s[j]
                if sj != zero:
                    if j < ne:
                        for k in range(N):
                            ges[k] += W[wb, j, k] * sj
                    elif has_inh:
                        for k in range(N):
                            gis[k] += W[wb, j, k] * sj
            for n in range(T):
                if rec_tr:
                    for j in range(M):
                        TR[n, b, j] = s[j]
                for k in range(N):
                    act = not (ref[k] > zero)
                    if rec_ac:
                        AC[n, b, k] = one if act else zero
                    zk = zero
                    vn = vr  # refractory: held at V_r (its update would be discarded)
                    if act:
                        ge = ges[k]
                        gi = gis[k] if has_inh else zero
                        if has_xe:
                            ge = ge + xe[n, b, k]
                        if has_gx:
                            ge = ge + gx[n, b, k]
                        if has_xi:
                            gi = gi + xi[n, b, k]
                        vk = v[k]
                        cur = mgl * (vk - el) - ge * (vk - eex) - gi * (vk - einh)
                        if has_in:
                            cur = cur + ino[n, b, k]
                        if euler:
                            vn = vk + dtc * cur
                        else:
                            h = dtc * (gl + ge + gi)
                            if abs(h) < small:
                                ph = one - half * h + h * h / six
                            else:
                                ph = -np.expm1(-h) / h
                            vn = vk + dtc * cur * ph
                        if vn >= vth:
                            zk = one
                            vn = vr
                    v[k] = vn
                    rk = ref[k] - one
                    if rk < zero:
                        rk = zero
                    ref[k] = rk + zk * rs
                    z[k] = zk
                    Z[n, b, k] = zk
                    if rec_v:
                        VR[n, b, k] = vn
                for k in range(N):
                    ges[k] = ges[k] * ae
                    gis[k] = gis[k] * ai
                for j in range(M):
                    pre = x[n, b, j] if j < n_in else z[j - n_in]
                    a = ae if j < ne else ai
                    if depress:
                        c = r[j] * pre
                        s[j] = s[j] * a + c
                        rn = r[j] - U * r[j] * pre
                        r[j] = one - (one - rn) * arec
                    else:
                        c = pre
                        s[j] = s[j] * a + pre
                    if c != zero:  # g = W s follows the trace: decay, plus W[:, j] c
                        if j < ne:
                            for k in range(N):
                                ges[k] += W[wb, j, k] * c
                        elif has_inh:
                            for k in range(N):
                                gis[k] += W[wb, j, k] * c
            for k in range(N):
                vf[b, k] = v[k]
                reff[b, k] = ref[k]
            for j in range(M):
                sf[b, j] = s[j]
                rf[b, j] = r[j]


def _np(t: Tensor) -> np.ndarray:
    return t.detach().contiguous().numpy()


def coba_run_numba(
    inputs: Tensor,
    W: Tensor,
    net: CobaTopology,
    params: CobaParams,
    *,
    xi_exc: Tensor | None = None,
    xi_inh: Tensor | None = None,
    i_noise: Tensor | None = None,
    g_extra: Tensor | None = None,
    state: CobaState | None = None,
    record: tuple[str, ...] = ("traces",),
) -> CobaRun:
    """:func:`~spikegrad.functional.coba.coba_run`'s simulation, compiled (forward only).

    Takes already validated arguments (``coba_run`` checks them and masks ``W`` with
    the connectivity before it calls this): ``inputs`` ``[T, B, n_in]``, ``W`` ``[N, M]``
    or ``[B, N, M]``, perturbations ``[T, B, N]`` of ``W``'s dtype, ``state`` (default
    :meth:`CobaState.rest`). Returns the same :class:`CobaRun` (new tensors; without
    short-term depression the final resources are ``state.x`` itself, as in the torch
    step).
    """
    if not _HAVE_NUMBA:  # pragma: no cover
        raise RuntimeError("coba_run_numba needs numba")
    T, B, n_in = inputs.shape
    dtype = W.dtype
    npd = np.float32 if dtype == torch.float32 else np.float64
    if state is None:
        state = CobaState.rest(B, net, params, dtype=dtype)
    N, M = net.n, net.m
    x = _np(inputs.to(dtype))
    # W^T per trial, [B or 1, M, N]: a presynaptic unit's weights are contiguous
    w3 = _np((W if W.dim() == 3 else W.unsqueeze(0)).transpose(1, 2))
    dummy = np.zeros((1, 1, 1), npd)
    pert = [dummy if t is None else _np(t) for t in (xi_exc, xi_inh, i_noise, g_extra)]
    flags = np.array(
        [
            xi_exc is not None,
            xi_inh is not None,
            i_noise is not None,
            g_extra is not None,
            "traces" in record,
            "v" in record,
            "active" in record,
            params.method == "euler",
            net.n_inh > 0,
            params.std_U > 0,
        ],
        dtype=np.int64,
    )

    def out(on: bool, width: int) -> np.ndarray:
        return np.empty((T, B, width), npd) if on else dummy

    Z = np.empty((T, B, N), npd)
    TR, VR, AC = out(bool(flags[4]), M), out(bool(flags[5]), N), out(bool(flags[6]), N)
    vf, reff = np.empty((B, N), npd), np.empty((B, N), npd)
    sf, rf = np.empty((B, M), npd), np.empty((B, M), npd)
    _coba_forward(  # type: ignore[call-arg]
        x,
        w3,
        *pert,
        _np(state.v),
        _np(state.s),
        _np(state.x),
        _np(state.ref),
        _constants(params, npd),
        flags,
        n_in,
        net.n_exc_pre,
        Z,
        TR,
        VR,
        AC,
        vf,
        sf,
        rf,
        reff,
    )
    xr = torch.from_numpy(rf) if params.std_U > 0 else state.x
    final = CobaState(torch.from_numpy(vf), torch.from_numpy(sf), xr, torch.from_numpy(reff))
    return CobaRun(
        torch.from_numpy(Z),
        torch.from_numpy(TR) if flags[4] else None,
        torch.from_numpy(VR) if flags[5] else None,
        torch.from_numpy(AC) if flags[6] else None,
        final,
    )


_coba.register_kernel(available, coba_run_numba)
