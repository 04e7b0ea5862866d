"""The dataset record and what every loader shares: :class:`Dataset`, splitting, fingerprint, labels.

Reads no file.  :func:`_finish` builds a :class:`Dataset` (own contiguous read-only copies, float32
features, int64 class indices with -1 for a missing label or float32 targets with NaN, a sha256
fingerprint); :func:`_split` makes the seeded, stratified pool/test split; :func:`_standardize`,
:func:`_to_uint8_images` (display copies of image stacks) and the label encoders (:func:`_encode_labels`,
:func:`_encode_classes`, :func:`_infer_task`: integer-valued with ≤ 20 distinct values → classification)
serve the built-ins, tables, NPZ arrays and image ZIPs alike.

Limits: at least MIN_PER_SPLIT (4) labelled rows in the pool and in the test split, and 2 per class
with labels; at most MAX_CLASSES (1,000) classes.  With a typed class list (``ReadOptions.classes``)
a file short of labels is read with an empty test split instead (:func:`_split`, ``no_test_ok``); a test set
the file supplies (a table's 'split' column, a ZIP's ``test/`` folder) replaces the random split
(:func:`_supplied_split`); the report's ``test_source`` says which.  And
:func:`_apply_typed` orders the classes (typed first, found-but-not-typed appended).  Errors: ``ValueError`` naming the dataset (and column or row)
and what to change; a :class:`Dataset` that fails its own consistency check is a bug, also ``ValueError``.

Shapes: N pool points, M test points, F table features, K classes, C/H/W image channels/height/width.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.reading import ReadingReport


TASKS = ("classification", "regression")

MIN_PER_SPLIT = 4            # fewest labelled rows allowed in the pool and in the test split
MAX_CLASSES_INFERRED = 20    # numeric labels with more distinct values are inferred as regression
MAX_CLASSES = 1000           # more classes than this is refused (probably a regression target)
NUMERIC_LOOKING = 0.8        # a text column whose values are ≥ 80 % numbers is treated as numeric


@dataclass(frozen=True, eq=False, repr=False)
class Dataset:
    """One loaded dataset: pool (train split + unlabelled rows) and a fully labelled test split.

    The test split may have 0 rows (M = 0) when a typed class list let a file with too few labels
    be read (the user labels points in the app); there is then no test metric.

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
    # (N,) one id per pool point, to export labels and read label files back: a table's 0-based data
    # row number ("17"), an image ZIP's member path below the common top folder ("cat/a.png"), an NPZ's
    # row in X.  None for the built-ins (use the pool index).  Not part of the fingerprint.
    point_ids: Optional[tuple[str, ...]] = field(default=None, compare=False)

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
    if ds.point_ids is not None:
        ids = ds.point_ids
        if not isinstance(ids, tuple) or len(ids) != len(ds.X) or any(not isinstance(i, str) for i in ids):
            raise ValueError(f"Dataset.point_ids must be a tuple of {len(ds.X)} strings (one per pool point)")
        if len(set(ids)) != len(ids):
            raise ValueError("Dataset.point_ids must be unique")


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
            report: Optional[ReadingReport] = None, fresh: bool = False,
            point_ids: Optional[Sequence[Any]] = None) -> Dataset:
    """Build a Dataset: own contiguous copies in the right dtypes, input_shape and fingerprint.

    fresh=True: the caller made the arrays for this Dataset alone (e.g. the image loader's one stack,
    split into two views); contiguous arrays of the right dtype are then kept, not copied again.
    point_ids: one id per pool row (turned into a tuple of str); never part of the fingerprint."""
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
        xy2d_test=own(xy2d_test, np.float32), xy_transform=xy_transform, report=report,
        point_ids=None if point_ids is None else tuple(str(i) for i in point_ids))


def _check_fraction(test_fraction: float) -> float:
    tf = float(test_fraction)
    if not 0.0 < tf < 1.0:
        raise ValueError(f"test_fraction must be strictly between 0 and 1, got {_quote(test_fraction)}")
    return tf


def _split_problem(y: np.ndarray, lab: np.ndarray, *, task: str, classes: Sequence[str],
                   test_fraction: float, what: str, unit: str) -> Optional[str]:
    """Why the labelled rows `lab` cannot give a valid split (a sentence without its fix), or None."""
    n_lab = len(lab)
    n_test = int(round(test_fraction * n_lab))
    if n_test < MIN_PER_SPLIT or n_lab - n_test < MIN_PER_SPLIT:
        return (f"{what} has {n_lab} labeled {unit}; with test_fraction={test_fraction:g} the test split "
                f"would get {n_test} and the pool {n_lab - n_test}, but each needs at least "
                f"{MIN_PER_SPLIT}. Add labeled {unit} or change test_fraction")
    if task == "classification":
        counts = np.bincount(y[lab], minlength=len(classes))
        # a class with no labeled rows (only possible when typed) is left out of these checks
        rare = [f"{_quote(classes[k])} ({counts[k]})" for k in np.flatnonzero((counts < 2) & (counts > 0))]
        if rare:
            return (f"{what}: every class needs at least 2 labeled {unit} (one for the pool, one for "
                    f"the test split); too few for class {', '.join(rare)}. Add {unit} or drop that "
                    f"class")
        K = int((counts > 0).sum())
        if n_test < K or n_lab - n_test < K:
            return (f"{what}: a stratified split needs at least {K} {unit} (one per class) in both the "
                    f"pool and the test split, but test_fraction={test_fraction:g} gives {n_test} test "
                    f"and {n_lab - n_test} pool {unit}. Change test_fraction or add labeled {unit}")
    return None


def _split(y: np.ndarray, labeled: np.ndarray, *, task: str, classes: Sequence[str],
           test_fraction: float, seed: int, what: str,
           unit: str = "rows", report: Optional[ReadingReport] = None,
           no_test_ok: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Seeded (stratified for classification) split of the labelled rows.

    Returns sorted row indices (pool, test): the pool gets the train split plus every unlabelled
    row; the test split only labelled rows.  Raises ValueError when a split would be too small
    (each split needs MIN_PER_SPLIT labelled rows, each class with labels 2; classes without labeled
    rows are ignored); a classification refusal also names the typed class list.  `no_test_ok` (a
    typed class list: the user labels in the app): instead of refusing, every row goes to the pool,
    the test split is empty, and `report` gets a warning.
    """
    from sklearn.model_selection import train_test_split

    lab = np.flatnonzero(labeled)                                   # (L,)
    problem = _split_problem(y, lab, task=task, classes=classes, test_fraction=test_fraction,
                             what=what, unit=unit)
    if problem is not None:
        if no_test_ok:
            if report is not None:
                why = "" if problem.startswith(f"{what} has ") else f" ({problem}.)"   # not only the count
                report.warn(f"Too few labeled {unit} for a test split ({len(lab)} labeled): there is no test "
                            f"metric until a test set exists; label more {unit}, or supply one (a table's "
                            f"'split' column marking test rows, a ZIP's test/ folder of class folders, an NPZ's "
                            f"X_test and y_test).{why}")
                report.test_source = f"none: too few labels ({len(lab)} labeled {unit}) for a random test split"
            return np.arange(len(y)), np.zeros(0, dtype=np.int64)
        if task == "classification":
            raise ValueError(problem + ", or type the class list (Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label the points yourself (in the app or with the CLI's next).")
        raise ValueError(problem + ".")
    n_lab = len(lab)
    n_test = int(round(test_fraction * n_lab))
    stratify = y[lab] if task == "classification" else None
    tr, te = train_test_split(lab, test_size=n_test, random_state=seed, stratify=stratify)
    pool = np.sort(np.concatenate([tr, np.flatnonzero(~labeled)]))
    if report is not None:
        report.test_source = (f"a random {test_fraction * 100:g} % {'stratified ' if stratify is not None else ''}"
                              f"split of the labeled {unit} ({n_test} {unit}, seed {seed})")
    return pool, np.sort(te)


def _supplied_split(is_test: np.ndarray, labeled: np.ndarray, *, what: str, unit: str, marker: str,
                    typed: bool) -> tuple[np.ndarray, np.ndarray]:
    """The test set the file supplies: `is_test` (N,) bool marks it (every such row labeled, checked by the
    caller, who names the rows); `labeled` (N,) bool.  Returns sorted row indices (pool: every unmarked row,
    labeled or not; test: the marked rows); no random split, no test_fraction.  ValueError when no row is
    marked, or, without a typed class list, when the pool has fewer than MIN_PER_SPLIT labeled rows."""
    is_test = np.asarray(is_test, dtype=bool)
    test = np.flatnonzero(is_test)
    pool = np.flatnonzero(~is_test)
    if not len(test):
        raise ValueError(f"{what}: {marker} marks no {unit[:-1] if unit.endswith('s') else unit} as test; mark the "
                         f"test {unit} there, or remove it to have a random test split.")
    if not len(pool):
        raise ValueError(f"{what}: {marker} marks every {unit[:-1] if unit.endswith('s') else unit} as test, so "
                         f"the pool is empty; mark the pool's {unit} 'train' (or leave them unmarked).")
    n_lab = int(np.asarray(labeled, dtype=bool)[pool].sum())
    if n_lab < MIN_PER_SPLIT and not typed:
        raise ValueError(f"{what}: the pool (the {unit} not marked test by {marker}) has {n_lab} labeled "
                         f"{unit}; it needs at least {MIN_PER_SPLIT} to train on. Label more pool {unit}, or type "
                         f"the class list (Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label them yourself (in the app or with the CLI's next).")
    return pool, test


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


def _found_classes(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Non-missing label values (L,) → (codes (L,) int64, class names in sorted order), any number of
    classes (0 or 1 included): the classes found, before a typed list is applied."""
    uniq = np.unique(values)
    return np.searchsorted(uniq, values).astype(np.int64), [_class_name(v) for v in uniq]


def _apply_typed(y: np.ndarray, found: Sequence[str], typed: Sequence[str], report: ReadingReport, *,
                 what: str, unit: str = "labels") -> tuple[np.ndarray, list[str]]:
    """Codes into `found` (-1 missing) → (codes into the class list, the class list): the typed names
    in their order, then each found class not typed, in `found`'s (sorted) order, with a warning.
    Sets ``report.classes_source``.  ValueError beyond MAX_CLASSES classes."""
    typed = [str(c) for c in typed]
    extra = [c for c in found if c not in typed]
    classes = typed + extra
    if len(classes) > MAX_CLASSES:
        raise ValueError(f"{what}: the typed class list and the classes found in the {unit} make "
                         f"{len(classes):,} classes; the limit is {MAX_CLASSES:,}.")
    for c in extra:
        report.warn(f"class {_quote(c)} found in the {unit} but not in the typed list: added")
    report.classes_source = "typed + found in the labels" if extra else "typed"
    pos = {c: k for k, c in enumerate(classes)}
    remap = np.array([pos[c] for c in found], dtype=np.int64)
    out = np.full(len(y), -1, np.int64)
    has = y >= 0
    out[has] = remap[y[has]]
    return out, classes


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


def _extension(name: str) -> str:
    return PurePosixPath(str(name).replace("\\", "/")).suffix.lower()


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
