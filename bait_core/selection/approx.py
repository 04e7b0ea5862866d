"""Approximate BAIT for pools where exact BAIT is out of reach: always labelled as approximate.

Source: Huseljic, Hahn, Herde, Rauch & Sick, "Fast Fishing: Approximating BAIT for Efficient and
Scalable Deep Active Image Classification", ECML PKDD 2024 (arXiv 2404.08981), and its code in
dal-toolbox (``BaitSampling``, ``get_topk_grad_representations``, ``get_exp_grad_representations``).
Each approximation changes only the *inputs* of the exact engine (bait.bait_select): the per-point
Fisher factor, or which points are candidates and enter F. The greedy itself stays exact for the
approximated objective. Derivations: docs/bait-math.md section 7.

* ``"top-c"`` (the paper's "BAIT (Exp)"): the expectation over the label y in
  I(x) = E_y[∇ℓ_y ∇ℓ_yᵀ] = Σ_y p_y (e_y − p)(e_y − p)ᵀ ⊗ h hᵀ is truncated to the c most probable
  classes of each point, with their probabilities renormalised to sum to 1 (p̃_y = p_y / Σ_top p, as
  dal-toolbox's ``normalize_top_probas=True``); the gradient direction e_y − p keeps the full p.
  Factor (N, K−1, c): fisher.reduced_factors(p, columns=top-c) / sqrt(Σ_top p), in the same K−1
  class directions as the exact engine (so D = (K−1)·d is unchanged; the per-candidate blocks shrink
  from (K−1)×(K−1) to c×c and each commit is rank c instead of K−1). c ≥ K keeps every class: exact
  (the exact factor is used then). c = K − 1 is *not* exact (the least likely class's term is dropped).
* ``"binary"`` (the paper's "BAIT (Binary)"): the Bernoulli likelihood of the predicted class
  ŷ = argmax p with p̂ = max p, for a d-parameter binary head: I(x) = p̂(1 − p̂) h hᵀ, rank 1,
  factor sqrt(p̂(1 − p̂)) with one class block (N, 1, 1): D = d whatever K.
* ``pool_sample`` (combinable with either, or with exact factors): a seeded uniform random subset of
  that many unlabeled points is the candidate set, and F averages over that subset and the labeled
  points (dal-toolbox's ``subset_size``: the unlabeled loader is subsampled before both the
  candidates' and F's representations are computed). 0, or a value ≥ the unlabeled count, keeps the
  whole pool.

Deviations from the paper's code: the top-c factor is expressed in the K−1 class directions where
the Fisher lives (the same matrix G Gᵀ, fewer coordinates); F is the mean over its points (the
original BAIT code's convention, kept by the exact engine) where dal-toolbox sums batch means.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from bait_core.selection.base import OptionSpec
from bait_core.selection.fisher import reduced_factors

__all__ = ["APPROXIMATIONS", "APPROXIMATION", "TOP_CLASSES", "POOL_SAMPLE", "Approximation", "check_approximation",
           "top_c_factors", "binary_factors", "sample_candidates", "SOURCE"]

SOURCE = "Huseljic et al., “Fast Fishing”, ECML PKDD 2024"
APPROXIMATIONS = ("none", "top-c", "binary")

# The three options as the registry, RunConfig, the CLI (--approximation, --top-classes, --pool-sample)
# and the Setup page see them.
APPROXIMATION = OptionSpec(
    "approximation", "none", "approximation",
    "approximate BAIT when exact is too slow: 'top-c' (Fisher over each point's top-c classes) or 'binary' "
    f"(Bernoulli Fisher of the predicted class); 'none' = exact [{SOURCE}]",
    minimum=0, choices=APPROXIMATIONS)
TOP_CLASSES = OptionSpec(
    "top_classes", 10, "top classes",
    "c of the top-c approximation: each point's Fisher keeps its c most probable classes "
    "(c ≥ K keeps every class: exact)", minimum=1, integer=True)
POOL_SAMPLE = OptionSpec(
    "pool_sample", 0, "pool sample",
    "approximate: BAIT considers a random sample of this many unlabeled points (seeded by the round's "
    f"seed), which also stands for the pool in F; 0 = the whole pool [{SOURCE}]",
    minimum=0, integer=True)


def _count(v: int) -> str:
    return f"{v:,}"


@dataclass(frozen=True)
class Approximation:
    """A checked approximation setting: kind ("none", "top-c", "binary"), c, pool sample (0 = all)."""

    kind: str = "none"
    top_classes: int = 10
    pool_sample: int = 0

    def top_c_active(self, K: Optional[int]) -> bool:
        """Whether top-c drops any class on a pool with K classes (K None: unknown, assumed so)."""
        return self.kind == "top-c" and (K is None or self.top_classes < K)

    def sample_active(self, n_unlabeled: Optional[int]) -> bool:
        """Whether the pool sample leaves out any unlabeled point (n_unlabeled None: assumed so)."""
        return self.pool_sample > 0 and (n_unlabeled is None or self.pool_sample < n_unlabeled)

    def is_exact(self, K: Optional[int] = None, n_unlabeled: Optional[int] = None) -> bool:
        """True when nothing is approximated on this pool (top-c with c ≥ K, a sample ≥ the pool)."""
        return not (self.top_c_active(K) or self.kind == "binary" or self.sample_active(n_unlabeled))

    def parts(self, K: Optional[int] = None, n_unlabeled: Optional[int] = None, *, long: bool = True) -> list[str]:
        out = []
        if self.top_c_active(K):
            out.append(f"top-{self.top_classes} classes" + (f" of {_count(K)}" if long and K else ""))
        if self.kind == "binary":
            out.append("binary: predicted class vs the rest" if long else "binary")
        if self.sample_active(n_unlabeled):
            out.append(f"a random {_count(self.pool_sample)} of {_count(n_unlabeled)} unlabeled points"
                       if long and n_unlabeled else f"{_count(self.pool_sample)}-point pool sample")
        return out

    def words(self, K: Optional[int] = None, n_unlabeled: Optional[int] = None) -> str:
        """Selection.params["approximation"]: "exact", or e.g. "top-5 classes of 100 (approximate)",
        "binary: predicted class vs the rest, a random 2,000 of 9,900 unlabeled points (approximate)"."""
        parts = self.parts(K, n_unlabeled)
        return "exact" if not parts else ", ".join(parts) + " (approximate)"

    def label(self, K: Optional[int] = None, n_unlabeled: Optional[int] = None) -> str:
        """Short words for a strategy name: "" when exact, else "approximate: top-5 classes"."""
        parts = self.parts(K, n_unlabeled, long=False)
        return "" if not parts else "approximate: " + ", ".join(parts)


def check_approximation(approximation: Any = "none", top_classes: Any = 10, pool_sample: Any = 0) -> Approximation:
    """The three options checked (ValueError with a sentence naming the option and its valid values;
    also when top_classes is set away from its default without approximation='top-c', where it would do
    nothing)."""
    out = Approximation(
        APPROXIMATION.check(approximation, "approximation"),
        TOP_CLASSES.check(top_classes, "top_classes (c of the top-c approximation)"),
        POOL_SAMPLE.check(pool_sample, "pool_sample (unlabeled points BAIT considers; 0 = all)"))
    if out.kind != "top-c" and out.top_classes != TOP_CLASSES.default:
        raise ValueError(f"top_classes = {out.top_classes} applies only with approximation 'top-c' "
                         f"(the approximation is '{out.kind}'); set approximation to 'top-c' or leave top_classes out.")
    return out


def top_c_factors(probs: torch.Tensor, c: int) -> torch.Tensor:
    """(N, K−1, c) factor R with (H R)(H R)ᵀ = Σ_{y ∈ top-c(x)} p̃_y (e_y − p)(e_y − p)ᵀ,
    p̃_y = p_y / Σ_{top-c} p (Huseljic et al. 2024, "BAIT (Exp)"; dal-toolbox normalises the top
    probabilities the same way). probs (N, K), c < K; H is fisher.reduced_factors' basis of 1⊥."""
    N, K = probs.shape
    if not 1 <= c < K:
        raise ValueError(f"top_c_factors needs 1 ≤ c < K = {K}, got c = {c}.")
    p = probs.clamp_min(0)
    p = p / p.sum(1, keepdim=True)
    top = torch.topk(p, c, dim=1).indices                             # (N, c) the c most probable classes
    R = reduced_factors(p, N, columns=top)                            # (N, K−1, c), Σ_top p_y (…)(…)ᵀ
    mass = torch.gather(p, 1, top).sum(1)                             # (N,) Σ_top p > 0
    return R.mul_(mass.rsqrt()[:, None, None])


def binary_factors(probs: torch.Tensor) -> torch.Tensor:
    """(N, 1, 1) factor sqrt(p̂(1 − p̂)), p̂ = max_y p_y: the Bernoulli Fisher p̂(1 − p̂) h hᵀ of the
    predicted class against the rest (Huseljic et al. 2024, "BAIT (Binary)")."""
    p = probs.clamp_min(0)
    p_hat = (p.max(1).values / p.sum(1)).clamp(0.0, 1.0)
    return (p_hat * (1.0 - p_hat)).sqrt_().view(-1, 1, 1)


def sample_candidates(unlabeled: np.ndarray, pool_sample: int, seed: int) -> np.ndarray:
    """A uniform random subset of `pool_sample` of the unlabeled indices (ascending; all of them when
    pool_sample is 0 or ≥ their count), drawn by numpy's default_rng(seed): the same seed, the same
    subset."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}.")
    if pool_sample <= 0 or pool_sample >= unlabeled.size:
        return unlabeled
    pick = np.random.default_rng(int(seed)).choice(unlabeled.size, size=pool_sample, replace=False)
    return unlabeled[np.sort(pick)]
