"""Compare: several strategies × several seeds on the session's dataset and model, with the spread
over seeds, the paper's penalty matrix and each strategy's first picks from the same start. The runs
execute where "Run on" says (app_services.RUN_ON: this process, worker processes, or Ray when it is
installed); seeds default to learning.compare.DEFAULT_SEEDS and fewer get seeds_note's sentence."""

import numpy as np
import pandas as pd
import streamlit as st

import app_keys as K
import app_services as svc
import app_session as S
import app_widgets as W
import views
from bait_core.selection.registry import SPECS
from bait_core.viz import plots
from bait_core.learning.compare import (DEFAULT_SEEDS, first_round_picks, penalty_matrix, same_strategies, seeds_note,
                                        timing_table)
from bait_core.common.threads import usable_cores
from bait_core.service.executors import RAY_REQUIREMENT
from bait_core.viz.text import safe_markdown as md

ss = st.session_state
st.title("Compare strategies")
ex = S.explorer()
st.caption(f"Runs every chosen strategy once per seed on **{md(ex.dataset.name)}** with the **{md(ex.config.model)}** model "
           f"(change them on Setup). Within a seed every strategy starts from the same initial labeled set and the "
           f"same initial weights, so the runs differ only by what each strategy picks; seeds show the spread.")

job, first_end = svc.job_ended(ss, K.COMPARE_JOB, K.COMPARE_ACK)
if first_end:                                       # this run draws the finished job's results
    comp = svc.comparison_of(job)
    if comp is not None:
        ss[K.COMPARISON] = comp
    if job.status == "error":
        st.error(f"The comparison stopped with an error: {md(job.error)}")
failed = svc.failed_runs(job) if job is not None and not job.running else []
if failed:
    st.warning(f"{len(failed)} run{'s' if len(failed) > 1 else ''} failed (the others finished and are shown): "
               + " ".join(md(f) for f in failed))
running = job is not None and job.running
W.show_flash()

# --- settings and controls ------------------------------------------------------------------------
K_STRAT, K_SEEDS, K_ROUNDS, K_BATCH, K_INIT = K.CMP_STRATEGIES, K.CMP_SEEDS, K.CMP_ROUNDS, K.CMP_BATCH, K.CMP_INITIAL
ss.setdefault(K_STRAT, [s for s in ("bait", "badge", "random") if s in SPECS])
ss.setdefault(K_SEEDS, DEFAULT_SEEDS)
ss.setdefault(K_ROUNDS, ex.config.rounds)
ss.setdefault(K_BATCH, ex.config.batch_size)
ss.setdefault(K_INIT, ex.config.initial)
default_run_on, default_why = svc.default_run_on(ex)
ss.setdefault(K.CMP_RUN_ON, default_run_on)
ss.setdefault(K.CMP_RAY_ADDRESS, "")
has_ray = svc.ray_available()
if ss[K.CMP_RUN_ON] == "ray" and not has_ray:      # Ray went away (another environment): back to the default
    ss[K.CMP_RUN_ON] = default_run_on


def _plan():
    return S.compare_plan(list(ss[K_STRAT]), list(range(int(ss[K_SEEDS]))), ss[K_ROUNDS], ss[K_BATCH], ss[K_INIT])


def _setup(plan):
    if ss[K.CMP_RUN_ON] == "processes":
        why = svc.unpicklable_reason(ex)
        if why is not None:
            raise ValueError(f"This model cannot be sent to worker processes ({why}); choose Run on: "
                             f"“{svc.RUN_ON['sequential']}”.")
    return svc.compare_setup(ss[K.CMP_RUN_ON], len(plan.runs()), ss.get(K.CMP_RAY_ADDRESS))


def _start() -> None:
    try:
        plan = _plan()
        S.start_compare(plan, _setup(plan))
    except ValueError as e:
        ss[K.COMPARE_ERROR] = str(e)


st.multiselect("Strategies", list(SPECS), key=K_STRAT, disabled=running, format_func=lambda n: SPECS[n].label,
               help="Any subset of the registered strategies:\n\n"
                    + "\n".join(f"- **{s.label}**: {s.help()}" for s in SPECS.values()))
c1, c2, c3, c4 = st.columns(4)
c1.number_input("Seeds", min_value=1, max_value=10, step=1, key=K_SEEDS, disabled=running,
                help=f"Seeds 0 … S−1; the penalty matrix needs at least 2, and its paired t-tests need about "
                     f"{DEFAULT_SEEDS} (the default) to call a difference that holds on most seeds significant.")
c2.number_input("Rounds", min_value=1, max_value=100, step=1, key=K_ROUNDS, disabled=running,
                help="Selection rounds per run (each picks one batch), then a final round that only trains and "
                     "evaluates.")
c3.number_input("Batch size", min_value=1, max_value=10_000, step=1, key=K_BATCH, disabled=running,
                help="Points each strategy picks per round.")
c4.number_input("Initial labeled", min_value=1, max_value=100_000, step=1, key=K_INIT, disabled=running,
                help="Random labeled points every run starts from; within a seed every strategy starts from the "
                     "same ones (and the same initial weights).")
run_on_options = ["sequential", "processes"] + (["ray"] if has_ray else [])
cores = usable_cores()
st.radio("Run on", run_on_options, key=K.CMP_RUN_ON, disabled=running, horizontal=True,
         format_func=lambda o: svc.RUN_ON[o] + (f" ({cores} core{'s' if cores > 1 else ''})"
                                                if o == "processes" else ""),
         help="Where the runs execute. Worker processes run one run per core at a time on this machine; Ray runs "
              "them as Ray tasks, on a local Ray instance or a cluster. Every choice gives the same picks and "
              "metrics for the same seeds.")
notes = [f"Default here: {svc.RUN_ON[default_run_on]}. {default_why}"]
if not has_ray:
    notes.append(f"Ray is not installed here: `pip install -r requirements-ray.txt` ({RAY_REQUIREMENT}) offers it "
                 "(a local Ray instance, or a cluster by its address).")
st.caption(" ".join(notes))
if ss[K.CMP_RUN_ON] == "ray":
    with st.expander("Ray address", expanded=bool(ss[K.CMP_RAY_ADDRESS])):
        st.text_input("Ray address", key=K.CMP_RAY_ADDRESS, disabled=running, placeholder="local",
                      help="Empty: start a local Ray instance for this comparison (on this machine's cores, shut "
                           "down at the end). `auto`: the cluster `ray start --head` runs on this machine; "
                           "`HOST:PORT` or `ray://HOST:10001`: a remote one (bait_core is sent along).")
note = seeds_note(int(ss[K_SEEDS]))
if note:
    st.info(note)
try:
    plan_now = _plan()
    setup_now = _setup(plan_now)
except ValueError:
    pass                                             # "Run comparison" shows the sentence
else:
    n_runs = len(plan_now.runs())
    est = svc.compare_estimate(ex, plan_now, setup_now.workers)
    st.caption(f"The plan: {len(plan_now.strategies)} strateg{'ies' if len(plan_now.strategies) > 1 else 'y'} × "
               f"{len(plan_now.seeds)} seed{'s' if len(plan_now.seeds) > 1 else ''} = {n_runs} run"
               f"{'s' if n_runs > 1 else ''} of {plan_now.base.rounds + 1} rounds each, on "
               f"{md(setup_now.describe())}" + (f"; {est}." if est else "."))
b1, b2, _ = st.columns([1.2, 1, 3])
b1.button("Run comparison", type="primary", key="btn_compare", disabled=running, on_click=_start)
if b2.button("Stop", key="btn_compare_stop", disabled=not running) and job is not None:
    job.cancel()
    st.toast("Stopping after the current step; finished runs are kept.")
W.show_error_once(K.COMPARE_ERROR)


def _runs_done(snap) -> str:
    n_done = sum(1 for it in snap.items if it.get("status") == "done")
    n_failed = sum(1 for it in snap.items if str(it.get("status", "")).startswith("failed"))
    return f"{n_done} of {len(snap.items)} runs done" + (f", {n_failed} failed" if n_failed else "")


def _runs_table(snap) -> None:
    """Below the comparison job's progress bar: one row per run."""
    st.dataframe(pd.DataFrame(list(snap.items)), hide_index=True, width="stretch", height=min(400, 38 + 35 * len(snap.items)))
    st.caption("One row per run: its status, the round it is in, its latest test metric and, when done, its "
               "learning-curve AUC (worker processes and Ray report each run when it finishes).")


if running:
    W.job_progress(K.COMPARE_JOB, K.COMPARE_ACK, _runs_done, _runs_table)
elif job is not None and job.status in ("done", "cancelled") and job.items:
    with st.expander(f"Last comparison: {job.status}, {job.snapshot().elapsed:.1f} s", expanded=False):
        st.dataframe(pd.DataFrame([dict(v) for v in job.items.values()]), hide_index=True, width="stretch")

# --- results ------------------------------------------------------------------------------------------
comp = ss.get(K.COMPARISON)
st.divider()
if comp is None and running:
    st.info("The results appear here when the comparison ends (the table above shows each run as it finishes).")
elif comp is None:
    st.info("No comparison yet: choose strategies and seeds and press “Run comparison”, or open one below "
            "(a comparison JSON, or the run records the command line's `compare` writes).")
else:
    recs = comp.records
    metric = comp.metric.name                       # one metric: Comparison.from_records refuses a mix
    lower = not comp.metric.higher_is_better        # RMSE
    metric_col = comp.metric.label
    st.subheader(f"Results: {len(comp.strategies)} strategies × {len(comp.seeds)} seed(s) on "
                 f"{md(recs[0].dataset.get('name'))}")
    k_classes = len(recs[0].dataset.get("classes") or []) if recs else 0
    for group in same_strategies(comp.strategies, k_classes):
        st.info(f"{', '.join(group)} pick the same points on data with {k_classes} classes (they all rank by the "
                "top-class probability), so their curves coincide by construction.")
    left, right = st.columns([3, 2])
    with left:
        st.plotly_chart(plots.learning_curves(recs), width="stretch", key="cmp_curves")
        st.caption(f"The {md(views.metric_words(metric))} against the number of labels: the line is the mean over "
                   "seeds, the band ± one sample standard deviation (ddof = 1; none with a single seed). "
                   + ("A curve that falls sooner needs fewer labels." if lower else
                      "A curve that rises sooner needs fewer labels."))
    with right:
        table = plots.auc_table(recs)
        st.dataframe(pd.DataFrame([{"strategy": t["strategy"], "runs": t["runs"],
                                    "AUC": f"{t['auc_mean']:.3f} ± {t['auc_std']:.3f}",
                                    f"final {metric_col}": round(t["final_mean"], 3)} for t in table]),
                     hide_index=True, width="stretch")
        st.caption(f"Area under each learning curve divided by the label range (the mean {md(views.metric_words(metric))}"
                   " over the budget), mean ± sample std over seeds (nan with one seed), best first"
                   + (f" (the lowest: for {metric_col} a smaller area is better)." if lower else "."))
        st.dataframe(pd.DataFrame([{"strategy": r["strategy"], "train s": round(r["train_s"], 3),
                                    "outputs s": round(r["outputs_s"], 3), "select s": round(r["select_s"], 3),
                                    "device": r["device"]} for r in timing_table(comp)]),
                     hide_index=True, width="stretch")
        st.caption("Mean seconds per round spent training, computing the pool's outputs and selecting.")

    st.subheader("Pairwise penalty matrix")
    if len(comp.strategies) >= 2 and len(comp.seeds) >= 2:
        pm = penalty_matrix(comp)
        st.plotly_chart(plots.penalty_heatmap(pm.strategies, pm.matrix, pm.column_means,
                                              n_checkpoints=pm.n_checkpoints, n_seeds=pm.n_seeds),
                        width="stretch", key="cmp_penalty")
        best = pm.strategies[int(np.argmin(pm.column_means))]
        st.caption(f"Cell (row, column): the share of the {pm.n_checkpoints} checkpoints (rounds after the first "
                   f"pick) where the row strategy is significantly better than the column one (paired t-test over "
                   f"seeds, p < {pm.alpha}), as in the BADGE and BAIT papers. The bottom row averages each column: "
                   f"how often that strategy is beaten — lower is better (here: {md(best)}).")
    else:
        st.info("The penalty matrix needs at least 2 strategies and 2 seeds.")

    st.subheader("First-round picks from the same start")
    seed = st.selectbox("Seed", comp.seeds, key="cmp_seed") if len(comp.seeds) > 1 else comp.seeds[0]
    picks = first_round_picks(comp, seed)
    if picks:
        try:
            ds = S.comparison_dataset(comp, seed)
        except ValueError as e:
            st.info(f"The map needs the comparison's dataset: {md(e)}")
        else:
            xy, shown = svc.layout(ds, "UMAP")
            labeled = next(iter(picks.values()))[0]
            fig = views.compare_map(ds, xy, {k: v[1] for k, v in picks.items()}, labeled, cols=min(3, len(picks)))
            st.plotly_chart(fig, width="stretch", key="cmp_first_picks")
            st.caption(f"{shown} map of the pool (faint dots coloured by "
                       + ("true value, dark to light: low to high" if views.is_regression(ds) else "class")
                       + f"). Every panel starts from the same "
                       f"{int(labeled.sum())} labeled points (black squares) and the same trained model; the gold "
                       "stars are what each strategy picks in round 0.")
    else:
        st.info("No first-round picks to show for this seed.")
    st.download_button("Download comparison (JSON)", comp.to_json(), file_name="bait_comparison.json",
                       mime="application/json", key="cmp_dl")

st.divider()
st.subheader("Open a comparison")
ups = st.file_uploader("A comparison JSON, or several run records of one comparison (e.g. the command line's "
                       "`compare` folder)", type=["json"], accept_multiple_files=True, key=W.uploader_key("cmp_files"),
                       help="Choose all the run records of one comparison at once. Once opened, the files leave "
                            "this box (the comparison is shown above), so the next file you open replaces it.")
if ups:
    files = [(u.name, u.getvalue()) for u in ups]
    try:
        opened = svc.open_comparison(files)
    except ValueError as e:
        st.error(md(e))                 # the files stay, so one can be removed or the missing one added
    else:
        W.consume_upload("cmp_files")   # the uploader empties: the next file replaces this one, never stacks
        ss[K.COMPARISON] = opened
        ss[K.FLASH] = (f"Opened {', '.join(n for n, _ in files)}: {len(opened.strategies)} strategies × "
                       f"{len(opened.seeds)} seed(s).")
        st.rerun()
