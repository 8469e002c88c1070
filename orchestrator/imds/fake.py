"""``FakeImds``: the metadata service's contract in memory (API-only mode and fast tests).

The runtime hands the metadata service one table per VPC; with no guest to ask for it, this
stand-in only keeps the latest table (tests read it). It opens no socket and serves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from orchestrator.imds.model import InstanceMetadata


class FakeImds:
    def __init__(self) -> None:
        self.tables: dict[str, dict[str, InstanceMetadata]] = {}
        """VPC id -> the instances' metadata the runtime last set."""

    async def add_listener(self, key: str, sock: object) -> None:
        self.tables.setdefault(key, {})

    async def remove_listener(self, key: str) -> None:
        self.tables.pop(key, None)

    def set_instances(self, key: str, instances: Mapping[str, InstanceMetadata]) -> None:
        self.tables[key] = dict(instances)

    async def close(self) -> None:
        self.tables.clear()
