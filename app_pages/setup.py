"""Setup: choose the dataset, the model, the strategy and its settings, then apply them as a new run."""

from dataclasses import replace
from typing import Optional

import numpy as np
import pandas as pd
import streamlit as st

import app_keys as K
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.learning.data import BUILTIN_DATASETS, FILE_EXTENSIONS, default_label_column, list_columns
from bait_core.records.run_record import MAX_SEED, RunConfig
from bait_core.selection.registry import APPROXIMATION_HELP, SPECS, run_options
from bait_core.learning.models import ACCEPTED_SUFFIXES, MODEL_NAMES, WEIGHT_SUFFIXES
from bait_core.viz.plots import class_bars
from bait_core.learning.reading import IMAGE_SCALINGS, MISSING_POLICIES, ReadOptions, report_lines
from bait_core.viz.text import safe_markdown as md
from bait_core.learning.train import PRESETS, preset_help
from bait_core.learning.build import run_offer

APPROX_HELP = APPROXIMATION_HELP + " Choose one when the estimate below says exact BAIT would take too long."
ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16", "mac-roman", "cp1250", "shift_jis", "gbk"]
SEPARATORS = [",", ";", "\t", "|", " "]
IMAGE_SIZES = ["8×8", "16×16", "28×28", "32×32", "64×64"]
HAS_CLASS_LIST = "classes" in getattr(ReadOptions, "__dataclass_fields__", {})   # a typed class list (newer loaders)
CLASS_LIST_HELP = ("The classes a person can give, in this order (keys 1–9 follow it). Classes found in the labeled "
                   "rows are added. Needed when the file has no labels at all.")
ORACLE_WORDS = {"simulated": "Simulated (reveal the file's labels)", "person": "A person (label them in the app)"}
FIRST_BATCH_WORDS = {"k-center": "k-center (spread over the data)", "random": "random"}
MODEL_HELP = ("- **linear**: softmax regression on the inputs (its embedding is the input itself)\n"
              "- **mlp**: one hidden layer of 128 ReLU units, as in the BAIT paper (the embedding: those 128)\n"
              "- **cnn**: a small conv net for images (two conv blocks, then a 128-unit embedding)")

st.title("Setup")
st.caption("Pick the data, the model and the acquisition strategy for a new run. Nothing changes until "
           "you press “Apply setup”; a failed apply keeps the current run.")

W.show_flash()
if st.session_state.pop("setup_applied", False):       # set by "Apply setup" below, shown once
    st.page_link("app_pages/rounds.py", label="Go to Rounds to run it", icon=":material/arrow_forward:")
cur = S.explorer().config

# --- data ---------------------------------------------------------------------------------------
st.subheader("Data")
source = st.segmented_control("Data source", ["Built-in", "Upload a file", "Upload a folder"], default="Built-in",
                              key="setup_source")
seed = int(st.number_input("Seed", min_value=0, max_value=MAX_SEED, value=int(cur.seed), step=1, key="setup_seed",
                           help="One number fixes every random choice of the run: the test split (built-in data, and "
                                "files without a split column), the model's initial weights, the initial labeled set, "
                                "each round's training shuffles and random picks. The same seed and settings give the "
                                "same run."))

dataset = None
data_spec = None
read_opts = None            # the ReadOptions of an upload (stored with the run)
data_file = None            # (name, bytes) of the upload: stored with the run so it can be resumed
label_column = None
def reading_controls(kind: str):
    """The "Change how it is read" expander: every file-level inference of the loader, overridable
    (auto = infer and report). `kind` is "table", "images" (ZIP) or "arrays" (NPZ: the task only).
    Returns (ReadOptions, the expander)."""
    exp = st.expander("Change how it is read", expanded=False)
    with exp:
        c1, c2, c3, c4 = st.columns(4)
        task = c1.selectbox("Task", ["auto", "classification", "regression"], key="read_task",
                            help="auto: text labels → classification; numeric labels → classification when they are "
                                 "whole numbers with at most 20 distinct values, else regression.")
        opts: dict = {"task": None if task == "auto" else task}
        if kind == "table":
            enc = c2.selectbox("Encoding", ["auto", *ENCODINGS], key="read_encoding")
            sep = c3.selectbox("Separator", ["auto", *SEPARATORS], key="read_sep",
                               format_func=lambda v: {"\t": "tab", " ": "space"}.get(v, v))
            dec = c4.selectbox("Decimal mark", ["auto", ".", ","], key="read_decimal")
            d1, d2, d3 = st.columns([1, 2, 1])
            thou = d1.selectbox("Thousands", ["auto", "none", ",", ".", " ", "'"], key="read_thousands",
                                format_func=lambda v: {" ": "space"}.get(v, v))
            na = d2.text_input("More missing-value tokens (comma-separated)", key="read_na",
                               help="Only empty cells are missing by default: a class called NA is data. Add tokens "
                                    "such as ?, n/a, -999 that mean 'missing' in this file.")
            missing = d3.selectbox("Empty feature cells", list(MISSING_POLICIES), key="read_missing",
                                   help="median: fill with the column's median (one-hot: all zeros); "
                                        "drop: drop those rows; refuse: stop with a message.")
            opts.update(encoding=None if enc == "auto" else enc, sep=None if sep == "auto" else sep,
                        decimal=None if dec == "auto" else dec,
                        thousands=None if thou == "auto" else ("" if thou == "none" else thou),
                        na_values=tuple(t.strip() for t in na.split(",") if t.strip()), missing_features=missing)
        elif kind == "images":
            size = c2.selectbox("Image size", ["auto", *IMAGE_SIZES], key="read_image_size",
                                help="auto keeps the images' own size when they all share one up to 64×64, else 28×28.")
            scaling = c3.selectbox("Pixel scaling", ["auto", *IMAGE_SCALINGS], key="read_image_scaling",
                                   help="auto: by bit depth (8-bit ÷ 255, 16-bit ÷ 65,535), one rule for the whole "
                                        "archive; max: ÷ the archive's largest value; minmax: the archive's range to "
                                        "0–1; none: values as stored.")
            channels = c4.selectbox("Channels", ["auto", "grey (1)", "colour (3)"], key="read_image_channels")
            opts["image_size"] = None if size == "auto" else tuple(int(v) for v in size.split("×"))
            opts["image_scaling"] = None if scaling == "auto" else scaling
            opts["image_channels"] = None if channels == "auto" else (1 if channels.startswith("grey") else 3)
        if HAS_CLASS_LIST:
            typed = st.text_input("Class list (comma-separated)", key="read_classes", help=CLASS_LIST_HELP)
            classes = tuple(dict.fromkeys(c.strip() for c in typed.split(",") if c.strip()))
            if classes:
                opts["classes"] = classes
    return ReadOptions(**opts), exp


def role_controls(exp, columns: list[str], label: Optional[str], ident: str) -> tuple:
    """The column-roles editor inside the expander: ((column, role), ...) the user changed."""
    features = [c for c in columns if c != label]
    if not features:
        return ()
    with exp:
        roles = st.data_editor(pd.DataFrame({"column": features, "role": ["auto"] * len(features)}),
                               column_config={"column": st.column_config.TextColumn("Column", disabled=True),
                                              "role": st.column_config.SelectboxColumn(
                                                  "Role", options=["auto", "numeric", "one-hot", "ignored", "split"],
                                                  required=True,
                                                  help="split: the column marks the test set (rows saying 'test'; "
                                                       "train, pool, unlabeled or empty are pool rows). A column "
                                                       "named split, set or subset with those words is used so "
                                                       "without asking.")},
                               hide_index=True, key=f"read_roles_{ident}_{label}", width="stretch")
    return tuple((str(c), str(r)) for c, r in zip(roles["column"], roles["role"]) if r != "auto")


def show_report(dataset) -> None:
    """"How your file was read": the loader's report, every inference named."""
    rep = getattr(dataset, "report", None)
    if rep is None:
        return
    with st.container(border=True):
        st.markdown("**How your file was read**")
        st.markdown("\n".join(("    - " + md(line.strip())) if line.startswith("  ") else f"- {md(line)}"
                               for line in report_lines(rep) if not line.startswith("Warning: ")))
        for w in rep.warnings:
            st.warning(md(w))
        st.caption("Anything wrong? Change it under “Change how it is read”; nothing is applied until “Apply setup”.")


if source == "Upload a file":
    up = st.file_uploader("Data file (CSV, TSV, Parquet, NPZ, or a ZIP of one image folder per class)",
                          type=[e.lstrip(".") for e in FILE_EXTENSIONS], key="setup_data_file")
    if up is not None:
        raw = up.getvalue()
        try:
            low = up.name.lower()
            kind = "images" if low.endswith(".zip") else "arrays" if low.endswith(".npz") else "table"
            read_opts, exp = reading_controls(kind)
            cols = list_columns(raw, filename=up.name, options=read_opts) if kind == "table" else []
            if cols:
                default = default_label_column(cols)
                label_column = st.selectbox("Label column", cols, index=cols.index(default), key="setup_label_col")
                read_opts = replace(read_opts, roles=role_controls(exp, cols, label_column, svc.content_key(raw)[:16]))
            dataset, _ = svc.upload_once(
                st.session_state, K.UPLOAD_DATASET, svc.upload_key([(up.name, raw)], label_column, seed, read_opts),
                lambda: svc.load_upload(raw, up.name, label_column, seed=seed, options=read_opts))
            data_spec = up.name
            data_file = (up.name, raw)
            show_report(dataset)
        except ValueError as e:
            st.error(md(e))
    else:
        st.info("Upload a file to preview it; the current run stays as it is.")
elif source == "Upload a folder":
    files = st.file_uploader("A folder of images with one subfolder per class", accept_multiple_files="directory",
                             key="setup_data_folder")
    if files:
        try:
            read_opts, _ = reading_controls("images")
            bar = st.progress(0.0, text=f"Packing {len(files)} files…")
            raw = svc.folder_to_zip([(f.name, f.getvalue()) for f in files],
                                    progress=lambda done, total: bar.progress(done / max(1, total),
                                                                              text=f"Packing files: {done} of {total}"))
            bar.empty()
            def read_folder():
                with st.spinner(f"Reading {len(files)} images…"):
                    return svc.load_upload(raw, "folder.zip", None, seed=seed, options=read_opts)
            dataset, _ = svc.upload_once(st.session_state, K.UPLOAD_DATASET,
                                         svc.upload_key([("folder", raw)], seed, read_opts), read_folder)
            data_spec = "folder upload"
            data_file = ("folder.zip", raw)
            show_report(dataset)
        except ValueError as e:
            st.error(md(e))
    else:
        st.info("Choose a folder whose subfolders are the classes (e.g. cats/, dogs/); the current run stays "
                "as it is.")
else:
    names = list(BUILTIN_DATASETS)
    cur_name = cur.data.split(":", 1)[1] if cur.data.startswith("builtin:") else "digits"
    name = st.selectbox("Built-in dataset", names, index=names.index(cur_name) if cur_name in names else 0,
                        format_func=lambda n: f"{n} — {BUILTIN_DATASETS[n]}", key="setup_builtin")
    try:
        dataset = svc.load_builtin_dataset(name, seed)
        data_spec = f"builtin:{name}"
    except ValueError as e:
        st.error(md(e))

if dataset is not None:
    s = dataset.summary()
    regression = s["task"] == "regression"
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Pool points N", s["N"])
    c2.metric("Features d", s["d"])
    c3.metric("Task" if regression else "Classes K", "regression" if regression else s["K"])
    c4.metric("Test points", s["N_test"])
    left, right = st.columns([3, 2])
    with left:
        if dataset.is_image and dataset.images is not None:
            n = min(12, len(dataset.images))
            st.image([np.asarray(dataset.images[i]) for i in range(n)], width=64,
                     caption=[md(c) for c in views.label_texts(dataset, dataset.y[:n])])
            st.caption("The first pool images with their " + ("target values." if regression else "labels."))
        else:
            df = views.feature_table(dataset, np.arange(min(8, len(dataset.X))),
                                     {views.label_column(dataset): views.label_texts(dataset, dataset.y[:8])})
            st.dataframe(df, width="stretch", hide_index=True)
            st.caption("The first pool rows as the model sees them (numeric columns standardised)"
                       + ("; “target” is the value to predict (“?”: none)." if regression else "."))
    with right:
        if regression:
            yv = np.asarray(dataset.y, dtype=np.float64)
            yv = yv[np.isfinite(yv)]
            st.plotly_chart(views.target_preview(dataset), width="stretch", key="setup_hist")
            st.caption((f"Regression target over the {yv.size} pool points that have one: mean {s.get('y_mean', 0):.3g}, "
                        f"std {s.get('y_std', 0):.3g}, median {np.median(yv):.3g}, range {yv.min():.3g} to "
                        f"{yv.max():.3g}." if yv.size else "No pool point has a target value.")
                       + (f" {s['n_missing_labels']} point(s) have no value." if s.get("n_missing_labels") else "")
                       + " The model is scored by its test RMSE (lower is better).")
        elif s["class_counts"]:
            n_with, n_without = s["n_labeled"], s["n_missing_labels"]
            st.plotly_chart(class_bars(list(s["class_counts"]), list(s["class_counts"].values()),
                                       title=("Pool points with a label, per class" if n_without
                                              else "Pool points per class")), width="stretch", key="setup_hist")
            st.caption((f"The {n_with:,} of {s['N']:,} pool points that have a label in the file, by class; the other "
                        f"{n_without:,} have none and are not counted." if n_without else
                        f"All {s['N']:,} pool points by their label in the file.")
                       + " The run starts with “Initial labeled” (below) of these labeled; the others' labels are "
                         "obtained as the strategy picks them. Test points are not counted.")

# --- who labels ---------------------------------------------------------------------------------
# "simulated": the picks' labels are revealed from the file; "person": someone labels them in the app. The
# default follows the data (a file with unlabeled pool rows → a person), is said and can be changed.
oracle = "simulated"
first_batch = cur.first_batch if cur.first_batch in FIRST_BATCH_WORDS else "k-center"
n_pool = n_pool_labeled = 0
if dataset is not None:
    has = np.asarray(dataset.has_label, dtype=bool)
    n_pool, n_pool_labeled = int(has.size), int(has.sum())
    n_missing = n_pool - n_pool_labeled
    suggested = "person" if n_missing else "simulated"
    if st.session_state.get("setup_oracle_for") != dataset.fingerprint:      # another dataset: its own default
        st.session_state["setup_oracle_for"] = dataset.fingerprint
        for k in ("setup_oracle", "setup_initial_person"):
            st.session_state.pop(k, None)
    st.subheader("Who labels the picks?")
    oracle = st.segmented_control("Who labels the picks?", list(ORACLE_WORDS), default=suggested,
                                  format_func=ORACLE_WORDS.__getitem__, key="setup_oracle",
                                  label_visibility="collapsed") or suggested
    why = (f"{n_missing:,} of {n_pool:,} pool rows have no label: a person labels the picks" if n_missing
           else f"All {n_pool:,} pool rows have a label: the picks' labels are revealed from the file (simulated)")
    st.caption(why + (" (change it here)." if oracle == suggested
                      else f"; you chose “{ORACLE_WORDS[oracle]}” instead."))
    if oracle == "simulated" and n_missing * 2 > n_pool:
        st.warning(f"{n_missing:,} of {n_pool:,} pool rows have no label: picks without a label are never "
                   "revealed; a person can label them (choose “A person” above).")

# --- model --------------------------------------------------------------------------------------
st.subheader("Model")
model_src = st.segmented_control("Model source", ["Built-in", "Upload"], default="Built-in", key="setup_model_src")
model_file = model_name = arch = None
if model_src == "Upload":
    mf = st.file_uploader("Weights (.pt, .pth, .safetensors) or a torch.export program (.pt2)",
                          type=[e.lstrip(".") for e in ACCEPTED_SUFFIXES], key="setup_model_file")
    if mf is not None:
        model_file, model_name = mf.getvalue(), mf.name
        if mf.name.lower().endswith(WEIGHT_SUFFIXES):
            chosen = st.session_state.get("setup_model", cur.model)   # the architecture picked under Built-in
            arch = st.selectbox("Architecture of these weights", MODEL_NAMES, key="setup_arch",
                                index=MODEL_NAMES.index(chosen) if chosen in MODEL_NAMES else MODEL_NAMES.index("mlp"))
    st.caption("Weights need the architecture they were trained for; a .pt2 program brings its own.")
    if dataset is not None:
        with st.expander("Make a model file for this data", expanded=False):
            from bait_core.learning.model_files import export_snippet, weights_snippet
            K_out = dataset.n_classes
            stem = "".join(ch if ch.isalnum() else "_" for ch in dataset.name.rsplit(".", 1)[0])[:30] or "data"
            st.caption(f"This data's inputs have the shape {tuple(dataset.input_shape)} per point and "
                       f"{K_out} output{'s' if K_out != 1 else ''}. Weights of a built-in architecture "
                       "(choose it above after uploading):")
            st.code(weights_snippet(arch or "mlp", dataset.input_shape, K_out, stem), language="python")
            st.caption("Or a network of your own as a torch.export program: forward(x) must return (logits, "
                       "embedding); nothing in it is ever unpickled or run as code here, only its graph:")
            st.code(export_snippet(dataset.input_shape, K_out, stem), language="python")
            st.caption("Both snippets are run by the tests (tests/test_model_files.py) and loaded as an upload is.")
    model_label = model_name or ""
else:
    model_label = st.selectbox("Architecture", MODEL_NAMES,
                               index=MODEL_NAMES.index(cur.model) if cur.model in MODEL_NAMES else 0, key="setup_model",
                               help=MODEL_HELP)

# --- strategy -----------------------------------------------------------------------------------
st.subheader("Strategy and budget")
c1, c2, c3, c4 = st.columns(4)
strategies = list(SPECS)
STRATEGY_LIST = "\n".join(f"- **{s.label}**: {s.help()}" for s in SPECS.values())
strategy = c1.selectbox("Strategy", strategies, index=strategies.index(cur.strategy), key="setup_strategy",
                        format_func=lambda n: SPECS[n].label, help=STRATEGY_LIST)
batch = int(c2.number_input("Batch size", min_value=1, max_value=1000, value=int(cur.batch_size), key="setup_batch",
                            help="How many points the strategy picks each round; their labels are obtained before "
                                 "the next round trains."))
if oracle == "person":
    cap = max(0, min(n_pool_labeled, n_pool - 1))        # the initial set must leave a pool to pick from
    initial = int(c3.number_input("Initial labeled", min_value=0, max_value=cap, value=cap, key="setup_initial_person",
                                  help=f"At most the {n_pool_labeled:,} pool rows that have a label in the file."))
else:
    initial = int(c3.number_input("Initial labeled", min_value=1, max_value=100000, value=int(cur.initial),
                                  key="setup_initial",
                                  help="Pool points labeled before round 0, drawn at random (by the seed) among those "
                                       "that have a label; the first model trains on them."))
rounds = int(c4.number_input("Rounds", min_value=0, max_value=1000, value=int(cur.rounds), key="setup_rounds",
                             help="The run's budget: how many selection rounds it has (each picks one batch), "
                                  "then a final round that only trains and evaluates. The Rounds page runs them "
                                  "one or several at a time (“Rounds to run”)."))
st.caption(SPECS[strategy].describe())          # the chosen strategy's line; the selectbox's help lists all
if oracle == "person":
    st.caption("Initial labeled: the rows that have labels in the file start the labeled set"
               + (f" ({n_pool_labeled:,} here)." if n_pool_labeled else "; this file has none."))
    if initial == 0:
        first_batch = st.radio("First batch without a model", list(FIRST_BATCH_WORDS), key="setup_first_batch",
                               index=list(FIRST_BATCH_WORDS).index(first_batch), horizontal=True,
                               format_func=FIRST_BATCH_WORDS.__getitem__)
        st.caption("With no labels there is no model to ask yet, so the first batch is chosen on the input features "
                   "alone: k-center picks points spread over the data (each one the farthest from those already "
                   "picked), random draws them at random. Once a person has labeled it, the strategy above picks.")
c1, c2, c3 = st.columns(3)
presets = list(PRESETS)
preset = c1.selectbox("Training preset", presets, index=presets.index(cur.preset) if cur.preset in presets else 0,
                      key="setup_preset", help="How each round trains the model on the labeled points:\n\n"
                                               + "\n".join(f"- **{n}**: {preset_help(n)}" for n in presets))
takes, opt = SPECS[strategy].options, run_options()   # the chosen strategy's options; every option's spec
lamb = float(c2.number_input("λ (Fisher regulariser)", min_value=opt["lamb"].minimum, max_value=opt["lamb"].maximum,
                             value=float(cur.lamb), format="%.4g",
                             key="setup_lamb", disabled="lamb" not in takes, help=opt["lamb"].help))
oversample = float(c3.number_input("Oversampling (forward picks ÷ batch)", min_value=opt["oversample"].minimum,
                                   max_value=opt["oversample"].maximum,
                                   value=float(cur.oversample), step=0.5, key="setup_oversample",
                                   disabled="oversample" not in takes, help=opt["oversample"].help))
st.caption(f"Training preset **{preset}** — {preset_help(preset)}")
st.caption("λ and oversampling apply to BAIT only: it adds oversampling × batch points greedily, then prunes "
           "back to the batch size.")
APPROX_WORDS = {"none": "Exact (no approximation)", "top-c": "Top-c classes (approximate)",
                "binary": "Binary: predicted class vs the rest (approximate)"}
c1, c2, c3 = st.columns(3)
approximation = c1.selectbox("Approximation", list(opt["approximation"].choices),
                             index=list(opt["approximation"].choices).index(cur.approximation),
                             format_func=APPROX_WORDS.__getitem__, key="setup_approximation",
                             disabled="approximation" not in takes, help=APPROX_HELP)
top_classes = int(c2.number_input("Top classes c", min_value=int(opt["top_classes"].minimum), value=int(cur.top_classes),
                                  step=1, key="setup_top_classes",
                                  disabled="top_classes" not in takes or approximation != "top-c",
                                  help=opt["top_classes"].help))
pool_sample = int(c3.number_input("Pool sample (0 = whole pool)", min_value=int(opt["pool_sample"].minimum),
                                  value=int(cur.pool_sample), step=500, key="setup_pool_sample",
                                  disabled="pool_sample" not in takes, help=opt["pool_sample"].help))
if approximation != "top-c":
    top_classes = int(opt["top_classes"].default)                    # c applies to top-c only
ex_now = S.explorer()
offer = None
if "approximation" in takes and approximation == "none" and not pool_sample and ex_now.model is not None:
    try:
        offer = run_offer(replace(ex_now.config, strategy=strategy, batch_size=batch, initial=initial, oracle=oracle,
                                  oversample=oversample, top_classes=top_classes), ex_now.dataset, ex_now.model)
    except ValueError:
        offer = None
if offer:
    st.info(md("For the current run's data and model: " + offer), icon="⏱️")
elif ("approximation" in takes and approximation == "top-c" and dataset is not None
      and getattr(dataset, "task", "classification") != "regression" and top_classes >= dataset.n_classes):
    st.caption(f"c = {top_classes} keeps all {dataset.n_classes} classes: this is exact BAIT (nothing is approximated).")
elif "approximation" in takes and (approximation != "none" or pool_sample):
    st.caption("Approximate BAIT: its picks are labelled “approximate” on every page, in the story and in the "
               "saved record.")

if st.button("Apply setup", type="primary", disabled=S.job_running() or dataset is None, key="setup_apply"):
    try:
        if model_src == "Upload" and model_file is None:
            raise ValueError("Upload a model file, or choose a built-in architecture.")
        config = RunConfig(data=data_spec, model=model_label or "mlp", strategy=strategy, rounds=rounds,
                           batch_size=batch, initial=initial, seed=seed, lamb=lamb, oversample=oversample,
                           approximation=approximation, top_classes=top_classes, pool_sample=pool_sample,
                           preset=preset, label_column=label_column, oracle=oracle, first_batch=first_batch)
        ex = svc.build_explorer(config, dataset=dataset, model_file=model_file, model_filename=model_name, arch=arch,
                              data_file=data_file, read_options=read_opts)
        S.set_explorer(ex, save=True)
    except ValueError as e:
        st.error(md(e))
    else:
        st.session_state[K.FLASH] = f"New run ready: {dataset.name} + {config.model} + {strategy}."
        st.session_state["setup_applied"] = True
        st.rerun()
