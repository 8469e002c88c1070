"""The runtime's place in the layers: it imports no service, API or composition-root module
(nothing above it), and the services reach it only through its port and its model-level modules,
never its implementation (core, jobs, instances, ebs, vpc, reconciler, startup)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "layout"))
from imports import graph  # noqa: E402

ABOVE_RUNTIME = ("orchestrator.services", "orchestrator.api", "orchestrator.server", "orchestrator.cli")
# what the services may import: the port and the record-level helpers shared with them
SERVICE_FACING = {"orchestrator.runtime", "orchestrator.runtime.port",
                  "orchestrator.runtime.records", "orchestrator.runtime.vpc_state",
                  "orchestrator.runtime.zone_states",  # zones' states: store settings, read by launches too
                  "orchestrator.runtime.route_plan",  # pure route decisions: Describe's blackhole states too
                  "orchestrator.runtime.service_access"}  # pure: which endpoint an S3 request came through


def test_the_runtime_imports_nothing_above_it() -> None:
    bad = [(mod, target, line) for mod, edges in graph().items() if mod.startswith("orchestrator.runtime")
           for target, line, _ in edges if target.startswith(ABOVE_RUNTIME)]
    assert bad == []


def test_services_use_the_port_not_the_runtime_implementation() -> None:
    bad = [(mod, target, line) for mod, edges in graph().items()
           if mod.startswith(("orchestrator.services", "orchestrator.api"))
           for target, line, _ in edges if target.startswith("orchestrator.runtime") and target not in SERVICE_FACING]
    assert bad == []
