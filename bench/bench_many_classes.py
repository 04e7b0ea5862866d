"""Exact BAIT with many classes: today's engine against the engine before the many-classes work.

    .venv/bin/python bench/bench_many_classes.py                   # the two rows of issue 12, part 4
    .venv/bin/python bench/bench_many_classes.py --only 3000,32,100,5 --threads 1
    .venv/bin/python bench/bench_many_classes.py --before 637dcd5   # another "before" commit

"before" is bait_core/selection/bait.py as of --before (default 637dcd5, the last engine before the
trace-bound pruning, the L-folded updates and the pair-form set-up), loaded from `git show` into a
temporary module; it uses today's fisher.py and base.py (unchanged by that work). Both run on the
same synthetic pool (bench/synthetic.py: Gaussian embeddings, softmax of 2×Gaussian logits, 100
labeled), float64, λ = 1, oversample 2, in fresh subprocesses, before and after alternating
--repeats times (the machine is shared: alternating spreads its load over both); the median is
printed. A row prints set-up seconds, forward ms per step (the first forward step solves every
candidate's gain, for Selection.scores), total seconds, the ratio before/after of each, whether the
picks and pruned points are identical, and the share of candidate gains solved by the engine
(params["gain_solves"] / params["gain_rows"]). The load (uptime) is printed before and after.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = [(3000, 32, 100, 5), (10000, 128, 10, 100)]
N_LABELED = 100


def _load_before(path: str):
    spec = importlib.util.spec_from_file_location("bait_before", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.bait_select


def worker(cfg: dict) -> dict:
    """One selection in this fresh process; prints timings, picks and the gain counts."""
    import torch

    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    from synthetic import synthetic_pool

    if cfg["threads"]:
        torch.set_num_threads(cfg["threads"])
    if cfg["engine"] == "after":
        from bait_core import bait_select
    else:
        bait_select = _load_before(cfg["before_path"])
    h, p, labeled = synthetic_pool(cfg["N"], cfg["d"], cfg["K"], N_LABELED)
    kw = {"threads": cfg["threads"]} if cfg["threads"] and cfg["engine"] == "after" else {}   # today's policy would pick its own
    sel = bait_select(h, p, labeled, cfg["B"], **kw)
    t = sel.timings
    return {"setup": t["setup"], "forward_ms": 1000 * t["forward"] / max(1, sel.n_forward),
            "backward": t["backward"], "total": t["total"], "indices": sel.indices.tolist(),
            "pruned": sel.pruned.tolist(), "gain_solves": sel.params.get("gain_solves"),
            "gain_rows": sel.params.get("gain_rows")}


def _run(cfg: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)], capture_output=True,
                          text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"worker failed: {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--before", default="637dcd5", help="git commit of the 'before' engine (default 637dcd5)")
    ap.add_argument("--only", help="one configuration N,d,K,B")
    ap.add_argument("--repeats", type=int, default=1, help="alternating before/after runs per row (median)")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads of both engines (torch's setting, and threads= for today's, whose thread policy "
                         "would otherwise choose its own); 0: torch's default for before, the policy for today's")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    configs = [tuple(int(x) for x in args.only.split(","))] if args.only else CONFIGS
    src = subprocess.run(["git", "show", f"{args.before}:bait_core/selection/bait.py"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        before_path = os.path.join(tmp, "bait_before.py")
        with open(before_path, "w") as f:
            f.write(src)
        print(f"# bench_many_classes: before = {args.before}, after = working tree; float64; "
              f"{N_LABELED} labeled; threads = {args.threads or 'torch default'}; {os.cpu_count()} CPUs")
        print(f"# load before: {_uptime()}\n")
        print("| N | d | K | B | set-up s before → after | forward ms/step before → after | "
              "total s before → after | total speed-up | same picks | gains solved |")
        print("|---:|---:|---:|---:|---|---|---|---:|:---:|---:|")
        bad = 0
        for (N, d, K, B) in configs:
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for _ in range(args.repeats):
                for engine in ("before", "after"):
                    runs[engine].append(_run({"N": N, "d": d, "K": K, "B": B, "engine": engine,
                                              "before_path": before_path, "threads": args.threads}))
            med = {e: {k: statistics.median(r[k] for r in rs) for k in ("setup", "forward_ms", "total")}
                   for e, rs in runs.items()}
            same = all(r["indices"] == runs["before"][0]["indices"] and r["pruned"] == runs["before"][0]["pruned"]
                       for rs in runs.values() for r in rs)
            bad += not same
            a, b = runs["after"][0], med
            share = f"{a['gain_solves']:,} / {a['gain_rows']:,}" if a.get("gain_rows") else "–"
            print(f"| {N:,} | {d} | {K} | {B} | {b['before']['setup']:.1f} → {b['after']['setup']:.1f} "
                  f"({b['before']['setup'] / b['after']['setup']:.1f}×) | "
                  f"{b['before']['forward_ms']:,.0f} → {b['after']['forward_ms']:,.0f} "
                  f"({b['before']['forward_ms'] / b['after']['forward_ms']:.1f}×) | "
                  f"{b['before']['total']:.1f} → {b['after']['total']:.1f} | "
                  f"**{b['before']['total'] / b['after']['total']:.2f}×** | {'yes' if same else '**NO**'} | "
                  f"{share} |", flush=True)
        print(f"\n# load after: {_uptime()}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
