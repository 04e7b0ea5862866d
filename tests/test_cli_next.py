"""`python -m bait_core next`: the headless labeling loop (a person labels from files, no app).

First call creates RUN_DIR and writes to_label.csv; later calls add --labels, retrain and pick again;
user errors exit 2 with one line and leave every file as it was; the app's RunStore resumes the run.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bait_core.__main__ import main
from bait_core.records.run_record import RunRecord
from bait_core.service.runstore import RunStore

REPO = Path(__file__).resolve().parents[1]
B = 5
CLASSES = ("a", "b", "c")


def make_csv(folder: Path, *, n: int = 200, labeled_fraction: float = 0.1, seed: int = 0) -> tuple[Path, dict]:
    """A table f1,f2,f3,label with ~90 % empty labels; returns (path, {row id: true class name})."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = (X[:, 0] > 0.5).astype(int) + (X[:, 1] > 0).astype(int)
    names = [CLASSES[k] for k in y]
    lab = rng.random(n) < labeled_fraction
    if labeled_fraction > 0:
        for k in range(3):                                  # every class labeled a few times
            lab[np.flatnonzero(y == k)[:4]] = True
    path = folder / "data.csv"
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["f1", "f2", "f3", "label"])
        for i in range(n):
            w.writerow([f"{v:.5f}" for v in X[i]] + [names[i] if lab[i] else ""])
    return path, {str(i): names[i] for i in range(n)}


def to_label(run: Path) -> list[dict]:
    with open(run / "to_label.csv", newline="") as f:
        return list(csv.DictReader(f))


def write_labels(path: Path, pairs) -> Path:
    path.write_text("id,label\n" + "".join(f"{i},{v}\n" for i, v in pairs))
    return path


def snapshot(run: Path) -> dict:
    return {n: ((run / n).read_bytes(), (run / n).stat().st_mtime_ns)
            for n in ("record.json", "labels.json", "summary.json", "to_label.csv")}


def one_error_line(capsys, *fragments: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    for frag in fragments:
        assert frag in err[0], err[0]
    return err[0]


def first_call(run: Path, data: Path, *extra: str) -> int:
    return main(["next", "--run", str(run), "--data", str(data), "--model", "linear", "--batch-size", str(B),
                 "--quiet", *extra])


def test_two_calls_then_user_errors_write_nothing(tmp_path, capsys):
    data, truth = make_csv(tmp_path)
    run = tmp_path / "runs" / "team-1"
    assert first_call(run, data) == 0
    out = capsys.readouterr().out
    assert "run team-1 created" in out and "round 0:" in out and "bash scripts/app.sh -- --runs-dir" in out
    rows = to_label(run)
    header = list(rows[0])
    assert header[0] == "id" and header[1:4] == ["f1", "f2", "f3"] and header[-1] == "label"
    assert len(rows) == B and len({r["id"] for r in rows}) == B
    assert all(r["round"] == "0" for r in rows) and [r["order"] for r in rows] == [str(k) for k in range(B)]
    assert all(r["prediction"] in CLASSES and 0 < float(r["confidence"]) <= 1 for r in rows)
    first_ids = [r["id"] for r in rows]
    with open(data) as f:                                   # the picks are unlabeled rows of the file
        lines = f.read().splitlines()[1:]
    assert all(lines[int(i)].endswith(",") for i in first_ids)
    rec1 = RunRecord.load(run / "record.json")
    n0 = rec1.rounds[0].n_labeled
    assert rec1.config.oracle == "person" and rec1.config.initial == n0

    new = write_labels(tmp_path / "new.csv", [(i, truth[i]) for i in first_ids])
    assert main(["next", "--run", str(run), "--labels", str(new)]) == 0
    out = capsys.readouterr().out
    assert f"labels added: {B}" in out and "round 1:" in out
    rec = RunRecord.load(run / "record.json")
    assert len(rec.rounds) == 2 and rec.rounds[1].n_labeled == n0 + B
    entries = {e["index"]: e for e in rec.labels["entries"]}
    assert len(entries) == B and all(e["oracle"] == "person" and e["round"] == 0 for e in entries.values())
    second_ids = [r["id"] for r in to_label(run)]
    assert len(second_ids) == B and not set(second_ids) & set(first_ids)
    assert all(r["round"] == "1" for r in to_label(run))

    before = snapshot(run)
    for pairs, frag in (([(first_ids[0], truth[first_ids[0]])], "already labeled"),
                        ([(second_ids[0], truth[second_ids[0]]), ("99999", "a")], "not pool points"),
                        ([(second_ids[0], "zebra")], "not classes"),
                        ([(second_ids[0], "a"), (second_ids[0], "b")], "different labels")):
        bad = write_labels(tmp_path / "bad.csv", pairs)
        assert main(["next", "--run", str(run), "--labels", str(bad)]) == 2
        one_error_line(capsys, frag)
        assert snapshot(run) == before
    assert main(["next", "--run", str(run), "--data", str(data)]) == 2
    one_error_line(capsys, "already holds a run", "--data")
    assert main(["next", "--run", str(run), "--strategy", "random", "--labels", str(new)]) == 2
    one_error_line(capsys, "already holds a run", "--strategy")
    assert snapshot(run) == before

    # the app opens it: RunStore(parent).resume(name), with the batch still waiting
    ex = RunStore(run.parent).resume("team-1")
    assert ex.run_id == "team-1" and ex.awaiting_labels and len(ex.rounds) == 2
    assert ex.n_labeled == n0 + B
    ids = [str(i) for i in ex.dataset.point_ids]
    assert [ids[i] for i in ex.labels.pending.indices] == second_ids


def test_partial_labels_send_the_rest_back_to_the_pool(tmp_path, capsys):
    data, truth = make_csv(tmp_path, seed=1)
    run = tmp_path / "runs" / "half"
    assert first_call(run, data) == 0
    picks = [r["id"] for r in to_label(run)]
    capsys.readouterr()
    # the filled-in to_label.csv itself, half its label cells filled
    rows = to_label(run)
    for r in rows[:2]:
        r["label"] = truth[r["id"]]
    with open(tmp_path / "filled.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert main(["next", "--run", str(run), "--labels", str(tmp_path / "filled.csv")]) == 0
    out = capsys.readouterr().out
    assert f"{B - 2} pick(s) of round 0 had no label and went back to the pool" in out
    ex = RunStore(run.parent).resume("half")
    ids = [str(i) for i in ex.dataset.point_ids]
    labeled = {ids[i] for i in ex.labels.entries}
    returned = {ids[i] for i in ex.labels.returned}
    assert labeled == set(picks[:2]) and returned == set(picks[2:])
    assert all(not ex.mask[ids.index(i)] or i in {ids[j] for j in ex.labels.pending.indices} for i in picks[2:])


def test_no_labels_keeps_the_waiting_batch(tmp_path, capsys):
    data, _ = make_csv(tmp_path, seed=2)
    run = tmp_path / "runs" / "wait"
    assert first_call(run, data) == 0
    rec = (run / "record.json").read_bytes()
    picks = [r["id"] for r in to_label(run)]
    capsys.readouterr()
    assert main(["next", "--run", str(run)]) == 0
    assert "still wait for labels" in capsys.readouterr().out
    assert (run / "record.json").read_bytes() == rec and [r["id"] for r in to_label(run)] == picks


@pytest.mark.parametrize("case", ["labels_first", "no_data", "bad_id", "not_empty", "bad_classes"])
def test_first_call_user_errors_create_nothing(case, tmp_path, capsys):
    data, _ = make_csv(tmp_path)
    run = tmp_path / "runs" / "r"
    labels = write_labels(tmp_path / "l.csv", [("0", "a")])
    argv = {"labels_first": ["--run", str(run), "--data", str(data), "--labels", str(labels)],
            "no_data": ["--run", str(run)],
            "bad_id": ["--run", str(tmp_path / "runs" / "bad name!"), "--data", str(data)],
            "not_empty": ["--run", str(tmp_path), "--data", str(data)],
            "bad_classes": ["--run", str(run), "--data", str(data), "--classes", "a,a"]}[case]
    assert main(["next", *argv]) == 2
    one_error_line(capsys, {"labels_first": "--labels is for the calls after the first",
                            "no_data": "needs --data", "bad_id": "run id", "not_empty": "no setup.json",
                            "bad_classes": ""}[case])
    assert not run.exists()


def test_typed_classes_and_no_labels_at_all(tmp_path, capsys):
    data, truth = make_csv(tmp_path, labeled_fraction=0.0, n=80)
    run = tmp_path / "runs" / "cold"
    assert main(["next", "--run", str(run), "--data", str(data), "--model", "linear", "--batch-size", "6",
                 "--classes", "a,b,c", "--first-batch", "random", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "0 labeled point(s)" in out and "no test set" in out and "note:" in out and "random" in out
    picks = [r["id"] for r in to_label(run)]
    assert len(picks) == 6
    assert all(r["prediction"] == "" and r["confidence"] == "" for r in to_label(run)), \
        "no labels, no model: no made-up predictions"
    rec = RunRecord.load(run / "record.json")
    assert rec.config.initial == 0 and rec.config.first_batch == "random"
    assert main(["next", "--run", str(run), "--labels",
                 str(write_labels(tmp_path / "n.csv", [(i, truth[i]) for i in picks]))]) == 0
    assert RunRecord.load(run / "record.json").rounds[1].n_labeled == 6


def test_all_rounds_done_evaluates_and_then_refuses(tmp_path, capsys):
    data, truth = make_csv(tmp_path, seed=3)
    run = tmp_path / "runs" / "short"
    assert first_call(run, data, "--rounds", "1") == 0
    picks = [r["id"] for r in to_label(run)]
    capsys.readouterr()
    assert main(["next", "--run", str(run), "--labels",
                 str(write_labels(tmp_path / "n.csv", [(i, truth[i]) for i in picks]))]) == 0
    assert "all 1 selection rounds are done" in capsys.readouterr().out
    rec = RunRecord.load(run / "record.json")
    assert rec.rounds[-1].is_final and to_label(run) == []
    assert main(["next", "--run", str(run)]) == 2
    one_error_line(capsys, "is finished")


def _png(seed: int) -> bytes:
    from PIL import Image
    a = np.random.default_rng(seed).integers(0, 256, (8, 8), dtype=np.uint8)
    b = io.BytesIO()
    Image.fromarray(a).save(b, "PNG")
    return b.getvalue()


def test_image_zip_with_unlabeled_folder(tmp_path, capsys):
    names = ([f"cat/{i}.png" for i in range(8)] + [f"dog/{i}.png" for i in range(8)]
             + [f"unlabeled/u{i}.png" for i in range(12)])
    zp = tmp_path / "imgs.zip"
    with zipfile.ZipFile(zp, "w") as z:
        for i, n in enumerate(names):
            z.writestr(n, _png(i))
    run = tmp_path / "runs" / "img"
    assert main(["next", "--run", str(run), "--data", str(zp), "--model", "linear", "--batch-size", "3",
                 "--quiet"]) == 0
    rows = to_label(run)
    assert list(rows[0])[:2] == ["id", "file"] and all(r["id"] == r["file"] for r in rows)
    assert all(r["id"].startswith("unlabeled/") for r in rows)
    capsys.readouterr()
    bare = [(r["id"].rsplit("/", 1)[-1], "dog") for r in rows]      # the bare file name works too
    assert main(["next", "--run", str(run), "--labels", str(write_labels(tmp_path / "n.csv", bare))]) == 0
    assert f"labels added: 3" in capsys.readouterr().out


def test_next_subprocess(tmp_path):
    data, _ = make_csv(tmp_path, seed=4)
    run = tmp_path / "runs" / "sub"
    res = subprocess.run([sys.executable, "-m", "bait_core", "next", "--run", str(run), "--data", str(data),
                          "--model", "linear", "--batch-size", str(B), "--quiet"],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr and str(run / "to_label.csv") in res.stdout
    assert len(to_label(run)) == B
    res = subprocess.run([sys.executable, "-m", "bait_core", "next", "--run", str(run), "--labels",
                          str(write_labels(tmp_path / "x.csv", [("100000", "a")]))],
                         cwd=REPO, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and res.stdout == "" and len(res.stderr.strip().splitlines()) == 1


def test_two_next_steps_from_files_then_the_app_opens_the_run(tmp_path, monkeypatch):
    """Issue 13's "CLI: two `next` steps on a CSV from files only, and the record opens in the app": the
    Records page of the app, on the CLI's runs folder, lists the run, resumes it, and the Rounds page shows
    the batch the CLI left to label; the record itself opens read-only with who labeled what."""
    from streamlit.testing.v1 import AppTest

    import app_keys as AK
    from bait_core.service import runstore
    from tests.app_helpers import APP, TIMEOUT, assert_ok

    data, truth = make_csv(tmp_path)
    runs = tmp_path / "runs"
    run = runs / "team-app"
    assert main(["next", "--run", str(run), "--data", str(data), "--label-column", "label", "--model", "mlp",
                 "--strategy", "bait", "--batch-size", str(B)]) == 0
    first = [r["id"] for r in to_label(run)]
    assert main(["next", "--run", str(run), "--labels",
                 str(write_labels(tmp_path / "l1.csv", [(i, truth[i]) for i in first]))]) == 0
    second = [r["id"] for r in to_label(run)]
    assert len(second) == B and not set(first) & set(second)

    monkeypatch.setenv(runstore.RUNS_ENV, str(runs))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state[AK.SYNC_JOBS] = True
    at.run()
    at.switch_page("app_pages/records.py").run()
    assert_ok(at)
    table = [df.value for df in at.dataframe if "run" in df.value.columns]
    assert table and "team-app" in table[0]["run"].tolist()
    at.selectbox(key="resume_pick").select("team-app").run()
    at.button(key="resume_run").click().run()
    assert_ok(at)
    ex = at.session_state[AK.EXPLORER]
    assert ex.run_id == "team-app" and not ex.read_only and len(ex.rounds) == 2 and ex.awaiting_labels
    ids = [ex.labels.pending.indices]
    from bait_core.learning.labels import point_ids
    assert [point_ids(ex.dataset)[i] for i in ids[0]] == second   # the batch the CLI wrote to to_label.csv
    person = [e for e in ex.labels.entries.values() if e.oracle == "person"]
    assert sorted(point_ids(ex.dataset)[e.index] for e in person) == sorted(first)
    at.switch_page("app_pages/rounds.py").run()
    assert_ok(at)
    texts = "\n".join(m.value for m in at.markdown)
    assert f"0 of {B} labeled" in texts                            # the labeling panel, waiting for the person

    rec = RunRecord.load(run / "record.json")                      # read-only, as the Records page opens it
    from bait_core.service.explorer import Explorer
    view = Explorer.from_record(rec, dataset=ex.dataset)
    assert view.read_only and {e.index for e in view.labels.entries.values()} == {e.index for e in person}


def test_the_last_batch_of_a_small_pool_is_labeled_and_evaluated(tmp_path, capsys):
    """A pool that runs out: the last batch's labels are added and a final round trains on them."""
    data, truth = make_csv(tmp_path, labeled_fraction=0.0, n=12)
    run = tmp_path / "runs" / "tiny"
    assert main(["next", "--run", str(run), "--data", str(data), "--model", "linear", "--batch-size", "5",
                 "--classes", "a,b,c", "--quiet"]) == 0
    for step in range(3):
        picks = [r["id"] for r in to_label(run)]
        assert picks, f"step {step}: a batch to label"
        assert main(["next", "--run", str(run), "--labels",
                     str(write_labels(tmp_path / f"s{step}.csv", [(i, truth[i]) for i in picks]))]) == 0
    rec = RunRecord.load(run / "record.json")
    assert rec.rounds[-1].is_final and rec.rounds[-1].n_labeled == 12
    assert len([e for e in rec.labels["entries"] if e["oracle"] == "person"]) == 12
    assert "every pool point is labeled" in capsys.readouterr().out
    assert to_label(run) == []
    assert main(["next", "--run", str(run), "--labels", str(tmp_path / "s0.csv")]) == 2


def test_a_feature_named_like_the_id_column_does_not_fool_the_reader(tmp_path):
    """to_label.csv renames features named like its own columns in any case (Confidence, ORDER), so the
    filled-in file reads back as it was written."""
    rng = np.random.default_rng(3)
    lines = ["Confidence,ORDER,f3,label"] + [f"{rng.normal():.4f},{rng.normal():.4f},{rng.normal():.4f},"
                                             + (CLASSES[k % 3] if k < 30 else "") for k in range(80)]
    data = tmp_path / "ids.csv"
    data.write_text("\n".join(lines) + "\n")
    run = tmp_path / "runs" / "ids"
    assert first_call(run, data, "--label-column", "label") == 0
    header = (run / "to_label.csv").read_text().splitlines()[0].split(",")
    assert header[0] == "id" and "feature_Confidence" in header and "feature_ORDER" in header
    assert header.count("confidence") == 1 and header[-1] == "label"
    rows = to_label(run)
    filled = tmp_path / "filled.csv"
    with open(filled, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({**r, "label": "a"})
    assert main(["next", "--run", str(run), "--labels", str(filled)]) == 0
    rec = RunRecord.load(run / "record.json")
    assert sorted(str(e["index"]) for e in rec.labels["entries"] if e["oracle"] == "person") == \
        sorted(str(RunStore(run.parent).resume("ids").dataset.point_ids.index(r["id"])) for r in rows)


def test_a_second_next_on_the_same_run_while_one_works_is_refused(tmp_path, capsys):
    import fcntl

    data, truth = make_csv(tmp_path)
    run = tmp_path / "runs" / "busy"
    assert first_call(run, data) == 0
    before = snapshot(run)
    with open(run.parent / ".busy.lock", "a") as held:              # another call holds the run
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ids = [r["id"] for r in to_label(run)]
        assert main(["next", "--run", str(run), "--labels",
                     str(write_labels(tmp_path / "l.csv", [(i, truth[i]) for i in ids]))]) == 2
    assert "another `next` is working" in capsys.readouterr().err
    assert snapshot(run) == before


def test_the_app_and_the_cli_on_one_run_never_undo_each_other(tmp_path, monkeypatch):
    """A window of the app holds the run (live, with 2 answers given) while the CLI's `next` adds the batch's
    labels: the file may repeat the window's answers; the stale window then cannot save over the CLI's work
    (a sentence), and reopening the run from the runs folder shows the CLI's state."""
    import app_services as svc
    from bait_core.service import runstore

    data, truth = make_csv(tmp_path)
    runs = tmp_path / "runs"
    run = runs / "shared"
    assert first_call(run, data) == 0
    monkeypatch.setenv(runstore.RUNS_ENV, str(runs))
    window = svc.open_saved_run("shared")                         # the app's live copy
    p = window.labels.pending
    window.label(p.indices[0], truth[window.dataset.point_ids[p.indices[0]]])
    window.label(p.indices[1], truth[window.dataset.point_ids[p.indices[1]]])
    ids = [r["id"] for r in to_label(run)]
    assert main(["next", "--run", str(run), "--labels",
                 str(write_labels(tmp_path / "all.csv", [(i, truth[i]) for i in ids]))]) == 0
    rec = RunRecord.load(run / "record.json")
    assert len(rec.rounds) == 2 and len([e for e in rec.labels["entries"] if e["oracle"] == "person"]) == B
    before = snapshot(run)
    with pytest.raises(ValueError, match="changed on disk by another program"):
        window.undo()                                             # the window's view is out of date
    with pytest.raises(ValueError, match="changed on disk by another program"):
        window.finish_batch()
    assert snapshot(run) == before                                # nothing of the CLI's work undone
    fresh = svc.open_saved_run("shared")                          # reopening reads the CLI's state
    assert fresh is not window and len(fresh.rounds) == 2 and fresh.labels.pending.round == 1
    other = [(i, "a") for i in ids[:1]]
    assert main(["next", "--run", str(run), "--labels", str(write_labels(tmp_path / "again.csv", other))]) == 2


def test_a_table_of_features_only_and_a_fully_labeled_one(tmp_path, capsys):
    rng = np.random.default_rng(4)
    feats = tmp_path / "feats.csv"
    feats.write_text("height,width,score\n" + "".join(f"{a:.3f},{b:.3f},{c:.3f}\n" for a, b, c in rng.normal(size=(40, 3))))
    run = tmp_path / "runs" / "feats"
    assert main(["next", "--run", str(run), "--data", str(feats), "--model", "linear", "--batch-size", "4",
                 "--classes", "a,b", "--quiet"]) == 0
    rows = to_label(run)
    assert len(rows) == 4 and list(rows[0])[:4] == ["id", "height", "width", "score"]
    file_rows = feats.read_text().splitlines()[1:]
    for r in rows:                                             # the values as the file has them, not standardised
        assert ",".join([r["height"], r["width"], r["score"]]) == file_rows[int(r["id"])]
    capsys.readouterr()
    run2 = tmp_path / "runs" / "full"
    assert main(["next", "--run", str(run2), "--data", str(feats), "--label-column", "score",
                 "--batch-size", "4", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "nothing is left for a person to label" in err and "--classes" in err and err.count("\n") == 1
