from dataclasses import fields

import pytest

from toydd import Config, ConfigError
from toydd._config import CHOICES, FIELD_HELP, MAX_RESTARTS, SETTING_FIELDS, is_default, parse_dataset_size


def test_defaults_are_the_papers():
    c = Config()
    assert (c.n_features, c.sparsity, c.n_hidden, c.steps, c.lr, c.weight_decay) == (10_000, 0.999, 2, 50_000, 1e-3, 1e-2)
    assert c.warmup_steps == 2_500 and (c.beta1, c.beta2, c.eps) == (0.9, 0.999, 1e-8)
    assert c.init == "xavier_normal" and c.feature_reduction == "sum" and c.decay_bias


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"sparsity": 1.0}, "sparsity"), ({"sparsity": -0.1}, "sparsity"), ({"n_hidden": 0}, "n_hidden"),
        ({"dataset_size": 0}, "dataset_size"), ({"dataset_size": "many"}, "dataset_size"), ({"steps": 0}, "steps"),
        ({"lr": -1.0}, "lr"), ({"init": "he"}, "init"), ({"steps": 1.5}, "steps"), ({"decay_bias": 1}, "decay_bias"),
        ({"lr": float("nan")}, "lr"), ({"restarts": 0}, "restarts"), ({"engine": "jax"}, "engine"),
    ],
)  # fmt: skip
def test_bad_values_name_the_field(changes, field):
    with pytest.raises(ConfigError, match=field):
        Config.from_dict(changes)


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(ConfigError, match="unknown config key 'n_hiden' .did you mean 'n_hidden'"):
        Config.from_dict({"n_hiden": 3})


def test_run_id_is_stable_and_ignores_execution_settings():
    assert Config().run_id() == Config().run_id()
    assert Config().run_id() == Config(threads=1, history_points=3).run_id()
    assert Config().run_id() != Config(data_seed=1).run_id()


def test_parse_dataset_size():
    assert parse_dataset_size("inf") == "inf" and parse_dataset_size("1e4") == 10_000 and parse_dataset_size("500_000") == 500_000
    with pytest.raises(ConfigError, match="dataset_size"):
        parse_dataset_size("2.5")


def test_equal_values_have_one_spelling_and_one_run_id():
    import numpy as np

    assert Config(weight_decay=0).weight_decay == 0.0 and isinstance(Config(weight_decay=0).weight_decay, float)
    assert Config(weight_decay=0).run_id() == Config(weight_decay=0.0).run_id()
    assert Config(dataset_size=float("inf")).dataset_size == "inf"  # TOML's bare inf
    assert Config(n_hidden=np.int64(3)).n_hidden == 3
    assert Config(engine="torch").run_id() == Config(engine="cpu").run_id()  # how, not what
    assert Config(batch_size=7).run_id() == Config().run_id()  # unused for finite T
    assert Config(dataset_size="inf", batch_size=7).run_id() != Config(dataset_size="inf").run_id()


@pytest.mark.parametrize("field", ["data_seed", "test_seed", "init_seed"])
@pytest.mark.parametrize("value", [2**63, 2**64 + 5, -1])
def test_seeds_outside_63_bits_are_one_line_errors(field, value):
    with pytest.raises(ConfigError, match=rf"^{field} must be in \[0, 2\^63\), got {value}$"):
        Config(**{field: value})
    assert Config(**{field: 2**63 - 1}).run_id()


@pytest.mark.parametrize("field", ["n_features", "dataset_size", "test_size", "n_hidden", "steps", "history_points", "batch_size"])
def test_integers_beyond_63_bits_are_one_line_errors(field):
    """Every integer becomes an int64 in the compiled code: larger ones failed deep inside numba."""
    with pytest.raises(ConfigError, match=rf"^{field} must be below 2\^63, got {2**64}$"):
        Config(**{field: 2**64})


def test_restarts_are_bounded_where_drawing_the_inits_would_hang():
    assert Config(restarts=MAX_RESTARTS).restarts == MAX_RESTARTS
    with pytest.raises(ConfigError, match=rf"^restarts must be in \[1, 1,000,000\], got {MAX_RESTARTS + 1}$"):
        Config(restarts=MAX_RESTARTS + 1)


def test_restarts_must_not_push_the_init_seed_past_63_bits():
    with pytest.raises(ConfigError, match="init_seed \\+ restarts - 1"):
        Config(init_seed=2**63 - 1, restarts=2)


def test_restart_rule_is_one_of_two_and_named_in_its_error():
    assert Config().restart_rule == "lowest_loss" and Config(restart_rule="regular").restart_rule == "regular"
    with pytest.raises(ConfigError, match=r"^restart_rule must be one of lowest_loss, regular; got 'best'$"):
        Config(restart_rule="best")
    with pytest.raises(ConfigError, match=r"^restart_rule must be a string, got 1$"):
        Config.from_dict({"restart_rule": 1})
    assert "restart_rule" in FIELD_HELP and CHOICES["restart_rule"] == ("lowest_loss", "regular")


def test_restart_rule_enters_the_run_id_only_where_it_can_change_the_kept_model():
    several = Config(n_features=1_000, sparsity=0.99, dataset_size=5, restarts=4)
    # the id this config had before restart_rule existed: stored runs stay valid
    assert several.run_id() == "6f5b276ed0fb9f2d"
    assert several.replace(restart_rule="regular").run_id() != several.run_id()
    assert Config(restart_rule="regular").run_id() == Config().run_id()  # one restart: nothing to choose
    infinite = several.replace(dataset_size="inf")
    assert infinite.replace(restart_rule="regular").run_id() == infinite.run_id()  # no polygon to judge


def test_restart_rule_is_not_a_per_model_field():
    from toydd._train import PER_MODEL_FIELDS, stack_key

    assert "restart_rule" not in PER_MODEL_FIELDS
    assert stack_key(Config(restarts=2, restart_rule="regular")) != stack_key(Config(restarts=2))


# --- issue 9's recipe keys ---------------------------------------------------------------------


def test_recipe_keys_default_to_todays_behaviour():
    c = Config()
    assert (c.lr_schedule, c.gradient_chunks, c.matmul_precision) == ("half_cosine", 1, "float32")
    assert c.training_scale == c.feature_scale == 1.0 and c.mantissa_bits == 23
    assert Config(matmul_precision="tf32").mantissa_bits == 10 and Config(matmul_precision="bfloat16").mantissa_bits == 7
    assert Config(gradient_chunks=4, feature_reduction="mean", n_features=100).training_scale == pytest.approx(0.04)


def test_recipe_keys_enter_the_run_id_only_away_from_their_defaults():
    # the id of the default config, as computed before these keys existed: existing runs keep theirs
    assert Config().run_id() == "e0ceb7c6ab64944f"
    explicit = Config(lr_schedule="half_cosine", gradient_chunks=1, matmul_precision="float32")
    assert explicit.run_id() == Config().run_id()
    ids = {Config(**change).run_id() for change in ({"lr_schedule": "quarter_cosine"}, {"gradient_chunks": 2}, {"matmul_precision": "tf32"}, {"matmul_precision": "bfloat16"})}
    assert len(ids) == 4 and Config().run_id() not in ids


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"lr_schedule": "linear"}, r"^lr_schedule must be one of half_cosine, quarter_cosine; got 'linear'$"),
        ({"matmul_precision": "float16"}, r"^matmul_precision must be one of float32, tf32, bfloat16; got 'float16'$"),
        ({"gradient_chunks": 0}, r"^gradient_chunks must be >= 1, got 0$"),
        ({"gradient_chunks": 2.0}, r"^gradient_chunks must be an integer"),
        ({"gradient_chunks": 6, "dataset_size": 5}, r"^gradient_chunks must not exceed the examples per step \(5\), got 6$"),
        ({"matmul_precision": "tf32", "engine": "tree"}, r"^matmul_precision = \"tf32\" is not supported by engine = \"tree\""),
        ({"matmul_precision": "bfloat16", "dtype": "float64"}, r"^matmul_precision = \"bfloat16\" needs dtype = \"float32\""),
    ],
)  # fmt: skip
def test_recipe_keys_are_validated_in_one_line(changes, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_dict(changes)


def test_recipe_keys_have_help_and_choices():
    for name in ("lr_schedule", "gradient_chunks", "matmul_precision"):
        assert name in FIELD_HELP
    assert CHOICES["matmul_precision"] == ("float32", "tf32", "bfloat16")


def test_numpy_scalars_are_taken_as_their_python_values():
    """A config built from numpy arithmetic (np.float32 learning rates, np.bool_ flags) is the
    same config, with the same run id, as one built from Python numbers."""
    import numpy as np

    from_numpy = Config(lr=np.float32(1e-3), sparsity=np.float64(0.99), normalize=np.bool_(True), n_hidden=np.int64(3))
    assert from_numpy == Config(lr=1e-3, sparsity=0.99, normalize=True, n_hidden=3)
    assert from_numpy.run_id() == Config(lr=1e-3, sparsity=0.99, normalize=True, n_hidden=3).run_id()


def test_dataset_size_number_is_the_results_tables_t():
    assert Config(dataset_size=100).dataset_size_number == 100.0 and isinstance(Config(dataset_size=100).dataset_size_number, float)
    assert Config(dataset_size="inf").dataset_size_number == float("inf")


def test_is_default_reads_results_cells_against_the_config_defaults():
    """A results table's cells as Parquet returns them: numbers (a float of an int field, a float one
    rounding step off) compare to a relative 1e-12, strings and bools exactly."""
    defaults = Config()
    assert is_default("steps", float(defaults.steps)) and not is_default("steps", 5_000.0)
    assert is_default("weight_decay", defaults.weight_decay * (1 + 1e-15)) and not is_default("weight_decay", defaults.weight_decay * 1.001)
    assert is_default("init", defaults.init) and not is_default("init", defaults.init + "x")
    assert is_default("normalize", defaults.normalize) and not is_default("normalize", not defaults.normalize)


def test_every_field_is_a_setting_or_named_as_not_one():
    """A new Config field has to be placed: a setting (runs that differ in it are never one series or
    one comparison) or one of these, which say which run of a setting it is or how it is computed."""
    not_settings = {"dataset_size", "data_seed", "test_seed", "init_seed", "restarts", "engine", "device", "threads", "history_points", "snapshots"}
    names = [f.name for f in fields(Config)]
    assert len(set(SETTING_FIELDS)) == len(SETTING_FIELDS) and not set(SETTING_FIELDS) & not_settings
    assert set(SETTING_FIELDS) | not_settings == set(names)
