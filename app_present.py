"""Presentation mode's Rounds view (issue 14 item 3): one screen of a 1280×720 projector holds one row
of controls (Run 1 round, Rounds to run + Run rounds, Stop, the round slider, a status line), the pool
map on the left and the Fisher objective along the greedy steps above the learning curve on the right,
in larger type (plots.large_fonts). The figures are the normal page's own builders (views.round_map,
views.objective_figure, plots.learning_curve) at other heights.

The Rounds page calls `rounds_view` from one hook at its top while presentation mode is on
(app_session.presenting: the sidebar toggle or ?present=1). While a batch waits for a person's labels
the normal page is shown instead (its labeling panel needs the room), under a one-line note.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

import app_keys as K
import app_labeling
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.service.explorer import Explorer
from bait_core.viz import plots
from bait_core.viz.text import safe_markdown as md

VIEWPORT = (1280, 720)   # px: what the view is laid out for (the browser suite checks it there)
MAP_HEIGHT = 550         # px: the pool map, left (~60 % of the width); ~20 px to spare at 1280×720
SIDE_HEIGHT = 267        # px: the objective and the learning curve, each, stacked on the right
FONT_PX = plots.LARGE_FONT_PX

# Smaller page margins and gaps than Streamlit's, for this view only (st.html with style tags only
# takes no room on the page, and is sent only by the runs that draw this view).
_CSS = """<style>
[data-testid="stMainBlockContainer"] { padding: 3.9rem 1.5rem 0.5rem 1.5rem; }
[data-testid="stMainBlockContainer"] [data-testid="stVerticalBlock"] { gap: 0.6rem; }
</style>"""


def rounds_view(ex: Explorer) -> bool:
    """Draw the compact Rounds view of run `ex` and return True; return False (after a one-line note)
    when a batch waits for a person's labels, so the caller draws the normal page with its labeling
    panel instead. Widget keys: the normal page's run buttons ("btn_run1", "btn_runn", "btn_stop"),
    K.N_TO_RUN and K.ROUND_VIEW (so the count and the round shown carry over between the two views);
    the charts' keys are "present_map", "present_objective", "present_curve"."""
    ss = st.session_state
    if ex.awaiting_labels and not ex.read_only:
        st.caption("Presentation mode: the full page is shown while this batch waits for your labels.")
        return False
    st.html(_CSS)
    W.show_flash()
    job, _ = svc.job_ended(ss, K.JOB, K.JOB_ACK)
    if job is not None and not job.running and job.status == "error":
        st.error(f"The last run stopped with an error: {md(job.error)}")
    W.show_error_once(K.ROUND_ERROR)
    running = S.job_running()
    rounds = list(ex.rounds)
    n = len(rounds)
    if n and ss.get(K.ROUND_FOLLOW) != n:          # new rounds arrived: follow the latest (as the page does)
        ss[K.ROUND_VIEW] = n - 1
        ss[K.ROUND_FOLLOW] = n
    elif n > 1:
        ss[K.ROUND_VIEW] = S.round_index(n)

    by_person_run = ex.config.oracle == "person"
    locked = ex.read_only or running
    c_one, c_count, c_many, c_stop, c_round, c_status = st.columns([1.15, 1.0, 1.05, 0.7, 1.9, 3.0],
                                                                   vertical_alignment="bottom")
    c_one.button("Run 1 round", type="primary", disabled=locked or ex.finished, key="btn_run1",
                 on_click=_start, args=(ex, True), help="Train on the labels so far and pick the next batch.")
    c_count.number_input("Rounds to run", min_value=1, max_value=100, step=1, key=K.N_TO_RUN,
                         disabled=locked or by_person_run)
    c_many.button("Run rounds", disabled=locked or ex.finished or by_person_run, key="btn_runn",
                  on_click=_start, args=(ex, False))
    if c_stop.button("Stop", disabled=not running, key="btn_stop") and job is not None:
        job.cancel()
        st.toast("Stopping after the current step; the unfinished round is discarded.")
    r = S.round_index(n) if n else -1
    with c_round:
        if n > 1:
            st.slider("Round", min_value=0, max_value=n - 1, step=1, key=K.ROUND_VIEW)
            r = S.round_index(n)
    with c_status:                                 # the progress bar takes the status line's place (same height)
        if running:
            W.job_progress(K.JOB, K.JOB_ACK, lambda snap: f"{snap.n_results} round(s) done", lambda snap: None)
        else:
            st.markdown(status_line(ex, r))

    ds = ex.dataset
    left, right = st.columns([3, 2])
    if not n:
        with left:
            want0 = S.first_map_kind()               # as the normal page: the map the rounds will show
            xy0, shown0 = svc.layout(ds, want0)
            if want0 == "UMAP" and shown0 == "PCA":
                _layout_watch(ds)
            fig = views.initial_map(ds, ex.mask, xy0, f"{shown0} layout, before round 0", height=MAP_HEIGHT)
            st.plotly_chart(_map_legend(plots.large_fonts(fig, FONT_PX)), width="stretch", key="present_map")
        with right:
            st.info("Press “Run 1 round”: the objective of the round's selection and the learning curve "
                    "appear here.")
        return True

    rr = rounds[r]
    shown_y = app_labeling.shown_labels(ex)
    with left:
        xy, shown = _layout(ex, rr)
        colour_by = ss.get(K.COLOR_BY) or views.COLOUR_TRUE
        if rr.n_labeled == 0:                        # an untrained model's guesses are never shown
            colour_by = views.COLOUR_TRUE
        pred_txt = (views.label_texts(ds, rr.predictions) if rr.n_labeled > 0 else
                    ["– (no model yet)"] * len(rr.predictions))
        fig = views.round_map(ds, rr, xy, f"{shown} layout, round {rr.round}", colour_by, height=MAP_HEIGHT,
                              true_label=views.label_texts(ds, shown_y), predicted=pred_txt, y=shown_y,
                              pick_numbers=bool(ss.get(K.PICK_NUMBERS, True)))   # the normal page's toggle
        st.plotly_chart(_map_legend(plots.large_fonts(fig, FONT_PX)), width="stretch", key="present_map")
    with right:
        objective = views.objective_figure(rr, height=SIDE_HEIGHT)
        if objective is not None:
            objective.update_layout(title=f"Fisher objective, round {rr.round}",   # legend inside, top right:
                                    legend=dict(x=1, xanchor="right", y=1, yanchor="top",   # the curve falls
                                                bgcolor="rgba(255,255,255,0.8)"))        # from the top left
            st.plotly_chart(plots.large_fonts(objective, FONT_PX), width="stretch", key="present_objective")
        else:
            sel = rr.selection
            st.info("No Fisher objective in this round: " + ("it is the final evaluation round." if sel is None
                    else f"the '{md(sel.strategy)}' strategy does not compute one."))
        xs = np.array([x.n_labeled for x in rounds])
        ys = np.array([x.metric for x in rounds], dtype=np.float64)
        if np.isfinite(ys).any():
            curve = plots.learning_curve(xs, ys, rr.metric_name, current=r, height=SIDE_HEIGHT)
            curve.update_layout(title="Learning curve")
            st.plotly_chart(plots.large_fonts(curve, FONT_PX), width="stretch", key="present_curve")
        else:
            st.info("No test metric (no test set yet): no learning curve.")
    return True


# The map's marker kinds (plots.pool_map's trace names) → their short names in the second legend
MARKER_KINDS = {"labeled": "labeled", "picked this round": "picked", "pruned (added, then removed)": "pruned"}


def _map_legend(fig):
    """The map's legends for a projector, in place: the classes (or the pool) in one row under the plot,
    the marker kinds (labeled, picked, pruned) as a second legend in one row above it, on the right of
    the title (one legend of both wraps into a grid as wide as its longest name, under half the map)."""
    for trace in fig.data:
        if trace.name in MARKER_KINDS:
            trace.update(name=MARKER_KINDS[trace.name], legend="legend2")
    fig.update_layout(legend=dict(orientation="h", x=0, y=-0.02, yanchor="top"),
                      legend2=dict(orientation="h", x=1, xanchor="right", y=1.0, yanchor="bottom",
                                   font=dict(size=FONT_PX), bgcolor="rgba(0,0,0,0)"))
    return fig


def status_line(ex: Explorer, r: int) -> str:
    """The view's one status line (markdown): the round shown and its test metric, or the labeled
    count before any round; "finished" / "read-only" when so. `r`: the round shown (index), −1: none."""
    rounds = ex.rounds
    if r < 0 or not rounds:
        text = f"No rounds yet: **{ex.n_labeled}** points labeled."
    else:
        rr = rounds[r]
        metric = (f"test {md(views.metric_label(rr.metric_name))} **{rr.metric:.3f}**"
                  if np.isfinite(rr.metric) else "no test metric")
        text = f"**Round {rr.round}** of {len(rounds)} run (from 0): {rr.n_labeled} labels → {metric}"
    tail = " · finished" if ex.finished else " · read-only record" if ex.read_only else ""
    return f"{text}  \n{md(ex.dataset.name)} · {md(ex.config.model)} · {md(ex.config.strategy)}{tail}"


def _start(ex: Explorer, one: bool) -> None:
    """Button callback (as the normal page's): "Run 1 round" waits up to S.ROUND_WAIT_S so a short
    round is drawn by the click's own run; "Run rounds" runs the count in the background. With the
    classroom switch on (a simulated run) the round's batch waits for the person's labels, and the
    normal page takes over to label it. A refused start leaves its sentence for show_error_once."""
    ss = st.session_state
    try:
        if one:
            classroom = bool(ss.get(K.CLASSROOM) and not ex.read_only and ex.config.oracle == "simulated"
                             and ex.dataset.task == "classification")
            S.start_rounds(1, wait_s=S.ROUND_WAIT_S, by_person=True if classroom else None)
        else:
            S.start_rounds(int(ss.get(K.N_TO_RUN) or 1))
    except ValueError as e:
        ss[K.ROUND_ERROR] = str(e)


def _layout(ex: Explorer, rr) -> tuple[np.ndarray, str]:
    """The map's (N, 2) coordinates and their name, as the normal page chose them (K.LAYOUT_KIND:
    UMAP, PCA or the latest round's model embeddings), with the same fall-backs; while a UMAP layout
    is computed the map shows PCA and a silent watcher reruns the page when it is ready."""
    ds = ex.dataset
    kinds = ["UMAP", "PCA"] if svc.umap_enabled() else ["PCA"]
    kind = st.session_state.get(K.LAYOUT_KIND)
    latest_live = (rr is not None and not ex.read_only and ex.last_embeddings is not None
                   and rr.round == ex.rounds[-1].round and ds.xy2d is None)
    if kind == "model" and svc.umap_enabled() and latest_live:
        xy, shown = svc.model_layout(ds, ex.last_embeddings)
        if shown != "UMAP of model embeddings":
            _layout_watch(ds, svc.model_layout_key(ds, ex.last_embeddings))
        return xy, shown
    xy, shown = svc.layout(ds, kind if kind in kinds else kinds[0])
    if shown == "PCA" and svc.layout_pending(ds) == "running":
        _layout_watch(ds)
    return xy, shown


@st.fragment(run_every=1.0)
def _layout_watch(dataset, key=None) -> None:
    """Draws nothing; reruns the page once the pending UMAP layout is ready (or failed: PCA stays)."""
    if svc.layout_pending(dataset, key) != "running":
        st.rerun()
