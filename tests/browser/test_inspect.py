"""Issue 14 in a real browser (Debian Chromium via Playwright): click a point on the Rounds map to
inspect it. Run one round → click a pick star → Inspect shows that pick ("picked this round (#k)")
and the map rings it → click an ordinary point → Inspect shows it. Measures click_to_inspect_s;
screenshot test-output/screenshots/inspect.png (the README's assets/inspect.png is a copy of it).

The clicks land on the pixel of a point computed from the plot's own axes (xaxis.d2p plus the plot
area's offset), so they hit the point whatever the layout. Skipped without /usr/bin/chromium unless CI is set.
"""

from __future__ import annotations

import re
import time

from .conftest import SCREENSHOTS, require_browser
from .test_browser import ROUND_TIMEOUT_S, map_state, stop_enabled, wait_for, wait_idle

require_browser()

# JS: `gd` = the map, the chart with the most scattergl markers.
_FIND_MAP = """
  const gds = [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')];
  let gd = null, bestN = -1;
  gds.forEach(g => {
    const full = g._fullData || [];
    const n = full.reduce((s, t) => s + (t._length || 0), 0);
    if (full.some(t => t.type === 'scattergl') && n > bestN) { gd = g; bestN = n; }
  });
"""

# In the map (the chart with the most scattergl markers): the page pixel of every point of the trace
# named `name`, with its dataset index (customdata[0]); and the names of the map's traces.
_POINTS_JS = """
(name) => {
""" + _FIND_MAP + """  if (!gd) return null;
  const L = gd._fullLayout, xa = L.xaxis, ya = L.yaxis;
  const box = gd.getBoundingClientRect();
  const out = [];
  (gd._fullData || []).forEach(t => {
    if (t.name !== name) return;
    for (let k = 0; k < t.x.length; k++) {
      const px = box.x + xa._offset + xa.d2p(t.x[k]), py = box.y + ya._offset + ya.d2p(t.y[k]);
      const inside = xa.d2p(t.x[k]) > 8 && xa.d2p(t.x[k]) < xa._length - 8 &&
                     ya.d2p(t.y[k]) > 8 && ya.d2p(t.y[k]) < ya._length - 8;
      out.push({i: Number(t.customdata[k][0]), k: k, x: px, y: py, inside: inside});
    }
  });
  return {points: out, traces: (gd._fullData || []).map(t => t.name),
          box: {x: box.x, y: box.y, w: box.width, h: box.height}};
}
"""


def _points(page, name: str):
    return page.evaluate(_POINTS_JS, name)


def _isolated(points, others):
    """The point of `points` farthest (in pixels) from every point of `others` but itself."""
    def gap(p):
        return min(((p["x"] - q["x"]) ** 2 + (p["y"] - q["y"]) ** 2 for q in others if q["i"] != p["i"]),
                   default=1e9)
    return max((p for p in points if p["inside"]), key=gap)


def _inspect_line(page, i: int, how: str):
    return page.get_by_text(re.compile(rf"Point {i}, {how}\."))


def test_run_one_round(page, app_url):
    page.goto(app_url, wait_until="domcontentloaded")
    run1 = page.get_by_role("button", name="Run 1 round")
    run1.wait_for(timeout=120_000)
    wait_for(lambda: run1.is_enabled(), 120, "an enabled 'Run 1 round' button", page)
    before = map_state(page)
    run1.click()
    wait_for(lambda: (st := map_state(page)) is not None and st["drawn"] and st["sig"] != (before or {}).get("sig")
             and not stop_enabled(page), ROUND_TIMEOUT_S, "the map after one round", page)
    wait_idle(page)
    page.get_by_text("Click a point to inspect it below").first.wait_for(timeout=30_000)
    # the UMAP layout replaces the PCA one when it is ready (a rerun that moves every point): wait for it
    wait_for(lambda: page.get_by_text("UMAP is being computed").count() == 0, 300, "the UMAP layout", page,
             poll_ms=500)
    wait_idle(page)


def test_click_a_pick_star_inspects_it_and_rings_it(page, timings):
    chart = page.locator(".stPlotlyChart").nth(map_state(page)["index"])
    chart.scroll_into_view_if_needed()
    wait_idle(page)
    stars = _points(page, "picked this round")["points"]
    assert stars, "the round has picks on the map"
    everything = stars + _points(page, "labeled")["points"]
    star = _isolated(stars, everything)
    k = star["k"] + 1                                         # the star's pick order
    t0 = time.perf_counter()
    page.mouse.click(star["x"], star["y"])
    _inspect_line(page, star["i"], "clicked on the map").first.wait_for(timeout=60_000)
    timings["click_to_inspect_s"] = time.perf_counter() - t0
    page.get_by_text(re.compile(rf"picked this round \(#{k}\)")).first.wait_for(timeout=30_000)
    wait_for(lambda: f"inspected: point {star['i']}" in ((_points(page, 'picked this round') or {}).get('traces') or []),
             30, "the ring around the clicked pick", page)
    wait_idle(page)
    # the screenshot for the README: the map with its ring and pick numbers, and the line under it
    chart = page.locator(".stPlotlyChart").nth(map_state(page)["index"])
    chart.scroll_into_view_if_needed()
    wait_idle(page)
    box = chart.bounding_box()
    line = page.get_by_text(re.compile(r"^Inspected:")).first.bounding_box()
    bottom = max(box["y"] + box["height"], (line["y"] + line["height"]) if line else 0) + 12
    page.screenshot(path=str(SCREENSHOTS / "inspect.png"),
                    clip={"x": box["x"], "y": max(0, box["y"] - 8), "width": box["width"],
                          "height": bottom - max(0, box["y"] - 8)})
    print(f"clicked pick #{k} (point {star['i']}): Inspect in {timings['click_to_inspect_s']:.2f} s")


def test_click_an_ordinary_point_inspects_it(page, timings):
    got = _points(page, "picked this round")
    taken = {p["i"] for p in got["points"]} | {p["i"] for p in _points(page, "labeled")["points"]}
    pool = []
    for name in got["traces"]:
        if name and name not in ("labeled", "picked this round", "pruned (added, then removed)") \
                and not name.startswith(("inspected", "labeling now")):
            pool += _points(page, name)["points"]
    ordinary = [p for p in pool if p["i"] not in taken]
    target = _isolated(ordinary, pool)
    t0 = time.perf_counter()
    page.mouse.click(target["x"], target["y"])
    _inspect_line(page, target["i"], "clicked on the map").first.wait_for(timeout=60_000)
    timings["click_to_inspect_2_s"] = time.perf_counter() - t0
    page.get_by_text(re.compile(r"Status in round \d+: unlabeled")).first.wait_for(timeout=30_000)
    wait_for(lambda: f"inspected: point {target['i']}" in (_points(page, "labeled") or {}).get("traces", []),
             30, "the ring moved to the clicked point", page)


# An empty square of the plot area (no marker within `half` pixels of its centre), in page pixels.
_EMPTY_JS = """
(half) => {
""" + _FIND_MAP + """  const L = gd._fullLayout, xa = L.xaxis, ya = L.yaxis, box = gd.getBoundingClientRect();
  const pts = [];
  gd._fullData.forEach(t => { for (let k = 0; k < (t.x || []).length; k++) pts.push([xa.d2p(t.x[k]), ya.d2p(t.y[k])]); });
  for (let cy = half + 4; cy < ya._length - half - 4; cy += half)
    for (let cx = half + 4; cx < xa._length - half - 4; cx += half)
      if (pts.every(p => Math.abs(p[0] - cx) > half + 12 || Math.abs(p[1] - cy) > half + 12))
        return {x: box.x + xa._offset + cx, y: box.y + ya._offset + cy};
  return null;
}
"""


def test_a_box_around_nothing_says_so(page):
    st = map_state(page)
    chart = page.locator(".stPlotlyChart").nth(st["index"])
    spot = page.evaluate(_EMPTY_JS, 20)
    assert spot, "an empty part of the map"
    page.mouse.move(spot["x"], spot["y"])                                  # shows the mode bar
    chart.locator('.modebar-btn[data-val="select"]').first.click(force=True)
    page.mouse.move(spot["x"] - 20, spot["y"] - 20)
    page.mouse.down()
    page.mouse.move(spot["x"] + 20, spot["y"] + 20, steps=10)
    page.mouse.up()
    page.get_by_text("No points in that selection").first.wait_for(timeout=60_000)
