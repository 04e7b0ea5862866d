"""A comparison's runs on each executor: sequential vs worker processes vs a local Ray instance.

    .venv/bin/python bench/bench_compare_executors.py            # 4 strategies × 4 seeds × 5 rounds on digits
    .venv/bin/python bench/bench_compare_executors.py --executors sequential,processes --seeds 2

Runs the same comparison (bait_core.service.executors.execute_comparison: digits, mlp, quick training
preset, batch 10, 20 initial labels) once per executor, with `--workers` runs at a time for processes
and ray (default: the usable cores, one CPU thread each), and prints per executor the wall time from
the call to the last record (pool start-up, or Ray start-up and shut-down, included), the sum of the
runs' own wall and CPU times (the CPU time shows a run's cost whatever else the machine does), and
the machine's 1-minute load before each (os.getloadavg, as `uptime`: other processes take cores from
the workers). `--repeat` passes (default 2), each in a rotated order, so that no executor always meets
the same neighbours; a summary gives each executor's fastest pass and its speed-up over sequential's.
Checks that every executor gives the sequential records (picks and metrics per round). Writes the
tables to --out (default bench/results/compare_executors_cpu.md) too.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bait_core.common.threads import usable_cores  # noqa: E402
from bait_core.learning.compare import ComparePlan  # noqa: E402
from bait_core.learning.data import load_builtin  # noqa: E402
from bait_core.learning.models import build_model  # noqa: E402
from bait_core.records.run_record import RunConfig  # noqa: E402
from bait_core.service.executors import check_executor, execute_comparison  # noqa: E402


def _load(seed: int):
    return load_builtin("digits", seed=seed)


def _build(ds, seed: int):
    return build_model("mlp", ds.input_shape, len(ds.classes), seed=seed)


def _rounds(record) -> list:
    return [(np.flatnonzero(r.labeled_before).tolist(),
             None if r.selection is None else np.asarray(r.selection.indices).tolist(), r.metric) for r in record.rounds]


def _load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--strategies", default="bait,badge,margin,random")
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--executors", default="sequential,processes,ray")
    ap.add_argument("--workers", type=int, default=None, help="runs at a time (default: the usable cores)")
    ap.add_argument("--repeat", type=int, default=2, help="passes over the executors, each in a rotated order "
                                                           "(default 2); the summary takes each one's fastest")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "compare_executors_cpu.md"))
    args = ap.parse_args()
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    names = [e.strip() for e in args.executors.split(",") if e.strip()]
    plan = ComparePlan(base=RunConfig(data="builtin:digits", model="mlp", strategy=strategies[0], rounds=args.rounds,
                                      batch_size=10, initial=20, device="cpu", preset="quick"),
                       strategies=strategies, seeds=tuple(range(args.seeds)))
    n = len(plan.runs())
    lines = [f"{len(strategies)} strategies ({', '.join(strategies)}) × {args.seeds} seeds × {args.rounds} rounds on "
             f"digits (mlp, quick preset, batch 10, 20 initial labels): {n} runs; {usable_cores()} usable cores, "
             f"{platform.processor() or platform.machine()}, Python {platform.python_version()}", "",
             "| pass | executor | set-up | load before (1 min) | wall s | runs' wall s (sum) | runs' CPU s (sum) "
             "| same records |",
             "|---:|---|---|---:|---:|---:|---:|---|"]
    print("\n".join(lines), flush=True)
    reference, best = None, {}
    for rep in range(args.repeat):
        order = names[rep % len(names):] + names[:rep % len(names)]
        for name in order:
            setup = check_executor(name, workers=None if name == "sequential" else args.workers, n_runs=n)
            load = os.getloadavg()[0]
            t0 = time.perf_counter()
            outs = list(execute_comparison(plan, _load, _build, setup))
            wall = time.perf_counter() - t0
            bad = [o.error for o in outs if not o.ok]
            if bad:
                raise SystemExit(f"{name}: {bad[0]}")
            got = {(o.strategy, o.seed): _rounds(o.record) for o in outs}
            reference = reference or got
            best[name] = min(best.get(name, (float("inf"),)), (wall, setup.describe().split(": ", 1)[1], load))
            row = (f"| {rep + 1} | {name} | {setup.describe().split(': ', 1)[1]} | {load:.2f} | {wall:.1f} | "
                   f"{sum(o.seconds for o in outs):.1f} | {sum(o.cpu_seconds for o in outs):.1f} | "
                   f"{'yes' if got == reference else 'NO'} |")
            lines.append(row)
            print(row, flush=True)
    seq = best.get("sequential", (None,))[0]
    lines += ["", "Fastest pass of each:", "", "| executor | set-up | wall s | speed-up vs sequential | load before |",
              "|---|---|---:|---:|---:|"]
    for name in names:
        wall, how, load = best[name]
        lines.append(f"| {name} | {how} | {wall:.1f} | {'' if seq is None else f'{seq / wall:.2f}×'} | {load:.2f} |")
    lines += ["", f"load after: {_load_line()}",
              f"command: nice -n 15 .venv/bin/python bench/bench_compare_executors.py {' '.join(sys.argv[1:])}".rstrip()]
    print("\n".join(lines[-(len(names) + 7):]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
