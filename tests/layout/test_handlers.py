"""Handlers shape responses; the services own the store and the runtime (issue 10): no handler
reaches ``backend.store`` (transactions, reads, tags) nor the runtime (``backend.runtime``, a VPC
re-sync, an import of ``orchestrator.runtime``), so a decision cannot creep back into the API layer:
the service that makes a change also has the network follow it."""

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


RUNTIME_CALLS = {"sync_network", "sync_vpc"}


def runtime_uses(source: str) -> list[str]:
    """Every ``<something>.runtime`` expression, call of a re-sync (``sync_network``/``sync_vpc``,
    by any name path) and import of ``orchestrator.runtime`` in ``source``, with its line."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr == "runtime":
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and (
                (isinstance(node.func, ast.Attribute) and node.func.attr in RUNTIME_CALLS)
                or (isinstance(node.func, ast.Name) and node.func.id in RUNTIME_CALLS)):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("orchestrator.runtime")) or (
                isinstance(node, ast.Import) and any(a.name.startswith("orchestrator.runtime") for a in node.names)):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return sorted(found, key=lambda use: (int(use.split(":")[0]), use))


def test_handlers_never_reach_the_runtime() -> None:
    found = {p.name: uses for p in sorted(HANDLERS.glob("*.py")) if (uses := runtime_uses(p.read_text()))}
    assert found == {}


def test_the_check_sees_a_runtime_call() -> None:
    source = ("from orchestrator.runtime import port\n"
              "async def h(ctx, req):\n"
              "    group, _ = sgs.authorize(ctx.backend, ctx.region, req, False)\n"
              "    await vpcs.sync_network(ctx.backend, ctx.region, group.data['VpcId'])\n"
              "    await ctx.backend.runtime.sync_vpc(ctx.region, 'vpc-1')\n"
              "    ctx.backend.runtime.reboot('i-1')\n")
    assert runtime_uses(source) == [
        "1: from orchestrator.runtime import port",
        "4: vpcs.sync_network(ctx.backend, ctx.region, group.data['VpcId'])",
        "5: ctx.backend.runtime",
        "5: ctx.backend.runtime.sync_vpc(ctx.region, 'vpc-1')",
        "6: ctx.backend.runtime",
    ]
    assert runtime_uses("import orchestrator.runtime.port as p\n") == ["1: import orchestrator.runtime.port as p"]
