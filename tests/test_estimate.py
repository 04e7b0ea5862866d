"""bait_core.selection.estimate: estimates grow as the code allocates, refusals come before any allocation and
in a sentence, every strategy is guarded, and the BAIT estimate matches a measured peak (factor 2)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from bait_core import STRATEGIES
from bait_core.selection.estimate import (Estimate, available_memory, check_fits, estimate, format_bytes, parse_bytes,
                                sizes_of)

REPO = Path(__file__).resolve().parents[1]


def _pool(N: int, d: int, K: int, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((N, d)).astype(np.float32)
    z = rng.standard_normal((N, K))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return h, p, np.arange(n)


def test_estimates_grow_with_the_sizes_they_allocate():
    base = estimate("bait", 2000, 100, 10, 10, 200, setup="dense")
    # D = (K−1)·d doubles -> the two D×D matrices quadruple
    big = estimate("bait", 2000, 200, 10, 10, 200, setup="dense")
    dd = 2 * (1800 ** 2 - 900 ** 2) * 8                         # two D×D float64 matrices more
    assert big.bytes - base.bytes >= dd and big.parts["D = (K−1)·d = 1,800: two 1,800×1,800 float64 matrices"] == 2 * 1800 ** 2 * 8
    assert estimate("bait", 2000, 100, 10, 10, 200, dtype=torch.float32).bytes < base.bytes
    assert estimate("bait", 4000, 100, 10, 10, 200, setup="dense").bytes > base.bytes
    # the D×D matrices are the named, dominant part of a wide-embedding BAIT
    wide = estimate("bait", 1000, 10_000, 4, 10, 20, setup="dense")
    assert wide.parts[next(k for k in wide.parts if "30,000×30,000" in k)] == 2 * 30_000 ** 2 * 8
    assert "D = (K−1)·d = 30,000" in wide.detail
    # "auto" keeps no D×D matrix there (the factored state): J and its companions, D × (n + steps)·(K−1)
    auto = estimate("bait", 1000, 10_000, 4, 10, 20)
    assert "factored (no 30,000×30,000 matrix)" in auto.detail
    assert auto.bytes < wide.bytes / 20 and auto.seconds < wide.seconds
    # badge-sklearn grows with K·d (explicit gradient embeddings); badge (factored) with d + K only;
    # coreset with the pool, never N×N
    assert estimate("badge-sklearn", 10_000, 256, 10, 50, 50).bytes > 1.9 * estimate("badge-sklearn", 10_000, 128, 10, 50, 50).bytes
    wide_k = estimate("badge", 10_000, 256, 100, 50, 50)
    assert wide_k.bytes < 10_000 * 256 * 100 * 8 / 20                # far below one Nu×K·d float64 matrix
    assert wide_k.bytes < 1.1 * estimate("badge", 10_000, 256, 10, 50, 50).bytes + 10_000 * 90 * 8 * 3
    assert estimate("badge", 20_000, 256, 10, 50, 50).bytes < estimate("badge-sklearn", 20_000, 256, 10, 50, 50).bytes / 5
    cs = estimate("coreset", 100_000, 16, 10, 50_000, 10)
    assert cs.bytes < 100_000 ** 2 * 8 / 10
    for name in STRATEGIES:
        e = estimate(name, 1000, 16, 4, 10, 20)
        assert isinstance(e, Estimate) and e.bytes > 0 and e.seconds >= 0 and e.detail
        assert estimate(name, 10_000, 16, 4, 10, 20).bytes > e.bytes


def test_estimate_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown strategy"):
        estimate("nope", 10, 2, 2, 1)
    with pytest.raises(ValueError, match="N must be"):
        estimate("bait", -1, 2, 2, 1)
    with pytest.raises(ValueError, match="dtype"):
        estimate("bait", 10, 2, 2, 1, dtype=torch.int64)


def test_check_fits_sentence():
    est = estimate("bait", 1000, 10_000, 4, 10, 20, setup="dense")
    with pytest.raises(ValueError) as e:
        check_fits(est, 9.8e9)
    msg = str(e.value)
    assert re.match(r"BAIT on this pool needs about 1[45]\.\d GB \(", msg) and "9.8 GB is free" in msg
    assert "two 30,000×30,000 float64 matrices" in msg and "smaller embedding" in msg and "\n" not in msg
    check_fits(est, 1e12)                                       # fits: no error
    assert format_bytes(14.4e9) == "14.4 GB" and parse_bytes("8G") == 8_000_000_000
    assert parse_bytes("1GiB") == 2 ** 30 and parse_bytes(512) == 512
    for bad in ("8X", "-1G", "0", "nan"):
        with pytest.raises(ValueError, match="memory limit"):
            parse_bytes(bad)


def test_available_memory_cpu():
    assert 0 < available_memory("cpu") <= available_memory(None) * 2


def test_wide_linear_pool_is_refused_before_allocating():
    """The 10,000-column CSV with the linear model and 4 classes, dense set-up: D = (4−1)·10,000;
    refused in well under a second."""
    h = np.zeros((1000, 10_000), np.float32)
    p = np.full((1000, 4), 1 / 4)
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"needs about 1[45]\.\d GB .*30,000×30,000") as e:
        STRATEGIES["bait"](h, p, np.arange(20), 10, memory_limit=9.8e9, setup="dense")
    assert time.perf_counter() - t0 < 1.0
    assert "memory limit is 9.8 GB" in str(e.value)
    # with the automatic limit it is refused whenever the machine has less than the estimate free
    if available_memory("cpu") * 0.8 < estimate("bait", 1000, 10_000, 4, 10, 20, setup="dense").bytes:
        with pytest.raises(ValueError, match="is free"):
            STRATEGIES["bait"](h, p, np.arange(20), 10, setup="dense")


def test_wide_linear_pool_runs_factored_within_the_limit():
    """The same pool on "auto": the factored state keeps no D×D matrix, so it fits in a 1 GB limit
    and picks what the low-rank Woodbury set-up would (without building its two 30,000² matrices)."""
    rng = np.random.default_rng(0)
    h = rng.random((1000, 10_000)).astype(np.float32)
    z = rng.standard_normal((1000, 4)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    est = estimate("bait", 1000, 10_000, 4, 10, 20)
    assert est.bytes < 1e9 and "factored" in est.detail
    sel = STRATEGIES["bait"](h, p, np.arange(20), 10, memory_limit="1G")
    assert sel.params["setup"] == "factored" and len(set(sel.indices.tolist())) == 10
    assert sel.objective[-1] > 0 and np.all(np.diff(sel.objective[:sel.n_forward + 1]) <= 0)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_small_memory_limit_refuses_every_strategy(name):
    h, p, lab = _pool(300, 8, 3, 10)
    with pytest.raises(ValueError, match="on this pool needs about .* but the memory limit is 1.0 kB"):
        STRATEGIES[name](h, p, lab, 5, memory_limit=1000)
    sel = STRATEGIES[name](h, p, lab, 5, memory_limit="1G")     # the same call within a limit runs
    assert sel.batch_size == 5


def test_digits_sized_case_passes_with_the_automatic_limit():
    h, p, lab = _pool(1348, 128, 10, 20)
    for name in STRATEGIES:
        assert STRATEGIES[name](h, p, lab, 10).batch_size == 10


def test_guard_leaves_bad_inputs_to_the_strategy():
    assert sizes_of([[1.0]], None, None) is None               # lists: not read, validated later
    with pytest.raises(ValueError, match="2-D"):
        STRATEGIES["bait"](np.ones(5), None, None, 1)
    with pytest.raises(ValueError, match="not a torch device"):
        STRATEGIES["random"](np.ones((5, 2)), None, None, 1, device="bogus")
    with pytest.raises(ValueError, match="memory limit"):
        STRATEGIES["random"](np.ones((5, 2)), None, None, 1, memory_limit="lots")


def test_bait_estimate_matches_measured_peak():
    """Peak resident memory of a fresh process during bait_select (dense and low-rank set-ups) within
    a factor 2 of the estimate (bench/bench_estimate.py's child mode: RSS sampled every ms)."""
    for case in (["bait", 2000, 200, 10, 20, 10], ["bait", 2000, 200, 10, 200, 10]):
        res = subprocess.run([sys.executable, str(REPO / "bench" / "bench_estimate.py"), "--child", json.dumps(case)],
                             capture_output=True, text=True, cwd=REPO, timeout=300)
        assert res.returncode == 0, res.stderr
        r = json.loads(res.stdout.strip().splitlines()[-1])
        ratio = r["est_bytes"] / r["measured_bytes"]
        assert 0.5 < ratio < 2.0, r


def test_a_refused_round_ends_the_app_job_with_the_sentence(moons, small_config, monkeypatch):
    """The app's round worker runs Explorer.step inside a Job; a selection that does not fit in the
    free memory ends the job with the estimator's sentence (no traceback, nothing changed)."""
    import bait_core.selection.estimate as est_mod
    from bait_core.service.explorer import Explorer
    from bait_core.service.jobs import Job
    from bait_core.learning.models import build_model

    cfg = small_config()
    ex = Explorer.start(moons, build_model("mlp", moons.input_shape, len(moons.classes), seed=cfg.seed), cfg)
    monkeypatch.setattr(est_mod, "available_memory", lambda device=None: 1000)
    job = Job(name="1 round(s)", fn=lambda job: ex.step(should_stop=lambda: job.cancelled)).start()
    assert job.join(120)
    assert job.status == "error" and job.error_detail is None
    assert job.error.startswith("BAIT on this pool needs about") and "but 1.0 kB is free" in job.error
    assert len(ex.rounds) == 0


def test_the_app_refuses_at_setup_a_run_whose_selection_would_not_fit(monkeypatch):
    """Setup's Apply (app_services.build_explorer) runs the same check as the CLI, before any training."""
    import app_services as svc
    from bait_core.learning import build
    from bait_core.records.run_record import RunConfig

    monkeypatch.setattr(build, "available_memory", lambda device=None: 1000)     # a machine with 1 kB free
    with pytest.raises(ValueError, match="needs about"):
        svc.build_explorer(RunConfig(data="builtin:digits", model="linear", rounds=2, batch_size=5, initial=10))


def test_estimates_use_the_selection_codes_chunk_sizes():
    """estimate.py cannot import the selection modules (they import it), so it mirrors their chunk
    budgets; a budget changed in one place only would silently skew every estimate."""
    import bait_core.selection.bait as bait
    import bait_core.selection.baselines as baselines
    import bait_core.selection.estimate as est
    import bait_core.selection.fisher as fisher

    assert (est._CHUNK, est._FISHER_CHUNK, est._CORESET_CHUNK) == (
        bait._ROW_CHUNK_ELEMENTS, fisher.CHUNK_ELEMENTS, baselines._CHUNK_ELEMS)
