"""Baseline acquisition strategies with BAIT's call shape.

    fn(embeddings, probs, labeled, batch_size, *, seed=0, device=None, dtype=torch.float64,
       progress=None, **options) -> Selection

* random      uniform without replacement over the unlabeled points (seeded).
* entropy     highest predictive entropy  H(p) = −Σ_k p_k log p_k.
* margin      smallest margin p_top1 − p_top2 (picked in ascending margin).
* confidence  least confidence, largest 1 − max_k p_k.
* badge       k-means++ seeding (scikit-learn) on gradient embeddings (p − onehot(ŷ)) ⊗ h
              (Ash et al., ICLR 2020).
* coreset     greedy k-center on the embeddings (Sener & Savarese, ICLR 2018).

Every function validates with :func:`prepare_inputs` (so probs, when given, is checked even by
strategies that do not use it), takes no extra options (an unknown one is a ValueError naming it),
never picks a labeled point or the same point twice, and returns exactly `batch_size` indices.
Ties in the score-ranking strategies go to the lowest dataset index. Randomness only comes from
`seed` (np.random.default_rng / sklearn random_state); no global seeding.

Shapes: N pool points, d embedding size, K classes, B batch, Nu unlabeled points.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from .estimate import memory_checked
from .selection import Inputs, ProgressFn, Selection, check_options, nan_safe, pool_scores, prepare_inputs

__all__ = ["random_select", "entropy_select", "margin_select", "confidence_select",
           "badge_select", "coreset_select"]

_CHUNK_ELEMS = 1 << 24  # largest (rows × cols) distance block materialised at once by coreset


# ----------------------------------------------------------------------------- shared helpers

def _sync(device: torch.device) -> None:
    """Wait for queued GPU work so wall-clock timings mean something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _params(inp: Inputs, seed: int, dtype: torch.dtype, **extra: Any) -> dict:
    return {"seed": seed, "batch_size": inp.batch_size, "n_labeled": inp.n,
            "device": str(inp.h.device), "dtype": str(dtype).replace("torch.", ""), **extra}


def _timings(t0: float, t_setup: float, t_forward: float) -> dict:
    return {"setup": t_setup - t0, "forward": t_forward - t_setup, "backward": 0.0,
            "total": t_forward - t0}


def _rank_select(name: str, inp: Inputs, score: torch.Tensor, *, descending: bool, seed: int,
                 dtype: torch.dtype, t0: float, progress: Optional[ProgressFn]) -> Selection:
    """Top-B unlabeled points by `score` (Nu,); stable sort, so ties go to the lowest index.

    NaN scores rank last whichever the direction.
    """
    B = inp.batch_size
    _sync(inp.h.device)
    t_setup = time.perf_counter()
    if progress:
        progress("select", 0, B, None)
    s = score.detach().to("cpu", torch.float64).numpy()                      # (Nu,)
    key = -np.nan_to_num(s, nan=-np.inf) if descending else np.nan_to_num(s, nan=np.inf)
    order = np.argsort(key, kind="stable")[:B]                               # (B,) candidate rows
    t_forward = time.perf_counter()
    if progress:
        progress("select", B, B, None)
    return Selection(strategy=name, indices=inp.unlabeled[order], gains=s[order],
                     scores=pool_scores(inp.labeled, inp.unlabeled, score), timings=_timings(t0, t_setup, t_forward),
                     params=_params(inp, seed, dtype))


# ----------------------------------------------------------------------------- random

@memory_checked("random")
def random_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                  device: Any = None, dtype: torch.dtype = torch.float64,
                  progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """Uniform sample of `batch_size` unlabeled points without replacement.

    There is no score: gains and scores are all NaN ("no score", shown as null in JSON).
    """
    t0 = time.perf_counter()
    seed = check_options("random", seed, options)
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype,
                         strategy="random")
    B = inp.batch_size
    t_setup = time.perf_counter()
    if progress:
        progress("select", 0, B, None)
    rng = np.random.default_rng(seed)
    idx = rng.choice(inp.unlabeled, size=B, replace=False).astype(np.int64)  # (B,)
    t_forward = time.perf_counter()
    if progress:
        progress("select", B, B, None)
    return Selection(strategy="random", indices=idx, gains=np.full(B, np.nan),
                     scores=np.full(inp.labeled.shape[0], np.nan),
                     timings=_timings(t0, t_setup, t_forward), params=_params(inp, seed, dtype))


# ----------------------------------------------------------------------------- uncertainty

def _candidate_probs(inp: Inputs) -> torch.Tensor:
    """Probabilities of the unlabeled points.  (Nu, K)"""
    assert inp.p is not None
    return inp.p[torch.as_tensor(inp.unlabeled, device=inp.p.device)]


def _uncertainty_select(name: str, score_fn: Callable[[torch.Tensor], torch.Tensor], *, descending: bool,
                        embeddings: Any, probs: Any, labeled: Any, batch_size: int, seed: Any, device: Any,
                        dtype: torch.dtype, progress: Optional[ProgressFn], options: dict) -> Selection:
    """Shared path of the score-ranking strategies: validate, score the unlabeled points from their
    probabilities (Nu, K) -> (Nu,), rank (NaN last)."""
    t0 = time.perf_counter()
    seed = check_options(name, seed, options)
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype,
                         needs_probs=True, strategy=name)
    score = score_fn(_candidate_probs(inp))                                  # (Nu,)
    return _rank_select(name, inp, nan_safe(score, -math.inf if descending else math.inf),
                        descending=descending, seed=seed, dtype=dtype, t0=t0, progress=progress)


def _margin(p: torch.Tensor) -> torch.Tensor:
    top2 = torch.topk(p, 2, dim=1).values                                    # (Nu, 2)
    return top2[:, 0] - top2[:, 1]


@memory_checked("entropy")
def entropy_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                   device: Any = None, dtype: torch.dtype = torch.float64,
                   progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """The `batch_size` unlabeled points of highest predictive entropy −Σ p log p (0 log 0 = 0)."""
    return _uncertainty_select("entropy", lambda p: torch.special.entr(p).sum(1), descending=True,
                               embeddings=embeddings, probs=probs, labeled=labeled, batch_size=batch_size,
                               seed=seed, device=device, dtype=dtype, progress=progress, options=options)


@memory_checked("margin")
def margin_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                  device: Any = None, dtype: torch.dtype = torch.float64,
                  progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """The `batch_size` unlabeled points with the smallest margin p_top1 − p_top2.

    gains and scores are the margins themselves (small = uncertain); picks are in ascending margin.
    """
    return _uncertainty_select("margin", _margin, descending=False,
                               embeddings=embeddings, probs=probs, labeled=labeled, batch_size=batch_size,
                               seed=seed, device=device, dtype=dtype, progress=progress, options=options)


@memory_checked("confidence")
def confidence_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *,
                      seed: int = 0, device: Any = None, dtype: torch.dtype = torch.float64,
                      progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """Least confidence: the `batch_size` unlabeled points with the largest 1 − max_k p_k."""
    return _uncertainty_select("confidence", lambda p: 1.0 - p.max(dim=1).values, descending=True,
                               embeddings=embeddings, probs=probs, labeled=labeled, batch_size=batch_size,
                               seed=seed, device=device, dtype=dtype, progress=progress, options=options)


# ----------------------------------------------------------------------------- BADGE

def gradient_embeddings(h: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """BADGE's last-layer gradient embeddings with the predicted label as pseudo-label.

    h (M, d), p (M, K) -> (M, K·d), class-major: block k is (p_k − [k == argmax p]) · h.
    """
    coef = p.clone()                                                         # (M, K)
    coef[torch.arange(p.shape[0], device=p.device), p.argmax(dim=1)] -= 1.0
    return (coef[:, :, None] * h[:, None, :]).reshape(h.shape[0], -1)        # (M, K·d)


@memory_checked("badge")
def badge_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                 device: Any = None, dtype: torch.dtype = torch.float64,
                 progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """BADGE: k-means++ seeding (sklearn.cluster.kmeans_plusplus) on the gradient embeddings.

    k-means++ can return the same point twice when the remaining points all sit on chosen
    centres (e.g. many identical / all-zero gradient embeddings); repeats are dropped and the batch
    is topped up with a seeded uniform draw from the untouched unlabeled points.
    scores: gradient-embedding norm ‖p − onehot(ŷ)‖·‖h‖ (NaN for labeled points).
    gains: each pick's Euclidean distance, in gradient space, to the nearest earlier pick (the
    first pick: its norm, i.e. its distance to the origin).
    """
    from sklearn.cluster import kmeans_plusplus  # imported lazily: sklearn is slow to import

    t0 = time.perf_counter()
    seed = check_options("badge", seed, options)
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype,
                         needs_probs=True, strategy="badge")
    B = inp.batch_size
    cand = torch.as_tensor(inp.unlabeled, device=inp.h.device)
    with torch.no_grad():
        g = gradient_embeddings(inp.h[cand].double(), inp.p[cand].double())  # (Nu, K·d)
        X = np.ascontiguousarray(g.cpu().numpy(), dtype=np.float64)          # (Nu, K·d)
    del g
    norms = np.linalg.norm(X, axis=1)                                        # (Nu,)
    t_setup = time.perf_counter()
    if progress:
        progress("select", 0, B, None)

    _, rows = kmeans_plusplus(X, n_clusters=B, random_state=seed)
    rows = np.asarray(rows, dtype=np.int64)
    _, first = np.unique(rows, return_index=True)
    rows = rows[np.sort(first)]                                              # de-duplicated, in order
    if rows.size < B:
        rest = np.setdiff1d(np.arange(X.shape[0], dtype=np.int64), rows, assume_unique=True)
        extra = np.random.default_rng(seed).choice(rest, size=B - rows.size, replace=False)
        rows = np.concatenate([rows, extra.astype(np.int64)])
    if progress:
        progress("select", B - 1, B, None)

    gains = np.empty(B)
    nearest = np.full(B, np.inf)                                             # (B,) to earlier picks
    P = X[rows]                                                              # (B, K·d)
    for i in range(B):
        gains[i] = norms[rows[i]] if i == 0 else nearest[i]
        if i + 1 < B:
            nearest[i + 1:] = np.minimum(nearest[i + 1:], np.linalg.norm(P[i + 1:] - P[i], axis=1))
    t_forward = time.perf_counter()
    if progress:
        progress("select", B, B, None)
    return Selection(strategy="badge", indices=inp.unlabeled[rows], gains=gains,
                     scores=pool_scores(inp.labeled, inp.unlabeled, torch.from_numpy(norms)),
                     timings=_timings(t0, t_setup, t_forward),
                     params=_params(inp, seed, dtype, n_topped_up=int(B - first.size)))


# ----------------------------------------------------------------------------- core-set

def _min_distances(x: torch.Tensor, centers: torch.Tensor) -> torch.Tensor:
    """Euclidean distance from each row of x (M, d) to its nearest row of centers (C, d).  (M,)

    Computed from differences (not the ‖a‖²+‖b‖²−2ab expansion) so exact ties stay ties; the
    (M, C) block is chunked over the centres.
    """
    out = torch.full((x.shape[0],), math.inf, device=x.device, dtype=x.dtype)
    step = max(1, _CHUNK_ELEMS // max(1, x.shape[0]))
    for s in range(0, centers.shape[0], step):
        d = torch.cdist(x, centers[s:s + step], compute_mode="donot_use_mm_for_euclid_dist")
        out = torch.minimum(out, d.amin(dim=1))
    return out


@memory_checked("coreset")
def coreset_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                   device: Any = None, dtype: torch.dtype = torch.float64,
                   progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """Greedy k-center: repeatedly pick the unlabeled point farthest from its nearest centre.

    The centres start as the labeled points; with none labeled, the first pick is a seeded
    uniform unlabeled point (its gain is NaN: no centre to measure from). Ties go to the lowest
    dataset index. gains: the pick's distance to its nearest centre when picked. scores: each
    unlabeled point's distance to the nearest labeled point (all NaN when nothing is labeled).
    """
    t0 = time.perf_counter()
    seed = check_options("coreset", seed, options)
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype,
                         strategy="coreset")
    B, h = inp.batch_size, inp.h
    dev = h.device
    with torch.no_grad():
        hu = h[torch.as_tensor(inp.unlabeled, device=dev)]                   # (Nu, d)
        Nu = hu.shape[0]
        if inp.n:
            hl = h[torch.as_tensor(np.flatnonzero(inp.labeled), device=dev)] # (n, d)
            min_d = _min_distances(hu, hl)                                   # (Nu,)
            scores = pool_scores(inp.labeled, inp.unlabeled, min_d)
        else:
            min_d = torch.full((Nu,), math.inf, device=dev, dtype=dtype)
            scores = np.full(inp.labeled.shape[0], np.nan)
        _sync(dev)
        t_setup = time.perf_counter()

        taken = torch.zeros(Nu, dtype=torch.bool, device=dev)
        picks: list[torch.Tensor] = []
        gains: list[torch.Tensor] = []
        every = max(1, B // 100)
        for t in range(B):
            if t == 0 and not inp.n:
                j = torch.tensor(int(np.random.default_rng(seed).integers(Nu)), device=dev)
                gain = torch.tensor(math.nan, device=dev, dtype=dtype)
            else:
                # NaN (never from finite inputs) ranks below every distance but above taken points
                masked = torch.nan_to_num(min_d, nan=-1.0).masked_fill(taken, -math.inf)
                j = torch.argmax(masked)                                     # first max: lowest index
                gain = masked[j]
            picks.append(j)
            gains.append(gain)
            taken[j] = True
            min_d = torch.minimum(min_d, torch.linalg.vector_norm(hu - hu[j], dim=1))
            if progress and ((t + 1) % every == 0 or t + 1 == B):
                progress("select", t + 1, B, None)
        rows = torch.stack(picks).cpu().numpy().astype(np.int64)             # (B,)
        gain_arr = torch.stack(gains).to("cpu", torch.float64).numpy()       # (B,)
        _sync(dev)
    t_forward = time.perf_counter()
    return Selection(strategy="coreset", indices=inp.unlabeled[rows], gains=gain_arr,
                     scores=scores, timings=_timings(t0, t_setup, t_forward),
                     params=_params(inp, seed, dtype))
