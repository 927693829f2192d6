r"""GPU kernels in Triton: the LIF layer (eq. 4.1) and the leaky-integrator readout.

Same recursion and hand-written adjoint as :mod:`spikegrad.kernels.lif_fused` (read its
docstring for the equations), with the time loops in Triton kernels that run parallel
over the ``B * N`` (batch x neuron) elements. Dense input projections stay outside the
kernels (``torch.matmul``, i.e. cuBLAS on a GPU), as do the weight gradients.

Kernel design
-------------
*Feed-forward forward sweep*: one persistent kernel. Each program owns a block of
``BLOCK`` elements of the flattened ``[B, N]`` state, keeps :math:`u, i` in registers and
loops over all ``T`` steps, reading ``x[n]`` and writing ``U[n], I[n], S[n]`` (coalesced:
consecutive elements are consecutive in memory at every step). One launch per sequence.

*Feed-forward backward sweep* (and the recurrent one when ``recurrent_grad=False``,
whose adjoint is element-wise too): one persistent kernel running the adjoint from
``n = T-1`` down to 0 with :math:`g_u, g_i` in registers; it writes ``dL/dx[n] =
g_i[n+1]`` and accumulates the time-constant gradients per element in registers,
:math:`\sum_n g_u[n+1] k[n] (U[n]-I[n])` and :math:`\sum_n g_i[n+1] I[n]`, stored once
as ``[B, N]`` partial sums that torch reduces over the batch. The surrogate derivative
:math:`h(U[n]-1)` is computed in the kernel (it is never stored).

*Recurrent*: the product :math:`V S[n]` couples all neurons of a sample at every step.
The forward runs **one Triton launch per step** (element-wise update: ``S[n]``,
``U[n+1]``, ``I[n+1] = \beta_s I[n] + x[n]``) followed by an in-place
``torch.addmm`` (cuBLAS) that adds :math:`S[n] V^\top` to ``I[n+1]``. The backward
likewise computes :math:`g_i[n+1] V` with ``torch.matmul`` and then one element-wise
Triton launch per step, with :math:`g_u` and the time-constant partial sums kept in
``[B, N]`` buffers between launches. So a recurrent sweep costs ``2 T`` launches each
way; a single persistent kernel with the product inside (``tl.dot`` over neuron tiles and
a grid-wide barrier per step) would save the launch overhead at small ``B * N`` but
needs cross-program synchronisation that Triton does not offer portably, and could not
be proven in the interpreter the same way.

*Readout*: one persistent kernel each way (the forward recursion from ``U[0] = u_0``,
and its adjoint), parallel over ``B * K``.

Surrogates: the derivative of every registered surrogate is written in Triton and
selected by the compile-time code of :func:`spikegrad.kernels.lif_numba.surrogate_code`
(dispatch on the exact registered type, never on the name alone: a subclass may
override ``derivative``). The scale :math:`\beta` (and :math:`\pi\beta` for arctan) is
passed as a tensor of the data dtype so float64 runs use the same constants as the
torch reference.

Where it runs: on CUDA tensors (compiled), and on CPU tensors only under Triton's
interpreter (``TRITON_INTERPRET=1`` set before triton is first imported), which executes
the same kernel code with numpy; the tests use it to check every kernel against the
reference without a GPU. float32 and float64; other dtypes are refused
(:func:`unsupported` says why).

Triton is optional: this module imports it on first use. Whether it compiles or
interprets is fixed per process when ``triton`` is first imported (``triton.jit`` reads
``TRITON_INTERPRET`` when a function is defined, Triton's own library functions included),
so the interpreter needs the variable set before that import: tests/conftest.py sets it.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
from functools import cache
from types import ModuleType

import torch

from .._checks import SpikegradInputError
from ..functional.surrogate import Surrogate
from .lif_numba import SURROGATE_CODES, surrogate_code

__all__ = [
    "RESET_MODES",
    "available",
    "have_triton",
    "interpret_mode",
    "li_sequence_triton",
    "lif_sequence_triton",
    "unsupported",
]

#: Reset modes the kernels implement.
RESET_MODES = ("detach", "differentiable")

#: Elements per program on a GPU (one per thread with the default four warps).
_BLOCK_GPU = 128
#: Elements per program in the interpreter: small, so tiny test sizes still span several
#: programs and exercise the masked tail of the last one.
_BLOCK_INTERPRET = 4


@cache
def have_triton() -> bool:
    """Whether ``import triton`` works here."""
    try:
        import triton  # noqa: F401
        import triton.language  # noqa: F401
    except Exception:  # ImportError, or a broken install (missing driver libs)
        return False
    return True


def interpret_mode() -> bool:
    """Whether Triton's interpreter runs the kernels in this process.

    ``TRITON_INTERPRET=1`` must be set now *and* have been set when ``triton`` was first
    imported (Triton builds its own library functions in the mode chosen at import).
    """
    env = os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")
    return env and have_triton() and _imported_interpreted()


@cache
def _imported_interpreted() -> bool:
    import triton.language as tl
    from triton.runtime.interpreter import InterpretedFunction

    return isinstance(getattr(tl, "zeros_like", None), InterpretedFunction)


def unsupported(surrogate: Surrogate | None, x: torch.Tensor) -> str | None:
    """Why these kernels cannot run a call on ``x`` (``None`` if they can).

    ``surrogate=None`` asks about the readout kernel.
    """
    if not have_triton():
        return "Triton is not installed (pip install triton)"
    if x.dtype not in (torch.float32, torch.float64):
        return f"the Triton kernels take float32 or float64 inputs, got {x.dtype}"
    if x.device.type == "cpu":
        if not interpret_mode():
            return (
                "the Triton kernels run on CUDA tensors; on CPU tensors only under Triton's "
                "interpreter (set TRITON_INTERPRET=1 before triton is first imported)"
            )
    elif x.device.type != "cuda":
        return f"the Triton kernels run on CUDA tensors, got device {x.device}"
    if x.numel() >= 2**31:
        return f"the kernels index with 32-bit offsets: at most 2^31 - 1 elements, got {x.numel()}"
    if surrogate is not None and surrogate_code(surrogate) is None:
        return (
            f"surrogate {surrogate!r} (type {type(surrogate).__qualname__}) has no Triton "
            f"derivative: only the exact registered classes ({', '.join(sorted(SURROGATE_CODES))}) "
            "are compiled, not subclasses or other surrogates"
        )
    return None


def available(surrogate: Surrogate | None, x: torch.Tensor) -> bool:
    """True if the kernels handle a call on ``x`` (see :func:`unsupported`)."""
    return unsupported(surrogate, x) is None


def _require(surrogate: Surrogate | None, x: torch.Tensor) -> int:
    why = unsupported(surrogate, x)
    if why is not None:
        raise SpikegradInputError(f"backend='triton': {why}; use backend='auto' or 'fused'")
    if surrogate is None:
        return -1
    code = surrogate_code(surrogate)
    assert code is not None  # unsupported() refused surrogates without a code
    return code


@cache
def _kernels() -> ModuleType:
    """The kernels (``_triton_src.py``), imported on first use."""
    return importlib.import_module("._triton_src", __package__)


def _setup(x: torch.Tensor) -> tuple[ModuleType, int, tuple[int]]:
    """Kernels for ``x``'s mode, the block size and the 1-D grid over ``B * N`` elements."""
    interpret = x.device.type == "cpu"
    block = _BLOCK_INTERPRET if interpret else _BLOCK_GPU
    m = x.shape[1] * x.shape[2]
    return _kernels(), block, ((m + block - 1) // block,)


def _on_device(x: torch.Tensor):
    """Make ``x``'s GPU the current one while launching (Triton launches on the current
    device; autograd runs a CUDA backward on its tensors' device by itself)."""
    return torch.cuda.device(x.device) if x.device.type == "cuda" else contextlib.nullcontext()


def _per_neuron(b, x: torch.Tensor) -> torch.Tensor:
    """A decay factor (number, 0-d or ``[N]`` tensor) as a contiguous ``[N]`` vector."""
    n = x.shape[-1]
    if not isinstance(b, torch.Tensor):
        return torch.full((n,), float(b), dtype=x.dtype, device=x.device)
    return b.detach().to(device=x.device, dtype=x.dtype).expand(n).contiguous()


def _as_param(b, x: torch.Tensor) -> torch.Tensor:
    return b if isinstance(b, torch.Tensor) else torch.tensor(b, dtype=x.dtype, device=x.device)


def _reduce_param_grad(partial: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``[B, N]`` partial sums -> the gradient of a decay factor shaped like ``like``
    (0-d, ``[1]`` or ``[N]``), on its device and in its dtype."""
    g = partial.sum(dim=0).sum_to_size(like.shape)  # over the batch (and neurons if shared)
    return g.to(device=like.device, dtype=like.dtype)


class _LIFTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bm, bs, rec_weight, surrogate, code, dr, rg):  # type: ignore[override]
        T, B, N = x.shape
        k, block, grid = _setup(x)
        x = x.contiguous()
        bmv, bsv = _per_neuron(bm, x), _per_neuron(bs, x)
        S = x.new_empty(T, B, N)
        if rec_weight is None:
            U = x.new_empty(T, B, N)
            I_ = x.new_empty(T, B, N)
            k.lif_fwd_ff[grid](x, U, I_, S, bmv, bsv, B * N, N, T, BLOCK=block)
        else:
            # U, I carry one extra step (the state after the last), unused afterwards
            U = x.new_zeros(T + 1, B, N)
            I_ = x.new_zeros(T + 1, B, N)
            vt = rec_weight.detach().t()
            for n in range(T):
                k.lif_fwd_step[grid](
                    x[n], U[n], I_[n], S[n], U[n + 1], I_[n + 1], bmv, bsv, B * N, N, BLOCK=block
                )
                I_[n + 1].addmm_(S[n], vt)
            U, I_ = U[:T], I_[:T]
        ctx.save_for_backward(U, I_, S, bm, bs, rec_weight)
        ctx.surrogate, ctx.code, ctx.dr, ctx.rg = surrogate, code, dr, rg
        ctx.mark_non_differentiable(U)
        return S, U

    @staticmethod
    def backward(ctx, gS, _gU):  # type: ignore[override]
        U, I_, S, bm, bs, V = ctx.saved_tensors
        T, B, N = U.shape
        k, block, grid = _setup(U)
        gS = torch.zeros_like(U) if gS is None else gS.contiguous()
        bmv, bsv = _per_neuron(bm, U), _per_neuron(bs, U)
        sur = ctx.surrogate
        consts = torch.tensor([sur.beta, math.pi * sur.beta], dtype=U.dtype, device=U.device)
        GX = torch.empty_like(U)  # GX[n] = g_i[n+1] = dL/dx[n]
        if V is None or not ctx.rg:
            PBM = U.new_empty(B, N)
            PBS = U.new_empty(B, N)
            k.lif_bwd_ff[grid](
                gS, U, I_, S, bmv, bsv, consts, GX, PBM, PBS, B * N, N, T,
                CODE=ctx.code, DR=ctx.dr, BLOCK=block,
            )  # fmt: skip
        else:
            PBM = U.new_zeros(B, N)
            PBS = U.new_zeros(B, N)
            GU = U.new_zeros(B, N)
            scratch = U.new_empty(B, N)  # g_i[0] (the initial state's adjoint) is not needed
            GX[T - 1].zero_()
            for n in range(T - 1, -1, -1):
                R = GX[n] @ V.detach()
                k.lif_bwd_step[grid](
                    gS[n], U[n], I_[n], S[n], R, GU, GX[n], GX[n - 1] if n else scratch,
                    PBM, PBS, bmv, bsv, consts, B * N, N,
                    CODE=ctx.code, DR=ctx.dr, BLOCK=block,
                )  # fmt: skip
        g_bm = _reduce_param_grad(PBM, bm) if ctx.needs_input_grad[1] else None
        g_bs = _reduce_param_grad(PBS, bs) if ctx.needs_input_grad[2] else None
        g_V = None
        if V is not None and ctx.needs_input_grad[3]:
            g_V = GX.reshape(T * B, N).t() @ S.reshape(T * B, N)
        return GX, g_bm, g_bs, g_V, None, None, None, None


def lif_sequence_triton(
    x: torch.Tensor,
    beta_mem,
    beta_syn,
    surrogate: Surrogate,
    *,
    rec_weight: torch.Tensor | None = None,
    reset: str = "detach",
    recurrent_grad: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spikes ``[T, B, N]`` and membrane trace ``U[0..T-1]`` from projected currents ``x``.

    Same semantics and signature as :func:`spikegrad.kernels.lif_fused.lif_sequence_fused`
    (zero initial state; the membrane trace carries no gradient).

    Raises
    ------
    SpikegradInputError
        If the kernels cannot run this call (see :func:`unsupported`) or ``reset`` is
        not one of :data:`RESET_MODES`.
    """
    code = _require(surrogate, x)
    if reset not in RESET_MODES:
        raise SpikegradInputError(
            f"backend='triton' implements reset in {RESET_MODES}, got {reset!r}; "
            "use backend='auto' or 'fused'"
        )
    with _on_device(x):
        return _LIFTriton.apply(
            x,
            _as_param(beta_mem, x),
            _as_param(beta_syn, x),
            rec_weight,
            surrogate,
            code,
            reset == "differentiable",
            bool(recurrent_grad),
        )


class _LITriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bm, bs, u0):  # type: ignore[override]
        T, B, K = x.shape
        k, block, grid = _setup(x)
        x = x.contiguous()
        bmv, bsv = _per_neuron(bm, x), _per_neuron(bs, x)
        U = x.new_empty(T, B, K)
        I_ = x.new_empty(T, B, K)
        c = torch.tensor([u0], dtype=x.dtype, device=x.device)
        k.li_fwd[grid](x, U, I_, bmv, bsv, c, B * K, K, T, BLOCK=block)
        ctx.save_for_backward(U, I_, bm, bs)
        return U

    @staticmethod
    def backward(ctx, gU):  # type: ignore[override]
        U, I_, bm, bs = ctx.saved_tensors
        T, B, K = U.shape
        k, block, grid = _setup(U)
        bmv, bsv = _per_neuron(bm, U), _per_neuron(bs, U)
        GX = torch.empty_like(U)
        PBM = U.new_empty(B, K)
        PBS = U.new_empty(B, K)
        k.li_bwd[grid](gU.contiguous(), U, I_, bmv, bsv, GX, PBM, PBS, B * K, K, T, BLOCK=block)
        g_bm = _reduce_param_grad(PBM, bm) if ctx.needs_input_grad[1] else None
        g_bs = _reduce_param_grad(PBS, bs) if ctx.needs_input_grad[2] else None
        return GX, g_bm, g_bs, None


def li_sequence_triton(x: torch.Tensor, beta_mem, beta_syn, *, u0: float = 0.0) -> torch.Tensor:
    r"""Leaky-integrator readout trace ``U[0..T-1]`` ``[T, B, K]`` (Triton sweeps).

    Same recursion as :func:`spikegrad.functional.lif.li_sequence` from :math:`U[0] = u_0`,
    :math:`I[0] = 0`; differentiable in ``x`` and in tensor decay factors.
    """
    _require(None, x)
    with _on_device(x):
        return _LITriton.apply(x, _as_param(beta_mem, x), _as_param(beta_syn, x), float(u0))
