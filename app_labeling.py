"""The labeling panel of the Rounds page: a person labels the batch the latest round picked.

A thin view over the library (bait_core.service.explorer.Explorer): every button calls one library
method in its on_click callback — `label`, `skip`, `undo`, and `train_and_pick_next` through
app_session — which saves the answer to the run's labels.json at once, so a reload, a closed laptop or a
server restart loses nothing. Errors the person can cause are shown as a sentence (K.LABEL_ERROR).

Shapes: N pool points, K classes, B picks in the batch.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import streamlit as st

import app_keys as K
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.learning.labels import label_text, point_ids
from bait_core.viz import plots
from bait_core.viz.text import safe_markdown as md

GRID_COLUMNS = 5          # batch grid items per row
CURRENT_WIDTH = 240       # px: the point being labeled (an image)
THUMB_WIDTH = 96          # px: a grid thumbnail
MAX_CLASS_BUTTONS = 20    # more classes: a selectbox and one "Label" button
SHORTCUT_CLASSES = 9      # classes 1..9 get the keys 1..9
FEATURES_IN_GRID = 4      # a table point's first features shown on its grid item


def point_name(ex, i: int) -> str:
    """How a pool point is named to the person: its id in the data file (a ZIP path, a data row) when
    the loader gave one, with its pool index; else "point i"."""
    if getattr(ex.dataset, "point_ids", None) is None:
        return f"point {i}"
    pid = point_ids(ex.dataset)[i]
    return (f"{pid} (point {i})" if getattr(ex.dataset, "is_image", False) else f"data row {pid} (point {i})")


def class_shortcuts(classes: list[str]) -> list[Optional[str]]:
    """(K,) the keyboard key of each class button: the class's own name when every class is named by one
    distinct digit (digits "0".."9": key 3 labels "3"), else 1–9 for the first nine classes; None after."""
    if all(len(c) == 1 and c.isdigit() for c in classes) and len(set(classes)) == len(classes):
        return list(classes)
    return [str(k + 1) if k < SHORTCUT_CLASSES else None for k in range(len(classes))]


def current_point(ex: Any) -> Optional[int]:
    """The pick shown large and labeled by the buttons: the one the person pressed "edit" on (while it
    is in the batch), else the first pick without an answer or skip; None when none is waiting or all
    are done."""
    p = ex.labels.pending
    if p is None:
        return None
    edit = st.session_state.get(K.LABEL_EDIT)
    if edit is not None and edit in p.indices:
        return int(edit)
    return p.current()


def status_text(ex: Any, index: int) -> str:
    """A pick's status in the batch being labeled: "label: NAME", "skipped", "not sure" or "open"."""
    p = ex.labels.pending
    if p is None or index not in p.indices:
        return "not in the batch"
    if index in p.answers:
        return f"label: {label_text(ex.dataset, p.answers[index])}"
    return p.skipped.get(index, "open")


def reveal_text(ex: Any, index: int) -> Optional[str]:
    """Classroom mode, after the person answered `index`: "file label: X — you agree" (or disagree);
    None otherwise (not revealed, not answered, or the file has no label there)."""
    p, ds = ex.labels.pending, ex.dataset
    if p is None or not p.reveal or index not in p.answers or not bool(ds.has_label[index]):
        return None
    file_label = ds.y[index].item()
    same = (int(file_label) == int(p.answers[index]) if ds.task == "classification"
            else np.isclose(float(file_label), float(p.answers[index])))
    return f"file label: {label_text(ds, file_label)} — you {'agree' if same else 'disagree'}"


def shown_labels(ex: Any) -> np.ndarray:
    """(N,) the labels the Rounds page shows as true: the data file's, overlaid with every label the run
    obtained and the answers of the batch being labeled; that batch's other points show none (−1 for a
    class, NaN for a value), so a classroom batch's file labels stay hidden until the person answers."""
    _, y = ex.known_labels()
    p = ex.labels.pending
    if p is not None:
        none = -1 if ex.dataset.task == "classification" else np.nan
        for i in p.indices:
            y[i] = p.answers.get(i, none)
    return y


# --- callbacks (run before the script: each is one library call; errors become a sentence) -------

def _answered(index: int) -> None:
    """After an answer or skip: an edited point stops being current; the value input empties."""
    if st.session_state.get(K.LABEL_EDIT) == index:
        st.session_state[K.LABEL_EDIT] = None
    st.session_state[K.LABEL_VALUE] = None


def _act(method: str, index: int, arg: Any) -> None:
    """One library call on the session's run (`label` or `skip`); its sentence shown when refused."""
    try:
        getattr(S.explorer(), method)(index, arg)
    except ValueError as e:
        st.session_state[K.LABEL_ERROR] = str(e)
        return
    _answered(index)


def _label(index: int, value: Any) -> None:
    _act("label", index, value)


def _label_from(index: int, key: str) -> None:
    """The "Label" / "Save value" button: the value of the widget under session key `key`."""
    value = st.session_state.get(key)
    if value is None:
        st.session_state[K.LABEL_ERROR] = "Enter a value first." if key == K.LABEL_VALUE else "Choose a class first."
        return
    _label(index, value)


def _skip(index: int, why: str) -> None:
    _act("skip", index, why)


def _undo() -> None:
    ex = S.explorer()
    try:
        i = ex.undo()
    except ValueError as e:
        st.session_state[K.LABEL_ERROR] = str(e)
        return
    st.session_state[K.LABEL_EDIT] = i          # the point taken back is the one to label again


def _edit(index: int) -> None:
    st.session_state[K.LABEL_EDIT] = index


def _train(by_person: bool) -> None:
    ex = S.explorer()
    p = ex.labels.pending
    n_lab, n_back = (p.n_answered, len(p.indices) - p.n_answered) if p is not None else (0, 0)
    try:
        S.train_and_pick_next(wait_s=S.ROUND_WAIT_S, by_person=by_person or None)
    except ValueError as e:
        st.session_state[K.LABEL_ERROR] = str(e)
        return
    st.session_state[K.LABEL_EDIT] = None
    st.session_state[K.FLASH] = (f"{n_lab} label(s) saved" + (f", {n_back} point(s) back in the pool" if n_back else "")
                                 + "; training the model and picking the next batch.")


# --- the panel ------------------------------------------------------------------------------------

def _file_rows(ex: Any):
    """The batch's points as their table file has them (app_services.batch_rows), or None."""
    p = ex.labels.pending
    return None if p is None or ex.dataset.is_image else svc.batch_rows(ex, p.indices)


def _point_view(ex: Any, i: int, width: int) -> None:
    """Point `i` large: the image, or a one-row table of its values as the file has them (else the model's
    features, said so)."""
    ds = ex.dataset
    if ds.is_image and ds.images is not None:
        st.image(np.asarray(ds.images[i]), width=width, caption=point_name(ex, i))
        return
    rows = _file_rows(ex)
    if rows is not None:
        k = ex.labels.pending.indices.index(i)
        st.dataframe(rows.iloc[[k]], hide_index=True, width="stretch")
        st.caption("Its values as the data file has them.")
    else:
        st.dataframe(views.feature_table(ds, [i], {"index": [i]}), hide_index=True, width="stretch")
        st.caption("The features as the model sees them (numbers standardised with the pool's mean and spread, "
                   "categories one-hot): the data file is not stored with this run.")


def _prediction_line(ex: Any, i: int) -> str:
    """The latest round's prediction (and confidence) for point `i`, as a sentence."""
    if not ex.rounds:
        return ""
    rr = ex.rounds[-1]
    if rr.n_labeled == 0:
        return "No labels yet, so no model to ask: this point was picked from the input features alone."
    pred = views.label_texts(ex.dataset, np.asarray(rr.predictions)[[i]])[0]
    conf = "" if rr.confidence is None else f" (confidence {plots.short_number(float(rr.confidence[i]))})"
    return f"The model (round {rr.round}) predicts **{md(pred)}**{conf}."


def _answer_buttons(ex: Any, i: int) -> None:
    """One button per class (keys 1–9 for the first nine), a selectbox beyond 20 classes, or a value
    input for regression; then Skip (S), Not sure (N) and Undo (U)."""
    ds, p = ex.dataset, ex.labels.pending
    if ds.task == "classification":
        classes = list(ds.classes)
        if len(classes) > MAX_CLASS_BUTTONS:
            a, b = st.columns([3, 1], vertical_alignment="bottom")
            a.selectbox("Class", list(range(len(classes))), format_func=lambda k: classes[k], key=K.LABEL_PICK,
                        index=None, placeholder="Type to find the class")
            b.button("Label", type="primary", key="lab_pick_btn", on_click=_label_from, args=(i, K.LABEL_PICK))
        else:
            keys = class_shortcuts(classes)
            per_row = min(len(classes), 10)
            for start in range(0, len(classes), per_row):
                cols = st.columns(per_row)
                for k in range(start, min(start + per_row, len(classes))):
                    cols[k - start].button(md(classes[k]), key=f"lab_class_{k}", width="stretch", shortcut=keys[k],
                                           help=f"Label point {i} as {md(classes[k])}"
                                                + (f" (key {keys[k]})" if keys[k] else ""),
                                           on_click=_label, args=(i, k))
    else:
        a, b = st.columns([3, 1], vertical_alignment="bottom")
        a.number_input("Value", value=None, key=K.LABEL_VALUE, format="%.6g", placeholder="the point's target value")
        b.button("Save value", type="primary", key="lab_value_btn", shortcut="Enter", on_click=_label_from,
                 args=(i, K.LABEL_VALUE))
    c1, c2, c3, _ = st.columns([1, 1.4, 1, 1.6])
    c1.button("Skip", key="lab_skip", shortcut="S", on_click=_skip, args=(i, "skip"),
              help="Leave this point for now: it goes back to the pool when the batch is trained on.")
    c2.button("Not sure", key="lab_unsure", shortcut="N", on_click=_skip, args=(i, "not sure"),
              help="You cannot tell: the point goes back to the pool, marked “not sure”.")
    c3.button("Undo", key="lab_undo", shortcut="U", on_click=_undo, disabled=not p.history,
              help="Take back the latest answer or skip; that point becomes current again.")


def _grid(ex: Any, current: Optional[int]) -> None:
    """The whole batch in pick order, GRID_COLUMNS per row: thumbnail or first features, status, edit."""
    ds, p = ex.dataset, ex.labels.pending
    names = list(ds.feature_names or [f"x{j}" for j in range(ds.n_features)])
    file_rows = _file_rows(ex)
    for start in range(0, len(p.indices), GRID_COLUMNS):
        cols = st.columns(GRID_COLUMNS)
        for k, i in enumerate(p.indices[start:start + GRID_COLUMNS], start=start):
            with cols[k - start].container(border=True):
                mark = " ▶" if i == current else ""
                st.markdown(f"**#{k + 1}**{mark} · {md(point_name(ex, i))}")
                if ds.is_image and ds.images is not None:
                    st.image(np.asarray(ds.images[i]), width=THUMB_WIDTH)
                elif file_rows is not None:
                    cells = file_rows.iloc[k]
                    st.caption(", ".join(f"{md(str(c))} = {md(str(v))}" for c, v in
                                         list(cells.items())[:FEATURES_IN_GRID])
                               + (", …" if len(cells) > FEATURES_IN_GRID else ""))
                else:
                    row = np.asarray(ds.X[i]).reshape(-1)
                    st.caption(", ".join(f"{md(names[j])} = {plots.short_number(float(row[j]))}"
                                         for j in range(min(FEATURES_IN_GRID, row.size)))
                               + (", …" if row.size > FEATURES_IN_GRID else ""))
                st.markdown(md(status_text(ex, i)))
                reveal = reveal_text(ex, i)
                if reveal:
                    st.caption(md(reveal))
                st.button("edit", key=f"lab_edit_{i}", type="tertiary", on_click=_edit, args=(i,),
                          disabled=i == current, help="Make this point the current one (to change its answer).")
    if not ds.is_image or ds.images is None:
        front = {"order": list(range(1, len(p.indices) + 1)), "index": p.indices,
                 "status": [status_text(ex, i) for i in p.indices]}
        if file_rows is not None:
            import pandas as pd
            table = pd.concat([pd.DataFrame({**front, "id": [point_ids(ds)[i] for i in p.indices]}),
                               file_rows.rename(columns=lambda c: f"{c} " if c in (*front, "id") else c)], axis=1)
        else:
            table = views.feature_table(ds, p.indices, front)
        st.dataframe(table, hide_index=True, width="stretch")


def labeling_panel(ex: Any, classroom: bool = False) -> Optional[int]:
    """Draw the panel for the batch `ex` waits for labels on (nothing when none waits or the run is
    read-only). `classroom`: the Rounds page's classroom switch is on (the next batch, after "Train and
    pick next", is labeled by the person too). Returns the current point's pool index (for the map to
    ring it), or None."""
    p = ex.labels.pending
    if p is None or ex.read_only:
        return None
    ds = ex.dataset
    B = len(p.indices)
    with st.container(border=True):
        st.subheader(f"Label the batch of round {p.round}")
        W.show_error_once(K.LABEL_ERROR)
        st.markdown(f"**{p.n_answered} of {B} labeled" + (f" · {len(p.skipped)} skipped" if p.skipped else "") + "**")
        st.progress(p.n_done / B if B else 1.0)
        if p.reveal:
            st.caption("Classroom: this run is simulated, and you label this round yourself. After each answer the "
                       "data file's label is revealed; the model trains on your labels.")
            agreement = ex.agreement()
            if agreement and agreement.get("compared"):
                st.markdown(f"You agreed with the file on **{agreement['agree']} of {agreement['compared']}**.")
            last = p.history[-1] if p.history else None
            if last is not None and reveal_text(ex, last):
                st.info(f"Point {last}: you said {md(label_text(ds, p.answers[last]))}; {md(reveal_text(ex, last))}.")
        i = current_point(ex)
        if i is None:
            st.success("Every point of the batch has an answer or was skipped. Press “Train and pick next”.")
        else:
            k = p.indices.index(i)
            left, right = st.columns([1, 2])
            with left:
                _point_view(ex, i, CURRENT_WIDTH)
            with right:
                st.markdown(f"Pick **#{k + 1}** of {B} · {md(point_name(ex, i))} · {md(status_text(ex, i))}")
                line = _prediction_line(ex, i)
                if line:
                    st.markdown(line)
                _answer_buttons(ex, i)
                digits = ds.task == "classification" and class_shortcuts(list(ds.classes))[0] == ds.classes[0]
                st.caption("Keys: " + ("each class's digit, " if digits else
                                       "1–9 the first classes, " if ds.task == "classification"
                                       and len(ds.classes) <= MAX_CLASS_BUTTONS else
                                       "Enter saves the value, " if ds.task != "classification" else "")
                           + "S skip, N not sure, U undo, T train and pick next. Each answer is saved at once.")
        st.button("Train and pick next", type="primary", key="lab_train", shortcut="T", disabled=p.n_done < 1,
                  on_click=_train, args=(classroom,),
                  help="Train the model on every label so far and pick the next batch. Skipped, not-sure and "
                       "unanswered points go back to the pool. Enabled once one point is done.")
        with st.expander(f"The batch ({B} picks)", expanded=True):
            _grid(ex, i)
    return i
