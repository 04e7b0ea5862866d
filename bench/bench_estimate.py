"""The memory/time estimator (bait_core.selection.estimate) against measurement.

    .venv/bin/python bench/bench_estimate.py              # a few sizes, every strategy, CPU
    .venv/bin/python bench/bench_estimate.py --quick      # the small sizes only
    .venv/bin/python bench/bench_estimate.py --device cuda

Each case runs in a fresh subprocess: inputs are made (Gaussian float32 embeddings, softmax of
Gaussian logits, n random labeled points), one small call warms the strategy up, then a thread samples
the process's resident memory (psutil RSS, every millisecond; on CUDA torch.cuda.max_memory_allocated)
while the strategy runs. "measured" is the peak minus the resident memory just before the call;
the ratio is estimated / measured (1 = exact; > 1 the estimate is on the safe side).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# (strategy, N, d, K, n, B)
CASES = [("bait", 2000, 200, 10, 20, 10), ("bait", 2000, 200, 10, 200, 10), ("bait", 3000, 400, 8, 30, 10),
         ("bait", 20000, 64, 10, 50, 20),
         ("badge", 20000, 256, 10, 50, 50), ("badge", 50000, 128, 10, 50, 50),
         ("badge-sklearn", 20000, 256, 10, 50, 50),
         ("coreset", 50000, 256, 10, 500, 50), ("coreset", 100000, 64, 10, 5000, 50),
         ("entropy", 200000, 64, 10, 100, 50), ("margin", 200000, 64, 10, 100, 50),
         ("random", 200000, 64, 10, 100, 50)]
QUICK = [c for c in CASES if c[1] * c[2] <= 3_200_000 and c[1] <= 20000]


def inputs(N: int, d: int, K: int, n: int, seed: int = 0):
    """bench/synthetic.py's pool (imported here: numpy is loaded only where it is measured)."""
    from synthetic import synthetic_pool
    return synthetic_pool(N, d, K, n, seed)


def measure(strategy: str, N: int, d: int, K: int, n: int, B: int, device: str) -> dict:
    """Runs in the child: estimate, then the real call with RSS (or CUDA allocator) sampling."""
    import psutil
    import torch
    from bait_core import STRATEGIES
    from bait_core.selection.estimate import estimate

    h, p, labeled = inputs(N, d, K, n)
    fn = STRATEGIES[strategy]
    fn(h[:50, :4], p[:50], None, 2, device=device)              # warm-up (imports, BLAS threads), tiny D
    est = estimate(strategy, N, d, K, B, n, device=device)
    proc = psutil.Process()
    cuda = torch.device(device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    base_rss = proc.memory_info().rss
    peak = [base_rss]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.001)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    fn(h, p, labeled, B, device=device, memory_limit=1e15)
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    done.set()
    t.join()
    measured = (torch.cuda.max_memory_allocated() - base) if cuda else peak[0] - base_rss
    return {"strategy": strategy, "N": N, "d": d, "K": K, "n": n, "B": B, "est_bytes": est.bytes,
            "measured_bytes": int(measured), "est_s": est.seconds, "measured_s": seconds, "detail": est.detail,
            "threads": torch.get_num_threads()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        print(json.dumps(measure(*json.loads(a.child), a.device)))
        return
    print(f"{'strategy':>10} {'N':>7} {'d':>4} {'K':>3} {'n':>5} {'B':>3} | {'est MB':>8} {'meas MB':>8} "
          f"{'ratio':>5} | {'est s':>7} {'meas s':>7} {'ratio':>6}")
    for case in (QUICK if a.quick else CASES):
        res = subprocess.run([sys.executable, __file__, "--device", a.device, "--child", json.dumps(case)],
                             capture_output=True, text=True, cwd=ROOT)
        if res.returncode:
            print(f"{case}: failed: {res.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        mb = max(r["measured_bytes"], 1)
        print(f"{r['strategy']:>10} {r['N']:>7} {r['d']:>4} {r['K']:>3} {r['n']:>5} {r['B']:>3} | "
              f"{r['est_bytes'] / 1e6:8.1f} {r['measured_bytes'] / 1e6:8.1f} {r['est_bytes'] / mb:5.2f} | "
              f"{r['est_s']:7.3f} {r['measured_s']:7.3f} {r['est_s'] / max(r['measured_s'], 1e-6):6.2f}", flush=True)


if __name__ == "__main__":
    main()
