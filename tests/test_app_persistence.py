"""The app never loses a run (issue 9 items 7, 11, 12): the run id in the URL, a reload re-attaches,
a server restart resumes from the runs folder, Recent runs, and a double click starts one round."""

import time

import pytest
from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc
from bait_core.service import runstore
from bait_core.service.explorer import Explorer
from bait_core.records.run_record import RunRecord
from tests.app_helpers import APP, TIMEOUT, assert_ok, open_app


@pytest.fixture()
def runs_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(runstore.RUNS_ENV, str(tmp_path))
    return tmp_path


def _reopen(run_id: str, page: str | None = None) -> AppTest:
    """A new browser session (a reload) whose URL carries ?run=ID."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params[AK.RUN_PARAM] = run_id
    at.session_state[AK.SYNC_JOBS] = True
    at.run()
    if page:
        at.switch_page(page).run()
    return at


def test_a_round_saves_the_run_and_puts_its_id_in_the_url(runs_dir):
    at = open_app()
    at.button(key="btn_run1").click().run()
    assert_ok(at)
    ex = at.session_state[AK.EXPLORER]
    assert ex.saved and at.query_params[AK.RUN_PARAM] == ex.run_id
    assert len(RunRecord.load(runs_dir / ex.run_id / "record.json").rounds) == 1


def test_reload_reattaches_and_a_server_restart_resumes(runs_dir):
    at = open_app()
    at.button(key="btn_run1").click().run()
    at.button(key="btn_run1").click().run()
    ex = at.session_state[AK.EXPLORER]
    run_id = ex.run_id
    assert len(ex.rounds) == 2

    again = _reopen(run_id)                                # reload: the same live object, 2 rounds
    assert_ok(again)
    assert again.session_state[AK.EXPLORER] is ex
    assert not again.warning

    runstore.LIVE.discard(run_id)                          # as after a server restart
    restarted = _reopen(run_id)
    assert_ok(restarted)
    back = restarted.session_state[AK.EXPLORER]
    assert back is not ex and back.run_id == run_id and len(back.rounds) == 2 and not back.read_only
    restarted.button(key="btn_run1").click().run()         # a third round continues it
    assert_ok(restarted)
    assert [r.round for r in back.rounds] == [0, 1, 2]
    assert len(RunRecord.load(runs_dir / run_id / "record.json").rounds) == 3


def test_an_unknown_or_malformed_run_in_the_url_is_a_sentence(runs_dir):
    for bad in ("20990101-000000-none-bait-abcdef", "../../etc/passwd", "x" * 300):
        at = _reopen(bad)
        assert_ok(at)
        assert any("Could not reopen run" in w.value for w in at.warning), [w.value for w in at.warning]
        assert at.session_state[AK.EXPLORER].dataset.name == "digits"     # the demo instead


def test_recent_runs_lists_and_resumes_a_run(runs_dir):
    at = open_app()
    at.button(key="btn_run1").click().run()
    run_id = at.session_state[AK.EXPLORER].run_id
    runstore.LIVE.discard(run_id)

    fresh = open_app("app_pages/records.py")
    assert_ok(fresh)
    table = [df.value for df in fresh.dataframe if "run" in df.value.columns]
    assert table and run_id in table[0]["run"].tolist()
    fresh.selectbox(key="resume_pick").select(run_id).run()
    fresh.button(key="resume_run").click().run()
    assert_ok(fresh)
    ex = fresh.session_state[AK.EXPLORER]
    assert ex.run_id == run_id and len(ex.rounds) == 1 and not ex.read_only


def test_every_page_works_as_the_first_view_of_a_saved_run(runs_dir):
    at = open_app()
    at.button(key="btn_run1").click().run()
    run_id = at.session_state[AK.EXPLORER].run_id
    runstore.LIVE.discard(run_id)
    for page in ("app_pages/setup.py", "app_pages/rounds.py", "app_pages/compare.py", "app_pages/records.py",
                 "app_pages/walkthrough.py", "app_pages/learn.py"):
        view = _reopen(run_id, page)
        assert_ok(view)
        assert view.session_state[AK.EXPLORER].run_id == run_id


def test_double_click_on_run_one_round_starts_one_round(runs_dir, monkeypatch):
    """The second click arrives while the first round still runs: refused by the library, shown as a
    sentence; the record gets exactly one new round with unique picks."""
    original = Explorer._round_locked

    def slow(self, **kw):
        time.sleep(2.5)                                    # longer than the click's own wait (ROUND_WAIT_S)
        return original(self, **kw)
    monkeypatch.setattr(Explorer, "_round_locked", slow)
    at = open_app(sync=False)
    at.button(key="btn_run1").click().run()
    ex = at.session_state[AK.EXPLORER]
    assert ex.busy
    job = ex.job
    at.run()                                               # the page redrawn while the round runs
    assert_ok(at)
    assert at.button(key="btn_run1").disabled and at.button(key="btn_runn").disabled
    # a click that still reaches the server (the browser had not redrawn yet) calls start_rounds,
    # which the library refuses for every caller
    with pytest.raises(ValueError, match="already running"):
        ex.start_rounds(1)
    job.join()
    assert [r.round for r in ex.rounds] == [0]
    picks = ex.rounds[0].selection.indices.tolist()
    assert len(set(picks)) == len(picks) == ex.config.batch_size


# --- a record travels with its data: record + data file, and run bundles (issue 10 item 14) -----------------

def _csv_run(runs_dir):
    import numpy as np

    from bait_core.records.run_record import RunConfig
    rng = np.random.default_rng(0)
    rows = ["a,b,label"] + [f"{x:.3f},{y:.3f},{'pq'[int(x + y > 0)]}" for x, y in rng.normal(size=(120, 2))]
    raw = ("\n".join(rows) + "\n").encode()
    ds = svc.load_upload(raw, "mine.csv", "label", seed=0)
    cfg = RunConfig(data="mine.csv", model="linear", strategy="bait", rounds=3, batch_size=5, initial=10, seed=0,
                    device="cpu", label_column="label")
    ex = svc.build_explorer(cfg, dataset=ds, data_file=("mine.csv", raw))
    ex.step()
    return ex, raw


def test_a_record_opens_with_its_data_file_dropped_beside_it(runs_dir):
    ex, raw = _csv_run(runs_dir)
    rec = ex.record.to_json().encode()
    with pytest.raises(ValueError, match="drop the record together with that data file"):
        svc.open_record_files([("run.json", rec)])           # alone: the data are missing, and it says so
    view, how = svc.open_record_files([("run.json", rec), ("mine.csv", raw)])
    assert view.read_only and len(view.rounds) == 1 and "data file" in how
    other = raw.replace(b"p", b"z")
    with pytest.raises(ValueError, match="is not the data this run used"):
        svc.open_record_files([("run.json", rec), ("other.csv", other)])


def test_a_run_bundle_opens_alone_elsewhere_and_continues(runs_dir, tmp_path, monkeypatch):
    ex, raw = _csv_run(runs_dir)
    bundle = ex.store.bundle(ex.run_id)
    elsewhere = tmp_path / "elsewhere"
    monkeypatch.setenv(runstore.RUNS_ENV, str(elsewhere))    # another machine's runs folder
    back, how = svc.open_record_files([("run.zip", bundle)])
    assert not back.read_only and len(back.rounds) == 1 and "live run" in how
    assert (elsewhere / back.run_id / "data" / "mine.csv").read_bytes() == raw
    back.step()
    ex.step()
    assert back.rounds[-1].selection.indices.tolist() == ex.rounds[-1].selection.indices.tolist()


def test_a_crafted_bundle_is_refused_with_a_sentence(runs_dir):
    import io
    import zipfile

    def make(entries):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, data in entries:
                zf.writestr(name, data)
        return buf.getvalue()
    good = [("r1/setup.json", "{}"), ("r1/record.json", "{}")]
    cases = {
        "unexpected entry": good + [("r1/evil.py", "import os")],
        "one run folder": good + [("r2/setup.json", "{}")],
        "unexpected entry '../": [("../x/setup.json", "{}"), ("../x/record.json", "{}")],
        "no record.json": [("r1/setup.json", "{}")],
        "unexpected entry 'r1/data/a/b": good + [("r1/data/a/b.csv", "x")],
        "pickle": good + [("r1/init.pt", b"\x80\x04")],
        "not a set-up file": good,
    }
    for what, entries in cases.items():
        with pytest.raises(ValueError):
            runstore.RunStore(runs_dir).import_bundle(make(entries))
    with pytest.raises(ValueError, match="not a readable ZIP"):
        runstore.RunStore(runs_dir).import_bundle(b"not a zip")


def test_records_page_opens_a_bundle_as_a_live_run(runs_dir):
    ex, raw = _csv_run(runs_dir)
    bundle = ex.store.bundle(ex.run_id)
    runstore.LIVE.discard(ex.run_id)
    at = open_app("app_pages/records.py")
    at.file_uploader(key="record_file").set_value([("mine_bundle.zip", bundle, "application/zip")]).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    got = at.session_state[AK.EXPLORER]
    assert not got.read_only and len(got.rounds) == 1 and got.dataset.name == "mine.csv"
