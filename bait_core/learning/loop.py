"""The active-learning round, written once: train → outputs → select → obtain labels.

`run_round` runs ONE round on a `RunState` (the dataset, the model and its initial weights, the
labeled mask and the labels known so far); labels come from an `Oracle` (`SimulatedOracle` reveals
the dataset's own `y`), per-round extras from hooks (`RoundHook`: called with a `RoundState` after
the selection; their dicts land in `RoundResult.extras`, never in records). Every caller drives it:
`run_rounds` (the generator of a whole run), `run` (a record), `service.explorer.Explorer` (one round
per click), `learning.compare.run_comparison` and `learning.playground.Playground.step`.

The seeding rule lives here too, once: `round_seed(seed, r)` (training shuffles and the selection of
round r) and `initial_labeled(has_label, n0, seed)` (the seeded random initial labeled set).

Shapes: N pool points, d embedding size, K classes, B batch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Optional, Protocol, Sequence

import numpy as np
import torch

from bait_core.common.quoting import quote
from bait_core.common.threads import check_threads, limit_threads
from bait_core.records.metrics import metric_of_task
from bait_core.records.run_record import RoundResult, RunConfig, RunRecord, new_record
from bait_core.selection.base import Selection, SelectionCancelled
from bait_core.selection.registry import get_strategy

# progress(stage, done, total, info): stage is "train", "outputs", "select:<phase>" or "round"
LoopProgress = Callable[[str, int, int, Optional[float]], None]


# --------------------------------------------------------------------------------------------- seeding

def round_seed(seed: int, r: int) -> int:
    """The seed of round r of a run seeded `seed`: its training shuffles and its selection."""
    return seed * 1000 + r


def initial_labeled(has_label: np.ndarray, n0: int, seed: int) -> np.ndarray:
    """A seeded random initial labeled set of n0 points among those that have labels.

    has_label (N,) bool → (N,) bool with n0 True. ValueError with a sentence when fewer than n0
    points have labels. The rng is numpy's default_rng([seed, 7919])."""
    candidates = np.flatnonzero(has_label)
    if n0 > candidates.size:
        raise ValueError(f"The initial labeled set ({n0}) is larger than the {candidates.size} points that have labels.")
    rng = np.random.default_rng([seed, 7919])
    mask = np.zeros(has_label.shape[0], dtype=bool)
    mask[rng.choice(candidates, size=n0, replace=False)] = True
    return mask


_initial_labeled = initial_labeled          # the old private name


def _metric(task: str, pred: np.ndarray, y: np.ndarray) -> tuple[float, str]:
    """The task's test metric (records.metrics.metric_of_task) of predictions `pred` against `y`."""
    name = metric_of_task(task).name
    if name == "accuracy":
        return float(np.mean(pred == y)), name
    return float(np.sqrt(np.mean((pred.astype(np.float64) - y) ** 2))), name


# --------------------------------------------------------------------------------------------- oracle

class Oracle(Protocol):
    """Who answers "what is the label of these points?".

    label(indices (B,) int64) → (labels (B,), answered (B,) bool): the label of each picked point,
    and which of them got one (a point not answered stays picked but unlabeled, like a row without
    a label in a data file: it is never trained on). A person in the app or a labels file can
    implement this; `SimulatedOracle` reveals the dataset's own labels."""

    def label(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class SimulatedOracle:
    """Reveals `y[indices]`; a point answers when `has_label` says it has a label. y (N,), has_label (N,) bool."""

    y: np.ndarray
    has_label: np.ndarray

    @classmethod
    def of(cls, dataset: Any) -> "SimulatedOracle":
        return cls(y=dataset.y, has_label=dataset.has_label)

    def label(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        idx = np.asarray(indices, dtype=np.int64)
        return np.asarray(self.y)[idx], np.asarray(self.has_label, dtype=bool)[idx]


# --------------------------------------------------------------------------------------------- state

@dataclass
class RunState:
    """What a round works on. `mask` (N,) bool: labeled or picked; `known` (N,) bool: has a label;
    `y` (N,): the labels known (copies: a round's reveal writes here, never into the dataset).
    `init_state`: the model's initial weights (every round trains from them)."""

    dataset: Any
    model: torch.nn.Module
    config: RunConfig
    init_state: dict
    mask: np.ndarray
    device: torch.device
    known: Optional[np.ndarray] = None
    y: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.mask = np.asarray(self.mask, dtype=bool).copy()
        if self.known is None:
            self.known = np.asarray(self.dataset.has_label, dtype=bool).copy()
        if self.y is None:
            self.y = np.array(self.dataset.y, copy=True)


@dataclass(frozen=True)
class RoundState:
    """What a hook sees, after this round's outputs and selection (before labels are obtained).

    round r; seed: round_seed(config.seed, r); labeled (N,) bool: the mask the model trained on and
    the selection saw; pool: the pool's Outputs (embeddings (N, d), probs (N, K) or None,
    predictions (N,)); selection: None in a final round; batch_size B the selection was asked for."""

    round: int
    seed: int
    dataset: Any
    model: torch.nn.Module
    device: torch.device
    labeled: np.ndarray
    pool: Any
    selection: Optional[Selection]
    batch_size: int


RoundHook = Callable[[RoundState], dict]


def _checked_answers(answer: Any, idx: np.ndarray, dataset: Any) -> tuple[np.ndarray, np.ndarray]:
    """An oracle's (labels, answered) for the picks `idx` (B,), checked before anything is revealed:
    one label and one flag per pick; answered labels are class indices 0..K−1 (classification) or
    finite numbers (regression). ValueError with a sentence otherwise (the round is not recorded)."""
    try:
        labels, answered = answer
    except (TypeError, ValueError):
        raise ValueError("The oracle must answer (labels, answered): one label and one yes/no per picked point.") from None
    B = idx.shape[0]
    if isinstance(labels, np.ma.MaskedArray) or isinstance(answered, np.ma.MaskedArray):
        raise ValueError("The oracle answered with a masked array; give plain labels and an 'answered' flag per point.")
    labels, answered = np.asarray(labels), np.asarray(answered)
    if labels.shape != (B,) or answered.shape != (B,):
        raise ValueError(f"The oracle answered {labels.shape} labels and {answered.shape} flags for {B} picked "
                         f"points; it must give one of each per point.")
    if answered.dtype != bool:
        raise ValueError(f"The oracle's 'answered' flags must be booleans, got {answered.dtype}.")
    given = labels[answered]
    if dataset.task == "classification":
        K = len(dataset.classes)
        ok = given.size == 0 or np.issubdtype(given.dtype, np.integer) or (np.issubdtype(given.dtype, np.floating)
                                                       and np.all(np.isfinite(given)) and np.all(given == np.round(given)))
        if ok and given.size:
            ok = bool(given.min() >= 0 and given.max() < K)
        if not ok:
            bad = next((v for v in given.tolist() if not (isinstance(v, (int, float)) and not isinstance(v, bool)
                                                          and float(v).is_integer() and 0 <= v < K)), given.tolist()[:1])
            raise ValueError(f"The oracle gave the label {quote(bad)}, which is not a class index 0..{K - 1} "
                             f"({', '.join(map(str, dataset.classes[:10]))}{', …' if K > 10 else ''}).")
    else:
        if given.size and (not np.issubdtype(given.dtype, np.number) or not np.all(np.isfinite(given.astype(np.float64)))):
            raise ValueError("The oracle gave a regression label that is not a finite number.")
    out = np.zeros(B, dtype=np.int64 if dataset.task == "classification" else np.float64)   # unanswered: 0, unused
    if given.size:
        out[answered] = given.astype(out.dtype)
    return out, answered


@dataclass(frozen=True)
class _Untrained:
    """The training result of a round with no labels: the model keeps its initial weights."""

    epochs: int = 0
    train_accuracy: Optional[float] = None


FIRST_BATCH_NOTE = ("No labels yet, so no model to ask: this first batch was chosen by {how} on the input "
                    "features (standardised), not by {strategy}.")


def first_batch(dataset: Any, labeled: np.ndarray, batch_size: int, *, how: str = "k-center", seed: int = 0,
                device: Any = None, progress: Any = None) -> Selection:
    """The first batch of a run with no labels at all, chosen without a model: `how` = "k-center" (greedy
    k-center, i.e. the coreset strategy, on the pool's input features flattened and standardised with the
    pool's mean and spread) or "random" (seeded uniform). labeled (N,) bool; returns a Selection whose
    params["first_batch"] says how it was chosen. ValueError for another `how`."""
    from bait_core.learning.labels import FIRST_BATCH
    from bait_core.selection.baselines import coreset_select, random_select

    if how not in FIRST_BATCH:
        raise ValueError(f"The first batch is chosen by {' or '.join(FIRST_BATCH)}, got {how!r}.")
    X = np.asarray(dataset.X, dtype=np.float32).reshape(dataset.X.shape[0], -1)
    mean, std = X.mean(axis=0), X.std(axis=0)
    Z = (X - mean) / np.where(std > 0, std, 1.0)
    fn = coreset_select if how == "k-center" else random_select
    sel = fn(Z, None, labeled, batch_size, seed=seed, device=device, progress=progress)
    word = "greedy k-center" if how == "k-center" else "uniform random sampling"
    return replace(sel, params={**sel.params, "first_batch": how,
                                "note": FIRST_BATCH_NOTE.format(how=word, strategy="the run's strategy")})


def run_round(state: RunState, r: int, *, final: bool, oracle: Optional[Oracle] = None,
              hooks: Sequence[RoundHook] = (), select_options: Optional[dict] = None,
              progress: Optional[LoopProgress] = None,
              should_stop: Optional[Callable[[], bool]] = None, threads: Optional[int] = None) -> Optional[RoundResult]:
    """ONE round r on `state`: train from the initial weights on the labeled points → pool and test
    outputs → (unless `final`) select a batch with config.strategy → hooks → obtain the picks' labels
    from `oracle` (default: SimulatedOracle of the dataset) and reveal them in `state`.

    Returns the RoundResult (hooks' dicts merged into `extras`), or None when `should_stop()` said so
    (after training, or inside the selection): then `state` is unchanged. `select_options`: extra
    keyword arguments for the strategy (e.g. record_steps=True). Seeds: round_seed(config.seed, r).
    `threads`: CPU threads for the whole round (training, outputs and selection; common.threads.
    limit_threads with pin=True); None: each stage's own policy (small models and pools on one thread,
    the selection's thread policy). A ValueError sentence for anything but 1 .. the usable cores."""
    if threads is not None:
        with limit_threads(check_threads(threads), pin=True):
            return run_round(state, r, final=final, oracle=oracle, hooks=hooks, select_options=select_options,
                             progress=progress, should_stop=should_stop)
    from bait_core.learning.outputs import compute_outputs
    from bait_core.learning.train import PRESETS, device_label, train_model

    config, dataset, device = state.config, state.dataset, state.device
    stop = should_stop or (lambda: False)
    seed = round_seed(config.seed, r)
    K = len(dataset.classes)

    def note(stage: str, done: int, total: int, info: Optional[float] = None) -> None:
        if progress:
            progress(stage, done, total, info)

    mask = state.mask
    train_rows = mask & state.known
    no_labels = not train_rows.any()                   # nothing to train on: the first batch of an unlabeled set
    t0 = time.perf_counter()
    if no_labels:
        state.model.load_state_dict(state.init_state)
        tr = _Untrained()
    else:
        tr = train_model(state.model, state.init_state, dataset.X[train_rows], state.y[train_rows],
                         task=dataset.task, config=PRESETS[config.preset], seed=seed, device=device,
                         progress=lambda e, E, loss, acc: note("train", e, E, acc), should_stop=stop)
    t1 = time.perf_counter()
    if stop():
        return None
    pool = compute_outputs(state.model, dataset.X, task=dataset.task, device=device)
    if len(dataset.y_test) and not no_labels:
        test = compute_outputs(state.model, dataset.X_test, task=dataset.task, device=device)
        metric, metric_name = _metric(dataset.task, test.predictions, dataset.y_test)
    else:                                                  # no test set yet, or an untrained model: no metric
        metric, metric_name = float("nan"), metric_of_task(dataset.task).name
    t2 = time.perf_counter()
    note("outputs", 1, 1, metric)
    sel = None
    B = min(config.batch_size, int((~mask).sum()))
    if not final:
        def select_progress(ph: str, s: int, T: int, v: Optional[float]) -> None:
            note(f"select:{ph}", s, T, v)
            if stop():                                             # a stop inside the selection:
                raise SelectionCancelled                           # the round is discarded
        fixed = {"seed", "device", "progress", *config.strategy_options()}
        clash = sorted(fixed & set(select_options or {}))
        if clash:
            raise ValueError(f"select_options may not set {', '.join(clash)}: the run's config and seeding rule "
                             "decide them (change the RunConfig instead).")
        try:
            if no_labels:
                sel = first_batch(dataset, mask, B, how=config.first_batch, seed=seed, device=device,
                                  progress=select_progress)
            else:
                sel = get_strategy(config.strategy)(pool.embeddings, pool.probs, mask, B, seed=seed, device=device,
                                                    progress=select_progress, **config.strategy_options(),
                                                    **(select_options or {}))
        except SelectionCancelled:
            return None
    t3 = time.perf_counter()
    extras: dict = {}
    if hooks:
        view = RoundState(round=r, seed=seed, dataset=dataset, model=state.model, device=device,
                          labeled=mask.copy(), pool=pool, selection=sel, batch_size=B)
        for hook in hooks:
            out = hook(view)
            if not isinstance(out, dict):
                raise ValueError(f"A round hook must return a dict of extras; {getattr(hook, '__name__', hook)!s} "
                                 f"returned {type(out).__name__}.")
            extras.update(out)
    picked: list = []
    if sel is not None:
        idx = np.asarray(sel.indices, dtype=np.int64)
        labels, answered = _checked_answers((oracle or SimulatedOracle.of(dataset)).label(idx), idx, dataset)
        if K:
            picked = np.bincount(np.clip(np.asarray(labels)[answered], 0, None), minlength=K).tolist()
    result = RoundResult(
        round=r, labeled_before=mask.copy(), n_labeled=int(train_rows.sum()), metric=metric,
        metric_name=metric_name, predictions=pool.predictions,
        confidence=None if pool.probs is None else pool.probs.max(1),
        class_counts=np.bincount(state.y[train_rows].astype(np.int64), minlength=K).tolist() if K else [],
        picked_class_counts=picked, selection=sel,
        times={"train": t1 - t0, "outputs": t2 - t1, "select": t3 - t2},
        train_epochs=tr.epochs, train_accuracy=tr.train_accuracy, device=device_label(device),
        embeddings=pool.embeddings, probs=pool.probs, extras=extras)
    if sel is not None:                                            # reveal: picked, labeled where answered
        state.y[idx[answered]] = np.asarray(labels)[answered]
        state.known[idx] = answered
        state.mask[idx] = True
    return result


def start_state(dataset: Any, model: torch.nn.Module, config: RunConfig, *, init_state: Optional[dict] = None,
                labeled: Optional[np.ndarray] = None) -> RunState:
    """The RunState of a run: the config's device, the model's current weights as initial weights
    (unless `init_state`), `labeled` as the mask (default: initial_labeled(...) of config.initial)."""
    from bait_core.learning.train import PRESETS, pick_device
    if config.preset not in PRESETS:
        raise ValueError(f"Unknown training preset '{config.preset}'. Known presets: {', '.join(PRESETS)}.")
    device = pick_device(None if config.device == "auto" else config.device)
    # the model's state_dict holds its live parameters (training changes them): copy those; a given
    # init_state is only read (train_model loads it every round), so the caller's copy serves as is
    init = copy.deepcopy(model.state_dict()) if init_state is None else init_state
    N = int(dataset.X.shape[0])
    if labeled is None:
        mask = initial_labeled(dataset.has_label, config.initial, config.seed)
    else:
        mask = np.asarray(labeled)
        if mask.dtype != bool or mask.shape != (N,):
            raise ValueError(f"labeled must be a boolean mask with one value per pool point, shape ({N},); got "
                             f"{mask.dtype} values of shape {mask.shape}.")
    return RunState(dataset=dataset, model=model, config=config, init_state=init, mask=mask, device=device)


def run_rounds(dataset: Any, model: torch.nn.Module, config: RunConfig, *,
               init_state: Optional[dict] = None, labeled: Optional[np.ndarray] = None,
               start_round: int = 0, progress: Optional[LoopProgress] = None,
               should_stop: Optional[Callable[[], bool]] = None, oracle: Optional[Oracle] = None,
               hooks: Sequence[RoundHook] = (), threads: Optional[int] = None) -> Iterator[RoundResult]:
    """Yield one RoundResult per round (config.rounds selections, then a final evaluation), each
    from `run_round`.

    model: a built or loaded model; its current weights are the initial weights of every round
    unless `init_state` is given. labeled: continue from this mask (default: a seeded random
    initial set of config.initial points). should_stop() is checked between and inside stages;
    when it returns True the generator ends after the current stage, except a selection, which is
    abandoned at its next progress call (SelectionCancelled raised in its progress callback): the
    round is then discarded, nothing is yielded for it. oracle/hooks/threads: see `run_round`.
    """
    config.validate(dataset.task, dataset.X.shape[0])
    if threads is not None:
        check_threads(threads)
    if isinstance(start_round, bool) or not isinstance(start_round, (int, np.integer)) or not 0 <= start_round <= config.rounds:
        raise ValueError(f"start_round must be a whole number from 0 to the run's {config.rounds} rounds, "
                         f"got {start_round!r}.")
    state = start_state(dataset, model, config, init_state=init_state, labeled=labeled)

    for r in range(start_round, config.rounds + 1):
        final = r == config.rounds or not (~state.mask).any()
        result = run_round(state, r, final=final, oracle=oracle, hooks=hooks, progress=progress,
                           should_stop=should_stop, threads=threads)
        if result is None:
            return
        if progress:
            progress("round", r + 1, config.rounds + 1, result.metric)
        yield result
        if final:
            return


def run(config: RunConfig, *, dataset: Any = None, model: Optional[torch.nn.Module] = None,
        progress: Optional[LoopProgress] = None, should_stop: Optional[Callable[[], bool]] = None,
        threads: Optional[int] = None) -> RunRecord:
    """Load what the config names (unless given; `learning.build.build_run`), run every round, return the record.
    threads: CPU threads of every round (see `run_round`; None: the stages' own policy)."""
    from bait_core.learning.build import build_run

    built = build_run(config, dataset=dataset, model=model, check_memory=False)
    record = new_record(config, built.dataset, built.model)
    for r in run_rounds(built.dataset, built.model, config, progress=progress, should_stop=should_stop,
                        threads=threads):
        record.rounds.append(replace(r, embeddings=None, probs=None, extras={}))
    return record
