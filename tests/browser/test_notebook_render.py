"""The notebook tour rendered as a reader sees it (issue 15 item 3): examples/bait_tour.ipynb executed
(tests/notebook_run.py), converted by nbconvert to HTML (the "lab" template) under
test-output/notebook/, opened in Chromium from the file with every network request refused → the five
Plotly figures draw (each `.js-plotly-plot` has data and drawn axes; plotly.js is embedded in the
notebook, nothing is fetched) → screenshot test-output/screenshots/notebook.png (the README's
assets/notebook.png is a copy of it, made by hand). Skipped without Chromium unless CI is set.
"""

from __future__ import annotations

from ..notebook_run import OUTPUT, execute_tour
from .conftest import SCREENSHOTS, require_browser
from .harness import chromium

require_browser()

HTML = OUTPUT / "bait_tour.html"

_FIGURES_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(gd => ({
  traces: (gd._fullData || []).length,
  points: (gd._fullData || []).reduce((n, t) => n + ((t.x && t.x.length) || 0), 0),
  title: (gd._fullLayout && gd._fullLayout.title && gd._fullLayout.title.text) || '',
  axes: gd.querySelectorAll('.main-svg').length,
  gl: gd.querySelectorAll('canvas').length,
  height: gd.getBoundingClientRect().height}))"""


def test_the_rendered_tour_draws_its_figures_offline():
    from nbconvert import HTMLExporter

    tour = execute_tour()
    body, _ = HTMLExporter(template_name="lab").from_notebook_node(tour.nb)
    HTML.write_text(body, encoding="utf-8")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []
    errors: list[str] = []
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)

        def offline(route):                         # the network is not there: only the file itself loads
            url = route.request.url
            if url.startswith(("file:", "data:", "blob:")):
                route.continue_()
            else:
                refused.append(url)
                route.abort()
        page.route("**/*", offline)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(HTML.resolve().as_uri(), wait_until="load")
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 10")
        figs = page.evaluate(_FIGURES_JS)
        assert len(figs) == 5, figs
        assert all(f["traces"] >= 1 and f["points"] > 0 and f["axes"] >= 2 and f["height"] > 200 for f in figs), figs
        assert figs[0]["gl"] >= 1 and figs[0]["points"] > 1000, figs[0]      # the pool map: WebGL, every pool point
        assert "picks on the PCA map" in figs[0]["title"] and "greedy step" in figs[1]["title"], figs
        assert not errors, f"JavaScript errors on the page: {errors}"
        top = page.locator("h2", has_text="2. Rounds of active learning").bounding_box()
        bottom = page.locator(".js-plotly-plot").nth(1).bounding_box()
        page.screenshot(path=str(SCREENSHOTS / "notebook.png"), full_page=True,
                        clip={"x": 0, "y": top["y"] - 10, "width": 1280,
                              "height": bottom["y"] + bottom["height"] + 20 - (top["y"] - 10)})
        context.close()
    # What the page asked the network for and did not get: nbconvert's require.js and MathJax, plotly's
    # MathJax; never plotly.js itself.
    assert not [u for u in refused if "plotly" in u.lower()], refused
    print(f"NOTEBOOK-RENDER refused offline: {sorted(set(refused))}")
