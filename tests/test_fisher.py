"""Fisher factors against autograd of a real linear head, and the Kronecker helpers against dense V."""

import numpy as np
import pytest
import torch

from bait_core.selection.fisher import (apply_factor, block_quadratic, dense_factor, fisher_factors,
                              fisher_matrix, gram_quadratic, project)

from .chunking import ROWS, tiny_chunks  # noqa: F401  (tiny_chunks: a fixture)

DT = torch.float64


def _fixture(N, d, K, seed=0):
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(N, d, generator=g, dtype=DT)
    W = torch.randn(K, d, generator=g, dtype=DT)
    p = torch.softmax(h @ W.T, dim=1)
    return h, W, p


def _autograd_fisher(h, W):
    """E_{y~p}[g gᵀ] with g = ∇_vec(W) −log p(y | x), per point, from autograd.  (N, D, D)"""
    N, d = h.shape
    K = W.shape[0]
    out = torch.zeros(N, K * d, K * d, dtype=DT)
    for n in range(N):
        Wv = W.clone().requires_grad_(True)
        logp = torch.log_softmax(Wv @ h[n], dim=0)
        p = logp.exp().detach()
        for y in range(K):
            (g,) = torch.autograd.grad(-logp[y], Wv, retain_graph=True)
            g = g.reshape(-1)                      # class-major: row k of W is block k
            out[n] += p[y] * torch.outer(g, g)
    return out


@pytest.mark.parametrize("N,d,K", [(5, 3, 2), (4, 4, 3), (3, 2, 6)])
def test_factor_matches_autograd_fisher(N, d, K):
    h, W, p = _fixture(N, d, K)
    G = fisher_factors(p)                                           # (N, K, K)
    V = dense_factor(h, G)                                          # (N, D, K)
    expected = _autograd_fisher(h, W)
    torch.testing.assert_close(V @ V.transpose(1, 2), expected, rtol=1e-10, atol=1e-12)
    # G Gᵀ = diag p − p pᵀ
    torch.testing.assert_close(G @ G.transpose(1, 2), torch.diag_embed(p) - p[:, :, None] * p[:, None, :])


def test_fisher_matrix_is_sum_of_point_fishers_and_weighted():
    h, W, p = _fixture(50, 4, 3, seed=1)
    G = fisher_factors(p)
    V = dense_factor(h, G)
    dense = (V @ V.transpose(1, 2)).sum(0)
    torch.testing.assert_close(fisher_matrix(h, G), dense)
    w = torch.linspace(0.1, 2.0, 50, dtype=DT)
    torch.testing.assert_close(fisher_matrix(h, G, w), ((V @ V.transpose(1, 2)) * w[:, None, None]).sum(0))


def test_regression_factor_is_rank_one_h():
    h, _, _ = _fixture(7, 5, 2, seed=2)
    G = fisher_factors(None, 7, like=h)
    assert G.shape == (7, 1, 1)
    torch.testing.assert_close(fisher_matrix(h, G), h.T @ h)


def test_kronecker_helpers_match_dense_products():
    N, d, K = 30, 5, 4
    h, _, p = _fixture(N, d, K, seed=3)
    G = fisher_factors(p)
    V = dense_factor(h, G)                                          # (N, D, K)
    g = torch.Generator().manual_seed(4)
    X = torch.randn(K * d, K * d, generator=g, dtype=DT)
    M = X @ X.T
    torch.testing.assert_close(G.transpose(1, 2) @ block_quadratic(h, M, K) @ G, V.transpose(1, 2) @ M @ V)
    U = torch.randn(K * d, 7, generator=g, dtype=DT)
    torch.testing.assert_close(G.transpose(1, 2) @ project(h, U, K), V.transpose(1, 2) @ U)
    torch.testing.assert_close(apply_factor(M, h[3], G[3]), M @ V[3])


def test_no_n_by_k_by_d_tensor_for_many_points():
    """fisher_matrix and block_quadratic work in row chunks: a pool far larger than one chunk
    gives the same result as the sum of its halves."""
    N, d, K = 5000, 3, 2
    h, _, p = _fixture(N, d, K, seed=5)
    G = fisher_factors(p)
    whole = fisher_matrix(h, G)
    halves = fisher_matrix(h[:2500], G[:2500]) + fisher_matrix(h[2500:], G[2500:])
    torch.testing.assert_close(whole, halves)
    M = torch.eye(K * d, dtype=DT)
    bq = block_quadratic(h, M, K)
    torch.testing.assert_close(bq, (h * h).sum(1)[:, None, None] * torch.eye(K, dtype=DT))
    assert np.isfinite(bq.numpy()).all()


def test_chunked_passes_in_many_small_chunks_match_dense_products(tiny_chunks, monkeypatch):
    """fisher_matrix, block_quadratic and gram_quadratic with chunks of ROWS rows (gram_quadratic:
    one row per chunk) equal the dense products: every row counted once, none twice."""
    import bait_core.selection.fisher as fisher

    N, d, K = 40, 3, 4
    h, _, p = _fixture(N, d, K, seed=6)
    G = fisher_factors(p)
    V = dense_factor(h, G)                                          # (N, D, K)
    I = V @ V.transpose(1, 2)                                       # (N, D, D)
    w = torch.linspace(0.5, 1.5, N, dtype=DT)
    torch.testing.assert_close(fisher_matrix(h, G, w), (I * w[:, None, None]).sum(0))
    assert tiny_chunks.chunks["fisher"][-1] == -(-N // ROWS) > 1
    g = torch.Generator().manual_seed(7)
    X = torch.randn(K * d, K * d, generator=g, dtype=DT)
    M = X @ X.T
    torch.testing.assert_close(G.transpose(1, 2) @ block_quadratic(h, M, K) @ G, V.transpose(1, 2) @ M @ V)
    assert tiny_chunks.chunks["fisher"][-1] > 1
    F = I.sum(0)
    want = V.transpose(1, 2) @ F @ V
    got = gram_quadratic(h, G, h, G @ G.transpose(1, 2))
    torch.testing.assert_close(got, want)
    assert fisher.CHUNK_ELEMENTS // N == 0                          # one row per chunk: N chunks
    monkeypatch.setattr(fisher, "CHUNK_ELEMENTS", 1 << 21)          # the default: one chunk
    torch.testing.assert_close(gram_quadratic(h, G, h, G @ G.transpose(1, 2)), got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("N,d,K", [(40, 3, 17), (300, 8, 30), (90, 64, 16)])
def test_pair_form_fisher_matrix_equals_the_sum_of_point_fishers(N, d, K, monkeypatch):
    """Narrow embeddings and ≥ 16 class blocks take the pair form (_fisher_pairs); it equals Σ w_n V_n V_nᵀ,
    adds into out=, and runs in several row chunks when the chunk budget is small."""
    import bait_core.selection.fisher as fisher
    from bait_core.selection.fisher import fisher_matrix, reduced_factors

    g = torch.Generator().manual_seed(N + d + K)
    h = torch.randn(N, d, generator=g, dtype=torch.float64)
    p = torch.softmax(2 * torch.randn(N, K + 1, generator=g, dtype=torch.float64), 1)
    G = reduced_factors(p)                                           # (N, K, K): K class blocks
    w = torch.rand(N, generator=g, dtype=torch.float64)
    V = dense_factor(h, G)                                           # (N, D, K)
    want = (w[:, None, None] * (V @ V.transpose(1, 2))).sum(0)
    calls = []
    real = fisher._fisher_pairs
    monkeypatch.setattr(fisher, "_fisher_pairs", lambda *a: calls.append(1) or real(*a))
    monkeypatch.setattr(fisher, "CHUNK_ELEMENTS", 7 * (K * (K + 1) // 2 + d * (d + 1) // 2))   # 7 rows a chunk
    got = fisher_matrix(h, G, w)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    start = torch.eye(want.shape[0], dtype=torch.float64)
    torch.testing.assert_close(fisher_matrix(h, G, w, out=start.clone()), start + want, rtol=1e-12, atol=1e-12)
    assert len(calls) == 2 and torch.equal(got, got.T)
