"""AppTest of the background-job path the browser takes (no SYNC_JOBS): a click starts a job and the
page is drawn while it runs; the next run of the page after the job ends draws its result and
records that it did (JOB_ACK / COMPARE_ACK), so the polling fragment does not redraw it again.

The jobs are held at their start by a gate on Job._run, so "still running" and "ended" are states
the test chooses, not races against the clock."""

from __future__ import annotations

import threading

import pytest

import app_keys as AK
import app_session
from bait_core.learning.compare import Comparison
from bait_core.service.jobs import Job

from .app_helpers import assert_ok, open_app


@pytest.fixture
def gate(monkeypatch):
    """Started jobs wait until gate.set() before doing any work."""
    event = threading.Event()
    real_run = Job._run

    def held(self):
        event.wait(120)
        real_run(self)
    monkeypatch.setattr(Job, "_run", held)
    yield event
    event.set()                                     # never leave a worker waiting


def _end(job: Job, gate: threading.Event) -> None:
    gate.set()
    assert job.join(240), "the job did not end"
    assert job.status == "done", (job.status, job.error)


def test_round_job_is_drawn_running_then_its_round_once_it_ends(gate, monkeypatch):
    monkeypatch.setattr(app_session, "ROUND_WAIT_S", 0.0)    # the click does not wait for the round at all
    at = open_app(sync=False)
    assert not at.session_state[AK.SYNC_JOBS]
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    job = at.session_state[AK.JOB]
    assert job.running and at.session_state[AK.JOB_ACK] != id(job)
    # drawn while running: the progress panel, the buttons locked, no round yet
    assert len(at.get("progress")) == 1
    assert at.button(key="btn_run1").disabled and not at.button(key="btn_stop").disabled
    assert any("No rounds yet" in i.value for i in at.info)

    _end(job, gate)
    at.run()                                        # the rerun the polling fragment asks for
    assert_ok(at)
    assert at.session_state[AK.JOB_ACK] == id(job)
    assert [r.round for r in at.session_state[AK.EXPLORER].rounds] == [0]
    assert any("Round 0" in m.value for m in at.markdown)
    assert not any("No rounds yet" in i.value for i in at.info)
    assert not at.get("progress") and not at.button(key="btn_run1").disabled


def test_comparison_job_results_are_taken_once_when_it_ends(gate):
    at = open_app("app_pages/compare.py", sync=False, timeout=300)
    assert_ok(at)
    at.multiselect(key="cmp_strategies").set_value(["random", "margin"])
    at.number_input(key="cmp_seeds").set_value(1)
    at.number_input(key="cmp_rounds").set_value(1)
    at.button(key="btn_compare").click().run()
    assert_ok(at)
    job = at.session_state[AK.COMPARE_JOB]
    assert job.running and at.session_state[AK.COMPARE_ACK] != id(job)
    assert at.session_state[AK.COMPARISON] is None
    assert len(at.get("progress")) == 1 and not at.button(key="btn_compare_stop").disabled

    _end(job, gate)
    at.run()
    assert_ok(at)
    assert at.session_state[AK.COMPARE_ACK] == id(job)
    comp = at.session_state[AK.COMPARISON]
    assert comp is not None and sorted(comp.strategies) == ["margin", "random"]
    assert len(comp.records) == 2 and not at.get("progress")
    # acknowledged: a later run does not take the job's results again (here, over a comparison
    # the user opened since)
    opened = Comparison(records=comp.records[:1], plan=None)
    at.session_state[AK.COMPARISON] = opened
    at.run()
    assert_ok(at)
    assert at.session_state[AK.COMPARISON] is opened
