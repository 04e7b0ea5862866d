"""Plotly figure builders shared by the app, the CLI and the benchmarks (no streamlit here)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from .loop import RunRecord

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def group_by_strategy(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        out[r.config.strategy].append(r)
    return dict(out)


def curve_stats(records: Sequence[RunRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std of the metric per round over seeds, at the mean label count.  (R,) each"""
    n = min(len(r.rounds) for r in records)
    xs = np.array([r.learning_curve()[0][:n] for r in records], dtype=np.float64)   # (S, R)
    ys = np.array([r.learning_curve()[1][:n] for r in records], dtype=np.float64)   # (S, R)
    return xs.mean(0), ys.mean(0), ys.std(0)


def auc_table(records: Iterable[RunRecord]) -> list[dict]:
    """One row per strategy: mean ± std of the learning-curve AUC over seeds, best first."""
    records = list(records)
    rows = []
    for name, recs in group_by_strategy(records).items():
        aucs = np.array([r.auc() for r in recs])
        rows.append({"strategy": name, "runs": len(recs), "auc_mean": float(aucs.mean()),
                     "auc_std": float(aucs.std()), "final_mean": float(np.mean([r.rounds[-1].metric for r in recs]))})
    higher_better = not any(r.rounds and r.rounds[0].metric_name == "rmse" for r in records)
    return sorted(rows, key=lambda r: -r["auc_mean"] if higher_better else r["auc_mean"])


def learning_curves(records: Iterable[RunRecord], title: str = "") -> go.Figure:
    """Test metric against number of labels: mean line and ± std band per strategy."""
    records = list(records)
    fig = go.Figure()
    for i, (name, recs) in enumerate(group_by_strategy(records).items()):
        colour = PALETTE[i % len(PALETTE)]
        x, m, s = curve_stats(recs)
        if len(recs) > 1:
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([m + s, (m - s)[::-1]]),
                                     fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=name))
        fig.add_trace(go.Scatter(x=x, y=m, mode="lines+markers", name=f"{name} (n={len(recs)})",
                                 line=dict(color=colour), legendgroup=name))
    metric = records[0].rounds[0].metric_name if records and records[0].rounds else "metric"
    fig.update_layout(title=title, xaxis_title="number of labels", yaxis_title=f"test {metric}",
                      template="plotly_white", legend=dict(orientation="h", y=-0.2))
    return fig
