"""Exact BAIT with many classes: the trace-bound pruning of the forward gains, the L-folded P, Q
updates and the pair-form set-up give the oracle's picks and the definitions' numbers
(docs/bait-math.md, section 3a)."""

import math

import numpy as np
import pytest
import torch

import bait_core.selection.bait as bait
from bait_core import bait_select
from bait_core.selection.base import nan_safe
from bait_core.selection.fisher import block_quadratic, dense_factor, reduced_factors

from .bait_reference import assert_same_as_reference, reference_select
from .test_bait import make_fixture


@pytest.mark.parametrize("N,d,K,n,B,seed", [(120, 2, 100, 20, 4, 1), (150, 3, 50, 15, 6, 2), (90, 2, 100, 0, 3, 3)])
def test_many_classes_same_picks_as_the_oracle_with_most_gains_pruned(N, d, K, n, B, seed):
    """K = 50 and 100: the oracle's picks, pruned points and objective; after the first step (which
    solves every gain for Selection.scores) only a few candidates' K×K systems are solved."""
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B)
    assert_same_as_reference(sel, h, p, labeled, B)
    Nu, T = N - n, sel.n_forward
    assert sel.params["gain_rows"] == Nu + sum(Nu - t for t in range(1, T))   # the free rows of each step
    later = sel.params["gain_solves"] - Nu                                     # solved after step 0
    assert 0 < later < (sel.params["gain_rows"] - Nu) / 4


def test_record_steps_solves_every_gain_and_picks_the_same():
    h, p, labeled = make_fixture(120, 2, 100, 20, seed=1)
    pruned_run = bait_select(h, p, labeled, 4)
    full = bait_select(h, p, labeled, 4, record_steps=True)
    assert full.params["gain_solves"] == full.params["gain_rows"] == 100 * full.n_forward
    assert pruned_run.params["gain_solves"] < pruned_run.params["gain_rows"]
    np.testing.assert_array_equal(full.indices, pruned_run.indices)
    np.testing.assert_array_equal(full.forward_indices, pruned_run.forward_indices)
    np.testing.assert_allclose(full.forward_gains, pruned_run.forward_gains, rtol=1e-13)  # batch size: ulps


def test_all_gains_tied_nothing_is_pruned_and_the_lowest_free_index_wins():
    """All-zero embeddings: every gain is exactly 0, every bound reaches it, so nothing may be pruned
    (each step solves every free row) and the lowest free indices are taken in order."""
    h = np.zeros((40, 3))
    p = np.full((40, 30), 1 / 30)
    labeled = np.zeros(40, bool)
    labeled[[0, 3]] = True
    sel = bait_select(h, p, labeled, 4)
    assert sel.forward_indices.tolist() == [1, 2, 4, 5, 6, 7, 8, 9]
    assert sel.params["gain_solves"] == sel.params["gain_rows"]


def test_exact_ties_among_the_leaders_are_all_solved_and_the_lowest_index_wins():
    """Rows with bitwise equal best gains (P = 0, diagonal Q: the gain is tr Q exactly) at indices
    9, 4 (taken) and 17, 30: the bound prunes the rest but none of the tied rows, and the lowest free
    index (17) wins, as solving everything gives."""
    state, _, _, _ = _small_state(N=60, K=8, seed=6)
    n, K = state.P.shape[0], state.K
    rng = np.random.default_rng(0)
    state.P.zero_()
    diag = torch.as_tensor(rng.uniform(0.0, 1.0, size=(n, K)))
    diag[[4, 9, 17, 30]] = 2.0
    state.Q.copy_(torch.diag_embed(diag))
    state._reset_pending()                                                     # P, Q set afresh
    taken = torch.zeros(n, dtype=torch.bool)
    taken[4] = True
    state.gain_solves = 0
    part = state.add_gains(taken, every=False)
    assert not bool(torch.isnan(part[[9, 17, 30]]).any()) and bool(torch.isnan(part[4]))
    assert state.gain_solves < n - 1
    full = state.add_gains().masked_fill(taken, -math.inf)
    assert int(torch.argmax(nan_safe(part))) == int(torch.argmax(full)) == 9
    taken[9] = True                                                            # 9 taken as well
    state._unpruned_steps = 0                             # (a pool this small solves over a quarter)
    part = state.add_gains(taken, every=False)
    assert int(torch.argmax(nan_safe(part))) == 17 and part[17] == part[30] == 2.0 * K


def _small_state(N=40, d=3, K=6, n=8, B=4, seed=0):
    """A _State from dense inputs, and the dense V (Nu, D, r), A, F it was built from."""
    h, p, labeled = make_fixture(N, d, K, n, seed)
    h, p = torch.as_tensor(h), torch.as_tensor(p)
    lab = torch.as_tensor(labeled)
    G = reduced_factors(p)                                                     # (N, Kb, r)
    V = dense_factor(h, G)                                                     # (N, D, r)
    F = (V @ V.transpose(1, 2)).mean(0)
    M = torch.eye(F.shape[0], dtype=F.dtype) + (V[lab] @ V[lab].transpose(1, 2)).sum(0) / (n + B)
    A = torch.linalg.inv(M)
    A = (A + A.T) / 2
    s = math.sqrt(B / (n + B))
    Gt = (G[~lab] * s).transpose(1, 2).contiguous()
    state = bait._State(h[~lab], Gt, A.clone(), F.clone())
    return state, V[~lab] * s, A, F


def _expected_after(Vu, A, F, j, sigma):
    U = A @ Vu[j]
    C = torch.linalg.inv(sigma * torch.eye(Vu.shape[2], dtype=A.dtype) + Vu[j].T @ U)
    A2 = A - U @ C @ U.T
    P = Vu.transpose(1, 2) @ A2 @ Vu
    Q = Vu.transpose(1, 2) @ A2 @ F @ A2 @ Vu
    return A2, P, Q


@pytest.mark.parametrize("factored", [True, False])
def test_commit_updates_p_and_q_term_by_term(factored, monkeypatch):
    """Adding j, then removing it again (members only): P, Q of every candidate equal
    Vᵀ (A − U C Uᵀ) V and Vᵀ (A − U C Uᵀ) F (A − U C Uᵀ) V, through σC = L Lᵀ folded into the right
    factors, and through the unfactored form when that Cholesky fails."""
    state, Vu, A, F = _small_state()
    torch.testing.assert_close(state.P, Vu.transpose(1, 2) @ A @ Vu)
    torch.testing.assert_close(state.Q, Vu.transpose(1, 2) @ A @ F @ A @ Vu)
    seen = []
    real = torch.linalg.cholesky_ex

    def chol(M, *a, **k):
        L, info = real(M, *a, **k)
        seen.append(M.shape)
        return (L, info) if factored else (L, torch.ones_like(info))
    monkeypatch.setattr(torch.linalg, "cholesky_ex", chol)
    spy = []
    real_update = bait._State._update
    monkeypatch.setattr(bait._State, "_update",
                        lambda self, *a: spy.append(isinstance(a[-1], torch.Tensor)) or real_update(self, *a))
    j = int(torch.argmax(torch.stack([torch.trace(q) for q in state.Q])))
    state.commit(j, +1.0)
    assert state.lazy and len(state._pending) == 1 and not spy                # deferred until read
    torch.testing.assert_close(state._tq, Q_after_trace := _expected_after(Vu, A, F, j, +1.0)[2]
                               .diagonal(dim1=-2, dim2=-1).sum(-1), rtol=1e-10, atol=1e-12)
    state.sync()
    A2, P, Q = _expected_after(Vu, A, F, j, +1.0)
    torch.testing.assert_close(state.P, P, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state.Q, Q, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(state.A, A2, rtol=1e-10, atol=1e-12)
    rows = torch.tensor([j, 0, 5])
    state.commit(j, -1.0, rows)
    _, P3, Q3 = _expected_after(Vu, A2, F, j, -1.0)
    torch.testing.assert_close(state.P[rows], P3[rows], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(state.Q[rows], Q3[rows], rtol=1e-9, atol=1e-11)
    torch.testing.assert_close(state.P[rows], (Vu.transpose(1, 2) @ A @ Vu)[rows], rtol=1e-9, atol=1e-11)
    assert len(seen) == 2 and spy and all(s == (not factored) for s in spy)   # the form each took


def test_pruned_gains_are_the_full_gains_and_exclude_is_honoured():
    state, _, _, _ = _small_state(N=60, K=8, seed=3)
    full = state.add_gains()
    taken = torch.zeros(full.shape[0], dtype=torch.bool)
    taken[int(torch.argmax(full))] = True                                      # the best is taken
    state.gain_solves = 0
    part = state.add_gains(taken, every=False)
    solved = ~torch.isnan(part)
    assert 0 < state.gain_solves == int(solved.sum()) < full.shape[0] - 1
    assert not bool(solved[taken].any())
    torch.testing.assert_close(part[solved], full[solved], rtol=1e-13, atol=0)
    want = int(torch.argmax(nan_safe(full).masked_fill(taken, -math.inf)))
    assert int(torch.argmax(nan_safe(part))) == want


def test_a_failed_bound_makes_the_step_solve_everything(monkeypatch):
    """If a solved gain exceeds its bound (the stored P, Q drifted from PSD), the step does not
    trust the bound and solves every candidate."""
    state, _, _, _ = _small_state(N=60, K=8, seed=4)
    full = state.add_gains()
    real = bait._trace_bounds
    monkeypatch.setattr(bait, "_trace_bounds", lambda tp, tq, K: real(tp, tq, K) * 1e-3)
    state.gain_solves = 0
    part = state.add_gains(None, every=False)
    assert state.gain_solves == full.shape[0] and not bool(torch.isnan(part).any())
    torch.testing.assert_close(part, full, rtol=1e-13, atol=0)


def test_gain_bounds_bound_the_gains():
    state, _, _, _ = _small_state(N=60, K=8, seed=5)
    for j in (3, 10):
        state.commit(j, +1.0)
    g = state.add_gains()
    assert bool((bait._gain_bounds(state.P, state.Q) >= g).all())
    bad = state.Q.clone()
    bad[0, 0, 0] = math.nan
    assert bait._gain_bounds(state.P, bad)[0] == math.inf


@pytest.mark.parametrize("d,K", [(1, 3), (4, 7), (9, 2), (16, 5)])
def test_pair_form_equals_block_quadratic(d, K, monkeypatch):
    """_pair_quadratic = block_quadratic (both orders of contraction of hᵀ M_kl h), also when its
    temporaries are split into several groups of block rows and row chunks."""
    rng = np.random.default_rng(d * 10 + K)
    X = torch.as_tensor(rng.normal(size=(K * d, K * d)))
    M = X @ X.T
    h = torch.as_tensor(rng.normal(size=(23, d)).astype(np.float32))
    want = block_quadratic(h, M, K)
    torch.testing.assert_close(bait._pair_quadratic(h, M, K), want, rtol=1e-12, atol=1e-12)
    monkeypatch.setattr(bait, "_PAIR_FORM_ELEMENTS", 1)
    torch.testing.assert_close(bait._pair_quadratic(h, M, K), want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("budget", [1, None])
def test_deferred_updates_catch_up_when_memory_runs_out_or_the_bound_prunes_little(budget, monkeypatch):
    """budget 1: the first forward commit's pending factors pass the budget, every row catches up
    and the state updates eagerly from then on; None: K = 10, d = 20, where P is large, the bound
    prunes little and the first pruned step turns deferring off. Oracle picks either way."""
    K, N, d, n, B = (40, 80, 2, 10, 4) if budget else (10, 300, 20, 10, 6)
    if budget:
        monkeypatch.setattr(bait, "_PENDING_ELEMENTS", budget)
    modes = []
    real_commit = bait._State.commit

    def commit(self, *a):
        out = real_commit(self, *a)
        modes.append((self.lazy, len(self._pending)))
        return out
    monkeypatch.setattr(bait._State, "commit", commit)
    h, p, labeled = make_fixture(N, d, K, n, seed=8)
    sel = bait_select(h, p, labeled, B)
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)
    if budget:                                            # the first commit overflows: eager from there
        assert all(m == (False, 0) for m in modes)
    else:                                                 # deferred once, then eager after a pruned step
        assert modes[0] == (True, 1) and all(m == (False, 0) for m in modes[1:])


@pytest.mark.parametrize("N,d,K,n,B,seed", [(160, 3, 40, 10, 6, 4), (200, 8, 30, 0, 5, 5), (150, 2, 100, 20, 4, 6)])
def test_bounded_traces_are_upper_bounds_and_the_picks_are_the_oracles(N, d, K, n, B, seed, monkeypatch):
    """Many classes, narrow embeddings: forward commits keep only an upper bound on every row's tr Q
    (_State._bound_traces). Before every step, each row's kept value is ≥ its exact tr Q (every pending
    update applied to a copy), strictly above it for some rows (the bound is in use), and the picks,
    pruned points and objective are the oracle's."""
    checked, loose = [], []
    real = bait._State.add_gains

    def add_gains(self, exclude=None, every=True):
        if self.trace_probs is not None and self._pending:
            Pc, Qc = self.P.clone(), self.Q.clone()
            for i, (right, mid) in enumerate(self._pending):
                rows = torch.nonzero(self._seen <= i).flatten()
                P, Q = Pc[rows], Qc[rows]
                self._update(self._rows(rows), self.Gt[rows], P, Q, right, mid)
                Pc[rows], Qc[rows] = P, Q
            exact = Qc.diagonal(dim1=-2, dim2=-1).sum(-1)
            assert bool((self._tq >= exact - 1e-9 * exact.abs() - 1e-300).all())
            checked.append(1)
            loose.append(int((self._tq > exact + 1e-6 * exact.abs()).sum()))
        return real(self, exclude, every)

    monkeypatch.setattr(bait._State, "add_gains", add_gains)
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B)
    assert_same_as_reference(sel, h, p, labeled, B)
    assert checked and max(loose) > 0                               # the bound was in use
