"""Start the app in a subprocess and Debian Chromium through Playwright: shared by the browser
suite (tests/browser) and the in-app benchmark (bench/bench_app_compare.py)."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "test-output"
SCREENSHOTS = OUTPUT / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STARTUP_TIMEOUT_S = 120


class AppStartError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return "(no log)"


# What a server log must never contain: Streamlit's file watcher overflowing (the watcher is off in
# .streamlit/config.toml) or any traceback.
BAD_LOG_LINES = ("Inotify", "overflow", "Traceback")
# The layout cache of a server started here when the environment names none (the benchmarks); under
# pytest, tests/conftest.py gives each test session its own empty one (as it does the runs folder).
LAYOUT_CACHE = OUTPUT / "layout-cache"


class ServerLogError(AssertionError):
    pass


def check_log(log_path: Path) -> None:
    """ServerLogError with the log's tail when the server log has a line from BAD_LOG_LINES."""
    text = tail(log_path, 10_000_000)
    bad = [line for line in text.splitlines() if any(b in line for b in BAD_LOG_LINES)]
    if bad:
        raise ServerLogError(f"{log_path.name}: {len(bad)} bad line(s), first {bad[0]!r}; log tail:\n{text[-4000:]}")


@contextlib.contextmanager
def running_app(log_name: str = "streamlit-browser.log", env_extra: dict | None = None,
                port: int | None = None) -> Iterator[str]:
    """The app started exactly as the README starts it, `bash scripts/app.sh` (set-up check, then
    `streamlit run app.py` with the checkout's .streamlit/config.toml: no file watcher), on a free
    localhost port; the real app: UMAP on, round times logged. Yields its URL; always stopped at
    the end. AppStartError (with the log's tail) if it fails to start; ServerLogError after it
    stopped when its log has a watcher line or a traceback (BAD_LOG_LINES; not checked when the
    body already failed). `env_extra`: more environment variables (e.g. the runs folder, the
    layout cache); `port`: a fixed port (a restart on the same address)."""
    OUTPUT.mkdir(exist_ok=True)
    port = port or _free_port()
    log_path = OUTPUT / log_name
    log = open(log_path, "w")
    cmd = ["bash", "scripts/app.sh", "--server.port", str(port), "--server.address", "127.0.0.1"]
    env = dict(os.environ)
    env.pop("BAIT_EXPLORER_NO_UMAP", None)         # the real app: UMAP warms up in the background
    env["BAIT_EXPLORER_LOG_TIMES"] = "1"          # round and layout times in the server log
    env.setdefault("BAIT_EXPLORER_RUNS_DIR", str(OUTPUT / "runs"))   # never the checkout's ./runs
    env.setdefault("BAIT_EXPLORER_CACHE_DIR", str(LAYOUT_CACHE))     # nor its layout-cache/
    env.update(env_extra or {})
    # app.sh ends in `exec python -m streamlit`: this process becomes the server, so terminate() stops it
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    failed = False
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise AppStartError(f"streamlit exited with code {proc.returncode}:\n{tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AppStartError(f"streamlit did not answer {url}/_stcore/health within {STARTUP_TIMEOUT_S} s:\n"
                                    f"{tail(log_path)}")
            time.sleep(0.5)
        yield url
    except BaseException:
        failed = True
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()
    if not failed:
        check_log(log_path)


@contextlib.contextmanager
def chromium() -> Iterator[object]:
    """A Playwright Chromium browser (Debian's binary; no browser download)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# --- the Compare page -------------------------------------------------------------------------------

HEATMAP_JS = """() => [...document.querySelectorAll('.stPlotlyChart .js-plotly-plot')]
  .some(gd => (gd._fullData || []).some(t => t.type === 'heatmap'))"""


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")
    page.wait_for_timeout(400)


def selected_strategies(page) -> list[str]:
    """The strategies chosen in the Compare page's multiselect (its tags, in order)."""
    return page.locator('.react-aria-ComboBox [data-testid="stMultiSelectTagsContainer"] [data-tag]').evaluate_all(
        "els => els.map(e => e.getAttribute('aria-label'))")


def choose_option(page, box_name: str, option: str, tries: int = 6) -> None:
    """Open the selectbox `box_name` and choose `option`. A click that lands while a rerun redraws the
    page can leave the list closed (seen once in CI): the list is reopened until the option shows."""
    from playwright.sync_api import Error as PlaywrightError
    for attempt in range(tries):
        page.get_by_role("combobox", name=box_name).first.click()
        choice = page.get_by_role("option", name=option, exact=True).first
        try:
            choice.wait_for(timeout=5_000)
            choice.click(timeout=5_000)
            return
        except PlaywrightError:
            page.keyboard.press("Escape")
            page.wait_for_timeout(1_000)
    raise AssertionError(f"the option {option!r} of {box_name!r} never showed ({tries} tries)")


def set_strategies(page, wanted: list[str]) -> None:
    """Remove the chosen strategies that are not wanted, add the missing ones. `wanted`: registry
    names; the widget shows each spec's label (bait → "BAIT")."""
    from bait_core.selection.registry import SPECS
    wanted = [SPECS[n].label for n in wanted]
    for name in selected_strategies(page):
        if name not in wanted:
            page.get_by_role("button", name=f"Remove {name}", exact=True).first.click()
            page.wait_for_timeout(500)
    for name in wanted:
        if name not in selected_strategies(page):
            page.locator(".react-aria-ComboBox input").first.click()
            page.get_by_role("option", name=name, exact=True).first.click()
            page.keyboard.press("Escape")
            page.wait_for_timeout(500)
    got = selected_strategies(page)
    if got != list(wanted):
        raise AssertionError(f"strategies {got}, wanted {wanted}")


def run_compare(page, strategies: list[str], seeds: int, rounds: int, timeout_s: float,
                run_on: str | None = None) -> float:
    """On the Compare page: configure, click, wait for the penalty matrix. Returns seconds.
    run_on: the start of a "Run on" option's label (e.g. "this process", "worker processes", "Ray");
    None keeps the page's default."""
    page.get_by_role("heading", name="Compare strategies").first.wait_for(timeout=120_000)
    page.locator(".react-aria-ComboBox").first.wait_for(state="visible", timeout=120_000)
    page.get_by_role("button", name="Run comparison").wait_for(timeout=120_000)   # the page's widgets are drawn
    set_strategies(page, strategies)
    set_number(page, "Seeds", seeds)
    set_number(page, "Rounds", rounds)
    if run_on is not None:
        page.get_by_text(re.compile("^" + re.escape(run_on))).first.click()
        page.wait_for_timeout(400)
    t0 = time.perf_counter()
    page.get_by_role("button", name="Run comparison").click()
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(HEATMAP_JS):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no penalty matrix after {timeout_s:.0f} s")
        page.wait_for_timeout(250)
    return time.perf_counter() - t0
