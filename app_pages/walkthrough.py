"""Walkthrough: play a saved story (a run record plus captions per step) round by round with
Previous / Next; open another story; save the current run as one (captions editable)."""

import numpy as np
import streamlit as st

import app_keys as K
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.viz import plots
from bait_core.service.explorer import Explorer
from bait_core.records.story import Story, StoryStep, metric_value
from bait_core.viz.text import safe_markdown as md

ss = st.session_state
st.title("Walkthrough")
st.caption("A guided tour of a saved run: each step shows one round (what was labeled, what was picked next and "
           "how the model improved) with a few sentences about it. Use Previous and Next to move through the "
           "steps. Playing a walkthrough does not change the current run shown in the sidebar.")
W.show_flash()


def _open_bundled() -> None:
    with open(svc.WALKTHROUGH_ASSET, "rb") as f:
        ss[K.STORY] = svc.open_story(f.read())
    ss[K.STORY_STEP] = 0


if ss.get(K.STORY) is None:
    try:
        _open_bundled()
    except (OSError, ValueError) as e:
        st.error(md(f"The built-in walkthrough cannot be opened: {e}"))


def _go(delta: int) -> None:
    """Previous / Next callback."""
    n = len(ss[K.STORY][0].steps)
    ss[K.STORY_STEP] = min(max(int(ss.get(K.STORY_STEP) or 0) + delta, 0), n - 1)


def _jump() -> None:
    """Slider callback (the slider is 1-based)."""
    ss[K.STORY_STEP] = int(ss[K.STORY_SLIDER]) - 1


def play(story: Story, sx: Explorer) -> None:
    n = len(story.steps)
    k = min(max(int(ss.get(K.STORY_STEP) or 0), 0), n - 1)
    ss[K.STORY_STEP] = k
    step = story.steps[k]
    rounds = story.record.rounds
    pos = story.round_position(step.round)
    rr = rounds[pos]
    prev = rounds[pos - 1] if pos > 0 else None
    ds = sx.dataset

    st.header(md(story.title))
    if story.intro:
        st.markdown(md(story.intro))

    c1, c2, c3 = st.columns([1, 4, 1], vertical_alignment="center")
    c1.button("Previous", key="story_prev", disabled=k == 0, on_click=_go, args=(-1,), width="stretch")
    c2.markdown(f"**Step {k + 1} of {n}** · round {rr.round} of the run", text_alignment="center")
    c3.button("Next", key="story_next", type="primary", disabled=k == n - 1, on_click=_go, args=(1,),
              width="stretch")
    if n > 1:
        ss[K.STORY_SLIDER] = k + 1
        st.slider("Jump to step", min_value=1, max_value=n, step=1, key=K.STORY_SLIDER, on_change=_jump)

    st.subheader(md(step.title) if step.title else f"Round {rr.round}")
    if step.caption:
        st.markdown(md(step.caption))

    lower = views.lower_is_better(rr.metric_name)          # RMSE: a fall is the good direction
    sel = rr.selection
    m1, m2, m3, m4 = st.columns(4)
    m1.metric("Labels trained on", rr.n_labeled, delta=None if prev is None else rr.n_labeled - prev.n_labeled)
    delta = None
    if prev is not None and np.isfinite(rr.metric - prev.metric):
        d = rr.metric - prev.metric
        delta = f"{d:+.3g}" if lower else f"{100 * d:+.1f} points"
    m2.metric(f"Test {md(views.metric_label(rr.metric_name))}", md(metric_value(rr)), delta=delta,
              delta_color="inverse" if lower else "normal")
    m3.metric("Picked this round", "–" if sel is None else sel.batch_size)
    m4.metric("Strategy", "–" if sel is None else md(views.selection_text(sel)))
    st.caption("This round's numbers; the small arrows compare them with the round before."
               + (f" Lower {md(views.metric_label(rr.metric_name))} is better." if lower else ""))

    # --- map + objective ------------------------------------------------------------------------
    left, right = st.columns([3, 2])
    with left:
        kind = "UMAP" if svc.umap_enabled() and ss.get(K.LAYOUT_KIND) != "PCA" else "PCA"
        xy, shown = svc.layout(ds, kind)
        st.plotly_chart(views.round_map(ds, rr, xy, title=f"{shown} layout, round {rr.round}"), width="stretch",
                        key="story_map")
        st.caption(f"Each dot is a pool point coloured by its {views.truth_word(ds)}"
                   + (" (one continuous colour scale)" if views.is_regression(ds) else "")
                   + "; black squares were labeled before this "
                   "round, gold stars are this round's picks (numbered in pick order) and grey rings were picked "
                   "and then pruned." + (" UMAP is being computed in the background; the PCA layout is shown "
                                         "until it is ready." if kind == "UMAP" and shown == "PCA" else ""))
    with right:
        fig = views.objective_figure(rr)
        if fig is not None:
            st.plotly_chart(fig, width="stretch", key="story_objective")
            st.caption("BAIT's Fisher objective tr(M⁻¹F) while it chose this batch: it falls as candidates are "
                       "added (solid) and rises a little as the least useful are pruned back to the batch size "
                       "(dashed). Lower is better.")
        else:
            st.info("No Fisher objective in this round: " + (
                "it is the final evaluation, which picks nothing." if sel is None else
                f"the '{md(sel.strategy)}' strategy does not compute one."))

    # --- learning curve + picks -----------------------------------------------------------------
    left, right = st.columns(2)
    with left:
        st.plotly_chart(views.learning_curve_so_far(rounds, pos), width="stretch", key="story_curve")
        st.caption(f"The {md(views.metric_words(rr.metric_name))} against the number of labels for the rounds up "
                   "to this step; the gold dot is this round. The axes already span the whole run.")
    with right:
        if sel is None or not sel.indices.size:
            st.info("The final evaluation round picks nothing: it trains on every label gathered and measures "
                    "the result.")
        elif ds.is_image and ds.images is not None:
            names = views.label_texts(ds, ds.y)
            idx = sel.indices.tolist()
            f = max(1, 64 // max(ds.images.shape[1:3]))       # small images: enlarge with crisp pixels
            st.image([np.asarray(ds.images[j]).repeat(f, 0).repeat(f, 1) for j in idx],
                     caption=[f"#{i + 1}: {md(names[j])}" for i, j in enumerate(idx)], width=64)
            st.caption("The images picked this round, in pick order, with their true labels.")
        elif ds.task == "classification" and rr.picked_class_counts:
            st.plotly_chart(plots.class_bars(list(ds.classes), rr.picked_class_counts, y_title="picks"),
                            width="stretch", key="story_classes")
            st.caption("How many of this round's picks fall in each true class.")
        elif views.is_regression(ds):
            st.plotly_chart(views.picks_along_target(ds, rr), width="stretch", key="story_target")
            st.caption("Where this round's picks (gold, numbered in pick order) fall among the pool's true target "
                       "values; dark bars were labeled before this round.")
        else:
            st.dataframe({"order": np.arange(1, sel.batch_size + 1), "index": sel.indices,
                          views.label_column(ds): views.label_texts(ds, ds.y[sel.indices])},
                         hide_index=True)
            st.caption("This round's picks in pick order, with their labels.")


opened = ss.get(K.STORY)
if opened is not None:
    play(*opened)
else:
    st.info("No walkthrough is open: upload one below.")

# --- open another -----------------------------------------------------------------------------------
st.divider()
st.subheader("Open another walkthrough")
st.caption("A walkthrough file saved from this page. It opens on step 1; a file that cannot be played leaves the "
           "current walkthrough as it is.")
up = st.file_uploader("Walkthrough (JSON)", type=["json"], key="story_file")
if up is not None:
    raw = up.getvalue()
    try:
        got, new = svc.upload_once(ss, K.STORY_KEY, svc.upload_key([(up.name, raw)]),
                                   lambda: svc.open_story(raw, current=S.explorer()), keep=False)
    except ValueError as e:
        st.error(md(f"Cannot open {up.name}: {e}"))
    else:
        if new:
            ss[K.STORY], ss[K.STORY_STEP] = got, 0
            ss[K.FLASH] = f"Opened the walkthrough “{got[0].title}” ({len(got[0].steps)} steps) from {up.name}."
            st.rerun()
if st.button("Back to the built-in walkthrough", key="story_builtin"):
    try:
        _open_bundled()
    except (OSError, ValueError) as e:
        st.error(md(f"The built-in walkthrough cannot be opened: {e}"))
    else:
        st.rerun()


# --- save the current run -------------------------------------------------------------------------
st.divider()
st.subheader("Save the current run as a walkthrough")


@st.fragment
def save_panel() -> None:
    ex = S.explorer()
    rec = ex.record
    if not rec.rounds:
        st.info("The current run has no rounds yet: run some on the Rounds page, then save it here.")
        return
    auto = Story.from_record(rec)
    tag = f"{id(rec)}_{len(auto.steps)}"
    st.caption(f"The current run ({md(ex.dataset.name)} · {md(views.strategy_text(ex.config, ex.dataset))}, {len(auto.steps)} rounds) as a "
               "walkthrough with one step per round. The captions are written from the run's numbers; edit them "
               "for your audience, then download the file or play it on this page.")
    title = st.text_input("Title", value=auto.title, key=f"story_save_title_{tag}")
    intro = st.text_area("Introduction", value=auto.intro, key=f"story_save_intro_{tag}", height=100)
    steps = []
    with st.expander(f"Step titles and captions ({len(auto.steps)} steps)"):
        for i, s in enumerate(auto.steps):
            t = st.text_input(f"Step {i + 1} (round {s.round}): title", value=s.title, key=f"story_save_t{i}_{tag}")
            c = st.text_area(f"Step {i + 1}: caption", value=s.caption, key=f"story_save_c{i}_{tag}", height=120)
            steps.append(StoryStep(round=s.round, title=t, caption=c))
    story = Story(title=(title or "").strip() or auto.title, intro=intro or "", record=auto.record, steps=steps)
    data = story.to_json()
    a, b = st.columns(2)
    a.download_button("Download walkthrough (JSON)", data, file_name="bait_walkthrough.json",
                      mime="application/json", key="story_download", on_click="ignore")
    if b.button("Play it here", key="story_play"):
        try:
            copy = Story.from_json(data)
            ss[K.STORY] = (copy, Explorer.from_record(copy.record, dataset=ex.dataset))
        except ValueError as e:
            st.error(md(e))
        else:
            ss[K.STORY_STEP] = 0
            ss[K.FLASH] = f"Playing “{copy.title}”, made from the current run."
            st.rerun(scope="app")
    st.caption("The file holds the run record and your captions; it opens again in “Open another walkthrough”.")


save_panel()
