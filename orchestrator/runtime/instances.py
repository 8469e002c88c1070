"""Instance work: launch (disks, domain, NICs), stop, terminate, reboot, ENI hot-plug, adoption of
a domain this process did not start, and what a domain stopping behind ec2d's back means.

Every operation on one instance holds its lock (``Jobs.lock(instance_id)``), so a request arriving
mid-launch waits for the launch to settle; states move along the lifecycle table by
compare-and-swap (``records.move_instance``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from orchestrator.domain import errors, status_checks
from orchestrator.domain import instance_types as catalogue
from orchestrator.domain.lifecycle import AttachmentState
from orchestrator.domain.states import InstanceState
from orchestrator.drivers.compute.config import DomainConfig
from orchestrator.drivers.compute.designer import (
    DiskEncryption,
    InstanceSpec,
    NicSpec,
    VolumeSpec,
    design_domain,
    design_interface,
)
from orchestrator.drivers.compute.driver import ALIVE, ComputeError, HypervisorUnavailable
from orchestrator.runtime import records as rec
from orchestrator.runtime import zone_states
from orchestrator.runtime.parts import Parts
from orchestrator.runtime.volume_keys import disk_encryption, forget_secret
from orchestrator.runtime.vpc import VpcNetworks
from orchestrator.store.sqlite import Record, StateConflict

log = logging.getLogger("ec2d.runtime")
S = InstanceState
GIB = 1024**3
SHUTDOWN_REASON = {"Code": "Client.InstanceInitiatedShutdown",
                   "Message": "Client.InstanceInitiatedShutdown: Instance initiated shutdown"}
Op = Callable[[str], Coroutine[Any, Any, None]]


class Phases:
    """Seconds spent in each named phase of an operation, for its log line."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.spent: list[tuple[str, float]] = []

    def mark(self, name: str) -> None:
        now = time.monotonic()
        self.spent.append((name, now - self.last))
        self.last = now

    def __str__(self) -> str:
        return " ".join(f"{name} {seconds:.2f}" for name, seconds in self.spent)


class Instances:
    def __init__(self, parts: Parts, vpcs: VpcNetworks) -> None:
        self.parts = parts
        self.jobs = parts.jobs
        self.vpcs = vpcs
        self.store = parts.model.store

    # ------------------------------------------------------------------ requests
    def require_hypervisor(self) -> None:
        """Refuse work at once with a retryable 503 while libvirtd is unreachable (the driver is
        reconnecting), instead of accepting it and failing it halfway."""
        if not self.parts.compute.available:
            raise errors.ServiceUnavailable(
                "The request has failed due to a temporary failure of the server: the hypervisor is "
                "unreachable. Nothing was changed; retry shortly.")

    def run(self, instance_id: str, op: Op) -> None:
        """Run ``op(instance_id)`` in the background under the instance's lock."""
        self.jobs.spawn(self.guarded(instance_id, op))

    async def guarded(self, instance_id: str, op: Op) -> None:
        async with self.jobs.lock(instance_id):
            try:
                await op(instance_id)
            except StateConflict as exc:  # a request moved the instance on (e.g. terminate while
                # stopping) and queued its own job behind this lock; that job finishes the work
                log.info("%s: %s left to the next operation: %s", instance_id,
                         getattr(op, "__name__", "operation"), exc)
            except Exception:
                log.exception("%s: %s failed", instance_id, getattr(op, "__name__", "operation"))

    def console_output(self, instance_id: str) -> bytes:
        try:
            return self.parts.console_path(instance_id).read_bytes()[-64 * 1024:]
        except OSError:
            return b""

    # ------------------------------------------------------------------ launch
    def design(self, r: Record, image: Record) -> DomainConfig:
        p, d = self.parts, r.data
        itype = catalogue.get(d["InstanceType"])
        assert itype is not None
        root = d["BlockDeviceMappings"][0]
        extras = tuple(VolumeSpec(m["VolumeId"], str(p.storage.volume_path(m["VolumeId"])), m["DeviceName"],
                                  encryption=self.encryption(m["VolumeId"]))
                       for m in d["BlockDeviceMappings"][1:])
        spec = InstanceSpec(
            instance_id=r.id, domain_name=p.domain_name(r.id), instance_type=itype.name,
            vcpus=itype.vcpus, memory_mib=itype.memory_mib,
            root_disk=str(p.storage.volume_path(root["VolumeId"])), root_volume_id=root["VolumeId"],
            root_encryption=self.encryption(root["VolumeId"]),
            kernel=image.data.get("kernel"), initrd=image.data.get("initrd"), cmdline=image.data.get("cmdline"),
            volumes=extras,
            nics=tuple(NicSpec(p.networks[r.region].tap_name(e.id), e.data["MacAddress"])
                       for e in rec.attached_enis(self.store, r)),
            console_log=str(p.console_path(r.id)),
            account_id=d["OwnerId"], region=r.region, availability_zone=d["AvailabilityZone"],
        )
        return design_domain(spec, p.virt_type)

    def encryption(self, volume_id: str) -> DiskEncryption | None:
        p = self.parts
        return disk_encryption(self.store, p.prefix, p.compute, p.storage, volume_id)

    def prepare_disks(self, r: Record) -> None:
        """Create the volumes of the instance's mappings that have no file yet (the root from its AMI's layer)."""
        storage = self.parts.storage
        for n, m in enumerate(r.data["BlockDeviceMappings"]):
            if storage.has_volume(m["VolumeId"]):
                continue
            vol = self.store.get(m["VolumeId"])
            assert vol is not None
            layer = vol.data.get("SnapshotId") or None
            if n == 0 and layer is None:
                raise RuntimeError(f"root volume {vol.id} has no snapshot to start from")
            storage.create_volume(vol.id, int(vol.data["Size"]) * GIB, from_layer=layer)

    def set_volume_attachment(self, r: Record, state: AttachmentState) -> None:
        for m in r.data["BlockDeviceMappings"]:
            rec.set_attachment_state(self.store, m["VolumeId"], state, r.id)

    async def launch(self, instance_id: str) -> None:
        r = self.store.get(instance_id)
        if r is None or r.state != S.PENDING:
            return
        p = self.parts
        name = p.domain_name(instance_id)
        started = time.monotonic()
        zone = r.data["AvailabilityZone"]
        if zone_states.state(self.store, zone) != zone_states.AVAILABLE:  # impaired since the request
            await self.fail_launch(instance_id, f"Server.InsufficientInstanceCapacity: no capacity in {zone}",
                                   "Server.InsufficientInstanceCapacity")
            return
        try:
            image = self.store.get(r.data["ImageId"])
            if image is None:
                raise RuntimeError(f"image {r.data['ImageId']} is gone")
            phases = Phases()
            await self.jobs.call(self.prepare_disks, r)
            config = self.design(r, image)
            phases.mark("disks")
            await self.vpcs.sync(r.region, r.data["VpcId"])
            phases.mark("vpc")
            await self.jobs.call(self.discard_domain, name)
            check = status_checks.booting(time.time(), await self.jobs.call(p.console_bytes, instance_id),
                                          cpu=0.0)  # a new QEMU process: its CPU time starts at 0
            await self.jobs.call(p.compute.spawn, config)
            phases.mark("spawn")
            await self.jobs.call(self.plug_ports, r, name, False)
            phases.mark("plug")
            await self.mark_running(r, check)
            log.info("%s running (%s, %.2fs to domain start + plug: %s)", instance_id, p.virt_type,
                     time.monotonic() - started, phases)
        except StateConflict:
            log.info("%s changed state during launch; leaving it to the next operation", instance_id)
        except HypervisorUnavailable as exc:  # not the instance's fault: stays pending, relaunched
            log.warning("%s launch interrupted, libvirtd unreachable (%s); retried once it is back",
                        instance_id, exc)
        except Exception as exc:
            log.exception("%s launch failed", instance_id)
            await self.fail_launch(instance_id, f"Server.InternalError: {exc}")

    def plug_ports(self, r: Record, name: str, attach_missing: bool) -> None:
        """Put the tap of every NIC of the instance (primary first) into its VPC, on its subnet's
        bridge (idempotent: a tap already there is only enslaved and set up again).
        ``attach_missing``: hot-plug NICs the domain lacks (a crash interrupted an attach)."""
        p = self.parts
        net = p.networks[r.region]
        live = set(p.compute.tap_names(name)) if attach_missing else set()
        for eni in rec.attached_enis(self.store, r):
            tap = net.tap_name(eni.id)
            if attach_missing and tap not in live:
                log.warning("%s: NIC %s missing from domain %s; attaching it", r.id, eni.id, name)
                p.compute.attach_interface(name, design_interface(NicSpec(tap, eni.data["MacAddress"])))
            net.plug_port(eni.data["VpcId"], eni.data["SubnetId"], tap)
        p.plugged.add(r.id)

    async def mark_running(self, r: Record, check: status_checks.SystemCheck | None = None) -> None:
        """``running``; ``check``: the system status check of the boot that began (None: adopted,
        the record's check goes on)."""
        await self.jobs.call(self.set_volume_attachment, r, AttachmentState.ATTACHED)
        billing = dict(r.data.get("billing") or {})
        billing["running_since"] = time.time()
        changes: dict[str, Any] = {"StateReason": None, "billing": billing}
        if check is not None:
            changes["SystemCheck"] = check
        rec.move_instance(self.parts.model, r.id, S.PENDING, S.RUNNING, changes)

    async def adopt(self, instance_id: str) -> None:
        """The instance's domain runs but this process did not launch it (ec2d restarted, maybe
        killed between starting the domain and plugging its NICs): finish the launch - every NIC
        in its VPC, volumes attached, ``running`` - and bring the VPC's firewall, leases and
        metadata in line. A pending instance whose adoption fails is launched again from scratch."""
        r = self.store.get(instance_id)
        if r is None or r.state not in (S.PENDING, S.RUNNING):
            return
        name = self.parts.domain_name(instance_id)
        try:
            if await self.jobs.call(self.parts.compute.state, name) not in ALIVE:
                raise ComputeError(f"domain {name} is not running")
            await self.jobs.call(self.plug_ports, r, name, True)
            if r.state == S.PENDING:
                await self.mark_running(r)
                log.info("%s adopted: its running domain's launch finished", instance_id)
        except StateConflict:
            return
        except Exception:
            if r.state != S.PENDING:
                log.exception("%s: adopting the running domain failed", instance_id)
                return
            log.exception("%s: adopting the domain failed; launching it again", instance_id)
            await self.launch(instance_id)
            return
        await self.vpcs.sync(r.region, r.data["VpcId"])

    async def fail_launch(self, instance_id: str, message: str, code: str = "Server.InternalError") -> None:
        """Undo every piece of a failed launch and end in ``terminated`` with the reason (a start of
        a stopped instance: ``stopped``)."""
        r = self.store.get(instance_id)
        if r is None:
            return
        await self.jobs.call(self.discard_domain, self.parts.domain_name(instance_id))
        first_launch = not r.data.get("billing", {}).get("running_seconds")
        reason = {"StateReason": {"Code": code, "Message": message},
                  "StateTransitionReason": message}
        try:
            if first_launch:
                await self.release(r, delete_all_volumes=True)
                rec.move_instance(self.parts.model, instance_id, S.PENDING, S.TERMINATED,
                                  {"AutoPublicIp": None, **reason})
            else:  # a start of an existing instance failed: it stays, stopped, with its disks
                rec.move_instance(self.parts.model, instance_id, S.PENDING, S.STOPPED, reason)
        except StateConflict:
            pass
        await self.vpcs.sync(r.region, r.data["VpcId"])

    def discard_domain(self, name: str) -> None:
        try:
            self.parts.compute.destroy(name)
        finally:
            self.parts.compute.undefine(name)

    # ------------------------------------------------------------------ stop, reboot, terminate
    async def stop(self, instance_id: str, force: bool, at: float | None = None) -> None:
        """Power off, keep the volumes, end ``stopped``; ``at``: when the domain really stopped
        (``domain_gone``), which is when the auto-assigned public IPv4 address goes, too."""
        r = self.store.get(instance_id)
        if r is None or r.state != S.STOPPING:
            return
        p = self.parts
        name = p.domain_name(instance_id)
        try:
            await self.jobs.call(p.compute.power_off, name, not force, p.model.config.stop_timeout)
        except ComputeError:
            log.warning("%s: power off failed, destroying", instance_id, exc_info=True)
        await self.jobs.call(self.discard_domain, name)
        await self.jobs.call(self.set_volume_attachment, r, AttachmentState.ATTACHED)
        rec.move_instance(p.model, instance_id, S.STOPPING, S.STOPPED,
                          {"billing": accumulate(r), "AutoPublicIp": None}, at)
        await self.vpcs.sync(r.region, r.data["VpcId"])
        log.info("%s stopped", instance_id)

    async def reboot(self, instance_id: str) -> None:
        r = self.store.get(instance_id)
        if r is None or r.state != S.RUNNING:
            return
        await self.jobs.call(self.parts.compute.reboot, self.parts.domain_name(instance_id))

    async def terminate(self, instance_id: str, at: float | None = None) -> None:
        r = self.store.get(instance_id)
        if r is None or r.state != S.SHUTTING_DOWN:
            return
        await self.jobs.call(self.discard_domain, self.parts.domain_name(instance_id))
        await self.release(r, delete_all_volumes=False)
        for eip in self.store.list(rec.EIP, r.region):  # EIPs stay allocated, unassociated
            if eip.data.get("InstanceId") == instance_id:
                rec.clear_eip_association(eip)
                self.store.update(eip)
        rec.move_instance(self.parts.model, instance_id, S.SHUTTING_DOWN, S.TERMINATED,
                          {"billing": accumulate(r), "AutoPublicIp": None}, at)
        await self.vpcs.sync(r.region, r.data["VpcId"])
        log.info("%s terminated", instance_id)

    async def release(self, r: Record, delete_all_volumes: bool) -> None:
        """Delete the instance's DeleteOnTermination volumes (all on a failed launch), detach the
        others, and delete its primary ENI (freeing the address)."""
        for m in r.data["BlockDeviceMappings"]:
            vol = self.store.get(m["VolumeId"])
            if vol is None:
                continue
            others = [a for a in vol.data.get("Attachments") or [] if a["InstanceId"] != r.id]
            if others:  # a Multi-Attach volume: deleted (DeleteOnTermination) only with its last instance
                rec.drop_attachment(self.store, vol.id, r.id)
                continue
            if delete_all_volumes or m["DeleteOnTermination"]:
                await self.jobs.call(self.parts.storage.delete_volume, vol.id)
                self.store.delete(vol.id)
                await self.jobs.call(forget_secret, self.store, self.parts.prefix, self.parts.compute, vol)
            else:
                vol.data["Attachments"] = []
                self.store.update(vol)
                self.store.transition(vol.id, ["in-use", "creating"], "available")
        self.store.delete(r.data["NetworkInterfaceId"])
        for eni_id in r.data.get("SecondaryEnis") or []:  # attached ENIs are detached, not deleted
            eni = self.store.get(eni_id)
            if eni is not None and eni.state == "in-use":
                eni.data["Attachment"] = None
                self.store.update(eni)
                self.store.transition(eni.id, "in-use", "available")

    # ------------------------------------------------------------------ ENI hot-plug
    async def hotplug_eni(self, instance: Record, eni: Record) -> None:
        """Attach a NIC to the running domain and put its tap on the subnet's bridge."""
        p = self.parts
        net = p.networks[instance.region]
        tap = net.tap_name(eni.id)
        async with self.jobs.lock(instance.id):
            current = self.store.get(instance.id)
            if current is not None and current.state == S.RUNNING:
                await self.jobs.call(p.compute.attach_interface, p.domain_name(instance.id),
                                     design_interface(NicSpec(tap, eni.data["MacAddress"])))
                await self.jobs.call(net.plug_port, eni.data["VpcId"], eni.data["SubnetId"], tap)
        await self.vpcs.sync(instance.region, instance.data["VpcId"])

    async def hotunplug_eni(self, instance: Record, eni: Record) -> None:
        p = self.parts
        async with self.jobs.lock(instance.id):
            current = self.store.get(instance.id)
            if current is not None and current.state == S.RUNNING:
                await self.jobs.call(p.compute.detach_interface, p.domain_name(instance.id),
                                     eni.data["MacAddress"])
        await self.vpcs.sync(instance.region, instance.data["VpcId"])

    # ------------------------------------------------------------------ the domain went away
    async def domain_gone(self, instance_id: str, detail: str, seen_running_at: float | None = None) -> None:
        """The domain stopped while ec2d thought the instance running: the guest powered off
        (detail 'shutdown') or the domain was killed/crashed behind ec2d's back.

        Its running interval closes when the hypervisor saw the domain stop (``stopped_at``); if
        it cannot tell, at ``seen_running_at`` when the reconciler found it (the last time ec2d
        saw it running: no time it may not have run is billed), else now (a live event)."""
        r = self.store.get(instance_id)
        if r is None or r.state != S.RUNNING:
            return
        name = self.parts.domain_name(instance_id)
        if await self.jobs.call(self.parts.compute.state, name) in ALIVE:
            return  # e.g. a reboot, or a pause (the status checks' business)
        at = await self.jobs.call(self.parts.compute.stopped_at, name)
        if at is None:
            at = seen_running_at
        model = self.parts.model
        guest = detail == "shutdown"
        if guest and r.data.get("InstanceInitiatedShutdownBehavior") == "terminate":
            rec.move_instance(model, instance_id, S.RUNNING, S.SHUTTING_DOWN, {"StateReason": SHUTDOWN_REASON}, at)
            await self.terminate(instance_id, at)
            return
        reason = SHUTDOWN_REASON if guest else {
            "Code": "Server.InternalError",
            "Message": f"Server.InternalError: the instance's domain stopped unexpectedly ({detail})"}
        rec.move_instance(model, instance_id, S.RUNNING, S.STOPPING, {"StateReason": reason}, at)
        await self.stop(instance_id, force=True, at=at)


def accumulate(r: Record) -> dict[str, Any]:
    """The instance's billing with the running period that just ended added."""
    billing = dict(r.data.get("billing") or {})
    since = billing.get("running_since")
    if since:
        billing["running_seconds"] = float(billing.get("running_seconds") or 0) + max(0.0, time.time() - since)
    billing["running_since"] = None
    return billing
