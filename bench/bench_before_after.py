"""Today's exact BAIT engine against the engine of an earlier git revision, on the same inputs.

    .venv/bin/python bench/bench_before_after.py --before 440ba95
    .venv/bin/python bench/bench_before_after.py --before 440ba95 --only 3000,32,100,5

Inputs: bench/synthetic.py (Gaussian float32 embeddings, softmax of 2×Gaussian logits, 100 labeled),
λ = 1, float64, one torch thread (threads=1 for today's engine, torch.set_num_threads(1) around the old
one). Each engine runs twice, alternating, and the faster run counts; prints seconds, the ratio
before/today (> 1: today is faster), whether the picks are the same, and the load average.
The old bait.py is loaded from `git show REV:bait_core/selection/bait.py`; its imports resolve to
today's package (the helpers it uses keep their behaviour for square factors).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bait_core import bait_select  # noqa: E402
from synthetic import engine_at, synthetic_pool  # noqa: E402

CONFIGS = [(2000, 64, 10, 10), (10000, 128, 10, 100), (3000, 32, 100, 5)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", required=True, help="git revision of the earlier engine")
    ap.add_argument("--only", help="one configuration N,d,K,B")
    args = ap.parse_args()
    old = engine_at(args.before)
    configs = [tuple(int(x) for x in args.only.split(","))] if args.only else CONFIGS
    print(f"today vs {args.before}; one thread; load average {os.getloadavg()[0]:.2f} at the start")
    print(f"{'N':>6} {'d':>4} {'K':>4} {'B':>4} | {'before s':>9} {'today s':>8} {'ratio':>6} | same picks")
    for N, d, K, B in configs:
        h, p, labeled = synthetic_pool(N, d, K, 100)
        t_new, t_old = [], []
        for _ in range(2):
            t = time.perf_counter()
            new = bait_select(h, p, labeled, B, threads=1)
            t_new.append(time.perf_counter() - t)
            saved = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                t = time.perf_counter()
                prev = old(h, p, labeled, B)
                t_old.append(time.perf_counter() - t)
            finally:
                torch.set_num_threads(saved)
        same = np.array_equal(new.indices, prev.indices) and np.array_equal(new.pruned, prev.pruned)
        print(f"{N:>6} {d:>4} {K:>4} {B:>4} | {min(t_old):>9.2f} {min(t_new):>8.2f} {min(t_old) / min(t_new):>5.2f}× | "
              f"{'yes' if same else 'NO'}", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
