"""The once-per-server warm-up round: runs, and leaves global state alone."""

import torch

from bait_core.service.warmup import warm_compute


def test_warm_compute_runs_a_round_without_touching_global_state():
    threads = torch.get_num_threads()
    rng = torch.get_rng_state().clone()
    seconds = warm_compute()
    assert seconds > 0
    assert torch.get_num_threads() == threads
    assert torch.equal(torch.get_rng_state(), rng)
