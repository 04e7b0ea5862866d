"""Execute the notebook tour (examples/bait_tour.ipynb) with nbclient, once per test session: shared by
tests/test_notebook.py and the browser test that renders it (tests/browser/test_notebook_render.py)."""

from __future__ import annotations

import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "bait_tour.ipynb"
OUTPUT = ROOT / "test-output" / "notebook"
EXECUTED = OUTPUT / "bait_tour.executed.ipynb"
CELL_TIMEOUT_S = 300
PLOTLY_MIME = "application/vnd.plotly.v1+json"


@dataclass
class ExecutedTour:
    nb: object            # the executed nbformat NotebookNode
    seconds: float        # wall time of the whole execution (kernel start included)
    path: Path            # where the executed copy was written (EXECUTED)


_CACHE: dict[str, ExecutedTour] = {}


def execute_tour() -> ExecutedTour:
    """The tour executed top to bottom in a fresh kernel of this interpreter (kernel "python3" from the
    environment's own ipykernel: JUPYTER_PATH puts sys.prefix/share/jupyter first, so no kernel spec
    registered elsewhere is used), its working directory examples/, TMPDIR a folder under
    test-output (the tour's temporary runs folder lands there). The executed copy is written to
    EXECUTED. Cached for the session. nbclient's CellExecutionError when a cell raises."""
    if "tour" in _CACHE:
        return _CACHE["tour"]
    import nbformat
    from nbclient import NotebookClient

    OUTPUT.mkdir(parents=True, exist_ok=True)
    tmp = OUTPUT / "tmp"
    shutil.rmtree(tmp, ignore_errors=True)             # the previous execution's temporary runs folder
    tmp.mkdir()
    nb = nbformat.read(str(NOTEBOOK), as_version=4)
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(Path(sys.prefix) / "share" / "jupyter"), old]))
    try:
        client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        t0 = time.perf_counter()
        client.execute(env={**os.environ, "TMPDIR": str(tmp), "PYTHONWARNINGS": "default"})
        seconds = time.perf_counter() - t0
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old
    nbformat.write(nb, str(EXECUTED))
    _CACHE["tour"] = ExecutedTour(nb, seconds, EXECUTED)
    return _CACHE["tour"]


def outputs(nb) -> list:
    """Every output of every code cell, in order."""
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
