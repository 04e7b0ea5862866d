"""Approximate BAIT against exact BAIT on the same inputs: speed-up, objective ratio and pick overlap.

    .venv/bin/python bench/bench_approx.py                         # N=10k, d=64, K=100, B=100 (long: exact
                                                                   # takes many minutes on 2 cores)
    .venv/bin/python bench/bench_approx.py --N 2000 --d 16 --K 20 --B 20    # a quick run

Inputs: bench/synthetic.py's pool (Gaussian float32 embeddings, softmax of 2×Gaussian logits, --n
labeled points, seed 0); λ = 1, oversample = 2, float64, torch's default threads. Each row runs
bait_select with one approximation (bait_core.selection.approx; Huseljic et al., ECML PKDD 2024):

* time, and speed-up = exact's time / the row's time;
* objective ratio = tr(M_S⁻¹ F) of the row's picks S divided by that of exact's picks, both computed by
  a direct Cholesky solve with the EXACT Fisher (all K classes, the whole pool in F), not the
  approximation's own objective: ≥ 1 means worse picks (exact BAIT minimises it greedily, so a ratio
  slightly below 1 is possible but rare);
* overlap = |S ∩ S_exact| / B.

Exact's picks and time are cached in --cache (keyed by the sizes) so that a rerun with other
approximations does not repeat it. The table goes to stdout and, with --out, to a Markdown file; the
load average (uptime) before and after is printed with it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from bait_core.selection.bait import bait_select  # noqa: E402
from bait_core.selection.fisher import fisher_matrix, reduced_factors  # noqa: E402
from synthetic import synthetic_pool  # noqa: E402

LAMB = 1.0


def variants(c: list[int], sample: int) -> list[tuple[str, dict]]:
    rows: list[tuple[str, dict]] = []
    for ci in c:
        rows.append((f"top-{ci} classes", {"approximation": "top-c", "top_classes": ci}))
    rows.append(("binary", {"approximation": "binary"}))
    if sample:
        rows.append((f"pool sample {sample:,}", {"pool_sample": sample}))
        rows.append((f"top-{c[0]} + pool sample {sample:,}",
                     {"approximation": "top-c", "top_classes": c[0], "pool_sample": sample}))
        rows.append((f"binary + pool sample {sample:,}", {"approximation": "binary", "pool_sample": sample}))
    return rows


def exact_objective(h: np.ndarray, p: np.ndarray, labeled: np.ndarray, picks: np.ndarray, F: torch.Tensor,
                    B: int) -> float:
    """tr(M_S⁻¹ F) by a direct Cholesky solve, with bait_select's conventions (docs/bait-math.md §2):
    M_S = λI + (1/(n+B)) Σ_L I(x) + (B/(n+B)) Σ_S I(x), I(x) in the exact K−1 reduced factors."""
    n = int(labeled.sum())
    lab = np.flatnonzero(labeled)
    M = torch.zeros_like(F)
    hl, pl = torch.from_numpy(h[lab]).double(), torch.from_numpy(p[lab])
    fisher_matrix(hl, reduced_factors(pl, like=hl), out=M)
    M.div_(n + B)
    hs, ps = torch.from_numpy(h[picks]).double(), torch.from_numpy(p[picks])
    Ms = fisher_matrix(hs, reduced_factors(ps, like=hs))
    M.add_(Ms, alpha=B / (n + B))
    del Ms
    M.diagonal().add_(LAMB)
    L = torch.linalg.cholesky(M)
    del M
    Minv = torch.cholesky_inverse(L)
    del L
    return float((Minv * F).sum())


def pool_fisher(h: np.ndarray, p: np.ndarray) -> torch.Tensor:
    """F = (1/N) Σ_pool I(x) with the exact reduced factors, built in row blocks."""
    N, d = h.shape
    K = p.shape[1]
    F = torch.zeros((K - 1) * d, (K - 1) * d, dtype=torch.float64)
    for s in range(0, N, 2000):
        hb, pb = torch.from_numpy(h[s:s + 2000]).double(), torch.from_numpy(p[s:s + 2000])
        fisher_matrix(hb, reduced_factors(pb, like=hb), out=F)
    return F.div_(N)



def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--N", type=int, default=10_000)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--K", type=int, default=100)
    ap.add_argument("--B", type=int, default=100)
    ap.add_argument("--n", type=int, default=100, help="labeled points (default 100)")
    ap.add_argument("--top-classes", type=int, nargs="+", default=[10], help="c values of top-c rows (default 10)")
    ap.add_argument("--pool-sample", type=int, default=2000, help="pool sample size of the sampled rows (0: none)")
    ap.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "bait_bench_approx_exact.json"),
                    help="exact runs' picks and times, reused by a rerun with the same sizes")
    ap.add_argument("--out", default=None, help="write the Markdown table here too")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    N, d, K, B, n = args.N, args.d, args.K, args.B, args.n
    load0 = os.getloadavg()
    h, p, labeled = synthetic_pool(N, d, K, n)
    key = f"N={N},d={d},K={K},B={B},n={n},threads={torch.get_num_threads()}"
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if key in cache:
        ex = cache[key]
        print(f"exact: cached ({ex['seconds']:.1f} s, load then {ex['load']})", file=sys.stderr)
    else:
        print(f"exact: running (N={N}, d={d}, K={K}, B={B}) ...", file=sys.stderr, flush=True)
        t = time.perf_counter()
        sel = bait_select(h, p, labeled, B)
        ex = {"seconds": time.perf_counter() - t, "picks": sel.indices.tolist(),
              "engine_objective": float(sel.objective[-1]), "load": [round(x, 2) for x in os.getloadavg()]}
        cache[key] = ex
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        cache_path.write_text(json.dumps(cache, indent=1))
        print(f"exact: {ex['seconds']:.1f} s", file=sys.stderr, flush=True)
    rows = []
    for name, kw in variants(args.top_classes, args.pool_sample):
        t = time.perf_counter()
        sel = bait_select(h, p, labeled, B, seed=0, **kw)
        sec = time.perf_counter() - t
        rows.append((name, kw, sec, sel.indices, sel.params["approximation"]))
        print(f"{name}: {sec:.1f} s", file=sys.stderr, flush=True)
    print("direct objectives (exact Fisher) ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    F = pool_fisher(h, p)
    exact_picks = np.asarray(ex["picks"])
    obj_exact = exact_objective(h, p, labeled, exact_picks, F, B)
    print(f"F and exact's objective: {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    lines = [f"# bench_approx: N={N:,}, d={d}, K={K}, B={B}, {n} labeled; λ=1, oversample=2, float64, "
             f"{torch.get_num_threads()} torch threads, torch {torch.__version__}",
             "",
             f"Exact BAIT: {ex['seconds']:.1f} s; tr(M_S⁻¹F) of its picks (direct solve) {obj_exact:.6g} "
             f"(engine's own: {ex['engine_objective']:.6g}).",
             "",
             "| approximation | Selection.params[\"approximation\"] | time s | speed-up | objective ratio | overlap |",
             "|---|---|---:|---:|---:|---:|"]
    for name, kw, sec, picks, words in rows:
        obj = exact_objective(h, p, labeled, picks, F, B)
        overlap = len(set(picks.tolist()) & set(exact_picks.tolist())) / B
        lines.append(f"| {name} | {words} | {sec:.1f} | **{ex['seconds'] / sec:.1f}×** | {obj / obj_exact:.4f} | "
                     f"{overlap:.2f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    load2 = os.getloadavg()
    lines += ["", f"objective ratio: tr(M_S⁻¹F) of the approximation's picks over exact's, both by a direct solve "
                  "with the exact Fisher (1 = as good as exact; higher is worse). overlap = |S ∩ S_exact| / B.",
              f"Load average (1, 5, 15 min) at the start {tuple(round(x, 2) for x in load0)}, after the selections "
              f"{tuple(round(x, 2) for x in load1)}, at the end {tuple(round(x, 2) for x in load2)}; exact's run: "
              f"{tuple(ex['load'])} at its end. 2-core machine shared with other jobs."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
