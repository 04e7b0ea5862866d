"""Issue 14: inspect a point by clicking it on the Rounds map (AppTest), the inspected point ringed,
readable pick numbers with a toggle; and pool_map's customdata and pick-number labels (figures).

A click, box or lasso on the map reaches the server as the chart's selection state (a JSON string
widget value); `_select_on_map` sends exactly that, as the browser's Streamlit frontend does."""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go
import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc
import views
from bait_core.viz import plots

from .app_helpers import APP, TIMEOUT, assert_ok


# --- figures ------------------------------------------------------------------------------------------

def _map(picks=(5, 2, 7), pruned=(9,), labeled=(0, 1), n=12, **kw):
    xy = np.random.default_rng(0).normal(size=(n, 2))
    lab = np.zeros(n, bool)
    lab[list(labeled)] = True
    fig = plots.pool_map(xy, np.arange(n) % 3, ["a", "b", "c"], labeled=lab, picks=np.array(picks),
                         pruned=np.array(pruned, dtype=np.int64), true_label=["a"] * n, predicted=["b"] * n,
                         confidence=None, gain=None, **kw)
    return xy, fig


def test_every_map_trace_carries_the_dataset_index_so_a_click_anywhere_inspects():
    xy, fig = _map()
    names = {t.name for t in fig.data}
    assert {"labeled", "pruned (added, then removed)", "picked this round"} <= names
    for t in fig.data:
        idx = [int(row[0]) for row in t.customdata]
        assert np.allclose(xy[idx], np.column_stack([t.x, t.y])), f"{t.name}: customdata[0] is each point's index"
    by = {t.name: [int(r[0]) for r in t.customdata] for t in fig.data}
    assert by["picked this round"] == [5, 2, 7] and by["pruned (added, then removed)"] == [9]
    assert by["labeled"] == [0, 1]


def test_pick_numbers_are_offset_boxed_labels_and_can_be_hidden():
    xy, fig = _map()
    stars = next(t for t in fig.data if t.name == "picked this round")
    assert stars.mode == "markers" and not stars.text, "no tiny text on the WebGL stars"
    notes = [a for a in fig.layout.annotations if a.name == plots.PICK_NUMBER_NAME]
    assert [a.text for a in notes] == ["1", "2", "3"]
    for a, j in zip(notes, (5, 2, 7)):
        assert (a.x, a.y) == (xy[j, 0], xy[j, 1]), "each number sits at its star"
        assert a.xshift > 0 and a.yshift > 0 and (a.xanchor, a.yanchor) == ("left", "bottom"), "offset top right"
        assert a.font.size >= 14 and a.font.weight == "bold" and a.bgcolor and a.borderwidth >= 1
        assert not a.showarrow and not a.captureevents, "clicks pass through to the points"
    _, hidden = _map(pick_numbers=False)
    assert not [a for a in hidden.layout.annotations if a.name == plots.PICK_NUMBER_NAME]
    assert any(t.name == "picked this round" for t in hidden.data), "the stars stay"


def test_pick_numbers_of_stars_close_together_go_to_different_corners():
    xy = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0], [5.01, 5.0], [5.0, 5.01], [5.01, 5.01], [5.0, 5.0]])
    sides = plots.pick_label_sides(xy, np.array([2, 3, 4, 5, 6, 1]), height=560)
    assert sides[0] == ("left", "bottom"), "top right when nothing is in the way"
    assert len(set(sides[:4])) == 4, "four picks on one spot: four corners"
    assert sides[4] == ("left", "bottom"), "a fifth has no free corner: top right"
    assert sides[5] == ("left", "bottom"), "a pick far away: top right"
    fig = plots.pool_map(xy, np.zeros(7, np.int64), ["a"], labeled=np.zeros(7, bool), picks=np.array([2, 3]),
                         pruned=np.zeros(0, np.int64), true_label=["a"] * 7, predicted=["a"] * 7,
                         confidence=None, gain=None)
    a, b = [n for n in fig.layout.annotations if n.name == plots.PICK_NUMBER_NAME]
    assert (a.xanchor, a.xshift) == ("left", 6) and (b.xanchor, b.xshift) == ("right", -6)
    assert plots.pick_label_sides(xy, np.zeros(0, np.int64)) == []


def test_inspect_ring_is_distinct_from_the_labeling_ring():
    xy, fig = _map()
    views.inspect_ring(fig, xy, 4)
    views.highlight_point(fig, xy, 3, name="labeling now: point 3")
    ring = next(t for t in fig.data if t.name == "inspected: point 4")
    red = next(t for t in fig.data if t.name == "labeling now: point 3")
    assert (ring.x[0], ring.y[0]) == tuple(xy[4]) and ring.marker.color != red.marker.color
    assert ring.hoverinfo == "skip" and int(ring.customdata[0][0]) == 4
    assert fig.data[-2].name == "inspected: point 4", "drawn over the points (WebGL, after them)"
    with pytest.raises(IndexError):
        views.inspect_ring(go.Figure(), xy, 12)


@pytest.mark.parametrize("state, want", [
    ({"selection": {"points": [{"customdata": [7, "a"]}], "box": [], "lasso": []}}, ([7], "clicked")),
    ({"selection": {"points": [{"customdata": [7]}, {"customdata": [3]}], "box": [{"x": [0, 1]}], "lasso": []}},
     ([3, 7], "selected")),
    ({"selection": {"points": [], "box": [], "lasso": [{"x": [0, 1, 1]}]}}, ([], "empty")),
    ({"selection": {"points": [], "box": [], "lasso": []}}, ([], "cleared")),
    (None, ([], "cleared")),
])
def test_map_choice_tells_a_click_from_a_box_and_an_empty_box(state, want):
    assert svc.map_choice(state) == want


# --- the Rounds page ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def one_round():
    """The Rounds page on a moons run after one BAIT round (batch 5)."""
    from bait_core.records.run_record import RunConfig
    cfg = RunConfig(data="builtin:moons", model="mlp", strategy="bait", rounds=3, batch_size=5, initial=10,
                    seed=0, device="cpu")
    ex = svc.build_explorer(cfg)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[AK.SYNC_JOBS] = True
    at.session_state[AK.EXPLORER] = ex
    at.run()
    assert_ok(at)
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert len(ex.rounds) == 1
    return at, ex


def _map_chart(at: AppTest):
    charts = [c for c in at.get("plotly_chart") if getattr(c, "key", None) == AK.MAP_KEY]
    assert len(charts) == 1, "one pool map with a selection"
    return charts[0]


def _figure(at: AppTest) -> dict:
    return json.loads(_map_chart(at).proto.spec)


def _select_on_map(at: AppTest, indices, box: bool = False) -> AppTest:
    """Send the map's selection state as the frontend does after a click (box=False) or a box
    selection (box=True) around the points `indices` (customdata[0] of each)."""
    chart = _map_chart(at)
    state = {"selection": {"points": [{"curve_number": 0, "point_number": k, "customdata": [int(j), "x"]}
                                      for k, j in enumerate(indices)],
                           "point_indices": list(range(len(indices))),
                           "box": [{"xref": "x", "yref": "y", "x": [0, 1], "y": [0, 1]}] if box else [],
                           "lasso": []}}
    ws = at._tree.get_widget_states()
    ws.widgets.append(WidgetState(id=chart.proto.id, string_value=json.dumps(state)))
    at._run(ws)
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    return at


def _texts(at: AppTest) -> str:
    return "\n".join([m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info])


def _rings(at: AppTest) -> list[str]:
    return [t.get("name", "") for t in _figure(at)["data"] if str(t.get("name", "")).startswith("inspected:")]


def test_a_click_on_a_pick_inspects_it_rings_it_and_keeps_it(one_round):
    at, ex = one_round
    sel = ex.rounds[0].selection
    assert "Click a point to inspect it below" in _texts(at)
    assert set(_map_chart(at).proto.selection_mode) == {0, 1, 2}, "points, box and lasso"
    second = int(sel.indices[1])
    _select_on_map(at, [second])
    assert at.session_state[AK.INSPECTED] == (second, "clicked")
    assert f"Point **{second}**, clicked on the map." in _texts(at)
    assert any("picked this round (#2)" in m.value and m.value.startswith("Status") for m in at.markdown)
    assert any(m.value.startswith(f"**Inspected:** point {second} (clicked on the map)") and "picked this round (#2)"
               in m.value for m in at.markdown), "the one line under the map"
    assert _rings(at) == [f"inspected: point {second}"]
    assert at.number_input(key=AK.INSPECT_INDEX).value == second, "the number input follows the click"
    # another colouring (a new figure, so a new chart with an empty selection) keeps it
    before = _map_chart(at).proto.id
    at.get("button_group")[0].set_value("prediction").run()
    assert_ok(at)
    assert _map_chart(at).proto.id != before and _rings(at) == [f"inspected: point {second}"]
    at.get("button_group")[0].set_value("true class").run()
    # typing another index moves the ring and says so
    other = int(np.flatnonzero(~ex.rounds[0].labeled_before)[0])
    at.number_input(key=AK.INSPECT_INDEX).set_value(other).run()
    assert_ok(at)
    assert at.session_state[AK.INSPECTED] == (other, "typed")
    assert _rings(at) == [f"inspected: point {other}"] and f"Point **{other}**, typed." in _texts(at)
    # the next round: still inspected (and now labeled before the round, or picked, or unlabeled)
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert len(ex.rounds) == 2 and at.session_state[AK.INSPECTED] == (other, "typed")
    assert _rings(at) == [f"inspected: point {other}"]
    assert any(m.value.startswith(f"**Inspected:** point {other} (typed)") for m in at.markdown)


def test_a_box_selection_offers_its_points_and_an_empty_box_says_so(one_round):
    at, ex = one_round
    lab = np.flatnonzero(ex.rounds[0].labeled_before)[:3].tolist()
    _select_on_map(at, lab, box=True)
    box = at.selectbox(key=AK.INSPECT_PICK)
    assert box.label == "3 point(s) selected on the map" and box.options == [str(j) for j in sorted(lab)]
    assert at.session_state[AK.INSPECTED] == (sorted(lab)[0], "selected")
    assert any("labeled before this round" in m.value for m in at.markdown)
    box.set_value(sorted(lab)[2]).run()
    assert_ok(at)
    assert at.session_state[AK.INSPECTED] == (sorted(lab)[2], "selected")
    assert _rings(at) == [f"inspected: point {sorted(lab)[2]}"]
    # a box around nothing: a sentence instead of silence; the inspected point stays
    _select_on_map(at, [], box=True)
    assert any("No points in that selection" in i.value for i in at.info)
    assert at.session_state[AK.INSPECTED] == (sorted(lab)[2], "selected")
    at.run()
    assert not any("No points in that selection" in i.value for i in at.info), "said once"


def test_the_pick_numbers_toggle_removes_the_labels(one_round):
    at, ex = one_round
    assert at.toggle(key=AK.PICK_NUMBERS).value is True, "on by default"
    notes = [a for a in _figure(at)["layout"].get("annotations", []) if a.get("name") == plots.PICK_NUMBER_NAME]
    assert [a["text"] for a in notes] == [str(k + 1) for k in range(len(ex.rounds[-1].selection.indices))]
    at.toggle(key=AK.PICK_NUMBERS).set_value(False).run()
    assert_ok(at)
    assert not [a for a in _figure(at)["layout"].get("annotations", []) if a.get("name") == plots.PICK_NUMBER_NAME]
    assert any(t.get("name") == "picked this round" for t in _figure(at)["data"]), "the stars stay"
    at.toggle(key=AK.PICK_NUMBERS).set_value(True).run()


def test_a_new_run_on_other_data_inspects_nothing_of_the_old_run(one_round):
    """A point chosen in one run is not carried into another (the index would name another point of other
    data): Apply setup, Reset and opening a record all replace the run through set_explorer."""
    at, ex = one_round
    j = int(np.flatnonzero(~ex.rounds[0].labeled_before)[-1])
    at.number_input(key=AK.INSPECT_INDEX).set_value(j).run()
    assert at.session_state[AK.INSPECTED] == (j, "typed")
    at.switch_page("app_pages/setup.py").run()
    at.selectbox(key="setup_builtin").select("blobs").run()
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[AK.EXPLORER] is not ex
    assert at.session_state[AK.INSPECTED] is None or AK.INSPECTED not in at.session_state
    at.switch_page("app_pages/rounds.py").run()
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    assert not _rings(at), "nothing is ringed in the new run until a point is chosen"
    assert not any(m.value.startswith("**Inspected:**") and "(typed)" in m.value for m in at.markdown)
    # Reset of the new run forgets a chosen point too
    k = int(np.flatnonzero(~at.session_state[AK.EXPLORER].rounds[0].labeled_before)[-1])
    _select_on_map(at, [k])
    assert _rings(at) == [f"inspected: point {k}"]
    at.button(key="btn_reset").click().run()
    assert_ok(at)
    at.button(key="btn_run1").click().run()
    assert not _rings(at)


def test_the_model_layout_key_follows_the_embeddings_not_the_run_object():
    from bait_core.learning.data import load_builtin
    ds = load_builtin("blobs", seed=0, n_points=60)
    E = np.random.default_rng(0).normal(size=(len(ds.y), 8)).astype(np.float32)
    k1 = svc.model_layout_key(ds, E)
    assert svc.model_layout_key(ds, E.copy()) == k1                       # same values, same layout
    F = E.copy(); F[3, 2] += 1e-3
    assert svc.model_layout_key(ds, F) != k1                              # other embeddings, other layout
    assert svc.model_layout_key(ds, E.astype(np.float64)) != k1
