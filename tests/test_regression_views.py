"""Regression datasets get regression views: the pool map coloured by value on a continuous scale
(true value and prediction on one range), "Picks along the target" (a histogram of the pool's
target values with the round's picks marked) instead of picks per class, and "value" / "RMSE"
wording instead of "class" / "accuracy" on Rounds, Setup, Compare, Records and Walkthrough."""

from __future__ import annotations

import base64
import re

import numpy as np
import plotly.io as pio
import pytest
from streamlit.testing.v1 import AppTest

import app_keys as AK
import views
from bait_core.viz import plots

from .app_helpers import apply_builtin, assert_ok as _ok, open_app as _app


# --- figures ------------------------------------------------------------------------------------

def _regression_map(values, value_range=(0.0, 10.0), name="true value"):
    rng = np.random.default_rng(0)
    N = len(values)
    return plots.pool_map(rng.normal(size=(N, 2)), np.zeros(N, np.int64), [], labeled=np.arange(N) < 3,
                          picks=np.array([5, 4]), pruned=np.zeros(0, np.int64),
                          true_label=[f"{v:.3g}" for v in values], predicted=["1"] * N, confidence=None,
                          gain=None, values=np.asarray(values, dtype=np.float64), value_range=value_range,
                          value_name=name)


def test_pool_map_regression_uses_a_continuous_scale_with_the_value_in_hover():
    vals = np.array([0.5, 1.5, 2.5, np.nan, 4.5, 5.5, 6.5, 7.5])
    fig = _regression_map(vals)
    pool = next(t for t in fig.data if t.name == "pool")
    assert pool.marker.colorscale is not None and pool.marker.showscale, "one continuous colour scale"
    assert (pool.marker.cmin, pool.marker.cmax) == (0.0, 10.0), "the range passed in, not the data's own"
    assert list(pool.marker.color) == [0.5, 1.5, 2.5, 4.5, 5.5, 6.5, 7.5], "coloured by the value itself"
    assert pool.marker.colorbar.title.text == "true value"
    # the value is in customdata and the hover shows it, as "true value" with no confidence
    assert [row[5] for row in pool.customdata] == ["0.5", "1.5", "2.5", "4.5", "5.5", "6.5", "7.5"]
    assert [row[1] for row in pool.customdata] == ["0.5", "1.5", "2.5", "4.5", "5.5", "6.5", "7.5"], "hover's value"
    assert [int(row[0]) for row in pool.customdata] == [0, 1, 2, 4, 5, 6, 7], "customdata[0]: dataset index"
    assert "true value: %{customdata[1]}" in pool.hovertemplate and "prediction: %{customdata[2]}" in pool.hovertemplate
    assert "confidence" not in pool.hovertemplate and "label:" not in pool.hovertemplate
    names = [t.name for t in fig.data]
    assert "no value" in names, "a point without a value is grey, in its own trace"
    assert "labeled" in names and "picked this round" in names, "labeled set and picks marked as for classes"
    stars = next(t for t in fig.data if t.name == "picked this round")
    assert stars.marker.symbol == "star"
    numbers = [a for a in fig.layout.annotations if a.name == plots.PICK_NUMBER_NAME]
    assert [a.text for a in numbers] == ["1", "2"], "the pick order next to the stars, as on a class map"
    assert not any(re.fullmatch(r"class \d+", str(n)) for n in names)


def test_round_map_colours_truth_and_prediction_on_the_same_range(diabetes_round):
    ds, rr = diabetes_round
    xy = np.random.default_rng(0).normal(size=(len(ds.y), 2))
    true_fig = views.round_map(ds, rr, xy, "t", views.COLOUR_TRUE)
    pred_fig = views.round_map(ds, rr, xy, "t", views.COLOUR_PRED)
    t_pool = next(t for t in true_fig.data if t.name == "pool")
    p_pool = next(t for t in pred_fig.data if t.name == "pool")
    assert (t_pool.marker.cmin, t_pool.marker.cmax) == (p_pool.marker.cmin, p_pool.marker.cmax) == views.value_range(ds)
    assert np.allclose(np.asarray(t_pool.marker.color, float), np.asarray(ds.y, float))
    assert np.allclose(np.asarray(p_pool.marker.color, float), np.asarray(rr.predictions, float))
    assert p_pool.marker.colorbar.title.text == "prediction"
    assert views.colour_label(ds, views.COLOUR_TRUE) == "true value"
    assert views.colour_label(ds, views.COLOUR_PRED) == "prediction"


def test_target_histogram_marks_the_picks():
    vals = np.linspace(0.0, 9.9, 100)
    labeled = np.zeros(100, bool)
    labeled[:20] = True
    picks = np.array([95, 50, 51])
    fig = plots.target_histogram(vals, labeled, picks, bins=10, x_title="true value (target)")
    bars = {t.name: t for t in fig.data if t.type == "bar"}
    assert set(bars) == {"labeled", "picked this round", "unlabeled"}
    assert sum(bars["labeled"].y) == 20 and sum(bars["picked this round"].y) == 3 and sum(bars["unlabeled"].y) == 77
    assert list(bars["picked this round"].y) == [0, 0, 0, 0, 0, 2, 0, 0, 0, 1], "picks counted in their bins"
    assert fig.layout.barmode == "stack"
    rug = next(t for t in fig.data if t.type == "scatter")
    assert rug.marker.symbol == "star"
    assert np.allclose(np.asarray(rug.x, float), vals[picks]), "one star at each pick's value"
    assert [int(r[0]) for r in rug.customdata] == [95, 50, 51] and [int(r[1]) for r in rug.customdata] == [1, 2, 3]
    assert fig.layout.xaxis.title.text == "true value (target)"
    # no picks (e.g. Setup's preview): one plain series
    plain = plots.target_histogram(vals, None, title="Pool target values")
    assert [t.name for t in plain.data] == ["pool points"] and sum(plain.data[0].y) == 100


def test_learning_curve_axis_says_rmse_lower_is_better():
    fig = plots.learning_curve(np.arange(3), np.ones(3), "rmse")
    assert fig.layout.yaxis.title.text == "test RMSE — lower is better"
    assert plots.learning_curve(np.arange(3), np.ones(3), "accuracy").layout.yaxis.title.text == "test accuracy"


# --- the app ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def diabetes_round():
    """diabetes with one BAIT round (library only), for the figure tests."""
    from bait_core.learning.data import load_builtin
    from bait_core.service.explorer import Explorer
    from bait_core.records.run_record import RunConfig
    from bait_core.learning.models import build_model

    ds = load_builtin("diabetes", seed=0)
    cfg = RunConfig(data="builtin:diabetes", model="mlp", strategy="bait", rounds=3, batch_size=10, initial=20,
                    seed=0, device="cpu")
    ex = Explorer.start(ds, build_model("mlp", ds.input_shape, ds.n_classes, seed=0), cfg)
    return ds, ex.step()


@pytest.fixture(scope="module")
def diabetes_app() -> AppTest:
    """Setup → diabetes → bait → Apply → Rounds → Run 1 round (the job is waited for)."""
    at = apply_builtin("diabetes", "bait")
    assert at.session_state[AK.EXPLORER].dataset.task == "regression"
    at.switch_page("app_pages/rounds.py").run()
    _ok(at)
    at.button(key="btn_run1").click().run()
    _ok(at)
    assert len(at.session_state[AK.EXPLORER].rounds) == 1
    return at


def _arr(v) -> np.ndarray:
    """A figure array from a chart's JSON spec (plotly writes numeric arrays as base64 'bdata')."""
    if isinstance(v, dict) and "bdata" in v:
        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
    return np.asarray(v)


def _texts(at: AppTest) -> list[str]:
    return [str(e.value) for e in (*at.markdown, *at.caption, *at.subheader, *at.info, *at.title)]


def test_rounds_page_after_a_diabetes_round_speaks_regression(diabetes_app):
    at = diabetes_app
    assert not at.error, [e.value for e in at.error]
    subheaders = [h.value for h in at.subheader]
    assert "Picks along the target" in subheaders and "Picks per class" not in subheaders
    charts = at.get("plotly_chart")
    hist = [pio.from_json(c.proto.spec) for c in charts if '"picks (rug)"' in c.proto.spec]
    assert len(hist) == 1, "the histogram of target values with the picks is drawn"
    by_name = {t.name: t for t in hist[0].data}
    assert {"labeled", "picked this round", "unlabeled", "picks (rug)"} <= set(by_name)
    assert len(_arr(by_name["picks (rug)"].x)) == 10 and _arr(by_name["picked this round"].y).sum() == 10, \
        "the round's 10 picks are marked"
    assert hist[0].layout.xaxis.title.text == "true value (target)"
    # the picks section: no "class" wording, and no "no picks" after a round that picked 10
    picks_caption = next(c.value for c in at.caption if c.value.startswith("The pool's true target values"))
    assert "class" not in picks_caption.lower() and "this round's picks" in picks_caption
    assert not any("No picks to count" in x.value for x in at.info)
    texts = _texts(at)
    assert any("test RMSE" in t and "lower is better" in t for t in texts), "RMSE wording in the round line"
    assert any(t.startswith("The test RMSE (lower is better)") for t in texts), "learning-curve caption"
    assert not any("accuracy" in t.lower() for t in texts)
    assert not any("coloured by class" in t or "true class" in t for t in texts)
    # the map: one continuous colour scale, and a curve whose axis says RMSE, lower is better
    map_spec = next(c.proto.spec for c in charts if '"colorscale"' in c.proto.spec and '"labeled"' in c.proto.spec)
    assert '"showscale":true' in map_spec.replace(" ", "")
    assert any(pio.from_json(c.proto.spec).layout.yaxis.title.text == "test RMSE — lower is better"
               for c in charts), "learning curve's axis"
    # Inspect: "True value", no confidence
    labels = [m.label for m in at.metric]
    assert "True value" in labels and "True label" not in labels and "Confidence" not in labels
    # colour-by control reads "true value / prediction"; colouring by prediction works
    group = at.get("button_group")[0]
    assert "true value" in str(group.proto) and "true class" not in str(group.proto.options)
    group.set_value(views.COLOUR_PRED).run()
    _ok(at)
    assert any('"prediction"' in c.proto.spec and '"colorscale"' in c.proto.spec for c in at.get("plotly_chart"))


@pytest.mark.parametrize("page", ["app_pages/records.py", "app_pages/compare.py", "app_pages/walkthrough.py",
                                  "app_pages/learn.py", "app_pages/setup.py"])
def test_other_pages_with_a_regression_run(diabetes_app, page):
    at = diabetes_app
    at.switch_page(page).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    texts = _texts(at)
    if page == "app_pages/records.py":
        assert any("lower is better" in t for t in texts + [m.label for m in at.metric])
        assert not any("accuracy" in t for t in texts)
    if page == "app_pages/compare.py":
        assert not any("accuracy" in t or "class" in t for t in texts)
    if page == "app_pages/walkthrough.py":
        # play the regression run as a walkthrough: its map, curve and picks speak regression
        at.button(key="story_play").click().run()
        _ok(at)
        assert not at.error, [e.value for e in at.error]
        assert any(m.label == "Test RMSE" for m in at.metric)
        specs = [c.proto.spec for c in at.get("plotly_chart")]
        assert any('"picks (rug)"' in sp for sp in specs) and any('"colorscale"' in sp for sp in specs)
        assert any(t.startswith("Each dot is a pool point coloured by its true value") for t in _texts(at))
    if page == "app_pages/learn.py":
        assert any("classification" in t and "regression" in t for t in texts), "says the playground is classes only"


REG_CSV = "a,b,target\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{0.37 * i + (i % 5) * 0.11:.3f}" for i in range(80))


def test_setup_preview_of_a_regression_csv():
    at = _app("app_pages/setup.py")
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value(("reg.csv", REG_CSV.encode(), "text/csv")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    if at.selectbox(key="setup_label_col").value != "target":
        at.selectbox(key="setup_label_col").set_value("target").run()
        _ok(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics.get("Task") == "regression" and "Classes K" not in metrics
    charts = at.get("plotly_chart")
    spec = next(c.proto.spec for c in charts if "Pool target values" in c.proto.spec)
    assert '"pool points"' in spec and "per class" not in spec
    cap = next(c.value for c in at.caption if c.value.startswith("Regression target"))
    assert "mean" in cap and "median" in cap and "range" in cap and "RMSE" in cap
    assert not any("each class" in c.value for c in at.caption)
    df = [d.value for d in at.dataframe if "role" not in d.value.columns][0]   # not the column-roles editor
    assert "target" in df.columns and "label" not in df.columns


def test_compare_a_regression_run(diabetes_app):
    """A small comparison on diabetes: RMSE wording, "falls sooner", and a first-picks map coloured by value."""
    at = diabetes_app
    at.switch_page("app_pages/compare.py").run()
    at.multiselect(key=AK.CMP_STRATEGIES).set_value(["bait", "random"]).run()
    at.number_input(key=AK.CMP_SEEDS).set_value(2).run()
    at.number_input(key=AK.CMP_ROUNDS).set_value(1).run()
    at.button(key="btn_compare").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[AK.COMPARISON] is not None
    texts = _texts(at)
    assert any("test RMSE (lower is better)" in t and "falls sooner" in t for t in texts)
    assert not any("rises sooner" in t or "accuracy" in t or "coloured by class" in t for t in texts)
    assert any("coloured by true value" in t for t in texts)
    specs = [c.proto.spec for c in at.get("plotly_chart")]
    assert any(pio.from_json(sp).layout.yaxis.title.text == "test RMSE — lower is better" for sp in specs)
    side = next(sp for sp in specs if '"picked"' in sp)
    assert "#440154" in side and "#fde725" in side, "pool dots span the value scale, low to high"
    assert any("final RMSE" in d.value.columns for d in at.dataframe)
