"""The entry points for user files: :func:`load_file`, :func:`list_columns`, :func:`load_dataset`.

:func:`load_file` takes raw upload bytes (with ``filename``), a file-like object or a path, checks
its size (``max_bytes``, 500 MiB by default) and extension (FILE_EXTENSIONS), and hands it to the
reader for its format: :mod:`.tables` (.csv .tsv .tab .parquet .pq), :mod:`.arrays` (.npz) or
:mod:`.images` (.zip).  :func:`load_dataset` reads "builtin:NAME" (:mod:`.builtin`) or a file path.

Errors: ``ValueError`` for a missing or empty file, an unknown extension, raw bytes without a
filename, an oversized upload, a bad ``task`` or ``test_fraction``, and whatever the format's reader
refuses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Union

from bait_core.common.quoting import quote as _quote
from bait_core.learning.data.arrays import _load_npz
from bait_core.learning.data.builtin import BUILTIN_DATASETS, load_builtin
from bait_core.learning.data.dataset import Dataset, TASKS, _check_fraction, _extension
from bait_core.learning.data.images import _load_zip
from bait_core.learning.data.tables import TABLE_EXTENSIONS, _load_table, _read_table
from bait_core.learning.reading import ReadOptions


FILE_EXTENSIONS = TABLE_EXTENSIONS + (".npz", ".zip")

DataSource = Union[bytes, bytearray, memoryview, str, "os.PathLike[str]", Any]


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
    :mod:`bait_core.learning.data.table_text`, or taken from `options`; an ambiguous file is refused
    with the option to set.  Only empty cells (and ``options.na_values``) are missing: a class called "NA" is data.

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

    A typed class list (``options.classes``, the user labels points in the app) makes the task
    classification, fixes the class order (typed names first, classes found but not typed appended),
    lets a ZIP hold unlabeled images (an ``unlabeled/`` folder, or images outside any folder), and lets
    a file with too few labels (even none) be read with an empty test split (a warning says so); without
    it such files are refused with a sentence naming the option.  NPZ: integer y = -1 is unlabeled.
    The Dataset's ``point_ids`` name each pool point in the file (table data row, ZIP member path, NPZ row).

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
    if opts.classes and task == "regression":
        raise ValueError("A class list was typed, so the task is classification; clear the class list or "
                         "choose classification.")
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
