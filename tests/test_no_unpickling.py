"""Nothing from an upload is ever unpickled. The only places in the project's code that could
unpickle are torch.load, numpy's load, pickle itself and torch.export.load; this test reads every
module of the library and the app (ast, calls inside functions included) and allows exactly
torch.load(..., weights_only=True) and np.load(..., allow_pickle=False). The mentions of
`weights_only=False` in learning/models.py are comments describing what torch.export.load would do
and why it is never called (tests/test_model_safety.py proves the payload stays inert at run time);
the runtime half here feeds pickled uploads to every loader with pickle's entry points booby-trapped."""

from __future__ import annotations

import ast
import io
import pickle
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted([*(ROOT / "bait_core").rglob("*.py"), *ROOT.glob("app*.py"), ROOT / "views.py",
                  *(ROOT / "app_pages").glob("*.py")])


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def _kw(call: ast.Call, name: str):
    for k in call.keywords:
        if k.arg == name and isinstance(k.value, ast.Constant):
            return k.value.value
    return None


def unpickling_calls(path: Path) -> list[str]:
    """Calls that could unpickle: any pickle/dill/joblib/shelve load, torch.export.load,
    torch.load without weights_only=True, np.load without allow_pickle=False."""
    bad = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
            if any(n.split(".")[0] in ("dill", "joblib", "shelve", "cloudpickle") for n in names):
                bad.append(f"line {node.lineno}: imports {names}")
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        last = name.rsplit(".", 1)[-1]
        if name.startswith("pickle.") and last in ("load", "loads", "Unpickler"):
            bad.append(f"line {node.lineno}: {name}")
        elif name.endswith("export.load"):
            bad.append(f"line {node.lineno}: {name}")
        elif name in ("torch.load",) and _kw(node, "weights_only") is not True:
            bad.append(f"line {node.lineno}: torch.load without weights_only=True")
        elif name in ("np.load", "numpy.load") and _kw(node, "allow_pickle") is not False:
            bad.append(f"line {node.lineno}: np.load without allow_pickle=False")
    return bad


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_code_path_can_unpickle(path):
    assert not unpickling_calls(path), f"{path.relative_to(ROOT)}: {unpickling_calls(path)}"


def test_the_scan_finds_what_it_forbids(tmp_path):
    """The scanner is not vacuous: each forbidden form is reported."""
    src = tmp_path / "bad.py"
    src.write_text("import pickle, torch, numpy as np\nimport joblib\n"
                   "def f(b):\n    pickle.loads(b)\n    torch.load(b)\n    torch.load(b, weights_only=False)\n"
                   "    np.load(b)\n    np.load(b, allow_pickle=True)\n    torch.export.load(b)\n"
                   "    torch.load(b, weights_only=True)\n    np.load(b, allow_pickle=False)\n")
    assert len(unpickling_calls(src)) == 7


class _Trap(Exception):
    pass


@pytest.fixture
def trapped(monkeypatch):
    """pickle's and torch.export's entry points raise: any attempt to unpickle fails the test."""
    def boom(*a, **k):
        raise _Trap("an upload reached an unpickler")

    import torch
    monkeypatch.setattr(pickle, "loads", boom)
    monkeypatch.setattr(pickle, "load", boom)
    monkeypatch.setattr(pickle, "Unpickler", boom)
    monkeypatch.setattr(torch.export, "load", boom)


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled!",))


def test_pickled_uploads_are_refused_without_reaching_an_unpickler(trapped, tmp_path):
    """An NPZ with an object array, a .npy pickle, a pickled table and a pickled whole-module .pt
    each get a ValueError sentence; none reaches pickle (the trap would raise _Trap instead)."""
    import torch

    from bait_core.learning.data import load_file
    from bait_core.learning.models import load_user_model

    buf = io.BytesIO()
    np.savez(buf, X=np.array([_Evil()] * 8, dtype=object), y=np.zeros(8, np.int64))
    with pytest.raises(ValueError):
        load_file(buf.getvalue(), filename="evil.npz")
    with pytest.raises(ValueError):
        load_file(pickle.dumps(_Evil()), filename="evil.csv")
    with pytest.raises(ValueError):
        load_file(pickle.dumps(_Evil()), filename="evil.parquet")
    pt = io.BytesIO()
    torch.save({"w": _Evil()}, pt)
    with pytest.raises(ValueError):
        load_user_model(pt.getvalue(), filename="evil.pt", arch="mlp", input_shape=(4,), n_outputs=2, seed=0)
