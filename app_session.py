"""The session: the run the pages work on, its round job and comparison job, the URL's ?run=ID and the
server-wide warm-up caches. These functions read and write st.session_state (through the names in
app_keys) and st.query_params, but draw nothing; the work itself is in app_services.
"""

from __future__ import annotations

import threading
from typing import Optional

import streamlit as st

import app_keys as K
import app_services as svc
from bait_core.service.explorer import Explorer
from bait_core.service.jobs import Job
from bait_core.learning.compare import ComparePlan

# "Run 1 round" waits this long for the round inside the click's own script run: a short round is
# then drawn by that run at once, without the progress panel's polling and a second page run.
# Longer rounds go on in the background and the progress panel takes over.
ROUND_WAIT_S = 2.0
WARM_WAIT_S = 10.0               # the longest a round waits for the server's warm-up round


def _explorer_from_url() -> Optional[Explorer]:
    run_id = st.query_params.get(K.RUN_PARAM)
    if not run_id:
        return None
    try:
        ex = svc.open_saved_run(run_id)
    except ValueError as e:
        st.session_state[K.RUN_NOTICE] = f"Could not reopen run {str(run_id)[:80]!r}: {e} The demo run is shown instead."
        return None
    if ex.job is not None:
        st.session_state[K.JOB] = ex.job               # re-attach to a round job still running (or its end)
    return ex


def init_state() -> None:
    """Set every key's default once per session: the run named in the URL (?run=ID) if it can be
    reopened, else the default run (digits + mlp + bait)."""
    ss = st.session_state
    if K.EXPLORER not in ss:
        ss[K.EXPLORER] = _explorer_from_url() or svc.build_explorer(svc.DEFAULT_CONFIG)
    for key, value in ((K.JOB, None), (K.JOB_ACK, None), (K.SYNC_JOBS, False), (K.ROUND_FOLLOW, -1),
                       (K.COLOR_BY, "true class"), (K.LAYOUT_KIND, "UMAP"),
                       (K.N_TO_RUN, 3), (K.UPLOAD_DATASET, None), (K.FLASH, None),
                       (K.ROUND_ERROR, None), (K.COMPARE_JOB, None), (K.COMPARISON, None), (K.COMPARE_ACK, None),
                       (K.UPLOAD_GEN, None), (K.COMPARE_ERROR, None), (K.LABEL_EDIT, None),
                       (K.LABEL_ERROR, None), (K.PRESENT, url_says_present()), (K.INSPECTED, None),
                       (K.MAP_POINTS, []), (K.MAP_EMPTY, False), (K.PICK_NUMBERS, True)):
        ss.setdefault(key, value)


def sync_url() -> None:
    """Keep ?run=ID in the page URL for a live run that is saved, so a reload reopens it, and
    ?present=1 while presentation mode is on (absent while it is off), so a reload keeps the mode."""
    ex = explorer()
    want = ex.run_id if (ex.saved and not ex.read_only) else None
    have = st.query_params.get(K.RUN_PARAM)
    if want and have != want:
        st.query_params[K.RUN_PARAM] = want
    elif not want and have is not None and not st.session_state.get(K.RUN_NOTICE):
        del st.query_params[K.RUN_PARAM]
    if presenting():
        if st.query_params.get(K.PRESENT_PARAM) != "1":
            st.query_params[K.PRESENT_PARAM] = "1"
    elif K.PRESENT_PARAM in st.query_params:
        del st.query_params[K.PRESENT_PARAM]


# --- presentation mode (the Rounds page's compact view is app_present's) --------------------------

PRESENT_WORDS = ("1", "true", "yes", "on")       # ?present=… values that switch presentation mode on


def url_says_present() -> bool:
    """Whether the page URL asks for presentation mode: ?present=1 (or true / yes / on, any case)."""
    return str(st.query_params.get(K.PRESENT_PARAM, "")).strip().lower() in PRESENT_WORDS


def presenting() -> bool:
    """Whether presentation mode is on: the sidebar's "Presentation mode" toggle (K.PRESENT), which
    init_state starts from the URL's ?present=1."""
    return bool(st.session_state.get(K.PRESENT))


def explorer() -> Explorer:
    """The session's run (set by init_state)."""
    return st.session_state[K.EXPLORER]


def job_running() -> bool:
    """Whether a round job of the session's run is running; a job the library runs for this run that
    the session lost track of (a second click interrupted the script run that started it) is
    re-attached, so the page follows it to its end."""
    job = st.session_state.get(K.JOB)
    ex = st.session_state.get(K.EXPLORER)
    if (job is None or not job.running) and ex is not None and ex.job is not None and ex.job.running:
        st.session_state[K.JOB] = job = ex.job
    return job is not None and job.running


def first_map_kind() -> str:
    """The layout of the map before round 0: UMAP (from the layout cache, or PCA until it is computed)
    unless UMAP is off or the map's layout choice is PCA — the same map the rounds will show, so no
    point moves at the first click. Shared by the Rounds page and its presentation view."""
    return "UMAP" if svc.umap_enabled() and st.session_state.get(K.LAYOUT_KIND) != "PCA" else "PCA"


def set_explorer(ex: Explorer, save: bool = False) -> None:
    """Replace the session's run (a running job of the old run is cancelled; its finished rounds are
    saved already; the views follow the new run). `save`: write the new run to the runs folder now
    (ValueError with a sentence when that fails; the session keeps its old run then)."""
    if save:
        ex.save()
    old = st.session_state.get(K.EXPLORER)
    job = st.session_state.get(K.JOB)
    if job is not None and job.running and old is not ex:
        job.cancel()
    st.session_state[K.EXPLORER] = ex
    st.session_state[K.JOB] = ex.job if ex.job is not None and ex.job.running else None
    st.session_state[K.ROUND_FOLLOW] = -1
    st.session_state.pop(K.ROUND_VIEW, None)
    for key in (K.INSPECT_INDEX, K.INSPECTED, K.INSPECT_PICK):     # a point of the old run is not this run's
        st.session_state.pop(key, None)
    st.session_state[K.MAP_POINTS] = []
    st.session_state[K.MAP_EMPTY] = False
    st.session_state[K.LABEL_EDIT] = None


# --- the round job (the worker lives in the library: Explorer.start_rounds) ----------------------

def start_rounds(n_rounds: int, wait_s: float = 0.0, by_person: Optional[bool] = None) -> Job:
    """Start a Job running `n_rounds` rounds of the session's explorer; wait up to `wait_s` seconds
    for it (until it ends in test mode). A second start while a round runs is refused by the
    library (ValueError), whichever window or click asks. `by_person`: True makes the round's batch
    wait for a person's labels (the classroom mode of a simulated run); None: as the run's oracle says."""
    ex = explorer()
    try:
        job = ex.start_rounds(n_rounds, wait_for=warm_compute(), wait_for_s=WARM_WAIT_S, by_person=by_person)
    except ValueError:
        job_running()                                  # a round already runs: follow it (re-attach)
        raise
    return _follow(job, wait_s)


def train_and_pick_next(wait_s: float = 0.0, by_person: Optional[bool] = None) -> Job:
    """The person's batch is done (or partly done): its answers become labels, skipped and unanswered
    picks go back to the pool, and the next round starts (a Job, followed like start_rounds's).
    `by_person`: True makes the next batch wait for a person too (a simulated run's classroom switch
    still on); None: as the run's oracle says. ValueError with a sentence (nothing waiting, a round
    running)."""
    ex = explorer()
    try:
        job = ex.train_and_pick_next(wait_for=warm_compute(), wait_for_s=WARM_WAIT_S,
                                     by_person=True if by_person and ex.config.oracle != "person" else None)
    except ValueError:
        job_running()
        raise
    return _follow(job, wait_s)


def _follow(job: Job, wait_s: float) -> Job:
    """The session follows `job`: waited for until it ends in test mode (SYNC_JOBS), else up to `wait_s`."""
    st.session_state[K.JOB] = job
    if st.session_state.get(K.SYNC_JOBS):
        job.join()
    elif wait_s > 0:
        job.join(wait_s)
    return job


# --- the comparison job (its worker is app_services.compare_job's: no streamlit) -----------------

def compare_plan(strategies: list[str], seeds: list[int], rounds: int, batch_size: int, initial: int) -> ComparePlan:
    """A comparison on the session's current dataset and model with these settings (validated)."""
    return svc.compare_plan(explorer(), strategies, seeds, rounds, batch_size, initial)


def start_compare(plan: ComparePlan, setup=None) -> Job:
    """Start the comparison job on `setup` (app_services.compare_setup's; None: this process, one run
    at a time); waits in test mode. Earlier comparison results stay until it ends."""
    job = st.session_state.get(K.COMPARE_JOB)
    if job is not None and job.running:
        raise ValueError("A comparison is already running; stop it first.")
    job = svc.compare_job(explorer(), plan, setup)
    st.session_state[K.COMPARE_JOB] = job
    job.start()
    if st.session_state.get(K.SYNC_JOBS):
        job.join()
    return job


def comparison_dataset(comparison, seed: int):
    """The dataset of a comparison's runs with `seed` (built-in: reloaded; a file: the session's, if
    it is the same data)."""
    return svc.comparison_dataset(comparison, seed, current=explorer())


# --- server-wide warm-up (once per server, whichever session asks first) -------------------------

@st.cache_resource(show_spinner=False)
def warm_compute() -> threading.Thread:
    """Once per server: app_services.start_warm_compute's thread (one tiny round in the background).
    A round started while it still runs waits for it rather than competing for the cores."""
    return svc.start_warm_compute()


@st.cache_resource(show_spinner=False)
def warm_umap() -> bool:
    """Once per server, on its first script run: the default demo's UMAP map from the disk cache or
    computed at once in the background, then UMAP's kernels and the other built-in maps
    (app_services.start_warm_layouts)."""
    return svc.warm_up_umap()


def round_index(n_rounds: int) -> int:
    """The round the Rounds page shows (clamped)."""
    v = st.session_state.get(K.ROUND_VIEW, n_rounds - 1)
    return int(min(max(v if v is not None else n_rounds - 1, 0), n_rounds - 1))
