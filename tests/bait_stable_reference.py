"""The stable reference for ill-conditioned problems: BAIT's greedy with every step's gains computed
from a fresh Cholesky factorisation of M (never an updated inverse), in float64.

Used only by the tests and bench/bench_numerics.py. Per step it forms M = λI + Σ_L I(x)/(n+B)
+ Σ_S s²·I(x) from the factors, factorises M = L Lᵀ, and for every candidate computes

    Y = L⁻¹ V,  P = Yᵀ Y,  Z = L⁻ᵀ Y = M⁻¹ V,  Q = Zᵀ F Z,   gain = tr((I ± P)⁻¹ Q)

(triangular solves are backward stable: the error of P and Q is relative to their current size,
not to the size they had when M was small). The objective is tr(M⁻¹F) by cholesky_solve. It uses
the original code's N×K×D tensor of factors (in the (K−1)·d coordinates orthogonal to 1 ⊗ Rᵈ, where
every point's Fisher vanishes), so it is for small fixtures only. Ties: lowest index
forward, earliest pick backward, as the engine.
"""

from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch

from .bait_reference import exp_grad_embedding


def _factors(h: np.ndarray, p: Optional[np.ndarray]) -> torch.Tensor:
    h = torch.as_tensor(np.asarray(h, dtype=np.float64))
    if p is None:
        return exp_grad_embedding(h, None)
    p = np.asarray(p, dtype=np.float64)
    p = p / p.sum(1, keepdims=True)
    X = exp_grad_embedding(h, torch.as_tensor(p))                      # (N, K, D)
    # every I(x) vanishes on 1 ⊗ Rᵈ; drop those d directions exactly (in them M = λI and F = 0, and
    # rounding of Σp would be amplified by 1/λ): coordinates in H ⊗ I_d, H an orthonormal basis of 1⊥
    # (from a QR factorisation here, independent of the engine's Householder construction)
    K, d = p.shape[1], h.shape[1]
    basis = np.linalg.qr(np.concatenate([np.ones((K, 1)), np.eye(K)[:, :K - 1]], axis=1))[0][:, 1:]
    return X @ torch.as_tensor(np.kron(basis, np.eye(d)))              # (N, K, (K−1)·d)


def direct_objective(X_all: torch.Tensor, labeled: np.ndarray, chosen: list[int], unl: np.ndarray,
                     batch_size: int, lamb: float) -> float:
    """tr(M⁻¹F) by a Cholesky solve, with S = unl[chosen]."""
    M, F = _system(X_all, labeled, [int(unl[j]) for j in chosen], batch_size, lamb)
    L = torch.linalg.cholesky(M)
    return float(torch.cholesky_solve(F, L).trace())


def _system(X_all: torch.Tensor, labeled: np.ndarray, chosen_pool: list[int], B: int, lamb: float):
    N, _, D = X_all.shape
    n = int(labeled.sum())
    flat = X_all.reshape(N * X_all.shape[1], D)
    F = flat.T @ flat / N
    M = lamb * torch.eye(D, dtype=X_all.dtype)
    if n:
        Xl = X_all[torch.as_tensor(labeled)].reshape(-1, D)
        M = M + Xl.T @ Xl / (n + B)
    if chosen_pool:
        Xs = X_all[torch.as_tensor(chosen_pool)].reshape(-1, D)
        M = M + Xs.T @ Xs * (B / (n + B))
    return (M + M.T) / 2, (F + F.T) / 2


def _gains(X: torch.Tensor, L: torch.Tensor, F: torch.Tensor, sign: float) -> torch.Tensor:
    """tr((sign·I + P)⁻¹ Q) for each candidate's scaled factor X (c, K, D) (rows are Vᵀ)."""
    c, K, D = X.shape
    V = X.transpose(1, 2)                                              # (c, D, K)
    Y = torch.linalg.solve_triangular(L, V.permute(1, 0, 2).reshape(D, c * K), upper=False)
    Z = torch.linalg.solve_triangular(L.T, Y, upper=True)             # M⁻¹ V, (D, c·K)
    Y = Y.reshape(D, c, K).permute(1, 0, 2)                            # (c, D, K)
    Z = Z.reshape(D, c, K).permute(1, 0, 2)
    P = Y.transpose(1, 2) @ Y
    Q = Z.transpose(1, 2) @ F @ Z
    Msys = torch.eye(K, dtype=X.dtype) + sign * P                      # I + P (add), I − P (remove)
    X_, info = torch.linalg.solve_ex(Msys, Q)
    g = X_.diagonal(dim1=-2, dim2=-1).sum(-1)
    return g.masked_fill(info != 0, -math.inf if sign > 0 else math.inf)


def stable_select(h, p, labeled, batch_size, lamb=1.0, oversample=2.0):
    """(indices, pruned, objective, forward) of the greedy computed stably; objective[t] is tr(M⁻¹F)
    by a direct solve after t steps (forward then backward); forward: the forward order."""
    labeled = np.asarray(labeled, dtype=bool)
    X_all = _factors(h, p)                                             # (N, K, D)
    n, B = int(labeled.sum()), int(batch_size)
    unl = np.flatnonzero(~labeled)
    X = X_all[torch.as_tensor(unl)] * math.sqrt(B / (n + B))
    T = min(math.ceil(oversample * B), len(unl))
    chosen: list[int] = []
    objective = [direct_objective(X_all, labeled, chosen, unl, B, lamb)]
    for _ in range(T):
        M, F = _system(X_all, labeled, [int(unl[j]) for j in chosen], B, lamb)
        L = torch.linalg.cholesky(M)
        g = _gains(X, L, F, 1.0)
        g = torch.where(torch.isnan(g), torch.full_like(g, -math.inf), g)
        if chosen:
            g[torch.as_tensor(chosen)] = -math.inf
        j = int(torch.argmax(g))
        if j in chosen:
            j = next(i for i in range(len(unl)) if i not in chosen)
        chosen.append(j)
        objective.append(direct_objective(X_all, labeled, chosen, unl, B, lamb))
    forward = unl[chosen].copy()
    pruned: list[int] = []
    while len(chosen) > B:
        M, F = _system(X_all, labeled, [int(unl[j]) for j in chosen], B, lamb)
        L = torch.linalg.cholesky(M)
        inc = _gains(X[torch.as_tensor(chosen)], L, F, -1.0)
        inc = torch.where(torch.isnan(inc), torch.full_like(inc, math.inf), inc)
        i = int(torch.argmin(inc))
        pruned.append(chosen.pop(i))
        objective.append(direct_objective(X_all, labeled, chosen, unl, B, lamb))
    return unl[chosen], unl[pruned].astype(np.int64), np.array(objective), forward
