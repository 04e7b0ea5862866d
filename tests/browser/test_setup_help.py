"""Setup's help where the question arises (issue 14 item 4), in a real browser: the chosen strategy's
line (summary, what it uses, source) and the chosen training preset's line (summary, settings,
source) are drawn under their selectboxes. The "Strategy and budget" area is saved to
test-output/screenshots/setup_help.png (the README's assets/setup_help.png is a copy of it).
Skipped without Chromium unless CI is set (then it fails)."""

from __future__ import annotations

from .conftest import SCREENSHOTS, require_browser
from .harness import OUTPUT, choose_option, tail
from .test_browser import wait_for

require_browser()


def test_setup_explains_the_chosen_strategy_and_preset(page, app_url):
    from bait_core.learning.train import PRESET_NOTES
    from bait_core.selection.registry import SPECS

    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto(f"{app_url}/setup", wait_until="domcontentloaded")
    heading = page.get_by_role("heading", name="Strategy and budget").first
    heading.wait_for(timeout=120_000)
    bait = SPECS["bait"]
    page.get_by_text(bait.source.title, exact=False).first.wait_for(timeout=60_000)    # the chosen one: BAIT

    # the paper preset: its line names the paper and its settings
    choose_option(page, "Training preset", "paper")
    page.get_by_role("combobox", name="Training preset").first.blur()                         # no focus ring in the shot
    line = page.get_by_text(PRESET_NOTES["paper"].summary, exact=False).first
    line.wait_for(timeout=60_000)
    text = line.inner_text()
    assert "learning rate 0.0001" in text and "1000 epochs" in text and "Ash et al." in text, text
    body = lambda: page.locator('[data-testid="stMain"]').first.inner_text()          # noqa: E731
    wait_for(lambda: PRESET_NOTES["quick"].summary not in body(), 60, "only the chosen preset's line", page)
    assert "Uses the model's embeddings" in body() and "NeurIPS 2021" in body()

    # the area from the heading to "Apply setup", at the top of the view
    heading.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.wait_for_timeout(800)
    apply = page.get_by_role("button", name="Apply setup").first
    wait_for(lambda: apply.bounding_box() is not None and apply.is_enabled(), 120, "an enabled Apply button", page)
    page.wait_for_timeout(500)
    top, bottom = heading.bounding_box(), apply.bounding_box()
    main = page.locator('[data-testid="stMainBlockContainer"]').first.bounding_box()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    clip = {"x": main["x"], "y": max(0, top["y"] - 12), "width": main["width"],
            "height": min(1100, bottom["y"] + bottom["height"] + 12) - max(0, top["y"] - 12)}
    assert clip["height"] > 200, clip
    page.screenshot(path=str(SCREENSHOTS / "setup_help.png"), clip=clip)
    assert page.locator('[data-testid="stException"]').count() == 0
    log = tail(OUTPUT / "streamlit-browser.log", 200_000)
    assert "Traceback" not in log, log[-3000:]
