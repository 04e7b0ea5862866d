"""Built-in models, user weights (state_dict / safetensors), torch.export programs and model checks."""

import io
import json
import zipfile

import numpy as np
import pytest
import torch
from safetensors.torch import save as st_save
from torch import nn

from bait_core.learning.models import (MODEL_NAMES, EmbedNet, ExportedModel, MaxPool2, build_model, check_model,
                              load_exported, load_user_model, load_weights)

TABLE = (20,)
IMAGES = [(1, 8, 8), (1, 28, 28), (3, 16, 16)]


def _same_state(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# ---------------------------------------------------------------------------------- built-ins

@pytest.mark.parametrize("name,shape", [("linear", TABLE), ("mlp", TABLE)]
                         + [(n, s) for n in MODEL_NAMES for s in IMAGES])
def test_shapes_and_embedding_contract(name, shape):
    K, N = 7, 5
    model = build_model(name, shape, K, seed=0)
    x = torch.rand(N, *shape, generator=torch.Generator().manual_seed(1))
    logits, emb = model.forward_with_embedding(x)
    d = model.embedding_dim
    assert logits.shape == (N, K) and emb.shape == (N, d)
    assert d == {"linear": int(np.prod(shape)), "mlp": 128, "cnn": 128}[name]
    assert torch.allclose(model(x), logits) and torch.allclose(model.embed(x), emb)
    assert torch.allclose(model.head(emb), logits)                 # logits = head(embedding)
    if name == "linear":
        assert torch.equal(emb, x.reshape(N, -1))                  # embedding = flattened input
    if name != "linear":
        assert (emb >= 0).all()                                    # ReLU embedding


def test_cnn_pool_fast_path_gives_pytorchs_values_and_is_taken_only_without_gradients(monkeypatch):
    """MaxPool2's no-gradient path over even maps (the four strided corners) gives nn.MaxPool2d's
    values bit for bit, ties, zeros, ±inf and NaN included; training passes, odd maps and export
    tracing run PyTorch's kernel (its backward picks each window's first maximum)."""
    g = torch.Generator().manual_seed(0)
    x = torch.round(torch.randn(5, 3, 12, 10, generator=g) * 2).relu()   # many ties (zeros and equal integers)
    x[0, 0, 0, 0], x[1, 1, 2, 3], x[2, 2, 5, 5], x[3, 0, 7, 1] = float("nan"), float("inf"), -float("inf"), -3.0
    ref = nn.MaxPool2d(2, ceil_mode=True)
    pool = MaxPool2()
    odd = x[:, :, :11, :9]
    want, want_odd = ref(x), ref(odd)                              # PyTorch's kernel, before counting its calls
    xr = x.nan_to_num().requires_grad_()
    ref(xr).sum().backward()
    calls = []
    real = torch.nn.functional.max_pool2d
    monkeypatch.setattr(torch.nn.functional, "max_pool2d", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    with torch.no_grad():
        got = pool(x)
    assert calls == [] and got.shape == (5, 3, 6, 5)
    assert torch.equal(torch.isnan(got), torch.isnan(want)) and torch.equal(got.nan_to_num(), want.nan_to_num())
    with torch.no_grad():
        assert torch.equal(pool(odd).nan_to_num(), want_odd.nan_to_num()) and len(calls) == 1
    xg = x.nan_to_num().requires_grad_()
    pool(xg).sum().backward()
    assert len(calls) == 2
    assert torch.equal(xg.grad, xr.grad)                           # first maximum of each window, as PyTorch


def test_cnn_refuses_tabular_input():
    with pytest.raises(ValueError, match="image inputs shaped .channels, height, width."):
        build_model("cnn", TABLE, 3, seed=0)


def test_unknown_model_lists_names():
    with pytest.raises(ValueError) as exc:
        build_model("resnet", TABLE, 3, seed=0)
    assert all(n in str(exc.value) for n in MODEL_NAMES)


@pytest.mark.parametrize("name,shape", [("linear", TABLE), ("mlp", TABLE), ("cnn", (1, 8, 8))])
def test_seeded_init_is_deterministic_and_leaves_global_rng_alone(name, shape):
    before = torch.random.get_rng_state()
    a, b = build_model(name, shape, 4, seed=3), build_model(name, shape, 4, seed=3)
    c = build_model(name, shape, 4, seed=4)
    assert torch.equal(before, torch.random.get_rng_state())
    assert _same_state(a, b)
    assert not _same_state(a, c)
    w = a.head.weight                                              # default-like init: |w| <= 1/sqrt(fan_in)
    assert w.abs().max() <= 1 / np.sqrt(w.shape[1]) + 1e-6 and w.std() > 0


# -------------------------------------------------------------------------------- user weights

def test_state_dict_roundtrip_bytes_and_path(tmp_path):
    src = build_model("mlp", TABLE, 3, seed=1)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    dst = load_weights(build_model("mlp", TABLE, 3, seed=2), buf.getvalue(), filename="w.pt")
    assert _same_state(src, dst)
    path = tmp_path / "weights.pth"
    torch.save({"state_dict": src.state_dict()}, path)             # a common checkpoint wrapper
    assert _same_state(src, load_weights(build_model("mlp", TABLE, 3, seed=2), path))


def test_safetensors_roundtrip():
    src = build_model("cnn", (1, 8, 8), 4, seed=1)
    blob = st_save({k: v.contiguous() for k, v in src.state_dict().items()})
    dst = load_weights(build_model("cnn", (1, 8, 8), 4, seed=9), blob, filename="m.safetensors")
    assert _same_state(src, dst)
    dst2 = load_weights(build_model("cnn", (1, 8, 8), 4, seed=9), blob)   # format sniffed without a name
    assert _same_state(src, dst2)


def test_pickled_module_refused():
    buf = io.BytesIO()
    torch.save(build_model("mlp", TABLE, 3, seed=0), buf)          # whole module, not a state_dict
    with pytest.raises(ValueError, match=r"pickled Python objects.*Only state_dicts .*\.safetensors .*\(\.pt2\) are accepted"):
        load_weights(build_model("mlp", TABLE, 3, seed=0), buf.getvalue(), filename="model.pt")


class _Payload:
    """Unpickling this would create a file: it must never be unpickled."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_malicious_pickle_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"hidden.weight": _Payload(marker)}, buf, pickle_protocol=2)
    with pytest.raises(ValueError, match="accepted"):
        load_user_model(buf.getvalue(), filename="evil.pt", arch="mlp", input_shape=TABLE, n_outputs=3)
    assert not marker.exists()


def test_key_mismatch_message():
    buf = io.BytesIO()
    torch.save(build_model("mlp", TABLE, 3, seed=0).state_dict(), buf)
    with pytest.raises(ValueError) as exc:
        load_weights(build_model("cnn", (1, 4, 5), 3, seed=0), buf.getvalue(), filename="w.pt")
    msg = str(exc.value)
    assert "Missing keys: features.0.weight" in msg and "Unexpected keys: hidden.weight" in msg
    with pytest.raises(ValueError, match=r"Shape conflicts: head.weight: file \(3, 128\) vs model \(10, 128\)"):
        load_weights(build_model("mlp", TABLE, 10, seed=0), buf.getvalue(), filename="w.pt")


def test_load_user_model_weights_dispatch():
    src = build_model("linear", TABLE, 3, seed=5)
    buf = io.BytesIO()
    torch.save(src.state_dict(), buf)
    model = load_user_model(buf.getvalue(), filename="w.pt", arch="linear", input_shape=TABLE, n_outputs=3)
    assert isinstance(model, EmbedNet) and _same_state(model, src)
    with pytest.raises(ValueError, match="need an architecture"):
        load_user_model(buf.getvalue(), filename="w.pt", arch=None, input_shape=TABLE, n_outputs=3)
    with pytest.raises(ValueError, match="accepted endings are .pt, .pth, .safetensors, .pt2"):
        load_user_model(b"hello", filename="w.onnx", arch="mlp", input_shape=TABLE, n_outputs=3)


# ------------------------------------------------------------------------------ exported programs

class _Wrap(nn.Module):
    def __init__(self, inner: EmbedNet):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner.forward_with_embedding(x)


def _export_bytes(model: EmbedNet, shape, dynamic: bool = True) -> bytes:
    ds = ({0: torch.export.Dim("batch")},) if dynamic else None
    ep = torch.export.export(_Wrap(model).eval(), (torch.zeros(4, *shape),), dynamic_shapes=ds)
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def exported():
    model = build_model("mlp", TABLE, 3, seed=11)
    return model, _export_bytes(model, TABLE)


def test_pt2_roundtrip(exported, tmp_path):
    model, blob = exported
    x = torch.rand(9, *TABLE, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "model.pt2"
    path.write_bytes(blob)
    for loaded in (load_exported(blob), load_exported(path),
                   load_user_model(blob, filename="m.pt2", arch=None, input_shape=TABLE, n_outputs=3)):
        assert isinstance(loaded, ExportedModel)
        assert (loaded.input_shape, loaded.n_outputs, loaded.embedding_dim) == (TABLE, 3, 128)
        logits, emb = loaded.forward_with_embedding(x)
        assert torch.allclose(logits, model(x), atol=1e-6) and torch.allclose(emb, model.embed(x), atol=1e-6)
        assert torch.allclose(loaded(x), logits) and torch.allclose(loaded.embed(x), emb)
        loaded.train()
        loaded.eval()                                              # mode flags never reach the graph
        assert not loaded.training


def test_pt2_cnn_with_dynamic_batch_passes_vetting():
    model = build_model("cnn", (1, 8, 8), 4, seed=2)
    loaded = load_user_model(_export_bytes(model, (1, 8, 8)), filename="cnn.pt2", arch=None,
                             input_shape=(1, 8, 8), n_outputs=4)
    x = torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    logits, emb = loaded.forward_with_embedding(x)
    assert torch.allclose(logits, model(x), atol=1e-5) and torch.allclose(emb, model.embed(x), atol=1e-5)


def test_pt2_with_fixed_batch_runs_any_batch():
    model = build_model("linear", (1, 4, 4), 2, seed=0)
    loaded = load_exported(_export_bytes(model, (1, 4, 4), dynamic=False))
    assert loaded.fixed_batch == 4
    x = torch.rand(10, 1, 4, 4, generator=torch.Generator().manual_seed(0))   # 4 + 4 + 2 (padded)
    logits, emb = loaded.forward_with_embedding(x)
    assert logits.shape == (10, 2) and torch.allclose(logits, model(x), atol=1e-6)
    assert torch.allclose(emb, x.reshape(10, -1))


def _rewrite(blob: bytes, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info.filename, edit(info.filename, data))
    return out.getvalue()


def _edit_json(suffix, change):
    def edit(name, data):
        if name.endswith(suffix):
            return json.dumps(change(json.loads(data))).encode()
        return data
    return edit


def test_pt2_vetting_refuses_dangerous_archives(exported):
    _, blob = exported

    def evil_target(prog):
        prog["graph_module"]["graph"]["nodes"][0]["target"] = "torch.hub.load"
        return prog

    def pickled_weight(cfg):
        next(iter(cfg["config"].values()))["use_pickle"] = True
        return cfg

    def evil_expr(prog):
        for tv in prog["graph_module"]["graph"]["tensor_values"].values():
            for s in tv["sizes"]:
                if "as_expr" in s:
                    s["as_expr"]["expr_str"] = "__import__('os').system('true')"
        return prog

    with pytest.raises(ValueError, match="operator 'torch.hub.load'"):
        load_exported(_rewrite(blob, _edit_json("models/model.json", evil_target)))
    with pytest.raises(ValueError, match="stored pickled"):
        load_exported(_rewrite(blob, _edit_json("model_weights_config.json", pickled_weight)))
    with pytest.raises(ValueError, match="symbolic shape expression"):
        load_exported(_rewrite(blob, _edit_json("models/model.json", evil_expr)))
    with pytest.raises(ValueError, match="not a torch.export archive"):
        load_exported(b"not a zip", filename="x.pt2")
    # an untouched rewrite still loads: the vetting is not refusing everything
    assert isinstance(load_exported(_rewrite(blob, lambda n, d: d)), ExportedModel)


def test_pt2_outputs_must_be_logits_and_embedding():
    model = build_model("mlp", TABLE, 3, seed=0).eval()
    ep = torch.export.export(model, (torch.zeros(2, *TABLE),))   # forward returns logits only
    buf = io.BytesIO()
    torch.export.save(ep, buf)
    with pytest.raises(ValueError, match=r"must return \(logits, embedding\)"):
        load_exported(buf.getvalue())


# ------------------------------------------------------------------------------------ check_model

def test_check_model_explains_input_shape_mismatch(exported):
    model = build_model("mlp", (64,), 10, seed=0)
    with pytest.raises(ValueError, match=r"expects inputs of shape \(64,\) .* rows have shape \(1, 28, 28\)"):
        check_model(model, (1, 28, 28), 10, np.zeros((3, 1, 28, 28), np.float32))
    _, blob = exported                                             # exported: shape read from the program
    with pytest.raises(ValueError, match=r"expects inputs of shape \(20,\) .* rows have shape \(30,\)"):
        load_user_model(blob, filename="m.pt2", arch=None, input_shape=(30,), n_outputs=3)


def test_check_model_explains_runtime_failure_without_declared_shape():
    class Bare(nn.Module):                                         # no input_shape/n_outputs attributes
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(64, 4)

        def forward_with_embedding(self, x):
            e = x.reshape(x.shape[0], -1)
            return self.fc(e), e

    with pytest.raises(ValueError, match=r"cannot run on this dataset's inputs \(rows of shape \(10,\)\)"):
        check_model(Bare(), (10,), 4, np.zeros((3, 10), np.float32))
    with pytest.raises(ValueError, match="outputs 4 values per row, but the dataset needs 3 classes"):
        check_model(Bare(), (64,), 3, np.zeros((3, 64), np.float32))
    check_model(Bare(), (64,), 4, np.zeros((3, 64), np.float32))  # the right sizes pass


def test_check_model_explains_class_count_mismatch():
    model = build_model("cnn", (1, 8, 8), 10, seed=0)
    with pytest.raises(ValueError, match="has 10 outputs, but the dataset needs 3 classes"):
        check_model(model, (1, 8, 8), 3, np.zeros((2, 1, 8, 8), np.float32))
    assert model.training                                          # check_model restores the mode
    check_model(model, (1, 8, 8), 10, np.random.default_rng(0).random((5, 1, 8, 8), dtype=np.float32))
