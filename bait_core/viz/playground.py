"""The Learn page's figures of a 2-D playground round (plain arrays and a
:class:`~bait_core.learning.playground.PlaygroundRound` in, one Plotly figure out; no streamlit).

* :func:`bait_animation`     decision background, labeled points, pool coloured by Fisher gain, one
                             animation frame per greedy step (forward, then backward pruning).
* :func:`comparison_figure`  the other strategy's picks on the same background and labeled set.
* :func:`decision_background` the background traces alone (the model's class probabilities on the grid).
* :func:`class_colours`, :func:`frame_names`: the colours and frame names the figures share.

Shapes: N pool points, K classes, G grid points per axis, B batch, T forward steps, R backward steps.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import plotly.graph_objects as go

from bait_core.learning.playground import PlaygroundRound
from bait_core.viz.plots import short_number
from bait_core.selection.base import Selection

__all__ = ["PALETTE_10", "GAIN_SCALE", "class_colours", "frame_names", "decision_background", "bait_animation",
           "comparison_figure"]

# --------------------------------------------------------------------------------------------- figures

PALETTE_10 = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
              "#bcbd22", "#17becf")
GAIN_SCALE = "Viridis"
_MARGIN = dict(l=10, r=10, t=120, b=10)
_TITLE = dict(font=dict(size=14, weight=600), x=0.01, xanchor="left", y=0.985, yanchor="top")


def class_colours(K: int) -> list[str]:
    """One hex colour per class (the app's 10-colour palette)."""
    return [PALETTE_10[k % len(PALETTE_10)] for k in range(K)]


def _mix(hex_colour: str, amount: float) -> str:
    """`hex_colour` blended with white: amount 0 → white, 1 → the colour. 'rgb(r,g,b)'."""
    h = hex_colour.lstrip("#")
    rgb = [int(h[i:i + 2], 16) for i in (0, 2, 4)]
    return "rgb({},{},{})".format(*(int(round(255 + (c - 255) * amount)) for c in rgb))


def _fmt(v: float) -> str:
    return short_number(v, 4)


def decision_background(grid_x: np.ndarray, grid_y: np.ndarray, grid_probs: np.ndarray,
                        class_names: Sequence[str]) -> list[go.BaseTraceType]:
    """The model's view of the plane: each grid cell in its predicted class's colour, paler where
    the model is less sure (white at 1/K, the palest shade of the class colour just above), plus
    the decision boundary as dark lines.

    The heatmap's z is k + c with k the predicted class and c ∈ [0, 1) the confidence rescaled from
    [1/K, 1]; the colour scale has one light-to-strong band per class.
    """
    P = np.asarray(grid_probs, dtype=np.float64)                                # (G, G, K)
    K = P.shape[-1]
    cols = class_colours(K)
    k = P.argmax(-1)                                                            # (G, G)
    pmax = P.max(-1)
    c = np.clip((pmax - 1.0 / K) / (1.0 - 1.0 / K), 0.0, 0.999)
    z = k + c
    scale: list = []
    for j in range(K):
        scale.append([j / K, _mix(cols[j], 0.08)])
        scale.append([(j + 1) / K - (1e-6 if j < K - 1 else 0.0), _mix(cols[j], 0.5)])
    names = [str(n) for n in class_names]
    text = np.vectorize(lambda kk, pp: f"{names[kk]}, p = {pp:.2f}")(k, pmax)
    traces: list[go.BaseTraceType] = [go.Heatmap(
        x=np.round(grid_x, 4), y=np.round(grid_y, 4), z=z.astype(np.float32), zmin=0, zmax=K, colorscale=scale,
        showscale=False, text=text, hovertemplate="model predicts %{text}<extra></extra>", name="background")]
    others = np.sort(P, axis=-1)
    for j in (range(K) if K > 2 else [0]):                   # margin of class j over the best other class
        best_other = np.where(k == j, others[..., -2], others[..., -1])
        traces.append(go.Contour(
            x=np.round(grid_x, 4), y=np.round(grid_y, 4), z=(P[..., j] - best_other).astype(np.float32),
            contours=dict(start=0, end=0, size=1, coloring="lines"),
            colorscale=[[0, "#333333"], [1, "#333333"]], line=dict(color="#333333", width=1.5, dash="dot"),
            showscale=False, hoverinfo="skip",
            name="decision boundary", showlegend=(j == 0)))
    return traces


def frame_names(sel: Selection) -> list[str]:
    """Animation frame names: "start", "+1" … "+T" (forward), "−1" … "−R" (backward)."""
    return (["start"] + [f"+{t}" for t in range(1, sel.n_forward + 1)]
            + [f"−{r}" for r in range(1, sel.pruned.size + 1)])


def _layout(fig: go.Figure, grid_x: np.ndarray, grid_y: np.ndarray, title: str, height: int) -> None:
    fig.update_layout(
        title=dict(text=title, **_TITLE), height=height, margin=_MARGIN, template="plotly_white",
        legend=dict(orientation="h", y=1.01, yanchor="bottom", x=0, font=dict(size=11)), hovermode="closest",
        xaxis=dict(range=[float(grid_x[0]), float(grid_x[-1])], showgrid=False, zeroline=False, title=None,
                   showticklabels=False),
        yaxis=dict(range=[float(grid_y[0]), float(grid_y[-1])], showgrid=False, zeroline=False, title=None,
                   showticklabels=False))


def _labeled_trace(xy: np.ndarray, y: np.ndarray, lab: np.ndarray, class_names: Sequence[str]) -> go.Scatter:
    cols = class_colours(len(class_names))
    idx = np.flatnonzero(lab)
    return go.Scatter(
        x=xy[idx, 0], y=xy[idx, 1], mode="markers", name="labeled (class colour)",
        customdata=np.stack([idx, [str(class_names[k]) for k in y[idx]]], axis=1),
        hovertemplate="point %{customdata[0]}<br>labeled: %{customdata[1]}<extra></extra>",
        marker=dict(symbol="square", size=8, color=[cols[k] for k in y[idx]], line=dict(width=1.2, color="black")))


def bait_animation(xy: np.ndarray, y: np.ndarray, class_names: Sequence[str], rnd: PlaygroundRound, *,
                   height: int = 640, frame_ms: int = 600, start_at_end: bool = True) -> go.Figure:
    """BAIT's greedy steps on the plane, one animation frame per step.

    xy (N, 2) raw coordinates of the pool, y (N,) true classes (shown for labeled points and in the
    hover). Traces: the decision background (static), the labeled points (static), then three
    animated traces: the pool (unlabeled before the round) coloured by Fisher gain, the points added
    so far (numbered stars, the newest one larger) and the pruned points (black ×).

    Frames: "start" (the gains of step 1, nothing added); "+t" (the gains Δ_t(x) at forward step t;
    star t is their argmax); "−r" (backward step r: the member whose removal raises tr(M⁻¹F) least
    is pruned). Marker colour = the gain divided by the step's largest gain (the hover gives the
    value itself); marker size grows with it too. The figure opens on the last frame.
    """
    sel = rnd.bait
    xy = np.asarray(xy, dtype=np.float64)
    y = np.asarray(y)
    N = xy.shape[0]
    T, R = int(sel.n_forward), int(sel.pruned.size)
    steps = sel.step_scores if sel.step_scores is not None else np.full((max(T, 1), N), np.nan)
    prunes = sel.prune_scores if sel.prune_scores is not None else np.full((max(R, 1), N), np.nan)
    lab = np.asarray(rnd.labeled_before, dtype=bool)
    U = np.flatnonzero(~lab)                                                     # the pool's unlabeled points
    names = [str(n) for n in class_names]
    pred = np.asarray(rnd.predictions)
    pmax = np.asarray(rnd.probs).max(1)
    fwd = np.asarray(sel.forward_indices, dtype=np.int64)
    pruned = np.asarray(sel.pruned, dtype=np.int64)
    step_of = {int(j): t + 1 for t, j in enumerate(fwd)}

    fig = go.Figure(decision_background(rnd.grid_x, rnd.grid_y, rnd.grid_probs, class_names))
    fig.add_trace(_labeled_trace(xy, y, lab, class_names))
    n_static = len(fig.data)
    anim = [n_static, n_static + 1, n_static + 2]

    custom = np.stack([U, [names[k] for k in y[U]], [names[k] for k in pred[U]], [f"{v:.2f}" for v in pmax[U]]],
                      axis=1)

    def pool_update(gains: np.ndarray, faded: bool) -> dict:
        """The pool trace's per-frame part: colour and size by relative gain, the gain as hover text."""
        g = gains[U]
        top = np.nanmax(g) if np.isfinite(g).any() else np.nan
        rel = np.where(np.isfinite(g), g / top, 0.0) if np.isfinite(top) and top > 0 else np.zeros(g.size)
        rel = np.clip(rel, 0.0, 1.0).astype(np.float32)
        return dict(type="scatter", text=[_fmt(v) for v in g],
                    marker=dict(color=rel, size=5 + 9 * rel, opacity=0.3 if faded else 0.95))

    def pool_trace(update: dict) -> go.Scatter:
        return go.Scatter(
            x=xy[U, 0], y=xy[U, 1], mode="markers", name="pool: Fisher gain Δ(x)", customdata=custom,
            text=update["text"],
            hovertemplate=("point %{customdata[0]}<br>true class: %{customdata[1]} (hidden from the model)"
                           "<br>prediction: %{customdata[2]} (p = %{customdata[3]})"
                           "<br>gain Δ(x) at this step: %{text}<br>÷ step max: %{marker.color:.2f}<extra></extra>"),
            marker=dict(cmin=0.0, cmax=1.0, colorscale=GAIN_SCALE, line=dict(width=0.5, color="rgba(0,0,0,0.5)"),
                        colorbar=dict(title=dict(text="Δ(x) ÷ max", side="right"), thickness=12, len=0.6, x=1.0),
                        **update["marker"]))

    def added_trace(members: list[int], newest: Optional[int], inc: Optional[np.ndarray]) -> go.Scatter:
        m = np.asarray(members, dtype=np.int64)
        inc_txt = ["–" if inc is None else _fmt(inc[j]) for j in m]
        custom = np.stack([m, [step_of[int(j)] for j in m], [_fmt(steps[step_of[int(j)] - 1][j]) for j in m],
                           inc_txt], axis=1) if m.size else np.zeros((0, 4))
        return go.Scatter(
            x=xy[m, 0], y=xy[m, 1], mode="markers+text", name="added by BAIT (forward step no.)",
            text=[str(step_of[int(j)]) for j in m], textposition="top center",
            textfont=dict(size=11, color="black"), customdata=custom,
            hovertemplate=("point %{customdata[0]}: added at forward step %{customdata[1]}"
                           "<br>its gain then: %{customdata[2]}<br>removal would raise tr(M⁻¹F) by %{customdata[3]}"
                           "<extra></extra>"),
            marker=dict(symbol="star", color="gold", line=dict(width=1, color="black"),
                        size=[24 if newest is not None and int(j) == newest else 16 for j in m]))

    def pruned_trace(gone: list[int], newest: Optional[int]) -> go.Scatter:
        m = np.asarray(gone, dtype=np.int64)
        custom = np.stack([m, [step_of[int(j)] for j in m]], axis=1) if m.size else np.zeros((0, 2))
        return go.Scatter(
            x=xy[m, 0], y=xy[m, 1], mode="markers", name="pruned at a backward step", customdata=custom,
            hovertemplate="point %{customdata[0]}: added at step %{customdata[1]}, then pruned<extra></extra>",
            marker=dict(symbol="x", color="black", line=dict(width=1, color="white"),
                        size=[20 if newest is not None and int(j) == newest else 14 for j in m]))

    obj = sel.objective
    frames, titles, frame_data = [], [], []
    for f, name in enumerate(frame_names(sel)):
        if f == 0:
            data = [pool_update(steps[0], False), added_trace([], None, None), pruned_trace([], None)]
            title = (f"Start: tr(M⁻¹F) = {_fmt(obj[0])}<br>colour = each point's gain Δ(x) at step 1; "
                     "the brightest is added first")
        elif f <= T:
            j = int(fwd[f - 1])
            data = [pool_update(steps[f - 1], False), added_trace(list(fwd[:f]), j, None), pruned_trace([], None)]
            title = (f"Forward step {f} of {T}: add point {j}<br>(largest gain Δ = {_fmt(sel.forward_gains[f - 1])}"
                     f") · tr(M⁻¹F) → {_fmt(obj[f])}")
        else:
            r = f - T
            gone = [int(v) for v in pruned[:r]]
            members = [int(v) for v in fwd if int(v) not in set(gone)]
            j = gone[-1]
            inc = prunes[r - 1]
            data = [pool_update(steps[T - 1], True), added_trace(members, None, inc), pruned_trace(gone, j)]
            title = (f"Backward step {r} of {R}: prune point {j}<br>(smallest rise +{_fmt(inc[j])}"
                     f") · tr(M⁻¹F) → {_fmt(obj[T + r])}")
        titles.append(title)
        frame_data.append(data)
        frames.append(go.Frame(name=name, data=data, traces=anim, layout=dict(title=dict(text=title, **_TITLE))))
    shown = len(frames) - 1 if start_at_end else 0
    fig.add_trace(pool_trace(frame_data[shown][0]))
    fig.add_trace(frame_data[shown][1])
    fig.add_trace(frame_data[shown][2])
    fig.frames = frames
    play = dict(frame=dict(duration=frame_ms, redraw=True), transition=dict(duration=0), fromcurrent=False,
                mode="immediate")
    fig.update_layout(
        updatemenus=[dict(type="buttons", direction="left", showactive=False, x=0.0, xanchor="left", y=-0.03,
                          yanchor="top", pad=dict(r=8, t=22),
                          buttons=[dict(label="▶ Play", method="animate", args=[None, play]),
                                   dict(label="❚❚ Pause", method="animate",
                                        args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate",
                                                           transition=dict(duration=0))])])],
        sliders=[dict(active=shown, x=0.3, len=0.7, y=-0.01, yanchor="top", pad=dict(t=0, b=0),
                      currentvalue=dict(prefix="greedy step: ", font=dict(size=12)),
                      steps=[dict(label=fr.name, method="animate",
                                  args=[[fr.name], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                        transition=dict(duration=0))]) for fr in frames])])
    _layout(fig, rnd.grid_x, rnd.grid_y, titles[shown], height)
    fig.update_layout(margin=dict(l=10, r=10, t=120, b=95))
    return fig


def comparison_figure(xy: np.ndarray, y: np.ndarray, class_names: Sequence[str], rnd: PlaygroundRound, *,
                      height: int = 555) -> go.Figure:
    """The comparison strategy's picks on the same background and labeled set.

    The pool is coloured by that strategy's own score (entropy: −Σ p log p; BADGE: the gradient
    embedding's norm ‖p − onehot(ŷ)‖·‖h‖) divided by its largest value; its picks are numbered
    stars (pick order), BAIT's picks of the same round are open black circles.
    """
    sel = rnd.other
    xy = np.asarray(xy, dtype=np.float64)
    y = np.asarray(y)
    lab = np.asarray(rnd.labeled_before, dtype=bool)
    U = np.flatnonzero(~lab)
    names = [str(n) for n in class_names]
    score = np.asarray(sel.scores, dtype=np.float64)[U]
    top = np.nanmax(score) if np.isfinite(score).any() else np.nan
    rel = np.clip(np.where(np.isfinite(score), score / top, 0.0), 0, 1) if np.isfinite(top) and top > 0 \
        else np.zeros(U.size)
    what = {"entropy": "entropy H(p)", "badge": "gradient norm ‖g(x)‖"}.get(sel.strategy, "score")
    pred = np.asarray(rnd.predictions)
    fig = go.Figure(decision_background(rnd.grid_x, rnd.grid_y, rnd.grid_probs, class_names))
    fig.add_trace(_labeled_trace(xy, y, lab, class_names))
    fig.add_trace(go.Scatter(
        x=xy[U, 0], y=xy[U, 1], mode="markers", name=f"pool: {what}",
        customdata=np.stack([U, [names[k] for k in y[U]], [names[k] for k in pred[U]], [_fmt(v) for v in score]],
                            axis=1),
        hovertemplate=("point %{customdata[0]}<br>true class: %{customdata[1]} (hidden from the model)"
                       f"<br>prediction: %{{customdata[2]}}<br>{what}: %{{customdata[3]}}<extra></extra>"),
        marker=dict(color=rel, cmin=0, cmax=1, colorscale=GAIN_SCALE, size=5 + 9 * rel, opacity=0.95,
                    line=dict(width=0.5, color="rgba(0,0,0,0.5)"),
                    colorbar=dict(title=dict(text=f"{sel.strategy} score ÷ max", side="right"), thickness=12,
                                  len=0.6, x=1.0))))
    b = np.asarray(rnd.bait.indices, dtype=np.int64)
    fig.add_trace(go.Scatter(
        x=xy[b, 0], y=xy[b, 1], mode="markers", name="BAIT's picks (same round)",
        customdata=b, hovertemplate="point %{customdata}: picked by BAIT<extra></extra>",
        marker=dict(symbol="circle-open", size=22, color="black", line=dict(width=2))))
    o = np.asarray(sel.indices, dtype=np.int64)
    fig.add_trace(go.Scatter(
        x=xy[o, 0], y=xy[o, 1], mode="markers+text", name=f"{sel.strategy}'s picks (pick no.)",
        text=[str(i + 1) for i in range(o.size)], textposition="top center", textfont=dict(size=11, color="black"),
        customdata=np.stack([o, np.arange(1, o.size + 1)], axis=1),
        hovertemplate=f"point %{{customdata[0]}}: {sel.strategy}'s pick no. %{{customdata[1]}}<extra></extra>",
        marker=dict(symbol="star", size=16, color="#ff66cc", line=dict(width=1, color="black"))))
    _layout(fig, rnd.grid_x, rnd.grid_y,
            f"{sel.strategy}: {o.size} picks from the same model and labels<br>({rnd.overlap} of them also "
            f"picked by BAIT)", height)
    return fig
