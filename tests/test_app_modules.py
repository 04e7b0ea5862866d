"""The app's own modules: app_services never imports streamlit, app_keys holds only distinct keys, the
pages use no other module's private names; the shared helpers
(upload_once, job_ended, the job progress panel) behave as the pages rely on."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app_keys as K
import app_services as svc
from bait_core.service.jobs import Job

ROOT = Path(__file__).resolve().parents[1]
APP_FILES = sorted([*ROOT.glob("app*.py"), ROOT / "views.py", *(ROOT / "app_pages").glob("*.py")])


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _imported(tree: ast.Module) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            out.append(node.module or "")
    return out


@pytest.mark.parametrize("name", ["app_services.py", "app_keys.py"])
def test_the_streamlit_free_modules_do_not_import_streamlit(name):
    assert not [m for m in _imported(_tree(ROOT / name)) if m.split(".")[0] == "streamlit"]


def test_app_services_imports_with_streamlit_blocked():
    """Nothing app_services imports, however indirectly, pulls streamlit in."""
    code = ("import sys; sys.modules['streamlit'] = None\n"      # any `import streamlit` now raises ImportError
            "import app_services, app_keys\n"
            "assert 'streamlit' not in {m.split('.')[0] for m, v in sys.modules.items() if v is not None}\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_app_keys_holds_only_distinct_string_keys():
    tree = _tree(ROOT / "app_keys.py")
    body = tree.body[1:] if isinstance(tree.body[0], ast.Expr) else tree.body       # after the docstring
    assert all(isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
               for n in body), "app_keys.py: constants only (NAME = \"key\")"
    values = [n.value.value for n in body]
    assert len(values) == len(set(values)), sorted(v for v in values if values.count(v) > 1)


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: p.name)
def test_app_code_uses_no_private_name_of_another_module_nor_the_facade_nor_rebinds_an_alias(path):
    tree = _tree(path)
    modules = {(a.asname or a.name).split(".")[0] for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))
               for a in n.names}                                 # `import m as x`, `from pkg import m`
    private = [f"line {n.lineno}: {n.value.id}.{n.attr}" for n in ast.walk(tree)
               if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in modules
               and n.attr.startswith("_") and not n.attr.startswith("__")]
    private += [f"line {n.lineno}: from {n.module} import {a.name}" for n in ast.walk(tree)
                if isinstance(n, ast.ImportFrom) for a in n.names if a.name.startswith("_")
                and not n.module.startswith("__")]
    assert not private, private
    assert "app_state" not in _imported(tree)
    aliases = {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    rebound = [f"line {n.lineno}: {n.id}" for n in ast.walk(tree)
               if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store) and n.id in aliases]
    assert not rebound, f"a module alias (K, S, W, svc, ...) is overwritten: {rebound}"


# --- upload_once / upload_key -------------------------------------------------------------------------

def test_upload_key_tells_apart_same_name_and_size_but_other_bytes_and_other_settings():
    a = svc.upload_key([("d.csv", b"x,y\n1,2\n")], "y", 0)
    assert a == svc.upload_key([("d.csv", b"x,y\n1,2\n")], "y", 0)
    assert a != svc.upload_key([("d.csv", b"x,y\n1,3\n")], "y", 0)          # a corrected file, same size
    assert a != svc.upload_key([("d.csv", b"x,y\n1,2\n")], "x", 0)
    assert a != svc.upload_key([("e.csv", b"x,y\n1,2\n")], "y", 0)


def test_upload_once_processes_each_upload_once_and_keeps_nothing_after_an_error():
    state: dict = {}
    calls = []

    def process(value):
        def run():
            calls.append(value)
            if value == "bad":
                raise ValueError("unreadable")
            return value
        return run

    assert svc.upload_once(state, "k", ("a",), process("A")) == ("A", True)
    assert svc.upload_once(state, "k", ("a",), process("A2")) == ("A", False)        # same key: not again
    assert calls == ["A"]
    with pytest.raises(ValueError, match="unreadable"):
        svc.upload_once(state, "k", ("b",), process("bad"))
    assert state["k"] == (("a",), "A")                                               # the error stored nothing
    assert svc.upload_once(state, "k", ("b",), process("B"), keep=False) == ("B", True)
    assert state["k"] == (("b",), None)                                              # keep=False: key only
    assert svc.upload_once(state, "k", ("b",), process("B3"), keep=False) == (None, False)
    assert calls == ["A", "bad", "B"]


# --- job_ended and the job progress panel ---------------------------------------------------------------

def _held_job(release: threading.Event) -> Job:
    def work(job: Job) -> None:
        job.report("train", 2, 5, None, "Training")
        job.add_result("round 0")
        release.wait(60)
    job = Job(name="t", fn=work).start()
    for _ in range(200):                           # until the worker has reported
        if job.snapshot().done == 2:
            break
        threading.Event().wait(0.01)
    return job


def test_job_ended_is_true_once_per_ended_job():
    release = threading.Event()
    job = _held_job(release)
    state = {"j": job, "ack": None}
    assert svc.job_ended(state, "j", "ack") == (job, False) and state["ack"] is None   # still running
    release.set()
    job.join(10)
    assert svc.job_ended(state, "j", "ack") == (job, True) and state["ack"] == id(job)
    assert svc.job_ended(state, "j", "ack") == (job, False)
    assert svc.job_ended({"j": None}, "j", "ack") == (None, False)


def _panel_script():
    import streamlit as st

    import app_widgets as W
    W.job_progress("the_job", "the_ack", lambda snap: f"{snap.n_results} round(s) done",
                   lambda snap: st.caption(f"details at {snap.done} of {snap.total}"))


def test_job_progress_draws_a_running_job_and_nothing_for_an_acknowledged_end():
    release = threading.Event()
    job = _held_job(release)
    try:
        at = AppTest.from_function(_panel_script, default_timeout=60)
        at.session_state["the_job"], at.session_state["the_ack"] = job, None
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        bar = at.get("progress")
        assert len(bar) == 1 and bar[0].proto.text.startswith("Training · 1 round(s) done · ")
        assert [c.value for c in at.caption] == ["details at 2 of 5"]
    finally:
        release.set()
        job.join(10)
    at.session_state["the_ack"] = id(job)            # the page already drew the end: no bar, no rerun
    at.run()
    assert not at.exception and not at.get("progress") and not at.caption
