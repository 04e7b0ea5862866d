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
from bait_core.learning.labels import (SKIP_REASONS, LabelBook, LabelEntry, PendingBatch, check_new_labels, now,
                                       parse_label, point_ids, summarize_answers)
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


def check_book(book: LabelBook, mask: np.ndarray, record: RunRecord, what: str, dataset: Any = None) -> None:
    """A saved label book (and its labeled set `mask` (N,) bool) against the run's record: nothing trained
    on before the latest round is missing from the mask, every label is on a point of the mask, the batch
    being labeled is the latest round's picks (all in the mask, none labeled yet). ValueError with a
    sentence otherwise (a tampered or mismatched labels file is refused, never half used)."""
    def bad(problem: str) -> ValueError:
        return ValueError(f"The {what} does not fit the run's record: {problem}; it cannot be used.")

    last = record.rounds[-1] if record.rounds else None
    if last is not None and (last.labeled_before & ~mask).any():
        i = int(np.flatnonzero(last.labeled_before & ~mask)[0])
        raise bad(f"point {i}, trained on in round {last.round}, is missing from the labeled set")
    outside = [i for i in book.entries if not mask[i]]
    if outside:
        raise bad(f"point {min(outside)} has a label but is not in the labeled set")
    p = book.pending
    if p is not None:
        picks = None if last is None or last.selection is None else sorted(last.selection.indices.tolist())
        if picks is None or p.round != last.round or sorted(p.indices) != picks:
            raise bad(f"the batch waiting for labels (round {p.round}) is not the latest round's picks")
        if not mask[p.indices].all():
            raise bad("a point of the batch waiting for labels is not in the labeled-or-picked set")
    elif last is not None and last.selection is not None and dataset is not None:
        # no batch waits: the latest picks still in the set have a label (a simulated round keeps a pick
        # the file has no label for: it was never revealed), else they went back to the pool
        person_round = record.config.oracle == "person" or any(
            e.round == last.round and e.oracle == "person" for e in book.entries.values())
        has = np.asarray(dataset.has_label, dtype=bool)
        loose = [int(i) for i in last.selection.indices
                 if mask[i] and i not in book.entries and (person_round or has[i])]
        if loose:
            raise bad(f"pick {loose[0]} of round {last.round} is in the labeled set without a label, and no batch "
                      "waits for it")
    again = set(book.returned) & set(book.entries)
    if again:
        raise bad(f"point {min(again)} is both labeled and listed as sent back to the pool")


class _NoAnswer:
    """The oracle of a round a person labels: nobody answers inside the round (the picks wait, as the
    run's pending batch, for Explorer.label / skip / finish_batch)."""

    def label(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n = len(indices)
        return np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool)


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
    labels: LabelBook = field(default_factory=LabelBook, repr=False)  # labels obtained, the batch being labeled
    disk_stamp: Optional[tuple] = field(default=None, repr=False)    # the saved files' state when last read/written
    _busy: threading.Lock = field(default_factory=threading.Lock, repr=False)  # held while a round runs
    _job_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def start(cls, dataset: Any, model: torch.nn.Module, config: RunConfig, *, store: Optional[RunStore] = None,
              sources: Optional[RunSources] = None, run_id: Optional[str] = None) -> "Explorer":
        """A fresh run: the model's current weights become every round's initial weights. With a
        `store`, the run gets an id (`run_id`, or a new one) and is saved there after every round (not
        before the first)."""
        config.validate(dataset.task, dataset.X.shape[0])
        mask = initial_labeled(dataset.has_label, config.initial, config.seed)
        ex = cls(dataset=dataset, model=model, config=config, init_state=copy.deepcopy(model.state_dict()),
                 mask=mask, record=new_record(config, dataset, model), store=store, sources=sources)
        if store is not None:
            if run_id is not None:
                store.path(run_id)                     # ValueError for an id that is not one
            ex.run_id = run_id or store.new_id(dataset.name, config.strategy)
            LIVE.add(ex)
        return ex

    @classmethod
    def resume(cls, dataset: Any, model: torch.nn.Module, record: RunRecord, *, run_id: str,
               store: Optional[RunStore] = None, sources: Optional[RunSources] = None) -> "Explorer":
        """A saved run, writable again: `model` holds the run's initial weights, `record` its rounds
        so far; the labeled set is the last round's plus its picks. Registered as live."""
        view = cls.from_record(record, dataset=dataset)
        ex = cls(dataset=dataset, model=model, config=record.config, init_state=copy.deepcopy(model.state_dict()),
                 mask=view.mask, record=record, run_id=run_id, store=store, sources=sources, saved=True,
                 labels=view.labels)
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
        book = LabelBook()
        if record.labels:
            book, saved_mask = LabelBook.from_dict(record.labels, n_points=dataset.X.shape[0], task=dataset.task,
                                                   n_classes=len(dataset.classes), what="run record's labels")
            if saved_mask is not None:
                mask = saved_mask
            check_book(book, mask, record, "run record's labels", dataset)
        return cls(dataset=dataset, model=None, config=record.config, init_state=None, mask=mask,
                   record=record, read_only=True, labels=book)

    # ------------------------------------------------------------------------------------------
    @property
    def rounds(self) -> list[RoundResult]:
        return self.record.rounds

    @property
    def finished(self) -> bool:
        """True once the final, evaluation-only round is recorded. A run whose pool has no point left to
        pick is not finished until that round has trained on the last labels (the next round is it)."""
        return bool(self.rounds and self.rounds[-1].is_final)

    @property
    def busy(self) -> bool:
        """True while a round of this run is being computed (or a round job is running)."""
        return self._busy.locked() or (self.job is not None and self.job.running)

    @property
    def n_labeled(self) -> int:
        known, _ = self.known_labels()
        return int((self.mask & known).sum())

    @property
    def awaiting_labels(self) -> bool:
        """True while a person is labeling the latest round's batch (see label / skip / finish_batch)."""
        return self.labels.pending is not None

    def known_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """(known (N,) bool, y (N,)): the labels this run can train on — the data file's, overlaid with
        every label the run obtained (a person's answer wins over the file's label)."""
        ds = self.dataset
        known = np.asarray(ds.has_label, dtype=bool).copy()
        y = np.array(ds.y, copy=True)
        for i, e in self.labels.entries.items():
            known[i] = True
            y[i] = e.label
        return known, y

    def _check_writable(self) -> None:
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only; start a new run to add rounds.")
        if self.finished:
            raise ValueError("This run is finished (its final evaluation round is recorded).")

    def step(self, *, progress: Optional[LoopProgress] = None, should_stop: Optional[Callable[[], bool]] = None,
             by_person: Optional[bool] = None) -> Optional[RoundResult]:
        """One round: train on the labels so far, measure, select a batch, reveal it.
        Returns the RoundResult, or None when stopped before it completed (nothing is changed).
        ValueError once the config's selection rounds are done (the record would claim more rounds
        than the run was set up for): call evaluate() for the final round."""
        self._check_writable()
        if len(self.rounds) >= self.config.rounds:
            raise ValueError(f"All {self.config.rounds} selection rounds of this run are done; evaluate() adds its "
                             "final round (or start a new run with more rounds).")
        return self._round(final=False, progress=progress, should_stop=should_stop, by_person=by_person)

    def evaluate(self, *, progress: Optional[LoopProgress] = None,
                 should_stop: Optional[Callable[[], bool]] = None) -> Optional[RoundResult]:
        """The final round: train on every label revealed so far and measure; no selection."""
        return self._round(final=True, progress=progress, should_stop=should_stop)

    def _round(self, *, final: bool, progress: Optional[LoopProgress],
               should_stop: Optional[Callable[[], bool]], by_person: Optional[bool] = None) -> Optional[RoundResult]:
        self._check_writable()
        if not self._busy.acquire(blocking=False):
            raise ValueError(BUSY_MESSAGE)
        try:
            self._check_no_pending()
            self._check_fresh()
            return self._round_locked(final=final, progress=progress, should_stop=should_stop, by_person=by_person)
        finally:
            self._busy.release()

    def _check_no_pending(self) -> None:
        p = self.labels.pending
        if p is not None:
            raise ValueError(f"The batch of round {p.round} is waiting for labels ({p.n_answered} of {len(p.indices)} "
                             "labeled); finish it first (“Train and pick next”, or finish_batch()).")

    def _round_locked(self, *, final: bool, progress: Optional[LoopProgress],
                      should_stop: Optional[Callable[[], bool]], by_person: Optional[bool] = None) -> Optional[RoundResult]:
        self._check_writable()
        r = len(self.rounds)
        person = self.config.oracle == "person" if by_person is None else bool(by_person)
        if person and self.config.oracle != "person" and self.dataset.task != "classification":
            raise ValueError("Labeling a round yourself (the classroom mode) is for classification datasets; this "
                             "one is a regression.")
        cfg = replace(self.config, rounds=r if final else r + 1)
        cfg.validate(self.dataset.task, self.dataset.X.shape[0])
        state = start_state(self.dataset, self.model, cfg, init_state=self.init_state, labeled=self.mask)
        state.known, state.y = self.known_labels()
        result = run_round(state, r, final=final or not (~self.mask).any(), progress=progress,
                           should_stop=should_stop, oracle=_NoAnswer() if person else None)
        if result is not None and progress is not None:
            progress("round", r + 1, cfg.rounds + 1, result.metric)
        if result is None or (should_stop is not None and should_stop()):
            return None
        self.last_embeddings, self.last_probs = result.embeddings, result.probs
        self.record.rounds.append(replace(result, embeddings=None, probs=None, extras={}))
        self.mask[:] = state.mask
        sel = result.selection
        if sel is not None and sel.indices.size:
            idx = [int(i) for i in sel.indices]
            if person:
                self.labels.pending = PendingBatch(round=r, indices=idx, reveal=self.config.oracle != "person")
            else:
                t = now()
                for i in idx:
                    if state.known[i]:
                        self.labels.entries[i] = LabelEntry(i, state.y[i].item(), r, t, "simulated")
        self.save()
        return self.record.rounds[-1]

    def save(self) -> None:
        """Write the record (with a copy of the labels) and the labels to the run's store now (atomically);
        nothing without a store. ValueError with a sentence when the store cannot be written (the rounds
        and labels stay in memory)."""
        self.record.labels = self.labels.to_dict(self.mask) if self.labels else None
        if self.store is not None and self.run_id:
            self.store.save(self)
            self.saved = True

    def _check_fresh(self) -> None:
        """Before changing anything: ValueError (the store's sentence) when another program has changed this
        run's saved files since this copy read or wrote them, so a refused change leaves this copy as it was."""
        if self.store is not None and self.run_id and self.saved:
            self.store._check_unchanged(self)

    def _save_labels(self) -> None:
        """Write labels.json alone (a label given): small, atomic, the moment it is given."""
        if self.store is not None and self.run_id:
            self.store.save_labels(self)
            self.saved = True

    # --- a person labels the batch --------------------------------------------------------------------
    def _pending_point(self, index: Any) -> tuple[PendingBatch, int]:
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only; start a new run to label points.")
        p = self.labels.pending
        if p is None:
            raise ValueError("No batch is waiting for labels; run a round first.")
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or int(index) not in p.indices:
            raise ValueError(f"Point {index!r} is not in the batch being labeled (round {p.round}).")
        return p, int(index)

    def label(self, index: int, label: Any) -> Optional[Any]:
        """A person's label for pick `index` of the batch being labeled (a class name, or a class
        number; relabeling a point replaces its answer). Saved at once. Returns the point's label in the
        data file when the batch reveals it (the classroom mode) and the file has one, else None.
        ValueError with a sentence for a point not in the batch or a label that is not a class."""
        p, i = self._pending_point(index)
        value = parse_label(self.dataset, label)
        self._check_fresh()
        p.answer(i, value, now())
        self._save_labels()
        if p.reveal and bool(self.dataset.has_label[i]):
            return self.dataset.y[i].item()
        return None

    def skip(self, index: int, why: str = "skip") -> None:
        """Skip pick `index` (why: "skip" or "not sure"): it goes back to the pool when the batch is
        finished. Saved at once."""
        p, i = self._pending_point(index)
        if why not in SKIP_REASONS:
            raise ValueError(f"A point is skipped with 'skip' or 'not sure', got {why!r}.")
        self._check_fresh()
        p.skip(i, why, now())
        self._save_labels()

    def undo(self) -> Optional[int]:
        """Take back the latest answer or skip of the batch being labeled; returns that point (None when
        there is nothing to undo). Saved at once."""
        p = self.labels.pending
        if p is None or not p.history:
            return None
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only.")
        self._check_fresh()
        i = p.take_back()
        self._save_labels()
        return i

    def agreement(self) -> Optional[dict]:
        """Classroom mode: {"compared", "agree"} of the batch being labeled against the file's labels."""
        p = self.labels.pending
        return summarize_answers(self.dataset, p) if p is not None and p.reveal else None

    def finish_batch(self) -> dict:
        """End the batch being labeled: its answers become labels of the run (oracle "person"); skipped
        and unanswered picks go back to the pool. The record's latest round gets its picks per class.
        Saved at once. Returns {"labeled", "skipped", "unanswered", "compared", "agree"}. ValueError when
        no batch is waiting. Works with a partial batch."""
        if self.busy:
            raise ValueError(BUSY_MESSAGE)
        p = self.labels.pending
        if p is None:
            raise ValueError("No batch is waiting for labels.")
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only.")
        self._check_fresh()
        summary = {"labeled": p.n_answered, "skipped": len(p.skipped),
                   "unanswered": len(p.indices) - p.n_done, **summarize_answers(self.dataset, p)}
        for i in p.indices:
            if i in p.answers:
                self.labels.entries[i] = LabelEntry(i, p.answers[i], p.round, p.times.get(i, now()), "person")
                if i in self.labels.returned:                 # skipped once, picked again and now labeled
                    self.labels.returned.remove(i)
            else:
                self.mask[i] = False                       # back to the pool
                self.labels.returned.append(i)
        self.labels.pending = None
        if self.rounds and self.rounds[-1].round == p.round and self.dataset.task == "classification":
            K = len(self.dataset.classes)
            counts = np.bincount([int(v) for v in p.answers.values()], minlength=K).tolist() if p.answers else [0] * K
            self.record.rounds[-1] = replace(self.record.rounds[-1], picked_class_counts=counts)
        self.save()
        return summary

    def add_labels(self, pairs: list, *, strict: bool = True, what: str = "labels file") -> dict:
        """Labels from a file: [(pool index, label)] (learning.labels.read_labels_csv). Points of the batch
        being labeled count as its answers; other points become labeled points of the run (oracle
        "person", round = the latest round). A point whose label or batch answer differs from the file's is
        always refused (one sentence, nothing changed); `strict` also refuses points already labeled with the
        same label (the CLI's `next`: "ids already labeled"), otherwise they, and batch answers the file
        repeats, count as already there. Saved at once. Returns {"added", "in_batch", "already"}."""
        if self.read_only or self.model is None:
            raise ValueError("This run was opened from a record and is read-only; start a new run to add labels.")
        if self.busy:
            raise ValueError(BUSY_MESSAGE)
        N = self.dataset.X.shape[0]
        pairs = [(int(i), parse_label(self.dataset, v)) for i, v in pairs]
        if any(not 0 <= i < N for i, _ in pairs):
            raise ValueError(f"A label names a point outside the pool of {N:,} points.")
        known, y = self.known_labels()
        labeled = self.mask & known                        # labels of the run (and of the file) ...
        ids = point_ids(self.dataset)
        p = self.labels.pending
        answers = dict(p.answers) if p is not None else {}
        if p is not None:
            labeled[p.indices] = False                     # ... not the batch being labeled: its answers are apart
        if strict:
            check_new_labels(pairs, labeled, ids, what=what)
        clash = [ids[i] for i, v in pairs if (labeled[i] and y[i] != v) or (i in answers and answers[i] != v)]
        if clash:
            raise ValueError(f"The {what} gives {len(clash)} already-labeled or already-answered point(s) another "
                             f"label ({', '.join(clash[:5])}{', …' if len(clash) > 5 else ''}); a label, once given, "
                             "is kept (an answer of the batch being labeled can be changed in the app's labeling panel, not by a "
                             "file).")
        self._check_fresh()
        out = {"added": 0, "in_batch": 0, "already": 0}
        t = now()
        r = len(self.rounds)
        for i, v in pairs:
            if labeled[i] or answers.get(i) == v:
                out["already"] += 1
            elif p is not None and i in p.indices:
                p.answer(i, v, t)
                out["in_batch"] += 1
            else:
                self.labels.entries[i] = LabelEntry(i, v, max(r - 1, 0), t, "person")
                self.mask[i] = True
                if i in self.labels.returned:
                    self.labels.returned.remove(i)
                out["added"] += 1
        self.save()
        return out

    # --- background rounds ------------------------------------------------------------------------
    def start_rounds(self, n_rounds: int, *, wait_for: Optional[threading.Thread] = None,
                     wait_for_s: float = 10.0, by_person: Optional[bool] = None) -> Job:
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
            raise ValueError("This run is finished: its final evaluation round is recorded. "
                             "Reset it or start a new run on Setup.")
        if isinstance(n_rounds, bool) or not isinstance(n_rounds, int) or n_rounds < 1:
            raise ValueError(f"Rounds to run must be a whole number ≥ 1, got {n_rounds!r}.")
        with self._job_lock:
            if self.busy:
                raise ValueError(BUSY_MESSAGE)
            self._check_no_pending()
            return self._start_job(n_rounds, wait_for, wait_for_s, by_person)

    def _start_job(self, n_rounds: int, wait_for: Optional[threading.Thread], wait_for_s: float,
                   by_person: Optional[bool]) -> Job:
        """The round job, started (the caller holds _job_lock and has checked that nothing runs)."""
        job = Job(name=f"{n_rounds} round(s)", fn=self._round_worker(n_rounds, wait_for, wait_for_s, by_person),
                  context=self.run_id)
        self.job = job
        job.start()
        return job

    def _round_worker(self, n_rounds: int, warm: Optional[threading.Thread], warm_s: float,
                      by_person: Optional[bool] = None):
        def work(job: Job) -> None:
            if warm is not None:
                warm.join(warm_s)                   # let the warm-up round finish first
            for i in range(n_rounds):
                if job.cancelled or self.finished or self.awaiting_labels:   # a person labels before the next
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
                    result = self._round(final=final, progress=progress, should_stop=lambda: job.cancelled,
                                         by_person=by_person)
                if result is None:
                    return
                job.add_result(result.round)
                if os.environ.get("BAIT_EXPLORER_LOG_TIMES"):
                    print(f"round {result.round}: job {job.snapshot().elapsed:.3f} s, "
                          + ", ".join(f"{k} {v:.3f} s" for k, v in result.times.items()), flush=True)
        return work

    def train_and_pick_next(self, *, wait_for: Optional[threading.Thread] = None, wait_for_s: float = 10.0,
                            by_person: Optional[bool] = None) -> Job:
        """Finish the batch being labeled (finish_batch) and start the next round (start_rounds(1)) in one
        step under the run's job lock: the model retrains on the labels so far and picks the next batch.
        `by_person`: as start_rounds (True: the next batch waits for a person too, a simulated run's
        classroom mode; None: as the run's oracle says)."""
        with self._job_lock:
            if self.busy:
                raise ValueError(BUSY_MESSAGE)
            self.finish_batch()
            return self._start_job(1, wait_for, wait_for_s, by_person)

    def reset(self) -> "Explorer":
        """Back to round 0 with the same config, initial set and initial weights."""
        if self.read_only or self.model is None:
            raise ValueError("A run opened from a record cannot be reset; start a new run instead.")
        if self.busy:
            raise ValueError(BUSY_MESSAGE)
        self.model.load_state_dict(self.init_state)
        return Explorer.start(self.dataset, self.model, self.config, store=self.store, sources=self.sources)
