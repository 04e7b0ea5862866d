"""An interactive run: the state the app steps through one round at a time.

`Explorer` holds a dataset, a model with its initial weights, a `RunConfig`, the one boolean labeled
mask and the `RunRecord` of the rounds so far. `step()` runs one round (train from the initial
weights → outputs → select → reveal) and appends its `RoundResult`; `evaluate()` adds the final,
evaluation-only round. A record written by the CLI or downloaded earlier opens read-only with
`Explorer.from_record` (the dataset is reloaded from its built-in name and checked by fingerprint).
A run with a `store` (bait_core.service.runstore.RunStore) saves its record atomically after every round, and
`RunStore.resume` rebuilds it writable. Work on a run goes through `start_rounds`, which refuses a
second start while a round is running (one place, for every caller: a double click, a second browser
tab, a reload). Nothing here imports streamlit; the app polls the returned `jobs.Job`.
"""

from __future__ import annotations

import copy
import os
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np
import torch

from bait_core.service.jobs import Job
from bait_core.records.run_record import RoundResult, RunConfig, RunRecord, new_record
from bait_core.learning.loop import LoopProgress, initial_labeled, run_round, start_state
from bait_core.service.runstore import LIVE, RunSources, RunStore
from bait_core.common.threads import single_cpu_thread

# Pools up to this size train and compute outputs on one CPU thread: the ops are small, and a busy
# second core (UMAP warming up, another session) makes two-thread OpenMP regions wait (measured: a
# digits selection took 0.6 s on one thread but 3 s on two with one core busy). The selection is not
# pinned: the strategy's thread policy (selection.estimate.thread_policy) runs small work on one
# thread and large work (mnist with `linear`: 6.2 s on one thread, 3.5 s on two) on the idle cores,
# counting this process's other busy threads as busy.
SINGLE_THREAD_POOL = 20_000
BUSY_MESSAGE = ("A round of this run is already running (started from this or another window); wait for it "
                "or press Stop.")


@dataclass
class Explorer:
    dataset: Any
    model: Optional[torch.nn.Module]
    config: RunConfig
    init_state: Optional[dict]
    mask: np.ndarray                                  # (N,) bool: labeled (or picked) points
    record: RunRecord
    read_only: bool = False
    last_embeddings: Optional[np.ndarray] = field(default=None, repr=False)   # (N, d) latest round
    last_probs: Optional[np.ndarray] = field(default=None, repr=False)        # (N, K) latest round
    run_id: str = ""                                  # the run's folder name in its store ("" if not saved)
    store: Optional[RunStore] = field(default=None, repr=False)   # where rounds are saved (None: nowhere)
    sources: Optional[RunSources] = field(default=None, repr=False)  # uploaded files, to save and resume
    saved: bool = False                               # True once the run's folder exists in the store
    job: Optional[Job] = field(default=None, repr=False)           # the latest round job (see start_rounds)
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False)  # held while a round runs
    _job_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, dataset: Any, model: torch.nn.Module, config: RunConfig, *, store: Optional[RunStore] = None,
              sources: Optional[RunSources] = None) -> "Explorer":
        """A fresh run: the model's current weights become every round's initial weights. With a
        `store`, the run gets an id and is saved there after every round (not before the first)."""
        config.validate(dataset.task, dataset.X.shape[0])
        mask = initial_labeled(dataset.has_label, config.initial, config.seed)
        ex = cls(dataset=dataset, model=model, config=config, init_state=copy.deepcopy(model.state_dict()),
                 mask=mask, record=new_record(config, dataset, model), store=store, sources=sources)
        if store is not None:
            ex.run_id = store.new_id(dataset.name, config.strategy)
            LIVE.add(ex)
        return ex

    @classmethod
    def resume(cls, dataset: Any, model: torch.nn.Module, record: RunRecord, *, run_id: str,
               store: Optional[RunStore] = None, sources: Optional[RunSources] = None) -> "Explorer":
        """A saved run, writable again: `model` holds the run's initial weights, `record` its rounds
        so far; the labeled set is the last round's plus its picks. Registered as live."""
        view = cls.from_record(record, dataset=dataset)
        ex = cls(dataset=dataset, model=model, config=record.config, init_state=copy.deepcopy(model.state_dict()),
                 mask=view.mask, record=record, run_id=run_id, store=store, sources=sources, saved=True)
        LIVE.add(ex)
        return ex

    @classmethod
    def from_record(cls, record: RunRecord, dataset: Any = None) -> "Explorer":
        """View a saved run read-only. The dataset is reloaded from its built-in name unless given;
        its fingerprint must match the record's."""
        if dataset is None:
            source = str(record.dataset.get("source", ""))
            if not source.startswith("builtin:"):
                raise ValueError(f"This run used the file '{record.dataset.get('name')}', which a record does not "
                                 "hold: drop the record together with that data file, or open the run's bundle "
                                 "(ZIP, downloaded from the Rounds page), which holds both.")
            from bait_core.learning.build import load_run_dataset
            dataset = load_run_dataset(replace(record.config, data=source))
        if dataset.fingerprint != record.dataset.get("fingerprint"):
            raise ValueError(f"The loaded dataset '{dataset.name}' is not the one this run used (fingerprint "
                             f"{dataset.fingerprint} ≠ {record.dataset.get('fingerprint')}).")
        mask = record.rounds[-1].labeled_before.copy() if record.rounds else np.zeros(dataset.X.shape[0], bool)
        last = record.rounds[-1] if record.rounds else None
        if last is not None and last.selection is not None:
            mask[last.selection.indices] = True
        return cls(dataset=dataset, model=None, config=record.config, init_state=None, mask=mask,
                   record=record, read_only=True)

    # ------------------------------------------------------------------------------------------
    @property
    def rounds(self) -> list[RoundResult]:
        return self.record.rounds

    @property
    def finished(self) -> bool:
        return bool(self.rounds and self.rounds[-1].is_final) or not (~self.mask).any()

    @property
    def busy(self) -> bool:
        """True while a round of this run is being computed (or a round job is running)."""
        return self._busy.locked() or (self.job is not None and self.job.running)

    @property
    def n_labeled(self) -> int:
        return int((self.mask & self.dataset.has_label).sum())

    def _check_writable(self) -> None:
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only; start a new run to add rounds.")
        if self.finished:
            raise ValueError("This run is finished (its final evaluation round is recorded, or the pool is empty).")

    def step(self, *, progress: Optional[LoopProgress] = None,
             should_stop: Optional[Callable[[], bool]] = None) -> Optional[RoundResult]:
        """One round: train on the labels so far, measure, select a batch, reveal it.
        Returns the RoundResult, or None when stopped before it completed (nothing is changed).
        ValueError once the config's selection rounds are done (the record would claim more rounds
        than the run was set up for): call evaluate() for the final round."""
        self._check_writable()
        if len(self.rounds) >= self.config.rounds:
            raise ValueError(f"All {self.config.rounds} selection rounds of this run are done; evaluate() adds its "
                             "final round (or start a new run with more rounds).")
        return self._round(final=False, progress=progress, should_stop=should_stop)

    def evaluate(self, *, progress: Optional[LoopProgress] = None,
                 should_stop: Optional[Callable[[], bool]] = None) -> Optional[RoundResult]:
        """The final round: train on every label revealed so far and measure; no selection."""
        return self._round(final=True, progress=progress, should_stop=should_stop)

    def _round(self, *, final: bool, progress: Optional[LoopProgress],
               should_stop: Optional[Callable[[], bool]]) -> Optional[RoundResult]:
        self._check_writable()
        if not self._busy.acquire(blocking=False):
            raise ValueError(BUSY_MESSAGE)
        try:
            return self._round_locked(final=final, progress=progress, should_stop=should_stop)
        finally:
            self._busy.release()

    def _round_locked(self, *, final: bool, progress: Optional[LoopProgress],
                      should_stop: Optional[Callable[[], bool]]) -> Optional[RoundResult]:
        self._check_writable()
        r = len(self.rounds)
        cfg = replace(self.config, rounds=r if final else r + 1)
        cfg.validate(self.dataset.task, self.dataset.X.shape[0])
        state = start_state(self.dataset, self.model, cfg, init_state=self.init_state, labeled=self.mask)
        result = run_round(state, r, final=final or not (~self.mask).any(), progress=progress,
                           should_stop=should_stop)
        if result is not None and progress is not None:
            progress("round", r + 1, cfg.rounds + 1, result.metric)
        if result is None or (should_stop is not None and should_stop()):
            return None
        self.last_embeddings, self.last_probs = result.embeddings, result.probs
        self.record.rounds.append(replace(result, embeddings=None, probs=None, extras={}))
        self.mask[:] = state.mask
        self.save()
        return self.record.rounds[-1]

    def save(self) -> None:
        """Write the record to the run's store now (atomically); nothing without a store.
        ValueError with a sentence when the store cannot be written (the rounds stay in memory)."""
        if self.store is not None and self.run_id:
            self.store.save(self)
            self.saved = True

    # --- background rounds ------------------------------------------------------------------------
    def start_rounds(self, n_rounds: int, *, wait_for: Optional[threading.Thread] = None,
                     wait_for_s: float = 10.0) -> Job:
        """Start a background Job running up to `n_rounds` rounds (after the configured number of
        selection rounds, one final evaluation round); returns it, started. ValueError with a
        sentence when the run is read-only, finished, `n_rounds` is not a whole number ≥ 1, or a
        round of this run is already running: a second start is refused here, for every caller.
        The job reports progress ("train", "outputs", "select:<phase>"), the selection's objective
        trace, and each finished round's number as a result; its `cancel()` stops it between steps
        (the unfinished round is discarded). `wait_for`: a thread to join first (the warm-up)."""
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only; start a new run on Setup.")
        if self.finished:
            raise ValueError("This run is finished: its final evaluation round is recorded (or the pool is empty). "
                             "Reset it or start a new run on Setup.")
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
            raise ValueError(f"Rounds to run must be a whole number ≥ 1, got {n_rounds!r}.")
        with self._job_lock:
            if self.busy:
                raise ValueError(BUSY_MESSAGE)
            job = Job(name=f"{n_rounds} round(s)", fn=self._round_worker(n_rounds, wait_for, wait_for_s),
                      context=self.run_id)
            self.job = job
            job.start()
        return job

    def _round_worker(self, n_rounds: int, warm: Optional[threading.Thread], warm_s: float):
        def work(job: Job) -> None:
            if warm is not None:
                warm.join(warm_s)                   # let the warm-up round finish first
            for i in range(n_rounds):
                if job.cancelled or self.finished:
                    return
                fresh = [True]                      # the first objective value of a selection resets the trace

                def progress(stage: str, done: int, total: int, info: Optional[float]) -> None:
                    r = len(self.rounds)
                    if stage == "train":
                        job.report("train", done, total, info, f"Round {r} ({i + 1} of {n_rounds}): training, "
                                                               f"epoch {done} of at most {total}")
                    elif stage == "outputs":
                        job.report("outputs", 1, 1, info, f"Round {r}: pool outputs computed")
                    elif stage.startswith("select:"):
                        phase = stage.split(":", 1)[1]
                        if info is not None and (phase != "setup" or done == total):
                            job.trace_point(info, reset=fresh[0])
                            fresh[0] = False
                        job.report(stage, done, total, info,
                                   f"Round {r}: selecting ({phase}, step {done} of {total})")

                final = len(self.rounds) >= self.config.rounds   # after the selection rounds: evaluate only
                with single_cpu_thread(self.dataset.X.shape[0] <= SINGLE_THREAD_POOL, pin=False):
                    result = self._round(final=final, progress=progress, should_stop=lambda: job.cancelled)
                if result is None:
                    return
                job.add_result(result.round)
                if os.environ.get("BAIT_EXPLORER_LOG_TIMES"):
                    print(f"round {result.round}: job {job.snapshot().elapsed:.3f} s, "
                          + ", ".join(f"{k} {v:.3f} s" for k, v in result.times.items()), flush=True)
        return work

    def reset(self) -> "Explorer":
        """Back to round 0 with the same config, initial set and initial weights."""
        if self.read_only or self.model is None:
            raise ValueError("A run opened from a record cannot be reset; start a new run instead.")
        if self.busy:
            raise ValueError(BUSY_MESSAGE)
        self.model.load_state_dict(self.init_state)
        return Explorer.start(self.dataset, self.model, self.config, store=self.store, sources=self.sources)
