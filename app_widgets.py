"""Widgets shared by the pages: they draw. The one-shot messages (flash, notices, start errors), a run's
downloads, and the progress panel of a background Job (the Rounds page's round job and the Compare
page's comparison job). Session state only through the names in app_keys.
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

import app_keys as K
from app_services import download_name
from bait_core.service.explorer import Explorer
from bait_core.viz.text import safe_markdown


def show_flash() -> None:
    """The success sentence (K.FLASH) and the run notice (K.RUN_NOTICE) left by the last page run, each
    shown once and then cleared."""
    msg = st.session_state.get(K.FLASH)
    if msg:
        st.success(safe_markdown(msg))           # messages quote file names and titles
        st.session_state[K.FLASH] = None
    notice = st.session_state.get(K.RUN_NOTICE)
    if notice:
        st.warning(safe_markdown(notice))
        st.session_state[K.RUN_NOTICE] = None


def show_error_once(key: str) -> None:
    """The error sentence a button callback left under session key `key` (K.ROUND_ERROR,
    K.COMPARE_ERROR, K.LEARN_ERROR), shown once and then cleared."""
    if st.session_state.get(key):
        st.error(safe_markdown(st.session_state[key]))
        st.session_state[key] = None


def export_buttons(ex: Explorer, key_prefix: str) -> None:
    """The downloads of a run: record (JSON), per-round metrics and picks (CSV), and for a saved
    live run the bundle (ZIP: record + set-up + data + model files) that opens on its own."""
    record = ex.record
    st.download_button("Download run record (JSON)", record.to_json(), file_name=download_name(ex, "record", "json"),
                       mime="application/json", key=f"{key_prefix}_json")
    st.download_button("Download metrics (CSV)", record.metrics_csv(), file_name=download_name(ex, "metrics", "csv"),
                       mime="text/csv", key=f"{key_prefix}_metrics")
    st.download_button("Download picks (CSV)", record.picks_csv(), file_name=download_name(ex, "picks", "csv"),
                       mime="text/csv", key=f"{key_prefix}_picks")
    if ex.saved and ex.store is not None and not ex.read_only:
        store, run_id = ex.store, ex.run_id
        st.download_button("Download run bundle (ZIP: record + data)", lambda: store.bundle(run_id),
                           file_name=download_name(ex, "bundle", "zip"), mime="application/zip",
                           key=f"{key_prefix}_bundle",
                           help="The record with its data (and model) files: it opens on its own on the Records page "
                                "of any BAIT Explorer, and the run can be continued there.")


@st.fragment(run_every=1.0)
def job_progress(job_key: str, ack_key: str, done_text: Callable[[Any], str],
                 details: Callable[[Any], None]) -> None:
    """The progress panel of the background Job under session key `job_key`, redrawn every second on
    its own: a bar "<job message> · <done_text(snapshot)> · <seconds> s", then `details(snapshot)`
    (a chart, a table). When the job has ended and no full page run has drawn its end yet (session
    key `ack_key` is not id(job): app_services.job_ended sets it), the whole page reruns once to
    draw the results. `snapshot`: the job's JobSnapshot."""
    j = st.session_state.get(job_key)
    if j is None:
        return
    snap = j.snapshot()
    if snap.status != "running":
        if st.session_state.get(ack_key) != id(j):   # finished while only this fragment was redrawing
            st.rerun()
        return
    frac = min(1.0, snap.done / snap.total) if snap.total else 0.0
    st.progress(frac, text=f"{snap.message or 'Starting…'} · {done_text(snap)} · {snap.elapsed:.0f} s")
    details(snap)
