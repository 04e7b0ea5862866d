"""Learn: a 2-D playground for BAIT. A toy set, a tiny MLP and one round at a time: the decision
background, the pool coloured by Fisher gain, BAIT's greedy steps animated, the comparison
strategy's picks from the same state, and the math with the same symbols.

Widgets -> plain values -> one bait_core.learning.playground call -> Plotly figures (bait_core.viz.playground).
"""

import numpy as np
import streamlit as st

import app_keys as K
import app_session as S
import app_widgets as W
from bait_core.viz import plots
from bait_core.viz.text import safe_markdown as md
from bait_core.learning.playground import (COMPARE_WITH, FIXED_TWO_CLASSES, LIMITS, NOISE_MAX, TOYS, Playground,
                                           PlaygroundSettings, toy_defaults)
from bait_core.viz.playground import bait_animation, comparison_figure

ss = st.session_state
st.title("Learn: BAIT on a 2-D playground")
st.caption("A small network learns a 2-D toy problem from a few labels; each round BAIT picks the next batch to "
           "label. Watch which points it adds at every greedy step and why (their Fisher gain), and compare with "
           "another strategy's picks from the very same model. This page has its own playground: it does not change "
           "the run shown in the sidebar.")
if S.explorer().dataset.task == "regression":
    st.info("The playground is a classification problem (points in classes, a decision background), whatever the "
            "current run is: BAIT works the same way for regression, but this page does not show a regression "
            "run. Your regression run's rounds are on the Rounds page.")


def _new_playground(settings: PlaygroundSettings) -> None:
    """Build a playground and run its first round; the old one stays when anything is wrong."""
    pg = Playground.start(settings)
    pg.step()
    ss[K.PLAYGROUND] = pg
    ss[K.LEARN_ROUND] = 0


if ss.get(K.PLAYGROUND) is None:
    try:
        _new_playground(PlaygroundSettings())
    except ValueError as e:                              # not expected with the defaults
        st.error(md(f"The default playground cannot be built: {e}"))
        st.stop()

pg: Playground = ss[K.PLAYGROUND]
cur = pg.settings
for key, value in ((K.LEARN_TOY, cur.toy), (K.LEARN_POINTS, cur.n_points), (K.LEARN_CLASSES, cur.n_classes),
                   (K.LEARN_NOISE, float(cur.noise if cur.noise is not None else toy_defaults(cur.toy)["noise"])),
                   (K.LEARN_INITIAL, cur.initial), (K.LEARN_BATCH, cur.batch_size), (K.LEARN_SEED, cur.seed),
                   (K.LEARN_COMPARE, cur.compare_with)):
    ss.setdefault(key, value)


# --- callbacks (run before the script; errors become one sentence shown once) ---------------------
def _toy_changed() -> None:
    """A new toy set brings its own default noise; moons and circles have exactly 2 classes."""
    d = toy_defaults(ss[K.LEARN_TOY])
    ss[K.LEARN_NOISE] = d["noise"]
    if ss[K.LEARN_TOY] in FIXED_TWO_CLASSES:
        ss[K.LEARN_CLASSES] = 2
    elif int(ss.get(K.LEARN_CLASSES) or 2) == 2:
        ss[K.LEARN_CLASSES] = d["n_classes"]


def _on_new() -> None:
    try:
        _new_playground(PlaygroundSettings(
            toy=ss[K.LEARN_TOY], n_points=int(ss[K.LEARN_POINTS]), n_classes=int(ss[K.LEARN_CLASSES]),
            noise=float(ss[K.LEARN_NOISE]), initial=int(ss[K.LEARN_INITIAL]), batch_size=int(ss[K.LEARN_BATCH]),
            seed=int(ss[K.LEARN_SEED]), compare_with=ss[K.LEARN_COMPARE]))
    except ValueError as e:
        ss[K.LEARN_ERROR] = f"No new playground: {e} The current one is kept."


def _on_next() -> None:
    try:
        ss[K.PLAYGROUND].step()
        ss[K.LEARN_ROUND] = len(ss[K.PLAYGROUND].rounds) - 1
    except ValueError as e:
        ss[K.LEARN_ERROR] = str(e)


def _on_compare() -> None:
    try:
        ss[K.PLAYGROUND].set_compare(ss[K.LEARN_COMPARE])
    except ValueError as e:
        ss[K.LEARN_ERROR] = str(e)


# --- controls --------------------------------------------------------------------------------------
W.show_error_once(K.LEARN_ERROR)

with st.container(border=True):
    c = st.columns(4)
    c[0].selectbox("Toy set", TOYS, key=K.LEARN_TOY, on_change=_toy_changed)
    c[1].number_input("Points (pool + 25 % test)", min_value=LIMITS["n_points"][0], max_value=LIMITS["n_points"][1],
                      step=20, key=K.LEARN_POINTS)
    c[2].number_input("Classes", min_value=LIMITS["n_classes"][0], max_value=LIMITS["n_classes"][1], step=1,
                      key=K.LEARN_CLASSES, disabled=ss[K.LEARN_TOY] in FIXED_TWO_CLASSES,
                      help="Moons and circles always have 2 classes; blobs and spirals take 2 to 10.")
    c[3].number_input("Noise", min_value=0.0, max_value=NOISE_MAX, step=0.01, format="%.2f", key=K.LEARN_NOISE,
                      help="Gaussian noise in the raw coordinates (blobs: the clusters' spread).")
    c = st.columns(4)
    c[0].number_input("Initial labeled points", min_value=LIMITS["initial"][0], max_value=LIMITS["initial"][1],
                      step=1, key=K.LEARN_INITIAL)
    c[1].number_input("Batch size B", min_value=LIMITS["batch_size"][0], max_value=LIMITS["batch_size"][1], step=1,
                      key=K.LEARN_BATCH)
    c[2].number_input("Seed", min_value=0, max_value=LIMITS["seed"][1], step=1, key=K.LEARN_SEED)
    c[3].radio("Compare BAIT with", COMPARE_WITH, key=K.LEARN_COMPARE, horizontal=True, on_change=_on_compare,
               format_func=lambda s: {"badge": "BADGE", "entropy": "entropy"}[s])
    b = st.columns([1, 1, 3], vertical_alignment="center")
    b[0].button("New playground", key="learn_new", on_click=_on_new, width="stretch")
    b[1].button("Next round", key="learn_next", type="primary", on_click=_on_next, disabled=pg.finished,
                width="stretch")
    b[2].caption("*New playground* applies the settings above (the comparison applies at once). *Next round* labels "
                 "BAIT's picks, retrains the model from its initial weights on all labels and selects again.")

pg = ss[K.PLAYGROUND]
ds = pg.dataset
n_rounds = len(pg.rounds)
if n_rounds > 1:
    ss[K.LEARN_ROUND] = min(max(int(ss.get(K.LEARN_ROUND) or 0), 0), n_rounds - 1)
    st.slider("Round shown", 0, n_rounds - 1, key=K.LEARN_ROUND,
              help="Look back at an earlier round; Next round always shows the newest.")
    shown = int(ss[K.LEARN_ROUND])
else:
    shown = 0
rnd = pg.rounds[shown]
sel, other = rnd.bait, rnd.other
n_cls, d = rnd.probs.shape[1], rnd.embeddings.shape[1]
N, n, B = ds.X.shape[0], rnd.n_labeled, int(sel.indices.size)
T, R = int(sel.n_forward), int(sel.pruned.size)

m = st.columns(5)
m[0].metric("Round", f"{rnd.round}")
m[1].metric("Labeled n", f"{n}", help=f"of the N = {N} pool points")
prev = pg.rounds[shown - 1].accuracy if shown > 0 else None
m[2].metric("Test accuracy", f"{rnd.accuracy:.1%}", None if prev is None else f"{rnd.accuracy - prev:+.1%}")
m[3].metric("tr(M⁻¹F) with BAIT's batch", f"{sel.objective[-1]:.3g}", f"{sel.objective[-1] - sel.objective[0]:+.3g}",
            delta_color="inverse", help=f"{sel.objective[0]:.4g} before the batch (labeled set only)")
m[4].metric("Round time", f"{rnd.times.get('total', 0.0) * 1000:.0f} ms")
st.caption(f"{ds.name}, {N} pool points ({ds.X_test.shape[0]} more for the test), K = {n_cls} classes; an MLP with one "
           f"hidden layer of d = {d} ReLUs, trained from the same initial weights every round "
           f"({rnd.train_epochs} epochs this round). Round {rnd.round} trained on the n = {n} labeled points "
           f"(squares), then BAIT chose B = {B} of the {N - n} unlabeled ones.")

# --- the two maps ----------------------------------------------------------------------------------
name = {"badge": "BADGE", "entropy": "Entropy"}[other.strategy]
left, right = st.columns(2)
with left:
    st.subheader("BAIT, step by step")
    st.plotly_chart(bait_animation(ds.xy2d, ds.y, ds.classes, rnd), width="stretch", key="learn_bait_map")
    st.caption(f"Background: the model's predicted class (colour) and confidence (paler = less sure), dotted line = "
               f"decision boundary. Pool dots: colour and size = each point's Fisher gain Δ(x) at the step shown, "
               f"divided by that step's largest gain. Press ▶ Play or drag the slider: start, {T} forward steps "
               f"(+1 … +{T}, gold stars numbered by step, each the brightest dot of its step) and {R} backward "
               f"steps (−1 … −{R}, the pruned points get a black ×). It opens on the last step.")
with right:
    st.subheader(f"{name} from the same state")
    st.plotly_chart(comparison_figure(ds.xy2d, ds.y, ds.classes, rnd), width="stretch", key="learn_other_map")
    how = ("the gradient-embedding norm ‖g(x)‖ (BADGE seeds k-means++ on g(x), so it spreads its picks over large, "
           "different gradients)" if other.strategy == "badge"
           else "the predictive entropy H(p_x) (entropy simply takes the B most uncertain points)")
    st.caption(f"Same model, labels and background as the left map. Pool colour = {how}, divided by its largest "
               f"value; pink stars = its {other.indices.size} picks in pick order; black rings = BAIT's picks. "
               f"{rnd.overlap} of {B} picks are shared. Only BAIT's picks are labeled by Next round.")

# --- the math, with the symbols of the maps --------------------------------------------------------
mleft, mright = st.columns([3, 2])
with mleft:
    st.subheader("The math in five lines")
    st.markdown(f"**1 · Fisher embedding.** For a pool point x the model gives its hidden-layer embedding "
                f"$h_x\\in\\mathbb{{R}}^{{{d}}}$ and its softmax $p_x\\in\\mathbb{{R}}^{{{n_cls}}}$ (the background's "
                f"colours). The last layer's Fisher information of x is rank {n_cls}:")
    st.latex(r"V_x = G_x \otimes h_x \in \mathbb{R}^{Kd\times K},\qquad (G_x)_{:,y} = \sqrt{p_{x,y}}\,(e_y - p_x)")
    st.latex(r"I(x) = V_x V_x^\top = (\operatorname{diag} p_x - p_x p_x^\top) \otimes h_x h_x^\top")
    st.markdown(f"**2 · Objective.** With L the labeled squares (n = {n}), λ = 1 and F the mean Fisher over all "
                f"N = {N} pool points, BAIT picks the batch S of B = {B} that minimises")
    st.latex(r"\operatorname{tr}\big(M_S^{-1} F\big),\quad M_S = \lambda I + \tfrac{1}{n+B}\sum_{x\in L} I(x)"
             r" + \tfrac{B}{n+B}\sum_{x\in S} I(x),\quad F = \tfrac{1}{N}\sum_{x\in\text{pool}} I(x)")
    st.markdown(f"(the original code's scaling; D = Kd = {n_cls * d}). Its value is in the left map's title and in the "
                "chart on the right.")
    st.markdown(r"**3 · Forward gain (the dots' colour).** With $A = M^{-1}$ for the points added so far and "
                r"$\tilde V_x = \sqrt{B/(n+B)}\,V_x$, adding x lowers the objective by")
    st.latex(r"\Delta(x) = \operatorname{tr}\big((I_K + \tilde V_x^\top A \tilde V_x)^{-1}\,"
             r"\tilde V_x^\top A F A\, \tilde V_x\big)")
    st.markdown(f"Each of the T = {T} = 2B forward steps adds the point of largest Δ(x): the numbered gold star.")
    st.markdown("**4 · Woodbury step.** Adding x* updates A with one K×K solve instead of a new D×D inverse:")
    st.latex(r"A \leftarrow A - A\tilde V_{x^*}\big(I_K + \tilde V_{x^*}^\top A \tilde V_{x^*}\big)^{-1}"
             r"\tilde V_{x^*}^\top A")
    st.markdown("so the gains of points that resemble x* (same region, same uncertainty) drop, and the next star "
                "usually lands elsewhere: play the animation and watch the colours move.")
    st.markdown(f"**5 · Backward steps.** Then R = {R} times, the member whose removal raises the objective least, "
                f"$\\operatorname{{tr}}\\big((I_K - \\tilde V_x^\\top A \\tilde V_x)^{{-1}}\\tilde V_x^\\top AFA"
                f"\\tilde V_x\\big)$, is pruned (black ×) and A is updated with the opposite sign, until B remain.")
with mright:
    st.subheader("Objective along the greedy steps")
    st.plotly_chart(plots.objective_trajectory(sel.objective, sel.n_forward, height=300), width="stretch",
                    key="learn_objective")
    st.caption("tr(M⁻¹F) after each step: it falls with every point added (forward) and rises a little with "
               "every point pruned (backward); the batch BAIT keeps ends a little above the lowest point.")
    st.subheader("Test accuracy by round")
    if n_rounds > 1:
        st.plotly_chart(plots.learning_curve(np.array([r.n_labeled for r in pg.rounds]),
                                             np.array([r.accuracy for r in pg.rounds]), "accuracy", current=shown,
                                             height=260), width="stretch", key="learn_curve")
        st.caption("Accuracy of each round's model on the held-out test points against the number of labels it "
                   "trained on; the highlighted dot is the round shown.")
    else:
        st.caption("After Next round, this chart shows each round's test accuracy against its number of labels.")
