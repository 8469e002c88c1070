"""Rules for the test tree itself. pytest imports the modules of a test directory that is not a
package by basename, so a bare ``from conftest import`` picks whichever directory's conftest was
imported first (``from .conftest`` in a package is safe), and two test files with one basename
collide at collection. Helpers live in uniquely named modules."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def test_no_test_module_imports_from_a_conftest() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "conftest" and node.level == 0 or (
                    isinstance(node, ast.Import) and any(a.name == "conftest" for a in node.names)):
                offenders.append(f"{path.relative_to(TESTS)}:{node.lineno}")
    assert offenders == []


def test_module_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py") if p.name not in ("conftest.py", "__init__.py"))
    assert [n for n, count in names.items() if count > 1] == []
