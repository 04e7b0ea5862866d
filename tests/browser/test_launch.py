"""A teacher's first launch, in a real browser (issue 14 items 1 and 6): the app started as the README
starts it (tests/browser/harness.running_app: `bash scripts/app.sh`), an empty layout cache.

Open the Rounds page on a fresh server → the map turns from PCA to UMAP (seconds from the first view
recorded as `umap_first_view_s`: the map is computed at server start, in the background) → stop the
server, start a fresh one on the same cache → UMAP drawn within 15 s of the first view
(`umap_restart_s`). Every server log is checked by the harness (no watcher overflow, no traceback).
Skipped without Chromium unless CI is set (then it fails).
"""

from __future__ import annotations

import shutil
import time

from .conftest import SCREENSHOTS, require_browser
from .harness import OUTPUT, chromium, running_app
from .test_browser import map_state, wait_for

require_browser()

COLD_TIMEOUT_S = 600           # numba's compilation and the fit on a loaded 2-core CI machine
RESTART_LIMIT_S = 15.0         # issue 14: a restarted server shows UMAP within 15 s of the first view


def _umap_map(page):
    st = map_state(page)
    return st if st and st["drawn"] and "UMAP layout" in st["title"] else None


def _first_view_to_umap(browser, url: str, timeout_s: float, shot: str) -> float:
    ctx = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    try:
        t0 = time.perf_counter()
        page.goto(url, wait_until="domcontentloaded")
        st = wait_for(lambda: _umap_map(page), timeout_s, "the Rounds page's map drawn as UMAP", page)
        seconds = time.perf_counter() - t0
        assert st["points"] >= 1348, st                          # the digits demo's pool, every point
        page.screenshot(path=str(SCREENSHOTS / shot), full_page=True)
        return seconds
    finally:
        ctx.close()


def test_fresh_server_then_restart_shows_umap(timings):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    cache, runs = OUTPUT / "layout-cache-launch", OUTPUT / "runs-launch"
    for folder in (cache, runs):
        shutil.rmtree(folder, ignore_errors=True)
    env = {"BAIT_EXPLORER_CACHE_DIR": str(cache), "BAIT_EXPLORER_RUNS_DIR": str(runs)}
    with chromium() as browser:
        with running_app("streamlit-launch-1.log", env_extra=env) as url:
            timings["umap_first_view_s"] = _first_view_to_umap(browser, url, COLD_TIMEOUT_S, "launch-cold.png")
            assert list(cache.glob("umap-*.npy")), "the computed map was not written to the layout cache"
        with running_app("streamlit-launch-2.log", env_extra=env) as url:
            seconds = _first_view_to_umap(browser, url, 60, "launch-restart.png")
            timings["umap_restart_s"] = seconds
            assert seconds <= RESTART_LIMIT_S, f"UMAP drawn {seconds:.1f} s after the first view of a restarted server"
    log = (OUTPUT / "streamlit-launch-2.log").read_text()
    assert "layout warm-up: digits UMAP disk" in log, log[-3000:]   # read from disk, not computed again
