"""bait_core.learning.data: built-ins (offline, seeded), file loaders, and the errors users see.

Every file is generated inside the test (tmp_path / io.BytesIO); nothing touches the network.
"""

from __future__ import annotations

import dataclasses
import io
import json
import socket
import zipfile

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bait_core.learning import data as D
from bait_core.learning.data import (BUILTIN_DATASETS, TASKS, Dataset, default_label_column, list_columns,
                            load_builtin, load_dataset, load_file)


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------

def _csv_bytes(df: pd.DataFrame, sep: str = ",") -> bytes:
    return df.to_csv(index=False, sep=sep).encode()


def _table(n: int = 40, seed: int = 0) -> pd.DataFrame:
    """Numeric + categorical features, string labels (3 classes)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "height": 150 + np.arange(n) + rng.uniform(0, 0.5, n).round(2),   # unique per row
        "colour": rng.choice(["red", "green", "blue"], n),
        "age": rng.integers(18, 80, n),
        "species": rng.choice(["cat", "dog", "bird"], n),
    })


def _png(colour: bool = False, size: tuple[int, int] = (10, 12), value: int = 128) -> bytes:
    """Tiny PNG (width, height) = size; grey or with a red tint."""
    arr = np.full((size[1], size[0], 3), value, np.uint8)
    if colour:
        arr[..., 0] = 255
    buf = io.BytesIO()
    Image.fromarray(arr if colour else arr[..., 0]).save(buf, format="PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, blob in files.items():
            zf.writestr(name, blob)
    return buf.getvalue()


def _class_zip(n_per_class: int = 6, classes=("cats", "dogs"), top: str = "pets/",
               colour_class: str | None = None) -> bytes:
    files = {}
    for k, c in enumerate(classes):
        for i in range(n_per_class):
            files[f"{top}{c}/img{i}.png"] = _png(colour=(c == colour_class), value=40 * k + 5 * i)
    files["__MACOSX/pets/cats/._img0.png"] = b"junk"
    files[f"{top}cats/.DS_Store"] = b"junk"
    return _zip(files)


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _check_dataset(ds: Dataset) -> None:
    """Invariants every loaded dataset must satisfy."""
    assert ds.task in TASKS
    assert ds.X.dtype == np.float32 and ds.X_test.dtype == np.float32
    assert ds.X.shape[1:] == ds.input_shape == ds.X_test.shape[1:]
    assert ds.y.shape == (len(ds.X),) and ds.y_test.shape == (len(ds.X_test),)
    for a in (ds.X, ds.y, ds.X_test, ds.y_test, ds.images, ds.images_test, ds.xy2d):
        if a is not None:
            assert not a.flags.writeable
    with pytest.raises(ValueError):
        ds.X[0] = 1.0
    assert np.isfinite(ds.X).all() and np.isfinite(ds.X_test).all()
    if ds.task == "classification":
        assert ds.y.dtype == np.int64 and ds.y_test.dtype == np.int64
        assert ds.n_classes == len(ds.classes) >= 2
        assert ds.y.min() >= -1 and ds.y.max() < ds.n_classes
        assert ds.y_test.min() >= 0 and ds.y_test.max() < ds.n_classes
    else:
        assert ds.y.dtype == np.float32 and ds.classes == () and ds.n_classes == 1
        assert not np.isnan(ds.y_test).any()
    assert ds.n_features == int(np.prod(ds.input_shape))
    assert ds.is_image == (len(ds.input_shape) == 3)
    if ds.is_image:
        assert ds.images is not None and ds.images.dtype == np.uint8 and len(ds.images) == len(ds.X)
        assert ds.images_test is not None and len(ds.images_test) == len(ds.X_test)
        assert ds.feature_names is None
    else:
        assert ds.images is None and len(ds.feature_names) == ds.n_features
    s = ds.summary()
    json.dumps(s)                                    # plain JSON-able values
    assert s["N"] == len(ds.X) and s["N_test"] == len(ds.X_test) and s["d"] == ds.n_features
    assert s["n_missing_labels"] == int((~ds.has_label).sum())
    assert len(ds.fingerprint) == 16


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Determinism tests must regenerate, not hit the builtin cache."""
    D._build_builtin.cache_clear()
    yield
    D._build_builtin.cache_clear()


# ---------------------------------------------------------------------------------------------
# built-ins
# ---------------------------------------------------------------------------------------------

BUILTIN_SHAPES = {
    "digits": ((1, 8, 8), 10, "classification"),
    "mnist": ((1, 28, 28), 10, "classification"),
    "mnist1d": ((40,), 10, "classification"),
    "moons": ((2,), 2, "classification"),
    "circles": ((2,), 2, "classification"),
    "blobs": ((2,), 3, "classification"),
    "spirals": ((2,), 3, "classification"),
    "diabetes": ((10,), 1, "regression"),
}


def test_builtin_table_covers_all():
    assert set(BUILTIN_SHAPES) == set(BUILTIN_DATASETS) == set(D.BUILTIN_DEFAULTS)


@pytest.mark.parametrize("name", sorted(BUILTIN_SHAPES))
def test_builtin_loads_sane_and_seeded(name):
    shape, K, task = BUILTIN_SHAPES[name]
    kw = {"n_points": 600} if name in ("mnist", "mnist1d") else {}
    a = load_builtin(name, seed=0, **kw)
    _check_dataset(a)
    assert (a.input_shape, a.n_classes, a.task) == (shape, K, task)
    assert a.source == f"builtin:{name}" and a.name == name
    assert a.summary()["n_missing_labels"] == 0
    if name != "mnist1d":                                        # own 80/20 split
        assert len(a.X_test) == round(0.25 * (len(a.X) + len(a.X_test)))
    if a.is_image:
        assert 0.0 <= a.X.min() and a.X.max() <= 1.0 and a.X.max() > 0.5
        img = a.images.astype(np.float32) / 255.0
        assert np.abs(img - a.X[:, 0]).max() <= 1 / 255 + 1e-6     # display matches features
    D._build_builtin.cache_clear()
    b = load_builtin(name, seed=0, **kw)
    assert b is not a and b.fingerprint == a.fingerprint
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    c = load_builtin(name, seed=1, **kw)
    assert c.fingerprint != a.fingerprint
    assert not (a.X_test.shape == c.X_test.shape and np.array_equal(a.X_test, c.X_test))


def test_builtin_is_cached_and_immutable():
    a = load_builtin("moons")
    assert load_builtin("moons") is a                            # immutable, so safely shared
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.name = "other"
    assert a.name == "moons" and not a.y.flags.writeable


def test_digits_and_mnist_split_is_stratified():
    ds = load_builtin("digits", seed=3)
    pool = np.bincount(ds.y, minlength=10) / len(ds.y)
    test = np.bincount(ds.y_test, minlength=10) / len(ds.y_test)
    assert np.abs(pool - test).max() < 0.01
    assert ds.classes == tuple(str(k) for k in range(10))
    m = load_builtin("mnist", n_points=500, seed=0)
    assert len(m.X) + len(m.X_test) == 500 and set(np.bincount(m.y_test)) == {12, 13}


def test_mnist1d_never_touches_network(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    import requests
    monkeypatch.setattr(requests, "get", refuse)
    monkeypatch.setattr(requests.Session, "request", refuse)
    state = np.random.get_state()[1].copy()
    ds = load_builtin("mnist1d", n_points=400, seed=5)
    assert (len(ds.X), len(ds.X_test)) == (320, 80)              # package's own 80/20 split
    assert ds.feature_names[0] == "x0" and ds.X.dtype == np.float32
    np.testing.assert_array_equal(np.random.get_state()[1], state)   # global RNG untouched


def test_toy_sets_options_and_xy2d():
    ds = load_builtin("spirals", n_classes=5, n_points=500, noise=0.0, seed=2)
    _check_dataset(ds)
    assert ds.classes == tuple(f"class {k}" for k in range(5))
    assert len(ds.X) + len(ds.X_test) == 500
    assert ds.xy2d.shape == (len(ds.X), 2) and ds.xy2d_test.shape == (len(ds.X_test), 2)
    np.testing.assert_allclose(ds.xy_to_features(ds.xy2d), ds.X, atol=1e-5)
    np.testing.assert_allclose(ds.xy_to_features(ds.xy2d_test), ds.X_test, atol=1e-5)
    np.testing.assert_allclose(ds.X.mean(0), 0, atol=1e-5)                  # standardised
    np.testing.assert_allclose(ds.X.std(0), 1, atol=1e-4)
    assert np.abs(np.hypot(*ds.xy2d.T)).max() <= 1.0 + 1e-6                 # noise 0: on the arms
    b2 = load_builtin("blobs", n_classes=2)
    assert b2.n_classes == 2
    quiet, loud = load_builtin("moons", noise=0.0), load_builtin("moons", noise=0.5)
    assert not np.allclose(quiet.xy2d, loud.xy2d[: len(quiet.xy2d)])
    assert load_builtin("digits").xy2d is None


@pytest.mark.parametrize("kw, match", [
    ({"name": "nope"}, "Known: digits"),
    ({"name": "digits", "noise": 0.1}, "no noise option"),
    ({"name": "moons", "n_classes": 3}, "fixed number of classes"),
    ({"name": "blobs", "n_classes": 1}, "between 2 and 20"),
    ({"name": "moons", "n_points": 5}, "n_points"),
    ({"name": "moons", "test_fraction": 1.0}, "test_fraction"),
    ({"name": "digits", "n_points": 5000}, "only 1797 points"),
])
def test_builtin_bad_options(kw, match):
    kw = dict(kw)
    with pytest.raises(ValueError, match=match):
        load_builtin(kw.pop("name"), **kw)


def test_load_dataset_specs(tmp_path):
    assert load_dataset("builtin:circles").name == "circles"
    assert load_dataset("moons", n_points=100).X.shape == (75, 2)
    p = tmp_path / "t.csv"
    p.write_bytes(_csv_bytes(_table()))
    assert load_dataset(str(p)).source == "file:t.csv"
    with pytest.raises(ValueError, match=r"unknown dataset 'bogus'.*builtin:digits"):
        load_dataset("bogus")
    with pytest.raises(ValueError, match="Known: digits"):
        load_dataset("builtin:bogus")


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------

def test_csv_categorical_onehot_and_string_labels():
    df = _table(40)
    ds = load_file(_csv_bytes(df), filename="pets.csv", seed=1)
    _check_dataset(ds)
    assert ds.name == "pets.csv" and ds.source == "file:pets.csv"
    assert ds.task == "classification" and ds.classes == ("bird", "cat", "dog")   # sorted names
    assert ds.feature_names == ("height", "colour=blue", "colour=green", "colour=red", "age")
    assert len(ds.X) == 30 and len(ds.X_test) == 10
    allX = np.concatenate([ds.X, ds.X_test])
    onehot = allX[:, 1:4]
    assert set(np.unique(onehot)) == {0.0, 1.0} and (onehot.sum(1) == 1).all()
    np.testing.assert_allclose(ds.X[:, 0].mean(), 0, atol=1e-5)      # numeric columns standardised
    np.testing.assert_allclose(ds.X[:, 0].std(), 1, atol=1e-4)
    # unstandardised: every pool / test row is the file's row with the same (unique) height
    raw = load_file(_csv_bytes(df), filename="pets.csv", seed=1, standardize=False)
    assert raw.fingerprint != ds.fingerprint
    by_height = {np.float32(h): sp for h, sp in zip(df.height, df.species)}
    for X, y in ((raw.X, raw.y), (raw.X_test, raw.y_test)):
        for h, k in zip(X[:, 0], y):
            assert by_height[h] == raw.classes[k]
    np.testing.assert_allclose(ds.X[:, 1:4], raw.X[:, 1:4])         # one-hot left as 0/1


def test_csv_missing_labels_stay_in_pool():
    df = _table(60)
    df.loc[[3, 10, 11, 40], "species"] = np.nan
    ds = load_file(_csv_bytes(df), filename="m.csv")
    assert ds.summary()["n_missing_labels"] == 4
    assert (ds.y == -1).sum() == 4 and (ds.y_test >= 0).all()
    assert len(ds.X) + len(ds.X_test) == 60 and len(ds.X_test) == round(0.25 * 56)
    assert ds.has_label.sum() == len(ds.X) - 4


def test_csv_numeric_labels_and_regression_inference():
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": rng.normal(size=50), "b": rng.normal(size=50)})
    df["target"] = rng.integers(0, 3, 50) * 10                     # 0/10/20 → classes
    ds = load_file(_csv_bytes(df), filename="c.csv")
    assert ds.task == "classification" and ds.classes == ("0", "10", "20")
    df["target"] = rng.normal(size=50) * 100 + 5                     # float → regression
    ds = load_file(_csv_bytes(df), filename="r.csv")
    _check_dataset(ds)
    assert ds.task == "regression" and ds.feature_names == ("a", "b")
    assert abs(float(np.concatenate([ds.y, ds.y_test]).mean()) - df.target.mean()) < 1e-3  # raw units
    df.loc[[0, 7], "target"] = np.nan                              # missing targets stay in pool
    ds = load_file(_csv_bytes(df), filename="r.csv")
    assert np.isnan(ds.y).sum() == 2 and not np.isnan(ds.y_test).any()
    assert ds.summary()["n_missing_labels"] == 2
    forced = load_file(_csv_bytes(df.assign(target=rng.integers(0, 3, 50))), filename="f.csv",
                       task="regression")
    assert forced.task == "regression"


def test_label_column_choice_and_list_columns():
    df = _table(40).rename(columns={"species": "Kind"})
    raw = _csv_bytes(df)
    assert list_columns(raw, filename="x.csv") == ["height", "colour", "age", "Kind"]
    assert default_label_column(["a", "Target", "b"]) == "Target"
    assert default_label_column(["a", "b"]) == "b"
    assert default_label_column(["y", "label"]) == "label"           # priority order
    ds = load_file(raw, filename="x.csv", label_column="colour")
    assert ds.classes == ("blue", "green", "red")
    assert any(f.startswith("Kind=") for f in ds.feature_names)
    assert list_columns(_class_zip(), filename="a.zip") == []
    stream = io.BytesIO(raw)
    stream.name = "upload.csv"
    assert list_columns(stream) == ["height", "colour", "age", "Kind"]
    assert load_file(stream).name == "upload.csv"                     # still readable afterwards


def test_tsv_semicolon_and_path(tmp_path):
    df = _table(40)
    ds = load_file(_csv_bytes(df, sep="\t"), filename="x.tsv")
    assert ds.classes == ("bird", "cat", "dog") and ds.n_features == 5
    ds2 = load_file(_csv_bytes(df, sep=";"), filename="x.csv")     # European CSV
    assert ds2.fingerprint == load_file(_csv_bytes(df), filename="x.csv").fingerprint
    p = tmp_path / "data.tsv"
    p.write_bytes(_csv_bytes(df, sep="\t"))
    assert load_file(p).fingerprint == ds.fingerprint


def test_parquet(tmp_path):
    df = _table(40)
    df["colour"] = df["colour"].astype("category")
    df["flag"] = df["age"] > 40
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    ds = load_file(buf.getvalue(), filename="t.parquet", label_column="species")
    _check_dataset(ds)
    assert ds.classes == ("bird", "cat", "dog")
    assert "colour=red" in ds.feature_names and "flag" in ds.feature_names
    j = ds.feature_names.index("flag")
    assert set(np.unique(ds.X[:, j])) <= {0.0, 1.0}                 # bool stays 0/1
    assert list_columns(buf.getvalue(), filename="t.parquet") == list(df.columns)


# ---------------------------------------------------------------------------------------------
# NPZ
# ---------------------------------------------------------------------------------------------

def test_npz_table_with_float_nan_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = rng.integers(0, 2, 40).astype(float)
    y[:5] = np.nan                                                   # missing labels
    ds = load_file(_npz(X=X, y=y), filename="t.npz")
    _check_dataset(ds)
    assert ds.task == "classification" and ds.classes == ("0", "1")
    assert (ds.y == -1).sum() == 5 and ds.feature_names == ("x0", "x1", "x2")


def test_npz_regression_and_own_test_split():
    rng = np.random.default_rng(1)
    arr = dict(X=rng.normal(size=(30, 4)), y=rng.normal(size=30),
               X_test=rng.normal(size=(8, 4)), y_test=rng.normal(size=8))
    ds = load_file(_npz(**arr), filename="r.npz", standardize=False)
    assert ds.task == "regression" and (len(ds.X), len(ds.X_test)) == (30, 8)
    np.testing.assert_allclose(ds.X_test, arr["X_test"].astype(np.float32))   # given split kept
    np.testing.assert_allclose(ds.y, arr["y"].astype(np.float32))


@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW"])
def test_npz_image_stack(layout):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, size=(24, 6, 5, 3 if layout != "NHW" else 1), dtype=np.uint8)
    X = {"NHW": img[..., 0], "NHWC": img, "NCHW": np.moveaxis(img, 3, 1)}[layout]
    y = np.repeat([4, 7], 12)
    ds = load_file(_npz(X=X, y=y), filename="img.npz")
    _check_dataset(ds)
    C = 1 if layout == "NHW" else 3
    assert ds.input_shape == (C, 6, 5) and ds.classes == ("4", "7")
    assert 0 <= ds.X.min() and ds.X.max() <= 1.0
    want = ds.images if C == 1 else np.moveaxis(ds.images, 3, 1)
    np.testing.assert_allclose(ds.X.reshape(want.shape), want / 255.0, atol=1e-6)


def test_npz_string_labels():
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = np.array(["yes", "no"] * 10)
    ds = load_file(_npz(X=X, y=y), filename="s.npz")
    assert ds.classes == ("no", "yes")


# ---------------------------------------------------------------------------------------------
# ZIP of images
# ---------------------------------------------------------------------------------------------

def test_zip_grey_class_folders():
    ds = load_file(_class_zip(n_per_class=8), filename="pets.zip", image_size=(16, 12))
    _check_dataset(ds)
    assert ds.classes == ("cats", "dogs")                            # __MACOSX/.DS_Store skipped
    assert ds.input_shape == (1, 16, 12) and ds.images.shape[1:] == (16, 12)
    assert len(ds.X) + len(ds.X_test) == 16 and len(ds.X_test) == 4
    np.testing.assert_allclose(ds.X[:, 0], ds.images / 255.0, atol=1e-6)


def test_zip_colour_when_any_image_is_colour():
    raw = _class_zip(n_per_class=5, classes=("a", "b", "c"), top="", colour_class="b")
    ds = load_file(raw, filename="c.zip", image_size=(8, 8), test_fraction=0.4)
    assert ds.input_shape == (3, 8, 8) and ds.images.shape[1:] == (8, 8, 3)
    grey = ds.X[ds.y != 1]
    np.testing.assert_allclose(grey[:, 0], grey[:, 2])              # grey images replicated
    red = ds.X[ds.y == 1]
    assert (red[:, 0] > red[:, 2]).all()


# ---------------------------------------------------------------------------------------------
# errors users see
# ---------------------------------------------------------------------------------------------

def _bad_csv(**cols) -> bytes:
    return _csv_bytes(pd.DataFrame(cols))


GOOD = {"a": list(range(20)), "label": [0, 1] * 10}


@pytest.mark.parametrize("raw, fname, kw, match", [
    (b"", "e.csv", {}, r"'e.csv' is empty"),
    (b"a,b\n", "h.csv", {}, r"'h.csv' has a header but no data rows"),
    (b"\n\n", "w.csv", {}, r"'w.csv' is empty"),
    (b"a,b\n1,2\n", "data.xlsx", {}, r"unsupported file type '\.xlsx'.*\.csv"),
    (b"\x00\x01\x02binary", "b.csv", {}, "binary"),
    (b"PAR1garbage", "g.parquet", {}, r"could not read 'g.parquet' as Parquet"),
    (b"not a zip", "z.zip", {}, r"'z.zip' is not a valid ZIP"),
    (b"not a zip", "n.npz", {}, r"'n.npz' is not a valid NPZ"),
    (_bad_csv(**GOOD), "c.csv", {"label_column": "kind"}, r"no column 'kind'.*'a', 'label'"),
    (_bad_csv(a=range(20), label=["x"] * 20), "one.csv", {}, r"only one class \('x'\)"),
    (_bad_csv(**GOOD), "c.csv", {"task": "ordinal"}, "task must be one of"),
    (_bad_csv(a=[1.0, np.nan, 3, np.inf] * 5, b=[np.nan] + [1.0] * 19, label=[0, 1] * 10),
     "nan.csv", {}, r"column 'a' holds an infinite value \('inf' at row 4 \(line 5 of the file\) and 4 more\)"),
    (_bad_csv(a=[str(i) for i in range(19)] + ["oops"], label=[0, 1] * 10), "s.csv", {},
     r"column 'a' holds numbers but row 20 \(line 21 of the file\) has the text 'oops'"),
    (_bad_csv(a=range(20), name=[f"n{i}" for i in range(20)], label=[0, 1] * 10), "w.csv",
     {}, None),  # 20 distinct names ≤ 50: fine (checked below)
    (_bad_csv(a=range(60), name=[f"n{i}" for i in range(60)], label=[0, 1] * 30), "w.csv",
     {}, r"columns 'name' \(60 distinct values\)"),
    (_bad_csv(a=range(6), label=[0, 1] * 3), "few.csv", {},
     r"6 labeled rows.*test split would get 2.*at least 4"),
    (_bad_csv(a=range(24), label=[0] * 20 + [np.nan] * 3 + [1]), "rare.csv", {},
     r"too few for class '1' \(1\)"),
    (_bad_csv(a=range(20), label=["x", "y"] * 10), "str.csv", {"task": "regression"},
     r"label column 'label' must hold numbers for regression, but row 1 \(line 2 of the file\) has 'x'"),
    (_bad_csv(**GOOD), "big.csv", {"max_rows": 10}, r"more than 10 rows"),
    (_bad_csv(**GOOD), "big.csv", {"max_bytes": 16}, r"'big.csv' is 0.0 MiB; the limit"),
    (_bad_csv(label=[0, 1] * 10), "only.csv", {}, r"only the column 'label'"),
])
def test_table_errors(raw, fname, kw, match):
    if match is None:
        ds = load_file(raw, filename=fname, **kw)
        assert sum(f.startswith("name=") for f in ds.feature_names) == 20
        return
    with pytest.raises(ValueError, match=match):
        load_file(raw, filename=fname, **kw)


def test_missing_file_and_nameless_bytes(tmp_path):
    with pytest.raises(ValueError, match="file not found"):
        load_file(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="filename"):
        load_file(b"a,b\n1,2\n")


@pytest.mark.parametrize("arrays, match", [
    ({"X": np.zeros((10, 2)), "y": np.zeros(9)}, r"X has 10 rows but y has 9 labels"),
    ({"X": np.zeros((10, 2))}, r"must contain arrays 'X' and 'y'.*missing y"),
    ({"X": np.zeros((10, 2)), "y": np.zeros(10), "X_test": np.zeros((4, 2))}, "only one of"),
    ({"X": np.r_[np.zeros((9, 2)), [[np.nan, 1]]], "y": np.arange(10) % 2},
     r"1 missing \(NaN\) and 0 infinite values in columns 'column 0' \(1\)"),
    ({"X": np.zeros((10, 0, 5)), "y": np.arange(10) % 2}, "zero size"),
    ({"X": np.zeros((10, 4, 4, 5)), "y": np.arange(10) % 2}, r"C = 1 \(grey\) or 3"),
    ({"X": np.zeros((12, 2)), "y": np.zeros(12, int)}, r"only one class \('0'\)"),
    ({"X": np.zeros((12, 2)), "y": np.arange(12) % 2, "X_test": np.zeros((4, 2)),
      "y_test": np.array([0, 1, np.nan, 1])}, "y_test has 1 missing labels"),
    ({"X": np.zeros((12, 2)), "y": np.arange(12) % 2, "X_test": np.zeros((4, 3)),
      "y_test": np.arange(4) % 2}, "X_test has shape"),
])
def test_npz_errors(arrays, match):
    with pytest.raises(ValueError, match=match):
        load_file(_npz(**arrays), filename="bad.npz")


def test_npz_object_array_refused():
    buf = io.BytesIO()
    np.savez(buf, X=np.array([{"a": 1}] * 10, dtype=object), y=np.zeros(10))
    with pytest.raises(ValueError, match=r"could not read 'o.npz' as NPZ"):
        load_file(buf.getvalue(), filename="o.npz")


def test_zip_errors():
    files = {f"c{k}/i{i}.png": _png(value=10 * i) for k in range(2) for i in range(6)}
    with pytest.raises(ValueError, match=r"'c1/notes.txt' is not an image file"):
        load_file(_zip({**files, "c1/notes.txt": b"hello"}), filename="a.zip")
    with pytest.raises(ValueError, match=r"image 'c0/empty.png' is empty"):
        load_file(_zip({**files, "c0/empty.png": b""}), filename="a.zip")
    with pytest.raises(ValueError, match=r"'c0/bad.png' is not a readable image"):
        load_file(_zip({**files, "c0/bad.png": b"not png"}), filename="a.zip")
    with pytest.raises(ValueError, match=r"'loose.png' is not inside a class folder"):
        load_file(_zip({**files, "loose.png": _png()}), filename="a.zip")
    with pytest.raises(ValueError, match=r"only one class folder \('c0'\)"):
        load_file(_zip({k: v for k, v in files.items() if k.startswith("c0")}), filename="a.zip")
    with pytest.raises(ValueError, match=r"'a.zip' unpacks to .* MiB; the limit"):
        load_file(_zip({**files, "c0/huge.png": b"\0" * 200_000}), filename="a.zip",
                  max_bytes=100_000)
    with pytest.raises(ValueError, match=r"contains 12 files; the limit is 5"):
        load_file(_zip(files), filename="a.zip", max_rows=5)
    with pytest.raises(ValueError, match="regression"):
        load_file(_zip(files), filename="a.zip", task="regression")
    with pytest.raises(ValueError, match=r"at least 4"):
        load_file(_zip({k: v for k, v in files.items() if k.split("/")[1] < "i3"}),
                  filename="a.zip")
