"""The round generator, run records (JSON round trip, schema checks, CSV) and the run/compare CLI."""

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bait_core.learning.data import load_builtin
from bait_core.records.run_record import SCHEMA_VERSION, RunConfig, RunRecord
from bait_core.learning.loop import run, run_rounds
from bait_core.learning.models import build_model

ROOT = Path(__file__).resolve().parents[1]


def test_rounds_grow_the_labeled_set_by_the_picks(moons, small_config):
    cfg = small_config()
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    t0 = time.perf_counter()
    rounds = list(run_rounds(moons, model, cfg))
    wall = time.perf_counter() - t0
    assert len(rounds) == cfg.rounds + 1 and rounds[-1].is_final and rounds[-1].selection is None
    for a, b in zip(rounds, rounds[1:]):
        picked = a.selection.indices
        assert len(picked) == cfg.batch_size and not a.labeled_before[picked].any()
        expected = a.labeled_before.copy()
        expected[picked] = True
        np.testing.assert_array_equal(b.labeled_before, expected)
        assert b.n_labeled == a.n_labeled + cfg.batch_size
    r0 = rounds[0]
    assert r0.n_labeled == cfg.initial and r0.metric_name == "accuracy" and 0 <= r0.metric <= 1
    assert set(r0.times) == {"train", "outputs", "select"}
    # durations of this run's stages: the selection inside "select", all of them inside the run
    assert r0.selection.timings["total"] <= r0.times["select"]
    assert sum(sum(r.times.values()) for r in rounds) <= wall
    assert r0.device == "CPU" and sum(r0.class_counts) == cfg.initial
    assert sum(r0.picked_class_counts) == cfg.batch_size
    assert r0.selection.objective.size == 2 * cfg.batch_size + cfg.batch_size + 1
    assert r0.predictions.shape == (moons.X.shape[0],) and r0.confidence.shape == (moons.X.shape[0],)
    assert r0.embeddings.shape == (moons.X.shape[0], 128)


def test_same_seed_same_run_and_different_seed_differs(moons, small_config):
    a = run(small_config(), dataset=moons)
    b = run(small_config(), dataset=moons)
    c = run(small_config(seed=1), dataset=moons)
    for ra, rb in zip(a.rounds, b.rounds):
        np.testing.assert_array_equal(ra.labeled_before, rb.labeled_before)
        assert ra.metric == rb.metric
        if ra.selection is not None:
            np.testing.assert_array_equal(ra.selection.indices, rb.selection.indices)
    assert not np.array_equal(a.rounds[0].labeled_before, c.rounds[0].labeled_before)


def test_record_round_trip_and_csv(moons, tmp_path, small_config):
    rec = run(small_config(strategy="badge"), dataset=moons)
    path = rec.save(tmp_path / "run.json")
    back = RunRecord.load(path)
    assert back.config == rec.config and back.dataset == rec.dataset and back.model == rec.model
    assert back.schema_version == SCHEMA_VERSION and back.library_version == rec.library_version
    assert len(back.rounds) == len(rec.rounds)
    for ra, rb in zip(rec.rounds, back.rounds):
        np.testing.assert_array_equal(ra.labeled_before, rb.labeled_before)
        np.testing.assert_array_equal(ra.predictions, rb.predictions)
        assert ra.metric == rb.metric and ra.n_labeled == rb.n_labeled
        if ra.selection is not None:
            np.testing.assert_array_equal(ra.selection.indices, rb.selection.indices)
            np.testing.assert_allclose(ra.selection.gains, rb.selection.gains)
            np.testing.assert_allclose(ra.selection.scores, rb.selection.scores, equal_nan=True)
    assert back.auc() == pytest.approx(rec.auc())
    lines = rec.metrics_csv().strip().splitlines()
    assert lines[0].startswith("round,n_labeled,accuracy") and len(lines) == len(rec.rounds) + 1
    picks = rec.picks_csv().strip().splitlines()
    assert len(picks) == 1 + rec.config.rounds * rec.config.batch_size


def test_bait_record_keeps_the_objective_trace(moons, small_config):
    rec = run(small_config(rounds=1), dataset=moons)
    back = RunRecord.from_json(rec.to_json())
    s, t = rec.rounds[0].selection, back.rounds[0].selection
    np.testing.assert_allclose(s.objective, t.objective)
    np.testing.assert_array_equal(s.pruned, t.pruned)
    assert t.n_forward == s.n_forward


def test_records_from_newer_or_broken_schema_are_refused(moons, small_config):
    d = run(small_config(rounds=1), dataset=moons).to_dict()
    newer = dict(d, schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(ValueError, match="newer"):
        RunRecord.from_dict(newer)
    broken = dict(d)
    del broken["rounds"]
    with pytest.raises(ValueError, match="broken"):
        RunRecord.from_dict(broken)
    with pytest.raises(ValueError, match="not valid JSON"):
        RunRecord.from_json("{not json")
    with pytest.raises(ValueError, match="not a BAIT Explorer run record"):
        RunRecord.from_dict({"hello": 1})


def test_bad_configs_say_what_is_wrong(moons, small_config):
    with pytest.raises(ValueError, match="Unknown strategy"):
        run(small_config(strategy="nope"), dataset=moons)
    with pytest.raises(ValueError, match="initial"):
        run(small_config(initial=10_000), dataset=moons)
    with pytest.raises(ValueError, match="batch size"):
        run(small_config(batch_size=0), dataset=moons)
    with pytest.raises(ValueError, match="preset"):
        run(small_config(preset="slow"), dataset=moons)


def test_regression_runs_bait_and_refuses_probability_strategies():
    ds = load_builtin("diabetes", seed=0)
    rec = run(RunConfig(data="builtin:diabetes", model="mlp", strategy="bait", rounds=2, batch_size=5,
                        initial=20, seed=0, device="cpu"), dataset=ds)
    assert rec.rounds[0].metric_name == "rmse" and np.isfinite(rec.rounds[-1].metric)
    assert rec.rounds[0].confidence is None
    with pytest.raises(ValueError, match="probabilities"):
        run(RunConfig(data="builtin:diabetes", strategy="entropy", device="cpu"), dataset=ds)


def test_points_without_labels_can_be_picked_but_are_not_trained_on(moons, small_config):
    y = moons.y.copy()
    missing = np.arange(0, moons.X.shape[0], 2)
    y[missing] = -1
    ds = replace(moons, y=y)
    rec = run(small_config(strategy="random", rounds=3, batch_size=20), dataset=ds)
    for r in rec.rounds:
        assert r.n_labeled == int((r.labeled_before & (y >= 0)).sum())
    assert not rec.rounds[0].labeled_before[missing].any()        # the initial set has labels


def _cli(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "bait_core", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=600, env=env)


def test_cli_run_writes_a_record_that_loads(tmp_path):
    out = tmp_path / "run.json"
    p = _cli("run", "--data", "builtin:moons", "--model", "linear", "--strategy", "bait", "--rounds", "2",
             "--batch-size", "5", "--initial", "10", "--seed", "0", "--out", str(out),
             "--metrics-csv", str(tmp_path / "m.csv"))
    assert p.returncode == 0, p.stderr
    rec = RunRecord.load(out)
    assert len(rec.rounds) == 3 and rec.config.strategy == "bait"
    assert "learning-curve AUC" in p.stdout
    assert (tmp_path / "m.csv").read_text().count("\n") == 4


def test_cli_compare_writes_records_and_summary(tmp_path):
    p = _cli("compare", "--data", "builtin:moons", "--model", "linear", "--strategies", "bait,random",
             "--seeds", "2", "--rounds", "1", "--batch-size", "5", "--initial", "10", "--out", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in tmp_path.glob("*.json")) == [
        "bait_seed0.json", "bait_seed1.json", "comparison.json", "random_seed0.json", "random_seed1.json"]
    from bait_core.learning.compare import Comparison
    comp = Comparison.from_json((tmp_path / "comparison.json").read_text())
    assert comp.strategies == ["bait", "random"] and comp.seeds == [0, 1]
    assert "penalty matrix column means" in p.stdout
    summary = (tmp_path / "summary.csv").read_text().splitlines()
    assert summary[0] == "strategy,runs,auc_mean,auc_std,final_mean" and len(summary) == 3
    assert (tmp_path / "curves.html").stat().st_size > 1000
    assert "±" in p.stdout


@pytest.mark.parametrize("args,needle", [
    (["--data", "builtin:nosuch"], "nosuch"),
    (["--data", "missing.csv"], "not found"),
    (["--data", "builtin:moons", "--strategy", "nope"], "nope"),
    (["--data", "builtin:moons", "--initial", "0"], "initial"),
])
def test_cli_run_bad_input_is_one_line_exit_2(args, needle, tmp_path):
    p = _cli("run", *args, "--rounds", "1", cwd=tmp_path if "missing.csv" in args else ROOT)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0]
    assert "Traceback" not in p.stderr
