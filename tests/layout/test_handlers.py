"""Handlers shape responses; the services own the store (issue 10): no handler reaches
``backend.store`` (transactions, reads, tags), so a decision cannot creep back into the API layer."""

from __future__ import annotations

import ast

import imports

HANDLERS = imports.ROOT / "api" / "handlers"


def store_uses(source: str) -> list[str]:
    """Every ``<something>.store`` expression in ``source``, with its line."""
    return [f"{node.lineno}: {ast.unparse(node)}" for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.Attribute) and node.attr == "store"]


def test_handlers_never_touch_the_store() -> None:
    found = {p.name: uses for p in sorted(HANDLERS.glob("*.py")) if (uses := store_uses(p.read_text()))}
    assert found == {}


def test_the_check_sees_a_store_call() -> None:
    source = "def h(ctx):\n    with ctx.backend.store.transaction():\n        return ctx.backend.store.get('x')\n"
    assert store_uses(source) == ["2: ctx.backend.store", "3: ctx.backend.store"]
