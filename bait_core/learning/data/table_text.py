"""Reading delimited text tables: encoding, separator, header names, decimal mark and thousands grouping.

Every inference is written into the :class:`~bait_core.learning.reading.ReadingReport` and can be overridden
through :class:`~bait_core.learning.reading.ReadOptions`; when the file does not decide a question (values such
as ``1,234`` read as 1.234 or as 1234) the reader refuses with a sentence that says which option to
set, rather than guess.  Nothing here imports streamlit.

Rules (in order):

* Encoding: ``ReadOptions.encoding`` if set; else a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32);
  else UTF-8 if the bytes decode as UTF-8; else a multi-byte Asian codec when charset-normalizer ranks
  one first and it decodes; else Windows-1252 (what spreadsheet programs on Windows write; Latin-1
  bytes read the same except 0x80–0x9F, where Latin-1 has only control characters) with a warning
  that lists the non-ASCII characters it produced; else charset-normalizer's best guess; else Latin-1
  with a warning.  Decoded text with C1 control characters (U+0080–U+009F) gets a warning too.
* Separator: ``ReadOptions.sep`` if set; else each candidate (``,`` ``;`` tab ``|``; tab first for
  .tsv/.tab) splits the first rows with the quote-aware :mod:`csv` reader; a candidate is consistent
  when the header has ≥ 2 fields and every row has as many.  One consistent candidate wins; among
  several, :class:`csv.Sniffer` decides if it picks one of them, else the one giving the most columns.
  No candidate with ≥ 2 fields: a single-column file.
* Decimal mark and thousands grouping: each pair (decimal ``.``/``,`` × grouping none, ``,``, ``.``,
  space, no-break space, narrow no-break space, apostrophe) parses every column's distinct values
  with a strict pattern (groups of three digits after a first group of 1–3 digits not starting with
  0).  The pair making the most columns fully numeric wins (then the most cells); pairs that tie
  and read some value differently (``1,234``) are a refusal naming the column, the value and the
  options to set.  ``ReadOptions.decimal`` / ``thousands`` restrict the candidates.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.reading import ReadingReport, ReadOptions

SEPARATORS = (",", ";", "\t", "|")
SNIFF_ROWS = 500                      # rows the separator test looks at
_SEP_WORDS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe", " ": "space"}
_THOUSANDS = ("", ",", ".", " ", "\u00a0", "\u202f", "'")
_CJK = {"shift_jis", "cp932", "euc_jp", "iso2022_jp", "gb2312", "gbk", "gb18030", "big5", "big5hkscs",
        "euc_kr", "cp949", "johab", "hz", "cp950"}
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le", "utf-32 LE"), (codecs.BOM_UTF32_BE, "utf-32-be", "utf-32 BE"),
         (codecs.BOM_UTF8, "utf-8", "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16 LE"),
         (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16 BE"))
_C1 = re.compile("[\u0080-\u009f]")


def sep_word(sep: str) -> str:
    return _SEP_WORDS.get(sep, repr(sep))


# ---------------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------------

def decode_text(raw: bytes, name: str, kind: str, options: ReadOptions,
                report: Optional[ReadingReport]) -> str:
    """Bytes of a text table → str, by the rules in the module docstring; the choice goes to `report`."""
    rep = report if report is not None else ReadingReport(file=name, format=kind)
    if options.encoding is not None:
        enc = options.encoding
        shown = codecs.lookup(enc).name
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError as e:
            raise ValueError(f"{_quote(name)} cannot be read with the encoding {_quote(enc)} you chose: byte "
                             f"0x{raw[e.start]:02x} at position {e.start} is not valid there. Choose "
                             f"another encoding (utf-8, cp1252, latin-1, utf-16) or leave it to be "
                             f"detected.") from None
        if text.startswith("\ufeff"):
            text, shown = text[1:], f"{shown} (with BOM)"
        elif shown in ("utf-16", "utf-32") and raw[:2] in (b"\xff\xfe", b"\xfe\xff"):
            shown = f"{shown} (with BOM)"                     # the codec consumed the BOM
        rep.encoding, rep.inferred["encoding"] = shown, False
        return _checked_text(text, name, kind, rep)
    for bom, codec, shown in _BOMS:
        if raw.startswith(bom):
            try:
                text = raw[len(bom):].decode(codec)
            except UnicodeDecodeError as e:
                raise ValueError(f"{_quote(name)} starts with a {shown} byte-order mark but byte {e.start + len(bom)} "
                                 f"is not valid {shown}; save it again as UTF-8, or choose its encoding.") from None
            rep.encoding, rep.inferred["encoding"] = f"{shown} (with BOM)", True
            return _checked_text(text, name, kind, rep)
    if b"\x00" in raw[:8192]:
        raise ValueError(f"{_quote(name)} looks like a binary file, not {kind} text (it has NUL bytes and no "
                         f"byte-order mark); if it is UTF-16 text without a BOM choose the encoding "
                         f"utf-16-le or utf-16-be.")
    rep.inferred["encoding"] = True
    try:
        text = raw.decode("utf-8")
        rep.encoding = "utf-8"
        return _checked_text(text, name, kind, rep)
    except UnicodeDecodeError:
        pass
    guess = _charset_guess(raw)
    if guess in _CJK and _paired_high_bytes(raw) >= 0.5:
        try:
            text = raw.decode(guess)
            rep.encoding = guess
            rep.warn(f"{_quote(name)} is not UTF-8; charset-normalizer identified it as {guess}, which was used. If "
                     f"the text looks wrong, choose the file's encoding.")
            return _checked_text(text, name, kind, rep)
        except (UnicodeDecodeError, LookupError):
            pass
    for enc, label in (("cp1252", "cp1252 (Windows Western European, what spreadsheet programs on Windows "
                                  "write)"), (guess, guess), ("latin-1", "latin-1")):
        if not enc:
            continue
        try:
            text = raw.decode(enc)
        except (UnicodeDecodeError, LookupError):
            continue
        rep.encoding = enc
        chars = sorted({c for c in text if ord(c) > 127})
        shown = ", ".join(repr(c) for c in chars[:16]) + (f" and {len(chars) - 16} more" if len(chars) > 16 else "")
        alternatives = [e for e in ("mac_roman", "cp1250", "latin-1", guess) if e and e != enc]
        rep.warn(f"{_quote(name)} is not UTF-8; it was read as {label}, giving the non-ASCII characters {shown}. "
                 f"If they look wrong, choose the file's encoding (e.g. "
                 f"{', '.join(dict.fromkeys(alternatives))}).")
        return _checked_text(text, name, kind, rep)
    raise AssertionError("latin-1 decodes any bytes")          # pragma: no cover


def _paired_high_bytes(raw: bytes) -> float:
    """Fraction of bytes ≥ 0x80 next to another such byte.  Chinese, Japanese and Korean text in its
    multi-byte codecs is mostly runs of high bytes; Western 8-bit text (Köln, Straße, 10 €) has them
    alone between ASCII letters.  charset-normalizer alone names a Korean codec for a short Mac Roman
    file, so its CJK verdicts are taken only when the bytes look like this."""
    b = np.frombuffer(raw[:200_000], dtype=np.uint8) >= 0x80
    if not b.any():
        return 0.0
    paired = b & (np.r_[b[1:], False] | np.r_[False, b[:-1]])
    return float(paired.sum() / b.sum())


def _charset_guess(raw: bytes) -> Optional[str]:
    try:
        from charset_normalizer import from_bytes
    except ImportError:                                       # pragma: no cover - a requirement
        return None
    best = from_bytes(raw[:200_000]).best()
    return None if best is None else best.encoding


def _checked_text(text: str, name: str, kind: str, rep: ReadingReport) -> str:
    if "\x00" in text[:8192]:
        raise ValueError(f"{_quote(name)} looks like a binary file, not {kind} text (it has NUL characters with the "
                         f"encoding {rep.encoding}); choose its encoding if it is text.")
    c1 = _C1.findall(text)
    if c1:
        rep.warn(f"{_quote(name)} read as {rep.encoding} contains {len(c1)} control character(s) "
                 f"(U+0080–U+009F, e.g. {_quote(c1[0])}), a sign that the encoding is wrong; choose the file's "
                 f"encoding (often cp1252 for files from Excel on Windows).")
    return text


# ---------------------------------------------------------------------------------------------
# Separator and header
# ---------------------------------------------------------------------------------------------

def _rows(text: str, sep: str, limit: int = SNIFF_ROWS) -> list[list[str]]:
    out: list[list[str]] = []
    cut = len(text) > 2**20
    if cut:                                          # the first MiB, ending at a line end
        text = text[:2**20]
        text = text[:text.rfind("\n") + 1] or text
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', strict=False):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue                                      # blank lines (pandas skips them too)
            out.append(row)
            if len(out) >= limit:
                break
    except csv.Error:
        pass
    return out


def sniff_separator(text: str, name: str, ext: str, options: ReadOptions, rep: ReadingReport) -> str:
    """The field separator by the rules in the module docstring (recorded in `rep`)."""
    if options.sep is not None:
        rep.separator, rep.inferred["separator"] = options.sep, False
        check_rows(text, options.sep, name, "(as chosen)")
        return options.sep
    rep.inferred["separator"] = True
    order = ("\t",) + tuple(s for s in SEPARATORS if s != "\t") if ext in (".tsv", ".tab") else SEPARATORS
    widths: dict[str, tuple[int, float]] = {}
    consistent = []
    for s in order:
        rows = _rows(text, s)
        if not rows:
            continue
        n = len(rows[0])
        same = sum(len(r) == n for r in rows[1:]) / max(1, len(rows) - 1)
        widths[s] = (n, same)
        if n >= 2 and same == 1.0:
            consistent.append(s)
    if len(consistent) == 1:
        sep = consistent[0]
    elif consistent:
        sep = None
        try:
            sniffed = csv.Sniffer().sniff(text[:65536], delimiters="".join(consistent)).delimiter
            sep = sniffed if sniffed in consistent else None
        except csv.Error:
            pass
        if sep is None:
            sep = max(consistent, key=lambda s: (widths[s][0], -order.index(s)))
        others = ", ".join(sep_word(s) for s in consistent if s != sep)
        rep.warn(f"{_quote(name)}: the {sep_word(sep)} was taken as the separator ({widths[sep][0]} columns); the "
                 f"{others} would also split every row evenly. If the columns look wrong, choose the separator.")
    if consistent:
        check_rows(text, sep, name)
    else:
        ragged = [s for s in order if s in widths and widths[s][0] >= 2]
        if ragged:                     # rows of unequal length: the best match, and the first bad line
            sep = max(ragged, key=lambda s: (widths[s][1], widths[s][0], -order.index(s)))
            check_rows(text, sep, name, "(the best fit)")
        else:
            sep = order[0]                                    # one column: no separator in the file
            rep.warn(f"{_quote(name)}: no separator ({', '.join(sep_word(s) for s in SEPARATORS)}) splits its lines; "
                     f"it was read as a single column.")
    rep.separator = sep
    return sep


def check_rows(text: str, sep: str, name: str, how: str = "") -> None:
    """Refuse a row with more or fewer fields than the header: pandas would fill a short row's last
    cells as empty, which silently turns its label into 'no label'.  Every line is counted (a text
    without quotes by counting separators, else with the csv reader)."""
    rows = _rows(text, sep)
    if not rows:
        return
    n = len(rows[0])
    k = next((i for i, r in enumerate(rows) if len(r) != n), None)
    if k is None and len(rows) >= SNIFF_ROWS:                 # the rest of the file
        if '"' not in text:
            lines = pd.Series(re.split(r"\r\n|\n|\r", text), dtype="string")   # csv's line ends only
            lines = lines[lines.str.strip() != ""].reset_index(drop=True)
            width = (lines.str.count(re.escape(sep)) + 1).to_numpy()
            bad = np.flatnonzero(width != n)
            if len(bad):
                k = int(bad[0])
                rows = {k: lines.iloc[k].split(sep)}
        else:
            for i, r in enumerate(csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"', strict=False)):
                if r and not (len(r) == 1 and not r[0].strip()) and len(r) != n:
                    k, rows = i, {i: r}
                    break
    if k is None:
        return
    raise ValueError(
        f"{_quote(name)}: with the {sep_word(sep)} as separator{' ' + how if how else ''} the header has {n} field(s) "
        f"but data row {k} has {len(rows[k])} ({', '.join(repr(v) for v in rows[k][:6])}"
        f"{', …' if len(rows[k]) > 6 else ''}). Every row needs one value per column (an empty one for a "
        f"missing value); fix that row, or choose the separator.")


def header_names(text: str, sep: str) -> list[str]:
    """The header row's names as written (stripped), quote-aware."""
    rows = _rows(text, sep, limit=1)
    return [c.strip() for c in rows[0]] if rows else []


def unique_names(names: Sequence[str]) -> list[str]:
    """Distinct names: empty ones become 'column N', repeats 'name (2)', 'name (3)', …"""
    out: list[str] = []
    seen: set[str] = set()
    for j, n in enumerate(names):
        base = n if n else f"column {j + 1}"
        cand, k = base, 1
        while cand in seen:
            k += 1
            cand = f"{base} ({k})"
        seen.add(cand)
        out.append(cand)
    return out


# ---------------------------------------------------------------------------------------------
# Numbers: decimal mark and thousands grouping
# ---------------------------------------------------------------------------------------------

def number_pattern(decimal: str, thousands: str) -> str:
    """A full-match regex for one number written with this decimal mark and grouping (or ±inf)."""
    D = re.escape(decimal)
    exp = r"(?:[eE][+-]?\d+)?"
    alts = [rf"[+-]?(?:\d+(?:{D}\d*)?|{D}\d+){exp}"]
    if thousands:
        T = re.escape(thousands)
        alts.append(rf"[+-]?(?:[1-9]\d{{0,2}}(?:{T}\d{{3}})+|0)(?:{D}\d*)?{exp}")
    alts.append(r"[+-]?(?i:inf|infinity)")
    return "(?:" + "|".join(alts) + ")"


def parse_numbers(t: pd.Series, decimal: str, thousands: str) -> tuple[np.ndarray, np.ndarray]:
    """Stripped text cells (missing = NA) → (float64 values with NaN where missing or not a number,
    (n,) bool: the cell is a number)."""
    s = t.astype("string")
    ok = s.str.fullmatch(number_pattern(decimal, thousands)).fillna(False).to_numpy(dtype=bool)
    vals = np.full(len(s), np.nan)
    if ok.any():
        good = s[ok]
        if thousands:
            good = good.str.replace(thousands, "", regex=False)
        if decimal != ".":
            good = good.str.replace(decimal, ".", regex=False)
        try:                                          # Arrow's parser: fast, and 1e400 → inf as numpy
            vals[ok] = good.astype("string[pyarrow]").astype("float64[pyarrow]").to_numpy(
                dtype=np.float64, na_value=np.nan)
        except (ValueError, TypeError, ImportError):  # pragma: no cover - without pyarrow
            with np.errstate(over="ignore"):
                vals[ok] = np.asarray(good.to_numpy(dtype=object), dtype=str).astype(np.float64)
    return vals, ok


def _pairs(options: ReadOptions) -> list[tuple[str, str]]:
    """Candidate (decimal, thousands) pairs in order of preference (ties that read the same values)."""
    pairs = [(d, t) for t in _THOUSANDS for d in (".", ",") if d != t]
    if options.decimal is not None:
        pairs = [p for p in pairs if p[0] == options.decimal]
    if options.thousands is not None:
        pairs = [p for p in pairs if p[1] == options.thousands]
    return pairs


def _show_pair(p: tuple[str, str]) -> str:
    d, t = p
    dn = "point" if d == "." else "comma"
    tn = {"": "no thousands grouping", ",": "comma thousands grouping", ".": "point thousands grouping",
          " ": "space thousands grouping", "\u00a0": "no-break-space thousands grouping",
          "\u202f": "narrow-no-break-space thousands grouping", "'": "apostrophe thousands grouping"}[t]
    return f"decimal {dn} with {tn} (decimal={_quote(d)}, thousands={_quote(t)})"


_INFORMATIVE = 5500                   # a column with more distinct values is cut by _informative


def _informative(u: pd.Series, marked: int = 5000, plain: int = 500) -> pd.Series:
    """The distinct values that can tell decimal marks apart (those with a mark or grouping character),
    up to `marked` of them, plus up to `plain` others.  Choosing on this subset cannot pick a pair that
    the whole column contradicts silently: every cell is parsed again with the chosen pair, and a
    cell that does not parse is refused by name."""
    u = u.astype("string")
    if len(u) <= marked + plain:
        return u.reset_index(drop=True)
    has = u.str.contains("[,.' \u00a0\u202f]", regex=True).fillna(False).to_numpy(dtype=bool)
    return pd.concat([u[has].iloc[:marked], u[~has].iloc[:plain]]).reset_index(drop=True)


def detect_locale(uniques: dict[str, pd.Series], name: str, options: ReadOptions,
                  rep: ReadingReport) -> tuple[str, str]:
    """Choose (decimal, thousands) from each text column's distinct stripped non-empty values."""
    cols = list(uniques)
    joined = (pd.concat([uniques[c] for c in cols], ignore_index=True).astype("string") if cols
              else pd.Series([], dtype="string"))
    bounds = np.cumsum([0] + [len(uniques[c]) for c in cols])
    return detect_locale_stacked(joined, bounds, cols, name, options, rep)


def detect_locale_stacked(joined: pd.Series, bounds: np.ndarray, columns: Sequence[str], name: str,
                          options: ReadOptions, rep: ReadingReport) -> tuple[str, str]:
    """:func:`detect_locale` with the columns' distinct values already in one "string" Series:
    column ``columns[i]``'s values are ``joined[bounds[i]:bounds[i + 1]]`` (bounds: (len(columns) + 1,)
    int offsets).  A wide table's columns are never split into thousands of Series."""
    pairs = _pairs(options)
    bounds = np.asarray(bounds, dtype=np.int64)
    lens = np.diff(bounds)
    if (lens > _INFORMATIVE).any():              # long columns: only their informative values
        pieces = [joined.iloc[bounds[i]:bounds[i + 1]] if lens[i] <= _INFORMATIVE else
                  _informative(joined.iloc[bounds[i]:bounds[i + 1]]) for i in range(len(columns))]
        joined = pd.concat(pieces, ignore_index=True) if pieces else joined
        bounds = np.cumsum([0] + [len(u) for u in pieces])
        lens = np.diff(bounds)
    joined = joined.astype("string").reset_index(drop=True)
    if not pairs:
        raise ValueError(f"{_quote(name)}: the decimal mark {_quote(options.decimal)} and the thousands separator "
                         f"{_quote(options.thousands)} you chose cannot be used together.")
    # every column's values in one series, parsed once per pair (a wide table has thousands of columns:
    # one parse per column and pair took minutes at 10,000 columns), then cut back into columns
    kept = np.flatnonzero(lens > 0)                       # columns with values; each a non-empty segment
    names = [columns[i] for i in kept]
    starts = bounds[kept]

    def per_column(flags: np.ndarray) -> np.ndarray:
        """(len(joined),) bool → (len(names),) bool: every value of the column is flagged."""
        return np.logical_and.reduceat(flags, starts) if len(names) else np.zeros(0, bool)

    scored = []
    for p in pairs:
        vals_all, ok_all = parse_numbers(joined, *p)
        full = per_column(ok_all)
        scored.append(((int(full.sum()), int(ok_all.sum())), p, (vals_all, full)))
    best = max(s for s, _, _ in scored)
    tied = [(p, parsed) for s, p, parsed in scored if s == best]
    chosen, (va, fa) = tied[0]
    by_name = sorted(range(len(names)), key=names.__getitem__)
    for p, (vb, fb) in tied[1:]:
        # a column fully numeric under one pair but not the other, or read differently: refused (the
        # first such column by name)
        with np.errstate(invalid="ignore"):
            same = per_column((va == vb) | (np.isnan(va) & np.isnan(vb)))
        fail = (fa | fb) & ~(fa & fb & same)
        if not fail.any():
            continue
        k = next(k for k in by_name if fail[k])
        col, lo, hi = names[k], int(bounds[kept[k]]), int(bounds[kept[k] + 1])
        if fa[k] and fb[k]:
            a, b = va[lo:hi], vb[lo:hi]
            i = int(np.flatnonzero(~((a == b) | (np.isnan(a) & np.isnan(b))))[0])
            ex = f"values such as {_quote(joined.iloc[lo + i])} read as {a[i]:g} or as {b[i]:g}"
        else:
            ex = "its values read as numbers either way"
        raise ValueError(
            f"{_quote(name)}: the decimal mark is ambiguous in column {_quote(col)}: {ex}. The file fits both "
            f"{_show_pair(chosen)} and {_show_pair(p)}; choose the decimal mark and thousands "
            f"separator (ReadOptions(decimal=..., thousands=...)) to read it.")
    d, t = chosen
    rep.decimal, rep.thousands = d, t
    rep.inferred["decimal"] = options.decimal is None
    rep.inferred["thousands"] = options.thousands is None
    return d, t


def looks_numeric_with(u: pd.Series, options: ReadOptions) -> Optional[tuple[str, str]]:
    """A (decimal, thousands) pair under which every value of `u` is a number, if any (for hints)."""
    for p in _pairs(ReadOptions()):
        if len(u) and parse_numbers(u, *p)[1].all():
            return p
    return None
