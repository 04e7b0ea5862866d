"""The browser suite's server-log check (tests/browser/harness.check_log), without a browser."""

import pytest

from tests.browser.harness import ServerLogError, check_log


@pytest.mark.parametrize("line", ["2026-11-30 12:00:00 Inotify queue overflowed", "watchdog: event queue overflow",
                                  "Traceback (most recent call last):"])
def test_a_watcher_line_or_a_traceback_fails_with_the_log_tail(tmp_path, line):
    log = tmp_path / "server.log"
    log.write_text("  You can now view your Streamlit app in your browser.\n" + line + "\nlast line\n")
    with pytest.raises(ServerLogError) as e:
        check_log(log)
    assert line in str(e.value) and "last line" in str(e.value)


def test_a_clean_log_passes(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("  You can now view your Streamlit app in your browser.\nwarm-up round: 1.2 s\n"
                   "layout warm-up: digits UMAP disk in 0.00 s\n")
    check_log(log)
