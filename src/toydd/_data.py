"""Sparse synthetic data (docs/science.md section 2): examples stored as CSR rows, sampled in O(nnz).

Each of the n features is active with probability 1 - S and then uniform on [0, 1); each example
is scaled to unit L2 norm (all-zero examples stay zero). Sampling walks the examples in order from
one seed, so the first T examples of a seed are the same for every dataset size: a T = 5 training
set is the start of the T = 10 one with the same `data_seed`.

With `repeated_points` = k > 0 and `repeats` = R, the T rows of the training set are D = T - k (R - 1)
distinct examples (the first D of the seed, so the set of distinct examples nests like the above)
followed by R - 1 extra copies of each of the k repeated ones: the first k distinct examples with
at least one active feature (an all-zero example has nothing to memorize). `repeat_layout` says
which distinct example each row holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ._config import Config, ConfigError

# Purposes keep the streams of one integer seed apart: data_seed 0 and test_seed 0 differ.
TRAIN_STREAM = 0x7A1
TEST_STREAM = 0x7E5
INFINITE_STREAM = 0x1AF
INIT_STREAM = 0x1A1


@dataclass(frozen=True)
class SparseRows:
    """A set of examples as CSR rows.

    indptr:  int64 (T + 1,)   row t holds entries indptr[t]:indptr[t + 1]
    indices: int64 (nnz,)     feature of each entry, increasing within a row
    values:  float32 (nnz,)   value of each entry
    """

    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray
    n_features: int

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        return int(self.indptr[-1])

    def to_dense(self, dtype=np.float64) -> np.ndarray:
        """(T, n) dense copy: for tests and small problems only."""
        dense = np.zeros((self.n_rows, self.n_features), dtype=dtype)
        rows = np.repeat(np.arange(self.n_rows), np.diff(self.indptr))
        dense[rows, self.indices] = self.values
        return dense

    def __post_init__(self) -> None:
        """Refuse, in one line naming the field, anything but well-formed CSR: int64 indptr from 0,
        never decreasing, ending at nnz; int64 indices in [0, n), strictly increasing within each
        row (sorted, no duplicates: a repeated feature would count twice); finite float32 values."""
        problem = _csr_problem(self.indptr, self.indices, self.values, self.n_features)
        if problem:
            raise ValueError(f"SparseRows: {problem}")

    @classmethod
    def from_dense(cls, dense: np.ndarray) -> "SparseRows":
        dense = np.asarray(dense)
        rows, cols = np.nonzero(dense)
        indptr = np.zeros(dense.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=dense.shape[0]), out=indptr[1:])
        return cls(indptr, cols.astype(np.int64), dense[rows, cols].astype(np.float32), dense.shape[1])

    @classmethod
    def stack(cls, parts: list["SparseRows"]) -> "SparseRows":
        """Rows of all parts, in order (for building non-i.i.d. training sets)."""
        offsets = np.cumsum([0] + [p.nnz for p in parts[:-1]])
        indptr = np.concatenate([[0]] + [p.indptr[1:] + o for p, o in zip(parts, offsets)])
        return cls(
            indptr.astype(np.int64),
            np.concatenate([p.indices for p in parts]),
            np.concatenate([p.values for p in parts]),
            parts[0].n_features,
        )

    def take(self, rows: np.ndarray) -> "SparseRows":
        """The given rows (k,), in the given order (repeats allowed), each an exact copy of its entries."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= self.n_rows):
            raise IndexError(f"SparseRows.take: rows must lie in [0, {self.n_rows})")
        starts = self.indptr[rows]
        lengths = self.indptr[rows + 1] - starts
        indptr = np.zeros(len(rows) + 1, np.int64)
        np.cumsum(lengths, out=indptr[1:])
        # entry e of output row r comes from entry e - indptr[r] + starts[r] of the source
        entries = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1], dtype=np.int64)
        return SparseRows(indptr, self.indices[entries], self.values[entries], self.n_features)


def _csr_problem(p, i, v, n_features) -> str:
    """What is wrong with CSR arrays (indptr p, indices i, values v), or "" if nothing is."""
    for field, array, dtype in (("indptr", p, np.int64), ("indices", i, np.int64), ("values", v, np.float32)):
        if not isinstance(array, np.ndarray) or array.dtype != dtype or array.ndim != 1:
            got = f"{array.dtype} {array.ndim}-d" if isinstance(array, np.ndarray) else type(array).__name__
            return f"{field} must be a 1-d {np.dtype(dtype).name} array, got {got}"
    if len(p) < 1 or p[0] != 0 or np.any(np.diff(p) < 0):
        return "indptr must start at 0 and not decrease"
    if p[-1] != len(i) or len(i) != len(v):
        return "indptr[-1], len(indices) and len(values) must agree"
    if len(i) and (i.min() < 0 or i.max() >= n_features):
        return f"indices must lie in [0, {n_features})"
    increasing = np.diff(i) > 0
    increasing[p[1:-1][(p[1:-1] > 0) & (p[1:-1] < len(i))] - 1] = True  # a new row may start anywhere
    if not np.all(increasing):
        return "indices must be sorted and distinct within each row"
    if not np.all(np.isfinite(v)):
        return "values must be finite"
    return ""


@numba.njit(cache=True)
def stream_seed(purpose: int, seed: int, index: int) -> int:
    """A 63-bit seed from (purpose, seed, index), by splitmix64 mixing (63 bits: no collisions
    among the 50,000 per-step batches of a run, as 31 bits would risk)."""
    x = np.uint64(purpose) * np.uint64(0x9E3779B97F4A7C15)
    for part in (seed, index):
        x = x ^ np.uint64(part)
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return int(x & np.uint64(0x7FFFFFFFFFFFFFFF))


@numba.njit(cache=True)
def _splitmix64(state):
    """(next state, 64 random bits): the splitmix64 generator, fast and seekable."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@numba.njit(cache=True)
def sample_csr(n_rows, n_features, density, seed, normalize):
    """Draw n_rows examples; returns (indptr int64, indices int64, values float32).

    Every (example, feature) cell is active with probability `density`, independently; active
    values are uniform on [0, 1) (24 random bits, float32's resolution). The active cells are
    found by geometric skips along the cells in row-major order, so the cost is O(nnz) at any
    sparsity, indices come out sorted and distinct, and the first rows do not depend on n_rows.
    """
    state = np.uint64(seed) * np.uint64(0xD1B54A32D192ED03) + np.uint64(1)
    log_miss = np.log1p(-density) if density < 1.0 else -np.inf
    expected = n_rows * n_features * density
    capacity = int(expected + 6.0 * np.sqrt(expected + 1.0) + 16)
    indptr = np.zeros(n_rows + 1, np.int64)
    indices = np.empty(capacity, np.int64)
    values = np.empty(capacity, np.float32)
    nnz = 0
    row = 0
    column = -1  # cell = row * n_features + column, kept as a pair to avoid divisions
    while True:
        state, bits = _splitmix64(state)
        uniform = ((bits >> np.uint64(11)) + np.uint64(1)) * (1.0 / 9007199254740992.0)  # (0, 1]
        column += 1 + (int(np.log(uniform) / log_miss) if density < 1.0 else 0)
        while column >= n_features and row < n_rows:
            column -= n_features
            row += 1
            indptr[row] = nnz
        if row >= n_rows:
            break
        if nnz == capacity:
            capacity = 2 * capacity + 16
            indices = _grow(indices, capacity)
            values = _grow(values, capacity)
        state, bits = _splitmix64(state)
        indices[nnz] = column
        values[nnz] = np.float32((bits >> np.uint64(40)) * (1.0 / 16777216.0))
        nnz += 1
    indptr[n_rows] = nnz
    if normalize:
        for t in range(n_rows):
            norm_sq = 0.0
            for e in range(indptr[t], indptr[t + 1]):
                norm_sq += np.float64(values[e]) ** 2
            if norm_sq > 0.0:
                scale = 1.0 / np.sqrt(norm_sq)
                for e in range(indptr[t], indptr[t + 1]):
                    values[e] = np.float32(values[e] * scale)
    return indptr, indices[:nnz].copy(), values[:nnz].copy()


@numba.njit(cache=True)
def _grow(array, capacity):
    bigger = np.empty(capacity, array.dtype)
    bigger[: len(array)] = array
    return bigger


def sample_rows(n_rows: int, n_features: int, sparsity: float, seed: int, normalize: bool = True) -> SparseRows:
    """`n_rows` i.i.d. examples of the paper's distribution from a 63-bit `seed`."""
    indptr, indices, values = sample_csr(n_rows, n_features, 1.0 - sparsity, seed, normalize)
    return SparseRows(indptr, indices, values, n_features)


def train_set(config: Config) -> SparseRows | None:
    """The fixed training set of `config.dataset_size` rows, every copy of a repeated example
    included (see the module docstring); None for infinite data."""
    if config.infinite_data:
        return None
    distinct = distinct_set(config)
    if config.repeated_points == 0:
        return distinct
    return distinct.take(repeat_layout(config, distinct).distinct_example)


def distinct_count(config: Config) -> int:
    """D, the distinct examples of a finite training set: T less the extra copies."""
    return int(config.dataset_size) - config.repeated_points * (config.repeats - 1)


def distinct_set(config: Config) -> SparseRows:
    """The D distinct training examples: the first D of the data seed's stream."""
    seed = stream_seed(TRAIN_STREAM, config.data_seed, 0)
    return sample_rows(distinct_count(config), config.n_features, config.sparsity, seed, config.normalize)


@dataclass(frozen=True)
class RepeatLayout:
    """Which distinct example each row of a training set holds.

    distinct_example: int64 (T,)   rows 0 .. D-1 hold distinct examples 0 .. D-1, rows D .. T-1
                                   the extra copies, R - 1 of each repeated example in turn
    repeated:         bool (T,)    the row holds a repeated example (its first copy included)
    chosen:           int64 (k,)   the repeated distinct examples, increasing (k = repeated_points)
    repeats:          R, the copies of each chosen example in the T rows
    """

    distinct_example: np.ndarray
    repeated: np.ndarray
    chosen: np.ndarray
    repeats: int

    @property
    def n_distinct(self) -> int:
        return len(self.distinct_example) - len(self.chosen) * (self.repeats - 1)


def repeat_layout(config: Config, rows: SparseRows) -> RepeatLayout:
    """The layout of `config`'s training set. `rows` is its distinct set or the training set
    itself: both begin with the D distinct examples, whose active features decide the choice."""
    n_distinct = distinct_count(config)
    nonempty = np.flatnonzero(np.diff(rows.indptr[: n_distinct + 1]) > 0)
    if len(nonempty) < config.repeated_points:
        raise ConfigError(
            f"repeated_points must not exceed the {len(nonempty)} distinct examples with an active feature, got {config.repeated_points}"
        )
    chosen = nonempty[: config.repeated_points].astype(np.int64)
    extra = np.repeat(chosen, config.repeats - 1)
    distinct_example = np.concatenate([np.arange(n_distinct, dtype=np.int64), extra])
    return RepeatLayout(distinct_example, np.isin(distinct_example, chosen), chosen, config.repeats)


def test_set(config: Config) -> SparseRows:
    """The fixed test set: depends only on n, S, normalization, test_size and test_seed."""
    seed = stream_seed(TEST_STREAM, config.test_seed, 0)
    return sample_rows(config.test_size, config.n_features, config.sparsity, seed, config.normalize)


def infinite_batch_seed(data_seed: int, step: int) -> int:
    """Seed of the fresh batch at `step` for infinite data (same for every engine)."""
    return stream_seed(INFINITE_STREAM, data_seed, step)
