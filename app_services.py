"""The app's services, free of streamlit: the runs folder, building a run, reading uploads, opening
records / bundles / walkthroughs / comparisons, the comparison job's worker, the warm-up threads and
the map layouts. Nothing here imports streamlit: the session's objects are passed in (the run, or
the session-state mapping for upload_once / job_ended), so every function can be called and tested
without a script run; tests/test_app_modules.py checks that importing this module never imports
streamlit.

Errors meant for the user are ValueError with a sentence.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
import hashlib
import io
import os
import pickle
import sys
import threading
import weakref
import zipfile
from dataclasses import replace
from typing import Any, Callable, Hashable, MutableMapping, Optional

import numpy as np

from bait_core.learning.compare import ComparePlan, Comparison, run_comparison
from bait_core.learning.data import BUILTIN_DEFAULTS, Dataset, load_builtin, load_file
from bait_core.learning.build import build_run, build_run_model, load_run_dataset
from bait_core.service.explorer import Explorer
from bait_core.service.jobs import Job
from bait_core.records.run_record import RunConfig, RunRecord
from bait_core.learning.models import MODEL_NAMES
from bait_core.viz.projection import LAYOUTS, layout_key, run_in_worker
from bait_core.viz.layout_cache import LayoutCache, cache_dir, input_names, precompute_one
from bait_core.learning.reading import ReadOptions
from bait_core.service.runstore import LIVE, RunSources, RunStore, default_runs_dir, valid_run_id
from bait_core.common.threads import single_cpu_thread
from bait_core.service.warmup import warm_compute as _warm_compute, warm_layouts as _warm_layouts

DEFAULT_CONFIG = RunConfig(data="builtin:digits", model="mlp", strategy="bait", rounds=10,
                           batch_size=10, initial=20, seed=0)


def runs_dir() -> str:
    """The runs folder: `streamlit run app.py -- --runs-dir DIR`, else $BAIT_EXPLORER_RUNS_DIR, else ./runs."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--runs-dir" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--runs-dir="):
            return a.split("=", 1)[1]
    return str(default_runs_dir())


def run_store() -> RunStore:
    return RunStore(runs_dir())


def open_saved_run(run_id: str) -> Explorer:
    """The run `run_id`: the live object if this server holds it (with its running job) and its saved
    files are as it left them, else rebuilt from the runs folder (another program, such as the CLI's
    `next`, changed them). ValueError with a sentence otherwise."""
    if not valid_run_id(run_id):
        raise ValueError(f"The address names a run {str(run_id)[:80]!r} that is not a run id.")
    ex = LIVE.get(run_id)
    store = run_store()
    if ex is not None and not ex.busy and ex.store is not None and ex.disk_stamp is not None:
        try:
            changed = ex.store.stamp(run_id) != ex.disk_stamp
        except ValueError:
            changed = False
        if changed:                                  # another program (the CLI's next) worked on it: reread
            LIVE.discard(run_id)
            return store.resume(run_id)
    return ex if ex is not None else store.resume(run_id)


def download_name(ex: Explorer, what: str, ext: str) -> str:
    """A download's file name: dataset, strategy, date and what it is (e.g.
    'digits_bait_2026-11-30_record.json'), in characters every file system accepts."""
    import re
    stem = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(v)).strip("-.")[:40] or "run"
                    for v in (ex.dataset.name.rsplit(".", 1)[0], ex.config.strategy, ex.record.created[:10]))
    return f"{stem}_{what}.{ext}"


def open_bundle(data: bytes) -> Explorer:
    """A run bundle (ZIP) copied into the runs folder and resumed as a live run."""
    store = run_store()
    store.check_writable()
    run_id, copied = store.import_bundle(data)
    try:
        ex = store.resume(run_id)
    except Exception:
        store.delete(run_id)                        # nothing half-imported stays in Recent runs
        raise
    ex.copied_from_bundle = copied
    return ex


def open_record_files(files: list[tuple[str, bytes]], current: Optional[Explorer] = None) -> tuple[Explorer, str]:
    """What the Records page's uploader got: a run bundle (ZIP), a record (JSON), or a record with the
    data file its run used (any data format). Returns (Explorer, what happened in words)."""
    if not files:
        raise ValueError("Choose a run record (JSON), a run bundle (ZIP), or a record together with its data file.")
    zips = [f for f in files if f[0].lower().endswith(".zip") and f[1][:2] == b"PK"]
    records = [f for f in files if f[0].lower().endswith(".json")]
    if len(files) == 1 and zips:
        try:
            ex = open_bundle(zips[0][1])
        except ValueError as bundle_error:
            raise ValueError(f"{files[0][0]}: {bundle_error}") from None
        how = "run bundle: a live run again, continue it on the Rounds page"
        if getattr(ex, "copied_from_bundle", False):
            how += f"; this server already had a run with the bundle's id, so it was copied in as {ex.run_id}"
        return ex, how
    if len(records) != 1:
        raise ValueError("Drop one run record (JSON), optionally with the one data file its run used.")
    record = RunRecord.from_json(records[0][1])
    others = [f for f in files if f is not records[0]]
    if not others:
        return view_record(record, current), "read-only record"
    if len(others) > 1:
        raise ValueError("Drop the record with one data file (the file its run used).")
    name, raw = others[0]
    dataset = load_upload(raw, name, record.config.label_column, seed=record.config.seed)
    if dataset.fingerprint != record.dataset.get("fingerprint"):
        raise ValueError(f"'{name}' is not the data this run used: it reads as fingerprint {dataset.fingerprint}, the "
                         f"record names {record.dataset.get('fingerprint')}. If the file was read with other settings "
                         "(separator, encoding, task), open it on Setup with those settings first, or use the run's "
                         "bundle (ZIP).")
    ex = Explorer.from_record(record, dataset=dataset)
    return ex, f"read-only record with its data file {name}"


def live_status(summary) -> str:
    """A saved run's status for the Recent runs list: running here, finished, or saved."""
    ex = LIVE.get(summary.run_id)
    if ex is not None and ex.busy:
        return "running"
    return "finished" if summary.finished else "saved"


# --- builders (raise ValueError with a sentence) ----------------------------------------------

def load_builtin_dataset(name: str, seed: int, n_points: Optional[int] = None) -> Dataset:
    opts = {} if n_points is None or BUILTIN_DEFAULTS[name].get("n_points", "x") == "x" else {"n_points": n_points}
    return load_builtin(name, seed=seed, **opts)


def content_key(data: bytes) -> str:
    """The cache key of an upload: a hash of its bytes (never its name or size: a corrected file with
    the same name and size must be read again)."""
    return hashlib.sha256(bytes(data)).hexdigest()


def load_upload(data: bytes, filename: str, label_column: Optional[str], seed: int = 0,
                options: Optional[ReadOptions] = None) -> Dataset:
    """A user file (CSV/TSV/Parquet/NPZ/ZIP) as a Dataset read with `options` (None: infer all and
    report it in dataset.report); ValueError with a sentence otherwise."""
    if not data:
        raise ValueError(f"The file '{filename}' is empty.")
    return load_file(bytes(data), filename=filename, label_column=label_column or None, seed=seed, options=options)


def folder_to_zip(files: list[tuple[str, bytes]], name: str = "folder",
                  progress: Optional[Callable[[int, int], None]] = None) -> bytes:
    """A folder upload (relative path, content) as an in-memory ZIP for the ZIP-of-class-folders
    loader. ValueError when the browser sent no folder structure to read classes from.
    `progress(done, total)`, when given, is called after each file is packed (and once with 0 first)."""
    if not files:
        raise ValueError("The folder upload is empty.")
    if not any("/" in p.replace("\\", "/").strip("/") for p, _ in files):
        raise ValueError("The browser sent the files without their folder names, so the classes cannot be read; "
                         "zip the folder (one subfolder per class) and upload the ZIP instead.")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        if progress is not None:
            progress(0, len(files))
        for k, (path, data) in enumerate(files, 1):
            zf.writestr(path.replace("\\", "/").lstrip("/"), data)
            if progress is not None:
                progress(k, len(files))
    return buf.getvalue()


def upload_key(files: list[tuple[str, bytes]], *extra: Hashable) -> tuple:
    """The key of one upload: (name, content_key(bytes)) per file, in order, then `extra` (the settings
    it is read with, e.g. label column, seed, ReadOptions). Two uploads get one key only when the
    same names hold the same bytes and the settings are equal."""
    return (tuple((str(name), content_key(data)) for name, data in files), *extra)


def upload_once(state: MutableMapping, state_key: str, ukey: Hashable, process: Callable[[], Any],
                keep: bool = True) -> tuple[Any, bool]:
    """Process an upload once: `process()` runs only when `ukey` (see upload_key) is not the key stored
    under `state[state_key]`; then (ukey, result) is stored there — (ukey, None) when not `keep`, for
    results that must not stay referenced — and (result, True) is returned. When `ukey` is the stored
    one: (the stored result, False), nothing runs. An error of `process` propagates and nothing is
    stored, so the next page run tries again. `state`: st.session_state, or any dict in tests."""
    stored = state.get(state_key)
    if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == ukey:
        return stored[1], False
    result = process()
    state[state_key] = (ukey, result if keep else None)
    return result, True


def job_ended(state: MutableMapping, job_key: str, ack_key: str) -> tuple[Optional[Job], bool]:
    """The Job under `state[job_key]` (None when none) and whether this is the first page run to see
    it ended: then `state[ack_key]` becomes id(job), so the page draws its results once and the
    progress panel (app_widgets.job_progress) stops asking for a rerun."""
    job = state.get(job_key)
    if job is None or job.running:
        return job, False
    first = state.get(ack_key) != id(job)
    state[ack_key] = id(job)
    return job, first


def build_explorer(config: RunConfig, dataset: Optional[Dataset] = None, model_file: Optional[bytes] = None,
                   model_filename: Optional[str] = None, arch: Optional[str] = None,
                   data_file: Optional[tuple[str, bytes]] = None,
                   read_options: Optional[ReadOptions] = None) -> Explorer:
    """A fresh Explorer for `config`: the dataset (built-in by config.data unless given) and a built-in
    model (config.model) or the uploaded model file. `data_file` (name, bytes): the upload the
    dataset was read from, stored with the run (with the `read_options` it was read with) so it can
    be resumed after a restart."""
    built = build_run(config, dataset=dataset, model_file=model_file, model_filename=model_filename, arch=arch,
                      builtin_only=True)      # validated; a run that would not fit is refused before any training
    dataset, model = built.dataset, built.model
    sources = RunSources(data_name=data_file[0] if data_file else None, data_bytes=data_file[1] if data_file else None,
                         model_name=model_filename if model_file is not None else None, model_bytes=model_file,
                         arch=arch if model_file is not None else None,
                         read_options=read_options if data_file else None)
    return Explorer.start(dataset, model, config, store=run_store(), sources=sources)


def view_record(record: RunRecord, current: Optional[Explorer] = None) -> Explorer:
    """A run record as a read-only Explorer. A built-in dataset is reloaded; a record of an uploaded
    file reuses the current run's dataset when its fingerprint matches. ValueError when the dataset
    is another one, or its pool size or class count is not the record's."""
    dataset = None
    if (current is not None and not str(record.dataset.get("source", "")).startswith("builtin:")
            and current.dataset.fingerprint == record.dataset.get("fingerprint")):
        dataset = current.dataset
    ex = Explorer.from_record(record, dataset=dataset)
    n, k = ex.dataset.X.shape[0], len(ex.dataset.classes)
    if n != record.n_points or k != len(record.dataset.get("classes") or []):
        raise ValueError(f"The record does not fit the dataset '{ex.dataset.name}': it describes {record.n_points:,} "
                         f"pool points and {len(record.dataset.get('classes') or [])} classes, the dataset has "
                         f"{n:,} and {k}.")
    return ex


def open_record(data: bytes, current: Optional[Explorer] = None) -> Explorer:
    """A run record (JSON bytes) as a read-only Explorer (see view_record)."""
    return view_record(RunRecord.from_json(data), current)


WALKTHROUGH_ASSET = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets", "walkthrough_digits.json")


def open_story(data: bytes, current: Optional[Explorer] = None):
    """A walkthrough (JSON bytes) as (Story, read-only Explorer of its record); ValueError with a
    sentence otherwise. Like open_record, a story of an uploaded file reuses the current run's
    dataset when its fingerprint matches."""
    from bait_core.records.story import Story
    story = Story.from_json(data)
    return story, view_record(story.record, current)


# --- the comparison job (worker thread: no streamlit) ---------------------------------------

def compare_plan(ex: Explorer, strategies: list[str], seeds: list[int], rounds: int, batch_size: int,
                 initial: int) -> ComparePlan:
    """A comparison on the dataset and model of the run `ex` with these settings (validated)."""
    base = replace(ex.config, rounds=int(rounds), batch_size=int(batch_size), initial=int(initial))
    plan = ComparePlan(base=base, strategies=tuple(strategies), seeds=tuple(int(s) for s in seeds))
    plan.validate(ex.dataset.task, ex.dataset.X.shape[0])
    return plan


def _compare_sources(ex: Explorer):
    """(load_dataset(seed), build_model(dataset, seed)) for a comparison on the session's run: built-in
    data are reloaded per seed (their split is seeded, as in the CLI); an uploaded file is shared;
    built-in models are built per seed, an uploaded model starts every run from its uploaded weights."""
    source = ex.config.data
    if source.startswith("builtin:"):
        def load(seed: int) -> Dataset:
            return ex.dataset if seed == ex.config.seed else load_run_dataset(ex.config, seed=seed)
    else:
        def load(seed: int) -> Dataset:
            return ex.dataset
    if ex.config.model in MODEL_NAMES:
        def build(ds: Dataset, seed: int):
            return build_run_model(ex.config, ds, seed=seed, builtin_only=True)
    elif ex.model is not None and ex.init_state is not None:
        def build(ds: Dataset, seed: int):
            model = copy.deepcopy(ex.model)
            model.load_state_dict(ex.init_state)
            return model
    else:
        raise ValueError(f"This run's model '{ex.config.model}' was uploaded and is not loaded now; load it again on "
                         "the Setup page to compare strategies with it.")
    return load, build


# Where the Compare page's runs execute ("Run on"): the choice's key, its label and the executor it asks for.
RUN_ON = {"sequential": "this process (one run at a time)", "processes": "worker processes", "ray": "Ray"}
_PICKLE_CHECKED: "weakref.WeakKeyDictionary[Any, Optional[str]]" = weakref.WeakKeyDictionary()


class _CountingSink:
    def write(self, b) -> int:                   # pickle.dump's target: counts nothing, keeps nothing
        return len(b)


def unpicklable_reason(ex: Explorer) -> Optional[str]:
    """Why the run's model (the comparison's models are of its kind) cannot be sent to worker
    processes ("TypeError: cannot pickle ..."), or None when it can. Checked once per model object."""
    model = ex.model
    if model is None:
        return None
    try:
        return _PICKLE_CHECKED[model]
    except (KeyError, TypeError):
        pass
    try:
        pickle.dump(model, _CountingSink(), protocol=pickle.HIGHEST_PROTOCOL)
        why = None
    except Exception as e:  # noqa: BLE001 - PicklingError, TypeError, AttributeError
        why = f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"
    try:
        _PICKLE_CHECKED[model] = why
    except TypeError:                            # not weak-referenceable: checked again next time
        pass
    return why


def ray_available() -> bool:
    """Whether Ray can be imported here (looked up, not imported: Ray is optional and slow to import)."""
    import importlib.util
    return importlib.util.find_spec("ray") is not None


def default_run_on(ex: Explorer) -> tuple[str, str]:
    """(choice, reason) for the Compare page's "Run on": "processes" when this process may use 2 cores
    or more and the model can be pickled, else "sequential", with the sentence saying why."""
    from bait_core.common.threads import usable_cores
    cores = usable_cores()
    if cores < 2:
        return "sequential", "This process may use 1 CPU core, so worker processes would not run anything sooner."
    why = unpicklable_reason(ex)
    if why is not None:
        return "sequential", (f"The model cannot be sent to worker processes ({why}), so the runs go one at a time "
                              "in this process.")
    return "processes", f"This process may use {cores} CPU cores: one worker process per core, one run on each."


def compare_setup(run_on: str, n_runs: int, ray_address: Optional[str] = None):
    """The executors.ExecutorSetup for the Compare page's "Run on" choice (a RUN_ON key) and a plan of
    `n_runs` runs; ray_address: "" or None for a local Ray instance. ValueError sentences (e.g. Ray
    not installed, with how to install it)."""
    from bait_core.service.executors import check_executor, require_ray
    if run_on not in RUN_ON:
        raise ValueError(f"Unknown choice {run_on!r} for where the runs execute; choose one of {', '.join(RUN_ON)}.")
    address = (ray_address or "").strip() or None
    if run_on == "ray" and not ray_available():
        require_ray()                            # its sentence: how to install Ray (Ray is imported only to run)
    return check_executor(run_on, n_runs=n_runs, ray_address=address if run_on == "ray" else None)


def compare_estimate(ex: Explorer, plan: ComparePlan, workers: int) -> Optional[str]:
    """A rough wall time for `plan` with `workers` runs at a time, from the session run's measured
    rounds (train + outputs + select seconds), or None when it has none. Other strategies may be
    faster or slower than the session's; runs in parallel share the cores, so it is a lower bound."""
    times = [sum(r.times.get(k, 0.0) for k in ("train", "outputs", "select")) for r in ex.rounds]
    if not times:
        return None
    per_round = float(np.mean(times))
    n_runs = len(plan.runs())
    total = n_runs * (plan.base.rounds + 1) * per_round / max(1, min(workers, n_runs))
    text = f"{total:.0f} s" if total < 90 else f"{total / 60:.1f} min"
    return (f"about {text} at best, from this session's {len(times)} measured round{'s' if len(times) > 1 else ''} "
            f"({per_round:.2f} s each with {ex.config.strategy}; other strategies can be slower or faster)")


def _compare_worker(plan: ComparePlan, load, build, setup=None, run_fn: Optional[Callable] = None):
    """The comparison job's work: `setup` None or sequential: run_comparison in the job's thread, with
    per-round progress; else executors.execute_comparison on that setup, with progress per finished
    run and each run's status from its outcome ("done" or "failed: <sentence>"; the others go on).
    run_fn: the executors' task (tests make a run fail with it); default COMPARE_RUN_FN. In this
    process a run's error still ends the whole job (run_comparison raises), as before."""
    if setup is not None and setup.name != "sequential":
        return _executor_worker(plan, load, build, setup, run_fn if run_fn is not None else COMPARE_RUN_FN)

    def work(job: Job) -> None:
        for c in plan.runs():
            job.set_item((c.strategy, c.seed), strategy=c.strategy, seed=c.seed, status="waiting", round="",
                         auc=None)
        total = len(plan.runs())
        current: dict = {}

        def progress(stage: str, done: int, total_steps: int, info: Optional[float]) -> None:
            if stage == "train":
                job.report("train", done, total_steps, info, f"{current.get('label', '')}: training, epoch {done}")
            elif stage.startswith("select:"):
                job.report(stage, done, total_steps, info,
                           f"{current.get('label', '')}: selecting ({stage[7:]}, step {done} of {total_steps})")

        with single_cpu_thread(True):
            events = run_comparison(plan, load, build, progress=progress, should_stop=lambda: job.cancelled)
            for ev in events:
                key = (ev.strategy, ev.seed)
                current["label"] = f"Run {ev.index + 1} of {total} ({ev.strategy}, seed {ev.seed})"
                current["index"] = ev.index
                if ev.kind == "start":
                    job.set_item(key, status="running", round=f"0 of {ev.rounds}")
                elif ev.kind == "round":
                    job.set_item(key, status="running", round=f"{ev.round} of {ev.rounds}",
                                 metric=None if ev.metric is None else round(float(ev.metric), 4))
                    job.report("round", ev.index * 1000 + int(1000 * ev.round / max(1, ev.rounds)), total * 1000,
                               ev.metric, f"{current['label']}: round {ev.round} of {ev.rounds} done"
                               + (" (the final evaluation, after the selection rounds)" if ev.round == ev.rounds else ""))
                elif ev.kind == "done":
                    job.set_item(key, status="done", auc=round(float(ev.metric), 4))
                    job.add_result(ev.record)
        if job.cancelled:
            for c in plan.runs():
                if job.items[(c.strategy, c.seed)]["status"] != "done":
                    job.set_item((c.strategy, c.seed), status="stopped")
    return work


# The executors' task for the app's comparisons (None: learning.compare.run_record). A module-level
# function, so that worker processes can import it; tests set one that makes a run fail.
COMPARE_RUN_FN: Optional[Callable] = None


def _executor_worker(plan: ComparePlan, load, build, setup, run_fn: Optional[Callable]):
    from bait_core.service.executors import execute_comparison

    def work(job: Job) -> None:
        runs = plan.runs()
        total = len(runs)
        where = setup.describe()
        for c in runs:
            job.set_item((c.strategy, c.seed), strategy=c.strategy, seed=c.seed, status="waiting", round="",
                         auc=None)
        job.report("runs", 0, total, None, f"Starting {where}")
        finished = 0
        for out in execute_comparison(plan, load, build, setup, should_stop=lambda: job.cancelled, run_fn=run_fn):
            finished += 1
            key = (out.strategy, out.seed)
            if out.ok:
                rec = out.record
                final = rec.rounds[-1] if rec.rounds else None
                job.set_item(key, status="done", round=f"{len(rec.rounds)} of {plan.base.rounds + 1}",
                             metric=None if final is None else round(float(final.metric), 4),
                             auc=round(float(rec.auc()), 4), seconds=round(out.seconds, 1))
                job.add_result(rec)
            else:
                job.set_item(key, status=f"failed: {out.error}", seconds=round(out.seconds, 1))
            job.report("runs", finished, total, None,
                       f"Run {out.index + 1} of {total} ({out.strategy}, seed {out.seed}) "
                       f"{'done' if out.ok else 'failed'}; {finished} of {total} finished on {where}")
        if job.cancelled:
            for c in runs:
                if job.items[(c.strategy, c.seed)]["status"] == "waiting":
                    job.set_item((c.strategy, c.seed), status="stopped")
    return work


def failed_runs(job: Job) -> list[str]:
    """The sentences of the comparison job's failed runs (its items' "failed: ..." statuses), in plan order."""
    return [str(v["status"])[len("failed: "):] for v in job.items.values()
            if str(v.get("status", "")).startswith("failed: ")]


def compare_job(ex: Explorer, plan: ComparePlan, setup=None) -> Job:
    """The comparison job of `plan` on the run `ex` (not started): its worker runs every (strategy,
    seed) of the plan where `setup` says (an executors.ExecutorSetup from compare_setup; None: this
    process, one run at a time), reports progress and items, and adds each finished run's record to
    the job's results. ValueError when the run's uploaded model is not loaded."""
    load, build = _compare_sources(ex)
    return Job(name="comparison", fn=_compare_worker(plan, load, build, setup), context=plan)


def comparison_of(job: Job) -> Optional[Comparison]:
    """The finished runs of a comparison job as a Comparison (None when none finished), in the plan's
    order (worker processes finish them in any order)."""
    order = {(c.strategy, c.seed): i for i, c in enumerate(job.context.runs())} if job.context is not None else {}
    records = sorted(job.results, key=lambda r: order.get((r.config.strategy, r.config.seed), len(order)))
    return Comparison(records=records, plan=job.context) if records else None


def open_comparison(files: list[tuple[str, bytes]]) -> Comparison:
    """One comparison JSON, or several run records (e.g. the JSON files of the CLI's `compare`)."""
    if not files:
        raise ValueError("Choose a comparison file or some run records.")
    if len(files) == 1:
        return Comparison.from_json(files[0][1])
    from bait_core.records.schemas import MAX_FILE_BYTES, MAX_RUNS
    if len(files) > MAX_RUNS or sum(len(b) for _, b in files) > 4 * MAX_FILE_BYTES:
        raise ValueError(f"That is {len(files)} files; a comparison opens at most {MAX_RUNS} run records of "
                         f"{4 * MAX_FILE_BYTES >> 20} MiB in all.")
    records = []
    for name, data in files:
        if name.endswith("comparison.json"):
            raise ValueError(f"'{name}' is a whole comparison; open it on its own.")
        try:
            records.append(RunRecord.from_json(data))
        except ValueError as e:
            raise ValueError(f"{name}: {e}") from None
    return Comparison.from_records(records)


def comparison_dataset(comparison: Comparison, seed: int, current: Optional[Explorer] = None) -> Dataset:
    """The dataset of a comparison's runs with `seed` (built-in: reloaded; a file: the `current` run's,
    if it is the same data; ValueError otherwise)."""
    record = next(r for r in comparison.records if r.config.seed == seed)
    return view_record(record, current=current).dataset


# --- warm-up and the map layout ---------------------------------------------------------------

def umap_enabled() -> bool:
    """UMAP can be switched off (the unit tests do: its first fit costs 9-35 s of JIT)."""
    return os.environ.get("BAIT_EXPLORER_NO_UMAP", "") != "1"


_ROWS_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_ROWS_LOCK = threading.Lock()


def batch_rows(ex: Explorer, indices: list[int]):
    """The points `indices` as their table file has them (learning.labels.original_rows: the values as
    written, the label left out), or None (not a table, no stored file): the labeling panel shows these
    to the person. Cached per run and batch (a file is read once per batch, not on every rerun)."""
    from bait_core.learning.labels import original_rows
    src = ex.sources
    if src is None or src.data_bytes is None:
        return None
    key = (ex.run_id, ex.dataset.fingerprint, tuple(int(i) for i in indices))
    with _ROWS_LOCK:
        if key in _ROWS_CACHE:
            _ROWS_CACHE.move_to_end(key)
            return _ROWS_CACHE[key]
    rows = original_rows(ex.dataset, src.data_bytes, src.data_name, indices, options=src.read_options)
    with _ROWS_LOCK:
        _ROWS_CACHE[key] = rows
        while len(_ROWS_CACHE) > 16:
            _ROWS_CACHE.popitem(last=False)
    return rows


_AST_LOCK = threading.RLock()


def serialize_ast_parse() -> None:
    """Make `ast.parse` one call at a time in this process (idempotent), on CPython 3.11 before 3.11.8.

    There the AST constructor keeps its recursion counter in interpreter-wide state, so two threads
    parsing at once (Streamlit compiling a page script while a round's thread first imports torch._dynamo,
    whose `inspect.signature` calls parse) can raise "SystemError: AST constructor recursion depth
    mismatch" in either (python/cpython#106905, fixed in 3.11.8 and 3.12.1). Every caller here goes
    through the module attribute `ast.parse` (Streamlit, inspect, pytest), so one lock around it removes
    the race; the lock is re-entrant."""
    import ast

    if sys.version_info[:2] != (3, 11) or sys.version_info >= (3, 11, 8) or getattr(ast.parse, "_bait_locked", False):
        return
    original = ast.parse

    def parse(*args: Any, **kwargs: Any) -> Any:
        with _AST_LOCK:
            return original(*args, **kwargs)

    parse._bait_locked = True                     # type: ignore[attr-defined]
    parse.__doc__ = original.__doc__
    ast.parse = parse


def start_warm_compute() -> threading.Thread:
    """One tiny round in a background thread, so the first real round does not pay torch's one-off
    first-call costs (≈ 1.5 s on a CPU for the digits demo). Returns the started thread: a round
    started while it still runs waits for it rather than competing for the cores. Errors are
    swallowed (a real round will pay the cost or report the error)."""
    def run() -> None:
        try:
            seconds = _warm_compute()
            if os.environ.get("BAIT_EXPLORER_LOG_TIMES"):
                print(f"warm-up round: {seconds:.3f} s", flush=True)
        except Exception:                          # a real round will pay the cost or report the error
            pass
    thread = threading.Thread(target=run, name="warm-compute", daemon=True)
    thread.start()
    return thread


_DISK_LOCK = threading.Lock()


def layout_disk() -> Optional[LayoutCache]:
    """The disk cache of the inputs' UMAP maps, attached to the server-wide layout store on first use:
    $BAIT_EXPLORER_CACHE_DIR, else `layout-cache` beside the runs folder (bait_core.viz.layout_cache).
    None when UMAP is off."""
    if not umap_enabled():
        return None
    with _DISK_LOCK:
        if LAYOUTS.disk is None:
            LAYOUTS.disk = LayoutCache(cache_dir(runs_dir()))
        return LAYOUTS.disk


def start_warm_layouts() -> Optional[threading.Thread]:
    """Once per server, at its start (when UMAP is enabled): a background thread that makes the default
    demo's UMAP map ready (from the disk cache, else computed at once in the niced layout worker), then
    warms UMAP's compiled kernels, then the other built-in datasets' maps while nothing else is being
    laid out, each loaded and computed in the worker (never in the server's process: a page reads them
    from disk when it needs them) (service.warmup.warm_layouts); each computed map is written to disk.
    Returns the thread."""
    if layout_disk() is None:
        return None
    log = (lambda line: print(line, flush=True)) if os.environ.get("BAIT_EXPLORER_LOG_TIMES") else None
    default = DEFAULT_CONFIG.data.split(":", 1)[1]
    folder = str(layout_disk().folder)

    def elsewhere(name: str, seed: int) -> str:          # loaded and computed in the niced layout worker
        how, _, saved = run_in_worker(precompute_one, folder, name, seed)
        return "disk" if how == "cache" else how + ("" if saved else " (not saved)")

    def run() -> None:
        try:
            _warm_layouts(LAYOUTS, default=default, seed=DEFAULT_CONFIG.seed, log=log, elsewhere=elsewhere)
        except Exception:                          # a page computes its map itself, or says why not
            pass
    thread = threading.Thread(target=run, name="warm-layouts", daemon=True)
    thread.start()
    return thread


def warm_up_umap() -> bool:
    """At server start (when UMAP is enabled): the layouts' warm-up thread (start_warm_layouts: the
    default demo's map first, then UMAP's kernels, then the other built-in maps)."""
    start_warm_layouts()
    return True


def _keys(dataset: Dataset) -> tuple[tuple, tuple]:
    pkey, ukey, _ = input_names(dataset.fingerprint)
    return pkey, ukey


def layout(dataset: Dataset, kind: str) -> tuple[np.ndarray, str]:
    """(N, 2) map coordinates and the kind actually shown. 2-D toy sets use their own coordinates.
    Layouts are computed once per dataset (server-wide cache, fixed representation: the inputs).
    PCA is immediate; UMAP starts in the background, seeded from the PCA layout, and PCA is shown
    until it is ready."""
    if dataset.xy2d is not None:
        return np.asarray(dataset.xy2d, dtype=np.float32), "raw 2-D"
    pkey, ukey = _keys(dataset)
    X = np.asarray(dataset.X)
    pca = LAYOUTS.get(pkey)
    if pca is None:
        pca = LAYOUTS.pca_now(pkey, X)
    if kind == "UMAP" and umap_enabled():
        got = LAYOUTS.get(ukey)
        if got is not None:
            return got, "UMAP"
        layout_disk()
        LAYOUTS.umap_async(ukey, X, init=pca, disk_name=input_names(dataset.fingerprint)[2])
        got = LAYOUTS.get(ukey)                  # read from the disk cache just now
        if got is not None:
            return got, "UMAP"
    return pca, "PCA"


def model_layout(dataset: Dataset, embeddings: np.ndarray) -> tuple[np.ndarray, str]:
    """A UMAP of the current model's embeddings (latest round), seeded from the dataset's fixed
    layout so the two maps stay aligned; the fixed layout is shown until it is ready."""
    base, shown = layout(dataset, "UMAP")
    key = model_layout_key(dataset, embeddings)
    got = LAYOUTS.get(key)
    if got is not None:
        return got, "UMAP of model embeddings"
    LAYOUTS.umap_async(key, embeddings, init=base)
    return base, shown


def layout_pending(dataset: Dataset, key: Optional[tuple] = None) -> Optional[str]:
    """"running" while a UMAP layout (the dataset's fixed one unless `key`) is being computed,
    "error: ..." if it failed."""
    if key is None:
        if dataset.xy2d is not None or not umap_enabled():
            return None
        key = _keys(dataset)[1]
    status = LAYOUTS.status(key)
    return status if status == "running" or status.startswith("error") else None


def model_layout_key(dataset: Dataset, embeddings: np.ndarray) -> tuple:
    """The in-memory key of a UMAP of `embeddings` (N, d): named by a hash of the embeddings' values,
    so a layout is never shown for other embeddings (another run, a reset, a reused object id)."""
    E = np.ascontiguousarray(embeddings)
    digest = hashlib.blake2b(E.tobytes(), digest_size=16)
    digest.update(repr((E.shape, E.dtype.str)).encode())
    return layout_key(dataset.fingerprint, f"embeddings:{digest.hexdigest()}", "UMAP")


def selected_indices(state: Any) -> list[int]:
    """Dataset indices of the points box/lasso-selected on the map (customdata[0] of each point)."""
    try:
        points = state["selection"]["points"]
    except (KeyError, TypeError):
        return []
    out = []
    for p in points:
        cd = p.get("customdata")
        if isinstance(cd, (list, tuple)) and cd:
            cd = cd[0]
        if cd is not None:
            try:
                out.append(int(cd))
            except (TypeError, ValueError):
                pass
    return sorted(set(out))


def map_choice(state: Any) -> tuple[list[int], str]:
    """What one selection event on a pool map chose, as (dataset indices, how). `state`: the chart's
    selection state (st.plotly_chart with on_select; "selection" → "points", "box", "lasso"). how:
    "clicked" (points without a box or lasso: a click), "selected" (a box or lasso around points),
    "empty" (a box or lasso around no point), "cleared" (no selection at all: a double click, or a
    click that unselected the point). The indices are sorted and unique (selected_indices)."""
    chosen = selected_indices(state)
    try:
        sel = state["selection"]
        drawn = bool(sel.get("box") or sel.get("lasso"))
    except (KeyError, TypeError, AttributeError):
        drawn = False
    if chosen:
        return chosen, "selected" if drawn else "clicked"
    return [], "empty" if drawn else "cleared"


# --- label files -------------------------------------------------------------------------------------

def has_label_file(ex: Explorer) -> bool:
    """True when the run has labels to export: labels it obtained, or answers in the batch being labeled."""
    p = ex.labels.pending
    return bool(ex.labels.entries) or (p is not None and bool(p.answers))


def labels_csv_text(ex: Explorer) -> str:
    """The run's labels as CSV text ``id,label,round,time,oracle,index`` (learning.labels.labels_csv),
    the answers of the batch being labeled included."""
    from bait_core.learning.labels import labels_csv
    return labels_csv(ex.dataset, ex.labels)


def label_studio_text(ex: Explorer) -> str:
    """The run's labels as Label Studio's JSON task list (learning.labels.label_studio_json), with the
    latest round's predictions and confidence (N,) as the model's suggestions when there is a round.
    ValueError for a regression run (its labels export as CSV only)."""
    from bait_core.learning.labels import label_studio_json
    last = ex.rounds[-1] if ex.rounds else None
    n = ex.dataset.X.shape[0]
    preds = conf = None
    if last is not None and last.predictions is not None and len(last.predictions) == n:
        preds = np.asarray(last.predictions)
        conf = None if last.confidence is None or len(last.confidence) != n else np.asarray(last.confidence)
    return label_studio_json(ex.dataset, ex.labels, predictions=preds, confidence=conf)


def import_labels(ex: Explorer, blob: bytes) -> dict:
    """A labels CSV (columns ``id,label``; learning.labels.read_labels_csv) added to the run with
    ``Explorer.add_labels(pairs, strict=False)``: {"added", "in_batch", "already"} (ints). ValueError
    with a sentence for a read-only run, a file that names no pool point or no class, a label that
    contradicts one already given, or a file with no label at all; nothing is changed then."""
    from bait_core.learning.labels import read_labels_csv
    if ex.read_only or ex.model is None:
        raise ValueError("This run was opened from a record and is read-only; start a new run to add labels.")
    pairs = read_labels_csv(blob, ex.dataset)
    if not pairs:
        raise ValueError("The labels file has no labels: every 'label' cell is empty.")
    return ex.add_labels(pairs, strict=False)


def import_summary(counts: dict) -> str:
    """{"added", "in_batch", "already"} → a sentence like '12 labels added, 3 answered in the current
    batch, 2 already there.'"""
    def n(k: int, one: str, many: str) -> str:
        return f"{k:,} {one if k == 1 else many}"
    parts = [n(int(counts.get("added", 0)), "label added", "labels added")]
    if counts.get("in_batch"):
        parts.append(f"{int(counts['in_batch']):,} answered in the current batch")
    if counts.get("already"):
        parts.append(f"{int(counts['already']):,} already there")
    return ", ".join(parts) + "."
