"""CPU thread control: how many threads a piece of work gets, set for a block and restored after.

Small tensor ops gain nothing from a second thread, and on a 2-core machine with another busy
process or thread (a UMAP fit, a second session, a benchmark) every OpenMP parallel region waits for
the descheduled thread: measured 10× slower training steps and 8× slower BAIT selections on digits,
and (issue 12) `bait_select` 2.3–19× slower on torch's default threads than on one while another
process kept one core busy. So:

* :func:`limit_threads` (n) sets torch's intra-op threads AND, through threadpoolctl, the BLAS and
  OpenMP pools below numpy/scipy/scikit-learn for a block, and restores both after (also on error).
* :func:`choose_threads` is the policy: a caller's explicit count wins; small work runs on one
  thread; large work on the cores that are idle now (:func:`idle_cores`).
* :func:`single_cpu_thread` (torch only, as before) runs small work on one thread.
* ``pin=True`` (limit_threads) and single_cpu_thread(True) fix the count for the block on the calling
  thread: the thread policy of a strategy called inside (selection.estimate.thread_policy) keeps it
  unless the call passes its own ``threads=``, and nested pins do not change it. The CLI's
  ``--threads`` and ``run_round(threads=)`` pin; the app's one-thread block for small pools does not
  (single_cpu_thread(pin=False)): its selections follow their own policy.

torch.set_num_threads and OpenMP's count are per calling thread, so concurrent callers (the app's
worker threads) do not interfere there; OpenBLAS's count is process-wide (threadpoolctl's limit),
so two threads limiting it at once restore in the order they leave.
"""

from __future__ import annotations

import math
import numbers
import os
import sys
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import torch

__all__ = ["single_cpu_thread", "limit_threads", "pinned_threads", "choose_threads", "check_threads",
           "idle_cores", "usable_cores", "SMALL_WORK_MADDS", "IDLE_SAMPLE_S", "IDLE_CACHE_S"]

# Work below this many multiply-add equivalents (selection.estimate's count: estimate(...).seconds
# times its per-thread CPU rate; selection.estimate.work_of) runs on one thread. Measured on this
# project's 2-core CPU with
#     .venv/bin/python bench/bench_threads.py --sweep
# (bait_select, 1 vs 2 threads, each call after a moment the idle-core measurement found quiet):
# at 5.7e9 (N=2000, d=32, K=10, B=20) a quiet moment (2.00 idle cores) gave 0.395 s on one thread and
# 0.479 s on two; 1.7e8 (N=1000, d=16, K=5, B=10): 0.045 s against 1.41 s. Bigger work could not be
# timed on a quiet machine in that session (other jobs kept the load at 2-10; two threads then lost
# 1.4-8×), so the threshold sits above the largest size where a second thread was seen not to pay,
# and rerunning the sweep on a quiet machine is how to move it.
SMALL_WORK_MADDS = 2e10
IDLE_SAMPLE_S = 0.05         # how long idle_cores watches /proc/stat when its cached value is stale
IDLE_CACHE_S = 2.0           # how long a measured idle-core count is reused
_ROUND_UP = 0.3              # a core counts as idle when at least 70 % of it is free

_local = threading.local()   # .pinned: Optional[int], the count fixed on this thread


def usable_cores() -> int:
    """Cores this process may run on: len(os.sched_getaffinity(0)) where the OS has it (a container's
    or taskset's CPU set), else os.cpu_count(); at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def pinned_threads() -> Optional[int]:
    """The thread count a caller fixed for the calling thread (limit_threads(pin=True) or
    single_cpu_thread(True)), or None when nothing is pinned."""
    return getattr(_local, "pinned", None)


@contextmanager
def _pinned(n: Optional[int]) -> Iterator[None]:
    """Pin `n` on this thread for the block, unless an outer block already pinned (the outer wins)."""
    if n is None or pinned_threads() is not None:
        yield
        return
    _local.pinned = n
    try:
        yield
    finally:
        _local.pinned = None


@contextmanager
def single_cpu_thread(enabled: bool, *, pin: bool = True) -> Iterator[None]:
    """torch.set_num_threads(1) for the calling thread while inside (its setting is restored after),
    and, with pin=True, one thread pinned for the strategies' thread policy. pin=False leaves each
    strategy's policy free to give a large selection the idle cores (the app's rounds: training and
    outputs of small models on one thread, a selection by its work). Inside a block that pinned
    another count (the CLI's --threads N) it changes nothing: the outer request wins."""
    if not enabled or pinned_threads() is not None:
        yield
        return
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with _pinned(1 if pin else None):
            yield
    finally:
        torch.set_num_threads(saved)


# threadpoolctl's controller scans the loaded shared libraries (~0.8 ms); one is kept and rebuilt
# when modules were imported since (a new extension module is how a new BLAS/OpenMP library arrives).
_controller: Any = None
_controller_key = -1
_controller_lock = threading.Lock()


def _threadpool_controller() -> Any:
    global _controller, _controller_key
    from threadpoolctl import ThreadpoolController
    with _controller_lock:
        key = len(sys.modules)
        if _controller is None or key != _controller_key:
            _controller, _controller_key = ThreadpoolController(), key
        return _controller


@contextmanager
def limit_threads(n: int, *, pin: bool = False) -> Iterator[None]:
    """Run the block on `n` CPU threads: torch.set_num_threads(n) and threadpoolctl's limit of n for
    every BLAS (OpenBLAS, MKL, BLIS) and OpenMP library loaded below numpy/scipy/scikit-learn. Both
    are restored to the caller's values after the block, also when it raises.

    n: a whole number ≥ 1 (ValueError otherwise, see :func:`check_threads`; more than the usable
    cores is refused there too). pin: also fix n for the calling thread, so that strategies called
    inside keep it instead of choosing their own count (nested pins keep the outermost).
    """
    n = check_threads(n)
    saved = torch.get_num_threads()
    limiter = _threadpool_controller().limit(limits=n)
    try:
        torch.set_num_threads(n)
        with _pinned(n if pin else None):
            yield
    finally:
        torch.set_num_threads(saved)
        limiter.restore_original_limits()


def check_threads(value: Any, what: str = "threads") -> int:
    """`value` as a thread count: a whole number from 1 to the usable cores (:func:`usable_cores`).

    ValueError with a sentence otherwise. More threads than cores is refused rather than clamped:
    it is the oversubscription that makes OpenMP wait for descheduled threads, and a silent clamp
    would hide a typo; leave the count unset to let the policy choose.
    """
    cores = usable_cores()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise ValueError(f"{what} must be a whole number of CPU threads from 1 to {cores}, got {value!r}; "
                         "leave it unset to let the thread policy choose.")
    if int(value) > cores:
        raise ValueError(f"{what}={int(value)} is more than the {cores} CPU cores this process can use; "
                         f"give at most {cores}, or leave it unset to let the thread policy choose.")
    return int(value)


# ----------------------------------------------------------------------------- idle cores

_idle_lock = threading.Lock()
_idle_cache: Optional[tuple[float, float]] = None       # (time.monotonic() of the measurement, idle cores)


def _busy_snapshot(cpus: list[int]) -> tuple[float, float, float]:
    """(monotonic seconds, busy CPU-seconds of the cores `cpus`, the calling thread's CPU-seconds)."""
    import psutil
    per = psutil.cpu_times(percpu=True)
    busy = 0.0
    for i in cpus:
        if i < len(per):
            t = per[i]
            busy += t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0) \
                + getattr(t, "steal", 0.0)
    return time.monotonic(), busy, time.thread_time()


def _measure_idle(interval: float) -> float:
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = list(range(os.cpu_count() or 1))
    t0, b0, o0 = _busy_snapshot(cpus)
    time.sleep(interval)
    t1, b1, o1 = _busy_snapshot(cpus)
    others = max(0.0, (b1 - b0) - (o1 - o0)) / max(t1 - t0, 1e-3)
    return min(float(len(cpus)), max(0.0, len(cpus) - others))


def idle_cores(*, max_age: float = IDLE_CACHE_S, interval: float = IDLE_SAMPLE_S) -> float:
    """How many of this process's usable cores other processes leave free now (0.0 .. usable_cores()).

    Measured from the kernel's per-core busy times (psutil.cpu_times(percpu=True), i.e. /proc/stat)
    over `interval` seconds (0.05 s: 10 of the kernel's 10 ms ticks on 2 cores), minus the calling
    thread's own CPU time over the same interval: other threads of this process (the app's UMAP
    warm-up, another session's round) count as busy, as they are; the value is cached for `max_age` seconds, so a
    run of selections pays the wait once. Why not os.getloadavg(): it is a one-minute average (a
    busy process that started 10 s ago barely shows), it counts this process's own threads, and in
    a container it may count the whole host's cores. Why not a psutil.cpu_percent(interval=None)
    since the last call: the interval would cover this process's own multi-threaded work, during
    which the other processes get less CPU than they ask for and look lighter than they are.
    """
    global _idle_cache
    with _idle_lock:
        now = time.monotonic()
        if _idle_cache is not None and now - _idle_cache[0] <= max_age:
            return _idle_cache[1]
        idle = _measure_idle(interval)
        _idle_cache = (time.monotonic(), idle)
        return idle


def choose_threads(work_madds: float, *, requested: Optional[int] = None) -> int:
    """The CPU thread count for work of `work_madds` multiply-add equivalents (the count of
    selection.estimate; NaN or negative counts as small).

    * requested (a user's threads=): wins, after :func:`check_threads` (a ValueError sentence for
      anything but a whole number from 1 to the usable cores).
    * work below SMALL_WORK_MADDS (2e10, measured: module constants): 1 thread, without measuring
      anything; small batched ops lose more to OpenMP's barriers than they gain.
    * larger work: the cores idle now, ⌊idle_cores() + 0.3⌋ (a core 70 % free counts), at least 1
      and at most the usable cores. With another process keeping one of two cores busy that is 1.
    """
    if requested is not None:
        return check_threads(requested)
    try:
        work = float(work_madds)
    except (TypeError, ValueError):
        work = 0.0
    if math.isnan(work) or work < SMALL_WORK_MADDS:
        return 1
    cores = usable_cores()
    if cores == 1:
        return 1
    return int(min(cores, max(1, math.floor(idle_cores() + _ROUND_UP))))
