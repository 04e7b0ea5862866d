"""BAIT's two set-ups at interactive sizes: dense (D×D inverse, A F A) vs low-rank (Woodbury).

    .venv/bin/python bench/bench_setup.py              # one CPU thread (as the app runs rounds)
    .venv/bin/python bench/bench_setup.py --threads 2

A round's selection starts by building A = M⁻¹, A F A and every candidate's K×K blocks. With few
labels (n·K ≪ D = K·d) the labeled Fisher has low rank and the Woodbury identity replaces the D³
work; "auto" picks the cheaper set-up by a multiply-add count. Same random inputs as the main
benchmark (Gaussian embeddings, softmax of Gaussian logits); each row checks that both set-ups give
the same picks and prints the ratio of set-up and whole-selection times (median of --repeats).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic import synthetic_pool  # noqa: E402
from bait_core import bait_select  # noqa: E402

# (N, d, K, n, B): the digits demo's first and a later round, a toy set, mnist-sized pools
CONFIGS = [(1348, 128, 10, 20, 10), (1348, 128, 10, 100, 10), (450, 128, 2, 20, 10),
           (3750, 128, 10, 50, 20), (10000, 128, 10, 100, 50), (10000, 256, 10, 20, 100)]


inputs = synthetic_pool                     # bench/synthetic.py: the pool every selection bench uses


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    bait_select(*inputs(200, 16, 3, 10), 5)                           # first-call costs
    print(f"torch {torch.__version__}, {args.threads} thread(s), float64, median of {args.repeats}\n")
    print("| N | d | K | n | B | auto picks | dense set-up s | low-rank set-up s | set-up ratio | "
          "dense total s | low-rank total s | total ratio | same picks |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for N, d, K, n, B in CONFIGS:
        h, p, labeled = inputs(N, d, K, n)
        runs = {}
        for setup in ("dense", "low-rank"):
            sels = [bait_select(h, p, labeled, B, setup=setup) for _ in range(args.repeats)]
            runs[setup] = (sels[0], statistics.median(s.timings["setup"] for s in sels),
                           statistics.median(s.timings["total"] for s in sels))
        auto = bait_select(h, p, labeled, B).params["setup"]
        (sd, su_d, tot_d), (sl, su_l, tot_l) = runs["dense"], runs["low-rank"]
        same = np.array_equal(sd.indices, sl.indices) and np.array_equal(sd.pruned, sl.pruned)
        print(f"| {N} | {d} | {K} | {n} | {B} | {auto} | {su_d:.3f} | {su_l:.3f} | {su_d / su_l:.1f}× | "
              f"{tot_d:.3f} | {tot_l:.3f} | {tot_d / tot_l:.1f}× | {'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
