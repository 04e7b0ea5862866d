"""Everything that lists strategies derives the list from the registry's specs: the CLI's --strategy
choices, help and option flags, the Setup page's selectbox and the Compare page's multiselect. A new
spec shows up everywhere; a page or flag with its own list fails here."""

from __future__ import annotations

import pytest

from bait_core.__main__ import build_parser, main
from bait_core.selection.registry import SPECS, run_options

from .app_helpers import assert_ok, open_app


def _help(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as e:
        main([*argv, "--help"])
    assert e.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", ["select", "run", "compare"])
def test_cli_help_lists_every_strategy_with_its_one_liner(capsys, command):
    text = _help(capsys, command)
    lines = text[text.index("strategies:"):].splitlines()[1:]
    assert [ln.split()[0] for ln in lines] == list(SPECS)          # one line each, in registry order
    for line, spec in zip(lines, SPECS.values()):
        assert spec.label in line and spec.summary in line
        assert spec.source is None or str(spec.source) in line


@pytest.mark.parametrize("command", ["select", "run"])
def test_cli_strategy_choices_and_option_flags_come_from_the_specs(command):
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    actions = {a.dest: a for a in sub._actions}
    assert list(actions["strategy"].choices) == list(SPECS)
    for name, opt in run_options().items():
        assert name in actions, f"no --{name} flag"
        assert opt.help in actions[name].help
        if command == "run":                                         # run configs always carry the option
            assert actions[name].default == opt.default


def test_cli_refuses_an_option_for_a_strategy_without_it(capsys, tmp_path):
    import numpy as np
    np.save(tmp_path / "e.npy", np.random.default_rng(0).normal(size=(20, 3)))
    for name in SPECS:
        for opt in set(run_options()) - set(SPECS[name].options):
            spec = run_options()[opt]                              # a value the flag parses: its default
            flag = f"--{opt.replace('_', '-')}"                    # --top-classes, --pool-sample
            assert main(["select", "--embeddings", str(tmp_path / "e.npy"), "--batch-size", "2", "--strategy", name,
                         flag, str(spec.default)]) == 2
            err = capsys.readouterr().err
            assert f"{flag} applies only to --strategy bait, not '{name}'" in err


def test_setup_and_compare_widgets_offer_every_spec_by_its_label():
    at = open_app("app_pages/setup.py")
    assert_ok(at)
    box = at.selectbox(key="setup_strategy")
    assert list(box.options) == [s.label for s in SPECS.values()]
    assert all(s.summary in box.help for s in SPECS.values())
    at.switch_page("app_pages/compare.py").run()
    assert_ok(at)
    multi = at.multiselect(key="cmp_strategies")
    assert list(multi.options) == [s.label for s in SPECS.values()]
    assert list(multi.value) == ["bait", "badge", "random"]


def test_the_map_hover_names_each_strategys_score():
    """The pool map's hover says what the scores are for the strategy that made them (not "BAIT
    gain" for every strategy): every spec with scores names them; the figure carries that name."""
    import numpy as np

    import views
    from bait_core.selection.base import Selection
    from bait_core.selection.registry import SPECS
    from bait_core.viz import plots

    for name, spec in SPECS.items():
        assert bool(spec.score_name) == (spec.scores is not None), name
        sel = Selection(strategy=name, indices=np.array([1]), gains=np.array([0.5]), scores=np.array([np.nan, 0.5, 0.2]), timings={})
        fig = plots.pool_map(np.zeros((3, 2)), np.zeros(3, np.int64), ["a"], labeled=np.array([True, False, False]),
                             picks=sel.indices, pruned=np.zeros(0, np.int64), true_label=["a"] * 3,
                             predicted=["a"] * 3, confidence=None, gain=sel.scores, gain_name=views.score_name(sel))
        hovers = " ".join(str(t.hovertemplate) for t in fig.data if t.hovertemplate)
        assert f"{spec.score_name or 'score'}:" in hovers, (name, hovers)
        assert "BAIT gain" not in hovers
