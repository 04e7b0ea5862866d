"""Memory and time a selection will need, estimated from its sizes before anything is allocated.

    est = estimate("bait", N, d, K, B, n, device="cpu", dtype=torch.float64)
    check_fits(est, available_memory("cpu"))       # ValueError with a sentence when it does not fit

Every strategy in :data:`bait_core.STRATEGIES` runs through :func:`memory_checked`, which reads the
sizes from its arguments (no conversion, no copy), estimates, and refuses with a ValueError before
the strategy allocates anything. ``memory_limit=`` (bytes) on any strategy call replaces the
automatic limit (80 % of the free memory of the device the big arrays live on).

The counts follow the allocations of the code (bait.py, fisher.py, baselines.py, selection.py);
sizes: N pool points, n labeled, Nu = N − n unlabeled, d embedding size, K classes (1 for
regression), B batch, D = K·d, m = n·K, s bytes per element of the compute dtype.

* bait     (D = (K−1)·d, m = n·(K−1): the engine works in the K−1 class directions, bait-math §8.1)
           2·D²·s (A = M⁻¹ and F, which becomes A F A; the dense set-up's Cholesky factor lives in M's
           storage, the low-rank set-up builds A from J Jᵀ after F) + 4·Nu·K²·s (G, Gᵀ, P, Q)
           + Nu·d·s + N·(d+K)·s (the validated pool) + bounded row-chunk buffers; the low-rank set-up
           adds 4·D·m·s (W, J/X, Y, the right factors) and, on small pools, N·(d + K²)·s (Gram form);
           the factored set-up keeps no D×D matrix: (2·D·q + 5·D·m)·s (J with q = m + commits·K
           columns, F J, [J | Z'], W) + Nu·K²·s (Vᵀ F V) + N·(d + K²)·s instead of the 2·D²·s.
* badge    Nu·(d+K)·s (the factors h and a of g = a ⊗ h; the Nu×D matrix is never built) + about
           10·Nu·s of per-point vectors (norms, D², its cumulative sum, one step's distances) + the pool.
* badge-sklearn  Nu·D·8 (float64 gradient embeddings, handed to scikit-learn's k-means++ without a
           copy) + Nu·(d+K)·8 + the pool.
* coreset  min(Nu·n, max(Nu, 2²⁴))·s (one chunk of distances) + 2·Nu·d·s + the pool: never N×N.
* entropy, margin, confidence: the pool + 3·Nu·K·s.   random: the pool.

Times are multiply-add counts divided by a rough rate per device and dtype (see ``_RATE``): an
order of magnitude, for a progress hint, not a promise. bench/bench_estimate.py prints estimated
against measured peak memory and time.
"""

from __future__ import annotations

import contextvars
import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Union

import torch

from bait_core.common.threads import check_threads, choose_threads, limit_threads, pinned_threads

__all__ = ["Estimate", "estimate", "available_memory", "check_fits", "memory_checked", "thread_policy", "work_of",
           "format_bytes", "parse_bytes", "DEFAULT_FRACTION", "APPROX_OFFER_SECONDS", "approximation_offer",
           "format_seconds"]

DEFAULT_FRACTION = 0.8       # share of the free memory a selection may plan to use
# When exact BAIT is estimated to take longer than this (seconds), the CLI and the app offer an
# approximation (approximation_offer); they never switch to one by themselves.
APPROX_OFFER_SECONDS = 60.0

# multiply-adds per second, roughly, for (device type, bytes per element); CPU rates are per thread
_RATE = {("cpu", 8): 2.5e9, ("cpu", 4): 5e9, ("cuda", 8): 5e12, ("cuda", 4): 1e13,
         ("mps", 8): 2e11, ("mps", 4): 2e12}
# element-wise passes (validation, copies) and memory-bound scans: elements per second, bytes per second
_PASS_RATE = {"cpu": 3e8, "cuda": 1e11, "mps": 1e10}
_SCAN_BYTES = {"cpu": 5e9, "cuda": 2e12, "mps": 1e11}
_CHUNK = 1 << 20             # bait._ROW_CHUNK_ELEMENTS
_FISHER_CHUNK = 1 << 21      # fisher.CHUNK_ELEMENTS
_CORESET_CHUNK = 1 << 24     # baselines._CHUNK_ELEMS


@dataclass(frozen=True)
class Estimate:
    """Peak extra memory (bytes) and rough run time (seconds) of one selection.

    detail: the largest allocations in words ("D = (K−1)·d = 30,000: two 30,000×30,000 float64
    matrices"). parts: bytes per allocation group. device: where those bytes live ("cpu", "cuda:0").
    """

    bytes: int
    seconds: float
    detail: str
    strategy: str = ""
    device: str = "cpu"
    parts: Mapping[str, int] = field(default_factory=dict)


def format_bytes(b: float) -> str:
    """'14.4 GB', '850 MB', '12 kB' (decimal units, as the OS reports memory)."""
    b = float(b)
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if b >= scale:
            v = b / scale
            return f"{v:.1f} {unit}" if v < 100 else f"{v:.0f} {unit}"
    return f"{b:.0f} bytes"


def parse_bytes(text: Union[str, int, float]) -> int:
    """'8G', '512M', '1.5GB', '2e9' or a number of bytes -> bytes (decimal: G = 10⁹; 'GiB' = 2³⁰).

    Raises ValueError with a sentence for anything else or a value ≤ 0."""
    if isinstance(text, numbers.Real) and not isinstance(text, bool):
        value = float(text)
    else:
        s = str(text).strip().replace(" ", "")
        units = {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6, "g": 1e9, "gb": 1e9, "t": 1e12, "tb": 1e12,
                 "kib": 2 ** 10, "mib": 2 ** 20, "gib": 2 ** 30, "tib": 2 ** 40}
        i = len(s)
        while i > 0 and s[i - 1].isalpha():
            i -= 1
        try:
            value = float(s[:i]) * units[s[i:].lower()]
        except (ValueError, KeyError):
            raise ValueError(f"memory limit {text!r} is not a size; write e.g. 8G, 512M or a number of bytes.") from None
    if not (math.isfinite(value) and value >= 1):
        raise ValueError(f"memory limit must be a positive size of at least one byte, got {text!r}.")
    return int(value)


def _itemsize(dtype: Any) -> int:
    if dtype in (torch.float64, "float64"):
        return 8
    if dtype in (torch.float32, "float32"):
        return 4
    raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}.")


def _dtype_name(s: int) -> str:
    return "float64" if s == 8 else "float32"


def _device_type(device: Any) -> str:
    if device is None:
        return "cpu"
    return torch.device(device).type


def _rate(device: Any, s: int) -> float:
    kind = _device_type(device)
    r = _RATE.get((kind, s), _RATE[("cpu", s)])
    return r * max(1, torch.get_num_threads()) if kind == "cpu" else r


def _whole(name: str, v: Any, low: int) -> int:
    if isinstance(v, bool) or not isinstance(v, numbers.Integral) or int(v) < low:
        raise ValueError(f"{name} must be a whole number ≥ {low}, got {v!r}.")
    return int(v)


def _detail(parts: list[tuple[int, str]], total: int) -> str:
    """The allocations that make up at least a tenth of the total, largest first."""
    big = [w for b, w in sorted(parts, key=lambda t: -t[0]) if b >= 0.1 * total and w]
    return "; ".join(big[:3]) if big else "small arrays"


def estimate(strategy: str, N: int, d: int, K: int, B: int, n: int = 0, *, device: Any = "cpu",
             dtype: Any = torch.float64, setup: str = "auto", oversample: float = 2.0,
             approximation: str = "none", top_classes: int = 10, pool_sample: int = 0) -> Estimate:
    """Peak extra memory and rough time of ``STRATEGIES[strategy]`` on a pool of N points
    (n labeled) with d-dimensional embeddings and K classes (K = 1: regression), picking B.

    device, dtype: where and in what precision it computes (bytes count on that device; badge-sklearn's
    k-means++ always runs on the CPU in float64). setup, oversample: BAIT's options ("auto" picks
    the set-up as bait_select does). approximation, top_classes, pool_sample: BAIT's approximations
    (selection.approx): a pool sample shrinks the candidates to pool_sample and F's pool to n + pool_sample;
    top-c shrinks the per-candidate blocks and each commit to rank c (D = K·d unchanged); binary makes
    D = d and the blocks 1×1. Returns :class:`Estimate` (bytes: int, seconds: float, detail:
    str). Raises ValueError for an unknown strategy, negative sizes or a bad dtype. The formulas are
    in this module's docstring; they follow bait.py, fisher.py and baselines.py.
    """
    N, d, K = _whole("N", N, 0), _whole("d", d, 0), _whole("K", K, 1)
    n, B = _whole("n", n, 0), _whole("B", B, 0)
    s = _itemsize(dtype)
    dev = str(torch.device(device)) if device is not None else "cpu"
    Nu = max(0, N - n)
    B = min(B, Nu)
    # prepare_inputs: a copy in the compute dtype, and torch.isfinite's |x| temporary and masks
    pool = N * d * (2 * s + 3) + 2 * N * K * s
    parts: list[tuple[int, str]] = [(pool, f"the pool's {N:,}×{d:,} embeddings")]
    madds, scan = 0.0, 0.0
    if strategy == "bait":
        from bait_core.selection.approx import check_approximation
        from bait_core.selection.bait import _DIRECT_CHECK, _factored_bytes, _factored_cost, _setup_costs, choose_setup

        approx = check_approximation(approximation, top_classes, pool_sample)
        if approx.sample_active(Nu):                                   # the candidates and F's pool shrink
            Nu, N = approx.pool_sample, n + approx.pool_sample
            B = min(B, Nu)
        binary = approx.kind == "binary" and K > 1
        # class blocks: the engine's K−1 directions (bait-math §8.1); binary: one block (D = d)
        Kb = 1 if binary else max(1, K - 1)
        r = approx.top_classes if approx.top_c_active(K) else Kb       # factor columns: blocks r×r
        K = Kb
        D, m = K * d, n * r
        dense_cost, low_cost = _setup_costs(N, Nu, n, K, d)
        T = min(math.ceil(max(1.0, float(oversample)) * B), Nu)
        R = T - B
        # bait_select takes the factored state only while κ·eps ≤ _DIRECT_CHECK; κ ≥ 1, so never in float32
        eps = torch.finfo(torch.float32 if s == 4 else torch.float64).eps
        used = choose_setup(setup, N, Nu, n, K, r, d, T + R, s, dev, factored_ok=eps <= _DIRECT_CHECK)
        lowrank, factored = used == "low-rank", used == "factored"
        if factored:
            parts.append((_factored_bytes(N, Nu, n, K, r, d, T + R, s),
                          f"D = {'d' if binary else '(K−1)·d'} = {D:,}, factored (no {D:,}×{D:,} matrix): "
                          f"{D:,}×{m + (T + R) * r:,} and smaller factors"))
        else:
            parts.append((2 * D * D * s, f"D = {'d' if binary else '(K−1)·d'} = {D:,}: two {D:,}×{D:,} "
                                         f"{_dtype_name(s)} matrices"))
        parts.append((2 * Nu * (K * r + r * r) * s + Nu * d * s, f"four {Nu:,}×{r}×{r} per-candidate blocks"))
        rows = min(Nu, max(256, _CHUNK // max(K * r, d // 2)))
        fisher_rows = min(N, 1024, max(256, _FISHER_CHUNK // max(1, D)))   # fisher._chunk_rows
        parts.append((rows * (4 * K * r + 4 * r * r + d) * s + (0 if factored else 3 * fisher_rows * D * s),
                      "work buffers"))
        if lowrank:
            parts.append((4 * D * m * s, f"four {D:,}×{m:,} low-rank factors"))
            gram = N * (d + K * K) < K * K * d * d / 2
            if gram:
                parts.append((N * (d + K * K) * s, "the Gram form's pool copy"))
            lr_rows = min(Nu, max(256, _CHUNK // max(1, K * m)))       # _lowrank_setup's P, Q row blocks
            parts.append((2 * (3 if gram else 2) * lr_rows * K * m * s, "low-rank row blocks"))
        if factored:                                                   # set-up and every commit's operators
            madds, step = _factored_cost(N, Nu, n, K, r, d, T + R), 0.0
        else:
            madds = (low_cost if lowrank else dense_cost) + N * D * D / 2 + (0 if lowrank else n * D * D / 2)
            step = (3 * r + 2) * D * D                                 # A, E rank-r updates, A V*, E V*
        # per candidate and forward step: the projection (2·K·r·d) and the batched r×r work, which the
        # trace bound and the deferred updates keep near one r³ a candidate (measured at K = 100: 1.2·r³
        # at this module's rate); a backward step solves every member's r×r system
        madds += T * (step + Nu * (2 * K * r * d + 1.5 * r ** 3)) + R * (step + T * 4 * r ** 3)
    elif strategy == "badge":
        parts.append((Nu * (d + K) * s, f"the factors of the {Nu:,} gradient embeddings ({d:,} + {K} numbers each)"))
        parts.append((10 * Nu * s, "per-point distances"))
        madds = Nu * (d + K) * (2.0 + 2.0 * B) + 10.0 * B * Nu
        scan = B * Nu * (d + K + 20) * s                               # each pick reads h, a and ~20 vectors
    elif strategy == "badge-sklearn":
        D = K * d
        dev = "cpu"                                                    # scikit-learn's k-means++
        # the gradient embeddings, and np.linalg.norm(X, axis=1)'s full-size temporary (x·x)
        parts.append((2 * Nu * D * 8, f"two {Nu:,}×{D:,} float64 arrays: the gradient embeddings (K·d = {D:,}) "
                                      "and a temporary of their norms"))
        parts.append((Nu * (d + K) * 8 + Nu * 8 * (4 + math.ceil(2 + math.log(max(B, 1)))), "candidate copies"))
        madds = Nu * D * (2 + B * (2 + math.log(max(B, 1))))
        scan = 3.0 * B * Nu * D * 8                                    # k-means++ reads X ~3 times a pick
    elif strategy == "coreset":
        parts.append((min(Nu * n, max(Nu, _CORESET_CHUNK)) * s, "one chunk of distances"))
        parts.append((2 * Nu * d * s + 4 * Nu * s, f"two {Nu:,}×{d:,} candidate arrays"))
        madds = 12.0 * Nu * n * d + 2.0 * B * Nu * d                  # cdist without GEMM: slow madds
    elif strategy in ("entropy", "margin", "confidence"):
        parts.append((3 * Nu * K * s, "candidate probabilities"))
        madds = 10.0 * N * K
    elif strategy == "random":
        parts.append((2 * N * 8, "index arrays"))
        madds = float(N)
    else:
        from bait_core.selection.registry import unknown_strategy   # the registry imports this module
        raise unknown_strategy(strategy)
    total = int(sum(b for b, _ in parts))
    kind = _device_type(dev)
    seconds = (madds / _rate(dev, 8 if strategy == "badge-sklearn" else s) + 20.0 * N * (d + K) / _PASS_RATE.get(kind, 3e8)
               + scan / _SCAN_BYTES.get(kind, 5e9))
    return Estimate(bytes=total, seconds=seconds,
                    detail=_detail(parts, total), strategy=strategy, device=dev,
                    parts={w: b for b, w in parts})


def format_seconds(sec: float) -> str:
    """'~40 s', '~12 min', '~3.5 h' (an estimate's order of magnitude)."""
    if sec < 120:
        return f"~{max(1, round(sec)):.0f} s"
    if sec < 2 * 3600:
        return f"~{sec / 60:.0f} min"
    if sec < 48 * 3600:
        return f"~{sec / 3600:.1f} h"
    if sec < 365 * 86400:
        return f"~{sec / 86400:.0f} days"
    return "more than a year"


def approximation_offer(N: int, d: int, K: int, B: int, n: int = 0, *, device: Any = "cpu",
                        dtype: Any = torch.float64, oversample: float = 2.0, where: str = "Setup > Approximation",
                        threshold: Optional[float] = None, top_classes: int = 10,
                        pool_sample: int = 2000) -> Optional[str]:
    """None when exact BAIT on these sizes is estimated at ≤ `threshold` seconds (default
    APPROX_OFFER_SECONDS, read at call time);
    otherwise one sentence offering the approximations that help (never applied by itself), e.g.
    "Exact BAIT on this pool is estimated at ~25 min; the top-10 class approximation at ~40 s, the
    binary one at ~2 s (Setup > Approximation)." `where` says how to choose one (the app's widget, the
    CLI's flags). top-c is offered when K > top_classes, binary when K > 2, a pool sample of
    `pool_sample` points when the unlabeled pool is larger than that."""
    kw = dict(device=device, dtype=dtype, oversample=oversample)
    exact_est = estimate("bait", N, d, K, B, n, **kw)
    exact = exact_est.seconds
    if exact <= (APPROX_OFFER_SECONDS if threshold is None else threshold):
        return None
    try:
        free = DEFAULT_FRACTION * available_memory(device)
    except ValueError:
        free = math.inf

    def useful(est: Estimate) -> bool:                                 # fits, and at least twice as fast
        return est.bytes <= free and est.seconds <= exact / 2

    offers = []
    if K > top_classes:
        e = estimate("bait", N, d, K, B, n, approximation="top-c", top_classes=top_classes, **kw)
        if useful(e):
            offers.append(f"the top-{top_classes} class approximation at {format_seconds(e.seconds)}")
    if K > 2:
        e = estimate("bait", N, d, K, B, n, approximation="binary", **kw)
        if useful(e):
            offers.append(f"the binary one at {format_seconds(e.seconds)}")
    if N - n > max(pool_sample, B):
        e = estimate("bait", N, d, K, B, n, pool_sample=pool_sample, **kw)
        if useful(e):
            offers.append(f"a {pool_sample:,}-point pool sample at {format_seconds(e.seconds)}")
    if not offers:
        return None
    fits = "" if exact_est.bytes <= free else " (and needs more memory than is free)"
    return (f"Exact BAIT on this pool is estimated at {format_seconds(exact)}{fits}; "
            + ", ".join(offers) + f" ({where}). Approximate picks are labelled as such.")


def available_memory(device: Any = "cpu") -> int:
    """Bytes free for new allocations on `device`: psutil.virtual_memory().available on the CPU
    (and MPS, which shares it); on CUDA the driver's free memory (torch.cuda.mem_get_info) plus what
    torch's caching allocator holds but does not use. ValueError for a device torch cannot use."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r}: CUDA is not available on this machine.")
        free, _ = torch.cuda.mem_get_info(dev)
        cached = torch.cuda.memory_reserved(dev) - torch.cuda.memory_allocated(dev)
        return int(free + max(0, cached))
    import psutil
    return int(psutil.virtual_memory().available)


def check_fits(est: Estimate, available: float, fraction: float = DEFAULT_FRACTION, *,
               limit_given: bool = False) -> None:
    """ValueError with a sentence when est.bytes exceeds fraction·available (bytes), e.g.

    "BAIT on this pool needs about 14.4 GB (D = (K−1)·d = 30,000: two 30,000×30,000 float64 matrices),
    but 9.8 GB is free. Use a smaller embedding ...". limit_given: `available` is a limit the
    caller set (memory_limit=), said so in the sentence."""
    if est.bytes <= fraction * available:
        return
    from bait_core.selection.registry import SPECS                 # the registry imports this module
    spec = SPECS.get(est.strategy)
    name = "This selection" if spec is None else spec.label
    advice = "Use a pool sample or a machine with more memory." if spec is None else spec.memory_advice
    if limit_given:
        advice = "Raise the memory limit (--memory-limit, memory_limit=), or: " + advice[0].lower() + advice[1:]
    where = "" if est.device == "cpu" else f" on {est.device}"
    have = (f"the memory limit is {format_bytes(available)}" if limit_given
            else f"{format_bytes(available)} is free{where}"
            + (f" (a selection may use at most {fraction:.0%} of it)" if fraction < 1 and est.bytes <= available else ""))
    raise ValueError(f"{name} on this pool needs about {format_bytes(est.bytes)} ({est.detail}), but {have}. "
                     f"{advice}")


# ----------------------------------------------------------------------------- the strategies' guard

def _shape(x: Any) -> Optional[tuple]:
    shape = getattr(x, "shape", None)
    if shape is None:
        return None                                        # lists etc.: prepare_inputs says what is wrong
    try:
        return tuple(int(v) for v in shape)
    except (TypeError, ValueError):
        return None


def _n_labeled(labeled: Any, N: int) -> Optional[int]:
    if labeled is None:
        return 0
    if isinstance(labeled, (list, tuple)):
        return len(labeled) if all(isinstance(v, numbers.Integral) and not isinstance(v, bool)
                                   for v in labeled) else None
    shape = _shape(labeled)
    if shape is None or len(shape) != 1:
        return None
    dt = str(getattr(labeled, "dtype", ""))
    if "bool" in dt:
        return int(labeled.sum()) if shape == (N,) else None
    return shape[0]


def sizes_of(embeddings: Any, probs: Any, labeled: Any) -> Optional[tuple[int, int, int, int]]:
    """(N, d, K, n) read from the arguments' shapes without converting them; None when they are not
    plain arrays of the expected rank (the strategy's own validation then explains)."""
    e = _shape(embeddings)
    if e is None or len(e) != 2:
        return None
    N, d = e
    K = 1
    if probs is not None:
        p = _shape(probs)
        if p is None or len(p) != 2:
            return None
        K = p[1]
    n = _n_labeled(labeled, N)
    if n is None or n > N:
        return None
    return N, d, K, n


# The memory_limit= (bytes) of the memory_checked call running in this context, None when the caller gave none:
# a strategy that changes its plan after the up-front check (bait_select's ill-conditioned fallback from the
# factored state to the D×D pair) checks the new plan against the same limit (check_call_fits).
_CALL_LIMIT: contextvars.ContextVar[Optional[float]] = contextvars.ContextVar("memory_limit", default=None)


def check_call_fits(est: Estimate, limit: Any = ...) -> None:
    """check_fits against the caller's memory limit (bytes; by default that of the memory_checked call
    running now), or, when there is none, against the default fraction of est.device's free memory."""
    if limit is ...:
        limit = _CALL_LIMIT.get()
    if limit is not None:
        check_fits(est, limit, 1.0, limit_given=True)
    else:
        check_fits(est, available_memory(est.device))


def memory_checked(name: str) -> Callable:
    """Decorator for a strategy function: take ``memory_limit`` (bytes, or None = 80 % of the free
    memory of the compute device) off the keyword arguments, estimate the selection from its
    arguments' shapes and raise ValueError (check_fits' sentence) before the strategy runs when it
    does not fit. Arguments it cannot read are left to the strategy's own validation."""
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def guarded(embeddings: Any, probs: Any, labeled: Any, batch_size: Any, *args: Any,
                    memory_limit: Optional[float] = None, **kw: Any) -> Any:
            limit = None if memory_limit is None else parse_bytes(memory_limit)
            sizes = sizes_of(embeddings, probs, labeled)
            if sizes is not None and isinstance(batch_size, numbers.Integral) and not isinstance(batch_size, bool):
                from bait_core.selection.base import resolve_device
                device = resolve_device(embeddings, kw.get("device"))
                dtype = kw.get("dtype", torch.float64)
                options = {}
                if name == "bait":
                    options = {k: kw[k] for k in ("setup", "oversample", "approximation", "top_classes", "pool_sample")
                               if k in kw}
                    if not isinstance(options.get("oversample", 2.0), numbers.Real) or options.get("setup", "auto") \
                            not in ("auto", "dense", "low-rank", "factored"):
                        options = {}                           # bait_select explains a bad option
                    try:
                        from bait_core.selection.approx import check_approximation
                        check_approximation(options.get("approximation", "none"), options.get("top_classes", 10),
                                            options.get("pool_sample", 0))
                    except ValueError:
                        options = {}                           # bait_select explains a bad option
                if dtype in (torch.float32, torch.float64):
                    N, d, K, n = sizes
                    est = estimate(name, N, d, K, max(0, int(batch_size)), n, device=device, dtype=dtype, **options)
                    check_call_fits(est, limit)
            token = _CALL_LIMIT.set(limit)
            try:
                return fn(embeddings, probs, labeled, batch_size, *args, **kw)
            finally:
                _CALL_LIMIT.reset(token)
        guarded.memory_checked = name                          # type: ignore[attr-defined]
        return guarded
    return wrap


# ----------------------------------------------------------------------------- the strategies' thread policy

def work_of(name: str, embeddings: Any, probs: Any, labeled: Any, batch_size: Any, kw: Mapping[str, Any]) -> float:
    """Multiply-add equivalents of one call of strategy `name` (the estimate's seconds times its CPU
    rate per thread, so element-wise passes count too), read from the arguments' shapes without
    converting them; NaN when they cannot be read (the strategy's own validation then explains)."""
    sizes = sizes_of(embeddings, probs, labeled)
    if sizes is None or isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
        return math.nan
    dtype = kw.get("dtype", torch.float64)
    if dtype not in (torch.float32, torch.float64):
        return math.nan
    options = {}
    if name == "bait":
        options = {k: kw[k] for k in ("setup", "oversample", "approximation", "top_classes", "pool_sample") if k in kw}
        if not isinstance(options.get("oversample", 2.0), numbers.Real) or options.get("setup", "auto") \
                not in ("auto", "dense", "low-rank", "factored"):
            options = {}
    N, d, K, n = sizes
    try:
        est = estimate(name, N, d, K, max(0, int(batch_size)), n, device="cpu", dtype=dtype, **options)
    except ValueError:
        return math.nan
    return est.seconds * _rate("cpu", _itemsize(dtype))


def thread_policy(name: str) -> Callable:
    """Decorator for a strategy function: take ``threads`` (a whole number of CPU threads, or None)
    off the keyword arguments and run the strategy inside common.threads.limit_threads with

    * threads= when given (a ValueError sentence for anything but a whole number from 1 to the
      usable cores: common.threads.check_threads);
    * else the count a caller pinned on this thread (the CLI's --threads, run_round(threads=), the
      app's one-thread block for small pools);
    * else common.threads.choose_threads of the work (:func:`work_of`): small work on one thread,
      large work on the idle cores.

    On a GPU (device= or the embeddings' device) without threads= nor a pin the caller's settings
    are left as they are: the host only launches kernels. Either way the caller's torch and
    threadpoolctl settings are restored afterwards. The count does not change the picks, so it is
    not a strategy option and is not saved in run records.
    """
    def wrap(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def policed(embeddings: Any, probs: Any, labeled: Any, batch_size: Any, *args: Any,
                    threads: Optional[int] = None, **kw: Any) -> Any:
            if threads is not None:
                n = check_threads(threads)
            elif pinned_threads() is not None:
                n = pinned_threads()
            else:
                from bait_core.selection.base import resolve_device
                if resolve_device(embeddings, kw.get("device")).type != "cpu":
                    return fn(embeddings, probs, labeled, batch_size, *args, **kw)
                n = choose_threads(work_of(name, embeddings, probs, labeled, batch_size, kw))
            with limit_threads(n):
                out = fn(embeddings, probs, labeled, batch_size, *args, **kw)
            params = getattr(out, "params", None)
            if isinstance(params, dict):
                params["threads"] = n                          # the CPU threads it ran on
            return out
        policed.thread_policy = name                           # type: ignore[attr-defined]
        return policed
    return wrap
