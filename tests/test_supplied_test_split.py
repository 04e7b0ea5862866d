"""A test set supplied inside the data file: a table's split column (role 'split', or inferred from the
names split / set / subset), a ZIP's top-level test/ folder of class folders, an NPZ's X_test / y_test;
and ReadingReport.test_source, which says where the test set comes from."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bait_core.learning.data import load_file
from bait_core.learning.reading import ReadOptions, report_lines


def _csv(rows, header="a,b,split,label") -> bytes:
    """rows: (split cell, label cell); column a = the row's index (its identity), b = a noisy number."""
    rng = np.random.default_rng(3)
    lines = [header] + [f"{i},{rng.normal():.4f},{sp},{lab}" for i, (sp, lab) in enumerate(rows)]
    return ("\n".join(lines) + "\n").encode()


def _rows(X: np.ndarray) -> list[int]:
    return [int(v) for v in X[:, 0]]


# -- tables ------------------------------------------------------------------------------------

def test_split_column_mixed_case_and_empty_is_pool():
    marks = ["TEST", " train ", "", "Pool", "unlabeled", "Test"]
    rows = [(marks[i % 6], "x" if i % 3 else "y") for i in range(36)]
    ds = load_file(_csv(rows), filename="t.csv", standardize=False, test_fraction=0.5)
    want_test = [i for i in range(36) if marks[i % 6].strip().lower() == "test"]
    assert _rows(ds.X_test) == want_test                       # exactly the marked rows, in file order
    assert _rows(ds.X) == [i for i in range(36) if i not in want_test]
    assert [int(p) for p in ds.point_ids] == _rows(ds.X)
    assert ds.feature_names == ("a", "b")                      # the split column is never a feature
    assert list(ds.y_test) == [ds.classes.index("x" if i % 3 else "y") for i in want_test]
    split = [c for c in ds.report.columns if c.name == "split"]
    assert len(split) == 1 and split[0].role == "split" and split[0].inferred
    assert split[0].detail == f"{len(want_test)} test rows (supplied)"
    assert ds.report.test_source.startswith("supplied: the rows marked 'test' in column 'split'")
    assert "test_fraction is not used" in ds.report.test_source
    lines = report_lines(ds.report)
    assert any(ln.startswith("Columns, split: split [12 test rows (supplied)]") for ln in lines)
    assert any(ln.startswith("Test set: supplied: the rows marked 'test'") for ln in lines)


def test_random_split_states_its_source_and_fingerprint_unchanged():
    rows = [("", "x" if i % 2 else "y") for i in range(40)]
    plain = "a,b,label\n" + "".join(f"{i},{i % 7},{lab}\n" for i, (_, lab) in enumerate(rows))
    ds = load_file(plain.encode(), filename="t.csv")
    assert ds.report.test_source.startswith("a random 25 % stratified split of the labeled rows")
    assert any(ln.startswith("Test set: a random 25 %") for ln in report_lines(ds.report))
    # the same file with a split column the user switches off reads exactly like the plain file
    marked = "a,b,set,label\n" + "".join(f"{i},{i % 7},{'test' if i < 5 else ''},{lab}\n"
                                         for i, (_, lab) in enumerate(rows))
    off = load_file(marked.encode(), filename="t.csv", options=ReadOptions(roles=(("set", "ignored"),)))
    assert off.fingerprint == ds.fingerprint and len(off.X_test) == 10
    on = load_file(marked.encode(), filename="t.csv")
    assert len(on.X_test) == 5 and on.fingerprint != ds.fingerprint


def test_zero_labels_in_pool_with_typed_classes_gives_a_metric():
    rows = [("test", "cat" if i % 2 else "dog") if i < 8 else ("", "") for i in range(60)]
    opts = ReadOptions(classes=("dog", "cat", "bird"))
    ds = load_file(_csv(rows), filename="t.csv", standardize=False, options=opts)
    assert ds.classes == ("dog", "cat", "bird")
    assert len(ds.X_test) == 8 and len(ds.y_test) == 8 and (ds.y_test >= 0).all()
    assert len(ds.X) == 52 and (ds.y == -1).all()
    assert not any(w.startswith("Too few labeled rows") for w in ds.report.warnings)
    # without the typed class list the pool has nothing to train on: refused with the way out
    with pytest.raises(ValueError, match=r"the pool .* has 0 labeled rows.*type the class list"):
        load_file(_csv(rows), filename="t.csv")


def test_class_only_in_test_rows_is_a_class():
    rows = [("", "a" if i % 2 else "b") for i in range(20)] + [("test", "c"), ("test", "a"), ("test", "b")]
    ds = load_file(_csv(rows), filename="t.csv")
    assert ds.classes == ("a", "b", "c")
    assert ds.classes.index("c") in set(ds.y_test.tolist()) and ds.classes.index("c") not in set(ds.y.tolist())


def test_forced_role_on_another_column_name():
    rows = [("test" if i % 5 == 0 else "train", "x" if i % 2 else "y") for i in range(30)]
    data = _csv(rows, header="a,b,fold,label")
    ds = load_file(data, filename="t.csv")                      # 'fold' is not inferred: a one-hot feature
    assert "fold=test" in ds.feature_names and ds.report.test_source.startswith("a random")
    ds = load_file(data, filename="t.csv", standardize=False, options=ReadOptions(roles=(("fold", "split"),)))
    assert _rows(ds.X_test) == list(range(0, 30, 5)) and ds.feature_names == ("a", "b")
    col = next(c for c in ds.report.columns if c.name == "fold")
    assert col.role == "split" and not col.inferred
    assert any("fold [6 test rows (supplied)] (chosen)" in ln for ln in report_lines(ds.report))


@pytest.mark.parametrize("role", ["ignored", "one-hot"])
def test_another_role_turns_inference_off(role):
    rows = [("test" if i % 4 == 0 else "", "x" if i % 2 else "y") for i in range(40)]
    ds = load_file(_csv(rows), filename="t.csv", options=ReadOptions(roles=(("split", role),)))
    assert len(ds.X_test) == 10 and ds.report.test_source.startswith("a random 25 %")
    assert not any(c.role == "split" for c in ds.report.columns)
    assert ("split=test" in ds.feature_names) == (role == "one-hot")


def test_bad_values_refused_naming_them():
    rows = [(["test", "train", "val", "validation"][i % 4], "x" if i % 2 else "y") for i in range(40)]
    with pytest.raises(ValueError, match=r"column 'split' .*other values: 'val' \(10\), 'validation' \(10\)"):
        load_file(_csv(rows), filename="t.csv")
    with pytest.raises(ValueError, match=r"column 'b' is given the role 'split', but has other values"):
        load_file(_csv(rows), filename="t.csv", options=ReadOptions(roles=(("b", "split"),)))


def test_numbers_in_a_split_named_column_stay_a_feature_with_a_warning():
    rows = [(str(i % 3), "x" if i % 2 else "y") for i in range(40)]
    ds = load_file(_csv(rows), filename="t.csv")
    assert "split" in ds.feature_names and ds.report.test_source.startswith("a random")
    assert any("column 'split' is named like a test-set marker" in w and "not used as the test marker" in w
               for w in ds.report.warnings)


def test_unlabeled_test_row_refused_naming_rows():
    rows = [("test" if i % 5 == 0 else "", "" if i in (5, 10) else ("x" if i % 2 else "y")) for i in range(40)]
    with pytest.raises(ValueError, match=r"rows 6 and 11 \(lines 7 and 12 of the file\) are marked 'test' in "
                                         r"column 'split' but have no label"):
        load_file(_csv(rows), filename="t.csv")
    many = [("test", "") for _ in range(8)] + [("", "x" if i % 2 else "y") for i in range(20)]
    with pytest.raises(ValueError, match=r"rows 1, 2, 3, 4, 5 and 3 more"):
        load_file(_csv(many), filename="t.csv")


def test_no_test_row_marked_refused():
    rows = [("train" if i % 2 else "", "x" if i % 2 else "y") for i in range(40)]
    with pytest.raises(ValueError, match="column 'split' marks no row as test"):
        load_file(_csv(rows), filename="t.csv")


def test_regression_with_a_split_column():
    rows = [("test" if i >= 30 else "train", f"{i * 0.37:.2f}") for i in range(40)]
    ds = load_file(_csv(rows), filename="t.csv", task="regression", standardize=False)
    assert ds.task == "regression" and _rows(ds.X_test) == list(range(30, 40))
    np.testing.assert_allclose(ds.y_test, [round(i * 0.37, 2) for i in range(30, 40)], rtol=1e-6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["test", "TEST", " Test", "train", "Train", "pool", "POOL",
                                           "unlabeled", ""]),
                          st.sampled_from(["x", "y", ""])), min_size=1, max_size=60),
       st.booleans())
def test_partition_is_exactly_as_marked(rows, drop):
    n_test = sum(1 for sp, _ in rows if sp.strip().lower() == "test")
    unlabeled_test = any(sp.strip().lower() == "test" and not lab for sp, lab in rows)
    # drop: some b cells empty, missing_features='drop' removes those rows (ids must still map back)
    lines = ["a,b,split,label"] + [f"{i},{'' if drop and i % 7 == 3 else i * 0.5},{sp},{lab}"
                                   for i, (sp, lab) in enumerate(rows)]
    data = ("\n".join(lines) + "\n").encode()
    opts = ReadOptions(classes=("x", "y"), missing_features="drop" if drop else "median")
    kept = [i for i in range(len(rows)) if not (drop and i % 7 == 3)]
    marked = {i for i in kept if rows[i][0].strip().lower() == "test"}
    if all(not sp for sp, _ in rows):          # an empty column marks nothing: the random split as before
        ds = load_file(data, filename="t.csv", standardize=False, options=opts)
        assert not ds.report.test_source.startswith("supplied") and "split" not in (ds.feature_names or ())
        return
    try:
        ds = load_file(data, filename="t.csv", standardize=False, options=opts)
    except ValueError as e:                    # refused exactly when the marks cannot give a test set
        msg = str(e)
        if unlabeled_test:
            assert "marked 'test' in column 'split' but" in msg, msg
        elif n_test == 0:
            assert "column 'split' marks no row as test" in msg, msg
        elif not marked:
            assert "every row marked 'test' in column 'split' was dropped" in msg, msg
        else:
            assert len(marked) == len(kept) and "the pool is empty" in msg, msg
        return
    assert not unlabeled_test and marked and len(marked) < len(kept)
    pool_rows, test_rows = _rows(ds.X), _rows(ds.X_test)
    assert set(test_rows) == marked and len(test_rows) == len(marked)
    assert pool_rows == [i for i in kept if i not in marked]
    assert not set(pool_rows) & set(test_rows)
    ids = [int(p) for p in ds.point_ids]
    assert len(set(ids)) == len(ids) and ids == pool_rows                 # each id is its file row
    for i, k in zip(pool_rows, ds.y):
        assert k == (ds.classes.index(rows[i][1]) if rows[i][1] else -1)
    for i, k in zip(test_rows, ds.y_test):
        assert k == ds.classes.index(rows[i][1])


# -- image ZIPs --------------------------------------------------------------------------------

from tests.image_zips import png as _png, zip_of as _zip  # noqa: E402


def test_zip_test_folder_is_the_test_set():
    names = ([f"top/cat/{i}.png" for i in range(6)] + [f"top/dog/{i}.png" for i in range(6)]
             + [f"top/unlabeled/{i}.png" for i in range(3)]
             + [f"top/Test/cat/t{i}.png" for i in range(2)] + [f"top/Test/dog/t{i}.png" for i in range(2)]
             + ["top/Test/fox/t0.png"])
    ds = load_file(_zip(names), filename="a.zip", test_fraction=0.5)
    assert ds.classes == ("cat", "dog", "fox")
    assert len(ds.X) == 15 and len(ds.X_test) == 5
    assert sorted(ds.y_test.tolist()) == [0, 0, 1, 1, 2]
    assert not any(p.lower().startswith("test/") for p in ds.point_ids)
    assert len(set(ds.point_ids)) == 15
    # each test image is the member it came from
    from PIL import Image
    got = {tuple(np.round(x[0] * 255).astype(int).ravel()) for x in ds.X_test}
    want = {tuple(np.asarray(Image.open(io.BytesIO(_png(names.index(n))))).astype(int).ravel())
            for n in names if "/Test/" in n}
    assert got == want
    assert ds.report.test_source.startswith("supplied: the 5 images in the class folders of the Test/ folder")
    assert any("'fox' has images only in the Test/ folder" in w for w in ds.report.warnings)
    assert any(ln.startswith("Test set: supplied:") for ln in report_lines(ds.report))


def test_zip_test_folder_with_typed_classes_and_no_pool_labels():
    names = [f"unlabeled/{i}.png" for i in range(6)] + ["test/b/0.png", "test/a/0.png"]
    ds = load_file(_zip(names), filename="a.zip", options=ReadOptions(classes=("a", "b")))
    assert len(ds.X) == 6 and (ds.y == -1).all() and sorted(ds.y_test.tolist()) == [0, 1]
    with pytest.raises(ValueError, match=r"the pool .* has 0 labeled images"):
        load_file(_zip(names), filename="a.zip")


def test_zip_loose_images_in_test_refused():
    names = [f"cat/{i}.png" for i in range(5)] + [f"dog/{i}.png" for i in range(5)] + ["test/x.png"]
    with pytest.raises(ValueError, match=r"'test/x.png' is directly in the 'test' folder; the test set must be "
                                         r"class folders"):
        load_file(_zip(names), filename="a.zip")
    names[-1] = "test/unlabeled/x.png"
    with pytest.raises(ValueError, match="every test image needs a label"):
        load_file(_zip(names), filename="a.zip")


def test_zip_without_test_folder_unchanged():
    names = [f"cat/{i}.png" for i in range(8)] + [f"dog/{i}.png" for i in range(8)]
    ds = load_file(_zip(names), filename="a.zip")
    assert len(ds.X_test) == 4 and ds.report.test_source.startswith("a random 25 % stratified split of the "
                                                                     "labeled images")


# -- NPZ ---------------------------------------------------------------------------------------

def test_npz_x_test_states_its_source():
    rng = np.random.default_rng(0)
    b = io.BytesIO()
    np.savez(b, X=rng.normal(size=(20, 3)), y=np.arange(20) % 2, X_test=rng.normal(size=(6, 3)),
             y_test=np.arange(6) % 2)
    ds = load_file(b.getvalue(), filename="a.npz")
    assert ds.report.test_source == "supplied: X_test, y_test"
    assert "Test set: supplied: X_test, y_test" in report_lines(ds.report)


def test_parquet_split_column_and_label_clash():
    import pandas as pd
    n = 30
    df = pd.DataFrame({"a": np.arange(n, dtype=float), "Subset": ["Test" if i < 6 else None for i in range(n)],
                       "label": ["x" if i % 2 else "y" for i in range(n)]})
    b = io.BytesIO()
    df.to_parquet(b)
    ds = load_file(b.getvalue(), filename="t.parquet", standardize=False)
    assert _rows(ds.X_test) == list(range(6)) and _rows(ds.X) == list(range(6, n))
    assert ds.feature_names == ("a",)
    with pytest.raises(ValueError, match="cannot be both the label and the split"):
        load_file(b.getvalue(), filename="t.parquet", label_column="Subset",
                  options=ReadOptions(roles=(("Subset", "split"),)))
    with pytest.raises(ValueError, match="Only one column can mark the test set"):
        load_file(b.getvalue(), filename="t.parquet", options=ReadOptions(roles=(("Subset", "split"), ("a", "split"))))
