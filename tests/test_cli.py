"""`python -m bait_core select`: good runs produce JSON, bad input exits 2 with one error line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bait_core.__main__ import main

REPO = Path(__file__).resolve().parents[1]
N, D, K = 40, 4, 3


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bait_core", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def files(tmp_path: Path) -> dict:
    """E.npy (N, d), P.npy (N, K) softmax, L.npy int indices, M.npy the same as a bool mask."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(N, K))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    out = {"E": tmp_path / "E.npy", "P": tmp_path / "P.npy", "L": tmp_path / "L.npy",
           "M": tmp_path / "M.npy", "dir": tmp_path}
    np.save(out["E"], rng.normal(size=(N, D)))
    np.save(out["P"], p)
    np.save(out["L"], np.arange(0, N, 5))
    np.save(out["M"], np.arange(N) % 5 == 0)
    return out


def assert_one_line_error(res: subprocess.CompletedProcess, *fragments: str) -> None:
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("error: ")
    for frag in fragments:
        assert frag in lines[0]
    assert res.stdout == ""


def test_select_bait_writes_json(files):
    out = files["dir"] / "sel.json"
    res = run_cli("select", "--embeddings", files["E"], "--probs", files["P"], "--labeled", files["L"],
                  "--batch-size", 4, "--lamb", 0.5, "--oversample", 2.0, "--out", out)
    assert res.returncode == 0, res.stderr
    assert res.stdout == ""
    assert "bait" in res.stderr and str(out) in res.stderr and len(res.stderr.splitlines()) == 1
    doc = json.loads(out.read_text())
    assert doc["strategy"] == "bait"
    idx = doc["indices"]
    assert len(idx) == 4 == len(set(idx))
    assert not set(idx) & set(range(0, N, 5))
    assert len(doc["pruned"]) == 4                          # oversample 2: 8 forward, 4 pruned
    assert len(doc["objective"]) == doc["n_forward"] + len(doc["pruned"]) + 1
    assert {"setup", "forward", "backward", "total"} <= set(doc["timings"])
    assert doc["params"]["lamb"] == 0.5


def test_select_to_stdout_mask_equals_indices(files):
    a = run_cli("select", "--embeddings", files["E"], "--probs", files["P"], "--labeled", files["L"],
                "--batch-size", 5, "--strategy", "margin")
    b = run_cli("select", "--embeddings", files["E"], "--probs", files["P"], "--labeled", files["M"],
                "--batch-size", 5, "--strategy", "margin")
    assert a.returncode == 0 == b.returncode, a.stderr + b.stderr
    da, db = json.loads(a.stdout), json.loads(b.stdout)
    assert da["strategy"] == "margin"
    assert da["indices"] == db["indices"] and len(da["indices"]) == 5
    assert da["pruned"] == [] and da["objective"] == []


def test_missing_file(files):
    res = run_cli("select", "--embeddings", files["dir"] / "nope.npy", "--batch-size", 3)
    assert_one_line_error(res, "not found", "nope.npy")


def test_shape_mismatch(files):
    np.save(files["P"], np.full((N - 1, K), 1.0 / K))
    res = run_cli("select", "--embeddings", files["E"], "--probs", files["P"], "--batch-size", 3)
    assert_one_line_error(res, "rows")


def test_pickled_object_array(files):
    bad = files["dir"] / "obj.npy"
    np.save(bad, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    res = run_cli("select", "--embeddings", bad, "--batch-size", 1)
    assert_one_line_error(res, "pickled")


def test_batch_size_too_big(files):
    res = run_cli("select", "--embeddings", files["E"], "--labeled", files["L"], "--batch-size", N,
                  "--strategy", "coreset")
    assert_one_line_error(res, "larger than")


def test_unknown_strategy(files):
    res = run_cli("select", "--embeddings", files["E"], "--batch-size", 3, "--strategy", "nope")
    assert_one_line_error(res, "Unknown strategy", "bait")


# In-process checks of the remaining error paths (same code path, no interpreter start-up).

@pytest.mark.parametrize("case", ["not-npy", "npz", "lamb-other", "bad-int", "no-command",
                                  "labeled-float", "directory", "embeddings-1d"])
def test_other_errors_one_line(files, case, capsys):
    d = files["dir"]
    base = ["select", "--embeddings", str(files["E"]), "--batch-size", "3"]
    if case == "not-npy":
        (d / "t.npy").write_text("hello")
        argv, frag = ["select", "--embeddings", str(d / "t.npy"), "--batch-size", "3"], "not a .npy"
    elif case == "npz":
        np.savez(d / "z.npz", a=np.ones(3))
        argv, frag = ["select", "--embeddings", str(d / "z.npz"), "--batch-size", "3"], ".npz"
    elif case == "lamb-other":
        argv, frag = base + ["--strategy", "random", "--lamb", "2"], "only to --strategy bait"
    elif case == "bad-int":
        argv, frag = ["select", "--embeddings", str(files["E"]), "--batch-size", "x"], "--batch-size"
    elif case == "no-command":
        argv, frag = [], "required"
    elif case == "labeled-float":
        np.save(d / "lf.npy", np.ones(N) * 0.5)
        argv, frag = base + ["--labeled", str(d / "lf.npy")], "labeled"
    elif case == "directory":
        argv, frag = ["select", "--embeddings", str(d), "--batch-size", "3"], "not a file"
    else:
        np.save(d / "e1.npy", np.ones(N))
        argv, frag = ["select", "--embeddings", str(d / "e1.npy"), "--batch-size", "3"], "2-D"
    assert main(argv) == 2
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and frag in lines[0], cap.err
    assert cap.out == ""


def test_regression_and_seed_in_process(files, capsys):
    argv = ["select", "--embeddings", str(files["E"]), "--batch-size", "6", "--strategy", "random",
            "--seed", "7"]
    assert main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(argv) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["indices"] == second["indices"] and len(set(first["indices"])) == 6
    assert first["params"]["seed"] == 7
    assert all(g is None for g in first["gains"])          # random has no score: NaN -> null
