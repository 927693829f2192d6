r"""e-prop: eligibility traces times a learning signal (Bellec et al. 2020).

For a :class:`~spikegrad.nn.SpikingNetwork` with one hidden LIF layer (feed-forward or
recurrent, reset detached) and any task loss :math:`E` of its output:

1. the hidden layer runs forward (any backend) and records :math:`S[n]` and
   :math:`U[n]`;
2. the **learning signal** :math:`L_j[n] = \partial E / \partial S_j[n]` is the gradient
   of the task loss (:meth:`~spikegrad.tasks.Task.loss`: cross-entropy of the readout
   reduced by the network's ``readout_mode``, plus the activity regulariser) with the
   spikes as leaves: through the readout and the regulariser only, never back through
   the hidden layer's own dynamics. The readout's parameters get their exact gradient
   from the same backward pass;
3. the hidden weights get :math:`\widehat{dE/dW_{ji}} = \sum_n L_j[n]\,h(U_j[n]-1)\,
   \epsilon^U_{ji}[n]` with the eligibility vectors :math:`\epsilon` run forward in time
   (:mod:`spikegrad.functional.eprop`, equations there), likewise :math:`V`.

Without recurrent weights (or with ``recurrent_grad=False``, whose BPTT drops the same
paths) this is the BPTT gradient with the same surrogate, exactly: in a feed-forward
layer with a detached reset :math:`\partial S_j[n]/\partial W_{ji}` depends on
neuron :math:`j`'s own state only. With :math:`V \ne 0` e-prop drops the paths by which
a spike changes other neurons' states (an approximation, aligned with BPTT: tested).

**Adaptive threshold** (model kind ``alif``, :class:`~spikegrad.nn.alif.ALIFNetwork` with
one hidden layer): the threshold :math:`\Theta_j = \vartheta + \alpha A_j`,
:math:`A_j[n+1] = \rho A_j[n] + S_j[n]`, adds a second eligibility vector
:math:`\epsilon^A_{ji} = \partial A_j / \partial W_{ji}` (Bellec et al. 2020, Methods):
:math:`e_{ji}[n] = h_j[n](\epsilon^U_{ji}[n] - \alpha\epsilon^A_{ji}[n])`,
:math:`\epsilon^A[n+1] = \rho\epsilon^A[n] + e[n]` with :math:`h_j[n] = F_j[n]\,
\sigma'(U_j[n] - \Theta_j[n])` (:func:`~spikegrad.functional.eprop.alif_eligibility_step`
has the membrane trace of each reset rule and the refractory hold). Every reset rule
(detach, differentiable, subtract), a refractory period and a fixed non-unit threshold are
traced; without ``V`` (or with ``recurrent_grad=False``) the result is BPTT's gradient
exactly (tested to 1e-15). Learned taus, thresholds or ``adapt`` are refused (use BPTT).

**Compiled path.** The hidden-layer sums are taken as in
:mod:`spikegrad.kernels.eprop_numba`: the same finite sum rearranged backwards in time
per neuron (an adjoint over ``[T, B, N]``) and closed with one matrix product per weight
matrix, without the ``[B, N, N_in]`` traces; compiled where numba runs (CPU
float32/float64), a torch loop over time elsewhere (e.g. CUDA); equal to the forward
traces to round-off
(``tests/test_rules_fast.py``) for every configuration above. ``fast=False`` of
:func:`layer_gradients` / :func:`alif_layer_gradients`, or the environment variable
``SPIKEGRAD_RULE_REFERENCE=1``, runs the forward traces (the reference).

**Learnable time constants** (``learn_tau=True``): the hidden layer's per-neuron
:math:`\beta_m, \beta_s` get e-prop gradients from their own eligibility traces (exact
without ``V``), chained to :math:`\tau` by autograd through
:meth:`~spikegrad.nn.TimeConstants.params`; the readout's taus get their exact gradient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import torch

from ..._checks import SpikegradInputError
from ...functional.alif import ALIFParams
from ...functional.eprop import (
    ALIFTraces,
    EligibilityTraces,
    alif_eligibility_step,
    alif_spike_derivative,
    eligibility_step,
)
from ...functional.lif import LIFParams, LIFState
from ...functional.surrogate import Surrogate
from .base import Rule, RuleStep, model_kind

__all__ = ["Eprop", "LayerGradients", "layer_gradients", "alif_layer_gradients"]


class LayerGradients(NamedTuple):
    """e-prop gradients of one hidden LIF layer (``None`` where it has no such parameter)."""

    weight: torch.Tensor
    rec_weight: torch.Tensor | None
    beta_mem: torch.Tensor | None
    beta_syn: torch.Tensor | None


@torch.no_grad()
def layer_gradients(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    taus: bool = False,
    fast: bool | None = None,
) -> LayerGradients:
    r"""e-prop gradient of one LIF layer from its recorded run and a learning signal.

    .. math::

        \widehat{\frac{dE}{dW_{ji}}} = \sum_n L_j[n]\, h(U_j[n] - 1)\,
        \epsilon^U_{ji}[n]

    with :math:`\epsilon` from :func:`~spikegrad.functional.eprop.eligibility_step`
    (forward in time, memory independent of ``T``); likewise ``V`` and, with ``taus``,
    the per-neuron decay factors.

    Parameters
    ----------
    x:
        Input spikes ``[T, B, N_in]``.
    spikes, membrane:
        The layer's :math:`S[n]` and :math:`U[n]`, ``[T, B, N]``.
    signal:
        Learning signal :math:`L_j[n] = \partial E/\partial S_j[n]`, ``[T, B, N]``.
    params, surrogate:
        The layer's decay factors and surrogate.
    weight, rec_weight:
        ``W [N, N_in]`` and ``V [N, N]`` (``V`` also rebuilds :math:`I[n]` for the
        time-constant traces).
    taus:
        Also return the gradients of :math:`\beta_m, \beta_s` (per neuron, ``[N]``).
    fast:
        ``None`` (default) or ``True``: the adjoint (:mod:`spikegrad.kernels.eprop_numba`:
        the same sum taken backwards per neuron, then one matrix product; no
        ``[B, N, N_in]`` traces), compiled where numba runs
        (:func:`~spikegrad.kernels.eprop_numba.available`), else as a torch loop over
        time; ``False``: the forward traces (the reference). ``None`` also takes the
        reference when ``SPIKEGRAD_RULE_REFERENCE`` is set.
    """
    if _use_fast(fast, "eligibility_step", x, spikes, membrane, signal, weight, rec_weight):
        return _layer_gradients_fast(
            x,
            spikes,
            membrane,
            signal,
            params,
            surrogate,
            weight=weight,
            rec_weight=rec_weight,
            taus=taus,
        )
    return _layer_gradients_reference(
        x,
        spikes,
        membrane,
        signal,
        params,
        surrogate,
        weight=weight,
        rec_weight=rec_weight,
        taus=taus,
    )


def _use_fast(fast: bool | None, step: str, *tensors: torch.Tensor | None) -> bool:
    """Resolve the ``fast`` argument of the gradient functions.

    ``None``: the adjoint unless :data:`~spikegrad.kernels.eprop_numba.REFERENCE_ENV` is
    set or this module's trace step ``step`` (``eligibility_step`` /
    ``alif_eligibility_step``) has been replaced, e.g. to ablate a trace (the adjoint
    implements the functional step itself, so the replacement would be ignored).
    """
    from ...functional import eprop as functional
    from ...kernels import eprop_numba

    if fast is None:
        replaced = globals()[step] is not getattr(functional, step)
        return not replaced and not eprop_numba.reference_forced()
    return bool(fast)


def _compiled(compiled: bool | None, *tensors: torch.Tensor | None) -> bool:
    """Compiled scans (``compiled=None``: where numba can run them) or the torch loop."""
    from ...kernels import eprop_numba

    if compiled is None:
        return eprop_numba.available(*tensors)
    if compiled and not eprop_numba.available(*tensors):
        raise SpikegradInputError(
            "the compiled e-prop scans need numba and CPU float32/float64 tensors of one dtype"
        )
    return compiled


def _lowpass_torch(x: torch.Tensor, beta: torch.Tensor | float) -> torch.Tensor:
    r""":math:`y[0] = 0`, :math:`y[n+1] = \beta y[n] + x[n]` (``x [T, B, N]``), torch loop."""
    y = torch.empty_like(x)
    v = torch.zeros_like(x[0])
    for n in range(x.shape[0]):
        y[n] = v
        v = beta * v + x[n]
    return y


def _lif_adjoint_torch(
    psi: torch.Tensor,
    spikes: torch.Tensor,
    bm: torch.Tensor | float,
    bs: torch.Tensor | float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`~spikegrad.kernels.eprop_numba.lif_adjoint` as a torch loop (any device)."""
    r_out, a_out = torch.empty_like(psi), torch.empty_like(psi)
    a = torch.zeros_like(psi[0])
    r = torch.zeros_like(psi[0])
    for n in range(psi.shape[0] - 1, -1, -1):
        r_out[n], a_out[n] = r, a
        ka = (1.0 - spikes[n]) * a
        r = (1.0 - bm) * ka + bs * r
        a = psi[n] + bm * ka
    return r_out, a_out


def _alif_adjoint_torch(
    signal: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    surrogate: Surrogate,
    u_tilde: torch.Tensor | None,
    params: ALIFParams,
    reset: str,
) -> torch.Tensor:
    """:func:`~spikegrad.kernels.eprop_numba.alif_adjoint` as torch loops (any device)."""
    bm, bs, rho, theta0, alpha, refractory = params
    T = spikes.shape[0]
    a_st, free = torch.empty_like(spikes), torch.ones_like(spikes)
    a = torch.zeros_like(spikes[0])
    ref = torch.zeros_like(a)
    for n in range(T):  # A[n] and F[n] as the reference rebuilds them
        a_st[n] = a
        if refractory > 0:
            free[n] = (ref <= 0).to(spikes.dtype)
            s = spikes[n]
            ref = torch.where(
                s > 0, torch.full_like(ref, float(refractory)), (ref - 1).clamp_min(0)
            )
        a = rho * a + spikes[n]
    h = surrogate.derivative(membrane - (theta0 + alpha * a_st)) * free
    r_out = torch.empty_like(signal)
    lu, la, r = (torch.zeros_like(a) for _ in range(3))
    for n in range(T - 1, -1, -1):
        r_out[n] = r
        s, f, hh = spikes[n], free[n], h[n]
        if reset == "subtract":
            muu, mua, kappa = bm + 0.0 * s, -s * alpha, 1.0
        else:
            muu, mua, kappa = (1.0 - s) * bm, 0.0 * s, 1.0 - s
            if reset == "differentiable":
                assert u_tilde is not None
                muu = muu - u_tilde[n] * hh
                mua = u_tilde[n] * hh * alpha
        muu = f * muu + (1.0 - f)
        mua = f * mua
        r = f * (1.0 - bm) * kappa * lu + bs * r
        o = signal[n] * hh
        lu, la = o + muu * lu + hh * la, -o * alpha + mua * lu + (rho - hh * alpha) * la
    return r_out


def _weight_grad(r: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_{n,b} R_{bj}[n+1] z_{bi}[n]`: one ``[N, TB] @ [TB, M]`` product."""
    return r.reshape(-1, r.shape[2]).t() @ z.reshape(-1, z.shape[2])


def _layer_gradients_fast(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None,
    taus: bool,
    compiled: bool | None = None,
) -> LayerGradients:
    """:func:`layer_gradients` by the adjoint (``kernels/eprop_numba.py``): compiled
    (``compiled=None``: where numba runs) or the same recursion as a torch loop."""
    from ...kernels import eprop_numba

    bm, bs = (b.detach() if isinstance(b, torch.Tensor) else b for b in params)
    signal = signal.to(x.dtype)
    compiled = _compiled(compiled, x, spikes, membrane, signal)
    if compiled:
        r, a = eprop_numba.lif_adjoint(signal, membrane, spikes, surrogate, bm, bs)
    else:
        psi = signal * surrogate.derivative(membrane - 1.0)
        r, a = _lif_adjoint_torch(psi, spikes, bm, bs)
    gw = _weight_grad(r, x)
    gv = _weight_grad(r, spikes) if rec_weight is not None else None
    g_bm = g_bs = None
    if taus:
        current = x @ weight.t()
        if rec_weight is not None:
            current = current + spikes @ rec_weight.t()
        i = eprop_numba.lowpass(current, bs) if compiled else _lowpass_torch(current, bs)
        g_bm = ((membrane - i) * (1.0 - spikes) * a).sum((0, 1))
        g_bs = (i * r).sum((0, 1))
    return LayerGradients(gw, gv, g_bm, g_bs)


@torch.no_grad()
def _layer_gradients_reference(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: LIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    taus: bool = False,
) -> LayerGradients:
    """:func:`layer_gradients` by the forward eligibility traces (the reference)."""
    T, B, n_in = x.shape
    n = spikes.shape[2]
    psi = signal * surrogate.derivative(membrane - 1.0)  # L_j[n] h_j[n]
    tr = EligibilityTraces.zeros(
        B, n, n_in, recurrent=rec_weight is not None, taus=taus, dtype=x.dtype, device=x.device
    )
    gw = torch.zeros_like(weight)
    gv = torch.zeros_like(rec_weight) if rec_weight is not None else None
    g_bm = g_bs = None
    if taus:
        g_bm = torch.zeros(n, dtype=x.dtype, device=x.device)
        g_bs = torch.zeros_like(g_bm)
        bs = params.beta_syn
        bs = bs.detach() if isinstance(bs, torch.Tensor) else bs
        current = x @ weight.t()  # I[n+1] = beta_s I[n] + W x[n] + V S[n]
        if rec_weight is not None:
            current = current + spikes @ rec_weight.t()
    i = torch.zeros(B, n, dtype=x.dtype, device=x.device)  # I[n], for the tau traces
    for t in range(T):
        if t > 0:  # every trace is zero at step 0
            p = psi[t]
            gw += torch.einsum("bj,bji->ji", p, tr.eu_in)
            if gv is not None:
                gv += torch.einsum("bj,bji->ji", p, tr.eu_rec)
            if taus:
                g_bm += (p * tr.eu_bm).sum(0)
                g_bs += (p * tr.eu_bs).sum(0)
        tr = eligibility_step(x[t], spikes[t], LIFState(membrane[t], i), tr, params)
        if taus:
            i = bs * i + current[t]
    return LayerGradients(gw, gv, g_bm, g_bs)


@torch.no_grad()
def alif_layer_gradients(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: ALIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    fast: bool | None = None,
) -> LayerGradients:
    r"""e-prop gradient of one adaptive-threshold layer (Bellec et al. 2020's ALIF traces).

    .. math::

        \widehat{\frac{dE}{dW_{ji}}} = \sum_n L_j[n]\, h_j[n]
            \big(\epsilon^U_{ji}[n] - \alpha\,\epsilon^A_{ji}[n]\big), \qquad
        h_j[n] = F_j[n]\,\sigma'(U_j[n] - \Theta_j[n])

    with :math:`\Theta_j[n] = \vartheta + \alpha A_j[n]` and the free flag :math:`F_j[n]`
    rebuilt from the recorded spikes (:math:`A[n+1] = \rho A[n] + S[n]`, the refractory
    counter), the traces from
    :func:`~spikegrad.functional.eprop.alif_eligibility_step`; likewise ``V``. The
    ``"differentiable"`` reset needs :math:`\tilde U = \beta_m U + (1 - \beta_m) I`, so
    :math:`I` is rebuilt from ``x``, the spikes and the weights.

    Parameters
    ----------
    x, spikes, membrane, signal:
        As :func:`layer_gradients` (``membrane`` is :math:`U[n]` before each step).
    params:
        The layer's :class:`~spikegrad.functional.alif.ALIFParams` (fixed values).
    surrogate, reset:
        The layer's surrogate and reset rule.
    weight, rec_weight:
        ``W [N, N_in]`` and ``V [N, N]``.
    fast:
        As :func:`layer_gradients`: ``None`` / ``True`` the adjoint (compiled where numba
        runs, else a torch loop), ``False`` the forward traces.
    """
    if _use_fast(fast, "alif_eligibility_step", x, spikes, membrane, signal, weight, rec_weight):
        return _alif_gradients_fast(
            x,
            spikes,
            membrane,
            signal,
            params,
            surrogate,
            weight=weight,
            rec_weight=rec_weight,
            reset=reset,
        )
    return _alif_gradients_reference(
        x,
        spikes,
        membrane,
        signal,
        params,
        surrogate,
        weight=weight,
        rec_weight=rec_weight,
        reset=reset,
    )


def _alif_gradients_fast(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: ALIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None,
    reset: str,
    compiled: bool | None = None,
) -> LayerGradients:
    """:func:`alif_layer_gradients` by the adjoint (``kernels/eprop_numba.py``): compiled
    (``compiled=None``: where numba runs) or the same recursion as torch loops."""
    from ...kernels import eprop_numba

    if reset not in eprop_numba.RESET_CODES:
        raise ValueError(f"unknown reset {reset!r}")
    bm, bs, rho, theta0, alpha, r = (
        p.detach() if isinstance(p, torch.Tensor) else p for p in params
    )
    signal = signal.to(x.dtype)
    compiled = _compiled(compiled, x, spikes, membrane, signal)
    u_tilde = None
    if reset == "differentiable":
        current = x @ weight.t()
        if rec_weight is not None:
            current = current + spikes @ rec_weight.t()
        i = eprop_numba.lowpass(current, bs) if compiled else _lowpass_torch(current, bs)
        u_tilde = bm * membrane + (1.0 - bm) * i
    if compiled:
        rt = eprop_numba.alif_adjoint(
            signal,
            spikes,
            membrane,
            surrogate,
            u_tilde,
            beta_mem=bm,
            beta_syn=bs,
            rho=rho,
            threshold=theta0,
            adapt=alpha,
            refractory=int(r),
            reset=reset,
        )
    else:
        p = ALIFParams(bm, bs, rho, theta0, alpha, int(r))
        rt = _alif_adjoint_torch(signal, spikes, membrane, surrogate, u_tilde, p, reset)
    gw = _weight_grad(rt, x)
    gv = _weight_grad(rt, spikes) if rec_weight is not None else None
    return LayerGradients(gw, gv, None, None)


@torch.no_grad()
def _alif_gradients_reference(
    x: torch.Tensor,
    spikes: torch.Tensor,
    membrane: torch.Tensor,
    signal: torch.Tensor,
    params: ALIFParams,
    surrogate: Surrogate,
    *,
    weight: torch.Tensor,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
) -> LayerGradients:
    """:func:`alif_layer_gradients` by the forward eligibility traces (the reference)."""
    T, B, n_in = x.shape
    n = spikes.shape[2]
    bm, bs, rho, theta0, alpha, r = params
    tr = ALIFTraces.zeros(
        B, n, n_in, recurrent=rec_weight is not None, dtype=x.dtype, device=x.device
    )
    gw = torch.zeros_like(weight)
    gv = torch.zeros_like(rec_weight) if rec_weight is not None else None
    a = torch.zeros(B, n, dtype=x.dtype, device=x.device)
    ref = torch.zeros_like(a)
    i = torch.zeros_like(a)
    current = None
    if reset == "differentiable":
        current = x @ weight.t()
        if rec_weight is not None:
            current = current + spikes @ rec_weight.t()
    for t in range(T):
        s = spikes[t]
        free = (ref <= 0).to(x.dtype) if r > 0 else None
        h = surrogate.derivative(membrane[t] - (theta0 + alpha * a))
        if free is not None:
            h = h * free
        if t > 0:  # every trace is zero at step 0
            e_in = alif_spike_derivative(tr.eu_in, tr.ea_in, h, alpha)
            gw += torch.einsum("bj,bji->ji", signal[t], e_in)
            if gv is not None:
                assert tr.eu_rec is not None and tr.ea_rec is not None
                e_rec = alif_spike_derivative(tr.eu_rec, tr.ea_rec, h, alpha)
                gv += torch.einsum("bj,bji->ji", signal[t], e_rec)
        u_tilde = bm * membrane[t] + (1.0 - bm) * i if current is not None else None
        tr = alif_eligibility_step(x[t], s, h, tr, params, reset=reset, free=free, u_tilde=u_tilde)
        a = rho * a + s
        if r > 0:
            ref = torch.where(s > 0, torch.full_like(ref, float(r)), (ref - 1).clamp_min(0))
        if current is not None:
            i = bs * i + current[t]
    return LayerGradients(gw, gv, None, None)


@dataclass
class Eprop(Rule):
    """e-prop: forward eligibility traces times the task loss's learning signal (one layer)."""

    name: ClassVar[str] = "eprop"
    models: ClassVar[tuple[str, ...]] = ("lif", "alif")
    exact: ClassVar[bool] = False

    def _check_model(self, model: torch.nn.Module) -> None:
        layers = model.layers
        if model_kind(model) == "alif":
            self._check_alif(model)
            return
        if len(layers) != 1:
            raise SpikegradInputError(
                f"rule 'eprop' trains a SpikingNetwork with exactly one hidden layer "
                f"(feed-forward or recurrent, reset='detach'); this one has {len(layers)} "
                "hidden layers: use hidden=(N,) (--hidden N), or --rule bptt for deeper "
                "networks"
            )
        if layers[0].reset == "detach" and getattr(layers[0], "neuron_options", False):
            raise SpikegradInputError(
                "rule 'eprop' traces the plain eq. 4.1 LIF; this network has a refractory "
                "period or a non-unit / learnable threshold: use --rule bptt"
            )
        if layers[0].reset != "detach":
            raise SpikegradInputError(
                f"rule 'eprop' needs the reset detached (reset='detach'); this network has "
                f"reset={layers[0].reset!r}: use --reset detach, or --rule bptt"
            )

    def _check_alif(self, model: torch.nn.Module) -> None:
        layers = model.layers
        if len(layers) != 1:
            raise SpikegradInputError(
                f"rule 'eprop' trains an ALIFNetwork with exactly one hidden layer; this one "
                f"has {len(layers)} hidden layers: use hidden=(N,) (--hidden N), or --rule bptt"
            )
        layer = layers[0]
        learned = [
            name
            for name, v in (
                ("tau_mem/tau_syn/tau_adapt", layer.taus.learn_tau),
                ("threshold", isinstance(layer.threshold, torch.Tensor)),
                ("adapt", isinstance(layer.adapt, torch.Tensor)),
            )
            if v
        ]
        if learned:
            raise SpikegradInputError(
                f"rule 'eprop' traces the ALIF weights only; this network learns "
                f"{', '.join(learned)}: use --rule bptt"
            )
        if layer.projection is not None:
            raise SpikegradInputError(
                "rule 'eprop' traces the plain projection x @ W.T; this layer has an input "
                "projection (delays): use --rule bptt"
            )

    def gradients(self, model: torch.nn.Module, task: Any, x: torch.Tensor, y: Any) -> RuleStep:
        """Readout: exact gradient; hidden layer: e-prop (module docstring)."""
        from ...nn.network import SNNOutput

        layer, ro = model.layers[0], model.readout
        for p in model.parameters():
            p.grad = None
        with torch.no_grad():
            spikes, membrane = layer(x, record_membrane=True, check_finite=True)
        leaf = spikes.detach().requires_grad_(True)
        out = SNNOutput(ro(leaf), (leaf,), ())
        loss = task.loss(model, out, y)
        loss.backward()  # readout parameters: exact; leaf.grad: the learning signal
        signal = leaf.grad if leaf.grad is not None else torch.zeros_like(spikes)
        if model_kind(model) == "alif":
            with torch.no_grad():
                g = alif_layer_gradients(
                    x,
                    spikes,
                    membrane,
                    signal,
                    layer.neuron_params(),
                    layer.surrogate,
                    weight=layer.weight.detach(),
                    rec_weight=None if layer.rec_weight is None else layer.rec_weight.detach(),
                    reset=layer.reset,
                )
            if layer.weight.requires_grad:
                layer.weight.grad = g.weight
            if layer.rec_weight is not None and layer.rec_weight.requires_grad:
                layer.rec_weight.grad = g.rec_weight
            return RuleStep(loss.detach(), SNNOutput(out.readout.detach(), (spikes,), ()))
        learn = layer.taus.learn_tau
        with torch.no_grad():
            params = layer.taus.params()
        g = layer_gradients(
            x,
            spikes,
            membrane,
            signal,
            params,
            layer.surrogate,
            weight=layer.weight.detach(),
            rec_weight=None if layer.rec_weight is None else layer.rec_weight.detach(),
            taus=learn,
        )
        if layer.weight.requires_grad:
            layer.weight.grad = g.weight
        if layer.rec_weight is not None and layer.rec_weight.requires_grad:
            layer.rec_weight.grad = g.rec_weight
        if learn:  # chain d/dbeta to d/dtau through TimeConstants.params (clamp included)
            taus = layer.taus
            bm, bs = taus.params()
            for beta, tau, gb in ((bm, taus.tau_mem, g.beta_mem), (bs, taus.tau_syn, g.beta_syn)):
                if tau.requires_grad:
                    (tau.grad,) = torch.autograd.grad(beta, tau, gb, retain_graph=True)
        return RuleStep(loss.detach(), SNNOutput(out.readout.detach(), (spikes,), ()))
