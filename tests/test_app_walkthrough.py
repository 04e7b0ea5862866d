"""AppTest: the Walkthrough page opens on the bundled story, steps with Previous / Next / the slider,
keeps its story when a broken file is uploaded, opens a good one, and saves the current run as a
walkthrough (download and play)."""

import json

import pytest
from streamlit.delta_generator import DeltaGenerator
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc
from bait_core.records.story import Story

from .app_helpers import assert_ok as _ok, open_app

PAGE = "app_pages/walkthrough.py"


def _app(page: str | None = PAGE) -> AppTest:
    return open_app(page)


def _indicator(at: AppTest) -> str:
    got = [m.value for m in at.markdown if m.value.startswith("**Step ")]
    assert len(got) == 1, got
    return got[0]


def _step_title(at: AppTest) -> str:
    return at.subheader[0].value


@pytest.fixture(scope="module")
def bundled() -> Story:
    return Story.load(svc.WALKTHROUGH_ASSET)


def test_opens_on_the_bundled_story(bundled):
    at = _app()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value == "Walkthrough"
    assert at.header[0].value == bundled.title
    n = len(bundled.steps)
    assert _indicator(at).startswith(f"**Step 1 of {n}**")
    assert _step_title(at) == bundled.steps[0].title
    assert any(m.value == bundled.steps[0].caption for m in at.markdown)
    assert at.button(key="story_prev").label == "Previous" and at.button(key="story_prev").disabled
    assert at.button(key="story_next").label == "Next" and not at.button(key="story_next").disabled
    keys = {c.proto.id for c in at.get("plotly_chart")}
    assert len(keys) == 3, "map, objective and learning curve"
    sel = bundled.round_of(0).selection
    assert len(at.image) == 1 and len(at.image[0].captions) == sel.batch_size, "the round's picked digit images"
    assert at.image[0].captions[0].startswith("#1: ")
    # the current run is untouched by playing a walkthrough
    assert not at.session_state[AK.EXPLORER].read_only


def test_next_and_previous_move_through_the_steps(bundled):
    at = _app()
    n = len(bundled.steps)
    at.button(key="story_next").click().run()
    _ok(at)
    assert _indicator(at).startswith(f"**Step 2 of {n}**")
    assert _step_title(at) == bundled.steps[1].title != bundled.steps[0].title
    assert not at.button(key="story_prev").disabled
    assert at.slider(key=AK.STORY_SLIDER).value == 2
    at.button(key="story_prev").click().run()
    _ok(at)
    assert _indicator(at).startswith(f"**Step 1 of {n}**") and _step_title(at) == bundled.steps[0].title
    # to the end with Next: the final evaluation has no objective and no picks; Next is disabled
    for k in range(2, n + 1):
        at.button(key="story_next").click().run()
        _ok(at)
        assert _indicator(at).startswith(f"**Step {k} of {n}**")
    assert _step_title(at) == bundled.steps[-1].title
    assert at.button(key="story_next").disabled and not at.button(key="story_prev").disabled
    assert any("final evaluation" in i.value for i in at.info)
    # the slider jumps, and the buttons continue from there
    at.slider(key=AK.STORY_SLIDER).set_value(3).run()
    _ok(at)
    assert _indicator(at).startswith(f"**Step 3 of {n}**") and _step_title(at) == bundled.steps[2].title
    at.button(key="story_next").click().run()
    assert _indicator(at).startswith(f"**Step 4 of {n}**")
    # leaving the page and coming back keeps the step
    at.switch_page("app_pages/rounds.py").run()
    at.switch_page(PAGE).run()
    _ok(at)
    assert _indicator(at).startswith(f"**Step 4 of {n}**")


def test_a_broken_upload_shows_an_error_and_keeps_the_story(bundled):
    at = _app()
    at.button(key="story_next").click().run()
    before = at.session_state[AK.STORY]
    at.file_uploader(key="story_file").set_value(("bad.json", b"{not json", "application/json")).run()
    _ok(at)
    assert at.error and "bad.json" in at.error[0].value and "not valid JSON" in at.error[0].value
    assert at.session_state[AK.STORY] is before
    assert _step_title(at) == bundled.steps[1].title
    # a newer story: the loader's sentence
    d = json.loads(open(svc.WALKTHROUGH_ASSET, encoding="utf-8").read())
    d["version"] = 99
    at.file_uploader(key="story_file").set_value(("new.json", json.dumps(d).encode(), "application/json")).run()
    _ok(at)
    assert at.error and "newer BAIT Explorer" in at.error[0].value
    assert at.session_state[AK.STORY] is before


def test_a_good_upload_opens_on_step_one(bundled):
    at = _app()
    at.button(key="story_next").click().run()
    d = json.loads(open(svc.WALKTHROUGH_ASSET, encoding="utf-8").read())
    d["title"] = "A story of my own"
    d["steps"] = d["steps"][:3]
    d["steps"][0]["title"] = "My first step"
    at.file_uploader(key="story_file").set_value(("mine.json", json.dumps(d).encode(), "application/json")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.header[0].value == "A story of my own"
    assert _indicator(at).startswith("**Step 1 of 3**") and _step_title(at) == "My first step"
    assert any("Opened the walkthrough" in s.value for s in at.success)
    at.button(key="story_builtin").click().run()
    _ok(at)
    assert at.header[0].value == bundled.title and _indicator(at).startswith(f"**Step 1 of {len(bundled.steps)}**")


def test_save_the_current_run_as_a_walkthrough(monkeypatch):
    downloads = {}
    original = DeltaGenerator.download_button

    def spy(self, label, data, *args, **kwargs):            # what the download button would serve
        downloads[kwargs.get("key")] = data
        return original(self, label, data, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "download_button", spy)
    at = _app()
    assert any("no rounds yet" in i.value for i in at.info), "nothing to save before a round has run"
    at.switch_page("app_pages/rounds.py").run()
    at.button(key="btn_run1").click().run()
    _ok(at)
    rec = at.session_state[AK.EXPLORER].record
    assert len(rec.rounds) == 1
    at.switch_page(PAGE).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    # edit the title and the first caption, then download
    title = [t for t in at.text_input if t.label == "Title"][0]
    assert title.value.startswith("bait on digits")
    title.set_value("Our first round").run()
    cap = [t for t in at.text_area if t.label == "Step 1: caption"][0]
    assert "20 labels" in cap.value and "picked 10 new points" in cap.value
    cap.set_value("Look at the gold stars.").run()
    _ok(at)
    story = Story.from_json(downloads["story_download"])
    assert story.title == "Our first round"
    assert [(s.round, s.caption) for s in story.steps] == [(0, "Look at the gold stars.")]
    assert story.record.rounds[0].n_labeled == 20
    assert story.record.rounds[0].selection.indices.tolist() == rec.rounds[0].selection.indices.tolist()
    # play it here: the page switches to the saved story
    at.button(key="story_play").click().run()
    _ok(at)
    assert at.header[0].value == "Our first round"
    assert _indicator(at).startswith("**Step 1 of 1**")
    assert any(m.value == "Look at the gold stars." for m in at.markdown)
    assert at.button(key="story_prev").disabled and at.button(key="story_next").disabled
