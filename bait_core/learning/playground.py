"""The Learn page's 2-D playground: a toy set, a tiny MLP and BAIT one round at a time, with
everything a teaching view draws (no streamlit here).

A :class:`Playground` holds a 2-D toy :class:`~bait_core.learning.data.Dataset`, a small MLP with its
initial weights and the labeled mask. :meth:`Playground.step` runs one round:

1. train the MLP from its initial weights on the labels so far (the "quick" preset);
2. compute the pool's embeddings h and softmax p, the test accuracy and the class probabilities
   on a regular grid over the 2-D box of the data (the decision background);
3. run BAIT with ``record_steps=True`` (every point's Fisher gain at each forward step, each
   member's trace increase at each backward step) **and** the comparison strategy (BADGE or
   entropy) on the same embeddings, probabilities and labeled mask;
4. reveal BAIT's picks (only BAIT's picks are labeled; the comparison is what-if).

Figure builders (plain arrays in, one Plotly figure out): :func:`bait_animation` (decision
background, labeled points, pool coloured by Fisher gain, one animation frame per greedy step),
:func:`comparison_figure` (the other strategy's picks on the same background) and
:func:`decision_background` (the background traces alone).

Shapes: N pool points, M test points, K classes, d embedding size, G grid points per axis,
B batch, T forward steps (⌈2B⌉), R = T − B backward steps.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional, Sequence

import numpy as np
import plotly.graph_objects as go
import torch

from bait_core.learning.data import BUILTIN_DEFAULTS, Dataset, load_builtin
from bait_core.learning.models import build_model
from bait_core.learning.outputs import compute_outputs
from bait_core.selection.base import Selection
from bait_core.selection.registry import STRATEGIES
from bait_core.common.threads import single_cpu_thread
from bait_core.learning.loop import RoundHook, RoundState, RunState, initial_labeled, round_seed, run_round
from bait_core.records.run_record import RunConfig

__all__ = ["TOYS", "COMPARE_WITH", "LIMITS", "PlaygroundSettings", "PlaygroundRound", "Playground",
           "toy_defaults", "class_colours", "frame_names", "decision_background", "bait_animation",
           "comparison_figure"]

TOYS = ("moons", "blobs", "spirals", "circles")
COMPARE_WITH = ("badge", "entropy")
FIXED_TWO_CLASSES = ("moons", "circles")

# (min, max) of every whole-number setting; noise has its own rule (finite, 0 ≤ noise ≤ NOISE_MAX)
LIMITS: dict[str, tuple[int, int]] = {
    "n_points": (40, 2000), "n_classes": (2, 10), "initial": (2, 500), "batch_size": (1, 25),
    "seed": (0, 2**31 - 1), "hidden": (4, 128), "grid": (20, 150),
}
NOISE_MAX = 5.0
MIN_PER_CLASS = 8            # points generated per class, at least
_LABELS = {"n_points": "The number of points", "n_classes": "The number of classes",
           "initial": "The initial labeled set", "batch_size": "The batch size", "seed": "The seed",
           "hidden": "The hidden width", "grid": "The grid size"}
DEVICE = "cpu"                  # toy rounds are tiny: the CPU is faster than a GPU round trip


def toy_defaults(toy: str) -> dict[str, Any]:
    """Default noise and number of classes of a toy set (moons and circles always have 2)."""
    if toy not in TOYS:
        raise ValueError(f"Unknown toy set '{toy}'. Choose one of: {', '.join(TOYS)}.")
    d = BUILTIN_DEFAULTS[toy]
    return {"noise": float(d["noise"]), "n_classes": int(d.get("n_classes", 2))}


@dataclass(frozen=True)
class PlaygroundSettings:
    """Everything that defines a playground (validated by :meth:`validate`)."""

    toy: str = "moons"
    n_points: int = 400            # points generated (pool + 25 % test split)
    n_classes: int = 2             # blobs / spirals: 2..10; moons / circles: 2
    noise: Optional[float] = None  # None: the toy's default
    initial: int = 10              # random labeled points before round 0
    batch_size: int = 5            # B: points BAIT labels per round
    seed: int = 0
    compare_with: str = "badge"    # "badge" or "entropy"
    hidden: int = 32               # d: the MLP's hidden (embedding) width
    grid: int = 80                 # G: background grid points per axis

    def validate(self) -> None:
        """ValueError with a sentence for anything that cannot run."""
        if self.toy not in TOYS:
            raise ValueError(f"Unknown toy set '{self.toy}'. Choose one of: {', '.join(TOYS)}.")
        for name, (lo, hi) in LIMITS.items():
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
                raise ValueError(f"{_LABELS[name]} must be a whole number from {lo} to {hi}, got {v!r}.")
        if self.toy in FIXED_TWO_CLASSES and self.n_classes != 2:
            raise ValueError(f"The {self.toy} toy set always has 2 classes (got {self.n_classes}); "
                             "pick blobs or spirals for more.")
        if self.noise is not None:
            try:
                nz = float(self.noise)
            except (TypeError, ValueError):
                raise ValueError(f"Noise must be a number, got {self.noise!r}.") from None
            if not (math.isfinite(nz) and 0.0 <= nz <= NOISE_MAX):
                raise ValueError(f"Noise must be a number from 0 to {NOISE_MAX:g}, got {self.noise!r}.")
        if self.compare_with not in COMPARE_WITH:
            raise ValueError(f"Compare with must be one of: {', '.join(COMPARE_WITH)}; got '{self.compare_with}'.")
        n_pool = self.n_points - int(round(0.25 * self.n_points))
        if self.n_points < MIN_PER_CLASS * self.n_classes:
            raise ValueError(f"{self.n_points} points are too few for {self.n_classes} classes: use at least "
                             f"{MIN_PER_CLASS * self.n_classes} ({MIN_PER_CLASS} per class, so that every class has "
                             "points in the pool and in the test split).")
        if self.initial >= n_pool:
            raise ValueError(f"The initial labeled set ({self.initial}) must be smaller than the pool: {self.n_points} "
                             f"points give a pool of {n_pool} (the other 25 % are the test split).")
        if self.initial + self.batch_size > n_pool:
            raise ValueError(f"A pool of {n_pool} points cannot hold {self.initial} initial labels plus a batch of "
                             f"{self.batch_size}: lower the initial set or the batch size, or use more points.")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class PlaygroundRound:
    """One round of the playground: the trained model's view of the plane and both selections.

    labeled_before (N,) bool    labeled before this round's selection (what the model trained on)
    probs          (N, K)       pool softmax; predictions (N,) its argmax
    embeddings     (N, d)       pool penultimate embeddings h (what BAIT's Fisher uses)
    grid_x, grid_y (G,)         raw 2-D coordinates of the background grid
    grid_probs     (G, G, K)    class probabilities at (grid_x[j], grid_y[i]) in [i, j]
    bait           Selection    BAIT with step_scores (T, N) and prune_scores (R, N)
    other          Selection    the comparison strategy on the same inputs
    accuracy       float        test accuracy of this round's model
    """

    round: int
    labeled_before: np.ndarray
    n_labeled: int
    embeddings: np.ndarray
    probs: np.ndarray
    predictions: np.ndarray
    grid_x: np.ndarray
    grid_y: np.ndarray
    grid_probs: np.ndarray
    bait: Selection
    other: Selection
    accuracy: float
    train_epochs: int
    train_accuracy: Optional[float]
    times: dict = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        """Animation frames: the start, one per forward step, one per backward step."""
        return 1 + int(self.bait.n_forward) + int(self.bait.pruned.size)

    @property
    def overlap(self) -> int:
        """How many of the comparison strategy's picks BAIT also picked."""
        return int(np.intersect1d(self.bait.indices, self.other.indices).size)


def _grid(ds: Dataset, G: int, margin: float = 0.08) -> tuple[np.ndarray, np.ndarray]:
    """G evenly spaced raw coordinates per axis over the box of the pool and test points."""
    pts = np.concatenate([np.asarray(ds.xy2d), np.asarray(ds.xy2d_test)])       # (N + M, 2)
    lo, hi = pts.min(0), pts.max(0)
    pad = margin * np.maximum(hi - lo, 1e-6)
    return (np.linspace(lo[0] - pad[0], hi[0] + pad[0], G), np.linspace(lo[1] - pad[1], hi[1] + pad[1], G))


@dataclass(eq=False)
class Playground:
    """A 2-D toy set, a small MLP, the labeled mask and the rounds so far (mutable; one per session)."""

    settings: PlaygroundSettings
    dataset: Dataset
    model: torch.nn.Module
    init_state: dict = field(repr=False)
    mask: np.ndarray = field(repr=False)              # (N,) bool: labeled now
    rounds: list[PlaygroundRound] = field(default_factory=list)

    @classmethod
    def start(cls, settings: Optional[PlaygroundSettings] = None, **kwargs: Any) -> "Playground":
        """A fresh playground: the toy set, a seeded MLP and a seeded random initial labeled set.
        Pass a PlaygroundSettings or its fields as keywords. ValueError with a sentence when the
        settings cannot run."""
        if settings is None:
            settings = PlaygroundSettings(**kwargs)
        elif kwargs:
            raise ValueError("Pass either a PlaygroundSettings or keyword settings, not both.")
        settings.validate()
        s = settings
        ds = load_builtin(s.toy, seed=s.seed, n_points=s.n_points, noise=s.noise,
                          n_classes=s.n_classes if s.toy not in FIXED_TWO_CLASSES else None)
        K = len(ds.classes)
        n_pool = ds.X.shape[0]
        if s.initial + s.batch_size > n_pool:
            raise ValueError(f"The pool has {n_pool} points, too few for {s.initial} initial labels plus a batch "
                             f"of {s.batch_size}.")
        model = build_model("mlp", ds.input_shape, K, seed=s.seed, hidden=s.hidden)
        mask = initial_labeled(ds.has_label, s.initial, s.seed)
        return cls(settings=s, dataset=ds, model=model, init_state=copy.deepcopy(model.state_dict()), mask=mask)

    # ------------------------------------------------------------------------------------------
    @property
    def n_labeled(self) -> int:
        return int(self.mask.sum())

    @property
    def n_unlabeled(self) -> int:
        return int((~self.mask).sum())

    @property
    def last(self) -> Optional[PlaygroundRound]:
        return self.rounds[-1] if self.rounds else None

    @property
    def finished(self) -> bool:
        """No unlabeled point left to pick."""
        return self.n_unlabeled == 0

    def set_compare(self, strategy: str) -> None:
        """Switch the comparison strategy: every stored round's `other` is recomputed from that
        round's own embeddings, probabilities and labeled mask (BAIT's picks are unchanged)."""
        if strategy not in COMPARE_WITH:
            raise ValueError(f"Compare with must be one of: {', '.join(COMPARE_WITH)}; got '{strategy}'.")
        if strategy == self.settings.compare_with:
            return
        fresh = []
        with single_cpu_thread(True):
            for rnd in self.rounds:
                B = int(rnd.bait.indices.size)
                fresh.append(replace(rnd, other=STRATEGIES[strategy](
                    rnd.embeddings, rnd.probs, rnd.labeled_before, B, seed=round_seed(self.settings.seed, rnd.round),
                    device=DEVICE)))
        self.rounds[:] = fresh
        self.settings = replace(self.settings, compare_with=strategy)

    def _run_state(self) -> RunState:
        """The engine's state of the next round (BAIT with the playground's batch, the quick preset, the CPU)."""
        s = self.settings
        config = RunConfig(data=f"builtin:{s.toy}", model="mlp", strategy="bait", rounds=len(self.rounds) + 1,
                           batch_size=s.batch_size, initial=s.initial, seed=s.seed, preset="quick", device=DEVICE)
        return RunState(dataset=self.dataset, model=self.model, config=config, init_state=self.init_state,
                        mask=self.mask, device=torch.device(DEVICE))

    def _grid_hook(self, times: dict) -> RoundHook:
        """Hook: the class probabilities on the G × G background grid of this round's model."""
        def grid(st: RoundState) -> dict:
            t = time.perf_counter()
            gx, gy = _grid(st.dataset, self.settings.grid)
            XX, YY = np.meshgrid(gx, gy)                                    # (G, G) each: [i, j] = (gx[j], gy[i])
            feats = st.dataset.xy_to_features(np.stack([XX.ravel(), YY.ravel()], axis=1))
            out = compute_outputs(st.model, feats, task="classification", device=st.device)
            times["grid"] = time.perf_counter() - t
            return {"grid_x": gx, "grid_y": gy, "grid_probs": out.probs.reshape(len(gy), len(gx), -1)}
        return grid

    def _other_hook(self, strategy: str, times: dict) -> RoundHook:
        """Hook: the comparison strategy's picks on the same embeddings, probabilities and labeled mask."""
        def other(st: RoundState) -> dict:
            t = time.perf_counter()
            sel = STRATEGIES[strategy](st.pool.embeddings, st.pool.probs, st.labeled, st.batch_size, seed=st.seed,
                                       device=st.device)
            times[strategy] = time.perf_counter() - t
            return {"other": sel}
        return other

    def step(self) -> PlaygroundRound:
        """One round (train → outputs → BAIT and the comparison → reveal BAIT's picks), on the one
        round engine (`learning.loop.run_round`) with the grid and the comparison as hooks.
        Nothing changes when it raises."""
        if self.finished:
            raise ValueError("Every pool point is labeled: start a new playground.")
        s = self.settings
        r = len(self.rounds)
        state = self._run_state()
        times: dict = {}
        t0 = time.perf_counter()
        with single_cpu_thread(True):
            res = run_round(state, r, final=False, select_options={"record_steps": True},
                            hooks=(self._grid_hook(times), self._other_hook(s.compare_with, times)))
        total = time.perf_counter() - t0
        x = res.extras
        rnd = PlaygroundRound(
            round=r, labeled_before=_ro(res.labeled_before), n_labeled=res.n_labeled, embeddings=_ro(res.embeddings),
            probs=_ro(res.probs), predictions=_ro(res.predictions), grid_x=_ro(x["grid_x"]), grid_y=_ro(x["grid_y"]),
            grid_probs=_ro(x["grid_probs"]), bait=res.selection, other=x["other"], accuracy=res.metric,
            train_epochs=res.train_epochs, train_accuracy=res.train_accuracy,
            times={"train": res.times["train"], "outputs": res.times["outputs"] + times.get("grid", 0.0),
                   "bait": res.times["select"], s.compare_with: times.get(s.compare_with, 0.0), "total": total})
        self.rounds.append(rnd)
        self.mask[:] = state.mask
        return rnd


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


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
    return "–" if v is None or not np.isfinite(v) else f"{v:.4g}"


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
