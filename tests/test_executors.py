"""Executors of a comparison (bait_core.service.executors): sequential, worker processes and Ray give
the same records for the same seeds, a failing run is reported while the others complete, and the
set-up errors are sentences. 2 strategies × 2 seeds × 2 rounds on 300 moons points: each executor
runs the whole comparison once (Ray: a local instance with num_cpus=2, started and shut down here)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from bait_core.learning.compare import ComparePlan, run_comparison, run_record
from bait_core.learning.data import load_builtin
from bait_core.learning.models import build_model
from bait_core.records.run_record import RunConfig
from bait_core.service.executors import (RAY_REQUIREMENT, ExecutorSetup, check_executor, execute_comparison,
                                         failure_sentence)

ROOT = Path(__file__).resolve().parents[1]
PLAN = ComparePlan(base=RunConfig(data="builtin:moons", model="mlp", strategy="bait", rounds=2, batch_size=5,
                                  initial=10, device="cpu"), strategies=("bait", "entropy"), seeds=(0, 1))
PAIRS = [("bait", 0), ("entropy", 0), ("bait", 1), ("entropy", 1)]


def _load(seed):
    return load_builtin("moons", seed=seed, n_points=300)


def _build(ds, seed):
    return build_model("mlp", ds.input_shape, len(ds.classes), seed=seed)


def _fails_for_entropy_seed_1(config, dataset, model, should_stop=None):
    """The test hook (run_fn): entropy with seed 1 raises, every other run is the real one."""
    if (config.strategy, config.seed) == ("entropy", 1):
        raise RuntimeError("injected failure")
    return run_record(config, dataset, model, should_stop=should_stop)


def _rounds(record):
    """What must agree between executors: per round the labels before, the picks and the metric."""
    return [(r.round, r.n_labeled, np.flatnonzero(r.labeled_before).tolist(),
             None if r.selection is None else np.asarray(r.selection.indices).tolist(), r.metric)
            for r in record.rounds]


def _by_run(outcomes):
    return {(o.strategy, o.seed): o for o in outcomes}


@pytest.fixture(scope="module")
def sequential():
    outs = list(execute_comparison(PLAN, _load, _build, check_executor("sequential")))
    assert [(o.strategy, o.seed) for o in outs] == PAIRS and all(o.ok for o in outs)   # plan order, one at a time
    return _by_run(outs)


def test_sequential_is_run_comparison(sequential):
    """The sequential executor's records are those of learning.compare.run_comparison (a fresh model
    per run there, a copy of the seed's model here)."""
    ref = {(e.strategy, e.seed): e.record for e in run_comparison(PLAN, _load, _build) if e.kind == "done"}
    assert set(ref) == set(PAIRS)
    for key in PAIRS:
        assert _rounds(sequential[key].record) == _rounds(ref[key]), key
    assert len(sequential[("bait", 0)].record.rounds) == 3 and sequential[("bait", 0)].record.rounds[1].selection


@pytest.mark.parametrize("executor", ["processes", "ray"])
def test_processes_and_ray_give_the_sequential_records(executor, sequential):
    if executor == "ray":
        pytest.importorskip("ray", reason=f"Ray is an optional extra ({RAY_REQUIREMENT}, requirements-ray.txt)")
    setup = check_executor(executor, workers=2, threads=1)
    assert setup == ExecutorSetup(executor, 2, 1, None)
    outs = list(execute_comparison(PLAN, _load, _build, setup))
    assert sorted((o.strategy, o.seed) for o in outs) == sorted(PAIRS) and all(o.ok for o in outs), \
        [o.error for o in outs]
    assert sorted(o.index for o in outs) == [0, 1, 2, 3] and {o.total for o in outs} == {4}
    for key, o in _by_run(outs).items():
        assert o.record.config.strategy == key[0] and o.record.config.seed == key[1]
        assert _rounds(o.record) == _rounds(sequential[key].record), (executor, key)
        assert o.record.auc() == sequential[key].record.auc()


@pytest.mark.parametrize("executor", ["sequential", "processes"])
def test_a_failing_run_is_reported_and_the_others_complete(executor, sequential):
    setup = check_executor(executor, workers=None if executor == "sequential" else 2)
    outs = list(execute_comparison(PLAN, _load, _build, setup, run_fn=_fails_for_entropy_seed_1))
    failed = [o for o in outs if not o.ok]
    assert len(outs) == 4 and len(failed) == 1
    assert failed[0].error == "The run of entropy with seed 1 failed: RuntimeError: injected failure."
    assert failed[0].record is None and "injected failure" in failed[0].detail      # the traceback is kept
    for o in outs:
        if o.ok:
            assert _rounds(o.record) == _rounds(sequential[(o.strategy, o.seed)].record)


def test_stopping_yields_nothing_more():
    calls = {"n": 0}

    def stop():
        calls["n"] += 1
        return calls["n"] > 1
    outs = list(execute_comparison(PLAN, _load, _build, check_executor("sequential"), should_stop=stop))
    assert outs == []


def test_a_stop_in_worker_processes_drops_the_waiting_runs(sequential):
    """should_stop() turning True after the first finished run: the runs still waiting never start,
    the running one stops at its next check, and the pool is shut down when the generator ends."""
    state = {"stop": False}
    outs = []
    for o in execute_comparison(PLAN, _load, _build, check_executor("processes", workers=2),
                                should_stop=lambda: state["stop"]):
        outs.append(o)
        state["stop"] = True
    assert 1 <= len(outs) <= 2 and all(o.ok for o in outs)
    for o in outs:
        assert _rounds(o.record) == _rounds(sequential[(o.strategy, o.seed)].record)


def test_without_ray_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)                  # `import ray` raises ImportError
    with pytest.raises(ValueError) as e:
        list(execute_comparison(PLAN, _load, _build, check_executor("ray", workers=2)))
    assert str(e.value) == (f"The ray executor needs Ray, which is not installed here: run `pip install -r "
                            f"requirements-ray.txt` ({RAY_REQUIREMENT}), or choose the processes executor (this "
                            "machine's cores, nothing to install).")


def test_the_ray_pin_is_the_one_installed_and_ci_installs_it():
    """requirements-ray.txt pins the version the module names, and requirements-dev.txt (CI) has it too."""
    pins = [ln.strip() for ln in (ROOT / "requirements-ray.txt").read_text().splitlines()
            if ln.strip() and not ln.startswith("#")]
    assert pins == [RAY_REQUIREMENT]
    assert RAY_REQUIREMENT in (ROOT / "requirements-dev.txt").read_text().split()


def test_setup_errors_are_sentences(monkeypatch):
    import bait_core.service.executors as ex
    monkeypatch.setattr(ex, "_usable_cores", lambda: 2)
    assert check_executor("processes") == ExecutorSetup("processes", 2, 1)
    assert check_executor("processes", n_runs=1) == ExecutorSetup("processes", 1, 2)   # no idle worker
    assert check_executor("processes", threads=2) == ExecutorSetup("processes", 1, 2)
    assert check_executor("sequential") == ExecutorSetup("sequential", 1, None)
    assert check_executor("ray", ray_address="auto") == ExecutorSetup("ray", 2, 1, "auto")
    assert check_executor("processes").describe() == "processes: 2 worker processes × 1 CPU thread"
    for kwargs, needle in [
        (dict(executor="threads"), "Unknown executor 'threads'; choose sequential, processes or ray."),
        (dict(executor="processes", workers=0), "workers must be a whole number of 1 or more, got 0."),
        (dict(executor="processes", workers=2.5), "workers must be a whole number"),
        (dict(executor="processes", workers=3), "3 workers × 1 thread is more than the 2 CPU cores here"),
        (dict(executor="processes", workers=2, threads=2), "2 workers × 2 threads is more than the 2 CPU cores"),
        (dict(executor="sequential", workers=2), "runs one run at a time; workers=2 applies to processes or ray"),
        (dict(executor="processes", ray_address="auto"), "applies to the ray executor only"),
        (dict(executor="ray", ray_address=" "), "The Ray address is empty"),
    ]:
        with pytest.raises(ValueError, match=needle.replace("(", r"\(").replace("*", r"\*")):
            check_executor(**kwargs)


def test_failure_sentence_keeps_a_value_errors_own_sentence():
    assert failure_sentence("bait", 3, ValueError("The batch is too large.")) == \
        "The run of bait with seed 3 failed: The batch is too large."
    assert failure_sentence("margin", 0, MemoryError()) == "The run of margin with seed 0 failed: MemoryError."


def test_an_unpicklable_model_is_a_sentence_before_any_run():
    class Local:                                                   # a class defined in a function: no pickle
        pass
    with pytest.raises(ValueError, match="cannot be sent to worker processes .*choose the sequential executor"):
        list(execute_comparison(PLAN, _load, lambda ds, seed: Local(), check_executor("processes", workers=2)))


# ----------------------------------------------------------------------------- the CLI

def test_cli_compare_names_its_executor_and_says_when_seeds_are_few(tmp_path, capsys):
    from bait_core.__main__ import main
    assert main(["compare", "--data", "builtin:moons", "--model", "linear", "--strategies", "random,entropy",
                 "--seeds", "2", "--rounds", "1", "--batch-size", "5", "--initial", "10", "--out", str(tmp_path / "c"),
                 "--executor", "sequential"]) == 0
    cap = capsys.readouterr()
    assert "4 runs (2 strategies × 2 seeds) on sequential: one run at a time in this process" in cap.err
    assert cap.err.count("AUC") == 4 and "[4/4" in cap.err                # one line per finished run
    assert ("note: 2 seeds: the paired t-tests have 1 degree of freedom, so a difference is significant (p < 0.05) "
            "only when its mean over the seeds exceeds 8.98 times its standard deviation; use 5 seeds or more") in cap.out


def test_cli_defaults_and_setup_errors_before_any_work(tmp_path, capsys, monkeypatch):
    from bait_core.__main__ import build_parser, main
    args = build_parser().parse_args(["compare", "--data", "builtin:moons", "--out", "x"])
    assert (args.seeds, args.executor, args.workers, args.ray_address) == (5, "processes", None, None)
    base = ["compare", "--data", "builtin:moons", "--rounds", "1", "--out", str(tmp_path / "c")]
    monkeypatch.setitem(sys.modules, "ray", None)
    for extra, line in [
        (["--executor", "ray"], "error: The ray executor needs Ray, which is not installed here: run `pip install -r "
                                "requirements-ray.txt`"),
        (["--workers", "0"], "error: workers must be a whole number of 1 or more, got 0."),
        (["--ray-address", "auto"], "error: A Ray address applies to the ray executor only, not to processes"),
    ]:
        assert main(base + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(line), err
        assert not (tmp_path / "c").exists()                              # nothing written, nothing trained


def test_worker_processes_never_run_the_apps_script(tmp_path, monkeypatch, sequential):
    """Under `streamlit run`, `__main__` is the app script's module: a worker started from it would re-run
    the whole app in bare mode (hundreds of warnings, seconds per worker). The workers start without it."""
    import sys
    import types
    marker = tmp_path / "ran"
    script = tmp_path / "fake_app.py"
    script.write_text(f"open({str(marker)!r}, 'a').write('x')\n")
    fake = types.ModuleType("__main__")
    fake.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", fake)
    outs = list(execute_comparison(PLAN, _load, _build, check_executor("processes", workers=2, threads=1)))
    assert all(o.ok for o in outs), [o.error for o in outs]
    assert not marker.exists(), "a worker process ran the parent's main script"
    assert sys.modules["__main__"] is fake                               # the parent's __main__ is back
    for o in outs:
        assert _rounds(o.record) == _rounds(sequential[(o.strategy, o.seed)].record)


class _KillsItsWorker:
    """A run_fn (picklable): (entropy, seed 1) kills its own worker process (as the kernel's OOM killer
    would) — every time, or only while the marker file is absent (once); other runs are the real ones."""

    def __init__(self, marker, always):
        self.marker, self.always = str(marker), always

    def __call__(self, config, dataset, model, should_stop=None):
        if (config.strategy, config.seed) == ("entropy", 1) and (self.always or not os.path.exists(self.marker)):
            open(self.marker, "w").close()
            os.kill(os.getpid(), 9)
        return run_record(config, dataset, model, should_stop=should_stop)


def test_a_worker_killed_once_costs_no_run(tmp_path, sequential):
    """Python's process pool breaks as a whole when one worker dies: the runs it had not finished go to a
    new pool, so one OOM-killed worker does not fail the healthy runs."""
    outs = list(execute_comparison(PLAN, _load, _build, check_executor("processes", workers=2, threads=1),
                                   run_fn=_KillsItsWorker(tmp_path / "killed", always=False)))
    assert (tmp_path / "killed").exists(), "the worker was killed"
    assert sorted((o.strategy, o.seed) for o in outs) == sorted(PAIRS) and all(o.ok for o in outs), \
        [o.error for o in outs]
    for o in outs:
        assert _rounds(o.record) == _rounds(sequential[(o.strategy, o.seed)].record)


def test_a_run_that_always_kills_its_worker_fails_alone(tmp_path, sequential):
    outs = list(execute_comparison(PLAN, _load, _build, check_executor("processes", workers=1, threads=1),
                                   run_fn=_KillsItsWorker(tmp_path / "killed", always=True)))
    failed = [o for o in outs if not o.ok]
    assert [(o.strategy, o.seed) for o in failed] == [("entropy", 1)]
    assert failed[0].error == ("The run of entropy with seed 1 failed: worker processes ended unexpectedly 3 times "
                               "(out of memory, or killed); this run did not finish.")
    assert len(outs) == 4 and all(_rounds(o.record) == _rounds(sequential[(o.strategy, o.seed)].record)
                                  for o in outs if o.ok)


def test_a_ray_address_that_does_not_answer_is_a_sentence_at_once():
    pytest.importorskip("ray", reason=f"Ray is an optional extra ({RAY_REQUIREMENT}, requirements-ray.txt)")
    import socket
    import time as _time
    with socket.socket() as s:                        # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = _time.monotonic()
    with pytest.raises(ValueError, match=rf"Could not reach a Ray cluster at '127.0.0.1:{port}' "
                                         rf"\(ConnectionError: nothing answered at 127.0.0.1:{port}"):
        list(execute_comparison(PLAN, _load, _build, check_executor("ray", ray_address=f"127.0.0.1:{port}")))
    assert _time.monotonic() - t0 < 30
