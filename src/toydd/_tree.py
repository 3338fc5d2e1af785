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
  h whose coefficients are the group's moments (count, sum of h, sum of h h^T). Prefix sums of
  the leaves' moments give any node's in O(m^2). The gradient reaching each h_t of the node,
  c (b_i + W_i . h_t) W_i, is a vector plus an m x m matrix times h_t, added to per-leaf
  difference arrays at the node's two ends and summed over the leaves once per step.
- otherwise the feature goes on to the node's children; at a leaf it is done pair by pair, as in
  the dense kernels (adjacent leaves as one run).

Each feature walks the tree level by level (`_feature_pass`), and features are walked in order of
the direction of W_i, so that consecutive walks find the same nodes in cache.

Nothing is approximated: the settled nodes and dense leaves of a feature partition the examples,
and each case computes the same sums as the dense pass, only in closed form. The result equals
the dense pass up to floating-point rounding (tests: rtol 1e-10 in float64).

The ordering of the examples is rebuilt every REBUILD_EVERY steps (at steps that are multiples
of it, so the numbers never depend on where training was paused) and kept in between, as state of
the run like AdamW's moments; every step re-boxes it around the current hidden vectors (O(T m^2)).

Arrays (per model): `order` (T,) int64: position p of the tree holds example order[p]. One tree
covers all T examples. Features are split into FEATURE_GROUPS fixed groups (walked in parallel),
each with its own accumulators for the examples' gradient, summed in a fixed order; the sparse
passes run over fixed example chunks. So any thread count gives the same numbers.
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from . import _kernels as kernels

LEAF = 32  # examples per leaf at most (32 walked a little faster than 16 at n = 10,000, T = 100,000: tree_step_costs.py)
REBUILD_EVERY = 32  # steps between rebuilds of the ordering (a rebuild costs about 20 steps' re-boxing)
FEATURE_GROUPS = 4  # features walked in parallel in this many fixed groups (any thread count)
SPARSE_CHUNK_MIN = 4_096  # examples per chunk of the sparse passes at least
SPARSE_CHUNKS_MAX = 4  # ... and at most this many chunks
ANGLE_BUCKETS = 1024  # features are walked in order of the direction of W_i, in this many buckets

# Counts kept per model (tree_stats), summed over steps
VISITS, DENSE_PAIRS, LINEAR_SETTLED, INACTIVE_SETTLED, RUNS = range(5)
N_STATS = 5

TreeWorkspace = namedtuple(
    "TreeWorkspace",
    "hs dhs nodes ref moments prefix_n prefix_1 prefix_2 scratch feature_order bucket_start "
    "diff_a diff_B group_dhs touched touched_list n_touched gW64 gb64 sparse_gW sparse_gb stats",
)
TreeWorkspace.__doc__ = """The tree pass's arrays for one model (T examples, n features, L = 2^levels
leaves, V = 2L - 1 nodes, G = FEATURE_GROUPS). float64 whatever the model's dtype: the moments must
not cancel, and the dense leaves then round no worse than the closed forms.

hs, dhs (m, T): hidden vectors in tree order and the tree part of their gradient; nodes (V, 2m):
each box's centre then half-widths (one cache line per node for m <= 4); ref (m,): the point the
moments are taken about; moments (L, 1 + m + m^2): per leaf count, sum of h - ref, sum of
(h - ref)(h - ref)^T; prefix_n (L + 1,), prefix_1 (L + 1, m), prefix_2 (L + 1, m, m): their prefix
sums over leaves; scratch (G, 3, L + 1): the walk's node lists (frontier, crossed, linear); feature_order (n,): the features
by the direction of W_i (`_order_features`), bucket_start (ANGLE_BUCKETS + 1,): its scratch; diff_a (G, L + 1, m), diff_B (G, L + 1, m, m): difference
arrays of the linear regions' gradient to h; group_dhs (G, m, T): each group's dense gradient to h,
on the leaves in touched_list (G, L) (n_touched (G,), touched (G, L)); gW64 (m, n), gb64 (n,): the
tree part of the gradient; sparse_gW (chunks, m, n), sparse_gb (chunks, n): the sparse
correction's; stats (G, N_STATS)."""


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
def build_order(units, hT, order, points):
    """Rebuild the ordering from the hidden vectors hT (m, T), splitting every node at its median
    along its widest unit. A function of hT alone (it starts from the identity), so resuming
    rebuilds the same tree. points (m, T): scratch, left holding hT in tree order."""
    n_examples = hT.shape[1]
    levels = tree_levels(n_examples)
    for p in range(n_examples):
        order[p] = p
        for d in range(len(units)):
            points[d, p] = hT[d, p]
    for level in range(levels):
        for j in range(1 << level):
            s, e = _node_range(n_examples, level, j)
            middle = (n_examples * (2 * j + 1)) >> (level + 1)
            _select(units, points, order, _widest_dim(units, points, s, e), s, e, middle)


@numba.njit(cache=True, boundscheck=False)
def _gather(units, hT, order, hs):
    """hs (m, T) = hT in tree order, in float64."""
    for p in range(hT.shape[1]):
        t = order[p]
        for d in range(len(units)):
            hs[d, p] = hT[d, t]


@numba.njit(cache=True, boundscheck=False)
def _box(units, levels, hs, nodes, ref):
    """Every node's box around the current hidden vectors (leaves: their examples' bounds;
    parents: their children's), as centre and half-widths in nodes (V, 2m); ref (m,) = the root's
    centre."""
    M = len(units)
    n_examples = hs.shape[1]
    first_leaf = (1 << levels) - 1
    lo = np.empty(M)
    hi = np.empty(M)
    for j in range(1 << levels):
        v = first_leaf + j
        s, e = _node_range(n_examples, levels, j)
        for d in range(M):
            low = np.inf
            high = -np.inf
            for p in range(s, e):
                low = min(low, hs[d, p])
                high = max(high, hs[d, p])
            nodes[v, d] = low  # bounds first, turned into centre and half below
            nodes[v, M + d] = high
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
def _leaf_moments(units, levels, hs, ref, j, moments):
    """moments[j] = count, sum of (h - ref) (m), sum of (h - ref)(h - ref)^T (m x m) of leaf j."""
    M = len(units)
    s, e = _node_range(hs.shape[1], levels, j)
    row = moments[j]
    for k in range(row.shape[0]):
        row[k] = 0.0
    row[0] = e - s
    for p in range(s, e):
        for d in range(M):
            delta = hs[d, p] - ref[d]
            row[1 + d] += delta
            for d2 in range(M):
                row[1 + M + d * M + d2] += delta * (hs[d2, p] - ref[d2])


@numba.njit(cache=True, boundscheck=False)
def _prefix_moments(units, moments, prefix_n, prefix_1, prefix_2):
    """Prefix sums over leaves of the leaves' moments (index j: leaves 0 ... j - 1)."""
    M = len(units)
    prefix_n[0] = 0.0
    prefix_1[0] = 0.0
    prefix_2[0] = 0.0
    for j in range(moments.shape[0]):
        row = moments[j]
        prefix_n[j + 1] = prefix_n[j] + row[0]
        for d in range(M):
            prefix_1[j + 1, d] = prefix_1[j, d] + row[1 + d]
            for d2 in range(M):
                prefix_2[j + 1, d, d2] = prefix_2[j, d, d2] + row[1 + M + d * M + d2]


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False, inline="always")  # short runs: no call
def _dense_run(units, w, bias, c, ps, pe, hs, dhs, acc):
    """Every pair of the feature (w, bias) with positions [ps, pe), as the dense kernels do:
    returns (sum r^2, sum c r); acc (m,) += sum c r h_t; dhs[:, t] += c r w. Runs are a few
    leaves long, so one plain loop (units 0 and 1 in registers) beats blocking."""
    M = len(units)
    one = min(1, M - 1)
    w0 = w[0]
    w1 = w[one]
    a0 = 0.0
    a1 = 0.0
    loss = 0.0
    g_sum = 0.0
    for p in range(ps, pe):
        h0 = hs[0, p]
        h1 = hs[one, p]
        z = bias + w0 * h0
        if M > 1:
            z += w1 * h1
        for d in range(2, M):
            z += w[d] * hs[d, p]
        r = max(z, 0.0)
        loss += r * r
        g = c * r
        g_sum += g
        a0 += g * h0
        dhs[0, p] += g * w0
        if M > 1:
            a1 += g * h1
            dhs[1, p] += g * w1
        for d in range(2, M):
            acc[d] += g * hs[d, p]
            dhs[d, p] += g * w[d]
    acc[0] += a0
    if M > 1:
        acc[1] += a1
    return loss, g_sum


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _feature_pass(units, levels, i, w, bias, c, ws, g, scratch, acc, sum_1, sum_2, coef, counts):
    """Feature i (w (m,), bias): walk the tree level by level and add its loss and gradient.

    A level's nodes that the plane b + w . h = 0 crosses (in leaf order) are classified without
    branches into inactive (dropped), linear (closed form from the prefix moments of the node's
    leaves, and the difference arrays for the gradient to h) and crossed (their children make the
    next level; at the leaf level, done pair by pair, adjacent leaves as one run). Adds to
    gW64[:, i], gb64[i] and group g's arrays; scratch (3, L + 1) int64; acc, sum_1 (m,), sum_2
    (m, m), coef (m + m^2,): scratch; counts (N_STATS,) += what was done. Returns sum r^2."""
    M = len(units)
    one = min(1, M - 1)
    n_examples = ws.hs.shape[1]
    nodes = ws.nodes
    frontier = scratch[0]
    crossed = scratch[1]
    linear = scratch[2]
    for d in range(M):
        acc[d] = 0.0
        sum_1[d] = 0.0
        for d2 in range(M):
            sum_2[d, d2] = 0.0
    # z = bias + w . h = shifted + w . (h - ref): the moments are about ref
    shifted = bias
    for d in range(M):
        shifted += w[d] * ws.ref[d]
    # units 0 and 1 in registers: the compiler cannot tell that the node lists written below do
    # not overwrite w, so it would reload w at every node
    w0 = w[0]
    w1 = w[one]
    size0 = abs(w0)
    size1 = abs(w1)
    # a linear node's examples get c z w = c shifted w + c w w^T (h - ref): the same a and B at
    # every node of this feature
    for d in range(M):
        coef[d] = c * shifted * w[d]
        for d2 in range(M):
            coef[M + d * M + d2] = c * w[d] * w[d2]
    count = 0.0
    loss = 0.0
    g_sum = 0.0
    diff_a = ws.diff_a[g]
    diff_B = ws.diff_B[g]
    frontier[0] = 0
    n_frontier = 1
    for level in range(levels + 1):
        counts[VISITS] += n_frontier
        n_crossed = 0
        n_linear = 0
        for k in range(n_frontier):
            v = frontier[k]
            z_centre = bias + w0 * nodes[v, 0]
            radius = size0 * nodes[v, M]
            if M > 1:
                z_centre += w1 * nodes[v, 1]
                radius += size1 * nodes[v, M + 1]
            for d in range(2, M):
                z_centre += w[d] * nodes[v, d]
                radius += abs(w[d]) * nodes[v, M + d]
            is_linear = z_centre - radius > 0.0
            linear[n_linear] = v
            n_linear += 1 if is_linear else 0
            crossed[n_crossed] = v
            n_crossed += 1 if z_centre + radius > 0.0 and not is_linear else 0
        counts[LINEAR_SETTLED] += n_linear
        counts[INACTIVE_SETTLED] += n_frontier - n_linear - n_crossed
        first_of_level = (1 << level) - 1
        width = levels - level  # a node of this level spans 2^width leaves
        for k in range(n_linear):
            j = linear[k] - first_of_level
            first = j << width
            last = (j + 1) << width
            count += ws.prefix_n[last] - ws.prefix_n[first]
            for d in range(M):
                sum_1[d] += ws.prefix_1[last, d] - ws.prefix_1[first, d]
                for d2 in range(M):
                    sum_2[d, d2] += ws.prefix_2[last, d, d2] - ws.prefix_2[first, d, d2]
            for d in range(M):
                diff_a[first, d] += coef[d]
                diff_a[last, d] -= coef[d]
                for d2 in range(M):
                    diff_B[first, d, d2] += coef[M + d * M + d2]
                    diff_B[last, d, d2] -= coef[M + d * M + d2]
        if level < levels:
            for k in range(n_crossed):
                frontier[2 * k] = 2 * crossed[k] + 1
                frontier[2 * k + 1] = 2 * crossed[k] + 2
            n_frontier = 2 * n_crossed
            continue
        k = 0
        while k < n_crossed:  # the crossed leaves, adjacent ones as one run
            first = crossed[k] - first_of_level
            last = first + 1
            k += 1
            while k < n_crossed and crossed[k] - first_of_level == last:
                last += 1
                k += 1
            ps = (n_examples * first) >> levels
            pe = (n_examples * last) >> levels
            _touch(levels, n_examples, first, last, ws.touched[g], ws.touched_list[g], ws.n_touched, g, ws.group_dhs[g])
            run_loss, run_g = _dense_run(units, w, bias, c, ps, pe, ws.hs, ws.group_dhs[g], acc)
            loss += run_loss
            g_sum += run_g
            counts[DENSE_PAIRS] += pe - ps
            counts[RUNS] += 1
    # sum z = N s + w . S1, sum z^2 = N s^2 + 2 s w . S1 + w^T S2 w, sum z h = s S1 + S2 w + ref sum z
    w_S1 = 0.0
    w_S2_w = 0.0
    for d in range(M):
        w_S1 += w[d] * sum_1[d]
        for d2 in range(M):
            w_S2_w += w[d] * sum_2[d, d2] * w[d2]
    sum_z = count * shifted + w_S1
    loss += count * shifted * shifted + 2.0 * shifted * w_S1 + w_S2_w
    ws.gb64[i] += g_sum + c * sum_z
    for d in range(M):
        S2_w = 0.0
        for d2 in range(M):
            S2_w += sum_2[d, d2] * w[d2]
        ws.gW64[d, i] += acc[d] + c * (shifted * sum_1[d] + S2_w + ws.ref[d] * sum_z)
    return loss


@numba.njit(cache=True, boundscheck=False, inline="always")  # per dense run: no call
def _touch(levels, n_examples, first, last, touched, touched_list, n_touched, g, dhs):
    """Leaves [first, last) receive group g's dense gradient dhs (m, T) this step: zero them on
    first use and list them (touched (L,), touched_list (L,), n_touched (G,))."""
    for j in range(first, last):
        if not touched[j]:
            touched[j] = True
            touched_list[n_touched[g]] = j
            n_touched[g] += 1
            s, e = _node_range(n_examples, levels, j)
            for d in range(dhs.shape[0]):
                for p in range(s, e):
                    dhs[d, p] = 0.0


@numba.njit(cache=True, boundscheck=False)
def _order_features(units, W, b, feature_order, bucket_start):
    """feature_order (n,) = the features sorted (stably, by counting) by the direction of their
    first two units (sign of w and b when m = 1). Features with similar planes walk the same
    nodes, so walking them one after another finds those nodes in cache. A function of W and b
    alone, so the order of the sums does not depend on the past."""
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
        keys[i] = min(ANGLE_BUCKETS - 1, int(angle * (ANGLE_BUCKETS / 4.0)))
        bucket_start[keys[i] + 1] += 1
    for k in range(ANGLE_BUCKETS):
        bucket_start[k + 1] += bucket_start[k]
    for i in range(n):
        feature_order[bucket_start[keys[i]]] = i
        bucket_start[keys[i]] += 1


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _group_pass(units, W, b, c, g, ws):
    """The tree pass of feature group g (a fixed share of `feature_order`): every feature of the
    group (`_feature_pass`). Returns the group's sum of r^2."""
    M = len(units)
    n = W.shape[1]
    levels = tree_levels(ws.hs.shape[1])
    w = np.empty(M)
    acc = np.empty(M)
    sum_1 = np.empty(M)
    sum_2 = np.empty((M, M))
    coef = np.empty(M + M * M)
    loss = 0.0
    for k in range((n * g) // FEATURE_GROUPS, (n * (g + 1)) // FEATURE_GROUPS):
        i = ws.feature_order[k]
        for d in range(M):
            w[d] = W[d, i]
        loss += _feature_pass(units, levels, i, w, float(b[i]), c, ws, g, ws.scratch[g], acc, sum_1, sum_2, coef, ws.stats[g])
    return loss


@numba.njit(cache=True, boundscheck=False)
def _prepare(units, W, b, hT, order, rebuild, ws):
    """Before the groups' passes: the ordering (rebuilt when asked), hidden vectors in tree order,
    boxes, prefix moments, the features' order, zeroed accumulators."""
    n_examples = hT.shape[1]
    levels = tree_levels(n_examples)
    if rebuild:
        build_order(units, hT, order, ws.hs)  # leaves hs in the new tree order
    else:
        _gather(units, hT, order, ws.hs)
    _box(units, levels, ws.hs, ws.nodes, ws.ref)
    for j in range(1 << levels):
        _leaf_moments(units, levels, ws.hs, ws.ref, j, ws.moments)
    _prefix_moments(units, ws.moments, ws.prefix_n, ws.prefix_1, ws.prefix_2)
    _order_features(units, W, b, ws.feature_order, ws.bucket_start)
    ws.gW64[:] = 0.0
    ws.gb64[:] = 0.0


@numba.njit(cache=True, fastmath=kernels.FASTMATH, boundscheck=False)
def _push_down(units, order, ws, dhT):
    """dL/dh of every example from the tree part: the linear regions' a + B (h - ref) (difference
    arrays summed over groups, then over leaves) plus each group's dense part, in a fixed order;
    written to dhT (m, T) in example order."""
    M = len(units)
    n_examples = ws.hs.shape[1]
    levels = tree_levels(n_examples)
    a = np.zeros(M)
    B = np.zeros((M, M))
    for j in range(1 << levels):
        for g in range(FEATURE_GROUPS):  # read and clear for the next step
            for d in range(M):
                a[d] += ws.diff_a[g, j, d]
                ws.diff_a[g, j, d] = 0.0
                for d2 in range(M):
                    B[d, d2] += ws.diff_B[g, j, d, d2]
                    ws.diff_B[g, j, d, d2] = 0.0
        s, e = _node_range(n_examples, levels, j)
        for p in range(s, e):
            for d in range(M):
                value = a[d]
                for d2 in range(M):
                    value += B[d, d2] * (ws.hs[d2, p] - ws.ref[d2])
                ws.dhs[d, p] = value
    last = 1 << levels  # the runs' end marks past the last leaf are never read: clear them
    for g in range(FEATURE_GROUPS):
        ws.diff_a[g, last] = 0.0
        ws.diff_B[g, last] = 0.0
    for g in range(FEATURE_GROUPS):
        for k in range(ws.n_touched[g]):
            j = ws.touched_list[g, k]
            ws.touched[g, j] = False
            s, e = _node_range(n_examples, levels, j)
            for d in range(M):
                for p in range(s, e):
                    ws.dhs[d, p] += ws.group_dhs[g, d, p]
        ws.n_touched[g] = 0
    for p in range(n_examples):
        t = order[p]
        for d in range(M):
            dhT[d, t] = ws.dhs[d, p]


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
    G = FEATURE_GROUPS
    n_chunks = len(sparse_chunk_bounds(n_rows)) - 1
    return TreeWorkspace(
        np.zeros((M, n_rows)), np.zeros((M, n_rows)), np.zeros((2 * n_leaves - 1, 2 * M)), np.zeros(M),
        np.zeros((n_leaves, 1 + M + M * M)), np.zeros(n_leaves + 1), np.zeros((n_leaves + 1, M)), np.zeros((n_leaves + 1, M, M)),
        np.zeros((G, 3, n_leaves + 1), np.int64), np.zeros(n, np.int64), np.zeros(ANGLE_BUCKETS + 1, np.int64),
        np.zeros((G, n_leaves + 1, M)), np.zeros((G, n_leaves + 1, M, M)),
        np.zeros((G, M, n_rows)), np.zeros((G, n_leaves), np.bool_), np.zeros((G, n_leaves), np.int64), np.zeros(G, np.int64),
        np.zeros((M, n)), np.zeros(n), np.zeros((n_chunks, M, n)), np.zeros((n_chunks, n)), np.zeros((G, N_STATS), np.int64),
    )  # fmt: skip


@numba.njit(cache=True, parallel=True)
def _hidden_vectors_parallel(units, W, indptr, indices, values, bounds, hT):
    for q in numba.prange(len(bounds) - 1):
        kernels.hidden_vectors(units, W, indptr, indices, values, bounds[q], bounds[q + 1], hT)


@numba.njit(cache=True, parallel=True)
def _groups_parallel(units, W, b, c, ws, parts):
    for g in numba.prange(FEATURE_GROUPS):
        parts[g] = _group_pass(units, W, b, c, g, ws)


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
        parts[FEATURE_GROUPS + q] = _sparse_chunk(units, W, b, indptr, indices, values, bounds, q, hT, dhT, ws, c)


@numba.njit(cache=True)
def tree_loss_grad(parallel, units, W, b, indptr, indices, values, rebuild, order, hT, dhT, gW, gb, ws, c):
    """The unscaled loss and its gradient (times c / 2) into gW (m, n), gb (n,), by tree.
    `rebuild` rebuilds the ordering order (T,) first. hT, dhT (m, T): scratch. `parallel` spreads
    the sparse passes' example chunks and the feature groups over threads (one parallel loop per
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
    _prepare(units, W, b, hT, order, rebuild, ws)
    if parallel:
        _groups_parallel(units, W, b, float(c), ws, parts)
    else:
        for g in range(FEATURE_GROUPS):
            parts[g] = _group_pass(units, W, b, float(c), g, ws)
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
