"""UMAP layouts of a dataset's inputs kept on disk, so a restarted server draws them at once.

Never imports streamlit. The app's map of the inputs (:func:`input_umap`: UMAP of the flattened
pool rows, started from their PCA layout, seed 0) is the same for every run on the same data, so
it is computed once and written to a file; the layouts of a run's model embeddings change every
round and stay in memory (:class:`bait_core.viz.projection.LayoutStore`).

* Folder: ``$BAIT_EXPLORER_CACHE_DIR`` when set, else ``layout-cache`` beside the runs folder
  (``./runs`` → ``./layout-cache``): :func:`cache_dir`.
* One ``.npy`` file per layout, named by :func:`input_names` from everything the layout depends
  on: the dataset fingerprint, the representation ("input"), the kind ("UMAP"), the seed, the UMAP
  parameters (neighbours, minimum distance, the PCA reduction before UMAP, the PCA start) and the
  installed umap-learn version. A change to any of them is another file name; nothing is
  invalidated by hand.
* Uploaded data are cached too: a layout is only (N, 2) numbers, named by the data's fingerprint
  (a hash of its values), and holds nothing of the file itself.
* Written atomically (a temporary file in the folder, then ``os.replace``); read with
  ``np.load(allow_pickle=False)`` after checking the file's size, and used only when it is an
  (N, 2) float32 array of finite values for the N points asked for. Anything else is ignored and
  computed again (never trusted, never an error).
* Bounded: at most :data:`MAX_FILES` files and :data:`MAX_BYTES` bytes; the least recently used
  files (a read refreshes a file's time) are deleted after each write.
* A folder that cannot be created or written (read-only, full disk) means no cache: said once per
  :class:`LayoutCache` on stderr (the server log), and the layouts are computed as before.

:func:`precompute` fills the cache for the built-in datasets (``python -m bait_core layouts``; the
app's server-start warm-up does the same in the background, see bait_core.service.warmup).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Optional, Union

import numpy as np

from bait_core.viz.projection import (UMAP_MIN_DIST, UMAP_N_NEIGHBORS, UMAP_PRE_PCA_DIMS, layout_key,
                                      pca_layout, umap_layout)

__all__ = ["CACHE_ENV", "CACHE_FOLDER", "MAX_FILES", "MAX_BYTES", "BUILTIN_LAYOUT_DATASETS",
           "cache_dir", "umap_version", "input_umap_params", "file_name", "input_names", "input_umap",
           "LayoutCache", "Precomputed", "precompute", "precompute_one"]

CACHE_ENV = "BAIT_EXPLORER_CACHE_DIR"
CACHE_FOLDER = "layout-cache"
MAX_FILES = 64                    # files kept (least recently used deleted first) ...
MAX_BYTES = 256 * 2**20           # ... and bytes in all (a 1,000,000-point layout is 8 MB)
FORMAT = 1                        # bump when input_umap changes in a way the parameters do not show
# the built-in datasets whose map is a UMAP (the 2-D toy sets are drawn in their own coordinates);
# the app's default demo first
BUILTIN_LAYOUT_DATASETS = ("digits", "diabetes", "mnist1d", "mnist")

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
_HEADER_SLACK = 4096              # a .npy header is at most a few hundred bytes


def cache_dir(runs_dir: Union[str, os.PathLike, None] = None) -> Path:
    """The cache folder: ``$BAIT_EXPLORER_CACHE_DIR`` when set, else ``layout-cache`` in the folder
    that holds the runs folder ``runs_dir`` (default ``./runs``), as an absolute path. Not created."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(os.path.abspath(env))
    runs = Path(os.path.abspath(runs_dir if runs_dir is not None else "runs"))
    return runs.parent / CACHE_FOLDER


def umap_version() -> str:
    """The installed umap-learn version (from its metadata: umap is not imported), or "unknown"."""
    try:
        from importlib.metadata import version
        return version("umap-learn")
    except Exception:
        return "unknown"


def input_umap_params(seed: int = 0) -> dict:
    """Everything :func:`input_umap` depends on besides the data: a JSON-able dict."""
    return {"seed": int(seed), "n_neighbors": UMAP_N_NEIGHBORS, "min_dist": UMAP_MIN_DIST,
            "pre_pca_dims": UMAP_PRE_PCA_DIMS, "init": "pca_layout", "umap_learn": umap_version(),
            "format": FORMAT}


def file_name(fingerprint: str, representation: str, kind: str, params: dict) -> str:
    """The file name (no extension) of a layout: its kind, the start of the fingerprint, and a hash
    of the fingerprint, representation, kind and every parameter (sorted JSON). Any change to one
    of them gives another name."""
    blob = json.dumps({"fingerprint": str(fingerprint), "representation": str(representation),
                       "kind": str(kind), "params": params}, sort_keys=True, default=str)
    digest = hashlib.sha256(blob.encode()).hexdigest()[:24]
    stem = re.sub(r"[^A-Za-z0-9]+", "", str(fingerprint))[:16] or "data"
    return f"{re.sub(r'[^A-Za-z0-9]+', '', str(kind)).lower() or 'layout'}-{stem}-{digest}"


def input_names(fingerprint: str, seed: int = 0) -> tuple[tuple, tuple, str]:
    """The app's names for the maps of a dataset's inputs: (PCA store key, UMAP store key, UMAP
    file name). The store keys are :func:`bait_core.viz.projection.layout_key` tuples."""
    return (layout_key(fingerprint, "input", "PCA"), layout_key(fingerprint, "input", "UMAP"),
            file_name(fingerprint, "input", "UMAP", input_umap_params(seed)))


def input_umap(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """(N, 2) float32: the app's UMAP map of the inputs ``X`` (N, ...), computed here: UMAP of the
    flattened rows started from their PCA layout, both with ``seed`` (what the app's layout store
    computes in its worker process, value for value)."""
    return umap_layout(X, seed=seed, init=pca_layout(X, seed=seed))


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class LayoutCache:
    """Layouts as ``<folder>/<name>.npy`` files (see the module's docstring for the rules).

    ``load(name, n)`` returns a valid (n, 2) float32 read-only array or None; ``save(name, Y)``
    returns True when the file was written. Neither raises for anything the disk does; ``save``
    raises ValueError for a layout that is not (N, 2) finite numbers and both for a name that is
    not letters, digits and ``._-`` (a caller's bug). ``log``: where the one "no cache" line goes
    (default stderr). Thread-safe."""

    def __init__(self, folder: Union[str, os.PathLike], max_files: int = MAX_FILES,
                 max_bytes: int = MAX_BYTES, log: Optional[Callable[[str], None]] = None) -> None:
        self.folder = Path(folder)
        self.max_files, self.max_bytes = int(max_files), int(max_bytes)
        self._log = log or _stderr
        self._lock = threading.Lock()
        self.unavailable: Optional[str] = None          # why the cache could not be written, once

    def path(self, name: str) -> Path:
        if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
            raise ValueError(f"a layout file name is letters, digits and ._- only, got {str(name)[:80]!r}")
        return self.folder / f"{name}.npy"

    # -- reading -----------------------------------------------------------------------------
    def load(self, name: str, n: int) -> Optional[np.ndarray]:
        """The (n, 2) layout stored as ``name``, or None (no file, unreadable, or not an (n, 2)
        float32 array of finite values)."""
        p = self.path(name)
        try:
            size = p.stat().st_size
            if size > int(n) * 8 + _HEADER_SLACK:         # never read more than the layout can need
                return None
            with open(p, "rb") as f:
                Y = np.load(f, allow_pickle=False)
        except Exception:                                 # missing, unreadable, not a .npy: recompute
            return None
        if (not isinstance(Y, np.ndarray) or Y.dtype != np.float32 or Y.shape != (int(n), 2)
                or not np.isfinite(Y).all()):
            return None
        try:
            os.utime(p)                                   # recently used: kept longest
        except OSError:
            pass
        Y.setflags(write=False)
        return Y

    # -- writing -----------------------------------------------------------------------------
    def save(self, name: str, layout: np.ndarray) -> bool:
        """Write ``layout`` (N, 2) as ``name`` atomically; then delete the least recently used files
        beyond the bounds. False (said once in the log) when the folder cannot be written."""
        p = self.path(name)
        Y = np.ascontiguousarray(layout, dtype=np.float32)
        if Y.ndim != 2 or Y.shape[1] != 2 or not np.isfinite(Y).all():
            raise ValueError(f"a layout to cache must be (N, 2) finite numbers, got shape {Y.shape}")
        tmp = None
        with self._lock:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=self.folder)
                with os.fdopen(fd, "wb") as f:
                    np.save(f, Y, allow_pickle=False)
                    f.flush()
                    os.fsync(f.fileno())
                os.chmod(tmp, 0o644)                      # mkstemp's 0600 would hide it from other users
                os.replace(tmp, p)
                tmp = None
            except OSError as e:
                self._say_unavailable(e)
                return False
            finally:
                if tmp is not None:
                    try:
                        os.unlink(tmp)
                    except OSError:
                        pass
            self._prune_locked()
        return True

    def files(self) -> list[Path]:
        """The layout files now in the folder, most recently used first."""
        try:
            found = [(e.stat().st_mtime, Path(e.path)) for e in os.scandir(self.folder)
                     if e.name.endswith(".npy") and not e.name.startswith(".") and e.is_file()]
        except OSError:
            return []
        return [p for _, p in sorted(found, key=lambda t: t[0], reverse=True)]

    def _prune_locked(self) -> None:
        total = 0
        for i, p in enumerate(self.files()):
            try:
                total += p.stat().st_size
                if i >= self.max_files or total > self.max_bytes:
                    p.unlink()
            except OSError:
                pass
        now = time.time()
        try:                                             # temporary files a killed writer left behind
            for e in os.scandir(self.folder):
                if e.name.startswith(".") and e.name.endswith(".tmp") and now - e.stat().st_mtime > 3600:
                    os.unlink(e.path)
        except OSError:
            pass

    def _say_unavailable(self, error: OSError) -> None:
        if self.unavailable is None:
            self.unavailable = f"{error.strerror or error}"
            self._log(f"layout cache: cannot write {self.folder} ({self.unavailable}); UMAP layouts are kept "
                      f"in memory only and computed again after a restart (set {CACHE_ENV} to a writable folder)")


@dataclass(frozen=True)
class Precomputed:
    """One dataset's line of :func:`precompute`: its name, points, where the layout came from
    ("cache" or "computed"), the seconds it took and the file."""
    dataset: str
    n_points: int
    source: str
    seconds: float
    path: Path
    saved: bool


def precompute_one(folder: str, dataset: str, seed: int = 0) -> tuple[str, float, bool]:
    """:func:`precompute` of one built-in dataset into the cache folder ``folder`` (default bounds):
    (how: "cache" | "computed", seconds, saved). A plain function of picklable arguments, so the app
    runs it in its layout worker process (the dataset is loaded there, not in the server)."""
    said: list[str] = []
    item = precompute(LayoutCache(folder, log=said.append), [dataset], seed=seed)[0]
    for line in said:
        _stderr(line)
    return item.source, item.seconds, item.saved


def precompute(cache: LayoutCache, datasets: Iterable[str] = BUILTIN_LAYOUT_DATASETS, seed: int = 0,
               on_done: Optional[Callable[[Precomputed], None]] = None) -> list[Precomputed]:
    """Fill ``cache`` with the input UMAP of each built-in dataset (loaded with split seed ``seed``,
    as a run with that seed loads it; the UMAP seed is the app's, 0), computing only the missing
    ones, in this process. ValueError for a name that is not a built-in dataset with a UMAP map."""
    from bait_core.learning.data import load_builtin

    names = list(datasets)
    bad = [d for d in names if d not in BUILTIN_LAYOUT_DATASETS]
    if bad:
        raise ValueError(f"no UMAP map to precompute for {', '.join(map(repr, bad))}; the built-in datasets "
                         f"with one are {', '.join(BUILTIN_LAYOUT_DATASETS)}")
    out = []
    for name in names:
        t0 = time.perf_counter()
        ds = load_builtin(name, seed=seed)
        _, _, fname = input_names(ds.fingerprint)
        X = np.asarray(ds.X)
        Y = cache.load(fname, len(X))
        source, saved = "cache", True
        if Y is None:
            Y = input_umap(X, seed=0)
            source, saved = "computed", cache.save(fname, Y)
        item = Precomputed(name, len(X), source, time.perf_counter() - t0, cache.path(fname), saved)
        out.append(item)
        if on_done is not None:
            on_done(item)
    return out
