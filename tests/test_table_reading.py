"""Reading tables (issue 10, table items): missing-value tokens, locales, encodings, duplicated
headers, overflowing values, the missing-feature policy, column roles, the task rule, and the
ReadingReport that states every inference.  Every file is built inside the test."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bait_core.learning.data import list_columns, load_file
from bait_core.learning.reading import ReadOptions, report_lines


def _load(text, name="t.csv", encoding="utf-8", **kw):
    raw = text.encode(encoding) if isinstance(text, str) else text
    kw.setdefault("standardize", False)
    return load_file(raw, filename=name, **kw)


def _all_X(ds):
    return np.concatenate([ds.X, ds.X_test])


def _col(ds, name):
    return _all_X(ds)[:, ds.feature_names.index(name)]


def _roles(ds):
    return {c.name: (c.role, c.detail) for c in ds.report.columns}


# ---------------------------------------------------------------------------------------------
# 1. missing-value tokens never eat class names
# ---------------------------------------------------------------------------------------------

NA_LIKE = ["NA", "N/A", "null", "None", "nan", "-NaN", "#N/A", "NULL", "n/a"]


def test_na_like_class_names_are_classes_and_only_empty_cells_are_missing():
    regions = ["NA", "EU", "AS"]
    lines = ["x,region"] + [f"{i},{regions[i % 3] if i % 10 else ''}" for i in range(60)]
    ds = _load("\n".join(lines))
    assert ds.classes == ("AS", "EU", "NA")
    r = ds.report
    assert r.rows_without_label == 6 and "6 empty label cells" in r.unlabeled_reason
    assert sum(r.classes.values()) == 54 and r.classes["NA"] == 18
    assert (ds.y == -1).sum() == 6
    assert any("Rows without a label: 6" in ln for ln in report_lines(r))


def test_every_pandas_default_na_string_is_a_class():
    lines = ["x,label"] + [f"{i},{NA_LIKE[i % len(NA_LIKE)]}" for i in range(len(NA_LIKE) * 6)]
    ds = _load("\n".join(lines))
    assert set(ds.classes) == set(NA_LIKE) and ds.report.rows_without_label == 0
    assert all(n == 6 for n in ds.report.classes.values())


def test_chosen_missing_tokens_are_missing_and_counted():
    lines = ["x,label"] + [f"{i},{['a', 'b', '?'][i % 3]}" for i in range(30)] + ["30,"]
    ds = _load("\n".join(lines), options=ReadOptions(na_values=("?",)))
    r = ds.report
    assert ds.classes == ("a", "b") and r.rows_without_label == 11
    assert "1 empty label cell" in r.unlabeled_reason and "10 cells with the missing-value token '?'" \
        in r.unlabeled_reason


# ---------------------------------------------------------------------------------------------
# 2. locales: separator, decimal mark and thousands grouping
# ---------------------------------------------------------------------------------------------

def _temps(n=120, seed=0):
    rng = np.random.default_rng(seed)
    return np.round(rng.uniform(-10, 35, n), 1), np.round(rng.uniform(900, 1100, n), 2)


def test_semicolon_and_decimal_comma_read_as_numbers():
    t, p = _temps()                                            # > 50 distinct values in each column
    lines = ["temperatur;druck;label"] + [f"{a:.1f};{b:.2f};{'ab'[i % 2]}".replace(".", ",")
                                           for i, (a, b) in enumerate(zip(t, p))]
    ds = _load("\n".join(lines))
    assert ds.feature_names == ("temperatur", "druck")             # no one-hot 'temperatur=17,7'
    np.testing.assert_array_equal(np.sort(_col(ds, "temperatur")), np.sort(t.astype(np.float32)))
    r = ds.report
    assert (r.separator, r.decimal, r.thousands) == (";", ",", "")
    assert r.inferred["separator"] and r.inferred["decimal"] and r.inferred["thousands"]
    assert any("Separator: semicolon ';' (inferred) · decimal mark: comma ','" in ln for ln in report_lines(r))
    assert _roles(ds)["temperatur"] == ("numeric", "numeric")


def test_small_decimal_comma_file_is_not_one_hot():
    lines = ["temperatur;label"] + [f"{v};{'ab'[i % 2]}" for i, v in
                                     enumerate(["17,7", "18,2", "16,9", "17,1"] * 5)]
    ds = _load("\n".join(lines))
    assert ds.feature_names == ("temperatur",)
    assert sorted(set(_col(ds, "temperatur").tolist())) == pytest.approx([16.9, 17.1, 17.7, 18.2])


SIBLINGS = [
    # (cell text, separator, expected value, decimal, thousands)
    ("1.234,56", ";", 1234.56, ",", "."),                           # German
    ("1 234,5", ";", 1234.5, ",", " "),                              # French, plain space
    ("1\u00a0234,5", ";", 1234.5, ",", "\u00a0"),                    # no-break space
    ("1\u202f234,5", ";", 1234.5, ",", "\u202f"),                    # narrow no-break space
    ("1'234.5", ",", 1234.5, ".", "'"),                              # Swiss
    ('"1,234.5"', ",", 1234.5, ".", ","),                            # quoted, holds the separator
    ("1234.5", "\t", 1234.5, ".", ""),                               # tab-separated .csv
    ("1234.5", "|", 1234.5, ".", ""),                                # pipe-separated
]


@pytest.mark.parametrize("cell, sep, value, decimal, thousands", SIBLINGS)
def test_locale_siblings(cell, sep, value, decimal, thousands):
    lines = [sep.join(["amount", "n", "label"])]
    for i in range(24):
        lines.append(sep.join([cell if i == 0 else str(i), str(i), "ab"[i % 2]]))
    ds = _load("\n".join(lines))
    r = ds.report
    assert (r.separator, r.decimal, r.thousands) == (sep, decimal, thousands)
    assert ds.feature_names == ("amount", "n")
    assert value in _col(ds, "amount").astype(np.float64).round(2)


def test_quoted_fields_with_the_separator_in_text_and_label():
    lines = ['name,x,label'] + [f'"Smith, J{i % 3}",{i}.5,"x, {"ab"[i % 2]}"' for i in range(24)]
    ds = _load("\n".join(lines))
    assert ds.classes == ("x, a", "x, b") and ds.report.separator == ","
    assert "name=Smith, J0" in ds.feature_names


def test_single_column_file_is_refused_with_the_reason():
    with pytest.raises(ValueError, match=r"only the column 'label'"):
        _load("label\n" + "\n".join("ab"[i % 2] for i in range(20)))
    lst = list_columns(("value\n" + "\n".join(f"{i},5" for i in range(20))).encode(), filename="v.csv")
    assert lst == ["value"]


def test_ambiguous_grouping_is_refused_and_options_decide():
    lines = ["a;b;label"] + [f"{k},{(i * 37) % 1000:03d};{i};{'ab'[i % 2]}" for i, k in
                             enumerate([1, 2, 3, 4, 5, 6, 7, 8] * 3)]
    text = "\n".join(lines)
    with pytest.raises(ValueError, match=r"ambiguous in column 'a'.*read as [0-9.]+ or as [0-9]+.*"
                                         r"decimal=','.*thousands=','"):
        _load(text)
    as_decimal = _load(text, options=ReadOptions(decimal=","))
    as_thousands = _load(text, options=ReadOptions(decimal=".", thousands=","))
    assert _col(as_decimal, "a").max() < 10 and _col(as_thousands, "a").max() > 1000
    r = as_decimal.report
    assert (r.decimal, r.thousands) == (",", "") and r.inferred["decimal"] is False
    assert any("decimal mark: comma ',' (as chosen)" in ln for ln in report_lines(r))


def test_separator_option_overrides_and_an_undecided_separator_is_warned():
    text = "x,y;label\n" + "\n".join(f"{i},5;{'ab'[i % 2]}" for i in range(20))   # both split evenly
    guessed = _load(text)
    assert any("would also split every row evenly" in w for w in guessed.report.warnings)
    ds = _load(text, options=ReadOptions(sep=";"))
    assert ds.report.separator == ";" and ds.report.inferred["separator"] is False
    assert ds.feature_names == ("x,y",) and ds.report.decimal == ","
    assert sorted(_col(ds, "x,y").tolist())[:2] == pytest.approx([0.5, 1.5])


# ---------------------------------------------------------------------------------------------
# 3. encodings
# ---------------------------------------------------------------------------------------------

def _euro_text(n=24):
    return "größe,preis\n" + "\n".join(f"{i},{['10–50 €', 'unter 10 €'][i % 2]}" for i in range(n))


def test_cp1252_excel_csv_reads_dash_and_euro():
    ds = _load(_euro_text(), encoding="cp1252")
    assert ds.classes == ("10–50 €", "unter 10 €")
    r = ds.report
    assert r.encoding == "cp1252" and r.inferred["encoding"]
    assert any("not UTF-8" in w and "'–'" in w and "'€'" in w for w in r.warnings)
    assert ds.feature_names == ("größe",)
    assert list_columns(_euro_text().encode("cp1252"), filename="e.csv") == ["größe", "preis"]


@pytest.mark.parametrize("encoding, shown", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8 (with BOM)"),
                                             ("utf-16", "utf-16 LE (with BOM)"),
                                             ("utf-16-be", None)])
def test_unicode_encodings_and_byte_order_marks(encoding, shown):
    raw = _euro_text().encode(encoding)
    if encoding == "utf-16-be":
        raw = b"\xfe\xff" + raw                                   # Excel "Unicode text" (big-endian)
        shown = "utf-16 BE (with BOM)"
    ds = _load(raw)
    assert ds.classes == ("10–50 €", "unter 10 €") and ds.feature_names == ("größe",)
    assert ds.report.encoding == shown and not ds.report.warnings


def test_encoding_option_and_wrong_guess_warnings():
    raw = ("ort,label\n" + "\n".join(f"{i},Köln {'ab'[i % 2]}" for i in range(20))).encode("mac_roman")
    guessed = _load(raw)                                              # read as cp1252: 'š', said so
    assert guessed.report.encoding == "cp1252" and any("'š'" in w for w in guessed.report.warnings)
    ds = _load(raw, options=ReadOptions(encoding="mac_roman"))
    assert ds.classes == ("Köln a", "Köln b") and ds.report.encoding == "mac-roman"
    assert ds.report.inferred["encoding"] is False
    c1 = _load(_euro_text(), encoding="cp1252", options=ReadOptions(encoding="latin-1"))
    assert any("control character" in w for w in c1.report.warnings)
    with pytest.raises(ValueError, match=r"cannot be read with the encoding 'utf-8' you chose"):
        _load(_euro_text(), encoding="cp1252", options=ReadOptions(encoding="utf-8"))


def test_shift_jis_when_charset_normalizer_decides_it():
    text = "a,label\n" + "\n".join(f"{i},日本語{'ab'[i % 2]}" for i in range(24))
    ds = _load(text, encoding="shift_jis")
    assert ds.classes == ("日本語a", "日本語b") and ds.report.encoding in ("cp932", "shift_jis")


# ---------------------------------------------------------------------------------------------
# 6. duplicated header names
# ---------------------------------------------------------------------------------------------

def test_duplicated_label_header_is_refused():
    text = "a,a,label,label\n" + "\n".join(f"{i},{i},{i % 2},{i % 2}" for i in range(20))
    with pytest.raises(ValueError, match=r"names the label column 'label' 2 times \(columns 3, 4\).*"
                                         r"give the label away"):
        _load(text)


def test_duplicated_feature_headers_are_kept_under_distinct_names_with_a_warning():
    text = "a,a,,label\n" + "\n".join(f"{i},{2 * i},{3 * i},{i % 2}" for i in range(20))
    assert list_columns(text.encode(), filename="d.csv") == ["a", "a (2)", "column 3", "label"]
    ds = _load(text)
    assert ds.feature_names == ("a", "a (2)", "column 3")
    assert _col(ds, "a (2)").max() == 38
    assert any("'a' 2 times" in w for w in ds.report.warnings)


def test_a_copy_of_the_label_under_another_name_is_warned():
    text = "x,Label,label\n" + "\n".join(f"{i},{'ab'[i % 2]},{'ab'[i % 2]}" for i in range(20))
    ds = _load(text)
    assert any("'Label'" in w and "give the label away" in w for w in ds.report.warnings)


# ---------------------------------------------------------------------------------------------
# 7. values that overflow
# ---------------------------------------------------------------------------------------------

def _with(value, n=24):
    return "a,b,label\n" + "\n".join(f"{i},{value if i % 5 == 3 else i},{i % 2}" for i in range(n))


@pytest.mark.parametrize("value, standardize, match", [
    ("1e308", True, r"column 'b' has values too large to standardise"),
    ("-1e308", True, r"column 'b' has values too large to standardise"),
    ("1e308", False, r"column 'b' holds values beyond the range of 32-bit floats"),
    ("1e39", False, r"column 'b' holds values beyond the range of 32-bit floats"),
    ("1e25", False, r"column 'b' holds values up to 1e\+25.*squares overflow"),
    ("inf", True, r"column 'b' holds an infinite value \('inf' at row 4 \(line 5 of the file\) and 4 more\)"),
    ("-Infinity", False, r"column 'b' holds an infinite value"),
    ("1e999", True, r"column 'b' holds an infinite value \('1e999'"),
])
def test_overflowing_values_are_refused_by_column(value, standardize, match):
    with pytest.raises(ValueError, match=match):
        _load(_with(value), standardize=standardize)


def test_large_but_safe_values_load_finite():
    ds = _load(_with("1e30"), standardize=True)
    assert np.isfinite(_all_X(ds)).all()
    lab = "a,label\n" + "\n".join(f"{i},{'1e39' if i == 2 else i * 0.5}" for i in range(24))
    with pytest.raises(ValueError, match=r"label column 'label' has the value 1e\+39.*32-bit"):
        _load(lab)


# ---------------------------------------------------------------------------------------------
# 8. missing features: one policy, messages that agree with it
# ---------------------------------------------------------------------------------------------

def _question_marks(n=30):
    return "a,b,label\n" + "\n".join(f"{i},{'?' if i % 7 == 3 else i * 0.5},{'ab'[i % 2]}" for i in range(n))


def test_text_tokens_in_a_numeric_column_are_named_with_rows_and_the_fix():
    with pytest.raises(ValueError) as e:
        _load(_question_marks())
    msg = str(e.value)
    assert "column 'b' holds numbers but rows 4, 11, 18 and 25 (lines 5, 12, 19 and 26 of the file) " \
           "have the text '?'" in msg
    assert "na_values=('?',)" in msg and "median" in msg


def test_the_suggested_fix_is_accepted_median_by_default():
    ds = _load(_question_marks(), options=ReadOptions(na_values=("?",)))
    b = _col(ds, "b")
    assert np.isfinite(b).all()
    role, detail = _roles(ds)["b"]
    assert role == "numeric" and detail.startswith("numeric, 4 empty → median ")
    med = float(detail.rsplit(" ", 1)[1])
    blank = np.isin(ds.X[:, 0], [3, 10, 17, 24])                  # column a is the row number
    assert med == pytest.approx(float(np.median(ds.X[~blank, 1])))   # the pool's median
    assert (ds.X[blank, 1] == np.float32(med)).all()
    assert (ds.X_test[np.isin(ds.X_test[:, 0], [3, 10, 17, 24]), 1] == np.float32(med)).all()


def test_missing_policy_drop_and_refuse():
    ds = _load(_question_marks(), options=ReadOptions(na_values=("?",), missing_features="drop"))
    assert len(ds.X) + len(ds.X_test) == 26
    assert ds.report.rows_dropped == [(4, "an empty feature cell in columns 'b' (4) (missing_features='drop')")]
    assert sum(ds.report.classes.values()) == 26
    with pytest.raises(ValueError, match=r"4 feature cell\(s\) are empty, in columns 'b' \(4\).*"
                                         r"missing_features='refuse' is chosen.*'median'.*'drop'"):
        _load(_question_marks(), options=ReadOptions(na_values=("?",), missing_features="refuse"))
    with pytest.raises(ValueError, match=r"add it to the missing-value tokens.*refused, as "
                                         r"missing_features='refuse' is chosen"):
        _load(_question_marks(), options=ReadOptions(missing_features="refuse"))


def test_empty_cells_in_one_hot_columns_and_parquet():
    df = pd.DataFrame({"colour": (["red", "blue", None] * 10), "v": [1.0, np.nan, 3.0] * 10,
                       "row": np.arange(30), "label": ["a", "b"] * 15})
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    ds = load_file(buf.getvalue(), filename="t.parquet", standardize=False)
    r = ds.report
    assert r.format == "Parquet" and r.encoding is None and r.separator is None
    roles = _roles(ds)
    assert roles["colour"] == ("one-hot", "one-hot, 2 categories, 10 empty → all zeros")
    blank = ds.X[:, 3] % 3 == 1
    med = float(np.median(ds.X[~blank, 2]))                      # the pool's median
    assert roles["v"] == ("numeric", f"numeric, 10 empty → median {med:g}")
    assert (_all_X(ds)[_all_X(ds)[:, 3] % 3 == 1, 2] == med).all()
    oh = _all_X(ds)[:, :2]
    assert (oh.sum(axis=1) == 0).sum() == 10


def test_numeric_label_with_a_token_names_it():
    text = "a,label\n" + "\n".join(f"{i},{'?' if i == 5 else i % 2}" for i in range(30))
    with pytest.raises(ValueError, match=r"label column 'label' holds numbers but row 6 \(line 7 of the "
                                         r"file\) has the text '\?'.*na_values=\('\?',\).*no label"):
        _load(text)
    ds = _load(text, options=ReadOptions(na_values=("?",)))
    assert ds.report.rows_without_label == 1 and ds.classes == ("0", "1")


# ---------------------------------------------------------------------------------------------
# column roles and the task rule
# ---------------------------------------------------------------------------------------------

def test_roles_force_one_hot_ignored_numeric_and_label():
    text = "code,noise,grade,kind\n" + "\n".join(f"{i % 4},{i * 1.5},{i % 3},{'ab'[i % 2]}" for i in range(24))
    ds = _load(text, options=ReadOptions(roles=(("code", "one-hot"), ("noise", "ignored"), ("kind", "label"))))
    assert ds.feature_names == ("code=0", "code=1", "code=2", "code=3", "grade")
    roles = _roles(ds)
    assert roles["code"] == ("one-hot", "one-hot, 4 categories") and roles["noise"][0] == "ignored"
    assert ds.report.label_column == "kind" and ds.classes == ("a", "b")
    assert any(ln.startswith("Columns, ignored: noise (chosen)") for ln in report_lines(ds.report))
    with pytest.raises(ValueError, match=r"has no column 'nope' \(given a role\)"):
        _load(text, options=ReadOptions(roles=(("nope", "ignored"),)))


def test_id_column_is_ignored_and_said_so_other_wide_text_is_refused():
    text = "customer_id,a,label\n" + "\n".join(f"c{i:04d},{i},{'ab'[i % 2]}" for i in range(80))
    ds = _load(text)
    assert ds.feature_names == ("a",)
    assert _roles(ds)["customer_id"] == ("ignored", "an id column (all 80 values distinct text)")
    wide = "comment,a,label\n" + "\n".join(f"note {i},{i},{'ab'[i % 2]}" for i in range(80))
    with pytest.raises(ValueError, match=r"'comment' \(80 distinct values\).*role 'ignored'"):
        _load(wide)
    ok = _load(wide, options=ReadOptions(roles=(("comment", "ignored"),)))
    assert ok.feature_names == ("a",)


def test_task_rule_is_stated_and_can_be_overridden():
    text = "a,label\n" + "\n".join(f"{i},{i % 26}" for i in range(104))
    ds = _load(text)
    assert ds.task == "regression"
    assert ds.report.task_reason == ("numeric labels with 26 distinct whole values 0..25 → regression "
                                     "(more than 20); choose classification to override")
    forced = _load(text, options=ReadOptions(task="classification"))
    assert forced.task == "classification" and len(forced.classes) == 26
    assert forced.report.task_reason.startswith("chosen")
    assert sum(forced.report.classes.values()) == 104
    small = _load("a,label\n" + "\n".join(f"{i},{i % 3}" for i in range(30)))
    assert small.report.task_reason.startswith("numeric labels with 3 distinct whole values 0..2 → "
                                               "classification (at most 20)")
    frac = _load("a,label\n" + "\n".join(f"{i},{i * 0.25}" for i in range(30)))
    assert frac.task == "regression" and "fractional values (e.g. 0.25)" in frac.report.task_reason


def test_report_fields_for_a_plain_csv():
    df = pd.DataFrame({"h": np.arange(40) * 1.5, "c": ["x", "y"] * 20, "label": ["p", "q", "r", "s"] * 10})
    ds = _load(df.to_csv(index=False))
    r = ds.report
    assert (r.file, r.format, r.encoding, r.rows_read) == ("t.csv", "CSV", "utf-8", 40)
    assert [(c.name, c.role) for c in r.columns] == [("h", "numeric"), ("c", "one-hot"), ("label", "label")]
    assert r.classes == {"p": 10, "q": 10, "r": 10, "s": 10} and r.task == "classification"
    assert r.task_reason == "text labels → classification" and r.rows_dropped == []
    assert set(r.inferred) >= {"encoding", "separator", "decimal", "thousands"}
    assert ds.report.label_column == "label"


# ---------------------------------------------------------------------------------------------
# property: what is written is what is read
# ---------------------------------------------------------------------------------------------

def _group(int_part: str, t: str) -> str:
    if not t or len(int_part) <= 3:
        return int_part
    head = len(int_part) % 3 or 3
    return t.join([int_part[:head]] + [int_part[i:i + 3] for i in range(head, len(int_part), 3)])


def _write_number(v: np.float32, decimal: str, thousands: str, scientific: bool) -> str:
    if scientific and not thousands:
        s = np.format_float_scientific(v, unique=True)
    else:
        s = np.format_float_positional(v, unique=True, trim="-")
    sign = "-" if s.startswith("-") else ""
    s = s.lstrip("-")
    if "e" in s:
        mant, exp = s.split("e")
        return sign + mant.replace(".", decimal) + "e" + exp
    ip, _, fp = s.partition(".")
    return sign + _group(ip, thousands) + (decimal + fp if fp else "")


COMBOS = [(sep, d, t) for sep in (",", ";", "\t", "|") for d, t in
          ((".", ""), (",", ""), (".", ","), (",", "."), (",", " "), (",", "\u00a0"), (",", "\u202f"),
           (".", "'"))]
ENCODINGS = {"utf-8": "utf-8", "utf-8-sig": "utf-8 (with BOM)", "cp1252": "cp1252",
             "utf-16": "utf-16 LE (with BOM)"}
LABELS = ["NA", "é,1", "b|c;d"]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_written_numbers_read_back_with_the_report_naming_the_format(data):
    n = data.draw(st.integers(16, 40), label="rows")
    k = data.draw(st.integers(1, 4), label="columns")
    sep, dec, tho = data.draw(st.sampled_from(COMBOS), label="format")
    enc = data.draw(st.sampled_from(sorted(ENCODINGS)), label="encoding")
    if enc == "cp1252" and tho == "\u202f":
        tho = "\u00a0"
    quoting = data.draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]), label="quoting")
    magnitude = st.floats(-2.0**36, 2.0**36, allow_nan=False, allow_infinity=False, width=32)
    tiny = st.floats(-2.0**-10, 2.0**-10, allow_nan=False, allow_infinity=False, width=32)
    vals = np.array(data.draw(st.lists(st.lists(magnitude | tiny, min_size=k, max_size=k),
                                       min_size=n, max_size=n), label="values"), dtype=np.float32)
    vals[0, 0] = np.float32(1234567.25)                     # shows the decimal mark and the grouping
    sci = data.draw(st.lists(st.booleans(), min_size=n * k, max_size=n * k), label="scientific")
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=sep, quoting=quoting, lineterminator="\n")
    w.writerow([f"c{j}" for j in range(k)] + ["label"])
    for i in range(n):
        w.writerow([_write_number(vals[i, j], dec, tho, sci[i * k + j] and i > 0) for j in range(k)]
                   + [LABELS[i % 3]])
    raw = buf.getvalue().encode(enc)
    ds = load_file(raw, filename="p.csv", standardize=False)
    r = ds.report
    assert (r.separator, r.decimal, r.thousands) == (sep, dec, tho)
    assert r.encoding == ENCODINGS[enc]
    assert ds.classes == tuple(sorted(LABELS)) and ds.feature_names == tuple(f"c{j}" for j in range(k))
    got = _all_X(ds)
    order_w = np.lexsort(vals.T[::-1])
    order_g = np.lexsort(got.T[::-1])
    np.testing.assert_array_equal(got[order_g], vals[order_w])


# ---------------------------------------------------------------------------------------------
# rows of the wrong width, a header that is data, list_columns with options
# ---------------------------------------------------------------------------------------------

def test_a_short_or_long_row_is_refused_not_read_as_missing():
    short = "a,b,label\n" + "\n".join(f"{i},{i}" + (f",{i % 2}" if i != 5 else "") for i in range(20))
    with pytest.raises(ValueError, match=r"header has 3 field\(s\) but data row 6 has 2 \('5', '5'\)"):
        _load(short)
    with pytest.raises(ValueError, match=r"\(as chosen\) the header has 3 field\(s\) but data row 6 has 2"):
        _load(short, options=ReadOptions(sep=","))
    with pytest.raises(ValueError, match=r"data row 6 has 2"):
        list_columns(short.encode(), filename="s.csv")


def test_header_of_numbers_is_warned_and_empty_label_column_refused():
    ds = _load("1,2,3\n" + "\n".join(f"{i},{i},{i % 2}" for i in range(20)))
    assert any("every name in the first line is a number" in w for w in ds.report.warnings)
    with pytest.raises(ValueError, match=r"label column 'column 3' is empty in every row"):
        _load("a;b;\n" + "\n".join(f"{i};{i % 2};" for i in range(20)))


def test_list_columns_uses_the_same_reading_options():
    raw = ("x,y;label\n" + "\n".join(f"{i},5;{'ab'[i % 2]}" for i in range(20))).encode("utf-16")
    assert list_columns(raw, filename="o.csv", options=ReadOptions(sep=";")) == ["x,y", "label"]
    raw2 = "Größe\tlabel\n1\ta\n".encode("cp1252")
    assert list_columns(raw2, filename="g.csv") == ["Größe", "label"]
    with pytest.raises(ValueError, match="separator must be one character"):
        list_columns(raw2, filename="g.csv", options=ReadOptions(sep=";;"))


def test_parquet_duplicated_names_follow_the_same_rule():
    import pyarrow as pa
    import pyarrow.parquet as pq

    def parquet(names, cols):
        buf = io.BytesIO()
        pq.write_table(pa.table([pa.array(c) for c in cols], names=names), buf)
        return buf.getvalue()

    a, lab = np.arange(20.0), [0, 1] * 10
    leak = parquet(["a", "a", "label", "label"], [a, 2 * a, lab, lab])
    assert list_columns(leak, filename="d.parquet") == ["a", "a (2)", "label", "label (2)"]
    with pytest.raises(ValueError, match=r"schema names the label column 'label' 2 times"):
        load_file(leak, filename="d.parquet")
    ds = load_file(parquet(["a", "a", "label"], [a, 2 * a, lab]), filename="d.parquet", standardize=False)
    assert ds.feature_names == ("a", "a (2)") and any("'a' 2 times" in w for w in ds.report.warnings)


def test_wrong_decimal_choice_is_refused_with_the_locale_hint():
    text = "temperatur;label\n" + "\n".join(f"{i},{i % 10};{'ab'[i % 2]}" for i in range(80))
    with pytest.raises(ValueError, match=r"'temperatur' \(80 distinct values\).*reads as numbers with "
                                         r"decimal=','"):
        _load(text, options=ReadOptions(decimal="."))


def test_decimal_comma_regression_target_and_tsv_extension():
    text = "a\tziel\n" + "\n".join(f"{i}\t{i * 1.25:.2f}".replace(".", ",") for i in range(30))
    ds = _load(text, name="r.tsv", label_column="ziel")
    r = ds.report
    assert ds.task == "regression" and r.format == "TSV" and (r.separator, r.decimal) == ("\t", ",")
    assert sorted(np.concatenate([ds.y, ds.y_test]).tolist())[:3] == [0.0, 1.25, 2.5]
    assert "fractional values (e.g. 1.25)" in r.task_reason


@pytest.mark.parametrize("quoted", [False, True])
def test_a_short_row_far_into_the_file_is_refused(quoted):
    q = '"' if quoted else ""
    rows = ["a,b,label"] + [f"{q}{i}{q},{i},{i % 2}" for i in range(2000)]
    rows[1500] = f"{q}7{q},7"
    with pytest.raises(ValueError, match=r"header has 3 field\(s\) but data row 1500 has 2 \('7', '7'\)"):
        _load("\n".join(rows))


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_windows_and_old_mac_line_ends(newline):
    rows = ["a;b;label"] + [f"{i},5;{i};{'ab'[i % 2]}" for i in range(600)]
    ds = _load(newline.join(rows))
    assert ds.report.rows_read == 600 and ds.report.separator == ";" and ds.report.decimal == ","
    assert _col(ds, "a").max() == np.float32(599.5)


def test_an_ignored_column_is_not_the_default_label():
    text = "a,b,label\n" + "\n".join(f"{i},{'xy'[i % 2]},{i}" for i in range(20))
    ds = _load(text, options=ReadOptions(roles=(("label", "ignored"),)))
    assert ds.report.label_column == "b" and ds.classes == ("x", "y") and ds.feature_names == ("a",)
