"""Exact BAIT: index-for-index the same picks as the slow oracle (the original per-step
recomputation), objective traces that match a from-scratch recomputation, and the contract."""

import contextlib
import math

import numpy as np
import pytest
import torch

from bait_core import Selection, bait_select
from bait_core.selection.fisher import dense_factor, fisher_factors

from .bait_reference import assert_same_as_reference, reference_select
from .chunking import ROWS, tiny_chunks  # noqa: F401  (tiny_chunks: a fixture)


def make_fixture(N, d, K, n, seed, temperature=2.0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, d))
    if K is None:
        p = None
    else:
        logits = rng.normal(size=(N, K)) * temperature
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
    labeled = np.zeros(N, dtype=bool)
    labeled[rng.choice(N, size=n, replace=False)] = True
    return h, p, labeled


def _fixtures():
    """(N, d, K, n, B, seed): several K, d, n; n = 0; B = 1; B near and equal to the pool size;
    K = None is the regression head."""
    cases = []
    rng = np.random.default_rng(1234)
    for i in range(36):
        K = [2, 3, 5, 10][i % 4]
        d = [1, 3, 6, 9][(i // 4) % 4]
        N = int(rng.integers(25, 90))
        n = 0 if i % 3 == 0 else int(rng.integers(1, N // 2))
        Nu = N - n
        B = [1, int(rng.integers(2, max(3, Nu // 3))), Nu - 1, Nu, int(rng.integers(1, Nu + 1))][i % 5]
        cases.append((N, d, K, n, max(1, B), i))
    for i, (N, d, n, B) in enumerate([(40, 4, 0, 7), (60, 5, 12, 20), (30, 3, 5, 25), (50, 8, 10, 40)]):
        cases.append((N, d, None, n, B, 100 + i))
    return cases


@pytest.mark.parametrize("N,d,K,n,B,seed", _fixtures())
def test_same_picks_as_the_original_algorithm(N, d, K, n, B, seed):
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B)
    assert_same_as_reference(sel, h, p, labeled, B)


@pytest.mark.parametrize("N,d,K,n,B,seed", _fixtures()[::2] + _fixtures()[37::2])
@pytest.mark.parametrize("setup", ["dense", "low-rank", "factored"])
def test_same_picks_as_the_original_algorithm_in_many_chunks(N, d, K, n, B, seed, setup, tiny_chunks):
    """The oracle fixtures again with every row chunk at most ROWS rows: the chunked passes (P, Q,
    the gains, the commits' updates, fisher_matrix, block_quadratic) cover each row exactly once."""
    if setup == "low-rank" and n == 0:
        pytest.skip("the low-rank set-up needs labeled points")
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B, setup=setup)
    assert sel.params["setup"] == setup
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)
    assert tiny_chunks.most("bait_state") == math.ceil((N - n) / ROWS) > 1
    assert tiny_chunks.most("fisher_apply" if setup == "factored" else "fisher") > 1


def test_low_rank_setup_loop_in_several_row_blocks(tiny_chunks):
    """The low-rank set-up's own row loop (256 rows at least) on a pool of 3 blocks: the oracle's
    picks, and one block_quadratic per block."""
    h, p, labeled = make_fixture(700, 4, 3, 20, seed=31)
    sel = bait_select(h, p, labeled, 6, setup="low-rank")
    assert len(tiny_chunks.chunks["block_quadratic_calls"]) == math.ceil(680 / 256) == 3
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, 6)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("lamb,oversample", [(0.1, 2.0), (5.0, 1.5), (1.0, 1.0), (1.0, 3.0)])
def test_same_picks_with_other_lambda_and_oversampling(lamb, oversample):
    h, p, labeled = make_fixture(70, 4, 4, 10, seed=7)
    sel = bait_select(h, p, labeled, 12, lamb=lamb, oversample=oversample)
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, 12, lamb=lamb, oversample=oversample)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9)
    assert sel.n_forward == math.ceil(oversample * 12)


@pytest.mark.parametrize("N,d,K,n,B,seed", [f for f in _fixtures() if f[3] > 0][::2])
def test_low_rank_setup_gives_the_same_picks(N, d, K, n, B, seed):
    """The Woodbury set-up (forced, whatever its cost) picks exactly what the oracle picks."""
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B, setup="low-rank")
    assert sel.params["setup"] == "low-rank"
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("gram", [False, True])
@pytest.mark.parametrize("N", [50, 600])
def test_low_rank_setup_matches_the_dense_construction(gram, N, request):
    """A, E = A F A, tr(A F), P and Q from the Woodbury set-up (Vᵀ F V from the Gram matrix of the
    embeddings or from F) equal their dense definitions; with N = 600 under tiny chunks, its row
    loop and gram_quadratic run in several blocks."""
    from bait_core.selection.bait import _lowrank_setup

    if N > 256:
        spy = request.getfixturevalue("tiny_chunks")
    d, K, n, B, lamb = 4, 3, 6, 5, 0.7
    h, p, labeled = make_fixture(N, d, K, n, seed=21)
    h, p = torch.as_tensor(h), torch.as_tensor(p)
    G = fisher_factors(p)
    V = dense_factor(h, G)                                           # (N, D, K)
    lab = torch.as_tensor(labeled)
    F = (V @ V.transpose(1, 2)).mean(0)
    M = lamb * torch.eye(K * d, dtype=F.dtype) + (V[lab] @ V[lab].transpose(1, 2)).sum(0) / (n + B)
    A = torch.linalg.inv(M)
    s = math.sqrt(B / (n + B))
    Vu = V[~lab] * s
    C_all = (h, G @ G.transpose(1, 2)) if gram else None
    out = _lowrank_setup(h[~lab], G[~lab].transpose(1, 2) * s, h[lab], G[lab], F.clone(), float(F.trace()),
                         C_all, lamb, 1.0 / (n + B), N)
    torch.testing.assert_close(out["A"], A)
    torch.testing.assert_close(out["E"], A @ F @ A)
    assert out["objective"] == pytest.approx(float(torch.trace(A @ F)), rel=1e-12)
    torch.testing.assert_close(out["P"], Vu.transpose(1, 2) @ A @ Vu)
    torch.testing.assert_close(out["Q"], Vu.transpose(1, 2) @ A @ F @ A @ Vu)
    if N > 256:                                                      # 594 rows in blocks of 256
        assert len(spy.chunks["gram_quadratic_calls" if gram else "block_quadratic_calls"]) == 3


def test_auto_setup_takes_the_low_rank_path_for_few_labels(monkeypatch):
    import bait_core.selection.bait as bait_module

    h, p, labeled = make_fixture(300, 40, 5, 8, seed=5)
    monkeypatch.setattr(bait_module, "LOWRANK_EXTRA_BYTES", 1000)    # its D×m matrices would not fit
    assert bait_select(h, p, labeled, 6).params["setup"] == "dense"
    monkeypatch.undo()
    auto = bait_select(h, p, labeled, 6)
    dense = bait_select(h, p, labeled, 6, setup="dense")
    assert (auto.params["setup"], dense.params["setup"]) == ("low-rank", "dense")
    np.testing.assert_array_equal(auto.indices, dense.indices)
    np.testing.assert_array_equal(auto.pruned, dense.pruned)
    np.testing.assert_allclose(auto.objective, dense.objective, rtol=1e-10)


@pytest.mark.parametrize("N,d,K,n,B,seed", [f for f in _fixtures()][1::3])
def test_factored_setup_gives_the_same_picks(N, d, K, n, B, seed):
    """The factored state (no D×D matrix; forced, whatever its cost) picks exactly what the oracle
    picks, with and without labels, for classifiers and the regression head."""
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B, setup="factored")
    assert sel.params["setup"] == "factored"
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("N", [60, 600])
def test_factored_state_matches_the_dense_definitions_through_adds_and_removals(N, request):
    """The factored state's objective, A V and E V = A F A V, and every candidate's P and Q equal
    their dense definitions at the start, after two additions and after a removal (σ = −1: the
    columns J gains then carry a negative sign); with N = 600 under tiny chunks every pass runs
    in several blocks."""
    from bait_core.selection.bait import _FactoredState
    from bait_core.selection.fisher import reduced_factors

    if N > 256:
        request.getfixturevalue("tiny_chunks")
    d, K, n, B, lamb = 4, 4, 6, 5, 0.7
    h, p, labeled = make_fixture(N, d, K, n, seed=23)
    h, p = torch.as_tensor(h), torch.as_tensor(p)
    G = reduced_factors(p)                                           # (N, K−1, K−1)
    V = dense_factor(h, G)                                           # (N, D, r)
    lab = torch.as_tensor(labeled)
    s2 = B / (n + B)
    F = (V @ V.transpose(1, 2)).mean(0)
    Gt = (G[~lab] * math.sqrt(s2)).transpose(1, 2).contiguous()
    state = _FactoredState(h[~lab], Gt, h[lab], G[lab], lamb=lamb, c=1.0 / (n + B), s2=s2, N=N,
                           trace_F=float(F.trace()))
    Vu = V[~lab] * math.sqrt(s2)
    chosen: list[int] = []

    def check():
        M = lamb * torch.eye(F.shape[0], dtype=F.dtype) + (V[lab] @ V[lab].transpose(1, 2)).sum(0) / (n + B)
        for j in chosen:
            M += Vu[j] @ Vu[j].T
        A = torch.linalg.inv(M)
        assert state.objective == pytest.approx(float(torch.trace(A @ F)), rel=1e-10)
        assert state.direct_objective(chosen) == pytest.approx(float(torch.trace(A @ F)), rel=1e-10)
        state.sync()
        torch.testing.assert_close(state.P, Vu.transpose(1, 2) @ A @ Vu)
        torch.testing.assert_close(state.Q, Vu.transpose(1, 2) @ A @ F @ A @ Vu)
        U, Z = state._apply_pair(state.h[3], state.Gt[3])
        torch.testing.assert_close(U, A @ Vu[3])
        torch.testing.assert_close(Z, A @ F @ A @ Vu[3])

    check()
    for j in (5, 11):
        state.commit(j, +1.0)
        chosen.append(j)
        check()
    state.commit(5, -1.0)                                            # every row updated (the backward
                                                                     # pass updates its members only)
    chosen.remove(5)
    assert bool((state.sig[:state.q] < 0).any())
    check()
    state.refactor(chosen)                                           # drift control's fresh start
    assert bool((state.sig[:state.q] > 0).all())
    check()


def test_auto_setup_takes_the_factored_state_for_wide_embeddings():
    """Wide embeddings, few labels, a moderate pool (mnist with a linear model is such a run): "auto"
    keeps no D×D matrix, with the dense set-up's picks and objective."""
    h, p, labeled = make_fixture(400, 300, 4, 3, seed=9)
    auto = bait_select(h, p, labeled, 4)
    dense = bait_select(h, p, labeled, 4, setup="dense")
    assert (auto.params["setup"], dense.params["setup"]) == ("factored", "dense")
    np.testing.assert_array_equal(auto.indices, dense.indices)
    np.testing.assert_array_equal(auto.pruned, dense.pruned)
    np.testing.assert_allclose(auto.objective, dense.objective, rtol=1e-9)
    # ill-conditioned (κ·eps past the direct-check threshold): the D×D stable paths run anyway, so
    # "auto" does not take the factored state
    ill = bait_select(h * 1e4, p, labeled, 4, lamb=1e-6)
    assert ill.params["setup"] != "factored"


def _objective_from_scratch(h, p, labeled, chosen, B, lamb=1.0):
    """tr(M⁻¹ F) with M built densely from the labeled points and the chosen set."""
    h = torch.as_tensor(h)
    G = fisher_factors(None if p is None else torch.as_tensor(p), h.shape[0], like=h)
    V = dense_factor(h, G)                                           # (N, D, K)
    I = V @ V.transpose(1, 2)                                        # (N, D, D)
    n = int(labeled.sum())
    F = I.mean(0)
    M = lamb * torch.eye(F.shape[0], dtype=F.dtype)
    if n:
        M += I[torch.as_tensor(labeled)].sum(0) / (n + B)
    M += I[torch.as_tensor(np.array(chosen))].sum(0) * (B / (n + B))
    return float(torch.trace(torch.linalg.solve(M, F)))


def test_incremental_updates_do_not_drift_over_many_steps():
    """300 forward and 150 backward rank-K commits: the running objective equals a from-scratch
    recomputation at the end, and the picks still equal the oracle's."""
    h, p, labeled = make_fixture(420, 5, 4, 20, seed=11)
    B = 150
    sel = bait_select(h, p, labeled, B)
    exact = _objective_from_scratch(h, p, labeled, sel.indices, B)
    assert abs(sel.objective[-1] - exact) <= 1e-10 * abs(exact)
    fwd_exact = _objective_from_scratch(h, p, labeled, sel.forward_indices, B)
    assert abs(sel.objective[sel.n_forward] - fwd_exact) <= 1e-10 * abs(fwd_exact)
    ref_idx, ref_pruned, _ = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)


def test_selection_record_is_consistent():
    h, p, labeled = make_fixture(80, 4, 3, 15, seed=3)
    B = 10
    sel = bait_select(h, p, labeled, B)
    assert isinstance(sel, Selection) and sel.strategy == "bait"
    assert sel.indices.dtype == np.int64 and sel.indices.shape == (B,)
    assert len(set(sel.indices.tolist())) == B
    assert not labeled[sel.indices].any() and not labeled[sel.pruned].any()
    T = sel.n_forward
    assert T == 2 * B and sel.pruned.size == T - B and sel.objective.size == T + (T - B) + 1
    # forward order = picks and pruned interleaved; picks keep forward order
    assert sorted(sel.forward_indices.tolist()) == sorted(sel.indices.tolist() + sel.pruned.tolist())
    pos = {j: i for i, j in enumerate(sel.forward_indices.tolist())}
    assert [pos[j] for j in sel.indices.tolist()] == sorted(pos[j] for j in sel.indices.tolist())
    # the trace falls along the forward pass by exactly each pick's gain, and rises when pruning
    fwd, bwd = sel.objective_forward, sel.objective_backward
    assert np.all(np.diff(fwd) < 0) and np.all(np.diff(bwd) > 0)
    np.testing.assert_allclose(-np.diff(fwd), sel.forward_gains, rtol=1e-9)
    gain_of = dict(zip(sel.forward_indices.tolist(), sel.forward_gains.tolist()))
    np.testing.assert_allclose(sel.gains, [gain_of[j] for j in sel.indices.tolist()])
    # first-step scores: NaN exactly on labeled points, and the first pick has the largest one
    assert np.isnan(sel.scores[labeled]).all() and np.isfinite(sel.scores[~labeled]).all()
    assert sel.forward_indices[0] == int(np.nanargmax(sel.scores))
    assert set(sel.timings) >= {"setup", "forward", "backward", "total"}
    with pytest.raises(Exception):
        sel.indices[0] = 1                                           # frozen arrays
    with pytest.raises(Exception):
        sel.strategy = "x"


def test_batch_equal_to_pool_takes_everything_and_prunes_nothing():
    h, p, labeled = make_fixture(30, 3, 3, 10, seed=5)
    sel = bait_select(h, p, labeled, 20)
    assert sorted(sel.indices.tolist()) == np.flatnonzero(~labeled).tolist()
    assert sel.pruned.size == 0 and sel.n_forward == 20


def test_degenerate_inputs_never_duplicate_or_pick_labeled():
    # all-zero embeddings: every gain is 0 -> the lowest free indices, in order
    h = np.zeros((20, 3))
    p = np.full((20, 4), 0.25)
    labeled = np.zeros(20, bool)
    labeled[[0, 2]] = True
    sel = bait_select(h, p, labeled, 5)
    assert sel.forward_indices.tolist() == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert len(set(sel.indices.tolist())) == 5 and not labeled[sel.indices].any()
    # one-hot (fully confident) probabilities: zero Fisher for those points, still valid picks
    h2, _, _ = make_fixture(25, 3, 3, 0, seed=9)
    p2 = np.eye(3)[np.arange(25) % 3]
    p2[:5] = 1 / 3
    sel2 = bait_select(h2, p2, None, 4)
    assert len(set(sel2.indices.tolist())) == 4
    assert set(sel2.forward_indices[:5].tolist()) <= set(range(5))  # only uncertain points gain
    # many identical points
    h3 = np.repeat(np.random.default_rng(0).normal(size=(3, 4)), 10, axis=0)
    p3 = np.repeat(np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]), 10, axis=0)
    sel3 = bait_select(h3, p3, None, 12)
    assert len(set(sel3.indices.tolist())) == 12


def test_float32_torch_inputs_and_device_follow_inputs():
    h, p, labeled = make_fixture(60, 4, 3, 10, seed=8)
    a = bait_select(torch.tensor(h), torch.tensor(p), torch.tensor(labeled), 6)
    b = bait_select(h, p, np.flatnonzero(labeled), 6)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.params["device"] == "cpu"
    c = bait_select(h.astype(np.float32), p.astype(np.float32), labeled, 6, dtype=torch.float32)
    assert c.params["dtype"] == "float32" and len(set(c.indices.tolist())) == 6


def test_float32_embeddings_kept_compact_give_the_float64_picks():
    """float32 embeddings are stored as float32 and converted chunk by chunk (exactly): the picks
    and trace are those of the same values given as float64."""
    h, p, labeled = make_fixture(300, 6, 4, 30, seed=21)
    h32 = h.astype(np.float32)
    a = bait_select(h32, p, labeled, 25)
    b = bait_select(h32.astype(np.float64), p, labeled, 25)
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_array_equal(a.pruned, b.pruned)
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-12)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_gives_the_same_picks():
    h, p, labeled = make_fixture(200, 6, 5, 20, seed=12)
    cpu = bait_select(h, p, labeled, 15)
    gpu = bait_select(torch.tensor(h, device="cuda"), torch.tensor(p, device="cuda"), labeled, 15)
    assert gpu.params["device"].startswith("cuda")
    np.testing.assert_array_equal(cpu.indices, gpu.indices)


def test_progress_reports_every_step_and_can_cancel():
    h, p, labeled = make_fixture(40, 3, 3, 5, seed=4)
    seen = []
    sel = bait_select(h, p, labeled, 5, progress=lambda *a: seen.append(a))
    phases = [s[0] for s in seen]
    assert phases.count("forward") == sel.n_forward and phases.count("backward") == sel.pruned.size
    fwd_values = [s[3] for s in seen if s[0] == "forward"]
    np.testing.assert_allclose(fwd_values, sel.objective_forward[1:])

    class Stop(Exception):
        pass

    def stop(phase, step, total, value):
        if phase == "forward" and step == 3:
            raise Stop

    with pytest.raises(Stop):
        bait_select(h, p, labeled, 5, progress=stop)


@pytest.mark.parametrize("kwargs,match", [
    ({"lamb": 0}, "lamb"), ({"lamb": -1}, "lamb"), ({"lamb": float("nan")}, "lamb"),
    ({"oversample": 0.5}, "oversample"), ({"lamb": "x"}, "number"), ({"foo": 1}, "foo"), ({"setup": "fast"}, "setup"),
])
def test_bad_options_are_value_errors(kwargs, match):
    h, p, labeled = make_fixture(20, 2, 2, 2, seed=0)
    with pytest.raises(ValueError, match=match):
        bait_select(h, p, labeled, 3, **kwargs)


def test_bad_inputs_say_what_is_wrong():
    h, p, labeled = make_fixture(20, 2, 3, 2, seed=0)
    with pytest.raises(ValueError, match="regression"):
        bait_select(h, p[:, :1] / p[:, :1], labeled, 3)
    with pytest.raises(ValueError, match="sum to 1"):
        bait_select(h, p * 2, labeled, 3)
    bad = h.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="1 NaN or infinite"):
        bait_select(bad, p, labeled, 3)
    with pytest.raises(ValueError, match="18 unlabeled"):
        bait_select(h, p, labeled, 19)
    with pytest.raises(ValueError, match="at least 1"):
        bait_select(h, p, labeled, 0)
    with pytest.raises(ValueError, match="2-D"):
        bait_select(h[:, 0], p, labeled, 3)


def test_recorded_steps_match_the_picks():
    """record_steps keeps each forward step's gains (the argmax is that step's pick, its value the
    pick's gain) and each backward step's increases (the argmin is the pruned point)."""
    h, p, labeled = make_fixture(90, 4, 3, 10, seed=9)
    sel = bait_select(h, p, labeled, 8, record_steps=True)
    plain = bait_select(h, p, labeled, 8)
    np.testing.assert_array_equal(sel.indices, plain.indices)
    assert plain.step_scores is None and plain.prune_scores is None
    assert sel.step_scores.shape == (sel.n_forward, 90)
    np.testing.assert_array_equal(np.nanargmax(sel.step_scores, axis=1), sel.forward_indices)
    np.testing.assert_allclose(np.nanmax(sel.step_scores, axis=1), sel.forward_gains)
    np.testing.assert_allclose(sel.step_scores[0], sel.scores, equal_nan=True)
    assert np.isnan(sel.step_scores[:, labeled]).all()
    assert sel.prune_scores.shape == (sel.pruned.size, 90)
    np.testing.assert_array_equal(np.nanargmin(sel.prune_scores, axis=1), sel.pruned)
    for t, j in enumerate(sel.forward_indices):              # once added, a point has no gain
        assert np.isnan(sel.step_scores[t + 1:, j]).all()


# ----------------------------------------------------------------------------- singular fallbacks

def test_singular_small_systems_fall_back_to_the_pseudo_inverse():
    """An exactly singular K×K system (inv_ex and Cholesky both fail on it) gives the
    pseudo-inverse, symmetric and finite; a singular row of a batched trace solve is flagged and
    the others are exact."""
    from bait_core.selection.bait import _inverse, _inverse_spd_, _trace_solve

    S = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)  # rank 2
    assert int(torch.linalg.inv_ex(S).info) != 0 and int(torch.linalg.cholesky_ex(S).info) != 0
    want = torch.from_numpy(np.linalg.pinv(S.numpy()))
    for got in (_inverse(S), _inverse_spd_(S.clone())):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got, got.T, rtol=0, atol=0)
    R = torch.tensor([[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 3.0]], dtype=torch.float64)
    torch.testing.assert_close(_inverse(R), torch.linalg.inv(R), rtol=1e-12, atol=1e-12)
    Q = torch.eye(3, dtype=torch.float64).expand(3, 3, 3)
    trace, singular = _trace_solve(torch.stack([R, torch.zeros(3, 3, dtype=torch.float64), 2 * R]), Q)
    assert singular.tolist() == [False, True, False]
    torch.testing.assert_close(trace[[0, 2]], torch.stack([torch.linalg.inv(R).trace(), torch.linalg.inv(2 * R).trace()]))


def _failing(real, calls):
    """A torch.linalg *_ex factorisation that computes as usual but reports failure (info = 1)."""
    def fn(*args, **kw):
        out = real(*args, **kw)
        out[1].fill_(1)
        calls.append(1)
        return out
    return fn


@pytest.mark.parametrize("solver", ["inv_ex", "cholesky_ex"])
@pytest.mark.parametrize("N,d,K,n,B,seed", [(60, 5, 3, 12, 20, 101), (50, 8, 4, 10, 12, 7), (40, 4, None, 6, 7, 100)])
def test_failed_factorisations_take_the_fallbacks_and_keep_the_oracle_picks(solver, N, d, K, n, B, seed, monkeypatch):
    """Every inv_ex (the commit's K×K inverse) or every Cholesky (M⁻¹ and the forward gains) reported
    as failed: the pseudo-inverse and the general batched solve take over, and the picks, pruned
    points and objective are still the oracle's."""
    calls, pinv_calls, solve_calls = [], [], []
    monkeypatch.setattr(torch.linalg, solver, _failing(getattr(torch.linalg, solver), calls))
    real_pinv, real_solve = torch.linalg.pinv, torch.linalg.solve_ex
    monkeypatch.setattr(torch.linalg, "pinv", lambda *a, **k: pinv_calls.append(1) or real_pinv(*a, **k))
    monkeypatch.setattr(torch.linalg, "solve_ex", lambda *a, **k: solve_calls.append(1) or real_solve(*a, **k))
    h, p, labeled = make_fixture(N, d, K, n, seed)
    sel = bait_select(h, p, labeled, B, setup="dense")
    T = sel.n_forward
    # Cholesky failing: M⁻¹ at the set-up and at each refresh, and the final direct objective, by pinv
    assert len(calls) > 0 and len(pinv_calls) == (T + sel.pruned.size if solver == "inv_ex"
                                                  else 1 + sel.params["refreshes"] + ("objective_drift" in sel.params))
    if solver == "cholesky_ex":                 # the forward gains: the general solve, every step
        assert len(solve_calls) >= T + sel.pruned.size
    ref_idx, ref_pruned, ref_obj = reference_select(h, p, labeled, B)
    np.testing.assert_array_equal(sel.indices, ref_idx)
    np.testing.assert_array_equal(sel.pruned, ref_pruned)
    np.testing.assert_allclose(sel.objective, ref_obj, rtol=1e-9, atol=1e-12)


# ----------------------------------------------------------------------------- TF32

@pytest.fixture
def tf32_flags():
    """torch's two TF32 switches, restored after the test whatever it set."""
    m, c = torch.backends.cuda.matmul, torch.backends.cudnn
    saved = (m.allow_tf32, c.allow_tf32)
    yield m, c
    m.allow_tf32, c.allow_tf32 = saved


@pytest.mark.parametrize("matmul,cudnn", [(True, True), (True, False), (False, True)])
def test_tf32_is_off_inside_and_the_callers_setting_comes_back_even_on_error(tf32_flags, matmul, cudnn):
    """_ieee_matmul on a CUDA device turns TF32 matmuls off inside and restores the caller's
    setting on exit, also when the body raises; cuDNN's switch (BAIT runs no convolution) is left
    as the caller set it. On the CPU it changes nothing. (The flags exist without CUDA.)"""
    from bait_core.selection.bait import _ieee_matmul

    m, c = tf32_flags
    m.allow_tf32, c.allow_tf32 = matmul, cudnn
    with _ieee_matmul(torch.device("cuda")):
        assert m.allow_tf32 is False and c.allow_tf32 is cudnn
    assert (m.allow_tf32, c.allow_tf32) == (matmul, cudnn)
    with pytest.raises(ZeroDivisionError):
        with _ieee_matmul(torch.device("cuda", 0)):
            1 / 0
    assert (m.allow_tf32, c.allow_tf32) == (matmul, cudnn)
    with _ieee_matmul(torch.device("cpu")):
        assert (m.allow_tf32, c.allow_tf32) == (matmul, cudnn)


def test_bait_select_runs_inside_the_ieee_block_and_leaves_it_when_cancelled(monkeypatch):
    """Every step of the selection (progress calls included) runs inside _ieee_matmul for the
    selection's device, and a cancel (an exception from progress) still leaves the block."""
    import bait_core.selection.bait as bait_module

    real, events = bait_module._ieee_matmul, []

    @contextlib.contextmanager
    def spy(device):
        events.append(("enter", str(device)))
        try:
            with real(device):
                yield
        finally:
            events.append(("exit", str(device)))
    monkeypatch.setattr(bait_module, "_ieee_matmul", spy)
    h, p, labeled = make_fixture(40, 3, 3, 5, seed=4)

    class Cancel(Exception):
        pass

    def progress(phase, step, total, value):
        events.append(phase)
        if phase == "backward":
            raise Cancel
    with pytest.raises(Cancel):
        bait_select(h, p, labeled, 5, progress=progress)
    assert events[0] == ("enter", "cpu") and events[-1] == ("exit", "cpu") and events[-2] == "backward"
    assert "forward" in events and events.count(("enter", "cpu")) == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_selection_turns_tf32_off_and_restores_it(tf32_flags):
    m, c = tf32_flags
    m.allow_tf32 = True
    h, p, labeled = make_fixture(60, 4, 3, 10, seed=8)
    seen = []

    def progress(phase, step, total, value):
        seen.append(m.allow_tf32)
        if phase == "backward":
            raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="stop"):
        bait_select(torch.tensor(h, device="cuda"), torch.tensor(p, device="cuda"), labeled, 6, progress=progress)
    assert seen and not any(seen) and m.allow_tf32 is True
