"""AppTest of a person labeling a batch on the Rounds page (app_labeling.labeling_panel): the counter,
class buttons, skip / not sure / undo, every answer on disk at once, "Train and pick next" with a
partial batch, a reload and a server restart that keep the answers, and the classroom mode of a
simulated run (the file's label revealed, the agreement shown)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bait_core.learning.labels import point_ids
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc
from bait_core.learning.data.files import load_file
from bait_core.learning.labels import LabelBook
from bait_core.records.run_record import RunConfig
from bait_core.service import runstore

from .app_helpers import APP, TIMEOUT, assert_ok

N_ROWS = 200


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(runstore.RUNS_ENV, str(tmp_path))
    return tmp_path


def _csv() -> bytes:
    """A 2-class table of N_ROWS rows with 3 features; only every 10th row has its label (90% empty)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(N_ROWS, 3))
    lines = ["a,b,c,label"]
    for i in range(N_ROWS):
        label = ("pos" if X[i, 0] + X[i, 1] > 0 else "neg") if i % 10 == 0 else ""
        lines.append(f"{X[i, 0]:.4f},{X[i, 1]:.4f},{X[i, 2]:.4f},{label}")
    return "\n".join(lines).encode()


def _table_run(lines: list[str], name: str, initial: int) -> object:
    """A person-labeled run (batch 5) on the CSV `lines` with `initial` labeled points."""
    data = "\n".join(lines).encode()
    ds = load_file(data, filename=name, label_column=lines[0].split(",")[-1], seed=0)
    cfg = RunConfig(data=name, model="mlp", strategy="bait", rounds=5, batch_size=5, initial=initial, oracle="person")
    return svc.build_explorer(cfg, dataset=ds, data_file=(name, data))


def _person_run(initial: int | None = None):
    """A run on the table labeled by a person: the file's labeled pool rows are the initial set (or
    `initial` of them)."""
    data = _csv()
    ds = load_file(data, filename="few_labels.csv", label_column="label", seed=0)
    n_labeled = int(np.asarray(ds.has_label).sum())
    assert 0 < n_labeled < 30 and len(ds.X) > 150
    cfg = RunConfig(data="few_labels.csv", model="mlp", strategy="bait", rounds=5, batch_size=5,
                    initial=n_labeled if initial is None else initial, oracle="person")
    return svc.build_explorer(cfg, dataset=ds, data_file=("few_labels.csv", data))


def _app_with(ex=None, run_id: str | None = None) -> AppTest:
    """The Rounds page with `ex` as the session's run (or a new session whose URL names `run_id`)."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[AK.SYNC_JOBS] = True
    if ex is not None:
        at.session_state[AK.EXPLORER] = ex
    if run_id is not None:
        at.query_params[AK.RUN_PARAM] = run_id
    at.run()
    assert_ok(at)
    return at


def _texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [i.value for i in at.info]
    return "\n".join(str(p) for p in parts)


def _click(at: AppTest, key: str) -> AppTest:
    at.button(key=key).click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    return at


def _disk_book(runs_dir, ex) -> LabelBook:
    d = json.loads((runs_dir / ex.run_id / "labels.json").read_text())
    book, _ = LabelBook.from_dict(d, n_points=len(ex.dataset.X), task="classification", n_classes=2)
    return book


def test_a_person_labels_a_partial_batch_and_trains_on_it(runs_dir):
    ex = _person_run()
    at = _app_with(ex)
    assert at.button(key="btn_runn").disabled, "a person labels each batch: Run rounds is off"
    assert any("Run rounds” is off" in c.value for c in at.caption)
    _click(at, "btn_run1")
    p = ex.labels.pending
    assert p is not None and len(p.indices) == 5 and len(ex.rounds) == 1
    assert "0 of 5 labeled" in _texts(at)
    assert at.button(key="btn_run1").disabled and at.button(key="lab_train").disabled
    # keyboard shortcuts: 1, 2 for the classes, S / N / U, T
    assert at.button(key="lab_class_0").proto.shortcut == "1" and at.button(key="lab_class_1").proto.shortcut == "2"
    assert [at.button(key=k).proto.shortcut.upper() for k in ("lab_skip", "lab_unsure", "lab_undo", "lab_train")] == \
        ["S", "N", "U", "T"]

    picks = list(p.indices)
    for key in ("lab_class_0", "lab_class_1", "lab_class_0", "lab_skip"):
        _click(at, key)
    assert "3 of 5 labeled · 1 skipped" in _texts(at)
    assert [bar.proto.value for bar in at.get("progress")] == [80], "4 of 5 done"
    assert p.answers == {picks[0]: 0, picks[1]: 1, picks[2]: 0} and p.skipped == {picks[3]: "skip"}
    disk = _disk_book(runs_dir, ex).pending                      # saved the moment each was given
    assert disk.answers == p.answers and disk.skipped == p.skipped
    assert f"Pick **#5** of 5 · data row {point_ids(ex.dataset)[picks[4]]} (point {picks[4]})" in _texts(at), \
        "the open point is the current one, named by its row in the file"
    assert f"labeling now: point {picks[4]}" in _trace_names(at), "the map rings the current point"

    before = ex.n_labeled
    assert not at.button(key="lab_train").disabled
    _click(at, "lab_train")
    assert len(ex.rounds) == 2
    assert ex.n_labeled == before + 3
    assert all(ex.labels.entries[i].oracle == "person" for i in picks[:3])
    assert ex.rounds[1].labeled_before[picks[:3]].all()
    q = ex.labels.pending
    assert q is not None and q.round == 1 and len(q.indices) == 5 and not q.answers
    for i in picks[3:]:          # the skipped and the unanswered point: back in the pool (round 1 may pick them again)
        assert i not in ex.labels.entries and i in ex.labels.returned and not ex.rounds[1].labeled_before[i]
        assert ex.mask[i] == (i in q.indices)
    assert "0 of 5 labeled" in _texts(at)
    assert any("3 label(s) saved, 2 point(s) back in the pool" in s.value for s in at.success)


def _trace_names(at: AppTest) -> set[str]:
    """The names of every trace of every plotly chart on the page."""
    names = set()
    for chart in at.get("plotly_chart"):
        names |= {str(t.get("name")) for t in json.loads(chart.proto.spec).get("data", [])}
    return names


def test_a_first_batch_without_labels_says_so_and_prints_no_nan(runs_dir):
    ex = _person_run(initial=0)
    at = _app_with(ex)
    _click(at, "btn_run1")
    rr = ex.rounds[0]
    assert rr.n_labeled == 0 and not np.isfinite(rr.metric)
    assert rr.selection.params.get("note")
    assert any(str(rr.selection.params["note"])[:40] in i.value for i in at.info), "the first batch's note"
    head = [m.value for m in at.markdown if m.value.startswith("**Round 0**")]
    assert head and "no test metric (no test set yet)" in head[0] and "nan" not in head[0]
    assert any("No test metric" in i.value for i in at.info), "no learning curve of NaNs"
    assert "0 of 5 labeled" in _texts(at)


def test_undo_takes_back_the_latest_answers_in_order(runs_dir):
    ex = _person_run()
    at = _app_with(ex)
    _click(at, "btn_run1")
    p = ex.labels.pending
    first, second = p.indices[0], p.indices[1]
    assert at.button(key="lab_undo").disabled, "nothing to undo yet"
    _click(at, "lab_class_1")
    _click(at, "lab_unsure")
    assert p.answers == {first: 1} and p.skipped == {second: "not sure"}
    assert "1 of 5 labeled · 1 skipped" in _texts(at)
    _click(at, "lab_undo")
    assert p.answers == {first: 1} and not p.skipped
    assert f"(point {second}) · open" in _texts(at), "the point taken back is current again"
    assert _disk_book(runs_dir, ex).pending.skipped == {}
    _click(at, "lab_undo")
    assert not p.answers and "0 of 5 labeled" in _texts(at)
    assert at.button(key="lab_undo").disabled and at.button(key="lab_train").disabled
    # Reset stays available while a batch waits: back to round 0, nothing pending
    assert not at.button(key="btn_reset").disabled
    _click(at, "btn_reset")
    fresh = at.session_state[AK.EXPLORER]
    assert fresh is not ex and not fresh.rounds and fresh.labels.pending is None
    assert not at.button(key="btn_run1").disabled and not [b for b in at.button if b.key == "lab_train"]


def test_edit_makes_a_labeled_point_current_and_relabels_it(runs_dir):
    ex = _person_run()
    at = _app_with(ex)
    _click(at, "btn_run1")
    p = ex.labels.pending
    first = p.indices[0]
    _click(at, "lab_class_0")
    _click(at, f"lab_edit_{first}")
    assert f"(point {first}) · label: " in _texts(at)
    _click(at, "lab_class_1")
    assert p.answers == {first: 1}
    assert f"Pick **#2** of 5 · data row {point_ids(ex.dataset)[p.indices[1]]} (point {p.indices[1]})" in _texts(at), \
        "after the edit, the next open point"


def test_a_reload_and_a_server_restart_keep_the_answers(runs_dir):
    ex = _person_run()
    at = _app_with(ex)
    _click(at, "btn_run1")
    picks = list(ex.labels.pending.indices)
    _click(at, "lab_class_1")
    _click(at, "lab_skip")
    run_id = ex.run_id
    assert at.query_params[AK.RUN_PARAM] == run_id

    again = _app_with(run_id=run_id)                             # a reload: the same live run
    assert again.session_state[AK.EXPLORER] is ex
    assert "1 of 5 labeled · 1 skipped" in _texts(again)

    runstore.LIVE.discard(run_id)                                # a server restart: resumed from the folder
    back = _app_with(run_id=run_id)
    ex2 = back.session_state[AK.EXPLORER]
    assert ex2 is not ex and not ex2.read_only
    assert ex2.labels.pending.answers == {picks[0]: 1} and ex2.labels.pending.skipped == {picks[1]: "skip"}
    assert "1 of 5 labeled · 1 skipped" in _texts(back)
    _click(back, "lab_class_0")                                  # labeling goes on where it stopped
    assert ex2.labels.pending.answers == {picks[0]: 1, picks[2]: 0}


def test_classroom_reveals_the_file_label_and_the_agreement(runs_dir):
    at = _app_with()                                             # the demo run: digits, simulated
    ex = at.session_state[AK.EXPLORER]
    assert ex.config.oracle == "simulated"
    at.toggle(key=AK.CLASSROOM).set_value(True).run()
    _click(at, "btn_run1")
    p = ex.labels.pending
    assert p is not None and p.reveal and len(p.indices) == ex.config.batch_size
    assert f"0 of {len(p.indices)} labeled" in _texts(at)
    classes = list(ex.dataset.classes)
    assert classes == [str(k) for k in range(10)]
    assert [at.button(key=f"lab_class_{k}").proto.shortcut for k in range(10)] == classes, \
        "digit classes: each class's own digit is its key"
    first, second = p.indices[0], p.indices[1]
    assert any(f"point {first}" in im.captions for im in at.image), "the point being labeled is shown"
    right = int(ex.dataset.y[first])
    _click(at, f"lab_class_{right}")
    assert f"file label: {classes[right]} — you agree" in _texts(at)
    assert "You agreed with the file on **1 of 1**" in _texts(at)
    wrong = (int(ex.dataset.y[second]) + 1) % len(classes)
    _click(at, f"lab_class_{wrong}")
    assert f"file label: {classes[int(ex.dataset.y[second])]} — you disagree" in _texts(at)
    assert "You agreed with the file on **1 of 2**" in _texts(at)

    # the switch still on: the next batch waits for the person too; the model trained on their labels
    _click(at, "lab_train")
    assert len(ex.rounds) == 2 and ex.labels.entries[second].label == wrong
    assert ex.labels.pending is not None and ex.labels.pending.round == 1
    # unanswered points of the batch keep their file label hidden (map hover, picked batch, Inspect)
    third = ex.labels.pending.indices[0]
    at.number_input(key=AK.INSPECT_INDEX).set_value(third).run()
    assert [m.value for m in at.metric if m.label == "True label"] == ["?"]
    assert any("waiting for your label: open" in m.value for m in at.markdown), "Inspect says it waits"
    _click(at, "lab_class_0")
    assert [m.value for m in at.metric if m.label == "True label"] == [classes[0]], "the answer is shown"
    # switched off: the batch after that is labeled from the file
    at.toggle(key=AK.CLASSROOM).set_value(False).run()
    _click(at, "lab_train")
    assert len(ex.rounds) == 3 and ex.labels.pending is None
    assert not at.button(key="btn_run1").disabled


def test_a_regression_batch_is_labeled_with_values(runs_dir):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(N_ROWS, 3))
    lines = ["a,b,c,target"] + [f"{x[0]:.4f},{x[1]:.4f},{x[2]:.4f},{(2 * x[0] + 0.5 if i % 10 == 0 else '')}"
                                for i, x in enumerate(X)]
    ex = _table_run(lines, "values.csv", initial=15)
    assert ex.dataset.task == "regression"
    at = _app_with(ex)
    assert not [t for t in at.toggle if t.key == AK.CLASSROOM], "no classroom switch for a person run"
    _click(at, "btn_run1")
    p = ex.labels.pending
    assert not [b for b in at.button if b.key and b.key.startswith("lab_class_")]
    at.button(key="lab_value_btn").click().run()
    assert any("Enter a value first" in e.value for e in at.error) and not p.answers
    at.number_input(key=AK.LABEL_VALUE).set_value(1.25).run()
    _click(at, "lab_value_btn")
    assert p.answers == {p.indices[0]: 1.25}
    assert at.number_input(key=AK.LABEL_VALUE).value is None, "the input empties for the next point"
    assert "1 of 5 labeled" in _texts(at) and "label: 1.25" in _texts(at)


def test_many_classes_are_labeled_with_a_selectbox(runs_dir):
    rng = np.random.default_rng(2)
    X = rng.normal(size=(N_ROWS, 3))
    names = [f"c{k:02d}" for k in range(25)]
    lines = ["a,b,c,label"] + [f"{x[0]:.4f},{x[1]:.4f},{x[2]:.4f},{names[i % 25] if i < 100 else ''}"
                               for i, x in enumerate(X)]
    ex = _table_run(lines, "many.csv", initial=50)
    assert len(ex.dataset.classes) == 25
    at = _app_with(ex)
    _click(at, "btn_run1")
    p = ex.labels.pending
    assert not [b for b in at.button if b.key and b.key.startswith("lab_class_")]
    at.button(key="lab_pick_btn").click().run()
    assert any("Choose a class first" in e.value for e in at.error) and not p.answers
    at.selectbox(key=AK.LABEL_PICK).set_value(list(ex.dataset.classes).index("c07")).run()
    _click(at, "lab_pick_btn")
    assert p.answers == {p.indices[0]: list(ex.dataset.classes).index("c07")}
    assert "label: c07" in _texts(at)


def test_hostile_class_and_column_names_are_inert_in_the_panel(runs_dir):
    from .test_text_safety import _assert_inert, _shown_markdown
    names = ["![](http://example.com/c.png)", "<a href='http://example.com'>x</a>"]
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N_ROWS, 2))
    lines = ["a,![](http://example.com/col.png),label"] + [
        f"{x[0]:.4f},{x[1]:.4f},{names[int(x[0] > 0)] if i % 10 == 0 else ''}" for i, x in enumerate(X)]
    ex = _table_run(lines, "hostile.csv", initial=15)
    at = _app_with(ex)
    _click(at, "btn_run1")
    _click(at, "lab_class_0")
    _click(at, "lab_skip")
    texts = _shown_markdown(at) + [b.label for b in at.button] + [b.help or "" for b in at.button]
    assert any("label:" in t for t in texts)
    for t in texts:
        _assert_inert(t)


def test_a_table_point_is_shown_with_its_values_as_the_file_has_them(runs_dir):
    """A person judges the file's values (2.448), not the standardised features the model sees (0.85)."""
    ex = _person_run()
    at = _app_with(ex)
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    p = ex.labels.pending
    lines = _csv().decode().splitlines()
    want = lines[1 + int(ex.dataset.point_ids[p.current()])].split(",")[:3]
    frames = [df.value for df in at.dataframe]
    one_row = [f for f in frames if len(f) == 1 and list(f.columns)[:3] == ["a", "b", "c"]]
    assert one_row and [str(v) for v in one_row[0].iloc[0, :3]] == want
    assert "label" not in one_row[0].columns                           # the label column is never shown
    assert "Its values as the data file has them." in _texts(at)
    batch = [f for f in frames if "status" in f.columns]
    assert batch and batch[0]["id"].tolist() == [ex.dataset.point_ids[i] for i in p.indices]
