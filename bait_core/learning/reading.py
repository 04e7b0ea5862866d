"""How a file was read: every inference a loader makes, stated, and the options that override it.

A loader returns its :class:`Dataset` with a :class:`ReadingReport` (``dataset.report``): format,
encoding, separator, decimal mark, thousands grouping, rows read and dropped (with why), each
column's role, the label's classes with counts and the rows without a label (and why), the task and
the rule that chose it, image size and bit depth, and every warning as a sentence a user can act
on. :class:`ReadOptions` holds what the user may set instead of the inference; ``None`` means
"infer it, and say what was inferred". The Setup page and the CLI print the same report
(:func:`report_lines`). Nothing here imports streamlit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

__all__ = ["ROLES", "SPLIT_TEST", "SPLIT_POOL", "SPLIT_NAMES", "MISSING_POLICIES", "ReadOptions", "ColumnReading", "ReadingReport", "report_lines"]

ROLES = ("numeric", "one-hot", "ignored", "label", "split")
# a "split" column marks the supplied test set: these values (any case, spaces stripped) and empty cells
SPLIT_TEST = ("test",)                                  # the row is in the test set
SPLIT_POOL = ("train", "pool", "unlabeled")             # the row is in the pool (so is an empty cell)
SPLIT_NAMES = ("split", "set", "subset")                # column names inferred as the split column
MISSING_POLICIES = ("median", "drop", "refuse")     # what to do with empty feature cells
IMAGE_SCALINGS = ("type", "max", "minmax", "none")  # how image values map to 0–1 (see ReadOptions)


@dataclass(frozen=True)
class ReadOptions:
    """Overrides for a loader's inferences (None: infer and report).

    encoding: a Python codec name ("utf-8", "cp1252", "utf-16", ...).
    sep: the field separator ("," ";" "\\t" "|" " ").
    decimal: the decimal mark ("." or ",").
    thousands: the thousands grouping character ("," "." " " "'"), or "" for none.
    na_values: extra cell texts that mean "missing" (only empty cells are missing otherwise: a class
        called "NA" is data).
    roles: column name → one of ROLES (a column forced numeric, one-hot, ignored, the label, or the
        split: the column that marks the supplied test set, its cells 'test' (test set), 'train' /
        'pool' / 'unlabeled' / empty (pool), any case). A column named 'split', 'set' or 'subset'
        (any case) whose values are all of these is the split column unless given another role.
    task: "classification" or "regression" (default: the rule stated in the report).
    missing_features: "median" (fill with the column median), "drop" (drop the rows) or "refuse".
    image_size: (height, width) images are resized to; None keeps a common native size up to 64×64,
        else 28×28 (stated in the report).
    image_scaling: how image values map to 0–1, one rule for the whole file: "type" (÷ the maximum of
        each image's bit depth: 8-bit ÷ 255, 16-bit ÷ 65535; floats kept), "max" (÷ the file's largest
        value), "minmax" (the file's smallest value → 0, largest → 1) or "none" (values as they are).
        None: inferred and stated ("type" when every image's range is known).
    image_channels: 1 (grey; colour turned grey with the ITU-R 601 luma weights) or 3 (RGB; grey
        repeated). None: 3 when any image is in colour, else 1.
    classes: a class list the user typed, in their order (the task is then classification; the
        user labels points in the app). The class list is these names, then any class found among
        the labeled rows / class folders but not typed, appended in sorted order (each stated as a
        warning). Typed classes may have no labeled rows. Table labels and NPZ text labels are
        matched by their class name text; NPZ integer y holds indices into this list (0..K-1,
        -1 = unlabeled). With a typed list, a file whose labeled rows are too few for a test split
        is read without one (a warning says so) instead of being refused. A list (from JSON) is
        turned into a tuple of stripped strings. Validated: ≥ 2 names, none empty, no duplicates,
        at most MAX_CLASSES (1,000).
    """

    encoding: Optional[str] = None
    sep: Optional[str] = None
    decimal: Optional[str] = None
    thousands: Optional[str] = None
    na_values: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()         # ((column, role), ...): hashable, for caching
    task: Optional[str] = None
    missing_features: str = "median"
    image_size: Optional[tuple[int, int]] = None
    image_scaling: Optional[str] = None
    image_channels: Optional[int] = None
    classes: tuple[str, ...] = ()                   # typed class names, in the user's order

    def __post_init__(self) -> None:
        # setup.json stores lists: keep the frozen options hashable and comparable after a round trip
        if self.classes is None:
            object.__setattr__(self, "classes", ())
        elif isinstance(self.classes, str):
            object.__setattr__(self, "classes", (self.classes.strip(),))
        elif not isinstance(self.classes, tuple) or any(not isinstance(c, str) or c != c.strip()
                                                          for c in self.classes):
            object.__setattr__(self, "classes", tuple(str(c).strip() for c in self.classes))
        if isinstance(self.na_values, list):
            object.__setattr__(self, "na_values", tuple(str(v) for v in self.na_values))
        if isinstance(self.roles, list) or any(isinstance(p, list) for p in self.roles):
            object.__setattr__(self, "roles", tuple((str(c), str(r)) for c, r in self.roles))
        if isinstance(self.image_size, list):
            object.__setattr__(self, "image_size", tuple(int(v) for v in self.image_size))

    def role_of(self, column: str) -> Optional[str]:
        for c, r in self.roles:
            if c == column:
                return r
        return None

    def validate(self) -> None:
        """ValueError with a sentence for an option that cannot apply."""
        if self.sep is not None and (len(self.sep) != 1 or self.sep in "\"'\r\n"):
            raise ValueError(f"The separator must be one character such as ',', ';', '|' or a tab, got {self.sep!r}.")
        if self.decimal is not None and self.decimal not in (".", ","):
            raise ValueError(f"The decimal mark must be '.' or ',', got {self.decimal!r}.")
        if self.thousands is not None and self.thousands not in ("", ",", ".", " ", "'", "\u00a0", "\u202f"):
            raise ValueError(f"The thousands separator must be ',', '.', a space, an apostrophe or none, "
                             f"got {self.thousands!r}.")
        if self.decimal is not None and self.thousands and self.decimal == self.thousands:
            raise ValueError("The decimal mark and the thousands separator must differ.")
        if self.sep is not None and self.decimal is not None and self.sep == self.decimal:
            raise ValueError(f"The separator and the decimal mark cannot both be {self.sep!r}.")
        if self.encoding is not None:
            import codecs
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise ValueError(f"Unknown text encoding {self.encoding!r}; try utf-8, cp1252, latin-1 or utf-16.") \
                    from None
        for c, r in self.roles:
            if r not in ROLES:
                raise ValueError(f"Column {c!r}: the role must be one of {', '.join(ROLES)}, got {r!r}.")
        if sum(1 for _, r in self.roles if r == "label") > 1:
            raise ValueError("Only one column can be the label.")
        if sum(1 for _, r in self.roles if r == "split") > 1:
            raise ValueError("Only one column can mark the test set (the role 'split').")
        if self.task is not None and self.task not in ("classification", "regression"):
            raise ValueError(f"The task must be 'classification' or 'regression', got {self.task!r}.")
        if self.missing_features not in MISSING_POLICIES:
            raise ValueError(f"Missing feature values: choose one of {', '.join(MISSING_POLICIES)}, "
                             f"got {self.missing_features!r}.")
        if self.image_size is not None:
            h, w = self.image_size
            if not (4 <= int(h) <= 256 and 4 <= int(w) <= 256):
                raise ValueError(f"The image size must be between 4×4 and 256×256 pixels, got {h}×{w}.")
        if self.image_scaling is not None and self.image_scaling not in IMAGE_SCALINGS:
            raise ValueError(f"The image scaling must be one of {', '.join(IMAGE_SCALINGS)}, "
                             f"got {self.image_scaling!r}.")
        if self.image_channels is not None and self.image_channels not in (1, 3):
            raise ValueError(f"The image channels must be 1 (grey) or 3 (RGB), got {self.image_channels!r}.")
        if self.classes:
            from bait_core.learning.data.dataset import MAX_CLASSES
            if any(not c for c in self.classes):
                raise ValueError("The class list has an empty name; remove it or type a name.")
            seen: set[str] = set()
            dup = [c for c in self.classes if c in seen or seen.add(c)]   # type: ignore[func-returns-value]
            if dup:
                raise ValueError(f"The class list names {dup[0]!r} more than once; each class must be typed once.")
            if len(self.classes) < 2:
                raise ValueError(f"The class list has only {self.classes[0]!r}; classification needs at least 2 "
                                 f"classes: type them all.")
            if len(self.classes) > MAX_CLASSES:
                raise ValueError(f"The class list has {len(self.classes):,} names; the limit is {MAX_CLASSES:,}.")
            if self.task == "regression":
                raise ValueError("A class list was typed, so the task is classification; clear the class list "
                                 "or choose classification.")


@dataclass(frozen=True)
class ColumnReading:
    """One source column: its role and what was found ("12 categories", "3 empty → median 0.5")."""

    name: str
    role: str                                       # one of ROLES
    detail: str = ""
    inferred: bool = True                           # False when the user chose the role


@dataclass
class ReadingReport:
    """Everything a loader inferred about one file, for the user to check (and override)."""

    file: str
    format: str                                     # "CSV", "TSV", "Parquet", "NPZ", "ZIP of images", "built-in"
    encoding: Optional[str] = None                  # e.g. "utf-8 (with BOM)", "cp1252"
    separator: Optional[str] = None
    decimal: Optional[str] = None
    thousands: Optional[str] = None
    rows_read: int = 0
    rows_dropped: list[tuple[int, str]] = field(default_factory=list)   # (how many, why)
    columns: list[ColumnReading] = field(default_factory=list)
    label_column: Optional[str] = None
    classes: dict[str, int] = field(default_factory=dict)                # class → labeled rows
    classes_source: str = ""        # "from the labeled rows" / "typed" / "typed + found in the labels"
    rows_without_label: int = 0
    unlabeled_reason: str = ""
    task: str = ""
    task_reason: str = ""
    image: dict[str, Any] = field(default_factory=dict)   # size, native sizes, bit depth, channels, ...
    inferred: dict[str, bool] = field(default_factory=dict)  # which of encoding/separator/... were inferred
    warnings: list[str] = field(default_factory=list)
    arrays: list[str] = field(default_factory=list)       # NPZ: "X: shape (120, 8, 8), uint8", ...
    # where the test set comes from: "a random 25 % stratified split of the labeled rows",
    # "supplied: the rows marked 'test' in column 'split'", "supplied: X_test, y_test", "none: ..."
    test_source: str = ""

    def warn(self, sentence: str) -> None:
        if sentence not in self.warnings:
            self.warnings.append(sentence)

    def to_dict(self) -> dict:
        return asdict(self)


def _show(ch: Optional[str]) -> str:
    names = {",": "comma ','", ";": "semicolon ';'", "\t": "tab", "|": "pipe '|'", " ": "space", ".": "point '.'",
             "'": "apostrophe", "": "none", "\u00a0": "no-break space", "\u202f": "narrow no-break space"}
    return "–" if ch is None else names.get(ch, repr(ch))


def report_lines(r: ReadingReport) -> list[str]:
    """The report as short plain-text lines (the CLI prints them; the Setup page shows them)."""
    how = lambda key: " (inferred)" if r.inferred.get(key) else " (as chosen)" if key in r.inferred else ""  # noqa: E731
    out = [f"File: {r.file} · format: {r.format}"]
    if r.encoding is not None:
        out.append(f"Encoding: {r.encoding}{how('encoding')}")
    if r.separator is not None:
        out.append(f"Separator: {_show(r.separator)}{how('separator')} · decimal mark: {_show(r.decimal)}"
                   f"{how('decimal')} · thousands: {_show(r.thousands)}{how('thousands')}")
    dropped = sum(n for n, _ in r.rows_dropped)
    unit = "Images" if r.format.startswith("ZIP") else "Rows"
    out.append(f"{unit} read: {r.rows_read:,}" + (f" · dropped or skipped: {dropped:,}" if dropped else ""))
    for n, why in r.rows_dropped:
        out.append(f"  {unit.lower()} dropped or skipped: {n:,} — {why}")
    if r.columns:
        by_role: dict[str, list[str]] = {}
        for c in r.columns:
            by_role.setdefault(c.role, []).append(c.name + (f" [{c.detail}]" if c.detail else "")
                                                  + ("" if c.inferred else " (chosen)"))
        for role in ROLES:
            if role in by_role:
                names = by_role[role]
                shown = ", ".join(names[:12]) + (f", … ({len(names) - 12} more)" if len(names) > 12 else "")
                out.append(f"Columns, {role}: {shown}")
    if r.task:
        out.append(f"Task: {r.task} — {r.task_reason}" if r.task_reason else f"Task: {r.task}")
    if r.classes:
        cls = ", ".join(f"{k} ({v:,})" for k, v in list(r.classes.items())[:20])
        more = f", … ({len(r.classes) - 20} more)" if len(r.classes) > 20 else ""
        out.append(f"Classes ({len(r.classes)}): {cls}{more}")
    if r.classes_source:
        out.append(f"Class list: {r.classes_source}")
    if r.rows_without_label:
        out.append(f"Rows without a label: {r.rows_without_label:,}"
                   + (f" ({r.unlabeled_reason})" if r.unlabeled_reason else "")
                   + "; they stay in the pool: a person can label them, a simulated run can pick them but has no "
                     "label to reveal.")
    if r.test_source:
        out.append(f"Test set: {r.test_source}")
    for a in r.arrays:
        out.append(f"Array {a}")
    if r.image:
        out.append("Images:")
        out.extend(f"  {k.replace('_', ' ')}: {v}" for k, v in r.image.items())
    for w in r.warnings:
        out.append(f"Warning: {w}")
    return out
