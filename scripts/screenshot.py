"""Screenshot a running app page with Debian's Chromium through Playwright (no browser download).

    .venv/bin/python scripts/screenshot.py http://localhost:8501/ assets/screenshot.png
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.browser.harness import chromium  # noqa: E402


def main(url: str, out: str, wait_for: str = ".js-plotly-plot", width: int = 1400, height: int = 900) -> None:
    with chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.wait_for_selector(wait_for, timeout=90_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=out, full_page=True)


if __name__ == "__main__":
    main(*sys.argv[1:3])
