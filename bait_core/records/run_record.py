"""What a run is, as data: its `RunConfig`, one `RoundResult` per round and the `RunRecord` that the
app, the CLI and the benchmarks share (JSON, schema-versioned; checked by `records.schemas`).

Round k trains (from the same initial weights every round) on the n_k labels revealed so far,
measures the test metric, computes embeddings and probabilities for the pool and selects the next
batch. After the last selection one more training round measures the final batch's effect: that
last RoundResult has no selection. So a run of R rounds has R + 1 points on its learning curve.
The rounds are computed by `bait_core.learning.loop`.

Shapes: N pool points, d embedding size, K classes, B batch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from bait_core.records import schemas
from bait_core.records.csv_text import csv_text
from bait_core.selection.base import Selection, jsonable
from bait_core.selection.registry import SPECS, get_spec, regression_strategies, run_options, strategy_label

SCHEMA_VERSION = 1
# Round r of a run with seed s seeds its training and selection with s·1000 + r (learning.loop.round_seed),
# and scikit-learn / numpy's legacy generators take seeds below 2³²: runs take seeds 0..MAX_SEED.
MAX_SEED = 4_000_000
# strategies that rank by class probabilities (so a regression model cannot use them), from the registry
NEEDS_PROBS = frozenset(name for name, spec in SPECS.items() if spec.needs_probs)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a run (with the dataset and model it names)."""

    data: str = "builtin:digits"      # "builtin:NAME" or a file name/path
    model: str = "mlp"                # a built-in architecture name or a file name
    strategy: str = "bait"
    rounds: int = 10
    batch_size: int = 10
    initial: int = 20
    seed: int = 0
    lamb: float = 1.0
    oversample: float = 2.0
    approximation: str = "none"       # BAIT: "none" (exact), "top-c" or "binary" (selection.approx)
    top_classes: int = 10             # BAIT top-c: c
    pool_sample: int = 0              # BAIT: unlabeled points considered (0 = all)
    preset: str = "quick"
    device: str = "auto"
    label_column: Optional[str] = None
    oracle: str = "simulated"         # who labels the picks: "simulated" (the dataset's y) or "person"
    first_batch: str = "k-center"     # with no labels at all: "k-center" or "random" on the input features

    def validate(self, task: str = "classification", n_pool: Optional[int] = None) -> None:
        """ValueError with a sentence for anything that cannot run."""
        spec = get_spec(self.strategy)                   # ValueError listing the known strategies
        from bait_core.records.label_book import FIRST_BATCH, ORACLES
        if self.oracle not in ORACLES:
            raise ValueError(f"oracle must be one of {', '.join(ORACLES)} (who labels the picks), got {self.oracle!r}.")
        if self.first_batch not in FIRST_BATCH:
            raise ValueError(f"first_batch must be one of {', '.join(FIRST_BATCH)}, got {self.first_batch!r}.")
        for name in ("rounds", "batch_size", "initial"):
            v = getattr(self, name)
            low = 0 if name == "rounds" or (name == "initial" and self.oracle == "person") else 1
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name.replace('_', ' ')} must be a whole number ≥ {low}, got {v!r}."
                                 + (" (A run labeled by a person may start with 0.)" if name == "initial" else ""))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise ValueError(f"seed must be a whole number from 0 to {MAX_SEED:,}, got {self.seed!r}.")
        for name, option in run_options().items():       # every strategy option is a field, always checked
            option.check(getattr(self, name))
        # options of another strategy set away from their defaults would do nothing: refused, not ignored
        for name, option in run_options().items():
            if name not in spec.options and getattr(self, name) != option.default:
                raise ValueError(f"{name} = {getattr(self, name)!r} is an option of another strategy; "
                                 f"'{self.strategy}' does not use it (leave it at {option.default!r}).")
        if "approximation" in spec.options:
            from bait_core.selection.approx import check_approximation
            check_approximation(self.approximation, self.top_classes, self.pool_sample)
            if 0 < self.pool_sample < self.batch_size:
                raise ValueError(f"pool_sample = {self.pool_sample} is smaller than the batch size {self.batch_size}: "
                                 f"the batch is picked from the sample; use pool_sample ≥ {self.batch_size} or 0.")
        if task == "regression" and "approximation" in spec.options and self.approximation != "none":
            raise ValueError(f"The '{self.approximation}' approximation needs class probabilities, which a regression "
                             "model has not; use approximation 'none' (a pool sample still applies).")
        if task == "regression" and not spec.regression_ok:
            ok = regression_strategies()
            use = f"{', '.join(ok[:-1])} or {ok[-1]}" if len(ok) > 1 else ok[0]
            raise ValueError(f"'{self.strategy}' needs class probabilities, which a regression model has not; "
                             f"use {use}.")
        if n_pool is not None and self.initial >= n_pool:
            raise ValueError(f"The initial labeled set ({self.initial}) must be smaller than the pool ({n_pool} points).")

    def strategy_options(self) -> dict:
        """The keyword options of this config's strategy function, from its spec: {"lamb": ..,
        "oversample": .., "approximation": .., "top_classes": .., "pool_sample": ..} for bait, {} for
        strategies without options."""
        return {name: getattr(self, name) for name in get_spec(self.strategy).options}

    def strategy_label(self, K: Optional[int] = None, n_unlabeled: Optional[int] = None) -> str:
        """The strategy's label with its approximation: "BAIT", "BAIT (approximate: top-5 classes)"."""
        return strategy_label(self.strategy, self.strategy_options(), K=K, n_unlabeled=n_unlabeled)


# RunConfig fields added after schema 1 (BAIT's approximations): saved only when not at their defaults,
# so the record of an exact run is what it was before they existed (and older readers see no new keys).
_SAVED_WHEN_SET = ("approximation", "top_classes", "pool_sample", "oracle", "first_batch")


def config_dict(config: RunConfig) -> dict:
    """A RunConfig as saved: every field, except those of _SAVED_WHEN_SET at their defaults (read back
    as the defaults: the config round-trips unchanged)."""
    out = asdict(config)
    default = RunConfig()
    for name in _SAVED_WHEN_SET:
        if out[name] == getattr(default, name):
            del out[name]
    return out


@dataclass(frozen=True)
class RoundResult:
    """One round: trained on `n_labeled` labels, measured, then (unless final) selected a batch."""

    round: int
    labeled_before: np.ndarray          # (N,) bool: labeled (or picked) before this round's selection
    n_labeled: int                      # labels trained on (picked points without a label excluded)
    metric: float                       # test accuracy (classification) or RMSE (regression)
    metric_name: str
    predictions: np.ndarray             # (N,) pool predictions (class index or value)
    confidence: Optional[np.ndarray]    # (N,) max probability (None for regression)
    class_counts: list[int]             # labeled points per class (classification; [] otherwise)
    picked_class_counts: list[int]      # this round's picks per class ([] when none / regression)
    selection: Optional[Selection]      # None for the final, evaluation-only round
    times: dict                         # seconds: train, outputs, select
    train_epochs: int
    train_accuracy: Optional[float]
    device: str
    embeddings: Optional[np.ndarray] = field(default=None, compare=False, repr=False)  # (N, d); not saved
    probs: Optional[np.ndarray] = field(default=None, compare=False, repr=False)       # (N, K); not saved
    extras: dict = field(default_factory=dict, compare=False, repr=False)  # the round's hooks' results; not saved

    @property
    def is_final(self) -> bool:
        return self.selection is None


# ----------------------------------------------------------------------------- records

def _floats(v: list) -> np.ndarray:
    return np.array([np.nan if x is None else x for x in v], dtype=np.float64)


def _round_to_dict(r: RoundResult) -> dict:
    return {
        "round": r.round, "labeled_before": np.flatnonzero(r.labeled_before).tolist(),
        "n_labeled": r.n_labeled, "metric": r.metric, "metric_name": r.metric_name,
        "predictions": r.predictions.tolist(),
        "confidence": None if r.confidence is None else np.round(r.confidence.astype(np.float64), 6).tolist(),
        "class_counts": r.class_counts, "picked_class_counts": r.picked_class_counts,
        "selection": None if r.selection is None else {**r.selection.to_dict(), "scores": r.selection.scores.tolist()},
        "times": r.times, "train_epochs": r.train_epochs, "train_accuracy": r.train_accuracy,
        "device": r.device,
    }


def _round_from_dict(r: "schemas.RoundSchema", n_points: int, task: Optional[str] = None) -> RoundResult:
    """A RoundResult from a round already checked by `schemas.check_record` (n_points: the pool size)."""
    mask = np.zeros(n_points, dtype=bool)
    mask[np.asarray(r.labeled_before, dtype=np.int64)] = True
    s = r.selection
    sel = None
    if s is not None:
        sel = Selection(strategy=s.strategy, indices=s.indices, gains=_floats(s.gains),
                        scores=_floats(s.scores if s.scores is not None else [None] * n_points),
                        timings=dict(s.timings), params=dict(s.params), pruned=s.pruned,
                        forward_indices=s.forward_indices, forward_gains=_floats(s.forward_gains),
                        objective=_floats(s.objective), n_forward=s.n_forward)
    preds = (_floats(r.predictions) if task == "regression" or any(type(v) is not int for v in r.predictions)
             else np.asarray(r.predictions, dtype=np.int64))
    return RoundResult(
        round=r.round, labeled_before=mask, n_labeled=r.n_labeled, metric=schemas.finite_or_nan(r.metric),
        metric_name=r.metric_name, predictions=preds,
        confidence=None if r.confidence is None else _floats(r.confidence),
        class_counts=list(r.class_counts), picked_class_counts=list(r.picked_class_counts), selection=sel,
        times={k: schemas.finite_or_nan(v) for k, v in r.times.items()}, train_epochs=r.train_epochs,
        train_accuracy=r.train_accuracy, device=r.device)


def read_json(text: str | bytes, what: str) -> Any:
    """Parse a file's JSON text within the caps of `schemas.parse_json` (size, nesting depth, no
    NaN/Infinity); ValueError "The <what> is not valid JSON (...)." (or names the cap) otherwise."""
    return schemas.parse_json(text, what)


def check_version(version: Any, supported: int, what: str, label: str = "schema") -> int:
    """A file's format version as an int; ValueError with a sentence when it is missing or newer
    than `supported` (`label` names the version in the sentence: "schema", "story version")."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise ValueError(f"The {what} has no {label} number; it is broken or from another program.")
    if version > supported:
        raise ValueError(f"The {what} was written by a newer BAIT Explorer ({label} {version}); this version reads "
                         f"{label} {supported} and older. Update BAIT Explorer.")
    return version


class JsonFile:
    """JSON text and files for a record type with `to_dict()` and `from_dict()`: `to_json`, `save`,
    `from_json` (at most schemas.MAX_FILE_BYTES) and `load` (sized before it is read). `WHAT` names the
    file in sentences ("run record"); every error is a ValueError with a sentence."""

    WHAT = "file"

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)      # type: ignore[attr-defined]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json())
        return path

    @classmethod
    def from_json(cls, text: str | bytes) -> Any:
        """An object from JSON text or bytes; ValueError with a sentence for anything invalid (see from_dict)."""
        return cls.from_dict(read_json(text, cls.WHAT))        # type: ignore[attr-defined]

    @classmethod
    def load(cls, path: str | Path) -> Any:
        """An object from a file (see from_json); ValueError when it is missing or too large."""
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"{cls.WHAT[0].upper()}{cls.WHAT[1:]} not found: {path}")
        schemas.check_size(p.stat().st_size, cls.WHAT)          # before reading a huge file into memory
        return cls.from_json(p.read_bytes())


@dataclass
class RunRecord(JsonFile):
    """A whole run: config, seed, dataset and model identity, rounds, library version."""

    WHAT = "run record"

    config: RunConfig
    dataset: dict                       # name, source, fingerprint, task, n_points, classes, ...
    model: dict                         # name, parameters, embedding_dim
    rounds: list[RoundResult] = field(default_factory=list)
    library_version: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    schema_version: int = SCHEMA_VERSION
    labels: Optional[dict] = None       # the run's LabelBook as saved (records.label_book); None: none kept

    @property
    def n_points(self) -> int:
        return int(self.dataset["n_points"])

    def learning_curve(self) -> tuple[np.ndarray, np.ndarray]:
        """(labels, metric) per round."""
        return (np.array([r.n_labeled for r in self.rounds], dtype=np.int64),
                np.array([r.metric for r in self.rounds], dtype=np.float64))

    def auc(self) -> float:
        """Area under the learning curve divided by the label range: the mean metric over the budget."""
        x, y = self.learning_curve()
        if x.size < 2 or x[-1] == x[0]:
            return float(y[0]) if y.size else float("nan")
        return float(np.trapezoid(y, x) / (x[-1] - x[0]))

    def to_dict(self) -> dict:
        return jsonable({
            "schema_version": self.schema_version, "kind": "bait-explorer-run",
            "library_version": self.library_version, "created": self.created,
            "config": config_dict(self.config), "dataset": self.dataset, "model": self.model,
            "rounds": [_round_to_dict(r) for r in self.rounds],
            **({"labels": self.labels} if self.labels else {}),
        })

    @classmethod
    def from_dict(cls, d: Any) -> "RunRecord":
        """A record from its parsed JSON, checked against `schemas.RecordSchema` and the cross-field
        rules of `schemas.check_record`; ValueError with a sentence that names the field otherwise."""
        if not isinstance(d, dict) or d.get("kind") != "bait-explorer-run":
            raise ValueError("This is not a BAIT Explorer run record (no 'kind': 'bait-explorer-run').")
        version = check_version(d.get("schema_version"), SCHEMA_VERSION, "run record")
        rec = schemas.validate(schemas.RecordSchema, d, "run record")
        schemas.check_record(rec)
        config = RunConfig(**rec.config.model_dump(exclude_unset=True))
        n = rec.dataset.n_points
        rounds = [_round_from_dict(r, n, rec.dataset.task) for r in rec.rounds]
        labels = d.get("labels")
        if labels is not None:                           # checked now: a broken book is refused with the record
            from bait_core.records.label_book import LabelBook
            LabelBook.from_dict(labels, n_points=n, task=rec.dataset.task or "classification",
                                n_classes=len(rec.dataset.classes or []), what="run record's labels")
        return cls(config=config, dataset=dict(d["dataset"]), model=dict(d["model"]), rounds=rounds,
                   library_version=rec.library_version, created=rec.created, schema_version=version,
                   labels=labels)

    def metrics_csv(self) -> str:
        """Per-round metrics as CSV text (one header row, one row per round; "\r\n" line ends). Text
        cells that a spreadsheet would run as a formula are quoted (records_csv.safe_cell)."""
        header = ["round", "n_labeled", self.rounds[0].metric_name if self.rounds else "metric",
                  "train_s", "outputs_s", "select_s", "train_epochs", "train_accuracy", "n_picked",
                  "n_pruned", "objective_start", "objective_end", "device"]
        rows = []
        for r in self.rounds:
            s = r.selection
            rows.append([r.round, r.n_labeled, f"{r.metric:.6g}", f"{r.times.get('train', 0):.4f}",
                         f"{r.times.get('outputs', 0):.4f}", f"{r.times.get('select', 0):.4f}", r.train_epochs,
                         "" if r.train_accuracy is None else f"{r.train_accuracy:.4f}",
                         0 if s is None else s.batch_size, 0 if s is None else s.pruned.size,
                         "" if s is None or not s.objective.size else f"{s.objective[0]:.6g}",
                         "" if s is None or not s.objective.size else f"{s.objective[-1]:.6g}", r.device])
        return csv_text(header, rows)

    def picks_csv(self) -> str:
        """Every picked index with its round, pick order and gain, as CSV text (formula-safe, as
        metrics_csv)."""
        rows = []
        for r in self.rounds:
            if r.selection is not None:
                for i, (j, g) in enumerate(zip(r.selection.indices.tolist(), r.selection.gains.tolist())):
                    rows.append([r.round, i + 1, j, "" if not math.isfinite(g) else f"{g:.6g}", r.selection.strategy])
        return csv_text(["round", "order", "index", "gain", "strategy"], rows)


def dataset_identity(dataset: Any) -> dict:
    return jsonable({"name": dataset.name, "source": dataset.source, "fingerprint": dataset.fingerprint,
                      "task": dataset.task, "n_points": int(dataset.X.shape[0]),
                      "n_test": int(dataset.X_test.shape[0]), "input_shape": list(dataset.input_shape),
                      "classes": list(dataset.classes)})


def model_identity(name: str, model: torch.nn.Module) -> dict:
    return {"name": name, "parameters": int(sum(p.numel() for p in model.parameters())),
            "embedding_dim": int(getattr(model, "embedding_dim", 0) or 0)}


def new_record(config: RunConfig, dataset: Any, model: torch.nn.Module) -> RunRecord:
    from bait_core import __version__
    return RunRecord(config=config, dataset=dataset_identity(dataset),
                     model=model_identity(config.model, model), library_version=__version__)


