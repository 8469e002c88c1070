"""The system status check of every running instance, and simplified automatic recovery.

Every ``Config.status_check_interval`` seconds each running instance's domain is looked at (paused
or not, the CPU time its QEMU has had, how much its serial console has written) and its check
moves along the rules of :mod:`orchestrator.domain.status_checks`; a check that calls for recovery resets the domain when
the instance's ``MaintenanceOptions.AutoRecovery`` is ``default``. A launch or start begins a
check (``Instances.mark_running``). Instances whose lock is held (a stop, an attach) are skipped
for that pass, and the check is kept in the instance's record, so it survives restarts of ec2d.
"""

from __future__ import annotations

import asyncio
import logging
import time

from orchestrator.domain import status_checks as checks
from orchestrator.domain.states import InstanceState
from orchestrator.drivers.compute.driver import ComputeError, PowerState
from orchestrator.runtime import records as rec
from orchestrator.runtime.parts import Parts
from orchestrator.store.sqlite import StateConflict

log = logging.getLogger("ec2d.runtime")
S = InstanceState


def auto_recovery(data: dict) -> bool:
    return (data.get("MaintenanceOptions") or {}).get("AutoRecovery", "default") != "disabled"


class StatusChecks:
    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        self.store = parts.model.store
        config = parts.model.config
        self.policy = checks.Policy(deadline=config.status_check_deadline)
        self.interval = config.status_check_interval
        self.clock = time.time  # tests step their own

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check_all()
            except Exception:
                log.exception("status checks failed")

    async def check_all(self) -> None:
        for region in self.parts.model.config.regions:
            for r in self.store.list(rec.INSTANCE, region):
                if r.state == S.RUNNING and r.data.get("SystemCheck") and not self.jobs.busy(r.id):
                    await self.check(r.id)

    async def check(self, instance_id: str) -> None:
        async with self.jobs.lock(instance_id):
            r = self.store.get(instance_id)
            if r is None or r.state != S.RUNNING or not r.data.get("SystemCheck"):
                return
            name = self.parts.domain_name(instance_id)
            power = await self.jobs.call(self.parts.compute.state, name)
            if power not in (PowerState.RUNNING, PowerState.PAUSED):
                return  # gone: the reconciler's and the lifecycle events' business
            cpu = await self.jobs.call(self.parts.compute.cpu_seconds, [name])
            seen = checks.Observation(paused=power == PowerState.PAUSED,
                                      console_bytes=await self.jobs.call(self.parts.console_bytes, instance_id),
                                      cpu_seconds=cpu.get(name))
            before = r.data["SystemCheck"]
            after, action = checks.assess(before, seen, self.clock(), self.policy, auto_recovery(r.data))
            if after["Status"] != before["Status"]:
                level = logging.WARNING if after["Status"] == checks.CheckStatus.IMPAIRED else logging.INFO
                log.log(level, "%s: system status check %s -> %s%s", instance_id, before["Status"], after["Status"],
                        f" ({after['Reason']})" if after.get("Reason") else "")
            if action == checks.Action.RESET:
                log.warning("%s: automatic recovery %d/%d: resetting domain %s (%s)", instance_id,
                            after["Recoveries"], self.policy.max_recoveries, name, before.get("Reason"))
                try:
                    await self.jobs.call(self.parts.compute.reset, name)
                except ComputeError:
                    log.exception("%s: recovery reset failed", instance_id)
                    return
            if after != before:
                current = self.store.get(instance_id)
                if current is None or current.state != S.RUNNING:
                    return
                current.data["SystemCheck"] = after
                try:
                    self.store.update(current)
                except StateConflict:  # a request wrote the record meanwhile: the next pass redoes it
                    log.info("%s: status check not recorded this pass (record changed)", instance_id)
