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

The figures a round is drawn with live in :mod:`bait_core.viz.playground` (the viz layer sits above
this one).

Shapes: N pool points, M test points, K classes, d embedding size, G grid points per axis,
B batch, T forward steps (⌈2B⌉), R = T − B backward steps.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Optional

import numpy as np
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
           "toy_defaults"]

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
