"""Quoting user-supplied values (cells, column names, file and member names) in messages.

A message quotes at most `limit` characters of a value: a 50 MB cell must not become a 50 MB error."""

from __future__ import annotations

from typing import Any

QUOTE_LIMIT = 80


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
    """repr() of `value`, shortened past `limit` characters: ``'xxxx…' (52,428,800 characters)``."""
    if isinstance(value, (str, bytes)):
        if len(value) <= limit:
            return repr(value)
        r = repr(value[:limit])
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{r[:-1]}…{r[-1]} ({len(value):,} {unit})"
    text = repr(value)
    if len(text) <= limit:
        return text
    return text[:limit] + f"… ({len(text):,} characters)"
