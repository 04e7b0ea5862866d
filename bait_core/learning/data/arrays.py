"""NPZ arrays (.npz) → :class:`Dataset`: X, y and optionally X_test, y_test, feature_names.

X is (N, F) features or (N, H, W) / (N, C, H, W) / (N, H, W, C) images (:func:`_npz_layout`); image
values are scaled by one rule for the file (:func:`_npz_scale`), features standardised with pool
statistics when ``standardize``. y holds class labels (numbers, text, bool) or regression targets; the
task is inferred (:func:`_npz_task`) unless given. Without X_test / y_test the labelled rows are split
(seeded, stratified). The reading report states the arrays found, the layout, the scaling and the task
rule.

Limits: every .npy header is read first (nothing is allocated before): MAX_NPZ_ELEMENTS (50 million)
elements over all arrays, ``max_bytes`` in all, no object arrays (never unpickled); the ZIP limits of
:mod:`.archives`.  Errors: ``ValueError`` naming the file, the array and what is expected.
"""

from __future__ import annotations

import io
import math
import struct
import zipfile
import zlib
from typing import Optional

import numpy as np
import pandas as pd

from bait_core.common.quoting import quote as _quote
from bait_core.learning.data.archives import _MemberError, _zip_failure, _zip_total
from bait_core.learning.data.dataset import (Dataset, MAX_CLASSES_INFERRED, MIN_PER_SPLIT, _check_finite,
                                             _apply_typed, _as_text, _encode_labels, _finish, _found_classes, _split,
                                             _standardize, _to_uint8_images)
from bait_core.learning.data.images import _uniformity_warnings
from bait_core.learning.reading import ColumnReading, ReadingReport, ReadOptions


MAX_NPZ_ELEMENTS = 50_000_000         # elements over all arrays of one NPZ (60k MNIST images fit)


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
    typed = tuple(opts.classes)
    task, task_reason = _npz_task(y_all, task)
    n_minus = 0
    if y_all.dtype.kind == "i" and task == "classification":
        n_minus = int((y_all == -1).sum())            # integer y: -1 means unlabeled
    if typed and y_all.dtype.kind in "iu":
        K = len(typed)
        bad = (y_all < -1) | (y_all >= K)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            where = f"y[{i}]" if i < len(y) else f"y_test[{i - len(y)}]"
            raise ValueError(f"{_quote(name)}: with a typed class list, integer y holds class indices into it "
                             f"(0..{K - 1}; -1 = unlabeled), but {where} is {int(y_all[i])}"
                             + (f" ({int(bad.sum())} values are out of range)" if bad.sum() > 1 else "")
                             + ". Type every class in the order of its index (index 0 first), or save y as "
                               "class names.")
        yv, classes, task = y_all.astype(np.int64), list(typed), "classification"
        task_reason = (f"a class list was typed → classification; y holds class indices into it "
                       f"(0..{K - 1}, in the typed order; -1 = unlabeled)")
        report.classes_source = "typed"
    else:
        if n_minus and n_minus == len(y_all) and not typed:
            raise ValueError(f"{_quote(name)}: y has no labels (every value is -1, unlabeled); type the class list "
                             f"(Setup's “Class list”, the CLI's --classes, ReadOptions.classes) to label the points yourself (in the app or with the CLI's next).")
        y_enc = np.where(y_all == -1, np.nan, y_all.astype(np.float64)) if n_minus else y_all
        series = pd.Series(y_enc.astype(str) if y_enc.dtype.kind in "US" else y_enc)
        if typed:
            task = "classification"
            if series.dtype.kind in "fc":
                present = ~np.isnan(series.to_numpy(dtype=np.float64))
                vals = series.to_numpy(dtype=np.float64)[present]
            elif pd.api.types.is_bool_dtype(series):
                present, vals = np.ones(len(series), bool), series.to_numpy(dtype=bool)
            else:
                t = _as_text(series)
                present = t.notna().to_numpy()
                vals = t.to_numpy(dtype=object, na_value=None)[present].astype(str)
            codes, found = _found_classes(vals)
            yv = np.full(len(series), -1, np.int64)
            yv[present] = codes
            yv, classes = _apply_typed(yv, found, typed, report, what=f"{_quote(name)}: y")
            task_reason = "a class list was typed → classification; y's values are matched to it by name"
        else:
            yv, classes, task = _encode_labels(series, task, col="y", name=name, text_file=False)
            if task == "classification":
                report.classes_source = "from the labeled rows"
    if n_minus and not (typed and y_all.dtype.kind in "iu"):
        task_reason += "; y = -1 means unlabeled"
    yp, ytv = yv[: len(y)], yv[len(y):]
    lab = yp >= 0 if task == "classification" else ~np.isnan(yp)
    if has_test:
        n_miss = int((ytv < 0).sum() if task == "classification" else np.isnan(ytv).sum())
        if n_miss:
            raise ValueError(f"{_quote(name)}: y_test has {n_miss} missing labels; every test row needs one")
        if (lab.sum() < MIN_PER_SPLIT and not typed) or len(ytv) < MIN_PER_SPLIT:
            raise ValueError(f"{_quote(name)}: need at least {MIN_PER_SPLIT} labeled rows in X and in "
                             f"X_test; got {int(lab.sum())} and {len(ytv)}")
        pool, Xpool, Xtest, ytest = np.arange(len(yp)), Xf, Xtf, ytv
        report.test_source = "supplied: X_test, y_test"
    else:
        pool, test = _split(yp, lab, task=task, classes=classes, test_fraction=test_fraction,
                            seed=seed, what=repr(name), report=report, no_test_ok=bool(typed))
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
        report.unlabeled_reason = ("y = -1 (unlabeled)" if task == "classification" and y.dtype.kind == "i"
                                   else "NaN or empty values in y")
    return _finish(name=name, source=f"file:{name}", task=task, X=Xpool, y=yp[pool],
                   X_test=Xtest, y_test=ytest, classes=classes,
                   images=_to_uint8_images(Xpool) if is_image else None,
                   images_test=_to_uint8_images(Xtest) if is_image else None,
                   feature_names=feat_names, report=report, point_ids=[str(int(i)) for i in pool])
