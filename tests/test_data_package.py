"""bait_core.learning.data is a package of one module per format: the names callers import from the
package are the loaders' own objects, every limit has one home, and a test that changes a limit
changes it where the loader reads it (a patch on the package would reach nothing)."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from pathlib import Path

import pytest

import bait_core.learning.data as D
from bait_core.records import schemas

TESTS = Path(__file__).resolve().parent
SUBMODULES = sorted(m.name for m in pkgutil.iter_modules(D.__path__))

# Every public name of the single-module bait_core.learning.data before the split, and the private
# ones other modules and tests read through the package.
PUBLIC = ["TASKS", "MIN_PER_SPLIT", "MAX_CATEGORIES", "MAX_CLASSES_INFERRED", "MAX_CLASSES", "NUMERIC_LOOKING",
          "TABLE_EXTENSIONS", "FILE_EXTENSIONS", "IMAGE_EXTENSIONS", "ARCHIVE_EXTENSIONS", "MAX_ARCHIVE_MEMBERS",
          "MAX_IMAGE_BYTES", "MAX_COMPRESSION_RATIO", "MAX_IMAGE_PIXELS", "MAX_ARCHIVE_PIXELS", "MAX_TABLE_CELLS",
          "MAX_IMAGE_DATASET_BYTES", "MAX_NPZ_ELEMENTS", "DataSource", "Dataset", "BUILTIN_DATASETS",
          "BUILTIN_DEFAULTS", "load_builtin", "ZIP_READ_ERRORS", "MAX_NATIVE_SIDE", "DEFAULT_IMAGE_SIZE",
          "NEAR_CONSTANT_STD", "load_file", "list_columns", "default_label_column", "load_dataset"]
PRIVATE = ["_build_builtin", "_pixels", "_declared_depth", "_declared_entries"]


def _defined_at_top(module) -> set[str]:
    """Names a module assigns or defines itself (not those it imports)."""
    tree = ast.parse(Path(module.__file__).read_text())
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


HOMES = {m: _defined_at_top(importlib.import_module(f"bait_core.learning.data.{m}")) for m in SUBMODULES}


@pytest.mark.parametrize("name", PUBLIC + PRIVATE)
def test_the_package_re_exports_the_defining_modules_object(name):
    homes = [m for m, names in HOMES.items() if name in names]
    assert len(homes) == 1, f"{name} is defined in {homes or 'no module'}; it needs exactly one home"
    home = importlib.import_module(f"bait_core.learning.data.{homes[0]}")
    assert getattr(D, name) is getattr(home, name)


def test_no_name_is_defined_in_two_modules():
    seen: dict[str, str] = {}
    twice = []
    for m, names in HOMES.items():
        for n in names - {"__all__"}:
            if n in seen:
                twice.append(f"{n}: {seen[n]} and {m}")
            seen[n] = m
    assert not twice, f"defined twice (a patch or an edit of one copy would miss the other): {twice}"


def test_the_record_schema_caps_classes_like_the_loaders():
    # records may not import learning, so schemas keeps its own copy of the number
    assert schemas.MAX_CLASSES == D.MAX_CLASSES


_PATCH_ON_PACKAGE = re.compile(r"""setattr\(\s*(?:"bait_core\.learning\.data\.(?P<dotted>\w+)\.?(?P<rest>\w*)"|"""
                               r"""(?P<alias>D|data)\s*,)""")


def test_no_test_patches_a_limit_on_the_package():
    """monkeypatch.setattr(D, "MAX_...") on the package changes a copy no loader reads."""
    bad = []
    for path in sorted(TESTS.glob("test_*.py")):
        if path.name == Path(__file__).name:            # its own samples below
            continue
        text = path.read_text()
        aliases = set(re.findall(r"from bait_core\.learning import data as (\w+)", text))
        aliases |= {"data"} if "import bait_core.learning.data as data" in text else set()
        for m in _PATCH_ON_PACKAGE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            if m.group("dotted") and m.group("dotted") not in SUBMODULES:
                bad.append(f"{path.name}:{line}")
            elif m.group("alias") and m.group("alias") in aliases:
                bad.append(f"{path.name}:{line}")
    assert not bad, f"patch the submodule that reads the name (e.g. bait_core.learning.data.images): {bad}"


def test_the_patch_guard_sees_a_patch_on_the_package():
    # the guard above must be able to fail: both spellings of a patch on the package are caught
    samples = ['monkeypatch.setattr("bait_core.learning.data.MAX_IMAGE_BYTES", 1)', 'monkeypatch.setattr(D, "X", 1)']
    hits = [m for s in samples for m in _PATCH_ON_PACKAGE.finditer(s)]
    assert [h.group("dotted") for h in hits] == ["MAX_IMAGE_BYTES", None]
    assert hits[1].group("alias") == "D"
    ok = next(_PATCH_ON_PACKAGE.finditer('monkeypatch.setattr("bait_core.learning.data.images.MAX_IMAGE_BYTES", 1)'))
    assert ok.group("dotted") in SUBMODULES
