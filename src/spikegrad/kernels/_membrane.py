"""A recorded membrane trace that refuses, with one line, to be differentiated.

The Triton kernels (:mod:`spikegrad.kernels.lif_triton`) compute the BPTT of the spikes
only; the membrane trace they return is a by-product of the forward sweep, and a loss on
it would silently contribute nothing to any gradient (the fused and numba kernels do
differentiate it). :func:`membrane_without_gradient` wraps
such a trace so that the forward value is unchanged and a backward pass that reaches it
raises :class:`~spikegrad._checks.SpikegradInputError` naming the backend and the fix.
"""

from __future__ import annotations

import torch

from .._checks import SpikegradInputError

__all__ = ["membrane_without_gradient", "needs_graph"]


class _NoGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, mem, backend, *anchors):  # type: ignore[override]
        ctx.backend = backend
        return mem.view_as(mem)

    @staticmethod
    def backward(ctx, _g):  # type: ignore[override]
        raise SpikegradInputError(
            f"the membrane recorded on backend {ctx.backend!r} carries no gradient; use "
            "backend='fused' (or 'auto' or 'reference') for a loss on the membrane"
        )


def needs_graph(*tensors: torch.Tensor | None) -> bool:
    """Whether autograd records a graph through any of ``tensors`` (grad mode on and one
    of them requires grad)."""
    return torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in tensors
    )


def membrane_without_gradient(
    mem: torch.Tensor, backend: str, *anchors: torch.Tensor | None
) -> torch.Tensor:
    """``mem`` unchanged, in a graph whose backward raises (see the module docstring).

    ``anchors`` are the tensors the trace depends on (input, weights): the result
    requires grad when one of them does, so a loss built on it reaches the error instead
    of being silently constant. Without grad mode or such an anchor ``mem`` is returned.
    """
    live = [a for a in anchors if a is not None and a.requires_grad]
    if not live or not torch.is_grad_enabled():
        return mem
    return _NoGradient.apply(mem, backend, *live)
