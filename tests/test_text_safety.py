"""Text from files is shown, never obeyed (issue 9, item 6): story captions, titles, class, dataset and
strategy names, error messages quoting them.  Markdown loses its images, raw HTML, unsafe links and
math; Plotly gets HTML-escaped text."""

import json
import re

import numpy as np
from hypothesis import given, settings, strategies as hs

import app_keys as AK
import app_services as svc
from bait_core.viz import plots
from bait_core.viz.text import inline_code, plot_text, safe_markdown

from .app_helpers import assert_ok as _ok, open_app

EVIL = ["![](http://example.com/x.png)", "<img src=http://example.com/y.png>", "[a](javascript:alert(1))",
        "![alt][logo]\n\n[logo]: http://example.com/ref.png", "<script>alert(1)</script>",
        "[![x](http://example.com/in.png)](http://example.com/out)", "$\\includegraphics{http://example.com/m.png}$",
        "[d](data:text/html;base64,PHNjcmlwdD4=)", "<http://example.com/auto>", "!<b>[x](http://example.com/l)"]


def _unescaped(md: str) -> list[tuple[int, str]]:
    """(position, char) of every Markdown-active [ ] < > $ ! that is not backslash-escaped."""
    out, i = [], 0
    while i < len(md):
        c = md[i]
        if c == "\\" and i + 1 < len(md):
            i += 2
            continue
        if c in "[]<>$!":
            out.append((i, c))
        i += 1
    return out


def _assert_inert(md: str) -> None:
    """No image, no HTML, no math, and links only to http(s)/mailto, in Markdown source `md`."""
    md = re.sub(r"(`+)(?!`).*?(?<!`)\1(?!`)", "", md, flags=re.S)     # code spans are literal
    active = _unescaped(md)
    assert not [c for _, c in active if c in "<>$"], md
    positions = {p: c for p, c in active}
    for p, c in active:
        if c == "!":
            assert positions.get(p + 1) != "[", f"an image could form in {md!r}"
        if c == "[":
            close = next(q for q, d in active if q > p and d == "]")
            rest = md[close + 1:]
            if rest.startswith("("):
                url = rest[1:].split(")", 1)[0].strip().lower()
                assert url.startswith(("http://", "https://", "mailto:")), md
                assert md[p - 1: p] != "!"


def test_the_issue_examples_are_neutralised():
    for text in EVIL:
        out = safe_markdown(text)
        _assert_inert(out)
    assert safe_markdown("![](http://example.com/x.png)") == "\\[image\\]"
    assert safe_markdown("[a](javascript:alert(1))") == "a"
    assert safe_markdown("![cat](http://example.com/c.png)") == "\\[image: cat\\]"


def test_plain_text_formatting_and_ordinary_links_survive():
    plain = "After 5 rounds the model reads 82.2% (up from 47.7%) — **bold**, *italic*, a list:\n- one\n- two"
    assert safe_markdown(plain) == plain
    assert safe_markdown("see [the paper](https://arxiv.org/abs/2106.09675)!") == \
        "see [the paper](https://arxiv.org/abs/2106.09675)!"
    assert safe_markdown("wow![x](https://e.org)") == "wow\\[image: x\\]"
    assert safe_markdown(None) == ""


@settings(max_examples=400, deadline=None)
@given(hs.lists(hs.sampled_from(list("![]()<>$\\:/ \"'\nabhtp`") + ["http://e.com", "javascript:", "data:",
                                                                      "mailto:x", "img"]), max_size=40).map("".join))
def test_safe_markdown_never_leaves_an_image_html_or_unsafe_link(text):
    _assert_inert(safe_markdown(text))


@given(hs.text(max_size=40))
def test_inline_code_is_one_literal_code_span(text):
    out = inline_code(text)
    fence = len(out) - len(out.lstrip("`"))
    inner = out[fence:len(out) - fence]
    assert out.startswith("`" * fence) and out.endswith("`" * fence)
    assert "`" * fence not in inner


def test_plot_text_and_figures_carry_no_html_from_names():
    evil = "<a href='http://example.com'>click</a>"
    assert "<" not in plot_text(evil) and ">" not in plot_text(evil)
    xy = np.random.default_rng(0).normal(size=(6, 2))
    fig = plots.pool_map(xy, np.array([0, 1, 0, 1, 0, 1]), [evil, "<b>b</b>"], labeled=np.zeros(6, bool),
                         picks=np.array([1]), pruned=np.zeros(0, np.int64), true_label=[evil] * 6,
                         predicted=["<img src=x>"] * 6, confidence=None, gain=None, title=evil)
    bars = plots.class_bars([evil, "x"], [1, 2], title=evil)
    heat = plots.penalty_heatmap([evil, "b"], np.zeros((2, 2)), np.zeros(2), n_checkpoints=1, n_seeds=2)
    side = plots.picks_side_by_side(xy, np.zeros(6), {evil: np.array([0]), "b": np.array([1])}, np.zeros(6, bool))
    curve = plots.learning_curve(np.arange(3), np.ones(3), evil)
    times = plots.round_times([0], [1.0], [1.0], [1.0], device=evil)
    for f in (fig, bars, heat, side, curve, times):
        js = f.to_json()
        assert "<a " not in js and "<img" not in js and "<b>" not in js


# --- in the app -------------------------------------------------------------------------------------

def _shown_markdown(at) -> list[str]:
    """Every Markdown-rendered text of the page: markdown, captions, headers, alerts, metric values."""
    els = [*at.markdown, *at.caption, *at.title, *at.header, *at.subheader, *at.info, *at.error, *at.success,
           *at.warning]
    texts = [e.value for e in els]
    texts += [m.value for m in at.metric] + [m.label for m in at.metric]
    for im in at.image:
        texts += [c for c in im.captions if c]
    return [str(t) for t in texts]


def test_walkthrough_with_hostile_captions_renders_them_inert():
    d = json.loads(open(svc.WALKTHROUGH_ASSET, encoding="utf-8").read())
    d["title"] = "Title ![](http://example.com/t.png) <img src=http://example.com/t2.png>"
    d["intro"] = "Intro [a](javascript:alert(1)) and <script>alert(2)</script>"
    d["steps"] = d["steps"][:2]
    d["steps"][0]["title"] = "Step ![x](http://example.com/s.png)"
    d["steps"][0]["caption"] = "\n\n".join(EVIL)
    d["steps"][1]["caption"] = "See [the paper](https://arxiv.org/abs/2106.09675)."
    at = open_app("app_pages/walkthrough.py")
    at.file_uploader(key="story_file").set_value(("evil ![](http://example.com/f.png).json", json.dumps(d).encode(),
                                                 "application/json")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    shown = _shown_markdown(at)
    assert any("Opened the walkthrough" in t for t in shown)
    assert any("Intro a and" in t for t in shown)
    for t in shown:
        _assert_inert(t)                       # no image, tag, math or non-http(s) link could form
    at.button(key="story_next").click().run()
    _ok(at)
    assert any("[the paper](https://arxiv.org/abs/2106.09675)" in t for t in _shown_markdown(at))


def test_hostile_class_names_in_a_csv_are_inert_on_setup_and_rounds():
    names = ["![](http://example.com/c.png)", "<a href='http://example.com'>x</a>"]
    rows = "\n".join(f"{i % 7},{(i * 3) % 5},{names[i % 2]}" for i in range(80))
    csv = "a,![](http://example.com/col.png),label\n" + rows + "\n"
    at = open_app("app_pages/setup.py")
    at.get("button_group")[0].set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value(("<img src=http://example.com/n.png>.csv", csv.encode(),
                                                       "text/csv")).run()
    _ok(at)
    assert not at.error, [e.value for e in at.error]
    at.number_input(key="setup_initial").set_value(6).run()
    at.number_input(key="setup_batch").set_value(4).run()
    at.selectbox(key="setup_model").set_value("linear").run()
    at.button(key="setup_apply").click().run()
    _ok(at)
    for t in _shown_markdown(at):
        _assert_inert(t)
    at.switch_page("app_pages/rounds.py").run()
    at.button(key="btn_run1").click().run()
    _ok(at)
    assert len(at.session_state[AK.EXPLORER].rounds) == 1
    for t in _shown_markdown(at) + [m.value for m in at.sidebar.markdown]:
        _assert_inert(t)
    for chart in at.get("plotly_chart"):
        spec = chart.proto.spec
        assert "<a " not in spec and "<img" not in spec
