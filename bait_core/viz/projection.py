"""2-D maps of a pool: an instant PCA layout, a UMAP layout computed in the background, and a cache.

Never imports streamlit.  A page shows :func:`pca_layout` at once (``LAYOUTS.pca_now``), asks for
UMAP with ``LAYOUTS.umap_async`` and switches to it when ``LAYOUTS.status(key) == "ready"``.

* :func:`pca_layout`   (N, 2) float32, flattened rows → PCA → each axis zero mean, unit std.
* :func:`umap_layout`  (N, 2) float32 with umap-learn, optionally seeded from a previous layout
  (``init``), standardised the same way so the two kinds of map share a scale.
* :class:`LayoutStore` a thread-safe, process-wide cache keyed by
  ``(dataset fingerprint, representation name, kind)``; :data:`LAYOUTS` is the singleton.  With a
  disk cache attached (``store.disk``, a :class:`bait_core.viz.layout_cache.LayoutCache`), a UMAP
  requested with a ``disk_name`` is read from disk when a valid file is there and written there when
  computed (only the inputs' layouts are given a name; per-run layouts stay in memory).

UMAP's first fit in a process pays numba's JIT (≈ 10–35 s); :meth:`LayoutStore.warm_up` runs tiny
fits once in a background thread so that the first real fit is fast.  Global RNG state is untouched:
randomness comes only from ``seed``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import os
import sys
import threading
import time
import traceback
import types
import warnings
from collections import OrderedDict
from typing import Callable, Hashable, Iterator, Optional

import numpy as np

__all__ = ["pca_layout", "umap_layout", "standardize", "layout_key", "LayoutStore", "LAYOUTS"]

UMAP_PRE_PCA_DIMS = 50     # rows with more features are reduced by PCA before UMAP (speed)
UMAP_MIN_POINTS = 5        # fewer points than this: UMAP is meaningless, fall back to PCA
UMAP_N_NEIGHBORS = 15      # umap_layout's defaults (part of a disk-cached layout's key: layout_cache)
UMAP_MIN_DIST = 0.1

LayoutFn = Callable[..., np.ndarray]


# ---------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------

def _as_rows(X: np.ndarray) -> np.ndarray:
    """(N, ...) → (N, d) float32, non-finite values replaced by 0."""
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError("X must have one row per point, got a scalar")
    n = X.shape[0]
    Z = X.reshape(n, int(np.prod(X.shape[1:], dtype=np.int64))).astype(np.float32, copy=False)
    if not np.isfinite(Z).all():
        Z = np.nan_to_num(Z, nan=0.0, posinf=0.0, neginf=0.0)
    return Z


def standardize(Y: np.ndarray) -> np.ndarray:
    """Each column to zero mean and unit std (constant columns become 0); (N, 2) float32."""
    Y = np.asarray(Y, dtype=np.float64)
    Y = Y - Y.mean(axis=0, keepdims=True) if len(Y) else Y
    sd = Y.std(axis=0, keepdims=True) if len(Y) else np.ones((1, Y.shape[1]))
    sd[sd < 1e-12] = 1.0
    return (Y / sd).astype(np.float32)


def _pca(Z: np.ndarray, n_components: int, seed: int) -> np.ndarray:
    """PCA scores (N, n_components) of row matrix Z, zero-padded when rank/size is smaller."""
    from sklearn.decomposition import PCA

    n, d = Z.shape
    k = min(n_components, n, d)
    out = np.zeros((n, n_components), dtype=np.float64)
    if k == 0 or n < 2 or not np.ptp(Z, axis=0).any():      # nothing to project: all rows equal
        return out
    solver = "randomized" if min(n, d) > 4 * n_components and n * d > 200_000 else "full"
    pca = PCA(n_components=k, svd_solver=solver, random_state=seed)
    out[:, :k] = pca.fit_transform(Z.astype(np.float64 if solver == "full" else np.float32))
    return out


def pca_layout(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) float32 PCA map of the flattened rows of ``X``; each axis zero mean, unit std.

    Deterministic for a given ``seed`` (the randomized solver is used for large inputs).
    Degenerate inputs (one point, one feature, constant rows) give zero columns, never NaN.
    """
    Z = _as_rows(X)
    return standardize(_pca(Z, 2, seed))


def umap_layout(X: np.ndarray, seed: int = 0, init: Optional[np.ndarray] = None,
                n_neighbors: int = UMAP_N_NEIGHBORS, min_dist: float = UMAP_MIN_DIST) -> np.ndarray:
    """(N, 2) float32 UMAP map of the flattened rows of ``X``; each axis zero mean, unit std.

    ``init``: an optional (N, 2) layout (e.g. the previous round's, or the PCA map) to start the
    optimisation from, so consecutive maps stay visually aligned; default is UMAP's spectral init.
    Rows with more than 50 features are first reduced to 50 by PCA.  Fewer than 5 points fall
    back to :func:`pca_layout`.

    Identical rows get identical positions: UMAP is fitted on the distinct rows only and every
    duplicate is placed on its first occurrence (umap-learn's own ``unique=True`` does the same,
    but cannot take an ``init`` for all N rows). Fitting duplicates as separate points would spread
    them over the map and invent structure that the data do not have.
    """
    Z = _as_rows(X)
    n = len(Z)
    if init is not None:
        init = np.asarray(init, dtype=np.float32)
        if init.shape != (n, 2):
            raise ValueError(f"init must be an ({n}, 2) layout, got shape {init.shape}")
        if not np.isfinite(init).all():
            raise ValueError("init layout contains NaN or infinite values")
    if n < UMAP_MIN_POINTS:
        return pca_layout(Z, seed=seed)
    _, first, inverse = np.unique(Z, axis=0, return_index=True, return_inverse=True)
    if len(first) < n:                           # duplicates: fit the distinct rows, then place copies
        if len(first) < UMAP_MIN_POINTS:
            return pca_layout(Z, seed=seed)
        Yu = umap_layout(Z[first], seed=seed, init=None if init is None else init[first],
                         n_neighbors=n_neighbors, min_dist=min_dist)
        return standardize(np.asarray(Yu, dtype=np.float64)[inverse.reshape(-1)])
    if Z.shape[1] > UMAP_PRE_PCA_DIMS:
        Z = _pca(Z, UMAP_PRE_PCA_DIMS, seed).astype(np.float32)

    import umap  # deferred: importing umap-learn costs seconds (numba)

    reducer = umap.UMAP(n_neighbors=int(max(2, min(n_neighbors, n - 1))), min_dist=float(min_dist),
                        n_components=2, random_state=int(seed), n_jobs=1,
                        init=standardize(init) if init is not None else "spectral")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # spectral-init / disconnected-graph chatter
        Y = reducer.fit_transform(Z)
    Y = np.asarray(Y, dtype=np.float64)
    if not np.isfinite(Y).all():                 # pathological data (e.g. all rows identical)
        return pca_layout(Z, seed=seed)
    return standardize(Y)


def layout_key(fingerprint: str, representation: str, kind: str) -> tuple[str, str, str]:
    """The cache key ``(dataset fingerprint, representation name, kind)``; kind "pca" or "umap"."""
    return (str(fingerprint), str(representation), str(kind))


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------

class LayoutStore:
    """Process-wide, thread-safe cache of 2-D layouts with background UMAP.

    Keys are any hashable, conventionally :func:`layout_key` tuples.  ``pca_fn(X, seed=)`` and
    ``umap_fn(X, seed=, init=)`` are injectable (tests pass cheap fakes).  At most ``max_entries``
    finished layouts are kept (least recently used dropped first); running jobs are never dropped.
    ``disk``: None (memory only) or an object with ``load(name, n) -> (n, 2) float32 | None`` and
    ``save(name, layout) -> bool`` (:class:`bait_core.viz.layout_cache.LayoutCache`); set it once,
    before the first request that names a file.
    """

    def __init__(self, pca_fn: LayoutFn = pca_layout, umap_fn: LayoutFn = umap_layout,
                 max_entries: int = 64, seed: int = 0) -> None:
        self._pca_fn, self._umap_fn = pca_fn, umap_fn
        self._max_entries, self._seed = int(max_entries), int(seed)
        self._lock = threading.Lock()
        self._layouts: "OrderedDict[Hashable, np.ndarray]" = OrderedDict()
        self._threads: dict[Hashable, threading.Thread] = {}
        self._errors: dict[Hashable, str] = {}
        self._error_details: dict[Hashable, str] = {}
        self._timings: dict[Hashable, float] = {}
        self._sources: dict[Hashable, str] = {}         # "disk" | "computed" | "given"
        self._warm_thread: Optional[threading.Thread] = None
        self.warm_seconds: Optional[float] = None       # set when warm_up has finished
        self.disk = None                                # a LayoutCache (duck-typed), or None

    # -- reading -----------------------------------------------------------------------------
    def get(self, key: Hashable) -> Optional[np.ndarray]:
        """The finished (N, 2) layout for ``key`` (read-only), or None."""
        with self._lock:
            Y = self._layouts.get(key)
            if Y is not None:
                self._layouts.move_to_end(key)
            return Y

    def status(self, key: Hashable) -> str:
        """"missing" | "running" | "ready" | "error: <message>"."""
        with self._lock:
            if key in self._threads:
                return "running"
            if key in self._layouts:
                return "ready"
            if key in self._errors:
                return f"error: {self._errors[key]}"
            return "missing"

    def seconds(self, key: Hashable) -> Optional[float]:
        """How long the layout for ``key`` took to compute (None if not finished)."""
        with self._lock:
            return self._timings.get(key)

    def source(self, key: Hashable) -> Optional[str]:
        """Where the finished layout for ``key`` came from: "disk", "computed" (here, by
        ``pca_now`` or a background job) or "given" (:meth:`put`); None when not finished."""
        with self._lock:
            return self._sources.get(key) if key in self._layouts else None

    @property
    def busy(self) -> bool:
        """True while any background UMAP job runs (the warm-up's tiny fits not counted)."""
        with self._lock:
            return bool(self._threads)

    def error_detail(self, key: Hashable) -> Optional[str]:
        """The traceback of a failed computation, if any."""
        with self._lock:
            return self._error_details.get(key)

    # -- computing ---------------------------------------------------------------------------
    def put(self, key: Hashable, layout: np.ndarray, source: str = "given") -> np.ndarray:
        """Store a layout computed elsewhere; returns the stored read-only copy. ValueError unless
        ``layout`` has shape (N, 2)."""
        Y = np.array(layout, dtype=np.float32)
        if Y.ndim != 2 or Y.shape[1] != 2:
            raise ValueError(f"a layout must have shape (N, 2), got {Y.shape}")
        Y.setflags(write=False)
        with self._lock:
            self._layouts[key] = Y
            self._layouts.move_to_end(key)
            self._sources[key] = source
            self._errors.pop(key, None)
            self._error_details.pop(key, None)
            self._evict_locked()
        return Y

    def from_disk(self, key: Hashable, disk_name: str, n: int) -> Optional[np.ndarray]:
        """The layout for ``key`` read from the disk cache's file ``disk_name`` and stored here, when
        a disk cache is attached and holds a valid (n, 2) layout under that name; else None (a
        missing, unreadable or invalid file is never an error: the layout is computed again)."""
        disk = self.disk
        if disk is None or not disk_name:
            return None
        t0 = time.perf_counter()
        try:
            Y = disk.load(disk_name, int(n))
        except Exception:                                       # a cache must never break the map
            Y = None
        if Y is None:
            return None
        Y = self.put(key, Y, source="disk")
        with self._lock:
            self._timings[key] = time.perf_counter() - t0
        return Y

    def pca_now(self, key: Hashable, X: np.ndarray) -> np.ndarray:
        """The PCA layout for ``key``: from the cache, else computed synchronously and cached."""
        Y = self.get(key)
        if Y is not None:
            return Y
        t0 = time.perf_counter()
        Y = self.put(key, self._pca_fn(X, seed=self._seed), source="computed")
        with self._lock:
            self._timings[key] = time.perf_counter() - t0
        return Y

    def umap_async(self, key: Hashable, X: np.ndarray, init: Optional[np.ndarray] = None,
                   disk_name: Optional[str] = None) -> bool:
        """Start computing the UMAP layout for ``key`` in a background thread.

        Does nothing (returns False) when the layout is already ready or being computed; after an
        error a new call retries.  Returns True when a thread was started.  ``X`` is copied.
        ``disk_name``: the layout's file in the attached disk cache (:attr:`disk`): read at once
        when valid (then no thread, False, and the status is "ready"), written when computed.
        """
        with self._lock:
            if key in self._threads or key in self._layouts:
                return False
        if disk_name and self.from_disk(key, disk_name, len(X)) is not None:
            return False
        with self._lock:
            if key in self._threads or key in self._layouts:
                return False
            self._errors.pop(key, None)
            self._error_details.pop(key, None)
            Xc = np.array(X, copy=True)
            initc = None if init is None else np.array(init, dtype=np.float32, copy=True)
            t = threading.Thread(target=self._run_umap, args=(key, Xc, initc, disk_name),
                                 name=f"umap-layout:{key!r}"[:80], daemon=True)
            self._threads[key] = t
        t.start()
        return True

    def _run_umap(self, key: Hashable, X: np.ndarray, init: Optional[np.ndarray],
                  disk_name: Optional[str] = None) -> None:
        t0 = time.perf_counter()
        try:
            Y = np.array(self._umap_fn(X, seed=self._seed, init=init), dtype=np.float32)
            if Y.shape != (len(X), 2):
                raise ValueError(f"layout function returned shape {Y.shape}, expected ({len(X)}, 2)")
            Y.setflags(write=False)
            disk = self.disk
            if disk_name and disk is not None:                  # before "ready": a restart finds it
                try:
                    disk.save(disk_name, Y)
                except Exception:                               # no cache is never an error
                    pass
            with self._lock:
                self._layouts[key] = Y
                self._layouts.move_to_end(key)
                self._sources[key] = "computed"
                self._timings[key] = time.perf_counter() - t0
                self._evict_locked()
        except Exception as e:                                  # reported through status()
            with self._lock:
                self._errors[key] = f"{type(e).__name__}: {e}" if not isinstance(e, ValueError) else str(e)
                self._error_details[key] = traceback.format_exc()
        finally:
            with self._lock:
                self._threads.pop(key, None)

    def wait(self, key: Hashable, timeout: Optional[float] = None) -> str:
        """Block until the background job for ``key`` (if any) ends; returns :meth:`status`."""
        with self._lock:
            t = self._threads.get(key)
        if t is not None:
            t.join(timeout)
        return self.status(key)

    def _evict_locked(self) -> None:
        while len(self._layouts) > self._max_entries:
            old, _ = self._layouts.popitem(last=False)
            self._timings.pop(old, None)
            self._sources.pop(old, None)

    def clear(self) -> None:
        """Forget finished layouts and errors (running jobs still store their result)."""
        with self._lock:
            self._layouts.clear()
            self._errors.clear()
            self._error_details.clear()
            self._timings.clear()
            self._sources.clear()

    # -- warm-up -----------------------------------------------------------------------------
    def warm_up(self) -> Optional[threading.Thread]:
        """Run tiny UMAP fits once per store in a background thread so later fits skip the JIT.

        Compiles both neighbour paths (exact for small pools, NN-descent for ≥ 4096 points) and
        both inits (spectral and an array).  Returns the thread the first time, None afterwards.
        Failures are swallowed: a real fit will then pay the JIT or report its own error.
        """
        with self._lock:
            if self._warm_thread is not None:
                return None
            t = threading.Thread(target=self._warm, name="umap-warm-up", daemon=True)
            self._warm_thread = t
        t.start()
        return t

    @property
    def warming(self) -> bool:
        """True while the warm-up thread runs."""
        t = self._warm_thread
        return t is not None and t.is_alive()

    def _warm(self) -> None:
        t0 = time.perf_counter()
        try:
            if self._umap_fn is umap_layout:
                _warm_umap()
            elif self._umap_fn is umap_layout_in_process:
                warm_umap_in_process()
            else:
                rng = np.random.default_rng(0)
                self._umap_fn(rng.normal(size=(40, 8)).astype(np.float32), seed=0, init=None)
        except Exception:
            pass
        finally:
            self.warm_seconds = time.perf_counter() - t0


def _warm_umap() -> None:
    """Tiny fits that compile umap-learn's numba kernels used by :func:`umap_layout`."""
    import umap

    rng = np.random.default_rng(0)
    Z = rng.normal(size=(64, 8)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap.UMAP(n_neighbors=10, n_components=2, random_state=0, n_jobs=1,
                  n_epochs=20).fit_transform(Z)
        umap.UMAP(n_neighbors=10, n_components=2, random_state=0, n_jobs=1, n_epochs=20,
                  init=standardize(Z[:, :2]), force_approximation_algorithm=True).fit_transform(Z)


# --- a separate process for UMAP -----------------------------------------------------------------
# UMAP (numba compilation and the fit) holds the interpreter lock for long stretches; in a thread of
# the app's process it starves the round worker (a digits round took 4-7 s instead of ~1 s while
# UMAP ran). One long-lived worker process (spawned: no inherited threads) keeps it out of the way
# and keeps its compiled kernels between fits.
_POOL: Optional[concurrent.futures.ProcessPoolExecutor] = None
_POOL_LOCK = threading.Lock()


# The worker runs at a lower CPU priority: a layout is background work, and on a small machine a
# round the user just clicked (or the page redraw) should get the cores first.
WORKER_NICENESS = 19


def _set_niceness(pid: int, niceness: int) -> None:
    """Set a process's niceness (an absolute value, so setting it twice is harmless)."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except (AttributeError, OSError):               # not on this platform / not permitted
        pass


def _worker_niceness() -> int:
    try:
        return min(19, os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS)
    except (AttributeError, OSError):
        return WORKER_NICENESS


def _exit_with_parent(parent: int, niceness: int) -> None:
    """Worker initializer: run at `niceness`; leave when the app's process is gone (even after a
    SIGKILL)."""
    _set_niceness(0, niceness)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(2.0)
        os._exit(0)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


@contextlib.contextmanager
def plain_main() -> Iterator[None]:
    """While inside, `__main__` is an empty module. A spawned child re-runs the parent's main script
    (multiprocessing's spawn and forkserver start methods); under `streamlit run` that is the whole app,
    which would then load its demo, warm up and draw pages in bare mode inside every worker (hundreds of
    "missing ScriptRunContext" lines and seconds per worker). Start worker processes inside it."""
    saved = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        if saved is not None:
            sys.modules["__main__"] = saved


def _pool() -> concurrent.futures.ProcessPoolExecutor:
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                initializer=_exit_with_parent, initargs=(os.getpid(), niceness := _worker_niceness()))
            with plain_main():
                pool.submit(os.getpid)                  # launches the worker now, without the app's script
            # lowered from here too, at once: the child's own imports run before its initializer
            for proc in list(getattr(pool, "_processes", {}).values()):
                _set_niceness(proc.pid, niceness)
            _POOL = pool
            _stop_worker_at_exit()
        return _POOL


def _terminate_worker() -> None:
    """Stop the layout worker now (a UMAP fit in progress is dropped: it is only a cache)."""
    procs = getattr(_POOL, "_processes", None) or {}
    for proc in list(procs.values()):
        try:
            proc.terminate()
        except Exception:                                  # already gone
            pass


def _stop_worker_at_exit() -> None:
    """When the app's process exits (Ctrl-C, SIGTERM), end the worker at once instead of letting
    concurrent.futures' own exit hook wait for the fit in progress (a minute of a niced UMAP: the
    server lingered after `kill`). threading's exit hooks run newest first, before that one; the
    private hook is CPython's (3.9+); without it, atexit runs too late to help but does no harm."""
    register = getattr(threading, "_register_atexit", None)
    try:
        (register or __import__("atexit").register)(_terminate_worker)
    except RuntimeError:                                   # the interpreter is already shutting down
        pass


def umap_layout_in_process(X: np.ndarray, seed: int = 0, init: Optional[np.ndarray] = None) -> np.ndarray:
    """:func:`umap_layout` computed in the shared worker process (same arguments, same result)."""
    return _pool().submit(umap_layout, np.asarray(X), seed, init).result()


def run_in_worker(fn: Callable, *args) -> object:
    """``fn(*args)`` in the shared (niced) layout worker process, waiting for its result; ``fn`` and
    the arguments must be picklable (a module-level function). Exceptions propagate."""
    return _pool().submit(fn, *args).result()


def warm_umap_in_process() -> None:
    """Compile umap-learn's kernels once in the worker process."""
    _pool().submit(_warm_umap).result()


LAYOUTS = LayoutStore(umap_fn=umap_layout_in_process)
"""The process-wide layout cache shared by all sessions of the app (UMAP runs in a worker process)."""
