"""Triton source of the kernels of :mod:`spikegrad.kernels.lif_triton` (imported lazily).

Imported on first use by :mod:`spikegrad.kernels.lif_triton`, which holds the design, the
equations and the launch code.
"""

import triton
import triton.language as tl


@triton.jit
def h_of(x, beta, pib, CODE: tl.constexpr):
    # surrogate derivative h(x), one branch per registered surrogate (codes of
    # lif_numba.SURROGATE_CODES); the same operations, in the same order, as
    # functional/surrogate.py
    if CODE == 0:  # superspike
        d = beta * tl.abs(x) + 1.0
        h = 1.0 / (d * d)
    elif CODE == 1:  # sigmoid
        s = 1.0 / (1.0 + tl.exp(-(beta * x)))
        h = s * (1.0 - s)
    elif CODE == 2:  # esser
        h = tl.maximum(1.0 - beta * tl.abs(x), 0.0)
    elif CODE == 3:  # asymptotic superspike
        d = beta * tl.abs(x) + 1.0
        h = beta / (d * d)
    elif CODE == 4:  # constant
        h = tl.zeros_like(x) + 1.0
    elif CODE == 5:  # zero
        h = tl.zeros_like(x)
    elif CODE == 6:  # exponential
        h = tl.exp(-beta * tl.abs(x))
    elif CODE == 7:  # gaussian
        bx = beta * x
        h = tl.exp(-0.5 * (bx * bx))
    else:  # arctan
        px = pib * x
        h = 1.0 / (1.0 + px * px)
    return h


@triton.jit
def block_and_decays(BM, BS, M, N, BLOCK: tl.constexpr):
    # this program's block of the flattened [B, N] elements, its mask (the last block is
    # partial), and the per-neuron decay factors of its elements
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    mask = offs < M
    col = offs % N
    bm = tl.load(BM + col, mask=mask, other=0.0)
    bs = tl.load(BS + col, mask=mask, other=0.0)
    return offs, mask, bm, bs


@triton.jit
def lif_fwd_ff(X, U, I, S, BM, BS, M, N, T, BLOCK: tl.constexpr):
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    omb = 1.0 - bm
    u = tl.zeros_like(bm)
    i = tl.zeros_like(bm)
    for n in range(T):
        base = n * M + offs
        tl.store(U + base, u, mask=mask)
        tl.store(I + base, i, mask=mask)
        s = tl.where(u - 1.0 > 0.0, 1.0, 0.0).to(u.dtype)
        tl.store(S + base, s, mask=mask)
        xn = tl.load(X + base, mask=mask, other=0.0)
        u = (bm * u + omb * i) * (1.0 - s)
        i = bs * i + xn
    return


@triton.jit
def lif_fwd_step(X, Un, In, Sn, Unext, Inext, BM, BS, M, N, BLOCK: tl.constexpr):
    # one step n: S[n], U[n+1] and the feed-forward part of I[n+1]; the caller adds
    # S[n] V^T to I[n+1] with a matrix product
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    u = tl.load(Un + offs, mask=mask, other=0.0)
    i = tl.load(In + offs, mask=mask, other=0.0)
    xn = tl.load(X + offs, mask=mask, other=0.0)
    s = tl.where(u - 1.0 > 0.0, 1.0, 0.0).to(u.dtype)
    tl.store(Sn + offs, s, mask=mask)
    tl.store(Unext + offs, (bm * u + (1.0 - bm) * i) * (1.0 - s), mask=mask)
    tl.store(Inext + offs, bs * i + xn, mask=mask)
    return


@triton.jit
def lif_bwd_ff(GS, U, I, S, BM, BS, C, GX, PBM, PBS, M, N, T,
               CODE: tl.constexpr, DR: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    beta = tl.load(C)
    pib = tl.load(C + 1)
    omb = 1.0 - bm
    gu = tl.zeros_like(bm)
    gi = tl.zeros_like(bm)
    acc_bm = tl.zeros_like(bm)
    acc_bs = tl.zeros_like(bm)
    for k in range(T):
        base = (T - 1 - k) * M + offs
        tl.store(GX + base, gi, mask=mask)
        u = tl.load(U + base, mask=mask, other=0.0)
        i = tl.load(I + base, mask=mask, other=0.0)
        keep = 1.0 - tl.load(S + base, mask=mask, other=0.0)
        gs = tl.load(GS + base, mask=mask, other=0.0)
        if DR:
            gs = gs - gu * (bm * u + omb * i)
        gk = gu * keep
        acc_bm += gk * (u - i)
        acc_bs += gi * i
        gu = bm * gk + h_of(u - 1.0, beta, pib, CODE) * gs
        gi = omb * gk + bs * gi
    tl.store(PBM + offs, acc_bm, mask=mask)
    tl.store(PBS + offs, acc_bs, mask=mask)
    return


@triton.jit
def lif_bwd_step(GSn, Un, In, Sn, R, GU, GIn, GIprev, PBM, PBS, BM, BS, C, M, N,
                 CODE: tl.constexpr, DR: tl.constexpr, BLOCK: tl.constexpr):  # fmt: skip
    # one adjoint step n: g_u[n+1] in GU, g_i[n+1] in GIn, R = g_i[n+1] V (the caller's
    # matrix product); writes g_u[n] to GU, g_i[n] to GIprev, adds to the partial sums
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    beta = tl.load(C)
    pib = tl.load(C + 1)
    omb = 1.0 - bm
    gu = tl.load(GU + offs, mask=mask, other=0.0)
    gi = tl.load(GIn + offs, mask=mask, other=0.0)
    u = tl.load(Un + offs, mask=mask, other=0.0)
    i = tl.load(In + offs, mask=mask, other=0.0)
    keep = 1.0 - tl.load(Sn + offs, mask=mask, other=0.0)
    gs = tl.load(GSn + offs, mask=mask, other=0.0) + tl.load(R + offs, mask=mask, other=0.0)
    if DR:
        gs = gs - gu * (bm * u + omb * i)
    gk = gu * keep
    tl.store(PBM + offs, tl.load(PBM + offs, mask=mask, other=0.0) + gk * (u - i), mask=mask)
    tl.store(PBS + offs, tl.load(PBS + offs, mask=mask, other=0.0) + gi * i, mask=mask)
    tl.store(GU + offs, bm * gk + h_of(u - 1.0, beta, pib, CODE) * gs, mask=mask)
    tl.store(GIprev + offs, omb * gk + bs * gi, mask=mask)
    return


@triton.jit
def li_fwd(X, U, I, BM, BS, C, M, N, T, BLOCK: tl.constexpr):
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    omb = 1.0 - bm
    u = tl.zeros_like(bm) + tl.load(C)  # U[0] = u0
    i = tl.zeros_like(bm)
    for n in range(T):
        base = n * M + offs
        tl.store(U + base, u, mask=mask)
        tl.store(I + base, i, mask=mask)
        xn = tl.load(X + base, mask=mask, other=0.0)
        u = bm * u + omb * i
        i = bs * i + xn
    return


@triton.jit
def li_bwd(GU, U, I, BM, BS, GX, PBM, PBS, M, N, T, BLOCK: tl.constexpr):
    offs, mask, bm, bs = block_and_decays(BM, BS, M, N, BLOCK)
    omb = 1.0 - bm
    au = tl.zeros_like(bm)  # dL/dU[n+1]
    ai = tl.zeros_like(bm)  # dL/dI[n+1]
    acc_bm = tl.zeros_like(bm)
    acc_bs = tl.zeros_like(bm)
    for k in range(T):
        base = (T - 1 - k) * M + offs
        tl.store(GX + base, ai, mask=mask)
        u = tl.load(U + base, mask=mask, other=0.0)
        i = tl.load(I + base, mask=mask, other=0.0)
        acc_bm += au * (u - i)
        acc_bs += ai * i
        g = tl.load(GU + base, mask=mask, other=0.0)
        ai_new = omb * au + bs * ai
        au = g + bm * au
        ai = ai_new
    tl.store(PBM + offs, acc_bm, mask=mask)
    tl.store(PBS + offs, acc_bs, mask=mask)
    return
