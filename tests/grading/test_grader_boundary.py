"""The engine runs without the platform, and exercise packages use only its stable SDK.

Read from the source (every import statement, including those inside functions), so a deferred
import cannot slip past as it would past an import-time check.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLATFORM = ("django", "config", "core", "workflows", "assessments", "candidates", "rubrics", "reports")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _hidden_sources() -> list[Path]:
    roots = [ROOT / "exercises", ROOT / "tests" / "fixtures" / "exercises"]
    return sorted(p for root in roots for p in root.glob("*/hidden/**/*.py"))


def test_no_module_of_the_engine_imports_django_or_an_app():
    sources = sorted((ROOT / "grader").rglob("*.py"))
    assert len(sources) >= 10
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources
        for line, name in _imports(path)
        if name.split(".")[0] in PLATFORM
    ]
    assert offending == []


def test_exercise_packages_import_only_the_sdk_from_the_platform():
    sources = _hidden_sources()
    assert any("helpdesk-answerer" in str(p) for p in sources)
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources
        for line, name in _imports(path)
        if (name.split(".")[0] == "grader" and name != "grader.sdk") or name.split(".")[0] in PLATFORM
    ]
    assert offending == []


def test_the_fake_model_imports_only_the_standard_library_and_itself():
    """It ships alone in starter kits (``devtools/fakemodel/``): its modules import each other relatively."""
    sources = sorted((ROOT / "grader" / "fakemodel").rglob("*.py"))
    assert len(sources) >= 5
    offending = [
        f"{path.relative_to(ROOT)}:{line} imports {name}"
        for path in sources
        for line, name in _imports(path)
        if name.split(".")[0] not in sys.stdlib_module_names
    ]
    assert offending == []


def test_the_boundary_test_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from django.conf import settings\n    from grader.runner import grade\n")
    assert [name for _, name in _imports(bad)] == ["django.conf", "grader.runner"]
