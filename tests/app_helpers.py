"""Shared AppTest set-up: the app (paths resolve from this folder), jobs waited for, no exceptions."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

import app_keys as AK

APP = "../app.py"  # AppTest.from_file resolves it from this file's folder
TIMEOUT = 180      # generous: the first run imports torch


def open_app(page: str | None = None, sync: bool = True, timeout: float = TIMEOUT) -> AppTest:
    """The app after its first run (and on `page` when given); started jobs are waited for when
    `sync` (SYNC_JOBS)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    at.session_state[AK.SYNC_JOBS] = sync
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def apply_builtin(dataset: str, strategy: str) -> AppTest:
    """Setup → the built-in `dataset` → `strategy` → Apply, each run checked for exceptions and
    errors; returns the AppTest on the Setup page with the new run in the session."""
    at = open_app("app_pages/setup.py")
    at.selectbox(key="setup_builtin").select(dataset).run()
    assert_ok(at)
    at.selectbox(key="setup_strategy").select(strategy).run()
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    return at
