"""AppTest: every page loads; Setup applies built-ins and uploads (good and bad); Rounds runs a round,
draws its views and travels back in time; Records opens a run record read-only."""

import pytest
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc

from .app_helpers import APP, apply_builtin, assert_ok as _ok, open_app as _app


@pytest.fixture(scope="module")
def ran() -> AppTest:
    """The Rounds page after running two rounds (the job is waited for: SYNC_JOBS)."""
    at = _app()
    _ok(at)
    at.number_input(key=AK.N_TO_RUN).set_value(2)
    at.button(key="btn_runn").click().run()
    _ok(at)
    return at


@pytest.mark.parametrize("page", ["app_pages/setup.py", "app_pages/rounds.py", "app_pages/compare.py", "app_pages/records.py",
                                  "app_pages/walkthrough.py", "app_pages/learn.py"])
def test_every_page_loads(page):
    at = _app(page)
    _ok(at)
    assert not at.error, [e.value for e in at.error]


def test_rounds_opens_with_no_rounds_and_buttons():
    at = _app()
    _ok(at)
    assert at.title[0].value == "Rounds"
    assert any("Dataset:" in m.value for m in at.sidebar.markdown), "the sidebar shows the current run"
    labels = [b.label for b in at.button]
    for label in ("Run 1 round", "Run rounds", "Stop", "Reset"):
        assert label in labels
    assert any("No rounds yet" in i.value for i in at.info)


def test_rounds_run_views_and_time_travel(ran):
    at = ran
    ex = at.session_state[AK.EXPLORER]
    assert len(ex.rounds) == 2
    assert len(at.get("plotly_chart")) >= 4, "map, objective, objective per round, learning curve, picks"
    # performance readout: time per round, with the device and the selection's phases
    assert any(h.value == "Time per round" for h in at.subheader)
    assert any("selecting, on CPU" in c.value and "set-up" in c.value for c in at.caption)
    assert at.slider(key=AK.ROUND_VIEW).value == 1
    at.slider(key=AK.ROUND_VIEW).set_value(0).run()
    _ok(at)
    assert any("Round 0" in m.value for m in at.markdown)
    at.slider(key=AK.ROUND_VIEW).set_value(1).run()
    _ok(at)
    assert any("Round 1" in m.value for m in at.markdown)
    # Inspect by index: a picked point of round 1
    j = int(ex.rounds[1].selection.indices[0])
    at.number_input(key=AK.INSPECT_INDEX).set_value(j).run()
    _ok(at)
    assert any("picked this round (#1)" in m.value for m in at.markdown)
    # colour by prediction
    at.get("button_group")[0].set_value("prediction").run() if at.get("button_group") else None
    _ok(at)
    # record, metrics, picks, labels (CSV, Label Studio JSON), bundle of the saved run
    assert len(at.get("download_button")) == 6


def test_run_one_round_then_reset():
    at = _app()
    at.button(key="btn_run1").click().run()
    _ok(at)
    assert len(at.session_state[AK.EXPLORER].rounds) == 1
    assert not at.error
    at.button(key="btn_reset").click().run()
    _ok(at)
    assert len(at.session_state[AK.EXPLORER].rounds) == 0


def test_setup_applies_a_builtin():
    at = apply_builtin("moons", "entropy")
    ex = at.session_state[AK.EXPLORER]
    assert ex.dataset.name == "moons" and ex.config.strategy == "entropy"
    assert any("New run ready" in s.value for s in at.success)
    links = at.get("page_link")
    assert len(links) == 1 and links[0].proto.page_script_hash and "Go to Rounds" in links[0].proto.label


GOOD_CSV = "a,b,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{'xy'[i % 2]}" for i in range(80))
BAD_CSV = "a,b,label\n1,2,x\n3,oops,y\n"


def _upload(at: AppTest, name: str, text: str) -> AppTest:
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value((name, text.encode(), "text/csv")).run()
    return at


def test_setup_upload_good_csv():
    at = _upload(_app("app_pages/setup.py"), "good.csv", GOOD_CSV)
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="setup_label_col").value == "label"
    at.number_input(key="setup_initial").set_value(6).run()
    at.number_input(key="setup_batch").set_value(4).run()
    at.button(key="setup_apply").click().run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[AK.EXPLORER].dataset.name == "good.csv"


def test_setup_upload_bad_csv_keeps_the_run():
    at = _app("app_pages/setup.py")
    before = at.session_state[AK.EXPLORER]
    _upload(at, "bad.csv", BAD_CSV)
    _ok(at)
    assert at.error, "a bad upload shows st.error"
    assert at.session_state[AK.EXPLORER] is before


def test_setup_bad_config_shows_error_and_keeps_the_run():
    at = _app("app_pages/setup.py")
    before = at.session_state[AK.EXPLORER]
    at.number_input(key="setup_initial").set_value(5000).run()
    at.button(key="setup_apply").click().run()
    _ok(at)
    assert at.error
    assert at.session_state[AK.EXPLORER] is before


def test_records_open_read_only(ran, tmp_path):
    record_json = ran.session_state[AK.EXPLORER].record.to_json()
    at = _app("app_pages/records.py")
    at.file_uploader(key="record_file").set_value([("run.json", record_json.encode(), "application/json")]).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    ex = at.session_state[AK.EXPLORER]
    assert ex.read_only and len(ex.rounds) == 2
    times = [df.value for df in at.dataframe if "select s" in df.value.columns]
    assert times and len(times[0]) == 2 and (times[0]["device"] == "CPU").all()   # performance readout
    at.switch_page("app_pages/rounds.py").run()
    _ok(at)
    assert at.button(key="btn_run1").disabled and at.button(key="btn_reset").disabled
    assert any("read-only" in i.value for i in at.info)
    assert len(at.get("plotly_chart")) >= 4


def test_records_bad_json_shows_error():
    at = _app("app_pages/records.py")
    before = at.session_state[AK.EXPLORER]
    at.file_uploader(key="record_file").set_value([("x.json", b"{not json", "application/json")]).run()
    _ok(at)
    assert at.error
    assert at.session_state[AK.EXPLORER] is before


def test_run_rounds_ends_with_the_final_evaluation():
    """With rounds=2 configured, 'Run rounds' × 5 stops after 2 selections and one evaluation."""
    import app_keys as AK
    import app_services as svc
    from bait_core.records.run_record import RunConfig

    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state[AK.SYNC_JOBS] = True
    at.session_state[AK.EXPLORER] = svc.build_explorer(RunConfig(data="builtin:moons", model="linear", rounds=2,
                                                              batch_size=5, initial=10, seed=0))
    at.run()
    at.number_input(key=AK.N_TO_RUN).set_value(5).run()
    [b for b in at.button if b.label == "Run rounds"][0].click().run()
    at.run()
    assert not at.exception, at.exception
    ex = at.session_state[AK.EXPLORER]
    assert len(ex.rounds) == 3 and ex.rounds[-1].is_final and ex.finished
    assert any("finished" in c.value for c in at.caption)


def test_a_folder_upload_becomes_a_zip_of_class_folders():
    import io

    from PIL import Image

    import app_keys as AK
    import app_services as svc
    from bait_core.learning.data import load_file

    def png(v):
        buf = io.BytesIO()
        Image.new("L", (6, 6), color=v).save(buf, format="PNG")
        return buf.getvalue()

    files = [(f"shapes/{c}/{i}.png", png(20 * i + (50 if c == "b" else 0))) for c in "ab" for i in range(10)]
    ds = load_file(svc.folder_to_zip(files), filename="folder.zip", image_size=(6, 6))
    assert ds.classes == ("a", "b") and ds.X.shape[0] + ds.X_test.shape[0] == 20
    with pytest.raises(ValueError, match="zip the folder"):
        svc.folder_to_zip([("1.png", png(1)), ("2.png", png(2))])
    with pytest.raises(ValueError, match="empty"):
        svc.folder_to_zip([])


def test_a_corrected_upload_with_the_same_name_and_size_is_read_again():
    """Issue 10 item 9: the upload cache is keyed on the content, not on name and size."""
    first = "a,b,label\n" + "\n".join(f"{i % 7},{(i * 3) % 5},{'xy'[i % 2]}" for i in range(80))
    fixed = first.replace("x", "z")                      # same name, same byte size, other labels
    assert len(first) == len(fixed)
    at = _upload(_app("app_pages/setup.py"), "data.csv", first)
    assert at.session_state[AK.UPLOAD_DATASET][1].classes == ("x", "y")
    at.file_uploader(key="setup_data_file").set_value(("data.csv", fixed.encode(), "text/csv")).run()
    _ok(at)
    assert at.session_state[AK.UPLOAD_DATASET][1].classes == ("y", "z")
    at.button(key="setup_apply").click().run()
    _ok(at)
    assert at.session_state[AK.EXPLORER].dataset.classes == ("y", "z")
