"""Presentation mode (issue 14 item 3): ?present=1 or the sidebar toggle gives the Rounds page its compact
view (one row of controls, the map, the objective and the learning curve in larger type); the toggle and
the URL agree; a reload keeps the mode; rounds run from it; a batch waiting for labels shows the full page."""

import json

import pytest
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_present
from bait_core.viz import plots

from .app_helpers import APP, TIMEOUT, assert_ok, open_app
from .test_app_labeling import _person_run


def _present_app(run_id: str | None = None, value: str = "1") -> AppTest:
    """A new browser session (a first load or a reload) whose URL carries ?present=<value>."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params[AK.PRESENT_PARAM] = value
    if run_id is not None:
        at.query_params[AK.RUN_PARAM] = run_id
    at.session_state[AK.SYNC_JOBS] = True
    at.run()
    assert_ok(at)
    return at


def _charts(at: AppTest) -> dict[str, dict]:
    """The page's plotly charts (their specs) by their key (a keyed element's id ends with "-<key>")."""
    return {c.proto.id.rsplit("-", 1)[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def _big_type(spec: dict) -> None:
    lay = spec["layout"]
    assert lay["font"]["size"] >= 16 and lay["legend"]["font"]["size"] >= 16
    assert lay["title"]["font"]["size"] >= 18 and lay["title"]["text"]
    for ax in ("xaxis", "yaxis"):
        assert lay[ax]["tickfont"]["size"] >= 16 and lay[ax]["title"]["font"]["size"] >= 16


def _compact(at: AppTest) -> bool:
    """The compact view is drawn: no page title, no Inspect / time / batch sections."""
    heads = {h.value for h in at.subheader}
    return (not at.title and not heads & {"Inspect", "Time per round", "Picked batch", "Export", "Learning curve"}
            and "present_map" in _charts(at))


def test_present_param_opens_the_compact_view_and_rounds_run_from_it():
    at = _present_app()
    assert at.session_state[AK.PRESENT] is True and at.sidebar.toggle(key=AK.PRESENT).value is True
    assert at.query_params[AK.PRESENT_PARAM] == "1"
    assert _compact(at), ([t.value for t in at.title], [h.value for h in at.subheader])
    for key in ("btn_run1", "btn_runn", "btn_stop"):
        at.button(key=key)                                          # the controls' row (raises when absent)
    assert any("No rounds yet" in m.value for m in at.markdown)
    _big_type(_charts(at)["present_map"])

    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ex = at.session_state[AK.EXPLORER]
    assert len(ex.rounds) == 1
    charts = _charts(at)
    assert set(charts) == {"present_map", "present_objective", "present_curve"}, set(charts)
    for spec in charts.values():
        _big_type(spec)
    assert charts["present_map"]["layout"]["height"] == app_present.MAP_HEIGHT
    assert charts["present_objective"]["layout"]["title"]["text"] == "Fisher objective, round 0"
    assert any("Round 0** of 1" in m.value for m in at.markdown), [m.value for m in at.markdown]
    # the pick numbers on the stars are large too; the marker kinds have their own one-row legend
    traces = {t.get("name"): t for t in charts["present_map"]["data"]}
    numbers = [a for a in charts["present_map"]["layout"].get("annotations", []) if a.get("name") == plots.PICK_NUMBER_NAME]
    assert len(numbers) == len(ex.rounds[0].selection.indices)
    assert all(a["font"]["size"] == plots.LARGE_FONT_PX for a in numbers), numbers[:2]
    assert {traces[k].get("legend") for k in ("picked", "pruned", "labeled")} == {"legend2"}
    assert traces["0"].get("legend", "legend") == "legend", "the classes stay in the first legend"
    assert charts["present_map"]["layout"]["legend2"]["orientation"] == "h"
    assert _compact(at)

    # Run rounds with a count, then the round slider travels back
    at.number_input(key=AK.N_TO_RUN).set_value(2)
    at.button(key="btn_runn").click().run()
    assert_ok(at)
    assert len(ex.rounds) == 3
    assert at.slider(key=AK.ROUND_VIEW).value == 2
    at.slider(key=AK.ROUND_VIEW).set_value(0).run()
    assert_ok(at)
    assert any("Round 0** of 3" in m.value for m in at.markdown)
    assert _charts(at)["present_objective"]["layout"]["title"]["text"] == "Fisher objective, round 0"


def test_the_toggle_and_the_url_agree_and_a_reload_keeps_the_mode():
    at = open_app()
    assert not at.session_state[AK.PRESENT] and AK.PRESENT_PARAM not in at.query_params
    assert at.title[0].value == "Rounds"
    at.button(key="btn_run1").click().run()                         # a saved run: ?run=ID in the URL too
    ex = at.session_state[AK.EXPLORER]
    run_id = ex.run_id
    assert at.query_params[AK.RUN_PARAM] == run_id

    at.sidebar.toggle(key=AK.PRESENT).set_value(True).run()          # on: ?present=1, the compact view
    assert_ok(at)
    assert at.query_params[AK.PRESENT_PARAM] == "1" and at.query_params[AK.RUN_PARAM] == run_id
    assert _compact(at)

    again = _present_app(run_id=run_id)                              # a reload with both parameters
    assert again.session_state[AK.EXPLORER] is ex and again.session_state[AK.PRESENT]
    assert again.query_params[AK.PRESENT_PARAM] == "1" and again.query_params[AK.RUN_PARAM] == run_id
    assert _compact(again)
    assert set(_charts(again)) == {"present_map", "present_objective", "present_curve"}

    again.sidebar.toggle(key=AK.PRESENT).set_value(False).run()      # off: the parameter goes, the full page
    assert_ok(again)
    assert AK.PRESENT_PARAM not in again.query_params and again.query_params[AK.RUN_PARAM] == run_id
    assert again.title[0].value == "Rounds"
    assert {"Inspect", "Time per round", "Learning curve"} <= {h.value for h in again.subheader}
    assert "present_map" not in _charts(again) and "map" in _charts(again)

    assert not _present_app(value="0").session_state[AK.PRESENT], "?present=0 leaves the mode off"
    assert _present_app(value="true").session_state[AK.PRESENT]


@pytest.mark.parametrize("page", ["app_pages/setup.py", "app_pages/compare.py", "app_pages/records.py",
                                  "app_pages/walkthrough.py", "app_pages/learn.py"])
def test_other_pages_ignore_the_mode(page):
    at = _present_app()
    at.switch_page(page).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.title, "the page draws its normal view"
    assert at.session_state[AK.PRESENT] and at.query_params[AK.PRESENT_PARAM] == "1"


def test_a_batch_waiting_for_labels_shows_the_full_page_with_its_labeling_panel(monkeypatch, tmp_path):
    from bait_core.service import runstore
    monkeypatch.setenv(runstore.RUNS_ENV, str(tmp_path))
    ex = _person_run()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[AK.SYNC_JOBS] = True
    at.session_state[AK.EXPLORER] = ex
    at.query_params[AK.PRESENT_PARAM] = "1"
    at.run()
    assert_ok(at)
    assert _compact(at) and at.button(key="btn_runn").disabled, "a person's run: Run rounds is off here too"
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert ex.labels.pending is not None
    assert any("full page is shown while this batch waits" in c.value for c in at.caption)
    assert at.title[0].value == "Rounds" and at.button(key="lab_train"), "the normal page with its labeling panel"


def test_large_fonts_refuses_an_unreadable_size():
    import numpy as np
    fig = plots.learning_curve(np.array([10, 20]), np.array([0.5, 0.6]), "accuracy")
    with pytest.raises(ValueError, match="too small to read"):
        plots.large_fonts(fig, 4)
    assert plots.large_fonts(fig, 20) is fig and fig.layout.xaxis.tickfont.size == 20


@pytest.mark.parametrize("data, strategy", [("builtin:diabetes", "bait"), ("builtin:moons", "random")])
def test_regression_and_a_strategy_without_objective(data, strategy):
    """A regression run (colour bar, value wording) and a strategy with no Fisher objective draw the
    compact view too: the map and curve in large type, a one-line note where the objective would be."""
    import app_services as svc
    from bait_core.records.run_record import RunConfig
    ex = svc.build_explorer(RunConfig(data=data, model="mlp", strategy=strategy, rounds=3, batch_size=6,
                                      initial=12, seed=0, device="cpu"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[AK.SYNC_JOBS] = True
    at.session_state[AK.EXPLORER] = ex
    at.query_params[AK.PRESENT_PARAM] = "1"
    at.run()
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    charts = _charts(at)
    assert _compact(at) and "present_curve" in charts
    _big_type(charts["present_map"])
    _big_type(charts["present_curve"])
    if strategy == "bait":
        assert ex.dataset.task == "regression" and "present_objective" in charts
        assert any(t.get("marker", {}).get("showscale") for t in charts["present_map"]["data"]), "a colour bar"
        assert any("test RMSE" in m.value for m in at.markdown), [m.value for m in at.markdown]
    else:
        assert "present_objective" not in charts
        assert any("does not compute one" in i.value for i in at.info)
