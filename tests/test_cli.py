"""`python -m bait_core select`: good runs produce JSON, bad input exits 2 with one error line."""

from __future__ import annotations

import json
import subprocess
import sys
import time
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


# ----------------------------------------------------------------------------- run / compare: checked before work

def _one_line(capsys, argv, *fragments) -> float:
    """main(argv) exits 2 with one `error:` line holding every fragment; returns the seconds it took."""
    t0 = time.perf_counter()
    assert main([str(a) for a in argv]) == 2
    took = time.perf_counter() - t0
    cap = capsys.readouterr()
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), cap.err
    assert "Traceback" not in cap.err and cap.out == ""
    for frag in fragments:
        assert frag in lines[0], lines[0]
    return took


RUN = ["run", "--data", "builtin:moons", "--rounds", "3", "--batch-size", "5", "--initial", "10"]


@pytest.fixture
def no_training(monkeypatch):
    """Any training or loop start fails the test: the error must come before the work."""
    import bait_core.learning.loop as loop

    def boom(*a, **k):
        raise AssertionError("the run started before the bad option was caught")
    monkeypatch.setattr(loop, "run", boom)
    monkeypatch.setattr(loop, "run_rounds", boom)


def test_run_out_in_missing_folder_fails_at_once_subprocess(tmp_path):
    """The reported bug: --out /nonexistent/dir/run.json used to fail with a traceback after every round."""
    res = run_cli(*RUN, "--out", "/nonexistent/dir/run.json")
    assert_one_line_error(res, "--out", "/nonexistent/dir", "does not exist")


def test_run_out_in_missing_folder_fails_before_training(capsys, no_training):
    took = _one_line(capsys, RUN + ["--out", "/nonexistent/dir/run.json"], "does not exist")
    assert took < 2.0


def test_run_metrics_csv_in_missing_folder(capsys, no_training):
    took = _one_line(capsys, RUN + ["--metrics-csv", "/nonexistent/dir/m.csv"], "--metrics-csv", "does not exist")
    assert took < 2.0


def test_run_device_bogus_subprocess():
    res = run_cli(*RUN, "--device", "bogus")
    assert_one_line_error(res, "--device", "bogus", "not a device")


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has CUDA")
def test_run_device_cuda_without_cuda(capsys, no_training):
    _one_line(capsys, RUN + ["--device", "cuda"], "CUDA is not available")


def test_compare_out_existing_file_subprocess(tmp_path):
    f = tmp_path / "taken.txt"
    f.write_text("x")
    res = run_cli("compare", "--data", "builtin:moons", "--rounds", "1", "--seeds", "1", "--strategies", "random",
                  "--out", f)
    assert_one_line_error(res, "is a file, not a folder")
    assert f.read_text() == "x"


@pytest.mark.parametrize("case", [
    "out-is-folder", "out-equals-data", "csv-equals-out", "device-meta", "lamb-nan", "oversample-small",
    "batch-zero", "rounds-negative", "initial-zero", "seed-negative", "preset", "label-column-builtin",
    "data-missing", "data-folder", "model-missing", "strategy", "memory-limit-bad"])
def test_run_user_errors_before_work(case, tmp_path, capsys, no_training):
    data = tmp_path / "d.csv"
    data.write_text("a,b,label\n1,2,0\n3,4,1\n")
    argv, frag = {
        "out-is-folder": (RUN + ["--out", tmp_path], "is a folder"),
        "out-equals-data": (["run", "--data", data, "--out", data], "same file as --data"),
        "csv-equals-out": (RUN + ["--out", tmp_path / "r.json", "--metrics-csv", tmp_path / "r.json"], "same file as --out"),
        "device-meta": (RUN + ["--device", "meta"], "only auto, cpu"),
        "lamb-nan": (RUN + ["--lamb", "nan"], "from 1e-08 to 1e+06"),
        "lamb-huge": (RUN + ["--lamb", "1e308"], "from 1e-08 to 1e+06"),
        "oversample-huge": (RUN + ["--oversample", "1e308"], "from 1 to 10"),
        "oversample-small": (RUN + ["--oversample", "0.5"], "from 1 to 10"),
        "batch-zero": (RUN + ["--batch-size", "0"], "batch size"),
        "rounds-negative": (RUN + ["--rounds", "-1"], "rounds"),
        "initial-zero": (RUN + ["--initial", "0"], "initial"),
        "seed-negative": (RUN + ["--seed", "-1"], "--seed"),
        "preset": (RUN + ["--preset", "fast"], "--preset"),
        "label-column-builtin": (RUN + ["--label-column", "y"], "--label-column"),
        "data-missing": (["run", "--data", tmp_path / "nope.csv"], "not found"),
        "data-folder": (["run", "--data", tmp_path], "not a file"),
        "model-missing": (RUN + ["--model", tmp_path / "m.pt2"], "model file not found"),
        "strategy": (RUN + ["--strategy", "nope"], "Unknown strategy"),
        "memory-limit-bad": (RUN + ["--memory-limit", "8X"], "--memory-limit"),
    }[case]
    assert _one_line(capsys, argv, frag) < 2.0
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("case", ["out-under-file", "record-name-is-folder", "seeds-zero", "device-bogus",
                                  "out-equals-data", "strategy-twice", "regression-needs-probs"])
def test_compare_user_errors_before_work(case, tmp_path, capsys, no_training):
    f = tmp_path / "f.txt"
    f.write_text("x")
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "summary.csv").mkdir()
    (tmp_path / "o2").mkdir()
    data = tmp_path / "o2" / "summary.csv"
    data.write_text("a,b,label\n1,2,0\n3,4,1\n")
    base = ["compare", "--data", "builtin:moons", "--rounds", "1", "--strategies", "random,margin"]
    argv, frag = {
        "out-under-file": (base + ["--out", f / "sub"], "is a file, so the folder cannot be created"),
        "record-name-is-folder": (base + ["--out", tmp_path / "o"], "is a folder"),
        "seeds-zero": (base + ["--seeds", "0", "--out", tmp_path / "new"], "--seeds"),
        "device-bogus": (base + ["--device", "bogus", "--out", tmp_path / "new"], "not a device"),
        "out-equals-data": (["compare", "--data", data, "--rounds", "1", "--out", tmp_path / "o2"], "same file as --data"),
        "strategy-twice": (base[:-1] + ["random,margin,random", "--out", tmp_path / "new"], "more than once"),
        "regression-needs-probs": (["compare", "--data", "builtin:diabetes", "--rounds", "1", "--strategies",
                                    "random,margin", "--out", tmp_path / "new"], "needs class probabilities"),
    }[case]
    _one_line(capsys, argv, frag)
    assert not (tmp_path / "new").exists()


def test_run_memory_limit_refuses_before_training(capsys, no_training):
    """The run's largest selection is estimated from the data and the model before round 0 trains."""
    _one_line(capsys, RUN + ["--memory-limit", "1k"], "BAIT on this pool needs about", "memory limit is 1.0 kB")


def test_run_writes_record_and_csv(tmp_path, capsys):
    out, csv = tmp_path / "r.json", tmp_path / "m.csv"
    assert main([str(a) for a in RUN[:3] + ["--rounds", "1", "--batch-size", "5", "--initial", "10",
                                            "--strategy", "random", "--device", "cpu", "--out", out,
                                            "--metrics-csv", csv]]) == 0
    assert json.loads(out.read_text())["kind"] == "bait-explorer-run"
    assert csv.read_text().startswith("round,")


@pytest.mark.parametrize("case", ["out-missing-folder", "out-equals-embeddings", "device-bogus", "batch-zero",
                                  "lamb-negative", "truncated", "strings", "memory-limit"])
def test_select_more_user_errors(case, files, capsys):
    d = files["dir"]
    base = ["select", "--embeddings", str(files["E"]), "--probs", str(files["P"]), "--batch-size", "3"]
    if case == "truncated":
        (d / "t.npy").write_bytes(files["E"].read_bytes()[:100])
    elif case == "strings":
        np.save(d / "s.npy", np.array([["a", "b"]] * N))
    argv, frag = {
        "out-missing-folder": (base + ["--out", "/nonexistent/dir/sel.json"], "does not exist"),
        "out-equals-embeddings": (base + ["--out", str(files["E"])], "same file as --embeddings"),
        "device-bogus": (base + ["--device", "bogus"], "not a device"),
        "batch-zero": (base[:-1] + ["0"], "--batch-size"),
        "lamb-negative": (base + ["--lamb", "-1"], "--lamb"),
        "truncated": (["select", "--embeddings", str(d / "t.npy"), "--batch-size", "3"], "cannot read"),
        "strings": (["select", "--embeddings", str(d / "s.npy"), "--batch-size", "3"], "numeric"),
        "memory-limit": (base + ["--memory-limit", "1k"], "memory limit is 1.0 kB"),
    }[case]
    _one_line(capsys, argv, frag)
    assert np.load(files["E"]).shape == (N, D)                  # the input is intact


@pytest.mark.skipif(getattr(__import__("os"), "geteuid", lambda: 1)() == 0, reason="root reads and writes anything")
def test_unreadable_and_unwritable(files, capsys):
    import os
    files["E"].chmod(0)
    try:
        _one_line(capsys, ["select", "--embeddings", str(files["E"]), "--batch-size", "3"], "cannot read")
    finally:
        files["E"].chmod(0o644)
    ro = files["dir"] / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _one_line(capsys, ["select", "--embeddings", str(files["E"]), "--batch-size", "3", "--out",
                           str(ro / "x.json")], "permission denied")
    finally:
        ro.chmod(0o700)
    assert os.access(files["E"], os.R_OK)


def test_select_refuses_an_array_bigger_than_free_memory(files, capsys, monkeypatch):
    """A .npy larger than the free memory is refused before np.load reads it."""
    import bait_core.selection.estimate as est_mod
    monkeypatch.setattr(est_mod, "available_memory", lambda device=None: 100)
    _one_line(capsys, ["select", "--embeddings", str(files["E"]), "--batch-size", "3"], "of memory is free")


def test_run_wide_csv_with_linear_model_is_refused_before_training(tmp_path, capsys, no_training):
    """A wide table with the linear model and 4 classes makes D = (4−1)·2,000; BAIT keeps no D×D matrix
    there (the factored state), and a run that still does not fit the limit is refused before round 0
    trains, with a sentence naming D and the set-up."""
    rng = np.random.default_rng(0)
    path = tmp_path / "wide.csv"
    header = ",".join(f"f{i}" for i in range(2_000)) + ",label"
    rows = [",".join(f"{v:.2f}" for v in rng.standard_normal(2_000)) + f",{i % 4}" for i in range(45)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    _one_line(capsys, ["run", "--data", str(path), "--model", "linear", "--rounds", "2", "--initial", "10",
                       "--batch-size", "5", "--memory-limit", "2M", "--quiet"],
              "D = (K−1)·d = 6,000, factored (no 6,000×6,000 matrix)", "memory limit is 2.0 MB")


def test_run_saves_every_round_in_the_runs_folder_and_the_app_resumes_it(tmp_path):
    """Issue 9 item 11: `run` saves as it goes (--runs-dir); the saved run resumes writable."""
    from bait_core.records.run_record import RunRecord
    from bait_core.service.runstore import RunStore

    runs = tmp_path / "runs"
    out = tmp_path / "run.json"
    res = run_cli("run", "--data", "builtin:moons", "--model", "linear", "--rounds", "2", "--batch-size", "5",
                  "--initial", "10", "--device", "cpu", "--runs-dir", runs, "--out", out)
    assert res.returncode == 0, res.stderr
    (folder,) = list(runs.iterdir())
    saved = RunRecord.load(folder / "record.json")
    assert [r.round for r in saved.rounds] == [0, 1, 2] and saved.rounds[-1].is_final
    assert saved.to_dict()["rounds"] == RunRecord.load(out).to_dict()["rounds"]
    back = RunStore(runs).resume(folder.name)
    assert back.finished and not back.read_only


def test_run_refuses_an_unwritable_runs_folder_before_work(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = run_cli("run", "--data", "builtin:moons", "--model", "linear", "--rounds", "1", "--device", "cpu",
                  "--runs-dir", blocker / "runs")
    assert_one_line_error(res, "cannot be written")


def test_run_task_option_and_the_reading_report(tmp_path):
    """Issue 10 item 5: 26 classes coded 0..25 read as regression by the stated rule; --task
    classification overrides it; the reading report is printed (and --quiet hides it)."""
    from bait_core.records.run_record import RunRecord

    rng = np.random.default_rng(0)
    rows = ["f1,f2,label"] + [f"{a:.3f},{b:.3f},{i % 26}" for i, (a, b) in enumerate(rng.normal(size=(260, 2)))]
    data = tmp_path / "codes.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "r.json"
    common = ["run", "--data", data, "--model", "linear", "--rounds", "1", "--batch-size", "5", "--initial", "30",
              "--device", "cpu", "--no-save", "--out", out]
    res = run_cli(*common, "--strategy", "random")
    assert res.returncode == 0, res.stderr
    assert "How the data file was read" in res.stderr and "Task: regression" in res.stderr
    assert RunRecord.load(out).dataset["task"] == "regression"
    res = run_cli(*common, "--strategy", "entropy", "--task", "classification", "--quiet")
    assert res.returncode == 0, res.stderr
    assert "How the data file was read" not in res.stderr
    rec = RunRecord.load(out)
    assert rec.dataset["task"] == "classification" and len(rec.dataset["classes"]) == 26


def test_reading_flags_are_checked_before_work(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text("a,label\n1,x\n2,y\n")
    base = ["run", "--data", data, "--model", "linear", "--device", "cpu", "--no-save"]
    assert_one_line_error(run_cli(*base, "--decimal", ".", "--sep", "."), "separator")
    assert_one_line_error(run_cli(*base, "--encoding", "klingon"), "encoding")
    assert_one_line_error(run_cli(*base, "--image-size", "big"), "--image-size")
    assert_one_line_error(run_cli(*base, "--column-role", "a"), "--column-role")
    assert_one_line_error(run_cli(*base, "--column-role", "a=weird"), "role")
    assert_one_line_error(run_cli("run", "--data", "builtin:digits", "--task", "regression", "--device", "cpu"),
                          "--task")


def test_run_with_weights_from_other_tools_checkpoints(tmp_path):
    """Issue 10 item 10: --model ARCH --weights FILE; DataParallel/Lightning prefixes, a
    {'state_dict': ...} wrapper with other entries, fp16 and bf16 all load; the CLI says what it did."""
    import torch

    from bait_core.learning.data import load_builtin
    from bait_core.records.run_record import RunRecord
    from bait_core.learning.models import build_model

    ds = load_builtin("digits", seed=0)
    state = build_model("mlp", ds.input_shape, len(ds.classes), seed=7).state_dict()
    variants = {
        "plain.pt": state,
        "ddp.pt": {f"module.{k}": v for k, v in state.items()},
        "lightning.ckpt.pt": {"epoch": 3, "state_dict": {f"model.{k}": v for k, v in state.items()},
                              "optimizer_states": [{"lr": torch.tensor(0.1)}]},
        "nested.pth": {f"module.model.{k}": v for k, v in state.items()},
        "half.pt": {k: v.half() for k, v in state.items()},
        "bf16.pt": {"model_state_dict": {k: v.bfloat16() for k, v in state.items()}},
    }
    for name, obj in variants.items():
        path = tmp_path / name
        torch.save(obj, path)
        out = tmp_path / f"{name}.json"
        res = run_cli("run", "--data", "builtin:digits", "--model", "mlp", "--weights", path, "--rounds", "1",
                      "--batch-size", "5", "--device", "cpu", "--no-save", "--out", out)
        assert res.returncode == 0, (name, res.stderr)
        if name != "plain.pt":
            assert f"Weights {name}:" in res.stderr, res.stderr
        assert RunRecord.load(out).rounds
    res = run_cli("run", "--data", "builtin:digits", "--model", tmp_path / "plain.pt", "--device", "cpu")
    assert_one_line_error(res, "--model ARCH --weights")
    res = run_cli("run", "--data", "builtin:digits", "--model", "cnn", "--weights", tmp_path / "plain.pt",
                  "--device", "cpu", "--no-save")
    assert_one_line_error(res, "do not fit the cnn model")


@pytest.mark.parametrize("case", ["huge-header", "object", "complex"])
def test_select_checks_the_npy_header_before_allocating(files, case):
    """A .npy whose header declares (10**6, 10**6) float64 (8 TB) in a 128-byte file is refused from the
    header alone: exit 2, one line, fast, nothing allocated (it used to die with _ArrayMemoryError).
    The same for an object dtype (never unpickled) and a non-real dtype."""
    path = files["dir"] / "h.npy"
    with open(path, "wb") as f:
        descr = {"object": "|O", "complex": "<c16"}.get(case, "<f8")
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False, "shape": (10**6, 10**6)})
    start = time.perf_counter()
    res = run_cli("select", "--embeddings", path, "--probs", files["P"], "--labeled", files["L"], "--batch-size", 2)
    assert time.perf_counter() - start < 30  # interpreter start-up included; nothing is allocated
    frag = {"huge-header": "truncated", "object": "pickled",
            "complex": "not numeric"}[case]
    assert_one_line_error(res, frag)


def test_round_bar_is_tqdm_on_a_tty_and_one_line_otherwise(monkeypatch):
    import io

    from bait_core.__main__ import _Bar

    class Tty(io.StringIO):
        def isatty(self):
            return True

    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    bar = _Bar("bait seed 0", 4)
    for i in range(1, 5):
        bar.update(i, f"round {i - 1} accuracy 0.9{i}")
    bar.close()
    text = tty.getvalue()
    assert "bait seed 0" in text and "4/4" in text and "round 3 accuracy 0.94" in text and "\r" in text
    plain = io.StringIO()
    monkeypatch.setattr(sys, "stderr", plain)
    bar = _Bar("bait seed 0", 4)
    bar.update(2, "round 1")
    assert plain.getvalue() == ""                                  # quiet until the run is done
    bar.update(4, "round 3")
    bar.close()
    assert plain.getvalue().count("\n") == 1 and plain.getvalue().startswith("bait seed 0 4/4")


def test_progress_lines_name_the_round_and_the_metric(tmp_path):
    """`run --no-save` and `compare` report "round r accuracy 0.xxx" (not a bare number), and a
    one-seed comparison says why it shows no spread or penalty matrix instead of "± nan"."""
    out = run_cli("run", "--data", "builtin:moons", "--model", "linear", "--rounds", "1", "--batch-size", "5",
                  "--initial", "10", "--no-save", "--out", tmp_path / "r.json")
    assert out.returncode == 0, out.stderr
    assert "round 1 accuracy" in out.stderr, out.stderr[-500:]          # (no terminal: the last state only)
    cmp = run_cli("compare", "--data", "builtin:moons", "--model", "linear", "--strategies", "random,entropy",
                  "--seeds", "1", "--rounds", "1", "--batch-size", "5", "--initial", "10", "--out", tmp_path / "c")
    assert cmp.returncode == 0, cmp.stderr
    assert "round 1 accuracy" in cmp.stderr, cmp.stderr[-500:]
    assert "nan" not in cmp.stdout and "(one seed)" in cmp.stdout and "--seeds 2 or more" in cmp.stdout


def test_compare_writes_each_run_as_it_finishes(tmp_path, monkeypatch, capsys):
    """Each run's record is written as it finishes (not all at the end), and a run that fails is
    reported in one sentence naming its strategy and seed while the others go on: exit status 1, the
    comparison of the runs that finished. (--executor sequential: the patched round engine is this
    process's; tests/test_executors.py fails a run inside worker processes.)"""
    import bait_core.__main__ as cli
    from bait_core.learning import compare as compare_mod

    real = compare_mod.run_rounds
    calls = {"n": 0}
    out = tmp_path / "c"

    def fail_on_second_run(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            assert (out / "random_seed0.json").is_file()           # the first run is on disk already
            raise ValueError("The second run broke.")
        return real(*a, **kw)

    monkeypatch.setattr(compare_mod, "run_rounds", fail_on_second_run)
    args = cli.build_parser().parse_args(["compare", "--data", "builtin:moons", "--model", "linear", "--strategies",
                                          "random,entropy", "--seeds", "2", "--rounds", "1", "--batch-size", "5",
                                          "--initial", "10", "--out", str(out), "--executor", "sequential"])
    assert args.func(args) == 1
    cap = capsys.readouterr()
    assert "failed: The run of entropy with seed 0 failed: The second run broke." in cap.err
    assert "1 of 4 runs failed" in cap.out and "failed: The run of entropy with seed 0" in cap.out
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["random_seed0.json", "random_seed1.json", "entropy_seed1.json", "comparison.json", "summary.csv",
         "curves.html"])
    comp = json.loads((out / "comparison.json").read_text())
    assert [(r["config"]["strategy"], r["config"]["seed"]) for r in comp["records"]] == [
        ("random", 0), ("random", 1), ("entropy", 1)]                 # plan order


def test_compare_fails_in_one_line_when_every_run_fails(tmp_path, monkeypatch, capsys):
    import bait_core.__main__ as cli
    from bait_core.learning import compare as compare_mod

    def broken(*a, **kw):
        raise ValueError("Nothing works.")
    monkeypatch.setattr(compare_mod, "run_rounds", broken)
    assert cli.main(["compare", "--data", "builtin:moons", "--model", "linear", "--strategies", "random", "--seeds",
                     "1", "--rounds", "1", "--out", str(tmp_path / "c"), "--executor", "sequential"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == ("error: every run of the comparison failed; the first: The run of random with seed 0 failed: "
                       "Nothing works.")
