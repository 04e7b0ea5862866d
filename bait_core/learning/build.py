"""From a config to the run's objects: the checks made before any training.

`check_run` refuses, with a sentence, a run whose largest selection would not fit in memory.
"""

from __future__ import annotations

from typing import Any, Optional

from bait_core.learning.train import pick_device
from bait_core.selection.estimate import available_memory, check_fits, estimate


def check_run(config: Any, dataset: Any, model: Any, limit: Optional[int] = None) -> None:
    """Refuse (ValueError, check_fits' sentence) a run whose largest selection would not fit, before
    any training: every round's sizes are known up front (N, K, the model's embedding size d,
    n = initial + r·B). `limit`: bytes (None: the device's available memory). Used by the CLI's
    run/compare and the app's Setup."""
    d = int(getattr(model, "embedding_dim", 0) or 0)
    if d <= 0 or config.rounds < 1:
        return
    N = int(dataset.X.shape[0])
    K = len(dataset.classes) if dataset.task == "classification" else 1
    B = config.batch_size
    device = pick_device(None if config.device == "auto" else config.device)
    dtype_options = {"oversample": config.oversample} if config.strategy == "bait" else {}
    worst = None
    for n in sorted({min(config.initial, N), min(N - 1, config.initial + (config.rounds - 1) * B)}):
        est = estimate(config.strategy, N, d, K, min(B, N - n), n, device=device, **dtype_options)
        if worst is None or est.bytes > worst.bytes:
            worst = est
    if limit is not None:
        check_fits(worst, limit, 1.0, limit_given=True)
    else:
        check_fits(worst, available_memory(worst.device))
