"""The exact tree evaluation of the dense pass: the same loss and gradient as `_kernels`, by groups
(docs/science.md section 10).

The dense pass sums, over every feature i and training example t, r = ReLU(z) with
z = b_i + W_i . h_t (its loss r^2, its gradient c r through b_i, W_i and h_t). A k-d tree over the
hidden vectors h_t groups the examples into boxes, and its leaves (at most LEAF examples each) lie
in a fixed order, so every node is a contiguous range of leaves. For one feature and one box, the
range of W_i . h over the box costs 2m operations (centre and half-widths), and there are three
cases:

- z <= 0 on the whole box: no loss and no gradient. Skip the group.
- z > 0 on the whole box: ReLU(z) = z there, so the group's loss and gradient are polynomials in
  h whose coefficients are the group's moments (count, sum of h, sum of h h^T): the node's are
  added to the feature's (`_settle_linear`), which give its loss and gradient once per step
  (`_closed_forms`). The gradient reaching each h_t of the node, c (b_i + W_i . h_t) W_i, is a
  vector plus an m x m matrix times h_t, summed over the node's linear features into the node's
  coefficients; each leaf's examples get the sum over their ancestors (`_push_down`).
- otherwise the feature goes on to the node's children; at a leaf it is done pair by pair, as in
  the dense kernels (`_dense_leaf`).

The walk goes node by node, depth first (`_group_pass`): a node classifies only the features that
crossed its parent, listed in a compact array, with the node's box (units 0 and 1), moments and
coefficients (m <= 2) in registers. Features are sorted by the direction of W_i (`_order_features`) and split into
FEATURE_GROUPS ranges of directions, walked in parallel.

Nothing is approximated: the settled nodes and dense leaves of a feature partition the examples,
and each case computes the same sums as the dense pass, only in closed form. The result equals
the dense pass up to floating-point rounding (tests: rtol 1e-10 in float64).

The ordering of the examples is rebuilt every REBUILD_EVERY steps (at steps that are multiples
of it, so the numbers never depend on where training was paused) and kept in between, as state of
the run like AdamW's moments; every step re-boxes it around the current hidden vectors (O(T m^2)).

Arrays (per model): `order` (T,) int64: position p of the tree holds example order[p]. One tree
covers all T examples. Each feature group has its own accumulators for the examples' gradient,
summed in a fixed order; the sparse passes run over fixed example chunks. So any thread count
gives the same numbers.
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from . import _kernels as kernels
from ._kernels import U  # unsigned indices in the hot loops (see `_kernels`)

LEAF = 32  # examples per leaf at most (32 walked faster than 16 or 64 at n = 10,000, T = 100,000)
REBUILD_EVERY = 32  # steps between rebuilds of the ordering (a rebuild costs about 20 steps' re-boxing)
FEATURE_GROUPS = 4  # features walked in parallel in this many fixed groups (any thread count)
SPARSE_CHUNK_MIN = 4_096  # examples per chunk of the sparse passes at least
SPARSE_CHUNKS_MAX = 4  # ... and at most this many chunks
ANGLE_BUCKETS = 1024  # features are walked in order of the direction of W_i, in this many buckets

# Counts kept per model (tree_stats), summed over steps
VISITS, DENSE_PAIRS, LINEAR_SETTLED, INACTIVE_SETTLED, DENSE_LEAVES = range(5)
N_STATS = 5

TreeWorkspace = namedtuple(
    "TreeWorkspace",
    "hs nodes moments ref feature_order bucket_start W_sorted b_sorted lists lists_linear "
    "feature_moments dense_gW dense_gb leaf_h leaf_dh leaf_mask node_coef coef_total group_dhs leaf_touched "
    "gW64 gb64 sparse_gW sparse_gb stats",
)
TreeWorkspace.__doc__ = """The tree pass's arrays for one model (T examples, n features, L = 2^levels
leaves, V = 2L - 1 nodes, G = FEATURE_GROUPS, K = 1 + m + m^2 moments). float64 whatever the
model's dtype: the moments must not cancel, and the dense leaves then round no worse than the
closed forms.

hs (m, T): hidden vectors in tree order; nodes (V, 2m):
each box's centre then half-widths (one cache line per node for m <= 4); moments (V, K): per node
count, sum of h - ref, sum of (h - ref)(h - ref)^T; ref (m,): the point the moments are taken
about. feature_order (n,): the features by the direction of W_i (`_order_features`),
bucket_start (ANGLE_BUCKETS + 1,) its scratch; W_sorted (m, n), b_sorted (n,): the weights in that
order (a position k of it stands for feature feature_order[k]). lists (G, levels + 2, ceil(n / G)) int32:
per level, the positions a node of that level classifies; lists_linear (G, ceil(n / G)): a
node's linear ones. feature_moments (n, K), dense_gW (m, n), dense_gb (n,): per position, the summed
moments of its linear nodes and the gradient of its dense leaves. leaf_h, leaf_dh (G, m, LEAF),
leaf_mask (G, LEAF): a dense leaf's examples in fixed slots. node_coef (G, V, m + m^2): per
node the a and B of its linear features' gradient to h, coef_total (V, m + m^2) the same summed
over groups and ancestors. group_dhs (G, m, T): each group's dense gradient to h, on the leaves
marked in leaf_touched (G, L). gW64 (m, n), gb64 (n,): the tree part of the gradient, by
feature; sparse_gW (chunks, m, n), sparse_gb (chunks, n): the sparse correction's; stats
(G, N_STATS)."""


@numba.njit(cache=True)
def tree_levels(n_examples):
    """Levels below the root such that every leaf holds at most LEAF examples (0: the root is a leaf)."""
    levels = 0
    while (n_examples + (1 << levels) - 1) >> levels > LEAF:
        levels += 1
    return levels


@numba.njit(cache=True)
def sparse_chunk_bounds(n_rows):
    """(chunks + 1,) example boundaries of the sparse passes: T alone fixes them (not the threads)."""
    n_chunks = 1
    while n_chunks < SPARSE_CHUNKS_MAX and n_rows // (2 * n_chunks) >= SPARSE_CHUNK_MIN:
        n_chunks *= 2
    bounds = np.empty(n_chunks + 1, np.int64)
    for q in range(n_chunks + 1):
        bounds[q] = (n_rows * q) // n_chunks
    return bounds


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
def _split(units, points, order, n_examples, level, j):
    """Split node j of `level` at its median along its widest unit (within its own columns)."""
    s, e = _node_range(n_examples, level, j)
    middle = (n_examples * (2 * j + 1)) >> (level + 1)
    _select(units, points, order, _widest_dim(units, points, s, e), s, e, middle)


@numba.njit(cache=True, parallel=True)
def _split_level_parallel(units, points, order, n_examples, level):
    # np.int64(j) here and in every prange below: a prange index is unsigned, and passing it as is
    # would compile each callee (and all it calls) a second time beside the serial path's int64
    for j in numba.prange(1 << level):
        _split(units, points, order, n_examples, level, np.int64(j))


@numba.njit(cache=True)
def build_order(parallel, units, hT, order, points):
    """Rebuild the ordering from the hidden vectors hT (m, T), splitting every node at its median
    along its widest unit. A function of hT alone (it starts from the identity), so resuming
    rebuilds the same tree. The nodes of a level own disjoint columns: `parallel` splits them on
    several threads, with the same result. points (m, T): scratch, left holding hT in tree order."""
    n_examples = hT.shape[1]
    levels = tree_levels(n_examples)
    for p in range(n_examples):
        order[p] = p
        for d in range(len(units)):
            points[d, p] = hT[d, p]
    for level in range(levels):
        if parallel and level > 0:
            _split_level_parallel(units, points, order, n_examples, level)
        else:
            for j in range(1 << level):
                _split(units, points, order, n_examples, level, j)


@numba.njit(cache=True, boundscheck=False)
def _leaf_box(units, levels, hT, order, gather, ws, j):
    """Leaf j: with `gather`, its examples' hidden vectors from hT (m, T) into hs in tree order (in
    float64; a rebuild leaves them there itself); then their bounds into nodes[leaf] (low, then
    high: `_parent_boxes` makes them centre and half-widths)."""
    M = len(units)
    v = (1 << levels) - 1 + j
    s, e = _node_range(ws.hs.shape[1], levels, j)
    if gather:
        for p in range(U(s), U(e)):
            t = U(order[p])
            for d in range(M):
                ws.hs[d, p] = hT[d, t]
    for d in range(M):
        low = np.inf
        high = -np.inf
        for p in range(U(s), U(e)):
            low = min(low, ws.hs[d, p])
            high = max(high, ws.hs[d, p])
        ws.nodes[v, d] = low
        ws.nodes[v, M + d] = high


@numba.njit(cache=True, parallel=True)
def _leaf_boxes_parallel(units, levels, hT, order, gather, ws):
    for j in numba.prange(1 << levels):
        _leaf_box(units, levels, hT, order, gather, ws, np.int64(j))


@numba.njit(cache=True, boundscheck=False)
def _parent_boxes(units, levels, nodes, ref):
    """With the leaves' bounds in nodes (V, 2m): every parent's from its children's, then every
    node's as centre and half-widths; ref (m,) = the root's centre."""
    M = len(units)
    first_leaf = (1 << levels) - 1
    lo = np.empty(M)
    hi = np.empty(M)
    for v in range(first_leaf - 1, -1, -1):
        for d in range(M):
            nodes[v, d] = min(nodes[2 * v + 1, d], nodes[2 * v + 2, d])
            nodes[v, M + d] = max(nodes[2 * v + 1, M + d], nodes[2 * v + 2, M + d])
    for v in range(2 * first_leaf + 1):
        for d in range(M):
            lo[d] = nodes[v, d]
            hi[d] = nodes[v, M + d]
        for d in range(M):
            centre = 0.5 * (lo[d] + hi[d])
            nodes[v, d] = centre
            # rounded up: centre +- half covers [lo, hi] whatever the rounding of centre
            nodes[v, M + d] = max(hi[d] - centre, centre - lo[d]) * (1.0 + 1e-15)
    for d in range(M):
        ref[d] = nodes[0, d]


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _leaf_moments(units, levels, hs, ref, moments, j):
    """moments[leaf j] = count, sum of (h - ref) (m), sum of (h - ref)(h - ref)^T (m x m) of its examples."""
    M = len(units)
    row = moments[(1 << levels) - 1 + j]
    row[:] = 0.0
    s, e = _node_range(hs.shape[1], levels, j)
    row[0] = e - s
    for p in range(U(s), U(e)):
        for d in range(M):
            delta = hs[d, p] - ref[d]
            row[1 + d] += delta
            for d2 in range(M):
                row[1 + M + d * M + d2] += delta * (hs[d2, p] - ref[d2])


@numba.njit(cache=True, parallel=True)
def _leaf_moments_parallel(units, levels, hs, ref, moments):
    for j in numba.prange(1 << levels):
        _leaf_moments(units, levels, hs, ref, moments, np.int64(j))


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _parent_moments(levels, moments):
    """Every parent's moments (V, K) as the sum of its children's."""
    for v in range((1 << levels) - 2, -1, -1):
        for k in range(moments.shape[1]):
            moments[v, k] = moments[2 * v + 1, k] + moments[2 * v + 2, k]


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _classify(units, v, ws, listed, n_listed, crossed, linear):
    """Node v against the features at positions listed[:n_listed] (of `feature_order`): those whose
    plane b + w . h = 0 crosses the box go to crossed, those with z > 0 on the whole box to linear,
    without branches; the rest (z <= 0 on the whole box) are dropped. Returns both counts."""
    M = len(units)
    one = min(1, M - 1)
    W, b, nodes = ws.W_sorted, ws.b_sorted, ws.nodes
    # the box in registers: the compiler cannot tell that the lists written below leave it alone
    centre0 = nodes[v, 0]
    centre1 = nodes[v, one]
    half0 = nodes[v, M]
    half1 = nodes[v, M + one]
    n_crossed = 0
    n_linear = 0
    for q in range(n_listed):
        k = U(listed[q])
        z_centre = b[k] + W[0, k] * centre0
        radius = abs(W[0, k]) * half0
        if M > 1:
            z_centre += W[1, k] * centre1
            radius += abs(W[1, k]) * half1
        for d in range(2, M):
            z_centre += W[d, k] * nodes[v, d]
            radius += abs(W[d, k]) * nodes[v, M + d]
        is_linear = z_centre - radius > 0.0
        linear[n_linear] = k
        n_linear += 1 if is_linear else 0
        crossed[n_crossed] = k
        n_crossed += 1 if z_centre + radius > 0.0 and not is_linear else 0
    return n_crossed, n_linear


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _settle_linear(units, v, c, ws, g, linear, n_linear):
    """The features at positions linear[:n_linear] have z > 0 on all of node v: add the node's
    moments to each one's (feature_moments[k]: one row, one or two cache lines), and to the node's coefficients of
    the gradient to h (node_coef[g, v]) the sum of their c z w = c s w + c w w^T (h - ref), with
    s = b + w . ref. For m <= 2 the coefficients are summed in registers (sums kept in memory would
    wait on their own stores at every feature); past that, through memory."""
    M = len(units)
    one = min(1, M - 1)
    W, b, ref = ws.W_sorted, ws.b_sorted, ws.ref
    moments = ws.moments[v]
    n_moments = moments.shape[0]
    count = moments[0]
    sum0 = moments[1]
    sum1 = moments[1 + one]
    sum00 = moments[1 + M]
    sum01 = moments[1 + M + one]
    sum11 = moments[1 + M + one * M + one]
    sums = ws.feature_moments
    coef = ws.node_coef[g, v]  # zero: `_node_totals` (in `_push_down`) clears every node after reading it
    a0 = 0.0
    a1 = 0.0
    B00 = 0.0
    B01 = 0.0
    B11 = 0.0
    for q in range(n_linear):
        k = U(linear[q])
        w0 = W[0, k]
        w1 = W[one, k]
        shifted = b[k] + w0 * ref[0]
        if M > 1:
            shifted += w1 * ref[1]
        for d in range(2, M):
            shifted += W[d, k] * ref[d]
        row = sums[k]
        row[0] += count
        row[1] += sum0
        row[1 + M] += sum00
        a0 += shifted * w0
        B00 += w0 * w0
        if M == 2:
            row[2] += sum1
            row[4] += sum01
            row[5] += sum01
            row[6] += sum11
            a1 += shifted * w1
            B01 += w0 * w1
            B11 += w1 * w1
        if M > 2:  # every unit past the first through memory
            for r in range(2, n_moments):
                if r != 1 + M:
                    row[r] += moments[r]
            for d in range(1, M):
                coef[d] += shifted * W[d, k]
            for d in range(M):
                for d2 in range(M):
                    if d + d2 > 0:
                        coef[M + d * M + d2] += W[d, k] * W[d2, k]
    coef[0] = c * a0
    coef[M] = c * B00
    if M == 2:
        coef[1] = c * a1
        coef[3] = c * B01
        coef[4] = c * B01
        coef[5] = c * B11
    if M > 2:
        for r in range(1, M + M * M):
            if r != M:
                coef[r] *= c


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _dense_leaf(units, levels, j, c, ws, g, crossed, n_crossed):
    """Every pair of leaf j's examples with the features at positions crossed[:n_crossed], as the
    dense kernels do: each feature's sum c r and sum c r h_t into dense_gb, dense_gW; the leaf's
    gradient to h, sum c r w, into group_dhs[g] (the leaf is marked as touched). Returns sum r^2.

    The leaf's examples are copied into LEAF slots (leaf_h; the empty slots masked to 0), so the
    loop over them has a fixed length and vectorizes without a scalar remainder."""
    M = len(units)
    one = min(1, M - 1)
    W, b, hs = ws.W_sorted, ws.b_sorted, ws.hs
    s, e = _node_range(hs.shape[1], levels, j)
    h = ws.leaf_h[g]  # (m, LEAF)
    dh = ws.leaf_dh[g]  # (m, LEAF)
    mask = ws.leaf_mask[g]  # (LEAF,)
    for p in range(LEAF):
        inside = s + p < e
        mask[p] = 1.0 if inside else 0.0
        for d in range(M):
            h[d, p] = hs[d, s + p] if inside else 0.0
            dh[d, p] = 0.0
    loss = 0.0
    for q in range(n_crossed):
        k = U(crossed[q])
        w0 = W[0, k]
        w1 = W[one, k]
        bias = b[k]
        a0 = 0.0
        a1 = 0.0
        g_sum = 0.0
        for p in range(LEAF):
            z = bias + w0 * h[0, p]
            if M > 1:
                z += w1 * h[1, p]
            for d in range(2, M):
                z += W[d, k] * h[d, p]
            r = max(z, 0.0) * mask[p]
            loss += r * r
            grad = c * r
            g_sum += grad
            a0 += grad * h[0, p]
            dh[0, p] += grad * w0
            if M > 1:
                a1 += grad * h[1, p]
                dh[1, p] += grad * w1
        for d in range(2, M):  # units past 1: a second loop, so the first stays simple
            acc = 0.0
            for p in range(LEAF):
                z = bias
                for d2 in range(M):
                    z += W[d2, k] * h[d2, p]
                grad = c * max(z, 0.0) * mask[p]
                acc += grad * h[d, p]
                dh[d, p] += grad * W[d, k]
            ws.dense_gW[d, k] += acc
        ws.dense_gb[k] += g_sum
        ws.dense_gW[0, k] += a0
        if M > 1:
            ws.dense_gW[1, k] += a1
    dhs = ws.group_dhs[g]
    for d in range(M):
        for p in range(e - s):
            dhs[d, s + p] = dh[d, p]
    ws.leaf_touched[g, j] = 1
    return loss


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _closed_forms(units, c, ws, first, last):
    """Features at positions [first, last): their linear regions' loss and gradient from their
    summed moments, plus their dense leaves', into gW64, gb64 (by feature). Returns the linear
    regions' sum r^2. With s = b + w . ref and N, S1, S2 the moments about ref: sum z = N s + w . S1,
    sum z^2 = N s^2 + 2 s w . S1 + w^T S2 w, sum z h = s S1 + S2 w + ref sum z."""
    M = len(units)
    W, b, ref, sums = ws.W_sorted, ws.b_sorted, ws.ref, ws.feature_moments.T
    loss = 0.0
    for k in range(first, last):
        i = ws.feature_order[k]
        shifted = b[k]
        for d in range(M):
            shifted += W[d, k] * ref[d]
        count = sums[0, k]
        w_S1 = 0.0
        w_S2_w = 0.0
        for d in range(M):
            w_S1 += W[d, k] * sums[1 + d, k]
            for d2 in range(M):
                w_S2_w += W[d, k] * sums[1 + M + d * M + d2, k] * W[d2, k]
        sum_z = count * shifted + w_S1
        loss += count * shifted * shifted + 2.0 * shifted * w_S1 + w_S2_w
        ws.gb64[i] = ws.dense_gb[k] + c * sum_z
        for d in range(M):
            S2_w = 0.0
            for d2 in range(M):
                S2_w += sums[1 + M + d * M + d2, k] * W[d2, k]
            ws.gW64[d, i] = ws.dense_gW[d, k] + c * (shifted * sums[1 + d, k] + S2_w + ref[d] * sum_z)
    return loss


@numba.njit(cache=True, boundscheck=False)
def _group_pass(units, c, g, ws):
    """The tree pass of feature group g (positions [n g / G, n (g + 1) / G) of `feature_order`),
    node by node: depth first from the root, each node classifies the features that crossed its
    parent (`_classify`), settles the linear ones (`_settle_linear`) and hands the crossing ones
    to both children, or at a leaf does them pair by pair (`_dense_leaf`). Both children read the
    list their parent wrote one level down, which only deeper nodes overwrite. Returns the group's
    sum r^2."""
    n = ws.W_sorted.shape[1]
    levels = tree_levels(ws.hs.shape[1])
    first_leaf = (1 << levels) - 1
    first = (n * g) // FEATURE_GROUPS
    last = (n * (g + 1)) // FEATURE_GROUPS
    lists = ws.lists[g]  # (levels + 2, group size): row l holds the features a node of level l classifies
    linear = ws.lists_linear[g]
    counts = ws.stats[g]
    n_listed = np.zeros(levels + 2, np.int64)
    stack = np.empty(levels + 2, np.int64)  # depth first: at most one pending right child per level
    stack_level = np.empty(levels + 2, np.int64)
    for k in range(first, last):
        lists[0, k - first] = k
        ws.feature_moments[k] = 0.0
        for d in range(ws.dense_gW.shape[0]):
            ws.dense_gW[d, k] = 0.0
        ws.dense_gb[k] = 0.0
    n_listed[0] = last - first
    loss = 0.0
    top = 0
    if n_listed[0] > 0:
        stack[0] = 0
        stack_level[0] = 0
        top = 1
    while top > 0:
        top -= 1
        v = stack[top]
        level = stack_level[top]
        n_crossed, n_linear = _classify(units, v, ws, lists[level], n_listed[level], lists[level + 1], linear)
        counts[VISITS] += n_listed[level]
        counts[LINEAR_SETTLED] += n_linear
        counts[INACTIVE_SETTLED] += n_listed[level] - n_linear - n_crossed
        if n_linear > 0:
            _settle_linear(units, v, c, ws, g, linear, n_linear)
        if n_crossed == 0:
            continue
        if level < levels:
            n_listed[level + 1] = n_crossed
            stack[top] = 2 * v + 2
            stack[top + 1] = 2 * v + 1
            stack_level[top] = level + 1
            stack_level[top + 1] = level + 1
            top += 2
        else:
            loss += _dense_leaf(units, levels, v - first_leaf, c, ws, g, lists[level + 1], n_crossed)
            s, e = _node_range(ws.hs.shape[1], levels, v - first_leaf)
            counts[DENSE_PAIRS] += n_crossed * (e - s)
            counts[DENSE_LEAVES] += 1
    return loss + _closed_forms(units, c, ws, first, last)


@numba.njit(cache=True, boundscheck=False)
def _order_features(units, W, b, feature_order, bucket_start):
    """feature_order (n,) = the features sorted (stably, by counting) by the direction of their
    first two units (the angle of (w, b) when m = 1). A group of features is then a range of
    directions: their planes cross the same nodes, so the lists a node hands down stay short.
    A function of W and b alone, so the order of the sums does not depend on the past."""
    M = len(units)
    n = W.shape[1]
    bucket_start[:] = 0
    keys = np.empty(n, np.int64)
    for i in range(n):
        x = float(W[0, i])
        y = float(W[1, i]) if M > 1 else float(b[i])
        scale = abs(x) + abs(y)
        # the "diamond angle": monotone in the angle of (x, y), in [0, 4), without atan2
        if scale == 0.0:
            angle = 0.0
        else:
            angle = 1.0 - x / scale if y >= 0.0 else 3.0 + x / scale
        if not (0.0 <= angle < 4.0):  # NaN or inf weights (a diverging step): any bucket, not out of bounds
            angle = 0.0
        keys[i] = min(ANGLE_BUCKETS - 1, int(angle * (ANGLE_BUCKETS / 4.0)))
        bucket_start[keys[i] + 1] += 1
    for k in range(ANGLE_BUCKETS):
        bucket_start[k + 1] += bucket_start[k]
    for i in range(n):
        feature_order[bucket_start[keys[i]]] = i
        bucket_start[keys[i]] += 1


@numba.njit(cache=True, boundscheck=False)
def _prepare(parallel, units, W, b, hT, order, rebuild, ws):
    """Before the groups' passes: the ordering (rebuilt when asked), hidden vectors in tree order,
    boxes, node moments, the features' order and their weights in it (float64). `parallel`
    spreads the leaves (and a rebuild's splits) over threads; each leaf's numbers are the same."""
    M = len(units)
    n_examples = hT.shape[1]
    levels = tree_levels(n_examples)
    if rebuild:
        build_order(parallel, units, hT, order, ws.hs)  # leaves hs in the new tree order
    if parallel:
        _leaf_boxes_parallel(units, levels, hT, order, not rebuild, ws)
    else:
        for j in range(1 << levels):
            _leaf_box(units, levels, hT, order, not rebuild, ws, j)
    _parent_boxes(units, levels, ws.nodes, ws.ref)
    if parallel:
        _leaf_moments_parallel(units, levels, ws.hs, ws.ref, ws.moments)
    else:
        for j in range(1 << levels):
            _leaf_moments(units, levels, ws.hs, ws.ref, ws.moments, j)
    _parent_moments(levels, ws.moments)
    _order_features(units, W, b, ws.feature_order, ws.bucket_start)
    for k in range(W.shape[1]):
        i = ws.feature_order[k]
        for d in range(M):
            ws.W_sorted[d, k] = W[d, i]
        ws.b_sorted[k] = b[i]


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _node_totals(units, levels, ws):
    """coef_total (V, m + m^2): each node's linear coefficients summed over the groups (in order)
    and its ancestors; node_coef is cleared for the next step as it is read."""
    M = len(units)
    total = ws.coef_total
    for v in range(2 * ((1 << levels) - 1) + 1):
        for r in range(M + M * M):
            value = total[(v - 1) // 2, r] if v > 0 else 0.0
            for g in range(FEATURE_GROUPS):
                value += ws.node_coef[g, v, r]
                ws.node_coef[g, v, r] = 0.0
            total[v, r] = value


# no "reassoc": each example's sum is the node part, then each touched group's in group order, as
# written; contracting a product into its sum is kept
@numba.njit(cache=True, fastmath=kernels.FASTMATH - {"reassoc"}, boundscheck=False)
def _leaf_push_down(units, levels, order, ws, dhT, j):
    """dL/dh of leaf j's examples from the tree part: its a + B (h - ref) from coef_total, plus the
    dense part of each group that touched it (in group order; the marks are then cleared), summed
    in registers and written to dhT (m, T) in example order."""
    M = len(units)
    coef = ws.coef_total[(1 << levels) - 1 + j]
    touched = ws.leaf_touched[:, j]
    s, e = _node_range(ws.hs.shape[1], levels, j)
    for p in range(U(s), U(e)):
        t = U(order[p])
        for d in range(M):
            value = coef[d]
            for d2 in range(M):
                value += coef[M + d * M + d2] * (ws.hs[d2, p] - ws.ref[d2])
            for g in range(FEATURE_GROUPS):
                if touched[g]:
                    value += ws.group_dhs[g, d, p]
            dhT[d, t] = value
    touched[:] = 0


@numba.njit(cache=True)
def _push_down(units, order, ws, dhT):
    """dL/dh of every example from the tree part (`_node_totals`, then `_leaf_push_down` leaf by
    leaf), into dhT (m, T). On one thread: run leaf by leaf on two cores it was no faster (its
    reads of group_dhs and scattered writes to dhT wait on memory; docs/performance.md)."""
    levels = tree_levels(ws.hs.shape[1])
    _node_totals(units, levels, ws)
    for j in range(1 << levels):
        _leaf_push_down(units, levels, order, ws, dhT, j)


@numba.njit(cache=True, boundscheck=False)
def _finish(ws, n_chunks, gW, gb):
    """gW (m, n), gb (n,) in the model's dtype = the tree part plus the sparse chunks, summed in
    float64 in a fixed order and rounded once (the dense and sparse parts of a fitted feature's
    gradient nearly cancel)."""
    for d in range(gW.shape[0]):
        for i in range(gW.shape[1]):
            total = ws.gW64[d, i]
            for q in range(n_chunks):
                total += ws.sparse_gW[q, d, i]
            gW[d, i] = total
    for i in range(gb.shape[0]):
        total = ws.gb64[i]
        for q in range(n_chunks):
            total += ws.sparse_gb[q, i]
        gb[i] = total


@numba.njit(cache=True)
def tree_workspace(units, n_rows, n):
    """The tree pass's arrays for a model of n features on n_rows examples (see TreeWorkspace)."""
    M = len(units)
    levels = tree_levels(n_rows)
    n_leaves = 1 << levels
    n_nodes = 2 * n_leaves - 1
    G = FEATURE_GROUPS
    group_size = (n + G - 1) // G
    n_chunks = len(sparse_chunk_bounds(n_rows)) - 1
    return TreeWorkspace(
        np.zeros((M, n_rows)), np.zeros((n_nodes, 2 * M)), np.zeros((n_nodes, 1 + M + M * M)), np.zeros(M),
        np.zeros(n, np.int64), np.zeros(ANGLE_BUCKETS + 1, np.int64), np.zeros((M, n)), np.zeros(n),
        np.zeros((G, levels + 2, group_size), np.int32), np.zeros((G, group_size), np.int32),
        np.zeros((n, 1 + M + M * M)), np.zeros((M, n)), np.zeros(n),
        np.zeros((G, M, LEAF)), np.zeros((G, M, LEAF)), np.zeros((G, LEAF)),
        np.zeros((G, n_nodes, M + M * M)), np.zeros((n_nodes, M + M * M)),
        np.zeros((G, M, n_rows)), np.zeros((G, n_leaves), np.uint8),
        np.zeros((M, n)), np.zeros(n), np.zeros((n_chunks, M, n)), np.zeros((n_chunks, n)), np.zeros((G, N_STATS), np.int64),
    )  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _hidden_vectors_parallel(units, W, indptr, indices, values, bounds, hT):
    for q in numba.prange(len(bounds) - 1):
        kernels.hidden_vectors(units, W, indptr, indices, values, bounds[q], bounds[q + 1], hT)


@numba.njit(cache=True, parallel=True)
def _groups_parallel(units, c, ws, parts):
    for g in numba.prange(FEATURE_GROUPS):
        parts[g] = _group_pass(units, c, np.int64(g), ws)


@numba.njit(cache=True)
def _sparse_chunk(units, W, b, indptr, indices, values, bounds, q, hT, dhT, ws, c):
    """The sparse correction of example chunk q, into its own float64 accumulators."""
    ws.sparse_gW[q] = 0.0
    ws.sparse_gb[q] = 0.0
    return kernels.sparse_correction(
        units, W, b, indptr, indices, values, bounds[q], bounds[q + 1], hT, dhT, ws.sparse_gW[q], ws.sparse_gb[q], c
    )


@numba.njit(cache=True, parallel=True)
def _sparse_parallel(units, W, b, indptr, indices, values, bounds, hT, dhT, ws, c, parts):
    for q in numba.prange(len(bounds) - 1):
        parts[FEATURE_GROUPS + q] = _sparse_chunk(units, W, b, indptr, indices, values, bounds, np.int64(q), hT, dhT, ws, c)


@numba.njit(cache=True)
def tree_loss_grad(parallel, units, W, b, indptr, indices, values, rebuild, order, hT, dhT, gW, gb, ws, c):
    """The unscaled loss and its gradient (times c / 2) into gW (m, n), gb (n,), by tree.
    `rebuild` rebuilds the ordering order (T,) first. hT, dhT (m, T): scratch. `parallel` spreads
    the sparse passes' example chunks, the leaves' boxes and moments, a rebuild's splits and the
    feature groups over threads (one parallel loop per
    function: numba may reorder parallel loops it sees together); the work and its order are the
    same either way."""
    bounds = sparse_chunk_bounds(hT.shape[1])
    n_chunks = len(bounds) - 1
    parts = np.zeros(FEATURE_GROUPS + n_chunks)
    if parallel:
        _hidden_vectors_parallel(units, W, indptr, indices, values, bounds, hT)
    else:
        for q in range(n_chunks):
            kernels.hidden_vectors(units, W, indptr, indices, values, bounds[q], bounds[q + 1], hT)
    _prepare(parallel, units, W, b, hT, order, rebuild, ws)
    if parallel:
        _groups_parallel(units, float(c), ws, parts)
    else:
        for g in range(FEATURE_GROUPS):
            parts[g] = _group_pass(units, float(c), g, ws)
    _push_down(units, order, ws, dhT)
    if parallel:
        _sparse_parallel(units, W, b, indptr, indices, values, bounds, hT, dhT, ws, c, parts)
    else:
        for q in range(n_chunks):
            parts[FEATURE_GROUPS + q] = _sparse_chunk(units, W, b, indptr, indices, values, bounds, q, hT, dhT, ws, c)
    _finish(ws, n_chunks, gW, gb)
    return kernels.ordered_sum(parts)


@numba.njit(cache=True)
def total_stats(ws, out):
    """out (N_STATS,) += the groups' counts; the counts are then zeroed."""
    for g in range(ws.stats.shape[0]):
        for k in range(N_STATS):
            out[k] += ws.stats[g, k]
            ws.stats[g, k] = 0
