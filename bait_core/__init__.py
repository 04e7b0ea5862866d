"""BAIT Explorer's library. Never imports streamlit: everything here is usable from scripts, the CLI,
notebooks and tests.

Layers, each importing only from those above it in this list:

- ``common``    threads, quoting: small utilities with no project imports
- ``selection`` Selection, Fisher factors, exact BAIT, baselines, the strategy registry, memory estimates
- ``records``   what a run is as data: RunConfig, RoundResult, RunRecord, schemas, CSV, stories
- ``learning``  data loaders, models, training, outputs, the round loop, comparisons, the playground
- ``viz``       Plotly figure builders, projections (PCA/UMAP), safe text for figures and pages
- ``service``   the interactive run (Explorer), background jobs, the run store, warm-up

The public names below are re-exported here and imported on first use, so ``import bait_core``
stays light (no torch model code, no Plotly) until a name is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Selection": "bait_core.selection.base", "SelectionCancelled": "bait_core.selection.base",
    "prepare_inputs": "bait_core.selection.base", "bait_select": "bait_core.selection.bait",
    "STRATEGIES": "bait_core.selection.registry", "get_strategy": "bait_core.selection.registry",
    "SPECS": "bait_core.selection.registry", "get_spec": "bait_core.selection.registry",
    "estimate": "bait_core.selection.estimate",
    "RunConfig": "bait_core.records.run_record", "RoundResult": "bait_core.records.run_record",
    "RunRecord": "bait_core.records.run_record",
    "Dataset": "bait_core.learning.data", "load_dataset": "bait_core.learning.data",
    "load_builtin": "bait_core.learning.data", "ReadOptions": "bait_core.learning.reading",
    "build_model": "bait_core.learning.models", "load_user_model": "bait_core.learning.models",
    "run": "bait_core.learning.loop", "run_rounds": "bait_core.learning.loop",
    "run_round": "bait_core.learning.loop", "Oracle": "bait_core.learning.loop",
    "SimulatedOracle": "bait_core.learning.loop", "round_seed": "bait_core.learning.loop",
    "build_run": "bait_core.learning.build",
    "ComparePlan": "bait_core.learning.compare", "Comparison": "bait_core.learning.compare",
    "run_comparison": "bait_core.learning.compare",
    "Playground": "bait_core.learning.playground",
    "Explorer": "bait_core.service.explorer", "RunStore": "bait_core.service.runstore",
    "Job": "bait_core.service.jobs",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import a public name from its layer on first use (PEP 562)."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'bait_core' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
