"""The app in a real browser (Debian Chromium via Playwright): one user session, step by step.

Open the Rounds page → run one round and wait for the map → box-select on the map and inspect →
download the run record → visit Setup → come back to Rounds (map drawn again).  Screenshots go to
test-output/screenshots/; the measured times are printed as one ``BROWSER-TIMING`` line.

The tests share one tab and run in file order (each step starts where the previous one left off).
Skipped when /usr/bin/chromium is missing, unless the environment variable CI is set (then they fail).
"""

from __future__ import annotations

import json
import re
import time

import pytest

from .conftest import SCREENSHOTS, require_browser
from .harness import run_compare, selected_strategies

require_browser()

ROUND_TIMEOUT_S = 300           # one round of the default run (digits, mlp, bait) on a slow CI box

# The pool map: the Plotly chart whose traces are scattergl; returns its drawn state and a signature
# (title + trace names/sizes) that changes when the map is redrawn for a new round.
_MAP_JS = """
() => {
  const gds = [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')];
  let best = null, bestN = -1, bestI = -1;
  gds.forEach((gd, i) => {
    const full = gd._fullData || [];
    const n = full.reduce((s, t) => s + (t._length || 0), 0);
    if (full.some(t => t.type === 'scattergl') && n > bestN) { best = gd; bestN = n; bestI = i; }
  });
  if (!best) return null;
  const lay = best._fullLayout || {};
  const title = lay.title && lay.title.text ? lay.title.text : '';
  const drag = best.querySelector('.nsewdrag');
  const r = drag ? drag.getBoundingClientRect() : null;
  return {
    index: bestI, points: bestN, title: title,
    drawn: !!best.querySelector('.main-svg') && !!best.querySelector('canvas') && bestN > 0,
    sig: JSON.stringify([title, (best._fullData || []).map(t => [t.name, t._length || 0])]),
    drag: r ? {x: r.x, y: r.y, w: r.width, h: r.height} : null,
  };
}
"""


def map_state(page):
    return page.evaluate(_MAP_JS)


def wait_for(pred, timeout_s: float, what: str, page, poll_ms: int = 100):
    """Poll ``pred()`` until truthy; fail with ``what`` (and a screenshot) after ``timeout_s``. A
    locator error while Streamlit swaps a rerun's elements in (the old and the new button both present
    for a moment: a strict-mode violation) counts as "not yet"."""
    from playwright.sync_api import Error as PlaywrightError

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            v = pred()
        except PlaywrightError:
            v = None
        if v:
            return v
        if time.monotonic() > deadline:
            page.screenshot(path=str(SCREENSHOTS / "failure.png"), full_page=True)
            pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what} "
                        f"(screenshot: test-output/screenshots/failure.png)", pytrace=False)
        page.wait_for_timeout(poll_ms)


def running(page) -> bool:
    """True while Streamlit shows its 'running' indicator."""
    return page.locator('[data-testid="stStatusWidget"]').count() > 0


def wait_idle(page, timeout_s: float = 60, quiet_s: float = 0.6) -> None:
    """Wait until the script has not been running for ``quiet_s`` seconds in a row."""
    deadline = time.monotonic() + timeout_s
    quiet_since = None
    while time.monotonic() < deadline:
        if running(page):
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        page.wait_for_timeout(100)


def stop_enabled(page) -> bool:
    stop = page.get_by_role("button", name="Stop", exact=True)
    return stop.count() > 0 and stop.first.is_enabled()


def test_open_rounds_page(page, app_url, timings):
    t0 = time.perf_counter()
    page.goto(app_url, wait_until="domcontentloaded")
    page.get_by_role("heading", name="Rounds").first.wait_for(timeout=120_000)
    run1 = page.get_by_role("button", name="Run 1 round")
    run1.wait_for(timeout=120_000)
    wait_for(lambda: run1.is_enabled(), 120, "an enabled 'Run 1 round' button", page)
    timings["open_to_page_s"] = time.perf_counter() - t0
    st = map_state(page)
    if st and st["drawn"]:                       # a run that already has rounds shows its map at once
        timings["open_to_map_s"] = time.perf_counter() - t0
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "rounds-initial.png"), full_page=True)


def test_run_one_round_redraws_the_map(page, timings):
    before = map_state(page)
    before_sig = before["sig"] if before else None
    run1 = page.get_by_role("button", name="Run 1 round")
    t0 = time.perf_counter()
    run1.click()

    def redrawn():
        st = map_state(page)
        return (st is not None and st["drawn"] and st["sig"] != before_sig
                and not stop_enabled(page) and st)

    st = wait_for(redrawn, ROUND_TIMEOUT_S, "the map to be redrawn after 'Run 1 round'", page)
    timings["round_click_to_redraw_s"] = time.perf_counter() - t0
    print(f"map after one round: {st['title']!r}, {st['points']} markers")
    # the round's summary line, e.g. "Round 0 of 1: trained on 20 labels → test accuracy 0.71"
    page.get_by_text(re.compile(r"Round \d+ of 1\b")).first.wait_for(timeout=30_000)
    assert re.search(r"round \d+", st["title"], re.I), st["title"]
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "rounds-after-round.png"), full_page=True)


def test_box_select_fills_inspect(page):
    st = map_state(page)
    assert st and st["drag"], "no map plot area to select on"
    chart = page.locator(".stPlotlyChart").nth(st["index"])
    chart.scroll_into_view_if_needed()
    st = map_state(page)                          # coordinates after scrolling
    d = st["drag"]
    page.mouse.move(d["x"] + d["w"] / 2, d["y"] + d["h"] / 2)          # shows the modebar
    box_tool = chart.locator('.modebar-btn[data-val="select"]')
    box_tool.first.click(force=True)
    page.mouse.move(d["x"] + d["w"] * 0.25, d["y"] + d["h"] * 0.25)     # the dense middle of the map
    page.mouse.down()
    page.mouse.move(d["x"] + d["w"] * 0.75, d["y"] + d["h"] * 0.75, steps=25)
    page.mouse.up()
    selected = page.get_by_text(re.compile(r"\d+ point\(s\) selected on the map"))
    selected.first.wait_for(timeout=60_000)
    n = int(re.match(r"(\d+)", selected.first.inner_text()).group(1))
    assert 0 < n < st["points"]
    # the Inspect section describes one point: its label, prediction and status in the round
    page.get_by_text("True label").first.wait_for(timeout=30_000)
    page.get_by_text(re.compile(r"Status in round \d+")).first.wait_for(timeout=30_000)
    wait_idle(page)
    page.get_by_role("heading", name="Inspect").first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "rounds-inspect.png"))      # Streamlit scrolls inside the app
    print(f"box selection: {n} point(s)")


def test_download_run_record(page):
    button = page.get_by_role("button", name="Download run record (JSON)")
    button.scroll_into_view_if_needed()
    with page.expect_download(timeout=60_000) as info:
        button.click()
    download = info.value
    path = download.path()
    with open(path, encoding="utf-8") as f:
        record = json.load(f)
    assert record["kind"] == "bait-explorer-run"
    assert download.suggested_filename.endswith(".json")
    assert len(record.get("rounds", [])) >= 1


def test_setup_page(page):
    page.get_by_role("link", name=re.compile(r"Setup")).first.click()
    page.get_by_role("heading", name="Setup").first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Apply setup").wait_for(timeout=60_000)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "setup.png"), full_page=True)


def test_back_to_rounds_draws_the_map(page, timings):
    t0 = time.perf_counter()
    page.get_by_role("link", name=re.compile(r"Rounds")).first.click()
    wait_for(lambda: (st := map_state(page)) is not None and st["drawn"], 120,
             "the map on returning to Rounds", page)
    timings.setdefault("open_to_map_s", time.perf_counter() - t0)
    timings["nav_to_map_s"] = time.perf_counter() - t0
    line = "BROWSER-TIMING " + " ".join(f"{k}={v:.2f}" for k, v in timings.items())
    print(line)


# --- issue 5: a comparison, the walkthrough and the learn page ----------------------------------------------

def test_compare_two_strategies_two_seeds(page, timings):
    """A 2-strategy × 2-seed comparison on digits (3 rounds each) runs in the app and draws its curves,
    the penalty matrix and the first-round picks side by side."""
    page.get_by_role("link", name=re.compile(r"Compare")).first.click()
    seconds = run_compare(page, ["bait", "random"], seeds=2, rounds=3, timeout_s=ROUND_TIMEOUT_S * 4)
    timings["compare_2x2x3_s"] = seconds
    assert selected_strategies(page) == ["BAIT", "Random sampling"]      # the specs' labels
    page.get_by_text(re.compile(r"Results: 2 strategies × 2 seed\(s\)")).first.wait_for(timeout=60_000)
    page.get_by_role("heading", name="First-round picks from the same start").first.wait_for(timeout=60_000)
    # curves, penalty matrix, first-round picks: the last may still be drawing when the heading shows
    page.locator(".stPlotlyChart").nth(2).wait_for(timeout=60_000)
    assert page.locator(".stPlotlyChart").count() >= 3
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "compare.png"), full_page=True)


def test_walkthrough_plays(page):
    page.get_by_role("link", name=re.compile(r"Walkthrough")).first.click()
    step = page.get_by_text(re.compile(r"Step 1 of \d+"))
    step.first.wait_for(timeout=60_000)
    total = int(re.search(r"Step 1 of (\d+)", step.first.inner_text()).group(1))
    assert total >= 3
    page.get_by_role("button", name="Next", exact=True).click()
    page.get_by_text(re.compile(rf"Step 2 of {total}")).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Next", exact=True).click()
    page.get_by_text(re.compile(rf"Step 3 of {total}")).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Previous", exact=True).click()
    page.get_by_text(re.compile(rf"Step 2 of {total}")).first.wait_for(timeout=60_000)
    wait_for(lambda: page.locator(".stPlotlyChart .main-svg").count() >= 2, 60, "the walkthrough's charts", page)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "walkthrough.png"), full_page=True)


def test_learn_page_round_and_animation(page):
    page.get_by_role("link", name=re.compile(r"Learn")).first.click()
    nxt = page.get_by_role("button", name="Next round")
    nxt.wait_for(timeout=60_000)
    wait_idle(page)
    nxt.click()
    # the animated BAIT figure: a Plotly chart with animation frames and a slider
    has_frames = "() => [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')].some(gd => (gd._transitionData && gd._transitionData._frames || []).length > 1)"
    wait_for(lambda: page.evaluate(has_frames), 120, "the animated greedy steps on the Learn page", page)
    wait_idle(page)
    page.screenshot(path=str(SCREENSHOTS / "learn.png"), full_page=True)


def test_the_pages_request_nothing_from_outside(page):
    """Everything runs offline: after all the steps above (every page opened), the tab asked no host
    but the app's for anything (a material or emoji favicon would be fetched from a CDN)."""
    assert page.outside_requests == [], page.outside_requests[:5]
