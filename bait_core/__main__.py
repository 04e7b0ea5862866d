"""Command line: ``python -m bait_core <command> ...``.

    python -m bait_core select --embeddings E.npy [--probs P.npy] [--labeled L.npy] --batch-size B
                               [--strategy bait] [--lamb 1.0] [--oversample 2.0] [--seed 0]
                               [--device cpu] [--dtype float64] [--threads N] [--out OUT.json]

    python -m bait_core next --run RUN_DIR [--labels NEW.csv]
                             (first call: --data FILE [--label-column COL] [--model ...] [--strategy ...]
                              [--batch-size B] [--rounds R] [--classes a,b,c] [--first-batch k-center|random])

    python -m bait_core layouts [--datasets digits,...] [--cache-dir DIR | --runs-dir DIR]

`layouts` precomputes the app's UMAP maps of the built-in datasets into its layout cache.
`next` is the headless labeling loop (see its --help): each call adds the labels, retrains, picks and
writes RUN_DIR/to_label.csv; RUN_DIR is a run folder the app resumes (runs folder = its parent).

`select` prints the selection as JSON (Selection.to_dict()) on stdout, or writes it to --out and prints a
one-line summary on stderr. Any bad input (missing or unreadable file, not a .npy array, pickled
object array, wrong shape or values, bad option, an output that cannot be written, a selection too
big for the memory) exits with status 2 and a single line ``error: <message>`` on stderr, no
traceback. Every option and every output path is checked before any work starts (a run never
trains for minutes and then fails to save); the memory a selection needs is estimated
(bait_core.selection.estimate) before it is allocated. Tracebacks are left for real bugs.

New subcommands: write ``_add_<name>(subparsers)`` that registers a parser with
``set_defaults(func=_cmd_<name>)``, and call it in :func:`build_parser`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional, Sequence

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
    p = check_input_file(path, what)
    try:
        with open(p, "rb") as f:
            magic = f.read(len(_NPY_MAGIC))
    except OSError as e:
        raise CliError(f"cannot read {what} file {path}: {e.strerror or e}") from None
    if magic.startswith(_ZIP_MAGIC):
        raise CliError(f"{what} file {path} is a .npz archive; save one array with np.save (.npy).")
    if magic != _NPY_MAGIC:
        raise CliError(f"{what} file {path} is not a .npy file (no NumPy header); save it with np.save.")
    from bait_core.selection.estimate import DEFAULT_FRACTION, available_memory, format_bytes
    # the header first: what it declares is checked against the file and the free memory before
    # numpy allocates anything (a 100-byte file may declare a terabyte)
    try:
        with open(p, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            data_at = f.tell()
    except OSError as e:
        raise CliError(f"cannot read {what} file {path}: {e.strerror or e}") from None
    except Exception as e:  # noqa: BLE001 - ValueError, SyntaxError, ...: any malformed header
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise CliError(f"cannot read {what} file {path}: its .npy header is unreadable ({msg}).") from None
    if dtype.hasobject:
        raise CliError(f"{what} file {path} holds a Python object (pickled) array, which is never "
                       "loaded; save a numeric array instead.")
    if dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
        raise CliError(f"{what} file {path} holds {dtype} values, not numeric ones (bool, int or float).")
    if not all(isinstance(n, int) and n >= 0 for n in shape):
        raise CliError(f"{what} file {path} declares an impossible shape {shape}.")
    need = math.prod(shape) * dtype.itemsize
    size, free = p.stat().st_size, available_memory("cpu")
    if need > size - data_at:
        raise CliError(f"cannot read {what} file {path}: its header declares an array of shape {tuple(shape)} "
                       f"({format_bytes(need)}) but the file holds only {format_bytes(max(size - data_at, 0))} of "
                       "data (truncated or damaged).")
    if need > DEFAULT_FRACTION * free:
        raise CliError(f"{what} file {path} holds {format_bytes(need)} but only {format_bytes(free)} of memory is "
                       "free; use a pool sample or a machine with more memory.")
    try:
        a = np.load(p, allow_pickle=False)
    except Exception as e:  # noqa: BLE001 - anything numpy refuses in a checked header is a bad file
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise CliError(f"{what} file {path} holds a Python object (pickled) array, which is never "
                           "loaded; save a numeric array instead.") from None
        msg = " ".join(str(e).split())[:200] or type(e).__name__
        raise CliError(f"cannot read {what} file {path} as a .npy array: {msg}") from None
    if not isinstance(a, np.ndarray):
        raise CliError(f"{what} file {path} does not hold a single array.")
    return a


def check_device(spec: Optional[str], flag: str = "--device", *, allow_auto: bool = False) -> Optional[str]:
    """A device string torch can compute on here (cpu, cuda, cuda:N, mps; "auto" when allowed);
    CliError with one line otherwise. None stays None."""
    import torch

    if spec is None:
        return None
    text = str(spec).strip()
    if allow_auto and text.lower() in ("", "auto"):
        return "auto"
    known = "auto, cpu, cuda or cuda:N" if allow_auto else "cpu, cuda or cuda:N"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise CliError(f"{flag} {spec!r} is not a device; use {known}.") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise CliError(f"{flag} {spec}: CUDA is not available on this machine; use cpu"
                           + (" or auto." if allow_auto else "."))
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise CliError(f"{flag} {spec}: this machine has {torch.cuda.device_count()} CUDA device(s), "
                           "numbered from 0.")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise CliError(f"{flag} {spec}: Apple MPS is not available on this machine; use cpu.")
    elif dev.type != "cpu":
        raise CliError(f"{flag} {spec!r}: only {known} are supported.")
    return str(dev)


def _torch_options(device: Optional[str], dtype: str) -> dict:
    """device/dtype keyword arguments for a strategy, checked here so errors stay one line."""
    import torch

    out: dict = {"dtype": {"float32": torch.float32, "float64": torch.float64}[dtype]}
    dev = check_device(device)
    if dev is not None:
        out["device"] = torch.device(dev)
    return out


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b) or (
            os.path.realpath(a) == os.path.realpath(b))
    except OSError:
        return False


def check_input_file(path: str, what: str) -> Path:
    """An existing, readable regular file; CliError with one line otherwise."""
    p = Path(path)
    if not str(path).strip():
        raise CliError(f"{what} path is empty.")
    if not p.exists():
        raise CliError(f"{what} file not found: {path}")
    if not p.is_file():
        raise CliError(f"{what} path is not a file: {path}")
    try:
        with open(p, "rb") as f:
            f.read(1)
    except OSError as e:
        raise CliError(f"cannot read {what} file {path}: {e.strerror or e}") from None
    return p


def check_output_file(path: str, flag: str, inputs: Sequence[tuple[str, Optional[str]]] = ()) -> Path:
    """A file path this process can create or overwrite, that is not one of `inputs` ((flag, path)
    pairs); checked before any work so a long run never ends unable to save. CliError otherwise."""
    if not str(path).strip():
        raise CliError(f"{flag} is empty; give a file name.")
    p = Path(path)
    if p.is_dir():
        raise CliError(f"{flag} {path} is a folder; give a file name inside it (e.g. {p / 'out.json'}).")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.exists():
        raise CliError(f"{flag} {path}: the folder {parent} does not exist; create it first or choose another path.")
    if not parent.is_dir():
        raise CliError(f"{flag} {path}: {parent} is not a folder.")
    if p.exists():
        if not os.access(p, os.W_OK):
            raise CliError(f"{flag} {path}: the file exists and cannot be overwritten (permission denied).")
    elif not os.access(parent, os.W_OK | os.X_OK):
        raise CliError(f"{flag} {path}: cannot create files in {parent} (permission denied).")
    for in_flag, in_path in inputs:
        if in_path and _same_file(p, Path(in_path)):
            raise CliError(f"{flag} {path} is the same file as {in_flag}; writing it would destroy the input. "
                           "Choose another name.")
    return p


def check_output_dir(path: str, flag: str, files: Sequence[str],
                     inputs: Sequence[tuple[str, Optional[str]]] = ()) -> Path:
    """A folder that exists (or can be created) and is writable, where none of `files` is a folder
    or one of `inputs`; CliError otherwise. Creates nothing."""
    if not str(path).strip():
        raise CliError(f"{flag} is empty; give a folder name.")
    p = Path(path)
    if p.exists():
        if not p.is_dir():
            raise CliError(f"{flag} {path} is a file, not a folder; give a folder for the records "
                           "(it is created when missing).")
        if not os.access(p, os.W_OK | os.X_OK):
            raise CliError(f"{flag} {path}: cannot write in this folder (permission denied).")
        for name in files:
            check_output_file(str(p / name), flag, inputs)
    else:
        up = p.parent
        while not up.exists() and up != up.parent:
            up = up.parent
        if not up.is_dir():
            raise CliError(f"{flag} {path}: {up} is a file, so the folder cannot be created.")
        if not os.access(up, os.W_OK | os.X_OK):
            raise CliError(f"{flag} {path}: cannot create the folder inside {up} (permission denied).")
    return p


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from None


def _memory_limit(args: argparse.Namespace) -> Optional[int]:
    from bait_core.selection.estimate import parse_bytes
    if getattr(args, "memory_limit", None) is None:
        return None
    try:
        return parse_bytes(args.memory_limit)
    except ValueError as e:
        raise CliError(f"--memory-limit: {e}") from None


def _add_memory_option(p: Any, what: str) -> None:
    p.add_argument("--memory-limit", metavar="SIZE",
                   help=f"refuse {what} if it would need more memory than this (e.g. 8G, 512M; "
                        "default: 80%% of the free memory)")


def _threads(value: str) -> int:
    """argparse type of --threads: a whole number from 1 to the usable cores (common.threads.check_threads)."""
    from bait_core.common.threads import check_threads
    try:
        n = int(value)
    except ValueError:
        n = value                                           # check_threads' sentence names it
    try:
        return check_threads(n, "N")
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _add_threads_option(p: Any, what: str) -> None:
    p.add_argument("--threads", type=_threads, default=None, metavar="N",
                   help=f"CPU threads for {what} (torch and the BLAS below numpy/scipy), from 1 to this machine's "
                        "cores (default: one thread for small work, the idle cores for large work, so a busy "
                        "machine is not oversubscribed)")


# ----------------------------------------------------------------------------- strategies

def _strategy_name(value: str) -> str:
    """argparse type of --strategy: a registered name, else the registry's sentence ("Unknown strategy
    'x'. Known strategies: ...")."""
    from bait_core.selection.registry import SPECS, unknown_strategy
    if value not in SPECS:
        raise argparse.ArgumentTypeError(str(unknown_strategy(value)))
    return value


def _add_strategy_argument(p: Any, help: str) -> None:
    """--strategy, its choices from the registry (each listed with its one-liner in the epilog)."""
    from bait_core.selection.registry import SPECS
    p.add_argument("--strategy", default="bait", type=_strategy_name, choices=list(SPECS), metavar="STRATEGY",
                   help=f"{help}: one of {', '.join(SPECS)} (default: bait; each is described below)")


def _strategy_parser(sub: Any, name: str, **kwargs: Any) -> Any:
    """A subcommand parser whose --help ends with the registry's one line per strategy."""
    from bait_core.selection.registry import strategy_help
    return sub.add_parser(name, epilog=strategy_help(), formatter_class=argparse.RawDescriptionHelpFormatter,
                          **kwargs)


def _option_flag(p: Any, name: str, default: Any, help: str) -> None:
    """--NAME (underscores as hyphens: --top-classes, --pool-sample) for one strategy option, typed
    from its spec: a float, a whole number, or one of the choices of a text option."""
    from bait_core.selection.registry import run_options
    opt = run_options()[name]
    flags = [f"--{name.replace('_', '-')}"] + ([f"--{name}"] if "_" in name else [])
    p.add_argument(*flags, dest=name, type=opt.kind, default=default, help=help,
                   **({"choices": list(opt.choices)} if opt.choices else {}))


def _flag(name: str) -> str:
    return f"--{name.replace('_', '-')}"


def _option_flag_help(name: str) -> str:
    """Help of a strategy option's flag, from its spec: which strategies take it, what it does, its default."""
    from bait_core.selection.registry import SPECS, run_options
    opt = run_options()[name]
    takers = " and ".join(s.label for s in SPECS.values() if name in s.options)
    return f"{takers} only: {opt.help} (default {opt.default})"


# ----------------------------------------------------------------------------- select

def _add_select(sub: Any) -> None:
    from bait_core.selection.registry import run_options

    p = _strategy_parser(
        sub, "select", help="pick a batch of pool points to label",
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
    _add_strategy_argument(p, "the acquisition strategy")
    for name in run_options():                        # --lamb, --oversample, ...: an error with other strategies
        _option_flag(p, name, None, _option_flag_help(name) + "; an error with other strategies")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default=None,
                   help="torch device to compute on, e.g. cuda (default: cpu)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="compute precision (default float64)")
    p.add_argument("--out", metavar="OUT.json",
                   help="write the JSON here (a summary goes to stderr) instead of stdout")
    _add_memory_option(p, "a selection")
    _add_threads_option(p, "the selection")
    p.set_defaults(func=_cmd_select)


def _cmd_select(args: argparse.Namespace) -> int:
    from bait_core.selection.registry import SPECS, get_spec, run_options

    spec = get_spec(args.strategy)                        # ValueError listing known names
    given = {name: getattr(args, name) for name in run_options() if getattr(args, name) is not None}
    for name in given:
        if name not in spec.options:
            takers = ", ".join(n for n, s in SPECS.items() if name in s.options)
            raise CliError(f"{_flag(name)} applies only to --strategy {takers}, not '{args.strategy}'.")
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1, got {args.batch_size}.")
    if args.seed < 0:
        raise CliError(f"--seed must be a non-negative whole number, got {args.seed}.")
    fn = spec.fn
    options: dict = {name: spec.options[name].check(value, _flag(name)) for name, value in given.items()}
    options.update(_torch_options(args.device, args.dtype))
    limit = _memory_limit(args)
    if limit is not None:
        options["memory_limit"] = limit
    inputs = [("--embeddings", args.embeddings), ("--probs", args.probs), ("--labeled", args.labeled)]
    out = None if args.out is None else check_output_file(args.out, "--out", inputs)
    emb = load_npy(args.embeddings, "embeddings")
    probs = load_npy(args.probs, "probs") if args.probs is not None else None
    labeled = load_npy(args.labeled, "labeled") if args.labeled is not None else None

    if args.strategy == "bait" and "approximation" not in given and not given.get("pool_sample"):
        _print_offer(emb, probs, labeled, args.batch_size, options)
    sel = fn(emb, probs, labeled, args.batch_size, seed=args.seed, **options)
    if sel.params.get("numerics"):
        print(f"note: {sel.params['numerics']}", file=sys.stderr)
    if sel.params.get("approximation", "exact") != "exact":
        print(f"note: approximate BAIT: {sel.params['approximation']}; its gains and objective are those of the "
              "approximated Fisher, not of the exact one.", file=sys.stderr)
    doc = sel.to_dict()
    text = json.dumps(doc, allow_nan=False)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        _write(out, text + "\n")
        n_unlabeled = int(emb.shape[0]) - int(sel.params.get("n_labeled", 0))
        print(f"{sel.strategy}: picked {sel.batch_size} of {n_unlabeled} unlabeled points in "
              f"{sel.timings.get('total', float('nan')):.3f} s -> {args.out}", file=sys.stderr)
    return 0


# The approximations' flags, for the offer sentence (estimate.approximation_offer).
_OFFER_FLAGS = "--approximation top-c --top-classes 10, --approximation binary, or --pool-sample 2000"


def _print_offer(emb: Any, probs: Any, labeled: Any, batch_size: int, options: dict) -> None:
    """One line on stderr when exact BAIT on these inputs is estimated to take longer than
    APPROX_OFFER_SECONDS: the approximations' estimates and their flags. The selection stays exact."""
    from bait_core.selection.estimate import approximation_offer, sizes_of
    sizes = sizes_of(emb, probs, labeled)
    if sizes is None:
        return
    N, d, K, n = sizes
    text = approximation_offer(N, d, K, max(0, min(batch_size, N - n)), n, device=options.get("device") or "cpu",
                               oversample=options.get("oversample", 2.0), where=_OFFER_FLAGS)
    if text:
        print(f"note: {text} Running exact BAIT (the default).", file=sys.stderr)


# ----------------------------------------------------------------------------- run / compare

class _Bar:
    """Progress of a run's rounds on stderr: a tqdm bar on a terminal; when stderr is not a terminal,
    no bar, only one summary line once the run is done."""

    def __init__(self, label: str, total: int) -> None:
        from tqdm import tqdm

        self.label, self.total, self.t0 = label, max(1, total), time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=self.total, desc=label, file=sys.stderr, disable=not self.tty, leave=True,
                        dynamic_ncols=True, unit="round")

    def update(self, done: int, extra: str = "") -> None:
        if self.tty:
            self.bar.n = min(done, self.total)
            self.bar.set_postfix_str(extra.strip(), refresh=False)
            self.bar.refresh()
        elif done >= self.total:
            sys.stderr.write(f"{self.label} {done}/{self.total} {time.perf_counter() - self.t0:6.1f}s {extra}\n")

    def close(self) -> None:
        self.bar.close()


def _add_run_options(p: Any, *, single: bool, data_required: bool = True, initial: bool = True,
                     rounds_default: int = 10) -> None:
    p.add_argument("--data", required=data_required, metavar="builtin:NAME|PATH",
                   help="a built-in dataset (builtin:digits, builtin:mnist1d, builtin:moons, ...) or a file")
    p.add_argument("--label-column", help="label column of a table file (default: label/target/class/y or the last)")
    p.add_argument("--model", default="mlp", help="a built-in architecture (linear, mlp, cnn) or a torch.export "
                                                  "program (.pt2) returning (logits, embedding)")
    p.add_argument("--weights", metavar="FILE", help="start --model ARCH from these weights (.pt/.pth state_dict, "
                                                      ".safetensors; 'module.'/'model.' prefixes and {'state_dict': ...} "
                                                      "wrappers are unwrapped, fp16/bf16 converted)")
    from bait_core.selection.registry import run_options
    if single:
        _add_strategy_argument(p, "acquisition strategy")
    p.add_argument("--rounds", type=int, default=rounds_default,
                   help=f"acquisition rounds (default {rounds_default})")
    p.add_argument("--batch-size", type=int, default=10, help="points picked per round (default 10)")
    if initial:
        p.add_argument("--initial", type=int, default=20, help="initial random labeled points (default 20)")
    from bait_core.learning.train import PRESETS, preset_help
    p.add_argument("--preset", default="quick", metavar="{" + ",".join(PRESETS) + "}",
                   help="training preset (default quick). " + " ".join(f"{name}: {preset_help(name)}" for name in PRESETS).replace("%", "%%"))
    for name, opt in run_options().items():           # --lamb, --oversample, ... (RunConfig fields)
        _option_flag(p, name, opt.default, _option_flag_help(name))
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    _add_memory_option(p, "to start a run, before any training,")
    _add_threads_option(p, "the whole command: training, model outputs and selection")
    g = p.add_argument_group("reading a data file (default: inferred, and stated in the reading report)")
    g.add_argument("--task", choices=("classification", "regression"),
                   help="the task (default: text labels → classification; numeric labels → classification when "
                        "whole numbers with at most 20 distinct values, else regression)")
    g.add_argument("--encoding", help="text encoding of a table (utf-8, cp1252, latin-1, utf-16, ...)")
    g.add_argument("--sep", help="field separator of a table (',', ';', 'tab', '|', 'space')")
    g.add_argument("--decimal", choices=(".", ","), help="decimal mark of a table")
    g.add_argument("--thousands", help="thousands grouping character of a table (',', '.', 'space', \"'\", 'none')")
    g.add_argument("--na-values", metavar="TOKENS", help="comma-separated cell texts that mean 'missing' "
                                                            "(only empty cells are missing otherwise)")
    g.add_argument("--missing-features", choices=("median", "drop", "refuse"), default="median",
                   help="empty feature cells: fill with the column median (default), drop the rows, or refuse")
    g.add_argument("--column-role", action="append", default=[], metavar="COLUMN=ROLE",
                   help="force a column's role: numeric, one-hot, ignored or label (repeatable)")
    g.add_argument("--image-size", metavar="HxW", help="resize images to H×W pixels (default: their own size "
                                                        "when all share one up to 64×64, else 28×28)")
    g.add_argument("--image-scaling", choices=("type", "max", "minmax", "none"),
                   help="pixel scaling of images (default 'type': by bit depth, one rule for the whole archive)")
    g.add_argument("--image-channels", type=int, choices=(1, 3), help="grey (1) or colour (3) images")
    g.add_argument("--quiet", action="store_true", help="do not print the reading report of a data file")


def _config(args: argparse.Namespace, strategy: str, seed: int) -> Any:
    from bait_core.records.run_record import RunConfig
    from bait_core.selection.registry import run_options
    return RunConfig(data=args.data, model=args.model, strategy=strategy, rounds=args.rounds,
                     batch_size=args.batch_size, initial=args.initial, seed=seed, preset=args.preset,
                     device=args.device, label_column=args.label_column,
                     oracle=getattr(args, "oracle", "simulated"), first_batch=getattr(args, "first_batch", "k-center"),
                     **{name: getattr(args, name) for name in run_options()})


def _check_run_options(args: argparse.Namespace, strategies: Sequence[str], seeds: Sequence[int]) -> None:
    """Every option and input file of run/compare, before anything is loaded or trained."""
    from bait_core.learning.models import MODEL_NAMES
    from bait_core.learning.train import PRESETS

    args.device = check_device(args.device, allow_auto=True)
    if args.preset not in PRESETS:
        raise CliError(f"--preset {args.preset!r} is unknown; known presets: {', '.join(PRESETS)}.")
    for name in strategies:
        for seed in seeds:
            _config(args, name, seed).validate()                     # numbers, strategy: ValueError sentences
    if args.data.startswith("builtin:"):
        from bait_core.learning.data import BUILTIN_DATASETS
        name = args.data[len("builtin:"):]
        if name not in BUILTIN_DATASETS:
            raise CliError(f"Unknown built-in dataset {name!r}. Known: {', '.join(BUILTIN_DATASETS)}.")
        if args.label_column:
            raise CliError("--label-column applies only to a table file, not to a built-in dataset.")
        reading = [f for f in ("task", "encoding", "sep", "decimal", "thousands", "na_values", "image_size",
                               "image_scaling", "image_channels")
                   if getattr(args, f, None)] + (["column_role"] if args.column_role else [])
        if reading:
            raise CliError(f"--{reading[0].replace('_', '-')} applies to a data file, not to a built-in dataset.")
    else:
        check_input_file(args.data, "data")
        read_options(args)
    if getattr(args, "weights", None):
        if args.model not in MODEL_NAMES:
            raise CliError(f"--weights needs --model to name their architecture ({', '.join(MODEL_NAMES)}), "
                           f"got {args.model!r}.")
        check_input_file(args.weights, "weights")
    elif args.model not in MODEL_NAMES:
        if not Path(args.model).exists():
            raise CliError(f"model file not found: {args.model} (or use {', '.join(MODEL_NAMES)})")
        check_input_file(args.model, "model")
        from bait_core.learning.models import WEIGHT_SUFFIXES
        if args.model.lower().endswith(WEIGHT_SUFFIXES):
            raise CliError(f"{args.model} is a weights file: give its architecture with --model ARCH --weights "
                           f"{args.model} (ARCH one of {', '.join(MODEL_NAMES)}).")
    _memory_limit(args)


def read_options(args: argparse.Namespace) -> Any:
    """The ReadOptions the data-reading flags ask for (ValueError with a sentence when one is off)."""
    from bait_core.learning.reading import ReadOptions
    names = {"tab": "\t", "\\t": "\t", "space": " ", "none": ""}
    roles = []
    for item in args.column_role or []:
        col, eq, role = item.rpartition("=")
        if not eq or not col:
            raise CliError(f"--column-role takes COLUMN=ROLE (numeric, one-hot, ignored or label), got {item!r}.")
        roles.append((col, role))
    size = None
    if args.image_size:
        try:
            h, w = (int(v) for v in args.image_size.lower().replace("×", "x").split("x"))
            size = (h, w)
        except ValueError:
            raise CliError(f"--image-size takes HxW such as 28x28, got {args.image_size!r}.") from None
    opts = ReadOptions(encoding=args.encoding, sep=names.get(args.sep, args.sep) if args.sep else None,
                       decimal=args.decimal,
                       thousands=names.get(args.thousands, args.thousands) if args.thousands is not None else None,
                       na_values=tuple(t.strip() for t in (args.na_values or "").split(",") if t.strip()),
                       roles=tuple(roles), task=args.task, missing_features=args.missing_features, image_size=size,
                       image_scaling=args.image_scaling, image_channels=args.image_channels)
    classes = getattr(args, "classes", None)
    if classes is not None:
        if "classes" not in ReadOptions.__dataclass_fields__:
            raise CliError("--classes is not supported by this version's data readers; label some rows in the "
                           "data file instead.")
        from dataclasses import replace as _replace
        opts = _replace(opts, classes=tuple(c.strip() for c in classes.split(",")))
    opts.validate()
    return opts


def _load_data(args: argparse.Namespace, seed: int) -> Any:
    """The dataset of --data split with `seed` (learning.build.load_run_dataset); prints the reading
    report of a data file once (unless --quiet)."""
    from bait_core.learning.build import load_run_dataset
    from bait_core.learning.reading import report_lines
    opts = None if args.data.startswith("builtin:") else read_options(args)
    try:
        dataset = load_run_dataset(_config(args, "random", seed), read_options=opts)
    except OSError as e:
        raise CliError(f"cannot read data file {args.data}: {e.strerror or e}") from None
    if dataset.report is not None and not args.quiet and not getattr(args, "_report_shown", False):
        print("How the data file was read:", file=sys.stderr)
        for line in report_lines(dataset.report):
            print(f"  {line}", file=sys.stderr)
        args._report_shown = True
    return dataset


def _build_model(config: Any, dataset: Any, weights: Optional[str] = None) -> Any:
    """The model this run starts from (learning.build.build_run_model): a built-in architecture (with
    `weights` loaded into it when given) or a .pt2 program. Built here so its size is known before training."""
    from bait_core.learning.build import build_run_model
    from bait_core.learning.models import MODEL_NAMES
    if config.model in MODEL_NAMES and not weights:
        return build_run_model(config, dataset)
    p = Path(weights or config.model)
    try:
        model = build_run_model(config, dataset, model_file=p, arch=config.model if weights else None)
    except OSError as e:
        raise CliError(f"cannot read model file {p}: {e.strerror or e}") from None
    note = getattr(model, "weights_note", "")
    if note:
        print(f"Weights {p.name}: {note}.", file=sys.stderr)
    return model


def _run_sources(args: argparse.Namespace, config: Any) -> Any:
    """The RunSources of a run from files: the data and model files' names and bytes (None for built-ins),
    the read options and the architecture of --weights; stored in the run's folder to resume it."""
    from bait_core.service.runstore import RunSources
    files = {}
    for key, path in (("data", args.data), ("model", getattr(args, "weights", None) or args.model)):
        p = Path(path)
        if not path.startswith("builtin:") and p.is_file():
            files[key] = (p.name, p.read_bytes())
    return RunSources(data_name=files["data"][0] if "data" in files else None,
                      data_bytes=files["data"][1] if "data" in files else None,
                      read_options=read_options(args) if "data" in files else None,
                      model_name=files["model"][0] if "model" in files else None,
                      model_bytes=files["model"][1] if "model" in files else None,
                      arch=config.model if getattr(args, "weights", None) else None)


def _run_one(args: argparse.Namespace, strategy: str, seed: int, label: str, dataset: Any = None,
             store: Any = None) -> Any:
    """One run. With a `store` (RunStore) it is driven round by round through the same Explorer the
    app uses and saved there after every round, so an interrupted run keeps its finished rounds."""
    from bait_core.learning.build import build_run
    from bait_core.learning.loop import run
    config = _config(args, strategy, seed)
    if dataset is None:
        dataset = _load_data(args, seed)
    model = build_run(config, dataset=dataset, model=_build_model(config, dataset, getattr(args, "weights", None)),
                      memory_limit=_memory_limit(args)).model     # validated, memory checked before any training
    from bait_core.learning.build import run_offer
    offer = run_offer(config, dataset, model, where=_OFFER_FLAGS)
    if offer:
        print(f"note ({strategy}): {offer} Running exact BAIT (the default).", file=sys.stderr)
    bar = _Bar(label, config.rounds + 1)
    try:
        if store is None:
            from bait_core.records.metrics import metric_of_task
            name = metric_of_task(dataset.task).name
            return run(config, dataset=dataset, model=model,
                       progress=lambda stage, done, total, info: bar.update(done, f"round {done - 1} {name} {info:.3f}")
                       if stage == "round" else None)
        from bait_core.service.explorer import Explorer
        sources = _run_sources(args, config)
        ex = Explorer.start(dataset, model, config, store=store, sources=sources)
        print(f"run {ex.run_id}: saved after every round in {store.root / ex.run_id}", file=sys.stderr)
        while not ex.finished:
            (ex.evaluate if len(ex.rounds) >= config.rounds else ex.step)()
            r = ex.rounds[-1]
            bar.update(len(ex.rounds), f"round {r.round} {r.metric_name} {r.metric:.3f}")
        return ex.record
    finally:
        bar.close()


def _add_run(sub: Any) -> None:
    p = _strategy_parser(sub, "run", help="run an active-learning loop and save its record",
                         description="Train, select and reveal labels for --rounds rounds; write the run record (JSON).")
    _add_run_options(p, single=True)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", metavar="RUN.json", help="write the run record here")
    p.add_argument("--metrics-csv", metavar="METRICS.csv", help="also write per-round metrics as CSV")
    p.add_argument("--runs-dir", metavar="DIR", default=None,
                   help="save the run here after every round, as the app does (default: $BAIT_EXPLORER_RUNS_DIR "
                        "or ./runs); the app's Records page lists and resumes it")
    p.add_argument("--no-save", action="store_true", help="do not save the run as it goes (only --out at the end)")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from bait_core.records.run_record import MAX_SEED
    if not 0 <= args.seed <= MAX_SEED:
        raise CliError(f"--seed must be a whole number from 0 to {MAX_SEED:,}, got {args.seed}.")
    _check_run_options(args, [args.strategy], [args.seed])
    inputs = [("--data", args.data), ("--model", args.model), ("--weights", args.weights)]
    out = None if args.out is None else check_output_file(args.out, "--out", inputs)
    csv_out = None if args.metrics_csv is None else check_output_file(
        args.metrics_csv, "--metrics-csv", inputs + [("--out", args.out)])
    store = None
    if not args.no_save:
        from bait_core.service.runstore import RunStore
        store = RunStore(args.runs_dir)
        store.check_writable()                              # a sentence before any work
    record = _run_one(args, args.strategy, args.seed, f"{args.strategy} seed {args.seed}", store=store)
    if out is not None:
        _write(out, record.to_json())
    if csv_out is not None:
        _write(csv_out, record.metrics_csv())
    print(f"{'round':>5} {'labels':>6} {record.rounds[0].metric_name:>9} {'train s':>8} {'outputs s':>9} {'select s':>8}")
    for r in record.rounds:
        print(f"{r.round:>5} {r.n_labeled:>6} {r.metric:>9.4f} {r.times['train']:>8.3f} "
              f"{r.times['outputs']:>9.3f} {r.times['select']:>8.3f}")
    print(f"device: {record.rounds[0].device}; learning-curve AUC {record.auc():.4f}"
          + (f"; record: {args.out}" if args.out else ""))
    for r in record.rounds:
        if r.selection is not None and r.selection.params.get("numerics"):
            print(f"note, round {r.round}: {r.selection.params['numerics']}")
    approx = {r.selection.params.get("approximation") for r in record.rounds if r.selection is not None}
    approx.discard(None)
    approx.discard("exact")
    if approx:
        print(f"approximate BAIT: {'; '.join(sorted(approx))} (gains and objective are the approximation's own)")
    return 0


def _add_compare(sub: Any) -> None:
    from bait_core.learning.compare import DEFAULT_SEEDS
    from bait_core.service.executors import DEFAULT_EXECUTOR, EXECUTORS, RAY_REQUIREMENT
    p = _strategy_parser(sub, "compare", help="run several strategies over several seeds and compare them",
                         description="One run per strategy and seed (same initial set per seed); writes every "
                                   "record as it finishes and comparison.json to --out and prints the learning-curve "
                                   "AUC per strategy and the penalty matrix's column means. The runs go in parallel "
                                   "(--executor, default: worker processes on this machine's cores); a run that "
                                   "fails is reported in one line and the others go on (exit status 1 when any "
                                   "failed).")
    _add_run_options(p, single=False)
    p.add_argument("--strategies", default="bait,badge,margin,entropy,random",
                   help="comma-separated strategies (default bait,badge,margin,entropy,random)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                   help=f"number of seeds, 0..S-1 (default {DEFAULT_SEEDS}: the penalty matrix's paired t-test over "
                        "n seeds calls a difference significant (p < 0.05) only when its mean exceeds "
                        "t(0.975, n-1)/sqrt(n) times its spread over the seeds: 2.48 with 3 seeds, 1.24 with 5, 0.72 "
                        "with 10; fewer seeds are allowed and the output says so)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the records, summary.csv and curves.html")
    g = p.add_argument_group("where the runs execute (each strategy × seed run is one task)")
    g.add_argument("--executor", choices=EXECUTORS, default=DEFAULT_EXECUTOR,
                   help="sequential: one run after another in this process; processes: worker processes on this "
                        "machine (default); ray: Ray tasks, on a local Ray instance or a cluster (--ray-address; "
                        f"needs `pip install -r requirements-ray.txt`, {RAY_REQUIREMENT})")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="runs at a time (processes, ray; default: this machine's cores, at most one per run); each "
                        "run gets cores/N CPU threads unless --threads says otherwise")
    g.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="ray only: 'auto' joins the Ray cluster started on this machine (`ray start --head`), "
                        "host:port or ray://host:10001 a remote one (default: start a local Ray instance for this "
                        "command and shut it down at the end)")
    p.set_defaults(func=_cmd_compare)


def _executor_setup(args: argparse.Namespace, n_runs: int) -> Any:
    """The checked executor of `compare` (service.executors.check_executor; ValueError sentences)."""
    from bait_core.service.executors import check_executor
    return check_executor(args.executor, workers=args.workers, threads=args.threads, ray_address=args.ray_address,
                          n_runs=n_runs)


class _RunsBar:
    """Progress of a comparison's runs on stderr: one line per finished (or failed) run, and on a
    terminal a tqdm bar over the runs below those lines."""

    def __init__(self, total: int) -> None:
        from tqdm import tqdm

        self.total, self.done, self.t0 = total, 0, time.perf_counter()
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(total=total, desc="runs", file=sys.stderr, disable=not self.tty, leave=True,
                        dynamic_ncols=True, unit="run")

    def line(self, text: str) -> None:
        self.done += 1
        text = f"[{self.done}/{self.total} {time.perf_counter() - self.t0:6.1f}s] {text}"
        if self.tty:
            self.bar.write(text, file=sys.stderr)
            self.bar.update(1)
        else:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def close(self) -> None:
        self.bar.close()


def compare_records(args: argparse.Namespace, strategies: list[str], first: Any = None,
                    on_record: Optional[Callable[[Any], None]] = None, setup: Any = None) -> tuple[list, list]:
    """Every (seed, strategy) run of the comparison on `setup` (service.executors.ExecutorSetup;
    default: the one --executor/--workers/--threads ask for), seeds 0..S-1; `first`: the seed-0
    dataset, already loaded. Returns (records in plan order, failed RunOutcomes). on_record(record)
    is called as each run finishes (the CLI writes it at once: an interrupted comparison keeps its
    finished runs); a failed run is printed in one line and the others go on."""
    from contextlib import closing

    from bait_core.learning.compare import ComparePlan
    from bait_core.service.executors import execute_comparison
    plan = ComparePlan(base=_config(args, strategies[0], 0), strategies=tuple(strategies),
                       seeds=tuple(range(args.seeds)))
    weights = getattr(args, "weights", None)
    setup = setup or _executor_setup(args, len(plan.runs()))

    def load(seed: int) -> Any:
        return first if seed == 0 and first is not None else _load_data(args, seed)

    def build(dataset: Any, seed: int) -> Any:
        return _build_model(_config(args, strategies[0], seed), dataset, weights)

    done: dict = {}
    failed: list = []
    bar = _RunsBar(len(plan.runs()))
    try:
        with closing(execute_comparison(plan, load, build, setup)) as outcomes:
            for o in outcomes:
                if o.ok:
                    r = o.record
                    last = r.rounds[-1]
                    bar.line(f"{o.strategy:>10} seed {o.seed}: round {last.round} {last.metric_name} "
                             f"{last.metric:.3f}, AUC {r.auc():.4f} ({o.seconds:.1f} s)")
                    done[o.index] = r
                    if on_record is not None:
                        on_record(r)
                else:
                    bar.line(f"failed: {o.error}")
                    failed.append(o)
    finally:
        bar.close()
    return [done[i] for i in sorted(done)], failed


def _cmd_compare(args: argparse.Namespace) -> int:
    from bait_core.viz.plots import auc_table, learning_curves
    from bait_core.selection.registry import STRATEGIES
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown or not strategies:
        raise CliError(f"unknown strategy {', '.join(unknown) or '(none given)'}; known: {', '.join(STRATEGIES)}")
    twice = sorted({s for s in strategies if strategies.count(s) > 1})
    if twice:
        raise CliError(f"--strategies lists {', '.join(twice)} more than once; name each strategy once.")
    if args.seeds < 1:
        raise CliError("--seeds must be at least 1")
    _check_run_options(args, strategies, range(args.seeds))
    setup = _executor_setup(args, len(strategies) * args.seeds)
    if setup.name == "ray":
        from bait_core.service.executors import require_ray
        require_ray()                                      # the install sentence before any work
    files = [f"{name}_seed{seed}.json" for seed in range(args.seeds) for name in strategies] + [
        "comparison.json", "summary.csv", "curves.html"]
    out = check_output_dir(args.out, "--out", files, [("--data", args.data), ("--model", args.model), ("--weights", args.weights)])
    from bait_core.learning.build import build_run
    dataset = _load_data(args, 0)
    for name in strategies:                                # every strategy's memory, before any training
        config = _config(args, name, 0)
        build_run(config, dataset=dataset, model=_build_model(config, dataset), memory_limit=_memory_limit(args))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create the folder {out}: {e.strerror or e}") from None
    n_runs = len(strategies) * args.seeds
    print(f"{n_runs} run{'s' if n_runs > 1 else ''} ({len(strategies)} strateg{'ies' if len(strategies) > 1 else 'y'} "
          f"× {args.seeds} seed{'s' if args.seeds > 1 else ''}) on {setup.describe()}", file=sys.stderr)
    records, failed = compare_records(args, strategies, first=dataset, setup=setup, on_record=lambda r: _write(
        out / f"{r.config.strategy}_seed{r.config.seed}.json", r.to_json()))
    if not records:
        raise CliError(f"every run of the comparison failed; the first: {failed[0].error}" if failed else
                       "the comparison finished no run.")
    from bait_core.learning.compare import ComparePlan, Comparison, penalty_matrix
    plan = ComparePlan(base=_config(args, strategies[0], 0), strategies=tuple(strategies), seeds=tuple(range(args.seeds)))
    comparison = Comparison.from_records(records, plan)
    _write(out / "comparison.json", comparison.to_json())
    table = auc_table(records)
    from bait_core.records.csv_text import csv_text
    _write(out / "summary.csv", csv_text(
        ["strategy", "runs", "auc_mean", "auc_std", "final_mean"],
        [[t["strategy"], t["runs"], f"{t['auc_mean']:.4f}", f"{t['auc_std']:.4f}", f"{t['final_mean']:.4f}"]
         for t in table], lineterminator="\n"))
    _write(out / "curves.html", learning_curves(
        records, title=f"{args.data}: {len(strategies)} strategies × {args.seeds} seeds").to_html(include_plotlyjs=True))
    metric = records[0].rounds[0].metric_name
    print(f"\nlearning-curve AUC (mean {metric} over the label budget), {args.seeds} seed(s):")
    print(f"{'strategy':>12}  {'AUC':>16}  {'final':>7}")
    for t in table:
        spread = "(one seed)" if t["runs"] < 2 else f"± {t['auc_std']:.4f}"
        print(f"{t['strategy']:>12}  {t['auc_mean']:.4f} {spread:>10}  {t['final_mean']:.4f}")
    if args.seeds < 2:
        print("(± is the sample std over seeds, and the penalty matrix a paired t-test over seeds: both need "
              "--seeds 2 or more)")
    if args.seeds >= 2 and len(strategies) >= 2:
        pm = penalty_matrix(comparison)
        print(f"penalty matrix column means (how often each is significantly beaten, lower is better; "
              f"{pm.n_checkpoints} checkpoints, paired t-tests, p < {pm.alpha}):")
        for name, v in sorted(zip(pm.strategies, pm.column_means), key=lambda t: t[1]):
            print(f"{name:>12}  {v:.3f}")
    from bait_core.learning.compare import seeds_note
    note = seeds_note(args.seeds)
    if note:
        print(f"note: {note}")
    print(f"records, comparison.json (opens on the app's Compare page), summary.csv and curves.html in {out}")
    if failed:
        print(f"{len(failed)} of {n_runs} runs failed (each named above, on stderr); comparison.json holds the "
              f"{len(records)} that finished.")
        for o in failed:
            print(f"failed: {o.error}")
        return 1
    return 0


# ----------------------------------------------------------------------------- next (a person labels, headless)

# Flags of `next` that are not part of a run's setup (allowed on every call).
_NEXT_CALL_FLAGS = ("command", "func", "run", "labels", "threads", "quiet", "oracle", "initial")
_TO_LABEL = "to_label.csv"


def _add_next(sub: Any) -> None:
    p = _strategy_parser(
        sub, "next", help="one round of a run labeled by people, from files (no app needed)",
        description="The headless labeling loop. The first call creates RUN_DIR from the setup flags (--data, "
                    "--label-column, --model, --strategy, --batch-size, ...): the data file's labeled rows are "
                    "the initial labeled set, and the first batch is picked. Every later call adds the labels of "
                    "--labels (a CSV with columns id,label: id = the 0-based data row of a table, header excluded, "
                    "or the file's path (or unique file name) in an image ZIP), retrains, picks the next batch and "
                    f"writes RUN_DIR/{_TO_LABEL} (id first, then the row's values as the table file has them "
                    "(the label column left out) or the image's file, then round, order, prediction, confidence "
                    "and an empty label column: fill it in and give the file back with --labels). Picks of the "
                    "previous batch without a label go back to the pool. Ids already labeled, unknown ids and "
                    "unknown classes exit 2 with one line, with nothing written. RUN_DIR is a run folder of the "
                    "app's runs folder (its parent): the app resumes it.")
    p.add_argument("--run", required=True, metavar="RUN_DIR",
                   help="the run's folder (created by the first call; its name is the run id: letters, digits, "
                        "'_', '.', '-')")
    p.add_argument("--labels", metavar="NEW.csv", help="labels to add: a CSV with columns id,label (other columns "
                                                        f"are ignored, so a filled-in {_TO_LABEL} works)")
    _add_run_options(p, single=True, data_required=False, initial=False, rounds_default=1000)
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--first-batch", dest="first_batch", choices=("k-center", "random"), default="k-center",
                   help="how a run with no labels at all picks its first batch, on the input features "
                        "(default k-center)")
    p.add_argument("--classes", metavar="A,B,C", default=None,
                   help="the class names, comma-separated, in your order (classification): lets a file with "
                        "few or no labels be read (then there is no test split and no test metric)")
    p.set_defaults(func=_cmd_next, oracle="person", initial=0)


def _next_setup_flags(args: argparse.Namespace) -> list[str]:
    """The setup flags given (set away from their defaults) in this call of `next`."""
    defaults = vars(build_parser().parse_args(["next", "--run", "x"]))
    return [_flag(k) for k, v in vars(args).items()
            if k not in _NEXT_CALL_FLAGS and not k.startswith("_") and k in defaults and v != defaults[k]]


def pd_na() -> Any:
    import pandas as pd
    return pd.NA


def _to_label_csv(ex: Any) -> tuple[str, int]:
    """(CSV text, rows) of the batch waiting for labels: id, the point's values as its table file has them
    (or, without the file, the model's features) or its file (images), round, order, prediction,
    confidence, label (empty). Header only when no batch waits."""
    from bait_core.learning.labels import original_rows, point_ids
    from bait_core.records.csv_text import csv_text
    ds = ex.dataset
    tail = ["round", "order", "prediction", "confidence", "label"]
    p = ex.labels.pending
    src = ex.sources
    raw = None if p is None or src is None else original_rows(ds, src.data_bytes, src.data_name, p.indices,
                                                              options=src.read_options)
    if ds.is_image:
        names = ["file"]
    elif raw is not None:
        names = [str(c) for c in raw.columns]
    else:
        names = list(ds.feature_names or [f"x{j}" for j in range(ds.n_features)])
    reserved = {c.lower() for c in (*tail, "id", "file")}
    middle = names if ds.is_image else [f"feature_{n}" if n.strip().lower() in reserved else n for n in names]
    rows: list = []
    if p is not None:
        ids = point_ids(ds)
        rr = next((r for r in ex.rounds if r.round == p.round), ex.rounds[-1])
        trained = rr.n_labeled > 0                      # a round with no labels has no model to ask: no guesses
        for order, i in enumerate(p.indices):
            if not trained:
                pred: Any = ""
            elif ds.task == "classification":
                pred = str(ds.classes[int(rr.predictions[i])])
            else:
                pred = f"{float(rr.predictions[i]):.6g}"
            conf = "" if rr.confidence is None or not trained else f"{float(rr.confidence[i]):.4f}"
            cells = ([ids[i]] if ds.is_image else
                     ["" if v is None or v is pd_na() else str(v) for v in raw.iloc[order].tolist()] if raw is not None
                     else [f"{float(v):.6g}" for v in np.asarray(ds.X[i]).reshape(-1)])
            rows.append([ids[i], *cells, p.round, order, pred, conf, ""])
    return csv_text(["id", *middle, *tail], rows, lineterminator="\n"), len(rows)


def _cmd_next(args: argparse.Namespace) -> int:
    """`next`, one call at a time per RUN_DIR: an exclusive lock on RUN_DIR's parent/.NAME.lock (fcntl;
    where there is none, e.g. Windows, no lock) — a second call while one works exits 2, writing nothing."""
    from bait_core.service.runstore import valid_run_id

    folder = Path(args.run)
    name = folder.name
    if not str(args.run).strip() or not valid_run_id(name):
        raise CliError(f"--run {args.run}: the folder's name is the run id and may hold only letters, digits, "
                       "'_', '.' and '-' (not starting with '.' or '-').")
    try:
        import fcntl
    except ImportError:                                  # pragma: no cover - not POSIX
        return _cmd_next_locked(args, folder, name)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        lock = open(folder.parent / f".{name}.lock", "a")
    except OSError as e:
        raise CliError(f"--run {args.run}: its folder cannot be written ({e.strerror or e}).") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CliError(f"another `next` is working on {args.run} right now; run this one after it has finished "
                           "(nothing was written).") from None
        try:
            return _cmd_next_locked(args, folder, name)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _cmd_next_locked(args: argparse.Namespace, folder: Path, name: str) -> int:
    from bait_core.learning.labels import read_labels_csv
    from bait_core.service.runstore import LIVE, RunStore, atomic_write

    parent = folder.parent
    store = RunStore(parent)
    existing = (folder / "setup.json").is_file()
    if folder.exists() and not folder.is_dir():
        raise CliError(f"--run {args.run} is a file, not a run folder.")
    lines: list[str] = []
    if not existing:
        if args.data is None:
            raise CliError(f"--run {args.run} holds no run yet: the first call needs --data FILE (and the setup: "
                           "--label-column, --model, --strategy, --batch-size, ...).")
        if args.labels is not None:
            raise CliError("--labels is for the calls after the first: the first call reads the data file's labels "
                           f"and picks the first batch; label its {_TO_LABEL} and give those labels on the next call.")
        if folder.is_dir() and any(folder.iterdir()):
            raise CliError(f"--run {args.run} is a folder with files but no run (no setup.json); give a new or "
                           "empty folder.")
        from bait_core.records.run_record import MAX_SEED
        if not 0 <= args.seed <= MAX_SEED:
            raise CliError(f"--seed must be a whole number from 0 to {MAX_SEED:,}, got {args.seed}.")
        _check_run_options(args, [args.strategy], [args.seed])
        store.check_writable()
        from dataclasses import replace
        from bait_core.learning.build import build_run
        from bait_core.service.explorer import Explorer
        dataset = _load_data(args, args.seed)
        config = replace(_config(args, args.strategy, args.seed),
                         initial=int(np.asarray(dataset.has_label, dtype=bool).sum()))
        if config.initial >= dataset.X.shape[0]:
            col = getattr(dataset.report, "label_column", None) if dataset.report is not None else None
            raise CliError(f"every one of the {dataset.X.shape[0]:,} pool points already has a label"
                           + (f" (column {col!r})" if col else "") + ": nothing is left for a person to label. Is the "
                           "label column right (--label-column)? A table of features only needs a class list "
                           "(--classes A,B,C) and no column named label, target, class or y.")
        model = build_run(config, dataset=dataset, model=_build_model(config, dataset, args.weights),
                          memory_limit=_memory_limit(args)).model
        ex = Explorer.start(dataset, model, config, store=store, sources=_run_sources(args, config), run_id=name)
        lines.append(f"run {name} created in {parent}: {config.initial} labeled point(s) from the data file, "
                     f"{dataset.X.shape[0]:,} pool points")
        added = 0
    else:
        given = _next_setup_flags(args)
        if given:
            raise CliError(f"--run {args.run} already holds a run; drop {', '.join(given[:6])} (the setup is given "
                           "on the first call only), or give a new RUN_DIR for a new run.")
        blob = None
        if args.labels is not None:
            lp = check_input_file(args.labels, "labels")
            try:
                blob = lp.read_bytes()
            except OSError as e:
                raise CliError(f"cannot read labels file {args.labels}: {e.strerror or e}") from None
        ex = store.resume(name)
        LIVE.discard(name)
        if ex.finished:
            raise CliError(f"run {name} is finished (its final round is recorded, or every pool point is labeled); "
                           "start a new run in another RUN_DIR.")
        # everything checked before anything is written: the file, its ids and classes, no label twice
        pairs = [] if blob is None else read_labels_csv(blob, ex.dataset, what=f"labels file {args.labels}")
        p = ex.labels.pending
        if blob is None and p is not None:
            text, n = _to_label_csv(ex)
            _atomic(atomic_write, folder / _TO_LABEL, text)
            print(f"round {p.round}: its {n} pick(s) still wait for labels (no --labels given); "
                  f"{folder / _TO_LABEL} rewritten")
            return 0
        out = (ex.add_labels(pairs, strict=True, what=f"labels file {args.labels}") if pairs else   # all checked first
               {"added": 0, "in_batch": 0})
        added = out["added"] + out["in_batch"]
        lines.append(f"labels added: {added} ({out['in_batch']} for the batch of round "
                     f"{p.round if p is not None else '-'}, {out['added']} for other points)")
        if p is not None:
            summary = ex.finish_batch()
            back = summary["skipped"] + summary["unanswered"]
            if back:
                lines.append(f"{back} pick(s) of round {p.round} had no label and went back to the pool")
    pool_left = bool((~ex.mask).any())
    if len(ex.rounds) >= ex.config.rounds or not pool_left:
        ex.evaluate()
        lines.append((f"all {ex.config.rounds} selection rounds are done" if pool_left else
                      "every pool point is labeled") + ": the final round trained on every label and was "
                     "evaluated; nothing more to label")
    else:
        ex.step()
    rr = ex.rounds[-1]
    ds = ex.dataset
    note = rr.selection.params.get("note") if rr.selection is not None else None
    if math.isfinite(rr.metric):
        metric = f"test {rr.metric_name} {rr.metric:.4f}"
    elif len(ds.y_test) == 0:
        metric = "no test set (no test metric)"
    else:
        metric = f"no test {rr.metric_name} (no labels to train on yet)"
    text, n = _to_label_csv(ex)
    _atomic(atomic_write, folder / _TO_LABEL, text)
    for line in lines:
        print(line)
    print(f"round {rr.round}: labels added {added}, labels in total {ex.n_labeled}; {metric}")
    if note:
        print(f"note: {note}")
    print(f"to label: {n} point(s) in {folder / _TO_LABEL}" + (
        f" (fill in its label column and run: {_PROG} next --run {args.run} --labels {folder / _TO_LABEL})"
        if n else ""))
    print(f"record: {folder / 'record.json'}; open it in the app: bash scripts/app.sh -- --runs-dir {parent} "
          f"(Records page → Recent runs → {folder.name})")
    return 0


def _atomic(write: Callable[[Path, str], Any], path: Path, text: str) -> None:
    try:
        write(path, text)
    except OSError as e:
        raise CliError(f"cannot write {path}: {e.strerror or e}") from None


# ----------------------------------------------------------------------------- layouts

def _add_layouts(sub: Any) -> None:
    from bait_core.viz.layout_cache import BUILTIN_LAYOUT_DATASETS, CACHE_ENV, CACHE_FOLDER
    p = sub.add_parser(
        "layouts", help="precompute the app's UMAP maps of the built-in datasets into its layout cache",
        description="Compute the UMAP map of each built-in dataset's inputs (what the app's Rounds page draws) "
                    "and write it to the app's layout cache, so the app draws UMAP at once from its first page "
                    "view; maps already in the cache are only checked. The app does the same in the background "
                    "when its server starts; this is for preparing a machine before the first launch. The cache "
                    f"folder is --cache-dir, else ${CACHE_ENV}, else {CACHE_FOLDER}/ beside the runs folder "
                    "(--runs-dir, $BAIT_EXPLORER_RUNS_DIR or ./runs), as the app finds it.")
    p.add_argument("--datasets", default=",".join(BUILTIN_LAYOUT_DATASETS),
                   help=f"comma-separated built-in datasets (default {','.join(BUILTIN_LAYOUT_DATASETS)})")
    p.add_argument("--cache-dir", metavar="DIR", default=None, help="the layout cache folder (created when missing)")
    p.add_argument("--runs-dir", metavar="DIR", default=None,
                   help="the app's runs folder, to find the cache beside it (default: $BAIT_EXPLORER_RUNS_DIR or ./runs)")
    p.add_argument("--seed", type=int, default=0,
                   help="the data split of the runs that will use the maps (default 0, the app's demo)")
    p.set_defaults(func=_cmd_layouts)


def _cmd_layouts(args: argparse.Namespace) -> int:
    from bait_core.records.run_record import MAX_SEED
    from bait_core.viz.layout_cache import BUILTIN_LAYOUT_DATASETS, LayoutCache, cache_dir, precompute
    if not 0 <= args.seed <= MAX_SEED:
        raise CliError(f"--seed must be a whole number from 0 to {MAX_SEED:,}, got {args.seed}.")
    names = [n.strip() for n in str(args.datasets).split(",") if n.strip()]
    bad = [n for n in names if n not in BUILTIN_LAYOUT_DATASETS]
    if not names or bad:
        raise CliError(f"--datasets: {', '.join(repr(b) for b in bad) or 'none given'}; the built-in datasets with "
                       f"a UMAP map are {', '.join(BUILTIN_LAYOUT_DATASETS)} (the 2-D toy sets use their own coordinates).")
    if args.cache_dir is not None:
        folder = Path(os.path.abspath(args.cache_dir))
    else:
        from bait_core.service.runstore import default_runs_dir
        folder = cache_dir(args.runs_dir if args.runs_dir is not None else default_runs_dir())
    said: list[str] = []
    cache = LayoutCache(folder, log=said.append)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(f"cannot create the layout cache folder {folder}: {e.strerror or e}") from None
    if not os.access(folder, os.W_OK):
        raise CliError(f"the layout cache folder {folder} is not writable; give another with --cache-dir.")
    print(f"layout cache: {folder}", flush=True)
    t0 = time.perf_counter()

    def show(item: Any) -> None:
        what = ("found in the cache" if item.source == "cache" else
                "computed" + ("" if item.saved else " (NOT saved: " + (said[0] if said else "write failed") + ")"))
        print(f"  {item.dataset:<9} {item.n_points:>6,} points  {what} in {item.seconds:.2f} s  {item.path.name}",
              flush=True)
    done = precompute(cache, names, seed=args.seed, on_done=show)
    computed = sum(d.source == "computed" for d in done)
    print(f"{computed} computed, {len(done) - computed} found, in {time.perf_counter() - t0:.1f} s")
    return 0 if all(d.saved for d in done) else 1


# ----------------------------------------------------------------------------- entry point

def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=_PROG, description="BAIT Explorer: batch active learning from the command line.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    _add_select(sub)
    _add_run(sub)
    _add_compare(sub)
    _add_next(sub)
    _add_layouts(sub)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 2 bad input, 130 interrupted)."""
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "threads", None) is None:
            return int(args.func(args))
        from bait_core.common.threads import limit_threads
        with limit_threads(args.threads, pin=True):        # the whole command; strategies keep it
            return int(args.func(args))
    except (CliError, ValueError) as e:
        msg = " ".join(str(e).split())                    # exactly one line
        print(f"error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:                                # `... | head`: the reader left; stop quietly
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        return 0


if __name__ == "__main__":
    sys.exit(main())
