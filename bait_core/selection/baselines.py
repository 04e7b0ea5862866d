"""Baseline acquisition strategies with BAIT's call shape.

    fn(embeddings, probs, labeled, batch_size, *, seed=0, device=None, dtype=torch.float64,
       progress=None, **options) -> Selection

* random      uniform without replacement over the unlabeled points (seeded).
* entropy     highest predictive entropy  H(p) = −Σ_k p_k log p_k.
* margin      smallest margin p_top1 − p_top2 (picked in ascending margin).
* confidence  least confidence, largest 1 − max_k p_k.
              (entropy, margin and least confidence: the uncertainty sampling of Settles's
              Active Learning Literature Survey, 2009.)
* badge       the paper's k-means++ seeding on gradient embeddings (p − onehot(ŷ)) ⊗ h (Ash et al.,
              ICLR 2020): largest-norm point first, then one D² draw per step, distances from the
              factored form (the Nu×(K·d) matrix is never built).
* badge-sklearn  the same embeddings through scikit-learn's kmeans_plusplus (random first point,
              greedy best-of-(2 + ln B) trials): not the paper's algorithm, kept for comparison.
* coreset     greedy k-center on the embeddings (Sener & Savarese, ICLR 2018).

Every function validates with :func:`prepare_inputs` (so probs, when given, is checked even by
strategies that do not use it), takes no extra options (an unknown one is a ValueError naming it),
never picks a labeled point or the same point twice, and returns exactly `batch_size` indices.
Ties in the score-ranking strategies go to the lowest dataset index. Randomness only comes from
`seed` (np.random.default_rng / sklearn random_state); no global seeding.

Shapes: N pool points, d embedding size, K classes, B batch, Nu unlabeled points.
BADGE's factored distances are derived in docs/bait-math.md (section 6).
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Optional

import numpy as np
import torch

from bait_core.selection.estimate import memory_checked, thread_policy
from bait_core.selection.base import Inputs, ProgressFn, Selection, check_options, nan_safe, pool_scores, prepare_inputs
from bait_core.common.threads import single_cpu_thread

__all__ = ["random_select", "entropy_select", "margin_select", "confidence_select",
           "badge_select", "badge_sklearn_select", "coreset_select"]

_CHUNK_ELEMS = 1 << 24  # largest (rows × cols) distance block materialised at once by coreset


# ----------------------------------------------------------------------------- shared helpers

def _checked_inputs(name: str, seed: Any, options: dict, embeddings: Any, probs: Any, labeled: Any,
                    batch_size: int, device: Any, dtype: torch.dtype, *, needs_probs: bool) -> tuple[int, Inputs]:
    """The options check and the shared input validation of every baseline: (seed, Inputs)."""
    seed = check_options(name, seed, options)
    return seed, prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype,
                                needs_probs=needs_probs, strategy=name)


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

@thread_policy("random")
@memory_checked("random")
def random_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                  device: Any = None, dtype: torch.dtype = torch.float64,
                  progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """Uniform sample of `batch_size` unlabeled points without replacement.

    There is no score: gains and scores are all NaN ("no score", shown as null in JSON).
    """
    t0 = time.perf_counter()
    seed, inp = _checked_inputs("random", seed, options, embeddings, probs, labeled, batch_size, device, dtype,
                                needs_probs=False)
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
    seed, inp = _checked_inputs(name, seed, options, embeddings, probs, labeled, batch_size, device, dtype,
                                needs_probs=True)
    score = score_fn(_candidate_probs(inp))                                  # (Nu,)
    return _rank_select(name, inp, nan_safe(score, -math.inf if descending else math.inf),
                        descending=descending, seed=seed, dtype=dtype, t0=t0, progress=progress)


def _margin(p: torch.Tensor) -> torch.Tensor:
    top2 = torch.topk(p, 2, dim=1).values                                    # (Nu, 2)
    return top2[:, 0] - top2[:, 1]


@thread_policy("entropy")
@memory_checked("entropy")
def entropy_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                   device: Any = None, dtype: torch.dtype = torch.float64,
                   progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """The `batch_size` unlabeled points of highest predictive entropy −Σ p log p (0 log 0 = 0)."""
    return _uncertainty_select("entropy", lambda p: torch.special.entr(p).sum(1), descending=True,
                               embeddings=embeddings, probs=probs, labeled=labeled, batch_size=batch_size,
                               seed=seed, device=device, dtype=dtype, progress=progress, options=options)


@thread_policy("margin")
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


@thread_policy("confidence")
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
    coef = _factors(p)                                                       # (M, K)
    return (coef[:, :, None] * h[:, None, :]).reshape(h.shape[0], -1)        # (M, K·d)


def _factors(p: torch.Tensor) -> torch.Tensor:
    """a = p − e_ŷ (ŷ = argmax p, first on ties): the class factor of g = a ⊗ h.  (M, K)"""
    a = p.clone()
    a[torch.arange(p.shape[0], device=p.device), p.argmax(dim=1)] -= 1.0
    return a


def factored_sq_distances(a: torch.Tensor, h: torch.Tensor, a_sq: torch.Tensor, h_sq: torch.Tensor,
                          j: int) -> torch.Tensor:
    """‖g_i − g_j‖² for every row i, with g_i = a_i ⊗ h_i never formed.  (M,)

    ‖g_i − g_j‖² = ‖a_i‖²‖h_i‖² + ‖a_j‖²‖h_j‖² − 2 (a_i·a_j)(h_i·h_j): O(M·(K+d)) instead of O(M·K·d).
    a (M, K), h (M, d); a_sq, h_sq (M,) their squared row norms. Values below the expansion's rounding
    (8·eps·(‖g_i‖² + ‖g_j‖²)) are set to 0, so a point coincident with g_j is at distance exactly 0
    (as with explicit differences) and can never be drawn by D² sampling; never negative.
    """
    n_sq = a_sq * h_sq                                                       # (M,) ‖g_i‖²
    cross = (a @ a[j]) * (h @ h[j])                                          # (M,) g_i·g_j
    d2 = n_sq + n_sq[j] - 2.0 * cross
    tol = 8.0 * torch.finfo(d2.dtype).eps * (n_sq + n_sq[j])
    return d2.masked_fill(d2 <= tol, 0.0)


@thread_policy("badge")
@memory_checked("badge")
def badge_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                 device: Any = None, dtype: torch.dtype = torch.float64,
                 progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """BADGE as in the paper (Ash et al., ICLR 2020, Algorithm 1; original code `init_centers` in
    badge's query_strategies/badge_sampling.py): k-means++ seeding on the gradient embeddings
    g_i = a_i ⊗ h_i, a_i = p_i − e_ŷ (ŷ = argmax p_i; the paper's sign is opposite, which changes
    no distance).

    1. The first center is the unlabeled point of largest ‖g_i‖ (lowest index on ties).
    2. Each next center is ONE draw with probability D²(x)/Σ D², D(x) = distance to the nearest
       chosen center (scikit-learn's kmeans_plusplus differs: random first point and the best of
       2 + ln B trials per step; it is registered separately as "badge-sklearn").

    Distances come from the factored form (see :func:`factored_sq_distances`): the Nu×(K·d) matrix
    is never built, each new center costs O(Nu·(K+d)). Computed on `device` in `dtype` (float64
    default). Randomness: one numpy Generator, np.random.default_rng(seed), one uniform per draw.
    When every remaining point coincides with a chosen center (Σ D² = 0; the original code stops in
    a debugger there) the rest of the batch is a seeded uniform draw from the untouched unlabeled
    points (params["n_topped_up"] counts them).

    embeddings (N, d), probs (N, K) (classification only: a ValueError without probs), labeled (N,)
    bool mask or indices. Returns a Selection: indices (B,) int64 in pick order; gains (B,) float64:
    each pick's distance to the nearest earlier pick (the first: its norm); scores (N,): the
    gradient-embedding norm ‖a‖·‖h‖ (NaN for labeled points). progress("select", t, B, None) after
    each pick; raising in it cancels the selection.
    """
    t0 = time.perf_counter()
    seed, inp = _checked_inputs("badge", seed, options, embeddings, probs, labeled, batch_size, device, dtype,
                                needs_probs=True)
    B = inp.batch_size
    cand = torch.as_tensor(inp.unlabeled, device=inp.h.device)
    # one CPU thread: every step is a few memory-bound passes over Nu numbers, where waiting for a
    # second OpenMP thread on a busy machine costs more than the work (threads.py)
    with torch.no_grad(), single_cpu_thread(inp.h.device.type == "cpu"):
        h = inp.h[cand].to(dtype)                                            # (Nu, d)
        a = _factors(inp.p[cand].to(dtype))                              # (Nu, K)
        a_sq, h_sq = (a * a).sum(1), (h * h).sum(1)                          # (Nu,), (Nu,)
        norms_t = (a_sq * h_sq).sqrt()                                       # (Nu,) ‖g_i‖
        norms = norms_t.to("cpu", torch.float64).numpy()
        Nu = h.shape[0]
        _sync(h.device)
        t_setup = time.perf_counter()
        if progress:
            progress("select", 0, B, None)

        rng = np.random.default_rng(seed)
        taken = torch.zeros(Nu, dtype=torch.bool, device=h.device)
        rows = np.empty(B, dtype=np.int64)
        gains = np.zeros(B)
        n_uniform = 0
        j = int(np.argmax(norms))                                            # largest norm, first on ties
        rows[0], gains[0] = j, norms[j]
        taken[j] = True
        D2 = factored_sq_distances(a, h, a_sq, h_sq, j).masked_fill(taken, 0.0)  # (Nu,)
        if progress:
            progress("select", 1, B, None)
        for t in range(1, B):
            cum = torch.cumsum(D2, 0)                                        # (Nu,)
            total = float(cum[-1])
            if total > 0.0 and math.isfinite(total):
                u = float(rng.random()) * total
                j = int(torch.searchsorted(cum, torch.tensor([u], device=cum.device, dtype=cum.dtype),
                                           right=True)[0])
                if j >= Nu or bool(taken[j]):                              # u rounded onto the total
                    j = int(torch.nonzero(D2 > 0)[-1])
                gains[t] = math.sqrt(float(D2[j]))
            else:                                                            # Σ D² = 0: uniform top-up
                free = torch.nonzero(~taken).flatten()
                j = int(free[int(rng.integers(free.numel()))])
                n_uniform += 1
            rows[t] = j
            taken[j] = True
            D2 = torch.minimum(D2, factored_sq_distances(a, h, a_sq, h_sq, j)).masked_fill_(taken, 0.0)
            if progress:
                progress("select", t + 1, B, None)
        _sync(h.device)
    t_forward = time.perf_counter()
    return Selection(strategy="badge", indices=inp.unlabeled[rows], gains=gains,
                     scores=pool_scores(inp.labeled, inp.unlabeled, torch.from_numpy(norms)),
                     timings=_timings(t0, t_setup, t_forward),
                     params=_params(inp, seed, dtype, n_topped_up=n_uniform))


@thread_policy("badge-sklearn")
@memory_checked("badge-sklearn")
def badge_sklearn_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *, seed: int = 0,
                 device: Any = None, dtype: torch.dtype = torch.float64,
                 progress: Optional[ProgressFn] = None, **options: Any) -> Selection:
    """BADGE through scikit-learn: sklearn.cluster.kmeans_plusplus on the explicit gradient embeddings.

    Not the paper's algorithm (see :func:`badge_select`): scikit-learn starts from a random point and
    takes the best of 2 + ln B D²-sampled trials at each step ("greedy k-means++"). Kept for comparison
    under the registry name "badge-sklearn"; it builds the Nu×(K·d) matrix.

    k-means++ can return the same point twice when the remaining points all sit on chosen
    centres (e.g. many identical / all-zero gradient embeddings); repeats are dropped and the batch
    is topped up with a seeded uniform draw from the untouched unlabeled points.
    scores: gradient-embedding norm ‖p − onehot(ŷ)‖·‖h‖ (NaN for labeled points).
    gains: each pick's Euclidean distance, in gradient space, to the nearest earlier pick (the
    first pick: its norm, i.e. its distance to the origin).
    """
    from sklearn.cluster import kmeans_plusplus  # imported lazily: sklearn is slow to import

    t0 = time.perf_counter()
    seed, inp = _checked_inputs("badge-sklearn", seed, options, embeddings, probs, labeled, batch_size, device, dtype,
                                needs_probs=True)
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
    return Selection(strategy="badge-sklearn", indices=inp.unlabeled[rows], gains=gains,
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


@thread_policy("coreset")
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
    seed, inp = _checked_inputs("coreset", seed, options, embeddings, probs, labeled, batch_size, device, dtype,
                                needs_probs=False)
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
