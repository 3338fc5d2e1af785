import json

import numpy as np
import pytest
from safetensors.numpy import load_file

from toydd import ConfigError, CorruptRun, load_run, save_run, train, verify_run


@pytest.fixture
def saved(tiny, tmp_path):
    result = train(tiny.replace(snapshots=True))
    return result, save_run(result, tmp_path / "run")


def test_run_directory_layout_and_round_trip(saved):
    result, path = saved
    names = {p.name for p in path.iterdir()}
    assert names == {
        "config.json", "model.safetensors", "train_set.safetensors", "metrics.json", "history.parquet",
        "features.parquet", "examples.parquet", "snapshots.safetensors", "manifest.json",
    }  # fmt: skip
    model = load_file(path / "model.safetensors")
    assert model["W"].dtype == np.float32 and model["W"].shape == (2, 200) and model["b"].shape == (200,)
    data = load_file(path / "train_set.safetensors")
    assert data["indptr"].dtype == np.int64 and data["indptr"].shape == (21,) and data["values"].dtype == np.float32
    header = json.loads((path / "config.json").read_text())
    assert header["run_id"] == result.config.run_id() and header["toydd_version"]
    run = load_run(path)
    assert run.config == result.config
    np.testing.assert_array_equal(run.W, result.W)
    assert run.metrics["test_loss"] == result.metrics["test_loss"]
    assert list(run.history["step"]) == list(result.history["step"])
    assert len(run.features) == 200 and len(run.examples) == 20
    steps, W, b = run.snapshots()
    assert W.shape == (len(steps), 2, 200)
    np.testing.assert_array_equal(W[-1], result.W)


def test_no_leftovers_and_refuses_to_overwrite(saved, tmp_path):
    result, path = saved
    assert [p.name for p in tmp_path.iterdir()] == ["run"]
    with pytest.raises(ConfigError, match="not empty"):
        save_run(result, path)
    save_run(result, path, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    load_run(path)


@pytest.mark.parametrize("damage", ["truncate_model", "edit_metrics", "drop_manifest", "delete_history"])
def test_corruption_is_detected_and_named(saved, damage):
    _, path = saved
    if damage == "truncate_model":
        target = path / "model.safetensors"
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "edit_metrics":
        target = path / "metrics.json"
        target.write_text(target.read_text().replace('"test_loss": ', '"test_loss": 1'))
    elif damage == "drop_manifest":
        target = path / "manifest.json"
        target.unlink()
    else:
        target = path / "history.parquet"
        target.unlink()
    with pytest.raises(CorruptRun, match=target.name):
        verify_run(path)


def test_overwrite_replaces_only_what_toydd_wrote(saved, tmp_path):
    result, _ = saved
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match=f"--out {mine} is not a toydd run or sweep directory"):
        save_run(result, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep"
    (mine / "config.json").write_text('{"config": {}}')  # a config.json that is not toydd's
    with pytest.raises(ConfigError, match="not a toydd run"):
        save_run(result, mine, overwrite=True)
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "results.parquet").write_bytes(b"PAR1")
    save_run(result, sweep, overwrite=True)  # a sweep directory is toydd's to replace
    load_run(sweep)
