"""Last-layer Fisher information in factored (Kronecker) form.

For a point with penultimate embedding h (d,) and softmax p (K,), the Fisher of the linear head's
weights W (K×d, bias excluded, vec(W) class-major: block k is row k of W) is

    I(x) = (diag p − p pᵀ) ⊗ h hᵀ = V Vᵀ,   V = G ⊗ h  (D×K, D = K·d),
    G[:, y] = sqrt(p_y) (e_y − p)          (K×K, rank K−1; G Gᵀ = diag p − p pᵀ).

Nothing here materialises the N×K×D tensor of the original code: only h (N, d) and G (N, K, K).
For a regression head under squared loss, I(x) = h hᵀ: G = [1], K = 1.

Shapes: h (N, d); p (N, K); G (N, K, K); D×D matrices (K·d, K·d); block quadratic forms (N, K, K).
Derivations: docs/bait-math.md (sections 1, 5).
"""

from __future__ import annotations

from typing import Any, Optional

import torch

# Point-wise passes go in chunks of rows: enough rows that each read of a D×D matrix is reused
# (≥ 256), few enough that a chunk's temporaries (rows × D) stay near 2^21 elements and in cache.
CHUNK_ELEMENTS = 1 << 21


def _chunk_rows(n_rows: int, per_row: int) -> int:
    return max(1, min(n_rows, 1024, max(256, CHUNK_ELEMENTS // max(1, per_row))))


def fisher_factors(probs: Optional[torch.Tensor], n_points: Optional[int] = None,
                   *, like: Optional[torch.Tensor] = None) -> torch.Tensor:
    """G (N, K, K) with G Gᵀ = diag p − p pᵀ; column y is sqrt(p_y)(e_y − p).

    probs=None gives the regression factor G = [1] (N, 1, 1); pass n_points and `like` (a tensor
    whose device and dtype to use) then.
    """
    if probs is None:
        if n_points is None or like is None:
            raise ValueError("fisher_factors(None) needs n_points and like= for the regression factor.")
        return torch.ones(n_points, 1, 1, device=like.device, dtype=like.dtype)
    sq = probs.clamp_min(0).sqrt()                                     # (N, K)
    return torch.diag_embed(sq) - probs.unsqueeze(2) * sq.unsqueeze(1)  # (N, K, K)


def class_basis(K: int, *, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, float]:
    """(w, c) of the fixed orthonormal basis H (K, K−1) of 1⊥: H = (I − c·w wᵀ)[:, :K−1], the Householder
    reflection mapping 1/√K to −e_K (w = 1/√K + e_K, c = 2/‖w‖²). Hᵀ X = (X − c·w (wᵀX))[:K−1] and
    H Y = [Y; 0] − c·w (w[:K−1]ᵀ Y), O(K) a column (docs/bait-math.md section 8.1)."""
    w = torch.full((K,), 1.0 / (K ** 0.5), dtype=dtype, device=device)
    w[-1] += 1.0
    return w, 2.0 / float(w @ w)


def pair_indices(d: int, *, dtype: torch.dtype, device: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(a, b, w) over the d(d+1)/2 pairs a ≤ b, w = ½ where a = b else 1: for symmetric S,
    hᵀ S h = Σ_pairs w·h_a h_b (S[a, b] + S[b, a]) — the pair form's one GEMM over the products h_a h_b."""
    a, b = torch.triu_indices(d, d, device=device)
    return a, b, torch.where(a == b, 0.5, 1.0).to(dtype)


def reduced_factors(probs: Optional[torch.Tensor], n_points: Optional[int] = None,
                    *, like: Optional[torch.Tensor] = None, columns: Optional[torch.Tensor] = None) -> torch.Tensor:
    """R (N, K−1, K−1) with (H R)(H R)ᵀ = diag p − p pᵀ: the Fisher factor in the K−1 class
    directions orthogonal to the all-ones vector (exact; docs/bait-math.md section 8).

    Every point's Fisher vanishes on 1 ⊗ Rᵈ ((diag p − p pᵀ)·1 = 0), so BAIT's objective and gains
    live in the (K−1)·d-dimensional complement. Working there drops d directions in which M = λI
    and F = 0 (where rounding of Σp = 1 would otherwise be amplified by 1/λ), and shrinks D.

    H (K, K−1) is the fixed orthonormal basis of 1⊥ given by the Householder reflection that maps
    1/√K to −e_K (its first K−1 columns). With u = √p (‖u‖ = 1) and the per-point reflection Q_u
    mapping u to −e_K, G Q_u = diag(u) Q_u + p e_Kᵀ, so G Q_u's first K−1 columns are
    u_i (δ_ij − 2 v_i u_j/‖v‖²), v = u + e_K (no cancellation: u ≥ 0), and its last column is G u = 0.
    R = Hᵀ (G Q_u)[:, :K−1]. Rows of `probs` are renormalised to sum to 1 first.

    columns: optional (N, c) long tensor of class indices: the factor of the top-c approximation
    (Fisher of the listed classes' terms only, Σ_{y∈c} p_y (e_y − p)(e_y − p)ᵀ), shape (N, K−1, c).
    probs=None (regression): G = [1], (N, 1, 1), as fisher_factors; one class: ValueError.
    """
    if probs is None:
        return fisher_factors(None, n_points, like=like)
    N, K = probs.shape
    if K < 2:
        raise ValueError("a classifier needs at least 2 classes for its Fisher factor.")
    p = probs.clamp_min(0)
    p = p / p.sum(1, keepdim=True)
    u = p.sqrt()                                                       # (N, K), unit norm
    w, cw = class_basis(K, dtype=p.dtype, device=p.device)            # Hᵀ X = (X − cw·w (wᵀX))[:K−1]
    if columns is None:
        v = u.clone()
        v[:, -1] += 1.0                                                # u + e_K, ‖v‖² = 2(1 + u_K) ≥ 2
        coef = 2.0 / (v * v).sum(1)                                    # (N,)
        # (G Q_u)[:, j] = u ∘ (e_j − coef·v·u_j) for j < K−1 (column K−1 is G u = 0, dropped), so with
        # E = [I; 0]:  R = Hᵀ(G Q_u)E = diag(u_r) − cw·w_r (w∘u)_rᵀ − coef·z u_rᵀ,
        # z = Hᵀ(u∘v) = (u∘v)_r − cw·w_r (w·(u∘v)): a diagonal plus a rank-2 term, built in one pass
        uv = u * v                                                     # (N, K)
        z = uv[:, :-1] - cw * w[:-1] * (uv @ w)[:, None]               # (N, K−1)
        left = torch.stack([(cw * w[:-1]).expand_as(z), coef[:, None] * z], dim=2)   # (N, K−1, 2)
        right = torch.stack([(w * u)[:, :-1], u[:, :-1]], dim=1)       # (N, 2, K−1)
        out = torch.bmm(left, right).neg_()
        out.diagonal(dim1=1, dim2=2).add_(u[:, :-1])
        return out
    else:
        uc = torch.gather(u, 1, columns)                               # (N, c)
        Gq = -p[:, :, None] * uc[:, None, :]                           # −p u_yᵀ
        Gq.scatter_add_(1, columns[:, None, :], uc[:, None, :])        # + u_y e_y
    wX = torch.einsum("k,nkj->nj", w, Gq)                              # (N, cols)
    out = Gq - cw * w[None, :, None] * wX[:, None, :]
    return out[:, :-1].contiguous()


def symmetrize_(M: torch.Tensor, block: int = 1024) -> torch.Tensor:
    """M ← (M + Mᵀ)/2 in place, block by block (no second D×D matrix)."""
    n = M.shape[0]
    for i in range(0, n, block):
        for j in range(i, n, block):
            avg = (M[i:i + block, j:j + block] + M[j:j + block, i:i + block].T) / 2
            M[i:i + block, j:j + block] = avg
            M[j:j + block, i:i + block] = avg.T
    return M


def fisher_matrix(h: torch.Tensor, G: torch.Tensor, weights: Optional[torch.Tensor] = None,
                  *, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Σ_n w_n (G_n G_nᵀ) ⊗ h_n h_nᵀ as a D×D matrix (w = 1 when not given); added into `out`
    when given (which must then be symmetric).

    Block (k, l) is Σ_n w_n C_n[k, l] h_n h_nᵀ with C = G Gᵀ. Only the blocks l ≥ k are computed
    (GEMMs of d×N×(K−k)·d, about N·D²/2 multiply-adds in all, instead of the N·K·D² of summing
    V Vᵀ over the N×K×D tensor); the lower blocks are their transposes.
    """
    n, d = h.shape
    K = G.shape[1]
    if out is None:
        out = torch.zeros(K * d, K * d, device=h.device, dtype=G.dtype)
    if d <= PAIR_FORM_MAX_D and K >= PAIR_FORM_MIN_K:
        return _fisher_pairs(h, G, weights, out)
    step = _chunk_rows(n, K * d)
    for s in range(0, n, step):
        hc, Gc = h[s:s + step].to(G.dtype), G[s:s + step]              # (c, d), (c, K, K)
        Cc = Gc @ Gc.transpose(1, 2)                                   # (c, K, K) = diag p − p pᵀ
        if weights is not None:
            Cc = Cc * weights[s:s + step].view(-1, 1, 1)
        for k in range(K):
            wk = (Cc[:, k, k:, None] * hc[:, None, :]).reshape(hc.shape[0], (K - k) * d)  # (c, (K−k)·d)
            out[k * d:(k + 1) * d, k * d:].addmm_(hc.T, wk)
    return _mirror_upper_blocks_(out, d)


# Narrow embeddings and many class blocks: fisher_matrix by pairs (one GEMM over the products
# C[a, b]·h_j h_l with a ≤ b, j ≤ l), a quarter of the block form's multiply-adds and no (rows × D)
# intermediate (measured N = 3000, d = 32, K = 100: 0.4 s against 1.1 s on one thread).
PAIR_FORM_MAX_D = 64
PAIR_FORM_MIN_K = 16


def _fisher_pairs(h: torch.Tensor, G: torch.Tensor, weights: Optional[torch.Tensor],
                  out: torch.Tensor) -> torch.Tensor:
    """fisher_matrix's sum added into `out` through the pair form: every block F_ab = Σ_n C_n[a, b]
    h_n h_nᵀ (C = G Gᵀ) is symmetric and F_ab = F_ba, so the K(K+1)/2 × d(d+1)/2 numbers
    Σ_n C_n[a, b] h_nj h_nl (a ≤ b, j ≤ l) are all of F: one GEMM per chunk of rows."""
    n, d = h.shape
    K = G.shape[1]
    dev, dt = h.device, G.dtype
    ka, kb = torch.triu_indices(K, K, device=dev)
    ja, jb = torch.triu_indices(d, d, device=dev)
    acc = torch.zeros(ka.numel(), ja.numel(), device=dev, dtype=dt)   # (K pairs, d pairs)
    step = max(1, min(n, CHUNK_ELEMENTS // max(1, ka.numel() + ja.numel())))
    for s in range(0, n, step):
        hc, Gc = h[s:s + step].to(dt), G[s:s + step]
        Cc = Gc @ Gc.transpose(1, 2)                                   # (c, K, K)
        if weights is not None:
            Cc = Cc * weights[s:s + step].view(-1, 1, 1)
        acc.addmm_(Cc[:, ka, kb].T, hc[:, ja] * hc[:, jb])
    kidx = torch.zeros(K, K, dtype=torch.long, device=dev)
    kidx[ka, kb] = torch.arange(ka.numel(), device=dev)
    kidx[kb, ka] = kidx[ka, kb]
    jidx = torch.zeros(d, d, dtype=torch.long, device=dev)
    jidx[ja, jb] = torch.arange(ja.numel(), device=dev)
    jidx[jb, ja] = jidx[ja, jb]
    full = acc[:, jidx]                                                # (K pairs, d, d)
    del acc
    out.view(K, d, K, d).add_(full[kidx].permute(0, 2, 1, 3))          # block (a, b) = full[pair(a, b)]
    return out


def _mirror_upper_blocks_(M: torch.Tensor, d: int) -> torch.Tensor:
    """Make M symmetric from its upper block triangle (blocks d×d): lower blocks ← upper ones
    transposed, diagonal blocks averaged with their transposes."""
    K = M.shape[0] // d
    for k in range(K):
        blk = M[k * d:(k + 1) * d, k * d:(k + 1) * d]
        blk.copy_((blk + blk.T) / 2)
        if k + 1 < K:
            M[(k + 1) * d:, k * d:(k + 1) * d] = M[k * d:(k + 1) * d, (k + 1) * d:].T
    return M


def block_quadratic(h: torch.Tensor, M: torch.Tensor, K: int) -> torch.Tensor:
    """(N, K, K) with out[n, k, l] = h_nᵀ M_kl h_n, M a symmetric D×D matrix seen as K×K blocks
    of d×d.

    Then for V_n = G_n ⊗ h_n:  V_nᵀ M V_n = G_nᵀ out[n] G_n. Only l ≥ k is computed (M symmetric
    makes out[n] symmetric): about N·D²/2 multiply-adds, chunked.
    """
    n, d = h.shape
    D = K * d
    out = torch.empty(n, K, K, device=h.device, dtype=M.dtype)
    step = _chunk_rows(n, D)
    for s in range(0, n, step):
        hc = h[s:s + step].to(M.dtype)                                 # (c, d)
        c, hcol = hc.shape[0], hc[:, :, None]
        for k in range(K):
            t = hc @ M[k * d:(k + 1) * d, k * d:]                      # (c, (K−k)·d): h_cᵀ M_k,l≥k
            row = torch.bmm(t.view(c, K - k, d), hcol).view(c, K - k)
            out[s:s + step, k, k:] = row
            out[s:s + step, k + 1:, k] = row[:, 1:]
    return out


def gram_quadratic(h: torch.Tensor, G: torch.Tensor, h_all: torch.Tensor, C_all: torch.Tensor) -> torch.Tensor:
    """(N, K, K): V_nᵀ F V_n for F = Σ_i C_i ⊗ h_i h_iᵀ, through the Gram matrix of the embeddings:

        V_nᵀ F V_n = G_nᵀ [Σ_i (h_n·h_i)² C_i] G_n,

    N·N'·(d + K²) multiply-adds (h (N, d), G (N, K, K); h_all (N', d), C_all (N', K, K)) instead of
    N·D²/2 for a block_quadratic with an explicit F: the cheaper of the two when N' < K²·d/2.
    """
    n, K, r = h.shape[0], C_all.shape[1], G.shape[2]
    dt = C_all.dtype
    Cf = C_all.reshape(-1, K * K)                                      # (N', K²)
    hall = h_all.to(dt)
    out = torch.empty(n, r, r, device=h.device, dtype=dt)
    step = max(1, min(n, CHUNK_ELEMENTS // max(1, h_all.shape[0])))
    for s in range(0, n, step):
        k2 = (h[s:s + step].to(dt) @ hall.T).square_()                 # (c, N') (h_n·h_i)²
        T = (k2 @ Cf).view(-1, K, K)                                   # (c, K, K)
        Gc = G[s:s + step]
        out[s:s + step] = Gc.transpose(1, 2) @ T @ Gc
    return out


def fisher_apply(h: torch.Tensor, G: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """Σ_n V_n V_nᵀ X for X (D, k), V_n = G_n ⊗ h_n: a Fisher sum applied without forming it.

    h (N, d); G (N, K, r) (class blocks K, factor columns r; a transposed view is fine); X (D, k),
    D = K·d. Returns (D, k) in X's dtype. Per chunk of rows: T = h·X (the blocks' projections,
    (c, K, k)), then G Gᵀ T, then hᵀ(G Gᵀ T) accumulated: about 2·N·D·k + 2·N·K·r·k multiply-adds and
    no D×D matrix (fisher_matrix costs N·D²/2 and D² memory). docs/bait-math.md section 4a.
    """
    n, d = h.shape
    K = G.shape[1]
    k = X.shape[1]
    dt = X.dtype
    Xd = X.reshape(K, d, k).permute(1, 0, 2).reshape(d, K * k)         # (d, K·k)
    acc = torch.zeros(d, K * k, device=X.device, dtype=dt)
    step = max(1, min(n, CHUNK_ELEMENTS // max(1, K * k + d)))
    for s in range(0, n, step):
        hc, Gc = h[s:s + step].to(dt), G[s:s + step]
        T = (hc @ Xd).view(hc.shape[0], K, k)                          # (c, K, k)
        Y = Gc @ (Gc.transpose(1, 2) @ T)                              # (c, K, k): C_n T_n
        acc.addmm_(hc.T, Y.reshape(hc.shape[0], K * k))
    return acc.view(d, K, k).permute(1, 0, 2).reshape(K * d, k)


def project(h: torch.Tensor, U: torch.Tensor, K: int, *, out: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(N, K, m) with out[n, k, j] = h_n · U[k·d:(k+1)·d, j], for U (D, m).

    Then V_nᵀ U = G_nᵀ out[n]. One (N×d)·(d×K·m) GEMM (into `out`, (N, K, m), when given).
    """
    n, d = h.shape
    m = U.shape[1]
    h = h.to(U.dtype)
    Ud = U.reshape(K, d, m).permute(1, 0, 2).reshape(d, K * m)         # (d, K·m)
    if out is None:
        return (h @ Ud).view(n, K, m)
    torch.mm(h, Ud, out=out.view(n, K * m))
    return out


def apply_factor(M_cols: torch.Tensor, h: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """M V for one point, V = G ⊗ h (D×K), M (D', D): (M.view(D'·K, d) @ h) @ G — D'·D work."""
    K, d = G.shape[0], h.shape[0]
    h = h.to(M_cols.dtype)
    return (M_cols.reshape(M_cols.shape[0] * K, d) @ h).view(-1, K) @ G  # (D', K)


def dense_factor(h: torch.Tensor, G: torch.Tensor) -> torch.Tensor:
    """The explicit V = G ⊗ h for a few points: (N, D, K). For tests and small checks only."""
    n, d = h.shape
    K, r = G.shape[1], G.shape[2]
    return (G[:, :, None, :] * h[:, None, :, None]).reshape(n, K * d, r)
