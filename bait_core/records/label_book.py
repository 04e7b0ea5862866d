"""The labels a run obtained, as kept on disk: who gave each one and when, and the batch a person is labeling.

A run's :class:`LabelBook` holds every label the run obtained (``entries``: pool index → :class:`LabelEntry`
with the label, the round, the time and the oracle — ``"person"`` for a label given in the app or read from
a labels file, ``"simulated"`` for one revealed from the dataset's own ``y``), the batch a person is labeling
now (:class:`PendingBatch`: the picks of the latest round, the answers so far, the skips, an undo history),
and the points sent back to the pool. It is saved as ``labels.json`` in the run's folder the moment a label
is given (``service.runstore.RunStore.save_labels``) and copied into the run record (``RunRecord.labels``)
after every round; :meth:`LabelBook.from_dict` checks such a file (``schemas.LabelBookSchema`` and every
index and label against the pool and the classes). The label files people exchange (CSV, Label Studio
JSON) are in ``bait_core.learning.labels``. Nothing here imports streamlit.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Optional, Union

import numpy as np

__all__ = ["ORACLES", "FIRST_BATCH", "SKIP_REASONS", "LabelEntry", "PendingBatch", "LabelBook", "now"]

ORACLES = ("simulated", "person")                # who answers a run's queries (RunConfig.oracle)
FIRST_BATCH = ("k-center", "random")             # how a run with no labels at all picks its first batch
ENTRY_ORACLES = ("person", "simulated")
SKIP_REASONS = ("skip", "not sure")
BOOK_KIND = "bait-explorer-labels"
BOOK_VERSION = 1

Label = Union[int, float]


def now() -> str:
    """The current UTC time as ISO 8601 text, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class LabelEntry:
    """One label obtained by the run: pool `index`, `label` (class index | float), the `round` whose
    batch it answered, `time` (ISO 8601 UTC) and `oracle` ("person" | "simulated")."""

    index: int
    label: Label
    round: int
    time: str
    oracle: str


@dataclass
class PendingBatch:
    """The batch a person is labeling: the picks of round `round` (`indices`, pick order), the answers
    so far (index → label), the skipped points (index → "skip" | "not sure"), the order of those
    actions (for undo), their times, and `reveal`: show each point's label from the data file after the
    person answers (a simulated run labeled by a person for one round: the classroom mode)."""

    round: int
    indices: list[int]
    answers: dict[int, Label] = field(default_factory=dict)
    skipped: dict[int, str] = field(default_factory=dict)
    history: list[int] = field(default_factory=list)
    times: dict[int, str] = field(default_factory=dict)
    reveal: bool = False

    @property
    def n_answered(self) -> int:
        return len(self.answers)

    @property
    def n_done(self) -> int:
        return len(self.answers) + len(self.skipped)

    def answer(self, index: int, label: Label, time: str) -> None:
        """Record `label` for pick `index` (replacing an earlier answer or skip); it becomes the latest action."""
        self._act(index, time)
        self.answers[index] = label

    def skip(self, index: int, why: str, time: str) -> None:
        """Record a skip ("skip" | "not sure") of pick `index` (replacing an earlier answer)."""
        self._act(index, time)
        self.skipped[index] = why

    def _act(self, index: int, time: str) -> None:
        self.answers.pop(index, None)
        self.skipped.pop(index, None)
        if index in self.history:
            self.history.remove(index)
        self.history.append(index)
        self.times[index] = time

    def take_back(self) -> Optional[int]:
        """Undo the latest action (answer or skip): its point is open again. Returns it, or None."""
        if not self.history:
            return None
        i = self.history.pop()
        self.answers.pop(i, None)
        self.skipped.pop(i, None)
        self.times.pop(i, None)
        return i

    def current(self) -> Optional[int]:
        """The first pick (in pick order) with neither an answer nor a skip; None when all are done."""
        for i in self.indices:
            if i not in self.answers and i not in self.skipped:
                return i
        return None


@dataclass
class LabelBook:
    """Every label a run obtained, the batch being labeled, and the points sent back to the pool."""

    entries: dict[int, LabelEntry] = field(default_factory=dict)
    pending: Optional[PendingBatch] = None
    returned: list[int] = field(default_factory=list)     # picks skipped or left unanswered, sent back to the pool
                                                          # (a history: a later batch may pick one again)

    def __bool__(self) -> bool:
        return bool(self.entries or self.pending is not None or self.returned)

    # --- JSON -----------------------------------------------------------------------------------------
    def to_dict(self, mask: Optional[np.ndarray] = None) -> dict:
        """The book as JSON-able dict; `mask` (N,) bool: the run's labeled-or-picked set, stored with it
        (a reload restores it exactly, skips included)."""
        p = self.pending
        return {
            "kind": BOOK_KIND, "version": BOOK_VERSION,
            "entries": [{"index": e.index, "label": e.label, "round": e.round, "time": e.time, "oracle": e.oracle}
                        for e in sorted(self.entries.values(), key=lambda e: (e.round, e.time, e.index))],
            "pending": None if p is None else {
                "round": p.round, "indices": list(p.indices), "reveal": p.reveal,
                "answers": [{"index": i, "label": v} for i, v in p.answers.items()],
                "skipped": [{"index": i, "why": why} for i, why in p.skipped.items()],
                "history": list(p.history), "times": [{"index": i, "time": t} for i, t in p.times.items()]},
            "returned": sorted(set(self.returned)),
            "mask": None if mask is None else np.flatnonzero(mask).tolist(),
        }

    @classmethod
    def from_dict(cls, d: Any, *, n_points: int, task: str, n_classes: int,
                  what: str = "labels file") -> tuple["LabelBook", Optional[np.ndarray]]:
        """(book, mask or None) from `to_dict`'s output, every field checked; ValueError with a sentence."""
        from bait_core.records.schemas import LabelBookSchema, validate
        s = validate(LabelBookSchema, d, what)

        def index(i: int, where: str) -> int:
            if not 0 <= i < n_points:
                raise ValueError(f"The {what} is broken: {where}: the index {i} is outside the pool of {n_points:,} points.")
            return int(i)

        def label(v: Any, where: str) -> Label:
            if task == "classification":
                if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < n_classes:
                    raise ValueError(f"The {what} is broken: {where}: the label {v!r} is not a class number "
                                     f"0..{n_classes - 1}.")
                return int(v)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"The {what} is broken: {where}: the value {v!r} is not a finite number.")
            return float(v)

        book = cls()
        for e in s.entries:
            i = index(e.index, "entries")
            if i in book.entries:
                raise ValueError(f"The {what} is broken: entries: point {i} is labeled twice.")
            book.entries[i] = LabelEntry(i, label(e.label, "entries"), e.round, e.time, e.oracle)
        if s.pending is not None:
            p = s.pending
            idx = [index(i, "pending batch") for i in p.indices]
            if len(set(idx)) != len(idx):
                raise ValueError(f"The {what} is broken: the pending batch names a point twice.")
            pb = PendingBatch(round=p.round, indices=idx, reveal=p.reveal)
            for a in p.answers:
                i, v = a.index, a.label
                if index(i, "pending answers") not in idx:
                    raise ValueError(f"The {what} is broken: an answer for point {i}, which is not in the batch.")
                pb.answers[int(i)] = label(v, "pending answers")
            for sk in p.skipped:
                i, why = sk.index, sk.why
                if index(i, "pending skips") not in idx or i in pb.answers:
                    raise ValueError(f"The {what} is broken: a skip for point {i}, which is not open in the batch.")
                pb.skipped[int(i)] = why
            pb.history = [int(i) for i in p.history if i in pb.answers or i in pb.skipped]
            pb.times = {int(w.index): w.time for w in p.times}
            book.pending = pb
        book.returned = [index(i, "returned") for i in s.returned]
        if book.pending is not None:
            if not book.pending.indices:
                raise ValueError(f"The {what} is broken: the pending batch has no points.")
            both = set(book.pending.indices) & set(book.entries)
            if both:
                raise ValueError(f"The {what} is broken: point {min(both)} of the pending batch is labeled already.")
        mask = None
        if s.mask is not None and len(set(s.mask)) != len(s.mask):
            raise ValueError(f"The {what} is broken: mask: a point is listed twice.")
        if s.mask is not None:
            mask = np.zeros(n_points, dtype=bool)
            mask[[index(i, "mask") for i in s.mask]] = True
        return book, mask

    def to_json(self, mask: Optional[np.ndarray] = None) -> str:
        return json.dumps(self.to_dict(mask), allow_nan=False)


