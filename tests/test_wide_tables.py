"""Wide tables: the table reader processes all cells at once (strip, missing tokens, distinct values,
number parsing) and cuts the result back into columns.  These tests check that this fast path gives
exactly what the per-column reader of ef19c44 (tests/table_reference.py) gives: the same frame, dtypes,
NA-token counts and ReadingReport, the same encoded features, readings and warnings, and the same
refusal sentences.  Speed is measured by bench/bench_wide_tables.py, not here."""

from __future__ import annotations

import copy
import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bait_core.learning.data import load_file
from bait_core.learning.data import table_text as T
from bait_core.learning.data.tables import _encode_features, _read_table, _table_format, default_label_column
from bait_core.learning.reading import ReadingReport, ReadOptions
from tests import table_reference as R


def _outcome(fn):
    """('ok', result) or ('error', the ValueError's sentence)."""
    try:
        return "ok", fn()
    except ValueError as e:
        return "error", str(e)


def _csv(header: list[str], columns: list[list[str]], sep: str) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=sep, lineterminator="\n")
    w.writerow(header)
    for row in zip(*columns):
        w.writerow(row)
    return out.getvalue().encode("utf-8")


def _assert_same_read(raw: bytes, name: str, opts: ReadOptions):
    """Fast and reference reads agree; returns (df, report) of the fast read, or None after an equal refusal."""
    ext = "." + name.rsplit(".", 1)[1]
    rep_f = ReadingReport(file=name, format=_table_format(ext))
    rep_r = ReadingReport(file=name, format=_table_format(ext))
    fast = _outcome(lambda: _read_table(raw, name, ext, max_rows=None, options=opts, report=rep_f))
    ref = _outcome(lambda: R.read_table_text(raw, name, ext, options=opts, report=rep_r))
    assert fast[0] == ref[0], (fast, ref)
    if fast[0] == "error":
        assert fast[1] == ref[1]
        return None
    (df_f, src_f), (df_r, src_r) = fast[1], ref[1]
    assert src_f == src_r
    pd.testing.assert_frame_equal(df_f, df_r, check_exact=True)
    assert list(df_f.dtypes) == list(df_r.dtypes)
    assert df_f.columns.dtype == df_r.columns.dtype and df_f.index.equals(df_r.index)
    assert df_f.attrs == df_r.attrs
    assert rep_f == rep_r
    return df_f, rep_f


def _assert_same_encoding(df: pd.DataFrame, rep: ReadingReport, opts: ReadOptions, *, name: str = "t.csv",
                          text_file: bool = True):
    label = default_label_column(list(df.columns))
    feats = [c for c in df.columns if c != label] or list(df.columns)
    rep_f, rep_r = copy.deepcopy(rep), copy.deepcopy(rep)
    kw = dict(name=name, text_file=text_file, decimal=rep.decimal or ".", thousands=rep.thousands or "",
              options=opts)
    fast = _outcome(lambda: _encode_features(df[feats], rep=rep_f, **kw))
    ref = _outcome(lambda: R.encode_features(df[feats], rep=rep_r, **kw))
    assert fast[0] == ref[0], (fast, ref)
    if fast[0] == "error":
        assert fast[1] == ref[1]
        return None
    (X_f, names_f, num_f, groups_f), (X_r, names_r, num_r, groups_r) = fast[1], ref[1]
    assert X_f.dtype == X_r.dtype and X_f.shape == X_r.shape
    np.testing.assert_array_equal(X_f, X_r)                 # NaN where NaN, bit-equal values
    assert names_f == names_r and groups_f == groups_r
    np.testing.assert_array_equal(num_f, num_r)
    assert rep_f == rep_r                                   # readings, warnings
    return X_f, names_f


# ------------------------------------------------------------------------------------------------
# random small tables: numbers with either decimal mark and grouping, text, empty cells, NA tokens
# ------------------------------------------------------------------------------------------------

_NUMBERS = {
    "dot": lambda v: f"{v:.2f}",
    "comma": lambda v: f"{v:.2f}".replace(".", ","),
    "grouped_dot": lambda v: f"{v * 1000:,.1f}",
    "grouped_comma": lambda v: f"{v * 1000:,.1f}".replace(",", "_").replace(".", ",").replace("_", "."),
    "int": lambda v: str(int(round(v * 10))),
    "ambiguous": lambda v: f"{abs(int(v * 1000)) % 9 + 1},{abs(int(v * 1e6)) % 1000:03d}",
}
_TEXT = ["a", "b", "NA", "x y", "?", "1.5", "-", "inf"]


@st.composite
def _column(draw, n: int):
    kind = draw(st.sampled_from(list(_NUMBERS) + ["text", "empty", "tokens", "stray", "padded"]))
    vals = draw(st.lists(st.floats(-50, 50, allow_nan=False), min_size=n, max_size=n))
    fmt = _NUMBERS.get(draw(st.sampled_from(list(_NUMBERS))))
    if kind in _NUMBERS:
        cells = [_NUMBERS[kind](v) for v in vals]
    elif kind == "text":
        cells = draw(st.lists(st.sampled_from(_TEXT), min_size=n, max_size=n))
    elif kind == "empty":
        cells = draw(st.lists(st.sampled_from(["", " ", "  "]), min_size=n, max_size=n))
    elif kind == "tokens":                                   # numbers with missing-value tokens and blanks
        cells = [draw(st.sampled_from([fmt(v), fmt(v), "NA", "?", "", "-"])) for v in vals]
    elif kind == "stray":                                    # numbers with one stray text
        cells = [fmt(v) for v in vals]
        cells[draw(st.integers(0, n - 1))] = draw(st.sampled_from(_TEXT))
    else:                                                    # spaces around numbers
        cells = [f" {fmt(v)}  " for v in vals]
    return cells


@st.composite
def _table(draw):
    n = draw(st.integers(1, 7))
    k = draw(st.integers(1, 5))
    cols = [draw(_column(n)) for _ in range(k)]
    if draw(st.booleans()):                                  # wide: > 64 columns take the one-array path
        cols = [cols[j % k] for j in range(draw(st.integers(65, 90)))]
    header = [draw(st.sampled_from(["", "f", "id", "x"])) + str(j) for j in range(len(cols))]
    label = draw(st.lists(st.sampled_from(["0", "1", "2", "", "NA", "cat"]), min_size=n, max_size=n))
    header.append(draw(st.sampled_from(["label", "y", "target"])))
    cols.append(label)
    sep = draw(st.sampled_from([",", ";", "\t"]))
    na = tuple(draw(st.lists(st.sampled_from(["NA", "?", "-"]), max_size=3, unique=True)))
    roles = []
    for j in draw(st.lists(st.integers(0, len(header) - 2), max_size=2, unique=True)):
        roles.append((header[j], draw(st.sampled_from(["numeric", "one-hot", "ignored"]))))
    decimal = draw(st.sampled_from([None, None, ".", ","]))
    thousands = draw(st.sampled_from([None, None, "", ".", ",", " "]))
    opts = ReadOptions(na_values=na, roles=tuple(roles), decimal=decimal,
                       thousands=None if thousands == decimal else thousands)
    return _csv(header, cols, sep), opts


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_table())
def test_fast_reader_matches_the_per_column_reference(case):
    raw, opts = case
    read = _assert_same_read(raw, "t.csv", opts)
    if read is not None:
        _assert_same_encoding(*read, opts)


# ------------------------------------------------------------------------------------------------
# fixed cases: the wide path really runs and reads the values; long columns; Parquet
# ------------------------------------------------------------------------------------------------

def test_a_wide_table_with_decimal_commas_and_tokens_reads_as_the_reference():
    rng = np.random.default_rng(3)
    n, m = 20, 150
    vals = rng.standard_normal((n, m)) * 3000
    cols = [[f"{v:,.2f}".replace(",", " ").replace(".", ",") for v in vals[:, j]] for j in range(m)]
    cols[5][2] = "NA"
    cols[7][0], cols[7][1] = "?", "NA"
    cols[9] = [""] * n                                     # an empty column: ignored, with a warning
    cols.append([str(i % 3) for i in range(n)])
    raw = _csv([f"f{j}" for j in range(m)] + ["label"], cols, ";")
    opts = ReadOptions(na_values=("NA", "?"))
    df, rep = _assert_same_read(raw, "w.csv", opts)
    assert (rep.decimal, rep.thousands) == (",", " ")
    assert df.attrs["na_tokens"] == {"f5": {"NA": 1}, "f7": {"?": 1, "NA": 1}}
    X, names = _assert_same_encoding(df, rep, opts)
    assert X.shape == (n, m - 1) and "f9" not in names
    assert X[0, 0] == pytest.approx(round(vals[0, 0], 2)) and np.isnan(X[2, 5])
    ds = load_file(raw, filename="w.csv", options=opts)
    assert ds.X.shape[1] == m - 1 and ds.report.decimal == ","


def test_a_column_with_more_distinct_values_than_the_detection_sample_reads_as_the_reference():
    rng = np.random.default_rng(5)
    n = 6000                                               # > 5,500 distinct values: _informative's cut
    a = [f"{v:.4f}" for v in rng.uniform(0, 1, n)]
    b = [f"{v:,.0f}" for v in rng.uniform(1000, 10**6, n)]
    raw = _csv(["a", "b", "label"], [a, b, [str(i % 2) for i in range(n)]], ",")
    df, rep = _assert_same_read(raw, "long.csv", ReadOptions())
    assert (rep.decimal, rep.thousands) == (".", ",")
    _assert_same_encoding(df, rep, ReadOptions())


def test_an_ambiguous_wide_table_is_refused_with_the_reference_sentence():
    cols = [[f"{i + 1},{j:03d}" for i in range(4)] for j in range(80)] + [["0", "1", "0", "1"]]
    raw = _csv([f"c{j}" for j in range(80)] + ["label"], cols, ";")
    rep_f, rep_r = ReadingReport(file="a.csv", format="CSV"), ReadingReport(file="a.csv", format="CSV")
    fast = _outcome(lambda: _read_table(raw, "a.csv", ".csv", max_rows=None, report=rep_f))
    ref = _outcome(lambda: R.read_table_text(raw, "a.csv", ".csv", report=rep_r))
    assert fast[0] == "error" and fast == ref
    assert "ambiguous in column 'c0'" in fast[1]


def test_parquet_frames_of_mixed_dtypes_encode_as_the_reference(tmp_path):
    n, m = 6, 70
    data = {f"n{j}": np.arange(n, dtype=float) * (j + 1) for j in range(m)}
    data.update({"flag": [True, False] * 3, "when": pd.date_range("2020-01-01", periods=n),
                 "txt": ["1,5", "2,5", None, "3", "4", "x"], "cat": ["a", "b", "a", None, "b", "a"],
                 "label": [0, 1, 0, 1, 0, 1]})
    df = pd.DataFrame(data)
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    rep = ReadingReport(file="m.parquet", format="Parquet")
    read, _ = _read_table(path.read_bytes(), "m.parquet", ".parquet", max_rows=None, report=rep)
    X, names = _assert_same_encoding(read, rep, ReadOptions(), name="m.parquet", text_file=False)
    assert "flag" in names and "cat=a" in names and X.shape[0] == n
