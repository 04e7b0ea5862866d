"""Pay torch's one-off first-call costs before the first real round.

The first training step of a process (autograd and optimizer set-up, kernel selection) and the
first BAIT selection (LAPACK routines: Cholesky, inverse, batched solves) cost about a second more
than later ones on a CPU. `warm_compute` runs one tiny round (a small MLP on a generated toy set,
a BAIT pick of 2 points) so an app can do it once per server in a background thread, the way UMAP
is warmed. It changes no global state: the model, data and RNGs are its own.
"""

from __future__ import annotations

import time

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
