"""Exact BAIT (Ash et al., NeurIPS 2021) with incremental per-candidate K×K blocks.

Objective (minimised over the batch S):  tr(M⁻¹ F),  with the original code's conventions:

* F = (1/N) Σ_{x in pool} I(x): the pool Fisher averages labeled *and* unlabeled points.
* M = λ I + (n/(n+B)) · (1/n) Σ_{x∈L} I(x) + Σ_{x∈S} s² I(x),  s² = B/(n+B): the labeled Fisher
  is the mean over L times n/(n+B), and every candidate's factor V is scaled by sqrt(B/(n+B)).
* λ = 1, forward greedy to ⌈oversample·B⌉ points (oversample = 2; capped by the unlabeled count),
  then backward pruning back to B; last layer only, bias excluded.

Forward step: add the unlabeled x not yet in S with the largest reduction tr((I + P_x)⁻¹ Q_x).
Backward step: remove the x ∈ S with the smallest increase tr((I − P_x)⁻¹ Q_x).
Here P_x = V_xᵀ A V_x, Q_x = V_xᵀ A F A V_x, A = M⁻¹. Instead of recomputing P and Q for every
candidate at every step (≈ 4·N·K·D² multiply-adds and an N×K×D tensor in the original), we keep
them and update them after each rank-K commit A ← A − U C Uᵀ (U = A V*, C = (σI + P*)⁻¹):

    R = Vᵀ U,  S = Vᵀ Z  (Z = A F U),  W = Uᵀ F U
    P ← P − R C Rᵀ,   Q ← Q − S C Rᵀ − R C Sᵀ + R C W C Rᵀ,   objective ← objective − tr(C W)

which costs O(N·K²·d + N·K³) for the candidates plus O(K·D²) for A per step (see
shared/docs/bait-math.md). Gains are compared exactly as computed; ties go to the lowest index
(forward) or the earliest pick (backward); NaN never wins.

Shapes: h (Nu, d) candidate embeddings; G, P, Q (Nu, K, K); A, F (D, D), D = K·d.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import numpy as np
import torch

from .fisher import apply_factor, block_quadratic, fisher_factors, fisher_matrix, project
from .selection import ProgressFn, Selection, check_options, nan_safe, pool_scores, prepare_inputs


@contextmanager
def _ieee_matmul(device: torch.device) -> Iterator[None]:
    """Turn TF32 off for CUDA matmuls inside the block, restoring the caller's setting after."""
    if device.type != "cuda":
        yield
        return
    m = torch.backends.cuda.matmul
    old = m.allow_tf32
    m.allow_tf32 = False
    try:
        yield
    finally:
        m.allow_tf32 = old


def _trace_solve(Msys: torch.Tensor, Q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """tr(Msys⁻¹ Q) per batch element (..., K, K) and a mask of singular systems."""
    X, info = torch.linalg.solve_ex(Msys, Q)
    return X.diagonal(dim1=-2, dim2=-1).sum(-1), info != 0


def _inverse(M: torch.Tensor) -> torch.Tensor:
    """M⁻¹ for a small symmetric K×K matrix; pseudo-inverse when it is singular."""
    inv, info = torch.linalg.inv_ex(M)
    if int(info) != 0 or not torch.isfinite(inv).all():
        inv = torch.linalg.pinv(M, hermitian=True)
    return (inv + inv.T) / 2


class _State:
    """A = M⁻¹, F, and the candidates' P, Q; commits rank-K updates and keeps them all exact."""

    def __init__(self, h: torch.Tensor, G: torch.Tensor, A: torch.Tensor, F: torch.Tensor) -> None:
        self.h, self.G = h, G                                          # (Nu, d) (Nu, K, K)
        self.A, self.F = A.contiguous(), F.contiguous()                # (D, D) row-major: views below
        self.K = G.shape[1]
        self.Gt = G.transpose(1, 2).contiguous()                      # (Nu, K, K) Gᵀ
        self.P = self.Gt @ block_quadratic(h, A, self.K) @ G  # (Nu, K, K)
        AFA = A @ F @ A
        AFA = (AFA + AFA.T) / 2
        self.Q = self.Gt @ block_quadratic(h, AFA, self.K) @ G
        del AFA
        self.objective = float((A * F).sum())                          # tr(A F), both symmetric
        self.eye = torch.eye(self.K, device=h.device, dtype=h.dtype)

    def add_gains(self) -> torch.Tensor:
        """Reduction of the objective from adding each candidate: tr((I + P)⁻¹ Q).  (Nu,)

        I + P is symmetric positive definite: Cholesky, with a general solve for any row where
        rounding broke that."""
        M = self.eye + self.P
        L, info = torch.linalg.cholesky_ex(M)
        g = torch.cholesky_solve(self.Q, L).diagonal(dim1=-2, dim2=-1).sum(-1)
        bad = info != 0
        if bool(bad.any()):
            g_bad, singular = _trace_solve(M[bad], self.Q[bad])
            g[bad] = g_bad.masked_fill(singular, -math.inf)
        return g

    def remove_increase(self, rows: torch.Tensor) -> torch.Tensor:
        """Increase of the objective from removing each of `rows`: tr((I − P)⁻¹ Q).  (len(rows),)"""
        g, singular = _trace_solve(self.eye - self.P[rows], self.Q[rows])
        return g.masked_fill(singular, math.inf)

    def commit(self, j: int, sigma: float, rows: Optional[torch.Tensor] = None) -> float:
        """Add (σ=+1) or remove (σ=−1) candidate j; update A, the objective and P, Q of `rows`
        (all candidates when None). Returns the new objective."""
        g, hj = self.G[j], self.h[j]
        U = apply_factor(self.A, hj, g)                                # (D, K) = A V*
        C = _inverse(sigma * self.eye + self.P[j])                     # (K, K)
        FU = self.F @ U                                                # (D, K)
        W = U.T @ FU
        W = (W + W.T) / 2                                              # (K, K) = V*ᵀ A F A V*
        Z = self.A @ FU                                                # (D, K)
        self.objective -= float((C * W).sum())                         # tr(C W), C and W symmetric
        UC = U @ C
        self.A.addmm_(UC, U.T, alpha=-1.0)
        # Candidates: R = Vᵀ U, Y = Vᵀ (Z − ½ U C W) C  (V = G ⊗ h, linear in the D×K right factor), so
        #   ΔP = R C Rᵀ,   ΔQ = S C Rᵀ + R C Sᵀ − R C W C Rᵀ = Y Rᵀ + R Yᵀ   (S = Vᵀ Z).
        h_r = self.h if rows is None else self.h[rows]
        Gt_r = self.Gt if rows is None else self.Gt[rows]
        T = project(h_r, torch.cat([U, (Z - 0.5 * (UC @ W)) @ C], dim=1), self.K)  # (r, K, 2K)
        R = Gt_r @ T[..., :self.K]                                     # (r, K, K)
        Y = Gt_r @ T[..., self.K:]                                     # (r, K, K)
        dP = (R @ C) @ R.transpose(1, 2)
        YR = Y @ R.transpose(1, 2)
        dQ = YR + YR.transpose(1, 2)
        if rows is None:
            self.P -= dP
            self.Q -= dQ
        else:
            self.P[rows] -= dP
            self.Q[rows] -= dQ
        return self.objective


def bait_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *,
                lamb: float = 1.0, oversample: float = 2.0, seed: int = 0, device: Any = None,
                dtype: torch.dtype = torch.float64, progress: Optional[ProgressFn] = None,
                **options: Any) -> Selection:
    """Pick `batch_size` unlabeled points by exact BAIT (forward greedy, then backward pruning).

    embeddings (N, d) penultimate embeddings of the whole pool; probs (N, K) softmax outputs, or
    None for a regression head (rank-1 Fisher h hᵀ); labeled: boolean mask (N,) or indices.
    lamb: ridge λ of M; oversample: forward steps = ⌈oversample·B⌉ (capped by the unlabeled count).
    seed: unused (BAIT is deterministic), accepted for the registry's common call shape.
    Computation runs on `device` (default: where the embeddings live) in `dtype` (float64 default;
    TF32 is turned off on CUDA). progress(phase, step, total, objective) is called after each step;
    raising in it cancels the selection.
    """
    t0 = time.perf_counter()
    check_options("bait", seed, options)
    try:
        lamb, oversample = float(lamb), float(oversample)
    except (TypeError, ValueError):
        raise ValueError(f"lamb and oversample must be numbers, got {lamb!r} and {oversample!r}.") from None
    if not (math.isfinite(lamb) and lamb > 0):
        raise ValueError(f"lamb (λ, the ridge term) must be a positive number, got {lamb}.")
    if not (math.isfinite(oversample) and oversample >= 1):
        raise ValueError(f"oversample must be at least 1 (the forward pass picks ⌈oversample·B⌉ points), got {oversample}.")
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype, strategy="bait")
    h_all, B = inp.h, inp.batch_size
    N = h_all.shape[0]
    n = inp.n
    dev = h_all.device
    with _ieee_matmul(dev), torch.no_grad():
        G_all = fisher_factors(inp.p, N, like=h_all)                  # (N, K, K)
        K, d = G_all.shape[1], h_all.shape[1]
        D = K * d
        if progress:
            progress("setup", 0, 3, None)
        F = fisher_matrix(h_all, G_all) / N                            # (D, D) pool Fisher
        M = lamb * torch.eye(D, device=dev, dtype=dtype)
        if n:
            lab = torch.as_tensor(np.flatnonzero(inp.labeled), device=dev)
            M += fisher_matrix(h_all[lab], G_all[lab]) / (n + B)      # mean over L × n/(n+B)
        if progress:
            progress("setup", 1, 3, None)
        L, info = torch.linalg.cholesky_ex(M)
        A = torch.cholesky_inverse(L) if int(info) == 0 else torch.linalg.pinv(M, hermitian=True)
        A = (A + A.T) / 2
        del M, L
        cand = torch.as_tensor(inp.unlabeled, device=dev)
        h = h_all[cand]                                                # (Nu, d)
        G = G_all[cand] * math.sqrt(B / (n + B))                       # (Nu, K, K) scaled factors
        del G_all
        state = _State(h, G, A, F)
        if progress:
            progress("setup", 3, 3, state.objective)
        t_setup = time.perf_counter()

        Nu = h.shape[0]
        T = min(math.ceil(oversample * B), Nu)
        taken = torch.zeros(Nu, dtype=torch.bool, device=dev)
        order: list[int] = []
        fgains: list[float] = []
        objective = [state.objective]
        first_scores: Optional[torch.Tensor] = None
        for t in range(T):
            g = state.add_gains()
            if first_scores is None:
                first_scores = g.clone()
            g = nan_safe(g).masked_fill(taken, -math.inf)
            j = int(torch.argmax(g))                                   # first maximum: lowest index
            if taken[j]:                                               # every gain -inf/NaN: lowest free
                j = int(torch.nonzero(~taken)[0])
            order.append(j)
            fgains.append(float(g[j]))
            taken[j] = True
            objective.append(state.commit(j, +1.0))
            if progress:
                progress("forward", t + 1, T, state.objective)
        t_forward = time.perf_counter()

        members = list(order)
        pruned: list[int] = []
        R_total = len(members) - B
        for r in range(R_total):
            rows = torch.as_tensor(members, device=dev)
            inc = nan_safe(state.remove_increase(rows), math.inf)
            i = int(torch.argmin(inc))                                 # first minimum: earliest pick
            j = members.pop(i)
            pruned.append(j)
            objective.append(state.commit(j, -1.0, rows))
            if progress:
                progress("backward", r + 1, R_total, state.objective)
        t_backward = time.perf_counter()

    unl = inp.unlabeled
    gain_of = dict(zip(order, fgains))
    return Selection(
        strategy="bait",
        indices=unl[np.asarray(members, dtype=np.int64)],
        gains=np.array([gain_of[j] for j in members], dtype=np.float64),
        scores=pool_scores(inp, first_scores),
        pruned=unl[np.asarray(pruned, dtype=np.int64)],
        forward_indices=unl[np.asarray(order, dtype=np.int64)],
        forward_gains=np.asarray(fgains, dtype=np.float64),
        objective=np.asarray(objective, dtype=np.float64),
        n_forward=T,
        timings={"setup": t_setup - t0, "forward": t_forward - t_setup,
                 "backward": t_backward - t_forward, "total": t_backward - t0},
        params={"lamb": lamb, "oversample": oversample, "batch_size": B, "n_labeled": n,
                "device": str(dev), "dtype": str(dtype).replace("torch.", ""), "K": K, "d": d},
    )
