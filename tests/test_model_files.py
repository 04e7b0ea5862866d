"""The "Make a model file" snippets shown on Setup run as written and their files load in the app's loader,
for every built-in dataset's input shape."""

from __future__ import annotations

import os

import numpy as np
import pytest

from bait_core.learning.data import BUILTIN_DATASETS, load_builtin
from bait_core.learning.model_files import export_snippet, weights_snippet
from bait_core.learning.models import load_user_model

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _shape(name: str):
    ds = load_builtin(name, seed=0)
    return ds, ds.input_shape, ds.n_classes


@pytest.mark.parametrize("name", ["digits", "mnist1d", "moons", "diabetes"])
def test_the_weights_snippet_runs_and_loads(tmp_path, monkeypatch, name):
    ds, shape, K = _shape(name)
    monkeypatch.chdir(tmp_path)
    code = weights_snippet("mlp", shape, K, name)
    exec(compile(code, "<snippet>", "exec"), {})
    model = load_user_model((tmp_path / f"mlp_{name}.pt").read_bytes(), filename=f"mlp_{name}.pt", arch="mlp",
                            input_shape=shape, n_outputs=K, sample=np.asarray(ds.X[:4]))
    assert model(__import__("torch").as_tensor(np.array(ds.X[:3]))).shape == (3, K)


@pytest.mark.parametrize("name", ["digits", "moons"])
def test_the_export_snippet_runs_and_loads(tmp_path, monkeypatch, name):
    ds, shape, K = _shape(name)
    monkeypatch.chdir(tmp_path)
    exec(compile(export_snippet(shape, K, name), "<snippet>", "exec"), {})
    model = load_user_model((tmp_path / f"net_{name}.pt2").read_bytes(), filename=f"net_{name}.pt2", arch=None,
                            input_shape=shape, n_outputs=K, sample=np.asarray(ds.X[:4]))
    import torch
    out = model(torch.as_tensor(np.array(ds.X[:5])))
    assert out.shape == (5, K) and model.embed(torch.as_tensor(np.array(ds.X[:5]))).shape == (5, 64)


def test_every_builtin_gets_snippets_for_its_shape():
    for name in BUILTIN_DATASETS:
        _, shape, K = _shape(name)
        w, e = weights_snippet("cnn", shape, K, name), export_snippet(shape, K, name)
        assert repr(tuple(shape)) in w and f"torch.zeros(2, {', '.join(map(str, shape))})" in e


def test_setup_shows_the_snippets_for_the_chosen_data():
    from tests.app_helpers import assert_ok, open_app

    at = open_app("app_pages/setup.py")
    source = [b for b in at.get("button_group") if b.label == "Model source"]
    assert source
    source[0].set_value("Upload").run()
    assert_ok(at)
    codes = [c.value for c in at.code]
    assert any("build_model('mlp', (1, 8, 8), 10" in c for c in codes), codes
    assert any("torch.zeros(2, 1, 8, 8)" in c and "torch.export.save" in c for c in codes)
