"""The table reader's per-column reference: the text path of ``_read_table`` and ``_encode_features`` as
they were before the cells were processed at once (commit ef19c44), kept verbatim so that
tests/test_wide_tables.py can check that the stacked fast path gives the same frame, NA-token counts,
report, encoding, readings, warnings and refusals.  Not used by the library."""

from __future__ import annotations

import io
from typing import Any, Optional

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.data import table_text as T
from bait_core.learning.data.dataset import MAX_CLASSES, NUMERIC_LOOKING
from bait_core.learning.data.tables import (MAX_CATEGORIES, MAX_TABLE_CELLS, _ID_NAME, _refuse_infinite,
                                            _table_format, _text_tokens_error)
from bait_core.learning.reading import ColumnReading, ReadingReport, ReadOptions


def read_table_text(raw: bytes, name: str, ext: str, *, max_rows: Optional[int] = None,
                    options: Optional[ReadOptions] = None,
                    report: Optional[ReadingReport] = None) -> tuple[pd.DataFrame, list[str]]:
    """The text branch of ``tables._read_table`` at ef19c44 (one pandas pass per column)."""
    opts = options or ReadOptions()
    rep = report if report is not None else ReadingReport(file=name, format=_table_format(ext))
    kind = ext[1:].upper()
    text = T.decode_text(raw, name, kind, opts, rep)
    if not text.strip():
        raise ValueError(f"{_quote(name)} is empty (no header line)")
    sep = T.sniff_separator(text, name, ext, opts, rep)
    source = T.header_names(text, sep)
    names = T.unique_names(source)
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
    tokens = set(opts.na_values)
    counts: dict[str, dict[str, int]] = {}
    for c in df.columns:
        t = df[c].astype("string").str.strip()
        hit = t.isin(tokens)
        if tokens and hit.any():
            counts[c] = {k: int(v) for k, v in t[hit].value_counts().items()}
        df[c] = t.mask((t == "") | hit)
    df.attrs["na_tokens"] = counts
    uniques = {c: pd.Series(df[c].dropna().unique(), dtype="string") for c in df.columns
               if opts.role_of(c) != "ignored"}
    detect_locale(uniques, name, opts, rep)
    return df.reset_index(drop=True), source


def encode_features(df: pd.DataFrame, *, name: str, text_file: bool, decimal: str = ".",
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

    for col in df.columns:
        s = df[col]
        role = opts.role_of(col)
        chosen = role is not None
        if role == "ignored":
            readings.append(ColumnReading(col, "ignored", "", inferred=False))
            continue
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
        if role != "one-hot":
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


def detect_locale(uniques: dict[str, pd.Series], name: str, options: ReadOptions,
                  rep: ReadingReport) -> tuple[str, str]:
    """Choose (decimal, thousands) from each text column's distinct stripped non-empty values."""
    pairs = T._pairs(options)
    uniques = {c: T._informative(u) for c, u in uniques.items()}
    if not pairs:
        raise ValueError(f"{_quote(name)}: the decimal mark {_quote(options.decimal)} and the thousands separator "
                         f"{_quote(options.thousands)} you chose cannot be used together.")
    # every column's values in one series, parsed once per pair (a wide table has thousands of columns:
    # one parse per column and pair took minutes at 10,000 columns), then cut back into columns
    cols = [(c, u) for c, u in uniques.items() if len(u)]
    joined = pd.concat([u for _, u in cols], ignore_index=True) if cols else pd.Series([], dtype="string")
    bounds = np.cumsum([0] + [len(u) for _, u in cols])
    scored = []
    for p in pairs:
        full, cells, parsed = 0, 0, {}
        vals_all, ok_all = T.parse_numbers(joined, *p)
        for i, (col, _) in enumerate(cols):
            ok = ok_all[bounds[i]:bounds[i + 1]]
            cells += int(ok.sum())
            if ok.all():
                full += 1
                parsed[col] = vals_all[bounds[i]:bounds[i + 1]]
        scored.append(((full, cells), p, parsed))
    best = max(s for s, _, _ in scored)
    tied = [(p, parsed) for s, p, parsed in scored if s == best]
    chosen, ref = tied[0]
    for p, parsed in tied[1:]:
        for col in sorted(set(ref) | set(parsed)):
            a, b = ref.get(col), parsed.get(col)
            if a is None or b is None or not np.array_equal(a, b, equal_nan=True):
                u = uniques[col]
                if a is not None and b is not None:
                    i = int(np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))[0])
                    ex = f"values such as {_quote(u.iloc[i])} read as {a[i]:g} or as {b[i]:g}"
                else:
                    ex = "its values read as numbers either way"
                raise ValueError(
                    f"{_quote(name)}: the decimal mark is ambiguous in column {_quote(col)}: {ex}. The file fits both "
                    f"{T._show_pair(chosen)} and {T._show_pair(p)}; choose the decimal mark and thousands "
                    f"separator (ReadOptions(decimal=..., thousands=...)) to read it.")
    d, t = chosen
    rep.decimal, rep.thousands = d, t
    rep.inferred["decimal"] = options.decimal is None
    rep.inferred["thousands"] = options.thousands is None
    return d, t
