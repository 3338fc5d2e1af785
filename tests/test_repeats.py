"""Repeated data (issue 8, section 2): the config keys, the training set's copies, and the
measurements of the repeated points."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

import toydd
from toydd import Config, ConfigError, load_run, save_run, train_set
from toydd._data import RepeatLayout, distinct_count, distinct_set, repeat_layout
from toydd._metrics import fractional_dimensionality, hidden_vectors
from toydd._repeats import MEMORIZED_TOP_FRACTION, distinct_dimensionality, in_top_fraction, repeat_measurements, top_fraction_threshold

SMALL = Config(n_features=300, sparsity=0.97, dataset_size=40, data_seed=3)


# --- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"repeated_points": -1}, "repeated_points must be >= 0, got -1"),
        ({"repeated_points": 1, "repeats": 0}, "repeats must be >= 1, got 0"),
        ({"repeats": 3}, "repeats must be 1 when repeated_points is 0, got 3"),
        ({"dataset_size": "inf", "repeated_points": 1}, 'repeated_points must be 0 when dataset_size is "inf"'),
        ({"dataset_size": 10, "repeated_points": 3, "repeats": 4}, r"repeated_points \* repeats must not exceed dataset_size, got 3 \* 4 > 10"),
        ({"repeated_points": 1.5}, "repeated_points must be an integer, got 1.5"),
        ({"repeated_points": 1, "repeats": "3"}, "repeats must be an integer, got '3'"),
        ({"repeated_points": True}, "repeated_points must be an integer, got True"),
    ],
)  # fmt: skip
def test_bad_repeat_settings_are_one_line_errors_naming_the_field(changes, message):
    with pytest.raises(ConfigError, match=f"^{message}") as error:
        Config.from_dict(changes)
    assert "\n" not in str(error.value)


def test_every_copy_may_fill_the_training_set():
    config = Config(dataset_size=12, repeated_points=3, repeats=4)
    assert distinct_count(config) == 3 and config.cost == 12 * config.n_features * config.steps


def test_run_id_counts_the_repeats_and_keeps_the_ids_of_runs_without_them():
    assert Config().run_id() == "e0ceb7c6ab64944f"  # the default's id before these keys existed
    assert SMALL.run_id() == "f5526581264f0919"
    ids = {SMALL.replace(repeated_points=k, repeats=r).run_id() for k, r in [(0, 1), (1, 1), (1, 2), (2, 2)]}
    assert len(ids) == 4


def test_train_help_documents_the_keys_and_the_command_refuses_bad_ones_in_one_line(tmp_path):
    def toydd_cli(*args):
        return subprocess.run([sys.executable, "-m", "toydd.cli", *args], capture_output=True, text=True, timeout=300)

    shown = " ".join(toydd_cli("train", "--help").stdout.split())
    assert "--repeated-points INTEGER distinct training examples that appear --repeats times" in shown
    assert "--repeats INTEGER R, copies of each repeated example; dataset_size counts every copy" in shown
    done = toydd_cli("train", "--dataset-size", "5", "--repeated-points", "2", "--repeats", "3", "--out", str(tmp_path / "r"))
    assert done.returncode == 2 and done.stderr.strip().splitlines() == ["error: repeated_points * repeats must not exceed dataset_size, got 2 * 3 > 5"]
    assert not (tmp_path / "r").exists()


# --- the training set ---------------------------------------------------------------------------


def _digest(rows) -> str:
    return hashlib.sha256(rows.indptr.tobytes() + rows.indices.tobytes() + rows.values.tobytes()).hexdigest()


def test_no_repeats_leaves_the_training_set_as_it_was():
    rows = train_set(SMALL)
    # sha256 of this set as toydd built it before repeated_points existed
    assert _digest(rows) == "b317aadc39153b92f5b66f0d6f6d4992cf4e4a35feec5c377f6b669477d0d1b7"
    same = train_set(SMALL.replace(repeated_points=1, repeats=1))  # one copy of each: the same rows
    assert _digest(same) == _digest(rows)


def test_rows_count_every_copy_and_copies_are_exact():
    config = SMALL.replace(dataset_size=60, repeated_points=3, repeats=7)
    rows, distinct = train_set(config), distinct_set(config)
    layout = repeat_layout(config, rows)
    assert rows.n_rows == 60 and distinct.n_rows == 60 - 3 * 6 == layout.n_distinct
    assert layout.distinct_example.shape == (60,) and layout.repeated.sum() == 3 * 7
    assert np.array_equal(np.bincount(layout.distinct_example)[layout.chosen], [7, 7, 7])
    assert np.array_equal(np.flatnonzero(layout.repeated[: distinct.n_rows]), layout.chosen)
    for t in range(rows.n_rows):  # each row is byte for byte the CSR row of its distinct example
        source = layout.distinct_example[t]
        lo, hi = rows.indptr[t], rows.indptr[t + 1]
        a, b = distinct.indptr[source], distinct.indptr[source + 1]
        assert rows.indices[lo:hi].tobytes() == distinct.indices[a:b].tobytes()
        assert rows.values[lo:hi].tobytes() == distinct.values[a:b].tobytes()
    extra = np.diff(distinct.indptr)[layout.chosen].sum() * 6
    assert rows.nnz == distinct.nnz + extra and extra > 0


def test_distinct_examples_are_the_seeds_first_ones():
    config = SMALL.replace(dataset_size=60, repeated_points=2, repeats=5)
    plain = train_set(SMALL.replace(dataset_size=distinct_count(config)))
    rows = train_set(config)
    head = rows.take(np.arange(plain.n_rows))
    assert _digest(head) == _digest(plain)


def test_the_repeated_examples_are_the_first_with_an_active_feature():
    sparse = Config(n_features=20, sparsity=0.95, dataset_size=30, repeated_points=2, repeats=3)
    seed = next(s for s in range(100) if np.diff(distinct_set(sparse.replace(data_seed=s)).indptr)[0] == 0)
    config = sparse.replace(data_seed=seed)
    active = np.diff(distinct_set(config).indptr)
    assert np.array_equal(repeat_layout(config, distinct_set(config)).chosen, np.flatnonzero(active > 0)[:2])


def test_too_few_nonzero_examples_to_repeat_is_one_line_naming_the_field():
    config = Config(n_features=1, sparsity=0.99, dataset_size=20, repeated_points=5)
    active = int(np.sum(np.diff(distinct_set(config).indptr) > 0))
    assert active < 5
    with pytest.raises(ConfigError, match=f"^repeated_points must not exceed the {active} distinct examples with an active feature, got 5$"):
        train_set(config)


# --- measurements -------------------------------------------------------------------------------


def _brute_dimensionality(vectors: np.ndarray) -> np.ndarray:
    """D_i = ||v_i||^2 / sum_j (v_i_hat . v_j)^2 over all pairs, written out (zero rows get 0)."""
    out = np.zeros(len(vectors))
    for i, v in enumerate(vectors):
        norm = np.linalg.norm(v)
        if norm > 0:
            out[i] = norm**2 / sum((v / norm @ w) ** 2 for w in vectors)
    return out


def test_distinct_dimensionality_counts_each_example_once():
    rng = np.random.default_rng(0)
    distinct_hidden = rng.standard_normal((30, 3))
    distinct_hidden[4] = 0.0  # a zero vector gets 0
    distinct_hidden[:, 2] = 0.0
    distinct_hidden[2] = [0.0, 0.0, 2.0]  # a direction of its own: dimensionality 1 among the distinct
    chosen = np.array([2, 7])
    distinct_example = np.concatenate([np.arange(30), np.repeat(chosen, 9)])  # R = 10
    layout = RepeatLayout(distinct_example, np.isin(distinct_example, chosen), chosen, 10)
    hidden = distinct_hidden[distinct_example]  # (48, 3): the copies share their hidden vector
    dims = distinct_dimensionality(hidden, layout)
    np.testing.assert_allclose(dims, _brute_dimensionality(distinct_hidden), rtol=1e-12)
    assert dims[2] == pytest.approx(1.0, rel=1e-12) and dims[4] == 0.0
    # over all 48 rows its 10 copies split that one dimension: why memorization is judged without them
    assert fractional_dimensionality(hidden)[2] == pytest.approx(0.1, rel=1e-12)


def test_a_regular_pentagon_gets_its_two_fifths_however_often_a_vertex_repeats():
    angles = 2 * np.pi * np.arange(5) / 5
    pentagon = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    distinct_example = np.concatenate([np.arange(5), np.repeat([0], 99)])
    layout = RepeatLayout(distinct_example, distinct_example == 0, np.array([0]), 100)
    np.testing.assert_allclose(distinct_dimensionality(pentagon[distinct_example], layout), 0.4, rtol=1e-12)


def test_memorized_means_positive_and_in_the_top_tenth_of_a_percent():
    values = np.linspace(0.0, 1.0, 3_000)  # top 0.1% of 3,000: the 3 largest
    which = np.array([2_999, 2_998, 2_997, 2_996, 0])
    np.testing.assert_array_equal(in_top_fraction(values, which, MEMORIZED_TOP_FRACTION), [True, True, True, False, False])
    assert top_fraction_threshold(values, MEMORIZED_TOP_FRACTION) == values[2_997]
    values[[10, 20, 30]] = values[-1]  # ties with the largest fill the top places, all of them inside
    which = np.array([10, 20, 30, 2_999, 2_998])
    np.testing.assert_array_equal(in_top_fraction(values, which, MEMORIZED_TOP_FRACTION), [True, True, True, True, False])
    few = np.array([0.3, 0.1, 0.2])  # under 1,000 examples the bar is the largest one
    np.testing.assert_array_equal(in_top_fraction(few, np.array([0, 2]), MEMORIZED_TOP_FRACTION), [True, False])
    np.testing.assert_array_equal(in_top_fraction(np.zeros(5), np.array([0]), MEMORIZED_TOP_FRACTION), [False])


# --- end to end ---------------------------------------------------------------------------------

# 150 features, 300 rows, 200 steps at a high learning rate: enough for 20 copies to be fitted.
REPEATED = Config(n_features=150, sparsity=0.97, dataset_size=300, repeated_points=1, repeats=20, steps=200, lr=1e-2,
                  test_size=500, history_points=4)  # fmt: skip


@pytest.fixture(scope="module")
def saved_repeated_run(tmp_path_factory):
    result = toydd.train(REPEATED)
    return result, load_run(save_run(result, tmp_path_factory.mktemp("repeats") / "run"))


def test_a_saved_run_stores_every_copy(saved_repeated_run):
    result, stored = saved_repeated_run
    assert stored.train_set.n_rows == 300
    assert _digest(stored.train_set) == _digest(train_set(REPEATED))
    layout = repeat_layout(REPEATED, stored.train_set)  # recoverable from the stored rows alone
    rows = stored.train_set
    copies = [(rows.indices[rows.indptr[t] : rows.indptr[t + 1]].tobytes(), rows.values[rows.indptr[t] : rows.indptr[t + 1]].tobytes())
              for t in np.flatnonzero(layout.repeated)]  # fmt: skip
    assert len(copies) == 20 and len(set(copies)) == 1 and copies[0][0]


def test_the_examples_table_marks_the_repeated_examples(saved_repeated_run):
    result, stored = saved_repeated_run
    examples = stored.examples
    layout = repeat_layout(REPEATED, stored.train_set)
    assert examples["repeated"].dtype == bool and examples["repeated"].sum() == 20
    np.testing.assert_array_equal(examples["distinct_example"], layout.distinct_example)
    copies = examples[examples["repeated"]]
    for column in ("dimensionality", "norm", "loss", "distinct_dimensionality"):  # one hidden vector, one value
        assert copies[column].nunique() == 1, column
    np.testing.assert_allclose(examples["distinct_dimensionality"].to_numpy()[: layout.n_distinct],
                               fractional_dimensionality(hidden_vectors(stored.W, stored.train_set)[: layout.n_distinct]))  # fmt: skip


def test_metrics_record_the_repeated_point(saved_repeated_run):
    result, stored = saved_repeated_run
    metrics, examples = stored.metrics, stored.examples
    assert metrics == json.loads(json.dumps(result.metrics))
    point = metrics["repeated_point_example"][0]
    assert metrics["repeated_point_dimensionality"] == [examples["distinct_dimensionality"][point]]
    assert metrics["repeated_point_share"] == pytest.approx([20 * examples["dimensionality"][point] / 2], rel=1e-12)
    assert metrics["repeated_share"] == pytest.approx(sum(metrics["repeated_point_share"]))
    assert metrics["repeated_point_loss"] == [examples["loss"][point]] and metrics["repeated_loss_mean"] == examples["loss"][point]
    # 20 copies get fitted and memorized; the run without repeats leaves the same point alone
    assert metrics["repeated_point_memorized"] == [True] and metrics["repeated_memorized"] == 1
    assert metrics["repeated_dimensionality_max"] == metrics["distinct_dimensionality_threshold"] > 0
    assert metrics["repeated_loss_mean"] < 0.1
    once = toydd.train(REPEATED.replace(repeats=1)).metrics
    assert once["repeated_point_example"] == [point] and once["repeated_memorized"] == 0 and once["repeated_loss_mean"] > 0.5
    assert "features_learned" in metrics


def test_a_collapsed_model_memorizes_no_repeated_point(saved_repeated_run):
    # the same weights shrunk to nothing keep their scale-free dimensionalities, but pass nothing on
    _, stored = saved_repeated_run
    columns = {"dimensionality": stored.examples["dimensionality"].to_numpy(), "loss": stored.examples["loss"].to_numpy()}
    alive, _ = repeat_measurements(REPEATED, stored.W, stored.train_set, columns)
    dead, _ = repeat_measurements(REPEATED, stored.W * 1e-20, stored.train_set, columns)
    assert alive["repeated_memorized"] == 1 and dead["repeated_memorized"] == 0
    assert dead["repeated_point_dimensionality"] == pytest.approx(alive["repeated_point_dimensionality"])


def test_runs_without_repeats_have_no_repeat_measurements(tiny):
    result = toydd.train(tiny.replace(steps=20))
    assert not any(key.startswith("repeated") for key in result.metrics)
    assert "repeated" not in result.measurements.examples

