"""Plotly figure builders shared by the app, the CLI and the benchmarks (no streamlit here).

Plotly renders a subset of HTML in titles, names, axis categories and hover texts (``<a href>`` is a
clickable link), so every string that may come from a file (class, strategy and metric names, titles,
devices, hover labels) is HTML-escaped with :func:`bait_core.viz.text.plot_text` here."""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from bait_core.records.metrics import common_metric, find_metric
from bait_core.records.run_record import RunRecord
from bait_core.viz.text import plot_text as _t   # every file-provided string shown in a figure goes through this

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


def group_by_strategy(records: Iterable[RunRecord]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = defaultdict(list)
    for r in records:
        out[r.config.strategy].append(r)
    return dict(out)


def _sample_std(a: np.ndarray) -> np.ndarray:
    """Sample standard deviation over axis 0 (ddof = 1: the seeds are a sample); NaN for one seed."""
    if a.shape[0] < 2:
        return np.full(a.shape[1:], np.nan)
    return a.std(0, ddof=1)


def curve_stats(records: Sequence[RunRecord]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean label count, mean metric and its sample std (ddof = 1; NaN for one seed) per round over
    seeds.  (R,) each"""
    n = min(len(r.rounds) for r in records)
    xs = np.array([r.learning_curve()[0][:n] for r in records], dtype=np.float64)   # (S, R)
    ys = np.array([r.learning_curve()[1][:n] for r in records], dtype=np.float64)   # (S, R)
    return xs.mean(0), ys.mean(0), _sample_std(ys)


def auc_table(records: Iterable[RunRecord]) -> list[dict]:
    """One row per strategy: mean ± sample std (ddof = 1; NaN for a single seed) of the learning-curve
    AUC over seeds, best first."""
    records = list(records)
    rows = []
    for name, recs in group_by_strategy(records).items():
        aucs = np.array([r.auc() for r in recs])
        rows.append({"strategy": name, "runs": len(recs), "auc_mean": float(aucs.mean()),
                     "auc_std": float(_sample_std(aucs)), "final_mean": float(np.mean([r.rounds[-1].metric for r in recs]))})
    with_rounds = [r.rounds[0].metric_name for r in records if r.rounds]
    higher_better = common_metric(with_rounds).higher_is_better if with_rounds else True
    return sorted(rows, key=lambda r: -r["auc_mean"] if higher_better else r["auc_mean"])


def learning_curves(records: Iterable[RunRecord], title: str = "") -> go.Figure:
    """Test metric against number of labels: mean line and ± sample-std (ddof = 1) band per strategy."""
    records = list(records)
    fig = go.Figure()
    for i, (name, recs) in enumerate(group_by_strategy(records).items()):
        colour = PALETTE[i % len(PALETTE)]
        x, m, s = curve_stats(recs)
        if len(recs) > 1:
            fig.add_trace(go.Scatter(x=np.concatenate([x, x[::-1]]), y=np.concatenate([m + s, (m - s)[::-1]]),
                                     fill="toself", fillcolor=colour, opacity=0.15, line=dict(width=0),
                                     hoverinfo="skip", showlegend=False, legendgroup=_t(name)))
        fig.add_trace(go.Scatter(x=x, y=m, mode="lines+markers", name=_t(f"{name} (n={len(recs)})"),
                                 line=dict(color=colour), legendgroup=_t(name)))
    metric = records[0].rounds[0].metric_name if records and records[0].rounds else "metric"
    fig.update_layout(title=_t(title), xaxis_title="number of labels", yaxis_title=_t(metric_title(metric)),
                      template="plotly_white", legend=dict(orientation="h", y=-0.2))
    return fig


# ----------------------------------------------------------------------------- explorer views
# Plain arrays in, one go.Figure out. N pool points, B picks, R rounds.

_MARGIN = dict(l=10, r=10, t=36, b=10)


LARGE_FONT_PX = 18   # presentation mode's type size (large_fonts): legible on a projector at 1280×720


def large_fonts(fig: go.Figure, size: int = LARGE_FONT_PX) -> go.Figure:
    """`fig` in type for a projector, changed in place and returned: the base font, tick labels, axis
    titles, legend, hover labels, marker texts and the map's pick-number annotations at `size` px, the title at
    `size` + 4 px, and the top margin grown to hold it. Works on any builder's figure here (one layout,
    any number of axes). ValueError for a size below 8 px."""
    if size < 8:
        raise ValueError(f"A font size of {size} px is too small to read; use 8 px or more.")
    top = max(int(fig.layout.margin.t or 0), 2 * size + 12) if fig.layout.title.text else fig.layout.margin.t
    fig.update_layout(font=dict(size=size), title_font=dict(size=size + 4), legend=dict(font=dict(size=size)),
                      hoverlabel=dict(font=dict(size=size)), margin=dict(t=top))
    fig.update_xaxes(tickfont=dict(size=size), title_font=dict(size=size))
    fig.update_yaxes(tickfont=dict(size=size), title_font=dict(size=size))
    fig.update_traces(textfont=dict(size=size), selector=lambda t: "text" in (getattr(t, "mode", "") or ""))
    fig.update_annotations(font=dict(size=size), selector=dict(name=PICK_NUMBER_NAME))
    return fig


def short_number(v: float | None, digits: int = 3) -> str:
    """A number for hover texts, captions and metrics: `digits` significant digits, "–" for None,
    NaN and ±inf (e.g. 0.012345 → "0.0123")."""
    return "–" if v is None or not np.isfinite(v) else f"{v:.{digits}g}"


def pool_map(xy: np.ndarray, colour: np.ndarray, class_names: Sequence[str], *, labeled: np.ndarray,
             picks: np.ndarray, pruned: np.ndarray, true_label: Sequence[str], predicted: Sequence[str],
             confidence: np.ndarray | None, gain: np.ndarray | None, title: str = "",
             height: int = 560, values: np.ndarray | None = None,
             value_range: tuple[float, float] | None = None, value_name: str = "value",
             gain_name: str = "score", pick_numbers: bool = True) -> go.Figure:
    """The pool on a 2-D layout.

    xy (N, 2); colour (N,) class index per point (-1: no class); labeled (N,) bool; picks (B,) indices in
    pick order (gold stars); pruned (R,) indices (open circles). Every trace's customdata row starts
    with the dataset index, so a click, box or lasso selection on any trace maps back to points.
    pick_numbers: the pick order as one layout annotation per star (name PICK_NUMBER_NAME): a bold
    number in a white box with a black border, offset to the top right of the star so the star stays
    visible (another corner when that would cover an earlier pick's number: pick_label_sides), above
    the WebGL points so it reads over any colour; clicks pass through to the points.
    Drag mode "pan": with Streamlit's point selection a click then selects the point under it (in the
    box or lasso drag modes Streamlit's chart ignores clicks); box and lasso stay in the mode bar.

    Regression: `values` (N,) colours the points on a continuous scale instead of `colour` (NaN: grey,
    "no value"), `value_range` (lo, hi) fixes the scale (pass the same range for true values and
    predictions so the two colourings compare), `value_name` titles the colour bar. The hover then
    reads "true value" / "prediction" (the texts given) and shows no confidence; customdata[5] holds
    the coloured value as text. `gain_name` names `gain` in the hover text (the strategy's
    StrategySpec.score_name, e.g. "entropy"); points without a value read "–".
    """
    xy = np.asarray(xy, dtype=np.float64)
    N = xy.shape[0]
    idx = np.arange(N)
    conf = np.full(N, np.nan) if confidence is None else np.asarray(confidence, dtype=np.float64)
    gn = np.full(N, np.nan) if gain is None else np.asarray(gain, dtype=np.float64)
    custom = np.empty((N, 6), dtype=object)
    custom[:, 0] = idx
    custom[:, 1] = [_t(v) for v in true_label]
    custom[:, 2] = [_t(v) for v in predicted]
    custom[:, 3] = [short_number(c) for c in conf]
    custom[:, 4] = [short_number(g) for g in gn]
    fig = go.Figure()
    if values is not None:
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        custom[:, 5] = [short_number(v) for v in vals]
        hover = ("point %{customdata[0]}<br>true value: %{customdata[1]}<br>prediction: %{customdata[2]}"
                 "<br>" + _t(gain_name) + ": %{customdata[4]}<extra>%{fullData.name}</extra>")
        fin = np.isfinite(vals)
        lo, hi = value_range if value_range is not None else (
            (float(vals[fin].min()), float(vals[fin].max())) if fin.any() else (0.0, 1.0))
        if fin.any():
            fig.add_trace(go.Scattergl(
                x=xy[fin, 0], y=xy[fin, 1], mode="markers", name="pool", customdata=custom[fin],
                hovertemplate=hover,
                marker=dict(color=vals[fin], colorscale="Viridis", cmin=lo, cmax=hi, size=6, opacity=0.7,
                            showscale=True, colorbar=dict(title=dict(text=_t(value_name)), thickness=14))))
        if (~fin).any():
            fig.add_trace(go.Scattergl(
                x=xy[~fin, 0], y=xy[~fin, 1], mode="markers", name="no value", customdata=custom[~fin],
                hovertemplate=hover, marker=dict(color="#bbbbbb", size=6, opacity=0.55)))
    else:
        custom[:, 5] = ""
        hover = ("point %{customdata[0]}<br>label: %{customdata[1]}<br>prediction: %{customdata[2]}"
                 "<br>confidence: %{customdata[3]}<br>" + _t(gain_name) + ": %{customdata[4]}<extra>%{fullData.name}</extra>")
        colour = np.asarray(colour)
        groups = [(k, _t(name)) for k, name in enumerate(class_names)] or [(0, "pool")]
        if not len(class_names):
            colour = np.zeros(N, dtype=np.int64)
        if (colour < 0).any():
            groups.append((-1, "no label"))
        for k, name in groups:
            m = colour == k
            if not m.any():
                continue
            fig.add_trace(go.Scattergl(
                x=xy[m, 0], y=xy[m, 1], mode="markers", name=name, customdata=custom[m], hovertemplate=hover,
                marker=dict(color="#bbbbbb" if k < 0 else PALETTE_10[k % len(PALETTE_10)], size=6, opacity=0.55)))
    lab = np.asarray(labeled, dtype=bool)
    if lab.any():
        fig.add_trace(go.Scattergl(
            x=xy[lab, 0], y=xy[lab, 1], mode="markers", name="labeled", customdata=custom[lab],
            hovertemplate=hover, marker=dict(color="black", size=7, symbol="square", opacity=0.85)))
    pr = np.asarray(pruned, dtype=np.int64)
    if pr.size:
        fig.add_trace(go.Scattergl(
            x=xy[pr, 0], y=xy[pr, 1], mode="markers", name="pruned (added, then removed)",
            customdata=custom[pr], hovertemplate=hover,
            marker=dict(color="dimgray", size=14, symbol="circle-open", line=dict(width=2))))
    pk = np.asarray(picks, dtype=np.int64)
    if pk.size:
        fig.add_trace(go.Scattergl(
            x=xy[pk, 0], y=xy[pk, 1], mode="markers", name="picked this round", customdata=custom[pk],
            hovertemplate=hover, marker=dict(color="gold", size=15, symbol="star", line=dict(width=1, color="black"))))
        if pick_numbers:     # annotations: drawn above the WebGL points (an SVG text trace would be below them)
            for k, (j, (xa, ya)) in enumerate(zip(pk.tolist(), pick_label_sides(xy, pk, height))):
                fig.add_annotation(x=float(xy[j, 0]), y=float(xy[j, 1]), text=str(k + 1), name=PICK_NUMBER_NAME,
                                   showarrow=False, xanchor=xa, yanchor=ya, xshift=6 if xa == "left" else -6,
                                   yshift=5 if ya == "bottom" else -5,
                                   font=dict(size=14, color="black", weight="bold"), bgcolor="rgba(255,255,255,0.85)",
                                   bordercolor="black", borderwidth=1, borderpad=1)
    fig.update_layout(title=_t(title), height=height, margin=_MARGIN, template="plotly_white", dragmode="pan",
                      legend=dict(orientation="h", y=-0.05), xaxis=dict(showticklabels=False, title=None),
                      yaxis=dict(showticklabels=False, title=None, scaleanchor=None))
    return fig


PICK_NUMBER_NAME = "pick number"   # the `name` of pool_map's pick-number annotations


def pick_label_sides(xy: np.ndarray, picks: np.ndarray, height: int = 560,
                     width_px: float = 600.0) -> list[tuple[str, str]]:
    """Where each pick's number goes around its star, in pick order: (xanchor, yanchor) of the label,
    ("left", "bottom") = top right of the star, unless that label would overlap an earlier pick's; then
    top left, bottom right, bottom left (the first free one; top right when none is). Overlap is judged
    in approximate pixels: the points' extent spread over `width_px` × (height − 100) pixels, a label
    9 px per digit + 8 wide and 20 high, 6 / 5 px from the star. xy (N, 2); picks (B,) indices."""
    pts = np.asarray(xy, dtype=np.float64)
    pk = np.asarray(picks, dtype=np.int64).reshape(-1)
    if not pk.size:
        return []
    span = np.ptp(pts, axis=0) if pts.size else np.ones(2)
    scale = np.array([width_px, max(height - 100, 100)]) / np.where(span > 0, span, 1.0)
    placed: list[tuple[float, float, float, float]] = []
    out = []
    sides = (("left", "bottom"), ("right", "bottom"), ("left", "top"), ("right", "top"))
    for k, j in enumerate(pk.tolist()):
        px, py = pts[j] * scale
        w, h = 9.0 * len(str(k + 1)) + 8.0, 20.0
        choice, box = None, None
        for xa, ya in sides:
            x0 = px + 6 if xa == "left" else px - 6 - w
            y0 = py + 5 if ya == "bottom" else py - 5 - h
            b = (x0, y0, x0 + w, y0 + h)
            if not any(b[0] < q[2] and q[0] < b[2] and b[1] < q[3] and q[1] < b[3] for q in placed):
                choice, box = (xa, ya), b
                break
        if choice is None:
            choice = sides[0]
            box = (px + 6, py + 5, px + 6 + w, py + 5 + h)
        placed.append(box)
        out.append(choice)
    return out


PALETTE_VIRIDIS = ("#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58",
                   "#b5de2b", "#fde725")   # Viridis in 10 steps: fixed colours for faint regression maps
PALETTE_10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf")


def objective_trajectory(objective: np.ndarray, n_forward: int, title: str = "", height: int = 320) -> go.Figure:
    """BAIT's tr(M⁻¹F) per greedy step: objective[:T+1] forward (solid), objective[T:] backward (dashed)."""
    obj = np.asarray(objective, dtype=np.float64)
    T = int(n_forward)
    fig = go.Figure()
    if obj.size:
        T = min(T, obj.size - 1)
        fig.add_trace(go.Scatter(x=np.arange(T + 1), y=obj[:T + 1], mode="lines+markers", name="forward (add)",
                                 line=dict(color=PALETTE[0])))
        if obj.size > T + 1:
            fig.add_trace(go.Scatter(x=np.arange(T, obj.size), y=obj[T:], mode="lines+markers",
                                     name="backward (prune)", line=dict(color=PALETTE[1], dash="dash")))
    fig.update_layout(title=_t(title), height=height, margin=_MARGIN, template="plotly_white",
                      xaxis_title="greedy step", yaxis_title="tr(M⁻¹F)", legend=dict(orientation="h", y=-0.3))
    return fig


def objective_by_round(rounds: np.ndarray, end_objective: np.ndarray, current: int | None = None,
                       height: int = 240) -> go.Figure:
    """The objective at the end of each round's selection (NaN where a round had none)."""
    x = np.asarray(rounds)
    y = np.asarray(end_objective, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", name="end of round", line=dict(color=PALETTE[0])))
    if current is not None and current in set(x.tolist()):
        j = int(np.flatnonzero(x == current)[0])
        fig.add_trace(go.Scatter(x=[x[j]], y=[y[j]], mode="markers", name="shown round",
                                 marker=dict(size=14, color="gold", line=dict(width=1, color="black"))))
    fig.update_layout(height=height, margin=_MARGIN, template="plotly_white", xaxis_title="round",
                      yaxis_title="final tr(M⁻¹F)", showlegend=False, xaxis=dict(dtick=1))
    return fig


def metric_title(metric_name: str) -> str:
    """The axis / column title of a test metric: "test RMSE — lower is better" for regression,
    "test accuracy" for classification, "test <name>" otherwise (plain text, not escaped)."""
    spec = find_metric(metric_name)
    if spec is not None and not spec.higher_is_better:
        return f"test {spec.label} — {spec.better}"
    return f"test {metric_name if spec is None else spec.label}"


def learning_curve(n_labels: np.ndarray, metric: np.ndarray, metric_name: str, current: int | None = None,
                   height: int = 320) -> go.Figure:
    """Test metric vs number of labels, one point per round; `current` (a position) is highlighted."""
    x = np.asarray(n_labels)
    y = np.asarray(metric, dtype=np.float64)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines+markers", name=_t(metric_title(metric_name)),
                               line=dict(color=PALETTE[2])))
    if current is not None and 0 <= current < x.size:
        fig.add_trace(go.Scatter(x=[x[current]], y=[y[current]], mode="markers", name="shown round",
                                 marker=dict(size=14, color="gold", line=dict(width=1, color="black"))))
    fig.update_layout(height=height, margin=_MARGIN, template="plotly_white", xaxis_title="number of labels",
                      yaxis_title=_t(metric_title(metric_name)), showlegend=False)
    return fig


def class_bars(class_names: Sequence[str], counts: Sequence[float], title: str = "", y_title: str = "points",
               height: int = 260) -> go.Figure:
    """One bar per class."""
    fig = go.Figure(go.Bar(x=[_t(c) for c in class_names], y=list(counts), marker_color=PALETTE[0]))
    fig.update_layout(title=_t(title), height=height, margin=_MARGIN, template="plotly_white",
                      xaxis_title="class", yaxis_title=y_title, xaxis=dict(type="category"))
    return fig


def target_histogram(values: np.ndarray, labeled: np.ndarray | None, picks: np.ndarray | None = None, *,
                     title: str = "", x_title: str = "target value", bins: int = 30,
                     height: int = 300) -> go.Figure:
    """Regression: the pool's target values as a histogram, stacked by status, with the picks marked.

    values (N,) target per point (NaN: no value, left out); labeled (N,) bool: labeled before the round
    (None: one "pool points" series, e.g. before a run); picks (B,) indices in pick order. Bars (shared bins): "labeled", "picked this round" (gold) and
    "unlabeled"; below the axis, a rug of gold stars at each pick's value, numbered in pick order, with
    the point index in customdata[0] and the value in the hover.
    """
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    lab = np.zeros(v.size, dtype=bool) if labeled is None else np.asarray(labeled, dtype=bool).reshape(-1)
    pk = np.zeros(0, np.int64) if picks is None else np.asarray(picks, dtype=np.int64).reshape(-1)
    is_pick = np.zeros(v.size, dtype=bool)
    is_pick[pk] = True
    fin = np.isfinite(v)
    edges = np.histogram_bin_edges(v[fin], bins=max(1, int(bins))) if fin.any() else np.array([0.0, 1.0])
    centres, widths = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
    fig = go.Figure()
    series = (("labeled", lab & ~is_pick, "#333333"), ("picked this round", is_pick & ~lab, "gold"),
              ("unlabeled", ~lab & ~is_pick, "#9ecae1"))
    if labeled is None and not pk.size:
        series = (("pool points", np.ones(v.size, dtype=bool), PALETTE[0]),)
    for name, m, colour in series:
        counts = np.histogram(v[fin & m], bins=edges)[0]
        if name == "picked this round" and not counts.sum():
            continue
        fig.add_trace(go.Bar(x=centres, y=counts, width=widths, name=name, marker_color=colour,
                             marker_line=dict(width=0.5, color="white"),
                             customdata=np.stack([edges[:-1], edges[1:]], axis=1),
                             hovertemplate=f"{name}: %{{y}} point(s) with values %{{customdata[0]:.3g}}–"
                                           f"%{{customdata[1]:.3g}}<extra></extra>"))
    pk_fin = pk[np.isfinite(v[pk])] if pk.size else pk
    if pk_fin.size:
        order = {int(j): k + 1 for k, j in enumerate(pk.tolist())}
        fig.add_trace(go.Scatter(
            x=v[pk_fin], y=np.zeros(pk_fin.size), mode="markers", name="picks (rug)", yaxis="y2",
            customdata=np.stack([pk_fin, [order[int(j)] for j in pk_fin], [short_number(x) for x in v[pk_fin]]], axis=1),
            hovertemplate="pick #%{customdata[1]}: point %{customdata[0]}, value %{customdata[2]}<extra></extra>",
            marker=dict(color="gold", size=12, symbol="star", line=dict(width=1, color="black")),
            showlegend=False))
    fig.update_layout(title=_t(title), height=height, margin=_MARGIN, template="plotly_white", barmode="stack",
                      bargap=0.02, xaxis=dict(title=_t(x_title)), yaxis=dict(title="pool points"),
                      legend=dict(orientation="h", y=-0.3))
    if pk_fin.size:          # the rug: a thin strip under the bars, on the x axis
        fig.update_layout(xaxis=dict(anchor="y2"), yaxis=dict(domain=[0.14, 1.0]),
                          yaxis2=dict(domain=[0.0, 0.1], showticklabels=False, showgrid=False, zeroline=False,
                                      range=[-1, 1], anchor="x"))
    return fig


# ----------------------------------------------------------------------------- comparisons

def penalty_heatmap(strategies: Sequence[str], matrix: np.ndarray, column_means: np.ndarray, *,
                    n_checkpoints: int, n_seeds: int, height: int = 420) -> go.Figure:
    """The pairwise penalty matrix (S, S) as a heatmap, with a bottom row of column means.

    Cell (row i, column j): share of checkpoints where i is significantly better than j."""
    S = len(strategies)
    names = [_t(s) for s in strategies]
    z = np.vstack([np.asarray(matrix, dtype=np.float64), np.asarray(column_means, dtype=np.float64)[None]])
    z_show = z.copy()
    z_show[np.arange(S), np.arange(S)] = np.nan                     # a strategy against itself
    rows = names + ["column mean"]
    text = [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in z_show]
    fig = go.Figure(go.Heatmap(
        z=z_show, x=names, y=rows, text=text, texttemplate="%{text}", colorscale="Blues", zmin=0, zmax=1,
        colorbar=dict(title="share"), hovertemplate="%{y} better than %{x}: %{z:.2f}<extra></extra>"))
    fig.update_layout(height=height, margin=_MARGIN, template="plotly_white",
                      title=f"{n_checkpoints} checkpoint(s), paired t-tests over {n_seeds} seed(s)",
                      xaxis=dict(title="… than the column's", side="top", type="category", automargin=True),
                      yaxis=dict(title="row: better …", autorange="reversed", type="category", automargin=True))
    return fig


def picks_side_by_side(xy: np.ndarray, colour: np.ndarray, picks: dict, labeled: np.ndarray, *,
                       titles: dict | None = None, cols: int = 3, panel_height: int = 330,
                       values: np.ndarray | None = None) -> go.Figure:
    """One small map per strategy: the pool (coloured by class, faint), the shared labeled set
    (black squares) and that strategy's picks (gold stars). picks: name → (B,) indices.
    Regression: `values` (N,) colours the pool on a continuous scale (NaN: grey) instead of `colour`."""
    from plotly.subplots import make_subplots

    names = list(picks)
    cols = max(1, min(cols, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[_t((titles or {}).get(n, n)) for n in names],
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    xy = np.asarray(xy, dtype=np.float64)
    colour = np.asarray(colour)
    lab = np.asarray(labeled, dtype=bool)
    if values is not None:
        vals = np.asarray(values, dtype=np.float64).reshape(-1)
        fin = np.isfinite(vals)
        lo, hi = (float(vals[fin].min()), float(vals[fin].max())) if fin.any() else (0.0, 1.0)
        scale = [PALETTE_VIRIDIS[int(round((len(PALETTE_VIRIDIS) - 1) * (x - lo) / (hi - lo or 1.0)))]
                 if np.isfinite(x) else "#bbbbbb" for x in vals]
        pool_colours = scale
    else:
        pool_colours = [PALETTE_10[int(c) % len(PALETTE_10)] if c >= 0 else "#bbbbbb" for c in colour]
    for k, name in enumerate(names):
        r, c = k // cols + 1, k % cols + 1
        pk = np.asarray(picks[name], dtype=np.int64)
        fig.add_trace(go.Scattergl(x=xy[:, 0], y=xy[:, 1], mode="markers", showlegend=False, hoverinfo="skip",
                                   marker=dict(color=pool_colours, size=4, opacity=0.3)), row=r, col=c)
        fig.add_trace(go.Scattergl(x=xy[lab, 0], y=xy[lab, 1], mode="markers", name="labeled", showlegend=k == 0,
                                   legendgroup="labeled", marker=dict(color="black", size=6, symbol="square")),
                      row=r, col=c)
        fig.add_trace(go.Scattergl(x=xy[pk, 0], y=xy[pk, 1], mode="markers", name="picked", showlegend=k == 0,
                                   legendgroup="picked", customdata=[[int(i), _t(name)] for i in pk],
                                   hovertemplate="%{customdata[1]}: point %{customdata[0]}<extra></extra>",
                                   marker=dict(color="gold", size=12, symbol="star", line=dict(width=1, color="black"))),
                      row=r, col=c)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    # the top margin clears the chart's mode bar, which would otherwise sit over the last panel's title
    fig.update_layout(height=panel_height * rows, margin=dict(_MARGIN, t=64), template="plotly_white",
                      legend=dict(orientation="h", y=-0.05))
    return fig


def round_times(rounds: Sequence[int], train: Sequence[float], outputs: Sequence[float], select: Sequence[float],
                device: str = "", current: int | None = None, height: int = 260) -> go.Figure:
    """Stacked bars per round: seconds spent training, computing outputs and selecting."""
    x = [str(r) for r in rounds]
    fig = go.Figure()
    for name, vals, colour in (("train", train, PALETTE[0]), ("outputs", outputs, PALETTE[2]),
                               ("select", select, PALETTE[3])):
        fig.add_trace(go.Bar(x=x, y=list(vals), name=name, marker_color=colour,
                             hovertemplate=f"round %{{x}}: {name} %{{y:.3f}} s<extra></extra>"))
    if current is not None and 0 <= current < len(x):
        total = float(train[current]) + float(outputs[current]) + float(select[current])
        fig.add_annotation(x=x[current], y=total, text="shown", showarrow=True, arrowhead=2, ay=-24)
    fig.update_layout(barmode="stack", height=height, margin=_MARGIN, template="plotly_white",
                      title=_t(f"device: {device}") if device else "", xaxis_title="round", yaxis_title="seconds",
                      legend=dict(orientation="h", y=-0.3), xaxis=dict(type="category"))
    return fig
