"""Fixtures for the real-browser suite: the Streamlit app in a subprocess and Debian Chromium.

Without /usr/bin/chromium (or the playwright package) the suite is skipped locally; with the
environment variable CI set it fails instead, because CI (.ci/run) installs Chromium first.
"""

from __future__ import annotations

import os

import pytest

from .harness import CHROMIUM, SCREENSHOTS, AppStartError, chromium, running_app

TIMINGS: dict[str, float] = {}          # filled by the tests, printed in the terminal summary


def require_browser() -> None:
    """Skip (locally) or fail (CI) when Chromium or Playwright is missing."""
    problems = []
    if not os.path.exists(CHROMIUM):
        problems.append(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed")
    if problems:
        msg = "real-browser tests need Debian Chromium and Playwright: " + "; ".join(problems)
        if os.environ.get("CI"):
            pytest.fail(msg + " (CI is set, so this is an error)", pytrace=False)
        pytest.skip(msg, allow_module_level=True)


@pytest.fixture(scope="module")
def app_url():
    """The app on a free localhost port (see harness.running_app); always stopped at the end."""
    require_browser()
    try:
        with running_app() as url:
            yield url
    except AppStartError as e:
        pytest.fail(str(e), pytrace=False)


@pytest.fixture(scope="module")
def browser():
    require_browser()
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def page(browser, app_url):
    """One tab for the whole module: the tests are steps of one user session, in file order."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1500, "height": 1400}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    outside: list[str] = []                      # requests to any host but the app's (offline promise)
    pg.on("request", lambda req: outside.append(req.url)
          if not req.url.startswith(app_url) and not req.url.startswith(("data:", "blob:")) else None)
    pg.outside_requests = outside                # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()


@pytest.fixture(scope="session")
def timings() -> dict[str, float]:
    """Measured seconds by name; printed as one BROWSER-TIMING line at the end of the run."""
    return TIMINGS


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        parts = " ".join(f"{k}={v:.2f}" for k, v in TIMINGS.items())
        terminalreporter.write_line(f"BROWSER-TIMING {parts}")
