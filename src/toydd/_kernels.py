"""Fused numba kernels: the exact loss and gradient of the tied ReLU model on CSR data.

Notation (docs/science.md section 3): W (m, n), b (n,), x_t sparse, h_t = W x_t, z_ti = W_i . h_t + b_i,
loss = scale * sum_t sum_i (x_ti - ReLU(z_ti))^2 with scale = Config.training_scale / T (1/n for
"mean", times gradient_chunks).

The gradient with respect to z splits exactly into a dense part c * ReLU(z) over all (feature,
example) pairs and a sparse correction -c * x * 1[z > 0] on the nonzeros of x (c = 2 * scale).
Both parts are pushed through z = W_i . h_t + b_i and h_t = W x_t without ever storing an n x T
array. The dense pass is the cost of a step; it runs feature by feature over blocks of examples
that stay in L1, with the example loop innermost so that it vectorizes.

The number of hidden units m reaches the kernels as the length of a tuple `units` (its contents are
unused), so numba compiles one specialization per m in which loops over m are unrolled.

Examples are split into a fixed number of chunks that depends only on T (`chunk_bounds`); each
chunk accumulates its own gradient, and the chunks are summed in a fixed order. The result is the
same whether chunks run on one thread or many, so a stack of models trained together equals the
models trained alone, bit for bit.
"""

from __future__ import annotations

import numba
import numpy as np

BLOCK = 1024  # examples per dense-pass block: h and dh for a block stay in L1
MAX_CHUNKS = 16
FEW_EXAMPLES = 64  # chunks up to this many examples take the feature-inner loop (measured at m <= 2, kept for all m)
REGISTER_UNITS = 4  # m up to this: the example-inner loop, each unit's sums in registers (measured)
WIDE_UNITS = 12  # m up to this: the example-inner loop, the gradient in passes of 4 units (measured)
FEATURE_RUN = 256  # features summed in the model's dtype before a float64 sum
FLOAT32_MANTISSA_BITS = 23  # matmul operands keep all of them unless Config.matmul_precision says less
# fastmath without 'nnan' and 'ninf': the compiler may reassociate and contract, but must keep
# NaN and infinity, so that a diverging loss reaches the finiteness check by definition.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}  # a set: numba takes no frozenset
# The sparse passes index by example and by feature through np.uint64 (`for t in
# range(U(t0), U(t1))`, `j = U(indices[e])`): numba wraps a negative signed index around, a test
# and an add per array access that an unsigned one skips. The arithmetic is the same; the passes
# take about a third fewer instructions (docs/performance.md, "Unsigned indices").
U = np.uint64


@numba.njit(cache=True)
def chunk_bounds(n_rows):
    """(n_chunks + 1,) int64 example boundaries: a power of two chunks of >= 256 examples.

    Depends on T alone, never on the thread count, so results do not either.
    """
    n_chunks = 1
    while n_chunks < MAX_CHUNKS and n_rows // (2 * n_chunks) >= 256:
        n_chunks *= 2
    bounds = np.empty(n_chunks + 1, np.int64)
    for q in range(n_chunks + 1):
        bounds[q] = (n_rows * q) // n_chunks
    return bounds


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def hidden_vectors(units, W, indptr, indices, values, t0, t1, hT):
    """hT[:, t] = W x_t for t in [t0, t1).  W (m, n), hT (m, T).

    Units 0 and 1 are summed in registers (a sum kept in memory would wait on its own store at
    every nonzero); further units in hT itself. The order of additions is the same either way.
    """
    M = len(units)
    zero = W.dtype.type(0)
    for t in range(U(t0), U(t1)):
        h0 = zero
        h1 = zero
        for k in range(2, M):
            hT[k, t] = zero
        for e in range(U(indptr[t]), U(indptr[t + U(1)])):
            j = U(indices[e])
            x = values[e]
            h0 += W[0, j] * x
            if M > 1:
                h1 += W[1, j] * x
            for k in range(2, M):
                hT[k, t] += W[k, j] * x
        hT[0, t] = h0
        if M > 1:
            hT[1, t] = h1


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _preactivation(units, W, b, hT, j, t):
    """z_tj = W_j . h_t + b_j for one (example, feature) pair: the sparse passes' work."""
    z = b[j]
    for k in range(len(units)):
        z += W[k, j] * hT[k, t]
    return z


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _rest_of_z(W, hT, i, t0, t1, out):
    """out[t - t0] = sum_{k >= 2} W[k, i] hT[k, t] for t in [t0, t1): z's part beyond units 0, 1
    (for the forward pass of `chunk_example_losses`)."""
    width = t1 - t0
    for t in range(width):
        out[t] = W[2, i] * hT[2, t0 + t]
    for k in range(3, W.shape[0]):
        w = W[k, i]
        hk = hT[k, t0:t1]
        for t in range(width):
            out[t] += w * hk[t]


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _dense_block(units, W, b, hT, dhT, gW, gb, t0, t1, c):
    """Dense part over every feature and the examples [t0, t1), for m <= REGISTER_UNITS:
    returns sum ReLU(z)^2.

    Adds g = c * ReLU(z_ti) through both paths: gW[:, i] += g h_t, gb[i] += g, dhT[:, t] += g W_i.
    The example loop is innermost and indexes 1-D views only (a 2-D index stops LLVM from
    vectorizing it). Each unit has its own named view, weight and sum (a loop over units would
    keep the sums in memory); the branches on M are resolved at compile time, and a unit beyond
    m aliases the last one, unused. m = 2 is the paper's case and the fastest.
    """
    M = len(units)
    n = W.shape[1]
    zero = W.dtype.type(0)
    loss = 0.0
    u1, u2, u3 = min(1, M - 1), min(2, M - 1), min(3, M - 1)
    h0, h1, h2, h3 = hT[0, t0:t1], hT[u1, t0:t1], hT[u2, t0:t1], hT[u3, t0:t1]
    d0, d1, d2, d3 = dhT[0, t0:t1], dhT[u1, t0:t1], dhT[u2, t0:t1], dhT[u3, t0:t1]
    width = t1 - t0
    for i in range(n):
        bi = b[i]
        w0, w1, w2, w3 = W[0, i], W[u1, i], W[u2, i], W[u3, i]
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        g_sum = zero
        r_sq = zero
        for t in range(width):
            z = bi + w0 * h0[t]
            if M > 1:
                z += w1 * h1[t]
            if M > 2:
                z += w2 * h2[t]
            if M > 3:
                z += w3 * h3[t]
            r = max(z, zero)
            r_sq += r * r
            g = c * r
            g_sum += g
            a0 += g * h0[t]
            d0[t] += g * w0
            if M > 1:
                a1 += g * h1[t]
                d1[t] += g * w1
            if M > 2:
                a2 += g * h2[t]
                d2[t] += g * w2
            if M > 3:
                a3 += g * h3[t]
                d3[t] += g * w3
        loss += r_sq
        gb[i] += g_sum
        gW[0, i] += a0
        if M > 1:
            gW[1, i] += a1
        if M > 2:
            gW[2, i] += a2
        if M > 3:
            gW[3, i] += a3
    return loss


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _dense_block_wide(units, W, b, hT, dhT, gW, gb, gbuf, t0, t1, c):
    """`_dense_block` for REGISTER_UNITS < m <= WIDE_UNITS: same sum, same gradient.

    z takes all m units in one pass over the examples; g = c ReLU(z) goes to gbuf (t1 - t0 <=
    BLOCK), and the gradient follows in passes of at most 4 units each, since more units' weights,
    sums and examples in one pass do not fit in the registers (measured slower). A unit beyond m
    aliases the last one, unused.
    """
    M = len(units)
    n = W.shape[1]
    zero = W.dtype.type(0)
    loss = 0.0
    u5, u6, u7, u8 = min(5, M - 1), min(6, M - 1), min(7, M - 1), min(8, M - 1)
    u9, u10, u11 = min(9, M - 1), min(10, M - 1), min(11, M - 1)
    h0, h1, h2, h3, h4 = hT[0, t0:t1], hT[1, t0:t1], hT[2, t0:t1], hT[3, t0:t1], hT[4, t0:t1]
    h5, h6, h7, h8 = hT[u5, t0:t1], hT[u6, t0:t1], hT[u7, t0:t1], hT[u8, t0:t1]
    h9, h10, h11 = hT[u9, t0:t1], hT[u10, t0:t1], hT[u11, t0:t1]
    d0, d1, d2, d3, d4 = dhT[0, t0:t1], dhT[1, t0:t1], dhT[2, t0:t1], dhT[3, t0:t1], dhT[4, t0:t1]
    d5, d6, d7, d8 = dhT[u5, t0:t1], dhT[u6, t0:t1], dhT[u7, t0:t1], dhT[u8, t0:t1]
    d9, d10, d11 = dhT[u9, t0:t1], dhT[u10, t0:t1], dhT[u11, t0:t1]
    width = t1 - t0
    g_t = gbuf[:width]
    for i in range(n):
        bi = b[i]
        w0, w1, w2, w3, w4 = W[0, i], W[1, i], W[2, i], W[3, i], W[4, i]
        w5, w6, w7, w8 = W[u5, i], W[u6, i], W[u7, i], W[u8, i]
        w9, w10, w11 = W[u9, i], W[u10, i], W[u11, i]
        g_sum = zero
        r_sq = zero
        for t in range(width):
            z = bi + w0 * h0[t] + w1 * h1[t] + w2 * h2[t] + w3 * h3[t] + w4 * h4[t]
            if M > 5:
                z += w5 * h5[t]
            if M > 6:
                z += w6 * h6[t]
            if M > 7:
                z += w7 * h7[t]
            if M > 8:
                z += w8 * h8[t]
            if M > 9:
                z += w9 * h9[t]
            if M > 10:
                z += w10 * h10[t]
            if M > 11:
                z += w11 * h11[t]
            r = max(z, zero)
            r_sq += r * r
            g = c * r
            g_sum += g
            g_t[t] = g
        loss += r_sq
        gb[i] += g_sum
        a0 = zero
        a1 = zero
        a2 = zero
        a3 = zero
        for t in range(width):
            g = g_t[t]
            a0 += g * h0[t]
            d0[t] += g * w0
            a1 += g * h1[t]
            d1[t] += g * w1
            a2 += g * h2[t]
            d2[t] += g * w2
            a3 += g * h3[t]
            d3[t] += g * w3
        gW[0, i] += a0
        gW[1, i] += a1
        gW[2, i] += a2
        gW[3, i] += a3
        a4 = zero
        a5 = zero
        a6 = zero
        a7 = zero
        for t in range(width):
            g = g_t[t]
            a4 += g * h4[t]
            d4[t] += g * w4
            if M > 5:
                a5 += g * h5[t]
                d5[t] += g * w5
            if M > 6:
                a6 += g * h6[t]
                d6[t] += g * w6
            if M > 7:
                a7 += g * h7[t]
                d7[t] += g * w7
        gW[4, i] += a4
        if M > 5:
            gW[5, i] += a5
        if M > 6:
            gW[6, i] += a6
        if M > 7:
            gW[7, i] += a7
        if M > 8:
            a8 = zero
            a9 = zero
            a10 = zero
            a11 = zero
            for t in range(width):
                g = g_t[t]
                a8 += g * h8[t]
                d8[t] += g * w8
                if M > 9:
                    a9 += g * h9[t]
                    d9[t] += g * w9
                if M > 10:
                    a10 += g * h10[t]
                    d10[t] += g * w10
                if M > 11:
                    a11 += g * h11[t]
                    d11[t] += g * w11
            gW[8, i] += a8
            if M > 9:
                gW[9, i] += a9
            if M > 10:
                gW[10, i] += a10
            if M > 11:
                gW[11, i] += a11
    return loss


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _dense_few_examples(units, W, b, hT, dhT, gW, gb, gbuf, t0, t1, c):
    """`_dense_block` with the loops swapped: for chunks of few examples, and for any T when
    m > WIDE_UNITS.

    Example by example, the feature loop is innermost (it vectorizes over W's rows); features
    are taken in runs of BLOCK so that the run's W, b and gradients stay in L1. Units beyond the
    first two take one more pass each through gbuf (BLOCK,). Returns the same sum and adds the
    same gradient as `_dense_block`, summed in another order.
    """
    M = len(units)
    n = W.shape[1]
    zero = W.dtype.type(0)
    loss = 0.0
    for f0 in range(0, n, BLOCK):
        f1 = min(f0 + BLOCK, n)
        width = f1 - f0
        bias = b[f0:f1]
        W0 = W[0, f0:f1]
        W1 = W[min(1, M - 1), f0:f1]
        G0 = gW[0, f0:f1]
        G1 = gW[min(1, M - 1), f0:f1]
        Gb = gb[f0:f1]
        for t in range(t0, t1):
            h0 = hT[0, t]
            h1 = hT[min(1, M - 1), t]
            if M > 2:
                for i in range(width):
                    gbuf[i] = zero
                for k in range(2, M):
                    hk = hT[k, t]
                    Wk = W[k, f0:f1]
                    for i in range(width):
                        gbuf[i] += Wk[i] * hk
            a0 = zero
            a1 = zero
            r_sq = zero
            for i in range(width):
                z = bias[i] + W0[i] * h0
                if M > 1:
                    z += W1[i] * h1
                if M > 2:
                    z += gbuf[i]
                r = max(z, zero)
                r_sq += r * r
                g = c * r
                Gb[i] += g
                G0[i] += g * h0
                a0 += g * W0[i]
                if M > 1:
                    G1[i] += g * h1
                    a1 += g * W1[i]
                if M > 2:
                    gbuf[i] = g
            loss += r_sq
            dhT[0, t] += a0
            if M > 1:
                dhT[1, t] += a1
            for k in range(2, M):
                hk = hT[k, t]
                Wk = W[k, f0:f1]
                Gk = gW[k, f0:f1]
                a = zero
                for i in range(width):
                    Gk[i] += gbuf[i] * hk
                    a += gbuf[i] * Wk[i]
                dhT[k, t] += a
    return loss


@numba.njit(cache=True, inline="always")
def example_inner(n_hidden, n_examples):
    """Whether the dense pass over a chunk of n_examples runs example-inner (`_dense_block`,
    `_dense_block_wide`) rather than feature-inner (`_dense_few_examples`): whichever was measured
    faster (README, Performance). The cost model of `_presets` asks it too."""
    return n_hidden <= WIDE_UNITS and n_examples > FEW_EXAMPLES


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def chunk_loss_grad(units, W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, gbuf, c, bits=FLOAT32_MANTISSA_BITS):
    """Unscaled loss sum_{t in [t0,t1)} sum_i (x_ti - ReLU(z_ti))^2, and its gradient times c/2.

    gW (m, n) and gb (n,) are this chunk's accumulators and must be zero on entry; hT and dhT
    (m, T) are shared by all chunks, each writing only its own columns. With bits < 23 (float32
    W and values already rounded by the caller) h_t is rounded to `bits` mantissa bits as it
    enters W^T h: the forward pass and both gradient paths then use the rounded operands, as
    autograd does with a GPU's reduced-precision products.
    """
    M = len(units)
    zero = W.dtype.type(0)
    hidden_vectors(units, W, indptr, indices, values, t0, t1, hT)
    if bits < FLOAT32_MANTISSA_BITS:
        for k in range(M):
            round_to_mantissa(hT[k, t0:t1], hT[k, t0:t1], bits)
    for t in range(t0, t1):
        for k in range(M):
            dhT[k, t] = zero
    loss = 0.0
    if not example_inner(M, t1 - t0):
        loss += _dense_few_examples(units, W, b, hT, dhT, gW, gb, gbuf, t0, t1, c)
    else:
        block = BLOCK
        if M > 2:  # equal blocks of at most 24 KB of float32 h and dh (L1; with m > 4, g in gbuf), no short remainder
            parts = -(-(t1 - t0) // (BLOCK * 3 // M))
            block = -(-(t1 - t0) // parts)
        for s in range(t0, t1, block):
            if M > REGISTER_UNITS:
                loss += _dense_block_wide(units, W, b, hT, dhT, gW, gb, gbuf, s, min(s + block, t1), c)
            else:
                loss += _dense_block(units, W, b, hT, dhT, gW, gb, s, min(s + block, t1), c)
    return loss + sparse_correction(units, W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c)


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def sparse_correction(units, W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c):
    """What the dense pass left out, on the nonzeros of x, and the path through h = W x.

    The dense pass counted r^2 for every pair; a nonzero x adds (x - r)^2 - r^2 = x^2 - 2 x r and
    the gradient -c x 1[z > 0]. Then dL/dW[:, j] += dL/dh_t x_tj, with dhT (m, T) complete for
    [t0, t1). Returns the loss added.
    """
    M = len(units)
    one = min(1, M - 1)  # unit 1, or unit 0 again when m = 1 (then unused)
    zero = W.dtype.type(0)
    loss = 0.0
    for t in range(U(t0), U(t1)):
        # units 0 and 1 of h_t and dL/dh_t live in registers for the row (as in `hidden_vectors`)
        h0 = hT[0, t]
        h1 = hT[one, t]
        d0 = dhT[0, t]
        d1 = dhT[one, t]
        row = 0.0
        start, end = U(indptr[t]), U(indptr[t + U(1)])
        for e in range(start, end):
            j = U(indices[e])
            x = values[e]
            z = b[j] + W[0, j] * h0
            if M > 1:
                z += W[1, j] * h1
            for k in range(2, M):
                z += W[k, j] * hT[k, t]
            row += x * x
            # selects, not a branch (whether z > 0 is a coin flip to the predictor): an inactive
            # pair adds zeros, which changes no sum; about 8% faster (docs/performance.md)
            active = z > 0
            g = -c * x if active else zero
            row -= 2.0 * x * (z if active else zero)
            gb[j] += g
            gW[0, j] += g * h0
            d0 += g * W[0, j]
            if M > 1:
                gW[1, j] += g * h1
                d1 += g * W[1, j]
            for k in range(2, M):
                gW[k, j] += g * hT[k, t]
                dhT[k, t] += g * W[k, j]
        dhT[0, t] = d0
        if M > 1:
            dhT[1, t] = d1
        loss += row
        # the path through h_t = W x_t: dL/dW[:, j] += dL/dh_t * x_tj
        for e in range(start, end):
            j = U(indices[e])
            x = values[e]
            gW[0, j] += d0 * x
            if M > 1:
                gW[1, j] += d1 * x
            for k in range(2, M):
                gW[k, j] += dhT[k, t] * x
    return loss


@numba.njit(cache=True)
def ordered_sum(parts):
    """parts[0] + parts[1] + ... in that order. Not `parts.sum()`: inside a parallel=True function
    numba turns that into a parallel reduction whose order depends on the thread count."""
    total = 0.0
    for value in parts:
        total += value
    return total


@numba.njit(cache=True, parallel=True)
def loss_grad_parallel(units, W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, gbuf, c, bits=FLOAT32_MANTISSA_BITS):
    """Run every chunk, in parallel. gW (chunks, m, n), gb (chunks, n), gbuf (chunks, BLOCK);
    `bits`: see `chunk_loss_grad`."""
    n_chunks = len(bounds) - 1
    parts = np.zeros(n_chunks)
    for q in numba.prange(n_chunks):
        gW[q] = 0
        gb[q] = 0
        parts[q] = chunk_loss_grad(
            units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], hT, dhT, gW[q], gb[q], gbuf[q], c, bits
        )
    return ordered_sum(parts)


@numba.njit(cache=True)
def loss_grad_serial(units, W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, gbuf, c, bits=FLOAT32_MANTISSA_BITS):
    """The same chunks as `loss_grad_parallel`, one after another on this thread."""
    n_chunks = len(bounds) - 1
    parts = np.zeros(n_chunks)
    for q in range(n_chunks):
        gW[q] = 0
        gb[q] = 0
        parts[q] = chunk_loss_grad(
            units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], hT, dhT, gW[q], gb[q], gbuf[q], c, bits
        )
    return ordered_sum(parts)


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def chunk_example_losses(units, W, b, indptr, indices, values, t0, t1, hT, losses, active):
    """Per-example unscaled loss (float64) and count of features with z > 0, for t in [t0, t1).

    Sums run in W's dtype over runs of FEATURE_RUN features and then in float64, so float32
    models lose no more than about 1e-5 relative accuracy.
    """
    M = len(units)
    n = W.shape[1]
    zero = W.dtype.type(0)
    one = W.dtype.type(1)
    hidden_vectors(units, W, indptr, indices, values, t0, t1, hT)
    partial = np.zeros(BLOCK, W.dtype)
    count = np.zeros(BLOCK, W.dtype)
    rest = np.zeros(BLOCK, W.dtype)
    for s in range(t0, t1, BLOCK):
        width = min(BLOCK, t1 - s)
        h0 = hT[0, s : s + width]
        h1 = hT[min(1, M - 1), s : s + width]
        for t in range(width):
            losses[s + t] = 0.0
            count[t] = zero
        for f0 in range(0, n, FEATURE_RUN):
            for t in range(width):
                partial[t] = zero
            for i in range(f0, min(f0 + FEATURE_RUN, n)):
                bi = b[i]
                w0 = W[0, i]
                w1 = W[min(1, M - 1), i]
                if M > 2:
                    _rest_of_z(W, hT, i, s, s + width, rest)
                for t in range(width):
                    z = bi + w0 * h0[t]
                    if M > 1:
                        z += w1 * h1[t]
                    if M > 2:
                        z += rest[t]
                    r = max(z, zero)
                    partial[t] += r * r
                    count[t] += one if z > zero else zero
            for t in range(width):
                losses[s + t] += partial[t]
        for t in range(width):
            active[s + t] = int(count[t])
    for t in range(t0, t1):
        for e in range(indptr[t], indptr[t + 1]):
            x = values[e]
            z = _preactivation(units, W, b, hT, indices[e], t)
            losses[t] += x * x
            if z > 0:
                losses[t] -= 2.0 * x * z
    return 0


@numba.njit(cache=True, parallel=True)
def example_losses(units, W, b, indptr, indices, values, bounds, hT, losses, active):
    """Forward pass over all examples in parallel chunks: fills losses (T,) and active (T,)."""
    for q in numba.prange(len(bounds) - 1):
        chunk_example_losses(units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], hT, losses, active)


# Config.lr_schedule as the integer the compiled loop takes (Recipe.schedule).
HALF_COSINE, QUARTER_COSINE = 0, 1
SCHEDULE_CODES = {"half_cosine": HALF_COSINE, "quarter_cosine": QUARTER_COSINE}


@numba.njit(cache=True)
def lr_at(step, steps, warmup_steps, peak, schedule=HALF_COSINE):
    """Learning rate of step `step` (0-based): linear warmup to `peak`, then with p the progress
    from 0 to 1 after warmup, HALF_COSINE: peak (1 + cos(pi p)) / 2, QUARTER_COSINE: peak cos(pi p / 2)."""
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, steps - warmup_steps)
    if schedule == QUARTER_COSINE:
        return peak * np.cos(0.5 * np.pi * progress)
    return peak * 0.5 * (1.0 + np.cos(np.pi * progress))


# --- reduced-precision matrix products (Config.matmul_precision) ------------------------------


@numba.njit(cache=True, inline="always")
def round_mantissa_bits(u, bits):
    """The float32 bit pattern u (uint32) rounded to `bits` explicit mantissa bits, round to
    nearest, ties to even, as a uint32 with the dropped bits zero. A carry out of the mantissa
    raises the exponent (up to infinity past the largest finite value), which is IEEE rounding.
    Infinity and NaN pass unchanged (rounding a NaN's payload could make it infinity)."""
    if (u & np.uint32(0x7F800000)) == np.uint32(0x7F800000):
        return u
    drop = np.uint32(FLOAT32_MANTISSA_BITS - bits)
    lowest_kept = (u >> drop) & np.uint32(1)
    half_minus_one = (np.uint32(1) << (drop - np.uint32(1))) - np.uint32(1)
    return (u + half_minus_one + lowest_kept) & ~((np.uint32(1) << drop) - np.uint32(1))


@numba.njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def exact_target_correction(units, W, b, indptr, indices, values_seen, values, t0, t1, hT, gW, gb, c):
    """What changes when the residual x - x' uses the exact values x where `chunk_loss_grad` used
    values_seen, x rounded as the operand of h = W x (matmul_precision): a GPU rounds a product's
    operands, not the loss's target. Returns the unscaled loss to add; adds the gradient (times
    c / 2) to gW (m, n) and gb (n,). W, hT (m, T): as the products saw them, with hT filled for
    [t0, t1).

    With d = x - values_seen on a nonzero where z > 0, the loss changes by x^2 - values_seen^2
    - 2 d z (by the first part alone where z <= 0), dL/dz by -c d, pushed through z = W_j . h_t + b_j
    and then through h_t = W x_t with x as the product saw it.
    """
    M = len(units)
    loss = 0.0
    for t in range(t0, t1):
        for e in range(indptr[t], indptr[t + 1]):
            j = indices[e]
            x = values[e]
            seen = values_seen[e]
            delta = x - seen
            loss += x * x - seen * seen
            if delta != 0:
                z = _preactivation(units, W, b, hT, j, t)
                if z > 0:
                    loss -= 2.0 * delta * z
                    g = -c * delta
                    gb[j] += g
                    for k in range(M):
                        gW[k, j] += g * hT[k, t]
        for k in range(M):  # dL/dh_t's change, unit by unit (z recomputed: m is small)
            d = W.dtype.type(0)
            for e in range(indptr[t], indptr[t + 1]):
                j = indices[e]
                delta = values[e] - values_seen[e]
                if delta != 0 and _preactivation(units, W, b, hT, j, t) > 0:
                    d += -c * delta * W[k, j]
            if d != 0:
                for e in range(indptr[t], indptr[t + 1]):
                    gW[k, indices[e]] += d * values_seen[e]
    return loss


@numba.njit(cache=True)
def round_to_mantissa(src, dst, bits):
    """dst[p] = src[p] rounded to `bits` explicit mantissa bits (see `round_mantissa_bits`); 1-D
    contiguous float32 arrays of one length, dst may be src. bits = 23 copies. This is how a TF32
    (10 bits) or bfloat16 (7 bits) matrix unit sees a float32 operand."""
    s = src.view(np.uint32)
    d = dst.view(np.uint32)
    if bits >= FLOAT32_MANTISSA_BITS:
        d[:] = s
        return
    for p in range(s.shape[0]):
        d[p] = round_mantissa_bits(s[p], bits)


@numba.njit(cache=True, error_model="numpy")  # no zero-division branch: lets the loop vectorize
def adamw_update(param, grad_chunks, exp_avg, exp_avg_sq, step, lr, weight_decay, beta1, beta2, eps):
    """torch.optim.AdamW's update, in its order of operations, on a flat parameter.

    param, exp_avg, exp_avg_sq: (p,); grad_chunks: (chunks, p), summed here in chunk order into
    grad_chunks[0]. `step` counts from 1. No fastmath: the same IEEE operations as torch.
    """
    bias_correction1 = 1.0 - beta1**step
    bias_correction2_sqrt = np.sqrt(1.0 - beta2**step)
    step_size = lr / bias_correction1
    decay = 1.0 - lr * weight_decay
    one_minus_beta1 = 1.0 - beta1
    one_minus_beta2 = 1.0 - beta2
    # scalars in the parameters' dtype, as torch applies them to float32 tensors
    b2 = param.dtype.type(beta2)
    w1 = param.dtype.type(one_minus_beta1)
    w2 = param.dtype.type(one_minus_beta2)
    ss = param.dtype.type(step_size)
    bc2 = param.dtype.type(bias_correction2_sqrt)
    ep = param.dtype.type(eps)
    dc = param.dtype.type(decay)
    grad = grad_chunks[0]
    for q in range(1, grad_chunks.shape[0]):  # chunk sums in a fixed order
        for p in range(param.shape[0]):
            grad[p] += grad_chunks[q, p]
    for p in range(param.shape[0]):
        g = grad[p]
        avg = exp_avg[p] + (g - exp_avg[p]) * w1
        avg_sq = exp_avg_sq[p] * b2 + g * g * w2
        exp_avg[p] = avg
        exp_avg_sq[p] = avg_sq
        denom = np.sqrt(avg_sq) / bc2 + ep
        param[p] = param[p] * dc - ss * (avg / denom)
