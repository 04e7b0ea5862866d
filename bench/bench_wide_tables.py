"""Table loading today against an earlier git revision: wide CSVs (45 rows × 1,000 / 10,000 numeric
columns + a label) and a tall one (100,000 rows × 20 columns + a label).

    .venv/bin/python bench/bench_wide_tables.py                     # --before ef19c44
    .venv/bin/python bench/bench_wide_tables.py --before ef19c44 --only 1000 --repeat 2

The earlier package is extracted with `git archive REV bait_core` into a temporary folder (the
repository is not touched); each load runs in a fresh subprocess of this Python with that folder or
today's tree first on sys.path, and times `load_file(path)` alone (imports excluded).  Files are
written once to a temporary folder from a seeded generator.  Prints seconds before and today, the
ratio before/today (> 1: today is faster), whether the loaded arrays, names and report are identical,
and the load average (`os.getloadavg`) before each file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import pickle, sys, time
sys.path.insert(0, sys.argv[1])
from bait_core.learning.data import load_file
t = time.perf_counter()
d = load_file(sys.argv[2])
s = time.perf_counter() - t
with open(sys.argv[3], "wb") as f:
    pickle.dump((s, d.X, d.y, d.X_test, d.y_test, list(d.feature_names), repr(d.report)), f)
"""


def _write(path: Path, rows: int, cols: int, seed: int = 0) -> None:
    """rows × cols values with two decimals (some negative) and a label with 4 classes, comma-separated."""
    rng = np.random.default_rng(seed)
    vals = rng.standard_normal((rows, cols))
    header = ",".join(f"f{i}" for i in range(cols)) + ",label"
    lab = np.arange(rows) % 4
    with open(path, "w") as f:
        f.write(header + "\n")
        for i in range(rows):
            f.write(",".join(f"{v:.2f}" for v in vals[i]) + f",{lab[i]}\n")


def _load(root: Path, path: Path, out: Path):
    import pickle
    subprocess.run([sys.executable, "-c", _CHILD, str(root), str(path), str(out)], check=True)
    with open(out, "rb") as f:
        return pickle.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="ef19c44", help="git revision of the earlier reader")
    ap.add_argument("--only", help="one size: 1000, 10000 (columns, 45 rows) or tall (100,000 × 20)")
    ap.add_argument("--repeat", type=int, default=1, help="loads of each version; the fastest counts")
    args = ap.parse_args()
    sizes = {"1000": (45, 1000), "10000": (45, 10_000), "tall": (100_000, 20)}
    chosen = [args.only] if args.only else list(sizes)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        old = tmp / "before"
        old.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before, "bait_core"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        print(f"load_file today vs {args.before}; fastest of {args.repeat}; seconds")
        print(f"{'file':>18} | {'before s':>9} {'today s':>8} {'ratio':>7} | same result | load avg")
        for key in chosen:
            rows, cols = sizes[key]
            path = tmp / f"t_{rows}x{cols}.csv"
            _write(path, rows, cols)
            load = os.getloadavg()[0]
            t_old, t_new = [], []
            for _ in range(args.repeat):
                before = _load(old, path, tmp / "old.pkl")
                today = _load(ROOT, path, tmp / "new.pkl")
                t_old.append(before[0])
                t_new.append(today[0])
            same = (all(np.array_equal(a, b, equal_nan=True) for a, b in zip(before[1:5], today[1:5]))
                    and before[5:] == today[5:])
            print(f"{f'{rows:,} × {cols + 1:,}':>18} | {min(t_old):>9.2f} {min(t_new):>8.2f} "
                  f"{min(t_old) / min(t_new):>6.1f}× | {'yes' if same else 'NO':>11} | {load:.2f}")


if __name__ == "__main__":
    main()
