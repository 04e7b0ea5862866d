"""One registry: strategy name -> selection function, all with the same call shape

    fn(embeddings, probs, labeled, batch_size, *, seed=0, device=None, dtype=torch.float64,
       progress=None, **options) -> Selection
"""

from __future__ import annotations

from typing import Callable, Dict

from bait_core.selection import baselines
from bait_core.selection.bait import bait_select
from bait_core.selection.base import Selection

StrategyFn = Callable[..., Selection]

STRATEGIES: Dict[str, StrategyFn] = {
    "bait": bait_select,
    "random": baselines.random_select,
    "entropy": baselines.entropy_select,
    "margin": baselines.margin_select,
    "confidence": baselines.confidence_select,
    "badge": baselines.badge_select,
    "badge-sklearn": baselines.badge_sklearn_select,
    "coreset": baselines.coreset_select,
}


def get_strategy(name: str) -> StrategyFn:
    """The registered function for `name`; ValueError listing the known names otherwise."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(f"Unknown strategy '{name}'. Known strategies: {', '.join(STRATEGIES)}.") from None
