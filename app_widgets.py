"""Widgets shared by the pages: they draw. The one-shot messages (flash, notices, start errors), a run's
downloads, and the progress panel of a background Job (the Rounds page's round job and the Compare
page's comparison job). Session state only through the names in app_keys.
"""

from __future__ import annotations

from typing import Any, Callable

import streamlit as st

import app_keys as K
import app_services as svc
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


def uploader_key(base: str) -> str:
    """The widget key of a file uploader that empties once its files are used (consume_upload): `base`
    itself, then base_1, base_2, ... A new key is a new, empty widget (a page cannot set an uploader's
    value), so a second file replaces the first instead of stacking beside it."""
    n = (st.session_state.get(K.UPLOAD_GEN) or {}).get(base, 0)
    return base if n == 0 else f"{base}_{n}"


def consume_upload(base: str) -> None:
    """The files of the uploader `uploader_key(base)` were used: from the next page run it is empty."""
    gens = dict(st.session_state.get(K.UPLOAD_GEN) or {})
    gens[base] = gens.get(base, 0) + 1
    st.session_state[K.UPLOAD_GEN] = gens


def show_error_once(key: str) -> None:
    """The error sentence a button callback left under session key `key` (K.ROUND_ERROR,
    K.COMPARE_ERROR, K.LEARN_ERROR), shown once and then cleared."""
    if st.session_state.get(key):
        st.error(safe_markdown(st.session_state[key]))
        st.session_state[key] = None


def export_buttons(ex: Explorer, key_prefix: str) -> None:
    """The downloads of a run: record (JSON), per-round metrics and picks (CSV), the labels the run
    obtained (CSV; for classification also Label Studio's JSON with the latest round's predictions)
    when it has any, and for a saved live run the bundle (ZIP: record + set-up + data + model files)
    that opens on its own."""
    record = ex.record
    st.download_button("Download run record (JSON)", record.to_json(), file_name=download_name(ex, "record", "json"),
                       mime="application/json", key=f"{key_prefix}_json")
    st.download_button("Download metrics (CSV)", record.metrics_csv(), file_name=download_name(ex, "metrics", "csv"),
                       mime="text/csv", key=f"{key_prefix}_metrics")
    st.download_button("Download picks (CSV)", record.picks_csv(), file_name=download_name(ex, "picks", "csv"),
                       mime="text/csv", key=f"{key_prefix}_picks")
    if svc.has_label_file(ex):
        st.download_button("Download labels (CSV)", svc.labels_csv_text(ex), file_name=download_name(ex, "labels", "csv"),
                           mime="text/csv", key=f"{key_prefix}_labels_csv",
                           help="One line per label: id (the point's row or file in the data file), label, round, "
                                "time, who gave it (person or simulated) and the pool index. “Import labels” "
                                "reads it back.")
        if ex.dataset.task == "classification":
            st.download_button("Download labels for Label Studio (JSON)", svc.label_studio_text(ex),
                               file_name=download_name(ex, "label-studio", "json"), mime="application/json",
                               key=f"{key_prefix}_labels_ls",
                               help="Label Studio's task list: one task per labeled point with its label as the "
                                    "annotation and the latest model's class and confidence as the prediction "
                                    "(a Choices control named “label”).")
    if ex.saved and ex.store is not None and not ex.read_only:
        store, run_id = ex.store, ex.run_id
        st.download_button("Download run bundle (ZIP: record + data)", lambda: store.bundle(run_id),
                           file_name=download_name(ex, "bundle", "zip"), mime="application/zip",
                           key=f"{key_prefix}_bundle",
                           help="The record with its data (and model) files: it opens on its own on the Records page "
                                "of any BAIT Explorer, and the run can be continued there.")


def labels_import(ex: Explorer, key_prefix: str) -> None:
    """"Import labels": a labels CSV (id,label) uploaded and, on "Add these labels", added to the run
    (app_services.import_labels → Explorer.add_labels(strict=False)); ids of the batch being labeled
    become its answers. Success: a sentence with the counts (kept under the session key
    f"{key_prefix}_labels_import_msg" over one rerun, so the page redraws with the new labels); a
    refused file: st.error with the loader's sentence, nothing changed. Disabled for a read-only run
    and while a round runs. Widget keys: f"{key_prefix}_labels_file", f"{key_prefix}_labels_add"."""
    msg_key = f"{key_prefix}_labels_import_msg"
    msg = st.session_state.get(msg_key)
    if msg:
        st.success(safe_markdown(msg))
        st.session_state[msg_key] = None
    read_only = ex.read_only or ex.model is None
    blocked = read_only or ex.busy
    ds = ex.dataset
    if getattr(ds, "point_ids", None) is None:
        where = "the point's pool index, counted from 0"
    elif getattr(ds, "is_image", False):
        where = "the file path in the ZIP (or the bare file name when it is unique)"
    else:
        where = "the data row of the file, counted from 0 with the header line excluded"
    up = st.file_uploader("Import labels (CSV: id,label)", type=["csv", "txt"], key=f"{key_prefix}_labels_file",
                          disabled=blocked)
    st.caption(f"The id column names each point as in the exported labels: {where}. The label column holds "
               + ("a class name." if ex.dataset.task == "classification" else "a number."))
    if read_only:
        st.caption("This run was opened from a record and is read-only: labels can be added to a live run only.")
    elif ex.busy:
        st.caption("A round is running: add labels when it has finished.")
    if st.button("Add these labels", key=f"{key_prefix}_labels_add", disabled=blocked or up is None):
        try:
            if up is None:
                raise ValueError("Choose a labels file (CSV with the columns id and label) first.")
            counts = svc.import_labels(ex, up.getvalue())
        except ValueError as e:
            st.error(safe_markdown(e))
        else:
            st.session_state[msg_key] = svc.import_summary(counts)
            st.rerun()


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
