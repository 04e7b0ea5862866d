"""The test metrics a run records (RoundResult.metric_name) and what the app, stories, plots and
comparisons need to know about them: how to name one, which direction is better, how to format a value.

    accuracy  classification: share of test points classified correctly, higher is better, "47.7%"
    rmse      regression: root mean squared error on the test set, lower is better, "0.412"

Every "is lower better?" decision goes through :func:`metric_spec`, never through the metric's name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Iterable, Mapping, Optional

__all__ = ["MetricSpec", "METRIC_SPECS", "metric_spec", "find_metric", "common_metric"]


@dataclass(frozen=True)
class MetricSpec:
    """One test metric.

    name: as recorded ("rmse"); label: as shown ("RMSE"); higher_is_better; format: a format spec for
    one value (".1%" → "47.7%", ".3g" → "0.412").
    """

    name: str
    label: str
    higher_is_better: bool
    format: str

    def fmt(self, value: float) -> str:
        """One value as text ("47.7%", "0.412"); "–" for NaN/inf."""
        return f"{value:{self.format}}" if math.isfinite(value) else "–"

    @property
    def better(self) -> str:
        """"higher is better" or "lower is better"."""
        return "higher is better" if self.higher_is_better else "lower is better"

    def better_sign(self) -> float:
        """+1.0 when higher is better, -1.0 when lower is: multiply a difference by it to get a gain."""
        return 1.0 if self.higher_is_better else -1.0


METRIC_SPECS: Mapping[str, MetricSpec] = MappingProxyType({
    "accuracy": MetricSpec("accuracy", "accuracy", True, ".1%"),
    "rmse": MetricSpec("rmse", "RMSE", False, ".3g"),
})


TASK_METRICS: Mapping[str, str] = MappingProxyType({"classification": "accuracy", "regression": "rmse"})


def metric_of_task(task: str) -> MetricSpec:
    """The test metric a task is measured with (classification: accuracy, regression: RMSE)."""
    return metric_spec(TASK_METRICS.get(task))


def metric_spec(name: Any) -> MetricSpec:
    """The spec of a recorded metric name; ValueError "Unknown test metric 'x'. Known metrics:
    accuracy, rmse." otherwise (run records only ever hold these two)."""
    try:
        return METRIC_SPECS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown test metric '{str(name)[:40]}'. Known metrics: {', '.join(METRIC_SPECS)}.") from None


def find_metric(name: Any) -> Optional[MetricSpec]:
    """The spec of a metric name, or None for a name without one (display code that can fall back to
    the bare name; decisions use :func:`metric_spec`, which refuses)."""
    try:
        return METRIC_SPECS.get(name)
    except TypeError:
        return None


def common_metric(names: Iterable[Any]) -> MetricSpec:
    """The one metric a set of rounds/records shares; ValueError when there is none or they mix
    metrics (a comparison of accuracy with RMSE has no "better")."""
    found = sorted({str(n) for n in names})
    if not found:
        raise ValueError("There are no rounds, so no test metric to compare.")
    if len(found) > 1:
        raise ValueError(f"The runs measure different test metrics ({', '.join(found)}); compare runs of one task only.")
    return metric_spec(found[0])
