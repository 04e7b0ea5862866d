"""CPython 3.11 before 3.11.8 races in `ast.parse` across threads (python/cpython#106905): the app
serialises it (app_services.serialize_ast_parse), because Streamlit compiles page scripts while a round's
thread imports torch._dynamo, whose inspect.signature parses too. The race is forced here in a subprocess:
three threads parse a large source while a GC callback yields the GIL inside the AST constructor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
AFFECTED = sys.version_info[:2] == (3, 11) and sys.version_info < (3, 11, 8)

RACE = r'''
import ast, gc, sys, threading, time
sys.path.insert(0, sys.argv[1])
if sys.argv[2] == "lock":
    import app_services
    app_services.serialize_ast_parse()
    app_services.serialize_ast_parse()            # idempotent: one wrapper
    inner = ast.parse.__closure__[0].cell_contents
    assert ast.parse._bait_locked and not getattr(inner, "_bait_locked", False)
src = "\n".join(f"def f{i}(a, b=({i}, [1, 2, {{'k': {i}}}])):\n    return [x * {i} for x in range(a) if x % 2]"
                for i in range(400))
errors = []
gc.set_threshold(50, 2, 2)
gc.callbacks.append(lambda phase, info: time.sleep(0))
def work():
    for _ in range(int(sys.argv[3])):
        try:
            ast.parse(src)
        except SystemError as e:
            errors.append(str(e))
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(len(errors))
'''


def _race(mode: str, n: int) -> int:
    out = subprocess.run([sys.executable, "-c", RACE, str(REPO), mode, str(n)], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not AFFECTED, reason="this Python's ast.parse has no cross-thread race")
def test_serialized_ast_parse_never_races():
    assert _race("lock", 60) == 0


def test_the_app_installs_the_lock():
    from streamlit.testing.v1 import AppTest

    import ast
    from tests.app_helpers import APP, TIMEOUT

    AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert getattr(ast.parse, "_bait_locked", False) == AFFECTED
