"""BAIT Explorer's library. Never imports streamlit: everything here is usable from scripts, the CLI,
notebooks and tests.

Layers, each importing only from those above it in this list:

- ``common``    threads, quoting: small utilities with no project imports
- ``selection`` Selection, Fisher factors, exact BAIT, baselines, the strategy registry, memory estimates
- ``records``   what a run is as data: RunConfig, RoundResult, RunRecord, schemas, CSV, stories
- ``learning``  data loaders, models, training, outputs, the round loop, comparisons, the playground
- ``viz``       Plotly figure builders, projections (PCA/UMAP), safe text for figures and pages
- ``service``   the interactive run (Explorer), background jobs, the run store, warm-up, comparison executors

The public names below are re-exported here and imported on first use, so ``import bait_core``
stays light (no torch model code, no Plotly) until a name is touched.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_HOMES = {                               # layer module -> the public names it defines
    "selection.base": ("Selection", "SelectionCancelled", "prepare_inputs"),
    "selection.bait": ("bait_select",),
    "selection.registry": ("STRATEGIES", "get_strategy", "SPECS", "get_spec"),
    "selection.estimate": ("estimate",),
    "records.run_record": ("RunConfig", "RoundResult", "RunRecord"),
    "learning.data": ("Dataset", "load_dataset", "load_builtin"),
    "learning.reading": ("ReadOptions",),
    "learning.models": ("build_model", "load_user_model"),
    "learning.loop": ("run", "run_rounds", "run_round", "Oracle", "SimulatedOracle", "round_seed"),
    "learning.build": ("build_run",),
    "learning.compare": ("ComparePlan", "Comparison", "run_comparison"),
    "learning.playground": ("Playground",),
    "service.explorer": ("Explorer",),
    "service.runstore": ("RunStore",),
    "service.jobs": ("Job",),
    "service.executors": ("execute_comparison", "check_executor"),
}
_PUBLIC = {name: f"bait_core.{module}" for module, names in _HOMES.items() for name in names}

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
