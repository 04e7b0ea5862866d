"""A first look at BAIT: one acquisition step on a 2-D toy pool (the full app comes later).

Widgets -> plain values -> one bait_core call -> Plotly figures.
"""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression

from bait_core import STRATEGIES


@st.cache_data
def toy_pool(n_points: int, seed: int):
    X, y = make_moons(n_samples=n_points, noise=0.2, random_state=seed)
    # embedding: the 2-D point with a few fixed random features so the head is not trivially linear
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(2, 6))
    H = np.concatenate([X, np.tanh(X @ W)], axis=1)
    return X, y, H


st.title("BAIT Explorer")
st.caption("One acquisition step of BAIT (Ash et al., NeurIPS 2021) on a 2-D toy pool. A softmax "
           "head is fit on the labeled points; BAIT then picks the batch whose Fisher information "
           "best covers the pool's.")

c1, c2, c3, c4 = st.columns(4)
n_points = c1.slider("Pool size", 100, 2000, 400, step=100)
n_labeled = c2.slider("Labeled points", 2, 50, 10)
batch = c3.slider("Batch size", 1, 50, 10)
strategy = c4.selectbox("Strategy", list(STRATEGIES), index=0)

X, y, H = toy_pool(n_points, 0)
rng = np.random.default_rng(0)
labeled = np.zeros(n_points, dtype=bool)
for c in (0, 1):                                     # at least one labeled point of each class
    labeled[rng.choice(np.flatnonzero(y == c))] = True
labeled[rng.choice(n_points, size=max(0, n_labeled - 2), replace=False)] = True
clf = LogisticRegression(max_iter=1000).fit(H[labeled], y[labeled])
probs = clf.predict_proba(H)

try:
    sel = STRATEGIES[strategy](H, probs, labeled, batch, seed=0)
except ValueError as e:
    st.error(str(e))
    st.stop()

fig = go.Figure()
for c, colour in ((0, "#636EFA"), (1, "#EF553B")):
    m = (y == c) & ~labeled
    fig.add_trace(go.Scattergl(x=X[m, 0], y=X[m, 1], mode="markers", name=f"class {c}",
                               marker=dict(color=colour, size=6, opacity=0.45)))
fig.add_trace(go.Scattergl(x=X[labeled, 0], y=X[labeled, 1], mode="markers", name="labeled",
                           marker=dict(color="black", size=9, symbol="square")))
fig.add_trace(go.Scattergl(x=X[sel.indices, 0], y=X[sel.indices, 1], mode="markers+text",
                           name="picked", text=[str(i + 1) for i in range(sel.batch_size)],
                           textposition="top center",
                           marker=dict(color="gold", size=14, symbol="star", line=dict(width=1, color="black"))))
if sel.pruned.size:
    fig.add_trace(go.Scattergl(x=X[sel.pruned, 0], y=X[sel.pruned, 1], mode="markers", name="pruned",
                               marker=dict(color="dimgray", size=14, symbol="circle-open",
                                           line=dict(width=2))))
fig.update_layout(height=520, margin=dict(l=10, r=10, t=30, b=10), legend=dict(orientation="h"))

left, right = st.columns([3, 2])
with left:
    st.subheader("Picks on the pool")
    st.plotly_chart(fig, width="stretch")
    st.caption("Stars are this batch in pick order; grey rings are points BAIT added in its forward "
               "pass and removed again in the backward pass; black squares are already labeled.")
with right:
    if sel.objective.size:
        T = sel.n_forward
        obj = go.Figure()
        obj.add_trace(go.Scatter(x=list(range(T + 1)), y=sel.objective_forward, mode="lines+markers",
                                 name="forward (add)"))
        obj.add_trace(go.Scatter(x=list(range(T, sel.objective.size)), y=sel.objective_backward,
                                 mode="lines+markers", name="backward (prune)", line=dict(dash="dash")))
        obj.update_layout(height=360, xaxis_title="greedy step", yaxis_title="tr(M⁻¹F)",
                          margin=dict(l=10, r=10, t=30, b=10))
        st.subheader("Fisher objective along the greedy steps")
        st.plotly_chart(obj, width="stretch")
        st.caption("BAIT minimises tr(M⁻¹F): it falls as points are added (forward) and rises a "
                   "little as the least useful ones are pruned back to the batch size (backward).")
    else:
        st.info(f"'{strategy}' has no Fisher objective to show; pick 'bait' to see it.")
    st.metric("Selection time", f"{sel.timings['total'] * 1000:.0f} ms")
