"""A comparison run inside the app, in a real browser: click to drawn results.

    .venv/bin/python bench/bench_app_compare.py                    # 3 strategies × 3 seeds × 10 rounds
    .venv/bin/python bench/bench_app_compare.py --seeds 2 --rounds 5 --screenshot assets/compare.png
    .venv/bin/python bench/bench_app_compare.py --run-on "this process"      # or "worker processes", "Ray"

Starts `streamlit run app.py` (the built-in digits demo, mlp, quick training preset), opens the
Compare page in Debian Chromium (Playwright), keeps the default strategies (bait, badge, random) or
the ones given, sets seeds and rounds (and "Run on" with --run-on; default: the page's default, worker
processes on 2 cores or more), presses "Run comparison" and waits until the penalty matrix
is drawn. Prints the wall time from the click to the drawn results, the comparison job's own time
(from the page) and the per-strategy timing table, and saves a full-page screenshot.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.browser.harness import SCREENSHOTS, chromium, run_compare, running_app  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategies", default="bait,badge,random")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--run-on", default=None, help='the start of a "Run on" label: "this process", '
                    '"worker processes" or "Ray" (default: the page\'s default)')
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--screenshot", default=str(SCREENSHOTS / "compare-bench.png"))
    args = ap.parse_args()
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    with running_app("streamlit-bench.log") as url, chromium() as browser:
        page = browser.new_page(viewport={"width": 1500, "height": 2600})
        page.set_default_timeout(60_000)
        page.goto(url, wait_until="domcontentloaded")
        page.get_by_role("link", name=re.compile("Compare")).first.click()
        seconds = run_compare(page, strategies, args.seeds, args.rounds, args.timeout, run_on=args.run_on)
        page.wait_for_timeout(1500)
        job = page.get_by_text(re.compile(r"Last comparison: \w+, [\d.]+ s")).first.inner_text()
        Path(args.screenshot).parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=args.screenshot, full_page=True)
    print(f"{len(strategies)} strategies × {args.seeds} seeds × {args.rounds} rounds on digits (mlp, quick preset), "
          f"run on {args.run_on or 'the default'}: "
          f"click → penalty matrix drawn {seconds:.1f} s; {job}; screenshot {args.screenshot}")


if __name__ == "__main__":
    main()
