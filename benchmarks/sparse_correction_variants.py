"""Variants of the sparse correction (`_kernels.sparse_correction`) timed against it, in one process.

    python benchmarks/sparse_correction_variants.py                 # T = 500,000 (the paper's largest)
    python benchmarks/sparse_correction_variants.py --size 100000 --rounds 3

Synthetic data shaped like the paper's setting (n = 10,000, S = 0.999: about 10 nonzeros an
example, rows sorted), cut into the tree engine's example chunks, each with its own float64
accumulators, float32 weights, hidden vectors and dL/dh as the tree engine passes them; all
threads. Each variant is called `--calls` times per round, the variants alternating within a
round; the table gives the median over rounds, in ms per call. docs/performance.md records a run.

- shared: the kernel both engines use.
- prefetch D: the same, plus a software prefetch (`llvm.prefetch`) of the lines of b, W and the
  accumulators that the nonzero D places ahead will touch.
- split loops: the row's gradient kept in a small buffer, then one loop per row for all of its
  stores, each accumulator updated as (gW + g h) + dL/dh x in that order (the same bits as shared;
  checked here).
- without the path through h, without any accumulation: not the loss or gradient, ablations that
  show where the time goes.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from toydd import _kernels as kernels
from toydd._kernels import FASTMATH, U
from toydd._tree import sparse_chunk_bounds

from bench_tree import cpu_name

NO_REASSOC = FASTMATH - {"reassoc"}  # the split variant's order of additions is the shared kernel's


def _prefetch(rw: int):
    @intrinsic
    def prefetch(typingctx, array, index):
        def codegen(context, builder, signature, args):
            array_type = signature.args[0]
            view = context.make_array(array_type)(context, builder, args[0])
            pointer = cgutils.get_item_pointer(context, builder, array_type, view, [args[1]], wraparound=False)
            byte_pointer = builder.bitcast(pointer, ir.IntType(8).as_pointer())
            i32 = ir.IntType(32)
            function = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte_pointer.type, i32, i32, i32]), "llvm.prefetch.p0"
            )
            builder.call(function, [byte_pointer, i32(rw), i32(3), i32(1)])  # read or write, keep in all caches, data
            return context.get_dummy_value()

        return types.void(array, index), codegen

    return prefetch


prefetch_read, prefetch_write = _prefetch(0), _prefetch(1)


def variant(distance: int, path_through_h: bool, accumulate: bool):
    """The shared kernel at m = 2 with a prefetch `distance` nonzeros ahead (0: none), and with
    or without the path through h and the scattered accumulation (ablations)."""

    @numba.njit(fastmath=FASTMATH, boundscheck=False)
    def correction(W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c):
        zero = W.dtype.type(0)
        last = U(len(indices) - 1)
        loss = 0.0
        for t in range(U(t0), U(t1)):
            h0, h1, d0, d1 = hT[0, t], hT[1, t], dhT[0, t], dhT[1, t]
            row = 0.0
            start, end = U(indptr[t]), U(indptr[t + U(1)])
            for e in range(start, end):
                if distance > 0:
                    ahead = U(indices[min(e + U(distance), last)])
                    prefetch_read(b, ahead)
                    prefetch_read(W[0], ahead)
                    prefetch_read(W[1], ahead)
                    prefetch_write(gb, ahead)
                    prefetch_write(gW[0], ahead)
                    prefetch_write(gW[1], ahead)
                j = U(indices[e])
                x = values[e]
                z = b[j] + W[0, j] * h0 + W[1, j] * h1
                row += x * x
                active = z > 0
                g = -c * x if active else zero
                row -= 2.0 * x * (z if active else zero)
                if accumulate:
                    gb[j] += g
                    gW[0, j] += g * h0
                    gW[1, j] += g * h1
                d0 += g * W[0, j]
                d1 += g * W[1, j]
            dhT[0, t], dhT[1, t] = d0, d1
            loss += row
            if accumulate and path_through_h:
                for e in range(start, end):
                    j = U(indices[e])
                    gW[0, j] += d0 * values[e]
                    gW[1, j] += d1 * values[e]
        return loss

    return correction


@numba.njit(fastmath=NO_REASSOC, boundscheck=False)
def split_loops(W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c):
    zero = W.dtype.type(0)
    row_g = np.empty(4096, W.dtype)  # a row's g; rows have about 10 nonzeros (Poisson)
    loss = 0.0
    for t in range(U(t0), U(t1)):
        h0, h1, d0, d1 = hT[0, t], hT[1, t], dhT[0, t], dhT[1, t]
        row = 0.0
        start, end = U(indptr[t]), U(indptr[t + U(1)])
        for e in range(start, end):
            j = U(indices[e])
            x = values[e]
            z = b[j] + W[0, j] * h0 + W[1, j] * h1
            row += x * x
            active = z > 0
            g = -c * x if active else zero
            row -= 2.0 * x * (z if active else zero)
            row_g[e - start] = g
            d0 += g * W[0, j]
            d1 += g * W[1, j]
        dhT[0, t], dhT[1, t] = d0, d1
        loss += row
        for e in range(start, end):
            j = U(indices[e])
            g = row_g[e - start]
            gb[j] += g
            gW[0, j] = (gW[0, j] + g * h0) + d0 * values[e]
            gW[1, j] = (gW[1, j] + g * h1) + d1 * values[e]
    return loss


def shared(W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c):
    return kernels.sparse_correction((0, 0), W, b, indptr, indices, values, t0, t1, hT, dhT, gW, gb, c)


def all_chunks(kernel):
    """The kernel over every chunk in parallel, each into its own zeroed accumulators."""
    kernel = kernel if hasattr(kernel, "py_func") else numba.njit(kernel)  # a compiled kernel, or a Python wrapper of one

    @numba.njit(parallel=True)
    def run(W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, c, parts):
        for q in numba.prange(len(bounds) - 1):
            gW[q] = 0.0
            gb[q] = 0.0
            parts[q] = kernel(W, b, indptr, indices, values, bounds[q], bounds[q + 1], hT, dhT, gW[q], gb[q], c)

    return run


def training_set(T: int, n: int, density: float, rng):
    counts = rng.binomial(n, density, T)
    indptr = np.zeros(T + 1, np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.concatenate([np.sort(rng.choice(n, k, replace=False)) for k in counts]).astype(np.int32)
    return indptr, indices, rng.random(indptr[-1], dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500_000, help="training examples T")
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--sparsity", type=float, default=0.999)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n, T = args.features, args.size
    indptr, indices, values = training_set(T, n, 1.0 - args.sparsity, rng)
    W = (0.3 * rng.standard_normal((2, n))).astype(np.float32)
    b = (0.1 * rng.standard_normal(n)).astype(np.float32)
    hT = rng.standard_normal((2, T)).astype(np.float32)
    dhT_start = rng.standard_normal((2, T)).astype(np.float32)
    bounds = sparse_chunk_bounds(T)
    chunks = len(bounds) - 1
    c = np.float32(2.0 / T)
    variants = {"shared": all_chunks(shared)}
    for distance in (16, 32, 64):
        variants[f"prefetch {distance}"] = all_chunks(variant(distance, True, True))
    variants["split loops"] = all_chunks(split_loops)
    variants["without the path through h"] = all_chunks(variant(0, False, True))
    variants["without any accumulation"] = all_chunks(variant(0, True, False))

    def call(run):
        gW, gb, parts, dhT = np.zeros((chunks, 2, n)), np.zeros((chunks, n)), np.zeros(chunks), dhT_start.copy()
        run(W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, c, parts)
        return gW, gb, parts, dhT

    reference = call(variants["shared"])
    for name in ("split loops", "prefetch 32"):  # compiles them too; the other variants compile below
        same = all(np.array_equal(x, y) for x, y in zip(reference, call(variants[name])))
        print(f"{name}: the same bits as shared: {same}")
    for run in variants.values():
        call(run)
    times = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, run in variants.items():
            gW, gb, parts, dhT = np.zeros((chunks, 2, n)), np.zeros((chunks, n)), np.zeros(chunks), dhT_start.copy()
            start = time.perf_counter()
            for _ in range(args.calls):
                run(W, b, indptr, indices, values, bounds, hT, dhT, gW, gb, c, parts)
            times[name].append(1e3 * (time.perf_counter() - start) / args.calls)
    print(f"CPU: {cpu_name()}; {numba.get_num_threads()} threads; n = {n}, S = {args.sparsity}, T = {T:,}, "
          f"{len(indices):,} nonzeros, {chunks} chunks; median of {args.rounds} rounds of {args.calls} calls")  # fmt: skip
    base = statistics.median(times["shared"])
    for name, values_ms in times.items():
        median = statistics.median(values_ms)
        print(f"  {name:30s} {median:6.1f} ms a call ({median / base:4.2f} of shared; rounds {min(values_ms):.1f} to {max(values_ms):.1f})")


if __name__ == "__main__":
    main()
