"""No round is ever lost, in a real browser (issue 9 items 7, 11, 12).

Every page URL as the first request of a fresh server → run 2 rounds → reload: the same run with 2
rounds → stop the server and start a new one on the same runs folder → Recent runs resumes it and a
third round runs → double-click "Run 1 round" → exactly one new round. Each server log is checked
for tracebacks. Skipped without Chromium unless CI is set (then it fails).
"""

from __future__ import annotations

import re
import shutil
import time

import pytest

from .conftest import SCREENSHOTS, require_browser
from .harness import OUTPUT, _free_port, chromium, running_app, tail
from .test_browser import wait_for as _wait

require_browser()

ROUND_TIMEOUT_S = 300
PAGES = ("setup", "rounds", "compare", "records", "walkthrough", "learn")


def _sidebar_round(page) -> int:
    m = re.search(r"Rounds run:\s*(\d+)", page.locator('[data-testid="stSidebar"]').inner_text())
    return int(m.group(1)) if m else -1


def _rounds_ready(page) -> None:
    run1 = page.get_by_role("button", name="Run 1 round")
    run1.wait_for(timeout=120_000)
    _wait(lambda: run1.is_enabled(), 120, "an enabled 'Run 1 round' button", page)


def _run_one(page, expect: int) -> None:
    page.get_by_role("button", name="Run 1 round").click()
    _wait(lambda: _sidebar_round(page) == expect and page.get_by_role("button", name="Run 1 round").is_enabled(),
          ROUND_TIMEOUT_S, f"round {expect} in the sidebar", page)


def _no_traceback(log_name: str) -> None:
    text = tail(OUTPUT / log_name, 200_000)
    assert "Traceback" not in text and "KeyError" not in text, text[-3000:]


def test_no_round_is_lost(timings):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    runs = OUTPUT / "runs-persistence"
    shutil.rmtree(runs, ignore_errors=True)
    env = {"BAIT_EXPLORER_RUNS_DIR": str(runs)}
    port = _free_port()
    with chromium() as browser:
        with running_app("streamlit-persist-1.log", env_extra=env, port=port) as url:
            # every page URL as the very first request of this fresh server (deep links)
            for name in PAGES:
                ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
                pg = ctx.new_page()
                pg.goto(f"{url}/{name}", wait_until="domcontentloaded")
                pg.locator('[data-testid="stSidebar"]').get_by_text("Current run").wait_for(timeout=120_000)
                pg.wait_for_timeout(1500)
                assert pg.locator('[data-testid="stException"]').count() == 0, name
                ctx.close()
            _no_traceback("streamlit-persist-1.log")

            ctx = browser.new_context(viewport={"width": 1400, "height": 1200})
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(url, wait_until="domcontentloaded")
            _rounds_ready(page)
            _run_one(page, 1)
            _run_one(page, 2)
            _wait(lambda: "run=" in page.url, 30, "the run id in the URL", page)
            run_id = re.search(r"run=([^&]+)", page.url).group(1)

            t0 = time.perf_counter()
            page.reload(wait_until="domcontentloaded")                 # reload: the same run is back
            _rounds_ready(page)
            assert _sidebar_round(page) == 2
            page.get_by_text(re.compile(r"Round 1\b.*of 2")).first.wait_for(timeout=30_000)
            timings["reload_to_run_s"] = time.perf_counter() - t0
            ctx.close()
        _no_traceback("streamlit-persist-1.log")

        # a new server on the same runs folder: Recent runs resumes the run, a third round runs
        with running_app("streamlit-persist-2.log", env_extra=env, port=port) as url:
            ctx = browser.new_context(viewport={"width": 1400, "height": 1200})
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"{url}/records", wait_until="domcontentloaded")
            page.get_by_role("heading", name="Recent runs").wait_for(timeout=120_000)
            page.get_by_text(run_id).first.wait_for(state="attached", timeout=30_000)   # a canvas grid cell
            page.get_by_role("button", name="Resume this run").click()
            page.get_by_role("heading", name="Rounds").first.wait_for(timeout=60_000)
            _rounds_ready(page)
            assert _sidebar_round(page) == 2
            page.screenshot(path=str(SCREENSHOTS / "resumed.png"), full_page=False)
            _run_one(page, 3)

            # double click → one new round. A real double click (two clicks 50 ms apart: both reach the
            # server before the round can end; a second click 0.3 s later could legitimately start a second
            # round when a warm round takes less than that)
            run1 = page.get_by_role("button", name="Run 1 round")
            run1.dblclick(delay=10)
            _wait(lambda: _sidebar_round(page) >= 4 and run1.is_enabled(), ROUND_TIMEOUT_S, "round 4", page)
            page.wait_for_timeout(3000)                              # a second job would add round 5 by now
            assert _sidebar_round(page) == 4
            ctx.close()
        _no_traceback("streamlit-persist-2.log")

    from bait_core.records.run_record import RunRecord
    rec = RunRecord.load(runs / run_id / "record.json")
    assert [r.round for r in rec.rounds] == [0, 1, 2, 3]
    for r in rec.rounds:
        if r.selection is not None:
            assert len(set(r.selection.indices.tolist())) == len(r.selection.indices)
