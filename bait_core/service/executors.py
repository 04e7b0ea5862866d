"""Where a comparison's runs execute: one after another, in worker processes on this machine, or on Ray.

A comparison (learning.compare.ComparePlan) is strategies × seeds independent runs, and each (strategy,
seed) run is one task: learning.compare.run_record on its seed's dataset and a copy of its seed's
initial model. :func:`execute_comparison` runs the tasks with one of three executors and yields a
:class:`RunOutcome` per run as it finishes (completion order, not plan order):

* ``sequential``: in the calling thread, one run after another, in the plan's order. Nothing is started.
* ``processes`` (the CLI's default): a pool of ``workers`` processes on this machine (multiprocessing's
  "forkserver" start, "spawn" where there is none: never a fork of the calling process's torch/OpenMP
  state), by default one per usable core, at most one per run.
* ``ray``: Ray tasks (``pip install -r requirements-ray.txt``; Ray is imported only here and only when
  asked). ``ray_address=None`` starts a local Ray instance (num_cpus = workers, no dashboard, worker
  logs not forwarded, usage statistics off: nothing leaves the machine) and shuts it down at the end;
  ``"auto"`` joins the cluster running on this machine (``ray start --head``), and ``"host:port"`` or
  ``"ray://host:10001"`` a remote one, sending bait_core along (runtime_env py_modules; the cluster's
  Python needs requirements.txt). A cluster, or a Ray session the caller already started, is left running.

What travels, once: the calling process loads each seed's dataset (``load_dataset(seed)``) and builds its
initial model (``build_model(dataset, seed)``) once. ``processes``: both are pickled once and handed to
each worker by the pool's initializer (once per worker, not once per task). ``ray``: ``ray.put`` once per
seed; the tasks receive the object references (one copy per node's object store, numpy arrays read
without copying). Every task trains a deep copy of its seed's model, so every run of a seed starts from
the same weights, as in learning.compare.run_comparison.

Threads: every worker runs its tasks on at most ``threads`` CPU threads (common.threads.limit_threads,
set inside the worker: torch's intra-op threads and, through threadpoolctl, the BLAS/OpenMP pools; never
set in the calling process). Default: usable cores // workers, so workers × threads ≤ cores (on a
cluster: 1 per task, each task asking Ray for that many CPUs). One thread is pinned (every stage on
one thread); with more, the stages keep their own policy inside that limit (small models train on one
thread, a selection takes the cores idle now: common.threads), because pinning 2 threads on small
work cost 7-23× more CPU time per run (digits, mlp, 2 cores at load 6-11: OpenMP threads
spinning while they wait for each other).
``sequential`` keeps the caller's thread policy unless ``threads`` is given.

Results: the same seeds give the same picks and metrics with every executor (the same task on the same
data and initial weights; tests/test_executors.py checks it on 2 strategies × 2 seeds). A run that
raises gives a "failed" outcome whose ``error`` is one sentence naming its strategy and seed (the
traceback in ``detail``); the other runs go on. A worker that dies (out of memory, killed) breaks
Python's whole pool: the runs not finished go to a new pool (at most MAX_POOL_STARTS pools), and
those still unfinished then fail with a sentence. A Ray address must answer within 5 s. ``should_stop()`` is polled about 5 times a second: waiting runs are
dropped, running ones are asked to stop (their rounds poll it, as in run_comparison) and yield nothing.
Closing the generator early (an interrupted CLI) does the same and shuts down the pool, or the Ray
instance it started. Errors in the set-up (an unknown executor, workers or threads out of range, Ray
missing or unreachable, a model that cannot be pickled) are ValueError sentences before any run starts.
"""

from __future__ import annotations

import copy
import numbers
import os
import pickle
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Optional

from bait_core.viz.projection import plain_main

__all__ = ["EXECUTORS", "DEFAULT_EXECUTOR", "RAY_REQUIREMENT", "ExecutorSetup", "RunOutcome", "check_executor",
           "execute_comparison", "failure_sentence", "require_ray"]

EXECUTORS = ("sequential", "processes", "ray")
DEFAULT_EXECUTOR = "processes"
RAY_REQUIREMENT = "ray==2.60.0"              # the pin of requirements-ray.txt (a test keeps them equal)
_POLL_S = 0.2                                # how often should_stop() is asked while runs are out


def _ray_missing() -> str:
    return (f"The ray executor needs Ray, which is not installed here: run `pip install -r requirements-ray.txt` "
            f"({RAY_REQUIREMENT}), or choose the processes executor (this machine's cores, nothing to install).")


@dataclass(frozen=True)
class ExecutorSetup:
    """A checked executor choice (:func:`check_executor`): its name, how many runs go at a time
    (`workers`), CPU threads per run (`threads`, None: the caller's policy, sequential only) and the
    Ray address (None: a local instance; ray only)."""

    name: str
    workers: int
    threads: Optional[int]
    ray_address: Optional[str] = None

    def describe(self) -> str:
        """One line for the user, e.g. "processes: 2 worker processes × 1 CPU thread"."""
        t = "" if self.threads is None else f" × {self.threads} CPU thread{'s' if self.threads > 1 else ''}"
        if self.name == "sequential":
            return f"sequential: one run at a time in this process{t}"
        if self.name == "processes":
            return f"processes: {self.workers} worker process{'es' if self.workers > 1 else ''}{t}"
        where = "a local Ray instance" if self.ray_address is None else f"the Ray cluster at {self.ray_address}"
        return f"ray: {self.workers} task{'s' if self.workers > 1 else ''} at a time{t} on {where}"


@dataclass(frozen=True)
class RunOutcome:
    """One finished run of a comparison: kind "done" (with its RunRecord) or "failed" (`error`: one
    sentence naming strategy and seed; `detail`: the traceback of an unexpected error, or "").
    index: the run's position in plan.runs(), of `total`; seconds: its wall time in the worker;
    cpu_seconds: the CPU time of the process that ran it, over the run (in a worker: the run's own, all
    its threads; sequential: the calling process's, other threads included)."""

    kind: str
    index: int
    total: int
    strategy: str
    seed: int
    record: Any = None
    error: str = ""
    detail: str = ""
    seconds: float = 0.0
    cpu_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.kind == "done"


def failure_sentence(strategy: str, seed: int, exc: BaseException) -> str:
    """"The run of STRATEGY with seed SEED failed: <the error>." A ValueError's own sentence is kept as
    it is (it already says what to change); other errors are named by their type."""
    msg = " ".join(str(exc).split())
    if not isinstance(exc, ValueError):
        msg = f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__
    msg = msg or "no message"
    return f"The run of {strategy} with seed {seed} failed: {msg}" + ("" if msg.endswith((".", "!", "?")) else ".")


def _usable_cores() -> int:
    from bait_core.common.threads import usable_cores
    return usable_cores()


def _whole(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{what} must be a whole number of 1 or more, got {value!r}.")
    n = int(value)
    if n < 1:
        raise ValueError(f"{what} must be a whole number of 1 or more, got {n}.")
    return n


def check_executor(executor: str = DEFAULT_EXECUTOR, *, workers: Optional[int] = None,
                   threads: Optional[int] = None, ray_address: Optional[str] = None,
                   n_runs: Optional[int] = None) -> ExecutorSetup:
    """The executor set-up these choices ask for; ValueError with a sentence when one is off.

    executor: "sequential", "processes" or "ray". workers: runs at a time (processes, ray; default:
    the usable cores, at most `n_runs`; 1 for sequential). threads: CPU threads per run (default:
    cores // workers; sequential: None, the caller's policy); workers × threads may not exceed the
    usable cores (oversubscribed OpenMP pools wait for each other), except on a Ray cluster, whose
    scheduler places each task on a node with that many free CPUs. ray_address: ray only.
    """
    name = str(executor).strip().lower()
    if name not in EXECUTORS:
        raise ValueError(f"Unknown executor {executor!r}; choose {', '.join(EXECUTORS[:-1])} or {EXECUTORS[-1]}.")
    if ray_address is not None and name != "ray":
        raise ValueError(f"A Ray address applies to the ray executor only, not to {name}; drop it or choose ray.")
    cores = _usable_cores()
    w = None if workers is None else _whole(workers, "workers")
    t = None if threads is None else _whole(threads, "threads")
    if name == "sequential":
        if w not in (None, 1):
            raise ValueError(f"The sequential executor runs one run at a time; workers={w} applies to processes "
                             "or ray.")
        if t is not None and t > cores:
            raise ValueError(f"threads={t} is more than the {cores} CPU cores this process can use.")
        return ExecutorSetup("sequential", 1, t)
    cluster = name == "ray" and ray_address is not None
    address = None
    if name == "ray" and ray_address is not None:
        address = str(ray_address).strip()
        if not address:
            raise ValueError("The Ray address is empty; give 'auto', host:port or ray://host:10001, or leave it out "
                             "for a local Ray instance.")
    if w is None:
        w = cores if t is None else max(1, cores // t)
        if n_runs is not None and not cluster:
            w = max(1, min(w, int(n_runs)))
    if t is None:
        t = 1 if cluster else max(1, cores // w)
    if not cluster and w * t > cores:
        raise ValueError(f"{w} worker{'s' if w > 1 else ''} × {t} thread{'s' if t > 1 else ''} is more than the "
                         f"{cores} CPU cores here; give at most {cores} workers × threads (e.g. {cores} workers of "
                         "1 thread), or leave them out to use every core once.")
    return ExecutorSetup(name, w, t, address)


# ----------------------------------------------------------------------------- the task (runs in a worker)

@dataclass(frozen=True)
class _Task:
    index: int
    total: int
    config: Any                                  # RunConfig: strategy and seed set


def _default_run_fn() -> Callable:
    from bait_core.learning.compare import run_record
    return run_record


def _run_task(task: _Task, dataset: Any, model: Any, run_fn: Optional[Callable], threads: Optional[int],
              should_stop: Optional[Callable[[], bool]]) -> Optional[RunOutcome]:
    """One run on a deep copy of `model`, on `threads` pinned CPU threads; a RunOutcome, or None when it
    was stopped. Never raises for the run's own errors: they become a "failed" outcome."""
    c = task.config
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        fn = run_fn or _default_run_fn()
        fresh = copy.deepcopy(model)
        if threads is None:
            record = fn(c, dataset, fresh, should_stop=should_stop)
        else:
            from bait_core.common.threads import limit_threads
            n = min(threads, _usable_cores())
            with limit_threads(n, pin=n == 1):
                record = fn(c, dataset, fresh, should_stop=should_stop)
    except Exception as e:  # noqa: BLE001 - a run's error is reported and the other runs go on
        return RunOutcome("failed", task.index, task.total, c.strategy, c.seed, error=failure_sentence(c.strategy, c.seed, e),
                          detail="" if isinstance(e, ValueError) else traceback.format_exc(),
                          seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)
    if record is None:
        return None
    return RunOutcome("done", task.index, task.total, c.strategy, c.seed, record=record,
                      seconds=time.perf_counter() - t0, cpu_seconds=time.process_time() - c0)


# processes: what the pool's initializer leaves in each worker
_WORKER: dict = {}


def _init_worker(datasets: dict, models: dict, run_fn: Optional[Callable], threads: Optional[int],
                 stop_event: Any) -> None:
    """Pool initializer: keep the datasets and models (sent once per worker by multiprocessing, from this
    parent's own objects — never a file's bytes) and set the worker's threads."""
    _WORKER.update(datasets=datasets, models=models, run_fn=run_fn, threads=threads, stop=stop_event)
    if threads is not None:
        import torch
        torch.set_num_threads(threads)          # this worker's default; each task also pins it (limit_threads)


def _process_task(task: _Task) -> Optional[RunOutcome]:
    w = _WORKER
    seed = task.config.seed
    return _run_task(task, w["datasets"][seed], w["models"][seed], w["run_fn"], w["threads"], w["stop"].is_set)


def _ray_task(task: _Task, dataset: Any, model: Any, run_fn: Optional[Callable],
              threads: Optional[int]) -> Optional[RunOutcome]:
    return _run_task(task, dataset, model, run_fn, threads, None)


# ----------------------------------------------------------------------------- the executors

def execute_comparison(plan: Any, load_dataset: Callable[[int], Any], build_model: Callable[[Any, int], Any],
                       setup: ExecutorSetup | str = DEFAULT_EXECUTOR, *,
                       should_stop: Optional[Callable[[], bool]] = None,
                       run_fn: Optional[Callable] = None) -> Iterator[RunOutcome]:
    """Every (strategy, seed) run of `plan` (learning.compare.ComparePlan) on `setup` (an ExecutorSetup
    from :func:`check_executor`, or an executor name with its defaults), yielding a RunOutcome per run
    as it finishes; see the module doc for what travels where and for failures.

    load_dataset(seed) → the seed's dataset; build_model(dataset, seed) → its initial model (each is
    called once per seed, in this process). run_fn(config, dataset, model, should_stop=...) → RunRecord
    or None: the task (default learning.compare.run_record); another one must be a module-level
    function (it is pickled by reference for processes; tests use it to make a run fail). ValueError
    sentences for the set-up, before any run starts."""
    if isinstance(setup, str):
        setup = check_executor(setup, n_runs=len(plan.runs()))
    stop = should_stop or (lambda: False)
    tasks = [_Task(i, len(plan.runs()), c) for i, c in enumerate(plan.runs())]
    if setup.name == "sequential":
        yield from _sequential(tasks, load_dataset, build_model, setup, stop, run_fn)
        return
    seeds = list(dict.fromkeys(t.config.seed for t in tasks))
    datasets, models = {}, {}
    for seed in seeds:
        if stop():
            return
        datasets[seed] = load_dataset(seed)
        models[seed] = build_model(datasets[seed], seed)
    if setup.name == "processes":
        yield from _processes(tasks, datasets, models, setup, stop, run_fn)
    else:
        yield from _ray(tasks, datasets, models, setup, stop, run_fn)


def _sequential(tasks: list[_Task], load_dataset: Callable, build_model: Callable, setup: ExecutorSetup,
                stop: Callable[[], bool], run_fn: Optional[Callable]) -> Iterator[RunOutcome]:
    loaded: dict = {}
    for task in tasks:
        if stop():
            return
        seed = task.config.seed
        if seed not in loaded:                            # one seed's dataset and model at a time
            dataset = load_dataset(seed)
            loaded = {seed: (dataset, build_model(dataset, seed))}
        out = _run_task(task, *loaded[seed], run_fn, setup.threads, stop)
        if out is None:
            return
        yield out


def _processes(tasks: list[_Task], datasets: dict, models: dict, setup: ExecutorSetup,
               stop: Callable[[], bool], run_fn: Optional[Callable]) -> Iterator[RunOutcome]:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    try:                                                  # can they travel? (multiprocessing pickles them)
        pickle.dumps((datasets, models, run_fn, setup.threads), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - pickling fails in many ways (PicklingError, TypeError, AttributeError)
        raise ValueError(f"The comparison's data or model cannot be sent to worker processes ({type(e).__name__}: "
                         f"{' '.join(str(e).split())[:200]}); choose the sequential executor.") from None
    ctx = _mp_context()
    remaining, starts = list(tasks), 0
    while remaining:
        starts += 1
        stop_event = ctx.Event()                          # one per pool: setting it ends that pool's runs only
        pool = ProcessPoolExecutor(max_workers=setup.workers, mp_context=ctx, initializer=_init_worker,
                                   initargs=(datasets, models, run_fn, setup.threads, stop_event))
        futures: dict = {}
        unfinished: list[_Task] = []
        try:
            try:
                with plain_main():                        # the workers start here, without the app's script
                    for t in remaining:
                        futures[pool.submit(_process_task, t)] = t
            except (BrokenProcessPool, OSError):          # a worker died while the pool was starting
                unfinished = [t for t in remaining if t not in futures.values()]
            pending = set(futures)
            while pending:
                if stop():
                    stop_event.set()
                    return
                done, pending = wait(pending, timeout=_POLL_S, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: futures[f].index):
                    task = futures[f]
                    try:
                        out = f.result()
                    except BrokenProcessPool:             # this run's worker, or another one, died
                        unfinished.append(task)
                        continue
                    except Exception as e:  # noqa: BLE001 - e.g. a result that cannot be pickled back
                        out = RunOutcome("failed", task.index, task.total, task.config.strategy, task.config.seed,
                                         error=failure_sentence(task.config.strategy, task.config.seed, e),
                                         detail=traceback.format_exc())
                    if out is not None:
                        yield out
        finally:
            stop_event.set()                               # running tasks stop at their next check
            pool.shutdown(wait=True, cancel_futures=True)
        # a dead worker breaks Python's whole pool: the runs it had not finished (the dead worker's and the
        # others') go to a new pool, at most MAX_POOL_STARTS pools in all; then they are reported failed
        remaining = sorted(unfinished, key=lambda t: t.index)
        if remaining and starts >= MAX_POOL_STARTS:
            for task in remaining:
                yield _died(task, f"worker processes ended unexpectedly {starts} times (out of memory, or killed); "
                                  "this run did not finish")
            return


MAX_POOL_STARTS = 3        # worker pools started for one comparison when workers die (out of memory, killed)


def _mp_context() -> Any:
    """multiprocessing's "forkserver" start where the OS has it (Linux, macOS): a clean server process
    imports torch and bait_core once (its preload) and each worker forks from it, 2.5 s sooner than a
    "spawn" worker that imports them again (measured: a 2-worker pool ready in 1.5 s against 4.0 s);
    elsewhere (Windows) "spawn". Never "fork" of the calling process: its torch/OpenMP threads do not
    survive a fork."""
    import multiprocessing
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["bait_core.learning.compare"])   # not __main__: under streamlit, the app
        return ctx
    return multiprocessing.get_context("spawn")


RAY_CONNECT_TIMEOUT_S = 5.0


def _check_reachable(address: str) -> None:
    """Before ray.init: a host:port or ray://host:port address must accept a TCP connection within
    RAY_CONNECT_TIMEOUT_S (Ray itself retries an address that does not answer for minutes, printing
    a warning every few seconds); "auto" is left to Ray. ConnectionError otherwise (made a sentence by
    the caller). A ray:// address also needs Ray's client extra."""
    import socket
    a = address.strip()
    if a == "auto":
        return
    if a.startswith("ray://"):
        try:
            import ray.util.client  # noqa: F401
            import grpc  # noqa: F401 - ray[client] brings it
        except ImportError:
            raise ConnectionError(f"a ray:// address needs Ray's client extra: pip install \"ray[client]=="
                                  f"{RAY_REQUIREMENT.split('==')[-1]}\"") from None
        a = a[len("ray://"):]
    host, _, port = a.rpartition(":")
    if not host or not port.isdigit():
        raise ConnectionError(f"{address!r} is not auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=RAY_CONNECT_TIMEOUT_S).close()
    except OSError as e:
        raise ConnectionError(f"nothing answered at {host}:{port} within {RAY_CONNECT_TIMEOUT_S:.0f} s ({e})") from None


def _died(task: _Task, why: str) -> RunOutcome:
    c = task.config
    return RunOutcome("failed", task.index, task.total, c.strategy, c.seed,
                      error=f"The run of {c.strategy} with seed {c.seed} failed: {why}.")


def require_ray() -> Any:
    """The ray module; ValueError saying how to install it when it is missing (Ray is optional)."""
    try:
        import ray
    except ImportError:
        raise ValueError(_ray_missing()) from None
    return ray


def _ray(tasks: list[_Task], datasets: dict, models: dict, setup: ExecutorSetup,
         stop: Callable[[], bool], run_fn: Optional[Callable]) -> Iterator[RunOutcome]:
    ray = require_ray()
    started = False
    if not ray.is_initialized():
        try:
            if setup.ray_address is None:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")     # offline: no usage report
                ray.init(num_cpus=setup.workers * (setup.threads or 1), include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                _check_reachable(setup.ray_address)
                ray.init(address=setup.ray_address, log_to_driver=False, configure_logging=False,
                         runtime_env={"py_modules": [str(Path(__file__).resolve().parents[1])]})
        except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError from Ray
            where = "start a local Ray instance" if setup.ray_address is None else \
                f"reach a Ray cluster at {setup.ray_address!r}"
            raise ValueError(f"Could not {where} ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
                             + ("start one with `ray start --head`, give its address, or leave the address out for "
                                "a local instance." if setup.ray_address is not None else
                                "choose the processes executor.")) from None
        started = True
    refs: dict = {}
    try:
        data_refs = {s: ray.put(d) for s, d in datasets.items()}         # once per seed, not per task
        model_refs = {s: ray.put(m) for s, m in models.items()}
        remote = ray.remote(num_cpus=setup.threads or 1)(_ray_task)
        queue = list(tasks)
        while queue or refs:
            if stop():
                return
            while queue and len(refs) < setup.workers:
                t = queue.pop(0)
                s = t.config.seed
                refs[remote.remote(t, data_refs[s], model_refs[s], run_fn, setup.threads)] = t
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=_POLL_S)
            for ref in ready:
                task = refs.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as e:  # noqa: BLE001 - RayTaskError, WorkerCrashedError, ...
                    out = _died(task, f"Ray could not finish it ({type(e).__name__}: "
                                      f"{' '.join(str(e).split())[:200]})")
                if out is not None:
                    yield out
    finally:
        for ref in refs:
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - already finished or gone
                pass
        if started:
            ray.shutdown()
