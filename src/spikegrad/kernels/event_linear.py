r"""Event-driven input projection :math:`I[n] = W x[n]` for sparse spike inputs (numba).

The plain LIF network folds its input projection into its compiled sweep
(:mod:`spikegrad.kernels.lif_numba`); layers whose neuron runs elsewhere (adaptive LIF,
LIF layers with reset by subtraction, a refractory period or another threshold) take
their projection from here. With the events of ``x`` ``[T, B, K]`` (the non-zero entries
per step and sample, :func:`~spikegrad.kernels.lif_numba.build_events`):

.. math::

    I[n, b, :] = \sum_{e \in (n, b)} v_e\, W[:, k_e], \qquad
    \frac{\partial L}{\partial W[:, k]} = \sum_{e:\,k_e = k} v_e\,
        \frac{\partial L}{\partial I[n_e, b_e, :]}, \qquad
    \frac{\partial L}{\partial x[n]} = \frac{\partial L}{\partial I[n]}\, W,

so the forward and the weight gradient cost one row of :math:`W` per input event
instead of a dense :math:`TB \times K \times N` product; rows run in parallel (the
gradient into one accumulator per thread, summed at the end). Inputs denser than
:data:`~spikegrad.kernels.lif_numba.DENSITY_THRESHOLD` use the dense product. The event
scan checks finiteness for free (``finite_name``). Tested per element against
``x @ W.T`` and its autograd gradients (``tests/test_alif_numba.py``).
"""

from __future__ import annotations

import numpy as np
import torch

from .._checks import check_finite
from . import lif_numba as _ln

__all__ = ["event_linear", "available"]


def available(x: torch.Tensor, weight: torch.Tensor) -> bool:
    """True if :func:`event_linear` can take the event-driven path for these tensors."""
    return (
        _ln._HAVE_NUMBA
        and x.dim() == 3
        and x.device.type == weight.device.type == "cpu"
        and x.dtype == weight.dtype
        and x.dtype in (torch.float32, torch.float64)
    )


if _ln._HAVE_NUMBA:
    import numba

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _gather_rows(C, st, ct, idx, val, WT, zero):  # pragma: no cover - compiled
        T, B, N = C.shape
        for r in numba.prange(T * B):
            Ct = C[r // B, r % B]
            for j in range(N):
                Ct[j] = zero
            for e in range(st[r], st[r] + ct[r]):
                Wk = WT[idx[e]]
                v = val[e]
                for j in range(N):
                    Ct[j] += v * Wk[j]

    @numba.njit(parallel=True, cache=True, error_model="numpy")
    def _scatter_rows(G, st, ct, idx, val, dWT):  # pragma: no cover - compiled
        T, B, N = G.shape
        R = T * B
        nchunks = dWT.shape[0]
        for c in numba.prange(nchunks):
            for r in range(c * R // nchunks, (c + 1) * R // nchunks):
                _ln._scatter_row(dWT[c], st, ct, idx, val, r, G[r // B, r % B])


class _EventLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, events):  # type: ignore[override]
        T, B, _ = x.shape
        N = weight.shape[0]
        dt = _ln._np_dtype(x.dtype)
        WT = np.ascontiguousarray(weight.detach().t().numpy())
        C = np.empty((T, B, N), dt)
        _gather_rows(C, events.start, events.count, events.idx, events.val, WT, dt(0))
        # the events as tensors in save_for_backward (freed with the graph, kept for a
        # second backward under retain_graph)
        ev = [torch.from_numpy(a) for a in (events.start, events.count, events.idx, events.val)]
        ctx.save_for_backward(weight, *ev)
        return torch.from_numpy(C)

    @staticmethod
    def backward(ctx, gC):  # type: ignore[override]
        weight, *ev_t = ctx.saved_tensors
        start, count, idx, val = (t.numpy() for t in ev_t)
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        gx = gw = None
        if need_w:
            G = np.ascontiguousarray(gC.detach().numpy())
            T, B, N = G.shape
            nchunks = max(1, min(numba.get_num_threads(), T * B))
            dWT = np.zeros((nchunks, weight.shape[1], N), G.dtype)
            _scatter_rows(G, start, count, idx, val, dWT)
            gw = torch.from_numpy(np.ascontiguousarray(dWT.sum(0).T))
        if need_x:
            gx = gC @ weight.detach()
        return gx, gw, None


def event_linear(
    x: torch.Tensor, weight: torch.Tensor, *, finite_name: str | None = None
) -> torch.Tensor:
    """``x @ weight.T`` for ``x`` ``[T, B, K]``, event-driven where ``x`` is sparse.

    Falls back to the dense product where :func:`available` is false or ``x`` is denser
    than :data:`~spikegrad.kernels.lif_numba.DENSITY_THRESHOLD`. ``finite_name``: raise
    :class:`~spikegrad.SpikegradInputError` naming it if ``x`` holds NaN or inf.
    """
    if available(x, weight):
        # the scan checks every entry's finiteness before it decides on the density
        events = _ln.build_events(x, finite_name=finite_name)
        if events is not None:
            return _EventLinear.apply(x, weight, events)
    elif finite_name is not None:
        check_finite(finite_name, x)
    return x @ weight.t()
