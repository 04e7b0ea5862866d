"""Showing text that came from a file (story captions, dataset, class, column and strategy names,
record fields, error messages quoting them) without letting it act as markup.

* :func:`safe_markdown`  for anything rendered as Markdown (st.markdown, st.caption, st.header, st.info,
  st.error, …): the text and its formatting (bold, italics, lists, headings) stay, but nothing in it can
  make the viewer's browser fetch anything or run anything:

  - images ``![alt](url)``, ``![alt][ref]`` become the plain text "[image: alt]" (the address is dropped);
  - raw HTML (``<img …>``, ``<script>``, any tag, ``<http://…>`` autolinks) is shown as literal text;
  - links ``[text](url)`` stay clickable links only for http, https and mailto addresses; any other
    scheme (``javascript:``, ``data:``, ``file:``, …) or a relative address leaves just the text;
  - reference definitions ``[ref]: url`` are dropped (they are invisible in Markdown anyway), so
    reference-style links and images never resolve;
  - ``$`` is escaped (no KaTeX: ``\\href`` / ``\\includegraphics``), and every other ``[``, ``]``,
    ``<``, ``>`` and ``\\`` is escaped, so no other link, image or Streamlit directive can form.

* :func:`inline_code`    the text as one Markdown code span (always literal), for names shown as code.
* :func:`plot_text`      for Plotly titles, legend names, axis categories and hover texts, which render a
  subset of HTML (``<a href>`` is clickable, ``<br>``, ``<b>``…): the text HTML-escaped.

No streamlit here.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["safe_markdown", "inline_code", "plot_text", "SAFE_LINK_SCHEMES"]

SAFE_LINK_SCHEMES = ("http", "https", "mailto")

# one inline link or image with plain link text and a plain destination (optional "title");
# anything more intricate is not matched, and is then shown literally because its brackets are escaped
_LINK = re.compile(r"""(?P<bang>!?)\[(?P<text>[^\[\]\n]*)\]\(\s*<?(?P<url>(?:[^()\s<>]|\([^()\s<>]*\))*)>?"""
                   r"""(?:\s+(?:"[^"\n]*"|'[^'\n]*'))?\s*\)""")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]\n]+\]:[^\n]*$", re.MULTILINE)
_ESCAPE = re.compile(r"([\\\[\]<>$])")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")


def _escape(text: str) -> str:
    return _ESCAPE.sub(r"\\\1", text)


def _safe_url(url: str) -> bool:
    m = _SCHEME.match(url)
    return bool(m) and m.group(1).lower() in SAFE_LINK_SCHEMES and not any(c in url for c in "\\\"'`")


def safe_markdown(text: Any) -> str:
    """`text` as Markdown that shows its words and formatting but loads nothing remote and runs
    nothing (see the module docstring for what happens to images, HTML and links)."""
    s = "" if text is None else str(text)
    s = _REF_DEF.sub("", s)
    out: list[str] = []
    pos = 0
    for m in _LINK.finditer(s):
        plain = _escape(s[pos:m.start()])
        label = _escape(m.group("text"))
        if m.group("bang"):
            piece = f"\\[image: {label}\\]" if label.strip() else "\\[image\\]"
        elif _safe_url(m.group("url")) and label.strip():
            if plain.endswith("!"):
                plain = plain[:-1] + "\\!"        # "!" right before our link must not make it an image
            piece = f"[{label}]({m.group('url')})"
        else:
            piece = label
        out.append(plain + piece)
        pos = m.end()
    out.append(_escape(s[pos:]))
    return "".join(out)


def inline_code(text: Any) -> str:
    """`text` as a single Markdown code span: shown literally, whatever backticks it holds."""
    s = " ".join(("" if text is None else str(text)).split())
    longest = max((len(r) for r in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith("`") or s.endswith("`") or not s else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def plot_text(text: Any) -> str:
    """`text` HTML-escaped for Plotly (titles, names, categories, hover data): no tags, no links."""
    return html.escape("" if text is None else str(text), quote=False)
