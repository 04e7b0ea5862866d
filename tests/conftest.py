"""Test-wide settings: the unit and AppTest suites never pay UMAP's JIT (the browser suite's
server process is started with its own environment)."""

import os

os.environ.setdefault("BAIT_EXPLORER_NO_UMAP", "1")


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
import tempfile  # noqa: E402

os.environ.setdefault("BAIT_EXPLORER_RUNS_DIR", tempfile.mkdtemp(prefix="bait-test-runs-"))
