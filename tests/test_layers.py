"""The layers of bait_core import only downwards (common < selection < records < learning < viz <
service), and the library never imports streamlit. Checked on the source with `ast`, imports inside
functions included, so a new back-edge fails here rather than in a reviewer's head."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "bait_core"
ORDER = ["common", "selection", "records", "learning", "viz", "service"]


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bait_core" and parts[1] in ORDER else None


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports (bait_core.<layer>.<module>)"
            out += [(node.lineno, node.module)] + [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if p.parent != ROOT)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_layer_imports_only_the_layers_below_it(path):
    own = path.relative_to(ROOT).parts[0]
    bad = [f"line {line}: {name}" for line, name in _imports(path)
           if (lay := _layer(name)) is not None and ORDER.index(lay) > ORDER.index(own)]
    assert not bad, f"{path.relative_to(ROOT)} ({own}) imports from a higher layer: {bad}"


@pytest.mark.parametrize("path", sorted(ROOT.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_the_library_never_imports_streamlit(path):
    assert not [n for _, n in _imports(path) if n.split(".")[0] == "streamlit"]


def test_every_module_sits_in_a_layer():
    loose = sorted(p.name for p in ROOT.glob("*.py")) 
    assert loose == ["__init__.py", "__main__.py"], loose
    assert sorted(p.name for p in ROOT.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(ORDER)


def test_the_readme_layout_names_every_module_and_layer():
    """The README's layout section stays true: every layer folder and module file of bait_core, and
    every app module at the root, is named there."""
    readme = (ROOT.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    missing = [p.name for p in ROOT.rglob("*.py") if p.name != "__init__.py" and p.name not in layout]
    missing += [f"{lay}/" for lay in ORDER if f"{lay}/" not in layout]
    missing += [p.name for p in ROOT.parent.glob("app*.py") if p.name not in layout]
    missing += [p.name for p in (ROOT.parent / "app_pages").glob("*.py") if p.stem.capitalize() not in layout]
    assert not missing, f"README's Layout section does not name: {missing}"


def test_the_readmes_python_examples_run(tmp_path):
    """The README's "Rounds, oracles and hooks" example runs as printed (a fresh interpreter, the
    repository on the path) and prints one line per round and the margin spec."""
    import subprocess
    import sys

    readme = (ROOT.parent / "README.md").read_text()
    part = readme[readme.index("### Rounds, oracles and hooks"):]
    code = part[part.index("```python") + len("```python"):part.index("```", part.index("```python") + 3)]
    script = tmp_path / "example.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         cwd=ROOT.parent, env={**__import__("os").environ, "PYTHONPATH": str(ROOT.parent)})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[-1].startswith("Margin sampling True cost Settles"), lines[-1]
    assert [ln.split()[:2] for ln in lines if ln[:1].isdigit()][:4] == [["0", "20"], ["1", "25"], ["2", "30"], ["3", "35"]]
