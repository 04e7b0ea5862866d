"""View helpers shared by pages: the figures of one recorded round of a run (map, objective,
learning curve so far) as plotly figures, and the label texts they show. No session state here.

Shapes: N pool points, B picks.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from bait_core import plots
from bait_core.loop import RoundResult


FEATURE_PREFIX = "x: "   # every dataset feature column shown next to the app's own columns starts with this


def feature_columns(names: Sequence[str]) -> list[str]:
    """The dataset's feature names as table column labels in their own namespace: "x: name", made unique
    ("x: a", "x: a (2)"; an empty name becomes "x: (column j)"), so they never clash with the app's own
    columns (order, index, gain, label, …) or with each other.  (F,)"""
    out: list[str] = []
    seen: set[str] = set()
    for j, raw in enumerate(names):
        base = FEATURE_PREFIX + (str(raw) if str(raw).strip() else f"(column {j})")
        col, k = base, 1
        while col in seen:
            k += 1
            col = f"{base} ({k})"
        seen.add(col)
        out.append(col)
    return out


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


def round_map(dataset: Any, rr: RoundResult, xy: np.ndarray, title: str, colour_by: str = "true class",
              height: int = 520, true_label: Optional[Sequence[str]] = None,
              predicted: Optional[Sequence[str]] = None) -> go.Figure:
    """The pool map of round `rr`: points coloured by true class (or prediction), the labeled set as
    black squares, the round's picks as numbered gold stars, pruned candidates as grey rings.
    true_label / predicted: the hover texts when the caller already has them (label_texts)."""
    sel = rr.selection
    is_clf = dataset.task == "classification"
    if is_clf:
        colour = np.asarray(dataset.y if colour_by == "true class" else rr.predictions).astype(np.int64)
    else:
        colour = np.zeros(len(dataset.y), dtype=np.int64)
    none = np.zeros(0, np.int64)
    return plots.pool_map(xy, colour, list(dataset.classes), labeled=rr.labeled_before,
                          picks=none if sel is None else sel.indices, pruned=none if sel is None else sel.pruned,
                          true_label=label_texts(dataset, dataset.y) if true_label is None else true_label,
                          predicted=label_texts(dataset, rr.predictions) if predicted is None else predicted,
                          confidence=rr.confidence, gain=None if sel is None else sel.scores, title=title,
                          height=height)


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
