"""Walkthrough stories: JSON round trip, automatic captions from the record's numbers (BAIT, another
strategy, regression, the final evaluation round), user-readable errors for broken or newer files,
and the bundled walkthrough (loads, plays the built-in digits demo, stays small)."""

import json
import os
from dataclasses import replace

import numpy as np
import pytest

from bait_core.service.explorer import Explorer
from bait_core.records.run_record import RunConfig
from bait_core.learning.loop import run
from bait_core.records.story import STORY_SCHEMA, STORY_VERSION, Story, StoryStep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ASSET = os.path.join(ROOT, "assets", "walkthrough_digits.json")


@pytest.fixture(scope="module")
def bait_record(moons):
    cfg = RunConfig(data="builtin:moons", model="mlp", strategy="bait", rounds=2, batch_size=5, initial=10,
                    seed=0, device="cpu")
    return run(cfg, dataset=moons)


@pytest.fixture(scope="module")
def story(bait_record):
    return Story.from_record(bait_record)


def test_from_record_has_one_step_per_round_and_round_trips(story, bait_record):
    assert [s.round for s in story.steps] == [r.round for r in bait_record.rounds] == [0, 1, 2]
    assert story.title and story.intro
    text = story.to_json()
    d = json.loads(text)
    assert d["schema"] == STORY_SCHEMA and d["version"] == STORY_VERSION
    assert d["record"]["kind"] == "bait-explorer-run"
    back = Story.from_json(text)
    assert back.title == story.title and back.intro == story.intro and back.steps == story.steps
    assert len(back.record.rounds) == 3
    for a, b in zip(back.record.rounds, bait_record.rounds):
        assert a.n_labeled == b.n_labeled and a.metric == pytest.approx(b.metric)
        np.testing.assert_array_equal(a.selection.indices if a.selection else [], b.selection.indices if b.selection else [])
    assert Story.from_json(text.encode()).steps == story.steps          # bytes too


def test_from_record_copies_the_rounds(bait_record):
    """A live run that goes on after saving does not change the story."""
    s = Story.from_record(bait_record)
    s.record.rounds.append(s.record.rounds[-1])
    assert len(bait_record.rounds) == 3


def test_auto_captions_quote_the_numbers(story, bait_record):
    r0, r1, fin = bait_record.rounds
    c0, c1, cf = (s.caption for s in story.steps)
    # training: labels, accuracy and its change
    assert f"{r0.n_labeled} labels" in c0 and f"test accuracy {r0.metric:.1%}" in c0
    d = 100 * (r1.metric - r0.metric)
    assert f"{r1.n_labeled} labels" in c1 and f"{r1.metric:.1%}" in c1
    assert (f"{'+' if d > 0 else '−'}{abs(d):.1f} points since round 0" in c1) or (abs(d) < 0.05 and "no change" in c1)
    # picks: batch size, classes covered, the objective's forward and backward values
    sel = r1.selection
    assert f"picked {sel.batch_size} new points" in c1
    covered = sum(1 for v in r1.picked_class_counts if v > 0)
    assert f"spread over {covered} of the 2 classes" in c1
    obj = sel.objective
    T = sel.n_forward
    assert f"fell from {obj[0]:.3g} to {obj[T]:.3g}" in c1 and f"rose to {obj[-1]:.3g}" in c1
    assert f"{obj.size - 1 - T} least useful" in c1
    # BAIT is explained at its first appearance only
    assert "Fisher information" in c0 and "Fisher information" not in c1
    # the final evaluation round: no picks, totals over the run
    assert fin.selection is None
    assert cf.startswith("Final evaluation") and f"{fin.n_labeled} labels" in cf
    assert f"{fin.n_labeled - r0.n_labeled} picked over the run" in cf and "Nothing is picked" in cf
    assert story.steps[-1].title.startswith("Final evaluation")
    assert f"{r0.n_labeled} to {fin.n_labeled} labels" in story.title


def test_auto_captions_for_another_strategy(moons):
    rec = run(RunConfig(data="builtin:moons", model="mlp", strategy="entropy", rounds=1, batch_size=5, initial=10,
                        seed=0, device="cpu"), dataset=moons)
    c0 = Story.from_record(rec).steps[0].caption
    assert "Entropy sampling" in c0 and "picked 5 new points" in c0
    assert "does not compute BAIT's Fisher objective" in c0 and "tr(M⁻¹F)" not in c0


def test_auto_captions_for_regression():
    from bait_core.learning.data import load_builtin
    ds = load_builtin("diabetes", seed=0)
    rec = run(RunConfig(data="builtin:diabetes", model="linear", strategy="bait", rounds=1, batch_size=5,
                        initial=20, seed=0, device="cpu"), dataset=ds)
    s = Story.from_record(rec)
    r0, r1 = rec.rounds
    assert r0.metric_name == "rmse"
    assert f"test RMSE {r0.metric:.3g}" in s.steps[0].caption and "accuracy" not in s.steps[0].caption
    assert "classes" not in s.steps[0].caption and "confidence" not in s.steps[0].caption
    word = "better" if r1.metric < r0.metric else "worse"
    assert f"test RMSE {r1.metric:.3g}" in s.steps[1].caption and word in s.steps[1].caption
    assert "RMSE (lower is better)" in s.intro
    Story.from_json(s.to_json())


def test_from_record_refuses_a_run_without_rounds(bait_record):
    with pytest.raises(ValueError, match="no rounds yet"):
        Story.from_record(replace(bait_record, rounds=[]))


def _broken(story: Story, **changes) -> str:
    d = story.to_dict()
    d.update(changes)
    return json.dumps(d)


@pytest.mark.parametrize("data, message", [
    ("{not json", "not valid JSON"),
    ('{"schema": "something-else", "version": 1}', "not a BAIT Explorer walkthrough"),
    ("[1, 2]", "not a BAIT Explorer walkthrough"),
])
def test_broken_files_say_why(data, message):
    with pytest.raises(ValueError, match=message):
        Story.from_json(data)


def test_a_run_record_is_recognised(bait_record):
    with pytest.raises(ValueError, match="run record, not a walkthrough"):
        Story.from_json(bait_record.to_json())


def test_newer_and_broken_stories_say_why(story):
    with pytest.raises(ValueError, match=r"newer BAIT Explorer \(story version 99\).*Update BAIT Explorer"):
        Story.from_json(_broken(story, version=99))
    with pytest.raises(ValueError, match="no story version number"):
        Story.from_json(_broken(story, version="1"))
    with pytest.raises(ValueError, match="no title"):
        Story.from_json(_broken(story, title=""))
    with pytest.raises(ValueError, match="no steps"):
        Story.from_json(_broken(story, steps=[]))
    with pytest.raises(ValueError, match="step 2 does not say which round"):
        Story.from_json(_broken(story, steps=[{"round": 0, "title": "a", "caption": "b"}, {"title": "x"}]))
    with pytest.raises(ValueError, match="no run record"):
        d = story.to_dict()
        del d["record"]
        Story.from_json(json.dumps(d))
    rec = story.record.to_dict()
    rec["schema_version"] = 7
    with pytest.raises(ValueError, match="run record cannot be read.*newer BAIT Explorer"):
        Story.from_json(_broken(story, record=rec))


def test_a_step_of_a_missing_round_is_refused(story):
    steps = [s.to_dict() for s in story.steps] + [{"round": 9, "title": "t", "caption": "c"}]
    with pytest.raises(ValueError, match=r"Step 4 of the walkthrough shows round 9, but its run record has "
                                         r"rounds 0–2 only"):
        Story.from_json(_broken(story, steps=steps))


def test_hand_written_steps_survive_and_may_skip_rounds(story):
    s = Story(title="Mine", intro="", record=story.record,
              steps=[StoryStep(2, "The end", "Done."), StoryStep(0, "Start", "")])
    back = Story.from_json(s.to_json())
    assert back.steps == s.steps
    assert back.round_of(0).round == 2 and back.round_of(1).round == 0


# --- the bundled walkthrough ---------------------------------------------------------------------

def test_bundled_walkthrough_plays_the_builtin_digits_demo():
    import app_services as svc
    assert os.path.samefile(svc.WALKTHROUGH_ASSET, ASSET)
    size = os.path.getsize(ASSET)
    assert size < 400_000, f"the bundled walkthrough is {size} bytes"
    story = Story.load(ASSET)
    assert 5 <= len(story.steps) <= 8 and all(s.title and s.caption for s in story.steps)
    assert story.steps[-1].round == story.record.rounds[-1].round and story.record.rounds[-1].selection is None
    # the app's default demo, cut to a few rounds
    cfg = story.record.config
    assert replace(cfg, rounds=svc.DEFAULT_CONFIG.rounds, device=svc.DEFAULT_CONFIG.device) == svc.DEFAULT_CONFIG
    # opens read-only on the built-in digits, checked by fingerprint
    ex = Explorer.from_record(story.record)
    assert ex.read_only and ex.dataset.name == "digits"
    assert ex.dataset.fingerprint == story.record.dataset["fingerprint"]
    # the hand-written captions quote the record's own numbers
    r0, fin = story.record.rounds[0], story.record.rounds[-1]
    assert f"{r0.metric:.1%}" in story.steps[0].caption and f"{fin.metric:.1%}" in story.steps[-1].caption
    assert f"{fin.n_labeled} images" in story.steps[-1].caption
