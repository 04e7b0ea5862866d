"""Every built-in dataset × built-in model: the time of one active-learning round (issue 12, part 6).

    .venv/bin/python bench/bench_rounds.py                          # every dataset × model, rounds 0 and 1
    .venv/bin/python bench/bench_rounds.py --datasets mnist --models linear cnn
    .venv/bin/python bench/bench_rounds.py --strategy random --rounds 3 --path cli

Each row is one round (train + pool/test outputs + select) with the app's and CLI's default settings:
`RunConfig()` (strategy bait, batch 10, 20 initial labels, λ 1, oversampling 2, preset "quick", seed 0,
device auto), the Setup page's defaults (it starts from `RunConfig()`) and each built-in dataset's
default options (`BUILTIN_DEFAULTS`). The model is built as the app builds it (`build_run`); the
memory check is skipped so that a refused run still gets a row. `--path app` (default) runs each round
as the app's round job does (`Explorer.step` inside `single_cpu_thread(N ≤ SINGLE_THREAD_POOL, pin=False)`:
training and outputs on one thread, the selection by its thread policy);
`--path cli` as `run_rounds` does (torch's default threads outside the library's own small-work rules).
The process first pays torch's one-off first-call costs with `warm_compute()`, as the app does at start.

Columns: N pool points, d embedding size, K classes (1 for regression), n labels trained on, train /
outputs / select / total seconds (the round's own `times`), wall seconds of the whole round call (what
the user waits for: the total plus the round's bookkeeping), epochs trained, and the selection's set-up
(BAIT: dense or low-rank; "-" for strategies without one) with the selection's own set-up / forward /
backward seconds. Rows whose total exceeds --goal seconds (default 5) are flagged, and the summary says
by how much each one's selection exceeds the time train and outputs leave it. Offline: the built-ins are shipped or generated. The load average is printed
before and after (timings are only comparable on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from bait_core.common.threads import single_cpu_thread  # noqa: E402
from bait_core.learning.build import build_run  # noqa: E402
from bait_core.learning.data.builtin import BUILTIN_DATASETS, load_builtin  # noqa: E402
from bait_core.learning.loop import run_rounds  # noqa: E402
from bait_core.learning.models import MODEL_NAMES  # noqa: E402
from bait_core.records.run_record import RunConfig  # noqa: E402
from bait_core.service.explorer import SINGLE_THREAD_POOL, Explorer  # noqa: E402
from bait_core.service.warmup import warm_compute  # noqa: E402


def load_text() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPU(s)"


def models_for(dataset, wanted: list[str]) -> list[str]:
    """The built-in models that fit the dataset's rows (cnn needs (C, H, W) images)."""
    return [m for m in wanted if m != "cnn" or len(dataset.input_shape) == 3]


def rounds_app(config: RunConfig, rounds: int):
    """The app's path: Explorer.step per round, on one thread for pools up to SINGLE_THREAD_POOL."""
    built = build_run(config, check_memory=False)
    ex = Explorer.start(built.dataset, built.model, config)
    for _ in range(rounds):
        t0 = time.perf_counter()
        with single_cpu_thread(built.dataset.X.shape[0] <= SINGLE_THREAD_POOL, pin=False):
            result = ex.step()
        yield built, result, time.perf_counter() - t0


def rounds_cli(config: RunConfig, rounds: int):
    """The CLI's path: run_rounds (what `bait run` iterates)."""
    built = build_run(config, check_memory=False)
    t0 = time.perf_counter()
    for result in run_rounds(built.dataset, built.model, config):
        if result.round >= rounds:
            return
        yield built, result, time.perf_counter() - t0
        t0 = time.perf_counter()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=list(BUILTIN_DATASETS), choices=list(BUILTIN_DATASETS))
    ap.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=list(MODEL_NAMES))
    ap.add_argument("--strategy", default="bait")
    ap.add_argument("--rounds", type=int, default=2, help="rounds per run, from round 0 (default 2: rounds 0 and 1)")
    ap.add_argument("--path", choices=("app", "cli"), default="app")
    ap.add_argument("--goal", type=float, default=5.0, help="seconds a round should stay under (flagged above)")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")

    print(f"torch {torch.__version__}, torch threads {torch.get_num_threads()}, path {args.path}, "
          f"strategy {args.strategy}; {load_text()}")
    print(f"warm-up (warm_compute, as the app does at start): {warm_compute():.2f} s\n")
    print("| dataset | model | round | N | d | K | n | train s | epochs | outputs s | select s | total s | wall s | set-up | select parts s | ≤ goal |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    over = []
    for name in args.datasets:
        ds = load_builtin(name, seed=0)
        for model in models_for(ds, args.models):
            config = replace(RunConfig(), data=f"builtin:{name}", model=model, strategy=args.strategy,
                             rounds=max(args.rounds, RunConfig().rounds))
            walk = rounds_app if args.path == "app" else rounds_cli
            try:
                for built, res, wall in walk(config, args.rounds):
                    N = built.dataset.X.shape[0]
                    d = int(getattr(built.model, "embedding_dim", 0))
                    K = len(built.dataset.classes) if built.dataset.task == "classification" else 1
                    t = res.times
                    total = t["train"] + t["outputs"] + t["select"]
                    sel = res.selection
                    setup = sel.params.get("setup", "-") if sel is not None else "-"
                    parts = "/".join(f"{sel.timings[k]:.2f}" for k in ("setup", "forward", "backward")
                                     if k in sel.timings) if sel is not None and sel.timings else ""
                    ok = total <= args.goal
                    if not ok:
                        budget = args.goal - t["train"] - t["outputs"]
                        over.append(f"{name}/{model} round {res.round}: {total:.1f} s; select {t['select']:.1f} s "
                                    + (f"against the {budget:.1f} s left for it (over by {t['select'] - budget:.1f} s, "
                                       f"{t['select'] / budget:.1f}×)" if budget > 0 else
                                       "(train and outputs alone exceed the goal)") + f", {setup} set-up")
                    print(f"| {name} | {model} | {res.round} | {N} | {d} | {K} | {res.n_labeled} | {t['train']:.2f} | "
                          f"{res.train_epochs} | {t['outputs']:.2f} | {t['select']:.2f} | {total:.2f} | {wall:.2f} | {setup} | "
                          f"{parts} | {'yes' if ok else 'NO'} |", flush=True)
            except (ValueError, MemoryError, RuntimeError) as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                over.append(f"{name}/{model}: failed ({first[:120]})")
                print(f"| {name} | {model} | - | | | | | | | | | | | failed: {first[:80]} | NO |", flush=True)
    print(f"\n{load_text()}")
    print(f"rows over {args.goal:g} s: {len(over)}" + "".join(f"\n  {line}" for line in over))


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"bench wall time {time.perf_counter() - t0:.1f} s")
