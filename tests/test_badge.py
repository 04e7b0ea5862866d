"""BADGE as in the paper (Ash et al., ICLR 2020; original `init_centers`): largest-norm point first, then one
D² draw per step, with distances from the factored gradient embedding g = a ⊗ h."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

from bait_core import STRATEGIES
from bait_core.selection.baselines import _factors, factored_sq_distances, gradient_embeddings


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _pool(seed=0, n=40, d=6, k=4):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), _softmax(2.0 * rng.normal(size=(n, k)))


def test_first_pick_is_the_largest_norm_unlabeled_point():
    h, p = _pool()
    g = gradient_embeddings(torch.from_numpy(h), torch.from_numpy(p)).numpy()
    norms = np.linalg.norm(g, axis=1)
    top = int(np.argmax(norms))
    mask = np.zeros(len(h), bool)
    for seed in range(5):
        assert STRATEGIES["badge"](h, p, mask, 5, seed=seed).indices[0] == top
    mask[top] = True                                              # labeled: the next largest among the rest
    second = int(np.argsort(-norms)[1])
    sel = STRATEGIES["badge"](h, p, mask, 5, seed=0)
    assert sel.indices[0] == second and sel.gains[0] == pytest.approx(norms[second])


def test_d2_sampling_frequencies_match_the_exact_probabilities():
    """Second pick of a batch of 2 on a 7-point pool: frequencies over 4000 seeds against
    D²(x)/Σ D², D = distance to the first (largest-norm) pick. scikit-learn's greedy trials fail this."""
    h, p = _pool(3, n=7, d=3, k=3)
    g = gradient_embeddings(torch.from_numpy(h), torch.from_numpy(p)).numpy()
    first = int(np.argmax(np.linalg.norm(g, axis=1)))
    d2 = ((g - g[first]) ** 2).sum(1)
    prob = d2 / d2.sum()
    runs = 4000
    counts = np.zeros(len(h))
    for seed in range(runs):
        sel = STRATEGIES["badge"](h, p, None, 2, seed=seed)
        assert sel.indices[0] == first
        counts[sel.indices[1]] += 1
    assert counts[first] == 0
    keep = prob > 0
    res = stats.chisquare(counts[keep], runs * prob[keep])
    assert res.pvalue > 1e-3, (counts, runs * prob)


def test_factored_distances_equal_the_explicit_ones():
    rng = np.random.default_rng(7)
    for n, d, k in ((50, 8, 5), (20, 1, 2), (30, 16, 10)):
        h = torch.from_numpy(rng.normal(size=(n, d)) * rng.uniform(0.1, 10))
        p = torch.from_numpy(_softmax(3 * rng.normal(size=(n, k))))
        g = gradient_embeddings(h, p)                              # (n, K·d) explicit
        a = _factors(p)
        for j in (0, n // 2, n - 1):
            want = ((g - g[j]) ** 2).sum(1)
            got = factored_sq_distances(a, h, (a * a).sum(1), (h * h).sum(1), j)
            torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10 * float(want.max()))
            assert got[j] == 0 and (got >= 0).all()


def test_no_duplicates_never_labeled_and_coincident_points():
    rng = np.random.default_rng(2)
    h = np.repeat(rng.normal(size=(6, 4)), 5, axis=0)           # 30 points, 6 distinct gradients
    p = np.repeat(_softmax(rng.normal(size=(6, 3))), 5, axis=0)
    mask = np.zeros(30, bool)
    mask[::7] = True
    for seed in range(10):
        sel = STRATEGIES["badge"](h, p, mask, 20, seed=seed)
        assert np.unique(sel.indices).size == 20 and not mask[sel.indices].any()
        # the distinct gradients come first (D² sampling never draws a point on a chosen center) ...
        first = sel.indices[:6]
        assert np.unique(first // 5).size == 6
        # ... then Σ D² = 0 and the rest is the seeded uniform top-up
        assert sel.params["n_topped_up"] == 14 and (sel.gains[6:] == 0).all()
