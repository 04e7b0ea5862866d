"""The one way the project writes CSV: cells that a spreadsheet would run as a formula are neutralised.

Strings in a record (device, metric name, strategy, dataset and class names...) can come from a file a
user opened. A cell that starts with ``= + - @`` (or a tab / carriage return) is a formula to Excel,
LibreOffice and Google Sheets, so `safe_cell` prefixes such a string with a single quote (OWASP's
CSV-injection rule). Numbers are left alone: ints and floats, and strings that are plain numeric
literals such as ``-0.25`` or ``1e-05`` (the formatted metrics), so negative values stay numbers.
Nothing here imports streamlit.
"""

from __future__ import annotations

import csv
import io
import numbers
import re
from typing import Any, Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:inf|nan)", re.IGNORECASE)


def safe_cell(value: Any) -> Any:
    """`value` as a CSV cell no spreadsheet runs as a formula.

    Numbers (bool, int, float, numpy scalars) and None are returned unchanged; a string that is a plain
    numeric literal ("-3", "-1.5e-05") too. Any other string whose first character, or first character
    after leading spaces, is one of ``= + - @ TAB CR`` gets a leading single quote: "=HYPERLINK(...)"
    → "'=HYPERLINK(...)". Other objects are turned into strings first."""
    if value is None or isinstance(value, (numbers.Number,)):
        return value
    text = value if isinstance(value, str) else str(value)
    if not text or _NUMBER.fullmatch(text.strip(" ")):
        return text
    if text.startswith(FORMULA_STARTS) or text.lstrip(" ").startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> str:
    """CSV text of a header row and data rows (csv module quoting), every cell through `safe_cell`.
    lineterminator: "\\r\\n" (the csv module's default, used by the app's downloads) or "\\n"."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator=lineterminator)
    w.writerow([safe_cell(c) for c in header])
    for row in rows:
        w.writerow([safe_cell(c) for c in row])
    return buf.getvalue()
