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
docs/bait-math.md in this repository). Gains are compared exactly as computed; ties go to the lowest index
(forward) or the earliest pick (backward); NaN never wins.

Shapes: h (Nu, d) candidate embeddings; G, P, Q (Nu, K, K); A, F (D, D), D = K·d.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch

from bait_core.selection.fisher import (PAIR_FORM_MAX_D, PAIR_FORM_MIN_K, apply_factor, block_quadratic, class_basis,
                                        dense_factor, fisher_apply, fisher_matrix, gram_quadratic, pair_indices,
                                        project, reduced_factors, symmetrize_)
from bait_core.selection.approx import binary_factors, check_approximation, sample_candidates, top_c_factors
from bait_core.selection.estimate import memory_checked
from bait_core.selection.estimate import thread_policy
from bait_core.selection.base import (OptionSpec, ProgressFn, Selection, check_options, nan_safe, pool_scores,
                                      prepare_inputs)


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


def _gain_bounds(P: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Upper bounds of the forward gains tr((I + P)⁻¹ Q), P, Q (Nu, K, K) ⪰ 0.  (Nu,)

    (I + P)⁻¹ ⪯ I gives tr((I + P)⁻¹ Q) ≤ tr(Q). The stored P, Q are PSD only up to rounding (a
    negative eigenvalue of P of size ~ε·K·tr P raises the computed gain by that fraction, one of Q
    adds ~ε·K·tr Q), so the bound carries the margin tr(Q)·(10⁻⁹ + 64·K·ε·(1 + |tr P|)) + 10⁻³⁰⁰;
    a NaN trace bounds nothing (+∞)."""
    return _trace_bounds(P.diagonal(dim1=-2, dim2=-1).sum(-1), Q.diagonal(dim1=-2, dim2=-1).sum(-1), P.shape[-1])


def _trace_bounds(tp: torch.Tensor, tq: torch.Tensor, K: int) -> torch.Tensor:
    """_gain_bounds from the traces tr P, tr Q (Nu,) of K×K blocks."""
    eps = torch.finfo(tq.dtype).eps
    margin = tp.abs().add_(1.0).mul_(64 * K * eps).add_(1e-9)
    b = tq + tq.abs() * margin + 1e-300
    return b.nan_to_num_(nan=math.inf)


# BAIT's two numeric options (the registry's StrategySpec, RunConfig, the CLI and the Setup page use these).
# λ is bounded where float64 still works: below 1e-8 M is numerically singular for unit-scale
# embeddings, above 1e6 the Fisher terms vanish beside λI (and λ² overflows near 1e154).
LAMB = OptionSpec("lamb", 1.0, "λ", "ridge term λ of the Fisher matrix M (Fisher regulariser)",
                  minimum=1e-8, maximum=1e6)
OVERSAMPLE = OptionSpec("oversample", 2.0, "oversampling",
                        "the forward pass picks ⌈oversample·B⌉ points, then prunes back to B", minimum=1.0,
                        maximum=10.0)

# Drift control: the incremental updates lose accuracy relative to the size the quantities had at the
# last fresh computation; when the objective has fallen (or risen) by this factor since then, A, E, P
# and Q are recomputed from M and F formed afresh (docs/bait-math.md section 8).
_REFRESH_RATIO = 8.0

# A step's choice counts as a numerical tie when its best two gains differ by less than this many
# units of rounding (relative to the gain, times the bound κ on cond(M)).
_TIE_SLACK = 16.0
# The final objective is recomputed by a direct solve when a refresh or a tie happened or κ·eps exceeds this.
_DIRECT_CHECK = 1e-9
# ... or when the commits' objective updates may have left more than this much rounding, relative to the
# objective (Σ eps·cond(σI + P*)·|tr(C W)| over the commits: _State.commit's last_error).
_CANCEL_CHECK = 1e-11
# A forward step may not raise the objective (nor a backward step lower it) by more than this, relatively:
# beyond it the state has drifted and is recomputed.
_MONOTONE_SLACK = 1e-9


def _stable_increases(M: torch.Tensor, F: torch.Tensor, h: torch.Tensor, Gt: torch.Tensor) -> torch.Tensor:
    """Removal increases tr((I − P)⁻¹ Q) of the members (h (m, d), Gt (m, r, Kb) scaled factors) from a
    fresh Cholesky factor of M (overwritten): Y = L⁻¹V, P = YᵀY, Z = L⁻ᵀY = M⁻¹V, Q = Zᵀ F Z.  (m,)

    +∞ for a member whose I − P is singular (its removal leaves a direction uncovered at λ → 0)."""
    L, info = torch.linalg.cholesky_ex(M, out=(M, torch.empty((), dtype=torch.int32, device=M.device)))
    m, r = Gt.shape[0], Gt.shape[1]
    V = dense_factor(h, Gt.transpose(1, 2))                            # (m, D, r)
    D = V.shape[1]
    rhs = V.permute(1, 0, 2).reshape(D, m * r)
    if int(info) != 0:                                                 # M not numerically PD: pseudo-inverse
        Z = torch.linalg.pinv(M, hermitian=True) @ rhs
        P = (rhs.T @ Z).view(m, r, m, r).diagonal(dim1=0, dim2=2).permute(2, 0, 1)
    else:
        Y = torch.linalg.solve_triangular(L, rhs, upper=False)
        Z = torch.linalg.solve_triangular(L.T, Y, upper=True)
        Yb = Y.view(D, m, r).permute(1, 0, 2)                          # (m, D, r)
        P = Yb.transpose(1, 2) @ Yb
    Zb = Z.view(D, m, r).permute(1, 0, 2)
    Q = Zb.transpose(1, 2) @ (F @ Z).view(D, m, r).permute(1, 0, 2)
    eye = torch.eye(r, dtype=M.dtype, device=M.device)
    g, singular = _trace_solve(eye - (P + P.transpose(1, 2)) / 2, (Q + Q.transpose(1, 2)) / 2)
    return g.masked_fill(singular, math.inf)


def _ties_note(ties: list[str], steps: int, lamb: float, kappa: float) -> str:
    """The sentence a user sees when some greedy choices were below the arithmetic's resolution."""
    which = ", ".join(ties[:4]) + (f" and {len(ties) - 4} more" if len(ties) > 4 else "")
    return (f"{len(ties)} of {steps} greedy steps ({which}) chose between candidates whose gains differ by less "
            f"than float64 can resolve at λ = {lamb:g} with these embeddings (M's condition number is up to "
            f"{kappa:.0e}): those choices are decided by rounding, and the later steps follow from them, so "
            f"another exact implementation may end with a different set (its objective higher or lower). "
            f"A larger λ, or smaller-norm embeddings, makes every step decided.")


# Candidate rows are updated in chunks so per-step temporaries stay bounded (≈ this many elements).
_ROW_CHUNK_ELEMENTS = 1 << 20
# After a forward step where the trace bound left over a quarter of the rows to solve, this many
# steps solve every gain in plain chunks (cheaper than sorting and gathering), then pruning is tried again.
_UNPRUNED_STEPS = 8
# Deferred P, Q updates keep each forward commit's (D, 2K) right factors; past this many elements
# (256 MiB in float64) every row catches up and the state updates eagerly from then on.
_PENDING_ELEMENTS = 1 << 25


# Up to fisher.PAIR_FORM_MAX_D and from fisher.PAIR_FORM_MIN_K class blocks, _State._quadratic takes the pair form
# (one GEMM over the d(d+1)/2 products h_a h_b): block_quadratic's (rows × D) intermediate makes it
# memory-bound when d is small and K large (measured, 1 / 2 threads: d = 32 and 64 at K = 100 2× / 5–7×
# faster; d = 64 at K = 10 2× slower; d = 128 on par, d = 512 far slower).
_PAIR_FORM_ELEMENTS = 1 << 22
# From this many class blocks (and while d(d+1)/2 < 2r(d + r)) forward commits keep an upper bound on
# every row's tr Q (_State._bound_traces: O(d²·K) a row) instead of its exact value (O(K·r·(d + r))).
_BOUND_TRACES_MIN_K = 16


def _pair_pack(M: torch.Tensor, K: int, d: int) -> list[tuple[int, int, int, torch.Tensor]]:
    """M's blocks l ≥ k gathered for _pair_quadratic, group by group of block rows: (k0, k1, L, Mh) with
    Mh (d(d+1)/2, (k1 − k0)·L) = M_kl[a, b] + M_kl[b, a]. Built once per matrix (the row chunks reuse it)."""
    a, b, _ = pair_indices(d, dtype=M.dtype, device=M.device)
    pairs = a.numel()
    M4 = M.view(K, d, K, d)
    g = max(1, min(K, _PAIR_FORM_ELEMENTS // (pairs * K)))             # block rows per group
    packed = []
    for k0 in range(0, K, g):
        k1, L = min(K, k0 + g), K - k0
        blk = M4[k0:k1, :, k0:, :]                                     # (g, d, L, d)
        packed.append((k0, k1, L, (blk[:, a, :, b] + blk[:, b, :, a]).reshape(pairs, (k1 - k0) * L)))
    return packed


def _pair_quadratic(h: torch.Tensor, M: torch.Tensor, K: int,
                    packed: Optional[list[tuple[int, int, int, torch.Tensor]]] = None) -> torch.Tensor:
    """fisher.block_quadratic by another contraction order: out[n, k, l] = h_nᵀ M_kl h_n
    = Σ_{a≤b} w_ab h_na h_nb (M_kl[a, b] + M_kl[b, a]) (w = ½ on a = b), one (rows × d(d+1)/2) ·
    (d(d+1)/2 × block pairs) GEMM per group of block rows, l ≥ k only (M symmetric).

    h (n, d); M (D, D) symmetric, D = K·d; returns (n, K, K) in M's dtype. Temporaries stay near
    _PAIR_FORM_ELEMENTS elements; d(d+1)/2·(K·(K+1)/2)·n multiply-adds (block_quadratic: n·D²/2)."""
    n, d = h.shape
    dt = M.dtype
    a, b, w = pair_indices(d, dtype=dt, device=h.device)
    pairs = a.numel()
    out = torch.empty(n, K, K, device=h.device, dtype=dt)
    if packed is None:
        packed = _pair_pack(M, K, d)
    for k0, k1, L, Mh in packed:
        c = max(1, _PAIR_FORM_ELEMENTS // max(pairs, Mh.shape[1]))
        for s in range(0, n, c):
            hc = h[s:s + c].to(dt)
            res = ((hc[:, a] * hc[:, b]).mul_(w) @ Mh).view(-1, k1 - k0, L)
            out[s:s + c, k0:k1, k0:] = res
            out[s:s + c, k0:, k0:k1] = res.transpose(1, 2)
    return out


class _State:
    """A = M⁻¹, E = A F A, the running objective tr(A F), and every candidate's P, Q.

    Commits keep all of them exact: A ← A − U C Uᵀ; E ← E − U C Zᵀ − Z C Uᵀ + U C W C Uᵀ with
    U = A V*, Z = E V*, W = V*ᵀ E V*; P and Q of the candidates by the formulas in the module doc.
    F itself is not kept: it is needed only for E and the starting objective.
    While `lazy`, forward commits keep every row's tr P, tr Q current and defer the rows' P, Q
    updates until they are read (`sync()` brings every row up to date; code that sets P, Q afresh
    calls `_reset_pending()`); docs/bait-math.md section 3a.
    """

    def __init__(self, h: torch.Tensor, Gt: torch.Tensor, A: torch.Tensor, F: Optional[torch.Tensor] = None,
                 *, E: Optional[torch.Tensor] = None, objective: Optional[float] = None,
                 P: Optional[torch.Tensor] = None, Q: Optional[torch.Tensor] = None) -> None:
        """From A and F (E, the objective, P, Q computed here), or from A, E, the objective and
        P, Q computed elsewhere (the low-rank set-up)."""
        self._init_rows(h, Gt)
        self.A = A                                                     # (D, D)
        if E is None:
            self.objective = float(torch.dot(A.reshape(-1), F.reshape(-1)))  # tr(A F), both symmetric
            self.E = _sandwich_(F, A)                                  # (D, D) A F A, in F's storage
        else:
            self.objective, self.E = float(objective), E
        self.P = self._quadratic(A) if P is None else P                # (Nu, K, K) Vᵀ A V
        self.Q = self._quadratic(self.E) if Q is None else Q           # (Nu, K, K) Vᵀ A F A V
        self._reset_pending()

    def _init_rows(self, h: torch.Tensor, Gt: torch.Tensor) -> None:
        """The candidates' rows and the per-step bookkeeping (both kinds of state)."""
        self.h, self.Gt = h, Gt                                        # (Nu, d) stored, (Nu, r, Kb) = Gᵀ
        self.K, self.Kb = Gt.shape[1], Gt.shape[2]                     # factor columns r, class blocks Kb
        self.eye = torch.eye(self.K, device=h.device, dtype=Gt.dtype)
        self.rows_per_chunk = max(256, _ROW_CHUNK_ELEMENTS // max(self.K * self.Kb, h.shape[1] // 2))
        self._bufs: dict[str, torch.Tensor] = {}
        self.gain_solves = self.gain_rows = 0                         # K×K gain solves done / asked
        self.lazy = True                                               # defer P, Q updates (see commit)
        self._unpruned_steps = 0                                       # steps to solve all gains
        self._pending: list[tuple[torch.Tensor, Any]] = []
        self._added_scale: dict[int, float] = {}                       # 1 + tr P* of each added point
        self.trace_probs: Optional[torch.Tensor] = None                # set_trace_bounds: s²·p (Nu, Kb + 1)
        self.last_error = 0.0                                          # the last commit's (see commit)

    def _apply_pair(self, hj: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """U = A V*, Z = E V* for the committed point's V* = gtᵀ ⊗ hj.  (D, r) each"""
        return apply_factor(self.A, hj, gt.T), apply_factor(self.E, hj, gt.T)

    def _downdate(self, U: torch.Tensor, UC: torch.Tensor, Y: torch.Tensor, YC: torch.Tensor,
                  C: torch.Tensor) -> None:
        """A −= U C Uᵀ;  E −= U C Yᵀ + Y C Uᵀ  (= U C Zᵀ + Z C Uᵀ − U C W C Uᵀ)."""
        _sym_sub_(self.A, UC, U)
        _sym_sub_(self.E, torch.cat([UC, YC], dim=1), torch.cat([Y, U], dim=1))

    def reset(self, A: torch.Tensor, F: torch.Tensor) -> None:
        """Start again from a freshly computed A = M⁻¹ and the pool Fisher F (overwritten by E = A F A):
        the objective, E and every candidate's P, Q recomputed, not updated (drift control)."""
        self.A = A
        self.objective = float(torch.dot(A.reshape(-1), F.reshape(-1)))
        self.E = _sandwich_(F, A)
        for sl in self._chunks(self.P.shape[0]):
            Gt, hs = self.Gt[sl], self._rows(sl)
            self.P[sl] = Gt @ block_quadratic(hs, A, self.Kb) @ Gt.transpose(1, 2)
            self.Q[sl] = Gt @ block_quadratic(hs, self.E, self.Kb) @ Gt.transpose(1, 2)
        self._reset_pending()                                          # no deferred update applies now

    def _buf(self, name: str, *shape: int) -> torch.Tensor:
        """A reusable work buffer: per-step temporaries are allocated once, not every step (fresh
        multi-MB allocations each step cost more in page faults than the arithmetic)."""
        size = math.prod(shape)
        b = self._bufs.get(name)
        if b is None or b.numel() < size:
            b = self._bufs[name] = torch.empty(size, device=self.h.device, dtype=self.Gt.dtype)
        return b[:size].view(shape)

    def _rows(self, rows: slice | torch.Tensor) -> torch.Tensor:
        """Embeddings of some candidates in the compute dtype (a reused buffer when converting)."""
        h = self.h[rows]
        if h.dtype == self.Gt.dtype:
            return h
        return self._buf("h", *h.shape).copy_(h)

    def _ibuf(self, size: int) -> torch.Tensor:
        b = self._bufs.get("info")
        if b is None or b.numel() < size:
            b = self._bufs["info"] = torch.empty(size, device=self.h.device, dtype=torch.int32)
        return b[:size]

    def _quadratic(self, M: torch.Tensor) -> torch.Tensor:
        """Vᵀ M V = Gᵀ [hᵀ M_kl h] G for every candidate, row block by row block.  (Nu, K, K)"""
        out = self.Gt.new_empty(self.Gt.shape[0], self.K, self.K)       # (Nu, r, r)
        d = self.h.shape[1]
        pair = d <= PAIR_FORM_MAX_D and self.Kb >= PAIR_FORM_MIN_K
        packed = _pair_pack(M, self.Kb, d) if pair else None              # gathered once, not per chunk
        for sl in self._chunks(out.shape[0]):
            Gt = self.Gt[sl]
            h = self._rows(sl)
            bq = _pair_quadratic(h, M, self.Kb, packed) if pair else block_quadratic(h, M, self.Kb)
            out[sl] = Gt @ bq @ Gt.transpose(1, 2)
        return out

    def _chunks(self, n: int) -> Iterator[slice]:
        for s in range(0, n, self.rows_per_chunk):
            yield slice(s, min(n, s + self.rows_per_chunk))

    def add_gains(self, exclude: Optional[torch.Tensor] = None, every: bool = True) -> torch.Tensor:
        """Reduction of the objective from adding each candidate: tr((I + P)⁻¹ Q).  (Nu,)

        I + P is symmetric positive definite: Cholesky, with a general solve for any row where
        rounding broke that.

        every=False computes only the gains that can be the largest among the rows not in
        `exclude` (bool (Nu,)); the others are NaN (not computed). Since P, Q ⪰ 0,
        tr((I + P)⁻¹ Q) ≤ tr(Q): rows are solved in decreasing order of that bound until the bound
        (with a rounding margin, `_gain_bounds`) falls below the best gain found, so the maximum and
        the lowest index holding it are those of the full computation (to rounding: a batched solve's
        last bit can depend on the batch it runs in, so gains within an ulp may order differently),
        at K = 100 after about 1% of the K×K solves (docs/bait-math.md, section 3a).
        self.gain_solves and self.gain_rows count the solves done and the rows asked for."""
        n = self.P.shape[0]
        out = torch.full((n,), math.nan, device=self.P.device, dtype=self.P.dtype)
        if not every and self._unpruned_steps > 0:                     # the bound pruned little lately:
            self._unpruned_steps -= 1                                  # solve all, without sorting and
            every = True                                               # gathering rows
        if every:
            self.sync()
            for sl in self._chunks(n):
                out[sl] = self._gains(self.P[sl], self.Q[sl])
            self.gain_solves += n
            self.gain_rows += n
            return out
        # eager rows: from P, Q; deferred: from the traces kept up to date by every commit
        bound = _trace_bounds(self._tp, self._tq, self.K) if self.lazy else _gain_bounds(self.P, self.Q)
        free = None if exclude is None else torch.nonzero(~exclude).flatten()
        if free is not None:
            bound = bound[free]
        order = torch.argsort(bound, descending=True, stable=True)
        bound_sorted = bound[order]
        if free is not None:
            order = free[order]
        todo = order.shape[0]
        best, done, size, solves0 = -math.inf, 0, 16, self.gain_solves
        while done < todo:
            # the next rows by bound; once a gain is known, only those whose bound reaches it
            stop = min(todo, done + size)
            if best > -math.inf:
                stop = min(stop, done + int((bound_sorted[done:todo] >= best).sum()))
            if stop <= done:
                break
            rows = order[done:stop]
            self._sync_rows(rows)
            g = self._gains(self.P[rows], self.Q[rows])
            out[rows] = g
            self.gain_solves += stop - done
            if bool((g > bound_sorted[done:stop]).any()):            # the bound failed (drift):
                rest = order[stop:todo]                                # be exact, solve everything
                self.sync()
                for s in range(0, rest.shape[0], self.rows_per_chunk):
                    r = rest[s:s + self.rows_per_chunk]
                    out[r] = self._gains(self.P[r], self.Q[r])
                self.gain_solves += todo - stop
                break
            gmax = nan_safe(g).max()
            best = max(best, float(gmax))
            done, size = stop, min(4 * size, self.rows_per_chunk)
        self.gain_rows += todo
        if self.gain_solves - solves0 > todo // 4:                      # the bound prunes little here:
            self._unpruned_steps = _UNPRUNED_STEPS                     # try it again later, and stop
            if self.lazy:                                              # deferring (it would not pay)
                self.lazy = False
                self.sync()
        return out

    def _gains(self, P: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
        """tr((I + P)⁻¹ Q) for a block of rows (r, K, K); −∞ where the system is singular.  (r,)"""
        r = P.shape[0]
        M = torch.add(P, self.eye, out=self._buf("M", r, self.K, self.K))
        L, info = torch.linalg.cholesky_ex(M, out=(self._buf("L", r, self.K, self.K), self._ibuf(r)))
        X = torch.cholesky_solve(Q, L, out=self._buf("X", r, self.K, self.K))
        g = X.diagonal(dim1=-2, dim2=-1).sum(-1)
        bad = info != 0
        if bool(bad.any()):
            g_bad, singular = _trace_solve(M[bad], Q[bad])
            g[bad] = g_bad.masked_fill(singular, -math.inf)
        return g.clone()

    def remove_increase(self, rows: torch.Tensor) -> torch.Tensor:
        """Increase of the objective from removing each of `rows`: tr((I − P)⁻¹ Q).  (len(rows),)"""
        self._sync_rows(rows)
        g, singular = _trace_solve(self.eye - self.P[rows], self.Q[rows])
        return g.masked_fill(singular, math.inf)

    def commit(self, j: int, sigma: float, rows: Optional[torch.Tensor] = None) -> float:
        """Add (σ=+1) or remove (σ=−1) candidate j; update A, E, the objective and P, Q of `rows`
        (all candidates when None). Returns the new objective."""
        self._sync_rows(torch.tensor([j], device=self.h.device))
        gt, hj = self.Gt[j], self.h[j].to(self.Gt.dtype)
        U, Z = self._apply_pair(hj, gt)                                # (D, K) A V*, (D, K) A F A V*
        W = gt @ project(hj[None], Z, self.Kb)[0]
        W = (W + W.T) / 2                                              # (K, K) = V*ᵀ A F A V*
        C = _inverse(sigma * self.eye + self.P[j])                     # (K, K)
        delta = float((C * W).sum())                                   # tr(C W), C and W symmetric
        self.objective -= delta
        # rounding this update may leave in the objective, in units of eps: cond(σI + P*)·|tr(C W)|,
        # times, for a removal, the scale 1 + tr P* had when the member was added (its P* is the
        # difference of terms that large, so it carries their rounding). Large when a member alone
        # covers a direction (I − P* ≈ λ/‖v*‖², found: 8e-9 relative at λ = 0.002), which κ does not
        # see; bait_select solves the final objective directly when their sum is not small
        ev = torch.linalg.eigvalsh((C + C.T) / 2).abs()
        low = float(ev.min())
        tr_p = abs(float(self.P[j].diagonal().sum()))
        if sigma > 0:
            self._added_scale[j] = 1.0 + tr_p
        scale = self._added_scale.get(j, 1.0 + tr_p) if sigma < 0 else 1.0
        self.last_error = (float(ev.max()) / low if low > 0 else math.inf) * abs(delta) * scale
        UC = U @ C
        Y = Z - 0.5 * (UC @ W)                                         # (D, K)
        YC = Y @ C
        self._downdate(U, UC, Y, YC, C)                                # A −= U C Uᵀ, E likewise
        # Candidates: ΔP = R C Rᵀ, ΔQ = S C Rᵀ + R C Sᵀ − R C W C Rᵀ = (Vᵀ Y C) Rᵀ + R (Vᵀ Y C)ᵀ
        # (R = Vᵀ U, S = Vᵀ Z; V = G ⊗ h is linear in the right factor). With σC = L Lᵀ (C is
        # definite: (I + P*)⁻¹ adding, (−I + P*)⁻¹ removing) the right factors absorb L:
        # R' = Vᵀ U L, X' = Vᵀ Y L give ΔP = σ R' R'ᵀ, ΔQ = σ (X' R'ᵀ + R' X'ᵀ): four K³ products per
        # candidate instead of five (docs/bait-math.md, "Fewer products per candidate").
        Lc, info = torch.linalg.cholesky_ex(sigma * C)
        if int(info) == 0 and bool(torch.isfinite(Lc).all()):
            right, mid = torch.cat([U @ Lc, Y @ Lc], dim=1), sigma        # (D, 2K) [U L, Y L]
        else:                                                          # C from the pseudo-inverse
            right, mid = torch.cat([U, YC], dim=1), C                  # (D, 2K) [U, Y C]
        if rows is None and self.lazy:
            # deferred: every row's tr P, tr Q now (the bounds), its P, Q when it is next read
            self._pending.append((right, mid))
            if self.trace_probs is not None and not isinstance(mid, torch.Tensor) and mid > 0:
                self._bound_traces(right)                              # tr Q's upper bound, O(d²·K) a row
            else:
                self._update_traces(right, mid)
            if len(self._pending) * right.numel() > _PENDING_ELEMENTS:
                self.sync()                                            # memory: every row catches up,
                self.lazy = False                                      # then eager (a cycle of deferring
                                                                       # and catching up would cost more)
        elif rows is None:
            for sl in self._chunks(self.h.shape[0]):
                self._update(self._rows(sl), self.Gt[sl], self.P[sl], self.Q[sl], right, mid)
        else:
            self._sync_rows(rows)
            P, Q = self.P[rows], self.Q[rows]
            self._update(self._rows(rows), self.Gt[rows], P, Q, right, mid)
            self.P[rows], self.Q[rows] = P, Q
            self._tp[rows] = P.diagonal(dim1=-2, dim2=-1).sum(-1)
            self._tq[rows] = Q.diagonal(dim1=-2, dim2=-1).sum(-1)
        return self.objective

    # ---- deferred updates: a forward commit appends its right factors to self._pending and
    # updates only every row's tr P and tr Q (what the bound needs); a row's P, Q catch up, in the
    # same order of updates, when they are read (the solved gains, the pick, the members). Whoever
    # sets P, Q afresh (a refresh) calls _reset_pending(). self._seen[x] = pending updates applied.

    def _reset_pending(self) -> None:
        self._pending = []
        self._seen = torch.zeros(self.P.shape[0], dtype=torch.long, device=self.P.device)
        self._tp = self.P.diagonal(dim1=-2, dim2=-1).sum(-1)           # (Nu,) tr P
        self._tq = self.Q.diagonal(dim1=-2, dim2=-1).sum(-1)           # (Nu,) tr Q

    def sync(self) -> None:
        """Apply every deferred update to every row: P, Q exact for all candidates."""
        if self._pending:
            for sl in self._chunks(self.P.shape[0]):
                self._sync_rows(torch.arange(sl.start, sl.stop, device=self.P.device))
        self._reset_pending()

    def _sync_rows(self, rows: torch.Tensor) -> None:
        """Apply the deferred updates `rows` (indices) have not had yet, in commit order."""
        n_p = len(self._pending)
        if n_p == 0 or rows.numel() == 0:
            return
        seen = self._seen[rows]
        lo = int(seen.min())
        for i in range(lo, n_p):
            sub = rows[seen <= i]
            right, mid = self._pending[i]
            for s in range(0, sub.shape[0], self.rows_per_chunk):
                r = sub[s:s + self.rows_per_chunk]
                P, Q = self.P[r], self.Q[r]
                self._update(self._rows(r), self.Gt[r], P, Q, right, mid)
                self.P[r], self.Q[r] = P, Q
        self._seen[rows] = n_p
        if self.trace_probs is not None:                               # bounds → the exact traces again
            self._tp[rows] = self.P[rows].diagonal(dim1=-2, dim2=-1).sum(-1)
            self._tq[rows] = self.Q[rows].diagonal(dim1=-2, dim2=-1).sum(-1)

    def _update_traces(self, right: torch.Tensor, mid: torch.Tensor | float) -> None:
        """tr P −= tr ΔP, tr Q −= tr ΔQ for every row (ΔP, ΔQ as in _update): the projection and
        [R | X] = Gᵀ T per row, then tr(R Rᵀ) σ (or tr(R C Rᵀ)) and 2 tr(X Rᵀ) σ — half of _update's
        K³ products."""
        K = self.K
        for sl in self._chunks(self.h.shape[0]):
            r = sl.stop - sl.start
            T = project(self._rows(sl), right, self.Kb, out=self._buf("T", r, self.Kb, 2 * K))
            RX = torch.matmul(self.Gt[sl], T, out=self._buf("RX", r, K, 2 * K))
            R, X = RX[..., :K], RX[..., K:]
            xr = (X * R).sum((1, 2))
            if not isinstance(mid, torch.Tensor):
                self._tp[sl] -= mid * (R * R).sum((1, 2))
                self._tq[sl] -= (2 * mid) * xr
            else:
                self._tp[sl] -= (torch.matmul(R, mid, out=self._buf("RC", r, K, K)) * R).sum((1, 2))
                self._tq[sl] -= 2 * xr

    def set_trace_bounds(self, probs: torch.Tensor, s2: float) -> None:
        """Let forward commits keep an upper bound on every row's tr Q instead of its exact value
        (_bound_traces; docs/bait-math.md §3a "Bounds instead of traces"). For the exact factors only
        (Gt = s·Rᵀ with (H R)(H R)ᵀ = diag p − p pᵀ, fisher.reduced_factors): probs (Nu, K) the
        candidates' probabilities, renormalised here as there; s2 = B/(n+B)."""
        K = probs.shape[1]
        p = probs.clamp_min(0).to(self.Gt.dtype)
        self.trace_probs = p.div_(p.sum(1, keepdim=True)).mul_(s2)   # (Nu, K) s²·p
        self._house_w, self._house_coef = class_basis(K, dtype=self.Gt.dtype, device=self.Gt.device)
        self._pair_a, self._pair_b, self._pair_w = pair_indices(self.h.shape[1], dtype=self.Gt.dtype,
                                                                device=self.h.device)

    def _bound_traces(self, right: torch.Tensor) -> None:
        """tr Q += 2·‖X'‖·‖R'‖ for every row, an upper bound on the commit's |Δ tr Q| = 2|⟨X', R'⟩|
        ([R' | X'] = Gt T, T = the rows' projections of right = [U L, Y L]); tr P is left as it is (an
        adding commit only lowers it). ‖Gt T_j‖² = s²·(H T_j)ᵀ(diag p − p pᵀ)(H T_j) ≤ Σ_k s²p_k (H T_j)_k²,
        and Σ_j (H T_j)_k² = hᵀ S_k h with S_k = Σ_j r̃_kj r̃_kjᵀ (r̃ = right's blocks lifted by H): K d×d
        matrices a commit and one (rows × d(d+1)/2)·(d(d+1)/2 × 2K) product, instead of the (rows × K·2r)
        projection and the rows' (r×K)·(K×2r) products. A row whose bound reaches the best gain is
        synced (_sync_rows), which makes its traces exact again."""
        Kb, r = self.Kb, self.K
        d = self.h.shape[1]
        dt = self.Gt.dtype
        w, cw = self._house_w, self._house_coef
        Rb = right.reshape(Kb, d * 2 * r)                              # class blocks of right
        rf = torch.cat([Rb, Rb.new_zeros(1, Rb.shape[1])]) - cw * w[:, None] * (w[:-1] @ Rb)[None, :]
        rf = rf.view(Kb + 1, d, 2 * r)                                 # H applied blockwise: (K, d, 2r)
        a, b, pw = self._pair_a, self._pair_b, self._pair_w
        Sp = []
        for half in (rf[..., :r], rf[..., r:]):
            S = half @ half.transpose(1, 2)                            # (K, d, d)
            Sp.append(((S[:, a, b] + S[:, b, a]) * pw).T)              # (pairs, K): hᵀ S_k h by pairs
        Sp = torch.cat(Sp, dim=1)                                      # (pairs, 2K)
        Kf = Kb + 1
        rows = max(64, min(self.h.shape[0], _ROW_CHUNK_ELEMENTS // max(1, a.numel() + 2 * Kf)))
        for s0 in range(0, self.h.shape[0], rows):
            sl = slice(s0, min(self.h.shape[0], s0 + rows))
            hc = self._rows(sl)
            u = (hc[:, a] * hc[:, b]) @ Sp                             # (c, 2K)
            q = self.trace_probs[sl]
            nr = (u[:, :Kf] * q).sum(1).clamp_min_(0)                  # ≥ ‖R'‖²
            nx = (u[:, Kf:] * q).sum(1).clamp_min_(0)                  # ≥ ‖X'‖²
            self._tq[sl] += 2.0 * (nr * nx).sqrt_() * (1.0 + 1e-12)

    def _update(self, h: torch.Tensor, Gt: torch.Tensor, P: torch.Tensor, Q: torch.Tensor,
                right: torch.Tensor, mid: torch.Tensor | float) -> None:
        """The commit's change of P and Q, in place, for one block of rows.

        mid = σ (a float): right = [U L, Y L], R = Vᵀ U L, X = Vᵀ Y L; P −= σ R Rᵀ, Q −= σ (X Rᵀ + R Xᵀ).
        mid = C (K×K):     right = [U, Y C],   R = Vᵀ U,   X = Vᵀ Y C; P −= R C Rᵀ, Q −= X Rᵀ + R Xᵀ."""
        K, r = self.K, h.shape[0]
        T = project(h, right, self.Kb, out=self._buf("T", r, self.Kb, 2 * K))  # (r, Kb, 2K)
        RX = torch.matmul(Gt, T, out=self._buf("RX", r, K, 2 * K))     # (r, K, 2K) [R | X]
        R, X = RX[..., :K], RX[..., K:]
        Rt = R.transpose(1, 2)
        XR = torch.matmul(X, Rt, out=self._buf("XR", r, K, K))
        if not isinstance(mid, torch.Tensor):
            P.sub_(torch.matmul(R, Rt, out=self._buf("RR", r, K, K)), alpha=mid)
            Q.sub_(XR, alpha=mid).sub_(XR.transpose(1, 2), alpha=mid)
        else:
            RC = torch.matmul(R, mid, out=self._buf("RC", r, K, K))
            P.sub_(torch.matmul(RC, Rt, out=self._buf("RR", r, K, K)))
            Q.sub_(XR).sub_(XR.transpose(1, 2))


class _FactoredState(_State):
    """_State without any D×D matrix: the "factored" set-up (docs/bait-math.md section 4a).

        A = M⁻¹ = (I − J diag(σ) Jᵀ)/λ,   E V = A (F (A V)),   F X = (1/N) Σ_pool V_x V_xᵀ X

    J (D, q) starts as W L⁻ᵀ, W = [√c V_L, V_S] the columns of M − λI and λI + WᵀW = L Lᵀ (the
    Woodbury form of M⁻¹); each commit's A −= U C Uᵀ appends r columns √(λ|e_k|)·U u_k with signs
    sign(e_k) (C = Σ e_k u_k u_kᵀ). F is applied from the pool's factors (fisher.fisher_apply) and never
    formed. A commit costs about 2·N·D·r (F U) + 4·D·q·r multiply-adds against the dense pair's
    (3r + 2)·D², and the set-up skips F (N·D²/2), A and E (D² memory each): cheaper while the pool
    and q = (n + steps)·r are small against D (wide embeddings, few labels: mnist with `linear`).
    The starting P, Q need every candidate's Vᵀ F V, from the embeddings' Gram matrix
    (fisher.gram_quadratic: Nu·N·(d + K²)), kept for refreshes. Candidates' P, Q, the trace bound and
    the deferred updates are _State's.
    """

    def __init__(self, h: torch.Tensor, Gt: torch.Tensor, h_l: torch.Tensor, G_l: torch.Tensor, *,
                 lamb: float, c: float, s2: float, N: int, trace_F: float) -> None:
        """trace_F: tr F, the pool's mean Fisher trace (bait_select has the points' traces already)."""
        self._init_rows(h, Gt)
        self.h_l, self.G_l = h_l, G_l                                  # (n, d), (n, Kb, r)
        self.lamb, self.c, self.s2, self.N = lamb, c, s2, N
        self.D = self.Kb * h.shape[1]
        self.trace_F = trace_F
        self._vfv: Optional[torch.Tensor] = None                       # (Nu, r, r) Vᵀ F V, kept
        self.refactor([])

    # ---- the operators
    def f_apply(self, X: torch.Tensor) -> torch.Tensor:
        """F X for X (D, k): the pool's mean Fisher applied from its factors.  (D, k)"""
        out = fisher_apply(self.h, self.Gt.transpose(1, 2), X).div_(self.s2)   # candidates: Gt holds s·G
        if self.h_l.shape[0]:
            out.add_(fisher_apply(self.h_l, self.G_l, X))
        return out.div_(self.N)

    def _apply_a(self, X: torch.Tensor) -> torch.Tensor:
        """A X = (X − J σ Jᵀ X)/λ.  (D, k)"""
        J = self.J[:, :self.q]
        return (X - J @ (self.sig[:self.q, None] * (J.T @ X))).div_(self.lamb)

    def _apply_pair(self, hj: torch.Tensor, gt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        V = dense_factor(hj[None], gt.T[None])[0]                      # (D, r)
        U = self._apply_a(V)
        return U, self._apply_a(self.f_apply(U))

    def _downdate(self, U: torch.Tensor, UC: torch.Tensor, Y: torch.Tensor, YC: torch.Tensor,
                  C: torch.Tensor) -> None:
        e, vecs = torch.linalg.eigh((C + C.T) / 2)
        keep = e != 0
        cols = (U @ vecs[:, keep]) * (self.lamb * e[keep].abs()).sqrt()
        self._append(cols, torch.sign(e[keep]))

    def _append(self, cols: torch.Tensor, signs: torch.Tensor) -> None:
        k = cols.shape[1]
        if self.q + k > self.J.shape[1]:                               # grow (doubling)
            cap = max(2 * self.J.shape[1], self.q + k, 16)
            J = self.J.new_empty(self.D, cap)
            J[:, :self.q] = self.J[:, :self.q]
            sig = self.sig.new_empty(cap)
            sig[:self.q] = self.sig[:self.q]
            self.J, self.sig = J, sig
        self.J[:, self.q:self.q + k] = cols
        self.sig[self.q:self.q + k] = signs
        self.q += k

    # ---- from scratch
    def _columns(self, chosen: list[int]) -> torch.Tensor:
        """W = [√c V_L, V_S] (D, (n + |S|)·r): M = λI + W Wᵀ."""
        parts = []
        if self.h_l.shape[0]:
            parts.append(dense_factor(self.h_l, self.G_l).mul_(math.sqrt(self.c)))
        if chosen:
            rows = torch.as_tensor(chosen, device=self.h.device)
            parts.append(dense_factor(self.h[rows].to(self.Gt.dtype), self.Gt[rows].transpose(1, 2)))
        if not parts:
            return self.Gt.new_zeros(self.D, 0)
        V = torch.cat(parts)                                           # (points, D, r)
        return V.permute(1, 0, 2).reshape(self.D, -1)

    def _woodbury(self, chosen: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """J = W L⁻ᵀ, F J, Ψ = Jᵀ F J and tr(M⁻¹ F) = (tr F − tr Ψ)/λ, computed afresh (S = chosen)."""
        W = self._columns(chosen)
        WtW = W.T @ W
        WtW.diagonal().add_(self.lamb)
        L, info = torch.linalg.cholesky_ex(WtW)
        if int(info) == 0:
            J = torch.linalg.solve_triangular(L, W.T, upper=False).T.contiguous()
        else:                                                          # rounding broke definiteness
            e, vecs = torch.linalg.eigh((WtW + WtW.T) / 2)
            J = (W @ vecs) / e.clamp_min(self.lamb).sqrt()
        FJ = self.f_apply(J)
        Psi = J.T @ FJ
        Psi = (Psi + Psi.T) / 2
        return J, FJ, Psi, (self.trace_F - float(Psi.trace())) / self.lamb

    def direct_objective(self, chosen: list[int]) -> float:
        """tr(M⁻¹ F) recomputed from scratch (S = chosen) by the Woodbury form, no D×D matrix."""
        return self._woodbury(chosen)[3]

    def refactor(self, chosen: list[int]) -> None:
        """J, the objective and every candidate's P, Q afresh for S = chosen (the set-up, and
        _State.reset's counterpart for drift control):
            λ P = ‖h‖² Gᵀ G − a aᵀ,   λ² Q = Vᵀ F V − a b'ᵀ − b' aᵀ,
            a = Vᵀ J,  b' = Vᵀ (F J − ½ J Ψ)   (A = (I − J Jᵀ)/λ, Ψ = Jᵀ F J)."""
        J, FJ, Psi, objective = self._woodbury(chosen)
        m = J.shape[1]
        self.J, self.sig, self.q = J, torch.ones(m, device=J.device, dtype=J.dtype), m
        self.objective = objective
        R = torch.cat([J, FJ.sub_(0.5 * (J @ Psi))], dim=1)            # (D, 2m) [J | Z']
        del FJ, Psi
        Nu, K = self.h.shape[0], self.K
        if self._vfv is None:
            self._vfv = self.Gt.new_empty(Nu, K, K)
            G_l = self.G_l
            Gu = self.Gt.transpose(1, 2)
            C_all = torch.cat([Gu @ self.Gt / self.s2, G_l @ G_l.transpose(1, 2)])   # (N, Kb, Kb)
            h_all = torch.cat([self.h.to(self.Gt.dtype), self.h_l])
            rows = max(1, min(Nu, _ROW_CHUNK_ELEMENTS // max(1, h_all.shape[0])))
            for s in range(0, Nu, rows):
                sl = slice(s, min(Nu, s + rows))
                self._vfv[sl] = gram_quadratic(self._rows(sl), self.Gt[sl].transpose(1, 2), h_all, C_all).div_(self.N)
            del C_all, h_all
        self.P, self.Q = self.Gt.new_empty(Nu, K, K), self.Gt.new_empty(Nu, K, K)
        rows = max(64, _ROW_CHUNK_ELEMENTS // max(1, self.Kb * 2 * m))
        lamb = self.lamb
        for s in range(0, Nu, rows):
            sl = slice(s, min(Nu, s + rows))
            hs, Gs = self._rows(sl), self.Gt[sl]
            T = Gs @ project(hs, R, self.Kb)                           # (c, r, 2m) [a | b']
            a, b = T[..., :m], T[..., m:]
            ab = a @ b.transpose(1, 2)
            self.P[sl] = ((hs * hs).sum(1)[:, None, None] * (Gs @ Gs.transpose(1, 2)) - a @ a.transpose(1, 2)) / lamb
            self.Q[sl] = (self._vfv[sl] - ab - ab.transpose(1, 2)) / lamb ** 2
        self._reset_pending()


def _sym_sub_(M: torch.Tensor, X: torch.Tensor, Y: torch.Tensor, block: int = 512) -> torch.Tensor:
    """M −= X Yᵀ in place when the product is symmetric (as the commits' updates of A and E are): its
    upper block triangle by row blocks, the lower copied from it — about half of addmm_'s D²·k
    multiply-adds (measured D = 3,168, k = 198, one thread: 0.10 s against 0.15 s)."""
    n = M.shape[0]
    if n <= block:
        return M.addmm_(X, Y.T, alpha=-1.0)
    for i in range(0, n, block):
        e = min(n, i + block)
        M[i:e, i:].addmm_(X[i:e], Y[i:].T, alpha=-1.0)
    for i in range(0, n, block):
        e = min(n, i + block)
        M[e:, i:e] = M[i:e, e:].T
    return M


def _direct_objective(make_m: Callable[[], torch.Tensor], F: torch.Tensor) -> float:
    """tr(M⁻¹F) by a Cholesky solve, M = make_m() factorised in its own storage and F overwritten (no
    third D×D matrix); a pseudo-inverse of M formed again when it is not numerically positive definite."""
    M = make_m()
    L, info = torch.linalg.cholesky_ex(M, out=(M, torch.empty((), dtype=torch.int32, device=M.device)))
    if int(info) != 0:
        del M, L
        return float((torch.linalg.pinv(make_m(), hermitian=True) * F).sum())
    return float(torch.cholesky_solve(F, L, out=F).trace())


def _sandwich_(F: torch.Tensor, A: torch.Tensor, block: int = 256) -> torch.Tensor:
    """A F A for symmetric A, F, computed in F's storage: rows of F A first (row i of F A needs
    only row i of F), then, A F A being symmetric, only its upper block triangle (column block j of
    A (F A) down to j's last row: it needs only column block j of F A), and the lower triangle as its
    transpose. 1.5·D³ multiply-adds instead of 2·D³."""
    n = F.shape[0]
    for i in range(0, n, block):
        F[i:i + block] = F[i:i + block] @ A
    for j in range(0, n, block):
        e = min(n, j + block)
        F[:e, j:e] = A[:e] @ F[:, j:e]
    for j in range(0, n, block):                                       # lower ← upper transposed
        e = min(n, j + block)
        blk = F[j:e, j:e]
        blk.copy_((blk + blk.T) / 2)
        F[e:, j:e] = F[j:e, e:].T
    return F


def _inverse_spd_(M: torch.Tensor) -> torch.Tensor:
    """M⁻¹ for a symmetric positive definite M, in M's storage when Cholesky succeeds
    (pseudo-inverse otherwise)."""
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        return torch.linalg.pinv(M, hermitian=True)
    M.copy_(L)                                                         # keep one D×D matrix
    del L
    A = torch.cholesky_inverse(M, out=M)
    if not A.is_contiguous() and A.T.is_contiguous():                # LAPACK's column-major
        A = A.T                                                        # layout: same matrix (symmetric)
    return symmetrize_(A)


# The low-rank set-up keeps a few D×m matrices (m = n·(K−1)) besides the two D×D ones both set-ups hold.
# "auto" takes it when its multiply-add count is lower and those matrices fit in lowrank_budget(device):
# a quarter of the device's free memory (at least 64 MiB), or this many bytes when set (tests).
LOWRANK_EXTRA_BYTES: Optional[int] = None

# bait_select's set-ups ("auto" chooses among the other three: choose_setup)
SETUPS = ("auto", "dense", "low-rank", "factored")


def lowrank_budget(device: Any) -> int:
    """Bytes the low-rank set-up may add on `device` (see LOWRANK_EXTRA_BYTES)."""
    if LOWRANK_EXTRA_BYTES is not None:
        return int(LOWRANK_EXTRA_BYTES)
    from bait_core.selection.estimate import available_memory
    return max(64 << 20, available_memory(device) // 4)


def _setup_costs(N: int, Nu: int, n: int, K: int, d: int) -> tuple[float, float]:
    """Multiply-adds of the dense set-up and of the low-rank (Woodbury) set-up, roughly."""
    D, m = K * d, n * K
    dense = 3.0 * D ** 3 + Nu * D ** 2                                 # M⁻¹, A F A, P and Q (halves)
    q = min(N * (d + K * K), D * D / 2)                                # Gram or block form, per row
    low = 4.0 * D * D * m + 3.0 * D * m * m + Nu * (3 * D * m + 5 * K * K * m + q)
    return dense, low


def _lowrank_extra_bytes(K: int, d: int, n: int, itemsize: int = 8) -> int:
    """Peak memory of the low-rank set-up beyond the dense one's: about four D×m matrices."""
    return 4 * K * d * n * K * itemsize


def _factored_cost(N: int, Nu: int, n: int, Kb: int, r: int, d: int, commits: int) -> float:
    """Multiply-adds of the factored state (_FactoredState) over the set-up and `commits` commits."""
    D, m = Kb * d, n * r
    q = m + commits * r                                                # J's columns at the end
    setup = (2.0 * N * D * m + 2.0 * Nu * D * m + 2.0 * Nu * r * (Kb + r) * m + 3.0 * D * m * m
             + Nu * N * (d + Kb * Kb))                                 # F J; [a | b']; P, Q; J, Ψ; Vᵀ F V
    step = 2.0 * N * D * r + 2.0 * N * Kb * r * r + 4.0 * D * q * r   # F U; A V*, A (F U)
    return setup + commits * step


def _factored_bytes(N: int, Nu: int, n: int, Kb: int, r: int, d: int, commits: int, itemsize: int = 8) -> int:
    """Peak memory of the factored state: J (grown by doubling), F J, [J | Z'], W and its factor
    copy (D × n·r each), Vᵀ F V (Nu, r, r) and the Gram form's pool copy."""
    D, m = Kb * d, n * r
    q = m + commits * r
    return int((2 * D * q + 5 * D * m + Nu * r * r + N * (d + Kb * Kb)) * itemsize)


def choose_setup(setup: str, N: int, Nu: int, n: int, Kb: int, r: int, d: int, commits: int,
                 itemsize: int, device: Any, *, factored_ok: bool = True) -> str:
    """The set-up bait_select runs: `setup` unless "auto"; then the factored state when its
    multiply-adds (set-up and `commits` commits) are fewer than the dense pair's, its memory is no more
    than the pair's two D×D matrices and `factored_ok` (no ill-conditioning forces the D×D stable paths
    anyway), else low-rank when cheaper and its extra
    matrices fit in lowrank_budget(device), else dense. "low-rank" without labels is dense."""
    if setup == "factored":
        return setup
    dense_cost, low_cost = _setup_costs(N, Nu, n, Kb, d)
    lowrank = n > 0 and (setup == "low-rank" or (
        setup == "auto" and low_cost < dense_cost and _lowrank_extra_bytes(Kb, d, n, itemsize) <= lowrank_budget(device)))
    if setup == "auto" and factored_ok:
        D = Kb * d
        pair = (low_cost if lowrank else dense_cost) + N * D * D / 2 + commits * (3 * r + 2) * D * D
        if _factored_cost(N, Nu, n, Kb, r, d, commits) < pair \
                and _factored_bytes(N, Nu, n, Kb, r, d, commits, itemsize) <= 2 * D * D * itemsize:
            return "factored"
    return "low-rank" if lowrank else "dense"


def _lowrank_setup(h: torch.Tensor, Gt: torch.Tensor, h_l: torch.Tensor, G_l: torch.Tensor,
                   F: torch.Tensor, trace_F: float, C_all: Optional[tuple[torch.Tensor, torch.Tensor]],
                   lamb: float, c: float, N: int) -> dict:
    """A, E = A F A, tr(A F) and every candidate's P, Q when the labeled Fisher has low rank
    m = n·K < D, by the Woodbury identity instead of a D×D inverse and two D³ products:

        M = λI + W Wᵀ  (W = √c [V_l]: D×m),   S = (λI + WᵀW)⁻¹ = (L Lᵀ)⁻¹,   X = W S
        A = (I − J Jᵀ)/λ  (J = W L⁻ᵀ, so J Jᵀ = W S Wᵀ)
        E = A F A = (F − X Z'ᵀ − Z' Xᵀ)/λ²,   Y = F W,  Z' = Y − ½ X (WᵀY)
        tr(A F) = (tr F − ⟨S, WᵀY⟩)/λ
        P = Vᵀ A V = (‖h‖² Gᵀ G − (VᵀX)(VᵀW)ᵀ)/λ
        Q = Vᵀ E V: from E in block form, or, when `C_all` = (h_all, C_all) is given (small pools),
            (Vᵀ F V − (VᵀX)(VᵀZ')ᵀ − (VᵀZ')(VᵀX)ᵀ)/λ² with Vᵀ F V from the Gram matrix of the embeddings.

    F is overwritten by E; besides A and F at most about four D×m matrices live at once (no D×D
    temporaries). Shapes: W, X, J, Y, Z' (D, m); S, L (m, m); R (d, K, j·m) the right factors.
    """
    K, Kb = Gt.shape[1], Gt.shape[2]                                   # factor columns, class blocks
    n, d = h_l.shape
    m = n * G_l.shape[2]
    dt = F.dtype
    W = dense_factor(h_l, G_l).permute(1, 0, 2).reshape(Kb * d, m).mul_(math.sqrt(c))  # (D, m)
    WtW = W.T @ W
    WtW.diagonal().add_(lamb)
    L = torch.linalg.cholesky(WtW)                                     # λI + WᵀW = L Lᵀ
    J = torch.linalg.solve_triangular(L, W.T, upper=False).T           # (D, m)
    A = torch.mm(J, J.T).neg_()                                        # (D, D)
    A.diagonal().add_(1.0)
    A.div_(lamb)
    del J
    S = torch.cholesky_inverse(L)
    S = (S + S.T) / 2                                                  # (m, m)
    del L, WtW
    X = W @ S                                                          # (D, m)
    Y = F @ W                                                          # (D, m)
    WtY = W.T @ Y
    WtY = (WtY + WtY.T) / 2
    objective = (trace_F - float((S * WtY).sum())) / lamb
    Zp = Y.sub_(0.5 * (X @ WtY))                                       # (D, m) Z', in Y's storage
    E = F.addmm_(X, Zp.T, alpha=-1.0).addmm_(Zp, X.T, alpha=-1.0).div_(lamb ** 2)   # (D, D), in F's storage
    gram = C_all is not None
    parts = [W, X, Zp] if gram else [W, X]
    R = torch.empty(d, Kb, len(parts) * m, device=F.device, dtype=dt)  # the right factors, laid out for h @ R
    for i, U in enumerate(parts):
        R[:, :, i * m:(i + 1) * m] = U.view(Kb, d, m).permute(1, 0, 2)
    del W, X, Y, Zp, parts, U
    R = R.view(d, -1)
    P, Q = Gt.new_empty(Gt.shape[0], K, K), Gt.new_empty(Gt.shape[0], K, K)   # (Nu, r, r)
    rows = max(256, _ROW_CHUNK_ELEMENTS // max(1, Kb * m))
    for s in range(0, h.shape[0], rows):
        sl = slice(s, min(h.shape[0], s + rows))
        hs, Gs = h[sl].to(dt), Gt[sl]
        T = Gs @ (hs @ R).view(hs.shape[0], Kb, -1)                     # (r, K, j·m): Vᵀ [W X (Z')]
        VW, VX = T[..., :m], T[..., m:2 * m]
        XW = VX @ VW.transpose(1, 2)
        P[sl] = ((hs * hs).sum(1)[:, None, None] * (Gs @ Gs.transpose(1, 2)) - (XW + XW.transpose(1, 2)) / 2) / lamb
        if gram:
            XZ = VX @ T[..., 2 * m:].transpose(1, 2)
            VFV = gram_quadratic(hs, Gs.transpose(1, 2), *C_all).div_(N)
            Q[sl] = (VFV - XZ - XZ.transpose(1, 2)) / lamb ** 2
        else:
            Q[sl] = Gs @ block_quadratic(hs, E, Kb) @ Gs.transpose(1, 2)
    # A and E are symmetric up to rounding (no D×D symmetrisation pass: it would cost as much as E)
    return {"A": A, "E": E, "objective": objective, "P": P, "Q": Q}


@thread_policy("bait")
@memory_checked("bait")
def bait_select(embeddings: Any, probs: Any, labeled: Any, batch_size: int, *,
                lamb: float = 1.0, oversample: float = 2.0, seed: int = 0, device: Any = None,
                dtype: torch.dtype = torch.float64, progress: Optional[ProgressFn] = None,
                setup: str = "auto", record_steps: bool = False, approximation: str = "none",
                top_classes: int = 10, pool_sample: int = 0, **options: Any) -> Selection:
    """Pick `batch_size` unlabeled points by exact BAIT (forward greedy, then backward pruning).

    embeddings (N, d) penultimate embeddings of the whole pool; probs (N, K) softmax outputs, or
    None for a regression head (rank-1 Fisher h hᵀ); labeled: boolean mask (N,) or indices.
    lamb: ridge λ of M; oversample: forward steps = ⌈oversample·B⌉ (capped by the unlabeled count).
    seed: seeds the pool sample (pool_sample > 0); exact BAIT is deterministic and ignores it.
    Computation runs on `device` (default: where the embeddings live) in `dtype` (float64 default;
    TF32 is turned off on CUDA). progress(phase, step, total, objective) is called after each step;
    raising in it cancels the selection.
    setup: how A = M⁻¹, A F A and the candidates' blocks are built and kept — "dense" (a D×D inverse
    and two D³ products), "low-rank" (the Woodbury identity through the n·K labeled directions,
    cheaper while n·K ≪ D), "factored" (no D×D matrix at all: A as I/λ minus a growing low-rank
    term, F applied from the pool's factors — cheaper for wide embeddings, few labels and moderate
    pools, e.g. mnist with a linear model; docs/bait-math.md section 4a), or "auto" (the cheapest by a
    multiply-add count over the set-up and every step, `choose_setup`; low-rank only while its extra
    D×(n·(K−1)) matrices fit in `lowrank_budget`, a quarter of the free memory; factored only while
    the run's conditioning bound keeps the D×D stable paths out). Same picks, to rounding, either way;
    Selection.params["setup"] says which ran.
    record_steps: keep every point's gain at each forward step and each member's removal increase at
    each backward step (Selection.step_scores (T, N), prune_scores (R, N)), for teaching views.
    approximation, top_classes, pool_sample: approximate BAIT (Huseljic et al., ECML PKDD 2024; module
    bait_core.selection.approx): "none" (exact, the default), "top-c" (each point's Fisher over its
    `top_classes` most probable classes) or "binary" (the Bernoulli Fisher of the predicted class);
    pool_sample > 0: a random subset of that many unlabeled points (drawn with `seed`) is both the
    candidate set and, with the labeled points, F's pool. Selection.params["approximation"] says which,
    in words ("top-5 classes of 100 (approximate)"; "exact" when nothing is approximated). top-c and
    binary need probabilities (ValueError with probs=None).
    """
    t0 = time.perf_counter()
    seed = check_options("bait", seed, options)
    approx = check_approximation(approximation, top_classes, pool_sample)
    if probs is None and approx.kind != "none":
        raise ValueError(f"approximation '{approx.kind}' needs class probabilities; a regression head's Fisher "
                         "h hᵀ is already rank 1 (use approximation 'none', with pool_sample if needed).")
    lamb = LAMB.check(lamb, "lamb (λ, the ridge term)")
    oversample = OVERSAMPLE.check(oversample, "oversample (the forward pass picks ⌈oversample·B⌉ points)")
    if setup not in SETUPS:
        raise ValueError(f"setup must be 'auto', 'dense', 'low-rank' or 'factored', got {setup!r}.")
    inp = prepare_inputs(embeddings, probs, labeled, batch_size, device=device, dtype=dtype, strategy="bait",
                         keep_float32=True)
    B, N, n = inp.batch_size, inp.h.shape[0], inp.n
    mask, unlabeled = inp.labeled, inp.unlabeled
    n_unlabeled = unlabeled.size
    # pool sample (approx.py): the candidates, and with the labeled points the pool F averages over
    if 0 < approx.pool_sample < min(B, n_unlabeled):
        raise ValueError(f"pool_sample = {approx.pool_sample} is smaller than the batch size {B}: the batch is picked "
                         f"from the sample; use pool_sample ≥ {B} (or 0 for the whole pool).")
    unlabeled = sample_candidates(unlabeled, approx.pool_sample, seed)
    N = n + unlabeled.size
    dev = inp.h.device
    with _ieee_matmul(dev), torch.no_grad():
        cand = torch.as_tensor(unlabeled, device=dev)
        lab = torch.as_tensor(np.flatnonzero(mask), device=dev)
        p_u = None if inp.p is None else inp.p[cand]
        p_l = None if inp.p is None else inp.p[lab]
        # candidates' embeddings stay in the input's precision when that is float32 (exact chunks
        # are converted on use): half the memory of the largest per-point array
        h, h_l = inp.h[cand], inp.h[lab].to(dtype)                     # (Nu, d), (n, d)
        del inp                                                        # the full-pool copies go
        K = 1 if p_u is None else p_u.shape[1]
        if approx.top_c_active(K):                                     # (·, K−1, c): top-c classes
            G_u, G_l = top_c_factors(p_u, approx.top_classes), top_c_factors(p_l, approx.top_classes)
        elif approx.kind == "binary":                                  # (·, 1, 1): p̂(1 − p̂) h hᵀ
            G_u, G_l = binary_factors(p_u), binary_factors(p_l)
        else:
            # the exact factors in the K−1 directions where the Fisher lives (fisher.reduced_factors)
            G_u = reduced_factors(p_u, h.shape[0], like=h_l)           # (Nu, Kb, r), Kb = r = K − 1
            G_l = reduced_factors(p_l, h_l.shape[0], like=h_l)         # (n, Kb, r)
        Kb, d = G_u.shape[1], h.shape[1]
        exact_factors = p_u is not None and not approx.top_c_active(K) and approx.kind != "binary"
        if progress:
            progress("setup", 0, 3, None)
        Nu = h.shape[0]
        s2 = B / (n + B)
        T = min(math.ceil(oversample * B), Nu)
        # κ = 1 + tr(M − λI)/λ bounds cond(M); its largest value in this run is at most that of the
        # labeled part and the T largest candidates: when κ·eps may pass _DIRECT_CHECK the stable D×D
        # paths run anyway, and the factored state would only add to them
        trace_m = float((h_l.square().sum(1) * G_l.square().sum((1, 2))).sum()) / (n + B) if n else 0.0
        cand_trace = s2 * h.to(dtype).square().sum(1) * G_u.square().sum((1, 2))   # (Nu,) s²·tr I(x)
        kappa_bound = 1.0 + (trace_m + float(torch.topk(cand_trace, T).values.sum() if T else 0.0)) / lamb
        ill = kappa_bound * torch.finfo(dtype).eps > _DIRECT_CHECK
        setup_used = choose_setup(setup, N, Nu, n, Kb, G_u.shape[2], d, 2 * T - B, torch.finfo(dtype).bits // 8,
                                  dev, factored_ok=not ill)
        if setup_used == "factored" and ill:
            # M⁻¹ = (I − J Σ Jᵀ)/λ cancels once J has more columns than D: past κ·eps ≈ 1e-9 the factored
            # state's gains part from the stable ones (found: 12 % worse picks at λ = 1e-8), so refuse
            raise ValueError(
                f"setup='factored' cannot run this selection exactly: its conditioning bound κ ≈ {kappa_bound:.1e} "
                f"(λ = {lamb:g} against the labeled and picked points' Fisher traces) puts κ·ε at "
                f"{kappa_bound * torch.finfo(dtype).eps:.1e}, past the {_DIRECT_CHECK:g} the factored state resolves. "
                "Use setup='auto' or 'dense' (they switch to the stable D×D paths here), or a larger λ.")
        if setup_used != "factored" and setup == "auto" and choose_setup(
                "auto", N, Nu, n, Kb, G_u.shape[2], d, 2 * T - B, torch.finfo(dtype).bits // 8, dev,
                factored_ok=torch.finfo(dtype).eps <= _DIRECT_CHECK) == "factored":
            # ill-conditioned: the D×D pair instead of the factored state the estimate assumed; the memory
            # checked again (against the caller's memory_limit= when one was given), the sentence saying why
            from bait_core.selection.estimate import check_call_fits, estimate
            try:
                check_call_fits(estimate("bait", N, d, K, B, n, device=dev, dtype=dtype, setup=setup_used,
                                         oversample=oversample, approximation=approx.kind,
                                         top_classes=approx.top_classes))
            except ValueError as e:
                raise ValueError(f"This pool is ill-conditioned for BAIT (κ·ε ≈ {kappa_bound * torch.finfo(dtype).eps:.0e} "
                                 f"at λ = {lamb:g}), so it needs the {setup_used} set-up's D×D matrices rather than "
                                 f"the smaller factored state estimated first. {e}") from None
        lowrank = setup_used == "low-rank"
        factored = setup_used == "factored"
        if not lowrank and not factored:
            # M = λI + (n/(n+B))·mean_L I(x);  A = M⁻¹ (computed in M's storage). The labeled sum is
            # formed again below rather than kept: one D×D matrix less at the peak, n·D² more work.
            M = fisher_matrix(h_l, G_l).div_(n + B)
            M.diagonal().add_(lamb)
            A = _inverse_spd_(M)
            del M
        # F = mean over the whole pool (labeled and unlabeled) of I(x) (the factored state applies it instead)
        F = None
        if not factored:
            F = fisher_matrix(h, G_u)
            if n:
                fisher_matrix(h_l, G_l, out=F)
            F.div_(N)
        if progress:
            progress("setup", 1, 3, None)
        gram = None
        if lowrank and N * (d + Kb * Kb) < Kb * Kb * d * d / 2:            # Vᵀ F V from the Gram matrix
            G_all = torch.cat([G_u, G_l])
            gram = (torch.cat([h.to(dtype), h_l]), G_all @ G_all.transpose(1, 2))  # (N, d), (N, K, K)
            del G_all
        Gt = G_u.transpose(1, 2).mul_(math.sqrt(B / (n + B))).contiguous()  # (Nu, K, K) scaled Gᵀ
        if factored:
            # tr F from the traces computed above: Σ_u s²·tr I(x) / s² + (n+B)·tr(M_L − λI), over N
            state = _FactoredState(h, Gt, h_l, G_l, lamb=lamb, c=1.0 / (n + B), s2=s2, N=N,
                                   trace_F=(float(cand_trace.sum()) / s2 + trace_m * (n + B)) / N)
        elif lowrank:
            parts = _lowrank_setup(h, Gt, h_l, G_l, F, float(F.trace()), gram, lamb, 1.0 / (n + B), N)
            del gram
            state = _State(h, Gt, **parts)
            del parts
        else:
            state = _State(h, Gt, A, F)
            del A
        r_cols = G_u.shape[2]
        if exact_factors and Kb >= _BOUND_TRACES_MIN_K and d * (d + 1) // 2 < 2 * r_cols * (d + r_cols):
            state.set_trace_bounds(p_u, s2)                            # many classes, narrow embeddings
        del F, G_u, p_u, p_l

        def fresh_m(chosen: list[int]) -> torch.Tensor:
            """M = λI + Σ_L I(x)/(n+B) + s²·Σ_S I(x) formed afresh (S = chosen)."""
            M = torch.zeros(Kb * d, Kb * d, device=dev, dtype=dtype)
            if n:
                fisher_matrix(h_l, G_l, out=M).div_(n + B)
            if chosen:
                rows = torch.as_tensor(chosen, device=dev)
                fisher_matrix(state.h[rows], Gt[rows].transpose(1, 2), out=M)   # s²·Σ_S I(x)
            M.diagonal().add_(lamb)
            return M

        def fresh_f() -> torch.Tensor:
            """F = the mean Fisher over the pool, formed afresh."""
            F = fisher_matrix(state.h, Gt.transpose(1, 2)).div_(s2)
            if n:
                fisher_matrix(h_l, G_l, out=F)
            return F.div_(N)

        def refresh(chosen: list[int]) -> None:
            """Recompute A, E, the objective and every P, Q from M and F formed afresh (S = chosen)."""
            if factored:
                state.refactor(chosen)
                return
            state.A = state.E = None                                   # free the drifted D×D pair first
            A = _inverse_spd_(fresh_m(chosen))
            state.reset(A, fresh_f())

        refreshes = 0
        anchor = state.objective
        # tr(M) − λ·D (the Fisher part of M), for the resolution of each step's choice: a choice between
        # gains closer than _TIE_SLACK·eps·κ·|gain| (κ = 1 + tr(M − λI)/λ ≥ cond(M)) is below what the
        # dtype can tell apart, whatever the algorithm (docs/bait-math.md section 8)
        eps = torch.finfo(dtype).eps
        ties: list[str] = []
        kappa_max = 1.0 + trace_m / lamb

        def tied(values: torch.Tensor, largest: bool) -> bool:
            """Whether the best two of `values` (finite ones) differ by less than the resolution."""
            v = values[torch.isfinite(values)]
            if v.numel() < 2:
                return False
            top = torch.topk(v, 2, largest=largest).values
            kappa = 1.0 + trace_m / lamb
            gap = abs(float(top[0] - top[1]))                          # 0: an exact tie (lowest index wins)
            return 0.0 < gap <= _TIE_SLACK * eps * kappa * abs(float(top[0]))

        def checked(value: float, chosen: list[int], before: float, sign: float) -> float:
            """The objective after a commit (sign +1 add: it cannot rise; −1 remove: it cannot fall),
            refreshed when it left the range the updates keep exact or moved the wrong way."""
            nonlocal refreshes, anchor
            ok = math.isfinite(value) and value >= 0 and (value > 0 or anchor == 0)
            ok = ok and (anchor == 0 or anchor / _REFRESH_RATIO <= value <= anchor * _REFRESH_RATIO)
            ok = ok and sign * (before - value) >= -_MONOTONE_SLACK * abs(before)
            if not ok:
                refresh(chosen)
                refreshes += 1
                value = anchor = state.objective
            return value

        if not (math.isfinite(state.objective) and state.objective >= 0):   # the set-up's own value
            refresh([])
            refreshes += 1
            anchor = state.objective
        if progress:
            progress("setup", 3, 3, state.objective)
        t_setup = time.perf_counter()

        cancel = 0.0                                                   # Σ eps·last_error of the commits
        taken = torch.zeros(Nu, dtype=torch.bool, device=dev)
        order: list[int] = []
        fgains: list[float] = []
        objective = [state.objective]
        first_scores: Optional[torch.Tensor] = None
        steps: list[np.ndarray] = []
        prunes: list[np.ndarray] = []
        for t in range(T):
            g = state.add_gains(taken, every=record_steps or first_scores is None)
            if first_scores is None:
                first_scores = g.clone()
            if record_steps:
                steps.append(pool_scores(mask, unlabeled, g.masked_fill(taken, math.nan)))
            g = nan_safe(g).masked_fill(taken, -math.inf)
            j = int(torch.argmax(g))                                   # first maximum: lowest index
            if taken[j]:                                               # every gain -inf/NaN: lowest free
                j = int(torch.nonzero(~taken)[0])
            if tied(g, True):
                ties.append(f"forward step {t + 1}")
            trace_m += float(cand_trace[j])
            kappa_max = max(kappa_max, 1.0 + trace_m / lamb)
            order.append(j)
            fgains.append(float(g[j]))
            taken[j] = True
            objective.append(checked(state.commit(j, +1.0), order, objective[-1], +1.0))
            cancel += eps * state.last_error
            if progress:
                progress("forward", t + 1, T, state.objective)
        t_forward = time.perf_counter()

        members = list(order)
        pruned: list[int] = []
        R_total = len(members) - B
        # Ill-conditioned runs prune from a fresh Cholesky factor of M each step: a member that alone
        # covers a direction has I − P ≈ λ/‖v‖², which updated (or explicitly inverted) P cannot resolve
        # (docs/bait-math.md §8.3); I − YᵀY with Y = L⁻¹V can.
        stable_backward = R_total > 0 and kappa_max * eps > _DIRECT_CHECK
        F_pool = None
        if stable_backward:
            state.A = state.E = None                                   # the backward pass needs M and F only
            F_pool = fresh_f()
            M0 = fresh_m(members)
            L0 = torch.linalg.cholesky_ex(M0)[0]
            objective[-1] = float(torch.cholesky_solve(F_pool, L0).trace())   # a direct start
            del M0, L0
        for r in range(R_total):
            rows = torch.as_tensor(members, device=dev)
            if stable_backward:
                inc = _stable_increases(fresh_m(members), F_pool, state.h[rows].to(dtype), Gt[rows])
            else:
                inc = state.remove_increase(rows)
            if record_steps:
                row = np.full(mask.shape[0], np.nan)
                row[unlabeled[np.asarray(members)]] = inc.detach().cpu().double().numpy()
                prunes.append(row)
            inc = nan_safe(inc, math.inf)
            i = int(torch.argmin(inc))                                 # first minimum: earliest pick
            if tied(inc, False):
                ties.append(f"backward step {r + 1}")
            j = members.pop(i)
            trace_m -= float(cand_trace[j])
            pruned.append(j)
            if stable_backward:
                objective.append(objective[-1] + float(inc[i]))
            else:
                objective.append(checked(state.commit(j, -1.0, rows), members, objective[-1], -1.0))
                cancel += eps * state.last_error
            if progress:
                progress("backward", r + 1, R_total, state.objective)
        # the reported final objective is a direct solve, tr(M⁻¹F) by Cholesky (the maintained A and E
        # are freed first, so the peak memory is the set-up's); its distance from the maintained value
        # is kept as a measure of the drift the refreshes allowed
        # — when the run was ill-conditioned enough to need it: a refresh or a tie happened, or κ·eps
        # exceeded 1e-9, or the commits' updates may have left more than _CANCEL_CHECK of rounding in it
        # (other runs keep the maintained value and skip the D³ solve and the second formation of F)
        direct = bool(refreshes or ties or kappa_max * eps > _DIRECT_CHECK
                      or cancel > _CANCEL_CHECK * abs(objective[-1]))
        drift = None
        if direct:
            maintained = objective[-1]
            if factored and F_pool is None and kappa_max * eps <= _DIRECT_CHECK:
                objective[-1] = state.direct_objective(members)       # Woodbury form afresh, no D×D
            else:
                state.A = state.E = None
                objective[-1] = _direct_objective(lambda: fresh_m(members), fresh_f() if F_pool is None else F_pool)
            drift = abs(maintained - objective[-1]) / max(abs(objective[-1]), 1e-300)
        t_backward = time.perf_counter()

    unl = unlabeled
    gain_of = dict(zip(order, fgains))
    return Selection(
        strategy="bait",
        indices=unl[np.asarray(members, dtype=np.int64)],
        gains=np.array([gain_of[j] for j in members], dtype=np.float64),
        scores=pool_scores(mask, unlabeled, first_scores),
        pruned=unl[np.asarray(pruned, dtype=np.int64)],
        forward_indices=unl[np.asarray(order, dtype=np.int64)],
        forward_gains=np.asarray(fgains, dtype=np.float64),
        objective=np.asarray(objective, dtype=np.float64),
        n_forward=T,
        timings={"setup": t_setup - t0, "forward": t_forward - t_setup,
                 "backward": t_backward - t_forward, "total": t_backward - t0},
        params={"lamb": lamb, "oversample": oversample, "batch_size": B, "n_labeled": n,
                "device": str(dev), "dtype": str(dtype).replace("torch.", ""), "K": K, "d": d,
                "setup": setup_used, "refreshes": refreshes,
                "pruning": "fresh Cholesky each step" if stable_backward else "incremental",
                **({"objective_drift": drift} if drift is not None else {}),
                **({"numerics": _ties_note(ties, T + R_total, lamb, 1.0 + trace_m / lamb)} if ties else {}),
                "approximation": approx.words(K, n_unlabeled),
                "approximation_options": {"approximation": approx.kind, "top_classes": approx.top_classes,
                                          "pool_sample": approx.pool_sample},
                "gain_solves": state.gain_solves, "gain_rows": state.gain_rows},
        step_scores=np.stack(steps) if record_steps and steps else None,
        prune_scores=np.stack(prunes) if record_steps and prunes else None,
    )
