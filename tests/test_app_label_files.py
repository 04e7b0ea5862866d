"""Who labels the picks (Setup), the class list under "Change how it is read", and label files in and out
(app_widgets.export_buttons' label downloads, app_widgets.labels_import)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc
from bait_core.learning.labels import read_labels_csv
from bait_core.learning.reading import ReadOptions
from bait_core.records.run_record import RunConfig
from tests.app_helpers import assert_ok, open_app


# --- data ------------------------------------------------------------------------------------------------

def _table(n: int = 400, every: int = 10, seed: int = 0) -> bytes:
    """A CSV a,b,label where only every `every`-th row has a label (every=0: none has)."""
    rng = np.random.default_rng(seed)
    rows = ["a,b,label"]
    for i in range(n):
        x = rng.normal(size=2)
        c = "pos" if x[0] + x[1] > 0 else "neg"
        rows.append(f"{x[0]:.3f},{x[1]:.3f},{c if every and i % every == 0 else ''}")
    return ("\n".join(rows) + "\n").encode()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value((name, data, "text/csv")).run()
    return at


def _captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


# --- Setup: who labels ------------------------------------------------------------------------------------

def test_a_file_mostly_without_labels_is_labeled_by_a_person_starting_from_its_labeled_rows():
    at = _upload(open_app("app_pages/setup.py"), "mostly_unlabeled.csv", _table())
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ds = at.session_state[AK.UPLOAD_DATASET][1]
    has = np.asarray(ds.has_label, dtype=bool)
    n_lab, n = int(has.sum()), has.size
    assert 0 < n_lab < n // 5
    assert at.segmented_control(key="setup_oracle").value == "person"
    assert at.number_input(key="setup_initial_person").value == n_lab
    text = _captions(at)
    assert f"{n - n_lab:,} of {n:,} pool rows have no label: a person labels the picks" in text
    assert "the rows that have labels in the file start the labeled set" in text
    assert not at.warning
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ex = at.session_state[AK.EXPLORER]
    assert ex.config.oracle == "person" and ex.config.initial == n_lab
    assert np.array_equal(ex.mask, has)                       # every labeled row starts the labeled set


def test_simulated_on_a_file_mostly_without_labels_warns():
    at = _upload(open_app("app_pages/setup.py"), "mostly_unlabeled.csv", _table())
    at.segmented_control(key="setup_oracle").set_value("simulated").run()
    assert_ok(at)
    assert any("never revealed" in w.value for w in at.warning)
    assert "you chose" in _captions(at)
    assert at.number_input(key="setup_initial").min == 1       # simulated: at least one label to start from
    at.get("button_group")[0].set_value("Built-in").run()      # another dataset: its own default again
    assert_ok(at)
    assert at.segmented_control(key="setup_oracle").value == "simulated" and not at.warning
    assert "you chose" not in _captions(at)


def test_a_built_in_dataset_is_simulated():
    at = open_app("app_pages/setup.py")
    assert at.segmented_control(key="setup_oracle").value == "simulated"
    assert "pool rows have a label" in _captions(at)
    assert "setup_initial_person" not in [w.key for w in at.number_input]
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert at.session_state[AK.EXPLORER].config.oracle == "simulated"


def test_a_file_without_any_label_and_a_typed_class_list_starts_from_nothing():
    if "classes" not in ReadOptions.__dataclass_fields__:
        pytest.skip("ReadOptions.classes (a typed class list) is not in this checkout yet")
    at = _upload(open_app("app_pages/setup.py"), "unlabeled.csv", _table(every=0))
    at.text_input(key="read_classes").set_value("neg, pos,neg").run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ds = at.session_state[AK.UPLOAD_DATASET][1]
    assert tuple(ds.classes) == ("neg", "pos") and not np.asarray(ds.has_label).any()
    assert at.segmented_control(key="setup_oracle").value == "person"
    assert at.number_input(key="setup_initial_person").value == 0
    at.radio(key="setup_first_batch").set_value("random").run()
    at.button(key="setup_apply").click().run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    cfg = at.session_state[AK.EXPLORER].config
    assert (cfg.oracle, cfg.initial, cfg.first_batch) == ("person", 0, "random")


# --- label files out ---------------------------------------------------------------------------------------

def _explorer(**kw):
    base = dict(data="builtin:moons", model="mlp", strategy="random", rounds=3, batch_size=6, initial=10, seed=0,
                device="cpu")
    base.update(kw)
    return svc.build_explorer(RunConfig(**base))


def _exports(ex, monkeypatch) -> tuple[AppTest, dict]:
    """export_buttons drawn for `ex`; returns (the AppTest, {download file name: bytes})."""
    files: dict = {}
    real = MemoryMediaFileStorage.load_and_get_id

    def keep(self, path_or_data, mimetype, kind, filename=None):
        files[filename] = path_or_data if isinstance(path_or_data, bytes) else str(path_or_data).encode()
        return real(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", keep)

    def page():
        import streamlit as st
        import app_widgets as W
        W.export_buttons(st.session_state["ex"], "t")

    at = AppTest.from_function(page, default_timeout=60)
    at.session_state["ex"] = ex
    at.run()
    assert_ok(at)
    return at, files


def test_no_label_downloads_before_the_run_has_labels(monkeypatch):
    at, _ = _exports(_explorer(oracle="person", initial=0), monkeypatch)
    labels = [b.label for b in at.get("download_button")]
    assert "Download run record (JSON)" in labels and not any("labels" in x for x in labels)


def test_the_labels_csv_and_label_studio_json_hold_every_label(monkeypatch):
    ex = _explorer()
    ex.step()                                                 # one round: its picks revealed (simulated)
    assert ex.labels.entries
    at, files = _exports(ex, monkeypatch)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download labels (CSV)" in labels and "Download labels for Label Studio (JSON)" in labels
    csv_blob = next(v for k, v in files.items() if k.endswith("_labels.csv"))
    got = read_labels_csv(csv_blob, ex.dataset)
    assert dict(got) == {i: e.label for i, e in ex.labels.entries.items()}
    tasks = json.loads(next(v for k, v in files.items() if k.endswith("_label-studio.json")))
    assert len(tasks) == len(ex.labels.entries)
    last = ex.rounds[-1]
    for t in tasks:
        i = t["data"]["index"]
        assert t["annotations"][0]["result"][0]["value"]["choices"] == [ex.dataset.classes[ex.labels.entries[i].label]]
        assert t["predictions"][0]["result"][0]["value"]["choices"] == [ex.dataset.classes[int(last.predictions[i])]]


def test_a_regression_run_exports_its_labels_as_csv_only(monkeypatch):
    ex = _explorer(data="builtin:diabetes", initial=20)
    ex.add_labels([(int(i), 1.5) for i in np.flatnonzero(~ex.mask)[:3]])
    at, files = _exports(ex, monkeypatch)
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download labels (CSV)" in labels and not any("Label Studio" in x for x in labels)
    got = read_labels_csv(next(v for k, v in files.items() if k.endswith("_labels.csv")), ex.dataset)
    assert sorted(v for _, v in got) == [1.5, 1.5, 1.5]


# --- label files in ----------------------------------------------------------------------------------------

def _import_page():
    import streamlit as st
    import app_widgets as W
    W.labels_import(st.session_state["ex"], "imp")


def _importer(ex) -> AppTest:
    at = AppTest.from_function(_import_page, default_timeout=60)
    at.session_state["ex"] = ex
    at.run()
    assert_ok(at)
    return at


def _send(at: AppTest, text: str) -> AppTest:
    at.file_uploader(key="imp_labels_file").set_value(("labels.csv", text.encode(), "text/csv")).run()
    at.button(key="imp_labels_add").click().run()
    assert_ok(at)
    return at


def test_a_good_labels_file_adds_labels():
    ex = _explorer(oracle="person")
    free = np.flatnonzero(~ex.mask)[:4]
    known = np.flatnonzero(ex.mask)[0]
    cls = ex.dataset.classes
    rows = [f"{i},{cls[int(ex.dataset.y[i])]}" for i in free] + [f"{known},{cls[int(ex.dataset.y[known])]}"]
    at = _send(_importer(ex), "id,label\n" + "\n".join(rows) + "\n")
    assert not at.error, [e.value for e in at.error]
    assert [s.value for s in at.success] == ["4 labels added, 1 already there."]
    assert set(ex.labels.entries) == set(free.tolist())
    assert all(e.oracle == "person" for e in ex.labels.entries.values())
    assert ex.mask[free].all()


def test_a_labels_file_with_a_bad_id_is_refused_with_a_sentence():
    ex = _explorer(oracle="person")
    n = ex.dataset.X.shape[0]
    at = _send(_importer(ex), f"id,label\n{n + 5},{ex.dataset.classes[0]}\n")
    assert at.error and "not pool points" in at.error[0].value
    assert not at.success and not ex.labels.entries


def test_a_read_only_run_refuses_labels():
    live = _explorer(oracle="person")
    ex = type(live).from_record(live.record, dataset=live.dataset)
    assert ex.read_only
    at = _importer(ex)
    assert at.button(key="imp_labels_add").disabled and at.file_uploader(key="imp_labels_file").disabled
    assert "read-only" in _captions(at)
    with pytest.raises(ValueError, match="read-only"):
        svc.import_labels(ex, f"id,label\n{int(np.flatnonzero(~ex.mask)[0])},{ex.dataset.classes[0]}\n".encode())
    assert not ex.labels.entries
