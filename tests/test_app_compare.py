"""AppTest for the Compare page: a small comparison runs and draws its views; bad files are errors."""

import json

from streamlit.testing.v1 import AppTest

import app_keys as AK
import app_services as svc

from .app_helpers import assert_ok, open_app



def _compare_page() -> AppTest:
    at = open_app("app_pages/compare.py", timeout=300)
    assert_ok(at)
    return at


def _charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_compare_runs_and_draws_curves_penalty_and_first_picks():
    at = _compare_page()
    assert any("No comparison yet" in i.value for i in at.info)
    at.multiselect(key="cmp_strategies").set_value(["bait", "random"])
    at.number_input(key="cmp_seeds").set_value(2)
    at.number_input(key="cmp_rounds").set_value(2)
    at.button(key="btn_compare").click().run()
    assert not at.exception, [e.value for e in at.exception]
    comp = at.session_state[AK.COMPARISON]
    assert comp is not None and comp.strategies == ["bait", "random"] and comp.seeds == [0, 1]
    assert all(len(r.rounds) == 3 for r in comp.records)               # 2 rounds + final evaluation
    assert len(_charts(at)) >= 3                                        # curves, penalty matrix, first picks
    assert any("penalty" in s.value.lower() for s in at.subheader)
    assert any("AUC" in str(df.value.columns.tolist()) for df in at.dataframe)
    # the same start for both strategies of a seed
    a, b = comp.record("bait", 1), comp.record("random", 1)
    assert (a.rounds[0].labeled_before == b.rounds[0].labeled_before).all()
    assert a.rounds[0].metric == b.rounds[0].metric


def test_compare_bad_plan_shows_error_and_keeps_results():
    at = _compare_page()
    at.multiselect(key="cmp_strategies").set_value([])
    at.button(key="btn_compare").click().run()
    assert not at.exception
    assert any("at least one strategy" in e.value for e in at.error)
    assert at.session_state[AK.COMPARISON] is None


def test_open_comparison_files():
    """The helper behind the page's uploader: a comparison JSON, several run records, bad input."""
    import pytest

    from bait_core.learning.compare import Comparison
    from bait_core.learning.loop import run
    from bait_core.records.run_record import RunConfig
    recs = [run(RunConfig(data="builtin:moons", model="linear", strategy=s, rounds=1, batch_size=5, initial=10,
                            seed=seed, device="cpu")) for s in ("bait", "random") for seed in (0, 1)]
    comp = svc.open_comparison([(f"{r.config.strategy}_seed{r.config.seed}.json", r.to_json().encode()) for r in recs])
    assert comp.strategies == ["bait", "random"] and comp.seeds == [0, 1]
    again = svc.open_comparison([("comparison.json", comp.to_json().encode())])
    assert isinstance(again, Comparison) and len(again.records) == 4
    with pytest.raises(ValueError, match="not valid JSON"):
        svc.open_comparison([("x.json", b"{")])
    with pytest.raises(ValueError, match="x.json"):
        svc.open_comparison([("a.json", recs[0].to_json().encode()), ("x.json", json.dumps({"kind": "nope"}).encode())])
