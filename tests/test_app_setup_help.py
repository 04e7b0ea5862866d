"""Help where the question arises (issue 14): Setup names the chosen strategy's and training preset's
summary, needs and source; the class chart says what it counts; Compare's and Records' uploaders
empty once their files are used, so a second file replaces the first instead of stacking."""

from __future__ import annotations

import numpy as np
import pytest

import app_keys as AK
from bait_core.learning.train import PRESET_NOTES, PRESETS, preset_help, preset_settings
from bait_core.selection.registry import SPECS, USES, StrategySpec

from .app_helpers import assert_ok, open_app


# ----------------------------------------------------------------------------- the library's words

def test_every_spec_has_a_summary_needs_and_a_source_except_random():
    for name, spec in SPECS.items():
        assert spec.summary.strip(), name
        assert (spec.source is None) == (name == "random"), name
        assert set(spec.uses) <= set(USES) and (not spec.needs_probs or "probabilities" in spec.uses), name
        line = spec.describe()
        assert spec.label in line and spec.summary in line and spec.needs() in line
        assert (spec.source.cite() in line) if spec.source else "Source: none" in line
        assert ("classification only" in line) == (not spec.regression_ok), name
    assert SPECS["bait"].source.title in SPECS["bait"].describe()           # the paper's title, not just "NeurIPS"
    assert SPECS["coreset"].needs() == "Uses the model's embeddings (last hidden layer); works for regression too."
    assert SPECS["random"].needs().startswith("Uses nothing from the model")


def test_a_spec_refuses_uses_that_contradict_its_needs():
    fn = SPECS["entropy"].fn
    with pytest.raises(ValueError, match="uses must name them"):
        StrategySpec("x", fn, "X", "x", needs_probs=True, regression_ok=False, scores=None, uses=("embeddings",))
    with pytest.raises(ValueError, match="subset of"):
        StrategySpec("x", fn, "X", "x", needs_probs=False, regression_ok=True, scores=None, uses=("logits",))


def test_every_preset_has_a_note_and_its_settings_in_words():
    assert set(PRESET_NOTES) == set(PRESETS)
    for name, cfg in PRESETS.items():
        text = preset_help(name)
        assert PRESET_NOTES[name].summary in text and preset_settings(name) in text
        assert f"learning rate {cfg.lr:g}" in text and f"{cfg.max_epochs} epochs" in text
        assert f"mini-batches of {cfg.batch_size}" in text and f"{cfg.target_train_acc * 100:g} %" in text
    assert "Ash et al." in preset_help("paper") and "not from a paper" in preset_help("quick")
    with pytest.raises(ValueError, match="Known presets: quick, paper"):
        preset_help("slow")


def test_cli_preset_help_uses_the_same_text(capsys):
    from bait_core.__main__ import main
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())          # argparse wraps lines
    for name in PRESETS:
        assert " ".join(preset_help(name).split()) in out


# ----------------------------------------------------------------------------- Setup

def _captions(at) -> list[str]:
    return [c.value for c in at.caption]


@pytest.fixture(scope="module")
def setup_page():
    at = open_app("app_pages/setup.py")
    assert_ok(at)
    return at


def test_setup_shows_the_chosen_strategys_line(setup_page):
    at = setup_page
    for name, spec in SPECS.items():
        at.selectbox(key="setup_strategy").select(name).run()
        assert_ok(at)
        caps = _captions(at)
        assert spec.describe() in caps, name
        others = [s for s in SPECS.values() if s.name != name]
        assert not any(o.describe() in caps for o in others), name           # only the chosen one
        if spec.source:
            assert any(spec.source.title in c and str(spec.source.year) in c for c in caps), name
    assert all(s.summary in at.selectbox(key="setup_strategy").help for s in SPECS.values())   # all, in the help


def test_setup_shows_the_chosen_presets_line(setup_page):
    at = setup_page
    for name in PRESETS:
        at.selectbox(key="setup_preset").select(name).run()
        assert_ok(at)
        caps = _captions(at)
        assert f"Training preset **{name}** — {preset_help(name)}" in caps
        assert not any(f"Training preset **{o}**" in c for o in PRESETS if o != name for c in caps)
    assert all(preset_help(n) in at.selectbox(key="setup_preset").help for n in PRESETS)


def test_setup_settings_each_say_what_they_mean(setup_page):
    """Every number on Setup has a help text; the seed's names what it fixes, the architecture's each
    built-in model."""
    from bait_core.learning.models import MODEL_NAMES
    at = setup_page
    missing = [n.label for n in at.number_input if not n.help]
    assert not missing, missing
    assert "initial labeled set" in at.number_input(key="setup_seed").help
    assert "initial weights" in at.number_input(key="setup_seed").help
    assert all(f"**{m}**" in at.selectbox(key="setup_model").help for m in MODEL_NAMES)


def _bar_counts(at) -> tuple[str, dict]:
    import json
    chart = at.get("plotly_chart")
    figs = [json.loads(c.proto.spec) for c in chart]
    fig = next(f for f in figs if "per class" in f["layout"]["title"]["text"])
    bar = fig["data"][0]
    return fig["layout"]["title"]["text"], dict(zip(bar["x"], bar["y"]))


def test_setup_class_chart_counts_pool_points_as_its_title_says():
    at = open_app("app_pages/setup.py")
    title, counts = _bar_counts(at)                         # digits: every pool point has a label
    from bait_core.learning.data import load_builtin
    digits = load_builtin("digits", seed=0)
    assert title == "Pool points per class"
    assert sum(counts.values()) == len(digits.X)
    assert any(c.startswith(f"All {len(digits.X):,} pool points") for c in _captions(at))

    # a file where 12 of 40 rows have a label: the chart counts those 12, by class, and says so
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 3))
    labels = np.array(["a", "b"] * 25, dtype=object)
    labels[12:40] = ""                                       # rows 12..39 unlabeled; 40..49 labeled too
    csv = "x1,x2,x3,label\n" + "\n".join(f"{a:.4f},{b:.4f},{c:.4f},{lab}" for (a, b, c), lab in zip(X, labels))
    at.segmented_control(key="setup_source").set_value("Upload a file").run()
    at.file_uploader(key="setup_data_file").set_value([("part.csv", csv.encode(), "text/csv")]).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    ds = at.session_state[AK.UPLOAD_DATASET][1]
    title, counts = _bar_counts(at)
    has = np.asarray(ds.has_label)
    assert title == "Pool points with a label, per class"
    assert sum(counts.values()) == int(has.sum()) < len(ds.X)
    want = {c: int(n) for c, n in zip(ds.classes, np.bincount(ds.y[has], minlength=len(ds.classes)))}
    assert counts == want
    assert any(c.startswith(f"The {int(has.sum()):,} of {len(ds.X):,} pool points that have a label") for c in _captions(at))
    assert at.number_input(key="setup_initial_person").value == int(has.sum())   # they start the labeled set


# ----------------------------------------------------------------------------- uploaders that empty

def _comparison_json() -> bytes:
    from bait_core.learning.compare import Comparison
    from bait_core.learning.loop import run
    from bait_core.records.run_record import RunConfig
    recs = [run(RunConfig(data="builtin:moons", model="linear", strategy=s, rounds=1, batch_size=5, initial=10,
                          seed=seed, device="cpu")) for s in ("bait", "random") for seed in (0, 1)]
    return Comparison.from_records(recs).to_json().encode()


def test_compare_uploader_consumes_the_file():
    data = _comparison_json()
    at = open_app("app_pages/compare.py", timeout=300)
    assert_ok(at)
    assert at.session_state[AK.COMPARISON] is None
    assert all(n.help for n in at.number_input), [n.label for n in at.number_input if not n.help]
    assert "final round" in at.number_input(key="cmp_rounds").help
    at.file_uploader(key="cmp_files").set_value([("one.json", data, "application/json")]).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    first = at.session_state[AK.COMPARISON]
    assert first is not None and first.strategies == ["bait", "random"]
    assert any("Opened one.json" in s.value for s in at.success)
    ups = at.file_uploader
    assert len(ups) == 1 and not ups[0].value and ups[0].key != "cmp_files"       # emptied: a fresh widget
    # the same file again (as after running another comparison): opened again, and still one entry
    at.session_state[AK.COMPARISON] = None
    at.file_uploader[0].upload("two.json", data, "application/json").run()
    assert_ok(at)
    assert at.session_state[AK.COMPARISON] is not None
    assert not at.file_uploader[0].value and len(at.file_uploader) == 1
    # a bad file: the error is shown and the file stays, so it can be removed
    at.file_uploader[0].upload("bad.json", b"{", "application/json").run()
    assert_ok(at)
    assert any("not valid JSON" in e.value for e in at.error)
    assert [f.name for f in at.file_uploader[0].value] == ["bad.json"]


def test_records_uploader_consumes_the_file(moons, small_config):
    from bait_core.learning.loop import run
    record = run(small_config(rounds=1, model="linear")).to_json().encode()
    at = open_app("app_pages/records.py")
    at.file_uploader(key="record_file").set_value([("a.json", record, "application/json")]).run()
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[AK.EXPLORER].read_only
    assert len(at.file_uploader) == 1 and not at.file_uploader[0].value
    at.file_uploader[0].upload("b.json", record, "application/json").run()   # a second record: alone in the box
    assert_ok(at)
    assert not at.error, [e.value for e in at.error]                           # not stacked beside a.json
    assert any("Opened b.json" in s.value for s in at.success)
