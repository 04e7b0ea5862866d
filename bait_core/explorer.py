"""An interactive run: the state the app steps through one round at a time.

`Explorer` holds a dataset, a model with its initial weights, a `RunConfig`, the one boolean labeled
mask and the `RunRecord` of the rounds so far. `step()` runs one round (train from the initial
weights → outputs → select → reveal) and appends its `RoundResult`; `evaluate()` adds the final,
evaluation-only round. A record written by the CLI or downloaded earlier opens read-only with
`Explorer.from_record` (the dataset is reloaded from its built-in name and checked by fingerprint).
Nothing here imports streamlit; the app runs `step` inside a `jobs.Job`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Optional

import numpy as np
import torch

from .loop import LoopProgress, RoundResult, RunConfig, RunRecord, _initial_labeled, new_record, run_rounds


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

    @classmethod
    def start(cls, dataset: Any, model: torch.nn.Module, config: RunConfig) -> "Explorer":
        """A fresh run: the model's current weights become every round's initial weights."""
        config.validate(dataset.task, dataset.X.shape[0])
        mask = _initial_labeled(dataset.has_label, config.initial, config.seed)
        return cls(dataset=dataset, model=model, config=config, init_state=copy.deepcopy(model.state_dict()),
                   mask=mask, record=new_record(config, dataset, model))

    @classmethod
    def from_record(cls, record: RunRecord, dataset: Any = None) -> "Explorer":
        """View a saved run read-only. The dataset is reloaded from its built-in name unless given;
        its fingerprint must match the record's."""
        if dataset is None:
            source = str(record.dataset.get("source", ""))
            if not source.startswith("builtin:"):
                raise ValueError(f"This run used the file '{record.dataset.get('name')}'; load that file on the "
                                 "Setup page first, then open the record again.")
            from .data import load_builtin
            dataset = load_builtin(source.split(":", 1)[1], seed=record.config.seed)
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
        Returns the RoundResult, or None when stopped before it completed (nothing is changed)."""
        return self._round(final=False, progress=progress, should_stop=should_stop)

    def evaluate(self, *, progress: Optional[LoopProgress] = None,
                 should_stop: Optional[Callable[[], bool]] = None) -> Optional[RoundResult]:
        """The final round: train on every label revealed so far and measure; no selection."""
        return self._round(final=True, progress=progress, should_stop=should_stop)

    def _round(self, *, final: bool, progress: Optional[LoopProgress],
               should_stop: Optional[Callable[[], bool]]) -> Optional[RoundResult]:
        self._check_writable()
        r = len(self.rounds)
        cfg = replace(self.config, rounds=r if final else r + 1)
        gen = run_rounds(self.dataset, self.model, cfg, init_state=self.init_state, labeled=self.mask,
                         start_round=r, progress=progress, should_stop=should_stop)
        result = next(gen, None)
        gen.close()
        if result is None or (should_stop is not None and should_stop()):
            return None
        self.last_embeddings, self.last_probs = result.embeddings, result.probs
        self.record.rounds.append(replace(result, embeddings=None, probs=None))
        if result.selection is not None:
            self.mask[result.selection.indices] = True
        return self.record.rounds[-1]

    def reset(self) -> "Explorer":
        """Back to round 0 with the same config, initial set and initial weights."""
        if self.read_only or self.model is None:
            raise ValueError("A run opened from a record cannot be reset; start a new run instead.")
        self.model.load_state_dict(self.init_state)
        return Explorer.start(self.dataset, self.model, self.config)
