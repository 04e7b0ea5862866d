"""Rounds: run the active-learning rounds of the session's run and look at any round's picks."""

import numpy as np
import pandas as pd
import streamlit as st

import app_keys as K
import app_labeling
import app_present
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.viz.text import safe_markdown as md
from bait_core.viz import plots

ss = st.session_state
if S.presenting() and app_present.rounds_view(S.explorer()):   # presentation mode: the compact view only
    st.stop()
st.title("Rounds")
W.show_flash()
ex = S.explorer()
ds_task_clf = ex.dataset.task == "classification"
job, _ = svc.job_ended(ss, K.JOB, K.JOB_ACK)     # this full run already draws the job's results
if job is not None and not job.running and job.status == "error":
    st.error(f"The last run stopped with an error: {md(job.error)}")
running = S.job_running()

st.caption(f"{md(ex.dataset.name)} · {md(ex.config.model)} · {md(views.strategy_text(ex.config, ex.dataset))} · "
           f"batch {ex.config.batch_size}. "
           "Each round trains the model on the labels so far, measures it on the test split and picks the next "
           "batch to label.")
if ex.read_only:
    st.info("This run was opened from a saved record, so it is read-only: every view works, but rounds cannot "
            "be run or reset. Start a new run on the Setup page.")

# --- controls -------------------------------------------------------------------------------------
def _start(one: bool) -> None:
    """Button callback: runs before the script, so this same run already draws the job as running
    (one page rerun per click instead of two), or its result when one round ends within
    S.ROUND_WAIT_S. With the classroom switch on, the round's batch waits for the person's labels."""
    try:
        if one:
            S.start_rounds(1, wait_s=S.ROUND_WAIT_S,     # a short round is drawn by this very run
                           by_person=True if classroom_on() else None)
        else:
            S.start_rounds(int(ss.get(K.N_TO_RUN) or 1))
    except ValueError as e:
        ss[K.ROUND_ERROR] = str(e)


can_classroom = (not ex.read_only and ex.config.oracle == "simulated" and ds_task_clf)


def classroom_on() -> bool:
    """The classroom switch is shown and on: the next round's batch is labeled by the person."""
    return bool(can_classroom and ss.get(K.CLASSROOM))


W.show_error_once(K.ROUND_ERROR)
awaiting = ex.awaiting_labels and not ex.read_only
by_person_run = ex.config.oracle == "person"
locked = ex.read_only or running or awaiting
c1, c2, c3, c4, c5 = st.columns([1.1, 1, 1, 0.8, 0.8], vertical_alignment="bottom")
c1.button("Run 1 round", type="primary", disabled=locked or ex.finished, key="btn_run1",
          on_click=_start, args=(True,),
          help="Train on the labels so far and pick the next batch"
               + (" for you to label." if by_person_run else "."))
c2.number_input("Rounds to run", min_value=1, max_value=100, step=1, key=K.N_TO_RUN,
                help="How many rounds “Run rounds” runs now, one after another (each: train, select, reveal). "
                     "The run's budget of selection rounds is set on Setup (“Rounds”); after it, one final "
                     "round trains on every label and is evaluated.",
                disabled=locked or by_person_run)
c3.button("Run rounds", disabled=locked or ex.finished or by_person_run, key="btn_runn", on_click=_start,
          args=(False,))
stop = c4.button("Stop", disabled=not running, key="btn_stop")
reset = c5.button("Reset", disabled=ex.read_only or running, key="btn_reset")   # also drops a batch being labeled
try:
    if stop and job is not None:
        job.cancel()
        st.toast("Stopping after the current step; the unfinished round is discarded.")
    if reset:
        S.set_explorer(ex.reset(), save=True)
        st.rerun()
except ValueError as e:
    st.error(md(e))
if ex.finished and not ex.read_only:
    st.caption("This run is finished: its final evaluation round is recorded. "
               "Reset it or start a new one on Setup.")
if awaiting:
    st.caption("The latest batch is waiting for your labels: label it in the panel below, then press “Train and "
               "pick next” (the run buttons come back after that).")
elif by_person_run and not ex.read_only:
    st.caption("You label this run's picks: “Run 1 round” trains on the labels so far and picks a batch for you "
               "to label; “Run rounds” is off, since each batch waits for a person.")
if can_classroom:
    st.toggle("Label the next round yourself (classroom)", key=K.CLASSROOM, disabled=running,
              help="The next round's batch waits for your labels instead of the data file's: after each answer "
                   "the file's label is revealed and the agreement shown; the model trains on your labels. "
                   "While it is on, “Train and pick next” gives you the batch after that too.")


def _trace_chart(snap) -> None:
    """Below the round job's progress bar: the objective of the selection in progress."""
    if snap.trace:
        # a light chart: this panel redraws every second while the worker needs the interpreter
        st.line_chart(pd.DataFrame({"tr(M⁻¹F)": snap.trace}), height=180, x_label="greedy step")
        st.caption("BAIT's objective tr(M⁻¹F) after each greedy step of the selection in progress: it falls while "
                   "points are added and rises a little while the surplus is pruned.")


if running:
    W.job_progress(K.JOB, K.JOB_ACK, lambda snap: f"{snap.n_results} round(s) done", _trace_chart)

labeling_now = app_labeling.labeling_panel(ex, classroom=classroom_on()) if awaiting and not running else None
if not ex.read_only:
    with st.expander("Labels from a file (CSV: id,label)", expanded=False):
        W.labels_import(ex, "lab_io")


@st.fragment(run_every=1.0)
def umap_watch(dataset, key=None) -> None:
    """While a UMAP layout is computed, say so; rerun the page once it is ready."""
    pend = svc.layout_pending(dataset, key)
    if pend is None:
        st.rerun()
    elif pend.startswith("error"):
        st.caption("UMAP failed (" + pend[7:] + "); the PCA layout is shown.")
    else:
        st.caption("UMAP is being computed in the background (once per dataset); the PCA layout is shown "
                   "until it is ready.")

rounds = list(ex.rounds)
if not rounds:
    st.info(f"No rounds yet: {ex.n_labeled} points are labeled. Press “Run 1 round” to train the model and "
            "pick the first batch.")
    ds0 = ex.dataset
    want0 = S.first_map_kind()
    xy0, shown0 = svc.layout(ds0, want0)
    if want0 == "UMAP" and shown0 == "PCA":
        umap_watch(ds0)
    st.plotly_chart(views.initial_map(ds0, ex.mask, xy0, f"{shown0} layout, before round 0"), width="stretch",
                    key="map0")
    st.caption(f"Each dot is a pool point coloured by its {views.truth_word(ds0)}"
               + (" (one continuous colour scale)" if views.is_regression(ds0) else "")
               + "; black squares are the initial labeled set.")
    st.stop()

# --- time travel ----------------------------------------------------------------------------------
n = len(rounds)
if ss.get(K.ROUND_FOLLOW) != n:                   # new rounds arrived: follow the latest
    ss[K.ROUND_VIEW] = n - 1
    ss[K.ROUND_FOLLOW] = n
if awaiting:
    ss[K.ROUND_VIEW] = n - 1                      # labeling: the latest round is the one shown
elif n > 1:
    ss[K.ROUND_VIEW] = S.round_index(n)
    st.slider("Round", min_value=0, max_value=n - 1, step=1, key=K.ROUND_VIEW)
r = S.round_index(n)
rr = rounds[r]
sel = rr.selection
ds = ex.dataset
cls = list(ds.classes)
is_clf = ds.task == "classification"
metric_short = md(views.metric_label(rr.metric_name))
has_metric = bool(np.isfinite(rr.metric))
st.markdown(f"**Round {rr.round}** of {n} run (rounds count from 0): trained on **{rr.n_labeled}** labels → "
            + (f"test {metric_short} **{rr.metric:.3f}**" + (" (lower is better)" if views.lower_is_better(rr.metric_name)
                                                              else "") if has_metric else
               "no test metric (no test set yet)")
            + (f"; its {sel.indices.size} picks bring the labeled set to {rr.n_labeled + sel.indices.size}"
               if sel is not None and sel.indices.size and not (awaiting and r == n - 1) else
               "" if sel is not None else " (final evaluation, no picks)"))
if sel is not None and sel.params.get("note"):
    st.info(md(str(sel.params["note"])))

shown_y = app_labeling.shown_labels(ex)          # the file's labels, the run's and the answers so far
true_txt = views.label_texts(ds, shown_y)
# a round with no labels trained nothing: its "predictions" are an untrained model's, never shown as a model's
pred_txt = (views.label_texts(ds, rr.predictions) if rr.n_labeled > 0 else
            ["– (no model yet)"] * len(rr.predictions))
order = {int(j): k + 1 for k, j in enumerate(sel.indices.tolist())} if sel is not None else {}
pruned = set(sel.pruned.tolist()) if sel is not None else set()


# --- the inspected point: chosen by a click or a box/lasso on the map, the selectbox or the number input,
# kept in session state (K.INSPECTED) so it survives the figure changing (the ring is part of the figure,
# and a new figure is a new chart with an empty selection) and stays across reruns and rounds
HOW = {"clicked": "clicked on the map", "selected": "selected on the map", "typed": "typed"}


def _inspect(i: int, how: str) -> None:
    ss[K.INSPECTED] = (int(i), how)
    ss[K.INSPECT_INDEX] = int(i)


def _on_map_select() -> None:
    """The map's on_select callback (runs before the script): a click inspects that point; a box or lasso
    offers its points in the Inspect selectbox and inspects the first; one around no point says so."""
    chosen, how = svc.map_choice(ss.get(K.MAP_KEY))
    if how == "empty":
        ss[K.MAP_EMPTY] = True
    elif chosen:
        ss[K.MAP_EMPTY] = False
        ss[K.MAP_POINTS] = chosen if how == "selected" else []
        if how == "selected":
            ss[K.INSPECT_PICK] = chosen[0]
        _inspect(chosen[0], how)


def _on_pick() -> None:
    _inspect(ss[K.INSPECT_PICK], "selected")


def _on_typed() -> None:
    ss[K.MAP_POINTS] = []
    _inspect(ss[K.INSPECT_INDEX], "typed")


def point_status(i: int) -> str:
    """Point i's status in the round shown, in words."""
    return ("labeled before this round" if rr.labeled_before[i] else
            f"picked this round (#{order[i]})" + (f", waiting for your label: {app_labeling.status_text(ex, i)}"
                                                  if awaiting and r == n - 1 else "") if i in order else
            "pruned this round (added, then removed)" if i in pruned else
            "unlabeled, outside this round's pool sample (not considered)"
            if sel is not None and views.approximation_note(sel) and np.isnan(sel.scores[i]) else "unlabeled")


N_pool = len(ds.y)
inspected = ss.get(K.INSPECTED)
if inspected is not None and not 0 <= int(inspected[0]) < N_pool:     # another run's point
    inspected = ss[K.INSPECTED] = None

# --- map + objective ------------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.subheader("Map of the pool")
    t1, t2, t3 = st.columns([2, 2, 1], vertical_alignment="bottom")
    colour_by = t1.segmented_control("Colour by", [views.COLOUR_TRUE, views.COLOUR_PRED], key=K.COLOR_BY,
                                     format_func=lambda o: views.colour_label(ds, o)) or views.COLOUR_TRUE
    if colour_by == views.COLOUR_PRED and rr.n_labeled == 0:     # an untrained model's guesses are not shown
        t1.caption("No model yet in this round (no labels): coloured by the labels known instead.")
        colour_by = views.COLOUR_TRUE
    kinds = ["UMAP", "PCA"] if svc.umap_enabled() else ["PCA"]
    latest_live = (not ex.read_only and ex.last_embeddings is not None and r == n - 1 and ds.xy2d is None)
    if svc.umap_enabled() and latest_live:
        kinds.append("model")                        # re-layout on this round's embeddings
    if ss.get(K.LAYOUT_KIND) not in kinds:
        ss[K.LAYOUT_KIND] = kinds[0]
    kind = t2.segmented_control("Layout", kinds, key=K.LAYOUT_KIND) or kinds[0]
    if kind == "model":
        xy, shown = svc.model_layout(ds, ex.last_embeddings)
        if shown != "UMAP of model embeddings":
            umap_watch(ds, svc.model_layout_key(ds, ex.last_embeddings))
    else:
        xy, shown = svc.layout(ds, kind)
        if kind == "UMAP" and shown == "PCA":
            umap_watch(ds)
    numbers = t3.toggle("Pick numbers", key=K.PICK_NUMBERS, help="The pick order next to each gold star.")
    fig = views.round_map(ds, rr, xy, f"{shown} layout, round {rr.round}", colour_by, height=560,
                          true_label=true_txt, predicted=pred_txt, y=shown_y, pick_numbers=bool(numbers))
    if inspected is not None:
        views.inspect_ring(fig, xy, inspected[0])
    if labeling_now is not None:
        views.highlight_point(fig, xy, labeling_now, name=f"labeling now: point {labeling_now}")
    st.plotly_chart(fig, key=K.MAP_KEY, on_select=_on_map_select, selection_mode=("points", "box", "lasso"),
                    width="stretch")
    if ss.get(K.MAP_EMPTY):
        ss[K.MAP_EMPTY] = False
        st.info("No points in that selection: draw the box or lasso around some points, or click a point.")
    if inspected is not None:
        i0 = int(inspected[0])
        st.markdown(f"**Inspected:** point {i0} ({HOW.get(inspected[1], inspected[1])}) — "
                    f"{views.truth_word(ds)} {md(true_txt[i0])}, predicted {md(pred_txt[i0])}, {md(point_status(i0))}")
    st.caption(("Each dot is a pool point, coloured by its " + ("true value" if colour_by == views.COLOUR_TRUE
                else "predicted value") + " on one colour scale (the same range for true values and predictions, "
                "so the two colourings compare); " if not is_clf else
                "Each dot is a pool point, coloured by " + ("class" if colour_by == views.COLOUR_TRUE
                else "predicted class") + "; ")
               + "small black squares were labeled before this round, gold "
               "stars are this round's picks (numbers give the pick order), grey rings were picked and then pruned. "
               "**Click a point to inspect it below** (box or lasso to choose among several); the black ring is the "
               "point inspected. Layout: UMAP (fixed, of the inputs), PCA, or "
               "“model”: UMAP of this round's model embeddings, started from the fixed map."
               + (" The red ring is the point you are labeling." if labeling_now is not None else ""))
with right:
    st.subheader("Fisher objective")
    objective = views.objective_figure(rr)
    if objective is not None:
        st.plotly_chart(objective, width="stretch", key="objective")
        st.caption("tr(M⁻¹F) along BAIT's greedy steps: the solid line falls as points are added, the dashed "
                   "line rises a little as the least useful ones are pruned back to the batch size. Lower is better."
                   + (md(views.approximation_note(sel)) + " The curve is the approximation's own objective."
                      if sel is not None and views.approximation_note(sel) else ""))
        if sel is not None and sel.params.get("numerics"):
            st.warning(str(sel.params["numerics"]), icon="⚖️")
    else:
        st.info("This round has no Fisher objective: " + ("it is the final evaluation round." if sel is None else
                f"the '{md(sel.strategy)}' strategy does not compute one."))
    ends = [(x.round, x.selection.objective[-1]) for x in rounds if x.selection is not None and x.selection.objective.size]
    if ends:
        st.plotly_chart(plots.objective_by_round(np.array([e[0] for e in ends]), np.array([e[1] for e in ends]),
                                                 current=rr.round), width="stretch", key="objective_rounds")
        st.caption("The objective at the end of each round's selection; the gold dot is the round shown. It can "
                   "rise from round to round without anything getting worse: each round's model is retrained, so "
                   "the pool Fisher F (and the labeled Fisher in M) are those of a new model, and the values of "
                   "different rounds measure different things. Within a round, lower is better.")

# --- learning curve + pick counts -----------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.subheader("Learning curve")
    xs = np.array([x.n_labeled for x in rounds])
    ys = np.array([x.metric for x in rounds], dtype=np.float64)
    if np.isfinite(ys).any():
        st.plotly_chart(plots.learning_curve(xs, ys, rr.metric_name, current=r), width="stretch",
                        key="learning_curve")
        st.caption(f"The {md(views.metric_words(rr.metric_name))} of the model trained at each round against the "
                   "number of labels it saw; the gold dot is the round shown."
                   + ("" if np.isfinite(ys).all() else " Rounds with no test metric (no test set yet) are gaps."))
    else:
        st.info("No test metric (no test set yet): the learning curve appears once the data has a test split.")
with right:
    if not is_clf:
        st.subheader("Picks along the target")
        st.plotly_chart(views.picks_along_target(ds, rr), width="stretch", key="pick_target")
        n_missing = int((~np.isfinite(np.asarray(ds.y, dtype=np.float64))).sum())
        st.caption("The pool's true target values: dark bars were labeled before this round, light bars are still "
                   "unlabeled" + (", gold bars and the numbered stars below the axis are this round's picks (in "
                   "pick order): picks spread along the range explore it, picks bunched in one part focus there."
                   if sel is not None and sel.indices.size else "; the final evaluation round picks nothing.")
                   + (f" {n_missing} point(s) without a value are left out." if n_missing else ""))
    else:
        st.subheader("Picks per class")
        if sel is not None and rr.picked_class_counts:
            st.plotly_chart(plots.class_bars(cls, rr.picked_class_counts, y_title="picks"), width="stretch",
                            key="pick_classes")
            st.caption("How many of this round's picks fall in each (true) class: a balanced batch covers the "
                       "classes evenly.")
        else:
            st.info("No picks to count in this round.")

# --- performance ----------------------------------------------------------------------------------
st.subheader("Time per round")
tt = [x.times for x in rounds]
st.plotly_chart(plots.round_times([x.round for x in rounds], [t.get("train", 0.0) for t in tt],
                                  [t.get("outputs", 0.0) for t in tt], [t.get("select", 0.0) for t in tt],
                                  device=rr.device, current=r), width="stretch", key="round_times")
sel_t = sel.timings if sel is not None else {}
st.caption(f"Seconds each round spent training the model, computing the pool's embeddings and "
           f"{'probabilities' if is_clf else 'predictions'}, and "
           f"selecting, on {md(rr.device or 'an unrecorded device')}."
           + (f" Round {rr.round}'s selection: set-up {sel_t.get('setup', 0):.3f} s, forward "
              f"{sel_t.get('forward', 0):.3f} s, backward {sel_t.get('backward', 0):.3f} s." if "setup" in sel_t else ""))

# --- picked batch ---------------------------------------------------------------------------------
st.subheader("Picked batch")
if sel is None or not sel.indices.size:
    st.info("The final evaluation round picks nothing.")
else:
    idx = sel.indices
    if ds.is_image and ds.images is not None:
        caps = [f"#{k + 1} {md(true_txt[j])}→{md(pred_txt[j])} {plots.short_number(g, 2)}" for k, (j, g) in enumerate(zip(idx, sel.gains))]
        per_row = 10                                     # a grid: each thumbnail in its own column, with gaps
        for start in range(0, len(idx), per_row):
            for col, j, cap in zip(st.columns(per_row, gap="small"), idx[start:start + per_row],
                                   caps[start:start + per_row]):
                col.image(np.asarray(ds.images[j]), caption=cap, width=80)
    else:
        df = views.feature_table(ds, idx, {"order": np.arange(1, len(idx) + 1), "index": idx, "gain": sel.gains,
                                           views.label_column(ds): [true_txt[j] for j in idx],
                                           "prediction": [pred_txt[j] for j in idx]})
        st.dataframe(df, width="stretch", hide_index=True)
    st.caption(("This round's batch in pick order: its true value (target), the model's prediction and the gain"
                if not is_clf else
                "This round's batch in pick order: “#order true→predicted gain”, with the gain")
               + ", which is how much the pick lowered the objective (or its score for other strategies) when it "
               "was chosen." + md(views.approximation_note(sel)))

# --- inspect + export -----------------------------------------------------------------------------
left, right = st.columns([3, 2])
with left:
    st.subheader("Inspect")
    pts = [j for j in (ss.get(K.MAP_POINTS) or []) if 0 <= j < N_pool]
    if inspected is not None and ss.get(K.INSPECT_INDEX) != int(inspected[0]):
        ss[K.INSPECT_INDEX] = int(inspected[0])         # the number input follows a click (and a page change)
    if pts:
        if ss.get(K.INSPECT_PICK) not in pts:
            ss[K.INSPECT_PICK] = pts[0]
        st.selectbox(f"{len(pts)} point(s) selected on the map", pts, key=K.INSPECT_PICK, on_change=_on_pick)
    i = int(st.number_input("Point index", min_value=0, max_value=N_pool - 1, step=1, key=K.INSPECT_INDEX,
                            on_change=_on_typed))
    if inspected is not None:
        i = int(inspected[0])
    status = point_status(i)
    st.markdown(f"Point **{i}**, " + (HOW.get(inspected[1], inspected[1]) if inspected is not None else
                                     "the index above: click a point on the map or type another") + ".")
    a, b = st.columns([1, 2])
    with a:
        if ds.is_image and ds.images is not None:
            st.image(np.asarray(ds.images[i]), width=140, caption=f"point {i}")
        else:
            cols = list(ds.feature_names or [f"x{j}" for j in range(ds.n_features)])
            st.dataframe(pd.DataFrame({"feature": cols, "value": np.asarray(ds.X[i]).reshape(-1)}),
                         hide_index=True, height=220)
    with b:
        m1, m2 = st.columns(2)
        m1.metric("True label" if is_clf else "True value", md(true_txt[i]))
        m2.metric("Prediction", md(pred_txt[i]))
        if is_clf:
            m1.metric("Confidence", "–" if rr.confidence is None else f"{rr.confidence[i]:.3f}")
            m2.metric(views.score_name(sel).capitalize(), "–" if sel is None else plots.short_number(sel.scores[i]))
        else:
            err = float(rr.predictions[i]) - float(shown_y[i])
            m1.metric("Error (prediction − true)", plots.short_number(err))
            m2.metric(views.score_name(sel).capitalize(), "–" if sel is None else plots.short_number(sel.scores[i]))
        st.markdown(f"Status in round {rr.round}: **{md(status)}**")
        if is_clf and ex.last_probs is not None and r == n - 1:
            st.bar_chart(pd.DataFrame({"probability": ex.last_probs[i]}, index=cls), height=160,
                         x_label="class", y_label="p")
    st.caption(("One pool point as of the round shown: its label, the model's prediction and top-class probability "
                "(all class probabilities for the latest round of a live run), and its score before anything was "
                "picked (NaN for labeled points)." if is_clf else
                "One pool point as of the round shown: its true value (target), the model's prediction, the "
                "prediction's error, and its score before anything was picked (NaN for labeled points).")
               + ("" if sel is None else md(views.approximation_note(sel))))
with right:
    st.subheader("Export")
    W.export_buttons(ex, "dl")
    st.caption("The run record opens again on the Records page; the CSVs hold one row per round and one per pick.")
