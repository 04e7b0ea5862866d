"""The active-learning loop: train → outputs → select → reveal, one `RoundResult` per round (the
types and the record live in `bait_core.records.run_record`).

Shapes: N pool points, d embedding size, K classes, B batch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

import numpy as np
import torch

from bait_core.records.run_record import (RoundResult, RunConfig, RunRecord, new_record)
from bait_core.selection.base import SelectionCancelled
from bait_core.selection.registry import get_strategy

# progress(stage, done, total, info): stage is "train", "outputs", "select:<phase>" or "round"
LoopProgress = Callable[[str, int, int, Optional[float]], None]


def _initial_labeled(has_label: np.ndarray, n0: int, seed: int) -> np.ndarray:
    """A seeded random initial labeled set of n0 points that have labels.  (N,) bool"""
    candidates = np.flatnonzero(has_label)
    if n0 > candidates.size:
        raise ValueError(f"The initial labeled set ({n0}) is larger than the {candidates.size} points that have labels.")
    rng = np.random.default_rng([seed, 7919])
    mask = np.zeros(has_label.shape[0], dtype=bool)
    mask[rng.choice(candidates, size=n0, replace=False)] = True
    return mask


def _metric(task: str, pred: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    if task == "regression":
        return float(np.sqrt(np.mean((pred.astype(np.float64) - y) ** 2))), "rmse"
    return float(np.mean(pred == y)), "accuracy"


def run_rounds(dataset: Any, model: torch.nn.Module, config: RunConfig, *,
               init_state: Optional[dict] = None, labeled: Optional[np.ndarray] = None,
               start_round: int = 0, progress: Optional[LoopProgress] = None,
               should_stop: Optional[Callable[[], bool]] = None) -> Iterator[RoundResult]:
    """Yield one RoundResult per round (config.rounds selections, then a final evaluation).

    model: a built or loaded model; its current weights are the initial weights of every round
    unless `init_state` is given. labeled: continue from this mask (default: a seeded random
    initial set of config.initial points). should_stop() is checked between and inside stages;
    when it returns True the generator ends after the current stage, except a selection, which is
    abandoned at its next progress call (SelectionCancelled raised in its progress callback): the
    round is then discarded, nothing is yielded for it.
    """
    from bait_core.learning.outputs import compute_outputs
    from bait_core.learning.train import PRESETS, device_label, pick_device, train_model

    config.validate(dataset.task, dataset.X.shape[0])
    if config.preset not in PRESETS:
        raise ValueError(f"Unknown training preset '{config.preset}'. Known presets: {', '.join(PRESETS)}.")
    device = pick_device(None if config.device == "auto" else config.device)
    dev_name = device_label(device)
    init = copy.deepcopy(init_state if init_state is not None else model.state_dict())
    has_label = dataset.has_label                                     # (N,) bool
    mask = (_initial_labeled(has_label, config.initial, config.seed) if labeled is None
            else np.asarray(labeled, dtype=bool).copy())
    strategy = get_strategy(config.strategy)
    K = len(dataset.classes)
    stop = should_stop or (lambda: False)

    def note(stage: str, done: int, total: int, info: Optional[float] = None) -> None:
        if progress:
            progress(stage, done, total, info)

    for r in range(start_round, config.rounds + 1):
        final = r == config.rounds or not (~mask).any()
        train_rows = mask & has_label
        t0 = time.perf_counter()
        tr = train_model(model, init, dataset.X[train_rows], dataset.y[train_rows], task=dataset.task,
                         config=PRESETS[config.preset], seed=config.seed * 1000 + r, device=device,
                         progress=lambda e, E, loss, acc: note("train", e, E, acc), should_stop=stop)
        t1 = time.perf_counter()
        if stop():
            return
        pool = compute_outputs(model, dataset.X, task=dataset.task, device=device)
        test = compute_outputs(model, dataset.X_test, task=dataset.task, device=device)
        metric, metric_name = _metric(dataset.task, test.predictions, dataset.y_test)
        t2 = time.perf_counter()
        note("outputs", 1, 1, metric)
        sel = None
        if not final:
            B = min(config.batch_size, int((~mask).sum()))

            def select_progress(ph: str, s: int, T: int, v: Optional[float]) -> None:
                note(f"select:{ph}", s, T, v)
                if stop():                                             # a stop inside the selection:
                    raise SelectionCancelled                           # the round is discarded
            try:
                sel = strategy(pool.embeddings, pool.probs, mask, B, seed=config.seed * 1000 + r,
                               device=device, progress=select_progress, **config.strategy_options())
            except SelectionCancelled:
                return
        t3 = time.perf_counter()
        picked = [] if sel is None or not K else np.bincount(
            np.clip(dataset.y[sel.indices], 0, None)[has_label[sel.indices]], minlength=K).tolist()
        result = RoundResult(
            round=r, labeled_before=mask.copy(), n_labeled=int(train_rows.sum()), metric=metric,
            metric_name=metric_name, predictions=pool.predictions,
            confidence=None if pool.probs is None else pool.probs.max(1),
            class_counts=np.bincount(dataset.y[train_rows], minlength=K).tolist() if K else [],
            picked_class_counts=picked, selection=sel,
            times={"train": t1 - t0, "outputs": t2 - t1, "select": t3 - t2},
            train_epochs=tr.epochs, train_accuracy=tr.train_accuracy, device=dev_name,
            embeddings=pool.embeddings, probs=pool.probs)
        note("round", r + 1, config.rounds + 1, metric)
        yield result
        if final:
            return
        mask[sel.indices] = True


def run(config: RunConfig, *, dataset: Any = None, model: Optional[torch.nn.Module] = None,
        progress: Optional[LoopProgress] = None, should_stop: Optional[Callable[[], bool]] = None) -> RunRecord:
    """Load what the config names (unless given), run every round, return the record."""
    from bait_core.learning.data import load_dataset
    from bait_core.learning.models import MODEL_NAMES, build_model, load_user_model

    if dataset is None:
        kw = {"label_column": config.label_column} if config.label_column else {}
        dataset = load_dataset(config.data, seed=config.seed, **kw)
    n_out = len(dataset.classes) if dataset.task == "classification" else 1
    if model is None:
        if config.model in MODEL_NAMES:
            model = build_model(config.model, dataset.input_shape, n_out, seed=config.seed)
        else:
            p = Path(config.model)
            model = load_user_model(p, filename=p.name, arch=None, input_shape=dataset.input_shape,
                                    n_outputs=n_out, seed=config.seed)
    record = new_record(config, dataset, model)
    for r in run_rounds(dataset, model, config, progress=progress, should_stop=should_stop):
        record.rounds.append(replace(r, embeddings=None, probs=None))
    return record
