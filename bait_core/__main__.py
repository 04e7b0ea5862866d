"""Command line: ``python -m bait_core <command> ...``.

    python -m bait_core select --embeddings E.npy [--probs P.npy] [--labeled L.npy] --batch-size B
                               [--strategy bait] [--lamb 1.0] [--oversample 2.0] [--seed 0]
                               [--device cpu] [--dtype float64] [--out OUT.json]

Prints the selection as JSON (Selection.to_dict()) on stdout, or writes it to --out and prints a
one-line summary on stderr. Any bad input (missing or unreadable file, not a .npy array, pickled
object array, wrong shape or values, bad option) exits with status 2 and a single line
``error: <message>`` on stderr, no traceback.

New subcommands: write ``_add_<name>(subparsers)`` that registers a parser with
``set_defaults(func=_cmd_<name>)``, and call it in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence

import numpy as np

_PROG = "python -m bait_core"
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGIC = b"PK\x03\x04"


class CliError(Exception):
    """A user-facing error: printed as one line ``error: <message>``, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors become CliError (one line, no usage dump)."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see `{self.prog} --help`)")


# ----------------------------------------------------------------------------- helpers

def load_npy(path: str, what: str) -> np.ndarray:
    """One numeric-or-bool array from a .npy file, never unpickling; CliError otherwise."""
    p = Path(path)
    if not p.exists():
        raise CliError(f"{what} file not found: {path}")
    if not p.is_file():
        raise CliError(f"{what} path is not a file: {path}")
    try:
        with open(p, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
    except OSError as e:
        raise CliError(f"cannot read {what} file {path}: {e.strerror or e}") from None
    if magic.startswith(_ZIP_MAGIC):
        raise CliError(f"{what} file {path} is a .npz archive; save one array with np.save (.npy).")
    if magic != _NPY_MAGIC:
        raise CliError(f"{what} file {path} is not a .npy file (no NumPy header); save it with np.save.")
    try:
        a = np.load(p, allow_pickle=False)
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise CliError(f"{what} file {path} holds a Python object (pickled) array, which is never "
                           "loaded; save a numeric array instead.") from None
        raise CliError(f"cannot read {what} file {path} as a .npy array: {e}") from None
    except (OSError, EOFError) as e:
        raise CliError(f"cannot read {what} file {path} as a .npy array: {e}") from None
    if not isinstance(a, np.ndarray):
        raise CliError(f"{what} file {path} does not hold a single array.")
    return a


def _torch_options(device: Optional[str], dtype: str) -> dict:
    """device/dtype keyword arguments for a strategy, checked here so errors stay one line."""
    import torch

    out: dict = {"dtype": {"float32": torch.float32, "float64": torch.float64}[dtype]}
    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError):
            raise CliError(f"--device {device!r} is not a torch device (e.g. cpu, cuda, cuda:1).") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise CliError(f"--device {device}: CUDA is not available on this machine.")
        out["device"] = dev
    return out


# ----------------------------------------------------------------------------- select

def _add_select(sub: Any) -> None:
    from .strategies import STRATEGIES

    p = sub.add_parser(
        "select", help="pick a batch of pool points to label",
        description="Pick --batch-size unlabeled pool points with one acquisition strategy and "
                    "print the selection as JSON.")
    p.add_argument("--embeddings", required=True, metavar="E.npy",
                   help="(N, d) float array: penultimate-layer embeddings of the whole pool")
    p.add_argument("--probs", metavar="P.npy",
                   help="(N, K) softmax probabilities; omit for a regression head")
    p.add_argument("--labeled", metavar="L.npy",
                   help="bool mask (N,) or int indices of the labeled points; omit if none")
    p.add_argument("--batch-size", required=True, type=int, metavar="B",
                   help="number of points to pick")
    p.add_argument("--strategy", default="bait",
                   help=f"one of: {', '.join(STRATEGIES)} (default: bait)")
    p.add_argument("--lamb", type=float, default=None,
                   help="BAIT only: ridge lambda (bait's default 1.0); an error with other strategies")
    p.add_argument("--oversample", type=float, default=None,
                   help="BAIT only: forward pass picks ceil(oversample*B) points (bait's default 2.0)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None,
                   help="torch device to compute on, e.g. cuda (default: cpu)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="compute precision (default float64)")
    p.add_argument("--out", metavar="OUT.json",
                   help="write the JSON here (a summary goes to stderr) instead of stdout")
    p.set_defaults(func=_cmd_select)


def _cmd_select(args: argparse.Namespace) -> int:
    from .strategies import get_strategy

    fn = get_strategy(args.strategy)                      # ValueError listing known names
    options: dict = {}
    for flag, value in (("lamb", args.lamb), ("oversample", args.oversample)):
        if value is None:
            continue
        if args.strategy != "bait":
            raise CliError(f"--{flag} applies only to --strategy bait, not '{args.strategy}'.")
        options[flag] = value
    options.update(_torch_options(args.device, args.dtype))
    emb = load_npy(args.embeddings, "embeddings")
    probs = load_npy(args.probs, "probs") if args.probs is not None else None
    labeled = load_npy(args.labeled, "labeled") if args.labeled is not None else None

    sel = fn(emb, probs, labeled, args.batch_size, seed=args.seed, **options)
    doc = sel.to_dict()
    text = json.dumps(doc, allow_nan=False)
    if args.out is None:
        sys.stdout.write(text + "\n")
    else:
        try:
            Path(args.out).write_text(text + "\n")
        except OSError as e:
            raise CliError(f"cannot write {args.out}: {e.strerror or e}") from None
        n_unlabeled = int(emb.shape[0]) - int(sel.params.get("n_labeled", 0))
        print(f"{sel.strategy}: picked {sel.batch_size} of {n_unlabeled} unlabeled points in "
              f"{sel.timings.get('total', float('nan')):.3f} s -> {args.out}", file=sys.stderr)
    return 0


# ----------------------------------------------------------------------------- run / compare

class _Bar:
    """A one-line terminal progress bar on stderr (no dependency)."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total, self.t0 = label, max(1, total), time.perf_counter()
        self.tty = sys.stderr.isatty()

    def update(self, done: int, extra: str = "") -> None:
        frac = min(1.0, done / self.total)
        bar = "#" * int(30 * frac) + "-" * (30 - int(30 * frac))
        line = f"{self.label} [{bar}] {done}/{self.total} {time.perf_counter() - self.t0:6.1f}s {extra}"
        if self.tty:
            sys.stderr.write("\r" + line[:120].ljust(120))
            sys.stderr.flush()
        elif done >= self.total:
            sys.stderr.write(line + "\n")

    def close(self) -> None:
        if self.tty:
            sys.stderr.write("\n")


def _add_run_options(p: Any, *, single: bool) -> None:
    p.add_argument("--data", required=True, metavar="builtin:NAME|PATH",
                   help="a built-in dataset (builtin:digits, builtin:mnist1d, builtin:moons, ...) or a file")
    p.add_argument("--label-column", help="label column of a table file (default: label/target/class/y or the last)")
    p.add_argument("--model", default="mlp", help="linear, mlp, cnn, or a .pt2 program / weights file")
    if single:
        p.add_argument("--strategy", default="bait", help="acquisition strategy (default: bait)")
    p.add_argument("--rounds", type=int, default=10, help="acquisition rounds (default 10)")
    p.add_argument("--batch-size", type=int, default=10, help="points picked per round (default 10)")
    p.add_argument("--initial", type=int, default=20, help="initial random labeled points (default 20)")
    p.add_argument("--preset", default="quick", help="training preset: quick or paper (default quick)")
    p.add_argument("--lamb", type=float, default=1.0, help="BAIT's lambda (default 1.0)")
    p.add_argument("--oversample", type=float, default=2.0, help="BAIT's oversampling (default 2.0)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


def _config(args: argparse.Namespace, strategy: str, seed: int) -> Any:
    from .loop import RunConfig
    return RunConfig(data=args.data, model=args.model, strategy=strategy, rounds=args.rounds,
                     batch_size=args.batch_size, initial=args.initial, seed=seed, lamb=args.lamb,
                     oversample=args.oversample, preset=args.preset, device=args.device,
                     label_column=args.label_column)


def _load_data(args: argparse.Namespace, seed: int) -> Any:
    from .data import load_dataset
    kw = {"label_column": args.label_column} if args.label_column else {}
    if not args.data.startswith("builtin:") and not Path(args.data).is_file():
        raise CliError(f"data file not found: {args.data}")
    return load_dataset(args.data, seed=seed, **kw)


def _run_one(args: argparse.Namespace, strategy: str, seed: int, label: str, dataset: Any = None) -> Any:
    from .loop import run
    config = _config(args, strategy, seed)
    if dataset is None:
        dataset = _load_data(args, seed)
    if config.model not in ("linear", "mlp", "cnn") and not Path(config.model).is_file():
        raise CliError(f"model file not found: {config.model} (or use linear, mlp, cnn)")
    bar = _Bar(label, config.rounds + 1)
    try:
        record = run(config, dataset=dataset,
                     progress=lambda stage, done, total, info: bar.update(done, f"{stage} {'' if info is None else f'{info:.3f}'}")
                     if stage == "round" else None)
    finally:
        bar.close()
    return record


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run an active-learning loop and save its record",
                       description="Train, select and reveal labels for --rounds rounds; write the run record (JSON).")
    _add_run_options(p, single=True)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="RUN.json", help="write the run record here")
    p.add_argument("--metrics-csv", metavar="METRICS.csv", help="also write per-round metrics as CSV")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    record = _run_one(args, args.strategy, args.seed, f"{args.strategy} seed {args.seed}")
    if args.out:
        record.save(args.out)
    if args.metrics_csv:
        Path(args.metrics_csv).write_text(record.metrics_csv())
    print(f"{'round':>5} {'labels':>6} {record.rounds[0].metric_name:>9} {'train s':>8} {'outputs s':>9} {'select s':>8}")
    for r in record.rounds:
        print(f"{r.round:>5} {r.n_labeled:>6} {r.metric:>9.4f} {r.times['train']:>8.3f} "
              f"{r.times['outputs']:>9.3f} {r.times['select']:>8.3f}")
    print(f"device: {record.rounds[0].device}; learning-curve AUC {record.auc():.4f}"
          + (f"; record: {args.out}" if args.out else ""))
    return 0


def _add_compare(sub: Any) -> None:
    p = sub.add_parser("compare", help="run several strategies over several seeds and compare them",
                       description="One run per strategy and seed (same initial set per seed); writes every "
                                   "record and comparison.json to --out and prints the learning-curve AUC per "
                                   "strategy and the penalty matrix's column means.")
    _add_run_options(p, single=False)
    p.add_argument("--strategies", default="bait,badge,margin,entropy,random",
                   help="comma-separated strategies (default bait,badge,margin,entropy,random)")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..S-1 (default 3)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the records, summary.csv and curves.html")
    p.set_defaults(func=_cmd_compare)


def compare_records(args: argparse.Namespace, strategies: list[str]) -> list:
    records = []
    for seed in range(args.seeds):
        dataset = _load_data(args, seed)
        for name in strategies:
            records.append(_run_one(args, name, seed, f"{name:>10} seed {seed}", dataset=dataset))
    return records


def _cmd_compare(args: argparse.Namespace) -> int:
    from .plots import auc_table, learning_curves
    from .strategies import STRATEGIES
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise CliError(f"unknown strategy {', '.join(unknown) or '(none given)'}; known: {', '.join(STRATEGIES)}")
    if args.seeds < 1:
        raise CliError("--seeds must be at least 1")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    records = compare_records(args, strategies)
    for r in records:
        r.save(out / f"{r.config.strategy}_seed{r.config.seed}.json")
    from .compare import ComparePlan, Comparison, penalty_matrix
    plan = ComparePlan(base=_config(args, strategies[0], 0), strategies=tuple(strategies), seeds=tuple(range(args.seeds)))
    comparison = Comparison.from_records(records, plan)
    (out / "comparison.json").write_text(comparison.to_json())
    table = auc_table(records)
    from .records_csv import csv_text
    (out / "summary.csv").write_text(csv_text(
        ["strategy", "runs", "auc_mean", "auc_std", "final_mean"],
        [[t["strategy"], t["runs"], f"{t['auc_mean']:.4f}", f"{t['auc_std']:.4f}", f"{t['final_mean']:.4f}"]
         for t in table], lineterminator="\n"))
    learning_curves(records, title=f"{args.data}: {len(strategies)} strategies × {args.seeds} seeds").write_html(
        out / "curves.html", include_plotlyjs=True)
    metric = records[0].rounds[0].metric_name
    print(f"\nlearning-curve AUC (mean {metric} over the label budget), {args.seeds} seed(s):")
    print(f"{'strategy':>12}  {'AUC':>16}  {'final':>7}")
    for t in table:
        print(f"{t['strategy']:>12}  {t['auc_mean']:.4f} ± {t['auc_std']:.4f}  {t['final_mean']:.4f}")
    if args.seeds >= 2 and len(strategies) >= 2:
        pm = penalty_matrix(comparison)
        print(f"penalty matrix column means (how often each is significantly beaten, lower is better; "
              f"{pm.n_checkpoints} checkpoints, paired t-tests, p < {pm.alpha}):")
        for name, v in sorted(zip(pm.strategies, pm.column_means), key=lambda t: t[1]):
            print(f"{name:>12}  {v:.3f}")
    print(f"records, comparison.json (opens on the app's Compare page), summary.csv and curves.html in {out}")
    return 0


# ----------------------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="BAIT Explorer: batch active learning from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    _add_select(sub)
    _add_run(sub)
    _add_compare(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args))
    except (CliError, ValueError) as e:
        msg = " ".join(str(e).split())                    # exactly one line
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
