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
import json
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


def auto_recovery(options: dict | None) -> bool:
    """Whether an instance's ``MaintenanceOptions`` let automatic recovery reset its domain."""
    return (options or {}).get("AutoRecovery", "default") != "disabled"


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
        """One pass. The domains of every running instance are looked at in one worker-thread
        call (not three thread hops per instance: 10,000 instances every few seconds would keep
        the event loop busy with hops alone); only an instance whose check changes takes its lock,
        and only when nothing moved it meanwhile."""
        candidates = [(instance_id, json.loads(check), json.loads(options) if options else None)
                      for region in self.parts.model.config.regions
                      for instance_id, state, check, options in self.store.fields(  # (not whole documents)
                          rec.INSTANCE, ("SystemCheck", "MaintenanceOptions"), region)
                      if state == S.RUNNING and check and not self.jobs.busy(instance_id)]
        if not candidates:
            return
        seen = await self.jobs.call(self._observe, {c[0]: c[1]["Status"] == checks.CheckStatus.OK for c in candidates})
        now = self.clock()
        for instance_id, before, options in candidates:
            if instance_id not in seen:
                continue  # gone: the reconciler's and the lifecycle events' business
            after, action = checks.assess(before, seen[instance_id], now, self.policy,
                                          auto_recovery(options))
            if after != before or action is not None:
                await self._apply(instance_id, before, after, action)

    def _observe(self, passed: dict[str, bool]) -> dict[str, checks.Observation]:
        """(worker thread) What each instance's domain shows now; instances whose domain is not
        running or paused are left out. ``passed``: instance id -> its check is ``ok``; such an
        instance's check can only move when its domain is paused, so of one that runs only that
        is looked at (not its console or CPU time: most of a pass at 10,000 instances)."""
        p = self.parts
        names = {i: p.domain_name(i) for i in passed}
        powers = p.compute.states(f"{p.prefix}-i-")  # every domain's state in one ask
        cpu = p.compute.cpu_seconds([name for i, name in names.items() if not passed[i]])
        out = {}
        for instance_id, name in names.items():
            power = powers.get(name, PowerState.ABSENT)
            if power == PowerState.RUNNING and passed[instance_id]:
                out[instance_id] = checks.Observation(paused=False, console_bytes=0)
            elif power in (PowerState.RUNNING, PowerState.PAUSED):
                out[instance_id] = checks.Observation(paused=power == PowerState.PAUSED,
                                                      console_bytes=p.console_bytes(instance_id),
                                                      cpu_seconds=cpu.get(name))
        return out

    async def _apply(self, instance_id: str, before: checks.SystemCheck, after: checks.SystemCheck,
                     action: checks.Action | None) -> None:
        """Record ``after`` (and reset the domain when ``action`` says so) under the instance's
        lock, unless a stop, a reboot or a request changed the instance or its check since the
        look: then the next pass looks again."""
        async with self.jobs.lock(instance_id):
            current = self.store.get(instance_id)
            if current is None or current.state != S.RUNNING or current.data.get("SystemCheck") != before:
                return
            name = self.parts.domain_name(instance_id)
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
            current.data["SystemCheck"] = after
            try:
                self.store.update(current)
            except StateConflict:  # a request wrote the record meanwhile: the next pass redoes it
                log.info("%s: status check not recorded this pass (record changed)", instance_id)
