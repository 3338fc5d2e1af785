"""The cpu engine against the torch engine (autograd + torch.optim.AdamW), and against itself."""

import subprocess
import sys

import numba
import numpy as np
import pytest

from toydd import Config, init_weights, train, train_set
from toydd._engine_cpu import CpuEngine
from toydd._engine_torch import TorchEngine
from toydd._engines import StackJob, history_steps


def job_for(cfg: Config, seeds=(0,), lrs=None, decays=None) -> StackJob:
    dtype = np.float64 if cfg.dtype == "float64" else np.float32
    inits = [init_weights(cfg.replace(init_seed=s), dtype) for s in seeds]
    K = len(seeds)
    return StackJob(
        config=cfg,
        train_set=train_set(cfg),
        init_W=np.stack([w for w, _ in inits]),
        init_b=np.stack([b for _, b in inits]),
        lrs=np.full(K, cfg.lr) if lrs is None else np.asarray(lrs),
        weight_decays=np.full(K, cfg.weight_decay) if decays is None else np.asarray(decays),
        history_steps=history_steps(cfg.steps, cfg.history_points),
    )


CASES = {
    "paper defaults": {},
    "three hidden, mean over features, no bias decay": {"n_hidden": 3, "feature_reduction": "mean", "decay_bias": False},
    "large T, chunked": {"dataset_size": 1100, "n_features": 60},
    "infinite data": {"dataset_size": "inf", "batch_size": 30},
    "uniform init, strong decay": {"init": "xavier_uniform", "weight_decay": 0.5},
}
# m = 2 and 3 only: each (m, dtype) compiles the training loop anew (about a minute), and the kernels
# themselves are checked at m = 1 to 13 (test_kernels)


@pytest.mark.parametrize("changes", CASES.values(), ids=CASES.keys())
def test_cpu_engine_follows_torch_in_float64(tiny, changes):
    cfg = tiny.replace(dtype="float64", steps=150, lr=3e-3, **changes)
    cpu = CpuEngine().train(job_for(cfg))
    ref = TorchEngine("cpu").train(job_for(cfg))
    np.testing.assert_allclose(cpu.W, ref.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cpu.b, ref.b, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(cpu.history_W, ref.history_W, rtol=1e-7, atol=1e-9)


def test_cpu_engine_follows_torch_in_float32(tiny):
    from toydd._metrics import example_losses

    cfg = tiny.replace(steps=300, lr=3e-3)
    job = job_for(cfg, seeds=(0, 1))
    cpu, ref = CpuEngine().train(job), TorchEngine("cpu").train(job)
    for k in range(2):
        ours = example_losses(cpu.W[k], cpu.b[k], job.train_set, 1.0)[0].mean()
        theirs = example_losses(ref.W[k], ref.b[k], job.train_set, 1.0)[0].mean()
        assert abs(ours - theirs) < 1e-4 * max(1.0, abs(theirs))
    assert np.abs(cpu.W - ref.W).max() < 1e-3


def test_training_reduces_the_loss(tiny):
    from toydd._metrics import example_losses

    job = job_for(tiny.replace(lr=1e-2))
    out = CpuEngine().train(job)
    before = example_losses(job.init_W[0], job.init_b[0], job.train_set, 1.0)[0].mean()
    after = example_losses(out.W[0], out.b[0], job.train_set, 1.0)[0].mean()
    assert after < 0.7 * before  # 20 points in 2 dimensions: far below the start, not to 0


def two_threads() -> int:
    """2, or skip the calling test: comparing thread counts needs numba to have two threads."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip(f"numba has {numba.config.NUMBA_NUM_THREADS} thread on this machine: a 2-thread run would silently use 1")
    return 2


def train_recording_loss(job: StackJob):
    """The outcome and each model's training loss (K,) at the last step, as the engine computed it."""
    reports = []
    out = CpuEngine().train(job, progress=lambda done, last_loss: reports.append((done, last_loss.copy())))
    done, last_loss = reports[-1]
    assert done == 1.0
    return out, last_loss


@pytest.mark.parametrize("T", [20, 1500])
def test_stack_equals_each_model_alone_bit_for_bit(tiny, T):
    cfg = tiny.replace(dataset_size=T, threads=two_threads(), steps=120)
    seeds, lrs, decays = (3, 4, 5), (1e-3, 3e-3, 1e-2), (0.0, 1e-2, 0.3)
    stacked, stacked_loss = train_recording_loss(job_for(cfg, seeds, lrs, decays))
    assert numba.get_num_threads() == 2
    for k, (seed, lr, decay) in enumerate(zip(seeds, lrs, decays)):
        alone, alone_loss = train_recording_loss(job_for(cfg.replace(threads=1), (seed,), (lr,), (decay,)))
        np.testing.assert_array_equal(stacked.W[k], alone.W[0])
        np.testing.assert_array_equal(stacked.b[k], alone.b[0])
        np.testing.assert_array_equal(stacked.history_W[k], alone.history_W[0])
        assert stacked_loss[k] == alone_loss[0]


def test_same_weights_for_any_thread_count(tiny):
    # 4,096 examples: 16 chunks, shared between the threads
    cfg = tiny.replace(dataset_size=4096, steps=50)
    one, _ = train_recording_loss(job_for(cfg.replace(threads=1)))
    two, _ = train_recording_loss(job_for(cfg.replace(threads=two_threads())))
    assert numba.get_num_threads() == 2
    np.testing.assert_array_equal(one.W, two.W)
    np.testing.assert_array_equal(one.b, two.b)


def test_same_losses_for_any_thread_count(tiny):
    # a last-bit difference shows in about half of all losses: compare the final losses of 12 runs
    cfg = tiny.replace(dataset_size=4096)
    threads = two_threads()
    one = [train_recording_loss(job_for(cfg.replace(steps=steps, threads=1)))[1] for steps in range(1, 13)]
    two = [train_recording_loss(job_for(cfg.replace(steps=steps, threads=threads)))[1] for steps in range(1, 13)]
    assert numba.get_num_threads() == 2
    np.testing.assert_array_equal(one, two)


def test_history_records_weights_at_the_requested_steps(tiny):
    cfg = tiny.replace(steps=40, history_points=5)
    job = job_for(cfg)
    out = CpuEngine().train(job)
    assert len(job.history_steps) >= 3 and job.history_steps[0] == 0 and job.history_steps[-1] == 40
    np.testing.assert_array_equal(out.history_W[0, 0], job.init_W[0])
    np.testing.assert_array_equal(out.history_W[0, -1], out.W[0])
    # every slot in between: the weights of the same run stopped at that step
    for slot, step in enumerate(job.history_steps[1:-1], start=1):
        stopped = train_in_pieces(cfg, job.train_set, job.history_steps, [0, int(step)])
        np.testing.assert_array_equal(out.history_W[0, slot], stopped.W)
        np.testing.assert_array_equal(out.history_b[0, slot], stopped.b)


def test_training_in_segments_equals_one_call(tiny):
    """The engine runs steps in segments between progress updates; the cut must not show."""
    cfg = tiny.replace(steps=60)
    job = job_for(cfg)
    results = []
    for cuts in ([0, 60], [0, 7, 31, 60]):
        model = train_in_pieces(cfg, job.train_set, job.history_steps, cuts)
        results.append((model.W, model.history_W))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_divergence_is_reported_with_its_step(tiny):
    cfg = tiny.replace(lr=1e30, warmup_fraction=0.0)
    for engine in (CpuEngine(), TorchEngine("cpu")):
        out = engine.train(job_for(cfg))
        assert 0 < out.nan_step[0] < 10
        assert np.all(np.isfinite(out.W))


def test_history_steps_are_log_spaced():
    steps = history_steps(50_000, 30)
    assert steps[0] == 0 and steps[-1] == 50_000 and np.all(np.diff(steps) > 0)
    assert 20 <= len(steps) <= 30 and steps[5] < 10
    assert list(history_steps(10, 1)) == [10] and len(history_steps(10, 0)) == 0


def test_torch_engine_accumulates_gradients_over_chunks(tiny, monkeypatch):
    from toydd import _engine_torch

    cfg = tiny.replace(dtype="float64", steps=60, lr=3e-3)
    job = job_for(cfg)
    whole = TorchEngine("cpu").train(job)
    monkeypatch.setattr(_engine_torch, "CHUNK_ELEMENTS", 7 * cfg.n_features)  # 20 examples: chunks of 7, 7, 6
    assert len(TorchEngine("cpu")._dense_chunks(job.train_set, torch_dtype("float64"))) == 3
    chunked = TorchEngine("cpu").train(job)
    cpu = CpuEngine().train(job)
    for out in (chunked, cpu):
        np.testing.assert_allclose(out.W, whole.W, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(out.b, whole.b, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("changes", [{}, {"dataset_size": "inf", "batch_size": 30}], ids=["fixed training set", "infinite data"])
def test_torch_engine_keeps_large_sets_sparse_on_the_device(tiny, monkeypatch, changes):
    from toydd import _engine_torch

    cfg = tiny.replace(dtype="float64", steps=60, lr=3e-3, **changes)
    job = job_for(cfg)
    monkeypatch.setattr(_engine_torch, "CHUNK_ELEMENTS", 7 * cfg.n_features)
    dense = TorchEngine("cpu").train(job)
    monkeypatch.setattr(_engine_torch, "KEEP_DENSE", 10 * cfg.n_features)  # below any set of 20 or 30 examples
    rows = job.train_set if job.train_set is not None else train_set(cfg.replace(dataset_size=30))
    chunk = TorchEngine("cpu")._dense_chunks(rows, torch_dtype("float64"))[0]
    assert chunk() is not chunk()  # made dense anew at each use: the set itself stays CSR
    sparse = TorchEngine("cpu").train(job)
    np.testing.assert_array_equal(sparse.W, dense.W)  # the same chunks, the same arithmetic
    np.testing.assert_array_equal(sparse.b, dense.b)
    cpu = CpuEngine().train(job)
    np.testing.assert_allclose(sparse.W, cpu.W, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(sparse.b, cpu.b, rtol=1e-7, atol=1e-9)


def torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def train_in_pieces(cfg, rows, history_steps, cuts, tree=False):
    """Call the compiled loop directly over [cuts[0], cuts[1]), [cuts[1], cuts[2]), ...; returns
    the ModelState it trained (m = 2)."""
    from toydd._engine_cpu import ModelState, Recipe, TrainData, train_loop
    from toydd._kernels import FLOAT32_MANTISSA_BITS, HALF_COSINE
    from toydd._tree import N_STATS
    from toydd._train import init_weights

    W, b = init_weights(cfg)
    n, P = cfg.n_features, len(history_steps)
    model = ModelState(
        W, b, np.zeros((4, 3 * n), W.dtype), np.zeros((P, 2, n), W.dtype), np.zeros((P, n), W.dtype),
        np.zeros(rows.n_rows if tree else 0, np.int64), np.zeros(N_STATS, np.int64),
    )  # fmt: skip
    data = TrainData(rows.indptr, rows.indices, rows.values, False, 1, 1.0 - cfg.sparsity, True, cfg.data_seed)
    recipe = Recipe(cfg.steps, cfg.warmup_steps, True, 0.9, 0.999, 1e-8, 1.0, HALF_COSINE, FLOAT32_MANTISSA_BITS)
    for first, stop in zip(cuts[:-1], cuts[1:]):
        train_loop(False, (0, 0), model, data, recipe, cfg.lr, cfg.weight_decay, history_steps, first, stop)
    return model


# --- issue 9's recipe keys: gradient_chunks, matmul_precision, lr_schedule on every engine --------


def one_step_reference(cfg: Config, chunks: int):
    """(W, b) after one AdamW step of float64 autograd on the loss of `chunks` equal chunks of the
    training set, each averaged over its examples, added up (how one replication computes it),
    with lr = cfg.lr (no warmup) and no decay: W1 = W0 - lr g / (|g| + eps), AdamW's first step."""
    import torch

    from toydd._engine_torch import loss_of

    W0, b0 = init_weights(cfg, np.float64)
    W = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    X = torch.tensor(train_set(cfg).to_dense(), dtype=torch.float64)
    total = sum(loss_of(W, b, part) / len(part) for part in torch.chunk(X, chunks))
    total.backward()
    step = [(p.detach() - cfg.lr * p.grad / (p.grad.abs() + cfg.eps)).numpy() for p in (W, b)]
    return step[0], step[1]


@pytest.mark.parametrize("engine", ["cpu", "tree", "torch"])
def test_gradient_chunks_equal_chunk_averaged_autograd(tiny, engine):
    # eps near the gradient's size: AdamW's first step then depends on the gradient's scale
    cfg = tiny.replace(dataset_size=200, steps=1, warmup_fraction=0.0, weight_decay=0.0, lr=1e-2, eps=1e-3,
                       gradient_chunks=4, history_points=0, engine=engine, device="cpu" if engine == "torch" else "auto")  # fmt: skip
    result = train(cfg)
    W1, b1 = one_step_reference(cfg, chunks=4)
    np.testing.assert_allclose(result.W, W1, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(result.b, b1, rtol=1e-5, atol=1e-7)
    W_mean, _ = one_step_reference(cfg, chunks=1)
    assert np.abs(W_mean - W1).max() > 100 * np.abs(result.W - W1).max()  # the test tells the scales apart


def test_auto_never_picks_the_tree_for_rounded_products():
    from toydd._engines import auto_engine

    large = Config(n_features=10_000, sparsity=0.999, dataset_size=20_000, n_hidden=2, device="cpu")  # the CPU's rule, CUDA or not
    assert auto_engine(large) == "tree"
    assert auto_engine(large.replace(matmul_precision="tf32")) == "cpu"


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.mark.parametrize("precision", ["tf32", "bfloat16"])
def test_rounded_products_agree_between_engines_and_stay_close_to_float32(tiny, precision):
    cfg = tiny.replace(dataset_size=300, steps=200, lr=3e-3, history_points=0, matmul_precision=precision)
    job = job_for(cfg)
    exact = CpuEngine().train(job_for(cfg.replace(matmul_precision="float32")))
    cpu = CpuEngine().train(job)
    ref = TorchEngine("cpu").train(job)
    from toydd._metrics import example_losses

    scale = np.abs(exact.W).max()
    # agree: the same roundings, summed in another order (a near-tie of h may round either way)
    assert np.abs(cpu.W - ref.W).max() < {"tf32": 1e-3, "bfloat16": 2e-2}[precision] * scale
    # differ from float32 products, but stay close: in the loss, and in most weights (Adam's
    # steps of size lr amplify the rounding where a weight's gradient is near zero: measured up
    # to 8% of the largest weight after 200 steps, with a median of 0.2%)
    difference = np.abs(cpu.W - exact.W)
    assert difference.max() > 1e-4 * scale and np.median(difference) < 1e-2 * scale
    loss, exact_loss = (example_losses(o.W[0], o.b[0], job.train_set, 1.0)[0].mean() for o in (cpu, exact))
    assert 0 < abs(loss - exact_loss) < 1e-4 * exact_loss


@pytest.mark.parametrize("engine", ["cpu", "torch"])
def test_rounded_first_step_equals_autograd_on_rounded_operands(tiny, engine):
    """One step with bfloat16 products against float64 autograd whose products see W, x and h
    rounded to 7 mantissa bits (h taken from float32 products, as both engines compute it) and
    whose residual keeps x exact; eps near the gradient's size so the step shows its scale."""
    import torch

    from toydd._engine_torch import round_operand

    cfg = tiny.replace(dataset_size=100, steps=1, warmup_fraction=0.0, weight_decay=0.0, lr=1e-2, eps=1e-3,
                       history_points=0, matmul_precision="bfloat16", engine=engine, device="cpu" if engine == "torch" else "auto")  # fmt: skip
    result = train(cfg)
    W0, _ = init_weights(cfg)
    X32 = torch.tensor(train_set(cfg).to_dense(), dtype=torch.float32)
    W_seen = round_operand(torch.tensor(W0), 7).double().requires_grad_()
    X_seen = round_operand(X32, 7)
    h_seen = round_operand(X_seen @ W_seen.detach().float().T, 7).double()
    b = torch.zeros(cfg.n_features, dtype=torch.float64, requires_grad=True)
    h = X_seen.double() @ W_seen.T
    h = h + (h_seen - h).detach()  # the product's value as rounded, its gradient as autograd's
    loss = ((X32.double() - (h @ W_seen + b).relu()) ** 2).sum() / cfg.dataset_size
    loss.backward()
    g = W_seen.grad.numpy()
    W1 = W0 - cfg.lr * g / (np.abs(g) + cfg.eps)
    np.testing.assert_allclose(result.W, W1, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("engine", ["cpu", "tree", "torch"])
def test_quarter_cosine_reaches_every_engine(tiny, engine):
    """Engines follow the schedule they are given: the same runs agree across engines, and the
    quarter cosine (a larger lr after warmup) trains differently from the half cosine."""
    cfg = tiny.replace(steps=100, lr=3e-3, history_points=0, lr_schedule="quarter_cosine", engine=engine, device="cpu" if engine == "torch" else "auto")
    quarter = train(cfg)
    # each engine against another one (the cpu engine against torch, not against itself)
    reference = train(cfg.replace(engine="torch", device="cpu") if engine == "cpu" else cfg.replace(engine="cpu", device="auto"))
    np.testing.assert_allclose(quarter.W, reference.W, rtol=1e-4, atol=1e-5)
    half = train(cfg.replace(lr_schedule="half_cosine"))
    assert np.abs(half.W - quarter.W).max() > 1e-4


def test_auto_asks_torch_about_cuda_only_where_cuda_can_be(monkeypatch):
    """Importing torch takes seconds in every process that trains under auto: no torch, a "+cpu"
    build, macOS and a Linux machine without a GPU driver's device files answer without it."""
    import importlib.metadata
    import importlib.util
    import types

    from toydd import _engines

    asked = []
    fake_torch = types.SimpleNamespace(cuda=types.SimpleNamespace(is_available=lambda: asked.append(1) or True))
    monkeypatch.setitem(sys.modules, "torch", fake_torch)
    monkeypatch.setattr(_engines.sys, "platform", "linux")
    monkeypatch.setattr(_engines.os.path, "exists", lambda path: True)  # a driver: only the other checks say no
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert not _engines._cuda_available()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: object())
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.13.0+cpu")
    assert not _engines._cuda_available()
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "2.13.0")
    monkeypatch.setattr(_engines.os.path, "exists", lambda path: False)
    assert not _engines._cuda_available() and not asked
    monkeypatch.setattr(_engines.os.path, "exists", lambda path: path == "/dev/kfd")  # ROCm: torch.cuda too
    assert _engines._cuda_available() and asked == [1]
    monkeypatch.setattr(_engines.sys, "platform", "darwin")
    assert not _engines._cuda_available() and asked == [1]


def test_training_under_auto_without_cuda_does_not_import_torch():
    pytest.importorskip("torch")  # without torch there is nothing to import
    if _cuda():
        pytest.skip("CUDA is here: auto asks torch")
    code = (
        "import sys, toydd\n"
        "toydd.train(toydd.Config(n_features=40, sparsity=0.9, dataset_size=10, steps=3, test_size=20, history_points=2))\n"
        "print('torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and done.stdout.strip() == "False", done.stderr[-2000:]
