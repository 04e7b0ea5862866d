"""Stopping a selection: raising in progress cancels every strategy, quickly for the long greedy ones,
and run_rounds / Explorer turn a stop during selection into a discarded round."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bait_core import STRATEGIES
from bait_core.service.explorer import Explorer
from bait_core.learning.loop import run_rounds
from bait_core.learning.models import build_model


class Stop(Exception):
    pass


def _pool(n, d, k, n_labeled, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(n, d))
    z = 2.0 * rng.normal(size=(n, k))
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    mask = np.zeros(n, bool)
    mask[rng.choice(n, n_labeled, replace=False)] = True
    return h, p, mask


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_raising_in_progress_cancels_every_strategy(name):
    h, p, mask = _pool(60, 5, 3, 12)
    calls = []

    def progress(phase, step, total, value):
        calls.append((phase, step, total))
        raise Stop

    with pytest.raises(Stop):
        STRATEGIES[name](h, p, mask, 7, progress=progress)
    assert len(calls) == 1                                   # the exception went straight through


@pytest.mark.parametrize("name, sizes, B, phase", [
    ("bait", (800, 6, 3, 10), 40, "forward"),
    ("badge", (20000, 32, 10, 20), 1500, "select"),
    ("coreset", (10000, 16, 3, 20), 200, "select"),
])
def test_a_long_selection_stops_after_its_first_greedy_step(name, sizes, B, phase):
    h, p, mask = _pool(*sizes)
    fn = STRATEGIES[name]
    t0 = time.perf_counter()
    fn(h, p, mask, B)
    full = time.perf_counter() - t0

    def progress(ph, step, total, value):
        if ph == phase and step >= 1:
            raise Stop

    t0 = time.perf_counter()
    with pytest.raises(Stop):
        fn(h, p, mask, B, progress=progress)
    stopped = time.perf_counter() - t0
    assert stopped < 0.5 * full, (stopped, full)


def test_run_rounds_discards_a_round_stopped_during_selection(moons, small_config):
    cfg = small_config(strategy="badge", rounds=2, batch_size=30)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    flag = {"stop": False}
    select_calls = []

    def progress(stage, done, total, info):
        if stage.startswith("select:"):
            select_calls.append(done)
            flag["stop"] = True                              # Stop pressed once the selection has begun

    rounds = list(run_rounds(moons, model, cfg, progress=progress, should_stop=lambda: flag["stop"]))
    assert rounds == []                                      # the stopped round is not yielded
    assert select_calls == [0]                               # nothing ran after the first progress call


def test_explorer_step_stopped_during_selection_changes_nothing(moons, small_config):
    cfg = small_config(strategy="bait", rounds=2)
    ex = Explorer.start(moons, build_model("mlp", moons.input_shape, len(moons.classes), seed=0), cfg)
    before = ex.mask.copy()
    flag = {"stop": False}

    def progress(stage, done, total, info):
        if stage.startswith("select:"):
            flag["stop"] = True

    assert ex.step(progress=progress, should_stop=lambda: flag["stop"]) is None
    assert ex.rounds == [] and np.array_equal(ex.mask, before)
    assert ex.step() is not None                             # and the run goes on normally afterwards
