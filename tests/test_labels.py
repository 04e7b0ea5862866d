"""A person in the loop, the library: the label book, the batch a person labels, label files in and out,
a first batch with no labels, and every label surviving a reload (labels.json)."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hst

from bait_core.learning.data import load_builtin, load_file
from bait_core.learning.data.dataset import _finish
from bait_core.learning.labels import (LabelBook, LabelEntry, label_studio_json, labels_csv, parse_label,
                                       point_ids, read_labels_csv)
from bait_core.learning.loop import first_batch
from bait_core.learning.models import build_model
from bait_core.records.run_record import RunConfig, RunRecord, config_dict
from bait_core.service.explorer import Explorer
from bait_core.service.runstore import RunSources, RunStore


def _table(n: int = 240, missing: float = 0.9, seed: int = 0) -> tuple[bytes, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    truth = np.where(X[:, 0] + X[:, 1] > 0, "pos", "neg")
    lab = truth.astype(object)
    lab[rng.random(n) < missing] = ""
    lab[:8] = ["pos", "neg"] * 4                         # enough labels for a split
    df = pd.DataFrame(X, columns=list("abcd"))
    df["label"] = lab
    df["truth"] = truth
    return df.drop(columns="truth").to_csv(index=False).encode(), df


def _person_run(tmp_path, batch: int = 5, **cfg):
    raw, df = _table()
    ds = load_file(raw, filename="t.csv")
    model = build_model("mlp", ds.input_shape, len(ds.classes), seed=0)
    config = RunConfig(data="file:t.csv", strategy=cfg.pop("strategy", "bait"), batch_size=batch,
                       initial=int(ds.has_label.sum()), oracle="person", rounds=cfg.pop("rounds", 6), **cfg)
    store = RunStore(tmp_path)
    ex = Explorer.start(ds, model, config, store=store, sources=RunSources(data_name="t.csv", data_bytes=raw))
    return ex, store, df


def test_person_round_waits_for_labels_and_a_skip_goes_back_to_the_pool(tmp_path):
    ex, store, _ = _person_run(tmp_path)
    n0 = ex.n_labeled
    r0 = ex.step()
    assert ex.awaiting_labels and r0.selection is not None
    p = ex.labels.pending
    assert p.indices == r0.selection.indices.tolist() and p.n_done == 0 and not p.reveal
    assert ex.n_labeled == n0                                   # picks wait: not labeled yet
    with pytest.raises(ValueError, match="waiting for labels"):
        ex.step()
    with pytest.raises(ValueError, match="waiting for labels"):
        ex.start_rounds(1)
    a, b, c, d = p.indices[:4]
    assert ex.label(a, "pos") is None                            # no reveal for a person run
    ex.label(b, 0)                                               # a class number works too
    ex.skip(c)
    ex.skip(d, "not sure")
    assert p.current() == p.indices[4]
    assert ex.undo() == d and d not in p.skipped
    with pytest.raises(ValueError, match="not a class"):
        ex.label(a, "maybe")
    with pytest.raises(ValueError, match="not in the batch"):
        ex.label(int(np.flatnonzero(~ex.mask)[0]), "pos")
    summary = ex.finish_batch()
    assert summary["labeled"] == 2 and summary["skipped"] == 1 and summary["unanswered"] == 2
    assert ex.n_labeled == n0 + 2
    for i in (c, d, p.indices[4]):
        assert not ex.mask[i] and i in ex.labels.returned       # back in the pool
    assert ex.labels.entries[a].label == ex.dataset.classes.index("pos") and ex.labels.entries[a].oracle == "person"
    assert ex.labels.entries[b].label == 0
    assert ex.rounds[-1].picked_class_counts == np.bincount([ex.labels.entries[a].label, 0], minlength=2).tolist()
    r1 = ex.step()
    assert r1.n_labeled == n0 + 2                                # the person's labels were trained on
    known, y = ex.known_labels()
    assert known[a] and y[a] == ex.labels.entries[a].label
    assert ex.awaiting_labels and ex.labels.pending.round == 1


def test_every_label_is_on_disk_the_moment_it_is_given_and_a_resume_restores_the_batch(tmp_path):
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    p = ex.labels.pending
    ex.label(p.indices[0], "neg")
    ex.skip(p.indices[1], "not sure")
    on_disk = json.loads((store.path(ex.run_id) / "labels.json").read_text())
    assert {a["index"]: a["label"] for a in on_disk["pending"]["answers"]} == {p.indices[0]: 0}
    assert on_disk["pending"]["skipped"] == [{"index": p.indices[1], "why": "not sure"}]
    back = store.resume(ex.run_id)                               # a server restart
    q = back.labels.pending
    assert q.indices == p.indices and q.answers == p.answers and q.skipped == p.skipped and q.history == p.history
    assert np.array_equal(back.mask, ex.mask)
    back.label(q.indices[2], "pos")
    back.finish_batch()
    again = store.resume(ex.run_id)
    assert again.labels.pending is None and set(again.labels.entries) == set(back.labels.entries)
    assert np.array_equal(again.mask, back.mask) and not again.mask[q.indices[1]]
    rec = RunRecord.load(store.path(ex.run_id) / "record.json")   # the record holds them too, with who and when
    entries = {e["index"]: e for e in rec.labels["entries"]}
    assert entries[q.indices[0]]["oracle"] == "person" and entries[q.indices[0]]["time"]
    view = Explorer.from_record(rec, dataset=back.dataset)
    assert np.array_equal(view.mask, back.mask)


def test_a_broken_labels_file_is_refused_with_a_sentence(tmp_path):
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    ex.label(ex.labels.pending.indices[0], "pos")
    path = store.path(ex.run_id) / "labels.json"
    good = json.loads(path.read_text())
    for change in ({"pending": {**good["pending"], "answers": [{"index": 10**5, "label": 0}]}},
                   {"pending": {**good["pending"], "answers": [{"index": good["pending"]["indices"][0], "label": 7}]}},
                   {"entries": [{"index": 0, "label": 0, "round": 0, "oracle": "robot"}]},
                   {"kind": "something else"}):
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(ValueError, match="labels"):
            store.resume(ex.run_id)


def test_simulated_runs_record_who_labeled_and_keep_their_config_unchanged():
    ds = load_builtin("blobs", seed=0)
    model = build_model("mlp", ds.input_shape, len(ds.classes), seed=0)
    config = RunConfig(data="builtin:blobs", strategy="random", batch_size=4, initial=10, rounds=2)
    assert "oracle" not in config_dict(config) and "first_batch" not in config_dict(config)
    ex = Explorer.start(ds, model, config)
    r = ex.step()
    assert not ex.awaiting_labels
    for i in r.selection.indices:
        e = ex.labels.entries[int(i)]
        assert e.oracle == "simulated" and e.label == ds.y[i] and e.round == 0
    assert RunRecord.from_json(ex.record.to_json()).labels["entries"]


def test_classroom_round_reveals_the_file_label_and_counts_agreement():
    ds = load_builtin("blobs", seed=0)
    model = build_model("mlp", ds.input_shape, len(ds.classes), seed=0)
    ex = Explorer.start(ds, model, RunConfig(data="builtin:blobs", strategy="random", batch_size=4, initial=10,
                                             rounds=3))
    ex.step(by_person=True)
    p = ex.labels.pending
    assert p.reveal
    i, j = p.indices[:2]
    assert ex.label(i, int(ds.y[i])) == ds.y[i]                   # the truth, revealed after the answer
    wrong = (int(ds.y[j]) + 1) % len(ds.classes)
    assert ex.label(j, wrong) == ds.y[j]
    assert ex.agreement() == {"compared": 2, "agree": 1}
    out = ex.finish_batch()
    assert out["agree"] == 1 and out["compared"] == 2
    _, y = ex.known_labels()
    assert y[j] == wrong                                          # the person's answer is what is trained on
    r = ex.step()                                                 # the next round is simulated again
    assert not ex.awaiting_labels and r.n_labeled == 12


def _unlabeled(n: int = 120, d: int = 3, seed: int = 1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    X[:, 0] *= 50.0                                              # a feature on another scale: standardised first
    return _finish(name="u", source="file:u.csv", task="classification", X=X, y=np.full(n, -1),
                   X_test=np.zeros((0, d), np.float32), y_test=np.zeros(0, np.int64), classes=["a", "b", "c"],
                   feature_names=["f0", "f1", "f2"])


@pytest.mark.parametrize("how", ["k-center", "random"])
def test_no_labels_at_all_first_batch_without_a_model(how):
    ds = _unlabeled()
    model = build_model("mlp", ds.input_shape, 3, seed=0)
    ex = Explorer.start(ds, model, RunConfig(data="file:u.csv", strategy="bait", batch_size=6, initial=0,
                                             oracle="person", rounds=3, first_batch=how))
    r = ex.step()
    assert np.isnan(r.metric) and r.n_labeled == 0 and r.train_epochs == 0
    sel = r.selection
    assert sel.params["first_batch"] == how and "no model" in sel.params["note"]
    assert sel.strategy == ("coreset" if how == "k-center" else "random")
    Z = (ds.X - ds.X.mean(0)) / ds.X.std(0)
    if how == "k-center":                                         # greedy k-center on the standardised inputs
        chosen = [int(sel.indices[0])]
        for _ in range(5):
            dmin = np.min(np.linalg.norm(Z[:, None, :] - Z[chosen][None], axis=2), axis=1)
            dmin[chosen] = -1
            chosen.append(int(np.argmax(dmin)))
        assert sel.indices.tolist() == chosen
    rec = RunRecord.from_json(ex.record.to_json())               # NaN metric and note survive JSON
    assert np.isnan(rec.rounds[0].metric) and rec.rounds[0].selection.params["note"] == sel.params["note"]
    assert rec.config.initial == 0 and rec.config.oracle == "person"
    for k, i in enumerate(ex.labels.pending.indices):
        ex.label(i, k % 3)
    ex.finish_batch()
    r1 = ex.step()                                                # now BAIT, with a model trained on 6 labels
    assert r1.n_labeled == 6 and r1.selection.strategy == "bait" and "note" not in r1.selection.params
    assert np.isnan(r1.metric)                                    # still no test set


def test_initial_zero_only_for_a_person_and_unknown_oracles_refused():
    with pytest.raises(ValueError, match="initial"):
        RunConfig(initial=0).validate()
    RunConfig(initial=0, oracle="person").validate()
    with pytest.raises(ValueError, match="oracle"):
        RunConfig(oracle="crowd").validate()
    with pytest.raises(ValueError, match="first_batch"):
        RunConfig(oracle="person", first_batch="farthest").validate()


def test_labels_csv_and_label_studio_out_and_the_csv_back_in(tmp_path):
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    p = ex.labels.pending
    ex.label(p.indices[0], "pos")
    ex.label(p.indices[1], "neg")
    ex.finish_batch()
    ex.step()
    ex.label(ex.labels.pending.indices[0], "neg")                # a pending answer is exported too
    text = labels_csv(ex.dataset, ex.labels)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["id"] for r in rows] == [point_ids(ex.dataset)[i] for i in (*p.indices[:2], ex.labels.pending.indices[0])]
    assert [r["label"] for r in rows] == ["pos", "neg", "neg"] and {r["oracle"] for r in rows} == {"person"}
    assert [r["round"] for r in rows] == ["0", "0", "1"] and all(r["time"] for r in rows)
    back = read_labels_csv(text.encode(), ex.dataset)
    assert back == [(i, ex.dataset.classes.index(r["label"])) for i, r in
                    zip((*p.indices[:2], ex.labels.pending.indices[0]), rows)]
    tasks = json.loads(label_studio_json(ex.dataset, ex.labels, predictions=ex.rounds[-1].predictions,
                                         confidence=ex.rounds[-1].confidence))
    by_id = {t["data"]["index"]: t for t in tasks}
    assert set(by_id) == {*p.indices[:2], *ex.labels.pending.indices}
    got = by_id[p.indices[0]]["annotations"][0]["result"][0]
    assert got["value"]["choices"] == ["pos"] and got["type"] == "choices" and got["to_name"] == "text"
    assert "annotations" not in by_id[ex.labels.pending.indices[1]]          # not answered yet: predictions only
    pred = by_id[ex.labels.pending.indices[1]]["predictions"][0]
    assert pred["result"][0]["value"]["choices"][0] in ex.dataset.classes and 0 <= pred["score"] <= 1


def test_imported_labels_into_a_fresh_run_give_the_same_labeled_set(tmp_path):
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    for k, i in enumerate(ex.labels.pending.indices[:4]):
        ex.label(i, k % 2)
    ex.finish_batch()
    text = labels_csv(ex.dataset, ex.labels)
    fresh, _, _ = _person_run(tmp_path / "fresh")
    out = fresh.add_labels(read_labels_csv(text, fresh.dataset))
    assert out == {"added": 4, "in_batch": 0, "already": 0}
    assert np.array_equal(fresh.mask & fresh.known_labels()[0], ex.mask & ex.known_labels()[0])
    assert np.array_equal(fresh.known_labels()[1][fresh.mask], ex.known_labels()[1][ex.mask])
    with pytest.raises(ValueError, match="already labeled"):
        fresh.add_labels(read_labels_csv(text, fresh.dataset))                  # strict: nothing changes
    assert fresh.add_labels(read_labels_csv(text, fresh.dataset), strict=False)["already"] == 4


@pytest.mark.parametrize("body, match", [
    ("id,label\n99999,pos\n", "not pool points"),
    ("id,label\n{i},perhaps\n", "not classes"),
    ("id,label\n{i},pos\n{i},neg\n", "different labels"),
    ("row,class\n{i},pos\n", "columns 'id' and 'label'"),
    ("", "empty"),
    (b"id,label\n\xc3\x28,x\n", "UTF-8"),
])
def test_labels_csv_problems_are_sentences(tmp_path, body, match):
    ex, _, _ = _person_run(tmp_path)
    i = point_ids(ex.dataset)[int(np.flatnonzero(~ex.mask)[0])]
    blob = body if isinstance(body, bytes) else body.format(i=i).encode()
    with pytest.raises(ValueError, match=match):
        read_labels_csv(blob, ex.dataset)


def test_parse_label_regression_and_case():
    ds = load_builtin("blobs", seed=0)
    name = ds.classes[1]
    assert parse_label(ds, name) == 1 and parse_label(ds, f" {name} ") == 1
    with pytest.raises(ValueError, match="class number"):
        parse_label(ds, len(ds.classes))
    reg = _finish(name="r", source="file:r.csv", task="regression", X=np.zeros((6, 1), np.float32),
                  y=np.full(6, np.nan, np.float32), X_test=np.zeros((0, 1), np.float32),
                  y_test=np.zeros(0, np.float32))
    assert parse_label(reg, "2.5") == 2.5
    for bad in ("nan", "inf", "two"):
        with pytest.raises(ValueError):
            parse_label(reg, bad)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(picks=hst.lists(hst.tuples(hst.integers(0, 119), hst.sampled_from(["a", "b", "c", "A", " b "])),
                       max_size=30),
       extra=hst.lists(hst.sampled_from(["round", "time", "oracle", "note"]), unique=True, max_size=3),
       sep=hst.sampled_from([",", ";", "\t"]), bom=hst.booleans(), crlf=hst.booleans())
def test_read_labels_csv_reads_what_was_written(picks, extra, sep, bom, crlf):
    ds = _unlabeled()
    want: dict[int, int] = {}
    lines = [sep.join(["id", *extra[:1], "label", *extra[1:]])]
    for i, lab in picks:
        k = ["a", "b", "c"].index(lab.strip().lower())
        if want.get(i, k) != k:
            continue                                              # a clash is tested elsewhere
        want[i] = k
        lines.append(sep.join([str(i), *["x"] * len(extra[:1]), lab, *["y"] * len(extra[1:])]))
    text = ("\r\n" if crlf else "\n").join(lines) + "\n"
    blob = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    got = read_labels_csv(blob, ds)
    assert dict(got) == want and len(got) == len(want)


def test_regression_labels_keep_their_precision_through_the_csv():
    reg = _finish(name="r", source="file:r.csv", task="regression", X=np.zeros((4, 1), np.float32),
                  y=np.full(4, np.nan, np.float32), X_test=np.zeros((0, 1), np.float32),
                  y_test=np.zeros(0, np.float32))
    book = LabelBook()
    for i, v in enumerate((1234567.891, 3.14159265358979, -2.5e-12, 7.0)):
        book.entries[i] = LabelEntry(i, v, 0, "t", "person")
    back = dict(read_labels_csv(labels_csv(reg, book), reg))
    assert back == {i: e.label for i, e in book.entries.items()}


def test_formula_protected_cells_and_spreadsheet_dialects_read_back():
    ds = _finish(name="u", source="file:u.csv", task="classification", X=np.zeros((6, 2), np.float32),
                 y=np.full(6, -1), X_test=np.zeros((0, 2), np.float32), y_test=np.zeros(0, np.int64),
                 classes=["=SUM(1)", " dog", "cat", "-1"], feature_names=["a", "b"])
    book = LabelBook()
    for i in range(4):
        book.entries[i] = LabelEntry(i, i, 0, "t", "person")
    text = labels_csv(ds, book)
    assert "'=SUM(1)" in text                                      # protected in the file
    assert read_labels_csv(text, ds) == [(0, 0), (1, 1), (2, 2), (3, 3)]
    for blob in (b"sep=;\nid;label\n4;cat\n", b"id|label\n4|cat\n", "id\tlabel\n4\tcat\n".encode("utf-16"),
                 b"ID , Label\n4,cat\n", b"ID,label,id\nx,cat,4\n"):
        assert read_labels_csv(blob, ds) == [(4, 2)], blob
    with pytest.raises(ValueError, match="first line is 'just one column'"):
        read_labels_csv(b"just one column\n3\n", ds)


def test_a_file_cannot_silently_change_an_answer_of_the_batch(tmp_path):
    ex, _, _ = _person_run(tmp_path)
    ex.step()
    p = ex.labels.pending
    ex.label(p.indices[0], "pos")
    for strict in (True, False):
        with pytest.raises(ValueError):
            ex.add_labels([(p.indices[0], "neg")], strict=strict)
    assert p.answers[p.indices[0]] == ex.dataset.classes.index("pos")
    assert ex.add_labels([(p.indices[0], "pos"), (p.indices[1], "neg")], strict=False) == \
        {"added": 0, "in_batch": 1, "already": 1}


@pytest.mark.parametrize("tamper, match", [
    (lambda b, ex: {**b, "mask": []}, "missing from the labeled set"),
    (lambda b, ex: {**b, "mask": [i for i in b["mask"] if i != b["entries"][0]["index"]]}, "labeled set"),
    (lambda b, ex: {**b, "entries": b["entries"] + b["entries"][:1]}, "labeled twice"),
    (lambda b, ex: {**b, "pending": {**b["pending"], "round": 7}}, "not the latest round's picks"),
    (lambda b, ex: {**b, "pending": {**b["pending"], "indices": b["pending"]["indices"][:-1]}},
     "not the latest round's picks"),
    (lambda b, ex: {**b, "pending": None}, "without a label, and no batch waits"),
    (lambda b, ex: {**b, "returned": [b["entries"][0]["index"]]}, "both labeled and listed as sent back"),
    (lambda b, ex: {**b, "mask": b["mask"] + b["mask"][:1]}, "listed twice"),
    (lambda b, ex: {**b, "pending": {**b["pending"], "indices": [], "answers": [], "history": [], "times": []}},
     "no points"),
])
def test_a_tampered_labels_file_is_refused_not_half_used(tmp_path, tamper, match):
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    for k, i in enumerate(ex.labels.pending.indices[:2]):
        ex.label(i, k)
    ex.finish_batch()
    ex.step()
    ex.label(ex.labels.pending.indices[0], 0)
    path = store.path(ex.run_id) / "labels.json"
    good = json.loads(path.read_text())
    path.write_text(json.dumps(tamper(good, ex)))
    with pytest.raises(ValueError, match=match):
        store.resume(ex.run_id)


def test_a_refused_change_leaves_the_stale_copy_as_it_was(tmp_path):
    """When another program changed the run's files, each change on this copy is refused before it
    touches anything: the copy's batch, labels and labeled set stay as they were (and the files too)."""
    import copy as _copy
    ex, store, _ = _person_run(tmp_path)
    ex.step()
    p = ex.labels.pending
    ex.label(p.indices[0], "pos")
    other = store.resume(ex.run_id)                        # another program works on the run
    other.label(p.indices[1], "neg")
    before = (_copy.deepcopy(p.answers), dict(p.skipped), ex.mask.copy(), dict(ex.labels.entries))
    files = {n: (store.path(ex.run_id) / n).read_bytes() for n in ("record.json", "labels.json")}
    free = int(np.flatnonzero(~ex.mask)[0])
    for call in (lambda: ex.label(p.indices[2], "neg"), lambda: ex.skip(p.indices[2]), ex.undo, ex.finish_batch,
                 lambda: ex.add_labels([(free, "pos")])):
        with pytest.raises(ValueError, match="changed on disk by another program"):
            call()
        assert (p.answers, p.skipped, ex.labels.entries) == (before[0], before[1], before[3])
        assert np.array_equal(ex.mask, before[2]) and ex.labels.pending is p
    assert {n: (store.path(ex.run_id) / n).read_bytes() for n in files} == files
