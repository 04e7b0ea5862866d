"""The numerics table: exact BAIT on ill-conditioned inputs, against a direct solve and the stable reference.

    .venv/bin/python bench/bench_numerics.py                 # the issue's pool, λ × scale (~1 min)
    .venv/bin/python bench/bench_numerics.py --before 440ba95   # also the engine of that commit

Pool: N=200, d=16, K=5, 10 labeled, B=10, Gaussian embeddings (× scale), softmax of 2×Gaussian logits
(tests/test_bait.py::make_fixture, seed 0). For each λ ∈ {1e-6, 1e-4, 1e-2, 1} and scale ∈ {1, 1e2, 1e3}:

* engine: the final objective the engine reports, and "direct": tr(M⁻¹F) of the engine's picks by a
  Cholesky solve (tests/bait_stable_reference.direct_objective), and their relative difference;
* reference: the final objective of the stable reference's picks (every step's gains from a fresh
  Cholesky of M), and whether the picks are the same ("same"), or differ after a step the engine
  reports as a numerical tie ("tie");
* refreshes, and the lowest objective along the steps (never ≤ 0);
* with --before REV: the same two numbers for the engine at that git revision.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bait_core import bait_select  # noqa: E402
from synthetic import engine_at  # noqa: E402
from tests.bait_stable_reference import _factors, direct_objective, stable_select  # noqa: E402
from tests.test_bait import make_fixture  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="git revision of an older engine to show beside today's")
    args = ap.parse_args()
    old = engine_at(args.before) if args.before else None
    N, d, K, n, B = 200, 16, 5, 10, 10
    print(f"pool N={N}, d={d}, K={K}, n={n}, B={B}; load average {os.getloadavg()[0]:.2f}")
    head = (f"{'λ':>6} {'scale':>6} | {'engine':>10} {'direct':>10} {'rel diff':>8} {'min obj':>8} {'refr':>4} | "
            f"{'reference':>10} {'picks':>5}")
    if old:
        head += f" | {'before':>12} {'its direct':>10}"
    print(head)
    print("-" * len(head))
    for lamb in (1e-6, 1e-4, 1e-2, 1.0):
        for scale in (1.0, 1e2, 1e3):
            h, p, labeled = make_fixture(N, d, K, n, 0)
            h = h * scale
            sel = bait_select(h, p, labeled, B, lamb=lamb)
            X_all = _factors(h, p)
            unl = np.flatnonzero(~labeled)
            pos = {int(u): i for i, u in enumerate(unl)}
            direct = direct_objective(X_all, labeled, [pos[int(u)] for u in sel.indices], unl, B, lamb)
            ref_idx, _, ref_obj, _ = stable_select(h, p, labeled, B, lamb=lamb)
            same = "same" if np.array_equal(sel.indices, ref_idx) else ("tie" if "numerics" in sel.params else "NO")
            row = (f"{lamb:>6g} {scale:>6g} | {sel.objective[-1]:>10.6g} {direct:>10.6g} "
                   f"{abs(sel.objective[-1] - direct) / direct:>8.1e} {min(sel.objective):>8.3g} "
                   f"{sel.params['refreshes']:>4} | {ref_obj[-1]:>10.6g} {same:>5}")
            if old:
                o = old(h, p, labeled, B, lamb=lamb)
                o_direct = direct_objective(X_all, labeled, [pos[int(u)] for u in o.indices], unl, B, lamb)
                row += f" | {o.objective[-1]:>12.4g} {o_direct:>10.4g}"
            print(row)


if __name__ == "__main__":
    main()
