"""Availability Zone outages: a zone the operator marks ``impaired`` (``ec2d zone impair ZONE``)
behaves as an AWS zone that lost power.

* DescribeAvailabilityZones reports its state (``impaired``, with a message);
* RunInstances and StartInstances into it fail with ``InsufficientInstanceCapacity``, EC2's
  message naming the zones that have capacity (``zone_states.insufficient_capacity``), and a launch
  queued before the outage ends ``terminated`` with ``Server.InsufficientInstanceCapacity``;
* its running instances are stopped, as by a power loss (the domain is pulled, not shut down),
  with ``Server.InternalError`` as their state reason; their volumes keep their data;
* ``ec2d zone restore ZONE`` makes it ``available`` again: instances start there again (Auto
  Scaling rebalances into it; the stopped instances stay stopped until someone starts them).

The zone's state is a store setting, so the CLI (another process) changes it and the daemon's
runtime follows within ``Config.status_check_interval`` seconds. The state covers compute only:
volumes, subnets and load balancer nodes in the zone keep working.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from orchestrator.domain.states import InstanceState
from orchestrator.runtime import records as rec
from orchestrator.runtime.instances import Instances
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.zone_states import IMPAIRED, POWER_LOSS, state
from orchestrator.store.sqlite import StateConflict

log = logging.getLogger("ec2d.runtime")
S = InstanceState


class ZoneOutages:
    """Stops the running instances of impaired zones (every ``status_check_interval`` seconds)."""

    def __init__(self, parts: Parts, instances: Instances) -> None:
        self.parts = parts
        self.instances = instances
        self.store = parts.model.store
        self.interval = parts.model.config.status_check_interval

    def impaired(self, zones: Iterable[str]) -> set[str]:
        return {z for z in zones if state(self.store, z) == IMPAIRED}

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                self.enforce()
            except Exception:
                log.exception("zone outage pass failed")

    def enforce(self) -> None:
        config = self.parts.model.config
        for region, letters in config.regions.items():
            down = self.impaired(f"{region}{letter}" for letter in letters)
            if not down:
                continue
            for r in self.store.list(rec.INSTANCE, region):
                if r.state != S.RUNNING or r.data["AvailabilityZone"] not in down or self.parts.jobs.busy(r.id):
                    continue
                try:
                    rec.move_instance(self.parts.model, r.id, S.RUNNING, S.STOPPING, {"StateReason": POWER_LOSS})
                except StateConflict:
                    continue
                log.warning("%s: zone %s impaired: powering the instance off", r.id, r.data["AvailabilityZone"])
                self.instances.run(r.id, lambda i: self.instances.stop(i, True))
