"""A dataset's column names never mix with the app's own columns (issue 9, item 8).

A CSV whose feature columns are named exactly like the columns the pages add (order, index, gain,
label, prediction, …), with a label column 'target', is previewed on Setup, applied, run for a round
and shown on Rounds without an exception; the shared table helper keeps every feature under its own
"x: " namespace, unique even for empty and duplicate names."""

import io

import numpy as np
import pytest

import app_keys as AK
import views
from bait_core.learning.data import load_file

from .app_helpers import assert_ok as _ok, open_app as _app

APP_NAMES = ["index", "order", "gain", "prediction", "label", "status", "round", "class", "true", "p_0",
             "p_1", "feature", "value", "probability"]


def _csv() -> str:
    rng = np.random.default_rng(0)
    header = APP_NAMES + ["", "dup", "dup", "target"]
    rows = []
    for i in range(80):
        vals = [f"{v:.3f}" for v in rng.normal(size=len(header) - 1)]
        rows.append(",".join(vals + ["ab"[i % 2]]))
    return ",".join(header) + "\n" + "\n".join(rows) + "\n"


def test_feature_table_keeps_features_in_their_own_namespace():
    names = APP_NAMES + ["", "", "dup", "dup", "x: order"]
    X = np.arange(3 * len(names), dtype=np.float32).reshape(3, -1)
    buf = io.BytesIO()
    np.savez(buf, X=np.repeat(X, 8, axis=0), y=np.array([0, 1] * 12), feature_names=np.array(names))
    ds = load_file(buf.getvalue(), filename="names.npz", standardize=False)
    app = {"order": [1, 2], "index": [0, 1], "gain": [0.5, 0.25], "label": ["0", "1"], "prediction": ["1", "1"]}
    df = views.feature_table(ds, [0, 1], app)
    assert list(df.columns[:5]) == list(app)
    feats = list(df.columns[5:])
    assert len(feats) == len(names) and len(set(df.columns)) == len(df.columns)
    assert all(c.startswith(views.FEATURE_PREFIX) for c in feats)
    assert "x: order" in feats and "x: x: order" in feats and "x: dup (2)" in feats
    np.testing.assert_array_equal(df[feats].to_numpy(), np.asarray(ds.X[:2]))
    assert df["order"].tolist() == [1, 2]


@pytest.mark.parametrize("task_csv", ["classification"])
def test_app_named_columns_preview_apply_and_run_a_round(task_csv):
    at = _app("app_pages/setup.py")
    _ok(at)
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value(("clash.csv", _csv().encode(), "text/csv")).run()
    _ok(at)
    at.selectbox(key="setup_label_col").set_value("target").run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    preview = [d.value for d in at.dataframe if "x: label" in d.value.columns]   # not the column-roles editor
    assert preview and "label" in preview[0].columns
    at.number_input(key="setup_initial").set_value(6).run()
    at.number_input(key="setup_batch").set_value(4).run()
    at.selectbox(key="setup_model").set_value("linear").run()
    at.button(key="setup_apply").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    ex = at.session_state[AK.EXPLORER]
    assert ex.dataset.name == "clash.csv" and "label" in ex.dataset.feature_names
    at.switch_page("app_pages/rounds.py").run()
    _ok(at)
    at.button(key="btn_run1").click().run()
    _ok(at)
    assert len(at.session_state[AK.EXPLORER].rounds) == 1
    assert not at.error, [e.value for e in at.error]
    batch = [d.value for d in at.dataframe if "order" in d.value.columns]
    assert batch, "the picked batch table is shown"
    cols = list(batch[0].columns)
    assert cols[:5] == ["order", "index", "gain", "label", "prediction"]
    assert {"x: order", "x: index", "x: gain", "x: prediction", "x: label"} <= set(cols)
    assert len(set(cols)) == len(cols)
    at.switch_page("app_pages/records.py").run()
    _ok(at)
