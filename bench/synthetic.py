"""The synthetic pool the selection benchmarks share: Gaussian embeddings, softmax of 2×Gaussian
logits and a random labeled set (seeded; float32 embeddings drawn in blocks so large pools add no
float64 transient)."""

from __future__ import annotations

import importlib.util
import subprocess
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def synthetic_pool(N: int, d: int, K: int, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(h (N, d) float32, p (N, K) float64, labeled (N,) bool with n True)."""
    rng = np.random.default_rng(seed)
    h = np.empty((N, d), np.float32)
    for s in range(0, N, 4096):                      # the same draws as one (N, d) call, in blocks
        h[s:s + 4096] = rng.standard_normal((min(4096, N - s), d))
    logits = rng.standard_normal((N, K)) * 2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labeled = np.zeros(N, bool)
    labeled[rng.choice(N, n, replace=False)] = True
    return h, p, labeled


def engine_at(rev: str):
    """bait_select from bait_core/selection/bait.py at a git revision (`git show`), for before/after
    benchmarks; its imports resolve to today's package (the helpers it uses keep their behaviour for
    square factors)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:bait_core/selection/bait.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / f"bait_{rev}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"bait_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.bait_select
