"""Mostly-unlabeled uploads: a typed class list (ReadOptions.classes), unlabeled images in ZIPs,
NPZ y = -1, a missing test split, and point_ids that name each pool point in the file."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bait_core.learning.data import load_file
from bait_core.learning.reading import ReadOptions, report_lines

NO_TEST = "Too few labeled rows for a test split"


def _csv(labels, *, extra=None) -> bytes:
    """Rows i = 0..n-1: a = i (a row's identity), b = a noisy value, label = labels[i] ('' = none)."""
    rng = np.random.default_rng(1)
    lines = ["a,b,label"]
    for i, lab in enumerate(labels):
        b = "" if extra is not None and i in extra else f"{rng.normal():.4f}"
        lines.append(f"{i},{b},{lab}")
    return ("\n".join(lines) + "\n").encode()


def _rows_of(ds) -> np.ndarray:
    """The file row of each pool point, read back through feature 'a' (standardize=False)."""
    return ds.X[:, 0].astype(int)


# -- tables ------------------------------------------------------------------------------------

def test_table_mostly_unlabeled_pool_and_ids():
    labels = [("cat" if i % 2 else "dog") if i % 10 == 0 or i % 10 == 5 else "" for i in range(200)]
    n_lab = sum(1 for v in labels if v)
    ds = load_file(_csv(labels), filename="t.csv", standardize=False)
    assert len(ds.X) + len(ds.X_test) == 200
    assert len(ds.X_test) == round(0.25 * n_lab)
    unl = {i for i, v in enumerate(labels) if not v}
    ids = [int(i) for i in ds.point_ids]
    assert len(set(ids)) == len(ids) == len(ds.X)
    assert ids == list(_rows_of(ds))                       # each id is the row its features came from
    assert unl <= set(ids)                                 # every unlabeled row is in the pool
    assert (ds.y[[ids.index(i) for i in unl]] == -1).all()
    test_rows = set(ds.X_test[:, 0].astype(int))
    assert not test_rows & unl and not test_rows & set(ids)
    assert ds.report.rows_without_label == len(unl) and ds.report.classes_source == "from the labeled rows"
    assert "Class list: from the labeled rows" in report_lines(ds.report)


def test_table_ids_survive_dropped_rows():
    labels = ["a" if i % 2 else "b" for i in range(40)] + [""] * 20
    ds = load_file(_csv(labels, extra={3, 4, 50}), filename="t.csv", standardize=False,
                   options=ReadOptions(missing_features="drop"))
    ids = [int(i) for i in ds.point_ids]
    assert ids == list(_rows_of(ds)) and not {3, 4, 50} & set(ids)
    assert 51 in ids and len(ds.X) + len(ds.X_test) == 57


def test_typed_classes_order_empty_class_and_found_extra():
    labels = ["cat", "dog", "fox"] * 10 + [""] * 30
    ds = load_file(_csv(labels), filename="t.csv", options=ReadOptions(classes=("dog", "cat", "bird")))
    assert ds.classes == ("dog", "cat", "bird", "fox")
    r = ds.report
    assert r.classes == {"dog": 10, "cat": 10, "bird": 0, "fox": 10}
    assert r.classes_source == "typed + found in the labels"
    assert "class 'fox' found in the labels but not in the typed list: added" in r.warnings
    assert len(ds.X_test) > 0 and 2 not in ds.y_test and 2 not in ds.y     # bird has no rows anywhere
    # the labels keep their names: row i's class is labels[i]
    pool_rows = [int(i) for i in ds.point_ids]
    names = [ds.classes[k] if k >= 0 else "" for k in ds.y]
    assert names == [labels[i] for i in pool_rows]
    assert "Class list: typed + found in the labels" in report_lines(r)


def test_typed_numeric_labels_match_by_name_and_fingerprint_unchanged_without():
    labels = [str(i % 3) for i in range(60)]
    plain = load_file(_csv(labels), filename="t.csv")
    same = load_file(_csv(labels), filename="t.csv", options=ReadOptions(classes=("0", "1", "2")))
    assert same.classes == plain.classes == ("0", "1", "2")
    assert same.fingerprint == plain.fingerprint           # the typed list changed nothing
    other = load_file(_csv(labels), filename="t.csv", options=ReadOptions(classes=("2", "1", "0")))
    assert other.classes == ("2", "1", "0") and other.fingerprint != plain.fingerprint
    assert other.report.classes_source == "typed"


def test_zero_labels_with_typed_classes_has_no_test_split():
    ds = load_file(_csv([""] * 12), filename="t.csv", options=ReadOptions(classes=("yes", "no")))
    assert ds.task == "classification" and len(ds.X) == 12
    assert ds.X_test.shape == (0, 2) and ds.y_test.shape == (0,)
    assert (ds.y == -1).all() and ds.point_ids == tuple(str(i) for i in range(12))
    s = ds.summary()
    assert s["N_test"] == 0 and s["n_labeled"] == 0 and s["class_counts_test"] == {"yes": 0, "no": 0}
    assert any(w.startswith(NO_TEST + " (0 labeled): there is no test metric until a test set exists; label "
                            "more rows, or supply one (a table's 'split' column marking test rows, a ZIP's test/ "
                            "folder of class folders, an NPZ's X_test and y_test).") for w in ds.report.warnings)


def test_few_labels_typed_vs_refused():
    labels = ["a", "b", "a", "b"] + [""] * 20
    ds = load_file(_csv(labels), filename="t.csv", options=ReadOptions(classes=("a", "b")))
    assert len(ds.X_test) == 0 and (ds.y >= 0).sum() == 4
    with pytest.raises(ValueError, match=r"each needs at least 4\. Add labeled rows or change test_fraction, "
                                         r"or type the class list \(Setup's “Class list”, the CLI's --classes, ReadOptions.classes\) to label the "
                                         r"points yourself \(in the app or with the CLI's next\)\."):
        load_file(_csv(labels), filename="t.csv")


def test_zero_labels_without_classes_names_the_option():
    with pytest.raises(ValueError, match=r"is empty in every row; choose the column that holds the labels, or "
                                         r"type the class list \(Setup's “Class list”, the CLI's --classes, "
                                         r"ReadOptions.classes\)"):
        load_file(_csv([""] * 12), filename="t.csv")


def test_singleton_typed_class_gives_no_test_split_with_reason():
    labels = ["a"] * 10 + ["b"] * 10 + ["c"] + [""] * 5
    ds = load_file(_csv(labels), filename="t.csv", options=ReadOptions(classes=("a", "b", "c")))
    assert len(ds.X_test) == 0
    w = [w for w in ds.report.warnings if w.startswith(NO_TEST)]
    assert w and "too few for class 'c' (1)" in w[0]


# -- ReadOptions -------------------------------------------------------------------------------

@pytest.mark.parametrize("classes, msg", [
    (("a", " "), "empty name"), (("a", "b", " a"), "names 'a' more than once"),
    (("a",), "only 'a'; classification needs at least 2")])
def test_read_options_classes_validation(classes, msg):
    with pytest.raises(ValueError, match=msg):
        ReadOptions(classes=classes).validate()


def test_read_options_too_many_and_regression():
    with pytest.raises(ValueError, match="the limit is 1,000"):
        ReadOptions(classes=tuple(f"c{i}" for i in range(1001))).validate()
    with pytest.raises(ValueError, match="task is classification"):
        ReadOptions(classes=("a", "b"), task="regression").validate()
    with pytest.raises(ValueError, match="task is classification"):
        load_file(_csv(["1", "2"] * 10), filename="t.csv", task="regression",
                  options=ReadOptions(classes=("a", "b")))


def test_read_options_json_round_trip():
    o = ReadOptions(classes=("dog", "cat"), na_values=("?",), roles=(("a", "numeric"),), image_size=(8, 8))
    back = ReadOptions(**json.loads(json.dumps(dataclasses.asdict(o))))
    assert back == o and isinstance(back.classes, tuple) and hash(back) == hash(o)
    back.validate()
    assert ReadOptions(classes=[" a ", "b"]).classes == ("a", "b")


# -- image ZIPs --------------------------------------------------------------------------------

from tests.image_zips import png as _png, zip_of as _zip  # noqa: E402


def test_zip_class_folders_and_unlabeled_folder():
    names = ([f"top/cat/{i}.png" for i in range(8)] + [f"top/dog/{i}.png" for i in range(8)]
             + [f"top/Unlabeled/img_{i:03d}.png" for i in range(5)])
    ds = load_file(_zip(names), filename="a.zip")
    assert ds.classes == ("cat", "dog") and len(ds.X) + len(ds.X_test) == 21 and len(ds.X_test) == 4
    ids = list(ds.point_ids)
    assert len(set(ids)) == len(ids) == len(ds.X)
    assert {f"Unlabeled/img_{i:03d}.png" for i in range(5)} <= set(ids)
    for pid, k in zip(ids, ds.y):
        assert k == (-1 if pid.startswith("Unlabeled/") else ds.classes.index(pid.split("/")[0]))
    assert ds.report.rows_without_label == 5 and ds.report.unlabeled_reason == "images in the unlabeled/ folder"
    # an id names the member: its pixels are that member's
    j = ids.index("cat/3.png")
    from PIL import Image
    want = np.asarray(Image.open(io.BytesIO(_png(names.index("top/cat/3.png")))), dtype=np.float32) / 255
    np.testing.assert_allclose(ds.X[j, 0], want, atol=1e-6)


def test_zip_only_unlabeled_needs_classes():
    names = [f"unlabeled/{i}.png" for i in range(6)]
    with pytest.raises(ValueError, match="has only unlabeled images .*type the class list"):
        load_file(_zip(names), filename="a.zip")
    ds = load_file(_zip(names), filename="a.zip", options=ReadOptions(classes=("x", "y")))
    assert ds.classes == ("x", "y") and len(ds.X) == 6 and len(ds.X_test) == 0 and (ds.y == -1).all()
    assert ds.point_ids == tuple(names)
    assert any(w.startswith("Too few labeled images for a test split (0 labeled)") for w in ds.report.warnings)


def test_zip_loose_images():
    names = [f"cat/{i}.png" for i in range(8)] + [f"dog/{i}.png" for i in range(8)] + ["loose1.png", "loose2.png"]
    with pytest.raises(ValueError, match=r"'loose1.png' is not inside a class folder; .*folder named 'unlabeled' "
                                         r"or type the class list"):
        load_file(_zip(names), filename="a.zip")
    ds = load_file(_zip(names), filename="a.zip", options=ReadOptions(classes=("dog", "cat")))
    assert ds.classes == ("dog", "cat") and len(ds.X_test) == 4
    assert {"loose1.png", "loose2.png"} <= set(ds.point_ids)
    assert ds.report.rows_without_label == 2 and "outside any class folder" in ds.report.unlabeled_reason
    # loose images beside an unlabeled/ folder are unlabeled too (no typed list needed)
    ds2 = load_file(_zip(names + ["unlabeled/u.png"]), filename="a.zip")
    assert ds2.report.rows_without_label == 3 and ds2.classes == ("cat", "dog")


def test_zip_one_class_folder_still_refused():
    with pytest.raises(ValueError, match=r"only one class folder \('cat'\)"):
        load_file(_zip([f"cat/{i}.png" for i in range(8)] + ["unlabeled/u.png"]), filename="a.zip")


# -- NPZ ---------------------------------------------------------------------------------------

def _npz(**arrays) -> bytes:
    b = io.BytesIO()
    np.savez(b, **arrays)
    return b.getvalue()


def test_npz_minus_one_is_unlabeled_other_negatives_are_classes():
    X = np.arange(40 * 2, dtype=np.float64).reshape(40, 2)
    y = np.r_[np.repeat([0, 1, -2], 8), -np.ones(16, int)]
    ds = load_file(_npz(X=X, y=y), filename="a.npz", standardize=False)
    assert ds.classes == ("-2", "0", "1")
    assert ds.report.rows_without_label == 16 and ds.report.unlabeled_reason == "y = -1 (unlabeled)"
    ids = [int(i) for i in ds.point_ids]
    assert ids == list((ds.X[:, 0] // 2).astype(int))         # the id is the row in X
    assert all(ds.y[ids.index(i)] == -1 for i in range(24, 40))
    with pytest.raises(ValueError, match=r"every value is -1, unlabeled\); type the class list"):
        load_file(_npz(X=X, y=-np.ones(40, int)), filename="a.npz")


def test_npz_typed_classes_are_indices():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.r_[np.repeat([0, 1, 2], 8), -np.ones(16, int)]
    ds = load_file(_npz(X=X, y=y), filename="a.npz", options=ReadOptions(classes=("a", "b", "c", "d")))
    assert ds.classes == ("a", "b", "c", "d") and ds.report.classes == {"a": 8, "b": 8, "c": 8, "d": 0}
    assert "class indices" in ds.report.task_reason and ds.report.classes_source == "typed"
    with pytest.raises(ValueError, match=r"indices into it \(0\.\.1; -1 = unlabeled\), but y\[16\] is 2"):
        load_file(_npz(X=X, y=y), filename="a.npz", options=ReadOptions(classes=("a", "b")))
    ds0 = load_file(_npz(X=X, y=-np.ones(40, int)), filename="a.npz", options=ReadOptions(classes=("a", "b")))
    assert len(ds0.X_test) == 0 and len(ds0.X) == 40 and ds0.summary()["N_test"] == 0


def test_npz_typed_text_matched_by_name():
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = np.array(["x", "y"] * 10 + [""] * 20)
    ds = load_file(_npz(X=X, y=y), filename="a.npz", options=ReadOptions(classes=("y", "z")))
    assert ds.classes == ("y", "z", "x") and ds.report.classes == {"y": 10, "z": 0, "x": 10}


# -- property: random label-missing patterns -----------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(["", "", "p", "q"]), min_size=6, max_size=40), st.booleans(),
       st.integers(0, 3))
def test_property_missing_labels_pool_and_ids(labels, typed, seed):
    raw = _csv(labels)
    opts = ReadOptions(classes=("p", "q")) if typed else ReadOptions()
    try:
        ds = load_file(raw, filename="t.csv", standardize=False, seed=seed, options=opts)
    except ValueError as e:
        assert not typed                                       # only refused without a typed list
        assert "type the class list" in str(e) or "only one class" in str(e)
        return
    ids = [int(i) for i in ds.point_ids]
    assert len(set(ids)) == len(ids) == len(ds.X)
    assert ids == list(_rows_of(ds)) and ids == sorted(ids)    # each id maps back to its file row
    test_rows = set(ds.X_test[:, 0].astype(int))
    unl = {i for i, v in enumerate(labels) if not v}
    assert set(ids) | test_rows == set(range(len(labels))) and not set(ids) & test_rows
    assert unl <= set(ids) and not unl & test_rows
    for pid, k in zip(ids, ds.y):                              # labels read back through the id
        assert (ds.classes[k] if k >= 0 else "") == labels[pid]
    assert ((ds.y >= 0).sum() - (len(labels) - len(unl))) == -len(test_rows)


def test_features_only_with_a_typed_class_list_has_no_label_column():
    """A table of features and no column named like a label: with a typed class list every row is unlabeled
    (its last column is not taken as the label), and the report says so."""
    rng = np.random.default_rng(0)
    text = "height,width,score\n" + "".join(f"{a:.3f},{b:.3f},{c:.3f}\n" for a, b, c in rng.normal(size=(30, 3)))
    ds = load_file(text.encode(), filename="f.csv", options=ReadOptions(classes=("a", "b", "c")))
    assert ds.feature_names == ("height", "width", "score") and not ds.has_label.any() and len(ds.y_test) == 0
    assert any("no column named like a label" in w for w in ds.report.warnings)
    assert ds.classes == ("a", "b", "c")
    with pytest.raises(ValueError):                                   # without a class list: refused as before
        load_file(text.encode(), filename="f.csv", label_column="nothing")
