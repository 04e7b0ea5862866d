"""Runs saved as they go (issue 9 item 11) and one round job per run (item 7), in the library."""

import os
import threading
import time

import numpy as np
import pytest

from bait_core.service import runstore
from bait_core.learning.data import load_file
from bait_core.service.explorer import BUSY_MESSAGE, Explorer
from bait_core.records.run_record import RunRecord
from bait_core.learning.models import build_model
from bait_core.service.runstore import LIVE, RunSources, RunStore, atomic_write, valid_run_id


def _explorer(ds, make_config, store, **kw):
    cfg = make_config(**kw)
    return Explorer.start(ds, build_model("mlp", ds.input_shape, len(ds.classes), seed=cfg.seed), cfg, store=store)


def _same_rounds(a: Explorer, b: Explorer) -> None:
    assert len(a.rounds) == len(b.rounds)
    for x, y in zip(a.rounds, b.rounds):
        np.testing.assert_array_equal(x.labeled_before, y.labeled_before)
        assert x.metric == y.metric
        if x.selection is not None:
            np.testing.assert_array_equal(x.selection.indices, y.selection.indices)


# --- atomic writes ------------------------------------------------------------------------------------

def test_atomic_write_replaces_and_a_crash_mid_write_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "record.json"
    atomic_write(p, "old")
    atomic_write(p, "new")
    assert p.read_text() == "new"

    def crash(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(runstore.os, "replace", crash)
    with pytest.raises(OSError):
        atomic_write(p, "half" * 1000)
    assert p.read_text() == "new"                          # never half a file
    assert [f.name for f in tmp_path.iterdir()] == ["record.json"]   # no temporary left behind


def test_a_failed_save_is_a_sentence_and_keeps_the_rounds(moons, small_config, tmp_path, monkeypatch):
    ex = _explorer(moons, small_config, RunStore(tmp_path))
    ex.step()
    monkeypatch.setattr(runstore.os, "replace", lambda *a: (_ for _ in ()).throw(OSError(28, "No space left")))
    with pytest.raises(ValueError, match="Could not save the run"):
        ex.step()
    assert len(ex.rounds) == 2                             # the round itself is kept in memory
    assert len(RunRecord.load(tmp_path / ex.run_id / "record.json").rounds) == 1


# --- saved after every round, resumed writable -----------------------------------------------------------

def test_each_round_is_saved_and_the_run_resumes_where_it_stopped(moons, small_config, tmp_path):
    store = RunStore(tmp_path)
    ex = _explorer(moons, small_config, store)
    assert not (tmp_path / ex.run_id).exists()             # nothing written before there is work
    for k in (1, 2):
        ex.step()
        saved = RunRecord.load(tmp_path / ex.run_id / "record.json")
        assert len(saved.rounds) == k
    assert [s.run_id for s in store.list()] == [ex.run_id]
    assert store.list()[0].rounds == 2

    import shutil
    shutil.copytree(tmp_path / ex.run_id, tmp_path / "elsewhere" / ex.run_id)
    back = RunStore(tmp_path / "elsewhere").resume(ex.run_id)   # as after a server restart (on a copy)
    assert not back.read_only and back is not ex and back.run_id == ex.run_id
    np.testing.assert_array_equal(back.mask, ex.mask)
    _same_rounds(back, ex)
    # continuing the resumed run gives exactly what continuing the original gives
    ex.step()
    back.step()
    _same_rounds(back, ex)
    assert len(RunRecord.load(tmp_path / ex.run_id / "record.json").rounds) == 3


def test_a_second_writer_of_the_same_run_is_refused_not_allowed_to_undo_the_first(moons, small_config, tmp_path):
    """Two live copies of one run (the app's window from before, and the CLI's `next` or another server):
    the one whose view is out of date cannot save over the other's work; reopening it reads the new state."""
    store = RunStore(tmp_path)
    ex = _explorer(moons, small_config, store)
    ex.step()
    other = store.resume(ex.run_id)                          # another program works on the run
    other.step()
    before = (tmp_path / ex.run_id / "record.json").read_bytes()
    with pytest.raises(ValueError, match="changed on disk by another program"):
        ex.step()                                            # the stale copy: its round is not written
    assert (tmp_path / ex.run_id / "record.json").read_bytes() == before
    fresh = store.resume(ex.run_id)
    assert len(fresh.rounds) == 2
    fresh.step()                                             # the reopened run goes on
    assert len(RunRecord.load(tmp_path / ex.run_id / "record.json").rounds) == 3


def test_an_uploaded_table_and_weights_file_are_stored_and_resume(small_config, tmp_path):
    from safetensors.torch import save as save_tensors

    from bait_core.learning.models import load_user_model

    rng = np.random.default_rng(0)
    rows = ["a,b,c,label"] + [f"{x:.3f},{y:.3f},{z:.3f},{'pq'[int(x + y > 0)]}"
                              for x, y, z in rng.normal(size=(120, 3))]
    raw = ("\n".join(rows) + "\n").encode()
    ds = load_file(raw, filename="mine.csv", label_column="label", seed=0)
    weights = save_tensors({k: v.contiguous() for k, v in
                            build_model("linear", ds.input_shape, 2, seed=5).state_dict().items()})
    model = load_user_model(weights, filename="w.safetensors", arch="linear", input_shape=ds.input_shape,
                            n_outputs=2, seed=0)
    cfg = small_config(data="mine.csv", model="w.safetensors", label_column="label")
    store = RunStore(tmp_path)
    ex = Explorer.start(ds, model, cfg, store=store,
                        sources=RunSources(data_name="mine.csv", data_bytes=raw, model_name="w.safetensors",
                                           model_bytes=weights, arch="linear"))
    ex.step()
    assert (tmp_path / ex.run_id / "data" / "mine.csv").read_bytes() == raw
    assert (tmp_path / ex.run_id / "model" / "w.safetensors").read_bytes() == weights
    import shutil
    shutil.copytree(tmp_path / ex.run_id, tmp_path / "elsewhere" / ex.run_id)   # its own copy: one writer each
    back = RunStore(tmp_path / "elsewhere").resume(ex.run_id)
    ex.step()
    back.step()
    _same_rounds(back, ex)


def test_resume_refuses_bad_ids_missing_runs_and_changed_data(moons, small_config, tmp_path):
    store = RunStore(tmp_path)
    for bad in ("../etc", "a/b", "", ".hidden", "x" * 200, None):
        assert not valid_run_id(bad)
        with pytest.raises(ValueError):
            store.resume(bad)
    with pytest.raises(ValueError, match="No saved run"):
        store.resume("20260101-000000-nothing-here")
    ex = _explorer(moons, small_config, store)
    ex.step()
    (tmp_path / ex.run_id / "record.json").write_text('{"kind": "bait-explorer-run", "schema_version": 1}')
    with pytest.raises(ValueError):
        store.resume(ex.run_id)
    (tmp_path / ex.run_id / "setup.json").write_text("not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        store.resume(ex.run_id)


def test_an_unwritable_runs_folder_is_a_sentence(moons, small_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    store = RunStore(blocker / "runs")                     # a folder below a file cannot exist
    with pytest.raises(ValueError, match="cannot be written"):
        store.check_writable()
    ex = _explorer(moons, small_config, store)
    with pytest.raises(ValueError, match="Could not save the run"):
        ex.step()


def test_live_runs_reattach_to_the_same_object(moons, small_config, tmp_path):
    ex = _explorer(moons, small_config, RunStore(tmp_path))
    assert LIVE.get(ex.run_id) is ex


# --- one round job per run ---------------------------------------------------------------------------------

def _slow_rounds(monkeypatch, seconds: float) -> None:
    original = Explorer._round_locked

    def slow(self, **kw):
        time.sleep(seconds)
        return original(self, **kw)
    monkeypatch.setattr(Explorer, "_round_locked", slow)


def test_a_second_start_while_a_round_runs_is_refused(moons, small_config, tmp_path, monkeypatch):
    _slow_rounds(monkeypatch, 0.5)
    ex = _explorer(moons, small_config, RunStore(tmp_path))
    job = ex.start_rounds(1)
    time.sleep(0.1)                                        # the double click, 0.1 s later
    with pytest.raises(ValueError, match="already running"):
        ex.start_rounds(1)
    with pytest.raises(ValueError, match="already running"):
        ex.step()                                          # a direct call is refused too
    with pytest.raises(ValueError, match="already running"):
        ex.reset()
    job.join()
    assert job.status == "done", job.error
    assert [r.round for r in ex.rounds] == [0]
    picks = ex.rounds[0].selection.indices
    assert len(set(picks.tolist())) == len(picks) == small_config().batch_size
    ex.start_rounds(1).join()                              # free again once it ended
    assert [r.round for r in ex.rounds] == [0, 1]


def test_concurrent_starts_from_many_threads_start_one_job(moons, small_config, tmp_path, monkeypatch):
    _slow_rounds(monkeypatch, 0.3)
    ex = _explorer(moons, small_config, RunStore(tmp_path))
    barrier = threading.Barrier(6)
    started, refused = [], []

    def click():
        barrier.wait()
        try:
            started.append(ex.start_rounds(1))
        except ValueError as e:
            refused.append(str(e))
    threads = [threading.Thread(target=click) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(started) == 1 and len(refused) == 5 and all(BUSY_MESSAGE == m for m in refused)
    started[0].join()
    assert [r.round for r in ex.rounds] == [0]


def test_start_rounds_validates(moons, small_config, tmp_path):
    ex = _explorer(moons, small_config, RunStore(tmp_path))
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="whole number"):
            ex.start_rounds(bad)
    view = Explorer.from_record(RunRecord.from_json(ex.record.to_json()), dataset=moons)
    with pytest.raises(ValueError, match="read-only"):
        view.start_rounds(1)


def test_a_cancelled_job_saves_the_finished_rounds_only(moons, small_config, tmp_path):
    ex = _explorer(moons, small_config, RunStore(tmp_path), rounds=5)
    job = ex.start_rounds(5)
    while not job.results:                               # one round done
        time.sleep(0.05)
    job.cancel()
    job.join()
    saved = RunRecord.load(tmp_path / ex.run_id / "record.json")
    assert len(saved.rounds) == len(ex.rounds) >= 1
    assert job.status == "cancelled"


def test_reading_a_saved_run_never_unpickles(moons, small_config, tmp_path):
    """The stored initial weights are safetensors; a pickle put in their place is refused."""
    import pickle

    store = RunStore(tmp_path)
    ex = _explorer(moons, small_config, store)
    ex.step()
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))
    (tmp_path / ex.run_id / "init.safetensors").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="initial weights"):
        store.resume(ex.run_id)
    assert not marker.exists()


# --- a hostile runs folder or bundle never breaks the list, the URL or the store (breaker findings) ---------

def test_a_poisoned_summary_or_setup_never_breaks_recent_runs_or_the_url(moons, small_config, tmp_path):
    store = RunStore(tmp_path)
    good = _explorer(moons, small_config, store)
    good.step()
    bad = _explorer(moons, small_config, store)
    bad.step()
    for text in ('{"rounds": 1e999}', "[" * 5000 + "]" * 5000, '{"rounds": "many", "finished": "yes"}', "\x00\xff"):
        (tmp_path / bad.run_id / "summary.json").write_bytes(text.encode("utf-8", "surrogatepass"))
        ids = [s.run_id for s in store.list()]
        assert good.run_id in ids                          # the list still works
    (tmp_path / bad.run_id / "setup.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="not valid"):
        store.resume(bad.run_id)


def _bundle_of(ex) -> bytes:
    return ex.store.bundle(ex.run_id)


def _rezip(blob: bytes, edit) -> bytes:
    import io
    import zipfile
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in src.infolist():
            edit(zf, info, src.read(info))
    return out.getvalue()


def test_damaged_bundles_are_sentences_and_leave_nothing_behind(moons, small_config, tmp_path):
    import stat
    import zipfile

    ex = _explorer(moons, small_config, RunStore(tmp_path / "a"))
    ex.step()
    blob = _bundle_of(ex)
    target = RunStore(tmp_path / "b")

    def corrupt(zf, info, data):                          # flip bytes in the middle of the record's stream
        zf.writestr(info, data)
    damaged = bytearray(_rezip(blob, corrupt))
    pos = damaged.find(b"record.json") + 200
    damaged[pos:pos + 40] = b"\x00" * 40

    def method99(zf, info, data):
        zf.writestr(info, data)
    weird = bytearray(_rezip(blob, method99))
    cd = weird.find(b"PK\x01\x02")                         # the first central-directory entry (setup.json)
    weird[cd + 10:cd + 12] = (99).to_bytes(2, "little")     # its compression method: unknown

    def link(zf, info, data):
        zf.writestr(info, data)
        if info.filename.endswith("setup.json"):
            z = zipfile.ZipInfo(info.filename.replace("setup.json", "data/x.csv"))
            z.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(z, "/etc/passwd")

    def extra(zf, info, data):
        zf.writestr(info, data)
        if info.filename.endswith("setup.json"):
            zf.writestr(info.filename.replace("setup.json", "data/unused.csv"), b"a,b\n" * 1000)

    for name, case in (("damaged", bytes(damaged)), ("method 99", bytes(weird)), ("link", _rezip(blob, link)),
                       ("extra file", _rezip(blob, extra))):
        with pytest.raises(ValueError):
            target.import_bundle(case)
        assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    run_id, copied = target.import_bundle(blob)             # the genuine one still imports
    assert not copied and target.resume(run_id).rounds
    again, copied = target.import_bundle(blob)
    assert copied and again != run_id


@pytest.mark.parametrize("kind", ["nan", "int", "shape"])
def test_resume_refuses_initial_weights_that_are_not_the_models(moons, small_config, tmp_path, kind):
    import torch
    from safetensors.torch import load as load_tensors
    from safetensors.torch import save as save_tensors

    store = RunStore(tmp_path)
    ex = _explorer(moons, small_config, store)
    ex.step()
    path = tmp_path / ex.run_id / "init.safetensors"
    state = load_tensors(path.read_bytes())
    k = next(iter(state))
    if kind == "nan":
        state[k] = torch.full_like(state[k], float("nan"))
    elif kind == "int":
        state[k] = state[k].to(torch.int64)
    else:
        state[k] = torch.zeros(3, 3)
    path.write_bytes(save_tensors(state))
    with pytest.raises(ValueError, match="initial weight"):
        store.resume(ex.run_id)
