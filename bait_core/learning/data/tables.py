"""Tables: CSV / TSV (.csv .tsv .tab) and Parquet (.parquet .pq) → :class:`Dataset`.

Text files are decoded as :mod:`.table_text` describes (encoding, separator, decimal mark,
thousands grouping, inferred or taken from :class:`~bait_core.learning.reading.ReadOptions`);
every inference goes into the :class:`~bait_core.learning.reading.ReadingReport`. The label column
(:func:`default_label_column`, or a "label" role) is encoded by :func:`_table_labels`; features by
:func:`_encode_features`: numbers as float32 (standardised with pool statistics when ``standardize``),
text with ≤ MAX_CATEGORIES (50) distinct values one-hot, id-like columns ignored. Empty feature cells
follow ``options.missing_features`` (median of the pool, drop, refuse).  A split column
(:func:`_split_column`: the role 'split', or a column named split / set / subset whose cells are
test / train / pool / unlabeled / empty) supplies the test set: the rows marked 'test' (each labeled),
no random split; it is never a feature.

Limits: MAX_TABLE_CELLS (50 million encoded values), ``max_rows`` rows, MAX_CLASSES classes.
Errors: ``ValueError`` naming the file, the column and the row (with its line in a text file),
and the option or fix that resolves it: wider text columns, infinite or float32-overflowing values,
a numeric-looking column with stray text, a repeated label column name, too few labelled rows.
"""

from __future__ import annotations

import dataclasses
import io
import re
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.data.dataset import (Dataset, MAX_CLASSES, MAX_CLASSES_INFERRED, NUMERIC_LOOKING,
                                             _apply_typed, _class_name, _encode_classes, _extension, _finish,
                                             _found_classes, _row_ref, _split, _standardize,
                                             _supplied_split, _text_class_labels)
from bait_core.learning.reading import (SPLIT_NAMES, SPLIT_POOL, SPLIT_TEST, ColumnReading, ReadingReport,
                                        ReadOptions)


MAX_CATEGORIES = 50          # a text feature column with more distinct values is refused

TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".parquet", ".pq")
# A table's encoded features: rows × features (one-hot indicators included).  The table path holds
# several float64 working copies (missing values, split, standardisation, float32 checks) and
# measured ~28 bytes per value at its peak (16,000 rows × 3,000 one-hot features: 1.36 GB over the
# parsed CSV), so 50 million values keep it near 1.4 GB, like MAX_IMAGE_DATASET_BYTES (200,000 rows
# × 250 features, or 50,000 rows × 1,000).
MAX_TABLE_CELLS = 50_000_000
_LABEL_NAMES = ("label", "target", "class", "y")


def _read_table(raw: bytes, name: str, ext: str, *, max_rows: Optional[int], header_only: bool = False,
                options: Optional[ReadOptions] = None,
                report: Optional[ReadingReport] = None) -> tuple[pd.DataFrame, list[str]]:
    """CSV / TSV / Parquet bytes → (DataFrame with distinct string column names, the header's names as
    written).  Text files: every cell is stripped text, missing (NA) only when empty or one of
    ``options.na_values``; encoding, separator, decimal mark and thousands grouping are inferred (or
    taken from `options`) and recorded in `report` (see :mod:`bait_core.learning.data.table_text`)."""
    from bait_core.learning.data import table_text as T

    opts = options or ReadOptions()
    rep = report if report is not None else ReadingReport(file=name, format=_table_format(ext))
    if ext in (".parquet", ".pq"):
        import pyarrow.parquet as pq
        try:
            pf = pq.ParquetFile(io.BytesIO(raw))
            n_rows, source = pf.metadata.num_rows, [str(c) for c in pf.schema_arrow.names]
        except Exception as e:                      # pyarrow's own errors (ArrowInvalid, OSError)
            raise ValueError(f"could not read {_quote(name)} as Parquet: {e}") from None
        names = T.unique_names(source)
        if header_only:
            return pd.DataFrame(columns=names), source
        if max_rows is not None and n_rows > max_rows:
            raise ValueError(f"{_quote(name)} has {n_rows} rows; the limit is {max_rows}. "
                             f"Subsample the file.")
        try:
            table = pf.read()
            df = table.rename_columns(names).to_pandas()
        except Exception as e:
            raise ValueError(f"could not read {_quote(name)} as Parquet: {e}") from None
        df.columns = names
        tokens = set(opts.na_values)
        counts: dict[str, dict[str, int]] = {}
        for c in df.columns:                        # text columns follow the same missing-cell rule
            s = df[c]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                t = s.astype("string").str.strip()
                hit = t.isin(tokens)
                if tokens and hit.any():
                    counts[c] = {k: int(v) for k, v in t[hit].value_counts().items()}
                df[c] = t.mask((t == "") | hit)
        df.attrs["na_tokens"] = counts
        return df.reset_index(drop=True), source
    kind = ext[1:].upper()
    text = T.decode_text(raw, name, kind, opts, rep)
    if not text.strip():
        raise ValueError(f"{_quote(name)} is empty (no header line)")
    sep = T.sniff_separator(text, name, ext, opts, rep)
    source = T.header_names(text, sep)
    names = T.unique_names(source)
    if header_only:
        return pd.DataFrame(columns=names), source
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0, names=names, index_col=False, dtype=str,
                         na_filter=False, skip_blank_lines=True, quotechar='"',
                         nrows=None if max_rows is None else max_rows + 1)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{_quote(name)} is empty (no header line)") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise ValueError(f"could not parse {_quote(name)} as {kind} with the {T.sep_word(sep)} as separator: {e}. "
                         f"Check that line, or choose the separator.") from None
    if max_rows is not None and len(df) > max_rows:
        raise ValueError(f"{_quote(name)} has more than {max_rows} rows; the limit is {max_rows}. "
                         f"Subsample the file.")
    df, cells = _clean_cells(df, set(opts.na_values))
    keep = np.array([opts.role_of(c) != "ignored" for c in df.columns], dtype=bool)
    joined, bounds = _column_uniques(cells, len(df), keep)
    T.detect_locale_stacked(joined, bounds, [c for c, k in zip(df.columns, keep) if k], name, opts, rep)
    return df.reset_index(drop=True), source


def _stack(df: pd.DataFrame) -> pd.Series:
    """Every cell of `df` in one "string" Series, column after column (column j's cells at
    j·n … (j+1)·n − 1, n = len(df)); missing cells are NA.  A wide table is stacked through one
    object array (one pandas call instead of one per column), a narrow one by concatenation."""
    m = df.shape[1]
    if m > 64 and all(isinstance(d, pd.StringDtype) for d in df.dtypes):
        return pd.Series(df.to_numpy(dtype=object).ravel(order="F"), dtype="string")
    if m == 0:
        return pd.Series([], dtype="string")
    return pd.concat([df.iloc[:, j].astype("string") for j in range(m)], ignore_index=True)


def _clean_cells(df: pd.DataFrame, tokens: set[str]) -> tuple[pd.DataFrame, pd.Series]:
    """A text table's cells as read (str) → (the same frame with every cell stripped "string" text, NA
    where empty or one of `tokens`, ``attrs["na_tokens"]`` = {column: {token: count}} for the columns
    that had tokens; the cleaned cells stacked column after column, as :func:`_stack`).

    The strip / token / empty tests run once over all cells and are cut back into columns by offset
    (a 10,000-column file took ~2 ms a column done column by column)."""
    n, cols = len(df), list(df.columns)
    t = _stack(df).str.strip()
    hit = t.isin(tokens)
    cells = t.mask((t == "") | hit)
    counts: dict[str, dict[str, int]] = {}
    if tokens:
        hits = hit.to_numpy(dtype=bool)
        per_col = hits.reshape(len(cols), n).any(axis=1) if n else np.zeros(len(cols), bool)
        for j in np.flatnonzero(per_col):
            part = t.iloc[j * n:(j + 1) * n]
            counts[cols[j]] = {k: int(v) for k, v in part[hits[j * n:(j + 1) * n]].value_counts().items()}
    arr = cells.array
    out = pd.DataFrame({c: arr[j * n:(j + 1) * n] for j, c in enumerate(cols)}, index=df.index)
    out.columns = df.columns
    out.attrs["na_tokens"] = counts
    return out, cells


def _column_uniques(cells: pd.Series, n: int, keep: np.ndarray) -> tuple[pd.Series, np.ndarray]:
    """Stacked cells (:func:`_stack`, n rows) → (each kept column's distinct non-missing values in order of
    first appearance, stacked; (k + 1,) int offsets: kept column i's values at bounds[i]:bounds[i + 1])."""
    m = len(keep)
    if m <= 64:                                   # few columns: one hash table per column is cheaper
        parts = [cells.iloc[j * n:(j + 1) * n].dropna().unique() for j in np.flatnonzero(keep)]
        joined = pd.Series(np.concatenate([p.to_numpy(dtype=object) for p in parts]) if parts else [],
                           dtype="string")
        return joined, np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    col = np.repeat(np.arange(m), n)
    present = cells.notna().to_numpy(dtype=bool) & np.repeat(keep, n)
    vals = cells[present].reset_index(drop=True)
    col = col[present]
    codes, _ = pd.factorize(vals)
    key = col.astype(np.int64) * (int(codes.max()) + 1 if len(codes) else 1) + codes
    first = ~pd.Series(key).duplicated().to_numpy()
    joined = vals[first].reset_index(drop=True)
    kept_cols = np.flatnonzero(keep)
    bounds = np.searchsorted(col[first], kept_cols, side="left")
    bounds = np.r_[bounds, len(joined)].astype(np.int64)
    return joined, bounds


def _table_format(ext: str) -> str:
    return {".parquet": "Parquet", ".pq": "Parquet", ".tsv": "TSV", ".tab": "TSV"}.get(ext, "CSV")


# an id column's name: 'id', 'customer_id', 'order id', 'customerID' / 'customerId' (not 'paid', 'valid')
_ID_NAME = re.compile(r"^(?i:id|uuid|guid|key|index|row(?:[_\s]?(?:id|number|no|nr))?|.*[_\s.-]id)$|^.*[a-z](?:ID|Id)$")


def _numbers_only(text: str, decimal: str, thousands: str) -> bool:
    from bait_core.learning.data.table_text import parse_numbers
    return bool(parse_numbers(pd.Series([text.strip()], dtype="string"), decimal, thousands)[1].all())


def _rows_ref(rows: Sequence[int], text_file: bool, limit: int = 5) -> str:
    """'row 4 (line 5 of the file)' or 'rows 4, 9 and 12 (lines 5, 10 and 13 of the file)' (0-based in)."""
    rows = list(rows)
    if len(rows) == 1:
        return _row_ref(rows[0], text_file)
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    shown = rows[:limit]

    def join(v: list[str]) -> str:
        return ", ".join(v) + more if more else ", ".join(v[:-1]) + " and " + v[-1]
    out = "rows " + join([str(i + 1) for i in shown])
    return out + (" (lines " + join([str(i + 2) for i in shown]) + " of the file)" if text_file else "")


def _policy_phrase(policy: str) -> str:
    return {"median": "filled with the column's median (missing_features='median')",
            "drop": "dropped with their rows (missing_features='drop')",
            "refuse": "refused, as missing_features='refuse' is chosen; choose 'median' or 'drop' to accept "
                      "them"}[policy]


def _text_tokens_error(t: pd.Series, bad: np.ndarray, *, what: str, name: str, text_file: bool,
                       policy: str, label: bool = False) -> ValueError:
    """A numeric column with a few non-numeric cells: which texts, which rows, and what to do."""
    vals = t.to_numpy(dtype=object, na_value=None)
    by_token: dict[str, list[int]] = {}
    for i in np.flatnonzero(bad):
        by_token.setdefault(str(vals[i]), []).append(int(i))
    parts = []
    for tok, rows in list(by_token.items())[:3]:
        parts.append(f"{_rows_ref(rows, text_file)} {'has' if len(rows) == 1 else 'have'} the text {_quote(tok)}")
    if len(by_token) > 3:
        parts.append(f"{len(by_token) - 3} more distinct texts")
    toks = tuple(list(by_token)[:3])
    then = ("such rows then have no label" if label else f"such cells are then {_policy_phrase(policy)}")
    return ValueError(
        f"{_quote(name)}: {what} holds numbers but {'; '.join(parts)}. If {'that text means' if len(toks) == 1 else 'these texts mean'} "
        f"a missing value, add it to the missing-value tokens (ReadOptions(na_values={_quote(toks)})); {then}. "
        f"Otherwise fix or remove those values"
        + ("." if label else ", or give the column the role 'one-hot' to treat its values as categories."))


def _task_reason(num: np.ndarray) -> tuple[str, str]:
    """The stated rule for numeric labels (non-missing values): (task, reason)."""
    uniq = np.unique(num)
    whole = bool(np.all(uniq == np.round(uniq)))
    k = len(uniq)
    if whole:
        span = f"{_class_name(uniq[0])}..{_class_name(uniq[-1])}"
        if k <= MAX_CLASSES_INFERRED:
            return "classification", (f"numeric labels with {k} distinct whole values {span} → classification "
                                      f"(at most {MAX_CLASSES_INFERRED}); choose regression to override")
        return "regression", (f"numeric labels with {k} distinct whole values {span} → regression (more than "
                              f"{MAX_CLASSES_INFERRED}); choose classification to override")
    frac = next(v for v in uniq if v != round(v))
    return "regression", (f"numeric labels with fractional values (e.g. {_class_name(frac)}) → regression; "
                          f"choose classification to override")


def _table_labels(s: pd.Series, task: Optional[str], *, col: str, name: str, text_file: bool,
                  decimal: str, thousands: str, raw_missing: dict[str, int],
                  rep: ReadingReport, typed: Sequence[str] = ()) -> tuple[np.ndarray, list[str], str]:
    """Label column → (y (n,) int64 with -1 | float32 with NaN, class names, task); the task, its
    reason, the classes with counts (and the class list's source) and the rows without a label go to
    `rep`.  `typed` (a class list the user typed): classification; label values are matched by their
    class name text (:func:`_class_name`), classes found but not typed are appended; every row may
    be without a label."""
    from bait_core.learning.data.table_text import parse_numbers

    what = f"{_quote(name)}: label column {_quote(col)}"
    chosen = task is not None
    if typed:
        task = "classification"
    if not s.notna().any() and not typed:
        raise ValueError(f"{what} is empty in every row; choose the column that holds the labels, or type the "
                         f"class list (Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label the rows yourself (in the app or with the CLI's next).")
    num: Optional[np.ndarray] = None
    text: Optional[pd.Series] = None
    reason = ""
    if pd.api.types.is_bool_dtype(s):
        present = s.notna().to_numpy()
        if task == "regression":
            num = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            text = s.map(lambda v: str(bool(v)), na_action="ignore").astype("string")
            reason = "true/false labels → classification"
    elif pd.api.types.is_numeric_dtype(s):
        num = s.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(num)
    else:
        t = s.astype("string")
        present = t.notna().to_numpy()
        vals, ok = parse_numbers(t, decimal, thousands)
        bad = present & ~ok
        if not bad.any() and present.any():
            num = vals
        elif present.any() and ok[present].mean() >= NUMERIC_LOOKING and task != "classification":
            raise _text_tokens_error(t, bad, what=f"label column {_quote(col)}", name=name, text_file=text_file,
                                     policy="median", label=True)
        else:
            text = t
            reason = "text labels → classification"
    if num is not None:
        if np.isinf(num).any():
            i = int(np.flatnonzero(np.isinf(num))[0])
            raise ValueError(f"{what} has an infinite value at {_row_ref(i, text_file)}; labels must be finite "
                             f"numbers or class names.")
        if not present.any() and not typed:
            raise ValueError(f"{what} has no values: every row is without a label. Type the class list "
                             f"(Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label the rows yourself (in the app or with the CLI's next).")
        inferred_task, reason = _task_reason(num[present]) if present.any() else ("classification", "")
        task = task or inferred_task
        if typed:
            codes, found = _found_classes(num[present])
            y = np.full(len(s), -1, np.int64)
            y[present] = codes
            y, classes = _apply_typed(y, found, typed, rep, what=what)
        elif task == "regression":
            with np.errstate(over="ignore", invalid="ignore"):
                y = num.astype(np.float32)
            if np.isinf(y).any():
                i = int(np.flatnonzero(np.isinf(y))[0])
                raise ValueError(f"{what} has the value {num[i]:g} at {_row_ref(i, text_file)}, beyond the range "
                                 f"of 32-bit floats (±3.4e38); rescale the target.")
            if np.ptp(num[present]) == 0:
                raise ValueError(f"{what} has the same value in every labeled row; nothing to predict.")
            classes: list[str] = []
        else:
            codes, classes = _encode_classes(num[present], what=what)
            y = np.full(len(s), -1, np.int64)
            y[present] = codes
    else:
        assert text is not None
        if task == "regression":
            i = int(np.flatnonzero(present & ~parse_numbers(text, decimal, thousands)[1])[0])
            raise ValueError(f"{what} must hold numbers for regression, but "
                             f"{_row_ref(i, text_file)} has {_quote(text.iloc[i])}")
        task = "classification"
        if typed:
            codes, found = _found_classes(text.to_numpy(dtype=object, na_value=None)[present].astype(str))
            y = np.full(len(s), -1, np.int64)
            y[present] = codes
            y, classes = _apply_typed(y, found, typed, rep, what=what)
        else:
            y, classes = _text_class_labels(text, present, what)
    rep.label_column, rep.task = col, task
    if typed:
        rep.task_reason = ("a class list was typed → classification"
                           + (f" (the rule alone: {reason})" if reason and present.any() else ""))
    else:
        rep.task_reason = f"chosen; the rule alone: {reason}" if chosen else reason
        if task == "classification":
            rep.classes_source = "from the labeled rows"
    if task == "classification":
        counts = np.bincount(y[y >= 0], minlength=len(classes))
        rep.classes = {c: int(n) for c, n in zip(classes, counts)}
    n_missing = int((~present).sum())
    rep.rows_without_label = n_missing
    if n_missing:
        parts = []
        n_empty = n_missing - sum(raw_missing.values())
        if n_empty:
            parts.append(f"{n_empty} empty label cell{'s' if n_empty != 1 else ''}")
        parts += [f"{n} cell{'s' if n != 1 else ''} with the missing-value token {_quote(tok)} you chose"
                  for tok, n in raw_missing.items() if n]
        rep.unlabeled_reason = "; ".join(parts)
    return y, classes, task


def _encode_features(df: pd.DataFrame, *, name: str, text_file: bool, decimal: str = ".",
                     thousands: str = "", options: Optional[ReadOptions] = None,
                     rep: Optional[ReadingReport] = None
                     ) -> tuple[np.ndarray, list[str], np.ndarray, list[tuple[str, str, list[int]]]]:
    """Feature columns → (X (n, F) float64 with NaN for empty cells, feature names, (F,) bool mask of
    numeric columns (standardised), groups (source column, kind, its feature indices)).

    Numbers stay numbers (decimal mark / grouping as detected); bool columns become 0/1; text columns
    with ≤ 50 distinct values are one-hot encoded as "col=value" (an empty cell is NaN in every
    indicator until the missing-feature policy is applied); an obvious id column (a name like 'id',
    every value distinct text) is ignored and said so; other wider text columns are refused.
    Roles in `options` force numeric / one-hot / ignored.  Each column's reading goes to `rep`.
    """
    from bait_core.learning.data import table_text as T

    opts = options or ReadOptions()
    blocks: list[np.ndarray] = []
    names: list[str] = []
    numeric: list[bool] = []
    groups: list[tuple[str, str, list[int]]] = []
    readings: list[ColumnReading] = []
    too_wide: list[str] = []
    hints: list[str] = []

    def add(col: str, block: Any, fnames: list[str], is_num: bool, kind: str, detail: str,
            chosen: bool) -> None:
        """block: an (n, 1) float column, or (codes, present) of a one-hot column, built later."""
        start = len(names)
        blocks.append(block)
        names.extend(fnames)
        numeric.extend([is_num] * len(fnames))
        groups.append((col, kind, list(range(start, start + len(fnames)))))
        readings.append(ColumnReading(col, "numeric" if kind in ("numeric", "bool") else "one-hot", detail,
                                      inferred=not chosen))

    # the text columns that may hold numbers, parsed at once (one parse per column took ~2 ms: minutes
    # for a 10,000-column table) and cut back by offset: column j's cells at start[j] … start[j] + n - 1
    n_rows = len(df)
    dtypes = list(df.dtypes)
    roles = [opts.role_of(c) for c in df.columns]
    text_cols = [j for j, (d, r) in enumerate(zip(dtypes, roles))
                 if r not in ("ignored", "one-hot") and not pd.api.types.is_bool_dtype(d)
                 and not pd.api.types.is_numeric_dtype(d)]
    start = {j: k * n_rows for k, j in enumerate(text_cols)}
    cells = _stack(df.iloc[:, text_cols])
    all_present = cells.notna().to_numpy(dtype=bool)
    all_vals, all_ok = (T.parse_numbers(cells, decimal, thousands) if text_cols
                        else (np.zeros(0), np.zeros(0, bool)))

    for j, col in enumerate(df.columns):
        role = roles[j]
        chosen = role is not None
        if role == "ignored":
            readings.append(ColumnReading(col, "ignored", "", inferred=False))
            continue
        if j in start:
            a = start[j]
            present, vals, ok = (all_present[a:a + n_rows], all_vals[a:a + n_rows], all_ok[a:a + n_rows])
            bad = present & ~ok
            if not present.any():
                readings.append(ColumnReading(col, "ignored", "every cell is empty"))
                if rep is not None:
                    rep.warn(f"{_quote(name)}: column {_quote(col)} has no values; it is ignored.")
                continue
            if not bad.any() or role == "numeric" or ok[present].mean() >= NUMERIC_LOOKING:
                if bad.any():
                    raise _text_tokens_error(df.iloc[:, j].astype("string"), bad, what=f"column {_quote(col)}",
                                             name=name, text_file=text_file, policy=opts.missing_features)
                if np.isinf(vals).any():
                    _refuse_infinite(vals, df.iloc[:, j].astype("string"), col=col, name=name,
                                     text_file=text_file, policy=opts.missing_features)
                add(col, vals[:, None], [col], True, "numeric", "numeric", chosen)
                continue
        s = df.iloc[:, j]
        present = s.notna().to_numpy()
        if not present.any():
            readings.append(ColumnReading(col, "ignored", "every cell is empty"))
            if rep is not None:
                rep.warn(f"{_quote(name)}: column {_quote(col)} has no values; it is ignored.")
            continue
        if pd.api.types.is_bool_dtype(s) and role != "one-hot":
            add(col, s.to_numpy(dtype=np.float64, na_value=np.nan)[:, None], [col], False, "bool",
                "true/false as 1/0", chosen)
            continue
        if pd.api.types.is_numeric_dtype(s) and role != "one-hot":
            vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
            _refuse_infinite(vals, s, col=col, name=name, text_file=text_file, policy=opts.missing_features)
            add(col, vals[:, None], [col], True, "numeric", "numeric", chosen)
            continue
        t = s.astype("string")
        if role != "one-hot" and j not in start:
            vals, ok = T.parse_numbers(t, decimal, thousands)
            bad = present & ~ok
            if not bad.any() or role == "numeric" or ok[present].mean() >= NUMERIC_LOOKING:
                if bad.any():
                    raise _text_tokens_error(t, bad, what=f"column {_quote(col)}", name=name, text_file=text_file,
                                             policy=opts.missing_features)
                _refuse_infinite(vals, t, col=col, name=name, text_file=text_file, policy=opts.missing_features)
                add(col, vals[:, None], [col], True, "numeric", "numeric", chosen)
                continue
        n_distinct = int(t.nunique(dropna=True))
        limit = MAX_CLASSES if role == "one-hot" else MAX_CATEGORIES
        if n_distinct > limit:
            if (role is None and present.all() and n_distinct == len(t) and _ID_NAME.match(col)):
                readings.append(ColumnReading(col, "ignored", f"an id column (all {n_distinct} values distinct text)"))
                continue
            too_wide.append(f"{_quote(col)} ({n_distinct} distinct values)")
            pair = T.looks_numeric_with(pd.Series(t.dropna().unique(), dtype="string"), opts)
            if pair is not None:
                hints.append(f"column {_quote(col)} reads as numbers with decimal={_quote(pair[0])} and thousands={_quote(pair[1])}")
            continue
        cat = pd.Categorical(t)                       # sorted categories, as get_dummies; empty → code -1
        add(col, (np.asarray(cat.codes), present), [f"{col}={c}" for c in cat.categories], False, "one-hot",
            f"one-hot, {len(cat.categories)} categories", chosen)
    if too_wide:
        hint = (" (" + "; ".join(hints) + ": choose that decimal mark and thousands separator)") if hints else ""
        raise ValueError(
            f"{_quote(name)}: text columns {', '.join(too_wide)} have more than {MAX_CATEGORIES} distinct "
            f"values and cannot be one-hot encoded{hint}. Give them the role 'ignored' (e.g. an id or "
            f"free-text column), or turn them into numbers.")
    if rep is not None:
        rep.columns.extend(readings)
    if not blocks:
        raise ValueError(f"{_quote(name)} has no feature columns besides the label")
    n, width = len(df), len(names)
    if n * width > MAX_TABLE_CELLS:
        widest = sorted(groups, key=lambda g: -len(g[2]))[:5]
        raise ValueError(
            f"{_quote(name)}: its {n:,} rows would encode to {width:,} features ({n * width / 1e6:,.0f} million "
            f"values); the limit is {MAX_TABLE_CELLS / 1e6:,.0f} million (rows × features). The widest columns "
            f"are {', '.join(f'{_quote(c)} ({len(idx)} features)' for c, _, idx in widest)}: give some "
            f"text columns the role 'ignored', or use fewer rows.")
    X = np.empty((n, width), dtype=np.float64)                                  # (n, F), filled in place
    rows = np.arange(n)
    for (col, kind, idx), block in zip(groups, blocks):
        if kind == "one-hot":
            codes, present = block
            part = X[:, idx[0]:idx[-1] + 1]
            part[:] = 0.0
            part[rows[present], codes[present]] = 1.0
            part[~present] = np.nan
        else:
            X[:, idx[0]] = block[:, 0]
    return X, names, np.asarray(numeric, bool), groups


def _refuse_infinite(vals: np.ndarray, t: pd.Series, *, col: str, name: str, text_file: bool,
                     policy: str = "median") -> None:
    """Infinite numbers ('inf' text, or beyond float64 such as 1e999) refused, naming the column and row."""
    inf = np.isinf(vals)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise ValueError(f"{_quote(name)}: column {_quote(col)} holds an infinite value ({_quote(str(t.iloc[i]))} at "
                         f"{_row_ref(i, text_file)}{f' and {int(inf.sum()) - 1} more' if inf.sum() > 1 else ''}); "
                         f"features must be finite numbers. Replace it, or empty the cell to mark it missing (empty cells are "
                         f"{_policy_phrase(policy)}).")


def _check_range(X: np.ndarray, names: Sequence[str], *, name: str, stage: str) -> None:
    """After the float32 cast / standardisation: every feature finite, naming the first bad column."""
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(f"{_quote(name)}: column {_quote(names[j])} {stage}; rescale that column (e.g. smaller units or "
                         f"a logarithm) or give it the role 'ignored'.")


def _missing_features(X: np.ndarray, y: np.ndarray, names: list[str],
                      groups: list[tuple[str, str, list[int]]], *, name: str, text_file: bool,
                      policy: str, rep: ReadingReport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the missing-feature policy before the split: 'refuse' raises, 'drop' drops the rows
    (stated in `rep`); returns (X, y, kept row indices)."""
    miss = np.isnan(X)
    rows = np.flatnonzero(miss.any(axis=1))
    keep = np.arange(len(X))
    if not len(rows):
        return X, y, keep
    per_col = [(col, int(miss[:, idx].any(axis=1).sum())) for col, _, idx in groups]
    where = ", ".join(f"{_quote(c)} ({n})" for c, n in per_col if n)
    n_cells = sum(n for _, n in per_col)
    if policy == "refuse":
        raise ValueError(f"{_quote(name)}: {n_cells} feature cell(s) are empty, in columns {where} (first at "
                         f"{_row_ref(int(rows[0]), text_file)}), and missing_features='refuse' is chosen. "
                         f"Fill them, or choose missing_features='median' (fill each with its column's "
                         f"median) or 'drop' (drop those rows).")
    if policy == "drop":
        keep = np.flatnonzero(~miss.any(axis=1))
        rep.rows_dropped.append((len(rows), f"an empty feature cell in columns {where} (missing_features='drop')"))
        return X[keep], y[keep], keep
    return X, y, keep


def _fill_medians(X: np.ndarray, pool: np.ndarray, groups: list[tuple[str, str, list[int]]],
                  rep: ReadingReport, policy: str) -> np.ndarray:
    """'median': empty numeric cells get the pool column's median, empty one-hot cells all zeros;
    each column's reading says how many cells and with what.  X is filled in place (the table loader's
    own array)."""
    details = {}
    for col, kind, idx in groups:
        miss = np.isnan(X[:, idx]).any(axis=1)
        n = int(miss.sum())
        if kind == "one-hot":
            if n:
                X[np.ix_(miss, idx)] = 0.0
                details[col] = f"{n} empty → all zeros"
            continue
        j = idx[0]
        if n:
            ref = X[pool, j]
            ref = ref[~np.isnan(ref)]
            if not len(ref):
                ref = X[~miss, j]
            med = float(np.median(ref))
            X[miss, j] = med
            details[col] = f"{n} empty → median {med:.6g}"
    if details:
        rep.columns = [dataclasses.replace(c, detail=f"{c.detail}, {details[c.name]}") if c.name in details else c
                       for c in rep.columns]
    return X


def _split_cells(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A split column → (its cells lower-cased and stripped, "" where empty (n,) object; the cells as
    written, stripped (n,) object)."""
    t = s.astype("string").str.strip()
    written = t.fillna("").to_numpy(dtype=object)
    return t.str.lower().fillna("").to_numpy(dtype=object), written


def _split_column(df: pd.DataFrame, cols: Sequence[str], label_column: Optional[str], opts: ReadOptions, *,
                  name: str, rep: ReadingReport) -> tuple[Optional[str], Optional[np.ndarray], bool]:
    """The column that marks the supplied test set → (its name, (n,) bool: the row is marked test, chosen);
    (None, None, False) when there is none.

    Chosen with the role 'split'; else inferred: a column named 'split', 'set' or 'subset' (any case,
    spaces stripped) without a role, not the label, whose non-empty cells are all SPLIT_TEST / SPLIT_POOL
    words (any case).  A chosen column with other values is refused; so is an inferred one that mixes
    those words with others.  An inferred one with none of those words stays a feature (with a warning)."""
    known = set(SPLIT_TEST) | set(SPLIT_POOL)
    forced = [c for c, r in opts.roles if r == "split"]
    if forced:
        col = forced[0]
        if label_column is not None and col == label_column:
            raise ValueError(f"{_quote(name)}: column {_quote(col)} cannot be both the label and the split (the "
                             f"column that marks the test set); choose another column for one of them.")
        candidates = [col]
    else:
        candidates = [c for c in cols if c.strip().lower() in SPLIT_NAMES and opts.role_of(c) is None
                      and c != label_column]
    found: list[tuple[str, np.ndarray]] = []
    for col in candidates:
        low, written = _split_cells(df[col])
        present = low != ""
        other = present & ~np.isin(low, list(known))
        if not present.any() and not forced:
            continue                                   # an empty column: the feature encoder ignores it
        if other.any():
            vals: dict[str, int] = {}
            for v in written[other]:
                vals[v] = vals.get(v, 0) + 1
            shown = ", ".join(f"{_quote(v)} ({k})" for v, k in list(vals.items())[:5])
            shown += f" and {len(vals) - 5} more" if len(vals) > 5 else ""
            words = "'test' for a test row and 'train', 'pool', 'unlabeled' or nothing for a pool row (any case)"
            if forced or (present & ~other).any():
                how = "is given the role 'split'" if forced else "is named like a test-set marker and uses its words"
                raise ValueError(f"{_quote(name)}: column {_quote(col)} {how}, but has other values: {shown}. Write "
                                 f"{words}, or give the column another role ('ignored', 'one-hot' or 'numeric') so "
                                 f"it does not mark the test set.")
            rep.warn(f"{_quote(name)}: column {_quote(col)} is named like a test-set marker but its values ({shown}) "
                     f"are not {words}; it was not used as the test marker and is read as a feature. To supply a "
                     f"test set, write those words in it (or give another column the role 'split').")
            continue
        found.append((col, low == SPLIT_TEST[0]))
    if len(found) > 1:
        raise ValueError(f"{_quote(name)}: columns {', '.join(_quote(c) for c, _ in found)} could each mark the test "
                         f"set; give one the role 'split' and the others the role 'ignored' (or 'one-hot').")
    if not found:
        return None, None, False
    return found[0][0], found[0][1], bool(forced)


def _load_table(raw: bytes, name: str, ext: str, *, label_column: Optional[str],
                task: Optional[str], seed: int, test_fraction: float, max_rows: int,
                standardize: bool, options: Optional[ReadOptions] = None) -> Dataset:
    """CSV / TSV / Parquet → Dataset (see :func:`load_file`); `dataset.report` states every inference."""
    opts = options or ReadOptions()
    label_given = label_column is not None
    rep = ReadingReport(file=name, format=_table_format(ext))
    df, source = _read_table(raw, name, ext, max_rows=max_rows, options=opts, report=rep)
    text_file = ext not in (".parquet", ".pq")
    cols = list(df.columns)
    rep.rows_read = len(df)
    if len(df) == 0:
        raise ValueError(f"{_quote(name)} has a header but no data rows")
    unknown = [c for c, _ in opts.roles if c not in cols]
    if unknown:
        raise ValueError(f"{_quote(name)} has no column {', '.join(repr(c) for c in unknown)} (given a role); the "
                         f"columns are: {', '.join(repr(c) for c in cols)}")
    forced = [c for c, r in opts.roles if r == "label"]
    if forced:
        label_column = forced[0]
    split_col, is_test, split_chosen = _split_column(df, cols, label_column, opts, name=name, rep=rep)
    if label_column is None and opts.classes and not any(
            c.strip().lower() in _LABEL_NAMES for c in cols if c != split_col and opts.role_of(c) != "ignored"):
        # a typed class list and no column named like a label: a file of features only, every row unlabeled
        label_column = _free_name("label", cols)
        df[label_column] = pd.Series([pd.NA] * len(df), dtype="string", index=df.index)
        cols, source = list(df.columns), [*source, label_column]
        rep.warn(f"{_quote(name)} has no column named like a label ({', '.join(_LABEL_NAMES)}) and a class list is "
                 f"typed: it is read as features only, every row without a label (to use one of its columns as the "
                 f"label, choose it as the label column).")
    if label_column is None:                        # an ignored or split column is never the default label
        label_column = default_label_column([c for c in cols if opts.role_of(c) != "ignored" and c != split_col]
                                            or cols)
    if label_column not in cols:
        raise ValueError(f"{_quote(name)} has no column {_quote(label_column)}; the columns are: "
                         f"{', '.join(repr(c) for c in cols)}")
    if len(cols) < 2 + (split_col is not None):
        hint = " (is the separator right?)" if any(c in cols[0] for c in ",;\t|") else ""
        raise ValueError(f"{_quote(name)} has only the column{'s' if len(cols) > 1 else ''} "
                         f"{', '.join(_quote(c) for c in cols)}{hint}; it needs feature columns and a label column")
    # duplicated header names: a copy of the label must never become a feature
    j = cols.index(label_column)
    same = [k for k, s in enumerate(source) if s == source[j]]
    if len(same) > 1:
        raise ValueError(f"{_quote(name)}: the {'header' if text_file else 'schema'} names the label column "
                         f"{_quote(source[j])} {len(same)} times "
                         f"(columns {', '.join(str(k + 1) for k in same)}); a second copy would become a "
                         f"feature and give the label away. Rename or remove the duplicate column.")
    seen: dict[str, list[int]] = {}
    for k, s in enumerate(source):
        seen.setdefault(s, []).append(k)
    for s, ks in seen.items():
        if len(ks) > 1:
            rep.warn(f"{_quote(name)}: the {'header' if text_file else 'schema'} has the column name {_quote(s)} "
                     f"{len(ks)} times; they are kept as "
                     f"{', '.join(repr(cols[k]) for k in ks)}. Rename them in the file to choose the names.")
    if text_file and rep.decimal is not None and all(
            _numbers_only(s, rep.decimal, rep.thousands or "") for s in source):
        rep.warn(f"{_quote(name)}: every name in the first line is a number ({', '.join(source[:4])}"
                 f"{', …' if len(source) > 4 else ''}); the first line is read as the header, not as data. "
                 f"Add a header line if it is data.")
    rep.inferred["task"] = task is None
    lab = df[label_column]
    for c in cols:
        if c != label_column and c != split_col and opts.role_of(c) != "ignored" and (
                c.strip().lower() == label_column.strip().lower() or df[c].equals(lab)):
            rep.warn(f"{_quote(name)}: column {_quote(c)} {'has the same values as' if df[c].equals(lab) else 'is named like'} "
                     f"the label column {_quote(label_column)}; as a feature it may give the label away. Give it the "
                     f"role 'ignored' if it is a copy of the label.")
    raw_missing = dict(df.attrs.get("na_tokens", {}).get(label_column, {}))
    typed = opts.classes
    if typed and task == "regression":
        raise ValueError(f"{_quote(name)}: a class list was typed, so the task is classification; clear the class "
                         f"list or choose classification.")
    y, classes, task = _table_labels(lab, task, col=label_column, name=name, text_file=text_file,
                                     decimal=rep.decimal or ".", thousands=rep.thousands or "",
                                     raw_missing=raw_missing, rep=rep, typed=typed)
    label_reading = ColumnReading(label_column, "label",
                                  f"{len(classes)} classes" if task == "classification" else "numeric target",
                                  inferred=not forced and not label_given)
    feats = [c for c in cols if c != label_column and c != split_col]
    X, feat_names, numeric, groups = _encode_features(df[feats], name=name, text_file=text_file,
                                                      decimal=rep.decimal or ".", thousands=rep.thousands or "",
                                                      options=opts, rep=rep)
    rep.columns.insert(0, label_reading)
    if split_col is not None:
        assert is_test is not None
        lab_all = y >= 0 if task == "classification" else ~np.isnan(y)
        bad = np.flatnonzero(is_test & ~lab_all)
        if len(bad):
            raise ValueError(f"{_quote(name)}: {_rows_ref(bad, text_file)} {'is' if len(bad) == 1 else 'are'} marked "
                             f"'test' in column {_quote(split_col)} but {'has' if len(bad) == 1 else 'have'} no label "
                             f"in {_quote(label_column)}; every test row needs one. Label "
                             f"{'it' if len(bad) == 1 else 'them'}, or mark {'it' if len(bad) == 1 else 'them'} "
                             f"'train' to put {'it' if len(bad) == 1 else 'them'} in the pool.")
    order = {c: k for k, c in enumerate(cols)}
    rep.columns.sort(key=lambda c: order.get(c.name, 0))
    X, y, kept = _missing_features(X, y, feat_names, groups, name=name, text_file=text_file,
                                   policy=opts.missing_features, rep=rep)
    labeled = y >= 0 if task == "classification" else ~np.isnan(y)
    if len(kept) < len(df):                         # the report counts the rows that were kept
        if task == "classification":
            counts = np.bincount(y[labeled], minlength=len(classes))
            rep.classes = {c: int(n) for c, n in zip(classes, counts)}
        if rep.rows_without_label and int((~labeled).sum()) != rep.rows_without_label:
            rep.unlabeled_reason += f" (of {rep.rows_without_label} before rows were dropped)"
        rep.rows_without_label = int((~labeled).sum())
    if split_col is None:
        pool, test = _split(y, labeled, task=task, classes=classes, test_fraction=test_fraction,
                            seed=seed, what=repr(name), report=rep, no_test_ok=bool(typed))
    else:                                           # the test set the file supplies: no random split
        assert is_test is not None
        marked = is_test[kept]
        if is_test.any() and not marked.any():
            raise ValueError(f"{_quote(name)}: every row marked 'test' in column {_quote(split_col)} was dropped for "
                             f"an empty feature cell (missing_features='drop'); fill those cells or choose "
                             f"missing_features='median'.")
        marker = f"column {_quote(split_col)}"
        pool, test = _supplied_split(marked, labeled, what=_quote(name), unit="rows", marker=marker,
                                     typed=bool(typed))
        rep.columns = [ColumnReading(split_col, "split", f"{len(test)} test rows (supplied)", inferred=not split_chosen)
                       if c.name == split_col else c for c in rep.columns]
        if not any(c.name == split_col for c in rep.columns):
            rep.columns.append(ColumnReading(split_col, "split", f"{len(test)} test rows (supplied)",
                                             inferred=not split_chosen))
            rep.columns.sort(key=lambda c: order.get(c.name, 0))
        rep.test_source = (f"supplied: the rows marked 'test' in column {_quote(split_col)} ({len(test)} rows); "
                           f"no random split, so test_fraction is not used")
    X = _fill_medians(X, pool, groups, rep, opts.missing_features)
    Xp, Xt = X[pool], X[test]
    if standardize:
        with np.errstate(over="ignore", invalid="ignore"):
            (Xp, Xt), mean, std = _standardize(Xp, Xt, cols=numeric)
        for j in np.flatnonzero(numeric & ~(np.isfinite(mean) & np.isfinite(std))):
            raise ValueError(f"{_quote(name)}: column {_quote(feat_names[j])} has values too large to standardise (its "
                             f"spread overflows 64-bit floats); rescale that column (e.g. smaller units or a "
                             f"logarithm) or give it the role 'ignored'.")
        _check_range(np.concatenate([Xp, Xt]), feat_names, name=name,
                     stage="overflows when standardised")
    else:
        both = np.concatenate([Xp, Xt])
        with np.errstate(over="ignore", invalid="ignore"):
            both32 = both.astype(np.float32)
        _check_range(both32, feat_names, name=name,
                     stage="holds values beyond the range of 32-bit floats (±3.4e38) the model computes in")
        big = np.abs(both[:, numeric]).max(axis=0, initial=0) if numeric.any() else np.zeros(0)
        for j, v in zip(np.flatnonzero(numeric), big):
            if v > 1.8e19:
                raise ValueError(f"{_quote(name)}: column {_quote(feat_names[j])} holds values up to {v:.3g}; without "
                                 f"standardisation their squares overflow the 32-bit floats the model computes "
                                 f"in. Load with standardisation, or rescale that column.")
    with np.errstate(over="ignore", invalid="ignore"):
        Xp32, Xt32 = Xp.astype(np.float32), Xt.astype(np.float32)
    _check_range(np.concatenate([Xp32, Xt32]), feat_names, name=name,
                 stage=("holds values that, standardised with the pool's mean and spread, are beyond the "
                        "range of 32-bit floats (±3.4e38) the model computes in") if standardize else
                 "holds values beyond the range of 32-bit floats (±3.4e38) the model computes in")
    return _finish(name=name, source=f"file:{name}", task=task, X=Xp32, y=y[pool], X_test=Xt32,
                   y_test=y[test], classes=classes, feature_names=feat_names, report=rep,
                   point_ids=[str(int(r)) for r in kept[pool]])


def table_rows(raw: bytes, name: str, rows: Sequence[int], *, options: Optional[ReadOptions] = None,
               drop: Sequence[str] = ()) -> pd.DataFrame:
    """Data rows `rows` of a table file as the file has them (the text cells, before one-hot encoding,
    median filling or standardising; columns named as in the reading report), for a person to judge:
    `rows` are 0-based data rows, header excluded (a table's ``Dataset.point_ids``); `drop` names columns
    to leave out (the label). Reads with the same inference and `options` as ``load_file``; ValueError
    with a sentence for a row that is not in the file."""
    ext = _extension(name)
    df, _ = _read_table(raw, name, ext, max_rows=None, options=options or ReadOptions())
    rows = [int(r) for r in rows]
    bad = [r for r in rows if not 0 <= r < len(df)]
    if bad:
        raise ValueError(f"{_quote(name)} has {len(df):,} data rows; row {bad[0]} is not one of them.")
    return df.drop(columns=[c for c in drop if c in df.columns]).iloc[rows].reset_index(drop=True)


def _free_name(base: str, columns: Sequence[str]) -> str:
    """`base`, or `base (2)`, `base (3)`, … : a column name not among `columns`."""
    name, k = base, 2
    while name in columns:
        name, k = f"{base} ({k})", k + 1
    return name


def default_label_column(columns: Sequence[str]) -> str:
    """'label', 'target', 'class' or 'y' (case- and space-insensitive, in that order), else the last."""
    cols = [str(c) for c in columns]
    if not cols:
        raise ValueError("the table has no columns")
    lowered = {c.strip().lower(): c for c in reversed(cols)}       # first occurrence wins
    for cand in _LABEL_NAMES:
        if cand in lowered:
            return lowered[cand]
    return cols[-1]
