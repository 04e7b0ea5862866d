"""Screenshots of the Learn and Walkthrough pages for the README (assets/), in Debian Chromium.

    .venv/bin/python scripts/take_screenshots.py

(assets/compare.png comes from bench/bench_app_compare.py --screenshot assets/compare.png.)
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser.harness import chromium, running_app  # noqa: E402

HAS_FRAMES = ("() => [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')]"
              ".some(gd => (gd._transitionData && gd._transitionData._frames || []).length > 1)")


def main() -> None:
    with running_app("streamlit-screenshots.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 2000})
        page.set_default_timeout(120_000)
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("link", name=re.compile("Learn")).first.click()
        page.get_by_role("button", name="Next round").click()
        page.wait_for_function(HAS_FRAMES, timeout=120_000)
        page.get_by_role("button", name="Next round").click()
        page.wait_for_timeout(4000)
        page.screenshot(path=str(ROOT / "assets" / "learn.png"), full_page=True)
        page.get_by_role("link", name=re.compile("Walkthrough")).first.click()
        page.get_by_role("button", name="Next", exact=True).click()
        page.get_by_text(re.compile(r"Step 2 of \d+")).first.wait_for()
        page.wait_for_timeout(4000)
        page.screenshot(path=str(ROOT / "assets" / "walkthrough.png"), full_page=True)
    print("assets/learn.png, assets/walkthrough.png")


if __name__ == "__main__":
    main()
