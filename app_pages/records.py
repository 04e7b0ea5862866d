"""Records: resume a recent run (saved after every round), open a run record read-only, export."""

import pandas as pd
import streamlit as st

import app_keys as K
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.viz.text import safe_markdown as md

st.title("Records")
st.caption("Open a run record downloaded from the Rounds page or written by the command line (read-only: every view "
           "works, nothing runs), drop a record together with the data file its run used, or open a run bundle "
           "(ZIP), which becomes a live run you can continue. A file that cannot be read keeps the current run.")
W.show_flash()

ups = st.file_uploader("Run record (JSON), record + data file, or run bundle (ZIP)", accept_multiple_files=True,
                       key=W.uploader_key("record_file"),
                       help="A record whose run read a data file needs that file too: add it beside the record. "
                            "Once opened, the files leave this box, so the next file you open replaces the run.")
if ups:
    files = [(u.name, u.getvalue()) for u in ups]
    try:
        ex, how = svc.open_record_files(files, current=S.explorer())
    except ValueError as e:
        st.error(md(e))                     # the files stay: add the missing data file, or remove a wrong one
    else:
        W.consume_upload("record_file")     # the uploader empties: the next file replaces, never stacks
        S.set_explorer(ex)
        st.session_state[K.FLASH] = (f"Opened {', '.join(n for n, _ in files)} ({how}): {ex.dataset.name} + "
                                     f"{views.strategy_text(ex.config, ex.dataset)}, {len(ex.rounds)} round{'' if len(ex.rounds) == 1 else 's'}. "
                                     "See the Rounds page.")
        st.rerun()

st.subheader("Recent runs")
store = svc.run_store()
recent = store.list()
if not recent:
    st.caption(f"No saved runs yet in '{store.root}'. Every live run is saved there after each round (and when "
               "a setup is applied), so a reload, a lost connection or a server restart loses nothing.")
else:
    live = svc.live_status
    st.dataframe(pd.DataFrame([{"run": r.run_id, "dataset": r.dataset, "model": r.model, "strategy": r.strategy,
                                "rounds": r.rounds, "labeled": r.n_labeled, "status": live(r),
                                "updated (UTC)": r.updated.replace("T", " ")[:19]} for r in recent]),
                 hide_index=True, width="stretch")
    pick = st.selectbox("Run to resume", [r.run_id for r in recent], key="resume_pick")
    if st.button("Resume this run", key="resume_run", type="primary"):
        try:
            S.set_explorer(svc.open_saved_run(pick))
        except ValueError as e:
            st.error(md(str(e)))
        else:
            st.session_state[K.FLASH] = f"Resumed run {pick}: its rounds so far are back, and new rounds continue it."
            st.switch_page("app_pages/rounds.py")
    st.caption(f"Saved in '{store.root}' (set BAIT_EXPLORER_RUNS_DIR or start the app with `-- --runs-dir DIR` to "
               "choose another folder). Resuming continues the run where it stopped; a round that was running "
               "when the server stopped is run again.")

ex = S.explorer()
rec = ex.record
st.subheader("Current run")
st.markdown(f"{md(rec.dataset.get('name'))} · {md(rec.config.model)} · {md(views.strategy_text(rec.config))} · {len(rec.rounds)} rounds · "
            + ("read-only record" if ex.read_only else "live run") + f" · created {md(rec.created)}")
if rec.rounds:
    metric = rec.rounds[0].metric_name
    st.metric(f"Learning-curve AUC (mean {md(views.metric_words(metric))} over the label budget)", f"{rec.auc():.3f}")
    st.dataframe(pd.DataFrame([{"round": r.round, "labels": r.n_labeled,
                                f"test {views.metric_label(r.metric_name)}": round(r.metric, 4),
                                "train s": round(r.times.get("train", 0.0), 3),
                                "outputs s": round(r.times.get("outputs", 0.0), 3),
                                "select s": round(r.times.get("select", 0.0), 3), "device": r.device}
                               for r in rec.rounds]), hide_index=True, width="stretch")
    st.caption(f"Per round: labels trained on, the {md(views.metric_words(metric))}, and the seconds spent training, "
               "computing outputs and selecting, on the device shown.")
if ex.labels.entries or ex.labels.pending is not None:
    from bait_core.learning.labels import labels_rows
    rows = labels_rows(ex.dataset, ex.labels)
    who = pd.Series([r["oracle"] for r in rows]).value_counts().to_dict() if rows else {}
    st.markdown("**Labels obtained**: " + (", ".join(f"{n} by {'a person' if k == 'person' else 'the simulated oracle'}"
                                                  for k, n in who.items()) or "none yet"))
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=240)
    st.caption("Who labeled each point (a person, or the simulated oracle revealing the file's label), in which "
               "round's batch and when (UTC); the id is the point's row in the data file (0-based, header "
               "excluded) or its path in the image ZIP.")
W.export_buttons(ex, "rec_dl")
st.caption("The record holds the config, every round's metric, predictions and picks; the CSVs are for spreadsheets.")
