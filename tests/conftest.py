"""Test-wide settings: the app under AppTest never starts UMAP (the browser suite's server process is
started with its own environment); the one real-UMAP test keeps numba's compiled kernels in a cache."""

import os

os.environ.setdefault("BAIT_EXPLORER_NO_UMAP", "1")

# test_projection runs real UMAP once: numba compiles umap-learn's kernels (20-30 s on 2 cores) and,
# with a cache folder it can write, keeps them for the next run (then about 10 s). Outside the
# checkout, so nothing to ignore; set before numba is first imported.
import tempfile  # noqa: E402

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(tempfile.gettempdir(), "bait-explorer-numba-cache"))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def moons():
    """A small built-in pool (300 points) shared by the loop and explorer tests."""
    from bait_core.learning.data import load_builtin
    return load_builtin("moons", seed=0, n_points=300)


@pytest.fixture(scope="session")
def small_config():
    """Factory of a short, CPU, BAIT-on-moons RunConfig; keyword arguments override fields."""
    from bait_core.records.run_record import RunConfig

    def make(**kw):
        base = dict(data="builtin:moons", model="mlp", strategy="bait", rounds=3, batch_size=5, initial=10,
                    seed=0, device="cpu")
        base.update(kw)
        return RunConfig(**base)
    return make


# Runs are saved after every round (bait_core.service.runstore): the tests write them to a throw-away folder,
# never into the checkout's ./runs.
os.environ.setdefault("BAIT_EXPLORER_RUNS_DIR", tempfile.mkdtemp(prefix="bait-test-runs-"))
# ... and their layout cache (bait_core.viz.layout_cache) to another one, never beside a shared folder.
os.environ.setdefault("BAIT_EXPLORER_CACHE_DIR", tempfile.mkdtemp(prefix="bait-test-layouts-"))
