"""Write examples/bait_tour.ipynb, the notebook tour of bait_core, from the cells below, with no
outputs (git keeps it stripped; tests/test_notebook.py executes it and checks that the committed
file has no outputs). Run from the repository root after editing a cell:

    .venv/bin/python scripts/make_tour_notebook.py

The notebook imports only bait_core (never the app's modules, which need streamlit) and draws with the
library's Plotly builders (bait_core.viz.plots), the same ones behind the app's figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "bait_tour.ipynb"

CELLS: list[tuple[str, str]] = [
    ("md", """\
# A tour of BAIT with `bait_core`

**BAIT** (Ash, Goel, Krishnamurthy and Kakade, *Gone Fishing: Neural Active Learning with Fisher
Embeddings*, NeurIPS 2021) is a batch active-learning strategy: given a model trained on the few
points labeled so far, it picks the next batch of B points to label so that, together with the labeled
set, they cover the pool's **Fisher information** of the model's last layer as well as possible. It
minimises tr(M⁻¹F), where F is the Fisher information averaged over the whole pool and M the Fisher
information of the labeled points plus the batch (plus λI): a small value means the labels pin down
the parameters in every direction the pool cares about. The batch is chosen greedily — a forward pass
adds 2B points one at a time, a backward pass removes the B whose removal hurts least.

This notebook runs what the BAIT Explorer app runs, with the library alone and the same Plotly
figures, offline: a built-in dataset, three rounds of BAIT, the pool map, the objective along the
greedy steps, the learning curve, a small comparison with random sampling, and a run saved the way the
app saves it, opened again as the Records page opens it. It runs in about 20 s on a 2-core laptop CPU.

Run it from the repository's environment (`.venv`, set up by `bash scripts/app.sh` or
`bash scripts/test.sh`) with that environment's Python as the kernel; the project is not an installed
package, so the first cell puts the checkout on `sys.path`."""),
    ("code", """\
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = next((p for p in (Path.cwd(), *Path.cwd().parents) if (p / "bait_core").is_dir()), None)   # the checkout
if ROOT is None:
    raise FileNotFoundError(f"bait_core is not in {Path.cwd()} or a folder above it: start Jupyter (or the kernel) "
                            "in the BAIT Explorer checkout or its examples/ folder.")
sys.path.insert(0, str(ROOT))

import numpy as np
import plotly.io as pio

from bait_core import (ComparePlan, Comparison, Explorer, RunConfig, RunRecord, RunStore, build_run,
                       execute_comparison, get_spec)
from bait_core.learning.build import build_run_model, load_run_dataset
from bait_core.learning.compare import seeds_note
from bait_core.viz import plots
from bait_core.viz.projection import pca_layout

# Figures: the Plotly mime type (JupyterLab, VS Code) and HTML with plotly.js embedded once (classic
# notebook, nbconvert's HTML): no CDN, so they draw offline too.
pio.renderers.default = "plotly_mimetype+notebook"
t_start = time.perf_counter()
print("kernel:", sys.executable)"""),
    ("md", """\
## 1. The data and the model

`digits` is scikit-learn's 1,797 handwritten digits (8×8 pixels, 10 classes), split into a pool and
a held-out test set. The model is the paper's one-hidden-layer MLP (128 units): its hidden layer is the
**embedding** h(x) and its last linear layer the part whose Fisher information BAIT uses,
I(x) = (diag p − p pᵀ) ⊗ h hᵀ for the class probabilities p.

A run is described by a `RunConfig`: 20 random labels to start, batches of 10, three rounds.
`build_run` loads the data, builds the model with its initial weights and checks that the run fits in
memory before anything is trained."""),
    ("code", """\
config = RunConfig(data="builtin:digits", model="mlp", strategy="bait", rounds=3, batch_size=10,
                   initial=20, seed=0)
built = build_run(config)
ds = built.dataset
print(f"{ds.name}: pool {ds.X.shape[0]} points of shape {tuple(ds.input_shape)}, "
      f"test {ds.X_test.shape[0]} points, classes {list(ds.classes)}")
spec = get_spec(config.strategy)
print(f"{spec.label}: {spec.summary}")"""),
    ("md", """\
## 2. Rounds of active learning

Each round trains the model from the same initial weights on the labels so far, measures test
accuracy, computes every pool point's embedding and class probabilities, lets BAIT pick a batch, and
reveals the picks' labels (a *simulated* oracle: the dataset's labels). `Explorer` is the object the
app's Rounds page drives; with a `RunStore` it saves the run after every round, atomically, exactly as
the app does into its `runs/` folder — here into a temporary folder. `evaluate()` adds the final round,
which trains on the last batch's labels and measures without selecting."""),
    ("code", """\
runs_dir = Path(tempfile.mkdtemp(prefix="bait-tour-runs-"))
store = RunStore(runs_dir)
ex = Explorer.start(ds, built.model, config, store=store)
for _ in range(config.rounds):
    rr = ex.step()
    sel = rr.selection
    print(f"round {rr.round}: {rr.n_labeled} labels, test accuracy {rr.metric:.3f}; "
          f"picked {sel.indices.size} points in {rr.times['select']:.2f} s, "
          f"tr(M⁻¹F) {sel.objective[0]:.1f} → {sel.objective[-1]:.1f}")
final = ex.evaluate()
print(f"final: {final.n_labeled} labels, test accuracy {final.metric:.3f}; saved as {ex.run_id}")"""),
    ("md", """\
## 3. The pool map

Every pool point on a 2-D map of its pixels (PCA here; the app also offers UMAP), coloured by its
true class. Black squares are the points labeled before the round, gold stars the round's picks
(numbered in pick order), grey rings the points the forward pass added and the backward pass pruned.
BAIT spreads its picks over the classes and towards points the model is unsure about; hover over a
point for its label, the model's prediction, its confidence and its first-step gain."""),
    ("code", """\
xy = pca_layout(ds.X)
rr = ex.rounds[-2]                          # the last round that selected a batch
names = list(ds.classes)
sel = rr.selection
fig_map = plots.pool_map(
    xy, np.asarray(ds.y, dtype=np.int64), names, labeled=rr.labeled_before, picks=sel.indices,
    pruned=sel.pruned, true_label=[names[k] for k in ds.y], predicted=[names[k] for k in rr.predictions],
    confidence=rr.confidence, gain=sel.scores, gain_name=spec.score_name,
    title=f"round {rr.round}: {sel.indices.size} picks on the PCA map of the pool", height=520)
fig_map.show()"""),
    ("md", """\
## 4. The objective along the greedy steps

tr(M⁻¹F) after each greedy step of that round's selection: the forward pass (solid) adds the point
with the largest reduction each step, 2B = 20 steps; the backward pass (dashed) removes, one at a time,
the point whose removal raises the objective least, until B = 10 remain. The backward pass ends above
the forward pass's low point — the price of a batch half the size — but below where the round began."""),
    ("code", """\
fig_obj = plots.objective_trajectory(sel.objective, sel.n_forward, title=f"round {rr.round}: tr(M⁻¹F) per greedy step")
fig_obj.show()"""),
    ("md", """\
## 5. The learning curve

Test accuracy against the number of labels, one point per round (the last one is the final,
evaluation-only round)."""),
    ("code", """\
n_labels = np.array([r.n_labeled for r in ex.rounds])
accuracy = np.array([r.metric for r in ex.rounds])
fig_curve = plots.learning_curve(n_labels, accuracy, ex.rounds[-1].metric_name, current=len(ex.rounds) - 1)
fig_curve.show()"""),
    ("md", """\
## 6. Two strategies compared

Is BAIT better than labeling random points? A comparison runs every strategy with every seed from
the same start: per seed the same initial labels, initial weights and training shuffles, so the runs
differ only by what each strategy picks. `execute_comparison` runs them one after another here
(`"sequential"`); `"processes"` spreads them over worker processes and `"ray"` over a Ray cluster, with
identical results. Two seeds and three rounds keep the tour short: that is too few for the paired
t-tests of the penalty matrix to mean much (the note below says why); the app and the CLI default to
more seeds."""),
    ("code", """\
plan = ComparePlan(base=config, strategies=("bait", "random"), seeds=(0, 1))
plan.validate(ds.task, ds.X.shape[0])


def load_data(seed):                          # each seed's dataset (its own pool / test split)
    return ds if seed == config.seed else load_run_dataset(config, seed=seed)


def build_model(dataset, seed):               # each seed's initial weights, shared by its strategies
    return build_run_model(config, dataset, seed=seed)


records = []
for outcome in execute_comparison(plan, load_data, build_model, "sequential"):
    assert outcome.ok, outcome.error
    records.append(outcome.record)
    print(f"{outcome.strategy:>7} seed {outcome.seed}: final accuracy {outcome.record.rounds[-1].metric:.3f}, "
          f"AUC {outcome.record.auc():.4f} ({outcome.seconds:.1f} s)")
comparison = Comparison(records=records, plan=plan)
print(seeds_note(len(plan.seeds)))
fig_compare = plots.learning_curves(comparison.records, title="BAIT vs random on digits: mean ± std over 2 seeds")
fig_compare.show()
for row in plots.auc_table(comparison.records):         # area under the learning curve, mean ± std over seeds
    print(f"{row['strategy']:>7}: AUC {row['auc_mean']:.4f} ± {row['auc_std']:.4f}, "
          f"final accuracy {row['final_mean']:.3f} (mean of {row['runs']} runs)")"""),
    ("md", """\
## 7. Opening a run the app saved

The run of section 2 was saved the way the app saves every run: a folder in the runs folder with
`setup.json` (what rebuilds it), `record.json` (every round: labeled set, picks, objective trace,
metrics; checked against a schema when read), `summary.json` and the initial weights
(`init.safetensors`). Point `runs_dir` at the app's `runs/` folder (or `BAIT_EXPLORER_RUNS_DIR`) to open
the runs you made there. The Records page opens a record read-only (`Explorer.from_record`, the
dataset reloaded and checked by its fingerprint) or resumes a recent run as a live one
(`RunStore.resume`); both give back the same rounds."""),
    ("code", """\
for summary in store.list():
    print(f"{summary.run_id}: {summary.dataset}, {summary.strategy}, {summary.rounds} rounds, "
          f"{summary.n_labeled} labels, finished {summary.finished}")
folder = runs_dir / ex.run_id
print(sorted(p.name for p in folder.iterdir()))

record = RunRecord.load(folder / "record.json")          # read and schema-checked
opened = Explorer.from_record(record)                    # Records → open a record (read-only)
resumed = store.resume(ex.run_id)                        # Records → Recent runs → Resume
for other in (opened, resumed):
    assert [r.metric for r in other.rounds] == [r.metric for r in ex.rounds]
    assert all(np.array_equal(a.selection.indices, b.selection.indices)
               for a, b in zip(other.rounds[:-1], ex.rounds[:-1]))
print(f"reopened: {len(opened.rounds)} rounds, the same picks and accuracies; "
      f"read-only {opened.read_only}, resumed run finished {resumed.finished}")
print(record.metrics_csv())
fig_reopened = plots.learning_curve(np.array([r.n_labeled for r in opened.rounds]),
                                    np.array([r.metric for r in opened.rounds]), opened.rounds[-1].metric_name)
fig_reopened.update_layout(title="the learning curve, drawn from the reopened record")
fig_reopened.show()
print(f"tour ran in {time.perf_counter() - t_start:.1f} s")"""),
    ("md", """\
## Where next

- The app (`bash scripts/app.sh`) shows all of this live, plus the Learn page's step-by-step animation
  of the greedy passes, labeling the picks yourself, and comparisons with a penalty matrix.
- The command line: `python -m bait_core run | compare | select | next`.
- The algorithm and its fast exact implementation: `docs/bait-math.md`."""),
]


def build() -> nbformat.NotebookNode:
    """The tour as a notebook node with no outputs and no execution counts (nbformat v4)."""
    cells = [new_markdown_cell(src) if kind == "md" else new_code_cell(src) for kind, src in CELLS]
    nb = new_notebook(cells=cells, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
        "language_info": {"name": "python"}})
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"tour-{i:02d}"          # stable ids: regenerating gives the same file
    nbformat.validate(nb)
    return nb


def main() -> int:
    NOTEBOOK.parent.mkdir(exist_ok=True)
    nbformat.write(build(), str(NOTEBOOK))
    print(f"wrote {NOTEBOOK.relative_to(ROOT)} ({len(CELLS)} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
