"""Fixtures for the real-browser suite: the Streamlit app in a subprocess and Debian Chromium.

Without /usr/bin/chromium (or the playwright package) the suite is skipped locally; with the
environment variable CI set it fails instead, because CI (.ci/run) installs Chromium first.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 120

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


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


@pytest.fixture(scope="module")
def app_url():
    """Start `streamlit run app.py` on a free localhost port; always stopped at the end."""
    require_browser()
    OUTPUT.mkdir(exist_ok=True)
    port = _free_port()
    log_path = OUTPUT / "streamlit-browser.log"
    log = open(log_path, "w")
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
           "--server.address", "127.0.0.1", "--server.headless", "true",
           "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"]
    env = dict(os.environ, STREAMLIT_BROWSER_GATHER_USAGE_STATS="false")
    env.pop("BAIT_EXPLORER_NO_UMAP", None)         # the real app: UMAP warms up in the background
    env["BAIT_EXPLORER_LOG_TIMES"] = "1"          # round times in the server log
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with code {proc.returncode}:\n{_tail(log_path)}", pytrace=False)
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer {url}/_stcore/health within {STARTUP_TIMEOUT_S} s:\n"
                            f"{_tail(log_path)}", pytrace=False)
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    """One tab for the whole module: the tests are steps of one user session, in file order."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1500, "height": 1400}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
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
