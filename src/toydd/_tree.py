"""The exact tree evaluation of the dense pass: the same loss and gradient as `_kernels`, by groups
(docs/science.md section 10).

The dense pass sums, over every feature i and training example t, r = ReLU(z) with
z = b_i + W_i . h_t (its loss r^2, its gradient c r through b_i, W_i and h_t). A k-d tree over the
hidden vectors h_t groups the examples into boxes. For one feature and one box, the range of
W_i . h over the box costs 2m operations (centre and half-widths), and there are three cases:

- z <= 0 on the whole box: no loss and no gradient. Skip the group.
- z > 0 on the whole box: ReLU(z) = z there, so the group's loss and gradient are polynomials in
  h, given exactly by the group's moments (count, sum of h, sum of h h^T, kept in float64 about the
  box centre so that no large terms cancel). The gradient reaching each h_t of the group,
  c (b_i + W_i . h_t) W_i, is accumulated per node as a vector and an m x m matrix and pushed down
  to the examples once per step.
- otherwise the feature goes on to the node's children; at a leaf it is done pair by pair, as in
  the dense kernels.

Nothing is approximated: every pair is counted once, either in a closed form or densely, and the
result equals the dense pass up to floating-point rounding (tests: rtol 1e-10 in float64). Features
are handed down the tree as lists (the mixed ones of the parent), so a node's work is a loop over
few candidates, not over all n.

The tree's ordering of the examples is rebuilt every REBUILD_EVERY steps (at steps that are
multiples of it, so the numbers never depend on where training was paused) and kept in between;
every step only re-boxes the kept ordering around the current hidden vectors (O(T m^2)). The
ordering is state of the training run, like AdamW's moments.

Arrays (per model): `order` (T,) int64 holds, for each tree chunk [t0, t1), a permutation of
0 ... t1 - t0 - 1: position p of the chunk holds example t0 + order[p]. Tree chunks are a power of
two of at least TREE_MIN_CHUNK examples (depending on T only, so any thread count gives the same
numbers); each chunk has its own tree and its own gradient accumulators, as in `_kernels`.
"""

from __future__ import annotations

import numba
import numpy as np

from . import _kernels as kernels

LEAF = 16  # examples per leaf at most: a straddling feature costs LEAF dense pairs at a leaf
REBUILD_EVERY = 32  # steps between rebuilds (measured: 8 cost 5% more time, no fewer visits); re-boxing is every step
TREE_MIN_CHUNK = 32_768  # examples per tree chunk at least: one tree over a chunk is what pays
N_STATS = 4  # counts kept per chunk: visits, dense pairs, linear groups, inactive groups


@numba.njit(cache=True)
def tree_chunk_bounds(n_rows):
    """(n_chunks + 1,) example boundaries: a power of two chunks of >= TREE_MIN_CHUNK examples,
    at most kernels.MAX_CHUNKS (so a tree chunk's gradient fits the dense engine's accumulators)."""
    n_chunks = 1
    while n_chunks < kernels.MAX_CHUNKS and n_rows // (2 * n_chunks) >= TREE_MIN_CHUNK:
        n_chunks *= 2
    bounds = np.empty(n_chunks + 1, np.int64)
    for q in range(n_chunks + 1):
        bounds[q] = (n_rows * q) // n_chunks
    return bounds


@numba.njit(cache=True)
def tree_levels(n_examples):
    """Levels below the root such that every leaf holds at most LEAF examples (0: the root is a leaf)."""
    levels = 0
    while (n_examples + (1 << levels) - 1) >> levels > LEAF:
        levels += 1
    return levels


@numba.njit(cache=True, inline="always")
def _node_range(n_examples, level, j):
    """Positions [start, end) of node j (0-based) of `level`: the tree splits by count, evenly."""
    return (n_examples * j) >> level, (n_examples * (j + 1)) >> level


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _widest_dim(units, points, s, e):
    """The unit along which points[:, s:e] spread most."""
    best = 0
    best_width = -1.0
    for d in range(len(units)):
        lo = np.inf
        hi = -np.inf
        for p in range(s, e):
            lo = min(lo, points[d, p])
            hi = max(hi, points[d, p])
        if hi - lo > best_width:
            best_width = hi - lo
            best = d
    return best


@numba.njit(cache=True, boundscheck=False)
def _select(units, points, order, d, s, e, nth):
    """Reorder columns s ... e - 1 of points (m, N) and order (N,) together so that column nth
    holds the one of rank nth along unit d, those before it are not larger and those after not
    smaller (Hoare's quickselect; the columns stay contiguous, so every pass is a linear scan)."""
    key = points[d]
    lo, hi = s, e - 1
    while lo < hi:
        a, b, c = key[lo], key[(lo + hi) // 2], key[hi]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i, j = lo, hi
        while i <= j:
            while key[i] < pivot:
                i += 1
            while key[j] > pivot:
                j -= 1
            if i <= j:
                for u in range(len(units)):
                    points[u, i], points[u, j] = points[u, j], points[u, i]
                order[i], order[j] = order[j], order[i]
                i += 1
                j -= 1
        if nth <= j:
            hi = j
        elif nth >= i:
            lo = i
        else:
            return


@numba.njit(cache=True)
def build_order(units, hT, t0, t1, order, points):
    """Rebuild the chunk's ordering from the current hidden vectors hT (m, T), splitting every node
    at its median along its widest unit. A function of hT alone (it starts from the identity), so
    resuming from a checkpoint rebuilds the same tree. points (m, T): scratch."""
    n_examples = t1 - t0
    levels = tree_levels(n_examples)
    view = order[t0:t1]
    cols = points[:, t0:t1]
    for p in range(n_examples):
        view[p] = p
        for d in range(len(units)):
            cols[d, p] = hT[d, t0 + p]
    for level in range(levels):
        for j in range(1 << level):
            s, e = _node_range(n_examples, level, j)
            middle = (n_examples * (2 * j + 1)) >> (level + 1)
            _select(units, cols, view, _widest_dim(units, cols, s, e), s, e, middle)


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def refit(units, hT, t0, t1, order, hs, lo, hi, centre, half, count, S1, S2):
    """Re-box the kept ordering around the current hidden vectors.

    hs (m, T): hidden vectors in tree order (positions t0 ... t1 - 1 of this chunk).
    Per node (heap numbering, root 0, children 2v + 1 and 2v + 2): lo, hi, centre, half (nodes, m)
    in float64, count (nodes,), S1 (nodes, m) = sum of (h - centre), S2 (nodes, m, m) = sum of
    (h - centre)(h - centre)^T. Leaves sum their examples; parents shift their children's moments.
    """
    M = len(units)
    n_examples = t1 - t0
    levels = tree_levels(n_examples)
    for p in range(n_examples):
        t = t0 + order[t0 + p]
        for d in range(M):
            hs[d, t0 + p] = hT[d, t]
    first_leaf = (1 << levels) - 1
    for j in range(1 << levels):
        v = first_leaf + j
        s, e = _node_range(n_examples, levels, j)
        for d in range(M):
            low = np.inf
            high = -np.inf
            for p in range(t0 + s, t0 + e):
                low = min(low, hs[d, p])
                high = max(high, hs[d, p])
            lo[v, d] = low
            hi[v, d] = high
            centre[v, d] = 0.5 * (low + high)
            half[v, d] = 0.5 * (high - low)
        count[v] = e - s
        for d in range(M):
            S1[v, d] = 0.0
            for d2 in range(M):
                S2[v, d, d2] = 0.0
        for p in range(t0 + s, t0 + e):
            for d in range(M):
                delta = hs[d, p] - centre[v, d]
                S1[v, d] += delta
                for d2 in range(d + 1):
                    S2[v, d, d2] += delta * (hs[d2, p] - centre[v, d2])
        for d in range(M):
            for d2 in range(d):
                S2[v, d2, d] = S2[v, d, d2]
    for v in range(first_leaf - 1, -1, -1):
        a, b = 2 * v + 1, 2 * v + 2
        for d in range(M):
            lo[v, d] = min(lo[a, d], lo[b, d])
            hi[v, d] = max(hi[a, d], hi[b, d])
            centre[v, d] = 0.5 * (lo[v, d] + hi[v, d])
            half[v, d] = 0.5 * (hi[v, d] - lo[v, d])
        count[v] = count[a] + count[b]
        for d in range(M):
            S1[v, d] = 0.0
            for d2 in range(M):
                S2[v, d, d2] = 0.0
        for child in (a, b):
            # sum over the child of (h - c_v) = (h - c_child) + shift
            for d in range(M):
                shift = centre[child, d] - centre[v, d]
                S1[v, d] += S1[child, d] + count[child] * shift
                for d2 in range(M):
                    shift2 = centre[child, d2] - centre[v, d2]
                    S2[v, d, d2] += (
                        S2[child, d, d2] + shift * S1[child, d2] + S1[child, d] * shift2 + count[child] * shift * shift2
                    )


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False, inline="always")  # runs per visit: no call
def _linear_group(units, w, zc, v, centre, count, S1, S2, c, gW, gb, i, node_a, node_B):
    """Feature i (direction w (m,), z = zc at the centre of node v) is active on every example of
    node v: add the group's exact loss and gradient.

    With z_t = zc + w . d_t (d_t = h_t - centre_v): sum z = N zc + w . S1,
    sum z^2 = N zc^2 + 2 zc w . S1 + w^T S2 w, sum z h = centre sum z + zc S1 + S2 w.
    Returns sum z^2; the gradient reaching h_t, c z_t w = c zc w + c w w^T d_t, goes to
    node_a (nodes, m) and node_B (nodes, m, m) for the push-down.
    """
    M = len(units)
    n_group = count[v]
    w_S1 = 0.0
    w_S2_w = 0.0
    for d in range(M):
        w_S1 += w[d] * S1[v, d]
        for d2 in range(M):
            w_S2_w += w[d] * S2[v, d, d2] * w[d2]
    sum_z = n_group * zc + w_S1
    sum_z_sq = n_group * zc * zc + 2.0 * zc * w_S1 + w_S2_w
    gb[i] += c * sum_z
    for d in range(M):
        S2_w = 0.0
        for d2 in range(M):
            S2_w += S2[v, d, d2] * w[d2]
        gW[d, i] += c * (centre[v, d] * sum_z + zc * S1[v, d] + S2_w)
        node_a[v, d] += c * zc * w[d]
        for d2 in range(M):
            node_B[v, d, d2] += c * w[d] * w[d2]
    return sum_z_sq


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False, inline="always")  # runs per visit: no call
def _dense_leaf(units, w, bias, s, e, hs, dhs, c, gW, gb, i, acc):
    """Feature i straddles leaf positions [s, e): the dense kernels' per-pair work, in float64
    (acc (m,) scratch). Returns sum r^2."""
    M = len(units)
    for d in range(M):
        acc[d] = 0.0
    r_sq = 0.0
    g_sum = 0.0
    for p in range(s, e):
        z = bias
        for d in range(M):
            z += w[d] * hs[d, p]
        r = max(z, 0.0)
        r_sq += r * r
        g = c * r
        g_sum += g
        for d in range(M):
            acc[d] += g * hs[d, p]
            dhs[d, p] += g * w[d]
    gb[i] += g_sum
    for d in range(M):
        gW[d, i] += acc[d]
    return r_sq


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def tree_dense_pass(units, W, b, t0, t1, hs, dhs, centre, half, count, S1, S2, cand_i, cand_w, cand_b, node_a, node_B, gW, gb, acc, c, stats):
    """The dense pass over this chunk's examples by tree: returns sum over pairs of ReLU(z)^2 and
    adds c ReLU(z) through b, W (gb, gW) and h (dhs, in tree order).

    cand_i (levels + 1, n), cand_w (levels + 1, m, n) float64, cand_b (levels + 1, n) float64: the
    candidate features of each level (the root's are all n). stats (N_STATS,): += feature-node
    visits, pairs done densely at leaves, groups done in closed form, groups skipped as inactive.
    """
    M = len(units)
    n = W.shape[1]
    n_examples = t1 - t0
    levels = tree_levels(n_examples)
    n_nodes = (2 << levels) - 1
    for v in range(n_nodes):
        for d in range(M):
            node_a[v, d] = 0.0
            for d2 in range(M):
                node_B[v, d, d2] = 0.0
    for i in range(n):
        cand_i[0, i] = i
        cand_b[0, i] = b[i]
        for d in range(M):
            cand_w[0, d, i] = W[d, i]
    n_cand = np.empty(levels + 2, np.int64)
    n_cand[0] = n
    w = np.empty(M)
    z_centres = np.empty(n)  # z at the node's centre, per candidate
    linear = np.empty(n, np.int64)  # candidates active on the whole node
    mixed = np.empty(n, np.int64)  # candidates that straddle it
    loss = 0.0
    visits = 0
    dense_pairs = 0
    linear_groups = 0
    inactive_groups = 0
    v = 0
    level = 0
    while True:
        candidates = n_cand[level]
        visits += candidates
        # 1. classify every candidate without branches (a mispredicted branch costs more than the
        #    bound itself): inactive, linear (listed in linear) or straddling (listed in mixed)
        n_linear = 0
        n_mixed = 0
        for j in range(candidates):
            z_centre = cand_b[level, j]
            radius = 0.0
            for d in range(M):
                w_d = cand_w[level, d, j]
                z_centre += w_d * centre[v, d]
                radius += abs(w_d) * half[v, d]
            z_centres[j] = z_centre
            is_linear = z_centre - radius > 0.0
            linear[n_linear] = j
            n_linear += 1 if is_linear else 0
            mixed[n_mixed] = j
            n_mixed += 1 if z_centre + radius > 0.0 and not is_linear else 0
        linear_groups += n_linear
        inactive_groups += candidates - n_linear - n_mixed
        # 2. closed forms for the features active on the whole group
        for q in range(n_linear):
            j = linear[q]
            for d in range(M):
                w[d] = cand_w[level, d, j]
            loss += _linear_group(units, w, z_centres[j], v, centre, count, S1, S2, c, gW, gb, cand_i[level, j], node_a, node_B)
        # 3. straddling features: densely at a leaf, else handed to both children
        kept = 0
        if level == levels:
            s, e = _node_range(n_examples, levels, v - ((1 << levels) - 1))
            dense_pairs += n_mixed * (e - s)
            for q in range(n_mixed):
                j = mixed[q]
                for d in range(M):
                    w[d] = cand_w[level, d, j]
                loss += _dense_leaf(units, w, cand_b[level, j], t0 + s, t0 + e, hs, dhs, c, gW, gb, cand_i[level, j], acc)
        else:
            for q in range(n_mixed):
                j = mixed[q]
                cand_i[level + 1, q] = cand_i[level, j]
                cand_b[level + 1, q] = cand_b[level, j]
                for d in range(M):
                    cand_w[level + 1, d, q] = cand_w[level, d, j]
            kept = n_mixed
        if kept > 0:  # not a leaf: both children take the straddling features
            n_cand[level + 1] = kept
            v = 2 * v + 1
            level += 1
            continue
        while v > 0 and v % 2 == 0:  # a right child: its parent is done
            v = (v - 1) // 2
            level -= 1
        if v == 0:
            break
        v += 1  # the right sibling, with the same candidates
    _push_down(units, levels, n_examples, t0, hs, dhs, centre, node_a, node_B)
    stats[0] += visits
    stats[1] += dense_pairs
    stats[2] += linear_groups
    stats[3] += inactive_groups
    return loss


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _push_down(units, levels, n_examples, t0, hs, dhs, centre, node_a, node_B):
    """Hand each node's linear-group gradient to its examples: dh_t += a_v + B_v (h_t - centre_v)
    summed over the ancestors v of t. Rewritten about the origin (a_v - B_v centre_v), the sums
    can be passed from parents to children before the leaves apply them."""
    M = len(units)
    first_leaf = (1 << levels) - 1
    n_nodes = (2 << levels) - 1
    for v in range(n_nodes):
        for d in range(M):
            for d2 in range(M):
                node_a[v, d] -= node_B[v, d, d2] * centre[v, d2]
    for v in range(first_leaf):
        for child in (2 * v + 1, 2 * v + 2):
            for d in range(M):
                node_a[child, d] += node_a[v, d]
                for d2 in range(M):
                    node_B[child, d, d2] += node_B[v, d, d2]
    for j in range(1 << levels):
        v = first_leaf + j
        s, e = _node_range(n_examples, levels, j)
        for p in range(t0 + s, t0 + e):
            for d in range(M):
                g = node_a[v, d]
                for d2 in range(M):
                    g += node_B[v, d, d2] * hs[d2, p]
                dhs[d, p] += g


@numba.njit(cache=True)
def tree_workspace(units, n_rows, n):
    """Scratch arrays for the tree chunks of an n_rows-example step, sized for the largest chunk.

    Everything is float64, whatever the model's dtype: the moments must not cancel, and the
    dense leaves then round no worse than the closed forms (float32 models stay as close to
    float64 training as the dense engine is)."""
    M = len(units)
    bounds = tree_chunk_bounds(n_rows)
    n_chunks = len(bounds) - 1
    widest = 0
    for q in range(n_chunks):
        widest = max(widest, bounds[q + 1] - bounds[q])
    levels = tree_levels(widest)
    n_nodes = (2 << levels) - 1
    hs = np.zeros((M, n_rows))
    dhs = np.zeros((M, n_rows))
    lo = np.zeros((n_chunks, n_nodes, M))
    hi = np.zeros((n_chunks, n_nodes, M))
    centre = np.zeros((n_chunks, n_nodes, M))
    half = np.zeros((n_chunks, n_nodes, M))
    count = np.zeros((n_chunks, n_nodes))
    S1 = np.zeros((n_chunks, n_nodes, M))
    S2 = np.zeros((n_chunks, n_nodes, M, M))
    node_a = np.zeros((n_chunks, n_nodes, M))
    node_B = np.zeros((n_chunks, n_nodes, M, M))
    cand_i = np.zeros((n_chunks, levels + 1, n), np.int64)
    cand_w = np.zeros((n_chunks, levels + 1, M, n))
    cand_b = np.zeros((n_chunks, levels + 1, n))
    acc = np.zeros((n_chunks, M))
    gW = np.zeros((n_chunks, M, n))
    gb = np.zeros((n_chunks, n))
    stats = np.zeros((n_chunks, N_STATS), np.int64)
    return (bounds, hs, dhs, lo, hi, centre, half, count, S1, S2, node_a, node_B, cand_i, cand_w, cand_b, acc, gW, gb, stats)


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def tree_chunk_loss_grad(units, W, b, indptr, indices, values, t0, t1, rebuild, order, hT, dhT, gW, gb, ws, q, c):
    """`_kernels.chunk_loss_grad` with the dense pass done by tree, for the tree chunk q = [t0, t1).

    gW (m, n), gb (n,): this chunk's accumulators, zero on entry. With `rebuild`, the ordering
    order[t0:t1] is rebuilt from the current hidden vectors first.
    """
    (bounds, hs, dhs, lo, hi, centre, half, count, S1, S2, node_a, node_B, cand_i, cand_w, cand_b, acc, gW64, gb64, stats) = ws
    M = len(units)
    gW64[q] = 0.0
    gb64[q] = 0.0
    kernels.hidden_vectors(units, W, indptr, indices, values, t0, t1, hT)
    if rebuild:
        build_order(units, hT, t0, t1, order, hs)
    refit(units, hT, t0, t1, order, hs, lo[q], hi[q], centre[q], half[q], count[q], S1[q], S2[q])
    for p in range(t0, t1):
        for d in range(M):
            dhs[d, p] = 0.0
    loss = tree_dense_pass(
        units, W, b, t0, t1, hs, dhs, centre[q], half[q], count[q], S1[q], S2[q],
        cand_i[q], cand_w[q], cand_b[q], node_a[q], node_B[q], gW64[q], gb64[q], acc[q], float(c), stats[q],
    )  # fmt: skip
    for p in range(t1 - t0):
        t = t0 + order[t0 + p]
        for d in range(M):
            dhT[d, t] = dhs[d, t0 + p]
    # The dense and sparse parts of a feature's gradient nearly cancel once it is fitted: summed in
    # float64 and rounded once, a float32 model's gradient is as close to float64 as the dense
    # engine's (which rounds its partial sums, but in a different order).
    loss += kernels.sparse_correction(units, W, b, indptr, indices, values, t0, t1, hT, dhT, gW64[q], gb64[q], c)
    for d in range(M):
        for i in range(gW.shape[1]):
            gW[d, i] = gW64[q, d, i]
    for i in range(gb.shape[0]):
        gb[i] = gb64[q, i]
    return loss


@numba.njit(cache=True, parallel=True)
def tree_loss_grad_parallel(units, W, b, indptr, indices, values, rebuild, order, hT, dhT, gW, gb, ws, c):
    """Every tree chunk, in parallel: the loss, with gradients in gW[q], gb[q] (q < tree chunks;
    the engine's other accumulators are left at zero)."""
    bounds = ws[0]
    n_chunks = len(bounds) - 1
    parts = np.zeros(n_chunks)
    gW[:] = 0
    gb[:] = 0
    for q in numba.prange(n_chunks):
        parts[q] = tree_chunk_loss_grad(
            units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], rebuild, order, hT, dhT, gW[q], gb[q], ws, q, c
        )
    return kernels.ordered_sum(parts)


@numba.njit(cache=True)
def tree_loss_grad_serial(units, W, b, indptr, indices, values, rebuild, order, hT, dhT, gW, gb, ws, c):
    """The same tree chunks as `tree_loss_grad_parallel`, one after another on this thread."""
    bounds = ws[0]
    n_chunks = len(bounds) - 1
    parts = np.zeros(n_chunks)
    gW[:] = 0
    gb[:] = 0
    for q in range(n_chunks):
        parts[q] = tree_chunk_loss_grad(
            units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], rebuild, order, hT, dhT, gW[q], gb[q], ws, q, c
        )
    return kernels.ordered_sum(parts)
