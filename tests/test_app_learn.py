"""AppTest of the Learn page: it opens on a first round with its animated map, the comparison and the
math; Next round advances; the comparison switches at once; a toy change brings its defaults; a bad
setting shows a sentence and keeps the playground."""

import json

import pytest
from streamlit.testing.v1 import AppTest

import app_keys as AK

from .app_helpers import assert_ok as _ok, open_app

PAGE = "app_pages/learn.py"


def _learn() -> AppTest:
    at = open_app(PAGE)
    _ok(at)
    return at


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def learn() -> AppTest:
    return _learn()


def test_page_opens_on_a_first_round(learn):
    at = learn
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value.startswith("Learn")
    pg = at.session_state[AK.PLAYGROUND]
    assert len(pg.rounds) == 1 and pg.settings.toy == "moons"
    rnd = pg.rounds[0]
    specs = _specs(at)
    assert len(specs) == 3, "BAIT animation, comparison, objective trajectory"
    bait_map, other_map, objective = specs
    # the animated map: one frame per greedy step (+ the start), a slider step per frame, play/pause
    assert len(bait_map["frames"]) == rnd.n_frames == 1 + rnd.bait.n_forward + rnd.bait.pruned.size
    assert len(bait_map["layout"]["sliders"][0]["steps"]) == rnd.n_frames
    assert [b["label"] for b in bait_map["layout"]["updatemenus"][0]["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert bait_map["data"][0]["type"] == "heatmap" and "frames" not in other_map
    assert "BAIT" in json.dumps(other_map["layout"]["title"])
    assert [s.value for s in at.subheader][:2] == ["BAIT, step by step", "BADGE from the same state"]
    # the math panel: the Fisher embedding, the objective, the gain and the Woodbury update
    latex = " ".join(x.value for x in at.latex)
    for piece in (r"G_x \otimes h_x", r"M_S^{-1} F", r"\Delta(x)", r"A \leftarrow A - A"):
        assert piece in latex, piece
    assert _metric(at, "Round") == "0"
    assert _metric(at, "Labeled n") == str(pg.settings.initial)
    assert len(at.caption) >= 5, "every view has a caption"
    assert at.number_input(key=AK.LEARN_CLASSES).disabled, "moons always has 2 classes"


def test_next_round_advances():
    at = _learn()
    pg = at.session_state[AK.PLAYGROUND]
    picks = set(pg.rounds[0].bait.indices.tolist())
    at.button(key="learn_next").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[AK.PLAYGROUND] is pg and len(pg.rounds) == 2
    rnd = pg.rounds[1]
    assert picks <= set(rnd.labeled_before.nonzero()[0].tolist()), "round 0's BAIT picks are labeled now"
    assert _metric(at, "Round") == "1"
    assert _metric(at, "Labeled n") == str(pg.settings.initial + pg.settings.batch_size)
    assert at.slider(key=AK.LEARN_ROUND).value == 1
    assert len(at.get("plotly_chart")) == 4, "the accuracy-by-round chart appears from round 1"
    # look back at round 0: the maps follow the slider
    at.slider(key=AK.LEARN_ROUND).set_value(0).run()
    _ok(at)
    assert _metric(at, "Round") == "0"
    assert len(_specs(at)[0]["frames"]) == pg.rounds[0].n_frames
    # the comparison applies at once, to every round
    at.radio(key=AK.LEARN_COMPARE).set_value("entropy").run()
    _ok(at)
    assert [r.other.strategy for r in pg.rounds] == ["entropy", "entropy"]
    assert "Entropy from the same state" in [s.value for s in at.subheader]


def test_bad_setting_shows_an_error_and_keeps_the_playground():
    at = _learn()
    pg = at.session_state[AK.PLAYGROUND]
    at.number_input(key=AK.LEARN_POINTS).set_value(40).run()
    at.number_input(key=AK.LEARN_INITIAL).set_value(35).run()
    at.button(key="learn_new").click().run()
    _ok(at)
    errors = [e.value for e in at.error]
    assert len(errors) == 1 and "must be smaller than the pool" in errors[0] and "kept" in errors[0]
    assert at.session_state[AK.PLAYGROUND] is pg and len(pg.rounds) == 1 and pg.settings.n_points == 400
    assert len(at.get("plotly_chart")) == 3, "the views of the kept playground are still drawn"
    # the error is shown once; fixing the input builds the new playground
    at.number_input(key=AK.LEARN_INITIAL).set_value(8).run()
    assert not at.error
    at.button(key="learn_new").click().run()
    _ok(at)
    new = at.session_state[AK.PLAYGROUND]
    assert new is not pg and new.settings.n_points == 40 and new.settings.initial == 8 and len(new.rounds) == 1


def test_toy_change_brings_its_defaults():
    at = _learn()
    at.selectbox(key=AK.LEARN_TOY).select("spirals").run()
    _ok(at)
    assert not at.number_input(key=AK.LEARN_CLASSES).disabled
    assert at.number_input(key=AK.LEARN_CLASSES).value == 3 and at.number_input(key=AK.LEARN_NOISE).value == 0.05
    at.number_input(key=AK.LEARN_CLASSES).set_value(4).run()
    at.number_input(key=AK.LEARN_POINTS).set_value(200).run()
    at.button(key="learn_new").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    pg = at.session_state[AK.PLAYGROUND]
    assert (pg.settings.toy, pg.settings.n_classes, pg.settings.n_points) == ("spirals", 4, 200)
    assert pg.rounds[0].grid_probs.shape[-1] == 4 and len(pg.dataset.classes) == 4
    at.selectbox(key=AK.LEARN_TOY).select("circles").run()
    assert at.number_input(key=AK.LEARN_CLASSES).value == 2 and at.number_input(key=AK.LEARN_CLASSES).disabled
