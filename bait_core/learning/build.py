"""From a config to the run's objects: the checks made before any training.

`build_run` is the one builder: a `RunConfig` (+ an optional already loaded or uploaded dataset, an
optional model file or weights, read options) → `BuiltRun(dataset, model)`, the model holding the
run's initial weights, with config.validate and the memory check (`check_run`) done. Its two steps,
`load_run_dataset` and `build_run_model`, serve the callers that need only one (a comparison's
per-seed loader and model builder, a record's reloaded built-in dataset). Used by
`learning.loop.run`, the CLI's run/compare, the app's Setup and Compare, `Explorer.from_record`.

`check_run` refuses, with a sentence, a run whose largest selection would not fit in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from bait_core.learning.train import pick_device
from bait_core.selection.estimate import approximation_offer, available_memory, check_fits, estimate


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
    dtype_options = {k: v for k, v in config.strategy_options().items()
                     if k in ("oversample", "approximation", "top_classes", "pool_sample")}
    worst = None
    for n in sorted({min(config.initial, N), min(N - 1, config.initial + (config.rounds - 1) * B)}):
        est = estimate(config.strategy, N, d, K, min(B, N - n), n, device=device, **dtype_options)
        if worst is None or est.bytes > worst.bytes:
            worst = est
    if limit is not None:
        check_fits(worst, limit, 1.0, limit_given=True)
    else:
        check_fits(worst, available_memory(worst.device))


def run_offer(config: Any, dataset: Any, model: Any, where: str = "Setup > Approximation") -> Optional[str]:
    """estimate.approximation_offer's sentence for this run's first selection when its strategy is exact
    BAIT (no approximation, no pool sample) and that is estimated to take longer than
    APPROX_OFFER_SECONDS; None otherwise. `where` says how to choose an approximation (the app's widget,
    the CLI's flags). Nothing is switched: the caller shows the sentence."""
    if "approximation" not in config.strategy_options() or config.approximation != "none" or config.pool_sample:
        return None
    d = int(getattr(model, "embedding_dim", 0) or 0)
    if d <= 0 or config.rounds < 1:
        return None
    N = int(dataset.X.shape[0])
    K = len(dataset.classes) if dataset.task == "classification" else 1
    n = min(config.initial, N - 1)
    device = pick_device(None if config.device == "auto" else config.device)
    return approximation_offer(N, d, K, min(config.batch_size, N - n), n, device=device,
                               oversample=config.oversample, where=where, top_classes=config.top_classes)


@dataclass
class BuiltRun:
    """A run's objects: the dataset and the model (its current weights are the run's initial weights)."""

    dataset: Any
    model: Any


def load_run_dataset(config: Any, *, seed: Optional[int] = None, read_options: Any = None,
                     builtin_only: bool = False) -> Any:
    """The dataset `config.data` names ("builtin:NAME" or a file path), split with `seed`
    (default config.seed); config.label_column and `read_options` (ReadOptions) apply to files.
    builtin_only: refuse a file path (ValueError with a sentence: the app needs an upload)."""
    from bait_core.learning.data import load_builtin, load_dataset
    seed = config.seed if seed is None else seed
    data = str(config.data)
    if data.startswith("builtin:"):
        return load_builtin(data.split(":", 1)[1], seed=seed)
    if builtin_only:
        raise ValueError("Upload a data file first (or pick a built-in dataset).")
    kw: dict = {"label_column": config.label_column} if config.label_column else {}
    if read_options is not None:
        kw["options"] = read_options
    return load_dataset(data, seed=seed, **kw)


def build_run_model(config: Any, dataset: Any, *, model_file: Union[bytes, str, Path, None] = None,
                    model_filename: Optional[str] = None, arch: Optional[str] = None,
                    seed: Optional[int] = None, builtin_only: bool = False) -> Any:
    """The model a run starts from, with its initial weights: the built-in architecture config.model
    seeded with `seed` (default config.seed), or `model_file` (bytes of an upload or a path: a
    .pt2 program, or weights for the architecture `arch`), or, when config.model is not a built-in
    name, the file at that path (not with `builtin_only`: the app has uploads). The output size is
    K (classification) or 1. ValueError with a sentence for an unknown model, a missing file or a
    file that cannot be used; OSError when an existing path cannot be read (permissions). Source: the CLI's, the app's and run()'s builders."""
    from bait_core.learning.models import MODEL_NAMES, build_model, load_user_model
    seed = config.seed if seed is None else seed
    n_out = len(dataset.classes) if dataset.task == "classification" else 1
    if model_file is None:
        if config.model in MODEL_NAMES:
            return build_model(config.model, dataset.input_shape, n_out, seed=seed)
        if builtin_only or not Path(str(config.model)).is_file():
            raise ValueError(f"Unknown model '{config.model}'. Built-in models: {', '.join(MODEL_NAMES)}.")
        model_file = Path(config.model)
    if isinstance(model_file, (str, Path)):
        model_file = Path(model_file)
        if not model_file.is_file():
            raise ValueError(f"The model file {str(model_file)!r} does not exist or is not a file.")
        model_filename = model_filename or model_file.name
    return load_user_model(model_file, filename=model_filename, arch=arch, input_shape=dataset.input_shape,
                           n_outputs=n_out, seed=seed, sample=np.asarray(dataset.X[:4]))


def build_run(config: Any, *, dataset: Any = None, model: Any = None,
              model_file: Union[bytes, str, Path, None] = None, model_filename: Optional[str] = None,
              arch: Optional[str] = None, read_options: Any = None, builtin_only: bool = False,
              check_memory: bool = True, memory_limit: Optional[int] = None) -> BuiltRun:
    """A run's objects from its config: the dataset (unless given: `load_run_dataset`), config.validate
    on it, the model (unless given: `build_run_model`), then, with `check_memory`, `check_run`
    (`memory_limit` bytes; None: the device's free memory). `builtin_only`: no file paths in the config
    (data and model are built-in or given). ValueError with a sentence otherwise."""
    if dataset is None:
        dataset = load_run_dataset(config, read_options=read_options, builtin_only=builtin_only)
    config.validate(dataset.task, dataset.X.shape[0])
    if model is None:
        model = build_run_model(config, dataset, model_file=model_file, model_filename=model_filename, arch=arch,
                                builtin_only=builtin_only)
    if memory_limit is not None and (isinstance(memory_limit, bool) or not isinstance(memory_limit, (int, np.integer))
                                     or memory_limit <= 0):
        raise ValueError(f"memory_limit must be a positive number of bytes (see estimate.parse_bytes for '8G'), "
                         f"got {memory_limit!r}.")
    if check_memory:
        check_run(config, dataset, model, memory_limit)
    return BuiltRun(dataset=dataset, model=model)
