"""Label efficiency: BAIT against BADGE, margin, entropy and random on the built-in classification sets.

    .venv/bin/python bench/bench_label_efficiency.py                       # digits and mnist1d, 3 seeds
    .venv/bin/python bench/bench_label_efficiency.py --datasets digits --seeds 1 --rounds 3   # smoke run

For each dataset and seed, every strategy starts from the same seeded initial labeled set and the
same initial weights (the `mlp` of the paper: one hidden layer of 128), trains with the `quick`
preset, and picks --batch-size points per round for --rounds rounds (the same loop as
`python -m bait_core compare`). The learning-curve AUC is the area under test accuracy against
number of labels, divided by the label range: the mean accuracy over the label budget.
Prints a markdown table (mean ± std over seeds) and writes one Plotly learning-curve figure per
dataset (HTML) plus every run record under --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bait_core.learning.data import load_builtin  # noqa: E402
from bait_core.records.run_record import RunConfig
from bait_core.learning.loop import run  # noqa: E402
from bait_core.viz.plots import auc_table, learning_curves  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="digits,mnist1d")
    ap.add_argument("--strategies", default="bait,badge,margin,entropy,random")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=10)
    ap.add_argument("--initial", type=int, default=20)
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "label_efficiency"))
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    strategies = [s for s in args.strategies.split(",") if s]
    print(f"# Label efficiency: {args.model}, preset {args.preset}, {args.initial} initial labels, "
          f"{args.rounds} rounds of {args.batch_size}, {args.seeds} seed(s)\n")
    for name in [d for d in args.datasets.split(",") if d]:
        records = []
        t0 = time.perf_counter()
        for seed in range(args.seeds):
            dataset = load_builtin(name, seed=seed)
            for strategy in strategies:
                cfg = RunConfig(data=f"builtin:{name}", model=args.model, strategy=strategy, rounds=args.rounds,
                                batch_size=args.batch_size, initial=args.initial, seed=seed, preset=args.preset,
                                device="cpu")
                rec = run(cfg, dataset=dataset)
                rec.save(out / f"{name}_{strategy}_seed{seed}.json")
                records.append(rec)
                print(f"  {name} {strategy:>8} seed {seed}: AUC {rec.auc():.4f}, final {rec.rounds[-1].metric:.4f}",
                      file=sys.stderr, flush=True)
        fig = learning_curves(records, title=f"{name}: test accuracy vs labels ({args.seeds} seeds, mean ± std)")
        fig.write_html(out / f"{name}_curves.html", include_plotlyjs=True)
        n0, n1 = records[0].rounds[0].n_labeled, records[0].rounds[-1].n_labeled
        print(f"## {name} ({n0}→{n1} labels, {time.perf_counter() - t0:.0f} s)\n")
        print("| strategy | AUC (mean ± std) | final accuracy (mean) |\n|---|---:|---:|")
        for row in auc_table(records):
            print(f"| {row['strategy']} | {row['auc_mean']:.4f} ± {row['auc_std']:.4f} | {row['final_mean']:.4f} |")
        print(f"\nfigure: {out / (name + '_curves.html')}\n", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
