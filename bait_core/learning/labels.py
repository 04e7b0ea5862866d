"""Labels given during a run, and the label files people exchange.

The book itself (:class:`LabelBook`, :class:`LabelEntry`, :class:`PendingBatch`; records layer,
``bait_core.records.label_book``) is re-exported here. A run's :class:`LabelBook` holds every label the run obtained (``entries``: pool index → :class:`LabelEntry`
with the label, the round, the time and the oracle — ``"person"`` for a label given in the app or read from
a labels file, ``"simulated"`` for one revealed from the dataset's own ``y``), the batch a person is labeling
now (:class:`PendingBatch`: the picks of the latest round, the answers so far, the skips, an undo history),
and the points sent back to the pool. It is saved as ``labels.json`` in the run's folder the moment a label
is given (``service.runstore.RunStore.save_labels``) and copied into the run record after every round.

Label files: :func:`labels_csv` (``id,label,round,time,oracle,index``), :func:`label_studio_json` (Label
Studio's task list with ``annotations`` for the labels given and ``predictions`` from the model) and
:func:`read_labels_csv` (a CSV with columns ``id,label``; ``id`` is the 0-based data row of a table (header
excluded), the file's path in an image ZIP — or its bare file name when that is unique — or the row of an
NPZ's ``X``; ``label`` a class name, or a number for regression). Nothing here imports streamlit.

Shapes: N pool points, K classes, B batch.
"""

from __future__ import annotations

import io
import json
import math
from typing import Any, Optional, Sequence, Union

import numpy as np

from bait_core.common.quoting import quote
from bait_core.records.label_book import (FIRST_BATCH, ORACLES, SKIP_REASONS, Label, LabelBook, LabelEntry,
                                          PendingBatch, now)

__all__ = ["ORACLES", "FIRST_BATCH", "SKIP_REASONS", "LabelEntry", "PendingBatch", "LabelBook", "now", "point_ids",
           "parse_label", "label_text", "labels_csv", "labels_rows", "label_studio_json", "read_labels_csv",
           "check_new_labels", "summarize_answers", "MAX_LABEL_FILE_BYTES"]

MAX_LABEL_FILE_BYTES = 50 << 20


def point_ids(dataset: Any) -> list[str]:
    """(N,) the id of each pool point in its data file: ``dataset.point_ids`` when the loader set it (a
    table's 0-based data row, an image's path in the ZIP, an NPZ row), else the pool index as text."""
    ids = getattr(dataset, "point_ids", None)
    if ids is not None and len(ids) == dataset.X.shape[0]:
        return [str(v) for v in ids]
    return [str(i) for i in range(dataset.X.shape[0])]


def parse_label(dataset: Any, value: Any, *, where: str = "") -> Label:
    """One label as given by a person or a file → a class index 0..K−1 (classification; a class name,
    or an int index) or a finite float (regression). ValueError with a sentence otherwise."""
    at = f" ({where})" if where else ""
    if dataset.task == "classification":
        classes = list(dataset.classes)
        if isinstance(value, (bool, np.bool_)):
            value = str(bool(value))
        if isinstance(value, (int, np.integer)):
            if 0 <= int(value) < len(classes):
                return int(value)
            raise ValueError(f"The class number {int(value)}{at} is not one of 0..{len(classes) - 1}.")
        if str(value) in classes:                       # exact, spaces included (a class " dog" is " dog")
            return classes.index(str(value))
        text = str(value).strip()
        if text in classes:
            return classes.index(text)
        low = {c.lower(): k for k, c in enumerate(classes)}
        if text.lower() in low and sum(c.lower() == text.lower() for c in classes) == 1:
            return low[text.lower()]
        shown = ", ".join(quote(c) for c in classes[:12]) + (", …" if len(classes) > 12 else "")
        raise ValueError(f"The label {quote(text[:60])}{at} is not a class of this dataset ({shown}).")
    try:
        v = float(str(value).strip()) if not isinstance(value, (int, float, np.number)) else float(value)
    except ValueError:
        raise ValueError(f"The value {quote(str(value)[:60])}{at} is not a number (this is a regression "
                         "dataset).") from None
    if not math.isfinite(v):
        raise ValueError(f"The value {quote(str(value)[:60])}{at} is not a finite number.")
    return v


def original_rows(dataset: Any, data: Optional[bytes], name: Optional[str], indices: Sequence[int], *,
                  options: Any = None) -> Optional["Any"]:
    """The pool points `indices` as their table file has them (a pandas DataFrame, one row per index, the
    label column left out), for a person judging a point: the values as written, not the standardised or
    one-hot features the model sees. None when that cannot be shown (not a table, no file bytes, no ids):
    callers then show the model's features and say so."""
    ids = getattr(dataset, "point_ids", None)
    if data is None or not name or ids is None or getattr(dataset, "is_image", False) or dataset.feature_names is None:
        return None
    from bait_core.learning.data.tables import table_rows
    from bait_core.learning.data import TABLE_EXTENSIONS
    from pathlib import PurePosixPath
    if PurePosixPath(str(name)).suffix.lower() not in TABLE_EXTENSIONS:
        return None
    label = getattr(getattr(dataset, "report", None), "label_column", None)
    try:
        return table_rows(data, name, [int(ids[i]) for i in indices], options=options,
                          drop=[label] if label else [])
    except (ValueError, TypeError):
        return None


def label_text(dataset: Any, label: Label) -> str:
    """A label as people read it: the class name, or the number."""
    if dataset.task == "classification":
        return str(dataset.classes[int(label)])
    return repr(float(label))                    # the shortest text that reads back as the same float


# --- files out -------------------------------------------------------------------------------------------

def labels_csv(dataset: Any, book: LabelBook, *, include_pending: bool = True) -> str:
    """The labels the run obtained as CSV text: ``id,label,round,time,oracle,index`` (one row per label,
    in the order they were given; with `include_pending`, the answers of the batch being labeled too).
    ``id`` as in :func:`point_ids`; ``label`` the class name or number. Formula-safe cells."""
    from bait_core.records.csv_text import csv_text

    rows = labels_rows(dataset, book, include_pending=include_pending)
    return csv_text(LABEL_COLUMNS, [[r[c] for c in LABEL_COLUMNS] for r in rows])


LABEL_COLUMNS = ["id", "label", "round", "time", "oracle", "index"]


def labels_rows(dataset: Any, book: LabelBook, *, include_pending: bool = True) -> list[dict]:
    """The labels the run obtained as rows {id, label, round, time, oracle, index} (see labels_csv)."""
    ids = point_ids(dataset)
    rows = [{"id": ids[e.index], "label": label_text(dataset, e.label), "round": e.round, "time": e.time,
             "oracle": e.oracle, "index": e.index}
            for e in sorted(book.entries.values(), key=lambda e: (e.round, e.time, e.index))]
    p = book.pending
    if include_pending and p is not None:
        for i in p.history:
            if i in p.answers:
                rows.append({"id": ids[i], "label": label_text(dataset, p.answers[i]), "round": p.round,
                             "time": p.times.get(i, ""), "oracle": "person", "index": i})
    return rows


def label_studio_json(dataset: Any, book: LabelBook, *, predictions: Optional[np.ndarray] = None,
                      confidence: Optional[np.ndarray] = None, model_version: str = "bait-explorer") -> str:
    """Label Studio's JSON task list (import it in a project with a ``Choices`` control named ``label``
    over an ``Image`` named ``image`` or a ``Text`` named ``text``): one task per labeled point and per
    point of the batch being labeled; ``data`` holds the id (and, for images, ``image``: the file's path
    in the ZIP; for a labeled point ``labeled_by`` — the oracle — and ``labeled_at``), ``annotations`` the
    label given, ``predictions``
    the model's class and its probability (`predictions` (N,) class indices, `confidence` (N,) the top
    probability; omitted when None). Classification only: ValueError for a regression dataset."""
    if dataset.task != "classification":
        raise ValueError("Label Studio's choices format holds classes; a regression run's labels export as CSV.")
    ids = point_ids(dataset)
    is_image = bool(getattr(dataset, "is_image", False))
    to_name, key = ("image", "image") if is_image else ("text", "text")
    given: dict[int, tuple[Label, str, str]] = {e.index: (e.label, e.oracle, e.time) for e in book.entries.values()}
    order = sorted(given)
    p = book.pending
    if p is not None:
        for i in p.indices:
            if i in p.answers:
                given[i] = (p.answers[i], "person", p.times.get(i, ""))
            if i not in order:
                order.append(i)

    def choice(k: int) -> dict:
        return {"from_name": "label", "to_name": to_name, "type": "choices",
                "value": {"choices": [str(dataset.classes[int(k)])]}}

    tasks = []
    for i in order:
        data: dict[str, Any] = {"id": ids[i], "index": int(i)}
        data[key] = ids[i] if is_image else ", ".join(
            f"{n}={v:.4g}" for n, v in zip(dataset.feature_names or [f"x{j}" for j in range(dataset.n_features)],
                                          np.asarray(dataset.X[i]).reshape(-1)[:50]))
        task: dict[str, Any] = {"data": data}
        if i in given:
            lab, oracle, t = given[i]
            data["labeled_by"], data["labeled_at"] = oracle, t
            task["annotations"] = [{"result": [choice(int(lab))]}]
        if predictions is not None:
            pred = {"model_version": model_version, "result": [choice(int(predictions[i]))]}
            if confidence is not None and math.isfinite(float(confidence[i])):
                pred["score"] = round(float(confidence[i]), 6)
            task["predictions"] = [pred]
        tasks.append(task)
    return json.dumps(tasks, indent=1, allow_nan=False)


# --- files in --------------------------------------------------------------------------------------------

def read_labels_csv(blob: Union[bytes, str], dataset: Any, *, what: str = "labels file") -> list[tuple[int, Label]]:
    """A labels CSV → [(pool index, label)] in file order. Columns ``id`` and ``label`` (any case, any
    order; other columns — round, time, oracle, index — are ignored); ids as in :func:`point_ids` (an
    image's bare file name is accepted when it is unique in the ZIP); labels as :func:`parse_label`.
    Empty label cells are skipped. ValueError with one sentence (naming up to five bad rows, by their
    line in the file) for: not CSV text, no id/label column, an id not in the pool, a label that is not a
    class (or not a number), the same id twice with different labels."""
    import pandas as pd

    if isinstance(blob, str):
        blob = blob.encode("utf-8")
    if len(blob) > MAX_LABEL_FILE_BYTES:
        raise ValueError(f"The {what} is larger than {MAX_LABEL_FILE_BYTES >> 20} MiB.")
    text = _label_file_text(blob, what)
    lines = text.splitlines()
    if lines and lines[0].strip().lower().startswith("sep=") and len(lines[0].strip()) == 5:
        seps = [lines[0].strip()[4]]                        # Excel's "sep=;" first line names the separator
        text = "\n".join(lines[1:])
    else:
        seps = [",", ";", "\t", "|"]
    if not text.strip():
        raise ValueError(f"The {what} is empty; it needs a header line 'id,label' and one line per label.")
    df = cols = None
    for sep in seps:                                        # the separator that gives both columns
        try:
            frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, sep=sep, engine="python")
        except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError, csv_error()):
            continue
        found = _id_label_columns(frame)
        if df is None or found is not None:
            df, cols = frame, found
        if found is not None:
            break
    if df is None:
        raise ValueError(f"The {what} could not be read as CSV (comma, semicolon, tab or '|' separated).")
    if cols is None:
        header = lines[0] if lines else ""
        raise ValueError(f"The {what} needs the columns 'id' and 'label' (separated by a comma, semicolon, tab or "
                         f"'|'); its first line is {quote(header[:120])}.")
    ids = point_ids(dataset)
    where = {v: i for i, v in enumerate(ids)}
    base: dict[str, list[int]] = {}
    if getattr(dataset, "point_ids", None) is not None and getattr(dataset, "is_image", False):
        for i, v in enumerate(ids):
            base.setdefault(v.rsplit("/", 1)[-1], []).append(i)
    out: list[tuple[int, Label]] = []
    seen: dict[int, tuple[Label, int]] = {}
    bad_ids: list[str] = []
    bad_labels: list[str] = []
    clashes: list[str] = []
    for k, (raw_id, raw_label) in enumerate(zip(df[cols[0]].tolist(), df[cols[1]].tolist())):
        line = k + 2
        rid, rlab = _unquote_formula(str(raw_id).strip()), _unquote_formula(str(raw_label))
        if rlab.strip() == "":
            continue                                        # no label given for this id
        i = where.get(rid)
        if i is None and rid in base and len(base[rid]) == 1:
            i = base[rid][0]
        if i is None and rid.endswith(".0") and rid[:-2].isdigit():
            i = where.get(rid[:-2])                         # a spreadsheet wrote the row number as 12.0
        if i is None:
            bad_ids.append(f"line {line}: {quote(rid[:40])}")
            continue
        try:
            lab = parse_label(dataset, rlab)
        except ValueError:
            bad_labels.append(f"line {line}: {quote(rlab.strip()[:40])}")
            continue
        if i in seen:
            if seen[i][0] != lab:
                clashes.append(f"{quote(rid[:40])} (lines {seen[i][1]} and {line})")
            continue
        seen[i] = (lab, line)
        out.append((i, lab))
    if bad_ids:
        kind = "file path or name in the ZIP" if getattr(dataset, "is_image", False) else "0-based data row"
        raise ValueError(f"The {what} names {len(bad_ids)} id(s) that are not pool points of this dataset "
                         f"({'; '.join(bad_ids[:5])}{'; …' if len(bad_ids) > 5 else ''}); an id is the point's "
                         f"{kind}, as in the exported labels or to_label.csv. Points held out as the test split "
                         "(and rows dropped while reading the file) are not pool points and cannot be labeled.")
    if bad_labels:
        if dataset.task == "classification":
            shown = ", ".join(quote(c) for c in list(dataset.classes)[:12])
            raise ValueError(f"The {what} has {len(bad_labels)} label(s) that are not classes of this dataset "
                             f"({'; '.join(bad_labels[:5])}{'; …' if len(bad_labels) > 5 else ''}); the classes "
                             f"are {shown}{', …' if len(dataset.classes) > 12 else ''}.")
        raise ValueError(f"The {what} has {len(bad_labels)} value(s) that are not finite numbers "
                         f"({'; '.join(bad_labels[:5])}).")
    if clashes:
        raise ValueError(f"The {what} gives different labels to the same point: {'; '.join(clashes[:5])}.")
    return out


def _label_file_text(blob: bytes, what: str) -> str:
    """A labels file's text: UTF-8 (with or without BOM) or UTF-16 with its BOM (Excel's "Unicode text")."""
    if blob[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return blob.decode("utf-16")
        except UnicodeDecodeError:
            pass
    try:
        return blob.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ValueError(f"The {what} is not UTF-8 (or UTF-16) text; save it as CSV UTF-8.") from None


def _id_label_columns(df: Any) -> Optional[tuple[Any, Any]]:
    """The (id, label) columns of a labels table: named exactly 'id' / 'label', else the first named so in
    any case or with spaces around; None when either is missing."""
    found = []
    for want in ("id", "label"):
        exact = [c for c in df.columns if str(c) == want]
        loose = [c for c in df.columns if str(c).strip().lower() == want]
        if not (exact or loose):
            return None
        found.append((exact or loose)[0])
    return found[0], found[1]


def _unquote_formula(text: str) -> str:
    """A cell as this project's CSV writer protected it against spreadsheet formulas ('=…, '+…, '-…, '@…)
    back to its text (records.csv_text.safe_cell)."""
    from bait_core.records.csv_text import FORMULA_STARTS
    rest = text[1:]
    if text.startswith("'") and (rest.startswith(FORMULA_STARTS) or rest.lstrip(" ").startswith(FORMULA_STARTS)):
        return rest
    return text


def csv_error() -> type:
    import csv
    return csv.Error


def summarize_answers(dataset: Any, batch: PendingBatch) -> dict:
    """For a batch labeled by a person with `reveal` (the classroom mode): how many answers have a label
    in the data file and how many of those agree with it. {"compared": int, "agree": int}."""
    has = np.asarray(dataset.has_label, dtype=bool)
    compared = agree = 0
    for i, v in batch.answers.items():
        if has[i]:
            compared += 1
            agree += int(dataset.y[i] == v) if dataset.task == "classification" else int(
                math.isclose(float(dataset.y[i]), float(v), rel_tol=1e-6, abs_tol=1e-9))
    return {"compared": compared, "agree": agree}


def check_new_labels(pairs: Sequence[tuple[int, Label]], known: np.ndarray, ids: Sequence[str],
                     *, what: str = "labels file") -> None:
    """Refuse labels for points that already have one (`known` (N,) bool): one sentence naming up to five."""
    again = [ids[i] for i, _ in pairs if known[i]]
    if again:
        raise ValueError(f"The {what} labels {len(again)} point(s) that are already labeled "
                         f"({', '.join(quote(v[:40]) for v in again[:5])}{', …' if len(again) > 5 else ''}); "
                         "remove those lines (a label, once given, is kept).")
