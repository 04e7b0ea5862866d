"""The thread policy (issue 12, part 2): limit_threads sets torch's and threadpoolctl's counts and restores
both, the policy's choices, threads= on every strategy (validated, same picks on 1 and 2 threads), the
pins of the CLI's --threads and of run_round(threads=). Speed is measured by bench/bench_threads.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from bait_core.__main__ import main
from bait_core.common import threads as T
from bait_core.common.threads import (check_threads, choose_threads, idle_cores, limit_threads, pinned_threads,
                                      single_cpu_thread, usable_cores)
from bait_core.selection.registry import SPECS, STRATEGIES

TWO = pytest.mark.skipif(usable_cores() < 2, reason="needs two usable cores")


def _counts() -> tuple[int, list[int]]:
    """(torch's thread count, every threadpoolctl-controlled library's count)."""
    return torch.get_num_threads(), [lib["num_threads"] for lib in threadpool_info()]


@pytest.fixture
def two_threads():
    """The caller's settings are 2 threads everywhere (torch and every BLAS/OpenMP pool), restored after."""
    before = _counts()
    from threadpoolctl import threadpool_limits
    saved = torch.get_num_threads()
    with threadpool_limits(2):
        torch.set_num_threads(2)
        yield _counts()
    torch.set_num_threads(saved)
    assert _counts() == before


def _pool(N=300, d=8, K=4, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=(N, d))
    z = rng.normal(size=(N, K)) * 2
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    return h, p, np.arange(0, N, 15)


# ----------------------------------------------------------------------------- limit_threads

@TWO
def test_limit_threads_sets_torch_and_every_blas_pool_and_restores_both(two_threads):
    torch_before, libs_before = two_threads
    assert torch_before == 2 and set(libs_before) == {2}
    with limit_threads(1):
        torch_in, libs_in = _counts()
        assert torch_in == 1
        assert libs_in and set(libs_in) == {1}                 # OpenBLAS below numpy/scipy and OpenMP
    assert _counts() == two_threads


@TWO
def test_limit_threads_restores_after_an_error(two_threads):
    with pytest.raises(RuntimeError, match="boom"):
        with limit_threads(1):
            assert _counts()[0] == 1
            raise RuntimeError("boom")
    assert _counts() == two_threads


@TWO
def test_a_strategy_runs_on_the_count_it_is_given_and_restores_the_callers(two_threads):
    h, p, lab = _pool()
    for n in (1, 2):
        seen = []
        STRATEGIES["bait"](h, p, lab, 3, threads=n, progress=lambda *a: seen.append(_counts()))
        assert seen and all(t == n and set(libs) == {n} for t, libs in seen)
        assert _counts() == two_threads
    with pytest.raises(ValueError):                            # an error inside also restores
        STRATEGIES["bait"](h, p, lab, 3, threads=1, lamb=-1.0)
    assert _counts() == two_threads


# ----------------------------------------------------------------------------- validation

@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", 2.0])
def test_bad_thread_counts_are_refused_with_a_sentence(bad):
    with pytest.raises(ValueError, match=r"threads must be a whole number of CPU threads from 1 to \d+, got .*"
                                         r"leave it unset to let the thread policy choose\."):
        check_threads(bad)
    h, p, lab = _pool()
    for name, fn in STRATEGIES.items():
        with pytest.raises(ValueError, match="threads must be a whole number"):
            fn(h, p, lab, 3, threads=bad)


def test_more_threads_than_cores_is_refused_not_clamped():
    n = usable_cores() + 1
    with pytest.raises(ValueError, match=rf"threads={n} is more than the {n - 1} CPU cores this process can use; "
                                         rf"give at most {n - 1}"):
        check_threads(n)
    with pytest.raises(ValueError, match="more than the"):
        STRATEGIES["margin"](*_pool(), 3, threads=n)
    with pytest.raises(ValueError, match="more than the"):
        with limit_threads(n):
            pass


def test_threads_is_a_common_keyword_not_a_strategy_option():
    from bait_core.records.run_record import RunConfig
    from bait_core.selection.registry import COMMON_KEYWORDS, run_options
    assert "threads" in COMMON_KEYWORDS and "threads" not in run_options()
    for name, spec in SPECS.items():
        assert getattr(spec.fn, "thread_policy", None) == name, name      # every strategy wears the policy
        assert "threads" not in spec.options and "threads" not in spec.engine_options
        assert "threads" not in RunConfig(strategy=name).strategy_options()
    with pytest.raises(ValueError, match="It takes only seed, device, dtype, progress, memory_limit and threads"):
        STRATEGIES["entropy"](*_pool(), 3, thread=1)


# ----------------------------------------------------------------------------- the picks

@TWO
@pytest.mark.parametrize("name", list(STRATEGIES))
def test_one_and_two_threads_pick_the_same_points(name):
    h, p, lab = _pool(N=1500, d=24, K=6, seed=3)
    a = STRATEGIES[name](h, p, lab, 12, seed=5, threads=1)
    b = STRATEGIES[name](h, p, lab, 12, seed=5, threads=2)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert len(set(a.indices.tolist())) == 12


# ----------------------------------------------------------------------------- the policy

def test_a_requested_count_wins_over_the_work(monkeypatch):
    monkeypatch.setattr(T, "idle_cores", lambda **kw: pytest.fail("a request must not measure"))
    assert choose_threads(1e18, requested=1) == 1
    assert choose_threads(0.0, requested=usable_cores()) == usable_cores()
    with pytest.raises(ValueError, match="whole number"):
        choose_threads(1.0, requested=0)


def test_small_work_runs_on_one_thread_without_measuring(monkeypatch):
    monkeypatch.setattr(T, "usable_cores", lambda: 8)
    monkeypatch.setattr(T, "idle_cores", lambda **kw: pytest.fail("small work must not measure"))
    for work in (0.0, T.SMALL_WORK_MADDS / 2, float("nan"), -5.0):
        assert choose_threads(work) == 1


@pytest.mark.parametrize("idle, expected", [(8.0, 8), (6.8, 7), (6.6, 6), (1.0, 1), (0.2, 1), (0.0, 1)])
def test_large_work_gets_the_idle_cores(monkeypatch, idle, expected):
    monkeypatch.setattr(T, "usable_cores", lambda: 8)
    monkeypatch.setattr(T, "idle_cores", lambda **kw: idle)
    assert choose_threads(T.SMALL_WORK_MADDS * 10) == expected
    assert choose_threads(float("inf")) == expected


def test_one_busy_core_of_two_means_one_thread(monkeypatch):
    monkeypatch.setattr(T, "usable_cores", lambda: 2)
    monkeypatch.setattr(T, "idle_cores", lambda **kw: 1.05)        # another process spins on one core
    assert choose_threads(1e13) == 1
    monkeypatch.setattr(T, "idle_cores", lambda **kw: 1.95)        # a quiet machine
    assert choose_threads(1e13) == 2


def test_idle_cores_subtracts_this_process_and_is_cached(monkeypatch):
    """Two cores; over a 0.5 s interval the cores were busy 0.9 CPU-s, 0.4 of them this process's own:
    others used 1.0 core, so 1.0 is idle. Within max_age the value is reused without measuring."""
    snaps = iter([(10.0, 100.0, 5.0), (10.5, 100.9, 5.4)])
    calls = []
    monkeypatch.setattr(T, "_busy_snapshot", lambda cpus: calls.append(cpus) or next(snaps))
    monkeypatch.setattr(T, "_idle_cache", None)
    monkeypatch.setattr(T.time, "sleep", lambda s: None)
    monkeypatch.setattr(T.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert idle_cores(max_age=60) == pytest.approx(1.0)
    assert idle_cores(max_age=60) == pytest.approx(1.0) and len(calls) == 2   # cached: no new snapshot
    snaps2 = iter([(20.0, 0.0, 0.0), (21.0, 3.0, 0.0)])                      # more than all: clamped to 0
    monkeypatch.setattr(T, "_busy_snapshot", lambda cpus: next(snaps2))
    assert idle_cores(max_age=0) == 0.0


def test_idle_cores_measures_a_number_in_range():
    v = idle_cores(max_age=0, interval=0.02)
    assert 0.0 <= v <= usable_cores()


# ----------------------------------------------------------------------------- pins

@TWO
def test_a_pin_is_kept_by_strategies_and_an_explicit_count_wins(two_threads):
    h, p, lab = _pool()
    seen = []
    record = lambda *a: seen.append(torch.get_num_threads())     # noqa: E731
    with limit_threads(2, pin=True):
        assert pinned_threads() == 2
        STRATEGIES["bait"](h, p, lab, 3, progress=record)     # small work, but the pin says 2
        assert set(seen) == {2}
        seen.clear()
        STRATEGIES["bait"](h, p, lab, 3, progress=record, threads=1)
        assert set(seen) == {1}
        with single_cpu_thread(True):                           # a nested pin keeps the outer one
            assert pinned_threads() == 2 and torch.get_num_threads() == 2
    assert pinned_threads() is None
    with single_cpu_thread(True):                               # the app's one-thread block
        assert pinned_threads() == 1
        seen.clear()
        STRATEGIES["bait"](h, p, lab, 3, progress=record)
        assert set(seen) == {1}
    assert pinned_threads() is None and _counts() == two_threads


@TWO
def test_the_app_round_block_leaves_a_large_selection_to_its_policy(two_threads, monkeypatch):
    """single_cpu_thread(True, pin=False) (the app's round job): torch on one thread for training and
    outputs, nothing pinned, so a large selection gets the idle cores its policy measures and a
    small one stays on one thread; the caller's count is back afterwards."""
    import bait_core.common.threads as T

    h, p, lab = _pool()
    seen = []
    record = lambda *a: seen.append(torch.get_num_threads())     # noqa: E731
    monkeypatch.setattr(T, "idle_cores", lambda **kw: 2.0)
    with single_cpu_thread(True, pin=False):
        assert pinned_threads() is None and torch.get_num_threads() == 1
        STRATEGIES["bait"](h, p, lab, 3, progress=record)      # small work: one thread
        assert set(seen) == {1}
        seen.clear()
        monkeypatch.setattr(T, "SMALL_WORK_MADDS", 0.0)        # as if it were large
        STRATEGIES["bait"](h, p, lab, 3, progress=record)
        assert set(seen) == {2}
        assert torch.get_num_threads() == 1
    assert pinned_threads() is None and _counts() == two_threads


@TWO
def test_idle_cores_counts_another_busy_thread_of_this_process_as_busy():
    """A thread of this process spinning on a core (the app's UMAP warm-up) is not idle capacity."""
    import threading
    import time as _time

    stop = threading.Event()

    def spin():
        x = 0
        while not stop.is_set():
            x += 1

    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        _time.sleep(0.05)
        idle = idle_cores(max_age=0, interval=0.3)
    finally:
        stop.set()
        t.join()
    assert idle <= usable_cores() - 0.6, idle


@TWO
def test_run_rounds_threads_pins_the_whole_round(moons, small_config, two_threads):
    from bait_core.learning.loop import run_rounds
    from bait_core.learning.models import build_model

    seen = []

    def hook(state):
        seen.append((pinned_threads(), torch.get_num_threads()))
        return {}

    cfg = small_config(rounds=1)
    model = build_model("mlp", moons.input_shape, len(moons.classes), seed=0)
    rounds = list(run_rounds(moons, model, cfg, hooks=[hook], threads=2))
    assert len(rounds) == 2 and seen == [(2, 2), (2, 2)]
    assert pinned_threads() is None and _counts() == two_threads
    with pytest.raises(ValueError, match="whole number"):
        list(run_rounds(moons, model, cfg, threads=0))


# ----------------------------------------------------------------------------- CLI

@pytest.fixture
def npy(tmp_path):
    h, p, lab = _pool(N=60)
    for k, v in (("E", h), ("P", p), ("L", lab)):
        np.save(tmp_path / f"{k}.npy", v)
    return tmp_path


def _select(npy, *extra):
    return main(["select", "--embeddings", str(npy / "E.npy"), "--probs", str(npy / "P.npy"), "--labeled",
                 str(npy / "L.npy"), "--batch-size", "3", *extra])


def test_cli_select_takes_threads_and_picks_the_same(npy, capsys):
    import json
    assert _select(npy) == 0
    default = json.loads(capsys.readouterr().out)["indices"]
    assert _select(npy, "--threads", "1") == 0
    assert json.loads(capsys.readouterr().out)["indices"] == default
    assert pinned_threads() is None


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", str(usable_cores() + 1)])
def test_cli_bad_threads_is_one_line_exit_2(npy, capsys, value):
    assert _select(npy, "--threads", value) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: argument --threads: ") and "thread policy" in err[0]
    for cmd in (["run", "--data", "builtin:moons"], ["compare", "--data", "builtin:moons", "--out", str(npy / "c")]):
        assert main([*cmd, "--threads", value]) == 2
        assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_cli_threads_help_says_what_it_does(capsys):
    for cmd in ("select", "run", "compare"):
        with pytest.raises(SystemExit):
            main([cmd, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "--threads N CPU threads for" in out and "idle cores for large work" in out
