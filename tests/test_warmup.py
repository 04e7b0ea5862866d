"""The once-per-server warm-up round: runs, and leaves global state alone."""

import time

import torch

from bait_core.service.warmup import warm_compute


def test_warm_compute_runs_a_round_without_touching_global_state(monkeypatch):
    from bait_core.service.explorer import Explorer

    real_step, steps = Explorer.step, []

    def step(self, *a, **kw):                   # one real round, on one CPU thread, timed here
        t0 = time.perf_counter()
        out = real_step(self, *a, **kw)
        steps.append((time.perf_counter() - t0, torch.get_num_threads(), len(self.rounds)))
        return out
    monkeypatch.setattr(Explorer, "step", step)
    threads = torch.get_num_threads()
    rng = torch.get_rng_state().clone()
    seconds = warm_compute()
    assert len(steps) == 1 and steps[0][1:] == (1, 1)              # the round ran and was recorded
    assert steps[0][0] <= seconds                                   # the time returned covers it
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
