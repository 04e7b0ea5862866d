"""A person labels the picks in a real browser (issue 13's "Must show").

An image ZIP with two class folders and an ``unlabeled/`` folder → Setup reads it and a person labels
(the default for data with unlabeled points) → Run 1 round → label 10 images with the keyboard (1/2) →
reload the page after 5: the 5 answers are still there → finish by keyboard, Train and pick next (T) → the
next batch waits → download the labels CSV → a fresh run on the same ZIP → import the CSV → the fresh run's
labeled set is the first run's (read from both runs' saved labels.json). A screenshot of the labeling view
goes to test-output/screenshots/labeling.png. The server log is checked for tracebacks. Skipped without
Chromium unless CI is set (then it fails).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import time
import zipfile

import numpy as np
from PIL import Image

from .conftest import SCREENSHOTS, require_browser
from .harness import OUTPUT, chromium, running_app, tail
from .test_browser import wait_for as _wait
from .test_browser import wait_idle

require_browser()

ROUND_TIMEOUT_S = 300
BATCH = 10


def _shape_png(kind: str, rng: np.random.Generator) -> bytes:
    """A 16×16 grey PNG: a filled disc ("circle") or square, jittered, with noise."""
    yy, xx = np.mgrid[:16, :16]
    cx, cy = rng.uniform(6, 10, size=2)
    r = rng.uniform(3.5, 5.5)
    inside = ((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r) if kind == "circle" else (
        (np.abs(xx - cx) <= r * 0.8) & (np.abs(yy - cy) <= r * 0.8))
    img = np.clip(inside * 200 + rng.normal(0, 20, size=(16, 16)) + 30, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, mode="L").save(buf, format="PNG")
    return buf.getvalue()


def make_zip(path) -> None:
    rng = np.random.default_rng(13)
    with zipfile.ZipFile(path, "w") as zf:
        for kind in ("circle", "square"):
            for k in range(12):
                zf.writestr(f"shapes/{kind}/{kind}_{k:02d}.png", _shape_png(kind, rng))
        for k in range(40):
            zf.writestr(f"shapes/unlabeled/u_{k:02d}.png", _shape_png(("circle", "square")[k % 2], rng))


def _counter(page) -> int:
    m = re.search(r"(\d+) of (\d+) labeled", page.locator("section.main, [data-testid='stMain']").first.inner_text())
    return int(m.group(1)) if m else -1


def _no_traceback(log_name: str) -> None:
    text = tail(OUTPUT / log_name, 200_000)
    assert "Traceback" not in text, text[-3000:]


def _new_run(page, url: str, data) -> str:
    """Setup: upload the ZIP, check who labels, batch size, apply; returns the run id (from the URL)."""
    page.goto(f"{url}/setup", wait_until="domcontentloaded")
    page.get_by_role("heading", name="Setup").first.wait_for(timeout=120_000)
    page.get_by_text("Upload a file", exact=True).click()
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(data))
    page.get_by_text(re.compile("How your file was read")).first.wait_for(timeout=120_000)
    # a person labels: chosen by default because 40 of the pool's images have no label (and said so)
    page.get_by_text(re.compile(r"no label")).first.wait_for(timeout=30_000)
    page.get_by_text("A person (label them in the app)", exact=True).click()
    batch = page.get_by_label("Batch size", exact=True)
    batch.fill(str(BATCH))
    batch.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Apply setup").click()
    page.get_by_text(re.compile("New run ready")).first.wait_for(timeout=120_000)
    page.locator('[data-testid="stSidebarNav"]').get_by_text("Rounds", exact=True).click()   # the same session
    page.get_by_text(re.compile(r"No rounds yet")).first.wait_for(timeout=120_000)
    run1 = page.get_by_role("button", name="Run 1 round")
    run1.wait_for(timeout=120_000)
    _wait(lambda: "run=" in page.url, 60, "the run id in the URL", page)
    return re.search(r"run=([^&]+)", page.url).group(1)


def _first_batch(page) -> None:
    run1 = page.get_by_role("button", name="Run 1 round")
    _wait(lambda: run1.is_enabled(), 120, "an enabled 'Run 1 round' button", page)
    run1.click()
    _wait(lambda: _counter(page) == 0, ROUND_TIMEOUT_S, "the labeling panel ('0 of 10 labeled')", page)
    wait_idle(page)


def _press(page, key: str, expect: int) -> None:
    page.locator("body").press(key)
    _wait(lambda: _counter(page) == expect, 60, f"'{expect} of {BATCH} labeled' after pressing {key}", page)
    wait_idle(page, quiet_s=0.3)


def _book(runs, run_id: str) -> dict:
    return json.loads((runs / run_id / "labels.json").read_text())


def test_label_by_keyboard_reload_train_export_and_reimport(tmp_path, timings):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    data = tmp_path / "shapes.zip"
    make_zip(data)
    runs = OUTPUT / "runs-labeling"
    shutil.rmtree(runs, ignore_errors=True)
    log = "streamlit-labeling.log"
    with chromium() as browser, running_app(log, env_extra={"BAIT_EXPLORER_RUNS_DIR": str(runs)}) as url:
        ctx = browser.new_context(viewport={"width": 1500, "height": 1400}, accept_downloads=True)
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        run_a = _new_run(page, url, data)
        _first_batch(page)
        t0 = time.perf_counter()
        for k in range(5):
            _press(page, "1" if k % 2 == 0 else "2", k + 1)
        timings["label_key_s"] = (time.perf_counter() - t0) / 5
        page.screenshot(path=str(SCREENSHOTS / "labeling.png"), full_page=False)
        answers_before = _book(runs, run_a)["pending"]["answers"]
        assert len(answers_before) == 5                             # on disk, the moment each was given

        page.reload(wait_until="domcontentloaded")                  # mid-batch: nothing is lost
        _wait(lambda: _counter(page) == 5, 120, "'5 of 10 labeled' after the reload", page)
        wait_idle(page)
        for k in range(5, BATCH):
            _press(page, "1" if k % 2 == 0 else "2", k + 1)
        batch_a = _book(runs, run_a)["pending"]["indices"]
        page.locator("body").press("T")                             # Train and pick next
        _wait(lambda: _counter(page) == 0 and _book(runs, run_a).get("pending", {}) and
              _book(runs, run_a)["pending"]["indices"] != batch_a, ROUND_TIMEOUT_S, "the next batch", page)
        wait_idle(page)
        book_a = _book(runs, run_a)
        person = {e["index"]: e["label"] for e in book_a["entries"] if e["oracle"] == "person"}
        assert sorted(person) == sorted(batch_a) and len(person) == BATCH

        with page.expect_download() as dl:
            page.get_by_role("button", name="Download labels (CSV)").click()
        csv_path = tmp_path / "labels.csv"
        dl.value.save_as(str(csv_path))
        lines = csv_path.read_text().strip().splitlines()
        assert lines[0].startswith("id,label") and len(lines) == BATCH + 1
        assert all(line.split(",")[0].startswith("unlabeled/") or "/" in line.split(",")[0] for line in lines[1:])

        run_b = _new_run(page, url, data)                          # a fresh run on the same ZIP
        assert run_b != run_a
        page.get_by_text("Labels from a file (CSV: id,label)").first.click()
        page.get_by_text("Import labels (CSV: id,label)").first.wait_for(timeout=60_000)
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').last.set_input_files(str(csv_path))
        wait_idle(page)
        page.get_by_role("button", name="Add these labels").click()
        page.get_by_text(re.compile(r"10 labels? added")).first.wait_for(timeout=60_000)
        book_b = _book(runs, run_b)
        got = {e["index"]: e["label"] for e in book_b["entries"]}
        assert got == person                                        # the same labels on the same points
        mask_a = set(book_a["mask"]) - set(book_a["pending"]["indices"])
        assert set(book_b["mask"]) == mask_a                        # the same labeled set
        ctx.close()
    _no_traceback(log)
