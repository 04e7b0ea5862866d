"""Explorer (one round at a time, read-only records) and background Jobs."""

import time

import numpy as np
import pytest

from bait_core.learning.data import load_builtin
from bait_core.service.explorer import Explorer
from bait_core.service.jobs import Job
from bait_core.records.run_record import RunRecord
from bait_core.learning.loop import run
from bait_core.learning.models import build_model


def _explorer(ds, make_config, **kw):
    cfg = make_config(**kw)
    return Explorer.start(ds, build_model("mlp", ds.input_shape, len(ds.classes), seed=cfg.seed), cfg)


def test_stepping_matches_the_batch_loop(moons, small_config):
    ex = _explorer(moons, small_config)
    for _ in range(3):
        ex.step()
    ex.evaluate()
    batch = run(small_config(), dataset=moons)
    assert len(ex.rounds) == len(batch.rounds) == 4 and ex.finished
    for a, b in zip(ex.rounds, batch.rounds):
        np.testing.assert_array_equal(a.labeled_before, b.labeled_before)
        assert a.metric == b.metric
        if a.selection is not None:
            np.testing.assert_array_equal(a.selection.indices, b.selection.indices)
    assert ex.n_labeled == 10 + 3 * 5
    with pytest.raises(ValueError, match="finished"):
        ex.step()


def test_reset_returns_to_round_zero_with_the_same_initial_set(moons, small_config):
    ex = _explorer(moons, small_config)
    first = ex.step()
    ex2 = ex.reset()
    assert ex2.rounds == [] and ex2.n_labeled == 10
    np.testing.assert_array_equal(ex2.mask, first.labeled_before)
    again = ex2.step()
    np.testing.assert_array_equal(again.selection.indices, first.selection.indices)


def test_a_saved_record_opens_read_only(moons, tmp_path, small_config):
    ex = _explorer(moons, small_config)
    ex.step()
    ex.step()
    path = ex.record.save(tmp_path / "r.json")
    view = Explorer.from_record(RunRecord.load(path), dataset=moons)
    assert view.read_only and len(view.rounds) == 2 and view.n_labeled == ex.n_labeled
    np.testing.assert_array_equal(view.mask, ex.mask)
    with pytest.raises(ValueError, match="read-only"):
        view.step()
    other = load_builtin("moons", seed=1, n_points=300)
    with pytest.raises(ValueError, match="not the one this run used"):
        Explorer.from_record(RunRecord.load(path), dataset=other)


def test_record_of_a_builtin_reloads_its_dataset(small_config):
    ds = load_builtin("moons", seed=0)
    rec = run(small_config(rounds=1), dataset=ds)
    view = Explorer.from_record(RunRecord.from_json(rec.to_json()))
    assert view.dataset.fingerprint == ds.fingerprint


def test_job_runs_reports_and_finishes():
    def work(job):
        for i in range(5):
            job.report("step", i + 1, 5, float(i))
            job.trace_point(10 - i, reset=(i == 0))
            job.add_result(i)
            job.set_item(i % 2, run=i % 2, last=i)
    job = Job("demo", work).start()
    assert job.join(10)
    snap = job.snapshot()
    assert snap.status == "done" and snap.done == 5 and snap.n_results == 5
    assert snap.trace == (10.0, 9.0, 8.0, 7.0, 6.0) and job.results == [0, 1, 2, 3, 4]
    assert snap.items == ({"run": 0, "last": 4}, {"run": 1, "last": 3})


def test_job_can_be_cancelled_and_keeps_errors():
    def slow(job):
        while not job.cancelled:
            time.sleep(0.01)
    job = Job("slow", slow).start()
    time.sleep(0.05)
    assert job.snapshot().status == "running"
    job.cancel()
    assert job.join(5) and job.snapshot().status == "cancelled"

    def bad(job):
        raise ValueError("batch size 0 is not allowed")
    job = Job("bad", bad).start()
    job.join(5)
    assert job.snapshot().status == "error" and job.snapshot().error == "batch size 0 is not allowed"

    def bug(job):
        raise KeyError("x")
    job = Job("bug", bug).start()
    job.join(5)
    assert job.status == "error" and "KeyError" in job.error and "Traceback" in job.error_detail


def test_stopping_a_step_changes_nothing(moons, small_config):
    ex = _explorer(moons, small_config)
    before = ex.mask.copy()
    assert ex.step(should_stop=lambda: True) is None
    assert ex.rounds == [] and np.array_equal(ex.mask, before)


def test_latest_round_keeps_pool_probabilities_in_memory_only(moons, small_config):
    ex = _explorer(moons, small_config)
    ex.step()
    assert ex.last_probs.shape == (moons.X.shape[0], len(moons.classes))
    np.testing.assert_allclose(ex.last_probs.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(ex.last_probs.argmax(1), ex.rounds[-1].predictions)
    assert ex.rounds[-1].probs is None and "probs" not in RunRecord.from_json(ex.record.to_json()).to_dict()["rounds"][0]


def test_step_stops_at_the_configured_rounds():
    """A run set up for 1 round takes 1 selection round; a second step() is a sentence, not a record
    that claims more rounds than its config; evaluate() still adds the final round."""
    from bait_core.learning.data import load_builtin
    from bait_core.learning.models import build_model
    from bait_core.records.run_record import RunConfig
    from bait_core.service.explorer import Explorer

    ds = load_builtin("moons", seed=0)
    cfg = RunConfig(data="builtin:moons", model="linear", strategy="random", rounds=1, batch_size=5, initial=10)
    ex = Explorer.start(ds, build_model("linear", ds.input_shape, 2, seed=0), cfg)
    ex.step()
    with pytest.raises(ValueError, match="All 1 selection rounds"):
        ex.step()
    assert ex.evaluate().is_final and len(ex.rounds) == 2
