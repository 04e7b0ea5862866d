"""The slow reference: a direct re-expression of the original BAIT code (JordanAsh/badge,
`bait_sampling.py` + `get_exp_grad_embedding`), used only by the tests and the benchmark.

It builds the explicit N×K×D tensor of per-class gradient embeddings and recomputes every
candidate's Vᵀ A V and Vᵀ A F A V from scratch at every greedy step (≈ 4·N·K·D² multiply-adds),
exactly like the original, in float64. The only deliberate differences: ties are broken by the
lowest index (the original's np.argsort order is unspecified for ties), the number of forward
steps is ⌈oversample·B⌉ capped by the pool (the original: int(2·B)), and candidates are processed in
chunks so the temporaries stay bounded (the arithmetic is the same).
"""

from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np
import torch


def exp_grad_embedding(h: torch.Tensor, p: Optional[torch.Tensor]) -> torch.Tensor:
    """The original's (N, K, D) tensor: row y = sqrt(p_y) · [h·(δ_yc − p_c)]_c (class-major).

    Regression (p None): (N, 1, d), the embedding itself.
    """
    if p is None:
        return h[:, None, :].clone()
    N, d = h.shape
    K = p.shape[1]
    emb = torch.zeros(N, K, K * d, dtype=h.dtype, device=h.device)
    for ind in range(K):
        for c in range(K):
            coef = (1 - p[:, c]) if c == ind else (-1 * p[:, c])
            emb[:, ind, c * d:(c + 1) * d] = h * coef[:, None]
        emb[:, ind] = emb[:, ind] * torch.sqrt(p[:, ind])[:, None]
    return emb


def _sum_outer(xt: torch.Tensor, chunk: int = 512) -> torch.Tensor:
    D = xt.shape[-1]
    out = torch.zeros(D, D, dtype=xt.dtype, device=xt.device)
    for s in range(0, xt.shape[0], chunk):
        x = xt[s:s + chunk].reshape(-1, D)            # Σ_x xtᵀ xt over a chunk, one GEMM
        out += x.T @ x
    return out


def _forward_trace(X: torch.Tensor, A: torch.Tensor, F: torch.Tensor, sign: float, chunk: int) -> torch.Tensor:
    """The original's traceEst for every row of X: diag(X A F A Xᵀ (sign·I + X A Xᵀ)⁻¹).sum()."""
    rank = X.shape[1]
    eye = torch.eye(rank, dtype=X.dtype, device=X.device)
    out = []
    for s in range(0, X.shape[0], chunk):
        xt_ = X[s:s + chunk]
        inner = torch.inverse(sign * eye + xt_ @ A @ xt_.transpose(1, 2))
        out.append(torch.diagonal(xt_ @ A @ F @ A @ xt_.transpose(1, 2) @ inner, dim1=-2, dim2=-1).sum(-1))
    return torch.cat(out)


def _commit(A: torch.Tensor, x: torch.Tensor, sign: float) -> torch.Tensor:
    rank = x.shape[0]
    eye = torch.eye(rank, dtype=A.dtype, device=A.device)
    inner = torch.inverse(sign * eye + x @ A @ x.T)
    return A - A @ x.T @ inner @ x @ A


def reference_setup(h, p, labeled, batch_size, lamb=1.0):
    """xt of the candidates (scaled), the pool Fisher, and the starting inverse, as the original."""
    h = torch.as_tensor(h, dtype=torch.float64)
    p = None if p is None else torch.as_tensor(p, dtype=torch.float64)
    labeled = np.asarray(labeled, dtype=bool)
    N = h.shape[0]
    xt = exp_grad_embedding(h, p)
    fisher = _sum_outer(xt) / N
    n = int(labeled.sum())
    D = xt.shape[-1]
    init = _sum_outer(xt[torch.as_tensor(labeled)]) / n if n else torch.zeros(D, D, dtype=h.dtype)
    A = torch.inverse(lamb * torch.eye(D, dtype=h.dtype) + init * n / (n + batch_size))
    unl = np.flatnonzero(~labeled)
    X = xt[torch.as_tensor(unl)] * np.sqrt(batch_size / (n + batch_size))
    return X, fisher, A, unl


def reference_select(h, p, labeled, batch_size, lamb=1.0, oversample=2.0, chunk=256,
                     max_forward_steps: Optional[int] = None, timings: Optional[dict] = None):
    """Returns (indices, pruned, objective) exactly as the original algorithm would pick them.

    objective: tr(A F) recomputed from the explicit A at the start and after every step.
    max_forward_steps: stop after that many forward steps (for timing); then no backward pass.
    timings: if a dict is given, it receives "setup" and "forward_steps" (seconds per step).
    """
    t0 = time.perf_counter()
    X, fisher, A, unl = reference_setup(h, p, labeled, batch_size, lamb)
    if timings is not None:
        timings["setup"] = time.perf_counter() - t0
        timings["forward_steps"] = []
    B = batch_size
    T = min(math.ceil(oversample * B), X.shape[0])
    inds: list[int] = []
    objective = [float(torch.trace(A @ fisher))]
    steps = T if max_forward_steps is None else min(T, max_forward_steps)
    for _ in range(steps):
        t_step = time.perf_counter()
        trace_est = _forward_trace(X, A, fisher, 1.0, chunk).numpy()
        trace_est = np.where(np.isnan(trace_est), -np.inf, trace_est)
        ind = None
        for j in np.argsort(-trace_est, kind="stable"):
            if j not in inds:
                ind = int(j)
                break
        inds.append(ind)
        A = _commit(A, X[ind], 1.0)
        objective.append(float(torch.trace(A @ fisher)))
        if timings is not None:
            timings["forward_steps"].append(time.perf_counter() - t_step)
    if max_forward_steps is not None and steps < T:
        return unl[inds], np.zeros(0, np.int64), np.array(objective)
    pruned = []
    while len(inds) > B:
        trace_est = _forward_trace(X[inds], A, fisher, -1.0, chunk)
        del_ind = int(torch.argmin(-1 * trace_est))
        A = _commit(A, X[inds[del_ind]], -1.0)
        pruned.append(inds.pop(del_ind))
        objective.append(float(torch.trace(A @ fisher)))
    return unl[inds], unl[pruned].astype(np.int64) if pruned else np.zeros(0, np.int64), np.array(objective)


def assert_same_as_reference(sel, h, p, labeled, batch_size, **kw) -> None:
    """The selection's picks, pruned points and objective trace are the reference's."""
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, batch_size, **kw)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)
