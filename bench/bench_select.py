"""Exact BAIT engine vs the original per-step recomputation: speed, picks and peak memory.

    .venv/bin/python bench/bench_select.py                 # the default CPU grid (~15 min on 2 cores)
    .venv/bin/python bench/bench_select.py --grid quick    # a 1-minute smoke run
    .venv/bin/python bench/bench_select.py --grid full --device cuda   # N × d × K × B on a GPU

Both sides get the same random inputs (Gaussian embeddings, softmax of Gaussian logits, 100
labeled points) and compute in float64 on the same device. The reference is tests/bait_reference.py,
a direct re-expression of the original code (N×K×D candidate tensor, every candidate's K×K blocks
recomputed from scratch at every greedy step, ≈ 4·N·K·D² multiply-adds per step).

* Where the whole reference run is predicted to take under --full-ref-seconds, it runs to the end
  and the picks are compared index for index ("same picks": yes/NO).
* Otherwise the reference is *extrapolated*: its set-up and 2 forward steps are timed on the whole
  pool, or, when the N×K×D tensor would not fit in --ref-memory-gb, on a random subsample of the
  pool; set-up and per-step cost are linear in N, so both are scaled by N / subsample; a backward
  step is costed as a forward step over the ≤ 2B remaining members. Marked "extrap." in the table.
* Engine memory: peak resident memory of a fresh process running the engine, minus its resident
  memory just before the call (inputs, torch and libraries excluded); on CUDA,
  torch.cuda.max_memory_allocated. It is compared with the N×K×D candidate tensor the original
  code builds (float32, as the original stores it).
Each configuration runs in its own subprocess so that peak memory is per configuration.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
N_LABELED = 100

GRIDS = {
    "quick": [(2000, 64, 10, 10), (10000, 128, 10, 100)],
    "cpu": [
        (2000, 64, 10, 10), (2000, 64, 10, 100), (2000, 64, 100, 10),
        (10000, 128, 10, 10), (10000, 128, 10, 100), (10000, 128, 10, 1000),
        (10000, 64, 100, 10), (2000, 64, 100, 100),
        (50000, 64, 10, 100), (50000, 512, 10, 10), (50000, 512, 10, 100),
    ],
    "full": [(N, d, K, B) for N in (2000, 10000, 50000) for d in (64, 128, 512)
             for K in (10, 100) for B in (10, 100, 1000)],
}


def make_inputs(N, d, K, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, d)).astype(np.float32)
    logits = rng.normal(size=(N, K)) * 2.0
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    labeled = np.zeros(N, dtype=bool)
    labeled[rng.choice(N, size=N_LABELED, replace=False)] = True
    return h, p.astype(np.float32), labeled


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    try:                                     # Linux ≥ 4.0: writing 5 resets VmHWM to VmRSS
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def worker(cfg: dict) -> dict:
    """Runs in a fresh process: the engine, then (maybe) the reference, on one configuration."""
    import numpy as np
    import torch

    sys.path.insert(0, str(ROOT))
    from bait_core import bait_select
    from bait_core.selection.estimate import estimate
    from tests.bait_reference import reference_select

    N, d, K, B, device = cfg["N"], cfg["d"], cfg["K"], cfg["B"], cfg["device"]
    h, p, labeled = make_inputs(N, d, K)
    dev = torch.device(device)
    ht, pt = torch.as_tensor(h, device=dev), torch.as_tensor(p, device=dev)
    out: dict = dict(cfg)
    D = K * d
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated() / 2**20
    else:
        _reset_peak_rss()
        base = _rss_mb("VmRSS")
    est = estimate("bait", N, d, K, B, int(labeled.sum()), device=device)   # before any allocation
    out["estimate_mb"], out["estimate_s"] = est.bytes / 2**20, est.seconds
    sel = bait_select(ht, pt, labeled, B)
    out["setup"] = sel.params["setup"]
    if dev.type == "cuda":
        torch.cuda.synchronize()
        out["engine_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20 - base
    else:
        out["engine_peak_mb"] = _rss_mb("VmHWM") - base
    out["engine_s"] = sel.timings["total"]
    out["engine_setup_s"] = sel.timings["setup"]
    steps = sel.n_forward + sel.pruned.size
    out["engine_ms_per_step"] = 1000 * (sel.timings["forward"] + sel.timings["backward"]) / max(1, steps)
    out["ref_tensor_gb"] = N * K * D * 4 / 2**30              # the original's float32 N×K×D tensor
    T = sel.n_forward

    if cfg["reference"] == "full":
        tm: dict = {}
        t0 = time.perf_counter()
        idx, pruned, obj = reference_select(h, p, labeled, B, timings=tm)
        out["ref_s"] = time.perf_counter() - t0
        out["ref_mode"] = "measured"
        out["same_picks"] = bool(np.array_equal(idx, sel.indices) and np.array_equal(pruned, sel.pruned))
        out["objective_rel_err"] = float(np.max(np.abs(obj - sel.objective)) / abs(obj[0]))
    elif cfg["reference"] == "extrapolate":
        sub = cfg["ref_subsample"]
        rng = np.random.default_rng(1)
        rows = np.sort(rng.choice(N, size=sub, replace=False)) if sub < N else np.arange(N)
        lab_sub = labeled[rows]
        tm = {}
        reference_select(h[rows], p[rows], lab_sub, min(B, int((~lab_sub).sum())),
                         max_forward_steps=2, timings=tm)
        scale = N / len(rows)
        setup = tm["setup"] * scale
        fwd_step = min(tm["forward_steps"]) * (N - N_LABELED) / max(1, int((~lab_sub).sum()))
        # a backward step is the same computation over the current members (2B down to B+1)
        per_candidate = fwd_step / (N - N_LABELED)
        bwd = sum(per_candidate * m for m in range(B + 1, T + 1))
        out["ref_s"] = setup + T * fwd_step + bwd
        out["ref_mode"] = f"extrap. (set-up + 2 steps on {len(rows)} of {N} points)"
        out["ref_s_per_step"] = fwd_step
        out["same_picks"] = None
    out["speedup"] = out["ref_s"] / out["engine_s"] if "ref_s" in out else None
    out["memory_ratio"] = out["ref_tensor_gb"] * 1024 / out["engine_peak_mb"]
    return out


def plan(N, d, K, B, device, full_ref_seconds, ref_memory_gb):
    """Whether to run the reference fully, extrapolate it, or skip the configuration."""
    D = K * d
    n_unl = N - N_LABELED
    if B > n_unl:
        return None, "B larger than the pool"
    bytes_dd = D * D * 8
    if 4 * bytes_dd > (18 if device == "cpu" else 60) * 2**30:
        return None, f"D×D float64 matrices ({bytes_dd / 2**30:.0f} GB each) do not fit"
    # reference cost model: 4·N·K·D² multiply-adds per forward step, ~60 GFLOP/s float64 on CPU
    rate = 60e9 if device == "cpu" else 20e12
    T = min(2 * B, n_unl)
    ref_pred = (2 * N * K * D * D + T * 8 * n_unl * K * D * D + (T - B) * 8 * 1.5 * B * K * D * D) / rate
    xt_gb = N * K * D * 8 / 2**30
    if ref_pred <= full_ref_seconds and xt_gb <= ref_memory_gb:
        return {"reference": "full"}, None
    sub = N if xt_gb <= ref_memory_gb else max(50, int(N * ref_memory_gb / xt_gb))
    sub = max(sub, min(N, N_LABELED + B + 50))
    return {"reference": "extrapolate", "ref_subsample": min(sub, N)}, None


def fmt_row(r: dict) -> str:
    same = {True: "yes", False: "**NO**", None: "–"}[r.get("same_picks")]
    mode = "measured" if r.get("ref_mode") == "measured" else "extrap."
    return (f"| {r['N']:,} | {r['d']} | {r['K']} | {r['B']} | {r['engine_s']:.2f} "
            f"({r['engine_setup_s']:.1f} + {r['engine_ms_per_step']:.1f} ms/step) | "
            f"{r['ref_s']:,.0f} {mode} | **{r['speedup']:,.0f}×** | {same} | "
            f"{r['engine_peak_mb']:,.0f} | {r['estimate_mb']:,.0f} MB, {r['estimate_s']:,.1f} s | "
            f"{r['ref_tensor_gb']:.2f} | {r['memory_ratio']:.0f}× |")


HEADER = ("| N | d | K | B | engine s (set-up + per step) | reference s | speed-up | same picks | "
          "engine peak MB | estimator's prediction | original N×K×D tensor GB (f32) | tensor / engine peak |\n"
          "|---:|---:|---:|---:|---|---:|---:|:---:|---:|---:|---:|---:|")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--grid", choices=sorted(GRIDS), default="cpu")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--full-ref-seconds", type=float, default=120.0,
                    help="run the reference to the end when predicted under this (default 120)")
    ap.add_argument("--ref-memory-gb", type=float, default=1.5,
                    help="largest N×K×D float64 reference tensor to build (default 1.5)")
    ap.add_argument("--only", help="run one configuration N,d,K,B")
    ap.add_argument("--json", help="also write every row as JSON lines here")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    configs = GRIDS[args.grid]
    if args.only:
        configs = [tuple(int(x) for x in args.only.split(","))]
    import torch
    dev_name = (torch.cuda.get_device_name(0) if args.device.startswith("cuda")
                else f"CPU, {os.cpu_count()} cores, torch {torch.__version__}")
    print(f"# bench_select on {dev_name}; float64; {N_LABELED} labeled; λ=1, oversample=2; "
          f"load average {os.getloadavg()[0]:.2f} at the start\n")
    print(HEADER, flush=True)
    rows, skipped = [], []
    for (N, d, K, B) in configs:
        mode, why = plan(N, d, K, B, args.device, args.full_ref_seconds, args.ref_memory_gb)
        if mode is None:
            skipped.append(f"N={N} d={d} K={K} B={B}: {why}")
            continue
        cfg = {"N": N, "d": d, "K": K, "B": B, "device": args.device, **mode}
        proc = subprocess.run([sys.executable, __file__, "--worker", json.dumps(cfg)],
                              capture_output=True, text=True, cwd=ROOT)
        if proc.returncode != 0:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            skipped.append(f"N={N} d={d} K={K} B={B}: failed ({tail})")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(fmt_row(r), flush=True)
        if args.json:
            with open(args.json, "a") as f:
                f.write(json.dumps(r) + "\n")
    for s in skipped:
        print(f"skipped: {s}")
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end. extrap.: the reference's set-up and 2 greedy steps were timed (on a subsample of the pool "
          "where its N×K×D tensor would not fit) and scaled linearly in N and in the number of steps.")
    bad = [r for r in rows if r.get("same_picks") is False]
    if bad:
        print(f"\n{len(bad)} configuration(s) picked differently from the reference!")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
