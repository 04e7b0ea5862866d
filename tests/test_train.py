"""Training (determinism, early stop, cancel, regression), devices, and compute_outputs."""

import copy
import io
import warnings

import numpy as np
import pytest
import torch

from bait_core.learning.models import build_model, check_model, load_exported
from bait_core.learning.outputs import Outputs, compute_outputs
from bait_core.learning.train import PRESETS, TrainConfig, TrainResult, device_label, pick_device, train_model

CPU = torch.device("cpu")


def _blobs(n=150, f=10, k=3, seed=0):
    """Well separated Gaussian blobs: an easy classification problem.  X (n, f), y (n,)"""
    rng = np.random.default_rng(seed)
    centers = rng.normal(0, 4, (k, f))
    y = np.arange(n) % k
    X = centers[y] + rng.normal(0, 0.5, (n, f))
    return X.astype(np.float32), y.astype(np.int64)


def _init(model):
    return copy.deepcopy(model.state_dict())


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_training_is_deterministic_and_seed_dependent():
    X, y = _blobs(150)                                             # 150 > batch 64: shuffling matters
    cfg = TrainConfig(lr=1e-3, max_epochs=5, target_train_acc=None, batch_size=64)
    model = build_model("mlp", (10,), 3, seed=0)
    init = _init(model)
    train_model(model, init, X, y, task="classification", config=cfg, seed=1, device=CPU)
    first = _params(model)
    train_model(model, init, X, y, task="classification", config=cfg, seed=1, device=CPU)  # restarts from init
    again = _params(model)
    fresh = build_model("mlp", (10,), 3, seed=0)
    train_model(fresh, init, X, y, task="classification", config=cfg, seed=1, device=CPU)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert all(torch.equal(a, b) for a, b in zip(first, _params(fresh)))
    train_model(model, init, X, y, task="classification", config=cfg, seed=2, device=CPU)
    assert any(not torch.equal(a, b) for a, b in zip(first, _params(model)))
    assert not any(torch.equal(a, b) for a, b in zip(first, init.values()))   # it did train


def test_early_stop_on_separable_data_and_progress():
    X, y = _blobs(90)
    model = build_model("mlp", (10,), 3, seed=0)
    calls = []
    res = train_model(model, _init(model), X, y, task="classification", config=PRESETS["quick"], seed=0,
                      progress=lambda e, m, loss, acc: calls.append((e, m, loss, acc)))
    assert isinstance(res, TrainResult) and res.device == "CPU"
    assert res.stopped_early and not res.cancelled
    assert res.train_accuracy >= 0.99 and res.epochs < 30 and res.epochs == len(calls)
    assert [c[0] for c in calls] == list(range(1, res.epochs + 1))
    assert all(c[1] == PRESETS["quick"].max_epochs for c in calls)
    assert calls[-1][3] == res.train_accuracy and np.isfinite(res.train_loss)
    assert not model.training                                      # left in eval mode
    acc = (compute_outputs(model, X, task="classification").predictions == y).mean()
    assert acc >= 0.99


def test_should_stop_is_honoured():
    X, y = _blobs(60)
    model = build_model("linear", (10,), 3, seed=0)
    seen = []
    cfg = TrainConfig(lr=1e-5, max_epochs=100, target_train_acc=1.01, batch_size=16)
    res = train_model(model, _init(model), X, y, task="classification", config=cfg, seed=0,
                      progress=lambda e, *_: seen.append(e), should_stop=lambda: len(seen) >= 3)
    assert res.cancelled and not res.stopped_early and res.epochs == 3 and seen == [1, 2, 3]
    assert "stop" in res.note


def test_max_epochs_without_reaching_target_notes_it():
    X, y = _blobs(60)
    model = build_model("linear", (10,), 3, seed=0)
    cfg = TrainConfig(lr=1e-6, max_epochs=4, target_train_acc=1.01, batch_size=64)
    res = train_model(model, _init(model), X, y, task="classification", config=cfg, seed=0)
    assert res.epochs == 4 and not res.stopped_early and "short of" in res.note


def test_regression_reduces_mse():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 3.0]) + 0.3).astype(np.float32)
    model = build_model("mlp", (5,), 1, seed=0)
    init = _init(model)
    before = np.mean((compute_outputs(model, X, task="regression").predictions - y) ** 2)
    cfg = TrainConfig(lr=1e-2, max_epochs=60, target_train_acc=0.99, batch_size=64)   # target ignored
    res = train_model(model, init, X, y, task="regression", config=cfg, seed=0)
    after = np.mean((compute_outputs(model, X, task="regression").predictions - y) ** 2)
    assert res.train_accuracy is None and res.epochs == 60 and not res.stopped_early
    assert after < before / 20 and abs(res.train_loss - after) < 0.5 * before


def test_input_errors_and_empty_labeled_set():
    X, y = _blobs(30)
    model = build_model("mlp", (10,), 3, seed=0)
    init = _init(model)
    with pytest.raises(ValueError, match="missing labels"):
        train_model(model, init, X, np.where(y == 0, -1, y), task="classification", config=PRESETS["quick"], seed=0)
    with pytest.raises(ValueError, match="class 5 but the model has only 3 outputs"):
        train_model(model, init, X, y + 3, task="classification", config=PRESETS["quick"], seed=0)
    res = train_model(model, init, X[:0], y[:0], task="classification", config=PRESETS["quick"], seed=0)
    assert res.epochs == 0 and "no labeled points" in res.note
    assert all(torch.equal(a, b) for a, b in zip(_params(model), init.values()))


def test_read_only_arrays_are_accepted_without_warnings():
    X, y = _blobs(40)
    X.setflags(write=False)                                        # Dataset arrays are frozen
    y.setflags(write=False)
    model = build_model("mlp", (10,), 3, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = train_model(model, _init(model), X, y, task="classification", config=PRESETS["quick"], seed=0)
        out = compute_outputs(model, X, task="classification")
        check_model(model, (10,), 3, X)
    assert res.epochs > 0 and out.embeddings.shape == (40, 128)


def test_thread_setting_restored_and_presets():
    before = torch.get_num_threads()
    X, y = _blobs(30)
    model = build_model("mlp", (10,), 3, seed=0)
    train_model(model, _init(model), X, y, task="classification", config=PRESETS["quick"], seed=0)
    assert torch.get_num_threads() == before
    paper = PRESETS["paper"]
    assert (paper.lr, paper.target_train_acc) == (1e-4, 0.99) and paper.max_epochs >= 100
    assert PRESETS["quick"].target_train_acc == 0.99


def test_devices():
    assert pick_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert pick_device(None) == pick_device("auto")
    assert pick_device("cpu") == CPU and device_label(CPU) == "CPU"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no GPU"):
            pick_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):        # not torch's RuntimeError
        pick_device("bogus")


def test_exported_program_is_trainable():
    class Wrap(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return self.inner.forward_with_embedding(x)

    src = build_model("mlp", (10,), 3, seed=0).eval()
    ep = torch.export.export(Wrap(src), (torch.zeros(4, 10),), dynamic_shapes=({0: torch.export.Dim("batch")},))
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    model = load_exported(buf.getvalue())
    init = _init(model)
    X, y = _blobs(90)
    res = train_model(model, init, X, y, task="classification", config=PRESETS["quick"], seed=0)
    assert res.stopped_early and res.train_accuracy >= 0.99
    assert any(not torch.equal(a, b) for a, b in zip(_params(model), init.values()))
    out = compute_outputs(model, X, task="classification")
    assert (out.predictions == y).mean() >= 0.99 and out.embeddings.shape == (90, 128)


# ---------------------------------------------------------------------------------- outputs

@pytest.mark.parametrize("name,shape", [("linear", (10,)), ("mlp", (10,)), ("cnn", (1, 8, 8))])
def test_compute_outputs_classification(name, shape):
    rng = np.random.default_rng(0)
    X = rng.random((23, *shape), dtype=np.float32)
    model = build_model(name, shape, 4, seed=0)
    model.train()
    out = compute_outputs(model, X, task="classification", batch_size=5)     # several batches
    assert isinstance(out, Outputs)
    d = model.embedding_dim
    assert out.embeddings.shape == (23, d) and out.embeddings.dtype == np.float32
    assert out.probs.shape == (23, 4) and out.probs.dtype == np.float32
    assert out.predictions.shape == (23,) and out.predictions.dtype == np.int64
    assert np.allclose(out.probs.sum(1), 1, atol=1e-5) and (out.probs >= 0).all()
    with torch.no_grad():
        emb = model.embed(torch.from_numpy(X)).numpy()
        logits = model(torch.from_numpy(X)).numpy()
    assert np.allclose(out.embeddings, emb, atol=1e-6)
    assert np.array_equal(out.predictions, logits.argmax(1))
    assert model.training                                          # mode restored
    whole = compute_outputs(model, X, task="classification")
    assert np.allclose(whole.embeddings, out.embeddings, atol=1e-6) and np.allclose(whole.probs, out.probs, atol=1e-6)


def test_compute_outputs_chunks_wide_rows_on_cpu_with_the_same_values():
    """On a CPU a pass holds at most 2**18 input values (a conv net's activations stay in the cache):
    64×64 images go 64 rows at a time, a caller's smaller batch_size still wins, an exported program's
    fixed batch is kept whole, and the values are those of one pass over every row."""
    X = np.random.default_rng(1).random((150, 1, 64, 64), dtype=np.float32)
    model = build_model("cnn", (1, 64, 64), 3, seed=0)
    sizes: list[int] = []
    inner = model.forward_with_embedding
    model.forward_with_embedding = lambda x: (sizes.append(int(x.shape[0])), inner(x))[1]
    out = compute_outputs(model, X, task="classification", device="cpu")
    assert sizes == [64, 64, 22]
    with torch.no_grad():
        logits, emb = inner(torch.from_numpy(X))
    assert np.allclose(out.embeddings, emb.numpy(), atol=1e-6)
    assert np.array_equal(out.predictions, logits.numpy().argmax(1))
    sizes.clear()
    compute_outputs(model, X, task="classification", device="cpu", batch_size=50)
    assert sizes == [50, 50, 50]
    sizes.clear()
    model.fixed_batch = 100                                        # as an ExportedModel exported at batch 100
    compute_outputs(model, X, task="classification", device="cpu")
    assert sizes == [100, 50]


def test_compute_outputs_regression_and_empty():
    X = np.random.default_rng(0).random((7, 3), dtype=np.float32)
    model = build_model("mlp", (3,), 1, seed=0)
    out = compute_outputs(model, X, task="regression")
    assert out.probs is None and out.predictions.dtype == np.float32 and out.predictions.shape == (7,)
    with torch.no_grad():
        assert np.allclose(out.predictions, model(torch.from_numpy(X))[:, 0].numpy(), atol=1e-6)
    empty = compute_outputs(model, X[:0], task="regression")
    assert empty.embeddings.shape == (0, 128) and empty.predictions.shape == (0,)


def test_bs_plus_one_labels_reach_the_target():
    """Issue 11.6: with batch 64, 65 labels used to train as 64 + 1, and the one-point batch each epoch
    kept runs below 99 % at the quick preset's cap (seed 3 here stopped at 98.5 % after 200 epochs on
    the old code). Balanced batches (33 + 32) reach the target for every seed."""
    rng_sets = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        centers = rng.normal(0, 0.7, (6, 10))
        y = np.arange(65) % 6
        X = (centers[y] + rng.normal(0, 0.5, (65, 10))).astype(np.float32)
        rng_sets.append((X, y.astype(np.int64)))
    for seed, (X, y) in enumerate(rng_sets):
        model = build_model("mlp", (10,), 6, seed=seed)
        res = train_model(model, _init(model), X, y, task="classification", config=PRESETS["quick"],
                          seed=seed, device=CPU)
        assert res.train_accuracy >= 0.99 and res.stopped_early, (seed, res)


def test_minibatches_are_balanced_and_cover_every_point():
    """Every epoch sees each point once, in batches of ⌊n/nb⌋ or ⌈n/nb⌉ (nb = ⌈n/64⌉)."""
    X, y = _blobs(130)
    sizes = []

    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(10, 3)

        def forward(self, x):
            sizes.append(x.shape[0])
            return self.lin(x)

    model = Spy()
    cfg = TrainConfig(lr=1e-3, max_epochs=2, target_train_acc=None, batch_size=64)
    train_model(model, _init(model), X, y, task="classification", config=cfg, seed=0, device=CPU)
    assert sizes == [43, 43, 44] * 2
