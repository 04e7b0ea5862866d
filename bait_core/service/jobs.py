"""Background jobs for long work (rounds, comparisons) that a UI polls.

A `Job` runs a plain function in a worker thread. The function receives the job and reports through
it (`job.report(...)`, `job.add_result(...)`, `job.trace_point(...)`) and checks `job.cancelled`.
Nothing here calls streamlit: a page keeps the Job in its session state and a fragment with
`run_every` reads `job.snapshot()`; clicks elsewhere rerun the script but do not touch the thread.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable, Optional


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent copy of a job's state for one redraw."""

    status: str                      # "running", "done", "error", "cancelled"
    stage: str
    done: int
    total: int
    info: Optional[float]
    message: str
    trace: tuple[float, ...]         # partial objective trace of the selection in progress
    n_results: int
    error: Optional[str]
    elapsed: float
    items: tuple[dict, ...] = ()     # per-item status rows (e.g. one per run of a comparison)


@dataclass
class Job:
    """A unit of background work with progress, a partial trace, results, an error and a cancel flag."""

    name: str
    fn: Callable[["Job"], Any]
    status: str = "pending"
    stage: str = ""
    done: int = 0
    total: int = 0
    info: Optional[float] = None
    message: str = ""
    trace: list[float] = field(default_factory=list)
    results: list[Any] = field(default_factory=list)
    items: dict[Any, dict] = field(default_factory=dict)
    context: Any = None              # what the starter keeps with the job (e.g. a comparison's plan)
    error: Optional[str] = None
    error_detail: Optional[str] = None
    started: float = 0.0
    finished: float = 0.0
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _thread: Optional[threading.Thread] = field(default=None, repr=False)

    # --- control --------------------------------------------------------------------------------
    def start(self) -> "Job":
        self.status, self.started = "running", time.perf_counter()
        self._thread = threading.Thread(target=self._run, name=f"job:{self.name}", daemon=True)
        self._thread.start()
        return self

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def running(self) -> bool:
        return self.status == "running"

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for the worker; True when it has finished."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    def _run(self) -> None:
        try:
            self.fn(self)
            status = "cancelled" if self.cancelled else "done"
        except ValueError as e:                         # a user-facing sentence
            self.error, status = str(e), "error"
        except Exception as e:                          # a bug: keep the traceback for the page
            self.error = f"{type(e).__name__}: {e}"
            self.error_detail = traceback.format_exc()
            status = "error"
        with self._lock:
            self.finished = time.perf_counter()
            self.status = status

    # --- reporting (worker side) ----------------------------------------------------------------
    def report(self, stage: str, done: int, total: int, info: Optional[float] = None, message: str = "") -> None:
        with self._lock:
            self.stage, self.done, self.total, self.info = stage, done, total, info
            if message:
                self.message = message

    def trace_point(self, value: float, reset: bool = False) -> None:
        with self._lock:
            if reset:
                self.trace.clear()
            self.trace.append(float(value))

    def add_result(self, result: Any) -> None:
        with self._lock:
            self.results.append(result)

    def set_item(self, key: Any, **fields: Any) -> None:
        """Create or update one status row (insertion order is kept)."""
        with self._lock:
            self.items.setdefault(key, {}).update(fields)

    # --- reading (UI side) ----------------------------------------------------------------------
    def snapshot(self) -> JobSnapshot:
        with self._lock:
            end = self.finished if self.status in ("done", "error", "cancelled") else time.perf_counter()
            return JobSnapshot(status=self.status, stage=self.stage, done=self.done, total=self.total,
                               info=self.info, message=self.message, trace=tuple(self.trace),
                               n_results=len(self.results), error=self.error,
                               elapsed=end - self.started if self.started else 0.0,
                               items=tuple(dict(v) for v in self.items.values()))
