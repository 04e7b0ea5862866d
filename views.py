"""View helpers shared by pages: the figures of one recorded round of a run (map, objective,
learning curve so far) as plotly figures, and the label texts they show. No session state here.

Shapes: N pool points, B picks.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bait_core.records.metrics import find_metric, metric_spec
from bait_core.viz import plots
from bait_core.records.run_record import RoundResult
from bait_core.selection.approx import SOURCE as APPROX_SOURCE
from bait_core.selection.registry import SPECS, selection_label


FEATURE_PREFIX = "x: "   # every dataset feature column shown next to the app's own columns starts with this


def feature_columns(names: Sequence[str]) -> list[str]:
    """The dataset's feature names as table column labels in their own namespace: "x: name", made unique
    ("x: a", "x: a (2)"; an empty name becomes "x: (column j)"), so they never clash with the app's own
    columns (order, index, gain, label, …) or with each other.  (F,)"""
    from bait_core.learning.data.table_text import unique_names
    return unique_names([FEATURE_PREFIX + (str(raw) if str(raw).strip() else f"(column {j})")
                         for j, raw in enumerate(names)])


def feature_table(dataset: Any, rows: Sequence[int] | np.ndarray, app_columns: dict[str, Sequence]) -> pd.DataFrame:
    """A table of the dataset's `rows`: the app's own columns first (`app_columns`, in order), then every
    feature as "x: name" (feature_columns), so no feature name, however it is spelt, can collide with them.
    (len(rows), len(app_columns) + F)"""
    rows = np.asarray(rows, dtype=np.int64)
    names = list(dataset.feature_names or [f"x{j}" for j in range(dataset.n_features)])
    X = np.asarray(dataset.X[rows]).reshape(len(rows), -1)
    parts = {str(k): list(v) for k, v in app_columns.items()}
    parts.update(zip(feature_columns(names), X.T))
    return pd.DataFrame(parts, index=pd.RangeIndex(len(rows)))


def label_texts(dataset: Any, values: Sequence) -> list[str]:
    """Class names (classification; "?" for no label) or values (regression) as map hover texts.  (N,)"""
    if dataset.task == "classification":
        cls = list(dataset.classes)
        return [cls[int(v)] if int(v) >= 0 else "?" for v in np.asarray(values).tolist()]
    return ["?" if not np.isfinite(v) else f"{float(v):.3g}" for v in np.asarray(values, dtype=np.float64).tolist()]


def is_regression(dataset: Any) -> bool:
    return getattr(dataset, "task", "classification") == "regression"


# The map's colour-by options are stored as these two values; `colour_label` words them for the task.
COLOUR_TRUE, COLOUR_PRED = "true class", "prediction"


def colour_label(dataset: Any, option: str) -> str:
    """How a colour-by option reads: "true class" / "prediction", or "true value" / "prediction"."""
    return "true value" if option == COLOUR_TRUE and is_regression(dataset) else option


def truth_word(dataset: Any) -> str:
    """What the oracle reveals, in words: "true class" (classification) or "true value" (regression)."""
    return "true value" if is_regression(dataset) else "true class"


def label_column(dataset: Any) -> str:
    """The table column holding the revealed label: "label" or, for regression, "target"."""
    return "target" if is_regression(dataset) else "label"


def metric_words(metric_name: str) -> str:
    """A test metric for captions, from its spec (records.metrics): "test RMSE (lower is better)",
    "test accuracy (higher is better)"; "test <name>" for a name without a spec."""
    spec = find_metric(metric_name)
    return f"test {metric_name}" if spec is None else f"test {spec.label} ({spec.better})"


def metric_label(metric_name: str) -> str:
    """How a metric is named in a heading or column: "RMSE", "accuracy" (the name itself without a spec)."""
    spec = find_metric(metric_name)
    return metric_name if spec is None else spec.label


def lower_is_better(metric_name: str) -> bool:
    """Whether a smaller value of this test metric is better (RMSE); ValueError for an unknown metric."""
    return not metric_spec(metric_name).higher_is_better


def value_range(dataset: Any) -> tuple[float, float]:
    """The colour range of a regression map: the pool's true values (min, max). The same range colours
    the predictions, so the two maps compare (a prediction outside it takes the end colour)."""
    y = np.asarray(dataset.y, dtype=np.float64)
    fin = y[np.isfinite(y)]
    if not fin.size:
        return 0.0, 1.0
    lo, hi = float(fin.min()), float(fin.max())
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def strategy_text(config: Any, dataset: Any = None) -> str:
    """The run's strategy as the pages name it, with its approximation when it has one: "bait",
    "bait (approximate: top-5 classes)" (RunConfig.strategy_label; dataset gives K, so top-c with
    c ≥ K reads as exact)."""
    K = None
    if dataset is not None:
        K = len(dataset.classes) if getattr(dataset, "task", "classification") == "classification" else 1
    label = config.strategy_label(K=K or None)
    i = label.find(" (approximate")
    return config.strategy + (label[i:] if i >= 0 else "")


def selection_text(sel: Any) -> str:
    """A selection's strategy as the pages name it: "bait", or "bait (approximate: top-5 classes)"
    when its params say it was approximate (selection.approx)."""
    label = selection_label(sel)
    i = label.find(" (approximate")
    return sel.strategy + (label[i:] if i >= 0 else "")


def approximation_note(sel: Any) -> str:
    """" These picks are approximate: top-5 classes of 100 (Huseljic et al., ECML PKDD 2024)." for an
    approximate selection; "" otherwise."""
    words = str((getattr(sel, "params", None) or {}).get("approximation", "exact"))
    if words == "exact":
        return ""
    return f" These picks are approximate: {words.replace(' (approximate)', '')} ({APPROX_SOURCE})."


def score_name(sel: Any) -> str:
    """What a selection's per-point scores are, in words (the strategy's StrategySpec.score_name;
    "score" for an unknown strategy or one without scores)."""
    spec = SPECS.get(getattr(sel, "strategy", ""))
    return (spec.score_name if spec is not None else "") or "score"


def round_map(dataset: Any, rr: RoundResult, xy: np.ndarray, title: str, colour_by: str = COLOUR_TRUE,
              height: int = 520, true_label: Optional[Sequence[str]] = None,
              predicted: Optional[Sequence[str]] = None, y: Optional[np.ndarray] = None,
              pick_numbers: bool = True) -> go.Figure:
    """The pool map of round `rr`: points coloured by true class (or prediction) — for regression by
    the true value (or prediction) on one continuous scale — the labeled set as black squares, the
    round's picks as gold stars (numbered in pick order unless `pick_numbers` is False), pruned
    candidates as grey rings.
    true_label / predicted: the hover texts when the caller already has them (label_texts).
    y (N,): the labels shown as true (−1 / NaN: none); default dataset.y."""
    sel = rr.selection
    none = np.zeros(0, np.int64)
    y = dataset.y if y is None else y
    true_label = label_texts(dataset, y) if true_label is None else true_label
    predicted = label_texts(dataset, rr.predictions) if predicted is None else predicted
    common = dict(labeled=rr.labeled_before, picks=none if sel is None else sel.indices,
                  pruned=none if sel is None else sel.pruned, true_label=true_label, predicted=predicted,
                  gain=None if sel is None else sel.scores, gain_name=score_name(sel), title=title, height=height,
                  pick_numbers=pick_numbers)
    if is_regression(dataset):
        by_pred = colour_by == COLOUR_PRED
        return plots.pool_map(xy, np.zeros(len(dataset.y), np.int64), [], confidence=None,
                              values=np.asarray(rr.predictions if by_pred else y, dtype=np.float64),
                              value_range=value_range(dataset), value_name="prediction" if by_pred else "true value",
                              **common)
    colour = np.asarray(y if colour_by == COLOUR_TRUE else rr.predictions).astype(np.int64)
    return plots.pool_map(xy, colour, list(dataset.classes), confidence=rr.confidence, **common)


def initial_map(dataset: Any, labeled: np.ndarray, xy: np.ndarray, title: str, height: int = 520) -> go.Figure:
    """The pool before round 0: coloured by true class (regression: by true value), the initial labeled
    set as black squares; no predictions yet."""
    none = np.zeros(0, np.int64)
    common = dict(labeled=labeled, picks=none, pruned=none, true_label=label_texts(dataset, dataset.y),
                  predicted=["–"] * len(dataset.y), confidence=None, gain=None, title=title, height=height)
    if is_regression(dataset):
        return plots.pool_map(xy, np.zeros(len(dataset.y), np.int64), [], values=np.asarray(dataset.y, np.float64),
                              value_range=value_range(dataset), value_name="true value", **common)
    return plots.pool_map(xy, np.asarray(dataset.y).astype(np.int64), list(dataset.classes), **common)


def picks_along_target(dataset: Any, rr: RoundResult, height: int = 300) -> go.Figure:
    """Regression: the pool's true values as a histogram (labeled before the round / picked / unlabeled)
    with the round's picks as numbered stars along the value axis."""
    sel = rr.selection
    return plots.target_histogram(np.asarray(dataset.y, dtype=np.float64), rr.labeled_before,
                                  None if sel is None else sel.indices, x_title="true value (target)",
                                  title=f"round {rr.round}", height=height)


def target_preview(dataset: Any, height: int = 260) -> go.Figure:
    """Regression: the pool's target values as one histogram (Setup's preview)."""
    return plots.target_histogram(np.asarray(dataset.y, dtype=np.float64), None, x_title="target value",
                                  title="Pool target values", height=height)


def compare_map(dataset: Any, xy: np.ndarray, picks: dict, labeled: np.ndarray, cols: int = 3) -> go.Figure:
    """The Compare page's first picks side by side, the pool coloured by class (regression: true value)."""
    if is_regression(dataset):
        return plots.picks_side_by_side(xy, np.zeros(len(dataset.y), np.int64), picks, labeled, cols=cols,
                                        values=np.asarray(dataset.y, dtype=np.float64))
    return plots.picks_side_by_side(xy, np.asarray(dataset.y).astype(np.int64), picks, labeled, cols=cols)


def objective_figure(rr: RoundResult, height: int = 320) -> Optional[go.Figure]:
    """BAIT's objective along the greedy steps of the round's selection; None without one."""
    sel = rr.selection
    if sel is None or not sel.objective.size:
        return None
    return plots.objective_trajectory(sel.objective, sel.n_forward, title=f"round {rr.round}", height=height)


def learning_curve_so_far(rounds: Sequence[RoundResult], upto: int, height: int = 320) -> go.Figure:
    """The learning curve of rounds[:upto + 1], the last one highlighted, on axes that fit the whole
    run, so that the curve grows in place as the rounds go by."""
    xs = np.array([r.n_labeled for r in rounds], dtype=np.float64)
    ys = np.array([r.metric for r in rounds], dtype=np.float64)
    upto = int(min(max(upto, 0), len(rounds) - 1))
    fig = plots.learning_curve(xs[:upto + 1], ys[:upto + 1], rounds[upto].metric_name, current=upto, height=height)
    finite = ys[np.isfinite(ys)]
    if xs.size:
        pad_x = max(1.0, 0.04 * (xs.max() - xs.min()))
        fig.update_xaxes(range=[xs.min() - pad_x, xs.max() + pad_x])
    if finite.size:
        pad_y = max(0.02 * max(abs(finite.max()), 1e-9), 0.06 * (finite.max() - finite.min()))
        fig.update_yaxes(range=[finite.min() - pad_y, finite.max() + pad_y])
    return fig


def highlight_point(fig: go.Figure, xy: np.ndarray, index: int, name: str = "labeling now") -> go.Figure:
    """`fig` (a pool map of `xy` (N, 2)) with a big red ring around point `index` (the point a person is
    labeling), as a trace named `name`; returned for chaining. IndexError for an index outside 0..N−1."""
    x, y = np.asarray(xy, dtype=np.float64)[int(index)]
    fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name=name, hoverinfo="name", showlegend=False,
                             marker=dict(symbol="circle-open", size=30, color="crimson", line=dict(width=3))))
    return fig


INSPECTED_PREFIX = "inspected"   # the name of the ring around the inspected point starts with this


def inspect_ring(fig: go.Figure, xy: np.ndarray, index: int) -> go.Figure:
    """`fig` (a pool map of `xy` (N, 2)) with a black ring in a white halo around point `index` (the
    point the Inspect section shows), as two WebGL traces drawn over the points: the ring, named
    "inspected: point <index>", and its halo, "inspected (halo)". Distinct from highlight_point's red
    "labeling now" ring. Both carry the index in customdata[0] and take no hover, so a click there
    still lands on the point. Returned for chaining. IndexError for an index outside 0..N−1."""
    i = int(index)
    if i < 0:
        raise IndexError(f"point {i} is not on the map")
    x, y = np.asarray(xy, dtype=np.float64)[i]
    for name, colour, width in ((f"{INSPECTED_PREFIX} (halo)", "white", 7), (f"{INSPECTED_PREFIX}: point {i}", "black", 3)):
        fig.add_trace(go.Scattergl(x=[x], y=[y], mode="markers", name=name, customdata=[[i]], hoverinfo="skip",
                                   showlegend=False,
                                   marker=dict(symbol="circle-open", size=26, color=colour, line=dict(width=width))))
    return fig
