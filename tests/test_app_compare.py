"""AppTest for the Compare page: a small comparison runs and draws its views; bad files are errors."""

import json

from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc

from .app_helpers import assert_ok, open_app



def _compare_page() -> AppTest:
    at = open_app("app_pages/compare.py", timeout=300)
    assert_ok(at)
    return at


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_compare_runs_and_draws_curves_penalty_and_first_picks():
    at = _compare_page()
    assert any("No comparison yet" in i.value for i in at.info)
    at.multiselect(key="cmp_strategies").set_value(["bait", "random"])
    at.number_input(key="cmp_seeds").set_value(2)
    at.number_input(key="cmp_rounds").set_value(2)
    at.button(key="btn_compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    comp = at.session_state[AK.COMPARISON]
    assert comp is not None and comp.strategies == ["bait", "random"] and comp.seeds == [0, 1]
    assert all(len(r.rounds) == 3 for r in comp.records)               # 2 rounds + final evaluation
    assert len(_charts(at)) >= 3                                        # curves, penalty matrix, first picks
    assert any("penalty" in s.value.lower() for s in at.subheader)
    assert any("AUC" in str(df.value.columns.tolist()) for df in at.dataframe)
    # the same start for both strategies of a seed
    a, b = comp.record("bait", 1), comp.record("random", 1)
    assert (a.rounds[0].labeled_before == b.rounds[0].labeled_before).all()
    assert a.rounds[0].metric == b.rounds[0].metric


def test_compare_bad_plan_shows_error_and_keeps_results():
    at = _compare_page()
    at.multiselect(key="cmp_strategies").set_value([])
    at.button(key="btn_compare").click().run()
    assert not at.exception
    assert any("at least one strategy" in e.value for e in at.error)
    assert at.session_state[AK.COMPARISON] is None


def test_open_comparison_files():
    """The helper behind the page's uploader: a comparison JSON, several run records, bad input."""
    import pytest

    from bait_core.learning.compare import Comparison
    from bait_core.learning.loop import run
    from bait_core.records.run_record import RunConfig
    recs = [run(RunConfig(data="builtin:moons", model="linear", strategy=s, rounds=1, batch_size=5, initial=10,
                            seed=seed, device="cpu")) for s in ("bait", "random") for seed in (0, 1)]
    comp = svc.open_comparison([(f"{r.config.strategy}_seed{r.config.seed}.json", r.to_json().encode()) for r in recs])
    assert comp.strategies == ["bait", "random"] and comp.seeds == [0, 1]
    again = svc.open_comparison([("comparison.json", comp.to_json().encode())])
    assert isinstance(again, Comparison) and len(again.records) == 4
    with pytest.raises(ValueError, match="not valid JSON"):
        svc.open_comparison([("x.json", b"{")])
    with pytest.raises(ValueError, match="x.json"):
        svc.open_comparison([("a.json", recs[0].to_json().encode()), ("x.json", json.dumps({"kind": "nope"}).encode())])


# --- where the runs execute ("Run on") and the seeds default (issue 15) ---------------------------------

def _set_small_plan(at: AppTest, strategies: list[str], seeds: int = 2, rounds: int = 2) -> None:
    at.multiselect(key="cmp_strategies").set_value(strategies)
    at.number_input(key="cmp_seeds").set_value(seeds)
    at.number_input(key="cmp_rounds").set_value(rounds)
    at.number_input(key="cmp_batch").set_value(5)
    at.number_input(key="cmp_initial").set_value(10)


def _picks_and_aucs(comp) -> dict:
    """Per run: every round's labeled-before set, picks and metric, and the run's AUC."""
    import numpy as np
    return {(r.config.strategy, r.config.seed): (
        [(np.flatnonzero(x.labeled_before).tolist(),
          None if x.selection is None else np.asarray(x.selection.indices).tolist(), x.metric) for x in r.rounds],
        r.auc()) for r in comp.records}


def test_seeds_default_to_enough_and_fewer_say_what_the_t_test_can_detect():
    from bait_core.learning.compare import DEFAULT_SEEDS, seeds_note
    at = _compare_page()
    assert at.number_input(key="cmp_seeds").value == DEFAULT_SEEDS == 5
    assert not any("degree" in i.value for i in at.info)                 # 5 seeds: no note
    assert any("= 15 runs of 11 rounds each" in c.value for c in at.caption)   # 3 strategies × 5 seeds, 10 rounds
    at.number_input(key="cmp_seeds").set_value(2).run()
    assert_ok(at)
    assert seeds_note(2) in [i.value for i in at.info]
    assert "1 degree of freedom" in seeds_note(2) and "8.98" in seeds_note(2)


def test_worker_processes_give_the_same_comparison_as_this_process():
    at = _compare_page()
    assert at.radio(key="cmp_run_on").value == "processes"               # 2 cores here, a built-in model
    _set_small_plan(at, ["bait", "random"])
    at.radio(key="cmp_run_on").set_value("sequential")
    at.button(key="btn_compare").click().run()
    assert_ok(at)
    seq = at.session_state[AK.COMPARISON]
    assert at.session_state[AK.COMPARE_JOB].message.startswith("Run 4 of 4 (random, seed 1): round 3 of 3")
    at.radio(key="cmp_run_on").set_value("processes")
    at.button(key="btn_compare").click().run()
    assert_ok(at)
    job = at.session_state[AK.COMPARE_JOB]
    par = at.session_state[AK.COMPARISON]
    assert par is not seq and job.status == "done"
    assert "4 of 4 finished on processes: 2 worker processes × 1 CPU thread" in job.message
    assert [(r.config.strategy, r.config.seed) for r in par.records] == \
        [(r.config.strategy, r.config.seed) for r in seq.records]         # plan order, whatever finished first
    assert _picks_and_aucs(par) == _picks_and_aucs(seq)
    assert all(v["status"] == "done" for v in job.items.values())
    assert len(_charts(at)) >= 3 and not at.warning


def test_a_failed_run_is_shown_and_the_others_finish(monkeypatch):
    from tests.test_executors import _fails_for_entropy_seed_1
    monkeypatch.setattr(svc, "COMPARE_RUN_FN", _fails_for_entropy_seed_1)   # module-level: workers import it
    at = _compare_page()
    _set_small_plan(at, ["entropy", "random"])
    at.button(key="btn_compare").click().run()
    assert_ok(at)
    job = at.session_state[AK.COMPARE_JOB]
    assert job.status == "done"
    status = {k: v["status"] for k, v in job.items.items()}
    assert status[("entropy", 1)].startswith("failed: The run of entropy with seed 1 failed: RuntimeError: injected")
    assert [s for k, s in status.items() if k != ("entropy", 1)] == ["done"] * 3
    comp = at.session_state[AK.COMPARISON]
    assert sorted((r.config.strategy, r.config.seed) for r in comp.records) == \
        [("entropy", 0), ("random", 0), ("random", 1)]
    assert any("1 run failed" in w.value and "entropy with seed 1" in w.value for w in at.warning)
    assert not at.error and len(_charts(at)) >= 1


def test_without_ray_the_choice_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(svc, "ray_available", lambda: False)
    at = _compare_page()
    assert at.radio(key="cmp_run_on").options == ["this process (one run at a time)", "worker processes (2 cores)"]
    assert any("requirements-ray.txt" in c.value and "not installed" in c.value for c in at.caption)


def test_with_ray_it_is_offered_with_an_address_field(monkeypatch):
    monkeypatch.setattr(svc, "ray_available", lambda: True)
    at = _compare_page()
    assert "Ray" in at.radio(key="cmp_run_on").options
    assert not at.text_input
    at.radio(key="cmp_run_on").set_value("ray").run()
    assert_ok(at)
    assert at.text_input(key="cmp_ray_address").value == ""
    assert any("on ray: 2 tasks at a time × 1 CPU thread on a local Ray instance" in c.value for c in at.caption)


def test_a_model_that_cannot_be_pickled_defaults_to_this_process_and_says_why(monkeypatch):
    monkeypatch.setattr(svc, "unpicklable_reason", lambda ex: "TypeError: cannot pickle 'generator' object")
    at = _compare_page()
    assert at.radio(key="cmp_run_on").value == "sequential"
    assert any("cannot be sent to worker processes (TypeError: cannot pickle 'generator' object)" in c.value
               for c in at.caption)
    at.radio(key="cmp_run_on").set_value("processes")
    at.button(key="btn_compare").click().run()
    assert_ok(at)
    assert any("cannot be sent to worker processes" in e.value for e in at.error)
    assert at.session_state[AK.COMPARE_JOB] is None                      # refused before any job started


def test_unpicklable_reason_and_the_default_on_one_core(monkeypatch):
    import torch

    import bait_core.common.threads as threads
    from types import SimpleNamespace
    ok = SimpleNamespace(model=torch.nn.Linear(2, 2))
    bad_model = torch.nn.Linear(2, 2)
    bad_model.hook = lambda x: x                                          # a lambda cannot be pickled
    bad = SimpleNamespace(model=bad_model)
    assert svc.unpicklable_reason(ok) is None
    assert "lambda" in svc.unpicklable_reason(bad)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    assert svc.default_run_on(ok)[0] == "processes"
    choice, why = svc.default_run_on(bad)
    assert choice == "sequential" and "cannot be sent to worker processes" in why
    monkeypatch.setattr(threads, "usable_cores", lambda: 1)
    assert svc.default_run_on(ok) == ("sequential", "This process may use 1 CPU core, so worker processes would "
                                                    "not run anything sooner.")


def test_compare_estimate_from_the_sessions_measured_rounds():
    from dataclasses import replace
    from types import SimpleNamespace

    from bait_core.learning.compare import ComparePlan
    from bait_core.records.run_record import RunConfig
    plan = ComparePlan(base=RunConfig(data="builtin:digits", model="mlp", strategy="bait", rounds=9),
                       strategies=("bait", "random"), seeds=(0, 1, 2))
    rounds = [SimpleNamespace(times={"train": 0.5, "outputs": 0.1, "select": 0.4})] * 2
    ex = SimpleNamespace(rounds=rounds, config=SimpleNamespace(strategy="bait"))
    # 6 runs × 10 rounds × 1.0 s, 2 at a time: 30 s
    assert svc.compare_estimate(ex, plan, 2).startswith("about 30 s at best, from this session's 2 measured rounds "
                                                        "(1.00 s each with bait")
    assert svc.compare_estimate(ex, plan, 1).startswith("about 60 s at best")
    assert svc.compare_estimate(ex, replace(plan, seeds=tuple(range(6))), 1).startswith("about 2.0 min at best")
    assert svc.compare_estimate(SimpleNamespace(rounds=[], config=ex.config), plan, 2) is None


def _random_runs_entropy_waits_for_stop(config, dataset, model, should_stop=None):
    """The test hook (run_fn): random is the real run; entropy waits (up to 60 s) until asked to stop."""
    import time

    from bait_core.learning.compare import run_record
    if config.strategy == "random":
        return run_record(config, dataset, model, should_stop=should_stop)
    end = time.monotonic() + 60
    while time.monotonic() < end and not (should_stop and should_stop()):
        time.sleep(0.05)
    return None


def test_stop_on_worker_processes_keeps_the_finished_runs():
    import time

    from bait_core.service.executors import check_executor
    from bait_core.service.jobs import Job
    from tests.test_executors import PLAN, _build, _load
    from dataclasses import replace
    plan = replace(PLAN, strategies=("random", "entropy"), seeds=(0,))
    job = Job(name="comparison", fn=svc._compare_worker(plan, _load, _build, check_executor("processes", workers=2),
                                                       _random_runs_entropy_waits_for_stop), context=plan).start()
    end = time.monotonic() + 120
    while job.items.get(("random", 0), {}).get("status") != "done" and time.monotonic() < end:
        time.sleep(0.1)
    assert job.items[("random", 0)]["status"] == "done" and job.running      # entropy still out on a worker
    job.cancel()
    assert job.join(30)
    assert job.status == "cancelled" and job.items[("entropy", 0)]["status"] == "stopped"
    assert [(r.config.strategy, r.config.seed) for r in svc.comparison_of(job).records] == [("random", 0)]
