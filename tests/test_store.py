import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from toydd import ConfigError, CorruptRun, load_run, save_run, train, verify_run
from toydd._store import check_out, write_atomic
from toydd._sweep import is_complete


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
    with pytest.raises(ConfigError, match=f"^out {mine} is not a toydd run directory: overwrite=True replaces only those"):
        save_run(result, mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep"
    (mine / "config.json").write_text('{"config": {}}')  # a config.json that is not toydd's
    with pytest.raises(ConfigError, match="not a toydd run"):
        save_run(result, mine, overwrite=True)
    sweep = tmp_path / "sweep"
    (sweep / "runs").mkdir(parents=True)
    (sweep / "results.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match=f"^out {sweep} is a sweep directory: overwrite=True replaces only a run's directory"):
        save_run(result, sweep, overwrite=True)  # hours of runs: never replaced by one
    assert sorted(p.name for p in sweep.iterdir()) == ["results.parquet", "runs"]
    planned = tmp_path / "planned"  # a sweep that has not saved a run yet
    planned.mkdir()
    (planned / "plan.json").write_text("{}")
    with pytest.raises(ConfigError, match="is a sweep directory"):
        save_run(result, planned, overwrite=True)


def _reseal(path):
    """Rewrite the manifest to match the files as they are now: damage that the sha256 check alone
    would not catch (a manifest rewritten by hand or by another tool)."""
    files = {p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in sorted(path.iterdir()) if p.name != "manifest.json"}
    (path / "manifest.json").write_text(json.dumps({"format": 1, "files": files}))


@pytest.mark.parametrize("files", [["config.json"], {"config.json": "abc"}, {"config.json": {"bytes": 1}}, {"../../etc/hostname": {"bytes": 1, "sha256": "0"}}])
def test_malformed_manifest_is_one_corrupt_run(saved, files):
    _, path = saved
    manifest = path / "manifest.json"
    manifest.write_text(json.dumps({"format": 1, "files": files}))
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(manifest))}: "):
        load_run(path)


@pytest.mark.parametrize("dropped", ["config.json", "model.safetensors", "metrics.json", "history.parquet", "features.parquet", "train_set.safetensors", "examples.parquet", "snapshots.safetensors"])
def test_manifest_must_list_every_file_of_the_run(saved, dropped):
    """A manifest that lists nothing, or not a file this run must have (a finite training set's
    set and examples, snapshots = true's snapshots), is an incomplete run that a sweep retrains."""
    _, path = saved
    (path / dropped).unlink()
    _reseal(path)
    with pytest.raises(CorruptRun, match=f"does not list {dropped}"):
        verify_run(path)
    (path / "manifest.json").write_text('{"format": 1, "files": {}}')
    with pytest.raises(CorruptRun, match="does not list config.json"):
        verify_run(path)


def test_is_complete_retrains_an_empty_manifest(saved, tmp_path):
    result, path = saved
    out = tmp_path / "sweep"
    stored = out / "runs" / result.config.run_id()
    stored.mkdir(parents=True)
    (stored / "manifest.json").write_text('{"format": 1, "files": {}}')
    assert not is_complete(out, result.config.run_id())
    shutil.rmtree(stored)
    shutil.copytree(path, stored)
    assert is_complete(out, result.config.run_id())


def _replace_model(path, tensors, run_id):
    save_file(tensors, path / "model.safetensors", metadata={"run_id": run_id})
    _reseal(path)


@pytest.mark.parametrize("damage", ["no_W", "no_b", "shape", "other_run"])
def test_a_model_without_its_tensors_is_named(saved, damage):
    result, path = saved
    W, b, run_id = result.W, result.b, result.config.run_id()
    tensors = {
        "no_W": {"b": b}, "no_b": {"W": W}, "shape": {"W": W[:1], "b": b}, "other_run": {"W": W, "b": b},
    }[damage]  # fmt: skip
    _replace_model(path, tensors, "0123456789abcdef" if damage == "other_run" else run_id)
    expected = {"no_W": "no tensor W", "no_b": "no tensor b", "shape": r"W \(1, 200\)", "other_run": "written for run 0123456789abcdef"}[damage]
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(path / 'model.safetensors'))}: {expected}"):
        load_run(path)


def _edit_config(path, edit):
    header = json.loads((path / "config.json").read_text())
    edit(header)
    (path / "config.json").write_text(json.dumps(header))
    _reseal(path)


@pytest.mark.parametrize("field", ["n_features", "n_hidden", "history_points", "lr"])
def test_a_config_field_removed_is_not_defaulted(saved, field):
    """Without the check, show reported the default n_features 10000 for a 200-feature model."""
    _, path = saved
    _edit_config(path, lambda header: header["config"].pop(field))
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(path / 'config.json'))}: the config has no {field}"):
        load_run(path)


@pytest.mark.parametrize("edit", ["value", "run_id", "run_id_list"])
def test_a_config_that_is_not_its_runs_is_corrupt(saved, edit):
    _, path = saved
    if edit == "value":
        _edit_config(path, lambda header: header["config"].update(init_seed=7))
    elif edit == "run_id":
        _edit_config(path, lambda header: header.update(run_id="0123456789abcdef"))
    else:
        _edit_config(path, lambda header: header.update(run_id=[1]))
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(path / 'config.json'))}: "):
        load_run(path)


def test_a_config_from_before_later_keys_still_loads(saved):
    """Keys added after run ids were in use may be absent from older runs: at their defaults they
    hash as before (Config.run_id), so such a run loads."""
    result, path = saved
    later = ("repeated_points", "repeats", "restart_rule", "lr_schedule", "gradient_chunks", "matmul_precision")
    _edit_config(path, lambda header: [header["config"].pop(key) for key in later])
    assert load_run(path).config == result.config


def test_metrics_must_be_a_json_object(saved):
    _, path = saved
    (path / "metrics.json").write_text("[1, 2]")
    _reseal(path)
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(path / 'metrics.json'))}: .*not an object"):
        load_run(path)


def _strict_loads(text: str):
    """json.loads as RFC 8259 reads it: the bare words NaN and Infinity are errors."""
    return json.loads(text, parse_constant=lambda word: pytest.fail(f"not strict JSON: {word}"))


def test_metrics_are_strict_json_with_null_for_nan_and_read_back_as_nan(tiny, tmp_path):
    from toydd import INF
    from toydd._sweep import result_row

    result = train(tiny.replace(dataset_size=INF, batch_size=64, steps=20))
    assert np.isnan(result.metrics["data_dimensionality_sum"])  # infinite data: no training set to measure
    path = save_run(result, tmp_path / "run")
    written = _strict_loads((path / "metrics.json").read_text())
    assert written["data_dimensionality_sum"] is None and written["test_loss"] == result.metrics["test_loss"]
    for metrics in (load_run(path).metrics, result_row(path)):
        assert np.isnan(metrics["data_dimensionality_sum"]) and metrics["test_loss"] == result.metrics["test_loss"]


def test_a_run_written_with_bare_nan_still_loads(saved):
    _, path = saved
    metrics = json.loads((path / "metrics.json").read_text())
    metrics["test_loss_sem"] = float("nan")
    (path / "metrics.json").write_text(json.dumps(metrics))  # as toydd wrote metrics before strict JSON
    _reseal(path)
    assert "NaN" in (path / "metrics.json").read_text() and np.isnan(load_run(path).metrics["test_loss_sem"])


def test_out_inside_a_file_is_refused_before_training(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("keep")
    for out in (afile / "run", afile / "deeper" / "run"):
        with pytest.raises(ConfigError, match=f"^{re.escape(f'out {out}: {afile} is not a directory')}$"):
            check_out(out)
    assert afile.read_text() == "keep"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_out_where_nothing_can_be_created_is_refused():
    """/proc refuses new directories even to root, for whom os.access says yes."""
    with pytest.raises(ConfigError, match="^out /proc/toydd-run: cannot create a directory in /proc"):
        check_out("/proc/toydd-run")


def test_errors_name_save_runs_arguments_from_python_and_the_options_from_the_command(saved, tmp_path):
    result, _ = saved
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match=f"^out {taken} exists and is not empty \\(use overwrite=True to replace it\\)$"):
        save_run(result, taken)
    shown = subprocess.run([sys.executable, "-m", "toydd", "train", "--n-features", "20", "--steps", "1", "--out", str(taken)], capture_output=True, text=True)
    assert shown.returncode == 2 and shown.stderr == f"error: --out {taken} exists and is not empty (use --overwrite to replace it)\n"


def test_check_out_leaves_nothing_behind(tmp_path):
    out = check_out(tmp_path / "new" / "run")
    assert [p.name for p in tmp_path.iterdir()] == ["new"] and list((tmp_path / "new").iterdir()) == []
    assert out == tmp_path / "new" / "run"


def test_atomic_write_onto_a_directory_names_the_target(tmp_path):
    target = tmp_path / "report.html"
    target.mkdir()
    with pytest.raises(IsADirectoryError) as error:
        write_atomic(target, b"page")
    assert error.value.filename == str(target) and ".tmp-" not in str(error.value)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no scratch file left


def test_copy_run_is_verified_as_the_planned_run_and_leaves_a_complete_one_standing(saved, tmp_path):
    from toydd._store import copy_run

    _, saved = saved
    run_id = load_run(saved).run_id
    target = tmp_path / "sweep" / "runs" / run_id
    target.parent.mkdir(parents=True)
    copy_run(saved, target, run_id)
    verify_run(target, run_id)
    before = {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    copy_run(saved, target, run_id)  # complete already (another process got there first): it stands
    assert before == {p.name: p.stat().st_mtime_ns for p in target.iterdir()}
    with pytest.raises(CorruptRun, match=f"^{re.escape(str(saved))}: changed while being copied"):
        copy_run(saved, tmp_path / "sweep" / "runs" / "0123456789abcdef", "0123456789abcdef")
    assert sorted(p.name for p in target.parent.iterdir()) == [run_id]  # no scratch copy left


def test_every_file_of_a_run_is_readable_as_the_umask_allows(saved, tmp_path):
    """Run directories on shared storage (a cluster's sweep): the tensors too, not only the JSON
    (safetensors' own writer made them 0600 whatever the umask)."""
    import os
    import stat

    result, _ = saved
    mask = os.umask(0o022)  # a group's shared storage
    try:
        path = save_run(result, tmp_path / "shared")
    finally:
        os.umask(mask)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in path.iterdir()}
    assert "model.safetensors" in modes and "snapshots.safetensors" in modes
    assert all(mode == 0o644 for mode in modes.values()), modes
