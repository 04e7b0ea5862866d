"""One spec per test metric (records.metrics): accuracy is higher-better, RMSE lower-better, and every
"which direction is better" decision (comparisons, AUC tables, captions, stories) reads it; nothing
decides by comparing the metric name with "rmse"."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import views
from bait_core.learning.compare import Comparison, penalty_matrix
from bait_core.records import metrics
from bait_core.records.metrics import MetricSpec, common_metric, metric_spec
from bait_core.records.schemas import METRICS
from bait_core.viz import plots

from .test_compare import _rec, _three_way

ROOT = Path(__file__).resolve().parents[1]


def test_the_two_metrics():
    acc, rmse = metric_spec("accuracy"), metric_spec("rmse")
    assert acc.higher_is_better and not rmse.higher_is_better
    assert (acc.fmt(0.4771), rmse.fmt(0.41234), acc.fmt(float("nan"))) == ("47.7%", "0.412", "–")
    assert (acc.label, rmse.label) == ("accuracy", "RMSE")
    assert METRICS == tuple(metrics.METRIC_SPECS)                  # the record schema accepts exactly these
    with pytest.raises(ValueError, match="Unknown test metric 'loss'. Known metrics: accuracy, rmse"):
        metric_spec("loss")
    with pytest.raises(ValueError, match="different test metrics"):
        common_metric(["accuracy", "rmse"])


@pytest.mark.parametrize("name", ["accuracy", "rmse"])
def test_comparison_direction_comes_from_the_spec(name):
    comp = _three_way(name, names=("bait", "random", "margin"))
    assert comp.metric is metric_spec(name)
    assert comp.higher_is_better == metric_spec(name).higher_is_better
    pm = penalty_matrix(comp)                                       # bait is better under either metric
    assert pm.matrix[0, 1] > 0.5 and pm.matrix[1, 0] == 0
    assert plots.auc_table(comp.records)[0]["strategy"] == "bait"


def test_a_mix_of_metrics_has_no_direction():
    comp = Comparison(records=[_rec("bait", 0, [0.5, 0.6]), _rec("random", 0, [0.5, 0.6], "rmse")])
    with pytest.raises(ValueError, match="different test metrics"):
        comp.higher_is_better


def test_every_direction_decision_reads_the_spec(monkeypatch):
    """Flip accuracy's direction in the one table: the comparison, the AUC ranking, captions and axis
    titles all follow (they would not if any of them decided by name)."""
    flipped = dict(metrics.METRIC_SPECS, accuracy=MetricSpec("accuracy", "accuracy", False, ".1%"))
    monkeypatch.setattr(metrics, "METRIC_SPECS", flipped)
    recs = [_rec("bait", 0, [0.5, 0.9]), _rec("random", 0, [0.5, 0.6])]
    assert Comparison(records=recs).higher_is_better is False
    assert plots.auc_table(recs)[0]["strategy"] == "random"        # the smaller area now ranks first
    assert views.metric_words("accuracy") == "test accuracy (lower is better)"
    assert views.lower_is_better("accuracy")
    assert plots.metric_title("accuracy") == "test accuracy — lower is better"


def test_no_code_decides_by_the_metric_name():
    files = [*sorted((ROOT / "bait_core").rglob("*.py")), *sorted((ROOT / "app_pages").glob("*.py")),
             ROOT / "views.py", *sorted(ROOT.glob("app*.py"))]
    bad = [f"{f.relative_to(ROOT)}:{i}" for f in files for i, line in enumerate(f.read_text().splitlines(), 1)
           if re.search(r"""[=!]=\s*["']rmse["']|["']rmse["']\s*[=!]=""", line)]
    assert not bad, f"decide by records.metrics.metric_spec(name), not by comparing with 'rmse': {bad}"


def test_story_words_follow_the_metric():
    from bait_core.records.story import delta_text, metric_text
    a0, a1 = _rec("bait", 0, [0.5, 0.6]).rounds
    r0, r1 = _rec("bait", 0, [0.5, 0.4], "rmse").rounds
    assert metric_text(a1) == "test accuracy 60.0%" and delta_text(a1, a0) == "+10.0 points"
    assert metric_text(r1) == "test RMSE 0.4" and delta_text(r1, r0) == "down 0.1, better"
    assert delta_text(r0, r1) == "up 0.1, worse"
