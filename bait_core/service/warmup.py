"""Pay the one-off costs of a fresh server before anyone waits for them: torch's first round
(:func:`warm_compute`) and the maps of the built-in datasets (:func:`warm_layouts`).

The first training step of a process (autograd and optimizer set-up, kernel selection) and the
first BAIT selection (LAPACK routines: Cholesky, inverse, batched solves) cost about a second more
than later ones on a CPU. `warm_compute` runs one tiny round (a small MLP on a generated toy set,
a BAIT pick of 2 points) so an app can do it once per server in a background thread, the way UMAP
is warmed. It changes no global state: the model, data and RNGs are its own.
"""

from __future__ import annotations

import time

from typing import Any, Callable, Iterable, Optional

from bait_core.common.threads import single_cpu_thread


def warm_compute(single_thread: bool = True) -> float:
    """Run one tiny round; return the seconds it took. Exceptions propagate (callers may ignore them)."""
    from bait_core.learning.data import load_builtin
    from bait_core.service.explorer import Explorer
    from bait_core.records.run_record import RunConfig
    from bait_core.learning.models import build_model

    t0 = time.perf_counter()
    with single_cpu_thread(single_thread):
        ds = load_builtin("blobs", seed=0, n_points=120)
        config = RunConfig(data="builtin:blobs", model="mlp", strategy="bait", rounds=1, batch_size=2,
                           initial=8, seed=0)
        model = build_model("mlp", ds.input_shape, len(ds.classes), seed=0)
        Explorer.start(ds, model, config).step()
    return time.perf_counter() - t0


def warm_layouts(store: Any, default: str = "digits", others: Optional[Iterable[str]] = None, seed: int = 0,
                 log: Optional[Callable[[str], None]] = None, idle_poll_s: float = 0.5,
                 stop: Optional[Callable[[], bool]] = None,
                 elsewhere: Optional[Callable[[str, int], str]] = None) -> list[tuple[str, str, float]]:
    """The input UMAP maps of the built-in datasets, ready in ``store`` (a
    :class:`bait_core.viz.projection.LayoutStore`, with its disk cache attached as ``store.disk``):
    first the ``default`` dataset's (read from disk, else computed at once), then the store's
    warm-up fits (umap-learn's compiled kernels for the maps a run asks for later), then each of
    ``others`` (default: the rest of layout_cache.BUILTIN_LAYOUT_DATASETS), smallest first, each
    started only while the store computes nothing else, so a layout someone is waiting for never
    queues behind them. Every computed layout is written to disk by the store.

    ``elsewhere(name, seed)``: computes one of ``others`` outside this process (the app: in the layout
    worker, which loads the dataset itself, so the server's process never loads it) and returns
    "disk" or "computed"; those maps are then read from disk when a page asks for them.

    Datasets are loaded with split seed ``seed`` (the default run's). Blocks until done: call it in
    a background thread. ``stop()`` True ends it between datasets. Returns (dataset, "disk" |
    "computed" | "error: ..." | "ready", seconds) per dataset; ``log`` gets one line each. Errors are
    reported, never raised (a page that needs the map computes it or says why it failed)."""
    import numpy as np

    from bait_core.learning.data import load_builtin
    from bait_core.viz.layout_cache import BUILTIN_LAYOUT_DATASETS, input_names

    names = [default] + [n for n in (BUILTIN_LAYOUT_DATASETS if others is None else others) if n != default]
    out: list[tuple[str, str, float]] = []
    for i, name in enumerate(names):
        if stop is not None and stop():
            break
        if i == 1:
            store.warm_up()                        # the JIT for other maps (model embeddings, ≥ 4096 points)
            while store.warming and not (stop is not None and stop()):
                time.sleep(idle_poll_s)
        while i > 0 and store.busy and not (stop is not None and stop()):
            time.sleep(idle_poll_s)                # lower priority: after whatever the pages asked for
        t0 = time.perf_counter()
        try:
            if i > 0 and elsewhere is not None:
                how = elsewhere(name, seed)
                seconds = time.perf_counter() - t0
                out.append((name, how, seconds))
                if log is not None:
                    log(f"layout warm-up: {name} UMAP {how} in {seconds:.2f} s (layout worker)")
                continue
            ds = load_builtin(name, seed=seed)
            pkey, ukey, fname = input_names(ds.fingerprint)
            X = np.asarray(ds.X)
            if store.get(ukey) is not None:
                how = "ready"
            elif store.from_disk(ukey, fname, len(X)) is not None:
                how = "disk"
            else:
                pca = store.get(pkey)
                if pca is None:
                    pca = store.pca_now(pkey, X)
                store.umap_async(ukey, X, init=pca, disk_name=fname)
                status = store.wait(ukey)
                how = "computed" if status == "ready" else status
        except Exception as e:                     # e.g. a dataset package missing: the others go on
            how = f"error: {type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        out.append((name, how, seconds))
        if log is not None:
            log(f"layout warm-up: {name} UMAP {how} in {seconds:.2f} s")
    return out
