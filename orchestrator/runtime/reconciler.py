"""The reconciler: libvirt's view brought in line with the store. At start, after libvirtd comes
back and every 30 seconds it finishes interrupted work (launches, stops, terminations), adopts
running domains this process did not start, notices dead domains, removes domains nobody owns;
libvirt lifecycle events catch guests that power off or domains killed behind ec2d's back.

Billing across restarts: an instance whose domain kept running while ec2d was down keeps its
open ledger interval, so the downtime is billed. One found stopped has its interval closed at the
time libvirt saw the domain stop (``ComputeDriver.stopped_at``, from libvirt's domain log); when
the driver cannot tell, at the last time a reconcile pass saw domains running (``SEEN_RUNNING``,
written every pass while any instance runs, so at most ``PERIOD_SECONDS`` before ec2d died): the
bound that never bills time the guest may not have run."""

from __future__ import annotations

import asyncio
import logging
import time

from orchestrator.domain.narrowing import Narrowing
from orchestrator.domain.states import InstanceState
from orchestrator.drivers.compute.driver import ALIVE, RECONNECTED
from orchestrator.runtime import records as rec
from orchestrator.runtime.ebs import Ebs
from orchestrator.runtime.instances import Instances, Op
from orchestrator.runtime.parts import Parts

log = logging.getLogger("ec2d.runtime")
S = InstanceState
PERIOD_SECONDS = 30.0
SEEN_RUNNING = "ledger.seen-running-at"  # setting: when a reconcile pass last saw running domains


class Reconciler:
    def __init__(self, parts: Parts, instances: Instances, ebs: Ebs) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        self.instances = instances
        self.ebs = ebs
        self.store = parts.model.store

    def on_event(self, name: str, event: str, detail: str) -> None:
        """libvirt's lifecycle callback (in the event loop)."""
        if event == RECONNECTED:  # libvirtd restarted: its events of the outage are lost
            self.jobs.spawn(self._reconcile_logged())
            return
        instance_id = self.parts.instance_of_domain(name)
        if instance_id is None or event != "stopped":
            return
        self.instances.run(instance_id, lambda i: self.instances.domain_gone(i, detail))

    async def _reconcile_logged(self) -> None:
        try:
            await self.reconcile()
        except Exception:
            log.exception("reconcile after reconnecting to libvirtd failed")

    async def reconcile(self) -> None:
        """Bring libvirt in line with the store: finish interrupted work, notice dead domains,
        remove domains nobody owns."""
        p = self.parts
        seen = self.store.get_setting(SEEN_RUNNING)  # read before this pass writes it again
        seen_at = float(seen) if seen else None
        alive = await self.jobs.call(self._alive_domains)
        known: set[str] = set()
        running = False
        for region in p.model.config.regions:
            for instance_id, state in self.store.fields(rec.INSTANCE, (), region):  # (not the documents)
                known.add(p.domain_name(instance_id))
                running = running or state == S.RUNNING
                if not self.jobs.busy(instance_id):
                    await self._check(instance_id, S(state), alive, seen_at)
        if running:
            self.store.set_setting(SEEN_RUNNING, repr(self.store.now()))
        for name in alive:
            if name not in known:
                log.warning("removing domain %s that ec2d does not know", name)
                await self.jobs.call(self.instances.discard_domain, name)

    def _alive_domains(self) -> dict[str, bool]:
        """(worker thread) ec2d's instance domains, each with whether its QEMU runs the guest or
        holds it paused (an I/O error, a suspend: the status checks and automatic recovery deal
        with that, not a stop); one call for all, not a thread hop per instance."""
        p = self.parts
        return {name: power in ALIVE for name, power in p.compute.states(f"{p.prefix}-i-").items()}

    async def _check(self, instance_id: str, state: InstanceState, alive: dict[str, bool],
                     seen_at: float | None) -> None:
        """One instance nothing is working on: start what its state still owes (``alive``: see
        :meth:`_alive_domains`)."""
        p, work = self.parts, self.instances
        name = p.domain_name(instance_id)
        if state in (S.PENDING, S.STOPPING, S.SHUTTING_DOWN):
            if state == S.PENDING and alive.get(name):
                work.run(instance_id, work.adopt)  # finish the launch
                return
            op: Op = {S.PENDING: work.launch, S.STOPPING: lambda i: work.stop(i, True),
                      S.SHUTTING_DOWN: work.terminate}[state]
            work.run(instance_id, op)
        elif state == S.RUNNING:
            if not alive.get(name):
                work.run(instance_id, lambda i: work.domain_gone(i, "missing", seen_at))
            elif instance_id not in p.plugged:  # running before this process started
                work.run(instance_id, work.adopt)
        elif state in (S.STOPPED, S.TERMINATED) and name in alive:
            await self.jobs.call(work.discard_domain, name)

    async def _periodic(self) -> None:
        while True:
            await asyncio.sleep(PERIOD_SECONDS)
            try:
                await self.reconcile()
                self.purge_terminated()
                await self.ebs.collect_garbage()
            except Exception:
                log.exception("periodic reconcile failed")

    def run_periodically(self) -> None:
        self.jobs.spawn_loop(self._periodic())

    def purge_terminated(self) -> None:
        cutoff = time.time() - rec.TERMINATED_VISIBLE_SECONDS
        for region in self.parts.model.config.regions:
            for r in self.store.list(rec.INSTANCE, region, narrow=Narrowing(states=[str(S.TERMINATED)])):
                if r.updated_at < cutoff:
                    self.store.delete(r.id)
