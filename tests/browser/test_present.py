"""Presentation mode on a projector's screen, in a real browser (issue 14 item 3).

A 1280×720 window opens /?present=1 on a fresh server (the sidebar starts collapsed) → "Run 1 round" →
the map is redrawn → the map, the objective and the learning curve are all inside the window without
scrolling, in type of at least 16 px (after a second round, so the curve has a line and the row its
slider) → screenshot test-output/screenshots/present.png (the README's
assets/present.png is a copy of it) → a reload keeps the mode → the sidebar's toggle turns it off (the
full page, ?present gone from the URL). The server log is checked for tracebacks. Skipped without
Chromium unless CI is set (then it fails).
"""

from __future__ import annotations

import re
import shutil
import time

from .conftest import SCREENSHOTS, require_browser
from .harness import OUTPUT, chromium, running_app, tail
from .test_browser import ROUND_TIMEOUT_S, map_state, stop_enabled, wait_for, wait_idle

require_browser()

VIEWPORT = (1280, 720)    # a projector's screen (app_present.VIEWPORT)
UMAP_WAIT_S = 45          # the screenshot waits this long for the UMAP layout, then is taken on PCA

# Every Plotly chart on the page: its box in the window, its title, base, legend and tick font sizes
# (null where there is none: the map's axes have no ticks, the curve no legend), and
# whether it is the pool map (scattergl traces).
_CHARTS_JS = """() => [...document.querySelectorAll('.stPlotlyChart')].map(el => {
  const gd = el.querySelector('.js-plotly-plot'); const r = el.getBoundingClientRect();
  const L = (gd && gd._fullLayout) || {};
  return {title: (L.title && L.title.text) || '', x: r.x, y: r.y, right: r.right, bottom: r.bottom,
          font: L.font ? L.font.size : 0, legend: L.showlegend && L.legend && L.legend.font ? L.legend.font.size : null,
          ticks: L.xaxis && L.xaxis.showticklabels && L.xaxis.tickfont ? L.xaxis.tickfont.size : null,
          map: ((gd && gd._fullData) || []).some(t => t.type === 'scattergl')};
})"""
_SIDEBAR_JS = """() => { const e = document.querySelector('[data-testid="stSidebar"]');
  return e ? e.getBoundingClientRect().right : 0; }"""
_SCROLL_JS = """() => [window.scrollY, ...[...document.querySelectorAll('[data-testid="stMain"], section.main')]
  .map(e => e.scrollTop)]"""


def _charts(page) -> dict[str, dict]:
    """The map, the objective and the learning curve of the compact view, by role."""
    out = {}
    for c in page.evaluate(_CHARTS_JS):
        role = ("map" if c["map"] else "objective" if "Fisher objective" in c["title"]
                else "curve" if "Learning curve" in c["title"] else c["title"])
        out[role] = c
    return out


def _run_one(page) -> dict:
    before = (map_state(page) or {}).get("sig")
    page.get_by_role("button", name="Run 1 round").click()
    return wait_for(lambda: (st := map_state(page)) is not None and st["drawn"] and st["sig"] != before
                    and not stop_enabled(page) and st, ROUND_TIMEOUT_S, "the map to be redrawn", page)


def test_presentation_mode_fits_1280x720(timings):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    runs = OUTPUT / "runs-present"
    shutil.rmtree(runs, ignore_errors=True)
    width, height = VIEWPORT
    with chromium() as browser, running_app("streamlit-present.log",
                                            env_extra={"BAIT_EXPLORER_RUNS_DIR": str(runs)}) as url:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        page = ctx.new_page()
        page.set_default_timeout(120_000)
        page.goto(url + "/?present=1", wait_until="domcontentloaded")
        run1 = page.get_by_role("button", name="Run 1 round")
        run1.wait_for(timeout=120_000)
        wait_for(lambda: run1.is_enabled(), 120, "an enabled 'Run 1 round' button", page)
        wait_for(lambda: (st := map_state(page)) and st["drawn"], 60, "the map before round 0", page)
        assert page.evaluate(_SIDEBAR_JS) <= 0, "?present=1 starts with the sidebar collapsed"
        assert page.get_by_role("heading", name="Rounds").count() == 0, "the compact view has no page title"

        t0 = time.perf_counter()
        _run_one(page)
        timings["present_round_click_to_redraw_s"] = time.perf_counter() - t0
        _run_one(page)                                      # a second round: a learning curve, the round slider
        page.get_by_role("slider").first.wait_for(timeout=30_000)
        deadline = time.monotonic() + UMAP_WAIT_S           # a fresh server may still be fitting UMAP
        while "UMAP" not in map_state(page)["title"] and time.monotonic() < deadline:
            page.wait_for_timeout(500)
        wait_idle(page, quiet_s=1.0)
        page.mouse.move(width - 5, height - 5)              # no tooltip over the controls
        page.wait_for_timeout(400)

        charts = _charts(page)
        assert {"map", "objective", "curve"} <= set(charts), list(charts)
        for role in ("map", "objective", "curve"):
            c = charts[role]
            assert c["x"] >= 0 and c["y"] >= 0 and c["right"] <= width and c["bottom"] <= height, \
                f"the {role} is not inside the {width}×{height} window: {c}"
            sizes = [c["font"]] + [c[k] for k in ("legend", "ticks") if c[k] is not None]
            assert len(sizes) > 1 and min(sizes) >= 16, f"small type in the {role}: {c}"
        assert charts["curve"]["ticks"] >= 16, "the learning curve's ticks are drawn, in large type"
        assert charts["map"]["right"] <= charts["objective"]["x"], "the map on the left, the charts on the right"
        assert charts["objective"]["bottom"] <= charts["curve"]["y"], "the objective above the learning curve"
        assert not any(page.evaluate(_SCROLL_JS)), "the page is scrolled"
        assert (charts["map"]["right"] - charts["map"]["x"]) / width >= 0.5, "the map is most of the width"
        assert re.search(r"[?&]present=1\b", page.url) and re.search(r"[?&]run=", page.url), page.url
        page.screenshot(path=str(SCREENSHOTS / "present.png"))
        print(f"presentation mode: map {charts['map']['title']!r}; boxes "
              + "; ".join(f"{k} {c['x']:.0f},{c['y']:.0f}–{c['right']:.0f},{c['bottom']:.0f}"
                          for k, c in charts.items()))

        page.reload(wait_until="domcontentloaded")          # a reload keeps the mode (and the run)
        wait_for(lambda: {"map", "objective", "curve"} <= set(_charts(page)), 120, "the compact view again", page)
        assert page.get_by_role("heading", name="Rounds").count() == 0

        page.locator('[data-testid="stExpandSidebarButton"]').click()   # the toggle turns it off
        page.get_by_text("Presentation mode", exact=True).click()
        page.get_by_role("heading", name="Rounds").first.wait_for(timeout=60_000)
        wait_for(lambda: "present=" not in page.url, 30, "?present to leave the URL", page)
        assert "run=" in page.url
        page.get_by_role("heading", name="Inspect").first.wait_for(timeout=60_000)
        ctx.close()
    log = tail(OUTPUT / "streamlit-present.log", 200_000)
    assert "Traceback" not in log, log[-3000:]
